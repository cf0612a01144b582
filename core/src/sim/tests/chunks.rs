//! Bytes arriving one at a time, or in arbitrary pieces: every machine
//! keeps partial input between reads, so a whole exchange gives exactly
//! the same results as with whole reads.

use super::*;
use crate::nats::codec::ServerOp;

fn one_byte() -> LinkConfig {
    LinkConfig::both(PipeConfig::chunked(1))
}

fn random_pieces(seed: u64) -> LinkConfig {
    LinkConfig::both(PipeConfig {
        chunking: Chunking::Random { max: 7, seed },
        ..PipeConfig::default()
    })
}

/// A whole STAN session from client `n`: connect, publishes with their
/// PubAcks, a durable subscription with manual acks receiving them, a
/// later publish delivered at once, the ack wait passing with nothing to
/// redeliver, close. Every step is checked; all events are returned.
fn stan_session(w: &mut World, n: N) -> Vec<ClientEvent> {
    let mut all = Vec::new();
    w.pump();
    let ev = w.stan_events(n);
    assert_eq!(ev, [ClientEvent::Connected]);
    all.extend(ev);

    let now = w.now;
    let ids: Vec<PubId> = (0..3)
        .map(|i| {
            let data = Bytes::from(format!("order {i}"));
            w.stan(n).publish(now, "orders", data).unwrap()
        })
        .collect();
    w.pump();
    let ev = w.stan_events(n);
    let acked: Vec<ClientEvent> = ids
        .into_iter()
        .map(|id| ClientEvent::PubAck { id, result: Ok(()) })
        .collect();
    assert_eq!(ev, acked);
    all.extend(ev);

    let options = SubscriptionOptions {
        start: StartAt::First,
        durable: Some("billing".into()),
        manual_ack: true,
        ack_wait: Duration::from_secs(5),
        ..SubscriptionOptions::default()
    };
    let sub = w.stan(n).subscribe(now, "orders", &options).unwrap();
    w.pump();
    let ev = w.stan_events(n);
    assert_eq!(
        ev[0],
        ClientEvent::Subscribed {
            sub,
            result: Ok(())
        }
    );
    let got = messages(&ev);
    let want: Vec<_> = (0..3u64)
        .map(|i| (sub, i + 1, false, Bytes::from(format!("order {i}"))))
        .collect();
    assert_eq!(got, want);
    all.extend(ev);
    for seq in 1..=3 {
        w.stan(n).ack(now, sub, seq).unwrap();
    }
    let id = w
        .stan(n)
        .publish(now, "orders", Bytes::from("order 3"))
        .unwrap();
    assert_eq!(id, PubId(4));
    w.pump();
    let ev = w.stan_events(n);
    assert!(ev.contains(&ClientEvent::PubAck { id, result: Ok(()) }));
    assert_eq!(messages(&ev), [(sub, 4, false, Bytes::from("order 3"))]);
    all.extend(ev);
    w.stan(n).ack(now, sub, 4).unwrap();
    w.pump();

    // Everything was acked: the ack wait passes with no redelivery.
    w.advance(Duration::from_secs(6));
    let ev = w.stan_events(n);
    assert!(ev.is_empty(), "{ev:?}");
    assert!(w
        .engine
        .pending_of("orders")
        .iter()
        .all(|(_, _, seqs)| seqs.is_empty()));

    let now = w.now;
    w.stan(n).close(now).unwrap();
    w.pump();
    let ev = w.stan_events(n);
    assert_eq!(ev, [ClientEvent::Closed(Ok(()))]);
    all.extend(ev);
    assert!(matches!(
        w.nats_events(n).last(),
        Some(Event::Closed { .. })
    ));
    assert!(!w.engine.has_client("one"));
    all
}

#[test]
fn a_whole_stan_session_one_byte_at_a_time() {
    let mut whole = World::default_world();
    let n = whole.stan_client(opts("one"));
    let baseline = stan_session(&mut whole, n);

    // The client's link delivers one byte per read, both ways.
    let mut w = World::default_world();
    let n = w.stan_client_with(opts("one"), None, one_byte());
    assert_eq!(stan_session(&mut w, n), baseline);
    let t = w.traffic(n);
    assert!(t.up_bytes > 1000 && t.down_bytes > 1000, "{t:?}");
    assert_eq!((t.up_reads, t.down_reads), (t.up_bytes, t.down_bytes));

    // The engine over a link too (-ns), one byte at a time as well.
    let mut w = World::with_setup(
        RouterConfig::default(),
        EngineSetup::Wire(ServerConfig::default(), one_byte()),
    );
    let n = w.stan_client_with(opts("one"), None, one_byte());
    assert_eq!(stan_session(&mut w, n), baseline);
    let e = w.engine.node().unwrap();
    let t = w.traffic(e);
    assert!(t.up_bytes > 1000 && t.down_bytes > 1000, "{t:?}");
    assert_eq!((t.up_reads, t.down_reads), (t.up_bytes, t.down_bytes));

    // Arbitrary pieces (1 to 7 bytes), different on each link.
    let mut w = World::with_setup(
        RouterConfig::default(),
        EngineSetup::Wire(ServerConfig::default(), random_pieces(7)),
    );
    let n = w.stan_client_with(opts("one"), None, random_pieces(8));
    assert_eq!(stan_session(&mut w, n), baseline);
}

/// The same raw exchange with the router over whole reads, one byte at a
/// time and arbitrary pieces: the same bytes come back.
fn raw_exchange(link: LinkConfig) -> (Vec<u8>, Vec<u8>) {
    let mut w = World::with_router(RouterConfig::default());
    let s = w.peer_with(link.clone());
    let p = w.peer_with(link);
    w.send(
        s,
        "CONNECT {\"verbose\":true,\"headers\":true,\"no_responders\":true}\r\n\
         SUB foo.* 1\r\nSUB foo.> q 2\r\nSUB _INBOX.s.* 3\r\nPING\r\n",
    );
    let block = "NATS/1.0\r\nA: 1\r\n\r\n";
    let hpub = format!(
        "HPUB foo.baz {} {}\r\n{block}world\r\n",
        block.len(),
        block.len() + 5
    );
    w.send(
        p,
        &format!(
            "CONNECT {{\"verbose\":false,\"headers\":true}}\r\n\
             PUB foo.bar r.1 5\r\nhello\r\n{hpub}PUB foo.a.b 0\r\n\r\nPING\r\n"
        ),
    );
    w.send(s, "PUB nobody _INBOX.s.1 2\r\nhi\r\nUNSUB 1\r\nPING\r\n");
    w.send(p, "PUB foo.bar 1\r\nx\r\nPING\r\n");
    (w.raw(s), w.raw(p))
}

#[test]
fn the_same_raw_exchange_one_byte_at_a_time() {
    let baseline = raw_exchange(LinkConfig::default());
    assert_eq!(raw_exchange(one_byte()), baseline);
    for seed in 1..4 {
        assert_eq!(raw_exchange(random_pieces(seed)), baseline, "seed {seed}");
    }
    // What the verbose subscriber read, decoded.
    let mut bytes = bytes::BytesMut::from(&baseline.0[..]);
    let mut decoder = crate::nats::codec::ServerOpDecoder::new(crate::nats::codec::Limits {
        max_control_line: 4096,
        max_payload: 1 << 20,
    });
    let mut ops = Vec::new();
    while let Some(op) = decoder.decode(&mut bytes).unwrap() {
        ops.push(op);
    }
    assert!(bytes.is_empty());
    let msgs: Vec<&[u8]> = ops
        .iter()
        .filter_map(|op| match op {
            ServerOp::Msg(m) => Some(m.payload()),
            _ => None,
        })
        .collect();
    assert_eq!(
        msgs,
        [&b"hello"[..], b"hello", b"world", b"world", b"", b"", b"x"]
    );
    assert_eq!(ops.iter().filter(|op| **op == ServerOp::Pong).count(), 2);
    let oks = ops.iter().filter(|op| **op == ServerOp::Ok).count();
    assert_eq!(oks, 6, "verbose: every op of s but PING acknowledged");
}
