//! Settling messages: [`Settle`] is the state every part of the bridge core shares (the rules in
//! force and their counters, the byte budget and the in-flight count, the channel to the
//! dispatcher, the shutdown log, health, the loss ledger, the spool's acknowledgements and the
//! in-memory hold), and it ends every message exactly once ([`Settle::finish`]).
//!
//! This file is long (about 810 lines with its test helpers) because every way a message is admitted
//! and ended (admit, reject, finish, hold, resolve, the shutdown's drains, late hand-overs) lives
//! next to the state they all change, so that "ended exactly once" can be checked in one place.
//!
//! Layering (see [`super`]): above the buffer, the hold, the loss ledger, health and the spool's
//! halves; below the intake ([`super::intake`]), the dispatcher and the spool reader.

use super::buffer::{Budget, Handed, Meta, Outgoing, CHANNEL_CAPACITY};
use super::config::{BridgeConfig, OverflowPolicy, ProduceMode, QueueStrategy};
use super::health::{BridgeHealth, HealthTracker};
use super::hold::HoldQueue;
use super::loss_report::LossLedger;
use super::outcome::{BridgeStats, DropReason, RuleStats, SendEventError, Unsent, UnsentReason};
use super::resolve::{Lookup, Pending, Resolver, Verdict};
use super::rule::{RuleId, RuleSet};
use super::spool_ack::SpoolAcks;
use super::topic_gate::TopicGate;
use crate::message::Message;
use crate::producer::SendErrorKind;
use crate::util::worker::Stop;
use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The rules in force, with their counters and the node name.
pub(crate) struct Active {
    pub(crate) rules: RuleSet,
    /// By rule: an ordered map, as a hash of the rule id per event cost more than comparing the
    /// few ids a config has.
    pub(crate) stats: BTreeMap<RuleId, Arc<RuleStats>>,
    pub(crate) node: String,
}

/// How a message gets room in the byte budget ([`Settle::admit`]).
pub(crate) enum Room<'a> {
    /// As `buffer.overflow` says; a wait ends when the bridge closes.
    Policy(OverflowPolicy),
    /// Wait for room until the stop fires (the spool reader: it never drops).
    WaitUnless(&'a Stop),
    /// No room: the message was never buffered (the spool could not store its event).
    Refused(DropReason),
}

/// The shared state of a running bridge; see the module docs.
pub(crate) struct Settle {
    pub(crate) mode: ProduceMode,
    pub(crate) overflow: OverflowPolicy,
    pub(crate) strategy: QueueStrategy,
    pub(crate) sync_timeout: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) key_prefix: String,
    /// The prefix holds neither property separator (a checked `bridge_id` never does), so a key
    /// of it, `-` and digits goes into the KEYS property without a check per message.
    pub(crate) key_prefix_valid: bool,
    pub(crate) seq: AtomicU64,
    pub(crate) active: RwLock<Arc<Active>>,
    /// Every rule's counters by (rule, topic): a reload that points a rule at another topic starts a
    /// new entry, and removed rules keep theirs.
    pub(crate) all_stats: Mutex<BTreeMap<(RuleId, String), Arc<RuleStats>>>,
    pub(crate) unmatched: AtomicU64,
    pub(crate) budget: Budget,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) closed: AtomicBool,
    /// Set at shutdown once the outcomes were waited for: no more broker lookups. Until then the
    /// lookups go on during the drain (a send found stored ends as sent, one proven not stored
    /// ends as `failed`, certain, since nothing is sent again once the intake closed).
    pub(crate) lookups_closed: AtomicBool,
    pub(crate) tx: Sender<Handed>,
    pub(crate) rx: Receiver<Handed>,
    /// Messages in the channel beyond one per hand-over: a batch of `n` adds `n - 1` before it is
    /// sent and the dispatcher takes them off when it receives it, so the queue depth counts
    /// messages without an atomic operation per message.
    pub(crate) batched: AtomicUsize,
    /// Set when the shutdown's last settle ended ([`Settle::settle_remaining`]): no one reads the
    /// channel any more, so a hand-over after it (a [`super::ChunkSender`] dropped late) must end
    /// its messages itself ([`Settle::drop_queued`]).
    pub(crate) settled: AtomicBool,
    /// Wakes the dispatcher before its timer: a completed request, or a channel half full while
    /// it sleeps out a linger (so a burst cannot fill the channel behind a sleeping dispatcher).
    pub(crate) kick: (Sender<()>, Receiver<()>),
    /// True while the dispatcher has groups gathering (set by it before each wait): a completed
    /// request kicks it only then. Idle, it waits for the next message, and a kick would only
    /// wake it for nothing (one wake-up per request at low rates).
    pub(crate) gathering: std::sync::atomic::AtomicBool,
    /// While shutting down: messages that ended unconfirmed, and the count confirmed.
    pub(crate) shutdown_log: Mutex<Option<Vec<Unsent>>>,
    pub(crate) sent_during_shutdown: AtomicU64,
    /// Send outcomes per topic, for the health status.
    pub(crate) health: HealthTracker,
    /// Losses not yet reported in band.
    pub(crate) losses: Arc<LossLedger>,
    /// The spool, when configured.
    pub(crate) spool: Option<Arc<SpoolAcks>>,
    /// Async without a spool, `retry.max_hold` > 0: messages held for a re-send.
    pub(crate) hold: Option<HoldQueue>,
    /// Async mode: outcome-unknown sends waiting for the broker lookup ([`super::resolve`]).
    pub(crate) resolver: Option<Resolver>,
    /// Templated topics per rule: first-use route lookups and the cap ([`super::topic_gate`]).
    pub(crate) topics: TopicGate,
}

impl Settle {
    /// The state for `cfg`: its rules, an empty budget of `buffer.max_bytes`, a fresh channel, a
    /// loss ledger that records when `loss_report.topic` is set, and the in-memory hold when the
    /// bridge runs async without a spool and `retry.max_hold` is not zero. Keys are
    /// `<key_prefix>-<seq>`.
    pub(crate) fn new(
        cfg: &BridgeConfig,
        key_prefix: String,
        spool: Option<Arc<SpoolAcks>>,
    ) -> Settle {
        let (tx, rx) = bounded(CHANNEL_CAPACITY);
        let kick = bounded(1);
        let mut all_stats = BTreeMap::new();
        let active = build_active(cfg, &mut all_stats);
        let hold =
            (spool.is_none() && cfg.produce == ProduceMode::Async && !cfg.retry_max_hold.is_zero())
                .then(|| HoldQueue::new(cfg.retry_max_hold));
        Settle {
            mode: cfg.produce,
            overflow: cfg.buffer_overflow,
            strategy: cfg.queue_strategy,
            sync_timeout: cfg.sync_timeout,
            max_message_size: cfg.max_message_size,
            key_prefix_valid: !key_prefix.contains(['\u{1}', '\u{2}']),
            key_prefix,
            seq: AtomicU64::new(0),
            active: RwLock::new(Arc::new(active)),
            all_stats: Mutex::new(all_stats),
            unmatched: AtomicU64::new(0),
            budget: Budget::new(cfg.buffer_max_bytes),
            in_flight: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            lookups_closed: AtomicBool::new(false),
            tx,
            rx,
            batched: AtomicUsize::new(0),
            settled: AtomicBool::new(false),
            kick,
            gathering: std::sync::atomic::AtomicBool::new(false),
            shutdown_log: Mutex::new(None),
            sent_during_shutdown: AtomicU64::new(0),
            health: HealthTracker::new(cfg.health_window),
            losses: Arc::new(LossLedger::new(cfg.loss_report_topic.is_some())),
            spool,
            hold,
            resolver: (cfg.produce == ProduceMode::Async && !cfg.retry_resolve_unknown.is_zero())
                .then(|| Resolver::new(cfg.namespace.clone(), cfg.retry_resolve_unknown)),
            topics: TopicGate::new(cfg.template_max_topics),
        }
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> BridgeStats {
        let rules = self
            .all_stats
            .lock()
            .iter()
            .map(|((id, _), s)| s.snapshot(*id))
            .collect();
        BridgeStats {
            rules,
            unmatched: self.unmatched.load(Ordering::Relaxed),
            buffered_bytes: self.budget.used(),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            queue_depth: self.rx.len() + self.batched.load(Ordering::Relaxed),
            spool: self.spool.as_ref().map(|s| s.counters()),
            loss_reports_sent: self.losses.reports_sent(),
            loss_report_failures: self.losses.report_failures(),
            held: self.hold.as_ref().map_or(0, |h| h.len()),
            held_resent: self.hold.as_ref().map_or(0, |h| h.resent()),
            resolving: self.resolver.as_ref().map_or(0, |r| r.len()),
            // Filled in by the bridge, which holds the producer.
            producer: Default::default(),
        }
    }

    /// The counters of `rule` sending to `topic` (created when a reload or a restart changed the
    /// rules since the event was spooled). A rule with a topic template counts all its rendered
    /// topics in one entry, under the template's text.
    pub(crate) fn rule_stats(&self, rule: RuleId, topic: &str) -> Arc<RuleStats> {
        let active = self.active.read();
        if let Some(s) = active.stats.get(&rule) {
            let templated = active
                .rules
                .get(rule)
                .is_some_and(|r| r.topic_template.is_some());
            if s.topic == topic || templated {
                return Arc::clone(s);
            }
        }
        drop(active);
        let mut all = self.all_stats.lock();
        Arc::clone(
            all.entry((rule, topic.to_owned()))
                .or_insert_with(|| Arc::new(RuleStats::new(topic))),
        )
    }

    /// [`Settle::finish`] with `Ok` for every message of a stored batch, with the shared work done
    /// once: one health update, one look at the shutdown log, and one budget release, so a host
    /// waiting for room wakes once per batch rather than once per message.
    pub(crate) fn finish_sent(&self, metas: Vec<Meta>, topic: &str) {
        if metas.iter().any(|m| m.spool.is_some()) {
            for m in metas {
                self.finish(m, topic, Ok(()));
            }
            return;
        }
        let n = metas.len();
        if n == 0 {
            return;
        }
        self.health.success(topic);
        let mut bytes = 0;
        for meta in metas {
            meta.stats.sent.fetch_add(1, Ordering::Relaxed);
            if let Some(w) = &meta.waiter {
                w.complete(Ok(()));
            }
            bytes += meta.bytes;
        }
        if self.shutdown_log.lock().is_some() {
            self.sent_during_shutdown
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        self.budget.release(bytes);
        self.in_flight.fetch_sub(n, Ordering::SeqCst);
    }

    /// Records the end of a buffered message: counters, budget, waiter, shutdown log.
    pub(crate) fn finish(&self, meta: Meta, topic: &str, outcome: Result<(), UnsentReason>) {
        match &outcome {
            Ok(()) => self.health.success(topic),
            Err(UnsentReason::Failed(_) | UnsentReason::OutcomeUnknown(_)) => {
                self.health.failure(topic)
            }
            Err(UnsentReason::Dropped(_)) => {}
        }
        self.finish_counted(meta, topic, outcome);
    }

    /// [`Settle::finish`] without the health update: for the lookups' endings, whose send failed
    /// (counted in health when it did) and whose late answer says nothing about the send path now.
    fn finish_counted(&self, meta: Meta, topic: &str, outcome: Result<(), UnsentReason>) {
        let rule = meta.rule;
        // A spooled message that failed is sent again from the spool: not an outcome yet.
        let outcome = match &meta.spool {
            Some(t) => match t.acks.settle(t, outcome) {
                Some(o) => o,
                None => {
                    self.budget.release(meta.bytes);
                    self.in_flight.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
            },
            None => outcome,
        };
        if let Err(r) = &outcome {
            self.losses.record(rule, topic, r.name(), meta.seq);
        }
        let res = match &outcome {
            Ok(()) => {
                meta.stats.sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(UnsentReason::Failed(e)) => {
                meta.stats.failed.fetch_add(1, Ordering::Relaxed);
                Err(SendEventError::Failed {
                    rule,
                    error: e.clone(),
                })
            }
            Err(UnsentReason::OutcomeUnknown(d)) => {
                meta.stats.outcome_unknown.fetch_add(1, Ordering::Relaxed);
                Err(SendEventError::OutcomeUnknown {
                    rule,
                    detail: d.clone(),
                })
            }
            Err(UnsentReason::Dropped(r)) => {
                meta.stats.dropped(r).fetch_add(1, Ordering::Relaxed);
                Err(SendEventError::Dropped {
                    rule,
                    reason: r.clone(),
                })
            }
        };
        if let Some(log) = self.shutdown_log.lock().as_mut() {
            match outcome {
                Ok(()) => {
                    self.sent_during_shutdown.fetch_add(1, Ordering::Relaxed);
                }
                Err(reason) => log.push(Unsent {
                    rule,
                    topic: topic.to_owned(),
                    key: meta.key.to_string(),
                    client_id: meta.client_id.as_deref().map(str::to_owned),
                    reason,
                }),
            }
        }
        if let Err(e) = &res {
            log::debug!(
                "bridge message not sent rule={rule} topic={topic} key={}: {e}",
                meta.key
            );
        }
        if let Some(w) = &meta.waiter {
            w.complete(res);
        }
        self.budget.release(meta.bytes);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Ends a send the producer reported as failed. A message it handed back as certainly not
    /// stored is held for another attempt ([`super::hold`]) while the hold allows; otherwise (or
    /// once shutdown began) it ends with the reason the error gives.
    pub(crate) fn fail_or_hold(
        &self,
        msg: Option<Message>,
        mut meta: Meta,
        topic: &str,
        kind: &SendErrorKind,
    ) {
        let mut reason = UnsentReason::from_send_error(kind);
        let mut msg = msg;
        if let (Some(r), UnsentReason::OutcomeUnknown(d)) = (&self.resolver, &reason) {
            match r.push(msg, meta, topic, kind, d.clone()) {
                Ok(()) => {
                    // No answer is a failure of the send path, whatever the lookup finds.
                    self.health.failure(topic);
                    return;
                }
                Err(back) => {
                    let (m, back) = *back;
                    // No room or the lookups ended (shutdown): it stays unknown, unresolved.
                    msg = m;
                    meta = back;
                    meta.stats.unresolved.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if let (Some(h), Some(msg), UnsentReason::Failed(e)) = (&self.hold, msg, &reason) {
            if meta.spool.is_none() && super::hold::holds(kind) {
                let now = Instant::now();
                let (first, resends) = meta.held.unwrap_or((now, 0));
                let held_for = now.duration_since(first);
                if held_for < h.max_hold {
                    meta.held = Some((first, resends + 1));
                    self.health.failure(topic);
                    let due = now + super::hold::backoff(resends + 1);
                    match h.push_unless_closed(&self.closed, Outgoing { msg, meta }, due) {
                        None => return,
                        Some(out) => {
                            meta = out.meta;
                            reason = UnsentReason::Failed(format!(
                                "{e}; held {held_for:?} ({resends} re-sends) when shutdown began"
                            ));
                        }
                    }
                } else {
                    reason = UnsentReason::Failed(format!(
                        "{e}; not stored after holding it {held_for:?} ({resends} re-sends, retry.max_hold {:?})",
                        h.max_hold
                    ));
                }
            }
        }
        self.finish(meta, topic, Err(reason));
    }

    /// Notes an acknowledged send, a probe for the lookups ([`super::resolve`]).
    pub(crate) fn acked(&self, broker: &str, topic: &str, key: &str, sent_at: Instant) {
        if let Some(r) = &self.resolver {
            r.acked(broker, topic, key, sent_at);
        }
    }

    /// One lookup round over the outcome-unknown sends waiting ([`super::resolve`]): found ones
    /// end as sent, proven-not-stored ones are sent again, the rest wait for the next round until
    /// their budget is spent and end unresolved; once the lookups are closed (shutdown, after the
    /// drain), no more lookups: what waits ends unresolved.
    pub(crate) fn resolve_round(&self, lookup: &mut Lookup) {
        let Some(r) = &self.resolver else {
            return;
        };
        lookup.round();
        let mut back = Vec::new();
        let now = Instant::now();
        for mut p in r.take_all() {
            if self.lookups_closed.load(Ordering::SeqCst) {
                self.end_unresolved(p);
                continue;
            }
            if !Resolver::due(&p, now) {
                if r.spent(&p) {
                    self.end_unresolved(p);
                } else {
                    back.push(p);
                }
                continue;
            }
            if lookup.round_spent() {
                back.push(p);
                continue;
            }
            match lookup.lookup(r, &mut p, &self.lookups_closed) {
                Verdict::Stored => {
                    p.meta.stats.resolved_stored.fetch_add(1, Ordering::Relaxed);
                    log::debug!(
                        "bridge resolve: key={} found stored after {} lookup(s)",
                        p.meta.key,
                        p.lookups
                    );
                    self.finish_counted(p.meta, &p.topic, Ok(()));
                }
                Verdict::NotStored => {
                    p.meta
                        .stats
                        .resolved_not_stored
                        .fetch_add(1, Ordering::Relaxed);
                    self.resend(p);
                }
                Verdict::Unknown if r.spent(&p) || self.lookups_closed.load(Ordering::SeqCst) => {
                    self.end_unresolved(p)
                }
                Verdict::Unknown => back.push(p),
            }
        }
        for p in r.put_back(back) {
            self.end_unresolved(p);
        }
    }

    /// A send proven not stored goes back to the dispatcher with its key, or to the hold when the
    /// channel is full; when it cannot (no message handed back, the bridge closing, the channel
    /// full and no hold) it ends as `failed`, certain now.
    fn resend(&self, p: Pending) {
        log::debug!(
            "bridge resolve: key={} proven not stored after {} lookup(s), sending again",
            p.meta.key,
            p.lookups
        );
        let reason = format!("{}; proven not stored by the broker lookup", p.detail);
        let Some(msg) = p.msg else {
            self.finish(p.meta, &p.topic, Err(UnsentReason::Failed(reason)));
            return;
        };
        if self.closed.load(Ordering::SeqCst) {
            self.finish(p.meta, &p.topic, Err(UnsentReason::Failed(reason)));
            return;
        }
        if let Err(e) = self
            .tx
            .try_send(Handed::One(Outgoing { msg, meta: p.meta }))
        {
            let Handed::One(mut out) = e.into_inner() else {
                unreachable!("one message was sent")
            };
            // The channel is full (a backlog after an outage): the hold sends it again shortly,
            // when there is one; only without it does it end as failed.
            if let (Some(h), None) = (&self.hold, &out.meta.spool) {
                let now = Instant::now();
                let (first, resends) = out.meta.held.unwrap_or((now, 0));
                out.meta.held = Some((first, resends + 1));
                let due = now + super::hold::backoff(resends + 1);
                match h.push_unless_closed(&self.closed, out, due) {
                    None => return,
                    Some(back) => out = back,
                }
            }
            self.finish(out.meta, &p.topic, Err(UnsentReason::Failed(reason)));
        }
    }

    fn end_unresolved(&self, p: Pending) {
        p.meta.stats.unresolved.fetch_add(1, Ordering::Relaxed);
        let reason = UnsentReason::OutcomeUnknown(format!(
            "{}; unresolved after {} broker lookup(s)",
            p.detail, p.lookups
        ));
        self.finish_counted(p.meta, &p.topic, Err(reason));
    }

    /// Shutdown, after the last lookup round: ends the lookups; what still waits ends unresolved.
    pub(crate) fn close_resolver(&self) {
        self.lookups_closed.store(true, Ordering::SeqCst);
        if let Some(r) = &self.resolver {
            for p in r.close() {
                self.end_unresolved(p);
            }
        }
    }

    /// Shutdown: every held message ends as `failed`.
    pub(crate) fn fail_held(&self) {
        if let Some(h) = &self.hold {
            for out in h.take_all() {
                let held = out.meta.held.map(|(f, n)| (f.elapsed(), n));
                let topic = out.msg.topic.clone();
                self.finish(
                    out.meta,
                    &topic,
                    Err(UnsentReason::Failed(format!(
                        "not stored; held for a re-send (held, re-sends: {held:?}) when shutdown began"
                    ))),
                );
            }
        }
    }

    /// Drops the oldest message waiting: one held for a re-send, else the oldest in the channel;
    /// false when both are empty.
    pub(crate) fn drop_oldest(&self) -> bool {
        if let Some(old) = self.hold.as_ref().and_then(|h| h.pop_oldest()) {
            self.drop_out(old, DropReason::Overflow);
            return true;
        }
        match self.rx.try_recv() {
            Ok(Handed::One(old)) => {
                self.drop_out(old, DropReason::Overflow);
                true
            }
            // Not sent under `drop_oldest` (a `ChunkSender` hands over one message at a time then);
            // were one there, its messages would all end as dropped, each counted.
            Ok(Handed::Many(olds)) => {
                self.taken(olds.len());
                for old in olds {
                    self.drop_out(old, DropReason::Overflow);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Sends a batch of messages to the dispatcher (see [`Settle::batched`]); on a closed channel
    /// they come back.
    pub(crate) fn hand_over_many(&self, outs: Vec<Outgoing>) -> Result<(), Vec<Outgoing>> {
        let extra = outs.len().saturating_sub(1);
        self.batched.fetch_add(extra, Ordering::Relaxed);
        match self.tx.send(Handed::Many(outs)) {
            Ok(()) => Ok(()),
            Err(crossbeam_channel::SendError(h)) => {
                self.batched.fetch_sub(extra, Ordering::Relaxed);
                Err(h.into_iter().collect())
            }
        }
    }

    /// Called for every hand-over taken out of the channel, with its length.
    pub(crate) fn taken(&self, len: usize) {
        if len > 1 {
            self.batched.fetch_sub(len - 1, Ordering::Relaxed);
        }
    }

    /// Drops whatever is in the channel (`shutdown`, counted): the shutdown's drains, and a
    /// hand-over made after the shutdown settled.
    pub(crate) fn drop_queued(&self) {
        while let Ok(h) = self.rx.try_recv() {
            self.drop_handed(h);
        }
    }

    /// Drops every message of a hand-over taken out of the channel at shutdown.
    fn drop_handed(&self, h: Handed) {
        self.taken(h.len());
        for out in h {
            self.drop_out(out, DropReason::Shutdown);
        }
    }

    /// Admits a message into the buffer: counts it in flight, then takes its budget bytes as
    /// `room` says. `Ok` gives the message back to be put in the channel; when it gets no room it
    /// is rejected at once (ended as dropped, holding no bytes) and `Err` says why: `shutdown`
    /// when the wait was ended by `closed` (or the reader's stop), else `overflow` (or the reason
    /// of [`Room::Refused`]).
    ///
    /// The count comes first, so a shutdown waiting for `in_flight` to reach zero also waits for
    /// a sender blocked here, and the message lands in the shutdown report.
    pub(crate) fn admit(&self, out: Outgoing, room: Room<'_>) -> Result<Outgoing, DropReason> {
        match self.take_room(out.meta.bytes, room) {
            None => Ok(out),
            Some(reason) => {
                self.reject(out, reason.clone());
                Err(reason)
            }
        }
    }

    /// [`Settle::admit`] without taking the message: counts a message of `bytes` budget bytes in
    /// flight and takes its room; `Some(reason)` when it got none, and the caller must then end
    /// it with [`Settle::reject`]. The intake's enqueue uses it so that the message is moved once
    /// (into the channel) instead of into `admit` and back out as well (issue #22's profile: a
    /// move of a message and its metadata is a `memcpy` call of about 250 bytes).
    pub(crate) fn take_room(&self, bytes: usize, room: Room<'_>) -> Option<DropReason> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let n = bytes;
        match room {
            Room::Policy(OverflowPolicy::Block) => {
                (!self.budget.acquire_blocking(n, &|| self.is_closed()))
                    .then(|| self.closed_reason())
            }
            Room::Policy(OverflowPolicy::DropNew) => {
                (!self.budget.try_acquire(n)).then(|| self.closed_reason())
            }
            Room::Policy(OverflowPolicy::DropOldest) => {
                let got = loop {
                    if self.budget.try_acquire(n) {
                        break true;
                    }
                    if !self.drop_oldest() {
                        // Everything buffered is already with the producer: wait for room.
                        break self.budget.acquire_blocking(n, &|| self.is_closed());
                    }
                };
                (!got).then(|| self.closed_reason())
            }
            Room::WaitUnless(stop) => (!self.budget.acquire_blocking(n, &|| stop.is_stopped()))
                .then_some(DropReason::Shutdown),
            Room::Refused(reason) => Some(reason),
        }
    }

    /// [`Settle::take_room`] without waiting and without a drop: true when the message got its
    /// room (and is counted in flight), false when the budget is full (nothing counted).
    pub(crate) fn try_take_room(&self, bytes: usize) -> bool {
        if !self.budget.try_acquire(bytes) {
            return false;
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Whether the intake is closed (shutdown began).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Stops accepting events: later sends are refused, and a send waiting for room returns
    /// (its message dropped as `shutdown`). The shutdown log starts here (kept when already
    /// started), so it lists those sends.
    pub(crate) fn close_intake(&self) {
        self.shutdown_log.lock().get_or_insert_with(Vec::new);
        self.closed.store(true, Ordering::SeqCst);
        self.budget.wake_all();
    }

    /// Shutdown, once the dispatcher stopped: what is still in the channel is dropped
    /// (`shutdown`), then waits until every message in flight got its outcome or `end` passed,
    /// dropping what a host enqueued meanwhile and failing messages held meanwhile. True when
    /// nothing is in flight.
    pub(crate) fn settle_remaining(&self, end: Instant) -> bool {
        // Whatever is still in the channel will not be sent.
        self.drop_queued();
        while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
            self.fail_held();
            // A host that passed the closed check just before it was set may still have enqueued.
            self.drop_queued();
        }
        // A hand-over from now on is ended by its sender (it sees `settled`), one before this
        // by the drain below.
        self.settled.store(true, Ordering::SeqCst);
        self.drop_queued();
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// The shutdown report's part: messages not confirmed, and those confirmed, since the
    /// shutdown log started.
    pub(crate) fn take_shutdown_log(&self) -> (Vec<Unsent>, u64) {
        let unsent = self.shutdown_log.lock().take().unwrap_or_default();
        (unsent, self.sent_during_shutdown.load(Ordering::Relaxed))
    }

    /// Why a message got no room under the overflow policy: `shutdown` once closed.
    fn closed_reason(&self) -> DropReason {
        if self.closed.load(Ordering::SeqCst) {
            DropReason::Shutdown
        } else {
            DropReason::Overflow
        }
    }

    /// Ends a message [`Settle::admit`] (or [`Settle::take_room`]) counted but gave no room:
    /// dropped with `reason`, releasing no bytes.
    pub(crate) fn reject(&self, mut out: Outgoing, reason: DropReason) {
        out.meta.bytes = 0;
        self.drop_out(out, reason);
    }

    /// Ends a buffered message (counted in flight, holding its bytes) as dropped with `reason`.
    pub(crate) fn drop_out(&self, out: Outgoing, reason: DropReason) {
        let topic = out.msg.topic.clone();
        self.finish(out.meta, &topic, Err(UnsentReason::Dropped(reason)));
    }

    /// The health status (see [`super::health`]).
    pub(crate) fn health_status(&self) -> BridgeHealth {
        let pending = self.spool.as_ref().map_or(0, |s| s.pending_records());
        self.health
            .status(self.in_flight.load(Ordering::SeqCst), pending)
    }
}

/// The rules of `cfg` with their counters, taken from (or added to) `all`.
pub(crate) fn build_active(
    cfg: &BridgeConfig,
    all: &mut BTreeMap<(RuleId, String), Arc<RuleStats>>,
) -> Active {
    let mut stats = BTreeMap::new();
    for r in cfg.rules.iter() {
        let s = all
            .entry((r.id(), r.topic.to_string()))
            .or_insert_with(|| Arc::new(RuleStats::new(&r.topic)));
        stats.insert(r.id(), Arc::clone(s));
    }
    Active {
        rules: cfg.rules.clone(),
        stats,
        node: cfg.node.clone(),
    }
}

/// Test helpers for the layers above (a settle state without threads, events, rule ids).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::bridge::event::Event;
    use bytes::Bytes;

    /// Shared state with no dispatcher: messages stay in the channel, so the budget and the
    /// overflow policies can be watched without a broker.
    pub(crate) fn shared(
        mode: ProduceMode,
        overflow: OverflowPolicy,
        max_bytes: usize,
    ) -> Arc<Settle> {
        Arc::new(settle(mode, overflow, max_bytes, Duration::ZERO))
    }

    /// Async, no spool, a hold of `max_hold`.
    pub(crate) fn shared_with_hold(max_hold: Duration) -> Arc<Settle> {
        Arc::new(settle(
            ProduceMode::Async,
            OverflowPolicy::Block,
            1 << 20,
            max_hold,
        ))
    }

    /// Async, no hold, these rules (and their other keys) instead of the two default ones.
    pub(crate) fn shared_with_rules(rules: &str) -> Arc<Settle> {
        Arc::new(settle_with(
            rules,
            ProduceMode::Async,
            OverflowPolicy::Block,
            1 << 20,
            Duration::ZERO,
        ))
    }

    /// Two rules (`#` to T1, `a/#` to T2), node n1, key prefix `b1-run`, health window 30 s, no
    /// loss report, no spool; no hold when `hold` is zero.
    fn settle(
        mode: ProduceMode,
        overflow: OverflowPolicy,
        max_bytes: usize,
        hold: Duration,
    ) -> Settle {
        let rules = r##"bridge.rocket.hook.message.publish.1 = {"filter": "#", "topic": "T1"}
bridge.rocket.hook.message.publish.2 = {"filter": "a/#", "topic": "T2"}
"##;
        settle_with(rules, mode, overflow, max_bytes, hold)
    }

    fn settle_with(
        rules: &str,
        mode: ProduceMode,
        overflow: OverflowPolicy,
        max_bytes: usize,
        hold: Duration,
    ) -> Settle {
        let text = format!("{rules}bridge.rocket.node = n1\nbridge.rocket.bridge_id = b1\n");
        let mut cfg = BridgeConfig::parse(&text, "unit.conf").unwrap();
        cfg.produce = mode;
        cfg.buffer_overflow = overflow;
        cfg.buffer_max_bytes = max_bytes;
        cfg.sync_timeout = Duration::from_millis(100);
        cfg.max_message_size = 1024;
        cfg.retry_max_hold = hold;
        Settle::new(&cfg, "b1-run".into(), None)
    }

    pub(crate) fn publish(topic: &str, payload: &'static [u8]) -> Event {
        Event::message_publish("c1", topic, Bytes::from_static(payload), 0).with_ts(1)
    }

    pub(crate) fn rule(i: u32) -> RuleId {
        RuleId {
            event: crate::bridge::EventKind::MessagePublish,
            index: i,
        }
    }
}
