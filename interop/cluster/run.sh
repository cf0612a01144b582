#!/usr/bin/env bash
# NATS cluster interop kit: three-node clusters (routes, gossip) of our
# server, Debian's nats-server and both mixed, exercised by the official
# NATS clients (Python nats-py, Node `nats`, C libnats).
#
# usage: interop/cluster/run.sh OUR_SERVER_BINARY [NATS_SERVER_BINARY]
#   topologies (N1 <- N2 <- N3: N2 routes to N1, N3 to N2; N1 and N3 meet
#   by gossip):  a = ours ours ours,  b = nats ours nats,  c = ours nats ours
#   env: TOPOLOGIES="a b c"   CLIENTS="py node c"   CLIENT_TIMEOUT=90 (s)
#        KILL_py=2 KILL_node=3 KILL_c=1  (node each client has killed)
#        OUR_ARGS="-DV"  NATS_ARGS="-DV"  (extra server flags, e.g. traces)
#        LATE_CONNECT=0  (skip the raw late-CONNECT INFO check, late_connect.py)
#        INTEROP_PYTHON=/path/to/python  (default: .venv/nats/bin/python)
#
# Logs: target/interop/cluster/logs/. Exit status is non-zero if any check
# failed, a client crashed or timed out, or a node died unexpectedly.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/target/interop/cluster"
LOGS="$OUT/logs"

if [[ $# -lt 1 || $# -gt 2 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 64
fi
OURS="$1"
NATS="${2:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
read -r -a TOPO_LIST <<<"${TOPOLOGIES:-a b c}"
read -r -a CLIENT_LIST <<<"${CLIENTS:-py node c}"
read -r -a OUR_EXTRA <<<"${OUR_ARGS:-}"
read -r -a NATS_EXTRA <<<"${NATS_ARGS:-}"
CLIENT_TIMEOUT="${CLIENT_TIMEOUT:-90}"
PYTHON="${INTEROP_PYTHON:-$ROOT/.venv/nats/bin/python}"
declare -A KILL=([py]="${KILL_py:-2}" [node]="${KILL_node:-3}" [c]="${KILL_c:-1}")

for bin in "$OURS" "$NATS"; do
    if [[ ! -x "$bin" ]] && ! command -v "$bin" >/dev/null 2>&1; then
        echo "run.sh: server binary '$bin' not found or not executable" >&2
        exit 64
    fi
done
for t in "${TOPO_LIST[@]}"; do
    case "$t" in a | b | c) ;; *)
        echo "run.sh: unknown topology '$t' (expected: a b c)" >&2
        exit 64
        ;;
    esac
done
for c in "${CLIENT_LIST[@]}"; do
    case "$c" in py | node | c) ;; *)
        echo "run.sh: unknown client '$c' (expected: py node c)" >&2
        exit 64
        ;;
    esac
    case "${KILL[$c]}" in 1 | 2 | 3) ;; *)
        echo "run.sh: KILL_$c must be 1, 2 or 3" >&2
        exit 64
        ;;
    esac
done

# Our stan-server gets a distinct STAN cluster id per node; a nats-server
# given as OUR_SERVER_BINARY (a reference run of the kit) takes no --cid.
OUR_CID=0
"$OURS" --help 2>&1 | grep -q -- '--cid' && OUR_CID=1

mkdir -p "$OUT" "$LOGS"
rm -f "$LOGS"/*.log
rm -rf "$OUT/ctl"

# ---------------------------------------------------------------- preflight
declare -A UNAVAILABLE=()
for c in "${CLIENT_LIST[@]}"; do
    case "$c" in
    c)
        CFLAGS_LIBS="-lnats"
        if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libnats 2>/dev/null; then
            CFLAGS_LIBS="$(pkg-config --cflags --libs libnats)"
        fi
        # shellcheck disable=SC2086
        if ! gcc -O1 -Wall -o "$OUT/c_cluster" "$HERE/c_cluster.c" $CFLAGS_LIBS -lpthread >"$LOGS/c-build.log" 2>&1; then
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

client_cmd() {
    case "$1" in
    py) printf '%s\n' "$PYTHON" "$HERE/py_cluster.py" ;;
    node) printf '%s\n' node "$HERE/node_cluster.mjs" ;;
    c) printf '%s\n' "$OUT/c_cluster" ;;
    esac
}

# ---------------------------------------------------------------- nodes
# Per topology: KIND[i] (ours|nats), PORT[i] (clients), CPORT[i] (routes),
# PID[i], LOG[i] for i = 1..3.
declare -a KIND=() PORT=() CPORT=() PID=() LOG=()
TOPO=""

six_ports() {
    # six distinct free loopback ports, bound together so none repeats
    python3 -c '
import socket
ss = [socket.socket() for _ in range(6)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss:
    s.close()'
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

now_ms() { date +%s%3N; }

# start_node I: starts node I of the current topology (same ports on restart)
start_node() {
    local i=$1 routes=()
    local args=(-a 127.0.0.1 -p "${PORT[$i]}" --cluster "nats://127.0.0.1:${CPORT[$i]}" --cluster_name "interop-$TOPO")
    if [[ $i -gt 1 ]]; then
        local seed=$((i - 1))
        if [[ ${KIND[$i]} == ours ]]; then
            routes=(--routes "nats-route://127.0.0.1:${CPORT[$seed]}")
        else
            routes=(--routes "nats://127.0.0.1:${CPORT[$seed]}")
        fi
    fi
    echo "=== run.sh $(date -u +%H:%M:%S.%3N): starting N$i (${KIND[$i]})" >>"${LOG[$i]}"
    if [[ ${KIND[$i]} == ours ]]; then
        local cid=()
        [[ $OUR_CID -eq 1 ]] && cid=(--cid "interop-n$i")
        "$OURS" "${args[@]}" "${routes[@]}" "${cid[@]}" "${OUR_EXTRA[@]}" >>"${LOG[$i]}" 2>&1 &
    else
        "$NATS" "${args[@]}" "${routes[@]}" -n "$TOPO-n$i" "${NATS_EXTRA[@]}" >>"${LOG[$i]}" 2>&1 &
    fi
    PID[$i]=$!
    local deadline=$(($(now_ms) + 10000))
    while (($(now_ms) < deadline)); do
        kill -0 "${PID[$i]}" 2>/dev/null || break
        port_open "${PORT[$i]}" && return 0
        sleep 0.05
    done
    echo "FAIL node N$i (${KIND[$i]}) did not accept clients on 127.0.0.1:${PORT[$i]} within 10s; log tail:"
    tail -n 20 "${LOG[$i]}" | sed 's/^/    /'
    return 1
}

# kill_node I [SIGNAL]: kills node I and reaps it
kill_node() {
    local i=$1 sig=${2:-KILL}
    [[ -z "${PID[$i]:-}" ]] && return 0
    kill "-$sig" "${PID[$i]}" 2>/dev/null
    if [[ $sig != KILL ]]; then
        for _ in $(seq 1 50); do
            kill -0 "${PID[$i]}" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "${PID[$i]}" 2>/dev/null
    fi
    wait "${PID[$i]}" 2>/dev/null
    echo "=== run.sh $(date -u +%H:%M:%S.%3N): N$i stopped (SIG$sig)" >>"${LOG[$i]}"
    PID[$i]=""
}

stop_all() {
    for i in 1 2 3; do kill_node "$i" TERM; done
}
trap stop_all EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

# ---------------------------------------------------------------- run
declare -a SUMMARY=()
TOTAL_PASS=0
TOTAL_FAIL=0
ANY_FAIL=0
START=$(date +%s)

fail_line() {
    SUMMARY+=("FAIL  $1")
    TOTAL_FAIL=$((TOTAL_FAIL + 1))
    ANY_FAIL=1
}

# A client CONNECTing just after a route registered must get the new
# connect_urls (deterministic form of a window the clients hit on restarts):
# Debian's nats-server first (reference), then ours.
if [[ "${LATE_CONNECT:-1}" != 0 ]]; then
    for bin in "$NATS" "$OURS"; do
        llog="$LOGS/late-connect-$(basename "$bin").log"
        echo "=== late CONNECT: $bin"
        timeout -k 5 60 python3 "$HERE/late_connect.py" "$bin" "$LOGS" >"$llog" 2>&1
        rc=$?
        cat "$llog"
        np=$(grep -c '^PASS ' "$llog")
        nf=$(grep -c '^FAIL ' "$llog")
        TOTAL_PASS=$((TOTAL_PASS + np))
        TOTAL_FAIL=$((TOTAL_FAIL + nf))
        if [[ $rc -eq 0 && $nf -eq 0 && $np -gt 0 ]]; then
            SUMMARY+=("ok    late CONNECT  $(basename "$bin")  ($np checks)")
        else
            [[ $nf -eq 0 ]] && TOTAL_FAIL=$((TOTAL_FAIL + 1))
            SUMMARY+=("FAIL  late CONNECT  $(basename "$bin")  (rc=$rc, $nf failed checks; log $llog)")
            ANY_FAIL=1
        fi
    done
fi

for TOPO in "${TOPO_LIST[@]}"; do
    case "$TOPO" in
    a) KIND=("" ours ours ours) ;;
    b) KIND=("" nats ours nats) ;;
    c) KIND=("" ours nats ours) ;;
    esac
    read -r -a ports <<<"$(six_ports)"
    PORT=("" "${ports[0]}" "${ports[1]}" "${ports[2]}")
    CPORT=("" "${ports[3]}" "${ports[4]}" "${ports[5]}")
    for i in 1 2 3; do LOG[$i]="$LOGS/$TOPO-n$i-${KIND[$i]}.log"; done
    echo "=== topology $TOPO: N1 ${KIND[1]} :${PORT[1]}/${CPORT[1]}, N2 ${KIND[2]} :${PORT[2]}/${CPORT[2]} -> N1, N3 ${KIND[3]} :${PORT[3]}/${CPORT[3]} -> N2"
    up=1
    for i in 1 2 3; do start_node "$i" || up=0; done
    if [[ $up -ne 1 ]]; then
        fail_line "$TOPO  cluster did not start (logs $LOGS/$TOPO-n*.log)"
        stop_all
        continue
    fi
    urls=("nats://127.0.0.1:${PORT[1]}" "nats://127.0.0.1:${PORT[2]}" "nats://127.0.0.1:${PORT[3]}")

    for c in "${CLIENT_LIST[@]}"; do
        if [[ -n "${UNAVAILABLE[$c]:-}" ]]; then
            echo "FAIL [$c] not runnable: ${UNAVAILABLE[$c]}"
            fail_line "$TOPO  $c  (${UNAVAILABLE[$c]})"
            continue
        fi
        k=${KILL[$c]}
        ctl="$OUT/ctl/$TOPO-$c"
        mkdir -p "$ctl"
        mapfile -t cmd < <(client_cmd "$c")
        clog="$LOGS/$TOPO-$c.log"
        t0=$(now_ms)
        "${cmd[@]}" "$ctl" "$k" "${urls[@]}" >"$clog" 2>&1 &
        cpid=$!
        timed_out=0
        deadline=$((t0 + CLIENT_TIMEOUT * 1000))
        # Serve the scenario's kill/restart requests while it runs.
        while kill -0 "$cpid" 2>/dev/null; do
            if [[ -e "$ctl/kill.req" && ! -e "$ctl/kill.done" ]]; then
                kill_node "$k" KILL
                touch "$ctl/kill.done"
            fi
            if [[ -e "$ctl/restart.req" && ! -e "$ctl/restart.done" && -z "${PID[$k]}" ]]; then
                start_node "$k" && touch "$ctl/restart.done"
            fi
            if (($(now_ms) > deadline)); then
                kill -KILL "$cpid" 2>/dev/null
                timed_out=1
                break
            fi
            sleep 0.02
        done
        wait "$cpid"
        rc=$?
        el=$(((($(now_ms) - t0) + 50) / 100))
        el="$((el / 10)).$((el % 10))"
        cat "$clog"
        np=$(grep -c '^PASS ' "$clog")
        nf=$(grep -c '^FAIL ' "$clog")
        TOTAL_PASS=$((TOTAL_PASS + np))
        TOTAL_FAIL=$((TOTAL_FAIL + nf))
        if [[ $rc -eq 0 && $nf -eq 0 && $np -gt 0 && $timed_out -eq 0 ]]; then
            SUMMARY+=("ok    $TOPO  $c  ($np checks, killed N$k, ${el}s)")
        else
            why="rc=$rc, $nf failed checks"
            [[ $timed_out -eq 1 ]] && why="TIMEOUT after ${CLIENT_TIMEOUT}s, $nf failed checks"
            [[ $nf -eq 0 ]] && TOTAL_FAIL=$((TOTAL_FAIL + 1))
            SUMMARY+=("FAIL  $TOPO  $c  ($why, killed N$k, ${el}s; log $clog)")
            ANY_FAIL=1
        fi
        # Every node must be up for the next client: the killed one is
        # restarted if the scenario stopped short; any other death is a failure.
        for i in 1 2 3; do
            if [[ -n "${PID[$i]}" ]] && ! kill -0 "${PID[$i]}" 2>/dev/null; then
                wait "${PID[$i]}" 2>/dev/null
                echo "FAIL node N$i (${KIND[$i]}) exited during the $c scenario; log tail:"
                tail -n 20 "${LOG[$i]}" | sed 's/^/    /'
                fail_line "$TOPO  N$i ${KIND[$i]}  (exited during the $c scenario; log ${LOG[$i]})"
                PID[$i]=""
            fi
            if [[ -z "${PID[$i]}" ]]; then
                start_node "$i" || fail_line "$TOPO  N$i ${KIND[$i]}  (could not be restarted)"
            fi
        done
    done
    stop_all
done

echo
echo "=== cluster interop summary (ours: $OURS, nats-server: $NATS, $(($(date +%s) - START))s)"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "cluster interop: $TOTAL_PASS passed, $TOTAL_FAIL failed"
exit $ANY_FAIL
