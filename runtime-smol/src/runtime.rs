//! [`Smol`]: the [`Runtime`] implementation (spawn, timer, TCP).

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::time::Instant;

use bytes::BytesMut;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use smol::Timer;
use std::task::{Context, Poll};

use stan_async::{
    poll_socket_bell, BellKiller, BoxFuture, Doorbell, ReadHalf, Ringer, Runtime, WriteHalf,
};

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

    /// A Unix socket pair, its receiving end registered with smol's
    /// reactor (`None` if either fails, or off Unix).
    fn doorbell(&self) -> Option<(Ringer, Box<dyn Doorbell>)> {
        #[cfg(unix)]
        {
            let (ringer, bell) = Ringer::pair().ok()?;
            let killer = bell.killer();
            let socket = smol::Async::new(bell.socket).ok()?;
            Some((ringer, Box::new(Bell { socket, killer })))
        }
        #[cfg(not(unix))]
        {
            None
        }
    }
}

/// The receiving end of a [`Smol::doorbell`].
#[cfg(unix)]
struct Bell {
    socket: smol::Async<std::os::unix::net::UnixStream>,
    killer: BellKiller,
}

#[cfg(unix)]
impl Doorbell for Bell {
    fn poll_rung(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        use std::io::Read;
        let socket = &self.socket;
        poll_socket_bell(
            &self.killer,
            cx,
            |cx| socket.poll_readable(cx),
            |buf| socket.get_ref().read(buf),
        )
    }
}
