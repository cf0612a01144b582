//! NUID-compatible unique identifiers (inboxes, GUIDs, ack inboxes), from the
//! core's seeded generator (docs/protocol.md A.8): 22 characters of
//! `0-9A-Za-z`, a 12-character random prefix followed by a 10-character
//! sequence that advances by a random increment and re-randomises the prefix
//! when it wraps, as the Go `nuid` package does.

use crate::rand::SeededRng;

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PREFIX_LEN: usize = 12;
const SEQ_LEN: usize = 10;
/// 62^10.
const MAX_SEQ: u64 = 839_299_365_868_340_224;
const MIN_INC: u64 = 33;
const MAX_INC: u64 = 333;

/// Total length of a NUID.
pub const NUID_LEN: usize = PREFIX_LEN + SEQ_LEN;

/// A NUID generator.
#[derive(Debug, Clone)]
pub struct Nuid {
    rng: SeededRng,
    prefix: [u8; PREFIX_LEN],
    seq: u64,
    inc: u64,
}

impl Nuid {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut n = Nuid {
            rng: SeededRng::new(seed),
            prefix: [b'0'; PREFIX_LEN],
            seq: 0,
            inc: 0,
        };
        n.reset();
        n
    }

    fn reset(&mut self) {
        for b in &mut self.prefix {
            *b = DIGITS[self.rng.below(DIGITS.len())];
        }
        self.seq = self.rng.next_u64() % MAX_SEQ;
        self.inc = MIN_INC + self.rng.next_u64() % (MAX_INC - MIN_INC);
    }

    /// The next identifier.
    pub fn next_id(&mut self) -> String {
        self.next_bytes().iter().map(|&b| char::from(b)).collect()
    }

    /// The next identifier as its ASCII bytes (no allocation).
    pub fn next_bytes(&mut self) -> [u8; NUID_LEN] {
        self.seq += self.inc;
        if self.seq >= MAX_SEQ {
            self.reset();
        }
        let mut out = [0u8; NUID_LEN];
        out[..PREFIX_LEN].copy_from_slice(&self.prefix);
        let mut seq = self.seq;
        for slot in out[PREFIX_LEN..].iter_mut().rev() {
            *slot = DIGITS[(seq % 62) as usize];
            seq /= 62;
        }
        out
    }

    /// A new inbox subject: `_INBOX.<nuid>`.
    pub fn inbox(&mut self) -> String {
        format!("_INBOX.{}", self.next_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn shape_uniqueness_and_determinism() {
        let mut a = Nuid::new(1);
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let id = a.next_id();
            assert_eq!(id.len(), NUID_LEN);
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(seen.insert(id), "duplicate");
        }
        let (mut x, mut y) = (Nuid::new(9), Nuid::new(9));
        assert_eq!(x.next_id(), y.next_id());
        assert_ne!(Nuid::new(1).next_id(), Nuid::new(2).next_id());
        assert!(Nuid::new(3).inbox().starts_with("_INBOX."));
    }

    #[test]
    fn wraparound_changes_prefix() {
        let mut n = Nuid::new(5);
        let before = n.next_id();
        n.seq = MAX_SEQ - 1;
        let after = n.next_id();
        assert_ne!(before[..PREFIX_LEN], after[..PREFIX_LEN]);
        assert_eq!(after.len(), NUID_LEN);
    }
}
