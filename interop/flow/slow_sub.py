#!/usr/bin/env python3
"""Slow subscriber (nats-py 2.x) for the flow-control kit.

usage: slow_sub.py URL SUBJECT COUNT
env:   FLOW_WORK_US  busy work per message in microseconds (default 70)
       FLOW_TIMEOUT  overall bound in seconds (default 110)
       FLOW_IDLE     give up after this many seconds without a message (default 15)

Subscribes to SUBJECT with nats-py's client-side pending limits disabled
(pending_msgs_limit=0, pending_bytes_limit=0) so only the server decides
about slow consumers, flushes, prints `READY`, then counts messages in a
callback that hashes the payload and spins until FLOW_WORK_US have passed
(clearly slower than the publisher). Payloads start with a 10-digit sequence
number; every one of 0..COUNT-1 must arrive exactly once, and the
connection must never be disconnected/closed or report an async error.
Prints INFO and PASS/FAIL lines; exit 1 if any check failed.
"""
import asyncio
import hashlib
import os
import sys
import time

import nats

TAG = "py"
failures = 0


def out(line):
    print(line, flush=True)


def check(name, ok, detail=""):
    global failures
    if not ok:
        failures += 1
    out(f"{'PASS' if ok else 'FAIL'} [{TAG}] {name}{' -- ' + detail if detail else ''}")


async def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 64
    url, subject, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    work = float(os.environ.get("FLOW_WORK_US", "70")) / 1e6
    timeout = float(os.environ.get("FLOW_TIMEOUT", "110"))
    idle = float(os.environ.get("FLOW_IDLE", "15"))

    t_start = time.monotonic()
    events = []  # (seconds since start, what)
    closing = False
    done = asyncio.Event()

    def event(what):
        if not closing:
            events.append((time.monotonic() - t_start, what))
            done.set()  # any connection event ends the run early (it is a FAIL)

    async def error_cb(e):
        event(f"error callback: {type(e).__name__}: {e}")

    async def disconnected_cb():
        event("disconnected callback")

    async def closed_cb():
        event("closed callback")

    try:
        nc = await asyncio.wait_for(
            nats.connect(
                url,
                name=f"flow-slow-sub-{TAG}",
                allow_reconnect=False,
                max_reconnect_attempts=0,
                connect_timeout=3,
                error_cb=error_cb,
                disconnected_cb=disconnected_cb,
                closed_cb=closed_cb,
            ),
            10,
        )
    except Exception as e:  # noqa: BLE001
        check(f"{subject}: subscriber connect", False, f"{type(e).__name__}: {e}")
        return 1

    seen = bytearray(count)
    st = {"n": 0, "dups": 0, "bad": 0, "first": None, "last": None}

    async def cb(msg):
        t_end = time.perf_counter() + work
        data = msg.data
        h = hashlib.sha256(data).digest()
        h = hashlib.sha256(h + data[:64]).digest()
        try:
            seq = int(data[:10])
        except ValueError:
            seq = -1
        if 0 <= seq < count:
            if seen[seq]:
                st["dups"] += 1
            seen[seq] = 1
        else:
            st["bad"] += 1
        st["n"] += 1
        now = time.monotonic()
        if st["first"] is None:
            st["first"] = now
        st["last"] = now
        if st["n"] >= count:
            done.set()
        while time.perf_counter() < t_end:
            pass

    await nc.subscribe(subject, cb=cb, pending_msgs_limit=0, pending_bytes_limit=0)
    # nats-py 2.16 flush() is not a barrier for queued commands: push the SUB
    # out first, then PING/PONG (see interop/nats/README.md).
    await asyncio.wait_for(nc._flush_pending(force_flush=True), 5)
    await nc.flush(timeout=5)
    out("READY")
    t_ready = time.monotonic()

    why = None
    while not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), 0.5)
        except asyncio.TimeoutError:
            pass
        now = time.monotonic()
        if now - t_start > timeout:
            why = f"TIMEOUT after {timeout:.0f}s"
            break
        if now - (st["last"] or t_ready) > idle:
            why = f"no message for {idle:.0f}s"
            break
    if why is None and st["n"] >= count:
        await asyncio.sleep(0.3)  # catch duplicates / extras
    closing = True
    end = st["last"] or time.monotonic()
    n = st["n"]
    el = (end - st["first"]) if st["first"] else 0.0
    out(f"INFO [{TAG}] {subject}: received {n} msgs in {el:.2f}s after the first "
        f"({n / el if el > 0 else 0:.0f} msg/s, work {work * 1e6:.0f} us/msg)"
        + (f"; stopped: {why}" if why else ""))
    missing = count - sum(seen)
    check(f"{subject}: all {count} messages received", n == count and why is None,
          f"got {n}" + (f" ({why})" if why else ""))
    check(f"{subject}: every sequence number seen exactly once", missing == 0 and st["dups"] == 0 and st["bad"] == 0,
          f"missing {missing}, duplicates {st['dups']}, malformed {st['bad']}")
    ev = "; ".join(f"{t:.2f}s {w}" for t, w in events[:5])
    check(f"{subject}: connection never disconnected/closed, no slow-consumer/async error",
          not events and nc.is_connected, ev or ("not connected at the end" if not nc.is_connected else "none"))
    try:
        await asyncio.wait_for(nc.close(), 5)
    except Exception:  # noqa: BLE001
        pass
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
