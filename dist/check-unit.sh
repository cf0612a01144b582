#!/usr/bin/env bash
# Checks dist/stan-server.service and dist/stan-server.conf:
#
#  1. the unit has the keys the install relies on;
#  2. `systemd-analyze verify` accepts it (when systemd-analyze exists), with
#     ExecStart pointing at the binary under test;
#  3. unless --verify-only: the server starts from the unit's ExecStart with
#     the sample config (moved to a temporary directory: store dir, ports),
#     survives the unit's ExecReload (SIGHUP), stops on the unit's KillSignal
#     with a successful exit status and releases its port; a second run
#     stops on SIGTERM with exit status 143.
#
# Usage: dist/check-unit.sh [--verify-only] [--unit FILE] [--conf FILE] [STAN_SERVER_BINARY]
# The binary defaults to $STAN_SERVER, then target/release/stan-server, then
# target/debug/stan-server. Every wait is bounded; the exit status is 0 when
# every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
unit="$here/stan-server.service"
conf="$here/stan-server.conf"
verify_only=0
bin="${STAN_SERVER:-}"

while [ $# -gt 0 ]; do
    case "$1" in
        --verify-only) verify_only=1 ;;
        --unit) unit="$2"; shift ;;
        --conf) conf="$2"; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        -*) echo "check-unit: unknown option $1" >&2; exit 2 ;;
        *) bin="$1" ;;
    esac
    shift
done

if [ -z "$bin" ]; then
    for b in "$root/target/release/stan-server" "$root/target/debug/stan-server"; do
        if [ -x "$b" ]; then bin="$b"; break; fi
    done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "check-unit: no stan-server binary (build it: cargo build -p stan-cli --bin stan-server)" >&2
    exit 2
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/stan-unit.XXXXXX")
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }

# The value of a [Service] key (the last one wins, as in systemd).
key() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }

# ---- 1. the keys ---------------------------------------------------------
exec_start=$(key ExecStart)
exec_reload=$(key ExecReload)
kill_signal=$(key KillSignal)
kill_signal=${kill_signal:-SIGTERM}
success_status=$(key SuccessExitStatus)
for k in ExecStart ExecReload KillSignal Restart LimitNOFILE User; do
    if [ -n "$(key "$k")" ]; then pass "unit sets $k=$(key "$k")"; else fail "unit lacks $k="; fi
done
[ "$(key Restart)" = "on-failure" ] || fail "Restart is not on-failure"
case "$exec_start" in
    /usr/local/bin/stan-server\ *-sc\ /etc/stan-server/stan-server.conf*) pass "ExecStart runs stan-server -sc /etc/stan-server/stan-server.conf" ;;
    *) fail "unexpected ExecStart: $exec_start" ;;
esac

# The unit's command lines with the installed paths replaced.
conf_copy="$tmp/stan-server.conf"
substitute() {
    local line="$1"
    line=${line//\/usr\/local\/bin\/stan-server/$bin}
    line=${line//\/etc\/stan-server\/stan-server.conf/$conf_copy}
    printf '%s' "$line"
}

# ---- 2. systemd-analyze verify -------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$tmp/unit"
    test_unit="$tmp/unit/stan-server.service"
    sed "s#/usr/local/bin/stan-server#$bin#g" "$unit" >"$test_unit"
    out=$(timeout 60 systemd-analyze verify "$test_unit" 2>&1) && rc=0 || rc=$?
    # Unknown keys are only warnings for systemd: count them too.
    warnings=$(printf '%s\n' "$out" | grep -F "stan-server.service" || true)
    if [ "$rc" -eq 0 ] && [ -z "$warnings" ]; then
        pass "systemd-analyze verify"
    else
        fail "systemd-analyze verify (exit $rc):"
        printf '%s\n' "$out" | sed 's/^/       /'
    fi
else
    echo "skip - systemd-analyze verify (systemd-analyze not installed)"
fi

if [ "$verify_only" -eq 1 ]; then
    [ "$failures" -eq 0 ] && echo "check-unit: all checks passed" && exit 0
    echo "check-unit: $failures check(s) failed"; exit 1
fi

# ---- 3. run the server as the unit would ---------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p i
    for i in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        if ! port_in_use "$p"; then echo "$p"; return 0; fi
    done
    return 1
}
client_port=$(free_port)
http_port=$(free_port)
while [ "$http_port" = "$client_port" ]; do http_port=$(free_port); done
mkdir -p "$tmp/store"
sed -e "s#^port:.*#port: $client_port#" \
    -e "s#^http_port:.*#http_port: $http_port#" \
    -e "s#\"/var/lib/stan-server\"#\"$tmp/store\"#" \
    -e "s#\"/var/log/stan-server/#\"$tmp/#" \
    -e "s#\"/run/stan-server/#\"$tmp/#" \
    "$conf" >"$conf_copy"

read -r -a start_cmd <<<"$(substitute "$exec_start")"

# Starts the server; waits (at most 20 s) until it is ready.
start_server() {
    local log="$1" i
    (cd "$tmp" && exec "${start_cmd[@]}") >"$log" 2>&1 &
    server_pid=$!
    for i in $(seq 1 200); do
        if grep -q "Streaming Server is ready" "$log"; then return 0; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    return 1
}

# Waits (at most $1 s) for the server to exit; sets exit_rc to its exit
# status, or to "timeout" (the server is then killed).
exit_rc=""
wait_exit() {
    local deadline=$(( $(date +%s) + $1 ))
    exit_rc=0
    while kill -0 "$server_pid" 2>/dev/null; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            kill -KILL "$server_pid" 2>/dev/null || true
            wait "$server_pid" 2>/dev/null || true
            server_pid=""
            exit_rc=timeout
            return 0
        fi
        sleep 0.1
    done
    wait "$server_pid" || exit_rc=$?
    server_pid=""
}

show_log() { head -n 20 "$1" | sed "s/^/       /"; }

echo "     running: ${start_cmd[*]} (client port $client_port, monitoring $http_port)"
log1="$tmp/run1.log"
if start_server "$log1"; then
    pass "server started from ExecStart and is ready"
    if port_in_use "$client_port"; then pass "listening on $client_port"; else fail "not listening on $client_port"; fi

    read -r -a reload_cmd <<<"$(substitute "${exec_reload//\$MAINPID/$server_pid}")"
    if "${reload_cmd[@]}"; then pass "ExecReload ran (${reload_cmd[*]})"; else fail "ExecReload failed"; fi
    sleep 1
    if kill -0 "$server_pid" 2>/dev/null; then
        pass "server survived the reload"
    else
        fail "server died on the reload:"; show_log "$log1"
    fi

    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -s "${kill_signal#SIG}" "$server_pid"
        wait_exit 60; rc=$exit_rc
        ok_statuses="0 $success_status"
        if [[ " $ok_statuses " == *" $rc "* ]]; then
            pass "KillSignal=$kill_signal: exit status $rc"
        else
            fail "KillSignal=$kill_signal: exit status $rc (expected one of: $ok_statuses)"; show_log "$log1"
        fi
        if port_in_use "$client_port"; then fail "port $client_port still in use after exit"; else pass "port $client_port released"; fi
    fi
else
    fail "server did not become ready within 20 s:"; show_log "$log1"
fi

log2="$tmp/run2.log"
if start_server "$log2"; then
    kill -TERM "$server_pid"
    wait_exit 60; rc=$exit_rc
    if [ "$rc" = "143" ]; then pass "SIGTERM: exit status 143"; else fail "SIGTERM: exit status $rc (expected 143)"; show_log "$log2"; fi
    if [[ " $success_status " == *" 143 "* ]]; then pass "SuccessExitStatus covers 143"; else fail "SuccessExitStatus lacks 143"; fi
else
    fail "second start did not become ready:"; show_log "$log2"
fi

if [ "$failures" -eq 0 ]; then
    echo "check-unit: all checks passed"
    exit 0
fi
echo "check-unit: $failures check(s) failed"
exit 1
