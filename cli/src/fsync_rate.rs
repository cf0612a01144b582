//! `stan-fsync-rate`: how many synced appends per second this machine's
//! disk takes in a directory: small records (a 128-byte payload behind an
//! 8-byte frame, the size of a store record) appended to a new file, each
//! followed by `File::sync_data` (fdatasync) or, with `--sync all`,
//! `File::sync_all` (fsync). A synchronous publisher waits for one synced
//! append per message, so this rate is its ceiling (the reference for "a
//! synchronous publisher reaches 80% of the fsync rate").
//!
//! `--pause` idles before each append, as a synchronous publisher's round
//! trip leaves the disk idle between its syncs: on some disks (virtual ones
//! in particular) a sync that follows a pause takes longer than one issued
//! back to back, which lowers that publisher's ceiling below the plain
//! rate. The report then gives the syncs' own rate and the rate with the
//! pauses (the ceiling of a publisher whose round trip is the pause).
//!
//! ```
//! use stan_cli::fsync_rate::{measure, FsyncOptions};
//! use std::time::Duration;
//!
//! let dir = std::env::temp_dir();
//! let r = measure(&FsyncOptions {
//!     dir,
//!     max_time: Duration::from_millis(200),
//!     max_syncs: 20,
//!     ..FsyncOptions::default()
//! })
//! .unwrap();
//! assert!(r.syncs >= 1 && r.syncs <= 20);
//! assert!(r.per_second() > 0.0);
//! ```

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::flags::{self, FlagError, Kind, Spec};

/// Every flag `stan-fsync-rate` accepts.
pub const SPECS: &[Spec] = &[
    Spec {
        names: &["dir"],
        kind: Kind::Str,
        value: "path",
        help: "Directory to measure (default: the current directory)",
    },
    Spec {
        names: &["seconds"],
        kind: Kind::Duration,
        value: "duration",
        help: "Longest measurement (default 3s)",
    },
    Spec {
        names: &["count"],
        kind: Kind::Int,
        value: "n",
        help: "Most synced appends (default 100000)",
    },
    Spec {
        names: &["size"],
        kind: Kind::Int,
        value: "bytes",
        help: "Payload bytes per record, framing excluded (default 128)",
    },
    Spec {
        names: &["pause"],
        kind: Kind::Duration,
        value: "duration",
        help: "Idle time before each append (spun, so exact), e.g. a round trip (default 0)",
    },
    Spec {
        names: &["sync"],
        kind: Kind::Str,
        value: "data|all",
        help: "sync_data (fdatasync, default) or sync_all (fsync) after each append",
    },
];

/// Bytes of framing before each payload (length and checksum, 4 each).
pub const FRAME: usize = 8;

/// Which sync follows each append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// `File::sync_data` (fdatasync).
    Data,
    /// `File::sync_all` (fsync).
    All,
}

/// A measurement's settings.
#[derive(Debug, Clone)]
pub struct FsyncOptions {
    /// Directory of the scratch file.
    pub dir: PathBuf,
    /// Longest measurement.
    pub max_time: Duration,
    /// Most synced appends.
    pub max_syncs: u64,
    /// Payload bytes per record.
    pub size: usize,
    /// The sync after each append.
    pub sync: SyncKind,
    /// Idle time before each append.
    pub pause: Duration,
}

impl Default for FsyncOptions {
    fn default() -> Self {
        FsyncOptions {
            dir: PathBuf::from("."),
            max_time: Duration::from_secs(3),
            max_syncs: 100_000,
            size: 128,
            sync: SyncKind::Data,
            pause: Duration::ZERO,
        }
    }
}

/// Why the command line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FsyncOptsError {
    /// A flag-level error (`-h` included).
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// A value out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The usage text.
pub fn usage() -> String {
    flags::usage("stan-fsync-rate", SPECS)
}

/// Parses `stan-fsync-rate`'s arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<FsyncOptions, FsyncOptsError> {
    let v = flags::parse(SPECS, args)?;
    let d = FsyncOptions::default();
    let positive = |name: &str, default: u64, max: u64| -> Result<u64, FsyncOptsError> {
        match v.int(name) {
            None => Ok(default),
            Some(n) if n >= 1 && n as u64 <= max => Ok(n as u64),
            Some(n) => Err(FsyncOptsError::Invalid(format!(
                "--{name} {n}: expected 1..={max}"
            ))),
        }
    };
    let sync = match v.get("sync") {
        None | Some("data") => SyncKind::Data,
        Some("all") => SyncKind::All,
        Some(other) => {
            return Err(FsyncOptsError::Invalid(format!(
                "--sync {other}: expected data or all"
            )))
        }
    };
    let max_time = v.duration("seconds").unwrap_or(d.max_time);
    if max_time.is_zero() || max_time > Duration::from_secs(3600) {
        return Err(FsyncOptsError::Invalid(
            "--seconds: expected more than 0 and at most 1h".into(),
        ));
    }
    let pause = v.duration("pause").unwrap_or(d.pause);
    if pause > Duration::from_secs(1) {
        return Err(FsyncOptsError::Invalid(
            "--pause: expected at most 1s".into(),
        ));
    }
    Ok(FsyncOptions {
        pause,
        dir: v.get("dir").map_or(d.dir, PathBuf::from),
        max_time,
        max_syncs: positive("count", d.max_syncs, 100_000_000)?,
        size: positive("size", d.size as u64, 1 << 20)? as usize,
        sync,
    })
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct FsyncReport {
    /// The directory.
    pub dir: PathBuf,
    /// The sync used.
    pub sync: SyncKind,
    /// Bytes per record, framing included.
    pub record: usize,
    /// Synced appends made.
    pub syncs: u64,
    /// Time they took, pauses included.
    pub elapsed: Duration,
    /// Idle time before each append.
    pub pause: Duration,
    /// Time in the appends and syncs alone.
    pub synced: Duration,
    /// Latency of one append and sync: median.
    pub p50: Duration,
    /// ... 99th percentile.
    pub p99: Duration,
    /// ... slowest.
    pub max: Duration,
}

impl FsyncReport {
    /// Synced appends per second (the pauses included, if any: the
    /// ceiling of a synchronous publisher whose round trip is the pause).
    pub fn per_second(&self) -> f64 {
        self.syncs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Synced appends per second of the time spent in them (the pauses
    /// left out).
    pub fn sync_rate(&self) -> f64 {
        self.syncs as f64 / self.synced.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for FsyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.sync {
            SyncKind::Data => "sync_data (fdatasync)",
            SyncKind::All => "sync_all (fsync)",
        };
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        writeln!(
            f,
            "dir {}: {} appends of {} bytes, each followed by {name}, in {:.2} s",
            self.dir.display(),
            self.syncs,
            self.record,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "latency: p50 {:.0} us, p99 {:.0} us, max {:.0} us",
            us(self.p50),
            us(self.p99),
            us(self.max)
        )?;
        if !self.pause.is_zero() {
            writeln!(
                f,
                "pause before each append: {:.0} us; syncs/s without the pauses: {:.0}",
                us(self.pause),
                self.sync_rate()
            )?;
        }
        writeln!(f, "syncs/s: {:.0}", self.per_second())?;
        write!(
            f,
            "80% of it (a synchronous publisher's target): {:.0} msgs/s",
            self.per_second() * 0.8
        )
    }
}

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
#[error("{what} {path}: {source}")]
pub struct FsyncError {
    what: &'static str,
    path: PathBuf,
    source: io::Error,
}

/// Appends and syncs records in a new scratch file of `opts.dir` until
/// `max_syncs` or `max_time`, then removes the file.
pub fn measure(opts: &FsyncOptions) -> Result<FsyncReport, FsyncError> {
    let path = opts.dir.join(format!(
        ".stan-fsync-rate.{}.{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    let err = |what: &'static str| {
        let path = path.clone();
        move |source| FsyncError { what, path, source }
    };
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(err("cannot create"))?;
    let result = appends(&mut file, opts).map_err(err("cannot append to"));
    drop(file);
    let removed = std::fs::remove_file(&path).map_err(err("cannot remove"));
    let (syncs, elapsed, mut lat) = result?;
    let synced = lat.iter().sum();
    removed?;
    lat.sort_unstable();
    let pct = |p: usize| lat.get((lat.len() * p / 100).min(lat.len().saturating_sub(1)));
    Ok(FsyncReport {
        dir: opts.dir.clone(),
        sync: opts.sync,
        record: FRAME + opts.size,
        syncs,
        elapsed,
        pause: opts.pause,
        synced,
        p50: pct(50).copied().unwrap_or_default(),
        p99: pct(99).copied().unwrap_or_default(),
        max: lat.last().copied().unwrap_or_default(),
    })
}

/// The loop: frame, payload, sync; returns the count, the time and each
/// append's latency.
fn appends(file: &mut File, opts: &FsyncOptions) -> io::Result<(u64, Duration, Vec<Duration>)> {
    let mut record = Vec::with_capacity(FRAME + opts.size);
    let mut lat = Vec::new();
    let start = Instant::now();
    let mut n = 0u64;
    while n < opts.max_syncs && start.elapsed() < opts.max_time {
        record.clear();
        record.extend_from_slice(&(opts.size as u32).to_le_bytes());
        record.extend_from_slice(&(n as u32).to_le_bytes());
        record.extend((0..opts.size).map(|i| (n as usize + i) as u8));
        if !opts.pause.is_zero() {
            let idle = Instant::now();
            while idle.elapsed() < opts.pause {
                std::hint::spin_loop();
            }
        }
        let t = Instant::now();
        file.write_all(&record)?;
        match opts.sync {
            SyncKind::Data => file.sync_data()?,
            SyncKind::All => file.sync_all()?,
        }
        lat.push(t.elapsed());
        n += 1;
    }
    Ok((n, start.elapsed(), lat))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_opts::args;

    #[test]
    fn flags() {
        let o = parse(args(&[
            "--dir",
            "/d",
            "--seconds",
            "2s",
            "--count",
            "50",
            "--sync",
            "all",
            "--pause",
            "60us",
        ]))
        .unwrap();
        assert_eq!(o.pause, Duration::from_micros(60));
        assert_eq!(o.dir, PathBuf::from("/d"));
        assert_eq!((o.max_time, o.max_syncs), (Duration::from_secs(2), 50));
        assert_eq!((o.size, o.sync), (128, SyncKind::All));
        for bad in [
            &["--count", "0"][..],
            &["--sync", "none"],
            &["--seconds", "0"],
            &["--size", "-1"],
            &["--pause", "2s"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn measures_and_cleans_up() {
        let dir = std::env::temp_dir().join(format!("stan-fsync-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = measure(&FsyncOptions {
            dir: dir.clone(),
            max_syncs: 10,
            ..FsyncOptions::default()
        })
        .unwrap();
        assert_eq!((r.syncs, r.record), (10, 136));
        assert!(r.p50 <= r.p99 && r.p99 <= r.max);
        assert!(r.to_string().contains("syncs/s: "), "{r}");
        assert!(!r.to_string().contains("pause"), "{r}");
        // With a pause, the time includes it and the syncs' own rate is
        // told apart.
        let pause = Duration::from_millis(2);
        let p = measure(&FsyncOptions {
            dir: dir.clone(),
            max_syncs: 5,
            pause,
            ..FsyncOptions::default()
        })
        .unwrap();
        assert!(p.elapsed >= pause * 5 && p.synced <= p.elapsed - pause * 5);
        assert!(p.per_second() <= 500.0 && p.sync_rate() > p.per_second());
        assert!(
            p.to_string().contains("pause before each append: 2000 us"),
            "{p}"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "file removed");
        std::fs::remove_dir(&dir).unwrap();
        let missing = dir.join("nope");
        assert!(measure(&FsyncOptions {
            dir: missing,
            ..FsyncOptions::default()
        })
        .is_err());
    }
}
