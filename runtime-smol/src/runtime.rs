//! [`Smol`]: the [`Runtime`] implementation (spawn, timer, TCP).

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::time::Instant;

use bytes::BytesMut;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use smol::Timer;
use stan_async::{BoxFuture, ReadHalf, Runtime, WriteHalf};

/// Bytes read per read call.
const READ_CHUNK: usize = 64 * 1024;

/// smol's global executor (`smol::spawn`; one thread unless
/// `SMOL_THREADS` says more), its timers and `smol::net`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

/// The read half of a smol TCP stream (smol's streams are shared handles),
/// with the buffer a read lands in first.
#[derive(Debug)]
pub struct Reader(TcpStream, Box<[u8]>);

/// The write half of a smol TCP stream.
#[derive(Debug)]
pub struct Writer(TcpStream);

impl ReadHalf for Reader {
    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        // smol reads into initialised memory only: read, then append (a
        // cancelled read took nothing).
        let Reader(stream, scratch) = self;
        let n = stream.read(scratch).await?;
        buf.extend_from_slice(&scratch[..n]);
        Ok(n)
    }
}

impl WriteHalf for Writer {
    async fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.0.shutdown(Shutdown::Write)
    }
}

impl Runtime for Smol {
    type Stream = TcpStream;
    type Reader = Reader;
    type Writer = Writer;
    type Listener = TcpListener;

    fn spawn(&self, task: BoxFuture) {
        smol::spawn(task).detach();
    }

    // Not an `async fn`: the future must not borrow `self`.
    #[allow(clippy::manual_async_fn)]
    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> + Send + 'static {
        async move {
            Timer::at(at).await;
        }
    }

    /// smol's streams are shared handles: the halves are two of them.
    fn split(stream: TcpStream) -> io::Result<(Reader, Writer)> {
        stream.set_nodelay(true)?;
        let scratch = vec![0; READ_CHUNK].into_boxed_slice();
        Ok((Reader(stream.clone(), scratch), Writer(stream)))
    }

    async fn connect(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        TcpStream::connect((host, port)).await
    }

    async fn accept(&self, listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        listener.accept().await
    }

    fn listen(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::try_from(listener)
    }
}
