//! Go durations and NATS size suffixes.

use std::fmt;
use std::time::Duration;

/// A Go `time.Duration` as written in a configuration file: signed
/// nanoseconds. Signs matter for some options (a negative per-channel
/// limit means unlimited, a non-positive `auto_sync` disables it), so they
/// are kept; [`GoDuration::to_std`] gives a `std::time::Duration` for the
/// non-negative ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub i64);

impl GoDuration {
    /// Zero.
    pub const ZERO: GoDuration = GoDuration(0);

    /// Whole seconds, as nats-server reads the integer form of
    /// `ping_interval` and `write_deadline` (saturating).
    pub fn from_secs(secs: i64) -> Self {
        GoDuration(secs.saturating_mul(1_000_000_000))
    }

    /// The nanoseconds.
    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// Whether the duration is below zero.
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The duration, or `None` if it is negative.
    pub fn to_std(self) -> Option<Duration> {
        u64::try_from(self.0).ok().map(Duration::from_nanos)
    }
}

impl fmt::Display for GoDuration {
    /// Nanoseconds followed by `ns` (exact, unambiguous).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ns", self.0)
    }
}

/// Parses a duration as Go's `time.ParseDuration` does: an optional sign,
/// then `0` alone or a sequence of decimal numbers, each with an optional
/// fraction and a unit among `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`
/// (`1h30m`, `-1.5s`, `500ms`). The error texts are Go's
/// (`time: invalid duration "x"`, `time: missing unit in duration "1"`,
/// `time: unknown unit "d" in duration "1d"`).
pub fn parse_go_duration(orig: &str) -> Result<GoDuration, String> {
    let invalid = || format!("time: invalid duration {orig:?}");
    let mut s = orig;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(GoDuration(0));
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let (int, rest) = s.split_at(int_len);
        s = rest;
        let mut frac = "";
        if let Some(rest) = s.strip_prefix('.') {
            let n = rest.bytes().take_while(|c| c.is_ascii_digit()).count();
            frac = &rest[..n];
            s = &rest[n..];
        }
        if int.is_empty() && frac.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {orig:?}"));
        }
        let (unit, rest) = s.split_at(unit_len);
        s = rest;
        let unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            u => return Err(format!("time: unknown unit {u:?} in duration {orig:?}")),
        };
        let mut v: u128 = 0;
        for d in int.bytes() {
            v = v * 10 + u128::from(d - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
        }
        v *= unit;
        if v > LIMIT {
            return Err(invalid());
        }
        // Go stops accumulating fraction digits once they would overflow;
        // past 18 digits nothing is left to add at nanosecond precision.
        let (mut num, mut den) = (0u128, 1u128);
        for d in frac.bytes().take(18) {
            num = num * 10 + u128::from(d - b'0');
            den *= 10;
        }
        v += num * unit / den;
        total += v;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        // total <= 2^63: -total fits an i64.
        let n = i64::try_from(total).map(|t| -t).unwrap_or(i64::MIN);
        return Ok(GoDuration(n));
    }
    i64::try_from(total).map(GoDuration).map_err(|_| invalid())
}

/// The multiplier of a NATS size suffix (case-insensitive): `""` 1, `k`
/// 10³, `kb`/`ki`/`kib` 2¹⁰, … up to `e` 10¹⁸ and `eb`/`ei`/`eib` 2⁶⁰, as
/// nats-server's `conf/parse.go`.
pub(crate) fn size_multiplier(suffix: &str) -> Option<i64> {
    let s = suffix.to_ascii_lowercase();
    let (letter, rest) = match s.chars().next() {
        None => return Some(1),
        Some(c) => (c, &s[c.len_utf8()..]),
    };
    let power = match letter {
        'k' => 1,
        'm' => 2,
        'g' => 3,
        't' => 4,
        'p' => 5,
        'e' => 6,
        _ => return None,
    };
    let base: i64 = match rest {
        "" => 1000,
        "b" | "i" | "ib" => 1024,
        _ => return None,
    };
    base.checked_pow(power)
}

/// Parses an integer with an optional NATS size suffix (`1GB`, `512k`,
/// `10MiB`, `-1`), the syntax nats-server gives unquoted sizes and
/// nats-streaming-server gives its `--max_bytes`-style flags.
pub fn parse_size(s: &str) -> Result<i64, String> {
    let digits_end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(digits_end);
    if num.is_empty() || num == "-" {
        return Err(format!(
            "expected a size such as 1024, 512KB or 1GB, got {s:?}"
        ));
    }
    let n: i64 = num
        .parse()
        .map_err(|_| format!("integer {s:?} is out of range"))?;
    let mult = size_multiplier(suffix).ok_or_else(|| format!("invalid size suffix in {s:?}"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("integer {s:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = |s: &str| parse_go_duration(s).unwrap().0;
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("-0"), 0);
        assert_eq!(ok("1s"), 1_000_000_000);
        assert_eq!(ok("1m30s"), 90_000_000_000);
        assert_eq!(ok("1.5h"), 5_400_000_000_000);
        assert_eq!(ok("500ms"), 500_000_000);
        assert_eq!(ok(".5s"), 500_000_000);
        assert_eq!(ok("1.s"), 1_000_000_000);
        assert_eq!(ok("-1s"), -1_000_000_000);
        assert_eq!(ok("+2us"), 2_000);
        assert_eq!(ok("3µs"), 3_000);
        assert_eq!(ok("1h2m3s4ms5us6ns"), 3_723_004_005_006);
        assert_eq!(ok("2562047h47m16.854775807s"), i64::MAX);
        assert_eq!(ok("-2562047h47m16.854775808s"), i64::MIN);
        assert_eq!(
            parse_go_duration("1").unwrap_err(),
            "time: missing unit in duration \"1\""
        );
        assert_eq!(
            parse_go_duration("1d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
        for bad in [
            "",
            "-",
            "s",
            ".s",
            "1..2s",
            "2562047h47m16.854775808s",
            "99999999999999999999h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("1k"), Ok(1000));
        assert_eq!(parse_size("1KB"), Ok(1024));
        assert_eq!(parse_size("2Mi"), Ok(2 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("3t"), Ok(3_000_000_000_000));
        assert_eq!(parse_size("1eb"), Ok(1 << 60));
        assert_eq!(parse_size("-1"), Ok(-1));
        for bad in [
            "",
            "-",
            "1x",
            "1kbb",
            "k",
            "1 k",
            "10e",
            "9223372036854775808",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
