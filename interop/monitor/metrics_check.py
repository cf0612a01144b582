#!/usr/bin/env python3
"""Checks a STAN server's /metrics with the official Prometheus client's
parser, and its JSON endpoints and dashboard assets, against the state the
scenario set up (EXPECT.json, written by scenario.js).

usage: metrics_check.py BASE_URL EXPECT.json [embedded|external]
  BASE_URL  e.g. http://127.0.0.1:8222 (the monitoring port, loopback)
  mode      embedded (default): the server runs its own NATS server, whose
            endpoints and nats_* families must be there; external (-ns):
            they must be absent (404, no nats_* family)

Prints one line per check, "ok NAME (info)" or "FAIL NAME: details", then
"metrics: N passed, M failed"; exits 1 if a check failed. Metric names are
those documented in monitor/src/prometheus.rs.
"""

import json
import sys
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT = 10  # seconds per request

passes = 0
failures = 0


def check(name, ok, detail=""):
    global passes, failures
    if ok:
        passes += 1
        print(f"ok {name}" + (f" ({detail})" if detail else ""))
    else:
        failures += 1
        print(f"FAIL {name}: {detail}")
    return ok


def get(base, path):
    """(status, content type, body text) of GET base+path."""
    try:
        with urllib.request.urlopen(base + path, timeout=TIMEOUT) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode("utf-8", "replace")


def is_num(v):
    """A sample value (the parser gives ints or floats)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def sub_key(channel, client, durable, queue):
    return (channel, client, durable or "", queue or "")


def main():
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] not in ("embedded", "external")):
        print(__doc__, file=sys.stderr)
        return 64
    external = len(sys.argv) == 4 and sys.argv[3] == "external"
    base = sys.argv[1].rstrip("/")
    with open(sys.argv[2], encoding="utf-8") as f:
        expect = json.load(f)

    # ------------------------------------------------------------ assets
    for path, ctype, marker in [
        ("/", "text/html", "<!DOCTYPE html>"),
        ("/index.html", "text/html", "<!DOCTYPE html>"),
        ("/app.js", "text/javascript", "streaming/channelsz?subs=1"),
        ("/style.css", "text/css", ".sub-row"),
    ]:
        status, ct, body = get(base, path)
        check(f"asset {path}", status == 200 and ct.startswith(ctype) and marker in body,
              f"HTTP {status}, {ct}, {len(body)} chars")
    status, _, _ = get(base, "/no-such-asset.js")
    check("asset 404", status == 404, f"HTTP {status} for /no-such-asset.js")

    # ------------------------------------------------------------ JSON
    status, ct, body = get(base, "/streaming/channelsz?subs=1")
    channelsz = json.loads(body) if status == 200 else {}
    check("json channelsz", status == 200 and ct.startswith("application/json"), f"HTTP {status}, {ct}")
    status, ct, body = get(base, "/streaming/serverz")
    serverz = json.loads(body) if status == 200 else {}
    check("json serverz", status == 200, f"HTTP {status}")
    for field in ("clients", "channels", "subscriptions"):
        want = expect["summary"][field]
        check(f"json serverz.{field}", serverz.get(field) == want, f"{serverz.get(field)}, expected {want}")
    jchan = {c["name"]: c for c in channelsz.get("channels", [])}
    jsubs = {}
    for c in channelsz.get("channels", []):
        for s in c.get("subscriptions", []) or []:
            jsubs[sub_key(c["name"], s["client_id"], s.get("durable_name"), s.get("queue_name"))] = s
    for want in expect["channels"]:
        c = jchan.get(want["name"])
        if c is None:
            check(f"json channel {want['name']}", False, f"absent; channels {sorted(jchan)}")
            continue
        probs = []
        for field, key in (("msgs", "msgs"), ("first_seq", "first_seq"), ("last_seq", "last_seq"), ("subs", "subs_count")):
            if field in want and c.get(key) != want[field]:
                probs.append(f"{key} {c.get(key)} != {want[field]}")
        if "min_msgs" in want and not c.get("msgs", 0) >= want["min_msgs"]:
            probs.append(f"msgs {c.get('msgs')} < {want['min_msgs']}")
        check(f"json channel {want['name']}", not probs, "; ".join(probs) or f"msgs {c['msgs']}, seq {c['first_seq']}..{c['last_seq']}")
    for want in expect["subs"]:
        key = sub_key(want["channel"], want["client"], want.get("durable"), want.get("queue"))
        s = jsubs.get(key)
        label = f"json sub {'/'.join(k for k in key if k)}"
        if s is None:
            check(label, False, f"absent; subscriptions {sorted(jsubs)}")
            continue
        probs = []
        for field, jkey in (("pending", "pending_count"), ("max_inflight", "max_inflight"), ("last_sent", "last_sent"),
                            ("stalled", "is_stalled"), ("offline", "is_offline")):
            if field in want and s.get(jkey) != want[field]:
                probs.append(f"{jkey} {s.get(jkey)} != {want[field]}")
        check(label, not probs, "; ".join(probs) or f"pending {s['pending_count']}/{s['max_inflight']}, stalled {s['is_stalled']}")

    # ------------------------------------------------------------ /metrics
    status, ct, text = get(base, "/metrics")
    check("metrics_http", status == 200 and ct.startswith("text/plain"), f"HTTP {status}, {ct}, {len(text)} chars")
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError (and others) on bad input
        check("metrics_parse", False, f"{type(e).__name__}: {e}")
        return finish()
    nsamples = sum(len(f.samples) for f in families)
    check("metrics_parse", len(families) > 0, f"{len(families)} families, {nsamples} samples")

    undocumented = [f.name for f in families if not f.documentation or f.type == "unknown"]
    check("metrics_help_and_type", not undocumented, f"families without HELP or TYPE: {undocumented}")

    series = {}
    dups = []
    for fam in families:
        for s in fam.samples:
            k = (s.name, frozenset(s.labels.items()))
            if k in series:
                dups.append(s.name + str(dict(s.labels)))
            series[k] = s.value
    check("metrics_no_duplicate_series", not dups, ", ".join(dups[:5]))

    def samples(name):
        return [(dict(labels), v) for (n, labels), v in series.items() if n == name]

    def one(name, **labels):
        vals = [v for ls, v in samples(name) if all(ls.get(k, "") == want for k, want in labels.items())]
        return vals[0] if len(vals) == 1 else (None if not vals else f"{len(vals)} series")

    check("stan_up", one("stan_up") == 1, f"{one('stan_up')}")
    info = samples("stan_server_info")
    check("stan_server_info", len(info) == 1 and info[0][0].get("cluster_id") == expect["cluster_id"] and info[0][1] == 1,
          f"{info}")
    for field in ("clients", "channels", "subscriptions"):
        want = expect["summary"][field]
        got = one(f"stan_{field}")
        check(f"stan_{field}", got == want, f"{got}, expected {want}")
    for name in ("stan_received_messages_total", "stan_sent_messages_total"):
        got = one(name)
        check(name, is_num(got) and got >= 15, f"{got}")

    for want in expect["channels"]:
        ch = want["name"]
        probs = []
        got = {m: one(f"stan_channel_{m}", channel=ch)
               for m in ("messages", "bytes", "first_sequence", "last_sequence", "subscriptions")}
        for field, metric in (("msgs", "messages"), ("first_seq", "first_sequence"), ("last_seq", "last_sequence"),
                              ("subs", "subscriptions")):
            if field in want and got[metric] != want[field]:
                probs.append(f"stan_channel_{metric} {got[metric]} != {want[field]}")
        if "min_msgs" in want and not (is_num(got["messages"]) and got["messages"] >= want["min_msgs"]):
            probs.append(f"stan_channel_messages {got['messages']} < {want['min_msgs']}")
        c = jchan.get(ch)
        if c is not None and "msgs" in want and got["bytes"] != c.get("bytes"):
            probs.append(f"stan_channel_bytes {got['bytes']} != channelsz bytes {c.get('bytes')}")
        check(f"metrics channel {json.dumps(ch)}", not probs,
              "; ".join(probs) or f"messages {got['messages']}, last seq {got['last_sequence']}")

    # Every channel label value is a channel of channelsz (the special
    # characters survive the exposition's escaping).
    labels = sorted({ls.get("channel") for ls, _ in samples("stan_channel_messages")}, key=str)
    check("metrics_channel_labels", set(labels) == set(jchan), f"{labels} vs channelsz {sorted(jchan)}")

    for want in expect["subs"]:
        sel = dict(channel=want["channel"], client_id=want["client"], durable=want.get("durable", ""), queue=want.get("queue", ""))
        label = f"metrics sub {'/'.join(v for v in sel.values() if v)}"
        probs = []
        checks = [("pending", "stan_subscription_pending_messages", lambda v: v),
                  ("max_inflight", "stan_subscription_max_inflight_messages", lambda v: v),
                  ("last_sent", "stan_subscription_last_sent_sequence", lambda v: v),
                  ("stalled", "stan_subscription_stalled", lambda v: 1 if v else 0),
                  ("offline", "stan_subscription_offline", lambda v: 1 if v else 0)]
        shown = {}
        for field, metric, conv in checks:
            if field not in want:
                continue
            got = one(metric, **sel)
            shown[field] = got
            if got != conv(want[field]):
                probs.append(f"{metric} {got} != {conv(want[field])}")
        check(label, not probs, "; ".join(probs) or ", ".join(f"{k} {v:g}" for k, v in shown.items()))
    nstalled = sum(1 for _, v in samples("stan_subscription_stalled") if v == 1)
    want_stalled = sum(1 for s in expect["subs"] if s.get("stalled"))
    check("metrics_stalled_count", nstalled == want_stalled, f"{nstalled} series at 1, expected {want_stalled}")

    # The embedded NATS server's families and endpoints, or their absence.
    nats_families = sorted(f.name for f in families if f.name.startswith("nats_"))
    status, _, _ = get(base, "/varz")
    if external:
        check("nats_absent", not nats_families and status == 404,
              f"/varz HTTP {status}, nats_* families {nats_families}")
    else:
        conns = one("nats_connections")
        check("nats_connections", is_num(conns) and conns >= 5, f"{conns}")
        check("nats_varz", status == 200, f"/varz HTTP {status}")
    return finish()


def finish():
    print(f"metrics: {passes} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
