//! Simulation tests of the engine: the router, the engine and scripted
//! clients in one virtual-time world (`crate::sim`).

use std::time::Duration;

use bytes::Bytes;
use stan_proto::{Message, PubMsg, StartPosition, SubscriptionRequest};

use super::*;
use crate::sim::{SubHandle, World, C};
use crate::stan::store::ChannelLimits;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn publish_n(w: &mut World, c: C, channel: &str, n: usize) {
    for i in 1..=n {
        assert_eq!(w.publish_sync(c, channel, format!("m{i}").as_bytes()), "");
    }
}

fn sub_from(w: &mut World, c: C, channel: &str, start: StartPosition) -> SubHandle {
    w.subscribe(c, World::sub_req(channel, start))
        .expect("subscribed")
}

// --- connect -----------------------------------------------------------------

#[test]
fn connect_response_carries_the_subjects() {
    let mut w = World::default_world();
    let c = w.client("a");
    let r = w.connect_as(c, "a");
    assert_eq!(r.error, "");
    assert_eq!(r.pub_prefix, "_STAN.pub.test-cluster");
    assert_eq!(r.sub_requests, "_STAN.sub.test-cluster");
    assert_eq!(r.unsub_requests, "_STAN.unsub.test-cluster");
    assert_eq!(r.close_requests, "_STAN.close.test-cluster");
    assert_eq!(r.sub_close_requests, "_STAN.subclose.test-cluster");
    assert_eq!(r.ping_requests, "_STAN.discover.test-cluster.pings");
    assert_eq!((r.ping_interval, r.ping_max_out, r.protocol), (5, 88, 1));
    assert!(w.engine.has_client("a"));
}

#[test]
fn connect_refusals_have_the_exact_texts() {
    let mut w = World::default_world();
    let c = w.client("a");
    assert_eq!(w.connect_as(c, "bad id!").error, INVALID_CLIENT_ID);
    assert_eq!(w.connect_as(c, "").error, INVALID_CLIENT_ID);
    let garbage = w
        .request(
            c,
            "_STAN.discover.test-cluster",
            Bytes::from_static(b"\xff\xff\xff"),
        )
        .expect("a response");
    let r = stan_proto::ConnectResponse::decode(garbage).unwrap();
    assert_eq!(r.error, INVALID_CONN_REQ);
    // No heartbeat inbox.
    let req = stan_proto::ConnectRequest {
        client_id: "x".into(),
        ..Default::default()
    };
    let raw = w.request(c, "_STAN.discover.test-cluster", req.encode_to_vec().into());
    assert_eq!(
        stan_proto::ConnectResponse::decode(raw.unwrap())
            .unwrap()
            .error,
        INVALID_CONN_REQ
    );
    assert_eq!(w.engine.client_count(), 0);
}

#[test]
fn duplicate_id_with_a_live_client_is_refused() {
    let mut w = World::default_world();
    let _a = w.connected("a");
    let b = w.client("b");
    // The probe is answered by a's heartbeat handler at once.
    assert_eq!(w.connect_as(b, "a").error, CLIENT_ID_REGISTERED);
    assert!(w.engine.has_client("a"));
}

#[test]
fn duplicate_id_with_a_vanished_client_replaces_it_at_once() {
    let mut w = World::default_world();
    let a = w.connected("a");
    w.detach(a);
    let b = w.client("b");
    // Nobody listens on a's heartbeat inbox: no-responders answers the probe.
    let r = w.connect_as(b, "a");
    assert_eq!(r.error, "");
    assert!(w.events.iter().any(|e| matches!(e,
        ServerEvent::ClientClosed { client_id, reason: ClientCloseReason::Replaced } if client_id == "a")));
}

#[test]
fn duplicate_id_with_a_frozen_client_replaces_it_after_500ms() {
    let mut w = World::default_world();
    let a = w.connected("a");
    w.set_answer_heartbeats(a, false);
    let b = w.client("b");
    let c = w.client("c");
    assert_eq!(
        w.connect_as(b, "a").error,
        "(no response)",
        "waits for the probe"
    );
    // While the probe runs, another connect with that ID is refused.
    assert_eq!(w.connect_as(c, "a").error, CLIENT_ID_REGISTERED);
    w.advance(Duration::from_millis(499));
    assert!(w.take_pub_acks(b).is_empty());
    assert!(!w
        .events
        .iter()
        .any(|e| matches!(e, ServerEvent::ClientClosed { .. })));
    w.advance(Duration::from_millis(1));
    assert!(w.events.iter().any(|e| matches!(
        e,
        ServerEvent::ClientClosed {
            reason: ClientCloseReason::Replaced,
            ..
        }
    )));
    assert!(w.engine.has_client("a"));
    // The replaced client learns it on its next ping.
    assert_eq!(w.ping(a).unwrap().error, CLIENT_REPLACED);
}

// --- heartbeats and pings --------------------------------------------------------

#[test]
fn frozen_client_is_removed_after_hbi_plus_hbt_times_hbf_plus_one() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let ok = w.connected("ok");
    w.set_answer_heartbeats(a, false);
    // (30 s + 10 s) x (10 + 1) = 440 s.
    w.advance(secs(439));
    assert!(w.engine.has_client("a"));
    w.advance(secs(1));
    assert!(!w.engine.has_client("a"));
    assert!(w.engine.has_client("ok"), "a live client is not disturbed");
    assert!(w.heartbeats(ok) >= 14);
    let failures = w
        .events
        .iter()
        .filter(|e| matches!(e, ServerEvent::HeartbeatFailed { client_id, .. } if client_id == "a"))
        .count();
    assert_eq!(failures, 11);
}

#[test]
fn heartbeat_settings_are_honoured() {
    let mut w = World::new(ServerConfig {
        hb_interval: secs(2),
        hb_timeout: secs(1),
        hb_fail_count: 2,
        ..ServerConfig::default()
    });
    let a = w.connected("a");
    w.set_answer_heartbeats(a, false);
    w.advance(Duration::from_millis(8_999));
    assert!(w.engine.has_client("a"));
    w.advance(Duration::from_millis(1));
    assert!(!w.engine.has_client("a"), "(2 + 1) x (2 + 1) = 9 s");
}

#[test]
fn answering_heartbeats_resets_the_failure_count() {
    let mut w = World::default_world();
    let a = w.connected("a");
    w.set_answer_heartbeats(a, false);
    w.advance(secs(40 * 10));
    w.set_answer_heartbeats(a, true);
    w.advance(secs(1000));
    assert!(w.engine.has_client("a"));
}

#[test]
fn ping_from_a_failing_client_triggers_an_early_heartbeat() {
    let mut w = World::default_world();
    let a = w.connected("a");
    w.set_answer_heartbeats(a, false);
    w.advance(secs(45)); // one failure
    w.set_answer_heartbeats(a, true);
    let before = w.heartbeats(a);
    assert_eq!(w.ping(a).unwrap().error, "");
    w.advance(Duration::from_millis(1));
    assert_eq!(w.heartbeats(a), before + 1, "checked again within 1 ms");
}

#[test]
fn vanished_client_fails_heartbeats_without_waiting_the_timeout() {
    let mut w = World::default_world();
    let a = w.connected("a");
    w.detach(a);
    // No responders: each heartbeat fails at once, so 30 s x 11.
    w.advance(secs(329));
    assert!(w.engine.has_client("a"));
    w.advance(secs(1));
    assert!(!w.engine.has_client("a"));
}

#[test]
fn ping_answers() {
    let mut w = World::default_world();
    let a = w.connected("a");
    assert_eq!(w.ping(a).unwrap().error, "");
    assert_eq!(w.close(a), "");
    assert_eq!(w.ping(a).unwrap().error, CLIENT_REPLACED);
    // Empty or undecodable pings get no reply.
    assert!(w
        .request(a, "_STAN.discover.test-cluster.pings", Bytes::new())
        .is_none());
    assert!(w
        .request(
            a,
            "_STAN.discover.test-cluster.pings",
            Bytes::from_static(b"\xff")
        )
        .is_none());
}

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

// --- subscribe ---------------------------------------------------------------------

#[test]
fn every_start_position() {
    let mut w = World::default_world();
    let a = w.connected("a");
    publish_n(&mut w, a, "foo", 3);
    w.advance(secs(10));
    publish_n(&mut w, a, "foo", 2); // 4, 5 at t=10s
    let check = |w: &mut World, req: SubscriptionRequest, want: &[u64]| {
        let s = w.subscribe(a, req.clone()).expect("subscribed");
        assert_eq!(w.take_seqs(a, &s), want, "{req:?}");
        s
    };
    check(
        &mut w,
        World::sub_req("foo", StartPosition::First),
        &[1, 2, 3, 4, 5],
    );
    check(
        &mut w,
        World::sub_req("foo", StartPosition::LastReceived),
        &[5],
    );
    let new_only = check(&mut w, World::sub_req("foo", StartPosition::NewOnly), &[]);
    for (start, want) in [
        (0, &[1, 2, 3, 4, 5][..]),
        (3, &[3, 4, 5]),
        (5, &[5]),
        (6, &[]),
        (99, &[]),
    ] {
        let mut req = World::sub_req("foo", StartPosition::SequenceStart);
        req.start_sequence = start;
        check(&mut w, req, want);
    }
    // Delta 0 starts at messages stored exactly now (4 and 5, in virtual time).
    for (delta, want) in [
        (secs(5), &[4, 5][..]),
        (secs(11), &[1, 2, 3, 4, 5]),
        (Duration::ZERO, &[4, 5]),
    ] {
        let mut req = World::sub_req("foo", StartPosition::TimeDeltaStart);
        req.start_time_delta = delta.as_nanos() as i64;
        check(&mut w, req, want);
    }
    // On an empty channel.
    check(
        &mut w,
        World::sub_req("empty", StartPosition::LastReceived),
        &[],
    );
    check(&mut w, World::sub_req("empty", StartPosition::First), &[]);
    publish_n(&mut w, a, "foo", 1);
    assert_eq!(w.take_seqs(a, &new_only), [6]);
}

#[test]
fn subscription_refusals_in_order() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let base = World::sub_req("foo", StartPosition::First);
    let cases = [
        (
            SubscriptionRequest {
                client_id: "nobody".into(),
                ..base.clone()
            },
            UNKNOWN_CLIENT,
        ),
        (
            SubscriptionRequest {
                ack_wait_in_secs: -1,
                ..base.clone()
            },
            INVALID_ACK_WAIT,
        ),
        (
            SubscriptionRequest {
                max_in_flight: -1,
                ..base.clone()
            },
            INVALID_MAX_IN_FLIGHT,
        ),
        (
            SubscriptionRequest {
                start_position: 5,
                ..base.clone()
            },
            INVALID_START,
        ),
        (
            SubscriptionRequest {
                start_position: -1,
                ..base.clone()
            },
            INVALID_START,
        ),
        (
            SubscriptionRequest {
                subject: "foo.>".into(),
                ..base.clone()
            },
            INVALID_SUBJECT,
        ),
        (
            SubscriptionRequest {
                subject: "a/b".into(),
                ..base.clone()
            },
            INVALID_SUBJECT,
        ),
        (
            SubscriptionRequest {
                q_group: "g".into(),
                durable_name: "d:x".into(),
                ..base.clone()
            },
            INVALID_DURABLE_NAME,
        ),
    ];
    for (req, want) in cases {
        assert_eq!(w.subscribe(a, req.clone()), Err(want.to_owned()), "{req:?}");
    }
    let raw = w.request(a, "_STAN.sub.test-cluster", Bytes::from_static(b"\xff\xff"));
    let r = stan_proto::SubscriptionResponse::decode(raw.unwrap()).unwrap();
    assert_eq!(r.error, INVALID_SUB_REQ);
    let req = SubscriptionRequest {
        subject: "foo".into(),
        inbox: "x".into(),
        max_in_flight: 1,
        ack_wait_in_secs: 1,
        ..Default::default()
    };
    let raw = w.request(a, "_STAN.sub.test-cluster", req.encode_to_vec().into());
    assert_eq!(
        stan_proto::SubscriptionResponse::decode(raw.unwrap())
            .unwrap()
            .error,
        MISSING_CLIENT
    );
    assert_eq!(w.engine.subscription_count(), 0);
}

#[test]
fn max_in_flight_stalls_until_acks() {
    let mut w = World::default_world();
    let a = w.connected("a");
    publish_n(&mut w, a, "foo", 5);
    let mut req = World::sub_req("foo", StartPosition::First);
    req.max_in_flight = 2;
    let s = w.subscribe(a, req).unwrap();
    assert_eq!(w.take_seqs(a, &s), [1, 2]);
    w.ack(a, &s, 2);
    assert_eq!(w.take_seqs(a, &s), [3]);
    w.ack(a, &s, 2); // duplicate ack: ignored
    assert!(w.take_seqs(a, &s).is_empty());
    w.ack(a, &s, 1);
    w.ack(a, &s, 3);
    assert_eq!(w.take_seqs(a, &s), [4, 5]);
}

#[test]
fn acks_for_another_channel_are_ignored() {
    let mut w = World::default_world();
    let a = w.connected("a");
    publish_n(&mut w, a, "foo", 1);
    let s = sub_from(&mut w, a, "foo", StartPosition::First);
    w.take_seqs(a, &s);
    let wrong = SubHandle {
        channel: "bar".into(),
        ..s.clone()
    };
    w.ack(a, &wrong, 1);
    assert_eq!(w.engine.pending_of("foo")[0].2, [1]);
    w.raw_publish(a, &s.ack_inbox, None, Bytes::from_static(b"\xff"));
    w.ack(a, &s, 1);
    assert!(w.engine.pending_of("foo")[0].2.is_empty());
}

// --- redelivery ----------------------------------------------------------------------

#[test]
fn redelivery_after_ack_wait_with_counts_in_order() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let mut req = World::sub_req("foo", StartPosition::NewOnly);
    req.ack_wait_in_secs = 2;
    let s = w.subscribe(a, req).unwrap();
    publish_n(&mut w, a, "foo", 2);
    w.advance(secs(1));
    publish_n(&mut w, a, "foo", 1);
    assert_eq!(w.take_seqs(a, &s), [1, 2, 3]);
    w.ack(a, &s, 2);
    w.advance(Duration::from_millis(999));
    assert!(w.take_msgs(a, &s).is_empty());
    w.advance(Duration::from_millis(1));
    let m = w.take_msgs(a, &s);
    assert_eq!(
        m.iter()
            .map(|m| (m.sequence, m.redelivered, m.redelivery_count))
            .collect::<Vec<_>>(),
        [(1, true, 1)]
    );
    w.advance(secs(1));
    let m = w.take_msgs(a, &s);
    assert_eq!(
        m.iter()
            .map(|m| (m.sequence, m.redelivery_count))
            .collect::<Vec<_>>(),
        [(3, 1)]
    );
    w.advance(secs(1));
    let m = w.take_msgs(a, &s);
    assert_eq!(
        m.iter()
            .map(|m| (m.sequence, m.redelivery_count))
            .collect::<Vec<_>>(),
        [(1, 2)]
    );
    assert_eq!(m[0].data, Bytes::from_static(b"m1"), "same message");
    w.ack(a, &s, 1);
    w.ack(a, &s, 3);
    w.advance(secs(10));
    assert!(w.take_msgs(a, &s).is_empty());
    assert!(w.engine.poll_timeout().is_some(), "heartbeats remain");
}

#[test]
fn redeliveries_ignore_max_in_flight_and_skip_a_failing_client() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let mut req = World::sub_req("foo", StartPosition::NewOnly);
    req.ack_wait_in_secs = 1;
    req.max_in_flight = 1;
    let s = w.subscribe(a, req).unwrap();
    publish_n(&mut w, a, "foo", 2);
    assert_eq!(w.take_seqs(a, &s), [1]);
    w.advance(secs(1));
    assert_eq!(w.take_seqs(a, &s), [1]);
    w.set_answer_heartbeats(a, false);
    w.advance(secs(45)); // a heartbeat failed at 40 s
    let n = w.take_msgs(a, &s).len();
    assert!(n <= 41, "redeliveries stop while heartbeats fail ({n})");
    w.advance(secs(10));
    assert!(w.take_msgs(a, &s).is_empty());
}

// --- queue groups ----------------------------------------------------------------------

#[test]
fn queue_group_shares_messages_and_leaving_member_pending_is_redelivered() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let b = w.connected("b");
    let mut req = World::sub_req("foo", StartPosition::NewOnly);
    req.q_group = "g".into();
    req.max_in_flight = 100;
    let sa = w.subscribe(a, req.clone()).unwrap();
    let sb = w.subscribe(b, req.clone()).unwrap();
    publish_n(&mut w, a, "foo", 10);
    let ma = w.take_seqs(a, &sa);
    let mb = w.take_seqs(b, &sb);
    let mut all: Vec<u64> = ma.iter().chain(&mb).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=10).collect::<Vec<_>>(),
        "each message to exactly one member"
    );
    assert!(
        !ma.is_empty() && !mb.is_empty(),
        "fewest-unacked spreads the load"
    );
    // a leaves without acking: its messages go to b about 100 ms later.
    assert_eq!(w.unsubscribe(a, &sa, false), "");
    assert!(w.take_msgs(b, &sb).is_empty());
    w.advance(Duration::from_millis(100));
    let re = w.take_msgs(b, &sb);
    assert_eq!(re.iter().map(|m| m.sequence).collect::<Vec<_>>(), ma);
    assert!(re.iter().all(|m| m.redelivered));
    // A new member joining later starts at the group's position.
    let sa2 = w.subscribe(a, req).unwrap();
    assert!(w.take_msgs(a, &sa2).is_empty());
    publish_n(&mut w, a, "foo", 1);
    let got = w.take_seqs(a, &sa2).len() + w.take_seqs(b, &sb).len();
    assert_eq!(got, 1);
}

#[test]
fn queue_member_ack_of_reassigned_message_is_applied() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let mut req = World::sub_req("foo", StartPosition::First);
    req.q_group = "g".into();
    req.ack_wait_in_secs = 1;
    let s1 = w.subscribe(a, req.clone()).unwrap();
    publish_n(&mut w, a, "foo", 1);
    assert_eq!(w.take_seqs(a, &s1), [1]);
    let s2 = w.subscribe(a, req).unwrap();
    w.advance(secs(1));
    let redelivered: Vec<_> = w
        .take_msgs(a, &s1)
        .into_iter()
        .chain(w.take_msgs(a, &s2))
        .collect();
    assert_eq!(redelivered.len(), 1);
    assert_eq!(redelivered[0].redelivery_count, 1);
    // Acked through the first member's inbox, whoever holds it now.
    w.ack(a, &s1, 1);
    assert!(w
        .engine
        .pending_of("foo")
        .iter()
        .all(|(_, _, p)| p.is_empty()));
}

// --- durables -----------------------------------------------------------------------------

#[test]
fn durable_resumes_after_close_with_pending_first() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let mut req = World::sub_req("foo", StartPosition::First);
    req.durable_name = "dur".into();
    let s = w.subscribe(a, req.clone()).unwrap();
    publish_n(&mut w, a, "foo", 3);
    assert_eq!(w.take_seqs(a, &s), [1, 2, 3]);
    w.ack(a, &s, 1);
    w.ack(a, &s, 3);
    assert_eq!(w.subscribe(a, req.clone()), Err(DUP_DURABLE.to_owned()));
    assert_eq!(w.unsubscribe(a, &s, true), "");
    publish_n(&mut w, a, "foo", 2);
    assert!(
        w.take_msgs(a, &s).is_empty(),
        "offline durables receive nothing"
    );
    assert_eq!(w.engine.subscription_count(), 1, "kept while offline");
    req.start_position = StartPosition::NewOnly as i32; // ignored on resume
    let s2 = w.subscribe(a, req.clone()).unwrap();
    let m = w.take_msgs(a, &s2);
    assert_eq!(
        m.iter()
            .map(|m| (m.sequence, m.redelivered))
            .collect::<Vec<_>>(),
        [(2, true), (4, false), (5, false)]
    );
    // Unsubscribe deletes it: a new one with that name starts afresh.
    assert_eq!(w.unsubscribe(a, &s2, false), "");
    assert_eq!(w.engine.subscription_count(), 0);
    req.start_position = StartPosition::First as i32;
    let s3 = w.subscribe(a, req).unwrap();
    assert_eq!(w.take_seqs(a, &s3), [1, 2, 3, 4, 5]);
}

#[test]
fn durable_survives_connection_close_and_is_per_client_id() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let mut req = World::sub_req("foo", StartPosition::First);
    req.durable_name = "dur".into();
    let s = w.subscribe(a, req.clone()).unwrap();
    let plain = sub_from(&mut w, a, "foo", StartPosition::First);
    publish_n(&mut w, a, "foo", 2);
    w.ack(a, &s, 1);
    w.ack(a, &s, 2);
    let _ = (w.take_seqs(a, &s), w.take_seqs(a, &plain));
    assert_eq!(w.close(a), "");
    assert_eq!(w.engine.subscription_count(), 1, "the plain one is gone");
    let p = w.connected("p");
    publish_n(&mut w, p, "foo", 1);
    // Another client ID gets its own durable of the same name.
    let other = w.subscribe(p, req.clone()).unwrap();
    assert_eq!(w.take_seqs(p, &other), [1, 2, 3]);
    let a2 = w.client("a2");
    assert_eq!(w.connect_as(a2, "a").error, "");
    let s2 = w.subscribe(a2, req).unwrap();
    assert_eq!(w.take_seqs(a2, &s2), [3]);
}

#[test]
fn durable_queue_group_survives_its_last_member_closing() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let mut req = World::sub_req("foo", StartPosition::First);
    req.durable_name = "dur".into();
    req.q_group = "g".into();
    let s = w.subscribe(a, req.clone()).unwrap();
    publish_n(&mut w, a, "foo", 3);
    assert_eq!(w.take_seqs(a, &s), [1, 2, 3]);
    w.ack(a, &s, 1);
    assert_eq!(w.unsubscribe(a, &s, true), "");
    assert_eq!(w.engine.subscription_count(), 1, "the shadow");
    publish_n(&mut w, a, "foo", 1);
    // Any client may resume the group; pending first, then new.
    let b = w.connected("b");
    let sb = w.subscribe(b, req.clone()).unwrap();
    let m = w.take_msgs(b, &sb);
    assert_eq!(
        m.iter()
            .map(|m| (m.sequence, m.redelivered))
            .collect::<Vec<_>>(),
        [(2, true), (3, true), (4, false)]
    );
    // Unsubscribing the last member destroys it.
    assert_eq!(w.unsubscribe(b, &sb, false), "");
    assert_eq!(w.engine.subscription_count(), 0);
    let sb2 = w.subscribe(b, req).unwrap();
    assert_eq!(w.take_seqs(b, &sb2), [1, 2, 3, 4]);
    // Durable and plain groups of the same name coexist.
    let mut plain = World::sub_req("foo", StartPosition::First);
    plain.q_group = "g".into();
    let sp = w.subscribe(b, plain).unwrap();
    assert_eq!(w.take_seqs(b, &sp), [1, 2, 3, 4]);
}

// --- unsubscribe / close ------------------------------------------------------------------------

#[test]
fn unsubscribe_refusals() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let b = w.connected("b");
    let s = sub_from(&mut w, a, "foo", StartPosition::NewOnly);
    let nochan = SubHandle {
        channel: "nope".into(),
        ..s.clone()
    };
    assert_eq!(w.unsubscribe(a, &nochan, false), UNKNOWN_CHANNEL);
    let nosub = SubHandle {
        ack_inbox: "_INBOX.none".into(),
        ..s.clone()
    };
    assert_eq!(w.unsubscribe(a, &nosub, false), INVALID_SUB);
    assert_eq!(w.unsubscribe(b, &s, false), UNKNOWN_CLIENT);
    let raw = w.request(a, "_STAN.unsub.test-cluster", Bytes::from_static(b"\xff"));
    let r = stan_proto::SubscriptionResponse::decode(raw.unwrap()).unwrap();
    assert_eq!(r.error, INVALID_UNSUB_REQ);
    // The delivery inbox works too (the clean-up path after a timeout).
    let by_inbox = SubHandle {
        ack_inbox: s.inbox.clone(),
        ..s.clone()
    };
    assert_eq!(w.unsubscribe(a, &by_inbox, false), "");
    assert_eq!(w.unsubscribe(a, &s, false), INVALID_SUB);
}

#[test]
fn close_refusals() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let raw = w.request(a, "_STAN.close.test-cluster", Bytes::from_static(b"\xff"));
    let r = stan_proto::CloseResponse::decode(raw.unwrap()).unwrap();
    assert_eq!(r.error, INVALID_CLOSE_REQ);
    assert_eq!(w.close(a), "");
    assert_eq!(w.close(a), UNKNOWN_CLIENT);
}

#[test]
fn closed_client_loses_its_plain_subscriptions_and_timers() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let mut req = World::sub_req("foo", StartPosition::First);
    req.ack_wait_in_secs = 1;
    let s = w.subscribe(a, req).unwrap();
    publish_n(&mut w, a, "foo", 1);
    w.take_seqs(a, &s);
    assert_eq!(w.close(a), "");
    assert_eq!(w.engine.subscription_count(), 0);
    assert_eq!(
        w.engine.armed_timers(),
        0,
        "no heartbeat or redelivery left"
    );
    w.advance(secs(5));
    assert!(w.take_msgs(a, &s).is_empty());
}

// --- limits ---------------------------------------------------------------------------------------

fn limited(channel: ChannelLimits) -> World {
    World::new(ServerConfig {
        limits: StoreLimits {
            max_channels: 100,
            channel,
            per_channel: Vec::new(),
        },
        ..ServerConfig::default()
    })
}

#[test]
fn max_msgs_drops_old_messages_and_pending_ones_are_skipped() {
    let mut w = limited(ChannelLimits {
        max_msgs: 3,
        ..ChannelLimits::default()
    });
    let a = w.connected("a");
    let mut req = World::sub_req("foo", StartPosition::First);
    req.ack_wait_in_secs = 1;
    let slow = w.subscribe(a, req).unwrap();
    publish_n(&mut w, a, "foo", 2);
    assert_eq!(w.take_seqs(a, &slow), [1, 2]);
    publish_n(&mut w, a, "foo", 3);
    assert_eq!(w.take_seqs(a, &slow), [3, 4, 5]);
    let late = sub_from(&mut w, a, "foo", StartPosition::First);
    assert_eq!(w.take_seqs(a, &late), [3, 4, 5]);
    // 1 and 2 are gone: acked implicitly, only 3..5 come again.
    w.advance(secs(1));
    assert_eq!(w.take_seqs(a, &slow), [3, 4, 5]);
    assert_eq!(w.engine.pending_of("foo")[0].2, [3, 4, 5]);
}

#[test]
fn max_subs_counts_offline_durables() {
    let mut w = limited(ChannelLimits {
        max_subs: 2,
        ..ChannelLimits::default()
    });
    let a = w.connected("a");
    let mut req = World::sub_req("foo", StartPosition::First);
    req.durable_name = "d".into();
    let d = w.subscribe(a, req.clone()).unwrap();
    assert_eq!(w.unsubscribe(a, &d, true), "");
    let _p = sub_from(&mut w, a, "foo", StartPosition::First);
    assert_eq!(
        w.subscribe(a, World::sub_req("foo", StartPosition::First)),
        Err(TOO_MANY_SUBS.to_owned())
    );
    assert!(w.subscribe(a, req).is_ok(), "resuming does not add one");
}

#[test]
fn max_age_expires_messages() {
    let mut w = limited(ChannelLimits {
        max_age: secs(10),
        ..ChannelLimits::default()
    });
    let a = w.connected("a");
    publish_n(&mut w, a, "foo", 2);
    w.advance(secs(5));
    publish_n(&mut w, a, "foo", 1);
    w.advance(secs(5));
    let s = sub_from(&mut w, a, "foo", StartPosition::First);
    assert_eq!(w.take_seqs(a, &s), [3]);
    w.advance(secs(5));
    let s = sub_from(&mut w, a, "foo", StartPosition::First);
    assert!(w.take_seqs(a, &s).is_empty());
    publish_n(&mut w, a, "foo", 1);
    assert_eq!(w.take_seqs(a, &s), [4], "sequences continue");
}

#[test]
fn max_inactivity_deletes_idle_channels_with_offline_durables() {
    let mut w = limited(ChannelLimits {
        max_inactivity: secs(60),
        ..ChannelLimits::default()
    });
    let a = w.connected("a");
    publish_n(&mut w, a, "idle", 1);
    publish_n(&mut w, a, "busy", 1);
    let s = sub_from(&mut w, a, "busy", StartPosition::First);
    let mut req = World::sub_req("idle", StartPosition::First);
    req.durable_name = "d".into();
    let d = w.subscribe(a, req).unwrap();
    w.advance(secs(30));
    assert_eq!(w.unsubscribe(a, &d, true), "", "offline durable");
    w.advance(secs(59));
    assert_eq!(w.engine.channel_count(), 2);
    w.advance(secs(1));
    assert_eq!(
        w.engine.channel_count(),
        1,
        "idle deleted 60 s after its last active sub left"
    );
    assert_eq!(w.engine.subscription_count(), 1);
    assert!(w
        .events
        .iter()
        .any(|e| matches!(e, ServerEvent::ChannelDeleted { channel } if channel == "idle")));
    // The busy one has an active subscription; once it leaves, the clock starts.
    w.advance(secs(600));
    assert_eq!(w.engine.channel_count(), 1);
    assert_eq!(w.unsubscribe(a, &s, false), "");
    w.advance(secs(60));
    assert_eq!(w.engine.channel_count(), 0);
    // A deleted channel starts again from 1.
    publish_n(&mut w, a, "idle", 1);
    let s = sub_from(&mut w, a, "idle", StartPosition::First);
    assert_eq!(w.take_seqs(a, &s), [1]);
}

#[test]
fn per_channel_limits_inherit_from_wider_patterns() {
    let limits = StoreLimits {
        max_channels: 0,
        channel: ChannelLimits {
            max_msgs: 100,
            max_subs: 7,
            ..ChannelLimits::default()
        },
        per_channel: vec![
            (
                "foo.>".into(),
                LimitsOverride {
                    max_msgs: Some(5),
                    ..Default::default()
                },
            ),
            (
                "foo.*".into(),
                LimitsOverride {
                    max_subs: Some(3),
                    ..Default::default()
                },
            ),
            (
                "foo.bar".into(),
                LimitsOverride {
                    max_msgs: Some(2),
                    ..Default::default()
                },
            ),
        ],
    };
    let l = limits.for_channel("foo.bar");
    assert_eq!((l.max_msgs, l.max_subs), (2, 3));
    let l = limits.for_channel("foo.baz");
    assert_eq!((l.max_msgs, l.max_subs), (5, 3));
    let l = limits.for_channel("foo.a.b");
    assert_eq!((l.max_msgs, l.max_subs), (5, 7));
    let l = limits.for_channel("other");
    assert_eq!((l.max_msgs, l.max_subs), (100, 7));
    let mut w = World::new(ServerConfig {
        limits,
        ..ServerConfig::default()
    });
    let a = w.connected("a");
    publish_n(&mut w, a, "foo.bar", 4);
    let s = sub_from(&mut w, a, "foo.bar", StartPosition::First);
    assert_eq!(w.take_seqs(a, &s), [3, 4]);
}

#[test]
fn trace_events_when_enabled() {
    let mut w = World::new(ServerConfig {
        trace: true,
        ..ServerConfig::default()
    });
    let _a = w.connected("a");
    let traced: Vec<_> = w
        .events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Trace {
                direction, subject, ..
            } => Some((*direction, subject.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(traced[0], ("<-", "_STAN.discover.test-cluster".to_string()));
    assert_eq!(traced[1], ("->", "_INBOX.a.1".to_string()));
    let mut quiet = World::default_world();
    quiet.connected("a");
    assert!(!quiet
        .events
        .iter()
        .any(|e| matches!(e, ServerEvent::Trace { .. })));
}

// --- typed refusals and huge durations ----------------------------------------

#[test]
fn refusals_display_the_exact_wire_texts() {
    for (refusal, text) in [
        (Refusal::InvalidConnRequest, "stan: invalid connection request"),
        (
            Refusal::InvalidClientId,
            "stan: invalid clientID: only alphanumeric and `-` or `_` characters allowed",
        ),
        (Refusal::ClientIdRegistered, "stan: clientID already registered"),
        (Refusal::InvalidPubRequest, "stan: invalid publish request"),
        (Refusal::InvalidSubRequest, "stan: invalid subscription request"),
        (Refusal::MissingClient, "stan: clientID missing"),
        (
            Refusal::InvalidAckWait,
            "stan: invalid ack wait time, should be >= 1s",
        ),
        (
            Refusal::InvalidMaxInFlight,
            "stan: invalid MaxInflight, should be >= 1",
        ),
        (Refusal::InvalidStart, "stan: invalid start position"),
        (Refusal::InvalidSubject, "stan: invalid subject"),
        (Refusal::UnknownClient, "stan: unknown clientID"),
        (
            Refusal::InvalidDurableName,
            "stan: durable name of a durable queue subscriber can't contain the character ':'",
        ),
        (Refusal::DuplicateDurable, "stan: duplicate durable registration"),
        (Refusal::InvalidUnsubRequest, "stan: invalid unsubscribe request"),
        (Refusal::UnknownChannel, "stan: unknown channel"),
        (Refusal::InvalidSubscription, "stan: invalid subscription"),
        (Refusal::InvalidCloseRequest, "stan: invalid close request"),
        (Refusal::TooManySubs, "too many subscriptions per channel"),
        (
            Refusal::ClientReplaced,
            "client has been replaced or is no longer registered",
        ),
        (
            Refusal::ChannelCaseCollision {
                channel: "foo".into(),
                existing: "Foo".into(),
            },
            "rejecting channel \"foo\" because channel \"Foo\" alreay exists (different cases not allowed)",
        ),
        (
            Refusal::Store(crate::stan::store::StoreError::TooManyChannels),
            "too many channels",
        ),
    ] {
        assert_eq!(refusal.to_string(), text, "{refusal:?}");
    }
}

#[test]
fn refused_events_carry_the_typed_refusal() {
    let mut w = World::default_world();
    let a = w.connected("a");
    assert_eq!(w.publish_sync(a, "Foo", b"x"), "");
    w.events.clear();
    assert_ne!(w.publish_sync(a, "foo", b"x"), "");
    assert!(w.events.contains(&ServerEvent::Refused {
        request: "publish",
        error: Refusal::ChannelCaseCollision {
            channel: "foo".into(),
            existing: "Foo".into(),
        },
    }));
    let req = World::sub_req("foo.>", StartPosition::First);
    assert_eq!(w.subscribe(a, req), Err(INVALID_SUBJECT.to_owned()));
    assert!(w.events.contains(&ServerEvent::Refused {
        request: "subscribe",
        error: Refusal::InvalidSubject,
    }));
}

#[test]
fn huge_configured_durations_saturate_instead_of_overflowing() {
    let year = secs(365 * 24 * 3600);
    let mut w = World::new(ServerConfig {
        hb_interval: Duration::MAX,
        hb_timeout: Duration::MAX,
        limits: StoreLimits {
            channel: ChannelLimits {
                max_age: Duration::MAX,
                max_inactivity: Duration::MAX,
                ..ChannelLimits::default()
            },
            ..StoreLimits::default()
        },
        ..ServerConfig::default()
    });
    let a = w.connected("a");
    publish_n(&mut w, a, "foo", 3);
    // The longest ack wait a client can ask for (i32::MAX seconds).
    let mut req = World::sub_req("foo", StartPosition::First);
    req.ack_wait_in_secs = i32::MAX;
    let s = w.subscribe(a, req).expect("subscribed");
    assert_eq!(w.take_seqs(a, &s), [1, 2, 3]);
    // Heartbeat, max-age, inactivity and redelivery deadlines are all far
    // out, none overflowed.
    let next = w.engine.poll_timeout().expect("deadlines armed");
    assert!(next > w.now + year, "{:?}", next - w.now);
    w.advance(secs(3600));
    assert!(w.take_seqs(a, &s).is_empty());
    assert!(w.engine.has_client("a"));
    // A channel created later, a subscription leaving it, a duplicate
    // connect: more deadlines from the same huge settings.
    let b = w.connected("b");
    let t = sub_from(&mut w, b, "bar", StartPosition::NewOnly);
    assert_eq!(w.unsubscribe(b, &t, false), "");
    let c = w.client("dup");
    assert_eq!(w.connect_as(c, "a").error, CLIENT_ID_REGISTERED);
    w.advance(secs(3600));
    assert!(w.engine.has_client("a") && w.engine.has_client("b"));
}
