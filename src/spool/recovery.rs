//! Opening a spool: the directory lock, format checks, the recovery scan of every segment, the
//! ack log, sequence gaps and the possibly-lost range, and the first `seq.hw` reservation.
//!
//! [`Spool::open`] is one long function on purpose: it is one pass over the directory whose steps
//! share many locals, in the order the module docs of [`crate::spool`] describe.

use super::bits::Bits;
use super::config::{SpoolConfig, SyncPolicy, MAX_RECORD_LEN, MAX_SEGMENT_SIZE, WRITE_CHUNK};
use super::error::SpoolError;
use super::flusher::spawn_flusher;
use super::limits::{
    ACK_LOG, ACK_LOG_TMP, ID_FILE_TMP, LOCK_FILE, MAX_DROPPED_KEPT, MAX_SEGMENT_RECORDS, MAX_SEQ,
    SEQ_BLOCK_MAX, SEQ_BLOCK_OPEN, SEQ_FILE, SEQ_FILE_TMP,
};
use super::record::{
    parse_ack_log, parse_seq_file, SeqFileError, RECORD_MAGIC, SPOOL_FORMAT_VERSION,
};
use super::report::{CorruptSpan, Dropped, RecordDropReason, Recovery, SpoolStats, TornTail};
use super::scan::scan_segment;
use super::spool::Spool;
use super::state::{
    fsync_dir, open_append, parse_segment_name, segment_name, Segment, Shared, State,
};
use crossbeam_channel::bounded;
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Sorted, merged released ranges read from the ack log.
#[derive(Default)]
struct RangeSet(Vec<(u64, u64)>);

impl RangeSet {
    fn from_ranges(mut v: Vec<(u64, u64)>) -> RangeSet {
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        RangeSet(out)
    }

    fn contains(&self, x: u64) -> bool {
        let i = self.0.partition_point(|r| r.1 <= x);
        self.0.get(i).is_some_and(|r| r.0 <= x)
    }

    /// How many of `from..to` no range covers.
    fn uncovered(&self, from: u64, to: u64) -> u64 {
        // Only the ranges that overlap `from..to` (recovery asks once per damaged span).
        let i = self.0.partition_point(|r| r.1 <= from);
        let covered: u64 = self.0[i..]
            .iter()
            .take_while(|r| r.0 < to)
            .map(|&(a, b)| b.min(to).saturating_sub(a.max(from)))
            .sum();
        to.saturating_sub(from) - covered
    }

    fn max_end(&self) -> u64 {
        self.0.last().map_or(0, |r| r.1)
    }

    /// The runs of `from..to` no range covers, in order.
    fn gaps(&self, from: u64, to: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = from;
        let i = self.0.partition_point(|r| r.1 <= from);
        for &(a, b) in &self.0[i..] {
            if at >= to || a >= to {
                break;
            }
            if a > at {
                out.push((at, a));
            }
            at = at.max(b);
        }
        if at < to {
            out.push((at, to));
        }
        out
    }
}

impl Spool {
    /// Opens (or creates) the spool in `cfg.dir`, recovers what is there, and starts the flusher.
    ///
    /// Recovery reads each segment once, drops a torn tail of the newest segment (truncating the
    /// file), skips and reports damaged spans elsewhere, applies the acknowledgements from
    /// `acks.log`, removes fully acknowledged segments, rewrites `acks.log` compactly and
    /// applies the size cap.
    ///
    /// # Errors
    /// [`SpoolError::Config`] for unusable settings, [`SpoolError::Locked`] when another spool
    /// has the directory, [`SpoolError::Io`] / [`SpoolError::SegmentTooLarge`] for files that
    /// cannot be read or fixed.
    pub fn open(cfg: SpoolConfig) -> Result<(Spool, Recovery), SpoolError> {
        cfg.validate()?;
        let dir = cfg.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| SpoolError::io(&dir, "create_dir", e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| SpoolError::io(&lock_path, "open", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(SpoolError::Locked { dir }),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(SpoolError::io(&lock_path, "lock", e))
            }
        }
        let _ = std::fs::remove_file(dir.join(ACK_LOG_TMP));
        let _ = std::fs::remove_file(dir.join(SEQ_FILE_TMP));
        let _ = std::fs::remove_file(dir.join(ID_FILE_TMP));
        let id = super::identity::load_or_create(&dir)?;

        // The durable high-water mark (absent in a format-1 spool and in a new one).
        let seq_path = dir.join(SEQ_FILE);
        let mark = match std::fs::read(&seq_path) {
            Ok(img) => match parse_seq_file(&img) {
                Ok(m) if m.reserved <= MAX_SEQ => Some(Ok(m)),
                Ok(m) => {
                    log::error!(
                        "spool: {} claims sequence number {} (over {MAX_SEQ}); ignored",
                        seq_path.display(),
                        m.reserved
                    );
                    Some(Err(()))
                }
                Err(SeqFileError::Version(found)) => {
                    return Err(SpoolError::UnsupportedFormat {
                        path: seq_path,
                        found,
                        supported: SPOOL_FORMAT_VERSION,
                    })
                }
                Err(e) => {
                    log::error!("spool: {} is damaged ({e:?}); ignored", seq_path.display());
                    Some(Err(()))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(SpoolError::io(&seq_path, "read", e)),
        };

        // Segments, oldest first.
        let mut names: Vec<(u64, PathBuf)> = Vec::new();
        let rd = std::fs::read_dir(&dir).map_err(|e| SpoolError::io(&dir, "read_dir", e))?;
        for ent in rd {
            let ent = ent.map_err(|e| SpoolError::io(&dir, "read_dir", e))?;
            if let Some(first) = ent.file_name().to_str().and_then(parse_segment_name) {
                if first > MAX_SEQ {
                    log::error!(
                        "spool: {} is named past sequence number {MAX_SEQ}; not a spool segment, ignored",
                        ent.path().display()
                    );
                    continue;
                }
                names.push((first, ent.path()));
            }
        }
        names.sort();
        let newest_name = names.last().map_or(0, |n| n.0);

        // Acknowledgements. An entry past every number the spool can have used is corruption
        // (ignored: its records are delivered again rather than skipped).
        let ack_limit = match mark {
            Some(Ok(m)) => m.reserved.max(newest_name),
            _ => newest_name.saturating_add(MAX_SEGMENT_RECORDS),
        }
        .min(MAX_SEQ);
        let mut ignored_acks = 0u64;
        let ack_path = dir.join(ACK_LOG);
        let (acked, acks_valid) = match std::fs::read(&ack_path) {
            Ok(img) => match parse_ack_log(&img) {
                Some((ranges, valid)) => {
                    if valid < img.len() {
                        log::warn!(
                            "spool: {} has {} bytes of cut or damaged entries at the end; ignored",
                            ack_path.display(),
                            img.len() - valid
                        );
                    }
                    let n = ranges.len();
                    let ranges: Vec<(u64, u64)> =
                        ranges.into_iter().filter(|r| r.1 <= ack_limit).collect();
                    ignored_acks = (n - ranges.len()) as u64;
                    if ignored_acks > 0 {
                        log::error!(
                            "spool: {} has {ignored_acks} entries past sequence number {ack_limit}; ignored",
                            ack_path.display()
                        );
                    }
                    (RangeSet::from_ranges(ranges), true)
                }
                None => {
                    log::warn!("spool: {} has no valid header; ignored", ack_path.display());
                    (RangeSet::default(), false)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (RangeSet::default(), false),
            Err(e) => return Err(SpoolError::io(&ack_path, "read", e)),
        };

        let mut recovery = Recovery {
            pending_records: 0,
            first_pending_seq: None,
            next_seq: 0,
            segments: 0,
            bytes: 0,
            torn_tail: None,
            corrupt: Vec::new(),
            missing: Vec::new(),
            missing_records: 0,
            possibly_lost: None,
            ignored_acks,
        };
        let mut segments = BTreeMap::new();
        let mut dropped: VecDeque<Dropped> = VecDeque::new();
        let mut corrupt_records = 0;
        let mut corrupt_unlisted = 0u64;
        // Sequence numbers accounted for: acknowledged, present as records, or in a damaged span
        // (reported as corrupt). Whatever below `used` is in none of them is missing.
        let mut present: Vec<(u64, u64)> = acked.0.clone();
        // Every number below this was certainly used: numbers below a segment's name were used
        // before it was made, as were acknowledged and recorded ones.
        let mut used = acked.max_end().max(newest_name);
        let mut released_files = Vec::new();
        for (i, (first, path)) in names.iter().enumerate() {
            let is_last = i + 1 == names.len();
            let next_first = names.get(i + 1).map(|n| n.0);
            let meta = std::fs::metadata(path).map_err(|e| SpoolError::io(path, "stat", e))?;
            let max = MAX_SEGMENT_SIZE + MAX_RECORD_LEN as u64;
            if meta.len() > max {
                return Err(SpoolError::SegmentTooLarge {
                    path: path.clone(),
                    len: meta.len(),
                    max,
                });
            }
            let data = std::fs::read(path).map_err(|e| SpoolError::io(path, "read", e))?;
            if data.len() >= 4 && data[..3] == RECORD_MAGIC[..3] && data[3] != RECORD_MAGIC[3] {
                if let Some(found) = (data[3] as char).to_digit(10) {
                    return Err(SpoolError::UnsupportedFormat {
                        path: path.clone(),
                        found: found as u16,
                        supported: SPOOL_FORMAT_VERSION,
                    });
                }
            }
            // The newest segment is not bounded by `seq.hw`: a mark behind the records (restored
            // from a backup, copied before the segments) must not turn CRC-valid records into a
            // "torn tail" and give their numbers to new appends. Its bitmap stays bounded by the
            // offset / 28 rule of `scan_segment`.
            let seq_end = next_first.unwrap_or(MAX_SEQ);
            let scan = scan_segment(&data, 0, *first, *first, seq_end);
            let mut len = data.len() as u64;
            drop(data);
            let mut holes: Vec<(u64, u64, u64, u64)> = scan.holes;
            if let Some((off, n, expect)) = scan.tail {
                if is_last {
                    log::warn!(
                        "spool: torn tail in {} at offset {off} ({n} bytes) discarded",
                        path.display()
                    );
                    let f = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(|e| SpoolError::io(path, "open", e))?;
                    f.set_len(off)
                        .and_then(|()| f.sync_all())
                        .map_err(|e| SpoolError::io(path, "truncate", e))?;
                    len = off;
                    recovery.torn_tail = Some(TornTail {
                        segment: path.clone(),
                        offset: off,
                        bytes: n,
                    });
                } else {
                    holes.push((off, n, expect, next_first.unwrap_or(expect).max(expect)));
                }
            }
            let end_seq = scan.records.last().map_or(*first, |r| r.0 + 1);
            used = used.max(end_seq);
            let mut released = Bits::filled(end_seq - first, true);
            let mut unreleased = 0;
            let mut time_range_ms: Option<(u64, u64)> = None;
            let mut run: Option<(u64, u64)> = None;
            for &(seq, t) in &scan.records {
                if !acked.contains(seq) {
                    released.set(seq - first, false);
                    unreleased += 1;
                }
                time_range_ms = Some(match time_range_ms {
                    None => (t, t),
                    Some((a, b)) => (a.min(t), b.max(t)),
                });
                run = match run {
                    Some((a, b)) if b == seq => Some((a, seq + 1)),
                    Some(r) => {
                        present.push(r);
                        Some((seq, seq + 1))
                    }
                    None => Some((seq, seq + 1)),
                };
            }
            present.extend(run);
            for &(off, n, from, to) in &holes {
                let seqs = (to > from).then(|| (from, to - 1));
                let unacked = acked.uncovered(from, to);
                // Listed (and logged one by one) up to MAX_DROPPED_KEPT; the counts cover all.
                let listed = recovery.corrupt.len() < MAX_DROPPED_KEPT;
                if listed {
                    log::warn!(
                        "spool: corrupt span in {} at offset {off} ({n} bytes), seqs {seqs:?}, {unacked} unacked lost",
                        path.display()
                    );
                } else {
                    corrupt_unlisted += 1;
                }
                present.push((from, to));
                if unacked > 0 {
                    corrupt_records += unacked;
                    let d = Dropped {
                        reason: RecordDropReason::Corrupt,
                        first_seq: from,
                        last_seq: to - 1,
                        records: unacked,
                        time_range_ms: None,
                    };
                    // As `State::push_dropped`: beyond MAX_DROPPED_KEPT merged into the last.
                    let full = dropped.len() >= MAX_DROPPED_KEPT;
                    match dropped.back_mut() {
                        Some(last) if full => last.merge(&d),
                        _ => dropped.push_back(d),
                    }
                }
                if listed {
                    recovery.corrupt.push(CorruptSpan {
                        segment: path.clone(),
                        offset: off,
                        bytes: n,
                        seqs,
                        unacked,
                    });
                }
            }
            if unreleased == 0 && !is_last {
                released_files.push(path.clone());
                continue;
            }
            let file = Arc::new(if is_last {
                open_append(path, false)?
            } else {
                File::open(path).map_err(|e| SpoolError::io(path, "open", e))?
            });
            segments.insert(
                *first,
                Segment {
                    first_seq: *first,
                    path: path.clone(),
                    file,
                    len,
                    end_seq,
                    released,
                    unreleased,
                    holes: holes.iter().map(|h| (h.0, h.1)).collect(),
                    time_range_ms,
                },
            );
        }

        if corrupt_unlisted > 0 {
            log::warn!(
                "spool: {corrupt_unlisted} more corrupt spans (not listed; counted in the corrupt records)"
            );
        }
        // The durable high-water mark: after a clean close every number below it was used; after
        // a crash, those past the last record found were reserved and possibly used.
        let mut possibly_lost = None;
        if let Some(Ok(m)) = mark {
            if m.reserved < used {
                log::error!(
                    "spool: {} reserves up to {} but records or acknowledgements go up to {}; it is behind (restored or replaced?), numbering continues after them",
                    seq_path.display(),
                    m.reserved,
                    used - 1
                );
            }
        }
        let next_seq = match mark {
            Some(Ok(m)) if m.clean => {
                used = used.max(m.reserved);
                used
            }
            // Written under `always`: nothing past the records found was accepted (returned) or
            // delivered, so numbering continues right after them and nothing is reported.
            Some(Ok(m)) if m.durable => used,
            Some(Ok(m)) => {
                if m.reserved > used {
                    possibly_lost = Some((used, m.reserved));
                }
                used.max(m.reserved)
            }
            Some(Err(())) => {
                // Damaged: a reservation never exceeds the next number by more than a block.
                possibly_lost = Some((used, used + SEQ_BLOCK_MAX));
                used + SEQ_BLOCK_MAX
            }
            None => used,
        };

        // Gaps: used numbers neither acknowledged, nor recorded, nor reported as corrupt. Below
        // the oldest segment only when `acks.log` was readable (a format-1 spool that lost its
        // log to a power loss cannot tell released from missing there).
        let base = if acks_valid {
            0
        } else {
            names.first().map_or(used, |n| n.0)
        };
        let accounted = RangeSet::from_ranges(present);
        let mut missing_records = 0u64;
        let mut missing = Vec::new();
        for (a, b) in accounted.gaps(base, used) {
            log::error!(
                "spool: sequence numbers {a}..={} are missing (no record, not acknowledged): lost",
                b - 1
            );
            missing_records += b - a;
            if missing.len() < MAX_DROPPED_KEPT {
                recovery.missing.push((a, b - 1));
            }
            missing.push(Dropped {
                reason: RecordDropReason::Missing,
                first_seq: a,
                last_seq: b - 1,
                records: b - a,
                time_range_ms: None,
            });
        }
        recovery.missing_records = missing_records;
        if let Some((a, b)) = possibly_lost {
            log::warn!(
                "spool: not closed cleanly; sequence numbers {a}..={} were reserved and may have been used by appends lost in the crash (at most {} records)",
                b - 1,
                b - a
            );
            recovery.possibly_lost = Some((a, b - 1));
        }

        if segments.is_empty() {
            // A new spool, or every segment released.
            let path = dir.join(segment_name(next_seq));
            let file = Arc::new(open_append(&path, !path.exists())?);
            segments.insert(
                next_seq,
                Segment {
                    first_seq: next_seq,
                    path,
                    file,
                    len: 0,
                    end_seq: next_seq,
                    released: Bits::default(),
                    unreleased: 0,
                    holes: Vec::new(),
                    time_range_ms: None,
                },
            );
        }
        // When next_seq is past the active segment's end, the next append starts a new segment
        // named by it (records of a segment are consecutive).
        let total_bytes = segments.values().map(|s| s.len).sum();
        let acklog = Arc::new(open_append(&ack_path, !ack_path.exists()).or_else(|_| {
            // A fresh log is written by the compaction below in any case.
            File::create(&ack_path).map_err(|e| SpoolError::io(&ack_path, "create", e))
        })?);
        let max_record = cfg.max_record_len();
        let mut st = State {
            segments,
            buf: Vec::with_capacity(WRITE_CHUNK),
            buf_seq: next_seq,
            next_seq,
            // Nothing reserved yet: open reserves SEQ_BLOCK_OPEN below, before the first append.
            reserved: next_seq,
            durable_seq: next_seq,
            seq_block: SEQ_BLOCK_OPEN,
            // As if a block had just run out: a burst that uses the open reservation up within a
            // tick reserves a large block next; the flusher's next tick sizes it to the real rate.
            reserved_at: Some(Instant::now()),
            appended_at_tick: 0,
            unlink: Vec::new(),
            total_bytes,
            since_sync: 0,
            dirty: false,
            unsynced: Vec::new(),
            dir_dirty: true,
            acklog,
            acklog_len: 0,
            acklog_dirty: false,
            appended_gen: 0,
            stats: SpoolStats {
                bytes: 0,
                segments: 0,
                pending_records: 0,
                next_seq,
                appended: 0,
                acked: 0,
                dropped_records: 0,
                corrupt_records,
                missing_records,
                possibly_lost_records: possibly_lost.map_or(0, |(a, b)| b - a),
                dropped_ranges: Vec::new(),
                io_errors: 0,
                syncs: 0,
                seq_reservations: 0,
            },
            dropped,
        };
        for d in missing {
            st.push_dropped(d);
        }
        if let Some((a, b)) = possibly_lost {
            st.push_dropped(Dropped {
                reason: RecordDropReason::PossiblyLost,
                first_seq: a,
                last_seq: b - 1,
                records: b - a,
                time_range_ms: None,
            });
        }
        // The compaction records every gap and the reserved range as released, so they are
        // reported once; released segment files go only after it is on the device.
        st.compact_acklog(&cfg)?;
        for p in released_files {
            std::fs::remove_file(&p).map_err(|e| SpoolError::io(&p, "delete", e))?;
        }
        while st.total_bytes > cfg.max_bytes && st.drop_oldest(&cfg) {}
        let unlink = std::mem::take(&mut st.unlink);
        if !unlink.is_empty() {
            st.acklog
                .sync_data()
                .map_err(|e| SpoolError::io(&ack_path, "fsync", e))?;
            for p in unlink {
                std::fs::remove_file(&p).map_err(|e| SpoolError::io(&p, "delete", e))?;
            }
        }
        if cfg.sync == SyncPolicy::Always {
            // Under `always` a cursor delivers only fsynced records: make what a previous run
            // left in the page cache durable first.
            for seg in st.segments.values() {
                seg.file
                    .sync_data()
                    .map_err(|e| SpoolError::io(&seg.path, "fsync", e))?;
            }
        }
        if cfg.sync != SyncPolicy::None {
            fsync_dir(&dir)?;
            st.dir_dirty = false;
        }
        let snap = st.snapshot();
        recovery.pending_records = snap.pending_records;
        recovery.first_pending_seq = st
            .segments
            .values()
            .find_map(|s| s.unreleased_span().map(|r| r.0));
        recovery.next_seq = next_seq;
        recovery.segments = snap.segments;
        recovery.bytes = snap.bytes;
        log::debug!(
            "spool: opened {} with {} pending records, next seq {next_seq}",
            dir.display(),
            recovery.pending_records
        );

        let (topup_tx, topup_rx) = bounded(1);
        let shared = Arc::new(Shared {
            cfg,
            max_record,
            state: Mutex::new(st),
            seq_io: Mutex::new(()),
            appended: Condvar::new(),
            topup_tx,
            topup_rx,
            _lock: lock,
            id,
        });
        // The first block is reserved here, so appends right after open do not wait for it.
        shared.reserve(false)?;
        let flusher = spawn_flusher(shared.clone())?;
        Ok((
            Spool {
                shared,
                flusher: Some(flusher),
            },
            recovery,
        ))
    }
}
