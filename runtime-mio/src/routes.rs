//! Route dials for the mio server: the router asks for one
//! ([`RouterEvent::DialRoute`]); a short-lived thread resolves the route's
//! host and connects within the cluster's dial timeout (a blocking connect
//! and a name lookup have no place on the event loop), then hands the
//! stream — or the failure — back to the loop, which registers it and tells
//! the router ([`Router::handle_route_connected`] /
//! [`Router::handle_route_dial_failed`]). Route dials are rare (the
//! configured routes, gossiped members, one retry a second while a node is
//! down), so a thread each costs nothing that matters.
//!
//! [`RouterEvent::DialRoute`]: stan_core::nats::router::RouterEvent::DialRoute
//! [`Router::handle_route_connected`]: stan_core::nats::router::Router::handle_route_connected
//! [`Router::handle_route_dial_failed`]: stan_core::nats::router::Router::handle_route_dial_failed

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stan_core::nats::router::{DialId, RouteUrl};

/// The outcome of a route dial.
pub(crate) struct Dialled {
    /// The router's dial.
    pub(crate) dial: DialId,
    /// `host:port` dialled, for the session's peer address.
    pub(crate) peer: String,
    /// The connected stream (blocking mode), or `None` when the dial
    /// failed or timed out.
    pub(crate) stream: Option<TcpStream>,
}

/// Hands a dial's outcome to the loop; false once the loop has ended.
pub(crate) type Deliver = Arc<dyn Fn(Dialled) -> bool + Send + Sync>;

/// Starts route dials off the loop.
pub(crate) struct RouteDialer {
    deliver: Deliver,
    timeout: Duration,
}

impl RouteDialer {
    /// Dials deliver through `deliver`, each within `timeout` (the
    /// cluster's dial timeout).
    pub(crate) fn new(deliver: Deliver, timeout: Duration) -> Self {
        RouteDialer { deliver, timeout }
    }

    /// Dials `url` on a thread of its own.
    pub(crate) fn dial(&self, dial: DialId, url: RouteUrl) {
        let deliver = Arc::clone(&self.deliver);
        let timeout = self.timeout;
        let peer = format!("{}:{}", url.host, url.port);
        let spawned = std::thread::Builder::new()
            .name("stan-route-dial".into())
            .spawn({
                let peer = peer.clone();
                move || {
                    let stream = connect(&url, timeout);
                    deliver(Dialled { dial, peer, stream });
                }
            });
        if spawned.is_err() {
            // No thread: the dial fails now and the router retries later.
            (self.deliver)(Dialled {
                dial,
                peer,
                stream: None,
            });
        }
    }
}

/// Connects to the first address of `url` that answers within `timeout`
/// overall.
fn connect(url: &RouteUrl, timeout: Duration) -> Option<TcpStream> {
    let deadline = Instant::now() + timeout;
    let addrs = (url.host.as_str(), url.port).to_socket_addrs().ok()?;
    for addr in addrs {
        let left = deadline.checked_duration_since(Instant::now())?;
        if left.is_zero() {
            return None;
        }
        if let Ok(stream) = TcpStream::connect_timeout(&addr, left) {
            return Some(stream);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_port_connects_and_a_closed_one_fails() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = RouteUrl::parse(&format!("nats-route://127.0.0.1:{port}")).unwrap();
        assert!(connect(&url, Duration::from_secs(2)).is_some());
        drop(listener);
        assert!(connect(&url, Duration::from_secs(2)).is_none());
        let nowhere = RouteUrl::parse("nats-route://no-such-host.invalid:6222").unwrap();
        assert!(connect(&nowhere, Duration::from_secs(2)).is_none());
    }
}
