#!/usr/bin/env python3
"""TLS interop checks with the official Python client (nats-py 2.x).

usage: py_tls.py SCENARIO URL CERTDIR
  SCENARIO  verify  : the server runs --tls --tlsverify --tlscacert CERTDIR/ca.pem
                      with CERTDIR/server-cert.pem: a client with our CA and
                      client certificate is served (a round trip; INFO says
                      tls_required and tls_verify); no client certificate,
                      another CA's client certificate, a client trusting
                      another CA, and a plain-text client are refused
            expired : the server's certificate has expired: refused
  URL       tls://127.0.0.1:PORT
  env       STRICT_PLAIN_ERR=1: the plain-text client must read exactly
            -ERR 'Secure Connection - TLS Required' before the close
            (stan-server; nats-server 2.9 just closes)

Prints one PASS/FAIL line per check (refusals with the client's error
text) and exits 1 if any check failed. Every wait is bounded.
"""
import asyncio
import json
import os
import ssl
import sys
import time
from urllib.parse import urlparse

import nats

CLIENT = "py"
TIMEOUT = 5.0
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


def context(certdir, ca="ca.pem", cert=None):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=os.path.join(certdir, ca))
    if cert:
        ctx.load_cert_chain(
            os.path.join(certdir, f"{cert}-cert.pem"), os.path.join(certdir, f"{cert}-key.pem")
        )
    return ctx


async def quiet(_e):
    pass


async def connect(url, ctx):
    return await asyncio.wait_for(
        nats.connect(
            servers=[url],
            tls=ctx,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=3,
            error_cb=quiet,
        ),
        TIMEOUT,
    )


async def refused(name, url, ctx, want=None):
    try:
        nc = await connect(url, ctx)
    except Exception as e:  # noqa: BLE001 - the error text is the result
        text = f"{type(e).__name__}: {e}"
        check(name, want is None or want in str(e), text)
        return
    await nc.close()
    check(name, False, "connected, expected a refusal")


async def served(url, certdir):
    nc = await connect(url, context(certdir, cert="client"))
    info = nc._server_info  # noqa: SLF001 - the INFO as received
    check(
        "verify: INFO says tls_required and tls_verify",
        info.get("tls_required") is True and info.get("tls_verify") is True,
        json.dumps({k: info.get(k) for k in ("tls_required", "tls_verify")}),
    )
    subject = f"tls.py.{os.getpid()}"
    sub = await nc.subscribe(subject)
    await nc.publish(subject, b"over tls")
    await nc.flush(timeout=TIMEOUT)
    msg = await sub.next_msg(timeout=TIMEOUT)
    check("verify: round trip with a client certificate", msg.data == b"over tls")
    await nc.close()


async def plain(url):
    u = urlparse(url)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(u.hostname, u.port), TIMEOUT)
    info = await asyncio.wait_for(reader.readline(), TIMEOUT)
    writer.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
    await writer.drain()
    rest = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(4096), TIMEOUT)
            if not chunk:
                break
            rest += chunk
    except (ConnectionError, asyncio.TimeoutError) as e:
        rest += f"<{type(e).__name__}>".encode()
    writer.close()
    told = rest == b"-ERR 'Secure Connection - TLS Required'\r\n"
    strict = os.environ.get("STRICT_PLAIN_ERR") == "1"
    check(
        "verify: a plain-text client is refused",
        info.startswith(b"INFO ") and (told or (not strict and b"PONG" not in rest)),
        f"read after CONNECT: {rest!r}",
    )


async def main():
    scenario, url, certdir = sys.argv[1], sys.argv[2], sys.argv[3]
    start = time.time()
    if scenario == "verify":
        await served(url, certdir)
        await refused("verify: no client certificate is refused", url, context(certdir))
        await refused(
            "verify: another CA's client certificate is refused",
            url,
            context(certdir, cert="other-client"),
        )
        await refused(
            "verify: a client trusting another CA refuses the server",
            url,
            context(certdir, ca="other-ca.pem", cert="client"),
            want="CERTIFICATE_VERIFY_FAILED",
        )
        await plain(url)
    elif scenario == "expired":
        await refused(
            "expired: the server's expired certificate is refused",
            url,
            context(certdir),
            want="certificate has expired",
        )
    else:
        print(f"py_tls.py: unknown scenario {scenario}", file=sys.stderr)
        return 64
    print(f"[{CLIENT}] {passes} passed, {failures} failed in {time.time() - start:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        code = asyncio.run(asyncio.wait_for(main(), 50))
    except asyncio.TimeoutError:
        print(f"FAIL [{CLIENT}] watchdog: scenario did not finish in 50s")
        code = 2
    sys.exit(code)
