//! # The contract every state machine of this crate follows
//!
//! Five state machines make up the core: the embedded NATS server
//! ([`Router`](crate::nats::router::Router)), a NATS client connection
//! ([`Connection`](crate::nats::client::Connection)), an app stacked on a
//! connection ([`Stack`](crate::nats::stack::Stack)), the streaming engine
//! ([`Server`](crate::stan::server::Server)) and the streaming client
//! session ([`Session`](crate::stan::client::Session)). Learn the shape once;
//! it is the same for each.
//!
//! ## Four families of methods
//!
//! 1. **Getters** (`&self`): state for monitoring and tests; no effect.
//! 2. **Inputs** (`handle_*`): something happened outside: bytes arrived,
//!    a transport opened or closed, a write completed, time passed. Every
//!    input takes `now: Instant` as its first argument after `self`.
//! 3. **Commands** (`publish`, `subscribe`, `ack`, `close`, `local_*`, ...):
//!    the application asks for something. They take `now` too, and refuse
//!    with a typed error (a `thiserror` enum per operation) rather than
//!    panicking.
//! 4. **Outputs** (`poll_*`, all `#[must_use]`): what the machine wants
//!    done. A `poll_*` method only hands out what is ready; it never does
//!    work with side effects (work happens in inputs and commands: the
//!    engine's group commit, for instance, runs at
//!    [`Server::handle_burst_end`](crate::stan::server::Server::handle_burst_end),
//!    not when its commands are polled).
//!
//! ## One drain order
//!
//! After every input or command, drain in this order:
//!
//! 1. `poll_event` until `None`, acting on each event;
//! 2. the data outputs until `None`: `poll_transmit` (bytes for a socket;
//!    per session for the router, whose `OutputReady` events name the
//!    sessions), `poll_delivery` (the router's in-process sessions),
//!    `poll_command` (an app's commands for its NATS connection);
//! 3. `poll_timeout`: sleep until then (or until the next input).
//!
//! An event that ends a transport (`SessionClosed` of the router, `Closed`
//! of a connection) still leaves that transport's last output to step 2:
//! write it, then close, as the event's documentation says.
//!
//! ## Time
//!
//! * Time only enters as `now`. Each machine keeps a
//!   [`Clock`](crate::time::Clock): a `now` earlier than one already seen is
//!   taken as the latest one, the same way everywhere, so a clock that steps
//!   back neither panics nor fires a deadline twice.
//! * Deadlines are data: each machine keeps a
//!   [`Timers`](crate::time::Timers) table keyed by its own enum (the
//!   router's sessions, the connection's dial/handshake/ping, the engine's
//!   heartbeats/requests/redeliveries/expiries, the session's
//!   requests/ping/PubAck). `poll_timeout` is the table's earliest entry.
//! * `handle_timeout(now)` fires every deadline at or before `now` and
//!   leaves none at or before `now` (every test harness of the crate checks
//!   this after each call), so a driver's loop never spins. It is safe to
//!   call early or often.
//! * Durations from configuration are added with
//!   [`deadline_after`](crate::time::deadline_after), which cannot overflow.
//!
//! ## Ends and errors
//!
//! * Why something ended is a typed value: the router's
//!   [`CloseReason`](crate::nats::router::CloseReason), the connection's
//!   [`CloseReason`](crate::nats::client::CloseReason) and
//!   [`DisconnectReason`](crate::nats::client::DisconnectReason), the
//!   session's [`ClientError`](crate::stan::client::ClientError); their
//!   `Display` is the exact text the Go implementations print or send.
//! * Bad input from a peer is never a panic: it is a typed error, the exact
//!   `-ERR`/STAN error text on the wire, and a closed session at worst,
//!   never harm to other sessions.
//!
//! ## Layers
//!
//! `nats::*` knows nothing of streaming. The streaming engine and client
//! session are [`NatsApp`](crate::nats::stack::NatsApp)s: they run on a NATS
//! connection through a [`Stack`](crate::nats::stack::Stack), or attached
//! to the embedded router in process through
//! [`Router::attach_local`](crate::nats::router::Router::attach_local) and
//! [`pump_local`](crate::nats::router::pump_local). A driver (see
//! [`porting`](crate::porting)) only moves bytes and time.
