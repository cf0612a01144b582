//! Reading a store directory's files into a [`StoreFiles`] for
//! [`recover`](stan_core::stan::filestore::recover()): `server.dat`,
//! `clients.dat`, and every sub-directory as a channel (its `subs.dat`, and
//! each `msgs.<N>.dat` with its `msgs.<N>.idx`). Anything else (lock files,
//! temporary files, backups, stray files) is ignored, as Go ignores it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use stan_core::stan::filestore::layout::{
    parse_slice_data_name, slice_data_name, slice_index_name, InvalidSliceName, CLIENTS_FILE,
    SERVER_FILE, SUBS_FILE,
};
use stan_core::stan::filestore::{ChannelFiles, SliceFiles, StoreFiles};

/// Why a store directory could not be read.
#[derive(thiserror::Error, Debug)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("unable to read {}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A `msgs.<junk>.dat` file (Go's text, then the channel directory).
    #[error("{source} (in {})", dir.display())]
    InvalidSliceName {
        /// The channel directory.
        dir: PathBuf,
        /// The name.
        #[source]
        source: InvalidSliceName,
    },
    /// A directory whose name is not UTF-8 (no channel is named so).
    #[error("{} is not a channel directory: its name is not UTF-8", path.display())]
    NonUtf8Name {
        /// The directory.
        path: PathBuf,
    },
}

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> LoadError + '_ {
    move |source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// A file's bytes, `None` if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Bytes>, LoadError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(Bytes::from(b))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_err(path)(e)),
    }
}

/// Reads every file of the store directory `dir` (its `server.dat` must
/// exist).
pub fn load(dir: &Path) -> Result<StoreFiles, LoadError> {
    load_with(dir, true)
}

/// Reads the store directory `dir` but its slices, which are only listed
/// (their bytes empty): [`read_slice`] reads each one when recovery needs
/// it (`stan_core::stan::filestore::recover_streaming`).
pub fn load_meta(dir: &Path) -> Result<StoreFiles, LoadError> {
    load_with(dir, false)
}

/// Reads slice `number` of `channel` (its data file and, if any, its
/// index).
pub fn read_slice(dir: &Path, channel: &str, number: u64) -> Result<SliceFiles, LoadError> {
    let channel_dir = dir.join(channel);
    let path = channel_dir.join(slice_data_name(number));
    let data = fs::read(&path).map_err(read_err(&path))?;
    let index = read_optional(&channel_dir.join(slice_index_name(number)))?;
    Ok(SliceFiles {
        data: Bytes::from(data),
        index,
    })
}

fn load_with(dir: &Path, slices: bool) -> Result<StoreFiles, LoadError> {
    let server_path = dir.join(SERVER_FILE);
    let server = fs::read(&server_path).map_err(read_err(&server_path))?;
    let mut files = StoreFiles {
        server: Bytes::from(server),
        clients: read_optional(&dir.join(CLIENTS_FILE))?,
        channels: BTreeMap::new(),
    };
    for entry in fs::read_dir(dir).map_err(read_err(dir))? {
        let entry = entry.map_err(read_err(dir))?;
        let path = entry.path();
        // Not following symbolic links, as Go's `ioutil.ReadDir` (lstat).
        if !entry.file_type().map_err(read_err(&path))?.is_dir() {
            continue;
        }
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| LoadError::NonUtf8Name { path: path.clone() })?;
        let channel = load_channel(&path, slices)?;
        files.channels.insert(name, channel);
    }
    Ok(files)
}

/// Reads a channel directory.
fn load_channel(dir: &Path, slices: bool) -> Result<ChannelFiles, LoadError> {
    let mut channel = ChannelFiles {
        subs: read_optional(&dir.join(SUBS_FILE))?,
        slices: BTreeMap::new(),
    };
    for entry in fs::read_dir(dir).map_err(read_err(dir))? {
        let entry = entry.map_err(read_err(dir))?;
        let name = entry.file_name();
        // A name that is not UTF-8 is no slice's.
        let Some(name) = name.to_str() else {
            continue;
        };
        let number = parse_slice_data_name(name).map_err(|source| LoadError::InvalidSliceName {
            dir: dir.to_path_buf(),
            source,
        })?;
        let Some(number) = number else {
            continue;
        };
        if !slices {
            channel.slices.insert(number, SliceFiles::default());
            continue;
        }
        let path = entry.path();
        let data = fs::read(&path).map_err(read_err(&path))?;
        let index = read_optional(&dir.join(slice_index_name(number)))?;
        channel.slices.insert(
            number,
            SliceFiles {
                data: Bytes::from(data),
                index,
            },
        );
    }
    Ok(channel)
}
