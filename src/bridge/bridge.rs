//! The dispatcher: hosts hand events to an [`EventSender`]; each event is matched against the hook
//! rules and formatted on the host's thread, the resulting messages wait in a bounded channel under
//! a byte budget, and one dispatcher thread groups them into batches per topic and queue and hands
//! them to the [`Producer`].
//!
//! ```text
//!  host threads --EventSender::send--> match + format --[bounded channel, byte budget]--> dispatcher
//!      ^  sync: waits for the outcome                                                      |  batches per
//!      |                                                                                   v  (topic, queue)
//!      +-------------------------- callbacks (sent / failed / unknown) <-------------- Producer (async)
//! ```
//!
//! # Guarantees
//!
//! - **Sync** (`produce = sync`): [`EventSender::send`] returns `Ok` once the broker confirmed every
//!   message of the event (one per matching rule), or the first error.
//! - **Async**: `send` returns once the event's messages are buffered; outcomes are counted per rule
//!   ([`Bridge::stats`]). `Err` from an async send means a message was dropped before buffering
//!   (too large, overflow policy) or the bridge is closed.
//! - **Order**: with `producer.queue_strategy = key_dispatch` (default) all messages of one MQTT
//!   client id go to the same queue of a topic while the topic's route is unchanged, and they are
//!   handed to the producer in the order the host sent the events; the producer keeps one request
//!   of the client's ordering lane in flight at a time ([`producer::ORDER_LANES`] per queue), so
//!   one host thread's events for one client are stored in order, unless a send attempt fails and
//!   is retried on another broker. Batches of other lanes of the queue travel at the same time.
//!   Events from different host threads for the same client are ordered as they entered the
//!   channel. `roundrobin` gives no order.
//! - **Dedup key**: every event gets the key `<bridge_id>-<run>-<seq>` (RocketMQ `KEYS`), where `run`
//!   is the bridge's start time in ms (hex) and `seq` counts events from 0. All messages of one event
//!   (one per rule) share it, and retries resend the same message, so a consumer that saw a key
//!   once can drop a repeat.
//! - **Memory**: messages waiting or in flight never exceed `buffer.max_bytes`, counting body,
//!   properties and topic of each (the config keeps it at least one maximal message);
//!   `buffer.overflow` says what happens when full. A message whose body is over `producer.max_message_size` is dropped at once and counted as `dropped_too_large`.
//! - **Reload** ([`Bridge::reload`]) swaps the rules and the node name; messages already buffered
//!   are sent as they were formatted.
//! - **Hold** (async without a spool, `retry.max_hold`, default 60 s): a message the producer hands
//!   back as certainly not stored (broker down, no route, retryable refusal) is held in memory with
//!   its budget bytes and re-sent with the same key after a backoff (500 ms doubling to 5 s) until
//!   the hold limit passes or shutdown begins; only then is it dropped as `failed`. An unknown
//!   outcome is never re-sent. Held messages can be stored after later messages of the same client
//!   (see [`super::hold`]).
//! - **Every message ends once** as sent, dropped with a reason (`too_large`, `overflow`,
//!   `shutdown`, `spool_error`, or `failed`: not stored after the retries and the hold; counted in
//!   [`RuleCounters::failed`]), or outcome unknown.
//! - **Spool** (`spool.dir`, async only): events go to disk first and are sent from there; see
//!   [`super::spooled`]. Loss reports: [`super::loss_report`]; health and metrics:
//!   [`super::health`].
//! - **Shutdown** ([`Bridge::shutdown`]) stops accepting events, sends what is buffered, waits for
//!   the outcomes up to a deadline and returns a [`ShutdownReport`] listing every message that was
//!   not confirmed.

use super::config::{BridgeConfig, OverflowPolicy, ProduceMode, QueueStrategy};
use super::event::Event;
use super::format::{format_event, now_ms, write_message_properties, MAX_PROPERTY_VALUE_LEN};
use super::rule::{RuleId, RuleSet};
use crate::message::{batch_record_len, Message, Properties, PROPERTY_KEYS, PROPERTY_TAGS};
use crate::producer::{
    self, key_hash, order_lane, Producer, ProducerConfig, ProducerError, SendError, SendErrorKind,
    SendResult, ORDER_LANES,
};
use crossbeam_channel::{bounded, never, select, tick, Receiver, Sender, TryRecvError};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Messages the channel holds at most. crossbeam preallocates a bounded channel's slots, so this is
/// kept small: the byte budget is the real bound on buffered events.
pub const CHANNEL_CAPACITY: usize = 1_024;
/// Bytes counted per message for what is not its text: the `Message`, `Meta` and `Outgoing` structs,
/// the producer's job and send id, and the allocator's per-allocation overhead.
const MESSAGE_OVERHEAD: usize = 1024;

/// The heap a buffered message holds, as the byte budget counts it: body and properties twice (the
/// message itself, and the request body the producer encodes from it and keeps until the broker
/// answers), the topic, the key twice (property and bookkeeping), the client id, and the fixed
/// [`MESSAGE_OVERHEAD`]. Measured against peak RSS, this keeps a bridge's memory near
/// `buffer.max_bytes` plus its fixed footprint (see the README's memory section).
pub(crate) fn budget_bytes(
    body: usize,
    props: usize,
    topic: usize,
    key: usize,
    client_id: usize,
) -> usize {
    2 * (body + props) + topic + 2 * key + client_id + MESSAGE_OVERHEAD
}
/// Messages the dispatcher collects before it flushes, however busy the channel.
const MAX_COLLECT: usize = 8192;
/// A partial batch of a topic is sent only while fewer than this many of the topic's requests are
/// in flight (or once it waited [`MAX_PARTIAL_WAIT`]). Brokers take a request in about the same
/// time whatever its size (rocketmq-rust 1.0: about 1,400 requests per second, 100 or 25 messages
/// each), so under load small requests would cost throughput; a few requests in flight already
/// keep the broker busy. KeyDispatch also sends a group's partial batch only while nothing of its
/// ordering lane is in flight, as the producer would hold it back anyway.
const PARTIAL_IN_FLIGHT: usize = 4;
/// The longest a partial batch waits for its topic's requests in flight to fall below
/// [`PARTIAL_IN_FLIGHT`] (checked whenever the dispatcher wakes, at least every [`GATHER_POLL`]).
const MAX_PARTIAL_WAIT: Duration = Duration::from_millis(50);

/// Extra time a sync host waits beyond `produce.sync_timeout` (queueing and batching).
const SYNC_WAIT_MARGIN: Duration = Duration::from_secs(2);

// ------------------------------------------------------------------------------------------------
// Errors and reports

/// Why [`Bridge::start`] or [`Bridge::reload`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BridgeError {
    /// The producer could not start.
    Producer(ProducerError),
    /// Target topics without a usable route while a live broker is registered with the name
    /// servers: each topic with the name server's answer (the topic does not exist and cannot be
    /// auto-created, or has no writable queue). Nothing was started (or, for a reload, the old
    /// rules stay).
    MissingTopics(Vec<(String, String)>),
    /// No name server answered: RocketMQ is down or `bridge.rocket.servers` is wrong. Whether the
    /// topics exist is unknown. Returned only without a spool; with one the bridge starts and
    /// looks the routes up in the background.
    NameServerUnreachable {
        /// The name servers asked.
        servers: String,
        /// The last transport error.
        detail: String,
    },
    /// The name servers answer but no broker is registered with them (the brokers are down or not
    /// started yet; a name server forgets a dead broker's topics at once), so the topics cannot be
    /// checked: they are not reported missing. Returned only without a spool; with one the bridge
    /// starts and looks the routes up in the background.
    NoBroker {
        /// The name servers asked.
        servers: String,
        /// The target topics without a route.
        topics: Vec<String>,
    },
    /// The bridge is shut down.
    Closed,
    /// The spool (`bridge.rocket.spool.dir`) could not be opened.
    Spool(crate::spool::SpoolError),
    /// The metrics endpoint (`bridge.rocket.metrics.listen`) could not start.
    Metrics(crate::metrics::MetricsError),
    /// A spool was configured with `produce = sync` (the config loader refuses this; a config
    /// built in code gets this error).
    SpoolNeedsAsync,
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeError::Producer(e) => write!(f, "cannot start the producer: {e}"),
            BridgeError::MissingTopics(list) => {
                write!(f, "{} target topic(s) have no route:", list.len())?;
                for (topic, why) in list {
                    write!(f, "\n  topic {topic}: {why}")?;
                }
                write!(
                    f,
                    "\na broker is registered with the name servers, so the topics are missing (or not writable): create them \
                     (mqadmin updateTopic -t TOPIC -c CLUSTER) or enable autoCreateTopicEnable on the broker"
                )
            }
            BridgeError::NameServerUnreachable { servers, detail } => write!(
                f,
                "no RocketMQ name server reachable at {servers} ({detail}): RocketMQ is down or \
                 bridge.rocket.servers is wrong; the target topics could not be checked. Start RocketMQ \
                 (or fix the addresses); with bridge.rocket.spool.dir set the bridge starts anyway, \
                 stores events on disk and sends them once RocketMQ is reachable"
            ),
            BridgeError::NoBroker { servers, topics } => write!(
                f,
                "no RocketMQ broker is registered with the name server(s) at {servers}: the brokers are \
                 down or not started yet, so the route of {} cannot be known (the topics are not \
                 necessarily missing). Start the brokers; with bridge.rocket.spool.dir set the bridge \
                 starts anyway, stores events on disk and sends them once a broker is back",
                topics.join(", ")
            ),
            BridgeError::Closed => write!(f, "the bridge is shut down"),
            BridgeError::Spool(e) => write!(f, "cannot open the spool: {e}"),
            BridgeError::Metrics(e) => write!(f, "cannot start the metrics endpoint: {e}"),
            BridgeError::SpoolNeedsAsync => {
                write!(f, "a spool needs bridge.rocket.produce = async")
            }
        }
    }
}

impl std::error::Error for BridgeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BridgeError::Producer(e) => Some(e),
            BridgeError::Spool(e) => Some(e),
            BridgeError::Metrics(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a message was dropped without being sent.
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
        }
    }
}

/// Why [`EventSender::send`] failed.
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
    /// Messages whose outcome is unknown (timeout or connection loss after the write).
    pub outcome_unknown: u64,
    /// Messages dropped because the body was over `producer.max_message_size`.
    pub dropped_too_large: u64,
    /// Messages dropped by the overflow policy.
    pub dropped_overflow: u64,
    /// Messages dropped because the bridge shut down first.
    pub dropped_shutdown: u64,
    /// Messages dropped because the spool could not store their event.
    pub dropped_spool_error: u64,
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
    pub spool: Option<super::spooled::SpoolCounters>,
    /// Loss reports sent to `loss_report.topic`.
    pub loss_reports_sent: u64,
    /// Loss report sends that failed (the losses were kept for the next report).
    pub loss_report_failures: u64,
    /// Messages held in memory for a re-send now (async without a spool, [`super::hold`]); they
    /// are part of `in_flight` and `buffered_bytes`.
    pub held: usize,
    /// Re-sends of held messages so far.
    pub held_resent: u64,
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
            t.dropped_too_large += r.dropped_too_large;
            t.dropped_overflow += r.dropped_overflow;
            t.dropped_shutdown += r.dropped_shutdown;
            t.dropped_spool_error += r.dropped_spool_error;
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

/// What [`Bridge::shutdown`] achieved.
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
             outcome_unknown={} dropped_too_large={} dropped_overflow={} dropped_shutdown={} unmatched={}",
            self.elapsed,
            self.sent_during_shutdown,
            self.unsent.len(),
            t.matched,
            t.sent,
            t.failed,
            t.outcome_unknown,
            t.dropped_too_large,
            t.dropped_overflow,
            t.dropped_shutdown,
            self.stats.unmatched
        )?;
        for u in &self.unsent {
            write!(
                f,
                "\n  not sent: rule={} topic={} key={} client_id={} {}",
                u.rule,
                u.topic,
                u.key,
                u.client_id.as_deref().unwrap_or("-"),
                u.reason
            )?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------------
// Shared state

#[derive(Default)]
pub(crate) struct RuleStats {
    topic: String,
    matched: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    outcome_unknown: AtomicU64,
    dropped_too_large: AtomicU64,
    dropped_overflow: AtomicU64,
    dropped_shutdown: AtomicU64,
    dropped_spool_error: AtomicU64,
    lossy_payload: AtomicU64,
}

/// The rules in force, with their counters and the node name.
struct Active {
    rules: RuleSet,
    stats: HashMap<RuleId, Arc<RuleStats>>,
    node: String,
}

/// Bytes buffered or in flight, with a condvar for `block`.
pub(crate) struct Budget {
    max: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

impl Budget {
    fn try_acquire(&self, n: usize) -> bool {
        let mut used = self.used.lock();
        // One message always fits into an empty budget, so an event larger than the budget (but
        // within max_message_size) cannot block forever.
        if *used == 0 || *used + n <= self.max {
            *used += n;
            true
        } else {
            false
        }
    }

    /// Waits for room; false when `closed` was set while waiting.
    pub(crate) fn acquire_blocking(&self, n: usize, closed: &AtomicBool) -> bool {
        let mut used = self.used.lock();
        loop {
            if *used == 0 || *used + n <= self.max {
                *used += n;
                return true;
            }
            if closed.load(Ordering::SeqCst) {
                return false;
            }
            self.freed.wait_for(&mut used, Duration::from_millis(50));
        }
    }

    fn release(&self, n: usize) {
        let mut used = self.used.lock();
        *used = used.saturating_sub(n);
        drop(used);
        self.freed.notify_all();
    }

    fn used(&self) -> usize {
        *self.used.lock()
    }
}

/// The outcome of a sync event: one result per message, first error wins.
pub(crate) struct Waiter {
    remaining: AtomicUsize,
    first_error: Mutex<Option<SendEventError>>,
    tx: Sender<Result<(), SendEventError>>,
}

impl Waiter {
    fn complete(&self, r: Result<(), SendEventError>) {
        if let Err(e) = r {
            self.first_error.lock().get_or_insert(e);
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let res = match self.first_error.lock().take() {
                Some(e) => Err(e),
                None => Ok(()),
            };
            let _ = self.tx.try_send(res);
        }
    }
}

/// What travels with a message, for counting and reporting its outcome.
pub(crate) struct Meta {
    pub(crate) rule: RuleId,
    pub(crate) stats: Arc<RuleStats>,
    pub(crate) key: String,
    pub(crate) client_id: Option<String>,
    pub(crate) bytes: usize,
    pub(crate) waiter: Option<Arc<Waiter>>,
    /// The event's sequence number (the key's last part), for the loss report.
    pub(crate) seq: Option<u64>,
    /// Set when the message comes from the spool.
    pub(crate) spool: Option<super::spooled::SpoolTicket>,
    /// Set once the message was held for a re-send ([`super::hold`]): its first failure and the
    /// re-sends so far.
    pub(crate) held: Option<(Instant, u32)>,
}

/// One message waiting in the channel.
pub(crate) struct Outgoing {
    pub(crate) msg: Message,
    pub(crate) meta: Meta,
}

pub(crate) struct Shared {
    mode: ProduceMode,
    overflow: OverflowPolicy,
    strategy: QueueStrategy,
    sync_timeout: Duration,
    max_message_size: usize,
    key_prefix: String,
    seq: AtomicU64,
    active: RwLock<Arc<Active>>,
    /// Every rule's counters by (rule, topic): a reload that points a rule at another topic starts a
    /// new entry, and removed rules keep theirs.
    all_stats: Mutex<BTreeMap<(RuleId, String), Arc<RuleStats>>>,
    unmatched: AtomicU64,
    pub(crate) budget: Budget,
    pub(crate) in_flight: AtomicUsize,
    closed: AtomicBool,
    pub(crate) tx: Sender<Outgoing>,
    rx: Receiver<Outgoing>,
    /// While shutting down: messages that ended unconfirmed, and the count confirmed.
    shutdown_log: Mutex<Option<Vec<Unsent>>>,
    sent_during_shutdown: AtomicU64,
    /// Send outcomes per topic, for the health status.
    pub(crate) health: super::health::HealthTracker,
    /// Losses not yet reported in band.
    pub(crate) losses: super::loss_report::LossLedger,
    /// The spool, when configured.
    pub(crate) spool: Option<Arc<super::spooled::SpoolSide>>,
    /// Async without a spool, `retry.max_hold` > 0: messages held for a re-send.
    pub(crate) hold: Option<super::hold::HoldQueue>,
}

impl Shared {
    fn stats(&self) -> BridgeStats {
        let rules = self
            .all_stats
            .lock()
            .iter()
            .map(|((id, _), s)| RuleCounters {
                rule: Some(*id),
                topic: s.topic.clone(),
                matched: s.matched.load(Ordering::Relaxed),
                sent: s.sent.load(Ordering::Relaxed),
                failed: s.failed.load(Ordering::Relaxed),
                outcome_unknown: s.outcome_unknown.load(Ordering::Relaxed),
                dropped_too_large: s.dropped_too_large.load(Ordering::Relaxed),
                dropped_overflow: s.dropped_overflow.load(Ordering::Relaxed),
                dropped_shutdown: s.dropped_shutdown.load(Ordering::Relaxed),
                dropped_spool_error: s.dropped_spool_error.load(Ordering::Relaxed),
                lossy_payload: s.lossy_payload.load(Ordering::Relaxed),
            })
            .collect();
        BridgeStats {
            rules,
            unmatched: self.unmatched.load(Ordering::Relaxed),
            buffered_bytes: self.budget.used(),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            queue_depth: self.rx.len(),
            spool: self.spool.as_ref().map(|s| s.counters()),
            loss_reports_sent: self.losses.reports_sent(),
            loss_report_failures: self.losses.report_failures(),
            held: self.hold.as_ref().map_or(0, |h| h.len()),
            held_resent: self.hold.as_ref().map_or(0, |h| h.resent()),
        }
    }

    /// The counters of `rule` sending to `topic` (created when a reload or a restart changed the
    /// rules since the event was spooled).
    pub(crate) fn rule_stats(&self, rule: RuleId, topic: &str) -> Arc<RuleStats> {
        if let Some(s) = self.active.read().stats.get(&rule) {
            if s.topic == topic {
                return Arc::clone(s);
            }
        }
        let mut all = self.all_stats.lock();
        Arc::clone(all.entry((rule, topic.to_owned())).or_insert_with(|| {
            Arc::new(RuleStats {
                topic: topic.to_owned(),
                ..RuleStats::default()
            })
        }))
    }

    /// [`Shared::finish`] with `Ok` for every message of a stored batch, with the shared work done
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
        let rule = meta.rule;
        match &outcome {
            Ok(()) => self.health.success(topic),
            Err(UnsentReason::Failed(_) | UnsentReason::OutcomeUnknown(_)) => {
                self.health.failure(topic)
            }
            Err(UnsentReason::Dropped(_)) => {}
        }
        // A spooled message that failed is sent again from the spool: not an outcome yet.
        let outcome = match &meta.spool {
            Some(t) => match t.side.settle(t, outcome) {
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
            self.losses
                .record(rule, topic, super::loss_report::reason_name(r), meta.seq);
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
                let c = match r {
                    DropReason::TooLarge { .. } => &meta.stats.dropped_too_large,
                    DropReason::Overflow => &meta.stats.dropped_overflow,
                    DropReason::Shutdown => &meta.stats.dropped_shutdown,
                    DropReason::SpoolError => &meta.stats.dropped_spool_error,
                };
                c.fetch_add(1, Ordering::Relaxed);
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
                    key: meta.key.clone(),
                    client_id: meta.client_id.clone(),
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
    fn fail_or_hold(
        &self,
        msg: Option<Message>,
        mut meta: Meta,
        topic: &str,
        kind: &SendErrorKind,
    ) {
        let mut reason = unsent_reason(kind);
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

    /// Shutdown: every held message ends as `failed`.
    fn fail_held(&self) {
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
    fn drop_oldest(&self) -> bool {
        if let Some(old) = self.hold.as_ref().and_then(|h| h.pop_oldest()) {
            let topic = old.msg.topic.clone();
            self.finish(
                old.meta,
                &topic,
                Err(UnsentReason::Dropped(DropReason::Overflow)),
            );
            return true;
        }
        match self.rx.try_recv() {
            Ok(old) => {
                let topic = old.msg.topic.clone();
                self.finish(
                    old.meta,
                    &topic,
                    Err(UnsentReason::Dropped(DropReason::Overflow)),
                );
                true
            }
            Err(_) => false,
        }
    }
}

fn unsent_reason(kind: &SendErrorKind) -> UnsentReason {
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

// ------------------------------------------------------------------------------------------------
// EventSender

/// The hosts' handle: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct EventSender {
    shared: Arc<Shared>,
}

impl fmt::Debug for EventSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSender")
            .field("mode", &self.shared.mode)
            .finish()
    }
}

impl EventSender {
    /// Sends one event to every rule it matches. An event no rule matches returns `Ok` at once.
    ///
    /// In sync mode this returns after the broker confirmed every message of the event; in async
    /// mode once they are buffered. With `buffer.overflow = block` it waits for room in the byte
    /// budget.
    ///
    /// # Errors
    /// [`SendEventError`]: closed, a message dropped (too large, overflow), or in sync mode the
    /// broker's failure, an unknown outcome, or no outcome in time.
    pub fn send(&self, mut ev: Event) -> Result<(), SendEventError> {
        let sh = &*self.shared;
        if sh.closed.load(Ordering::SeqCst) {
            return Err(SendEventError::Closed);
        }
        // One timestamp for all rules' messages of this event.
        if ev.ts.is_none() {
            ev.ts = Some(now_ms());
        }
        let active = Arc::clone(&sh.active.read());
        let mut matched = active.rules.matching(&ev).peekable();
        if matched.peek().is_none() {
            sh.unmatched.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let seq = sh.seq.fetch_add(1, Ordering::Relaxed);
        let key = format!("{}-{seq}", sh.key_prefix);
        // Room for KEYS, TAGS and the MQTT metadata in one allocation per message.
        // The fixed names and values (about 80 bytes) and the producer's UNIQ_KEY (42), so that
        // no property push reallocates.
        let props_room = 144
            + key.len()
            + ev.client_id.as_ref().map_or(0, String::len)
            + ev.topic
                .as_ref()
                .map_or(0, |t| t.len().min(MAX_PROPERTY_VALUE_LEN));
        let client_id = ev.client_id.clone();

        let mut first_error: Option<SendEventError> = None;
        let mut ready: Vec<Outgoing> = Vec::new();
        for rule in matched {
            let stats = Arc::clone(&active.stats[&rule.id()]);
            stats.matched.fetch_add(1, Ordering::Relaxed);
            let mut body =
                Vec::with_capacity(128 + ev.payload.as_ref().map_or(0, |p| p.len() * 4 / 3));
            let info = format_event(&ev, &active.node, rule.payload_encoding, &mut body);
            if info.lossy_payload {
                stats.lossy_payload.fetch_add(1, Ordering::Relaxed);
            }
            if body.len() > sh.max_message_size {
                stats.dropped_too_large.fetch_add(1, Ordering::Relaxed);
                sh.losses.record(
                    rule.id(),
                    &rule.topic,
                    "too_large",
                    sh.spool.is_none().then_some(seq),
                );
                log::debug!(
                    "bridge message too large rule={} key={key} size={} max={}",
                    rule.id(),
                    body.len(),
                    sh.max_message_size
                );
                first_error.get_or_insert(SendEventError::Dropped {
                    rule: rule.id(),
                    reason: DropReason::TooLarge {
                        size: body.len(),
                        max: sh.max_message_size,
                    },
                });
                continue;
            }
            let mut props =
                Properties::with_capacity(props_room + rule.tag.as_ref().map_or(0, String::len));
            props.push(PROPERTY_KEYS, &key);
            if let Some(tag) = &rule.tag {
                props.push(PROPERTY_TAGS, tag);
            }
            write_message_properties(&ev, &mut props);
            let bytes = budget_bytes(
                body.len(),
                props.encoded_len(),
                rule.topic.len(),
                key.len(),
                client_id.as_ref().map_or(0, String::len),
            );
            let mut msg = Message::new(rule.topic.clone(), body);
            msg.properties = props;
            ready.push(Outgoing {
                msg,
                meta: Meta {
                    rule: rule.id(),
                    stats,
                    key: key.clone(),
                    client_id: client_id.clone(),
                    bytes,
                    waiter: None,
                    seq: sh.spool.is_none().then_some(seq),
                    spool: None,
                    held: None,
                },
            });
        }
        drop(active);
        if let Some(sp) = &sh.spool {
            // Spooled (async only): one record for all rules; the reader sends it.
            if ready.is_empty() {
                return first_error.map_or(Ok(()), Err);
            }
            return match sp.append(sh, ready) {
                Ok(_) => first_error.map_or(Ok(()), Err),
                Err((rule, reason)) => {
                    Err(first_error.unwrap_or(SendEventError::Dropped { rule, reason }))
                }
            };
        }

        let waiter = if sh.mode == ProduceMode::Sync && !ready.is_empty() {
            let (tx, rx) = bounded(1);
            let w = Arc::new(Waiter {
                remaining: AtomicUsize::new(ready.len()),
                first_error: Mutex::new(None),
                tx,
            });
            Some((w, rx))
        } else {
            None
        };
        for mut out in ready {
            out.meta.waiter = waiter.as_ref().map(|(w, _)| Arc::clone(w));
            if let Err(e) = self.enqueue(out) {
                first_error.get_or_insert(e);
            }
        }
        match waiter {
            None => first_error.map_or(Ok(()), Err),
            Some((_, rx)) => {
                let limit = sh.sync_timeout + SYNC_WAIT_MARGIN;
                let outcome = match rx.recv_timeout(limit) {
                    Ok(r) => r,
                    Err(_) => Err(SendEventError::Timeout { after: limit }),
                };
                match (first_error, outcome) {
                    (Some(e), _) => Err(e),
                    (None, r) => r,
                }
            }
        }
    }

    /// Takes room in the budget per the overflow policy and puts the message in the channel.
    fn enqueue(&self, out: Outgoing) -> Result<(), SendEventError> {
        let sh = &*self.shared;
        let n = out.meta.bytes;
        sh.in_flight.fetch_add(1, Ordering::SeqCst);
        let admitted = match sh.overflow {
            OverflowPolicy::Block => sh.budget.acquire_blocking(n, &sh.closed),
            OverflowPolicy::DropNew => sh.budget.try_acquire(n),
            OverflowPolicy::DropOldest => loop {
                if sh.budget.try_acquire(n) {
                    break true;
                }
                if !sh.drop_oldest() {
                    // Everything buffered is already with the producer: wait for room.
                    break sh.budget.acquire_blocking(n, &sh.closed);
                }
            },
        };
        if !admitted {
            let reason = if sh.closed.load(Ordering::SeqCst) {
                DropReason::Shutdown
            } else {
                DropReason::Overflow
            };
            let rule = out.meta.rule;
            let topic = out.msg.topic.clone();
            // Nothing was acquired, so finish() must release nothing.
            let mut meta = out.meta;
            meta.bytes = 0;
            sh.finish(meta, &topic, Err(UnsentReason::Dropped(reason.clone())));
            return Err(if reason == DropReason::Shutdown {
                SendEventError::Closed
            } else {
                SendEventError::Dropped { rule, reason }
            });
        }
        if let Err(crossbeam_channel::SendError(out)) = sh.tx.send(out) {
            let topic = out.msg.topic.clone();
            sh.finish(
                out.meta,
                &topic,
                Err(UnsentReason::Dropped(DropReason::Shutdown)),
            );
            return Err(SendEventError::Closed);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------------
// Bridge

/// A running bridge. [`Bridge::sender`] gives hosts their handle; [`Bridge::shutdown`] (or drop,
/// with `drain_timeout`) stops it.
pub struct Bridge {
    shared: Arc<Shared>,
    producer: Option<Producer>,
    dispatcher: Option<(JoinHandle<()>, Receiver<()>)>,
    stop_tx: Option<Sender<()>>,
    drain_timeout: Duration,
    checked_topics: Mutex<Vec<String>>,
    reporter: Option<super::loss_report::Reporter>,
    metrics_server: Option<crate::metrics::MetricsServer>,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("key_prefix", &self.shared.key_prefix)
            .finish()
    }
}

/// The producer settings a bridge config implies.
pub fn producer_config(cfg: &BridgeConfig) -> ProducerConfig {
    let acl = cfg.acl.clone();
    ProducerConfig::new(&cfg.servers, &cfg.producer_group)
        .send_timeout(cfg.sync_timeout)
        .queue_strategy(match cfg.queue_strategy {
            QueueStrategy::KeyDispatch => producer::QueueStrategy::KeyHash,
            QueueStrategy::RoundRobin => producer::QueueStrategy::RoundRobin,
        })
        .max_message_size(cfg.max_message_size)
        .namespace(cfg.namespace.clone())
        .acl(acl)
        .refresh_interval(cfg.refresh_topic_route_interval)
        .socket_buffers(Some(cfg.sock_sndbuf), Some(cfg.sock_recbuf))
        .async_window(cfg.max_in_flight)
}

impl Bridge {
    /// Starts the producer, checks the route of every target topic, and starts the dispatcher.
    ///
    /// With a spool the bridge also starts while RocketMQ is unreachable (no name server answers,
    /// or no broker is registered): events are stored on disk and the routes are looked up again
    /// on every send from the spool. Without a spool that is an error.
    ///
    /// # Errors
    /// [`BridgeError::Producer`]; [`BridgeError::MissingTopics`] listing every topic without a
    /// route while a broker is registered; without a spool [`BridgeError::NameServerUnreachable`]
    /// or [`BridgeError::NoBroker`] (nothing keeps running then).
    pub fn start(cfg: BridgeConfig) -> Result<Bridge, BridgeError> {
        let pcfg = producer_config(&cfg);
        Bridge::start_with(cfg, pcfg)
    }

    /// As [`Bridge::start`], with producer settings the embedder adjusted (start from
    /// [`producer_config`]).
    ///
    /// # Errors
    /// As [`Bridge::start`].
    pub fn start_with(cfg: BridgeConfig, pcfg: ProducerConfig) -> Result<Bridge, BridgeError> {
        if cfg.spool.is_some() && cfg.produce != ProduceMode::Async {
            return Err(BridgeError::SpoolNeedsAsync);
        }
        let spool = match &cfg.spool {
            Some(scfg) => {
                let (spool, rec) =
                    crate::spool::Spool::open(scfg.clone()).map_err(BridgeError::Spool)?;
                if let Some(t) = &rec.torn_tail {
                    log::warn!(
                        "bridge spool: torn tail record cut off in {} at {} ({} bytes)",
                        t.segment.display(),
                        t.offset,
                        t.bytes
                    );
                }
                log::debug!(
                    "bridge spool opened dir={} pending={} next_seq={}",
                    scfg.dir().display(),
                    rec.pending_records,
                    rec.next_seq
                );
                Some(Arc::new(super::spooled::SpoolSide::new(
                    spool,
                    &cfg.bridge_id,
                    rec.pending_records,
                )))
            }
            None => None,
        };
        let producer = Producer::start(pcfg).map_err(BridgeError::Producer)?;
        let mut topics: Vec<String> = cfg.rules.topics().into_iter().map(str::to_owned).collect();
        if let Some(t) = &cfg.loss_report_topic {
            if !topics.contains(t) {
                topics.push(t.clone());
            }
        }
        check_routes(&producer, &topics, cfg.spool.is_some())?;
        if cfg.rules.is_empty() {
            log::warn!("bridge started without hook rules: no event will be forwarded");
        }

        let (tx, rx) = bounded(CHANNEL_CAPACITY);
        let mut all_stats = BTreeMap::new();
        let active = build_active(&cfg, &mut all_stats);
        let run = now_ms();
        let shared = Arc::new(Shared {
            mode: cfg.produce,
            overflow: cfg.buffer_overflow,
            strategy: cfg.queue_strategy,
            sync_timeout: cfg.sync_timeout,
            max_message_size: cfg.max_message_size,
            // With a spool the key's sequence number is the spool's, persistent across runs.
            key_prefix: if spool.is_some() {
                cfg.bridge_id.clone()
            } else {
                format!("{}-{run:x}", cfg.bridge_id)
            },
            seq: AtomicU64::new(0),
            active: RwLock::new(Arc::new(active)),
            all_stats: Mutex::new(all_stats),
            unmatched: AtomicU64::new(0),
            budget: Budget {
                max: cfg.buffer_max_bytes,
                used: Mutex::new(0),
                freed: Condvar::new(),
            },
            in_flight: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            tx,
            rx,
            shutdown_log: Mutex::new(None),
            sent_during_shutdown: AtomicU64::new(0),
            health: super::health::HealthTracker::new(cfg.health_window),
            losses: super::loss_report::LossLedger::new(cfg.loss_report_topic.is_some()),
            hold: (spool.is_none()
                && cfg.produce == ProduceMode::Async
                && !cfg.retry_max_hold.is_zero())
            .then(|| super::hold::HoldQueue::new(cfg.retry_max_hold)),
            spool,
        });
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let (done_tx, done_rx) = bounded::<()>(1);
        let d = Dispatcher::new(Arc::clone(&shared), producer.clone(), cfg.batch_size);
        let stats_interval = cfg.stats_interval;
        let handle = std::thread::Builder::new()
            .name("bridge-dispatch".into())
            .spawn(move || {
                d.run(stop_rx, stats_interval);
                drop(done_tx);
            })
            .expect("spawn bridge dispatcher thread");
        if let Some(sp) = &shared.spool {
            sp.start_reader(&shared);
        }
        let reporter = cfg.loss_report_topic.as_ref().map(|topic| {
            super::loss_report::Reporter::start(
                Arc::clone(&shared),
                super::loss_report::ReportTarget {
                    producer: producer.clone(),
                    topic: topic.clone(),
                    bridge_id: cfg.bridge_id.clone(),
                    key_prefix: shared.key_prefix.clone(),
                    run,
                },
            )
        });
        let metrics_server = match cfg.metrics_listen {
            Some(addr) => {
                let (m, h) = (Arc::clone(&shared), Arc::clone(&shared));
                match crate::metrics::MetricsServer::start(
                    &addr.to_string(),
                    move || super::health::metrics_of(&m.stats(), &health_of(&m)),
                    move || {
                        let s = health_of(&h);
                        crate::metrics::Health::new(s.healthy, s.to_json())
                    },
                ) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        let mut b = Bridge {
                            shared,
                            producer: Some(producer),
                            dispatcher: Some((handle, done_rx)),
                            stop_tx: Some(stop_tx),
                            drain_timeout: Duration::ZERO,
                            checked_topics: Mutex::new(Vec::new()),
                            reporter,
                            metrics_server: None,
                        };
                        b.shutdown_inner(Duration::from_millis(100));
                        return Err(BridgeError::Metrics(e));
                    }
                }
            }
            None => None,
        };
        log::debug!(
            "bridge started rules={} topics={} mode={:?} batch_size={}",
            cfg.rules.len(),
            topics.len(),
            cfg.produce,
            cfg.batch_size
        );
        Ok(Bridge {
            shared,
            producer: Some(producer),
            dispatcher: Some((handle, done_rx)),
            stop_tx: Some(stop_tx),
            drain_timeout: cfg.drain_timeout,
            checked_topics: Mutex::new(topics),
            reporter,
            metrics_server,
        })
    }

    /// The health status: unhealthy when a topic had something to send and no broker accepted a
    /// send for it within `bridge.rocket.health.window` (see [`super::health`]).
    pub fn health(&self) -> super::health::BridgeHealth {
        health_of(&self.shared)
    }

    /// The metrics the endpoint serves (see [`super::health::metrics_of`]).
    pub fn metrics(&self) -> Vec<crate::metrics::Metric> {
        super::health::metrics_of(&self.stats(), &self.health())
    }

    /// The address the metrics endpoint listens on, when configured.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_server.as_ref().map(|s| s.local_addr())
    }

    /// A handle for hosts (cheap to clone, any thread).
    pub fn sender(&self) -> EventSender {
        EventSender {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The counters, per rule.
    pub fn stats(&self) -> BridgeStats {
        self.shared.stats()
    }

    /// The key prefix of this run (`<bridge_id>-<run>`); keys are `<prefix>-<seq>`.
    pub fn key_prefix(&self) -> &str {
        &self.shared.key_prefix
    }

    /// The producer the bridge sends with.
    pub fn producer(&self) -> Option<&Producer> {
        self.producer.as_ref()
    }

    /// Replaces the rules and the node name with those of `cfg`. Messages already buffered are sent
    /// as formatted. Other settings (servers, mode, buffer, …) need a restart and are ignored here.
    ///
    /// # Errors
    /// As [`Bridge::start`] for the new target topics (the old rules stay), or
    /// [`BridgeError::Closed`].
    pub fn reload(&self, cfg: BridgeConfig) -> Result<(), BridgeError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(BridgeError::Closed);
        }
        let producer = self.producer.as_ref().ok_or(BridgeError::Closed)?;
        let mut checked = self.checked_topics.lock();
        let new: Vec<String> = cfg
            .rules
            .topics()
            .into_iter()
            .filter(|t| !checked.iter().any(|c| c == t))
            .map(str::to_owned)
            .collect();
        check_routes(producer, &new, self.shared.spool.is_some())?;
        checked.extend(new);
        let active = build_active(&cfg, &mut self.shared.all_stats.lock());
        *self.shared.active.write() = Arc::new(active);
        log::debug!("bridge rules reloaded rules={}", cfg.rules.len());
        Ok(())
    }

    /// Stops accepting events at once, the first step of [`Bridge::shutdown`], for a host that
    /// ends the run from another thread (a signal) while its sending thread may be blocked: a send
    /// waiting for room in `buffer.max_bytes` (`buffer.overflow = block`) returns
    /// [`SendEventError::Closed`] with its messages counted as dropped (`shutdown`) and listed in
    /// the shutdown report; later sends are refused. What is buffered is still sent by the
    /// shutdown that must follow.
    pub fn close_intake(&self) {
        let sh = &self.shared;
        sh.shutdown_log.lock().get_or_insert_with(Vec::new);
        sh.closed.store(true, Ordering::SeqCst);
        sh.budget.freed.notify_all();
    }

    /// Stops accepting events, sends what is buffered and waits for the outcomes until `deadline`
    /// has passed, then closes the producer. The report lists every message not confirmed during
    /// the shutdown.
    pub fn shutdown(mut self, deadline: Duration) -> ShutdownReport {
        self.shutdown_inner(deadline)
    }

    fn shutdown_inner(&mut self, deadline: Duration) -> ShutdownReport {
        let start = Instant::now();
        let end = start + deadline;
        let sh = &self.shared;
        // Kept when close_intake started it: it lists the sends it refused.
        sh.shutdown_log.lock().get_or_insert_with(Vec::new);
        sh.closed.store(true, Ordering::SeqCst);
        sh.budget.freed.notify_all();
        // Held messages are not tried again once shutdown begins.
        sh.fail_held();
        if let Some(sp) = &sh.spool {
            // Send what the spool holds (until the deadline); the rest waits for the next run.
            sp.drain_and_stop(end);
        }
        drop(self.stop_tx.take());
        if let Some((handle, done)) = self.dispatcher.take() {
            // The dispatcher drains the channel into the producer and exits.
            match done.recv_timeout(end.saturating_duration_since(Instant::now())) {
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    let _ = handle.join();
                }
                _ => log::warn!("bridge dispatcher did not finish before the shutdown deadline"),
            }
        }
        // Whatever is still in the channel will not be sent.
        while let Ok(out) = sh.rx.try_recv() {
            let topic = out.msg.topic.clone();
            sh.finish(
                out.meta,
                &topic,
                Err(UnsentReason::Dropped(DropReason::Shutdown)),
            );
        }
        while sh.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
            sh.fail_held();
            // A host that passed the closed check just before it was set may still have enqueued.
            while let Ok(out) = sh.rx.try_recv() {
                let topic = out.msg.topic.clone();
                sh.finish(
                    out.meta,
                    &topic,
                    Err(UnsentReason::Dropped(DropReason::Shutdown)),
                );
            }
        }
        let drained = sh.in_flight.load(Ordering::SeqCst) == 0;
        if let Some(r) = self.reporter.take() {
            // A last in-band report of what was lost, while the producer still runs.
            r.stop();
        }
        if let Some(p) = self.producer.take() {
            // Async sends still queued get their callback with an error: they land in the log.
            p.close(
                end.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(100)),
            );
        }
        let unsent = sh.shutdown_log.lock().take().unwrap_or_default();
        let report = ShutdownReport {
            drained: drained && unsent.is_empty(),
            elapsed: start.elapsed(),
            sent_during_shutdown: sh.sent_during_shutdown.load(Ordering::Relaxed),
            unsent,
            stats: sh.stats(),
        };
        self.metrics_server.take();
        log::debug!("bridge stopped: {report}");
        report
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if self.producer.is_some() {
            let report = self.shutdown_inner(self.drain_timeout);
            if !report.unsent.is_empty() {
                log::warn!("bridge dropped without shutdown: {report}");
            }
        }
    }
}

fn health_of(sh: &Shared) -> super::health::BridgeHealth {
    let pending = sh
        .spool
        .as_ref()
        .map_or(0, |s| s.spool.stats().pending_records);
    sh.health
        .status(sh.in_flight.load(Ordering::SeqCst), pending)
}

fn build_active(
    cfg: &BridgeConfig,
    all: &mut BTreeMap<(RuleId, String), Arc<RuleStats>>,
) -> Active {
    let mut stats = HashMap::new();
    for r in cfg.rules.iter() {
        let s = all.entry((r.id(), r.topic.clone())).or_insert_with(|| {
            Arc::new(RuleStats {
                topic: r.topic.clone(),
                ..RuleStats::default()
            })
        });
        stats.insert(r.id(), Arc::clone(s));
    }
    Active {
        rules: cfg.rules.clone(),
        stats,
        node: cfg.node.clone(),
    }
}

/// Looks up the route of every target topic and says why any has none: no name server reachable,
/// no broker registered (RocketMQ down or still starting), or missing while a broker is
/// registered. With a spool (`spooled`) only the last is an error: otherwise the problem is logged
/// and the routes are looked up again on every send from the spool.
fn check_routes(producer: &Producer, topics: &[String], spooled: bool) -> Result<(), BridgeError> {
    let mut failed = Vec::new();
    for t in topics {
        match producer.check_route(t) {
            Ok(info) if info.from_default_topic => log::warn!(
                "topic {t} does not exist yet; the broker will create it on the first send (autoCreateTopicEnable)"
            ),
            Ok(_) => {}
            Err(e) => failed.push((t.clone(), e)),
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    let err = classify_route_failures(producer, failed);
    match &err {
        BridgeError::NameServerUnreachable { .. } | BridgeError::NoBroker { .. } if spooled => {
            log::warn!("bridge starts with its spool; events are stored and sent once RocketMQ is back: {err}");
            Ok(())
        }
        _ => Err(err),
    }
}

/// Turns route lookup failures into the error that tells the operator what is wrong.
fn classify_route_failures(
    producer: &Producer,
    failed: Vec<(String, crate::nameserver::Error)>,
) -> BridgeError {
    use crate::nameserver::Error as NsError;
    let servers = producer.config().namesrv_addrs.join(";");
    if let Some((_, e)) = failed
        .iter()
        .find(|(_, e)| matches!(e, NsError::Unreachable { .. } | NsError::NoNameServer))
    {
        let detail = match e {
            NsError::Unreachable { last, .. } => last.to_string(),
            other => other.to_string(),
        };
        return BridgeError::NameServerUnreachable { servers, detail };
    }
    let unknown_topic = failed.iter().any(|(_, e)| {
        matches!(
            e,
            NsError::TopicNotExist { .. } | NsError::NoWritableQueue { .. }
        )
    });
    if unknown_topic {
        match live_broker_registered(producer) {
            Ok(false) => {
                return BridgeError::NoBroker {
                    servers,
                    topics: failed.into_iter().map(|(t, _)| t).collect(),
                }
            }
            Ok(true) => {}
            Err(NsError::Unreachable { last, .. }) => {
                return BridgeError::NameServerUnreachable {
                    servers,
                    detail: last.to_string(),
                }
            }
            Err(e) => log::warn!("cannot ask the name servers for their brokers: {e}"),
        }
    }
    BridgeError::MissingTopics(
        failed
            .into_iter()
            .map(|(t, e)| (t, e.to_string()))
            .collect(),
    )
}

/// Whether the name servers know a live broker (GET_BROKER_CLUSTER_INFO: a name server drops a
/// broker's address, and its topics, as soon as its connection closes or its registration expires).
fn live_broker_registered(producer: &Producer) -> Result<bool, crate::nameserver::Error> {
    use crate::remoting::codes::{GET_BROKER_CLUSTER_INFO, SUCCESS};
    let cmd = crate::remoting::RemotingCommand::request(GET_BROKER_CLUSTER_INFO);
    let (addr, resp) = producer.routes().client().invoke(&cmd)?;
    if resp.code != SUCCESS {
        return Err(crate::nameserver::Error::Remote {
            addr,
            code: resp.code,
            remark: resp.remark.unwrap_or_default(),
        });
    }
    cluster_info_has_broker(&resp.body).ok_or_else(|| crate::nameserver::Error::InvalidRoute {
        reason: "the cluster info is not JSON".to_owned(),
    })
}

/// Whether a `ClusterInfo` body lists a broker with at least one address (an empty body: nothing
/// registered); `None` when it is not JSON.
fn cluster_info_has_broker(body: &[u8]) -> Option<bool> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(false);
    }
    let fixed = crate::nameserver::lenient_json::quote_bare_integer_keys(body);
    let v = serde_json::from_slice::<serde_json::Value>(&fixed).ok()?;
    let any = v
        .get("brokerAddrTable")
        .and_then(serde_json::Value::as_object)
        .is_some_and(|table| {
            table.values().any(|b| {
                b.get("brokerAddrs")
                    .and_then(serde_json::Value::as_object)
                    .is_some_and(|a| !a.is_empty())
            })
        });
    Some(any)
}

// ------------------------------------------------------------------------------------------------
// Dispatcher

/// A group: (the topic's number in [`Dispatcher::topics`], the queue bucket). Copy, so the per-message
/// path allocates no key.
type GroupKey = (u32, u64);

/// What the dispatcher knows of one target topic.
struct TopicSlot {
    id: u32,
    /// Writable queues in the cached route (`None` while no route is cached), and when it was read.
    queues: Option<u64>,
    read_at: Instant,
    /// Requests of this topic with the producer and not yet completed.
    in_flight: Arc<AtomicUsize>,
}

/// While groups gather behind requests in flight, how often the dispatcher looks at the channel
/// for groups that filled up (it is woken at once by every completion).
const GATHER_POLL: Duration = Duration::from_millis(1);

/// How long the dispatcher uses a topic's queue count before it reads the route cache again.
const QUEUE_COUNT_TTL: Duration = Duration::from_millis(500);

/// Groups the dispatcher keeps before it removes the idle ones (no message gathering, no request
/// in flight): 4,096. A group is one (topic, queue, ordering lane) while the topic's route is
/// known, but one per MQTT client id while it is not (name servers or brokers down), so without
/// removal a long outage would keep a group for every client id seen. After a sweep the next one
/// comes once the count doubled (and at least this many), so sweeping costs O(1) per new group;
/// the groups kept are at most this or twice those with messages or requests in flight (bounded
/// by `buffer.max_bytes` and the producer's window).
pub const GROUP_SWEEP_AT: usize = 4_096;

struct Group {
    /// The group's topic (the dispatcher's key holds only its number).
    topic: String,
    msgs: Vec<Message>,
    metas: Vec<Meta>,
    bytes: usize,
    /// The ordering key handed to the producer (the first message's client id).
    key: Option<String>,
    /// Requests of this group with the producer and not yet completed.
    in_flight: Arc<AtomicUsize>,
    /// Its topic's requests in flight ([`TopicSlot::in_flight`]).
    topic_in_flight: Arc<AtomicUsize>,
    /// When the group's oldest message joined it.
    since: Instant,
}

struct Dispatcher {
    shared: Arc<Shared>,
    producer: Producer,
    batch_size: usize,
    max_batch_bytes: usize,
    groups: HashMap<GroupKey, Group>,
    /// Target topics by name, numbered for [`GroupKey`].
    topics: HashMap<String, TopicSlot>,
    /// Group keys in first-use order, so flushes keep the arrival order across groups.
    order: Vec<GroupKey>,
    /// Completions wake the dispatcher through this, to send what a busy group gathered meanwhile.
    kick: (Sender<()>, Receiver<()>),
    /// A group that is not full is sent only while fewer of its requests than this are in flight
    /// (and fewer than [`PARTIAL_IN_FLIGHT`] of its topic's); otherwise it keeps gathering (see
    /// [`Dispatcher::collect`]).
    max_busy: usize,
    /// Group count at which [`Dispatcher::sweep`] runs next (see [`GROUP_SWEEP_AT`]).
    sweep_at: usize,
}

impl Dispatcher {
    fn new(shared: Arc<Shared>, producer: Producer, batch_size: usize) -> Dispatcher {
        let max_busy = match shared.strategy {
            QueueStrategy::KeyDispatch => 1,
            QueueStrategy::RoundRobin => PARTIAL_IN_FLIGHT,
        };
        Dispatcher {
            shared,
            max_batch_bytes: producer.config().max_batch_bytes,
            producer,
            batch_size: batch_size.max(1),
            groups: HashMap::new(),
            topics: HashMap::new(),
            order: Vec::new(),
            kick: bounded(1),
            max_busy,
            sweep_at: GROUP_SWEEP_AT,
        }
    }

    /// Removes the groups with no message gathering and no request in flight (a new message of
    /// theirs starts a new group, as after a flush).
    fn sweep(&mut self) {
        self.groups
            .retain(|_, g| !g.msgs.is_empty() || g.in_flight.load(Ordering::SeqCst) > 0);
        self.sweep_at = (self.groups.len() * 2).max(GROUP_SWEEP_AT);
        log::debug!(
            "bridge dispatcher groups swept kept={} next_sweep_at={}",
            self.groups.len(),
            self.sweep_at
        );
    }

    fn run(mut self, stop: Receiver<()>, stats_interval: Duration) {
        let ticker = if stats_interval.is_zero() {
            never()
        } else {
            tick(stats_interval)
        };
        let rx = self.shared.rx.clone();
        let hold_tick = if self.shared.hold.is_some() {
            tick(super::hold::POLL)
        } else {
            never()
        };
        loop {
            if !self.order.is_empty() {
                // Groups are gathering behind requests in flight: new events only join them, so
                // there is no need to wake for each one. Wake for a completion, or every
                // GATHER_POLL to send groups that filled up meanwhile.
                select! {
                    recv(stop) -> _ => break,
                    recv(self.kick.1) -> _ => {}
                    recv(hold_tick) -> _ => {
                        self.add_due_held();
                    }
                    recv(ticker) -> _ => self.log_stats(),
                    default(GATHER_POLL) => {}
                }
                self.collect(&rx);
                continue;
            }
            select! {
                recv(rx) -> out => match out {
                    Ok(out) => self.add(out),
                    Err(_) => break,
                },
                recv(stop) -> _ => break,
                recv(self.kick.1) -> _ => {}
                recv(hold_tick) -> _ => {
                    if !self.add_due_held() {
                        continue;
                    }
                }
                recv(ticker) -> _ => {
                    self.log_stats();
                    continue;
                }
            }
            self.collect(&rx);
        }
        // Drain: everything still buffered goes to the producer, busy groups included.
        self.collect(&rx);
        while !rx.is_empty() {
            self.collect(&rx);
        }
        self.flush_all();
        self.log_stats();
    }

    /// Puts held messages that are due back into their groups, in failure order; false when none
    /// was due.
    fn add_due_held(&mut self) -> bool {
        let due = self
            .shared
            .hold
            .as_ref()
            .map(|h| h.take_due(Instant::now()));
        let due = due.unwrap_or_default();
        let any = !due.is_empty();
        for out in due {
            self.add(out);
        }
        any
    }

    /// Takes whatever else is waiting (up to MAX_COLLECT) and sends the groups that are ready.
    ///
    /// A full group (`batch_size` messages or the batch byte limit) is sent at once by `add`. A
    /// partial group is sent only while its topic has fewer than [`PARTIAL_IN_FLIGHT`] requests in
    /// flight and (KeyDispatch) nothing of the group is in flight, which is also all the producer
    /// would let through for an ordering lane; otherwise the group keeps gathering, and a
    /// completion wakes the dispatcher. So batches grow with the load instead of leaving as many
    /// small requests; a partial group waits at most [`MAX_PARTIAL_WAIT`] for its topic.
    fn collect(&mut self, rx: &Receiver<Outgoing>) {
        let mut n = 0;
        while n < MAX_COLLECT {
            match rx.try_recv() {
                Ok(out) => {
                    self.add(out);
                    n += 1;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        self.flush_ready();
    }

    /// Sends every group with messages whose queue has room (see [`Dispatcher::collect`]).
    fn flush_ready(&mut self) {
        let now = Instant::now();
        let ready: Vec<GroupKey> = self
            .order
            .iter()
            .filter(|gk| {
                self.groups.get(*gk).is_some_and(|g| {
                    g.in_flight.load(Ordering::SeqCst) < self.max_busy
                        && (g.topic_in_flight.load(Ordering::SeqCst) < PARTIAL_IN_FLIGHT
                            || now.saturating_duration_since(g.since) >= MAX_PARTIAL_WAIT)
                })
            })
            .cloned()
            .collect();
        for gk in ready {
            self.flush(&gk);
        }
    }

    fn group_key(&mut self, out: &Outgoing) -> GroupKey {
        let key_dispatch = self.shared.strategy == QueueStrategy::KeyDispatch;
        let now = Instant::now();
        let slot = match self.topics.get_mut(out.msg.topic.as_str()) {
            Some(slot) => slot,
            None => {
                let id = self.topics.len() as u32;
                self.topics
                    .entry(out.msg.topic.clone())
                    .or_insert(TopicSlot {
                        id,
                        queues: None,
                        read_at: now - QUEUE_COUNT_TTL * 2,
                        in_flight: Arc::new(AtomicUsize::new(0)),
                    })
            }
        };
        if key_dispatch && now.saturating_duration_since(slot.read_at) >= QUEUE_COUNT_TTL {
            let wire = self.producer.config().wire_topic(&out.msg.topic);
            slot.queues = self
                .producer
                .routes()
                .cached(&wire)
                .map(|info| info.queues.len() as u64)
                .filter(|&n| n > 0);
            slot.read_at = now;
        }
        let bucket = match (key_dispatch, &out.meta.client_id, slot.queues) {
            // The client's queue and its ordering lane in that queue: a group holds only clients
            // the producer serializes together, so groups of one queue can be in flight at once.
            (true, Some(cid), Some(n)) => {
                let h = key_hash(cid.as_bytes());
                (h % n) * u64::from(ORDER_LANES) + u64::from(order_lane(h))
            }
            // Route not known yet: group only this client's messages.
            (true, Some(cid), None) => key_hash(cid.as_bytes()) | (1 << 63),
            _ => u64::MAX,
        };
        (slot.id, bucket)
    }

    fn add(&mut self, out: Outgoing) {
        if self.groups.len() >= self.sweep_at {
            self.sweep();
        }
        let gk = self.group_key(&out);
        let rec = batch_record_len(&out.msg);
        let full = self.groups.get(&gk).is_some_and(|g| {
            g.msgs.len() >= self.batch_size
                || (!g.msgs.is_empty() && g.bytes + rec > self.max_batch_bytes)
        });
        if full {
            self.flush(&gk);
        }
        let topics = &self.topics;
        let g = self.groups.entry(gk).or_insert_with(|| Group {
            topic: out.msg.topic.clone(),
            msgs: Vec::new(),
            metas: Vec::new(),
            bytes: 0,
            key: None,
            in_flight: Arc::new(AtomicUsize::new(0)),
            // `group_key` registered the topic just before; the default is never taken.
            topic_in_flight: topics
                .get(out.msg.topic.as_str())
                .map(|t| Arc::clone(&t.in_flight))
                .unwrap_or_default(),
            since: Instant::now(),
        });
        if g.msgs.is_empty() {
            g.key = out.meta.client_id.clone();
            g.since = Instant::now();
            self.order.push(gk);
        }
        g.bytes += rec;
        g.msgs.push(out.msg);
        g.metas.push(out.meta);
        if g.msgs.len() >= self.batch_size {
            self.flush(&gk);
        }
    }

    fn flush_all(&mut self) {
        let order = std::mem::take(&mut self.order);
        for gk in order {
            self.flush(&gk);
        }
    }

    fn flush(&mut self, gk: &GroupKey) {
        let Some(g) = self.groups.get_mut(gk) else {
            return;
        };
        if g.msgs.is_empty() {
            return;
        }
        let msgs = std::mem::take(&mut g.msgs);
        let metas = std::mem::take(&mut g.metas);
        g.bytes = 0;
        let key = g.key.take();
        let in_flight = Arc::clone(&g.in_flight);
        let topic_in_flight = Arc::clone(&g.topic_in_flight);
        in_flight.fetch_add(1, Ordering::SeqCst);
        topic_in_flight.fetch_add(1, Ordering::SeqCst);
        let kick = self.kick.0.clone();
        // Runs once the request completed (or was refused): frees the group's lane and wakes
        // the dispatcher for what the group gathered meanwhile.
        let done = move || {
            in_flight.fetch_sub(1, Ordering::SeqCst);
            topic_in_flight.fetch_sub(1, Ordering::SeqCst);
            let _ = kick.try_send(());
        };
        self.order.retain(|k| k != gk);
        let topic = g.topic.clone();
        let shared = Arc::clone(&self.shared);
        let key_bytes = match self.shared.strategy {
            QueueStrategy::KeyDispatch => key.as_deref().map(str::as_bytes),
            QueueStrategy::RoundRobin => None,
        };
        if msgs.len() == 1 {
            let msg = msgs.into_iter().next().expect("one message");
            let cb_topic = topic.clone();
            let mut metas = metas;
            let meta = metas.pop().expect("one meta");
            let cell = Arc::new(Mutex::new(Some(meta)));
            let cb_cell = Arc::clone(&cell);
            let cb_shared = Arc::clone(&shared);
            let r = self.producer.send_async(
                msg,
                key_bytes,
                Box::new(move |res: Result<SendResult, SendError>| {
                    if let Some(meta) = cb_cell.lock().take() {
                        match res {
                            Ok(_) => cb_shared.finish(meta, &cb_topic, Ok(())),
                            Err(mut e) => {
                                cb_shared.fail_or_hold(e.messages.pop(), meta, &cb_topic, &e.kind)
                            }
                        }
                        done();
                    }
                }),
            );
            if let Err(mut e) = r {
                if let Some(meta) = cell.lock().take() {
                    shared.fail_or_hold(e.messages.pop(), meta, &topic, &e.kind);
                    release(&self.groups, gk);
                }
            }
        } else {
            let cell = Arc::new(Mutex::new(Some(metas)));
            let cb_cell = Arc::clone(&cell);
            let cb_shared = Arc::clone(&shared);
            let cb_topic = topic.clone();
            let r = self.producer.send_batch_async(
                msgs,
                key_bytes,
                Box::new(move |res: Result<SendResult, SendError>| {
                    if let Some(metas) = cb_cell.lock().take() {
                        finish_batch(&cb_shared, &cb_topic, metas, res);
                        done();
                    }
                }),
            );
            if let Err(e) = r {
                if let Some(metas) = cell.lock().take() {
                    finish_batch(&shared, &topic, metas, Err(e));
                    release(&self.groups, gk);
                }
            }
        }
    }

    fn log_stats(&self) {
        let stats = self.shared.stats();
        for r in &stats.rules {
            log::info!(
                "bridge stats rule={} topic={} matched={} sent={} failed={} outcome_unknown={} \
                 dropped_too_large={} dropped_overflow={} dropped_shutdown={} lossy_payload={}",
                r.rule.map(|id| id.to_string()).unwrap_or_default(),
                r.topic,
                r.matched,
                r.sent,
                r.failed,
                r.outcome_unknown,
                r.dropped_too_large,
                r.dropped_overflow,
                r.dropped_shutdown,
                r.lossy_payload
            );
        }
        log::info!(
            "bridge stats unmatched={} buffered_bytes={} in_flight={}",
            stats.unmatched,
            stats.buffered_bytes,
            stats.in_flight
        );
    }
}

/// Undoes a group's in-flight counts for a request the producer refused (its callback never runs).
fn release(groups: &HashMap<GroupKey, Group>, gk: &GroupKey) {
    if let Some(g) = groups.get(gk) {
        g.in_flight.fetch_sub(1, Ordering::SeqCst);
        g.topic_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Settles every message of a batch. On an error the producer hands back the messages that were not
/// stored (all of them, or the rest after a partial one-by-one fallback); the others were stored.
fn finish_batch(
    shared: &Shared,
    topic: &str,
    metas: Vec<Meta>,
    res: Result<SendResult, SendError>,
) {
    match res {
        Ok(_) => shared.finish_sent(metas, topic),
        Err(e) => {
            let all =
                e.messages.len() >= metas.len() || e.messages.iter().all(|m| m.keys().is_empty());
            // The messages handed back, by key, in batch order: held ones are re-sent as they were.
            let mut back: HashMap<String, std::collections::VecDeque<Message>> = HashMap::new();
            for m in e.messages {
                let k = m
                    .keys()
                    .first()
                    .map_or_else(String::new, |k| (*k).to_owned());
                back.entry(k).or_default().push_back(m);
            }
            for m in metas {
                match back.get_mut(m.key.as_str()) {
                    Some(msgs) => {
                        let msg = msgs.pop_front();
                        shared.fail_or_hold(msg, m, topic, &e.kind);
                    }
                    None if all => shared.fail_or_hold(None, m, topic, &e.kind),
                    None => shared.finish(m, topic, Ok(())),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::config::BridgeConfig;
    use bytes::Bytes;

    /// Shared state with no dispatcher: messages stay in the channel, so the budget and the
    /// overflow policies can be watched without a broker.
    fn shared(mode: ProduceMode, overflow: OverflowPolicy, max_bytes: usize) -> Arc<Shared> {
        let text = r##"bridge.rocket.hook.message.publish.1 = {"filter": "#", "topic": "T1"}
bridge.rocket.hook.message.publish.2 = {"filter": "a/#", "topic": "T2"}
bridge.rocket.node = n1
bridge.rocket.bridge_id = b1
"##;
        let cfg = BridgeConfig::parse(text, "unit.conf").unwrap();
        let (tx, rx) = bounded(CHANNEL_CAPACITY);
        let mut all = BTreeMap::new();
        let active = build_active(&cfg, &mut all);
        Arc::new(Shared {
            mode,
            overflow,
            strategy: QueueStrategy::KeyDispatch,
            sync_timeout: Duration::from_millis(100),
            max_message_size: 1024,
            key_prefix: "b1-run".into(),
            seq: AtomicU64::new(0),
            active: RwLock::new(Arc::new(active)),
            all_stats: Mutex::new(all),
            unmatched: AtomicU64::new(0),
            budget: Budget {
                max: max_bytes,
                used: Mutex::new(0),
                freed: Condvar::new(),
            },
            in_flight: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            tx,
            rx,
            shutdown_log: Mutex::new(None),
            sent_during_shutdown: AtomicU64::new(0),
            health: crate::bridge::health::HealthTracker::new(Duration::from_secs(30)),
            losses: crate::bridge::loss_report::LossLedger::new(false),
            spool: None,
            hold: None,
        })
    }

    fn publish(topic: &str, payload: &'static [u8]) -> Event {
        Event::message_publish("c1", topic, Bytes::from_static(payload), 0).with_ts(1)
    }

    /// Budget bytes one `publish("z", b"1")` message takes.
    fn one_message_bytes() -> usize {
        let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 1 << 20);
        EventSender {
            shared: Arc::clone(&sh),
        }
        .send(publish("z", b"1"))
        .unwrap();
        sh.budget.used()
    }

    fn rule(i: u32) -> RuleId {
        RuleId {
            event: crate::bridge::EventKind::MessagePublish,
            index: i,
        }
    }

    #[test]
    fn budget_admits_one_message_when_empty_and_wakes_blocked_senders() {
        let b = Arc::new(Budget {
            max: 100,
            used: Mutex::new(0),
            freed: Condvar::new(),
        });
        assert!(
            b.try_acquire(150),
            "an empty budget takes one message of any size"
        );
        assert!(!b.try_acquire(1));
        b.release(150);
        assert!(b.try_acquire(60));
        assert!(!b.try_acquire(60));
        let closed = Arc::new(AtomicBool::new(false));
        let (b2, c2) = (Arc::clone(&b), Arc::clone(&closed));
        let h = std::thread::spawn(move || b2.acquire_blocking(60, &c2));
        std::thread::sleep(Duration::from_millis(30));
        b.release(60);
        assert!(
            h.join().unwrap(),
            "released room lets the blocked sender in"
        );
        let (b3, c3) = (Arc::clone(&b), Arc::clone(&closed));
        let h = std::thread::spawn(move || b3.acquire_blocking(60, &c3));
        closed.store(true, Ordering::SeqCst);
        assert!(!h.join().unwrap(), "closing ends the wait");
        assert_eq!(b.used(), 60);
    }

    #[test]
    fn waiter_reports_once_with_the_first_error() {
        let (tx, rx) = bounded(1);
        let w = Waiter {
            remaining: AtomicUsize::new(3),
            first_error: Mutex::new(None),
            tx,
        };
        w.complete(Ok(()));
        w.complete(Err(SendEventError::Timeout {
            after: Duration::from_secs(1),
        }));
        assert!(rx.try_recv().is_err(), "not before the last message");
        w.complete(Err(SendEventError::Closed));
        assert_eq!(
            rx.try_recv().unwrap(),
            Err(SendEventError::Timeout {
                after: Duration::from_secs(1)
            })
        );
    }

    #[test]
    fn each_matching_rule_gets_a_message_with_the_event_key() {
        let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 1 << 20);
        let tx = EventSender {
            shared: Arc::clone(&sh),
        };
        tx.send(publish("a/b", b"x")).unwrap();
        tx.send(publish("z", b"y")).unwrap();
        tx.send(Event::client_connected("c1", None)).unwrap();
        let got: Vec<Outgoing> = sh.rx.try_iter().collect();
        let summary: Vec<(String, String, RuleId)> = got
            .iter()
            .map(|o| (o.msg.topic.clone(), o.meta.key.clone(), o.meta.rule))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("T1".into(), "b1-run-0".into(), rule(1)),
                ("T2".into(), "b1-run-0".into(), rule(2)),
                ("T1".into(), "b1-run-1".into(), rule(1)),
            ]
        );
        assert_eq!(got[0].msg.keys(), vec!["b1-run-0"]);
        assert_eq!(got[0].msg.properties.get("mqtt_client_id"), Some("c1"));
        assert_eq!(
            &got[0].msg.body[..],
            br#"{"client_id":"c1","username":null,"topic":"a/b","payload":"eA==","qos":0,"node":"n1","ts":1}"#
        );
        let stats = sh.stats();
        assert_eq!(stats.unmatched, 1);
        assert_eq!(stats.in_flight, 3);
        assert_eq!(stats.rule(rule(1)).unwrap().matched, 2);
        assert!(stats.buffered_bytes > 0);
    }

    #[test]
    fn drop_new_refuses_when_the_budget_is_full() {
        let one = one_message_bytes();
        let sh = shared(ProduceMode::Async, OverflowPolicy::DropNew, one * 5 / 2);
        let tx = EventSender {
            shared: Arc::clone(&sh),
        };
        tx.send(publish("z", b"1")).unwrap();
        tx.send(publish("z", b"2")).unwrap();
        let r = tx.send(publish("z", b"3"));
        assert_eq!(
            r,
            Err(SendEventError::Dropped {
                rule: rule(1),
                reason: DropReason::Overflow
            })
        );
        let s = sh.stats();
        assert_eq!(s.rule(rule(1)).unwrap().dropped_overflow, 1);
        assert_eq!(s.in_flight, 2);
        assert_eq!(s.buffered_bytes, 2 * one);
    }

    #[test]
    fn drop_oldest_makes_room_by_dropping_the_oldest_buffered_message() {
        let one = one_message_bytes();
        let sh = shared(ProduceMode::Async, OverflowPolicy::DropOldest, one * 5 / 2);
        let tx = EventSender {
            shared: Arc::clone(&sh),
        };
        for p in [b"1", b"2", b"3", b"4"] {
            tx.send(publish("z", p)).unwrap();
        }
        let keys: Vec<String> = sh.rx.try_iter().map(|o| o.meta.key.clone()).collect();
        assert_eq!(keys, vec!["b1-run-2", "b1-run-3"]);
        let s = sh.stats();
        assert_eq!(s.rule(rule(1)).unwrap().dropped_overflow, 2);
        assert_eq!(s.buffered_bytes, 2 * one);
    }

    #[test]
    fn too_large_messages_are_dropped_before_buffering() {
        let sh = shared(ProduceMode::Sync, OverflowPolicy::Block, 1 << 20);
        let tx = EventSender {
            shared: Arc::clone(&sh),
        };
        let big = Event::message_publish("c1", "z", Bytes::from(vec![0u8; 2000]), 0);
        match tx.send(big) {
            Err(SendEventError::Dropped {
                reason: DropReason::TooLarge { max: 1024, .. },
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        let s = sh.stats();
        assert_eq!(s.rule(rule(1)).unwrap().dropped_too_large, 1);
        assert_eq!((s.in_flight, s.buffered_bytes), (0, 0));
    }

    #[test]
    fn sync_send_without_an_outcome_times_out_and_closed_refuses() {
        let sh = shared(ProduceMode::Sync, OverflowPolicy::Block, 1 << 20);
        let tx = EventSender {
            shared: Arc::clone(&sh),
        };
        let r = tx.send(publish("z", b"1"));
        assert!(matches!(r, Err(SendEventError::Timeout { .. })), "{r:?}");
        sh.closed.store(true, Ordering::SeqCst);
        assert_eq!(tx.send(publish("z", b"1")), Err(SendEventError::Closed));
    }

    #[test]
    fn partial_batch_failure_settles_each_message() {
        let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 1 << 20);
        let tx = EventSender {
            shared: Arc::clone(&sh),
        };
        for p in [b"1", b"2", b"3"] {
            tx.send(publish("z", p)).unwrap();
        }
        let outs: Vec<Outgoing> = sh.rx.try_iter().collect();
        let (msgs, metas): (Vec<Message>, Vec<Meta>) =
            outs.into_iter().map(|o| (o.msg, o.meta)).unzip();
        // The producer hands back the messages that were not stored: the 2nd one.
        let err = SendError::new(
            SendErrorKind::NotSent {
                last: crate::producer::AttemptError::NoAttempt,
            },
            vec![msgs[1].clone()],
        );
        *sh.shutdown_log.lock() = Some(Vec::new());
        finish_batch(&sh, "T1", metas, Err(err));
        let s = sh.stats();
        let r = s.rule(rule(1)).unwrap();
        assert_eq!((r.sent, r.failed), (2, 1));
        assert_eq!((s.in_flight, s.buffered_bytes), (0, 0));
        let log = sh.shutdown_log.lock().take().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].key, "b1-run-1");
        assert!(matches!(log[0].reason, UnsentReason::Failed(_)));
    }

    /// Async, no spool, a hold of `max_hold`.
    fn shared_with_hold(max_hold: Duration) -> Arc<Shared> {
        let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 1 << 20);
        let mut sh = Arc::try_unwrap(sh).ok().expect("only reference");
        sh.hold = Some(crate::bridge::hold::HoldQueue::new(max_hold));
        Arc::new(sh)
    }

    fn not_sent(msgs: Vec<Message>) -> SendError {
        SendError::new(
            SendErrorKind::NotSent {
                last: crate::producer::AttemptError::NoAttempt,
            },
            msgs,
        )
    }

    #[test]
    fn a_message_not_stored_is_held_with_its_bytes_and_key_then_fails_past_the_limit() {
        let sh = shared_with_hold(Duration::from_secs(60));
        let tx = EventSender {
            shared: Arc::clone(&sh),
        };
        for p in [b"1", b"2", b"3"] {
            tx.send(publish("z", p)).unwrap();
        }
        let one = sh.budget.used() / 3;
        let outs: Vec<Outgoing> = sh.rx.try_iter().collect();
        let (msgs, metas): (Vec<Message>, Vec<Meta>) =
            outs.into_iter().map(|o| (o.msg, o.meta)).unzip();
        finish_batch(&sh, "T1", metas, Err(not_sent(vec![msgs[1].clone()])));
        let s = sh.stats();
        let r = s.rule(rule(1)).unwrap();
        assert_eq!((r.sent, r.failed), (2, 0), "the 2nd is held, not failed");
        assert_eq!((s.in_flight, s.held, s.buffered_bytes), (1, 1, one));
        let hold = sh.hold.as_ref().unwrap();
        assert!(
            hold.take_due(Instant::now()).is_empty(),
            "not before the backoff"
        );
        let mut due = hold.take_due(Instant::now() + Duration::from_millis(600));
        assert_eq!(due.len(), 1);
        let again = due.pop().unwrap();
        assert_eq!(
            again.msg.keys(),
            vec!["b1-run-1"],
            "same key on the re-send"
        );
        assert_eq!(again.meta.held.map(|h| h.1), Some(1));
        // It fails again after the hold limit: dropped as failed, in the loss ledger.
        let mut meta = again.meta;
        meta.held = Some((Instant::now() - Duration::from_secs(61), 7));
        let msg = again.msg;
        sh.fail_or_hold(Some(msg.clone()), meta, "T1", &not_sent(vec![msg]).kind);
        let s = sh.stats();
        assert_eq!(s.rule(rule(1)).unwrap().failed, 1);
        assert_eq!(
            (s.in_flight, s.held, s.buffered_bytes, s.held_resent),
            (0, 0, 0, 1)
        );
    }

    #[test]
    fn unknown_outcomes_are_not_held_and_shutdown_fails_held_messages() {
        let sh = shared_with_hold(Duration::from_secs(60));
        let tx = EventSender {
            shared: Arc::clone(&sh),
        };
        tx.send(publish("z", b"1")).unwrap();
        tx.send(publish("z", b"2")).unwrap();
        let mut outs: Vec<Outgoing> = sh.rx.try_iter().collect();
        let b = outs.pop().unwrap();
        let a = outs.pop().unwrap();
        let unknown = SendError::new(
            SendErrorKind::OutcomeUnknown {
                broker: "b".into(),
                detail: crate::producer::AttemptError::ShutdownDeadline,
            },
            vec![a.msg.clone()],
        );
        sh.fail_or_hold(Some(a.msg), a.meta, "T1", &unknown.kind);
        sh.fail_or_hold(
            Some(b.msg.clone()),
            b.meta,
            "T1",
            &not_sent(vec![b.msg]).kind,
        );
        let s = sh.stats();
        let r = s.rule(rule(1)).unwrap();
        assert_eq!((r.outcome_unknown, r.failed, s.held), (1, 0, 1));
        // Kept when close_intake started it: it lists the sends it refused.
        sh.shutdown_log.lock().get_or_insert_with(Vec::new);
        sh.closed.store(true, Ordering::SeqCst);
        sh.fail_held();
        let s = sh.stats();
        assert_eq!(
            (s.rule(rule(1)).unwrap().failed, s.held, s.in_flight),
            (1, 0, 0)
        );
        let log = sh.shutdown_log.lock().take().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].key, "b1-run-1");
        // After shutdown began a failure is not held.
        tx.shared.closed.store(false, Ordering::SeqCst);
        tx.send(publish("z", b"3")).unwrap();
        sh.closed.store(true, Ordering::SeqCst);
        let c = sh.rx.try_recv().unwrap();
        sh.fail_or_hold(
            Some(c.msg.clone()),
            c.meta,
            "T1",
            &not_sent(vec![c.msg]).kind,
        );
        let s = sh.stats();
        assert_eq!(
            (s.rule(rule(1)).unwrap().failed, s.held, s.in_flight),
            (2, 0, 0)
        );
    }

    /// Issue #18 case 9a: while a topic has no route every client id gets a group of its own; idle
    /// groups must be removed, not kept one per client id forever.
    #[test]
    fn groups_of_a_topic_without_a_route_stay_bounded() {
        // Nothing listens on port 1: every route lookup fails at once, so every send fails.
        let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 8 << 20);
        let pcfg = ProducerConfig::new(&["127.0.0.1:1"], "g").heartbeat_interval(Duration::ZERO);
        let producer = Producer::start(pcfg).unwrap();
        let mut d = Dispatcher::new(Arc::clone(&sh), producer.clone(), 100);
        let sender = EventSender {
            shared: Arc::clone(&sh),
        };
        let clients = 3 * GROUP_SWEEP_AT;
        let mut most = 0;
        for i in 0..clients {
            let ev =
                Event::message_publish(format!("client-{i}"), "z", Bytes::from_static(b"1"), 0)
                    .with_ts(1);
            sender.send(ev).unwrap();
            if i % 256 == 255 || i + 1 == clients {
                d.collect(&sh.rx);
                most = most.max(d.groups.len());
            }
        }
        d.flush_all();
        eprintln!("at most {most} groups for {clients} client ids");
        assert!(
            most <= GROUP_SWEEP_AT + 256,
            "{most} groups kept for {clients} client ids"
        );
        let t = sh.stats().total();
        assert_eq!(t.matched, clients as u64);
        assert_eq!(
            t.failed, clients as u64,
            "every message ended, failed (no route)"
        );
        producer.close(Duration::from_millis(100));
    }

    #[test]
    fn cluster_info_tells_whether_a_broker_is_registered() {
        // As a Java name server writes it: bare integer keys in brokerAddrs.
        let live = br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"c"}},"clusterAddrTable":{"c":["broker-a"]}}"#;
        assert_eq!(cluster_info_has_broker(live), Some(true));
        let none = br#"{"brokerAddrTable":{},"clusterAddrTable":{}}"#;
        assert_eq!(cluster_info_has_broker(none), Some(false));
        let no_addr =
            br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{},"brokerName":"broker-a"}}}"#;
        assert_eq!(cluster_info_has_broker(no_addr), Some(false));
        assert_eq!(cluster_info_has_broker(b""), Some(false));
        assert_eq!(cluster_info_has_broker(b"{not json"), None);
    }

    #[test]
    fn drop_oldest_drops_a_held_message_first() {
        let sh = shared_with_hold(Duration::from_secs(60));
        let tx = EventSender {
            shared: Arc::clone(&sh),
        };
        tx.send(publish("z", b"1")).unwrap();
        tx.send(publish("z", b"2")).unwrap();
        let a = sh.rx.try_recv().unwrap();
        sh.fail_or_hold(
            Some(a.msg.clone()),
            a.meta,
            "T1",
            &not_sent(vec![a.msg]).kind,
        );
        assert!(sh.drop_oldest());
        let s = sh.stats();
        assert_eq!(
            (
                s.rule(rule(1)).unwrap().dropped_overflow,
                s.held,
                s.in_flight
            ),
            (1, 0, 1)
        );
        assert_eq!(sh.rx.len(), 1, "the channel's message stays");
    }
}
