//! The blocking STAN client: [`Connection`] wraps the core's client
//! [`Session`] stacked on a NATS client connection, driven by an
//! [`EventLoop`] on a background thread. API calls are commands to that
//! loop, answered over channels; every protocol decision is the session's.
//! The session sends up to `max_pub_acks_in_flight` publishes awaiting
//! their PubAck and queues up to `max_queued_publishes` more; publishing
//! beyond both blocks until one is acknowledged.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_core::nats::stack::Stack;
use stan_core::stan::client::SubscriptionOptions;
use stan_core::stan::client::{ClientError, ClientEvent, PubId, Session, SubId};
use stan_proto::MsgProto;
use stan_tls::ClientTls;

use crate::external::{EventLoop, LoopHandle};
use crate::io::unix_now_ns;

pub use stan_core::stan::client::Options;

/// Why [`Connection::connect`] failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The URL does not parse.
    Url(String),
    /// The STAN options are invalid, or the server refused.
    Stan(ClientError),
    /// The event loop or its thread could not be created.
    Io(io::Error),
}

impl std::error::Error for ConnectError {}

impl From<stan_core::stan::client::ConnectError> for ConnectError {
    fn from(e: stan_core::stan::client::ConnectError) -> Self {
        match e {
            stan_core::stan::client::ConnectError::Url(u) => ConnectError::Url(u),
            stan_core::stan::client::ConnectError::Stan(c) => ConnectError::Stan(c),
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Url(e) => write!(f, "invalid NATS URL: {e}"),
            ConnectError::Stan(e) => write!(f, "{e}"),
            ConnectError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A one-shot answer from the loop.
type Reply<T> = mpsc::Sender<Result<T, ClientError>>;

fn reply_channel<T>() -> (Reply<T>, mpsc::Receiver<Result<T, ClientError>>) {
    mpsc::channel()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Publish slots: as many as the session accepts unacknowledged
/// publishes (`max_pub_acks_in_flight` sent plus `max_queued_publishes`
/// queued), closed when the connection ends.
#[derive(Debug)]
struct Slots {
    /// (free slots, closed)
    state: Mutex<(usize, bool)>,
    cv: Condvar,
}

impl Slots {
    /// Waits for a free slot; `None` once closed.
    fn acquire(self: &Arc<Self>) -> Option<Slot> {
        let guard = lock(&self.state);
        let mut guard = self
            .cv
            .wait_while(guard, |(free, closed)| *free == 0 && !*closed)
            .unwrap_or_else(|e| e.into_inner());
        if guard.1 {
            return None;
        }
        guard.0 -= 1;
        Some(Slot(Arc::clone(self)))
    }

    fn close(&self) {
        lock(&self.state).1 = true;
        self.cv.notify_all();
    }
}

/// A held slot, given back when dropped (once the publish's outcome is
/// known).
#[derive(Debug)]
struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.0.state).0 += 1;
        self.0.cv.notify_one();
    }
}

/// What the loop tells one publish's handle, in order: the session took
/// it (with its id), then its outcome; or only the refusal.
enum PubNews {
    Accepted(PubId),
    Outcome(Result<(), ClientError>),
}

/// A publish on its way: where its news go, and the slot it holds.
struct PublishReply {
    news: mpsc::Sender<PubNews>,
    slot: Slot,
}

/// An accepted publish awaiting its PubAck: where the outcome goes, and
/// the slot it holds until then.
struct PendingAck {
    news: mpsc::Sender<PubNews>,
    _slot: Slot,
}

enum Cmd {
    Publish(String, Bytes, PublishReply),
    Subscribe(String, SubscriptionOptions, Reply<Subscription>),
    Ack(SubId, u64, Reply<()>),
    /// An auto-ack message the application took (acked now).
    Taken(SubId, u64),
    Unsubscribe(SubId, bool, Reply<()>),
    Close(Reply<()>),
}

/// How the connection was lost, once it was.
#[derive(Debug, Default)]
struct Lost {
    reason: Mutex<Option<ClientError>>,
    cv: Condvar,
}

impl Lost {
    fn set(&self, e: ClientError) {
        lock(&self.reason).get_or_insert(e);
        self.cv.notify_all();
    }
}

/// What the loop keeps between events (all on the loop's thread).
struct Waiters {
    connected: Option<Reply<()>>,
    pub_acks: HashMap<PubId, PendingAck>,
    subscribing: HashMap<SubId, (Reply<Subscription>, Subscription)>,
    subs: HashMap<SubId, mpsc::Sender<Msg>>,
    unsubscribing: HashMap<SubId, Reply<()>>,
    closing: Option<Reply<()>>,
    handle: LoopHandle<Cmd>,
    lost: Arc<Lost>,
    slots: Arc<Slots>,
}

/// A NATS Streaming connection with a blocking API. Its event loop runs on
/// a background thread; every method may be called from any thread.
///
/// ```no_run
/// use std::time::Duration;
/// use stan_mio::{Connection, Options, StartAt, SubscriptionOptions};
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let conn = Connection::connect("nats://127.0.0.1:4222", "test-cluster", "me", Options::default())?;
/// conn.publish("orders", "hello")?;
/// let opts = SubscriptionOptions { durable: Some("d".into()), start: StartAt::First, ..Default::default() };
/// let sub = conn.subscribe("orders", opts)?;
/// if let Some(msg) = sub.recv_timeout(Duration::from_secs(1)) {
///     println!("{} {:?}", msg.sequence(), msg.data());
/// }
/// sub.close()?; // the durable stays for a later resume
/// conn.close()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Connection {
    handle: LoopHandle<Cmd>,
    slots: Arc<Slots>,
    lost: Arc<Lost>,
    thread: Option<JoinHandle<()>>,
}

impl Connection {
    /// Connects to the NATS server at `url` (`nats://[user:pass@]host:port`,
    /// or `tls://` for TLS; comma-separated for several) and to the
    /// streaming server of `cluster_id` as `client_id`. Blocks until the
    /// server answered or the connect wait (`options.stan.connect_wait`)
    /// passed.
    pub fn connect(
        url: &str,
        cluster_id: &str,
        client_id: &str,
        options: Options,
    ) -> Result<Connection, ConnectError> {
        Self::connect_tls(url, cluster_id, client_id, options, None)
    }

    /// [`connect`](Self::connect) over TLS with `tls` (a CA, a client
    /// certificate, a server name): the connection upgrades to TLS after
    /// the server's `INFO` (nats.go's `Secure`). Without `tls`, a
    /// `tls://` URL or a server that requires TLS is still upgraded, with
    /// the system's trust anchors.
    pub fn connect_tls(
        url: &str,
        cluster_id: &str,
        client_id: &str,
        options: Options,
        tls: Option<ClientTls>,
    ) -> Result<Connection, ConnectError> {
        let (window, queue) = (
            options.stan.max_pub_acks_in_flight,
            options.stan.max_queued_publishes,
        );
        // Auto-acks go out as the subscription hands each message over, so
        // that max_in_flight bounds what waits in its queue.
        let mut options = options;
        options.stan.ack_when_taken = true;
        // No seed chosen: one from OS entropy, never the public test seed.
        let seed = crate::io::or_entropy(options.stan.seed);
        let now = Instant::now();
        let mut stack = options.start(url, cluster_id, client_id, seed, now, unix_now_ns())?;
        if tls.is_some() {
            stack.conn.set_tls_required(true);
        }
        let slots = Arc::new(Slots {
            state: Mutex::new((window.max(1).saturating_add(queue), false)),
            cv: Condvar::new(),
        });
        let (mut event_loop, handle) = EventLoop::new().map_err(ConnectError::Io)?;
        event_loop.set_tls(tls);
        let (connected_tx, connected) = reply_channel();
        let lost = Arc::new(Lost::default());
        let mut waiters = Waiters {
            connected: Some(connected_tx),
            pub_acks: HashMap::new(),
            subscribing: HashMap::new(),
            subs: HashMap::new(),
            unsubscribing: HashMap::new(),
            closing: None,
            handle: handle.clone(),
            lost: Arc::clone(&lost),
            slots: Arc::clone(&slots),
        };
        let thread = std::thread::Builder::new()
            .name("stan-mio-client".into())
            .spawn(move || {
                // Both callbacks need the waiters; they never run at once.
                let cell = RefCell::new(&mut waiters);
                let reason = event_loop.drive(
                    &mut stack,
                    |s, cmd| cell.borrow_mut().command(s, cmd),
                    |s| cell.borrow_mut().events(s),
                );
                // The NATS connection is gone for good.
                stack.app.handle_nats_closed(Instant::now(), reason);
                waiters.events(&mut stack);
                waiters.fail_all();
            })
            .map_err(ConnectError::Io)?;
        let result = connected
            .recv()
            .unwrap_or(Err(ClientError::ConnectionClosed));
        let mut conn = Connection {
            handle,
            slots,
            lost,
            thread: Some(thread),
        };
        match result {
            Ok(()) => Ok(conn),
            Err(e) => {
                // The loop is stopping on its own; wait for it.
                if let Some(thread) = conn.thread.take() {
                    let _ = thread.join();
                }
                Err(ConnectError::Stan(e))
            }
        }
    }

    /// Publishes and waits for the PubAck.
    pub fn publish(&self, channel: &str, data: impl Into<Bytes>) -> Result<(), ClientError> {
        self.publish_async(channel, data)?.wait()
    }

    /// Publishes; returns once the message is handed to the loop (without
    /// waiting for it) with a [`PubAckHandle`] for its [`PubId`] and its
    /// PubAck's outcome (a refusal by the session is that outcome). Blocks while `max_pub_acks_in_flight +
    /// max_queued_publishes` publishes are unacknowledged.
    pub fn publish_async(
        &self,
        channel: &str,
        data: impl Into<Bytes>,
    ) -> Result<PubAckHandle, ClientError> {
        let slot = self.slots.acquire().ok_or(ClientError::ConnectionClosed)?;
        let (news, rx) = mpsc::channel();
        self.send(Cmd::Publish(
            channel.to_owned(),
            data.into(),
            PublishReply { news, slot },
        ))?;
        Ok(PubAckHandle {
            rx,
            known: RefCell::new(Known::default()),
        })
    }

    /// Subscribes to `channel`; returns once the server confirmed.
    pub fn subscribe(
        &self,
        channel: &str,
        options: SubscriptionOptions,
    ) -> Result<Subscription, ClientError> {
        let (tx, rx) = reply_channel();
        self.send(Cmd::Subscribe(channel.to_owned(), options, tx))?;
        rx.recv().unwrap_or(Err(ClientError::ConnectionClosed))
    }

    /// Closes the connection (pending publishes fail with
    /// `stan: connection closed`) and waits for the loop's thread.
    pub fn close(mut self) -> Result<(), ClientError> {
        let (tx, rx) = reply_channel();
        let sent = self.send(Cmd::Close(tx));
        let result = sent.and_then(|()| rx.recv().unwrap_or(Err(ClientError::ConnectionClosed)));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        result
    }

    /// Waits up to `timeout` for the connection to be lost (server replaced
    /// this client, pings failed, NATS connection closed) and returns why;
    /// `None` if it is still up. Once the connection ended otherwise (after
    /// [`Connection::close`]), returns `ConnectionClosed`.
    pub fn connection_lost(&self, timeout: Duration) -> Option<ClientError> {
        let guard = lock(&self.lost.reason);
        let (guard, _) = self
            .lost
            .cv
            .wait_timeout_while(guard, timeout, |r| r.is_none())
            .unwrap_or_else(|e| e.into_inner());
        guard.clone()
    }

    fn send(&self, cmd: Cmd) -> Result<(), ClientError> {
        self.handle
            .send(cmd)
            .map_err(|_| ClientError::ConnectionClosed)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Without close(): ask the loop to close; do not wait for it.
        if self.thread.is_some() {
            let (tx, _) = reply_channel();
            let _ = self.handle.send(Cmd::Close(tx));
        }
    }
}

impl Waiters {
    fn command(&mut self, s: &mut Stack<Session>, cmd: Cmd) {
        let now = Instant::now();
        match cmd {
            Cmd::Publish(channel, data, reply) => match s.app.publish(now, &channel, data) {
                Ok(id) => {
                    let _ = reply.news.send(PubNews::Accepted(id));
                    let pending = PendingAck {
                        news: reply.news,
                        _slot: reply.slot,
                    };
                    self.pub_acks.insert(id, pending);
                }
                Err(e) => {
                    let _ = reply.news.send(PubNews::Outcome(Err(e)));
                }
            },
            Cmd::Subscribe(channel, options, reply) => {
                match s.app.subscribe(now, &channel, &options) {
                    Ok(id) => {
                        let (tx, rx) = mpsc::channel();
                        self.subs.insert(id, tx);
                        let sub = Subscription {
                            id,
                            handle: self.handle.clone(),
                            rx,
                            manual_ack: options.manual_ack,
                        };
                        self.subscribing.insert(id, (reply, sub));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Cmd::Ack(id, seq, reply) => {
                let _ = reply.send(s.app.ack(now, id, seq));
            }
            Cmd::Taken(id, seq) => s.app.taken(now, id, seq),
            Cmd::Unsubscribe(id, close, reply) => match s.app.unsubscribe(now, id, close) {
                Ok(()) => {
                    self.unsubscribing.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Cmd::Close(reply) => match s.app.close(now) {
                Ok(()) => self.closing = Some(reply),
                Err(e) => {
                    let _ = reply.send(if s.app.is_done() { Ok(()) } else { Err(e) });
                    self.handle.stop();
                }
            },
        }
    }

    fn events(&mut self, s: &mut Stack<Session>) {
        while let Some(event) = s.app.poll_event() {
            match event {
                ClientEvent::Connected => {
                    if let Some(tx) = self.connected.take() {
                        let _ = tx.send(Ok(()));
                    }
                }
                ClientEvent::ConnectFailed(e) => {
                    if let Some(tx) = self.connected.take() {
                        let _ = tx.send(Err(e));
                    }
                }
                ClientEvent::PubAck { id, result } => {
                    if let Some(pending) = self.pub_acks.remove(&id) {
                        let _ = pending.news.send(PubNews::Outcome(result));
                    }
                }
                ClientEvent::Subscribed { sub, result } => {
                    if let Some((tx, handle)) = self.subscribing.remove(&sub) {
                        if result.is_err() {
                            self.subs.remove(&sub);
                        }
                        let _ = tx.send(result.map(|()| handle));
                    }
                }
                ClientEvent::Message { sub, msg } => {
                    if let Some(tx) = self.subs.get(&sub) {
                        let _ = tx.send(Msg {
                            msg,
                            sub,
                            handle: self.handle.clone(),
                        });
                    }
                }
                ClientEvent::Unsubscribed { sub, result } => {
                    self.subs.remove(&sub);
                    if let Some(tx) = self.unsubscribing.remove(&sub) {
                        let _ = tx.send(result);
                    }
                }
                ClientEvent::ConnectionLost(e) => {
                    self.lost.set(e);
                }
                ClientEvent::Closed(result) => {
                    if let Some(tx) = self.closing.take() {
                        let _ = tx.send(result);
                    }
                }
                _ => {}
            }
        }
    }

    /// The loop ended: every waiter learns it.
    fn fail_all(&mut self) {
        self.slots.close();
        for (_, reply) in self.pub_acks.drain() {
            let _ = reply
                .news
                .send(PubNews::Outcome(Err(ClientError::ConnectionClosed)));
        }
        if let Some(tx) = self.connected.take() {
            let _ = tx.send(Err(ClientError::ConnectionClosed));
        }
        if let Some(tx) = self.closing.take() {
            let _ = tx.send(Ok(()));
        }
        self.subscribing.clear();
        self.unsubscribing.clear();
        self.subs.clear();
        self.lost.set(ClientError::ConnectionClosed);
    }
}

/// The outcome of one [`Connection::publish_async`].
#[derive(Debug)]
pub struct PubAckHandle {
    rx: mpsc::Receiver<PubNews>,
    known: RefCell<Known>,
}

/// What a handle has learnt so far.
#[derive(Debug, Default)]
struct Known {
    id: Option<PubId>,
    outcome: Option<Result<(), ClientError>>,
}

impl Known {
    fn learn(&mut self, news: Result<PubNews, ClientError>) {
        match news {
            Ok(PubNews::Accepted(id)) => self.id = Some(id),
            Ok(PubNews::Outcome(r)) => self.outcome = Some(r),
            Err(e) => self.outcome = Some(Err(e)),
        }
    }
}

impl PubAckHandle {
    /// The publish's id in its session (sequential from 1), once the loop
    /// took it (waits for that); the refusal if the session refused it.
    pub fn id(&self) -> Result<PubId, ClientError> {
        let mut known = self.known.borrow_mut();
        loop {
            if let Some(id) = known.id {
                return Ok(id);
            }
            if let Some(Err(e)) = &known.outcome {
                return Err(e.clone());
            }
            known.learn(self.rx.recv().map_err(|_| ClientError::ConnectionClosed));
        }
    }

    /// Waits for the PubAck (bounded by the connection's `pub_ack_wait`).
    pub fn wait(self) -> Result<(), ClientError> {
        let mut known = self.known.into_inner();
        loop {
            if let Some(r) = known.outcome.take() {
                return r;
            }
            known.learn(self.rx.recv().map_err(|_| ClientError::ConnectionClosed));
        }
    }

    /// Waits up to `timeout`; `None` if the outcome is not known yet.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<(), ClientError>> {
        let mut known = self.known.borrow_mut();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = &known.outcome {
                return Some(r.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(news) => known.learn(Ok(news)),
                Err(mpsc::RecvTimeoutError::Timeout) => return None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    known.learn(Err(ClientError::ConnectionClosed));
                }
            }
        }
    }
}

/// A subscription: receive its [`Msg`]s with [`Subscription::recv`],
/// [`Subscription::recv_timeout`] or as an [`Iterator`] (which ends when
/// the subscription or the connection does).
#[derive(Debug)]
pub struct Subscription {
    id: SubId,
    handle: LoopHandle<Cmd>,
    rx: mpsc::Receiver<Msg>,
    manual_ack: bool,
}

impl Subscription {
    /// Waits for the next message (`None` once the subscription or the
    /// connection ended). On an auto-ack subscription, the message is
    /// acked as it is handed over: what the application has not taken yet
    /// stays unacked, so the subscription's `max_in_flight` bounds what
    /// waits here (a slow reader holds the server back; what waits longer
    /// than the ack wait is redelivered, as stan.go does for a slow
    /// handler). The same holds for every way of receiving.
    pub fn recv(&self) -> Option<Msg> {
        self.rx.recv().ok().map(|m| self.took(m))
    }

    /// Waits up to `timeout` for the next message.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Msg> {
        self.rx.recv_timeout(timeout).ok().map(|m| self.took(m))
    }

    /// The next message if one is already here.
    pub fn try_recv(&self) -> Option<Msg> {
        self.rx.try_recv().ok().map(|m| self.took(m))
    }

    /// An auto-ack message handed over: its ack goes out (a loop that is
    /// gone acks nothing, and needs not).
    fn took(&self, msg: Msg) -> Msg {
        if !self.manual_ack {
            let _ = self.handle.send(Cmd::Taken(self.id, msg.msg.sequence));
        }
        msg
    }

    /// Whether messages must be acked with [`Msg::ack`].
    pub fn is_manual_ack(&self) -> bool {
        self.manual_ack
    }

    /// Removes the subscription (a durable is deleted).
    pub fn unsubscribe(self) -> Result<(), ClientError> {
        self.end(false)
    }

    /// Closes the subscription (a durable is kept for a later resume).
    pub fn close(self) -> Result<(), ClientError> {
        self.end(true)
    }

    fn end(&self, close: bool) -> Result<(), ClientError> {
        let (tx, rx) = reply_channel();
        self.handle
            .send(Cmd::Unsubscribe(self.id, close, tx))
            .map_err(|_| ClientError::ConnectionClosed)?;
        rx.recv().unwrap_or(Err(ClientError::ConnectionClosed))
    }
}

impl Iterator for Subscription {
    type Item = Msg;

    fn next(&mut self) -> Option<Msg> {
        self.recv()
    }
}

/// A received message.
#[derive(Debug)]
pub struct Msg {
    msg: MsgProto,
    sub: SubId,
    handle: LoopHandle<Cmd>,
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

    /// Acks the message (manual-ack subscriptions) and waits until the ack
    /// is handed to the connection.
    pub fn ack(&self) -> Result<(), ClientError> {
        let (tx, rx) = reply_channel();
        self.handle
            .send(Cmd::Ack(self.sub, self.msg.sequence, tx))
            .map_err(|_| ClientError::BadConnection)?;
        rx.recv().unwrap_or(Err(ClientError::BadConnection))
    }
}
