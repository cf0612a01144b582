//! A simulated cluster: several routers on one virtual clock, joined by
//! route links, with raw text-protocol clients on any node.
//!
//! The world is every router's driver, as [`porting`](crate::porting) says
//! a driver must be: it dials when a router asks
//! ([`RouterEvent::DialRoute`]: `10.0.0.<n>:6222` reaches node `n - 1`,
//! unless that node is down or refuses), accepts on the other side
//! ([`Router::handle_route_accept`]), moves bytes through delayed pipes,
//! confirms writes, closes transports after a `SessionClosed` and tells the
//! other side when its peer's transport ends.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::link::{Pipe, PipeConfig, Read};
use crate::nats::codec::{Limits, ServerOp, ServerOpDecoder};
use crate::nats::router::{ClusterConfig, ConnId, Router, RouterConfig, RouterEvent};

/// The cluster port of every node.
pub const ROUTE_PORT: u16 = 6222;

/// A client of a cluster world (an index of its link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct P(usize);

/// One server of the cluster.
#[derive(Debug)]
pub struct Node {
    /// The router.
    pub router: Router,
    /// Its address (`10.0.0.<index + 1>`).
    pub addr: String,
    /// Dials to it fail.
    pub refuse: bool,
    /// Every event it emitted.
    pub events: Vec<RouterEvent>,
}

#[derive(Debug)]
enum End {
    Router {
        node: usize,
        conn: ConnId,
        input: BytesMut,
        closing: bool,
        done: bool,
    },
    Peer {
        received: Vec<u8>,
        done: bool,
    },
}

#[derive(Debug)]
struct Link {
    ends: [End; 2],
    /// `pipes[i]` carries what end `i` writes to the other end.
    pipes: [Pipe; 2],
}

/// Routers joined by route links. See the [module docs](self).
#[derive(Debug)]
pub struct ClusterWorld {
    /// The virtual clock.
    pub now: Instant,
    /// The servers.
    pub nodes: Vec<Node>,
    links: Vec<Link>,
    pipe: PipeConfig,
    next_port: u16,
}

/// The address of node `i`.
pub fn node_addr(i: usize) -> String {
    format!("10.0.0.{}", i + 1)
}

/// The route URL of node `i`.
pub fn route_url(i: usize) -> String {
    format!("nats-route://{}:{ROUTE_PORT}", node_addr(i))
}

impl ClusterWorld {
    /// `n` servers of cluster `sim`; `routes(i)` lists the nodes server `i`
    /// solicits.
    pub fn new(n: usize, routes: impl Fn(usize) -> Vec<usize>) -> Self {
        Self::with(n, |i, c| {
            c.cluster.as_mut().expect("cluster").routes =
                routes(i).into_iter().map(route_url).collect();
        })
    }

    /// `n` servers whose configuration `tweak` adjusts.
    pub fn with(n: usize, tweak: impl Fn(usize, &mut RouterConfig)) -> Self {
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let nodes = (0..n)
            .map(|i| {
                let mut config = RouterConfig {
                    seed: 1000 + i as u64,
                    host: node_addr(i),
                    port: 4222,
                    cluster: Some(ClusterConfig {
                        name: Some("sim".into()),
                        host: node_addr(i),
                        port: ROUTE_PORT,
                        ..ClusterConfig::default()
                    }),
                    ..RouterConfig::default()
                };
                tweak(i, &mut config);
                Node {
                    router: Router::new(config, now),
                    addr: node_addr(i),
                    refuse: false,
                    events: Vec::new(),
                }
            })
            .collect();
        let mut w = ClusterWorld {
            now,
            nodes,
            links: Vec::new(),
            pipe: PipeConfig::delayed(Duration::from_millis(1)),
            next_port: 40000,
        };
        w.fire_timers();
        w.pump();
        w
    }

    /// A client connected to node `i` (its `INFO` waits in [`Self::take`]).
    pub fn client(&mut self, i: usize) -> P {
        self.next_port += 1;
        let peer = format!("10.0.1.1:{}", self.next_port);
        let conn = self.nodes[i].router.handle_accept(self.now, &peer);
        self.links.push(Link {
            ends: [
                router_end(i, conn),
                End::Peer {
                    received: Vec::new(),
                    done: false,
                },
            ],
            pipes: [Pipe::new(self.pipe.clone()), Pipe::new(self.pipe.clone())],
        });
        self.pump();
        P(self.links.len() - 1)
    }

    /// A raw peer connected to node `i`'s cluster port: it speaks the route
    /// protocol by hand ([`Self::send`], [`Self::take`]).
    pub fn route_peer(&mut self, i: usize) -> P {
        self.next_port += 1;
        let peer = format!("10.0.2.1:{}", self.next_port);
        let conn = self.nodes[i].router.handle_route_accept(self.now, &peer);
        self.links.push(Link {
            ends: [
                router_end(i, conn),
                End::Peer {
                    received: Vec::new(),
                    done: false,
                },
            ],
            pipes: [Pipe::new(self.pipe.clone()), Pipe::new(self.pipe.clone())],
        });
        self.pump();
        P(self.links.len() - 1)
    }

    /// A client of node `i` that connected (protocol 1, headers) and
    /// subscribed to each `(subject, queue)`, settled.
    pub fn subscriber(&mut self, i: usize, subs: &[(&str, Option<&str>)]) -> P {
        let p = self.client(i);
        let mut text = String::from(
            "CONNECT {\"verbose\":false,\"protocol\":1,\"headers\":true,\"no_responders\":true}\r\n",
        );
        for (sid, (subject, queue)) in subs.iter().enumerate() {
            match queue {
                Some(q) => text.push_str(&format!("SUB {subject} {q} {}\r\n", sid + 1)),
                None => text.push_str(&format!("SUB {subject} {}\r\n", sid + 1)),
            }
        }
        self.send(p, &text);
        self.settle();
        self.take(p);
        p
    }

    /// Writes `text` from client `p`.
    pub fn send(&mut self, p: P, text: &str) {
        let link = &mut self.links[p.0];
        link.pipes[1].force(self.now, bytes::Bytes::copy_from_slice(text.as_bytes()));
        self.pump();
    }

    /// Client `p` closes its connection.
    pub fn disconnect(&mut self, p: P) {
        let now = self.now;
        self.links[p.0].pipes[1].close(now);
        self.pump();
    }

    /// What client `p` received since the last call.
    pub fn take(&mut self, p: P) -> Vec<u8> {
        match &mut self.links[p.0].ends[1] {
            End::Peer { received, .. } => std::mem::take(received),
            End::Router { .. } => Vec::new(),
        }
    }

    /// The messages client `p` received since the last call, as
    /// `(subject, payload)`; other ops are dropped.
    pub fn msgs(&mut self, p: P) -> Vec<(String, String)> {
        self.ops(p)
            .into_iter()
            .filter_map(|op| match op {
                ServerOp::Msg(m) => Some((
                    String::from_utf8_lossy(m.subject()).into_owned(),
                    String::from_utf8_lossy(m.payload()).into_owned(),
                )),
                _ => None,
            })
            .collect()
    }

    /// The ops client `p` received since the last call.
    pub fn ops(&mut self, p: P) -> Vec<ServerOp> {
        let bytes = self.take(p);
        let mut dec = ServerOpDecoder::new(Limits::default());
        let mut buf = BytesMut::from(&bytes[..]);
        let mut ops = Vec::new();
        while let Ok(Some(op)) = dec.decode(&mut buf) {
            ops.push(op);
        }
        ops
    }

    /// Whether the transport of client `p` ended.
    pub fn closed(&self, p: P) -> bool {
        matches!(self.links[p.0].ends[1], End::Peer { done: true, .. })
    }

    /// Registered routes of node `i`, by remote server id.
    pub fn route_ids(&self, i: usize) -> Vec<String> {
        self.nodes[i]
            .router
            .routes()
            .into_iter()
            .map(|r| r.remote_id)
            .collect()
    }

    /// Whether every node has a route to every other (a full mesh).
    pub fn is_full_mesh(&self) -> bool {
        let n = self.nodes.len();
        self.nodes.iter().enumerate().all(|(i, node)| {
            let ids = self.route_ids(i);
            ids.len() == n - 1
                && self
                    .nodes
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .all(|(_, o)| ids.iter().any(|id| id == o.router.server_id()))
                && node.router.routes().len() == n - 1
        })
    }

    /// Cuts every route link of node `i` (both sides see their transport
    /// end).
    pub fn cut_routes(&mut self, i: usize) {
        for l in 0..self.links.len() {
            let touches = self.links[l].ends.iter().any(
                |e| matches!(e, End::Router { node, conn, done: false, .. } if *node == i && self.nodes[i].router.is_route(*conn)),
            );
            if touches {
                for e in 0..2 {
                    self.links[l].pipes[e].clear();
                    self.links[l].pipes[e].close(self.now);
                }
                for e in 0..2 {
                    self.end_transport(l, e);
                }
            }
        }
        self.pump();
    }

    /// Feeds raw bytes into node `i`'s end of its route link to node `j`
    /// (as if `j` had sent them).
    pub fn inject_route_bytes(&mut self, i: usize, j: usize, bytes: &[u8]) {
        let jid = self.nodes[j].router.server_id().to_owned();
        let conn = self.nodes[i]
            .router
            .routes()
            .into_iter()
            .find(|r| r.remote_id == jid)
            .map(|r| r.conn)
            .expect("route");
        for l in 0..self.links.len() {
            for e in 0..2 {
                if matches!(&self.links[l].ends[e], End::Router { node, conn: c, .. } if *node == i && *c == conn)
                {
                    let now = self.now;
                    self.links[l].pipes[1 - e].force(now, bytes::Bytes::copy_from_slice(bytes));
                }
            }
        }
        self.advance(Duration::from_millis(2));
    }

    /// Lets time pass until nothing more happens within `d`.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        loop {
            // What is due now was moved by `pump` (an end of stream stays
            // "readable" after it was seen).
            let now = self.now;
            let next = self
                .nodes
                .iter()
                .filter_map(|n| n.router.poll_timeout())
                .chain(
                    self.links
                        .iter()
                        .flat_map(|l| l.pipes.iter().filter_map(Pipe::next_read_at)),
                )
                .filter(|&t| t > now)
                .min();
            match next {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.fire_timers();
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = target;
        self.fire_timers();
        self.pump();
    }

    /// Advances 5 s: handshakes, gossip and interest settle.
    pub fn settle(&mut self) {
        self.advance(Duration::from_secs(5));
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        for n in &mut self.nodes {
            if n.router.poll_timeout().is_some_and(|t| t <= now) {
                n.router.handle_timeout(now);
                assert!(
                    n.router.poll_timeout().is_none_or(|t| t > now),
                    "a deadline at or before now remains"
                );
            }
        }
    }

    /// Moves everything that can move at the current instant.
    pub fn pump(&mut self) {
        for _round in 0..100_000 {
            let mut progress = false;
            for i in 0..self.nodes.len() {
                while let Some(ev) = self.nodes[i].router.poll_event() {
                    progress = true;
                    match &ev {
                        RouterEvent::SessionClosed { conn, .. } => {
                            if let Some((l, e)) = self.find(i, *conn) {
                                if let End::Router { closing, .. } = &mut self.links[l].ends[e] {
                                    *closing = true;
                                }
                            }
                        }
                        RouterEvent::DialRoute { dial, url } => {
                            let target = (0..self.nodes.len()).find(|&j| {
                                self.nodes[j].addr == url.host && url.port == ROUTE_PORT
                            });
                            match target {
                                Some(j) if !self.nodes[j].refuse => {
                                    self.next_port += 1;
                                    let from = format!("{}:{}", self.nodes[i].addr, self.next_port);
                                    let to = format!("{}:{ROUTE_PORT}", self.nodes[j].addr);
                                    let accepted =
                                        self.nodes[j].router.handle_route_accept(self.now, &from);
                                    let dialled = self.nodes[i]
                                        .router
                                        .handle_route_connected(self.now, *dial, &to);
                                    if let Some(dialled) = dialled {
                                        self.links.push(Link {
                                            ends: [router_end(i, dialled), router_end(j, accepted)],
                                            pipes: [
                                                Pipe::new(self.pipe.clone()),
                                                Pipe::new(self.pipe.clone()),
                                            ],
                                        });
                                    }
                                }
                                _ => self.nodes[i]
                                    .router
                                    .handle_route_dial_failed(self.now, *dial),
                            }
                        }
                        RouterEvent::VerifyCredentials(check) => {
                            // The driver's worker, run inline: the hash is
                            // pure CPU.
                            let verdict = check.verify();
                            let now = self.now;
                            self.nodes[i].router.handle_credential_verdict(now, verdict);
                        }
                        RouterEvent::InputResumed(conn) => {
                            if let Some((l, e)) = self.find(i, *conn) {
                                if let End::Router { input, .. } = &mut self.links[l].ends[e] {
                                    let now = self.now;
                                    self.nodes[i].router.handle_input(now, *conn, input);
                                }
                            }
                        }
                        _ => {}
                    }
                    self.nodes[i].events.push(ev);
                }
            }
            for l in 0..self.links.len() {
                for e in 0..2 {
                    progress |= self.flush_end(l, e);
                }
                for e in 0..2 {
                    progress |= self.read_end(l, e);
                }
            }
            if !progress {
                return;
            }
        }
        panic!("the cluster does not settle");
    }

    fn find(&self, i: usize, conn: ConnId) -> Option<(usize, usize)> {
        (0..self.links.len()).rev().find_map(|l| {
            (0..2).find_map(|e| match &self.links[l].ends[e] {
                End::Router { node, conn: c, .. } if *node == i && *c == conn => Some((l, e)),
                _ => None,
            })
        })
    }

    /// Writes end `e`'s pending output; closes its transport after a close.
    fn flush_end(&mut self, l: usize, e: usize) -> bool {
        let now = self.now;
        let End::Router {
            node,
            conn,
            closing,
            done,
            ..
        } = &mut self.links[l].ends[e]
        else {
            return false;
        };
        if *done {
            return false;
        }
        let (node, conn, closing) = (*node, *conn, *closing);
        let router = &mut self.nodes[node].router;
        let mut progress = false;
        while let Some(chunk) = router.poll_transmit(conn) {
            let n = chunk.len();
            self.links[l].pipes[e].force(now, chunk);
            router.handle_written(now, conn, n);
            progress = true;
        }
        if closing {
            self.links[l].pipes[e].close(now);
            self.end_transport(l, e);
            progress = true;
        }
        progress
    }

    /// The transport of end `e` is gone: its router forgets the session.
    fn end_transport(&mut self, l: usize, e: usize) {
        let now = self.now;
        if let End::Router {
            node, conn, done, ..
        } = &mut self.links[l].ends[e]
        {
            if !*done {
                *done = true;
                self.nodes[*node].router.handle_transport_closed(now, *conn);
            }
        }
        self.links[l].pipes[e].close(now);
    }

    /// Delivers to end `e` what arrived for it.
    fn read_end(&mut self, l: usize, e: usize) -> bool {
        let now = self.now;
        let mut progress = false;
        loop {
            let read = self.links[l].pipes[1 - e].read(now);
            match read {
                Read::Nothing => return progress,
                Read::Eof => {
                    let already = match &self.links[l].ends[e] {
                        End::Router { done, .. } | End::Peer { done, .. } => *done,
                    };
                    if already {
                        return progress;
                    }
                    match &mut self.links[l].ends[e] {
                        End::Peer { done, .. } => *done = true,
                        End::Router { .. } => self.end_transport(l, e),
                    }
                    return true;
                }
                Read::Data(bytes) => {
                    progress = true;
                    match &mut self.links[l].ends[e] {
                        End::Peer { received, done } => {
                            if !*done {
                                received.extend_from_slice(&bytes);
                            }
                        }
                        End::Router {
                            node,
                            conn,
                            input,
                            done,
                            ..
                        } => {
                            if !*done {
                                input.extend_from_slice(&bytes);
                                self.nodes[*node].router.handle_input(now, *conn, input);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn router_end(node: usize, conn: ConnId) -> End {
    End::Router {
        node,
        conn,
        input: BytesMut::new(),
        closing: false,
        done: false,
    }
}
