//! TLS as a byte transform on a non-blocking socket: a [`Stream`] is a
//! mio `TcpStream`, plain or with a rustls session on it. Plain or not, it
//! reads and writes plain text through `Read` and `Write` (so the loops'
//! `read_burst` and `OutQueue::write_to` serve both), `WouldBlock` meaning
//! what it means on the socket. The handshake is stepped by the loops on
//! readiness ([`Stream::handshake_step`]); the core never sees TLS.

use std::io::{self, IoSlice, Read, Write};

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use stan_tls::rustls;

/// Why a handshake failed.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// The TLS library refused (the alert, if any, was sent).
    Tls(rustls::Error),
    /// The transport failed or closed.
    Io(io::Error),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Tls(e) => write!(f, "{e}"),
            // Go's wording for a peer that hung up mid-handshake.
            HandshakeError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => f.write_str("EOF"),
            HandshakeError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A socket, plain or over TLS.
#[derive(Debug)]
pub(crate) struct Stream {
    sock: TcpStream,
    tls: Option<Box<rustls::Connection>>,
}

impl Stream {
    /// A plain stream.
    pub(crate) fn plain(sock: TcpStream) -> Stream {
        Stream { sock, tls: None }
    }

    /// Puts `session` on the stream: from now on bytes are TLS records;
    /// `first` is what was read of them already (a server that looked at
    /// the client's first bytes).
    pub(crate) fn start_tls(
        &mut self,
        mut session: rustls::Connection,
        mut first: &[u8],
    ) -> Result<(), HandshakeError> {
        let mut fed = Ok(());
        while !first.is_empty() {
            match session.read_tls(&mut first) {
                Ok(0) => break,
                Ok(_) => {
                    if let Err(e) = session.process_new_packets() {
                        fed = Err(HandshakeError::Tls(e));
                        break;
                    }
                }
                Err(e) => {
                    fed = Err(HandshakeError::Io(e));
                    break;
                }
            }
        }
        self.tls = Some(Box::new(session));
        if fed.is_err() {
            // The alert rustls queued tells the peer why.
            let _ = self.flush_tls();
        }
        fed
    }

    /// Puts a session whose handshake is already done on the stream (a
    /// route handshaken off the loop).
    pub(crate) fn set_session(&mut self, session: rustls::Connection) {
        self.tls = Some(Box::new(session));
    }

    /// Takes the session off (a failed upgrade: what is written next goes
    /// out in plain text, as nats-server's `-ERR` does).
    pub(crate) fn drop_tls(&mut self) {
        self.tls = None;
    }

    /// Whether the session has ciphertext not yet written.
    pub(crate) fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Writes the session's pending ciphertext: `Ok(true)` when none is
    /// left, `Ok(false)` when the socket would block.
    pub(crate) fn flush_tls(&mut self) -> io::Result<bool> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(true);
        };
        while tls.wants_write() {
            match tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Moves the handshake on as far as the socket allows: `Ok(true)` once
    /// it is complete (and its last flight written), `Ok(false)` when it
    /// waits for the socket (readable, or writable when
    /// [`wants_write`](Self::wants_write)).
    pub(crate) fn handshake_step(&mut self) -> Result<bool, HandshakeError> {
        loop {
            if !self.flush_tls().map_err(HandshakeError::Io)? {
                return Ok(false);
            }
            let Some(tls) = self.tls.as_mut() else {
                return Ok(true);
            };
            if !tls.is_handshaking() {
                return Ok(true);
            }
            match tls.read_tls(&mut self.sock) {
                Ok(0) => {
                    return Err(HandshakeError::Io(io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        // The alert rustls queued tells the peer why.
                        let _ = self.flush_tls();
                        return Err(HandshakeError::Tls(e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(HandshakeError::Io(e)),
            }
        }
    }

    /// Shuts the write direction down (a TLS session says `close_notify`
    /// first, as far as the socket takes it).
    pub(crate) fn shutdown_write(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.send_close_notify();
            let _ = self.flush_tls();
        }
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(tls) = self.tls.as_mut() else {
                return self.sock.read(buf);
            };
            match tls.reader().read(buf) {
                // 0: the peer's close_notify.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Closed without close_notify: an end all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            // No plain text buffered: records from the socket
            // (`WouldBlock` when there are none). At the end of the stream
            // (0) the reader says so on the next pass.
            if tls.read_tls(&mut self.sock)? > 0 {
                if let Err(e) = tls.process_new_packets() {
                    let _ = self.flush_tls();
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
                // What the session answers (a key update) goes out now
                // as far as the socket takes it, the rest with the next
                // write.
                let _ = self.flush_tls();
            }
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.tls.is_none() {
            return self.sock.write_vectored(bufs);
        }
        // What was encrypted before goes first.
        if !self.flush_tls()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let Some(tls) = self.tls.as_mut() else {
            return Ok(0);
        };
        let n = tls.writer().write_vectored(bufs)?;
        // The ciphertext goes out now as far as the socket takes it; the
        // rest stays in the session (`wants_write`) for the next write.
        self.flush_tls()?;
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.flush_tls()? {
            Ok(())
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.sock.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.sock.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.sock.deregister(registry)
    }
}
