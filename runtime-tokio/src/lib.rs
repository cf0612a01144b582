//! `stan-tokio`: the tokio adapter of `stan-core`.
//!
//! * The client: [`Connection`] (connect, publish and wait for the ack,
//!   [`Connection::publish_async`], subscriptions as [`Stream`](futures_core::Stream)s
//!   of [`Msg`] with manual [`Msg::ack`], unsubscribe or close, connection
//!   close, [`Connection::connection_lost`]).
//! * The server: [`RouterServer`] serves the embedded NATS server on a TCP
//!   listener; [`RouterServer::run_engine`] runs the streaming engine in
//!   process against it; [`ExternalEngine`] runs the engine against an
//!   external NATS server instead (`-ns`).
//!
//! This crate is the [`Runtime`] implementation for tokio ([`Tokio`]) and
//! names for `stan-async`'s types on it: the loops, the waiters and the
//! client API are written once in `stan-async`; the core's state machines
//! make every decision.
//!
//! Seeds: every router, engine and client this crate starts whose
//! configuration leaves `seed` at 0 ("not chosen") gets a fresh seed from
//! OS entropy ([`entropy_seed`]); the core derives its identifiers and hash
//! keys from it. Set a non-zero seed only to reproduce a run.
//!
//! A complete round trip, server included:
//!
//! ```
//! use stan_core::nats::router::RouterConfig;
//! use stan_core::stan::server::ServerConfig;
//! use stan_core::stan::store::MemStore;
//! use stan_tokio::{Connection, Options, RouterServer, StartAt, SubscriptionOptions};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The server: embedded NATS on a free port, engine in process.
//!     let server = RouterServer::bind("127.0.0.1:0", RouterConfig::default()).await?;
//!     let engine = server.run_engine(ServerConfig::default(), MemStore::new(100), |_| {});
//!     let url = format!("nats://{}", server.local_addr());
//!
//!     // The client.
//!     let conn = Connection::connect(&url, "test-cluster", "example", Options::default()).await?;
//!     conn.publish("greetings", "hello").await?;
//!     let opts = SubscriptionOptions { start: StartAt::First, ..Default::default() };
//!     let mut sub = conn.subscribe("greetings", opts).await?;
//!     let msg = sub.next().await.expect("a message");
//!     assert_eq!((msg.sequence(), msg.data().as_ref()), (1, &b"hello"[..]));
//!     sub.unsubscribe().await?;
//!     conn.close().await?;
//!
//!     engine.stop().await;
//!     server.shutdown().await;
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod runtime;

pub use runtime::{Reader, Tokio, Writer};
stan_async::runtime_api!(Tokio, "tokio");
