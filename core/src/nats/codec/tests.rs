use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::nats::HeaderMap;

fn pub_op(
    subject: Bytes,
    reply: Option<Bytes>,
    headers: Option<Bytes>,
    payload: Bytes,
) -> ClientOp {
    ClientOp::Pub(MsgFrame::new(
        &subject,
        b"",
        reply.as_deref(),
        headers.as_deref(),
        &payload,
    ))
}

fn msg_op(
    subject: Bytes,
    sid: Bytes,
    reply: Option<Bytes>,
    headers: Option<Bytes>,
    payload: Bytes,
) -> ServerOp {
    ServerOp::Msg(MsgFrame::new(
        &subject,
        &sid,
        reply.as_deref(),
        headers.as_deref(),
        &payload,
    ))
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn decode_client_all(wire: &[u8]) -> Result<Vec<ClientOp>, DecodeError> {
    let mut dec = ClientOpDecoder::new(Limits::default());
    let mut buf = BytesMut::from(wire);
    let mut ops = Vec::new();
    while let Some(op) = dec.decode(&mut buf)? {
        ops.push(op);
    }
    Ok(ops)
}

fn decode_server_all(wire: &[u8]) -> Result<Vec<ServerOp>, DecodeError> {
    let mut dec = ServerOpDecoder::new(Limits::default());
    let mut buf = BytesMut::from(wire);
    let mut ops = Vec::new();
    while let Some(op) = dec.decode(&mut buf)? {
        ops.push(op);
    }
    Ok(ops)
}

fn client_err(wire: &[u8], limits: Limits) -> DecodeError {
    let mut dec = ClientOpDecoder::new(limits);
    let mut buf = BytesMut::from(wire);
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(_)) => {}
            Ok(None) => panic!("no error for {:?}", String::from_utf8_lossy(wire)),
            Err(e) => return e,
        }
    }
}

fn server_err(wire: &[u8]) -> DecodeError {
    match decode_server_all(wire) {
        Ok(ops) => panic!("no error for {:?}: {ops:?}", String::from_utf8_lossy(wire)),
        Err(e) => e,
    }
}

fn sample_client_ops() -> Vec<ClientOp> {
    let hdr = {
        let mut h = HeaderMap::new();
        h.append("A", "1");
        h.to_bytes()
    };
    vec![
        ClientOp::Connect(b(r#"{"verbose":false,"headers":true}"#)),
        pub_op(b("foo"), None, None, b("hello")),
        pub_op(b("foo.bar"), Some(b("_INBOX.1")), None, Bytes::new()),
        pub_op(b("h"), None, Some(hdr.clone()), b("x\r\ny")),
        pub_op(b("h"), Some(b("r")), Some(hdr), Bytes::new()),
        ClientOp::Sub {
            subject: b("foo.*"),
            queue: None,
            sid: b("1"),
        },
        ClientOp::Sub {
            subject: b("foo.>"),
            queue: Some(b("workers")),
            sid: b("abc"),
        },
        ClientOp::Unsub {
            sid: b("1"),
            max: None,
        },
        ClientOp::Unsub {
            sid: b("abc"),
            max: Some(10),
        },
        ClientOp::Ping,
        ClientOp::Pong,
    ]
}

fn sample_server_ops() -> Vec<ServerOp> {
    vec![
        ServerOp::Info(b(r#"{"server_id":"X","max_payload":1048576}"#)),
        msg_op(b("foo"), b("1"), None, None, b("hi")),
        msg_op(b("foo"), b("9"), Some(b("_INBOX.x")), None, Bytes::new()),
        msg_op(
            b("_INBOX.r"),
            b("2"),
            None,
            Some(Bytes::from_static(b"NATS/1.0 503\r\n\r\n")),
            Bytes::new(),
        ),
        msg_op(
            b("s"),
            b("3"),
            Some(b("r")),
            Some(b("NATS/1.0\r\nK: v\r\n\r\n")),
            b("body"),
        ),
        ServerOp::Ping,
        ServerOp::Pong,
        ServerOp::Ok,
        ServerOp::Err(b("Stale Connection")),
    ]
}

#[test]
fn every_client_op_round_trips() {
    for op in sample_client_ops() {
        let mut wire = BytesMut::new();
        encode_client_op(&op, &mut wire);
        assert_eq!(decode_client_all(&wire).unwrap(), vec![op]);
    }
}

#[test]
fn every_server_op_round_trips() {
    for op in sample_server_ops() {
        let mut wire = BytesMut::new();
        encode_server_op(&op, &mut wire);
        assert_eq!(decode_server_all(&wire).unwrap(), vec![op]);
    }
}

#[test]
fn exact_encodings() {
    let mut out = BytesMut::new();
    write_pub(&mut out, b"foo", Some(b"rep"), None, b"hello");
    write_msg(
        &mut out,
        b"foo",
        b"7",
        None,
        Some(b"NATS/1.0 503\r\n\r\n"),
        b"",
    );
    write_sub(&mut out, b"foo", Some(b"q"), b"3");
    write_unsub(&mut out, b"3", Some(5));
    write_err(&mut out, b"Invalid Subject");
    assert_eq!(
        &out[..],
        &b"PUB foo rep 5\r\nhello\r\nHMSG foo 7 16 16\r\nNATS/1.0 503\r\n\r\n\r\nSUB foo q 3\r\nUNSUB 3 5\r\n-ERR 'Invalid Subject'\r\n"[..]
    );
}

#[test]
fn op_names_are_case_insensitive_and_whitespace_is_lenient() {
    let ops = decode_client_all(
        b"pub foo 2\r\nhi\r\nPuB\tfoo\t \treply   1 \r\nx\r\nsub  foo.*   q\t7\r\nunsub 7 \r\nhpub h 12 12\r\nNATS/1.0\r\n\r\n\r\nping\r\nPoNg\nconnect{\"a\":1}\r\nCONNECT\t {\"b\":2} \r\n",
    )
    .unwrap();
    assert_eq!(
        ops,
        vec![
            pub_op(b("foo"), None, None, b("hi")),
            pub_op(b("foo"), Some(b("reply")), None, b("x")),
            ClientOp::Sub {
                subject: b("foo.*"),
                queue: Some(b("q")),
                sid: b("7")
            },
            ClientOp::Unsub {
                sid: b("7"),
                max: None
            },
            pub_op(b("h"), None, Some(b("NATS/1.0\r\n\r\n")), Bytes::new()),
            ClientOp::Ping,
            ClientOp::Pong,
            ClientOp::Connect(b("{\"a\":1}")),
            ClientOp::Connect(b("{\"b\":2}")),
        ]
    );
    let ops = decode_server_all(
        b"msg a 1 0\r\n\r\n+ok\r\nINFO{\"x\":1}\r\n-err\t'bad thing' \r\nPINGjunk\r\n",
    )
    .unwrap();
    assert_eq!(
        ops,
        vec![
            msg_op(b("a"), b("1"), None, None, Bytes::new()),
            ServerOp::Ok,
            ServerOp::Info(b("{\"x\":1}")),
            ServerOp::Err(b("bad thing")),
            ServerOp::Ping,
        ]
    );
}

#[test]
fn payloads_are_slices_of_the_input_buffer() {
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(b"PUB some.subject reply.to 11\r\nhello world\r\n");
    let base = buf.as_ptr() as usize;
    let range = base..base + buf.capacity();
    let mut dec = ClientOpDecoder::new(Limits::default());
    let Some(ClientOp::Pub(m)) = dec.decode(&mut buf).unwrap() else {
        panic!("expected PUB")
    };
    let (subject, reply, payload) = (m.subject_bytes(), m.reply_bytes(), m.payload_bytes());
    assert_eq!(&payload[..], b"hello world");
    for part in [&subject, reply.as_ref().unwrap(), &payload] {
        assert!(
            range.contains(&(part.as_ptr() as usize)),
            "copied: {part:?}"
        );
    }
}

#[test]
fn awaiting_payload_state_is_explicit() {
    let mut dec = ClientOpDecoder::new(Limits::default());
    let mut buf = BytesMut::from(&b"PUB foo 10\r\n01234"[..]);
    assert_eq!(dec.decode(&mut buf).unwrap(), None);
    assert!(dec.is_awaiting_payload());
    // The control line is parsed once; it stays in front of the payload.
    assert_eq!(&buf[..], b"PUB foo 10\r\n01234");
    buf.extend_from_slice(b"56789\r\n");
    assert!(dec.decode(&mut buf).unwrap().is_some());
    assert!(!dec.is_awaiting_payload());
    assert!(buf.is_empty());
}

#[test]
fn unknown_ops() {
    let l = Limits::default();
    for wire in [
        &b"FOO bar\r\n"[..],
        b"PUBX foo 1\r\nx\r\n",
        b"PUB\r\n",
        b"MSG foo 1 1\r\nx\r\n",
        b"INFO {}\r\n",
        b"+OK\r\n",
        b"\r\n",
        b"SUBfoo 1\r\n",
    ] {
        assert_eq!(
            client_err(wire, l),
            DecodeError::UnknownOp,
            "{:?}",
            String::from_utf8_lossy(wire)
        );
    }
    for wire in [
        &b"PUB foo 1\r\nx\r\n"[..],
        b"CONNECT {}\r\n",
        b"SUB foo 1\r\n",
        b"HELLO\r\n",
    ] {
        assert_eq!(server_err(wire), DecodeError::UnknownOp);
    }
    assert_eq!(
        client_err(b"FOO\r\n", l).server_err_text(),
        Some("Unknown Protocol Operation")
    );
}

#[test]
fn malformed_arguments() {
    let l = Limits::default();
    let cases: &[(&[u8], OpName)] = &[
        (b"PUB foo\r\n", OpName::Pub),
        (b"PUB \r\n", OpName::Pub),
        (b"PUB foo bar baz 1\r\n", OpName::Pub),
        (b"PUB foo x1\r\n", OpName::Pub),
        (b"PUB foo -1\r\n", OpName::Pub),
        (b"PUB foo 1234567890123456789\r\n", OpName::Pub),
        (b"HPUB foo 1\r\n", OpName::Hpub),
        (b"HPUB foo a 1\r\n", OpName::Hpub),
        (b"SUB foo\r\n", OpName::Sub),
        (b"SUB a b c d\r\n", OpName::Sub),
        (b"UNSUB\t\r\n", OpName::Unsub),
        (b"UNSUB 1 x\r\n", OpName::Unsub),
        (b"UNSUB 1 2 3\r\n", OpName::Unsub),
        (b"SUB a b c d e f g\r\n", OpName::Sub),
    ];
    for (wire, op) in cases {
        let e = client_err(wire, l);
        assert_eq!(
            e,
            DecodeError::BadArgs { op: *op },
            "{:?}",
            String::from_utf8_lossy(wire)
        );
        assert_eq!(e.server_err_text(), None);
    }
    assert_eq!(
        server_err(b"MSG foo 1\r\n"),
        DecodeError::BadArgs { op: OpName::Msg }
    );
    assert_eq!(
        server_err(b"HMSG foo 1 2\r\n"),
        DecodeError::BadArgs { op: OpName::Hmsg }
    );
    assert_eq!(
        server_err(b"MSG a b c d e\r\n"),
        DecodeError::BadArgs { op: OpName::Msg }
    );
}

#[test]
fn header_size_larger_than_total() {
    assert_eq!(
        client_err(b"HPUB foo 20 10\r\n", Limits::default()),
        DecodeError::BadHeaderSize {
            op: OpName::Hpub,
            header: 20,
            total: 10
        }
    );
    assert_eq!(
        server_err(b"HMSG foo 1 20 10\r\n"),
        DecodeError::BadHeaderSize {
            op: OpName::Hmsg,
            header: 20,
            total: 10
        }
    );
}

#[test]
fn payload_limits() {
    let l = Limits {
        max_control_line: 4096,
        max_payload: 8,
    };
    let e = client_err(b"PUB foo 9\r\n", l);
    assert_eq!(e, DecodeError::PayloadTooLarge { size: 9, max: 8 });
    assert_eq!(e.server_err_text(), Some("Maximum Payload Violation"));
    assert_eq!(
        client_err(b"HPUB foo 4 9\r\n", l),
        DecodeError::PayloadTooLarge { size: 9, max: 8 }
    );
    // Exactly at the limit is fine.
    let mut dec = ClientOpDecoder::new(l);
    let mut buf = BytesMut::from(&b"PUB foo 8\r\n12345678\r\n"[..]);
    assert!(dec.decode(&mut buf).unwrap().is_some());
    let mut dec = ServerOpDecoder::new(l);
    let mut buf = BytesMut::from(&b"MSG foo 1 9\r\n"[..]);
    assert_eq!(
        dec.decode(&mut buf),
        Err(DecodeError::PayloadTooLarge { size: 9, max: 8 })
    );
}

#[test]
fn control_line_limits() {
    let l = Limits {
        max_control_line: 32,
        max_payload: 1024,
    };
    // A complete line whose arguments are too long.
    let long = format!("SUB {} 1\r\n", "a".repeat(40));
    let e = client_err(long.as_bytes(), l);
    assert_eq!(e, DecodeError::ControlLineTooLong { limit: 32 });
    assert_eq!(e.server_err_text(), Some("maximum control line exceeded"));
    // An unterminated line is refused once it cannot fit any more.
    let mut dec = ClientOpDecoder::new(l);
    let mut buf = BytesMut::from("PUB ".as_bytes());
    assert_eq!(dec.decode(&mut buf), Ok(None));
    buf.extend_from_slice("x".repeat(100).as_bytes());
    assert_eq!(
        dec.decode(&mut buf),
        Err(DecodeError::ControlLineTooLong { limit: 32 })
    );
    // CONNECT is covered too.
    let connect = format!("CONNECT {{\"name\":\"{}\"}}\r\n", "n".repeat(40));
    assert_eq!(
        client_err(connect.as_bytes(), l),
        DecodeError::ControlLineTooLong { limit: 32 }
    );
    // Exactly at the limit is fine.
    let exact = format!("SUB {} 1\r\n", "a".repeat(30));
    let mut dec = ClientOpDecoder::new(l);
    assert!(dec
        .decode(&mut BytesMut::from(exact.as_bytes()))
        .unwrap()
        .is_some());
}

#[test]
fn payload_must_end_in_crlf() {
    let l = Limits::default();
    let e = client_err(b"PUB foo 2\r\nhiXX", l);
    assert_eq!(e, DecodeError::BadPayloadTerminator { op: OpName::Pub });
    assert_eq!(e.server_err_text(), Some("Unknown Protocol Operation"));
    assert_eq!(
        client_err(b"PUB foo 2\r\nhi\n\r", l),
        DecodeError::BadPayloadTerminator { op: OpName::Pub }
    );
    assert_eq!(
        server_err(b"MSG foo 1 2\r\nhi\r\r"),
        DecodeError::BadPayloadTerminator { op: OpName::Msg }
    );
}

#[test]
fn bare_lf_lines_are_accepted() {
    let ops = decode_client_all(b"SUB foo 1\nPUB foo 1\nx\r\nPING\n").unwrap();
    assert_eq!(ops.len(), 3);
}

// ---- property tests -------------------------------------------------------

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-zA-Z0-9_\\-]{1,8}",
        1 => Just("*".to_string()),
    ]
}

fn subject() -> impl Strategy<Value = Bytes> {
    (prop::collection::vec(token(), 1..4), any::<bool>()).prop_map(|(toks, full)| {
        let mut s = toks.join(".");
        if full {
            s.push_str(".>");
        }
        Bytes::from(s)
    })
}

fn word() -> impl Strategy<Value = Bytes> {
    "[a-zA-Z0-9_.]{1,10}".prop_map(Bytes::from)
}

fn payload() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..200).prop_map(Bytes::from)
}

fn headers() -> impl Strategy<Value = Option<Bytes>> {
    prop::option::of(
        (
            prop::option::of(100u16..600),
            prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,8}", "[ -~]{0,12}"), 0..3),
        )
            .prop_map(|(status, kv)| {
                let mut h = match status {
                    Some(s) => HeaderMap::with_status(s, None),
                    None => HeaderMap::new(),
                };
                for (k, v) in kv {
                    h.append(&k, v.trim());
                }
                h.to_bytes()
            }),
    )
}

fn json() -> impl Strategy<Value = Bytes> {
    "[a-z]{0,10}".prop_map(|s| Bytes::from(format!("{{\"name\":\"{s}\",\"verbose\":false}}")))
}

fn client_op() -> impl Strategy<Value = ClientOp> {
    prop_oneof![
        json().prop_map(ClientOp::Connect),
        (subject(), prop::option::of(word()), headers(), payload()).prop_map(
            |(subject, reply, headers, payload)| pub_op(subject, reply, headers, payload)
        ),
        (subject(), prop::option::of(word()), word()).prop_map(|(subject, queue, sid)| {
            ClientOp::Sub {
                subject,
                queue,
                sid,
            }
        }),
        (word(), prop::option::of(any::<u32>())).prop_map(|(sid, max)| ClientOp::Unsub {
            sid,
            max: max.map(u64::from)
        }),
        Just(ClientOp::Ping),
        Just(ClientOp::Pong),
    ]
}

fn server_op() -> impl Strategy<Value = ServerOp> {
    prop_oneof![
        json().prop_map(ServerOp::Info),
        (
            subject(),
            word(),
            prop::option::of(word()),
            headers(),
            payload()
        )
            .prop_map(|(subject, sid, reply, headers, payload)| {
                msg_op(subject, sid, reply, headers, payload)
            }),
        Just(ServerOp::Ping),
        Just(ServerOp::Pong),
        Just(ServerOp::Ok),
        "[a-zA-Z][a-zA-Z ]{0,20}[a-z]".prop_map(|s| ServerOp::Err(Bytes::from(s))),
    ]
}

/// Feeds `wire` in chunks whose sizes cycle through `sizes`.
fn chunked<Op>(
    wire: &[u8],
    sizes: &[usize],
    mut decode: impl FnMut(&mut BytesMut) -> Result<Option<Op>, DecodeError>,
) -> Vec<Op> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut pos = 0;
    for &n in sizes.iter().cycle() {
        if pos >= wire.len() {
            break;
        }
        let end = (pos + n).min(wire.len());
        buf.extend_from_slice(&wire[pos..end]);
        pos = end;
        while let Some(op) = decode(&mut buf).expect("valid stream") {
            out.push(op);
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn client_ops_round_trip_and_split_anywhere(
        ops in prop::collection::vec(client_op(), 1..12),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        let mut wire = BytesMut::new();
        for op in &ops {
            encode_client_op(op, &mut wire);
        }
        prop_assert_eq!(&decode_client_all(&wire).unwrap(), &ops);
        let mut dec = ClientOpDecoder::new(Limits::default());
        prop_assert_eq!(&chunked(&wire, &sizes, |b| dec.decode(b)), &ops);
    }

    #[test]
    fn server_ops_round_trip_and_split_anywhere(
        ops in prop::collection::vec(server_op(), 1..12),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        let mut wire = BytesMut::new();
        for op in &ops {
            encode_server_op(op, &mut wire);
        }
        prop_assert_eq!(&decode_server_all(&wire).unwrap(), &ops);
        let mut dec = ServerOpDecoder::new(Limits::default());
        prop_assert_eq!(&chunked(&wire, &sizes, |b| dec.decode(b)), &ops);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_do_not_depend_on_chunking(
        wire in prop::collection::vec(prop_oneof![
            4 => any::<u8>(),
            4 => prop::sample::select(b"PUBSMGHINFOCTK+-ER \t\r\n0123456789".to_vec()),
        ], 0..200),
        sizes in prop::collection::vec(any::<u8>(), 0..8),
        flags in any::<u8>(),
    ) {
        let mut input = vec![flags, sizes.len() as u8];
        input.extend_from_slice(&sizes);
        input.extend_from_slice(&wire);
        crate::fuzzing::decode_chunked(&input);
    }
}
