//! Rendering snapshots into the Go servers' JSON answers.
//!
//! * [`nats`]: nats-server 2.9's `/varz`, `/connz`, `/subsz`, `/routez`,
//!   `/healthz`;
//! * [`streaming`]: nats-streaming-server 0.25's `/streaming/*`.
//!
//! This module holds what they share: the JSON writer ([`json`]) with Go's
//! `json.MarshalIndent(v, "", "  ")` output (2-space indent; `<`, `>`, `&`,
//! U+2028 and U+2029 escaped as Go escapes them), JSONP (`callback`), the
//! plain-text answers of Go's `http.Error` and `w.Write`, and [`GoFloat`].

pub(crate) mod nats;
pub(crate) mod streaming;

use std::io;

use serde::{Serialize, Serializer};
use serde_json::ser::{Formatter, PrettyFormatter};

use crate::handler::{Response, HTML, JAVASCRIPT, JSON, TEXT};
use crate::query::Query;

/// Go's `net/http` answer to an unknown path.
pub(crate) fn not_found() -> Response {
    text(404, "404 page not found\n")
}

/// `/` when no dashboard is compiled in: links to the endpoints.
pub(crate) fn root_index() -> Response {
    let links = [
        "/varz",
        "/connz",
        "/subsz",
        "/routez",
        "/healthz",
        "/streaming",
        "/metrics",
    ];
    let mut body =
        String::from("<html lang=\"en\">\n  <body>\n    <h1>stan-server monitoring</h1>\n");
    for l in links {
        body.push_str(&format!("    <a href=.{l}>{l}</a><br/>\n"));
    }
    body.push_str("  </body>\n</html>\n");
    Response {
        status: 200,
        content_type: HTML,
        body: body.into_bytes(),
    }
}

/// A plain-text answer (`http.Error` adds the newline; `w.Write` does not).
pub(crate) fn text(status: u16, body: impl Into<String>) -> Response {
    Response {
        status,
        content_type: TEXT,
        body: body.into().into_bytes(),
    }
}

/// `value` as nats-server's `ResponseHandler` sends it: pretty JSON, or
/// JSONP when the query has a `callback`. A callback that is not a
/// JavaScript identifier path (`cb`, `jQuery1_2`, `app.render`) is refused
/// with `400`: the name is echoed into a script.
pub(crate) fn json<T: Serialize>(value: &T, query: &Query) -> Response {
    respond(to_json(value, true), query)
}

/// [`json`] without the indentation (nats-server's `/healthz` uses
/// `json.Marshal`).
pub(crate) fn json_compact<T: Serialize>(value: &T, query: &Query) -> Response {
    respond(to_json(value, false), query)
}

fn respond(body: Vec<u8>, query: &Query) -> Response {
    let callback = query.get("callback");
    if callback.is_empty() {
        return Response {
            status: 200,
            content_type: JSON,
            body,
        };
    }
    if !is_js_identifier_path(callback) {
        return text(
            400,
            "Invalid callback: the JSONP callback must be a JavaScript identifier\n",
        );
    }
    let mut out = Vec::with_capacity(callback.len() + body.len() + 2);
    out.extend_from_slice(callback.as_bytes());
    out.push(b'(');
    out.extend_from_slice(&body);
    out.push(b')');
    Response {
        status: 200,
        content_type: JAVASCRIPT,
        body: out,
    }
}

/// `a`, `a.b`, `$_x1`: ASCII identifiers joined by dots.
fn is_js_identifier_path(name: &str) -> bool {
    name.len() <= 256
        && name.split('.').all(|ident| {
            let mut chars = ident.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        })
}

/// Serializes `value` as Go's encoder would.
fn to_json<T: Serialize>(value: &T, pretty: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let formatter = GoFormatter {
        pretty: pretty.then(|| PrettyFormatter::with_indent(b"  ")),
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    // The values are plain structs of strings, numbers and maps with string
    // keys: serializing them into memory cannot fail.
    if value.serialize(&mut ser).is_err() {
        return b"{}".to_vec();
    }
    out
}

/// serde_json's formatters with Go's HTML-safe string escaping.
struct GoFormatter {
    pretty: Option<PrettyFormatter<'static>>,
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $name<W: ?Sized + io::Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> io::Result<()> {
                match &mut self.pretty {
                    Some(p) => p.$name(w $(, $arg)*),
                    None => serde_json::ser::CompactFormatter.$name(w $(, $arg)*),
                }
            }
        )*
    };
}

impl Formatter for GoFormatter {
    delegate! {
        begin_array();
        end_array();
        begin_array_value(first: bool);
        end_array_value();
        begin_object();
        end_object();
        begin_object_key(first: bool);
        begin_object_value();
        end_object_value();
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let escape = match bytes[i] {
                b'<' => "\\u003c",
                b'>' => "\\u003e",
                b'&' => "\\u0026",
                // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
                0xE2 if bytes.get(i + 1) == Some(&0x80)
                    && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
                {
                    if bytes[i + 2] == 0xA8 {
                        "\\u2028"
                    } else {
                        "\\u2029"
                    }
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            w.write_all(&bytes[start..i])?;
            w.write_all(escape.as_bytes())?;
            i += if bytes[i] == 0xE2 { 3 } else { 1 };
            start = i;
        }
        w.write_all(&bytes[start..])
    }
}

/// A Go `float64` in JSON: integral values without a fraction (`1`, not
/// `1.0`), others in their shortest form; not-a-number as `0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GoFloat(pub(crate) f64);

impl Serialize for GoFloat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if !v.is_finite() {
            s.serialize_u64(0)
        } else if v.fract() == 0.0 && v.abs() < 1e15 {
            s.serialize_i64(v as i64)
        } else {
            s.serialize_f64(v)
        }
    }
}

/// An empty JSON object (`{}`), for Go structs whose fields are all empty
/// and `omitempty`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Empty {}

/// `[offset, offset + limit)` clamped to `total`, as the Go servers slice
/// their lists (without their overflow).
pub(crate) fn page(offset: i64, limit: i64, total: usize) -> std::ops::Range<usize> {
    let clamp = |n: i64| usize::try_from(n.max(0)).unwrap_or(usize::MAX).min(total);
    let start = clamp(offset);
    let end = clamp(offset.saturating_add(limit)).max(start);
    start..end
}

/// Serde's `skip_serializing_if` helpers.
pub(crate) fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Sample<'a> {
        s: &'a str,
        f: GoFloat,
        g: GoFloat,
        e: Empty,
        v: Vec<u8>,
    }

    #[test]
    fn go_like_json() {
        let v = Sample {
            s: "a<b>&c\u{2028}µ",
            f: GoFloat(1.0),
            g: GoFloat(0.2631578947368421),
            e: Empty {},
            v: vec![],
        };
        let out = String::from_utf8(to_json(&v, true)).unwrap_or_default();
        assert_eq!(
            out,
            "{\n  \"s\": \"a\\u003cb\\u003e\\u0026c\\u2028µ\",\n  \"f\": 1,\n  \"g\": 0.2631578947368421,\n  \"e\": {},\n  \"v\": []\n}"
        );
        let compact = String::from_utf8(to_json(&v, false)).unwrap_or_default();
        assert!(compact.starts_with("{\"s\":"), "{compact}");
    }

    #[test]
    fn jsonp_names() {
        assert!(is_js_identifier_path("cb"));
        assert!(is_js_identifier_path("$jq_1.x"));
        assert!(!is_js_identifier_path("a b"));
        assert!(!is_js_identifier_path("alert(1);x"));
        assert!(!is_js_identifier_path("1a"));
        assert!(!is_js_identifier_path("a..b"));
        assert!(!is_js_identifier_path(""));
        let q = Query::parse(Some("callback=cb"));
        let r = json(&Empty {}, &q);
        assert_eq!((r.status, r.content_type), (200, JAVASCRIPT));
        assert_eq!(r.body, b"cb({})");
        let r = json(&Empty {}, &Query::parse(Some("callback=%3Cscript%3E")));
        assert_eq!(r.status, 400);
    }

    #[test]
    fn pages_are_clamped() {
        assert_eq!(page(0, 1024, 6), 0..6);
        assert_eq!(page(2, 2, 6), 2..4);
        assert_eq!(page(10, 5, 6), 6..6);
        assert_eq!(page(0, i64::MAX, 6), 0..6);
        assert_eq!(page(5, i64::MAX, 6), 5..6);
        assert_eq!(page(-3, 2, 6), 0..0);
    }
}
