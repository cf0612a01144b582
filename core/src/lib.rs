//! `stan-core`: the sans-IO heart of a NATS Streaming (STAN) server and client.
//!
//! Nothing in this crate does IO, reads a clock, spawns a thread or depends on
//! an async runtime: bytes and time go in, bytes, events and deadlines come
//! out. Runtime adapters (`stan-tokio`, `stan-smol`, `stan-mio`) move those
//! bytes to and from sockets.
//!
//! Every state machine here has the same shape (inputs with `now`, pure
//! `poll_*` outputs drained in one order, deadlines as data): see
//! [`contract`]. Writing a driver for a new runtime: see [`porting`], which
//! has a complete one on plain `std::net`.
//!
//! What is here:
//! * [`nats`]: the NATS wire codec for both directions ([`nats::codec`]),
//!   header blocks ([`nats::headers`]), subject rules ([`nats::subject`]),
//!   the embedded NATS server as a state machine ([`nats::router`]), a NATS
//!   client connection ([`nats::client`]) and the composition of a
//!   NATS-level app over it ([`nats::stack`]);
//! * [`stan`]: the streaming engine ([`stan::server`]), the client session
//!   ([`stan::client`]), the message store ([`stan::store`]) and name rules;
//! * [`nuid`], [`rand`], [`hash`]: seeded identifiers, randomness and
//!   hashing, so a run is reproducible from its seed. Published randomness
//!   and hash keys come from independent keys derived from the seed
//!   ([`rand::derive_key`]); the seed itself comes from the driver (OS
//!   entropy unless the user chose one).
//!
//! Decoding a stream that arrives in arbitrary pieces:
//!
//! ```
//! use bytes::BytesMut;
//! use stan_core::nats::{ClientOp, ClientOpDecoder, Limits};
//!
//! let mut decoder = ClientOpDecoder::new(Limits::default());
//! let mut input = BytesMut::new();
//! let mut ops = Vec::new();
//! for chunk in [&b"SUB foo.* 1\r\nPU"[..], b"B foo.bar 2\r\nhi\r", b"\nPING\r\n"] {
//!     input.extend_from_slice(chunk); // what a socket read would append
//!     while let Some(op) = decoder.decode(&mut input).expect("valid input") {
//!         ops.push(op);
//!     }
//! }
//! assert_eq!(ops.len(), 3);
//! assert!(matches!(ops[1], ClientOp::Pub(ref m) if m.payload() == b"hi"));
//! ```
#![forbid(unsafe_code)]
// Tests may read the real clock (as a virtual clock's origin); the library
// itself may not (core/clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods, clippy::disallowed_types))]
#![cfg_attr(not(fuzzing), deny(missing_docs))]
#![warn(unreachable_pub)]

pub mod contract;
pub mod hash;
pub mod nats;
pub mod nuid;
pub mod outbox;
pub mod porting;
pub mod rand;
pub mod shared_str;
pub mod stan;
pub mod time;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
#[cfg(any(test, feature = "fuzzing"))]
pub mod sim;
