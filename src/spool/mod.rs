//! A store-and-forward disk spool: the bridge appends each accepted event before the host's call
//! returns, a sender thread reads the pending records back in order and acknowledges each one
//! once the broker confirmed it, and a record's space is reclaimed when its whole segment is
//! acknowledged. The spool knows records and bytes, not RocketMQ.
//!
//! # Files (all in the spool directory)
//!
//! ```text
//!  LOCK                            held (flock) while a Spool is open; a second open fails
//!  seg-00000000000000000000.spool  segment files, named by the sequence number of their first
//!  seg-00000000000000004711.spool  record; append-only; a new one starts when the next record
//!  ...                             would pass segment_size
//!  acks.log                        released sequence ranges (acknowledged, dropped, reported
//!                                  lost); rewritten compactly at open and when it passes 1 MiB
//!  seq.hw                          the durable sequence high-water mark (format version 2)
//!  spool.id                        the spool's random identity (16 hex digits), written at the
//!                                  first open and kept; see [`Spool::id`]
//! ```
//!
//! The record, ack-entry and `seq.hw` layouts are in [`record`]. Every record carries a CRC-32
//! over its header and payload, its sequence number and its append time.
//!
//! # Format versions
//!
//! [`record::SPOOL_FORMAT_VERSION`] is 2. Version 1 (commit ba707eb and before) is the same
//! files without `seq.hw`; it opens as is (its sequence numbers continue, its pending records are
//! delivered) and gets its `seq.hw` (version 2) at the first append or clean close. A `seq.hw` or segment of a higher
//! version makes [`Spool::open`] fail with [`SpoolError::UnsupportedFormat`], naming the file and
//! what to do, before anything is read or changed.
//!
//! # Sequence numbers
//!
//! [`Spool::append`] gives each record the next sequence number. They only ever increase, also
//! across restarts, crashes and power losses: before a number is used, `seq.hw` durably reserves
//! it (write a temporary file, fsync, rename, fsync the directory), in blocks, and open continues
//! after the highest of the reserved mark, the records, the segment names and `acks.log`. A
//! bridge makes its message key from its id and this number, so a record resent after a restart
//! carries the key of the original, and a new event never gets the key of a stored one.
//!
//! Cost: one `seq.hw` write (two fsyncs) per reservation. Open writes the first one, for
//! [`SEQ_BLOCK_OPEN`] (65,536) numbers, so appends right after open do not wait for the device;
//! once half a block is used an append asks the flusher for a top-up, which it writes in the
//! background. An append waits only when a burst uses the whole reservation up before that write
//! is done; it then reserves [`SEQ_BLOCK_MAX`] (1,048,576) when the block lasted less than a
//! flusher tick, otherwise sixteen times the last block.
//! At every tick the flusher sizes the block to the recent rate ([`SEQ_BLOCK_TICKS`] ticks of the
//! appends seen since the previous tick, at least [`SEQ_BLOCK_MIN`]), tops it up in the
//! background once half is used (so in steady state appends do not wait) and lowers a
//! reservation more than two blocks ahead to one block: a few `seq.hw` writes a second under
//! load, none while idle; under `every:<n>` and `always` the extra fsyncs are below 1 %
//! (`examples/bench_spool` prints the `seq.hw` writes; `scripts/bench-ab.sh` compares with an
//! earlier revision). The policy `none` also fsyncs `seq.hw`: unique keys do not depend
//! on the policy.
//!
//! A clean close ([`Spool::close`] or drop) writes the exact next number to `seq.hw`, marked
//! clean: then every number below it was used, and recovery reports any of them without a record
//! or acknowledgement as missing.
//!
//! Under `sync = always` a cursor delivers a record only once it is fsynced, and `seq.hw` says
//! so: after a crash nothing past the last record found was returned to the host or sent, so
//! numbering continues right after it, with no gap and nothing reported.
//!
//! # Acknowledgement and restart
//!
//! [`Spool::ack`] releases one record, in any order. It is written to `acks.log` at once (no
//! fsync), so after a process kill the reopened spool delivers again only records that were
//! appended and not yet acknowledged (the sender's in-flight window), not everything.
//!
//! # Recovery
//!
//! [`Spool::open`] checks every record. A record cut off at the end of the newest segment (a
//! crash during a write) is a *torn tail*: the file is truncated before it and
//! [`Recovery::torn_tail`] says so; nothing else is lost. Damaged bytes anywhere else are skipped
//! up to the next valid record, reported in [`Recovery::corrupt`] with the sequence numbers lost
//! (the gap between the valid records on either side), counted, and reported as
//! [`Dropped`] with [`RecordDropReason::Corrupt`]. A record is valid only if its CRC matches and its
//! sequence number fits where it is: above the previous record's, below the next segment's name
//! (the newest segment: [`MAX_SEQ`]; a `seq.hw` behind its records is logged and numbering
//! continues after them) and at most its offset / 28 past its segment's name, so no number in a
//! file can make recovery allocate more than one bit per 28 bytes of segment
//! ([`MAX_SEGMENT_RECORDS`]). Ack entries past every number the spool can have used are ignored
//! ([`Recovery::ignored_acks`]; their records are delivered again); numbers past [`MAX_SEQ`] are
//! corruption wherever they appear.
//!
//! Then every sequence gap is found: a number below the highest one known to be used (a later
//! record, a segment's name, an acknowledgement, a clean close's mark) that has neither a record,
//! nor an acknowledgement, nor a damaged span is *missing* — a segment emptied or cut at a record
//! boundary by a power loss (delayed allocation), or deleted. Each run of them is counted
//! ([`Recovery::missing`], [`SpoolStats::missing_records`]) and reported as [`Dropped`] with
//! [`RecordDropReason::Missing`]. Below the oldest segment this needs a readable `acks.log` (released
//! segments are deleted only once the acknowledgements that released them are on the device).
//!
//! After a crash (no clean close), the numbers from the last one known used up to the reserved
//! mark cannot be told apart: reserved and never used, or used by appends whose records the crash
//! took (a process kill loses buffered appends, a power loss unsynced ones). They are reported
//! once as [`RecordDropReason::PossiblyLost`] with the range, `records` being its length (an upper
//! bound: at most two blocks, that is a few flusher ticks of appends at the recent rate; 64 after
//! an idle tick; [`SEQ_BLOCK_OPEN`] for a crash within a tick of open; [`SEQ_BLOCK_MAX`] only for
//! a crash within a tick of a burst).
//! Reported ranges are written to `acks.log` as released, so each is reported once.
//!
//! A cursor that finds a record no longer reading back (damaged after open) reads the rest of the
//! segment, moves on to the next valid record and reports the pending records in between at once
//! ([`RecordDropReason::Corrupt`], [`SpoolStats::corrupt_records`]).
//!
//! # Size cap
//!
//! When an append would take the spool past `max_bytes`, the oldest segment is deleted first,
//! whatever it still holds. Its unacknowledged records are counted
//! ([`SpoolStats::dropped_records`]) and reported with their sequence range and time range through
//! [`Spool::take_dropped`] (reason [`RecordDropReason::CapReached`]), for the bridge's loss report.
//! Space is reclaimed one segment at a time, so the cap must be at least two segments.
//!
//! # Sync policy and what a crash can lose
//!
//! Appends go to a memory buffer that is written to the segment file in large chunks
//! ([`WRITE_CHUNK`]) and at least every [`WRITE_TICK`] by a background thread, and always before a
//! cursor delivers the record. fsync happens outside the spool's lock.
//!
//! An append either is in the spool or returns an error: when writing fails (EFBIG, ENOSPC) the
//! record is taken back out of the buffer, its number goes to the next append, and the error
//! ([`SpoolError::Io`]) says it was not stored; records buffered by earlier appends stay and are
//! written when the device accepts them again. When only the fsync of `always` (or of every n-th
//! append of `every:<n>`) fails, the record stays queued and will be delivered, and the error is
//! [`SpoolError::NotDurable`].
//!
//! | `sync`          | an append waits for     | process kill loses          | power loss loses      |
//! |-----------------|-------------------------|-----------------------------|-----------------------|
//! | `always`        | its own fsync           | nothing that returned       | nothing that returned |
//! | `every:<n>`     | an fsync every n-th     | up to 200 ms of appends     | up to n-1 appends     |
//! | `interval:<ms>` | never the device        | up to min(ms, 200) ms       | up to ms of appends   |
//! | `none`          | never the device        | up to 200 ms of appends     | whatever the kernel had not written |
//!
//! (`every:<n>` loses at most n-1 appends to a power loss, plus any written by the 200 ms tick
//! since the last fsync.) Whatever a crash loses is reported at the next open: as missing when a
//! later record, segment or acknowledgement shows the numbers were used, otherwise within the
//! possibly-lost range (see Recovery).
//!
//! # Recommended configuration
//!
//! ```text
//! bridge.rocket.spool.dir = /var/lib/emqx/rocket-spool   # off when absent
//! bridge.rocket.spool.segment_size = 16MB               # default; 64KB .. 1GB
//! bridge.rocket.spool.max_bytes = 1GB                   # default; at least 2 segments
//! bridge.rocket.spool.sync = interval:1000              # default; none | always | interval:<ms> | every:<n>
//! ```
//!
//! `interval:1000` bounds the device to one fsync a second (kind to flash) and never blocks the
//! host's thread on the device; use `always` when no accepted event may be lost to a power cut
//! and the disk can take one fsync per event.
//!
//! # Memory
//!
//! Per segment, one bit per record plus a few words; the write buffer is at most
//! [`WRITE_CHUNK`] plus one record; a cursor's read-ahead is at most [`READ_CHUNK`] or one
//! record; recovery reads one segment file at a time, and so does a cursor that finds damage
//! (the rest of that segment, once). Resynchronising after damage keeps the running CRC every
//! 256 bytes (1/64 of the bytes scanned) so that each "RBR1" candidate, also one inside a
//! payload claiming a length of megabytes, costs bounded work: the scan stays linear.
//!
//! # Example
//!
//! ```no_run
//! use rocketmq_bridge::spool::{Spool, SpoolConfig, SyncPolicy};
//! use std::time::Duration;
//!
//! let cfg = SpoolConfig::new("/tmp/spool").sync("interval:200".parse().unwrap());
//! let (spool, recovery) = Spool::open(cfg).unwrap();
//! println!("{} records to resend", recovery.pending_records);
//! let seq = spool.append(b"event").unwrap();
//! let mut cursor = spool.cursor();
//! while let Some(rec) = cursor.next_timeout(Duration::from_millis(100)).unwrap() {
//!     // send rec.payload with key format!("{bridge_id}-{}-{}", spool.id(), rec.seq), then:
//!     spool.ack(rec.seq).unwrap();
//! }
//! # let _ = (seq, SyncPolicy::Always);
//! ```

mod bits;
mod config;
mod cursor;
mod error;
mod flusher;
mod identity;
mod limits;
pub mod oracle;
pub mod record;
mod recovery;
mod report;
mod scan;
#[allow(clippy::module_inception)]
mod spool;
mod state;

pub use config::{
    SpoolConfig, SyncPolicy, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_SIZE, MAX_RECORD_LEN,
    MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, WRITE_CHUNK, WRITE_TICK,
};
pub use cursor::Cursor;
pub use error::SpoolError;
pub use limits::{
    ACK_LOG_COMPACT_BYTES, MAX_DROPPED_KEPT, MAX_SEGMENT_RECORDS, MAX_SEQ, READ_CHUNK,
    SEQ_BLOCK_MAX, SEQ_BLOCK_MIN, SEQ_BLOCK_OPEN, SEQ_BLOCK_TICKS,
};
pub use report::{CorruptSpan, Dropped, Record, RecordDropReason, Recovery, SpoolStats, TornTail};
pub use spool::Spool;
