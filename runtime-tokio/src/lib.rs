//! `stan-tokio`: the tokio adapter of `stan-core`.
//!
//! Today it serves the embedded NATS server: [`RouterServer`] accepts TCP
//! connections and drives a [`stan_core::nats::router::Router`] with them, and
//! [`LocalSession`] attaches an in-process peer to the same router. The
//! adapter moves bytes and time only; the router makes every decision.
//!
//! ```no_run
//! use stan_core::nats::router::RouterConfig;
//! use stan_tokio::RouterServer;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = RouterServer::bind("127.0.0.1:4222", RouterConfig::default()).await?;
//!     let local = server.attach_local(Default::default());
//!     local.subscribe("greetings.>", None, "1").expect("valid subject");
//!     let mut got = Vec::new();
//!     local.recv_many(&mut got).await; // messages published by TCP clients
//!     server.shutdown().await;
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod engine;
mod external;
mod router;

pub use client::{
    ConnectError, Connection, Msg, Options, PubAckFuture, StartAt, Subscription,
    SubscriptionOptions,
};
pub use engine::EngineHandle;
pub use external::{drive, drive_with, ExternalEngine};
pub use router::{LocalSession, RouterServer};
pub use stan_core::stan::client::ClientError;
