//! What the handshake exchanges: the server's `INFO` (docs/protocol.md A.3), our
//! `CONNECT` (A.4), and how `-ERR` texts are classified (A.12).

use serde::{Deserialize, Serialize};

use super::options::{ClientOptions, Credentials, ServerAddr};

/// The fields of the server's `INFO` a client uses. Unknown fields are
/// ignored; absent ones take their zero value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The server's id.
    pub server_id: String,
    /// The server's name.
    pub server_name: String,
    /// The server's version.
    pub version: String,
    /// Protocol level (1: asynchronous `INFO` supported).
    pub proto: i64,
    /// Listen host.
    pub host: String,
    /// Listen port.
    pub port: u16,
    /// Headers (`HPUB`/`HMSG`) supported.
    pub headers: bool,
    /// Credentials required.
    pub auth_required: bool,
    /// TLS required: the client upgrades after `INFO`
    /// ([`Event::UpgradeTls`](super::Event::UpgradeTls)).
    pub tls_required: bool,
    /// TLS available though not required (nats-server's `allow_non_tls`).
    pub tls_available: bool,
    /// Largest payload (headers included) the server accepts.
    pub max_payload: usize,
    /// Our connection's id on the server.
    pub client_id: u64,
    /// `host:port` of other servers of the cluster.
    pub connect_urls: Vec<String>,
    /// The server is in lame-duck mode (about to shut down).
    pub ldm: bool,
}

impl ServerInfo {
    /// Parses the JSON object of an `INFO` line.
    pub fn parse(json: &[u8]) -> Result<ServerInfo, String> {
        if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err("INFO is not a JSON object".into());
        }
        serde_json::from_slice(json).map_err(|e| e.to_string())
    }
}

#[derive(Serialize)]
struct ConnectJson<'a> {
    verbose: bool,
    pedantic: bool,
    tls_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pass: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    lang: &'a str,
    version: &'a str,
    protocol: u8,
    echo: bool,
    headers: bool,
    no_responders: bool,
}

/// The `CONNECT` JSON for `server`, given what its `INFO` said; `tls`:
/// the connection was upgraded to TLS.
pub(crate) fn connect_json(
    opts: &ClientOptions,
    server: &ServerAddr,
    info: &ServerInfo,
    tls: bool,
) -> Vec<u8> {
    let creds = server.credentials.as_ref().or(opts.credentials.as_ref());
    let (user, pass, token) = match creds {
        Some(Credentials::UserPass { user, pass }) => {
            (Some(user.as_str()), Some(pass.as_str()), None)
        }
        Some(Credentials::Token(t)) => (None, None, Some(t.as_str())),
        None => (None, None, None),
    };
    let headers = opts.headers && info.headers;
    let json = ConnectJson {
        verbose: opts.verbose,
        pedantic: opts.pedantic,
        tls_required: tls,
        auth_token: token,
        user,
        pass,
        name: opts.name.as_deref(),
        lang: "rust",
        version: env!("CARGO_PKG_VERSION"),
        protocol: 1,
        echo: opts.echo,
        headers,
        no_responders: headers && opts.no_responders,
    };
    // Serializing strings, numbers and booleans cannot fail.
    serde_json::to_vec(&json).unwrap_or_else(|_| b"{}".to_vec())
}

/// What a `-ERR` means for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrKind {
    /// The server keeps the connection open.
    NonFatal,
    /// Credentials were refused; the server closes.
    Auth,
    /// The server closes.
    Fatal,
}

/// Classifies a `-ERR` text as nats.go does (by its lower-cased text).
pub(crate) fn classify_err(text: &str) -> ErrKind {
    let t = text.trim().to_ascii_lowercase();
    if t.starts_with("permissions violation")
        || t == "invalid subject"
        || t == "invalid publish subject"
        || t.starts_with("maximum subscriptions exceeded")
    {
        ErrKind::NonFatal
    } else if t.starts_with("authorization violation")
        || t.starts_with("authentication timeout")
        || t.contains("authentication expired")
        || t.contains("authentication revoked")
    {
        ErrKind::Auth
    } else {
        ErrKind::Fatal
    }
}
