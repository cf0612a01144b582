//! The NATS codec: one byte stream decoded whole and in arbitrary chunks.
//!
//! Input format of [`decode_chunked`] (chosen so that any byte string is a
//! valid input and no `arbitrary` dependency is needed):
//! * byte 0: bit 0 selects the direction (0 = client ops, 1 = server ops);
//!   bits 1..=2 select small limits, so the limit paths get exercised;
//! * byte 1: `k`, the number of chunk sizes that follow (at most 32);
//! * the next `k` bytes: chunk sizes, used cyclically (0 means 1);
//! * the rest: the wire bytes.

use bytes::BytesMut;

use crate::nats::codec::{encode_client_op, encode_server_op};
use crate::nats::{ClientOpDecoder, DecodeError, Limits, ServerOpDecoder};

/// Limits no re-encoded op of a fuzz input reaches.
const ROOMY: Limits = Limits {
    max_control_line: 1 << 20,
    max_payload: 1 << 20,
};

/// Decodes `wire` in one piece and in the chunks described by `input`, and
/// panics if the two runs disagree on any op or on the error. The ops
/// decoded are then encoded again (canonical spelling: upper-case names,
/// single blanks, CRLF, no leading zeros, quoted `-ERR` text) and decoded
/// again (with roomy limits: quoting makes an `-ERR` line longer): the same
/// ops must come back, with no error.
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
        let mut again = BytesMut::new();
        for op in &whole.0 {
            encode_client_op(op, &mut again);
        }
        let reread = run(
            &again,
            &[],
            ROOMY,
            ClientOpDecoder::new,
            ClientOpDecoder::decode,
        );
        assert_eq!(reread, (whole.0, None), "client ops change when re-encoded");
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
        let mut again = BytesMut::new();
        for op in &whole.0 {
            encode_server_op(op, &mut again);
        }
        let reread = run(
            &again,
            &[],
            ROOMY,
            ServerOpDecoder::new,
            ServerOpDecoder::decode,
        );
        assert_eq!(reread, (whole.0, None), "server ops change when re-encoded");
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
