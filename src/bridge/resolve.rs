//! Resolving "outcome unknown": a send whose request left but whose answer never came (timeout,
//! connection lost after the write) may or may not be stored. Instead of guessing, the bridge
//! (async mode) asks the brokers with their index lookup by key (QUERY_MESSAGE, request code 12,
//! answered by rocketmq-rust 1.0 and Apache RocketMQ 5.5.0) whether a message of the topic with
//! the message's key (`<bridge_id>-<run>-<seq>`, in `KEYS`) is stored, and only then settles it:
//!
//! - **Found** on any broker of the topic: settled as sent (`resolved_stored`, also `sent`), not
//!   sent again, so no duplicate.
//! - **Proven not stored** (`resolved_not_stored`): sent again with the same key. A miss proves
//!   nothing by itself (the index is built behind the commit log, and a request can still be
//!   waiting in the broker). It counts only when all of these hold:
//!   1. the connection that carried the request is closed (the producer reported the loss of the
//!      connection, not a timeout on a connection that stays open);
//!   2. [`BROKER_SEND_QUEUE_WAIT`] has passed since then (the longest a broker keeps a request
//!      read from a connection before it processes or discards it);
//!   3. for every broker of the topic's route (and the one of the unknown attempt), a *probe* — a
//!      message of this bridge that broker acknowledged, whose send began after 1 and 2 — is found
//!      by the same query before the key is looked up: the index reached a point after anything
//!      the lost request could have stored.
//!
//!   Caveat: the producer reports the broker of its last outcome-unknown attempt; an earlier
//!   unknown attempt at another broker of the route is covered by 3 (that broker's probe and miss)
//!   but its connection's closing is not known; the send-queue wait bounds it.
//! - **Unresolved**: not settled within [`MAX_LOOKUPS`] lookups or `bridge.rocket.retry.resolve_unknown`
//!   (default [`MAX_RESOLVE_TIME`]; `0s` turns the lookups off) (a broker
//!   unreachable, or no probe because nothing else was sent), at shutdown once the drain ended
//!   (lookups go on while a shutdown waits for outcomes, up to `drain_timeout`; a send proven not
//!   stored then ends as `failed`, since nothing is sent once the intake closed; after the drain a
//!   shutdown waits for one query in progress, [`QUERY_TIMEOUT`], at most), or a broker that does
//!   not answer the lookup (its code refused): it ends as today, `outcome_unknown`, counted also
//!   in `unresolved`, reported in the loss report and the shutdown report.
//!
//! Messages waiting for a lookup keep their budget bytes and their place in the in-flight count.
//! At most [`MAX_PENDING`] wait; past that an unknown outcome ends unresolved at once. One lookup
//! round runs every [`LOOKUP_INTERVAL`] on the thread `bridge-resolve`, at most
//! [`MAX_QUERIES_PER_ROUND`] queries a round; one send is looked up again after a wait that
//! doubles from [`LOOKUP_INTERVAL`] to [`MAX_LOOKUP_SPACING`], and a broker that did not answer
//! is not asked again in the same round.

use super::buffer::Meta;
use crate::consumer::PullConsumer;
use crate::message::{Message, MessageExt};
use crate::producer::{AttemptError, SendErrorKind};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Lookup rounds run this often.
pub const LOOKUP_INTERVAL: Duration = Duration::from_millis(250);
/// The longest wait between two lookups of one unknown send: the wait doubles from
/// [`LOOKUP_INTERVAL`] after each lookup up to this, so a broker that restarts (a JVM broker is
/// routed again 10-20 s after it went down) is still looked up when it is back, within
/// [`MAX_LOOKUPS`].
pub const MAX_LOOKUP_SPACING: Duration = Duration::from_secs(2);
/// Lookups one unknown send gets before it ends unresolved (spaced as [`MAX_LOOKUP_SPACING`]
/// says, they span about 75 s).
pub const MAX_LOOKUPS: u32 = 40;
/// Time one unknown send may wait for its resolution before it ends unresolved, by default
/// (`bridge.rocket.retry.resolve_unknown`): longer than a broker's restart (a SIGKILLed Apache
/// broker restarted at once is routed again within about 20 s here), so the unknowns of its
/// last requests are settled instead of reported.
pub const MAX_RESOLVE_TIME: Duration = Duration::from_secs(60);
/// The broker's own wait for a request read from a connection (Apache's
/// `waitTimeMillsInSendQueue` is 200 ms by default) with a margin: a request whose connection
/// closed this long ago is processed or discarded.
pub const BROKER_SEND_QUEUE_WAIT: Duration = Duration::from_secs(1);
/// Unknown sends waiting for a lookup at most.
pub const MAX_PENDING: usize = 10_000;
/// Broker queries one lookup round makes at most (probe and key queries together).
pub const MAX_QUERIES_PER_ROUND: usize = 2_000;
/// The timeout of one broker query; also the longest a shutdown waits for a lookup in progress.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// Messages one query asks for (the key is unique; more only on hash collisions in the index).
const QUERY_MAX_NUM: u32 = 32;
/// The store-time window of a query reaches this far around the send (clock differences).
const WINDOW: Duration = Duration::from_secs(600);

/// What a lookup concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Found stored.
    Stored,
    /// Proven not stored.
    NotStored,
    /// Neither (yet).
    Unknown,
}

/// One outcome-unknown send waiting for its lookup.
pub(crate) struct Pending {
    /// The message as the producer handed it back (needed for a re-send).
    pub(crate) msg: Option<Message>,
    pub(crate) meta: Meta,
    /// The topic as the rule names it.
    pub(crate) topic: String,
    /// The producer's detail, for the report when it stays unknown.
    pub(crate) detail: String,
    /// The broker of the last unknown attempt.
    broker: String,
    /// The connection that carried the request is known to be closed.
    conn_closed: bool,
    /// When the producer reported the outcome unknown.
    since: Instant,
    since_ms: u64,
    pub(crate) lookups: u32,
    /// Not looked up again before this (the spacing grows with each lookup).
    next_at: Instant,
}

/// True when the unknown outcome came with the loss of its connection (not a timeout on a
/// connection that may still be open).
pub(crate) fn connection_closed(kind: &SendErrorKind) -> bool {
    match kind {
        SendErrorKind::OutcomeUnknown {
            detail: AttemptError::Remoting(e),
            ..
        } => !matches!(**e, crate::remoting::Error::Timeout { .. }),
        _ => false,
    }
}

/// The last acknowledged message of this bridge per broker, the probe.
#[derive(Debug, Clone)]
struct Probe {
    topic: String,
    key: String,
    sent_at: Instant,
}

/// The waiting unknowns and the probes; the lookup itself is [`Lookup`].
pub(crate) struct Resolver {
    /// `None` once the lookups ended (shutdown).
    pending: Mutex<Option<VecDeque<Pending>>>,
    probes: Mutex<HashMap<String, Probe>>,
    /// The wire topic of a rule topic (the namespace applied).
    namespace: Option<String>,
    /// `bridge.rocket.retry.resolve_unknown`.
    max_time: Duration,
}

impl Resolver {
    pub(crate) fn new(namespace: Option<String>, max_time: Duration) -> Resolver {
        Resolver {
            pending: Mutex::new(Some(VecDeque::new())),
            probes: Mutex::new(HashMap::new()),
            namespace,
            max_time,
        }
    }

    /// Notes that `broker` acknowledged the message `key` of `topic` whose send began at `sent_at`.
    pub(crate) fn acked(&self, broker: &str, topic: &str, key: &str, sent_at: Instant) {
        let mut p = self.probes.lock();
        match p.get_mut(broker) {
            Some(pr) if pr.sent_at >= sent_at => {}
            Some(pr) => {
                pr.topic.clear();
                pr.topic.push_str(topic);
                pr.key.clear();
                pr.key.push_str(key);
                pr.sent_at = sent_at;
            }
            None => {
                p.insert(
                    broker.to_owned(),
                    Probe {
                        topic: topic.to_owned(),
                        key: key.to_owned(),
                        sent_at,
                    },
                );
            }
        }
    }

    /// Queues an unknown send for lookups; hands it back when [`MAX_PENDING`] wait already or
    /// the lookups ended.
    pub(crate) fn push(
        &self,
        msg: Option<Message>,
        meta: Meta,
        topic: &str,
        kind: &SendErrorKind,
        detail: String,
    ) -> Result<(), Box<(Option<Message>, Meta)>> {
        let mut g = self.pending.lock();
        let Some(q) = g.as_mut().filter(|q| q.len() < MAX_PENDING) else {
            return Err(Box::new((msg, meta)));
        };
        let broker = match kind {
            SendErrorKind::OutcomeUnknown { broker, .. } => broker.clone(),
            _ => String::new(),
        };
        q.push_back(Pending {
            msg,
            meta,
            topic: topic.to_owned(),
            detail,
            broker,
            conn_closed: connection_closed(kind),
            since: Instant::now(),
            since_ms: now_ms(),
            lookups: 0,
            next_at: Instant::now(),
        });
        Ok(())
    }

    /// Every waiting send.
    pub(crate) fn take_all(&self) -> Vec<Pending> {
        self.pending
            .lock()
            .as_mut()
            .map_or_else(Vec::new, |q| q.drain(..).collect())
    }

    /// Ends the lookups: later unknowns are handed back by [`Resolver::push`]; returns what waits.
    pub(crate) fn close(&self) -> Vec<Pending> {
        self.pending
            .lock()
            .take()
            .map_or_else(Vec::new, |q| q.into_iter().collect())
    }

    /// Puts back sends still unknown (in front of those that arrived meanwhile); hands them back
    /// when the lookups ended meanwhile.
    pub(crate) fn put_back(&self, back: Vec<Pending>) -> Vec<Pending> {
        let mut g = self.pending.lock();
        match g.as_mut() {
            Some(q) => {
                for p in back.into_iter().rev() {
                    q.push_front(p);
                }
                Vec::new()
            }
            None => back,
        }
    }

    /// Sends waiting now.
    pub(crate) fn len(&self) -> usize {
        self.pending.lock().as_ref().map_or(0, VecDeque::len)
    }

    /// True when `p` has used its budget.
    pub(crate) fn spent(&self, p: &Pending) -> bool {
        p.lookups >= MAX_LOOKUPS || p.since.elapsed() >= self.max_time
    }

    /// True when `p` is due for its next lookup.
    pub(crate) fn due(p: &Pending, now: Instant) -> bool {
        now >= p.next_at
    }

    fn wire_topic(&self, topic: &str) -> String {
        match &self.namespace {
            Some(ns) if !topic.starts_with(&format!("{ns}%")) => format!("{ns}%{topic}"),
            _ => topic.to_owned(),
        }
    }
}

/// The wait after the `n`-th lookup (n >= 1) before the next: [`LOOKUP_INTERVAL`] doubled per
/// lookup, at most [`MAX_LOOKUP_SPACING`].
pub(crate) fn spacing(n: u32) -> Duration {
    let shift = n.saturating_sub(1).min(16);
    LOOKUP_INTERVAL
        .saturating_mul(1u32 << shift)
        .min(MAX_LOOKUP_SPACING)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// True when `got` holds a message of `topic` carrying `key`.
fn holds_key(got: &[MessageExt], topic: &str, key: &str) -> bool {
    got.iter()
        .any(|m| m.topic == topic && m.keys().contains(&key))
}

/// One broker's answers in a lookup, as [`decide`] weighs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BrokerAnswer {
    /// The key was found.
    pub(crate) found: bool,
    /// The key was looked up and missed, after a qualifying probe was found.
    pub(crate) miss_after_probe: bool,
}

/// The verdict over the answers of every broker of the topic (`None`: a broker did not answer).
pub(crate) fn decide(answers: &[Option<BrokerAnswer>]) -> Verdict {
    if answers.iter().flatten().any(|a| a.found) {
        return Verdict::Stored;
    }
    if !answers.is_empty()
        && answers
            .iter()
            .all(|a| a.is_some_and(|a| a.miss_after_probe))
    {
        return Verdict::NotStored;
    }
    Verdict::Unknown
}

/// The broker side of a lookup round: queries through a [`PullConsumer`].
pub(crate) struct Lookup {
    consumer: PullConsumer,
    queries: usize,
    /// This round's brokers per wire topic.
    routes: HashMap<String, Vec<String>>,
    /// Brokers that could not be reached or did not answer a query this round: not asked again
    /// in it (a black-holed broker would otherwise cost [`QUERY_TIMEOUT`] per waiting send).
    silent: HashSet<String>,
}

impl Lookup {
    pub(crate) fn new(consumer: PullConsumer) -> Lookup {
        Lookup {
            consumer: consumer.with_timeout(QUERY_TIMEOUT),
            queries: 0,
            routes: HashMap::new(),
            silent: HashSet::new(),
        }
    }

    /// Starts a round (resets the query count).
    pub(crate) fn round(&mut self) {
        self.queries = 0;
        self.routes.clear();
        self.silent.clear();
    }

    /// True when this round's queries are spent.
    pub(crate) fn round_spent(&self) -> bool {
        self.queries >= MAX_QUERIES_PER_ROUND
    }

    fn query(&mut self, addr: &str, topic: &str, key: &str, since_ms: u64) -> Option<bool> {
        if self.silent.contains(addr) {
            return None;
        }
        self.queries += 1;
        let w = WINDOW.as_millis() as u64;
        match self.consumer.query_by_key(
            addr,
            topic,
            key,
            false,
            QUERY_MAX_NUM,
            since_ms.saturating_sub(w)..now_ms() + w,
        ) {
            Ok(got) => Some(holds_key(&got, topic, key)),
            Err(e) => {
                log::debug!("bridge resolve: lookup at {addr} failed: {e}");
                // Unreachable or not answering: skip it for the rest of the round. A broker that
                // answered with a refusal (the rust broker refuses while its index lags) is asked
                // again for the next send.
                if matches!(e, crate::consumer::Error::Remoting(_)) {
                    self.silent.insert(addr.to_owned());
                }
                None
            }
        }
    }

    /// One lookup of `p` (counted in `p.lookups`); gives up ([`Verdict::Unknown`]) before any
    /// further query once `closing` is set, so a shutdown waits for one query at most.
    pub(crate) fn lookup(
        &mut self,
        r: &Resolver,
        p: &mut Pending,
        closing: &AtomicBool,
    ) -> Verdict {
        p.lookups += 1;
        p.next_at = Instant::now() + spacing(p.lookups);
        let topic = r.wire_topic(&p.topic);
        let consumer = &self.consumer;
        let mut brokers = self
            .routes
            .entry(topic.clone())
            .or_insert_with(|| match consumer.queues(&topic) {
                Ok(qs) => {
                    let mut a: Vec<String> = qs.into_iter().map(|q| q.addr).collect();
                    a.dedup();
                    a
                }
                Err(e) => {
                    log::debug!("bridge resolve: route of {topic}: {e}");
                    Vec::new()
                }
            })
            .clone();
        if !p.broker.is_empty() {
            brokers.push(p.broker.clone());
        }
        brokers.sort();
        brokers.dedup();
        // A probe proves the index caught up only when its send began after the request can no
        // longer be stored.
        let settled_at = p.since + BROKER_SEND_QUEUE_WAIT;
        let may_prove = p.conn_closed && Instant::now() >= settled_at;
        let mut answers = Vec::with_capacity(brokers.len());
        for b in &brokers {
            if closing.load(Ordering::SeqCst) {
                return Verdict::Unknown;
            }
            let probe = may_prove
                .then(|| r.probes.lock().get(b).cloned())
                .flatten()
                .filter(|pr| pr.sent_at >= settled_at);
            // The probe first, then the key: found in that order, the index covered the probe
            // when the key was looked up.
            let probe_found = match &probe {
                Some(pr) => {
                    let t = r.wire_topic(&pr.topic);
                    self.query(b, &t, &pr.key, p.since_ms) == Some(true)
                }
                None => false,
            };
            answers.push(self.query(b, &topic, &p.meta.key, p.since_ms).map(|found| {
                BrokerAnswer {
                    found,
                    miss_after_probe: !found && probe_found,
                }
            }));
            if answers.last().is_some_and(|a| a.is_some_and(|a| a.found)) {
                break;
            }
        }
        decide(&answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOUND: Option<BrokerAnswer> = Some(BrokerAnswer {
        found: true,
        miss_after_probe: false,
    });
    const PROVEN_MISS: Option<BrokerAnswer> = Some(BrokerAnswer {
        found: false,
        miss_after_probe: true,
    });
    const BARE_MISS: Option<BrokerAnswer> = Some(BrokerAnswer {
        found: false,
        miss_after_probe: false,
    });

    #[test]
    fn found_anywhere_is_stored() {
        assert_eq!(decide(&[None, FOUND]), Verdict::Stored);
        assert_eq!(decide(&[BARE_MISS, FOUND]), Verdict::Stored);
    }

    #[test]
    fn lookups_space_out_and_their_budget_outlasts_a_broker_restart() {
        assert_eq!(spacing(1), LOOKUP_INTERVAL);
        assert_eq!(spacing(2), LOOKUP_INTERVAL * 2);
        assert_eq!(spacing(3), LOOKUP_INTERVAL * 4);
        assert_eq!(spacing(4), MAX_LOOKUP_SPACING);
        assert_eq!(spacing(u32::MAX), MAX_LOOKUP_SPACING);
        // The lookups a send gets span at least the default time budget, so the budget, not the
        // count, ends a send whose broker is down.
        let span: Duration = (1..MAX_LOOKUPS).map(spacing).sum();
        assert!(span >= MAX_RESOLVE_TIME, "{span:?}");
        assert!(MAX_RESOLVE_TIME >= Duration::from_secs(30));
    }

    #[test]
    fn not_stored_needs_a_proven_miss_on_every_broker() {
        assert_eq!(decide(&[PROVEN_MISS, PROVEN_MISS]), Verdict::NotStored);
        assert_eq!(decide(&[PROVEN_MISS, BARE_MISS]), Verdict::Unknown);
        assert_eq!(decide(&[PROVEN_MISS, None]), Verdict::Unknown);
        assert_eq!(decide(&[]), Verdict::Unknown);
    }

    #[test]
    fn only_a_lost_connection_can_prove_not_stored() {
        let unknown = |e| SendErrorKind::OutcomeUnknown {
            broker: "b".into(),
            detail: AttemptError::Remoting(std::sync::Arc::new(e)),
        };
        assert!(connection_closed(&unknown(
            crate::remoting::Error::ConnectionClosed {
                addr: "b".into(),
                request_sent: true,
            }
        )));
        assert!(!connection_closed(&unknown(
            crate::remoting::Error::Timeout {
                addr: "b".into(),
                opaque: 1,
                after: Duration::from_secs(3),
            }
        )));
        assert!(!connection_closed(&SendErrorKind::OutcomeUnknown {
            broker: "b".into(),
            detail: AttemptError::ShutdownDeadline,
        }));
    }
}
