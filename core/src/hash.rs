//! A small, fast, deterministic hasher for the core's maps.
//!
//! The core's maps are keyed by short byte strings (subjects, sids, queue
//! names). FNV-1a is quick on such keys and, unlike the standard library's
//! randomly seeded hasher, behaves the same in every run, which keeps the
//! simulation deterministic. Keys come from peers, so a map that a peer can
//! fill without bound must also be bounded by a limit elsewhere.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// 64-bit FNV-1a.
#[derive(Debug, Clone, Copy)]
pub struct FnvHasher(u64);

impl Default for FnvHasher {
    fn default() -> Self {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for FnvHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Builds [`FnvHasher`]s.
pub type FnvBuildHasher = BuildHasherDefault<FnvHasher>;

/// A `HashMap` with the deterministic [`FnvHasher`].
pub type FnvHashMap<K, V> = HashMap<K, V, FnvBuildHasher>;
