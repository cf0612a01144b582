//! `stan-async`: the runtime-agnostic async layer over `stan-core`.
//!
//! Everything that is async but not specific to one runtime is written
//! here once:
//!
//! * the client: [`Connection`] (connect, publish and wait for the ack,
//!   [`Connection::publish_async`], subscriptions as
//!   [`Stream`](futures_core::Stream)s of [`Msg`] with manual [`Msg::ack`],
//!   unsubscribe or close, connection close, [`Connection::connection_lost`]);
//! * the embedded NATS server: [`RouterServer`] (its accept, per-connection
//!   read and write, and timer loops), in-process [`LocalSession`]s, and
//!   [`RouterServer::run_engine`], the streaming engine attached in process;
//! * [`drive`], the loop under a NATS client connection, and
//!   [`ExternalEngine`], the engine against an external NATS server;
//! * monitoring: [`RouterMonitor`] and [`EngineMonitor`] hand another
//!   thread snapshots of the running router and engine.
//!
//! TLS, as nats-server does it ([`stan_tls`] settings: [`ServerTls`],
//! [`ClientTls`]): [`RouterServer::serve_tls_on`] (and `bind_tls`) writes
//! `INFO` in plain text, then upgrades each connection within the TLS
//! timeout (a plain-text client gets `-ERR 'Secure Connection - TLS
//! Required'`); [`Connection::connect_tls`], [`ExternalEngine::start_tls`]
//! and [`drive_tls`] upgrade when the connection asks (`tls://` URLs, a
//! server's `tls_required`, or TLS settings given). TLS is a byte transform
//! over the [`Runtime`]'s two halves; the core only decides when.
//!
//! A runtime plugs in through [`Runtime`]: spawn, a timer, dial, listen and
//! accept, and a TCP stream's two halves. `stan-tokio` and `stan-smol` are
//! that trait's implementations plus type aliases (`stan_tokio::Connection
//! = stan_async::Connection<Tokio>`); a new runtime is one more. Only
//! `std`, `futures-core` and runtime-neutral primitives (`async-channel`,
//! `event-listener`, `futures-lite`) are used here; every protocol decision
//! stays in the core.
//!
//! Seeds: every router, engine and client this crate starts whose
//! configuration leaves `seed` at 0 ("not chosen") gets a fresh seed from
//! OS entropy ([`entropy_seed`]).
//!
//! A complete round trip on the test runtime of this crate's tests (an
//! `async-io` reactor and an `async-executor` thread; see
//! `tests/common/mod.rs`, which is all there is to porting):
//!
//! ```
//! # #[path = "../tests/common/mod.rs"] mod common;
//! use common::AsyncIo;
//! use stan_async::{Connection, Options, RouterServer, StartAt, SubscriptionOptions};
//! use stan_core::nats::router::RouterConfig;
//! use stan_core::stan::server::ServerConfig;
//! use stan_core::stan::store::MemStore;
//!
//! futures_lite::future::block_on(async {
//!     let server = RouterServer::<AsyncIo>::bind("127.0.0.1:0", RouterConfig::default()).await?;
//!     let engine = server.run_engine(ServerConfig::default(), MemStore::new(100), |_| {});
//!     let url = format!("nats://{}", server.local_addr());
//!
//!     let conn = Connection::<AsyncIo>::connect(&url, "test-cluster", "example", Options::default()).await?;
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
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod doorbell;
mod drive;
mod engine;
mod io;
mod monitor;
mod router;
mod runtime;
mod seed;
mod tls;
mod wake;

pub use client::{Connection, Msg, PubAckFuture, Subscription};
pub use doorbell::{poll_socket_bell, BellKiller, BellSocket, Doorbell, Ringer};
pub use drive::{drive, drive_tls, Driven, ExternalEngine, ExternalStartError};
pub use engine::EngineHandle;
pub use monitor::{EngineMonitor, RouterMonitor};
pub use router::{LocalSession, LogSink, RouteTls, RouterServer};
pub use runtime::{BoxFuture, ReadHalf, Runtime, WriteHalf};
pub use seed::entropy_seed;
pub use stan_core::stan::client::{
    ClientError, ConnectError, Options, PubId, StartAt, SubId, SubscriptionOptions,
};
pub use stan_tls::{ClientTls, ClientTlsOptions, Pem, ServerTls, ServerTlsOptions, TlsError};
pub use wake::{Latch, Notify};

/// Declares a runtime crate's public names: `Connection`, `RouterServer`
/// and `ExternalEngine` on runtime `$rt`, and the runtime-independent
/// types re-exported, so every runtime crate offers the same API.
///
/// ```ignore
/// stan_async::runtime_api!(Tokio, "tokio");
/// ```
#[macro_export]
macro_rules! runtime_api {
    ($rt:ty, $name:literal) => {
        pub use $crate::{
            drive, drive_tls, entropy_seed, ClientError, ClientTls, ClientTlsOptions, ConnectError,
            Driven, EngineHandle, EngineMonitor, Latch, LocalSession, LogSink, Msg, Notify,
            Options, Pem, PubAckFuture, PubId, RouterMonitor, Runtime, ServerTls, ServerTlsOptions,
            StartAt, SubId, Subscription, SubscriptionOptions, TlsError,
        };

        #[doc = concat!("A NATS Streaming connection on ", $name, ".")]
        pub type Connection = $crate::Connection<$rt>;

        #[doc = concat!("The embedded NATS server on a ", $name, " TCP listener.")]
        pub type RouterServer = $crate::RouterServer<$rt>;

        #[doc = concat!("The streaming engine against an external NATS server, on ", $name, ".")]
        pub type ExternalEngine = $crate::ExternalEngine<$rt>;
    };
}
