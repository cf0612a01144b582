//! Byte pipes: one direction of a simulated TCP connection.
//!
//! A [`Pipe`] carries bytes from a writer to a reader in order (TCP
//! reorders nothing). Each write is stamped with its arrival time (`now +
//! delay`, never before an earlier write's arrival); the reader takes what
//! has arrived in reads whose sizes the [`Chunking`] policy picks, at most
//! one read per `read_gap`. The pipe holds at most `capacity` bytes written
//! and not yet read (a socket's buffers): a writer facing a full pipe keeps
//! the rest (for the router, that output stays unconfirmed with
//! `handle_written`). A stalled pipe is one whose reader stopped reading.
//! Closing a direction queues an end of stream behind the data written.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use crate::rand::SeededRng;

/// Which direction(s) of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From the node to the router.
    Up,
    /// From the router to the node.
    Down,
    /// Both directions.
    Both,
}

impl Dir {
    pub(super) fn up(self) -> bool {
        matches!(self, Dir::Up | Dir::Both)
    }

    pub(super) fn down(self) -> bool {
        matches!(self, Dir::Down | Dir::Both)
    }
}

/// How the reader of a pipe receives the bytes that arrived: the sizes of
/// its reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Chunking {
    /// Everything that arrived, in one read.
    #[default]
    Whole,
    /// Reads of at most this many bytes (1: one byte at a time).
    Fixed(usize),
    /// Reads of at most these sizes, in turn (cycled).
    Cycle(Vec<usize>),
    /// Reads of 1 to `max` bytes, drawn from a generator seeded with `seed`.
    Random {
        /// Largest read.
        max: usize,
        /// Seed of the sizes.
        seed: u64,
    },
}

/// Settings of one direction of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeConfig {
    /// One-way latency of every byte.
    pub delay: Duration,
    /// Sizes of the reader's reads.
    pub chunking: Chunking,
    /// Time between two reads of the reader (0: it reads as fast as bytes
    /// arrive).
    pub read_gap: Duration,
    /// Bytes written and not yet read that the pipe holds (the sockets'
    /// buffers); a writer facing a full pipe waits.
    pub capacity: usize,
    /// The reader stopped reading: bytes stay queued (and, once
    /// `capacity` is reached, the writer's writes are not taken).
    pub stalled: bool,
}

/// A socket's buffers on both ends, roughly: 256 KiB.
pub const DEFAULT_CAPACITY: usize = 256 * 1024;

impl Default for PipeConfig {
    fn default() -> Self {
        PipeConfig {
            delay: Duration::ZERO,
            chunking: Chunking::Whole,
            read_gap: Duration::ZERO,
            capacity: DEFAULT_CAPACITY,
            stalled: false,
        }
    }
}

impl PipeConfig {
    /// Reads of at most `n` bytes (1: one byte at a time).
    pub fn chunked(n: usize) -> Self {
        PipeConfig {
            chunking: Chunking::Fixed(n),
            ..PipeConfig::default()
        }
    }

    /// A pipe with a one-way latency of `delay`.
    pub fn delayed(delay: Duration) -> Self {
        PipeConfig {
            delay,
            ..PipeConfig::default()
        }
    }
}

/// Settings of both directions of a link.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkConfig {
    /// Node to router.
    pub up: PipeConfig,
    /// Router to node.
    pub down: PipeConfig,
}

impl LinkConfig {
    /// The same settings both ways.
    pub fn both(pipe: PipeConfig) -> Self {
        LinkConfig {
            up: pipe.clone(),
            down: pipe,
        }
    }
}

/// What a read of a pipe gave.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Read {
    /// Bytes.
    Data(Bytes),
    /// The writer closed its end and every byte was read.
    Eof,
    /// Nothing readable now.
    Nothing,
}

/// One direction of a link. See the [module docs](self).
#[derive(Debug)]
pub(super) struct Pipe {
    pub(super) config: PipeConfig,
    /// Written bytes with their arrival times, in order.
    segments: VecDeque<(Instant, Bytes)>,
    /// Bytes in `segments`.
    len: usize,
    /// Arrival of the end of stream, once the writer closed.
    fin: Option<Instant>,
    /// The reader's next read is not before this.
    next_read: Option<Instant>,
    /// Arrival of the latest write (TCP keeps order).
    last_arrival: Option<Instant>,
    cycle: usize,
    rng: Option<SeededRng>,
}

impl Pipe {
    pub(super) fn new(config: PipeConfig) -> Self {
        let rng = match config.chunking {
            Chunking::Random { seed, .. } => Some(SeededRng::new(seed)),
            _ => None,
        };
        Pipe {
            config,
            segments: VecDeque::new(),
            len: 0,
            fin: None,
            next_read: None,
            last_arrival: None,
            cycle: 0,
            rng,
        }
    }

    /// Changes the settings (bytes already written keep their arrival).
    pub(super) fn set_config(&mut self, config: PipeConfig) {
        if config.chunking != self.config.chunking {
            self.rng = match config.chunking {
                Chunking::Random { seed, .. } => Some(SeededRng::new(seed)),
                _ => None,
            };
            self.cycle = 0;
        }
        self.config = config;
    }

    /// Bytes written and not yet read.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn arrival(&mut self, now: Instant) -> Instant {
        let at = (now + self.config.delay).max(self.last_arrival.unwrap_or(now));
        self.last_arrival = Some(at);
        at
    }

    /// Writes what fits of `data`; the number of bytes taken.
    pub(super) fn write(&mut self, now: Instant, data: &[u8]) -> usize {
        if self.fin.is_some() {
            return 0;
        }
        let n = data
            .len()
            .min(self.config.capacity.saturating_sub(self.len));
        if n > 0 {
            let at = self.arrival(now);
            self.segments
                .push_back((at, Bytes::copy_from_slice(&data[..n])));
            self.len += n;
        }
        n
    }

    /// Writes all of `data` whatever the capacity (a last flush before
    /// closing, or bytes injected by a test).
    pub(super) fn force(&mut self, now: Instant, data: Bytes) {
        if self.fin.is_some() || data.is_empty() {
            return;
        }
        let at = self.arrival(now);
        self.len += data.len();
        self.segments.push_back((at, data));
    }

    /// The writer closes its end: the reader sees the end of stream after
    /// every byte written.
    pub(super) fn close(&mut self, now: Instant) {
        if self.fin.is_none() {
            let at = self.arrival(now);
            self.fin = Some(at);
        }
    }

    /// When the reader can next read something (data or the end of
    /// stream); `None` while stalled or with nothing in the pipe.
    pub(super) fn next_read_at(&self) -> Option<Instant> {
        if self.config.stalled {
            return None;
        }
        let at = match self.segments.front() {
            Some((at, _)) => *at,
            None => self.fin?,
        };
        Some(self.next_read.map_or(at, |n| n.max(at)))
    }

    fn read_size(&mut self) -> usize {
        match &self.config.chunking {
            Chunking::Whole => usize::MAX,
            Chunking::Fixed(n) => (*n).max(1),
            Chunking::Cycle(sizes) if sizes.is_empty() => usize::MAX,
            Chunking::Cycle(sizes) => {
                let n = sizes[self.cycle % sizes.len()];
                self.cycle += 1;
                n.max(1)
            }
            Chunking::Random { max, .. } => {
                let max = (*max).max(1);
                1 + self.rng.as_mut().map_or(0, |r| r.below(max))
            }
        }
    }

    /// One read by the reader at `now`.
    pub(super) fn read(&mut self, now: Instant) -> Read {
        if self.next_read_at().is_none_or(|t| t > now) {
            return Read::Nothing;
        }
        if self.segments.is_empty() {
            return Read::Eof;
        }
        let mut want = self.read_size();
        let mut got = BytesMut::new();
        while want > 0 {
            let Some((at, seg)) = self.segments.front_mut() else {
                break;
            };
            if *at > now {
                break;
            }
            let n = want.min(seg.len());
            got.extend_from_slice(&seg[..n]);
            seg.advance(n);
            want -= n;
            if seg.is_empty() {
                self.segments.pop_front();
            }
        }
        self.len -= got.len();
        if !self.config.read_gap.is_zero() {
            self.next_read = Some(now + self.config.read_gap);
        }
        Read::Data(got.freeze())
    }

    /// Drops everything in the pipe (a cut).
    pub(super) fn clear(&mut self) {
        self.segments.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_delays_chunks_and_bounds() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Pipe::new(PipeConfig {
            delay: ms(10),
            chunking: Chunking::Fixed(2),
            capacity: 5,
            ..PipeConfig::default()
        });
        assert_eq!(p.write(t0, b"abc"), 3);
        assert_eq!(p.write(t0, b"defg"), 2, "capacity");
        p.config.delay = ms(1); // later writes never overtake
        assert_eq!(p.next_read_at(), Some(t0 + ms(10)));
        assert_eq!(p.read(t0 + ms(9)), Read::Nothing);
        assert_eq!(p.read(t0 + ms(10)), Read::Data(Bytes::from("ab")));
        assert_eq!(p.read(t0 + ms(10)), Read::Data(Bytes::from("cd")));
        assert_eq!(p.write(t0 + ms(10), b"xyz"), 3);
        p.close(t0 + ms(10));
        assert_eq!(p.read(t0 + ms(10)), Read::Data(Bytes::from("e")));
        assert_eq!(p.read(t0 + ms(10)), Read::Nothing, "not arrived");
        assert_eq!(p.read(t0 + ms(11)), Read::Data(Bytes::from("xy")));
        assert_eq!(p.read(t0 + ms(11)), Read::Data(Bytes::from("z")));
        assert_eq!(p.read(t0 + ms(11)), Read::Eof);
        let mut s = Pipe::new(PipeConfig {
            stalled: true,
            ..PipeConfig::default()
        });
        s.write(t0, b"x");
        assert_eq!((s.next_read_at(), s.read(t0)), (None, Read::Nothing));
    }
}
