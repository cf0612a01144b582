//! What the server sends, as the connection processes it: `INFO` (limits,
//! cluster URLs, then `CONNECT`), `PONG` (handshake done, flushes), `PING`,
//! `-ERR`, `MSG`/`HMSG` (to subscriptions, with auto-unsubscribe counts);
//! and the `SUB`/`UNSUB` lines it writes.

use super::handshake::{classify_err, connect_json, ErrKind};
use super::out::OutQueue;
use super::state::{Deadline, State};
use super::{
    Connection, DisconnectReason, Event, PoolEntry, ServerAddr, ServerInfo, Sub,
    DEFAULT_MAX_PAYLOAD, MAX_CONTROL_LINE,
};
use crate::nats::codec::{self, Limits, MsgFrame, ServerOp};
use crate::nats::message::{parse_sid, InboundMessage};
use crate::time::deadline_after;

impl Connection {
    pub(super) fn process(&mut self, op: ServerOp) {
        match op {
            ServerOp::Ping => self.out.put(codec::PONG),
            ServerOp::Ok => {}
            ServerOp::Info(json) => self.on_info(&json),
            ServerOp::Err(text) => {
                let text = String::from_utf8_lossy(&text).into_owned();
                match classify_err(&text) {
                    ErrKind::NonFatal if self.is_connected() => {
                        self.events.push_back(Event::ServerError(text));
                    }
                    ErrKind::Auth => self.lose(DisconnectReason::Authorization(text)),
                    _ => self.lose(DisconnectReason::ServerError(text)),
                }
            }
            ServerOp::Pong => match self.state {
                State::AwaitPong => self.on_connected(),
                State::Connected => {
                    self.pings_out = 0;
                    if let Some(Some(token)) = self.pongs.pop_front() {
                        self.events.push_back(Event::Flushed { token });
                    }
                }
                _ => self.lose(DisconnectReason::UnexpectedOp("PONG")),
            },
            ServerOp::Msg(frame) => match self.state {
                State::Connected => self.deliver(&frame),
                _ => self.lose(DisconnectReason::UnexpectedOp("MSG")),
            },
        }
    }

    pub(super) fn on_info(&mut self, json: &[u8]) {
        let info = match ServerInfo::parse(json) {
            Ok(info) => info,
            // A later, asynchronous INFO that we cannot read changes nothing.
            Err(_) if self.state != State::AwaitInfo => return,
            Err(e) => return self.lose(DisconnectReason::BadInfo(e)),
        };
        self.decoder.set_limits(Limits {
            max_control_line: MAX_CONTROL_LINE,
            max_payload: info.max_payload.max(DEFAULT_MAX_PAYLOAD),
        });
        // As nats.go: an INFO that advertises servers replaces the ones
        // learnt before (configured servers and the current one stay);
        // one that advertises none changes nothing.
        if !info.connect_urls.is_empty() {
            let advertised: Vec<ServerAddr> = info
                .connect_urls
                .iter()
                .filter_map(|url| url.parse::<ServerAddr>().ok())
                .collect();
            self.forget_unadvertised(&advertised);
            for addr in advertised {
                if !self.servers.iter().any(|s| s.same_endpoint(&addr)) {
                    self.servers.push(addr);
                    self.pool.push(PoolEntry {
                        last_dial: None,
                        implicit: true,
                    });
                }
            }
        }
        let upgrade = self.state == State::AwaitInfo && (self.wants_tls() || info.tls_required);
        let unavailable = upgrade && !info.tls_required && !info.tls_available;
        let first = self.state == State::AwaitInfo;
        self.info = Some(info);
        if unavailable {
            // As nats.go: TLS asked for, the server offers none.
            self.lose(DisconnectReason::SecureConnectionNotAvailable);
        } else if upgrade {
            // TLS before anything else; `CONNECT` once it is up.
            self.tls = true;
            self.enter(State::AwaitTls); // the handshake deadline stays
            let server = self.servers[self.server_idx].clone();
            self.events.push_back(Event::UpgradeTls { server });
        } else if first {
            self.send_connect();
        }
    }

    /// Drops the learnt servers that `advertised` no longer lists, except
    /// the current one, keeping the pool's order.
    fn forget_unadvertised(&mut self, advertised: &[ServerAddr]) {
        let mut i = 0;
        while i < self.servers.len() {
            let keep = !self.pool[i].implicit
                || i == self.server_idx
                || advertised.iter().any(|a| a.same_endpoint(&self.servers[i]));
            if keep {
                i += 1;
                continue;
            }
            self.servers.remove(i);
            self.pool.remove(i);
            if i < self.server_idx {
                self.server_idx -= 1;
            }
        }
    }

    /// Queues `CONNECT` and the handshake's `PING` for the current server.
    pub(super) fn send_connect(&mut self) {
        let info = self.info.clone().unwrap_or_default();
        let json = connect_json(
            &self.options,
            &self.servers[self.server_idx],
            &info,
            self.tls,
        );
        self.out.write(|b| {
            codec::write_connect(b, &json);
            b.extend_from_slice(codec::PING);
        });
        self.enter(State::AwaitPong); // the handshake deadline stays
    }

    pub(super) fn on_connected(&mut self) {
        let next_ping = (!self.options.ping_interval.is_zero())
            .then(|| deadline_after(self.clock.now(), self.options.ping_interval));
        self.enter(State::Connected);
        self.timers.set_opt(Deadline::Ping, next_ping);
        self.attempts = 0;
        self.last_reason = None;
        self.pings_out = 0;
        for (&sid, sub) in &self.subs {
            write_sub(&mut self.out, sid, sub);
            if let Some(max) = sub.max {
                write_unsub(&mut self.out, sid, Some(max.saturating_sub(sub.delivered)));
            }
        }
        self.out.append(&mut self.buffer);
        for token in std::mem::take(&mut self.pending_flushes) {
            self.out.put(codec::PING);
            self.pongs.push_back(Some(token));
        }
        let server_info = self.info.clone().unwrap_or_default();
        self.events.push_back(if self.ever_connected {
            Event::Reconnected { server_info }
        } else {
            Event::Connected { server_info }
        });
        self.ever_connected = true;
    }

    pub(super) fn deliver(&mut self, frame: &MsgFrame) {
        let Some(sid) = parse_sid(frame.sid()) else {
            return;
        };
        let Some(sub) = self.subs.get_mut(&sid) else {
            return;
        };
        sub.delivered += 1;
        if sub.max.is_some_and(|m| sub.delivered >= m) {
            self.subs.remove(&sid);
        }
        self.events.push_back(Event::Message(InboundMessage {
            subject: frame.subject_bytes(),
            sid,
            reply: frame.reply_bytes(),
            headers: frame.headers_bytes(),
            payload: frame.payload_bytes(),
        }));
    }

    pub(super) fn headers_enabled(&self) -> bool {
        self.options.headers && self.info.as_ref().is_none_or(|i| i.headers)
    }
}

pub(super) fn write_sub(out: &mut OutQueue, sid: u64, sub: &Sub) {
    out.write(|b| {
        codec::write_sub(
            b,
            &sub.subject,
            sub.queue.as_deref(),
            itoa::Buffer::new().format(sid).as_bytes(),
        );
    });
}

pub(super) fn write_unsub(out: &mut OutQueue, sid: u64, max: Option<u64>) {
    out.write(|b| codec::write_unsub(b, itoa::Buffer::new().format(sid).as_bytes(), max));
}
