//! The STAN client: [`Connection`] wraps the core's client [`Session`]
//! stacked on a NATS client connection, behind one lock shared by the API
//! handles and one driver task ([`drive`](crate::drive())). An API call
//! locks, makes the call on the session, and wakes the driver; the driver
//! moves bytes and time and routes the session's events to the waiting
//! calls. Every protocol decision (the PubAck window and the publish
//! queue included) is the session's.

mod acks;
mod inner;
mod sub;

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use event_listener::Event;
use stan_core::stan::client::{ClientError, ConnectError, Options, SubscriptionOptions};

pub use acks::PubAckFuture;
pub use sub::{Msg, Subscription};

use crate::drive::drive_tls;
use crate::runtime::Runtime;
use crate::wake::Latch;
use inner::{Inner, Shared};
use stan_tls::ClientTls;

/// A NATS Streaming connection on runtime `R` (each runtime crate names
/// its own: `stan_tokio::Connection`, `stan_smol::Connection`).
///
/// Publishing beyond the session's PubAck window and publish queue waits
/// for room. Dropping a connection without [`Connection::close`] closes it
/// in the background.
#[derive(Debug)]
pub struct Connection<R: Runtime> {
    shared: Arc<Shared>,
    _rt: PhantomData<R>,
}

impl<R: Runtime + Default> Connection<R> {
    /// Connects to the NATS server at `url` (`nats://[user:pass@]host:port`,
    /// or `tls://` for TLS; comma-separated for several) and to the streaming server of
    /// `cluster_id` as `client_id`.
    pub async fn connect(
        url: &str,
        cluster_id: &str,
        client_id: &str,
        options: Options,
    ) -> Result<Self, ConnectError> {
        Self::connect_on(R::default(), url, cluster_id, client_id, options).await
    }

    /// [`connect`](Self::connect) over TLS with `tls` (a CA, a client
    /// certificate, a server name): the connection upgrades to TLS after
    /// the server's `INFO` (nats.go's `Secure`). Without `tls`, a
    /// `tls://` URL or a server that requires TLS is still upgraded, with
    /// the system's trust anchors.
    pub async fn connect_tls(
        url: &str,
        cluster_id: &str,
        client_id: &str,
        options: Options,
        tls: Option<ClientTls>,
    ) -> Result<Self, ConnectError> {
        Self::connect_on_tls(R::default(), url, cluster_id, client_id, options, tls).await
    }
}

impl<R: Runtime> Connection<R> {
    /// [`connect`](Self::connect) on runtime `rt`.
    pub async fn connect_on(
        rt: R,
        url: &str,
        cluster_id: &str,
        client_id: &str,
        options: Options,
    ) -> Result<Self, ConnectError> {
        Self::connect_on_tls(rt, url, cluster_id, client_id, options, None).await
    }

    /// [`connect_tls`](Self::connect_tls) on runtime `rt`.
    pub async fn connect_on_tls(
        rt: R,
        url: &str,
        cluster_id: &str,
        client_id: &str,
        options: Options,
        tls: Option<ClientTls>,
    ) -> Result<Self, ConnectError> {
        // Auto-acks go out as the subscription yields each message, so
        // that max_in_flight bounds what waits in its stream.
        let mut options = options;
        options.stan.ack_when_taken = true;
        // No seed chosen: one from OS entropy, never the public test seed.
        let seed = crate::seed::or_entropy(options.stan.seed);
        let now = Instant::now();
        let unix_now = crate::seed::unix_now_ns();
        let mut stack = options.start(url, cluster_id, client_id, seed, now, unix_now)?;
        if tls.is_some() {
            stack.conn.set_tls_required(true);
        }
        let (connected_tx, connected) = async_channel::bounded(1);
        let acks = Arc::default();
        let lost = Arc::new(Latch::default());
        let room = Arc::new(Event::new());
        let shared = Arc::new(Shared {
            cell: Mutex::new(Inner {
                stack,
                connected: Some(connected_tx),
                subscribing: HashMap::new(),
                subs: HashMap::new(),
                unsubscribing: HashMap::new(),
                closing: None,
                acks: Arc::clone(&acks),
                lost: Arc::clone(&lost),
                room: Arc::clone(&room),
            }),
            wake: Default::default(),
            acks,
            room,
            lost,
            ended: Latch::default(),
            stop: Latch::default(),
        });
        let task_shared = Arc::clone(&shared);
        let task_rt = rt.clone();
        rt.spawn(Box::pin(async move {
            let ended = Ended(task_shared);
            let s = &ended.0;
            let reason = drive_tls(&task_rt, &s.cell, &s.wake, &s.stop, tls.as_ref()).await;
            s.lock().finish(reason);
        }));
        let conn = Connection {
            shared,
            _rt: PhantomData,
        };
        match connected.recv().await {
            Ok(Ok(())) => Ok(conn),
            Ok(Err(e)) => Err(ConnectError::Stan(e)),
            Err(_) => Err(ConnectError::Stan(ClientError::ConnectionClosed)),
        }
    }

    /// Publishes and waits for the PubAck.
    pub async fn publish(&self, channel: &str, data: impl Into<Bytes>) -> Result<(), ClientError> {
        self.publish_async(channel, data).await?.await
    }

    /// Publishes; returns once the session took the message (sent, or
    /// queued behind a full PubAck window; waiting while the window and
    /// the queue are full) with a [`PubAckFuture`] resolving to its
    /// PubAck's outcome.
    pub async fn publish_async(
        &self,
        channel: &str,
        data: impl Into<Bytes>,
    ) -> Result<PubAckFuture, ClientError> {
        let data = data.into();
        loop {
            let room = {
                let mut inner = self.shared.lock();
                if self.shared.ended.is_set() || self.shared.lost.is_set() {
                    return Err(ClientError::ConnectionClosed);
                }
                if inner.stack.app.can_publish() {
                    let id = inner.stack.app.publish(Instant::now(), channel, data)?;
                    // Under the session's lock: the outcome cannot come first.
                    acks::lock(&self.shared.acks).push(id);
                    inner.flush_commands();
                    drop(inner);
                    self.shared.wake.notify();
                    return Ok(PubAckFuture::new(id, Arc::clone(&self.shared.acks)));
                }
                self.shared.room.listen()
            };
            room.await;
        }
    }

    /// Subscribes to `channel`.
    pub async fn subscribe(
        &self,
        channel: &str,
        options: SubscriptionOptions,
    ) -> Result<Subscription, ClientError> {
        let (tx, rx) = async_channel::bounded(1);
        let (msgs_tx, msgs) = async_channel::unbounded();
        let id = {
            let mut inner = self.shared.lock();
            let id = inner
                .stack
                .app
                .subscribe(Instant::now(), channel, &options)?;
            inner.subs.insert(id, msgs_tx);
            inner.subscribing.insert(id, tx);
            inner.flush_commands();
            id
        };
        self.shared.wake.notify();
        // Made now: dropped on failure, it closes nothing the server knows.
        let mut sub = Subscription::new(id, Arc::clone(&self.shared), msgs, options.manual_ack);
        match rx
            .recv()
            .await
            .unwrap_or(Err(ClientError::ConnectionClosed))
        {
            Ok(()) => Ok(sub),
            Err(e) => {
                sub.forget();
                Err(e)
            }
        }
    }

    /// Closes the connection (pending publishes fail with
    /// `stan: connection closed`) and waits for its task to finish.
    pub async fn close(self) -> Result<(), ClientError> {
        let result = self.begin_close();
        let r = match result {
            Ok(rx) => rx.recv().await.unwrap_or(Ok(())),
            Err(e) => Err(e),
        };
        self.shared.ended.wait().await;
        r
    }

    /// Starts the session's close; the receiver gets its outcome. On
    /// refusal the driver is stopped at once.
    fn begin_close(&self) -> Result<async_channel::Receiver<Result<(), ClientError>>, ClientError> {
        let (tx, rx) = async_channel::bounded(1);
        let mut inner = self.shared.lock();
        match inner.stack.app.close(Instant::now()) {
            Ok(()) => {
                inner.closing = Some(tx);
                inner.flush_commands();
                drop(inner);
                self.shared.wake.notify();
                Ok(rx)
            }
            Err(e) => {
                let done = inner.stack.app.is_done();
                drop(inner);
                self.shared.stop.set(());
                if done {
                    let _ = tx.try_send(Ok(()));
                    Ok(rx)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Resolves when the connection is lost (server replaced this client,
    /// pings failed, NATS connection closed) with the reason; with
    /// `stan: connection closed` once it ended any other way.
    pub async fn connection_lost(&self) -> ClientError {
        self.shared.lost.wait().await
    }

    /// Publishes awaiting their PubAck, and publishes queued behind them.
    pub fn publishes_pending(&self) -> (usize, usize) {
        let inner = self.shared.lock();
        (
            inner.stack.app.pub_acks_in_flight(),
            inner.stack.app.queued_publishes(),
        )
    }
}

impl<R: Runtime> Drop for Connection<R> {
    fn drop(&mut self) {
        // Without close(): close in the background; a session that cannot
        // close any more just stops.
        if !self.shared.ended.is_set() {
            let _ = self.begin_close();
        }
    }
}

/// Marks the connection ended when the driver task finishes, even by a
/// panic: waiters never hang on a dead task.
struct Ended(Arc<Shared>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.lost.set(ClientError::ConnectionClosed);
        self.0.room.notify(usize::MAX);
        self.0.ended.set(());
    }
}
