//! A link stalled for an hour: a subscriber stops reading while a publisher
//! sends a burst of twice `max_pending`, then a message every ten seconds.
//! Flow control stalls the publisher, the write deadline cuts the
//! subscriber off, everyone else goes on (a healthy subscriber gets every
//! message, a STAN client keeps its heartbeats, pings and messages), and
//! the world never spins.

use super::*;
use crate::nats::client::{ClientOptions, DisconnectReason, Status};
use crate::nats::router::{CloseReason, SlowConsumer};

const MAX_PENDING: usize = 1024 * 1024;
const PAYLOAD: usize = 1024;
/// Twice `max_pending`.
const BURST: u64 = 2048;

fn nats(name: &str, ping_interval: Duration) -> ClientOptions {
    ClientOptions {
        name: Some(name.into()),
        ping_interval,
        ..ClientOptions::with_servers(SIM_URL).unwrap()
    }
}

/// Message `i`: its number, padded to the payload size.
fn numbered(i: u64) -> Bytes {
    let mut data = format!("{i:08}").into_bytes();
    data.resize(PAYLOAD, b'.');
    Bytes::from(data)
}

/// The numbers of the messages among node `n`'s events since the last
/// look; the other events.
fn received(w: &mut World, n: N) -> (Vec<u64>, Vec<Event>) {
    let mut numbers = Vec::new();
    let mut others = Vec::new();
    for e in w.nats_events(n) {
        match e {
            Event::Message(m) => {
                let text = std::str::from_utf8(&m.payload[..8]).unwrap();
                numbers.push(text.parse().unwrap());
            }
            other => others.push(other),
        }
    }
    (numbers, others)
}

#[test]
fn a_subscriber_stalled_for_an_hour() {
    let config = RouterConfig {
        max_pending: MAX_PENDING,
        ..RouterConfig::default()
    };
    let mut w = World::with_setup(config, EngineSetup::Local(ServerConfig::default()));
    let now = w.now;
    let start = w.now;
    let hour = Duration::from_secs(3600);
    // The subscriber that stops reading pings less often than the hour, so
    // it holds on to its link all along.
    let stuck = w.nats_client(nats("stuck", 2 * hour));
    let healthy = w.nats_client(nats("healthy", Duration::from_secs(120)));
    let publisher = w.nats_client(nats("publisher", Duration::from_secs(120)));
    let stan = w.stan_client(opts("bystander"));
    for n in [stuck, healthy, publisher] {
        assert!(matches!(w.nats_events(n)[..], [Event::Connected { .. }]));
    }
    w.nats(stuck).subscribe(now, "data", None).unwrap();
    w.nats(healthy).subscribe(now, "data", None).unwrap();
    let now = w.now;
    let news = w
        .stan(stan)
        .subscribe(now, "news", &SubscriptionOptions::default())
        .unwrap();
    w.pump();
    let ev = w.stan_events(stan);
    assert_eq!(
        ev,
        [
            ClientEvent::Connected,
            ClientEvent::Subscribed {
                sub: news,
                result: Ok(())
            }
        ]
    );
    let stuck_conn = w.conn_of(stuck).unwrap();
    let pub_conn = w.conn_of(publisher).unwrap();
    w.router_events();

    // The subscriber stops reading; its link holds 64 KiB.
    w.configure(stuck, Dir::Down, |p| p.capacity = 64 * 1024);
    w.stall(stuck, Dir::Down);
    for i in 0..BURST {
        w.nats(publisher)
            .publish(now, "data", None, None, numbered(i))
            .unwrap();
    }
    w.pump();
    assert!(
        w.router.is_input_paused(pub_conn),
        "flow control stalls the publisher"
    );
    let (mut got, _) = received(&mut w, healthy);
    assert!(got.len() < BURST as usize, "{}", got.len());

    // The stalled write passes the write deadline: the subscriber is cut off.
    w.advance(Duration::from_millis(9_900));
    assert!(w.router.session_phase(stuck_conn).is_some(), "not yet");
    assert!(w.router.is_input_paused(pub_conn));
    w.advance(Duration::from_millis(200));
    let events = w.router_events();
    assert!(events.contains(&RouterEvent::SessionClosed {
        conn: stuck_conn,
        reason: CloseReason::SlowConsumer(SlowConsumer::WriteDeadline)
    }));
    let resumed = events
        .iter()
        .filter(|e| **e == RouterEvent::InputResumed(pub_conn))
        .count();
    assert!(resumed > 5, "the publisher was stalled again and again");
    assert!(!w.router.is_input_paused(pub_conn), "the publisher goes on");
    assert_eq!(w.router.stats().slow_consumers, 1);
    got.extend(received(&mut w, healthy).0);
    assert_eq!(got, (0..BURST).collect::<Vec<_>>(), "nothing lost");

    // The rest of the hour: a message every 10 s, news every minute.
    let mut next = BURST;
    let mut news_sent = 0;
    while w.now < start + hour {
        w.nats(publisher)
            .publish(now, "data", None, None, numbered(next))
            .unwrap();
        next += 1;
        if next % 6 == 0 {
            let now = w.now;
            w.stan(stan)
                .publish(now, "news", Bytes::from("news"))
                .unwrap();
            news_sent += 1;
        }
        w.advance(Duration::from_secs(10));
        got.extend(received(&mut w, healthy).0);
    }
    assert_eq!(
        got,
        (0..next).collect::<Vec<_>>(),
        "the healthy one got all"
    );
    for n in [healthy, publisher] {
        assert!(received(&mut w, n).1.is_empty(), "never disconnected");
        assert_eq!(w.nats(n).status(), Status::Connected);
    }
    let ev = w.stan_events(stan);
    assert!(
        !ev.iter()
            .any(|e| matches!(e, ClientEvent::ConnectionLost(_))),
        "{ev:?}"
    );
    let acks = ev
        .iter()
        .filter(|e| matches!(e, ClientEvent::PubAck { result: Ok(()), .. }))
        .count();
    assert_eq!((acks, messages(&ev).len()), (news_sent, news_sent));
    assert!(w.engine.has_client("bystander"));

    // A whole hour: the stuck client's link stayed stalled, it noticed
    // nothing, and the world took a bounded number of steps.
    assert!(w.now - start >= hour);
    assert!(received(&mut w, stuck).1.is_empty());
    assert_eq!(w.nats(stuck).status(), Status::Connected);
    assert!(w.steps() < 5_000, "{} steps", w.steps());

    // It reads again: what its link held, then the end of the connection;
    // it reconnects and gets what comes next.
    w.unstall(stuck, Dir::Down);
    w.pump();
    let (held, ev) = received(&mut w, stuck);
    assert!(!held.is_empty() && held.len() <= 64, "{}", held.len());
    assert_eq!(held, (0..held.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        ev,
        [Event::Disconnected {
            reason: DisconnectReason::TransportClosed
        }]
    );
    w.advance(Duration::from_secs(3));
    let (_, ev) = received(&mut w, stuck);
    assert!(matches!(ev[..], [Event::Reconnected { .. }]), "{ev:?}");
    w.nats(publisher)
        .publish(now, "data", None, None, numbered(next))
        .unwrap();
    w.pump();
    assert_eq!(received(&mut w, stuck).0, [next]);
    assert_eq!(received(&mut w, healthy).0, [next]);
}
