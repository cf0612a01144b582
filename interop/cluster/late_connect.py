#!/usr/bin/env python3
"""A client that connects while a route is being registered must still learn
the new node's client URL.

usage: late_connect.py SERVER_BINARY LOG_DIR

A raw client opens a connection to node A and reads its INFO (no route yet,
no `connect_urls`) but sends CONNECT only after node B's route to A is
registered. nats-server then sends an INFO with the new `connect_urls` before
its first PONG (client.go processPing: `lastCURLsUpdate >= c.start`); async
INFO updates alone never reach this client, since it was not yet CONNECTed
when the route came. The official clients hit this window when they connect
to a node that has just (re)started (see README.md). Standard library only;
every wait is bounded. Prints PASS/FAIL lines; exits 1 on a failure.
"""
import json
import os
import socket
import subprocess
import sys
import time

BOUND = 10.0  # seconds, any single wait


def free_ports(n):
    ss = [socket.socket() for _ in range(n)]
    for s in ss:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in ss]
    for s in ss:
        s.close()
    return ports


def read_for(sock, seconds):
    buf = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            d = sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            break
        if not d:
            break
        buf += d
    return buf


def infos(buf):
    return [json.loads(line[5:]) for line in buf.split(b"\r\n") if line.startswith(b"INFO ")]


def connect(port):
    deadline = time.monotonic() + BOUND
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=1)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 64
    binary, logs = argv[1], argv[2]
    with_cid = "--cid" in subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    pa, ca, pb, cb = free_ports(4)
    procs = []

    def start(name, port, cport, route=None):
        args = [binary, "-a", "127.0.0.1", "-p", str(port), "--cluster", f"nats://127.0.0.1:{cport}",
                "--cluster_name", "late"]
        if with_cid:
            args += ["--cid", f"late-{name}"]
        if route:
            args += ["--routes", f"nats://127.0.0.1:{route}"]
        log = open(os.path.join(logs, f"late-connect-{os.path.basename(binary)}-{name}.log"), "w")
        procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))

    failed = False

    def check(name, ok, detail=""):
        nonlocal failed
        failed |= not ok
        print(f"{'PASS' if ok else 'FAIL'} [raw] {name}{' -- ' + detail if detail else ''}", flush=True)

    try:
        start("a", pa, ca)
        early = connect(pa)
        first = infos(read_for(early, 0.5))
        check("late connect: INFO before the route has no other node", bool(first) and
              f"127.0.0.1:{pb}" not in (first[0].get("connect_urls") or []), str(first))
        start("b", pb, cb, route=ca)
        # the route is registered once a new client of A is told about B
        deadline = time.monotonic() + BOUND
        seen = False
        while not seen and time.monotonic() < deadline:
            probe = connect(pa)
            got = infos(read_for(probe, 0.1))
            probe.close()
            seen = bool(got) and f"127.0.0.1:{pb}" in (got[0].get("connect_urls") or [])
        check("late connect: a new client of A learns B from its first INFO", seen)
        early.sendall(b'CONNECT {"protocol":1,"verbose":false,"pedantic":false}\r\nPING\r\n')
        buf = b""
        deadline = time.monotonic() + 2.0
        while b"PONG" not in buf and time.monotonic() < deadline:
            buf += read_for(early, 0.2)
        buf += read_for(early, 0.3)  # an INFO may follow the PONG
        urls = [i.get("connect_urls") or [] for i in infos(buf)]
        check("late connect: a client CONNECTed after the route registered learns B (INFO by its first PONG)",
              b"PONG" in buf and any(f"127.0.0.1:{pb}" in u for u in urls),
              f"INFO connect_urls after CONNECT: {urls}, PONG {'seen' if b'PONG' in buf else 'missing'}")
        early.close()
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
