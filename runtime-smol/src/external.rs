//! A [`Stack`] (a NATS-level state machine over a NATS client connection)
//! driven over TCP on smol, and the STAN engine run that way against an
//! external NATS server (`-ns`). The driver dials when the core asks, moves
//! bytes and time, and makes no protocol decision.

use std::collections::VecDeque;
use std::future::pending;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use smol::channel::{self, Receiver, Sender};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use smol::{future, Task, Timer};
use stan_core::nats::client::{CloseReason, Connection, Event, UrlError};
use stan_core::nats::stack::{NatsApp, Stack};
use stan_core::stan::server::{Server, ServerConfig, ServerEvent};
use stan_core::stan::store::Store;

use crate::engine::unix_now_ns;
use crate::wake::{sleep_until, Latch, SetOnDrop};

/// Bytes read per read call.
const READ_CHUNK: usize = 64 * 1024;

/// Runs `stack` until its connection closes for good or a `()` arrives on
/// `stop` (closing every sender of `stop` does not stop it). `after_input`
/// runs after every input (to drain app-level outputs such as engine
/// events). Returns the close reason ([`CloseReason::Local`] when
/// stopped).
pub async fn drive<A: NatsApp>(
    stack: &mut Stack<A>,
    stop: &Receiver<()>,
    after_input: impl FnMut(&mut Stack<A>),
) -> CloseReason {
    let (_keep, none) = channel::unbounded::<()>();
    drive_with(stack, stop, &none, |_, ()| {}, after_input).await
}

/// What woke the driver.
enum Wake<C> {
    Read(io::Result<usize>),
    Wrote(io::Result<usize>),
    Timer,
    Command(C),
    Stop,
}

/// [`drive`], also feeding application commands from `commands` to
/// `on_command` (a client API's requests) as they arrive.
pub async fn drive_with<A: NatsApp, C>(
    stack: &mut Stack<A>,
    stop: &Receiver<()>,
    commands: &Receiver<C>,
    mut on_command: impl FnMut(&mut Stack<A>, C),
    mut after_input: impl FnMut(&mut Stack<A>),
) -> CloseReason {
    // Read and write handles of one socket (smol's `TcpStream` clones share it).
    let mut socket: Option<(TcpStream, TcpStream)> = None;
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut scratch = vec![0u8; READ_CHUNK];
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
                    // The core's handshake bound also bounds the dial.
                    let limit = stack.conn.options().connect_timeout;
                    let dial = future::or(
                        async {
                            TcpStream::connect((server.host.as_str(), server.port))
                                .await
                                .ok()
                        },
                        async {
                            Timer::after(limit).await;
                            None
                        },
                    )
                    .await;
                    match dial {
                        Some(s) => {
                            let _ = s.set_nodelay(true);
                            socket = Some((s.clone(), s));
                            input.clear();
                            stack.handle_transport_connected(Instant::now());
                        }
                        None => stack.handle_transport_failed(Instant::now()),
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
        let (reader, writer) = match socket.as_mut() {
            Some((r, w)) => (Some(r), Some(w)),
            None => (None, None),
        };
        let read = async {
            match reader {
                Some(s) => Wake::Read(s.read(&mut scratch).await),
                None => pending().await,
            }
        };
        let write = async {
            match (writer, out.front()) {
                (Some(w), Some(chunk)) => Wake::Wrote(w.write(chunk).await),
                _ => pending().await,
            }
        };
        let sleep = async {
            sleep_until(deadline).await;
            Wake::Timer
        };
        let command = async {
            match commands.recv().await {
                Ok(cmd) => Wake::Command(cmd),
                Err(_) => pending().await,
            }
        };
        let stopped = async {
            match stop.recv().await {
                Ok(()) => Wake::Stop,
                Err(_) => pending().await,
            }
        };
        // Random order, like `tokio::select!`: no source starves the others.
        let wake = future::race(
            future::race(read, write),
            future::race(sleep, future::race(command, stopped)),
        );
        match wake.await {
            Wake::Read(Ok(0) | Err(_)) => {
                socket = None;
                stack.handle_transport_closed(Instant::now());
            }
            Wake::Read(Ok(n)) => {
                input.extend_from_slice(&scratch[..n]);
                stack.handle_input(Instant::now(), &mut input);
            }
            Wake::Wrote(Ok(n)) => {
                if let Some(chunk) = out.front_mut() {
                    chunk.advance(n);
                    if chunk.is_empty() {
                        out.pop_front();
                    }
                }
            }
            Wake::Wrote(Err(_)) => {
                socket = None;
                stack.handle_transport_closed(Instant::now());
            }
            Wake::Timer => stack.handle_timeout(Instant::now()),
            Wake::Command(cmd) => {
                on_command(stack, cmd);
                while let Ok(cmd) = commands.try_recv() {
                    on_command(stack, cmd);
                }
                stack.handle_app_commands(Instant::now());
            }
            Wake::Stop => {
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
    socket: &mut Option<(TcpStream, TcpStream)>,
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
            if w.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = w.flush().await;
    };
    future::or(write_all, async {
        Timer::after(std::time::Duration::from_secs(1)).await;
    })
    .await;
}

/// The STAN engine against an external NATS server. Dropping it does not
/// stop it; call [`ExternalEngine::stop`].
#[derive(Debug)]
pub struct ExternalEngine {
    stop: Sender<()>,
    closed: Arc<Latch<String>>,
    task: Option<Task<()>>,
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
        let (stop, stop_rx) = channel::bounded(1);
        let closed = Arc::new(Latch::default());
        let task_closed = Arc::clone(&closed);
        let task = smol::spawn(async move {
            let _ended = SetOnDrop(Arc::clone(&task_closed), "engine task ended".to_owned());
            let mut stack = Stack::new(conn, engine, now);
            let reason = drive(&mut stack, &stop_rx, |s| {
                while let Some(e) = s.app.poll_event() {
                    on_event(e);
                }
            })
            .await;
            task_closed.set(reason.to_string());
        });
        Ok(ExternalEngine {
            stop,
            closed,
            task: Some(task),
        })
    }

    /// Resolves when the NATS connection closed for good, with the reason.
    pub async fn closed(&self) -> String {
        self.closed.wait().await
    }

    /// Closes the NATS connection and waits for the task.
    pub async fn stop(mut self) {
        let _ = self.stop.try_send(());
        if let Some(task) = self.task.take() {
            task.await;
        }
    }
}

impl Drop for ExternalEngine {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}
