#!/usr/bin/env bash
# NATS Streaming over a NATS cluster, with the official streaming clients
# (node-nats-streaming, asyncio-nats-streaming, libnats streaming API).
#
# usage: interop/stan-cluster/run.sh OUR_STAN_SERVER [NATS_SERVER_BINARY]
#   NATS_SERVER_BINARY  Debian's nats-server by default (/usr/sbin/nats-server)
#   env: CLIENTS="node py c"      clients to run
#        TOPOLOGIES="X Y Z E1 E2" topologies to run (see README.md)
#        CLIENT_TIMEOUT=60        seconds per client program
#        SERVER_DEBUG=1           our nodes with -DV, our streaming servers with -SDV -DV
#        INTEROP_STAN_PYTHON=...  default .venv/stan/bin/python
#
# X, Y, Z: a 3-node NATS cluster A, B, C (X: three nats-server; Y: A and B
#       ours, with their own cluster ids, C nats-server; Z: three of ours) and
#       OUR_STAN_SERVER -cid test-cluster -ns nats://A; clients through [B, C]:
#       "basic" (X, Y), "failover" (B is SIGKILLed under the client, then
#       restarted; X, Y, Z).
# E1, E2: OUR_STAN_SERVER with its embedded NATS server as one node of a
#       3-node cluster (E1: two nats-server; E2: two of ours); clients on
#       each of the three nodes.
# Logs: target/interop/stan-cluster/logs/. Exit status non-zero on any failure.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/target/interop/stan-cluster"
LOGS="$OUT/logs"
CLUSTER_ID="test-cluster"
CLUSTER_NAME="stanc"

if [[ $# -lt 1 || $# -gt 2 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
    exit 64
fi
SERVER="$1"
NATS_SERVER="${2:-${NATS_SERVER:-/usr/sbin/nats-server}}"
read -r -a CLIENT_LIST <<<"${CLIENTS:-node py c}"
read -r -a TOPO_LIST <<<"${TOPOLOGIES:-X Y Z E1 E2}"
CLIENT_TIMEOUT="${CLIENT_TIMEOUT:-60}"
PYTHON="${INTEROP_STAN_PYTHON:-$ROOT/.venv/stan/bin/python}"
OUR_DEBUG=()
STAN_DEBUG=()
if [[ "${SERVER_DEBUG:-0}" == 1 ]]; then
    OUR_DEBUG=(-DV)
    STAN_DEBUG=(-SDV -DV)
fi

for b in "$SERVER" "$NATS_SERVER"; do
    if [[ ! -x "$b" ]] && ! command -v "$b" >/dev/null 2>&1; then
        echo "run.sh: binary '$b' not found or not executable" >&2
        exit 64
    fi
done
for c in "${CLIENT_LIST[@]}"; do
    case "$c" in py | node | c) ;; *)
        echo "run.sh: unknown client '$c' (expected: node py c)" >&2
        exit 64
        ;;
    esac
done
for t in "${TOPO_LIST[@]}"; do
    case "$t" in X | Y | Z | E1 | E2) ;; *)
        echo "run.sh: unknown topology '$t' (expected: X Y Z E1 E2)" >&2
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

# ---------------------------------------------------------------- processes
declare -A PID=()  # node name -> pid
declare -A CMD=()  # node name -> command line (for restarts), NUL-free, quoted
declare -A PORT=() # node name -> client port

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
stop_all() {
    local n
    for n in "${!PID[@]}"; do stop_pid "${PID[$n]}"; done
    PID=()
    CMD=()
    PORT=()
}
trap stop_all EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start NAME LOG CMD...: starts a process in the background, remembers it.
start() {
    local name="$1" log="$2"
    shift 2
    CMD[$name]="$(printf '%q ' "$@")"
    "$@" >>"$log" 2>&1 &
    PID[$name]=$!
}

# restart NAME LOG: same command again (after a kill).
restart() {
    local name="$1" log="$2"
    wait "${PID[$name]}" 2>/dev/null
    echo "=== restart $name" >>"$log"
    eval "set -- ${CMD[$name]}"
    "$@" >>"$log" 2>&1 &
    PID[$name]=$!
}

# nats_node NAME KIND PORT CPORT ROUTE_PORTS LOG: a cluster node.
#   KIND debian: NATS_SERVER; KIND ours: SERVER (its streaming engine gets
#   the cluster id node-NAME); KIND stan: SERVER with -cid test-cluster.
nats_node() {
    local name="$1" kind="$2" port="$3" cport="$4" routes="$5" log="$6"
    local args=(-a 127.0.0.1 -p "$port" --cluster "nats://127.0.0.1:$cport" --cluster_name "$CLUSTER_NAME")
    if [[ -n "$routes" ]]; then
        local r urls=()
        for r in $routes; do urls+=("nats://127.0.0.1:$r"); done
        args+=(--routes "$(
            IFS=,
            echo "${urls[*]}"
        )")
    fi
    PORT[$name]="$port"
    case "$kind" in
    debian) start "$name" "$log" "$NATS_SERVER" "${args[@]}" -n "node-$name" ;;
    ours) start "$name" "$log" "$SERVER" "${args[@]}" -cid "node-$name" "${OUR_DEBUG[@]}" ;;
    stan) start "$name" "$log" "$SERVER" "${args[@]}" -cid "$CLUSTER_ID" "${STAN_DEBUG[@]}" ;;
    esac
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_port NAME PORT: 1 if PORT does not accept TCP within 10 s (or NAME died).
wait_port() {
    local pid="${PID[$1]}" port="$2"
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_open "$port" && return 0
        sleep 0.1
    done
    return 1
}

# probe mesh|stan ...: readiness checks (cluster_probe.py).
probe() {
    python3 "$HERE/cluster_probe.py" "$@"
}

# ---------------------------------------------------------------- clients
declare -A UNAVAILABLE=()
for c in "${CLIENT_LIST[@]}"; do
    case "$c" in
    c)
        CFLAGS_LIBS="-lnats"
        if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libnats 2>/dev/null; then
            CFLAGS_LIBS="$(pkg-config --cflags --libs libnats)"
        fi
        # shellcheck disable=SC2086
        if ! cc -O1 -Wall -o "$OUT/c_cluster" "$HERE/c_cluster.c" $CFLAGS_LIBS -lpthread >"$LOGS/c-build.log" 2>&1; then
            UNAVAILABLE[c]="C build failed (need cc + libnats-dev), see $LOGS/c-build.log"
        fi
        ;;
    py)
        if [[ ! -x "$PYTHON" ]]; then
            UNAVAILABLE[py]="python venv $PYTHON missing (run scripts/install-deps.sh)"
        elif ! (cd "$ROOT/interop/stan" && "$PYTHON" -c 'import py311_shim, stan.aio.client, nats.aio.client') >/dev/null 2>&1; then
            UNAVAILABLE[py]="asyncio-nats-streaming not importable by $PYTHON (run scripts/install-deps.sh)"
        fi
        ;;
    node)
        if ! command -v node >/dev/null 2>&1; then
            UNAVAILABLE[node]="node not on PATH"
        elif ! node -e "require('node:module').createRequire('$ROOT/interop/node/package.json').resolve('node-nats-streaming')" >/dev/null 2>&1; then
            UNAVAILABLE[node]="npm package 'node-nats-streaming' not found from interop/node (run scripts/install-deps.sh)"
        fi
        ;;
    esac
done

client_cmd() {
    case "$1" in
    py) printf '%s\n' "$PYTHON" "$HERE/py_cluster.py" ;;
    node) printf '%s\n' node "$HERE/node_cluster.js" ;;
    c) printf '%s\n' "$OUT/c_cluster" ;;
    esac
}

declare -a SUMMARY=()
TOTAL_PASS=0
TOTAL_FAIL=0
ANY_FAIL=0
START=$(date +%s)

row() { # topo scenario client ok fail status
    SUMMARY+=("$(printf '%-3s %-9s %-5s %4s %4s  %s' "$@")")
}

fail_row() { # topo scenario client reason
    echo "FAIL [$1/$2/$3] $4"
    row "$1" "$2" "$3" - - "FAIL ($4)"
    TOTAL_FAIL=$((TOTAL_FAIL + 1))
    ANY_FAIL=1
}

# run_client TOPO SCENARIO CLIENT ARGS...: one client program, summarized.
run_client() {
    local topo="$1" scen="$2" c="$3"
    shift 3
    if [[ -n "${UNAVAILABLE[$c]:-}" ]]; then
        fail_row "$topo" "$scen" "$c" "not runnable: ${UNAVAILABLE[$c]}"
        return
    fi
    local cmd clog="$LOGS/$topo-$scen-$c.log"
    mapfile -t cmd < <(client_cmd "$c")
    echo "--- [$topo/$scen/$c] ${cmd[*]##*/} $*"
    local t0 rc el np nf status why
    t0=$(date +%s.%N)
    (cd "$HERE" && timeout -k 5 "$CLIENT_TIMEOUT" "${cmd[@]}" "$scen" "$CLUSTER_ID" "$@") >"$clog" 2>&1
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
        [[ $nf -eq 0 ]] && TOTAL_FAIL=$((TOTAL_FAIL + 1))
        status="FAIL ($why, ${el}s; log $clog)"
        ANY_FAIL=1
    fi
    row "$topo" "$scen" "$c" "$np" "$nf" "$status"
}

# alive TOPO NAMES...: every named process still runs (else a failure row).
alive() {
    local topo="$1" n ok=0
    shift
    for n in "$@"; do
        if ! kill -0 "${PID[$n]}" 2>/dev/null; then
            fail_row "$topo" server "$n" "process exited; log $LOGS/$topo-$n.log"
            tail -n 20 "$LOGS/$topo-$n.log" | sed 's/^/    /'
            ok=1
        fi
    done
    return $ok
}

# start_cluster TOPO KIND_A KIND_B KIND_C: nodes A, B, C (B and C solicit
# A; B-C is found by gossip); waits for the full mesh.
start_cluster() {
    local topo="$1" ka="$2" kb="$3" kc="$4"
    local pa pb pc ca cb cc
    pa=$(free_port) pb=$(free_port) pc=$(free_port)
    ca=$(free_port) cb=$(free_port) cc=$(free_port)
    nats_node A "$ka" "$pa" "$ca" "" "$LOGS/$topo-A.log"
    nats_node B "$kb" "$pb" "$cb" "$ca" "$LOGS/$topo-B.log"
    nats_node C "$kc" "$pc" "$cc" "$ca" "$LOGS/$topo-C.log"
    local n
    for n in A B C; do
        if ! wait_port "$n" "${PORT[$n]}"; then
            fail_row "$topo" setup "$n" "node $n did not listen on :${PORT[$n]} within 10s; log $LOGS/$topo-$n.log"
            tail -n 20 "$LOGS/$topo-$n.log" | sed 's/^/    /'
            return 1
        fi
    done
    local out
    if ! out=$(probe mesh 15 "$pa" "$pb" "$pc"); then
        fail_row "$topo" setup mesh "$out"
        return 1
    fi
    echo "    $out"
}

# ---------------------------------------------------------------- topologies

# X / Y / Z: cluster + our streaming server on A (-ns); SCENARIOS among
# "basic failover".
topo_ns() {
    local topo="$1" ka="$2" kb="$3" kc="$4" scenarios="$5"
    echo "=== topology $topo: A=$ka B=$kb C=$kc; stan-server -cid $CLUSTER_ID -ns nats://A"
    start_cluster "$topo" "$ka" "$kb" "$kc" || return
    local mport out
    mport=$(free_port)
    start STAN "$LOGS/$topo-stan.log" "$SERVER" -cid "$CLUSTER_ID" -ns "nats://127.0.0.1:${PORT[A]}" \
        -m "$mport" --hb_interval 1s --hb_timeout 1s --hb_fail_count 3 "${STAN_DEBUG[@]}"
    if ! out=$(probe stan "${PORT[B]}" "$CLUSTER_ID" 15); then
        fail_row "$topo" setup stan "$out; log $LOGS/$topo-stan.log"
        tail -n 20 "$LOGS/$topo-stan.log" | sed 's/^/    /'
        return
    fi
    local bc="nats://127.0.0.1:${PORT[B]},nats://127.0.0.1:${PORT[C]}"
    local c
    if [[ " $scenarios " == *" basic "* ]]; then
        for c in "${CLIENT_LIST[@]}"; do
            run_client "$topo" basic "$c" "$c-$topo-basic" "$bc"
        done
        alive "$topo" A B C STAN || return
    fi
    [[ " $scenarios " == *" failover "* ]] || return
    for c in "${CLIENT_LIST[@]}"; do
        run_client "$topo" failover "$c" "$c-$topo" "$bc" "${PID[B]}" "http://127.0.0.1:$mport"
        if kill -0 "${PID[B]}" 2>/dev/null; then
            fail_row "$topo" failover "$c" "node B (pid ${PID[B]}) was not killed by the client"
            stop_pid "${PID[B]}"
        fi
        alive "$topo" A C STAN || return
        [[ "$c" == "${CLIENT_LIST[-1]}" ]] && break
        # Back to a full cluster for the next client.
        restart B "$LOGS/$topo-B.log"
        out=""
        if ! wait_port B "${PORT[B]}" || ! out=$(probe mesh 15 "${PORT[A]}" "${PORT[B]}" "${PORT[C]}"); then
            fail_row "$topo" setup B "node B did not rejoin the cluster: ${out:-no listen}; log $LOGS/$topo-B.log"
            return
        fi
        echo "    B restarted; $out"
        if ! out=$(probe stan "${PORT[B]}" "$CLUSTER_ID" 15); then
            fail_row "$topo" setup stan "after restarting B: $out"
            return
        fi
    done
}

# E1 / E2: our stan-server (embedded NATS) is node A; clients on all nodes.
topo_embedded() {
    local topo="$1" kb="$2" kc="$3"
    echo "=== topology $topo: A=stan-server -cid $CLUSTER_ID (embedded NATS) B=$kb C=$kc"
    start_cluster "$topo" stan "$kb" "$kc" || return
    local n out
    for n in A B C; do
        if ! out=$(probe stan "${PORT[$n]}" "$CLUSTER_ID" 15); then
            fail_row "$topo" setup stan "via node $n: $out; log $LOGS/$topo-A.log"
            return
        fi
    done
    local c
    for c in "${CLIENT_LIST[@]}"; do
        run_client "$topo" basic "$c" "$c-$topo-basic" \
            "nats://127.0.0.1:${PORT[A]}" "nats://127.0.0.1:${PORT[B]}" "nats://127.0.0.1:${PORT[C]}"
    done
    alive "$topo" A B C
}

for topo in "${TOPO_LIST[@]}"; do
    case "$topo" in
    X) topo_ns X debian debian debian "basic failover" ;;
    Y) topo_ns Y ours ours debian "basic failover" ;;
    Z) topo_ns Z ours ours ours failover ;;
    E1) topo_embedded E1 debian debian ;;
    E2) topo_embedded E2 ours ours ;;
    esac
    stop_all
done

echo
echo "=== STAN over a NATS cluster: summary (server: $SERVER, nats-server: $NATS_SERVER, $(($(date +%s) - START))s)"
printf '  %-3s %-9s %-5s %4s %4s  %s\n' top scenario client ok fail result
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "stan cluster interop: $TOTAL_PASS passed, $TOTAL_FAIL failed"
exit $ANY_FAIL
