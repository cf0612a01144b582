//! The clients of a load run: N STAN connections (stan-tokio), each with
//! one subscription, connected and closed a bounded number at a time; no
//! task of ours per client (each connection has its one driver task):
//! their messages are counted by polling the subscriptions.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::Stream;
use stan_tokio::{ClientError, Connection, Options, Subscription, SubscriptionOptions};

/// Attempts per client (a retry uses a new client ID: a connect that timed
/// out may still have been registered under the old one).
const ATTEMPTS: u32 = 3;
/// Bound of one close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// One client: its connection, its subscription and what it received.
#[derive(Debug)]
pub struct Client {
    /// The connection.
    pub conn: Connection,
    /// Its subscription.
    pub sub: Subscription,
    /// Messages received so far.
    pub got: u64,
    /// Its number in the run (`<prefix>-<index>`; the throughput and
    /// fan-out clients are 0).
    pub index: u32,
}

/// The options of every client: stan.go's defaults (pings every 5 s,
/// heartbeats answered by the session), with a longer request timeout so a
/// connect queued behind thousands of others does not time out.
pub fn options(connect_wait: Duration) -> Options {
    let mut o = Options::default();
    o.stan.connect_wait = connect_wait;
    o
}

/// The channel of client `i`.
pub fn channel(i: u32, channels: u32) -> String {
    format!("load.{}", i % channels)
}

/// How the connects went.
#[derive(Debug, Default)]
pub struct ConnectOutcome {
    /// The clients that connected and subscribed.
    pub clients: Vec<Client>,
    /// Attempts that failed (connect or subscribe).
    pub failed_attempts: u32,
    /// Clients given up on.
    pub given_up: u32,
    /// The first failure.
    pub first_error: Option<String>,
}

/// What [`connect_all`] connects.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The server's URL.
    pub url: String,
    /// Its cluster ID.
    pub cluster_id: String,
    /// Client IDs are `<prefix>-<i>`.
    pub prefix: String,
    /// Clients `0..n`.
    pub n: u32,
    /// Client `i` subscribes to [`channel`]`(i, channels)`.
    pub channels: u32,
    /// Connects in progress at once.
    pub concurrency: u32,
    /// No connect starts after it.
    pub deadline: Instant,
    /// Every subscription's options.
    pub sub_options: SubscriptionOptions,
}

/// Connects the clients of `plan`, `concurrency` at a time, each
/// subscribing to its channel; `progress` learns how many are done.
pub async fn connect_all(
    plan: &Plan,
    progress: impl Fn(u32) + Send + Sync + 'static,
) -> ConnectOutcome {
    let Plan {
        n,
        channels,
        concurrency,
        deadline,
        ..
    } = *plan;
    let next = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicU32::new(0));
    let out = Arc::new(Mutex::new(ConnectOutcome::default()));
    let progress = Arc::new(progress);
    let mut workers = Vec::new();
    for _ in 0..concurrency.min(n) {
        let (next, done, out, progress) = (
            Arc::clone(&next),
            Arc::clone(&done),
            Arc::clone(&out),
            Arc::clone(&progress),
        );
        let (url, cluster_id, prefix, sub_options) = (
            plan.url.clone(),
            plan.cluster_id.clone(),
            plan.prefix.clone(),
            plan.sub_options.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() > deadline {
                    return;
                }
                let mut client = None;
                for attempt in 0..ATTEMPTS {
                    let id = if attempt == 0 {
                        format!("{prefix}-{i}")
                    } else {
                        format!("{prefix}-{i}-r{attempt}")
                    };
                    let ch = channel(i, channels);
                    match connect_with(&url, &cluster_id, &id, &ch, sub_options.clone()).await {
                        Ok(mut c) => {
                            c.index = i;
                            client = Some(c);
                            break;
                        }
                        Err(e) => {
                            let mut o = lock(&out);
                            o.failed_attempts += 1;
                            o.first_error.get_or_insert_with(|| format!("{id}: {e}"));
                        }
                    }
                    if Instant::now() > deadline {
                        break;
                    }
                }
                let mut o = lock(&out);
                match client {
                    Some(c) => o.clients.push(c),
                    None => o.given_up += 1,
                }
                drop(o);
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                progress(d);
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let mut o = std::mem::take(&mut *lock(&out));
    // Anything never started (the deadline passed) counts as given up.
    let handled = o.clients.len() as u32 + o.given_up;
    o.given_up += n.saturating_sub(handled);
    o
}

/// Connects one client and subscribes it to `channel` (new messages only,
/// acked as received).
pub async fn connect_one(
    url: &str,
    cluster_id: &str,
    id: &str,
    channel: &str,
) -> Result<Client, String> {
    connect_with(url, cluster_id, id, channel, SubscriptionOptions::default()).await
}

/// Connects one client and subscribes it to `channel` with `sub_options`.
pub async fn connect_with(
    url: &str,
    cluster_id: &str,
    id: &str,
    channel: &str,
    sub_options: SubscriptionOptions,
) -> Result<Client, String> {
    let conn = Connection::connect(url, cluster_id, id, options(Duration::from_secs(10)))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    match conn.subscribe(channel, sub_options).await {
        Ok(sub) => Ok(Client {
            conn,
            sub,
            got: 0,
            index: 0,
        }),
        Err(e) => {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
            Err(format!("subscribe {channel}: {e}"))
        }
    }
}

/// Takes what each subscription holds without waiting; returns how many
/// messages were taken.
pub fn drain(clients: &mut [Client]) -> u64 {
    let mut cx = Context::from_waker(Waker::noop());
    let mut taken = 0;
    for c in clients {
        while let Poll::Ready(Some(_)) = Pin::new(&mut c.sub).poll_next(&mut cx) {
            c.got += 1;
            taken += 1;
        }
    }
    taken
}

/// The clients whose connection was declared lost (pings unanswered,
/// replaced, NATS connection closed), with one reason.
pub fn lost(clients: &[Client]) -> (u32, Option<String>) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut n = 0;
    let mut reason = None;
    for c in clients {
        let mut f = pin!(c.conn.connection_lost());
        if let Poll::Ready(e) = f.as_mut().poll(&mut cx) {
            n += 1;
            reason.get_or_insert_with(|| e.to_string());
        }
    }
    (n, reason)
}

/// Closes every client, `concurrency` at a time; returns the closes that
/// failed or timed out, with one reason.
pub async fn close_all(clients: Vec<Client>, concurrency: u32) -> (u32, Option<String>) {
    let queue = Arc::new(Mutex::new(clients));
    let failed = Arc::new(Mutex::new((0u32, None::<String>)));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (queue, failed) = (Arc::clone(&queue), Arc::clone(&failed));
        workers.push(tokio::spawn(async move {
            loop {
                let Some(c) = lock(&queue).pop() else {
                    return;
                };
                let Client { conn, sub, .. } = c;
                let r = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
                drop(sub);
                let err = match r {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!("close timed out after {CLOSE_TIMEOUT:?}"),
                };
                let mut f = lock(&failed);
                f.0 += 1;
                f.1.get_or_insert(err);
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let f = lock(&failed);
    (f.0, f.1.clone())
}

/// The publisher's outcome.
#[derive(Debug, Default, Clone)]
pub struct Published {
    /// Publishes made.
    pub sent: u64,
    /// PubAcks without error.
    pub acked: u64,
    /// Publishes that failed (error PubAck, timeout, refusal).
    pub errors: u64,
    /// The first error.
    pub first_error: Option<String>,
    /// From the first publish to the last PubAck.
    pub elapsed: Duration,
}

/// Publishes up to `max` messages of `payload` on `channel` for at most
/// `bound`: synchronously (each waits for its PubAck), or asynchronously
/// with `window` PubAcks in flight. Every PubAck is awaited.
pub async fn publish(
    conn: &Connection,
    channel: &str,
    payload: bytes::Bytes,
    max: u64,
    bound: Duration,
    sync: bool,
    window: usize,
) -> Published {
    let mut p = Published::default();
    let start = Instant::now();
    let fail = |p: &mut Published, e: ClientError| {
        p.errors += 1;
        p.first_error.get_or_insert_with(|| e.to_string());
    };
    if sync {
        while p.sent < max && start.elapsed() < bound {
            p.sent += 1;
            match conn.publish(channel, payload.clone()).await {
                Ok(()) => p.acked += 1,
                Err(e) => fail(&mut p, e),
            }
        }
    } else {
        let mut in_flight = std::collections::VecDeque::with_capacity(window);
        while p.sent < max && start.elapsed() < bound {
            if in_flight.len() >= window {
                let f: stan_tokio::PubAckFuture = in_flight.pop_front().expect("full window");
                match f.await {
                    Ok(()) => p.acked += 1,
                    Err(e) => fail(&mut p, e),
                }
            }
            p.sent += 1;
            match conn.publish_async(channel, payload.clone()).await {
                Ok(f) => in_flight.push_back(f),
                Err(e) => fail(&mut p, e),
            }
        }
        for f in in_flight {
            match f.await {
                Ok(()) => p.acked += 1,
                Err(e) => fail(&mut p, e),
            }
        }
    }
    p.elapsed = start.elapsed();
    p
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
