#!/usr/bin/env bash
# NATS core interop kit: run official NATS clients (Python nats-py, Node `nats`,
# C libnats) against a NATS server binary, in every auth mode.
#
# usage: interop/nats/run.sh SERVER_BINARY [client...]
#   clients: py node c   (default: all three)
#   env:     MODES="none user bcrypt token"  (subset of auth modes to run)
#            INTEROP_PYTHON=/path/to/python  (default: .venv/nats/bin/python)
#            CLIENT_TIMEOUT=60               (seconds per client scenario)
#
# The server is started as: SERVER_BINARY -a 127.0.0.1 -p PORT [auth flags]
# Logs: target/interop/logs/. Exit status is non-zero if any scenario failed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/target/interop"
LOGS="$OUT/logs"

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 64
fi
SERVER="$1"
shift
CLIENTS=("$@")
[[ ${#CLIENTS[@]} -eq 0 ]] && CLIENTS=(py node c)
read -r -a MODE_LIST <<<"${MODES:-none user bcrypt token}"
CLIENT_TIMEOUT="${CLIENT_TIMEOUT:-60}"
PYTHON="${INTEROP_PYTHON:-$ROOT/.venv/nats/bin/python}"

# Fixed credentials. The bcrypt hash is bcrypt('s3cret', cost 10, $2a$) and is
# passed on the command line as the password; the server must bcrypt-compare.
USER_NAME="alice"
USER_PASS="s3cret"
BCRYPT_HASH='$2a$10$W9tftx7p4LsQCMVF5Sed2.2fsflp6QdrIFe0.AdsbCK2Vx8oLp/cC'
TOKEN="t0ken"

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
for m in "${MODE_LIST[@]}"; do
    case "$m" in none | user | bcrypt | token) ;; *)
        echo "run.sh: unknown mode '$m' (expected: none user bcrypt token)" >&2
        exit 64
        ;;
    esac
done

mkdir -p "$OUT" "$LOGS"
rm -f "$LOGS"/*.log

SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
    fi
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
        if ! gcc -O1 -Wall -o "$OUT/c_interop" "$HERE/c_interop.c" $CFLAGS_LIBS >"$LOGS/c-build.log" 2>&1; then
            UNAVAILABLE[c]="C build failed (need gcc + libnats-dev), see $LOGS/c-build.log"
        fi
        ;;
    py)
        if [[ ! -x "$PYTHON" ]]; then
            UNAVAILABLE[py]="python venv $PYTHON missing (run scripts/install-deps.sh)"
        elif ! "$PYTHON" -c 'import nats' >/dev/null 2>&1; then
            UNAVAILABLE[py]="nats-py not importable by $PYTHON (run scripts/install-deps.sh)"
        fi
        ;;
    node)
        if ! command -v node >/dev/null 2>&1; then
            UNAVAILABLE[node]="node not on PATH"
        elif ! node -e "require('node:module').createRequire('$ROOT/interop/node/package.json').resolve('nats')" >/dev/null 2>&1; then
            UNAVAILABLE[node]="npm package 'nats' not found from interop/node (run scripts/install-deps.sh)"
        fi
        ;;
    esac
done

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

server_flags() {
    case "$1" in
    none) ;;
    user) printf '%s\n' --user "$USER_NAME" --pass "$USER_PASS" ;;
    bcrypt) printf '%s\n' --user "$USER_NAME" --pass "$BCRYPT_HASH" ;;
    token) printf '%s\n' --auth "$TOKEN" ;;
    esac
}

client_creds() {
    case "$1" in
    none) ;;
    user | bcrypt) printf '%s\n' "$USER_NAME" "$USER_PASS" ;;
    token) printf '%s\n' "$TOKEN" ;;
    esac
}

client_cmd() {
    case "$1" in
    py) printf '%s\n' "$PYTHON" "$HERE/py_interop.py" ;;
    node) printf '%s\n' node "$HERE/node_interop.mjs" ;;
    c) printf '%s\n' "$OUT/c_interop" ;;
    esac
}

declare -a SUMMARY=()
TOTAL_PASS=0
TOTAL_FAIL=0
ANY_FAIL=0
START=$(date +%s)

for mode in "${MODE_LIST[@]}"; do
    port="$(free_port)"
    mapfile -t sflags < <(server_flags "$mode")
    slog="$LOGS/server-$mode.log"
    echo "=== mode=$mode: $SERVER -a 127.0.0.1 -p $port ${sflags[*]}"
    "$SERVER" -a 127.0.0.1 -p "$port" "${sflags[@]}" >"$slog" 2>&1 &
    SERVER_PID=$!
    up=0
    for _ in $(seq 1 100); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        if port_open "$port"; then
            up=1
            break
        fi
        sleep 0.1
    done
    if [[ $up -ne 1 ]]; then
        echo "FAIL server did not accept connections on 127.0.0.1:$port within 10s (mode=$mode); log tail:"
        tail -n 20 "$slog" | sed 's/^/    /'
        for c in "${CLIENTS[@]}"; do SUMMARY+=("FAIL  $mode  $c  (server did not start)"); done
        TOTAL_FAIL=$((TOTAL_FAIL + ${#CLIENTS[@]}))
        ANY_FAIL=1
        cleanup
        continue
    fi

    mapfile -t creds < <(client_creds "$mode")
    for c in "${CLIENTS[@]}"; do
        if [[ -n "${UNAVAILABLE[$c]:-}" ]]; then
            echo "FAIL [$c] not runnable: ${UNAVAILABLE[$c]}"
            SUMMARY+=("FAIL  $mode  $c  (${UNAVAILABLE[$c]})")
            TOTAL_FAIL=$((TOTAL_FAIL + 1))
            ANY_FAIL=1
            continue
        fi
        mapfile -t cmd < <(client_cmd "$c")
        clog="$LOGS/$c-$mode.log"
        t0=$(date +%s.%N)
        timeout -k 5 "$CLIENT_TIMEOUT" "${cmd[@]}" "nats://127.0.0.1:$port" "$mode" "${creds[@]}" >"$clog" 2>&1
        rc=$?
        el=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')")
        cat "$clog"
        np=$(grep -c '^PASS ' "$clog")
        nf=$(grep -c '^FAIL ' "$clog")
        TOTAL_PASS=$((TOTAL_PASS + np))
        TOTAL_FAIL=$((TOTAL_FAIL + nf))
        if [[ $rc -eq 0 && $nf -eq 0 && $np -gt 0 ]]; then
            SUMMARY+=("ok    $mode  $c  ($np checks, ${el}s)")
        else
            why="rc=$rc, $nf failed checks"
            [[ $rc -eq 124 || $rc -eq 137 ]] && why="TIMEOUT after ${CLIENT_TIMEOUT}s, $nf failed checks"
            if [[ $nf -eq 0 ]]; then TOTAL_FAIL=$((TOTAL_FAIL + 1)); fi
            SUMMARY+=("FAIL  $mode  $c  ($why, ${el}s; log $clog)")
            ANY_FAIL=1
        fi
    done

    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "FAIL server exited during mode=$mode; log tail:"
        tail -n 20 "$slog" | sed 's/^/    /'
        SUMMARY+=("FAIL  $mode  server  (exited during the run)")
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
        ANY_FAIL=1
    fi
    cleanup
done

echo
echo "=== interop summary (server: $SERVER, $(($(date +%s) - START))s)"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "interop: $TOTAL_PASS passed, $TOTAL_FAIL failed"
exit $ANY_FAIL
