//! Wire nodes: what sits at the far end of a link from the router. A raw
//! text-protocol peer (the test reads and writes its bytes), a NATS client
//! [`Connection`], a STAN client [`Stack`] of a [`Session`], or the engine's
//! stack in the `-ns` setup; the world drives the machines as a driver
//! would.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::link::LinkConfig;
use super::{World, SIM_URL, UNIX_START};
use crate::nats::client::{ClientOptions, CloseReason, Connection, Event};
use crate::nats::codec::{Limits, ServerOp, ServerOpDecoder};
use crate::nats::router::ConnId;
use crate::nats::stack::{NatsApp, Stack};
use crate::stan::any_store::AnyStore;
use crate::stan::client::{ClientEvent, ConnectOptions, Session};
use crate::stan::server::Server;

/// A wire node of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct N(pub usize);

/// Names a wire node: its handle [`N`], or any router session it ever had
/// (how the router tests know their raw peers).
pub trait NodeRef {
    /// The node's index in the world; panics if there is none.
    fn node_index(&self, w: &World) -> usize;
}

impl NodeRef for N {
    fn node_index(&self, w: &World) -> usize {
        assert!(self.0 < w.nodes.len(), "no node {}", self.0);
        self.0
    }
}

impl<T: NodeRef + ?Sized> NodeRef for &T {
    fn node_index(&self, w: &World) -> usize {
        (**self).node_index(w)
    }
}

impl NodeRef for ConnId {
    fn node_index(&self, w: &World) -> usize {
        *w.conn_nodes
            .get(self)
            .unwrap_or_else(|| panic!("session {self} is no wire node's"))
    }
}

/// Reads of a node's bytes by the router, and of the router's by the node,
/// over all the node's links.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Reads by the router of the node's bytes.
    pub up_reads: u64,
    /// Bytes in them.
    pub up_bytes: u64,
    /// Reads by the node of the router's bytes.
    pub down_reads: u64,
    /// Bytes in them.
    pub down_bytes: u64,
}

/// A raw peer's side: what it read and has not been taken by the test.
#[derive(Debug)]
pub(super) struct Peer {
    received: BytesMut,
    /// Decodes `received` (partial ops stay between reads).
    decoder: ServerOpDecoder,
    undecoded: BytesMut,
}

#[derive(Debug)]
pub(super) enum Kind {
    Peer(Box<Peer>),
    Nats(Box<Connection>),
    Stan(Box<Stack<Session>>),
    /// The engine's stack, held by [`World::engine`](super::World).
    Engine,
}

#[derive(Debug)]
pub(super) struct Node {
    pub(super) kind: Kind,
    /// The peer address the router is told at accept.
    pub(super) addr: String,
    /// Settings of the node's next links.
    pub(super) template: LinkConfig,
    /// The current link.
    pub(super) link: Option<u64>,
    /// Bytes the node wrote that its link has not taken yet.
    pub(super) out: VecDeque<Bytes>,
    /// Bytes the node read that its machine has not consumed yet.
    pub(super) input: BytesMut,
    /// Everything the node's machine wrote, over all its links.
    pub(super) sent: Vec<u8>,
    /// The NATS connection's events (all but `WantConnect`).
    pub(super) events: Vec<Event>,
    /// The STAN session's events.
    pub(super) app_events: Vec<ClientEvent>,
    pub(super) dials: usize,
    pub(super) refuse_dials: bool,
    /// A raw peer saw its transport close.
    pub(super) closed: bool,
    pub(super) traffic: Traffic,
}

impl Node {
    /// The node's machine's next deadline (the engine's is the world's
    /// to report).
    pub(super) fn deadline(&self) -> Option<Instant> {
        match &self.kind {
            Kind::Peer(_) | Kind::Engine => None,
            Kind::Nats(c) => c.poll_timeout(),
            Kind::Stan(s) => s.poll_timeout(),
        }
    }
}

/// What the world calls on a node's machine, as a driver would.
pub(super) trait Machine {
    fn connected(&mut self, now: Instant);
    fn failed(&mut self, now: Instant);
    fn closed(&mut self, now: Instant);
    fn input(&mut self, now: Instant, input: &mut BytesMut);
    fn timeout(&mut self, now: Instant);
    /// Hands over what the app queued after commands (stacks).
    fn commands(&mut self, now: Instant);
    fn transmit(&mut self) -> Option<Bytes>;
    fn event(&mut self) -> Option<Event>;
    fn deadline(&self) -> Option<Instant>;
    /// The NATS connection closed for good (a STAN session is told).
    fn nats_closed(&mut self, now: Instant, reason: CloseReason);
}

impl Machine for Connection {
    fn connected(&mut self, now: Instant) {
        self.handle_transport_connected(now);
    }
    fn failed(&mut self, now: Instant) {
        self.handle_transport_failed(now);
    }
    fn closed(&mut self, now: Instant) {
        self.handle_transport_closed(now);
    }
    fn input(&mut self, now: Instant, input: &mut BytesMut) {
        self.handle_input(now, input);
    }
    fn timeout(&mut self, now: Instant) {
        self.handle_timeout(now);
    }
    fn commands(&mut self, _now: Instant) {}
    fn transmit(&mut self) -> Option<Bytes> {
        self.poll_transmit()
    }
    fn event(&mut self) -> Option<Event> {
        self.poll_event()
    }
    fn deadline(&self) -> Option<Instant> {
        self.poll_timeout()
    }
    fn nats_closed(&mut self, _now: Instant, _reason: CloseReason) {}
}

/// What differs between the apps the world stacks on connections.
pub(super) trait App: NatsApp {
    fn nats_closed(&mut self, now: Instant, reason: CloseReason);
}

impl App for Session {
    fn nats_closed(&mut self, now: Instant, reason: CloseReason) {
        self.handle_nats_closed(now, reason);
    }
}

impl App for Server<AnyStore> {
    fn nats_closed(&mut self, _now: Instant, _reason: CloseReason) {}
}

impl<A: App> Machine for Stack<A> {
    fn connected(&mut self, now: Instant) {
        self.handle_transport_connected(now);
    }
    fn failed(&mut self, now: Instant) {
        self.handle_transport_failed(now);
    }
    fn closed(&mut self, now: Instant) {
        self.handle_transport_closed(now);
    }
    fn input(&mut self, now: Instant, input: &mut BytesMut) {
        self.handle_input(now, input);
    }
    fn timeout(&mut self, now: Instant) {
        self.handle_timeout(now);
    }
    fn commands(&mut self, now: Instant) {
        self.handle_app_commands(now);
    }
    fn transmit(&mut self) -> Option<Bytes> {
        self.poll_transmit()
    }
    fn event(&mut self) -> Option<Event> {
        self.poll_event()
    }
    fn deadline(&self) -> Option<Instant> {
        self.poll_timeout()
    }
    fn nats_closed(&mut self, now: Instant, reason: CloseReason) {
        self.app.nats_closed(now, reason);
    }
}

impl World {
    pub(super) fn add_node(&mut self, kind: Kind, addr: &str, template: LinkConfig) -> usize {
        self.nodes.push(Node {
            kind,
            addr: addr.to_owned(),
            template,
            link: None,
            out: VecDeque::new(),
            input: BytesMut::new(),
            sent: Vec::new(),
            events: Vec::new(),
            app_events: Vec::new(),
            dials: 0,
            refuse_dials: false,
            closed: false,
            traffic: Traffic::default(),
        });
        self.nodes.len() - 1
    }

    /// A raw text-protocol peer connects (from `127.0.0.1:40000`, as every
    /// raw peer): the router accepts it and sends `INFO`. Known by its
    /// router session.
    pub fn peer(&mut self) -> ConnId {
        self.peer_with(LinkConfig::default())
    }

    /// [`World::peer`] over a link with `link`'s settings.
    pub fn peer_with(&mut self, link: LinkConfig) -> ConnId {
        let peer = Peer {
            received: BytesMut::new(),
            decoder: ServerOpDecoder::new(Limits {
                max_control_line: 1 << 20,
                max_payload: 1 << 30,
            }),
            undecoded: BytesMut::new(),
        };
        let i = self.add_node(Kind::Peer(Box::new(peer)), "127.0.0.1:40000", link);
        let conn = self.open_link(i);
        self.pump();
        conn
    }

    /// A raw peer that sent `CONNECT {connect}` and read the `INFO` (and
    /// `+OK`) it got.
    pub fn peer_connected(&mut self, connect: &str) -> ConnId {
        let c = self.peer();
        self.send(c, &format!("CONNECT {connect}\r\n"));
        self.read(c);
        c
    }

    /// `c` writes `text`.
    pub fn send(&mut self, c: impl NodeRef, text: &str) {
        self.send_bytes(c, text.as_bytes());
    }

    /// `c` writes `bytes` (they go out as its link takes them; nothing is
    /// written once its link is closed).
    pub fn send_bytes(&mut self, c: impl NodeRef, bytes: &[u8]) {
        let i = c.node_index(self);
        if self.nodes[i].link.is_some() {
            self.nodes[i].out.push_back(Bytes::copy_from_slice(bytes));
        }
        self.pump();
    }

    /// The bytes raw peer `c` has read since the last call.
    pub fn raw(&mut self, c: impl NodeRef) -> Vec<u8> {
        self.pump();
        let i = c.node_index(self);
        match &mut self.nodes[i].kind {
            Kind::Peer(p) => p.received.split().to_vec(),
            _ => panic!("node {i} is no raw peer"),
        }
    }

    /// The operations raw peer `c` has read since the last call (an
    /// operation still arriving stays for the next call). Panics if the
    /// router's output, all of it arrived, does not end on an operation
    /// boundary. Use this or [`World::raw`] on a peer, not both.
    pub fn read(&mut self, c: impl NodeRef) -> Vec<ServerOp> {
        let bytes = self.raw(&c);
        let i = c.node_index(self);
        let settled = self.nodes[i].link.is_none_or(|l| self.link_idle(l));
        let Kind::Peer(p) = &mut self.nodes[i].kind else {
            unreachable!("raw checked the kind");
        };
        p.undecoded.extend_from_slice(&bytes);
        let mut ops = Vec::new();
        while let Some(op) = p
            .decoder
            .decode(&mut p.undecoded)
            .expect("router output decodes")
        {
            ops.push(op);
        }
        if settled {
            assert!(
                p.undecoded.is_empty(),
                "router output ends on an op boundary"
            );
        }
        ops
    }

    /// Whether raw peer `c` saw its transport close.
    pub fn peer_closed(&self, c: impl NodeRef) -> bool {
        self.nodes[c.node_index(self)].closed
    }

    /// A NATS client connection with `options` (dialing the router when it
    /// asks).
    pub fn nats_client(&mut self, options: ClientOptions) -> N {
        self.nats_client_with(options, LinkConfig::default())
    }

    /// [`World::nats_client`] whose links have `link`'s settings.
    pub fn nats_client_with(&mut self, options: ClientOptions, link: LinkConfig) -> N {
        let conn = Connection::new(options, self.now);
        let addr = format!("10.0.0.1:{}", 40000 + self.nodes.len());
        let i = self.add_node(Kind::Nats(Box::new(conn)), &addr, link);
        self.pump();
        N(i)
    }

    /// A STAN client (a [`Session`] on its own NATS connection, as the
    /// drivers stack them) connecting with `options`.
    pub fn stan_client(&mut self, options: ConnectOptions) -> N {
        self.stan_client_with(options, None, LinkConfig::default())
    }

    /// [`World::stan_client`] with its NATS options (by default
    /// `options.nats_options(SIM_URL, None)`) and links with `link`'s
    /// settings.
    pub fn stan_client_with(
        &mut self,
        mut options: ConnectOptions,
        nats: Option<ClientOptions>,
        link: LinkConfig,
    ) -> N {
        // Distinct identifiers per client (real drivers seed from the OS),
        // the same for the n-th STAN client of any world.
        let nth = self
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, Kind::Stan(_)))
            .count();
        options.seed ^= 0x5eed_1000 + nth as u64;
        let nats = nats.unwrap_or_else(|| {
            options
                .nats_options(SIM_URL, None)
                .expect("the world's URL parses")
        });
        let session = Session::new(options, self.now, UNIX_START).expect("valid options");
        let stack = Stack::new(Connection::new(nats, self.now), session, self.now);
        let addr = format!("10.0.0.1:{}", 40000 + self.nodes.len());
        let i = self.add_node(Kind::Stan(Box::new(stack)), &addr, link);
        self.pump();
        N(i)
    }

    /// The NATS connection of node `n` (a NATS client, or the connection
    /// under a STAN client or the engine).
    pub fn nats(&mut self, n: impl NodeRef) -> &mut Connection {
        let i = n.node_index(self);
        match &mut self.nodes[i].kind {
            Kind::Nats(c) => c,
            Kind::Stan(s) => &mut s.conn,
            Kind::Engine => &mut self.engine.stack().expect("wire engine").conn,
            Kind::Peer(_) => panic!("node {i} is a raw peer"),
        }
    }

    /// The NATS connection events of node `n` since the last call (all but
    /// `WantConnect`, which the world answers).
    pub fn nats_events(&mut self, n: impl NodeRef) -> Vec<Event> {
        let i = n.node_index(self);
        std::mem::take(&mut self.nodes[i].events)
    }

    /// The STAN session of client `n`, for commands (the world hands them
    /// to the connection when it next pumps).
    pub fn stan(&mut self, n: N) -> &mut Session {
        match &mut self.nodes[n.0].kind {
            Kind::Stan(s) => &mut s.app,
            _ => panic!("node {} is no STAN client", n.0),
        }
    }

    /// The STAN session events of client `n` since the last call.
    pub fn stan_events(&mut self, n: N) -> Vec<ClientEvent> {
        std::mem::take(&mut self.nodes[n.0].app_events)
    }

    /// Everything node `n`'s machine wrote, over all its links, since the
    /// last call.
    pub fn take_sent(&mut self, n: impl NodeRef) -> Vec<u8> {
        let i = n.node_index(self);
        std::mem::take(&mut self.nodes[i].sent)
    }

    /// Everything node `n`'s machine wrote, over all its links.
    pub fn sent(&self, n: impl NodeRef) -> &[u8] {
        &self.nodes[n.node_index(self)].sent
    }

    /// The reads on node `n`'s links so far.
    pub fn traffic(&self, n: impl NodeRef) -> Traffic {
        self.nodes[n.node_index(self)].traffic
    }

    /// How many times node `n` asked to dial.
    pub fn dials(&self, n: impl NodeRef) -> usize {
        self.nodes[n.node_index(self)].dials
    }

    /// Whether node `n`'s dials fail (a server that cannot be reached).
    pub fn refuse_dials(&mut self, n: impl NodeRef, refuse: bool) {
        let i = n.node_index(self);
        self.nodes[i].refuse_dials = refuse;
    }

    /// Node `n`'s current router session.
    pub fn conn_of(&self, n: impl NodeRef) -> Option<ConnId> {
        let link = self.nodes[n.node_index(self)].link?;
        self.links.get(&link).map(|l| l.conn)
    }

    /// The machine of node `i`, if it has one (raw peers do not).
    pub(super) fn machine(&mut self, i: usize) -> Option<&mut dyn Machine> {
        match &mut self.nodes[i].kind {
            Kind::Peer(_) => None,
            Kind::Nats(c) => Some(&mut **c),
            Kind::Stan(s) => Some(&mut **s),
            Kind::Engine => self.engine.stack().map(|s| s as &mut dyn Machine),
        }
    }

    /// Whether node `i` does nothing now (the engine while paused).
    pub(super) fn node_frozen(&self, i: usize) -> bool {
        self.engine_paused && matches!(self.nodes[i].kind, Kind::Engine)
    }

    /// A raw peer read `bytes`.
    pub(super) fn peer_received(&mut self, i: usize, bytes: &[u8]) -> bool {
        match &mut self.nodes[i].kind {
            Kind::Peer(p) => {
                p.received.extend_from_slice(bytes);
                true
            }
            _ => false,
        }
    }

    /// Fires node `i`'s due deadline, checking the contract.
    pub(super) fn fire_node(&mut self, i: usize) {
        let now = self.now;
        if self.node_frozen(i) {
            return;
        }
        let Some(m) = self.machine(i) else {
            return;
        };
        if m.deadline().is_some_and(|t| t <= now) {
            m.timeout(now);
            assert!(
                m.deadline().is_none_or(|t| t > now),
                "node {i} left a deadline at or before now"
            );
        }
    }

    /// Drains node `i`'s machine: app commands, connection events (dials,
    /// closes), app events. How many things moved.
    pub(super) fn node_events(&mut self, i: usize) -> usize {
        let now = self.now;
        let Some(m) = self.machine(i) else {
            return 0;
        };
        m.commands(now);
        let events: Vec<Event> = std::iter::from_fn(|| m.event()).collect();
        let mut moved = events.len();
        for event in events {
            match event {
                Event::WantConnect { .. } => self.dial(i),
                Event::Disconnected { .. } => {
                    self.node_close(i, false);
                    self.nodes[i].events.push(event);
                }
                Event::Closed { ref reason } => {
                    self.node_close(i, true);
                    if let Some(m) = self.machine(i) {
                        m.nats_closed(now, reason.clone());
                    }
                    self.nodes[i].events.push(event);
                }
                other => self.nodes[i].events.push(other),
            }
        }
        let node = &mut self.nodes[i];
        match &mut node.kind {
            Kind::Stan(s) => {
                while let Some(e) = s.app.poll_event() {
                    moved += 1;
                    node.app_events.push(e);
                }
            }
            Kind::Engine => {
                if let Some(stack) = self.engine.stack() {
                    while let Some(e) = stack.app.poll_event() {
                        moved += 1;
                        self.events.push(e);
                    }
                }
            }
            _ => {}
        }
        moved
    }
}
