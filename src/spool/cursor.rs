//! The cursor: reads pending records back in sequence order, stepping over damage.

use super::config::{SyncPolicy, MAX_RECORD_LEN};
use super::error::SpoolError;
use super::limits::READ_CHUNK;
use super::record::{parse_record, Parsed, RecordHead, RECORD_HEADER_LEN};
use super::report::{Dropped, Record, RecordDropReason};
use super::scan::scan_segment;
use super::state::Shared;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reads pending records in sequence order, skipping acknowledged ones. Made by
/// [`Spool::cursor`](super::Spool::cursor); owned by one thread (the sender). Records appended later are delivered too;
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
    pub(super) fn new(shared: Arc<Shared>) -> Cursor {
        Cursor {
            shared,
            seg: 0,
            offset: 0,
            ra: Vec::new(),
            ra_seg: u64::MAX,
            ra_off: 0,
            seen_gen: 0,
            last_seq: None,
        }
    }

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
    /// [`Spool::take_dropped`](super::Spool::take_dropped) ([`RecordDropReason::Corrupt`]).
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
    /// pending records in between, reports them as [`RecordDropReason::Corrupt`] and logs their
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
                reason: RecordDropReason::Corrupt,
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
