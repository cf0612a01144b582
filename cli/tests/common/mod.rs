//! What the process-level tests share: child processes killed on drop,
//! free loopback ports, Debian's `nats-server`, and connecting while a
//! server starts.
#![allow(dead_code)]

pub mod raw;

use std::net::TcpListener;
use std::process::Child;
use std::time::{Duration, Instant};

use stan_tokio::{Connection, Options};

/// The bound on any single wait.
pub const T: Duration = Duration::from_secs(10);

/// A child process, killed and reaped when dropped.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nobody listens on (for now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to [`T`]) until something accepts on `port`.
pub fn wait_port(port: u16) {
    let deadline = Instant::now() + T;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Debian's `nats-server` (`scripts/install-deps.sh` installs it), or
/// `NATS_SERVER`.
pub fn nats_server() -> String {
    if let Ok(p) = std::env::var("NATS_SERVER") {
        return p;
    }
    for p in ["/usr/sbin/nats-server", "/usr/bin/nats-server"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("nats-server not found: run scripts/install-deps.sh (or set NATS_SERVER)");
}

/// Connects as `id` to cluster `test-cluster`, retrying for up to [`T`]
/// while the server starts.
pub async fn connect_retrying(url: &str, id: &str, options: Options) -> Connection {
    let deadline = Instant::now() + T;
    loop {
        match Connection::connect(url, "test-cluster", id, options.clone()).await {
            Ok(c) => return c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("connect {id}: {e}"),
        }
    }
}
