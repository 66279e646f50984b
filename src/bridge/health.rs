//! Broker-aware health: a topic is unhealthy when no broker accepted a send for it within
//! `bridge.rocket.health.window` while there was something to send for it.
//!
//! "Something to send" is seen through outcomes: a send that failed or whose outcome is unknown
//! (with a spool: an attempt that will be retried) opens a failure streak for its topic. The topic
//! is unhealthy once the streak is older than the window, measured from the topic's last accepted
//! send (or from the first failure when it never had one), and healthy again at the next accepted
//! send. A topic with nothing to send stays healthy, whatever its last success. The bridge is
//! healthy when every topic is.
//!
//! So after a broker goes away the status turns unhealthy at most one window after the last
//! accepted send (the first failed attempt must have come back first: at most
//! `produce.sync_timeout` after the broker went away), and healthy with the first send it accepts
//! after its return (with a spool, retried within [`super::spooled::RETRY_BACKOFF`]; the route is
//! re-read every `refresh_topic_route_interval`).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The health of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicHealth {
    /// The RocketMQ topic.
    pub topic: String,
    /// False when no send was accepted within the window while there was something to send.
    pub healthy: bool,
    /// Time since a broker last accepted a send for the topic (`None`: never, in this run).
    pub since_last_success: Option<Duration>,
    /// Time since the current failure streak began (`None`: no failure since the last success).
    pub failing_for: Option<Duration>,
}

/// The bridge's health ([`crate::bridge::Bridge::health`]): what `GET /health` and
/// `rocketmq-bridge status` show.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeHealth {
    /// True when every topic is healthy.
    pub healthy: bool,
    /// `bridge.rocket.health.window`.
    pub window: Duration,
    /// Per topic that had any outcome, by name.
    pub topics: Vec<TopicHealth>,
    /// Messages buffered or in flight.
    pub in_flight: usize,
    /// Records in the spool not yet confirmed (0 without a spool).
    pub spool_pending: u64,
}

impl BridgeHealth {
    /// The JSON body of `GET /health`.
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
        serde_json::json!({
            "status": if self.healthy { "healthy" } else { "unhealthy" },
            "window_ms": self.window.as_millis() as u64,
            "in_flight": self.in_flight,
            "spool_pending": self.spool_pending,
            "unhealthy_topics": self.topics.iter().filter(|t| !t.healthy).map(|t| t.topic.clone()).collect::<Vec<_>>(),
            "topics": self.topics.iter().map(|t| serde_json::json!({
                "topic": t.topic,
                "healthy": t.healthy,
                "ms_since_last_success": ms(t.since_last_success),
                "failing_for_ms": ms(t.failing_for),
            })).collect::<Vec<_>>(),
            "time_ms": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        })
    }
}

#[derive(Default, Clone, Copy)]
struct Topic {
    last_success: Option<Instant>,
    failing_since: Option<Instant>,
}

/// Success and failure times per topic.
pub(crate) struct HealthTracker {
    window: Duration,
    topics: Mutex<BTreeMap<String, Topic>>,
}

impl HealthTracker {
    pub(crate) fn new(window: Duration) -> HealthTracker {
        HealthTracker {
            window,
            topics: Mutex::new(BTreeMap::new()),
        }
    }

    /// A broker accepted a send for `topic`.
    pub(crate) fn success(&self, topic: &str) {
        let now = Instant::now();
        let mut t = self.topics.lock();
        match t.get_mut(topic) {
            Some(e) => {
                e.last_success = Some(now);
                e.failing_since = None;
            }
            None => {
                t.insert(
                    topic.to_owned(),
                    Topic {
                        last_success: Some(now),
                        failing_since: None,
                    },
                );
            }
        }
    }

    /// A send for `topic` failed or its outcome is unknown.
    pub(crate) fn failure(&self, topic: &str) {
        let now = Instant::now();
        let mut t = self.topics.lock();
        let e = t.entry(topic.to_owned()).or_default();
        if e.failing_since.is_none() {
            // No success since `last_success`: the streak counts from there.
            e.failing_since = Some(e.last_success.unwrap_or(now));
        }
    }

    pub(crate) fn status(&self, in_flight: usize, spool_pending: u64) -> BridgeHealth {
        let now = Instant::now();
        let topics: Vec<TopicHealth> = self
            .topics
            .lock()
            .iter()
            .map(|(name, t)| {
                let failing_for = t.failing_since.map(|s| now.saturating_duration_since(s));
                TopicHealth {
                    topic: name.clone(),
                    healthy: failing_for.is_none_or(|f| f < self.window),
                    since_last_success: t.last_success.map(|s| now.saturating_duration_since(s)),
                    failing_for,
                }
            })
            .collect();
        BridgeHealth {
            healthy: topics.iter().all(|t| t.healthy),
            window: self.window,
            topics,
            in_flight,
            spool_pending,
        }
    }
}

/// The metrics `GET /metrics` serves, from the bridge's counters and health:
///
/// | metric | type | labels |
/// |---|---|---|
/// | `rocketmq_bridge_healthy` | gauge (1/0) | |
/// | `rocketmq_bridge_queue_depth` | gauge: messages waiting in the dispatcher's channel | |
/// | `rocketmq_bridge_in_flight` | gauge: messages buffered or with the producer | |
/// | `rocketmq_bridge_buffered_bytes` | gauge: bytes of those (`buffer.max_bytes` bounds it) | |
/// | `rocketmq_bridge_held` / `_held_resent_total` | gauge / counter: messages held in memory for a re-send (no spool), re-sends | |
/// | `rocketmq_bridge_spool_bytes` / `_spool_max_bytes` / `_spool_pending_records` | gauges (`_max_bytes`: the `spool.max_bytes` cap) | |
/// | `rocketmq_bridge_spool_resent_total` | counter: messages sent again from the spool | |
/// | `rocketmq_bridge_spool_dropped_total` | counter: records the spool dropped | `reason` (`cap_reached`, `corrupt`, `missing`, `possibly_lost`, `undecodable`) |
/// | `rocketmq_bridge_matched_total`, `_sent_total`, `_failed_total`, `_outcome_unknown_total`, `_unknown_resolved_total` (label `result`: `stored`, `not_stored`, `unresolved`) | counters (`failed` is the drop reason `failed`: not stored after retries and the hold) | `rule`, `topic` |
/// | `rocketmq_bridge_dropped_total` | counter | `rule`, `topic`, `reason` (`too_large`, `overflow`, `shutdown`, `spool_error`, `bad_topic`, `bad_tag`, `no_topic`, `topic_cap`) |
/// | `rocketmq_bridge_unmatched_total` | counter: events no rule matched | |
/// | `rocketmq_bridge_loss_reports_sent_total` | counter | |
/// | `rocketmq_bridge_batch_refused_brokers` | counter: brokers that refused batch sends and get single sends for the rest of the run | |
/// | `rocketmq_bridge_batch_refused_total` | counter: batches a broker refused (re-sent one by one) | |
/// | `rocketmq_bridge_batch_fallback_messages_total` | counter: messages of batches sent one by one | |
/// | `rocketmq_bridge_failed_attempts_total` | counter: send attempts that failed at a broker and made the producer avoid it for a while | |
pub fn metrics_of(
    stats: &super::outcome::BridgeStats,
    health: &BridgeHealth,
) -> Vec<crate::metrics::Metric> {
    use crate::metrics::Metric;
    let mut m = vec![
        Metric::gauge(
            "rocketmq_bridge_healthy",
            "1 when every topic had an accepted send within the health window (or nothing to send)",
            if health.healthy { 1.0 } else { 0.0 },
        ),
        Metric::gauge(
            "rocketmq_bridge_queue_depth",
            "Messages waiting in the dispatcher's channel",
            stats.queue_depth as f64,
        ),
        Metric::gauge(
            "rocketmq_bridge_in_flight",
            "Messages buffered or with the producer",
            stats.in_flight as f64,
        ),
        Metric::gauge(
            "rocketmq_bridge_buffered_bytes",
            "Bytes of the messages buffered or with the producer",
            stats.buffered_bytes as f64,
        ),
        Metric::gauge(
            "rocketmq_bridge_held",
            "Messages held in memory for a re-send after the broker did not store them",
            stats.held as f64,
        ),
        Metric::counter(
            "rocketmq_bridge_held_resent_total",
            "Re-sends of held messages",
            stats.held_resent as f64,
        ),
        Metric::counter(
            "rocketmq_bridge_unmatched_total",
            "Events no rule matched",
            stats.unmatched as f64,
        ),
        Metric::counter(
            "rocketmq_bridge_loss_reports_sent_total",
            "Loss reports sent in band",
            stats.loss_reports_sent as f64,
        ),
        Metric::counter(
            "rocketmq_bridge_batch_refused_brokers",
            "Brokers that refused batch sends and get single sends for the rest of the run",
            stats.producer.batch_refused_brokers as f64,
        ),
        Metric::counter(
            "rocketmq_bridge_batch_refused_total",
            "Batches a broker refused, re-sent one by one",
            stats.producer.batch_refused_batches as f64,
        ),
        Metric::counter(
            "rocketmq_bridge_batch_fallback_messages_total",
            "Messages of batches sent one by one",
            stats.producer.batch_fallback_messages as f64,
        ),
        Metric::counter(
            "rocketmq_bridge_failed_attempts_total",
            "Send attempts that failed at a broker, which was then avoided for a while",
            stats.producer.failed_attempts as f64,
        ),
    ];
    if let Some(s) = &stats.spool {
        m.push(Metric::gauge(
            "rocketmq_bridge_spool_bytes",
            "Bytes of the spool's segments",
            s.bytes as f64,
        ));
        m.push(Metric::gauge(
            "rocketmq_bridge_spool_max_bytes",
            "The spool's size cap (spool.max_bytes); at it the oldest segment is dropped",
            s.max_bytes as f64,
        ));
        m.push(Metric::gauge(
            "rocketmq_bridge_spool_pending_records",
            "Spooled events not yet confirmed",
            s.pending_records as f64,
        ));
        m.push(Metric::counter(
            "rocketmq_bridge_spool_resent_total",
            "Messages sent again from the spool after a failed or unknown attempt",
            s.resent as f64,
        ));
        for (reason, v) in [
            ("cap_reached", s.dropped_cap_reached),
            ("corrupt", s.dropped_corrupt),
            ("missing", s.dropped_missing),
            ("possibly_lost", s.possibly_lost),
            ("undecodable", s.undecodable),
        ] {
            m.push(
                Metric::counter(
                    "rocketmq_bridge_spool_dropped_total",
                    "Spool records dropped",
                    v as f64,
                )
                .label("reason", reason),
            );
        }
    }
    for r in &stats.rules {
        let rule = r.rule.map(|id| id.to_string()).unwrap_or_default();
        let per = |name: &str, help: &str, v: u64| {
            Metric::counter(name, help, v as f64)
                .label("rule", &rule)
                .label("topic", &r.topic)
        };
        m.push(per(
            "rocketmq_bridge_matched_total",
            "Events that matched the rule",
            r.matched,
        ));
        m.push(per(
            "rocketmq_bridge_sent_total",
            "Messages the broker confirmed",
            r.sent,
        ));
        m.push(per(
            "rocketmq_bridge_failed_total",
            "Messages dropped with the reason failed: not stored after the retries and the hold",
            r.failed,
        ));
        m.push(per(
            "rocketmq_bridge_outcome_unknown_total",
            "Messages that may or may not be stored",
            r.outcome_unknown,
        ));
        for (how, v) in [
            ("stored", r.resolved_stored),
            ("not_stored", r.resolved_not_stored),
            ("unresolved", r.unresolved),
        ] {
            m.push(
                per(
                    "rocketmq_bridge_unknown_resolved_total",
                    "Outcome-unknown sends settled by the broker lookup (stored: settled as sent; not_stored: sent again; unresolved: stayed unknown)",
                    v,
                )
                .label("result", how),
            );
        }
        for (reason, v) in [
            ("too_large", r.dropped_too_large),
            ("overflow", r.dropped_overflow),
            ("shutdown", r.dropped_shutdown),
            ("spool_error", r.dropped_spool_error),
            ("bad_topic", r.dropped_bad_topic),
            ("bad_tag", r.dropped_bad_tag),
            ("no_topic", r.dropped_no_topic),
            ("topic_cap", r.dropped_topic_cap),
        ] {
            m.push(
                per("rocketmq_bridge_dropped_total", "Messages dropped", v).label("reason", reason),
            );
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_streak_older_than_the_window_is_unhealthy_until_a_success() {
        let h = HealthTracker::new(Duration::from_millis(40));
        assert!(h.status(0, 0).healthy, "no outcome yet: healthy");
        h.success("T");
        h.failure("T");
        assert!(h.status(1, 0).healthy, "within the window");
        std::thread::sleep(Duration::from_millis(60));
        let s = h.status(1, 0);
        assert!(!s.healthy);
        assert_eq!(s.to_json()["unhealthy_topics"][0], "T");
        h.success("T");
        assert!(h.status(0, 0).healthy);
        h.success("U");
        std::thread::sleep(Duration::from_millis(60));
        assert!(h.status(0, 0).healthy, "quiet topics stay healthy");
    }
}
