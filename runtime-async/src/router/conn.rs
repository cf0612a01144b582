//! One TCP connection of the embedded NATS server: the accept loop, and a
//! reader and a writer task per connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use futures_lite::future;
use stan_core::nats::router::ConnId;
use stan_core::outbox::Outbox;
use stan_core::time::deadline_after;

use super::{Shared, Signal};
use crate::io::{until, write_some, MAX_IOVECS, READ_CHUNK};
use crate::runtime::{ReadHalf, Runtime, WriteHalf};
use crate::wake::{Latch, SetOnDrop};

/// Accepts until shutdown; `done` is set when it returns.
pub(super) async fn accept_loop<R: Runtime>(
    rt: R,
    listener: R::Listener,
    shared: Arc<Shared>,
    done: Arc<Latch<()>>,
) {
    let _done = SetOnDrop(done, ());
    loop {
        let accepted = future::or(async { Some(rt.accept(&listener).await) }, async {
            shared.stopping.wait().await;
            None
        })
        .await;
        let (rd, wr, peer) =
            match accepted.map(|r| r.and_then(|(s, peer)| Ok((R::split(s)?, peer)))) {
                None => return,
                Some(Ok(((rd, wr), peer))) => (rd, wr, peer),
                Some(Err(_)) => {
                    // Out of file descriptors and the like: back off.
                    let resume = deadline_after(Instant::now(), shared.config.accept_backoff);
                    rt.sleep_until(resume).await;
                    continue;
                }
            };
        let (conn, signal) = {
            let mut st = shared.lock();
            let conn = st.router.handle_accept(Instant::now(), &peer.to_string());
            let signal = shared.register(&mut st, conn);
            shared.dispatch(&mut st);
            (conn, signal)
        };
        shared.live_tasks.fetch_add(1, Ordering::AcqRel);
        rt.spawn(Box::pin(read_loop(
            rd,
            conn,
            Arc::clone(&signal),
            Arc::clone(&shared),
        )));
        rt.spawn(Box::pin(run_writer(
            rt.clone(),
            wr,
            conn,
            signal,
            Arc::clone(&shared),
        )));
    }
}

/// The writer task: writes until the session ends, then forgets it.
async fn run_writer<R: Runtime>(
    rt: R,
    wr: R::Writer,
    conn: ConnId,
    signal: Arc<Signal>,
    shared: Arc<Shared>,
) {
    write_loop(&rt, wr, conn, &signal, &shared).await;
    // The reader stops too.
    signal.killed.set(());
    {
        let mut st = shared.lock();
        shared.forget(&mut st, conn);
        shared.dispatch(&mut st);
    }
    if shared.live_tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
        shared.all_done.notify();
    }
}

async fn read_loop<Rd: ReadHalf>(
    mut rd: Rd,
    conn: ConnId,
    signal: Arc<Signal>,
    shared: Arc<Shared>,
) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let read = future::or(async { Some(rd.read_buf(&mut buf).await) }, async {
            signal.killed.wait().await;
            None
        })
        .await;
        match read {
            None => return,
            Some(Ok(0) | Err(_)) => break,
            Some(Ok(_)) => {}
        }
        // Feed the input; while the router stalls this producer, read no
        // more (TCP pushes back) and feed the rest when it resumes it.
        loop {
            {
                let mut st = shared.lock();
                st.router.handle_input(Instant::now(), conn, &mut buf);
                shared.dispatch(&mut st);
                if signal.is_closing() {
                    return;
                }
                if !st.router.is_input_paused(conn) {
                    break;
                }
            }
            signal.resumed.notified().await;
        }
    }
    // The peer is gone: nothing more can be written either.
    signal.kill();
}

async fn write_loop<R: Runtime>(
    rt: &R,
    mut wr: R::Writer,
    conn: ConnId,
    signal: &Signal,
    shared: &Shared,
) {
    let mut out = Outbox::default();
    let mut written = 0;
    loop {
        if signal.killed.is_set() {
            return;
        }
        let closing = signal.is_closing();
        {
            let mut st = shared.lock();
            if written > 0 {
                st.router.handle_written(Instant::now(), conn, written);
                shared.dispatch(&mut st);
                written = 0;
            }
            while out.len() < MAX_IOVECS {
                match st.router.poll_transmit(conn) {
                    Some(c) => out.push(c),
                    None => break,
                }
            }
        }
        if out.is_empty() {
            if closing {
                let _ = wr.shutdown().await;
                return;
            }
            signal.ready.notified().await;
            continue;
        }
        let stall = deadline_after(Instant::now(), shared.config.write_deadline);
        let write = future::or(
            async { Some(until(rt, stall, write_some(&mut wr, &mut out)).await) },
            async {
                signal.killed.wait().await;
                None
            },
        )
        .await;
        match write {
            None | Some(Some(Err(_))) => return,
            Some(Some(Ok(n))) => written = n,
            Some(None) => {
                let mut st = shared.lock();
                st.router.handle_write_stalled(Instant::now(), conn);
                shared.dispatch(&mut st);
                return;
            }
        }
    }
}
