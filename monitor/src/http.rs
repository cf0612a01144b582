//! The HTTP server in front of [`Monitor`]: hyper's HTTP/1 server on a
//! thread of its own (a single-threaded tokio runtime), so that monitoring
//! traffic never shares a thread with the message path. Each request's
//! snapshot is taken on tokio's blocking pool ([`Source`] calls may wait
//! for the server's event loop), so a slow snapshot holds neither the
//! accept loop nor other requests.
//!
//! Bounded: at most [`MAX_CONNECTIONS`] connections are served at once
//! (further ones wait in the listen backlog), a client has
//! [`HEADER_TIMEOUT`] to send its request head, and only `GET` and `HEAD`
//! are answered (others get `405`).
//!
//! HTTPS ([`serve_tls`], nats-server's `-ms`/`https_port`): the same
//! server over TLS (tokio-rustls), with the client port's certificate and
//! no client certificate asked, as nats-server serves it; a client has
//! the TLS settings' handshake timeout to complete its handshake.

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use stan_tls::ServerTls;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::handler::{Monitor, Response};
use crate::source::Source;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;

/// Time a client has to send a request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A running monitoring HTTP server. Dropping it stops it too.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, ends the open connections and waits for the
    /// server's thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Serves `monitor` over `source` on `listener` (already bound, so that
/// the caller reports a busy port itself) from a new thread.
pub fn serve(
    listener: TcpListener,
    monitor: Arc<Monitor>,
    source: Arc<dyn Source>,
) -> io::Result<HttpServer> {
    start(listener, monitor, source, None)
}

/// [`serve`] over HTTPS with `tls`'s certificate (nats-server's
/// `https_port`, `-ms`). Client certificates are not asked for, even when
/// `tls` verifies clients on the NATS port (nats-server does the same).
pub fn serve_tls(
    listener: TcpListener,
    monitor: Arc<Monitor>,
    source: Arc<dyn Source>,
    tls: ServerTls,
) -> io::Result<HttpServer> {
    start(
        listener,
        monitor,
        source,
        Some(tls.without_client_verification()),
    )
}

fn start(
    listener: TcpListener,
    monitor: Arc<Monitor>,
    source: Arc<dyn Source>,
    tls: Option<ServerTls>,
) -> io::Result<HttpServer> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, stopped) = watch::channel(false);
    let thread = std::thread::Builder::new()
        .name("stan-monitor".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => accept_loop(listener, monitor, source, tls, stopped).await,
                    Err(e) => eprintln!("stan-monitor: cannot serve: {e}"),
                }
            });
            // Connections still open are dropped with the runtime.
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
    Ok(HttpServer {
        addr,
        stop,
        thread: Some(thread),
    })
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    monitor: Arc<Monitor>,
    source: Arc<dyn Source>,
    tls: Option<ServerTls>,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let tls = tls.map(|t| (TlsAcceptor::from(t.config()), t.handshake_timeout()));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stopped.changed() => return,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => {
                    // Out of descriptors and the like: back off a little.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let monitor = monitor.clone();
        let source = source.clone();
        let mut stopped = stopped.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| answer(req, monitor.clone(), source.clone()));
            let Some((acceptor, timeout)) = tls else {
                return serve_connection(TokioIo::new(stream), service, stopped).await;
            };
            let handshake = tokio::time::timeout(timeout, acceptor.accept(stream));
            let stream = tokio::select! {
                accepted = handshake => match accepted {
                    Ok(Ok(stream)) => stream,
                    // A failed or late handshake: nothing to answer.
                    Ok(Err(_)) | Err(_) => return,
                },
                _ = stopped.changed() => return,
            };
            serve_connection(TokioIo::new(stream), service, stopped).await;
        });
    }
}

/// Serves HTTP/1 requests on one connection until it ends or the server
/// stops.
async fn serve_connection<I, S>(io: I, service: S, mut stopped: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Full<Bytes>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped.changed() => {}
    }
}

async fn answer(
    req: Request<Incoming>,
    monitor: Arc<Monitor>,
    source: Arc<dyn Source>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut resp =
            hyper::Response::new(Full::new(Bytes::from_static(b"405 method not allowed\n")));
        *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(resp);
    }
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let answered = tokio::task::spawn_blocking(move || {
        monitor.handle(&path, query.as_deref(), source.as_ref())
    })
    .await;
    let response = answered.unwrap_or_else(|_| Response {
        status: 500,
        content_type: "text/plain; charset=utf-8",
        body: b"500 internal error\n".to_vec(),
    });
    Ok(to_hyper(response, head))
}

fn to_hyper(response: Response, head: bool) -> hyper::Response<Full<Bytes>> {
    let extra = response.headers();
    let content_type = response.content_type;
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(response.body)
    };
    let mut resp = hyper::Response::new(Full::new(body));
    *resp.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    // An empty type means none (`204 No Content`).
    if !content_type.is_empty() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    for (name, value) in extra {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    resp
}
