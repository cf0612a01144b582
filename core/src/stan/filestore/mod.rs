//! The file store's on-disk format, pure: nats-streaming-server 0.25.6's
//! format (`stores/filestore.go`), so that a store directory the Go server
//! wrote is read as it is, and one we write is read by Go.
//!
//! Nothing here touches a file: bytes in, records, state and repairs out.
//! The IO side (a store thread) reads the files, calls [`recover()`], applies
//! the [`Repair`]s, and appends records encoded here.
//!
//! One job per module:
//! * [`crc`]: CRC-32 with any polynomial (`--file_crc_poly`);
//! * [`crypto`]: encryption at rest of message payloads (`--encrypt`), Go's
//!   format;
//! * [`record`]: the version header and the record framing (8-byte header:
//!   type/size word and CRC, then a protobuf), encoding and zero-copy
//!   decoding;
//! * [`types`]: the record types of each file, numbered as Go numbers them;
//! * [`index`]: the `msgs.N.idx` records (sequence, offset, timestamp,
//!   size, CRC);
//! * [`layout`]: file names and the directory layout;
//! * [`scan`](mod@scan): reading a file's records and classifying how it ends (clean,
//!   torn tail, corrupt), the rule documented there;
//! * [`fold`], [`server`], [`clients`], [`subs`], [`msgs`]: folding each
//!   file's records into state (limits applied to messages as Go's recovery
//!   applies them);
//! * [`recover()`](recover::recover): a whole store directory at once.
//!
//! The protobufs persisted are `stan_proto`'s [`ServerInfo`](stan_proto::ServerInfo),
//! [`ClientInfo`](stan_proto::ClientInfo), [`ClientDelete`](stan_proto::ClientDelete),
//! [`SubState`](stan_proto::SubState), [`SubStateUpdate`](stan_proto::SubStateUpdate),
//! [`SubStateDelete`](stan_proto::SubStateDelete) and
//! [`MsgProto`](stan_proto::MsgProto).
//!
//! ```
//! use bytes::BytesMut;
//! use stan_core::stan::filestore::{
//!     encode_message, fold_subs, put_version, scan, Crc32, FileEnd, Framing, ScanOptions,
//!     SubRecordType,
//! };
//! use stan_proto::{SubState, SubStateUpdate};
//!
//! // A subs.dat: a durable subscription sent sequence 1.
//! let mut file = BytesMut::new();
//! put_version(&mut file);
//! let sub = SubState { id: 1, durable_name: "dur".into(), ..Default::default() };
//! encode_message(&mut file, SubRecordType::New, &sub, &Crc32::IEEE).unwrap();
//! let sent = SubStateUpdate { id: 1, seqno: 1 };
//! encode_message(&mut file, SubRecordType::Msg, &sent, &Crc32::IEEE).unwrap();
//!
//! // A crash in the middle of the next append leaves half a record.
//! let good_len = file.len() as u64;
//! file.extend_from_slice(&[4, 0, 0, 4, 0xaa]);
//!
//! let opts = ScanOptions { framing: Framing::Typed, crc: Some(&Crc32::IEEE) };
//! let s = scan(&file.freeze(), opts).unwrap();
//! assert!(matches!(s.end, FileEnd::TornTail { offset, .. } if offset == good_len));
//! let subs = fold_subs(&s.records).unwrap();
//! assert_eq!(subs.subs[&1].pending.len(), 1);
//! assert_eq!(subs.subs[&1].state.last_sent, 1);
//! ```

pub mod clients;
pub mod crc;
pub mod crypto;
pub mod fold;
pub mod index;
pub mod io;
pub mod journal;
pub mod layout;
pub mod msglog;
pub mod msgs;
pub mod record;
pub mod recover;
pub mod scan;
pub mod server;
pub mod store;
pub mod subs;
pub mod types;

pub use clients::{fold_clients, RecoveredClients};
pub use crc::{Crc32, InvalidPolynomial, IEEE_POLYNOMIAL};
pub use crypto::{
    Cipher, DecryptError, Encryption, EncryptionOptions, KeyRequired, MessageDecryptError,
    StoreEncryption, UnsupportedCipher,
};
pub use fold::FoldError;
pub use index::{scan_index, IndexEntry, IndexError, IndexScan, INDEX_RECORD_SIZE};
pub use io::{ArchiveDone, FileOp, IoBatch, IoDone, IoFailure, ReadOutcome};
pub use journal::Journal;
pub use layout::FileId;
pub use msgs::{
    fold_slice, IndexRebuild, IndexStatus, RecoveredMsg, RecoveredMsgs, RecoveredSlice,
    SliceOrderError, MSG_RECORD_OVERHEAD,
};
pub use record::{
    check_version, encode_message, encode_payload, put_version, read_record, EncodeError, Framing,
    Record, RecordError, RecordHeader, RecordTag, VersionError, FILE_VERSION, RECORD_HEADER_SIZE,
    VERSION_SIZE,
};
pub use recover::{
    recover, recover_streaming, ChannelFiles, RecoveredChannel, Recovery, RecoveryError,
    RecoveryErrorKind, RecoveryOptions, Repair, SliceFiles, StoreFiles, StreamError,
};
pub use scan::{scan, FileEnd, Scan, ScanOptions, Scanner};
pub use server::{recover_server, ServerFileError};
pub use store::{server_file, FileStore, FileStoreOptions, Restored, RestoredChannel};
pub use subs::{fold_subs, RecoveredSub, RecoveredSubs, SubKind};
pub use types::{ClientRecordType, SubRecordType, UnknownRecordType};

#[cfg(test)]
mod tests;
