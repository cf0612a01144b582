//! `clients.dat` and each channel's `subs.dat`: their records staged, their
//! live state folded as it goes, and their compaction (`--file_compact_*`)
//! rewritten from it.

use bytes::BytesMut;
use stan_proto::{ClientDelete, SubStateDelete, SubStateUpdate};

use super::{FileStore, FileStoreOptions};
use crate::stan::filestore::io::FileOp;
use crate::stan::filestore::layout::FileId;
use crate::stan::filestore::record::{encode_message, put_version};
use crate::stan::filestore::subs::RecoveredSub;
use crate::stan::filestore::types::{ClientRecordType, SubRecordType};
use crate::stan::store::{ClientRecord, SubRecord};

/// A typed log file whose live state is folded as records are staged, so
/// that it can be rewritten compact.
#[derive(Debug)]
pub(super) struct LogFile {
    pub(super) file: FileId,
    pub(super) size: u64,
    pub(super) live: u64,
    pub(super) obsolete: u64,
    /// Unix ns of the last compaction (or of the store's opening).
    pub(super) compacted_at: i64,
}

impl LogFile {
    pub(super) fn new(file: FileId, size: u64, live: u64, obsolete: u64, now: i64) -> LogFile {
        LogFile {
            file,
            size,
            live,
            obsolete,
            compacted_at: now,
        }
    }

    fn should_compact(&self, opts: &FileStoreOptions, now: i64) -> bool {
        let total = self.live + self.obsolete;
        let interval = i64::try_from(opts.compact_interval.as_nanos()).unwrap_or(i64::MAX);
        opts.compact
            && self.size >= opts.compact_min_size
            && total > 0
            && self.obsolete * 100 / total >= u64::from(opts.compact_fragmentation)
            && now.saturating_sub(self.compacted_at) >= interval
    }
}

impl FileStore {
    /// Stages a client record (and compacts `clients.dat` when due).
    pub(super) fn log_client(&mut self, record: ClientRecord) {
        self.scratch.clear();
        let encoded = match &record {
            ClientRecord::Added(info) => {
                self.clients.insert(info.id.clone(), info.clone());
                self.clients_log.live += 1;
                encode_message(
                    &mut self.scratch,
                    ClientRecordType::Add,
                    info,
                    &self.opts.crc,
                )
            }
            ClientRecord::Removed(id) => {
                if self.clients.remove(id).is_some() {
                    self.clients_log.live = self.clients_log.live.saturating_sub(1);
                    self.clients_log.obsolete += 2;
                }
                encode_message(
                    &mut self.scratch,
                    ClientRecordType::Delete,
                    &ClientDelete { id: id.clone() },
                    &self.opts.crc,
                )
            }
        };
        if let Ok(n) = encoded {
            self.clients_log.size += n as u64;
            self.journal.append(&FileId::Clients, &self.scratch);
        }
        self.compact_clients();
    }

    /// Stages a subscription record, folding it into the live state (and
    /// compacts the channel's `subs.dat` when due).
    pub(super) fn log_sub(&mut self, channel: &str, record: SubRecord) {
        let Some(ch) = self.channels.get_mut(channel) else {
            return;
        };
        let log = &mut ch.subs_log;
        match &record {
            SubRecord::New(state) => {
                ch.subs.insert(
                    state.id,
                    RecoveredSub {
                        state: state.clone(),
                        pending: Default::default(),
                    },
                );
                log.live += 1;
            }
            SubRecord::Update(state) => {
                let sub = ch.subs.entry(state.id).or_default();
                sub.state = state.clone();
                log.obsolete += 1;
            }
            SubRecord::Delete(id) => {
                if let Some(sub) = ch.subs.remove(id) {
                    let gone = 1 + sub.pending.len() as u64;
                    log.live = log.live.saturating_sub(gone);
                    log.obsolete += gone + 1;
                }
            }
            SubRecord::Sent { id, seq } => {
                if let Some(sub) = ch.subs.get_mut(id) {
                    sub.pending.insert(*seq);
                    sub.state.last_sent = sub.state.last_sent.max(*seq);
                    log.live += 1;
                }
            }
            SubRecord::Acked { id, seq } => {
                if let Some(sub) = ch.subs.get_mut(id) {
                    if sub.pending.remove(seq) {
                        log.live = log.live.saturating_sub(1);
                        log.obsolete += 2;
                    }
                }
            }
        }
        match record {
            SubRecord::New(s) => self.stage_sub(channel, SubRecordType::New, &s),
            SubRecord::Update(s) => self.stage_sub(channel, SubRecordType::Update, &s),
            SubRecord::Delete(id) => {
                self.stage_sub(channel, SubRecordType::Delete, &SubStateDelete { id })
            }
            SubRecord::Sent { id, seq } => self.stage_sub(
                channel,
                SubRecordType::Msg,
                &SubStateUpdate { id, seqno: seq },
            ),
            SubRecord::Acked { id, seq } => self.stage_sub(
                channel,
                SubRecordType::Ack,
                &SubStateUpdate { id, seqno: seq },
            ),
        }
        self.compact_subs(channel);
    }

    fn stage_sub(
        &mut self,
        channel: &str,
        rec_type: SubRecordType,
        msg: &impl stan_proto::Message,
    ) {
        let Some(ch) = self.channels.get_mut(channel) else {
            return;
        };
        self.scratch.clear();
        if let Ok(n) = encode_message(&mut self.scratch, rec_type, msg, &self.opts.crc) {
            ch.subs_log.size += n as u64;
            self.journal.append(&ch.subs_log.file, &self.scratch);
        }
    }

    fn compact_subs(&mut self, channel: &str) {
        let now = self.now;
        let Some(ch) = self.channels.get_mut(channel) else {
            return;
        };
        if !ch.subs_log.should_compact(&self.opts, now) {
            return;
        }
        let mut b = BytesMut::new();
        put_version(&mut b);
        let mut live = 0;
        for sub in ch.subs.values() {
            let _ = encode_message(&mut b, SubRecordType::New, &sub.state, &self.opts.crc);
            live += 1;
            for &seq in &sub.pending {
                let u = SubStateUpdate {
                    id: sub.state.id,
                    seqno: seq,
                };
                let _ = encode_message(&mut b, SubRecordType::Msg, &u, &self.opts.crc);
                live += 1;
            }
        }
        ch.subs_log.size = b.len() as u64;
        ch.subs_log.live = live;
        ch.subs_log.obsolete = 0;
        ch.subs_log.compacted_at = now;
        let file = ch.subs_log.file.clone();
        self.journal.op(FileOp::Replace {
            file,
            data: b.freeze(),
        });
    }

    fn compact_clients(&mut self) {
        if !self.clients_log.should_compact(&self.opts, self.now) {
            return;
        }
        let mut b = BytesMut::new();
        put_version(&mut b);
        for info in self.clients.values() {
            let _ = encode_message(&mut b, ClientRecordType::Add, info, &self.opts.crc);
        }
        self.clients_log.size = b.len() as u64;
        self.clients_log.live = self.clients.len() as u64;
        self.clients_log.obsolete = 0;
        self.clients_log.compacted_at = self.now;
        self.journal.op(FileOp::Replace {
            file: FileId::Clients,
            data: b.freeze(),
        });
    }
}
