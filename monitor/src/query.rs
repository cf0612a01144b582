//! The query string as Go's `net/http` reads it, and nats-server's and the
//! streaming server's ways of decoding its values.
//!
//! * [`Query::parse`] follows `url.ParseQuery` + `Values.Get`: pairs split
//!   on `&`, key and value split on the first `=`, `+` and `%XX` decoded;
//!   a pair with a `;` or a bad escape is dropped; the first value of a key
//!   wins.
//! * [`Query::int`], [`Query::uint`], [`Query::bool`] are nats-server's
//!   `decodeInt`, `decodeUint64`, `decodeBool`: an empty or absent value is
//!   the zero value, a bad one is an error whose text is Go's
//!   (`Error decoding int for 'limit': strconv.Atoi: parsing "abc": invalid
//!   syntax`), answered with `400`.
//! * [`Query::lenient_int`] is the streaming server's `strconv.Atoi` whose
//!   error is ignored: `0` on bad syntax, the clamped value on overflow.

/// A parsed query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `raw` (the part after `?`, without it).
    pub(crate) fn parse(raw: Option<&str>) -> Query {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&') {
            if part.is_empty() || part.contains(';') {
                continue;
            }
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            if let (Some(key), Some(value)) = (unescape(key), unescape(value)) {
                pairs.push((key, value));
            }
        }
        Query { pairs }
    }

    /// The first value of `key`, `""` when absent (Go's `Values.Get`).
    pub(crate) fn get(&self, key: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// nats-server's `decodeBool`.
    pub(crate) fn bool(&self, key: &str) -> Result<bool, String> {
        let raw = self.get(key);
        if raw.is_empty() {
            return Ok(false);
        }
        parse_bool(raw).ok_or_else(|| decode_error("boolean", key, "ParseBool", raw, SYNTAX))
    }

    /// nats-server's `decodeInt`.
    pub(crate) fn int(&self, key: &str) -> Result<i64, String> {
        let raw = self.get(key);
        if raw.is_empty() {
            return Ok(0);
        }
        atoi(raw).map_err(|(_, why)| decode_error("int", key, "Atoi", raw, why))
    }

    /// nats-server's `decodeUint64`.
    pub(crate) fn uint(&self, key: &str) -> Result<u64, String> {
        let raw = self.get(key);
        if raw.is_empty() {
            return Ok(0);
        }
        parse_uint(raw).map_err(|why| decode_error("uint64", key, "ParseUint", raw, why))
    }

    /// The streaming server's `v, _ := strconv.Atoi(value)`.
    pub(crate) fn lenient_int(&self, key: &str) -> i64 {
        atoi(self.get(key)).unwrap_or_else(|(clamped, _)| clamped)
    }
}

const SYNTAX: &str = "invalid syntax";
const RANGE: &str = "value out of range";

fn decode_error(kind: &str, key: &str, func: &str, raw: &str, why: &str) -> String {
    format!(
        "Error decoding {kind} for '{key}': strconv.{func}: parsing {}: {why}",
        go_quote(raw)
    )
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.Atoi` on a 64-bit platform: on error, the value Go returns
/// with it (`0` for bad syntax, the nearest bound on overflow) and why.
fn atoi(s: &str) -> Result<i64, (i64, &'static str)> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = parse_uint(digits).map_err(|why| {
        let bound = if negative { i64::MIN } else { i64::MAX };
        (if why == RANGE { bound } else { 0 }, why)
    })?;
    if negative {
        if magnitude > i64::MAX as u64 + 1 {
            return Err((i64::MIN, RANGE));
        }
        Ok((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).map_err(|_| (i64::MAX, RANGE))
    }
}

/// Go's `strconv.ParseUint(s, 10, 64)`.
fn parse_uint(s: &str) -> Result<u64, &'static str> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SYNTAX);
    }
    s.bytes().try_fold(0u64, |n, b| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(RANGE)
    })
}

/// Go's `strconv.Quote`, enough for error messages: quotes and backslashes
/// escaped, control characters as `\xNN`.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; `None` on a bad
/// escape (or bytes that are not UTF-8, which Go would keep but which no
/// answer here needs).
fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let q = Query::parse(Some(
            "subs=1&limit=5&limit=7&test=a%2Eb&x=a+b&bad=%zz&s=a;b&flag",
        ));
        assert_eq!(q.get("subs"), "1");
        assert_eq!(q.get("limit"), "5");
        assert_eq!(q.get("test"), "a.b");
        assert_eq!(q.get("x"), "a b");
        assert_eq!(q.get("bad"), "");
        assert_eq!(q.get("s"), "");
        assert_eq!(q.get("flag"), "");
        assert_eq!(q.get("missing"), "");
        assert_eq!(Query::parse(None).get("a"), "");
    }

    #[test]
    fn decoders_and_their_errors() {
        let q = Query::parse(Some(
            "a=12&b=-3&c=abc&d=99999999999999999999&e=true&f=maybe&g=-1&h=%2B4",
        ));
        assert_eq!(q.int("a"), Ok(12));
        assert_eq!(q.int("b"), Ok(-3));
        assert_eq!(q.int("h"), Ok(4));
        assert_eq!(q.int("none"), Ok(0));
        assert_eq!(
            q.int("c"),
            Err("Error decoding int for 'c': strconv.Atoi: parsing \"abc\": invalid syntax".into())
        );
        assert_eq!(
            q.int("d"),
            Err(
                "Error decoding int for 'd': strconv.Atoi: parsing \"99999999999999999999\": value out of range"
                    .into()
            )
        );
        assert_eq!(q.bool("e"), Ok(true));
        assert_eq!(
            q.bool("f"),
            Err("Error decoding boolean for 'f': strconv.ParseBool: parsing \"maybe\": invalid syntax".into())
        );
        assert_eq!(
            q.uint("g"),
            Err(
                "Error decoding uint64 for 'g': strconv.ParseUint: parsing \"-1\": invalid syntax"
                    .into()
            )
        );
        assert_eq!(q.uint("a"), Ok(12));
        assert_eq!(q.lenient_int("c"), 0);
        assert_eq!(q.lenient_int("d"), i64::MAX);
        assert_eq!(q.lenient_int("b"), -3);
    }

    #[test]
    fn atoi_bounds() {
        assert_eq!(atoi("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(atoi("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(atoi("9223372036854775808"), Err((i64::MAX, RANGE)));
        assert_eq!(atoi("-9223372036854775809"), Err((i64::MIN, RANGE)));
        assert_eq!(atoi("-"), Err((0, SYNTAX)));
        assert_eq!(atoi("1_0"), Err((0, SYNTAX)));
    }
}
