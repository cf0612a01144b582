//! Byte moving shared by the server loop and the client loop: reads drained
//! to `WouldBlock` (with a budget), a queue of output chunks written
//! vectored, the clock values the core is given at construction.

use std::io::{self, IoSlice, Read, Write};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use stan_core::outbox::Outbox;

/// Bytes asked of one `read` call.
pub(crate) const READ_CHUNK: usize = 64 * 1024;
/// Reads per readiness event before other sockets get their turn.
const READ_BUDGET: usize = 16;
/// Most chunks handed to one vectored write.
pub(crate) const MAX_IOVECS: usize = 64;

/// How a read burst ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// Drained: wait for the next readiness edge.
    WouldBlock,
    /// The budget ran out with data possibly left: read again soon.
    Budget,
    /// The consumer of the input asked to stop (a stalled producer): read
    /// again when it resumes.
    Paused,
    /// End of stream or an error: the transport is gone.
    Closed,
}

/// Reads from `src` until `WouldBlock`, the budget or EOF, appending to
/// `input` and calling `feed` after every read (so `input` keeps only a
/// partial op between reads, or what a paused consumer left). `feed`
/// returns false to stop reading. `scratch` is a reusable buffer.
pub(crate) fn read_burst(
    src: &mut impl Read,
    input: &mut BytesMut,
    scratch: &mut [u8],
    mut feed: impl FnMut(&mut BytesMut) -> bool,
) -> ReadEnd {
    for _ in 0..READ_BUDGET {
        match src.read(scratch) {
            Ok(0) => return ReadEnd::Closed,
            Ok(n) => {
                input.extend_from_slice(&scratch[..n]);
                if !feed(input) {
                    return ReadEnd::Paused;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadEnd::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return ReadEnd::Closed,
        }
    }
    ReadEnd::Budget
}

/// Output chunks not yet written: the core's [`Outbox`] (which keeps the
/// partial-write bookkeeping), written vectored to a non-blocking socket.
#[derive(Debug, Default)]
pub(crate) struct OutQueue(Outbox);

impl OutQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn push(&mut self, chunk: Bytes) {
        self.0.push(chunk);
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Writes until the queue is empty (`Ok(true)`) or the socket would
    /// block (`Ok(false)`), adding the bytes written to `total`.
    pub(crate) fn write_to(&mut self, dst: &mut impl Write, total: &mut usize) -> io::Result<bool> {
        while !self.0.is_empty() {
            let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
            let mut n = 0;
            for (slot, chunk) in iov.iter_mut().zip(self.0.chunks()) {
                *slot = IoSlice::new(chunk);
                n += 1;
            }
            match dst.write_vectored(&iov[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => *total += self.0.advance(w),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// Unix nanoseconds now (the wall clock handed to a core state machine once,
/// at construction).
pub(crate) fn unix_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A fresh seed from the operating system's entropy source (`getrandom`),
/// never 0. Every public constructor of this crate uses it for a
/// configuration whose seed is 0 ("not chosen"), so a served router,
/// engine or client never runs on the core's public test seed (the core
/// itself never reads entropy).
///
/// # Panics
///
/// When the operating system has no entropy source to read, as the
/// standard library's `RandomState` does.
pub fn entropy_seed() -> u64 {
    loop {
        match getrandom::u64() {
            Ok(0) => continue,
            Ok(seed) => return seed,
            Err(e) => panic!("stan-mio: no OS entropy for a seed: {e}"),
        }
    }
}

/// `seed`, or a fresh one from OS entropy when it is 0 (not chosen).
pub(crate) fn or_entropy(seed: u64) -> u64 {
    if seed == 0 {
        entropy_seed()
    } else {
        seed
    }
}

/// The earliest of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The poll timeout for `deadline` seen at `now`.
pub(crate) fn timeout_until(
    deadline: Option<Instant>,
    now: Instant,
) -> Option<std::time::Duration> {
    deadline.map(|d| d.saturating_duration_since(now))
}
