//! One client session of the router: its transport kind, protocol phase,
//! declared options, subscriptions and timers.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::index::SubKey;
use super::out::OutBuf;
use super::verify::PendingConnect;
use super::ConnId;
use crate::hash::{SeededHashMap, SeededState};
use crate::nats::codec::ClientOpDecoder;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPhase {
    /// Accepted; no `CONNECT` yet.
    AwaitingConnect,
    /// `CONNECT` accepted (or not needed).
    Open,
    /// The router ended the session: what is left to transmit is the last
    /// output; the transport must then be closed.
    Closing,
}

/// A message delivered to an in-process session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Subject the message was published on.
    pub subject: Bytes,
    /// Sid of the receiving subscription.
    pub sid: Bytes,
    /// Reply subject, if any.
    pub reply: Option<Bytes>,
    /// Header block, if the message has one.
    pub headers: Option<Bytes>,
    /// Payload.
    pub payload: Bytes,
}

impl Delivery {
    /// Bytes this delivery accounts for in the pending-output limit.
    pub(crate) fn weight(&self) -> usize {
        self.subject.len()
            + self.sid.len()
            + self.reply.as_ref().map_or(0, Bytes::len)
            + self.headers.as_ref().map_or(0, Bytes::len)
            + self.payload.len()
            + 16
    }
}

/// How the session reaches its peer.
#[derive(Debug)]
pub(crate) enum Transport {
    /// A byte stream: input is decoded, output encoded.
    Wire {
        decoder: ClientOpDecoder,
        out: OutBuf,
    },
    /// An in-process peer: messages are handed over as values.
    Local {
        queue: VecDeque<Delivery>,
        pending: usize,
    },
}

/// Options in force for a session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionFlags {
    pub(crate) verbose: bool,
    pub(crate) pedantic: bool,
    pub(crate) echo: bool,
    pub(crate) headers: bool,
    pub(crate) no_responders: bool,
    /// `CONNECT` declared protocol 1: the client takes async `INFO`s.
    pub(crate) async_info: bool,
}

impl SessionFlags {
    /// nats-server's defaults before a `CONNECT`.
    pub(crate) fn before_connect() -> Self {
        SessionFlags {
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
            async_info: false,
        }
    }
}

/// Traffic counters of a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Messages received from the client.
    pub in_msgs: u64,
    /// Payload bytes received from the client.
    pub in_bytes: u64,
    /// Messages delivered to the client.
    pub out_msgs: u64,
    /// Payload bytes delivered to the client.
    pub out_bytes: u64,
}

/// What the router knows about a session, for monitoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The id announced in `INFO` (`client_id`).
    pub cid: u64,
    /// Peer address given at accept (empty for in-process sessions).
    pub peer: String,
    /// Name from `CONNECT`.
    pub name: String,
    /// Library language from `CONNECT`.
    pub lang: String,
    /// Library version from `CONNECT`.
    pub version: String,
    /// When the session was accepted.
    pub accepted_at: Instant,
    /// When the client last published, (un)subscribed or pinged.
    pub last_activity: Instant,
    /// Number of subscriptions.
    pub subscriptions: usize,
    /// Bytes waiting to be transmitted.
    pub pending_bytes: usize,
    /// Traffic counters.
    pub stats: SessionStats,
    /// Phase.
    pub phase: SessionPhase,
}

/// A session's state.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) cid: u64,
    pub(crate) transport: Transport,
    pub(crate) phase: SessionPhase,
    pub(crate) flags: SessionFlags,
    pub(crate) name: String,
    pub(crate) lang: String,
    pub(crate) version: String,
    pub(crate) peer: String,
    pub(crate) sids: SeededHashMap<Bytes, SubKey>,
    /// An `OutputReady` event was emitted and output not yet drained.
    pub(crate) signalled: bool,
    pub(crate) auth_deadline: Option<Instant>,
    pub(crate) ping_at: Option<Instant>,
    pub(crate) pings_out: u32,
    pub(crate) rtt_probed: bool,
    /// When the last keepalive `PING` went out, until its `PONG`.
    pub(crate) ping_sent_at: Option<Instant>,
    /// The last measured `PING`/`PONG` round trip.
    pub(crate) rtt: Option<std::time::Duration>,
    pub(crate) last_activity: Instant,
    pub(crate) accepted_at: Instant,
    pub(crate) stats: SessionStats,
    /// Reading is paused until then: this producer published to a consumer
    /// whose pending output passed half of `max_pending`.
    pub(crate) input_paused_until: Option<Instant>,
    /// The consumer whose catching up ends the pause early.
    pub(crate) paused_on: Option<ConnId>,
    /// Producers paused on this session's pending output.
    pub(crate) stalled_producers: Vec<ConnId>,
    /// The `CONNECT` waiting for its credential check (input paused).
    pub(crate) pending_connect: Option<PendingConnect>,
    /// The credentials the session authenticated with (user, password,
    /// token; `None`: it presented none), checked again when a reload
    /// changes the authorization.
    pub(crate) credentials: Option<Box<super::ConnectOptions>>,
    /// The cluster's client-URL generation its last `INFO` carried.
    pub(crate) curls_seen: u64,
    /// The route state, when this session is a route to another server.
    pub(crate) route: Option<Box<super::route::RouteState>>,
}

impl Session {
    pub(crate) fn new(
        cid: u64,
        transport: Transport,
        peer: String,
        now: Instant,
        hasher: SeededState,
    ) -> Self {
        Session {
            cid,
            transport,
            phase: SessionPhase::AwaitingConnect,
            flags: SessionFlags::before_connect(),
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            peer,
            sids: SeededHashMap::with_hasher(hasher),
            signalled: false,
            auth_deadline: None,
            ping_at: None,
            pings_out: 0,
            rtt_probed: false,
            ping_sent_at: None,
            rtt: None,
            last_activity: now,
            accepted_at: now,
            stats: SessionStats::default(),
            input_paused_until: None,
            paused_on: None,
            stalled_producers: Vec::new(),
            pending_connect: None,
            credentials: None,
            curls_seen: 0,
            route: None,
        }
    }

    /// Whether the router takes no input from this session for now (a
    /// stalled producer, or a `CONNECT` waiting for its credential check).
    pub(crate) fn is_input_paused(&self) -> bool {
        self.input_paused_until.is_some() || self.pending_connect.is_some()
    }

    /// A snapshot for monitoring.
    pub(crate) fn info(&self) -> SessionInfo {
        SessionInfo {
            cid: self.cid,
            peer: self.peer.clone(),
            name: self.name.clone(),
            lang: self.lang.clone(),
            version: self.version.clone(),
            accepted_at: self.accepted_at,
            last_activity: self.last_activity,
            subscriptions: self.sids.len(),
            pending_bytes: self.pending(),
            stats: self.stats,
            phase: self.phase,
        }
    }

    /// Bytes (or delivery weight) waiting for the peer.
    pub(crate) fn pending(&self) -> usize {
        match &self.transport {
            Transport::Wire { out, .. } => out.pending(),
            Transport::Local { pending, .. } => *pending,
        }
    }

    /// Bytes written into a wire session's output (nothing for local ones).
    pub(crate) fn wire_out(&mut self) -> Option<&mut OutBuf> {
        match &mut self.transport {
            Transport::Wire { out, .. } => Some(out),
            Transport::Local { .. } => None,
        }
    }

    /// The earliest of this session's deadlines.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [self.auth_deadline, self.ping_at, self.input_paused_until]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the session is a byte-stream client (not in process).
    pub(crate) fn is_wire(&self) -> bool {
        matches!(self.transport, Transport::Wire { .. })
    }

    /// nats-server's log prefix for this session.
    pub(crate) fn log_prefix(&self) -> String {
        if self.route.is_some() {
            return format!("{} - rid:{}", self.peer, self.cid);
        }
        super::log::client_prefix(&self.peer, self.cid, &self.version, &self.lang, &self.name)
    }

    /// Drops all pending output.
    pub(crate) fn discard_output(&mut self) {
        match &mut self.transport {
            Transport::Wire { out, .. } => out.clear(),
            Transport::Local { queue, pending } => {
                queue.clear();
                *pending = 0;
            }
        }
    }
}
