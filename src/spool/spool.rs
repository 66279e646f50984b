//! The spool: segment files, acknowledgements, recovery, the size cap and the flusher thread.

use super::bits::Bits;
use super::config::{
    SpoolConfig, SyncPolicy, MAX_RECORD_LEN, MAX_SEGMENT_SIZE, WRITE_CHUNK, WRITE_TICK,
};
use super::error::SpoolError;
use super::record::{
    encode_ack, encode_record, encode_seq_file, parse_ack_log, parse_record, parse_seq_file,
    Parsed, RecordHead, SeqFileError, SeqMark, ACK_LOG_MAGIC, RECORD_HEADER_LEN, RECORD_MAGIC,
    SPOOL_FORMAT_VERSION,
};
use crate::util::crc32::{crc32, crc32_combine, crc32_suffix, crc32_update};
use crossbeam_channel::{bounded, select, Receiver, Sender};
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
/// Sequence numbers reserved by one durable write of `seq.hw` at first, and what is left reserved
/// after a flusher tick without appends (64).
pub const SEQ_BLOCK_MIN: u64 = 64;
/// The most sequence numbers reserved by one write of `seq.hw` (1,048,576): the block grows
/// sixteenfold up to this each time an append had to wait for a reservation. It also bounds the
/// "possibly lost" tail a crash under load can leave (see the module docs).
pub const SEQ_BLOCK_MAX: u64 = 1 << 20;
/// How much the block grows when an append had to wait for a reservation (16); when the previous
/// block lasted less than a flusher tick it goes straight to [`SEQ_BLOCK_MAX`].
const SEQ_BLOCK_GROWTH: u64 = 16;
/// Sequence numbers reserved by the `seq.hw` write at open (65,536), so that a burst right after
/// open does not wait for the device: at 2 million appends a second this lasts 30 ms, long enough
/// for the flusher's background top-up, which an append asks for once half a block is used. A
/// crash before the flusher's first tick can leave this many numbers "possibly lost"; its first
/// tick lowers the reservation to what the rate needs.
pub const SEQ_BLOCK_OPEN: u64 = 1 << 16;
/// Flusher ticks of appends (at the rate of the previous tick) one reservation block covers (2).
pub const SEQ_BLOCK_TICKS: u64 = 2;
/// The highest sequence number the spool accepts from its files (2^62): a record, ack entry,
/// segment name or `seq.hw` claiming more is corruption. Far beyond any real count (10^6 appends a
/// second for 146,000 years), and `+ 1` never overflows.
pub const MAX_SEQ: u64 = 1 << 62;
/// The most records one segment file can hold, (`MAX_SEGMENT_SIZE` + `MAX_RECORD_LEN`) / 28 =
/// 38,947,424: recovery takes a record as valid only when its sequence number is at most its
/// offset / 28 past the segment's first, so a segment's bitmap (one bit per record, 4.6 MiB at
/// most) is bounded by its file size, whatever the sequence numbers in it claim.
pub const MAX_SEGMENT_RECORDS: u64 =
    (MAX_SEGMENT_SIZE + MAX_RECORD_LEN as u64) / RECORD_HEADER_LEN as u64;

const ACK_LOG: &str = "acks.log";
const ACK_LOG_TMP: &str = "acks.log.tmp";
const SEQ_FILE: &str = "seq.hw";
const SEQ_FILE_TMP: &str = "seq.hw.tmp";
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
    /// The records' bytes were found damaged (not a torn tail), at open or by a cursor.
    Corrupt,
    /// Recovery found sequence numbers that were certainly used (a later record, segment name,
    /// acknowledgement or a clean close says so) but neither their records nor an
    /// acknowledgement: a segment file cut or emptied by a power loss, or deleted.
    Missing,
    /// After a crash (no clean close), the numbers between the last record found and the durable
    /// high-water mark: reserved, and possibly used by appends whose records a process kill or
    /// power loss took. `records` is the upper bound (the range's length); how many were really
    /// used cannot be known.
    PossiblyLost,
}

impl DropReason {
    /// A short lowercase name for reports and metric labels (`cap_reached`, `corrupt`,
    /// `missing`, `possibly_lost`).
    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::CapReached => "cap_reached",
            DropReason::Corrupt => "corrupt",
            DropReason::Missing => "missing",
            DropReason::PossiblyLost => "possibly_lost",
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
    /// Damaged spans skipped elsewhere; at most [`MAX_DROPPED_KEPT`] listed (the records lost in
    /// all of them are counted in [`SpoolStats::corrupt_records`]).
    pub corrupt: Vec<CorruptSpan>,
    /// Sequence ranges (inclusive) that were used but whose records are gone and were not
    /// acknowledged (reported as [`DropReason::Missing`]); at most [`MAX_DROPPED_KEPT`] listed.
    pub missing: Vec<(u64, u64)>,
    /// Records in `missing` (all ranges, listed or not).
    pub missing_records: u64,
    /// After a crash: the numbers (inclusive) between the last record found and the durable
    /// high-water mark, reported as [`DropReason::PossiblyLost`].
    pub possibly_lost: Option<(u64, u64)>,
    /// Ack entries ignored because they name sequence numbers beyond what the spool can have
    /// used (their records are delivered again, not lost).
    pub ignored_acks: u64,
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
    /// Unacknowledged records lost to corruption, found at open or by a cursor.
    pub corrupt_records: u64,
    /// Records found missing at open ([`DropReason::Missing`]).
    pub missing_records: u64,
    /// Upper bound of records possibly lost in a crash ([`DropReason::PossiblyLost`]).
    pub possibly_lost_records: u64,
    /// Durable writes of the sequence high-water mark (`seq.hw`) since open; each costs two
    /// fsyncs (file and directory), also counted in `syncs`.
    pub seq_reservations: u64,
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
    /// The sequence number of the first record in `buf` (when it is not empty).
    buf_seq: u64,
    next_seq: u64,
    /// Numbers below this are covered by the durable `seq.hw`; an append needs `next_seq` below.
    reserved: u64,
    /// Records below this sequence number are fsynced (under `always` a cursor delivers no
    /// record at or past it).
    durable_seq: u64,
    /// Numbers a reservation adds ([`SEQ_BLOCK_MIN`]..=[`SEQ_BLOCK_MAX`]).
    seq_block: u64,
    /// When the last growing reservation was written.
    reserved_at: Option<Instant>,
    /// `stats.appended` at the flusher's previous tick (to see an idle tick).
    appended_at_tick: u64,
    /// Released segment files to delete once `acks.log` is on the device.
    unlink: Vec<PathBuf>,
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
    /// Serialises writes of `seq.hw` (taken before `state`, never while holding it).
    seq_io: Mutex<()>,
    appended: Condvar,
    /// An append asks the flusher for a background top-up of the reservation here (capacity 1:
    /// a request already waiting is enough).
    topup_tx: Sender<()>,
    topup_rx: Receiver<()>,
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

/// Writes `seq.hw` durably: temporary file, fsync, rename, fsync of the directory.
fn write_seq_file(dir: &Path, mark: SeqMark) -> Result<(), SpoolError> {
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

/// Result of scanning one segment image.
pub(super) struct Scan {
    /// Valid records `(seq, time_ms)` in order.
    pub(super) records: Vec<(u64, u64)>,
    /// Damaged spans `(offset, len, lost seq range [from, to))` followed by a valid record
    /// (offsets in the file).
    holes: Vec<(u64, u64, u64, u64)>,
    /// Trailing bytes that are not a complete valid record: `(offset, len, next expected seq)`.
    tail: Option<(u64, u64, u64)>,
}

/// Scans `data`, the bytes of a segment named `first_seq` from file offset `base` on. A record is
/// valid when its CRC matches and its sequence number is at least `min_seq` (after the previous
/// valid one), below `end_seq` (the next segment's name, or [`MAX_SEQ`]) and at most
/// offset / [`RECORD_HEADER_LEN`] past `first_seq` (records of a segment are consecutive and at
/// least that long), so a hostile number cannot make the segment's bitmap larger than its file.
pub(super) fn scan_segment(
    data: &[u8],
    base: u64,
    first_seq: u64,
    min_seq: u64,
    end_seq: u64,
) -> Scan {
    let seq_fits = |pos: usize, seq: u64, min_seq: u64| {
        seq >= min_seq
            && seq >= first_seq
            && seq < end_seq
            && seq - first_seq <= (base + pos as u64) / RECORD_HEADER_LEN as u64
    };
    let valid_at = |pos: usize, min_seq: u64| -> Option<RecordHead> {
        match parse_record(&data[pos..], MAX_RECORD_LEN) {
            Parsed::Valid(h) if seq_fits(pos, h.seq, min_seq) => Some(h),
            _ => None,
        }
    };
    // While resynchronising every "RBR1" is a candidate, also those in a payload (chosen by
    // whoever sent the event), each claiming a length up to MAX_RECORD_LEN: checking each
    // candidate's CRC over its whole length would cost the square of the damaged span (a torn
    // 4 MiB event of fake headers kept open busy for over half an hour). So a candidate's
    // sequence number is checked first, and its CRC comes from checkpoints of the running CRC
    // every RESYNC_CRC_STRIDE bytes ([`RangeCrc`], built at the first resynchronisation), in
    // constant work per candidate.
    let mut range_crc: Option<RangeCrc> = None;
    let mut candidate_at = |pos: usize, min_seq: u64| -> Option<RecordHead> {
        let b = data.get(pos..pos + RECORD_HEADER_LEN)?;
        let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let seq = u64::from_be_bytes(b[8..16].try_into().expect("8 bytes"));
        if b[..4] != RECORD_MAGIC
            || len > MAX_RECORD_LEN
            || data.len() - pos < RECORD_HEADER_LEN + len
            || !seq_fits(pos, seq, min_seq)
        {
            return None;
        }
        if len <= 2 * RESYNC_CRC_STRIDE {
            return valid_at(pos, min_seq);
        }
        let rc = range_crc.get_or_insert_with(|| RangeCrc::new(data));
        let head = crc32(&b[..24]);
        let body = rc.range(pos + RECORD_HEADER_LEN, pos + RECORD_HEADER_LEN + len);
        let crc = crc32_combine(head, body, len as u64);
        (crc == u32::from_be_bytes([b[24], b[25], b[26], b[27]])).then(|| RecordHead {
            seq,
            time_ms: u64::from_be_bytes(b[16..24].try_into().expect("8 bytes")),
            len,
        })
    };
    let mut s = Scan {
        records: Vec::new(),
        holes: Vec::new(),
        tail: None,
    };
    let (mut pos, mut min_seq) = (0usize, min_seq);
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
                    if let Some(h) = candidate_at(q, min_seq) {
                        break Some(h);
                    }
                    q += 1;
                }
            }
        };
        match found {
            Some(h) => {
                s.holes
                    .push((base + pos as u64, (q - pos) as u64, min_seq, h.seq));
                pos = q;
            }
            None => {
                s.tail = Some((base + pos as u64, (data.len() - pos) as u64, min_seq));
                break;
            }
        }
    }
    s
}

/// Bytes between two checkpoints of [`RangeCrc`] (256): a candidate's CRC costs at most twice
/// this in bytes plus a few dozen polynomial products, whatever length it claims.
const RESYNC_CRC_STRIDE: usize = 256;

/// The CRC-32 of any range of one buffer in bounded work, from the running CRC kept every
/// [`RESYNC_CRC_STRIDE`] bytes (4 bytes per 256: 4 MiB for a 1 GiB segment).
struct RangeCrc<'a> {
    data: &'a [u8],
    marks: Vec<u32>,
}

impl<'a> RangeCrc<'a> {
    fn new(data: &'a [u8]) -> RangeCrc<'a> {
        let mut marks = Vec::with_capacity(data.len() / RESYNC_CRC_STRIDE + 1);
        let mut crc = 0;
        marks.push(crc);
        for chunk in data.chunks_exact(RESYNC_CRC_STRIDE) {
            crc = crc32_update(crc, chunk);
            marks.push(crc);
        }
        RangeCrc { data, marks }
    }

    /// `crc32(&data[..at])`.
    fn prefix(&self, at: usize) -> u32 {
        let k = at / RESYNC_CRC_STRIDE;
        crc32_update(self.marks[k], &self.data[k * RESYNC_CRC_STRIDE..at])
    }

    /// `crc32(&data[from..to])`.
    fn range(&self, from: usize, to: usize) -> u32 {
        crc32_suffix(self.prefix(from), self.prefix(to), (to - from) as u64)
    }
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
            upto: if self.buf.is_empty() {
                self.next_seq
            } else {
                self.buf_seq
            },
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

    /// Forgets a segment; its file is deleted by the next flush, after the acknowledgements
    /// that released it are on the device (so a power loss cannot leave a deleted segment whose
    /// records `acks.log` does not cover: that would read as a gap).
    fn remove_segment(&mut self, key: u64) -> Option<Segment> {
        let seg = self.segments.remove(&key)?;
        self.total_bytes -= seg.len;
        self.unlink.push(seg.path.clone());
        Some(seg)
    }

    /// Appends an ack entry for `from..to` to `acks.log` (no fsync).
    fn log_release(&mut self, cfg: &SpoolConfig, from: u64, to: u64) -> Result<(), SpoolError> {
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
    fn drop_oldest(&mut self, cfg: &SpoolConfig) -> bool {
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
    /// Every record below this sequence number is in the files synced.
    upto: u64,
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
    fn flush(&self, sync: bool) -> Result<(), SpoolError> {
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
    fn reserve(&self, grow: bool) -> Result<(), SpoolError> {
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
    fn write_reservation(&self, target: u64) -> Result<(), SpoolError> {
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
    fn tick_reservation(&self) -> Result<(), SpoolError> {
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
                        reason: DropReason::Corrupt,
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
                reason: DropReason::Missing,
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
                reason: DropReason::PossiblyLost,
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

    /// Appends one record and returns its sequence number (one more than the previous append's,
    /// across restarts too). Blocks on the device only as the sync policy says: `always` waits
    /// for this record's fsync, `every:<n>` for every n-th, `interval` and `none` never.
    ///
    /// When the total size cap would be exceeded the oldest segment is removed first; its pending
    /// records are counted and reported through [`Spool::take_dropped`].
    ///
    /// Before a sequence number is used, `seq.hw` durably reserves it (one write and two fsyncs
    /// per block of numbers, see the module docs); an append waits for that only when the
    /// flusher thread has not reserved ahead in time.
    ///
    /// # Errors
    /// [`SpoolError::RecordTooLarge`]; [`SpoolError::Io`] when the record could not be written
    /// (or its number not reserved): it is then not in the spool, will never be delivered, and
    /// its number is given to the next append; [`SpoolError::NotDurable`] when the record was
    /// written but its fsync (`always`, every n-th of `every:<n>`) failed: it stays queued and
    /// will be delivered, but may not survive a power loss.
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
        let (seq, sync) = loop {
            let mut st = self.shared.state.lock();
            if st.next_seq >= st.reserved {
                // The number must be durably reserved before it is used (outside the lock).
                drop(st);
                self.shared.reserve(true)?;
                continue;
            }
            let seq = st.next_seq;
            let active_len = {
                let a = st.active();
                a.len
            } + st.buf.len() as u64;
            let active_end = st.active().end_seq;
            if (active_len > 0 && active_len + rec_len > cfg.segment_size) || active_end != seq {
                st.roll(cfg)?;
            }
            while st.total_bytes + rec_len > cfg.max_bytes && st.drop_oldest(cfg) {}
            st.next_seq += 1;
            if st.reserved - st.next_seq + 1 == st.seq_block / 2 {
                // Just past half the block: the flusher tops it up in the background (once per
                // block: the count passes this point once).
                let _ = self.shared.topup_tx.try_send(());
            }
            let buf_len = st.buf.len();
            if buf_len == 0 {
                st.buf_seq = seq;
            }
            encode_record(&mut st.buf, seq, time, payload);
            let old_range = {
                let a = st.active();
                let old = a.time_range_ms;
                a.end_seq = seq + 1;
                a.released.extend(1, false);
                a.unreleased += 1;
                a.time_range_ms = Some(a.time_range_ms.map_or((time, time), |r| (r.0, time)));
                old
            };
            st.total_bytes += rec_len;
            st.appended_gen += 1;
            st.stats.appended += 1;
            let since_sync = st.since_sync;
            let sync = match cfg.sync {
                SyncPolicy::Always => true,
                SyncPolicy::Every(n) => {
                    st.since_sync += 1;
                    st.since_sync >= n
                }
                SyncPolicy::None | SyncPolicy::Interval(_) => false,
            };
            if sync || st.buf.len() >= WRITE_CHUNK {
                if let Err(e) = st.write_buf() {
                    // Not accepted: take the record back out (earlier buffered appends stay and
                    // are written later), so the caller's error is the whole truth.
                    st.buf.truncate(buf_len);
                    let a = st.active();
                    a.end_seq = seq;
                    a.released.pop();
                    a.unreleased -= 1;
                    a.time_range_ms = old_range;
                    st.total_bytes -= rec_len;
                    st.next_seq = seq;
                    st.stats.appended -= 1;
                    st.since_sync = since_sync;
                    return Err(e);
                }
            }
            break (seq, sync.then(|| st.take_sync_set(&cfg.dir)));
        };
        self.shared.appended.notify_all();
        if let Some(set) = sync {
            set.run(&self.shared).map_err(|e| match e {
                SpoolError::Io { path, source, .. } => SpoolError::NotDurable { seq, path, source },
                other => other,
            })?;
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
        // The entry first: a segment is deleted only once its releases are logged.
        st.log_release(cfg, seq, seq + 1)?;
        if empty {
            st.remove_segment(key);
        }
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
            last_seq: None,
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
        self.shared
            .flush(self.shared.cfg.sync != SyncPolicy::None)?;
        // A clean close: seq.hw names the next number exactly, so the next open knows that every
        // number below it was used (a gap there is missing, not "possibly lost").
        let _io = self.shared.seq_io.lock();
        let mut st = self.shared.state.lock();
        let next = st.next_seq;
        st.stats.syncs += 2;
        let res = write_seq_file(
            &self.shared.cfg.dir,
            SeqMark {
                reserved: next,
                clean: true,
                durable: self.shared.cfg.sync == SyncPolicy::Always,
            },
        );
        if res.is_ok() {
            st.reserved = next;
        }
        res
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
            let mut next_tick = Instant::now() + tick;
            loop {
                // Top-ups asked for by appends run at once; the tick keeps its own period.
                select! {
                    recv(stop_rx) -> _ => return,
                    recv(shared.topup_rx) -> _ => {
                        if let Err(e) = shared.reserve(false) {
                            log::warn!("spool: reserving sequence numbers: {e}");
                        }
                        continue;
                    }
                    default(next_tick.saturating_duration_since(Instant::now())) => {}
                }
                next_tick = Instant::now() + tick;
                let due = period
                    .is_some_and(|p| last_sync.elapsed() + Duration::from_millis(1) >= p)
                    || (shared.cfg.sync == SyncPolicy::Always && {
                        let st = shared.state.lock();
                        st.durable_seq < st.next_seq
                    });
                if due {
                    last_sync = Instant::now();
                }
                if let Err(e) = shared.flush(due) {
                    log::warn!("spool: flushing {}: {e}", shared.cfg.dir.display());
                }
                if let Err(e) = shared.tick_reservation() {
                    log::warn!("spool: reserving sequence numbers: {e}");
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
    /// The sequence number of the last record read in segment `seg`.
    last_seq: Option<u64>,
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
        self.last_seq = None;
    }

    /// The next pending record, or `None` when the cursor has delivered everything appended so
    /// far. Reading at the tail hands buffered appends to the kernel first (a record is never
    /// delivered before a process kill would keep it).
    ///
    /// # Errors
    /// [`SpoolError::Io`] for a failed write; [`SpoolError::Corrupt`] when a record no longer
    /// reads back (damaged or unreadable): the cursor then moves on to the next valid record of
    /// the segment, and the pending records in between are released and reported at once through
    /// [`Spool::take_dropped`] ([`DropReason::Corrupt`]).
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
                    self.offset = self.skip_damage(&file, offset, limit);
                    if self.offset == offset {
                        continue; // reads back now (a passing read error)
                    }
                    return Err(SpoolError::Corrupt {
                        path,
                        offset,
                        check,
                    });
                }
            };
            let st = self.shared.state.lock();
            if self.shared.cfg.sync == SyncPolicy::Always && head.seq >= st.durable_seq {
                // Under `always` a record is delivered only once fsynced: a power loss cannot
                // take a record whose key was already sent.
                self.seen_gen = st.appended_gen;
                return Ok(None);
            }
            let start = (self.offset - self.ra_off) as usize + RECORD_HEADER_LEN;
            let payload = &self.ra[start..start + head.len];
            self.offset += head.total_len() as u64;
            self.last_seq = Some(head.seq);
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
            self.last_seq = None;
        }
        let seg = &st.segments[&self.seg];
        // Holes are sorted and disjoint: step over the one holding the offset (and any right
        // after it) without walking them all for every record.
        let mut i = seg.holes.partition_point(|&(o, n)| o + n <= self.offset);
        while let Some(&(o, n)) = seg.holes.get(i) {
            if self.offset < o {
                break;
            }
            self.offset = o + n;
            i += 1;
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
            self.last_seq = None;
            return Ok(Step::Again);
        }
        if !st.buf.is_empty() {
            st.write_buf()?;
            return Ok(Step::Again);
        }
        self.seen_gen = st.appended_gen;
        Ok(Step::CaughtUp)
    }

    /// The record at `offset` (below `limit`) does not read back: reads the rest of the segment
    /// (at most a segment's size, like recovery), finds the next valid record, releases the
    /// pending records in between, reports them as [`DropReason::Corrupt`] and logs their
    /// release in `acks.log` (so a restart does not report them again). Returns where to go on:
    /// `offset` itself when the record reads back now.
    fn skip_damage(&mut self, file: &File, offset: u64, limit: u64) -> u64 {
        let mut data = vec![0u8; (limit - offset) as usize];
        let read = file.read_exact_at(&mut data, offset);
        self.ra_seg = u64::MAX; // the read-ahead may hold the damaged bytes' old image
        let cfg = &self.shared.cfg;
        let mut st = self.shared.state.lock();
        let active = st.active_key() == self.seg;
        let file_end_buf = (active && !st.buf.is_empty()).then_some(st.buf_seq);
        let Some(seg) = st.segments.get_mut(&self.seg) else {
            return limit; // released meanwhile
        };
        let min_seq = self
            .last_seq
            .map_or(seg.first_seq, |s| s + 1)
            .max(seg.first_seq);
        let file_end = file_end_buf.unwrap_or(seg.end_seq);
        let (resume, to) = match read {
            Ok(()) => {
                let scan = scan_segment(&data, offset, seg.first_seq, min_seq, file_end);
                match (scan.holes.first(), scan.tail) {
                    (Some(&(o, n, _, to)), _) if o == offset => (o + n, to),
                    (_, Some((o, _, _))) if o == offset => (limit, file_end),
                    _ => return offset,
                }
            }
            Err(e) => {
                log::warn!("spool: reading {}: {e}", seg.path.display());
                (limit, file_end)
            }
        };
        drop(data);
        let mut lost = 0u64;
        for q in min_seq..to {
            if seg.release(q) {
                lost += 1;
            }
        }
        let at = seg.holes.partition_point(|&(o, _)| o < offset);
        seg.holes.insert(at, (offset, resume - offset));
        let path = seg.path.clone();
        let empty = seg.unreleased == 0 && !active;
        log::error!(
            "spool: damaged record in {} at offset {offset} ({} bytes skipped): {lost} pending records lost",
            path.display(),
            resume - offset
        );
        if lost > 0 {
            st.stats.corrupt_records += lost;
            st.push_dropped(Dropped {
                reason: DropReason::Corrupt,
                first_seq: min_seq,
                last_seq: to - 1,
                records: lost,
                time_range_ms: None,
            });
            if let Err(e) = st.log_release(cfg, min_seq, to) {
                log::warn!("spool: {e}");
            }
        }
        if empty {
            let key = self.seg;
            st.remove_segment(key);
        }
        resume
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
