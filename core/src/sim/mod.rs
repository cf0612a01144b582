//! The simulation world: every state machine of the crate on one virtual
//! clock, for tests and fuzzing. Hours of heartbeats pass in microseconds.
//!
//! One [`World`] holds the embedded router and the streaming engine, and
//! around them:
//!
//! * in-process peers of the router: scripted STAN clients speaking the
//!   protocol as protobufs ([`World::client`], handle [`C`]) and client
//!   sessions ([`World::session`], handle [`S`]), attached with
//!   [`Router::attach_local`];
//! * wire nodes, each joined to the router by a link (two byte pipes, one
//!   per direction, set up by a [`LinkConfig`]) exactly as a driver joins
//!   a socket to it: a raw text-protocol peer ([`World::peer`], known by
//!   its [`ConnId`]), a NATS client [`Connection`] ([`World::nats_client`]),
//!   a STAN client on a real NATS connection (a [`Stack`] of a
//!   [`Session`](crate::stan::client::Session), [`World::stan_client`])
//!   and, in the `-ns` setup ([`EngineSetup::Wire`]), the engine itself.
//!
//! The world is the driver of every machine, and drives them as
//! [`porting`](crate::porting) says a driver must: it dials when a
//! connection asks (or refuses, [`World::refuse_dials`]), writes the
//! router's output one chunk at a time and confirms what the link took with
//! `handle_written`, stops reading a producer the router paused and feeds
//! it again on `InputResumed`, calls `handle_write_stalled` when a write
//! made no progress for `RouterConfig::write_deadline`, flushes or drops a
//! closing session's output as `flushes_output` says, and hands a NATS
//! connection's end to a STAN session with `handle_nats_closed`.
//!
//! Links can delay, cut bytes into pieces ([`Chunking`]), be cut
//! ([`World::cut`]) and stall ([`World::stall`]: the receiving side stops
//! reading; bytes stay queued up to the link's capacity, then the sender's
//! writes are no longer taken). They reorder nothing (TCP).
//!
//! Time only moves in [`World::advance`]: it fires every deadline of every
//! machine and every arrival of bytes in order, and checks after each
//! `handle_timeout(now)` that the machine left no deadline at or before
//! `now` (which would make a real driver spin). [`World::pump`] moves
//! everything that can move at the current instant.

// The test world reads the real clock once, as the virtual clock's origin
// (the core's purity lints exempt it, as ../shared/tools/check-sans-io does).
#![allow(clippy::disallowed_methods)]

pub mod cluster;
pub mod disk;
mod link;
mod nodes;
mod scripted;
mod wire;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

pub use link::{Chunking, Dir, LinkConfig, PipeConfig, DEFAULT_CAPACITY};
pub use nodes::{NodeRef, Traffic, N};
pub use scripted::{SubHandle, C, S};

use crate::nats::client::Connection;
use crate::nats::router::pump_local;
use crate::nats::router::{ConnId, Router, RouterConfig, RouterEvent};
use crate::nats::stack::Stack;
use crate::stan::any_store::AnyStore;
use crate::stan::filestore::{recover, FileStore, FileStoreOptions, RecoveryOptions};
use crate::stan::server::{Server, ServerConfig, ServerEvent};
use crate::stan::store::MemStore;

/// Unix time the world starts at (2026-01-01T00:00:00Z).
pub const UNIX_START: i64 = 1_767_225_600_000_000_000;

/// The URL wire nodes dial (every dial reaches the world's router).
pub const SIM_URL: &str = "nats://127.0.0.1:4222";

/// Rounds of [`World::pump`] at one instant before the world declares that
/// it does not settle.
const MAX_ROUNDS: u64 = 20_000_000;
/// Clock steps at one instant before [`World::advance`] declares that the
/// world spins.
const MAX_STEPS_AT_ONE_INSTANT: u32 = 10_000;
/// Router events kept for [`World::router_events`] (the oldest go first).
const MAX_ROUTER_EVENTS: usize = 1_000_000;

/// The file store options of the simulated engines.
fn file_options(config: &ServerConfig) -> FileStoreOptions {
    FileStoreOptions {
        max_channels: config.limits.max_channels,
        ..FileStoreOptions::default()
    }
}

/// Where the world's streaming engine runs.
#[derive(Debug, Clone)]
pub enum EngineSetup {
    /// No engine: a router-only world (the engine exists but is attached to
    /// nothing and receives nothing).
    None,
    /// Attached to the router in process (the embedded default).
    Local(ServerConfig),
    /// Over a NATS connection through a link, as with `-ns` (a
    /// `Stack<Server<AnyStore>>`).
    Wire(ServerConfig, LinkConfig),
}

/// The streaming engine of a world, wherever it runs. Dereferences to the
/// [`Server`] for getters and checks.
#[derive(Debug)]
pub struct Engine {
    host: Host,
}

#[derive(Debug)]
enum Host {
    Detached(Box<Server<AnyStore>>),
    Local {
        conn: ConnId,
        server: Box<Server<AnyStore>>,
    },
    Wire {
        node: usize,
        stack: Box<Stack<Server<AnyStore>>>,
    },
}

impl Engine {
    /// The engine's in-process router session, when attached in process.
    pub fn local_conn(&self) -> Option<ConnId> {
        match &self.host {
            Host::Local { conn, .. } => Some(*conn),
            _ => None,
        }
    }

    /// The engine's wire node, in the `-ns` setup.
    pub fn node(&self) -> Option<N> {
        match &self.host {
            Host::Wire { node, .. } => Some(N(*node)),
            _ => None,
        }
    }

    /// The engine's stack (its NATS connection), in the `-ns` setup.
    pub fn stack(&mut self) -> Option<&mut Stack<Server<AnyStore>>> {
        match &mut self.host {
            Host::Wire { stack, .. } => Some(stack),
            _ => None,
        }
    }

    /// Whether the engine serves anyone (not a router-only world).
    pub fn is_attached(&self) -> bool {
        !matches!(self.host, Host::Detached(_))
    }
}

impl Deref for Engine {
    type Target = Server<AnyStore>;

    fn deref(&self) -> &Server<AnyStore> {
        match &self.host {
            Host::Detached(s) | Host::Local { server: s, .. } => s,
            Host::Wire { stack, .. } => &stack.app,
        }
    }
}

impl DerefMut for Engine {
    fn deref_mut(&mut self) -> &mut Server<AnyStore> {
        match &mut self.host {
            Host::Detached(s) | Host::Local { server: s, .. } => s,
            Host::Wire { stack, .. } => &mut stack.app,
        }
    }
}

/// The world. See the [module docs](self).
#[derive(Debug)]
pub struct World {
    /// Virtual now.
    pub now: Instant,
    /// The embedded NATS server.
    pub router: Router,
    /// The STAN engine.
    pub engine: Engine,
    clients: Vec<scripted::ClientState>,
    sessions: Vec<scripted::SessionState>,
    /// Every event the engine emitted.
    pub events: Vec<ServerEvent>,
    /// While true the engine receives nothing and its deadlines do not fire
    /// (a server that hangs).
    pub engine_paused: bool,
    nodes: Vec<nodes::Node>,
    links: BTreeMap<u64, wire::Link>,
    next_link: u64,
    /// Every router session a wire node ever had, with the node.
    conn_nodes: BTreeMap<ConnId, usize>,
    router_events: VecDeque<RouterEvent>,
    steps: u64,
    /// The engine's store directory, when it runs a file store
    /// ([`World::with_file_store`]).
    pub disk: Option<disk::Disk>,
    file_options: Option<FileStoreOptions>,
}

impl World {
    /// A world with the engine configured by `config` attached in process
    /// to a router with default settings.
    pub fn new(config: ServerConfig) -> Self {
        World::with_setup(RouterConfig::default(), EngineSetup::Local(config))
    }

    /// A world with default settings.
    pub fn default_world() -> Self {
        World::new(ServerConfig::default())
    }

    /// A router-only world (no engine): for NATS-level tests.
    pub fn with_router(config: RouterConfig) -> Self {
        World::with_setup(config, EngineSetup::None)
    }

    /// A world with a router configured by `router` and the engine as
    /// `engine` says.
    pub fn with_setup(router: RouterConfig, engine: EngineSetup) -> Self {
        let now = Instant::now();
        let mut router = Router::new(router, now);
        let server = |config: ServerConfig| {
            let store = AnyStore::from(MemStore::new(config.limits.max_channels));
            Box::new(Server::new(config, store, now, UNIX_START))
        };
        let mut wire_engine = None;
        let host = match engine {
            EngineSetup::None => Host::Detached(server(ServerConfig::default())),
            EngineSetup::Local(config) => Host::Local {
                conn: router.attach_local(now, config.local_options()),
                server: server(config),
            },
            EngineSetup::Wire(config, link) => {
                let nats = config
                    .nats_options(SIM_URL)
                    .expect("the world's URL parses");
                let conn = Connection::new(nats, now);
                let stack = Stack::new(conn, *server(config), now);
                wire_engine = Some(link);
                Host::Wire {
                    node: 0,
                    stack: Box::new(stack),
                }
            }
        };
        let mut w = World {
            now,
            router,
            engine: Engine { host },
            clients: Vec::new(),
            sessions: Vec::new(),
            events: Vec::new(),
            engine_paused: false,
            nodes: Vec::new(),
            links: BTreeMap::new(),
            next_link: 1,
            conn_nodes: BTreeMap::new(),
            router_events: VecDeque::new(),
            steps: 0,
            disk: None,
            file_options: None,
        };
        if let Some(link) = wire_engine {
            let node = w.add_node(nodes::Kind::Engine, "10.0.0.250:40000", link);
            if let Host::Wire { node: n, .. } = &mut w.engine.host {
                *n = node;
            }
        }
        w.pump();
        w
    }

    /// A world whose engine (attached in process) runs a file store over a
    /// simulated directory whose batches take `latency`.
    pub fn with_file_store(config: ServerConfig, latency: Duration) -> Self {
        let opts = file_options(&config);
        World::with_file_store_options(config, latency, opts)
    }

    /// [`World::with_file_store`] with the store's options (kept across
    /// [`World::restart_engine`]).
    pub fn with_file_store_options(
        config: ServerConfig,
        latency: Duration,
        opts: FileStoreOptions,
    ) -> Self {
        let mut w = World::with_setup(RouterConfig::default(), EngineSetup::None);
        let mut disk = disk::Disk::default();
        disk.latency = latency;
        disk.init(&config.server_info());
        let store = FileStore::new(opts.clone(), UNIX_START);
        w.file_options = Some(opts);
        let conn = w.router.attach_local(w.now, config.local_options());
        w.engine.host = Host::Local {
            conn,
            server: Box::new(Server::new(
                config,
                AnyStore::from(store),
                w.now,
                UNIX_START,
            )),
        };
        w.disk = Some(disk);
        w.pump();
        w
    }

    /// Kills the engine (the batch in flight is lost but for its first
    /// `torn` bytes), then starts a new one on what the directory holds.
    /// Returns the repairs recovery made.
    pub fn restart_engine(&mut self, torn: usize) -> Vec<String> {
        let Some(disk) = self.disk.as_mut() else {
            panic!("restart_engine needs a world with a file store");
        };
        disk.crash(torn);
        let Host::Local { conn, server } = &self.engine.host else {
            panic!("restart_engine needs an engine attached in process");
        };
        let config = server.config().clone();
        let unix = server.wall_clock(self.now);
        let old = *conn;
        self.router.handle_transport_closed(self.now, old);
        let files = disk.store_files();
        let crc = crate::stan::filestore::Crc32::IEEE;
        let opts = RecoveryOptions {
            crc: Some(&crc),
            truncate_bad_eof: false,
            now: None,
        };
        let limits = |name: &str| config.limits.for_channel(name);
        let recovery = recover(&files, &opts, limits)
            .expect("the simulated directory recovers")
            .expect("initialized");
        disk.repair(&recovery);
        let repairs = recovery.repairs.iter().map(ToString::to_string).collect();
        let (store, restored) = FileStore::recovered(
            self.file_options
                .clone()
                .unwrap_or_else(|| file_options(&config)),
            recovery,
            &files,
            limits,
            unix,
        )
        .expect("the simulated store is not encrypted");
        let conn = self.router.attach_local(self.now, config.local_options());
        let server = Server::restore(config, AnyStore::from(store), self.now, unix, restored);
        self.engine.host = Host::Local {
            conn,
            server: Box::new(server),
        };
        self.pump();
        repairs
    }

    /// Clock steps taken so far (distinct moments at which a deadline fired
    /// or bytes arrived): a bound on it shows that the world did not spin.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The router's events since the last call (all of them, `Log`
    /// records included), after moving what can move.
    pub fn router_events(&mut self) -> Vec<RouterEvent> {
        self.pump();
        self.router_events.drain(..).collect()
    }

    fn record_router_event(&mut self, event: RouterEvent) {
        if self.router_events.len() == MAX_ROUTER_EVENTS {
            self.router_events.pop_front();
        }
        self.router_events.push_back(event);
    }

    /// Moves messages, bytes and events until nothing moves at this
    /// instant. Panics if that never happens (a machine that keeps
    /// producing at one instant), and checks the engine's records.
    pub fn pump(&mut self) {
        let mut rounds = 0u64;
        loop {
            let moved = self.pump_in_process() + self.pump_nodes() + self.pump_router_side();
            if moved == 0 {
                break;
            }
            rounds += 1;
            assert!(
                rounds < MAX_ROUNDS,
                "the world does not settle at one instant"
            );
        }
        self.engine.assert_consistent();
    }

    /// The in-process side: the engine (when attached in process), client
    /// sessions and scripted clients.
    fn pump_in_process(&mut self) -> usize {
        let mut moved = 0;
        if !self.engine_paused {
            if let Host::Local { conn, server } = &mut self.engine.host {
                moved += pump_local(&mut self.router, *conn, &mut **server, self.now);
                if let Some(disk) = self.disk.as_mut() {
                    if let Some(done) = disk.complete(self.now) {
                        server.handle_store_done(self.now, done);
                        moved += 1;
                    }
                    if disk.due().is_none() {
                        if let Some(batch) = server.poll_store_io() {
                            disk.submit(self.now, batch);
                            moved += 1;
                        }
                    }
                }
                while let Some(e) = server.poll_event() {
                    self.events.push(e);
                }
            }
        }
        moved += self.pump_sessions();
        for i in 0..self.clients.len() {
            moved += self.drain_client(i);
        }
        moved
    }

    /// Advances virtual time by `by`, firing every deadline and delivering
    /// every byte on the way, in order.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        self.advance_to(target);
    }

    /// Advances virtual time to `target` (see [`World::advance`]).
    pub fn advance_to(&mut self, target: Instant) {
        self.pump();
        let mut same_instant = 0;
        while let Some(t) = self.next_event().filter(|&t| t <= target) {
            if t <= self.now {
                same_instant += 1;
                assert!(
                    same_instant < MAX_STEPS_AT_ONE_INSTANT,
                    "the world spins: something is due at {:?} but nothing moves",
                    self.now
                );
            } else {
                same_instant = 0;
                self.now = t;
            }
            self.steps += 1;
            self.fire_due();
            self.pump();
        }
        self.now = self.now.max(target);
        self.pump();
    }

    /// The earliest moment something is due: a machine's deadline, bytes
    /// arriving, a write deadline.
    pub fn next_event(&self) -> Option<Instant> {
        let mut next = self.router.poll_timeout();
        let mut add = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        if !self.engine_paused {
            add(match &self.engine.host {
                Host::Detached(_) => None,
                Host::Local { server, .. } => server.poll_timeout(),
                Host::Wire { stack, .. } => stack.poll_timeout(),
            });
        }
        for s in self.sessions.iter().filter(|s| !s.paused) {
            add(s.session.poll_timeout());
        }
        for node in &self.nodes {
            add(node.deadline());
        }
        if !self.engine_paused {
            add(self.disk.as_ref().and_then(disk::Disk::due));
        }
        for link in self.links.values() {
            add(self.link_next_event(link));
        }
        next
    }

    /// Fires every deadline due at `now`, checking the contract: after
    /// `handle_timeout(now)` no deadline at or before `now` remains.
    fn fire_due(&mut self) {
        let now = self.now;
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        let left = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.router.poll_timeout()) {
            self.router.handle_timeout(now);
            assert!(
                !left(self.router.poll_timeout()),
                "the router left a deadline at or before now"
            );
        }
        if !self.engine_paused {
            match &mut self.engine.host {
                Host::Detached(_) => {}
                Host::Local { server, .. } => {
                    if due(server.poll_timeout()) {
                        server.handle_timeout(now);
                        assert!(
                            !left(server.poll_timeout()),
                            "the engine left a deadline at or before now"
                        );
                    }
                }
                Host::Wire { .. } => {} // a node: fired with the nodes
            }
        }
        for st in self.sessions.iter_mut().filter(|s| !s.paused) {
            if due(st.session.poll_timeout()) {
                st.session.handle_timeout(now);
                assert!(
                    !left(st.session.poll_timeout()),
                    "a session left a deadline at or before now"
                );
            }
        }
        for i in 0..self.nodes.len() {
            self.fire_node(i);
        }
        self.fire_write_deadlines();
    }
}
