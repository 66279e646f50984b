//! Store-and-forward through the disk spool (`bridge.rocket.spool.dir`, async mode only).
//!
//! ```text
//!  host --EventSender::send--> match + format --append one record--> spool (disk)
//!                                                                      | cursor, in order
//!  spool reader thread <-----------------------------------------------+
//!      | one message per rule, key <bridge_id>-<spool seq>; waits for room in buffer.max_bytes
//!      v
//!  dispatcher (batches) --> producer --> outcome --> final: ack the record (when all its messages are)
//!                                                  \-> failed / unknown: resend after RETRY_BACKOFF
//! ```
//!
//! - An event's formatted messages (topic, tag, properties, body, rule, client id) are appended as
//!   one record before [`super::EventSender::send`] returns; what survives a crash is what the
//!   spool's `sync` policy says (see [`crate::spool`]).
//! - The key is `<bridge_id>-<seq>` with the spool's persistent sequence number, so a record sent
//!   again after a restart carries the key of the original. Duplicates are possible only for
//!   records in flight when the bridge (or a broker) died, or whose outcome was unknown.
//! - Outcomes: sent, or dropped as too large, is final and acknowledges the message; a failure or
//!   an unknown outcome is retried from the spool after [`RETRY_BACKOFF`] (counted as `resent`),
//!   without limit, so during an outage events wait on disk, not in memory. Messages of a
//!   record that already ended are not sent again. At shutdown unconfirmed records stay in the
//!   spool for the next run (`spool_pending` in the summary).
//! - The reader waits for room in `buffer.max_bytes` (it never drops); `buffer.overflow` does not
//!   apply with a spool: the spool's cap (`spool.max_bytes`) drops the oldest records instead,
//!   counted per reason and reported in the loss report.

use super::bridge::{budget_bytes, DropReason, Meta, Outgoing, Shared, UnsentReason};
use super::event::EventKind;
use super::rule::RuleId;
use crate::message::{Message, PROPERTY_KEYS, PROPERTY_TAGS};
use crate::spool::{Record, Spool, SpoolError, SpoolStats};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the reader waits before it sends failed or unknown records again (1 s).
pub const RETRY_BACKOFF: Duration = Duration::from_secs(1);
/// Acknowledged sequence numbers remembered, so a record acknowledged between the cursor's read and
/// the reader's check is not sent again.
const RECENT_ACKS: usize = 65_536;
/// Record format version (first payload byte).
const RECORD_VERSION: u8 = 1;

// ------------------------------------------------------------------------------------------------
// Record payload

/// One message of a spooled event, as formatted on the host's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpooledMessage {
    pub(crate) rule: RuleId,
    pub(crate) topic: String,
    pub(crate) tag: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) properties: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// A spool record that does not decode as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordDecodeError {
    /// The field being read.
    pub field: &'static str,
}

impl fmt::Display for RecordDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spool record does not decode: bad {}", self.field)
    }
}

impl std::error::Error for RecordDecodeError {}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

/// Encodes an event's messages:
/// `version u8, count u16, { kind u8, index u32, topic, tag?, client_id?, nprops u16,
/// {name, value}*, body }*`, strings and the body as `len u32` + bytes, options as a flag byte.
pub(crate) fn encode_record(msgs: &[SpooledMessage]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + msgs.iter().map(|m| m.body.len() + 256).sum::<usize>());
    out.push(RECORD_VERSION);
    out.extend_from_slice(&(msgs.len() as u16).to_be_bytes());
    for m in msgs {
        out.push(m.rule.event.index() as u8);
        out.extend_from_slice(&m.rule.index.to_be_bytes());
        put_str(&mut out, &m.topic);
        put_opt(&mut out, m.tag.as_deref());
        put_opt(&mut out, m.client_id.as_deref());
        out.extend_from_slice(&(m.properties.len() as u16).to_be_bytes());
        for (k, v) in &m.properties {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
        out.extend_from_slice(&(m.body.len() as u32).to_be_bytes());
        out.extend_from_slice(&m.body);
    }
    out
}

struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordDecodeError> {
        if self.0.len() < n {
            return Err(RecordDecodeError { field });
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self, f: &'static str) -> Result<u8, RecordDecodeError> {
        Ok(self.take(1, f)?[0])
    }
    fn u16(&mut self, f: &'static str) -> Result<u16, RecordDecodeError> {
        let b = self.take(2, f)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, f: &'static str) -> Result<u32, RecordDecodeError> {
        let b = self.take(4, f)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes(&mut self, f: &'static str) -> Result<&'a [u8], RecordDecodeError> {
        let n = self.u32(f)? as usize;
        self.take(n, f)
    }
    fn string(&mut self, f: &'static str) -> Result<String, RecordDecodeError> {
        let b = self.bytes(f)?;
        String::from_utf8(b.to_vec()).map_err(|_| RecordDecodeError { field: f })
    }
    fn opt(&mut self, f: &'static str) -> Result<Option<String>, RecordDecodeError> {
        match self.u8(f)? {
            0 => Ok(None),
            1 => self.string(f).map(Some),
            _ => Err(RecordDecodeError { field: f }),
        }
    }
}

/// Decodes [`encode_record`]'s output; every length is checked against the bytes left.
pub(crate) fn decode_record(payload: &[u8]) -> Result<Vec<SpooledMessage>, RecordDecodeError> {
    let mut r = Rd(payload);
    if r.u8("version")? != RECORD_VERSION {
        return Err(RecordDecodeError { field: "version" });
    }
    let n = r.u16("count")? as usize;
    let mut out = Vec::with_capacity(n.min(payload.len() / 16 + 1));
    for _ in 0..n {
        let kind = *EventKind::ALL
            .get(r.u8("event")? as usize)
            .ok_or(RecordDecodeError { field: "event" })?;
        let index = r.u32("rule")?;
        let topic = r.string("topic")?;
        let tag = r.opt("tag")?;
        let client_id = r.opt("client_id")?;
        let np = r.u16("properties")? as usize;
        let mut properties = Vec::with_capacity(np.min(r.0.len() / 8 + 1));
        for _ in 0..np {
            let k = r.string("property")?;
            let v = r.string("property")?;
            properties.push((k, v));
        }
        let body = r.bytes("body")?.to_vec();
        out.push(SpooledMessage {
            rule: RuleId { event: kind, index },
            topic,
            tag,
            client_id,
            properties,
            body,
        });
    }
    if !r.0.is_empty() {
        return Err(RecordDecodeError { field: "trailing" });
    }
    Ok(out)
}

/// The spooled form of a formatted message (key and tags travel separately).
pub(crate) fn spooled_message(out: &Outgoing) -> SpooledMessage {
    SpooledMessage {
        rule: out.meta.rule,
        topic: out.msg.topic.clone(),
        tag: out.msg.tags().map(str::to_owned),
        client_id: out.meta.client_id.clone(),
        properties: out
            .msg
            .properties
            .iter()
            .filter(|(k, _)| *k != PROPERTY_KEYS && *k != PROPERTY_TAGS)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        body: out.msg.body.to_vec(),
    }
}

// ------------------------------------------------------------------------------------------------
// Spool side of the bridge

/// Counters of the spooled path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolCounters {
    /// Bytes of all segments.
    pub bytes: u64,
    /// Records appended and not yet confirmed (they are sent, or sent again after a restart).
    pub pending_records: u64,
    /// The sequence number the next accepted event gets: every event the spool ever accepted has
    /// a lower one.
    pub next_seq: u64,
    /// Records appended since start.
    pub appended: u64,
    /// Records acknowledged (every message of the event ended) since start.
    pub acked: u64,
    /// Records found pending at start (left by the previous run).
    pub recovered: u64,
    /// Messages sent again after a failed or unknown attempt.
    pub resent: u64,
    /// Records dropped because the spool reached `spool.max_bytes`.
    pub dropped_cap_reached: u64,
    /// Records the spool found damaged (at start or while reading).
    pub dropped_corrupt: u64,
    /// Sequence numbers certainly used but found with neither a record nor an acknowledgement at
    /// start: a segment cut, emptied or deleted (by a power loss or by hand).
    pub dropped_missing: u64,
    /// After a crash of an earlier run: the numbers between the last record found and the
    /// durable reservation, which that run may or may not have used (an upper bound; see
    /// `spool::DropReason::PossiblyLost`). Reported, but not counted against this run's
    /// `all_sent`: it is a bound on what an earlier process may have lost, not a known loss.
    pub possibly_lost: u64,
    /// Records that did not decode (skipped and acknowledged).
    pub undecodable: u64,
}

struct Entry {
    /// Messages of the record still in flight.
    remaining: usize,
    /// Messages that ended for good.
    done: Vec<bool>,
    /// A message of this record must be sent again.
    retry: bool,
}

pub(crate) struct SpoolSide {
    pub(crate) spool: Spool,
    bridge_id: String,
    entries: Mutex<HashMap<u64, Entry>>,
    recent_acks: Mutex<(
        std::collections::VecDeque<u64>,
        std::collections::HashSet<u64>,
    )>,
    rewind_at: Mutex<Option<Instant>>,
    stop: AtomicBool,
    resent: AtomicU64,
    recovered: u64,
    dropped_cap: AtomicU64,
    dropped_corrupt: AtomicU64,
    dropped_missing: AtomicU64,
    possibly_lost: AtomicU64,
    undecodable: AtomicU64,
    reader: Mutex<Option<JoinHandle<()>>>,
}

/// What a spooled message carries to its outcome.
pub(crate) struct SpoolTicket {
    pub(crate) side: Arc<SpoolSide>,
    pub(crate) seq: u64,
    pub(crate) idx: usize,
}

impl SpoolSide {
    pub(crate) fn new(spool: Spool, bridge_id: &str, recovered: u64) -> SpoolSide {
        SpoolSide {
            spool,
            bridge_id: bridge_id.to_owned(),
            entries: Mutex::new(HashMap::new()),
            recent_acks: Mutex::new(Default::default()),
            rewind_at: Mutex::new(None),
            stop: AtomicBool::new(false),
            resent: AtomicU64::new(0),
            recovered,
            dropped_cap: AtomicU64::new(0),
            dropped_corrupt: AtomicU64::new(0),
            dropped_missing: AtomicU64::new(0),
            possibly_lost: AtomicU64::new(0),
            undecodable: AtomicU64::new(0),
            reader: Mutex::new(None),
        }
    }

    pub(crate) fn counters(&self) -> SpoolCounters {
        let s: SpoolStats = self.spool.stats();
        SpoolCounters {
            bytes: s.bytes,
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

    /// Appends an event's messages as one record. On failure every message counts as dropped
    /// (`too_large` when the record is over the spool's limit, `spool_error` otherwise).
    pub(crate) fn append(
        &self,
        sh: &Shared,
        ready: Vec<Outgoing>,
    ) -> Result<u64, (RuleId, DropReason)> {
        let msgs: Vec<SpooledMessage> = ready.iter().map(spooled_message).collect();
        let payload = encode_record(&msgs);
        match self.spool.append(&payload) {
            Ok(seq) => Ok(seq),
            // Written and queued, only its fsync failed: it will be sent, so it is not a drop.
            Err(SpoolError::NotDurable { seq, source, .. }) => {
                log::warn!("bridge spool record seq={seq} is queued but not synced: {source}");
                Ok(seq)
            }
            Err(e) => {
                let reason = match e {
                    SpoolError::RecordTooLarge { len, max } => {
                        DropReason::TooLarge { size: len, max }
                    }
                    other => {
                        log::warn!("bridge spool append failed: {other}");
                        DropReason::SpoolError
                    }
                };
                let rule = ready[0].meta.rule;
                for out in ready {
                    let topic = out.msg.topic.clone();
                    let mut meta = out.meta;
                    meta.bytes = 0;
                    // Not counted in flight yet: finish() subtracts one.
                    sh.in_flight.fetch_add(1, Ordering::SeqCst);
                    sh.finish(meta, &topic, Err(UnsentReason::Dropped(reason.clone())));
                }
                Err((rule, reason))
            }
        }
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

    /// Turns a record into outgoing messages and hands them to the dispatcher. False when the
    /// reader must stop.
    fn dispatch(self: &Arc<Self>, sh: &Shared, rec: Record) -> bool {
        let msgs = match decode_record(&rec.payload) {
            Ok(m) if !m.is_empty() => m,
            Ok(_) => {
                let _ = self.spool.ack(rec.seq);
                return true;
            }
            Err(e) => {
                log::warn!("bridge spool record seq={} skipped: {e}", rec.seq);
                self.undecodable.fetch_add(1, Ordering::Relaxed);
                let _ = self.spool.ack(rec.seq);
                return true;
            }
        };
        let todo: Vec<usize> = {
            let mut entries = self.entries.lock();
            if !entries.contains_key(&rec.seq) && self.recent_acks.lock().1.contains(&rec.seq) {
                // Confirmed after the cursor read it.
                return true;
            }
            let e = entries.entry(rec.seq).or_insert_with(|| Entry {
                remaining: 0,
                done: vec![false; msgs.len()],
                retry: false,
            });
            if e.remaining > 0 {
                // Still in flight (a rewind met it again).
                return true;
            }
            e.retry = false;
            let todo: Vec<usize> = (0..msgs.len())
                .filter(|&i| !e.done.get(i).copied().unwrap_or(false))
                .collect();
            e.remaining = todo.len();
            todo
        };
        let key = format!("{}-{}", self.bridge_id, rec.seq);
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
                props_len + PROPERTY_KEYS.len() + key.len() + 2,
                m.topic.len(),
                key.len(),
                m.client_id.as_ref().map_or(0, String::len),
            );
            let mut msg = Message::new(m.topic, m.body).with_keys(&[&key]);
            if let Some(tag) = &m.tag {
                msg = msg.with_tags(tag);
            }
            for (k, v) in m.properties {
                msg = msg.with_property(k, v);
            }
            let meta = Meta {
                rule: m.rule,
                stats,
                key: key.clone(),
                client_id: m.client_id,
                bytes,
                waiter: None,
                seq: Some(rec.seq),
                spool: Some(SpoolTicket {
                    side: Arc::clone(self),
                    seq: rec.seq,
                    idx: i,
                }),
                held: None,
            };
            sh.in_flight.fetch_add(1, Ordering::SeqCst);
            if !sh.budget.acquire_blocking(bytes, &self.stop) {
                // Stopping: this and the rest stay in the spool.
                let mut meta = meta;
                meta.bytes = 0;
                let topic = msg.topic.clone();
                sh.finish(
                    meta,
                    &topic,
                    Err(UnsentReason::Dropped(DropReason::Shutdown)),
                );
                self.abandon(rec.seq, todo.len() - n - 1);
                return false;
            }
            if let Err(crossbeam_channel::SendError(out)) = sh.tx.send(Outgoing { msg, meta }) {
                let topic = out.msg.topic.clone();
                sh.finish(
                    out.meta,
                    &topic,
                    Err(UnsentReason::Dropped(DropReason::Shutdown)),
                );
                self.abandon(rec.seq, todo.len() - n - 1);
                return false;
            }
        }
        true
    }

    /// `n` messages of record `seq` will not be handed over after all.
    fn abandon(&self, seq: u64, n: usize) {
        if let Some(e) = self.entries.lock().get_mut(&seq) {
            e.remaining = e.remaining.saturating_sub(n);
            e.retry = true;
        }
    }

    /// Moves the spool's drop reports into the counters and the loss ledger.
    fn take_dropped(&self, sh: &Shared) {
        for d in self.spool.take_dropped() {
            let c = match d.reason {
                crate::spool::DropReason::CapReached => &self.dropped_cap,
                crate::spool::DropReason::Corrupt => &self.dropped_corrupt,
                crate::spool::DropReason::Missing => &self.dropped_missing,
                crate::spool::DropReason::PossiblyLost => &self.possibly_lost,
            };
            c.fetch_add(d.records, Ordering::Relaxed);
            // Dropped records waiting for a retry are gone: forget them.
            self.entries
                .lock()
                .retain(|&seq, e| e.remaining > 0 || !(d.first_seq..=d.last_seq).contains(&seq));
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

    fn run_reader(self: Arc<Self>, shared: Weak<Shared>) {
        let mut cursor = self.spool.cursor();
        let mut last_drop_check = Instant::now();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let Some(sh) = shared.upgrade() else { break };
            if last_drop_check.elapsed() >= Duration::from_millis(200) {
                self.take_dropped(&sh);
                last_drop_check = Instant::now();
            }
            let wait = {
                let mut at = self.rewind_at.lock();
                match *at {
                    Some(t) if Instant::now() >= t => {
                        *at = None;
                        cursor.rewind();
                        None
                    }
                    // A send failed: read nothing new until the backoff is over, then start
                    // again from the oldest pending record.
                    Some(t) => Some(t.saturating_duration_since(Instant::now())),
                    None => None,
                }
            };
            if let Some(w) = wait {
                drop(sh);
                std::thread::sleep(w.min(Duration::from_millis(50)));
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
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        if let Some(sh) = shared.upgrade() {
            self.take_dropped(&sh);
        }
    }

    /// Starts the reader thread.
    pub(crate) fn start_reader(self: &Arc<Self>, shared: &Arc<Shared>) {
        let me = Arc::clone(self);
        let weak = Arc::downgrade(shared);
        let h = std::thread::Builder::new()
            .name("bridge-spool-reader".into())
            .spawn(move || me.run_reader(weak))
            .expect("spawn spool reader thread");
        *self.reader.lock() = Some(h);
    }

    /// Waits until every record is confirmed or `end` passed, then stops and joins the reader.
    pub(crate) fn drain_and_stop(&self, end: Instant) {
        while Instant::now() < end {
            if self.spool.stats().pending_records == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.reader.lock().take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_truncations_are_errors() {
        let m = vec![
            SpooledMessage {
                rule: RuleId {
                    event: EventKind::MessagePublish,
                    index: 3,
                },
                topic: "T".into(),
                tag: Some("pub".into()),
                client_id: Some("c1".into()),
                properties: vec![("mqtt_qos".into(), "1".into())],
                body: b"{\"a\":1}".to_vec(),
            },
            SpooledMessage {
                rule: RuleId {
                    event: EventKind::ClientConnected,
                    index: 1,
                },
                topic: "U".into(),
                tag: None,
                client_id: None,
                properties: vec![],
                body: vec![],
            },
        ];
        let b = encode_record(&m);
        assert_eq!(decode_record(&b).unwrap(), m);
        for cut in 0..b.len() {
            assert!(decode_record(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(
            decode_record(&long),
            Err(RecordDecodeError { field: "trailing" })
        );
    }
}
