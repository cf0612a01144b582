#!/usr/bin/env node
/*
 * NATS Streaming (STAN) interop scenario using the official Node client
 * node-nats-streaming 0.3.2 (which bundles its own `nats` 1.x).
 *
 * usage: node node_stan.js NATS_URL CLUSTER_ID PREFIX
 *   NATS_URL    e.g. nats://127.0.0.1:4222
 *   CLUSTER_ID  e.g. test-cluster
 *   PREFIX      unique run prefix, [A-Za-z0-9_-]+ (e.g. node-embedded); used for
 *               client IDs (<prefix>-a, ...) and channels (<prefix>.start, ...)
 *
 * node-nats-streaming is resolved via NODE_PATH if set, else from
 * interop/node/node_modules. Prints one line per check: "ok <name>" or
 * "FAIL <name>: <details>"; exits 1 if any check failed (2 on the watchdog).
 */
'use strict'

const path = require('path')
const { createRequire } = require('module')

function loadStan () {
  try {
    return require('node-nats-streaming')
  } catch (e) {
    const req = createRequire(path.join(__dirname, '..', 'node', 'package.json'))
    return req('node-nats-streaming')
  }
}
const stan = loadStan()

const TIMEOUT = 5000 // per wait (ms)
const GRACE = 500 // extra wait to catch unexpected extra deliveries (ms)
const WATCHDOG = 55000 // whole scenario (ms)
const ERR_DUP = 'stan: clientID already registered'
const ERR_BADID = 'stan: invalid clientID: only alphanumeric and `-` or `_` characters allowed'

let passes = 0
let failures = 0

function check (name, ok, detail) {
  if (ok) {
    passes++
    console.log(`ok ${name}` + (detail ? ` (${detail})` : ''))
  } else {
    failures++
    console.log(`FAIL ${name}: ${detail || ''}`)
  }
  return ok
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function errText (e) {
  if (e === undefined || e === null) return String(e)
  if (typeof e === 'string') return e
  if (e.message) return (e.code && e.code !== e.message ? `${e.code}: ` : '') + e.message
  return String(e)
}

function withTimeout (p, ms, what) {
  let t
  return Promise.race([
    p,
    new Promise((resolve, reject) => {
      t = setTimeout(() => reject(new Error(`timeout after ${ms}ms waiting for ${what}`)), ms)
    })
  ]).finally(() => clearTimeout(t))
}

const [url, clusterID, prefix] = process.argv.slice(2)
if (!url || !clusterID || !prefix) {
  console.error('usage: node node_stan.js NATS_URL CLUSTER_ID PREFIX')
  process.exit(64)
}
const ch = (s) => `${prefix}.${s}`
const cid = (s) => `${prefix}-${s}`
const live = new Set()

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
    sc.on('connect', () => {
      if (!settled) { settled = true; live.add(sc); resolve(sc) }
    })
    sc.on('error', (e) => {
      if (!settled) { settled = true; reject(e instanceof Error ? e : new Error(errText(e))) }
    })
  }), TIMEOUT + 1000, `connect ${clientID}`)
}

function closeConn (sc) {
  return withTimeout(new Promise((resolve) => {
    sc.once('close', (err) => resolve(err ? errText(err) : ''))
    sc.close()
  }), TIMEOUT + 1000, 'connection close').catch((e) => errText(e)).finally(() => live.delete(sc))
}

// Collects messages of a subscription; optional auto manual-ack on receipt.
class Collector {
  constructor (ack) {
    this.msgs = []
    this.ack = ack
    this.waiters = []
  }

  onMsg (m) {
    this.msgs.push(m)
    if (this.ack) m.ack()
    this.waiters = this.waiters.filter((w) => {
      if (this.msgs.length >= w.n) { w.resolve(true); return false }
      return true
    })
  }

  waitCount (n, ms = TIMEOUT) {
    if (this.msgs.length >= n) return Promise.resolve(true)
    return new Promise((resolve) => {
      const w = { n, resolve }
      this.waiters.push(w)
      setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w)
        resolve(false)
      }, ms)
    })
  }

  seqs () { return this.msgs.map((m) => m.getSequence()) }
}

function subscribe (sc, channel, coll, opts, qGroup) {
  return withTimeout(new Promise((resolve, reject) => {
    const sub = qGroup ? sc.subscribe(channel, qGroup, opts) : sc.subscribe(channel, opts)
    let ready = false
    sub.on('message', (m) => coll.onMsg(m))
    sub.once('ready', () => { ready = true; resolve(sub) })
    // Permanent listeners: an 'error' event without a listener would throw.
    sub.on('error', (e) => { if (!ready) reject(e instanceof Error ? e : new Error(errText(e))) })
    sub.on('timeout', (e) => { if (!ready) reject(e) })
  }), TIMEOUT + 1000, `subscribe ${channel}`)
}

// Unsubscribe (close=false) or close (close=true); resolves to '' or an error text.
function unsub (sub, close) {
  const what = close ? 'close' : 'unsubscribe'
  return withTimeout(new Promise((resolve) => {
    sub.once(close ? 'closed' : 'unsubscribed', () => resolve(''))
    sub.once('error', (e) => resolve(`${what}: ${errText(e)}`))
    sub.once('timeout', (e) => resolve(`${what}: ${errText(e)}`))
    if (close) sub.close(); else sub.unsubscribe()
  }), TIMEOUT + 1000, what).catch((e) => `${what}: ${errText(e)}`)
}

function publishOne (sc, channel, data) {
  return withTimeout(new Promise((resolve, reject) => {
    try {
      sc.publish(channel, data, (err, guid) => {
        if (err) reject(new Error(`ack error ${JSON.stringify(errText(err))}`))
        else resolve(guid)
      })
    } catch (e) { reject(e) }
  }), TIMEOUT + 1000, `ack of ${data}`)
}

async function publishSync (sc, channel, payloads) {
  const probs = []
  for (const p of payloads) {
    try {
      await publishOne(sc, channel, p)
    } catch (e) {
      probs.push(`publish ${JSON.stringify(p)}: ${errText(e)}`)
    }
  }
  return probs
}

function msgProblems (msgs, channel, expSeqs, expData, redelivered = false) {
  const probs = []
  const seqs = msgs.map((m) => m.getSequence())
  if (JSON.stringify(seqs) !== JSON.stringify(expSeqs)) {
    probs.push(`sequences [${seqs}] != expected [${expSeqs}]`)
  }
  if (expData) {
    const data = msgs.map((m) => m.getRawData().toString('utf8'))
    if (JSON.stringify(data) !== JSON.stringify(expData)) {
      probs.push(`payloads ${JSON.stringify(data)} != expected ${JSON.stringify(expData)}`)
    }
  }
  const nowNs = Date.now() * 1e6
  let prevTs = null
  for (const m of msgs) {
    const ts = m.getTimestampRaw() // int64 ns as a JS number (precision ~256 ns)
    if (m.getSubject() !== channel) probs.push(`seq ${m.getSequence()}: subject ${JSON.stringify(m.getSubject())} != ${JSON.stringify(channel)}`)
    if (!(ts > 0)) probs.push(`seq ${m.getSequence()}: timestamp ${ts} not > 0`)
    else if (Math.abs(ts - nowNs) > 3600e9) probs.push(`seq ${m.getSequence()}: timestamp ${ts} is not Unix ns within 1h of now (${nowNs})`)
    if (prevTs !== null && ts < prevTs) probs.push(`seq ${m.getSequence()}: timestamp ${ts} < previous ${prevTs}`)
    prevTs = ts
    if (Boolean(m.isRedelivered()) !== redelivered) probs.push(`seq ${m.getSequence()}: redelivered=${m.isRedelivered()}, expected ${redelivered}`)
  }
  return probs
}

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i)

// ------------------------------------------------------------------ scenarios
let A // the <prefix>-a connection

async function sConnectPublish () {
  try {
    A = await connect(cid('a'))
    check('connect', true)
  } catch (e) {
    check('connect', false, `client ${cid('a')}: ${errText(e)}`)
    return false
  }
  const probs = await publishSync(A, ch('start'), range(1, 5).map((i) => `m${i}`))
  check('publish_sync', probs.length === 0, probs.join('; '))
  return true
}

async function startCase (name, exp, opts) {
  const channel = ch('start')
  const coll = new Collector(false)
  let sub
  try {
    sub = await subscribe(A, channel, coll, opts)
  } catch (e) {
    return check(name, false, `subscribe: ${errText(e)}`)
  }
  await coll.waitCount(exp.length)
  await sleep(GRACE)
  const probs = msgProblems(coll.msgs, channel, exp, exp.map((i) => `m${i}`))
  const u = await unsub(sub)
  if (u) probs.push(u)
  check(name, probs.length === 0, probs.join('; '))
}

async function sStartPositions () {
  const channel = ch('start')
  await startCase('start_deliver_all', [1, 2, 3, 4, 5], A.subscriptionOptions().setDeliverAllAvailable())
  await startCase('start_at_sequence', [3, 4, 5], A.subscriptionOptions().setStartAtSequence(3))
  await startCase('start_last_received', [5], A.subscriptionOptions().setStartWithLastReceived())
  await startCase('start_time_delta', [1, 2, 3, 4, 5], A.subscriptionOptions().setStartAtTimeDelta(3600 * 1000))

  const coll = new Collector(false)
  let sub
  try {
    sub = await subscribe(A, channel, coll, A.subscriptionOptions())
  } catch (e) {
    return check('start_new_only', false, `subscribe: ${errText(e)}`)
  }
  await sleep(GRACE)
  let probs = []
  if (coll.msgs.length) probs.push(`received stored messages [${coll.seqs()}] before publishing m6`)
  probs = probs.concat(await publishSync(A, channel, ['m6']))
  await coll.waitCount(coll.msgs.length + 1)
  await sleep(GRACE)
  if (probs.length === 0) probs = msgProblems(coll.msgs, channel, [6], ['m6'])
  const u = await unsub(sub)
  if (u) probs.push(u)
  check('start_new_only', probs.length === 0, probs.join('; '))
}

async function sStartAtTime () {
  // a1,a2 ... 1.5 s ... T ... 1.5 s ... b1,b2 ; start at T -> b1,b2 (seqs 3,4).
  const channel = ch('time')
  let probs = await publishSync(A, channel, ['a1', 'a2'])
  await sleep(1500)
  const t = new Date()
  await sleep(1500)
  probs = probs.concat(await publishSync(A, channel, ['b1', 'b2']))
  if (probs.length) return check('start_at_time', false, probs.join('; '))
  const coll = new Collector(false)
  let sub
  try {
    sub = await subscribe(A, channel, coll, A.subscriptionOptions().setStartTime(t))
  } catch (e) {
    return check('start_at_time', false, `subscribe: ${errText(e)}`)
  }
  await coll.waitCount(2)
  await sleep(GRACE)
  probs = msgProblems(coll.msgs, channel, [3, 4], ['b1', 'b2'])
  const u = await unsub(sub)
  if (u) probs.push(u)
  check('start_at_time', probs.length === 0, probs.join('; '))
}

async function sAsyncPublish () {
  const channel = ch('async')
  const n = 100
  const probs = []
  const guids = []
  const acked = new Map()
  const errs = []
  await withTimeout(new Promise((resolve) => {
    for (let i = 1; i <= n; i++) {
      try {
        const g = A.publish(channel, `a${i}`, (err, guid) => {
          if (acked.has(guid)) errs.push(`duplicate ack for ${guid}`)
          acked.set(guid, err)
          if (err) errs.push(errText(err))
          if (acked.size >= n) resolve()
        })
        guids.push(g)
      } catch (e) {
        errs.push(`publish a${i}: ${errText(e)}`)
      }
    }
  }), TIMEOUT, 'async acks').catch(() => probs.push(`only ${acked.size}/${n} acks within ${TIMEOUT}ms`))
  if (errs.length) probs.push(`${errs.length} ack errors, first ${JSON.stringify(errs[0])}`)
  const unknown = [...acked.keys()].filter((g) => !guids.includes(g))
  if (unknown.length) probs.push(`acks for unknown guids ${unknown.slice(0, 3)}`)
  check('async_publish', probs.length === 0, probs.join('; '))

  const coll = new Collector(false)
  let sub
  try {
    sub = await subscribe(A, channel, coll, A.subscriptionOptions().setDeliverAllAvailable())
  } catch (e) {
    return check('async_deliver_all', false, `subscribe: ${errText(e)}`)
  }
  await coll.waitCount(n)
  await sleep(GRACE)
  const p2 = msgProblems(coll.msgs, channel, range(1, n), range(1, n).map((i) => `a${i}`))
  const u = await unsub(sub)
  if (u) p2.push(u)
  check('async_deliver_all', p2.length === 0, p2.join('; ').slice(0, 600))
}

async function sRedelivery () {
  const channel = ch('redeliver')
  const coll = new Collector(false)
  let sub
  try {
    sub = await subscribe(A, channel, coll,
      A.subscriptionOptions().setDeliverAllAvailable().setManualAckMode(true).setAckWait(1000))
  } catch (e) {
    return check('redeliver_first', false, `subscribe: ${errText(e)}`)
  }
  let probs = await publishSync(A, channel, ['r1'])
  if (!(await coll.waitCount(1))) probs.push('no delivery')
  if (probs.length === 0) probs = msgProblems(coll.msgs.slice(0, 1), channel, [1], ['r1'], false)
  check('redeliver_first', probs.length === 0, probs.join('; '))
  const t0 = Date.now()
  const ok = await coll.waitCount(2, 3000)
  if (!ok) {
    check('redeliver_again', false, 'no redelivery within 3s (ack wait 1s, message not acked)')
  } else {
    probs = msgProblems(coll.msgs.slice(1, 2), channel, [1], ['r1'], true)
    check('redeliver_again', probs.length === 0, probs.join('; ') || `after ${((Date.now() - t0) / 1000).toFixed(2)}s`)
    coll.msgs[1].ack()
  }
  const nBefore = coll.msgs.length
  await sleep(1500)
  probs = []
  const extra = coll.msgs.slice(nBefore)
  if (ok && extra.length) {
    probs.push('redelivered after ack: ' + extra.map((m) => `seq ${m.getSequence()} redelivered=${m.isRedelivered()}`).join(', '))
  }
  const u = await unsub(sub)
  if (u) probs.push(u)
  if (ok || u) check('redeliver_stops_after_ack', probs.length === 0, probs.join('; '))
}

async function sQueue () {
  const channel = ch('queue')
  const members = []
  let probs = []
  try {
    for (const name of ['q1', 'q2']) {
      const sc = await connect(cid(name))
      const coll = new Collector(false)
      const m = { sc, coll }
      members.push(m)
      m.sub = await subscribe(sc, channel, coll, sc.subscriptionOptions(), 'grp')
    }
  } catch (e) {
    check('queue_group', false, `setup: ${errText(e)}`)
    for (const m of members) await closeConn(m.sc)
    return
  }
  const n = 20
  probs = probs.concat(await publishSync(A, channel, range(1, n).map((i) => `q${i}`)))
  const deadline = Date.now() + TIMEOUT
  while (Date.now() < deadline && members.reduce((s, m) => s + m.coll.msgs.length, 0) < n) await sleep(50)
  await sleep(GRACE)
  const got = members.map((m) => m.coll.seqs())
  const all = got[0].concat(got[1]).sort((x, y) => x - y)
  if (JSON.stringify(all) !== JSON.stringify(range(1, n))) {
    const dups = [...new Set(all.filter((s, i) => all.indexOf(s) !== i))]
    const missing = range(1, n).filter((s) => !all.includes(s))
    probs.push(`union [${all}] != 1..${n} (duplicates [${dups}], missing [${missing}])`)
  }
  for (const m of members) {
    for (const msg of m.coll.msgs) {
      if (msg.getSubject() !== channel || msg.getRawData().toString() !== `q${msg.getSequence()}`) {
        probs.push(`seq ${msg.getSequence()}: subject ${msg.getSubject()} data ${msg.getRawData().toString()}`)
      }
    }
  }
  for (const m of members) {
    const u = await unsub(m.sub)
    if (u) probs.push(u)
    const c = await closeConn(m.sc)
    if (c) probs.push(`close: ${c}`)
  }
  check('queue_group', probs.length === 0, probs.join('; ') || `split ${got[0].length}/${got[1].length}`)
}

async function sDurable () {
  const channel = ch('durable')
  let D
  const opts = () => D.subscriptionOptions().setDurableName('dur1').setDeliverAllAvailable().setManualAckMode(true)
  let coll = new Collector(true)
  let sub
  try {
    D = await connect(cid('dur'))
    sub = await subscribe(D, channel, coll, opts())
  } catch (e) {
    if (D) await closeConn(D)
    return check('durable_first', false, `setup: ${errText(e)}`)
  }
  let probs = await publishSync(A, channel, ['d1', 'd2', 'd3'])
  await coll.waitCount(3)
  await sleep(GRACE)
  probs = probs.concat(msgProblems(coll.msgs, channel, [1, 2, 3], ['d1', 'd2', 'd3']))
  let u = await unsub(sub, true)
  if (u) probs.push(u)
  check('durable_first', probs.length === 0, probs.join('; '))

  probs = await publishSync(A, channel, ['d4', 'd5'])
  coll = new Collector(true)
  try {
    sub = await subscribe(D, channel, coll, opts())
  } catch (e) {
    await closeConn(D)
    return check('durable_resume', false, `resubscribe: ${errText(e)}`)
  }
  await coll.waitCount(2)
  await sleep(GRACE)
  probs = probs.concat(msgProblems(coll.msgs, channel, [4, 5], ['d4', 'd5']))
  u = await unsub(sub) // unsubscribe deletes the durable
  if (u) probs.push(u)
  check('durable_resume', probs.length === 0, probs.join('; '))

  coll = new Collector(true)
  try {
    sub = await subscribe(D, channel, coll, opts())
  } catch (e) {
    await closeConn(D)
    return check('durable_after_unsubscribe', false, `resubscribe: ${errText(e)}`)
  }
  await coll.waitCount(5)
  await sleep(GRACE)
  probs = msgProblems(coll.msgs, channel, [1, 2, 3, 4, 5], ['d1', 'd2', 'd3', 'd4', 'd5'])
  u = await unsub(sub)
  if (u) probs.push(u)
  const c = await closeConn(D)
  if (c) probs.push(`close ${cid('dur')}: ${c}`)
  check('durable_after_unsubscribe', probs.length === 0, probs.join('; '))
}

async function sDurableQueue () {
  const channel = ch('dqueue')
  let Q
  const opts = () => Q.subscriptionOptions().setDurableName('dq').setDeliverAllAvailable().setManualAckMode(true)
  let coll = new Collector(true)
  let sub
  try {
    Q = await connect(cid('dq'))
    sub = await subscribe(Q, channel, coll, opts(), 'g')
  } catch (e) {
    if (Q) await closeConn(Q)
    return check('durable_queue_first', false, `setup: ${errText(e)}`)
  }
  let probs = await publishSync(A, channel, ['e1', 'e2'])
  await coll.waitCount(2)
  await sleep(GRACE)
  probs = probs.concat(msgProblems(coll.msgs, channel, [1, 2], ['e1', 'e2']))
  let u = await unsub(sub, true)
  if (u) probs.push(u)
  check('durable_queue_first', probs.length === 0, probs.join('; '))

  probs = await publishSync(A, channel, ['e3', 'e4'])
  coll = new Collector(true)
  try {
    sub = await subscribe(Q, channel, coll, opts(), 'g')
  } catch (e) {
    await closeConn(Q)
    return check('durable_queue_resume', false, `resubscribe: ${errText(e)}`)
  }
  await coll.waitCount(2)
  await sleep(GRACE)
  probs = probs.concat(msgProblems(coll.msgs, channel, [3, 4], ['e3', 'e4']))
  u = await unsub(sub)
  if (u) probs.push(u)
  const c = await closeConn(Q)
  if (c) probs.push(`close ${cid('dq')}: ${c}`)
  check('durable_queue_resume', probs.length === 0, probs.join('; '))
}

async function sErrors () {
  try {
    const sc = await connect(cid('a'))
    check('error_duplicate_client_id', false, 'second connect with a live client ID succeeded')
    await closeConn(sc)
  } catch (e) {
    const t = errText(e)
    check('error_duplicate_client_id', t.includes(ERR_DUP), t.includes(ERR_DUP) ? `got ${JSON.stringify(t)}` : `error ${JSON.stringify(t)} does not contain ${JSON.stringify(ERR_DUP)}`)
  }
  const probs = await publishSync(A, ch('after-dup'), ['x'])
  check('duplicate_keeps_original', probs.length === 0, probs.join('; '))

  try {
    const sc = await connect('bad id!')
    check('error_invalid_client_id', false, "connect with client ID 'bad id!' succeeded")
    await closeConn(sc)
  } catch (e) {
    const t = errText(e)
    check('error_invalid_client_id', t.includes(ERR_BADID), t.includes(ERR_BADID) ? `got ${JSON.stringify(t)}` : `error ${JSON.stringify(t)} does not contain ${JSON.stringify(ERR_BADID)}`)
  }
}

async function sClose () {
  const err = await closeConn(A)
  check('close', !err, err)
}

async function run () {
  if (!(await sConnectPublish())) return
  await sStartPositions()
  await sStartAtTime()
  await sAsyncPublish()
  await sRedelivery()
  await sQueue()
  await sDurable()
  await sDurableQueue()
  await sErrors()
  await sClose()
}

const watchdog = setTimeout(() => {
  check('watchdog', false, `scenario exceeded ${WATCHDOG / 1000}s`)
  process.exit(2)
}, WATCHDOG)

run().catch((e) => {
  check('unexpected_exception', false, (e && e.stack) || errText(e))
}).finally(() => {
  clearTimeout(watchdog)
  for (const sc of live) {
    try { sc.close() } catch (e) { /* ignore */ }
  }
  console.log(`# node: ${passes} ok, ${failures} failed`)
  // Give close requests a moment, then exit regardless of open handles.
  setTimeout(() => process.exit(failures ? 1 : 0), 200)
})
