#!/usr/bin/env python3
"""Cut-off scenario of the flow-control kit: a consumer that stops reading is
cut off by the server (write deadline), everyone else is unaffected.

usage: cutoff.py URL SERVER_LOG
env:   FLOW_CUT_MAX    latest acceptable cut-off, s after the publisher starts (default 20)
       FLOW_CUT_MIN    earliest acceptable cut-off (default 9: write_deadline 10 s minus slack)
       FLOW_PAIR_MAX   max duration of the unrelated pair's exchange, s (default 5)
       FLOW_PAIR_DELAY start the pair this long after the publisher, s (default 2.5)

Parts (one asyncio process + the nats-py publisher flood_pub.py as a child):
  * dead reader: raw TCP, SO_RCVBUF 4096 set before connect; reads INFO,
    sends `CONNECT {"verbose":false}`, `SUB flood2 1`, `PING`, reads up to
    PONG, then never reads again (until the check at the end);
  * a normal nats-py subscriber on flood2 (counting, checks sequence numbers);
  * an unrelated nats-py pair (own publisher + subscriber connections) that
    exchanges PAIR_COUNT small messages on `other`, starting PAIR_DELAY s
    after the publisher, i.e. while the dead reader's output is piling up
    and the publisher is being stalled;
  * flood_pub.py publishes FLOOD_COUNT x 1 KiB to flood2 (< 64 MiB in total,
    so only the write deadline can cut the dead reader off).
The moment the server closes the dead reader's connection is taken from the
server-side socket in /proc/net/tcp (it leaves ESTABLISHED, or disappears),
polled every 50 ms, with the server log line as a fallback; afterwards the
dead reader reads its socket and must hit EOF / ECONNRESET.
Prints INFO and PASS/FAIL lines; exit 1 if any check failed.
"""
import asyncio
import os
import socket
import sys
import time

import nats

HERE = os.path.dirname(os.path.abspath(__file__))
TAG = "cutoff"
FLOOD_SUBJ = "flood2"
FLOOD_COUNT = 60000
PAIR_SUBJ = "other"
PAIR_COUNT = 20000
SLOW_LINE = "Slow Consumer Detected"
failures = 0


def out(line):
    print(line, flush=True)


def check(name, ok, detail=""):
    global failures
    if not ok:
        failures += 1
    out(f"{'PASS' if ok else 'FAIL'} [{TAG}] {name}{' -- ' + detail if detail else ''}")


def envf(k, d):
    return float(os.environ.get(k, d))


# ----------------------------------------------------------------- dead reader

def dead_reader_connect(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect((host, port))
    buf = b""
    while b"\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("EOF before INFO")
        buf += chunk
    if not buf.startswith(b"INFO "):
        raise ConnectionError(f"expected INFO, got {buf[:60]!r}")
    s.sendall(b'CONNECT {"verbose":false}\r\n' + f"SUB {FLOOD_SUBJ} 1\r\n".encode() + b"PING\r\n")
    buf = buf.split(b"\r\n", 1)[1]
    while b"PONG\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError(f"EOF before PONG (got {buf[:80]!r})")
        buf += chunk
        if b"-ERR" in buf:
            raise ConnectionError(f"server error: {buf[:120]!r}")
    return s


def drain_until_closed(s, limit_s=10.0, max_bytes=512 << 20):
    """Read until EOF/ECONNRESET (True) or the bounds run out (False)."""
    s.settimeout(2.0)
    got = 0
    t_end = time.monotonic() + limit_s
    try:
        while time.monotonic() < t_end and got < max_bytes:
            chunk = s.recv(1 << 20)
            if not chunk:
                return True, f"EOF after reading {got} buffered bytes"
            got += len(chunk)
        return False, f"still open after reading {got} bytes"
    except ConnectionResetError:
        return True, f"ECONNRESET after reading {got} buffered bytes"
    except socket.timeout:
        return False, f"no EOF: read timed out after {got} bytes"
    except OSError as e:
        return True, f"{type(e).__name__}: {e} after {got} bytes"


def tcp_state(server_port, peer_port):
    """State (hex string) of the server-side socket of a loopback connection,
    None if it is gone, False if /proc/net/tcp cannot be read."""
    want_l = f"0100007F:{server_port:04X}"
    want_r = f"0100007F:{peer_port:04X}"
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                p = line.split()
                if p[1] == want_l and p[2] == want_r:
                    return p[3]
    except OSError:
        return False
    return None


def log_has(path, needle):
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if needle in line:
                    return line.strip()
    except OSError:
        pass
    return None


# ----------------------------------------------------------------- scenario

async def connect(url, name, events):
    def cb(what):
        async def f(*a):
            if not events.get("closing"):
                events.setdefault("list", []).append(
                    what + (f": {type(a[0]).__name__}: {a[0]}" if a else ""))
        return f

    return await asyncio.wait_for(
        nats.connect(url, name=name, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3,
                     error_cb=cb("error"), disconnected_cb=cb("disconnected"), closed_cb=cb("closed")),
        10,
    )


async def sync(nc):
    await asyncio.wait_for(nc._flush_pending(force_flush=True), 5)
    await nc.flush(timeout=5)


async def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 64
    url, server_log = sys.argv[1], sys.argv[2]
    hostport = url.split("://", 1)[-1]
    host, port = hostport.rsplit(":", 1)
    port = int(port)
    cut_max, cut_min = envf("FLOW_CUT_MAX", 20), envf("FLOW_CUT_MIN", 9)
    pair_max, pair_delay = envf("FLOW_PAIR_MAX", 5), envf("FLOW_PAIR_DELAY", 2.5)

    # --- set up: dead reader, normal subscriber, unrelated pair
    try:
        dead = dead_reader_connect(host, port)
    except Exception as e:  # noqa: BLE001
        check("dead reader: connect + CONNECT/SUB/PING/PONG handshake", False, f"{type(e).__name__}: {e}")
        return 1
    dead_port = dead.getsockname()[1]
    st0 = tcp_state(port, dead_port)
    use_proc = st0 == "01"
    out(f"INFO [{TAG}] dead reader: subscribed from 127.0.0.1:{dead_port}, SO_RCVBUF "
        f"{dead.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)}; close detection via "
        f"{'/proc/net/tcp (server-side socket state)' if use_proc else 'server log only (/proc/net/tcp entry not found)'}")

    ev_norm, ev_psub, ev_ppub = {}, {}, {}
    try:
        norm = await connect(url, "flow-cutoff-normal-sub", ev_norm)
        psub = await connect(url, "flow-cutoff-pair-sub", ev_psub)
        ppub = await connect(url, "flow-cutoff-pair-pub", ev_ppub)
    except Exception as e:  # noqa: BLE001
        check("nats-py connections (normal sub, pair sub, pair pub)", False, f"{type(e).__name__}: {e}")
        return 1

    seen = bytearray(FLOOD_COUNT)
    ns = {"n": 0, "dups": 0, "bad": 0, "last": None}
    norm_done = asyncio.Event()

    async def norm_cb(msg):
        try:
            seq = int(msg.data[:10])
        except ValueError:
            seq = -1
        if 0 <= seq < FLOOD_COUNT:
            if seen[seq]:
                ns["dups"] += 1
            seen[seq] = 1
        else:
            ns["bad"] += 1
        ns["n"] += 1
        ns["last"] = time.monotonic()
        if ns["n"] >= FLOOD_COUNT:
            norm_done.set()

    ps = {"n": 0, "last": None}
    pair_done = asyncio.Event()

    async def pair_cb(msg):
        ps["n"] += 1
        ps["last"] = time.monotonic()
        if ps["n"] >= PAIR_COUNT:
            pair_done.set()

    await norm.subscribe(FLOOD_SUBJ, cb=norm_cb, pending_msgs_limit=0, pending_bytes_limit=0)
    await psub.subscribe(PAIR_SUBJ, cb=pair_cb, pending_msgs_limit=0, pending_bytes_limit=0)
    await sync(norm)
    await sync(psub)

    # --- the publisher
    pub = await asyncio.create_subprocess_exec(
        sys.executable, os.path.join(HERE, "flood_pub.py"), url, FLOOD_SUBJ, str(FLOOD_COUNT), "--progress",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    started = asyncio.Event()
    pub_progress = {"n": 0, "t": None}
    t0_box = {}

    async def pub_pump():
        async for raw in pub.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if line == "START":
                t0_box["t0"] = time.monotonic()
                started.set()
            elif line.startswith("PROGRESS "):
                pub_progress["n"] = int(line.split()[1])
                pub_progress["t"] = time.monotonic()
            else:
                if line.startswith("FAIL "):
                    global failures
                    failures += 1
                out(line)

    pump = asyncio.create_task(pub_pump())
    try:
        await asyncio.wait_for(started.wait(), 15)
    except asyncio.TimeoutError:
        check("publisher started", False, "no START line within 15s")
        pub.kill()
        return 1
    t0 = t0_box["t0"]

    # --- monitor the dead reader's connection and the server log
    mon = {"closed": None, "state": None, "log": None, "log_line": None}

    async def monitor():
        while time.monotonic() - t0 < cut_max + 5:
            t = time.monotonic() - t0
            if use_proc and mon["closed"] is None:
                st = tcp_state(port, dead_port)
                if st != "01":
                    mon["closed"], mon["state"] = t, st
            if mon["log"] is None:
                line = log_has(server_log, SLOW_LINE)
                if line:
                    mon["log"], mon["log_line"] = t, line
            if mon["log"] is not None and (mon["closed"] is not None or not use_proc):
                return
            await asyncio.sleep(0.05)

    # --- the unrelated pair, while the dead reader's output piles up
    pair = {"start": None, "end": None, "err": None, "progress_at_start": None, "cut_at_start": None}

    async def run_pair():
        await asyncio.sleep(max(0.0, t0 + pair_delay - time.monotonic()))
        pair["progress_at_start"] = pub_progress["n"]
        pair["cut_at_start"] = mon["closed"] if use_proc else mon["log"]
        pair["start"] = time.monotonic()
        try:
            payload = b"x" * 16
            for i in range(PAIR_COUNT):
                await ppub.publish(PAIR_SUBJ, b"%08d" % i + payload)
            await ppub.flush(timeout=15)
            await asyncio.wait_for(pair_done.wait(), 15)
        except Exception as e:  # noqa: BLE001
            pair["err"] = f"{type(e).__name__}: {e}"
        pair["end"] = ps["last"] if pair_done.is_set() else time.monotonic()
        pair["progress_at_end"] = pub_progress["n"]

    mon_task = asyncio.create_task(monitor())
    pair_task = asyncio.create_task(run_pair())
    try:
        await asyncio.wait_for(pub.wait(), cut_max + 40)
    except asyncio.TimeoutError:
        pub.kill()
        await pub.wait()
        check(f"{FLOOD_SUBJ}: publisher finished", False, f"TIMEOUT after {cut_max + 40:.0f}s, killed")
    t_pub_done = time.monotonic() - t0
    try:
        await asyncio.wait_for(pump, 5)
    except asyncio.TimeoutError:
        pass
    # the normal subscriber gets up to 10 s after the publisher to catch up
    try:
        await asyncio.wait_for(norm_done.wait(), 10)
    except asyncio.TimeoutError:
        pass
    await asyncio.sleep(0.3)  # duplicates / extras
    for task, bound in ((pair_task, 40), (mon_task, cut_max + 10)):
        try:
            await asyncio.wait_for(task, bound)
        except asyncio.TimeoutError:
            pass  # reported below as "did not run / never"

    # --- (a) the dead reader was cut off, in time
    t_cut = mon["closed"] if use_proc else mon["log"]
    if t_cut is not None:
        closed, how = await asyncio.to_thread(drain_until_closed, dead)
    else:
        closed, how = False, f"server-side socket still ESTABLISHED {cut_max + 5:.0f}s after the publisher started"
    dead.close()
    fmt = lambda t: f"{t:.2f}s" if t is not None else "never"  # noqa: E731
    out(f"INFO [{TAG}] after the publisher started: dead reader's connection closed by the server at "
        f"{fmt(t_cut)}{' (state ' + str(mon['state']) + ')' if mon['state'] else ''}, "
        f"'{SLOW_LINE}' logged by {fmt(mon['log'])}, publisher done at {t_pub_done:.2f}s")
    check(f"dead reader: connection closed by the server within {cut_max:.0f}s of the publisher's start",
          closed and t_cut is not None and t_cut <= cut_max, f"closed at {fmt(t_cut)}; {how}")
    check(f"dead reader: not cut off before the write deadline (>= {cut_min:.0f}s; < 64 MiB was published)",
          t_cut is not None and t_cut >= cut_min, f"closed at {fmt(t_cut)}")

    # --- (b) server log
    line = mon["log_line"] or log_has(server_log, SLOW_LINE)
    check(f"server log contains '{SLOW_LINE}'", line is not None, (line or "not found")[:200])

    # --- (c) normal subscriber
    missing = FLOOD_COUNT - sum(seen)
    evs = ev_norm.get("list", [])
    check(f"{FLOOD_SUBJ}: normal subscriber received all {FLOOD_COUNT} messages exactly once",
          ns["n"] == FLOOD_COUNT and missing == 0 and ns["dups"] == 0 and ns["bad"] == 0,
          f"got {ns['n']}, missing {missing}, duplicates {ns['dups']}, malformed {ns['bad']}")
    check(f"{FLOOD_SUBJ}: normal subscriber never disconnected/closed, no async error",
          not evs and norm.is_connected, "; ".join(evs[:5]) or ("none" if norm.is_connected else "not connected"))

    # --- (d) unrelated pair
    dur = (pair["end"] - pair["start"]) if pair["start"] and pair["end"] else None
    pevs = ev_psub.get("list", []) + ev_ppub.get("list", [])
    rel = lambda t: f"{t - t0:.2f}s" if t else "n/a"  # noqa: E731
    out(f"INFO [{TAG}] pair on '{PAIR_SUBJ}': ran {rel(pair['start'])}..{rel(pair['end'])} after the publisher "
        f"started; dead reader {'already closed' if pair['cut_at_start'] is not None else 'still open'} at its start; "
        f"publisher flushed {pair['progress_at_start']} -> {pair.get('progress_at_end')} msgs during it")
    check(f"'{PAIR_SUBJ}': unrelated pair exchanged all {PAIR_COUNT} messages",
          ps["n"] == PAIR_COUNT and pair["err"] is None and not pevs,
          f"got {ps['n']}" + (f"; {pair['err']}" if pair["err"] else "") + ("; " + "; ".join(pevs[:3]) if pevs else ""))
    check(f"'{PAIR_SUBJ}': unrelated pair not slowed by the stall (<= {pair_max:.0f}s)",
          dur is not None and dur <= pair_max, f"took {dur:.2f}s" if dur is not None else "did not run")

    for ev, nc in ((ev_norm, norm), (ev_psub, psub), (ev_ppub, ppub)):
        ev["closing"] = True
        try:
            await asyncio.wait_for(nc.close(), 5)
        except Exception:  # noqa: BLE001
            pass
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
