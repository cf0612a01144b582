//! Store limits (messages, subscriptions, age, inactivity, per channel)
//! and trace events.

use super::*;

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
