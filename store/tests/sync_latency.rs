//! `IoThread::sync_latency`: every batch that syncs something is one
//! observation; writes without a sync are not timed; the handle stays
//! readable after the thread stopped.

use std::time::Duration;

use bytes::Bytes;
use stan_core::stan::filestore::{FileId, FileOp, IoBatch};
use stan_store::IoThread;

fn run(io: &IoThread, id: u64, sync: bool) {
    io.submit(IoBatch {
        id,
        ops: vec![FileOp::Append {
            file: FileId::Clients,
            data: Bytes::from_static(b"record"),
        }],
        sync,
    });
    let done = io.wait_done(Duration::from_secs(10)).expect("completion");
    assert_eq!((done.id, done.result), (id, Ok(())));
}

#[test]
fn synced_batches_are_timed() {
    let root = tempfile::tempdir().expect("temp dir");
    let io = IoThread::spawn(root.path(), 0, Box::new(|| {})).expect("spawn");
    let latency = io.sync_latency();
    run(&io, 1, false);
    assert_eq!(latency.histogram().count, 0, "a write alone is not a sync");
    for id in 2..=4 {
        run(&io, id, true);
    }
    drop(io);
    let h = latency.histogram();
    assert_eq!(h.count, 3);
    assert_eq!(h.buckets.iter().sum::<u64>(), 3);
}
