//! `stan-mio`: the mio adapter of `stan-core`, with a blocking API.
//!
//! * The client: [`Connection`] (connect, [`Connection::publish`] waiting
//!   for the ack, [`Connection::publish_async`] with a [`PubAckHandle`]
//!   (the publish's [`PubId`] and its outcome),
//!   subscriptions with every STAN option as blocking receivers /
//!   iterators of [`Msg`] with manual [`Msg::ack`], unsubscribe or close,
//!   connection close, [`Connection::connection_lost`]). Each connection
//!   runs its own [`EventLoop`] on a background thread; API calls are
//!   commands sent to it through a [`LoopHandle`].
//! * The server: [`Server`] serves the embedded NATS server on a TCP
//!   listener from one single-threaded mio loop ([`Server::run`] or
//!   [`Server::spawn`]), with the streaming engine attached in process
//!   ([`Server::with_engine`]); [`ExternalEngine`] runs the engine against
//!   an external NATS server instead (`-ns`). [`Server::bind_cluster`]
//!   makes it a member of a NATS cluster: a route listener on the same
//!   loop, and the routes the router solicits dialled on short-lived
//!   threads (a name lookup and a blocking connect stay off the loop);
//!   with route TLS, both sides' handshakes run off the loop too, before
//!   the route session exists.
//! * Monitoring: [`Control::router_snapshot`], [`Control::engine_snapshot`]
//!   and [`Control::sync_latency`] for the server and its engine,
//!   [`ExternalEngine::monitor`] ([`EngineMonitor`]) for the external
//!   engine: snapshots taken by the loop between two turns, for another
//!   thread.
//!
//! * TLS, as nats-server does it ([`ServerTls`], [`ClientTls`] from
//!   `stan-tls`): [`Server::bind_tls`] writes `INFO` in plain text, then
//!   upgrades each connection within the TLS timeout (a plain-text client
//!   gets `-ERR 'Secure Connection - TLS Required'`);
//!   [`Connection::connect_tls`], [`ExternalEngine::start_tls`] and
//!   [`EventLoop::set_tls`] upgrade when the connection asks (`tls://`
//!   URLs, a server's `tls_required`, or TLS settings given). rustls is
//!   driven by the loops' non-blocking reads and writes.
//!
//! The adapter moves bytes and time only; the core's state machines make
//! every decision.
//!
//! Seeds: every router, engine and client this crate starts whose
//! configuration leaves `seed` at 0 ("not chosen") gets a fresh seed from
//! OS entropy ([`entropy_seed`]); the core derives its identifiers and hash
//! keys from it. Set a non-zero seed only to reproduce a run.
//!
//! A complete round trip, server included:
//!
//! ```
//! use std::time::Duration;
//! use stan_core::nats::router::RouterConfig;
//! use stan_core::stan::server::ServerConfig;
//! use stan_core::stan::store::MemStore;
//! use stan_mio::{Connection, Options, Server, StartAt, SubscriptionOptions};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The server: embedded NATS on a free port, engine in process.
//!     let server = Server::bind("127.0.0.1:0", RouterConfig::default())?
//!         .with_engine(ServerConfig::default(), MemStore::new(100), |_| {})
//!         .spawn()?;
//!     let url = format!("nats://{}", server.local_addr());
//!
//!     // The client.
//!     let conn = Connection::connect(&url, "test-cluster", "example", Options::default())?;
//!     conn.publish("greetings", "hello")?;
//!     let opts = SubscriptionOptions { start: StartAt::First, ..Default::default() };
//!     let sub = conn.subscribe("greetings", opts)?;
//!     let msg = sub.recv_timeout(Duration::from_secs(5)).expect("a message");
//!     assert_eq!((msg.sequence(), msg.data().as_ref()), (1, &b"hello"[..]));
//!     sub.unsubscribe()?;
//!     conn.close()?;
//!
//!     server.shutdown()?;
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod checks;
mod client;
mod external;
mod io;
mod monitor;
mod routes;
mod server;
mod tls;

pub use client::{ConnectError, Connection, Msg, Options, PubAckHandle, Subscription};
pub use external::{EventLoop, ExternalEngine, LoopHandle};
pub use io::entropy_seed;
pub use monitor::EngineMonitor;
pub use server::{Control, Server, ServerHandle};
pub use stan_core::stan::client::{
    ClientError, ConnectOptions, PubId, StartAt, SubscriptionOptions,
};
pub use stan_tls::{ClientTls, ClientTlsOptions, Pem, ServerTls, ServerTlsOptions, TlsError};
