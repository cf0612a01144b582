#!/usr/bin/env node
// NATS core interop scenario using the official Node.js client (npm `nats` 2.x).
//
// usage: node node_interop.mjs URL MODE [USER PASS | TOKEN]
//   MODE: none | user | bcrypt | token
//
// The `nats` package is resolved from interop/node/node_modules (relative to
// this file), so the script runs from any working directory; NODE_PATH is
// honoured as a fallback. Prints PASS/FAIL lines, exits 1 on any failure,
// 2 on the global watchdog. Every await is bounded by a timeout.
import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";

const require = createRequire(new URL("../node/package.json", import.meta.url));
const natsPkg = require("nats");
const natsVersion = require("nats/package.json").version;
const { connect, headers: mkHeaders, ErrorCode } = natsPkg;

const CLIENT = "node";
const TIMEOUT = 5000; // per-operation bound (ms)
const GRACE = 300; // extra wait for unexpected extra deliveries (ms)
const WATCHDOG = 50000; // whole-scenario bound (ms)
const MAX_PAYLOAD = 1024 * 1024;

let passes = 0;
let failures = 0;

function check(name, ok, detail = "") {
  if (ok) passes++;
  else failures++;
  console.log(`${ok ? "PASS" : "FAIL"} [${CLIENT}] ${name}${detail ? " -- " + detail : ""}`);
  return ok;
}

const watchdog = setTimeout(() => {
  console.log(`FAIL [${CLIENT}] watchdog: scenario exceeded ${WATCHDOG / 1000}s`);
  process.exit(2);
}, WATCHDOG);

function withTimeout(p, ms = TIMEOUT, what = "operation") {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);

function bytesEqual(a, b) {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

async function natsConnect(url, name, creds) {
  return withTimeout(
    connect({
      servers: url,
      name,
      reconnect: false,
      maxReconnectAttempts: 0,
      timeout: 3000,
      ...creds,
    }),
    TIMEOUT,
    "connect",
  );
}

// Subscription that collects messages via callback.
function collector(nc, subject, opts = {}) {
  const msgs = [];
  const sub = nc.subscribe(subject, {
    ...opts,
    callback: (err, m) => {
      if (!err) msgs.push(m);
    },
  });
  return { sub, msgs };
}

// Wait until at least `expected` msgs (bounded), then `grace` more ms for extras.
async function waitCount(col, expected, timeout = TIMEOUT, grace = GRACE) {
  const deadline = Date.now() + timeout;
  while (col.msgs.length < expected && Date.now() < deadline) await sleep(5);
  await sleep(grace);
  return col.msgs;
}

async function step(name, fn) {
  try {
    await withTimeout(fn(), 30000, name);
  } catch (e) {
    check(`${name}: completed without exception`, false, `${e?.code ?? ""} ${e?.message ?? e}`);
  }
}

// ------------------------------------------------------------------ scenarios

async function sConnect(c, a, b) {
  check("connect: connected (A)", !a.isClosed(), `server ${a.info?.version}`);
  check("connect: connected (B)", !b.isClosed());
  await withTimeout(a.flush(), TIMEOUT, "flush");
  const rtt = await withTimeout(b.rtt(), TIMEOUT, "rtt");
  check("connect: flush + PING/PONG round trip", true, `rtt ${rtt} ms`);
  check("connect: server INFO max_payload == 1048576", a.info.max_payload === MAX_PAYLOAD, `got ${a.info.max_payload}`);
  check("connect: server INFO headers == true", a.info.headers === true);
  const ar = !!a.info.auth_required;
  check("connect: server INFO auth_required matches mode", ar === (c.mode !== "none"), `auth_required=${ar}`);
}

async function sPubSub(c, a, b) {
  const s = c.subj("lit");
  const col = collector(a, s);
  await a.flush();
  b.publish(s, enc("hello"));
  await b.flush();
  const got = await waitCount(col, 1);
  check("pubsub: literal subject delivers exactly 1 msg", got.length === 1, `got ${got.length}`);
  if (got.length) {
    check("pubsub: payload + subject intact", dec(got[0].data) === "hello" && got[0].subject === s, `${got[0].subject}`);
  }
  col.sub.unsubscribe();

  const root = c.subj("foo");
  const star = collector(a, `${root}.*`);
  const gt = collector(a, `${root}.>`);
  const lit = collector(a, root);
  await a.flush();
  for (const subj of [`${root}.bar`, `${root}.bar.baz`, root, c.subj("other.bar")]) b.publish(subj, enc(subj));
  await b.flush();
  await waitCount(star, 1, TIMEOUT, 0);
  await waitCount(gt, 2, TIMEOUT, 0);
  await waitCount(lit, 1, TIMEOUT, GRACE);
  const subs = (col) => col.msgs.map((m) => m.subject);
  check("wildcard: foo.* gets only foo.bar (1 msg)",
    JSON.stringify(subs(star)) === JSON.stringify([`${root}.bar`]), JSON.stringify(subs(star)));
  check("wildcard: foo.> gets foo.bar + foo.bar.baz (2 msgs)",
    JSON.stringify(subs(gt).sort()) === JSON.stringify([`${root}.bar`, `${root}.bar.baz`].sort()), JSON.stringify(subs(gt)));
  check("wildcard: literal foo gets only foo (1 msg)",
    JSON.stringify(subs(lit)) === JSON.stringify([root]), JSON.stringify(subs(lit)));
  check("wildcard: MSG carries published subject and payload",
    [...star.msgs, ...gt.msgs, ...lit.msgs].every((m) => dec(m.data) === m.subject));
  for (const x of [star, gt, lit]) x.sub.unsubscribe();
}

async function sQueue(c, a, b) {
  const s = c.subj("q");
  const qs = [0, 1, 2].map(() => collector(a, s, { queue: "workers" }));
  const plain = collector(a, s);
  await a.flush();
  const n = 30;
  for (let i = 0; i < n; i++) b.publish(s, enc(String(i)));
  await b.flush();
  await waitCount(plain, n, TIMEOUT, 0);
  const deadline = Date.now() + TIMEOUT;
  const total = () => qs.reduce((acc, q) => acc + q.msgs.length, 0);
  while (total() < n && Date.now() < deadline) await sleep(5);
  await sleep(GRACE);
  const per = qs.map((q) => q.msgs.length);
  check("queue: plain subscriber gets all 30", plain.msgs.length === n, `got ${plain.msgs.length}`);
  check("queue: group members total exactly 30", total() === n, `per member ${JSON.stringify(per)}`);
  const seen = qs.flatMap((q) => q.msgs.map((m) => Number(dec(m.data)))).sort((x, y) => x - y);
  check("queue: each message delivered to exactly one member",
    JSON.stringify(seen) === JSON.stringify([...Array(n).keys()]));
  for (const x of [...qs, plain]) x.sub.unsubscribe();
}

async function sRequest(c, a, b) {
  const s = c.subj("svc");
  const rsub = a.subscribe(s, { callback: (err, m) => { if (!err) m.respond(enc("re:" + dec(m.data))); } });
  await a.flush();
  const r = await b.request(s, enc("ping"), { timeout: TIMEOUT });
  check("request: reply received from responder", dec(r.data) === "re:ping", dec(r.data));
  rsub.unsubscribe();

  const t0 = Date.now();
  try {
    await b.request(c.subj("nobody.home"), enc("x"), { timeout: TIMEOUT });
    check("no-responders: request fails fast with NoResponders error", false, "got a reply");
  } catch (e) {
    const el = Date.now() - t0;
    check("no-responders: request fails fast with NoResponders error",
      e?.code === ErrorCode.NoResponders && el < 2000, `code=${e?.code} message='${e?.message}' after ${el} ms`);
  }
}

async function sHeaders(c, a, b) {
  const s = c.subj("hdr");
  const col = collector(a, s);
  await a.flush();
  const h = mkHeaders();
  h.append("X-Single", "one");
  h.append("X-Multi", "a");
  h.append("X-Multi", "b");
  h.append("X-Other", "two words");
  b.publish(s, enc("with headers"), { headers: h });
  await b.flush();
  const got = await waitCount(col, 1);
  const ok = got.length === 1 && got[0].headers;
  check("headers: message with headers delivered", !!ok, `got ${got.length}`);
  if (ok) {
    const gh = got[0].headers;
    check("headers: single values intact", gh.get("X-Single") === "one" && gh.get("X-Other") === "two words",
      `X-Single=${gh.get("X-Single")} X-Other=${gh.get("X-Other")}`);
    check("headers: multi-value header keeps both values in order",
      JSON.stringify(gh.values("X-Multi")) === JSON.stringify(["a", "b"]), JSON.stringify(gh.values("X-Multi")));
    check("headers: payload intact", dec(got[0].data) === "with headers");
  }
  col.sub.unsubscribe();

  const rs = c.subj("hsvc");
  const rsub = a.subscribe(rs, {
    callback: (err, m) => {
      if (err) return;
      const rh = mkHeaders();
      rh.set("X-Echo", m.headers?.get("X-Req") || "missing");
      for (const v of m.headers?.values("X-Multi") || []) rh.append("X-Multi-Echo", v);
      rh.set("X-Resp", "yes");
      m.respond(enc("ok"), { headers: rh });
    },
  });
  await a.flush();
  const qh = mkHeaders();
  qh.set("X-Req", "v1");
  qh.append("X-Multi", "m1");
  qh.append("X-Multi", "m2");
  const r = await b.request(rs, enc("q"), { timeout: TIMEOUT, headers: qh });
  const get = (k) => r.headers?.get(k);
  check("headers: request/reply carries headers both ways",
    get("X-Echo") === "v1" && get("X-Resp") === "yes" && dec(r.data) === "ok" &&
      JSON.stringify(r.headers?.values("X-Multi-Echo")) === JSON.stringify(["m1", "m2"]),
    `X-Echo=${get("X-Echo")} X-Resp=${get("X-Resp")} X-Multi-Echo=${JSON.stringify(r.headers?.values("X-Multi-Echo"))}`);
  rsub.unsubscribe();
}

async function expectNoResponders(b, subj, label) {
  try {
    await b.request(subj, enc("x"), { timeout: 2000 });
    check(label, false, "got reply");
  } catch (e) {
    check(label, e?.code === ErrorCode.NoResponders, `code=${e?.code} ${e?.message}`);
  }
}

async function sAutoMax(c, a, b) {
  // subscribe(..., {max: 3}) sends SUB then UNSUB <sid> 3
  const s = c.subj("max");
  const col = collector(a, s, { max: 3 });
  await a.flush();
  for (let i = 0; i < 10; i++) b.publish(s, enc(String(i)));
  await b.flush();
  await waitCount(col, 3);
  check("auto-unsubscribe: {max:3} delivers exactly 3 of 10",
    JSON.stringify(col.msgs.map((m) => dec(m.data))) === JSON.stringify(["0", "1", "2"]),
    JSON.stringify(col.msgs.map((m) => dec(m.data))));
  check("auto-unsubscribe: subscription closed client-side", col.sub.isClosed());
  await expectNoResponders(b, s, "auto-unsubscribe: server dropped interest (request -> no responders)");

  // sub.unsubscribe(2) after subscribing
  const s2 = c.subj("max2");
  const col2 = collector(a, s2);
  col2.sub.unsubscribe(2);
  await a.flush();
  for (let i = 0; i < 5; i++) b.publish(s2, enc(String(i)));
  await b.flush();
  await waitCount(col2, 2);
  check("auto-unsubscribe: unsubscribe(2) delivers exactly 2 of 5", col2.msgs.length === 2, `got ${col2.msgs.length}`);
  await expectNoResponders(b, s2, "auto-unsubscribe(2): server dropped interest (request -> no responders)");

  const s3 = c.subj("unsub");
  const col3 = collector(a, s3);
  await a.flush();
  col3.sub.unsubscribe();
  await a.flush();
  await expectNoResponders(b, s3, "unsubscribe: server dropped interest (request -> no responders)");
}

async function sPayload(c, a, b) {
  const s = c.subj("big");
  const rsub = a.subscribe(s, { callback: (err, m) => { if (!err) m.respond(m.data); } });
  await a.flush();
  const big = randomBytes(512 * 1024);
  let r = await b.request(s, big, { timeout: TIMEOUT });
  check("payload: 512 KiB round-trips intact", bytesEqual(r.data, big), `len ${r.data.length}`);
  const exact = randomBytes(MAX_PAYLOAD);
  r = await b.request(s, exact, { timeout: TIMEOUT });
  check("payload: exactly max_payload (1 MiB) round-trips intact", bytesEqual(r.data, exact), `len ${r.data.length}`);
  rsub.unsubscribe();

  const tooBig = new Uint8Array(MAX_PAYLOAD + 1);
  try {
    b.publish(s, tooBig);
    await withTimeout(b.flush(), TIMEOUT, "flush").catch(() => {});
    await sleep(500);
    check("payload: > max_payload rejected", b.isClosed(), "client did not reject locally and connection still open");
  } catch (e) {
    check("payload: > max_payload rejected", true, `client-side code=${e?.code} message='${e?.message}'`);
  }
}

async function sAuthNeg(c) {
  const bad = [];
  if (c.mode === "user" || c.mode === "bcrypt") {
    bad.push(["wrong password", { user: c.creds.user, pass: c.creds.pass + "x" }]);
    bad.push(["wrong user", { user: c.creds.user + "x", pass: c.creds.pass }]);
  } else if (c.mode === "token") {
    bad.push(["wrong token", { token: c.creds.token + "x" }]);
  }
  bad.push(["no credentials", {}]);
  for (const [label, creds] of bad) {
    const t0 = Date.now();
    try {
      const nc = await natsConnect(c.url, "node-interop-bad", creds);
      await nc.close();
      check(`auth: ${label} rejected`, false, "connected");
    } catch (e) {
      const el = Date.now() - t0;
      check(`auth: ${label} rejected with 'Authorization Violation'`,
        e?.code === ErrorCode.AuthorizationViolation && /authorization violation/i.test(String(e?.message)),
        `code=${e?.code} message='${e?.message}' after ${el} ms`);
    }
  }
}

async function main(argv) {
  if (argv.length < 2) {
    console.error("usage: node_interop.mjs URL MODE [USER PASS | TOKEN]");
    return 64;
  }
  const [url, mode] = argv;
  let creds = {};
  if (mode === "user" || mode === "bcrypt") creds = { user: argv[2], pass: argv[3] };
  else if (mode === "token") creds = { token: argv[2] };
  else if (mode !== "none") {
    console.error(`unknown mode ${mode}`);
    return 64;
  }
  const uniq = `${process.pid}_${Date.now() % 1000000}`;
  const c = { url, mode, creds, subj: (s) => `node${uniq}.${s}` };
  console.log(`# [${CLIENT}] nats.js ${natsVersion} node ${process.version} url=${url} mode=${mode}`);
  let a, b;
  try {
    a = await natsConnect(url, "node-interop-a", creds);
    b = await natsConnect(url, "node-interop-b", creds);
  } catch (e) {
    check("connect: with valid credentials", false, `${e?.code} ${e?.message}`);
    return 1;
  }
  try {
    await step("connect", () => sConnect(c, a, b));
    await step("pubsub", () => sPubSub(c, a, b));
    await step("queue", () => sQueue(c, a, b));
    await step("request", () => sRequest(c, a, b));
    await step("headers", () => sHeaders(c, a, b));
    await step("auto-unsubscribe", () => sAutoMax(c, a, b));
    if (mode === "none") await step("payload", () => sPayload(c, a, b));
    else await step("auth", () => sAuthNeg(c));
  } finally {
    for (const nc of [a, b]) {
      try {
        if (!nc.isClosed()) await withTimeout(nc.close(), TIMEOUT, "close");
      } catch { /* ignore */ }
    }
  }
  console.log(`# [${CLIENT}] mode=${mode}: ${passes} passed, ${failures} failed`);
  return failures ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (rc) => {
    clearTimeout(watchdog);
    process.exit(rc);
  },
  (e) => {
    console.log(`FAIL [${CLIENT}] unexpected error: ${e?.stack ?? e}`);
    process.exit(1);
  },
);
