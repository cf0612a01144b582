//! One TCP connection of the embedded NATS server: the accept loop, and a
//! reader and a writer task per connection (over TLS when the server
//! serves TLS: [`tls_session`] upgrades first; routes over TLS handshake
//! before their session exists: [`route_tls_accept`], [`dial_route`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_lite::future;
use stan_core::nats::router::{ConnId, DialId, RouteUrl, TlsFailure};
use stan_core::outbox::Outbox;
use stan_core::time::deadline_after;
use stan_tls::{rustls, ServerTls};

use super::{Shared, Signal};
use crate::io::{until, write_all, write_some, MAX_IOVECS, READ_CHUNK};
use crate::runtime::{ReadHalf, Runtime, WriteHalf};
use crate::tls;
use crate::wake::{Latch, SetOnDrop};

/// Accepts until shutdown; `done` is set when it returns. On the route
/// listener (`route`), connections are route sessions: with route TLS,
/// handshaken first ([`route_tls_accept`]).
pub(super) async fn accept_loop<R: Runtime>(
    rt: R,
    listener: R::Listener,
    shared: Arc<Shared>,
    done: Arc<Latch<()>>,
    route: bool,
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
        if let Some(tls) = shared.route_tls.clone().filter(|_| route) {
            rt.spawn(Box::pin(route_tls_accept(
                rt.clone(),
                rd,
                wr,
                peer.to_string(),
                Arc::clone(&shared),
                tls.server,
            )));
            continue;
        }
        let (conn, signal) = {
            let mut st = shared.lock();
            let now = Instant::now();
            let conn = if route {
                st.router.handle_route_accept(now, &peer.to_string())
            } else {
                st.router.handle_accept(now, &peer.to_string())
            };
            let signal = shared.register(&mut st, conn);
            shared.dispatch(&mut st);
            (conn, signal)
        };
        shared.live_tasks.fetch_add(1, Ordering::AcqRel);
        if let Some(tls) = shared.tls.clone().filter(|_| !route) {
            rt.spawn(Box::pin(tls_session(
                rt.clone(),
                rd,
                wr,
                conn,
                signal,
                Arc::clone(&shared),
                tls,
            )));
            continue;
        }
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

/// Dials a route the router asked for, within the cluster's dial
/// timeout, and reports the outcome; with route TLS, the handshake (as
/// TLS client, verifying the acceptor by the URL's host) comes first,
/// within the route TLS timeout. A connected route runs the same reader
/// and writer tasks as a client.
pub(super) async fn dial_route<R: Runtime>(
    rt: R,
    shared: Arc<Shared>,
    dial: DialId,
    url: RouteUrl,
    timeout: Duration,
) {
    let deadline = deadline_after(Instant::now(), timeout);
    let dialled = until(&rt, deadline, rt.connect(&url.host, url.port)).await;
    let halves = match dialled {
        Some(Ok(stream)) => R::split(stream).ok(),
        _ => None,
    };
    let peer = format!("{}:{}", url.host, url.port);
    let Some((mut rd, mut wr)) = halves else {
        let mut st = shared.lock();
        st.router.handle_route_dial_failed(Instant::now(), dial);
        shared.dispatch(&mut st);
        return;
    };
    let Some(tls) = shared.route_tls.clone() else {
        return start_dialled_route(rt, shared, dial, &peer, rd, wr).await;
    };
    let upgraded = match tls.client.connect(&url.host) {
        Ok(session) => {
            let deadline = deadline_after(Instant::now(), tls.handshake_timeout());
            let session = rustls::Connection::Client(session);
            let handshake = tls::handshake(&mut rd, &mut wr, session, BytesMut::new(), false);
            let upgrade = until(&rt, deadline, handshake);
            match future::or(async { Some(upgrade.await) }, async {
                shared.stopping.wait().await;
                None
            })
            .await
            {
                // Shutting down: the router no longer wants the dial.
                None => return,
                Some(None) => Err("timeout".to_owned()),
                Some(Some(Err(e))) => Err(e.to_string()),
                Some(Some(Ok(done))) => Ok(done),
            }
        }
        Err(e) => Err(e.to_string()),
    };
    match upgraded {
        Ok((session, leftover)) => {
            let (rd, wr) = tls::split(rd, wr, session, leftover);
            start_dialled_route(rt, shared, dial, &peer, rd, wr).await;
        }
        Err(error) => {
            let mut st = shared.lock();
            st.router
                .handle_route_tls_failed(Instant::now(), Some(dial), &peer, &error);
            shared.dispatch(&mut st);
        }
    }
}

/// Reports a connected dial and runs the route's reader and writer (the
/// stream closes when the router no longer wants the dial, or shutdown
/// began).
async fn start_dialled_route<R: Runtime, Rd: ReadHalf, W: WriteHalf>(
    rt: R,
    shared: Arc<Shared>,
    dial: DialId,
    peer: &str,
    rd: Rd,
    wr: W,
) {
    let session = {
        let mut st = shared.lock();
        let session = if shared.stopping.is_set() {
            st.router.handle_route_dial_failed(Instant::now(), dial);
            None
        } else {
            st.router
                .handle_route_connected(Instant::now(), dial, peer)
                .map(|conn| (conn, shared.register(&mut st, conn)))
        };
        shared.dispatch(&mut st);
        session
    };
    let Some((conn, signal)) = session else {
        return;
    };
    shared.live_tasks.fetch_add(1, Ordering::AcqRel);
    rt.spawn(Box::pin(read_loop(
        rd,
        conn,
        Arc::clone(&signal),
        Arc::clone(&shared),
    )));
    run_writer(rt, wr, conn, signal, shared).await;
}

/// An accepted route over TLS, as nats-server's `createRoute`: the
/// handshake (as TLS server) before anything else, within the route TLS
/// timeout; only then does the route session exist (its `INFO` goes out
/// over TLS). A failure (a plain-text peer, a bad or missing certificate,
/// the timeout, shutdown) closes the connection and leaves no session.
async fn route_tls_accept<R: Runtime>(
    rt: R,
    mut rd: R::Reader,
    mut wr: R::Writer,
    peer: String,
    shared: Arc<Shared>,
    tls: ServerTls,
) {
    let deadline = deadline_after(Instant::now(), tls.handshake_timeout());
    let upgraded = match tls.accept() {
        Ok(session) => {
            let session = rustls::Connection::Server(session);
            let handshake = tls::handshake(&mut rd, &mut wr, session, BytesMut::new(), true);
            let upgrade = until(&rt, deadline, handshake);
            match future::or(async { Some(upgrade.await) }, async {
                shared.stopping.wait().await;
                None
            })
            .await
            {
                None => return,
                Some(None) => Err("timeout".to_owned()),
                Some(Some(Err(e))) => Err(e.to_string()),
                Some(Some(Ok(done))) => Ok(done),
            }
        }
        Err(e) => Err(e.to_string()),
    };
    let (session, leftover) = match upgraded {
        Ok(done) => done,
        Err(error) => {
            {
                let mut st = shared.lock();
                st.router
                    .handle_route_tls_failed(Instant::now(), None, &peer, &error);
                shared.dispatch(&mut st);
            }
            let _ = wr.shutdown().await;
            return;
        }
    };
    let (rd, wr) = tls::split(rd, wr, session, leftover);
    let (conn, signal) = {
        let mut st = shared.lock();
        if shared.stopping.is_set() {
            return;
        }
        let conn = st.router.handle_route_accept(Instant::now(), &peer);
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
    run_writer(rt, wr, conn, signal, shared).await;
}

/// A TLS session, in nats-server's order: the `INFO` in plain text, then
/// the handshake within the TLS timeout, then the reader and writer over
/// TLS. A client that does not start TLS (plain text, or nothing in
/// time) or fails the handshake is reported to the router, which decides
/// what it is told (`-ERR 'Secure Connection - TLS Required'` goes out in
/// plain text) before the close.
async fn tls_session<R: Runtime>(
    rt: R,
    mut rd: R::Reader,
    mut wr: R::Writer,
    conn: ConnId,
    signal: Arc<Signal>,
    shared: Arc<Shared>,
    tls: ServerTls,
) {
    let deadline = deadline_after(Instant::now(), tls.handshake_timeout());
    if !write_plain(&rt, &mut wr, conn, &shared).await || signal.is_closing() {
        // Refused at once (too many connections), or already gone.
        return run_writer(rt, wr, conn, signal, shared).await;
    }
    let session = match tls.accept() {
        Ok(s) => rustls::Connection::Server(s),
        Err(e) => {
            let failure = TlsFailure::Handshake(e.to_string());
            return tls_refused(rt, wr, conn, signal, shared, failure).await;
        }
    };
    let upgrade = until(
        &rt,
        deadline,
        tls::handshake(&mut rd, &mut wr, session, BytesMut::new(), true),
    );
    // The router may end the session meanwhile (shutdown, authentication
    // timeout): then its last output goes out in plain text.
    let closing = async {
        while !signal.is_closing() {
            signal.ready.notified().await;
        }
    };
    let outcome = future::or(async { Some(upgrade.await) }, async {
        closing.await;
        None
    })
    .await;
    let failure = match outcome {
        None => return run_writer(rt, wr, conn, signal, shared).await,
        Some(None) => TlsFailure::Timeout,
        Some(Some(Err(tls::UpgradeError::NotTls))) => TlsFailure::NotTls,
        Some(Some(Err(e))) => TlsFailure::Handshake(e.to_string()),
        Some(Some(Ok((session, leftover)))) => {
            let (rd, wr) = tls::split(rd, wr, session, leftover);
            rt.spawn(Box::pin(read_loop(
                rd,
                conn,
                Arc::clone(&signal),
                Arc::clone(&shared),
            )));
            return run_writer(rt, wr, conn, signal, shared).await;
        }
    };
    tls_refused(rt, wr, conn, signal, shared, failure).await;
}

/// Tells the router how the upgrade failed, then writes its last output
/// in plain text and closes.
async fn tls_refused<R: Runtime>(
    rt: R,
    wr: R::Writer,
    conn: ConnId,
    signal: Arc<Signal>,
    shared: Arc<Shared>,
    failure: TlsFailure,
) {
    {
        let mut st = shared.lock();
        st.router.handle_tls_failed(Instant::now(), conn, failure);
        shared.dispatch(&mut st);
    }
    run_writer(rt, wr, conn, signal, shared).await;
}

/// Writes the session's output so far (the `INFO`) in plain text, within
/// the write deadline; false if the transport failed.
async fn write_plain<R: Runtime>(
    rt: &R,
    wr: &mut R::Writer,
    conn: ConnId,
    shared: &Shared,
) -> bool {
    let mut out = Outbox::default();
    {
        let mut st = shared.lock();
        while let Some(chunk) = st.router.poll_transmit(conn) {
            out.push(chunk);
        }
    }
    let len = out.bytes();
    let stall = deadline_after(Instant::now(), shared.config.write_deadline);
    let ok = matches!(
        until(rt, stall, write_all(wr, &mut out)).await,
        Some(Ok(()))
    );
    if ok && len > 0 {
        let mut st = shared.lock();
        st.router.handle_written(Instant::now(), conn, len);
        shared.dispatch(&mut st);
    }
    ok
}

/// The writer task: writes until the session ends, then forgets it.
async fn run_writer<R: Runtime, W: WriteHalf>(
    rt: R,
    wr: W,
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

async fn write_loop<R: Runtime, W: WriteHalf>(
    rt: &R,
    mut wr: W,
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
