//! `stan-bench`: the Go stan-bench workload against a NATS Streaming
//! server: N publishers, M subscribers, message count and size, publishes
//! synchronous or asynchronous with a window of outstanding PubAcks.
//!
//! By default each publisher and subscriber is a `stan_tokio::Connection`
//! (the library client). With `--raw` they are instead minimal STAN state
//! machines written here over the core's NATS connection
//! (`stan_core::nats::stack`): the same protocol with none of the client
//! API's bookkeeping, as a reference for what the client costs.
//!
//! ```text
//! stan-bench [-s URL] [-c CLUSTER] [-id PREFIX] [-np N] [-ns M] [-n COUNT] [-ms SIZE] [-a] [-mpa WINDOW] [--raw] [--embedded]
//! ```
//! With `--embedded` the benchmark starts our server (embedded NATS router
//! and engine, memory store) in process on a free loopback port.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_cli::flags::{self, Kind, Spec};
use stan_core::nats::client::{ClientOptions, Connection};
use stan_core::nats::stack::{NatsApp, Stack};
use stan_core::nats::{InboundMessage, NatsCommand};
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_proto::{
    Ack, CloseRequest, ConnectRequest, ConnectResponse, Message, MsgProto, PubAck, PubMsg,
    SubscriptionRequest, SubscriptionResponse,
};
use stan_tokio::{Latch, Notify, Tokio};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

const SPECS: &[Spec] = &[
    Spec {
        names: &["s"],
        kind: Kind::Str,
        value: "url",
        help: "NATS server URL(s) (default nats://127.0.0.1:4222)",
    },
    Spec {
        names: &["c"],
        kind: Kind::Str,
        value: "string",
        help: "cluster ID (default test-cluster)",
    },
    Spec {
        names: &["id"],
        kind: Kind::Str,
        value: "string",
        help: "client ID prefix (default benchmark)",
    },
    Spec {
        names: &["np"],
        kind: Kind::Int,
        value: "int",
        help: "number of publishers (default 1)",
    },
    Spec {
        names: &["ns"],
        kind: Kind::Int,
        value: "int",
        help: "number of subscribers (default 0)",
    },
    Spec {
        names: &["n"],
        kind: Kind::Int,
        value: "int",
        help: "messages to publish, in total (default 100000)",
    },
    Spec {
        names: &["ms"],
        kind: Kind::Int,
        value: "int",
        help: "message size (default 128)",
    },
    Spec {
        names: &["a"],
        kind: Kind::Bool,
        value: "",
        help: "publish asynchronously (window of -mpa PubAcks)",
    },
    Spec {
        names: &["mpa"],
        kind: Kind::Int,
        value: "int",
        help: "max outstanding PubAcks with -a (default 1000)",
    },
    Spec {
        names: &["runtime"],
        kind: Kind::Str,
        value: "name",
        help: "runtime of the benchmark clients: tokio (default), smol or mio",
    },
    Spec {
        names: &["raw"],
        kind: Kind::Bool,
        value: "",
        help: "use the minimal protocol-level bench client instead of stan-tokio's Connection (a reference for the client's cost)",
    },
    Spec {
        names: &["embedded"],
        kind: Kind::Bool,
        value: "",
        help: "run our server in process on a free port",
    },
];

/// Timestamps and counts of one side (publishers or subscribers).
#[derive(Debug, Default)]
struct Side {
    count: AtomicU64,
    errors: AtomicU64,
    span: Mutex<Option<(Instant, Instant)>>,
}

impl Side {
    fn record(&self, now: Instant) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut s = self.span.lock().unwrap_or_else(|e| e.into_inner());
        *s = Some(match *s {
            None => (now, now),
            Some((a, _)) => (a, now),
        });
    }

    fn span(&self) -> Option<(Instant, Instant)> {
        *self.span.lock().unwrap_or_else(|e| e.into_inner())
    }
}

enum Role {
    Pub {
        channel: String,
        total: u64,
        sent: u64,
        acked: u64,
        window: u64,
        data: Bytes,
    },
    Sub {
        channel: String,
        expected: u64,
        received: u64,
        ack_inbox: Bytes,
    },
}

/// One benchmark client: a STAN client reduced to what the workload needs.
struct BenchClient {
    id: String,
    cluster: String,
    role: Role,
    connect: Option<ConnectResponse>,
    commands: VecDeque<NatsCommand>,
    side: Arc<Side>,
    /// Told once connected (publishers) or subscribed (subscribers).
    ready: UnboundedSender<()>,
    /// Told once the workload is done and the close request answered.
    done: UnboundedSender<()>,
    finished: bool,
}

const SID_HB: u64 = 1;
const SID_REPLY: u64 = 2;
const SID_ACKS: u64 = 3;
const SID_DELIVERY: u64 = 4;
const TOKEN_CONNECT: &str = "c";
const TOKEN_SUB: &str = "s";
const TOKEN_CLOSE: &str = "x";

impl BenchClient {
    fn new(
        id: String,
        cluster: String,
        role: Role,
        side: Arc<Side>,
        ready: UnboundedSender<()>,
        done: UnboundedSender<()>,
    ) -> Self {
        let mut c = BenchClient {
            id,
            cluster,
            role,
            connect: None,
            commands: VecDeque::new(),
            side,
            ready,
            done,
            finished: false,
        };
        let sub = |sid, subject: String| NatsCommand::Subscribe {
            sid,
            subject: subject.into(),
            queue: None,
        };
        c.commands.push_back(sub(SID_HB, format!("_HB.{}", c.id)));
        c.commands
            .push_back(sub(SID_REPLY, format!("_INBOX.{}.*", c.id)));
        c.commands
            .push_back(sub(SID_ACKS, format!("_STAN.acks.{}", c.id)));
        if matches!(c.role, Role::Sub { .. }) {
            c.commands
                .push_back(sub(SID_DELIVERY, format!("_DLV.{}", c.id)));
        }
        let req = ConnectRequest {
            client_id: c.id.clone(),
            heartbeat_inbox: format!("_HB.{}", c.id),
            protocol: 1,
            conn_id: Bytes::from(c.id.clone()),
            ping_interval: 5,
            ping_max_out: 88,
        };
        c.request(
            format!("_STAN.discover.{}", c.cluster),
            TOKEN_CONNECT,
            req.encode_to_vec(),
        );
        c
    }

    fn request(&mut self, subject: String, token: &str, payload: Vec<u8>) {
        self.commands.push_back(NatsCommand::Publish {
            subject: subject.into(),
            reply: Some(format!("_INBOX.{}.{token}", self.id).into()),
            payload: payload.into(),
        });
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Some(c) = &self.connect {
            let req = CloseRequest {
                client_id: self.id.clone(),
            };
            let subject = c.close_requests.clone();
            self.request(subject, TOKEN_CLOSE, req.encode_to_vec());
        }
    }

    fn pump_publishes(&mut self) {
        let Some(prefix) = self.connect.as_ref().map(|c| c.pub_prefix.clone()) else {
            return;
        };
        if let Role::Pub {
            channel,
            total,
            sent,
            acked,
            window,
            data,
        } = &mut self.role
        {
            while *sent < *total && *sent - *acked < *window {
                *sent += 1;
                let msg = PubMsg {
                    client_id: self.id.clone(),
                    guid: format!("{}-{}", self.id, sent),
                    subject: channel.clone(),
                    data: data.clone(),
                    conn_id: Bytes::from(self.id.clone()),
                    ..PubMsg::default()
                };
                self.commands.push_back(NatsCommand::Publish {
                    subject: format!("{prefix}.{channel}").into(),
                    reply: Some(format!("_STAN.acks.{}", self.id).into()),
                    payload: msg.encode_to_vec().into(),
                });
            }
        }
    }
}

impl NatsApp for BenchClient {
    fn handle_message(&mut self, now: Instant, msg: InboundMessage) {
        match msg.sid {
            SID_HB => {
                if let Some(reply) = msg.reply {
                    self.commands.push_back(NatsCommand::Publish {
                        subject: reply,
                        reply: None,
                        payload: Bytes::new(),
                    });
                }
            }
            SID_REPLY => {
                let token = msg
                    .subject
                    .rsplit(|b| *b == b'.')
                    .next()
                    .unwrap_or_default()
                    .to_vec();
                match token.as_slice() {
                    b"c" => {
                        let Ok(resp) = ConnectResponse::decode(msg.payload) else {
                            return;
                        };
                        if !resp.error.is_empty() {
                            eprintln!("stan-bench: connect {}: {}", self.id, resp.error);
                            self.side.errors.fetch_add(1, Ordering::Relaxed);
                            let _ = self.done.send(());
                            return;
                        }
                        let sub_subject = resp.sub_requests.clone();
                        self.connect = Some(resp);
                        match &self.role {
                            Role::Sub { channel, .. } => {
                                let req = SubscriptionRequest {
                                    client_id: self.id.clone(),
                                    subject: channel.clone(),
                                    inbox: format!("_DLV.{}", self.id),
                                    max_in_flight: 1024,
                                    ack_wait_in_secs: 30,
                                    ..SubscriptionRequest::default()
                                };
                                self.request(sub_subject, TOKEN_SUB, req.encode_to_vec());
                            }
                            Role::Pub { .. } => {
                                let _ = self.ready.send(());
                                self.pump_publishes();
                            }
                        }
                    }
                    b"s" => {
                        let Ok(resp) = SubscriptionResponse::decode(msg.payload) else {
                            return;
                        };
                        if !resp.error.is_empty() {
                            eprintln!("stan-bench: subscribe {}: {}", self.id, resp.error);
                        }
                        if let Role::Sub { ack_inbox, .. } = &mut self.role {
                            *ack_inbox = resp.ack_inbox.into();
                        }
                        let _ = self.ready.send(());
                    }
                    b"x" => {
                        let _ = self.done.send(());
                    }
                    _ => {}
                }
            }
            SID_ACKS => {
                let Ok(ack) = PubAck::decode(msg.payload) else {
                    return;
                };
                if !ack.error.is_empty() {
                    self.side.errors.fetch_add(1, Ordering::Relaxed);
                }
                self.side.record(now);
                let complete = match &mut self.role {
                    Role::Pub { acked, total, .. } => {
                        *acked += 1;
                        *acked == *total
                    }
                    Role::Sub { .. } => false,
                };
                if complete {
                    self.finish();
                } else {
                    self.pump_publishes();
                }
            }
            SID_DELIVERY => {
                let Ok(m) = MsgProto::decode(msg.payload) else {
                    return;
                };
                self.side.record(now);
                if let Role::Sub {
                    channel,
                    expected,
                    received,
                    ack_inbox,
                } = &mut self.role
                {
                    *received += 1;
                    let ack = Ack {
                        subject: channel.clone(),
                        sequence: m.sequence,
                    };
                    self.commands.push_back(NatsCommand::Publish {
                        subject: ack_inbox.clone(),
                        reply: None,
                        payload: ack.encode_to_vec().into(),
                    });
                    if *received == *expected {
                        self.finish();
                    }
                }
            }
            _ => {}
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_command(&mut self) -> Option<NatsCommand> {
        self.commands.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[derive(Clone)]
struct Settings {
    url: String,
    cluster: String,
    prefix: String,
    pubs: u64,
    subs: u64,
    count: u64,
    size: usize,
    window: u64,
    raw: bool,
    runtime: String,
}

/// Largest message (`-ms`): 64 MiB, far above a NATS server's default
/// `max_payload` (1 MiB); a larger payload buffer would only exhaust memory.
const MAX_MSG_SIZE: i64 = 64 << 20;

fn options(v: &flags::Values) -> Result<(Settings, bool), String> {
    let int = |name: &str, default: i64, min: i64, max: i64| -> Result<u64, String> {
        let n = v.int(name).unwrap_or(default);
        if n < min || n > max {
            return Err(flags::FlagError::BadValue {
                flag: format!("-{name}"),
                value: n.to_string(),
                why: if max == i64::MAX {
                    format!("must be at least {min}")
                } else {
                    format!("out of range {min}..={max}")
                },
            }
            .to_string());
        }
        u64::try_from(n).map_err(|_| format!("-{name}: {n} cannot be negative"))
    };
    let window = if v.flag("a") {
        int("mpa", 1000, 1, i64::MAX)?
    } else {
        1
    };
    Ok((
        Settings {
            url: v.get("s").unwrap_or("nats://127.0.0.1:4222").to_owned(),
            cluster: v.get("c").unwrap_or("test-cluster").to_owned(),
            prefix: v.get("id").unwrap_or("benchmark").to_owned(),
            pubs: int("np", 1, 1, i64::MAX)?,
            subs: int("ns", 0, 0, i64::MAX)?,
            count: int("n", 100_000, 1, i64::MAX)?,
            size: usize::try_from(int("ms", 128, 0, MAX_MSG_SIZE)?)
                .map_err(|_| "-ms: too large".to_owned())?,
            window,
            raw: v.flag("raw"),
            runtime: match v
                .get("runtime")
                .unwrap_or("tokio")
                .to_ascii_lowercase()
                .as_str()
            {
                r @ ("tokio" | "smol" | "mio") => r.to_owned(),
                other => {
                    return Err(format!(
                        "unknown runtime {other:?} (expected tokio, smol or mio)"
                    ))
                }
            },
        },
        v.flag("embedded"),
    ))
}

fn main() -> ExitCode {
    // Before any thread exists: smol's executor sizes itself once.
    stan_cli::smol_threads_default();
    let v = match flags::parse(SPECS, std::env::args().skip(1)) {
        Ok(v) => v,
        Err(flags::FlagError::Help) => {
            print!("{}", flags::usage("stan-bench", SPECS));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stan-bench: {e}");
            eprint!("{}", flags::usage("stan-bench", SPECS));
            return ExitCode::from(2);
        }
    };
    let (mut settings, embedded) = match options(&v) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stan-bench: {e}");
            eprint!("{}", flags::usage("stan-bench", SPECS));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stan-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let mut server = None;
        if embedded {
            let config = stan_core::nats::router::RouterConfig::default();
            match stan_tokio::RouterServer::bind("127.0.0.1:0", config).await {
                Ok(s) => {
                    settings.url = format!("nats://{}", s.local_addr());
                    let engine = ServerConfig {
                        cluster_id: settings.cluster.clone(),
                        ..ServerConfig::default()
                    };
                    let store = MemStore::new(engine.limits.max_channels);
                    let handle = s.run_engine(engine, store, |_| {});
                    server = Some((s, handle));
                }
                Err(e) => {
                    eprintln!("stan-bench: cannot start the embedded server: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        let code = match run(&settings).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("stan-bench: {e}");
                ExitCode::FAILURE
            }
        };
        if let Some((s, handle)) = server {
            handle.stop().await;
            s.shutdown().await;
        }
        code
    })
}

async fn run(s: &Settings) -> Result<(), String> {
    if s.raw {
        return run_raw(s).await;
    }
    match s.runtime.as_str() {
        "smol" | "mio" => {
            let settings = s.clone();
            tokio::task::spawn_blocking(move || run_threads(&settings))
                .await
                .map_err(|e| e.to_string())?
        }
        _ => run_client(s).await,
    }
}

/// The workload on the smol or mio client, one OS thread per publisher and
/// subscriber (each smol one runs its own `block_on`).
fn run_threads(s: &Settings) -> Result<(), String> {
    let channel = format!("{}.bench", s.prefix);
    let pub_side = Arc::new(Side::default());
    let sub_side = Arc::new(Side::default());
    let limit = Duration::from_secs(120);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let mut threads = Vec::new();
    for i in 0..s.subs {
        let (s2, channel, side, ready) = (
            s.clone(),
            channel.clone(),
            Arc::clone(&sub_side),
            ready_tx.clone(),
        );
        let id = format!("{}-sub-{i}", s.prefix);
        threads.push(std::thread::spawn(move || match s2.runtime.as_str() {
            "smol" => smol::block_on(async {
                let mut o = stan_smol::Options::default();
                o.stan.max_pub_acks_in_flight = s2.window as usize;
                let conn = match stan_smol::Connection::connect(&s2.url, &s2.cluster, &id, o).await
                {
                    Ok(c) => c,
                    Err(e) => return drop(ready.send(Err(e.to_string()))),
                };
                let mut sub = match conn
                    .subscribe(&channel, stan_smol::SubscriptionOptions::default())
                    .await
                {
                    Ok(sub) => sub,
                    Err(e) => return drop(ready.send(Err(e.to_string()))),
                };
                let _ = ready.send(Ok(()));
                for _ in 0..s2.count {
                    let next = smol::future::or(async { sub.next().await }, async {
                        smol::Timer::after(limit).await;
                        None
                    });
                    if next.await.is_none() {
                        break;
                    }
                    side.record(Instant::now());
                }
                let _ = conn.close().await;
            }),
            _ => {
                let mut o = stan_mio::Options::default();
                o.stan.max_pub_acks_in_flight = s2.window as usize;
                let conn = match stan_mio::Connection::connect(&s2.url, &s2.cluster, &id, o) {
                    Ok(c) => c,
                    Err(e) => return drop(ready.send(Err(e.to_string()))),
                };
                let sub = match conn.subscribe(&channel, stan_mio::SubscriptionOptions::default()) {
                    Ok(sub) => sub,
                    Err(e) => return drop(ready.send(Err(e.to_string()))),
                };
                let _ = ready.send(Ok(()));
                for _ in 0..s2.count {
                    if sub.recv_timeout(limit).is_none() {
                        break;
                    }
                    side.record(Instant::now());
                }
                let _ = conn.close();
            }
        }));
    }
    for _ in 0..s.subs {
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "subscribers not ready within 10 s".to_string())??;
    }
    let per_pub = s.count / s.pubs;
    for i in 0..s.pubs {
        let n = if i == s.pubs - 1 {
            s.count - per_pub * (s.pubs - 1)
        } else {
            per_pub
        };
        let (s2, channel, side) = (s.clone(), channel.clone(), Arc::clone(&pub_side));
        let id = format!("{}-pub-{i}", s.prefix);
        let data = Bytes::from(vec![b'x'; s.size]);
        threads.push(std::thread::spawn(move || {
            let settle = |ok: bool| {
                if !ok {
                    side.errors.fetch_add(1, Ordering::Relaxed);
                }
                side.record(Instant::now());
            };
            match s2.runtime.as_str() {
                "smol" => smol::block_on(async {
                    let mut o = stan_smol::Options::default();
                    o.stan.max_pub_acks_in_flight = s2.window as usize;
                    let Ok(conn) =
                        stan_smol::Connection::connect(&s2.url, &s2.cluster, &id, o).await
                    else {
                        return;
                    };
                    let mut pending = VecDeque::new();
                    for _ in 0..n {
                        match conn.publish_async(&channel, data.clone()).await {
                            Ok(f) => pending.push_back(f),
                            Err(_) => settle(false),
                        }
                        while let Some(r) = pending
                            .front_mut()
                            .and_then(|f: &mut stan_smol::PubAckFuture| f.try_result())
                        {
                            pending.pop_front();
                            settle(r.is_ok());
                        }
                    }
                    for f in pending {
                        settle(f.await.is_ok());
                    }
                    let _ = conn.close().await;
                }),
                _ => {
                    let mut o = stan_mio::Options::default();
                    o.stan.max_pub_acks_in_flight = s2.window as usize;
                    let Ok(conn) = stan_mio::Connection::connect(&s2.url, &s2.cluster, &id, o)
                    else {
                        return;
                    };
                    let mut pending = VecDeque::new();
                    for _ in 0..n {
                        match conn.publish_async(&channel, data.clone()) {
                            Ok(h) => pending.push_back(h),
                            Err(_) => settle(false),
                        }
                        while let Some(r) = pending
                            .front()
                            .and_then(|h: &stan_mio::PubAckHandle| h.wait_timeout(Duration::ZERO))
                        {
                            pending.pop_front();
                            settle(r.is_ok());
                        }
                    }
                    for h in pending {
                        settle(h.wait().is_ok());
                    }
                    let _ = conn.close();
                }
            }
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    let received = sub_side.count.load(Ordering::Relaxed);
    if received < s.count * s.subs {
        return Err(format!(
            "subscribers received {received} of {}",
            s.count * s.subs
        ));
    }
    report(s, &pub_side, &sub_side);
    Ok(())
}

/// The workload on `stan_tokio::Connection`, one connection per
/// publisher and subscriber.
async fn run_client(s: &Settings) -> Result<(), String> {
    use stan_tokio::{Connection, Options, SubscriptionOptions};
    let channel = format!("{}.bench", s.prefix);
    let data = Bytes::from(vec![b'x'; s.size]);
    let pub_side = Arc::new(Side::default());
    let sub_side = Arc::new(Side::default());
    let connect = |id: String| {
        let url = s.url.clone();
        let cluster = s.cluster.clone();
        let window = s.window;
        async move {
            let mut options = Options::default();
            options.stan.max_pub_acks_in_flight = usize::try_from(window).unwrap_or(usize::MAX);
            Connection::connect(&url, &cluster, &id, options)
                .await
                .map_err(|e| format!("{id}: {e}"))
        }
    };
    let limit = Duration::from_secs(120);
    let mut subs = Vec::new();
    for i in 0..s.subs {
        let conn = connect(format!("{}-sub-{i}", s.prefix)).await?;
        let mut sub = conn
            .subscribe(&channel, SubscriptionOptions::default())
            .await
            .map_err(|e| format!("subscribe: {e}"))?;
        let side = Arc::clone(&sub_side);
        let expected = s.count;
        subs.push(tokio::spawn(async move {
            let mut n = 0;
            while n < expected {
                match tokio::time::timeout(limit, sub.next()).await {
                    Ok(Some(_)) => {
                        side.record(Instant::now());
                        n += 1;
                    }
                    _ => break,
                }
            }
            let _ = conn.close().await;
            n
        }));
    }
    let per_pub = s.count / s.pubs;
    let mut pubs = Vec::new();
    for i in 0..s.pubs {
        let n = if i == s.pubs - 1 {
            s.count - per_pub * (s.pubs - 1)
        } else {
            per_pub
        };
        let conn = connect(format!("{}-pub-{i}", s.prefix)).await?;
        let side = Arc::clone(&pub_side);
        let channel = channel.clone();
        let data = data.clone();
        let sync = s.window <= 1;
        pubs.push(tokio::spawn(async move {
            // Outstanding PubAcks, oldest first: checked without waiting
            // after each publish, awaited at the end.
            let mut pending: VecDeque<stan_tokio::PubAckFuture> = VecDeque::new();
            let settle = |r: Result<(), stan_tokio::ClientError>, side: &Side| {
                if r.is_err() {
                    side.errors.fetch_add(1, Ordering::Relaxed);
                }
                side.record(Instant::now());
            };
            for _ in 0..n {
                if sync {
                    let r = conn.publish(&channel, data.clone()).await;
                    settle(r, &side);
                    continue;
                }
                match conn.publish_async(&channel, data.clone()).await {
                    Ok(f) => pending.push_back(f),
                    Err(_) => {
                        side.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                while let Some(r) = pending.front_mut().and_then(|f| f.try_result()) {
                    pending.pop_front();
                    settle(r, &side);
                }
            }
            for f in pending {
                settle(f.await, &side);
            }
            let _ = conn.close().await;
        }));
    }
    let all = async {
        for p in pubs {
            let _ = p.await;
        }
        let mut received = 0;
        for t in subs {
            received += t.await.unwrap_or(0);
        }
        received
    };
    let received = tokio::time::timeout(limit, all)
        .await
        .map_err(|_| format!("timed out after {limit:?}"))?;
    if received < s.count * s.subs {
        return Err(format!(
            "subscribers received {received} of {}",
            s.count * s.subs
        ));
    }
    report(s, &pub_side, &sub_side);
    Ok(())
}

/// The workload on the minimal protocol-level clients above.
async fn run_raw(s: &Settings) -> Result<(), String> {
    let channel = format!("{}.bench", s.prefix);
    let data = Bytes::from(vec![b'x'; s.size]);
    let pub_side = Arc::new(Side::default());
    let sub_side = Arc::new(Side::default());
    let (ready_tx, mut ready) = unbounded_channel();
    let (done_tx, mut done) = unbounded_channel();
    let mut clients = Vec::new();
    let connect_limit = Duration::from_secs(10);
    // Subscribers first, all subscribed before anyone publishes.
    for i in 0..s.subs {
        let role = Role::Sub {
            channel: channel.clone(),
            expected: s.count,
            received: 0,
            ack_inbox: Bytes::new(),
        };
        let app = BenchClient::new(
            format!("{}-sub-{i}", s.prefix),
            s.cluster.clone(),
            role,
            Arc::clone(&sub_side),
            ready_tx.clone(),
            done_tx.clone(),
        );
        clients.push(spawn(s, app)?);
    }
    for _ in 0..s.subs {
        tokio::time::timeout(connect_limit, ready.recv())
            .await
            .map_err(|_| {
                "subscribers not ready within 10 s (is the server running?)".to_string()
            })?;
    }
    let per_pub = s.count / s.pubs;
    for i in 0..s.pubs {
        let n = if i == s.pubs - 1 {
            s.count - per_pub * (s.pubs - 1)
        } else {
            per_pub
        };
        let role = Role::Pub {
            channel: channel.clone(),
            total: n,
            sent: 0,
            acked: 0,
            window: s.window,
            data: data.clone(),
        };
        let app = BenchClient::new(
            format!("{}-pub-{i}", s.prefix),
            s.cluster.clone(),
            role,
            Arc::clone(&pub_side),
            ready_tx.clone(),
            done_tx.clone(),
        );
        clients.push(spawn(s, app)?);
    }
    let limit = Duration::from_secs(120);
    let all_done = async {
        for _ in 0..(s.pubs + s.subs) {
            done.recv().await;
        }
    };
    let finished = tokio::time::timeout(limit, all_done).await;
    for (stop, task) in clients {
        stop.set(());
        let _ = task.await;
    }
    if finished.is_err() {
        return Err(format!(
            "timed out after {limit:?}: {} PubAcks, {} deliveries",
            pub_side.count.load(Ordering::Relaxed),
            sub_side.count.load(Ordering::Relaxed)
        ));
    }
    report(s, &pub_side, &sub_side);
    Ok(())
}

/// Runs one benchmark client on its own connection.
fn spawn(
    s: &Settings,
    app: BenchClient,
) -> Result<(Arc<Latch<()>>, tokio::task::JoinHandle<()>), String> {
    let mut opts = ClientOptions::with_servers(&s.url).map_err(|e| e.to_string())?;
    opts.name = Some(app.id.clone());
    opts.max_reconnects = Some(0);
    opts.seed = stan_tokio::entropy_seed();
    let now = Instant::now();
    let stop = Arc::new(Latch::default());
    let stop_task = Arc::clone(&stop);
    let task = tokio::spawn(async move {
        let cell = std::sync::Mutex::new(Stack::new(Connection::new(opts, now), app, now));
        let _ = stan_tokio::drive(&Tokio, &cell, &Notify::default(), &stop_task).await;
    });
    Ok((stop, task))
}

fn rate(count: u64, span: Option<(Instant, Instant)>) -> (f64, Duration) {
    match span {
        Some((a, b)) if b > a => (count as f64 / (b - a).as_secs_f64(), b - a),
        _ => (0.0, Duration::ZERO),
    }
}

fn report(s: &Settings, pubs: &Side, subs: &Side) {
    let pub_count = pubs.count.load(Ordering::Relaxed);
    let sub_count = subs.count.load(Ordering::Relaxed);
    println!(
        "Starting benchmark [msgs={}, msgsize={}, pubs={}, subs={}, async={} window={}, client={}]",
        s.count,
        s.size,
        s.pubs,
        s.subs,
        s.window > 1,
        s.window,
        if s.raw {
            "raw".to_owned()
        } else {
            format!("stan-{}", s.runtime)
        }
    );
    let (pr, pd) = rate(pub_count, pubs.span());
    let (sr, sd) = rate(sub_count, subs.span());
    let start = [pubs.span(), subs.span()]
        .into_iter()
        .flatten()
        .map(|(a, _)| a)
        .min();
    let end = [pubs.span(), subs.span()]
        .into_iter()
        .flatten()
        .map(|(_, b)| b)
        .max();
    let total = match (start, end) {
        (Some(a), Some(b)) if b > a => (pub_count + sub_count) as f64 / (b - a).as_secs_f64(),
        _ => 0.0,
    };
    println!(
        "Pub stats: {:.0} msgs/sec ({} PubAcks in {:?}, {} errors)",
        pr,
        pub_count,
        pd,
        pubs.errors.load(Ordering::Relaxed)
    );
    if s.subs > 0 {
        println!(
            "Sub stats: {:.0} msgs/sec ({} messages in {:?})",
            sr, sub_count, sd
        );
    }
    println!(
        "NATS Streaming Pub/Sub stats: {:.0} msgs/sec ~ {:.2} MB/sec",
        total,
        total * s.size as f64 / 1_000_000.0
    );
}
