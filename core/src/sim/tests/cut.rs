//! A cut in the middle of a publish burst: a STAN client with many PubAcks
//! in flight loses its link. Every publish ends exactly once (its PubAck,
//! or the connection-lost/closed error when the connection is gone for
//! good, or a PubAck timeout when it comes back), none hangs, the engine
//! stays consistent, and every acknowledged message is in the channel
//! exactly once.

use std::collections::BTreeMap;

use super::*;
use crate::nats::client::{CloseReason, DisconnectReason};
use crate::stan::client::ClientError;
use crate::stan::store::Store;

pub(super) const BURST: usize = 200;

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 1 ms each way, and the router takes the client's bytes 512 a
/// millisecond: the burst takes a while to go up, PubAcks trickle down.
pub(super) fn slow_link() -> LinkConfig {
    LinkConfig {
        up: PipeConfig {
            delay: ms(1),
            chunking: Chunking::Fixed(512),
            read_gap: ms(1),
            ..PipeConfig::default()
        },
        down: PipeConfig::delayed(ms(1)),
    }
}

/// Publishes the burst from `n` (data `m<i>`), then lets time pass until
/// some PubAcks came back but far from all. The publishes by id, and the
/// PubAck results seen so far.
pub(super) fn start_burst(
    w: &mut World,
    n: N,
) -> (
    BTreeMap<PubId, Bytes>,
    BTreeMap<PubId, Result<(), ClientError>>,
) {
    let ev = until(w, n, ms(1), Duration::from_secs(1), |e| !e.is_empty());
    assert_eq!(ev, [ClientEvent::Connected]);
    let now = w.now;
    let mut sent = BTreeMap::new();
    for i in 0..BURST {
        let data = Bytes::from(format!("m{i}"));
        let id = w.stan(n).publish(now, "burst", data.clone()).unwrap();
        sent.insert(id, data);
    }
    let mut results = BTreeMap::new();
    while results.len() < BURST / 3 {
        w.advance(ms(1));
        collect_acks(w.stan_events(n), &mut results);
    }
    assert!(results.len() < BURST / 2, "cut midway: {}", results.len());
    assert!(results.values().all(Result::is_ok));
    (sent, results)
}

/// Adds the PubAck outcomes among `events` to `results` (each id at most
/// once); returns the other events.
pub(super) fn collect_acks(
    events: Vec<ClientEvent>,
    results: &mut BTreeMap<PubId, Result<(), ClientError>>,
) -> Vec<ClientEvent> {
    let mut others = Vec::new();
    for e in events {
        match e {
            ClientEvent::PubAck { id, result } => {
                let previous = results.insert(id, result);
                assert!(previous.is_none(), "two outcomes for {id:?}");
            }
            other => others.push(other),
        }
    }
    others
}

/// The data stored in `channel`, in sequence order.
pub(super) fn stored(w: &World, channel: &str) -> Vec<Bytes> {
    let store = w.engine.store();
    let Some(stats) = store.stats(channel) else {
        return Vec::new();
    };
    (stats.first_seq..=stats.last_seq)
        .filter_map(|seq| store.lookup(channel, seq))
        .map(|m| m.decode().expect("stored messages decode").data)
        .collect()
}

/// Every acknowledged message is stored exactly once; nothing is stored
/// twice or that was not published.
pub(super) fn check_channel(
    w: &World,
    sent: &BTreeMap<PubId, Bytes>,
    results: &BTreeMap<PubId, Result<(), ClientError>>,
) -> usize {
    let stored = stored(w, "burst");
    for data in &stored {
        let copies = stored.iter().filter(|d| *d == data).count();
        assert_eq!(copies, 1, "{data:?} stored {copies} times");
        assert!(sent.values().any(|d| d == data), "{data:?} was never sent");
    }
    for (id, result) in results {
        if result.is_ok() {
            assert!(stored.contains(&sent[id]), "acked {id:?} is not stored");
        }
    }
    stored.len()
}

#[test]
fn a_cut_midway_fails_the_unacknowledged_publishes_once() {
    let mut w = World::default_world();
    let nats = ConnectOptions {
        max_pub_acks_in_flight: BURST,
        ..opts("burst")
    }
    .nats_options(SIM_URL, None)
    .unwrap();
    let nats = crate::nats::client::ClientOptions {
        max_reconnects: Some(2),
        ..nats
    };
    let n = w.stan_client_with(opts("burst"), Some(nats), slow_link());
    let (sent, mut results) = start_burst(&mut w, n);

    // The link is cut and the server cannot be reached again.
    w.refuse_dials(n, true);
    w.cut(n);
    w.advance(Duration::from_secs(10));
    let others = collect_acks(w.stan_events(n), &mut results);
    assert_eq!(results.len(), BURST, "every publish has its outcome");
    let failed = results.values().filter(|r| r.is_err()).count();
    assert!(failed > BURST / 2, "most were in flight: {failed}");
    for result in results.values() {
        if let Err(e) = result {
            assert_eq!(*e, ClientError::ConnectionClosed);
            assert!(e.is_closed());
        }
    }
    let exhausted = CloseReason::ReconnectsExhausted {
        attempts: 2,
        last: DisconnectReason::DialFailed,
    };
    assert_eq!(
        others,
        [ClientEvent::ConnectionLost(ClientError::Nats(
            exhausted.clone()
        ))],
        "reported once"
    );
    let nats_events = w.nats_events(n);
    assert_eq!(
        nats_events.last(),
        Some(&Event::Closed { reason: exhausted })
    );
    assert_eq!(w.dials(n), 3);
    // Nothing hangs: no publish awaits its PubAck, no deadline is left.
    assert_eq!(w.stan(n).pub_acks_in_flight(), 0);
    assert!(w.stan(n).is_done());
    assert_eq!(w.stan(n).poll_timeout(), None);

    let count = check_channel(&w, &sent, &results);
    assert!(count >= BURST - failed && count < BURST, "{count} stored");
    // The engine gives up on the silent client after its heartbeats.
    assert!(w.engine.has_client("burst"));
    w.advance(Duration::from_secs(600));
    assert!(!w.engine.has_client("burst"));
    assert_eq!(check_channel(&w, &sent, &results), count);
}

#[test]
fn a_cut_midway_with_a_reconnect_times_out_the_lost_pub_acks() {
    let mut w = World::default_world();
    let options = ConnectOptions {
        max_pub_acks_in_flight: BURST,
        ..opts("burst")
    };
    let n = w.stan_client_with(options, None, slow_link());
    let (sent, mut results) = start_burst(&mut w, n);

    assert!(matches!(w.nats_events(n)[..], [Event::Connected { .. }]));
    // The link is cut; the NATS connection comes back 2 s later.
    w.cut(n);
    w.advance(Duration::from_secs(3));
    let nats_events = w.nats_events(n);
    assert!(
        matches!(
            nats_events[..],
            [
                Event::Disconnected {
                    reason: DisconnectReason::TransportClosed
                },
                Event::Reconnected { .. }
            ]
        ),
        "{nats_events:?}"
    );
    // What the cut lost times out; nothing is left waiting.
    w.advance(Duration::from_secs(30));
    let others = collect_acks(w.stan_events(n), &mut results);
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(results.len(), BURST, "every publish has its outcome");
    let timed_out = results.values().filter(|r| r.is_err()).count();
    assert!(timed_out > 0);
    for result in results.values() {
        if let Err(e) = result {
            assert_eq!(*e, ClientError::PubAckTimeout);
        }
    }
    assert_eq!(w.stan(n).pub_acks_in_flight(), 0);
    check_channel(&w, &sent, &results);

    // The session goes on over the new connection.
    let now = w.now;
    let id = w
        .stan(n)
        .publish(now, "burst", Bytes::from("after"))
        .unwrap();
    assert_eq!(id, PubId(BURST as u64 + 1));
    let ev = until(&mut w, n, ms(1), Duration::from_secs(1), |e| !e.is_empty());
    assert_eq!(ev, [ClientEvent::PubAck { id, result: Ok(()) }]);
    assert!(w.engine.has_client("burst"));
    assert_eq!(stored(&w, "burst").last(), Some(&Bytes::from("after")));
}
