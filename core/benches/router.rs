//! Router throughput: decode + route of `PUB` ops from one publisher, with
//! no subscriber, one subscriber, and with 100,000 subscriptions in the
//! subject index (literal and wildcard), plus the cost of subscribing them.

// A test/bench driver, outside the library: the core's purity lints do not
// apply (it reads files and the clock).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::Instant;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use stan_core::nats::router::{ConnId, Router, RouterConfig};

const OPS: usize = 10_000;

fn connect(router: &mut Router, now: Instant) -> ConnId {
    let c = router.handle_accept(now, "127.0.0.1:1");
    let mut b = BytesMut::from(&b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n"[..]);
    router.handle_input(now, c, &mut b);
    while let Some(chunk) = router.poll_transmit(c) {
        router.handle_written(now, c, chunk.len());
    }
    c
}

fn pub_stream(subjects: &[String], size: usize) -> BytesMut {
    let payload = "x".repeat(size);
    let mut wire = BytesMut::new();
    for i in 0..OPS {
        let s = &subjects[i % subjects.len()];
        wire.extend_from_slice(format!("PUB {s} {size}\r\n{payload}\r\n").as_bytes());
    }
    wire
}

/// Takes every session's output and reports it written, as a driver does.
fn drain_all(router: &mut Router, now: Instant) {
    while let Some(ev) = router.poll_event() {
        if let stan_core::nats::router::RouterEvent::OutputReady(c) = ev {
            while let Some(chunk) = router.poll_transmit(c) {
                router.handle_written(now, c, chunk.len());
            }
        }
    }
}

fn route(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("router");
    group.throughput(Throughput::Elements(OPS as u64));
    for (name, subs) in [
        ("pub_only_16B", 0),
        ("pub_1sub_16B", 1),
        ("pub_5queue_16B", 5),
    ] {
        let mut router = Router::new(RouterConfig::default(), now);
        for i in 0..subs {
            let s = connect(&mut router, now);
            let line = if subs > 1 {
                format!("SUB bench.16 q {i}\r\n")
            } else {
                format!("SUB bench.16 {i}\r\n")
            };
            router.handle_input(now, s, &mut BytesMut::from(line.as_bytes()));
        }
        let p = connect(&mut router, now);
        let wire = pub_stream(&["bench.16".to_string()], 16).freeze();
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || BytesMut::from(&wire[..]),
                |buf| {
                    router.handle_input(now, p, buf);
                    drain_all(&mut router, now);
                },
                BatchSize::LargeInput,
            )
        });
    }

    // 100k subscriptions: 99,990 literal ones on distinct subjects, 10
    // wildcards; publishing to 10,000 distinct subjects (beyond the cache).
    let mut router = Router::new(RouterConfig::default(), now);
    let mut subscribe = BytesMut::new();
    for i in 0..99_990 {
        subscribe.extend_from_slice(format!("SUB dev.{i}.temp {i}\r\n").as_bytes());
    }
    for i in 0..10 {
        subscribe.extend_from_slice(format!("SUB dev.*.{i} w{i}\r\n").as_bytes());
    }
    let subscriber = connect(&mut router, now);
    let start = Instant::now();
    router.handle_input(now, subscriber, &mut subscribe);
    println!(
        "router/subscribe_100k: {:?} for {} subscriptions",
        start.elapsed(),
        router.subscription_count()
    );
    let p = connect(&mut router, now);
    let subjects: Vec<String> = (0..OPS)
        .map(|i| format!("dev.{}.temp", (i * 7919) % 99_990))
        .collect();
    let wire = pub_stream(&subjects, 16).freeze();
    group.bench_function("pub_100k_subs_distinct_subjects_16B", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&wire[..]),
            |buf| {
                router.handle_input(now, p, buf);
                drain_all(&mut router, now);
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, route);
criterion_main!(benches);
