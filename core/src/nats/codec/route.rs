//! The route protocol between servers of a cluster (docs/routes.md): what
//! a server sends on a route (`INFO`, `CONNECT`, `RS+`, `RS-`, `RMSG`, the
//! routed `HMSG`, `PING`, `PONG`, `+OK`, `-ERR`) decoded incrementally and
//! without copying, and the encoders of the route-only ops.
//!
//! The client decoders are untouched by this one: a route connection has a
//! decoder of its own.

use bytes::{Buf, Bytes, BytesMut};

use super::decode::{
    check_control_line, is_ws, parse_size, payload_sizes, rest_trimmed, starts_with_ci, Framer,
    Limits,
};
use super::encode::put_sizes;
use super::error::DecodeError;
use super::op::{MsgFrame, OpName};

/// An operation received on a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOp {
    /// `INFO {json}`: the raw JSON object.
    Info(Bytes),
    /// `CONNECT {json}`: the raw JSON object.
    Connect(Bytes),
    /// `RS+ <account> <subject> [<queue> <weight>]`.
    Sub {
        /// Account name (`$G` for the global account).
        account: Bytes,
        /// Subject, possibly with wildcards.
        subject: Bytes,
        /// Queue group and its weight (members on the remote server).
        queue: Option<(Bytes, u32)>,
    },
    /// `RS- <account> <subject> [<queue>]`.
    Unsub {
        /// Account name.
        account: Bytes,
        /// Subject.
        subject: Bytes,
        /// Queue group.
        queue: Option<Bytes>,
    },
    /// `RMSG` or the routed `HMSG`.
    Msg(RouteMsg),
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR '<text>'`: the text without the quotes.
    Err(Bytes),
}

/// A routed message: `RMSG <account> <subject> [+ <reply> <queue>... | |
/// <queue>... | <reply>] <size>`, or `HMSG` with a header size before the
/// total size. The frame's sid is the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMsg {
    frame: MsgFrame,
    queues: Bytes,
}

impl RouteMsg {
    /// Builds a routed message from its fields (copied).
    pub fn new(
        account: &[u8],
        subject: &[u8],
        reply: Option<&[u8]>,
        queues: &[&[u8]],
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Self {
        RouteMsg {
            frame: MsgFrame::new(subject, account, reply, headers, payload),
            queues: Bytes::from(queues.join(&b' ')),
        }
    }

    /// The message: subject, reply, headers and payload (its sid is the
    /// account).
    pub fn frame(&self) -> &MsgFrame {
        &self.frame
    }

    /// The account.
    pub fn account(&self) -> &[u8] {
        self.frame.sid()
    }

    /// The queue groups the sender chose this server's members for, in
    /// order.
    pub fn queues(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.queues.split(|&b| is_ws(b)).filter(|q| !q.is_empty())
    }

    /// Whether the message names queue groups.
    pub fn has_queues(&self) -> bool {
        !self.queues.is_empty()
    }
}

type Span = (u32, u32);

/// A parsed `RMSG`/`HMSG` line whose payload has not fully arrived.
#[derive(Debug, Clone, Copy)]
struct Pending {
    op: OpName,
    line_len: u32,
    account: Span,
    subject: Span,
    reply: Option<Span>,
    queues: Span,
    header_len: Option<u32>,
    total_len: u32,
}

/// Decodes what a server sends on a route.
///
/// ```
/// use bytes::BytesMut;
/// use stan_core::nats::codec::{RouteOp, RouteOpDecoder};
/// use stan_core::nats::Limits;
///
/// let mut dec = RouteOpDecoder::new(Limits::default());
/// let mut buf = BytesMut::from(&b"RS+ $G foo q 2\r\nRMSG $G foo + _R q 2\r\nhi\r\n"[..]);
/// assert!(matches!(dec.decode(&mut buf).unwrap(), Some(RouteOp::Sub { queue: Some((_, 2)), .. })));
/// let Some(RouteOp::Msg(m)) = dec.decode(&mut buf).unwrap() else { panic!() };
/// assert_eq!(m.frame().reply(), Some(&b"_R"[..]));
/// assert_eq!(m.queues().collect::<Vec<_>>(), vec![&b"q"[..]]);
/// ```
#[derive(Debug, Default)]
pub struct RouteOpDecoder {
    framer: Framer,
    pending: Option<Pending>,
}

impl RouteOpDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        RouteOpDecoder {
            framer: Framer::new(limits),
            pending: None,
        }
    }

    /// Decodes the next op from the front of `buf`, or `Ok(None)` when no
    /// complete op is there yet.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<RouteOp>, DecodeError> {
        let p = match self.pending {
            Some(p) => p,
            None => {
                let Some(len) = self.framer.next_line(buf)? else {
                    return Ok(None);
                };
                let content = if len >= 2 && buf[len - 2] == b'\r' {
                    len - 2
                } else {
                    len - 1
                };
                match parse_line(&self.framer.limits, buf, content, len)? {
                    Line::Op(op) => return Ok(Some(op)),
                    Line::Payload(p) => p,
                }
            }
        };
        let end = p.line_len as usize + p.total_len as usize;
        if buf.len() < end + 2 {
            self.pending = Some(p);
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(DecodeError::BadPayloadTerminator { op: p.op });
        }
        self.pending = None;
        let frame = buf.split_to(end).freeze();
        buf.advance(2);
        let queues = frame.slice(p.queues.0 as usize..p.queues.1 as usize);
        Ok(Some(RouteOp::Msg(RouteMsg {
            frame: MsgFrame::from_spans(
                frame,
                p.subject,
                p.account,
                p.reply,
                p.line_len,
                p.header_len,
            ),
            queues,
        })))
    }
}

enum Line {
    Op(RouteOp),
    Payload(Pending),
}

/// Splits arguments: the first [`FIRST`] spans, the last three, and the count.
const FIRST: usize = 5;

struct Args {
    first: [Span; FIRST],
    last: [Span; 3],
    n: usize,
}

impl Args {
    fn split(line: &[u8], from: usize) -> Args {
        let mut a = Args {
            first: [(0, 0); FIRST],
            last: [(0, 0); 3],
            n: 0,
        };
        let mut i = from;
        while i < line.len() {
            if is_ws(line[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < line.len() && !is_ws(line[i]) {
                i += 1;
            }
            let span = (start as u32, i as u32);
            if a.n < FIRST {
                a.first[a.n] = span;
            }
            a.last = [a.last[1], a.last[2], span];
            a.n += 1;
        }
        a
    }

    /// The `k`-th argument from the end (0 = the last).
    fn nth_last(&self, k: usize) -> Span {
        self.last[2 - k]
    }
}

fn parse_line(
    limits: &Limits,
    buf: &mut BytesMut,
    content: usize,
    len: usize,
) -> Result<Line, DecodeError> {
    let line = &buf[..content];
    let first = line.first().map_or(0, u8::to_ascii_uppercase);
    let ws_at = |i: usize| line.get(i).is_some_and(|&b| is_ws(b));
    let simple = |buf: &mut BytesMut, op| {
        buf.advance(len);
        Ok(Line::Op(op))
    };
    let (op, op_len) = match first {
        b'R' if starts_with_ci(line, b"RS+") && ws_at(3) => (OpName::RouteSub, 3),
        b'R' if starts_with_ci(line, b"RS-") && ws_at(3) => (OpName::RouteUnsub, 3),
        b'R' if starts_with_ci(line, b"RMSG") && ws_at(4) => (OpName::Rmsg, 4),
        b'H' if starts_with_ci(line, b"HMSG") && ws_at(4) => (OpName::Hmsg, 4),
        b'P' if starts_with_ci(line, b"PING") => return simple(buf, RouteOp::Ping),
        b'P' if starts_with_ci(line, b"PONG") => return simple(buf, RouteOp::Pong),
        b'+' if starts_with_ci(line, b"+OK") => return simple(buf, RouteOp::Ok),
        b'I' if starts_with_ci(line, b"INFO") => {
            check_control_line(limits, 4, content)?;
            return Ok(Line::Op(RouteOp::Info(rest_trimmed(buf, 4, content, len))));
        }
        b'C' if starts_with_ci(line, b"CONNECT") => {
            check_control_line(limits, 7, content)?;
            return Ok(Line::Op(RouteOp::Connect(rest_trimmed(
                buf, 7, content, len,
            ))));
        }
        b'-' if starts_with_ci(line, b"-ERR") => {
            let mut text = rest_trimmed(buf, 4, content, len);
            if text.len() >= 2 && text[0] == b'\'' && text[text.len() - 1] == b'\'' {
                text = text.slice(1..text.len() - 1);
            }
            return Ok(Line::Op(RouteOp::Err(text)));
        }
        _ => return Err(DecodeError::UnknownOp),
    };
    check_control_line(limits, op_len, content)?;
    let bad = DecodeError::BadArgs { op };
    let a = Args::split(line, op_len);
    let arg = |s: Span| &line[s.0 as usize..s.1 as usize];
    match op {
        OpName::RouteSub | OpName::RouteUnsub => {
            let queue = match (op, a.n) {
                (_, 2) => None,
                (OpName::RouteSub, 4) => Some((a.first[2], a.first[3])),
                (OpName::RouteUnsub, 3) => Some((a.first[2], (0, 0))),
                _ => return Err(bad),
            };
            let weight = match queue {
                Some((_, w)) if op == OpName::RouteSub => {
                    let w = parse_size(arg(w)).ok_or(bad.clone())?;
                    Some(u32::try_from(w).map_err(|_| bad.clone())?)
                }
                _ => None,
            };
            let line = buf.split_to(len).freeze();
            let s = |sp: Span| line.slice(sp.0 as usize..sp.1 as usize);
            let (account, subject) = (s(a.first[0]), s(a.first[1]));
            Ok(Line::Op(if op == OpName::RouteSub {
                RouteOp::Sub {
                    account,
                    subject,
                    queue: queue.map(|(q, _)| (s(q), weight.unwrap_or(0))),
                }
            } else {
                RouteOp::Unsub {
                    account,
                    subject,
                    queue: queue.map(|(q, _)| s(q)),
                }
            }))
        }
        _ => {
            let headers = op == OpName::Hmsg;
            // Arguments besides account, subject and sizes.
            let sizes = if headers { 2 } else { 1 };
            if a.n < 2 + sizes {
                return Err(bad);
            }
            let middle = a.n - 2 - sizes;
            let (reply, queues) = match middle {
                0 => (None, (0, 0)),
                1 => (Some(a.first[2]), (0, 0)),
                _ => {
                    let indicator = arg(a.first[2]);
                    let (reply, first_queue) = match indicator {
                        b"+" => (Some(a.first[3]), 4),
                        b"|" => (None, 3),
                        _ => return Err(bad),
                    };
                    // `+ <reply>` with no queue is accepted, as nats-server does.
                    if first_queue > 2 + middle - 1 {
                        (reply, (0, 0))
                    } else {
                        let end = a.nth_last(sizes).1;
                        (reply, (a.first[first_queue].0, end))
                    }
                }
            };
            let header = headers.then(|| arg(a.nth_last(1)));
            let (header_len, total_len) = payload_sizes(limits, op, header, arg(a.nth_last(0)))?;
            Ok(Line::Payload(Pending {
                op,
                line_len: len as u32,
                account: a.first[0],
                subject: a.first[1],
                reply,
                queues,
                header_len,
                total_len,
            }))
        }
    }
}

/// Writes `RS+ <account> <subject>[ <queue> <weight>]\r\n`.
pub fn write_route_sub(
    out: &mut BytesMut,
    account: &[u8],
    subject: &[u8],
    queue: Option<(&[u8], u32)>,
) {
    out.extend_from_slice(b"RS+ ");
    out.extend_from_slice(account);
    out.extend_from_slice(b" ");
    out.extend_from_slice(subject);
    if let Some((q, w)) = queue {
        out.extend_from_slice(b" ");
        out.extend_from_slice(q);
        out.extend_from_slice(format!(" {w}").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes `RS- <account> <subject>[ <queue>]\r\n`.
pub fn write_route_unsub(out: &mut BytesMut, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(b"RS- ");
    out.extend_from_slice(account);
    out.extend_from_slice(b" ");
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.extend_from_slice(b" ");
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the control line of a routed message: `RMSG` without headers,
/// `HMSG` with a header size, with nats-server's reply and queue forms
/// (`+ <reply> <queues>`, `| <queues>`, `<reply>`).
pub fn write_rmsg_line(
    out: &mut BytesMut,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[Bytes],
    header_len: Option<usize>,
    payload_len: usize,
) {
    out.extend_from_slice(if header_len.is_some() {
        b"HMSG "
    } else {
        b"RMSG "
    });
    out.extend_from_slice(account);
    out.extend_from_slice(b" ");
    out.extend_from_slice(subject);
    out.extend_from_slice(b" ");
    if !queues.is_empty() {
        match reply {
            Some(r) => {
                out.extend_from_slice(b"+ ");
                out.extend_from_slice(r);
                out.extend_from_slice(b" ");
            }
            None => out.extend_from_slice(b"| "),
        }
        for q in queues {
            out.extend_from_slice(q);
            out.extend_from_slice(b" ");
        }
    } else if let Some(r) = reply {
        out.extend_from_slice(r);
        out.extend_from_slice(b" ");
    }
    // itoa into the buffer: no `format!` (a String allocated and freed,
    // and the fmt machinery) per routed message.
    put_sizes(out, header_len, payload_len);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Result<Vec<RouteOp>, DecodeError> {
        let mut dec = RouteOpDecoder::new(Limits::default());
        let mut buf = BytesMut::from(bytes);
        let mut ops = Vec::new();
        while let Some(op) = dec.decode(&mut buf)? {
            ops.push(op);
        }
        Ok(ops)
    }

    #[test]
    fn every_rmsg_form_round_trips() {
        let q: Vec<Bytes> = vec![Bytes::from_static(b"q1"), Bytes::from_static(b"q2")];
        type Case<'a> = (Option<&'a [u8]>, &'a [Bytes], Option<&'a [u8]>);
        let cases: [Case<'_>; 6] = [
            (None, &[], None),
            (Some(b"_INBOX.r"), &[], None),
            (Some(b"_INBOX.r"), &q, None),
            (None, &q, None),
            (None, &q[..1], Some(b"NATS/1.0\r\nA: b\r\n\r\n")),
            (Some(b"r"), &[], Some(b"NATS/1.0\r\n\r\n")),
        ];
        for (reply, queues, headers) in cases {
            let mut out = BytesMut::new();
            write_rmsg_line(
                &mut out,
                b"$G",
                b"foo.bar",
                reply,
                queues,
                headers.map(<[u8]>::len),
                5,
            );
            if let Some(h) = headers {
                out.extend_from_slice(h);
            }
            out.extend_from_slice(b"hello\r\n");
            let ops = decode_all(&out).unwrap();
            let [RouteOp::Msg(m)] = &ops[..] else {
                panic!("{ops:?}")
            };
            assert_eq!(m.account(), b"$G");
            assert_eq!(m.frame().subject(), b"foo.bar");
            assert_eq!(m.frame().reply(), reply);
            assert_eq!(m.frame().headers(), headers);
            assert_eq!(m.frame().payload(), b"hello");
            let got: Vec<&[u8]> = m.queues().collect();
            let want: Vec<&[u8]> = queues.iter().map(|q| &q[..]).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn interest_ops() {
        let mut out = BytesMut::new();
        write_route_sub(&mut out, b"$G", b"a.*", None);
        write_route_sub(&mut out, b"$G", b"a.>", Some((b"workers", 3)));
        write_route_unsub(&mut out, b"$G", b"a.>", Some(b"workers"));
        write_route_unsub(&mut out, b"$G", b"a.*", None);
        let ops = decode_all(&out).unwrap();
        assert_eq!(
            ops,
            vec![
                RouteOp::Sub {
                    account: "$G".into(),
                    subject: "a.*".into(),
                    queue: None
                },
                RouteOp::Sub {
                    account: "$G".into(),
                    subject: "a.>".into(),
                    queue: Some(("workers".into(), 3))
                },
                RouteOp::Unsub {
                    account: "$G".into(),
                    subject: "a.>".into(),
                    queue: Some("workers".into())
                },
                RouteOp::Unsub {
                    account: "$G".into(),
                    subject: "a.*".into(),
                    queue: None
                },
            ]
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            &b"RS+ $G\r\n"[..],
            b"RS+ $G foo q\r\n",
            b"RS+ $G foo q x\r\n",
            b"RS- $G foo q extra\r\n",
            b"RMSG $G\r\n",
            b"RMSG $G foo x q1 5\r\n",
            b"RMSG $G foo bar\r\n",
            b"HMSG $G foo 10 5\r\n",
        ] {
            assert!(
                decode_all(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(decode_all(b"SUB foo 1\r\n"), Err(DecodeError::UnknownOp));
        assert_eq!(decode_all(b"PUB foo 1\r\n"), Err(DecodeError::UnknownOp));
    }

    #[test]
    fn split_anywhere_gives_the_same_ops() {
        let wire =
            b"INFO {\"server_id\":\"x\"}\r\nRS+ $G a\r\nRMSG $G a + r | q 3\r\nabc\r\nPING\r\n";
        // "+ r | q": the reply is r; queues `|` and `q` (nats-server's parser
        // takes every argument between the reply and the size as a queue).
        let whole = decode_all(wire).unwrap();
        for cut in 1..wire.len() {
            let mut dec = RouteOpDecoder::new(Limits::default());
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut ops = Vec::new();
            while let Some(op) = dec.decode(&mut buf).unwrap() {
                ops.push(op);
            }
            buf.extend_from_slice(&wire[cut..]);
            while let Some(op) = dec.decode(&mut buf).unwrap() {
                ops.push(op);
            }
            assert_eq!(ops, whole, "cut at {cut}");
        }
    }
}
