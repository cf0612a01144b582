#!/usr/bin/env python3
"""Fast nats-py publisher for the flow-control kit.

usage: flood_pub.py URL SUBJECT COUNT [--size 1024] [--flush-every 5000]
                    [--flush-timeout 60] [--progress]

Publishes COUNT messages of SIZE bytes to SUBJECT as fast as nats-py can,
with a flush() (PING/PONG round trip) every FLUSH_EVERY messages and one at
the end. Payload = 10-digit zero-padded sequence number (0-based) + filler,
so subscribers can check that every sequence number arrives exactly once.

A server that stalls fast producers (nats-server: per-message pauses of
100 ms..1 s while a consumer's pending output is above max_pending/2) shows
up here as slow flushes; the slowest flush is reported.

Output: with --progress, `START` just before the first publish and
`PROGRESS n t` after every flush; then an `INFO`
line with the rate and flush latencies, and one PASS/FAIL check line.
Exit status 0 on success, 1 on failure.
"""
import argparse
import asyncio
import sys
import time

import nats

TAG = "pub"


def out(line):
    print(line, flush=True)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("subject")
    ap.add_argument("count", type=int)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--flush-every", type=int, default=5000)
    ap.add_argument("--flush-timeout", type=float, default=60.0)
    ap.add_argument("--progress", action="store_true")
    a = ap.parse_args()

    events = []
    closing = False  # our own close() fires the callbacks too; ignore those

    async def error_cb(e):
        if not closing:
            events.append(f"error: {type(e).__name__}: {e}")

    async def disconnected_cb():
        if not closing:
            events.append("disconnected")

    async def closed_cb():
        if not closing:
            events.append("closed")

    name = f"flow-pub-{a.subject}"
    try:
        nc = await asyncio.wait_for(
            nats.connect(
                a.url,
                name=name,
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
        out(f"FAIL [{TAG}] {a.subject}: publisher connect -- {type(e).__name__}: {e}")
        return 1

    filler = b"x" * (a.size - 10)
    sent = 0
    flushes = []
    if a.progress:
        out("START")
    t0 = time.monotonic()
    err = None
    try:
        for seq in range(a.count):
            await nc.publish(a.subject, b"%010d" % seq + filler)
            sent += 1
            if sent % a.flush_every == 0 or sent == a.count:
                f0 = time.monotonic()
                await nc.flush(timeout=a.flush_timeout)
                flushes.append(time.monotonic() - f0)
                if a.progress:
                    out(f"PROGRESS {sent} {time.monotonic() - t0:.3f}")
    except Exception as e:  # noqa: BLE001
        err = f"{type(e).__name__}: {e}"
    el = time.monotonic() - t0
    closing = True
    try:
        await asyncio.wait_for(nc.close(), 5)
    except Exception:  # noqa: BLE001
        pass

    mb = sent * a.size / (1024 * 1024)
    fl = (f"flush latency max {max(flushes) * 1000:.0f} ms, mean {sum(flushes) / len(flushes) * 1000:.0f} ms "
          f"over {len(flushes)} flushes") if flushes else "no flush completed"
    out(f"INFO [{TAG}] {a.subject}: published {sent} msgs ({mb:.1f} MiB) in {el:.2f}s "
        f"({sent / el if el > 0 else 0:.0f} msg/s); {fl}")
    ok = err is None and sent == a.count and not events
    detail = f"{sent}/{a.count} published and flushed in {el:.2f}s"
    if err:
        detail += f"; stopped by {err}"
    if events:
        detail += f"; connection events: {', '.join(events[:5])}"
    out(f"{'PASS' if ok else 'FAIL'} [{TAG}] {a.subject}: publisher sent all {a.count} messages without error -- {detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
