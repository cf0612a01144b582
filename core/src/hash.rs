//! A fast, seedable hasher for the core's maps.
//!
//! The core's maps are keyed by short byte strings (subjects, sids, queue
//! names) that peers choose. The hasher reads eight bytes at a time and ends
//! with a strong bit mix; it is keyed by a seed, so a peer cannot precompute
//! colliding keys for a server whose seed it does not know, while a test with
//! a fixed seed behaves the same in every run (the standard library's
//! randomly keyed SipHash would make the simulation non-deterministic, and is
//! slower on these keys).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// Word-at-a-time multiplicative hasher with a splitmix64 finish.
#[derive(Debug, Clone, Copy)]
pub struct SeededHasher {
    h: u64,
}

const K: u64 = 0x517c_c1b7_2722_0a95;

impl SeededHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.h = (self.h.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for SeededHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let mut z = self.h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
}

/// Builds [`SeededHasher`]s from a seed.
#[derive(Debug, Clone, Copy)]
pub struct SeededState {
    seed: u64,
}

impl SeededState {
    /// Hashers keyed by `seed`.
    pub fn new(seed: u64) -> Self {
        SeededState {
            seed: seed ^ 0x243f_6a88_85a3_08d3,
        }
    }
}

impl Default for SeededState {
    fn default() -> Self {
        SeededState::new(0)
    }
}

impl BuildHasher for SeededState {
    type Hasher = SeededHasher;

    #[inline]
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher { h: self.seed }
    }
}

/// A `HashMap` hashed with [`SeededHasher`].
pub type SeededHashMap<K, V> = HashMap<K, V, SeededState>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn seed_changes_hashes_and_equal_keys_hash_equal() {
        let (a, b) = (SeededState::new(1), SeededState::new(2));
        assert_eq!(a.hash_one(b"foo.bar"), a.hash_one(b"foo.bar"));
        assert_ne!(a.hash_one(b"foo.bar"), b.hash_one(b"foo.bar"));
        assert_ne!(a.hash_one(b"foo.bar"), a.hash_one(b"foo.baz"));
        // Trailing zero bytes are not lost.
        assert_ne!(a.hash_one(&b"ab"[..]), a.hash_one(&b"ab\0"[..]));
    }
}
