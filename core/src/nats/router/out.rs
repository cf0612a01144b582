//! A session's pending output: small writes coalesced into one buffer, large
//! payloads passed through as their own `Bytes` chunks.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Payloads at least this large are queued by reference instead of copied.
pub(crate) const PASS_THROUGH: usize = 16 * 1024;

/// Pending bytes for one peer.
#[derive(Debug, Default)]
pub(crate) struct OutBuf {
    /// Chunks ready to be transmitted, in order, before `tail`.
    chunks: VecDeque<Bytes>,
    /// Where small writes are appended.
    tail: BytesMut,
    /// Bytes in `chunks` and `tail`.
    pending: usize,
}

impl OutBuf {
    /// Bytes waiting to be transmitted.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Appends bytes by copying them.
    #[inline]
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.pending += bytes.len();
    }

    /// Appends with a writer into the coalescing buffer.
    #[inline]
    pub(crate) fn write_with(&mut self, write: impl FnOnce(&mut BytesMut)) {
        let before = self.tail.len();
        write(&mut self.tail);
        self.pending += self.tail.len() - before;
    }

    /// Appends a chunk by reference (for large payloads: no copy).
    pub(crate) fn put_chunk(&mut self, chunk: Bytes) {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.pending += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// The next chunk to transmit.
    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        let chunk = match self.chunks.pop_front() {
            Some(c) => c,
            None if !self.tail.is_empty() => self.tail.split().freeze(),
            None => return None,
        };
        self.pending -= chunk.len();
        Some(chunk)
    }

    /// Drops everything pending and releases the buffers.
    pub(crate) fn clear(&mut self) {
        self.chunks = VecDeque::new();
        self.tail = BytesMut::new();
        self.pending = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_kept_across_copied_and_passed_through_parts() {
        let mut out = OutBuf::default();
        out.put(b"MSG a 1 3\r\n");
        out.put(b"abc");
        out.put(b"\r\nMSG b 1 ");
        let big = Bytes::from(vec![7u8; PASS_THROUGH]);
        out.put_chunk(big.clone());
        out.put(b"\r\n");
        assert_eq!(out.pending(), 11 + 3 + 10 + PASS_THROUGH + 2);
        let mut all = Vec::new();
        while let Some(c) = out.pop() {
            all.extend_from_slice(&c);
        }
        assert_eq!(out.pending(), 0);
        let mut want = b"MSG a 1 3\r\nabc\r\nMSG b 1 ".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b"\r\n");
        assert_eq!(all, want);
    }
}
