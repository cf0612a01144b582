//! The STAN client session: the client side of NATS Streaming as a state
//! machine over NATS-level messages (docs/protocol.md B.5 to B.16, D).
//!
//! A [`Session`] implements [`NatsApp`](crate::nats::stack::NatsApp): stack
//! it on a NATS client connection ([`Stack`](crate::nats::stack::Stack)),
//! or attach it to the embedded router in process. It connects as soon as it
//! is created, publishes (each publish is a [`PubId`], its PubAck a
//! [`ClientEvent::PubAck`]) with per-publish ack timeouts, keeps at most
//! `max_pub_acks_in_flight` publishes awaiting their PubAck and queues at
//! most `max_queued_publishes` more, sent in order as the window frees (a
//! publish beyond both is refused with
//! [`ClientError::TooManyPubAcksInFlight`]: wait for a
//! [`ClientEvent::PubAck`], or check [`Session::can_publish`], and retry),
//! subscribes with every option, acks, answers heartbeats, pings the server
//! and reports a lost connection once.
//!
//! Drain order after each input or command (the crate's
//! [contract](crate::contract)): [`Session::poll_event`], then
//! [`Session::poll_command`], then [`Session::poll_timeout`].

mod app;
mod error;
mod options;
mod ping;
mod publish;
mod requests;
mod start;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use stan_proto::{
    Ack, CloseRequest, ConnectRequest, ConnectResponse, Message, MsgProto, PubMsg, StartPosition,
    SubscriptionRequest, UnsubscribeRequest,
};

pub use error::ClientError;
pub use options::{ConnectOptions, StartAt, SubscriptionOptions};
pub use start::{ConnectError, Options};

use crate::hash::{SeededHashMap, SeededState};
use crate::nats::client::CloseReason;
use crate::nats::{InboundMessage, NatsCommand};
use crate::nuid::Nuid;
use crate::rand::{derive_key, domain};
use crate::time::Timers;

use self::publish::{Guid, InFlight, Queued};

/// A subscription of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubId(pub u64);

/// A publish of a session, as [`Session::publish`] returns it and its
/// [`ClientEvent::PubAck`] carries it: sequential per session from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PubId(pub u64);

/// What the application learns.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server accepted the connection.
    Connected,
    /// The connection could not be made (terminal).
    ConnectFailed(ClientError),
    /// The outcome of a publish (exactly one per accepted publish).
    PubAck {
        /// The publish.
        id: PubId,
        /// `Ok` once stored; the server's error, a timeout, or
        /// `ConnectionClosed` (also for a publish still queued when the
        /// session ended).
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

/// The ack of `sequence` on `s`, once its ack inbox is known.
fn ack_command(s: &Sub, sequence: u64) -> Option<NatsCommand> {
    let ack = Ack {
        subject: s.channel.clone(),
        sequence,
    };
    Some(NatsCommand::Publish {
        subject: s.ack_inbox.clone()?,
        reply: None,
        payload: Bytes::from(ack.encode_to_vec()),
    })
}

/// What a deadline of the session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// The request with this token gets no answer in time.
    Request(u64),
    /// Send a ping to the server.
    Ping,
    /// The oldest publish awaiting its PubAck times out.
    PubAck,
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
    /// The latest `now` seen (time never goes backwards inside).
    clock: crate::time::Clock,
    commands: VecDeque<NatsCommand>,
    events: VecDeque<ClientEvent>,
    timers: Timers<Timer>,
    next_token: u64,
    requests: BTreeMap<u64, Pending>,
    /// Publishes awaiting their PubAck: GUID -> id. Keyed by a hash key
    /// derived from the seed apart from the NUIDs' (the server chooses the
    /// GUIDs it acks).
    pub_pending: SeededHashMap<Guid, PubId>,
    /// Sent publishes in send order with their PubAck deadlines (pub ack
    /// wait is constant, so this is time order); entries already acked are
    /// skipped lazily.
    pub_deadlines: VecDeque<InFlight>,
    /// Publishes waiting for room in the window, in order.
    pub_queue: VecDeque<Queued>,
    /// The PubMsg template: client and connection IDs set once.
    pub_msg: PubMsg,
    /// The next [`PubId`].
    next_pub: u64,
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
        // The NUIDs are published (connID, inboxes, GUIDs); the map's hash
        // key is derived apart, so they reveal nothing about it.
        let mut nuid = Nuid::new(derive_key(options.seed, domain::STAN_CLIENT_NUID));
        let hash_key = derive_key(options.seed, domain::STAN_CLIENT_HASH);
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
            clock: crate::time::Clock::new(now),
            commands: VecDeque::new(),
            events: VecDeque::new(),
            timers: Timers::new(),
            next_token: 1,
            requests: BTreeMap::new(),
            pub_pending: SeededHashMap::with_hasher(SeededState::new(hash_key)),
            pub_deadlines: VecDeque::new(),
            pub_queue: VecDeque::new(),
            pub_msg: PubMsg::default(),
            next_pub: 1,
            subs: BTreeMap::new(),
            sid_subs: BTreeMap::new(),
            next_sid: FIRST_SUB_SID,
            pings_out: 0,
            options,
        };
        s.pub_msg.client_id = s.options.client_id.clone();
        s.pub_msg.conn_id = s.conn_id.clone();
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

    /// The connID sent to the server.
    pub fn conn_id(&self) -> &Bytes {
        &self.conn_id
    }

    fn advance(&mut self, now: Instant) -> Instant {
        self.clock.advance(now)
    }

    fn unix_at(&self, now: Instant) -> i64 {
        let elapsed =
            i64::try_from(now.saturating_duration_since(self.start).as_nanos()).unwrap_or(i64::MAX);
        self.start_unix.saturating_add(elapsed)
    }

    // --- commands -------------------------------------------------------------

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

    /// The application took message `sequence` of subscription `sub` from
    /// its queue: on an auto-ack subscription of a session with
    /// [`ConnectOptions::ack_when_taken`], its ack goes out now. Nothing
    /// to do otherwise, nor once the subscription or the connection is
    /// gone (the server redelivers what was not acked, as it would have).
    pub fn taken(&mut self, now: Instant, sub: SubId, sequence: u64) {
        self.advance(now);
        if !self.options.ack_when_taken || self.phase != Phase::Connected {
            return;
        }
        let Some(s) = self.subs.get(&sub) else { return };
        if s.manual_ack || !s.active {
            return;
        }
        if let Some(command) = ack_command(s, sequence) {
            self.commands.push_back(command);
        }
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
        let command = ack_command(s, sequence)
            .filter(|_| s.active)
            .ok_or(ClientError::BadSubscription)?;
        self.commands.push_back(command);
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

    /// Closes the connection: pending publishes (in flight or queued) fail
    /// with `ConnectionClosed`, then the server is asked to forget this client;
    /// [`ClientEvent::Closed`] follows.
    pub fn close(&mut self, now: Instant) -> Result<(), ClientError> {
        let now = self.advance(now);
        let subject = self.response()?.close_requests.clone();
        self.phase = Phase::Closing;
        self.fail_publishes();
        self.timers.cancel(Timer::Ping);
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

    /// The NATS connection under the session closed for good (the
    /// connection's [`Event::Closed`](crate::nats::client::Event::Closed)
    /// `reason`): the session is lost, with [`ClientError::Nats`]
    /// (`nats: connection closed (<reason>)`).
    pub fn handle_nats_closed(&mut self, now: Instant, reason: CloseReason) {
        self.advance(now);
        let error = ClientError::Nats(reason);
        match self.phase {
            Phase::Connecting => self.finish(ClientEvent::ConnectFailed(error)),
            Phase::Connected => self.finish(ClientEvent::ConnectionLost(error)),
            Phase::Closing => self.finish(ClientEvent::Closed(Err(error))),
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
        self.timers.next()
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
            SID_PUB_ACKS => self.handle_pub_ack(now, msg),
            sid => self.handle_delivery(sid, msg),
        }
    }

    /// Time passed: request and PubAck timeouts, pings.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        while let Some(timer) = self.timers.pop_due(now) {
            if self.phase == Phase::Done {
                continue;
            }
            match timer {
                Timer::Request(token) => self.request_timed_out(token),
                Timer::Ping => self.send_ping(now),
                Timer::PubAck => self.expire_publishes(now),
            }
        }
    }

    fn handle_delivery(&mut self, sid: u64, msg: InboundMessage) {
        let Some(&id) = self.sid_subs.get(&sid) else {
            return;
        };
        let Ok(m) = MsgProto::decode(msg.payload) else {
            return;
        };
        let Some(s) = self.subs.get(&id) else { return };
        if !s.manual_ack && !self.options.ack_when_taken {
            if let Some(command) = ack_command(s, m.sequence) {
                self.commands.push_back(command);
            }
        }
        self.events
            .push_back(ClientEvent::Message { sub: id, msg: m });
    }

    fn drop_sub(&mut self, id: SubId) {
        if let Some(s) = self.subs.remove(&id) {
            self.sid_subs.remove(&s.sid);
            self.commands
                .push_back(NatsCommand::Unsubscribe { sid: s.sid });
        }
    }

    /// Ends the session with a terminal event.
    fn finish(&mut self, event: ClientEvent) {
        if self.phase == Phase::Done {
            return;
        }
        self.fail_publishes();
        for (_, pending) in std::mem::take(&mut self.requests) {
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
        self.timers = Timers::new();
        self.subs.clear();
        self.sid_subs.clear();
        self.phase = Phase::Done;
        self.events.push_back(event);
    }
}
