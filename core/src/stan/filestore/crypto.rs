//! Encryption at rest of message payloads (`--encrypt`), pure: the format of
//! nats-streaming-server's `stores/cryptostore.go`, so that a store that Go
//! encrypted with a key is read by us with the same key, and the other way
//! round.
//!
//! What Go does, and so what is done here:
//! * only the `data` field of each stored `MsgProto` is encrypted (subject,
//!   reply, sequence, timestamp stay clear; so do subscriptions, clients and
//!   `server.dat`); a message with empty data is stored as it is;
//! * the user's key is hashed, `master = SHA-256(key)`, and each channel has
//!   a key of its own, `SHA-256(Z || master || "." || channel)`, where `Z` is
//!   `32 + 1 + len(channel)` zero bytes (Go builds the buffer with `make` and
//!   then appends to it: the zeros are part of its format);
//! * the cipher is AES-256-GCM (code 1) or ChaCha20-Poly1305 (code 2), both
//!   with 12-byte nonces, 16-byte tags and no associated data, the same
//!   32-byte key for either;
//! * the encrypted data is `code (1 byte) || nonce (12) || ciphertext || tag
//!   (16)`: 29 bytes more than the plaintext;
//! * decryption picks the cipher from the code byte, whichever cipher is
//!   configured (a store may mix both after a change of `--encryption_cipher`);
//!   data whose first byte is neither code is taken as not encrypted and kept
//!   as it is (messages stored before encryption was turned on).
//!
//! Nonces are where we differ from Go, which draws 4 random bytes and puts
//! the channel's last sequence + 1 in the other 8 each time a channel's
//! store is opened: the core draws no randomness, so the IO side hands in a
//! random 64-bit [`nonce_seed`](EncryptionOptions::nonce_seed) when it opens
//! the store (from OS entropy), and each channel's encryptor starts from a
//! nonce derived from it:
//! * `prefix = SHA-256("stan-rs/v1/filestore/nonce" || seed || generation)`,
//!   its first 8 bytes, where `generation` counts the encryptors made since
//!   the store was opened (a channel deleted and created again in the same
//!   run gets a new prefix although its key and sequences repeat);
//! * the 12-byte nonce, read as a big-endian 96-bit number, starts at
//!   `prefix * 2^32 + last_seq + 1` (`last_seq`: the channel's last sequence
//!   when its encryptor is made, as in Go) and grows by one per message (Go
//!   increments its nonce the same way).
//!
//! So a nonce never repeats for a key: within one encryptor the counter only
//! grows (2^96 values); two encryptors of the same key (two runs, or a
//! channel re-created) start from independent random prefixes, 2^32 apart
//! per unit of prefix, so their ranges meet only if two 64-bit prefixes
//! drawn at random land within a few units of each other; and even a seed
//! reused by mistake starts past every nonce of the previous run, since the
//! sequence grew with every message written.
//!
//! Go's "auto" cipher (an empty `--encryption_cipher`) is AES on amd64 and
//! 386, ChaCha elsewhere; ours is always AES (the default of
//! [`Cipher`]), as the Go server's usage text documents. Either is read back
//! whatever is configured.
//!
//! ```
//! use stan_core::stan::filestore::crypto::{Cipher, EncryptionOptions, StoreEncryption};
//!
//! let opts = EncryptionOptions::new(Cipher::Aes, b"secret", 0x1234_5678_9abc_def0).unwrap();
//! let mut store = StoreEncryption::new(opts.clone());
//! let mut foo = store.channel("foo", 1);
//! let sealed = foo.encrypt_data(b"hello");
//! assert_eq!(sealed.len(), 5 + 29);
//! assert_eq!(&foo.decrypt_data(&sealed.into()).unwrap()[..], b"hello");
//!
//! // The same key decrypts after a restart; another key does not.
//! let sealed = foo.encrypt_data(b"again").into();
//! let reopened = StoreEncryption::new(opts).channel("foo", 3);
//! assert_eq!(&reopened.decrypt_data(&sealed).unwrap()[..], b"again");
//! let other = EncryptionOptions::new(Cipher::Aes, b"wrong", 7).unwrap();
//! let err = StoreEncryption::new(other).channel("foo", 3).decrypt_data(&sealed).unwrap_err();
//! assert!(err.to_string().contains("wrong encryption key?"));
//! ```

use std::fmt;
use std::str::FromStr;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use bytes::Bytes;
use chacha20poly1305::ChaCha20Poly1305;
use sha2::{Digest, Sha256};
use stan_proto::{Message, MsgProto};

/// The environment variable holding the key. Go reads it first and uses
/// `--encryption_key` only when it is unset or empty.
pub const ENV_KEY: &str = "NATS_STREAMING_ENCRYPTION_KEY";

/// Code byte of data encrypted with AES-256-GCM (Go's `CryptoCodeAES`).
pub const CODE_AES: u8 = 1;
/// Code byte of data encrypted with ChaCha20-Poly1305 (Go's
/// `CryptoCodeChaCha`).
pub const CODE_CHACHA: u8 = 2;
/// Nonce size of both ciphers.
pub const NONCE_SIZE: usize = 12;
/// Authentication tag size of both ciphers.
pub const TAG_SIZE: usize = 16;
/// What encryption adds to the data: code, nonce and tag.
pub const OVERHEAD: usize = 1 + NONCE_SIZE + TAG_SIZE;

const NONCE_DOMAIN: &[u8] = b"stan-rs/v1/filestore/nonce";

/// A cipher (`--encryption_cipher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Cipher {
    /// AES-256-GCM (`AES`): the default.
    #[default]
    Aes,
    /// ChaCha20-Poly1305 (`CHACHA`).
    ChaCha,
}

impl Cipher {
    /// The code byte that starts the data it encrypted.
    pub fn code(self) -> u8 {
        match self {
            Cipher::Aes => CODE_AES,
            Cipher::ChaCha => CODE_CHACHA,
        }
    }

    /// The cipher of a code byte.
    pub fn from_code(code: u8) -> Option<Cipher> {
        match code {
            CODE_AES => Some(Cipher::Aes),
            CODE_CHACHA => Some(Cipher::ChaCha),
            _ => None,
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Aes => "AES",
            Cipher::ChaCha => "CHACHA",
        }
    }
}

impl fmt::Display for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A cipher name other than `AES` or `CHACHA` (Go's
/// `ErrCipherNotSupported`).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("encryption cipher not supported: {0:?} (AES or CHACHA)")]
pub struct UnsupportedCipher(pub String);

impl FromStr for Cipher {
    type Err = UnsupportedCipher;

    /// `AES` or `CHACHA`, case-insensitive; empty is Go's "auto", AES here.
    fn from_str(s: &str) -> Result<Cipher, UnsupportedCipher> {
        match s.to_ascii_uppercase().as_str() {
            "" | "AES" => Ok(Cipher::Aes),
            "CHACHA" => Ok(Cipher::ChaCha),
            _ => Err(UnsupportedCipher(s.to_owned())),
        }
    }
}

/// No key, or an empty one (Go's `ErrCryptoStoreRequiresKey`).
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("encryption key required")]
pub struct KeyRequired;

/// How the store encrypts: the cipher, the hash of the user's key (the key
/// itself is not kept) and the nonce seed. Its `Debug` shows neither the
/// hash nor the seed.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionOptions {
    cipher: Cipher,
    master_key: [u8; 32],
    nonce_seed: u64,
}

impl EncryptionOptions {
    /// Options for `key` (the bytes of `--encryption_key` or of the
    /// environment variable, as given). `nonce_seed` must be drawn at
    /// random (OS entropy) each time a store is opened: see the module docs.
    pub fn new(cipher: Cipher, key: &[u8], nonce_seed: u64) -> Result<Self, KeyRequired> {
        if key.is_empty() {
            return Err(KeyRequired);
        }
        Ok(EncryptionOptions {
            cipher,
            master_key: master_key(key),
            nonce_seed,
        })
    }

    /// The cipher new messages are encrypted with.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// The seed of the nonces.
    pub fn nonce_seed(&self) -> u64 {
        self.nonce_seed
    }
}

impl fmt::Debug for EncryptionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionOptions")
            .field("cipher", &self.cipher)
            .field("master_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Go's master key: `SHA-256(key)`.
pub fn master_key(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

/// Go's key of a channel: `SHA-256(Z || master || "." || channel)` with `Z`
/// made of `32 + 1 + len(channel)` zero bytes (see the module docs).
pub fn channel_key(master: &[u8; 32], channel: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    let zeros = [0u8; 64];
    let mut left = master.len() + 1 + channel.len();
    while left > 0 {
        let n = left.min(zeros.len());
        h.update(&zeros[..n]);
        left -= n;
    }
    h.update(master);
    h.update(b".");
    h.update(channel.as_bytes());
    h.finalize().into()
}

/// The store-wide encryption state: makes each channel's [`Encryption`].
#[derive(Debug)]
pub struct StoreEncryption {
    opts: EncryptionOptions,
    generation: u64,
}

impl StoreEncryption {
    /// The state of a store just opened with `opts`.
    pub fn new(opts: EncryptionOptions) -> StoreEncryption {
        StoreEncryption {
            opts,
            generation: 0,
        }
    }

    /// The options.
    pub fn options(&self) -> &EncryptionOptions {
        &self.opts
    }

    /// The encryptor of `channel`, whose next message has sequence
    /// `next_seq` (its last sequence + 1).
    pub fn channel(&mut self, channel: &str, next_seq: u64) -> Encryption {
        let mut h = Sha256::new();
        h.update(NONCE_DOMAIN);
        h.update(self.opts.nonce_seed.to_be_bytes());
        h.update(self.generation.to_be_bytes());
        let digest = h.finalize();
        self.generation += 1;
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&digest[..8]);
        let start = (u128::from(u64::from_be_bytes(prefix)) << 32) + u128::from(next_seq);
        let mut nonce = [0u8; NONCE_SIZE];
        nonce.copy_from_slice(&start.to_be_bytes()[16 - NONCE_SIZE..]);
        Encryption::new(
            self.opts.cipher,
            &channel_key(&self.opts.master_key, channel),
            nonce,
        )
    }
}

/// Why data could not be decrypted.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum DecryptError {
    /// Shorter than a code, a nonce and a tag (Go: "trying to decrypt data
    /// that is not").
    #[error("encrypted data too short ({len} bytes, at least {OVERHEAD} expected)")]
    Truncated {
        /// Its length.
        len: usize,
    },
    /// The tag does not match: another key (or damaged data).
    #[error("{cipher} message authentication failed (wrong encryption key?)")]
    Authentication {
        /// The cipher its code byte names.
        cipher: Cipher,
    },
    /// The stored message is not a `MsgProto`.
    #[error("not a message: {0}")]
    Decode(#[from] stan_proto::DecodeError),
}

/// A channel's encryptor and decryptor: its key, under both ciphers, and its
/// next nonce. `Debug` shows the cipher only.
#[derive(Clone)]
pub struct Encryption {
    cipher: Cipher,
    aes: Aes256Gcm,
    chacha: ChaCha20Poly1305,
    nonce: [u8; NONCE_SIZE],
}

impl fmt::Debug for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encryption")
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl Encryption {
    /// An encryptor with `key` (a channel's, see [`channel_key`]) whose
    /// first nonce is `first_nonce`. [`StoreEncryption::channel`] picks the
    /// nonce; this is for tests and tools.
    pub fn new(cipher: Cipher, key: &[u8; 32], first_nonce: [u8; NONCE_SIZE]) -> Encryption {
        Encryption {
            cipher,
            aes: Aes256Gcm::new(key.into()),
            chacha: ChaCha20Poly1305::new(key.into()),
            nonce: first_nonce,
        }
    }

    /// The cipher it encrypts with.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// The nonce the next encryption uses.
    pub fn next_nonce(&self) -> [u8; NONCE_SIZE] {
        self.nonce
    }

    /// `plaintext` encrypted: code, nonce, ciphertext and tag. Uses a nonce
    /// and moves to the next.
    pub fn encrypt_data(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
        out.push(self.cipher.code());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(plaintext);
        let nonce = self.nonce.into();
        let body = &mut out[1 + NONCE_SIZE..];
        let tag = match self.cipher {
            Cipher::Aes => self.aes.encrypt_inout_detached(&nonce, &[], body.into()),
            Cipher::ChaCha => self.chacha.encrypt_inout_detached(&nonce, &[], body.into()),
        };
        // Both fail only past 2^36 bytes of plaintext (64 GiB); a message
        // is at most 4 GiB (its record's size is 32-bit).
        let tag = match tag {
            Ok(t) => t,
            Err(_) => unreachable!("a message fits the AEAD's length limit"),
        };
        out.extend_from_slice(&tag);
        // The nonce, big-endian, plus one (as Go increments it).
        for b in self.nonce.iter_mut().rev() {
            *b = b.wrapping_add(1);
            if *b != 0 {
                break;
            }
        }
        out
    }

    /// `data` decrypted with the cipher its code byte names. Data that does
    /// not start with a code (or is empty) is not encrypted and comes back
    /// as it is, as in Go.
    pub fn decrypt_data(&self, data: &Bytes) -> Result<Bytes, DecryptError> {
        let Some(cipher) = data.first().copied().and_then(Cipher::from_code) else {
            return Ok(data.clone());
        };
        if data.len() < OVERHEAD {
            return Err(DecryptError::Truncated { len: data.len() });
        }
        let (head, rest) = data.split_at(1 + NONCE_SIZE);
        let (body, tag) = rest.split_at(rest.len() - TAG_SIZE);
        let mut nonce = [0u8; NONCE_SIZE];
        nonce.copy_from_slice(&head[1..]);
        let nonce = nonce.into();
        let mut tag_bytes = [0u8; TAG_SIZE];
        tag_bytes.copy_from_slice(tag);
        let tag = tag_bytes.into();
        let mut plain = body.to_vec();
        let ok = match cipher {
            Cipher::Aes => {
                self.aes
                    .decrypt_inout_detached(&nonce, &[], plain.as_mut_slice().into(), &tag)
            }
            Cipher::ChaCha => {
                self.chacha
                    .decrypt_inout_detached(&nonce, &[], plain.as_mut_slice().into(), &tag)
            }
        };
        match ok {
            Ok(()) => Ok(Bytes::from(plain)),
            Err(_) => Err(DecryptError::Authentication { cipher }),
        }
    }

    /// An encoded `MsgProto` with its `data` encrypted, as it is written to
    /// disk; the same bytes when the data is empty (Go stores those as
    /// they are).
    pub fn encrypt_msg(&mut self, encoded: &Bytes) -> Result<Bytes, stan_proto::DecodeError> {
        let mut msg = MsgProto::decode(encoded.clone())?;
        if msg.data.is_empty() {
            return Ok(encoded.clone());
        }
        msg.data = Bytes::from(self.encrypt_data(&msg.data));
        Ok(Bytes::from(msg.encode_to_vec()))
    }

    /// An encoded `MsgProto` read from disk with its `data` decrypted; the
    /// same bytes when the data is not encrypted.
    pub fn decrypt_msg(&self, encoded: &Bytes) -> Result<Bytes, DecryptError> {
        let mut msg = MsgProto::decode(encoded.clone())?;
        if Cipher::from_code(msg.data.first().copied().unwrap_or(0)).is_none() {
            return Ok(encoded.clone());
        }
        msg.data = self.decrypt_data(&msg.data)?;
        Ok(Bytes::from(msg.encode_to_vec()))
    }
}

/// A recovered message that could not be decrypted: the store does not open.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("unable to decrypt message {seq} of channel {channel:?}: {source}")]
pub struct MessageDecryptError {
    /// The channel.
    pub channel: String,
    /// The message's sequence.
    pub seq: u64,
    /// Why.
    #[source]
    pub source: DecryptError,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const NONCE: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

    /// The vectors were computed apart (Python's `hashlib` and
    /// `cryptography`), following Go's `cryptostore.go`.
    #[test]
    fn keys_as_go_derives_them() {
        let master = master_key(b"testkey");
        assert_eq!(
            master.to_vec(),
            hex("98483c6eb40b6c31a448c22a66ded3b5e5e8d5119cac8327b655c8b5c4836489")
        );
        assert_eq!(
            channel_key(&master, "foo").to_vec(),
            hex("f7adfb33c7099549cbe4914b815ee420108607adf04d79e2d4d3fefc65becc81")
        );
        assert_eq!(
            channel_key(&master, "orders.eu").to_vec(),
            hex("f86ebfbfa9bba42c7bc0f194f7bb6661efe2d79fe62741c64097f11867880fb9")
        );
        // Long names: the zero prefix spans several blocks.
        let long = "x".repeat(200);
        let mut manual = Sha256::new();
        manual.update(vec![0u8; 32 + 1 + 200]);
        manual.update(master);
        manual.update(b".");
        manual.update(long.as_bytes());
        let manual: [u8; 32] = manual.finalize().into();
        assert_eq!(channel_key(&master, &long), manual);
    }

    #[test]
    fn known_vectors() {
        let key = channel_key(&master_key(b"testkey"), "foo");
        let plain = b"hello, encrypted world";
        let aes = hex(
            "010102030405060708090a0b0c908831e0ae078ac537c70125dc237d5f8103da9a69be7a\
             4d29a24630827a9fdf212a57a1964a",
        );
        let chacha = hex(
            "020102030405060708090a0b0c2c0e0c24dc36d89d1f85f7d180f474861a6d010d3c5bd3\
             9b69a249a4291f352645b83bbf5bde",
        );
        let mut e = Encryption::new(Cipher::Aes, &key, NONCE);
        assert_eq!(e.encrypt_data(plain), aes);
        let mut e = Encryption::new(Cipher::ChaCha, &key, NONCE);
        assert_eq!(e.encrypt_data(plain), chacha);
        // Either decrypts both: the code byte picks the cipher.
        for cipher in [Cipher::Aes, Cipher::ChaCha] {
            let d = Encryption::new(cipher, &key, [0; 12]);
            for sealed in [&aes, &chacha] {
                let out = d.decrypt_data(&Bytes::from(sealed.clone())).unwrap();
                assert_eq!(&out[..], plain);
            }
        }
    }

    #[test]
    fn round_trips_and_nonces_never_repeat() {
        let opts = EncryptionOptions::new(Cipher::ChaCha, b"k", 42).unwrap();
        let mut store = StoreEncryption::new(opts);
        let mut e = store.channel("c", 1);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..100u32 {
            let plain = i.to_be_bytes().repeat(i as usize);
            let sealed = e.encrypt_data(&plain);
            assert_eq!(sealed[0], CODE_CHACHA);
            assert_eq!(sealed.len(), plain.len() + OVERHEAD);
            assert!(seen.insert(sealed[1..13].to_vec()), "nonce reused");
            assert_eq!(e.decrypt_data(&sealed.into()).unwrap(), plain);
        }
        // The channel made again (deleted and re-created): another prefix.
        let again = store.channel("c", 1);
        assert_ne!(again.next_nonce()[..8], e.next_nonce()[..8]);
    }

    #[test]
    fn nonce_layout() {
        let mut store = StoreEncryption::new(EncryptionOptions::new(Cipher::Aes, b"k", 1).unwrap());
        let e = store.channel("c", 0x1_0000_0005);
        let n = e.next_nonce();
        let mut h = Sha256::new();
        h.update(NONCE_DOMAIN);
        h.update(1u64.to_be_bytes());
        h.update(0u64.to_be_bytes());
        let d = h.finalize();
        let prefix = u64::from_be_bytes(d[..8].try_into().unwrap());
        let expected = (u128::from(prefix) << 32) + 0x1_0000_0005;
        let mut value = [0u8; 16];
        value[4..].copy_from_slice(&n);
        assert_eq!(u128::from_be_bytes(value), expected & ((1 << 96) - 1));

        // The increment carries across bytes, and wraps at 2^96.
        let key = [7u8; 32];
        let mut e = Encryption::new(Cipher::Aes, &key, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff]);
        e.encrypt_data(b"x");
        assert_eq!(e.next_nonce(), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        let mut e = Encryption::new(Cipher::Aes, &key, [0xff; 12]);
        e.encrypt_data(b"x");
        assert_eq!(e.next_nonce(), [0; 12]);
    }

    #[test]
    fn wrong_key_is_named() {
        let good = channel_key(&master_key(b"good"), "foo");
        let bad = channel_key(&master_key(b"bad"), "foo");
        for cipher in [Cipher::Aes, Cipher::ChaCha] {
            let sealed =
                Bytes::from(Encryption::new(cipher, &good, NONCE).encrypt_data(b"payload"));
            let err = Encryption::new(cipher, &bad, NONCE)
                .decrypt_data(&sealed)
                .unwrap_err();
            assert_eq!(err, DecryptError::Authentication { cipher });
            assert_eq!(
                err.to_string(),
                format!("{cipher} message authentication failed (wrong encryption key?)")
            );
        }
        // The channel is part of the key.
        let other_channel = channel_key(&master_key(b"good"), "bar");
        let sealed = Bytes::from(Encryption::new(Cipher::Aes, &good, NONCE).encrypt_data(b"p"));
        assert!(Encryption::new(Cipher::Aes, &other_channel, NONCE)
            .decrypt_data(&sealed)
            .is_err());
    }

    #[test]
    fn truncated_and_tampered() {
        let key = [3u8; 32];
        let mut e = Encryption::new(Cipher::Aes, &key, NONCE);
        let sealed = e.encrypt_data(b"abc");
        for len in 1..OVERHEAD {
            let err = e
                .decrypt_data(&Bytes::copy_from_slice(&sealed[..len]))
                .unwrap_err();
            assert_eq!(err, DecryptError::Truncated { len });
        }
        // Cut but long enough: the tag no longer matches.
        let err = e
            .decrypt_data(&Bytes::copy_from_slice(&sealed[..sealed.len() - 1]))
            .unwrap_err();
        assert!(matches!(err, DecryptError::Authentication { .. }));
        let mut flipped = sealed.clone();
        flipped[14] ^= 1;
        assert!(e.decrypt_data(&flipped.into()).is_err());
        // An empty plaintext has just the overhead, and comes back.
        let empty = e.encrypt_data(b"");
        assert_eq!(empty.len(), OVERHEAD);
        assert!(e.decrypt_data(&empty.into()).unwrap().is_empty());
    }

    #[test]
    fn clear_data_passes_through() {
        let e = Encryption::new(Cipher::Aes, &[1; 32], NONCE);
        for clear in [&b""[..], b"order-1", b"\x00\x01\x02", b"\x03"] {
            let b = Bytes::copy_from_slice(clear);
            assert_eq!(e.decrypt_data(&b).unwrap(), b);
        }
    }

    #[test]
    fn messages() {
        let mut e = Encryption::new(Cipher::Aes, &[9; 32], NONCE);
        let msg = MsgProto {
            sequence: 5,
            subject: "foo".into(),
            reply: "r".into(),
            data: Bytes::from_static(b"secret payload"),
            timestamp: 77,
            ..MsgProto::default()
        };
        let encoded = Bytes::from(msg.encode_to_vec());
        let disk = e.encrypt_msg(&encoded).unwrap();
        let on_disk = MsgProto::decode(disk.clone()).unwrap();
        assert_eq!(
            (
                on_disk.sequence,
                on_disk.subject.as_str(),
                on_disk.timestamp
            ),
            (5, "foo", 77)
        );
        assert_eq!(on_disk.data.len(), 14 + OVERHEAD);
        assert!(!disk.windows(14).any(|w| w == b"secret payload"));
        assert_eq!(e.decrypt_msg(&disk).unwrap(), encoded);

        // Empty data is stored as it is; clear data is read as it is.
        let empty = Bytes::from(
            MsgProto {
                sequence: 6,
                ..MsgProto::default()
            }
            .encode_to_vec(),
        );
        assert_eq!(e.encrypt_msg(&empty).unwrap(), empty);
        assert_eq!(e.decrypt_msg(&empty).unwrap(), empty);
        assert_eq!(e.decrypt_msg(&encoded).unwrap(), encoded);
        assert!(matches!(
            e.decrypt_msg(&Bytes::from_static(b"\xff\xff")),
            Err(DecryptError::Decode(_))
        ));
        assert!(e.encrypt_msg(&Bytes::from_static(b"\xff\xff")).is_err());
    }

    #[test]
    fn options() {
        assert_eq!(
            EncryptionOptions::new(Cipher::Aes, b"", 1),
            Err(KeyRequired)
        );
        assert_eq!(KeyRequired.to_string(), "encryption key required");
        let o = EncryptionOptions::new(Cipher::ChaCha, b"hunter2", 1).unwrap();
        let shown = format!("{o:?}");
        assert!(
            shown.contains("ChaCha") && shown.contains("redacted"),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"));
        assert_eq!("aes".parse(), Ok(Cipher::Aes));
        assert_eq!("ChaCha".parse(), Ok(Cipher::ChaCha));
        assert_eq!("".parse(), Ok(Cipher::Aes));
        assert_eq!(
            "des".parse::<Cipher>().unwrap_err().to_string(),
            "encryption cipher not supported: \"des\" (AES or CHACHA)"
        );
        assert_eq!(Cipher::default(), Cipher::Aes);
    }

    #[test]
    fn error_names_channel_and_sequence() {
        let e = MessageDecryptError {
            channel: "orders".into(),
            seq: 12,
            source: DecryptError::Authentication {
                cipher: Cipher::Aes,
            },
        };
        assert_eq!(
            e.to_string(),
            "unable to decrypt message 12 of channel \"orders\": AES message authentication \
             failed (wrong encryption key?)"
        );
    }
}
