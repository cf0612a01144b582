//! The directory lock against another process holding the POSIX record
//! lock the Go server takes (`fcntl(F_SETLK)`, here Python's
//! `fcntl.lockf`), both ways. Skipped where `python3` is missing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use stan_store::{open, LockError, OpenError};

const HOLD: &str = "import fcntl, sys
f = open(sys.argv[1], 'a+')
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
print('locked', flush=True)
sys.stdin.read()";

const TRY: &str = "import fcntl, sys
f = open(sys.argv[1], 'a+')
try:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(3)";

#[test]
fn excludes_and_is_excluded_by_a_record_lock() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let lock_file = dir.join(".rootdir.lck");
    std::fs::write(&lock_file, b"").unwrap();

    let child = Command::new("python3")
        .args(["-c", HOLD])
        .arg(&lock_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("python3 not found: skipped");
        return;
    };
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");

    // Another process (as a Go server would) holds the lock.
    let e = open(common::options(dir, "c")).unwrap_err();
    assert!(
        matches!(e, OpenError::Lock(LockError::Held { .. })),
        "{e:?}"
    );
    child.stdin.take().unwrap().write_all(b"").unwrap();
    assert!(child.wait().unwrap().success());

    // Ours excludes the other process.
    let opened = open(common::options(dir, "c")).unwrap();
    let try_lock = || {
        Command::new("python3")
            .args(["-c", TRY])
            .arg(&lock_file)
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(try_lock(), Some(3));
    // A second open in this process is refused without losing the lock.
    assert!(open(common::options(dir, "c")).is_err());
    assert_eq!(try_lock(), Some(3));
    drop(opened);
    assert_eq!(try_lock(), Some(0));
}
