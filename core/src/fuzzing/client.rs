//! The streaming client session against arbitrary server behaviour.

/// Drives a STAN client [`Session`](crate::stan::client::Session) directly
/// with arbitrary server responses, deliveries, application commands and
/// time steps, checking after every step:
/// * after `handle_timeout(now)` no deadline at or before `now` remains, and
///   a finished session has no deadline at all;
/// * `pub_acks_in_flight()` never exceeds `max_pub_acks_in_flight`,
///   `queued_publishes()` never exceeds `max_queued_publishes`, together
///   they are the accepted publishes not yet answered, and publishes are
///   queued only while the window is full;
/// * [`PubId`](crate::stan::client::PubId)s are sequential from 1; every
///   accepted publish gets at most one `PubAck` event (one for its id, at
///   once, when the server acks its GUID while it is in flight), only
///   accepted ids are acked, and publishes that fail together with
///   `ConnectionClosed` fail in id order;
/// * publishes are sent in id order, each accepted one is sent or still
///   queued while the session is connected, and a publish is refused only
///   when the session is not connected or the window and the queue are
///   both full ([`can_publish`](crate::stan::client::Session::can_publish)
///   agrees);
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
/// 0/1/3/30 s; bits 6-7: ping max out − 2; max queued publishes: bits 2-3
/// xor bits 6-7, 0 to 3). Then a sequence of ops, one byte
/// `op` (taken modulo 15) and the bytes its arguments consume (missing bytes
/// read as 0):
/// * `0 i f ..`: answer request `i` (every request the session ever sent,
///   modulo their number) in form `f % 8`: 0-3 a valid response of the
///   request's type (a ConnectResponse's ping interval, protocol and
///   subclose support come from `f`), 4 a response carrying an error, 5 a
///   no-responders status, 6 `n` raw bytes (`n` then the bytes), 7 empty;
/// * `1 c n`: publish on channel `c` (the data is the expected id, `:`
///   and `n` bytes);
/// * `2 i e`: PubAck for sent GUID `i` (an unknown GUID when `i` has bit
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
        ClientError, ClientEvent, ConnectOptions, PubId, Session, StartAt, SubId,
        SubscriptionOptions,
    };
    use bytes::Bytes;
    use stan_proto::{
        CloseResponse, ConnectResponse, Message, MsgProto, PingResponse, PubAck, PubMsg,
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
    let max_queued = usize::from(((cfg >> 2) ^ (cfg >> 6)) & 3);
    let secs = |i: u8, table: [u64; 4]| Duration::from_secs(table[usize::from(i & 3)]);
    let mut options = ConnectOptions::new("test-cluster", "me");
    options.max_pub_acks_in_flight = max_in_flight;
    options.max_queued_publishes = max_queued;
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
    // Publishes accepted (ids 1..=accepted), the last one sent, the GUIDs
    // sent (in order) and whose they are.
    let mut accepted = 0u64;
    let mut last_sent = 0u64;
    let mut sent_guids: Vec<String> = Vec::new();
    let mut guid_ids: BTreeMap<String, PubId> = BTreeMap::new();
    let mut acked: BTreeMap<PubId, u32> = BTreeMap::new();
    let mut outstanding: BTreeSet<PubId> = BTreeSet::new();
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
            let mut closed_ids: Vec<PubId> = Vec::new();
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
                    ClientEvent::PubAck { id, result } => {
                        assert!(
                            (1..=accepted).contains(&id.0),
                            "PubAck for an unknown id {id:?}"
                        );
                        let n = acked.entry(id).or_default();
                        *n += 1;
                        assert_eq!(*n, 1, "two PubAcks for {id:?}");
                        outstanding.remove(&id);
                        if result == Err(ClientError::ConnectionClosed) {
                            closed_ids.push(id);
                        }
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
            assert!(
                closed_ids.windows(2).all(|w| w[0] < w[1]),
                "publishes failed out of id order: {closed_ids:?}"
            );
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
                    NatsCommand::Publish {
                        subject,
                        reply: Some(reply),
                        payload,
                    } if sid_subjects.get(&4) == Some(&reply) => {
                        let m = PubMsg::decode(payload).expect("a PubMsg");
                        let c = connect.as_ref().expect("a publish before connecting");
                        assert_eq!(
                            subject,
                            format!("{}.{}", c.pub_prefix, m.subject),
                            "publish subject"
                        );
                        let id = m
                            .data
                            .split(|&b| b == b':')
                            .next()
                            .and_then(|d| std::str::from_utf8(d).ok())
                            .and_then(|d| d.parse::<u64>().ok())
                            .expect("the data starts with the id");
                        assert_eq!(id, last_sent + 1, "publishes sent out of order");
                        assert!(id <= accepted, "a publish sent before it was accepted");
                        last_sent = id;
                        assert!(
                            guid_ids.insert(m.guid.clone(), PubId(id)).is_none(),
                            "GUID reused"
                        );
                        if sent_guids.len() < 256 {
                            sent_guids.push(m.guid);
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
            let (in_flight, queued) = (s.pub_acks_in_flight(), s.queued_publishes());
            assert!(in_flight <= max_in_flight, "PubAck window exceeded");
            assert!(queued <= max_queued, "publish queue exceeded");
            assert_eq!(
                in_flight + queued,
                outstanding.len(),
                "pub_acks_in_flight + queued_publishes drifted"
            );
            assert!(
                queued == 0 || in_flight == max_in_flight,
                "publishes queued while the window has room"
            );
            if model == Model::Connected {
                assert_eq!(
                    last_sent + queued as u64,
                    accepted,
                    "an accepted publish neither sent nor queued"
                );
            }
            assert_eq!(
                s.can_publish(),
                model == Model::Connected && (in_flight < max_in_flight || queued < max_queued),
                "can_publish"
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
                let mut data = format!("{}:", accepted + 1).into_bytes();
                data.resize(data.len() + n, b'x');
                let (in_flight, queued) = (s.pub_acks_in_flight(), s.queued_publishes());
                match s.publish(now, channel, Bytes::from(data)) {
                    Ok(id) => {
                        assert_eq!(model, Model::Connected, "publish accepted while {model:?}");
                        assert!(
                            in_flight < max_in_flight || queued < max_queued,
                            "publish beyond the window and the queue"
                        );
                        assert_eq!(id, PubId(accepted + 1), "PubIds not sequential");
                        accepted += 1;
                        outstanding.insert(id);
                    }
                    Err(ClientError::TooManyPubAcksInFlight) => {
                        assert_eq!(model, Model::Connected, "window refusal while {model:?}");
                        assert_eq!(
                            (in_flight, queued),
                            (max_in_flight, max_queued),
                            "refused while the window or the queue has room"
                        );
                    }
                    Err(e) => assert_ne!(model, Model::Connected, "publish refused: {e}"),
                }
            }
            2 => {
                let i = next().unwrap_or(0);
                let e = next().unwrap_or(0);
                let guid = match pick(sent_guids.len(), i) {
                    Some(k) if i & 0x80 == 0 => sent_guids[k].clone(),
                    _ => format!("unknown{i}"),
                };
                // A well-formed PubAck for a publish in flight answers it.
                let answers = (e % 4 != 2)
                    .then(|| guid_ids.get(&guid).copied())
                    .flatten()
                    .filter(|id| outstanding.contains(id) && model != Model::Done);
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
                if let Some(id) = answers {
                    drain!();
                    assert_eq!(acked.get(&id), Some(&1), "PubAck of {id:?} not reported");
                }
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
    for id in (1..=accepted).map(PubId) {
        assert_eq!(
            acked.get(&id),
            Some(&1),
            "publish {id:?} without exactly one PubAck"
        );
    }
    assert!(outstanding.is_empty());
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
