#!/usr/bin/env node
// Slow subscriber (npm `nats` 2.x) for the flow-control kit.
//
// usage: node slow_sub.mjs URL SUBJECT COUNT
// env:   FLOW_WORK_US  busy work per message in microseconds (default 70)
//        FLOW_TIMEOUT  overall bound in seconds (default 110)
//        FLOW_IDLE     give up after this many seconds without a message (default 15)
//
// Subscribes with a message callback (nats.js has no client-side pending
// limit for callback subscriptions: the callback runs synchronously from the
// protocol parser, so a slow callback slows the socket reads), flushes,
// prints READY, then hashes each payload and spins until FLOW_WORK_US have
// passed. Every sequence number 0..COUNT-1 (10-digit prefix of the payload)
// must arrive exactly once and the connection must never report a
// disconnect/error status or close. Prints INFO and PASS/FAIL lines, exit 1
// on any failure. `nats` is resolved from interop/node/node_modules.
import { createRequire } from "node:module";
import { createHash } from "node:crypto";

const require = createRequire(new URL("../node/package.json", import.meta.url));
const { connect } = require("nats");

const TAG = "node";
let failures = 0;
const out = (s) => console.log(s);
function check(name, ok, detail = "") {
  if (!ok) failures++;
  out(`${ok ? "PASS" : "FAIL"} [${TAG}] ${name}${detail ? " -- " + detail : ""}`);
}

const [url, subject, countArg] = process.argv.slice(2);
if (!url || !subject || !countArg) {
  console.error("usage: node slow_sub.mjs URL SUBJECT COUNT");
  process.exit(64);
}
const count = parseInt(countArg, 10);
const workNs = BigInt(Math.round(parseFloat(process.env.FLOW_WORK_US ?? "70") * 1000));
const timeoutMs = parseFloat(process.env.FLOW_TIMEOUT ?? "110") * 1000;
const idleMs = parseFloat(process.env.FLOW_IDLE ?? "15") * 1000;

const tStart = Date.now();
const events = []; // [seconds since start, what]
let closing = false;
let wake = null;
const signal = () => {
  if (wake) {
    const w = wake;
    wake = null;
    w();
  }
};
function event(what) {
  if (closing) return;
  events.push([(Date.now() - tStart) / 1000, what]);
  signal();
}

let nc;
try {
  nc = await connect({
    servers: url,
    name: `flow-slow-sub-${TAG}`,
    reconnect: false,
    maxReconnectAttempts: 0,
    timeout: 3000,
  });
} catch (e) {
  check(`${subject}: subscriber connect`, false, `${e.code ?? ""} ${e.message}`);
  process.exit(1);
}

(async () => {
  for await (const s of nc.status()) {
    if (s.type === "disconnect" || s.type === "error" || s.type === "reconnect" || s.type === "ldm") {
      event(`status ${s.type}${s.data !== undefined ? " " + JSON.stringify(s.data) : ""}`);
    }
  }
})().catch(() => {});
nc.closed().then((err) => event(`closed${err ? ": " + err.message : ""}`));

const seen = new Uint8Array(count);
let n = 0,
  dups = 0,
  bad = 0,
  first = null,
  last = null;

nc.subscribe(subject, {
  callback: (err, m) => {
    if (err) {
      event(`subscription error: ${err.code ?? ""} ${err.message}`);
      return;
    }
    const tEnd = process.hrtime.bigint() + workNs;
    const d = m.data;
    const h = createHash("sha256").update(d).digest();
    createHash("sha256").update(h).update(d.subarray(0, 64)).digest();
    let seq = 0;
    let okSeq = d.length >= 10;
    for (let i = 0; i < 10 && okSeq; i++) {
      const c = d[i] - 48;
      if (c < 0 || c > 9) okSeq = false;
      else seq = seq * 10 + c;
    }
    if (okSeq && seq < count) {
      if (seen[seq]) dups++;
      seen[seq] = 1;
    } else bad++;
    n++;
    const now = Date.now();
    if (first === null) first = now;
    last = now;
    if (n >= count) signal();
    while (process.hrtime.bigint() < tEnd) {
      /* busy work */
    }
  },
});
try {
  await nc.flush();
} catch (e) {
  check(`${subject}: subscribe + flush`, false, e.message);
  process.exit(1);
}
out("READY");
const tReady = Date.now();

let why = null;
while (true) {
  if (n >= count || events.length > 0) break;
  await new Promise((r) => {
    wake = r;
    setTimeout(signal, 500);
  });
  const now = Date.now();
  if (now - tStart > timeoutMs) {
    why = `TIMEOUT after ${timeoutMs / 1000}s`;
    break;
  }
  if (now - (last ?? tReady) > idleMs) {
    why = `no message for ${idleMs / 1000}s`;
    break;
  }
}
if (why === null && n >= count) await new Promise((r) => setTimeout(r, 300));
closing = true;
const el = first !== null ? (last - first) / 1000 : 0;
out(
  `INFO [${TAG}] ${subject}: received ${n} msgs in ${el.toFixed(2)}s after the first ` +
    `(${el > 0 ? Math.round(n / el) : 0} msg/s, work ${Number(workNs) / 1000} us/msg)` +
    (why ? `; stopped: ${why}` : ""),
);
let got = 0;
for (let i = 0; i < count; i++) got += seen[i];
const missing = count - got;
check(`${subject}: all ${count} messages received`, n === count && why === null, `got ${n}${why ? " (" + why + ")" : ""}`);
check(
  `${subject}: every sequence number seen exactly once`,
  missing === 0 && dups === 0 && bad === 0,
  `missing ${missing}, duplicates ${dups}, malformed ${bad}`,
);
const ev = events
  .slice(0, 5)
  .map(([t, w]) => `${t.toFixed(2)}s ${w}`)
  .join("; ");
check(
  `${subject}: connection never disconnected/closed, no slow-consumer/async error`,
  events.length === 0 && !nc.isClosed(),
  ev || (nc.isClosed() ? "closed at the end" : "none"),
);
try {
  await Promise.race([nc.close(), new Promise((r) => setTimeout(r, 5000))]);
} catch {
  /* ignore */
}
process.exit(failures ? 1 : 0);
