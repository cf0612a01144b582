//! The workloads: who subscribes where, and one timed run of a workload
//! against a [`Target`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::client::{self, Reader};
use super::target::{Node, Target};
use super::BenchError;

/// A workload: one publisher on the first node, subscribers as
/// [`subscribers`](Self::subscribers) says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Nobody subscribes.
    PubOnly,
    /// One subscriber on the publisher's node.
    PubSub,
    /// Five members of one queue group on the publisher's node.
    Queue5,
    /// One subscriber on the second node: every message crosses the route.
    RoutePubSub,
    /// Five members of one queue group on the second node: every message
    /// crosses the route once, and the second node picks the member.
    RouteQueue5,
    /// One queue group with two members on each node: the publisher's node
    /// sends a message over the route when it picks a remote member.
    RouteQueueSplit,
}

/// The workloads of one server.
pub const SINGLE: [Workload; 3] = [Workload::PubOnly, Workload::PubSub, Workload::Queue5];
/// The workloads of two clustered servers.
pub const ROUTED: [Workload; 3] = [
    Workload::RoutePubSub,
    Workload::RouteQueue5,
    Workload::RouteQueueSplit,
];

impl Workload {
    /// A label for reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::PubOnly => "publish only",
            Workload::PubSub => "1 pub -> 1 sub",
            Workload::Queue5 => "1 pub -> 5 queue subs",
            Workload::RoutePubSub => "route pub -> sub",
            Workload::RouteQueue5 => "route pub -> 5 queue",
            Workload::RouteQueueSplit => "route queue 2 + 2",
        }
    }

    /// Whether it needs two clustered nodes.
    pub fn routed(self) -> bool {
        ROUTED.contains(&self)
    }

    /// The node of each subscriber.
    pub fn subscribers(self) -> &'static [Node] {
        use Node::{First, Second};
        match self {
            Workload::PubOnly => &[],
            Workload::PubSub => &[First],
            Workload::Queue5 => &[First; 5],
            Workload::RoutePubSub => &[Second],
            Workload::RouteQueue5 => &[Second; 5],
            Workload::RouteQueueSplit => &[First, First, Second, Second],
        }
    }

    /// The queue group its subscribers join, if any.
    pub fn queue(self) -> Option<&'static str> {
        match self {
            Workload::Queue5 | Workload::RouteQueue5 | Workload::RouteQueueSplit => Some("workers"),
            _ => None,
        }
    }
}

/// What one run measured.
#[derive(Clone, Copy, Debug)]
pub struct Measure {
    /// Messages per second, from the first publish to the last message
    /// counted.
    pub rate: f64,
    /// Messages received on the second node.
    pub crossed: u64,
}

/// Runs `workload` once on `target`: `msgs` messages of `size` bytes.
/// Subscribers on the second node are probed until their interest reached
/// the first one; the clock starts after.
pub fn run(
    target: &Target,
    workload: Workload,
    size: usize,
    msgs: u64,
) -> Result<Measure, BenchError> {
    let subject = format!("bench.{size}");
    let mut publisher = client::open(target.port(Node::First))?;
    publisher.ping()?;
    let (local, remote) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut readers = Vec::new();
    for (i, &node) in workload.subscribers().iter().enumerate() {
        let mut conn = client::open(target.port(node))?;
        client::subscribe(&mut conn, &subject, workload.queue(), &i.to_string())?;
        let node_count = match node {
            Node::First => Arc::clone(&local),
            Node::Second => {
                client::wait_interest(&mut publisher, &mut conn, &i.to_string())?;
                Arc::clone(&remote)
            }
        };
        readers.push(Reader { conn, node_count });
    }
    let rate = client::drive(publisher, readers, &subject, size, msgs)?;
    Ok(Measure {
        rate,
        crossed: remote.load(Ordering::Acquire),
    })
}
