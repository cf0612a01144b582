//! Streaming over a NATS cluster with our own client: a streaming server
//! attached with `-ns` to one node of three (Debian's `nats-server` and two
//! of ours), our client on another node. The streaming server's node dies:
//! it reconnects to a node it learnt from `connect_urls`; then the client's
//! node dies: the client reconnects to a survivor. Through both, every
//! acknowledged message reaches the durable subscriber and the client's
//! session is never dropped (the server's heartbeats and the client's pings
//! cross the routes). `interop/stan-cluster` checks the same with the
//! official clients.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stan_tokio::{Connection, Options, StartAt, SubscriptionOptions};
use tokio::time::timeout;

mod common;

use common::{cluster_args, free_port, nats_server, spawn_quiet, Kill, T};

/// A NATS node of the cluster: `(client port, child)`.
fn node(ours: bool, cluster: u16, seed: Option<u16>) -> (u16, Kill) {
    let port = free_port();
    let mut cmd = if ours {
        let mut c = Command::new(env!("CARGO_BIN_EXE_stan-server"));
        // Its own streaming cluster id: only `test-cluster` answers clients.
        c.args(["-cid", &format!("node-{port}")]);
        c
    } else {
        Command::new(nats_server())
    };
    let routes: Vec<u16> = seed.into_iter().collect();
    cmd.args(cluster_args(port, cluster, &routes, ""))
        .args(["--cluster_name", "streaming"]);
    (port, spawn_quiet(&mut cmd, &[port]))
}

/// Publishes `text`, retrying while the streaming server is away (a
/// publish without a PubAck in `pub_ack_wait` fails; it is sent again).
async fn publish(c: &Connection, text: &str) {
    let deadline = Instant::now() + 2 * T;
    loop {
        match c.publish("fo", text.to_owned()).await {
            Ok(_) => return,
            Err(e @ stan_tokio::ClientError::ConnectionClosed) => panic!("publish {text}: {e}"),
            Err(e) => assert!(Instant::now() < deadline, "publish {text}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the durable subscriber received: sequences must run from 1
/// without a gap (redeliveries allowed), and every acknowledged text must
/// arrive (a publish retried after a lost PubAck may be stored twice).
#[derive(Default)]
struct Received {
    next_seq: u64,
    texts: std::collections::BTreeSet<String>,
}

impl Received {
    /// Receives until `m1..=m{n}` all arrived.
    async fn until_all(&mut self, sub: &mut stan_tokio::Subscription, n: u32) {
        if self.next_seq == 0 {
            self.next_seq = 1;
        }
        while !(1..=n).all(|i| self.texts.contains(&format!("m{i}"))) {
            let m = timeout(2 * T, sub.next())
                .await
                .unwrap_or_else(|_| panic!("m1..=m{n} in time; got {:?}", self.texts))
                .expect("a message");
            assert!(m.sequence() <= self.next_seq, "gap before {}", m.sequence());
            if m.sequence() == self.next_seq {
                self.next_seq += 1;
            }
            self.texts
                .insert(String::from_utf8_lossy(m.data().as_ref()).into_owned());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_session_survives_the_loss_of_its_servers_node_and_of_its_own() {
    let (c1, c2, c3) = (free_port(), free_port(), free_port());
    let (n1, _debian) = node(false, c1, None);
    let (n2, mut server_node) = node(true, c2, Some(c1));
    let (n3, mut client_node) = node(true, c3, Some(c1));
    // The streaming server on node 2, the client on node 3; short
    // heartbeats so that a session the routes failed to carry would be
    // dropped within the test (3 missed 1 s heartbeats).
    let _stan = Kill(
        Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args(["-ns", &format!("nats://127.0.0.1:{n2}")])
            .args(["-hbi", "1s", "-hbt", "1s", "-hbf", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stan-server starts"),
    );
    let mut options = Options::default();
    options.stan.pub_ack_wait = Duration::from_secs(2);
    options.stan.ping_interval = 1;
    options.stan.ping_max_out = 5;
    let url = format!("nats://127.0.0.1:{n3}");
    let deadline = Instant::now() + 2 * T;
    let c = loop {
        // Until the route carries the streaming server's interest.
        match Connection::connect(&url, "test-cluster", "survivor", options.clone()).await {
            Ok(c) => break c,
            Err(e) => assert!(Instant::now() < deadline, "connect: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let durable = SubscriptionOptions {
        durable: Some("d".into()),
        start: StartAt::First,
        ..Default::default()
    };
    let mut sub = c.subscribe("fo", durable).await.expect("subscribe");
    let mut got = Received::default();
    for i in 1..=10 {
        publish(&c, &format!("m{i}")).await;
    }
    got.until_all(&mut sub, 10).await;

    // The streaming server's node dies: it reconnects to node 1 or 3.
    server_node.0.kill().expect("kill node 2");
    let _ = server_node.0.wait();
    for i in 11..=20 {
        publish(&c, &format!("m{i}")).await;
    }
    got.until_all(&mut sub, 20).await;

    // The client's node dies: the client reconnects to node 1 (learnt from
    // connect_urls), its subscription follows.
    client_node.0.kill().expect("kill node 3");
    let _ = client_node.0.wait();
    for i in 21..=30 {
        publish(&c, &format!("m{i}")).await;
    }
    got.until_all(&mut sub, 30).await;

    // Several heartbeat intervals later the session is still there: a
    // dropped client's publishes would be refused.
    tokio::time::sleep(Duration::from_secs(4)).await;
    publish(&c, "m31").await;
    got.until_all(&mut sub, 31).await;
    let _ = n1;
    c.close().await.expect("close");
}
