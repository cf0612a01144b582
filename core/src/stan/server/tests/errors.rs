//! Typed refusals with their exact wire texts, and configured durations
//! too large to add to an instant.

use super::*;

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
