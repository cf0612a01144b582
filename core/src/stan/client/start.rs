//! Starting a client connection: the options a client API takes, turned
//! into the stacked state machine every driver runs (a NATS client
//! connection with the STAN [`Session`] on it). Written once here so the
//! drivers only add their IO.

use std::time::Instant;

use super::{ClientError, ConnectOptions, Session};
use crate::nats::client::{Connection, UrlError};
use crate::nats::stack::Stack;

/// Options of a client connection beyond the URL and IDs.
#[derive(Debug, Clone)]
pub struct Options {
    /// STAN settings (`cluster_id` and `client_id` are overwritten by
    /// [`Options::start`]'s arguments).
    pub stan: ConnectOptions,
    /// Name of the NATS connection (default: the client ID). Credentials
    /// for the NATS server go in the URL (`nats://user:pass@host:port`).
    pub nats_name: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            stan: ConnectOptions::new("", ""),
            nats_name: None,
        }
    }
}

/// Why a client connection could not be started or made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL does not parse.
    #[error("invalid NATS URL: {0}")]
    Url(String),
    /// The STAN options are invalid, or the server refused.
    #[error(transparent)]
    Stan(ClientError),
}

impl From<UrlError> for ConnectError {
    fn from(e: UrlError) -> Self {
        ConnectError::Url(e.to_string())
    }
}

impl Options {
    /// The stack a driver runs for a connection to `url`
    /// (`nats://[user:pass@]host:port`, comma-separated for several) as
    /// `client_id` of `cluster_id`: the NATS connection asks to dial at
    /// once, and the session connects to the streaming server as soon as
    /// NATS is up. `seed` is used when the options leave theirs at 0 (a
    /// driver passes OS entropy); `unix_now_ns` is the wall clock at `now`.
    pub fn start(
        self,
        url: &str,
        cluster_id: &str,
        client_id: &str,
        seed: u64,
        now: Instant,
        unix_now_ns: i64,
    ) -> Result<Stack<Session>, ConnectError> {
        let mut stan = self.stan;
        stan.cluster_id = cluster_id.to_owned();
        stan.client_id = client_id.to_owned();
        if stan.seed == 0 {
            stan.seed = seed;
        }
        let nats = stan.nats_options(url, self.nats_name)?;
        let session = Session::new(stan, now, unix_now_ns).map_err(ConnectError::Stan)?;
        Ok(Stack::new(Connection::new(nats, now), session, now))
    }
}
