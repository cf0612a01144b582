//! Golden vectors for the persisted-state types (`proto/store.proto`): every
//! record of the Go server's file store in
//! `../shared/fixtures/go-filestore-0.25.6/store` (written by
//! nats-streaming-server 0.25.6 itself) decodes with our prost types, and our
//! `encode_to_vec()` gives back the very same bytes (gogo-protobuf and prost
//! both write fields in number order and omit default values).
//!
//! The record framing is parsed here by hand (4-byte version, then records of
//! a 4-byte little-endian type/size word, a 4-byte CRC and the payload); the
//! framing and CRCs themselves are tested in `stan_core::stan::filestore` and
//! by the `stan-store` fixture test.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use stan_proto::{
    ClientDelete, ClientInfo, Message, MsgProto, ServerInfo, SubState, SubStateDelete,
    SubStateUpdate,
};

fn store_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/go-filestore-0.25.6/store")
}

/// The records of a store file: (record type, payload). `typed` files carry
/// the type in the high byte of the first header word.
fn records(file: &str, typed: bool) -> Vec<(u8, Vec<u8>)> {
    let path = store_dir().join(file);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("fixture {} unreadable: {e}", path.display()));
    assert_eq!(
        bytes.get(..4),
        Some(&[1, 0, 0, 0][..]),
        "{file}: file version 1"
    );
    let mut out = Vec::new();
    let mut rest = &bytes[4..];
    while !rest.is_empty() {
        assert!(rest.len() >= 8, "{file}: truncated header");
        let word = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let (kind, size) = if typed {
            ((word >> 24) as u8, (word & 0x00ff_ffff) as usize)
        } else {
            (0, word as usize)
        };
        let payload = rest
            .get(8..8 + size)
            .unwrap_or_else(|| panic!("{file}: truncated payload"));
        out.push((kind, payload.to_vec()));
        rest = &rest[8 + size..];
    }
    out
}

/// Decodes `payload` as `T` and checks that re-encoding gives the same bytes.
fn round_trip<T: Message + Default>(file: &str, payload: &[u8]) -> T {
    let msg = T::decode(payload).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(msg.encode_to_vec(), payload, "{file}: re-encoding differs");
    msg
}

#[test]
fn server_info() {
    let recs = records("server.dat", false);
    assert_eq!(recs.len(), 1);
    let info: ServerInfo = round_trip("server.dat", &recs[0].1);
    assert_eq!(
        info,
        ServerInfo {
            cluster_id: "test-cluster".into(),
            discovery: "_STAN.discover.test-cluster".into(),
            publish: "_STAN.pub.test-cluster".into(),
            subscribe: "_STAN.sub.test-cluster".into(),
            unsubscribe: "_STAN.unsub.test-cluster".into(),
            close: "_STAN.close.test-cluster".into(),
            sub_close: "_STAN.subclose.test-cluster".into(),
            acks_subs: "_STAN.ack.test-cluster".into(),
            node_id: String::new(),
        }
    );
}

#[test]
fn clients() {
    let recs = records("clients.dat", true);
    let mut seen = Vec::new();
    for (kind, payload) in &recs {
        match kind {
            1 => {
                let c: ClientInfo = round_trip("clients.dat", payload);
                assert_eq!((c.protocol, c.ping_interval, c.ping_max_out), (1, 5, 3));
                assert!(c.hb_inbox.starts_with("_INBOX."));
                assert_eq!(c.conn_id.len(), 22, "a NUID");
                seen.push(format!("+{}", c.id));
            }
            2 => {
                let d: ClientDelete = round_trip("clients.dat", payload);
                seen.push(format!("-{}", d.id));
            }
            k => panic!("clients.dat: record type {k}"),
        }
    }
    assert_eq!(
        seen,
        [
            "+publisher",
            "+billing-client",
            "-billing-client",
            "+worker-1",
            "-worker-1",
            "+live-client"
        ]
    );
    let publisher: ClientInfo = round_trip("clients.dat", &recs[0].1);
    assert_eq!(
        publisher,
        ClientInfo {
            id: "publisher".into(),
            hb_inbox: "_INBOX.Z4NQPZGZYV39ZCUSI7570K".into(),
            conn_id: Bytes::from_static(b"Z4NQPZGZYV39ZCUSI757CA"),
            protocol: 1,
            ping_interval: 5,
            ping_max_out: 3,
        }
    );
}

#[test]
fn subscriptions() {
    let mut states = Vec::new();
    let mut updates = 0;
    for channel in ["orders", "events.a", "limited"] {
        let file = format!("{channel}/subs.dat");
        for (kind, payload) in records(&file, true) {
            match kind {
                1 | 2 => states.push((kind, round_trip::<SubState>(&file, &payload))),
                3 => {
                    round_trip::<SubStateDelete>(&file, &payload);
                }
                4 | 5 => {
                    let u: SubStateUpdate = round_trip(&file, &payload);
                    assert!(u.id > 0 && u.seqno > 0);
                    updates += 1;
                }
                k => panic!("{file}: record type {k}"),
            }
        }
    }
    assert_eq!(updates, 8 + 29 + 60);
    // The offline durable `billing`, as its closing update record left it.
    let billing = &states[1];
    assert_eq!(
        billing,
        &(
            2,
            SubState {
                id: 1,
                client_id: "billing-client".into(),
                q_group: String::new(),
                inbox: "_INBOX.Z4NQPZGZYV39ZCUSI75IKP".into(),
                ack_inbox: "_INBOX.Uwl91WNtGKKVASpsap0Jtf".into(),
                max_in_flight: 5,
                ack_wait_in_secs: 60,
                durable_name: "billing".into(),
                last_sent: 17,
                is_durable: true,
                is_closed: true,
            }
        )
    );
    // The durable queue group left by its last member: no client.
    let group = &states[3].1;
    assert_eq!(
        (
            group.client_id.as_str(),
            group.q_group.as_str(),
            group.last_sent
        ),
        ("", "dq:workers", 30)
    );
    assert!(group.is_durable && !group.is_closed);
    // live-client's plain sub (started at 3) and durable `audit` (last received).
    let (plain, audit) = (&states[4].1, &states[5].1);
    assert_eq!((plain.id, plain.last_sent, plain.is_durable), (1, 2, false));
    assert_eq!(
        (audit.id, audit.durable_name.as_str(), audit.last_sent),
        (2, "audit", 4)
    );
}

#[test]
fn messages() {
    for (channel, count) in [("orders", 30), ("events.a", 5), ("limited", 25)] {
        let file = format!("{channel}/msgs.1.dat");
        let recs = records(&file, false);
        assert_eq!(recs.len(), count);
        for (i, (_, payload)) in recs.iter().enumerate() {
            let m: MsgProto = round_trip(&file, payload);
            assert_eq!(m.sequence, i as u64 + 1);
            assert_eq!(m.subject, channel);
        }
    }
}
