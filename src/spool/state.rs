//! The spool's shared state: segments, the write buffer, the ack log, and the write, fsync and
//! sequence-reservation steps that [`Spool`](super::Spool), the flusher and cursors share.

use super::bits::Bits;
use super::config::{SpoolConfig, SyncPolicy, WRITE_CHUNK, WRITE_TICK};
use super::error::SpoolError;
use super::limits::{
    ACK_LOG, ACK_LOG_TMP, MAX_DROPPED_KEPT, SEQ_BLOCK_GROWTH, SEQ_BLOCK_MAX, SEQ_BLOCK_MIN,
    SEQ_BLOCK_TICKS, SEQ_FILE, SEQ_FILE_TMP,
};
use super::record::{encode_ack, encode_seq_file, SeqMark, ACK_LOG_MAGIC, RECORD_HEADER_LEN};
use super::report::{Dropped, RecordDropReason, SpoolStats};
use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub(super) struct Segment {
    pub(super) first_seq: u64,
    pub(super) path: PathBuf,
    pub(super) file: Arc<File>,
    /// Bytes in the file (for the active segment: handed to the kernel; the rest is in `buf`).
    pub(super) len: u64,
    /// One past the highest sequence number the segment may hold.
    pub(super) end_seq: u64,
    /// Bit `i` is set when `first_seq + i` is released (acknowledged, dropped or absent).
    pub(super) released: Bits,
    pub(super) unreleased: u64,
    /// Damaged byte spans `(offset, len)` a cursor must step over.
    pub(super) holes: Vec<(u64, u64)>,
    pub(super) time_range_ms: Option<(u64, u64)>,
}

impl Segment {
    pub(super) fn is_released(&self, seq: u64) -> bool {
        seq < self.first_seq || seq >= self.end_seq || self.released.get(seq - self.first_seq)
    }

    /// Releases `seq`; true when it was pending.
    pub(super) fn release(&mut self, seq: u64) -> bool {
        if self.is_released(seq) {
            return false;
        }
        self.released.set(seq - self.first_seq, true);
        self.unreleased -= 1;
        true
    }

    pub(super) fn unreleased_span(&self) -> Option<(u64, u64)> {
        let runs = self.released.clear_runs();
        let first = runs.first()?.0;
        let last = runs.last()?.1 - 1;
        Some((self.first_seq + first, self.first_seq + last))
    }
}

pub(super) struct State {
    pub(super) segments: BTreeMap<u64, Segment>,
    /// Appended bytes of the active (last) segment not yet written to its file.
    pub(super) buf: Vec<u8>,
    /// The sequence number of the first record in `buf` (when it is not empty).
    pub(super) buf_seq: u64,
    pub(super) next_seq: u64,
    /// Numbers below this are covered by the durable `seq.hw`; an append needs `next_seq` below.
    pub(super) reserved: u64,
    /// Records below this sequence number are fsynced (under `always` a cursor delivers no
    /// record at or past it).
    pub(super) durable_seq: u64,
    /// Numbers a reservation adds ([`SEQ_BLOCK_MIN`]..=[`SEQ_BLOCK_MAX`]).
    pub(super) seq_block: u64,
    /// When the last growing reservation was written.
    pub(super) reserved_at: Option<Instant>,
    /// `stats.appended` at the flusher's previous tick (to see an idle tick).
    pub(super) appended_at_tick: u64,
    /// Released segment files to delete once `acks.log` is on the device.
    pub(super) unlink: Vec<PathBuf>,
    pub(super) total_bytes: u64,
    pub(super) since_sync: u32,
    /// The active segment has writes not yet fsynced.
    pub(super) dirty: bool,
    /// Closed segments with writes not yet fsynced.
    pub(super) unsynced: Vec<Arc<File>>,
    pub(super) dir_dirty: bool,
    pub(super) acklog: Arc<File>,
    pub(super) acklog_len: u64,
    pub(super) acklog_dirty: bool,
    /// Bumped by every append; cursors compare it to know whether to wait.
    pub(super) appended_gen: u64,
    pub(super) stats: SpoolStats,
    pub(super) dropped: VecDeque<Dropped>,
}

pub(super) struct Shared {
    pub(super) cfg: SpoolConfig,
    pub(super) max_record: usize,
    pub(super) state: Mutex<State>,
    /// Serialises writes of `seq.hw` (taken before `state`, never while holding it).
    pub(super) seq_io: Mutex<()>,
    pub(super) appended: Condvar,
    /// An append asks the flusher for a background top-up of the reservation here (capacity 1:
    /// a request already waiting is enough).
    pub(super) topup_tx: Sender<()>,
    pub(super) topup_rx: Receiver<()>,
    /// The directory lock, held while the spool is open.
    pub(super) _lock: File,
    /// The spool's identity (`spool.id`).
    pub(super) id: String,
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(super) fn segment_name(first_seq: u64) -> String {
    format!("seg-{first_seq:020}.spool")
}

pub(super) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".spool")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(super) fn fsync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SpoolError::io(dir, "fsync", e))
}

pub(super) fn open_append(path: &Path, create_new: bool) -> Result<File, SpoolError> {
    let mut o = OpenOptions::new();
    o.read(true).append(true);
    if create_new {
        o.create_new(true);
    }
    o.open(path).map_err(|e| SpoolError::io(path, "open", e))
}

/// Writes `seq.hw` durably: temporary file, fsync, rename, fsync of the directory.
pub(super) fn write_seq_file(dir: &Path, mark: SeqMark) -> Result<(), SpoolError> {
    let tmp = dir.join(SEQ_FILE_TMP);
    let path = dir.join(SEQ_FILE);
    let mut f = File::create(&tmp).map_err(|e| SpoolError::io(&tmp, "create", e))?;
    f.write_all(&encode_seq_file(mark))
        .map_err(|e| SpoolError::io(&tmp, "write", e))?;
    f.sync_all().map_err(|e| SpoolError::io(&tmp, "fsync", e))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(|e| SpoolError::io(&path, "rename", e))?;
    fsync_dir(dir)
}

impl State {
    pub(super) fn active(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a spool always has an active segment")
    }

    pub(super) fn active_key(&self) -> u64 {
        *self.segments.keys().next_back().expect("active segment")
    }

    /// Hands the buffered appends to the kernel (one write). On failure the file is cut back to
    /// its previous length and the buffer kept, so offsets stay exact.
    pub(super) fn write_buf(&mut self) -> Result<(), SpoolError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let State {
            segments,
            buf,
            stats,
            ..
        } = self;
        let seg = segments.values_mut().next_back().expect("active segment");
        if let Err(e) = (&*seg.file).write_all(buf) {
            stats.io_errors += 1;
            let _ = seg.file.set_len(seg.len);
            return Err(SpoolError::io(&seg.path, "write", e));
        }
        seg.len += buf.len() as u64;
        buf.clear();
        if buf.capacity() > 2 * WRITE_CHUNK + RECORD_HEADER_LEN {
            buf.shrink_to(WRITE_CHUNK);
        }
        self.dirty = true;
        Ok(())
    }

    /// Files to fsync now (and clears the dirty marks).
    pub(super) fn take_sync_set(&mut self, dir: &Path) -> SyncSet {
        let mut files = std::mem::take(&mut self.unsynced);
        if self.dirty {
            files.push(self.active().file.clone());
            self.dirty = false;
        }
        if self.acklog_dirty {
            files.push(self.acklog.clone());
            self.acklog_dirty = false;
        }
        self.since_sync = 0;
        SyncSet {
            files,
            dir: std::mem::take(&mut self.dir_dirty).then(|| dir.to_path_buf()),
            upto: if self.buf.is_empty() {
                self.next_seq
            } else {
                self.buf_seq
            },
        }
    }

    pub(super) fn push_dropped(&mut self, d: Dropped) {
        if self.dropped.len() >= MAX_DROPPED_KEPT {
            if let Some(last) = self.dropped.back_mut() {
                last.merge(&d);
                return;
            }
        }
        self.dropped.push_back(d);
    }

    /// Forgets a segment; its file is deleted by the next flush, after the acknowledgements
    /// that released it are on the device (so a power loss cannot leave a deleted segment whose
    /// records `acks.log` does not cover: that would read as a gap).
    pub(super) fn remove_segment(&mut self, key: u64) -> Option<Segment> {
        let seg = self.segments.remove(&key)?;
        self.total_bytes -= seg.len;
        self.unlink.push(seg.path.clone());
        Some(seg)
    }

    /// Appends an ack entry for `from..to` to `acks.log` (no fsync).
    pub(super) fn log_release(
        &mut self,
        cfg: &SpoolConfig,
        from: u64,
        to: u64,
    ) -> Result<(), SpoolError> {
        let mut e = Vec::with_capacity(super::record::ACK_ENTRY_LEN);
        encode_ack(&mut e, from, to);
        if let Err(err) = (&*self.acklog).write_all(&e) {
            self.stats.io_errors += 1;
            return Err(SpoolError::io(cfg.dir.join(ACK_LOG), "write", err));
        }
        self.acklog_len += e.len() as u64;
        self.acklog_dirty = true;
        Ok(())
    }

    /// Removes the oldest segment if it is not the active one, reporting its pending records.
    pub(super) fn drop_oldest(&mut self, cfg: &SpoolConfig) -> bool {
        let oldest = *self.segments.keys().next().expect("segments");
        if oldest == self.active_key() {
            return false;
        }
        let seg = self.remove_segment(oldest).expect("present");
        if seg.end_seq > seg.first_seq {
            // So that a restart does not read the dropped range as a gap.
            if let Err(e) = self.log_release(cfg, seg.first_seq, seg.end_seq) {
                log::warn!("spool: {e}");
            }
        }
        if seg.unreleased > 0 {
            let (first_seq, last_seq) = seg.unreleased_span().expect("unreleased");
            log::warn!(
                "spool: size cap reached, dropped {} records seq {first_seq}..={last_seq} from {}",
                seg.unreleased,
                seg.path.display()
            );
            self.stats.dropped_records += seg.unreleased;
            self.push_dropped(Dropped {
                reason: RecordDropReason::CapReached,
                first_seq,
                last_seq,
                records: seg.unreleased,
                time_range_ms: seg.time_range_ms,
            });
        }
        true
    }

    /// Closes the active segment and starts a new one at `next_seq`.
    pub(super) fn roll(&mut self, cfg: &SpoolConfig) -> Result<(), SpoolError> {
        self.write_buf()?;
        let first = self.next_seq;
        let path = cfg.dir.join(segment_name(first));
        let file = Arc::new(open_append(&path, true)?);
        let old_key = self.active_key();
        if self.dirty && cfg.sync != SyncPolicy::None {
            let f = self.active().file.clone();
            self.unsynced.push(f);
            self.dirty = false;
        }
        self.segments.insert(
            first,
            Segment {
                first_seq: first,
                path,
                file,
                len: 0,
                end_seq: first,
                released: Bits::default(),
                unreleased: 0,
                holes: Vec::new(),
                time_range_ms: None,
            },
        );
        self.dir_dirty = true;
        if self.segments[&old_key].unreleased == 0 {
            self.remove_segment(old_key);
        }
        Ok(())
    }

    /// Sequence ranges that are released below `next_seq`: the complement of every pending run.
    pub(super) fn released_ranges(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut cursor = 0u64;
        for seg in self.segments.values() {
            for (a, b) in seg.released.clear_runs() {
                let (a, b) = (seg.first_seq + a, seg.first_seq + b);
                if a > cursor {
                    out.push((cursor, a));
                }
                cursor = b;
            }
        }
        if self.next_seq > cursor {
            out.push((cursor, self.next_seq));
        }
        out
    }

    /// Rewrites `acks.log` to the minimal set of ranges (write, fsync, rename).
    pub(super) fn compact_acklog(&mut self, cfg: &SpoolConfig) -> Result<(), SpoolError> {
        let mut img = ACK_LOG_MAGIC.to_vec();
        for (a, b) in self.released_ranges() {
            encode_ack(&mut img, a, b);
        }
        let tmp = cfg.dir.join(ACK_LOG_TMP);
        let path = cfg.dir.join(ACK_LOG);
        let mut f = File::create(&tmp).map_err(|e| SpoolError::io(&tmp, "create", e))?;
        f.write_all(&img)
            .map_err(|e| SpoolError::io(&tmp, "write", e))?;
        // Every policy but `none` fsyncs the new log before the rename: a log lost to a power
        // loss would make every released range read as a gap at the next open. One fsync per
        // 1 MiB of ack entries (52,428 acknowledgements).
        let durable_now = cfg.sync != SyncPolicy::None;
        if durable_now {
            f.sync_all().map_err(|e| SpoolError::io(&tmp, "fsync", e))?;
            self.stats.syncs += 1;
        }
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| SpoolError::io(&path, "rename", e))?;
        self.acklog = Arc::new(open_append(&path, false)?);
        self.acklog_len = img.len() as u64;
        self.acklog_dirty = !durable_now;
        self.dir_dirty = true;
        Ok(())
    }

    pub(super) fn snapshot(&self) -> SpoolStats {
        let mut s = self.stats.clone();
        s.bytes = self.total_bytes;
        s.segments = self.segments.len();
        s.pending_records = self.segments.values().map(|g| g.unreleased).sum();
        s.next_seq = self.next_seq;
        s.dropped_ranges = self.dropped.iter().cloned().collect();
        s
    }
}

pub(super) struct SyncSet {
    pub(super) files: Vec<Arc<File>>,
    pub(super) dir: Option<PathBuf>,
    /// Every record below this sequence number is in the files synced.
    pub(super) upto: u64,
}

impl SyncSet {
    pub(super) fn run(self, shared: &Shared) -> Result<(), SpoolError> {
        let mut first_err = None;
        let mut n = 0;
        for f in &self.files {
            n += 1;
            if let Err(e) = f.sync_data() {
                first_err.get_or_insert(SpoolError::io(&shared.cfg.dir, "fsync", e));
            }
        }
        if let Some(d) = &self.dir {
            n += 1;
            if let Err(e) = fsync_dir(d) {
                first_err.get_or_insert(e);
            }
        }
        let mut st = shared.state.lock();
        st.stats.syncs += n;
        match first_err {
            Some(e) => {
                st.stats.io_errors += 1;
                Err(e)
            }
            None => {
                if self.upto > st.durable_seq {
                    st.durable_seq = self.upto;
                    st.appended_gen += 1;
                    drop(st);
                    shared.appended.notify_all();
                }
                Ok(())
            }
        }
    }
}

impl Shared {
    /// Writes the buffer; with `sync`, also fsyncs everything written (outside the lock). Then
    /// deletes released segment files, after an fsync of `acks.log` (unless the policy is
    /// `none`).
    pub(super) fn flush(&self, sync: bool) -> Result<(), SpoolError> {
        let (set, unlink) = {
            let mut st = self.state.lock();
            let written = st.write_buf();
            let unlink = std::mem::take(&mut st.unlink);
            let set = if sync {
                Some(st.take_sync_set(&self.cfg.dir))
            } else if !unlink.is_empty() && st.acklog_dirty && self.cfg.sync != SyncPolicy::None {
                st.acklog_dirty = false;
                Some(SyncSet {
                    files: vec![st.acklog.clone()],
                    dir: None,
                    upto: 0,
                })
            } else {
                None
            };
            if let Err(e) = written {
                st.unlink.extend(unlink);
                if let Some(set) = set {
                    drop(st);
                    let _ = set.run(self);
                }
                return Err(e);
            }
            (set, unlink)
        };
        if let Some(set) = set {
            if let Err(e) = set.run(self) {
                self.state.lock().unlink.extend(unlink);
                return Err(e);
            }
        }
        if !unlink.is_empty() {
            let mut failed = 0;
            for p in &unlink {
                if let Err(e) = std::fs::remove_file(p) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        failed += 1;
                        log::warn!("spool: cannot delete {}: {e}", p.display());
                    }
                }
            }
            let mut st = self.state.lock();
            st.stats.io_errors += failed;
            st.dir_dirty = true;
        }
        Ok(())
    }

    /// Makes `seq.hw` durably reserve numbers past `next_seq`: `grow` when an append is
    /// waiting (grows the block), otherwise a background top-up. No-op when not needed.
    pub(super) fn reserve(&self, grow: bool) -> Result<(), SpoolError> {
        let _io = self.seq_io.lock();
        let target = {
            let mut st = self.state.lock();
            if grow {
                if st.next_seq < st.reserved {
                    return Ok(()); // another thread reserved meanwhile
                }
                let fast = st.reserved_at.is_some_and(|t| t.elapsed() < WRITE_TICK);
                st.seq_block = if fast {
                    SEQ_BLOCK_MAX
                } else {
                    (st.seq_block * SEQ_BLOCK_GROWTH).min(SEQ_BLOCK_MAX)
                };
            } else if st.reserved.saturating_sub(st.next_seq) >= st.seq_block / 2 {
                return Ok(());
            }
            st.next_seq + st.seq_block
        };
        self.write_reservation(target)?;
        let mut st = self.state.lock();
        st.reserved = st.reserved.max(target);
        st.reserved_at = Some(Instant::now());
        Ok(())
    }

    /// Writes `seq.hw` reserving numbers below `target` (the caller holds `seq_io`) and counts
    /// the write, its two fsyncs or its failure.
    pub(super) fn write_reservation(&self, target: u64) -> Result<(), SpoolError> {
        let res = write_seq_file(
            &self.cfg.dir,
            SeqMark {
                reserved: target,
                clean: false,
                durable: self.cfg.sync == SyncPolicy::Always,
            },
        );
        let mut st = self.state.lock();
        st.stats.syncs += 2;
        if res.is_ok() {
            st.stats.seq_reservations += 1;
        } else {
            st.stats.io_errors += 1;
        }
        res
    }

    /// The flusher's tick: sizes the block to the recent rate (enough numbers for
    /// [`SEQ_BLOCK_TICKS`] ticks of the appends seen since the previous tick, at least
    /// [`SEQ_BLOCK_MIN`]), tops the reservation up in the background when less than half a block
    /// is left (so appends rarely wait), and lowers a reservation that is more than two blocks
    /// ahead (after a burst or an idle tick) to one block past `next_seq`. So a crash leaves at
    /// most about two blocks of numbers "possibly lost": a few ticks of traffic at the recent rate.
    pub(super) fn tick_reservation(&self) -> Result<(), SpoolError> {
        let lower_to = {
            let mut st = self.state.lock();
            let since = st.stats.appended - st.appended_at_tick;
            st.appended_at_tick = st.stats.appended;
            st.seq_block = since
                .saturating_mul(SEQ_BLOCK_TICKS)
                .next_power_of_two()
                .clamp(SEQ_BLOCK_MIN, SEQ_BLOCK_MAX);
            let ahead = st.reserved.saturating_sub(st.next_seq);
            (ahead > 2 * st.seq_block).then(|| st.next_seq + st.seq_block)
        };
        let Some(target) = lower_to else {
            return self.reserve(false);
        };
        let _io = self.seq_io.lock();
        {
            let mut st = self.state.lock();
            if target <= st.next_seq || target >= st.reserved {
                return Ok(()); // appends moved on meanwhile
            }
            // Lowered in memory first: no append may pass it while the file still says more.
            st.reserved = target;
        }
        self.write_reservation(target)
    }
}
