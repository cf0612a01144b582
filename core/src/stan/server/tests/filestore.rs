//! The engine over a file store in the simulated world: outputs held until
//! the write covering them is done, pipelined group commit, restarts (with
//! torn writes) that keep every acknowledged message, client and
//! subscription, and a failing disk.

use super::*;
use crate::stan::filestore::io::IoFailure;
use crate::stan::store::ReadTrouble;

fn file_world(latency: Duration) -> World {
    World::with_file_store(ServerConfig::default(), latency)
}

fn durable_req(channel: &str, name: &str) -> SubscriptionRequest {
    let mut req = World::sub_req(channel, StartPosition::First);
    req.durable_name = name.into();
    req.max_in_flight = 100;
    req.ack_wait_in_secs = 30;
    req
}

#[test]
fn a_pub_ack_waits_for_its_write_and_the_next_group_pipelines() {
    let mut w = file_world(Duration::ZERO);
    let a = w.connected("a");
    assert_eq!(w.publish_sync(a, "foo", b"m1"), "");
    w.disk.as_mut().unwrap().latency = Duration::from_millis(10);
    let before = w.disk.as_ref().unwrap().batches;
    w.publish(a, "foo", b"m2");
    w.pump();
    assert!(w.take_pub_acks(a).is_empty(), "no PubAck before the write");
    // Two more arrive while the first write is in flight.
    w.publish(a, "foo", b"m3");
    w.publish(a, "foo", b"m4");
    w.pump();
    w.advance(Duration::from_millis(10));
    let acks = w.take_pub_acks(a);
    assert_eq!(acks.len(), 1, "the first group: m2 alone");
    w.advance(Duration::from_millis(10));
    let acks = w.take_pub_acks(a);
    assert_eq!(acks.len(), 2, "m3 and m4 in the next group");
    assert!(acks.iter().all(|a| a.error.is_empty()));
    assert_eq!(w.disk.as_ref().unwrap().batches - before, 2);
}

#[test]
fn deliveries_wait_for_the_write_too() {
    let mut w = file_world(Duration::ZERO);
    let a = w.connected("a");
    let s = sub_from(&mut w, a, "foo", StartPosition::NewOnly);
    w.disk.as_mut().unwrap().latency = Duration::from_millis(5);
    w.publish(a, "foo", b"m1");
    w.pump();
    assert!(
        w.take_seqs(a, &s).is_empty(),
        "not delivered before it is stored"
    );
    w.advance(Duration::from_millis(5));
    assert_eq!(w.take_seqs(a, &s), [1]);
}

#[test]
fn a_restart_keeps_messages_clients_and_durables_and_redelivers_pending() {
    let mut w = file_world(Duration::ZERO);
    let a = w.connected("a");
    publish_n(&mut w, a, "foo", 5);
    let dur = w.subscribe(a, durable_req("foo", "dur")).unwrap();
    assert_eq!(w.take_seqs(a, &dur), [1, 2, 3, 4, 5]);
    w.ack(a, &dur, 1);
    w.ack(a, &dur, 2);
    let plain = sub_from(&mut w, a, "bar", StartPosition::NewOnly);
    publish_n(&mut w, a, "bar", 2);
    assert_eq!(w.take_seqs(a, &plain), [1, 2]);
    w.ack(a, &plain, 1);
    w.ack(a, &plain, 2);

    let repairs = w.restart_engine(0);
    assert!(repairs.is_empty(), "{repairs:?}");
    assert!(w.engine.has_client("a"), "the client is remembered");
    assert_eq!(w.engine.channel_count(), 2);
    assert_eq!(w.engine.subscription_count(), 2);
    assert_eq!(
        w.engine.pending_of("foo"),
        [("a".to_string(), "dur".to_string(), vec![3, 4, 5])]
    );
    // The pending messages come back, flagged, then what is new.
    w.advance(Duration::from_millis(1));
    let msgs = w.take_msgs(a, &dur);
    assert_eq!(
        msgs.iter()
            .map(|m| (m.sequence, m.redelivered))
            .collect::<Vec<_>>(),
        [(3, true), (4, true), (5, true)]
    );
    assert_eq!(&msgs[0].data[..], b"m3");
    assert_eq!(w.publish_sync(a, "foo", b"m6"), "");
    assert_eq!(w.take_seqs(a, &dur), [6], "the sequence continues");
    // The plain subscription's client is alive: it goes on too.
    assert_eq!(w.publish_sync(a, "bar", b"b3"), "");
    assert_eq!(w.take_seqs(a, &plain), [3]);
    for seq in 3..=6 {
        w.ack(a, &dur, seq);
    }
    // A second restart sees the acks.
    w.restart_engine(0);
    assert_eq!(
        w.engine.pending_of("foo"),
        [("a".to_string(), "dur".to_string(), vec![])]
    );
}

#[test]
fn an_offline_durable_and_a_durable_queue_group_resume_after_a_restart() {
    let mut w = file_world(Duration::ZERO);
    let a = w.connected("a");
    let dur = w.subscribe(a, durable_req("foo", "dur")).unwrap();
    let mut qreq = durable_req("foo", "qd");
    qreq.q_group = "workers".into();
    let q = w.subscribe(a, qreq.clone()).unwrap();
    publish_n(&mut w, a, "foo", 3);
    assert_eq!(w.take_seqs(a, &dur), [1, 2, 3]);
    assert_eq!(w.take_seqs(a, &q), [1, 2, 3]);
    w.ack(a, &dur, 1);
    w.ack(a, &q, 2);
    assert_eq!(w.close(a), "");
    w.restart_engine(0);
    assert!(!w.engine.has_client("a"));
    assert_eq!(
        w.engine.subscription_count(),
        2,
        "offline durable and group shadow"
    );
    let b = w.connected("a2");
    let mut req = durable_req("foo", "dur");
    req.client_id = "a".into();
    // The durable belongs to client ID "a": connect as "a" again.
    let c = w.client("a-again");
    w.connect_as(c, "a");
    let dur = w.subscribe(c, req).unwrap();
    w.advance(Duration::from_millis(1));
    let got: Vec<(u64, bool)> = w
        .take_msgs(c, &dur)
        .iter()
        .map(|m| (m.sequence, m.redelivered))
        .collect();
    assert_eq!(got, [(2, true), (3, true)]);
    let mut qreq = durable_req("foo", "qd");
    qreq.q_group = "workers".into();
    let q = w.subscribe(b, qreq).unwrap();
    w.advance(Duration::from_millis(1));
    let got: Vec<u64> = w.take_seqs(b, &q);
    assert_eq!(got, [1, 3], "the group's unacked messages");
}

#[test]
fn a_torn_write_is_truncated_and_its_message_was_never_acknowledged() {
    let mut w = file_world(Duration::ZERO);
    let a = w.connected("a");
    assert_eq!(w.publish_sync(a, "foo", b"kept"), "");
    w.disk.as_mut().unwrap().latency = Duration::from_millis(10);
    w.publish(a, "foo", b"lost in the crash");
    w.pump();
    // Crash with 10 bytes of the second record written.
    let repairs = w.restart_engine(10);
    assert!(w.take_pub_acks(a).is_empty(), "never acknowledged");
    assert_eq!(repairs.len(), 1, "{repairs:?}");
    assert!(
        repairs[0].contains("foo/msgs.1.dat") && repairs[0].contains("truncated to offset"),
        "{}",
        repairs[0]
    );
    w.disk.as_mut().unwrap().latency = Duration::ZERO;
    let s = sub_from(&mut w, a, "foo", StartPosition::First);
    let msgs = w.take_msgs(a, &s);
    assert_eq!(msgs.len(), 1);
    assert_eq!(&msgs[0].data[..], b"kept");
    assert_eq!(w.publish_sync(a, "foo", b"next"), "");
    assert_eq!(
        w.take_seqs(a, &s),
        [2],
        "no gap, no reuse of an acknowledged sequence"
    );
}

#[test]
fn a_failed_write_fails_its_pub_acks_and_every_later_publish() {
    let mut w = file_world(Duration::ZERO);
    let a = w.connected("a");
    assert_eq!(w.publish_sync(a, "foo", b"ok"), "");
    w.disk.as_mut().unwrap().fail_next = Some(IoFailure {
        op: "sync",
        path: "foo/msgs.1.dat".into(),
        error: "No space left on device (os error 28)".into(),
    });
    let error = w.publish_sync(a, "foo", b"m2");
    assert_eq!(
        error,
        "stan: unable to store message: sync \"foo/msgs.1.dat\": No space left on device (os error 28)"
    );
    assert!(w
        .events
        .iter()
        .any(|e| matches!(e, ServerEvent::StoreFailed { .. })));
    let error = w.publish_sync(a, "foo", b"m3");
    assert!(error.contains("No space left on device"), "{error}");
}

fn enospc() -> IoFailure {
    IoFailure {
        op: "append",
        path: "foo/msgs.1.dat".into(),
        error: "No space left on device (os error 28)".into(),
    }
}

fn store_events(w: &mut World) -> Vec<&'static str> {
    std::mem::take(&mut w.events)
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::StoreSuspended { .. } => Some("suspended"),
            ServerEvent::StoreResumed => Some("resumed"),
            ServerEvent::StoreFailed { .. } => Some("failed"),
            _ => None,
        })
        .collect()
}

/// `seconds` of a full disk, one second at a time: every write (and
/// every retry) fails and is undone.
fn full_disk_for(w: &mut World, seconds: u32) {
    for _ in 0..seconds {
        let disk = w.disk.as_mut().unwrap();
        if disk.fail_next.is_none() {
            disk.fail_next = Some(enospc());
        }
        w.advance(Duration::from_secs(1));
    }
}

/// Client `a` stored `m1` on `foo`; the write of `m2` then failed and was
/// undone: the store is suspended. The world, `a`, and `m2`'s guid.
fn m2_suspended() -> (World, C, String) {
    let mut w = file_world(Duration::ZERO);
    w.disk.as_mut().unwrap().undo_failures = true;
    let a = w.connected("a");
    assert_eq!(w.publish_sync(a, "foo", b"m1"), "");
    w.disk.as_mut().unwrap().fail_next = Some(enospc());
    let m2 = w.publish(a, "foo", b"m2");
    w.pump();
    (w, a, m2)
}

#[test]
fn a_full_disk_suspends_the_store_until_a_retry_of_the_undone_write_succeeds() {
    let mut w = file_world(Duration::ZERO);
    w.disk.as_mut().unwrap().undo_failures = true;
    let a = w.connected("a");
    let b = w.connected("b");
    let s = sub_from(&mut w, b, "foo", StartPosition::NewOnly);
    assert_eq!(w.publish_sync(a, "foo", b"m1"), "");
    assert_eq!(w.take_seqs(b, &s), [1]);
    let _ = store_events(&mut w);

    // m2's write fails and is undone: its PubAck and its delivery wait.
    w.disk.as_mut().unwrap().fail_next = Some(enospc());
    let m2 = w.publish(a, "foo", b"m2");
    w.pump();
    assert!(w.take_pub_acks(a).is_empty(), "no PubAck for m2 yet");
    assert!(w.take_seqs(b, &s).is_empty(), "m2 not delivered yet");
    assert_eq!(store_events(&mut w), ["suspended"]);
    // Meanwhile a publish is refused at once, with the error.
    assert_eq!(
        w.publish_sync(a, "foo", b"refused"),
        "append \"foo/msgs.1.dat\": No space left on device (os error 28)"
    );
    // So are a new client and a new subscription.
    let late = w.client("late");
    let refused = w.connect_as(late, "late").error;
    assert!(refused.contains("No space left on device"), "{refused}");
    let sub = w.subscribe(b, World::sub_req("bar", StartPosition::NewOnly));
    assert!(
        sub.as_ref()
            .is_err_and(|e| e.contains("No space left on device")),
        "{sub:?}"
    );
    // An ack staged meanwhile waits with the rest (nothing is dropped).
    w.ack(b, &s, 1);

    // The retry after 1 s fails again; the next one, 2 s later, succeeds.
    w.disk.as_mut().unwrap().fail_next = Some(enospc());
    w.advance(Duration::from_millis(999));
    assert_eq!(store_events(&mut w), Vec::<&str>::new(), "not before 1 s");
    w.advance(Duration::from_millis(1));
    assert_eq!(store_events(&mut w), ["suspended"]);
    assert!(w.take_pub_acks(a).is_empty());
    w.advance(Duration::from_secs(2));
    assert_eq!(store_events(&mut w), ["resumed"]);
    let acks = w.take_pub_acks(a);
    assert_eq!(acks.len(), 1);
    assert_eq!(
        (acks[0].guid.as_str(), acks[0].error.as_str()),
        (m2.as_str(), "")
    );
    assert_eq!(w.take_seqs(b, &s), [2]);
    // Publishes are taken again, the sequence without a gap.
    assert_eq!(w.publish_sync(a, "foo", b"m3"), "");
    assert_eq!(w.take_seqs(b, &s), [3]);

    // The directory holds exactly what was acknowledged.
    let repairs = w.restart_engine(0);
    assert!(repairs.is_empty(), "{repairs:?}");
    let d = w.subscribe(a, durable_req("foo", "all")).unwrap();
    let got: Vec<Vec<u8>> = w
        .take_msgs(a, &d)
        .into_iter()
        .map(|m| m.data.to_vec())
        .collect();
    assert_eq!(got, [b"m1".to_vec(), b"m2".to_vec(), b"m3".to_vec()]);
}

#[test]
fn clients_stay_alive_while_the_store_is_suspended() {
    let (mut w, a, m2) = m2_suspended();
    // Ten minutes of a full disk: every retry fails, heartbeats go on.
    full_disk_for(&mut w, 600);
    assert!(w.engine.has_client("a"), "heartbeats answered meanwhile");
    assert!(w.take_pub_acks(a).is_empty());
    let events = store_events(&mut w);
    // Retries after 1, 2, 4, 8, 16, then every 30 s.
    assert!((20..=25).contains(&events.len()), "{events:?}");
    // Room again: the next retry (within 30 s) succeeds.
    w.disk.as_mut().unwrap().fail_next = None;
    w.advance(Duration::from_secs(30));
    assert_eq!(store_events(&mut w), ["resumed"]);
    let acks = w.take_pub_acks(a);
    assert_eq!((acks.len(), acks[0].guid.as_str()), (1, m2.as_str()));
}

#[test]
fn redeliveries_do_not_pile_up_while_the_store_is_suspended() {
    let mut w = file_world(Duration::ZERO);
    w.disk.as_mut().unwrap().undo_failures = true;
    let a = w.connected("a");
    let mut req = World::sub_req("foo", StartPosition::NewOnly);
    req.ack_wait_in_secs = 1;
    let s = w.subscribe(a, req).unwrap();
    assert_eq!(w.publish_sync(a, "foo", b"m1"), "");
    assert_eq!(w.take_seqs(a, &s), [1]);
    // m1 is not acked; m2's write fails and is undone.
    w.disk.as_mut().unwrap().fail_next = Some(enospc());
    w.publish(a, "foo", b"m2");
    w.pump();
    // A minute of a full disk: sixty ack waits.
    full_disk_for(&mut w, 60);
    let _ = w.take_msgs(a, &s);
    let _ = store_events(&mut w);
    // Room again: what comes out when the store resumes.
    w.disk.as_mut().unwrap().fail_next = None;
    for _ in 0..30 {
        w.advance(Duration::from_millis(500));
        if store_events(&mut w) == ["resumed"] {
            break;
        }
    }
    let got = w.take_msgs(a, &s);
    let count = |seq| got.iter().filter(|m| m.sequence == seq).count();
    assert_eq!(count(2), 1, "m2 delivered once the store resumed");
    assert!(
        count(1) <= 1,
        "no burst of redeliveries held during the suspension: m1 {} times",
        count(1)
    );
}

#[test]
fn a_stop_retries_the_suspended_write_at_once() {
    let (mut w, a, m2) = m2_suspended();
    assert_eq!(store_events(&mut w), ["suspended"]);
    assert!(
        w.engine.store_settled(),
        "suspended, no retry due: a stop has nothing to wait for"
    );
    // Stopping with the disk still full: one retry, then nothing to wait for.
    w.disk.as_mut().unwrap().fail_next = Some(enospc());
    w.engine.begin_settle();
    assert!(!w.engine.store_settled(), "the retry is due at once");
    w.pump();
    assert_eq!(store_events(&mut w), ["suspended"]);
    assert!(w.engine.store_settled());
    // Stopping once the disk has room: the write is done before the stop,
    // well ahead of the retry's backoff.
    w.engine.begin_settle();
    assert!(!w.engine.store_settled());
    w.pump();
    assert_eq!(store_events(&mut w), ["resumed"]);
    assert!(w.engine.store_settled());
    let acks = w.take_pub_acks(a);
    assert_eq!((acks.len(), acks[0].guid.as_str()), (1, m2.as_str()));
    w.restart_engine(0);
    let d = w.subscribe(a, durable_req("foo", "all")).unwrap();
    assert_eq!(w.take_seqs(a, &d), [1, 2]);
}

#[test]
fn a_stop_waits_for_what_was_staged_when_it_began_not_for_later_publishes() {
    let mut w = file_world(Duration::ZERO);
    let a = w.connected("a");
    assert_eq!(w.publish_sync(a, "foo", b"m0"), "");
    w.disk.as_mut().unwrap().latency = Duration::from_millis(10);
    w.publish(a, "foo", b"m1");
    w.pump();
    w.engine.begin_settle();
    assert!(!w.engine.store_settled(), "m1's write is under way");
    // Still connected (with -ns), the engine takes more publishes.
    w.publish(a, "foo", b"m2");
    w.pump();
    w.advance(Duration::from_millis(10));
    assert_eq!(
        w.take_pub_acks(a).len(),
        1,
        "m1 stored, m2's write under way"
    );
    assert!(
        w.engine.store_settled(),
        "what came after the stop began does not hold it up"
    );
}

#[test]
fn a_write_that_could_not_be_undone_fails_the_store_for_good() {
    let mut w = file_world(Duration::ZERO);
    let a = w.connected("a");
    assert_eq!(w.publish_sync(a, "foo", b"m1"), "");
    let _ = store_events(&mut w);
    w.disk.as_mut().unwrap().fail_next = Some(enospc());
    assert!(w.publish_sync(a, "foo", b"m2").contains("No space left"));
    assert_eq!(store_events(&mut w), ["failed"]);
    w.advance(Duration::from_secs(60));
    assert_eq!(store_events(&mut w), Vec::<&str>::new(), "no retry");
    assert!(w.publish_sync(a, "foo", b"m3").contains("No space left"));
}

#[test]
fn clients_gone_during_the_restart_are_dropped_with_their_subscriptions() {
    let mut w = file_world(Duration::ZERO);
    let a = w.connected("a");
    let b = w.connected("b");
    let _s = sub_from(&mut w, b, "foo", StartPosition::NewOnly);
    let _d = w.subscribe(b, durable_req("foo", "keep")).unwrap();
    publish_n(&mut w, a, "foo", 1);
    w.set_answer_heartbeats(b, false);
    w.restart_engine(0);
    assert!(w.engine.has_client("b"));
    w.advance(secs(600));
    assert!(!w.engine.has_client("b"), "heartbeats failed");
    assert!(w.engine.has_client("a"));
    assert_eq!(
        w.engine.subscription_count(),
        1,
        "the durable stays, offline"
    );
    w.restart_engine(0);
    assert!(!w.engine.has_client("b"));
    assert_eq!(w.engine.subscription_count(), 1);
}

/// A store whose cache holds a few payloads: the rest is read back.
fn small_cache_world() -> World {
    let opts = crate::stan::filestore::FileStoreOptions {
        cache_bytes: 2_000,
        read_ahead: 1_500,
        ..Default::default()
    };
    World::with_file_store_options(ServerConfig::default(), Duration::ZERO, opts)
}

fn payload(i: u64) -> Vec<u8> {
    format!("{i:04}-{}", "x".repeat(95)).into_bytes()
}

/// Publishes `payload(1)` to `payload(n)` on `foo`, each acknowledged.
fn publish_payloads(w: &mut World, a: C, n: u64) {
    for i in 1..=n {
        assert_eq!(w.publish_sync(a, "foo", &payload(i)), "");
    }
}

/// A subscription to `foo` from the first message, 1000 in flight.
fn all_of_foo() -> SubscriptionRequest {
    let mut req = World::sub_req("foo", StartPosition::First);
    req.max_in_flight = 1000;
    req
}

#[test]
fn payloads_beyond_the_cache_are_read_back_in_order() {
    let mut w = small_cache_world();
    let a = w.connected("a");
    publish_payloads(&mut w, a, 200);
    let reads_before = w.disk.as_ref().unwrap().reads;
    let s = w.subscribe(a, all_of_foo()).unwrap();
    w.advance(Duration::from_millis(1));
    let msgs = w.take_msgs(a, &s);
    assert_eq!(
        msgs.iter().map(|m| m.sequence).collect::<Vec<_>>(),
        (1..=200).collect::<Vec<_>>()
    );
    for m in &msgs {
        assert_eq!(&m.data[..], &payload(m.sequence)[..]);
    }
    let reads = w.disk.as_ref().unwrap().reads - reads_before;
    assert!(reads > 5, "read back from the slices ({reads} reads)");
    assert!(reads < 100, "in chunks, not one by one ({reads} reads)");
}

#[test]
fn a_durable_resumed_after_a_restart_gets_its_pending_read_back_first() {
    let mut w = small_cache_world();
    let a = w.connected("a");
    let mut req = durable_req("foo", "dur");
    req.max_in_flight = 5;
    let d = w.subscribe(a, req.clone()).unwrap();
    publish_payloads(&mut w, a, 30);
    let got = w.take_seqs(a, &d);
    assert_eq!(got, [1, 2, 3, 4, 5]);
    for seq in 1..=5 {
        w.ack(a, &d, seq);
    }
    let got = w.take_seqs(a, &d);
    assert_eq!(got, [6, 7, 8, 9, 10]);
    assert_eq!(w.close(a), "");
    w.restart_engine(0);
    let b = w.client("a-again");
    w.connect_as(b, "a");
    let d = w.subscribe(b, req).unwrap();
    w.advance(Duration::from_millis(1));
    let mut got = Vec::new();
    for _ in 0..10 {
        let msgs = w.take_msgs(b, &d);
        for m in &msgs {
            assert_eq!(&m.data[..], &payload(m.sequence)[..]);
            got.push((m.sequence, m.redelivered));
            w.ack(b, &d, m.sequence);
        }
        w.advance(Duration::from_millis(1));
    }
    let want: Vec<(u64, bool)> = (6..=10)
        .map(|s| (s, true))
        .chain((11..=30).map(|s| (s, false)))
        .collect();
    assert_eq!(got, want);
}

fn eio() -> IoFailure {
    IoFailure {
        op: "read",
        path: "foo/msgs.1.dat".into(),
        error: "Input/output error (os error 5)".into(),
    }
}

/// Every read of `foo`'s first slice fails (EIO).
fn fail_reads_of_slice_1(w: &mut World) {
    w.disk
        .as_mut()
        .unwrap()
        .read_failures
        .insert("foo/msgs.1.dat".into(), eio());
}

fn read_troubles(w: &mut World) -> Vec<ReadTrouble> {
    let (troubles, rest) = std::mem::take(&mut w.events)
        .into_iter()
        .partition::<Vec<_>, _>(|e| matches!(e, ServerEvent::StoreReadTrouble(_)));
    w.events = rest;
    troubles
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::StoreReadTrouble(t) => Some(t),
            _ => None,
        })
        .collect()
}

#[test]
fn a_failed_read_holds_its_deliveries_not_the_store_and_is_tried_again() {
    let mut w = small_cache_world();
    let a = w.connected("a");
    publish_payloads(&mut w, a, 200);
    fail_reads_of_slice_1(&mut w);
    let s = w.subscribe(a, all_of_foo()).unwrap();
    w.advance(Duration::from_millis(1));
    assert!(
        w.take_seqs(a, &s).is_empty(),
        "nothing skipped, nothing out of order"
    );
    let troubles = read_troubles(&mut w);
    match &troubles[..] {
        [ReadTrouble::Failed {
            channel,
            first: 1,
            last,
            error,
            retry_in,
        }] => {
            assert_eq!(channel, "foo");
            assert!(*last > 1, "the read-ahead's range: {last}");
            assert!(error.contains("Input/output error"), "{error}");
            assert_eq!(*retry_in, secs(1));
        }
        other => panic!("{other:?}"),
    }
    // The store writes on: publishes are acknowledged.
    assert_eq!(w.publish_sync(a, "foo", &payload(201)), "");
    assert!(
        store_events(&mut w).is_empty(),
        "the store is neither suspended nor failed"
    );
    // Still failing a second later: the wait doubles.
    w.advance(secs(1));
    let troubles = read_troubles(&mut w);
    assert!(
        matches!(&troubles[..], [ReadTrouble::Failed { retry_in, .. }] if *retry_in == secs(2)),
        "{troubles:?}"
    );
    assert!(w.take_seqs(a, &s).is_empty());
    // Readable again: everything comes, in order, whole.
    w.disk.as_mut().unwrap().read_failures.clear();
    w.advance(secs(2));
    let msgs = w.take_msgs(a, &s);
    assert_eq!(
        msgs.iter().map(|m| m.sequence).collect::<Vec<_>>(),
        (1..=201).collect::<Vec<_>>()
    );
    for m in &msgs {
        assert_eq!(&m.data[..], &payload(m.sequence)[..]);
    }
    assert!(read_troubles(&mut w).is_empty());
    assert_eq!(w.engine.stats().store_read_failures, 2);
    assert_eq!(w.engine.stats().damaged_msgs, 0);
}

#[test]
fn a_failed_read_holds_only_its_slice() {
    let opts = crate::stan::filestore::FileStoreOptions {
        cache_bytes: 2_000,
        read_ahead: 1_500,
        slice_max_msgs: 100,
        ..Default::default()
    };
    let mut w = World::with_file_store_options(ServerConfig::default(), Duration::ZERO, opts);
    let a = w.connected("a");
    publish_payloads(&mut w, a, 300);
    fail_reads_of_slice_1(&mut w);
    let stuck = w.subscribe(a, all_of_foo()).unwrap();
    let mut req = all_of_foo();
    req.start_position = StartPosition::SequenceStart as i32;
    req.start_sequence = 101;
    let healthy = w.subscribe(a, req).unwrap();
    w.advance(Duration::from_millis(1));
    assert!(w.take_seqs(a, &stuck).is_empty());
    assert_eq!(
        w.take_seqs(a, &healthy),
        (101..=300).collect::<Vec<_>>(),
        "slices 2 and 3 are read as usual"
    );
    let retry_ins = |w: &mut World| {
        read_troubles(w)
            .into_iter()
            .map(|t| match t {
                ReadTrouble::Failed { retry_in, .. } => retry_in,
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(retry_ins(&mut w), [secs(1)]);
    // The other slices' reads went well meanwhile; the wait still doubles.
    w.advance(secs(1));
    assert_eq!(retry_ins(&mut w), [secs(2)]);
    w.advance(secs(2));
    assert_eq!(retry_ins(&mut w), [secs(4)]);
    w.disk.as_mut().unwrap().read_failures.clear();
    w.advance(secs(4));
    assert_eq!(
        w.take_seqs(a, &stuck),
        (1..=300).collect::<Vec<_>>(),
        "in order once slice 1 reads again"
    );
}

#[test]
fn damaged_records_read_back_are_skipped_and_reported() {
    let mut w = small_cache_world();
    let a = w.connected("a");
    publish_payloads(&mut w, a, 200);
    // A bit flipped in message 3's payload on disk.
    let disk = w.disk.as_mut().unwrap();
    let file = disk.files.get_mut("foo/msgs.1.dat").expect("the slice");
    let at = file
        .windows(5)
        .position(|b| b == b"0003-")
        .expect("message 3's payload");
    file[at + 10] ^= 0x01;
    let s = w.subscribe(a, all_of_foo()).unwrap();
    w.advance(Duration::from_millis(1));
    let seqs = w.take_seqs(a, &s);
    let expected: Vec<u64> = (1..=200).filter(|&s| s != 3).collect();
    assert_eq!(seqs, expected, "message 3 skipped, never served wrong");
    assert_eq!(
        read_troubles(&mut w),
        [ReadTrouble::Damaged {
            channel: "foo".into(),
            file: "foo/msgs.1.dat".into(),
            first: 3,
            last: 3,
            count: 1,
        }]
    );
    assert!(store_events(&mut w).is_empty());
    assert_eq!(w.engine.stats().damaged_msgs, 1);
}
