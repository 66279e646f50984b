//! Store-and-forward through the disk spool (`bridge.rocket.spool.dir`, async mode only).
//!
//! ```text
//!  host --EventSender::send--> match + format --append one record--> spool (disk)
//!                                                                      | cursor, in order
//!  spool reader thread <-----------------------------------------------+
//!      | one message per rule, key <bridge_id>-<spool id>-<spool seq>; waits for room in buffer.max_bytes
//!      v
//!  dispatcher (batches) --> producer --> outcome --> final: ack the record (when all its messages are)
//!                                                  \-> failed / unknown: resend after RETRY_BACKOFF
//! ```
//!
//! - An event's formatted messages (topic, tag, properties, body, rule, client id) are appended as
//!   one record before [`super::EventSender::send`] returns; what survives a crash is what the
//!   spool's `sync` policy says (see [`crate::spool`]).
//! - The key is `<bridge_id>-<spool id>-<seq>` with the spool's identity and persistent sequence
//!   number, so a record sent again after a restart carries the key of the original, and two
//!   bridges with one `bridge_id` (each on its own spool) never share a key. Duplicates are possible only for
//!   records in flight when the bridge (or a broker) died, or whose outcome was unknown.
//! - Outcomes: sent, or dropped as too large, is final and acknowledges the message; a failure or
//!   an unknown outcome is retried from the spool after [`RETRY_BACKOFF`] (counted as `resent`),
//!   without limit, so during an outage events wait on disk, not in memory. Messages of a
//!   record that already ended are not sent again. At shutdown unconfirmed records stay in the
//!   spool for the next run (`spool_pending` in the summary).
//! - The reader waits for room in `buffer.max_bytes` (it never drops); `buffer.overflow` does not
//!   apply with a spool: the spool's cap (`spool.max_bytes`) drops the oldest records instead,
//!   counted per reason and reported in the loss report.
//!
//! The path has three parts, so that its imports point one way: the record format and the append
//! (`spool_record`), the acknowledgements and counters (`spool_ack`, below the
//! buffer: a buffered message carries its ticket), and here the reader thread that turns records
//! into buffered messages.

use super::buffer::{budget_bytes, Handed, Meta, Outgoing, ShortText};
use super::outcome::DropReason;
use super::settle::{Room, Settle};
use super::spool_ack::{SpoolAcks, SpoolTicket};
use super::spool_record::{decode_record, SpooledMessage};
use crate::message::{Message, PROPERTY_KEYS};
// The spool's own reason for dropping a record, named apart from the bridge's per-message
// `DropReason`.
use crate::spool::Record;
use crate::spool::RecordDropReason;
use crate::util::worker::{Stop, Worker};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

pub use super::outcome::SpoolCounters;
pub use super::spool_ack::RETRY_BACKOFF;
pub use super::spool_record::RecordDecodeError;

/// The reader thread (a [`Worker`]): sends what the spool holds, in order.
pub(crate) struct SpoolReader {
    acks: Arc<SpoolAcks>,
    worker: Worker,
}

/// What the reader thread works with.
struct ReaderCtx {
    acks: Arc<SpoolAcks>,
    key_prefix: String,
    stop: Stop,
}

impl ReaderCtx {
    /// Turns a record into outgoing messages and hands them to the dispatcher. False when the
    /// reader must stop.
    fn dispatch(&self, sh: &Settle, rec: Record) -> bool {
        let msgs = match decode_record(&rec.payload) {
            Ok(m) if !m.is_empty() => m,
            Ok(_) => {
                let _ = self.acks.spool.ack(rec.seq);
                return true;
            }
            Err(e) => {
                log::warn!("bridge spool record seq={} skipped: {e}", rec.seq);
                self.acks.undecodable.fetch_add(1, Ordering::Relaxed);
                // Acknowledged, so never sent: a loss like a damaged record, reported as one.
                sh.losses
                    .record_spool("undecodable", 1, rec.seq, rec.seq, None);
                let _ = self.acks.spool.ack(rec.seq);
                return true;
            }
        };
        let Some(todo) = self.acks.begin(rec.seq, msgs.len()) else {
            return true;
        };
        let key = format!("{}-{}", self.key_prefix, rec.seq);
        let mut msgs: Vec<Option<SpooledMessage>> = msgs.into_iter().map(Some).collect();
        for (n, &i) in todo.iter().enumerate() {
            let m = msgs[i].take().expect("each index once");
            let stats = sh.rule_stats(m.rule, &m.topic);
            let props_len: usize = m
                .properties
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum();
            let bytes = budget_bytes(
                m.body.len(),
                props_len
                    + PROPERTY_KEYS.len()
                    + key.len()
                    + m.keys.as_ref().map_or(0, |k| k.len() + 1)
                    + 2,
                m.topic.len(),
                key.len(),
                m.client_id.as_ref().map_or(0, String::len),
            );
            // The bridge's key again from the sequence number, a key template's keys as spooled.
            let mut msg = match &m.keys {
                None => Message::new(m.topic, m.body).with_keys(&[&key]),
                Some(k) => Message::new(m.topic, m.body).with_keys(&[&key, k]),
            };
            if let Some(tag) = &m.tag {
                msg = msg.with_tags(tag);
            }
            for (k, v) in m.properties {
                msg = msg.with_property(k, v);
            }
            let meta = Meta {
                rule: m.rule,
                stats,
                key: ShortText::from(key.as_str()),
                client_id: m.client_id.map(ShortText::from),
                bytes,
                waiter: None,
                seq: Some(rec.seq),
                spool: Some(SpoolTicket {
                    acks: Arc::clone(&self.acks),
                    seq: rec.seq,
                    idx: i,
                }),
                held: None,
            };
            // The reader waits for room (it never drops); stopping ends the wait, and this
            // message and the rest of the record stay in the spool.
            let out = match sh.admit(Outgoing { msg, meta }, Room::WaitUnless(&self.stop)) {
                Ok(out) => out,
                Err(_) => {
                    self.acks.abandon(rec.seq, todo.len() - n - 1);
                    return false;
                }
            };
            if let Err(crossbeam_channel::SendError(h)) = sh.tx.send(Handed::One(out)) {
                for out in h {
                    sh.drop_out(out, DropReason::Shutdown);
                }
                self.acks.abandon(rec.seq, todo.len() - n - 1);
                return false;
            }
        }
        true
    }

    /// Moves the spool's drop reports into the counters and the loss ledger.
    fn take_dropped(&self, sh: &Settle) {
        for d in self.acks.spool.take_dropped() {
            let c = match d.reason {
                RecordDropReason::CapReached => &self.acks.dropped_cap,
                RecordDropReason::Corrupt => &self.acks.dropped_corrupt,
                RecordDropReason::Missing => &self.acks.dropped_missing,
                RecordDropReason::PossiblyLost => &self.acks.possibly_lost,
            };
            c.fetch_add(d.records, Ordering::Relaxed);
            // Dropped records waiting for a retry are gone: forget them.
            self.acks.forget(d.first_seq, d.last_seq);
            log::warn!(
                "bridge spool dropped {} records seq {}..={} ({})",
                d.records,
                d.first_seq,
                d.last_seq,
                d.reason.as_str()
            );
            sh.losses.record_spool(
                d.reason.as_str(),
                d.records,
                d.first_seq,
                d.last_seq,
                d.time_range_ms,
            );
        }
    }

    fn run(self, shared: Weak<Settle>) {
        let mut cursor = self.acks.spool.cursor();
        let mut last_drop_check = Instant::now();
        loop {
            if self.stop.is_stopped() {
                break;
            }
            let Some(sh) = shared.upgrade() else { break };
            if last_drop_check.elapsed() >= Duration::from_millis(200) {
                self.take_dropped(&sh);
                last_drop_check = Instant::now();
            }
            if let Some(w) = self.acks.backoff(|| cursor.rewind()) {
                drop(sh);
                self.stop.wait(w.min(Duration::from_millis(50)));
                continue;
            }
            match cursor.next_timeout(Duration::from_millis(50)) {
                Ok(Some(rec)) => {
                    if !self.dispatch(&sh, rec) {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    log::warn!("bridge spool read failed: {e}");
                    self.stop.wait(Duration::from_millis(50));
                }
            }
        }
        if let Some(sh) = shared.upgrade() {
            self.take_dropped(&sh);
        }
    }
}

impl SpoolReader {
    /// Starts the reader thread; keys are `<key_prefix>-<spool seq>`, the prefix being
    /// `<bridge_id>-<spool id>`.
    ///
    /// # Errors
    /// The OS refused the thread.
    pub(crate) fn start(
        acks: Arc<SpoolAcks>,
        key_prefix: &str,
        shared: &Arc<Settle>,
    ) -> std::io::Result<SpoolReader> {
        let ctx_acks = Arc::clone(&acks);
        let key_prefix = key_prefix.to_owned();
        let weak = Arc::downgrade(shared);
        let worker = Worker::spawn("bridge-spool-reader", move |stop| {
            ReaderCtx {
                acks: ctx_acks,
                key_prefix,
                stop,
            }
            .run(weak)
        })?;
        Ok(SpoolReader { acks, worker })
    }

    /// Waits until every record is confirmed or `end` passed, then stops the reader and joins it
    /// (without a deadline, as it ends within one poll of 50 ms: a wait for room in the budget or
    /// for the next record looks at the stop at least that often).
    pub(crate) fn drain_and_stop(self, end: Instant) {
        while Instant::now() < end {
            if self.acks.pending_records() == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.worker.join();
    }
}
