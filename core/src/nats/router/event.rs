//! What the router tells its driver: events, and why a session ended.

use super::log::LogRecord;
use super::verify::CredentialCheck;
use super::ConnId;
use crate::nats::codec::DecodeError;

/// Why the router ended a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The byte stream could not be decoded (`-ERR` sent when nats-server
    /// sends one).
    Protocol(DecodeError),
    /// The `CONNECT` JSON was malformed.
    BadConnect,
    /// `HPUB` from a client that did not declare header support.
    HeadersNotSupported,
    /// Wrong or missing credentials (`-ERR 'Authorization Violation'`).
    AuthorizationViolation,
    /// No `CONNECT` within the authentication timeout.
    AuthenticationTimeout,
    /// `CONNECT` with a protocol other than 0 or 1.
    BadClientProtocol,
    /// `no_responders` without `headers`.
    NoRespondersRequiresHeaders,
    /// Too many connections.
    MaxConnectionsExceeded,
    /// Too many keepalive `PING`s left unanswered.
    StaleConnection,
    /// Cut off as a slow consumer; the output was dropped.
    SlowConsumer(SlowConsumer),
    /// The router is shutting down.
    ServerShutdown,
    /// A TLS-required server's client did not start TLS: its first bytes
    /// were not a TLS record, or the handshake timed out (`-ERR 'Secure
    /// Connection - TLS Required'`, written in plain text).
    TlsRequired,
    /// The TLS handshake failed (bad or missing certificate, ...): the
    /// adapter's TLS error text. No `-ERR`: the client gets the TLS alert.
    TlsHandshake(String),
    /// A route to a server already connected by another route, or to this
    /// server itself.
    DuplicateRoute,
    /// A route from a server of another cluster (`-ERR 'Rejecting
    /// connection, cluster name ... does not match ...'` on the accepting
    /// side).
    ClusterNameConflict,
    /// A route whose remote has this server's name.
    DuplicateServerName,
    /// A client connected to the route port (`-ERR 'attempted to connect
    /// to route port'`).
    WrongPort,
    /// The route peer sent `-ERR`; its text.
    RouteError(String),
    /// A route registered more interest than
    /// [`ClusterConfig::max_route_subscriptions`](super::ClusterConfig::max_route_subscriptions)
    /// (`-ERR 'maximum subscriptions exceeded'`).
    MaxSubscriptionsExceeded,
}

/// How a client's TLS upgrade failed, as the adapter that does the
/// handshake reports it ([`Router::handle_tls_failed`](super::Router::handle_tls_failed)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The client's first bytes are not a TLS record (a plain-text client
    /// on a TLS port).
    NotTls,
    /// No completed handshake within the TLS timeout.
    Timeout,
    /// The handshake failed; the TLS library's error text.
    Handshake(String),
}

/// Which of nats-server's slow-consumer conditions a session met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Pending output passed `max_pending`.
    MaxPending,
    /// A write stayed blocked for `write_deadline`.
    WriteDeadline,
}

impl CloseReason {
    /// Whether the driver writes the session's remaining output before
    /// closing the socket. A slow consumer is cut off at once (its output
    /// is what it could not take); every other close flushes first (the
    /// `-ERR`, the last replies).
    pub fn flushes_output(&self) -> bool {
        !matches!(self, CloseReason::SlowConsumer(_))
    }

    /// nats-server's name of the closed state (as in its log and `/connz`).
    pub fn state_text(&self) -> &'static str {
        match self {
            CloseReason::Protocol(DecodeError::PayloadTooLarge { .. }) => {
                "Maximum Message Payload Exceeded"
            }
            CloseReason::Protocol(DecodeError::ControlLineTooLong { .. }) => {
                "Maximum Control Line Exceeded"
            }
            CloseReason::Protocol(_)
            | CloseReason::BadConnect
            | CloseReason::HeadersNotSupported => "Protocol Violation",
            CloseReason::AuthorizationViolation => "Authentication Failure",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::BadClientProtocol => "Bad Client Protocol Version",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::SlowConsumer(SlowConsumer::MaxPending) => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumer(SlowConsumer::WriteDeadline) => {
                "Slow Consumer (Write Deadline)"
            }
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::TlsRequired | CloseReason::TlsHandshake(_) => "TLS Handshake Error",
            CloseReason::DuplicateRoute => "Duplicate Route",
            CloseReason::ClusterNameConflict => "Cluster Name Conflict",
            CloseReason::DuplicateServerName => "Duplicate Server Name",
            CloseReason::WrongPort => "Incorrect Port",
            CloseReason::RouteError(_) => "Parse Error",
            CloseReason::MaxSubscriptionsExceeded => "Maximum Subscriptions Exceeded",
        }
    }

    /// The `-ERR` text sent before closing, if any.
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            CloseReason::Protocol(e) => e.server_err_text(),
            CloseReason::HeadersNotSupported => Some("Unknown Protocol Operation"),
            CloseReason::AuthorizationViolation => Some("Authorization Violation"),
            CloseReason::AuthenticationTimeout => Some("Authentication Timeout"),
            CloseReason::BadClientProtocol => Some("invalid client protocol"),
            CloseReason::NoRespondersRequiresHeaders => {
                Some("no responders requires headers support")
            }
            CloseReason::MaxConnectionsExceeded => Some("maximum connections exceeded"),
            CloseReason::StaleConnection => Some("Stale Connection"),
            CloseReason::TlsRequired => Some("Secure Connection - TLS Required"),
            CloseReason::WrongPort => Some("attempted to connect to route port"),
            CloseReason::MaxSubscriptionsExceeded => Some("maximum subscriptions exceeded"),
            CloseReason::BadConnect
            | CloseReason::SlowConsumer(_)
            | CloseReason::ServerShutdown
            | CloseReason::TlsHandshake(_)
            | CloseReason::DuplicateRoute
            | CloseReason::ClusterNameConflict
            | CloseReason::DuplicateServerName
            | CloseReason::RouteError(_) => None,
        }
    }
}

/// Something a driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouterEvent {
    /// The session has output (bytes or deliveries). Emitted once; again only
    /// after its output was drained to empty.
    OutputReady(ConnId),
    /// The router ended the session: transmit what is left, then close the
    /// transport and call [`Router::handle_transport_closed`](super::Router::handle_transport_closed).
    SessionClosed {
        /// The session.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// The session's stall is over: feed the input left in the driver's
    /// buffer to [`Router::handle_input`](super::Router::handle_input) again, then read the transport
    /// again.
    InputResumed(ConnId),
    /// A line for the operator's log.
    Log(LogRecord),
    /// A `CONNECT` needs its secret compared with a bcrypt hash: run
    /// [`CredentialCheck::verify`] off the thread that drives the router
    /// and hand the verdict to
    /// [`Router::handle_credential_verdict`](super::Router::handle_credential_verdict).
    /// The session's input is paused until then.
    VerifyCredentials(CredentialCheck),
    /// A route is due to be dialled: connect to `url` (`host:port`, see
    /// [`RouteUrl`](super::RouteUrl)) and report the outcome with
    /// [`Router::handle_route_connected`](super::Router::handle_route_connected)
    /// or [`Router::handle_route_dial_failed`](super::Router::handle_route_dial_failed).
    DialRoute {
        /// Identifies the attempt.
        dial: super::DialId,
        /// Where to connect.
        url: super::RouteUrl,
    },
}
