//! Connect (client-ID rules, duplicate IDs), heartbeats and pings.

use super::*;

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
