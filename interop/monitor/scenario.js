#!/usr/bin/env node
/*
 * The monitoring kit's scenario, made with the official Node client
 * node-nats-streaming 0.3.2. It sets up a known state, writes what the
 * monitoring must show to EXPECT.json, prints "READY" and then stays
 * connected (publishing to `ticker` 5 times a second) until it is killed or
 * its watchdog (LINGER seconds, default 240) ends it.
 *
 * usage: node scenario.js NATS_URL CLUSTER_ID EXPECT.json [LINGER]
 *
 * State (clients stay connected):
 *   mon-pub       published 10 msgs to `orders`, 4 to `audit.log`, 1 to the
 *                 channel XSS (a name with HTML/JSON/Prometheus special
 *                 characters), then 5 msgs/s to `ticker`
 *   mon-billing   durable `billing` on `orders`: deliver all, manual ack,
 *                 max in flight 3, ack wait 60 s; acks seqs 1 and 2 only, so
 *                 it holds 3..5 unacked: pending 3 = max in flight, stalled
 *   mon-worker-1  queue group `workers` on `orders` (deliver all, auto ack,
 *                 max in flight 64)
 *   mon-worker-2  the same group; the two received the 10 msgs between them
 *   mon-auditor   durable `audit` on `audit.log` (received the 4, then
 *                 closed it: an offline durable) and durable DUR on XSS
 *                 (both max in flight 32)
 *
 * Prints "ok"/"FAIL" lines for what the clients themselves observed; exits
 * 1 (before READY) if the scenario could not be set up.
 */
'use strict'

const fs = require('fs')
const path = require('path')
const { createRequire } = require('module')

function loadStan () {
  try {
    return require('node-nats-streaming')
  } catch (e) {
    return createRequire(path.join(__dirname, '..', 'node', 'package.json'))('node-nats-streaming')
  }
}
const stan = loadStan()

const TIMEOUT = 5000 // per wait (ms)
const SETUP_WATCHDOG = 45000

const XSS = 'xss.<img&amp;"\'\\x' // no '>', '*', '/', '..': a valid channel name
const DUR = '<b&amp;"dur"'

const [url, clusterID, expectPath, lingerArg] = process.argv.slice(2)
if (!url || !clusterID || !expectPath) {
  console.error('usage: node scenario.js NATS_URL CLUSTER_ID EXPECT.json [LINGER]')
  process.exit(64)
}
const LINGER = Number(lingerArg || 240) * 1000

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const errText = (e) => (e && e.message) || String(e)

function withTimeout (p, ms, what) {
  let t
  return Promise.race([
    p,
    new Promise((resolve, reject) => {
      t = setTimeout(() => reject(new Error(`timeout after ${ms}ms waiting for ${what}`)), ms)
    })
  ]).finally(() => clearTimeout(t))
}

function connect (clientID) {
  return withTimeout(new Promise((resolve, reject) => {
    let settled = false
    const sc = stan.connect(clusterID, clientID, {
      url,
      connectTimeout: TIMEOUT,
      ackTimeout: TIMEOUT,
      maxReconnectAttempts: 0,
      reconnect: false
    })
    sc.on('connect', () => { if (!settled) { settled = true; resolve(sc) } })
    sc.on('error', (e) => {
      if (!settled) { settled = true; reject(e instanceof Error ? e : new Error(errText(e))) } else console.log(`note ${clientID}: ${errText(e)}`)
    })
  }), TIMEOUT + 1000, `connect ${clientID}`)
}

function publish (sc, channel, data) {
  return withTimeout(new Promise((resolve, reject) => {
    sc.publish(channel, data, (err) => (err ? reject(new Error(errText(err))) : resolve()))
  }), TIMEOUT + 1000, `PubAck on ${channel}`)
}

// Subscribes; `onMsg(msg)` sees every message. Resolves once the server
// accepted the subscription.
function subscribe (sc, channel, opts, qGroup, onMsg) {
  return withTimeout(new Promise((resolve, reject) => {
    const sub = qGroup ? sc.subscribe(channel, qGroup, opts) : sc.subscribe(channel, opts)
    let ready = false
    sub.on('message', onMsg)
    sub.once('ready', () => { ready = true; resolve(sub) })
    sub.on('error', (e) => { if (!ready) reject(e instanceof Error ? e : new Error(errText(e))) })
    sub.on('timeout', (e) => { if (!ready) reject(e instanceof Error ? e : new Error(errText(e))) })
  }), TIMEOUT + 1000, `subscribe ${channel}`)
}

async function waitFor (cond, ms, what) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timeout after ${ms}ms waiting for ${what}`)
    await sleep(20)
  }
}

function check (name, ok, detail) {
  console.log((ok ? 'ok ' : 'FAIL ') + name + (detail ? (ok ? ` (${detail})` : `: ${detail}`) : ''))
  return ok
}

async function main () {
  const pub = await connect('mon-pub')
  const range = (n) => Array.from({ length: n }, (_, i) => i + 1)
  for (const i of range(10)) await publish(pub, 'orders', `order-${i}`)
  for (const i of range(4)) await publish(pub, 'audit.log', `audit entry ${i}`)
  await publish(pub, XSS, 'escaping')
  check('published', true, '10 on orders, 4 on audit.log, 1 on ' + JSON.stringify(XSS))

  // The stalled durable: acks 1 and 2 only.
  const billing = await connect('mon-billing')
  const billingSeqs = []
  await subscribe(billing, 'orders',
    billing.subscriptionOptions().setDeliverAllAvailable().setManualAckMode(true)
      .setMaxInFlight(3).setAckWait(60 * 1000).setDurableName('billing'),
    null, (m) => {
      billingSeqs.push(m.getSequence())
      if (m.getSequence() <= 2) m.ack()
    })
  await waitFor(() => billingSeqs.length >= 5, TIMEOUT, 'billing to receive 5 messages')
  await sleep(500) // nothing more may come: 3 unacked = max in flight
  if (!check('billing_stalled_client_side', JSON.stringify(billingSeqs) === '[1,2,3,4,5]', `received [${billingSeqs}]`)) {
    throw new Error('the durable did not stop at max in flight')
  }

  // The queue group.
  const w1 = await connect('mon-worker-1')
  const w2 = await connect('mon-worker-2')
  const got = { w1: 0, w2: 0 }
  await subscribe(w1, 'orders', w1.subscriptionOptions().setDeliverAllAvailable().setMaxInFlight(64), 'workers', () => { got.w1++ })
  await subscribe(w2, 'orders', w2.subscriptionOptions().setDeliverAllAvailable().setMaxInFlight(64), 'workers', () => { got.w2++ })
  await waitFor(() => got.w1 + got.w2 >= 10, TIMEOUT, 'the queue group to receive 10 messages')
  await sleep(300)
  check('queue_group', got.w1 + got.w2 === 10, `worker-1 ${got.w1}, worker-2 ${got.w2}`)

  // The offline durable and the durable with an odd name.
  const auditor = await connect('mon-auditor')
  let auditN = 0
  const audit = await subscribe(auditor, 'audit.log',
    auditor.subscriptionOptions().setDeliverAllAvailable().setMaxInFlight(32).setDurableName('audit'), null, () => { auditN++ })
  await waitFor(() => auditN >= 4, TIMEOUT, 'audit to receive 4 messages')
  await sleep(200) // let the auto acks reach the server before closing
  await withTimeout(new Promise((resolve, reject) => {
    audit.once('closed', resolve)
    audit.once('error', reject)
    audit.close()
  }), TIMEOUT, 'closing durable audit')
  let xssN = 0
  await subscribe(auditor, XSS, auditor.subscriptionOptions().setDeliverAllAvailable().setMaxInFlight(32).setDurableName(DUR), null, () => { xssN++ })
  await waitFor(() => xssN >= 1, TIMEOUT, `${DUR} to receive 1 message`)
  await sleep(300)
  check('durables', auditN === 4 && xssN === 1, `audit ${auditN}, ${JSON.stringify(DUR)} ${xssN}`)

  // The ticker (a live publish rate) starts now; then READY.
  let tick = 0
  let tickErrors = 0
  const ticker = setInterval(() => {
    tick++
    pub.publish('ticker', `tick-${tick}`, (err) => {
      if (err && ++tickErrors <= 3) console.log(`note ticker publish: ${errText(err)}`)
    })
  }, 200)
  await sleep(1200)

  const expect = {
    cluster_id: clusterID,
    summary: { cluster_id: clusterID, clients: 5, channels: 4, subscriptions: 5 },
    channels: [
      { name: 'orders', msgs: 10, first_seq: 1, last_seq: 10, subs: 3, rate_zero: true },
      { name: 'audit.log', msgs: 4, first_seq: 1, last_seq: 4, subs: 1, rate_zero: true },
      { name: XSS, msgs: 1, first_seq: 1, last_seq: 1, subs: 1, rate_zero: true },
      { name: 'ticker', min_msgs: 5, subs: 0, min_rate: 1, max_rate: 20 }
    ],
    subs: [
      { channel: 'orders', client: 'mon-billing', durable: 'billing', pending: 3, max_inflight: 3, last_sent: 5, stalled: true, offline: false },
      { channel: 'orders', client: 'mon-worker-1', queue: 'workers', pending: 0, max_inflight: 64, stalled: false, offline: false },
      { channel: 'orders', client: 'mon-worker-2', queue: 'workers', pending: 0, max_inflight: 64, stalled: false, offline: false },
      { channel: 'audit.log', client: 'mon-auditor', durable: 'audit', pending: 0, max_inflight: 32, last_sent: 4, stalled: false, offline: true },
      { channel: XSS, client: 'mon-auditor', durable: DUR, pending: 0, max_inflight: 32, last_sent: 1, stalled: false, offline: false }
    ],
    clients: [
      { id: 'mon-auditor', subs: 1 },
      { id: 'mon-billing', subs: 1 },
      { id: 'mon-pub', subs: 0 },
      { id: 'mon-worker-1', subs: 1 },
      { id: 'mon-worker-2', subs: 1 }
    ]
  }
  fs.writeFileSync(expectPath, JSON.stringify(expect, null, 2) + '\n')
  console.log('READY')

  const stop = () => {
    clearInterval(ticker)
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  setTimeout(() => {
    console.log(`note scenario: linger of ${LINGER / 1000}s over, exiting`)
    stop()
  }, LINGER)
}

const setupWatchdog = setTimeout(() => {
  console.log(`FAIL setup: not ready after ${SETUP_WATCHDOG / 1000}s`)
  process.exit(2)
}, SETUP_WATCHDOG)

main().then(() => clearTimeout(setupWatchdog), (e) => {
  console.log(`FAIL setup: ${errText(e)}`)
  process.exit(1)
})
