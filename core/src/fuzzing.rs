//! Invariant checks shared by the fuzz targets in `fuzz/` and the test that
//! replays their committed corpus, so CI covers the corpus without a fuzzer.
//!
//! Input format of [`decode_chunked`] (chosen so that any byte string is a
//! valid input and no `arbitrary` dependency is needed):
//! * byte 0: bit 0 selects the direction (0 = client ops, 1 = server ops);
//!   bits 1..=2 select small limits, so the limit paths get exercised;
//! * byte 1: `k`, the number of chunk sizes that follow (at most 32);
//! * the next `k` bytes: chunk sizes, used cyclically (0 means 1);
//! * the rest: the wire bytes.

use bytes::BytesMut;

use crate::nats::{ClientOpDecoder, DecodeError, Limits, ServerOpDecoder};

/// Decodes `wire` in one piece and in the chunks described by `input`, and
/// panics if the two runs disagree on any op or on the error.
pub fn decode_chunked(input: &[u8]) {
    let (flags, rest) = input.split_first().unwrap_or((&0, &[]));
    let (k, rest) = rest.split_first().unwrap_or((&0, &[]));
    let k = usize::from(*k).min(32).min(rest.len());
    let (sizes, wire) = rest.split_at(k);
    let limits = match (flags >> 1) & 3 {
        0 => Limits::default(),
        1 => Limits {
            max_control_line: 16,
            max_payload: 64,
        },
        2 => Limits {
            max_control_line: 64,
            max_payload: 0,
        },
        _ => Limits {
            max_control_line: 1,
            max_payload: 1 << 20,
        },
    };
    if flags & 1 == 0 {
        let whole = run(
            wire,
            &[],
            limits,
            ClientOpDecoder::new,
            ClientOpDecoder::decode,
        );
        let chunked = run(
            wire,
            sizes,
            limits,
            ClientOpDecoder::new,
            ClientOpDecoder::decode,
        );
        assert_eq!(whole, chunked, "client-op decoding depends on chunking");
    } else {
        let whole = run(
            wire,
            &[],
            limits,
            ServerOpDecoder::new,
            ServerOpDecoder::decode,
        );
        let chunked = run(
            wire,
            sizes,
            limits,
            ServerOpDecoder::new,
            ServerOpDecoder::decode,
        );
        assert_eq!(whole, chunked, "server-op decoding depends on chunking");
    }
}

/// Feeds `wire` to a fresh decoder in chunks of the given sizes (all at once
/// when `sizes` is empty); returns the ops and the first error.
fn run<D, Op>(
    wire: &[u8],
    sizes: &[u8],
    limits: Limits,
    new: fn(Limits) -> D,
    decode: fn(&mut D, &mut BytesMut) -> Result<Option<Op>, DecodeError>,
) -> (Vec<Op>, Option<DecodeError>) {
    let mut dec = new(limits);
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < wire.len() {
        let n = if sizes.is_empty() {
            wire.len()
        } else {
            usize::from(sizes[i % sizes.len()]).max(1)
        };
        i += 1;
        let end = (pos + n).min(wire.len());
        buf.extend_from_slice(&wire[pos..end]);
        pos = end;
        loop {
            match decode(&mut dec, &mut buf) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => break,
                Err(e) => return (ops, Some(e)),
            }
        }
    }
    (ops, None)
}

/// Drives a [`Router`](crate::nats::router::Router) with arbitrary sessions,
/// bytes and time steps. Invariants: no panic; everything the router sends
/// decodes as valid server ops; after `handle_timeout(now)` no deadline at or
/// before `now` remains; the connection count matches the open sessions.
///
/// Input: a sequence of commands, one byte each plus arguments:
/// * `0..=127`: feed the next `b & 31` bytes to session `b >> 5`;
/// * `128..=159`: advance the clock by `(b & 31) * 250 ms` and fire timers;
/// * `160..=191`: accept a session (at most four);
/// * `192..=223`: the transport of session `b & 3` closes;
/// * `224..=239`: drain every session's output (reporting it written, and
///   feeding stalled producers their input again when resumed);
/// * `240..=255`: a write to session `b & 3` stays blocked past the deadline.
///
/// Also checked: a session whose input is paused (a stalled producer) has a
/// deadline that ends the stall.
///
/// The first byte selects the configuration (authentication, small limits,
/// debug and trace logging).
/// `start` is the virtual clock's origin (the caller reads a clock once).
pub fn router_session(start: std::time::Instant, input: &[u8]) {
    use crate::nats::router::{Auth, ConnId, Router, RouterConfig, RouterEvent, SessionPhase};
    use crate::nats::ServerOp;
    use std::time::Duration;

    let Some((&cfg, mut rest)) = input.split_first() else {
        return;
    };
    let config = RouterConfig {
        auth: match cfg & 3 {
            1 => Auth::Token("t".into()),
            2 => Auth::UserPass {
                user: "u".into(),
                pass: "p".into(),
            },
            _ => Auth::None,
        },
        max_pending: if cfg & 4 != 0 { 512 } else { 64 * 1024 },
        max_payload: if cfg & 8 != 0 { 32 } else { 1024 },
        max_control_line: if cfg & 16 != 0 { 24 } else { 4096 },
        max_connections: 3,
        max_subscriptions: if cfg & 32 != 0 { 2 } else { 0 },
        ping_interval: Duration::from_secs(5),
        seed: u64::from(cfg),
        debug: cfg & 64 != 0,
        trace: cfg & 64 != 0,
        ..RouterConfig::default()
    };
    let mut now = start;
    let mut router = Router::new(config, now);
    let mut sessions: Vec<(ConnId, BytesMut, ServerOpDecoder, BytesMut)> = Vec::new();
    let limits = Limits {
        max_control_line: 1 << 16,
        max_payload: 1 << 20,
    };
    let drain = |router: &mut Router,
                 sessions: &mut Vec<(ConnId, BytesMut, ServerOpDecoder, BytesMut)>,
                 now: std::time::Instant| {
        while let Some(ev) = router.poll_event() {
            if let RouterEvent::InputResumed(c) = ev {
                if let Some((conn, input, ..)) = sessions.iter_mut().find(|s| s.0 == c) {
                    router.handle_input(now, *conn, input);
                }
            }
        }
        for (conn, _, dec, out) in sessions.iter_mut() {
            while let Some(chunk) = router.poll_transmit(*conn) {
                out.extend_from_slice(&chunk);
                router.handle_written(now, *conn, chunk.len());
            }
            while let Some(op) = dec.decode(out).expect("router output must decode") {
                if let ServerOp::Info(json) = op {
                    serde_json::from_slice::<serde_json::Value>(&json).expect("INFO is JSON");
                }
            }
        }
    };
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            0..=127 => {
                let n = usize::from(b & 31).min(rest.len());
                let (bytes, tail) = rest.split_at(n);
                rest = tail;
                if let Some((conn, input, _, _)) = sessions.get_mut(usize::from(b >> 5)) {
                    input.extend_from_slice(bytes);
                    router.handle_input(now, *conn, input);
                }
            }
            128..=159 => {
                now += Duration::from_millis(250) * u32::from(b & 31);
                router.handle_timeout(now);
                assert!(
                    router.poll_timeout().is_none_or(|d| d > now),
                    "a deadline at or before now survived handle_timeout"
                );
            }
            160..=191 => {
                if sessions.len() < 4 {
                    let conn = router.handle_accept(now, "127.0.0.1:1");
                    sessions.push((
                        conn,
                        BytesMut::new(),
                        ServerOpDecoder::new(limits),
                        BytesMut::new(),
                    ));
                }
            }
            192..=223 => {
                let i = usize::from(b & 3);
                if i < sessions.len() {
                    let (conn, ..) = sessions.remove(i);
                    router.handle_transport_closed(now, conn);
                }
            }
            224..=239 => drain(&mut router, &mut sessions, now),
            _ => {
                if let Some((conn, ..)) = sessions.get(usize::from(b & 3)) {
                    router.handle_write_stalled(now, *conn);
                }
            }
        }
        for (conn, ..) in &sessions {
            if router.is_input_paused(*conn) {
                assert!(
                    router.poll_timeout().is_some(),
                    "a stalled producer has no deadline to end its stall"
                );
            }
        }
        let open = sessions
            .iter()
            .filter(|s| {
                matches!(
                    router.session_phase(s.0),
                    Some(SessionPhase::Open | SessionPhase::AwaitingConnect)
                )
            })
            .count();
        assert_eq!(router.connection_count(), open, "connection count drifted");
    }
    drain(&mut router, &mut sessions, now);
    // Closing sessions are finished by their driver.
    while let Some(ev) = router.poll_event() {
        if let RouterEvent::SessionClosed { conn, .. } = ev {
            router.handle_transport_closed(now, conn);
        }
    }
}

/// Drives the STAN engine in the simulation world with arbitrary client
/// actions, raw payloads on its subjects and time steps, checking after
/// each step that its records stay consistent and that it never leaves a
/// deadline behind (which would make a driver spin).
///
/// Input format: a sequence of ops; each op is one byte `op` and the bytes
/// its arguments consume (missing bytes read as 0).
pub fn engine_session(input: &[u8]) {
    use crate::sim::{SubHandle, World, C};
    use crate::stan::server::{ServerConfig, StoreLimits};
    use crate::stan::store::ChannelLimits;
    use bytes::Bytes;
    use stan_proto::SubscriptionRequest;
    use std::time::Duration;

    const IDS: [&str; 4] = ["a", "b", "c", "bad id"];
    const CHANNELS: [&str; 5] = ["foo", "bar", "Foo", "baz.q", "foo.*"];
    const SUBJECTS: [&str; 7] = [
        "_STAN.discover.test-cluster",
        "_STAN.discover.test-cluster.pings",
        "_STAN.pub.test-cluster.foo",
        "_STAN.sub.test-cluster",
        "_STAN.unsub.test-cluster",
        "_STAN.subclose.test-cluster",
        "_STAN.close.test-cluster",
    ];

    let mut bytes = input.iter().copied();
    let mut next = move || bytes.next();
    let Some(config) = next() else { return };
    let mut w = World::new(ServerConfig {
        hb_interval: Duration::from_secs(1 + u64::from(config & 3)),
        hb_timeout: Duration::from_secs(1),
        hb_fail_count: u32::from((config >> 2) & 3),
        io_batch_size: 1 + usize::from(config >> 4),
        limits: StoreLimits {
            max_channels: 3,
            channel: ChannelLimits {
                max_msgs: 5,
                max_bytes: 400,
                max_age: Duration::from_secs(20),
                max_subs: 4,
                max_inactivity: Duration::from_secs(if config & 0x80 != 0 { 30 } else { 0 }),
            },
            per_channel: Vec::new(),
        },
        ..ServerConfig::default()
    });
    let mut clients: Vec<(C, bool)> = Vec::new();
    let mut subs: Vec<(C, SubHandle)> = Vec::new();
    while let Some(op) = next() {
        let arg = next().unwrap_or(0);
        let pick_client = |clients: &[(C, bool)], a: u8| -> Option<(usize, C, bool)> {
            (!clients.is_empty()).then(|| {
                let i = usize::from(a) % clients.len();
                (i, clients[i].0, clients[i].1)
            })
        };
        match op % 11 {
            0 if clients.len() < 5 => {
                let c = w.client(&format!("k{}", clients.len()));
                let ok = w
                    .connect_as(c, IDS[usize::from(arg) % IDS.len()])
                    .error
                    .is_empty();
                clients.push((c, ok));
            }
            1 => {
                if let Some((_, c, true)) = pick_client(&clients, arg) {
                    let len = usize::from(next().unwrap_or(0));
                    let channel = CHANNELS[usize::from(arg >> 4) % CHANNELS.len()];
                    w.publish(c, channel, &vec![b'x'; len]);
                }
            }
            2 => {
                if let Some((_, c, true)) = pick_client(&clients, arg) {
                    let f = next().unwrap_or(0);
                    let g = next().unwrap_or(0);
                    let req = SubscriptionRequest {
                        subject: CHANNELS[usize::from(f) % CHANNELS.len()].into(),
                        q_group: if f & 0x10 != 0 {
                            "q".into()
                        } else {
                            String::new()
                        },
                        durable_name: if f & 0x20 != 0 {
                            "d".into()
                        } else {
                            String::new()
                        },
                        max_in_flight: i32::from(g & 3),
                        ack_wait_in_secs: i32::from((g >> 2) & 3),
                        start_position: i32::from(f >> 6) + i32::from(g >> 7) * 2,
                        start_sequence: u64::from(g >> 4),
                        start_time_delta: i64::from(g) * 1_000_000_000,
                        ..SubscriptionRequest::default()
                    };
                    if let Ok(s) = w.subscribe(c, req) {
                        subs.push((c, s));
                    }
                }
            }
            3 if !subs.is_empty() => {
                let (c, s) = subs[usize::from(arg) % subs.len()].clone();
                w.ack(c, &s, u64::from(next().unwrap_or(0) % 12));
            }
            4 if !subs.is_empty() => {
                let i = usize::from(arg) % subs.len();
                let (c, s) = subs.swap_remove(i);
                if clients.iter().any(|(k, ok)| *k == c && *ok) {
                    let _ = w.unsubscribe(c, &s, arg & 1 == 1);
                }
            }
            5 => {
                if let Some((i, c, true)) = pick_client(&clients, arg) {
                    let _ = w.close(c);
                    clients[i].1 = false;
                }
            }
            6 => {
                if let Some((_, c, _)) = pick_client(&clients, arg) {
                    let len = usize::from(next().unwrap_or(0) % 32);
                    let payload: Vec<u8> = (0..len).map(|_| next().unwrap_or(0)).collect();
                    let subject = SUBJECTS[usize::from(arg >> 3) % SUBJECTS.len()];
                    let _ = w.request(c, subject, Bytes::from(payload));
                }
            }
            7 => w.advance(Duration::from_millis(u64::from(arg) * 50)),
            8 => w.advance(Duration::from_secs(u64::from(arg))),
            9 => {
                if let Some((_, c, _)) = pick_client(&clients, arg) {
                    if arg & 0x80 != 0 {
                        w.detach(c);
                    } else {
                        w.set_answer_heartbeats(c, arg & 0x40 == 0);
                    }
                }
            }
            10 => {
                if let Some((_, c, true)) = pick_client(&clients, arg) {
                    let _ = w.ping(c);
                }
            }
            _ => {}
        }
        w.pump();
        w.engine.assert_consistent();
    }
}

/// Drives a STAN client [`Session`](crate::stan::client::Session) directly
/// with arbitrary server responses, deliveries, application commands and
/// time steps, checking after every step:
/// * after `handle_timeout(now)` no deadline at or before `now` remains, and
///   a finished session has no deadline at all;
/// * `pub_acks_in_flight()` never exceeds `max_pub_acks_in_flight` and
///   equals the accepted publishes not yet answered;
/// * every accepted publish gets at most one `PubAck` event, only accepted
///   GUIDs are acked, and a publish is refused only when the session is not
///   connected or the window is full;
/// * commands succeed exactly when the state allows them (subscribe and
///   publish when connected, ack and unsubscribe on an active subscription);
/// * events follow the phases: `Connected` and `ConnectFailed` only while
///   connecting, `ConnectionLost` only while connected, `Closed` only after
///   `close`, nothing after a terminal event; `Subscribed` once per
///   subscribe, `Unsubscribed` once per accepted unsubscribe, `Message`
///   only for a subscription the application still holds;
/// * `is_connected`/`is_done` agree with the events;
/// * a heartbeat with a reply subject is answered while the session lives.
///
/// At the end the NATS connection closes; then every publish, subscribe and
/// unsubscribe must have had exactly one outcome.
///
/// Input format: byte 0 is the configuration (bits 0-1: max PubAcks in
/// flight − 1; bits 2-3: connect wait 0/1/2/30 s; bits 4-5: PubAck wait
/// 0/1/3/30 s; bits 6-7: ping max out − 2). Then a sequence of ops, one byte
/// `op` (taken modulo 15) and the bytes its arguments consume (missing bytes
/// read as 0):
/// * `0 i f ..`: answer request `i` (every request the session ever sent,
///   modulo their number) in form `f % 8`: 0-3 a valid response of the
///   request's type (a ConnectResponse's ping interval, protocol and
///   subclose support come from `f`), 4 a response carrying an error, 5 a
///   no-responders status, 6 `n` raw bytes (`n` then the bytes), 7 empty;
/// * `1 c n`: publish `n` bytes on channel `c`;
/// * `2 i e`: PubAck for accepted GUID `i` (an unknown GUID when `i` has bit
///   7), with an error when `e` is odd, raw bytes when `e % 4 == 2`;
/// * `3 f g`: subscribe with options from `f` and `g`;
/// * `4 i s r`: deliver MsgProto sequence `s` on subscription sid `i` (raw
///   bytes `r` long when `r` has bit 7);
/// * `5 i s`: ack sequence `s` on subscription `i`;
/// * `6 i`: unsubscribe (even `i`) or close (odd `i`) subscription `i >> 1`;
/// * `7`: close the session;
/// * `8 t`: advance the clock by `t * 50 ms` and fire timers;
/// * `9 t`: advance the clock by `t` seconds and fire timers;
/// * `10 r`: heartbeat, with a reply subject when `r` is odd;
/// * `11 k`: ping response: empty, ok, error, no-responders or raw bytes;
/// * `12 i n ..`: `n` raw bytes on any learned sid `i` (or an unknown one),
///   on the request-reply subject with an arbitrary token when `n` has bit 7;
/// * `13`: the NATS connection closes for good;
/// * `14 t`: fire timers with a clock `t * 50 ms` behind the latest `now`.
///
/// `start` is the virtual clock's origin (the caller reads a clock once).
pub fn client_session(start: std::time::Instant, input: &[u8]) {
    use crate::nats::client::CloseReason;
    use crate::nats::{InboundMessage, NatsCommand};
    use crate::stan::client::{
        ClientError, ClientEvent, ConnectOptions, Session, StartAt, SubId, SubscriptionOptions,
    };
    use bytes::Bytes;
    use stan_proto::{
        CloseResponse, ConnectResponse, Message, MsgProto, PingResponse, PubAck,
        SubscriptionResponse,
    };
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    const DISCOVER: &str = "_STAN.discover.test-cluster";
    const CHANNELS: [&str; 4] = ["foo", "bar", "foo.bar", ""];

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Model {
        Connecting,
        Connected,
        Closing,
        Done,
    }
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum SubState {
        Requested,
        Active,
        Unsubscribing,
        Gone,
    }
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Kind {
        Connect,
        Subscribe,
        Unsubscribe,
        Close,
        Other,
    }
    struct Sub {
        id: SubId,
        manual: bool,
        state: SubState,
        subscribed: u32,
        unsubscribed: u32,
        unsub_requested: bool,
    }

    let mut bytes = input.iter().copied();
    let mut next = move || bytes.next();
    let Some(cfg) = next() else { return };
    let max_in_flight = 1 + usize::from(cfg & 3);
    let secs = |i: u8, table: [u64; 4]| Duration::from_secs(table[usize::from(i & 3)]);
    let mut options = ConnectOptions::new("test-cluster", "me");
    options.max_pub_acks_in_flight = max_in_flight;
    options.connect_wait = secs(cfg >> 2, [0, 1, 2, 30]);
    options.pub_ack_wait = secs(cfg >> 4, [0, 1, 3, 30]);
    options.ping_interval = 1;
    options.ping_max_out = 2 + u32::from(cfg >> 6);
    options.seed = 7;

    let mut now = start;
    let mut latest = start;
    let mut s = Session::new(options, now, 1_000_000_000).expect("valid options");
    let mut model = Model::Connecting;
    // The ConnectResponse the session accepted (learned from `Connected`)
    // and the last one that decoded (a candidate).
    let mut connect: Option<ConnectResponse> = None;
    let mut candidate: Option<ConnectResponse> = None;
    let mut sid_subjects: BTreeMap<u64, Bytes> = BTreeMap::new();
    let mut sub_sids: Vec<u64> = Vec::new();
    let mut reply_prefix: Option<Bytes> = None;
    let mut requests: Vec<(Bytes, Kind)> = Vec::new();
    let mut guids: Vec<String> = Vec::new();
    let mut acked: BTreeMap<String, u32> = BTreeMap::new();
    let mut outstanding: BTreeSet<String> = BTreeSet::new();
    let mut subs: Vec<Sub> = Vec::new();
    let mut terminals = 0u32;
    let mut published_replies: BTreeSet<Bytes> = BTreeSet::new();

    let msg = |subject: Bytes, sid: u64, payload: Bytes| InboundMessage {
        subject,
        sid,
        reply: None,
        headers: None,
        payload,
    };
    let no_responders = |subject: Bytes, sid: u64| InboundMessage {
        subject,
        sid,
        reply: None,
        headers: Some(Bytes::from_static(b"NATS/1.0 503\r\n\r\n")),
        payload: Bytes::new(),
    };

    macro_rules! raw {
        ($n:expr) => {{
            let n = usize::from($n);
            Bytes::from((0..n).map(|_| next().unwrap_or(0)).collect::<Vec<u8>>())
        }};
    }

    // Drains events and commands, checking them against the model.
    macro_rules! drain {
        () => {{
            while let Some(ev) = s.poll_event() {
                assert_ne!(model, Model::Done, "event after a terminal event: {ev:?}");
                match ev {
                    ClientEvent::Connected => {
                        assert_eq!(model, Model::Connecting, "Connected twice");
                        model = Model::Connected;
                        connect = Some(candidate.clone().expect("Connected without a response"));
                    }
                    ClientEvent::ConnectFailed(_) => {
                        assert_eq!(model, Model::Connecting, "ConnectFailed after connecting");
                        model = Model::Done;
                        terminals += 1;
                    }
                    ClientEvent::ConnectionLost(_) => {
                        assert_eq!(model, Model::Connected, "ConnectionLost while {model:?}");
                        model = Model::Done;
                        terminals += 1;
                    }
                    ClientEvent::Closed(_) => {
                        assert_eq!(model, Model::Closing, "Closed without close");
                        model = Model::Done;
                        terminals += 1;
                    }
                    ClientEvent::PubAck { guid, .. } => {
                        assert!(guids.contains(&guid), "PubAck for an unknown GUID {guid}");
                        let n = acked.entry(guid.clone()).or_default();
                        *n += 1;
                        assert_eq!(*n, 1, "two PubAcks for {guid}");
                        outstanding.remove(&guid);
                    }
                    ClientEvent::Subscribed { sub, result } => {
                        let e = subs
                            .iter_mut()
                            .find(|e| e.id == sub)
                            .expect("Subscribed for an unknown subscription");
                        e.subscribed += 1;
                        assert_eq!(e.subscribed, 1, "two Subscribed for {sub:?}");
                        assert_eq!(e.state, SubState::Requested);
                        e.state = if result.is_ok() {
                            SubState::Active
                        } else {
                            SubState::Gone
                        };
                    }
                    ClientEvent::Unsubscribed { sub, .. } => {
                        let e = subs
                            .iter_mut()
                            .find(|e| e.id == sub)
                            .expect("Unsubscribed for an unknown subscription");
                        assert!(e.unsub_requested, "Unsubscribed without unsubscribe");
                        e.unsubscribed += 1;
                        assert_eq!(e.unsubscribed, 1, "two Unsubscribed for {sub:?}");
                        e.state = SubState::Gone;
                    }
                    ClientEvent::Message { sub, .. } => {
                        let e = subs
                            .iter()
                            .find(|e| e.id == sub)
                            .expect("Message for an unknown subscription");
                        assert!(
                            matches!(e.state, SubState::Requested | SubState::Active),
                            "Message for a subscription in state {:?}",
                            e.state
                        );
                    }
                }
            }
            if model == Model::Done {
                // The session's own view (no more events can come).
                for e in subs.iter_mut() {
                    e.state = SubState::Gone;
                }
            }
            while let Some(cmd) = s.poll_command() {
                match cmd {
                    NatsCommand::Subscribe { sid, subject, .. } => {
                        assert!(
                            sid_subjects.insert(sid, subject.clone()).is_none(),
                            "sid {sid} reused"
                        );
                        if sid == 3 {
                            reply_prefix = subject.strip_suffix(b"*").map(Bytes::copy_from_slice);
                        }
                        if sid > 4 {
                            sub_sids.push(sid);
                        }
                    }
                    NatsCommand::Publish {
                        subject,
                        reply: Some(reply),
                        ..
                    } if reply_prefix.as_ref().is_some_and(|p| reply.starts_with(p)) => {
                        let c = connect.as_ref();
                        let kind = if subject == DISCOVER.as_bytes() {
                            Kind::Connect
                        } else if c.is_some_and(|c| subject == c.sub_requests.as_bytes()) {
                            Kind::Subscribe
                        } else if c.is_some_and(|c| {
                            subject == c.unsub_requests.as_bytes()
                                || subject == c.sub_close_requests.as_bytes()
                        }) {
                            Kind::Unsubscribe
                        } else if c.is_some_and(|c| subject == c.close_requests.as_bytes()) {
                            Kind::Close
                        } else {
                            Kind::Other
                        };
                        if requests.len() < 64 {
                            requests.push((reply, kind));
                        }
                    }
                    NatsCommand::Publish { subject, .. } => {
                        published_replies.insert(subject);
                    }
                    NatsCommand::Unsubscribe { .. } => {}
                }
            }
            assert_eq!(s.is_connected(), model == Model::Connected, "is_connected");
            assert_eq!(s.is_done(), model == Model::Done, "is_done");
            if model == Model::Done {
                assert!(
                    s.poll_timeout().is_none(),
                    "a finished session has a deadline"
                );
                assert!(outstanding.is_empty(), "publishes unanswered at the end");
            }
            assert!(
                s.pub_acks_in_flight() <= max_in_flight,
                "PubAck window exceeded"
            );
            assert_eq!(
                s.pub_acks_in_flight(),
                outstanding.len(),
                "pub_acks_in_flight drifted"
            );
        }};
    }

    macro_rules! fire {
        ($at:expr) => {{
            let at = $at;
            s.handle_timeout(at);
            latest = latest.max(at);
            assert!(
                s.poll_timeout().is_none_or(|d| d > latest),
                "a deadline at or before now survived handle_timeout"
            );
        }};
    }

    drain!();
    let pick = |len: usize, i: u8| (len > 0).then(|| usize::from(i) % len);
    while let Some(op) = next() {
        match op % 15 {
            0 => {
                let i = next().unwrap_or(0);
                let f = next().unwrap_or(0);
                if let Some(i) = pick(requests.len(), i) {
                    let (subject, kind) = requests[i].clone();
                    let error = || "stan: refused".to_string();
                    let m = match f % 8 {
                        5 => no_responders(subject, 3),
                        6 => {
                            let n = next().unwrap_or(0) % 64;
                            msg(subject, 3, raw!(n))
                        }
                        7 => msg(subject, 3, Bytes::new()),
                        form => {
                            let bad = form == 4;
                            let payload = match kind {
                                Kind::Connect | Kind::Other => ConnectResponse {
                                    pub_prefix: "_STAN.pub.x".into(),
                                    sub_requests: "_STAN.sub.x".into(),
                                    unsub_requests: "_STAN.unsub.x".into(),
                                    close_requests: "_STAN.close.x".into(),
                                    sub_close_requests: if f & 0x10 != 0 {
                                        String::new()
                                    } else {
                                        "_STAN.subclose.x".into()
                                    },
                                    ping_requests: "_STAN.ping.x".into(),
                                    ping_interval: i32::from((f >> 5) & 3) - 1,
                                    ping_max_out: 3,
                                    protocol: i32::from(f >> 7),
                                    error: if bad { error() } else { String::new() },
                                    ..ConnectResponse::default()
                                }
                                .encode_to_vec(),
                                Kind::Subscribe | Kind::Unsubscribe => SubscriptionResponse {
                                    ack_inbox: if bad {
                                        String::new()
                                    } else {
                                        format!("_STAN.ack.{}", f >> 3)
                                    },
                                    error: if bad { error() } else { String::new() },
                                }
                                .encode_to_vec(),
                                Kind::Close => CloseResponse {
                                    error: if bad { error() } else { String::new() },
                                }
                                .encode_to_vec(),
                            };
                            msg(subject, 3, Bytes::from(payload))
                        }
                    };
                    if let Ok(r) = ConnectResponse::decode(m.payload.clone()) {
                        if !m.is_no_responders() {
                            candidate = Some(r);
                        }
                    }
                    s.handle_message(now, m);
                }
            }
            1 => {
                let channel = CHANNELS[usize::from(next().unwrap_or(0)) % CHANNELS.len()];
                let n = usize::from(next().unwrap_or(0));
                let before = outstanding.len();
                match s.publish(now, channel, Bytes::from(vec![b'x'; n])) {
                    Ok(guid) => {
                        assert_eq!(model, Model::Connected, "publish accepted while {model:?}");
                        assert!(before < max_in_flight, "publish beyond the window");
                        assert!(!guids.contains(&guid), "GUID reused");
                        guids.push(guid.clone());
                        outstanding.insert(guid);
                    }
                    Err(ClientError::TooManyPubAcksInFlight) => {
                        assert_eq!(before, max_in_flight, "window refused while not full");
                    }
                    Err(e) => assert_ne!(model, Model::Connected, "publish refused: {e}"),
                }
            }
            2 => {
                let i = next().unwrap_or(0);
                let e = next().unwrap_or(0);
                let guid = match pick(guids.len(), i) {
                    Some(k) if i & 0x80 == 0 => guids[k].clone(),
                    _ => format!("unknown{i}"),
                };
                let payload = if e % 4 == 2 {
                    let n = next().unwrap_or(0) % 64;
                    raw!(n)
                } else {
                    let error = if e % 2 == 1 {
                        "stan: invalid publish request".to_string()
                    } else {
                        String::new()
                    };
                    Bytes::from(PubAck { guid, error }.encode_to_vec())
                };
                let subject = sid_subjects.get(&4).cloned().unwrap_or_default();
                s.handle_message(now, msg(subject, 4, payload));
            }
            3 => {
                let f = next().unwrap_or(0);
                let g = next().unwrap_or(0);
                let opts = SubscriptionOptions {
                    queue: (f & 0x10 != 0).then(|| "q".to_string()),
                    durable: (f & 0x20 != 0).then(|| "d".to_string()),
                    start: match f % 8 {
                        0 => StartAt::NewOnly,
                        1 => StartAt::LastReceived,
                        2 => StartAt::First,
                        3 => StartAt::Sequence(u64::from(g)),
                        4 => StartAt::TimeDelta(Duration::from_secs(u64::from(g))),
                        5 => StartAt::TimeDelta(Duration::MAX),
                        6 => StartAt::Time(i64::from(g) * 100_000_000),
                        _ => StartAt::Time(if g & 1 == 0 { i64::MIN } else { i64::MAX }),
                    },
                    max_in_flight: if g & 0x80 != 0 {
                        u32::MAX
                    } else {
                        u32::from(g & 7)
                    },
                    ack_wait: Duration::from_secs(u64::from(g >> 3 & 7)),
                    manual_ack: f & 0x40 != 0,
                };
                let channel = CHANNELS[usize::from(f >> 7)];
                match s.subscribe(now, channel, &opts) {
                    Ok(id) => {
                        assert_eq!(
                            model,
                            Model::Connected,
                            "subscribe accepted while {model:?}"
                        );
                        assert!(subs.iter().all(|e| e.id != id), "SubId reused");
                        subs.push(Sub {
                            id,
                            manual: opts.manual_ack,
                            state: SubState::Requested,
                            subscribed: 0,
                            unsubscribed: 0,
                            unsub_requested: false,
                        });
                    }
                    Err(e) => assert_ne!(model, Model::Connected, "subscribe refused: {e}"),
                }
            }
            4 => {
                let i = next().unwrap_or(0);
                let seq = next().unwrap_or(0);
                let r = next().unwrap_or(0);
                if let Some(k) = pick(sub_sids.len(), i) {
                    let sid = sub_sids[k];
                    let payload = if r & 0x80 != 0 {
                        raw!(r & 0x3f)
                    } else {
                        Bytes::from(
                            MsgProto {
                                sequence: u64::from(seq),
                                subject: "foo".into(),
                                data: Bytes::from(vec![b'm'; usize::from(r & 15)]),
                                timestamp: i64::from(seq),
                                redelivered: r & 0x40 != 0,
                                ..MsgProto::default()
                            }
                            .encode_to_vec(),
                        )
                    };
                    let subject = sid_subjects.get(&sid).cloned().unwrap_or_default();
                    s.handle_message(now, msg(subject, sid, payload));
                }
            }
            5 => {
                let i = next().unwrap_or(0);
                let seq = u64::from(next().unwrap_or(0));
                if let Some(k) = pick(subs.len(), i) {
                    let e = &subs[k];
                    let expect =
                        model == Model::Connected && e.state == SubState::Active && e.manual;
                    let got = s.ack(now, e.id, seq);
                    assert_eq!(got.is_ok(), expect, "ack: {got:?} in state {:?}", e.state);
                }
            }
            6 => {
                let i = next().unwrap_or(0);
                let close = i & 1 == 1;
                if let Some(k) = pick(subs.len(), i >> 1) {
                    let supported = connect.as_ref().is_some_and(|c| {
                        !if close {
                            &c.sub_close_requests
                        } else {
                            &c.unsub_requests
                        }
                        .is_empty()
                    });
                    let e = &mut subs[k];
                    let expect =
                        model == Model::Connected && e.state == SubState::Active && supported;
                    let got = s.unsubscribe(now, e.id, close);
                    assert_eq!(
                        got.is_ok(),
                        expect,
                        "unsubscribe: {got:?} in state {:?}",
                        e.state
                    );
                    if got.is_ok() {
                        e.unsub_requested = true;
                        e.state = SubState::Unsubscribing;
                    }
                }
            }
            7 => match s.close(now) {
                Ok(()) => {
                    assert_eq!(model, Model::Connected, "close accepted while {model:?}");
                    model = Model::Closing;
                }
                Err(e) => assert_ne!(model, Model::Connected, "close refused: {e}"),
            },
            8 => {
                now += Duration::from_millis(50) * u32::from(next().unwrap_or(0));
                fire!(now);
            }
            9 => {
                now += Duration::from_secs(u64::from(next().unwrap_or(0)));
                fire!(now);
            }
            10 => {
                let r = next().unwrap_or(0);
                let reply = (r & 1 == 1).then(|| Bytes::from(format!("_INBOX.hb.{r}")));
                let subject = sid_subjects.get(&1).cloned().unwrap_or_default();
                let live = model != Model::Done;
                s.handle_message(
                    now,
                    InboundMessage {
                        reply: reply.clone(),
                        ..msg(subject, 1, Bytes::new())
                    },
                );
                if let (Some(reply), true) = (reply, live) {
                    published_replies.remove(&reply);
                    drain!();
                    assert!(published_replies.contains(&reply), "heartbeat not answered");
                }
            }
            11 => {
                let k = next().unwrap_or(0);
                let subject = sid_subjects.get(&2).cloned().unwrap_or_default();
                let m = match k % 5 {
                    0 => msg(subject, 2, Bytes::new()),
                    1 => msg(
                        subject,
                        2,
                        Bytes::from(PingResponse::default().encode_to_vec()),
                    ),
                    2 => msg(
                        subject,
                        2,
                        Bytes::from(
                            PingResponse {
                                error: "stan: client has been replaced or is no longer registered"
                                    .into(),
                            }
                            .encode_to_vec(),
                        ),
                    ),
                    3 => no_responders(subject, 2),
                    _ => {
                        let n = next().unwrap_or(0) % 64;
                        msg(subject, 2, raw!(n))
                    }
                };
                s.handle_message(now, m);
            }
            12 => {
                let i = next().unwrap_or(0);
                let n = next().unwrap_or(0);
                let sids: Vec<u64> = sid_subjects.keys().copied().collect();
                let sid = pick(sids.len() + 1, i).and_then(|k| sids.get(k).copied());
                let sid = sid.unwrap_or(999);
                let subject = if n & 0x80 != 0 {
                    let token = next().unwrap_or(0);
                    let mut t = reply_prefix.clone().unwrap_or_default().to_vec();
                    t.extend_from_slice(token.to_string().as_bytes());
                    Bytes::from(t)
                } else {
                    sid_subjects.get(&sid).cloned().unwrap_or_default()
                };
                let payload = raw!(n & 0x3f);
                if sid == 3 {
                    if let Ok(r) = ConnectResponse::decode(payload.clone()) {
                        candidate = Some(r);
                    }
                }
                s.handle_message(now, msg(subject, sid, payload));
            }
            13 => s.handle_nats_closed(now, CloseReason::Local),
            _ => {
                let back = Duration::from_millis(50) * u32::from(next().unwrap_or(0));
                fire!(now.checked_sub(back).unwrap_or(start).max(start));
            }
        }
        drain!();
    }
    // The connection ends: every request has an outcome.
    s.handle_nats_closed(now, CloseReason::Local);
    drain!();
    assert_eq!(
        model,
        Model::Done,
        "still {model:?} after the connection closed"
    );
    assert_eq!(terminals, 1, "terminal events");
    for g in &guids {
        assert_eq!(
            acked.get(g),
            Some(&1),
            "publish {g} without exactly one PubAck"
        );
    }
    for e in &subs {
        assert_eq!(e.subscribed, 1, "subscribe {:?} without an outcome", e.id);
        assert_eq!(
            e.unsubscribed,
            u32::from(e.unsub_requested),
            "unsubscribe {:?} without one outcome",
            e.id
        );
    }
}
