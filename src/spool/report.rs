//! What the spool hands out and reports: records, loss reports, the recovery report and stats.

use std::path::PathBuf;

/// One record read back from the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number, assigned by [`Spool::append`](super::Spool::append); stable across restarts.
    pub seq: u64,
    /// When it was appended, in milliseconds since the UNIX epoch.
    pub time_ms: u64,
    /// The payload as appended.
    pub payload: Vec<u8>,
}

/// Why records were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordDropReason {
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

impl RecordDropReason {
    /// A short lowercase name for reports and metric labels (`cap_reached`, `corrupt`,
    /// `missing`, `possibly_lost`).
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordDropReason::CapReached => "cap_reached",
            RecordDropReason::Corrupt => "corrupt",
            RecordDropReason::Missing => "missing",
            RecordDropReason::PossiblyLost => "possibly_lost",
        }
    }
}

/// Unacknowledged records that were dropped: what the bridge's loss report needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// Why.
    pub reason: RecordDropReason,
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
    pub(super) fn merge(&mut self, o: &Dropped) {
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

/// What [`Spool::open`](super::Spool::open) found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// Unacknowledged records that a [`Cursor`](super::Cursor) will deliver again.
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
    /// Damaged spans skipped elsewhere; at most [`MAX_DROPPED_KEPT`](super::MAX_DROPPED_KEPT) listed (the records lost in
    /// all of them are counted in [`SpoolStats::corrupt_records`]).
    pub corrupt: Vec<CorruptSpan>,
    /// Sequence ranges (inclusive) that were used but whose records are gone and were not
    /// acknowledged (reported as [`RecordDropReason::Missing`]); at most [`MAX_DROPPED_KEPT`](super::MAX_DROPPED_KEPT) listed.
    pub missing: Vec<(u64, u64)>,
    /// Records in `missing` (all ranges, listed or not).
    pub missing_records: u64,
    /// After a crash: the numbers (inclusive) between the last record found and the durable
    /// high-water mark, reported as [`RecordDropReason::PossiblyLost`].
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
    /// Records found missing at open ([`RecordDropReason::Missing`]).
    pub missing_records: u64,
    /// Upper bound of records possibly lost in a crash ([`RecordDropReason::PossiblyLost`]).
    pub possibly_lost_records: u64,
    /// Durable writes of the sequence high-water mark (`seq.hw`) since open; each costs two
    /// fsyncs (file and directory), also counted in `syncs`.
    pub seq_reservations: u64,
    /// Loss reports not yet taken with [`Spool::take_dropped`](super::Spool::take_dropped).
    pub dropped_ranges: Vec<Dropped>,
    /// Write, fsync or delete failures since open (each also logged or returned).
    pub io_errors: u64,
    /// fsync calls since open.
    pub syncs: u64,
}
