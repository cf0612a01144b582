//! NATS Streaming (STAN) on top of the NATS layer: the engine ([`server`]),
//! the client session ([`client`]), the message [`store`] and name rules.

pub mod client;
pub mod names;
pub mod server;
pub mod store;
