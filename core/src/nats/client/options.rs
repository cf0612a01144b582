//! Client settings and server addresses (`nats://[user:pass@|token@]host:port`,
//! or `tls://...` to ask for TLS).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The port a server address without one uses.
pub const DEFAULT_PORT: u16 = 4222;

/// Credentials presented in `CONNECT` (docs/protocol.md A.11). `Debug` never
/// prints the secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `user` and `pass`.
    UserPass {
        /// The user name.
        user: String,
        /// The password.
        pass: String,
    },
    /// `auth_token`.
    Token(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::UserPass { user, .. } => write!(f, "UserPass({user:?}, ***)"),
            Credentials::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// Why a server URL could not be parsed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL (or the whole list) is empty.
    #[error("empty server URL")]
    Empty,
    /// A scheme other than `nats://` and `tls://`.
    #[error("unsupported URL scheme {0:?} (only nats:// and tls:// are supported)")]
    UnsupportedScheme(String),
    /// No host between the credentials and the port.
    #[error("server URL {0:?} has no host")]
    MissingHost(String),
    /// The port is not a number in 1..=65535.
    #[error("invalid port in server URL {0:?}")]
    InvalidPort(String),
    /// Empty user name or token, or a malformed `[ipv6]` host.
    #[error("malformed server URL {0:?}")]
    Malformed(String),
}

/// A server to dial: host and port, plus the credentials given in its URL.
/// Credentials in a URL take precedence over [`ClientOptions::credentials`]
/// for that server (as in nats.go).
#[derive(Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// Host name or IP address (an IPv6 address without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Credentials from the URL's user-info part.
    pub credentials: Option<Credentials>,
    /// The URL's scheme was `tls://`: the connection upgrades to TLS after
    /// `INFO` (as nats.go, a `tls://` URL asks for TLS on every server of
    /// the pool; see [`ClientOptions::tls_required`]).
    pub tls: bool,
}

impl ServerAddr {
    /// An address without credentials.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        ServerAddr {
            host: host.into(),
            port,
            credentials: None,
            tls: false,
        }
    }

    /// Parses a comma-separated list of URLs; blank entries are skipped.
    pub fn parse_list(urls: &str) -> Result<Vec<ServerAddr>, UrlError> {
        let list = urls
            .split(',')
            .filter(|u| !u.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err(UrlError::Empty);
        }
        Ok(list)
    }

    /// True when both name the same host and port.
    pub fn same_endpoint(&self, other: &ServerAddr) -> bool {
        self.host.eq_ignore_ascii_case(&other.host) && self.port == other.port
    }
}

impl FromStr for ServerAddr {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, UrlError> {
        let url = url.trim();
        let malformed = || UrlError::Malformed(url.to_owned());
        if url.is_empty() {
            return Err(UrlError::Empty);
        }
        let (rest, tls) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("nats") => (rest, false),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("tls") => (rest, true),
            Some((scheme, _)) => return Err(UrlError::UnsupportedScheme(scheme.to_owned())),
            None => (url, false),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let credentials = match userinfo {
            None => None,
            Some(u) => match u.split_once(':') {
                Some(("", _)) => return Err(malformed()),
                Some((user, pass)) => Some(Credentials::UserPass {
                    user: user.to_owned(),
                    pass: pass.to_owned(),
                }),
                None if u.is_empty() => return Err(malformed()),
                None => Some(Credentials::Token(u.to_owned())),
            },
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(malformed)?;
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or_else(malformed)?)),
            }
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::MissingHost(url.to_owned()));
        }
        if host.contains(['/', ' ', '\t']) {
            return Err(malformed());
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| UrlError::InvalidPort(url.to_owned()))?,
        };
        Ok(ServerAddr {
            host: host.to_owned(),
            port,
            credentials,
            tls,
        })
    }
}

impl fmt::Display for ServerAddr {
    /// `nats://host:port`, or `tls://host:port` (credentials are never
    /// shown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "tls" } else { "nats" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerAddr({self}")?;
        if let Some(c) = &self.credentials {
            write!(f, ", {c:?}")?;
        }
        f.write_str(")")
    }
}

/// Settings of a [`Connection`](super::Connection). `Default` gives nats.go's
/// defaults and one server, `nats://127.0.0.1:4222`.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Servers, tried round robin in this order.
    pub servers: Vec<ServerAddr>,
    /// Client name sent in `CONNECT`.
    pub name: Option<String>,
    /// Credentials for servers whose URL carries none.
    pub credentials: Option<Credentials>,
    /// Ask the server to acknowledge every op with `+OK` (ignored on receipt).
    pub verbose: bool,
    /// Ask the server for strict subject checking.
    pub pedantic: bool,
    /// Receive our own publishes on our matching subscriptions.
    pub echo: bool,
    /// Use headers (`HPUB`/`HMSG`) when the server supports them.
    pub headers: bool,
    /// Ask for a 503 status reply to requests nobody receives (needs headers).
    pub no_responders: bool,
    /// Upgrade every connection to TLS after `INFO` (nats.go's `Secure`),
    /// even when the server does not require it; a `tls://` URL in
    /// [`servers`](Self::servers) asks the same. A server whose `INFO`
    /// requires TLS gets it either way. The upgrade itself is the
    /// driver's: [`Event::UpgradeTls`](super::Event::UpgradeTls).
    pub tls_required: bool,
    /// Interval of keepalive `PING`s; zero disables them.
    pub ping_interval: Duration,
    /// Unanswered keepalive `PING`s tolerated before the connection is stale.
    pub max_pings_out: u32,
    /// Time allowed for a dial (from [`Event::WantConnect`](super::Event::WantConnect)
    /// to the driver's verdict; the connection abandons a dial that takes
    /// longer, so a driver needs no dial timeout of its own), and then again
    /// from transport connected to the `PONG` of the handshake.
    pub connect_timeout: Duration,
    /// Dial attempts after a loss or failed attempt before giving up; `None`
    /// retries forever (nats.go's negative value).
    pub max_reconnects: Option<u32>,
    /// Pause before each reconnect dial.
    pub reconnect_wait: Duration,
    /// How long a driver keeps writing the output left when the connection
    /// closes ([`Event::Closed`](super::Event::Closed)), before it drops
    /// that output and closes the transport (1 s).
    pub close_flush_timeout: Duration,
    /// Bytes of publishes held while disconnected; 0 makes such publishes
    /// fail with [`PublishError::NotConnected`](super::PublishError::NotConnected).
    pub reconnect_buffer_size: usize,
    /// Seed of the inbox generator (through a key derived from it with
    /// [`derive_key`](crate::rand::derive_key), so the inboxes do not
    /// reveal the seed).
    ///
    /// The options made by `ConnectOptions::nats_options` and
    /// `ServerConfig::nats_options` carry a seed derived from theirs. A
    /// driver that builds a connection from other options draws this seed
    /// from OS entropy: the default 0 is deterministic and public, for tests
    /// only.
    pub seed: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            servers: vec![ServerAddr::new("127.0.0.1", DEFAULT_PORT)],
            name: None,
            credentials: None,
            verbose: false,
            pedantic: false,
            echo: true,
            headers: true,
            no_responders: true,
            tls_required: false,
            ping_interval: Duration::from_secs(120),
            max_pings_out: 2,
            connect_timeout: Duration::from_secs(2),
            max_reconnects: Some(60),
            reconnect_wait: Duration::from_secs(2),
            close_flush_timeout: Duration::from_secs(1),
            reconnect_buffer_size: 8 * 1024 * 1024,
            seed: 0,
        }
    }
}

impl ClientOptions {
    /// Defaults with the servers of a comma-separated URL list.
    pub fn with_servers(urls: &str) -> Result<Self, UrlError> {
        Ok(ClientOptions {
            servers: ServerAddr::parse_list(urls)?,
            ..ClientOptions::default()
        })
    }
}
