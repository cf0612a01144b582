//! Checkable payloads of a soak run: each names its publisher (a number
//! unique in the run) and that publisher's counter, and carries filler
//! whose length and bytes derive from the run's seed and that name, so
//! every delivery is checked byte for byte without keeping the payload.
//!
//! ```
//! use stan_cli::soak::payload::{Codec, Key};
//!
//! let codec = Codec::new(7);
//! let key = Key { publisher: 3, counter: 40 };
//! let data = codec.encode(key);
//! assert_eq!(codec.decode(&data).unwrap(), key);
//! let mut bad = data.clone();
//! *bad.last_mut().unwrap() ^= 1;
//! assert!(codec.decode(&bad).is_err());
//! ```

use std::fmt;

use crate::filler::{field, mix, push_filler};

/// Most filler bytes after the header.
pub const MAX_FILLER: u64 = 200;

const PREFIX: &str = "stan-soak ";

/// Who published a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The publisher's number in the run.
    pub publisher: u32,
    /// Its counter, from 0.
    pub counter: u32,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}c{}", self.publisher, self.counter)
    }
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

    /// The payload of `key`: `stan-soak p<pub> c<counter> ` and filler.
    pub fn encode(&self, key: Key) -> Vec<u8> {
        let state = mix(self.seed ^ mix((u64::from(key.publisher) << 32) | u64::from(key.counter)));
        let mut out = format!("{PREFIX}p{} c{} ", key.publisher, key.counter).into_bytes();
        push_filler(&mut out, state, MAX_FILLER);
        out
    }

    /// Decodes `data` and checks it is exactly what was published.
    pub fn decode(&self, data: &[u8]) -> Result<Key, String> {
        let rest = data
            .strip_prefix(PREFIX.as_bytes())
            .ok_or_else(|| format!("not a stan-soak payload ({} bytes)", data.len()))?;
        let head = String::from_utf8_lossy(&rest[..rest.len().min(40)]);
        let mut fields = head.split(' ');
        let mut field = |tag: char| -> Result<u32, String> {
            field(&mut fields, tag)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("bad header {head:?}"))
        };
        let key = Key {
            publisher: field('p')?,
            counter: field('c')?,
        };
        if self.encode(key) == data {
            Ok(key)
        } else {
            Err(format!("payload of {key} differs from what was published"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_catches_damage() {
        let c = Codec::new(5);
        let mut lens = std::collections::HashSet::new();
        for counter in 0..300 {
            let key = Key {
                publisher: 9,
                counter,
            };
            let d = c.encode(key);
            assert_eq!(c.decode(&d), Ok(key));
            lens.insert(d.len());
        }
        assert!(lens.len() > 50);
        let d = c.encode(Key {
            publisher: 1,
            counter: 2,
        });
        assert!(c.decode(&d[..d.len() - 1]).is_err() || d.len() == 16);
        assert!(Codec::new(6).decode(&d).is_err() || d.len() == 16);
        assert!(c.decode(b"hello").is_err());
        assert!(c.decode(b"stan-soak px c1 ").is_err());
    }
}
