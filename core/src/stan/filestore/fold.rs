//! What can go wrong when folding a file's records into state: a record
//! type the file does not have, a payload that is not the protobuf its type
//! says, messages out of order. Each is fatal for start-up, as in Go
//! (`invalid client record type`, `unexpected record type`, the unmarshal
//! error).

use stan_proto::Message;

use super::record::{Record, RecordTag};

/// Why a file's records do not fold into state.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum FoldError {
    /// A record type the file does not have (0 for an untyped record in a
    /// typed file).
    #[error("unexpected record type {rec_type} at offset {offset}")]
    UnknownRecordType {
        /// Offset of the record.
        offset: u64,
        /// Its type byte.
        rec_type: u8,
    },
    /// A payload that does not decode as the protobuf of its record type.
    #[error("unable to decode {message} at offset {offset}: {error}")]
    Decode {
        /// Offset of the record.
        offset: u64,
        /// The protobuf expected.
        message: &'static str,
        /// The decoder's error.
        error: stan_proto::DecodeError,
    },
    /// A message whose sequence is not above the one before it (in its
    /// slice, or the last of the slice before).
    #[error("message sequence {seq} at offset {offset} does not follow sequence {previous}")]
    SequenceOrder {
        /// Offset of the message's record.
        offset: u64,
        /// Its sequence.
        seq: u64,
        /// The sequence before it.
        previous: u64,
    },
}

/// Decodes `rec`'s payload as `M` (zero-copy for `bytes` fields).
pub(super) fn decode<M: Message + Default>(
    rec: &Record,
    message: &'static str,
) -> Result<M, FoldError> {
    M::decode(rec.payload.clone()).map_err(|error| FoldError::Decode {
        offset: rec.offset,
        message,
        error,
    })
}

/// The type byte of a record (0 for an untyped one, which no typed file has).
pub(super) fn type_byte(rec: &Record) -> u8 {
    match rec.tag {
        RecordTag::Typed(t) => t,
        RecordTag::Untyped => 0,
    }
}
