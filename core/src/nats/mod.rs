//! The NATS client protocol: wire codec (both directions), header blocks and
//! subject rules.

pub mod client;
pub mod codec;
pub mod headers;
pub mod message;
pub mod router;
pub mod stack;
pub mod subject;

pub use codec::{
    ClientOp, ClientOpDecoder, DecodeError, Limits, OpName, ServerOp, ServerOpDecoder,
};
pub use headers::{HeaderError, HeaderMap};
pub use message::{parse_sid, InboundMessage, NatsCommand};
pub use subject::SubjectError;
