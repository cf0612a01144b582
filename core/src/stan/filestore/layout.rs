//! Where things are in a store directory, and how its files are named
//! (those of nats-streaming-server 0.25.6):
//!
//! ```text
//! <dir>/server.dat          ServerInfo (untyped, one record)
//! <dir>/clients.dat         clients (typed)
//! <dir>/.rootdir.lck        exclusive lock of a running server
//! <dir>/.truncate.lck       witness of a start with --file_truncate_bad_eof
//! <dir>/<channel>/subs.dat  subscriptions (typed)
//! <dir>/<channel>/msgs.<N>.dat  messages of slice N (untyped), N = 1, 2, ...
//! <dir>/<channel>/msgs.<N>.idx  their index
//! ```
//!
//! Every directory under `<dir>` is a channel, named as the directory. Go
//! recovers the slices of a channel from its `msgs.<N>.dat` files (an index
//! without its data file is ignored), and renames a slice's files with a
//! `.bak` suffix before handing them to `--file_slice_archive_script`.

use std::fmt;

use super::record::Framing;

/// The server file.
pub const SERVER_FILE: &str = "server.dat";
/// The clients file.
pub const CLIENTS_FILE: &str = "clients.dat";
/// A channel's subscriptions file.
pub const SUBS_FILE: &str = "subs.dat";
/// The lock file a running server holds.
pub const LOCK_FILE: &str = ".rootdir.lck";
/// The witness file of a start with `--file_truncate_bad_eof` (a second
/// start with the option is refused while it exists).
pub const TRUNCATE_WITNESS_FILE: &str = ".truncate.lck";
/// Suffix of a slice's files handed to the archive script.
pub const BACKUP_SUFFIX: &str = ".bak";

const SLICE_PREFIX: &str = "msgs.";
const DATA_SUFFIX: &str = ".dat";
const INDEX_SUFFIX: &str = ".idx";

/// Name of slice `n`'s data file (`msgs.<n>.dat`).
pub fn slice_data_name(n: u64) -> String {
    format!("{SLICE_PREFIX}{n}{DATA_SUFFIX}")
}

/// Name of slice `n`'s index file (`msgs.<n>.idx`).
pub fn slice_index_name(n: u64) -> String {
    format!("{SLICE_PREFIX}{n}{INDEX_SUFFIX}")
}

/// A `msgs.*.dat` file whose slice number does not parse. The text is Go's.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("message log has an invalid name: {0}")]
pub struct InvalidSliceName(pub String);

/// The slice number of a channel directory's file name: `Ok(Some(n))` for
/// `msgs.<n>.dat`, `Ok(None)` for any file that is not a slice's data file
/// (`subs.dat`, indexes, backups...), an error for `msgs.<junk>.dat`.
pub fn parse_slice_data_name(name: &str) -> Result<Option<u64>, InvalidSliceName> {
    let Some(middle) = name
        .strip_prefix(SLICE_PREFIX)
        .and_then(|n| n.strip_suffix(DATA_SUFFIX))
    else {
        return Ok(None);
    };
    if middle.is_empty() || !middle.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidSliceName(name.to_owned()));
    }
    middle
        .parse::<u64>()
        .map(Some)
        .map_err(|_| InvalidSliceName(name.to_owned()))
}

/// One file of a store, named relative to the store directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileId {
    /// `server.dat`.
    Server,
    /// `clients.dat`.
    Clients,
    /// `<channel>/subs.dat`.
    Subs {
        /// Channel name.
        channel: String,
    },
    /// `<channel>/msgs.<slice>.dat`.
    SliceData {
        /// Channel name.
        channel: String,
        /// Slice number.
        slice: u64,
    },
    /// `<channel>/msgs.<slice>.idx`.
    SliceIndex {
        /// Channel name.
        channel: String,
        /// Slice number.
        slice: u64,
    },
}

impl FileId {
    /// Slice `slice` of `channel`: its data file, then its index.
    pub fn slice_files(channel: &str, slice: u64) -> [FileId; 2] {
        [
            FileId::SliceData {
                channel: channel.to_owned(),
                slice,
            },
            FileId::SliceIndex {
                channel: channel.to_owned(),
                slice,
            },
        ]
    }

    /// The channel the file belongs to, if any.
    pub fn channel(&self) -> Option<&str> {
        match self {
            FileId::Server | FileId::Clients => None,
            FileId::Subs { channel }
            | FileId::SliceData { channel, .. }
            | FileId::SliceIndex { channel, .. } => Some(channel),
        }
    }

    /// Whether a write to the file must be synced for what it holds to be
    /// durable. A slice's index need not: recovery checks it against the
    /// data file, the truth, and rebuilds what it lacks; so a group commit
    /// costs one sync of the data file, not two.
    pub fn needs_sync(&self) -> bool {
        !matches!(self, FileId::SliceIndex { .. })
    }

    /// How the file's records are framed (`None` for an index, whose
    /// records have no header).
    pub fn framing(&self) -> Option<Framing> {
        match self {
            FileId::Server | FileId::SliceData { .. } => Some(Framing::Untyped),
            FileId::Clients | FileId::Subs { .. } => Some(Framing::Typed),
            FileId::SliceIndex { .. } => None,
        }
    }
}

impl fmt::Display for FileId {
    /// The path relative to the store directory, with `/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileId::Server => f.write_str(SERVER_FILE),
            FileId::Clients => f.write_str(CLIENTS_FILE),
            FileId::Subs { channel } => write!(f, "{channel}/{SUBS_FILE}"),
            FileId::SliceData { channel, slice } => {
                write!(f, "{channel}/{SLICE_PREFIX}{slice}{DATA_SUFFIX}")
            }
            FileId::SliceIndex { channel, slice } => {
                write!(f, "{channel}/{SLICE_PREFIX}{slice}{INDEX_SUFFIX}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(slice_data_name(1), "msgs.1.dat");
        assert_eq!(slice_index_name(12), "msgs.12.idx");
        assert_eq!(parse_slice_data_name("msgs.1.dat"), Ok(Some(1)));
        assert_eq!(parse_slice_data_name("msgs.0042.dat"), Ok(Some(42)));
        for other in [
            "subs.dat",
            "msgs.1.idx",
            "msgs.1.dat.bak",
            "clients.dat",
            "x",
        ] {
            assert_eq!(parse_slice_data_name(other), Ok(None), "{other}");
        }
        for bad in [
            "msgs..dat",
            "msgs.a.dat",
            "msgs.-1.dat",
            "msgs.99999999999999999999.dat",
        ] {
            let e = parse_slice_data_name(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("message log has an invalid name: {bad}")
            );
        }
    }

    #[test]
    fn file_ids() {
        let ch = || "orders".to_owned();
        assert_eq!(FileId::Server.to_string(), "server.dat");
        assert_eq!(FileId::Clients.to_string(), "clients.dat");
        assert_eq!(
            FileId::Subs { channel: ch() }.to_string(),
            "orders/subs.dat"
        );
        let data = FileId::SliceData {
            channel: ch(),
            slice: 3,
        };
        assert_eq!(data.to_string(), "orders/msgs.3.dat");
        assert_eq!(data.framing(), Some(Framing::Untyped));
        let idx = FileId::SliceIndex {
            channel: ch(),
            slice: 3,
        };
        assert_eq!(idx.to_string(), "orders/msgs.3.idx");
        assert_eq!(idx.framing(), None);
        assert_eq!(FileId::Clients.framing(), Some(Framing::Typed));
    }
}
