//! NATS Streaming (STAN) on top of the NATS layer. Today: the message
//! [`store`]; the engine and the client session build on it.

pub mod names;
pub mod store;
