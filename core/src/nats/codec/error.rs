//! Decoding errors and the `-ERR` texts a server answers them with.

use super::op::OpName;

/// Why a byte stream could not be decoded. After any of these the stream is
/// out of sync: the connection must be closed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The arguments of a control line are longer than the configured limit.
    #[error("control line longer than {limit} bytes")]
    ControlLineTooLong {
        /// The configured `max_control_line`.
        limit: usize,
    },
    /// A `PUB`/`HPUB`/`MSG`/`HMSG` announces more bytes than allowed.
    #[error("payload of {size} bytes exceeds the maximum of {max} bytes")]
    PayloadTooLarge {
        /// Announced size (total size for `HPUB`/`HMSG`).
        size: u64,
        /// The configured `max_payload`.
        max: usize,
    },
    /// The line does not start with an operation of this direction.
    #[error("unknown protocol operation")]
    UnknownOp,
    /// The operation is known but its arguments are malformed (count, sizes).
    #[error("malformed arguments for {op}")]
    BadArgs {
        /// The operation whose arguments were malformed.
        op: OpName,
    },
    /// The header size of an `HPUB`/`HMSG` is larger than its total size.
    #[error("header size {header} exceeds total size {total} in {op}")]
    BadHeaderSize {
        /// The operation.
        op: OpName,
        /// Announced header size.
        header: u64,
        /// Announced total size.
        total: u64,
    },
    /// The payload is not followed by exactly `\r\n`.
    #[error("payload of {op} not terminated by CRLF")]
    BadPayloadTerminator {
        /// The operation.
        op: OpName,
    },
}

impl DecodeError {
    /// The text a NATS server sends (inside `-ERR '...'`) before closing the
    /// connection, or `None` when nats-server closes without an `-ERR`.
    pub fn server_err_text(&self) -> Option<&'static str> {
        match self {
            DecodeError::ControlLineTooLong { .. } => Some("maximum control line exceeded"),
            DecodeError::PayloadTooLarge { .. } => Some("Maximum Payload Violation"),
            DecodeError::UnknownOp | DecodeError::BadPayloadTerminator { .. } => {
                Some("Unknown Protocol Operation")
            }
            DecodeError::BadArgs { .. } | DecodeError::BadHeaderSize { .. } => None,
        }
    }
}
