//! NATS header blocks (`HPUB`/`HMSG`), docs/protocol.md A.5.
//!
//! A block is a status line `NATS/1.0[ <3-digit status>[ <description>]]`,
//! zero or more `Name: Value` lines (names repeat for multiple values; case is
//! preserved) and an empty line, all CRLF-terminated.
//!
//! ```
//! use stan_core::nats::HeaderMap;
//!
//! let mut h = HeaderMap::new();
//! h.append("Trace-Id", "abc");
//! let mut wire = bytes::BytesMut::new();
//! h.encode(&mut wire);
//! assert_eq!(&wire[..], b"NATS/1.0\r\nTrace-Id: abc\r\n\r\n");
//! assert_eq!(HeaderMap::parse(&wire).unwrap(), h);
//!
//! let no_responders = HeaderMap::parse(b"NATS/1.0 503\r\n\r\n").unwrap();
//! assert_eq!(no_responders.status(), Some(503));
//! ```

use bytes::{BufMut, BytesMut};

/// Version prefix of every header block.
pub const HEADER_VERSION: &[u8] = b"NATS/1.0";

/// Why a header block could not be parsed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The block does not start with `NATS/1.0`.
    #[error("header block does not start with NATS/1.0")]
    BadVersion,
    /// The status after `NATS/1.0` is not three digits.
    #[error("header status is not a 3-digit code")]
    BadStatus,
    /// A header line has no `:` separator or an empty name.
    #[error("malformed header line")]
    BadLine,
    /// The block is not terminated by an empty line.
    #[error("header block not terminated by an empty line")]
    Unterminated,
    /// A header name or value is not UTF-8.
    #[error("header is not valid UTF-8")]
    NotUtf8,
}

/// A parsed header block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    status: Option<u16>,
    description: Option<String>,
    entries: Vec<(String, String)>,
}

impl HeaderMap {
    /// An empty block (`NATS/1.0\r\n\r\n`).
    pub fn new() -> Self {
        Self::default()
    }

    /// A status-only block such as the no-responders reply `NATS/1.0 503`.
    pub fn with_status(status: u16, description: Option<&str>) -> Self {
        HeaderMap {
            status: Some(status),
            description: description.map(str::to_owned),
            entries: Vec::new(),
        }
    }

    /// The inline status code, if any.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The inline status description, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Adds a value for `name` (names may repeat).
    pub fn append(&mut self, name: &str, value: &str) {
        self.entries.push((name.to_owned(), value.to_owned()));
    }

    /// The first value of `name` (exact, case-sensitive match).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// True when there are no name/value pairs (a status may still be set).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Parses a whole block, including its final empty line.
    pub fn parse(block: &[u8]) -> Result<HeaderMap, HeaderError> {
        let rest = block
            .strip_prefix(HEADER_VERSION)
            .ok_or(HeaderError::BadVersion)?;
        let body = rest
            .strip_suffix(b"\r\n\r\n")
            .ok_or(HeaderError::Unterminated)?;
        let mut lines = body.split(|&b| b == b'\n');
        let status_line = lines.next().unwrap_or_default();
        let status_line = status_line.strip_suffix(b"\r").unwrap_or(status_line);
        let mut map = HeaderMap::default();
        let status_text = std::str::from_utf8(status_line).map_err(|_| HeaderError::NotUtf8)?;
        let status_text = status_text.trim();
        if !status_text.is_empty() {
            let (code, desc) = status_text
                .split_once(' ')
                .map_or((status_text, ""), |(c, d)| (c, d.trim()));
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HeaderError::BadStatus);
            }
            map.status = code.parse().ok();
            if !desc.is_empty() {
                map.description = Some(desc.to_owned());
            }
        }
        for line in lines {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                return Err(HeaderError::BadLine);
            }
            let line = std::str::from_utf8(line).map_err(|_| HeaderError::NotUtf8)?;
            let (name, value) = line.split_once(':').ok_or(HeaderError::BadLine)?;
            if name.is_empty() || name.contains([' ', '\t']) {
                return Err(HeaderError::BadLine);
            }
            map.entries
                .push((name.to_owned(), value.trim_start().to_owned()));
        }
        Ok(map)
    }

    /// Appends the wire form of this block to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_slice(HEADER_VERSION);
        if let Some(status) = self.status {
            out.put_u8(b' ');
            out.put_slice(itoa::Buffer::new().format(status).as_bytes());
            if let Some(desc) = &self.description {
                out.put_u8(b' ');
                out.put_slice(desc.as_bytes());
            }
        }
        out.put_slice(b"\r\n");
        for (name, value) in &self.entries {
            out.put_slice(name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self) -> bytes::Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_description() {
        let h = HeaderMap::parse(b"NATS/1.0 503 No Responders\r\n\r\n").unwrap();
        assert_eq!(h.status(), Some(503));
        assert_eq!(h.description(), Some("No Responders"));
        assert!(h.is_empty());
    }

    #[test]
    fn repeated_names_and_case_preserved() {
        let h = HeaderMap::parse(b"NATS/1.0\r\nA: 1\r\na: 2\r\nA:3\r\n\r\n").unwrap();
        assert_eq!(h.get_all("A").collect::<Vec<_>>(), vec!["1", "3"]);
        assert_eq!(h.get("a"), Some("2"));
        assert_eq!(h.status(), None);
    }

    #[test]
    fn round_trip_with_status() {
        let mut h = HeaderMap::with_status(408, Some("Request Timeout"));
        h.append("X", "y z");
        let wire = h.to_bytes();
        assert_eq!(&wire[..], b"NATS/1.0 408 Request Timeout\r\nX: y z\r\n\r\n");
        assert_eq!(HeaderMap::parse(&wire).unwrap(), h);
    }

    #[test]
    fn minimal_block_is_twelve_bytes() {
        assert_eq!(HeaderMap::new().to_bytes().len(), 12);
    }

    #[test]
    fn malformed_blocks() {
        assert_eq!(
            HeaderMap::parse(b"HTTP/1.1\r\n\r\n"),
            Err(HeaderError::BadVersion)
        );
        assert_eq!(
            HeaderMap::parse(b"NATS/1.0\r\nA: b\r\n"),
            Err(HeaderError::Unterminated)
        );
        assert_eq!(
            HeaderMap::parse(b"NATS/1.0 5x3\r\n\r\n"),
            Err(HeaderError::BadStatus)
        );
        assert_eq!(
            HeaderMap::parse(b"NATS/1.0\r\nnocolon\r\n\r\n"),
            Err(HeaderError::BadLine)
        );
        assert_eq!(
            HeaderMap::parse(b"NATS/1.0\r\n: v\r\n\r\n"),
            Err(HeaderError::BadLine)
        );
        assert_eq!(
            HeaderMap::parse(b"NATS/1.0\r\nA: \xff\r\n\r\n"),
            Err(HeaderError::NotUtf8)
        );
    }
}
