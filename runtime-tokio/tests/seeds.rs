//! Served routers without a chosen seed draw one from OS entropy; a chosen
//! seed is used as given (tokio).

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use stan_core::nats::router::RouterConfig;
use stan_core::rand::{derive_key, domain, SeededRng};
use stan_tokio::RouterServer;

/// The `server_id` of the `INFO` line a server at `addr` greets with.
fn server_id(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "INFO cut short");
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let start = line.find("\"server_id\":\"").expect("server_id in INFO") + 13;
    let len = line[start..].find('"').unwrap();
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

fn seeded(seed: u64) -> RouterConfig {
    RouterConfig {
        seed,
        ..RouterConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unseeded_routers_draw_their_seed_from_os_entropy() {
    let a = RouterServer::bind("127.0.0.1:0", RouterConfig::default())
        .await
        .unwrap();
    let b = RouterServer::bind("127.0.0.1:0", RouterConfig::default())
        .await
        .unwrap();
    let fixed = RouterServer::bind("127.0.0.1:0", seeded(7)).await.unwrap();
    let (id_a, id_b) = (server_id(a.local_addr()), server_id(b.local_addr()));
    assert_ne!(id_a, id_b);
    assert_ne!(id_a, expected_id(0), "the public test seed was served");
    assert_eq!(server_id(fixed.local_addr()), expected_id(7));
    a.shutdown().await;
    b.shutdown().await;
    fixed.shutdown().await;
}
