//! Encoders for every op of both directions.
//!
//! The `write_*` functions append one op to a [`BytesMut`]; the `*_line`
//! variants write only the control line, so that a caller can queue a large
//! payload as its own [`bytes::Bytes`] chunk instead of copying it.

use bytes::{BufMut, BytesMut};

use super::op::{ClientOp, ServerOp};

/// `PING\r\n`
pub const PING: &[u8] = b"PING\r\n";
/// `PONG\r\n`
pub const PONG: &[u8] = b"PONG\r\n";
/// `+OK\r\n`
pub const OK: &[u8] = b"+OK\r\n";
/// The CRLF that ends every line and payload.
pub const CRLF: &[u8] = b"\r\n";

#[inline]
fn put_num(out: &mut BytesMut, n: u64) {
    out.put_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Writes the size fields of a message control line (`HDR TOTAL` or
/// `SIZE`) and its CRLF.
#[inline]
pub(super) fn put_sizes(out: &mut BytesMut, header_len: Option<usize>, payload_len: usize) {
    if let Some(h) = header_len {
        put_num(out, h as u64);
        out.put_u8(b' ');
        put_num(out, (h + payload_len) as u64);
    } else {
        put_num(out, payload_len as u64);
    }
    out.put_slice(CRLF);
}

/// Writes the control line of a `PUB` (or `HPUB` when `header_len` is set).
/// The payload (headers first) and a CRLF must follow.
pub fn write_pub_line(
    out: &mut BytesMut,
    subject: &[u8],
    reply: Option<&[u8]>,
    header_len: Option<usize>,
    payload_len: usize,
) {
    out.put_slice(if header_len.is_some() {
        b"HPUB "
    } else {
        b"PUB "
    });
    out.put_slice(subject);
    out.put_u8(b' ');
    if let Some(r) = reply {
        out.put_slice(r);
        out.put_u8(b' ');
    }
    put_sizes(out, header_len, payload_len);
}

/// Writes a whole `PUB`/`HPUB`.
pub fn write_pub(
    out: &mut BytesMut,
    subject: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    let hlen = headers.map(<[u8]>::len);
    out.reserve(
        subject.len() + reply.map_or(0, <[u8]>::len) + hlen.unwrap_or(0) + payload.len() + 40,
    );
    write_pub_line(out, subject, reply, hlen, payload.len());
    if let Some(h) = headers {
        out.put_slice(h);
    }
    out.put_slice(payload);
    out.put_slice(CRLF);
}

/// Writes the control line of a `MSG` (or `HMSG` when `header_len` is set).
/// The payload (headers first) and a CRLF must follow.
pub fn write_msg_line(
    out: &mut BytesMut,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: Option<usize>,
    payload_len: usize,
) {
    out.put_slice(if header_len.is_some() {
        b"HMSG "
    } else {
        b"MSG "
    });
    out.put_slice(subject);
    out.put_u8(b' ');
    out.put_slice(sid);
    out.put_u8(b' ');
    if let Some(r) = reply {
        out.put_slice(r);
        out.put_u8(b' ');
    }
    put_sizes(out, header_len, payload_len);
}

/// Writes a whole `MSG`/`HMSG`.
pub fn write_msg(
    out: &mut BytesMut,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    let hlen = headers.map(<[u8]>::len);
    write_msg_line(out, subject, sid, reply, hlen, payload.len());
    if let Some(h) = headers {
        out.put_slice(h);
    }
    out.put_slice(payload);
    out.put_slice(CRLF);
}

/// Writes `SUB <subject> [queue] <sid>`.
pub fn write_sub(out: &mut BytesMut, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
    out.put_slice(b"SUB ");
    out.put_slice(subject);
    out.put_u8(b' ');
    if let Some(q) = queue {
        out.put_slice(q);
        out.put_u8(b' ');
    }
    out.put_slice(sid);
    out.put_slice(CRLF);
}

/// Writes `UNSUB <sid> [max]`.
pub fn write_unsub(out: &mut BytesMut, sid: &[u8], max: Option<u64>) {
    out.put_slice(b"UNSUB ");
    out.put_slice(sid);
    if let Some(m) = max {
        out.put_u8(b' ');
        put_num(out, m);
    }
    out.put_slice(CRLF);
}

/// Writes `CONNECT <json>`.
pub fn write_connect(out: &mut BytesMut, json: &[u8]) {
    out.put_slice(b"CONNECT ");
    out.put_slice(json);
    out.put_slice(CRLF);
}

/// Writes `INFO <json>`.
pub fn write_info(out: &mut BytesMut, json: &[u8]) {
    out.put_slice(b"INFO ");
    out.put_slice(json);
    out.put_slice(CRLF);
}

/// Writes `-ERR '<text>'`.
pub fn write_err(out: &mut BytesMut, text: &[u8]) {
    out.put_slice(b"-ERR '");
    out.put_slice(text);
    out.put_slice(b"'\r\n");
}

/// Appends any client op.
pub fn encode_client_op(op: &ClientOp, out: &mut BytesMut) {
    match op {
        ClientOp::Connect(json) => write_connect(out, json),
        ClientOp::Pub(m) => write_pub(out, m.subject(), m.reply(), m.headers(), m.payload()),
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => write_sub(out, subject, queue.as_deref(), sid),
        ClientOp::Unsub { sid, max } => write_unsub(out, sid, *max),
        ClientOp::Ping => out.put_slice(PING),
        ClientOp::Pong => out.put_slice(PONG),
    }
}

/// Appends any server op.
pub fn encode_server_op(op: &ServerOp, out: &mut BytesMut) {
    match op {
        ServerOp::Info(json) => write_info(out, json),
        ServerOp::Msg(m) => write_msg(
            out,
            m.subject(),
            m.sid(),
            m.reply(),
            m.headers(),
            m.payload(),
        ),
        ServerOp::Ping => out.put_slice(PING),
        ServerOp::Pong => out.put_slice(PONG),
        ServerOp::Ok => out.put_slice(OK),
        ServerOp::Err(text) => write_err(out, text),
    }
}
