//! [`Tokio`]: the [`Runtime`] implementation (spawn, timer, TCP).

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use std::task::{Context, Poll};

use stan_async::{
    poll_socket_bell, BellKiller, BoxFuture, Doorbell, ReadHalf, Ringer, Runtime, WriteHalf,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// The tokio runtime of the current context (`tokio::spawn`,
/// `tokio::time`, `tokio::net`): use it from within a tokio runtime with
/// the `time` and `net` drivers enabled.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

/// The read half of a tokio TCP stream.
#[derive(Debug)]
pub struct Reader(OwnedReadHalf);

/// The write half of a tokio TCP stream.
#[derive(Debug)]
pub struct Writer(OwnedWriteHalf);

impl ReadHalf for Reader {
    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        // Into the spare capacity, uninitialised: no zeroing, no copy.
        self.0.read_buf(buf).await
    }
}

impl WriteHalf for Writer {
    async fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.0.shutdown().await
    }
}

impl Runtime for Tokio {
    type Stream = TcpStream;
    type Reader = Reader;
    type Writer = Writer;
    type Listener = TcpListener;

    fn spawn(&self, task: BoxFuture) {
        tokio::spawn(task);
    }

    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep_until(at.into())
    }

    async fn connect(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        TcpStream::connect((host, port)).await
    }

    fn listen(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::from_std(listener)
    }

    async fn accept(&self, listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        listener.accept().await
    }

    fn split(stream: TcpStream) -> io::Result<(Reader, Writer)> {
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        Ok((Reader(r), Writer(w)))
    }

    /// A Unix socket pair, its receiving end registered with the runtime's
    /// reactor (`None` if either fails, or off Unix).
    fn doorbell(&self) -> Option<(Ringer, Box<dyn Doorbell>)> {
        #[cfg(unix)]
        {
            let (ringer, bell) = Ringer::pair().ok()?;
            let killer = bell.killer();
            bell.socket.set_nonblocking(true).ok()?;
            let socket = tokio::net::UnixStream::from_std(bell.socket).ok()?;
            Some((ringer, Box::new(Bell { socket, killer })))
        }
        #[cfg(not(unix))]
        {
            None
        }
    }
}

/// The receiving end of a [`Tokio::doorbell`].
#[cfg(unix)]
struct Bell {
    socket: tokio::net::UnixStream,
    killer: BellKiller,
}

#[cfg(unix)]
impl Doorbell for Bell {
    fn poll_rung(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let socket = &self.socket;
        poll_socket_bell(
            &self.killer,
            cx,
            |cx| socket.poll_read_ready(cx),
            |buf| socket.try_read(buf),
        )
    }
}
