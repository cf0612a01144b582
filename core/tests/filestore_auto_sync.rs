//! `--file_sync=false` with `--file_auto_sync`: batches are written without
//! sync, and what they wrote is synced by a batch of its own once the
//! interval has passed (the store's deadline tells the engine when).

use std::time::Duration;

use bytes::Bytes;
use stan_core::stan::filestore::{FileStore, FileStoreOptions, IoDone};
use stan_core::stan::store::{ChannelLimits, Store, StoredMsg};
use stan_proto::MsgProto;

const T0: i64 = 1_700_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;

#[test]
fn written_bytes_are_synced_once_the_interval_has_passed() {
    let opts = FileStoreOptions {
        sync: false,
        auto_sync: Duration::from_secs(60),
        ..FileStoreOptions::default()
    };
    let mut store = FileStore::new(opts, T0);
    store.create_channel("c", ChannelLimits::default()).unwrap();
    let msg = StoredMsg::encode(&MsgProto {
        sequence: 1,
        subject: "c".into(),
        data: Bytes::from_static(b"x"),
        timestamp: T0,
        ..MsgProto::default()
    });
    store.append("c", msg).unwrap();
    let b = store.poll_io().expect("the writes");
    assert!(!b.sync);
    assert_eq!(store.next_deadline(), None, "nothing due while it is out");
    store.handle_io_done(IoDone::ok(b.id));
    assert_eq!(store.next_deadline(), Some(T0 + 60 * SEC));
    store.set_time(T0 + 59 * SEC);
    assert!(store.poll_io().is_none(), "not yet");
    store.set_time(T0 + 60 * SEC);
    let sync = store.poll_io().expect("the sync");
    assert!(sync.sync && sync.ops.is_empty());
    store.handle_io_done(IoDone::ok(sync.id));
    assert_eq!(store.next_deadline(), None, "nothing written since");
}
