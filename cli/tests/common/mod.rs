//! What the process-level tests share: child processes killed on drop,
//! free loopback ports, Debian's `nats-server`, and connecting while a
//! server starts.
#![allow(dead_code)]

pub mod raw;

use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// A loopback port nobody listens on (for now), below the ephemeral range:
/// a port the system handed out would be free to give again, as the source
/// port of a parallel test's connection, before the child binds it. Each
/// call of a test process tries from a different port (its pid spreads
/// the test binaries).
pub fn free_port() -> u16 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let seed = u64::from(std::process::id()) * 7919 + call;
    stan_cli::crash::server::free_port(seed).expect("a free loopback port")
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

/// The arguments that make a server (ours or `nats-server`: the same
/// flags) a cluster node on 127.0.0.1: clients on `port`, routes on
/// `cluster`, soliciting `routes`; `creds` (`user:pass@` or empty) in the
/// listen URL (the cluster authorization) and in the solicited URLs.
pub fn cluster_args(port: u16, cluster: u16, routes: &[u16], creds: &str) -> Vec<String> {
    let mut args = vec![
        "-a".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        port.to_string(),
        "--cluster".to_owned(),
        format!("nats://{creds}127.0.0.1:{cluster}"),
    ];
    if !routes.is_empty() {
        let urls: Vec<String> = routes
            .iter()
            .map(|p| format!("nats-route://{creds}127.0.0.1:{p}"))
            .collect();
        args.push("--routes".to_owned());
        args.push(urls.join(","));
    }
    args
}

/// Spawns `cmd` with its output discarded and waits until each of
/// `ports` accepts connections.
pub fn spawn_quiet(cmd: &mut std::process::Command, ports: &[u16]) -> Kill {
    use std::process::Stdio;
    let child = Kill(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{:?} starts: {e}", cmd.get_program())),
    );
    for &port in ports {
        wait_port(port);
    }
    child
}
