//! Publishing: sequences and timestamps, refusals, group commit.

use super::*;

// --- publish -----------------------------------------------------------------------

#[test]
fn publish_sequences_from_one_with_timestamps() {
    let mut w = World::default_world();
    let a = w.connected("a");
    publish_n(&mut w, a, "foo", 3);
    w.advance(secs(1));
    publish_n(&mut w, a, "bar", 1);
    let s = sub_from(&mut w, a, "foo", StartPosition::First);
    let msgs = w.take_msgs(a, &s);
    assert_eq!(
        msgs.iter().map(|m| m.sequence).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(msgs[0].data, Bytes::from_static(b"m1"));
    assert_eq!(msgs[0].subject, "foo");
    assert!(msgs[0].timestamp >= crate::sim::UNIX_START);
    assert!(msgs.windows(2).all(|p| p[0].timestamp <= p[1].timestamp));
    assert!(!msgs[0].redelivered);
    let s = sub_from(&mut w, a, "bar", StartPosition::First);
    let bar = w.take_msgs(a, &s);
    assert_eq!(bar[0].sequence, 1, "sequences are per channel");
    assert_eq!(bar[0].timestamp - msgs[2].timestamp, 1_000_000_000);
}

#[test]
fn invalid_publishes_get_the_exact_error_and_do_not_disturb_others() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let other = w.connected("other");
    let sub = sub_from(&mut w, other, "foo", StartPosition::NewOnly);
    let send = |w: &mut World, pm: PubMsg| {
        w.raw_publish(
            a,
            "_STAN.pub.test-cluster.foo",
            Some("_STAN.acks.a"),
            pm.encode_to_vec().into(),
        );
        w.pump();
        w.take_pub_acks(a).pop().expect("a PubAck")
    };
    let good = PubMsg {
        client_id: "a".into(),
        guid: "g".into(),
        subject: "foo".into(),
        data: Bytes::from_static(b"x"),
        conn_id: Bytes::from_static(b"conn-a"),
        ..PubMsg::default()
    };
    for bad in [
        PubMsg {
            guid: String::new(),
            ..good.clone()
        },
        PubMsg {
            subject: "foo.*".into(),
            ..good.clone()
        },
        PubMsg {
            subject: "foo..bar".into(),
            ..good.clone()
        },
        PubMsg {
            subject: String::new(),
            ..good.clone()
        },
        PubMsg {
            client_id: "nobody".into(),
            conn_id: Bytes::new(),
            ..good.clone()
        },
        PubMsg {
            conn_id: Bytes::from_static(b"conn-other"),
            ..good.clone()
        },
        PubMsg {
            client_id: "other".into(),
            ..good.clone()
        },
    ] {
        let ack = send(&mut w, bad.clone());
        assert_eq!(ack.error, INVALID_PUB_REQ, "{bad:?}");
        assert_eq!(ack.guid, bad.guid);
    }
    w.raw_publish(
        a,
        "_STAN.pub.test-cluster.foo",
        Some("_STAN.acks.a"),
        Bytes::from_static(b"\x0a\xff"),
    );
    w.pump();
    assert_eq!(w.take_pub_acks(a).pop().unwrap().error, INVALID_PUB_REQ);
    assert!(w.take_msgs(other, &sub).is_empty(), "nothing stored");
    let ack = send(&mut w, good);
    assert_eq!(ack.error, "");
    assert_eq!(w.take_seqs(other, &sub), [1]);
    assert!(w.engine.has_client("a") && w.engine.has_client("other"));
}

#[test]
fn publishes_are_committed_as_a_group_and_acked_after_delivery() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let sub = sub_from(&mut w, a, "foo", StartPosition::NewOnly);
    let flushes = w.engine.stats().flushes;
    let guids: Vec<String> = (0..50)
        .map(|i| w.publish(a, "foo", format!("{i}").as_bytes()))
        .collect();
    w.pump();
    assert_eq!(
        w.engine.stats().flushes - flushes,
        1,
        "one flush for the burst"
    );
    let acks = w.take_pub_acks(a);
    assert_eq!(
        acks.iter().map(|a| a.guid.clone()).collect::<Vec<_>>(),
        guids,
        "in order"
    );
    assert!(acks.iter().all(|a| a.error.is_empty()));
    assert_eq!(w.take_seqs(a, &sub), (1..=50).collect::<Vec<_>>());
    // A burst larger than io_batch_size is split.
    let mut w = World::new(ServerConfig {
        io_batch_size: 8,
        ..ServerConfig::default()
    });
    let a = w.connected("a");
    let flushes = w.engine.stats().flushes;
    for i in 0..20 {
        w.publish(a, "foo", format!("{i}").as_bytes());
    }
    w.pump();
    assert_eq!(w.engine.stats().flushes - flushes, 3);
}

#[test]
fn channel_errors_reach_the_publisher() {
    let mut w = World::new(ServerConfig {
        limits: StoreLimits {
            max_channels: 2,
            ..StoreLimits::default()
        },
        ..ServerConfig::default()
    });
    let a = w.connected("a");
    assert_eq!(w.publish_sync(a, "one", b"x"), "");
    assert_eq!(w.publish_sync(a, "Foo", b"x"), "");
    assert_eq!(
        w.publish_sync(a, "foo", b"x"),
        "rejecting channel \"foo\" because channel \"Foo\" alreay exists (different cases not allowed)"
    );
    assert_eq!(w.publish_sync(a, "three", b"x"), "too many channels");
    assert_eq!(
        w.subscribe(a, World::sub_req("four", StartPosition::First)),
        Err("too many channels".to_owned())
    );
}
