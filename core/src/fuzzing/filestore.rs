//! The file store's format: record decoding, the recovery scan and the
//! folding, over arbitrary bytes.
//!
//! Input format of [`filestore`] (any byte string is a valid input):
//! * byte 0, flags: bits 0..=1 the mode (0: one typed file, `clients.dat`
//!   and `subs.dat`; 1: one untyped file, `server.dat` and a message slice;
//!   2: one index file; 3: a whole store); bit 2 turns CRC checking off;
//!   bit 3 uses the Castagnoli polynomial instead of IEEE; bit 4 sets
//!   `--file_truncate_bad_eof`;
//! * modes 0 to 2: the rest is the file;
//! * mode 3: byte 1 gives the limits (bits 0..=3 `max_msgs`, bits 4..=5
//!   `max_bytes` 0/100/1000/10000, bits 6..=7 `max_age` 0/1 ns/1 s/1 h, at a
//!   fixed `now`), then files as chunks of a 2-byte little-endian length
//!   (clamped to what is left) and the bytes: `server.dat`, `clients.dat`,
//!   then for channel "a" `subs.dat` and up to three slices (data, index),
//!   as far as the input goes.
//!
//! Invariants: nothing panics; a scan's records are contiguous from offset
//! 4 and its end offset is where the last good record ends, inside the
//! input; a clean scan re-encodes to exactly the input (and, with CRC
//! checking, `encode_payload` reproduces every record); a torn tail is a
//! bad last record, a corrupt end has data after the bad record; index
//! entries re-encode to the input; a recovered channel's counters match its
//! messages and its limits, and every repair names a file and an offset
//! that exist.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::stan::filestore::crc::CASTAGNOLI_POLYNOMIAL;
use crate::stan::filestore::{
    encode_payload, fold_clients, fold_slice, fold_subs, recover, recover_server, scan, scan_index,
    ChannelFiles, Crc32, FileEnd, FileId, Framing, IndexError, RecordError, RecordHeader,
    RecoveryOptions, Repair, ScanOptions, Scanner, SliceFiles, StoreFiles, INDEX_RECORD_SIZE,
    RECORD_HEADER_SIZE,
};
use crate::stan::filestore::{FileOp, FileStore, FileStoreOptions, IoDone};
use crate::stan::store::{ChannelLimits, Fetch, Store};

/// The Castagnoli table, built once at compile time.
const CASTAGNOLI: Crc32 = Crc32::new(CASTAGNOLI_POLYNOMIAL);

/// The fixed `now` of mode 3 (the fixture's era, Unix ns).
const NOW: i64 = 1_795_962_600_000_000_000;

/// Runs the file store's decoding, scan and folding over `input` and panics
/// if an invariant breaks (see the [module documentation](self)).
pub fn filestore(input: &[u8]) {
    let (&flags, rest) = input.split_first().unwrap_or((&0, &[]));
    let table = if flags & 8 != 0 {
        &CASTAGNOLI
    } else {
        &Crc32::IEEE
    };
    let crc = (flags & 4 == 0).then_some(table);
    let truncate_bad_eof = flags & 16 != 0;
    match flags & 3 {
        0 => one_file(rest, Framing::Typed, crc, table),
        1 => one_file(rest, Framing::Untyped, crc, table),
        2 => index_file(rest, crc, table),
        _ => whole_store(rest, crc, truncate_bad_eof),
    }
}

fn one_file(input: &[u8], framing: Framing, crc: Option<&Crc32>, table: &Crc32) {
    let file = Bytes::copy_from_slice(input);
    let opts = ScanOptions { framing, crc };
    let Ok(s) = scan(&file, opts) else {
        assert!(
            input.len() < 4 || input[..4] != [1, 0, 0, 0],
            "a good version header refused"
        );
        return;
    };
    // The streaming scanner agrees.
    let mut scanner = Scanner::new(file.clone(), opts).expect("version checked");
    let streamed: Vec<_> = scanner.by_ref().collect();
    assert_eq!(streamed, s.records, "scanner and scan disagree");
    assert_eq!(
        scanner.end(),
        Some(s.end),
        "scanner and scan disagree on the end"
    );

    // Contiguous records from offset 4, re-encoding to the input.
    let mut rebuilt = BytesMut::from(&input[..4]);
    for rec in &s.records {
        assert_eq!(rec.offset, rebuilt.len() as u64, "records not contiguous");
        assert_eq!(rec.tag.framing(), framing, "tag of the wrong framing");
        let header = RecordHeader {
            tag: rec.tag,
            size: rec.payload.len() as u32,
            crc: rec.crc,
        };
        rebuilt.extend_from_slice(&header.to_bytes().expect("a read record re-encodes"));
        rebuilt.extend_from_slice(&rec.payload);
        if crc.is_some() {
            let mut again = BytesMut::new();
            encode_payload(&mut again, rec.tag, &rec.payload, table).expect("fits");
            assert_eq!(&again[..], &input[rec.offset as usize..rec.end() as usize]);
        }
    }
    assert_eq!(
        &rebuilt[..],
        &input[..rebuilt.len()],
        "records do not re-encode"
    );
    let good_end = rebuilt.len() as u64;
    match s.end {
        FileEnd::Clean => assert_eq!(good_end, input.len() as u64, "clean but bytes left"),
        FileEnd::TornTail { offset, reason } | FileEnd::Corrupt { offset, reason } => {
            assert_eq!(
                offset, good_end,
                "end offset is not after the last good record"
            );
            assert!(offset < input.len() as u64, "end offset outside the input");
            let rest = &input[offset as usize..];
            let torn = matches!(s.end, FileEnd::TornTail { .. });
            match reason {
                RecordError::IncompleteHeader { available } => {
                    assert!(torn && available == rest.len() && available < 8);
                }
                RecordError::IncompletePayload { size, available } => {
                    assert!(torn && u64::from(size) > available);
                    assert_eq!(available, (rest.len() - RECORD_HEADER_SIZE) as u64);
                }
                RecordError::ZeroHeader => {
                    assert_eq!(rest[..8], [0; 8]);
                    assert_eq!(torn, rest.iter().all(|&b| b == 0));
                }
                RecordError::CrcMismatch { stored, computed } => {
                    assert!(crc.is_some() && stored != computed);
                    let header =
                        RecordHeader::parse(rest[..8].try_into().expect("8 bytes"), framing);
                    let end = RECORD_HEADER_SIZE + header.size as usize;
                    assert!(end <= rest.len());
                    // A mismatch with bytes after it is never torn; one at
                    // the very end is, unless a good record hides in it.
                    assert!(
                        !torn || end == rest.len(),
                        "torn CRC mismatch before the end"
                    );
                }
                RecordError::DamagedSize { size, next_record } => {
                    assert!(!torn, "a damaged size is corrupt");
                    let header =
                        RecordHeader::parse(rest[..8].try_into().expect("8 bytes"), framing);
                    assert_eq!(header.size, size);
                    assert!(RECORD_HEADER_SIZE + size as usize > rest.len());
                    assert!(next_record >= offset + RECORD_HEADER_SIZE as u64);
                    assert!(next_record < input.len() as u64);
                }
            }
        }
    }

    // Folding never panics; what it finds is consistent.
    match framing {
        Framing::Typed => {
            if let Ok(c) = fold_clients(&s.records) {
                assert!(c.clients.len() + c.deleted_records as usize <= s.records.len());
                assert!(c.clients.iter().all(|(id, info)| *id == info.id));
            }
            if let Ok(subs) = fold_subs(&s.records) {
                assert!(subs.subs.keys().all(|&id| id <= subs.max_sub_id));
                assert!(subs.subs.iter().all(|(&id, sub)| sub.state.id == id));
            }
        }
        Framing::Untyped => {
            let _ = recover_server(&file, crc);
            if let Ok(slice) = fold_slice(1, &s.records, None, crc) {
                assert_eq!(slice.msgs.len(), s.records.len());
                assert_eq!(slice.data_len(), good_end);
                let seqs: Vec<u64> = slice.msgs.iter().map(|m| m.index.seq).collect();
                assert!(
                    seqs.windows(2).all(|w| w[0] < w[1]),
                    "sequences not increasing"
                );
                // Its own entries make a valid index.
                let mut idx = BytesMut::from(&[1u8, 0, 0, 0][..]);
                for e in slice.entries() {
                    e.encode(&mut idx, table);
                }
                let again = fold_slice(1, &s.records, Some(&idx), crc).expect("folded once");
                assert_eq!(again.index, crate::stan::filestore::IndexStatus::Valid);
            }
        }
    }
}

fn index_file(input: &[u8], crc: Option<&Crc32>, table: &Crc32) {
    let s = scan_index(input, crc);
    let end = 4 + s.entries.len() * INDEX_RECORD_SIZE;
    assert!(input.len() <= 4 && s.entries.is_empty() || end <= input.len());
    match s.problem {
        None => assert!(input.len() <= 4 || end == input.len()),
        Some((offset, e)) => {
            assert_eq!(offset, end as u64, "problem not after the last entry");
            match e {
                IndexError::Incomplete { available } => {
                    assert_eq!(available, input.len() - end);
                    assert!(available < INDEX_RECORD_SIZE);
                }
                IndexError::Zero => assert_eq!(input[end..end + 32], [0; 32]),
                IndexError::CrcMismatch { stored, computed } => {
                    assert!(crc.is_some() && stored != computed)
                }
            }
        }
    }
    if crc.is_some() {
        for (i, e) in s.entries.iter().enumerate() {
            let at = 4 + i * INDEX_RECORD_SIZE;
            assert_eq!(e.to_bytes(table), input[at..at + INDEX_RECORD_SIZE]);
        }
    }
}

fn whole_store(input: &[u8], crc: Option<&Crc32>, truncate_bad_eof: bool) {
    let (&lim, mut rest) = input.split_first().unwrap_or((&0, &[]));
    let mut chunk = || -> Option<Bytes> {
        if rest.is_empty() {
            return None;
        }
        let len = match rest {
            [a, b, ..] => usize::from(u16::from_le_bytes([*a, *b])),
            _ => 0,
        };
        let body = rest.get(2..).unwrap_or_default();
        let len = len.min(body.len());
        let out = Bytes::copy_from_slice(&body[..len]);
        rest = &body[len..];
        Some(out)
    };
    let server = chunk().unwrap_or_default();
    let clients = chunk();
    let mut channel = ChannelFiles {
        subs: chunk(),
        slices: BTreeMap::new(),
    };
    for n in 1..=3 {
        let Some(data) = chunk() else { break };
        channel.slices.insert(
            n,
            SliceFiles {
                data,
                index: chunk(),
            },
        );
    }
    let files = StoreFiles {
        server,
        clients,
        channels: [("a".to_owned(), channel)].into_iter().collect(),
    };
    let limits = ChannelLimits {
        max_msgs: u64::from(lim & 15),
        max_bytes: [0, 100, 1000, 10_000][usize::from((lim >> 4) & 3)],
        max_age: [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_secs(1),
            Duration::from_secs(3600),
        ][usize::from(lim >> 6)],
        ..ChannelLimits::default()
    };
    let opts = RecoveryOptions {
        crc,
        truncate_bad_eof,
        now: Some(NOW),
    };
    let Ok(Some(r)) = recover(&files, &opts, |_| limits) else {
        return;
    };
    let file_len = |id: &FileId| -> Option<usize> {
        let ch = files.channels.get("a");
        match id {
            FileId::Server => Some(files.server.len()),
            FileId::Clients => files.clients.as_ref().map(Bytes::len),
            FileId::Subs { .. } => ch?.subs.as_ref().map(Bytes::len),
            FileId::SliceData { slice, .. } => ch?.slices.get(slice).map(|s| s.data.len()),
            FileId::SliceIndex { slice, .. } => {
                ch?.slices.get(slice)?.index.as_ref().map(Bytes::len)
            }
        }
    };
    let msgs = &r.channels["a"].msgs;
    for repair in &r.repairs {
        match repair {
            Repair::Truncate {
                file,
                offset,
                corrupt,
                ..
            } => {
                let len = file_len(file).expect("a truncated file exists");
                assert!(
                    *offset >= 4 && *offset < len as u64,
                    "truncation outside {file}"
                );
                assert!(
                    truncate_bad_eof || !corrupt,
                    "corrupt truncated without the option"
                );
            }
            Repair::RewriteIndex { slice, .. } => {
                assert!(msgs.slices.iter().any(|s| s.number == *slice));
            }
            Repair::RemoveSlice { slice, .. } => {
                assert!(msgs.slices.iter().all(|s| s.number != *slice));
                assert!(files.channels["a"].slices.contains_key(slice));
            }
        }
        let _ = repair.to_string();
    }
    let live: Vec<_> = msgs.live().collect();
    assert_eq!(
        msgs.count,
        live.len() as u64,
        "count differs from the messages"
    );
    let bytes: u64 = live.iter().map(|m| m.accounted_bytes()).sum();
    assert_eq!(msgs.bytes, bytes, "bytes differ from the messages");
    assert!(live.windows(2).all(|w| w[0].index.seq < w[1].index.seq));
    match (live.first(), live.last()) {
        (Some(first), Some(last)) => {
            assert_eq!(msgs.first_seq, first.index.seq);
            assert_eq!(msgs.last_seq, last.index.seq);
            assert!(msgs.get(first.index.seq).is_some() && msgs.get(last.index.seq).is_some());
        }
        _ => assert!(msgs.first_seq == 0 || msgs.first_seq == msgs.last_seq + 1),
    }
    if limits.max_msgs > 0 {
        assert!(msgs.count <= limits.max_msgs.max(1), "max_msgs not applied");
    }
    if limits.max_bytes > 0 && msgs.count > 1 {
        assert!(msgs.bytes <= limits.max_bytes, "max_bytes not applied");
    }
    if let (false, Some(first)) = (limits.max_age.is_zero(), live.first()) {
        // Expiry stops at the first message young enough (timestamps are
        // not checked to be ordered, as in Go).
        let age = i64::try_from(limits.max_age.as_nanos()).unwrap_or(i64::MAX);
        assert!(
            NOW.saturating_sub(first.index.timestamp) < age,
            "max_age not applied"
        );
    }
    read_back(&files, r, crc.is_some(), limits);
}

/// The file store resumes from the recovery, with no payload cached, and
/// fetches every message back from the same bytes: each is served exactly
/// as its record holds it, or skipped if it cannot be read, never another.
fn read_back(
    files: &StoreFiles,
    r: crate::stan::filestore::Recovery,
    verify: bool,
    limits: ChannelLimits,
) {
    let expected: Vec<(u64, Bytes)> = r.channels["a"]
        .msgs
        .live()
        .map(|m| (m.index.seq, m.encoded.clone()))
        .collect();
    let opts = FileStoreOptions {
        cache_bytes: 0,
        read_ahead: 300,
        verify_reads: verify,
        ..FileStoreOptions::default()
    };
    let Ok((mut store, _)) = FileStore::recovered(opts, r, files, |_| limits, NOW) else {
        return;
    };
    for (seq, encoded) in expected {
        let mut tries = 0;
        loop {
            match store.fetch("a", seq) {
                Fetch::Found(m) => {
                    assert_eq!(m.sequence, seq);
                    assert_eq!(m.encoded, encoded, "served as recovered");
                    break;
                }
                Fetch::Gone => break,
                Fetch::Reading => {
                    tries += 1;
                    assert!(
                        tries < 4,
                        "a read that never completes: seq {seq}, {:?}",
                        store.poll_io()
                    );
                    serve(&mut store, files);
                }
            }
        }
    }
}

/// The IO side over the fuzz input's files: reads served, writes dropped.
fn serve(store: &mut FileStore, files: &StoreFiles) {
    while let Some(batch) = store.poll_io() {
        let mut reads = Vec::new();
        for op in &batch.ops {
            if let FileOp::Read {
                file: FileId::SliceData { slice, .. },
                offset,
                len,
                token,
            } = op
            {
                let data = files.channels["a"]
                    .slices
                    .get(slice)
                    .map(|s| {
                        let start = usize::try_from(*offset)
                            .unwrap_or(usize::MAX)
                            .min(s.data.len());
                        let end = start
                            .saturating_add(usize::try_from(*len).unwrap_or(usize::MAX))
                            .min(s.data.len());
                        s.data.slice(start..end)
                    })
                    .unwrap_or_default();
                reads.push((*token, Ok(data)));
            }
        }
        let done = IoDone::with_reads(batch.id, reads);
        assert!(store.handle_io_done(done).is_none());
    }
}
