//! NATS Streaming (STAN) on top of the NATS layer: the engine ([`server`]),
//! the client session ([`client`]), the message [`store`], the file store's
//! on-disk format ([`filestore`]) and name rules.

pub mod any_store;
pub mod client;
pub mod filestore;
pub mod latency;
pub mod names;
pub mod server;
pub mod store;
