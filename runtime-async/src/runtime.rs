//! The one seam between this crate and an async runtime: spawn a task,
//! sleep until an instant, dial, listen and accept, read and write a TCP
//! stream. Everything else (the loops, the waiters, the client API) is
//! written once on top of it, as quinn is over quinn-proto.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Instant;

use bytes::BytesMut;

use crate::doorbell::{Doorbell, Ringer};

/// A boxed task future, as [`Runtime::spawn`] takes it.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An async runtime, as this crate needs it. Implementations are a handle
/// (usually a zero-sized type) that is cheap to clone.
///
/// ```
/// use std::future::Future;
/// use std::io::{self, IoSlice};
/// use std::net::SocketAddr;
/// use std::time::Instant;
///
/// use bytes::BytesMut;
/// use stan_async::{BoxFuture, ReadHalf, Runtime, WriteHalf};
///
/// /// A runtime with no network at all: enough for in-process sessions.
/// #[derive(Clone, Default)]
/// struct Offline;
///
/// /// A stream that never exists.
/// enum Never {}
///
/// impl ReadHalf for Never {
///     async fn read_buf(&mut self, _: &mut BytesMut) -> io::Result<usize> {
///         match *self {}
///     }
/// }
/// impl WriteHalf for Never {
///     async fn write_vectored(&mut self, _: &[IoSlice<'_>]) -> io::Result<usize> {
///         match *self {}
///     }
///     async fn shutdown(&mut self) -> io::Result<()> {
///         match *self {}
///     }
/// }
///
/// impl Runtime for Offline {
///     type Stream = Never;
///     type Reader = Never;
///     type Writer = Never;
///     type Listener = Never;
///     fn spawn(&self, task: BoxFuture) {
///         std::thread::spawn(move || futures_lite::future::block_on(task));
///     }
///     fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> + Send + 'static {
///         async move { std::thread::sleep(at.saturating_duration_since(Instant::now())) }
///     }
///     async fn connect(&self, _: &str, _: u16) -> io::Result<Never> {
///         Err(io::ErrorKind::Unsupported.into())
///     }
///     fn listen(&self, _: std::net::TcpListener) -> io::Result<Never> {
///         Err(io::ErrorKind::Unsupported.into())
///     }
///     async fn accept(&self, listener: &Never) -> io::Result<(Never, SocketAddr)> {
///         match *listener {}
///     }
///     fn split(stream: Never) -> io::Result<(Never, Never)> {
///         match stream {}
///     }
/// }
/// # let _ = Offline;
/// ```
///
/// A complete one over `async-io` and `async-executor` is in the crate's
/// tests (`tests/common/mod.rs`); `stan-tokio` and `stan-smol` are the
/// production ones.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// A TCP stream, as dialled or accepted.
    type Stream: Send + 'static;
    /// The read half of a TCP stream.
    type Reader: ReadHalf;
    /// The write half of a TCP stream.
    type Writer: WriteHalf;
    /// A bound TCP listener.
    type Listener: Send + Sync + 'static;

    /// Runs `task` to completion in the background (detached: the crate
    /// stops its tasks through its own signals, never by aborting them).
    fn spawn(&self, task: BoxFuture);

    /// Resolves at `at` (at once when it is past).
    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> + Send + 'static;

    /// Dials `host:port`. (The caller bounds the dial: the core's dial
    /// deadline.)
    fn connect(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Takes over a bound, non-blocking `std` listener.
    fn listen(&self, listener: std::net::TcpListener) -> io::Result<Self::Listener>;

    /// Accepts a connection; returns it with the peer's address.
    fn accept(
        &self,
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// Sets `TCP_NODELAY` on a dialled or accepted stream and splits it
    /// into halves that a reader and a writer task own apart.
    fn split(stream: Self::Stream) -> io::Result<(Self::Reader, Self::Writer)>;

    /// A doorbell that a thread outside the runtime rings to wake a task
    /// through the runtime's IO reactor (see [`crate::Doorbell`]), or
    /// `None` (the default) when the runtime has none: the task is then
    /// woken by a waker called from that thread.
    fn doorbell(&self) -> Option<(Ringer, Box<dyn Doorbell>)> {
        None
    }
}

/// The read half of a stream.
pub trait ReadHalf: Send + 'static {
    /// Reads into the spare capacity of `buf` (appending; the caller
    /// reserved room); returns the count, 0 at end of stream.
    fn read_buf(&mut self, buf: &mut BytesMut) -> impl Future<Output = io::Result<usize>> + Send;
}

/// The write half of a stream.
pub trait WriteHalf: Send + 'static {
    /// Writes from `bufs` in order; returns the count written.
    fn write_vectored(
        &mut self,
        bufs: &[IoSlice<'_>],
    ) -> impl Future<Output = io::Result<usize>> + Send;

    /// Shuts the write direction down (after the last flush).
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send;
}
