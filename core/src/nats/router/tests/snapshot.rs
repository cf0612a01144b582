//! Monitoring snapshots of the router, on the virtual clock.

use std::time::Duration;

use super::*;

#[test]
fn snapshot_counts_sessions_subscriptions_traffic_and_rtt() {
    let mut w = world(RouterConfig::default());
    let s = w.peer_connected(QUIET);
    let p = w.peer_connected(QUIET);
    w.send(s, "SUB foo 1\r\nSUB foo.* 2\r\nSUB foo q 3\r\n");
    w.send(
        p,
        "PUB foo 2\r\nhi\r\nPUB foo 2\r\nho\r\nPUB foo.x 1\r\nz\r\n",
    );
    assert_eq!(msgs(&w.read(s)).len(), 5);

    let light = w.router.snapshot(SnapshotOptions::default());
    assert_eq!(light.connections.len(), 2);
    assert!(light.subscriptions_list.is_empty(), "not asked for");
    let sc = w.router.client_id(s).unwrap();
    let conn = light.connections.iter().find(|c| c.cid == sc).unwrap();
    assert_eq!((conn.subscriptions, conn.stats.out_msgs), (3, 5));
    assert!(!conn.in_process && conn.peer.starts_with("127.0.0.1:"));
    assert_eq!(conn.rtt, None, "no PING answered yet");
    assert_eq!(light.stats.in_msgs, 3);
    assert_eq!(light.stats.out_msgs, 5);
    let l = light.sublist;
    assert_eq!(
        (l.num_subscriptions, l.num_inserts, l.num_removes),
        (3, 3, 0)
    );
    assert_eq!(l.num_matches, 3);
    // `foo` twice (one miss, one hit), `foo.x` once (a miss).
    assert!((l.cache_hit_rate - 1.0 / 3.0).abs() < 1e-9, "{l:?}");
    assert_eq!((l.num_cache, l.max_fanout), (2, 2));
    assert!((l.avg_fanout - 1.5).abs() < 1e-9, "{l:?}");

    // The RTT probe: the first PING, answered 7 ms later (virtual time).
    let mut waited = Duration::ZERO;
    while !w.read(s).contains(&ServerOp::Ping) {
        assert!(waited < Duration::from_secs(3), "no PING");
        w.advance(Duration::from_millis(1));
        waited += Duration::from_millis(1);
    }
    w.advance(Duration::from_millis(7));
    w.send(s, "PONG\r\nUNSUB 2\r\n");
    let full = w.router.snapshot(SnapshotOptions {
        subscriptions: true,
        ..SnapshotOptions::default()
    });
    let conn = full.connections.iter().find(|c| c.cid == sc).unwrap();
    assert_eq!(conn.rtt, Some(Duration::from_millis(7)));
    assert_eq!(full.sublist.num_removes, 1);
    let subs: Vec<(&str, Option<&str>, &str, u64)> = full
        .subscriptions_list
        .iter()
        .map(|s| {
            (
                s.subject.as_str(),
                s.queue.as_deref(),
                s.sid.as_str(),
                s.msgs,
            )
        })
        .collect();
    assert_eq!(
        subs,
        [("foo", None, "1", 2), ("foo", Some("q"), "3", 2)],
        "by key"
    );
    assert!(full.subscriptions_list.iter().all(|x| x.cid == sc));
    assert_eq!(full.taken_at, w.now);
    assert!(full.started_at <= full.taken_at);
}

#[test]
fn pages_list_everything_once_whatever_their_size() {
    let mut w = world(RouterConfig::default());
    let peers: Vec<ConnId> = (0..4).map(|_| w.peer_connected(QUIET)).collect();
    for (i, p) in peers.iter().enumerate() {
        let subs: String = (0..=i).map(|n| format!("SUB s.{i}.{n} {n}\r\n")).collect();
        w.send(*p, &subs);
    }
    let whole = w.router.snapshot(SnapshotOptions {
        subscriptions: true,
        ..SnapshotOptions::default()
    });
    assert_eq!(
        (whole.connections.len(), whole.subscriptions_list.len()),
        (4, 10)
    );
    assert_eq!(whole.next, None);
    for max_items in 1..=15 {
        let (mut conns, mut subs, mut from, mut pages) = (Vec::new(), Vec::new(), None, 0);
        loop {
            let page = w.router.snapshot(SnapshotOptions {
                subscriptions: true,
                max_items,
                from,
            });
            assert!(page.connections.len() + page.subscriptions_list.len() <= max_items);
            conns.extend(page.connections);
            subs.extend(page.subscriptions_list);
            pages += 1;
            assert!(pages <= 14, "every page makes progress");
            match page.next {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        assert_eq!(conns, whole.connections, "max_items {max_items}");
        assert_eq!(subs, whole.subscriptions_list, "max_items {max_items}");
    }
}
