//! The benchmark client: raw NATS connections ([`Conn`]), a publisher
//! writing batches of `PUB` frames from the calling thread and subscribers
//! counting `MSG`s on one single-threaded tokio runtime, so the client
//! costs as little CPU as possible and the same for every server.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use stan_core::nats::{Limits, ServerOp};

use super::BenchError;
use crate::raw_nats::Conn;

/// Most messages a publisher may be ahead of its subscribers.
const WINDOW: u64 = 100_000;
/// `PUB` frames per socket write.
const FRAMES_PER_WRITE: usize = 512;
/// The bound on one run, and on any read of a benchmark client.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long probes are published before interest is declared lost.
const INTEREST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one probe is waited for before the next is published.
const PROBE_WAIT: Duration = Duration::from_millis(50);

/// A benchmark client of `127.0.0.1:port`: generous limits, reads timing
/// out after [`RUN_TIMEOUT`], announced with a plain `CONNECT`.
pub fn open(port: u16) -> io::Result<Conn> {
    let mut c = Conn::open(
        port,
        RUN_TIMEOUT,
        Limits {
            max_control_line: 64 * 1024,
            max_payload: 64 * 1024 * 1024,
        },
        256 * 1024,
    )?;
    c.stream
        .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n")?;
    Ok(c)
}

/// Subscribes `c` to `subject` as `sid` (in `queue` when given) and waits
/// until its server processed the subscription.
pub fn subscribe(c: &mut Conn, subject: &str, queue: Option<&str>, sid: &str) -> io::Result<()> {
    let line = match queue {
        Some(q) => format!("SUB {subject} {q} {sid}\r\n"),
        None => format!("SUB {subject} {sid}\r\n"),
    };
    c.stream.write_all(line.as_bytes())?;
    c.ping()
}

/// Waits until the subscriptions `sub` made so far are known on the server
/// of `publisher` (another node of a cluster): subscribes `sub` to a probe
/// subject last (a node forwards one connection's interest in order) and
/// publishes probes until one comes back, then drops the probe
/// subscription. Nothing else may be published meanwhile.
pub fn wait_interest(publisher: &mut Conn, sub: &mut Conn, tag: &str) -> Result<(), BenchError> {
    let subject = format!("probe.{tag}");
    let sid = format!("probe-{tag}");
    subscribe(sub, &subject, None, &sid)?;
    sub.stream.set_read_timeout(Some(PROBE_WAIT))?;
    let deadline = Instant::now() + INTEREST_TIMEOUT;
    let probe = format!("PUB {subject} 0\r\n\r\n");
    loop {
        if Instant::now() > deadline {
            return Err(BenchError::NoInterest {
                subject,
                within: INTEREST_TIMEOUT,
            });
        }
        publisher.stream.write_all(probe.as_bytes())?;
        publisher.ping()?;
        let seen = sub.until(|op| matches!(op, ServerOp::Msg(m) if m.sid() == sid.as_bytes()));
        match seen {
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    sub.stream.set_read_timeout(Some(RUN_TIMEOUT))?;
    // Probes still on their way are dropped by the server once it has the
    // UNSUB, or come before the PONG, which skips them.
    sub.stream
        .write_all(format!("UNSUB {sid}\r\n").as_bytes())?;
    sub.ping()?;
    Ok(())
}

/// A subscriber connection for [`drive`], and the counter of the node it
/// is on (besides the total over all subscribers).
pub struct Reader {
    /// The connection, subscribed already.
    pub conn: Conn,
    /// Incremented by each message this subscriber gets.
    pub node_count: Arc<AtomicU64>,
}

/// Publishes `msgs` messages of `size` bytes on `subject` from `publisher`,
/// at most 100,000 messages ahead of the `readers`, until every message is
/// counted (exactly `msgs` over all readers when there are any; the final
/// `PING` round trip otherwise). Returns msgs/s over the whole run.
pub fn drive(
    mut publisher: Conn,
    readers: Vec<Reader>,
    subject: &str,
    size: usize,
    msgs: u64,
) -> Result<f64, BenchError> {
    let received = Arc::new(AtomicU64::new(0));
    let subscribed = !readers.is_empty();
    let start = Instant::now();
    let counting = subscribed.then(|| {
        let received = Arc::clone(&received);
        thread::spawn(move || count_all(readers, received, msgs))
    });

    let mut frame = format!("PUB {subject} {size}\r\n").into_bytes();
    frame.extend(std::iter::repeat_n(b'x', size));
    frame.extend_from_slice(b"\r\n");
    let chunk: Vec<u8> = frame.repeat(FRAMES_PER_WRITE);
    let mut sent = 0u64;
    while sent < msgs {
        let n = (msgs - sent).min(FRAMES_PER_WRITE as u64);
        publisher
            .stream
            .write_all(&chunk[..frame.len() * n as usize])?;
        sent += n;
        while subscribed && sent - received.load(Ordering::Acquire) > WINDOW {
            if start.elapsed() > RUN_TIMEOUT {
                return Err(BenchError::Stalled {
                    received: received.load(Ordering::Acquire),
                    sent,
                    after: start.elapsed(),
                });
            }
            thread::sleep(Duration::from_micros(50));
        }
    }
    publisher.ping()?;
    if let Some(c) = counting {
        c.join().map_err(|_| BenchError::ReaderPanicked)??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let got = received.load(Ordering::Acquire);
    if subscribed && got != msgs {
        return Err(BenchError::Count { got, want: msgs });
    }
    Ok(msgs as f64 / elapsed)
}

/// Runs every reader on one single-threaded runtime until `msgs` messages
/// were counted over all of them.
fn count_all(readers: Vec<Reader>, received: Arc<AtomicU64>, msgs: u64) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for r in readers {
            tasks.push(tokio::spawn(count_msgs(r, Arc::clone(&received), msgs)));
        }
        for t in tasks {
            t.await.map_err(|_| io::Error::other("reader panicked"))??;
        }
        Ok(())
    })
}

/// Counts `MSG`s on one subscriber connection until `msgs` arrived in total
/// (over all subscribers) or the run's timeout passed.
async fn count_msgs(r: Reader, received: Arc<AtomicU64>, msgs: u64) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (stream, mut buf, mut dec) = r.conn.into_parts();
    stream.set_nonblocking(true)?;
    let mut stream = tokio::net::TcpStream::from_std(stream)?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    while received.load(Ordering::Acquire) < msgs {
        if Instant::now() > deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
        if buf.capacity() - buf.len() < 64 * 1024 {
            buf.reserve(256 * 1024);
        }
        let read =
            tokio::time::timeout(Duration::from_millis(100), stream.read_buf(&mut buf)).await;
        match read {
            Err(_) => continue, // re-check the total
            Ok(Ok(0)) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
        let mut batch = 0;
        while let Some(op) = dec.decode(&mut buf).map_err(io::Error::other)? {
            match op {
                ServerOp::Msg(_) => batch += 1,
                ServerOp::Ping => stream.write_all(b"PONG\r\n").await?,
                _ => {}
            }
        }
        r.node_count.fetch_add(batch, Ordering::AcqRel);
        received.fetch_add(batch, Ordering::AcqRel);
    }
    Ok(())
}
