//! The NATS codec: ops built from fuzz input, encoded with the core's
//! encoders, decoded back whole and in chunks.

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};

use crate::nats::codec::{
    encode_client_op, encode_server_op, write_msg_line, write_pub_line, ClientOp, ClientOpDecoder,
    DecodeError, Limits, MsgFrame, ServerOp, ServerOpDecoder, CRLF,
};

/// Most ops in one input.
const MAX_OPS: usize = 256;

/// A client op as fuzz input (fields are cleaned up into what the protocol
/// can carry, see [`codec_roundtrip`]).
#[derive(Arbitrary, Debug)]
enum ClientIn {
    Connect(Vec<u8>),
    Pub {
        subject: Vec<u8>,
        reply: Option<Vec<u8>>,
        headers: Option<Vec<u8>>,
        payload: Vec<u8>,
    },
    Sub {
        subject: Vec<u8>,
        queue: Option<Vec<u8>>,
        sid: Vec<u8>,
    },
    Unsub {
        sid: Vec<u8>,
        max: Option<u64>,
    },
    Ping,
    Pong,
}

/// A server op as fuzz input.
#[derive(Arbitrary, Debug)]
enum ServerIn {
    Info(Vec<u8>),
    Msg {
        subject: Vec<u8>,
        sid: Vec<u8>,
        reply: Option<Vec<u8>>,
        headers: Option<Vec<u8>>,
        payload: Vec<u8>,
    },
    Ping,
    Pong,
    Ok,
    Err(Vec<u8>),
}

/// A subject, sid, reply or queue: no space, tab, CR or LF, not empty.
fn token(raw: &[u8]) -> Bytes {
    if raw.is_empty() {
        return Bytes::from_static(b"x");
    }
    raw.iter()
        .map(|&b| match b {
            b' ' | b'\t' | b'\r' | b'\n' => b'_',
            b => b,
        })
        .collect::<Vec<u8>>()
        .into()
}

/// The argument of `INFO`/`CONNECT`: one line, no surrounding whitespace
/// (the decoder trims it), not ending in CR (it would end the line).
fn line_arg(raw: &[u8]) -> Bytes {
    let mut v: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'\n' { b'_' } else { b })
        .collect();
    while v.last().is_some_and(|&b| b == b' ' || b == b'\t') {
        v.pop();
    }
    let start = v.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    v.drain(..start);
    if let Some(last) = v.last_mut() {
        if *last == b'\r' {
            *last = b'_';
        }
    }
    v.into()
}

/// The text of `-ERR`: one line (it is quoted, so anything else goes).
fn err_text(raw: &[u8]) -> Bytes {
    raw.iter()
        .map(|&b| if b == b'\n' { b'_' } else { b })
        .collect::<Vec<u8>>()
        .into()
}

fn client_op(i: &ClientIn) -> ClientOp {
    match i {
        ClientIn::Connect(json) => ClientOp::Connect(line_arg(json)),
        ClientIn::Pub {
            subject,
            reply,
            headers,
            payload,
        } => ClientOp::Pub(MsgFrame::new(
            &token(subject),
            b"",
            reply.as_deref().map(token).as_deref(),
            headers.as_deref(),
            payload,
        )),
        ClientIn::Sub {
            subject,
            queue,
            sid,
        } => ClientOp::Sub {
            subject: token(subject),
            queue: queue.as_deref().map(token),
            sid: token(sid),
        },
        ClientIn::Unsub { sid, max } => ClientOp::Unsub {
            sid: token(sid),
            max: *max,
        },
        ClientIn::Ping => ClientOp::Ping,
        ClientIn::Pong => ClientOp::Pong,
    }
}

fn server_op(i: &ServerIn) -> ServerOp {
    match i {
        ServerIn::Info(json) => ServerOp::Info(line_arg(json)),
        ServerIn::Msg {
            subject,
            sid,
            reply,
            headers,
            payload,
        } => ServerOp::Msg(MsgFrame::new(
            &token(subject),
            &token(sid),
            reply.as_deref().map(token).as_deref(),
            headers.as_deref(),
            payload,
        )),
        ServerIn::Ping => ServerOp::Ping,
        ServerIn::Pong => ServerOp::Pong,
        ServerIn::Ok => ServerOp::Ok,
        ServerIn::Err(text) => ServerOp::Err(err_text(text)),
    }
}

/// Encodes every op of `ops` with `encode`, and each message-carrying op
/// also with its `*_line` writer plus payload, which must give the same
/// bytes.
fn encode_all<Op>(
    ops: &[Op],
    encode: fn(&Op, &mut BytesMut),
    line: fn(&Op, &mut BytesMut) -> bool,
) -> BytesMut {
    let mut wire = BytesMut::new();
    for op in ops {
        let mut one = BytesMut::new();
        encode(op, &mut one);
        let mut split = BytesMut::new();
        if line(op, &mut split) {
            assert_eq!(one, split, "the line writer disagrees with the op encoder");
        }
        wire.extend_from_slice(&one);
    }
    wire
}

fn pub_by_line(op: &ClientOp, out: &mut BytesMut) -> bool {
    let ClientOp::Pub(m) = op else { return false };
    write_pub_line(
        out,
        m.subject(),
        m.reply(),
        m.headers().map(<[u8]>::len),
        m.payload().len(),
    );
    out.extend_from_slice(m.headers().unwrap_or_default());
    out.extend_from_slice(m.payload());
    out.extend_from_slice(CRLF);
    true
}

fn msg_by_line(op: &ServerOp, out: &mut BytesMut) -> bool {
    let ServerOp::Msg(m) = op else { return false };
    write_msg_line(
        out,
        m.subject(),
        m.sid(),
        m.reply(),
        m.headers().map(<[u8]>::len),
        m.payload().len(),
    );
    out.extend_from_slice(m.headers().unwrap_or_default());
    out.extend_from_slice(m.payload());
    out.extend_from_slice(CRLF);
    true
}

/// Decodes `wire` in chunks of `sizes` (cyclically; whole when empty).
/// Returns the ops, the first error, and whether bytes were left over.
fn decode<D, Op>(
    wire: &[u8],
    sizes: &[u8],
    limits: Limits,
    new: fn(Limits) -> D,
    step: fn(&mut D, &mut BytesMut) -> Result<Option<Op>, DecodeError>,
) -> (Vec<Op>, Option<DecodeError>, bool) {
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
            match step(&mut dec, &mut buf) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => break,
                Err(e) => return (ops, Some(e), true),
            }
        }
    }
    (ops, None, !buf.is_empty())
}

/// Checks one direction: `expected` encoded, then decoded whole and in
/// chunks with roomy limits (every op back, equal, nothing left over) and
/// with tight ones (a prefix of the ops, then nothing or a limit error).
fn check<Op: PartialEq + std::fmt::Debug, D>(
    expected: &[Op],
    wire: &[u8],
    sizes: &[u8],
    tight: Limits,
    new: fn(Limits) -> D,
    step: fn(&mut D, &mut BytesMut) -> Result<Option<Op>, DecodeError>,
) {
    let roomy = Limits {
        max_control_line: 1 << 24,
        max_payload: 1 << 24,
    };
    for chunks in [&[][..], sizes] {
        let (ops, err, left) = decode(wire, chunks, roomy, new, step);
        assert_eq!(err, None, "encoded ops fail to decode");
        assert!(!left, "bytes left after the last op");
        assert_eq!(ops, expected, "ops change through encode and decode");
    }
    let (ops, err, _) = decode(wire, sizes, tight, new, step);
    assert!(ops.len() <= expected.len() && ops[..] == expected[..ops.len()]);
    match err {
        None => assert_eq!(ops.len(), expected.len(), "ops lost under limits"),
        Some(DecodeError::ControlLineTooLong { .. } | DecodeError::PayloadTooLarge { .. }) => {}
        Some(e) => panic!("under limits an encoded op fails with {e:?}"),
    }
}

/// Builds client ops (`CONNECT`, `PUB`, `HPUB`, `SUB`, `UNSUB`, `PING`,
/// `PONG`) or server ops (`INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK`,
/// `-ERR`) from the input, encodes them with the core's encoders
/// (`encode_*_op`, and the `*_line` writers for message ops, which must
/// agree), decodes the bytes whole and in chunks, and checks that the same
/// ops come back and no byte is left; under tight limits the decoder
/// returns a prefix of them and then nothing or a limit error.
///
/// Fields are cleaned up into what the protocol can carry: subjects, sids,
/// replies and queues get `_` for blanks, CR and LF (and `x` when empty);
/// `INFO`/`CONNECT` arguments lose surrounding blanks, LF and a final CR;
/// `-ERR` texts lose LF.
///
/// Input format: decoded with `arbitrary`: the direction (bool: server
/// ops), chunk sizes (`Vec<u8>`, the first 32 used cyclically, 0 means
/// 1), the tight limits (two `u8`: control line `8 + 4a`, payload `4b`),
/// then ops until the input is used up (at most 256).
pub fn codec_roundtrip(input: &[u8]) {
    let mut u = Unstructured::new(input);
    let (Ok(server), Ok(sizes), Ok(a), Ok(b)) = (
        bool::arbitrary(&mut u),
        Vec::<u8>::arbitrary(&mut u),
        u8::arbitrary(&mut u),
        u8::arbitrary(&mut u),
    ) else {
        return;
    };
    let sizes = &sizes[..sizes.len().min(32)];
    let tight = Limits {
        max_control_line: 8 + 4 * usize::from(a),
        max_payload: 4 * usize::from(b),
    };
    if server {
        let ops: Vec<ServerOp> = ops::<ServerIn>(&mut u).iter().map(server_op).collect();
        let wire = encode_all(&ops, encode_server_op, msg_by_line);
        check(
            &ops,
            &wire,
            sizes,
            tight,
            ServerOpDecoder::new,
            ServerOpDecoder::decode,
        );
    } else {
        let ops: Vec<ClientOp> = ops::<ClientIn>(&mut u).iter().map(client_op).collect();
        let wire = encode_all(&ops, encode_client_op, pub_by_line);
        check(
            &ops,
            &wire,
            sizes,
            tight,
            ClientOpDecoder::new,
            ClientOpDecoder::decode,
        );
    }
}

fn ops<'a, T: Arbitrary<'a>>(u: &mut Unstructured<'a>) -> Vec<T> {
    let mut out = Vec::new();
    while !u.is_empty() && out.len() < MAX_OPS {
        match T::arbitrary(u) {
            Ok(op) => out.push(op),
            Err(_) => break,
        }
    }
    out
}
