//! The server's logger, in nats-server's formats and with its destinations
//! (`logger/log.go`, `logger/syslog.go`, and the streaming server's
//! `ConfigureLogger`):
//!
//! * stderr (the default) and a file (`-l FILE`): lines
//!   `[pid] 2006/01/02 15:04:05.000000 [INF] message`, or
//!   `[pid] [INF] message` with `-T=false` (no timestamp); the label is
//!   colored only on stderr, and only when stderr is a terminal;
//! * the local syslog (`-s`) and a remote one (`-r udp://host:port`,
//!   `tcp://host:port`, `unix:///path`): the bare message, in Go's
//!   `log/syslog` layout: `<PRI>Jan _2 15:04:05 tag[pid]: msg` locally (facility
//!   daemon), `<PRI>2006-01-02T15:04:05Z host tag[pid]: msg` remotely;
//! * precedence, as Go's: file, then remote syslog, then local syslog, then
//!   stderr ([`Destination::from_flags`]).
//!
//! The file is opened append/create (mode 0640) and [`reopen`] opens it
//! again by its path, so a `logrotate` rename followed by `SIGUSR1` moves
//! the lines to the new file. A destination that fails to open leaves the
//! logger on stderr ([`init`]) or on its previous destination
//! ([`reconfigure`]); a write that fails goes to stderr instead, with one
//! warning per failing stretch. Nothing here panics or exits.
//!
//! Timestamps are UTC (Go's `log` writes local time; this build has no
//! time-zone database).

mod clock;
mod syslog;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use clock::Civil;
use syslog::{Syslog, Target};

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `[FTL]`
    Fatal = 0,
    /// `[ERR]`
    Error = 1,
    /// `[WRN]`
    Warn = 2,
    /// `[INF]`
    Info = 3,
    /// `[DBG]`
    Debug = 4,
    /// `[TRC]`
    Trace = 5,
}

impl Level {
    /// The plain label and the space after it (`[INF] `).
    fn label(self) -> &'static str {
        match self {
            Level::Fatal => "[FTL] ",
            Level::Error => "[ERR] ",
            Level::Warn => "[WRN] ",
            Level::Info => "[INF] ",
            Level::Debug => "[DBG] ",
            Level::Trace => "[TRC] ",
        }
    }

    /// nats-server's colored label (`setColoredLabelFormats`).
    fn colored_label(self) -> &'static str {
        match self {
            Level::Fatal => "[\x1b[31mFTL\x1b[0m] ",
            Level::Error => "[\x1b[31mERR\x1b[0m] ",
            Level::Warn => "[\x1b[0;93mWRN\x1b[0m] ",
            Level::Info => "[\x1b[32mINF\x1b[0m] ",
            Level::Debug => "[\x1b[36mDBG\x1b[0m] ",
            Level::Trace => "[\x1b[33mTRC\x1b[0m] ",
        }
    }
}

/// Where the lines go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Destination {
    /// Standard error (the default).
    #[default]
    Stderr,
    /// A file (`-l`, `--log`, `log_file`), appended to.
    File(PathBuf),
    /// The local syslog daemon (`-s`, `--syslog`, `syslog: true`).
    Syslog,
    /// A remote syslog (`-r`, `--remote_syslog`, `remote_syslog`):
    /// `udp://host:port`, `tcp://host:port` or `unix:///path`.
    RemoteSyslog(String),
}

impl Destination {
    /// The destination the flags choose, with nats-server's precedence: a
    /// log file wins over a remote syslog, which wins over the local
    /// syslog; stderr otherwise. Empty values count as absent.
    pub fn from_flags(
        log_file: Option<&Path>,
        remote_syslog: Option<&str>,
        syslog: bool,
    ) -> Destination {
        if let Some(f) = log_file.filter(|f| !f.as_os_str().is_empty()) {
            Destination::File(f.to_path_buf())
        } else if let Some(r) = remote_syslog.filter(|r| !r.is_empty()) {
            Destination::RemoteSyslog(r.to_owned())
        } else if syslog {
            Destination::Syslog
        } else {
            Destination::Stderr
        }
    }

    fn log_file(&self) -> String {
        match self {
            Destination::File(p) => p.display().to_string(),
            _ => String::new(),
        }
    }

    fn remote_syslog(&self) -> &str {
        match self {
            Destination::RemoteSyslog(r) => r,
            _ => "",
        }
    }

    fn describe(&self) -> String {
        match self {
            Destination::Stderr => "stderr".into(),
            Destination::File(p) => format!("log file {}", p.display()),
            Destination::Syslog => "syslog".into(),
            Destination::RemoteSyslog(r) => format!("remote syslog {r}"),
        }
    }
}

/// Logging settings: what `-l`, `-T`, `-s`, `-r`, `-D`/`-V`/`-DV` and
/// `-SD`/`-SV`/`-SDV` (or their config-file keys) ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Where the lines go.
    pub destination: Destination,
    /// Timestamps on file and stderr lines (`-T`, `logtime`; Go's default
    /// is true). Syslog lines always carry the syslog header's stamp.
    pub logtime: bool,
    /// Print `[DBG]` lines (`-D`, `-DV`, `-SD`, `-SDV`: the NATS and the
    /// STAN switches together; each part still decides what it emits).
    pub debug: bool,
    /// Print `[TRC]` lines (`-V`, `-DV`, `-SV`, `-SDV`). Independent of
    /// `debug`, as in nats-server: `-V` alone prints traces, not debug.
    pub trace: bool,
    /// The syslog tag; `None` is nats-server's `GetSysLoggerTag`, the last
    /// component of `argv[0]`.
    pub syslog_tag: Option<String>,
    /// The local syslog socket; `None` is Go's search list (`/dev/log`,
    /// `/var/run/syslog`, `/var/run/log`). For tests and odd systems.
    pub syslog_socket: Option<PathBuf>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            destination: Destination::Stderr,
            logtime: true,
            debug: false,
            trace: false,
            syslog_tag: None,
            syslog_socket: None,
        }
    }
}

impl LogConfig {
    /// What changed from `self` to `new`, as nats-server's reload logs it
    /// (`Reloaded: debug = true`, `Reloaded: log_file = /var/log/x.log`,
    /// ...), in nats-server's option order; empty when nothing did.
    pub fn reload_changes(&self, new: &LogConfig) -> Vec<String> {
        let mut out = Vec::new();
        if self.debug != new.debug {
            out.push(format!("Reloaded: debug = {}", new.debug));
        }
        if self.trace != new.trace {
            out.push(format!("Reloaded: trace = {}", new.trace));
        }
        if self.logtime != new.logtime {
            out.push(format!("Reloaded: logtime = {}", new.logtime));
        }
        let (old_file, new_file) = (self.destination.log_file(), new.destination.log_file());
        if old_file != new_file {
            out.push(format!("Reloaded: log_file = {new_file}"));
        }
        let (old_sys, new_sys) = (
            self.destination == Destination::Syslog,
            new.destination == Destination::Syslog,
        );
        if old_sys != new_sys {
            out.push(format!("Reloaded: syslog = {new_sys}"));
        }
        let (old_remote, new_remote) = (
            self.destination.remote_syslog(),
            new.destination.remote_syslog(),
        );
        if old_remote != new_remote {
            out.push(format!("Reloaded: remote_syslog = {new_remote}"));
        }
        out
    }
}

/// Why a destination could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log file could not be opened (Go: `error opening file: ...`).
    #[error("error opening file: open {}: {source}", path.display())]
    OpenFile {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// No syslog daemon answered (Go: `error connecting to syslog: "..."`).
    #[error("error connecting to syslog: {:?}", .0.to_string())]
    Syslog(std::io::Error),
    /// The remote syslog URL's scheme is not `udp`, `tcp` or `unix`.
    #[error("error invalid network type: {0:?}")]
    InvalidNetwork(String),
    /// The remote syslog URL lacks its host or path.
    #[error("invalid remote syslog URL {url:?}: {reason}")]
    RemoteSyslogUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// [`reopen`] on a logger that does not write to a file (Go logs
    /// `File log re-open ignored, not a file logger`).
    #[error("File log re-open ignored, not a file logger")]
    NotAFileLogger,
}

/// Where a [`Logger`] writes now.
#[derive(Debug)]
enum Sink {
    Stderr,
    File { file: File, path: PathBuf },
    Syslog(Syslog),
}

impl Sink {
    fn open(config: &LogConfig) -> Result<Sink, LogError> {
        let tag = || {
            config
                .syslog_tag
                .clone()
                .unwrap_or_else(syslog::default_tag)
        };
        match &config.destination {
            Destination::Stderr => Ok(Sink::Stderr),
            Destination::File(path) => Ok(Sink::File {
                file: open_log_file(path)?,
                path: path.clone(),
            }),
            Destination::Syslog => {
                let paths = match &config.syslog_socket {
                    Some(p) => vec![p.clone()],
                    None => syslog::LOCAL_PATHS.iter().map(PathBuf::from).collect(),
                };
                Syslog::connect(Target::Local(paths), tag())
                    .map(Sink::Syslog)
                    .map_err(LogError::Syslog)
            }
            Destination::RemoteSyslog(url) => Syslog::connect(Target::remote(url)?, tag())
                .map(Sink::Syslog)
                .map_err(LogError::Syslog),
        }
    }
}

/// Opens a log file as nats-server does: write-only, append, create, 0640.
fn open_log_file(path: &Path) -> Result<File, LogError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(|source| LogError::OpenFile {
            path: path.to_path_buf(),
            source,
        })
}

#[derive(Debug)]
struct State {
    sink: Sink,
    /// The settings in force (the destination is the one actually open).
    config: Option<LogConfig>,
    /// The sink failed its last write; lines go to stderr meanwhile.
    failing: bool,
}

/// A logger: settings, and one destination behind a lock. The process has
/// one (the free functions of this module); tests make their own.
#[derive(Debug)]
pub struct Logger {
    debug: AtomicBool,
    trace: AtomicBool,
    logtime: AtomicBool,
    colors: AtomicBool,
    state: Mutex<State>,
}

impl Default for Logger {
    fn default() -> Self {
        Logger::stderr()
    }
}

impl Logger {
    /// A logger to stderr with timestamps, up to `[INF]`, without colors.
    pub const fn stderr() -> Logger {
        Logger {
            debug: AtomicBool::new(false),
            trace: AtomicBool::new(false),
            logtime: AtomicBool::new(true),
            colors: AtomicBool::new(false),
            state: Mutex::new(State {
                sink: Sink::Stderr,
                config: None,
                failing: false,
            }),
        }
    }

    /// A logger with these settings, or why its destination cannot be used.
    pub fn new(config: &LogConfig) -> Result<Logger, LogError> {
        let logger = Logger::stderr();
        logger.configure(config)?;
        Ok(logger)
    }

    /// Applies `config`. The levels and `logtime` always take effect; the
    /// destination is opened anew (even if unchanged) and, when it cannot
    /// be, the current one stays and the error is returned.
    pub fn configure(&self, config: &LogConfig) -> Result<(), LogError> {
        self.debug.store(config.debug, Ordering::Relaxed);
        self.trace.store(config.trace, Ordering::Relaxed);
        self.logtime.store(config.logtime, Ordering::Relaxed);
        let opened = Sink::open(config);
        let mut state = self.lock();
        let result = match opened {
            Ok(sink) => {
                state.sink = sink;
                state.failing = false;
                state.config = Some(config.clone());
                Ok(())
            }
            Err(e) => {
                let mut kept = config.clone();
                kept.destination = state
                    .config
                    .as_ref()
                    .map_or(Destination::Stderr, |c| c.destination.clone());
                state.config = Some(kept);
                Err(e)
            }
        };
        let colors = matches!(state.sink, Sink::Stderr) && std::io::stderr().is_terminal();
        self.colors.store(colors, Ordering::Relaxed);
        result
    }

    /// Opens the log file again by its path (after a rotation's rename),
    /// closing the previous handle. On failure the old handle stays.
    /// [`LogError::NotAFileLogger`] when the destination is not a file.
    pub fn reopen(&self) -> Result<(), LogError> {
        let mut state = self.lock();
        let Sink::File { path, .. } = &state.sink else {
            return Err(LogError::NotAFileLogger);
        };
        let file = open_log_file(path)?;
        let path = path.clone();
        state.sink = Sink::File { file, path };
        state.failing = false;
        Ok(())
    }

    /// The settings in force (the default ones before any
    /// [`configure`](Self::configure)); the destination is the one open.
    pub fn config(&self) -> LogConfig {
        let state = self.lock();
        state.config.clone().unwrap_or_else(|| LogConfig {
            debug: self.debug.load(Ordering::Relaxed),
            trace: self.trace.load(Ordering::Relaxed),
            logtime: self.logtime.load(Ordering::Relaxed),
            ..LogConfig::default()
        })
    }

    /// Prints up to `level`: `Debug` adds `[DBG]`, `Trace` adds `[DBG]`
    /// and `[TRC]`, anything else prints neither.
    pub fn set_max_level(&self, level: Level) {
        self.debug.store(level >= Level::Debug, Ordering::Relaxed);
        self.trace.store(level >= Level::Trace, Ordering::Relaxed);
    }

    /// True when lines at `level` are printed.
    pub fn enabled(&self, level: Level) -> bool {
        match level {
            Level::Debug => self.debug.load(Ordering::Relaxed),
            Level::Trace => self.trace.load(Ordering::Relaxed),
            _ => true,
        }
    }

    /// Prints one line at `level` (if enabled).
    pub fn log(&self, level: Level, msg: std::fmt::Arguments<'_>) {
        if !self.enabled(level) {
            return;
        }
        let mut line = String::with_capacity(128);
        let now = self
            .logtime
            .load(Ordering::Relaxed)
            .then(|| Civil::at(SystemTime::now()));
        let colors = self.colors.load(Ordering::Relaxed);
        let start = write_prefix(&mut line, pid(), now.as_ref(), colors, level);
        let _ = line.write_fmt(msg);
        line.push('\n');
        self.emit(level, &line, start);
    }

    /// Writes a formatted line; its message starts at `msg_start`.
    fn emit(&self, level: Level, line: &str, msg_start: usize) {
        let mut state = self.lock();
        let state = &mut *state;
        let written = match &mut state.sink {
            Sink::Stderr => {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
                Ok(())
            }
            Sink::File { file, .. } => file.write_all(line.as_bytes()),
            Sink::Syslog(s) => s.send(level, &line[msg_start..line.len() - 1]),
        };
        match written {
            Ok(()) => state.failing = false,
            Err(e) => {
                let mut stderr = std::io::stderr().lock();
                if !state.failing {
                    state.failing = true;
                    let dest = state
                        .config
                        .as_ref()
                        .map_or_else(|| "the log".to_owned(), |c| c.destination.describe());
                    let mut warn = String::new();
                    let now = Civil::at(SystemTime::now());
                    write_prefix(&mut warn, pid(), Some(&now), false, Level::Warn);
                    let _ = writeln!(
                        warn,
                        "cannot write to {dest}: {e}; writing to stderr until it recovers"
                    );
                    let _ = stderr.write_all(warn.as_bytes());
                }
                let _ = stderr.write_all(line.as_bytes());
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes `[pid] `, the timestamp (if any) and the label; returns where the
/// message starts.
fn write_prefix(
    out: &mut String,
    pid: u32,
    now: Option<&Civil>,
    colors: bool,
    level: Level,
) -> usize {
    let _ = write!(out, "[{pid}] ");
    if let Some(now) = now {
        now.write_log_stamp(out);
    }
    out.push_str(if colors {
        level.colored_label()
    } else {
        level.label()
    });
    out.len()
}

/// The process id, read once.
fn pid() -> u32 {
    static PID: AtomicU32 = AtomicU32::new(0);
    match PID.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// The process's logger.
static LOGGER: Logger = Logger::stderr();

/// Sets up the process's logger from the flags. When the destination
/// cannot be used, the logger stays on stderr, warns there once, and the
/// error is returned (nats-server exits at this point; the caller chooses).
pub fn init(config: LogConfig) -> Result<(), LogError> {
    LOGGER.configure(&config).inspect_err(|e| {
        let stderr = LogConfig {
            destination: Destination::Stderr,
            ..config.clone()
        };
        let _ = LOGGER.configure(&stderr);
        LOGGER.log(Level::Warn, format_args!("{e}; logging to stderr"));
    })
}

/// Applies new settings on a running server (`SIGHUP`): the levels and
/// `logtime` at once, the destination if it opens (the current one stays
/// otherwise, and the error is returned for the caller to log). Use
/// [`LogConfig::reload_changes`] against [`config`] to log what changed.
pub fn reconfigure(config: LogConfig) -> Result<(), LogError> {
    LOGGER.configure(&config)
}

/// Reopens the log file by its path (`SIGUSR1`, after `logrotate` renamed
/// it). [`LogError::NotAFileLogger`] when not logging to a file.
pub fn reopen() -> Result<(), LogError> {
    LOGGER.reopen()
}

/// The process logger's settings in force.
pub fn config() -> LogConfig {
    LOGGER.config()
}

/// Sets the most verbose level printed (see [`Logger::set_max_level`]).
pub fn set_max_level(level: Level) {
    LOGGER.set_max_level(level);
}

/// True when lines at `level` are printed.
pub fn enabled(level: Level) -> bool {
    LOGGER.enabled(level)
}

/// Prints one line at `level`.
pub fn log(level: Level, msg: std::fmt::Arguments<'_>) {
    LOGGER.log(level, msg);
}

/// Logs at a level: `log!(Info, "listening on {}", addr)`.
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)*) => {
        $crate::log::log($crate::log::Level::$level, format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, UdpSocket};
    use std::os::unix::net::UnixDatagram;
    use std::time::{Duration, UNIX_EPOCH};

    const LEVELS: [Level; 6] = [
        Level::Fatal,
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
        Level::Trace,
    ];

    fn line(now: Option<&Civil>, colors: bool, level: Level, msg: &str) -> String {
        let mut s = String::new();
        let start = write_prefix(&mut s, 4242, now, colors, level);
        s.push_str(msg);
        assert_eq!(&s[start..], msg);
        s
    }

    #[test]
    fn line_format_with_and_without_logtime() {
        let now = Civil::at(UNIX_EPOCH + Duration::from_micros(1_709_622_489_000_123));
        for (level, tag) in LEVELS
            .into_iter()
            .zip(["FTL", "ERR", "WRN", "INF", "DBG", "TRC"])
        {
            assert_eq!(
                line(Some(&now), false, level, "STREAM: hi"),
                format!("[4242] 2024/03/05 07:08:09.000123 [{tag}] STREAM: hi")
            );
            assert_eq!(
                line(None, false, level, "STREAM: hi"),
                format!("[4242] [{tag}] STREAM: hi")
            );
        }
    }

    #[test]
    fn colored_labels_as_nats_server() {
        let colored: Vec<String> = LEVELS
            .into_iter()
            .map(|l| line(None, true, l, "m"))
            .collect();
        assert_eq!(
            colored,
            [
                "[4242] [\x1b[31mFTL\x1b[0m] m",
                "[4242] [\x1b[31mERR\x1b[0m] m",
                "[4242] [\x1b[0;93mWRN\x1b[0m] m",
                "[4242] [\x1b[32mINF\x1b[0m] m",
                "[4242] [\x1b[36mDBG\x1b[0m] m",
                "[4242] [\x1b[33mTRC\x1b[0m] m",
            ]
        );
    }

    #[test]
    fn destination_precedence_as_go() {
        let f = Path::new("/tmp/x.log");
        assert_eq!(
            Destination::from_flags(Some(f), Some("udp://h:1"), true),
            Destination::File(f.into())
        );
        assert_eq!(
            Destination::from_flags(None, Some("udp://h:1"), true),
            Destination::RemoteSyslog("udp://h:1".into())
        );
        assert_eq!(
            Destination::from_flags(Some(Path::new("")), Some(""), true),
            Destination::Syslog
        );
        assert_eq!(
            Destination::from_flags(None, None, false),
            Destination::Stderr
        );
    }

    #[test]
    fn levels_debug_and_trace_are_independent() {
        let l = Logger::stderr();
        assert!(l.enabled(Level::Info) && !l.enabled(Level::Debug) && !l.enabled(Level::Trace));
        let cfg = LogConfig {
            trace: true,
            ..LogConfig::default()
        };
        l.configure(&cfg).unwrap();
        assert!(!l.enabled(Level::Debug) && l.enabled(Level::Trace));
        l.set_max_level(Level::Debug);
        assert!(l.enabled(Level::Debug) && !l.enabled(Level::Trace));
        l.set_max_level(Level::Trace);
        assert!(l.enabled(Level::Debug) && l.enabled(Level::Trace));
        l.set_max_level(Level::Error);
        assert!(l.enabled(Level::Fatal) && l.enabled(Level::Warn) && !l.enabled(Level::Debug));
    }

    #[test]
    fn reload_changes_as_nats_server_logs_them() {
        let old = LogConfig::default();
        assert!(old.reload_changes(&old).is_empty());
        let new = LogConfig {
            destination: Destination::File("/var/log/s.log".into()),
            logtime: false,
            debug: true,
            ..LogConfig::default()
        };
        assert_eq!(
            old.reload_changes(&new),
            [
                "Reloaded: debug = true",
                "Reloaded: logtime = false",
                "Reloaded: log_file = /var/log/s.log",
            ]
        );
        let remote = LogConfig {
            destination: Destination::RemoteSyslog("udp://h:514".into()),
            ..LogConfig::default()
        };
        assert_eq!(
            new.reload_changes(&remote),
            [
                "Reloaded: debug = false",
                "Reloaded: logtime = true",
                "Reloaded: log_file = ",
                "Reloaded: remote_syslog = udp://h:514",
            ]
        );
        let local = LogConfig {
            destination: Destination::Syslog,
            ..LogConfig::default()
        };
        assert_eq!(
            remote.reload_changes(&local),
            ["Reloaded: syslog = true", "Reloaded: remote_syslog = "]
        );
    }

    #[test]
    fn file_destination_appends_and_reopens_after_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stan.log");
        std::fs::write(&path, "old line\n").unwrap();
        let l = Logger::new(&LogConfig {
            destination: Destination::File(path.clone()),
            ..LogConfig::default()
        })
        .unwrap();
        l.log(Level::Info, format_args!("first {}", 1));
        l.log(Level::Debug, format_args!("hidden"));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], "old line");
        let prefix = format!("[{}] ", std::process::id());
        assert!(lines[1].starts_with(&prefix), "{text}");
        assert!(lines[1].ends_with(" [INF] first 1"), "{text}");
        // Timestamp: `YYYY/MM/DD hh:mm:ss.uuuuuu `, 27 characters.
        assert_eq!(lines[1].len(), prefix.len() + 27 + "[INF] first 1".len());

        let rotated = dir.path().join("stan.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        l.log(Level::Info, format_args!("still old"));
        l.reopen().unwrap();
        l.log(Level::Error, format_args!("in new"));
        assert!(std::fs::read_to_string(&rotated)
            .unwrap()
            .contains("[INF] still old"));
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(new.ends_with("[ERR] in new\n"), "{new}");
        assert_eq!(new.lines().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077 & !0o040, 0, "mode {mode:o}");
        }
    }

    #[test]
    fn logtime_off_in_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        let l = Logger::new(&LogConfig {
            destination: Destination::File(path.clone()),
            logtime: false,
            ..LogConfig::default()
        })
        .unwrap();
        l.log(Level::Warn, format_args!("careful"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("[{}] [WRN] careful\n", std::process::id())
        );
    }

    #[test]
    fn failing_destination_keeps_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.log");
        let good_cfg = LogConfig {
            destination: Destination::File(good.clone()),
            ..LogConfig::default()
        };
        let l = Logger::new(&good_cfg).unwrap();
        let bad = LogConfig {
            destination: Destination::File(dir.path().join("missing/dir/x.log")),
            debug: true,
            ..LogConfig::default()
        };
        let e = l.configure(&bad).unwrap_err();
        assert!(
            e.to_string().starts_with("error opening file: open ")
                && e.to_string().contains("missing/dir/x.log"),
            "{e}"
        );
        // The level applied; the destination did not.
        assert!(l.enabled(Level::Debug));
        assert_eq!(l.config().destination, good_cfg.destination);
        l.log(Level::Debug, format_args!("kept"));
        assert!(std::fs::read_to_string(&good)
            .unwrap()
            .contains("[DBG] kept"));
        assert!(Logger::new(&bad).is_err());
    }

    #[test]
    fn reopen_needs_a_file() {
        let l = Logger::stderr();
        assert!(matches!(l.reopen(), Err(LogError::NotAFileLogger)));
        assert_eq!(
            LogError::NotAFileLogger.to_string(),
            "File log re-open ignored, not a file logger"
        );
    }

    #[test]
    fn local_syslog_writes_datagrams() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("log.sock");
        let daemon = UnixDatagram::bind(&sock).unwrap();
        daemon
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let l = Logger::new(&LogConfig {
            destination: Destination::Syslog,
            debug: true,
            syslog_tag: Some("stan-server".into()),
            syslog_socket: Some(sock.clone()),
            ..LogConfig::default()
        })
        .unwrap();
        let mut buf = [0u8; 1024];
        let mut recv = || {
            let n = daemon.recv(&mut buf).unwrap();
            String::from_utf8(buf[..n].to_vec()).unwrap()
        };
        l.log(Level::Info, format_args!("STREAM: ready"));
        let msg = recv();
        // <29>Jan _2 15:04:05 stan-server[pid]: STREAM: ready\n
        assert!(msg.starts_with("<29>"), "{msg:?}");
        let suffix = format!(" stan-server[{}]: STREAM: ready\n", std::process::id());
        assert!(msg.ends_with(&suffix), "{msg:?}");
        assert_eq!(msg.len(), 4 + 15 + suffix.len(), "{msg:?}");
        l.log(Level::Debug, format_args!("dbg"));
        assert!(recv().starts_with("<31>"));
        l.log(Level::Fatal, format_args!("ftl"));
        assert!(recv().starts_with("<26>"));
        l.log(Level::Trace, format_args!("not enabled"));
        l.log(Level::Warn, format_args!("w"));
        assert!(recv().starts_with("<28>"));
        assert!(l.reopen().is_err());
    }

    #[test]
    fn local_syslog_missing_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Logger::new(&LogConfig {
            destination: Destination::Syslog,
            syslog_socket: Some(dir.path().join("nothing")),
            ..LogConfig::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"error connecting to syslog: "Unix syslog delivery error""#
        );
    }

    #[test]
    fn syslog_that_goes_away_falls_back_to_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("log.sock");
        let daemon = UnixDatagram::bind(&sock).unwrap();
        let l = Logger::new(&LogConfig {
            destination: Destination::Syslog,
            syslog_socket: Some(sock.clone()),
            ..LogConfig::default()
        })
        .unwrap();
        drop(daemon);
        std::fs::remove_file(&sock).unwrap();
        l.log(
            Level::Info,
            format_args!("to stderr (expected in test output)"),
        );
        assert!(l.lock().failing);
        // The daemon comes back: the next line reconnects.
        let daemon = UnixDatagram::bind(&sock).unwrap();
        daemon
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        l.log(Level::Info, format_args!("back"));
        assert!(!l.lock().failing);
        let mut buf = [0u8; 256];
        let n = daemon.recv(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("]: back\n"));
    }

    #[test]
    fn remote_syslog_over_udp() {
        let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
        collector
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let url = format!("udp://{}", collector.local_addr().unwrap());
        let l = Logger::new(&LogConfig {
            destination: Destination::RemoteSyslog(url),
            syslog_tag: Some("stan-server".into()),
            ..LogConfig::default()
        })
        .unwrap();
        l.log(Level::Error, format_args!("STREAM: oops"));
        let mut buf = [0u8; 1024];
        let n = collector.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        // <3>2006-01-02T15:04:05Z host stan-server[pid]: STREAM: oops\n
        assert!(msg.starts_with("<3>"), "{msg:?}");
        let stamp = &msg[3..23];
        assert_eq!(stamp.len(), 20);
        assert_eq!(
            (&stamp[4..5], &stamp[10..11], &stamp[19..20]),
            ("-", "T", "Z"),
            "{msg:?}"
        );
        let rest = &msg[24..];
        let (host, rest) = rest.split_once(' ').unwrap();
        assert!(!host.is_empty());
        assert_eq!(
            rest,
            format!("stan-server[{}]: STREAM: oops\n", std::process::id())
        );
    }

    #[test]
    fn remote_syslog_over_tcp() {
        let collector = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("tcp://{}", collector.local_addr().unwrap());
        let l = Logger::new(&LogConfig {
            destination: Destination::RemoteSyslog(url),
            syslog_tag: Some("t".into()),
            ..LogConfig::default()
        })
        .unwrap();
        l.log(Level::Info, format_args!("one"));
        l.log(Level::Warn, format_args!("two"));
        let (conn, _) = collector.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(conn));
        let one = lines.next().unwrap().unwrap();
        let two = lines.next().unwrap().unwrap();
        assert!(one.starts_with("<5>") && one.ends_with("]: one"), "{one}");
        assert!(two.starts_with("<4>") && two.ends_with("]: two"), "{two}");
    }

    #[test]
    fn remote_syslog_bad_urls() {
        let e = Logger::new(&LogConfig {
            destination: Destination::RemoteSyslog("syslog://h:514".into()),
            ..LogConfig::default()
        })
        .unwrap_err();
        assert_eq!(e.to_string(), r#"error invalid network type: "syslog""#);
    }
}
