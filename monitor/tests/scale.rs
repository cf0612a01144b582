//! Large snapshots render whole: with 2,500 and 10,000 subscriptions,
//! `/connz?subs=1`, `/subsz?subs=1`, `/streaming/channelsz?subs=1`,
//! `/streaming/clientsz?subs=1` and `/metrics` answer 200 with every
//! subscription listed. The time each takes is printed (run with
//! `--nocapture` in a release build to see it), never asserted: timing
//! assertions fail on a loaded machine, and performance is for benchmarks.

mod common;

use std::time::{Duration, Instant};

use common::*;
use stan_core::nats::router::{ConnSnapshot, SubSnapshot};
use stan_core::stan::server::{ChannelSnapshot, ClientSnapshot, SubscriptionSnapshot};

/// The scenario with `conns` connections × `per` subscriptions, and as
/// many streaming clients, channels and subscriptions.
fn big(t: &Timeline, conns: usize, per: usize) -> FixedSource {
    let mut nats = nats_snapshot(t);
    let template = nats.connections[0].clone();
    nats.connections = (0..conns as u64)
        .map(|cid| ConnSnapshot {
            cid: cid + 1,
            subscriptions: per,
            name: format!("client-{cid}"),
            ..template.clone()
        })
        .collect();
    nats.subscriptions_list = (0..conns as u64)
        .flat_map(|cid| {
            (0..per).map(move |sid| SubSnapshot {
                cid: cid + 1,
                subject: format!("_INBOX.conn{cid}.sub{sid}").into(),
                queue: None,
                sid: sid.to_string().into(),
                msgs: sid as u64,
                max: None,
            })
        })
        .collect();
    let mut engine = engine_snapshot("2026-11-29T14:27:47Z");
    let model = engine.channels[1].subscriptions[0].clone();
    let sub = |c: usize, s: usize| SubscriptionSnapshot {
        client_id: format!("client-{s}"),
        inbox: format!("_INBOX.c{c}.s{s}").into(),
        ..model.clone()
    };
    engine.channels = (0..conns)
        .map(|c| ChannelSnapshot {
            name: format!("channel.{c:05}"),
            msgs: 10,
            bytes: 100,
            first_seq: 1,
            last_seq: 10,
            subs_count: per,
            subscriptions: (0..per).map(|s| sub(c, s)).collect(),
        })
        .collect();
    engine.clients = (0..per)
        .map(|s| ClientSnapshot {
            id: format!("client-{s}"),
            hb_inbox: format!("_INBOX.hb{s}"),
            subs_count: conns,
        })
        .collect();
    engine.subscription_count = conns * per;
    FixedSource {
        nats: Some(nats),
        streaming: Some(engine),
        sync: None,
    }
}

const REQUESTS: [(&str, &str); 5] = [
    ("/connz", "subs=1"),
    ("/subsz", "subs=1&limit=100000"),
    ("/streaming/channelsz", "subs=1"),
    ("/streaming/clientsz", "subs=1"),
    ("/metrics", ""),
];

/// The slowest of three runs of each request, and checks the answers.
fn time(source: &FixedSource, t: &Timeline, subs: usize) -> Vec<Duration> {
    let m = monitor();
    REQUESTS
        .iter()
        .map(|(path, query)| {
            let mut best = Duration::MAX;
            for _ in 0..3 {
                let start = Instant::now();
                let r = get(&m, source, t, path, Some(query), "2026-11-29T14:27:47Z");
                best = best.min(start.elapsed());
                assert_eq!(r.status, 200, "{path}");
                if *path == "/subsz" {
                    let v = body_json(&r);
                    assert_eq!(v["subscriptions_list"].as_array().map(Vec::len), Some(subs));
                }
            }
            best
        })
        .collect()
}

#[test]
fn ten_thousand_subscriptions_render() {
    let t = timeline();
    let small = time(&big(&t, 100, 25), &t, 2_500);
    let large = time(&big(&t, 100, 100), &t, 10_000);
    for (((path, _), s), l) in REQUESTS.iter().zip(&small).zip(&large) {
        eprintln!("{path}: {s:?} for 2,500 subscriptions, {l:?} for 10,000");
    }
}
