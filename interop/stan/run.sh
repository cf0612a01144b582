#!/usr/bin/env bash
# NATS Streaming (STAN) interop kit: run the official STAN clients (Python
# asyncio-nats-streaming, Node node-nats-streaming, C libnats streaming API)
# against a STAN server binary, with embedded and external NATS.
#
# usage: interop/stan/run.sh SERVER_BINARY [client...]
#   clients: py node c   (default: all three)
#   env:     MODES="embedded external"   (subset of modes to run)
#            CLIENT_TIMEOUT=90           (seconds per client scenario)
#            INTEROP_STAN_PYTHON=...     (default: .venv/stan/bin/python)
#            NATS_SERVER=/usr/sbin/nats-server  (NATS server for external mode)
#
# embedded: SERVER_BINARY -a 127.0.0.1 -p PORT -cid test-cluster
# external: nats-server -a 127.0.0.1 -p NPORT, then SERVER_BINARY -cid test-cluster -ns nats://127.0.0.1:NPORT
# Logs: target/interop/stan/logs/. Exit status is non-zero if any check failed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/target/interop/stan"
LOGS="$OUT/logs"
CLUSTER_ID="test-cluster"

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 64
fi
SERVER="$1"
shift
CLIENTS=("$@")
[[ ${#CLIENTS[@]} -eq 0 ]] && CLIENTS=(py node c)
read -r -a MODE_LIST <<<"${MODES:-embedded external}"
CLIENT_TIMEOUT="${CLIENT_TIMEOUT:-90}"
PYTHON="${INTEROP_STAN_PYTHON:-$ROOT/.venv/stan/bin/python}"
NATS_SERVER="${NATS_SERVER:-/usr/sbin/nats-server}"

if [[ ! -x "$SERVER" ]] && ! command -v "$SERVER" >/dev/null 2>&1; then
    echo "run.sh: server binary '$SERVER' not found or not executable" >&2
    exit 64
fi
for c in "${CLIENTS[@]}"; do
    case "$c" in py | node | c) ;; *)
        echo "run.sh: unknown client '$c' (expected: py node c)" >&2
        exit 64
        ;;
    esac
done
if [[ ${#MODE_LIST[@]} -eq 0 ]]; then
    echo "run.sh: MODES is empty (expected: embedded external)" >&2
    exit 64
fi
for m in "${MODE_LIST[@]}"; do
    case "$m" in embedded | external) ;; *)
        echo "run.sh: unknown mode '$m' (expected: embedded external)" >&2
        exit 64
        ;;
    esac
done
if ! [[ "$CLIENT_TIMEOUT" =~ ^[0-9]+$ ]] || [[ "$CLIENT_TIMEOUT" -lt 1 ]]; then
    echo "run.sh: CLIENT_TIMEOUT must be a positive integer (got '$CLIENT_TIMEOUT')" >&2
    exit 64
fi

mkdir -p "$OUT" "$LOGS"
rm -f "$LOGS"/*.log

STAN_PID=""
NATS_PID=""
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
    stop_pid "$STAN_PID"
    STAN_PID=""
    stop_pid "$NATS_PID"
    NATS_PID=""
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

# ---------------------------------------------------------------- preflight
declare -A UNAVAILABLE=()
for c in "${CLIENTS[@]}"; do
    case "$c" in
    c)
        CFLAGS_LIBS="-lnats"
        if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libnats 2>/dev/null; then
            CFLAGS_LIBS="$(pkg-config --cflags --libs libnats)"
        fi
        # shellcheck disable=SC2086
        if ! cc -O1 -Wall -o "$OUT/c_stan" "$HERE/c_stan.c" $CFLAGS_LIBS -lpthread >"$LOGS/c-build.log" 2>&1; then
            UNAVAILABLE[c]="C build failed (need cc + libnats-dev with streaming), see $LOGS/c-build.log"
        fi
        ;;
    py)
        if [[ ! -x "$PYTHON" ]]; then
            UNAVAILABLE[py]="python venv $PYTHON missing (run scripts/install-deps.sh)"
        elif ! (cd "$HERE" && "$PYTHON" -c 'import py311_shim, stan.aio.client, nats.aio.client') >/dev/null 2>&1; then
            UNAVAILABLE[py]="asyncio-nats-streaming not importable by $PYTHON (run scripts/install-deps.sh)"
        fi
        ;;
    node)
        if ! command -v node >/dev/null 2>&1; then
            UNAVAILABLE[node]="node not on PATH"
        elif ! node -e "try{require.resolve('node-nats-streaming')}catch(e){require('node:module').createRequire('$ROOT/interop/node/package.json').resolve('node-nats-streaming')}" >/dev/null 2>&1; then
            UNAVAILABLE[node]="npm package 'node-nats-streaming' not found from interop/node (run scripts/install-deps.sh)"
        fi
        ;;
    esac
done
if [[ " ${MODE_LIST[*]} " == *" external "* ]] && [[ ! -x "$NATS_SERVER" ]] && ! command -v "$NATS_SERVER" >/dev/null 2>&1; then
    echo "run.sh: NATS server '$NATS_SERVER' (external mode) not found; install nats-server or set NATS_SERVER" >&2
    exit 64
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_port PID PORT: 1 if PORT accepts TCP within 10 s while PID lives.
wait_port() {
    local pid="$1" port="$2"
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_open "$port" && return 0
        sleep 0.1
    done
    return 1
}

# stan_probe PORT SECONDS: succeeds once something answers a NATS request on
# _STAN.discover.<cluster> (an empty ConnectRequest, which a STAN server
# rejects with "stan: invalid connection request" without registering a
# client). Uses no_responders so "nobody listening" is detected immediately.
stan_probe() {
    python3 - "$1" "$2" "$CLUSTER_ID" <<'EOF'
import re, socket, sys, time
port, limit, cluster = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
deadline = time.time() + limit
last = "no attempt"
while time.time() < deadline:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.settimeout(2)
        buf = b""
        while b"\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                raise OSError("closed before INFO")
            buf += d
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"protocol":1,"headers":true,'
                  b'"no_responders":true,"name":"stan-probe"}\r\n'
                  b"SUB _INBOX.stanprobe 1\r\n"
                  b"PUB _STAN.discover." + cluster.encode() + b" _INBOX.stanprobe 0\r\n\r\nPING\r\n")
        buf = b""
        t_end = time.time() + 2
        ok = False
        while time.time() < t_end:
            d = s.recv(4096)
            if not d:
                break
            buf += d
            if re.search(rb"(^|\n)MSG _INBOX\.stanprobe ", buf):
                ok = True  # a STAN server answered (any ConnectResponse)
                break
            if b"HMSG _INBOX.stanprobe" in buf or b"-ERR" in buf:
                break  # 503 no responders (STAN not subscribed yet) or error
        s.close()
        if ok:
            sys.exit(0)
        last = repr(buf[-200:])
    except OSError as e:
        last = str(e)
    time.sleep(0.2)
print(f"probe: no STAN reply on _STAN.discover.{cluster} within {limit}s (last: {last})")
sys.exit(1)
EOF
}

client_cmd() {
    case "$1" in
    py) printf '%s\n' "$PYTHON" "$HERE/py_stan.py" ;;
    node) printf '%s\n' node "$HERE/node_stan.js" ;;
    c) printf '%s\n' "$OUT/c_stan" ;;
    esac
}

declare -a SUMMARY=()
TOTAL_PASS=0
TOTAL_FAIL=0
ANY_FAIL=0
START=$(date +%s)

mode_fail() { # mode reason
    for c in "${CLIENTS[@]}"; do SUMMARY+=("$(printf '%-9s %-5s %4s %4s  %s' "$1" "$c" - - "FAIL ($2)")"); done
    TOTAL_FAIL=$((TOTAL_FAIL + ${#CLIENTS[@]}))
    ANY_FAIL=1
}

for mode in "${MODE_LIST[@]}"; do
    slog="$LOGS/server-$mode.log"
    if [[ "$mode" == "embedded" ]]; then
        port="$(free_port)"
        echo "=== mode=embedded: $SERVER -a 127.0.0.1 -p $port -cid $CLUSTER_ID"
        "$SERVER" -a 127.0.0.1 -p "$port" -cid "$CLUSTER_ID" >"$slog" 2>&1 &
        STAN_PID=$!
        if ! wait_port "$STAN_PID" "$port"; then
            echo "FAIL server did not accept connections on 127.0.0.1:$port within 10s; log tail:"
            tail -n 20 "$slog" | sed 's/^/    /'
            mode_fail "$mode" "server did not start"
            cleanup
            continue
        fi
        sleep 0.3
        url="nats://127.0.0.1:$port"
    else
        nport="$(free_port)"
        nlog="$LOGS/nats-server-external.log"
        echo "=== mode=external: $NATS_SERVER -a 127.0.0.1 -p $nport; $SERVER -cid $CLUSTER_ID -ns nats://127.0.0.1:$nport"
        "$NATS_SERVER" -a 127.0.0.1 -p "$nport" >"$nlog" 2>&1 &
        NATS_PID=$!
        if ! wait_port "$NATS_PID" "$nport"; then
            echo "FAIL nats-server did not accept connections on 127.0.0.1:$nport within 10s; log tail:"
            tail -n 20 "$nlog" | sed 's/^/    /'
            mode_fail "$mode" "nats-server did not start"
            cleanup
            continue
        fi
        "$SERVER" -cid "$CLUSTER_ID" -ns "nats://127.0.0.1:$nport" >"$slog" 2>&1 &
        STAN_PID=$!
        sleep 1
        if ! kill -0 "$STAN_PID" 2>/dev/null; then
            echo "FAIL STAN server exited at startup (mode=external); log tail:"
            tail -n 20 "$slog" | sed 's/^/    /'
            mode_fail "$mode" "server exited at startup"
            cleanup
            continue
        fi
        port="$nport"
        url="nats://127.0.0.1:$nport"
    fi
    if ! probe_out="$(stan_probe "$port" 10)"; then
        echo "WARN $probe_out (running the clients anyway)"
    fi

    for c in "${CLIENTS[@]}"; do
        if [[ -n "${UNAVAILABLE[$c]:-}" ]]; then
            echo "FAIL [$c] not runnable: ${UNAVAILABLE[$c]}"
            SUMMARY+=("$(printf '%-9s %-5s %4s %4s  %s' "$mode" "$c" - - "FAIL (${UNAVAILABLE[$c]})")")
            TOTAL_FAIL=$((TOTAL_FAIL + 1))
            ANY_FAIL=1
            continue
        fi
        mapfile -t cmd < <(client_cmd "$c")
        clog="$LOGS/$c-$mode.log"
        prefix="$c-$mode"
        echo "--- [$c] $prefix"
        t0=$(date +%s.%N)
        (cd "$HERE" && timeout -k 5 "$CLIENT_TIMEOUT" "${cmd[@]}" "$url" "$CLUSTER_ID" "$prefix") >"$clog" 2>&1
        rc=$?
        el=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')")
        sed 's/^/    /' "$clog"
        np=$(grep -c '^ok ' "$clog")
        nf=$(grep -c '^FAIL ' "$clog")
        TOTAL_PASS=$((TOTAL_PASS + np))
        TOTAL_FAIL=$((TOTAL_FAIL + nf))
        if [[ $rc -eq 0 && $nf -eq 0 && $np -gt 0 ]]; then
            status="ok (${el}s)"
        else
            why="rc=$rc"
            [[ $rc -eq 124 || $rc -eq 137 ]] && why="TIMEOUT after ${CLIENT_TIMEOUT}s"
            if [[ $nf -eq 0 ]]; then TOTAL_FAIL=$((TOTAL_FAIL + 1)); fi
            status="FAIL ($why, ${el}s; log $clog)"
            ANY_FAIL=1
        fi
        SUMMARY+=("$(printf '%-9s %-5s %4s %4s  %s' "$mode" "$c" "$np" "$nf" "$status")")
    done

    if ! kill -0 "$STAN_PID" 2>/dev/null; then
        echo "FAIL STAN server exited during mode=$mode; log tail:"
        tail -n 20 "$slog" | sed 's/^/    /'
        SUMMARY+=("$(printf '%-9s %-5s %4s %4s  %s' "$mode" server - - "FAIL (exited during the run; log $slog)")")
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
        ANY_FAIL=1
    fi
    cleanup
done

echo
echo "=== STAN interop summary (server: $SERVER, $(($(date +%s) - START))s)"
printf '  %-9s %-5s %4s %4s  %s\n' mode client ok fail result
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "stan interop: $TOTAL_PASS passed, $TOTAL_FAIL failed"
exit $ANY_FAIL
