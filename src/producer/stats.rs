//! The producer's counters ([`ProducerStats`]) and the switch of a broker that refuses batches to
//! single sends ([`Counters::batches_refused`]).

use super::broker::BrokerState;
use std::sync::atomic::{AtomicU64, Ordering};

/// The producer's counters since it started ([`super::Producer::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerStats {
    /// Brokers switched to single sends for the rest of the run because they refused a
    /// SEND_BATCH_MESSAGE (code 3, a "request code … not supported" remark, or code 1 with a
    /// "not support" remark such as `the topic[X] is batch send , not support.`).
    pub batch_refused_brokers: u64,
    /// Batches that the broker refused and that were re-sent member by member.
    pub batch_refused_batches: u64,
    /// Messages of batches sent one by one (a refused batch, or a batch for a broker already
    /// switched to single sends).
    pub batch_fallback_messages: u64,
    /// Send attempts that failed at a broker (no answer in time, a lost connection, a retryable
    /// refusal) and made the producer avoid that broker for `broker_avoid`; with `key_dispatch`
    /// each can move a client to its next-best queue.
    pub failed_attempts: u64,
}

/// The live counters behind [`ProducerStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    batch_refused_brokers: AtomicU64,
    batch_refused_batches: AtomicU64,
    batch_fallback_messages: AtomicU64,
    failed_attempts: AtomicU64,
}

impl Counters {
    /// A batch to `broker` was answered `code`/`remark` meaning it takes no batches: the broker
    /// sends singly from now on; the first refusal per broker is logged at warn and counted.
    pub(crate) fn batches_refused(&self, broker: &BrokerState, code: i32, remark: &str) {
        self.batch_refused_batches.fetch_add(1, Ordering::Relaxed);
        if !broker.no_batch.swap(true, Ordering::SeqCst) {
            self.batch_refused_brokers.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                "broker refuses batch sends, sending one by one from now on broker={} code={code} ({}) remark={:?}",
                broker.addr,
                crate::remoting::codes::response_name(code),
                remark
            );
        }
    }

    /// `n` messages of a batch go one by one.
    pub(crate) fn fallback_messages(&self, n: usize) {
        self.batch_fallback_messages
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A send attempt failed at a broker, which is avoided now.
    pub(crate) fn attempt_failed(&self) {
        self.failed_attempts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ProducerStats {
        ProducerStats {
            batch_refused_brokers: self.batch_refused_brokers.load(Ordering::Relaxed),
            batch_refused_batches: self.batch_refused_batches.load(Ordering::Relaxed),
            batch_fallback_messages: self.batch_fallback_messages.load(Ordering::Relaxed),
            failed_attempts: self.failed_attempts.load(Ordering::Relaxed),
        }
    }
}
