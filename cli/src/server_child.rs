//! A `stan-server` child process of a test harness (`stan-crash`,
//! `stan-soak`): spawned with its output in a log file of its own, ready
//! once it logs [`READY_LINE`]; stopped by SIGKILL (a crash) or SIGTERM (a
//! clean stop). A child still running when its handle is dropped is
//! killed, so a harness never leaves a server behind.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The line `stan-server` logs once it serves clients.
pub const READY_LINE: &str = "Streaming Server is ready";

/// How long a start may take (a file store recovers first).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

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

/// A running `stan-server` child and its log file.
#[derive(Debug)]
pub struct ServerChild {
    child: Child,
    log: PathBuf,
    reaped: bool,
}

impl ServerChild {
    /// Runs `program` with `args`, stdin closed and stdout and stderr into
    /// a new file `log`, and waits until the log holds [`READY_LINE`]
    /// (looking every `poll`): an error if the child exits first or is not
    /// ready within [`READY_TIMEOUT`] (the child is then killed).
    pub async fn spawn_ready(
        program: &Path,
        args: &[String],
        log: &Path,
        poll: Duration,
    ) -> Result<ServerChild, ServerError> {
        let log_err = |source| ServerError::Log {
            path: log.to_path_buf(),
            source,
        };
        let out = File::create(log).map_err(log_err)?;
        let err = out.try_clone().map_err(log_err)?;
        let started = Instant::now();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| ServerError::Spawn {
                path: program.to_path_buf(),
                source,
            })?;
        let mut server = ServerChild {
            child,
            log: log.to_path_buf(),
            reaped: false,
        };
        loop {
            let text = std::fs::read_to_string(&server.log).unwrap_or_default();
            if text.contains(READY_LINE) {
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
            tokio::time::sleep(poll).await;
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The exit status if the server has exited (it is then reaped).
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, ServerError> {
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
    /// to exit (looking every `poll`). Returns its exit status, or `None`
    /// if it had to be killed (or was already reaped).
    pub async fn terminate(
        &mut self,
        grace: Duration,
        poll: Duration,
    ) -> Result<Option<ExitStatus>, ServerError> {
        if self.reaped {
            return Ok(None);
        }
        self.sigterm()?;
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            tokio::time::sleep(poll).await;
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

impl Drop for ServerChild {
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

#[cfg(test)]
mod tests {
    use super::*;

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
