//! The in-memory hold: in async mode without a spool, a message the producer hands back as not
//! stored (every attempt failed before it reached a broker, no route, a full broker queue, or
//! refused with a retryable code) is held here and sent again after a backoff, so the byte budget
//! rides out a broker outage shorter than `bridge.rocket.retry.max_hold`.
//!
//! - A held message keeps its budget bytes and its place in the in-flight count: while the budget
//!   is full of held messages, new events meet `buffer.overflow` (blocked, or dropped and counted as
//!   `overflow`; `drop_oldest` drops held messages first, as they are the oldest).
//! - It keeps its message, so its key (`<bridge_id>-<run>-<seq>`) is the same on every attempt.
//! - The backoff is [`BACKOFF_FIRST`] doubling to [`BACKOFF_MAX`]. A failure that comes back once
//!   `max_hold` has passed since the message's first failure ends it as dropped with the reason
//!   `failed` (counted in `failed`, in the loss report, in the shutdown report).
//! - When shutdown begins, held messages are not tried again: they end as `failed` at once.
//! - An outcome-unknown send is never held (the broker may have stored it): it stays outcome
//!   unknown. Sync mode never holds: the host gets the error.
//! - Order: held messages go back to the dispatcher in the order they failed, behind what it
//!   holds at that moment. A client's messages sent while an earlier one of it was held can be
//!   stored before it: order per client holds only among messages that were not held.

use super::buffer::Outgoing;
use crate::producer::{SendErrorKind, RETRYABLE_CODES};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The first re-send waits this long after the failure.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(500);
/// The backoff doubles per attempt up to this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often the dispatcher looks for held messages that are due.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// The wait before re-send number `attempt` (1 for the first).
pub fn backoff(attempt: u32) -> Duration {
    let shift = attempt.saturating_sub(1).min(16);
    BACKOFF_FIRST.saturating_mul(1u32 << shift).min(BACKOFF_MAX)
}

/// True when a send that failed this way is certainly not stored and may succeed later.
pub(crate) fn holds(kind: &SendErrorKind) -> bool {
    match kind {
        SendErrorKind::NotSent { .. }
        | SendErrorKind::Route(_)
        | SendErrorKind::WindowFull { .. } => true,
        // NO_PERMISSION here is a broker or topic that took no writes (an ACL refusal is
        // `AccessDenied`, never held: the credentials do not change while the bridge runs).
        SendErrorKind::Rejected { code, .. } => {
            RETRYABLE_CODES.contains(code) || *code == crate::remoting::codes::NO_PERMISSION
        }
        _ => false,
    }
}

struct Held {
    due: Instant,
    out: Outgoing,
}

/// Messages waiting for their next attempt, in the order they failed.
pub(crate) struct HoldQueue {
    pub(crate) max_hold: Duration,
    q: Mutex<VecDeque<Held>>,
    /// Messages handed back to the dispatcher for a re-send, ever.
    resent: AtomicU64,
}

impl HoldQueue {
    pub(crate) fn new(max_hold: Duration) -> HoldQueue {
        HoldQueue {
            max_hold,
            q: Mutex::new(VecDeque::new()),
            resent: AtomicU64::new(0),
        }
    }

    /// Holds `out` until `due`, unless `closed` is set (checked under the queue's lock, so a
    /// shutdown that set it and then emptied the queue misses nothing): then it is handed back.
    pub(crate) fn push_unless_closed(
        &self,
        closed: &AtomicBool,
        out: Outgoing,
        due: Instant,
    ) -> Option<Outgoing> {
        let mut q = self.q.lock();
        if closed.load(Ordering::SeqCst) {
            return Some(out);
        }
        q.push_back(Held { due, out });
        None
    }

    /// The held messages due at `now`, in the order they failed.
    pub(crate) fn take_due(&self, now: Instant) -> Vec<Outgoing> {
        let mut q = self.q.lock();
        if !q.iter().any(|h| h.due <= now) {
            return Vec::new();
        }
        let (due, wait): (VecDeque<Held>, VecDeque<Held>) = q.drain(..).partition(|h| h.due <= now);
        *q = wait;
        self.resent.fetch_add(due.len() as u64, Ordering::Relaxed);
        due.into_iter().map(|h| h.out).collect()
    }

    /// Every held message (shutdown).
    pub(crate) fn take_all(&self) -> Vec<Outgoing> {
        self.q.lock().drain(..).map(|h| h.out).collect()
    }

    /// The message held longest (for `drop_oldest`).
    pub(crate) fn pop_oldest(&self) -> Option<Outgoing> {
        self.q.lock().pop_front().map(|h| h.out)
    }

    /// Messages held now.
    pub(crate) fn len(&self) -> usize {
        self.q.lock().len()
    }

    /// Re-sends so far.
    pub(crate) fn resent(&self) -> u64 {
        self.resent.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_half_a_second_to_five() {
        let got: Vec<u64> = (1..=6).map(|a| backoff(a).as_millis() as u64).collect();
        assert_eq!(got, vec![500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(backoff(1000), BACKOFF_MAX);
    }

    #[test]
    fn only_certainly_not_stored_failures_are_held() {
        let rejected = |code| SendErrorKind::Rejected {
            broker: "b".into(),
            code,
            remark: String::new(),
        };
        assert!(holds(&SendErrorKind::NotSent {
            last: crate::producer::AttemptError::NoAttempt
        }));
        assert!(holds(&rejected(RETRYABLE_CODES[0])));
        assert!(!holds(&rejected(13)));
        assert!(!holds(&SendErrorKind::OutcomeUnknown {
            broker: "b".into(),
            detail: crate::producer::AttemptError::ShutdownDeadline
        }));
        assert!(!holds(&SendErrorKind::Closed));
        assert!(!holds(&SendErrorKind::TooLarge { size: 2, max: 1 }));
    }
}
