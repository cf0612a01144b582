//! TLS as a byte transform over a stream's two halves: the handshake (run
//! while one task owns both halves), then a reader and a writer that
//! share the rustls session under a lock held only between awaits. The
//! core never sees TLS: it reads and writes plain text through these
//! halves as through the runtime's own.

use std::io::{self, IoSlice, Read};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Buf, BytesMut};
use stan_tls::rustls;

use crate::io::READ_CHUNK;
use crate::runtime::{ReadHalf, WriteHalf};

/// A rustls session shared by the two halves.
type Session = Arc<Mutex<rustls::Connection>>;

fn lock(session: &Session) -> MutexGuard<'_, rustls::Connection> {
    // A panic while holding the lock is a bug; keep going.
    session.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a TLS upgrade failed.
#[derive(Debug)]
pub(crate) enum UpgradeError {
    /// The peer's first bytes are not a TLS record (a plain-text client).
    NotTls,
    /// The handshake failed (the alert, if any, was sent).
    Tls(rustls::Error),
    /// The transport failed or closed.
    Io(io::Error),
}

impl std::fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpgradeError::NotTls => {
                f.write_str("tls: first record does not look like a TLS handshake")
            }
            UpgradeError::Tls(e) => write!(f, "{e}"),
            // Go's wording for a peer that hung up mid-handshake.
            UpgradeError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => f.write_str("EOF"),
            UpgradeError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for UpgradeError {
    fn from(e: io::Error) -> Self {
        UpgradeError::Io(e)
    }
}

/// Writes all of `bytes`.
async fn write_bytes<W: WriteHalf>(wr: &mut W, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = wr.write_vectored(&[IoSlice::new(bytes)]).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Writes what the session has to send.
async fn send_tls<W: WriteHalf>(wr: &mut W, conn: &mut rustls::Connection) -> io::Result<()> {
    let mut buf = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut buf)?;
    }
    write_bytes(wr, &buf).await
}

/// Runs `conn`'s handshake over the halves; `input` holds bytes already
/// read from the peer. With `check_first`, the peer's first bytes must
/// open a TLS record (a server facing a plain-text client). Returns the
/// session and the bytes read past the handshake, for the reader.
pub(crate) async fn handshake<Rd: ReadHalf, W: WriteHalf>(
    rd: &mut Rd,
    wr: &mut W,
    mut conn: rustls::Connection,
    mut input: BytesMut,
    check_first: bool,
) -> Result<(rustls::Connection, BytesMut), UpgradeError> {
    let mut checked = !check_first;
    loop {
        if !checked {
            match stan_tls::looks_like_tls(&input) {
                Some(false) => return Err(UpgradeError::NotTls),
                Some(true) => checked = true,
                None => {}
            }
        }
        while checked && !input.is_empty() {
            let n = conn.read_tls(&mut &input[..])?;
            input.advance(n);
            if let Err(e) = conn.process_new_packets() {
                // The alert rustls queued tells the peer why.
                let _ = send_tls(wr, &mut conn).await;
                return Err(UpgradeError::Tls(e));
            }
            if n == 0 || !conn.is_handshaking() {
                break;
            }
        }
        send_tls(wr, &mut conn).await?;
        if !conn.is_handshaking() {
            return Ok((conn, input));
        }
        input.reserve(READ_CHUNK);
        if rd.read_buf(&mut input).await? == 0 {
            return Err(UpgradeError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
    }
}

/// Splits an established session into a reader and a writer over the
/// stream's halves; `leftover` is what the handshake read past its end.
pub(crate) fn split<Rd, W>(
    rd: Rd,
    wr: W,
    conn: rustls::Connection,
    leftover: BytesMut,
) -> (TlsReader<Rd>, TlsWriter<W>) {
    let session = Arc::new(Mutex::new(conn));
    (
        TlsReader {
            raw: rd,
            session: Arc::clone(&session),
            cipher: leftover,
            eof: false,
        },
        TlsWriter {
            raw: wr,
            session,
            pending: Vec::new(),
            sent: 0,
            owed: 0,
        },
    )
}

/// The read half of a TLS stream: reads ciphertext, returns plain text.
pub(crate) struct TlsReader<Rd> {
    raw: Rd,
    session: Session,
    /// Ciphertext read, not yet given to the session.
    cipher: BytesMut,
    /// The raw stream ended.
    eof: bool,
}

impl<Rd: ReadHalf> ReadHalf for TlsReader<Rd> {
    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            {
                let mut conn = lock(&self.session);
                let start = buf.len();
                let room = (buf.capacity() - start).max(4096);
                buf.resize(start + room, 0);
                let read = conn.reader().read(&mut buf[start..]);
                match read {
                    Ok(n) => {
                        // 0: the peer's close_notify.
                        buf.truncate(start + n);
                        return Ok(n);
                    }
                    Err(e) => {
                        buf.truncate(start);
                        match e.kind() {
                            io::ErrorKind::WouldBlock => {}
                            // Closed without close_notify: an end all the same.
                            io::ErrorKind::UnexpectedEof => return Ok(0),
                            _ => return Err(e),
                        }
                    }
                }
                if !self.cipher.is_empty() {
                    let n = conn.read_tls(&mut &self.cipher[..])?;
                    self.cipher.advance(n);
                    conn.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    // What the session wants to send in answer (a key
                    // update) goes out with the writer's next write.
                    continue;
                }
                if self.eof {
                    return Ok(0);
                }
            }
            self.cipher.reserve(READ_CHUNK);
            if self.raw.read_buf(&mut self.cipher).await? == 0 {
                self.eof = true;
                lock(&self.session).read_tls(&mut io::empty())?;
            }
        }
    }
}

/// The write half of a TLS stream: encrypts plain text, writes ciphertext.
///
/// Cancel-safe as the runtimes' halves are: a write dropped before it
/// returned reports nothing written, and the next call (which presents the
/// same bytes first, as every caller's output queue does) finishes sending
/// the ciphertext of what it had taken and reports that.
pub(crate) struct TlsWriter<W> {
    raw: W,
    session: Session,
    /// Ciphertext not yet written (from `sent` on).
    pending: Vec<u8>,
    sent: usize,
    /// Plain text taken into `pending` and not yet reported written.
    owed: usize,
}

impl<W: WriteHalf> TlsWriter<W> {
    /// Moves what the session has to send into `pending`.
    fn take_tls(&mut self, conn: &mut rustls::Connection) -> io::Result<()> {
        while conn.wants_write() {
            conn.write_tls(&mut self.pending)?;
        }
        Ok(())
    }

    async fn flush_pending(&mut self) -> io::Result<()> {
        while self.sent < self.pending.len() {
            let n = self
                .raw
                .write_vectored(&[IoSlice::new(&self.pending[self.sent..])])
                .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Ok(())
    }
}

impl<W: WriteHalf> WriteHalf for TlsWriter<W> {
    async fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        {
            let session = Arc::clone(&self.session);
            let mut conn = lock(&session);
            if self.owed == 0 {
                self.owed = io::Write::write_vectored(&mut conn.writer(), bufs)?;
            }
            self.take_tls(&mut conn)?;
        }
        self.flush_pending().await?;
        Ok(std::mem::take(&mut self.owed))
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        {
            let session = Arc::clone(&self.session);
            let mut conn = lock(&session);
            conn.send_close_notify();
            self.take_tls(&mut conn)?;
        }
        self.flush_pending().await?;
        self.raw.shutdown().await
    }
}

/// A client's read half: plain until upgraded.
pub(crate) enum MaybeTlsReader<Rd> {
    Plain(Rd),
    Tls(TlsReader<Rd>),
}

/// A client's write half: plain until upgraded.
pub(crate) enum MaybeTlsWriter<W> {
    Plain(W),
    Tls(TlsWriter<W>),
}

impl<Rd: ReadHalf> ReadHalf for MaybeTlsReader<Rd> {
    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            MaybeTlsReader::Plain(r) => r.read_buf(buf).await,
            MaybeTlsReader::Tls(r) => r.read_buf(buf).await,
        }
    }
}

impl<W: WriteHalf> WriteHalf for MaybeTlsWriter<W> {
    async fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            MaybeTlsWriter::Plain(w) => w.write_vectored(bufs).await,
            MaybeTlsWriter::Tls(w) => w.write_vectored(bufs).await,
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsWriter::Plain(w) => w.shutdown().await,
            MaybeTlsWriter::Tls(w) => w.shutdown().await,
        }
    }
}
