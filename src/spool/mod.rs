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
//!  acks.log                        released sequence ranges (acknowledged, dropped); rewritten
//!                                  compactly at open and when it passes 1 MiB
//! ```
//!
//! The record and ack-entry layouts are in [`record`]. Every record carries a CRC-32 over its
//! header and payload, its sequence number and its append time.
//!
//! # Sequence numbers
//!
//! [`Spool::append`] gives each record the next sequence number. They only ever increase, also
//! across restarts: the newest segment is never deleted (its name and records carry the highest
//! number) and `acks.log` keeps the released ranges up to the next number. A bridge makes its
//! message key from its id and this number, so a record resent after a restart carries the key of
//! the original.
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
//! [`Dropped`] with [`DropReason::Corrupt`].
//!
//! # Size cap
//!
//! When an append would take the spool past `max_bytes`, the oldest segment is deleted first,
//! whatever it still holds. Its unacknowledged records are counted
//! ([`SpoolStats::dropped_records`]) and reported with their sequence range and time range through
//! [`Spool::take_dropped`] (reason [`DropReason::CapReached`]), for the bridge's loss report.
//! Space is reclaimed one segment at a time, so the cap must be at least two segments.
//!
//! # Sync policy and what a crash can lose
//!
//! Appends go to a memory buffer that is written to the segment file in large chunks
//! ([`WRITE_CHUNK`]) and at least every [`WRITE_TICK`] by a background thread, and always before a
//! cursor delivers the record. fsync happens outside the spool's lock.
//!
//! | `sync`          | an append waits for     | process kill loses          | power loss loses      |
//! |-----------------|-------------------------|-----------------------------|-----------------------|
//! | `always`        | its own fsync           | nothing that returned       | nothing that returned |
//! | `every:<n>`     | an fsync every n-th     | up to 200 ms of appends     | up to n-1 appends     |
//! | `interval:<ms>` | never the device        | up to min(ms, 200) ms       | up to ms of appends   |
//! | `none`          | never the device        | up to 200 ms of appends     | whatever the kernel had not written |
//!
//! (`every:<n>` loses at most n-1 appends to a power loss, plus any written by the 200 ms tick
//! since the last fsync.)
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
//! record; recovery reads one segment file at a time.
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
//!     // send rec.payload with key format!("{bridge_id}-{}", rec.seq), then:
//!     spool.ack(rec.seq).unwrap();
//! }
//! # let _ = (seq, SyncPolicy::Always);
//! ```

mod bits;
mod config;
mod error;
pub mod record;
#[allow(clippy::module_inception)]
mod spool;

pub use config::{
    SpoolConfig, SyncPolicy, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_SIZE, MAX_RECORD_LEN,
    MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, WRITE_CHUNK, WRITE_TICK,
};
pub use error::SpoolError;
pub use spool::{
    CorruptSpan, Cursor, DropReason, Dropped, Record, Recovery, Spool, SpoolStats, TornTail,
    ACK_LOG_COMPACT_BYTES, MAX_DROPPED_KEPT, MAX_SEGMENT_RECORDS, MAX_SEQ, READ_CHUNK,
    SEQ_BLOCK_MAX, SEQ_BLOCK_MIN,
};
