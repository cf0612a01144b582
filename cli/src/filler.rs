//! The seeded pieces of the harnesses' checkable payloads (`stan-crash`,
//! `stan-soak`): a 64-bit mixer, filler letters drawn from it, and the
//! numbered fields of a payload's header, so that a payload read back is
//! checked byte for byte by encoding its header's key again.
//!
//! ```
//! use stan_cli::filler::{field, mix, push_filler};
//!
//! let mut out = b"p3 c40 ".to_vec();
//! let len = push_filler(&mut out, mix(7), 200);
//! assert_eq!(out.len(), 7 + len);
//! assert!(out[7..].iter().all(u8::is_ascii_lowercase));
//! let mut fields = "p3 c40 ".split(' ');
//! assert_eq!((field(&mut fields, 'p'), field(&mut fields, 'c')), (Some(3), Some(40)));
//! ```

/// splitmix64's finalizer: a well-mixed 64-bit hash of `x`.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Appends the filler of `state` (a key's hash) to `out`: `state % (max +
/// 1)` lowercase letters, each from the next [`mix`] of the state. Returns
/// how many.
pub fn push_filler(out: &mut Vec<u8>, mut state: u64, max: u64) -> usize {
    let len = (state % (max + 1)) as usize;
    out.reserve(len);
    for _ in 0..len {
        state = mix(state);
        out.push(b'a' + (state % 26) as u8);
    }
    len
}

/// The next header field of `fields` if it is `tag` followed by a decimal
/// number (`p12` for `'p'`).
pub fn field<'a>(fields: &mut impl Iterator<Item = &'a str>, tag: char) -> Option<u64> {
    fields
        .next()
        .and_then(|f| f.strip_prefix(tag))
        .and_then(|n| n.parse::<u64>().ok())
}
