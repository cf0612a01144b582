#!/usr/bin/env python3
"""Fuzz seeds from real client traffic (the helper of scripts/fuzz-seeds.sh).

usage: fuzz-seeds.py proxy LISTEN_PORT UPSTREAM_PORT RECORD_DIR
       fuzz-seeds.py convert RECORD_DIR CORPUS_ROOT

proxy:   a recording TCP proxy on 127.0.0.1:LISTEN_PORT to 127.0.0.1:UPSTREAM_PORT.
         Connection N is recorded as RECORD_DIR/N.c2s and N.s2c (the bytes
         each way, at most 1 MiB each) and N.json (the size of every read).
         Stops on SIGTERM or SIGINT.
convert: turns the recordings into seed files, named by the SHA-1 of their
         content (as libFuzzer names them), in CORPUS_ROOT/<target>/:
         * decode_chunked: byte 0 = direction (0 client ops, 1 server ops),
           byte 1 = k, k chunk sizes (the proxy's real read sizes, mod 256),
           then a window of the stream starting at an op;
         * router_session: config 0, accept a session per client stream,
           then each stream fed 31 bytes at a time (two streams
           interleaved when there are two), draining after every feed;
         * client_session: a connected session, then the server's real
           PubAck and MsgProto payloads (the ones of at most 63 bytes) as
           raw PubAcks to its publishes and raw deliveries to a
           subscription.
         Every seed stays under 16 KiB; at most MAX_PER_TARGET per target.
"""
import asyncio
import hashlib
import json
import os
import re
import signal
import sys

CAP = 1 << 20
MAX_PER_TARGET = 24
WINDOW = 12 * 1024

# ----------------------------------------------------------------- proxy


async def proxy(listen_port, upstream_port, record_dir):
    os.makedirs(record_dir, exist_ok=True)
    counter = [0]

    async def pipe(reader, writer, out, sizes):
        total = 0
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if total < CAP:
                    keep = data[: CAP - total]
                    out.write(keep)
                    sizes.append(len(keep))
                    total += len(keep)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except (ConnectionError, OSError):
                pass

    async def handle(client_r, client_w):
        counter[0] += 1
        n = counter[0]
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            client_w.close()
            return
        base = os.path.join(record_dir, str(n))
        sizes = {"c2s": [], "s2c": []}
        with open(base + ".c2s", "wb") as c2s, open(base + ".s2c", "wb") as s2c:
            await asyncio.gather(
                pipe(client_r, up_w, c2s, sizes["c2s"]),
                pipe(up_r, client_w, s2c, sizes["s2c"]),
            )
        with open(base + ".json", "w") as f:
            json.dump(sizes, f)

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    # Let the open connections' files close.
    await asyncio.sleep(0.2)


# --------------------------------------------------------------- convert

OP_START = re.compile(
    rb"(?i)(PUB |HPUB |SUB |UNSUB |MSG |HMSG |PING|PONG|INFO |CONNECT |\+OK|-ERR)"
)


def op_starts(stream):
    """Offsets where an op starts: 0 and after each CRLF followed by an op name."""
    out = [0]
    for m in re.finditer(rb"\r\n", stream):
        at = m.end()
        if at < len(stream) and OP_START.match(stream, at):
            out.append(at)
    return out


def windows(stream, count):
    """Up to `count` windows of at most WINDOW bytes, each starting at an
    op: the beginning, then spread over the stream."""
    if not stream:
        return []
    starts = op_starts(stream)
    picks = []
    for i in range(count):
        target = len(stream) * i // count
        at = next((s for s in starts if s >= target), None)
        if at is None or at in picks:
            continue
        picks.append(at)
    out = []
    for at in picks:
        end = min(len(stream), at + WINDOW)
        # End at an op boundary when there is one.
        ends = [s for s in starts if at < s <= end]
        if end < len(stream) and ends:
            end = ends[-1]
        out.append(stream[at:end])
    return out


def nats_msgs(s2c):
    """(subject, payload) of every MSG/HMSG in a server stream."""
    out = []
    i = 0
    line = re.compile(rb"(?i)(H?MSG) +([^ \r\n]+) +([^ \r\n]+)( +[^ \r\n]+)?( +[^ \r\n]+)?\r\n")
    while True:
        m = line.search(s2c, i)
        if not m:
            return out
        parts = [p.strip() for p in m.groups()[1:] if p]
        try:
            total = int(parts[-1])
            hdr = int(parts[-2]) if m.group(1).upper() == b"HMSG" else 0
        except ValueError:
            i = m.end()
            continue
        body = s2c[m.end() : m.end() + total]
        out.append((parts[0], body[hdr:]))
        i = m.end() + total


def decode_chunked_seeds(recs):
    seeds = []
    for rec in recs:
        for direction, key in ((0, "c2s"), (1, "s2c")):
            stream = rec[key]
            sizes = [s % 256 for s in rec["sizes"][key] if s % 256][:32]
            for j, w in enumerate(windows(stream, 3)):
                # Real read sizes for the first window; small ones after, so
                # that chunk edges fall inside control lines.
                ks = sizes if j == 0 else [3, 17, 1, 64]
                seeds.append(bytes([direction, len(ks)] + ks) + w)
    return seeds


def router_seeds(recs):
    seeds = []
    streams = [r["c2s"] for r in recs if r["c2s"]]

    def feed(session, data):
        out = bytearray()
        for i in range(0, len(data), 31):
            chunk = data[i : i + 31]
            out.append((session << 5) | len(chunk))
            out += chunk
            out.append(224)  # drain
        return out

    for s in streams:
        for w in windows(s, 2):
            seeds.append(bytes([0, 160]) + feed(0, w[:WINDOW // 2]))
    # Pairs of streams interleaved (publisher and subscriber in one router).
    for a, b in zip(streams, streams[1:]):
        a, b = a[: WINDOW // 4], b[: WINDOW // 4]
        out = bytearray([0, 160, 161])
        for i in range(0, max(len(a), len(b)), 31):
            for session, data in ((0, a), (1, b)):
                chunk = data[i : i + 31]
                if chunk:
                    out.append((session << 5) | len(chunk))
                    out += chunk
            out.append(224)
        seeds.append(bytes(out))
    return seeds


def client_seeds(recs):
    """Real PubAck and MsgProto payloads as raw server input to the client
    session (see stan_core::fuzzing::client_session)."""
    seeds = []
    for rec in recs:
        msgs = nats_msgs(rec["s2c"])
        # PubAcks come on the acks inbox; deliveries are MsgProtos (field 1,
        # the sequence, first: tag 0x08) on any other subject.
        acks = [p for s, p in msgs if b"acks" in s.lower() and 0 < len(p) <= 63]
        dlv = [
            p
            for s, p in msgs
            if b"acks" not in s.lower() and 0 < len(p) <= 63 and p[0] == 0x08
        ]
        if not acks and not dlv:
            continue
        # cfg 0x01: two PubAcks in flight; answer the connect (request 0).
        out = bytearray([0x01, 0, 0, 0])
        for p in acks[:16]:
            out += bytes([1, 0, 4])  # publish on channel 0, 4 bytes
            out += bytes([2, 0x7F, 2, len(p)]) + p  # raw PubAck bytes
        if dlv:
            out += bytes([3, 2, 0])  # subscribe (from the first)
            out += bytes([0, 1, 0])  # answer request 1 (the subscription)
            for k, p in enumerate(dlv[:16]):
                out += bytes([4, 0, k + 1, 0x80 | len(p)]) + p
                out += bytes([5, 0, k + 1])  # ack it
        out += bytes([9, 1])  # a second passes
        seeds.append(bytes(out))
    return seeds


def load(record_dir):
    recs = []
    names = sorted(
        (f[: -len(".c2s")] for f in os.listdir(record_dir) if f.endswith(".c2s")),
        key=lambda n: int(n) if n.isdigit() else n,
    )
    for n in names:
        base = os.path.join(record_dir, n)
        rec = {}
        for key in ("c2s", "s2c"):
            with open(base + "." + key, "rb") as f:
                rec[key] = f.read()
        try:
            with open(base + ".json") as f:
                rec["sizes"] = json.load(f)
        except (OSError, ValueError):
            rec["sizes"] = {"c2s": [], "s2c": []}
        if rec["c2s"] or rec["s2c"]:
            recs.append(rec)
    return recs


def write(corpus_root, target, seeds):
    d = os.path.join(corpus_root, target)
    os.makedirs(d, exist_ok=True)
    seen = set()
    written = 0
    for s in seeds:
        if len(s) >= 16 * 1024 or not s:
            s = s[: 16 * 1024 - 1]
        h = hashlib.sha1(s).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        if written >= MAX_PER_TARGET:
            break
        path = os.path.join(d, h)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(s)
        written += 1
    print(f"{target}: {written} seeds in {d}")


def spread(seeds, n):
    """At most n seeds, spread over the list (every client kind kept)."""
    if len(seeds) <= n:
        return seeds
    return [seeds[i * len(seeds) // n] for i in range(n)]


def convert(record_dir, corpus_root):
    recs = load(record_dir)
    if not recs:
        sys.exit("fuzz-seeds: nothing recorded")
    write(corpus_root, "decode_chunked", spread(decode_chunked_seeds(recs), MAX_PER_TARGET))
    write(corpus_root, "router_session", spread(router_seeds(recs), MAX_PER_TARGET))
    write(corpus_root, "client_session", spread(client_seeds(recs), MAX_PER_TARGET))


def main(argv):
    if len(argv) == 5 and argv[1] == "proxy":
        asyncio.run(proxy(int(argv[2]), int(argv[3]), argv[4]))
    elif len(argv) == 4 and argv[1] == "convert":
        convert(argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
