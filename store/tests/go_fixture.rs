//! Reads the store directory nats-streaming-server 0.25.6 left
//! (`../shared/fixtures/go-filestore-0.25.6/store`, see the fixture's README)
//! with `stan_core::stan::filestore`, and checks that what it recovers is
//! exactly what the Go server served after restarting on it
//! (`expected/*.json`, `expected/messages.jsonl`): the clients, each
//! channel's first/last sequence, counts and bytes, every message's
//! sequence, timestamp, payload size and SHA-256, and every subscription.
//! The fixture is only read, never written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};
use stan_core::stan::filestore::layout::{parse_slice_data_name, slice_index_name};
use stan_core::stan::filestore::{
    encode_payload, put_version, recover, scan, scan_index, ChannelFiles, Crc32, FileEnd, FileId,
    Framing, IndexRebuild, IndexStatus, RecordError, Recovery, RecoveryErrorKind, RecoveryOptions,
    Repair, ScanOptions, SliceFiles, StoreFiles, SubKind,
};
use stan_core::stan::store::ChannelLimits;
use stan_proto::{Message, MsgProto};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/go-filestore-0.25.6")
}

fn read(path: &Path) -> Bytes {
    Bytes::from(
        std::fs::read(path).unwrap_or_else(|e| panic!("{} unreadable: {e}", path.display())),
    )
}

fn read_opt(path: &Path) -> Option<Bytes> {
    path.exists().then(|| read(path))
}

/// What the IO side does before recovery: every file's bytes.
fn load(dir: &Path) -> StoreFiles {
    let mut files = StoreFiles {
        server: read(&dir.join("server.dat")),
        clients: read_opt(&dir.join("clients.dat")),
        channels: BTreeMap::new(),
    };
    for entry in std::fs::read_dir(dir).expect("store dir") {
        let entry = entry.expect("dir entry");
        if !entry.file_type().expect("file type").is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut channel = ChannelFiles {
            subs: read_opt(&entry.path().join("subs.dat")),
            slices: BTreeMap::new(),
        };
        for f in std::fs::read_dir(entry.path()).expect("channel dir") {
            let f = f.expect("dir entry");
            let fname = f.file_name().to_string_lossy().into_owned();
            if let Some(n) = parse_slice_data_name(&fname).expect("slice name") {
                channel.slices.insert(
                    n,
                    SliceFiles {
                        data: read(&f.path()),
                        index: read_opt(&entry.path().join(slice_index_name(n))),
                    },
                );
            }
        }
        files.channels.insert(name, channel);
    }
    files
}

/// limits.conf: `limited` keeps 10 messages, the rest the defaults.
fn limits(channel: &str) -> ChannelLimits {
    ChannelLimits {
        max_msgs: if channel == "limited" { 10 } else { 1_000_000 },
        ..ChannelLimits::default()
    }
}

const OPTS: RecoveryOptions<'static> = RecoveryOptions {
    crc: Some(&Crc32::IEEE),
    truncate_bad_eof: false,
    now: None,
};

fn recovered() -> (StoreFiles, Recovery) {
    let files = load(&fixture().join("store"));
    let r = recover(&files, &OPTS, limits)
        .expect("the Go store recovers")
        .expect("an initialized store");
    (files, r)
}

fn expected(name: &str) -> Value {
    let path = fixture().join("expected").join(name);
    serde_json::from_slice(&read(&path)).expect("expected JSON")
}

/// Every record of every file has the right CRC, and re-encodes to the
/// file's exact bytes; every index is the one we would write.
#[test]
fn every_record_checks_and_re_encodes() {
    let (files, r) = recovered();
    assert_eq!(r.repairs, [], "a cleanly stopped store needs no repair");
    let mut typed = vec![(FileId::Clients, files.clients.clone().expect("clients.dat"))];
    let mut untyped = vec![(FileId::Server, files.server.clone())];
    for (name, ch) in &files.channels {
        typed.push((
            FileId::Subs {
                channel: name.clone(),
            },
            ch.subs.clone().expect("subs.dat"),
        ));
        for (&n, s) in &ch.slices {
            untyped.push((
                FileId::SliceData {
                    channel: name.clone(),
                    slice: n,
                },
                s.data.clone(),
            ));
        }
    }
    let mut records = 0;
    for (framing, list) in [(Framing::Typed, typed), (Framing::Untyped, untyped)] {
        for (id, bytes) in list {
            let opts = ScanOptions {
                framing,
                crc: Some(&Crc32::IEEE),
            };
            let s = scan(&bytes, opts).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(s.end, FileEnd::Clean, "{id}");
            let mut again = BytesMut::new();
            put_version(&mut again);
            for rec in &s.records {
                encode_payload(&mut again, rec.tag, &rec.payload, &Crc32::IEEE).expect("fits");
            }
            assert_eq!(again, bytes, "{id} does not re-encode");
            records += s.records.len();
        }
    }
    // server, clients, subs (orders, events.a; limited has none), messages.
    assert_eq!(records, 1 + 6 + (93 + 10) + (30 + 5 + 25));

    // Indexes: the fixture's bytes are what we write for the recovered
    // slices (same layout, CRC over the first 28 bytes of each record).
    for (name, ch) in &r.channels {
        for slice in &ch.msgs.slices {
            assert_eq!(
                slice.index,
                IndexStatus::Valid,
                "{name} slice {}",
                slice.number
            );
            let mut idx = BytesMut::new();
            put_version(&mut idx);
            for e in slice.entries() {
                e.encode(&mut idx, &Crc32::IEEE);
            }
            let on_disk = files.channels[name].slices[&slice.number]
                .index
                .clone()
                .expect("index file");
            assert_eq!(idx, on_disk, "{name}: index differs");
            assert_eq!(scan_index(&on_disk, Some(&Crc32::IEEE)).problem, None);
        }
    }
}

#[test]
fn server_and_clients() {
    let (_, r) = recovered();
    let serverz = expected("serverz.json");
    assert_eq!(r.info.cluster_id, serverz["cluster_id"]);
    assert_eq!(r.info.discovery, "_STAN.discover.test-cluster");
    assert_eq!(r.info.acks_subs, "_STAN.ack.test-cluster");

    let clientsz = expected("clientsz_subs_1.json");
    let want: BTreeMap<&str, &str> = clientsz["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["hb_inbox"].as_str().unwrap()))
        .collect();
    let got: BTreeMap<&str, &str> = r
        .clients
        .clients
        .values()
        .map(|c| (c.id.as_str(), c.hb_inbox.as_str()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(r.clients.deleted_records, 2);

    // serverz totals.
    let subs: usize = r.channels.values().map(|c| c.subs.subs.len()).sum();
    let msgs: u64 = r.channels.values().map(|c| c.msgs.count).sum();
    let bytes: u64 = r.channels.values().map(|c| c.msgs.bytes).sum();
    assert_eq!(
        json!({
            "clients": r.clients.clients.len(),
            "subscriptions": subs,
            "channels": r.channels.len(),
            "total_msgs": msgs,
            "total_bytes": bytes,
        }),
        json!({
            "clients": serverz["clients"],
            "subscriptions": serverz["subscriptions"],
            "channels": serverz["channels"],
            "total_msgs": serverz["total_msgs"],
            "total_bytes": serverz["total_bytes"],
        })
    );
}

/// A recovered subscription as /streaming/channelsz?subs=1 shows it.
fn subscriptionz(sub: &stan_core::stan::filestore::RecoveredSub) -> Value {
    let s = &sub.state;
    let offline = match sub.kind() {
        SubKind::Durable { offline } => offline,
        SubKind::DurableQueue { shadow } => shadow,
        SubKind::Plain | SubKind::Queue => false,
    };
    let mut v = json!({
        "client_id": s.client_id,
        "inbox": s.inbox,
        "ack_inbox": s.ack_inbox,
        "is_durable": s.is_durable,
        "is_offline": offline,
        "max_inflight": s.max_in_flight,
        "ack_wait": s.ack_wait_in_secs,
        "last_sent": s.last_sent,
        "pending_count": sub.pending.len(),
        "is_stalled": sub.pending.len() as i64 >= i64::from(s.max_in_flight),
    });
    if !s.durable_name.is_empty() {
        v["durable_name"] = json!(s.durable_name);
    }
    if !s.q_group.is_empty() {
        v["queue_name"] = json!(s.q_group);
    }
    v
}

#[test]
fn channels_and_subscriptions() {
    let (_, r) = recovered();
    let channelsz = expected("channelsz_subs_1.json");
    let want = channelsz["channels"].as_array().expect("channels");
    assert_eq!(want.len(), r.channels.len());
    for w in want {
        let name = w["name"].as_str().expect("name");
        let ch = &r.channels[name];
        let mut subs: Vec<Value> = ch.subs.subs.values().map(subscriptionz).collect();
        let mut want_subs = w["subscriptions"].as_array().cloned().unwrap_or_default();
        let by_inbox = |v: &Value| v["inbox"].as_str().unwrap_or_default().to_owned();
        subs.sort_by_key(by_inbox);
        want_subs.sort_by_key(by_inbox);
        let got = json!({
            "name": name,
            "msgs": ch.msgs.count,
            "bytes": ch.msgs.bytes,
            "first_seq": ch.msgs.first_seq,
            "last_seq": ch.msgs.last_seq,
            "subs_count": ch.subs.subs.len(),
            "subscriptions": subs,
        });
        let mut want = w.clone();
        want["subscriptions"] = json!(want_subs);
        assert_eq!(got, want, "channel {name}");
    }

    // The cases the fixture was made for, spelled out.
    let orders = &r.channels["orders"].subs;
    let billing = &orders.subs[&1];
    assert_eq!(billing.kind(), SubKind::Durable { offline: true });
    assert_eq!(
        billing.pending.iter().copied().collect::<Vec<_>>(),
        [13, 14, 15, 16, 17]
    );
    let group = &orders.subs[&2];
    assert_eq!(group.kind(), SubKind::DurableQueue { shadow: true });
    assert_eq!(group.state.q_group, "dq:workers");
    assert!(group.pending.is_empty());
    assert_eq!(orders.max_sub_id, 2);
    let live = &r.channels["events.a"].subs;
    assert_eq!(live.subs[&1].kind(), SubKind::Plain);
    assert_eq!(live.subs[&2].kind(), SubKind::Durable { offline: false });
    assert!(live
        .subs
        .values()
        .all(|s| s.state.client_id == "live-client"));
    assert!(r.channels["limited"].subs.subs.is_empty());

    // resume_billing.json: 13-17 redelivered first, then 18-30.
    let resume = expected("resume_billing.json");
    let redelivered: BTreeSet<u64> = resume
        .as_array()
        .expect("deliveries")
        .iter()
        .filter(|d| d["redelivered"] == true)
        .map(|d| d["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(redelivered, billing.pending);
    let rest: Vec<u64> = resume
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["redelivered"] == false)
        .map(|d| d["seq"].as_u64().unwrap())
        .collect();
    let orders_msgs = &r.channels["orders"].msgs;
    assert_eq!(
        rest,
        (billing.state.last_sent + 1..=orders_msgs.last_seq).collect::<Vec<_>>()
    );
}

/// Every message the Go server delivered to a "deliver all" subscriber,
/// and no other, with its exact timestamp, size and SHA-256.
#[test]
fn every_message() {
    let (_, r) = recovered();
    let jsonl = read(&fixture().join("expected/messages.jsonl"));
    let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut lines = 0;
    for line in std::str::from_utf8(&jsonl).expect("utf-8").lines() {
        let want: Value = serde_json::from_str(line).expect("JSON line");
        let channel = want["channel"].as_str().expect("channel");
        let seq = want["seq"].as_u64().expect("seq");
        let msg = r.channels[channel]
            .msgs
            .get(seq)
            .unwrap_or_else(|| panic!("{channel} {seq} not recovered"));
        let m = MsgProto::decode(msg.encoded.clone()).expect("MsgProto");
        assert_eq!(m.sequence, seq);
        assert_eq!(m.subject, channel);
        assert_eq!(
            Some(m.timestamp),
            want["timestamp"].as_i64(),
            "{channel} {seq}"
        );
        assert_eq!(msg.index.timestamp, m.timestamp);
        assert_eq!(
            Some(m.data.len() as u64),
            want["size"].as_u64(),
            "{channel} {seq}"
        );
        assert_eq!(
            hex(&sha256(&m.data)),
            want["sha256"].as_str().expect("sha256"),
            "{channel} {seq}"
        );
        // The stored message is the record's payload, not a copy.
        assert_eq!(msg.stored().encoded, msg.encoded);
        seen.entry(channel.to_owned()).or_default().push(seq);
        lines += 1;
    }
    assert_eq!(lines, 45);
    for (name, ch) in &r.channels {
        let live: Vec<u64> = ch.msgs.live().map(|m| m.index.seq).collect();
        assert_eq!(seen.get(name).cloned().unwrap_or_default(), live, "{name}");
    }
    // Exact payloads: an empty message, and `order-1`.
    let orders = &r.channels["orders"].msgs;
    let data = |seq| {
        MsgProto::decode(orders.get(seq).unwrap().encoded.clone())
            .unwrap()
            .data
    };
    assert_eq!(data(1), Bytes::from_static(b"order-1"));
    assert!(data(7).is_empty());
    assert_eq!(data(8).len(), 65_536);
}

/// `limited`: 25 records on file, max_msgs 10 applied at recovery.
#[test]
fn limits_applied_at_recovery() {
    let (files, r) = recovered();
    let limited = &r.channels["limited"].msgs;
    assert_eq!(limited.slices.len(), 1);
    assert_eq!(limited.slices[0].msgs.len(), 25, "every record is on file");
    assert_eq!(limited.slices[0].removed, 15);
    assert_eq!((limited.first_seq, limited.last_seq), (16, 25));
    // Without the limit, all 25 are there.
    let all = recover(&files, &OPTS, |_| ChannelLimits::default())
        .unwrap()
        .unwrap();
    assert_eq!(all.channels["limited"].msgs.first_seq, 1);
    assert_eq!(all.channels["limited"].msgs.count, 25);
}

/// A crash mid-append on a copy of the fixture's bytes: the torn tail is
/// truncated and the index rebuilt; corruption in the middle stops recovery.
#[test]
fn damaged_copies() {
    let files = load(&fixture().join("store"));
    let mut torn = files.clone();
    let orders = torn.channels.get_mut("orders").unwrap();
    let slice = orders.slices.get_mut(&1).unwrap();
    let len = slice.data.len();
    slice.data = slice.data.slice(..len - 5);
    let r = recover(&torn, &OPTS, limits).unwrap().unwrap();
    let msgs = &r.channels["orders"].msgs;
    assert_eq!((msgs.first_seq, msgs.last_seq), (1, 29));
    assert!(matches!(
        r.repairs.as_slice(),
        [
            Repair::Truncate {
                file: FileId::SliceData { slice: 1, .. },
                reason: RecordError::IncompletePayload { .. },
                corrupt: false,
                ..
            },
            Repair::RewriteIndex {
                slice: 1,
                reason: IndexRebuild::Differs {
                    position: 29,
                    index_entries: 30,
                    data_entries: 29
                },
                ..
            },
        ]
    ));

    // A flipped payload byte, and a damaged size field (which makes the
    // record run past the end of the file, like a torn one: the good
    // records after it tell it is not).
    for (at, what) in [(130, "payload"), (121, "size")] {
        let mut corrupt = files.clone();
        let ch = corrupt.channels.get_mut("orders").unwrap();
        let mut subs = BytesMut::from(&ch.subs.clone().unwrap()[..]);
        subs[at] ^= 0xff;
        ch.subs = Some(subs.freeze());
        let e = match recover(&corrupt, &OPTS, limits) {
            Err(e) => e,
            Ok(r) => panic!(
                "damaged {what} recovered, repairs {:?}",
                r.map(|r| r.repairs)
            ),
        };
        assert_eq!(
            e.file,
            FileId::Subs {
                channel: "orders".into()
            }
        );
        assert!(
            matches!(
                e.kind,
                RecoveryErrorKind::Corrupt {
                    offset: 119,
                    reason: RecordError::CrcMismatch { .. } | RecordError::DamagedSize { .. }
                }
            ),
            "{what}: {e}"
        );
        assert!(e.to_string().contains("--file_truncate_bad_eof"), "{e}");
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 (FIPS 180-4), enough for a test: no crate for it is vendored.
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[test]
fn sha256_vectors() {
    assert_eq!(
        hex(&sha256(b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex(&sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_eq!(
        hex(&sha256(long)),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
}
