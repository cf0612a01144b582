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
//! With route TLS (nats-server's `cluster { tls { } }`) the same thread
//! runs the handshake right after the connect, as TLS client, within the
//! route TLS timeout; an accepted route's handshake (as TLS server) runs
//! on a thread of its own too ([`RouteTlsSides::accept`]): the loop only
//! ever registers a route whose handshake is done, so no route session
//! exists before it (nats-server's `createRoute`).
//!
//! [`RouterEvent::DialRoute`]: stan_core::nats::router::RouterEvent::DialRoute
//! [`Router::handle_route_connected`]: stan_core::nats::router::Router::handle_route_connected
//! [`Router::handle_route_dial_failed`]: stan_core::nats::router::Router::handle_route_dial_failed

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stan_core::nats::router::{DialId, RouteUrl};
use stan_tls::{rustls, ClientTls, ServerTls};

/// The outcome of a route dial.
pub(crate) struct Dialled {
    /// The router's dial.
    pub(crate) dial: DialId,
    /// `host:port` dialled, for the session's peer address.
    pub(crate) peer: String,
    /// The connected stream (blocking mode), or `None` when the dial
    /// failed or timed out.
    pub(crate) stream: Option<TcpStream>,
    /// With route TLS: the established session on `stream`, or why the
    /// handshake failed (then `stream` is `None`).
    pub(crate) tls: Option<Result<rustls::Connection, String>>,
}

/// An accepted route's TLS handshake ended ([`RouteTlsSides::accept`]).
pub(crate) struct Accepted {
    /// The remote address.
    pub(crate) peer: String,
    /// The stream (blocking mode) and its established session, or why the
    /// handshake failed (the stream is closed).
    pub(crate) outcome: Result<(TcpStream, rustls::Connection), String>,
}

/// Accepted route handshakes under way at most (a thread each, for up to
/// the route TLS timeout); more connections meanwhile are closed at once.
const MAX_ACCEPT_HANDSHAKES: usize = 64;

/// TLS on routes: the acceptor's side and the solicitor's.
#[derive(Clone)]
pub(crate) struct RouteTlsSides {
    server: ServerTls,
    client: ClientTls,
    /// Accepted route handshakes under way.
    accepting: Arc<AtomicUsize>,
}

impl RouteTlsSides {
    /// Both sides of route TLS.
    pub(crate) fn new(server: ServerTls, client: ClientTls) -> Self {
        RouteTlsSides {
            server,
            client,
            accepting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs an accepted route's handshake (as TLS server, within the
    /// route TLS timeout) on a thread of its own, then hands the outcome
    /// to `deliver`.
    pub(crate) fn accept(
        &self,
        stream: TcpStream,
        peer: String,
        deliver: Arc<dyn Fn(Accepted) -> bool + Send + Sync>,
    ) {
        if self.accepting.fetch_add(1, Ordering::AcqRel) >= MAX_ACCEPT_HANDSHAKES {
            // Too many at once: this one closes.
            self.accepting.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let server = self.server.clone();
        let deadline = Instant::now() + server.handshake_timeout();
        let accepting = Arc::clone(&self.accepting);
        let spawned = std::thread::Builder::new()
            .name("stan-route-tls".into())
            .spawn(move || {
                let outcome = server.accept().map_err(|e| e.to_string()).and_then(|s| {
                    let mut stream = stream;
                    let s = handshake(&mut stream, s.into(), deadline, true)?;
                    Ok((stream, s))
                });
                accepting.fetch_sub(1, Ordering::AcqRel);
                deliver(Accepted { peer, outcome });
            });
        if spawned.is_err() {
            // No thread: the stream closes, as after a failed handshake.
            self.accepting.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Hands a dial's outcome to the loop; false once the loop has ended.
pub(crate) type Deliver = Arc<dyn Fn(Dialled) -> bool + Send + Sync>;

/// Starts route dials off the loop.
pub(crate) struct RouteDialer {
    deliver: Deliver,
    timeout: Duration,
    tls: Option<RouteTlsSides>,
}

impl RouteDialer {
    /// Dials deliver through `deliver`, each within `timeout` (the
    /// cluster's dial timeout); with `tls`, handshaken as TLS client.
    pub(crate) fn new(deliver: Deliver, timeout: Duration, tls: Option<RouteTlsSides>) -> Self {
        RouteDialer {
            deliver,
            timeout,
            tls,
        }
    }

    /// Dials `url` on a thread of its own.
    pub(crate) fn dial(&self, dial: DialId, url: RouteUrl) {
        let deliver = Arc::clone(&self.deliver);
        let timeout = self.timeout;
        let client = self
            .tls
            .as_ref()
            .map(|t| (t.client.clone(), t.server.handshake_timeout()));
        let peer = format!("{}:{}", url.host, url.port);
        let spawned = std::thread::Builder::new()
            .name("stan-route-dial".into())
            .spawn({
                let peer = peer.clone();
                move || {
                    let mut stream = connect(&url, timeout);
                    let tls = match (&mut stream, client) {
                        (Some(sock), Some((client, limit))) => Some(
                            client
                                .connect(&url.host)
                                .map_err(|e| e.to_string())
                                .and_then(|s| {
                                    handshake(sock, s.into(), Instant::now() + limit, false)
                                }),
                        ),
                        _ => None,
                    };
                    if matches!(tls, Some(Err(_))) {
                        stream = None;
                    }
                    deliver(Dialled {
                        dial,
                        peer,
                        stream,
                        tls,
                    });
                }
            });
        if spawned.is_err() {
            // No thread: the dial fails now and the router retries later.
            (self.deliver)(Dialled {
                dial,
                peer,
                stream: None,
                tls: None,
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

/// Runs `session`'s handshake on the blocking `sock` until `deadline`;
/// with `check_first`, the peer's first bytes must open a TLS record (a
/// plain-text route on a TLS route port). The error as logged.
fn handshake(
    sock: &mut TcpStream,
    mut session: rustls::Connection,
    deadline: Instant,
    check_first: bool,
) -> Result<rustls::Connection, String> {
    let timeout = || "timeout".to_owned();
    let limit = |sock: &TcpStream| -> Result<(), String> {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timeout)?;
        sock.set_read_timeout(Some(left))
            .and_then(|()| sock.set_write_timeout(Some(left)))
            .map_err(|e| e.to_string())
    };
    let io_error = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timeout(),
        // Go's wording for a peer that hung up mid-handshake.
        io::ErrorKind::UnexpectedEof => "EOF".to_owned(),
        _ => e.to_string(),
    };
    if check_first {
        let mut first = [0u8; 2];
        loop {
            limit(sock)?;
            let n = sock.peek(&mut first).map_err(io_error)?;
            if n == 0 {
                return Err("EOF".into());
            }
            match stan_tls::looks_like_tls(&first[..n]) {
                Some(true) => break,
                Some(false) => {
                    return Err("tls: first record does not look like a TLS handshake".into())
                }
                None => {}
            }
        }
    }
    while session.is_handshaking() {
        limit(sock)?;
        // A refusal sends its alert before the error comes back.
        let (read, _) = session.complete_io(sock).map_err(io_error)?;
        if read == 0 && session.is_handshaking() && !session.wants_write() {
            return Err("EOF".into());
        }
    }
    limit(sock)?;
    while session.wants_write() {
        session.write_tls(sock).map_err(io_error)?;
    }
    sock.flush().map_err(io_error)?;
    Ok(session)
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

    /// One connection to a fresh listener; the accepted side runs
    /// `server_side` on a thread.
    fn pair<T: Send + 'static>(
        server_side: impl FnOnce(TcpStream) -> T + Send + 'static,
    ) -> (TcpStream, std::thread::JoinHandle<T>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::thread::spawn(move || server_side(listener.accept().unwrap().0));
        (TcpStream::connect(addr).unwrap(), accepted)
    }

    #[test]
    fn route_handshakes_succeed_and_refuse_plain_text_and_silence() {
        let pki = stan_tls::test_certs::TestPki::generate();
        let deadline = || Instant::now() + Duration::from_secs(2);
        let server = pki.server_tls(false);
        let (mut sock, accepted) = pair(move |mut s| {
            let session = server.accept().unwrap().into();
            handshake(&mut s, session, deadline(), true).map(|_| ())
        });
        let session = pki.client_tls(false).connect("127.0.0.1").unwrap().into();
        assert!(handshake(&mut sock, session, deadline(), false).is_ok());
        assert_eq!(accepted.join().unwrap(), Ok(()));

        let server = pki.server_tls(false);
        let (mut sock, accepted) = pair(move |mut s| {
            let session = server.accept().unwrap().into();
            handshake(&mut s, session, deadline(), true).map(|_| ())
        });
        sock.write_all(b"CONNECT {}\r\n").unwrap();
        assert_eq!(
            accepted.join().unwrap(),
            Err("tls: first record does not look like a TLS handshake".to_owned())
        );

        let server = pki.server_tls(false);
        let (_silent, accepted) = pair(move |mut s| {
            let session = server.accept().unwrap().into();
            let soon = Instant::now() + Duration::from_millis(200);
            handshake(&mut s, session, soon, true).map(|_| ())
        });
        assert_eq!(accepted.join().unwrap(), Err("timeout".to_owned()));

        // A client trusting another CA refuses the server's certificate.
        let server = pki.server_tls(false);
        let (mut sock, accepted) = pair(move |mut s| {
            let session = server.accept().unwrap().into();
            handshake(&mut s, session, deadline(), true).map(|_| ())
        });
        let session = pki
            .wrong_ca_client_tls()
            .connect("127.0.0.1")
            .unwrap()
            .into();
        let e = handshake(&mut sock, session, deadline(), false).unwrap_err();
        assert!(e.starts_with("invalid peer certificate"), "{e}");
        assert!(accepted.join().unwrap().is_err());
    }
}
