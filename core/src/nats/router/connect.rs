//! The `CONNECT` JSON a client sends, with nats-server's defaults for absent
//! fields (docs/protocol.md A.4).

use serde::Deserialize;

/// Options a client declares in `CONNECT`. Absent booleans keep the server's
/// defaults: `verbose`, `pedantic` and `echo` are true, the rest false.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ConnectOptions {
    /// Reply `+OK` to every `CONNECT`/`PUB`/`HPUB`/`SUB`/`UNSUB`.
    pub verbose: bool,
    /// Check publish subjects strictly.
    pub pedantic: bool,
    /// The client wants TLS.
    pub tls_required: bool,
    /// Token credential.
    pub auth_token: Option<String>,
    /// User name credential.
    pub user: Option<String>,
    /// Password credential.
    pub pass: Option<String>,
    /// Client name.
    pub name: String,
    /// Client library language.
    pub lang: String,
    /// Client library version.
    pub version: String,
    /// Protocol level: 0 or 1.
    pub protocol: i64,
    /// Deliver the connection's own publishes to its own subscriptions.
    pub echo: bool,
    /// The client understands `HPUB`/`HMSG`.
    pub headers: bool,
    /// The client wants a 503 status reply to requests nobody receives.
    pub no_responders: bool,
    /// Account to bind to (not supported: an authorization violation).
    pub account: Option<String>,
    /// Ask for a new account (not supported: an authorization violation).
    pub new_account: Option<bool>,
}

impl ConnectOptions {
    /// Only the credentials (user, password, token), if any was given.
    pub(crate) fn credentials(&self) -> Option<ConnectOptions> {
        (self.user.is_some() || self.pass.is_some() || self.auth_token.is_some()).then(|| {
            ConnectOptions {
                user: self.user.clone(),
                pass: self.pass.clone(),
                auth_token: self.auth_token.clone(),
                ..ConnectOptions::default()
            }
        })
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            verbose: true,
            pedantic: true,
            tls_required: false,
            auth_token: None,
            user: None,
            pass: None,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            protocol: 0,
            echo: true,
            headers: false,
            no_responders: false,
            account: None,
            new_account: None,
        }
    }
}

/// Why a `CONNECT` JSON could not be read.
#[derive(thiserror::Error, Debug)]
pub enum ConnectParseError {
    /// Not a JSON object, or a field of the wrong type.
    #[error("invalid CONNECT JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Valid JSON, but not an object.
    #[error("CONNECT JSON is not an object")]
    NotAnObject,
}

impl ConnectOptions {
    /// Parses the JSON object of a `CONNECT` line.
    pub fn parse(json: &[u8]) -> Result<Self, ConnectParseError> {
        // serde would also read a struct from an array; nats-server would not.
        if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ConnectParseError::NotAnObject);
        }
        Ok(serde_json::from_slice(json)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_keep_server_defaults() {
        let o = ConnectOptions::parse(b"{}").unwrap();
        assert!(o.verbose && o.pedantic && o.echo && !o.headers && !o.no_responders);
        let o = ConnectOptions::parse(
            br#"{"verbose":false,"pedantic":false,"tls_required":false,"name":"me","lang":"go","version":"1.31.0","protocol":1,"echo":false,"headers":true,"no_responders":true,"user":"u","pass":"p","extra":[1,2]}"#,
        )
        .unwrap();
        assert!(!o.verbose && !o.pedantic && !o.echo && o.headers && o.no_responders);
        assert_eq!((o.protocol, o.name.as_str()), (1, "me"));
        assert_eq!(
            (o.user.as_deref(), o.pass.as_deref()),
            (Some("u"), Some("p"))
        );
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(ConnectOptions::parse(b"{").is_err());
        assert!(ConnectOptions::parse(br#"{"verbose":"yes"}"#).is_err());
        assert!(ConnectOptions::parse(b"[]").is_err());
    }
}
