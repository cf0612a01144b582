//! Why the harness itself could not run (as opposed to a server that broke
//! a promise, which is a [`Violation`](super::violation::Violation)).

use std::io;
use std::path::PathBuf;

use stan_tokio::ClientError;

use super::server::ServerError;

/// A run that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum CrashError {
    /// No `--server` and no `stan-server` next to this program.
    #[error("no stan-server next to this program ({path}); give --server PATH")]
    NoServer {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The work directory could not be prepared.
    #[error("work directory {path}: {source}")]
    WorkDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The store directory exists and is not empty.
    #[error("store directory {0} is not empty: give a new --work-dir")]
    StoreNotEmpty(PathBuf),
    /// No loopback port could be had.
    #[error("no free loopback port: {0}")]
    Port(io::Error),
    /// Starting or stopping the server failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A client could not connect in time.
    #[error("cannot connect as {client_id}: {error}")]
    Connect {
        /// The client ID.
        client_id: String,
        /// The last error.
        error: String,
    },
    /// A subscription was refused.
    #[error("{client_id} cannot subscribe to {channel}: {error}")]
    Subscribe {
        /// The client ID.
        client_id: String,
        /// The channel.
        channel: String,
        /// Why.
        error: ClientError,
    },
    /// The run did not finish within its hard bound.
    #[error("the run did not finish within {0:?} (time budget plus slack); its server was killed")]
    TimedOut(std::time::Duration),
    /// The sentinel that marks a channel's end could not be published.
    #[error("cannot publish the sentinel on {channel}: {error}")]
    Sentinel {
        /// The channel.
        channel: String,
        /// Why.
        error: ClientError,
    },
}
