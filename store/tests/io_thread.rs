//! The `IoThread` on real files: each operation, order within and across
//! batches, the handle cache, the waker, shutdown, and failures (reported
//! as `IoFailure`, the rest of the batch skipped, the store stopped).

mod common;

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{drive, msg, options};
use stan_core::stan::filestore::{FileId, FileOp, IoBatch, IoFailure};
use stan_core::stan::store::{ChannelLimits, ClientRecord, Store, StoreError, SubRecord};
use stan_store::{open, IoThread, THREAD_NAME};

fn data(channel: &str, slice: u64) -> FileId {
    FileId::SliceData {
        channel: channel.into(),
        slice,
    }
}

fn append(file: FileId, bytes: &'static [u8]) -> FileOp {
    FileOp::Append {
        file,
        data: Bytes::from_static(bytes),
    }
}

fn run(io: &IoThread, id: u64, ops: Vec<FileOp>) -> Result<(), IoFailure> {
    io.submit(IoBatch {
        id,
        ops,
        sync: true,
    });
    let done = io.wait_done(Duration::from_secs(10)).expect("completion");
    assert_eq!(done.id, id);
    done.result
}

#[test]
fn operations_in_order() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let io = IoThread::spawn(dir, 0, Box::new(|| {})).unwrap();
    let ch = || "orders".to_owned();
    run(
        &io,
        1,
        vec![
            FileOp::CreateChannelDir { channel: ch() },
            append(data("orders", 1), b"abc"),
            // The cached handle must not outlive the replaced file.
            FileOp::Replace {
                file: data("orders", 1),
                data: Bytes::from_static(b"XY"),
            },
            append(data("orders", 1), b"z"),
            append(FileId::Clients, b"c1"),
            FileOp::Remove {
                file: data("orders", 9),
            },
        ],
    )
    .unwrap();
    assert_eq!(fs::read(dir.join("orders/msgs.1.dat")).unwrap(), b"XYz");
    assert_eq!(fs::read(dir.join("clients.dat")).unwrap(), b"c1");
    assert!(!dir.join("orders/msgs.1.dat.tmp").exists());

    // Across batches, appends go on at the end.
    run(&io, 2, vec![append(data("orders", 1), b"!")]).unwrap();
    assert_eq!(fs::read(dir.join("orders/msgs.1.dat")).unwrap(), b"XYz!");

    run(
        &io,
        3,
        vec![
            FileOp::Remove {
                file: FileId::Clients,
            },
            append(FileId::Clients, b"new"),
            FileOp::RemoveChannelDir { channel: ch() },
            FileOp::RemoveChannelDir {
                channel: "never".into(),
            },
        ],
    )
    .unwrap();
    assert_eq!(fs::read(dir.join("clients.dat")).unwrap(), b"new");
    assert!(!dir.join("orders").exists());

    // A channel directory created again after its removal starts afresh.
    run(
        &io,
        4,
        vec![
            FileOp::CreateChannelDir { channel: ch() },
            append(data("orders", 1), b"again"),
        ],
    )
    .unwrap();
    assert_eq!(fs::read(dir.join("orders/msgs.1.dat")).unwrap(), b"again");
    assert_eq!(io.try_done(), None);
}

#[test]
fn few_open_files() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let io = IoThread::spawn(dir, 2, Box::new(|| {})).unwrap();
    let files: Vec<FileId> = (1..=5).map(|n| data("c", n)).collect();
    let mut ops = vec![FileOp::CreateChannelDir {
        channel: "c".into(),
    }];
    for round in 0..3 {
        for f in &files {
            ops.push(FileOp::Append {
                file: f.clone(),
                data: Bytes::from(vec![b'a' + round; 2]),
            });
        }
    }
    run(&io, 1, ops).unwrap();
    for f in &files {
        assert_eq!(fs::read(dir.join(f.to_string())).unwrap(), b"aabbcc", "{f}");
    }
}

#[test]
fn waker_and_shutdown() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let wakes = Arc::new(AtomicUsize::new(0));
    let w = Arc::clone(&wakes);
    let io = IoThread::spawn(
        dir,
        0,
        Box::new(move || {
            assert_eq!(std::thread::current().name(), Some(THREAD_NAME));
            w.fetch_add(1, Ordering::SeqCst);
        }),
    )
    .unwrap();
    for id in 1..=50 {
        io.submit(IoBatch {
            id,
            ops: vec![append(FileId::Clients, b"x")],
            sync: id % 2 == 0,
        });
    }
    // Shutdown finishes what was queued.
    io.shutdown();
    assert_eq!(wakes.load(Ordering::SeqCst), 50);
    assert_eq!(fs::read(dir.join("clients.dat")).unwrap(), [b'x'; 50]);
}

#[test]
fn completions_in_submission_order() {
    let root = tempfile::tempdir().unwrap();
    let io = IoThread::spawn(root.path(), 0, Box::new(|| {})).unwrap();
    for id in [7, 3, 9] {
        io.submit(IoBatch {
            id,
            ops: vec![append(FileId::Clients, b"x")],
            sync: false,
        });
    }
    let ids: Vec<u64> = (0..3)
        .map(|_| io.wait_done(Duration::from_secs(10)).unwrap().id)
        .collect();
    assert_eq!(ids, [7, 3, 9]);
}

#[test]
fn a_failure_skips_the_rest_of_the_batch() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    // A path component that is a regular file: fails for root too.
    fs::write(dir.join("blocked"), b"").unwrap();
    let io = IoThread::spawn(dir, 0, Box::new(|| {})).unwrap();
    let e = run(
        &io,
        1,
        vec![
            append(FileId::Clients, b"first"),
            append(data("blocked", 1), b"lost"),
            append(FileId::Server, b"never"),
        ],
    )
    .unwrap_err();
    assert_eq!(e.op, "open");
    assert_eq!(e.path, "blocked/msgs.1.dat");
    assert!(e.error.contains("Not a directory"), "{e}");
    assert_eq!(
        e.to_string(),
        format!("open \"blocked/msgs.1.dat\": {}", e.error)
    );
    // Undone: the file the batch created for its first append is gone.
    assert!(!dir.join("clients.dat").exists());
    assert!(!dir.join("server.dat").exists());

    let e = run(
        &io,
        2,
        vec![FileOp::CreateChannelDir {
            channel: "blocked".into(),
        }],
    )
    .unwrap_err();
    assert_eq!((e.op, e.path.as_str()), ("mkdir", "blocked"));
    let e = run(
        &io,
        3,
        vec![FileOp::Replace {
            file: FileId::Subs {
                channel: "blocked".into(),
            },
            data: Bytes::from_static(b"x"),
        }],
    )
    .unwrap_err();
    assert_eq!((e.op, e.path.as_str()), ("create", "blocked/subs.dat.tmp"));
}

#[test]
fn a_failed_batch_is_undone_and_handed_back() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let io = IoThread::spawn(dir, 0, Box::new(|| {})).unwrap();
    run(&io, 1, vec![append(FileId::Clients, b"kept")]).unwrap();
    fs::write(dir.join("blocked"), b"").unwrap();
    let batch = IoBatch {
        id: 2,
        ops: vec![
            append(FileId::Clients, b"+more"),
            append(data("blocked", 1), b"lost"),
        ],
        sync: true,
    };
    io.submit(batch.clone());
    let done = io.wait_done(Duration::from_secs(10)).unwrap();
    assert_eq!(done.result.unwrap_err().op, "open");
    assert_eq!(done.undone, Some(batch), "handed back to be retried");
    // Cut back to its length before the batch.
    assert_eq!(fs::read(dir.join("clients.dat")).unwrap(), b"kept");
    // The same batch again, once the cause is gone: as if it ran once.
    fs::remove_file(dir.join("blocked")).unwrap();
    run(
        &io,
        3,
        vec![
            FileOp::CreateChannelDir {
                channel: "blocked".into(),
            },
            append(FileId::Clients, b"+more"),
            append(data("blocked", 1), b"lost"),
        ],
    )
    .unwrap();
    assert_eq!(fs::read(dir.join("clients.dat")).unwrap(), b"kept+more");

    // A batch that removed a file before failing cannot be carried out
    // again as it was: not undone, the store stops.
    fs::write(dir.join("blocked2"), b"").unwrap();
    io.submit(IoBatch {
        id: 4,
        ops: vec![
            append(FileId::Clients, b"+x"),
            FileOp::Remove {
                file: data("blocked", 1),
            },
            append(data("blocked2", 1), b"lost"),
        ],
        sync: true,
    });
    let done = io.wait_done(Duration::from_secs(10)).unwrap();
    assert!(done.result.is_err());
    assert_eq!(done.undone, None);
}

#[test]
fn an_undone_failure_suspends_the_store_until_a_retry_succeeds() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let mut opened = open(options(dir, "c")).unwrap();
    let io = IoThread::spawn(dir, 0, Box::new(|| {})).unwrap();
    let s = &mut opened.store;
    s.create_channel("good", ChannelLimits::default()).unwrap();
    s.append("good", msg("good", 1, "a")).unwrap();
    assert_eq!(drive(s, &io), None);

    fs::write(dir.join("bad"), b"").unwrap();
    s.create_channel("bad", ChannelLimits::default()).unwrap();
    let failure = drive(s, &io).expect("a failure");
    assert_eq!((failure.op, failure.path.as_str()), ("mkdir", "bad"));
    assert_eq!(s.failure(), None, "not failed for good");
    assert_eq!(s.suspended(), Some(&failure));
    assert_eq!(
        s.append("good", msg("good", 2, "b")),
        Err(StoreError::Io(failure.to_string()))
    );
    // Staged meanwhile: kept, in order.
    s.record_sub("good", SubRecord::Delete(1));
    s.record_client(ClientRecord::Removed("c1".into()));
    assert_eq!(s.poll_io(), None, "nothing goes out before the retry");
    assert!(!s.is_idle(), "the undone batch and the records wait");
    // The cause stays: the retry (after 1 s) fails the same way.
    s.set_time(common::NOW + 1_000_000_000);
    let again = drive(s, &io).expect("the retry fails");
    assert_eq!(again, failure);
    // Gone: the next retry (2 s later) succeeds, then the rest goes out.
    fs::remove_file(dir.join("bad")).unwrap();
    s.set_time(common::NOW + 3_000_000_000);
    assert_eq!(drive(s, &io), None);
    assert_eq!(s.suspended(), None);
    assert!(dir.join("bad").is_dir());
    s.append("good", msg("good", 2, "b")).unwrap();
    assert_eq!(drive(s, &io), None);
    drop(io);
    drop(opened);
    let mut reopened = open(options(dir, "c")).unwrap();
    assert!(reopened.repairs.is_empty(), "{:?}", reopened.repairs);
    assert_eq!(reopened.store.channel_names().count(), 2);
    for (seq, data) in [(1, "a"), (2, "b")] {
        let got = common::payload_at(&mut reopened.store, dir, "good", seq);
        assert_eq!(got.as_deref(), Some(data), "message {seq}");
    }
}
