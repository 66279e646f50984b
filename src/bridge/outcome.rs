//! How messages end: the drop and unsent reasons with the names logs, metrics and loss reports
//! use, the per-rule counters, [`BridgeStats`] and the [`ShutdownReport`].
//!
//! The bottom layer of the bridge core: it imports nothing of the bridge but [`RuleId`] (see
//! [`super`] for the layering).

use super::rule::RuleId;
use crate::producer::SendErrorKind;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why a message was dropped without being sent (a message of one rule; the spool drops whole
/// records for reasons of its own, `spool::RecordDropReason`, reported in [`SpoolCounters`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The body is over `producer.max_message_size`.
    TooLarge {
        /// Body size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The byte budget was full (`buffer.overflow = drop_new` or `drop_oldest`).
    Overflow,
    /// The bridge shut down before the message could be handed to the producer.
    Shutdown,
    /// The spool could not store the event (a write failed).
    SpoolError,
    /// The rule's topic template rendered a name that is not a RocketMQ topic.
    BadTopic,
    /// The rule's tag template rendered a value that is not a valid tag.
    BadTag,
    /// The rule's topic template rendered a topic the name servers say does not exist.
    NoTopic,
    /// The rule's topic template rendered a new topic beyond `template.max_topics`.
    TopicCap {
        /// The cap.
        max: usize,
    },
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::TooLarge { size, max } => {
                write!(f, "message body of {size} bytes is over the maximum {max}")
            }
            DropReason::Overflow => write!(
                f,
                "buffer full (buffer.max_bytes), dropped by the overflow policy"
            ),
            DropReason::Shutdown => write!(f, "bridge shut down before the message was sent"),
            DropReason::SpoolError => write!(f, "the spool could not store the event"),
            DropReason::BadTopic => {
                write!(f, "the topic template rendered an invalid RocketMQ topic")
            }
            DropReason::BadTag => write!(f, "the tag template rendered an invalid tag"),
            DropReason::NoTopic => write!(
                f,
                "the topic template rendered a topic the name servers do not know"
            ),
            DropReason::TopicCap { max } => write!(
                f,
                "the rule's topic template reached its cap of {max} distinct topics \
                 (bridge.rocket.template.max_topics)"
            ),
        }
    }
}

/// Why [`EventSender::send`](super::EventSender::send) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendEventError {
    /// The bridge is shut down; nothing of the event was buffered.
    Closed,
    /// A message of the event was dropped.
    Dropped {
        /// The rule.
        rule: RuleId,
        /// Why.
        reason: DropReason,
    },
    /// The broker did not store a message (refused, or it never reached a broker).
    Failed {
        /// The rule.
        rule: RuleId,
        /// The producer's error.
        error: String,
    },
    /// A message may or may not be stored (timeout or connection loss after the write).
    OutcomeUnknown {
        /// The rule.
        rule: RuleId,
        /// What happened.
        detail: String,
    },
    /// Sync mode: no outcome within `produce.sync_timeout` plus a margin; the message may still be
    /// sent.
    Timeout {
        /// Time waited.
        after: Duration,
    },
}

impl fmt::Display for SendEventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendEventError::Closed => write!(f, "the bridge is shut down"),
            SendEventError::Dropped { rule, reason } => write!(f, "rule {rule}: dropped: {reason}"),
            SendEventError::Failed { rule, error } => write!(f, "rule {rule}: not stored: {error}"),
            SendEventError::OutcomeUnknown { rule, detail } => {
                write!(f, "rule {rule}: outcome unknown: {detail}")
            }
            SendEventError::Timeout { after } => {
                write!(
                    f,
                    "no confirmation within {after:?}; the message may still be sent"
                )
            }
        }
    }
}

impl std::error::Error for SendEventError {}

/// Counters of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleCounters {
    /// The rule.
    pub rule: Option<RuleId>,
    /// Its RocketMQ topic.
    pub topic: String,
    /// Events that matched the rule.
    pub matched: u64,
    /// Messages the broker confirmed.
    pub sent: u64,
    /// Messages dropped with the reason `failed`: the broker did not store them (refused, or they
    /// never reached it) after the producer's retries and, in async mode without a spool, after
    /// the in-memory hold (`retry.max_hold`, see [`super::hold`]) ran out or shutdown began.
    pub failed: u64,
    /// Messages whose outcome is unknown (timeout or connection loss after the write) and stayed
    /// so: the broker lookup ([`super::resolve`]) could not settle them within its budget, or it
    /// is off (sync mode).
    pub outcome_unknown: u64,
    /// Outcome-unknown sends the broker lookup found stored: settled as sent (also counted in
    /// `sent`), not sent again.
    pub resolved_stored: u64,
    /// Outcome-unknown sends the broker lookup proved not stored: sent again (their final outcome
    /// is counted as any other's).
    pub resolved_not_stored: u64,
    /// Outcome-unknown sends the lookup could not settle within its budget (also counted in
    /// `outcome_unknown`).
    pub unresolved: u64,
    /// Messages dropped because the body was over `producer.max_message_size`.
    pub dropped_too_large: u64,
    /// Messages dropped by the overflow policy.
    pub dropped_overflow: u64,
    /// Messages dropped because the bridge shut down first.
    pub dropped_shutdown: u64,
    /// Messages dropped because the spool could not store their event.
    pub dropped_spool_error: u64,
    /// Messages dropped because the topic template rendered an invalid topic name.
    pub dropped_bad_topic: u64,
    /// Messages dropped because the tag template rendered an invalid tag.
    pub dropped_bad_tag: u64,
    /// Messages dropped because their rendered topic does not exist.
    pub dropped_no_topic: u64,
    /// Messages dropped because their rule reached `template.max_topics` distinct topics.
    pub dropped_topic_cap: u64,
    /// Plain payloads that were not UTF-8 and were written with U+FFFD replacements.
    pub lossy_payload: u64,
}

/// All counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeStats {
    /// Per rule and topic, by rule id (rules removed by a reload stay; a rule a reload pointed at
    /// another topic has one entry per topic).
    pub rules: Vec<RuleCounters>,
    /// Events no rule matched.
    pub unmatched: u64,
    /// Bytes buffered or in flight now.
    pub buffered_bytes: usize,
    /// Messages buffered or in flight now.
    pub in_flight: usize,
    /// Messages waiting in the dispatcher's channel now.
    pub queue_depth: usize,
    /// The spool's counters, when a spool is configured.
    pub spool: Option<SpoolCounters>,
    /// Loss reports sent to `loss_report.topic`.
    pub loss_reports_sent: u64,
    /// Loss report sends that failed (the losses were kept for the next report).
    pub loss_report_failures: u64,
    /// Messages held in memory for a re-send now (async without a spool, [`super::hold`]); they
    /// are part of `in_flight` and `buffered_bytes`.
    pub held: usize,
    /// Re-sends of held messages so far.
    pub held_resent: u64,
    /// Outcome-unknown sends waiting for the broker lookup now ([`super::resolve`]); part of
    /// `in_flight` and `buffered_bytes`.
    pub resolving: usize,
    /// The producer's counters: brokers that refused batch sends and now get single sends, and
    /// the messages of batches sent one by one ([`crate::producer::ProducerStats`]).
    pub producer: crate::producer::ProducerStats,
}

impl BridgeStats {
    /// The sum over all rules.
    pub fn total(&self) -> RuleCounters {
        let mut t = RuleCounters::default();
        for r in &self.rules {
            t.matched += r.matched;
            t.sent += r.sent;
            t.failed += r.failed;
            t.outcome_unknown += r.outcome_unknown;
            t.resolved_stored += r.resolved_stored;
            t.resolved_not_stored += r.resolved_not_stored;
            t.unresolved += r.unresolved;
            t.dropped_too_large += r.dropped_too_large;
            t.dropped_overflow += r.dropped_overflow;
            t.dropped_shutdown += r.dropped_shutdown;
            t.dropped_spool_error += r.dropped_spool_error;
            t.dropped_bad_topic += r.dropped_bad_topic;
            t.dropped_bad_tag += r.dropped_bad_tag;
            t.dropped_no_topic += r.dropped_no_topic;
            t.dropped_topic_cap += r.dropped_topic_cap;
            t.lossy_payload += r.lossy_payload;
        }
        t
    }

    /// The counters of one rule (its first topic, when a reload changed it; see [`BridgeStats::rules`]).
    pub fn rule(&self, id: RuleId) -> Option<&RuleCounters> {
        self.rules.iter().find(|r| r.rule == Some(id))
    }
}

/// How a message ended without being confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnsentReason {
    /// The broker did not store it.
    Failed(String),
    /// It may or may not be stored.
    OutcomeUnknown(String),
    /// It was dropped (shutdown deadline, overflow, size).
    Dropped(DropReason),
}

impl fmt::Display for UnsentReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsentReason::Failed(e) => write!(f, "not stored: {e}"),
            UnsentReason::OutcomeUnknown(e) => write!(f, "outcome unknown: {e}"),
            UnsentReason::Dropped(r) => write!(f, "dropped: {r}"),
        }
    }
}

/// One message that was not confirmed during shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unsent {
    /// The rule.
    pub rule: RuleId,
    /// The RocketMQ topic.
    pub topic: String,
    /// The message key (`<bridge_id>-<run>-<seq>`).
    pub key: String,
    /// The MQTT client id, if known.
    pub client_id: Option<String>,
    /// What happened.
    pub reason: UnsentReason,
}

impl fmt::Display for Unsent {
    /// `rule=R topic=T key=K client_id=C reason` (`-` for no client id), as the shutdown report
    /// and `run`'s summary list it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule={} topic={} key={} client_id={} {}",
            self.rule,
            self.topic,
            self.key,
            self.client_id.as_deref().unwrap_or("-"),
            self.reason
        )
    }
}

/// What [`Bridge::shutdown`](super::Bridge::shutdown) achieved.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// True when every buffered message got its outcome before the deadline.
    pub drained: bool,
    /// Time the shutdown took.
    pub elapsed: Duration,
    /// Messages confirmed during the shutdown.
    pub sent_during_shutdown: u64,
    /// Every message that was not confirmed during the shutdown, with the reason.
    pub unsent: Vec<Unsent>,
    /// The final counters.
    pub stats: BridgeStats,
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.stats.total();
        write!(
            f,
            "shutdown in {:?}: {} sent during shutdown, {} not sent; totals: matched={} sent={} failed={} \
             outcome_unknown={} resolved_stored={} resolved_not_stored={} unresolved={} \
             dropped_too_large={} dropped_overflow={} dropped_shutdown={} dropped_bad_topic={} \
             dropped_bad_tag={} dropped_no_topic={} dropped_topic_cap={} unmatched={}",
            self.elapsed,
            self.sent_during_shutdown,
            self.unsent.len(),
            t.matched,
            t.sent,
            t.failed,
            t.outcome_unknown,
            t.resolved_stored,
            t.resolved_not_stored,
            t.unresolved,
            t.dropped_too_large,
            t.dropped_overflow,
            t.dropped_shutdown,
            t.dropped_bad_topic,
            t.dropped_bad_tag,
            t.dropped_no_topic,
            t.dropped_topic_cap,
            self.stats.unmatched
        )?;
        for u in &self.unsent {
            write!(f, "\n  not sent: {u}")?;
        }
        Ok(())
    }
}

/// The live counters of one rule sending to one topic (a snapshot is a [`RuleCounters`]).
#[derive(Default)]
pub(crate) struct RuleStats {
    pub(crate) topic: String,
    pub(crate) matched: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) outcome_unknown: AtomicU64,
    pub(crate) resolved_stored: AtomicU64,
    pub(crate) resolved_not_stored: AtomicU64,
    pub(crate) unresolved: AtomicU64,
    pub(crate) dropped_too_large: AtomicU64,
    pub(crate) dropped_overflow: AtomicU64,
    pub(crate) dropped_shutdown: AtomicU64,
    pub(crate) dropped_spool_error: AtomicU64,
    pub(crate) dropped_bad_topic: AtomicU64,
    pub(crate) dropped_bad_tag: AtomicU64,
    pub(crate) dropped_no_topic: AtomicU64,
    pub(crate) dropped_topic_cap: AtomicU64,
    pub(crate) lossy_payload: AtomicU64,
}

impl RuleStats {
    /// Zeroed counters for `topic`.
    pub(crate) fn new(topic: &str) -> RuleStats {
        RuleStats {
            topic: topic.to_owned(),
            ..RuleStats::default()
        }
    }

    /// The counter a drop with `reason` adds to.
    pub(crate) fn dropped(&self, reason: &DropReason) -> &AtomicU64 {
        match reason {
            DropReason::TooLarge { .. } => &self.dropped_too_large,
            DropReason::Overflow => &self.dropped_overflow,
            DropReason::Shutdown => &self.dropped_shutdown,
            DropReason::SpoolError => &self.dropped_spool_error,
            DropReason::BadTopic => &self.dropped_bad_topic,
            DropReason::BadTag => &self.dropped_bad_tag,
            DropReason::NoTopic => &self.dropped_no_topic,
            DropReason::TopicCap { .. } => &self.dropped_topic_cap,
        }
    }

    /// A snapshot, as [`BridgeStats::rules`] lists it.
    pub(crate) fn snapshot(&self, rule: RuleId) -> RuleCounters {
        RuleCounters {
            rule: Some(rule),
            topic: self.topic.clone(),
            matched: self.matched.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            outcome_unknown: self.outcome_unknown.load(Ordering::Relaxed),
            resolved_stored: self.resolved_stored.load(Ordering::Relaxed),
            resolved_not_stored: self.resolved_not_stored.load(Ordering::Relaxed),
            unresolved: self.unresolved.load(Ordering::Relaxed),
            dropped_too_large: self.dropped_too_large.load(Ordering::Relaxed),
            dropped_overflow: self.dropped_overflow.load(Ordering::Relaxed),
            dropped_shutdown: self.dropped_shutdown.load(Ordering::Relaxed),
            dropped_spool_error: self.dropped_spool_error.load(Ordering::Relaxed),
            dropped_bad_topic: self.dropped_bad_topic.load(Ordering::Relaxed),
            dropped_bad_tag: self.dropped_bad_tag.load(Ordering::Relaxed),
            dropped_no_topic: self.dropped_no_topic.load(Ordering::Relaxed),
            dropped_topic_cap: self.dropped_topic_cap.load(Ordering::Relaxed),
            lossy_payload: self.lossy_payload.load(Ordering::Relaxed),
        }
    }
}

impl UnsentReason {
    /// How the producer's error ends a message: unknown outcome, dropped (too large, producer
    /// closed) or failed.
    pub(crate) fn from_send_error(kind: &SendErrorKind) -> UnsentReason {
        match kind {
            SendErrorKind::OutcomeUnknown { .. } => UnsentReason::OutcomeUnknown(kind.to_string()),
            SendErrorKind::TooLarge { size, max } => UnsentReason::Dropped(DropReason::TooLarge {
                size: *size,
                max: *max,
            }),
            SendErrorKind::Closed => UnsentReason::Dropped(DropReason::Shutdown),
            other => UnsentReason::Failed(other.to_string()),
        }
    }

    /// The name the loss report gives this ending (`failed`, `outcome_unknown`, or the drop
    /// reason's [`DropReason::name`]).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            UnsentReason::Failed(_) => "failed",
            UnsentReason::OutcomeUnknown(_) => "outcome_unknown",
            UnsentReason::Dropped(r) => r.name(),
        }
    }
}

impl DropReason {
    /// The reason's name in counters (`dropped_<name>`), logs and loss reports.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            DropReason::TooLarge { .. } => "too_large",
            DropReason::Overflow => "overflow",
            DropReason::Shutdown => "shutdown",
            DropReason::SpoolError => "spool_error",
            DropReason::BadTopic => "bad_topic",
            DropReason::BadTag => "bad_tag",
            DropReason::NoTopic => "no_topic",
            DropReason::TopicCap { .. } => "topic_cap",
        }
    }
}

/// Counters of the spooled path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolCounters {
    /// Bytes of all segments.
    pub bytes: u64,
    /// The size cap (`spool.max_bytes`): at this size the oldest segment is dropped.
    pub max_bytes: u64,
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
    /// `spool::RecordDropReason::PossiblyLost`). Reported, but not counted against this run's
    /// `all_sent`: it is a bound on what an earlier process may have lost, not a known loss.
    pub possibly_lost: u64,
    /// Records that did not decode (skipped and acknowledged, so never sent): counted in
    /// `rocketmq_bridge_spool_dropped_total{reason="undecodable"}` and the loss report's `spool`
    /// list, and a run with any is not `all_sent`.
    pub undecodable: u64,
}
