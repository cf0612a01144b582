/*
 * stan-server monitoring dashboard.
 *
 * Polls the streaming monitoring endpoints (the same JSON the Go
 * nats-streaming-server serves) once a second and renders them:
 *
 *   streaming/serverz            server summary, in/out rates
 *   streaming/channelsz?subs=1   channels, publish rates, subscriptions
 *   streaming/clientsz?subs=1    clients
 *   streaming/storez             store type (optional: failures ignored)
 *
 * Only /streaming/* is used: the NATS endpoints (/varz, /connz, ...) are
 * absent when the server runs against an external NATS server.
 *
 * Rules kept here:
 *   - one refresh at a time: the next one is scheduled when the previous one
 *     has finished (success or failure), never on a fixed interval;
 *   - a failed refresh shows a banner and backs off (1 s, 2 s, 4 s ... 16 s);
 *   - every value from the server reaches the page through textContent,
 *     setAttribute or dataset: never parsed as HTML;
 *   - nothing throws out of the poll loop (no uncaught errors, no unhandled
 *     rejections).
 *
 * Hooks for tests: <body data-updates="N"> counts successful refreshes and
 * <body data-status="live|paused|error|loading">; channel rows are
 * tr.channel-row[data-channel], subscription rows tr.sub-row[data-channel]
 * [data-client][data-inbox] with data-state="active|stalled|offline", client
 * rows tr.client-row[data-client].
 */
'use strict';

(function () {
  var POLL_MS = 1000;
  var HIDDEN_POLL_MS = 5000;
  var MAX_BACKOFF_MS = 16000;
  var FETCH_TIMEOUT_MS = 5000;
  var HISTORY = 60;

  var state = {
    paused: false,
    inFlight: false,
    timer: null,
    failures: 0,
    updates: 0,
    filter: '',
    last: null, // last successful data set, re-rendered when the filter changes
    serverPrev: null, // {now, inMsgs, outMsgs}
    rates: { inRate: null, outRate: null },
    channels: new Map() // name -> {now, lastSeq, rate, history: []}
  };

  // ------------------------------------------------------------- DOM helpers

  function $(id) {
    return document.getElementById(id);
  }

  // el('td', {className: 'num', text: '3', data: {channel: 'x'}}, [children])
  function el(tag, opts, children) {
    var node = document.createElement(tag);
    if (opts) {
      if (opts.className) node.className = opts.className;
      if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
      if (opts.title) node.title = String(opts.title);
      if (opts.data) {
        Object.keys(opts.data).forEach(function (k) {
          var v = opts.data[k];
          if (v !== undefined && v !== null) node.dataset[k] = String(v);
        });
      }
    }
    if (children) {
      children.forEach(function (c) {
        if (c) node.appendChild(c);
      });
    }
    return node;
  }

  // A value with a smaller second line ("4 msgs" over "113 B").
  function setPair(id, main, sub, title) {
    var node = $(id);
    if (!node) return;
    node.replaceChildren(document.createTextNode(main), el('span', { className: 'sub', text: sub }));
    if (title !== undefined) node.title = String(title);
  }

  // A fragment of `nodes` (any number of them: no argument-count limit).
  function fragment(nodes) {
    var f = document.createDocumentFragment();
    nodes.forEach(function (n) {
      f.appendChild(n);
    });
    return f;
  }

  function setText(id, value, title) {
    var node = $(id);
    if (!node) return;
    node.textContent = value === undefined || value === null || value === '' ? '–' : String(value);
    if (title !== undefined) node.title = String(title);
  }

  // ------------------------------------------------------------- formatting

  function isNum(n) {
    return typeof n === 'number' && isFinite(n);
  }

  function fmtInt(n) {
    return isNum(n) ? Math.round(n).toLocaleString('en-US') : '–';
  }

  function fmtBytes(n) {
    if (!isNum(n)) return '–';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var i = 0;
    var v = n;
    while (Math.abs(v) >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return i === 0 ? fmtInt(v) + ' B' : v.toFixed(v < 10 ? 2 : 1) + ' ' + units[i];
  }

  function fmtRate(r) {
    if (!isNum(r)) return '–';
    if (r === 0) return '0 msgs/s';
    if (r < 10) return r.toFixed(1) + ' msgs/s';
    return fmtInt(r) + ' msgs/s';
  }

  // RFC 3339 with up to nanoseconds ("2026-11-29T14:27:47.271304943Z",
  // "...+01:00") to milliseconds since the epoch, keeping the sub-millisecond
  // part (Date.parse would drop it). NaN if it does not parse.
  function parseTime(s) {
    if (typeof s !== 'string') return NaN;
    var m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})$/.exec(s);
    if (!m) return NaN;
    var ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
    if (m[7]) ms += Number('0.' + m[7]) * 1000;
    if (m[8] !== 'Z' && m[8] !== 'z') {
      var sign = m[8][0] === '-' ? -1 : 1;
      ms -= sign * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60000;
    }
    return ms;
  }

  // ------------------------------------------------------------- fetching

  function getJSON(path) {
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = setTimeout(function () {
      if (ctrl) ctrl.abort();
    }, FETCH_TIMEOUT_MS);
    return fetch(path, {
      cache: 'no-store',
      headers: { Accept: 'application/json' },
      signal: ctrl ? ctrl.signal : undefined
    })
      .then(function (resp) {
        if (!resp.ok) throw new Error(path + ': HTTP ' + resp.status);
        return resp.text();
      })
      .then(function (text) {
        try {
          return JSON.parse(text);
        } catch (e) {
          throw new Error(path + ': not JSON');
        }
      })
      .catch(function (e) {
        if (e && e.name === 'AbortError') throw new Error(path + ': no answer within ' + FETCH_TIMEOUT_MS / 1000 + ' s');
        if (e instanceof TypeError) throw new Error(path + ': ' + (e.message || 'network error'));
        throw e;
      })
      .finally(function () {
        clearTimeout(timer);
      });
  }

  // ------------------------------------------------------------- rates

  function updateServerRates(serverz) {
    var now = parseTime(serverz.now);
    var prev = state.serverPrev;
    if (prev && isNum(now) && now > prev.now) {
      var dt = (now - prev.now) / 1000;
      state.rates.inRate = serverz.in_msgs >= prev.inMsgs ? (serverz.in_msgs - prev.inMsgs) / dt : null;
      state.rates.outRate = serverz.out_msgs >= prev.outMsgs ? (serverz.out_msgs - prev.outMsgs) / dt : null;
    }
    if (isNum(now)) state.serverPrev = { now: now, inMsgs: serverz.in_msgs, outMsgs: serverz.out_msgs };
  }

  // Publish rate of each channel from successive last_seq values and the
  // response's `now`.
  function updateChannelRates(channelsz, channels) {
    var now = parseTime(channelsz.now);
    var seen = new Set();
    channels.forEach(function (c) {
      var name = String(c.name);
      seen.add(name);
      var h = state.channels.get(name);
      if (!h) {
        h = { now: NaN, lastSeq: NaN, rate: null, history: [] };
        state.channels.set(name, h);
      }
      if (isNum(now) && isNum(h.now) && now > h.now && isNum(c.last_seq)) {
        var dt = (now - h.now) / 1000;
        // A smaller last_seq: the channel was recreated; no rate this time.
        h.rate = c.last_seq >= h.lastSeq ? (c.last_seq - h.lastSeq) / dt : null;
        h.history.push(h.rate === null ? 0 : h.rate);
        if (h.history.length > HISTORY) h.history.shift();
      }
      if (isNum(now)) {
        h.now = now;
        h.lastSeq = c.last_seq;
      }
    });
    Array.from(state.channels.keys()).forEach(function (name) {
      if (!seen.has(name)) state.channels.delete(name);
    });
  }

  // ------------------------------------------------------------- rendering

  function matches(text) {
    return !state.filter || String(text).toLowerCase().indexOf(state.filter) !== -1;
  }

  function sparkline(history) {
    var NS = 'http://www.w3.org/2000/svg';
    var w = 120;
    var h = 22;
    var svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('width', String(w));
    svg.setAttribute('height', String(h));
    svg.setAttribute('aria-hidden', 'true');
    var base = document.createElementNS(NS, 'line');
    base.setAttribute('x1', '0');
    base.setAttribute('x2', String(w));
    base.setAttribute('y1', String(h - 1));
    base.setAttribute('y2', String(h - 1));
    base.setAttribute('class', 'spark-base');
    svg.appendChild(base);
    if (history.length > 1) {
      var max = Math.max.apply(null, history.concat([1]));
      var step = w / (HISTORY - 1);
      var x0 = w - (history.length - 1) * step;
      var pts = history.map(function (v, i) {
        var x = x0 + i * step;
        var y = h - 1 - (v / max) * (h - 3);
        return x.toFixed(1) + ',' + y.toFixed(1);
      });
      var area = document.createElementNS(NS, 'polygon');
      area.setAttribute('points', x0.toFixed(1) + ',' + (h - 1) + ' ' + pts.join(' ') + ' ' + w + ',' + (h - 1));
      area.setAttribute('class', 'spark-fill');
      svg.appendChild(area);
      var line = document.createElementNS(NS, 'polyline');
      line.setAttribute('points', pts.join(' '));
      line.setAttribute('class', 'spark-line');
      svg.appendChild(line);
    }
    return svg;
  }

  function stateClass(s) {
    switch (s) {
      case 'STANDALONE':
      case 'FT_ACTIVE':
      case 'CLUSTERED':
        return 'ok';
      case 'FT_STANDBY':
        return 'warn';
      default:
        return 'bad';
    }
  }

  function renderSummary(serverz, storez) {
    setText('s-cluster_id', serverz.cluster_id);
    setText('s-server_id', serverz.server_id);
    setText('s-version', serverz.version, serverz.go ? 'built with ' + serverz.go : '');
    var st = serverz.state + (serverz.role ? ' (' + serverz.role + ')' : '');
    setText('s-state', st);
    $('s-state').className = 'state-' + stateClass(serverz.state);
    setText('s-store', storez && storez.type ? storez.type : '–');
    setText('s-uptime', serverz.uptime, serverz.start_time ? 'started ' + serverz.start_time : '');
    setText('s-clients', fmtInt(serverz.clients));
    setText('s-channels', fmtInt(serverz.channels));
    setText('s-subscriptions', fmtInt(serverz.subscriptions));
    setPair('s-total', fmtInt(serverz.total_msgs), fmtBytes(serverz.total_bytes), fmtInt(serverz.total_bytes) + ' bytes stored');
    setPair('s-in', fmtInt(serverz.in_msgs), fmtBytes(serverz.in_bytes), fmtInt(serverz.in_bytes) + ' bytes published');
    setPair('s-out', fmtInt(serverz.out_msgs), fmtBytes(serverz.out_bytes), fmtInt(serverz.out_bytes) + ' bytes delivered (redeliveries included)');
    setText('s-in_rate', fmtRate(state.rates.inRate));
    setText('s-out_rate', fmtRate(state.rates.outRate));
    setText('s-fds', isNum(serverz.open_fds) ? fmtInt(serverz.open_fds) + (isNum(serverz.max_fds) ? ' / ' + fmtInt(serverz.max_fds) : '') : '–');
  }

  function renderChannels(channelsz, channels) {
    var body = $('channels-body');
    var rows = [];
    channels.forEach(function (c) {
      if (!matches(c.name)) return;
      var h = state.channels.get(String(c.name));
      var rate = h ? h.rate : null;
      var tr = el('tr', {
        className: 'channel-row',
        data: { channel: c.name, msgs: c.msgs, bytes: c.bytes, firstSeq: c.first_seq, lastSeq: c.last_seq, subs: c.subs_count }
      }, [
        el('th', { className: 'name', text: c.name, title: c.name }),
        el('td', { className: 'num msgs', text: fmtInt(c.msgs) }),
        el('td', { className: 'num bytes', text: fmtBytes(c.bytes), title: fmtInt(c.bytes) + ' bytes' }),
        el('td', { className: 'num first-seq', text: fmtInt(c.first_seq) }),
        el('td', { className: 'num last-seq', text: fmtInt(c.last_seq) }),
        el('td', { className: 'num rate', text: fmtRate(rate), data: { rate: isNum(rate) ? rate.toFixed(3) : '' } }),
        el('td', { className: 'spark-col' }, [sparkline(h ? h.history : [])]),
        el('td', { className: 'num subs', text: fmtInt(c.subs_count) })
      ]);
      tr.firstChild.setAttribute('scope', 'row');
      rows.push(tr);
    });
    if (rows.length === 0) {
      rows.push(el('tr', { className: 'empty' }, [
        el('td', { text: channels.length ? 'No channel matches the filter.' : 'No channels yet.' })
      ]));
      rows[0].firstChild.colSpan = 8;
    }
    body.replaceChildren(fragment(rows));
    setText('channels-count', '(' + fmtInt(channelsz.total) + ')');
    var note = $('channels-note');
    if (isNum(channelsz.total) && isNum(channelsz.count) && channelsz.count < channelsz.total) {
      note.textContent = 'Showing the first ' + fmtInt(channelsz.count) + ' of ' + fmtInt(channelsz.total) + ' channels.';
      note.hidden = false;
    } else {
      note.hidden = true;
    }
  }

  function badge(text, cls) {
    return el('span', { className: 'badge ' + cls, text: text });
  }

  function subState(s) {
    if (s.is_offline) return 'offline';
    if (s.is_stalled) return 'stalled';
    return 'active';
  }

  function subRow(channel, s) {
    var st = subState(s);
    var pending = isNum(s.pending_count) ? s.pending_count : 0;
    var maxInflight = isNum(s.max_inflight) ? s.max_inflight : 0;
    var behind = isNum(channel.last_seq) && isNum(s.last_sent) ? Math.max(0, channel.last_seq - s.last_sent) : null;

    var kind = el('td', { className: 'kind' });
    if (s.is_durable) kind.appendChild(badge('durable', 'b-durable'));
    if (s.queue_name) kind.appendChild(badge('queue', 'b-queue'));
    if (!s.is_durable && !s.queue_name) kind.appendChild(badge('plain', 'b-plain'));

    var bar = el('span', { className: 'bar' }, [el('span', { className: 'bar-fill' })]);
    var ratio = maxInflight > 0 ? Math.min(1, pending / maxInflight) : 0;
    bar.firstChild.style.width = (ratio * 100).toFixed(1) + '%';
    var pendingCell = el('td', { className: 'pending' }, [
      el('span', { className: 'pending-text', text: fmtInt(pending) + ' / ' + fmtInt(maxInflight) }),
      bar
    ]);

    var stateCell = el('td', { className: 'state' }, [
      badge(st, 'b-' + st)
    ]);
    if (s.is_stalled && s.is_offline) stateCell.appendChild(badge('stalled', 'b-stalled'));

    var tr = el('tr', {
      className: 'sub-row' + (s.is_stalled ? ' stalled' : '') + (s.is_offline ? ' offline' : ''),
      data: {
        channel: channel.name,
        client: s.client_id,
        durable: s.durable_name || '',
        queue: s.queue_name || '',
        inbox: s.inbox,
        state: st,
        stalled: s.is_stalled ? 'true' : 'false',
        offline: s.is_offline ? 'true' : 'false',
        pending: pending,
        maxInflight: maxInflight,
        lastSent: s.last_sent
      }
    }, [
      el('td', { className: 'client', text: s.client_id }),
      el('td', { className: 'durable', text: s.durable_name || '' }),
      el('td', { className: 'queue', text: s.queue_name || '' }),
      kind,
      el('td', { className: 'num last-sent', text: fmtInt(s.last_sent) }),
      el('td', { className: 'num behind', text: behind === null ? '–' : fmtInt(behind), title: 'messages stored after the last one sent' }),
      pendingCell,
      el('td', { className: 'num ack-wait', text: isNum(s.ack_wait) ? s.ack_wait + ' s' : '–' }),
      stateCell
    ]);
    return tr;
  }

  // One table; per channel a tbody.sub-group[data-channel] whose first row
  // names the channel.
  function renderSubscriptions(channels) {
    var table = $('subs-table');
    var groups = [];
    var total = 0;
    var stalled = 0;
    channels.forEach(function (c) {
      var subs = Array.isArray(c.subscriptions) ? c.subscriptions : [];
      total += subs.length;
      subs.forEach(function (s) {
        if (s.is_stalled) stalled++;
      });
      var shown = subs.filter(function (s) {
        return matches(c.name) || matches(s.client_id) || matches(s.durable_name || '') || matches(s.queue_name || '');
      });
      if (shown.length === 0) return;
      var nStalled = shown.filter(function (s) {
        return s.is_stalled;
      }).length;
      var title = el('th', { className: 'group-title' }, [
        el('span', { className: 'name', text: c.name }),
        el('span', { className: 'count', text: ' ' + shown.length + (shown.length === 1 ? ' subscription' : ' subscriptions') })
      ]);
      if (nStalled) title.appendChild(badge(nStalled + ' stalled', 'b-stalled'));
      title.colSpan = 9;
      title.setAttribute('scope', 'rowgroup');
      var rows = [el('tr', { className: 'group-row' }, [title])].concat(shown.map(function (s) {
        return subRow(c, s);
      }));
      groups.push(el('tbody', { className: 'sub-group', data: { channel: c.name } }, rows));
    });
    var old = table.querySelectorAll('tbody');
    for (var i = 0; i < old.length; i++) table.removeChild(old[i]);
    table.appendChild(fragment(groups));
    var empty = $('subs-empty');
    empty.textContent = total ? 'No subscription matches the filter.' : 'No subscriptions.';
    empty.hidden = groups.length > 0;
    table.hidden = groups.length === 0;
    setText('subs-count', '(' + fmtInt(total) + (stalled ? ', ' + fmtInt(stalled) + ' stalled' : '') + ')');
  }

  function renderClients(clientsz) {
    var body = $('clients-body');
    var clients = Array.isArray(clientsz.clients) ? clientsz.clients.slice() : [];
    clients.sort(function (a, b) {
      return String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0;
    });
    var rows = [];
    clients.forEach(function (c) {
      var subsByChannel = c.subscriptions && typeof c.subscriptions === 'object' ? c.subscriptions : {};
      var names = Object.keys(subsByChannel).sort();
      if (!matches(c.id) && !names.some(matches)) return;
      var chans = el('td', { className: 'channels' });
      names.forEach(function (n) {
        var list = Array.isArray(subsByChannel[n]) ? subsByChannel[n] : [];
        chans.appendChild(el('span', { className: 'chip', text: list.length > 1 ? n + ' ×' + list.length : n }));
      });
      var tr = el('tr', { className: 'client-row', data: { client: c.id, subs: c.subs_count } }, [
        el('th', { className: 'name', text: c.id }),
        el('td', { className: 'num subs', text: fmtInt(c.subs_count) }),
        chans,
        el('td', { className: 'mono hb', text: c.hb_inbox || '' })
      ]);
      tr.firstChild.setAttribute('scope', 'row');
      rows.push(tr);
    });
    if (rows.length === 0) {
      rows.push(el('tr', { className: 'empty' }, [
        el('td', { text: clients.length ? 'No client matches the filter.' : 'No clients connected.' })
      ]));
      rows[0].firstChild.colSpan = 4;
    }
    body.replaceChildren(fragment(rows));
    setText('clients-count', '(' + fmtInt(clientsz.total) + ')');
    var note = $('clients-note');
    if (isNum(clientsz.total) && isNum(clientsz.count) && clientsz.count < clientsz.total) {
      note.textContent = 'Showing the first ' + fmtInt(clientsz.count) + ' of ' + fmtInt(clientsz.total) + ' clients.';
      note.hidden = false;
    } else {
      note.hidden = true;
    }
  }

  function sortedChannels(channelsz) {
    var list = Array.isArray(channelsz.channels) ? channelsz.channels.slice() : [];
    list.sort(function (a, b) {
      return String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0;
    });
    return list;
  }

  function renderAll() {
    var d = state.last;
    if (!d) return;
    var channels = sortedChannels(d.channelsz);
    renderSummary(d.serverz, d.storez);
    renderChannels(d.channelsz, channels);
    renderSubscriptions(channels);
    renderClients(d.clientsz);
  }

  // ------------------------------------------------------------- status

  function setStatus(kind, text) {
    var node = $('status');
    node.className = 'status status-' + kind;
    node.dataset.status = kind;
    node.textContent = text;
    document.body.dataset.status = kind;
  }

  function showBanner(text) {
    var b = $('banner');
    b.textContent = text;
    b.hidden = false;
    document.body.classList.add('stale');
  }

  function hideBanner() {
    $('banner').hidden = true;
    document.body.classList.remove('stale');
  }

  // ------------------------------------------------------------- poll loop

  function schedule(delay) {
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = setTimeout(function () {
      state.timer = null;
      refresh();
    }, delay);
  }

  function nextDelay() {
    if (state.failures > 0) return Math.min(MAX_BACKOFF_MS, POLL_MS * Math.pow(2, state.failures - 1));
    return document.hidden ? HIDDEN_POLL_MS : POLL_MS;
  }

  function onSuccess(data) {
    state.failures = 0;
    updateServerRates(data.serverz);
    updateChannelRates(data.channelsz, sortedChannels(data.channelsz));
    state.last = data;
    renderAll();
    state.updates++;
    document.body.dataset.updates = String(state.updates);
    delete document.body.dataset.lastError;
    hideBanner();
    if (!state.paused) setStatus('live', 'live');
    setText('updated', 'updated ' + new Date().toLocaleTimeString('en-GB') + ' (server time ' + (data.serverz.now || '?') + ')');
  }

  function onFailure(err) {
    state.failures++;
    var msg = err && err.message ? err.message : String(err);
    document.body.dataset.lastError = msg;
    var delay = nextDelay();
    showBanner('Cannot refresh: ' + msg + '. Retrying in ' + Math.round(delay / 1000) + ' s' +
      (state.failures > 1 ? ' (' + state.failures + ' failures in a row)' : '') +
      (state.last ? '; the data shown is stale.' : '.'));
    if (!state.paused) setStatus('error', 'disconnected');
  }

  function refresh() {
    if (state.inFlight || state.paused) return;
    state.inFlight = true;
    Promise.all([
      getJSON('streaming/serverz'),
      getJSON('streaming/channelsz?subs=1'),
      getJSON('streaming/clientsz?subs=1'),
      // Optional (store type only): a failure here does not fail the refresh.
      getJSON('streaming/storez').catch(function () {
        return null;
      })
    ])
      .then(function (r) {
        if (!r[0] || typeof r[0] !== 'object' || !r[1] || typeof r[1] !== 'object' || !r[2] || typeof r[2] !== 'object') {
          throw new Error('unexpected answer from the server');
        }
        onSuccess({ serverz: r[0], channelsz: r[1], clientsz: r[2], storez: r[3] });
      })
      .catch(function (e) {
        try {
          onFailure(e);
        } catch (e2) {
          // Never let an error escape the loop.
        }
      })
      .finally(function () {
        state.inFlight = false;
        if (!state.paused) schedule(nextDelay());
      });
  }

  function togglePause() {
    state.paused = !state.paused;
    var btn = $('pause');
    btn.textContent = state.paused ? 'Resume' : 'Pause';
    btn.setAttribute('aria-pressed', state.paused ? 'true' : 'false');
    if (state.paused) {
      if (state.timer !== null) clearTimeout(state.timer);
      state.timer = null;
      setStatus('paused', 'paused');
    } else {
      setStatus('loading', 'resuming…');
      if (!state.inFlight) refresh();
    }
  }

  function start() {
    document.body.dataset.updates = '0';
    document.body.dataset.status = 'loading';
    $('pause').addEventListener('click', togglePause);
    var filter = $('filter');
    filter.addEventListener('input', function () {
      state.filter = filter.value.trim().toLowerCase();
      try {
        renderAll();
      } catch (e) {
        showBanner('Cannot render: ' + (e && e.message ? e.message : String(e)));
      }
    });
    document.addEventListener('visibilitychange', function () {
      // Back to the page: refresh now instead of after the slow hidden delay.
      if (!document.hidden && !state.paused && !state.inFlight && state.failures === 0) schedule(0);
    });
    refresh();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
