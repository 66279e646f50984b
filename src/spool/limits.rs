//! The spool's limits and file names, apart so every part of the spool can read them without
//! importing the handle ([`Spool`](super::Spool)), which imports those parts.

use super::config::{MAX_RECORD_LEN, MAX_SEGMENT_SIZE};
use super::record::RECORD_HEADER_LEN;

/// The ack log is rewritten (compacted) once it grows past this many bytes (1 MiB).
pub const ACK_LOG_COMPACT_BYTES: u64 = 1024 * 1024;
/// Loss reports kept until [`Spool::take_dropped`](super::Spool::take_dropped) drains them; beyond this the newest are merged
/// into the last entry, so memory stays bounded when nobody drains.
pub const MAX_DROPPED_KEPT: usize = 1024;
/// Bytes a [`Cursor`](super::Cursor) reads from a segment file at a time (256 KiB).
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
pub(super) const SEQ_BLOCK_GROWTH: u64 = 16;
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

pub(super) const ACK_LOG: &str = "acks.log";
pub(super) const ACK_LOG_TMP: &str = "acks.log.tmp";
pub(super) const SEQ_FILE: &str = "seq.hw";
pub(super) const SEQ_FILE_TMP: &str = "seq.hw.tmp";
pub(super) const LOCK_FILE: &str = "LOCK";
pub(super) const ID_FILE: &str = "spool.id";
pub(super) const ID_FILE_TMP: &str = "spool.id.tmp";
