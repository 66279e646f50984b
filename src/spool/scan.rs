//! Scanning a segment image for valid records, resynchronising after damage (used by recovery
//! and by the segment oracle).

use super::config::MAX_RECORD_LEN;
use super::record::{parse_record, Parsed, RecordHead, RECORD_HEADER_LEN, RECORD_MAGIC};
use crate::util::crc32::{crc32, crc32_combine, crc32_suffix, crc32_update};

/// Result of scanning one segment image.
pub(super) struct Scan {
    /// Valid records `(seq, time_ms)` in order.
    pub(super) records: Vec<(u64, u64)>,
    /// Damaged spans `(offset, len, lost seq range [from, to))` followed by a valid record
    /// (offsets in the file).
    pub(super) holes: Vec<(u64, u64, u64, u64)>,
    /// Trailing bytes that are not a complete valid record: `(offset, len, next expected seq)`.
    pub(super) tail: Option<(u64, u64, u64)>,
}

/// Scans `data`, the bytes of a segment named `first_seq` from file offset `base` on. A record is
/// valid when its CRC matches and its sequence number is at least `min_seq` (after the previous
/// valid one), below `end_seq` (the next segment's name, or [`MAX_SEQ`](super::MAX_SEQ)) and at most
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
