//! The acknowledgement half of the spooled path ([`super::spooled`]): which messages of each spool
//! record are still in flight, what their outcomes mean for the record (acknowledge it, or send it
//! again after [`RETRY_BACKOFF`]), and the spool's counters.
//!
//! It sits below the buffer: a buffered message from the spool carries a [`SpoolTicket`] to this
//! half, and the settle layer hands the ticket its outcome ([`SpoolAcks::settle`]). The reader
//! thread that turns records into messages is in [`super::spooled`].

use super::outcome::{DropReason, SpoolCounters, UnsentReason};
use crate::spool::{Spool, SpoolStats};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the reader waits before it sends failed or unknown records again (1 s).
pub const RETRY_BACKOFF: Duration = Duration::from_secs(1);
/// Acknowledged sequence numbers remembered, so a record acknowledged between the cursor's read and
/// the reader's check is not sent again.
const RECENT_ACKS: usize = 65_536;

struct Entry {
    /// Messages of the record still in flight.
    remaining: usize,
    /// Messages that ended for good.
    done: Vec<bool>,
    /// A message of this record must be sent again.
    retry: bool,
}

/// The spool, the records in flight and the spool's counters.
pub(crate) struct SpoolAcks {
    pub(crate) spool: Spool,
    entries: Mutex<HashMap<u64, Entry>>,
    recent_acks: Mutex<(VecDeque<u64>, HashSet<u64>)>,
    rewind_at: Mutex<Option<Instant>>,
    resent: AtomicU64,
    recovered: u64,
    pub(crate) dropped_cap: AtomicU64,
    pub(crate) dropped_corrupt: AtomicU64,
    pub(crate) dropped_missing: AtomicU64,
    pub(crate) possibly_lost: AtomicU64,
    pub(crate) undecodable: AtomicU64,
}

/// What a spooled message carries to its outcome.
pub(crate) struct SpoolTicket {
    pub(crate) acks: Arc<SpoolAcks>,
    pub(crate) seq: u64,
    pub(crate) idx: usize,
}

impl SpoolAcks {
    /// `recovered`: records found pending when the spool was opened.
    pub(crate) fn new(spool: Spool, recovered: u64) -> SpoolAcks {
        SpoolAcks {
            spool,
            entries: Mutex::new(HashMap::new()),
            recent_acks: Mutex::new(Default::default()),
            rewind_at: Mutex::new(None),
            resent: AtomicU64::new(0),
            recovered,
            dropped_cap: AtomicU64::new(0),
            dropped_corrupt: AtomicU64::new(0),
            dropped_missing: AtomicU64::new(0),
            possibly_lost: AtomicU64::new(0),
            undecodable: AtomicU64::new(0),
        }
    }

    pub(crate) fn counters(&self) -> SpoolCounters {
        let s: SpoolStats = self.spool.stats();
        SpoolCounters {
            bytes: s.bytes,
            max_bytes: self.spool.config().max_bytes,
            pending_records: s.pending_records,
            next_seq: s.next_seq,
            appended: s.appended,
            acked: s.acked,
            recovered: self.recovered,
            resent: self.resent.load(Ordering::Relaxed),
            dropped_cap_reached: self.dropped_cap.load(Ordering::Relaxed),
            dropped_corrupt: self.dropped_corrupt.load(Ordering::Relaxed),
            dropped_missing: self.dropped_missing.load(Ordering::Relaxed),
            possibly_lost: self.possibly_lost.load(Ordering::Relaxed),
            undecodable: self.undecodable.load(Ordering::Relaxed),
        }
    }

    /// Records not yet acknowledged.
    pub(crate) fn pending_records(&self) -> u64 {
        self.spool.stats().pending_records
    }

    /// Decides what an outcome means for a spooled message: `Some(outcome)` when it is final (the
    /// caller counts it), `None` when the message will be sent again from the spool.
    pub(crate) fn settle(
        &self,
        t: &SpoolTicket,
        outcome: Result<(), UnsentReason>,
    ) -> Option<Result<(), UnsentReason>> {
        let retry = matches!(
            outcome,
            Err(UnsentReason::Failed(_))
                | Err(UnsentReason::OutcomeUnknown(_))
                | Err(UnsentReason::Dropped(DropReason::Shutdown))
        );
        let mut entries = self.entries.lock();
        let Some(e) = entries.get_mut(&t.seq) else {
            return (!retry).then_some(outcome);
        };
        e.remaining = e.remaining.saturating_sub(1);
        if retry {
            e.retry = true;
            if !matches!(outcome, Err(UnsentReason::Dropped(DropReason::Shutdown))) {
                self.resent.fetch_add(1, Ordering::Relaxed);
            }
        } else if let Some(d) = e.done.get_mut(t.idx) {
            *d = true;
        }
        if e.remaining == 0 {
            if e.retry {
                let mut at = self.rewind_at.lock();
                if at.is_none() {
                    *at = Some(Instant::now() + RETRY_BACKOFF);
                }
            } else {
                entries.remove(&t.seq);
                {
                    let mut r = self.recent_acks.lock();
                    r.0.push_back(t.seq);
                    r.1.insert(t.seq);
                    if r.0.len() > RECENT_ACKS {
                        if let Some(old) = r.0.pop_front() {
                            r.1.remove(&old);
                        }
                    }
                }
                drop(entries);
                if let Err(err) = self.spool.ack(t.seq) {
                    log::warn!("bridge spool ack seq={} failed: {err}", t.seq);
                }
            }
        }
        if retry {
            None
        } else {
            Some(outcome)
        }
    }

    /// Starts (again) to send record `seq` of `n` messages: the indexes of the messages that have
    /// not ended yet, now counted in flight; `None` when nothing is to be sent (the record was
    /// acknowledged after the cursor read it, or it is still in flight and a rewind met it again).
    pub(crate) fn begin(&self, seq: u64, n: usize) -> Option<Vec<usize>> {
        let mut entries = self.entries.lock();
        if !entries.contains_key(&seq) && self.recent_acks.lock().1.contains(&seq) {
            // Confirmed after the cursor read it.
            return None;
        }
        let e = entries.entry(seq).or_insert_with(|| Entry {
            remaining: 0,
            done: vec![false; n],
            retry: false,
        });
        if e.remaining > 0 {
            // Still in flight (a rewind met it again).
            return None;
        }
        e.retry = false;
        let todo: Vec<usize> = (0..n)
            .filter(|&i| !e.done.get(i).copied().unwrap_or(false))
            .collect();
        e.remaining = todo.len();
        Some(todo)
    }

    /// `n` messages of record `seq` will not be handed over after all.
    pub(crate) fn abandon(&self, seq: u64, n: usize) {
        if let Some(e) = self.entries.lock().get_mut(&seq) {
            e.remaining = e.remaining.saturating_sub(n);
            e.retry = true;
        }
    }

    /// Forgets the records `first..=last` waiting for a retry (the spool dropped them).
    pub(crate) fn forget(&self, first: u64, last: u64) {
        self.entries
            .lock()
            .retain(|&seq, e| e.remaining > 0 || !(first..=last).contains(&seq));
    }

    /// After a failure: `Some(wait)` while the retry backoff runs; `None` otherwise, and when the
    /// backoff just ended `rewind` is called (read again from the oldest pending record).
    pub(crate) fn backoff(&self, rewind: impl FnOnce()) -> Option<Duration> {
        let mut at = self.rewind_at.lock();
        match *at {
            Some(t) if Instant::now() >= t => {
                *at = None;
                rewind();
                None
            }
            // A send failed: read nothing new until the backoff is over, then start
            // again from the oldest pending record.
            Some(t) => Some(t.saturating_duration_since(Instant::now())),
            None => None,
        }
    }
}
