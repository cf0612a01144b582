//! Inputs the fuzz targets once failed on, as ordinary tests (the fixes
//! they check are named in each test).

use bytes::BytesMut;

use crate::nats::codec::{encode_client_op, ClientOp, ClientOpDecoder, Limits};

/// `codec_roundtrip` found that the decoder refused the `UNSUB` max the
/// encoder writes for a value of 19 or 20 digits (it took at most 18): the
/// decoder now takes any `u64`.
#[test]
fn unsub_max_of_twenty_digits_round_trips() {
    super::codec_roundtrip(&[
        0x52, 0x2e, 0x29, 0x97, 0x6e, 0x22, 0x5d, 0x98, 0x7c, 0x01, 0x64, 0x6e, 0xff, 0x2a, 0x8c,
        0x0d, 0x97, 0x6e, 0x22,
    ]);
    for max in [
        u64::MAX,
        10_000_000_000_000_000_000,
        999_999_999_999_999_999,
    ] {
        let op = ClientOp::Unsub {
            sid: "1".into(),
            max: Some(max),
        };
        let mut wire = BytesMut::new();
        encode_client_op(&op, &mut wire);
        let mut dec = ClientOpDecoder::new(Limits::default());
        assert_eq!(dec.decode(&mut wire), Ok(Some(op)));
    }
    // One more than u64::MAX, or 21 digits: refused.
    for text in [
        "UNSUB 1 18446744073709551616\r\n",
        "UNSUB 1 000000000000000000001\r\n",
    ] {
        let mut dec = ClientOpDecoder::new(Limits::default());
        assert!(dec.decode(&mut BytesMut::from(text)).is_err(), "{text}");
    }
}
