#!/usr/bin/env bash
# CI fuzzing: a short bounded run of every cargo-fuzz target, starting from
# its committed corpus; fails if any target finds a crash (or a hang).
#
# usage: scripts/fuzz-ci.sh [target...]      (default: every target)
#   env: FUZZ_SECONDS=15   seconds per target (-max_total_time)
#        FUZZ_JOBS=1       targets fuzzed at the same time
#
# Installs cargo-fuzz first when it is missing (scripts/install-deps.sh
# --fuzz). Runs on the stable toolchain (-s none: no sanitizer). New corpus
# entries go to a temporary directory (libFuzzer writes to the first corpus
# directory it is given; fuzz/corpus/<target> is only read), so the git
# tree is left as it was; crash inputs are kept in target/fuzz-ci/artifacts/
# and reproduce with `cd fuzz && cargo fuzz run -s none <target> <file>`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL=(decode_chunked codec_roundtrip router_session route_session engine_session engine_structured
    client_session filestore config)
TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${ALL[@]}")
SECONDS_PER_TARGET="${FUZZ_SECONDS:-15}"
JOBS="${FUZZ_JOBS:-1}"

# Extra libFuzzer flags per target (the input sizes their docs suggest).
flags() {
    case "$1" in
    engine_session | client_session) echo "-max_len=512" ;;
    engine_structured) echo "-max_len=2048" ;;
    *) echo "" ;;
    esac
}

for t in "${TARGETS[@]}"; do
    if [[ ! " ${ALL[*]} " == *" $t "* ]]; then
        echo "fuzz-ci: unknown target '$t' (expected one of: ${ALL[*]})" >&2
        exit 64
    fi
    if [[ ! -d "fuzz/corpus/$t" ]]; then
        echo "fuzz-ci: no committed corpus fuzz/corpus/$t" >&2
        exit 1
    fi
done

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== cargo-fuzz missing: scripts/install-deps.sh --fuzz"
    scripts/install-deps.sh --fuzz
fi

START=$(date +%s)
echo "== cargo fuzz build -s none"
if [[ ${#TARGETS[@]} -eq ${#ALL[@]} ]]; then
    (cd fuzz && cargo fuzz build -s none)
else
    for t in "${TARGETS[@]}"; do (cd fuzz && cargo fuzz build -s none "$t"); done
fi
BUILT=$(date +%s)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fuzz-ci.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
ARTIFACTS="$ROOT/target/fuzz-ci/artifacts"
mkdir -p "$ARTIFACTS"

run_one() {
    local t="$1"
    local log="$WORK/$t.log"
    mkdir -p "$WORK/$t"
    local extra
    extra="$(flags "$t")"
    # shellcheck disable=SC2086
    if (cd fuzz && cargo fuzz run -s none "$t" "$WORK/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=30 \
        -artifact_prefix="$ARTIFACTS/$t-" -print_final_stats=1 $extra) >"$log" 2>&1; then
        local runs
        runs="$(grep -m1 -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo '?')"
        echo "ok   $t ($runs runs, $(ls "$WORK/$t" | wc -l) new inputs)"
        return 0
    fi
    echo "FAIL $t: log follows"
    grep -v '^#' "$log" | tail -n 60 | sed 's/^/    /'
    return 1
}

FAILED=()
if [[ "$JOBS" -le 1 ]]; then
    for t in "${TARGETS[@]}"; do
        run_one "$t" || FAILED+=("$t")
    done
else
    declare -A PIDS=()
    for t in "${TARGETS[@]}"; do
        while [[ $(jobs -rp | wc -l) -ge "$JOBS" ]]; do sleep 0.5; done
        (run_one "$t" >"$WORK/$t.result") &
        PIDS[$t]=$!
    done
    for t in "${TARGETS[@]}"; do
        wait "${PIDS[$t]}" || FAILED+=("$t")
        cat "$WORK/$t.result"
    done
fi

END=$(date +%s)
echo "== fuzz-ci: ${#TARGETS[@]} targets, ${SECONDS_PER_TARGET}s each; build $((BUILT - START))s, fuzzing $((END - BUILT))s"
if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "fuzz-ci: FAILED: ${FAILED[*]} (inputs in $ARTIFACTS)" >&2
    exit 1
fi
echo "fuzz-ci: passed"
