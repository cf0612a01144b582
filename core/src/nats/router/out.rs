//! A session's pending output: small writes coalesced into one buffer, large
//! payloads passed through as their own `Bytes` chunks. Bytes handed to the driver stay counted as pending until the
//! driver confirms they were written ([`OutBuf::confirm`]), as nats-server
//! counts a write in progress: the slow-consumer limit and the producer
//! stall see what the peer has not taken yet, not what the router still
//! holds.

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
    /// Bytes in `chunks` and `tail`, plus bytes handed out and not yet
    /// confirmed written.
    pending: usize,
    /// Bytes handed out by [`OutBuf::pop`] and not yet confirmed.
    in_flight: usize,
    /// Chunks handed out since nothing was in flight.
    in_flight_chunks: usize,
}

impl OutBuf {
    /// Bytes not yet written to the peer (queued or in flight).
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Chunks not yet written (queued, the coalescing tail, in flight).
    pub(crate) fn pending_chunks(&self) -> usize {
        self.chunks.len() + usize::from(!self.tail.is_empty()) + self.in_flight_chunks
    }

    /// The write the driver is attempting: chunks and bytes handed out and
    /// not yet confirmed (what nats-server reports of a timed-out write).
    pub(crate) fn in_flight(&self) -> (usize, usize) {
        (self.in_flight_chunks, self.in_flight)
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

    /// The next chunk to transmit; it stays pending until confirmed.
    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        let chunk = match self.chunks.pop_front() {
            Some(c) => c,
            None if !self.tail.is_empty() => self.tail.split().freeze(),
            None => return None,
        };
        self.in_flight += chunk.len();
        self.in_flight_chunks += 1;
        Some(chunk)
    }

    /// The driver wrote `n` bytes of what it was handed. Confirms at most
    /// what is in flight (a driver's miscount cannot underflow the books).
    pub(crate) fn confirm(&mut self, n: usize) {
        let n = n.min(self.in_flight);
        self.in_flight -= n;
        self.pending -= n;
        if self.in_flight == 0 {
            self.in_flight_chunks = 0;
        }
    }

    /// Drops everything pending and releases the buffers.
    pub(crate) fn clear(&mut self) {
        self.chunks = VecDeque::new();
        self.tail = BytesMut::new();
        self.pending = 0;
        self.in_flight = 0;
        self.in_flight_chunks = 0;
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
        assert_eq!(out.pending(), all.len(), "in flight until confirmed");
        out.confirm(all.len() - 5);
        assert_eq!(out.pending(), 5);
        out.confirm(usize::MAX);
        assert_eq!(
            out.pending(),
            0,
            "confirming more than in flight is clamped"
        );
        let mut want = b"MSG a 1 3\r\nabc\r\nMSG b 1 ".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b"\r\n");
        assert_eq!(all, want);
    }
}
