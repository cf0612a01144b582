//! The harness's clients: connecting (retried while a restarted server
//! still holds an old client of the same ID), the publishers of a round
//! (async publishes with a window of PubAcks in flight, every outcome
//! recorded), and the durable subscriber (manual acks, every delivery
//! recorded, acked by a policy).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stan_tokio::{
    ClientError, Connection, Options, PubAckFuture, StartAt, Subscription, SubscriptionOptions,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::ledger::{lock, SharedLedger};
use super::payload::{mix, Codec, Key};
use super::CrashError;

/// The durable subscriber's client ID, the same in every round: a durable
/// is known by client ID and durable name.
pub const DURABLE_CLIENT: &str = "crash-durable";
/// The durable subscriber's durable name.
pub const DURABLE_NAME: &str = "crash-durable";

/// How long connecting is retried (a restarted server probes the dead
/// client of the same ID before it accepts the new one).
const CONNECT_DEADLINE: Duration = Duration::from_secs(20);
/// Bound of a connection's close (the server may be down: the close
/// request then times out after the connect wait, 2 s).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// The durable's ack wait: unacked messages come back this often.
const ACK_WAIT: Duration = Duration::from_secs(2);
/// The durable's max in flight.
const MAX_IN_FLIGHT: u32 = 1024;

/// What every client task shares.
#[derive(Debug)]
pub struct Ctx {
    /// The server's URL.
    pub url: String,
    /// Its cluster ID.
    pub cluster_id: String,
    /// Channel names; publisher `p` publishes on channel `p % len`.
    pub channels: Vec<String>,
    /// Payloads of this run.
    pub codec: Codec,
    /// What the clients saw.
    pub ledger: SharedLedger,
    /// PubAcks in flight per publisher.
    pub window: usize,
    /// Publishers per round.
    pub publishers: u32,
    /// Publishes left in the run's budget.
    pub budget: AtomicU64,
}

impl Ctx {
    /// The channel index of publisher `p`.
    pub fn channel_of(&self, publisher: u32) -> usize {
        publisher as usize % self.channels.len()
    }

    /// Takes one publish from the budget; false once it is spent.
    fn take_budget(&self) -> bool {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// The options of every connection: a window of `window` PubAcks in
/// flight and no queue behind it (a publish waits for room).
pub fn options(window: usize) -> Options {
    let mut o = Options::default();
    o.stan.max_pub_acks_in_flight = window;
    o.stan.max_queued_publishes = 0;
    o
}

/// Connects as `client_id`, retrying refusals and timeouts for up to 20 s.
/// Returns the connection and how many attempts were refused.
pub async fn connect(ctx: &Ctx, client_id: &str) -> Result<(Connection, u32), CrashError> {
    let until = Instant::now() + CONNECT_DEADLINE;
    let mut refusals = 0;
    loop {
        match Connection::connect(&ctx.url, &ctx.cluster_id, client_id, options(ctx.window)).await {
            Ok(c) => return Ok((c, refusals)),
            Err(e) if Instant::now() < until => {
                refusals += 1;
                if refusals == 1 {
                    crate::crash::debug(format_args!("connect {client_id}: {e}; retrying"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                return Err(CrashError::Connect {
                    client_id: client_id.to_owned(),
                    error: e.to_string(),
                })
            }
        }
    }
}

/// Closes `conn`, bounded; a close that fails (the server is down) still
/// ends the connection.
async fn close(conn: Connection) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
}

/// Waits for `task` up to `bound`, then aborts it.
async fn join_bounded<T>(task: JoinHandle<T>, bound: Duration) -> Option<T> {
    let abort = task.abort_handle();
    match tokio::time::timeout(bound, task).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(_)) => None,
        Err(_) => {
            abort.abort();
            None
        }
    }
}

/// How the durable subscriber acks.
#[derive(Debug, Clone)]
pub enum AckPolicy {
    /// During the rounds: ack every delivery except about one in four
    /// first deliveries (left pending, to be redelivered later).
    Rounds,
    /// Ack every delivery except these sequences, per channel index.
    HoldBack(Arc<Vec<HashSet<u64>>>),
}

impl AckPolicy {
    /// Whether to ack delivery number `count` of `seq` on `channel`.
    pub fn acks(&self, channel: usize, seq: u64, count: u32, redelivered: bool) -> bool {
        match self {
            AckPolicy::Rounds => count > 1 || redelivered || mix(seq ^ 0xac4) % 4 != 0,
            AckPolicy::HoldBack(held) => !held.get(channel).is_some_and(|h| h.contains(&seq)),
        }
    }
}

/// The durable subscriber: one connection, a durable subscription per
/// channel, a task per subscription recording deliveries and acking.
#[derive(Debug)]
pub struct Durable {
    conn: Connection,
    tasks: Vec<JoinHandle<()>>,
    /// Connect attempts refused before this one was accepted.
    pub refusals: u32,
}

impl Durable {
    /// Connects as [`DURABLE_CLIENT`] and resumes (or creates) the durable
    /// on every channel, delivering everything from the first message.
    pub async fn start(ctx: &Arc<Ctx>, policy: AckPolicy) -> Result<Durable, CrashError> {
        lock(&ctx.ledger).new_durable_session();
        let (conn, refusals) = connect(ctx, DURABLE_CLIENT).await?;
        let mut tasks = Vec::new();
        for (ch, name) in ctx.channels.iter().enumerate() {
            let opts = SubscriptionOptions {
                durable: Some(DURABLE_NAME.into()),
                start: StartAt::First,
                manual_ack: true,
                ack_wait: ACK_WAIT,
                max_in_flight: MAX_IN_FLIGHT,
                ..Default::default()
            };
            let sub = conn
                .subscribe(name, opts)
                .await
                .map_err(|error| CrashError::Subscribe {
                    client_id: DURABLE_CLIENT.into(),
                    channel: name.clone(),
                    error,
                })?;
            tasks.push(tokio::spawn(receive(
                Arc::clone(ctx),
                ch,
                sub,
                policy.clone(),
            )));
        }
        Ok(Durable {
            conn,
            tasks,
            refusals,
        })
    }

    /// Closes the connection (the durables are kept) and ends the tasks.
    pub async fn close(self) {
        close(self.conn).await;
        for t in self.tasks {
            join_bounded(t, CLOSE_TIMEOUT).await;
        }
    }
}

/// Records every delivery of `sub` and acks it by `policy`.
async fn receive(ctx: Arc<Ctx>, ch: usize, mut sub: Subscription, policy: AckPolicy) {
    while let Some(msg) = sub.next().await {
        let seq = msg.sequence();
        let ack = match ctx.codec.decode(msg.data()) {
            Ok(payload) => {
                let count = lock(&ctx.ledger).delivery(ch, seq, payload, msg.redelivered());
                policy.acks(ch, seq, count, msg.redelivered())
            }
            Err(e) => {
                lock(&ctx.ledger).corrupt_delivery(ch, seq, e.to_string());
                true
            }
        };
        if ack && msg.ack().await.is_ok() {
            lock(&ctx.ledger).acked(ch, seq);
        }
    }
}

/// The publishers of one round.
#[derive(Debug)]
pub struct Publishers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<(Connection, u64)>>,
    collectors: Vec<JoinHandle<()>>,
    round: u32,
}

impl Publishers {
    /// Connects `ctx.publishers` clients (IDs `crash-pub-<p>-r<round>`,
    /// new in every round) and starts publishing.
    pub async fn start(ctx: &Arc<Ctx>, round: u32) -> Result<Publishers, CrashError> {
        let (stop, stop_rx) = watch::channel(false);
        let mut conns = Vec::new();
        for p in 0..ctx.publishers {
            let (conn, _) = connect(ctx, &format!("crash-pub-{p}-r{round}")).await?;
            conns.push(conn);
        }
        let mut tasks = Vec::new();
        let mut collectors = Vec::new();
        for (p, conn) in (0..ctx.publishers).zip(conns) {
            let (tx, rx) = mpsc::unbounded_channel();
            let ch = ctx.channel_of(p);
            collectors.push(tokio::spawn(collect(Arc::clone(ctx), ch, rx)));
            tasks.push(tokio::spawn(publish(
                Arc::clone(ctx),
                conn,
                round,
                p,
                stop_rx.clone(),
                tx,
            )));
        }
        Ok(Publishers {
            stop,
            tasks,
            collectors,
            round,
        })
    }

    /// Stops publishing, records how many publishes each publisher made,
    /// closes the connections (failing the PubAcks still awaited) and
    /// waits until every outcome is recorded.
    pub async fn stop(self, ctx: &Ctx) {
        let _ = self.stop.send(true);
        let mut closing = Vec::new();
        for (p, task) in (0..).zip(self.tasks) {
            if let Some((conn, count)) = join_bounded(task, CLOSE_TIMEOUT).await {
                lock(&ctx.ledger).attempts.insert((self.round, p), count);
                closing.push(tokio::spawn(close(conn)));
            }
        }
        for c in closing {
            join_bounded(c, CLOSE_TIMEOUT * 2).await;
        }
        for c in self.collectors {
            join_bounded(c, CLOSE_TIMEOUT).await;
        }
    }
}

/// Publishes until told to stop, the budget is spent or the connection
/// fails; hands each PubAck to the collector. Returns the connection and
/// the number of publishes the client took.
async fn publish(
    ctx: Arc<Ctx>,
    conn: Connection,
    round: u32,
    publisher: u32,
    mut stop: watch::Receiver<bool>,
    acks: mpsc::UnboundedSender<(Key, PubAckFuture)>,
) -> (Connection, u64) {
    let channel = &ctx.channels[ctx.channel_of(publisher)];
    let mut counter = 0;
    loop {
        if *stop.borrow() {
            break;
        }
        if !ctx.take_budget() {
            let _ = stop.wait_for(|s| *s).await;
            break;
        }
        let key = Key {
            round,
            publisher,
            counter,
        };
        let data = ctx.codec.encode(key);
        let outcome = tokio::select! {
            r = conn.publish_async(channel, data) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match outcome {
            Ok(ack) => {
                counter += 1;
                let _ = acks.send((key, ack));
            }
            Err(e) => {
                lock(&ctx.ledger).pub_outcome(0, key, Err(format!("publish refused: {e}")));
                let _ = stop.wait_for(|s| *s).await;
                break;
            }
        }
    }
    (conn, counter)
}

/// Awaits each PubAck in order and records its outcome.
async fn collect(
    ctx: Arc<Ctx>,
    channel: usize,
    mut acks: mpsc::UnboundedReceiver<(Key, PubAckFuture)>,
) {
    while let Some((key, ack)) = acks.recv().await {
        let outcome = ack.await.map_err(|e: ClientError| e.to_string());
        lock(&ctx.ledger).pub_outcome(channel, key, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_policy_leaves_about_a_quarter_of_first_deliveries() {
        let p = AckPolicy::Rounds;
        let held = (1..=4000).filter(|&s| !p.acks(0, s, 1, false)).count();
        assert!((800..1200).contains(&held), "{held}");
        assert!((1..=4000).all(|s| p.acks(0, s, 2, false) && p.acks(0, s, 1, true)));
        let h = AckPolicy::HoldBack(Arc::new(vec![HashSet::from([5])]));
        assert!(!h.acks(0, 5, 1, false) && h.acks(0, 6, 1, false) && h.acks(1, 5, 1, false));
    }
}
