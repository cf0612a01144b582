#!/usr/bin/env node
// NATS cluster interop scenario using the official Node.js client (npm `nats` 2.x).
//
// usage: node node_cluster.mjs CTL_DIR KILL URL1 URL2 URL3
//   URL1..3  client URLs of the three cluster nodes (N1, N2, N3)
//   KILL     index (1..3) of the node run.sh kills (SIGKILL) and restarts
//   CTL_DIR  control directory shared with run.sh: this scenario creates
//            kill.req / restart.req and waits for kill.done / restart.done
//
// `nats` is resolved from interop/node/node_modules. Prints PASS/FAIL lines,
// exits 1 on any failure, 2 on the global watchdog. Every wait is bounded;
// readiness is polled.
import { createRequire } from "node:module";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(new URL("../node/package.json", import.meta.url));
const { connect, headers: mkHeaders, ErrorCode } = require("nats");
const natsVersion = require("nats/package.json").version;

const CLIENT = "node";
const TIMEOUT = 5000; // per-operation bound (ms)
const READY = 10000; // bound on interest / route propagation (ms)
const READY_DEGRADED = 1000; // the same bound once a readiness wait has failed
const GRACE = 300; // extra wait for unexpected extra deliveries (ms)
const WATCHDOG = 80000; // whole-scenario bound (ms)

let passes = 0;
let failures = 0;

function check(name, ok, detail = "") {
  if (ok) passes++;
  else failures++;
  console.log(`${ok ? "PASS" : "FAIL"} [${CLIENT}] ${name}${detail ? " -- " + detail : ""}`);
  return ok;
}
const note = (t) => console.log(`# [${CLIENT}] ${t}`);

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
const netloc = (u) => u.replace(/^[a-z-]+:\/\//, "").replace(/\/$/, "");
const sorted = (xs) => [...xs].sort();
const same = (x, y) => JSON.stringify(x) === JSON.stringify(y);

async function until(pred, bound) {
  const deadline = Date.now() + bound;
  for (;;) {
    if (pred()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
}

function natsConnect(url, name, extra = {}) {
  return withTimeout(
    connect({ servers: url, name, reconnect: false, maxReconnectAttempts: 0, timeout: 3000, ...extra }),
    TIMEOUT,
    `connect ${name}`,
  );
}

// Requests until a reply comes (no responders / timeouts retried).
async function requestUntil(nc, subj, data, bound = READY) {
  const deadline = Date.now() + bound;
  let last = "never tried";
  while (Date.now() < deadline) {
    try {
      return [await nc.request(subj, enc(data), { timeout: 500 }), "ok"];
    } catch (e) {
      last = e?.code === ErrorCode.NoResponders ? "no responders" : `${e?.code} ${e?.message}`;
      if (e?.code !== ErrorCode.Timeout) await sleep(20);
    }
  }
  return [null, last];
}

// True once a request to subj is answered by no-responders (interest gone).
async function noRespondersWithin(nc, subj, bound = TIMEOUT) {
  const deadline = Date.now() + bound;
  let last = "";
  while (Date.now() < deadline) {
    try {
      await nc.request(subj, enc("x"), { timeout: 500 });
      last = "answered";
      await sleep(20);
    } catch (e) {
      if (e?.code === ErrorCode.NoResponders) return [true, "no responders"];
      last = e?.code === ErrorCode.Timeout ? "timeout (the route still has the interest)" : `${e?.code} ${e?.message}`;
      if (e?.code !== ErrorCode.Timeout) await sleep(20);
    }
  }
  return [false, last];
}

function collector(nc, subject, opts = {}) {
  const msgs = [];
  const sub = nc.subscribe(subject, { ...opts, callback: (err, m) => { if (!err) msgs.push(m); } });
  return { sub, msgs };
}

function responder(nc, subject, fn, opts = {}) {
  return nc.subscribe(subject, {
    ...opts,
    callback: (err, m) => {
      if (!err) m.respond(enc(fn(m)));
    },
  });
}

async function step(c, name, fn, bound = 40000) {
  if (c.readyFailures) {
    check(`${name}: skipped (interest did not cross the routes in an earlier step)`, false);
    return;
  }
  try {
    await withTimeout(fn(), bound, name);
  } catch (e) {
    check(`${name}: completed without exception`, false, `${e?.code ?? ""} ${e?.message ?? e}`);
  }
}

const N = (i) => `N${i + 1}`;

// Waits until subNc's subscriptions so far are known where each of pubs =
// [[nc, name]] is connected: a probe responder subscribed last on subNc
// (interest crosses a route in order) is requested until answered.
async function ready(c, subNc, subName, pubs) {
  const probe = c.subj(`probe.${++c.probeN}`);
  const psub = responder(subNc, probe, () => "up");
  await withTimeout(subNc.flush(), TIMEOUT, "flush");
  let ok = true;
  for (const [nc, name] of pubs) {
    const t0 = Date.now();
    const [r, why] = await requestUntil(nc, probe, "?", c.readyBound);
    if (!r) {
      ok = check(`ready: interest of ${subName} reaches ${name}`, false, `no answer within ${c.readyBound / 1000}s (${why})`);
      c.readyBound = READY_DEGRADED; // fail fast from now on
      c.readyFailures++;
    } else if (Date.now() - t0 > 1000) note(`interest of ${subName} reached ${name} after ${(Date.now() - t0) / 1000}s`);
  }
  psub.unsubscribe();
  return ok;
}

async function readyAll(c, idxs) {
  for (const i of idxs) {
    await ready(c, c.cs[i], `${N(i)} sub`, [0, 1, 2].filter((j) => j !== i).map((j) => [c.cs[j], N(j)]));
  }
}

const gossiped = (nc) => nc.protocol.servers.getServers().filter((s) => s.gossiped).map((s) => s.listen);

// ------------------------------------------------------------------ scenarios

async function sGossip(c) {
  const deadline = Date.now() + READY; // one bound for the three
  for (let i = 0; i < 3; i++) {
    const want = c.urls.filter((_, j) => j !== i).map(netloc);
    const nc = c.cs[i];
    const ok = await until(() => want.every((w) => gossiped(nc).includes(w)), Math.max(0, deadline - Date.now()));
    check(`gossip: client on ${N(i)} learns the other nodes from INFO connect_urls`, ok,
      `gossiped servers ${JSON.stringify(sorted(gossiped(nc)))}, connect_urls ${JSON.stringify(nc.info?.connect_urls)}`);
  }
}

async function sPubSub(c) {
  const s = c.subj("plain");
  const cols = c.cs.map((nc) => collector(nc, s));
  await readyAll(c, [0, 1, 2]);
  const per = 10;
  for (let i = 0; i < 3; i++) {
    for (let k = 0; k < per; k++) c.cs[i].publish(s, enc(`${i}:${k}`));
    await c.cs[i].flush();
  }
  const want = [];
  for (let i = 0; i < 3; i++) for (let k = 0; k < per; k++) want.push(`${i}:${k}`);
  await until(() => cols.every((x) => x.msgs.length >= want.length), TIMEOUT);
  await sleep(GRACE);
  cols.forEach((col, i) => {
    const got = col.msgs.map((m) => dec(m.data));
    check(`pubsub: subscriber on ${N(i)} gets all 30 (10 from each node), none twice`,
      same(sorted(got), sorted(want)), `got ${got.length}`);
    const inOrder = [0, 1, 2].every((j) =>
      same(got.filter((g) => g.startsWith(`${j}:`)), [...Array(per).keys()].map((k) => `${j}:${k}`)));
    check(`pubsub: subscriber on ${N(i)} sees each publisher's order`, inOrder);
    col.sub.unsubscribe();
  });
}

async function sWildcards(c) {
  const root = c.subj("w");
  const patterns = [`${root}.*`, `${root}.>`, root];
  const cols = patterns.map((p, i) => collector(c.cs[i], p));
  await readyAll(c, [0, 1, 2]);
  const pubs = [`${root}.a`, `${root}.a.b`, root, c.subj("other.a")];
  for (let i = 0; i < 3; i++) {
    for (const p of pubs) c.cs[i].publish(p, enc(`${i}|${p}`));
    await c.cs[i].flush();
  }
  const from = (s) => [0, 1, 2].map((i) => `${i}|${s}`);
  const expect = [sorted(from(`${root}.a`)), sorted([...from(`${root}.a`), ...from(`${root}.a.b`)]), sorted(from(root))];
  await until(() => cols.every((x, i) => x.msgs.length >= expect[i].length), TIMEOUT);
  await sleep(GRACE);
  const labels = ["'*' on N1", "'>' on N2", "literal on N3"];
  cols.forEach((col, i) => {
    const got = sorted(col.msgs.map((m) => dec(m.data)));
    const subjOk = col.msgs.every((m) => dec(m.data).split("|")[1] === m.subject);
    check(`wildcards: ${labels[i]} gets exactly its matches from all 3 nodes`, same(got, expect[i]) && subjOk,
      JSON.stringify(got));
    col.sub.unsubscribe();
  });
}

async function sQueue(c) {
  const s = c.subj("q");
  const cols = c.cs.map((nc) => collector(nc, s, { queue: "workers" }));
  await readyAll(c, [0, 1, 2]);
  const per = 20;
  for (let i = 0; i < 3; i++) {
    for (let k = 0; k < per; k++) c.cs[i].publish(s, enc(`${i}:${k}`));
    await c.cs[i].flush();
  }
  const total = () => cols.reduce((a, x) => a + x.msgs.length, 0);
  await until(() => total() >= 3 * per, TIMEOUT);
  await sleep(GRACE);
  const got = sorted(cols.flatMap((x) => x.msgs.map((m) => dec(m.data))));
  const want = [];
  for (let i = 0; i < 3; i++) for (let k = 0; k < per; k++) want.push(`${i}:${k}`);
  check("queue: members on every node, 60 published from all nodes: received exactly once cluster-wide",
    same(got, sorted(want)), `per member ${JSON.stringify(cols.map((x) => x.msgs.length))}, total ${got.length}`);
  cols.forEach((x) => x.sub.unsubscribe());

  const s2 = c.subj("q2");
  const far = [1, 2].map((i) => collector(c.cs[i], s2, { queue: "far" }));
  for (const i of [1, 2]) await ready(c, c.cs[i], `${N(i)} queue member`, [[c.cs[0], "N1"]]);
  const m = 30;
  for (let k = 0; k < m; k++) c.cs[0].publish(s2, enc(String(k)));
  await c.cs[0].flush();
  await until(() => far[0].msgs.length + far[1].msgs.length >= m, TIMEOUT);
  await sleep(GRACE);
  const seen = far.flatMap((x) => x.msgs.map((mm) => Number(dec(mm.data)))).sort((x, y) => x - y);
  check("queue: members on N2+N3 only, 30 published on N1: each delivered to exactly one member",
    same(seen, [...Array(m).keys()]), `N2 ${far[0].msgs.length}, N3 ${far[1].msgs.length}`);
  far.forEach((x) => x.sub.unsubscribe());
}

async function sRequest(c) {
  const rsubs = c.cs.map((nc, i) => responder(nc, c.subj(`svc.${i}`), (m) => `${i}:${dec(m.data)}`));
  await readyAll(c, [0, 1, 2]);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (i === j) continue;
      let good = 0;
      for (let k = 0; k < 5; k++) {
        try {
          const r = await c.cs[j].request(c.subj(`svc.${i}`), enc(`q${k}`), { timeout: TIMEOUT });
          if (dec(r.data) === `${i}:q${k}`) good++;
        } catch (e) {
          note(`request ${N(j)} -> ${N(i)} failed: ${e?.code} ${e?.message}`);
        }
      }
      check(`request: ${N(j)} -> responder on ${N(i)}: 5 of 5 answered`, good === 5, `${good} ok`);
    }
  }
  rsubs.forEach((x) => x.unsubscribe());
}

async function sHeaders(c) {
  const s = c.subj("hdr");
  const col = collector(c.cs[1], s);
  await ready(c, c.cs[1], "N2 sub", [[c.cs[0], "N1"], [c.cs[2], "N3"]]);
  for (const i of [0, 2]) {
    const h = mkHeaders();
    h.append("X-From", String(i));
    h.append("X-Multi", "a");
    h.append("X-Multi", "b");
    h.append("X-Other", "two words");
    c.cs[i].publish(s, enc(`from ${i}`), { headers: h });
    await c.cs[i].flush();
  }
  await until(() => col.msgs.length >= 2, TIMEOUT);
  await sleep(GRACE);
  const ok = col.msgs.length === 2 && ["0", "2"].every((k) => {
    const m = col.msgs.find((x) => x.headers?.get("X-From") === k);
    return m && m.headers.get("X-Other") === "two words" && same(m.headers.values("X-Multi"), ["a", "b"]) &&
      dec(m.data) === `from ${k}`;
  });
  check("headers: HPUB from N1 and N3 reach a subscriber on N2 with headers intact (multi-value in order)", ok,
    JSON.stringify(col.msgs.map((m) => [m.headers?.toString(), dec(m.data)])));
  col.sub.unsubscribe();

  const rs = c.subj("hsvc");
  const rsub = c.cs[2].subscribe(rs, {
    callback: (err, m) => {
      if (err) return;
      const rh = mkHeaders();
      rh.set("X-Echo", m.headers?.get("X-Req") || "missing");
      for (const v of m.headers?.values("X-Multi") || []) rh.append("X-Multi-Echo", v);
      rh.set("X-Resp", "yes");
      m.respond(enc("ok"), { headers: rh });
    },
  });
  await ready(c, c.cs[2], "N3 responder", [[c.cs[0], "N1"]]);
  const qh = mkHeaders();
  qh.set("X-Req", "v1");
  qh.append("X-Multi", "m1");
  qh.append("X-Multi", "m2");
  try {
    const r = await c.cs[0].request(rs, enc("q"), { timeout: TIMEOUT, headers: qh });
    const get = (k) => r.headers?.get(k);
    check("headers: request N1 -> responder on N3 carries headers both ways",
      get("X-Echo") === "v1" && get("X-Resp") === "yes" && dec(r.data) === "ok" &&
        same(r.headers?.values("X-Multi-Echo"), ["m1", "m2"]),
      `X-Echo=${get("X-Echo")} X-Resp=${get("X-Resp")} X-Multi-Echo=${JSON.stringify(r.headers?.values("X-Multi-Echo"))}`);
  } catch (e) {
    check("headers: request N1 -> responder on N3 carries headers both ways", false, `${e?.code} ${e?.message}`);
  }
  rsub.unsubscribe();
}

async function sInterestRemoved(c) {
  const g = c.subj("gone");
  const gq = c.subj("goneq");
  const x = await natsConnect(c.urls[1], "node-cluster-x");
  responder(x, g, () => "x");
  responder(x, gq, () => "x", { queue: "g" });
  await ready(c, x, "N2 subscriber X", [[c.cs[0], "N1"], [c.cs[2], "N3"]]);
  await withTimeout(x.close(), TIMEOUT, "close X");
  for (const [subj, kind] of [[g, "plain"], [gq, "queue"]]) {
    for (const j of [0, 2]) {
      const [ok, why] = await noRespondersWithin(c.cs[j], subj);
      check(`interest: ${kind} sub on N2 closed -> gone on ${N(j)} (request gets no-responders)`, ok, why);
    }
  }
  const y = await natsConnect(c.urls[1], "node-cluster-y");
  const yp = collector(y, g);
  const yq = collector(y, gq, { queue: "g" });
  await ready(c, y, "N2 subscriber Y", [[c.cs[0], "N1"], [c.cs[2], "N3"]]);
  for (const j of [0, 2]) {
    for (let k = 0; k < 5; k++) {
      c.cs[j].publish(g, enc(`${j}:${k}`));
      c.cs[j].publish(gq, enc(`${j}:${k}`));
    }
    await c.cs[j].flush();
  }
  await until(() => yp.msgs.length >= 10 && yq.msgs.length >= 10, TIMEOUT);
  await sleep(GRACE);
  check("interest: a new subscriber on N2 gets publishes from N1 and N3 (plain 10, queue 10)",
    yp.msgs.length === 10 && yq.msgs.length === 10, `plain ${yp.msgs.length}, queue ${yq.msgs.length}`);
  await withTimeout(y.close(), TIMEOUT, "close Y");
}

async function ctl(c, action) {
  writeFileSync(join(c.ctl, `${action}.req`), `${CLIENT}\n`);
  return until(() => existsSync(join(c.ctl, `${action}.done`)), 20000);
}

async function sKillRestart(c) {
  const k = c.kill;
  const [a, b] = [0, 1, 2].filter((i) => i !== k);
  const ku = netloc(c.urls[k]);
  const events = [];
  const r = await withTimeout(
    connect({
      servers: [c.urls[k], c.urls[a], c.urls[b]],
      name: "node-cluster-r",
      noRandomize: true,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
      reconnectJitter: 0,
      timeout: 2000,
    }),
    TIMEOUT,
    "connect R",
  );
  (async () => {
    for await (const s of r.status()) events.push(s.type);
  })().catch(() => {});
  check(`kill: client R (servers ${N(k)},${N(a)},${N(b)}) connected to ${N(k)}`, r.getServer() === ku, r.getServer());
  const rs = c.subj("r.svc");
  responder(r, rs, (m) => `r:${dec(m.data)}`);
  await ready(c, r, `R on ${N(k)}`, [[c.cs[a], N(a)], [c.cs[b], N(b)]]);
  // a responder on the node to kill (its connection dies with it)
  const dead = c.subj("dead.svc");
  responder(c.cs[k], dead, () => "d");
  await ready(c, c.cs[k], `${N(k)} responder`, [[c.cs[a], N(a)], [c.cs[b], N(b)]]);

  const svc = [a, b].map((i) => responder(c.cs[i], c.subj(`surv.${i}`), () => String(i)));

  const st = c.subj("stream");
  const stream = collector(c.cs[b], st);
  await ready(c, c.cs[b], `${N(b)} stream sub`, [[c.cs[a], N(a)]]);
  await ready(c, c.cs[a], `${N(a)} responder`, [[c.cs[b], N(b)]]);
  let sent = 0;
  const timer = setInterval(() => {
    c.cs[a].publish(st, enc(String(sent)));
    sent++;
  }, 20);
  await until(() => stream.msgs.length >= 5, TIMEOUT);

  const killed = await ctl(c, "kill");
  const atKill = sent;
  check(`kill: run.sh killed ${N(k)} (SIGKILL)`, killed);
  let ok = await until(() => r.protocol.connected && r.getServer() !== ku, READY);
  check(`kill: R reconnects to a survivor after ${N(k)} dies`, ok, `server=${r.getServer()} events=${JSON.stringify(events)}`);
  for (const i of [a, b]) {
    const [dropped, why] = await noRespondersWithin(c.cs[i], dead);
    check(`kill: ${N(i)} drops the interest of dead ${N(k)} (request gets no-responders)`, dropped, why);
  }
  for (const i of [a, b]) {
    const t0 = Date.now();
    const [rep, why] = await requestUntil(c.cs[i], rs, "again");
    check(`kill: R's subscription (resubscribed) answers a request from ${N(i)}`,
      rep !== null && dec(rep.data) === "r:again", `${why} after ${(Date.now() - t0) / 1000}s`);
  }
  for (const i of [a, b]) {
    ok = await until(() => !(c.cs[i].info?.connect_urls || []).includes(ku), READY);
    check(`gossip: after ${N(k)} died, ${N(i)}'s INFO connect_urls drop it`, ok,
      JSON.stringify(c.cs[i].info?.connect_urls));
  }

  // the survivors' stream must flow while the node is down
  await until(() => sent >= atKill + 5, TIMEOUT);
  const restarted = await ctl(c, "restart");
  const atRestart = sent;
  check(`restart: run.sh restarted ${N(k)} on the same ports`, restarted);
  const nk = await natsConnect(c.urls[k], "node-cluster-k2");
  for (const i of [a, b]) {
    const t0 = Date.now();
    const [rep, why] = await requestUntil(nk, c.subj(`surv.${i}`), "?", 15000);
    check(`restart: client on restarted ${N(k)} reaches a responder on ${N(i)}`,
      rep !== null && dec(rep.data) === String(i), `${why} after ${(Date.now() - t0) / 1000}s`);
  }
  const back = collector(nk, c.subj("back"));
  await ready(c, nk, `restarted ${N(k)} sub`, [[c.cs[a], N(a)], [c.cs[b], N(b)]]);
  for (const i of [a, b]) {
    c.cs[i].publish(c.subj("back"), enc(String(i)));
    await c.cs[i].flush();
  }
  await until(() => back.msgs.length >= 2, TIMEOUT);
  check(`restart: a subscriber on restarted ${N(k)} gets publishes from ${N(a)} and ${N(b)}`,
    same(sorted(back.msgs.map((m) => dec(m.data))), sorted([String(a), String(b)])),
    JSON.stringify(back.msgs.map((m) => dec(m.data))));
  const want = [a, b].map((i) => netloc(c.urls[i]));
  ok = await until(() => want.every((w) => gossiped(nk).includes(w)), READY);
  check(`restart: client on restarted ${N(k)} learns the others from connect_urls`, ok, JSON.stringify(gossiped(nk)));
  for (const i of [a, b]) {
    ok = await until(() => (c.cs[i].info?.connect_urls || []).includes(ku), READY);
    check(`gossip: after the restart, ${N(i)}'s INFO connect_urls list ${N(k)} again`, ok,
      JSON.stringify(c.cs[i].info?.connect_urls));
  }

  // let the stream run on a little after the restart, then stop it
  await until(() => sent >= atRestart + 5, TIMEOUT);
  clearInterval(timer);
  await c.cs[a].flush();
  const total = sent;
  await until(() => stream.msgs.length >= total, TIMEOUT);
  await sleep(GRACE);
  const seqs = stream.msgs.map((m) => Number(dec(m.data)));
  check(`survivors: stream ${N(a)} -> ${N(b)} never stopped: all ${total} in order, none lost or twice`,
    same(seqs, [...Array(total).keys()]) && atKill > 0 && atKill < atRestart && atRestart < total,
    `got ${seqs.length}, sent ${total} (at kill ${atKill}, at restart ${atRestart})`);
  stream.sub.unsubscribe();
  svc.forEach((x) => x.unsubscribe());
  for (const x of [r, nk]) {
    try {
      await withTimeout(x.close(), TIMEOUT, "close");
    } catch { /* ignore */ }
  }
}

async function main(argv) {
  if (argv.length !== 5) {
    console.error("usage: node_cluster.mjs CTL_DIR KILL URL1 URL2 URL3");
    return 64;
  }
  const uniq = `${process.pid}_${Date.now() % 1000000}`;
  const c = {
    ctl: argv[0],
    kill: Number(argv[1]) - 1,
    urls: argv.slice(2),
    cs: [],
    probeN: 0,
    readyBound: READY,
    readyFailures: 0, // later steps are skipped once interest failed to cross
    subj: (s) => `node${uniq}.${s}`,
  };
  note(`nats.js ${natsVersion} node ${process.version} nodes=${JSON.stringify(c.urls)} kill=${N(c.kill)}`);
  try {
    for (let i = 0; i < 3; i++) c.cs.push(await natsConnect(c.urls[i], `node-cluster-n${i + 1}`));
    check("connect: one connection to each of the 3 nodes", true,
      c.cs.map((nc, i) => `${N(i)} ${nc.info?.version}`).join(", "));
  } catch (e) {
    check("connect: one connection to each of the 3 nodes", false, `${e?.code} ${e?.message}`);
    return 1;
  }
  try {
    await step(c, "gossip", () => sGossip(c));
    await step(c, "pubsub", () => sPubSub(c));
    await step(c, "wildcards", () => sWildcards(c));
    await step(c, "queue", () => sQueue(c));
    await step(c, "request", () => sRequest(c));
    await step(c, "headers", () => sHeaders(c));
    await step(c, "interest", () => sInterestRemoved(c));
    await step(c, "kill/restart", () => sKillRestart(c), 60000);
  } finally {
    for (const nc of c.cs) {
      try {
        if (!nc.isClosed()) await withTimeout(nc.close(), TIMEOUT, "close");
      } catch { /* ignore */ }
    }
  }
  note(`${passes} passed, ${failures} failed`);
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
