//! In-band loss accounting: every event that ends dropped (any reason) or with an unknown outcome
//! is recorded here, and a reporter thread sends a JSON report to `bridge.rocket.loss_report.topic`
//! once a broker accepts again, so consumers can see gaps instead of guessing.
//!
//! # The report message
//!
//! Key `<bridge_id>-loss-<run>-<n>`, tag `loss_report`, body:
//!
//! ```json
//! {"type": "loss_report", "bridge_id": "b1", "key_prefix": "b1-18c2f", "report": 3,
//!  "generated_ms": 1700000000000,
//!  "entries": [{"rule": "message.publish.1", "topic": "T", "reason": "overflow", "count": 12,
//!               "seqs": [[40, 45], [47, 52]], "seqs_truncated": false,
//!               "first_ms": 1700000000000, "last_ms": 1700000001000}],
//!  "spool": [{"reason": "cap_reached", "records": 100, "first_seq": 7, "last_seq": 106,
//!             "first_ms": 1699999990000, "last_ms": 1699999999000}]}
//! ```
//!
//! - `reason` (`UnsentReason::name`): the drop reasons `too_large`, `overflow`, `shutdown`, `failed` (not stored after the
//!   producer's retries and, without a spool, the in-memory hold of `retry.max_hold`; the
//!   `failed` counter), `spool_error` (the spool could not store the event), the template drops `bad_topic`, `bad_tag`, `no_topic` and
//!   `topic_cap` (see [`super::rule`]; `topic` of a `topic_cap` or `bad_topic` entry is the rule's
//!   template text, not the topic a client made up, so such entries stay one per rule), and `outcome_unknown` (not a drop:
//!   the broker may have stored it; listed so a consumer can tell a gap from a maybe).
//! - `seqs`: the events' sequence numbers as inclusive ranges; an event's message key is
//!   `<key_prefix>-<seq>`. At most [`MAX_RANGES`] ranges per entry; past that the last range is
//!   widened and `seqs_truncated` is true (the count stays exact). Events dropped before they got
//!   a spool sequence number (too large for the spool, spool error) have no range.
//! - `spool`: records the spool dropped, counted per record (one record holds all rules' messages
//!   of one event), by reason: `cap_reached` (size cap), `corrupt` (damaged bytes, found at open or
//!   while reading), `missing` (found at open: numbers used but their records gone, e.g. a segment
//!   emptied by a power loss), `possibly_lost` (after a crash: numbers reserved past the last record
//!   found; `records` is an upper bound), `undecodable` (CRC-valid but not an event record this
//!   bridge reads: skipped and acknowledged).
//! - `first_ms` / `last_ms`: wall-clock time of the first and last loss in the entry.
//!
//! A report is taken from the ledger when sent and put back when the send fails, so a loss is
//! reported once (twice only when the send's outcome was unknown). Losses during the final
//! shutdown are in the shutdown report; the bridge tries one last in-band report before it closes
//! its producer.

use super::rule::RuleId;
use crate::message::Message;
use crate::producer::Producer;
use crate::util::worker::Worker;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Sequence ranges kept per report entry.
pub const MAX_RANGES: usize = 256;
/// How long the reporter collects losses before it sends (1 s).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug, Clone, Default)]
struct Entry {
    count: u64,
    ranges: Vec<(u64, u64)>,
    truncated: bool,
    first_ms: u64,
    last_ms: u64,
}

impl Entry {
    fn add(&mut self, seq: Option<u64>, n: u64, t: u64) {
        if self.count == 0 {
            self.first_ms = t;
        }
        self.count += n;
        self.first_ms = self.first_ms.min(t);
        self.last_ms = self.last_ms.max(t);
        if let Some(s) = seq {
            self.add_range(s, s);
        }
    }

    fn add_range(&mut self, a: u64, b: u64) {
        let touches = |r: &(u64, u64), a: u64, b: u64| {
            a <= r.1.saturating_add(1) && b.saturating_add(1) >= r.0
        };
        if let Some(i) = self.ranges.iter().position(|r| touches(r, a, b)) {
            let (mut lo, mut hi) = self.ranges.remove(i);
            lo = lo.min(a);
            hi = hi.max(b);
            // The widened range may now touch others: fold them in.
            while let Some(j) = self.ranges.iter().position(|r| touches(r, lo, hi)) {
                let r = self.ranges.remove(j);
                lo = lo.min(r.0);
                hi = hi.max(r.1);
            }
            let at = self.ranges.partition_point(|r| r.0 < lo);
            self.ranges.insert(at, (lo, hi));
            return;
        }
        if self.ranges.len() >= MAX_RANGES {
            self.truncated = true;
            let last = self.ranges.last_mut().expect("MAX_RANGES > 0");
            last.0 = last.0.min(a);
            last.1 = last.1.max(b);
            return;
        }
        let at = self.ranges.partition_point(|r| r.0 < a);
        self.ranges.insert(at, (a, b));
    }

    fn merge(&mut self, o: &Entry) {
        if self.count == 0 {
            self.first_ms = o.first_ms;
        }
        self.count += o.count;
        self.first_ms = self.first_ms.min(o.first_ms);
        self.last_ms = self.last_ms.max(o.last_ms);
        self.truncated |= o.truncated;
        for &(a, b) in &o.ranges {
            self.add_range(a, b);
        }
    }
}

#[derive(Debug, Clone, Default)]
struct SpoolLoss {
    reason: &'static str,
    records: u64,
    first_seq: u64,
    last_seq: u64,
    time_ms: Option<(u64, u64)>,
}

/// What a report carries; taken out of the ledger while it is sent.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    entries: BTreeMap<(String, String, &'static str), Entry>,
    spool: Vec<SpoolLoss>,
}

impl Ledger {
    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.spool.is_empty()
    }
}

/// The losses not yet reported, and the reporter's counters.
pub(crate) struct LossLedger {
    enabled: bool,
    inner: Mutex<Ledger>,
    reports_sent: AtomicU64,
    report_failures: AtomicU64,
}

impl LossLedger {
    /// A ledger that records only when `enabled` (a report topic is configured), so memory stays
    /// bounded without a reporter.
    pub(crate) fn new(enabled: bool) -> LossLedger {
        LossLedger {
            enabled,
            inner: Mutex::new(Ledger::default()),
            reports_sent: AtomicU64::new(0),
            report_failures: AtomicU64::new(0),
        }
    }

    /// One message of rule `rule` ended with `reason`; `seq` is its event's sequence number when it
    /// had one.
    pub(crate) fn record(&self, rule: RuleId, topic: &str, reason: &'static str, seq: Option<u64>) {
        if !self.enabled {
            return;
        }
        let t = now_ms();
        self.inner
            .lock()
            .entries
            .entry((rule.to_string(), topic.to_owned(), reason))
            .or_default()
            .add(seq, 1, t);
    }

    /// The spool dropped `records` records `first_seq..=last_seq`.
    pub(crate) fn record_spool(
        &self,
        reason: &'static str,
        records: u64,
        first_seq: u64,
        last_seq: u64,
        time_ms: Option<(u64, u64)>,
    ) {
        if !self.enabled {
            return;
        }
        self.inner.lock().spool.push(SpoolLoss {
            reason,
            records,
            first_seq,
            last_seq,
            time_ms,
        });
    }

    /// Reports sent so far.
    pub(crate) fn reports_sent(&self) -> u64 {
        self.reports_sent.load(Ordering::Relaxed)
    }

    /// Report sends that failed (the losses were kept for the next one).
    pub(crate) fn report_failures(&self) -> u64 {
        self.report_failures.load(Ordering::Relaxed)
    }

    /// Losses waiting to be reported (entries plus spool spans).
    pub(crate) fn pending(&self) -> usize {
        let l = self.inner.lock();
        l.entries.len() + l.spool.len()
    }

    fn take(&self) -> Ledger {
        std::mem::take(&mut *self.inner.lock())
    }

    fn restore(&self, old: Ledger) {
        let mut cur = self.inner.lock();
        for (k, e) in old.entries {
            cur.entries.entry(k).or_default().merge(&e);
        }
        let mut spool = old.spool;
        spool.append(&mut cur.spool);
        cur.spool = spool;
    }

    /// Sends one report of everything recorded so far to `topic` (sync, the producer's retry
    /// budget). Returns false when there was nothing to report or the send failed (then the
    /// losses stay for the next try).
    pub(crate) fn send_report(
        &self,
        producer: &Producer,
        topic: &str,
        bridge_id: &str,
        key_prefix: &str,
        run: u128,
    ) -> bool {
        let ledger = self.take();
        if ledger.is_empty() {
            return false;
        }
        let n = self.reports_sent.load(Ordering::Relaxed) + self.report_failures();
        let body = report_json(&ledger, bridge_id, key_prefix, n);
        let key = format!("{bridge_id}-loss-{run:x}-{n}");
        let msg = Message::new(topic, body.to_string().into_bytes())
            .with_keys(&[&key])
            .with_tags("loss_report");
        match producer.send(msg) {
            Ok(_) => {
                self.reports_sent.fetch_add(1, Ordering::Relaxed);
                log::debug!("bridge loss report sent topic={topic} key={key}");
                true
            }
            Err(e) => {
                self.report_failures.fetch_add(1, Ordering::Relaxed);
                log::debug!("bridge loss report not sent topic={topic} key={key}: {e}");
                self.restore(ledger);
                false
            }
        }
    }
}

/// The reporter thread (a [`Worker`]): sends a report every [`REPORT_INTERVAL`] while losses
/// wait, and a last one when stopped.
pub(crate) struct Reporter {
    worker: Worker,
}

/// Where and how reports are sent.
pub(crate) struct ReportTarget {
    pub(crate) producer: Producer,
    pub(crate) topic: String,
    pub(crate) bridge_id: String,
    pub(crate) key_prefix: String,
    pub(crate) run: u128,
}

impl Reporter {
    /// Starts the reporter thread on `ledger`.
    ///
    /// # Errors
    /// The OS refused the thread.
    pub(crate) fn start(
        ledger: std::sync::Arc<LossLedger>,
        t: ReportTarget,
    ) -> std::io::Result<Reporter> {
        let worker = Worker::spawn("bridge-loss-report", move |stop| {
            let send =
                || ledger.send_report(&t.producer, &t.topic, &t.bridge_id, &t.key_prefix, t.run);
            while !stop.wait(REPORT_INTERVAL) {
                if ledger.pending() > 0 {
                    send();
                }
            }
            if ledger.pending() > 0 {
                send();
            }
        })?;
        Ok(Reporter { worker })
    }

    /// Sends a last report (when losses wait) and joins the thread, without a deadline: the last
    /// send is bounded by the producer's send timeout and retries.
    pub(crate) fn stop(self) {
        self.worker.join();
    }
}

fn report_json(l: &Ledger, bridge_id: &str, key_prefix: &str, n: u64) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = l
        .entries
        .iter()
        .map(|((rule, topic, reason), e)| {
            serde_json::json!({
                "rule": rule,
                "topic": topic,
                "reason": reason,
                "count": e.count,
                "seqs": e.ranges.iter().map(|r| [r.0, r.1]).collect::<Vec<_>>(),
                "seqs_truncated": e.truncated,
                "first_ms": e.first_ms,
                "last_ms": e.last_ms,
            })
        })
        .collect();
    let spool: Vec<serde_json::Value> = l
        .spool
        .iter()
        .map(|s| {
            serde_json::json!({
                "reason": s.reason,
                "records": s.records,
                "first_seq": s.first_seq,
                "last_seq": s.last_seq,
                "first_ms": s.time_ms.map(|t| t.0),
                "last_ms": s.time_ms.map(|t| t.1),
            })
        })
        .collect();
    serde_json::json!({
        "type": "loss_report",
        "bridge_id": bridge_id,
        "key_prefix": key_prefix,
        "report": n,
        "generated_ms": now_ms(),
        "entries": entries,
        "spool": spool,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::EventKind;

    #[test]
    fn losses_merge_into_ranges_per_rule_and_reason() {
        let l = LossLedger::new(true);
        let r = RuleId {
            event: EventKind::MessagePublish,
            index: 1,
        };
        for s in [5, 6, 7, 9, 8, 20] {
            l.record(r, "T", "overflow", Some(s));
        }
        l.record(r, "T", "failed", Some(3));
        l.record_spool("cap_reached", 10, 100, 109, Some((1, 2)));
        let ledger = l.take();
        let j = report_json(&ledger, "b", "b-1", 0);
        let e = &j["entries"];
        assert_eq!(e.as_array().unwrap().len(), 2);
        assert_eq!(e[0]["reason"], "failed");
        assert_eq!(e[1]["reason"], "overflow");
        assert_eq!(e[1]["count"], 6);
        assert_eq!(e[1]["seqs"], serde_json::json!([[5, 9], [20, 20]]));
        assert_eq!(j["spool"][0]["records"], 10);
        l.restore(ledger);
        assert_eq!(l.pending(), 3);
        let off = LossLedger::new(false);
        off.record(r, "T", "overflow", Some(1));
        assert_eq!(off.pending(), 0);
    }

    #[test]
    fn ranges_are_capped_and_the_count_stays_exact() {
        let mut e = Entry::default();
        for s in 0..(MAX_RANGES as u64 + 10) {
            e.add(Some(s * 2), 1, 1);
        }
        assert_eq!(e.ranges.len(), MAX_RANGES);
        assert!(e.truncated);
        assert_eq!(e.count, MAX_RANGES as u64 + 10);
        assert_eq!(e.ranges.last().unwrap().1, (MAX_RANGES as u64 + 9) * 2);
    }
}
