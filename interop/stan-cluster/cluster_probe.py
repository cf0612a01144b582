#!/usr/bin/env python3
"""Readiness probes for the STAN-over-cluster kit (standard library only).

usage: cluster_probe.py mesh SECONDS PORT PORT [PORT...]
       cluster_probe.py stan PORT CLUSTER_ID SECONDS

mesh: every node forwards to every other node, i.e. the routes form a full
      mesh (NATS forwards one hop only): for each node N a raw client
      subscribes to probe.<N> there, and a client on every other node
      publishes to it until the message arrives. Exit 0 when all pairs work.
stan: something answers a request on _STAN.discover.<CLUSTER_ID> made on the
      node at PORT (an empty ConnectRequest, which a STAN server rejects with
      "stan: invalid connection request" without registering a client);
      no_responders makes "nobody listening yet" visible at once.

Prints one line (what became ready, or what did not, with the last state)
and exits 1 when the deadline passes.
"""
import re
import socket
import sys
import time


class Raw:
    """A NATS text-protocol client on a blocking socket."""

    def __init__(self, port, name):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.sock.settimeout(0.05)
        self.buf = b""
        self.name = name
        deadline = time.time() + 2
        while b"\r\n" not in self.buf:
            if not self.fill(deadline):
                raise OSError(f"{name}: no INFO")
        self.buf = self.buf[self.buf.index(b"\r\n") + 2:]
        self.send(b'CONNECT {"verbose":false,"pedantic":false,"protocol":1,"headers":true,'
                  b'"no_responders":true,"name":"' + name.encode() + b'"}\r\n')

    def send(self, data):
        self.sock.sendall(data)

    def fill(self, deadline):
        while time.time() < deadline:
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not d:
                raise OSError(f"{self.name}: connection closed")
            self.buf += d
            return True
        return False

    def drain(self, wait):
        """Reads for `wait` seconds (answering PINGs); returns the input."""
        self.fill(time.time() + wait)
        data, self.buf = self.buf, b""
        if re.search(rb"(^|\n)PING\r\n", data):
            self.send(b"PONG\r\n")
        return data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def mesh(seconds, ports):
    deadline = time.time() + seconds
    pending = {(s, p) for s in ports for p in ports if s != p}
    last = "no attempt"
    t0 = time.time()
    while pending and time.time() < deadline:
        conns = {}
        acc = {port: b"" for port in ports}
        try:
            for port in ports:
                conns[port] = Raw(port, f"mesh-probe-{port}")
            for s in ports:
                conns[s].send(f"SUB probe.mesh.{s} 1\r\n".encode())
            for port in ports:
                conns[port].send(b"PING\r\n")
            for port in ports:
                conns[port].drain(0.1)
            while pending and time.time() < deadline:
                for (s, p) in sorted(pending):
                    conns[p].send(f"PUB probe.mesh.{s} {len(str(p))}\r\n{p}\r\n".encode())
                time.sleep(0.1)
                for s in ports:
                    acc[s] += conns[s].drain(0.02)
                    for m in re.finditer(rb"MSG probe\.mesh\.(\d+) 1 \d+\r\n(\d+)\r\n", acc[s]):
                        pending.discard((int(m.group(1)), int(m.group(2))))
                last = f"missing publisher->subscriber node pairs {sorted((p, s) for s, p in pending)}"
        except OSError as e:
            last = str(e)
            time.sleep(0.2)
        finally:
            for c in conns.values():
                c.close()
    if pending:
        print(f"mesh: not a full mesh within {seconds}s ({last})")
        return 1
    print(f"mesh: ports {ports} forward to each other after {time.time() - t0:.1f}s")
    return 0


def stan(port, cluster, seconds):
    deadline = time.time() + seconds
    last = "no attempt"
    t0 = time.time()
    while time.time() < deadline:
        try:
            c = Raw(port, "stan-probe")
            c.send(b"SUB _INBOX.stanprobe 1\r\nPUB _STAN.discover." + cluster.encode()
                   + b" _INBOX.stanprobe 0\r\n\r\nPING\r\n")
            t_end = time.time() + 2
            buf = b""
            ok = False
            while time.time() < t_end:
                buf += c.drain(0.05)
                if re.search(rb"(^|\n)MSG _INBOX\.stanprobe ", buf):
                    ok = True
                    break
                if b"HMSG _INBOX.stanprobe" in buf or b"-ERR" in buf:
                    break  # 503 no responders (no interest yet) or an error
            c.close()
            if ok:
                print(f"stan: _STAN.discover.{cluster} answered via :{port} after {time.time() - t0:.1f}s")
                return 0
            last = repr(buf[-200:])
        except OSError as e:
            last = str(e)
        time.sleep(0.2)
    print(f"stan: no reply on _STAN.discover.{cluster} via :{port} within {seconds}s (last: {last})")
    return 1


def main(argv):
    try:
        if len(argv) >= 5 and argv[1] == "mesh":
            return mesh(float(argv[2]), [int(p) for p in argv[3:]])
        if len(argv) == 5 and argv[1] == "stan":
            return stan(int(argv[2]), argv[3], float(argv[4]))
    except ValueError:
        pass
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
