//! The `stan-server` child process: started with the Go server's flags on
//! a loopback address, its output in a log file of its own, ready once it
//! logs `Streaming Server is ready`; stopped by SIGKILL (a crash) or
//! SIGTERM (a clean stop). A child still running when its handle is
//! dropped is killed, so the harness never leaves a server behind.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The line `stan-server` logs once it serves clients.
pub const READY_LINE: &str = "Streaming Server is ready";

/// How long a start may take (a file store recovers first).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts refused because the port is busy, retried this often.
const BIND_RETRIES: u32 = 20;

/// Why the server could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The program could not be run.
    #[error("cannot run {path}: {source}")]
    Spawn {
        /// The program.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The log file could not be made or read.
    #[error("log file {path}: {source}")]
    Log {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The server exited before it was ready.
    #[error("stan-server exited before it was ready ({status}); {log} ends with:\n{tail}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// Its log file.
        log: String,
        /// The end of its log.
        tail: String,
    },
    /// The server did not log that it is ready in time.
    #[error("stan-server not ready after {secs} s; {log} ends with:\n{tail}")]
    NotReady {
        /// Seconds waited.
        secs: u64,
        /// Its log file.
        log: String,
        /// The end of its log.
        tail: String,
    },
    /// Signalling or reaping the child failed.
    #[error("stan-server (pid {pid}): {source}")]
    Process {
        /// The child's pid.
        pid: u32,
        /// Why.
        source: io::Error,
    },
}

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
    child: Child,
    log: PathBuf,
    /// How long it took to be ready.
    pub ready_after: Duration,
    reaped: bool,
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
        let log_err = |source| ServerError::Log {
            path: log.clone(),
            source,
        };
        let out = File::create(&log).map_err(log_err)?;
        let err = out.try_clone().map_err(log_err)?;
        let started = Instant::now();
        let child = Command::new(&spec.program)
            .args(spec.args())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| ServerError::Spawn {
                path: spec.program.clone(),
                source,
            })?;
        let mut server = ServerProcess {
            child,
            log,
            ready_after: Duration::ZERO,
            reaped: false,
        };
        loop {
            let text = std::fs::read_to_string(&server.log).unwrap_or_default();
            if text.contains(READY_LINE) {
                server.ready_after = started.elapsed();
                return Ok(server);
            }
            if let Some(status) = server.try_wait()? {
                return Err(ServerError::Exited {
                    status,
                    log: server.log.display().to_string(),
                    tail: tail(&text),
                });
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(ServerError::NotReady {
                    secs: READY_TIMEOUT.as_secs(),
                    log: server.log.display().to_string(),
                    tail: tail(&text),
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// This start's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    fn try_wait(&mut self) -> Result<Option<ExitStatus>, ServerError> {
        let pid = self.child.id();
        let status = self
            .child
            .try_wait()
            .map_err(|source| ServerError::Process { pid, source })?;
        if status.is_some() {
            self.reaped = true;
        }
        Ok(status)
    }

    /// Crashes the server: SIGKILL, then reaps it. Returns the exit
    /// status if the server had already exited on its own.
    pub fn kill(&mut self) -> Result<Option<ExitStatus>, ServerError> {
        let pid = self.child.id();
        if self.reaped {
            return Ok(None);
        }
        if let Some(status) = self.try_wait()? {
            return Ok(Some(status));
        }
        self.child
            .kill()
            .map_err(|source| ServerError::Process { pid, source })?;
        self.child
            .wait()
            .map_err(|source| ServerError::Process { pid, source })?;
        self.reaped = true;
        Ok(None)
    }

    /// Stops the server cleanly: SIGTERM, then waits up to `grace` for it
    /// to exit. Returns its exit status, or `None` if it had to be killed.
    pub async fn terminate(&mut self, grace: Duration) -> Result<Option<ExitStatus>, ServerError> {
        if self.reaped {
            return Ok(None);
        }
        self.sigterm()?;
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.kill()?;
        Ok(None)
    }

    #[cfg(unix)]
    fn sigterm(&self) -> Result<(), ServerError> {
        use rustix::process::{kill_process, Pid, Signal};
        let pid = self.child.id();
        kill_process(Pid::from_child(&self.child), Signal::TERM).map_err(|e| ServerError::Process {
            pid,
            source: e.into(),
        })
    }

    #[cfg(not(unix))]
    fn sigterm(&self) -> Result<(), ServerError> {
        Err(ServerError::Process {
            pid: self.child.id(),
            source: io::Error::new(io::ErrorKind::Unsupported, "SIGTERM needs unix"),
        })
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A log shortened for an error message: all of it up to 20 lines, else
/// its first 5 lines (a refused command line is explained there, before
/// the usage) and its last 12.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= 20 {
        return lines.join("\n");
    }
    format!(
        "{}\n...\n{}",
        lines[..5].join("\n"),
        lines[lines.len() - 12..].join("\n")
    )
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

    #[test]
    fn tail_keeps_the_last_lines() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let t = tail(&text);
        assert!(t.starts_with("line 0\n") && t.ends_with("line 29"), "{t}");
        assert!(
            t.contains("line 4\n...\nline 18\n") && !t.contains("line 17"),
            "{t}"
        );
        assert_eq!(tail("a\nb\n"), "a\nb");
    }
}
