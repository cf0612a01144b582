#!/usr/bin/env python3
"""NATS core interop scenario using the official Python client (nats-py 2.x).

usage: py_interop.py URL MODE [USER PASS | TOKEN]
  MODE: none | user | bcrypt | token
    user/bcrypt: USER PASS are the plain-text credentials the client sends
    token:       TOKEN is the auth token the client sends

Prints one PASS/FAIL line per check and exits 1 if any check failed
(2 on the global watchdog). Every await is bounded by a timeout.
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
GRACE = 0.3  # extra wait to catch unexpected extra deliveries
WATCHDOG = 50  # whole-scenario hard limit (seconds)
MAX_PAYLOAD = 1024 * 1024

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


async def quiet_error_cb(e):
    # nats-py's default error callback logs a traceback; keep output clean.
    pass


class Ctx:
    def __init__(self, url, mode, creds):
        self.url = url
        self.mode = mode
        self.creds = creds  # kwargs for nats.connect
        self.uniq = f"{os.getpid()}_{int(time.time() * 1000) % 1000000}"

    def subj(self, s):
        return f"py{self.uniq}.{s}"


async def connect(url, name, **kw):
    return await asyncio.wait_for(
        nats.connect(
            url,
            name=name,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=3,
            error_cb=quiet_error_cb,
            **kw,
        ),
        TIMEOUT,
    )


async def sync(nc):
    """Barrier: everything sent so far on nc has been processed by the server.

    nats-py quirk (2.16.0): flush() writes PING straight to the socket while
    earlier SUB/UNSUB/PUB may still sit in the flusher task's queue, so the
    PONG can come back before the server saw them. Force the queue out first.
    """
    await asyncio.wait_for(nc._flush_pending(force_flush=True), TIMEOUT)
    await asyncio.wait_for(nc.flush(timeout=3), TIMEOUT)


async def collect(sub, expected, timeout=TIMEOUT, grace=GRACE):
    """Read up to `expected` messages (bounded), then wait `grace` for extras."""
    msgs = []
    deadline = time.monotonic() + timeout
    while len(msgs) < expected:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            msgs.append(await sub.next_msg(timeout=left))
        except nerr.TimeoutError:
            break
    end = time.monotonic() + grace
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        try:
            msgs.append(await sub.next_msg(timeout=left))
        except nerr.TimeoutError:
            break
    return msgs


async def step(name, coro):
    """Run one scenario step; an exception is a FAIL, not a crash."""
    try:
        await asyncio.wait_for(coro, 30)
    except Exception as e:  # noqa: BLE001
        check(f"{name}: completed without exception", False, f"{type(e).__name__}: {e}")


# ---------------------------------------------------------------- scenarios

async def s_connect(c, a, b):
    check("connect: connected (A)", a.is_connected, f"server {a.connected_server_version}")
    check("connect: connected (B)", b.is_connected)
    await sync(a)
    rtt = await asyncio.wait_for(b.rtt(), TIMEOUT)
    check("connect: flush + PING/PONG round trip", True, f"rtt {rtt * 1000:.2f} ms")
    check("connect: server INFO max_payload == 1048576", a.max_payload == MAX_PAYLOAD, f"got {a.max_payload}")
    check("connect: server INFO headers == true", bool(a._server_info.get("headers")), "")
    auth_req = bool(a._server_info.get("auth_required"))
    check("connect: server INFO auth_required matches mode", auth_req == (c.mode != "none"), f"auth_required={auth_req}")


async def s_pubsub(c, a, b):
    s = c.subj("lit")
    sub = await a.subscribe(s)
    await sync(a)
    await b.publish(s, b"hello")
    await sync(b)
    got = await collect(sub, 1)
    check("pubsub: literal subject delivers exactly 1 msg", len(got) == 1, f"got {len(got)}")
    if got:
        check("pubsub: payload + subject intact", got[0].data == b"hello" and got[0].subject == s,
              f"{got[0].subject} {got[0].data!r}")
    await sub.unsubscribe()

    # wildcards
    root = c.subj("foo")
    s_star = await a.subscribe(f"{root}.*")
    s_gt = await a.subscribe(f"{root}.>")
    s_lit = await a.subscribe(root)
    await sync(a)
    for subj in [f"{root}.bar", f"{root}.bar.baz", root, c.subj("other.bar")]:
        await b.publish(subj, subj.encode())
    await sync(b)
    g_star = await collect(s_star, 1)
    g_gt = await collect(s_gt, 2)
    g_lit = await collect(s_lit, 1, grace=0.05)
    check("wildcard: foo.* gets only foo.bar (1 msg)",
          [m.subject for m in g_star] == [f"{root}.bar"], str([m.subject for m in g_star]))
    check("wildcard: foo.> gets foo.bar + foo.bar.baz (2 msgs)",
          sorted(m.subject for m in g_gt) == sorted([f"{root}.bar", f"{root}.bar.baz"]),
          str([m.subject for m in g_gt]))
    check("wildcard: literal foo gets only foo (1 msg)",
          [m.subject for m in g_lit] == [root], str([m.subject for m in g_lit]))
    check("wildcard: MSG carries published subject and payload",
          all(m.data == m.subject.encode() for m in g_star + g_gt + g_lit))
    for x in (s_star, s_gt, s_lit):
        await x.unsubscribe()


async def s_queue(c, a, b):
    s = c.subj("q")
    qsubs = [await a.subscribe(s, queue="workers") for _ in range(3)]
    plain = await a.subscribe(s)
    await sync(a)
    n = 30
    for i in range(n):
        await b.publish(s, str(i).encode())
    await sync(b)
    got_plain = await collect(plain, n)
    # drain the queue members: total must be exactly n
    per = []
    allq = []
    for q in qsubs:
        m = await collect(q, n, timeout=0.01, grace=0.0)
        per.append(len(m))
        allq += m
    if len(allq) < n:  # give slow deliveries time, bounded
        deadline = time.monotonic() + TIMEOUT
        while len(allq) < n and time.monotonic() < deadline:
            for idx, q in enumerate(qsubs):
                m = await collect(q, n, timeout=0.05, grace=0.0)
                per[idx] += len(m)
                allq += m
    await asyncio.sleep(GRACE)
    for idx, q in enumerate(qsubs):
        m = await collect(q, n, timeout=0.01, grace=0.0)
        per[idx] += len(m)
        allq += m
    check("queue: plain subscriber gets all 30", len(got_plain) == n, f"got {len(got_plain)}")
    check("queue: group members total exactly 30", len(allq) == n, f"per member {per}")
    check("queue: each message delivered to exactly one member",
          sorted(int(m.data) for m in allq) == list(range(n)))
    for x in qsubs + [plain]:
        await x.unsubscribe()


async def s_request(c, a, b):
    s = c.subj("svc")

    async def responder(msg):
        await a.publish(msg.reply, b"re:" + msg.data)

    rsub = await a.subscribe(s, cb=responder)
    await sync(a)
    r = await b.request(s, b"ping", timeout=TIMEOUT)
    check("request: reply received from responder", r.data == b"re:ping", repr(r.data))
    await rsub.unsubscribe()

    t0 = time.monotonic()
    try:
        await b.request(c.subj("nobody.home"), b"x", timeout=TIMEOUT)
        check("no-responders: request fails fast with NoRespondersError", False, "got a reply")
    except nerr.NoRespondersError as e:
        el = time.monotonic() - t0
        check("no-responders: request fails fast with NoRespondersError", el < 2.0,
              f"{type(e).__name__}: '{e}' after {el * 1000:.1f} ms")
    except nerr.TimeoutError as e:
        check("no-responders: request fails fast with NoRespondersError", False, f"timed out: {e}")


async def s_headers(c, a, b):
    s = c.subj("hdr")
    sub = await a.subscribe(s)
    await sync(a)
    await b.publish(s, b"with headers", headers={"X-Single": "one", "X-Other": "two words"})
    await sync(b)
    got = await collect(sub, 1)
    ok = len(got) == 1 and got[0].headers is not None
    check("headers: message with headers delivered", ok, f"got {len(got)}")
    if ok:
        h = got[0].headers
        check("headers: values intact", h.get("X-Single") == "one" and h.get("X-Other") == "two words", str(h))
        check("headers: payload intact", got[0].data == b"with headers", repr(got[0].data))

    # nats-py headers are Dict[str, str]: it cannot send a multi-value header.
    # Send one with a raw HPUB on a separate socket and check nats-py gets it.
    hdr = b"NATS/1.0\r\nX-Multi: a\r\nX-Multi: b\r\nX-Single: one\r\n\r\n"
    body = b"raw"
    await raw_hpub(c, s, hdr, body)
    got = await collect(sub, 1)
    ok = len(got) == 1 and got[0].headers is not None
    check("headers: multi-value HPUB (raw socket) delivered to nats-py", ok, f"got {len(got)}")
    if ok:
        h = got[0].headers
        check("headers: multi-value header surfaced (nats-py keeps one value: dict)",
              h.get("X-Multi") in ("a", "b") and h.get("X-Single") == "one" and got[0].data == body, str(h))
    await sub.unsubscribe()

    # request/reply carrying headers both ways
    rs = c.subj("hsvc")

    async def responder(msg):
        req_h = msg.headers or {}
        await a.publish(msg.reply, b"ok",
                        headers={"X-Echo": req_h.get("X-Req", "missing"), "X-Resp": "yes"})

    rsub = await a.subscribe(rs, cb=responder)
    await sync(a)
    r = await b.request(rs, b"q", timeout=TIMEOUT, headers={"X-Req": "v1"})
    h = r.headers or {}
    check("headers: request/reply carries headers both ways",
          h.get("X-Echo") == "v1" and h.get("X-Resp") == "yes" and r.data == b"ok", str(h))
    await rsub.unsubscribe()


async def raw_hpub(c, subj, hdr, body):
    host, port = c.url.replace("nats://", "").rsplit(":", 1)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), TIMEOUT)
    try:
        info = await asyncio.wait_for(reader.readline(), TIMEOUT)
        assert info.startswith(b"INFO "), info
        conn = {"verbose": False, "pedantic": False, "headers": True, "protocol": 1,
                "lang": "raw", "version": "0", "name": "py-raw"}
        if "user" in c.creds:
            conn["user"], conn["pass"] = c.creds["user"], c.creds["password"]
        if "token" in c.creds:
            conn["auth_token"] = c.creds["token"]
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


async def s_automax(c, a, b):
    s = c.subj("max")
    sub = await a.subscribe(s)
    await sub.unsubscribe(limit=3)  # sends UNSUB <sid> 3
    await sync(a)
    for i in range(10):
        await b.publish(s, str(i).encode())
    await sync(b)
    got = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < 3 and time.monotonic() < deadline:
        try:
            got.append(await sub.next_msg(timeout=0.2))
        except (nerr.TimeoutError, nerr.BadSubscriptionError, nerr.ConnectionClosedError):
            pass
    await asyncio.sleep(GRACE)
    check("auto-unsubscribe: UNSUB max=3 delivers exactly 3 of 10",
          [m.data for m in got] == [b"0", b"1", b"2"], str([m.data for m in got]))
    # server side: interest must be gone -> a request now gets no-responders
    try:
        await b.request(s, b"x", timeout=2)
        check("auto-unsubscribe: server dropped interest (request -> no responders)", False, "got reply")
    except nerr.NoRespondersError:
        check("auto-unsubscribe: server dropped interest (request -> no responders)", True)
    except nerr.TimeoutError:
        check("auto-unsubscribe: server dropped interest (request -> no responders)", False,
              "request timed out: server still routes to the sub")

    # explicit unsubscribe also removes interest
    s2 = c.subj("unsub")
    sub2 = await a.subscribe(s2)
    await sync(a)
    await sub2.unsubscribe()
    await sync(a)
    try:
        await b.request(s2, b"x", timeout=2)
        check("unsubscribe: server dropped interest (request -> no responders)", False, "got reply")
    except nerr.NoRespondersError:
        check("unsubscribe: server dropped interest (request -> no responders)", True)
    except nerr.TimeoutError:
        check("unsubscribe: server dropped interest (request -> no responders)", False, "timed out")


async def s_payload(c, a, b):
    s = c.subj("big")

    async def echo(msg):
        await a.publish(msg.reply, msg.data)

    rsub = await a.subscribe(s, cb=echo)
    await sync(a)
    big = os.urandom(512 * 1024)
    r = await b.request(s, big, timeout=TIMEOUT)
    check("payload: 512 KiB round-trips intact", r.data == big, f"len {len(r.data)}")
    exact = os.urandom(MAX_PAYLOAD)
    r = await b.request(s, exact, timeout=TIMEOUT)
    check("payload: exactly max_payload (1 MiB) round-trips intact", r.data == exact, f"len {len(r.data)}")
    await rsub.unsubscribe()

    too_big = b"x" * (MAX_PAYLOAD + 1)
    try:
        await b.publish(s, too_big)
        await sync(b)
        # not rejected locally -> the server must have answered -ERR and closed
        await asyncio.sleep(0.5)
        check("payload: > max_payload rejected", b.is_closed or not b.is_connected,
              "client did not reject locally and connection still open")
    except nerr.MaxPayloadError as e:
        check("payload: > max_payload rejected", True, f"client-side {type(e).__name__}: '{e}'")
    except Exception as e:  # noqa: BLE001
        check("payload: > max_payload rejected", True, f"{type(e).__name__}: '{e}'")


async def s_auth_neg(c):
    bad = {}
    if c.mode in ("user", "bcrypt"):
        bad["wrong password"] = {"user": c.creds["user"], "password": c.creds["password"] + "x"}
        bad["wrong user"] = {"user": c.creds["user"] + "x", "password": c.creds["password"]}
    elif c.mode == "token":
        bad["wrong token"] = {"token": c.creds["token"] + "x"}
    bad["no credentials"] = {}
    for label, kw in bad.items():
        t0 = time.monotonic()
        try:
            nc = await connect(c.url, "py-interop-bad", **kw)
            await nc.close()
            check(f"auth: {label} rejected", False, "connected")
        except Exception as e:  # noqa: BLE001
            el = time.monotonic() - t0
            check(f"auth: {label} rejected with 'Authorization Violation'",
                  "authorization violation" in str(e).lower(),
                  f"{type(e).__name__}: '{e}' after {el * 1000:.0f} ms")


async def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 64
    url, mode = argv[1], argv[2]
    creds = {}
    if mode in ("user", "bcrypt"):
        creds = {"user": argv[3], "password": argv[4]}
    elif mode == "token":
        creds = {"token": argv[3]}
    elif mode != "none":
        print(f"unknown mode {mode}", file=sys.stderr)
        return 64
    c = Ctx(url, mode, creds)
    print(f"# [{CLIENT}] nats-py {NATS_PY_VERSION} url={url} mode={mode}",
          flush=True)
    try:
        a = await connect(url, "py-interop-a", **creds)
        b = await connect(url, "py-interop-b", **creds)
    except Exception as e:  # noqa: BLE001
        check("connect: with valid credentials", False, f"{type(e).__name__}: {e}")
        return 1
    try:
        await step("connect", s_connect(c, a, b))
        await step("pubsub", s_pubsub(c, a, b))
        await step("queue", s_queue(c, a, b))
        await step("request", s_request(c, a, b))
        await step("headers", s_headers(c, a, b))
        await step("auto-unsubscribe", s_automax(c, a, b))
        if mode == "none":
            await step("payload", s_payload(c, a, b))
        else:
            await step("auth", s_auth_neg(c))
    finally:
        for nc in (a, b):
            try:
                await asyncio.wait_for(nc.close(), TIMEOUT)
            except Exception:  # noqa: BLE001
                pass
    print(f"# [{CLIENT}] mode={mode}: {passes} passed, {failures} failed", flush=True)
    return 1 if failures else 0


def _watchdog(signum, frame):
    print(f"FAIL [{CLIENT}] watchdog: scenario exceeded {WATCHDOG}s", flush=True)
    os._exit(2)


if __name__ == "__main__":
    signal.signal(signal.SIGALRM, _watchdog)
    signal.alarm(WATCHDOG)
    sys.exit(asyncio.run(main(sys.argv)))
