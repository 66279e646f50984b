//! The spool handle: [`Spool`] and its operations (append, ack, cursor, stats, close).
//!
//! The rest lives next to it: [`limits`](super::limits) (its constants), [`report`](super::report) (what it hands out), [`state`](super::state)
//! (the shared state, writes, fsyncs and `seq.hw` reservations), [`recovery`](super::recovery)
//! ([`Spool::open`]), [`scan`](super::scan), [`cursor`](super::cursor) and
//! [`flusher`](super::flusher).

use super::config::{SpoolConfig, SyncPolicy, WRITE_CHUNK};
use super::cursor::Cursor;
use super::error::SpoolError;
use super::limits::ACK_LOG_COMPACT_BYTES;
use super::record::{encode_record, SeqMark, RECORD_HEADER_LEN};
use super::report::{Dropped, SpoolStats};
use super::state::{now_ms, write_seq_file, Shared};
use crate::util::worker::Worker;
use std::sync::Arc;

/// An append-only disk spool of records with persistent sequence numbers.
///
/// `Spool` is `Send + Sync`; share it with an `Arc`. Every method takes `&self` and holds one
/// internal lock briefly (fsyncs happen outside it). A background thread writes buffered appends
/// and runs the interval fsyncs; it stops when the spool is dropped or closed. See the
/// [module docs](crate::spool) for the file layout and the guarantees of each sync policy.
pub struct Spool {
    pub(super) shared: Arc<Shared>,
    pub(super) flusher: Option<Worker>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.shared.cfg.dir)
            .field("sync", &self.shared.cfg.sync)
            .finish_non_exhaustive()
    }
}

impl Spool {
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
        Cursor::new(self.shared.clone())
    }

    /// Counters and gauges.
    pub fn stats(&self) -> SpoolStats {
        self.shared.state.lock().snapshot()
    }

    /// Takes the loss reports accumulated since the last call (oldest first).
    pub fn take_dropped(&self) -> Vec<Dropped> {
        self.shared.state.lock().dropped.drain(..).collect()
    }

    /// Writes buffered appends to the segment file now, without an fsync: once it returns they
    /// survive a kill of the process (not a power loss; that is the sync policy's part).
    ///
    /// # Errors
    /// The write failure.
    pub fn write_out(&self) -> Result<(), SpoolError> {
        self.shared.flush(false)
    }

    /// Writes buffered appends and fsyncs everything now, whatever the policy.
    ///
    /// # Errors
    /// The first write or fsync failure.
    pub fn sync(&self) -> Result<(), SpoolError> {
        self.shared.flush(true)
    }

    /// The spool's identity: 16 lowercase hex digits, random when the directory was first
    /// opened and the same on every later open (file `spool.id`). A bridge puts it in its message
    /// keys, so two spools never make the same key.
    pub fn id(&self) -> &str {
        &self.shared.id
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
        // Joined without a deadline, as before: the flusher ends after its current write.
        f.join();
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
