//! The NATS client protocol: wire codec (both directions), header blocks and
//! subject rules.

pub mod codec;
pub mod headers;
pub mod router;
pub mod subject;

pub use codec::{
    ClientOp, ClientOpDecoder, DecodeError, Limits, OpName, ServerOp, ServerOpDecoder,
};
pub use headers::{HeaderError, HeaderMap};
pub use subject::SubjectError;
