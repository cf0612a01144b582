//! A [`Stack`] (a NATS-level state machine over a NATS client connection)
//! driven over TCP on tokio, and the STAN engine run that way against an
//! external NATS server (`-ns`). The driver dials when the core asks, moves
//! bytes and time, and makes no protocol decision.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use stan_core::nats::client::{CloseReason, Connection, Event, UrlError};
use stan_core::nats::stack::{NatsApp, Stack};
use stan_core::stan::server::{Server, ServerConfig, ServerEvent};
use stan_core::stan::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::engine::unix_now_ns;

/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;

/// Runs `stack` until its connection closes for good or `stop` is notified.
/// `after_input` runs after every input (to drain app-level outputs such as
/// engine events). Returns the close reason ([`CloseReason::Local`] when
/// stopped).
pub async fn drive<A: NatsApp>(
    stack: &mut Stack<A>,
    stop: &Notify,
    after_input: impl FnMut(&mut Stack<A>),
) -> CloseReason {
    let (_keep, mut none) = tokio::sync::mpsc::unbounded_channel::<()>();
    drive_with(stack, stop, &mut none, |_, ()| {}, after_input).await
}

/// [`drive`], also feeding application commands from `commands` to
/// `on_command` (a client API's requests) as they arrive.
pub async fn drive_with<A: NatsApp, C>(
    stack: &mut Stack<A>,
    stop: &Notify,
    commands: &mut tokio::sync::mpsc::UnboundedReceiver<C>,
    mut on_command: impl FnMut(&mut Stack<A>, C),
    mut after_input: impl FnMut(&mut Stack<A>),
) -> CloseReason {
    let mut socket: Option<(OwnedReadHalf, OwnedWriteHalf)> = None;
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    // Output the socket has not taken yet: written while reads, timers and
    // commands keep being served, so a peer that stops reading cannot stall
    // the connection's own keepalive.
    let mut out: VecDeque<Bytes> = VecDeque::new();
    loop {
        after_input(stack);
        // Events first: they tell us to dial or drop the socket.
        while let Some(event) = stack.poll_event() {
            match event {
                Event::WantConnect { server } => {
                    let limit = stack.conn.options().connect_timeout;
                    let addr = (server.host.as_str(), server.port);
                    match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
                        Ok(Ok(s)) => {
                            let _ = s.set_nodelay(true);
                            socket = Some(s.into_split());
                            input.clear();
                            stack.handle_transport_connected(Instant::now());
                        }
                        _ => stack.handle_transport_failed(Instant::now()),
                    }
                }
                Event::Disconnected { .. } => {
                    socket = None;
                    out.clear();
                }
                Event::Closed { reason } => {
                    final_flush(&mut socket, stack, &mut out).await;
                    return reason;
                }
                _ => {}
            }
        }
        while let Some(chunk) = stack.poll_transmit() {
            out.push_back(chunk);
        }
        if socket.is_none() {
            out.clear();
        }
        let deadline = stack.poll_timeout();
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        let (read, write) = match socket.as_mut() {
            Some((r, w)) => (Some(r), Some(w)),
            None => (None, None),
        };
        let read = async {
            match read {
                Some(r) => {
                    input.reserve(READ_CHUNK);
                    r.read_buf(&mut input).await
                }
                None => std::future::pending().await,
            }
        };
        let write = async {
            match (write, out.front()) {
                (Some(w), Some(chunk)) => w.write(chunk).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            r = read => match r {
                Ok(0) | Err(_) => {
                    socket = None;
                    stack.handle_transport_closed(Instant::now());
                }
                Ok(_) => stack.handle_input(Instant::now(), &mut input),
            },
            w = write => match w {
                Ok(n) => {
                    if let Some(chunk) = out.front_mut() {
                        chunk.advance(n);
                        if chunk.is_empty() {
                            out.pop_front();
                        }
                    }
                }
                Err(_) => {
                    socket = None;
                    stack.handle_transport_closed(Instant::now());
                }
            },
            _ = sleep => stack.handle_timeout(Instant::now()),
            Some(cmd) = commands.recv() => {
                on_command(stack, cmd);
                while let Ok(cmd) = commands.try_recv() {
                    on_command(stack, cmd);
                }
                stack.handle_app_commands(Instant::now());
            }
            _ = stop.notified() => {
                stack.close(Instant::now());
                after_input(stack);
                final_flush(&mut socket, stack, &mut out).await;
                // `close` ended the connection with this reason.
                return CloseReason::Local;
            }
        }
    }
}

/// Writes what is left (bounded: a peer that does not read gets one
/// second), at the end.
async fn final_flush<A: NatsApp>(
    socket: &mut Option<(OwnedReadHalf, OwnedWriteHalf)>,
    stack: &mut Stack<A>,
    out: &mut VecDeque<Bytes>,
) {
    while let Some(chunk) = stack.poll_transmit() {
        out.push_back(chunk);
    }
    let Some((_, w)) = socket.as_mut() else {
        return;
    };
    let write_all = async {
        for chunk in out.drain(..) {
            w.write_all(&chunk).await?;
        }
        w.flush().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write_all).await;
}

/// The STAN engine against an external NATS server.
#[derive(Debug)]
pub struct ExternalEngine {
    stop: Arc<Notify>,
    closed: watch::Receiver<Option<String>>,
    task: JoinHandle<()>,
}

impl ExternalEngine {
    /// Starts the engine connecting to `url` (`nats://[user:pass@]host:port`,
    /// comma-separated for several servers). Reconnects forever.
    pub fn start<S, F>(
        url: &str,
        mut config: ServerConfig,
        store: S,
        mut on_event: F,
    ) -> Result<Self, UrlError>
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        // No seed chosen: one from OS entropy, never the public test seed.
        config.seed = crate::seed::or_entropy(config.seed);
        let options = config.nats_options(url)?;
        let now = Instant::now();
        let conn = Connection::new(options, now);
        let engine = Server::new(config, store, now, unix_now_ns());
        let stop = Arc::new(Notify::new());
        let (tx, closed) = watch::channel(None);
        let task_stop = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut stack = Stack::new(conn, engine, now);
            let reason = drive(&mut stack, &task_stop, |s| {
                while let Some(e) = s.app.poll_event() {
                    on_event(e);
                }
            })
            .await;
            let _ = tx.send(Some(reason.to_string()));
        });
        Ok(ExternalEngine { stop, closed, task })
    }

    /// Resolves when the NATS connection closed for good, with the reason.
    pub async fn closed(&self) -> String {
        let mut rx = self.closed.clone();
        loop {
            if let Some(reason) = rx.borrow().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                return "engine task ended".into();
            }
        }
    }

    /// Closes the NATS connection and waits for the task.
    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}
