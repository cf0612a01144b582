//! [`AnyStore`]: the store chosen at run time (`-st MEMORY|FILE`), one type
//! for the engine and its drivers.

use super::filestore::io::{IoBatch, IoDone, IoFailure};
use super::filestore::FileStore;
use super::store::{
    ChannelLimits, ChannelStats, ClientRecord, Fetch, MemStore, ReadTrouble, Store, StoreError,
    StoredMsg, SubRecord,
};

/// The memory store or the file store.
///
/// ```
/// use stan_core::stan::any_store::AnyStore;
/// use stan_core::stan::store::{ChannelLimits, MemStore, Store};
///
/// let mut store = AnyStore::from(MemStore::new(10));
/// store.create_channel("foo", ChannelLimits::default()).unwrap();
/// assert!(!store.persists_state());
/// assert_eq!(store.kind(), "MEMORY");
/// ```
#[derive(Debug)]
pub enum AnyStore {
    /// `-st MEMORY`.
    Memory(MemStore),
    /// `-st FILE`.
    File(Box<FileStore>),
}

impl AnyStore {
    /// The store type as `/streaming/storez` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyStore::Memory(_) => "MEMORY",
            AnyStore::File(_) => "FILE",
        }
    }
}

impl From<MemStore> for AnyStore {
    fn from(s: MemStore) -> Self {
        AnyStore::Memory(s)
    }
}

impl From<FileStore> for AnyStore {
    fn from(s: FileStore) -> Self {
        AnyStore::File(Box::new(s))
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Memory($s) => $e,
            AnyStore::File($s) => $e,
        }
    };
}

impl Store for AnyStore {
    fn create_channel(&mut self, channel: &str, limits: ChannelLimits) -> Result<(), StoreError> {
        each!(self, s => s.create_channel(channel, limits))
    }
    fn delete_channel(&mut self, channel: &str) -> Result<(), StoreError> {
        each!(self, s => s.delete_channel(channel))
    }
    fn append(&mut self, channel: &str, msg: StoredMsg) -> Result<(), StoreError> {
        each!(self, s => s.append(channel, msg))
    }
    fn flush(&mut self) -> Result<(), StoreError> {
        each!(self, s => s.flush())
    }
    fn lookup(&self, channel: &str, seq: u64) -> Option<StoredMsg> {
        each!(self, s => s.lookup(channel, seq))
    }
    fn stats(&self, channel: &str) -> Option<ChannelStats> {
        each!(self, s => s.stats(channel))
    }
    fn first_seq_at_or_after(&self, channel: &str, timestamp: i64) -> Option<u64> {
        each!(self, s => s.first_seq_at_or_after(channel, timestamp))
    }
    fn expire(&mut self, channel: &str, now: i64) -> Option<i64> {
        each!(self, s => s.expire(channel, now))
    }
    fn fetch(&mut self, channel: &str, seq: u64) -> Fetch {
        each!(self, s => s.fetch(channel, seq))
    }
    fn poll_read(&mut self) -> Option<String> {
        each!(self, s => s.poll_read())
    }
    fn poll_read_trouble(&mut self) -> Option<ReadTrouble> {
        each!(self, s => s.poll_read_trouble())
    }
    fn timestamp_of(&self, channel: &str, seq: u64) -> Option<i64> {
        each!(self, s => s.timestamp_of(channel, seq))
    }
    fn kind(&self) -> &'static str {
        AnyStore::kind(self)
    }
    fn persists_state(&self) -> bool {
        each!(self, s => s.persists_state())
    }
    fn record_client(&mut self, record: ClientRecord) {
        each!(self, s => s.record_client(record))
    }
    fn record_sub(&mut self, channel: &str, record: SubRecord) {
        each!(self, s => s.record_sub(channel, record))
    }
    fn set_time(&mut self, unix_ns: i64) {
        each!(self, s => s.set_time(unix_ns))
    }
    fn poll_io(&mut self) -> Option<IoBatch> {
        each!(self, s => s.poll_io())
    }
    fn handle_io_done(&mut self, done: IoDone) -> Option<IoFailure> {
        each!(self, s => s.handle_io_done(done))
    }
    fn write_mark(&self) -> u64 {
        each!(self, s => s.write_mark())
    }
    fn durable_mark(&self) -> u64 {
        each!(self, s => s.durable_mark())
    }
    fn next_deadline(&self) -> Option<i64> {
        each!(self, s => s.next_deadline())
    }
    fn failure(&self) -> Option<&IoFailure> {
        each!(self, s => s.failure())
    }

    fn suspended(&self) -> Option<&IoFailure> {
        each!(self, s => s.suspended())
    }

    fn retry_now(&mut self) {
        each!(self, s => s.retry_now())
    }

    fn retrying(&self) -> bool {
        each!(self, s => s.retrying())
    }
}
