//! A store directory in memory for the simulation world: it carries out the
//! file store's [`IoBatch`]es after a virtual-time latency, can fail the
//! next one, and can crash (the batch in flight is lost, or half written)
//! to be recovered by a restarted engine.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::stan::filestore::io::{FileOp, IoBatch, IoDone, IoFailure, ReadOutcome};
use crate::stan::filestore::layout::{parse_slice_data_name, FileId, BACKUP_SUFFIX};
use crate::stan::filestore::record::put_version;
use crate::stan::filestore::recover::{ChannelFiles, Repair, SliceFiles, StoreFiles};
use crate::stan::filestore::{Crc32, Recovery};

/// The simulated directory. See the module docs.
#[derive(Debug, Default)]
pub struct Disk {
    /// Files by path relative to the store directory.
    pub files: BTreeMap<String, BytesMut>,
    /// Channel directories.
    pub dirs: BTreeSet<String>,
    /// How long a batch takes.
    pub latency: Duration,
    /// The next batch fails with this.
    pub fail_next: Option<IoFailure>,
    /// A failed batch is reported undone (handed back to be retried, as the
    /// real IO side does when it could cut its appends back), instead of
    /// leaving the files in an unknown state.
    pub undo_failures: bool,
    in_flight: Option<(Instant, IoBatch)>,
    /// Batches carried out.
    pub batches: u64,
    /// Reads carried out.
    pub reads: u64,
    /// Reads of these files (by path) fail with their failure (a disk
    /// that cannot be read there: the batch itself goes on).
    pub read_failures: BTreeMap<String, IoFailure>,
}

impl Disk {
    /// Takes a batch, due after the latency.
    pub fn submit(&mut self, now: Instant, batch: IoBatch) {
        assert!(self.in_flight.is_none(), "one batch at a time");
        self.in_flight = Some((now + self.latency, batch));
    }

    /// When the batch in flight completes.
    pub fn due(&self) -> Option<Instant> {
        self.in_flight.as_ref().map(|(t, _)| *t)
    }

    /// Completes the batch in flight if due.
    pub fn complete(&mut self, now: Instant) -> Option<IoDone> {
        if self.due().is_none_or(|t| t > now) {
            return None;
        }
        let (_, batch) = self.in_flight.take()?;
        if let Some(failure) = self.fail_next.take() {
            // Nothing of the batch was applied: it can be handed back.
            return Some(if self.undo_failures {
                IoDone::failed_undone(batch, failure)
            } else {
                IoDone::failed(batch.id, failure)
            });
        }
        let reads = self.apply(&batch.ops, usize::MAX);
        self.batches += 1;
        Some(IoDone::with_reads(batch.id, reads))
    }

    /// Carries out every batch `store` hands out, at once (no latency),
    /// until it has none; panics on a failed batch.
    pub fn drain(&mut self, store: &mut impl crate::stan::store::Store, now: Instant) {
        while let Some(batch) = store.poll_io() {
            self.submit(now, batch);
            let done = self.complete(now).expect("no batch is late");
            assert_eq!(store.handle_io_done(done), None, "a batch failed");
        }
    }

    /// A crash: the batch in flight is lost, except its first `torn` bytes
    /// of appends (a write cut short).
    pub fn crash(&mut self, torn: usize) {
        if let Some((_, batch)) = self.in_flight.take() {
            let _ = self.apply(&batch.ops, torn);
        }
    }

    fn apply(&mut self, ops: &[FileOp], mut budget: usize) -> Vec<(u64, ReadOutcome)> {
        let mut reads = Vec::new();
        for op in ops {
            match op {
                FileOp::Read {
                    file,
                    offset,
                    len,
                    token,
                } => {
                    let data = self.files.get(&file.to_string()).map_or(Bytes::new(), |f| {
                        let start = usize::try_from(*offset).unwrap_or(usize::MAX).min(f.len());
                        let end = start
                            .saturating_add(usize::try_from(*len).unwrap_or(usize::MAX))
                            .min(f.len());
                        Bytes::copy_from_slice(&f[start..end])
                    });
                    self.reads += 1;
                    let outcome = match self.read_failures.get(&file.to_string()) {
                        Some(failure) => Err(failure.clone()),
                        None => Ok(data),
                    };
                    reads.push((*token, outcome));
                }
                FileOp::CreateChannelDir { channel } => {
                    self.dirs.insert(channel.clone());
                }
                FileOp::Append { file, data } => {
                    let n = data.len().min(budget);
                    budget -= n;
                    self.files
                        .entry(file.to_string())
                        .or_default()
                        .extend_from_slice(&data[..n]);
                }
                FileOp::Replace { file, data } => {
                    self.files
                        .insert(file.to_string(), BytesMut::from(&data[..]));
                }
                FileOp::Remove { file } => {
                    self.files.remove(&file.to_string());
                }
                FileOp::ArchiveSlice { channel, slice, .. } => {
                    // The script itself is the IO side's: the renamed
                    // files stay.
                    for file in FileId::slice_files(channel, *slice) {
                        let from = file.to_string();
                        if let Some(f) = self.files.remove(&from) {
                            self.files.insert(format!("{from}{BACKUP_SUFFIX}"), f);
                        }
                    }
                }
                FileOp::RemoveChannelDir { channel } => {
                    self.dirs.remove(channel);
                    let prefix = format!("{channel}/");
                    self.files.retain(|k, _| !k.starts_with(&prefix));
                }
            }
            if budget == 0 {
                return reads;
            }
        }
        reads
    }

    /// Initializes a new store: `server.dat` holding `info`.
    pub fn init(&mut self, info: &stan_proto::ServerInfo) {
        let data = crate::stan::filestore::server_file(info, &Crc32::IEEE).expect("encodes");
        self.files
            .insert("server.dat".into(), BytesMut::from(&data[..]));
    }

    /// The files as recovery reads them.
    pub fn store_files(&self) -> StoreFiles {
        let get = |p: &str| self.files.get(p).map(|b| Bytes::copy_from_slice(b));
        let mut out = StoreFiles {
            server: get("server.dat").unwrap_or_else(|| {
                let mut b = BytesMut::new();
                put_version(&mut b);
                b.freeze()
            }),
            clients: get("clients.dat"),
            channels: BTreeMap::new(),
        };
        for dir in &self.dirs {
            let mut ch = ChannelFiles {
                subs: get(&format!("{dir}/subs.dat")),
                slices: BTreeMap::new(),
            };
            let prefix = format!("{dir}/");
            for (path, data) in self.files.range(prefix.clone()..) {
                let Some(name) = path.strip_prefix(&prefix) else {
                    break;
                };
                if let Ok(Some(n)) = parse_slice_data_name(name) {
                    ch.slices.insert(
                        n,
                        SliceFiles {
                            data: Bytes::copy_from_slice(data),
                            index: get(&format!("{dir}/msgs.{n}.idx")),
                        },
                    );
                }
            }
            out.channels.insert(dir.clone(), ch);
        }
        out
    }

    /// Carries out a recovery's repairs.
    pub fn repair(&mut self, recovery: &Recovery) {
        for r in &recovery.repairs {
            match r {
                Repair::Truncate { file, offset, .. } => {
                    if let Some(f) = self.files.get_mut(&file.to_string()) {
                        f.truncate(usize::try_from(*offset).unwrap_or(usize::MAX));
                    }
                }
                Repair::RewriteIndex { channel, slice, .. } => {
                    let s = recovery
                        .channels
                        .get(channel)
                        .and_then(|c| c.msgs.slices.iter().find(|s| s.number == *slice));
                    let mut b = BytesMut::new();
                    put_version(&mut b);
                    if let Some(s) = s {
                        for e in s.entries() {
                            e.encode(&mut b, &Crc32::IEEE);
                        }
                    }
                    let id = FileId::SliceIndex {
                        channel: channel.clone(),
                        slice: *slice,
                    };
                    self.files.insert(id.to_string(), b);
                }
                Repair::RemoveSlice { channel, slice } => {
                    for id in FileId::slice_files(channel, *slice) {
                        self.files.remove(&id.to_string());
                    }
                }
            }
        }
    }
}
