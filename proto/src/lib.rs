//! Protobuf types of the NATS Streaming (STAN) client protocol.
//!
//! The types are generated at build time from `proto/protocol.proto` (package
//! `pb`, field numbers and types exactly as in nats-io/stan.go) by protox and
//! prost-build; no `protoc` is needed. `bytes` fields are [`bytes::Bytes`], so
//! decoding from a `Bytes` payload slices it instead of copying.
//!
//! The server's persisted state (package `spb`, `proto/store.proto`: what
//! the file store writes in `server.dat`, `clients.dat` and `subs.dat`) is
//! generated the same way: [`ServerInfo`], [`ClientInfo`], [`ClientDelete`],
//! [`SubState`], [`SubStateUpdate`], [`SubStateDelete`].
//!
//! Field names follow prost's snake_case conversion of the `.proto` names
//! (`clientID` becomes `client_id`, `CRC32` becomes `crc32`).
//!
//! ```
//! use stan_proto::{Message, PubMsg, PubAck};
//!
//! let msg = PubMsg {
//!     client_id: "me".into(),
//!     guid: "G1".into(),
//!     subject: "foo".into(),
//!     data: bytes::Bytes::from_static(b"hello"),
//!     ..Default::default()
//! };
//! let wire = msg.encode_to_vec();
//! assert_eq!(PubMsg::decode(wire.as_slice()).unwrap(), msg);
//!
//! // A successful PubAck carries only the guid; unknown fields are skipped.
//! let ack = PubAck::decode(&b"\x0a\x02G1\xa0\x06\x01"[..]).unwrap();
//! assert_eq!(ack.guid, "G1");
//! assert!(ack.error.is_empty());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Generated code for the `pb` package.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/pb.rs"));
}

/// Generated code for the `spb` package (the server's persisted state).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod spb {
    include!(concat!(env!("OUT_DIR"), "/spb.rs"));
}

pub use pb::{
    Ack, CloseRequest, CloseResponse, ConnectRequest, ConnectResponse, MsgProto, Ping,
    PingResponse, PubAck, PubMsg, StartPosition, SubscriptionRequest, SubscriptionResponse,
    UnsubscribeRequest,
};
/// The records the file store persists (package `spb` of
/// `proto/store.proto`, field numbers exactly those of the Go server's
/// `spb/protocol.proto`): the server's identity in `server.dat`, clients in
/// `clients.dat`, subscription state in each channel's `subs.dat`.
pub use spb::{ClientDelete, ClientInfo, ServerInfo, SubState, SubStateDelete, SubStateUpdate};

pub use prost::{DecodeError, EncodeError, Message};
