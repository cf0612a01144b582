//! Golden wire vectors from an independent protobuf implementation.
//!
//! `tests/golden/<Message>.json` is written by `interop/node/gen-golden.js`,
//! which encodes every message of `pb/protocol.proto` with
//! node-nats-streaming's generated module (google-protobuf). For every case we
//! decode `hex` with our prost types and compare the WHOLE decoded message,
//! converted to the same JSON shape, against `fields`; for canonical cases
//! (no `"unknown_fields": true`) our `encode_to_vec()` must also reproduce
//! `hex` byte for byte.
//!
//! JSON shape of a field value: string → string, bytes → lowercase hex,
//! int32/uint32/enum → number, bool → bool, int64/uint64 → decimal string.
//!
//! Regenerate with `node interop/node/gen-golden.js` (after
//! `scripts/install-deps.sh`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use stan_proto::{
    Ack, CloseRequest, CloseResponse, ConnectRequest, ConnectResponse, Message, MsgProto, Ping,
    PingResponse, PubAck, PubMsg, SubscriptionRequest, SubscriptionResponse, UnsubscribeRequest,
};

/// Minimum number of cases each golden file must hold.
const MIN_CASES: usize = 2;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

fn to_hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err(format!("odd-length hex string ({} chars)", s.len()));
    }
    let digit = |c: u8| -> Result<u8, String> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(format!("bad hex digit {:?}", c as char)),
        }
    };
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| Ok((digit(p[0])? << 4) | digit(p[1])?))
        .collect()
}

fn hex(b: &[u8]) -> Value {
    Value::String(to_hex(b))
}

fn dec<T: ToString>(v: T) -> Value {
    Value::String(v.to_string())
}

/// A message type with golden vectors. `to_json` destructures the message
/// without `..`, so adding a field to the `.proto` fails to compile here until
/// the field is covered.
trait Golden: Message + Default + PartialEq + std::fmt::Debug {
    const NAME: &'static str;
    fn to_json(&self) -> Value;
}

impl Golden for PubMsg {
    const NAME: &'static str = "PubMsg";
    fn to_json(&self) -> Value {
        let PubMsg {
            client_id,
            guid,
            subject,
            reply,
            data,
            conn_id,
            sha256,
        } = self;
        json!({
            "client_id": client_id,
            "guid": guid,
            "subject": subject,
            "reply": reply,
            "data": hex(data),
            "conn_id": hex(conn_id),
            "sha256": hex(sha256),
        })
    }
}

impl Golden for PubAck {
    const NAME: &'static str = "PubAck";
    fn to_json(&self) -> Value {
        let PubAck { guid, error } = self;
        json!({ "guid": guid, "error": error })
    }
}

impl Golden for MsgProto {
    const NAME: &'static str = "MsgProto";
    fn to_json(&self) -> Value {
        let MsgProto {
            sequence,
            subject,
            reply,
            data,
            timestamp,
            redelivered,
            redelivery_count,
            crc32,
        } = self;
        json!({
            "sequence": dec(sequence),
            "subject": subject,
            "reply": reply,
            "data": hex(data),
            "timestamp": dec(timestamp),
            "redelivered": redelivered,
            "redelivery_count": redelivery_count,
            "crc32": crc32,
        })
    }
}

impl Golden for Ack {
    const NAME: &'static str = "Ack";
    fn to_json(&self) -> Value {
        let Ack { subject, sequence } = self;
        json!({ "subject": subject, "sequence": dec(sequence) })
    }
}

impl Golden for ConnectRequest {
    const NAME: &'static str = "ConnectRequest";
    fn to_json(&self) -> Value {
        let ConnectRequest {
            client_id,
            heartbeat_inbox,
            protocol,
            conn_id,
            ping_interval,
            ping_max_out,
        } = self;
        json!({
            "client_id": client_id,
            "heartbeat_inbox": heartbeat_inbox,
            "protocol": protocol,
            "conn_id": hex(conn_id),
            "ping_interval": ping_interval,
            "ping_max_out": ping_max_out,
        })
    }
}

impl Golden for ConnectResponse {
    const NAME: &'static str = "ConnectResponse";
    fn to_json(&self) -> Value {
        let ConnectResponse {
            pub_prefix,
            sub_requests,
            unsub_requests,
            close_requests,
            error,
            sub_close_requests,
            ping_requests,
            ping_interval,
            ping_max_out,
            protocol,
            public_key,
        } = self;
        json!({
            "pub_prefix": pub_prefix,
            "sub_requests": sub_requests,
            "unsub_requests": unsub_requests,
            "close_requests": close_requests,
            "error": error,
            "sub_close_requests": sub_close_requests,
            "ping_requests": ping_requests,
            "ping_interval": ping_interval,
            "ping_max_out": ping_max_out,
            "protocol": protocol,
            "public_key": public_key,
        })
    }
}

impl Golden for Ping {
    const NAME: &'static str = "Ping";
    fn to_json(&self) -> Value {
        let Ping { conn_id } = self;
        json!({ "conn_id": hex(conn_id) })
    }
}

impl Golden for PingResponse {
    const NAME: &'static str = "PingResponse";
    fn to_json(&self) -> Value {
        let PingResponse { error } = self;
        json!({ "error": error })
    }
}

impl Golden for SubscriptionRequest {
    const NAME: &'static str = "SubscriptionRequest";
    fn to_json(&self) -> Value {
        let SubscriptionRequest {
            client_id,
            subject,
            q_group,
            inbox,
            max_in_flight,
            ack_wait_in_secs,
            durable_name,
            start_position,
            start_sequence,
            start_time_delta,
        } = self;
        json!({
            "client_id": client_id,
            "subject": subject,
            "q_group": q_group,
            "inbox": inbox,
            "max_in_flight": max_in_flight,
            "ack_wait_in_secs": ack_wait_in_secs,
            "durable_name": durable_name,
            "start_position": start_position,
            "start_sequence": dec(start_sequence),
            "start_time_delta": dec(start_time_delta),
        })
    }
}

impl Golden for SubscriptionResponse {
    const NAME: &'static str = "SubscriptionResponse";
    fn to_json(&self) -> Value {
        let SubscriptionResponse { ack_inbox, error } = self;
        json!({ "ack_inbox": ack_inbox, "error": error })
    }
}

impl Golden for UnsubscribeRequest {
    const NAME: &'static str = "UnsubscribeRequest";
    fn to_json(&self) -> Value {
        let UnsubscribeRequest {
            client_id,
            subject,
            inbox,
            durable_name,
        } = self;
        json!({
            "client_id": client_id,
            "subject": subject,
            "inbox": inbox,
            "durable_name": durable_name,
        })
    }
}

impl Golden for CloseRequest {
    const NAME: &'static str = "CloseRequest";
    fn to_json(&self) -> Value {
        let CloseRequest { client_id } = self;
        json!({ "client_id": client_id })
    }
}

impl Golden for CloseResponse {
    const NAME: &'static str = "CloseResponse";
    fn to_json(&self) -> Value {
        let CloseResponse { error } = self;
        json!({ "error": error })
    }
}

/// Every message type of `pb/protocol.proto`; each must have a golden file.
const ALL: [&str; 13] = [
    "Ack",
    "CloseRequest",
    "CloseResponse",
    "ConnectRequest",
    "ConnectResponse",
    "MsgProto",
    "Ping",
    "PingResponse",
    "PubAck",
    "PubMsg",
    "SubscriptionRequest",
    "SubscriptionResponse",
    "UnsubscribeRequest",
];

fn load(name: &str) -> Vec<Value> {
    let path = golden_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "missing golden file {} ({e}); regenerate with `node interop/node/gen-golden.js`",
            path.display()
        )
    });
    match serde_json::from_str(&text) {
        Ok(Value::Array(cases)) => cases,
        Ok(other) => panic!("{}: top level is not an array: {other}", path.display()),
        Err(e) => panic!("{}: invalid JSON: {e}", path.display()),
    }
}

/// Checks one case; returns whether it was canonical.
fn check_case<T: Golden>(case: &Value) -> Result<bool, String> {
    let obj = case.as_object().ok_or("case is not an object")?;
    for key in obj.keys() {
        if !["case", "hex", "fields", "unknown_fields"].contains(&key.as_str()) {
            return Err(format!("unexpected key {key:?}"));
        }
    }
    let hex_str = obj
        .get("hex")
        .and_then(Value::as_str)
        .ok_or("missing string \"hex\"")?;
    let want = obj.get("fields").ok_or("missing \"fields\"")?;
    if !want.is_object() {
        return Err("\"fields\" is not an object".into());
    }
    let unknown = match obj.get("unknown_fields") {
        None => false,
        Some(Value::Bool(true)) => true,
        Some(v) => {
            return Err(format!(
                "\"unknown_fields\" must be true or absent, got {v}"
            ))
        }
    };
    let wire = from_hex(hex_str)?;

    let msg = T::decode(wire.as_slice()).map_err(|e| format!("decode failed: {e}"))?;
    let got = msg.to_json();
    if &got != want {
        return Err(format!(
            "decoded fields differ\n  ours:   {got}\n  golden: {want}"
        ));
    }

    let ours = msg.encode_to_vec();
    if unknown {
        // Not byte-identical (unknown fields dropped, duplicates collapsed),
        // but our re-encoding must decode to the same message.
        let again = T::decode(ours.as_slice()).map_err(|e| format!("re-decode failed: {e}"))?;
        if again != msg {
            return Err(format!(
                "re-encoding does not round-trip: {again:?} != {msg:?}"
            ));
        }
        if ours.len() > wire.len() {
            return Err(format!(
                "re-encoding ({} bytes) longer than the input with unknown fields ({} bytes)",
                ours.len(),
                wire.len()
            ));
        }
    } else if ours != wire {
        return Err(format!(
            "encoding differs\n  ours:   {}\n  golden: {hex_str}",
            to_hex(&ours)
        ));
    }
    Ok(!unknown)
}

fn check_all<T: Golden>() {
    let cases = load(T::NAME);
    assert!(
        cases.len() >= MIN_CASES,
        "{}: only {} golden cases (need >= {MIN_CASES})",
        T::NAME,
        cases.len()
    );
    let mut names = BTreeSet::new();
    let mut failures = Vec::new();
    let (mut canonical, mut with_unknown) = (0, 0);
    for (i, case) in cases.iter().enumerate() {
        let name = case
            .get("case")
            .and_then(Value::as_str)
            .map_or_else(|| format!("#{i}"), str::to_owned);
        if !names.insert(name.clone()) {
            failures.push(format!("{}/{name}: duplicate case name", T::NAME));
        }
        match check_case::<T>(case) {
            Ok(true) => canonical += 1,
            Ok(false) => with_unknown += 1,
            Err(e) => failures.push(format!("{}/{name}: {e}", T::NAME)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        canonical >= 1 && with_unknown >= 1,
        "{}: need canonical and unknown-field cases, have {canonical} and {with_unknown}",
        T::NAME
    );
}

macro_rules! golden_tests {
    ($($test:ident => $ty:ty),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check_all::<$ty>();
            }
        )*

        /// `ALL` and the per-type tests above cover the same types.
        #[test]
        fn every_message_type_is_tested() {
            let tested: BTreeSet<&str> = [$(<$ty as Golden>::NAME),*].into_iter().collect();
            let all: BTreeSet<&str> = ALL.into_iter().collect();
            assert_eq!(tested, all);
        }
    };
}

golden_tests! {
    golden_pub_msg => PubMsg,
    golden_pub_ack => PubAck,
    golden_msg_proto => MsgProto,
    golden_ack => Ack,
    golden_connect_request => ConnectRequest,
    golden_connect_response => ConnectResponse,
    golden_ping => Ping,
    golden_ping_response => PingResponse,
    golden_subscription_request => SubscriptionRequest,
    golden_subscription_response => SubscriptionResponse,
    golden_unsubscribe_request => UnsubscribeRequest,
    golden_close_request => CloseRequest,
    golden_close_response => CloseResponse,
}

/// The golden directory holds exactly one file per message type, each with
/// at least `MIN_CASES` cases (so deleting fixtures fails the build).
#[test]
fn golden_files_complete() {
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(golden_dir()).expect("tests/golden exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 name");
            found.insert(stem.to_owned());
        }
    }
    let want: BTreeSet<String> = ALL.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(found, want, "golden files vs. message types");
    for name in ALL {
        let n = load(name).len();
        assert!(n >= MIN_CASES, "{name}: {n} cases, need >= {MIN_CASES}");
    }
}

#[test]
fn hex_helpers_round_trip() {
    let b: Vec<u8> = (0..=255).collect();
    assert_eq!(from_hex(&to_hex(&b)).unwrap(), b);
    assert!(from_hex("abc").is_err());
    assert!(from_hex("zz").is_err());
    assert!(from_hex("AB").is_err(), "golden hex is lowercase");
}
