//! [`Doorbell`]: how a thread outside the runtime (the store's IO thread)
//! wakes a task through the runtime's IO reactor, as a socket would.
//!
//! A plain waker called from a foreign thread makes a multi-threaded
//! executor schedule the task remotely: it unparks a worker, which in turn
//! wakes another to keep searching for work (tokio does), two thread
//! wake-ups per completion. A byte written to a socket pair that the
//! reactor watches instead wakes the worker that polls the reactor, which
//! runs the task itself: one wake-up, as for a client's bytes. The store's
//! completions (one per synced batch: a synchronous publisher waits for
//! one per message) take this way when the runtime offers a doorbell
//! ([`Runtime::doorbell`](crate::Runtime::doorbell)).
//!
//! ```
//! # #[cfg(unix)] {
//! use std::io::Read;
//! use stan_async::Ringer;
//!
//! let (ringer, mut bell) = Ringer::pair().unwrap();
//! assert!(ringer.ring());
//! assert!(ringer.ring());
//! let mut buf = [0u8; 8];
//! // Rings coalesce in the socket; the receiver drains them at once.
//! assert_eq!(bell.socket.read(&mut buf).unwrap(), 2);
//! // A bell that failed tells its ringer, whose caller then wakes the
//! // task another way.
//! assert!(bell.kill());
//! assert!(!ringer.ring());
//! # }
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// The receiving end of a doorbell, watched by the runtime's reactor.
pub trait Doorbell: Send + 'static {
    /// Ready once the bell was rung since the last time it was ready
    /// (the rings are drained); pending otherwise, with `cx` woken at the
    /// next ring. When its socket fails, the bell is ready once more (so
    /// that a ring it missed is not lost), marks itself dead
    /// ([`BellSocket::kill`]: its ringer then says so, and the caller
    /// wakes the task another way), and stays pending.
    fn poll_rung(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// The ringing end of a doorbell: rings it from any thread.
#[derive(Debug)]
pub struct Ringer {
    #[cfg(unix)]
    socket: std::os::unix::net::UnixStream,
    dead: Arc<AtomicBool>,
}

/// The receiving socket of a doorbell, for a runtime to register with its
/// reactor, and the means to tell the ringer that it failed.
#[derive(Debug)]
pub struct BellSocket {
    /// The socket (blocking as created: the runtime sets what it needs).
    #[cfg(unix)]
    pub socket: std::os::unix::net::UnixStream,
    dead: Arc<AtomicBool>,
}

impl BellSocket {
    /// Marks the bell dead: from now on its ringer's [`Ringer::ring`]
    /// returns false. Returns whether it was alive until now.
    pub fn kill(&self) -> bool {
        !self.dead.swap(true, Ordering::AcqRel)
    }

    /// A handle that can [`BellSocket::kill`] the bell once the socket is
    /// moved into the runtime.
    pub fn killer(&self) -> BellKiller {
        BellKiller(Arc::clone(&self.dead))
    }
}

/// Marks a doorbell dead (see [`BellSocket::kill`]).
#[derive(Debug, Clone)]
pub struct BellKiller(Arc<AtomicBool>);

impl BellKiller {
    /// Marks the bell dead; returns whether it was alive until now.
    pub fn kill(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }

    /// Whether the bell was marked dead.
    pub fn is_dead(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl Ringer {
    /// A connected pair: the ringer (non-blocking) and the receiving
    /// socket.
    #[cfg(unix)]
    pub fn pair() -> std::io::Result<(Ringer, BellSocket)> {
        let (socket, bell) = std::os::unix::net::UnixStream::pair()?;
        socket.set_nonblocking(true)?;
        let dead = Arc::new(AtomicBool::new(false));
        Ok((
            Ringer {
                socket,
                dead: Arc::clone(&dead),
            },
            BellSocket { socket: bell, dead },
        ))
    }

    /// Rings: one byte written. A full socket means rings are pending
    /// already (the receiver drains them all at once), which is a ring
    /// too. Returns false when the bell is dead or its socket failed: the
    /// caller must wake the task another way.
    pub fn ring(&self) -> bool {
        if self.dead.load(Ordering::Acquire) {
            return false;
        }
        #[cfg(unix)]
        {
            use std::io::Write;
            // One byte: written whole or not at all.
            match (&self.socket).write(&[1]) {
                Ok(1) => true,
                Ok(_) => false,
                Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            }
        }
        #[cfg(not(unix))]
        {
            false
        }
    }
}

/// [`Doorbell::poll_rung`] over a non-blocking socket of a reactor:
/// `poll_ready` polls its readability (registering `cx`), `read` reads it
/// without blocking. A failure kills the bell (see [`Doorbell`]).
pub fn poll_socket_bell(
    killer: &BellKiller,
    cx: &mut Context<'_>,
    mut poll_ready: impl FnMut(&mut Context<'_>) -> Poll<std::io::Result<()>>,
    read: impl FnMut(&mut [u8]) -> std::io::Result<usize>,
) -> Poll<()> {
    if killer.is_dead() {
        return Poll::Pending;
    }
    let mut read = read;
    loop {
        match poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return failed(killer),
            Poll::Pending => return Poll::Pending,
        }
        match drain(&mut read) {
            Some(true) => return Poll::Ready(()),
            // Stale readiness (cleared by the WouldBlock): poll again.
            Some(false) => continue,
            None => return failed(killer),
        }
    }
}

/// What a bell whose socket failed returns: ready the first time (a ring
/// may have been missed), pending after.
fn failed(killer: &BellKiller) -> Poll<()> {
    if killer.kill() {
        Poll::Ready(())
    } else {
        Poll::Pending
    }
}

/// Ready when `bell` rang; never without a bell.
pub(crate) async fn rung(bell: Option<&mut Box<dyn Doorbell>>) {
    match bell {
        Some(bell) => futures_lite::future::poll_fn(|cx| bell.poll_rung(cx)).await,
        None => futures_lite::future::pending().await,
    }
}

/// A waker for a thread outside the runtime: rings `ringer` when there is
/// one and it works, else calls `fallback`.
pub(crate) fn ring_or(
    ringer: Option<Ringer>,
    fallback: impl Fn() + Send + Sync + 'static,
) -> impl Fn() + Send + Sync + 'static {
    move || {
        if !ringer.as_ref().is_some_and(Ringer::ring) {
            fallback();
        }
    }
}

/// Drains a non-blocking socket whose readiness the reactor reported:
/// `Some(true)` once it was read empty after at least one byte, `Some(false)`
/// when it had nothing (the readiness was stale: poll again), `None` when it
/// failed or was closed (the bell is dead).
fn drain(mut read: impl FnMut(&mut [u8]) -> std::io::Result<usize>) -> Option<bool> {
    let mut buf = [0u8; 64];
    let mut any = false;
    loop {
        match read(&mut buf) {
            Ok(0) => return None,
            Ok(_) => any = true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(any),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn drain_reads_until_it_would_block() {
        let mut chunks = vec![Ok(3), Ok(1), Err(io::ErrorKind::WouldBlock.into())].into_iter();
        assert_eq!(drain(|_| chunks.next().unwrap_or(Ok(0))), Some(true));
        let mut empty = vec![Err(io::ErrorKind::WouldBlock.into())].into_iter();
        assert_eq!(drain(|_| empty.next().unwrap_or(Ok(0))), Some(false));
        assert_eq!(drain(|_| Ok(0)), None);
        assert_eq!(drain(|_| Err(io::ErrorKind::BrokenPipe.into())), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_full_socket_still_counts_as_rung() {
        let (ringer, bell) = Ringer::pair().unwrap_or_else(|e| panic!("{e}"));
        // Far more rings than any socket buffer holds.
        for _ in 0..100_000 {
            assert!(ringer.ring());
        }
        drop(bell);
        // The peer gone: the ring fails, and says so.
        assert!(!ringer.ring());
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_bell_is_ready_once_then_silent() {
        let (ringer, bell) = Ringer::pair().unwrap_or_else(|e| panic!("{e}"));
        let killer = bell.killer();
        assert!(!killer.is_dead());
        assert_eq!(failed(&killer), Poll::Ready(()));
        assert_eq!(failed(&killer), Poll::Pending);
        assert!(killer.is_dead() && !ringer.ring());
    }
}
