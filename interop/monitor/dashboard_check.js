#!/usr/bin/env node
/*
 * Checks the monitoring dashboard (GET /) in Debian's headless Chromium,
 * driven by puppeteer-core (which never downloads a browser: it runs the
 * executable given by $CHROMIUM, default /usr/bin/chromium).
 *
 * usage: node dashboard_check.js BASE_URL SCREENSHOT.png [EXPECT.json]
 *   BASE_URL     e.g. http://127.0.0.1:8222/ (loopback only)
 *   SCREENSHOT   where to save a 1280x800 PNG of the page with the data
 *   EXPECT.json  what the page must show (written by scenario.js); without
 *                it only the generic checks run (no errors, live refresh)
 *   env: SCREENSHOT_DELAY=30   seconds to let the page refresh before the
 *                              screenshot (fuller rate sparklines; default
 *                              0, at most 60)
 *        SCREENSHOT_FULL_PAGE=1  the whole page, not just 1280x800
 *
 * Checks, one line each ("ok NAME" or "FAIL NAME: details"):
 *   - the page loads; no console message of level error, no page error
 *     (uncaught exception or unhandled rejection), no failed request and no
 *     HTTP error status while it loads and refreshes for ~3 s (console
 *     messages include what Chromium logs itself: failed resources, CSP
 *     violations);
 *   - every request goes to the server's own origin (works offline);
 *   - it refreshes about once a second, never two requests at once;
 *   - the summary, channel rows, subscription rows (pending / max in
 *     flight, stalled) and client rows match EXPECT.json, the names shown
 *     literally (no markup from the data reaches the DOM);
 *   - a channel still being published to shows a publish rate in range;
 *   - the filter box and the Pause button work;
 *   - when the server's answers fail, a banner shows and nothing is thrown;
 *     when they come back, the banner goes.
 * Exits 1 if a check failed, 2 on the watchdog.
 */
'use strict'

const fs = require('fs')
const path = require('path')
const { createRequire } = require('module')

function loadPuppeteer () {
  try {
    return require('puppeteer-core')
  } catch (e) {
    return createRequire(path.join(__dirname, '..', 'node', 'package.json'))('puppeteer-core')
  }
}

const SHOT_DELAY_S = Math.max(0, Math.min(60, Number(process.env.SCREENSHOT_DELAY) || 0))
const WATCHDOG_MS = 90000 + SHOT_DELAY_S * 1000
const STEP_MS = 15000 // bound of every single wait
const WATCH_MS = 3200 // refresh period watched for errors
const SHOT_DELAY_MS = SHOT_DELAY_S * 1000
const SHOT_FULL = process.env.SCREENSHOT_FULL_PAGE === '1'

const [baseUrl, shotPath, expectPath] = process.argv.slice(2)
if (!baseUrl || !shotPath) {
  console.error('usage: node dashboard_check.js BASE_URL SCREENSHOT.png [EXPECT.json]')
  process.exit(64)
}
const origin = new URL(baseUrl).origin
if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(origin)) {
  console.error(`dashboard_check: ${origin} is not a loopback address`)
  process.exit(64)
}
const expect = expectPath ? JSON.parse(fs.readFileSync(expectPath, 'utf8')) : null

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
const fmtInt = (n) => Math.round(n).toLocaleString('en-US')

let browser = null
const watchdog = setTimeout(() => {
  console.log(`FAIL watchdog: dashboard check still running after ${WATCHDOG_MS / 1000}s`)
  try { if (browser && browser.process()) browser.process().kill('SIGKILL') } catch (e) {}
  process.exit(2)
}, WATCHDOG_MS)

async function main () {
  const puppeteer = loadPuppeteer()
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium'
  const args = [
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-extensions',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--metrics-recording-only',
    // Nothing but the server: any other host name fails to resolve.
    `--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE ${new URL(baseUrl).hostname}`,
    '--window-size=1280,800'
  ]
  if (typeof process.getuid === 'function' && process.getuid() === 0) args.push('--no-sandbox')
  browser = await puppeteer.launch({
    executablePath,
    headless: true, // puppeteer passes --headless=new
    args,
    defaultViewport: { width: 1280, height: 800 },
    timeout: STEP_MS,
    protocolTimeout: STEP_MS * 2,
    // The browser's own stderr (the Debian wrapper's noise) is not ours.
    dumpio: false,
    // run.sh gives a profile directory of its own: it finds the browser's
    // processes by it if this script is killed before closing the browser.
    userDataDir: process.env.DASHBOARD_PROFILE || undefined
  })
  check('browser_launch', true, `${await browser.version()} (${executablePath})`)

  const page = await browser.newPage()
  page.setDefaultTimeout(STEP_MS)

  // ------------------------------------------------------------ listeners
  let counting = true // console/network errors count as failures
  const consoleErrors = []
  const consoleWarnings = []
  const pageErrors = []
  const httpErrors = []
  const failedRequests = []
  const foreignRequests = []
  let inflight = 0
  let maxInflight = 0
  let dataRequests = 0

  page.on('console', (msg) => {
    const loc = msg.location() && msg.location().url ? ` @ ${msg.location().url}` : ''
    if (msg.type() === 'error' || msg.type() === 'assert') {
      if (counting) consoleErrors.push(msg.text() + loc)
    } else if (msg.type() === 'warn' || msg.type() === 'warning') {
      if (counting) consoleWarnings.push(msg.text() + loc)
    }
  })
  // Uncaught exceptions and unhandled rejections: always failures.
  page.on('pageerror', (err) => pageErrors.push(String(err && err.message ? err.message : err)))
  page.on('error', (err) => pageErrors.push('page crashed: ' + String(err && err.message ? err.message : err)))
  page.on('request', (req) => {
    const u = req.url()
    if (!u.startsWith('data:') && new URL(u).origin !== origin) foreignRequests.push(u)
    if (u.includes('/streaming/serverz')) {
      inflight++
      dataRequests++
      maxInflight = Math.max(maxInflight, inflight)
    }
  })
  const done = (req) => {
    if (req.url().includes('/streaming/serverz')) inflight = Math.max(0, inflight - 1)
  }
  page.on('requestfinished', done)
  page.on('requestfailed', (req) => {
    done(req)
    if (counting) failedRequests.push(`${req.url()}: ${req.failure() ? req.failure().errorText : '?'}`)
  })
  page.on('response', (resp) => {
    if (counting && resp.status() >= 400) httpErrors.push(`${resp.url()}: HTTP ${resp.status()}`)
  })

  // ------------------------------------------------------------ load
  const resp = await page.goto(baseUrl, { waitUntil: 'load', timeout: STEP_MS })
  check('page_load', resp && resp.status() === 200,
    resp ? `HTTP ${resp.status()} ${resp.headers()['content-type'] || ''}` : 'no response')
  const title = await page.title()
  check('page_title', /stan-server/i.test(title), JSON.stringify(title))

  const updates = () => page.evaluate(() => Number(document.body.dataset.updates || 0))
  let firstOk = true
  try {
    await page.waitForFunction(() => Number(document.body.dataset.updates || 0) >= 2, { timeout: STEP_MS, polling: 100 })
  } catch (e) {
    firstOk = false
  }
  const lastError = await page.evaluate(() => document.body.dataset.lastError || '')
  check('first_refreshes', firstOk, firstOk ? '' : `no 2 successful refreshes within ${STEP_MS / 1000}s; last error: ${lastError || 'none'}`)

  // ------------------------------------------------------------ live refresh
  const u0 = await updates()
  const r0 = dataRequests
  await sleep(WATCH_MS)
  const u1 = await updates()
  const n = u1 - u0
  check('refreshes_about_every_second', n >= 2 && n <= 5, `${n} refreshes in ${WATCH_MS / 1000}s, ${dataRequests - r0} serverz requests`)
  check('no_overlapping_requests', maxInflight <= 1, `at most ${maxInflight} serverz request(s) in flight at once`)
  const status = await page.evaluate(() => document.body.dataset.status)
  const bannerHidden = await page.evaluate(() => document.getElementById('banner').hidden)
  check('status_live', status === 'live' && bannerHidden, `status ${status}, banner ${bannerHidden ? 'hidden' : 'shown'}`)

  // ------------------------------------------------------------ content
  // Publish rates: a rate is one refresh's worth, which a busy machine may
  // skew; wait (bounded) until it is in range rather than read it once.
  const rates = {}
  for (const want of (expect && expect.channels) || []) {
    if (want.min_rate === undefined && want.max_rate === undefined) continue
    const lo = want.min_rate || 0
    const hi = want.max_rate === undefined ? Infinity : want.max_rate
    const read = () => page.evaluate((name) => {
      const tr = Array.from(document.querySelectorAll('tr.channel-row')).find((r) => r.dataset.channel === name)
      const cell = tr && tr.querySelector('.rate')
      return cell ? { value: cell.dataset.rate, text: cell.textContent } : null
    }, want.name)
    let ok = true
    try {
      await page.waitForFunction((name, lo, hi) => {
        const tr = Array.from(document.querySelectorAll('tr.channel-row')).find((r) => r.dataset.channel === name)
        const v = tr && tr.querySelector('.rate') ? tr.querySelector('.rate').dataset.rate : ''
        return v !== '' && Number(v) >= lo && Number(v) <= hi
      }, { timeout: 8000, polling: 100 }, want.name, lo, hi === Infinity ? Number.MAX_VALUE : hi)
    } catch (e) {
      ok = false
    }
    rates[want.name] = { ok, shown: await read() }
  }

  const dom = await page.evaluate(() => {
    const txt = (root, sel) => {
      const n = root.querySelector(sel)
      return n ? n.textContent : null
    }
    const visible = (n) => {
      if (!n) return false
      const s = getComputedStyle(n)
      const r = n.getBoundingClientRect()
      return s.display !== 'none' && s.visibility !== 'hidden' && r.width > 0 && r.height > 0
    }
    return {
      summary: Object.fromEntries(Array.from(document.querySelectorAll('#summary dd')).map((d) => [d.dataset.field, d.textContent])),
      channels: Array.from(document.querySelectorAll('tr.channel-row')).map((tr) => ({
        data: { ...tr.dataset },
        name: txt(tr, '.name'),
        msgs: txt(tr, '.msgs'),
        firstSeq: txt(tr, '.first-seq'),
        lastSeq: txt(tr, '.last-seq'),
        subs: txt(tr, '.subs'),
        rate: txt(tr, '.rate'),
        rateValue: tr.querySelector('.rate') ? tr.querySelector('.rate').dataset.rate : null
      })),
      subs: Array.from(document.querySelectorAll('tr.sub-row')).map((tr) => {
        const badge = tr.querySelector('.state .b-stalled')
        return {
          data: { ...tr.dataset },
          stalledClass: tr.classList.contains('stalled'),
          client: txt(tr, '.client'),
          durable: txt(tr, '.durable'),
          queue: txt(tr, '.queue'),
          lastSent: txt(tr, '.last-sent'),
          pending: txt(tr, '.pending-text'),
          state: txt(tr, '.state'),
          stalledBadgeVisible: visible(badge),
          stalledBadgeBg: badge ? getComputedStyle(badge).backgroundColor : null,
          rowBg: getComputedStyle(tr).backgroundColor
        }
      }),
      // Rows whose group (tbody.sub-group) is not their channel's.
      misgrouped: Array.from(document.querySelectorAll('tr.sub-row')).filter((tr) => {
        const g = tr.closest('tbody.sub-group')
        return !g || g.dataset.channel !== tr.dataset.channel
      }).length,
      clients: Array.from(document.querySelectorAll('tr.client-row')).map((tr) => ({
        data: { ...tr.dataset },
        id: txt(tr, '.name'),
        subs: txt(tr, '.subs')
      })),
      // Elements that only markup injected from the data would create.
      injected: document.querySelectorAll('main i, main u, main b, main script, main img').length
    }
  })

  if (expect) {
    checkContent(dom, rates)
  } else {
    check('content_rows', dom.channels.length > 0, `${dom.channels.length} channel rows, ${dom.subs.length} subscription rows, ${dom.clients.length} client rows`)
  }

  // ------------------------------------------------------------ screenshot
  fs.mkdirSync(path.dirname(path.resolve(shotPath)), { recursive: true })
  if (SHOT_DELAY_MS) await sleep(SHOT_DELAY_MS) // errors meanwhile still count
  await page.screenshot({ path: shotPath, type: 'png', fullPage: SHOT_FULL })
  const size = fs.statSync(shotPath).size
  check('screenshot', size > 10000, `${shotPath}, ${size} bytes`)

  // ------------------------------------------------------------ controls
  if (expect) {
    // The filter narrows subscriptions and clients to one client's.
    await page.type('#filter', 'mon-billing')
    const filtered = await page.evaluate(() => ({
      subs: Array.from(document.querySelectorAll('tr.sub-row')).map((tr) => tr.dataset.client),
      clients: Array.from(document.querySelectorAll('tr.client-row')).map((tr) => tr.dataset.client)
    }))
    check('filter', JSON.stringify(filtered.subs) === '["mon-billing"]' && JSON.stringify(filtered.clients) === '["mon-billing"]',
      `subscription rows ${JSON.stringify(filtered.subs)}, client rows ${JSON.stringify(filtered.clients)}`)
    await page.click('#filter', { clickCount: 3 })
    await page.keyboard.press('Backspace')
  }
  // Pause stops the refreshes; Resume starts them again.
  await page.click('#pause')
  const p0 = await updates()
  await sleep(2200)
  const p1 = await updates()
  const pausedStatus = await page.evaluate(() => document.body.dataset.status)
  await page.click('#pause')
  let resumed = true
  try {
    await page.waitForFunction((n) => Number(document.body.dataset.updates) > n && document.body.dataset.status === 'live',
      { timeout: 5000, polling: 100 }, p1)
  } catch (e) {
    resumed = false
  }
  check('pause_resume', pausedStatus === 'paused' && p1 - p0 <= 1 && resumed,
    `status ${pausedStatus} while paused, ${p1 - p0} refresh(es) in 2.2 s paused, ${resumed ? 'live again' : 'not live again within 5 s'}`)

  // ------------------------------------------------------------ errors so far
  counting = false
  check('no_console_errors', consoleErrors.length === 0, consoleErrors.slice(0, 5).join(' | '))
  if (consoleWarnings.length) console.log(`note console warnings: ${consoleWarnings.slice(0, 5).join(' | ')}`)
  check('no_failed_requests', failedRequests.length === 0 && httpErrors.length === 0,
    failedRequests.concat(httpErrors).slice(0, 5).join(' | '))
  check('only_own_origin', foreignRequests.length === 0, foreignRequests.slice(0, 5).join(' | '))
  check('no_page_errors', pageErrors.length === 0, pageErrors.slice(0, 5).join(' | '))

  // ------------------------------------------------------------ failure path
  // The server's answers fail for a while (requests aborted in the
  // browser): a banner must show, and nothing may be thrown.
  await page.setRequestInterception(true)
  let block = true
  page.on('request', (req) => {
    if (req.isInterceptResolutionHandled()) return
    if (block && req.url().includes('/streaming/')) req.abort('connectionrefused').catch(() => {})
    else req.continue().catch(() => {})
  })
  const pe0 = pageErrors.length
  let bannerShown = true
  try {
    await page.waitForFunction(() => !document.getElementById('banner').hidden && document.body.dataset.status === 'error',
      { timeout: STEP_MS, polling: 100 })
  } catch (e) {
    bannerShown = false
  }
  const bannerText = await page.evaluate(() => document.getElementById('banner').textContent)
  check('failure_banner', bannerShown, JSON.stringify(bannerText))
  await sleep(1500)
  block = false
  let recovered = true
  try {
    await page.waitForFunction(() => document.getElementById('banner').hidden && document.body.dataset.status === 'live',
      { timeout: STEP_MS, polling: 100 })
  } catch (e) {
    recovered = false
  }
  check('failure_recovery', recovered, 'banner hidden and live again once the answers are back')
  check('no_page_errors_on_failure', pageErrors.length === pe0, pageErrors.slice(pe0, pe0 + 5).join(' | '))

  await browser.close()
  browser = null
}

function checkContent (dom, rates) {
  // Summary.
  for (const [field, want] of Object.entries(expect.summary || {})) {
    const got = dom.summary[field]
    const wantText = typeof want === 'number' ? fmtInt(want) : String(want)
    check(`summary_${field}`, got === wantText, `shown ${JSON.stringify(got)}, expected ${JSON.stringify(wantText)}`)
  }

  // Channels.
  const names = dom.channels.map((c) => c.data.channel)
  check('channel_rows', (expect.channels || []).every((c) => names.includes(c.name)),
    `rows ${JSON.stringify(names)}`)
  for (const want of expect.channels || []) {
    const row = dom.channels.find((c) => c.data.channel === want.name)
    if (!row) {
      check(`channel ${want.name}`, false, 'no row')
      continue
    }
    const problems = []
    if (row.name !== want.name) problems.push(`name shown ${JSON.stringify(row.name)}`)
    if (want.msgs !== undefined && row.msgs !== fmtInt(want.msgs)) problems.push(`msgs ${row.msgs} != ${want.msgs}`)
    if (want.first_seq !== undefined && row.firstSeq !== fmtInt(want.first_seq)) problems.push(`first_seq ${row.firstSeq} != ${want.first_seq}`)
    if (want.last_seq !== undefined && row.lastSeq !== fmtInt(want.last_seq)) problems.push(`last_seq ${row.lastSeq} != ${want.last_seq}`)
    if (want.min_msgs !== undefined && !(Number(row.data.msgs) >= want.min_msgs)) problems.push(`msgs ${row.data.msgs} < ${want.min_msgs}`)
    if (want.subs !== undefined && row.subs !== fmtInt(want.subs)) problems.push(`subs ${row.subs} != ${want.subs}`)
    if (want.min_rate !== undefined || want.max_rate !== undefined) {
      const r = rates[want.name]
      if (!r || !r.ok) {
        problems.push(`rate ${JSON.stringify(r && r.shown)} not in [${want.min_rate}, ${want.max_rate}] msgs/s within 8 s`)
      }
    } else if (want.rate_zero && row.rateValue !== '' && Number(row.rateValue) !== 0) {
      problems.push(`rate ${row.rate}, expected 0`)
    }
    check(`channel ${want.name}`, problems.length === 0,
      problems.length ? problems.join('; ') : `msgs ${row.msgs}, seq ${row.firstSeq}..${row.lastSeq}, rate ${row.rate}`)
  }

  // Subscriptions.
  for (const want of expect.subs || []) {
    const label = `sub ${want.channel}/${want.client}` + (want.durable ? ` durable=${want.durable}` : '') + (want.queue ? ` queue=${want.queue}` : '')
    const row = dom.subs.find((s) => s.data.channel === want.channel && s.data.client === want.client &&
      s.data.durable === (want.durable || '') && s.data.queue === (want.queue || ''))
    if (!row) {
      check(label, false, `no row; rows: ${JSON.stringify(dom.subs.map((s) => [s.data.channel, s.data.client, s.data.durable, s.data.queue]))}`)
      continue
    }
    const problems = []
    if (row.client !== want.client) problems.push(`client shown ${JSON.stringify(row.client)}`)
    if (row.durable !== (want.durable || '')) problems.push(`durable shown ${JSON.stringify(row.durable)}`)
    if (row.queue !== (want.queue || '')) problems.push(`queue shown ${JSON.stringify(row.queue)}`)
    if (want.pending !== undefined && want.max_inflight !== undefined) {
      const p = `${fmtInt(want.pending)} / ${fmtInt(want.max_inflight)}`
      if (row.pending !== p) problems.push(`pending shown ${JSON.stringify(row.pending)}, expected ${JSON.stringify(p)}`)
    }
    if (want.last_sent !== undefined && row.lastSent !== fmtInt(want.last_sent)) problems.push(`last_sent ${row.lastSent} != ${want.last_sent}`)
    if (want.offline !== undefined && (row.data.offline === 'true') !== want.offline) problems.push(`offline ${row.data.offline}`)
    if (want.stalled !== undefined) {
      const shownStalled = row.stalledClass && row.data.stalled === 'true' && /stalled/.test(row.state) && row.stalledBadgeVisible
      if (want.stalled && !shownStalled) problems.push(`not marked stalled (class ${row.stalledClass}, data ${row.data.stalled}, state ${JSON.stringify(row.state)}, badge visible ${row.stalledBadgeVisible})`)
      if (!want.stalled && (row.stalledClass || row.data.stalled === 'true' || /stalled/.test(row.state))) problems.push(`marked stalled (state ${JSON.stringify(row.state)})`)
    }
    check(label, problems.length === 0,
      problems.length ? problems.join('; ') : `pending ${row.pending}, last sent ${row.lastSent}, state ${row.state}`)
  }
  check('subs_grouped_by_channel', dom.misgrouped === 0, `${dom.misgrouped} row(s) outside their channel's group`)
  const stalledRows = dom.subs.filter((s) => s.data.stalled === 'true')
  if ((expect.subs || []).some((s) => s.stalled)) {
    const r = stalledRows[0]
    check('stalled_row_highlighted', r && r.rowBg && r.rowBg !== 'rgba(0, 0, 0, 0)' && r.rowBg !== 'transparent',
      r ? `row background ${r.rowBg}, badge ${r.stalledBadgeBg}` : 'no stalled row')
  }
  const nStalled = (expect.subs || []).filter((s) => s.stalled).length
  check('stalled_count', stalledRows.length === nStalled, `${stalledRows.length} rows marked stalled, expected ${nStalled}`)

  // Clients.
  for (const want of expect.clients || []) {
    const row = dom.clients.find((c) => c.data.client === want.id)
    check(`client ${want.id}`, row && row.id === want.id && (want.subs === undefined || row.subs === fmtInt(want.subs)),
      row ? `subs shown ${row.subs}` + (want.subs !== undefined ? `, expected ${want.subs}` : '') : 'no row')
  }
  if (expect.clients) {
    const extra = dom.clients.filter((c) => !expect.clients.some((w) => w.id === c.data.client)).map((c) => c.data.client)
    check('no_unexpected_clients', extra.length === 0, extra.join(', '))
  }

  check('data_shown_literally', dom.injected === 0, `${dom.injected} element(s) created from data markup`)
}

main()
  .catch((e) => {
    check('dashboard', false, e && e.stack ? e.stack.split('\n').slice(0, 3).join(' ') : String(e))
  })
  .finally(async () => {
    clearTimeout(watchdog)
    if (browser) {
      try { await Promise.race([browser.close(), sleep(5000)]) } catch (e) {}
      try { if (browser.process()) browser.process().kill('SIGKILL') } catch (e) {}
    }
    console.log(`dashboard: ${passes} passed, ${failures} failed`)
    process.exit(failures ? 1 : 0)
  })
