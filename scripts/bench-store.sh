#!/usr/bin/env bash
# Benchmarks of the file store, side by side in one run (alternating, the
# median of ROUNDS): one publisher and one subscriber, 100,000 messages of
# 128 bytes, async publish with 1000 PubAcks in flight, on
#   memory   -st MEMORY
#   file     -st FILE (--file_sync=true, the default: a PubAck after fdatasync)
#   nosync   -st FILE --file_sync=false
# then a synchronous publisher (one PubAck in flight) on the file store with
# sync, next to this machine's fdatasync rate on the same directory
# (stan-fsync-rate).
#
# usage: scripts/bench-store.sh [ROUNDS]
#   env: BENCH_DIR (default target/bench-store; use the disk you care about)
#        SYNC_N (messages of the synchronous publisher, default 3000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
SYNC_N="${SYNC_N:-3000}"
DIR="${BENCH_DIR:-target/bench-store}"
WORKLOAD=(-np 1 -ns 1 -n 100000 -ms 128 -a -mpa 1000)

cargo build --release -q -p stan-cli --bin stan-server --bin stan-bench --bin stan-fsync-rate
BIN=target/release
OUT="$(mktemp -d)"
mkdir -p "$DIR"
trap 'kill "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$OUT" "$DIR"/run-*' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server NAME ARGS... : a fresh store directory per run.
start_server() {
    local name="$1"; shift
    PORT="$(free_port)"
    rm -rf "$DIR/run-$name"
    "$BIN/stan-server" -a 127.0.0.1 -p "$PORT" "$@" >"$OUT/server-$name.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        grep -q "Streaming Server is ready" "$OUT/server-$name.log" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "server $name did not start:" >&2
    cat "$OUT/server-$name.log" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
}

config_args() {
    case "$1" in
        memory) echo "-st MEMORY" ;;
        file) echo "-st FILE --dir $DIR/run-file" ;;
        nosync) echo "-st FILE --dir $DIR/run-nosync --file_sync=false" ;;
    esac
}

for round in $(seq 1 "$ROUNDS"); do
    for cfg in memory file nosync; do
        # shellcheck disable=SC2046
        start_server "$cfg" $(config_args "$cfg")
        res="$(timeout 300 "$BIN/stan-bench" -s "nats://127.0.0.1:$PORT" -id "r$round$cfg" "${WORKLOAD[@]}")"
        stop_server
        pub="$(sed -n 's/^Pub stats: \([0-9]*\).*/\1/p' <<<"$res")"
        sub="$(sed -n 's/^Sub stats: \([0-9]*\).*/\1/p' <<<"$res")"
        tot="$(sed -n 's/^NATS Streaming Pub\/Sub stats: \([0-9]*\).*/\1/p' <<<"$res")"
        echo "$cfg ${pub:-0} ${sub:-0} ${tot:-0}" | tee -a "$OUT/results"
    done
    # The synchronous publisher with sync, then the fdatasync rate on the
    # same directory, back to back.
    start_server "sync" -st FILE --dir "$DIR/run-sync"
    res="$(timeout 300 "$BIN/stan-bench" -s "nats://127.0.0.1:$PORT" -id "r${round}sync" -np 1 -ns 0 -n "$SYNC_N" -ms 128)"
    stop_server
    pub="$(sed -n 's/^Pub stats: \([0-9]*\).*/\1/p' <<<"$res")"
    rate="$("$BIN/stan-fsync-rate" --dir "$DIR" --seconds 3s --size 128 | sed -n 's/^syncs\/s: \([0-9]*\).*/\1/p')"
    echo "syncpub ${pub:-0} fsync ${rate:-0}" | tee -a "$OUT/results"
done

echo "== medians over $ROUNDS rounds (${WORKLOAD[*]}), dir $DIR"
python3 - "$OUT/results" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {}
for cfg in ("memory", "file", "nosync"):
    vals = [r for r in rows if r[0] == cfg]
    med[cfg] = [statistics.median(int(r[i]) for r in vals) for i in (1, 2, 3)]
    print(f"{cfg:8} pub {med[cfg][0]:>9,.0f}  sub {med[cfg][1]:>9,.0f}  total {med[cfg][2]:>9,.0f} msgs/s"
          f"  ({med[cfg][2] / max(med['memory'][2], 1):.2f} of memory)")
sp = [r for r in rows if r[0] == "syncpub"]
pub = statistics.median(int(r[1]) for r in sp)
fs = statistics.median(int(r[3]) for r in sp)
print(f"sync publisher with sync: {pub:,.0f} msgs/s; fdatasync rate {fs:,.0f}/s; ratio {pub / max(fs, 1):.2f}")
PY
