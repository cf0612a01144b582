//! Links between wire nodes and the router, and the world as the driver of
//! both ends: dials, reads and writes through the pipes, closes, the
//! router's flow control (confirmed writes, paused inputs, write
//! deadlines), and the faults tests inject (stalls, cuts, hang-ups, bytes
//! out of nowhere).

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use super::link::{Dir, Pipe, PipeConfig, Read};
use super::nodes::{Kind, NodeRef};
use super::World;
use crate::nats::router::{ConnId, RouterEvent};
use crate::time::deadline_after;

/// The router's end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Reading and writing.
    Open,
    /// The router closed the session: its last output is being written,
    /// then the link closes.
    Closing,
    /// Closed; the router forgot the session.
    Gone,
}

/// A simulated TCP connection between a node and the router.
#[derive(Debug)]
pub(super) struct Link {
    pub(super) node: usize,
    pub(super) conn: ConnId,
    /// Node to router.
    pub(super) up: Pipe,
    /// Router to node.
    pub(super) down: Pipe,
    /// Router side: bytes read from `up` the router has not consumed (a
    /// partial op, or a paused producer's backlog).
    input: BytesMut,
    /// Router side: the output chunk being written to `down`.
    out: Option<Bytes>,
    /// Since when the router's current chunk is blocked (`down` full).
    blocked_since: Option<Instant>,
    router: End,
    /// The node still has its end open.
    node_open: bool,
}

impl World {
    /// Node `i` connects: the router accepts a new session on a new link.
    pub(super) fn open_link(&mut self, i: usize) -> ConnId {
        let now = self.now;
        if self.nodes[i].link.is_some() {
            self.node_close(i, false);
        }
        let conn = self.router.handle_accept(now, &self.nodes[i].addr);
        let id = self.next_link;
        self.next_link += 1;
        let template = &self.nodes[i].template;
        let link = Link {
            node: i,
            conn,
            up: Pipe::new(template.up.clone()),
            down: Pipe::new(template.down.clone()),
            input: BytesMut::new(),
            out: None,
            blocked_since: None,
            router: End::Open,
            node_open: true,
        };
        self.links.insert(id, link);
        let node = &mut self.nodes[i];
        node.link = Some(id);
        node.out.clear();
        node.input.clear();
        node.closed = false;
        self.conn_nodes.insert(conn, i);
        conn
    }

    /// Node `i`'s machine asked to dial.
    pub(super) fn dial(&mut self, i: usize) {
        let now = self.now;
        self.nodes[i].dials += 1;
        if self.nodes[i].refuse_dials {
            if let Some(m) = self.machine(i) {
                m.failed(now);
            }
            return;
        }
        self.open_link(i);
        if let Some(m) = self.machine(i) {
            m.connected(now);
        }
    }

    /// Node `i` closes its end of its link: what it wrote still arrives
    /// (with its last output too when `flush`), then the router reads the
    /// end of stream. The machine is not told (it asked for this).
    pub(super) fn node_close(&mut self, i: usize, flush: bool) {
        let now = self.now;
        let Some(id) = self.nodes[i].link.take() else {
            return;
        };
        let mut last = Vec::new();
        if flush {
            if let Some(m) = self.machine(i) {
                last.extend(std::iter::from_fn(|| m.transmit()));
            }
        }
        let node = &mut self.nodes[i];
        node.input.clear();
        let mut out = std::mem::take(&mut node.out);
        for chunk in last {
            node.sent.extend_from_slice(&chunk);
            out.push_back(chunk);
        }
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if flush {
            for chunk in out {
                link.up.force(now, chunk);
            }
        }
        link.up.close(now);
        link.down.clear();
        link.node_open = false;
        self.remove_if_done(id);
    }

    /// Node `i` learns that its transport closed (it read the end of
    /// stream, or the link was cut).
    fn node_sees_close(&mut self, i: usize) {
        let now = self.now;
        if let Some(id) = self.nodes[i].link.take() {
            if let Some(link) = self.links.get_mut(&id) {
                link.node_open = false;
                link.up.close(now);
                link.down.clear();
            }
            self.remove_if_done(id);
        }
        let node = &mut self.nodes[i];
        node.out.clear();
        node.input.clear();
        node.closed = true;
        if let Some(m) = self.machine(i) {
            m.closed(now);
        }
    }

    /// The router's end closes: the node reads the end of stream after the
    /// bytes already in the link; the router forgets the session.
    fn router_close(&mut self, id: u64) {
        let now = self.now;
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if link.router == End::Gone {
            return;
        }
        link.router = End::Gone;
        link.out = None;
        link.blocked_since = None;
        link.input.clear();
        link.up.clear();
        link.down.close(now);
        let conn = link.conn;
        self.router.handle_transport_closed(now, conn);
        self.remove_if_done(id);
    }

    fn remove_if_done(&mut self, id: u64) {
        if self
            .links
            .get(&id)
            .is_some_and(|l| l.router == End::Gone && !l.node_open)
        {
            self.links.remove(&id);
        }
    }

    fn link_of(&self, conn: ConnId) -> Option<u64> {
        self.links
            .iter()
            .find(|(_, l)| l.conn == conn && l.router != End::Gone)
            .map(|(&id, _)| id)
    }

    /// The node side of every wire node: its machine's commands and
    /// events, its writes, one read.
    pub(super) fn pump_nodes(&mut self) -> usize {
        let mut moved = 0;
        for i in 0..self.nodes.len() {
            if self.node_frozen(i) {
                continue;
            }
            moved += self.node_events(i);
            moved += self.node_write(i);
            moved += self.node_read(i);
        }
        moved
    }

    fn node_write(&mut self, i: usize) -> usize {
        let now = self.now;
        let mut chunks = Vec::new();
        if let Some(m) = self.machine(i) {
            chunks.extend(std::iter::from_fn(|| m.transmit()));
        }
        let mut moved = chunks.len();
        let node = &mut self.nodes[i];
        for chunk in chunks {
            node.sent.extend_from_slice(&chunk);
            if node.link.is_some() {
                node.out.push_back(chunk);
            }
        }
        let Some(link) = node.link.and_then(|id| self.links.get_mut(&id)) else {
            node.out.clear();
            return moved;
        };
        while let Some(front) = node.out.front_mut() {
            let n = if link.router == End::Gone {
                front.len() // nobody reads: the bytes are lost
            } else {
                link.up.write(now, front)
            };
            if n == 0 {
                break;
            }
            moved += n;
            front.advance(n);
            if front.is_empty() {
                node.out.pop_front();
            }
        }
        moved
    }

    fn node_read(&mut self, i: usize) -> usize {
        let now = self.now;
        let Some(link) = self.nodes[i].link.and_then(|id| self.links.get_mut(&id)) else {
            return 0;
        };
        match link.down.read(now) {
            Read::Nothing => 0,
            Read::Eof => {
                self.node_sees_close(i);
                1
            }
            Read::Data(bytes) => {
                let traffic = &mut self.nodes[i].traffic;
                traffic.down_reads += 1;
                traffic.down_bytes += bytes.len() as u64;
                if !self.peer_received(i, &bytes) {
                    let mut input = std::mem::take(&mut self.nodes[i].input);
                    input.extend_from_slice(&bytes);
                    if let Some(m) = self.machine(i) {
                        m.input(now, &mut input);
                    }
                    self.nodes[i].input = input;
                }
                bytes.len().max(1)
            }
        }
    }

    /// The router side of every link: one read each (unless the router
    /// paused that producer), the router's events, its writes.
    pub(super) fn pump_router_side(&mut self) -> usize {
        let now = self.now;
        let mut moved = 0;
        let ids: Vec<u64> = self.links.keys().copied().collect();
        for &id in &ids {
            let Some(link) = self.links.get_mut(&id) else {
                continue;
            };
            if link.router != End::Open || self.router.is_input_paused(link.conn) {
                continue;
            }
            match link.up.read(now) {
                Read::Nothing => {}
                Read::Data(bytes) => {
                    moved += bytes.len().max(1);
                    let traffic = &mut self.nodes[link.node].traffic;
                    traffic.up_reads += 1;
                    traffic.up_bytes += bytes.len() as u64;
                    link.input.extend_from_slice(&bytes);
                    self.router.handle_input(now, link.conn, &mut link.input);
                }
                Read::Eof => {
                    moved += 1;
                    self.router_close(id);
                }
            }
        }
        while let Some(event) = self.router.poll_event() {
            moved += 1;
            match &event {
                RouterEvent::SessionClosed { conn, reason } => {
                    if let Some(id) = self.link_of(*conn) {
                        if reason.flushes_output() {
                            if let Some(link) = self.links.get_mut(&id) {
                                link.router = End::Closing;
                            }
                        } else {
                            self.router_close(id);
                        }
                    }
                }
                RouterEvent::InputResumed(conn) => {
                    if let Some(link) = self.link_of(*conn).and_then(|id| self.links.get_mut(&id)) {
                        if link.router == End::Open {
                            self.router.handle_input(now, *conn, &mut link.input);
                        }
                    }
                }
                RouterEvent::VerifyCredentials(check) => {
                    // A driver runs this on another thread; here the world
                    // answers at once (its verdict events follow in this
                    // loop).
                    let verdict = check.verify();
                    self.router.handle_credential_verdict(now, verdict);
                }
                _ => {}
            }
            self.record_router_event(event);
        }
        for id in ids {
            moved += self.router_write(id);
        }
        moved
    }

    /// Writes the router's output for link `id` one chunk at a time, as
    /// far as the link takes it, confirming each write with
    /// `handle_written`; finishes a closing session's flush.
    fn router_write(&mut self, id: u64) -> usize {
        let now = self.now;
        let Some(link) = self.links.get_mut(&id) else {
            return 0;
        };
        if link.router == End::Gone {
            return 0;
        }
        let mut moved = 0;
        loop {
            if link.out.is_none() {
                link.out = self.router.poll_transmit(link.conn);
            }
            let Some(chunk) = link.out.as_mut() else {
                break;
            };
            let n = if link.node_open {
                link.down.write(now, chunk)
            } else {
                chunk.len() // the node is gone: the bytes are lost
            };
            if n == 0 {
                link.blocked_since.get_or_insert(now);
                break;
            }
            moved += n;
            chunk.advance(n);
            self.router.handle_written(now, link.conn, n);
            if chunk.is_empty() {
                link.out = None;
                link.blocked_since = None;
            }
        }
        if link.router == End::Closing && link.out.is_none() {
            moved += 1;
            self.router_close(id);
        }
        moved
    }

    /// Writes blocked for the write deadline: the session is reported
    /// stalled (or, already closing, dropped), as the drivers do.
    pub(super) fn fire_write_deadlines(&mut self) {
        let now = self.now;
        let deadline = self.router.config().write_deadline;
        let ids: Vec<u64> = self.links.keys().copied().collect();
        for id in ids {
            let Some(link) = self.links.get_mut(&id) else {
                continue;
            };
            let due = link
                .blocked_since
                .is_some_and(|t| deadline_after(t, deadline) <= now);
            if link.router == End::Gone || !due {
                continue;
            }
            link.blocked_since = None;
            if link.router == End::Closing {
                self.router_close(id);
            } else {
                self.router.handle_write_stalled(now, link.conn);
            }
        }
    }

    /// When link `link` next has something to do: bytes for a reader that
    /// reads, a write deadline.
    pub(super) fn link_next_event(&self, link: &Link) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut add = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if link.router == End::Open && !self.router.is_input_paused(link.conn) {
            add(link.up.next_read_at());
        }
        if link.node_open && !self.node_frozen(link.node) {
            add(link.down.next_read_at());
        }
        if link.router != End::Gone {
            let deadline = self.router.config().write_deadline;
            add(link.blocked_since.map(|t| deadline_after(t, deadline)));
        }
        next
    }

    /// Whether everything the router sent on link `id` has arrived.
    pub(super) fn link_idle(&self, id: u64) -> bool {
        self.links.get(&id).is_none_or(|l| {
            l.down.len() == 0 && l.out.is_none() && self.router.pending_output_bytes(l.conn) == 0
        })
    }

    fn current_link(&mut self, n: &impl NodeRef) -> Option<&mut Link> {
        let i = n.node_index(self);
        let id = self.nodes[i].link?;
        self.links.get_mut(&id)
    }

    /// The receiving side of `dir` on node `n`'s current link stops reading
    /// (`Down`: the node; `Up`: the router): bytes stay queued in the link.
    /// Like every setting, it takes effect when the world next moves
    /// ([`World::pump`], [`World::advance`], or any exchange).
    pub fn stall(&mut self, n: impl NodeRef, dir: Dir) {
        self.set_stalled(&n, dir, true);
    }

    /// Ends a [`World::stall`]: the side reads again.
    pub fn unstall(&mut self, n: impl NodeRef, dir: Dir) {
        self.set_stalled(&n, dir, false);
    }

    fn set_stalled(&mut self, n: &impl NodeRef, dir: Dir, stalled: bool) {
        let link = self.current_link(n).expect("the node has a link");
        if dir.up() {
            link.up.config.stalled = stalled;
        }
        if dir.down() {
            link.down.config.stalled = stalled;
        }
    }

    /// Changes the settings of `dir` on node `n`'s current link and on its
    /// later links (after a reconnect), from the world's next move on.
    pub fn configure(&mut self, n: impl NodeRef, dir: Dir, change: impl Fn(&mut PipeConfig)) {
        let i = n.node_index(self);
        let template = &mut self.nodes[i].template;
        if dir.up() {
            change(&mut template.up);
        }
        if dir.down() {
            change(&mut template.down);
        }
        if let Some(link) = self.current_link(&n) {
            for (pipe, on) in [(&mut link.up, dir.up()), (&mut link.down, dir.down())] {
                if on {
                    let mut config = pipe.config.clone();
                    change(&mut config);
                    pipe.set_config(config);
                }
            }
        }
    }

    /// Cuts node `n`'s current link: both ends see the transport closed at
    /// once; bytes in flight are lost.
    pub fn cut(&mut self, n: impl NodeRef) {
        let now = self.now;
        let i = n.node_index(self);
        let Some(id) = self.nodes[i].link else {
            return;
        };
        if let Some(link) = self.links.get_mut(&id) {
            link.up.clear();
            link.down.clear();
            if link.router != End::Gone {
                link.router = End::Gone;
                let conn = link.conn;
                self.router.handle_transport_closed(now, conn);
            }
        }
        self.node_sees_close(i);
        self.pump();
    }

    /// Node `n` closes its end of its link (the router reads the end of
    /// stream after what `n` wrote).
    pub fn hang_up(&mut self, n: impl NodeRef) {
        let now = self.now;
        let i = n.node_index(self);
        self.node_close(i, false);
        self.nodes[i].closed = true;
        if let Some(m) = self.machine(i) {
            m.closed(now);
        }
        self.pump();
    }

    /// Bytes arrive at node `n` on its current link as if the router had
    /// written them.
    pub fn inject(&mut self, n: impl NodeRef, bytes: &[u8]) {
        let now = self.now;
        let link = self.current_link(&n).expect("the node has a link");
        link.down.force(now, Bytes::copy_from_slice(bytes));
        self.pump();
    }

    /// Bytes node `n` wrote that the router has not processed yet: still
    /// with the node, in the link, or read by the router's side and left
    /// in its buffer (a paused producer's backlog).
    pub fn unread(&self, n: impl NodeRef) -> usize {
        let i = n.node_index(self);
        let node = &self.nodes[i];
        let mut total: usize = node.out.iter().map(Bytes::len).sum();
        if let Some(link) = node.link.and_then(|id| self.links.get(&id)) {
            total += link.up.len() + link.input.len();
        }
        total
    }

    /// Router output for node `n` that the world took from `poll_transmit`
    /// and the link has not taken yet (handed out, not confirmed).
    pub fn unwritten(&self, n: impl NodeRef) -> usize {
        let i = n.node_index(self);
        self.nodes[i]
            .link
            .and_then(|id| self.links.get(&id))
            .and_then(|l| l.out.as_ref())
            .map_or(0, Bytes::len)
    }

    /// Whether node `n` is a raw peer.
    pub fn is_peer(&self, n: impl NodeRef) -> bool {
        matches!(self.nodes[n.node_index(self)].kind, Kind::Peer(_))
    }
}
