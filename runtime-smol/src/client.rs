//! The STAN client on smol: [`Connection`] wraps the core's client
//! [`Session`] stacked on a NATS client connection, driven by one task.
//! API calls are requests to that task; every protocol decision is the
//! session's. Publishing beyond the in-flight limit waits for a free slot
//! (a semaphore permit the caller holds until the PubAck).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_core::Stream;
use smol::channel::{self, Receiver, Sender};
use smol::lock::{Semaphore, SemaphoreGuardArc};
use smol::{future, Task};
use stan_core::nats::client::Connection as NatsConnection;
use stan_core::nats::stack::Stack;
use stan_core::stan::client::{ClientError, ClientEvent, ConnectOptions, Session, SubId};
pub use stan_core::stan::client::{StartAt, SubscriptionOptions};
use stan_proto::MsgProto;

use crate::wake::{Latch, SetOnDrop};

/// Options of [`Connection::connect`] beyond the URL and IDs.
#[derive(Debug, Clone)]
pub struct Options {
    /// STAN settings (`cluster_id` and `client_id` are overwritten by
    /// `connect`'s arguments).
    pub stan: ConnectOptions,
    /// Name of the NATS connection (default: the client ID). Credentials
    /// for the NATS server go in the URL (`nats://user:pass@host:port`).
    pub nats_name: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            stan: ConnectOptions::new("", ""),
            nats_name: None,
        }
    }
}

/// Why `connect` failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The URL does not parse.
    Url(String),
    /// The STAN options are invalid, or the server refused.
    Stan(ClientError),
}

impl std::error::Error for ConnectError {}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Url(e) => write!(f, "invalid NATS URL: {e}"),
            ConnectError::Stan(e) => write!(f, "{e}"),
        }
    }
}

/// One reply: a channel of capacity one used as a oneshot.
type Reply<T> = Sender<Result<T, ClientError>>;

fn oneshot<T>() -> (Reply<T>, Receiver<Result<T, ClientError>>) {
    channel::bounded(1)
}

/// A publish on its way: where its outcome goes, and the in-flight slot it
/// holds until then.
struct PublishReply {
    ack: Reply<()>,
    _slot: SemaphoreGuardArc,
}

enum Cmd {
    Publish(String, Bytes, PublishReply),
    Subscribe(String, SubscriptionOptions, Reply<Subscription>),
    Ack(SubId, u64, Reply<()>),
    Unsubscribe(SubId, bool, Reply<()>),
    Close(Reply<()>),
}

/// What the driver task keeps between events.
struct Waiters {
    connected: Option<Reply<()>>,
    /// Publishes waiting for an in-flight slot.
    queued: VecDeque<(String, Bytes, PublishReply)>,
    pub_acks: HashMap<String, PublishReply>,
    subscribing: HashMap<SubId, (Reply<Subscription>, Subscription)>,
    subs: HashMap<SubId, Sender<Msg>>,
    unsubscribing: HashMap<SubId, Reply<()>>,
    closing: Option<Reply<()>>,
    cmd_tx: Sender<Cmd>,
    /// Set when the connection is lost, or when the driver ends.
    ended: Arc<Latch<ClientError>>,
    stop: Sender<()>,
}

/// A NATS Streaming connection.
///
/// ```no_run
/// use stan_smol::{Connection, Options, StartAt, SubscriptionOptions};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let conn = Connection::connect("nats://127.0.0.1:4222", "test-cluster", "me", Options::default()).await?;
/// conn.publish("orders", "hello").await?;
/// let opts = SubscriptionOptions { durable: Some("d".into()), start: StartAt::First, ..Default::default() };
/// let mut sub = conn.subscribe("orders", opts).await?;
/// if let Some(msg) = sub.next().await {
///     println!("{} {:?}", msg.sequence(), msg.data());
/// }
/// sub.close().await?; // the durable stays for a later resume
/// conn.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Connection {
    cmd_tx: Sender<Cmd>,
    slots: Arc<Semaphore>,
    ended: Arc<Latch<ClientError>>,
    task: Option<Task<()>>,
}

fn lock(w: &std::sync::Mutex<Waiters>) -> std::sync::MutexGuard<'_, Waiters> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Connection {
    /// Connects to the NATS server at `url` (`nats://[user:pass@]host:port`,
    /// comma-separated for several) and to the streaming server of
    /// `cluster_id` as `client_id`.
    pub async fn connect(
        url: &str,
        cluster_id: &str,
        client_id: &str,
        options: Options,
    ) -> Result<Connection, ConnectError> {
        let mut stan = options.stan;
        stan.cluster_id = cluster_id.to_owned();
        stan.client_id = client_id.to_owned();
        // No seed chosen: one from OS entropy, never the public test seed.
        stan.seed = crate::seed::or_entropy(stan.seed);
        let nats = stan
            .nats_options(url, options.nats_name)
            .map_err(|e| ConnectError::Url(e.to_string()))?;
        let now = Instant::now();
        let slots = Arc::new(Semaphore::new(stan.max_pub_acks_in_flight.max(1)));
        let session = Session::new(stan, now, unix_now_ns()).map_err(ConnectError::Stan)?;
        let (cmd_tx, cmd_rx) = channel::unbounded();
        let (stop, stop_rx) = channel::bounded(1);
        let (connected_tx, connected) = oneshot();
        let ended = Arc::new(Latch::default());
        let waiters = Waiters {
            connected: Some(connected_tx),
            queued: VecDeque::new(),
            pub_acks: HashMap::new(),
            subscribing: HashMap::new(),
            subs: HashMap::new(),
            unsubscribing: HashMap::new(),
            closing: None,
            cmd_tx: cmd_tx.clone(),
            ended: Arc::clone(&ended),
            stop,
        };
        let task = smol::spawn(async move {
            let _ended = SetOnDrop(Arc::clone(&waiters.ended), ClientError::ConnectionClosed);
            // Both callbacks need the waiters; they never run at the same time.
            let waiters = std::sync::Mutex::new(waiters);
            let mut stack = Stack::new(NatsConnection::new(nats, now), session, now);
            let reason = crate::external::drive_with(
                &mut stack,
                &stop_rx,
                &cmd_rx,
                |s, cmd| lock(&waiters).command(s, cmd),
                |s| lock(&waiters).events(s),
            )
            .await;
            let mut waiters = waiters.into_inner().unwrap_or_else(|e| e.into_inner());
            // The NATS connection is gone for good.
            stack.app.handle_nats_closed(Instant::now(), reason);
            waiters.events(&mut stack);
            // Refuse new requests; dropping the queued ones fails their replies.
            cmd_rx.close();
            while cmd_rx.try_recv().is_ok() {}
            waiters.fail_all();
        });
        let result = connected
            .recv()
            .await
            .unwrap_or(Err(ClientError::ConnectionClosed));
        let conn = Connection {
            cmd_tx,
            slots,
            ended,
            task: Some(task),
        };
        match result {
            Ok(()) => Ok(conn),
            Err(e) => Err(ConnectError::Stan(e)),
        }
    }

    /// Publishes and waits for the PubAck.
    pub async fn publish(&self, channel: &str, data: impl Into<Bytes>) -> Result<(), ClientError> {
        self.publish_async(channel, data).await?.await
    }

    /// Publishes; returns once the message is handed to the connection
    /// (waiting while `max_pub_acks_in_flight` publishes are unacknowledged)
    /// with a [`PubAckFuture`] resolving to its PubAck's outcome.
    pub async fn publish_async(
        &self,
        channel: &str,
        data: impl Into<Bytes>,
    ) -> Result<PubAckFuture, ClientError> {
        let slot = future::or(async { Some(self.slots.acquire_arc().await) }, async {
            self.ended.wait().await;
            None
        })
        .await
        .ok_or(ClientError::ConnectionClosed)?;
        let (ack, rx) = oneshot();
        self.send(Cmd::Publish(
            channel.to_owned(),
            data.into(),
            PublishReply { ack, _slot: slot },
        ))?;
        Ok(PubAckFuture { rx: Box::pin(rx) })
    }

    /// Subscribes to `channel`.
    pub async fn subscribe(
        &self,
        channel: &str,
        options: SubscriptionOptions,
    ) -> Result<Subscription, ClientError> {
        let (tx, rx) = oneshot();
        self.send(Cmd::Subscribe(channel.to_owned(), options, tx))?;
        rx.recv()
            .await
            .unwrap_or(Err(ClientError::ConnectionClosed))
    }

    /// Closes the connection (pending publishes fail with
    /// `stan: connection closed`).
    pub async fn close(mut self) -> Result<(), ClientError> {
        let (tx, rx) = oneshot();
        self.send(Cmd::Close(tx))?;
        let r = rx
            .recv()
            .await
            .unwrap_or(Err(ClientError::ConnectionClosed));
        if let Some(task) = self.task.take() {
            task.await;
        }
        r
    }

    /// Resolves when the connection is lost (server replaced this client,
    /// pings failed, NATS connection closed), with the reason. After
    /// [`Connection::close`] or a failed connect it resolves to
    /// [`ClientError::ConnectionClosed`].
    pub async fn connection_lost(&self) -> ClientError {
        self.ended.wait().await
    }

    fn send(&self, cmd: Cmd) -> Result<(), ClientError> {
        self.cmd_tx
            .try_send(cmd)
            .map_err(|_| ClientError::ConnectionClosed)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Without close(): stop the task; the server forgets us by heartbeats.
        if let Some(task) = self.task.take() {
            let (tx, _) = oneshot();
            let _ = self.cmd_tx.try_send(Cmd::Close(tx));
            task.detach();
        }
    }
}

impl Waiters {
    fn command(&mut self, s: &mut Stack<Session>, cmd: Cmd) {
        let now = Instant::now();
        match cmd {
            Cmd::Publish(channel, data, reply) => {
                if self.queued.is_empty() {
                    self.try_publish(s, now, channel, data, reply);
                } else {
                    self.queued.push_back((channel, data, reply));
                }
            }
            Cmd::Subscribe(channel, options, reply) => {
                match s.app.subscribe(now, &channel, &options) {
                    Ok(id) => {
                        let (tx, rx) = channel::unbounded();
                        self.subs.insert(id, tx);
                        let sub = Subscription {
                            id,
                            cmd_tx: self.cmd_tx.clone(),
                            rx: Box::pin(rx),
                            manual_ack: options.manual_ack,
                            done: false,
                        };
                        self.subscribing.insert(id, (reply, sub));
                    }
                    Err(e) => {
                        let _ = reply.try_send(Err(e));
                    }
                }
            }
            Cmd::Ack(id, seq, reply) => {
                let _ = reply.try_send(s.app.ack(now, id, seq));
            }
            Cmd::Unsubscribe(id, close, reply) => match s.app.unsubscribe(now, id, close) {
                Ok(()) => {
                    self.unsubscribing.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.try_send(Err(e));
                }
            },
            Cmd::Close(reply) => match s.app.close(now) {
                Ok(()) => self.closing = Some(reply),
                Err(e) => {
                    let _ = reply.try_send(if s.app.is_done() { Ok(()) } else { Err(e) });
                    let _ = self.stop.try_send(());
                }
            },
        }
    }

    fn try_publish(
        &mut self,
        s: &mut Stack<Session>,
        now: Instant,
        channel: String,
        data: Bytes,
        reply: PublishReply,
    ) -> bool {
        match s.app.publish(now, &channel, data.clone()) {
            Ok(guid) => {
                self.pub_acks.insert(guid, reply);
                true
            }
            Err(ClientError::TooManyPubAcksInFlight) => {
                self.queued.push_front((channel, data, reply));
                false
            }
            Err(e) => {
                let _ = reply.ack.try_send(Err(e));
                true
            }
        }
    }

    fn events(&mut self, s: &mut Stack<Session>) {
        let mut freed = false;
        while let Some(event) = s.app.poll_event() {
            match event {
                ClientEvent::Connected => {
                    if let Some(tx) = self.connected.take() {
                        let _ = tx.try_send(Ok(()));
                    }
                }
                ClientEvent::ConnectFailed(e) => {
                    if let Some(tx) = self.connected.take() {
                        let _ = tx.try_send(Err(e));
                    }
                }
                ClientEvent::PubAck { guid, result } => {
                    freed = true;
                    if let Some(reply) = self.pub_acks.remove(&guid) {
                        let _ = reply.ack.try_send(result);
                    }
                }
                ClientEvent::Subscribed { sub, result } => {
                    if let Some((tx, handle)) = self.subscribing.remove(&sub) {
                        match result {
                            Ok(()) => {
                                let _ = tx.try_send(Ok(handle));
                            }
                            Err(e) => {
                                self.subs.remove(&sub);
                                let _ = tx.try_send(Err(e));
                            }
                        }
                    }
                }
                ClientEvent::Message { sub, msg } => {
                    if let Some(tx) = self.subs.get(&sub) {
                        let _ = tx.try_send(Msg {
                            msg,
                            sub,
                            cmd_tx: self.cmd_tx.clone(),
                        });
                    }
                }
                ClientEvent::Unsubscribed { sub, result } => {
                    self.subs.remove(&sub);
                    if let Some(tx) = self.unsubscribing.remove(&sub) {
                        let _ = tx.try_send(result);
                    }
                }
                ClientEvent::ConnectionLost(e) => {
                    self.ended.set(e);
                }
                ClientEvent::Closed(result) => {
                    if let Some(tx) = self.closing.take() {
                        let _ = tx.try_send(result);
                    }
                }
                _ => {}
            }
        }
        if freed {
            let now = Instant::now();
            while let Some((channel, data, reply)) = self.queued.pop_front() {
                if reply.ack.is_closed() {
                    continue; // the caller gave up
                }
                if !self.try_publish(s, now, channel, data, reply) {
                    break;
                }
            }
        }
    }

    fn fail_all(&mut self) {
        self.ended.set(ClientError::ConnectionClosed);
        for (_, _, reply) in self.queued.drain(..) {
            let _ = reply.ack.try_send(Err(ClientError::ConnectionClosed));
        }
        for (_, reply) in self.pub_acks.drain() {
            let _ = reply.ack.try_send(Err(ClientError::ConnectionClosed));
        }
        if let Some(tx) = self.connected.take() {
            let _ = tx.try_send(Err(ClientError::ConnectionClosed));
        }
        if let Some(tx) = self.closing.take() {
            let _ = tx.try_send(Ok(()));
        }
        self.subs.clear();
    }
}

/// Resolves to the outcome of one publish.
#[derive(Debug)]
pub struct PubAckFuture {
    rx: Pin<Box<Receiver<Result<(), ClientError>>>>,
}

impl PubAckFuture {
    /// The outcome if it is already known, without waiting.
    pub fn try_result(&mut self) -> Option<Result<(), ClientError>> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(channel::TryRecvError::Empty) => None,
            Err(channel::TryRecvError::Closed) => Some(Err(ClientError::ConnectionClosed)),
        }
    }
}

impl Future for PubAckFuture {
    type Output = Result<(), ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.rx
            .as_mut()
            .poll_next(cx)
            .map(|r| r.unwrap_or(Err(ClientError::ConnectionClosed)))
    }
}

/// A subscription: a [`Stream`](futures_core::Stream) of [`Msg`]s.
#[derive(Debug)]
pub struct Subscription {
    id: SubId,
    cmd_tx: Sender<Cmd>,
    rx: Pin<Box<Receiver<Msg>>>,
    manual_ack: bool,
    /// Unsubscribed or closed through the API (no close on drop).
    done: bool,
}

impl Subscription {
    /// The next message (`None` once the subscription or connection ended).
    pub async fn next(&mut self) -> Option<Msg> {
        self.rx.recv().await.ok()
    }

    /// Whether messages must be acked with [`Msg::ack`].
    pub fn is_manual_ack(&self) -> bool {
        self.manual_ack
    }

    /// Removes the subscription (a durable is deleted).
    pub async fn unsubscribe(mut self) -> Result<(), ClientError> {
        self.end(false).await
    }

    /// Closes the subscription (a durable is kept for a later resume).
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.end(true).await
    }

    async fn end(&mut self, close: bool) -> Result<(), ClientError> {
        self.done = true;
        let (tx, rx) = oneshot();
        self.cmd_tx
            .try_send(Cmd::Unsubscribe(self.id, close, tx))
            .map_err(|_| ClientError::ConnectionClosed)?;
        rx.recv()
            .await
            .unwrap_or(Err(ClientError::ConnectionClosed))
    }
}

impl Drop for Subscription {
    /// A subscription dropped without [`Subscription::unsubscribe`] or
    /// [`Subscription::close`] is closed (a durable is kept), so the server
    /// stops sending messages nobody will read.
    fn drop(&mut self) {
        if !self.done {
            let (tx, _) = oneshot();
            let _ = self.cmd_tx.try_send(Cmd::Unsubscribe(self.id, true, tx));
        }
    }
}

impl Stream for Subscription {
    type Item = Msg;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Msg>> {
        self.rx.as_mut().poll_next(cx)
    }
}

/// A received message.
#[derive(Debug)]
pub struct Msg {
    msg: MsgProto,
    sub: SubId,
    cmd_tx: Sender<Cmd>,
}

impl Msg {
    /// Channel sequence.
    pub fn sequence(&self) -> u64 {
        self.msg.sequence
    }

    /// Payload.
    pub fn data(&self) -> &Bytes {
        &self.msg.data
    }

    /// Channel name.
    pub fn subject(&self) -> &str {
        &self.msg.subject
    }

    /// Unix nanoseconds at storage.
    pub fn timestamp(&self) -> i64 {
        self.msg.timestamp
    }

    /// Whether this is a redelivery.
    pub fn redelivered(&self) -> bool {
        self.msg.redelivered
    }

    /// Redeliveries so far.
    pub fn redelivery_count(&self) -> u32 {
        self.msg.redelivery_count
    }

    /// The whole protobuf message.
    pub fn proto(&self) -> &MsgProto {
        &self.msg
    }

    /// Acks the message (manual-ack subscriptions).
    pub async fn ack(&self) -> Result<(), ClientError> {
        let (tx, rx) = oneshot();
        self.cmd_tx
            .try_send(Cmd::Ack(self.sub, self.msg.sequence, tx))
            .map_err(|_| ClientError::BadConnection)?;
        rx.recv().await.unwrap_or(Err(ClientError::BadConnection))
    }
}
