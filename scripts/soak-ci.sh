#!/usr/bin/env bash
# CI soak: builds stan-soak and stan-server (debug, as the rest of CI) and
# runs a mixed workload against a stan-server child for 5 minutes: fails
# on any lost message, duplicate not flagged redelivered, or server RSS /
# open fds not back to their post-warm-up baseline (see README.md, "Soak
# test"). The curve goes to target/soak/soak-ci.csv, the summary to
# target/soak/soak-ci.log.
#
# usage: scripts/soak-ci.sh [extra stan-soak flags]
#   env: SOAK_DURATION=5m   the whole run (warm-up and settles included)
#        SOAK_RATE=150      publishes per second over all channels
#        SOAK_SEED=...      reproduce a run (its seed is printed)
#
# CPU: at the default rate the debug server uses about a quarter of a
# core and stan-soak about as much, so it can share a 2-core machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-target}"
OUT="target/soak"
mkdir -p "$OUT"

cargo build -p stan-cli --bin stan-soak --bin stan-server

args=(--duration "${SOAK_DURATION:-5m}" --rate "${SOAK_RATE:-150}" --csv "$OUT/soak-ci.csv")
if [[ -n "${SOAK_SEED:-}" ]]; then
    args+=(--seed "$SOAK_SEED")
fi

echo "== stan-soak ${args[*]} $*"
set +e
"$TARGET/debug/stan-soak" --server "$TARGET/debug/stan-server" "${args[@]}" "$@" 2>&1 |
    tee "$OUT/soak-ci.log"
rc=${PIPESTATUS[0]}
set -e
if [[ $rc -ne 0 ]]; then
    echo "soak-ci: stan-soak failed (exit $rc); summary in $OUT/soak-ci.log, curve in $OUT/soak-ci.csv" >&2
fi
exit "$rc"
