//! # Writing a driver for a new runtime
//!
//! Everything that decides anything lives in this crate. A driver (a
//! runtime adapter) only moves bytes and time between sockets, timers and
//! these state machines. This page is all a porter needs: what to call, in
//! what order, and what to do with each output. `stan-mio` is a driver
//! written this way; `stan-async` is one written once for every async
//! runtime, and `stan-tokio` and `stan-smol` are its two runtimes (see
//! [the async path](#an-async-runtime-implement-one-trait)).
//!
//! ## The state machines a driver runs
//!
//! | role | state machine | inputs | outputs |
//! |---|---|---|---|
//! | embedded NATS server | [`Router`](crate::nats::router::Router) | `handle_accept`, `handle_input`, `handle_written`, `handle_transport_closed`, `handle_write_stalled`, `handle_timeout` | `poll_event`, `poll_transmit(conn)`, `is_input_paused(conn)`, `poll_timeout` |
//! | streaming engine, in process | [`Server`](crate::stan::server::Server) attached with [`Router::attach_local`](crate::nats::router::Router::attach_local) (its options from [`ServerConfig::local_options`](crate::stan::server::ServerConfig::local_options)) | [`pump_local`](crate::nats::router::pump_local) | `poll_event` (logs), `poll_timeout` |
//! | a NATS client with an app on top (the STAN client, or the engine with `-ns`) | [`Stack`](crate::nats::stack::Stack) of a [`Connection`](crate::nats::client::Connection) and a [`NatsApp`](crate::nats::stack::NatsApp) ([`Session`](crate::stan::client::Session) or `Server`) | `handle_transport_connected`/`_failed`/`_closed`, `handle_input`, `handle_timeout`, app commands + `handle_app_commands` | `poll_transmit`, `poll_event`, `poll_timeout`, the app's own `poll_event` |
//!
//! Time is always an argument (`now: Instant`; never read a clock inside).
//! The engine and the client session also take the wall clock once, at
//! construction (Unix nanoseconds), for message timestamps.
//!
//! ## The loop, for every state machine
//!
//! 1. Feed one input: bytes read from a socket (append them to the
//!    connection's `BytesMut` and pass it; the machine consumes whole
//!    operations and leaves a partial tail), a transport that opened or
//!    closed, or the passage of time (`handle_timeout(now)`, harmless when
//!    early).
//! 2. Drain the outputs in the order of the crate's
//!    [contract](crate::contract): `poll_event` (act on each), then
//!    `poll_transmit` (write each chunk; a socket may take part of it: keep
//!    the rest and write it when the socket is writable), then
//!    `poll_timeout` (sleep until then, or until the next socket readiness
//!    or command, whichever comes first).
//! 3. Repeat. After `handle_timeout(now)` no deadline at or before `now`
//!    remains, so the loop never spins.
//!
//! What to do with each event:
//!
//! * `RouterEvent::OutputReady(conn)`: that session has bytes; write its
//!   `poll_transmit(conn)` chunks. Ask for socket writability only while
//!   some remain. After each write, report the bytes the socket took with
//!   `handle_written(now, conn, n)`: until then they count against the
//!   session's `max_pending`, and producers stalled on it stay stalled.
//! * After `handle_input(now, conn, ..)`, if `is_input_paused(conn)`, stop
//!   reading that socket (its unprocessed bytes stay in your buffer; TCP
//!   pushes back on the producer). On `RouterEvent::InputResumed(conn)`,
//!   call `handle_input` with that buffer again, then read on.
//! * `RouterEvent::Log(record)`: a line for the operator's log
//!   (`record.level`, and `record` displays as nats-server's text).
//! * `RouterEvent::VerifyCredentials(check)`: a `CONNECT` needs a bcrypt
//!   comparison (tens of milliseconds of CPU). Run `check.verify()` on a
//!   worker thread, not the loop's, and hand the verdict back with
//!   `handle_credential_verdict(now, verdict)`; the session's input stays
//!   paused meanwhile (as for a stall: `InputResumed` follows an accepted
//!   one). `is_credential_check_current(&check)` lets a worker skip checks
//!   whose session already ended. A single-threaded port may call
//!   `verify` inline, at the cost of stalling every session during it.
//! * `RouterEvent::SessionClosed { conn, reason }`: write what
//!   `poll_transmit(conn)` still returns if `reason.flushes_output()`
//!   (a slow consumer's is dropped), close the socket, call
//!   `handle_transport_closed(now, conn)`. If a write stays blocked for
//!   `RouterConfig::write_deadline`, call `handle_write_stalled(now, conn)`.
//! * After any router input, call `pump_local(&mut router, engine_conn,
//!   &mut engine, now)`: it fires the engine's due deadlines and moves
//!   messages both ways in memory. Then handle the router's events (the
//!   engine's publishes produce `OutputReady`).
//! * `client::Event::WantConnect { server }`: dial `server.host:server.port`,
//!   then call `handle_transport_connected(now)` or
//!   `handle_transport_failed(now)`. The dial needs no timer of its own: the
//!   connection abandons a dial with no outcome after
//!   `ClientOptions::connect_timeout` (`Disconnected` with
//!   `DisconnectReason::DialTimeout`), so a non-blocking dial can be one
//!   branch of the loop.
//! * `client::Event::Disconnected { .. }`: close the socket (or drop the
//!   dial in progress, reporting nothing of it) and drop unwritten output;
//!   the connection will ask to dial again after its reconnect wait.
//! * `client::Event::Closed { .. }`: terminal; write what `poll_transmit`
//!   returns (for at most `ClientOptions::close_flush_timeout`, then drop
//!   the rest), close the socket (or drop the dial in progress), stop.
//! * Application commands (publish, subscribe, ack, close) are calls on
//!   `stack.app`, followed by `stack.handle_app_commands(now)`; their
//!   outcomes come back as the app's events (`ClientEvent::PubAck` with the
//!   `PubId` that `publish` returned, `Subscribed`, `Message`,
//!   `ConnectionLost`, `Closed`, ...): hand each to whoever waits for it.
//!   The session sends up to `max_pub_acks_in_flight` publishes awaiting
//!   their PubAck and queues up to `max_queued_publishes` more; a publish
//!   beyond both is refused with `ClientError::TooManyPubAcksInFlight`
//!   (`Session::can_publish` tells beforehand): retry it after the next
//!   `PubAck` event, or keep callers waiting for a slot (`stan-mio` does,
//!   with a semaphore of `max_pub_acks_in_flight + max_queued_publishes`
//!   slots).
//! * The NATS options come from the core too:
//!   `ConnectOptions::nats_options(url, name)` for the client,
//!   `ServerConfig::nats_options(url)` for the engine with `-ns`.
//! * Seeds: every configuration (`RouterConfig`, `ServerConfig`,
//!   `ConnectOptions`) has a `seed`, which the core turns into the ids it
//!   publishes and, apart, the secret hash keys of its maps (see
//!   [`crate::rand`]). The core never reads entropy, so when the user gave
//!   no seed (0) the driver draws one from OS entropy (the shipped drivers
//!   call `getrandom::u64()`), never the time or the process id, which a
//!   peer can guess, and never 0, the public seed of the tests.
//!
//! ## A complete driver on plain `std::net`
//!
//! One thread runs the embedded NATS server and the engine with
//! non-blocking sockets; the main thread runs a STAN client over a blocking
//! socket with a read timeout. Nothing else is needed to serve and use NATS
//! Streaming.
//!
//! ```
//! use std::collections::{HashMap, VecDeque};
//! use std::io::{ErrorKind, Read, Write};
//! use std::net::{TcpListener, TcpStream};
//! use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
//!
//! use bytes::{Buf, Bytes, BytesMut};
//! use stan_core::nats::client::{Connection, Event};
//! use stan_core::nats::router::{Router, RouterConfig, RouterEvent};
//! use stan_core::nats::stack::Stack;
//! use stan_core::stan::client::{ClientEvent, ConnectOptions, Session, StartAt, SubscriptionOptions};
//! use stan_core::nats::router::pump_local;
//! use stan_core::stan::server::{Server, ServerConfig};
//! use stan_core::stan::store::MemStore;
//!
//! fn unix_ns() -> i64 {
//!     SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
//! }
//!
//! /// A seed from OS entropy. A real driver calls `getrandom::u64()`; this
//! /// example keeps to `std`, whose `RandomState` keys come from the OS.
//! fn os_seed() -> u64 {
//!     use std::hash::{BuildHasher, RandomState};
//!     RandomState::new().hash_one(unix_ns())
//! }
//!
//! /// Writes queued chunks until the socket would block; the bytes written.
//! fn write_out(sock: &mut TcpStream, out: &mut VecDeque<Bytes>) -> usize {
//!     let mut written = 0;
//!     while let Some(chunk) = out.front_mut() {
//!         match sock.write(chunk) {
//!             Ok(n) => {
//!                 written += n;
//!                 chunk.advance(n);
//!                 if chunk.is_empty() {
//!                     out.pop_front();
//!                 }
//!             }
//!             Err(_) => break, // would block, or gone (the read side sees it)
//!         }
//!     }
//!     written
//! }
//!
//! /// The server: router + engine, one thread, non-blocking sockets.
//! fn serve(listener: TcpListener, stop: std::sync::mpsc::Receiver<()>) {
//!     listener.set_nonblocking(true).unwrap();
//!     let start = Instant::now();
//!     let mut router = Router::new(RouterConfig { seed: os_seed(), ..RouterConfig::default() }, start);
//!     let engine_conn = router.attach_local(start, ServerConfig::default().local_options());
//!     let config = ServerConfig { seed: os_seed(), ..ServerConfig::default() };
//!     let mut engine = Server::new(config, MemStore::new(100), start, unix_ns());
//!     let mut socks = HashMap::new(); // conn -> (socket, input buffer, unwritten output)
//!     while stop.try_recv().is_err() {
//!         let now = Instant::now();
//!         // Inputs: new connections, bytes, time.
//!         while let Ok((sock, peer)) = listener.accept() {
//!             sock.set_nonblocking(true).unwrap();
//!             let conn = router.handle_accept(now, &peer.to_string());
//!             socks.insert(conn, (sock, BytesMut::new(), VecDeque::new()));
//!         }
//!         let mut gone = Vec::new();
//!         for (&conn, (sock, input, _)) in socks.iter_mut() {
//!             let mut buf = [0u8; 65536];
//!             // What a stall left in the buffer first; then read, unless
//!             // the router paused this producer (flow control).
//!             router.handle_input(now, conn, input);
//!             while !router.is_input_paused(conn) {
//!                 match sock.read(&mut buf) {
//!                     Ok(0) => { gone.push(conn); break; }
//!                     Ok(n) => {
//!                         input.extend_from_slice(&buf[..n]);
//!                         router.handle_input(now, conn, input);
//!                     }
//!                     Err(e) if e.kind() == ErrorKind::WouldBlock => break,
//!                     Err(_) => { gone.push(conn); break; }
//!                 }
//!             }
//!         }
//!         for conn in gone {
//!             socks.remove(&conn);
//!             router.handle_transport_closed(now, conn);
//!         }
//!         router.handle_timeout(now);
//!         pump_local(&mut router, engine_conn, &mut engine, now);
//!         while engine.poll_event().is_some() {} // logs, if wanted
//!         // Outputs: bytes to write, sessions to close.
//!         while let Some(event) = router.poll_event() {
//!             match event {
//!                 RouterEvent::OutputReady(conn) => {
//!                     if let Some((_, _, out)) = socks.get_mut(&conn) {
//!                         while let Some(chunk) = router.poll_transmit(conn) {
//!                             out.push_back(chunk);
//!                         }
//!                     }
//!                 }
//!                 RouterEvent::SessionClosed { conn, reason } => {
//!                     if let Some((mut sock, _, mut out)) = socks.remove(&conn) {
//!                         if reason.flushes_output() {
//!                             while let Some(chunk) = router.poll_transmit(conn) {
//!                                 out.push_back(chunk);
//!                             }
//!                             write_out(&mut sock, &mut out);
//!                         }
//!                     }
//!                     router.handle_transport_closed(now, conn);
//!                 }
//!                 _ => {}
//!             }
//!         }
//!         for (&conn, (sock, _, out)) in socks.iter_mut() {
//!             let written = write_out(sock, out);
//!             router.handle_written(Instant::now(), conn, written);
//!         }
//!         // (`InputResumed` needs nothing more here: every turn feeds each
//!         // buffer again. `Log` records could be printed.)
//!         // Sleep until the next deadline (a real driver also wakes on
//!         // socket readiness; this one polls every millisecond).
//!         let next = [router.poll_timeout(), engine.poll_timeout()].into_iter().flatten().min();
//!         let nap = next.map_or(Duration::from_millis(1), |t| t.saturating_duration_since(Instant::now()));
//!         std::thread::sleep(nap.min(Duration::from_millis(1)));
//!     }
//! }
//!
//! /// The client: a Stack<Session> over a blocking socket. Runs until
//! /// `done` says so, returning the app events it saw.
//! fn drive(stack: &mut Stack<Session>, sock: &mut Option<TcpStream>, done: impl Fn(&[ClientEvent]) -> bool) -> Vec<ClientEvent> {
//!     let mut seen = Vec::new();
//!     let mut input = BytesMut::new();
//!     let deadline = Instant::now() + Duration::from_secs(10);
//!     while !done(&seen) && Instant::now() < deadline {
//!         while let Some(event) = stack.poll_event() {
//!             match event {
//!                 Event::WantConnect { server } => match TcpStream::connect((server.host.as_str(), server.port)) {
//!                     Ok(s) => {
//!                         s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
//!                         *sock = Some(s);
//!                         stack.handle_transport_connected(Instant::now());
//!                     }
//!                     Err(_) => stack.handle_transport_failed(Instant::now()),
//!                 },
//!                 Event::Disconnected { .. } | Event::Closed { .. } => *sock = None,
//!                 _ => {}
//!             }
//!         }
//!         while let Some(e) = stack.app.poll_event() {
//!             seen.push(e);
//!         }
//!         let Some(s) = sock.as_mut() else {
//!             std::thread::sleep(Duration::from_millis(5));
//!             stack.handle_timeout(Instant::now());
//!             continue;
//!         };
//!         while let Some(chunk) = stack.poll_transmit() {
//!             s.write_all(&chunk).unwrap();
//!         }
//!         let mut buf = [0u8; 65536];
//!         match s.read(&mut buf) {
//!             Ok(0) => stack.handle_transport_closed(Instant::now()),
//!             Ok(n) => {
//!                 input.extend_from_slice(&buf[..n]);
//!                 stack.handle_input(Instant::now(), &mut input);
//!             }
//!             Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
//!             Err(_) => stack.handle_transport_closed(Instant::now()),
//!         }
//!         stack.handle_timeout(Instant::now());
//!     }
//!     seen
//! }
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let url = format!("nats://{}", listener.local_addr().unwrap());
//! let (stop_tx, stop_rx) = std::sync::mpsc::channel();
//! let server = std::thread::spawn(move || serve(listener, stop_rx));
//!
//! let options = ConnectOptions { seed: os_seed(), ..ConnectOptions::new("test-cluster", "porter") };
//! let nats = options.nats_options(&url, None).unwrap();
//! let now = Instant::now();
//! let session = Session::new(options, now, unix_ns()).unwrap();
//! let mut stack = Stack::new(Connection::new(nats, now), session, now);
//! let mut sock = None;
//!
//! let ev = drive(&mut stack, &mut sock, |seen| seen.contains(&ClientEvent::Connected));
//! assert!(ev.contains(&ClientEvent::Connected));
//!
//! let now = Instant::now();
//! stack.app.publish(now, "greetings", Bytes::from_static(b"hello")).unwrap();
//! let opts = SubscriptionOptions { start: StartAt::First, ..Default::default() };
//! stack.app.subscribe(now, "greetings", &opts).unwrap();
//! stack.handle_app_commands(now);
//! let ev = drive(&mut stack, &mut sock, |seen| seen.iter().any(|e| matches!(e, ClientEvent::Message { .. })));
//! assert!(ev.iter().any(|e| matches!(e, ClientEvent::PubAck { result: Ok(()), .. })));
//! assert!(ev.iter().any(|e| matches!(e, ClientEvent::Message { msg, .. } if msg.data == "hello")));
//!
//! stack.app.close(Instant::now()).unwrap();
//! stack.handle_app_commands(Instant::now());
//! let ev = drive(&mut stack, &mut sock, |seen| seen.iter().any(|e| matches!(e, ClientEvent::Closed(_))));
//! assert!(ev.contains(&ClientEvent::Closed(Ok(()))));
//!
//! stop_tx.send(()).unwrap();
//! server.join().unwrap();
//! ```
//!
//! ## An async runtime: implement one trait
//!
//! For an async runtime, the loop above is already written: `stan-async`
//! (folder `runtime-async/`) holds the client `Connection`, the embedded
//! server's accept, read, write and timer loops, the in-process engine, the
//! NATS client driver and the external engine, on `futures` traits and
//! runtime-neutral primitives only. It reaches the runtime through
//! `stan_async::Runtime`: spawn a task, sleep until an instant, dial, take
//! over a bound listener, accept, and split a stream into a read half
//! (`read_buf` into a `BytesMut`) and a write half (`write_vectored`,
//! `shutdown`). `stan-tokio` and `stan-smol` are each that trait, about
//! 80 lines, plus `stan_async::runtime_api!(Tokio, "tokio")`, which names
//! `Connection`, `RouterServer` and `ExternalEngine` on it.
//!
//! A complete implementation over `async-io` and `async-executor`, which
//! `stan-async`'s own tests and its crate example run on (so it is compiled
//! and exercised by the test command), is
//! `runtime-async/tests/common/mod.rs`:
//!
//! ```ignore
#![doc = include_str!("../../runtime-async/tests/common/mod.rs")]
//! ```
//!
//! With it, `stan_async::Connection::<AsyncIo>::connect(..)`,
//! `stan_async::RouterServer::<AsyncIo>::bind(..)` and the rest work as
//! they do on tokio.
