//! Subscriptions of every kind: start positions, refusals, max in flight,
//! redelivery, queue groups, durables, unsubscribe and close.

use super::*;

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
fn active_durable_registered_again_is_refused_by_default() {
    let mut w = World::default_world();
    assert!(!w.engine.config().replace_durable, "off by default");
    let a = w.connected("a");
    let mut req = World::sub_req("foo", StartPosition::First);
    req.durable_name = "dur".into();
    let s = w.subscribe(a, req.clone()).unwrap();
    publish_n(&mut w, a, "foo", 1);
    assert_eq!(w.take_seqs(a, &s), [1]);
    w.events.clear();
    assert_eq!(
        w.subscribe(a, req),
        Err("stan: duplicate durable registration".to_owned())
    );
    assert!(w.events.contains(&ServerEvent::Refused {
        request: "subscribe",
        error: Refusal::DuplicateDurable,
    }));
    assert!(
        !w.events
            .iter()
            .any(|e| matches!(e, ServerEvent::Unsubscribed { .. })),
        "the active one is left alone"
    );
    assert_eq!(w.engine.subscription_count(), 1);
    publish_n(&mut w, a, "foo", 1);
    assert_eq!(w.take_seqs(a, &s), [2], "it keeps receiving");
}

#[test]
fn replace_durable_closes_the_active_one_and_resumes_for_the_new() {
    let mut w = World::new(ServerConfig {
        replace_durable: true,
        ..ServerConfig::default()
    });
    let a = w.connected("a");
    let mut req = World::sub_req("foo", StartPosition::First);
    req.durable_name = "dur".into();
    let old = w.subscribe(a, req.clone()).unwrap();
    let other = sub_from(&mut w, a, "bar", StartPosition::First);
    publish_n(&mut w, a, "foo", 3);
    assert_eq!(w.take_seqs(a, &old), [1, 2, 3]);
    w.ack(a, &old, 2);
    w.events.clear();
    // Settings of the new request apply; its start position is ignored (a
    // resume).
    req.start_position = StartPosition::NewOnly as i32;
    req.max_in_flight = 10;
    let new = w.subscribe(a, req.clone()).expect("replaced, not refused");
    assert_ne!(new.inbox, old.inbox);
    assert_ne!(new.ack_inbox, old.ack_inbox);
    // The log shows the old one closed (kept as a durable), then the new one.
    let log: Vec<&ServerEvent> = w
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                ServerEvent::Unsubscribed { .. } | ServerEvent::Subscribed { .. }
            )
        })
        .collect();
    assert_eq!(
        log,
        [
            &ServerEvent::Unsubscribed {
                client_id: "a".into(),
                channel: "foo".into(),
                closed: true,
            },
            &ServerEvent::Subscribed {
                client_id: "a".into(),
                channel: "foo".into(),
                inbox: new.inbox.clone(),
                durable: "dur".into(),
                queue: String::new(),
            },
        ]
    );
    assert!(!w
        .events
        .iter()
        .any(|e| matches!(e, ServerEvent::Refused { .. })));
    // The old one's unacked messages go to the new one first, redelivered.
    let first = w.take_msgs(a, &new);
    assert_eq!(
        first
            .iter()
            .map(|m| (m.sequence, m.redelivered))
            .collect::<Vec<_>>(),
        [(1, true), (3, true)]
    );
    assert_eq!(w.engine.subscription_count(), 2, "the durable and `bar`");
    // Then new messages, to the new inbox only; sequences continue.
    publish_n(&mut w, a, "foo", 2);
    let next = w.take_msgs(a, &new);
    assert_eq!(
        next.iter()
            .map(|m| (m.sequence, m.redelivered))
            .collect::<Vec<_>>(),
        [(4, false), (5, false)]
    );
    assert!(
        w.take_msgs(a, &old).is_empty(),
        "the old inbox gets nothing"
    );
    // Acks go through the new ack inbox; nothing is redelivered after that.
    for seq in [1, 3, 4, 5] {
        w.ack(a, &new, seq);
    }
    w.advance(secs(60));
    assert!(w.take_msgs(a, &new).is_empty(), "all acked");
    assert!(w.take_msgs(a, &old).is_empty());
    // The client keeps its connection and its other subscription.
    publish_n(&mut w, a, "bar", 1);
    assert_eq!(w.take_seqs(a, &other), [1]);
    // The old handle no longer names a subscription; the new one does.
    assert_eq!(w.unsubscribe(a, &old, true), "stan: invalid subscription");
    assert_eq!(w.unsubscribe(a, &new, true), "");
    assert_eq!(w.engine.subscription_count(), 2, "closed, kept offline");
}

#[test]
fn replace_durable_leaves_offline_durables_and_queue_groups_as_they_were() {
    let mut w = World::new(ServerConfig {
        replace_durable: true,
        ..ServerConfig::default()
    });
    let a = w.connected("a");
    // An offline durable simply resumes.
    let mut req = World::sub_req("foo", StartPosition::First);
    req.durable_name = "dur".into();
    let s = w.subscribe(a, req.clone()).unwrap();
    publish_n(&mut w, a, "foo", 1);
    assert_eq!(w.take_seqs(a, &s), [1]);
    assert_eq!(w.unsubscribe(a, &s, true), "");
    w.events.clear();
    let s2 = w.subscribe(a, req).unwrap();
    assert!(!w
        .events
        .iter()
        .any(|e| matches!(e, ServerEvent::Unsubscribed { .. })));
    let m = w.take_msgs(a, &s2);
    assert_eq!((m.len(), m[0].sequence, m[0].redelivered), (1, 1, true));
    // A second member of a durable queue group joins it: nothing replaced.
    let mut q = World::sub_req("foo", StartPosition::NewOnly);
    q.durable_name = "qdur".into();
    q.q_group = "g".into();
    let m1 = w.subscribe(a, q.clone()).unwrap();
    w.events.clear();
    let m2 = w.subscribe(a, q).unwrap();
    assert!(!w
        .events
        .iter()
        .any(|e| matches!(e, ServerEvent::Unsubscribed { .. })));
    assert_eq!(w.engine.subscription_count(), 3);
    publish_n(&mut w, a, "foo", 2);
    let (n1, n2) = (w.take_msgs(a, &m1).len(), w.take_msgs(a, &m2).len());
    assert_eq!((n1, n2), (1, 1), "both members still share the group");
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
