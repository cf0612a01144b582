//! NATS Streaming (STAN) on top of the NATS layer. Today: the message
//! [`store`] and the engine ([`server`]).

pub mod client;
pub mod names;
pub mod server;
pub mod store;
