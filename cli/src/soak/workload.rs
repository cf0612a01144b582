//! The soak's clients. Per channel: two long-lived publishers (one
//! waiting for each PubAck, one with a window of PubAcks in flight), paced
//! to the run's rate and held back by the limit gate; two durable
//! subscribers and a durable queue group of two members, each coming and
//! going (closing, having its connection cut for good, or cut and
//! reconnected) and resuming; a queue group kept by an anchor member with
//! a member that comes and goes. Over every channel: publishers that
//! connect, publish a burst and close or are cut, and plain subscribers
//! that subscribe at a chosen start, receive a while and leave. Every
//! subscription but the plain ones acks by hand, withholding about one
//! first delivery in eight so that redelivery happens.
//!
//! Every client connects through its own [`Proxy`], so that its
//! connection can be cut as a network would.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fastrand::Rng;
use stan_tokio::{
    ClientError, Connection, Options, PubAckFuture, StartAt, Subscription, SubscriptionOptions,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::ledger::{lock, ConsumerKind, SharedLedger};
use super::payload::Codec;
use super::proxy::Proxy;
use crate::crash::payload::mix;

/// How long connecting is retried (a client ID whose last connection
/// was cut is probed by the server before it is replaced).
const CONNECT_DEADLINE: Duration = Duration::from_secs(30);
/// Requests' timeout (connect, subscribe, close): generous, for a loaded
/// machine and for the probe of a dead client with the same ID.
const REQUEST_WAIT: Duration = Duration::from_secs(10);
/// Bound of a clean close.
const CLOSE_BOUND: Duration = Duration::from_secs(20);
/// The ack wait of every manual-ack subscription.
pub const ACK_WAIT: Duration = Duration::from_secs(1);
/// A draining consumer is done once nothing came for this long (past
/// the ack wait: withheld acks have come back).
const QUIET: Duration = Duration::from_millis(1500);
/// A draining consumer that has not caught up gives up once nothing came
/// for this long (well past the heartbeats' drop of a cut client, whose
/// unacked messages then go to the other members of its group): the
/// final checks report what it misses.
const STALLED: Duration = Duration::from_secs(30);
/// PubAcks in flight of an async publisher.
const WINDOW: usize = 128;
/// Max in flight choices of manual-ack subscriptions.
const MAX_IN_FLIGHT: [u32; 4] = [16, 64, 256, 1024];

/// What the clients share.
#[derive(Debug)]
pub struct Ctx {
    /// The server's address (proxies forward to it).
    pub server: SocketAddr,
    /// Cluster ID.
    pub cluster_id: String,
    /// Channel names.
    pub channels: Vec<String>,
    /// Payloads.
    pub codec: Codec,
    /// What the clients saw.
    pub ledger: SharedLedger,
    /// The run's seed.
    pub seed: u64,
    /// One pacer per channel.
    pub pacers: Vec<Pacer>,
    /// Numbers for client IDs and random streams.
    pub ids: AtomicU32,
}

impl Ctx {
    /// A random stream for a new actor.
    fn rng(&self) -> Rng {
        Rng::with_seed(mix(self.seed ^ u64::from(self.next_id()) << 20))
    }

    /// A number unique in the run.
    fn next_id(&self) -> u32 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}

/// Paces the publishes of one channel: one slot every `interval`,
/// never saving slots up.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    /// A pacer of `per_second` slots a second.
    pub fn new(per_second: f64) -> Pacer {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / per_second.max(0.01)),
            next: Mutex::new(Instant::now()),
        }
    }

    /// The instant of the next slot (taken).
    pub fn slot(&self) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let slot = (*next).max(Instant::now());
        *next = slot + self.interval;
        slot
    }
}

/// The options of every connection.
fn options(window: usize) -> Options {
    let mut o = Options::default();
    o.stan.connect_wait = REQUEST_WAIT;
    o.stan.max_pub_acks_in_flight = window;
    o.stan.max_queued_publishes = 0;
    o
}

/// A proxy and a connection through it, retried for [`CONNECT_DEADLINE`].
async fn connect(ctx: &Ctx, client_id: &str, window: usize) -> Result<(Proxy, Connection), String> {
    let proxy = Proxy::start(ctx.server)
        .await
        .map_err(|e| format!("proxy: {e}"))?;
    let until = Instant::now() + CONNECT_DEADLINE;
    loop {
        match Connection::connect(&proxy.url(), &ctx.cluster_id, client_id, options(window)).await {
            Ok(c) => {
                lock(&ctx.ledger).totals.sessions += 1;
                return Ok((proxy, c));
            }
            Err(e) if Instant::now() < until => {
                super::debug(format_args!("connect {client_id}: {e}; retrying"));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(format!("cannot connect as {client_id}: {e}")),
        }
    }
}

/// Closes cleanly, bounded.
async fn close_clean(conn: Connection) -> bool {
    matches!(
        tokio::time::timeout(CLOSE_BOUND, conn.close()).await,
        Ok(Ok(()))
    )
}

/// Cuts the connection for good: the proxy refuses from now on; the
/// client is closed in the background (its close request cannot reach
/// the server and times out) and the proxy dropped after.
fn cut_for_good(proxy: Proxy, conn: Connection) {
    proxy.kill();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(CLOSE_BOUND, conn.close()).await;
        drop(proxy);
    });
}

/// Waits for `task` up to `bound`, then aborts it; whether it finished.
pub async fn join_bounded<T>(task: JoinHandle<T>, bound: Duration) -> bool {
    let abort = task.abort_handle();
    match tokio::time::timeout(bound, task).await {
        Ok(r) => r.is_ok(),
        Err(_) => {
            abort.abort();
            false
        }
    }
}

/// What the consumers are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Come and go.
    Run,
    /// The publishers have stopped: catch up, ack everything, close.
    Drain,
}

/// How a session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Subscription and connection closed cleanly.
    Close,
    /// The connection cut for good.
    Drop,
    /// The connection cut once and reconnected (NATS reconnect), then a
    /// clean close.
    Blip,
}

fn pick_end(rng: &mut Rng) -> End {
    match rng.u32(0..4) {
        0 => End::Drop,
        1 => End::Blip,
        _ => End::Close,
    }
}

/// A manual-ack consumer's role.
#[derive(Debug)]
pub struct Role {
    /// Client ID (with `fixed_id`) or its prefix.
    pub client_id: String,
    /// The same client ID in every session (durables resume by it).
    pub fixed_id: bool,
    /// The ledger's consumer.
    pub consumer: usize,
    /// Channel index.
    pub channel: usize,
    /// Durable name.
    pub durable: Option<String>,
    /// Queue group.
    pub queue: Option<String>,
    /// Ends sessions and starts new ones while running (an anchor
    /// does not).
    pub cycles: bool,
    /// Stays through the drain until its consumer caught up (a
    /// transient queue member leaves at once).
    pub drains: bool,
    /// Told once the first subscription is made.
    pub ready: Option<oneshot::Sender<()>>,
}

/// A manual-ack consumer: sessions until told to drain, then one last
/// session until caught up (if it drains).
pub async fn consumer(ctx: Arc<Ctx>, mut role: Role, mut signal: watch::Receiver<Signal>) {
    let mut rng = ctx.rng();
    let mut n = 0u32;
    loop {
        let draining = *signal.borrow() == Signal::Drain;
        if draining && !role.drains {
            return;
        }
        n += 1;
        let id = if role.fixed_id {
            role.client_id.clone()
        } else {
            format!("{}-{}-{n}", role.client_id, ctx.next_id())
        };
        let (proxy, conn) = match connect(&ctx, &id, 1).await {
            Ok(c) => c,
            Err(e) => {
                lock(&ctx.ledger)
                    .violations
                    .push("harness: connect failed", e);
                if draining {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let opts = SubscriptionOptions {
            durable: role.durable.clone(),
            queue: role.queue.clone(),
            start: if role.queue.is_some() && role.durable.is_none() {
                StartAt::NewOnly
            } else {
                StartAt::First
            },
            manual_ack: true,
            ack_wait: ACK_WAIT,
            max_in_flight: MAX_IN_FLIGHT[rng.usize(0..MAX_IN_FLIGHT.len())],
        };
        let sub = match conn.subscribe(&ctx.channels[role.channel], opts).await {
            Ok(s) => s,
            Err(e) => {
                lock(&ctx.ledger)
                    .violations
                    .push("subscribe refused", format!("{id}: {e}"));
                close_clean(conn).await;
                drop(proxy);
                if draining {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Some(r) = role.ready.take() {
            let _ = r.send(());
        }
        let end = if role.cycles {
            pick_end(&mut rng)
        } else {
            End::Close
        };
        let (last, done) =
            session(&ctx, &role, &mut rng, &mut signal, &proxy, &conn, sub, end).await;
        match last {
            End::Drop => {
                lock(&ctx.ledger).totals.drops += 1;
                cut_for_good(proxy, conn);
            }
            _ => {
                lock(&ctx.ledger).totals.closes += 1;
                close_clean(conn).await;
                drop(proxy);
            }
        }
        if done {
            return;
        }
        let pause = Duration::from_millis(rng.u64(300..3000));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = signal.changed() => {}
        }
    }
}

/// One session of a consumer; returns how it ended, and whether the
/// consumer is done (caught up in the drain, or a role that leaves at
/// the drain).
#[allow(clippy::too_many_arguments)]
async fn session(
    ctx: &Ctx,
    role: &Role,
    rng: &mut Rng,
    signal: &mut watch::Receiver<Signal>,
    proxy: &Proxy,
    conn: &Connection,
    mut sub: Subscription,
    end: End,
) -> (End, bool) {
    let k = role.consumer;
    let now = Instant::now();
    let deadline = now + Duration::from_millis(rng.u64(3000..15000));
    let mut blip_at = (end == End::Blip)
        .then(|| now + Duration::from_millis(rng.u64(500..(deadline - now).as_millis() as u64)));
    let mut draining = *signal.borrow() == Signal::Drain;
    let mut drain_start = now;
    let mut check = tokio::time::interval(Duration::from_millis(250));
    loop {
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            m = sub.next() => {
                let Some(msg) = m else {
                    lock(&ctx.ledger).violations.push(
                        "subscription ended unexpectedly",
                        role.client_id.clone(),
                    );
                    return (End::Drop, false);
                };
                let seq = msg.sequence();
                let red = msg.redelivered();
                let withhold = {
                    let mut l = lock(&ctx.ledger);
                    let count = l.delivery(k, seq, msg.data(), red, Instant::now());
                    let w = count == 1
                        && !red
                        && !draining
                        && mix(ctx.seed ^ ((k as u64) << 48) ^ seq) % 8 == 0;
                    if w {
                        l.ack(k, seq, false);
                    }
                    w
                };
                if !withhold && msg.ack().await.is_ok() {
                    lock(&ctx.ledger).ack(k, seq, true);
                }
            }
            e = conn.connection_lost() => {
                lock(&ctx.ledger).violations.push(
                    "client lost unexpectedly",
                    format!("{}: {e}", role.client_id),
                );
                return (End::Drop, false);
            }
            _ = tokio::time::sleep_until(blip_at.unwrap_or(far).into()), if blip_at.is_some() => {
                blip_at = None;
                proxy.blip();
                lock(&ctx.ledger).totals.blips += 1;
            }
            _ = tokio::time::sleep_until(deadline.into()), if role.cycles && !draining => {
                if end == End::Drop {
                    // Cut first: dropping the subscription queues its
                    // close, which must not reach the server.
                    proxy.kill();
                    drop(sub);
                    return (End::Drop, false);
                }
                let _ = tokio::time::timeout(CLOSE_BOUND, sub.close()).await;
                return (End::Close, false);
            }
            r = signal.changed(), if !draining => {
                if r.is_err() || *signal.borrow() == Signal::Drain {
                    if !role.drains {
                        let _ = tokio::time::timeout(CLOSE_BOUND, sub.close()).await;
                        return (End::Close, true);
                    }
                    draining = true;
                    drain_start = Instant::now();
                }
            }
            _ = check.tick(), if draining => {
                let now = Instant::now();
                let (done, stalled) = {
                    let l = lock(&ctx.ledger);
                    let since = l.consumers[k]
                        .last_delivery
                        .map_or(drain_start, |t| t.max(drain_start));
                    let stalled = now.duration_since(since) >= STALLED;
                    (l.caught_up(k, now, QUIET) || stalled, stalled)
                };
                if done {
                    if stalled {
                        super::debug(format_args!("{} gives up the drain", role.client_id));
                    }
                    let _ = tokio::time::timeout(CLOSE_BOUND, sub.close()).await;
                    return (End::Close, true);
                }
            }
        }
    }
}

/// Starts a manual-ack consumer task.
pub fn spawn_consumer(
    ctx: &Arc<Ctx>,
    role: Role,
    signal: &watch::Receiver<Signal>,
) -> JoinHandle<()> {
    tokio::spawn(consumer(Arc::clone(ctx), role, signal.clone()))
}

/// Plain subscribers (auto ack, no durable, no group): each session
/// subscribes to a random channel at a chosen start, receives a few
/// seconds and closes or is cut; what it got is checked at once: the
/// first message is where the start says, and the sequences follow each
/// other without a gap.
pub async fn plain_subscribers(ctx: Arc<Ctx>, mut signal: watch::Receiver<Signal>) {
    let mut rng = ctx.rng();
    while *signal.borrow() == Signal::Run {
        let ch = rng.usize(0..ctx.channels.len());
        let id = format!("soak-plain-{}", ctx.next_id());
        let Ok((proxy, conn)) = connect(&ctx, &id, 1).await else {
            lock(&ctx.ledger)
                .violations
                .push("harness: connect failed", id);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let head = lock(&ctx.ledger).channels[ch].head;
        let start = match rng.u32(0..3) {
            0 => StartAt::LastReceived,
            1 if head > 100 => StartAt::Sequence(head - rng.u64(0..100)),
            _ => StartAt::NewOnly,
        };
        let opts = SubscriptionOptions {
            start,
            ..Default::default()
        };
        let sub = match conn.subscribe(&ctx.channels[ch], opts).await {
            Ok(s) => s,
            Err(e) => {
                lock(&ctx.ledger)
                    .violations
                    .push("subscribe refused", format!("{id}: {e}"));
                close_clean(conn).await;
                continue;
            }
        };
        let drop_it = rng.u32(0..4) == 0;
        let until = Instant::now() + Duration::from_millis(rng.u64(2000..8000));
        let got = plain_session(&ctx, ch, &id, &conn, sub, until, &mut signal).await;
        check_plain(&ctx, ch, &id, start, head, &got);
        if drop_it {
            lock(&ctx.ledger).totals.drops += 1;
            cut_for_good(proxy, conn);
        } else {
            lock(&ctx.ledger).totals.closes += 1;
            close_clean(conn).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(rng.u64(200..2000))) => {}
            _ = signal.changed() => {}
        }
    }
}

/// Receives until `until` or the drain; returns `(sequence, redelivered)`
/// of every delivery.
async fn plain_session(
    ctx: &Ctx,
    ch: usize,
    id: &str,
    conn: &Connection,
    mut sub: Subscription,
    until: Instant,
    signal: &mut watch::Receiver<Signal>,
) -> Vec<(u64, bool)> {
    let mut got = Vec::new();
    loop {
        tokio::select! {
            m = sub.next() => {
                let Some(msg) = m else { break };
                let mut l = lock(&ctx.ledger);
                l.totals.delivered += 1;
                l.totals.redelivered += u64::from(msg.redelivered());
                l.observe(ch, msg.sequence(), msg.data());
                got.push((msg.sequence(), msg.redelivered()));
            }
            e = conn.connection_lost() => {
                lock(&ctx.ledger)
                    .violations
                    .push("client lost unexpectedly", format!("{id}: {e}"));
                break;
            }
            _ = tokio::time::sleep_until(until.into()) => break,
            _ = signal.changed() => break,
        }
    }
    let _ = tokio::time::timeout(CLOSE_BOUND, sub.close()).await;
    got
}

/// The checks of one plain session (see [`plain_subscribers`]).
fn check_plain(ctx: &Ctx, ch: usize, id: &str, start: StartAt, head: u64, got: &[(u64, bool)]) {
    let name = &ctx.channels[ch];
    let mut l = lock(&ctx.ledger);
    let first = got.iter().find(|(_, r)| !r).map(|(s, _)| *s);
    if let Some(first) = first {
        let ok = match start {
            StartAt::Sequence(s) => first == s,
            StartAt::LastReceived => first >= head,
            _ => first > head,
        };
        if !ok {
            l.violations.push(
                "plain subscriber started at the wrong message",
                format!("{id} on {name}: {start:?} (highest seen before {head}) began at #{first}"),
            );
        }
    }
    let mut prev: Option<u64> = None;
    for &(seq, red) in got {
        if red {
            continue;
        }
        if let Some(p) = prev {
            if seq != p + 1 {
                l.violations.push(
                    "plain subscriber: gap or disorder",
                    format!("{id} on {name}: #{p} then #{seq}"),
                );
                break;
            }
        }
        prev = Some(seq);
    }
}

/// How a publisher publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubMode {
    /// Waits for each PubAck.
    Sync,
    /// A window of PubAcks in flight.
    Async,
}

/// One publisher session.
#[derive(Debug, Clone)]
pub struct PubPlan {
    /// Client ID.
    pub client_id: String,
    /// Channel index.
    pub channel: usize,
    /// Phase number.
    pub phase: u32,
    /// Mode.
    pub mode: PubMode,
    /// Publishes at most this many (`None`: until told to stop).
    pub budget: Option<u64>,
    /// Paced by the channel's pacer (the fill is not).
    pub paced: bool,
    /// Cut the connection for good after this many publishes.
    pub cut_after: Option<u64>,
}

/// Publishes by `plan` until its budget is spent, its cut comes or
/// `stop`; every outcome is recorded.
pub async fn publish(ctx: Arc<Ctx>, plan: PubPlan, mut stop: watch::Receiver<bool>) {
    let (proxy, conn) = match connect(&ctx, &plan.client_id, WINDOW).await {
        Ok(c) => c,
        Err(e) => {
            lock(&ctx.ledger)
                .violations
                .push("harness: connect failed", e);
            return;
        }
    };
    let p = lock(&ctx.ledger).new_publisher(plan.channel, plan.phase);
    let cut = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::unbounded_channel();
    let collector = tokio::spawn(collect(Arc::clone(&ctx), rx, Arc::clone(&cut)));
    let channel = &ctx.channels[plan.channel];
    let mut sent = 0u64;
    'publishing: loop {
        if *stop.borrow() || plan.budget.is_some_and(|b| sent >= b) {
            break;
        }
        if plan.cut_after.is_some_and(|c| sent >= c) {
            cut.store(true, Ordering::Relaxed);
            break;
        }
        if plan.paced {
            let slot = ctx.pacers[plan.channel].slot();
            tokio::select! {
                _ = tokio::time::sleep_until(slot.into()) => {}
                _ = stop.changed() => continue,
            }
        }
        let key = loop {
            if let Some(k) = lock(&ctx.ledger).try_reserve(p, Instant::now()) {
                break k;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                _ = stop.changed() => continue 'publishing,
            }
        };
        let data = ctx.codec.encode(key);
        sent += 1;
        match plan.mode {
            PubMode::Sync => {
                let r = conn.publish(channel, data).await;
                lock(&ctx.ledger).outcome(key, r.map_err(|e| e.to_string()), false, Instant::now());
            }
            PubMode::Async => match conn.publish_async(channel, data).await {
                Ok(ack) => {
                    let _ = tx.send((key, ack));
                }
                Err(e) => {
                    lock(&ctx.ledger).outcome(key, Err(e.to_string()), false, Instant::now());
                }
            },
        }
    }
    drop(tx);
    if cut.load(Ordering::Relaxed) {
        lock(&ctx.ledger).totals.drops += 1;
        cut_for_good(proxy, conn);
        join_bounded(collector, CLOSE_BOUND * 2).await;
    } else {
        join_bounded(collector, Duration::from_secs(60)).await;
        lock(&ctx.ledger).totals.closes += 1;
        close_clean(conn).await;
        drop(proxy);
    }
}

/// Awaits each PubAck in order and records its outcome.
async fn collect(
    ctx: Arc<Ctx>,
    mut acks: mpsc::UnboundedReceiver<(super::payload::Key, PubAckFuture)>,
    cut: Arc<AtomicBool>,
) {
    while let Some((key, ack)) = acks.recv().await {
        let r = ack.await.map_err(|e: ClientError| e.to_string());
        let was_cut = cut.load(Ordering::Relaxed);
        lock(&ctx.ledger).outcome(key, r, was_cut, Instant::now());
    }
}

/// Publishers that come and go: each session connects, publishes a
/// burst on a random channel (sync or async) and closes, or is cut part
/// way (async ones with PubAcks in flight).
pub async fn transient_publishers(ctx: Arc<Ctx>, phase: u32, stop: watch::Receiver<bool>) {
    let mut rng = ctx.rng();
    while !*stop.borrow() {
        let budget = rng.u64(20..300);
        let mode = if rng.bool() {
            PubMode::Sync
        } else {
            PubMode::Async
        };
        let plan = PubPlan {
            client_id: format!("soak-pub-t{}", ctx.next_id()),
            channel: rng.usize(0..ctx.channels.len()),
            phase,
            mode,
            budget: Some(budget),
            paced: true,
            cut_after: (rng.u32(0..4) == 0).then(|| rng.u64(0..budget)),
        };
        publish(Arc::clone(&ctx), plan, stop.clone()).await;
        let mut s = stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(rng.u64(200..2000))) => {}
            _ = s.changed() => {}
        }
    }
}

/// Makes the consumer entries of a phase and starts every client task.
/// Returns the consumer tasks, the publisher tasks, and the senders
/// that drain and stop them. The publishers start once every queue
/// group's anchor has subscribed.
pub struct Phase {
    /// Consumer tasks.
    pub consumers: Vec<JoinHandle<()>>,
    /// Publisher tasks.
    pub publishers: Vec<JoinHandle<()>>,
    /// Tells the consumers to drain.
    pub signal: watch::Sender<Signal>,
    /// Tells the publishers to stop.
    pub stop: watch::Sender<bool>,
}

/// The consumers that live across phases (durables and durable queue
/// groups), made once.
#[derive(Debug, Clone)]
pub struct Lasting {
    /// Per channel: the ledger numbers of its two durables and its
    /// durable queue group.
    pub per_channel: Vec<[usize; 3]>,
}

impl Lasting {
    /// Makes the lasting consumers' ledger entries.
    pub fn new(ctx: &Ctx) -> Lasting {
        let mut l = lock(&ctx.ledger);
        let per_channel = (0..ctx.channels.len())
            .map(|c| {
                [
                    l.new_consumer(
                        format!("durable soak-dur-c{c}-0"),
                        ConsumerKind::Durable,
                        c,
                        None,
                    ),
                    l.new_consumer(
                        format!("durable soak-dur-c{c}-1"),
                        ConsumerKind::Durable,
                        c,
                        None,
                    ),
                    l.new_consumer(
                        format!("durable queue group dq{c}"),
                        ConsumerKind::DurableQueue,
                        c,
                        None,
                    ),
                ]
            })
            .collect();
        Lasting { per_channel }
    }
}

/// Starts phase number `phase`; with `fill`, each channel is also filled
/// to `fill` publishes (unpaced) so that the store reaches its limits.
pub async fn start_phase(
    ctx: &Arc<Ctx>,
    lasting: &Lasting,
    phase: u32,
    fill: Option<u64>,
) -> Phase {
    let (signal, signal_rx) = watch::channel(Signal::Run);
    let (stop, stop_rx) = watch::channel(false);
    let mut consumers = Vec::new();
    let mut readies = Vec::new();
    for (c, ks) in lasting.per_channel.iter().enumerate() {
        for (i, &k) in ks[..2].iter().enumerate() {
            consumers.push(spawn_consumer(
                ctx,
                Role {
                    client_id: format!("soak-dur-c{c}-{i}"),
                    fixed_id: true,
                    consumer: k,
                    channel: c,
                    durable: Some("dur".into()),
                    queue: None,
                    cycles: true,
                    drains: true,
                    ready: None,
                },
                &signal_rx,
            ));
        }
        for m in 0..2 {
            consumers.push(spawn_consumer(
                ctx,
                Role {
                    client_id: format!("soak-dq-c{c}-m{m}"),
                    fixed_id: true,
                    consumer: ks[2],
                    channel: c,
                    durable: Some("dq".into()),
                    queue: Some(format!("dq{c}")),
                    cycles: true,
                    drains: true,
                    ready: None,
                },
                &signal_rx,
            ));
        }
        let q = lock(&ctx.ledger).new_consumer(
            format!("queue group q{c} of phase {phase}"),
            ConsumerKind::Queue,
            c,
            Some(phase),
        );
        let (ready, ready_rx) = oneshot::channel();
        readies.push(ready_rx);
        consumers.push(spawn_consumer(
            ctx,
            Role {
                client_id: format!("soak-q-c{c}-anchor-ph{phase}"),
                fixed_id: true,
                consumer: q,
                channel: c,
                durable: None,
                queue: Some(format!("q{c}")),
                cycles: false,
                drains: true,
                ready: Some(ready),
            },
            &signal_rx,
        ));
        consumers.push(spawn_consumer(
            ctx,
            Role {
                client_id: format!("soak-q-c{c}-t"),
                fixed_id: false,
                consumer: q,
                channel: c,
                durable: None,
                queue: Some(format!("q{c}")),
                cycles: true,
                drains: false,
                ready: None,
            },
            &signal_rx,
        ));
    }
    for _ in 0..2 {
        consumers.push(tokio::spawn(plain_subscribers(
            Arc::clone(ctx),
            signal_rx.clone(),
        )));
    }
    for r in readies {
        let _ = tokio::time::timeout(CONNECT_DEADLINE * 2, r).await;
    }
    let mut publishers = Vec::new();
    for c in 0..ctx.channels.len() {
        for (mode, tag) in [(PubMode::Sync, "sync"), (PubMode::Async, "async")] {
            let plan = PubPlan {
                client_id: format!("soak-pub-c{c}-{tag}-ph{phase}"),
                channel: c,
                phase,
                mode,
                budget: None,
                paced: true,
                cut_after: None,
            };
            publishers.push(tokio::spawn(publish(
                Arc::clone(ctx),
                plan,
                stop_rx.clone(),
            )));
        }
        if let Some(fill) = fill {
            let plan = PubPlan {
                client_id: format!("soak-pub-c{c}-fill"),
                channel: c,
                phase,
                mode: PubMode::Async,
                budget: Some(fill),
                paced: false,
                cut_after: None,
            };
            publishers.push(tokio::spawn(publish(
                Arc::clone(ctx),
                plan,
                stop_rx.clone(),
            )));
        }
    }
    for _ in 0..2 {
        publishers.push(tokio::spawn(transient_publishers(
            Arc::clone(ctx),
            phase,
            stop_rx.clone(),
        )));
    }
    Phase {
        consumers,
        publishers,
        signal,
        stop,
    }
}

impl Phase {
    /// Stops the publishers (every outcome in), then drains the consumers
    /// (bounded by `drain`); returns how many consumer tasks had to be
    /// abandoned.
    pub async fn finish(self, drain: Duration) -> usize {
        let _ = self.stop.send(true);
        let until = Instant::now() + Duration::from_secs(90);
        for p in self.publishers {
            let left = until
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1));
            join_bounded(p, left).await;
        }
        let _ = self.signal.send(Signal::Drain);
        let until = Instant::now() + drain;
        let mut abandoned = 0;
        for c in self.consumers {
            let left = until
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1));
            if !join_bounded(c, left).await {
                abandoned += 1;
            }
        }
        abandoned
    }
}
