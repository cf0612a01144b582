//! Errors. Every error found in a file names the file, line and column
//! (see [`Error::pos`]); only failing to read the top-level file itself has
//! no position.

use std::io;
use std::path::PathBuf;

use crate::value::Pos;

/// An error parsing a configuration file or mapping it to settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The top-level file could not be read (through the [`Loader`](crate::Loader)).
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// A syntax error.
    #[error("{pos}: {msg}")]
    Syntax {
        /// Where.
        pos: Pos,
        /// What.
        msg: String,
    },

    /// A `$name` that is neither a key defined earlier in an enclosing map
    /// nor an environment variable.
    #[error("{pos}: variable reference for '{name}' can not be found")]
    UndefinedVariable {
        /// Where the reference is.
        pos: Pos,
        /// The variable.
        name: String,
    },

    /// An environment variable whose value does not parse as a value.
    #[error("{pos}: variable reference for '{name}' could not be parsed: {msg}")]
    BadEnvVariable {
        /// Where the reference is.
        pos: Pos,
        /// The variable.
        name: String,
        /// Why its value does not parse.
        msg: String,
    },

    /// An included file could not be read.
    #[error("{pos}: error parsing include file '{}': {source}", path.display())]
    Include {
        /// Where the `include` is.
        pos: Pos,
        /// The resolved path of the included file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// A file includes itself, directly or not (nats-server recurses until
    /// it runs out of stack), or includes are nested too deep.
    #[error("{pos}: include cycle: '{}' is already being included", path.display())]
    IncludeCycle {
        /// Where the `include` is.
        pos: Pos,
        /// The resolved path of the included file.
        path: PathBuf,
    },

    /// Maps and arrays nested deeper than [`MAX_DEPTH`](crate::MAX_DEPTH),
    /// includes nested deeper than [`MAX_INCLUDE_DEPTH`](crate::MAX_INCLUDE_DEPTH),
    /// or a tree larger than [`MAX_NODES`](crate::MAX_NODES) values (as
    /// variables can multiply).
    #[error("{pos}: {what}")]
    TooLarge {
        /// Where the limit was crossed.
        pos: Pos,
        /// Which limit.
        what: String,
    },

    /// A key that is not an option at this place.
    #[error("{pos}: unknown configuration key \"{key}\" in {section}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where the key is.
        pos: Pos,
        /// Where it was found (`the top level`, `the streaming block`,
        /// `store_limits`, …), possibly with a hint.
        section: String,
    },

    /// A value of the wrong type, with nats-streaming-server's text
    /// (`parameter "hb_interval" value is expected to be string, got int64`).
    #[error("{pos}: parameter \"{key}\" value is expected to be {expected}, got {got}")]
    TypeMismatch {
        /// The key as written.
        key: String,
        /// Where the key is.
        pos: Pos,
        /// The Go kind expected (`string`, `bool`, `int64`, `map`, …).
        expected: &'static str,
        /// The Go kind found.
        got: &'static str,
    },

    /// A value of the right type that is not acceptable (bad duration,
    /// unknown store type, invalid channel name, …).
    #[error("{pos}: invalid value for \"{key}\": {msg}")]
    InvalidValue {
        /// The key as written.
        key: String,
        /// Where the value is.
        pos: Pos,
        /// Why.
        msg: String,
    },

    /// An option nats-server or nats-streaming-server has, but this build
    /// does not implement.
    #[error("{pos}: \"{key}\" is not supported by this build{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Unsupported {
        /// The key as written.
        key: String,
        /// Where the key is.
        pos: Pos,
        /// More about it, if anything.
        detail: Option<String>,
    },
}

impl Error {
    /// Where in which file the error is; `None` only for [`Error::Read`].
    pub fn pos(&self) -> Option<&Pos> {
        match self {
            Error::Read { .. } => None,
            Error::Syntax { pos, .. }
            | Error::UndefinedVariable { pos, .. }
            | Error::BadEnvVariable { pos, .. }
            | Error::Include { pos, .. }
            | Error::IncludeCycle { pos, .. }
            | Error::TooLarge { pos, .. }
            | Error::UnknownKey { pos, .. }
            | Error::TypeMismatch { pos, .. }
            | Error::InvalidValue { pos, .. }
            | Error::Unsupported { pos, .. } => Some(pos),
        }
    }
}
