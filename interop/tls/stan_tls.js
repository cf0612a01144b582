#!/usr/bin/env node
/*
 * A NATS Streaming round trip over TLS with the official Node client
 * node-nats-streaming 0.3.2 (its bundled `nats` 1.x does the TLS), with our
 * CA and client certificate.
 *
 * usage: node stan_tls.js NATS_URL CLUSTER_ID CERTDIR
 *
 * Prints PASS/FAIL lines, exits 1 on any failure (2 on the watchdog).
 */
'use strict'

const fs = require('fs')
const path = require('path')
const { createRequire } = require('module')

const req = createRequire(path.join(__dirname, '..', 'node', 'package.json'))
const stan = req('node-nats-streaming')

const TIMEOUT = 10000
let passes = 0
let failures = 0
function check (name, ok, detail) {
  if (ok) passes++
  else failures++
  console.log(`${ok ? 'PASS' : 'FAIL'} [stan-node] ${name}${detail ? ' -- ' + detail : ''}`)
}

const watchdog = setTimeout(() => {
  console.log('FAIL [stan-node] watchdog: scenario exceeded 50s')
  process.exit(2)
}, 50000)

const [url, cluster, certdir] = process.argv.slice(2)
const file = (name) => fs.readFileSync(path.join(certdir, name))

function finish () {
  clearTimeout(watchdog)
  console.log(`[stan-node] ${passes} passed, ${failures} failed`)
  process.exit(failures ? 1 : 0)
}

const sc = stan.connect(cluster, `tls-node-${process.pid}`, {
  url,
  tls: { ca: [file('ca.pem')], cert: file('client-cert.pem'), key: file('client-key.pem') },
  connectTimeout: TIMEOUT,
  maxReconnectAttempts: 0
})
const timer = setTimeout(() => {
  check('round trip over TLS', false, 'timeout')
  finish()
}, TIMEOUT)
sc.on('error', (e) => {
  check('connected over TLS', false, String(e))
  finish()
})
sc.on('connect', () => {
  check('connected over TLS', true)
  const channel = `tls.stan.${process.pid}`
  const opts = sc.subscriptionOptions().setDeliverAllAvailable()
  sc.publish(channel, 'over tls', (err) => {
    check('published, PubAck received', !err, err ? String(err) : '')
    const sub = sc.subscribe(channel, opts)
    sub.on('message', (m) => {
      clearTimeout(timer)
      check('round trip over TLS', m.getData() === 'over tls', `seq ${m.getSequence()}`)
      sc.close()
    })
  })
})
sc.on('close', finish)
