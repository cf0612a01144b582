//! Plain NATS over blocking sockets, for the tools that compare server
//! binaries side by side (`stan-nats-bench`, `stan-auth-storm`): a server
//! binary run as a child process on a free loopback port ([`Server`]) and a
//! blocking client connection decoding the server's ops ([`Conn`]). Ports
//! are picked free ([`free_port`]) and waited for ([`wait_accepting`]).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use stan_core::nats::{Limits, ServerOp, ServerOpDecoder};

/// How long a started server has to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A server binary running as a child process on `127.0.0.1:port`; killed
/// (and reaped) on drop.
pub struct Server {
    child: Child,
    /// The loopback port it listens on.
    pub port: u16,
}

impl Server {
    /// Starts `binary` with `-a 127.0.0.1 -p PORT` (a port free a moment
    /// before) followed by `extra_args`, its output discarded, and waits up
    /// to 10 s until it accepts connections.
    pub fn start(binary: &Path, extra_args: &[&str]) -> io::Result<Server> {
        let port = free_port()?;
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // Built before waiting, so that a failed start still kills the child.
        let server = Server { child, port };
        if !wait_accepting(port, START_TIMEOUT) {
            return Err(io::Error::other(format!(
                "{} did not start",
                binary.display()
            )));
        }
        Ok(server)
    }
}

/// A loopback port nobody listened on a moment before.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits up to `timeout` until something accepts on `127.0.0.1:port`;
/// false when nothing did.
pub fn wait_accepting(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Our `stan-server` next to the running program (`stan-server` on `PATH`
/// when that cannot be told).
pub fn sibling_stan_server() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("stan-server")))
        .unwrap_or_else(|| PathBuf::from("stan-server"))
}

/// The reference `nats-server`: the first on `PATH`, else
/// `/usr/sbin/nats-server` (where Debian puts it).
pub fn find_nats_server() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"))
}

/// A blocking NATS client connection to a loopback port: the socket, the
/// bytes read but not decoded yet, and the decoder of the server's ops.
pub struct Conn {
    /// The socket, for writing protocol lines directly.
    pub stream: TcpStream,
    buf: BytesMut,
    dec: ServerOpDecoder,
}

impl Conn {
    /// Connects to `127.0.0.1:port` (no Nagle, reads timing out after
    /// `read_timeout`) with a read buffer of `buf_capacity` bytes and a
    /// decoder bounded by `limits`. Sends nothing: the caller writes its
    /// `CONNECT`.
    pub fn open(
        port: u16,
        read_timeout: Duration,
        limits: Limits,
        buf_capacity: usize,
    ) -> io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(read_timeout))?;
        Ok(Conn {
            stream,
            buf: BytesMut::with_capacity(buf_capacity),
            dec: ServerOpDecoder::new(limits),
        })
    }

    /// The next op from the server; an `UnexpectedEof` error when the
    /// server closed the connection.
    pub fn next_op(&mut self) -> io::Result<ServerOp> {
        loop {
            if let Some(op) = self.dec.decode(&mut self.buf).map_err(io::Error::other)? {
                return Ok(op);
            }
            self.fill()?;
        }
    }

    /// Reads once more from the socket into the buffer (growing it when
    /// less than 64 KiB is free).
    fn fill(&mut self) -> io::Result<()> {
        if self.buf.capacity() - self.buf.len() < 64 * 1024 {
            self.buf.reserve(256 * 1024);
        }
        let len = self.buf.len();
        let cap = self.buf.capacity();
        self.buf.resize(cap, 0);
        let n = self.stream.read(&mut self.buf[len..]);
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(len);
                return Err(e);
            }
        };
        self.buf.truncate(len + n);
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// Reads until an op matches `want` and returns it, answering the
    /// server's `PING`s and skipping other ops; a server `-ERR` is an error
    /// carrying its text.
    pub fn until(&mut self, want: impl Fn(&ServerOp) -> bool) -> io::Result<ServerOp> {
        loop {
            match self.next_op()? {
                ServerOp::Ping => self.stream.write_all(b"PONG\r\n")?,
                op if want(&op) => return Ok(op),
                ServerOp::Err(e) => {
                    return Err(io::Error::other(String::from_utf8_lossy(&e).into_owned()))
                }
                _ => {}
            }
        }
    }

    /// Round trip: sends `PING` and waits for its `PONG`, so everything sent
    /// before has been processed.
    pub fn ping(&mut self) -> io::Result<()> {
        self.stream.write_all(b"PING\r\n")?;
        self.until(|op| matches!(op, ServerOp::Pong)).map(|_| ())
    }

    /// The socket, the bytes read but not decoded yet and the decoder, for
    /// carrying on with the connection elsewhere (an async reader).
    pub fn into_parts(self) -> (TcpStream, BytesMut, ServerOpDecoder) {
        (self.stream, self.buf, self.dec)
    }
}
