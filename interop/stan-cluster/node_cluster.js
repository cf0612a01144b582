#!/usr/bin/env node
/*
 * NATS Streaming over a NATS cluster, with the official Node client
 * node-nats-streaming 0.3.2 (bundled `nats` 1.x).
 *
 * usage: node node_cluster.js basic    CLUSTER_ID PREFIX LIST [LIST...]
 *        node node_cluster.js failover CLUSTER_ID PREFIX LIST KILL_PID MONITOR_URL
 *   LIST         comma-separated server URLs of one client position, tried in
 *                order (no randomization), e.g. nats://127.0.0.1:4223,nats://127.0.0.1:4224
 *   basic        for each position i: a publisher connected through LIST[i], a
 *                subscriber through LIST[(i+1) % n]; publish with acks, plain,
 *                durable and queue subscriptions, async publishes
 *   failover     one client through LIST (first URL: the node to kill); during
 *                a burst of async publishes, SIGKILL KILL_PID (that node),
 *                expect a reconnect to the second URL, acked publishes after
 *                it, every acked message received by both subscriptions, and the client still listed in
 *                MONITOR_URL/streaming/clientsz after several heartbeat and
 *                ping intervals (the server is started with 1s heartbeats)
 *
 * Prints "ok <name>" / "FAIL <name>: <details>" per check; exit 1 if any
 * check failed, 2 on the watchdog. Every wait is bounded.
 */
'use strict'

const path = require('path')
const http = require('http')
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
const GRACE = 300 // extra wait to catch unexpected extra deliveries (ms)
const WATCHDOG = 50000 // whole program (ms)
const HB_WAIT = 6000 // failover: time to let server heartbeats and client pings run (ms)
const PING_INTERVAL = 1000 // client pings (stanPingInterval, ms; sent in whole seconds)
const PING_MAX_OUT = 3

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
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i)

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

// Port of the server a connection is currently using.
function connectedPort (sc) {
  try {
    return Number(sc.nc.currentServer.url.port)
  } catch (e) {
    return -1
  }
}
const urlPort = (u) => Number(new URL(u).port)

const live = new Set()

// Connects client `clientID` through `urls` (tried in order). `events`
// (optional) collects reconnect / connection_lost events.
function connect (clusterID, clientID, urls, events) {
  return withTimeout(new Promise((resolve, reject) => {
    let settled = false
    const sc = stan.connect(clusterID, clientID, {
      url: urls[0],
      servers: urls.slice(1),
      noRandomize: true,
      connectTimeout: TIMEOUT,
      ackTimeout: TIMEOUT,
      reconnect: true,
      maxReconnectAttempts: 60,
      reconnectTimeWait: 250,
      stanPingInterval: PING_INTERVAL,
      stanMaxPingOut: PING_MAX_OUT,
      name: clientID
    })
    sc.on('connect', () => {
      if (!settled) { settled = true; live.add(sc); resolve(sc) }
    })
    sc.on('error', (e) => {
      if (!settled) { settled = true; reject(e instanceof Error ? e : new Error(errText(e))) }
      if (events) events.push({ ev: 'error', detail: errText(e), t: Date.now() })
    })
    if (events) {
      sc.on('disconnect', () => events.push({ ev: 'disconnect', t: Date.now() }))
      sc.on('reconnect', () => events.push({ ev: 'reconnect', port: connectedPort(sc), t: Date.now() }))
      sc.on('connection_lost', (e) => events.push({ ev: 'connection_lost', detail: errText(e), t: Date.now() }))
    }
  }), TIMEOUT + 1000, `connect ${clientID} via ${urls}`)
}

function closeConn (sc) {
  return withTimeout(new Promise((resolve) => {
    sc.once('close', (err) => resolve(err ? errText(err) : ''))
    sc.close()
  }), TIMEOUT + 1000, 'connection close').catch((e) => errText(e)).finally(() => live.delete(sc))
}

// Collects messages of a subscription; acks each one when `ack` (manual mode).
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
      if (w.pred()) { w.resolve(true); return false }
      return true
    })
  }

  waitFor (pred, ms = TIMEOUT) {
    if (pred()) return Promise.resolve(true)
    return new Promise((resolve) => {
      const w = { pred, resolve }
      this.waiters.push(w)
      setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w)
        resolve(pred())
      }, ms)
    })
  }

  waitCount (n, ms = TIMEOUT) { return this.waitFor(() => this.msgs.length >= n, ms) }
  seqs () { return this.msgs.map((m) => m.getSequence()) }
  seqSet () { return new Set(this.seqs()) }
}

function subscribe (sc, channel, coll, opts, qGroup) {
  return withTimeout(new Promise((resolve, reject) => {
    const sub = qGroup ? sc.subscribe(channel, qGroup, opts) : sc.subscribe(channel, opts)
    let ready = false
    sub.on('message', (m) => coll.onMsg(m))
    sub.once('ready', () => { ready = true; resolve(sub) })
    sub.on('error', (e) => { if (!ready) reject(e instanceof Error ? e : new Error(errText(e))) })
    sub.on('timeout', (e) => { if (!ready) reject(e) })
  }), TIMEOUT + 1000, `subscribe ${channel}`)
}

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

// Exact delivery: sequences, payloads (data(seq)) and subject.
function exactProblems (msgs, channel, expSeqs, data) {
  const probs = []
  const seqs = msgs.map((m) => m.getSequence())
  if (JSON.stringify(seqs) !== JSON.stringify(expSeqs)) probs.push(`sequences [${seqs}] != expected [${expSeqs}]`)
  for (const m of msgs) {
    const got = m.getRawData().toString('utf8')
    if (m.getSubject() !== channel) probs.push(`seq ${m.getSequence()}: subject ${m.getSubject()} != ${channel}`)
    if (got !== data(m.getSequence())) probs.push(`seq ${m.getSequence()}: payload ${JSON.stringify(got)} != ${JSON.stringify(data(m.getSequence()))}`)
  }
  return probs
}

function httpGetJson (url) {
  return withTimeout(new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { body += d })
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`))
        try { resolve(JSON.parse(body)) } catch (e) { reject(new Error(`bad JSON: ${body.slice(0, 200)}`)) }
      })
    }).on('error', reject)
  }), TIMEOUT, `GET ${url}`)
}

async function listedClients (monitorUrl) {
  const j = await httpGetJson(`${monitorUrl}/streaming/clientsz?limit=1024`)
  return (j.clients || []).map((c) => c.id)
}

// ------------------------------------------------------------------ basic

async function basicPosition (clusterID, prefix, lists, i) {
  const n = lists.length
  const pubUrls = lists[i]
  const subUrls = lists[(i + 1) % n]
  const tag = `p${i}`
  const name = (s) => `${tag}.${s}`
  let P, S
  try {
    P = await connect(clusterID, `${prefix}-${tag}-pub`, pubUrls)
    S = await connect(clusterID, `${prefix}-${tag}-sub`, subUrls)
  } catch (e) {
    check(name('connect'), false, errText(e))
    if (P) await closeConn(P)
    return
  }
  const pp = connectedPort(P)
  const sp = connectedPort(S)
  check(name('connect'), pp === urlPort(pubUrls[0]) && sp === urlPort(subUrls[0]),
    `publisher on :${pp} (want :${urlPort(pubUrls[0])}), subscriber on :${sp} (want :${urlPort(subUrls[0])})`)

  // Plain subscription (new only), 5 synchronous publishes with acks.
  const ch = `${prefix}.${tag}`
  const data = (s) => `${tag}-m${s}`
  let coll = new Collector(false)
  let sub
  try {
    sub = await subscribe(S, ch, coll, S.subscriptionOptions())
    let probs = await publishSync(P, ch, range(1, 5).map(data))
    check(name('publish_acked'), probs.length === 0, probs.join('; '))
    await coll.waitCount(5)
    await sleep(GRACE)
    probs = exactProblems(coll.msgs, ch, range(1, 5), data)
    const u = await unsub(sub)
    if (u) probs.push(u)
    check(name('plain_sub'), probs.length === 0, probs.join('; '))
  } catch (e) {
    check(name('plain_sub'), false, errText(e))
  }

  // Durable (manual acks): 1..5, close, 6..8 published, resume with 6..8.
  const dopts = () => S.subscriptionOptions().setDurableName('dur').setDeliverAllAvailable()
    .setManualAckMode(true).setAckWait(2000)
  try {
    coll = new Collector(true)
    sub = await subscribe(S, ch, coll, dopts())
    await coll.waitCount(5)
    await sleep(GRACE)
    let probs = exactProblems(coll.msgs, ch, range(1, 5), data)
    let u = await unsub(sub, true)
    if (u) probs.push(u)
    probs = probs.concat(await publishSync(P, ch, range(6, 8).map(data)))
    coll = new Collector(true)
    sub = await subscribe(S, ch, coll, dopts())
    await coll.waitCount(3)
    await sleep(GRACE)
    probs = probs.concat(exactProblems(coll.msgs, ch, range(6, 8), data))
    u = await unsub(sub)
    if (u) probs.push(u)
    check(name('durable_sub'), probs.length === 0, probs.join('; '))
  } catch (e) {
    check(name('durable_sub'), false, errText(e))
  }

  // Queue group with one member on each connection: union is exactly 1..10.
  const qch = `${prefix}.${tag}q`
  const qdata = (s) => `${tag}-q${s}`
  try {
    const c1 = new Collector(false)
    const c2 = new Collector(false)
    const s1 = await subscribe(S, qch, c1, S.subscriptionOptions(), 'grp')
    const s2 = await subscribe(P, qch, c2, P.subscriptionOptions(), 'grp')
    let probs = await publishSync(P, qch, range(1, 10).map(qdata))
    await c1.waitFor(() => c1.msgs.length + c2.msgs.length >= 10)
    await sleep(GRACE)
    const all = c1.seqs().concat(c2.seqs()).sort((a, b) => a - b)
    if (JSON.stringify(all) !== JSON.stringify(range(1, 10))) probs.push(`union [${all}] != 1..10`)
    for (const m of c1.msgs.concat(c2.msgs)) {
      if (m.getRawData().toString() !== qdata(m.getSequence())) probs.push(`seq ${m.getSequence()}: bad payload`)
    }
    for (const s of [s1, s2]) {
      const u = await unsub(s)
      if (u) probs.push(u)
    }
    check(name('queue_sub'), probs.length === 0, probs.join('; ') || `split ${c1.msgs.length}/${c2.msgs.length}`)
  } catch (e) {
    check(name('queue_sub'), false, errText(e))
  }

  // 20 async publishes, then a deliver-all subscriber on the other node.
  const ach = `${prefix}.${tag}a`
  const adata = (s) => `${tag}-a${s}`
  try {
    const probs = []
    let acked = 0
    await withTimeout(new Promise((resolve) => {
      for (const s of range(1, 20)) {
        P.publish(ach, adata(s), (err) => {
          if (err) probs.push(`ack error ${errText(err)}`)
          if (++acked === 20) resolve()
        })
      }
    }), TIMEOUT, 'async acks').catch(() => probs.push(`only ${acked}/20 acks`))
    const c = new Collector(false)
    const s = await subscribe(S, ach, c, S.subscriptionOptions().setDeliverAllAvailable())
    await c.waitCount(20)
    await sleep(GRACE)
    const p2 = probs.concat(exactProblems(c.msgs, ach, range(1, 20), adata))
    const u = await unsub(s)
    if (u) p2.push(u)
    check(name('async_publish'), p2.length === 0, p2.join('; ').slice(0, 600))
  } catch (e) {
    check(name('async_publish'), false, errText(e))
  }

  const e1 = await closeConn(S)
  const e2 = await closeConn(P)
  check(name('close'), !e1 && !e2, [e1, e2].filter(Boolean).join('; '))
}

async function basic (clusterID, prefix, lists) {
  for (let i = 0; i < lists.length; i++) await basicPosition(clusterID, prefix, lists, i)
}

// ------------------------------------------------------------------ failover

async function failover (clusterID, prefix, urls, killPid, monitorUrl) {
  const clientID = `${prefix}-fo`
  const events = []
  let sc
  try {
    sc = await connect(clusterID, clientID, urls, events)
  } catch (e) {
    return check('connect', false, errText(e))
  }
  const before = connectedPort(sc)
  if (!check('connect', before === urlPort(urls[0]), `connected to :${before}, want :${urlPort(urls[0])} (the node to kill)`)) return
  const ch = `${prefix}.fo`
  const data = (s) => `fo-${s}`
  const plain = new Collector(false)
  const dur = new Collector(true)
  try {
    await subscribe(sc, ch, plain, sc.subscriptionOptions().setDeliverAllAvailable().setAckWait(2000))
    await subscribe(sc, ch, dur, sc.subscriptionOptions().setDurableName('fodur').setDeliverAllAvailable()
      .setManualAckMode(true).setAckWait(2000))
  } catch (e) {
    return check('subscribe', false, errText(e))
  }
  let probs = await publishSync(sc, ch, range(1, 5).map(data))
  const payloads = (c) => new Set(c.msgs.map((m) => m.getRawData().toString('utf8')))
  const hasAll = (c, want) => () => { const got = payloads(c); return want.every((d) => got.has(d)) }
  await plain.waitFor(hasAll(plain, range(1, 5).map(data)))
  await dur.waitFor(hasAll(dur, range(1, 5).map(data)))
  probs = probs.concat(exactProblems(plain.msgs, ch, range(1, 5), data))
  check('before_failover', probs.length === 0, probs.join('; '))
  try {
    const ids = await listedClients(monitorUrl)
    check('clientsz_before', ids.includes(clientID), `clients [${ids}]`)
  } catch (e) {
    check('clientsz_before', false, errText(e))
  }

  // A burst of async publishes (every 10 ms) across the kill of the node
  // the client is connected to, until 20 were issued after the reconnect.
  const burst = [] // { data, afterReconnect, done, err }
  const reconnected = () => events.find((e) => e.ev === 'reconnect')
  let tKill = 0
  let killErr = null
  await new Promise((resolve) => {
    const deadline = Date.now() + 10000
    let after = 0
    const tick = () => {
      const r = reconnected()
      if (burst.length === 10 && !tKill) {
        tKill = Date.now()
        try { process.kill(killPid, 'SIGKILL') } catch (e) { killErr = e }
      }
      if (killErr || after >= 20 || Date.now() > deadline) return resolve()
      const b = { data: `fo-b${burst.length + 1}`, afterReconnect: Boolean(r), done: false, err: null }
      if (r) after++
      burst.push(b)
      try {
        sc.publish(ch, b.data, (err) => { b.done = true; b.err = err ? errText(err) : null })
      } catch (e) {
        b.done = true
        b.err = errText(e)
      }
      setTimeout(tick, 10)
    }
    tick()
  })
  if (killErr) return check('kill_node', false, `kill -9 ${killPid}: ${errText(killErr)}`)
  const recon = reconnected()
  if (!check('reconnect', recon && recon.port === urlPort(urls[1]),
    recon ? `reconnected to :${recon.port} (want :${urlPort(urls[1])}) after ${recon.t - tKill}ms`
      : `no reconnect within 10s; events ${JSON.stringify(events)}`)) return

  // Synchronous publishes after the failover are acked.
  probs = await publishSync(sc, ch, range(6, 10).map(data))
  check('publish_after_failover', probs.length === 0, probs.join('; '))

  // Server heartbeats and client pings run; the burst's acks settle
  // (ack timeout 5 s).
  await sleep(HB_WAIT)
  const pendingAcks = burst.filter((b) => !b.done).length
  const lateFailed = burst.filter((b) => b.afterReconnect && (!b.done || b.err))
  const acked = burst.filter((b) => b.done && !b.err)
  check('burst_acked_after_reconnect', lateFailed.length === 0,
    `${acked.length}/${burst.length} burst publishes acked, ${burst.filter((b) => b.afterReconnect).length} issued after the reconnect` +
    (lateFailed.length ? `; not acked after the reconnect: ${lateFailed.map((b) => `${b.data} (${b.err || 'no ack'})`).join(', ')}` : '') +
    (pendingAcks ? `; ${pendingAcks} issued before it without ack or error yet` : ''))

  // Every acked message reaches both subscriptions (redeliveries allowed).
  const want = range(1, 10).map(data).concat(acked.map((b) => b.data))
  const okPlain = await plain.waitFor(hasAll(plain, want), 10000)
  const okDur = await dur.waitFor(hasAll(dur, want), 10000)
  const miss = (c) => { const got = payloads(c); return want.filter((d) => !got.has(d)) }
  check('receive_after_failover', okPlain && okDur,
    `${want.length} acked messages; plain missing [${miss(plain)}], durable missing [${miss(dur)}]; ` +
    `deliveries plain ${plain.msgs.length}, durable ${dur.msgs.length}`)

  try {
    const ids = await listedClients(monitorUrl)
    check('clientsz_after_heartbeats', ids.includes(clientID),
      `${clientID} ${ids.includes(clientID) ? 'still' : 'NOT'} listed ${Date.now() - tKill}ms after the kill (clients [${ids}])`)
  } catch (e) {
    check('clientsz_after_heartbeats', false, errText(e))
  }
  const lost = events.filter((e) => e.ev === 'connection_lost')
  check('no_connection_lost', lost.length === 0, JSON.stringify(lost))
  probs = await publishSync(sc, ch, range(11, 12).map(data))
  if (!(await plain.waitFor(hasAll(plain, range(11, 12).map(data))))) probs.push('plain subscriber did not get fo-11, fo-12')
  check('publish_receive_late', probs.length === 0, probs.join('; '))

  const e = await closeConn(sc)
  check('close', !e, e)
  try {
    const ids = await listedClients(monitorUrl)
    check('clientsz_after_close', !ids.includes(clientID), `clients [${ids}]`)
  } catch (err) {
    check('clientsz_after_close', false, errText(err))
  }
}

// ------------------------------------------------------------------ main

async function main () {
  const [mode, clusterID, prefix, ...rest] = process.argv.slice(2)
  const usage = () => {
    console.error('usage: node_cluster.js basic CLUSTER_ID PREFIX LIST [LIST...]\n' +
      '       node_cluster.js failover CLUSTER_ID PREFIX LIST KILL_PID MONITOR_URL')
    process.exit(64)
  }
  if (!mode || !clusterID || !prefix || rest.length === 0) usage()
  const lists = (mode === 'failover' ? rest.slice(0, 1) : rest).map((l) => l.split(',').filter(Boolean))
  const watchdog = setTimeout(() => {
    console.log(`FAIL watchdog: exceeded ${WATCHDOG}ms`)
    process.exit(2)
  }, WATCHDOG)
  try {
    if (mode === 'basic') {
      await basic(clusterID, prefix, lists)
    } else if (mode === 'failover') {
      if (rest.length !== 3 || lists[0].length < 2) usage()
      await failover(clusterID, prefix, lists[0], Number(rest[1]), rest[2])
    } else {
      usage()
    }
  } catch (e) {
    check('unexpected_exception', false, (e && e.stack) || errText(e))
  }
  for (const sc of live) { try { sc.close() } catch (e) {} }
  clearTimeout(watchdog)
  console.log(`# node: ${passes} ok, ${failures} failed`)
  process.exit(failures ? 1 : 0)
}

main()
