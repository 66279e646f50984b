//! The opaque → waiter table of one connection. Pure: time comes in as an argument, so the
//! timeout logic is tested without sleeping.

use std::collections::HashMap;
use std::time::Instant;

/// Requests waiting for their responses, keyed by opaque.
#[derive(Debug)]
pub struct PendingTable<W> {
    map: HashMap<i32, (W, Instant)>,
}

impl<W> Default for PendingTable<W> {
    fn default() -> Self {
        PendingTable {
            map: HashMap::new(),
        }
    }
}

impl<W> PendingTable<W> {
    /// Registers a waiter that gives up at `deadline`. Returns false (and registers nothing) if the
    /// opaque is already waiting, which a caller must treat as a programming error or wrap-around.
    pub fn register(&mut self, opaque: i32, waiter: W, deadline: Instant) -> bool {
        if self.map.contains_key(&opaque) {
            return false;
        }
        self.map.insert(opaque, (waiter, deadline));
        true
    }

    /// Takes the waiter for a response that arrived at `now`. `None` for an unknown opaque or one
    /// whose deadline has passed (a late response: its caller has given up and it must not be
    /// handed to anyone else).
    pub fn complete(&mut self, opaque: i32, now: Instant) -> Option<W> {
        match self.map.remove(&opaque) {
            Some((w, deadline)) if now <= deadline => Some(w),
            _ => None,
        }
    }

    /// Removes a waiter (its caller timed out or failed to write).
    pub fn remove(&mut self, opaque: i32) -> Option<W> {
        self.map.remove(&opaque).map(|(w, _)| w)
    }

    /// Removes and returns the waiters whose deadline is before `now`.
    pub fn sweep(&mut self, now: Instant) -> Vec<(i32, W)> {
        let expired: Vec<i32> = self
            .map
            .iter()
            .filter(|(_, (_, d))| *d < now)
            .map(|(o, _)| *o)
            .collect();
        expired
            .into_iter()
            .filter_map(|o| self.map.remove(&o).map(|(w, _)| (o, w)))
            .collect()
    }

    /// Removes every waiter (the connection died).
    pub fn drain(&mut self) -> Vec<W> {
        self.map.drain().map(|(_, (w, _))| w).collect()
    }

    /// Number of waiters.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nobody waits.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn late_response_after_deadline_is_not_handed_out() {
        let t0 = Instant::now();
        let mut t = PendingTable::default();
        assert!(t.register(1, "a", t0 + Duration::from_millis(10)));
        assert!(!t.register(1, "b", t0 + Duration::from_millis(10)));
        assert_eq!(t.complete(1, t0 + Duration::from_millis(11)), None);
        assert!(t.is_empty());
    }

    #[test]
    fn response_in_time_reaches_its_own_waiter_only() {
        let t0 = Instant::now();
        let mut t = PendingTable::default();
        t.register(1, "a", t0 + Duration::from_secs(1));
        t.register(2, "b", t0 + Duration::from_secs(1));
        assert_eq!(t.complete(2, t0), Some("b"));
        assert_eq!(t.complete(2, t0), None);
        assert_eq!(t.complete(7, t0), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn sweep_takes_only_expired_waiters() {
        let t0 = Instant::now();
        let mut t = PendingTable::default();
        t.register(1, "a", t0 + Duration::from_millis(5));
        t.register(2, "b", t0 + Duration::from_millis(50));
        let gone = t.sweep(t0 + Duration::from_millis(10));
        assert_eq!(gone, vec![(1, "a")]);
        assert_eq!(t.drain(), vec!["b"]);
    }
}
