//! `--file_slice_archive_script` on real files: slices the limits emptied
//! are renamed `.bak` and handed to the script, live and at recovery; the
//! script's outcome (output, failure, missing script) comes back to the
//! engine; a failed rename deletes the files instead; stopping the IO
//! thread waits for the runs still going.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::{drive, msg, options};
use stan_core::stan::filestore::{ArchiveDone, FileOp, FileStore, IoBatch};
use stan_core::stan::store::{ChannelLimits, Store};
use stan_store::{open, IoThread, RenamedSlice};

/// An executable shell script `name` in `dir` with `body`.
fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// An IO thread whose waker says when something completed.
fn io_thread(dir: &Path) -> (IoThread, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let io = IoThread::spawn(
        dir,
        0,
        Box::new(move || {
            let _ = tx.lock().map(|t| t.send(()));
        }),
    )
    .unwrap();
    (io, rx)
}

/// The next archive outcome (bounded wait on the waker).
fn archived(io: &IoThread, woken: &mpsc::Receiver<()>) -> ArchiveDone {
    for _ in 0..100 {
        if let Some(done) = io.try_archived() {
            return done;
        }
        let _ = woken.recv_timeout(Duration::from_millis(100));
    }
    panic!("no archive outcome within 10 s");
}

/// A store of one-message slices keeping 2 messages, `n` appended and
/// written through `io`, archiving with `script`.
fn fill(dir: &Path, io: &IoThread, script: &str, n: u64) -> FileStore {
    let mut o = options(dir, "c");
    o.store.slice_max_msgs = 1;
    o.store.slice_archive_script = Some(script.to_owned());
    let mut store = open(o).unwrap().store;
    let limits = ChannelLimits {
        max_msgs: 2,
        ..ChannelLimits::default()
    };
    store.create_channel("orders", limits).unwrap();
    for seq in 1..=n {
        store
            .append("orders", msg("orders", seq, &format!("m{seq}")))
            .unwrap();
        assert_eq!(drive(&mut store, io), None);
    }
    store
}

fn bak(dir: &Path, name: &str) -> PathBuf {
    dir.join("orders").join(format!("{name}.bak"))
}

#[test]
fn the_script_gets_each_emptied_slice_renamed_and_reports_its_output() {
    let root = tempfile::tempdir().unwrap();
    let (dir, saved) = (root.path().join("store"), root.path().join("saved"));
    fs::create_dir_all(&saved).unwrap();
    let s = script(
        root.path(),
        "archive.sh",
        &format!(
            "echo \"$1 $(basename $2) $(basename $3)\"; mv \"$2\" \"$3\" {}",
            saved.display()
        ),
    );
    fs::create_dir_all(&dir).unwrap();
    let (io, woken) = io_thread(&dir);
    let _store = fill(&dir, &io, &s, 3);
    // Message 1's slice was emptied by the third append.
    let done = archived(&io, &woken);
    assert_eq!(
        done,
        ArchiveDone {
            script: s.clone(),
            channel: "orders".into(),
            data: bak(&dir, "msgs.1.dat").display().to_string(),
            index: bak(&dir, "msgs.1.idx").display().to_string(),
            output: "orders msgs.1.dat.bak msgs.1.idx.bak\n".into(),
            result: Ok(()),
        }
    );
    assert_eq!(
        done.to_string(),
        format!(
            "Output of archive script for orders ({} and {}): orders msgs.1.dat.bak msgs.1.idx.bak",
            done.data, done.index
        )
    );
    // The script had the slice's whole files.
    let data = fs::read(saved.join("msgs.1.dat.bak")).unwrap();
    assert!(data.windows(2).any(|w| w == b"m1"));
    assert_eq!(
        fs::read(saved.join("msgs.1.idx.bak")).unwrap().len(),
        4 + 32
    );
    assert!(!dir.join("orders/msgs.1.dat").exists());
    assert!(dir.join("orders/msgs.2.dat").exists());
    assert_eq!(io.try_archived(), None);
}

#[test]
fn a_failing_or_missing_script_is_reported_and_the_files_stay_renamed() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    fs::create_dir_all(&dir).unwrap();
    let failing = script(root.path(), "fail.sh", "echo out; echo err >&2; exit 3");
    let (io, woken) = io_thread(&dir);
    let _store = fill(&dir, &io, &failing, 3);
    let done = archived(&io, &woken);
    assert_eq!(done.result, Err("exit status: 3".into()));
    assert_eq!(done.output, "out\nerr\n");
    assert_eq!(
        done.to_string(),
        format!("Error invoking archive script {failing:?}: exit status: 3 (output=out\nerr)")
    );
    assert!(bak(&dir, "msgs.1.dat").exists() && bak(&dir, "msgs.1.idx").exists());
    drop(io);

    let dir = root.path().join("store2");
    fs::create_dir_all(&dir).unwrap();
    let missing = root.path().join("nowhere.sh").display().to_string();
    let (io, woken) = io_thread(&dir);
    let _store = fill(&dir, &io, &missing, 3);
    let done = archived(&io, &woken);
    let error = done.result.unwrap_err();
    assert!(error.contains("No such file"), "{error}");
    assert!(bak(&dir, "msgs.1.dat").exists());
}

#[test]
fn a_slice_that_cannot_be_renamed_is_deleted_and_reported() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let (io, woken) = io_thread(dir);
    // The data file exists, its index does not: the second rename fails.
    fs::create_dir_all(dir.join("orders")).unwrap();
    fs::write(dir.join("orders/msgs.7.dat"), b"\x01\0\0\0").unwrap();
    io.submit(IoBatch {
        id: 1,
        ops: vec![FileOp::ArchiveSlice {
            channel: "orders".into(),
            slice: 7,
            script: "/bin/true".into(),
        }],
        sync: true,
    });
    let batch = io.wait_done(Duration::from_secs(10)).unwrap();
    assert_eq!(batch.result, Ok(()));
    let done = archived(&io, &woken);
    let error = done.result.unwrap_err();
    assert!(error.contains("msgs.7.idx"), "{error}");
    assert!(error.contains("deleted instead"), "{error}");
    let left: Vec<_> = fs::read_dir(dir.join("orders")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn stopping_waits_for_the_scripts_still_running() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    fs::create_dir_all(&dir).unwrap();
    let mark = root.path().join("finished");
    let slow = script(
        root.path(),
        "slow.sh",
        &format!("sleep 0.3; touch {}", mark.display()),
    );
    let (io, _woken) = io_thread(&dir);
    let _store = fill(&dir, &io, &slow, 3);
    io.shutdown();
    assert!(mark.exists(), "the script was cut short");
}

#[test]
fn slices_emptied_at_recovery_go_to_the_script_too() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    fs::create_dir_all(&dir).unwrap();
    // Written without limits: slices 1..=4, one message each.
    {
        let mut o = options(&dir, "c");
        o.store.slice_max_msgs = 1;
        let mut store = open(o).unwrap().store;
        store
            .create_channel("orders", ChannelLimits::default())
            .unwrap();
        let io = IoThread::spawn(&dir, 0, Box::new(|| {})).unwrap();
        for seq in 1..=4 {
            store
                .append("orders", msg("orders", seq, &format!("m{seq}")))
                .unwrap();
            assert_eq!(drive(&mut store, &io), None);
        }
    }
    // Reopened keeping 2 messages: slices 1 and 2 go to the script.
    let s = script(root.path(), "archive.sh", "echo \"$1 $(basename $2)\"");
    let mut o = options(&dir, "c");
    o.store.slice_max_msgs = 1;
    o.store.slice_archive_script = Some(s.clone());
    o.limits = Box::new(|_| ChannelLimits {
        max_msgs: 2,
        ..ChannelLimits::default()
    });
    let opened = open(o).unwrap();
    let renamed: Vec<RenamedSlice> = opened
        .archived
        .iter()
        .map(|a| a.clone().expect("renamed"))
        .collect();
    assert_eq!(
        renamed,
        [1, 2].map(|n| RenamedSlice {
            script: s.clone(),
            channel: "orders".into(),
            data: bak(&dir, &format!("msgs.{n}.dat")),
            index: bak(&dir, &format!("msgs.{n}.idx")),
        })
    );
    assert!(!dir.join("orders/msgs.1.dat").exists());
    // The IO thread runs them.
    let (io, woken) = io_thread(&dir);
    for r in renamed {
        io.start_archive(r);
    }
    let mut outputs = [archived(&io, &woken), archived(&io, &woken)].map(|d| d.output);
    outputs.sort();
    assert_eq!(
        outputs,
        ["orders msgs.1.dat.bak\n", "orders msgs.2.dat.bak\n"]
    );
}
