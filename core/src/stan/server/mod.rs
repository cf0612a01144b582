//! The STAN engine: the NATS Streaming server protocol as a state machine
//! over NATS-level messages.
//!
//! The engine is a NATS client of some NATS server (the embedded router in
//! process, or an external server through a NATS client connection). It
//! never sees bytes of the NATS protocol: it receives the messages that
//! matched its subscriptions ([`Server::handle_message`]) and the passage of
//! time ([`Server::handle_timeout`]), and asks its connection to publish,
//! subscribe and unsubscribe ([`Server::poll_command`]).
//!
//! Drain order after each input (the crate's [contract](crate::contract)):
//! [`Server::poll_event`], then [`Server::poll_command`] until `None`, then
//! [`Server::poll_store_io`] until `None`, then [`Server::poll_timeout`].
//! Publishes are stored as they arrive and committed as a group: their
//! deliveries, then their PubAcks, are queued at the end of a burst. A burst
//! ends when the driver has handed over every message it has
//! ([`Server::handle_burst_end`]; [`Stack`](crate::nats::stack::Stack) and
//! [`pump_local`](crate::nats::router::pump_local) call it), when
//! `io_batch_size` publishes are staged, or before any other input.
//!
//! With a store that writes files ([`FileStore`](crate::stan::filestore::FileStore)),
//! every change (message, client, subscription state) is staged as file
//! operations that [`Server::poll_store_io`] hands out in batches; the IO
//! side carries a batch out (and syncs it) and reports with
//! [`Server::handle_store_done`]. Every output that depends on a staged
//! change (PubAck, delivery, response) is held until the batch covering it
//! is done: a PubAck always means the message is on disk, and a client never
//! sees a state a crash could take back. While a batch is in flight the
//! engine goes on accepting and staging the next one (pipelined group
//! commit).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use stan_core::nats::{InboundMessage, NatsCommand};
//! use stan_core::stan::server::{Server, ServerConfig};
//! use stan_core::stan::store::MemStore;
//! use stan_proto::{ConnectRequest, ConnectResponse, Message};
//!
//! let now = Instant::now();
//! let mut server = Server::new(ServerConfig::default(), MemStore::new(100), now, 1_700_000_000_000_000_000);
//!
//! // The engine first subscribes to its request subjects.
//! let mut discover_sid = None;
//! while let Some(cmd) = server.poll_command() {
//!     if let NatsCommand::Subscribe { sid, subject, .. } = cmd {
//!         if &subject[..] == b"_STAN.discover.test-cluster" {
//!             discover_sid = Some(sid);
//!         }
//!     }
//! }
//!
//! // A client connects.
//! let request = ConnectRequest {
//!     client_id: "me".into(),
//!     heartbeat_inbox: "_INBOX.hb".into(),
//!     protocol: 1,
//!     conn_id: Bytes::from_static(b"conn-1"),
//!     ping_interval: 5,
//!     ping_max_out: 88,
//! };
//! server.handle_message(now, InboundMessage {
//!     subject: Bytes::from_static(b"_STAN.discover.test-cluster"),
//!     sid: discover_sid.unwrap(),
//!     reply: Some(Bytes::from_static(b"_INBOX.reply.1")),
//!     headers: None,
//!     payload: request.encode_to_vec().into(),
//! });
//! server.handle_burst_end(now); // nothing more to hand over for now
//! let Some(NatsCommand::Publish { subject, payload, .. }) = server.poll_command() else {
//!     panic!("expected the ConnectResponse");
//! };
//! assert_eq!(&subject[..], b"_INBOX.reply.1");
//! let response = ConnectResponse::decode(payload).unwrap();
//! assert_eq!(response.pub_prefix, "_STAN.pub.test-cluster");
//! assert!(response.error.is_empty());
//!
//! // Its first heartbeat is due after hb_interval.
//! assert_eq!(server.poll_timeout(), Some(now + Duration::from_secs(30)));
//! ```

mod clients;
mod config;
mod delivery;
mod errors;
mod events;
mod local;
mod persist;
mod publish;
mod slab;
mod snapshot;
mod state;
mod store_io;
mod subscriptions;
mod timers;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use config::{LimitsOverride, ServerConfig, StoreLimits};
pub use errors::*;
pub use events::{ClientCloseReason, ServerEvent};
pub use snapshot::{
    ChannelSnapshot, ClientSnapshot, EngineCursor, EngineSnapshot, EngineSnapshotOptions,
    SubscriptionSnapshot,
};

use crate::hash::{SeededHashMap, SeededState};
use crate::nats::{InboundMessage, NatsCommand};
use crate::nuid::Nuid;
use crate::rand::{derive_key, domain};
use crate::stan::store::Store;
use crate::time::deadline_after;
use slab::{Key, Slab};
use state::{Channel, Client, Group, Names, Request, Sub, Target};
use timers::{TimerKey, Timers};

/// Counters over the engine's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Messages stored.
    pub in_msgs: u64,
    /// Bytes of stored `PubMsg`s.
    pub in_bytes: u64,
    /// Deliveries (redeliveries included).
    pub out_msgs: u64,
    /// Bytes delivered.
    pub out_bytes: u64,
    /// Store flushes (one per batch of publishes).
    pub flushes: u64,
    /// Reads from the store that failed (each tried again later).
    pub store_read_failures: u64,
    /// Messages found damaged or missing on disk when read back (skipped).
    pub damaged_msgs: u64,
}

/// Subjects the engine serves.
#[derive(Debug)]
struct Subjects {
    discover: Bytes,
    pings: Bytes,
    pub_prefix: String,
    sub: Bytes,
    unsub: Bytes,
    sub_close: Bytes,
    close: Bytes,
    /// `_INBOX.<nuid>.` ; requests reply to this plus a token.
    replies: String,
}

/// The NATS Streaming server engine over a [`Store`]. See the module docs.
#[derive(Debug)]
pub struct Server<S: Store> {
    config: ServerConfig,
    store: S,
    subjects: Subjects,
    start: Instant,
    start_unix: i64,
    /// The id monitoring reports (a NUID, as the Go server's).
    server_id: String,
    /// The latest `now` seen (time never goes backwards inside).
    clock: crate::time::Clock,
    nuid: Nuid,
    /// Outputs, each with the store write mark it waits for.
    commands: VecDeque<(u64, Out)>,
    /// Outputs that report nothing the store holds (the engine's own
    /// subscriptions, heartbeats, ping responses, refusals): they never
    /// wait behind `commands`, so a store waiting for its disk keeps its
    /// clients alive.
    immediate: VecDeque<NatsCommand>,
    /// The write mark when the driver began to stop
    /// ([`Server::begin_settle`]): what [`Server::store_settled`] waits for.
    settle_mark: Option<u64>,
    events: VecDeque<ServerEvent>,
    timers: Timers,
    next_sid: u64,
    next_token: u64,
    targets: SeededHashMap<u64, Target>,
    clients: Slab<Client>,
    client_ids: Names<Key>,
    conn_ids: SeededHashMap<Bytes, Key>,
    /// Client IDs whose duplicate check is in progress.
    probing: Names<u64>,
    channels: Slab<Channel>,
    channel_names: Names<Key>,
    /// Lowercased channel name -> the existing name.
    channel_folded: Names<String>,
    subs: Slab<Sub>,
    groups: Slab<Group>,
    /// Ack inboxes and delivery inboxes of online subscriptions.
    sub_inboxes: SeededHashMap<Bytes, Key>,
    requests: SeededHashMap<u64, Request>,
    /// Stored but not yet flushed: the PubAcks to send after the flush.
    batch_acks: Vec<(Bytes, String)>,
    /// Errors of refused publishes in the batch, by index in `batch_acks`.
    batch_errors: std::collections::BTreeMap<usize, Refusal>,
    /// Channels with messages stored in this batch.
    batch_channels: Vec<Key>,
    stats: ServerStats,
    /// The engine's NATS connection is up (only its losses after a
    /// connection are reported, not each failed dial).
    nats_up: bool,
}

impl<S: Store> Server<S> {
    /// An engine at `now`, whose wall clock reads `unix_now_ns` (Unix
    /// nanoseconds) at `now`. The first commands subscribe to the request
    /// subjects.
    pub fn new(config: ServerConfig, store: S, now: Instant, unix_now_ns: i64) -> Self {
        // The NUIDs are published (reply inboxes); the maps' hash keys are
        // derived apart, so that a client who sees the inboxes learns
        // nothing about them.
        let mut nuid = Nuid::new(derive_key(config.seed, domain::STAN_SERVER_NUID));
        let cid = &config.cluster_id;
        let discover = format!("{}.{cid}", config.discover_prefix);
        let subjects = Subjects {
            pings: Bytes::from(format!("{discover}.pings")),
            discover: Bytes::from(discover),
            pub_prefix: format!("_STAN.pub.{cid}"),
            sub: Bytes::from(format!("_STAN.sub.{cid}")),
            unsub: Bytes::from(format!("_STAN.unsub.{cid}")),
            sub_close: Bytes::from(format!("_STAN.subclose.{cid}")),
            close: Bytes::from(format!("_STAN.close.{cid}")),
            replies: format!("{}.", nuid.inbox()),
        };
        let hash_key = derive_key(config.seed, domain::STAN_SERVER_HASH);
        // One key per map, so that no two maps order their keys alike.
        let state = |salt: u64| SeededState::new(hash_key ^ salt);
        let mut server = Server {
            store,
            subjects,
            start: now,
            start_unix: unix_now_ns,
            server_id: Nuid::new(derive_key(config.seed, domain::STAN_SERVER_ID)).next_id(),
            clock: crate::time::Clock::new(now),
            nuid,
            commands: VecDeque::new(),
            immediate: VecDeque::new(),
            settle_mark: None,
            events: VecDeque::new(),
            timers: Timers::new(),
            next_sid: 1,
            next_token: 1,
            targets: SeededHashMap::with_hasher(state(2)),
            clients: Slab::default(),
            client_ids: Names::with_hasher(state(3)),
            conn_ids: SeededHashMap::with_hasher(state(4)),
            probing: Names::with_hasher(state(5)),
            channels: Slab::default(),
            channel_names: Names::with_hasher(state(6)),
            channel_folded: Names::with_hasher(state(7)),
            subs: Slab::default(),
            groups: Slab::default(),
            sub_inboxes: SeededHashMap::with_hasher(state(8)),
            requests: SeededHashMap::with_hasher(state(9)),
            batch_acks: Vec::new(),
            batch_errors: std::collections::BTreeMap::new(),
            batch_channels: Vec::new(),
            stats: ServerStats::default(),
            nats_up: false,
            config,
        };
        let fixed = [
            (server.subjects.discover.clone(), Target::Discover),
            (server.subjects.pings.clone(), Target::Pings),
            (
                Bytes::from(format!("{}.>", server.subjects.pub_prefix)),
                Target::Publish,
            ),
            (server.subjects.sub.clone(), Target::Subscribe),
            (server.subjects.unsub.clone(), Target::Unsubscribe),
            (server.subjects.sub_close.clone(), Target::SubClose),
            (server.subjects.close.clone(), Target::Close),
            (
                Bytes::from(format!("{}*", server.subjects.replies)),
                Target::Replies,
            ),
        ];
        for (subject, target) in fixed {
            server.subscribe(subject, target);
        }
        server
    }

    /// The wall clock (Unix ns) at `now`, as the engine reads it.
    pub fn wall_clock(&self, now: Instant) -> i64 {
        self.unix_at(now)
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Counters.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// Number of registered clients.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Number of channels.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Number of subscriptions (offline durables included).
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// Whether `client_id` is registered.
    pub fn has_client(&self, client_id: &str) -> bool {
        self.client_ids.contains_key(client_id)
    }

    /// Unacknowledged deliveries of every subscription of `channel` (offline
    /// ones included), as `(client_id, durable, pending sequences)`.
    pub fn pending_of(&self, channel: &str) -> Vec<(String, String, Vec<u64>)> {
        let Some(&ck) = self.channel_names.get(channel) else {
            return Vec::new();
        };
        self.subs
            .iter()
            .filter(|(_, s)| s.channel == ck)
            .map(|(_, s)| {
                (
                    s.client_id.clone(),
                    s.durable_name.clone(),
                    s.pending.keys().copied().collect(),
                )
            })
            .collect()
    }

    /// Unix nanoseconds at `now`.
    fn unix_at(&self, now: Instant) -> i64 {
        let elapsed =
            i64::try_from(now.saturating_duration_since(self.start).as_nanos()).unwrap_or(i64::MAX);
        self.start_unix.saturating_add(elapsed)
    }

    fn advance(&mut self, now: Instant) -> Instant {
        let now = self.clock.advance(now);
        let unix = self.unix_at(now);
        self.store.set_time(unix);
        now
    }

    /// Queues a command behind every change staged so far.
    fn push(&mut self, cmd: NatsCommand) {
        self.commands
            .push_back((self.store.write_mark(), Out::Cmd(cmd)));
    }

    /// A message arrived on one of our subscriptions.
    pub fn handle_message(&mut self, now: Instant, msg: InboundMessage) {
        let now = self.advance(now);
        let Some(&target) = self.targets.get(&msg.sid) else {
            return; // an unsubscribed sid: late delivery
        };
        if target == Target::Publish {
            self.handle_publish(now, msg);
            if self.batch_acks.len() >= self.config.io_batch_size.max(1) {
                self.commit(now);
            }
            return;
        }
        // Everything else is ordered after the publishes received before it.
        self.commit(now);
        if self.config.trace && !matches!(target, Target::Ack(_)) {
            self.events.push_back(ServerEvent::Trace {
                direction: "<-",
                subject: String::from_utf8_lossy(&msg.subject).into_owned(),
                reply: msg
                    .reply
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
                    .into_owned(),
                size: msg.payload.len(),
            });
        }
        match target {
            Target::Publish => {}
            Target::Discover => self.handle_connect(now, msg),
            Target::Pings => self.handle_ping(now, msg),
            Target::Subscribe => self.handle_subscribe(now, msg),
            Target::Unsubscribe => self.handle_unsubscribe(now, msg, true),
            Target::SubClose => self.handle_unsubscribe(now, msg, false),
            Target::Close => self.handle_close(now, msg),
            Target::Replies => self.handle_reply(now, msg),
            Target::Ack(sub) => self.handle_ack(now, sub, msg),
        }
    }

    /// Time passed: heartbeats, request timeouts, redeliveries, message
    /// expiry and channel inactivity. Safe to call early or spuriously.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.commit(now);
        self.take_store_reads(now);
        while let Some(key) = self.timers.pop_due(now) {
            match key {
                TimerKey::Heartbeat(client) => self.send_heartbeat(now, client),
                TimerKey::Request(token) => self.request_failed(now, token),
                TimerKey::Redelivery(sub) => self.redeliver_expired(now, sub),
                TimerKey::MaxAge(channel) => self.expire_channel(now, channel),
                TimerKey::Inactivity(channel) => self.check_inactivity(now, channel),
            }
        }
        self.commit(now);
    }

    /// The driver has handed over every message it has for now: the staged
    /// publishes are committed (their deliveries and PubAcks are queued).
    pub fn handle_burst_end(&mut self, now: Instant) {
        let now = self.advance(now);
        self.commit(now);
    }

    /// The next command for the NATS connection (what is ready; nothing is
    /// committed here: see [`Server::handle_burst_end`]). A command waiting
    /// for the store to make a change durable is not ready.
    #[must_use]
    pub fn poll_command(&mut self) -> Option<NatsCommand> {
        if let Some(cmd) = self.immediate.pop_front() {
            return Some(cmd);
        }
        let &(mark, _) = self.commands.front()?;
        let durable = self.store.durable_mark();
        let failed = mark > durable;
        if failed && self.store.failure().is_none() {
            return None;
        }
        let (_, out) = self.commands.pop_front()?;
        Some(match out {
            Out::Cmd(cmd) => cmd,
            Out::PubAck {
                reply,
                guid,
                mut error,
            } => {
                if failed && error.is_empty() {
                    error = self
                        .store
                        .failure()
                        .map(|f| StoreFailed(f).to_string())
                        .unwrap_or_default();
                }
                pub_ack(reply, guid, error)
            }
        })
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// When [`Server::handle_timeout`] is next due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let store = self.store.next_deadline().map(|unix| {
            let after = u64::try_from(unix.saturating_sub(self.start_unix)).unwrap_or(0);
            deadline_after(self.start, Duration::from_nanos(after))
        });
        match (self.timers.next(), store) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Number of armed deadlines (for tests of timer hygiene).
    pub fn armed_timers(&self) -> usize {
        self.timers.len()
    }

    // --- helpers shared by the modules -------------------------------------

    fn subscribe(&mut self, subject: Bytes, target: Target) -> u64 {
        let sid = self.next_sid;
        self.next_sid += 1;
        self.targets.insert(sid, target);
        // Interest reports nothing the store holds: it goes ahead of what
        // waits for the store (a heartbeat's reply needs the replies
        // subscription in place).
        self.immediate.push_back(NatsCommand::Subscribe {
            sid,
            subject,
            queue: None,
        });
        sid
    }

    fn unsubscribe(&mut self, sid: u64) {
        if self.targets.remove(&sid).is_some() {
            self.immediate.push_back(NatsCommand::Unsubscribe { sid });
        }
    }

    /// Sends a protobuf response to `reply` (nothing without a reply subject).
    fn respond<M: stan_proto::Message>(&mut self, reply: Option<&Bytes>, msg: &M) {
        if let Some(cmd) = self.response(reply, msg) {
            self.push(cmd);
        }
    }

    /// Sends a protobuf response that reports nothing the store holds at
    /// once, ahead of the outputs waiting for the store.
    fn respond_now<M: stan_proto::Message>(&mut self, reply: Option<&Bytes>, msg: &M) {
        if let Some(cmd) = self.response(reply, msg) {
            self.immediate.push_back(cmd);
        }
    }

    fn response<M: stan_proto::Message>(
        &mut self,
        reply: Option<&Bytes>,
        msg: &M,
    ) -> Option<NatsCommand> {
        let reply = reply.filter(|r| !r.is_empty())?;
        let payload = Bytes::from(msg.encode_to_vec());
        if self.config.trace {
            self.events.push_back(ServerEvent::Trace {
                direction: "->",
                subject: String::from_utf8_lossy(reply).into_owned(),
                reply: String::new(),
                size: payload.len(),
            });
        }
        Some(NatsCommand::Publish {
            subject: reply.clone(),
            reply: None,
            payload,
        })
    }

    /// Why the store takes no new client or subscription now (its writes
    /// failed, or are suspended until a retry succeeds).
    fn store_unavailable(&self) -> Option<crate::stan::store::StoreError> {
        let f = self.store.failure().or(self.store.suspended())?;
        Some(crate::stan::store::StoreError::Io(f.to_string()))
    }

    fn refused(&mut self, request: &'static str, error: Refusal) {
        self.events
            .push_back(ServerEvent::Refused { request, error });
    }

    /// A NATS request to `subject` (a client's heartbeat inbox) answered on
    /// our replies subscription; fails after `timeout`.
    fn request(&mut self, now: Instant, subject: Bytes, timeout: Duration, req: Request) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        let mut reply = String::with_capacity(self.subjects.replies.len() + 20);
        reply.push_str(&self.subjects.replies);
        reply.push_str(itoa::Buffer::new().format(token));
        self.requests.insert(token, req);
        self.timers
            .set(TimerKey::Request(token), deadline_after(now, timeout));
        // A liveness probe: it never waits for the store.
        self.immediate.push_back(NatsCommand::Publish {
            subject,
            reply: Some(Bytes::from(reply)),
            payload: Bytes::new(),
        });
        token
    }

    fn handle_reply(&mut self, now: Instant, msg: InboundMessage) {
        let token = msg
            .subject
            .rsplit(|&b| b == b'.')
            .next()
            .and_then(crate::nats::parse_sid);
        let Some(token) = token else { return };
        if !self.requests.contains_key(&token) {
            return;
        }
        if msg.is_no_responders() {
            // Nobody listens on that inbox: fail now instead of at timeout.
            self.timers.cancel(TimerKey::Request(token));
            self.request_failed(now, token);
            return;
        }
        self.timers.cancel(TimerKey::Request(token));
        if let Some(req) = self.requests.remove(&token) {
            self.request_answered(now, req);
        }
    }

    fn request_failed(&mut self, now: Instant, token: u64) {
        if let Some(req) = self.requests.remove(&token) {
            self.request_unanswered(now, req);
        }
    }

    fn new_inbox(&mut self) -> Bytes {
        Bytes::from(self.nuid.inbox())
    }
}

/// A queued output.
#[derive(Debug)]
enum Out {
    /// A command as it is.
    Cmd(NatsCommand),
    /// A PubAck, encoded when released (with the store's failure if the
    /// write it waited for failed).
    PubAck {
        reply: Bytes,
        guid: String,
        error: String,
    },
}

/// The text of a PubAck whose message the store failed to write.
struct StoreFailed<'a>(&'a crate::stan::filestore::io::IoFailure);

impl std::fmt::Display for StoreFailed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stan: unable to store message: {}", self.0)
    }
}

/// Decodes a protobuf payload.
fn decode<M: stan_proto::Message + Default>(payload: &Bytes) -> Option<M> {
    M::decode(payload.clone()).ok()
}

#[cfg(any(test, feature = "fuzzing"))]
impl<S: Store> Server<S> {
    /// Panics if the engine's records disagree with each other (used by the
    /// fuzz target and the simulation tests).
    pub fn assert_consistent(&self) {
        for (ck, ch) in self.channels.iter() {
            assert_eq!(self.channel_names.get(&ch.name), Some(&ck), "channel index");
            let last = self.store.stats(&ch.name).map_or(0, |s| s.last_seq);
            for &sk in &ch.subs {
                let sub = self.subs.get(sk).expect("channel lists a live sub");
                assert!(sub.group.is_none() && sub.channel == ck);
            }
            for &gk in ch.groups.values() {
                let g = self.groups.get(gk).expect("channel lists a live group");
                assert!(g.last_sent <= last, "group sent beyond the last sequence");
                assert!(
                    !g.members.is_empty() || g.shadow.is_some(),
                    "empty group kept"
                );
                for &m in &g.members {
                    assert_eq!(self.subs.get(m).and_then(|s| s.group), Some(gk));
                }
            }
        }
        for (sk, sub) in self.subs.iter() {
            let ch = self
                .channels
                .get(sub.channel)
                .expect("sub of a live channel");
            let last = self.store.stats(&ch.name).map_or(0, |s| s.last_seq);
            assert!(sub.last_sent <= last, "sub sent beyond the last sequence");
            assert!(sub.pending.keys().all(|&s| s >= 1 && s <= last));
            if sub.offline {
                assert_eq!(sub.ack_sid, 0);
            } else {
                assert_eq!(self.targets.get(&sub.ack_sid), Some(&Target::Ack(sk)));
                let owner = self
                    .client_ids
                    .get(&sub.client_id)
                    .expect("online sub has a client");
                assert!(self.clients.get(*owner).expect("client").subs.contains(&sk));
            }
        }
        for (_, c) in self.clients.iter() {
            for &sk in &c.subs {
                assert!(
                    self.subs.get(sk).is_some_and(|s| !s.offline),
                    "client lists a dead sub"
                );
            }
        }
        assert_eq!(self.client_ids.len(), self.clients.len());
    }

    /// Every subscription's first deliveries in flight at `now`, for the
    /// fuzz targets' max-in-flight invariant: `(who, max_in_flight,
    /// first)`. `first` counts the unacknowledged sequences that went to it
    /// as a first delivery: those neither redelivered (no redelivery count,
    /// its own or its group's) nor reassigned from a member that left (a
    /// reassigned sequence waits with a deadline at or before `now` until
    /// the group redelivers it). Only redelivery may take a subscription
    /// past its max in flight, so `first <= max_in_flight` always.
    pub fn first_deliveries_in_flight(&self, now: Instant) -> Vec<(String, usize, usize)> {
        self.subs
            .iter()
            .map(|(_, sub)| {
                let group = sub.group.and_then(|g| self.groups.get(g));
                let counts = group.map_or(&sub.redeliveries, |g| &g.redeliveries);
                let first = sub
                    .pending
                    .iter()
                    .filter(|(seq, &at)| !counts.contains_key(seq) && at > now)
                    .count();
                let channel = self.channels.get(sub.channel).map_or("?", |c| &c.name);
                let who = format!(
                    "sub {} of {:?} on {channel:?} (durable {:?}, group {:?}, offline {})",
                    sub.id,
                    sub.client_id,
                    sub.durable_name,
                    group.map(|g| &g.name),
                    sub.offline
                );
                (who, sub.max_in_flight, first)
            })
            .collect()
    }
}

/// A PubAck to `reply`.
fn pub_ack(reply: Bytes, guid: String, error: String) -> NatsCommand {
    NatsCommand::Publish {
        subject: reply,
        reply: None,
        payload: Bytes::from(stan_proto::Message::encode_to_vec(&stan_proto::PubAck {
            guid,
            error,
        })),
    }
}
