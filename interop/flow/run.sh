#!/usr/bin/env bash
# NATS flow-control ("slow consumer") kit: checks how a NATS server binary
# treats slow and stopped readers (stall the producer vs. cut the consumer).
#
# usage: interop/flow/run.sh SERVER_BINARY [scenario...]
#   scenarios: py node c cutoff   (default: all four)
#   env:       INTEROP_PYTHON=/path/to/python  (default: .venv/nats/bin/python)
#              FLOW_WORK_US=70       busy work per message in the slow subscribers
#              FLOW_TIMEOUT=110      subscriber time bound, seconds
#              SCENARIO_TIMEOUT=150  hard bound per scenario, seconds
#
# Each scenario gets a fresh server: SERVER_BINARY -a 127.0.0.1 -p PORT
# (default log level; stdout+stderr in target/interop/logs/flow-server-*.log).
# Prints PASS/FAIL per check, per scenario the elapsed time and the server's
# peak RSS (VmHWM), and `flow: N passed, M failed`; exit 1 on any failure.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/target/interop"
LOGS="$OUT/logs"

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 64
fi
SERVER="$1"
shift
SCENARIOS=("$@")
[[ ${#SCENARIOS[@]} -eq 0 ]] && SCENARIOS=(py node c cutoff)
PYTHON="${INTEROP_PYTHON:-$ROOT/.venv/nats/bin/python}"
SCENARIO_TIMEOUT="${SCENARIO_TIMEOUT:-150}"
export FLOW_WORK_US="${FLOW_WORK_US:-70}"
export FLOW_TIMEOUT="${FLOW_TIMEOUT:-110}"

if [[ ! -x "$SERVER" ]] && ! command -v "$SERVER" >/dev/null 2>&1; then
    echo "run.sh: server binary '$SERVER' not found or not executable" >&2
    exit 64
fi
for s in "${SCENARIOS[@]}"; do
    case "$s" in py | node | c | cutoff) ;; *)
        echo "run.sh: unknown scenario '$s' (expected: py node c cutoff)" >&2
        exit 64
        ;;
    esac
done

mkdir -p "$OUT" "$LOGS"
rm -f "$LOGS"/flow-*.log

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

now() { date +%s.%N; }
since() { python3 -c "print(f'{$(now) - $1:.1f}')"; }

# ---------------------------------------------------------------- preflight
declare -A UNAVAILABLE=()
py_ok=""
if [[ ! -x "$PYTHON" ]]; then
    py_ok="python venv $PYTHON missing (run scripts/install-deps.sh)"
elif ! "$PYTHON" -c 'import nats' >/dev/null 2>&1; then
    py_ok="nats-py not importable by $PYTHON (run scripts/install-deps.sh)"
fi
for s in "${SCENARIOS[@]}"; do
    # every scenario uses the nats-py publisher
    [[ -n "$py_ok" ]] && UNAVAILABLE[$s]="$py_ok" && continue
    case "$s" in
    c)
        CFLAGS_LIBS="-lnats"
        if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libnats 2>/dev/null; then
            CFLAGS_LIBS="$(pkg-config --cflags --libs libnats)"
        fi
        # shellcheck disable=SC2086
        if ! gcc -O1 -Wall -o "$OUT/flow_slow_sub" "$HERE/slow_sub.c" $CFLAGS_LIBS -lpthread >"$LOGS/flow-c-build.log" 2>&1; then
            UNAVAILABLE[c]="C build failed (need gcc + libnats-dev), see $LOGS/flow-c-build.log"
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

# scenario_cmd SCENARIO URL SERVER_LOG -> argv, one per line
scenario_cmd() {
    local drv=("$PYTHON" "$HERE/slow_reader.py" "$2")
    case "$1" in
    py) printf '%s\n' "${drv[@]}" py flood 200000 -- "$PYTHON" "$HERE/slow_sub.py" ;;
    node) printf '%s\n' "${drv[@]}" node flood 200000 -- node "$HERE/slow_sub.mjs" ;;
    c) printf '%s\n' "${drv[@]}" c flood 200000 -- "$OUT/flow_slow_sub" ;;
    cutoff) printf '%s\n' "$PYTHON" "$HERE/cutoff.py" "$2" "$3" ;;
    esac
}

declare -a SUMMARY=()
TOTAL_PASS=0
TOTAL_FAIL=0
ANY_FAIL=0
START=$(now)

for scen in "${SCENARIOS[@]}"; do
    if [[ -n "${UNAVAILABLE[$scen]:-}" ]]; then
        echo "FAIL [$scen] not runnable: ${UNAVAILABLE[$scen]}"
        SUMMARY+=("$(printf '%-8s %-6s %8s %12s  %s' "$scen" FAIL - - "(${UNAVAILABLE[$scen]})")")
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
        ANY_FAIL=1
        continue
    fi
    port="$(free_port)"
    slog="$LOGS/flow-server-$scen.log"
    echo "=== scenario $scen: $SERVER -a 127.0.0.1 -p $port"
    t0=$(now)
    "$SERVER" -a 127.0.0.1 -p "$port" >"$slog" 2>&1 &
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
        echo "FAIL [$scen] server did not accept connections on 127.0.0.1:$port within 10s; log tail:"
        tail -n 20 "$slog" | sed 's/^/    /'
        SUMMARY+=("$(printf '%-8s %-6s %8s %12s  %s' "$scen" FAIL - - "(server did not start)")")
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
        ANY_FAIL=1
        cleanup
        continue
    fi

    mapfile -t cmd < <(scenario_cmd "$scen" "nats://127.0.0.1:$port" "$slog")
    clog="$LOGS/flow-$scen.log"
    timeout -k 5 "$SCENARIO_TIMEOUT" "${cmd[@]}" >"$clog" 2>&1
    rc=$?
    el=$(since "$t0")
    cat "$clog"
    np=$(grep -c '^PASS ' "$clog")
    nf=$(grep -c '^FAIL ' "$clog")

    rss="n/a"
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        hwm_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null)
        [[ -n "$hwm_kb" ]] && rss="$(awk -v k="$hwm_kb" 'BEGIN {printf "%.1f MiB", k / 1024}')"
    else
        echo "FAIL [$scen] server exited during the scenario; log tail:"
        tail -n 20 "$slog" | sed 's/^/    /'
        nf=$((nf + 1))
    fi
    if [[ $rc -ne 0 && $nf -eq 0 ]]; then
        if [[ $rc -eq 124 || $rc -eq 137 ]]; then
            echo "FAIL [$scen] scenario TIMEOUT after ${SCENARIO_TIMEOUT}s"
        else
            echo "FAIL [$scen] scenario exited rc=$rc without a failed check (see $clog)"
        fi
        nf=1
    fi
    echo "--- scenario $scen: ${el}s, server peak RSS (VmHWM) $rss, $np passed, $nf failed"
    TOTAL_PASS=$((TOTAL_PASS + np))
    TOTAL_FAIL=$((TOTAL_FAIL + nf))
    if [[ $nf -eq 0 && $np -gt 0 ]]; then
        SUMMARY+=("$(printf '%-8s %-6s %7ss %12s  %s' "$scen" ok "$el" "$rss" "($np checks)")")
    else
        SUMMARY+=("$(printf '%-8s %-6s %7ss %12s  %s' "$scen" FAIL "$el" "$rss" "($nf of $((np + nf)) checks failed; logs $clog, $slog)")")
        ANY_FAIL=1
    fi
    cleanup
done

echo
echo "=== flow summary (server: $SERVER, $(since "$START")s)"
printf '  %-8s %-6s %8s %12s\n' scenario result elapsed "server VmHWM"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "flow: $TOTAL_PASS passed, $TOTAL_FAIL failed"
exit $ANY_FAIL
