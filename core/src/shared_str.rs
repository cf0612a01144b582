//! [`SharedStr`]: text held in a [`Bytes`], so that copying it into a
//! snapshot is a reference count, not an allocation.

use bytes::Bytes;

/// UTF-8 text sharing the buffer it came from. Dereferences to `str`
/// (bytes that are not UTF-8 read as empty: snapshots copy subjects and
/// inboxes, which the protocol layer validated as text).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharedStr(Bytes);

impl SharedStr {
    /// Shares `bytes`.
    pub fn new(bytes: Bytes) -> Self {
        SharedStr(bytes)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::Deref for SharedStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SharedStr {
    fn from(s: &str) -> Self {
        SharedStr(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for SharedStr {
    fn from(s: String) -> Self {
        SharedStr(Bytes::from(s))
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for SharedStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_text_and_shares_the_buffer() {
        let b = Bytes::from_static(b"_INBOX.abc");
        let s = SharedStr::new(b.clone());
        assert_eq!(&*s, "_INBOX.abc");
        assert_eq!(s, "_INBOX.abc");
        assert_eq!(s.as_bytes().as_ptr(), b.as_ptr(), "no copy");
        assert_eq!(format!("{s} {s:?}"), "_INBOX.abc \"_INBOX.abc\"");
        assert_eq!(SharedStr::new(Bytes::from_static(b"\xff")).as_str(), "");
    }
}
