//! Seeds on every server runtime: a server whose configuration leaves the
//! seed at 0 ("not chosen") draws one from OS entropy, so two of them
//! announce different server ids and neither announces the public test
//! seed's; a chosen seed is used as given.
//!
//! Run per server runtime with [`seed_suite!`](crate::seed_suite).

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use stan_core::rand::{derive_key, domain, SeededRng};

use crate::{RouterConfig, ServerRuntime};

/// The `server_id` of the `INFO` line the server at `url` greets with.
fn server_id(url: &str) -> String {
    let mut stream = TcpStream::connect(url.trim_start_matches("nats://")).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        assert_eq!(stream.read(&mut byte).expect("INFO"), 1, "INFO cut short");
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).expect("INFO is text");
    let start = line.find("\"server_id\":\"").expect("server_id in INFO") + 13;
    let len = line[start..].find('"').expect("server_id ends");
    line[start..start + len].to_owned()
}

/// What a router seeded with `seed` announces.
fn expected_id(seed: u64) -> String {
    let mut rng = SeededRng::new(derive_key(seed, domain::ROUTER_RNG));
    format!(
        "N{}",
        rng.string_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 55)
    )
}

/// Two unseeded servers and one seeded with 7, on runtime `S`.
pub fn unseeded_servers_draw_their_seed_from_os_entropy<S: ServerRuntime>() {
    let a = S::nats_only(RouterConfig::default());
    let b = S::nats_only(RouterConfig::default());
    let fixed = S::nats_only(RouterConfig {
        seed: 7,
        ..RouterConfig::default()
    });
    let (id_a, id_b) = (server_id(&a.url()), server_id(&b.url()));
    assert_ne!(id_a, id_b);
    assert_ne!(id_a, expected_id(0), "the public test seed was served");
    assert_eq!(server_id(&fixed.url()), expected_id(7));
    for s in [a, b, fixed] {
        s.stop();
    }
}

/// Expands the seed scenario into a test for one server runtime.
#[macro_export]
macro_rules! seed_suite {
    ($name:ident, $s:ty) => {
        mod $name {
            use super::*;

            #[test]
            fn unseeded_servers_draw_their_seed_from_os_entropy() {
                $crate::bounded(
                    $crate::LIMIT,
                    $crate::seeds::unseeded_servers_draw_their_seed_from_os_entropy::<$s>,
                );
            }
        }
    };
}
