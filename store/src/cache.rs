//! The IO thread's open files: a bounded map from [`FileId`] to an open
//! handle, the least recently used closed when it is full
//! (`--file_fds_limit`). Each handle remembers whether it was written since
//! the last sync.

use std::collections::HashMap;
use std::fs::File;

use stan_core::stan::filestore::FileId;

/// Open handles kept when no limit is given.
pub const DEFAULT_MAX_OPEN_FILES: usize = 256;

/// An open file.
#[derive(Debug)]
pub struct Entry {
    /// The handle (opened for appending).
    pub file: File,
    /// Written since it was last synced.
    pub dirty: bool,
    /// The file's length (what was appended through this handle counted).
    pub len: u64,
    used: u64,
}

/// The open files. See the module docs.
#[derive(Debug)]
pub struct FileCache {
    files: HashMap<FileId, Entry>,
    capacity: usize,
    tick: u64,
}

impl FileCache {
    /// A cache of at most `capacity` handles (0: the default).
    pub fn new(capacity: usize) -> FileCache {
        let capacity = if capacity == 0 {
            DEFAULT_MAX_OPEN_FILES
        } else {
            capacity
        };
        FileCache {
            files: HashMap::new(),
            capacity,
            tick: 0,
        }
    }

    /// The handle of `id`, if open (marked as just used).
    pub fn get(&mut self, id: &FileId) -> Option<&mut Entry> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.files.get_mut(id)?;
        entry.used = tick;
        Some(entry)
    }

    /// Closes the least recently used handle if the cache is full, handing
    /// it back (to sync it if it is dirty).
    pub fn make_room(&mut self) -> Option<(FileId, Entry)> {
        if self.files.len() < self.capacity {
            return None;
        }
        let oldest = self
            .files
            .iter()
            .min_by_key(|(_, e)| e.used)
            .map(|(id, _)| id.clone())?;
        self.files.remove_entry(&oldest)
    }

    /// Adds an open handle (after [`FileCache::make_room`]).
    pub fn insert(&mut self, id: FileId, file: File) -> &mut Entry {
        self.tick += 1;
        let entry = Entry {
            file,
            dirty: false,
            len: 0,
            used: self.tick,
        };
        match self.files.entry(id) {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                o.insert(entry);
                o.into_mut()
            }
            std::collections::hash_map::Entry::Vacant(v) => v.insert(entry),
        }
    }

    /// Closes `id`'s handle.
    pub fn remove(&mut self, id: &FileId) {
        self.files.remove(id);
    }

    /// Closes the handles of a channel's files.
    pub fn remove_channel(&mut self, channel: &str) {
        self.files.retain(|id, _| id.channel() != Some(channel));
    }

    /// The handles written since their last sync.
    pub fn dirty(&mut self) -> impl Iterator<Item = (&FileId, &mut Entry)> {
        self.files.iter_mut().filter(|(_, e)| e.dirty)
    }

    /// Whether a handle was written since its last sync.
    pub fn has_dirty(&self) -> bool {
        self.files.values().any(|e| e.dirty)
    }

    /// Forgets which handles were written.
    pub fn clear_dirty(&mut self) {
        for e in self.files.values_mut() {
            e.dirty = false;
        }
    }

    /// Open handles.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.files.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> FileId {
        FileId::SliceData {
            channel: "c".into(),
            slice: n,
        }
    }

    #[test]
    fn least_recently_used_goes_first() {
        let dir = std::env::temp_dir();
        let open = || File::open(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut cache = FileCache::new(2);
        assert!(cache.make_room().is_none());
        cache.insert(id(1), open());
        cache.insert(id(2), open()).dirty = true;
        assert!(cache.get(&id(1)).is_some());
        let (gone, entry) = cache.make_room().unwrap();
        assert_eq!(gone, id(2));
        assert!(entry.dirty);
        cache.insert(id(3), open());
        assert_eq!(cache.len(), 2);
        cache.remove_channel("other");
        assert_eq!(cache.len(), 2);
        cache.remove_channel("c");
        assert_eq!(cache.len(), 0);
        assert_eq!(FileCache::new(0).capacity, DEFAULT_MAX_OPEN_FILES);
    }
}
