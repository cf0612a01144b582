//! What the monitoring snapshots must show after the scenario's traffic
//! (a client publishing [`SENT`] messages to [`CHANNEL`] and receiving
//! them on a durable manual-ack subscription without acknowledging them),
//! whatever the runtime: `stan-async`'s scenario (`mod.rs`) and
//! `stan-mio`'s monitor tests (which include this file) check with it.

#![allow(dead_code)]

use stan_core::nats::router::RouterSnapshot;
use stan_core::stan::server::EngineSnapshot;

/// The client's ID.
pub const CLIENT: &str = "monitored";
/// The channel published to.
pub const CHANNEL: &str = "orders";
/// The durable subscription's name.
pub const DURABLE: &str = "audit";
/// Messages published (and delivered, not acknowledged).
pub const SENT: u64 = 3;

/// Where the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In process, attached to the router.
    Embedded,
    /// Against the router as an external NATS server.
    External,
}

/// What the engine's snapshot must show after the traffic; returns the
/// subscription's inbox.
pub fn check_engine(snap: &EngineSnapshot) -> String {
    assert_eq!(snap.cluster_id, "test-cluster");
    let ch = snap
        .channels
        .iter()
        .find(|c| c.name == CHANNEL)
        .unwrap_or_else(|| panic!("channel {CHANNEL} in {:?}", snap.channels));
    assert_eq!((ch.msgs, ch.first_seq, ch.last_seq), (SENT, 1, SENT));
    assert_eq!(ch.subs_count, 1);
    assert_eq!(ch.subscriptions.len(), 1, "{:?}", ch.subscriptions);
    let sub = &ch.subscriptions[0];
    assert_eq!(sub.client_id, CLIENT);
    assert_eq!(sub.durable_name, DURABLE);
    assert!(sub.is_durable && !sub.is_offline);
    assert_eq!(sub.last_sent, SENT);
    assert_eq!(sub.pending_count, SENT as usize);
    assert_eq!(snap.total_msgs(), SENT);
    assert_eq!(snap.subscription_count, 1);
    let client = snap
        .clients
        .iter()
        .find(|c| c.id == CLIENT)
        .unwrap_or_else(|| panic!("client {CLIENT} in {:?}", snap.clients));
    assert_eq!(client.subs_count, 1);
    assert_eq!(sub.client_id, CLIENT);
    sub.inbox.to_string()
}

/// What the router's snapshot must show after the traffic: the client's
/// connection, with its subscriptions, among them the delivery inbox
/// `inbox` having delivered the [`SENT`] messages.
pub fn check_router(snap: &RouterSnapshot, inbox: &str, mode: Mode) {
    let sub = snap
        .subscriptions_list
        .iter()
        .find(|s| s.subject == inbox)
        .unwrap_or_else(|| panic!("a subscription to {inbox} in {:?}", snap.subscriptions_list));
    assert_eq!(sub.msgs, SENT);
    let conn = snap
        .connections
        .iter()
        .find(|c| c.cid == sub.cid)
        .unwrap_or_else(|| panic!("connection {} in {:?}", sub.cid, snap.connections));
    assert!(!conn.in_process);
    assert!(!conn.peer.is_empty());
    let listed = snap
        .subscriptions_list
        .iter()
        .filter(|s| s.cid == conn.cid)
        .count();
    // Its inboxes: responses, heartbeats, the subscription's deliveries.
    assert!(conn.subscriptions >= 2, "{conn:?}");
    assert_eq!(conn.subscriptions, listed);
    // The publishes and the requests went in, the acks and deliveries out.
    assert!(conn.stats.in_msgs >= SENT + 2, "{conn:?}");
    assert!(conn.stats.out_msgs >= SENT * 2, "{conn:?}");
    assert!(snap.stats.in_msgs >= conn.stats.in_msgs);
    assert!(snap.stats.total_connections >= 1);
    assert_eq!(
        snap.sublist.num_subscriptions as usize,
        snap.subscriptions_list.len()
    );
    // The engine's own session: in process when embedded, over TCP when
    // external. (A connect refused before the engine subscribed may not
    // be gone yet: at least the client's and the engine's.)
    let in_process = snap.connections.iter().filter(|c| c.in_process).count();
    let expected = match mode {
        Mode::Embedded => 1,
        Mode::External => 0,
    };
    assert_eq!(in_process, expected, "{:?}", snap.connections);
    assert!(snap.connections.len() >= 2, "{:?}", snap.connections);
}
