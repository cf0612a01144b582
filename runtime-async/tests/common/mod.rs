//! A complete [`Runtime`](stan_async::Runtime) over `async-io` (the
//! reactor and timers) and `async-executor` (one background executor
//! thread): what porting `stan-async` to a new runtime takes.

use std::future::Future;
use std::io::{self, IoSlice, Read as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_executor::Executor;
use async_io::{Async, Timer};
use bytes::BytesMut;
use futures_lite::AsyncWriteExt;
use stan_async::{BoxFuture, ReadHalf, Runtime, WriteHalf};

/// The runtime handle.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncIo;

/// One executor, run by one background thread.
fn executor() -> &'static Executor<'static> {
    static EX: OnceLock<&'static Executor<'static>> = OnceLock::new();
    EX.get_or_init(|| {
        let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
        std::thread::spawn(move || {
            async_io::block_on(ex.run(futures_lite::future::pending::<()>()))
        });
        ex
    })
}

/// The read half: the shared socket, and a buffer to read into.
pub struct Reader(Arc<Async<TcpStream>>, Box<[u8]>);

/// The write half.
pub struct Writer(Arc<Async<TcpStream>>);

fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))
}

impl ReadHalf for Reader {
    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let Reader(stream, scratch) = self;
        // Readable, then one non-blocking read: cancel-safe.
        let n = stream.read_with(|s| (&*s).read(scratch)).await?;
        buf.extend_from_slice(&scratch[..n]);
        Ok(n)
    }
}

impl WriteHalf for Writer {
    async fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self.0).write_vectored(bufs).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.0.get_ref().shutdown(Shutdown::Write)
    }
}

impl Runtime for AsyncIo {
    type Stream = Async<TcpStream>;
    type Reader = Reader;
    type Writer = Writer;
    type Listener = Async<TcpListener>;

    fn spawn(&self, task: BoxFuture) {
        executor().spawn(task).detach();
    }

    #[allow(clippy::manual_async_fn)] // the future must not borrow `self`
    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> + Send + 'static {
        async move {
            Timer::at(at).await;
        }
    }

    async fn connect(&self, host: &str, port: u16) -> io::Result<Async<TcpStream>> {
        Async::<TcpStream>::connect(resolve(&format!("{host}:{port}"))?).await
    }

    fn listen(&self, listener: std::net::TcpListener) -> io::Result<Self::Listener> {
        Async::new(listener)
    }

    async fn accept(
        &self,
        listener: &Self::Listener,
    ) -> io::Result<(Async<TcpStream>, SocketAddr)> {
        listener.accept().await
    }

    fn split(stream: Async<TcpStream>) -> io::Result<(Reader, Writer)> {
        stream.get_ref().set_nodelay(true)?;
        let stream = Arc::new(stream);
        let scratch = vec![0; 64 * 1024].into_boxed_slice();
        Ok((Reader(Arc::clone(&stream), scratch), Writer(stream)))
    }
}
