#!/usr/bin/env bash
# Fuzz seeds from real client traffic: runs the interop kits' clients
# (STAN: Python asyncio-nats-streaming, Node node-nats-streaming, C libnats;
# NATS: nats-py, Node nats, C libnats) through a recording TCP proxy on
# 127.0.0.1 against stan-server (embedded NATS), then turns the recorded
# client->server and server->client byte streams into seed files of
# decode_chunked, router_session and client_session (see the formats in
# scripts/fuzz-seeds.py), named by content hash in fuzz/corpus/<target>/.
#
# usage: scripts/fuzz-seeds.sh [SERVER_BINARY]   (default: target/debug/stan-server,
#                                                 built if missing)
#   env: CLIENTS="stan-py stan-node stan-c nats-py nats-node nats-c"
#        CLIENT_TIMEOUT=90   seconds per client
#        KEEP=1              keep the recordings (printed path)
#
# Reproducible: the same clients give the same kinds of traffic; the seeds
# differ between runs only in the random parts (NUIDs, inboxes, times).
# Needs the interop kits' dependencies (scripts/install-deps.sh).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SERVER="${1:-$ROOT/target/debug/stan-server}"
if [[ ! -x "$SERVER" ]]; then
    echo "== building stan-server"
    cargo build -q -p stan-cli --bin stan-server || exit 1
fi
read -r -a CLIENT_LIST <<<"${CLIENTS:-stan-py stan-node stan-c nats-py nats-node nats-c}"
CLIENT_TIMEOUT="${CLIENT_TIMEOUT:-90}"
CLUSTER_ID="test-cluster"
PY_STAN="$ROOT/.venv/stan/bin/python"
PY_NATS="$ROOT/.venv/nats/bin/python"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fuzz-seeds.XXXXXX")"
REC="$WORK/rec"
mkdir -p "$REC"

SERVER_PID=""
PROXY_PID=""
stop_pid() {
    local pid="$1"
    [[ -z "$pid" ]] && return
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
cleanup() {
    stop_pid "$PROXY_PID"
    PROXY_PID=""
    stop_pid "$SERVER_PID"
    SERVER_PID=""
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo "recordings kept in $REC"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

SPORT="$(free_port)"
"$SERVER" -a 127.0.0.1 -p "$SPORT" -cid "$CLUSTER_ID" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_port "$SPORT" || {
    echo "fuzz-seeds: stan-server did not start" >&2
    cat "$WORK/server.log" >&2
    exit 1
}
PPORT="$(free_port)"
python3 scripts/fuzz-seeds.py proxy "$PPORT" "$SPORT" "$REC" &
PROXY_PID=$!
wait_port "$PPORT" || {
    echo "fuzz-seeds: the recording proxy did not start" >&2
    exit 1
}
sleep 0.5
URL="nats://127.0.0.1:$PPORT"

libnats_flags() {
    if pkg-config --exists libnats 2>/dev/null; then pkg-config --cflags --libs libnats; else echo -lnats; fi
}

for c in "${CLIENT_LIST[@]}"; do
    cmd=()
    case "$c" in
    stan-py) cmd=("$PY_STAN" "$ROOT/interop/stan/py_stan.py" "$URL" "$CLUSTER_ID" seed-py) ;;
    stan-node) cmd=(node "$ROOT/interop/stan/node_stan.js" "$URL" "$CLUSTER_ID" seed-node) ;;
    stan-c)
        # shellcheck disable=SC2046
        cc -O1 -o "$WORK/c_stan" interop/stan/c_stan.c $(libnats_flags) -lpthread >"$WORK/c_stan.log" 2>&1 &&
            cmd=("$WORK/c_stan" "$URL" "$CLUSTER_ID" seed-c)
        ;;
    nats-py) cmd=("$PY_NATS" "$ROOT/interop/nats/py_interop.py" "$URL" none) ;;
    nats-node) cmd=(node "$ROOT/interop/nats/node_interop.mjs" "$URL" none) ;;
    nats-c)
        # shellcheck disable=SC2046
        cc -O1 -o "$WORK/c_interop" interop/nats/c_interop.c $(libnats_flags) >"$WORK/c_interop.log" 2>&1 &&
            cmd=("$WORK/c_interop" "$URL" none)
        ;;
    *)
        echo "fuzz-seeds: unknown client '$c'" >&2
        exit 64
        ;;
    esac
    if [[ ${#cmd[@]} -eq 0 ]]; then
        echo "skip $c (does not build here)"
        continue
    fi
    dir="$ROOT/interop/${c%%-*}"
    (cd "$dir" && timeout -k 5 "$CLIENT_TIMEOUT" "${cmd[@]}") >"$WORK/$c.log" 2>&1
    echo "ran  $c (rc=$?, $(grep -cE '^(ok|PASS) ' "$WORK/$c.log") checks ok, $(grep -c '^FAIL' "$WORK/$c.log") failed)"
done

stop_pid "$PROXY_PID"
PROXY_PID=""
echo "recorded $(find "$REC" -name '*.c2s' | wc -l) connections, $(du -sh "$REC" | cut -f1)"
python3 scripts/fuzz-seeds.py convert "$REC" "$ROOT/fuzz/corpus"
