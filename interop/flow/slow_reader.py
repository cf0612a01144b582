#!/usr/bin/env python3
"""Driver for the slow-reader scenarios (py, node, c) of the flow-control kit.

usage: slow_reader.py URL LABEL SUBJECT COUNT -- SUBSCRIBER_CMD...

Starts SUBSCRIBER_CMD URL SUBJECT COUNT (one of slow_sub.py / slow_sub.mjs /
flow_slow_sub), waits for its `READY` line (subscription in place and
flushed), then starts the nats-py publisher flood_pub.py URL SUBJECT COUNT
and waits for both. Relays their INFO/PASS/FAIL lines, adds FAIL lines for a
subscriber that never got ready, crashed without reporting, or outlived the
time bound (env FLOW_TIMEOUT, default 110 s, +15 s grace here), and reports
when the publisher and subscriber finished relative to the publisher's start
(a publisher that finishes much later than it does unthrottled was stalled
by the server). Exit 1 if anything failed.
"""
import asyncio
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
failures = 0


def out(line):
    global failures
    if line.startswith("FAIL "):
        failures += 1
    print(line, flush=True)


async def pump(proc, ready=None):
    """Relay a child's output lines; set `ready` on READY."""
    async for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip("\n")
        if line == "READY":
            if ready is not None:
                ready.set()
            continue
        out(line)


async def kill(proc):
    if proc.returncode is None:
        proc.kill()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except asyncio.TimeoutError:
            pass


async def main():
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") != 4 or len(argv) < 6:
        print(__doc__, file=sys.stderr)
        return 64
    url, label, subject, count = argv[0], argv[1], argv[2], argv[3]
    sub_cmd = argv[5:]
    bound = float(os.environ.get("FLOW_TIMEOUT", "110")) + 15

    t_start = time.monotonic()
    sub = await asyncio.create_subprocess_exec(
        *sub_cmd, url, subject, count, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    ready = asyncio.Event()
    sub_pump = asyncio.create_task(pump(sub, ready))
    sub_wait = asyncio.create_task(sub.wait())
    ready_wait = asyncio.create_task(ready.wait())
    await asyncio.wait({ready_wait, sub_wait}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        ready_wait.cancel()
        await kill(sub)
        await asyncio.wait_for(sub_pump, 5)
        out(f"FAIL [{label}] {subject}: subscriber ready (subscribed + flushed) within 15s -- "
            f"{'exited rc=' + str(sub.returncode) if sub_wait.done() else 'no READY line'}")
        return 1

    t_pub = time.monotonic()
    pub = await asyncio.create_subprocess_exec(
        sys.executable, os.path.join(HERE, "flood_pub.py"), url, subject, count,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    pub_pump = asyncio.create_task(pump(pub))
    pub_wait = asyncio.create_task(pub.wait())
    pub_done_at = None
    sub_done_at = None
    deadline = t_start + bound
    while not (pub_wait.done() and sub_wait.done()):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        pending = [t for t in (pub_wait, sub_wait) if not t.done()]
        await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        if pub_wait.done() and pub_done_at is None:
            pub_done_at = time.monotonic() - t_pub
        if sub_wait.done() and sub_done_at is None:
            sub_done_at = time.monotonic() - t_pub
        if sub_wait.done() and not pub_wait.done():
            # the subscriber gave up (or failed); do not wait long for the publisher
            deadline = min(deadline, time.monotonic() + 10)
    timed_out = [n for n, p in (("publisher", pub), ("subscriber", sub)) if p.returncode is None]
    for p in (pub, sub):
        await kill(p)
    for t in (pub_pump, sub_pump):
        try:
            await asyncio.wait_for(t, 5)
        except asyncio.TimeoutError:
            pass
    if timed_out:
        out(f"FAIL [{label}] {subject}: finished within {bound:.0f}s -- TIMEOUT, killed: {', '.join(timed_out)}")
    for name, p, tag in (("subscriber", sub, label), ("publisher", pub, "pub")):
        if p.returncode not in (0, None, -9) and failures == 0:
            out(f"FAIL [{tag}] {subject}: {name} exited rc={p.returncode} without reporting a failed check")
    fmt = lambda t: f"{t:.2f}s" if t is not None else "n/a"  # noqa: E731
    out(f"INFO [{label}] {subject}: after the publisher started: publisher done at {fmt(pub_done_at)}, "
        f"subscriber done at {fmt(sub_done_at)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
