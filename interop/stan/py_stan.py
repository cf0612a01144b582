#!/usr/bin/env python3
"""NATS Streaming (STAN) interop scenario using the official Python client
asyncio-nats-streaming 0.4.0 (on asyncio-nats-client 0.11.5).

usage: py_stan.py NATS_URL CLUSTER_ID PREFIX
  NATS_URL    e.g. nats://127.0.0.1:4222
  CLUSTER_ID  e.g. test-cluster
  PREFIX      unique run prefix, [A-Za-z0-9_-]+ (e.g. py-embedded); used for
              client IDs (<prefix>-a, ...) and channels (<prefix>.start, ...)

Prints one line per check: "ok <name>" or "FAIL <name>: <details>" and exits
1 if any check failed (2 on the global watchdog). Every wait is bounded.

Run with the venv interpreter (.venv/stan/bin/python). py311_shim is imported
first: these libraries pass loop= to asyncio APIs removed in Python 3.10.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import py311_shim  # noqa: E402,F401  (must precede nats/stan imports)

import asyncio  # noqa: E402
import time  # noqa: E402

from nats.aio.client import Client as NATS  # noqa: E402
from stan.aio.client import Client as STAN  # noqa: E402

TIMEOUT = 5.0  # per wait (seconds)
GRACE = 0.5  # extra wait to catch unexpected extra deliveries
WATCHDOG = 55  # whole scenario (seconds)
HOUR_NS = 3600 * 10**9
ERR_DUP = "stan: clientID already registered"
ERR_BADID = "stan: invalid clientID: only alphanumeric and `-` or `_` characters allowed"

failures = 0
passes = 0


def check(name, ok, detail=""):
    global failures, passes
    if ok:
        passes += 1
        print(f"ok {name}" + (f" ({detail})" if detail else ""), flush=True)
    else:
        failures += 1
        print(f"FAIL {name}: {detail}", flush=True)
    return ok


def fmt_exc(e):
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


class Collector:
    """Subscription callback that records messages and lets us wait for N."""

    def __init__(self, sc=None, manual=False, ack=False):
        self.msgs = []
        self.sc = sc
        self.ack = ack  # manual-ack every message on receipt
        self.cond = asyncio.Condition()

    async def cb(self, msg):
        self.msgs.append(msg)
        if self.ack and self.sc is not None:
            await self.sc.ack(msg)
        async with self.cond:
            self.cond.notify_all()

    async def wait_count(self, n, timeout=TIMEOUT):
        async def _w():
            async with self.cond:
                await self.cond.wait_for(lambda: len(self.msgs) >= n)
        try:
            await asyncio.wait_for(_w(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def seqs(self):
        return [m.proto.sequence for m in self.msgs]


def msg_problems(msgs, channel, exp_seqs, exp_data=None, redelivered=False):
    """Return a list of problems comparing delivered messages to expectations."""
    probs = []
    seqs = [m.proto.sequence for m in msgs]
    if seqs != list(exp_seqs):
        probs.append(f"sequences {seqs} != expected {list(exp_seqs)}")
    if exp_data is not None:
        data = [m.proto.data for m in msgs]
        want = [d.encode() for d in exp_data]
        if data != want:
            probs.append(f"payloads {data} != expected {want}")
    now_ns = time.time_ns()
    prev_ts = None
    for m in msgs:
        p = m.proto
        if p.subject != channel:
            probs.append(f"seq {p.sequence}: subject {p.subject!r} != {channel!r}")
        if p.timestamp <= 0:
            probs.append(f"seq {p.sequence}: timestamp {p.timestamp} not > 0")
        elif abs(p.timestamp - now_ns) > HOUR_NS:
            probs.append(f"seq {p.sequence}: timestamp {p.timestamp} is not Unix ns within 1h of now ({now_ns})")
        if prev_ts is not None and p.timestamp < prev_ts:
            probs.append(f"seq {p.sequence}: timestamp {p.timestamp} < previous {prev_ts}")
        prev_ts = p.timestamp
        if bool(p.redelivered) != redelivered:
            probs.append(f"seq {p.sequence}: redelivered={p.redelivered}, expected {redelivered}")
    return probs


class Runner:
    def __init__(self, url, cluster, prefix):
        self.url = url
        self.cluster = cluster
        self.prefix = prefix
        self.conns = []  # (nc, sc) for cleanup

    def ch(self, s):
        return f"{self.prefix}.{s}"

    def cid(self, s):
        return f"{self.prefix}-{s}"

    async def connect(self, client_id, track=True):
        nc = NATS()

        async def err_cb(e):
            pass

        await asyncio.wait_for(
            nc.connect(servers=[self.url], io_loop=asyncio.get_running_loop(),
                       connect_timeout=TIMEOUT, allow_reconnect=False,
                       error_cb=err_cb, name=client_id),
            TIMEOUT)
        sc = STAN()
        try:
            await asyncio.wait_for(
                sc.connect(self.cluster, client_id, nats=nc, connect_timeout=TIMEOUT),
                TIMEOUT + 1)
        except BaseException:
            try:
                await asyncio.wait_for(nc.close(), TIMEOUT)
            except Exception:
                pass
            raise
        if track:
            self.conns.append((nc, sc))
        return nc, sc

    async def close(self, nc, sc):
        """Close STAN then NATS; returns an error string or ''."""
        err = ""
        try:
            await asyncio.wait_for(sc.close(), TIMEOUT)
        except Exception as e:  # noqa: BLE001
            err = fmt_exc(e)
        try:
            await asyncio.wait_for(nc.close(), TIMEOUT)
        except Exception as e:  # noqa: BLE001
            err = err or f"nats close: {fmt_exc(e)}"
        self.conns = [(n, s) for (n, s) in self.conns if s is not sc]
        return err

    async def sub(self, sc, channel, coll, **kw):
        return await asyncio.wait_for(sc.subscribe(channel, cb=coll.cb, **kw), TIMEOUT + 1)

    async def unsub(self, sub, close=False):
        """Unsubscribe (or close) a subscription; returns error string or ''."""
        try:
            await asyncio.wait_for(sub.close() if close else sub.unsubscribe(), TIMEOUT + 1)
            return ""
        except Exception as e:  # noqa: BLE001
            return ("close: " if close else "unsubscribe: ") + fmt_exc(e)

    async def publish_sync(self, sc, channel, payloads):
        """Synchronous publishes; returns list of problems."""
        probs = []
        for p in payloads:
            try:
                ack = await asyncio.wait_for(sc.publish(channel, p.encode(), ack_wait=TIMEOUT),
                                             TIMEOUT + 1)
                if ack.error:
                    probs.append(f"publish {p!r}: ack error {ack.error!r}")
            except Exception as e:  # noqa: BLE001
                probs.append(f"publish {p!r}: {fmt_exc(e)}")
        return probs

    # ------------------------------------------------------------ scenarios

    async def s_connect_publish(self):
        try:
            self.a_nc, self.a_sc = await self.connect(self.cid("a"))
            check("connect", True)
        except Exception as e:  # noqa: BLE001
            check("connect", False, f"client {self.cid('a')}: {fmt_exc(e)}")
            return False
        probs = await self.publish_sync(self.a_sc, self.ch("start"), [f"m{i}" for i in range(1, 6)])
        check("publish_sync", not probs, "; ".join(probs))
        return True

    async def start_case(self, name, exp, **kw):
        ch = self.ch("start")
        coll = Collector()
        try:
            sub = await self.sub(self.a_sc, ch, coll, **kw)
        except Exception as e:  # noqa: BLE001
            check(name, False, f"subscribe: {fmt_exc(e)}")
            return
        await coll.wait_count(len(exp))
        await asyncio.sleep(GRACE)
        probs = msg_problems(coll.msgs, ch, exp, [f"m{i}" for i in exp])
        uerr = await self.unsub(sub)
        if uerr:
            probs.append(uerr)
        check(name, not probs, "; ".join(probs))

    async def s_start_positions(self):
        ch = self.ch("start")
        await self.start_case("start_deliver_all", [1, 2, 3, 4, 5], deliver_all_available=True)
        await self.start_case("start_at_sequence", [3, 4, 5], start_at="sequence", sequence=3)
        await self.start_case("start_last_received", [5], start_at="last_received")
        await self.start_case("start_time_delta", [1, 2, 3, 4, 5], start_at="time",
                              time=time.time() - 3600)
        # new only (the default): nothing of the stored ones, then m6 -> seq 6.
        coll = Collector()
        try:
            sub = await self.sub(self.a_sc, ch, coll)
        except Exception as e:  # noqa: BLE001
            check("start_new_only", False, f"subscribe: {fmt_exc(e)}")
            return
        await asyncio.sleep(GRACE)
        probs = []
        if coll.msgs:
            probs.append(f"received stored messages {coll.seqs()} before publishing m6")
        probs += await self.publish_sync(self.a_sc, ch, ["m6"])
        await coll.wait_count(len(coll.msgs) + 1 if coll.msgs else 1)
        await asyncio.sleep(GRACE)
        if not probs:
            probs = msg_problems(coll.msgs, ch, [6], ["m6"])
        uerr = await self.unsub(sub)
        if uerr:
            probs.append(uerr)
        check("start_new_only", not probs, "; ".join(probs))

    async def s_start_at_time(self):
        # a1,a2 ... 1.5 s ... T ... 1.5 s ... b1,b2 ; start at T -> b1,b2 (seqs 3,4).
        ch = self.ch("time")
        probs = await self.publish_sync(self.a_sc, ch, ["a1", "a2"])
        await asyncio.sleep(1.5)
        t = time.time()
        await asyncio.sleep(1.5)
        probs += await self.publish_sync(self.a_sc, ch, ["b1", "b2"])
        if probs:
            check("start_at_time", False, "; ".join(probs))
            return
        coll = Collector()
        try:
            sub = await self.sub(self.a_sc, ch, coll, start_at="time", time=t)
        except Exception as e:  # noqa: BLE001
            check("start_at_time", False, f"subscribe: {fmt_exc(e)}")
            return
        await coll.wait_count(2)
        await asyncio.sleep(GRACE)
        probs = msg_problems(coll.msgs, ch, [3, 4], ["b1", "b2"])
        uerr = await self.unsub(sub)
        if uerr:
            probs.append(uerr)
        check("start_at_time", not probs, "; ".join(probs))

    async def s_async_publish(self):
        ch = self.ch("async")
        n = 100
        acks = []
        done = asyncio.Event()

        async def ack_handler(ack):
            acks.append(ack)
            if len(acks) >= n:
                done.set()

        probs = []
        try:
            for i in range(1, n + 1):
                await asyncio.wait_for(
                    self.a_sc.publish(ch, f"a{i}".encode(), ack_handler=ack_handler), TIMEOUT)
        except Exception as e:  # noqa: BLE001
            probs.append(f"publish: {fmt_exc(e)}")
        try:
            await asyncio.wait_for(done.wait(), TIMEOUT)
        except asyncio.TimeoutError:
            probs.append(f"only {len(acks)}/{n} acks within {TIMEOUT}s")
        errs = [a.error for a in acks if a.error]
        if errs:
            probs.append(f"{len(errs)} acks with error, first {errs[0]!r}")
        guids = {a.guid for a in acks}
        if len(guids) != len(acks):
            probs.append(f"duplicate ack guids ({len(acks)} acks, {len(guids)} distinct)")
        check("async_publish", not probs, "; ".join(probs))

        coll = Collector()
        try:
            sub = await self.sub(self.a_sc, ch, coll, deliver_all_available=True)
        except Exception as e:  # noqa: BLE001
            check("async_deliver_all", False, f"subscribe: {fmt_exc(e)}")
            return
        await coll.wait_count(n)
        await asyncio.sleep(GRACE)
        probs = msg_problems(coll.msgs, ch, range(1, n + 1), [f"a{i}" for i in range(1, n + 1)])
        uerr = await self.unsub(sub)
        if uerr:
            probs.append(uerr)
        check("async_deliver_all", not probs, "; ".join(probs)[:600])

    async def s_redelivery(self):
        ch = self.ch("redeliver")
        coll = Collector()
        try:
            sub = await self.sub(self.a_sc, ch, coll, deliver_all_available=True,
                                 manual_acks=True, ack_wait=1)
        except Exception as e:  # noqa: BLE001
            check("redeliver_first", False, f"subscribe: {fmt_exc(e)}")
            return
        probs = await self.publish_sync(self.a_sc, ch, ["r1"])
        if not await coll.wait_count(1):
            probs.append("no delivery")
        if not probs:
            probs = msg_problems(coll.msgs[:1], ch, [1], ["r1"], redelivered=False)
        check("redeliver_first", not probs, "; ".join(probs))
        t0 = time.monotonic()
        ok = await coll.wait_count(2, timeout=3.0)
        el = time.monotonic() - t0
        if not ok:
            check("redeliver_again", False, "no redelivery within 3s (ack wait 1s, message not acked)")
        else:
            probs = msg_problems(coll.msgs[1:2], ch, [1], ["r1"], redelivered=True)
            check("redeliver_again", not probs, "; ".join(probs) or f"after {el:.2f}s")
            try:
                await self.a_sc.ack(coll.msgs[1])
            except Exception as e:  # noqa: BLE001
                check("redeliver_ack", False, fmt_exc(e))
        # After the ack: nothing more in the next 1.5 s.
        n = len(coll.msgs)
        await asyncio.sleep(1.5)
        extra = coll.msgs[n:]
        probs = []
        if ok and extra:
            probs.append("redelivered after ack: " + ", ".join(
                f"seq {m.proto.sequence} redelivered={m.proto.redelivered}" for m in extra))
        uerr = await self.unsub(sub)
        if uerr:
            probs.append(uerr)
        if ok or uerr:
            check("redeliver_stops_after_ack", not probs, "; ".join(probs))

    async def s_queue(self):
        ch = self.ch("queue")
        probs = []
        members = []
        try:
            for name in ("q1", "q2"):
                nc, sc = await self.connect(self.cid(name))
                coll = Collector()
                sub = await self.sub(sc, ch, coll, queue="grp")
                members.append((nc, sc, coll, sub))
        except Exception as e:  # noqa: BLE001
            check("queue_group", False, f"setup: {fmt_exc(e)}")
            for nc, sc, _, _ in members:
                await self.close(nc, sc)
            return
        n = 20
        probs += await self.publish_sync(self.a_sc, ch, [f"q{i}" for i in range(1, n + 1)])
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and sum(len(c.msgs) for _, _, c, _ in members) < n:
            await asyncio.sleep(0.05)
        await asyncio.sleep(GRACE)
        got = [c.seqs() for _, _, c, _ in members]
        allseqs = sorted(got[0] + got[1])
        if allseqs != list(range(1, n + 1)):
            dups = sorted({s for s in allseqs if allseqs.count(s) > 1})
            missing = sorted(set(range(1, n + 1)) - set(allseqs))
            probs.append(f"union {allseqs} != 1..{n} (duplicates {dups}, missing {missing})")
        for _, _, c, _ in members:
            for m in c.msgs:
                if m.proto.subject != ch or m.proto.data != f"q{m.proto.sequence}".encode():
                    probs.append(f"seq {m.proto.sequence}: subject {m.proto.subject!r} data {m.proto.data!r}")
        for nc, sc, _, sub in members:
            uerr = await self.unsub(sub)
            if uerr:
                probs.append(uerr)
            cerr = await self.close(nc, sc)
            if cerr:
                probs.append(f"close: {cerr}")
        check("queue_group", not probs,
              "; ".join(probs) or f"split {len(got[0])}/{len(got[1])}")

    async def s_durable(self):
        ch = self.ch("durable")
        kw = dict(durable_name="dur1", deliver_all_available=True, manual_acks=True)
        try:
            dnc, dsc = await self.connect(self.cid("dur"))
            coll = Collector(dsc, ack=True)
            sub = await self.sub(dsc, ch, coll, **kw)
        except Exception as e:  # noqa: BLE001
            check("durable_first", False, f"setup: {fmt_exc(e)}")
            return
        probs = await self.publish_sync(self.a_sc, ch, ["d1", "d2", "d3"])
        await coll.wait_count(3)
        await asyncio.sleep(GRACE)
        probs += msg_problems(coll.msgs, ch, [1, 2, 3], ["d1", "d2", "d3"])
        cerr = await self.unsub(sub, close=True)
        if cerr:
            probs.append(cerr)
        check("durable_first", not probs, "; ".join(probs))

        probs = await self.publish_sync(self.a_sc, ch, ["d4", "d5"])
        coll = Collector(dsc, ack=True)
        try:
            sub = await self.sub(dsc, ch, coll, **kw)
        except Exception as e:  # noqa: BLE001
            check("durable_resume", False, f"resubscribe: {fmt_exc(e)}")
            await self.close(dnc, dsc)
            return
        await coll.wait_count(2)
        await asyncio.sleep(GRACE)
        probs += msg_problems(coll.msgs, ch, [4, 5], ["d4", "d5"])
        uerr = await self.unsub(sub)  # unsubscribe deletes the durable
        if uerr:
            probs.append(uerr)
        check("durable_resume", not probs, "; ".join(probs))

        coll = Collector(dsc, ack=True)
        try:
            sub = await self.sub(dsc, ch, coll, **kw)
        except Exception as e:  # noqa: BLE001
            check("durable_after_unsubscribe", False, f"resubscribe: {fmt_exc(e)}")
            await self.close(dnc, dsc)
            return
        await coll.wait_count(5)
        await asyncio.sleep(GRACE)
        probs = msg_problems(coll.msgs, ch, [1, 2, 3, 4, 5], ["d1", "d2", "d3", "d4", "d5"])
        uerr = await self.unsub(sub)
        if uerr:
            probs.append(uerr)
        cerr = await self.close(dnc, dsc)
        if cerr:
            probs.append(f"close {self.cid('dur')}: {cerr}")
        check("durable_after_unsubscribe", not probs, "; ".join(probs))

    async def s_durable_queue(self):
        ch = self.ch("dqueue")
        kw = dict(queue="g", durable_name="dq", deliver_all_available=True, manual_acks=True)
        try:
            qnc, qsc = await self.connect(self.cid("dq"))
            coll = Collector(qsc, ack=True)
            sub = await self.sub(qsc, ch, coll, **kw)
        except Exception as e:  # noqa: BLE001
            check("durable_queue_first", False, f"setup: {fmt_exc(e)}")
            return
        probs = await self.publish_sync(self.a_sc, ch, ["e1", "e2"])
        await coll.wait_count(2)
        await asyncio.sleep(GRACE)
        probs += msg_problems(coll.msgs, ch, [1, 2], ["e1", "e2"])
        cerr = await self.unsub(sub, close=True)
        if cerr:
            probs.append(cerr)
        check("durable_queue_first", not probs, "; ".join(probs))

        probs = await self.publish_sync(self.a_sc, ch, ["e3", "e4"])
        coll = Collector(qsc, ack=True)
        try:
            sub = await self.sub(qsc, ch, coll, **kw)
        except Exception as e:  # noqa: BLE001
            check("durable_queue_resume", False, f"resubscribe: {fmt_exc(e)}")
            await self.close(qnc, qsc)
            return
        await coll.wait_count(2)
        await asyncio.sleep(GRACE)
        probs += msg_problems(coll.msgs, ch, [3, 4], ["e3", "e4"])
        uerr = await self.unsub(sub)
        if uerr:
            probs.append(uerr)
        cerr = await self.close(qnc, qsc)
        if cerr:
            probs.append(f"close {self.cid('dq')}: {cerr}")
        check("durable_queue_resume", not probs, "; ".join(probs))

    async def s_errors(self):
        # Same client ID as the live connection <prefix>-a.
        try:
            nc, sc = await self.connect(self.cid("a"), track=False)
            check("error_duplicate_client_id", False, "second connect with a live client ID succeeded")
            await self.close(nc, sc)
        except Exception as e:  # noqa: BLE001
            msg = str(e)
            ok = ERR_DUP in msg
            check("error_duplicate_client_id", ok, f"got {msg!r}" if ok else
                  f"error {fmt_exc(e)!r} does not contain {ERR_DUP!r}")
        # The original connection must still work.
        probs = await self.publish_sync(self.a_sc, self.ch("after-dup"), ["x"])
        check("duplicate_keeps_original", not probs, "; ".join(probs))

        try:
            nc, sc = await self.connect("bad id!", track=False)
            check("error_invalid_client_id", False, "connect with client ID 'bad id!' succeeded")
            await self.close(nc, sc)
        except Exception as e:  # noqa: BLE001
            msg = str(e)
            ok = ERR_BADID in msg
            check("error_invalid_client_id", ok, f"got {msg!r}" if ok else
                  f"error {fmt_exc(e)!r} does not contain {ERR_BADID!r}")

    async def s_close(self):
        err = await self.close(self.a_nc, self.a_sc)
        check("close", not err, err)

    async def run(self):
        if not await self.s_connect_publish():
            return
        await self.s_start_positions()
        await self.s_start_at_time()
        await self.s_async_publish()
        await self.s_redelivery()
        await self.s_queue()
        await self.s_durable()
        await self.s_durable_queue()
        await self.s_errors()
        await self.s_close()

    async def cleanup(self):
        for nc, sc in list(self.conns):
            try:
                await asyncio.wait_for(nc.close(), 2)
            except Exception:  # noqa: BLE001
                pass


async def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 64
    r = Runner(argv[1], argv[2], argv[3])
    try:
        await asyncio.wait_for(r.run(), WATCHDOG)
    except asyncio.TimeoutError:
        check("watchdog", False, f"scenario exceeded {WATCHDOG}s")
        await r.cleanup()
        return 2
    except Exception as e:  # noqa: BLE001
        check("unexpected_exception", False, fmt_exc(e))
    await r.cleanup()
    print(f"# py: {passes} ok, {failures} failed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv)))
