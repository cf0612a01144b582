//! Router settings, with nats-server's defaults.

use std::time::Duration;

use super::auth::Auth;

/// Settings of a [`Router`](super::Router). `Default` gives nats-server's
/// defaults (docs/protocol.md A.9 to A.13).
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Name in `INFO` (`server_name`); the generated server id when `None`.
    pub server_name: Option<String>,
    /// Listen host announced in `INFO`.
    pub host: String,
    /// Listen port announced in `INFO`.
    pub port: u16,
    /// Credentials clients must present.
    pub auth: Auth,
    /// Time a client has to send `CONNECT` when authentication is required.
    /// (nats-server's default with TLS is the TLS timeout plus one second;
    /// whoever builds the configuration chooses.)
    pub auth_timeout: Duration,
    /// Clients must upgrade to TLS after `INFO` (`tls_required` in `INFO`).
    /// The router never sees TLS: a runtime adapter serving TLS sets this
    /// (and [`tls_verify`](Self::tls_verify)) from its TLS settings, does
    /// the handshake, and reports a client that fails it with
    /// [`Router::handle_tls_failed`](super::Router::handle_tls_failed).
    pub tls_required: bool,
    /// Clients must present a certificate (`tls_verify` in `INFO`).
    pub tls_verify: bool,
    /// Interval of the server's keepalive `PING`s.
    pub ping_interval: Duration,
    /// Unanswered `PING`s allowed before the connection is declared stale.
    pub max_pings_out: u32,
    /// Longest accepted control line (arguments after the op).
    pub max_control_line: usize,
    /// Largest accepted payload (headers included), announced in `INFO`.
    pub max_payload: usize,
    /// Pending output above which a client is cut off as a slow consumer.
    pub max_pending: usize,
    /// How long a driver lets one write to a client block before it reports
    /// the session stalled ([`Router::handle_write_stalled`](super::Router::handle_write_stalled)).
    pub write_deadline: Duration,
    /// How long a driver's graceful shutdown waits for the sessions to
    /// flush what is pending and close, before it drops the rest.
    pub shutdown_grace: Duration,
    /// How long a driver pauses accepting after an accept error (out of
    /// file descriptors and the like) before trying again.
    pub accept_backoff: Duration,
    /// Maximum simultaneous client connections.
    pub max_connections: usize,
    /// Maximum subscriptions per connection; 0 means unlimited.
    pub max_subscriptions: usize,
    /// Whether headers (`HPUB`/`HMSG`) are supported.
    pub headers: bool,
    /// Number of published subjects whose lookups are cached.
    pub match_cache_size: usize,
    /// Seed of the router's randomness (server id, queue-member picks) and
    /// of its hash keys (subject index, sid maps). Every key is derived from
    /// it ([`derive_key`](crate::rand::derive_key)), so the published server
    /// id never reveals a hash key.
    ///
    /// 0 means "not chosen": the runtime adapters' constructors replace it
    /// with a seed drawn from OS entropy. A router built directly from a
    /// configuration whose seed is 0 uses 0 as is: deterministic and public,
    /// for tests only. A test that needs determinism sets its own non-zero
    /// seed.
    pub seed: u64,
    /// Log connections opened and closed, with the reason (nats-server's
    /// `debug`, `-D`).
    pub debug: bool,
    /// Log every protocol operation in and out (nats-server's `trace`,
    /// `-V`).
    pub trace: bool,
    /// Clustering: the route listener's settings and the routes to
    /// solicit (`--cluster`, `--routes`); `None` for a lone server.
    pub cluster: Option<super::ClusterConfig>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            server_name: None,
            host: "0.0.0.0".into(),
            port: 4222,
            auth: Auth::None,
            auth_timeout: Duration::from_secs(2),
            tls_required: false,
            tls_verify: false,
            ping_interval: Duration::from_secs(120),
            max_pings_out: 2,
            max_control_line: 4096,
            max_payload: 1024 * 1024,
            max_pending: 64 * 1024 * 1024,
            write_deadline: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            accept_backoff: Duration::from_millis(50),
            max_connections: 65536,
            max_subscriptions: 0,
            headers: true,
            match_cache_size: super::index::DEFAULT_CACHE_SIZE,
            seed: 0,
            debug: false,
            trace: false,
            cluster: None,
        }
    }
}
