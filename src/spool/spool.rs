//! The spool: segment files, acknowledgements, recovery, the size cap and the flusher thread.

use super::bits::Bits;
use super::config::{SpoolConfig, SyncPolicy, MAX_RECORD_LEN, WRITE_CHUNK, WRITE_TICK};
use super::error::SpoolError;
use super::record::{
    encode_ack, encode_record, parse_ack_log, parse_record, Parsed, RecordHead, ACK_LOG_MAGIC,
    RECORD_HEADER_LEN, RECORD_MAGIC,
};
use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The ack log is rewritten (compacted) once it grows past this many bytes (1 MiB).
pub const ACK_LOG_COMPACT_BYTES: u64 = 1024 * 1024;
/// Loss reports kept until [`Spool::take_dropped`] drains them; beyond this the newest are merged
/// into the last entry, so memory stays bounded when nobody drains.
pub const MAX_DROPPED_KEPT: usize = 1024;
/// Bytes a [`Cursor`] reads from a segment file at a time (256 KiB).
pub const READ_CHUNK: usize = 256 * 1024;

const ACK_LOG: &str = "acks.log";
const ACK_LOG_TMP: &str = "acks.log.tmp";
const LOCK_FILE: &str = "LOCK";

/// One record read back from the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number, assigned by [`Spool::append`]; stable across restarts.
    pub seq: u64,
    /// When it was appended, in milliseconds since the UNIX epoch.
    pub time_ms: u64,
    /// The payload as appended.
    pub payload: Vec<u8>,
}

/// Why records were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The total size cap was reached and the oldest segment was removed.
    CapReached,
    /// Recovery found the records' bytes damaged (not a torn tail).
    Corrupt,
}

impl DropReason {
    /// A short lowercase name for reports and metric labels (`cap_reached`, `corrupt`).
    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::CapReached => "cap_reached",
            DropReason::Corrupt => "corrupt",
        }
    }
}

/// Unacknowledged records that were dropped: what the bridge's loss report needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// Why.
    pub reason: DropReason,
    /// The lowest dropped sequence number.
    pub first_seq: u64,
    /// The highest dropped sequence number (inclusive). Records between `first_seq` and
    /// `last_seq` that had been acknowledged are not part of `records`.
    pub last_seq: u64,
    /// How many unacknowledged records were dropped.
    pub records: u64,
    /// Append times (ms since the UNIX epoch) of the oldest and newest record of the span, when
    /// known (not for corrupt records).
    pub time_range_ms: Option<(u64, u64)>,
}

impl Dropped {
    fn merge(&mut self, o: &Dropped) {
        self.first_seq = self.first_seq.min(o.first_seq);
        self.last_seq = self.last_seq.max(o.last_seq);
        self.records += o.records;
        self.time_range_ms = match (self.time_range_ms, o.time_range_ms) {
            (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
            (a, b) => a.or(b),
        };
    }
}

/// A partly written record at the end of the newest segment, cut off by a crash; recovery
/// truncated the file before it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// The segment file.
    pub segment: PathBuf,
    /// Where the cut record started (the file's new length).
    pub offset: u64,
    /// Bytes discarded.
    pub bytes: u64,
}

/// Damaged bytes that recovery skipped (anywhere except the tail of the newest segment).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CorruptSpan {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset of the damage.
    pub offset: u64,
    /// Bytes skipped.
    pub bytes: u64,
    /// The sequence numbers lost with it (inclusive), when any: those between the valid records
    /// on either side.
    pub seqs: Option<(u64, u64)>,
    /// How many of those were not yet acknowledged (and so are reported as dropped).
    pub unacked: u64,
}

/// What [`Spool::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// Unacknowledged records that a [`Cursor`] will deliver again.
    pub pending_records: u64,
    /// The sequence number of the oldest of them.
    pub first_pending_seq: Option<u64>,
    /// The sequence number the next append gets.
    pub next_seq: u64,
    /// Segment files in use.
    pub segments: usize,
    /// Bytes in use.
    pub bytes: u64,
    /// A cut record at the very end, if there was one.
    pub torn_tail: Option<TornTail>,
    /// Damaged spans skipped elsewhere.
    pub corrupt: Vec<CorruptSpan>,
}

/// Counters and gauges of a running spool.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolStats {
    /// Bytes of all segments, including appends still buffered in memory.
    pub bytes: u64,
    /// Segment files.
    pub segments: usize,
    /// Records appended and not yet acknowledged or dropped.
    pub pending_records: u64,
    /// The sequence number the next append gets.
    pub next_seq: u64,
    /// Records appended since open.
    pub appended: u64,
    /// Records acknowledged since open.
    pub acked: u64,
    /// Unacknowledged records dropped because of the size cap since open.
    pub dropped_records: u64,
    /// Unacknowledged records lost to corruption found at open.
    pub corrupt_records: u64,
    /// Loss reports not yet taken with [`Spool::take_dropped`].
    pub dropped_ranges: Vec<Dropped>,
    /// Write, fsync or delete failures since open (each also logged or returned).
    pub io_errors: u64,
    /// fsync calls since open.
    pub syncs: u64,
}

struct Segment {
    first_seq: u64,
    path: PathBuf,
    file: Arc<File>,
    /// Bytes in the file (for the active segment: handed to the kernel; the rest is in `buf`).
    len: u64,
    /// One past the highest sequence number the segment may hold.
    end_seq: u64,
    /// Bit `i` is set when `first_seq + i` is released (acknowledged, dropped or absent).
    released: Bits,
    unreleased: u64,
    /// Damaged byte spans `(offset, len)` a cursor must step over.
    holes: Vec<(u64, u64)>,
    time_range_ms: Option<(u64, u64)>,
}

impl Segment {
    fn is_released(&self, seq: u64) -> bool {
        seq < self.first_seq || seq >= self.end_seq || self.released.get(seq - self.first_seq)
    }

    /// Releases `seq`; true when it was pending.
    fn release(&mut self, seq: u64) -> bool {
        if self.is_released(seq) {
            return false;
        }
        self.released.set(seq - self.first_seq, true);
        self.unreleased -= 1;
        true
    }

    fn unreleased_span(&self) -> Option<(u64, u64)> {
        let runs = self.released.clear_runs();
        let first = runs.first()?.0;
        let last = runs.last()?.1 - 1;
        Some((self.first_seq + first, self.first_seq + last))
    }
}

struct State {
    segments: BTreeMap<u64, Segment>,
    /// Appended bytes of the active (last) segment not yet written to its file.
    buf: Vec<u8>,
    next_seq: u64,
    total_bytes: u64,
    since_sync: u32,
    /// The active segment has writes not yet fsynced.
    dirty: bool,
    /// Closed segments with writes not yet fsynced.
    unsynced: Vec<Arc<File>>,
    dir_dirty: bool,
    acklog: Arc<File>,
    acklog_len: u64,
    acklog_dirty: bool,
    /// Bumped by every append; cursors compare it to know whether to wait.
    appended_gen: u64,
    stats: SpoolStats,
    dropped: VecDeque<Dropped>,
}

struct Shared {
    cfg: SpoolConfig,
    max_record: usize,
    state: Mutex<State>,
    appended: Condvar,
    /// The directory lock, held while the spool is open.
    _lock: File,
}

struct Flusher {
    stop: Sender<()>,
    handle: JoinHandle<()>,
}

/// An append-only disk spool of records with persistent sequence numbers.
///
/// `Spool` is `Send + Sync`; share it with an `Arc`. Every method takes `&self` and holds one
/// internal lock briefly (fsyncs happen outside it). A background thread writes buffered appends
/// and runs the interval fsyncs; it stops when the spool is dropped or closed. See the
/// [module docs](crate::spool) for the file layout and the guarantees of each sync policy.
pub struct Spool {
    shared: Arc<Shared>,
    flusher: Option<Flusher>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.shared.cfg.dir)
            .field("sync", &self.shared.cfg.sync)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn segment_name(first_seq: u64) -> String {
    format!("seg-{first_seq:020}.spool")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".spool")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn fsync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SpoolError::io(dir, "fsync", e))
}

fn open_append(path: &Path, create_new: bool) -> Result<File, SpoolError> {
    let mut o = OpenOptions::new();
    o.read(true).append(true);
    if create_new {
        o.create_new(true);
    }
    o.open(path).map_err(|e| SpoolError::io(path, "open", e))
}

/// Result of scanning one segment image.
struct Scan {
    /// Valid records `(seq, time_ms)` in order.
    records: Vec<(u64, u64)>,
    /// Damaged spans `(offset, len, lost seq range [from, to))` followed by a valid record.
    holes: Vec<(u64, u64, u64, u64)>,
    /// Trailing bytes that are not a complete valid record: `(offset, len, next expected seq)`.
    tail: Option<(u64, u64, u64)>,
}

fn scan_segment(data: &[u8], first_seq: u64) -> Scan {
    let valid_at = |pos: usize, min_seq: u64| -> Option<RecordHead> {
        match parse_record(&data[pos..], MAX_RECORD_LEN) {
            Parsed::Valid(h) if h.seq >= min_seq => Some(h),
            _ => None,
        }
    };
    let mut s = Scan {
        records: Vec::new(),
        holes: Vec::new(),
        tail: None,
    };
    let (mut pos, mut min_seq) = (0usize, first_seq);
    while pos < data.len() {
        if let Some(h) = valid_at(pos, min_seq) {
            s.records.push((h.seq, h.time_ms));
            min_seq = h.seq + 1;
            pos += h.total_len();
            continue;
        }
        // Resynchronise: the next offset holding a valid record with a later sequence number.
        let mut q = pos + 1;
        let found = loop {
            match data[q.min(data.len())..]
                .windows(RECORD_MAGIC.len())
                .position(|w| w == RECORD_MAGIC)
            {
                None => break None,
                Some(i) => {
                    q += i;
                    if let Some(h) = valid_at(q, min_seq) {
                        break Some(h);
                    }
                    q += 1;
                }
            }
        };
        match found {
            Some(h) => {
                s.holes.push((pos as u64, (q - pos) as u64, min_seq, h.seq));
                pos = q;
            }
            None => {
                s.tail = Some((pos as u64, (data.len() - pos) as u64, min_seq));
                break;
            }
        }
    }
    s
}

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
        let covered: u64 = self
            .0
            .iter()
            .map(|&(a, b)| b.min(to).saturating_sub(a.max(from)))
            .sum();
        to.saturating_sub(from) - covered
    }

    fn max_end(&self) -> u64 {
        self.0.last().map_or(0, |r| r.1)
    }
}

impl State {
    fn active(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a spool always has an active segment")
    }

    fn active_key(&self) -> u64 {
        *self.segments.keys().next_back().expect("active segment")
    }

    /// Hands the buffered appends to the kernel (one write). On failure the file is cut back to
    /// its previous length and the buffer kept, so offsets stay exact.
    fn write_buf(&mut self) -> Result<(), SpoolError> {
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
    fn take_sync_set(&mut self, dir: &Path) -> SyncSet {
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
        }
    }

    fn push_dropped(&mut self, d: Dropped) {
        if self.dropped.len() >= MAX_DROPPED_KEPT {
            if let Some(last) = self.dropped.back_mut() {
                last.merge(&d);
                return;
            }
        }
        self.dropped.push_back(d);
    }

    fn remove_segment(&mut self, key: u64) -> Option<Segment> {
        let seg = self.segments.remove(&key)?;
        self.total_bytes -= seg.len;
        if let Err(e) = std::fs::remove_file(&seg.path) {
            self.stats.io_errors += 1;
            log::warn!("spool: cannot delete {}: {e}", seg.path.display());
        }
        self.dir_dirty = true;
        Some(seg)
    }

    /// Removes the oldest segment if it is not the active one, reporting its pending records.
    fn drop_oldest(&mut self) -> bool {
        let oldest = *self.segments.keys().next().expect("segments");
        if oldest == self.active_key() {
            return false;
        }
        let seg = self.remove_segment(oldest).expect("present");
        if seg.unreleased > 0 {
            let (first_seq, last_seq) = seg.unreleased_span().expect("unreleased");
            log::warn!(
                "spool: size cap reached, dropped {} records seq {first_seq}..={last_seq} from {}",
                seg.unreleased,
                seg.path.display()
            );
            self.stats.dropped_records += seg.unreleased;
            self.push_dropped(Dropped {
                reason: DropReason::CapReached,
                first_seq,
                last_seq,
                records: seg.unreleased,
                time_range_ms: seg.time_range_ms,
            });
        }
        true
    }

    /// Closes the active segment and starts a new one at `next_seq`.
    fn roll(&mut self, cfg: &SpoolConfig) -> Result<(), SpoolError> {
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
    fn released_ranges(&self) -> Vec<(u64, u64)> {
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
    fn compact_acklog(&mut self, cfg: &SpoolConfig) -> Result<(), SpoolError> {
        let mut img = ACK_LOG_MAGIC.to_vec();
        for (a, b) in self.released_ranges() {
            encode_ack(&mut img, a, b);
        }
        let tmp = cfg.dir.join(ACK_LOG_TMP);
        let path = cfg.dir.join(ACK_LOG);
        let mut f = File::create(&tmp).map_err(|e| SpoolError::io(&tmp, "create", e))?;
        f.write_all(&img)
            .map_err(|e| SpoolError::io(&tmp, "write", e))?;
        // Only the policies that let an append wait for the device fsync here, under the lock;
        // otherwise the next interval sync covers the new file (a power loss before it can only
        // make the spool deliver acknowledged records again, never lose or renumber one).
        let durable_now = matches!(cfg.sync, SyncPolicy::Always | SyncPolicy::Every(_));
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

    fn snapshot(&self) -> SpoolStats {
        let mut s = self.stats.clone();
        s.bytes = self.total_bytes;
        s.segments = self.segments.len();
        s.pending_records = self.segments.values().map(|g| g.unreleased).sum();
        s.next_seq = self.next_seq;
        s.dropped_ranges = self.dropped.iter().cloned().collect();
        s
    }
}

struct SyncSet {
    files: Vec<Arc<File>>,
    dir: Option<PathBuf>,
}

impl SyncSet {
    fn run(self, shared: &Shared) -> Result<(), SpoolError> {
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
            None => Ok(()),
        }
    }
}

impl Shared {
    /// Writes the buffer; with `sync`, also fsyncs everything written (outside the lock).
    fn flush(&self, sync: bool) -> Result<(), SpoolError> {
        let set = {
            let mut st = self.state.lock();
            st.write_buf()?;
            if !sync {
                return Ok(());
            }
            st.take_sync_set(&self.cfg.dir)
        };
        set.run(self)
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

        // Acknowledgements.
        let ack_path = dir.join(ACK_LOG);
        let acked = match std::fs::read(&ack_path) {
            Ok(img) => match parse_ack_log(&img) {
                Some((ranges, valid)) => {
                    if valid < img.len() {
                        log::warn!(
                            "spool: {} has {} bytes of cut or damaged entries at the end; ignored",
                            ack_path.display(),
                            img.len() - valid
                        );
                    }
                    RangeSet::from_ranges(ranges)
                }
                None => {
                    log::warn!("spool: {} has no valid header; ignored", ack_path.display());
                    RangeSet::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RangeSet::default(),
            Err(e) => return Err(SpoolError::io(&ack_path, "read", e)),
        };

        // Segments, oldest first.
        let mut names: Vec<(u64, PathBuf)> = Vec::new();
        let rd = std::fs::read_dir(&dir).map_err(|e| SpoolError::io(&dir, "read_dir", e))?;
        for ent in rd {
            let ent = ent.map_err(|e| SpoolError::io(&dir, "read_dir", e))?;
            if let Some(first) = ent.file_name().to_str().and_then(parse_segment_name) {
                names.push((first, ent.path()));
            }
        }
        names.sort();

        let mut recovery = Recovery {
            pending_records: 0,
            first_pending_seq: None,
            next_seq: acked.max_end(),
            segments: 0,
            bytes: 0,
            torn_tail: None,
            corrupt: Vec::new(),
        };
        let mut segments = BTreeMap::new();
        let mut dropped = VecDeque::new();
        let mut corrupt_records = 0;
        let mut next_seq = acked.max_end();
        for (i, (first, path)) in names.iter().enumerate() {
            let is_last = i + 1 == names.len();
            let next_first = names.get(i + 1).map(|n| n.0);
            let meta = std::fs::metadata(path).map_err(|e| SpoolError::io(path, "stat", e))?;
            let max = super::config::MAX_SEGMENT_SIZE + MAX_RECORD_LEN as u64;
            if meta.len() > max {
                return Err(SpoolError::SegmentTooLarge {
                    path: path.clone(),
                    len: meta.len(),
                    max,
                });
            }
            let data = std::fs::read(path).map_err(|e| SpoolError::io(path, "read", e))?;
            let scan = scan_segment(&data, *first);
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
            let mut released = Bits::filled(end_seq - first, true);
            let mut unreleased = 0;
            let mut time_range_ms: Option<(u64, u64)> = None;
            for &(seq, t) in &scan.records {
                if !acked.contains(seq) {
                    released.set(seq - first, false);
                    unreleased += 1;
                }
                time_range_ms = Some(match time_range_ms {
                    None => (t, t),
                    Some((a, b)) => (a.min(t), b.max(t)),
                });
            }
            for &(off, n, from, to) in &holes {
                let seqs = (to > from).then(|| (from, to - 1));
                let unacked = acked.uncovered(from, to);
                log::warn!(
                    "spool: corrupt span in {} at offset {off} ({n} bytes), seqs {seqs:?}, {unacked} unacked lost",
                    path.display()
                );
                if unacked > 0 {
                    corrupt_records += unacked;
                    dropped.push_back(Dropped {
                        reason: DropReason::Corrupt,
                        first_seq: from,
                        last_seq: to - 1,
                        records: unacked,
                        time_range_ms: None,
                    });
                }
                recovery.corrupt.push(CorruptSpan {
                    segment: path.clone(),
                    offset: off,
                    bytes: n,
                    seqs,
                    unacked,
                });
            }
            next_seq = next_seq.max(end_seq).max(*first);
            if unreleased == 0 && !is_last {
                std::fs::remove_file(path).map_err(|e| SpoolError::io(path, "delete", e))?;
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
        if segments.is_empty() {
            // A new spool (the newest segment is never removed, so this means no files).
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
        {
            let active = segments.values_mut().next_back().expect("active");
            if active.end_seq < next_seq {
                active.released.extend(next_seq - active.end_seq, true);
                active.end_seq = next_seq;
            }
        }
        let total_bytes = segments.values().map(|s| s.len).sum();
        let acklog = Arc::new(open_append(&ack_path, !ack_path.exists()).or_else(|_| {
            // A fresh log is written by the compaction below in any case.
            File::create(&ack_path).map_err(|e| SpoolError::io(&ack_path, "create", e))
        })?);
        let max_record = cfg.max_record_len();
        let mut st = State {
            segments,
            buf: Vec::with_capacity(WRITE_CHUNK),
            next_seq,
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
                dropped_ranges: Vec::new(),
                io_errors: 0,
                syncs: 0,
            },
            dropped,
        };
        st.compact_acklog(&cfg)?;
        while st.total_bytes > cfg.max_bytes && st.drop_oldest() {}
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

        let shared = Arc::new(Shared {
            cfg,
            max_record,
            state: Mutex::new(st),
            appended: Condvar::new(),
            _lock: lock,
        });
        let flusher = spawn_flusher(shared.clone())?;
        Ok((
            Spool {
                shared,
                flusher: Some(flusher),
            },
            recovery,
        ))
    }

    /// Appends one record and returns its sequence number (one more than the previous append's,
    /// across restarts too). Blocks on the device only as the sync policy says: `always` waits
    /// for this record's fsync, `every:<n>` for every n-th, `interval` and `none` never.
    ///
    /// When the total size cap would be exceeded the oldest segment is removed first; its pending
    /// records are counted and reported through [`Spool::take_dropped`].
    ///
    /// # Errors
    /// [`SpoolError::RecordTooLarge`]; [`SpoolError::Io`] when writing or syncing failed (the
    /// record may then be lost on a crash, but it keeps its place until then).
    pub fn append(&self, payload: &[u8]) -> Result<u64, SpoolError> {
        if payload.len() > self.shared.max_record {
            return Err(SpoolError::RecordTooLarge {
                len: payload.len(),
                max: self.shared.max_record,
            });
        }
        let cfg = &self.shared.cfg;
        let rec_len = (RECORD_HEADER_LEN + payload.len()) as u64;
        let time = now_ms();
        let (seq, sync) = {
            let mut st = self.shared.state.lock();
            let active_len = {
                let a = st.active();
                a.len
            } + st.buf.len() as u64;
            if active_len > 0 && active_len + rec_len > cfg.segment_size {
                st.roll(cfg)?;
            }
            while st.total_bytes + rec_len > cfg.max_bytes && st.drop_oldest() {}
            let seq = st.next_seq;
            st.next_seq += 1;
            encode_record(&mut st.buf, seq, time, payload);
            {
                let a = st.active();
                a.end_seq = seq + 1;
                a.released.extend(1, false);
                a.unreleased += 1;
                a.time_range_ms = Some(a.time_range_ms.map_or((time, time), |r| (r.0, time)));
            }
            st.total_bytes += rec_len;
            st.appended_gen += 1;
            st.stats.appended += 1;
            let sync = match cfg.sync {
                SyncPolicy::Always => true,
                SyncPolicy::Every(n) => {
                    st.since_sync += 1;
                    st.since_sync >= n
                }
                SyncPolicy::None | SyncPolicy::Interval(_) => false,
            };
            if sync || st.buf.len() >= WRITE_CHUNK {
                st.write_buf()?;
            }
            (seq, sync.then(|| st.take_sync_set(&cfg.dir)))
        };
        self.shared.appended.notify_all();
        if let Some(set) = sync {
            set.run(&self.shared)?;
        }
        Ok(seq)
    }

    /// Marks `seq` as confirmed: its space is released once every record of its segment is.
    /// Acknowledgements may come in any order. Returns `false` when `seq` was not pending
    /// (already acknowledged, dropped, or never appended).
    ///
    /// The acknowledgement is written to `acks.log` at once (without fsync), so after a process
    /// kill a restart resends only records that were not yet acknowledged.
    ///
    /// # Errors
    /// [`SpoolError::Io`] when the ack log cannot be written or compacted; the record then counts
    /// as released in memory but may be delivered again after a restart.
    pub fn ack(&self, seq: u64) -> Result<bool, SpoolError> {
        let cfg = &self.shared.cfg;
        let mut st = self.shared.state.lock();
        let active = st.active_key();
        let Some((&key, seg)) = st.segments.range_mut(..=seq).next_back() else {
            return Ok(false);
        };
        if !seg.release(seq) {
            return Ok(false);
        }
        let empty = seg.unreleased == 0 && key != active;
        st.stats.acked += 1;
        if empty {
            st.remove_segment(key);
        }
        let mut e = Vec::with_capacity(super::record::ACK_ENTRY_LEN);
        encode_ack(&mut e, seq, seq + 1);
        if let Err(err) = (&*st.acklog).write_all(&e) {
            st.stats.io_errors += 1;
            return Err(SpoolError::io(cfg.dir.join(ACK_LOG), "write", err));
        }
        st.acklog_len += e.len() as u64;
        st.acklog_dirty = true;
        if st.acklog_len > ACK_LOG_COMPACT_BYTES {
            st.compact_acklog(cfg)?;
        }
        Ok(true)
    }

    /// A cursor over the pending records, oldest first, for the sender thread. It also delivers
    /// records appended after it was made.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            shared: self.shared.clone(),
            seg: 0,
            offset: 0,
            ra: Vec::new(),
            ra_seg: u64::MAX,
            ra_off: 0,
            seen_gen: 0,
        }
    }

    /// Counters and gauges.
    pub fn stats(&self) -> SpoolStats {
        self.shared.state.lock().snapshot()
    }

    /// Takes the loss reports accumulated since the last call (oldest first).
    pub fn take_dropped(&self) -> Vec<Dropped> {
        self.shared.state.lock().dropped.drain(..).collect()
    }

    /// Writes buffered appends and fsyncs everything now, whatever the policy.
    ///
    /// # Errors
    /// The first write or fsync failure.
    pub fn sync(&self) -> Result<(), SpoolError> {
        self.shared.flush(true)
    }

    /// The configuration in use.
    pub fn config(&self) -> &SpoolConfig {
        &self.shared.cfg
    }

    /// Stops the flusher, writes and (unless the policy is `none`) fsyncs what is buffered.
    /// Dropping the spool does the same but can only log a failure.
    ///
    /// # Errors
    /// The first write or fsync failure.
    pub fn close(mut self) -> Result<(), SpoolError> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<(), SpoolError> {
        let Some(f) = self.flusher.take() else {
            return Ok(());
        };
        drop(f.stop);
        let _ = f.handle.join();
        self.shared.flush(self.shared.cfg.sync != SyncPolicy::None)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(e) = self.close_inner() {
            log::warn!("spool: closing {}: {e}", self.shared.cfg.dir.display());
        }
    }
}

fn spawn_flusher(shared: Arc<Shared>) -> Result<Flusher, SpoolError> {
    let (stop, stop_rx) = bounded::<()>(0);
    let (tick, period) = match shared.cfg.sync {
        SyncPolicy::Interval(d) => (d.min(WRITE_TICK), Some(d)),
        _ => (WRITE_TICK, None),
    };
    let dir = shared.cfg.dir.clone();
    let handle = std::thread::Builder::new()
        .name("spool-flush".into())
        .spawn(move || {
            let mut last_sync = Instant::now();
            loop {
                match stop_rx.recv_timeout(tick) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let due =
                    period.is_some_and(|p| last_sync.elapsed() + Duration::from_millis(1) >= p);
                if due {
                    last_sync = Instant::now();
                }
                if let Err(e) = shared.flush(due) {
                    log::warn!("spool: flushing {}: {e}", shared.cfg.dir.display());
                }
            }
        })
        .map_err(|e| SpoolError::io(dir, "spawn", e))?;
    Ok(Flusher { stop, handle })
}

/// Reads pending records in sequence order, skipping acknowledged ones. Made by
/// [`Spool::cursor`]; owned by one thread (the sender). Records appended later are delivered too;
/// a record comes once per pass, and [`Cursor::rewind`] starts a new pass from the oldest pending
/// record (for a sender that lost its connection and resends everything unacknowledged).
pub struct Cursor {
    shared: Arc<Shared>,
    /// Segment (by first seq) and byte offset of the next record to read.
    seg: u64,
    offset: u64,
    /// Read-ahead bytes of segment `ra_seg` starting at file offset `ra_off`.
    ra: Vec<u8>,
    ra_seg: u64,
    ra_off: u64,
    seen_gen: u64,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("segment", &self.seg)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

enum Step {
    Read {
        file: Arc<File>,
        path: PathBuf,
        limit: u64,
    },
    Again,
    CaughtUp,
}

impl Cursor {
    /// Starts over at the oldest pending record.
    pub fn rewind(&mut self) {
        self.seg = 0;
        self.offset = 0;
    }

    /// The next pending record, or `None` when the cursor has delivered everything appended so
    /// far. Reading at the tail hands buffered appends to the kernel first (a record is never
    /// delivered before a process kill would keep it).
    ///
    /// # Errors
    /// [`SpoolError::Io`] for a failed read or write; [`SpoolError::Corrupt`] when a record no
    /// longer reads back (the cursor then moves on to the next segment).
    pub fn next_record(&mut self) -> Result<Option<Record>, SpoolError> {
        loop {
            let step = self.locate()?;
            let (file, path, limit) = match step {
                Step::Again => continue,
                Step::CaughtUp => return Ok(None),
                Step::Read { file, path, limit } => (file, path, limit),
            };
            let head = match self.read_head(&file, limit) {
                Ok(h) => h,
                Err(check) => {
                    let offset = self.offset;
                    self.offset = limit;
                    return Err(SpoolError::Corrupt {
                        path,
                        offset,
                        check,
                    });
                }
            };
            let start = (self.offset - self.ra_off) as usize + RECORD_HEADER_LEN;
            let payload = &self.ra[start..start + head.len];
            self.offset += head.total_len() as u64;
            let st = self.shared.state.lock();
            let released = st
                .segments
                .get(&self.seg)
                .is_none_or(|s| s.is_released(head.seq));
            drop(st);
            if released {
                continue;
            }
            return Ok(Some(Record {
                seq: head.seq,
                time_ms: head.time_ms,
                payload: payload.to_vec(),
            }));
        }
    }

    /// Like [`Cursor::next_record`], but when caught up waits up to `timeout` for an append.
    ///
    /// # Errors
    /// As [`Cursor::next_record`].
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Record>, SpoolError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.next_record()? {
                return Ok(Some(r));
            }
            let mut st = self.shared.state.lock();
            if st.appended_gen != self.seen_gen {
                continue;
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let _ = self.shared.appended.wait_until(&mut st, deadline);
        }
    }

    /// Finds the segment and offset of the next record, under the lock.
    fn locate(&mut self) -> Result<Step, SpoolError> {
        let mut st = self.shared.state.lock();
        let active = st.active_key();
        if !st.segments.contains_key(&self.seg) {
            // Removed (acknowledged or dropped) or never set: go to the next one that exists.
            let next = *st
                .segments
                .range(self.seg..)
                .next()
                .map(|(k, _)| k)
                .unwrap_or(&active);
            self.seg = next;
            self.offset = 0;
        }
        let seg = &st.segments[&self.seg];
        for &(o, n) in &seg.holes {
            if self.offset >= o && self.offset < o + n {
                self.offset = o + n;
            }
        }
        if self.offset < seg.len {
            return Ok(Step::Read {
                file: seg.file.clone(),
                path: seg.path.clone(),
                limit: seg.len,
            });
        }
        if self.seg != active {
            self.seg = *st
                .segments
                .range(self.seg + 1..)
                .next()
                .map(|(k, _)| k)
                .expect("the active segment follows");
            self.offset = 0;
            return Ok(Step::Again);
        }
        if !st.buf.is_empty() {
            st.write_buf()?;
            return Ok(Step::Again);
        }
        self.seen_gen = st.appended_gen;
        Ok(Step::CaughtUp)
    }

    /// Makes the read-ahead cover `[offset, offset + n)` (n bounded by `limit`).
    fn fill(&mut self, file: &File, n: usize, limit: u64) -> std::io::Result<bool> {
        let end = self.offset + n as u64;
        if end > limit {
            return Ok(false);
        }
        if self.ra_seg == self.seg && self.offset >= self.ra_off {
            let have_end = self.ra_off + self.ra.len() as u64;
            if end <= have_end {
                return Ok(true);
            }
        }
        let want = (n.max(READ_CHUNK) as u64).min(limit - self.offset) as usize;
        self.ra.clear();
        self.ra.resize(want, 0);
        file.read_exact_at(&mut self.ra, self.offset)?;
        self.ra_seg = self.seg;
        self.ra_off = self.offset;
        Ok(true)
    }

    fn read_head(&mut self, file: &File, limit: u64) -> Result<RecordHead, &'static str> {
        if !self
            .fill(file, RECORD_HEADER_LEN, limit)
            .map_err(|_| "read")?
        {
            return Err("cut");
        }
        let at = (self.offset - self.ra_off) as usize;
        let len = u32::from_be_bytes([
            self.ra[at + 4],
            self.ra[at + 5],
            self.ra[at + 6],
            self.ra[at + 7],
        ]) as usize;
        if len > MAX_RECORD_LEN {
            return Err("len");
        }
        if !self
            .fill(file, RECORD_HEADER_LEN + len, limit)
            .map_err(|_| "read")?
        {
            return Err("cut");
        }
        let at = (self.offset - self.ra_off) as usize;
        match parse_record(&self.ra[at..], MAX_RECORD_LEN) {
            Parsed::Valid(h) => Ok(h),
            Parsed::Incomplete => Err("cut"),
            Parsed::Invalid(check) => Err(check),
        }
    }
}
