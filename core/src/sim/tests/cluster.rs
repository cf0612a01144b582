//! Routes between routers, in virtual time (docs/routes.md).

use std::time::Duration;

use crate::nats::codec::DecodeError;
use crate::nats::router::{CloseReason, RouterEvent};
use crate::nats::ServerOp;
use crate::sim::cluster::{ClusterWorld, P};

fn publish(w: &mut ClusterWorld, p: P, subject: &str, payload: &str) {
    w.send(
        p,
        &format!("PUB {subject} {}\r\n{payload}\r\n", payload.len()),
    );
}

fn publisher(w: &mut ClusterWorld, node: usize) -> P {
    w.subscriber(node, &[])
}

fn closes(w: &ClusterWorld, node: usize) -> Vec<CloseReason> {
    w.nodes[node]
        .events
        .iter()
        .filter_map(|e| match e {
            RouterEvent::SessionClosed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn two_nodes_route_messages_both_ways() {
    let mut w = ClusterWorld::new(2, |i| if i == 0 { vec![1] } else { vec![] });
    w.settle();
    assert!(w.is_full_mesh());
    let sub_b = w.subscriber(1, &[("foo.*", None)]);
    let sub_a = w.subscriber(0, &[("foo.bar", None)]);
    let pub_a = publisher(&mut w, 0);
    publish(&mut w, pub_a, "foo.bar", "one");
    w.settle();
    assert_eq!(w.msgs(sub_b), vec![("foo.bar".into(), "one".into())]);
    assert_eq!(w.msgs(sub_a), vec![("foo.bar".into(), "one".into())]);
    let pub_b = publisher(&mut w, 1);
    publish(&mut w, pub_b, "foo.bar", "two");
    w.settle();
    assert_eq!(w.msgs(sub_a), vec![("foo.bar".into(), "two".into())]);
    assert_eq!(w.msgs(sub_b), vec![("foo.bar".into(), "two".into())]);
}

#[test]
fn wildcards_and_headers_cross_nodes_once_per_route() {
    let mut w = ClusterWorld::new(2, |i| if i == 0 { vec![1] } else { vec![] });
    w.settle();
    // Three matching subscriptions on B: one RMSG crosses, three MSGs out.
    let sub = w.subscriber(1, &[(">", None), ("a.*.c", None), ("a.b.c", None)]);
    let p = publisher(&mut w, 0);
    let before = w.nodes[0].router.stats().out_msgs;
    publish(&mut w, p, "a.b.c", "x");
    w.send(p, "HPUB a.b.c 18 19\r\nNATS/1.0\r\nK: v\r\n\r\ny\r\n");
    w.settle();
    let ops = w.ops(sub);
    let msgs: Vec<_> = ops
        .iter()
        .filter_map(|op| match op {
            ServerOp::Msg(m) => Some((m.sid().to_vec(), m.headers().map(<[u8]>::to_vec))),
            _ => None,
        })
        .collect();
    assert_eq!(msgs.len(), 6, "{ops:?}");
    assert!(msgs
        .iter()
        .any(|(_, h)| h.as_deref() == Some(&b"NATS/1.0\r\nK: v\r\n\r\n"[..])));
    let route = &w.nodes[0].router.routes()[0];
    let stats = w.nodes[0].router.session_stats(route.conn).unwrap();
    assert_eq!(stats.out_msgs, 2, "one RMSG per message per route");
    assert_eq!(
        w.nodes[0].router.stats().out_msgs,
        before,
        "no local delivery on A"
    );
}

#[test]
fn queue_group_receives_each_message_once_cluster_wide() {
    let mut w = ClusterWorld::new(3, |i| (0..3).filter(|&j| j > i).collect());
    w.settle();
    assert!(w.is_full_mesh());
    let members = [
        w.subscriber(0, &[("work", Some("q"))]),
        w.subscriber(1, &[("work", Some("q"))]),
        w.subscriber(1, &[("work", Some("q"))]),
        w.subscriber(2, &[("work", Some("q"))]),
    ];
    let plain = w.subscriber(2, &[("work", None)]);
    w.settle();
    let p = publisher(&mut w, 0);
    for i in 0..200 {
        publish(&mut w, p, "work", &i.to_string());
    }
    w.settle();
    let mut seen: Vec<u32> = Vec::new();
    let mut per_member = Vec::new();
    for m in members {
        let got = w.msgs(m);
        per_member.push(got.len());
        seen.extend(got.iter().map(|(_, p)| p.parse::<u32>().unwrap()));
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..200).collect::<Vec<_>>(), "each message once");
    assert!(per_member.iter().all(|&n| n > 0), "{per_member:?}");
    assert_eq!(w.msgs(plain).len(), 200);
    // Published on B, still once.
    let p = publisher(&mut w, 1);
    for i in 0..50 {
        publish(&mut w, p, "work", &i.to_string());
    }
    w.settle();
    let total: usize = members.iter().map(|&m| w.msgs(m).len()).sum();
    assert_eq!(total, 50);
}

#[test]
fn request_reply_across_nodes() {
    let mut w = ClusterWorld::new(2, |i| if i == 0 { vec![1] } else { vec![] });
    w.settle();
    let responder = w.subscriber(1, &[("svc.echo", None)]);
    let requester = w.subscriber(0, &[("_INBOX.r1", None)]);
    w.send(requester, "PUB svc.echo _INBOX.r1 4\r\nping\r\n");
    w.settle();
    let ops = w.ops(responder);
    let Some(ServerOp::Msg(m)) = ops.first() else {
        panic!("{ops:?}")
    };
    assert_eq!(m.reply(), Some(&b"_INBOX.r1"[..]));
    publish(&mut w, responder, "_INBOX.r1", "pong");
    w.settle();
    assert_eq!(w.msgs(requester), vec![("_INBOX.r1".into(), "pong".into())]);
    // No responders across the cluster: 503 only when nobody anywhere.
    w.send(requester, "PUB svc.none _INBOX.r1 1\r\nx\r\n");
    w.settle();
    let ops = w.ops(requester);
    assert!(
        matches!(&ops[..], [ServerOp::Msg(m)] if m.headers().is_some()),
        "{ops:?}"
    );
}

#[test]
fn interest_is_removed_when_a_client_leaves() {
    let mut w = ClusterWorld::new(2, |i| if i == 0 { vec![1] } else { vec![] });
    w.settle();
    let a_subs = w.nodes[0].router.subscription_count();
    let sub = w.subscriber(1, &[("gone", None), ("grp", Some("q")), ("grp", Some("q"))]);
    w.settle();
    assert_eq!(w.nodes[0].router.subscription_count(), a_subs + 2);
    w.disconnect(sub);
    w.settle();
    assert_eq!(w.nodes[0].router.subscription_count(), a_subs);
    let conn = w.nodes[0].router.routes()[0].conn;
    let before = w.nodes[0].router.session_stats(conn).unwrap().out_msgs;
    let p = publisher(&mut w, 0);
    publish(&mut w, p, "gone", "x");
    w.settle();
    assert_eq!(
        w.nodes[0].router.session_stats(conn).unwrap().out_msgs,
        before,
        "no interest, no RMSG"
    );
}

#[test]
fn three_node_mesh_never_loops() {
    let mut w = ClusterWorld::new(3, |i| (0..3).filter(|&j| j != i).collect());
    w.settle();
    assert!(w.is_full_mesh());
    let subs: Vec<P> = (0..3)
        .map(|i| w.subscriber(i, &[("loop.>", None)]))
        .collect();
    let p = publisher(&mut w, 1);
    publish(&mut w, p, "loop.x", "1");
    w.advance(Duration::from_secs(30));
    for s in subs {
        assert_eq!(w.msgs(s), vec![("loop.x".into(), "1".into())]);
    }
}

#[test]
fn a_cut_route_is_solicited_again() {
    let mut w = ClusterWorld::new(2, |i| if i == 0 { vec![1] } else { vec![] });
    w.settle();
    let sub = w.subscriber(1, &[("after", None)]);
    w.nodes[1].refuse = true;
    w.cut_routes(0);
    assert!(w.nodes[0].router.routes().is_empty());
    w.advance(Duration::from_secs(10));
    assert!(w.nodes[0].router.routes().is_empty(), "refused dials");
    w.nodes[1].refuse = false;
    w.advance(Duration::from_secs(3));
    assert!(w.is_full_mesh());
    let p = publisher(&mut w, 0);
    publish(&mut w, p, "after", "ok");
    w.settle();
    assert_eq!(w.msgs(sub), vec![("after".into(), "ok".into())]);
}

#[test]
fn gossip_completes_the_mesh() {
    // A knows B, C knows B: A and C learn of each other through B.
    let mut w = ClusterWorld::new(3, |i| if i == 1 { vec![] } else { vec![1] });
    w.settle();
    assert!(
        w.is_full_mesh(),
        "{:?}",
        (0..3).map(|i| w.route_ids(i)).collect::<Vec<_>>()
    );
    let sub = w.subscriber(2, &[("g", None)]);
    let p = publisher(&mut w, 0);
    publish(&mut w, p, "g", "direct");
    w.settle();
    assert_eq!(w.msgs(sub), vec![("g".into(), "direct".into())]);
}

#[test]
fn duplicate_routes_are_resolved_to_one() {
    let mut w = ClusterWorld::new(2, |i| vec![1 - i]);
    w.advance(Duration::from_secs(20));
    assert!(w.is_full_mesh());
    assert_eq!(w.nodes[0].router.routes().len(), 1);
    let sub = w.subscriber(1, &[("d", None)]);
    let p = publisher(&mut w, 0);
    publish(&mut w, p, "d", "once");
    w.settle();
    assert_eq!(w.msgs(sub), vec![("d".into(), "once".into())]);
}

#[test]
fn clients_learn_the_cluster_urls() {
    let mut w = ClusterWorld::new(2, |i| if i == 0 { vec![1] } else { vec![] });
    // The route is up already: the INFO on connect lists both servers.
    w.settle();
    let c = w.client(0);
    w.settle();
    let ops = w.ops(c);
    let Some(ServerOp::Info(json)) = ops.first() else {
        panic!("{ops:?}")
    };
    let text = String::from_utf8_lossy(json);
    assert!(
        text.contains(r#""connect_urls":["10.0.0.1:4222","10.0.0.2:4222"]"#),
        "{text}"
    );
    // A protocol-1 client gets an async INFO when the other node leaves.
    let sub = w.subscriber(0, &[]);
    w.nodes[1].refuse = true;
    w.cut_routes(0);
    w.settle();
    let ops = w.ops(sub);
    assert!(
        ops.iter().any(|op| matches!(op, ServerOp::Info(j) if !String::from_utf8_lossy(j).contains("connect_urls"))),
        "{ops:?}"
    );
}

#[test]
fn garbage_on_a_route_closes_only_that_route() {
    let mut w = ClusterWorld::new(2, |i| if i == 0 { vec![1] } else { vec![] });
    w.settle();
    let local = w.subscriber(0, &[("still", None)]);
    w.inject_route_bytes(0, 1, b"BOGUS op\r\n");
    assert!(closes(&w, 0).contains(&CloseReason::Protocol(DecodeError::UnknownOp)));
    w.settle();
    // B received the -ERR and logged it as nats-server does.
    assert!(w.nodes[1].events.iter().any(|e| matches!(e,
        RouterEvent::Log(r) if r.message.to_string() == "Route Error 'Unknown Protocol Operation'")));
    assert!(!w.closed(local));
    let p = publisher(&mut w, 0);
    publish(&mut w, p, "still", "here");
    w.settle();
    assert_eq!(w.msgs(local), vec![("still".into(), "here".into())]);
    // The explicit route comes back.
    w.advance(Duration::from_secs(5));
    assert!(w.is_full_mesh());
}

#[test]
fn oversized_and_malformed_routed_messages_close_the_route() {
    let mut w = ClusterWorld::with(2, |i, c| {
        let cl = c.cluster.as_mut().unwrap();
        cl.max_payload = 1024;
        if i == 0 {
            cl.routes = vec![crate::sim::cluster::route_url(1)];
        }
    });
    w.settle();
    w.inject_route_bytes(0, 1, b"RMSG $G foo 4096\r\n");
    assert!(closes(&w, 0).iter().any(|r| matches!(
        r,
        CloseReason::Protocol(DecodeError::PayloadTooLarge { .. })
    )));
    w.advance(Duration::from_secs(5));
    assert!(w.is_full_mesh());
    w.inject_route_bytes(0, 1, b"RMSG $G foo x 3 4\r\n");
    assert!(closes(&w, 0)
        .iter()
        .any(|r| matches!(r, CloseReason::Protocol(DecodeError::BadArgs { .. }))));
    w.advance(Duration::from_secs(5));
    assert!(w.is_full_mesh());
}

#[test]
fn a_client_on_the_route_port_is_refused() {
    let mut w = ClusterWorld::new(1, |_| vec![]);
    let conn = w.nodes[0]
        .router
        .handle_route_accept(w.now, "10.0.1.1:5555");
    let mut input = bytes::BytesMut::from(&b"CONNECT {\"lang\":\"go\",\"verbose\":false}\r\n"[..]);
    let now = w.now;
    w.nodes[0].router.handle_input(now, conn, &mut input);
    let mut out = Vec::new();
    while let Some(c) = w.nodes[0].router.poll_transmit(conn) {
        out.extend_from_slice(&c);
    }
    assert!(
        String::from_utf8_lossy(&out).ends_with("-ERR 'attempted to connect to route port'\r\n")
    );
}

#[test]
fn cluster_name_mismatch_is_rejected() {
    let mut w = ClusterWorld::with(2, |i, c| {
        let cl = c.cluster.as_mut().unwrap();
        cl.name = Some(format!("c{i}"));
        if i == 0 {
            cl.routes = vec![crate::sim::cluster::route_url(1)];
        }
    });
    w.settle();
    assert!(w.nodes[0].router.routes().is_empty());
    assert!(closes(&w, 1).contains(&CloseReason::ClusterNameConflict));
}

/// The route fuzz target's invariants on sample inputs.
#[test]
fn route_fuzz_target_holds_on_sample_inputs() {
    let start = std::time::Instant::now();
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![2, 200, 201, 130, 140],
        vec![
            3, 20, b'R', b'S', b'+', b' ', b'$', b'G', b' ', b'r', b'.', b'1', b'\r', b'\n',
        ],
        vec![
            2, 10, b'G', b'A', b'R', b'B', b'A', b'G', b'E', b'\r', b'\n', b'x', 200,
        ],
        vec![0, 191, 191, 191, 250, 2, b'P', b'I'],
    ];
    let mut rng = crate::rand::SeededRng::new(11);
    for _ in 0..300 {
        let len = 1 + rng.below(200);
        inputs.push((0..len).map(|_| rng.below(256) as u8).collect());
    }
    for input in inputs {
        crate::fuzzing::route_session(start, &input);
    }
}

#[test]
fn routes_do_not_count_as_client_connections() {
    // nats-server counts clients only against `max_connections` and in
    // `total_connections`.
    let mut w = ClusterWorld::with(3, |i, c| {
        c.max_connections = 1;
        if i != 0 {
            c.cluster.as_mut().expect("cluster").routes = vec![crate::sim::cluster::route_url(0)];
        }
    });
    w.settle();
    assert!(w.is_full_mesh());
    assert_eq!(w.nodes[0].router.stats().total_connections, 0);
    let sub = w.subscriber(0, &[("counted", None)]);
    assert!(!w.closed(sub), "two routes leave room for one client");
    assert_eq!(w.nodes[0].router.stats().total_connections, 1);
    let second = w.subscriber(0, &[]);
    assert!(w.closed(second), "the second client is over the limit");
    let p = publisher(&mut w, 1);
    publish(&mut w, p, "counted", "yes");
    w.settle();
    assert_eq!(w.msgs(sub), vec![("counted".into(), "yes".into())]);
}

#[test]
fn a_client_that_connects_while_a_route_registers_learns_the_urls_at_its_first_ping() {
    // nats-server's `processPing` check: the client read its INFO before
    // the route registered and sent CONNECT after the async INFO went out.
    let mut w = ClusterWorld::new(2, |i| if i == 1 { vec![0] } else { vec![] });
    let late = w.client(0);
    w.settle();
    assert!(w.is_full_mesh());
    let first = String::from_utf8(w.take(late)).unwrap();
    assert!(
        first.starts_with("INFO ") && !first.contains("10.0.0.2"),
        "{first}"
    );
    w.send(
        late,
        "CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n",
    );
    w.settle();
    let out = String::from_utf8(w.take(late)).unwrap();
    let info = out.find("INFO ").expect("an INFO before the PONG");
    let pong = out.find("PONG\r\n").expect("the PONG");
    assert!(info < pong, "{out}");
    assert!(
        out.contains("\"connect_urls\":[\"10.0.0.1:4222\",\"10.0.0.2:4222\"]"),
        "{out}"
    );
    // Once told, a second PING gets the PONG alone.
    w.send(late, "PING\r\n");
    w.advance(Duration::from_millis(10));
    assert_eq!(String::from_utf8(w.take(late)).unwrap(), "PONG\r\n");
    // A protocol-0 client is never sent an async INFO.
    let old = w.client(0);
    w.settle();
    w.take(old);
    w.send(old, "CONNECT {\"verbose\":false}\r\nPING\r\n");
    w.advance(Duration::from_millis(10));
    assert_eq!(String::from_utf8(w.take(old)).unwrap(), "PONG\r\n");
}

#[test]
fn a_route_flooding_interest_is_cut_off_and_clients_carry_on() {
    let mut w = ClusterWorld::with(2, |i, c| {
        let cluster = c.cluster.as_mut().expect("cluster");
        cluster.max_route_subscriptions = 100;
        if i == 1 {
            cluster.routes = vec![crate::sim::cluster::route_url(0)];
        }
    });
    w.settle();
    assert!(w.is_full_mesh());
    let local = w.subscriber(0, &[("local.x", None)]);
    // 99 more route subscriptions fit (the flood's first 100 do).
    let flood: String = (0..150).map(|i| format!("RS+ $G flood.{i}\r\n")).collect();
    w.inject_route_bytes(0, 1, flood.as_bytes());
    assert_eq!(closes(&w, 0), vec![CloseReason::MaxSubscriptionsExceeded]);
    assert!(w.nodes[0].events.iter().any(|e| matches!(e,
        RouterEvent::Log(r) if r.message.to_string().contains("more than 100 subscriptions"))));
    // The flood's interest went with the route; local traffic is served.
    let p = publisher(&mut w, 0);
    publish(&mut w, p, "local.x", "still");
    w.advance(Duration::from_millis(10));
    assert_eq!(w.msgs(local), vec![("local.x".into(), "still".into())]);
    assert_eq!(w.nodes[0].router.subscription_count(), 1);
}
