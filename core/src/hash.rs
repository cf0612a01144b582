//! A fast, seedable hasher for the core's maps.
//!
//! The core's maps are keyed by short byte strings (subjects, sids, queue
//! names, client IDs) that peers choose. The hasher reads eight bytes at a
//! time, folding each word into its state with a keyed 64x64->128-bit
//! multiply (the high half folded back onto the low half, as foldhash
//! does), and ends with a strong bit mix. It is keyed, so a peer cannot
//! precompute colliding keys for a server whose key it does not know, while
//! a test with a fixed seed behaves the same in every run (the standard
//! library's randomly keyed SipHash would make the simulation
//! non-deterministic, and is slower on these keys).
//!
//! Why the folded multiply: an FxHash-style `state = (state.rotate_left(5)
//! ^ word) * K` step (this module's first version) carries differences
//! upwards only, so two words that differ in their top bits leave states
//! that differ in their top five bits only, whatever the seed; the rotation
//! brings those to the bottom, where the next word cancels them. Peers
//! could then build families of subjects that collide under *every* seed
//! (the test `structured_keys_do_not_collide_under_every_key` shows one).
//! The high half of a 128-bit product with a secret multiplier depends on
//! every bit of both operands, which breaks such seed-independent
//! differences.
//!
//! The key must not be one whose generator output peers see: derive it with
//! [`derive_key`](crate::rand::derive_key) under a hash domain (see
//! [`crate::rand`]).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// Word-at-a-time hasher: a keyed folded multiply per word, a splitmix64
/// finish.
#[derive(Debug, Clone, Copy)]
pub struct SeededHasher {
    h: u64,
    /// Secret multiplier of this hasher's key.
    k: u64,
}

/// The low and high halves of the 128-bit product of `a` and `b`, xored.
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// splitmix64's finalizer: a bijection of `u64` with full avalanche.
#[inline]
fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SeededHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.h = folded_multiply(self.h ^ word, self.k);
    }
}

impl Hasher for SeededHasher {
    #[inline]
    fn finish(&self) -> u64 {
        splitmix(self.h)
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

/// Builds [`SeededHasher`]s from a key.
#[derive(Debug, Clone, Copy)]
pub struct SeededState {
    /// Initial state of each hasher.
    init: u64,
    /// Multiplier of each word (odd).
    k: u64,
}

impl SeededState {
    /// Hashers keyed by `key`. In a served configuration `key` is secret
    /// and is not the key of any published randomness: derive it from the
    /// configuration's seed with
    /// [`derive_key`](crate::rand::derive_key) under a hash domain.
    pub fn new(key: u64) -> Self {
        SeededState {
            init: splitmix(key ^ 0x243f_6a88_85a3_08d3),
            k: splitmix(key ^ 0x1319_8a2e_0370_7344) | 1,
        }
    }
}

impl Default for SeededState {
    /// The key 0: deterministic and public, for tests only.
    fn default() -> Self {
        SeededState::new(0)
    }
}

impl BuildHasher for SeededState {
    type Hasher = SeededHasher;

    #[inline]
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher {
            h: self.init,
            k: self.k,
        }
    }
}

/// A `HashMap` hashed with [`SeededHasher`].
pub type SeededHashMap<K, V> = HashMap<K, V, SeededState>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    #[test]
    fn seed_changes_hashes_and_equal_keys_hash_equal() {
        let (a, b) = (SeededState::new(1), SeededState::new(2));
        assert_eq!(a.hash_one(b"foo.bar"), a.hash_one(b"foo.bar"));
        assert_ne!(a.hash_one(b"foo.bar"), b.hash_one(b"foo.bar"));
        assert_ne!(a.hash_one(b"foo.bar"), a.hash_one(b"foo.baz"));
        // Trailing zero bytes are not lost.
        assert_ne!(a.hash_one(&b"ab"[..]), a.hash_one(&b"ab\0"[..]));
    }

    /// The previous construction, `state = (state.rotl(5) ^ word) * K`
    /// from a seeded initial state: kept here to show what the folded
    /// multiply fixes.
    struct Unfolded(u64);

    impl Hasher for Unfolded {
        fn finish(&self) -> u64 {
            splitmix(self.0)
        }
        fn write(&mut self, bytes: &[u8]) {
            let mut chunks = bytes.chunks_exact(8);
            let mut mix = |w: u64| self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K_OLD);
            for c in &mut chunks {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                mix(u64::from_le_bytes(w));
            }
            let rest = chunks.remainder();
            if !rest.is_empty() {
                let mut w = [0u8; 8];
                w[..rest.len()].copy_from_slice(rest);
                mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
            }
        }
    }

    const K_OLD: u64 = 0x517c_c1b7_2722_0a95;

    fn unfolded(seed: u64, key: &[u8]) -> u64 {
        let mut h = Unfolded(seed);
        key.hash(&mut h);
        h.finish()
    }

    /// 384 printable subjects `foo.barXY.end`: byte 7 (`X`) takes 12 values
    /// that differ only in bits 3..6 (bits 59..62 of the first word), byte
    /// 8 (`Y`) 32 values that differ only in bits 0..4 of the next word.
    fn structured_family() -> Vec<Vec<u8>> {
        let xs = b"AIQYaiqy!)19";
        let mut keys = Vec::new();
        for &x in xs {
            for y in 0x40u8..0x60 {
                let mut k = b"foo.bar".to_vec();
                k.extend_from_slice(&[x, y]);
                k.extend_from_slice(b".end");
                keys.push(k);
            }
        }
        keys
    }

    /// Largest bucket and mean bucket size seen by a key (a proxy for the
    /// probe length of a lookup) when `hashes` go into `buckets` buckets by
    /// their low bits, as hashbrown places them.
    fn occupancy(hashes: &[u64], buckets: usize) -> (usize, f64) {
        let mut count = vec![0usize; buckets];
        for h in hashes {
            count[(*h as usize) & (buckets - 1)] += 1;
        }
        let max = count.iter().copied().max().unwrap_or(0);
        let seen: usize = count.iter().map(|c| c * c).sum();
        (max, seen as f64 / hashes.len() as f64)
    }

    fn distinct(hashes: &[u64]) -> usize {
        let mut h = hashes.to_vec();
        h.sort_unstable();
        h.dedup();
        h.len()
    }

    #[test]
    fn structured_keys_do_not_collide_under_every_key() {
        let keys = structured_family();
        assert_eq!(keys.len(), 384);
        for key in [0, 1, 0x5eed, u64::MAX, 0x0123_4567_89ab_cdef] {
            // The unfolded hasher: 384 keys, only 32 distinct full hashes
            // (12 keys each) whatever the key, a multi-collision a peer can
            // send to any server without knowing its seed.
            let old: Vec<u64> = keys.iter().map(|k| unfolded(key, k)).collect();
            assert!(distinct(&old) <= 32, "{}", distinct(&old));
            // The folded multiply: no full collision, buckets as random.
            let state = SeededState::new(key);
            let new: Vec<u64> = keys.iter().map(|k| state.hash_one(&k[..])).collect();
            assert_eq!(distinct(&new), keys.len());
            let strs: Vec<u64> = keys
                .iter()
                .map(|k| state.hash_one(std::str::from_utf8(k).unwrap()))
                .collect();
            assert_eq!(distinct(&strs), keys.len());
            let (max, mean) = occupancy(&new, 512);
            assert!(max <= 8 && mean < 2.5, "key {key}: max {max}, mean {mean}");
        }
    }

    #[test]
    fn keys_colliding_under_a_known_key_spread_under_a_secret_one() {
        use crate::rand::{derive_key, domain};
        const BUCKETS: usize = 1024;
        const WANTED: usize = 400;
        // What a peer can do against a server whose seed it knows (here:
        // one left at 0): search for subjects, and for client IDs, that all
        // land in bucket 0 of a 1024-bucket table.
        let known_subjects = SeededState::new(derive_key(0, domain::ROUTER_SUBJECT_HASH));
        let known_ids = SeededState::new(derive_key(0, domain::STAN_SERVER_HASH));
        let mut subjects: Vec<Vec<u8>> = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        let mut n = 0u64;
        while subjects.len() < WANTED || ids.len() < WANTED {
            n += 1;
            let subject = format!("orders.eu.{n}").into_bytes();
            if subjects.len() < WANTED
                && known_subjects.hash_one(&subject[..]) as usize % BUCKETS == 0
            {
                subjects.push(subject);
            }
            let id = format!("client-{n}");
            if ids.len() < WANTED && known_ids.hash_one(id.as_str()) as usize % BUCKETS == 0 {
                ids.push(id);
            }
        }
        let known: Vec<u64> = subjects
            .iter()
            .map(|s| known_subjects.hash_one(&s[..]))
            .collect();
        assert_eq!(occupancy(&known, BUCKETS).0, WANTED);
        // The same keys against servers with secret seeds: spread as random
        // keys (400 keys in 1024 buckets: largest bucket about 4, a lookup
        // sees about 1.4 keys in its bucket), instead of one bucket of 400.
        for seed in [1, 0x5eed, 0x9e37_79b9_7f4a_7c15, u64::MAX] {
            let state = SeededState::new(derive_key(seed, domain::ROUTER_SUBJECT_HASH));
            let hashes: Vec<u64> = subjects.iter().map(|s| state.hash_one(&s[..])).collect();
            let (max, mean) = occupancy(&hashes, BUCKETS);
            assert!(
                max <= 8 && mean < 2.0,
                "subjects, seed {seed}: {max} {mean}"
            );
            let state = SeededState::new(derive_key(seed, domain::STAN_SERVER_HASH));
            let hashes: Vec<u64> = ids.iter().map(|s| state.hash_one(s.as_str())).collect();
            let (max, mean) = occupancy(&hashes, BUCKETS);
            assert!(
                max <= 8 && mean < 2.0,
                "client IDs, seed {seed}: {max} {mean}"
            );
            // And a real map with them stays a map: every key found.
            let mut map = SeededHashMap::with_hasher(state);
            for (i, id) in ids.iter().enumerate() {
                map.insert(id.clone(), i);
            }
            assert!(ids
                .iter()
                .enumerate()
                .all(|(i, id)| map.get(id) == Some(&i)));
        }
    }
}
