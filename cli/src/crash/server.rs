//! The `stan-server` child process: started with the Go server's flags on
//! a loopback address, its output in a log file of its own, ready once it
//! logs `Streaming Server is ready`; stopped by SIGKILL (a crash) or
//! SIGTERM (a clean stop). A child still running when its handle is
//! dropped is killed, so the harness never leaves a server behind.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::server_child::ServerChild;
pub use crate::server_child::{tail, ServerError, READY_LINE, READY_TIMEOUT};

/// Starts refused because the port is busy, retried this often.
const BIND_RETRIES: u32 = 20;

/// How every start of the server is made.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// The `stan-server` program.
    pub program: PathBuf,
    /// `-st`: `FILE` or `MEMORY`.
    pub store: String,
    /// `--dir`: the store's directory (kept across restarts).
    pub store_dir: PathBuf,
    /// Where each start's log goes (`server-<n>.log`).
    pub log_dir: PathBuf,
    /// `-p`: the loopback port (the same for every start).
    pub port: u16,
    /// `-cid`.
    pub cluster_id: String,
}

impl ServerSpec {
    /// The command line: the Go server's flags, loopback only.
    pub fn args(&self) -> Vec<String> {
        vec![
            "-st".into(),
            self.store.clone(),
            "--dir".into(),
            self.store_dir.display().to_string(),
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            self.port.to_string(),
            "-cid".into(),
            self.cluster_id.clone(),
        ]
    }

    /// The clients' URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

/// A running `stan-server` child.
#[derive(Debug)]
pub struct ServerProcess {
    child: ServerChild,
    /// How long it took to be ready.
    pub ready_after: Duration,
}

impl ServerProcess {
    /// Starts the server (start number `n`, for the log's name) and waits
    /// until it is ready. A start refused because the port is still busy
    /// is retried.
    pub async fn start(spec: &ServerSpec, n: u32) -> Result<ServerProcess, ServerError> {
        let mut attempt = 0;
        loop {
            match Self::start_once(spec, n, attempt).await {
                Err(ServerError::Exited { tail, .. })
                    if attempt < BIND_RETRIES && tail.contains("Error listening on port") =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => return other,
            }
        }
    }

    async fn start_once(
        spec: &ServerSpec,
        n: u32,
        attempt: u32,
    ) -> Result<ServerProcess, ServerError> {
        let log = spec.log_dir.join(if attempt == 0 {
            format!("server-{n}.log")
        } else {
            format!("server-{n}.retry{attempt}.log")
        });
        let started = Instant::now();
        let child =
            ServerChild::spawn_ready(&spec.program, &spec.args(), &log, Duration::from_millis(5))
                .await?;
        Ok(ServerProcess {
            child,
            ready_after: started.elapsed(),
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// This start's log file.
    pub fn log(&self) -> &Path {
        self.child.log()
    }

    /// Crashes the server: SIGKILL, then reaps it. Returns the exit
    /// status if the server had already exited on its own.
    pub fn kill(&mut self) -> Result<Option<ExitStatus>, ServerError> {
        self.child.kill()
    }

    /// Stops the server cleanly: SIGTERM, then waits up to `grace` for it
    /// to exit. Returns its exit status, or `None` if it had to be killed.
    pub async fn terminate(&mut self, grace: Duration) -> Result<Option<ExitStatus>, ServerError> {
        self.child.terminate(grace, Duration::from_millis(10)).await
    }
}

/// A free loopback port below the usual ephemeral range (32768 and up),
/// so that no client socket of this machine is given it while the server
/// is down between a crash and its restart. Tried from a seeded start.
pub fn free_port(seed: u64) -> io::Result<u16> {
    const LOW: u16 = 20000;
    const SPAN: u16 = 12000;
    let start = (seed % u64::from(SPAN)) as u16;
    for i in 0..SPAN {
        let port = LOW + (start + i) % SPAN;
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    // Everything below is taken: any port the system gives.
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_are_the_go_flags_on_loopback() {
        let spec = ServerSpec {
            program: "stan-server".into(),
            store: "FILE".into(),
            store_dir: "/tmp/s".into(),
            log_dir: "/tmp/l".into(),
            port: 4333,
            cluster_id: "test-cluster".into(),
        };
        assert_eq!(
            spec.args().join(" "),
            "-st FILE --dir /tmp/s -a 127.0.0.1 -p 4333 -cid test-cluster"
        );
        assert_eq!(spec.url(), "nats://127.0.0.1:4333");
    }

    #[test]
    fn a_free_port_is_below_the_ephemeral_range() {
        let p = free_port(12345).unwrap();
        assert!((20000..32000).contains(&p), "{p}");
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok());
    }
}
