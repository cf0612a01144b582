#!/usr/bin/env bash
# Benchmarks our stan-server on each runtime adapter (tokio, smol, mio) with
# the same stan-bench workload, in alternating order, and prints the median
# pub/sub/total msgs/s of each and its ratio to the best.
#
# usage: scripts/bench-runtimes.sh [ROUNDS] [stan-bench args...]
#   default workload: -np 1 -ns 1 -n 100000 -ms 128 -a -mpa 1000
#   env: BENCH_CLIENT_RUNTIME=tokio|smol|mio (runtime of the bench clients)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
shift || true
WORKLOAD=("$@")
[[ ${#WORKLOAD[@]} -eq 0 ]] && WORKLOAD=(-np 1 -ns 1 -n 100000 -ms 128 -a -mpa 1000)
CLIENT_RT="${BENCH_CLIENT_RUNTIME:-tokio}"

cargo build --release -q -p stan-cli --bin stan-server --bin stan-bench
BIN=target/release
OUT="$(mktemp -d)"
trap 'kill "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$OUT"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for round in $(seq 1 "$ROUNDS"); do
    for rt in tokio smol mio; do
        port="$(free_port)"
        "$BIN/stan-server" --runtime "$rt" -a 127.0.0.1 -p "$port" >"$OUT/server-$rt.log" 2>&1 &
        SERVER_PID=$!
        for _ in $(seq 1 100); do
            (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
            sleep 0.05
        done
        res="$(timeout 120 "$BIN/stan-bench" -s "nats://127.0.0.1:$port" -id "r$round$rt" --runtime "$CLIENT_RT" "${WORKLOAD[@]}")"
        kill "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
        pub="$(sed -n 's/^Pub stats: \([0-9]*\).*/\1/p' <<<"$res")"
        sub="$(sed -n 's/^Sub stats: \([0-9]*\).*/\1/p' <<<"$res")"
        tot="$(sed -n 's/^NATS Streaming Pub\/Sub stats: \([0-9]*\).*/\1/p' <<<"$res")"
        echo "$rt ${pub:-0} ${sub:-0} ${tot:-0}" | tee -a "$OUT/results"
    done
done

echo "== medians over $ROUNDS rounds (server runtime; clients on $CLIENT_RT; ${WORKLOAD[*]})"
python3 - "$OUT/results" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {}
for rt in ("tokio", "smol", "mio"):
    vals = [r for r in rows if r[0] == rt]
    med[rt] = [statistics.median(int(r[i]) for r in vals) for i in (1, 2, 3)]
best = max(m[2] for m in med.values()) or 1
print(f"{'server':8} {'pub/s':>10} {'sub/s':>10} {'total/s':>10} {'vs best':>8}")
for rt, (p, s, t) in med.items():
    print(f"{rt:8} {p:>10.0f} {s:>10.0f} {t:>10.0f} {t / best:>8.2f}")
PY
