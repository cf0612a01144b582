#!/usr/bin/env node
// TLS interop checks with the official Node.js client (npm `nats` 2.x).
//
// usage: node node_tls.mjs URL CERTDIR
//   The server runs --tls --tlsverify --tlscacert CERTDIR/ca.pem with
//   CERTDIR/server-cert.pem. A client with our CA and client certificate is
//   served (a round trip; the server info says tls_required); without a
//   client certificate, or trusting another CA, it is refused.
//
// `nats` is resolved from interop/node/node_modules. Prints PASS/FAIL lines
// (refusals with the client's error text), exits 1 on any failure, 2 on
// the watchdog. Every await is bounded.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(new URL("../node/package.json", import.meta.url));
const { connect, StringCodec } = require("nats");

const CLIENT = "node";
const TIMEOUT = 5000;
const WATCHDOG = 50000;
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

function withTimeout(p, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`timeout after ${TIMEOUT} ms: ${what}`)), TIMEOUT);
    }),
  ]).finally(() => clearTimeout(t));
}

const [url, certdir] = process.argv.slice(2);
const file = (name) => path.join(certdir, name);

function tlsConnect(tls) {
  return withTimeout(
    connect({ servers: url, tls, reconnect: false, maxReconnectAttempts: 0, timeout: 3000 }),
    "connect",
  );
}

async function refused(name, tls) {
  try {
    const nc = await tlsConnect(tls);
    await nc.close();
    check(name, false, "connected, expected a refusal");
  } catch (e) {
    check(name, true, `${e.code ?? e.name}: ${e.message}`);
  }
}

async function main() {
  const sc = StringCodec();
  const nc = await tlsConnect({
    caFile: file("ca.pem"),
    certFile: file("client-cert.pem"),
    keyFile: file("client-key.pem"),
  });
  check("verify: server info says tls_required", nc.info?.tls_required === true,
    JSON.stringify({ tls_required: nc.info?.tls_required, tls_verify: nc.info?.tls_verify }));
  const subject = `tls.node.${process.pid}`;
  const sub = nc.subscribe(subject, { max: 1 });
  nc.publish(subject, sc.encode("over tls"));
  let got = null;
  await withTimeout((async () => {
    for await (const m of sub) got = sc.decode(m.data);
  })(), "message");
  check("verify: round trip with a client certificate", got === "over tls", `got ${got}`);
  await nc.close();

  await refused("verify: no client certificate is refused", { caFile: file("ca.pem") });
  await refused("verify: a client trusting another CA refuses the server", {
    caFile: file("other-ca.pem"),
    certFile: file("client-cert.pem"),
    keyFile: file("client-key.pem"),
  });
}

try {
  await main();
} catch (e) {
  check("scenario", false, `${e.code ?? e.name}: ${e.message}`);
}
clearTimeout(watchdog);
console.log(`[${CLIENT}] ${passes} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
