//! [`Outbox`]: output chunks taken from a state machine's `poll_transmit`
//! that a socket has not accepted yet, with the bookkeeping of partial
//! writes. Every driver needs exactly this between `poll_transmit` and a
//! (vectored) write, so it is written once here; the write itself is the
//! driver's.

use std::collections::VecDeque;

use bytes::{Buf, Bytes};

/// Output chunks not yet written, oldest first (the rest of a partially
/// written chunk at the front).
///
/// ```
/// use bytes::Bytes;
/// use stan_core::outbox::Outbox;
///
/// let mut out = Outbox::default();
/// out.push(Bytes::from_static(b"PING\r\n"));
/// out.push(Bytes::from_static(b"PONG\r\n"));
/// // A socket took 8 bytes of a vectored write of both chunks:
/// assert_eq!(out.advance(8), 8);
/// assert_eq!(out.front().map(|c| &c[..]), Some(&b"NG\r\n"[..]));
/// assert_eq!(out.bytes(), 4);
/// ```
#[derive(Debug, Default)]
pub struct Outbox {
    chunks: VecDeque<Bytes>,
    bytes: usize,
}

impl Outbox {
    /// Queues `chunk` (an empty one is dropped).
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.bytes += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Chunks waiting.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The oldest chunk (what the next write starts with).
    pub fn front(&self) -> Option<&Bytes> {
        self.chunks.front()
    }

    /// The chunks in write order: fill a vectored write's slices from them.
    pub fn chunks(&self) -> impl Iterator<Item = &Bytes> {
        self.chunks.iter()
    }

    /// A write took `n` bytes from the front: drops what was written.
    /// Returns the bytes consumed (at most [`bytes`](Self::bytes)).
    pub fn advance(&mut self, mut n: usize) -> usize {
        let mut consumed = 0;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let take = n.min(front.len());
            if take == front.len() {
                self.chunks.pop_front();
            } else {
                front.advance(take);
            }
            n -= take;
            consumed += take;
        }
        self.bytes -= consumed;
        consumed
    }

    /// Drops everything (the transport is gone).
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_writes_across_chunks() {
        let mut out = Outbox::default();
        out.push(Bytes::from_static(b"abc"));
        out.push(Bytes::new());
        out.push(Bytes::from_static(b"defg"));
        assert_eq!((out.len(), out.bytes()), (2, 7));
        assert_eq!(out.advance(2), 2);
        assert_eq!(out.front().map(|c| &c[..]), Some(&b"c"[..]));
        assert_eq!(out.advance(1), 1);
        assert_eq!(out.len(), 1);
        // More than is queued: only what is there counts.
        assert_eq!(out.advance(10), 4);
        assert!(out.is_empty());
        assert_eq!(out.bytes(), 0);
        out.push(Bytes::from_static(b"x"));
        out.clear();
        assert_eq!((out.len(), out.bytes()), (0, 0));
    }
}
