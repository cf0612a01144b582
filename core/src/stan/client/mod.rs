//! The STAN client session: the client side of NATS Streaming as a state
//! machine over NATS-level messages (fact sheet B.5 to B.16, D).
//!
//! A [`Session`] implements [`NatsApp`](crate::nats::stack::NatsApp): stack
//! it on a NATS client connection ([`Stack`](crate::nats::stack::Stack)),
//! or attach it to the embedded router in process. It connects as soon as it
//! is created, publishes with GUIDs and per-publish ack timeouts, keeps at
//! most `max_pub_acks_in_flight` publishes outstanding (a publish beyond
//! that is refused with [`ClientError::TooManyPubAcksInFlight`]; wait for a
//! [`ClientEvent::PubAck`] and retry), subscribes with every option, acks,
//! answers heartbeats, pings the server and reports a lost connection once.
//!
//! Drain order after each input or command: [`Session::poll_command`], then
//! [`Session::poll_event`], then [`Session::poll_timeout`].

mod error;
mod options;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_proto::{
    Ack, CloseRequest, CloseResponse, ConnectRequest, ConnectResponse, Message, MsgProto, Ping,
    PingResponse, PubAck, PubMsg, StartPosition, SubscriptionRequest, SubscriptionResponse,
    UnsubscribeRequest,
};

pub use error::ClientError;
pub use options::{ConnectOptions, StartAt, SubscriptionOptions};

use crate::nats::{InboundMessage, NatsCommand};
use crate::nuid::Nuid;

/// A subscription of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubId(pub u64);

/// What the application learns.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server accepted the connection.
    Connected,
    /// The connection could not be made (terminal).
    ConnectFailed(ClientError),
    /// The outcome of a publish.
    PubAck {
        /// The publish's GUID.
        guid: String,
        /// `Ok` once stored; the server's error, a timeout, or
        /// `ConnectionClosed`.
        result: Result<(), ClientError>,
    },
    /// The outcome of a subscribe.
    Subscribed {
        /// The subscription.
        sub: SubId,
        /// `Ok` when active.
        result: Result<(), ClientError>,
    },
    /// A message for a subscription (already acked in auto-ack mode).
    Message {
        /// The subscription.
        sub: SubId,
        /// The message.
        msg: MsgProto,
    },
    /// The outcome of an unsubscribe or subscription close.
    Unsubscribed {
        /// The subscription.
        sub: SubId,
        /// `Ok` when the server confirmed.
        result: Result<(), ClientError>,
    },
    /// The server no longer knows this client, or stopped answering pings
    /// (terminal; reported once).
    ConnectionLost(ClientError),
    /// [`Session::close`] finished (terminal).
    Closed(Result<(), ClientError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Connected,
    Closing,
    Done,
}

#[derive(Debug)]
enum Pending {
    Connect,
    Subscribe(SubId),
    Unsubscribe(SubId, bool),
    Close,
}

#[derive(Debug)]
struct Sub {
    channel: String,
    inbox: Bytes,
    sid: u64,
    ack_inbox: Option<Bytes>,
    manual_ack: bool,
    active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Request(u64),
    Ping,
}

const SID_HEARTBEAT: u64 = 1;
const SID_PING: u64 = 2;
const SID_REPLIES: u64 = 3;
const SID_PUB_ACKS: u64 = 4;
const FIRST_SUB_SID: u64 = 16;

/// The client session. See the module docs.
#[derive(Debug)]
pub struct Session {
    options: ConnectOptions,
    phase: Phase,
    nuid: Nuid,
    conn_id: Bytes,
    hb_inbox: Bytes,
    ping_inbox: Bytes,
    reply_prefix: String,
    ack_subject: Bytes,
    connect: Option<ConnectResponse>,
    start: Instant,
    start_unix: i64,
    last_now: Instant,
    commands: VecDeque<NatsCommand>,
    events: VecDeque<ClientEvent>,
    timers: BTreeSet<(Instant, Timer)>,
    next_token: u64,
    requests: BTreeMap<u64, (Pending, Instant)>,
    /// Publish serial -> (guid, deadline).
    /// Publishes awaiting their PubAck: GUID -> serial.
    pub_pending: std::collections::HashMap<String, u64>,
    /// PubAck deadlines in publish order (pub ack wait is constant, so this
    /// is time order); entries already acked are skipped lazily.
    pub_deadlines: VecDeque<(Instant, u64, String)>,
    next_serial: u64,
    subs: BTreeMap<SubId, Sub>,
    sid_subs: BTreeMap<u64, SubId>,
    next_sid: u64,
    pings_out: u32,
}

impl Session {
    /// A session that starts connecting at once. `unix_now_ns` is the wall
    /// clock at `now` (for [`StartAt::Time`]).
    pub fn new(
        options: ConnectOptions,
        now: Instant,
        unix_now_ns: i64,
    ) -> Result<Self, ClientError> {
        options.validate()?;
        let mut nuid = Nuid::new(options.seed);
        let conn_id = Bytes::from(nuid.next_id());
        let hb_inbox = Bytes::from(nuid.inbox());
        let ping_inbox = Bytes::from(nuid.inbox());
        let reply_prefix = format!("{}.", nuid.inbox());
        let ack_subject = Bytes::from(format!("_STAN.acks.{}", nuid.next_id()));
        let mut s = Session {
            phase: Phase::Connecting,
            nuid,
            conn_id,
            hb_inbox,
            ping_inbox,
            reply_prefix,
            ack_subject,
            connect: None,
            start: now,
            start_unix: unix_now_ns,
            last_now: now,
            commands: VecDeque::new(),
            events: VecDeque::new(),
            timers: BTreeSet::new(),
            next_token: 1,
            requests: BTreeMap::new(),
            pub_pending: std::collections::HashMap::new(),
            pub_deadlines: VecDeque::new(),
            next_serial: 1,
            subs: BTreeMap::new(),
            sid_subs: BTreeMap::new(),
            next_sid: FIRST_SUB_SID,
            pings_out: 0,
            options,
        };
        let subs = [
            (SID_HEARTBEAT, s.hb_inbox.clone()),
            (SID_PING, s.ping_inbox.clone()),
            (SID_REPLIES, Bytes::from(format!("{}*", s.reply_prefix))),
            (SID_PUB_ACKS, s.ack_subject.clone()),
        ];
        for (sid, subject) in subs {
            s.commands.push_back(NatsCommand::Subscribe {
                sid,
                subject,
                queue: None,
            });
        }
        let req = ConnectRequest {
            client_id: s.options.client_id.clone(),
            heartbeat_inbox: String::from_utf8_lossy(&s.hb_inbox).into_owned(),
            protocol: 1,
            conn_id: s.conn_id.clone(),
            ping_interval: i32::try_from(s.options.ping_interval).unwrap_or(i32::MAX),
            ping_max_out: i32::try_from(s.options.ping_max_out).unwrap_or(i32::MAX),
        };
        let subject = format!("{}.{}", s.options.discover_prefix, s.options.cluster_id);
        s.request(
            now,
            Bytes::from(subject),
            req.encode_to_vec(),
            Pending::Connect,
        );
        Ok(s)
    }

    /// The options.
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// Whether the session is connected (not closing, closed or lost).
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// Whether the session has ended (closed, lost or never connected).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Publishes awaiting their PubAck.
    pub fn pub_acks_in_flight(&self) -> usize {
        self.pub_pending.len()
    }

    /// The connID sent to the server.
    pub fn conn_id(&self) -> &Bytes {
        &self.conn_id
    }

    fn advance(&mut self, now: Instant) -> Instant {
        if now > self.last_now {
            self.last_now = now;
        }
        self.last_now
    }

    fn unix_at(&self, now: Instant) -> i64 {
        let elapsed =
            i64::try_from(now.saturating_duration_since(self.start).as_nanos()).unwrap_or(i64::MAX);
        self.start_unix.saturating_add(elapsed)
    }

    fn request(&mut self, now: Instant, subject: Bytes, payload: Vec<u8>, pending: Pending) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        let reply = format!("{}{token}", self.reply_prefix);
        let deadline = now + self.options.connect_wait;
        self.requests.insert(token, (pending, deadline));
        self.timers.insert((deadline, Timer::Request(token)));
        self.commands.push_back(NatsCommand::Publish {
            subject,
            reply: Some(Bytes::from(reply)),
            payload: Bytes::from(payload),
        });
        token
    }

    fn response(&self) -> Result<&ConnectResponse, ClientError> {
        match (self.phase, &self.connect) {
            (Phase::Connected, Some(c)) => Ok(c),
            (Phase::Connecting, _) => Err(ClientError::NotConnected),
            _ => Err(ClientError::ConnectionClosed),
        }
    }

    // --- commands -------------------------------------------------------------

    /// Publishes `data` to `channel`; returns the GUID its
    /// [`ClientEvent::PubAck`] will carry.
    pub fn publish(
        &mut self,
        now: Instant,
        channel: &str,
        data: Bytes,
    ) -> Result<String, ClientError> {
        let now = self.advance(now);
        let prefix = self.response()?.pub_prefix.clone();
        if self.pub_pending.len() >= self.options.max_pub_acks_in_flight.max(1) {
            return Err(ClientError::TooManyPubAcksInFlight);
        }
        let guid = self.nuid.next_id();
        let msg = PubMsg {
            client_id: self.options.client_id.clone(),
            guid: guid.clone(),
            subject: channel.to_owned(),
            data,
            conn_id: self.conn_id.clone(),
            ..PubMsg::default()
        };
        let mut subject = String::with_capacity(prefix.len() + 1 + channel.len());
        subject.push_str(&prefix);
        subject.push('.');
        subject.push_str(channel);
        let serial = self.next_serial;
        self.next_serial += 1;
        let deadline = now + self.options.pub_ack_wait;
        self.pub_pending.insert(guid.clone(), serial);
        self.pub_deadlines
            .push_back((deadline, serial, guid.clone()));
        self.commands.push_back(NatsCommand::Publish {
            subject: Bytes::from(subject),
            reply: Some(self.ack_subject.clone()),
            payload: Bytes::from(msg.encode_to_vec()),
        });
        Ok(guid)
    }

    /// Subscribes to `channel`; the outcome comes as
    /// [`ClientEvent::Subscribed`], messages as [`ClientEvent::Message`].
    pub fn subscribe(
        &mut self,
        now: Instant,
        channel: &str,
        opts: &SubscriptionOptions,
    ) -> Result<SubId, ClientError> {
        let now = self.advance(now);
        let sub_requests = self.response()?.sub_requests.clone();
        let sid = self.next_sid;
        self.next_sid += 1;
        let id = SubId(sid);
        let inbox = Bytes::from(self.nuid.inbox());
        self.commands.push_back(NatsCommand::Subscribe {
            sid,
            subject: inbox.clone(),
            queue: None,
        });
        let (position, start_sequence, start_time_delta) = match opts.start {
            StartAt::NewOnly => (StartPosition::NewOnly, 0, 0),
            StartAt::LastReceived => (StartPosition::LastReceived, 0, 0),
            StartAt::First => (StartPosition::First, 0, 0),
            StartAt::Sequence(s) => (StartPosition::SequenceStart, s, 0),
            StartAt::TimeDelta(d) => (
                StartPosition::TimeDeltaStart,
                0,
                i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            ),
            StartAt::Time(t) => (
                StartPosition::TimeDeltaStart,
                0,
                self.unix_at(now).saturating_sub(t).max(0),
            ),
        };
        let req = SubscriptionRequest {
            client_id: self.options.client_id.clone(),
            subject: channel.to_owned(),
            q_group: opts.queue.clone().unwrap_or_default(),
            inbox: String::from_utf8_lossy(&inbox).into_owned(),
            max_in_flight: i32::try_from(opts.max_in_flight).unwrap_or(i32::MAX),
            ack_wait_in_secs: i32::try_from(opts.ack_wait.as_secs()).unwrap_or(i32::MAX),
            durable_name: opts.durable.clone().unwrap_or_default(),
            start_position: position as i32,
            start_sequence,
            start_time_delta,
        };
        self.subs.insert(
            id,
            Sub {
                channel: channel.to_owned(),
                inbox,
                sid,
                ack_inbox: None,
                manual_ack: opts.manual_ack,
                active: false,
            },
        );
        self.sid_subs.insert(sid, id);
        self.request(
            now,
            Bytes::from(sub_requests),
            req.encode_to_vec(),
            Pending::Subscribe(id),
        );
        Ok(id)
    }

    /// Acks `sequence` on a manual-ack subscription.
    pub fn ack(&mut self, now: Instant, sub: SubId, sequence: u64) -> Result<(), ClientError> {
        self.advance(now);
        if self.phase != Phase::Connected {
            return Err(ClientError::BadConnection);
        }
        let s = self.subs.get(&sub).ok_or(ClientError::BadSubscription)?;
        if !s.manual_ack {
            return Err(ClientError::ManualAck);
        }
        let ack_inbox = s
            .ack_inbox
            .clone()
            .filter(|_| s.active)
            .ok_or(ClientError::BadSubscription)?;
        let ack = Ack {
            subject: s.channel.clone(),
            sequence,
        };
        self.commands.push_back(NatsCommand::Publish {
            subject: ack_inbox,
            reply: None,
            payload: Bytes::from(ack.encode_to_vec()),
        });
        Ok(())
    }

    /// Unsubscribes (`close == false`: a durable is deleted) or closes (a
    /// durable is kept for a later resume) a subscription; the outcome comes
    /// as [`ClientEvent::Unsubscribed`].
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        sub: SubId,
        close: bool,
    ) -> Result<(), ClientError> {
        let now = self.advance(now);
        let resp = self.response()?;
        let subject = if close {
            resp.sub_close_requests.clone()
        } else {
            resp.unsub_requests.clone()
        };
        if subject.is_empty() {
            return Err(ClientError::NoServerSupport);
        }
        let s = self
            .subs
            .get_mut(&sub)
            .ok_or(ClientError::BadSubscription)?;
        let Some(ack_inbox) = s.ack_inbox.clone().filter(|_| s.active) else {
            return Err(ClientError::BadSubscription);
        };
        s.active = false;
        let sid = s.sid;
        let channel = s.channel.clone();
        self.sid_subs.remove(&sid);
        self.commands.push_back(NatsCommand::Unsubscribe { sid });
        let req = UnsubscribeRequest {
            client_id: self.options.client_id.clone(),
            subject: channel,
            inbox: String::from_utf8_lossy(&ack_inbox).into_owned(),
            durable_name: String::new(),
        };
        self.request(
            now,
            Bytes::from(subject),
            req.encode_to_vec(),
            Pending::Unsubscribe(sub, close),
        );
        Ok(())
    }

    /// Closes the connection: pending publishes fail with
    /// `ConnectionClosed`, then the server is asked to forget this client;
    /// [`ClientEvent::Closed`] follows.
    pub fn close(&mut self, now: Instant) -> Result<(), ClientError> {
        let now = self.advance(now);
        let subject = self.response()?.close_requests.clone();
        self.phase = Phase::Closing;
        self.fail_publishes();
        self.timers.retain(|(_, t)| *t != Timer::Ping);
        let req = CloseRequest {
            client_id: self.options.client_id.clone(),
        };
        self.request(
            now,
            Bytes::from(subject),
            req.encode_to_vec(),
            Pending::Close,
        );
        Ok(())
    }

    /// The NATS connection under the session closed for good (`reason`, e.g.
    /// `nats: connection closed`): the session is lost.
    pub fn handle_nats_closed(&mut self, reason: &str) {
        match self.phase {
            Phase::Connecting => self.finish(ClientEvent::ConnectFailed(ClientError::Nats(
                reason.to_owned(),
            ))),
            Phase::Connected => self.finish(ClientEvent::ConnectionLost(ClientError::Nats(
                reason.to_owned(),
            ))),
            Phase::Closing => self.finish(ClientEvent::Closed(Err(ClientError::Nats(
                reason.to_owned(),
            )))),
            Phase::Done => {}
        }
    }

    // --- outputs --------------------------------------------------------------

    /// The next command for the NATS connection.
    #[must_use]
    pub fn poll_command(&mut self) -> Option<NatsCommand> {
        self.commands.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The next deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.first().map(|(t, _)| *t);
        let pub_ack = self.pub_deadlines.front().map(|(t, _, _)| *t);
        match (timer, pub_ack) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // --- inputs ---------------------------------------------------------------

    /// A message for one of the session's NATS subscriptions.
    pub fn handle_message(&mut self, now: Instant, msg: InboundMessage) {
        let now = self.advance(now);
        if self.phase == Phase::Done {
            return;
        }
        match msg.sid {
            SID_HEARTBEAT => {
                if let Some(reply) = msg.reply {
                    self.commands.push_back(NatsCommand::Publish {
                        subject: reply,
                        reply: None,
                        payload: Bytes::new(),
                    });
                }
            }
            SID_PING => self.handle_ping_response(msg),
            SID_REPLIES => self.handle_reply(now, msg),
            SID_PUB_ACKS => self.handle_pub_ack(msg),
            sid => self.handle_delivery(sid, msg),
        }
    }

    /// Time passed: request and PubAck timeouts, pings.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        while self
            .pub_deadlines
            .front()
            .is_some_and(|(at, _, _)| *at <= now)
        {
            let Some((_, serial, guid)) = self.pub_deadlines.pop_front() else {
                break;
            };
            if self.pub_pending.get(&guid) == Some(&serial) {
                self.pub_pending.remove(&guid);
                self.events.push_back(ClientEvent::PubAck {
                    guid,
                    result: Err(ClientError::PubAckTimeout),
                });
            }
        }
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now || self.phase == Phase::Done {
                break;
            }
            self.timers.remove(&(at, timer));
            match timer {
                Timer::Request(token) => self.request_timed_out(token),
                Timer::Ping => self.send_ping(now),
            }
        }
    }

    fn send_ping(&mut self, now: Instant) {
        if self.phase != Phase::Connected {
            return;
        }
        self.pings_out += 1;
        if self.pings_out > self.options.ping_max_out {
            return self.finish(ClientEvent::ConnectionLost(ClientError::MaxPings));
        }
        let Some(subject) = self.connect.as_ref().map(|c| c.ping_requests.clone()) else {
            return;
        };
        let ping = Ping {
            conn_id: self.conn_id.clone(),
        };
        self.commands.push_back(NatsCommand::Publish {
            subject: Bytes::from(subject),
            reply: Some(self.ping_inbox.clone()),
            payload: Bytes::from(ping.encode_to_vec()),
        });
        self.arm_ping(now);
    }

    fn arm_ping(&mut self, now: Instant) {
        let interval = self
            .connect
            .as_ref()
            .map_or(0, |c| u64::try_from(c.ping_interval).unwrap_or(0));
        if interval > 0 {
            self.timers
                .insert((now + Duration::from_secs(interval), Timer::Ping));
        }
    }

    fn handle_ping_response(&mut self, msg: InboundMessage) {
        if msg.is_no_responders() {
            return; // counts as missed
        }
        if !msg.payload.is_empty() {
            if let Ok(resp) = PingResponse::decode(msg.payload) {
                if !resp.error.is_empty() {
                    return self
                        .finish(ClientEvent::ConnectionLost(ClientError::Server(resp.error)));
                }
            }
        }
        self.pings_out = 0;
    }

    fn handle_pub_ack(&mut self, msg: InboundMessage) {
        let Ok(ack) = PubAck::decode(msg.payload) else {
            return;
        };
        if self.pub_pending.remove(&ack.guid).is_none() {
            return; // unknown, late (timed out) or duplicate
        }
        // Acked entries at the front are done with: keep the front live so
        // `poll_timeout` does not wake for them.
        while self
            .pub_deadlines
            .front()
            .is_some_and(|(_, serial, guid)| self.pub_pending.get(guid) != Some(serial))
        {
            self.pub_deadlines.pop_front();
        }
        let result = if ack.error.is_empty() {
            Ok(())
        } else {
            Err(ClientError::Server(ack.error))
        };
        self.events.push_back(ClientEvent::PubAck {
            guid: ack.guid,
            result,
        });
    }

    fn handle_delivery(&mut self, sid: u64, msg: InboundMessage) {
        let Some(&id) = self.sid_subs.get(&sid) else {
            return;
        };
        let Ok(m) = MsgProto::decode(msg.payload) else {
            return;
        };
        let Some(s) = self.subs.get(&id) else { return };
        if !s.manual_ack {
            if let Some(ack_inbox) = s.ack_inbox.clone() {
                let ack = Ack {
                    subject: s.channel.clone(),
                    sequence: m.sequence,
                };
                self.commands.push_back(NatsCommand::Publish {
                    subject: ack_inbox,
                    reply: None,
                    payload: Bytes::from(ack.encode_to_vec()),
                });
            }
        }
        self.events
            .push_back(ClientEvent::Message { sub: id, msg: m });
    }

    fn handle_reply(&mut self, now: Instant, msg: InboundMessage) {
        let token = msg
            .subject
            .strip_prefix(self.reply_prefix.as_bytes())
            .and_then(crate::nats::parse_sid);
        let Some(token) = token else { return };
        let Some((pending, deadline)) = self.requests.remove(&token) else {
            return;
        };
        self.timers.remove(&(deadline, Timer::Request(token)));
        if msg.is_no_responders() {
            return self.request_failed(pending, true);
        }
        match pending {
            Pending::Connect => match ConnectResponse::decode(msg.payload) {
                Ok(r) if r.error.is_empty() => {
                    let pings = r.protocol >= 1 && r.ping_interval != 0;
                    self.connect = Some(r);
                    self.phase = Phase::Connected;
                    if pings {
                        self.arm_ping(now);
                    } else {
                        self.commands
                            .push_back(NatsCommand::Unsubscribe { sid: SID_PING });
                    }
                    self.events.push_back(ClientEvent::Connected);
                }
                Ok(r) => self.finish(ClientEvent::ConnectFailed(ClientError::Server(r.error))),
                Err(e) => self.finish(ClientEvent::ConnectFailed(ClientError::Server(
                    e.to_string(),
                ))),
            },
            Pending::Subscribe(id) => {
                let result = match SubscriptionResponse::decode(msg.payload) {
                    Ok(r) if r.error.is_empty() => {
                        if let Some(s) = self.subs.get_mut(&id) {
                            s.ack_inbox = Some(Bytes::from(r.ack_inbox));
                            s.active = true;
                        }
                        Ok(())
                    }
                    Ok(r) => Err(ClientError::Server(r.error)),
                    Err(e) => Err(ClientError::Server(e.to_string())),
                };
                if result.is_err() {
                    self.drop_sub(id);
                }
                self.events
                    .push_back(ClientEvent::Subscribed { sub: id, result });
            }
            Pending::Unsubscribe(id, _) => {
                let result = match SubscriptionResponse::decode(msg.payload) {
                    Ok(r) if r.error.is_empty() => Ok(()),
                    Ok(r) => Err(ClientError::Server(r.error)),
                    Err(e) => Err(ClientError::Server(e.to_string())),
                };
                self.subs.remove(&id);
                self.events
                    .push_back(ClientEvent::Unsubscribed { sub: id, result });
            }
            Pending::Close => {
                let result = match CloseResponse::decode(msg.payload) {
                    Ok(r) if r.error.is_empty() => Ok(()),
                    Ok(r) => Err(ClientError::Server(r.error)),
                    Err(e) => Err(ClientError::Server(e.to_string())),
                };
                self.finish(ClientEvent::Closed(result));
            }
        }
    }

    fn request_timed_out(&mut self, token: u64) {
        if let Some((pending, _)) = self.requests.remove(&token) {
            self.request_failed(pending, false);
        }
    }

    /// A request got no answer (`no_responders`: nobody was listening).
    fn request_failed(&mut self, pending: Pending, no_responders: bool) {
        match pending {
            Pending::Connect => self.finish(ClientEvent::ConnectFailed(
                ClientError::ConnectRequestTimeout,
            )),
            Pending::Subscribe(id) => {
                if let (false, Some(s), Some(c)) =
                    (no_responders, self.subs.get(&id), self.connect.as_ref())
                {
                    // Best-effort clean-up of a subscription the server may
                    // have created after all.
                    let req = UnsubscribeRequest {
                        client_id: self.options.client_id.clone(),
                        subject: s.channel.clone(),
                        inbox: String::from_utf8_lossy(&s.inbox).into_owned(),
                        durable_name: String::new(),
                    };
                    let subject = Bytes::from(c.sub_close_requests.clone());
                    self.commands.push_back(NatsCommand::Publish {
                        subject,
                        reply: None,
                        payload: Bytes::from(req.encode_to_vec()),
                    });
                }
                self.drop_sub(id);
                self.events.push_back(ClientEvent::Subscribed {
                    sub: id,
                    result: Err(ClientError::SubscribeRequestTimeout),
                });
            }
            Pending::Unsubscribe(id, close) => {
                self.subs.remove(&id);
                let error = if close {
                    ClientError::CloseRequestTimeout
                } else {
                    ClientError::UnsubscribeRequestTimeout
                };
                self.events.push_back(ClientEvent::Unsubscribed {
                    sub: id,
                    result: Err(error),
                });
            }
            Pending::Close => {
                self.finish(ClientEvent::Closed(Err(ClientError::CloseRequestTimeout)))
            }
        }
    }

    fn drop_sub(&mut self, id: SubId) {
        if let Some(s) = self.subs.remove(&id) {
            self.sid_subs.remove(&s.sid);
            self.commands
                .push_back(NatsCommand::Unsubscribe { sid: s.sid });
        }
    }

    fn fail_publishes(&mut self) {
        for (_, serial, guid) in std::mem::take(&mut self.pub_deadlines) {
            if self.pub_pending.get(&guid) == Some(&serial) {
                self.events.push_back(ClientEvent::PubAck {
                    guid,
                    result: Err(ClientError::ConnectionClosed),
                });
            }
        }
        self.pub_pending.clear();
    }

    /// Ends the session with a terminal event.
    fn finish(&mut self, event: ClientEvent) {
        if self.phase == Phase::Done {
            return;
        }
        self.fail_publishes();
        for (_, (pending, _)) in std::mem::take(&mut self.requests) {
            match pending {
                Pending::Subscribe(sub) => self.events.push_back(ClientEvent::Subscribed {
                    sub,
                    result: Err(ClientError::ConnectionClosed),
                }),
                Pending::Unsubscribe(sub, _) => self.events.push_back(ClientEvent::Unsubscribed {
                    sub,
                    result: Err(ClientError::ConnectionClosed),
                }),
                Pending::Connect | Pending::Close => {}
            }
        }
        self.timers.clear();
        self.subs.clear();
        self.sid_subs.clear();
        self.phase = Phase::Done;
        self.events.push_back(event);
    }
}

impl crate::nats::stack::NatsApp for Session {
    fn handle_message(&mut self, now: Instant, msg: InboundMessage) {
        Session::handle_message(self, now, msg);
    }

    fn handle_timeout(&mut self, now: Instant) {
        Session::handle_timeout(self, now);
    }

    fn poll_command(&mut self) -> Option<NatsCommand> {
        Session::poll_command(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Session::poll_timeout(self)
    }

    fn is_done(&self) -> bool {
        Session::is_done(self)
    }
}
