//! The crash-test harness (`stan-crash`) against `stan-server` as a child
//! process, as CI runs it:
//!
//! * the file store must survive 20 SIGKILLs with nothing acknowledged
//!   lost (this fails until `-st FILE` serves a real file store);
//! * the memory store must be reported as losing messages (a SIGKILL loses
//!   everything): the harness can fail;
//! * `--no-kill` on the memory store must pass: the harness invents no
//!   loss.
//!
//! Every run is bounded: the harness starts no round past its
//! `--max-seconds` less the final checks' share, abandons the run (killing
//! its server) 180 s past it, and is killed here a minute after that. The
//! runs take turns, so the 2 cores of a CI machine serve one at a time. Each run's seed is random and printed
//! in its summary, for `stan-crash --seed N` to replay it.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CRASH: &str = env!("CARGO_BIN_EXE_stan-crash");
const SERVER: &str = env!("CARGO_BIN_EXE_stan-server");

/// One harness run at a time.
static TURN: Mutex<()> = Mutex::new(());

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn show(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    /// The number on the summary line `<label>: N`.
    fn count(&self, label: &str) -> Option<u64> {
        self.stdout.lines().find_map(|l| {
            l.strip_prefix(label)?
                .strip_prefix(": ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
    }
}

/// Runs `stan-crash --server <stan-server> --work-dir <temp> <args>`,
/// killed past `bound`; the work directory (kept by a failing run) is
/// removed afterwards, the summary names what it held.
fn crash(args: &[&str], bound: Duration) -> Run {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!(
        "stan-crash-test-{}-{}",
        std::process::id(),
        args.join("").replace(['-', '/'], "")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, err): (PathBuf, PathBuf) = (dir.join("stdout"), dir.join("stderr"));
    let work = dir.join("work");
    let mut child = Command::new(CRASH)
        .args(["--server", SERVER, "--work-dir"])
        .arg(&work)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let until = Instant::now() + bound;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            let so_far = std::fs::read_to_string(&out).unwrap_or_default();
            let _ = std::fs::remove_dir_all(&dir);
            panic!("stan-crash {args:?} still running after {bound:?}; stdout so far:\n{so_far}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let run = Run {
        status,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    run
}

/// CI's crash test: 20 kills of a server on the file store, nothing
/// acknowledged lost, the durable resumed. Until the file store serves,
/// this fails (the server refuses `-st FILE`, or keeps nothing).
#[test]
fn file_store_survives_20_kills() {
    let run = crash(
        &["--store", "FILE", "--kills", "20", "--max-seconds", "240"],
        Duration::from_secs(480),
    );
    assert!(run.status.success(), "{}", run.show());
    assert!(run.stdout.contains("RESULT: PASS"), "{}", run.show());
    assert_eq!(run.count("lost"), Some(0), "{}", run.show());
    let kills = run.count("kills").unwrap_or(0);
    assert!(
        kills >= 10,
        "only {kills} kills in the time budget\n{}",
        run.show()
    );
    assert!(run.count("found").unwrap_or(0) > 0, "{}", run.show());
}

/// The harness can fail: a memory store forgets everything at a SIGKILL,
/// and the harness must say that acknowledged messages were lost.
#[test]
fn memory_store_is_reported_losing_messages() {
    let run = crash(
        &["--store", "MEMORY", "--kills", "3", "--max-seconds", "60"],
        Duration::from_secs(300),
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.show());
    assert!(run.stdout.contains("RESULT: FAIL"), "{}", run.show());
    let lost = run.count("lost").unwrap_or(0);
    assert!(lost > 0, "no loss reported\n{}", run.show());
    assert_eq!(run.count("kills"), Some(3), "{}", run.show());
}

/// The harness invents no loss: the same rounds without killing the
/// server pass on the memory store.
#[test]
fn without_kills_the_memory_store_passes() {
    let run = crash(
        &[
            "--store",
            "MEMORY",
            "--no-kill",
            "--kills",
            "5",
            "--max-seconds",
            "60",
        ],
        Duration::from_secs(300),
    );
    assert!(run.status.success(), "{}", run.show());
    assert!(run.stdout.contains("RESULT: PASS"), "{}", run.show());
    assert_eq!(run.count("lost"), Some(0), "{}", run.show());
    assert!(run.count("found").unwrap_or(0) > 0, "{}", run.show());
}

/// A bad command line exits with code 2 and the usage.
#[test]
fn a_bad_command_line_is_refused() {
    let out = Command::new(CRASH)
        .args(["--store", "SQL"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: stan-crash"));
}
