//! The servers a run goes to: one node of a binary, or two nodes of it
//! clustered over a loopback route, each a child process killed on drop.

use std::io;
use std::path::Path;
use std::time::Duration;

use crate::raw_nats::{free_port, wait_accepting, Server};

/// The cluster name both nodes of a pair are given.
pub const CLUSTER_NAME: &str = "stan-nats-bench";
/// How long the first node has to open its route listener.
const ROUTE_LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Which node a client connects to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// The publisher's node (the only one of a single server).
    First,
    /// The other node of a pair; messages reach it over the route.
    Second,
}

/// One server, or two clustered over a route.
pub struct Target {
    first: Server,
    second: Option<Server>,
}

impl Target {
    /// `binary` alone on a free loopback port.
    pub fn single(binary: &Path) -> io::Result<Target> {
        Ok(Target {
            first: Server::start(binary, &[])?,
            second: None,
        })
    }

    /// Two nodes of `binary` on free loopback ports, both in cluster
    /// [`CLUSTER_NAME`] with a route listener
    /// (`--cluster nats://127.0.0.1:PORT`); the second solicits the first
    /// (`--routes nats-route://127.0.0.1:PORT`). Returns once both accept
    /// clients; the route may still be connecting (see
    /// [`client::wait_interest`](super::client::wait_interest)).
    pub fn pair(binary: &Path) -> io::Result<Target> {
        let (c1, c2) = (free_port()?, free_port()?);
        let listen = |p: u16| format!("nats://127.0.0.1:{p}");
        let (l1, l2) = (listen(c1), listen(c2));
        let first = Server::start(binary, &["--cluster", &l1, "--cluster_name", CLUSTER_NAME])?;
        if !wait_accepting(c1, ROUTE_LISTEN_TIMEOUT) {
            return Err(io::Error::other(format!(
                "{} never listened for routes on {c1}",
                binary.display()
            )));
        }
        let route = format!("nats-route://127.0.0.1:{c1}");
        let second = Server::start(
            binary,
            &[
                "--cluster",
                &l2,
                "--cluster_name",
                CLUSTER_NAME,
                "--routes",
                &route,
            ],
        )?;
        Ok(Target {
            first,
            second: Some(second),
        })
    }

    /// The client port of `node` (of the only server for a single one).
    pub fn port(&self, node: Node) -> u16 {
        match (node, &self.second) {
            (Node::Second, Some(s)) => s.port,
            _ => self.first.port,
        }
    }
}
