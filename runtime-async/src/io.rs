//! Writing queued output chunks, vectored, and racing a future against a
//! deadline: the two IO helpers every loop of the crate uses.

use std::future::Future;
use std::io::{self, IoSlice};
use std::time::Instant;

use futures_lite::future;
use stan_core::outbox::Outbox;

use crate::runtime::{Runtime, WriteHalf};

/// Most chunks handed to one vectored write.
pub(crate) const MAX_IOVECS: usize = 64;

/// Read buffer growth step.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// One vectored write of the front of `out`; drops what was written and
/// returns its size.
pub(crate) async fn write_some<W: WriteHalf>(wr: &mut W, out: &mut Outbox) -> io::Result<usize> {
    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
    let mut count = 0;
    for (slot, chunk) in slices.iter_mut().zip(out.chunks()) {
        *slot = IoSlice::new(chunk);
        count += 1;
    }
    let n = wr.write_vectored(&slices[..count]).await?;
    if n == 0 {
        return Err(io::ErrorKind::WriteZero.into());
    }
    Ok(out.advance(n))
}

/// Writes everything in `out`.
pub(crate) async fn write_all<W: WriteHalf>(wr: &mut W, out: &mut Outbox) -> io::Result<()> {
    while !out.is_empty() {
        write_some(wr, out).await?;
    }
    Ok(())
}

/// `fut`'s output, or `None` once `at` passed.
pub(crate) async fn until<R: Runtime, T>(
    rt: &R,
    at: Instant,
    fut: impl Future<Output = T>,
) -> Option<T> {
    future::or(async { Some(fut.await) }, async {
        rt.sleep_until(at).await;
        None
    })
    .await
}

/// Sleeps until `deadline`, or forever without one.
pub(crate) async fn sleep_opt<R: Runtime>(rt: &R, deadline: Option<Instant>) {
    match deadline {
        Some(at) => rt.sleep_until(at).await,
        None => future::pending().await,
    }
}
