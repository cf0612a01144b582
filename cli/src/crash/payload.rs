//! Checkable payloads: each message names its round, publisher and counter
//! and carries filler whose length and bytes derive from the run's seed and
//! that name, so any payload read back is checked byte for byte without
//! keeping it.
//!
//! ```
//! use stan_cli::crash::payload::{Codec, Key, Payload};
//!
//! let codec = Codec::new(7);
//! let key = Key { round: 2, publisher: 1, counter: 40 };
//! let data = codec.encode(key);
//! assert_eq!(codec.decode(&data).unwrap(), Payload::Msg(key));
//! let mut bad = data.clone();
//! *bad.last_mut().unwrap() ^= 1;
//! assert!(codec.decode(&bad).is_err());
//! ```

use std::fmt;

pub use crate::filler::mix;
use crate::filler::{field, push_filler};

/// Most filler bytes after the header.
pub const MAX_FILLER: u64 = 256;

const PREFIX: &str = "stan-crash ";

/// Who published a message: the round, the publisher's slot, and the
/// publisher's counter in that round (from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Round (server life) the message was published in.
    pub round: u32,
    /// Publisher slot.
    pub publisher: u32,
    /// Counter of the publisher in its round.
    pub counter: u64,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}p{}c{}", self.round, self.publisher, self.counter)
    }
}

/// What a payload decodes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Payload {
    /// A message of a publisher.
    Msg(Key),
    /// The marker published last on channel number `.0` before the
    /// read-back: its sequence is the channel's last.
    Sentinel(u32),
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Msg(k) => k.fmt(f),
            Payload::Sentinel(ch) => write!(f, "sentinel of channel {ch}"),
        }
    }
}

/// Why a payload is not one this run published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// It does not start with the harness's prefix.
    #[error("not a stan-crash payload ({0} bytes)")]
    Foreign(usize),
    /// The header does not parse.
    #[error("bad header: {0}")]
    Header(String),
    /// The header parses but the bytes differ from what was published.
    #[error("payload of {key} differs from what was published (length {got}, expected {want})")]
    Mismatch {
        /// The key named by the header.
        key: String,
        /// Length read.
        got: usize,
        /// Length published.
        want: usize,
    },
}

/// Encodes and checks payloads for one run (one seed).
#[derive(Debug, Clone, Copy)]
pub struct Codec {
    seed: u64,
}

impl Codec {
    /// The codec of the run with `seed`.
    pub fn new(seed: u64) -> Self {
        Codec { seed }
    }

    /// The payload of `key`: `stan-crash r<round> p<pub> c<counter> n<len> `
    /// followed by `len` filler letters (0..=[`MAX_FILLER`]).
    pub fn encode(&self, key: Key) -> Vec<u8> {
        let state = mix(self.seed
            ^ mix((u64::from(key.round) << 32) | u64::from(key.publisher))
            ^ mix(key.counter.wrapping_add(0x5851_f42d_4c95_7f2d)));
        let len = state % (MAX_FILLER + 1);
        let mut out = format!(
            "{PREFIX}r{} p{} c{} n{len} ",
            key.round, key.publisher, key.counter
        )
        .into_bytes();
        push_filler(&mut out, state, MAX_FILLER);
        out
    }

    /// The sentinel payload of channel number `channel`.
    pub fn sentinel(&self, channel: u32) -> Vec<u8> {
        format!("{PREFIX}sentinel ch{channel} s{:x}", self.seed).into_bytes()
    }

    /// Decodes `data` and checks it is exactly what was published.
    pub fn decode(&self, data: &[u8]) -> Result<Payload, PayloadError> {
        let rest = data
            .strip_prefix(PREFIX.as_bytes())
            .ok_or(PayloadError::Foreign(data.len()))?;
        let head_len = rest.len().min(80);
        let head = String::from_utf8_lossy(&rest[..head_len]);
        let mut fields = head.split(' ');
        if head.starts_with("sentinel ") {
            let ch = fields
                .nth(1)
                .and_then(|f| f.strip_prefix("ch"))
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| PayloadError::Header(head.to_string()))?;
            let want = self.sentinel(ch);
            return if want == data {
                Ok(Payload::Sentinel(ch))
            } else {
                Err(PayloadError::Mismatch {
                    key: format!("sentinel {ch}"),
                    got: data.len(),
                    want: want.len(),
                })
            };
        }
        let mut field = |tag: char| -> Result<u64, PayloadError> {
            field(&mut fields, tag).ok_or_else(|| PayloadError::Header(head.to_string()))
        };
        let round = field('r')?;
        let publisher = field('p')?;
        let counter = field('c')?;
        let key = Key {
            round: u32::try_from(round).map_err(|_| PayloadError::Header(head.to_string()))?,
            publisher: u32::try_from(publisher)
                .map_err(|_| PayloadError::Header(head.to_string()))?,
            counter,
        };
        let want = self.encode(key);
        if want == data {
            Ok(Payload::Msg(key))
        } else {
            Err(PayloadError::Mismatch {
                key: key.to_string(),
                got: data.len(),
                want: want.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_lengths_vary() {
        let c = Codec::new(99);
        let mut lens = std::collections::HashSet::new();
        for counter in 0..200 {
            let key = Key {
                round: 3,
                publisher: 2,
                counter,
            };
            let data = c.encode(key);
            assert_eq!(c.decode(&data), Ok(Payload::Msg(key)));
            lens.insert(data.len());
        }
        assert!(lens.len() > 50, "filler lengths vary: {}", lens.len());
        assert_eq!(c.decode(&c.sentinel(1)), Ok(Payload::Sentinel(1)));
    }

    #[test]
    fn damage_is_detected() {
        let c = Codec::new(1);
        let key = Key {
            round: 0,
            publisher: 0,
            counter: 5,
        };
        let data = c.encode(key);
        assert!(matches!(
            c.decode(&data[..data.len() - 1]),
            Err(PayloadError::Mismatch { .. })
        ));
        assert!(matches!(
            Codec::new(2).decode(&data),
            Err(PayloadError::Mismatch { .. })
        ));
        assert_eq!(c.decode(b"hello"), Err(PayloadError::Foreign(5)));
        assert!(matches!(
            c.decode(b"stan-crash rx p0 c0 n0 "),
            Err(PayloadError::Header(_))
        ));
        let mut sentinel = c.sentinel(0);
        sentinel.push(b'!');
        assert!(c.decode(&sentinel).is_err());
    }
}
