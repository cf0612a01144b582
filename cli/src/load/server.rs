//! The server under load: a `stan-server` child started on 127.0.0.1
//! (memory store, monitoring on a second loopback port, the heartbeat
//! flags only when asked), or a running one named by `--attach` and
//! `--pid`. A started child is stopped with SIGTERM, and killed if it is
//! still there when its handle is dropped.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::crash::server::{free_port, tail, READY_LINE};

use super::opts::LoadOptions;
use super::procfs::{self, Proc};
use super::LoadError;

/// How long a start may take.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The cluster ID of a started server.
pub const CLUSTER_ID: &str = "test-cluster";

/// The server of one run.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    /// Its process.
    pub pid: u32,
    /// The clients' URL.
    pub url: String,
    /// Its monitoring port, if known.
    pub monitor: Option<u16>,
    /// Its log (a started server).
    pub log: Option<PathBuf>,
    /// Its command line (a started server).
    pub args: Vec<String>,
}

impl Server {
    /// Starts `stan-server` (or takes the attached one) for a run.
    pub async fn start(opts: &LoadOptions, run: &str) -> Result<Server, LoadError> {
        if let (Some(url), Some(pid)) = (&opts.attach, opts.pid) {
            if Proc::Pid(pid).rss_kib().is_none() {
                return Err(LoadError::Setup(format!("no process {pid} to measure")));
            }
            return Ok(Server {
                child: None,
                pid,
                url: url.clone(),
                monitor: opts.monitor,
                log: None,
                args: Vec::new(),
            });
        }
        let program = match &opts.server {
            Some(p) => p.clone(),
            None => next_to_me("stan-server")?,
        };
        let seed = stan_tokio::entropy_seed();
        let port = free_port(seed).map_err(|e| LoadError::Setup(format!("no free port: {e}")))?;
        let mut monitor = free_port(seed.wrapping_add(7919))
            .map_err(|e| LoadError::Setup(format!("no free port: {e}")))?;
        if monitor == port {
            monitor = free_port(seed.wrapping_add(104_729))
                .map_err(|e| LoadError::Setup(format!("no free port: {e}")))?;
        }
        let mut args: Vec<String> = [
            "-st",
            "MEMORY",
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            &monitor.to_string(),
            "-cid",
            CLUSTER_ID,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (flag, value) in [
            ("-hbi", opts.hbi.clone()),
            ("-hbt", opts.hbt.clone()),
            ("-hbf", opts.hbf.map(|n| n.to_string())),
            ("--runtime", opts.runtime.clone()),
        ] {
            if let Some(v) = value {
                args.push(flag.into());
                args.push(v);
            }
        }
        let log = std::env::temp_dir().join(format!("stan-load-{}-{run}.log", std::process::id()));
        let log_err = |e: std::io::Error| LoadError::Setup(format!("{}: {e}", log.display()));
        let out = File::create(&log).map_err(log_err)?;
        let err = out.try_clone().map_err(log_err)?;
        let child = Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| LoadError::Setup(format!("cannot run {}: {e}", program.display())))?;
        let mut server = Server {
            pid: child.id(),
            child: Some(child),
            url: format!("nats://127.0.0.1:{port}"),
            monitor: Some(monitor),
            log: Some(log.clone()),
            args,
        };
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(READY_LINE) {
                return Ok(server);
            }
            let exited = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                return Err(LoadError::Setup(format!(
                    "stan-server exited before it was ready ({status}):\n{}",
                    tail(&text)
                )));
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(LoadError::Setup(format!(
                    "stan-server not ready after {READY_TIMEOUT:?}:\n{}",
                    tail(&text)
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process to measure.
    pub fn proc(&self) -> Proc {
        Proc::Pid(self.pid)
    }

    /// Whether the started child is still running (an attached server is
    /// taken to be).
    pub fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => Proc::Pid(self.pid).rss_kib().is_some(),
        }
    }

    /// `/streaming/serverz`'s `clients` and `subscriptions`, if the
    /// monitoring port is known and answers.
    pub async fn counts(&self) -> Option<(u64, u64)> {
        let port = self.monitor?;
        let body =
            tokio::task::spawn_blocking(move || procfs::http_get(port, "/streaming/serverz"))
                .await
                .ok()??;
        Some((
            procfs::json_u64(&body, "clients")?,
            procfs::json_u64(&body, "subscriptions")?,
        ))
    }

    /// The end of its log.
    pub fn log_tail(&self) -> String {
        self.log
            .as_ref()
            .map(|l| tail(&std::fs::read_to_string(l).unwrap_or_default()))
            .unwrap_or_default()
    }

    /// Stops a started server: SIGTERM, then SIGKILL after `grace`; its
    /// log is removed unless `keep_log`. True if it stopped by itself.
    pub async fn stop(&mut self, grace: Duration, keep_log: bool) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        sigterm(&child);
        let until = Instant::now() + grace;
        let clean = loop {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break true;
            }
            if Instant::now() > until {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if !keep_log {
            if let Some(l) = &self.log {
                let _ = std::fs::remove_file(l);
            }
        }
        clean
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(unix)]
fn sigterm(child: &Child) {
    use rustix::process::{kill_process, Pid, Signal};
    let _ = kill_process(Pid::from_child(child), Signal::TERM);
}

#[cfg(not(unix))]
fn sigterm(_: &Child) {}

/// A program in this program's directory.
pub fn next_to_me(name: &str) -> Result<PathBuf, LoadError> {
    let me = std::env::current_exe()
        .map_err(|e| LoadError::Setup(format!("cannot find this program: {e}")))?;
    let path = me.with_file_name(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(LoadError::Setup(format!(
            "no {name} next to this program ({}); give --server PATH",
            path.display()
        )))
    }
}
