//! A seeded pseudo-random generator: identities, queue-member picks and
//! jitter come from here, never from the operating system, so that a run is
//! reproducible from its seed.
//!
//! # One seed, many keys
//!
//! Each state machine takes one `seed` in its configuration, and uses it for
//! two kinds of thing that must not be linked:
//!
//! * **published randomness**: server ids in `INFO`, NUIDs, inboxes, GUIDs
//!   and queue-member picks, which peers see. [`SeededRng`] is not
//!   cryptographic, and it is invertible: whoever sees its output can
//!   recover the key it was built from;
//! * **hash keys** of the maps keyed by peer-chosen bytes (subjects, sids,
//!   client IDs): a peer who knew one could choose keys that all land in
//!   one bucket.
//!
//! So no state machine hands its seed to [`SeededRng::new`] or
//! [`SeededState::new`](crate::hash::SeededState::new) directly: it first
//! derives one key per use with [`derive_key`], a one-way function
//! (SipHash-2-4 keyed by the seed) of a distinct domain label (the
//! [`domain`] constants). Recovering the key of the generator behind a
//! published server id tells nothing about the seed or about the hash keys
//! derived from it, short of searching all 2^64 seeds.
//!
//! Where seeds come from: a runtime adapter draws them from OS entropy
//! when the user gives none (a `seed` of 0 in a configuration means "not
//! chosen"); the core never reads entropy itself. A state machine built
//! directly from a configuration whose seed is 0 uses 0 as is, which is for
//! deterministic tests only.

/// Derives the key of one use (`domain`) of `seed`: SipHash-2-4 with the
/// 128-bit key `(seed, KDF_KEY)` over the bytes of `domain`.
///
/// SipHash is a pseudo-random function: knowing the output for some
/// domains (for example by inverting a [`SeededRng`] whose output is
/// published) gives nothing about the output for another domain, nor
/// about `seed`, short of trying every seed. Different domains give
/// independent keys; nearby seeds give unrelated keys.
///
/// ```
/// use stan_core::rand::derive_key;
///
/// let ids = derive_key(42, "example/ids");
/// let hashing = derive_key(42, "example/hashing");
/// assert_ne!(ids, hashing);
/// assert_eq!(ids, derive_key(42, "example/ids"));
/// ```
pub fn derive_key(seed: u64, domain: &str) -> u64 {
    siphash24(seed, KDF_KEY, domain.as_bytes())
}

/// Second half of [`derive_key`]'s SipHash key ("stan-kdf" in ASCII), so
/// that its outputs differ from any other use of SipHash keyed by a seed.
const KDF_KEY: u64 = u64::from_le_bytes(*b"stan-kdf");

/// The domain labels given to [`derive_key`], one per use of a seed. Each
/// label is used by exactly one state machine for exactly one purpose;
/// "rng" and "nuid" keys feed published output, "hash" keys feed map
/// hashers, "nats" keys seed a NATS client connection underneath.
pub mod domain {
    /// The router's generator: server id (published in `INFO`) and
    /// queue-member picks.
    pub const ROUTER_RNG: &str = "stan-core/v1/router/rng";
    /// The router's subject index (literal tokens and the match cache).
    pub const ROUTER_SUBJECT_HASH: &str = "stan-core/v1/router/subject-hash";
    /// The router's per-session sid maps.
    pub const ROUTER_SID_HASH: &str = "stan-core/v1/router/sid-hash";
    /// A NATS client connection's NUIDs (inboxes).
    pub const NATS_CLIENT_NUID: &str = "stan-core/v1/nats-client/nuid";
    /// The streaming engine's NUIDs (its reply inboxes).
    pub const STAN_SERVER_NUID: &str = "stan-core/v1/stan-server/nuid";
    /// The streaming engine's server id (monitoring's `server_id`).
    pub const STAN_SERVER_ID: &str = "stan-core/v1/stan-server/id";
    /// The streaming engine's maps (client IDs, channels, inboxes, timers).
    pub const STAN_SERVER_HASH: &str = "stan-core/v1/stan-server/hash";
    /// The seed of the engine's own NATS connection (`-ns`).
    pub const STAN_SERVER_NATS: &str = "stan-core/v1/stan-server/nats";
    /// A streaming client's NUIDs (connID, inboxes, GUIDs).
    pub const STAN_CLIENT_NUID: &str = "stan-core/v1/stan-client/nuid";
    /// A streaming client's maps (publishes awaiting their PubAck).
    pub const STAN_CLIENT_HASH: &str = "stan-core/v1/stan-client/hash";
    /// The seed of a streaming client's NATS connection.
    pub const STAN_CLIENT_NATS: &str = "stan-core/v1/stan-client/nats";

    /// Every label above (they must all differ).
    pub const ALL: &[&str] = &[
        ROUTER_RNG,
        ROUTER_SUBJECT_HASH,
        ROUTER_SID_HASH,
        NATS_CLIENT_NUID,
        STAN_SERVER_NUID,
        STAN_SERVER_ID,
        STAN_SERVER_HASH,
        STAN_SERVER_NATS,
        STAN_CLIENT_NUID,
        STAN_CLIENT_HASH,
        STAN_CLIENT_NATS,
    ];
}

/// SipHash-2-4 of `msg` under the key `(k0, k1)` (Aumasson and Bernstein,
/// 2012), as `std::hash::SipHasher` computes it.
fn siphash24(k0: u64, k1: u64, msg: &[u8]) -> u64 {
    #[inline]
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    fn compress(v: &mut [u64; 4], m: u64) {
        v[3] ^= m;
        round(v);
        round(v);
        v[0] ^= m;
    }
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = msg.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        compress(&mut v, u64::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    let mut w = [0u8; 8];
    w[..rest.len()].copy_from_slice(rest);
    compress(&mut v, u64::from_le_bytes(w) | ((msg.len() as u64) << 56));
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// xorshift64* seeded through splitmix64. Not cryptographic: the core uses it
/// for identifiers and load spreading only.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that nearby seeds give unrelated streams
        // and the state is never zero.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        SeededRng {
            state: if z == 0 { 0x2545_f491_4f6c_dd1d } else { z },
        }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` must be non-zero; returns 0 for 0).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// `len` characters drawn uniformly from `alphabet` (at most 256 symbols).
    pub fn string_from(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_bounds_hold() {
        let (mut a, mut b) = (SeededRng::new(7), SeededRng::new(7));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut counts = [0usize; 5];
        for _ in 0..5000 {
            counts[a.below(5)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
        assert_ne!(SeededRng::new(1).next_u64(), SeededRng::new(2).next_u64());
    }

    #[test]
    fn siphash_matches_the_reference() {
        // The paper's test key 00..0f: the empty message, and 00..0e (the
        // example of its appendix A).
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(siphash24(k0, k1, b""), 0x726f_db47_dd0e_0e31);
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(k0, k1, &msg), 0xa129_ca61_49be_45e5);
        // And the standard library's (deprecated) SipHash-2-4, on every
        // length around the block size.
        #[allow(deprecated)]
        for len in 0..40 {
            use std::hash::Hasher;
            let msg: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut std = std::hash::SipHasher::new_with_keys(k0 ^ 99, k1);
            std.write(&msg);
            assert_eq!(siphash24(k0 ^ 99, k1, &msg), std.finish(), "length {len}");
        }
    }

    #[test]
    fn derived_keys_are_independent_per_domain_and_seed() {
        // Labels are distinct, so no two uses share a key.
        let mut labels = domain::ALL.to_vec();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), domain::ALL.len());
        for seed in [0, 1, 2, u64::MAX] {
            let mut keys: Vec<u64> = domain::ALL.iter().map(|d| derive_key(seed, d)).collect();
            keys.push(seed);
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), domain::ALL.len() + 1, "seed {seed}");
        }
        // Avalanche: one flipped seed bit flips about half the key bits,
        // in every domain (a linear or xor-based derivation would flip a
        // fixed few).
        let mut flipped = 0u32;
        let mut trials = 0u32;
        for d in domain::ALL {
            for bit in 0..64 {
                let a = derive_key(0x0123_4567_89ab_cdef, d);
                let b = derive_key(0x0123_4567_89ab_cdef ^ (1 << bit), d);
                flipped += (a ^ b).count_ones();
                trials += 1;
            }
        }
        let mean = f64::from(flipped) / f64::from(trials);
        assert!((30.0..34.0).contains(&mean), "mean flipped bits {mean}");
    }
}
