//! Monitoring snapshots of the engine.

use super::*;

#[test]
fn snapshot_shows_channels_clients_and_subscription_state() {
    let mut w = World::default_world();
    let a = w.connected("alice");
    let b = w.connected("bob");
    let mut billing = World::sub_req("orders", StartPosition::First);
    billing.durable_name = "billing".into();
    billing.max_in_flight = 2;
    billing.ack_wait_in_secs = 60;
    let s = w.subscribe(a, billing).unwrap();
    let mut dq = World::sub_req("orders", StartPosition::First);
    dq.q_group = "workers".into();
    dq.durable_name = "dq".into();
    let q = w.subscribe(b, dq).unwrap();
    publish_n(&mut w, a, "orders", 3);
    publish_n(&mut w, a, "audit", 1);
    assert_eq!(w.take_seqs(a, &s), [1, 2], "max in flight 2");
    assert_eq!(w.take_seqs(b, &q), [1, 2, 3]);
    for seq in 1..=3 {
        w.ack(b, &q, seq);
    }
    // bob's member leaves: the durable group is kept as its shadow.
    assert_eq!(w.unsubscribe(b, &q, true), "");

    let light = w.engine.snapshot(w.now, EngineSnapshotOptions::default());
    assert_eq!(light.state, "STANDALONE");
    assert_eq!(light.store_kind, "MEMORY");
    let names: Vec<&str> = light.channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["audit", "orders"], "sorted");
    let orders = &light.channels[1];
    assert_eq!(
        (
            orders.msgs,
            orders.first_seq,
            orders.last_seq,
            orders.subs_count
        ),
        (3, 1, 3, 2)
    );
    assert!(orders.bytes > 0 && orders.subscriptions.is_empty());
    assert_eq!((light.total_msgs(), light.subscription_count), (4, 2));
    assert_eq!((light.stats.in_msgs, light.stats.out_msgs), (4, 5));
    let clients: Vec<(&str, usize)> = light
        .clients
        .iter()
        .map(|c| (c.id.as_str(), c.subs_count))
        .collect();
    assert_eq!(clients, [("alice", 1), ("bob", 0)]);
    assert!(light.now_unix_ns >= light.start_unix_ns);

    let full = w.engine.snapshot(
        w.now,
        EngineSnapshotOptions {
            subscriptions: true,
            ..EngineSnapshotOptions::default()
        },
    );
    let subs = &full.channels[1].subscriptions;
    assert_eq!(subs.len(), 2, "{subs:?}");
    let d = &subs[0];
    assert_eq!(
        (
            d.client_id.as_str(),
            d.durable_name.as_str(),
            d.queue_name.as_str()
        ),
        ("alice", "billing", "")
    );
    assert!(d.is_durable && !d.is_offline && d.is_stalled);
    assert_eq!(
        (d.max_inflight, d.ack_wait, d.last_sent, d.pending_count),
        (2, secs(60), 2, 2)
    );
    let shadow = &subs[1];
    assert_eq!(
        (shadow.durable_name.as_str(), shadow.queue_name.as_str()),
        ("", "dq:workers"),
        "a durable queue group shows as the Go server shows it"
    );
    assert!(shadow.is_durable && shadow.is_offline && !shadow.is_stalled);
    assert_eq!((shadow.last_sent, shadow.pending_count), (3, 0));
    assert_eq!(full.next, None);
}

/// What a full snapshot of 10,000 subscriptions costs the loop (figures,
/// not a check): `cargo test --release -p stan-core --lib snapshot_cost --
/// --ignored --nocapture`.
#[test]
#[ignore]
fn snapshot_cost_of_10k_subscriptions() {
    let mut w = World::new(ServerConfig {
        limits: StoreLimits {
            max_channels: 0,
            channel: ChannelLimits {
                max_subs: 0,
                ..ChannelLimits::default()
            },
            ..StoreLimits::default()
        },
        ..ServerConfig::default()
    });
    let clients: Vec<C> = (0..10).map(|i| w.connected(&format!("c{i}"))).collect();
    for ch in 0..100 {
        for (i, c) in clients.iter().enumerate() {
            for d in 0..10 {
                let mut req = World::sub_req(&format!("chan.{ch}"), StartPosition::NewOnly);
                if d % 2 == 0 {
                    req.durable_name = format!("d{i}-{d}");
                }
                w.subscribe(*c, req).unwrap();
            }
        }
    }
    assert_eq!(w.engine.subscription_count(), 10_000);
    for (subscriptions, max_items) in [(false, 0), (true, 0), (true, 1000)] {
        let mut best = std::time::Duration::MAX;
        for _ in 0..20 {
            let t = std::time::Instant::now();
            let s = w.engine.snapshot(
                w.now,
                EngineSnapshotOptions {
                    subscriptions,
                    max_items,
                    from: None,
                },
            );
            best = best.min(t.elapsed());
            std::hint::black_box(s);
        }
        println!(
            "engine snapshot, subscriptions {subscriptions}, max_items {max_items}: best {best:?}"
        );
    }
    for (subscriptions, max_items) in [(false, 0), (true, 0), (true, 1000)] {
        let mut best = std::time::Duration::MAX;
        for _ in 0..20 {
            let t = std::time::Instant::now();
            let s = w.router.snapshot(crate::nats::router::SnapshotOptions {
                subscriptions,
                max_items,
                from: None,
            });
            best = best.min(t.elapsed());
            std::hint::black_box(s);
        }
        println!(
            "router snapshot, subscriptions {subscriptions}, max_items {max_items}: best {best:?}"
        );
    }
}

#[test]
fn pages_list_every_channel_and_subscription_once() {
    let mut w = World::default_world();
    let a = w.connected("a");
    let b = w.connected("b");
    for ch in ["c1", "c2", "c3"] {
        publish_n(&mut w, a, ch, 1);
    }
    for (c, n) in [(a, 3), (b, 2)] {
        for i in 0..n {
            let mut req =
                World::sub_req(if i % 2 == 0 { "c1" } else { "c3" }, StartPosition::First);
            req.q_group = if c == b {
                format!("g{i}")
            } else {
                String::new()
            };
            w.subscribe(c, req).unwrap();
        }
    }
    let opts = |max_items, from| EngineSnapshotOptions {
        subscriptions: true,
        max_items,
        from,
    };
    let whole = w.engine.snapshot(w.now, opts(0, None));
    let count = |s: &EngineSnapshot| {
        s.channels
            .iter()
            .map(|c| c.subscriptions.len())
            .sum::<usize>()
    };
    assert_eq!((whole.channels.len(), count(&whole)), (3, 5));
    for max_items in 1..=9 {
        let mut merged: Vec<ChannelSnapshot> = Vec::new();
        let (mut from, mut pages) = (None, 0);
        loop {
            let page = w.engine.snapshot(w.now, opts(max_items, from));
            assert_eq!(
                page.clients.is_empty(),
                pages > 0,
                "clients on the first page"
            );
            for ch in page.channels {
                match merged.last_mut() {
                    Some(last) if last.name == ch.name => {
                        last.subscriptions.extend(ch.subscriptions)
                    }
                    _ => merged.push(ch),
                }
            }
            pages += 1;
            assert!(pages <= 9, "every page makes progress");
            match page.next {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        assert_eq!(merged, whole.channels, "max_items {max_items}");
    }
}
