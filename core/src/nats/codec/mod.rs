//! NATS wire codec (docs/protocol.md section A): an incremental zero-copy decoder
//! and an encoder for every op in both directions.
//!
//! * [`ClientOpDecoder`] reads what clients send (used by the router),
//!   [`ServerOpDecoder`] reads what servers send (used by clients),
//!   [`RouteOpDecoder`] reads what a server sends on a route (docs/routes.md).
//! * Op names are case-insensitive; arguments are separated by any run of
//!   spaces or tabs; lines may end in CRLF or a bare LF; payloads must be
//!   followed by exactly CRLF.
//! * [`Limits`] bounds the control line and the payload, so a peer cannot make
//!   a decoder buffer without end.

mod decode;
mod encode;
mod error;
mod op;
mod route;

pub use decode::{ClientOpDecoder, Limits, ServerOpDecoder};
pub use encode::{
    encode_client_op, encode_server_op, write_connect, write_err, write_info, write_msg,
    write_msg_line, write_pub, write_pub_line, write_sub, write_unsub, CRLF, OK, PING, PONG,
};
pub use error::DecodeError;
pub use op::{ClientOp, MsgFrame, OpName, ServerOp};
pub use route::{
    write_rmsg_line, write_route_sub, write_route_unsub, RouteMsg, RouteOp, RouteOpDecoder,
};

#[cfg(test)]
mod tests;
