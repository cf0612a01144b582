//! Every state machine publishes randomness (server ids, inboxes, connIDs)
//! only from a key derived from its seed under a published domain, never
//! from the seed itself, and hands a derived seed, not its own, to the NATS
//! connection underneath. With the hash keys derived under other domains
//! (see `stan_core::rand`), what a peer sees cannot lead back to them.
// A test may read the clock once for its starting instant.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use bytes::Bytes;
use stan_core::nats::client::{ClientOptions, Connection};
use stan_core::nats::router::{Router, RouterConfig};
use stan_core::nats::NatsCommand;
use stan_core::nuid::Nuid;
use stan_core::rand::{derive_key, domain, SeededRng};
use stan_core::stan::client::{ConnectOptions, Session};
use stan_core::stan::server::{Server, ServerConfig};
use stan_core::stan::store::MemStore;

const SEED: u64 = 0x0bad_5eed_0bad_5eed;

fn server_id(key: u64) -> String {
    let mut rng = SeededRng::new(key);
    format!(
        "N{}",
        rng.string_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 55)
    )
}

/// `_INBOX.` and the 12-character random prefix of the NUIDs made from
/// `key` (the prefix stays the same for billions of ids).
fn inbox_prefix(key: u64) -> String {
    Nuid::new(key).inbox()[..19].to_owned()
}

fn subjects(commands: impl Iterator<Item = NatsCommand>) -> Vec<Bytes> {
    commands
        .filter_map(|c| match c {
            NatsCommand::Subscribe { subject, .. } => Some(subject),
            NatsCommand::Publish { reply, .. } => reply,
            NatsCommand::Unsubscribe { .. } => None,
        })
        .collect()
}

#[test]
fn router_server_id_comes_from_its_rng_key_only() {
    let now = Instant::now();
    let router = Router::new(
        RouterConfig {
            seed: SEED,
            ..RouterConfig::default()
        },
        now,
    );
    assert_eq!(
        router.server_id(),
        server_id(derive_key(SEED, domain::ROUTER_RNG))
    );
    assert_ne!(router.server_id(), server_id(SEED));
    // Reproducible from the seed; another seed, another id.
    let again = Router::new(
        RouterConfig {
            seed: SEED,
            ..RouterConfig::default()
        },
        now,
    );
    assert_eq!(router.server_id(), again.server_id());
    let other = Router::new(
        RouterConfig {
            seed: SEED + 1,
            ..RouterConfig::default()
        },
        now,
    );
    assert_ne!(router.server_id(), other.server_id());
}

#[test]
fn engine_inboxes_come_from_its_nuid_key_and_its_nats_seed_is_derived() {
    let config = ServerConfig {
        seed: SEED,
        ..ServerConfig::default()
    };
    let nats = config.nats_options("nats://127.0.0.1:4222").unwrap();
    assert_eq!(nats.seed, derive_key(SEED, domain::STAN_SERVER_NATS));
    let mut engine = Server::new(config, MemStore::new(100), Instant::now(), 0);
    let subs = subjects(std::iter::from_fn(|| engine.poll_command()));
    let derived = inbox_prefix(derive_key(SEED, domain::STAN_SERVER_NUID));
    let raw = inbox_prefix(SEED);
    assert!(subs.iter().any(|s| s.starts_with(derived.as_bytes())));
    assert!(!subs.iter().any(|s| s.starts_with(raw.as_bytes())));
}

#[test]
fn client_ids_come_from_its_nuid_key_and_its_nats_seed_is_derived() {
    let options = ConnectOptions {
        seed: SEED,
        ..ConnectOptions::new("test-cluster", "me")
    };
    let nats = options.nats_options("nats://127.0.0.1:4222", None).unwrap();
    assert_eq!(nats.seed, derive_key(SEED, domain::STAN_CLIENT_NATS));
    let mut session = Session::new(options, Instant::now(), 0).unwrap();
    let subs = subjects(std::iter::from_fn(|| session.poll_command()));
    let derived = inbox_prefix(derive_key(SEED, domain::STAN_CLIENT_NUID));
    let raw = inbox_prefix(SEED);
    assert!(subs.iter().any(|s| s.starts_with(derived.as_bytes())));
    assert!(!subs.iter().any(|s| s.starts_with(raw.as_bytes())));
}

#[test]
fn nats_client_inboxes_come_from_its_nuid_key() {
    let options = ClientOptions {
        seed: SEED,
        ..ClientOptions::default()
    };
    let mut conn = Connection::new(options, Instant::now());
    let inbox = conn.new_inbox();
    assert!(inbox.starts_with(&inbox_prefix(derive_key(SEED, domain::NATS_CLIENT_NUID))));
    assert!(!inbox.starts_with(&inbox_prefix(SEED)));
}
