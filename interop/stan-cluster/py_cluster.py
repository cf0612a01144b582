#!/usr/bin/env python3
"""NATS Streaming over a NATS cluster, with the official Python client
asyncio-nats-streaming 0.4.0 (on asyncio-nats-client 0.11.5).

usage: py_cluster.py basic    CLUSTER_ID PREFIX LIST [LIST...]
       py_cluster.py failover CLUSTER_ID PREFIX LIST KILL_PID MONITOR_URL
  LIST      comma-separated server URLs of one client position, tried in
            order (dont_randomize)
  basic     for each position i: a publisher through LIST[i], a subscriber
            through LIST[(i+1) % n]; acked publishes, plain, durable and queue
            subscriptions, async publishes
  failover  one client through LIST (first URL: the node to kill); during a
            burst of async publishes, SIGKILL KILL_PID, expect a reconnect to
            the second URL, acked publishes after it, every acked message
            received by both subscriptions, and
            the client still in MONITOR_URL/streaming/clientsz after several
            heartbeat and ping intervals

Prints "ok <name>" / "FAIL <name>: <details>" per check; exit 1 if any check
failed, 2 on the watchdog. Every wait is bounded. Run with .venv/stan/bin/python;
py311_shim (interop/stan) is imported first.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stan"))
import py311_shim  # noqa: E402,F401  (must precede nats/stan imports)

import asyncio  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402

from nats.aio.client import Client as NATS  # noqa: E402
from stan.aio.client import Client as STAN  # noqa: E402

TIMEOUT = 5.0  # per wait (seconds)
GRACE = 0.3  # extra wait to catch unexpected extra deliveries
WATCHDOG = 50  # whole program (seconds)
HB_WAIT = 6.0  # failover: time to let server heartbeats and client pings run
PING_INTERVAL = 1  # client pings (seconds)
PING_MAX_OUT = 3

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


def url_port(u):
    return urllib.parse.urlparse(u).port


def connected_port(nc):
    u = nc.connected_url
    return u.port if u is not None else -1


class Collector:
    """Subscription callback recording messages; acks each one when `ack`."""

    def __init__(self, sc=None, ack=False):
        self.msgs = []
        self.sc = sc
        self.ack = ack
        self.cond = asyncio.Condition()

    async def cb(self, msg):
        self.msgs.append(msg)
        if self.ack:
            await self.sc.ack(msg)
        async with self.cond:
            self.cond.notify_all()

    async def wait_for(self, pred, timeout=TIMEOUT):
        async def _w():
            async with self.cond:
                await self.cond.wait_for(pred)
        try:
            await asyncio.wait_for(_w(), timeout)
            return True
        except asyncio.TimeoutError:
            return pred()

    async def wait_count(self, n, timeout=TIMEOUT):
        return await self.wait_for(lambda: len(self.msgs) >= n, timeout)

    def seqs(self):
        return [m.proto.sequence for m in self.msgs]

    def has(self, seqs):
        return lambda: set(seqs) <= set(self.seqs())


def exact_problems(msgs, channel, exp_seqs, data):
    probs = []
    seqs = [m.proto.sequence for m in msgs]
    if seqs != list(exp_seqs):
        probs.append(f"sequences {seqs} != expected {list(exp_seqs)}")
    for m in msgs:
        p = m.proto
        if p.subject != channel:
            probs.append(f"seq {p.sequence}: subject {p.subject!r} != {channel!r}")
        if p.data != data(p.sequence).encode():
            probs.append(f"seq {p.sequence}: payload {p.data!r} != {data(p.sequence)!r}")
    return probs


class Runner:
    def __init__(self, cluster, prefix):
        self.cluster = cluster
        self.prefix = prefix
        self.conns = []  # (nc, sc) for cleanup
        self.events = []  # failover: NATS / STAN connection events

    async def connect(self, client_id, urls, events=None):
        nc = NATS()
        loop = asyncio.get_running_loop()

        async def err_cb(e):
            if events is not None:
                events.append(("error", fmt_exc(e), time.time()))

        async def disc_cb():
            if events is not None:
                events.append(("disconnect", None, time.time()))

        async def recon_cb():
            if events is not None:
                events.append(("reconnect", connected_port(nc), time.time()))

        async def lost_cb(e):
            if events is not None:
                events.append(("connection_lost", fmt_exc(e), time.time()))

        await asyncio.wait_for(
            nc.connect(servers=urls, io_loop=loop, connect_timeout=TIMEOUT, dont_randomize=True,
                       allow_reconnect=True, max_reconnect_attempts=60, reconnect_time_wait=0.25,
                       error_cb=err_cb, disconnected_cb=disc_cb, reconnected_cb=recon_cb,
                       name=client_id),
            TIMEOUT + 1)
        sc = STAN()
        try:
            await asyncio.wait_for(
                sc.connect(self.cluster, client_id, nats=nc, connect_timeout=TIMEOUT,
                           ping_interval=PING_INTERVAL, ping_max_out=PING_MAX_OUT,
                           conn_lost_cb=lost_cb),
                TIMEOUT + 1)
        except BaseException:
            try:
                await asyncio.wait_for(nc.close(), TIMEOUT)
            except Exception:  # noqa: BLE001
                pass
            raise
        self.conns.append((nc, sc))
        return nc, sc

    async def close(self, nc, sc):
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
        try:
            await asyncio.wait_for(sub.close() if close else sub.unsubscribe(), TIMEOUT + 1)
            return ""
        except Exception as e:  # noqa: BLE001
            return ("close: " if close else "unsubscribe: ") + fmt_exc(e)

    async def publish_sync(self, sc, channel, payloads):
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

    # ------------------------------------------------------------ basic

    async def basic_position(self, lists, i):
        n = len(lists)
        pub_urls, sub_urls = lists[i], lists[(i + 1) % n]
        tag = f"p{i}"

        def name(s):
            return f"{tag}.{s}"

        try:
            pnc, psc = await self.connect(f"{self.prefix}-{tag}-pub", pub_urls)
            snc, ssc = await self.connect(f"{self.prefix}-{tag}-sub", sub_urls)
        except Exception as e:  # noqa: BLE001
            check(name("connect"), False, fmt_exc(e))
            return
        pp, sp = connected_port(pnc), connected_port(snc)
        check(name("connect"), pp == url_port(pub_urls[0]) and sp == url_port(sub_urls[0]),
              f"publisher on :{pp} (want :{url_port(pub_urls[0])}), "
              f"subscriber on :{sp} (want :{url_port(sub_urls[0])})")

        ch = f"{self.prefix}.{tag}"

        def data(s):
            return f"{tag}-m{s}"

        try:
            coll = Collector()
            sub = await self.sub(ssc, ch, coll)
            probs = await self.publish_sync(psc, ch, [data(s) for s in range(1, 6)])
            check(name("publish_acked"), not probs, "; ".join(probs))
            await coll.wait_count(5)
            await asyncio.sleep(GRACE)
            probs = exact_problems(coll.msgs, ch, range(1, 6), data)
            u = await self.unsub(sub)
            if u:
                probs.append(u)
            check(name("plain_sub"), not probs, "; ".join(probs))
        except Exception as e:  # noqa: BLE001
            check(name("plain_sub"), False, fmt_exc(e))

        kw = dict(durable_name="dur", deliver_all_available=True, manual_acks=True, ack_wait=2)
        try:
            coll = Collector(ssc, ack=True)
            sub = await self.sub(ssc, ch, coll, **kw)
            await coll.wait_count(5)
            await asyncio.sleep(GRACE)
            probs = exact_problems(coll.msgs, ch, range(1, 6), data)
            u = await self.unsub(sub, close=True)
            if u:
                probs.append(u)
            probs += await self.publish_sync(psc, ch, [data(s) for s in range(6, 9)])
            coll = Collector(ssc, ack=True)
            sub = await self.sub(ssc, ch, coll, **kw)
            await coll.wait_count(3)
            await asyncio.sleep(GRACE)
            probs += exact_problems(coll.msgs, ch, range(6, 9), data)
            u = await self.unsub(sub)
            if u:
                probs.append(u)
            check(name("durable_sub"), not probs, "; ".join(probs))
        except Exception as e:  # noqa: BLE001
            check(name("durable_sub"), False, fmt_exc(e))

        qch = f"{self.prefix}.{tag}q"

        def qdata(s):
            return f"{tag}-q{s}"

        try:
            c1, c2 = Collector(), Collector()
            s1 = await self.sub(ssc, qch, c1, queue="grp")
            s2 = await self.sub(psc, qch, c2, queue="grp")
            probs = await self.publish_sync(psc, qch, [qdata(s) for s in range(1, 11)])
            deadline = time.time() + TIMEOUT
            while time.time() < deadline and len(c1.msgs) + len(c2.msgs) < 10:
                await asyncio.sleep(0.05)
            await asyncio.sleep(GRACE)
            union = sorted(c1.seqs() + c2.seqs())
            if union != list(range(1, 11)):
                probs.append(f"union {union} != 1..10")
            for m in c1.msgs + c2.msgs:
                if m.proto.data != qdata(m.proto.sequence).encode():
                    probs.append(f"seq {m.proto.sequence}: bad payload {m.proto.data!r}")
            for s in (s1, s2):
                u = await self.unsub(s)
                if u:
                    probs.append(u)
            check(name("queue_sub"), not probs,
                  "; ".join(probs) or f"split {len(c1.msgs)}/{len(c2.msgs)}")
        except Exception as e:  # noqa: BLE001
            check(name("queue_sub"), False, fmt_exc(e))

        ach = f"{self.prefix}.{tag}a"

        def adata(s):
            return f"{tag}-a{s}"

        try:
            probs = []
            acked = []
            all_acked = asyncio.Event()

            async def ack_cb(ack):
                acked.append(ack)
                if ack.error:
                    probs.append(f"ack error {ack.error!r}")
                if len(acked) == 20:
                    all_acked.set()

            for s in range(1, 21):
                await psc.publish(ach, adata(s).encode(), ack_handler=ack_cb)
            try:
                await asyncio.wait_for(all_acked.wait(), TIMEOUT)
            except asyncio.TimeoutError:
                probs.append(f"only {len(acked)}/20 acks")
            c = Collector()
            s = await self.sub(ssc, ach, c, deliver_all_available=True)
            await c.wait_count(20)
            await asyncio.sleep(GRACE)
            probs += exact_problems(c.msgs, ach, range(1, 21), adata)
            u = await self.unsub(s)
            if u:
                probs.append(u)
            check(name("async_publish"), not probs, "; ".join(probs)[:600])
        except Exception as e:  # noqa: BLE001
            check(name("async_publish"), False, fmt_exc(e))

        e1 = await self.close(snc, ssc)
        e2 = await self.close(pnc, psc)
        check(name("close"), not e1 and not e2, "; ".join(x for x in (e1, e2) if x))

    async def basic(self, lists):
        for i in range(len(lists)):
            await self.basic_position(lists, i)

    # ------------------------------------------------------------ failover

    async def failover(self, urls, kill_pid, monitor_url):
        client_id = f"{self.prefix}-fo"
        events = self.events
        try:
            nc, sc = await self.connect(client_id, urls, events)
        except Exception as e:  # noqa: BLE001
            check("connect", False, fmt_exc(e))
            return
        before = connected_port(nc)
        if not check("connect", before == url_port(urls[0]),
                     f"connected to :{before}, want :{url_port(urls[0])} (the node to kill)"):
            return
        ch = f"{self.prefix}.fo"

        def data(s):
            return f"fo-{s}"

        def payloads(c):
            return {m.proto.data.decode() for m in c.msgs}

        def has_all(c, want):
            return lambda: set(want) <= payloads(c)

        plain = Collector()
        dur = Collector(sc, ack=True)
        try:
            await self.sub(sc, ch, plain, deliver_all_available=True, ack_wait=2)
            await self.sub(sc, ch, dur, durable_name="fodur", deliver_all_available=True,
                           manual_acks=True, ack_wait=2)
        except Exception as e:  # noqa: BLE001
            check("subscribe", False, fmt_exc(e))
            return
        first = [data(s) for s in range(1, 6)]
        probs = await self.publish_sync(sc, ch, first)
        await plain.wait_for(has_all(plain, first))
        await dur.wait_for(has_all(dur, first))
        probs += exact_problems(plain.msgs, ch, range(1, 6), data)
        check("before_failover", not probs, "; ".join(probs))
        await self.check_listed("clientsz_before", monitor_url, client_id, True)

        # A burst of async publishes (every 10 ms) across the kill of the
        # node the client is connected to, until 20 were issued after the
        # reconnect. (This library has no timeout on async publish acks: a
        # publish lost with the node stays without ack; allowed before the
        # reconnect.)
        burst = []  # dicts: data, after (issued after the reconnect), done, err

        def reconnected():
            return next((e for e in events if e[0] == "reconnect"), None)

        t_kill = None
        deadline = time.time() + 10
        after = 0
        while after < 20 and time.time() < deadline:
            if len(burst) == 10 and t_kill is None:
                t_kill = time.time()
                try:
                    os.kill(kill_pid, signal.SIGKILL)
                except OSError as e:
                    check("kill_node", False, f"kill -9 {kill_pid}: {fmt_exc(e)}")
                    return
            b = {"data": f"fo-b{len(burst) + 1}", "after": reconnected() is not None,
                 "done": False, "err": None}
            if b["after"]:
                after += 1
            burst.append(b)

            async def ack_cb(ack, b=b):
                b["done"] = True
                b["err"] = ack.error or None

            try:
                await asyncio.wait_for(sc.publish(ch, b["data"].encode(), ack_handler=ack_cb), 1)
            except Exception as e:  # noqa: BLE001
                b["done"] = True
                b["err"] = fmt_exc(e)
            await asyncio.sleep(0.01)
        recon = reconnected()
        if not check("reconnect", recon is not None and recon[1] == url_port(urls[1]),
                     f"reconnected to :{recon[1]} (want :{url_port(urls[1])}) after "
                     f"{(recon[2] - t_kill) * 1000:.0f}ms" if recon and t_kill else
                     f"no reconnect within 10s; events {events}"):
            return

        probs = await self.publish_sync(sc, ch, [data(s) for s in range(6, 11)])
        check("publish_after_failover", not probs, "; ".join(probs))

        # Server heartbeats and client pings run; the burst's acks settle.
        await asyncio.sleep(HB_WAIT)
        late_failed = [b for b in burst if b["after"] and (not b["done"] or b["err"])]
        acked = [b["data"] for b in burst if b["done"] and not b["err"]]
        pending = sum(1 for b in burst if not b["done"])
        check("burst_acked_after_reconnect", not late_failed,
              f"{len(acked)}/{len(burst)} burst publishes acked, "
              f"{sum(1 for b in burst if b['after'])} issued after the reconnect"
              + (f"; not acked after the reconnect: {[(b['data'], b['err']) for b in late_failed]}"
                 if late_failed else "")
              + (f"; {pending} issued before it without ack" if pending else ""))

        want = [data(s) for s in range(1, 11)] + acked
        ok_plain = await plain.wait_for(has_all(plain, want), 10)
        ok_dur = await dur.wait_for(has_all(dur, want), 10)

        def miss(c):
            return sorted(set(want) - payloads(c))

        check("receive_after_failover", ok_plain and ok_dur,
              f"{len(want)} acked messages; plain missing {miss(plain)}, durable missing {miss(dur)}; "
              f"deliveries plain {len(plain.msgs)}, durable {len(dur.msgs)}")

        await self.check_listed("clientsz_after_heartbeats", monitor_url, client_id, True,
                                f"{(time.time() - t_kill) * 1000:.0f}ms after the kill")
        lost = [e for e in events if e[0] == "connection_lost"]
        check("no_connection_lost", not lost, str(lost))
        late = [data(s) for s in range(11, 13)]
        probs = await self.publish_sync(sc, ch, late)
        if not await plain.wait_for(has_all(plain, late)):
            probs.append("plain subscriber did not get fo-11, fo-12")
        check("publish_receive_late", not probs, "; ".join(probs))
        err = await self.close(nc, sc)
        check("close", not err, err)
        await self.check_listed("clientsz_after_close", monitor_url, client_id, False)

    async def check_listed(self, name, monitor_url, client_id, want, info=""):
        url = f"{monitor_url}/streaming/clientsz?limit=1024"

        def get():
            with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
                return json.loads(r.read())

        try:
            j = await asyncio.get_running_loop().run_in_executor(None, get)
            ids = [c.get("id") for c in j.get("clients") or []]
            listed = client_id in ids
            check(name, listed == want,
                  f"{client_id} {'listed' if listed else 'not listed'} {info} (clients {ids})")
        except Exception as e:  # noqa: BLE001
            check(name, False, f"GET {url}: {fmt_exc(e)}")

    async def cleanup(self):
        for nc, _sc in list(self.conns):
            try:
                await asyncio.wait_for(nc.close(), 2)
            except Exception:  # noqa: BLE001
                pass


async def main(argv):
    usage = __doc__
    if len(argv) < 5:
        print(usage, file=sys.stderr)
        return 64
    mode, cluster, prefix, rest = argv[1], argv[2], argv[3], argv[4:]
    r = Runner(cluster, prefix)
    if mode == "basic":
        job = r.basic([lst.split(",") for lst in rest])
    elif mode == "failover" and len(rest) == 3 and len(rest[0].split(",")) >= 2:
        job = r.failover(rest[0].split(","), int(rest[1]), rest[2])
    else:
        print(usage, file=sys.stderr)
        return 64
    try:
        await asyncio.wait_for(job, WATCHDOG)
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
