//! Resuming a recovered store directory: the messages' index (payloads
//! read back on demand), the slices to append to, the subscription and
//! client logs, and what the engine resumes ([`Restored`]).

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use stan_proto::ClientInfo;

use super::logs::LogFile;
use super::{version_header, ChannelFiles, FileStore, FileStoreOptions, Slice};
use crate::stan::filestore::crypto::MessageDecryptError;
use crate::stan::filestore::io::FileOp;
use crate::stan::filestore::layout::FileId;
use crate::stan::filestore::msglog::Entry;
use crate::stan::filestore::recover::{Recovery, StoreFiles};
use crate::stan::filestore::subs::RecoveredSub;
use crate::stan::store::ChannelLimits;

/// What a recovered store holds besides messages, for the engine to resume
/// (see [`Server::restore`](crate::stan::server::Server::restore)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Restored {
    /// The registered clients.
    pub clients: Vec<ClientInfo>,
    /// The channels, by name.
    pub channels: BTreeMap<String, RestoredChannel>,
}

/// A recovered channel's subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestoredChannel {
    /// The subscriptions, by ID.
    pub subs: BTreeMap<u64, RecoveredSub>,
    /// The highest subscription ID used.
    pub max_sub_id: u64,
}

impl FileStore {
    /// A store resuming a recovered directory (its repairs applied by the
    /// IO side first), and what the engine resumes from it. `files` gives
    /// the files' sizes; `limits` each channel's limits.
    ///
    /// With [`encryption`](FileStoreOptions::encryption), the messages'
    /// payloads are decrypted (those stored clear are kept as they are); one
    /// that does not decrypt (a wrong key, most likely) fails the whole
    /// recovery, naming its channel and sequence.
    pub fn recovered(
        opts: FileStoreOptions,
        recovery: Recovery,
        files: &StoreFiles,
        limits: impl Fn(&str) -> ChannelLimits,
        now: i64,
    ) -> Result<(FileStore, Restored), MessageDecryptError> {
        let clients_size = files.clients.as_ref().map_or(0, |b| b.len() as u64);
        let clients_log = LogFile::new(
            FileId::Clients,
            clients_size,
            recovery.clients.clients.len() as u64,
            recovery.clients.deleted_records * 2,
            now,
        );
        let mut store =
            FileStore::with_state(opts, now, clients_log, recovery.clients.clients.clone());
        if files.clients.is_none() {
            store.journal.op(FileOp::Replace {
                file: FileId::Clients,
                data: Bytes::copy_from_slice(&version_header()),
            });
        }
        let mut restored = Restored {
            clients: recovery.clients.clients.into_values().collect(),
            channels: BTreeMap::new(),
        };
        for (name, ch) in recovery.channels {
            let ch_limits = limits(&name);
            let msgs = &ch.msgs;
            let crypto = store
                .crypto
                .as_mut()
                .map(|c| c.channel(&name, msgs.last_seq.wrapping_add(1)));
            if let Some(enc) = &crypto {
                // A wrong key shows here (on the first and last messages),
                // not at the first delivery.
                for m in msgs.live().next().into_iter().chain(msgs.live().last()) {
                    enc.decrypt_msg(&m.encoded)
                        .map_err(|source| MessageDecryptError {
                            channel: name.clone(),
                            seq: m.index.seq,
                            source,
                        })?;
                }
            }
            // The index only: payloads are read back when delivered. A gap
            // in the sequences (a damaged store) stands as missing entries.
            let mut entries = Vec::with_capacity(msgs.count as usize);
            let mut next = None;
            for s in &msgs.slices {
                for m in s.live() {
                    let seq = m.index.seq;
                    if let Some(mut n) = next {
                        while n < seq {
                            entries.push(Entry {
                                timestamp: m.index.timestamp,
                                slice: s.number,
                                offset: 0,
                                size: 0,
                                payload: None,
                                missing: true,
                            });
                            n += 1;
                        }
                    }
                    next = Some(seq + 1);
                    entries.push(Entry {
                        timestamp: m.index.timestamp,
                        slice: s.number,
                        offset: m.index.offset,
                        size: m.index.size,
                        payload: None,
                        missing: false,
                    });
                }
            }
            store
                .mem
                .restore_channel(&name, ch_limits, msgs.last_seq, entries);
            let mut slices = VecDeque::new();
            for s in &msgs.slices {
                let mut slice = Slice::new(&name, s.number);
                slice.msgs = s.msgs.len() as u64;
                slice.last_seq = s.msgs.last().map_or(0, |m| m.index.seq);
                slice.data_len = s.data_len();
                slice.accounted = s.msgs.iter().map(|m| m.accounted_bytes()).sum();
                slice.first_timestamp = s.msgs.first().map_or(0, |m| m.index.timestamp);
                slices.push_back(slice);
            }
            // Slices without a message are dropped; appends go to a slice
            // after every number seen.
            let highest = msgs
                .empty_slices
                .iter()
                .chain(msgs.removed_slices.iter())
                .chain(msgs.slices.iter().map(|s| &s.number))
                .copied()
                .max()
                .unwrap_or(0);
            for &n in &msgs.empty_slices {
                let gone = Slice::new(&name, n);
                store.journal.op(FileOp::Remove { file: gone.data });
                store.journal.op(FileOp::Remove { file: gone.index });
            }
            let subs_file = FileId::Subs {
                channel: name.clone(),
            };
            let subs_size = files
                .channels
                .get(&name)
                .and_then(|c| c.subs.as_ref())
                .map_or(0, |b| b.len() as u64);
            let files_entry = ChannelFiles {
                limits: ch_limits,
                slices,
                subs_log: LogFile::new(
                    subs_file.clone(),
                    subs_size,
                    ch.subs.live_records,
                    ch.subs.obsolete_records,
                    now,
                ),
                subs: ch.subs.subs.clone(),
                crypto,
            };
            store.channels.insert(name.clone(), files_entry);
            if subs_size == 0 {
                store.journal.op(FileOp::Replace {
                    file: subs_file,
                    data: Bytes::copy_from_slice(&version_header()),
                });
            }
            if store
                .channels
                .get(&name)
                .is_some_and(|c| c.slices.is_empty())
            {
                store.start_slice(&name, highest + 1);
            }
            restored.channels.insert(
                name,
                RestoredChannel {
                    subs: ch.subs.subs,
                    max_sub_id: ch.subs.max_sub_id,
                },
            );
        }
        Ok((store, restored))
    }
}
