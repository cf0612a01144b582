//! Throughput of the NATS codec: decoding a stream of `MSG` ops (what a
//! client reads) and encoding `PUB` ops (what a client writes), 128-byte
//! payloads. Each is reported in bytes/s of wire data and in ops/s.

// A test/bench driver, outside the library: the core's purity lints do not
// apply (it reads files and the clock).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use stan_core::nats::codec::{write_msg, write_pub};
use stan_core::nats::{Limits, ServerOp, ServerOpDecoder};

const OPS: usize = 10_000;
const PAYLOAD: usize = 128;

fn msg_stream() -> BytesMut {
    let payload = vec![b'x'; PAYLOAD];
    let mut wire = BytesMut::new();
    for i in 0..OPS {
        let reply = (i % 4 == 0).then_some(&b"_INBOX.abcdefghij.k"[..]);
        write_msg(
            &mut wire,
            b"bench.subject.foo",
            b"17",
            reply,
            None,
            &payload,
        );
    }
    wire
}

fn decode(c: &mut Criterion) {
    let wire = msg_stream().freeze();
    for (unit, throughput) in [
        ("bytes", Throughput::Bytes(wire.len() as u64)),
        ("ops", Throughput::Elements(OPS as u64)),
    ] {
        let mut group = c.benchmark_group("decode_msg_128B");
        group.throughput(throughput);
        group.bench_function(BenchmarkId::from_parameter(unit), |b| {
            // The stream is copied into a socket-like buffer outside the timing.
            b.iter_batched_ref(
                || BytesMut::from(&wire[..]),
                |buf| {
                    let mut dec = ServerOpDecoder::new(Limits::default());
                    let mut n = 0usize;
                    while let Some(op) = dec.decode(buf).expect("valid stream") {
                        if let ServerOp::Msg(m) = op {
                            n += m.payload().len();
                        }
                    }
                    assert_eq!(n, OPS * PAYLOAD);
                    n
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

fn encode(c: &mut Criterion) {
    let payload = vec![b'x'; PAYLOAD];
    let mut probe = BytesMut::new();
    write_pub(&mut probe, b"bench.subject.foo", None, None, &payload);
    let per_op = probe.len();
    for (unit, throughput) in [
        ("bytes", Throughput::Bytes((per_op * OPS) as u64)),
        ("ops", Throughput::Elements(OPS as u64)),
    ] {
        let mut group = c.benchmark_group("encode_pub_128B");
        group.throughput(throughput);
        let mut out = BytesMut::with_capacity(per_op * OPS);
        group.bench_function(BenchmarkId::from_parameter(unit), |b| {
            b.iter(|| {
                out.clear();
                for _ in 0..OPS {
                    write_pub(&mut out, b"bench.subject.foo", None, None, &payload);
                }
                out.len()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
