//! The structure-aware engine target, [`engine_structured`]: protobuf
//! requests of arbitrary fields decoded by `arbitrary`, from scripted
//! clients, checked with the same invariants as the byte-coded target
//! after every step ([`check_engine`]).

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use stan_proto::{
    Ack, CloseRequest, ConnectRequest, Message, Ping, PubMsg, SubscriptionRequest,
    SubscriptionResponse, UnsubscribeRequest,
};

use super::engine::check_engine;
use crate::sim::{World, C, UNIX_START};
use crate::stan::server::{LimitsOverride, ServerConfig, StoreLimits};
use crate::stan::store::ChannelLimits;

/// Most scripted clients in one run.
const MAX_CLIENTS: usize = 6;
/// Most ops run from one input.
const MAX_OPS: usize = 400;
/// Channel names the ops pick from (valid, invalid, wildcard, case twins).
const CHANNELS: [&str; 8] = ["foo", "bar", "Foo", "foo.bar", "baz.q", "foo.*", "", "a..b"];
/// Client IDs the ops pick from.
const IDS: [&str; 5] = ["a", "b", "c", "bad id", ""];
/// Names the ops pick for durables and queue groups.
const NAMES: [&str; 4] = ["", "d", "q", "d:q"];
/// The engine's request subjects (cluster `test-cluster`).
const SUBJECTS: [&str; 8] = [
    "_STAN.discover.test-cluster",
    "_STAN.discover.test-cluster.pings",
    "_STAN.pub.test-cluster.foo",
    "_STAN.sub.test-cluster",
    "_STAN.unsub.test-cluster",
    "_STAN.subclose.test-cluster",
    "_STAN.close.test-cluster",
    "_STAN.discover.other-cluster",
];

/// A string field: one of the target's usual values (by index into the
/// list the field draws from), or arbitrary text.
#[derive(Arbitrary, Debug, Clone)]
pub enum Text {
    /// The `n`-th usual value (modulo their number).
    Pick(u8),
    /// Anything.
    Any(String),
}

impl Text {
    fn get(&self, pool: &[String]) -> String {
        match self {
            Text::Pick(n) if !pool.is_empty() => pool[usize::from(*n) % pool.len()].clone(),
            Text::Pick(_) => String::new(),
            Text::Any(s) => s.clone(),
        }
    }
}

/// A number field: small (most useful), or any value.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Num {
    /// `0..=255`.
    Small(u8),
    /// Negative small values.
    Negative(u8),
    /// Anything.
    Any(i64),
}

impl Num {
    fn i64(self) -> i64 {
        match self {
            Num::Small(n) => i64::from(n),
            Num::Negative(n) => -i64::from(n) - 1,
            Num::Any(n) => n,
        }
    }

    fn i32(self) -> i32 {
        i32::try_from(self.i64()).unwrap_or(i32::MAX)
    }

    fn u64(self) -> u64 {
        self.i64() as u64
    }
}

/// How an encoded request is spoiled before it is sent.
#[derive(Arbitrary, Debug, Clone)]
pub enum Mangle {
    /// Sent as encoded (a valid protobuf).
    Keep,
    /// Cut to its first `n` bytes.
    Truncate(u8),
    /// Byte `at` (modulo the length) xor `with`.
    Flip(u8, u8),
    /// Extra bytes after it (unknown or repeated fields, or garbage).
    Append(Vec<u8>),
}

impl Mangle {
    fn apply(&self, mut bytes: Vec<u8>) -> Bytes {
        match self {
            Mangle::Keep => {}
            Mangle::Truncate(n) => bytes.truncate(usize::from(*n)),
            Mangle::Flip(at, with) => {
                if !bytes.is_empty() {
                    let i = usize::from(*at) % bytes.len();
                    bytes[i] ^= with;
                }
            }
            Mangle::Append(more) => bytes.extend_from_slice(more),
        }
        Bytes::from(bytes)
    }
}

/// Where a request's response goes.
#[derive(Arbitrary, Debug, Clone)]
pub enum Reply {
    /// The sending client's request inbox (the response is read).
    Inbox,
    /// No reply subject.
    None,
    /// Some other subject.
    Other(Text),
}

/// A per-channel override of the limits.
#[derive(Arbitrary, Debug, Clone)]
pub struct Override {
    pattern: u8,
    max_msgs: Option<u8>,
    max_bytes: Option<u16>,
    max_subs: Option<u8>,
}

/// The engine's settings for one run.
#[derive(Arbitrary, Debug, Clone)]
pub struct StructuredSetup {
    hb_interval: u8,
    hb_fail_count: u8,
    io_batch_size: u8,
    max_channels: u8,
    max_msgs: u8,
    max_bytes: u16,
    max_age: u8,
    max_subs: u8,
    max_inactivity: u8,
    /// Overrides for the channels matching a pattern (at most two).
    per_channel: Vec<Override>,
    replace_durable: bool,
    trace: bool,
}

impl StructuredSetup {
    fn config(&self) -> ServerConfig {
        const PATTERNS: [&str; 4] = ["foo", "foo.>", "*", ">"];
        ServerConfig {
            hb_interval: Duration::from_secs(1 + u64::from(self.hb_interval % 8)),
            hb_timeout: Duration::from_secs(1),
            hb_fail_count: u32::from(self.hb_fail_count % 4),
            io_batch_size: 1 + usize::from(self.io_batch_size % 16),
            limits: StoreLimits {
                max_channels: usize::from(self.max_channels % 6),
                channel: ChannelLimits {
                    max_msgs: u64::from(self.max_msgs % 12),
                    max_bytes: u64::from(self.max_bytes % 2048),
                    max_age: Duration::from_secs(u64::from(self.max_age % 64)),
                    max_subs: usize::from(self.max_subs % 8),
                    max_inactivity: Duration::from_secs(u64::from(self.max_inactivity % 64)),
                },
                per_channel: self
                    .per_channel
                    .iter()
                    .take(2)
                    .map(|o| {
                        (
                            PATTERNS[usize::from(o.pattern) % PATTERNS.len()].to_owned(),
                            LimitsOverride {
                                max_msgs: o.max_msgs.map(|m| u64::from(m % 8)),
                                max_bytes: o.max_bytes.map(|b| u64::from(b % 1024)),
                                max_subs: o.max_subs.map(|s| usize::from(s % 4)),
                                ..LimitsOverride::default()
                            },
                        )
                    })
                    .collect(),
            },
            replace_durable: self.replace_durable,
            trace: self.trace,
            ..ServerConfig::default()
        }
    }
}

/// One step of [`engine_structured`]. `client` fields pick a scripted
/// client (modulo their number; ops need at least one).
#[derive(Arbitrary, Debug, Clone)]
pub enum StructuredOp {
    /// A new scripted client joins the router (at most six).
    NewClient,
    /// A `ConnectRequest` to the discover subject.
    Connect {
        /// Sender.
        client: u8,
        /// `clientID`.
        client_id: Text,
        /// `heartbeatInbox` (usual: the clients' heartbeat inboxes).
        heartbeat_inbox: Text,
        /// `protocol`.
        protocol: Num,
        /// `connID` (usual: the clients' connection IDs).
        conn_id: Text,
        /// `pingInterval`.
        ping_interval: Num,
        /// `pingMaxOut`.
        ping_max_out: Num,
        /// Spoiling.
        mangle: Mangle,
        /// Reply subject.
        reply: Reply,
    },
    /// A `PubMsg` on the publish subject.
    Publish {
        /// Sender.
        client: u8,
        /// `clientID`.
        client_id: Text,
        /// `guid`.
        guid: Text,
        /// `subject` (the channel).
        channel: Text,
        /// The channel in the NATS subject, when not the same.
        subject: Option<Text>,
        /// `reply`.
        reply_field: Text,
        /// `data`.
        data: Vec<u8>,
        /// `sha256`.
        sha256: Vec<u8>,
        /// `connID`.
        conn_id: Text,
        /// Spoiling.
        mangle: Mangle,
        /// Reply subject (usual: the sender's PubAck inbox).
        reply: Reply,
    },
    /// A `SubscriptionRequest`.
    Subscribe {
        /// Sender.
        client: u8,
        /// `clientID`.
        client_id: Text,
        /// `subject`.
        channel: Text,
        /// `qGroup`.
        q_group: Text,
        /// `inbox` (usual: subscribed by the sender, or by nobody).
        inbox: Text,
        /// `maxInFlight`.
        max_in_flight: Num,
        /// `ackWaitInSecs`.
        ack_wait: Num,
        /// `durableName`.
        durable_name: Text,
        /// `startPosition`.
        start_position: Num,
        /// `startSequence`.
        start_sequence: Num,
        /// `startTimeDelta`.
        start_time_delta: Num,
        /// Spoiling.
        mangle: Mangle,
        /// Reply subject.
        reply: Reply,
    },
    /// An `Ack` on a learned ack inbox.
    Ack {
        /// Sender.
        client: u8,
        /// Which learned subscription.
        sub: u8,
        /// `subject` (`None`: the subscription's channel).
        channel: Option<Text>,
        /// `sequence`.
        sequence: Num,
        /// Spoiling.
        mangle: Mangle,
    },
    /// An `UnsubscribeRequest` (or a sub-close request).
    Unsubscribe {
        /// Sender.
        client: u8,
        /// Which learned subscription (its channel, ack inbox and durable).
        sub: u8,
        /// `clientID` (`None`: the subscription's).
        client_id: Option<Text>,
        /// `subject` (`None`: the subscription's channel).
        channel: Option<Text>,
        /// `inbox` (`None`: the subscription's ack inbox).
        inbox: Option<Text>,
        /// `durableName` (`None`: the subscription's).
        durable_name: Option<Text>,
        /// Sub-close instead of unsubscribe.
        close: bool,
        /// Spoiling.
        mangle: Mangle,
        /// Reply subject.
        reply: Reply,
    },
    /// A `CloseRequest`.
    Close {
        /// Sender.
        client: u8,
        /// `clientID`.
        client_id: Text,
        /// Spoiling.
        mangle: Mangle,
        /// Reply subject.
        reply: Reply,
    },
    /// A `Ping` (client ping) on the pings subject.
    Ping {
        /// Sender.
        client: u8,
        /// `connID`.
        conn_id: Text,
        /// Spoiling.
        mangle: Mangle,
    },
    /// Raw bytes on one of the engine's subjects or a learned ack inbox.
    Raw {
        /// Sender.
        client: u8,
        /// Subject (usual: the engine's subjects, then the ack inboxes).
        subject: Text,
        /// Reply subject.
        reply: Reply,
        /// Payload.
        payload: Vec<u8>,
    },
    /// The client's connection to the router ends (no goodbye).
    Disconnect {
        /// Who.
        client: u8,
    },
    /// The client stops or resumes answering heartbeats.
    Heartbeats {
        /// Who.
        client: u8,
        /// Answer them.
        answer: bool,
    },
    /// Time passes (milliseconds).
    AdvanceMillis(u16),
    /// Time passes (seconds).
    AdvanceSecs(u8),
}

/// A subscription learned from a `SubscriptionResponse`.
#[derive(Debug, Clone)]
struct Learned {
    client_id: String,
    channel: String,
    ack_inbox: String,
    durable_name: String,
}

/// What the structured target knows of the world.
#[derive(Debug, Default)]
struct Known {
    /// Scripted clients and their names.
    clients: Vec<(C, String)>,
    subs: Vec<Learned>,
}

impl Known {
    fn client(&self, n: u8) -> Option<(C, String)> {
        (!self.clients.is_empty())
            .then(|| self.clients[usize::from(n) % self.clients.len()].clone())
    }

    fn ids(&self) -> Vec<String> {
        IDS.iter()
            .map(|s| (*s).to_owned())
            .chain(self.clients.iter().map(|(_, n)| n.clone()))
            .collect()
    }

    fn hb_inboxes(&self) -> Vec<String> {
        self.clients
            .iter()
            .map(|(_, n)| format!("_HB.{n}"))
            .chain(["_HB.nobody".to_owned(), String::new()])
            .collect()
    }

    fn conn_ids(&self) -> Vec<String> {
        self.clients
            .iter()
            .map(|(_, n)| format!("conn-{n}"))
            .chain([String::new()])
            .collect()
    }

    fn inboxes(&self) -> Vec<String> {
        self.clients
            .iter()
            .map(|(_, n)| format!("_INBOX.{n}.dlv"))
            .chain(["_DLV.nobody".to_owned(), String::new()])
            .collect()
    }
}

fn pool(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Sends `payload` from `c` on `subject`; returns the response when the
/// reply went to the client's request inbox.
fn send(
    w: &mut World,
    c: C,
    name: &str,
    subject: &str,
    reply: &Reply,
    payload: Bytes,
) -> Option<Bytes> {
    match reply {
        Reply::Inbox => w.request(c, subject, payload),
        Reply::None => {
            w.raw_publish(c, subject, None, payload);
            None
        }
        Reply::Other(t) => {
            let r = t.get(&[format!("_STAN.acks.{name}"), format!("_HB.{name}")]);
            w.raw_publish(c, subject, Some(&r), payload);
            None
        }
    }
}

fn apply(w: &mut World, known: &mut Known, op: &StructuredOp) {
    match op {
        StructuredOp::NewClient => {
            if known.clients.len() < MAX_CLIENTS {
                let name = format!("k{}", known.clients.len());
                let c = w.client(&name);
                known.clients.push((c, name));
            }
        }
        StructuredOp::Connect {
            client,
            client_id,
            heartbeat_inbox,
            protocol,
            conn_id,
            ping_interval,
            ping_max_out,
            mangle,
            reply,
        } => {
            let Some((c, name)) = known.client(*client) else {
                return;
            };
            let req = ConnectRequest {
                client_id: client_id.get(&known.ids()),
                heartbeat_inbox: heartbeat_inbox.get(&known.hb_inboxes()),
                protocol: protocol.i32(),
                conn_id: Bytes::from(conn_id.get(&known.conn_ids())),
                ping_interval: ping_interval.i32(),
                ping_max_out: ping_max_out.i32(),
            };
            let payload = mangle.apply(req.encode_to_vec());
            let _ = send(w, c, &name, SUBJECTS[0], reply, payload);
        }
        StructuredOp::Publish {
            client,
            client_id,
            guid,
            channel,
            subject,
            reply_field,
            data,
            sha256,
            conn_id,
            mangle,
            reply,
        } => {
            let Some((c, name)) = known.client(*client) else {
                return;
            };
            let channel = channel.get(&pool(&CHANNELS));
            let on = subject
                .as_ref()
                .map_or_else(|| channel.clone(), |s| s.get(&pool(&CHANNELS)));
            let msg = PubMsg {
                client_id: client_id.get(&known.ids()),
                guid: guid.get(&pool(&["g1", "g2", ""])),
                subject: channel,
                reply: reply_field.get(&pool(&["", "r"])),
                data: Bytes::copy_from_slice(data),
                sha256: Bytes::copy_from_slice(sha256),
                conn_id: Bytes::from(conn_id.get(&known.conn_ids())),
            };
            let payload = mangle.apply(msg.encode_to_vec());
            let subject = format!("_STAN.pub.test-cluster.{on}");
            let reply = match reply {
                Reply::Inbox => Reply::Other(Text::Pick(0)),
                r => r.clone(),
            };
            let _ = send(w, c, &name, &subject, &reply, payload);
        }
        StructuredOp::Subscribe {
            client,
            client_id,
            channel,
            q_group,
            inbox,
            max_in_flight,
            ack_wait,
            durable_name,
            start_position,
            start_sequence,
            start_time_delta,
            mangle,
            reply,
        } => {
            let Some((c, name)) = known.client(*client) else {
                return;
            };
            let req = SubscriptionRequest {
                client_id: client_id.get(&known.ids()),
                subject: channel.get(&pool(&CHANNELS)),
                q_group: q_group.get(&pool(&NAMES)),
                inbox: inbox.get(&known.inboxes()),
                max_in_flight: max_in_flight.i32(),
                ack_wait_in_secs: ack_wait.i32(),
                durable_name: durable_name.get(&pool(&NAMES)),
                start_position: start_position.i32(),
                start_sequence: start_sequence.u64(),
                start_time_delta: start_time_delta.i64().saturating_mul(1_000_000_000),
            };
            let payload = mangle.apply(req.encode_to_vec());
            let response = send(w, c, &name, SUBJECTS[3], reply, payload);
            if let Some(r) = response.and_then(|r| SubscriptionResponse::decode(r).ok()) {
                if r.error.is_empty() && known.subs.len() < 64 {
                    known.subs.push(Learned {
                        client_id: req.client_id,
                        channel: req.subject,
                        ack_inbox: r.ack_inbox,
                        durable_name: req.durable_name,
                    });
                }
            }
        }
        StructuredOp::Ack {
            client,
            sub,
            channel,
            sequence,
            mangle,
        } => {
            let (Some((c, _)), false) = (known.client(*client), known.subs.is_empty()) else {
                return;
            };
            let s = known.subs[usize::from(*sub) % known.subs.len()].clone();
            let ack = Ack {
                subject: channel
                    .as_ref()
                    .map_or_else(|| s.channel.clone(), |t| t.get(&pool(&CHANNELS))),
                sequence: sequence.u64(),
            };
            w.raw_publish(c, &s.ack_inbox, None, mangle.apply(ack.encode_to_vec()));
        }
        StructuredOp::Unsubscribe {
            client,
            sub,
            client_id,
            channel,
            inbox,
            durable_name,
            close,
            mangle,
            reply,
        } => {
            let Some((c, name)) = known.client(*client) else {
                return;
            };
            let s = (!known.subs.is_empty())
                .then(|| known.subs[usize::from(*sub) % known.subs.len()].clone());
            let field = |t: &Option<Text>, default: Option<&String>, items: &[String]| {
                t.as_ref()
                    .map(|t| t.get(items))
                    .or_else(|| default.cloned())
                    .unwrap_or_default()
            };
            let req = UnsubscribeRequest {
                client_id: field(client_id, s.as_ref().map(|s| &s.client_id), &known.ids()),
                subject: field(channel, s.as_ref().map(|s| &s.channel), &pool(&CHANNELS)),
                inbox: field(
                    inbox,
                    s.as_ref().map(|s| &s.ack_inbox),
                    &known
                        .subs
                        .iter()
                        .map(|s| s.ack_inbox.clone())
                        .collect::<Vec<_>>(),
                ),
                durable_name: field(
                    durable_name,
                    s.as_ref().map(|s| &s.durable_name),
                    &pool(&NAMES),
                ),
            };
            let subject = if *close { SUBJECTS[5] } else { SUBJECTS[4] };
            let payload = mangle.apply(req.encode_to_vec());
            let _ = send(w, c, &name, subject, reply, payload);
        }
        StructuredOp::Close {
            client,
            client_id,
            mangle,
            reply,
        } => {
            let Some((c, name)) = known.client(*client) else {
                return;
            };
            let req = CloseRequest {
                client_id: client_id.get(&known.ids()),
            };
            let payload = mangle.apply(req.encode_to_vec());
            let _ = send(w, c, &name, SUBJECTS[6], reply, payload);
        }
        StructuredOp::Ping {
            client,
            conn_id,
            mangle,
        } => {
            let Some((c, name)) = known.client(*client) else {
                return;
            };
            let req = Ping {
                conn_id: Bytes::from(conn_id.get(&known.conn_ids())),
            };
            let payload = mangle.apply(req.encode_to_vec());
            let _ = send(w, c, &name, SUBJECTS[1], &Reply::Inbox, payload);
        }
        StructuredOp::Raw {
            client,
            subject,
            reply,
            payload,
        } => {
            let Some((c, name)) = known.client(*client) else {
                return;
            };
            let subjects: Vec<String> = SUBJECTS
                .iter()
                .map(|s| (*s).to_owned())
                .chain(known.subs.iter().map(|s| s.ack_inbox.clone()))
                .collect();
            let subject = subject.get(&subjects);
            let payload = Bytes::copy_from_slice(payload);
            let _ = send(w, c, &name, &subject, reply, payload);
        }
        StructuredOp::Disconnect { client } => {
            if let Some((c, _)) = known.client(*client) {
                w.detach(c);
            }
        }
        StructuredOp::Heartbeats { client, answer } => {
            if let Some((c, _)) = known.client(*client) {
                w.set_answer_heartbeats(c, *answer);
            }
        }
        StructuredOp::AdvanceMillis(ms) => w.advance(Duration::from_millis(u64::from(*ms))),
        StructuredOp::AdvanceSecs(s) => w.advance(Duration::from_secs(u64::from(*s))),
    }
}

/// Drives the STAN engine in the simulation world with protobuf requests
/// of arbitrary fields (valid, or spoiled into invalid protobuf) on its
/// subjects, raw bytes, client connections that come and go, acks and
/// time steps, checking the invariants of [`check_engine`] after each.
///
/// Input format: decoded with `arbitrary`: a [`StructuredSetup`] (heartbeats, batch
/// size, store limits and per-channel overrides), then [`StructuredOp`]s until the
/// input is used up (at most 400). String fields mostly pick from the
/// values that matter (client IDs, channels, the clients' inboxes and
/// connection IDs, learned ack inboxes) and may be anything.
pub fn engine_structured(input: &[u8]) {
    let mut u = Unstructured::new(input);
    let Ok(setup) = StructuredSetup::arbitrary(&mut u) else {
        return;
    };
    let mut w = World::new(setup.config());
    debug_assert_eq!(w.engine.wall_clock(w.now), UNIX_START);
    let mut known = Known::default();
    let mut ops = 0;
    while !u.is_empty() && ops < MAX_OPS {
        let Ok(op) = StructuredOp::arbitrary(&mut u) else {
            break;
        };
        ops += 1;
        apply(&mut w, &mut known, &op);
        w.pump();
        check_engine(&mut w);
    }
}
