#!/usr/bin/env bash
# Monitoring kit: starts a STAN server with its monitoring port, sets up a
# scenario with the official Node client, then checks /metrics with the
# official Prometheus parser and the dashboard (/) in headless Chromium.
#
# usage: interop/monitor/run.sh SERVER_BINARY [SCREENSHOT.png]
#   SCREENSHOT   where the dashboard's screenshot goes
#                (default target/interop/monitor/dashboard.png)
#   env: SERVER_ARGS="--runtime mio"    (extra arguments for the server)
#        NATS_SERVER=/usr/sbin/nats-server  (set: run against that external
#                                        NATS server, -ns; no NATS endpoints)
#        CHROMIUM=/usr/bin/chromium     (browser driven by puppeteer-core)
#        INTEROP_MONITOR_PYTHON=...     (default: .venv/monitor/bin/python)
#        SCREENSHOT_DELAY=35 SCREENSHOT_FULL_PAGE=1  (see dashboard_check.js)
#
# The server runs as: SERVER_BINARY -a 127.0.0.1 -p PORT -m MPORT
#   -cid test-cluster $SERVER_ARGS (free loopback ports), or with
#   NATS_SERVER: NATS_SERVER -a 127.0.0.1 -p PORT, then SERVER_BINARY
#   -a 127.0.0.1 -m MPORT -cid test-cluster -ns nats://127.0.0.1:PORT.
# Every step is bounded in time; the servers, the scenario's clients and the
# browser are stopped on exit. Logs: target/interop/monitor/logs/. Exit
# status is non-zero if any check failed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/target/interop/monitor"
LOGS="$OUT/logs"
CLUSTER_ID="test-cluster"

if [[ $# -lt 1 || $# -gt 2 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
    exit 64
fi
SERVER="$1"
SHOT="${2:-$OUT/dashboard.png}"
read -r -a EXTRA_ARGS <<<"${SERVER_ARGS:-}"
PYTHON="${INTEROP_MONITOR_PYTHON:-$ROOT/.venv/monitor/bin/python}"
NATS_SERVER="${NATS_SERVER:-}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [[ ! -x "$SERVER" ]] && ! command -v "$SERVER" >/dev/null 2>&1; then
    echo "run.sh: server binary '$SERVER' not found or not executable" >&2
    exit 64
fi

mkdir -p "$OUT" "$LOGS" "$(dirname "$SHOT")"
SHOT="$(cd "$(dirname "$SHOT")" && pwd)/$(basename "$SHOT")" # the checks run in $HERE
rm -f "$LOGS"/*.log "$OUT/expect.json"
# The browser's profile: a directory of our own, so that the clean-up can
# find the browser processes this run started (and only those).
PROFILE="$(mktemp -d "${TMPDIR:-/tmp}/monitor-kit-chromium.XXXXXX")"
export DASHBOARD_PROFILE="$PROFILE"

SERVER_PID=""
NATS_PID=""
SCENARIO_PID=""
CHECK_PID=""
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
# Browser processes left behind (the check was killed): those whose command
# line names this run's profile directory.
stop_browser() {
    local p pids=()
    for p in /proc/[0-9]*; do
        if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "--user-data-dir=$PROFILE"; then
            pids+=("${p#/proc/}")
        fi
    done
    [[ ${#pids[@]} -gt 0 ]] && kill -9 "${pids[@]}" 2>/dev/null
}
cleanup() {
    stop_pid "$CHECK_PID"
    CHECK_PID=""
    stop_pid "$SCENARIO_PID"
    SCENARIO_PID=""
    stop_pid "$SERVER_PID"
    SERVER_PID=""
    stop_pid "$NATS_PID"
    NATS_PID=""
    stop_browser
    rm -rf "$PROFILE"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

declare -a SUMMARY=()
ANY_FAIL=0
TOTAL_PASS=0
TOTAL_FAIL=0
START=$(date +%s)

step() { # name status detail
    SUMMARY+=("$(printf '%-10s %-4s %s' "$1" "$2" "$3")")
    if [[ "$2" == PASS ]]; then
        TOTAL_PASS=$((TOTAL_PASS + 1))
    else
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
        ANY_FAIL=1
    fi
}

summary() {
    echo
    echo "=== monitoring kit summary (server: $SERVER ${EXTRA_ARGS[*]}, ${MODE:-embedded} NATS, $(($(date +%s) - START))s)"
    for line in "${SUMMARY[@]}"; do echo "  $line"; done
    if [[ $ANY_FAIL -eq 0 ]]; then echo "PASS"; else echo "FAIL (logs in $LOGS)"; fi
    echo "monitor: $TOTAL_PASS passed, $TOTAL_FAIL failed"
}

# ---------------------------------------------------------------- preflight
PREFLIGHT=()
command -v node >/dev/null 2>&1 || PREFLIGHT+=("node not on PATH")
if ! (cd "$ROOT/interop/node" && node -e "require.resolve('puppeteer-core'); require.resolve('node-nats-streaming')") >/dev/null 2>&1; then
    PREFLIGHT+=("puppeteer-core / node-nats-streaming not installed in interop/node (run scripts/install-deps.sh)")
fi
[[ -x "$CHROMIUM" ]] || PREFLIGHT+=("browser $CHROMIUM missing (apt chromium; run scripts/install-deps.sh)")
if [[ ! -x "$PYTHON" ]] || ! "$PYTHON" -c 'import prometheus_client.parser' >/dev/null 2>&1; then
    PREFLIGHT+=("$PYTHON cannot import prometheus_client (run scripts/install-deps.sh)")
fi
if [[ -n "$NATS_SERVER" && ! -x "$NATS_SERVER" ]] && ! command -v "$NATS_SERVER" >/dev/null 2>&1; then
    PREFLIGHT+=("NATS server $NATS_SERVER not found")
fi
if [[ ${#PREFLIGHT[@]} -gt 0 ]]; then
    for p in "${PREFLIGHT[@]}"; do step preflight FAIL "$p"; done
    summary
    exit 1
fi

# bounded LOG SECONDS CMD...: runs CMD in $HERE under `timeout`, output to
# LOG; in the background and waited for, so that an interruption stops it
# at once (the trap runs during `wait`, not after a foreground command).
bounded() {
    local log="$1" secs="$2" rc
    shift 2
    (cd "$HERE" && exec timeout -k 10 "$secs" "$@") >"$log" 2>&1 &
    CHECK_PID=$!
    wait "$CHECK_PID"
    rc=$?
    CHECK_PID=""
    return $rc
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL SECONDS: GET URL answers 200 within SECONDS.
wait_http() {
    python3 - "$1" "$2" <<'EOF'
import sys, time, urllib.request
url, limit = sys.argv[1], float(sys.argv[2])
deadline = time.time() + limit
last = "no attempt"
while time.time() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
            last = f"HTTP {r.status}"
    except Exception as e:  # refused, 404 (urllib raises), timeout
        last = str(e)
    time.sleep(0.1)
print(f"{url}: no 200 within {limit}s (last: {last})")
sys.exit(1)
EOF
}

# ---------------------------------------------------------------- server
PORT="$(free_port)"
MPORT="$(free_port)"
while [[ "$MPORT" == "$PORT" ]]; do MPORT="$(free_port)"; done
BASE="http://127.0.0.1:$MPORT"
SLOG="$LOGS/server.log"
MODE=embedded
if [[ -n "$NATS_SERVER" ]]; then
    MODE=external
    NLOG="$LOGS/nats-server.log"
    echo "=== $NATS_SERVER -a 127.0.0.1 -p $PORT"
    "$NATS_SERVER" -a 127.0.0.1 -p "$PORT" >"$NLOG" 2>&1 &
    NATS_PID=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        kill -0 "$NATS_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "=== $SERVER -a 127.0.0.1 -m $MPORT -cid $CLUSTER_ID -ns nats://127.0.0.1:$PORT ${EXTRA_ARGS[*]}"
    "$SERVER" -a 127.0.0.1 -m "$MPORT" -cid "$CLUSTER_ID" -ns "nats://127.0.0.1:$PORT" "${EXTRA_ARGS[@]}" >"$SLOG" 2>&1 &
else
    echo "=== $SERVER -a 127.0.0.1 -p $PORT -m $MPORT -cid $CLUSTER_ID ${EXTRA_ARGS[*]}"
    "$SERVER" -a 127.0.0.1 -p "$PORT" -m "$MPORT" -cid "$CLUSTER_ID" "${EXTRA_ARGS[@]}" >"$SLOG" 2>&1 &
fi
SERVER_PID=$!
if out="$(wait_http "$BASE/streaming/serverz" 15)" && kill -0 "$SERVER_PID" 2>/dev/null; then
    step server PASS "monitoring on $BASE"
else
    echo "$out"
    tail -n 20 "$SLOG" | sed 's/^/    /'
    step server FAIL "no /streaming/serverz on $BASE: $out"
    summary
    exit 1
fi

# ---------------------------------------------------------------- scenario
echo "--- scenario (node-nats-streaming)"
EXPECT="$OUT/expect.json"
CLOG="$LOGS/scenario.log"
(cd "$HERE" && exec node scenario.js "nats://127.0.0.1:$PORT" "$CLUSTER_ID" "$EXPECT" 300) >"$CLOG" 2>&1 &
SCENARIO_PID=$!
ready=0
for _ in $(seq 1 600); do # 60 s
    if grep -q '^READY' "$CLOG" 2>/dev/null; then
        ready=1
        break
    fi
    kill -0 "$SCENARIO_PID" 2>/dev/null || break
    sleep 0.1
done
sed 's/^/    /' "$CLOG"
if [[ $ready -eq 1 ]]; then
    step scenario PASS "5 clients, 4 channels, 5 subscriptions (one stalled, one offline)"
else
    step scenario FAIL "not READY within 60s (log $CLOG)"
    summary
    exit 1
fi

# ---------------------------------------------------------------- /metrics
echo "--- /metrics (prometheus_client parser) and the JSON endpoints"
t0=$(date +%s)
MLOG="$LOGS/metrics.log"
bounded "$MLOG" 60 "$PYTHON" metrics_check.py "$BASE" "$EXPECT" "$MODE"
rc=$?
sed 's/^/    /' "$MLOG"
np=$(grep -c '^ok ' "$MLOG")
nf=$(grep -c '^FAIL ' "$MLOG")
if [[ $rc -eq 0 && $nf -eq 0 && $np -gt 0 ]]; then
    step metrics PASS "$np checks ($(($(date +%s) - t0))s)"
else
    why="rc=$rc"
    [[ $rc -eq 124 || $rc -eq 137 ]] && why="TIMEOUT after 60s"
    step metrics FAIL "$np ok, $nf failed, $why (log $MLOG)"
fi

# ---------------------------------------------------------------- dashboard
echo "--- dashboard (puppeteer-core + $CHROMIUM)"
t0=$(date +%s)
DLOG="$LOGS/dashboard.log"
# 150 s, plus the screenshot's delay (the check's own watchdog is 90 s plus it).
DELAY="${SCREENSHOT_DELAY:-0}"
[[ "$DELAY" =~ ^[0-9]+$ ]] || DELAY=0
[[ $DELAY -gt 60 ]] && DELAY=60
DTIMEOUT=$((150 + DELAY))
bounded "$DLOG" "$DTIMEOUT" node dashboard_check.js "$BASE/" "$SHOT" "$EXPECT"
rc=$?
stop_browser
sed 's/^/    /' "$DLOG"
np=$(grep -c '^ok ' "$DLOG")
nf=$(grep -c '^FAIL ' "$DLOG")
if [[ $rc -eq 0 && $nf -eq 0 && $np -gt 0 ]]; then
    step dashboard PASS "$np checks ($(($(date +%s) - t0))s), screenshot $SHOT"
else
    why="rc=$rc"
    [[ $rc -eq 124 || $rc -eq 137 ]] && why="TIMEOUT after ${DTIMEOUT}s"
    step dashboard FAIL "$np ok, $nf failed, $why (log $DLOG)"
fi

# ---------------------------------------------------------------- survivors
if kill -0 "$SERVER_PID" 2>/dev/null; then
    step alive PASS "server still running ($MODE NATS)"
else
    tail -n 20 "$SLOG" | sed 's/^/    /'
    step alive FAIL "server exited during the run (log $SLOG)"
fi
if grep -q '^FAIL' "$CLOG"; then
    step scenario FAIL "the scenario's clients reported a failure after READY (log $CLOG)"
fi

summary
exit $ANY_FAIL
