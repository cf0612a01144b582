#!/usr/bin/env python3
"""NATS cluster interop scenario using the official Python client (nats-py 2.x).

usage: py_cluster.py CTL_DIR KILL URL1 URL2 URL3
  URL1..3  client URLs of the three cluster nodes (N1, N2, N3)
  KILL     index (1..3) of the node run.sh kills (SIGKILL) and restarts
  CTL_DIR  control directory shared with run.sh: this scenario creates
           kill.req / restart.req and waits for kill.done / restart.done

Prints one PASS/FAIL line per check and exits 1 if any check failed
(2 on the global watchdog). Every wait is bounded; readiness is polled.
"""
import asyncio
import json
import os
import signal
import sys
import time

import nats
from nats import errors as nerr
from nats.aio.client import __version__ as NATS_PY_VERSION

CLIENT = "py"
TIMEOUT = 5.0  # per-operation bound (seconds)
READY = 10.0  # bound on interest / route propagation (seconds)
READY_DEGRADED = 1.0  # the same bound once a readiness wait has failed
GRACE = 0.3  # extra wait to catch unexpected extra deliveries
WATCHDOG = 80  # whole-scenario hard limit (seconds)

failures = 0
passes = 0


def check(name, ok, detail=""):
    global failures, passes
    if ok:
        passes += 1
    else:
        failures += 1
    line = f"{'PASS' if ok else 'FAIL'} [{CLIENT}] {name}"
    if detail:
        line += f" -- {detail}"
    print(line, flush=True)
    return ok


def note(text):
    print(f"# [{CLIENT}] {text}", flush=True)


async def quiet_error_cb(e):
    pass


def netloc(url):
    return url.split("://", 1)[-1].rstrip("/")


class Ctx:
    def __init__(self, ctl, kill, urls):
        self.ctl = ctl
        self.kill = kill - 1  # 0-based index of the node to kill
        self.urls = urls
        self.uniq = f"{os.getpid()}_{int(time.time() * 1000) % 1000000}"
        self.cs = []  # one connection per node, cs[i] -> urls[i] only
        self.probe_n = 0
        self.ready_bound = READY  # drops to READY_DEGRADED after a failure (fail fast)
        self.ready_failures = 0  # later steps are skipped once interest failed to cross

    def subj(self, s):
        return f"py{self.uniq}.{s}"


async def connect(url, name, **kw):
    opts = dict(allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3, error_cb=quiet_error_cb)
    opts.update(kw)
    return await asyncio.wait_for(nats.connect(url, name=name, **opts), TIMEOUT)


async def sync(nc):
    """Barrier: everything sent so far on nc has been processed by its server.

    nats-py 2.16 flush() writes PING before the flusher queue: force it out.
    """
    await asyncio.wait_for(nc._flush_pending(force_flush=True), TIMEOUT)
    await asyncio.wait_for(nc.flush(timeout=3), TIMEOUT)


async def until(pred, bound):
    """Polls pred() (sync) every 20 ms until true or `bound` seconds pass."""
    deadline = time.monotonic() + bound
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)


async def request_until(nc, subj, data, bound=READY):
    """Requests until a reply comes (no responders / timeouts retried)."""
    deadline = time.monotonic() + bound
    last = "never tried"
    while time.monotonic() < deadline:
        try:
            return await nc.request(subj, data, timeout=0.5), "ok"
        except nerr.NoRespondersError:
            last = "no responders"
            await asyncio.sleep(0.02)
        except nerr.TimeoutError:
            last = "timeout"
        except Exception as e:  # noqa: BLE001
            last = f"{type(e).__name__}: {e}"
            await asyncio.sleep(0.05)
    return None, last


async def no_responders_within(nc, subj, bound=TIMEOUT):
    """True once a request to subj is answered by no-responders (interest gone)."""
    deadline = time.monotonic() + bound
    last = ""
    while time.monotonic() < deadline:
        try:
            await nc.request(subj, b"x", timeout=0.5)
            last = "answered"
            await asyncio.sleep(0.02)
        except nerr.NoRespondersError:
            return True, "no responders"
        except nerr.TimeoutError:
            last = "timeout (the route still has the interest)"
        except Exception as e:  # noqa: BLE001
            last = f"{type(e).__name__}: {e}"
            await asyncio.sleep(0.05)
    return False, last


async def ready(c, sub_nc, sub_name, pubs):
    """Waits until sub_nc's subscriptions so far are known where each of
    pubs = [(nc, name)] is connected: a probe responder subscribed last on
    sub_nc (interest crosses a route in order) is requested until answered."""
    c.probe_n += 1
    probe = c.subj(f"probe.{c.probe_n}")

    async def answer(msg):
        await sub_nc.publish(msg.reply, b"up")

    psub = await sub_nc.subscribe(probe, cb=answer)
    await sync(sub_nc)
    ok = True
    for nc, name in pubs:
        t0 = time.monotonic()
        r, why = await request_until(nc, probe, b"?", bound=c.ready_bound)
        if r is None:
            ok = check(f"ready: interest of {sub_name} reaches {name}", False,
                       f"no answer within {c.ready_bound:.0f}s ({why})")
            c.ready_bound = READY_DEGRADED
            c.ready_failures += 1
        elif time.monotonic() - t0 > 1.0:
            note(f"interest of {sub_name} reached {name} after {time.monotonic() - t0:.2f}s")
    await psub.unsubscribe()
    return ok


def cb_collector(store):
    async def cb(msg):
        store.append(msg)
    return cb


async def step(c, name, coro, bound=40):
    if c.ready_failures:
        coro.close()
        check(f"{name}: skipped (interest did not cross the routes in an earlier step)", False)
        return
    try:
        await asyncio.wait_for(coro, bound)
    except Exception as e:  # noqa: BLE001
        check(f"{name}: completed without exception", False, f"{type(e).__name__}: {e}")


def names(c):
    return [f"N{i + 1}" for i in range(len(c.urls))]


async def ready_all(c, idxs):
    n = names(c)
    for i in idxs:
        await ready(c, c.cs[i], f"{n[i]} sub", [(c.cs[j], n[j]) for j in range(3) if j != i])


# ---------------------------------------------------------------- scenarios

async def s_gossip(c):
    n = names(c)
    deadline = time.monotonic() + READY  # one bound for the three
    for i, nc in enumerate(c.cs):
        want = {netloc(u) for j, u in enumerate(c.urls) if j != i}
        ok = await until(lambda: want <= {s.netloc for s in nc.discovered_servers},
                         max(0.0, deadline - time.monotonic()))
        got = sorted(s.netloc for s in nc.discovered_servers)
        check(f"gossip: client on {n[i]} learns the other nodes from INFO connect_urls", ok,
              f"discovered_servers={got}")


async def s_pubsub(c):
    s = c.subj("plain")
    stores = [[], [], []]
    subs = [await nc.subscribe(s, cb=cb_collector(stores[i])) for i, nc in enumerate(c.cs)]
    await ready_all(c, range(3))
    per = 10
    for i, nc in enumerate(c.cs):
        for k in range(per):
            await nc.publish(s, f"{i}:{k}".encode())
        await sync(nc)
    want = [f"{i}:{k}" for i in range(3) for k in range(per)]
    await until(lambda: all(len(st) >= len(want) for st in stores), TIMEOUT)
    await asyncio.sleep(GRACE)
    n = names(c)
    for i, st in enumerate(stores):
        got = [m.data.decode() for m in st]
        check(f"pubsub: subscriber on {n[i]} gets all 30 (10 from each node), none twice",
              sorted(got) == sorted(want), f"got {len(got)}")
        in_order = all([g for g in got if g.startswith(f"{j}:")] == [f"{j}:{k}" for k in range(per)]
                       for j in range(3))
        check(f"pubsub: subscriber on {n[i]} sees each publisher's order", in_order)
    for x in subs:
        await x.unsubscribe()


async def s_wildcards(c):
    root = c.subj("w")
    stores = [[], [], []]
    patterns = [f"{root}.*", f"{root}.>", root]
    subs = [await c.cs[i].subscribe(patterns[i], cb=cb_collector(stores[i])) for i in range(3)]
    await ready_all(c, range(3))
    pubs = [f"{root}.a", f"{root}.a.b", root, c.subj("other.a")]
    for i, nc in enumerate(c.cs):
        for p in pubs:
            await nc.publish(p, f"{i}|{p}".encode())
        await sync(nc)
    expect = [
        sorted(f"{i}|{root}.a" for i in range(3)),
        sorted([f"{i}|{root}.a" for i in range(3)] + [f"{i}|{root}.a.b" for i in range(3)]),
        sorted(f"{i}|{root}" for i in range(3)),
    ]
    await until(lambda: all(len(stores[i]) >= len(expect[i]) for i in range(3)), TIMEOUT)
    await asyncio.sleep(GRACE)
    labels = ["'*' on N1", "'>' on N2", "literal on N3"]
    for i in range(3):
        got = sorted(m.data.decode() for m in stores[i])
        subj_ok = all(m.data.decode().split("|", 1)[1] == m.subject for m in stores[i])
        check(f"wildcards: {labels[i]} gets exactly its matches from all 3 nodes",
              got == expect[i] and subj_ok, f"got {got}")
    for x in subs:
        await x.unsubscribe()


async def s_queue(c):
    n = names(c)
    s = c.subj("q")
    stores = [[], [], []]
    subs = [await nc.subscribe(s, queue="workers", cb=cb_collector(stores[i])) for i, nc in enumerate(c.cs)]
    await ready_all(c, range(3))
    per = 20
    for i, nc in enumerate(c.cs):
        for k in range(per):
            await nc.publish(s, f"{i}:{k}".encode())
        await sync(nc)
    total = 3 * per
    await until(lambda: sum(len(st) for st in stores) >= total, TIMEOUT)
    await asyncio.sleep(GRACE)
    got = sorted(m.data.decode() for st in stores for m in st)
    want = sorted(f"{i}:{k}" for i in range(3) for k in range(per))
    counts = [len(st) for st in stores]
    check("queue: members on every node, 60 published from all nodes: received exactly once cluster-wide",
          got == want, f"per member {dict(zip(n, counts))}, total {len(got)}")
    for x in subs:
        await x.unsubscribe()

    # members only on the other two nodes: the publisher's node routes each
    # message to exactly one of them
    s2 = c.subj("q2")
    far = [[], []]
    fsubs = [await c.cs[1 + i].subscribe(s2, queue="far", cb=cb_collector(far[i])) for i in range(2)]
    for i in (1, 2):
        await ready(c, c.cs[i], f"{n[i]} queue member", [(c.cs[0], n[0])])
    m = 30
    for k in range(m):
        await c.cs[0].publish(s2, str(k).encode())
    await sync(c.cs[0])
    await until(lambda: len(far[0]) + len(far[1]) >= m, TIMEOUT)
    await asyncio.sleep(GRACE)
    got = sorted(int(x.data) for st in far for x in st)
    check("queue: members on N2+N3 only, 30 published on N1: each delivered to exactly one member",
          got == list(range(m)), f"N2 {len(far[0])}, N3 {len(far[1])}")
    for x in fsubs:
        await x.unsubscribe()


async def s_request(c):
    n = names(c)
    rsubs = []
    for i, nc in enumerate(c.cs):
        def make(i, nc):
            async def answer(msg):
                await nc.publish(msg.reply, f"{i}:".encode() + msg.data)
            return answer
        rsubs.append(await nc.subscribe(c.subj(f"svc.{i}"), cb=make(i, nc)))
    await ready_all(c, range(3))
    for i in range(3):
        for j in range(3):
            if i == j:
                continue
            good = 0
            for k in range(5):
                try:
                    r = await c.cs[j].request(c.subj(f"svc.{i}"), f"q{k}".encode(), timeout=TIMEOUT)
                    good += r.data == f"{i}:q{k}".encode()
                except Exception as e:  # noqa: BLE001
                    note(f"request {n[j]} -> {n[i]} failed: {type(e).__name__}: {e}")
            check(f"request: {n[j]} -> responder on {n[i]}: 5 of 5 answered", good == 5, f"{good} ok")
    for x in rsubs:
        await x.unsubscribe()


async def raw_hpub(url, subj, hdr, body):
    host, port = netloc(url).rsplit(":", 1)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), TIMEOUT)
    try:
        info = await asyncio.wait_for(reader.readline(), TIMEOUT)
        assert info.startswith(b"INFO "), info
        conn = {"verbose": False, "pedantic": False, "headers": True, "protocol": 1,
                "lang": "raw", "version": "0", "name": "py-raw"}
        writer.write(b"CONNECT " + json.dumps(conn).encode() + b"\r\n")
        writer.write(b"HPUB %s %d %d\r\n" % (subj.encode(), len(hdr), len(hdr) + len(body)) + hdr + body + b"\r\n")
        writer.write(b"PING\r\n")
        await writer.drain()
        while True:
            line = await asyncio.wait_for(reader.readline(), TIMEOUT)
            if not line:
                raise RuntimeError("raw connection closed")
            if line.startswith(b"-ERR"):
                raise RuntimeError(line.decode().strip())
            if line.startswith(b"PONG"):
                break
    finally:
        writer.close()


async def s_headers(c):
    s = c.subj("hdr")
    got = []
    sub = await c.cs[1].subscribe(s, cb=cb_collector(got))
    await ready(c, c.cs[1], "N2 sub", [(c.cs[0], "N1"), (c.cs[2], "N3")])
    for i in (0, 2):
        await c.cs[i].publish(s, f"from {i}".encode(), headers={"X-From": str(i), "X-Other": "two words"})
        await sync(c.cs[i])
    # nats-py headers are a dict: send a multi-value header raw, on N1.
    await raw_hpub(c.urls[0], s, b"NATS/1.0\r\nX-Multi: a\r\nX-Multi: b\r\nX-From: raw\r\n\r\n", b"raw")
    await until(lambda: len(got) >= 3, TIMEOUT)
    await asyncio.sleep(GRACE)
    by = {(m.headers or {}).get("X-From"): m for m in got}
    ok = len(got) == 3 and all(
        k in by and by[k].headers.get("X-Other") == "two words" and by[k].data == f"from {k}".encode()
        for k in ("0", "2"))
    check("headers: HPUB from N1 and N3 reach a subscriber on N2 with headers intact", ok,
          str([(m.headers, m.data) for m in got]))
    raw = by.get("raw")
    check("headers: multi-value header (raw HPUB on N1) reaches nats-py on N2",
          raw is not None and raw.headers.get("X-Multi") in ("a", "b") and raw.data == b"raw",
          str(raw.headers if raw else None))
    await sub.unsubscribe()

    rs = c.subj("hsvc")

    async def answer(msg):
        h = msg.headers or {}
        await c.cs[2].publish(msg.reply, b"ok", headers={"X-Echo": h.get("X-Req", "missing"), "X-Resp": "yes"})

    rsub = await c.cs[2].subscribe(rs, cb=answer)
    await ready(c, c.cs[2], "N3 responder", [(c.cs[0], "N1")])
    try:
        r = await c.cs[0].request(rs, b"q", timeout=TIMEOUT, headers={"X-Req": "v1"})
        h = r.headers or {}
        check("headers: request N1 -> responder on N3 carries headers both ways",
              h.get("X-Echo") == "v1" and h.get("X-Resp") == "yes" and r.data == b"ok", str(h))
    except Exception as e:  # noqa: BLE001
        check("headers: request N1 -> responder on N3 carries headers both ways", False, f"{type(e).__name__}: {e}")
    await rsub.unsubscribe()


async def s_interest_removed(c):
    g = c.subj("gone")
    gq = c.subj("goneq")
    x = await connect(c.urls[1], "py-cluster-x")

    async def answer(msg):
        await x.publish(msg.reply, b"x")

    await x.subscribe(g, cb=answer)
    await x.subscribe(gq, queue="g", cb=answer)
    await ready(c, x, "N2 subscriber X", [(c.cs[0], "N1"), (c.cs[2], "N3")])
    await asyncio.wait_for(x.close(), TIMEOUT)
    for subj, kind in ((g, "plain"), (gq, "queue")):
        for j in (0, 2):
            ok, why = await no_responders_within(c.cs[j], subj)
            check(f"interest: {kind} sub on N2 closed -> gone on N{j + 1} (request gets no-responders)", ok, why)

    y = await connect(c.urls[1], "py-cluster-y")
    yp, yq = [], []
    ys = [await y.subscribe(g, cb=cb_collector(yp)), await y.subscribe(gq, queue="g", cb=cb_collector(yq))]
    await ready(c, y, "N2 subscriber Y", [(c.cs[0], "N1"), (c.cs[2], "N3")])
    for j in (0, 2):
        for k in range(5):
            await c.cs[j].publish(g, f"{j}:{k}".encode())
            await c.cs[j].publish(gq, f"{j}:{k}".encode())
        await sync(c.cs[j])
    await until(lambda: len(yp) >= 10 and len(yq) >= 10, TIMEOUT)
    await asyncio.sleep(GRACE)
    check("interest: a new subscriber on N2 gets publishes from N1 and N3 (plain 10, queue 10)",
          len(yp) == 10 and len(yq) == 10, f"plain {len(yp)}, queue {len(yq)}")
    for s in ys:
        await s.unsubscribe()
    await asyncio.wait_for(y.close(), TIMEOUT)


async def ctl(c, action):
    """Asks run.sh to kill/restart the node; waits (bounded) for it."""
    req = os.path.join(c.ctl, f"{action}.req")
    done = os.path.join(c.ctl, f"{action}.done")
    with open(req, "w") as f:
        f.write(f"{CLIENT}\n")
    return await until(lambda: os.path.exists(done), 20.0)


async def s_kill_restart(c):
    n = names(c)
    k = c.kill
    a, b = [i for i in range(3) if i != k]
    ku = netloc(c.urls[k])
    events = []

    async def on_disc():
        events.append("disconnected")

    async def on_reco():
        events.append("reconnected")

    order = [c.urls[k], c.urls[a], c.urls[b]]
    r = await asyncio.wait_for(
        nats.connect(servers=order, name="py-cluster-r", dont_randomize=True, allow_reconnect=True,
                     max_reconnect_attempts=-1, reconnect_time_wait=0.1, connect_timeout=2,
                     error_cb=quiet_error_cb, disconnected_cb=on_disc, reconnected_cb=on_reco),
        TIMEOUT)
    check(f"kill: client R (servers N{k + 1},N{a + 1},N{b + 1}) connected to N{k + 1}",
          r.connected_url is not None and r.connected_url.netloc == ku, str(r.connected_url))
    rs = c.subj("r.svc")

    async def r_answer(msg):
        await r.publish(msg.reply, b"r:" + msg.data)

    await r.subscribe(rs, cb=r_answer)
    await ready(c, r, f"R on {n[k]}", [(c.cs[a], n[a]), (c.cs[b], n[b])])
    # a responder on the node to kill (its connection dies with it)
    dead = c.subj("dead.svc")

    async def d_answer(msg):
        await c.cs[k].publish(msg.reply, b"d")

    await c.cs[k].subscribe(dead, cb=d_answer)
    await ready(c, c.cs[k], f"{n[k]} responder", [(c.cs[a], n[a]), (c.cs[b], n[b])])

    # responders on the survivors, for the restarted node to reach
    svc = []
    for i in (a, b):
        def make(i):
            async def answer(msg):
                await c.cs[i].publish(msg.reply, f"{i}".encode())
            return answer
        svc.append(await c.cs[i].subscribe(c.subj(f"surv.{i}"), cb=make(i)))

    # survivor traffic: a steady stream A -> B through the whole kill/restart
    st = c.subj("stream")
    stream_got = []
    ssub = await c.cs[b].subscribe(st, cb=cb_collector(stream_got))
    await ready(c, c.cs[b], f"{n[b]} stream sub", [(c.cs[a], n[a])])
    await ready(c, c.cs[a], f"{n[a]} responder", [(c.cs[b], n[b])])
    sent = [0]
    stop = asyncio.Event()

    async def streamer():
        while not stop.is_set():
            await c.cs[a].publish(st, str(sent[0]).encode())
            sent[0] += 1
            await asyncio.sleep(0.02)

    stask = asyncio.create_task(streamer())
    await until(lambda: len(stream_got) >= 5, TIMEOUT)

    killed = await ctl(c, "kill")
    at_kill = sent[0]
    check(f"kill: run.sh killed N{k + 1} (SIGKILL)", killed)
    ok = await until(lambda: r.is_connected and r.connected_url is not None and r.connected_url.netloc != ku, READY)
    check(f"kill: R reconnects to a survivor after N{k + 1} dies", ok,
          f"connected_url={r.connected_url.netloc if r.connected_url else None} events={events}")
    for i in (a, b):
        ok, why = await no_responders_within(c.cs[i], dead)
        check(f"kill: {n[i]} drops the interest of dead {n[k]} (request gets no-responders)", ok, why)
    for i in (a, b):
        t0 = time.monotonic()
        rep, why = await request_until(c.cs[i], rs, b"again")
        check(f"kill: R's subscription (resubscribed) answers a request from {n[i]}",
              rep is not None and rep.data == b"r:again",
              f"{why} after {time.monotonic() - t0:.2f}s")

    # the survivors' stream must flow while the node is down
    await until(lambda: sent[0] >= at_kill + 5, TIMEOUT)
    restarted = await ctl(c, "restart")
    at_restart = sent[0]
    check(f"restart: run.sh restarted N{k + 1} on the same ports", restarted)
    nk = await connect(c.urls[k], "py-cluster-k2")
    for i in (a, b):
        t0 = time.monotonic()
        rep, why = await request_until(nk, c.subj(f"surv.{i}"), b"?", bound=15.0)
        check(f"restart: client on restarted N{k + 1} reaches a responder on {n[i]}",
              rep is not None and rep.data == f"{i}".encode(), f"{why} after {time.monotonic() - t0:.2f}s")
    kp = []
    await nk.subscribe(c.subj("back"), cb=cb_collector(kp))
    await ready(c, nk, f"restarted {n[k]} sub", [(c.cs[a], n[a]), (c.cs[b], n[b])])
    for i in (a, b):
        await c.cs[i].publish(c.subj("back"), str(i).encode())
        await sync(c.cs[i])
    await until(lambda: len(kp) >= 2, TIMEOUT)
    check(f"restart: a subscriber on restarted N{k + 1} gets publishes from {n[a]} and {n[b]}",
          sorted(m.data for m in kp) == sorted([str(a).encode(), str(b).encode()]), str([m.data for m in kp]))
    want = {netloc(c.urls[a]), netloc(c.urls[b])}
    ok = await until(lambda: want <= {s.netloc for s in nk.discovered_servers}, READY)
    check(f"restart: client on restarted N{k + 1} learns the others from connect_urls", ok,
          str(sorted(s.netloc for s in nk.discovered_servers)))

    # let the stream run on a little after the restart, then stop it
    await until(lambda: sent[0] >= at_restart + 5, TIMEOUT)
    stop.set()
    await asyncio.wait_for(stask, TIMEOUT)
    await sync(c.cs[a])
    total = sent[0]
    await until(lambda: len(stream_got) >= total, TIMEOUT)
    await asyncio.sleep(GRACE)
    seqs = [int(m.data) for m in stream_got]
    check(f"survivors: stream {n[a]} -> {n[b]} never stopped: all {total} in order, none lost or twice",
          seqs == list(range(total)) and 0 < at_kill < at_restart < total,
          f"got {len(seqs)}, sent {total} (at kill {at_kill}, at restart {at_restart})")
    await ssub.unsubscribe()
    for s in svc:
        await s.unsubscribe()
    for x in (r, nk):
        try:
            await asyncio.wait_for(x.close(), TIMEOUT)
        except Exception:  # noqa: BLE001
            pass


async def main(argv):
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 64
    c = Ctx(argv[1], int(argv[2]), argv[3:6])
    note(f"nats-py {NATS_PY_VERSION} nodes={c.urls} kill=N{c.kill + 1}")
    try:
        for i, u in enumerate(c.urls):
            c.cs.append(await connect(u, f"py-cluster-n{i + 1}"))
        check("connect: one connection to each of the 3 nodes", True,
              ", ".join(f"N{i + 1} {nc.connected_server_version}" for i, nc in enumerate(c.cs)))
    except Exception as e:  # noqa: BLE001
        check("connect: one connection to each of the 3 nodes", False, f"{type(e).__name__}: {e}")
        return 1
    try:
        await step(c, "gossip", s_gossip(c))
        await step(c, "pubsub", s_pubsub(c))
        await step(c, "wildcards", s_wildcards(c))
        await step(c, "queue", s_queue(c))
        await step(c, "request", s_request(c))
        await step(c, "headers", s_headers(c))
        await step(c, "interest", s_interest_removed(c))
        await step(c, "kill/restart", s_kill_restart(c), bound=60)
    finally:
        for nc in c.cs:
            try:
                await asyncio.wait_for(nc.close(), TIMEOUT)
            except Exception:  # noqa: BLE001
                pass
    note(f"{passes} passed, {failures} failed")
    return 1 if failures else 0


def _watchdog(signum, frame):
    print(f"FAIL [{CLIENT}] watchdog: scenario exceeded {WATCHDOG}s", flush=True)
    os._exit(2)


if __name__ == "__main__":
    signal.signal(signal.SIGALRM, _watchdog)
    signal.alarm(WATCHDOG)
    sys.exit(asyncio.run(main(sys.argv)))
