#!/usr/bin/env bash
# TLS interop kit: real clients (Python nats-py, Node `nats`, C libnats, Node
# node-nats-streaming) against a server serving TLS as nats-server does, and
# the streaming server against Debian's nats-server over TLS (-ns).
#
# usage: interop/tls/run.sh SERVER_BINARY [step...]
#   steps:  embedded  SERVER -a 127.0.0.1 -p PORT --tls --tlscert F --tlskey F
#                     --tlsverify --tlscacert F: py, node, c (a round trip with
#                     a client certificate; no certificate, another CA's
#                     certificate, a client trusting another CA and a
#                     plain-text client refused) and node-nats-streaming
#           expired   SERVER --tls with an expired certificate: refused (py)
#           ns        nats-server --tls --tlsverify, then SERVER -ns tls://...
#                     -secure -tls_client_cert F -tls_client_key F
#                     -tls_client_cacert F; a STAN round trip through it
#           (default: embedded expired ns)
#   env:    REFERENCE=1     SERVER is nats-server itself (or another plain NATS
#                           server taking nats-server's TLS flags): no streaming
#                           checks, no ns step, and a plain-text client may be
#                           closed without -ERR (nats-server 2.9 does that)
#           NATS_SERVER=... the reference server of the ns step (nats-server)
#           INTEROP_PYTHON  (default: .venv/nats/bin/python)
#           CLIENT_TIMEOUT=60 (seconds per client run)
#
# Certificates are generated with openssl (gen-certs.sh) into
# target/interop/tls/certs; logs go to target/interop/tls/logs. The last
# line says "tls interop: N passed, N failed"; the exit status is non-zero
# if any check failed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/target/interop/tls"
LOGS="$OUT/logs"
CERTS="$OUT/certs"

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'
    exit 64
fi
SERVER="$1"
shift
STEPS=("$@")
[[ ${#STEPS[@]} -eq 0 ]] && STEPS=(embedded expired ns)
REFERENCE="${REFERENCE:-0}"
NATS_SERVER="${NATS_SERVER:-nats-server}"
PYTHON="${INTEROP_PYTHON:-$ROOT/.venv/nats/bin/python}"
CLIENT_TIMEOUT="${CLIENT_TIMEOUT:-60}"

for s in "${STEPS[@]}"; do
    case "$s" in embedded | expired | ns) ;; *)
        echo "run.sh: unknown step '$s' (expected: embedded expired ns)" >&2
        exit 64
        ;;
    esac
done
if [[ ! -x "$SERVER" ]] && ! command -v "$SERVER" >/dev/null 2>&1; then
    echo "run.sh: server binary '$SERVER' not found or not executable" >&2
    exit 64
fi
if ! command -v openssl >/dev/null 2>&1; then
    echo "run.sh: openssl not found (scripts/install-deps.sh installs it)" >&2
    exit 64
fi

mkdir -p "$OUT" "$LOGS"
rm -f "$LOGS"/*.log
"$HERE/gen-certs.sh" "$CERTS" >"$LOGS/gen-certs.log" 2>&1 || {
    echo "run.sh: certificate generation failed, see $LOGS/gen-certs.log" >&2
    exit 1
}

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    PIDS=()
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start NAME PORT CMD...: starts a server in the background, waits up to 10 s
# for PORT to accept connections (PORT empty: waits 1 s for it to stay up).
start() {
    local name="$1" port="$2"
    shift 2
    echo "=== $name: $*"
    "$@" >"$LOGS/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        if [[ -n "$port" ]] && port_open "$port"; then return 0; fi
        if [[ -z "$port" ]]; then
            sleep 1
            kill -0 "$pid" 2>/dev/null && return 0
            break
        fi
        sleep 0.1
    done
    echo "FAIL [$name] did not start; log tail:"
    tail -n 20 "$LOGS/$name.log" | sed 's/^/    /'
    return 1
}

TOTAL_PASS=0
TOTAL_FAIL=0
declare -a SUMMARY=()

# client NAME CMD...: runs a client; counts its PASS/FAIL lines.
client() {
    local name="$1"
    shift
    local log="$LOGS/$name.log"
    timeout -k 5 "$CLIENT_TIMEOUT" "$@" >"$log" 2>&1
    local rc=$?
    cat "$log"
    local np nf
    np=$(grep -c '^PASS ' "$log")
    nf=$(grep -c '^FAIL ' "$log")
    if [[ $rc -ne 0 && $nf -eq 0 ]]; then nf=1; fi
    TOTAL_PASS=$((TOTAL_PASS + np))
    TOTAL_FAIL=$((TOTAL_FAIL + nf))
    if [[ $rc -eq 0 && $nf -eq 0 ]]; then
        SUMMARY+=("ok    $name ($np checks)")
    else
        SUMMARY+=("FAIL  $name (rc=$rc, $nf failed; log $log)")
    fi
}

fail() {
    TOTAL_FAIL=$((TOTAL_FAIL + 1))
    SUMMARY+=("FAIL  $1")
}

c_client() {
    local flags="-lnats"
    if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libnats 2>/dev/null; then
        flags="$(pkg-config --cflags --libs libnats)"
    fi
    # shellcheck disable=SC2086
    gcc -O1 -Wall -o "$OUT/c_tls" "$HERE/c_tls.c" $flags >"$LOGS/c-build.log" 2>&1
}

TLS_FLAGS=(--tls --tlscert "$CERTS/server-cert.pem" --tlskey "$CERTS/server-key.pem")
VERIFY_FLAGS=(--tlsverify --tlscacert "$CERTS/ca.pem")
STRICT=1
[[ "$REFERENCE" == "1" ]] && STRICT=0

step_embedded() {
    local port
    port="$(free_port)"
    start embedded-server "$port" "$SERVER" -a 127.0.0.1 -p "$port" "${TLS_FLAGS[@]}" \
        "${VERIFY_FLAGS[@]}" || {
        fail "embedded: the server did not start"
        return
    }
    local url="tls://127.0.0.1:$port"
    if [[ -x "$PYTHON" ]]; then
        client py-verify env STRICT_PLAIN_ERR="$STRICT" "$PYTHON" "$HERE/py_tls.py" verify "$url" "$CERTS"
    else
        fail "py: $PYTHON missing (run scripts/install-deps.sh)"
    fi
    client node-verify node "$HERE/node_tls.mjs" "$url" "$CERTS"
    if c_client; then
        client c-verify "$OUT/c_tls" "$url" "$CERTS"
    else
        fail "c: build failed (need gcc + libnats-dev), see $LOGS/c-build.log"
    fi
    if [[ "$REFERENCE" != "1" ]]; then
        client stan-node-embedded node "$HERE/stan_tls.js" "$url" test-cluster "$CERTS"
    fi
    cleanup
}

step_expired() {
    local port
    port="$(free_port)"
    start expired-server "$port" "$SERVER" -a 127.0.0.1 -p "$port" --tls \
        --tlscert "$CERTS/expired-cert.pem" --tlskey "$CERTS/expired-key.pem" || {
        fail "expired: the server did not start"
        return
    }
    if [[ -x "$PYTHON" ]]; then
        client py-expired "$PYTHON" "$HERE/py_tls.py" expired "tls://127.0.0.1:$port" "$CERTS"
    else
        fail "py: $PYTHON missing (run scripts/install-deps.sh)"
    fi
    cleanup
}

step_ns() {
    if [[ "$REFERENCE" == "1" ]]; then
        echo "=== ns: skipped (REFERENCE=1: no streaming server)"
        return
    fi
    if ! command -v "$NATS_SERVER" >/dev/null 2>&1; then
        fail "ns: $NATS_SERVER not found (scripts/install-deps.sh installs it)"
        return
    fi
    local nport
    nport="$(free_port)"
    start ns-nats-server "$nport" "$NATS_SERVER" -a 127.0.0.1 -p "$nport" "${TLS_FLAGS[@]}" \
        "${VERIFY_FLAGS[@]}" || {
        fail "ns: nats-server did not start"
        return
    }
    local url="tls://127.0.0.1:$nport"
    start ns-stan-server "" "$SERVER" -ns "$url" -secure \
        -tls_client_cert "$CERTS/client-cert.pem" -tls_client_key "$CERTS/client-key.pem" \
        -tls_client_cacert "$CERTS/ca.pem" || {
        fail "ns: the streaming server did not start"
        return
    }
    # The streaming server subscribes once its TLS connection is up: the
    # first connect is retried until it answers (at most 10 times).
    local attempt
    for attempt in $(seq 1 10); do
        if timeout -k 5 "$CLIENT_TIMEOUT" node "$HERE/stan_tls.js" "$url" test-cluster "$CERTS" \
            >"$LOGS/stan-node-ns-try.log" 2>&1; then
            break
        fi
        sleep 1
    done
    client stan-node-ns node "$HERE/stan_tls.js" "$url" test-cluster "$CERTS"
    cleanup
}

START=$(date +%s)
for s in "${STEPS[@]}"; do
    "step_$s"
done

echo
echo "=== tls interop summary (server: $SERVER, $(($(date +%s) - START))s)"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "tls interop: $TOTAL_PASS passed, $TOTAL_FAIL failed"
[[ $TOTAL_FAIL -eq 0 ]]
