//! The gate a templated topic passes before its message is buffered: each rule's distinct
//! rendered topics, the route lookup on a topic's first use, and the cap
//! (`bridge.rocket.template.max_topics`).
//!
//! Invariants:
//! - A rule's topics are counted once each, in the order first seen; a new topic beyond the cap
//!   is refused (`topic_cap`) and not counted, so the cap holds for the life of the bridge: a
//!   reload keeps a rule's count unless it changed or removed the rule's topic template
//!   ([`TopicGate::forget`]).
//! - A topic is looked up at the name servers on its first use, outside the gate's lock. Found
//!   (or to be created by the broker, TBW102): it passes from then on without a lookup (the
//!   producer's route cache keeps it fresh). Missing: refused as `no_topic`, and looked up again
//!   after [`RECHECK_MISSING`]. No answer (name servers down): it passes (the producer, the hold
//!   or the spool deal with the send) and is looked up again after [`RECHECK_UNKNOWN`].
//! - The lookup runs on the host's thread, at most once per topic per recheck period. A lookup
//!   that got no answer costs the host a name-server timeout (3 s), so after one the whole gate
//!   looks nothing up for a while ([`RECHECK_UNKNOWN`], doubling up to [`MAX_SILENT_BACKOFF`]
//!   while lookups keep getting no answer, back to the start after an answer): topics due for a
//!   lookup meanwhile pass as unanswered (and take their place under the cap). A host thread
//!   waits for at most one unanswered lookup per such period, not one per topic (was: 20 new
//!   topics behind a silent name server held an async host 60 s).
//!
//! Layering (see [`super`]): beside the hold; imports only [`super::outcome`] and the rule id.

use super::outcome::DropReason;
use super::rule::RuleId;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a topic found missing is refused before it is looked up again.
pub(crate) const RECHECK_MISSING: Duration = Duration::from_secs(5);
/// How long a topic whose lookup got no answer passes before it is looked up again.
pub(crate) const RECHECK_UNKNOWN: Duration = Duration::from_secs(1);
/// The longest the gate skips lookups after lookups got no answer.
pub(crate) const MAX_SILENT_BACKOFF: Duration = Duration::from_secs(30);

/// What a route lookup said about a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Routed, or the broker will create it (TBW102).
    Found,
    /// The name servers say it does not exist (or has no writable queue).
    Missing,
    /// No answer (no name server reachable, the producer closed).
    Unknown,
}

/// The lookup the bridge installs once its producer runs.
pub(crate) type RouteLookup = Box<dyn Fn(&str) -> Route + Send + Sync>;

#[derive(Debug, Clone, Copy)]
enum Seen {
    Found,
    Missing(Instant),
    Unknown(Instant),
}

/// See the module docs.
pub(crate) struct TopicGate {
    max: usize,
    rules: Mutex<HashMap<RuleId, HashMap<String, Seen>>>,
    /// After an unanswered lookup: no lookup before this instant, and the next backoff.
    silent: Mutex<(Option<Instant>, Duration)>,
    lookup: OnceLock<RouteLookup>,
}

impl TopicGate {
    /// A gate allowing `max` topics per rule; until [`TopicGate::set_lookup`] every topic is
    /// taken as found.
    pub(crate) fn new(max: usize) -> TopicGate {
        TopicGate {
            max,
            rules: Mutex::new(HashMap::new()),
            silent: Mutex::new((None, RECHECK_UNKNOWN)),
            lookup: OnceLock::new(),
        }
    }

    /// Installs the route lookup (once; later calls are ignored).
    pub(crate) fn set_lookup(&self, f: RouteLookup) {
        let _ = self.lookup.set(f);
    }

    /// Whether `rule` may send to `topic` now: `Err` with `topic_cap` or `no_topic`.
    pub(crate) fn check(&self, rule: RuleId, topic: &str) -> Result<(), DropReason> {
        let now = Instant::now();
        {
            let mut rules = self.rules.lock();
            let seen = rules.entry(rule).or_default();
            match seen.get(topic) {
                Some(Seen::Found) => return Ok(()),
                Some(Seen::Missing(at)) if now.duration_since(*at) < RECHECK_MISSING => {
                    return Err(DropReason::NoTopic)
                }
                Some(Seen::Unknown(at)) if now.duration_since(*at) < RECHECK_UNKNOWN => {
                    return Ok(())
                }
                Some(_) => {}
                None if seen.len() >= self.max => {
                    return Err(DropReason::TopicCap { max: self.max })
                }
                None => {}
            }
        }
        let route = match self.lookup.get() {
            None => Route::Found,
            // The name servers gave no answer lately: no lookup (and no wait) for now.
            Some(_) if self.silent.lock().0.is_some_and(|until| now < until) => Route::Unknown,
            Some(f) => {
                let route = f(topic);
                let mut silent = self.silent.lock();
                if route == Route::Unknown {
                    let backoff = silent.1;
                    *silent = (
                        Some(Instant::now() + backoff),
                        (backoff * 2).min(MAX_SILENT_BACKOFF),
                    );
                } else {
                    *silent = (None, RECHECK_UNKNOWN);
                }
                route
            }
        };
        let mut rules = self.rules.lock();
        let seen = rules.entry(rule).or_default();
        // Another host thread may have filled the last place meanwhile.
        if !seen.contains_key(topic) && seen.len() >= self.max {
            return Err(DropReason::TopicCap { max: self.max });
        }
        let (state, verdict) = match route {
            Route::Found => (Seen::Found, Ok(())),
            Route::Missing => {
                log::debug!("bridge template rule={rule} topic={topic}: no such topic");
                (Seen::Missing(now), Err(DropReason::NoTopic))
            }
            Route::Unknown => (Seen::Unknown(now), Ok(())),
        };
        if seen.insert(topic.to_owned(), state).is_none() && seen.len() == self.max {
            log::warn!(
                "bridge template rule={rule} reached its {} distinct topics \
                 (bridge.rocket.template.max_topics): events for new topics are dropped as topic_cap",
                self.max
            );
        }
        verdict
    }

    /// Forgets `rule`'s topics (a reload changed or removed its topic template).
    pub(crate) fn forget(&self, rule: RuleId) {
        self.rules.lock().remove(&rule);
    }

    /// The distinct topics `rule` has rendered so far.
    #[cfg(test)]
    pub(crate) fn topics_of(&self, rule: RuleId) -> usize {
        self.rules.lock().get(&rule).map_or(0, HashMap::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::EventKind;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn rule(i: u32) -> RuleId {
        RuleId {
            event: EventKind::MessagePublish,
            index: i,
        }
    }

    #[test]
    fn topics_are_looked_up_once_and_capped_per_rule() {
        let gate = TopicGate::new(2);
        let lookups = Arc::new(AtomicUsize::new(0));
        let l = Arc::clone(&lookups);
        gate.set_lookup(Box::new(move |t| {
            l.fetch_add(1, Ordering::SeqCst);
            if t == "Gone" {
                Route::Missing
            } else {
                Route::Found
            }
        }));
        assert_eq!(gate.check(rule(1), "A"), Ok(()));
        assert_eq!(gate.check(rule(1), "A"), Ok(()));
        assert_eq!(lookups.load(Ordering::SeqCst), 1, "one lookup per topic");
        assert_eq!(gate.check(rule(1), "Gone"), Err(DropReason::NoTopic));
        assert_eq!(gate.check(rule(1), "Gone"), Err(DropReason::NoTopic));
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            2,
            "a missing topic waits for its recheck"
        );
        assert_eq!(
            gate.check(rule(1), "B"),
            Err(DropReason::TopicCap { max: 2 }),
            "a missing topic takes a place too"
        );
        assert_eq!(lookups.load(Ordering::SeqCst), 2, "no lookup over the cap");
        assert_eq!(gate.check(rule(1), "A"), Ok(()), "known topics still pass");
        assert_eq!(gate.check(rule(2), "B"), Ok(()), "the cap is per rule");
        assert_eq!((gate.topics_of(rule(1)), gate.topics_of(rule(2))), (2, 1));
        gate.forget(rule(1));
        assert_eq!(
            gate.check(rule(1), "B"),
            Ok(()),
            "a forgotten rule counts afresh"
        );
        assert_eq!((gate.topics_of(rule(1)), gate.topics_of(rule(2))), (1, 1));
    }

    #[test]
    fn after_an_unanswered_lookup_new_topics_pass_without_one_for_a_growing_while() {
        let gate = TopicGate::new(100);
        let lookups = Arc::new(AtomicUsize::new(0));
        let l = Arc::clone(&lookups);
        gate.set_lookup(Box::new(move |_| {
            l.fetch_add(1, Ordering::SeqCst);
            Route::Unknown
        }));
        for i in 0..50 {
            assert_eq!(gate.check(rule(1), &format!("T{i}")), Ok(()));
        }
        assert_eq!(lookups.load(Ordering::SeqCst), 1, "one wait, not fifty");
        assert_eq!(gate.topics_of(rule(1)), 50, "each still takes a place");
        {
            let s = gate.silent.lock();
            assert_eq!(s.1, RECHECK_UNKNOWN * 2, "the next backoff doubles");
        }
        // Past the backoff, one lookup again; an answer ends the backoff.
        gate.silent.lock().0 = Some(Instant::now());
        let gate2 = TopicGate::new(100);
        gate2.set_lookup(Box::new(|_| Route::Found));
        *gate2.silent.lock() = (Some(Instant::now()), MAX_SILENT_BACKOFF);
        assert_eq!(gate2.check(rule(1), "A"), Ok(()));
        assert_eq!(*gate2.silent.lock(), (None, RECHECK_UNKNOWN));
        assert_eq!(gate.check(rule(1), "T50"), Ok(()));
        assert_eq!(lookups.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_unanswered_lookup_lets_the_message_pass() {
        let gate = TopicGate::new(5);
        gate.set_lookup(Box::new(|_| Route::Unknown));
        assert_eq!(gate.check(rule(1), "A"), Ok(()));
        assert_eq!(gate.topics_of(rule(1)), 1);
    }
}
