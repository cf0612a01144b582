//! A byte queue: small writes coalesced into one buffer, large payloads kept
//! as their own `Bytes` chunks (no copy).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::nats::codec::{write_pub_line, CRLF};

/// Payloads at least this large are queued by reference.
const PASS_THROUGH: usize = 16 * 1024;

#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
}

impl OutQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn write(&mut self, f: impl FnOnce(&mut BytesMut)) {
        let before = self.tail.len();
        f(&mut self.tail);
        self.len += self.tail.len() - before;
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        self.write(|b| b.extend_from_slice(bytes));
    }

    /// Appends a chunk, copying it if small.
    pub(crate) fn put_chunk(&mut self, chunk: Bytes) {
        if chunk.len() < PASS_THROUGH {
            return self.put(&chunk);
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.len += chunk.len();
        self.chunks.push_back(chunk);
    }

    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        let chunk = match self.chunks.pop_front() {
            Some(c) => c,
            None if !self.tail.is_empty() => self.tail.split().freeze(),
            None => return None,
        };
        self.len -= chunk.len();
        Some(chunk)
    }

    /// Moves everything of `other` to the end of this queue.
    pub(crate) fn append(&mut self, other: &mut OutQueue) {
        while let Some(c) = other.pop() {
            self.put_chunk(c);
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = OutQueue::default();
    }

    /// Appends a `PUB`/`HPUB`.
    pub(crate) fn push_pub(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: Bytes,
    ) {
        self.write(|b| {
            write_pub_line(b, subject, reply, headers.map(<[u8]>::len), payload.len());
            b.extend_from_slice(headers.unwrap_or_default());
        });
        self.put_chunk(payload);
        self.put(CRLF);
    }
}

/// The encoded size of a `PUB`/`HPUB`, to check buffer limits beforehand.
pub(crate) fn pub_size(
    subject: usize,
    reply: Option<usize>,
    headers: Option<usize>,
    payload: usize,
) -> usize {
    let digits = |n: usize| n.checked_ilog10().map_or(1, |d| d as usize + 1);
    let sizes = match headers {
        Some(h) => digits(h) + 1 + digits(h + payload) + h,
        None => digits(payload),
    };
    let op = if headers.is_some() { 5 } else { 4 };
    op + subject + 1 + reply.map_or(0, |r| r + 1) + sizes + 2 + payload + 2
}
