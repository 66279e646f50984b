//! Which queue an ordering key goes to: rendezvous (highest-random-weight) hashing over the
//! writable queues of a route, so that a route change moves only the keys it must.
//!
//! Every writable queue `(broker name, queue id)` gets a score for the key, a strong 64-bit mix of
//! the key hash and the queue's identity; the key goes to the queue with the highest score. The
//! score of a queue does not depend on which other queues exist, so:
//! - a broker that **leaves** the route (stopped, killed, its write permission removed) moves only
//!   the keys whose best queue was on it; each goes to its next-best queue, which is spread evenly
//!   over the remaining queues of every broker (no single survivor takes the whole load);
//! - a broker that **joins** takes only the keys for which one of its queues now scores highest:
//!   with equal queue counts, 1/N of the keys for the N-th broker, none of the others move;
//! - the load is proportional to the queue count of each broker, as with `hash % queue count`.
//!
//! The previous choice, `hash % queue count`, moved almost every key on any change of the count.
//!
//! The ranking is also the fallback order: when the best queue's broker failed recently (or was
//! the previous attempt's broker), the producer takes the best queue of another broker
//! ([`TopicPublishInfo::key_ranking`]), so the clients of a failed broker spread over the others
//! and return to their own queue when it recovers. Moving is an order break for that key (messages
//! before and after the move sit in two queues); README "Ordering" says so.
//!
//! Cost: one mix per writable queue per message (a route carries at most a few dozen), no
//! allocation for [`TopicPublishInfo::key_queue`].

use super::route::{MessageQueue, TopicPublishInfo};

/// A queue's identity as a 64-bit value: FNV-1a of the broker name, mixed with the queue id.
fn queue_identity(q: &MessageQueue) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in q.broker_name.as_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    crate::util::mix64(h ^ (q.queue_id as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The rendezvous score of a queue of identity `id` ([`queue_identity`]) for a key hash: the one
/// formula every choice of a key's queue uses.
fn score(key_hash: u64, id: u64) -> u64 {
    crate::util::mix64(key_hash ^ id)
}

/// [`TopicPublishInfo::key_queue`] over the identities [`TopicPublishInfo::queue_identities`]
/// gave for that route: the same index for every key.
pub fn key_queue_among(identities: &[u64], key_hash: u64) -> Option<usize> {
    best_queue(identities.iter().copied(), key_hash)
}

/// The index of the highest score among queue identities (ties to the earlier), `None` without
/// queues: the one choice [`TopicPublishInfo::key_queue`] and [`key_queue_among`] share.
fn best_queue(identities: impl Iterator<Item = u64>, key_hash: u64) -> Option<usize> {
    let mut best: Option<(u64, usize)> = None;
    for (i, id) in identities.enumerate() {
        let s = score(key_hash, id);
        if best.is_none_or(|(b, _)| s > b) {
            best = Some((s, i));
        }
    }
    best.map(|(_, i)| i)
}

impl TopicPublishInfo {
    /// The index in [`TopicPublishInfo::queues`] of the key's queue (highest rendezvous score;
    /// ties, which need a 64-bit collision, go to the earlier queue), or `None` without queues.
    pub fn key_queue(&self, key_hash: u64) -> Option<usize> {
        best_queue(self.queues.iter().map(queue_identity), key_hash)
    }

    /// Each writable queue's identity, in the order of [`TopicPublishInfo::queues`], for
    /// [`key_queue_among`]: a sender that chooses queues for many keys in one route (the bridge's
    /// dispatcher, per message) computes them once instead of hashing each broker name per key.
    pub fn queue_identities(&self) -> Vec<u64> {
        self.queues.iter().map(queue_identity).collect()
    }

    /// How many of the writable queues are on `broker` (the queues of one broker are contiguous,
    /// sorted by broker name).
    pub fn broker_queue_count(&self, broker: &str) -> usize {
        let start = self
            .queues
            .partition_point(|q| q.broker_name.as_str() < broker);
        self.queues[start..].partition_point(|q| q.broker_name == broker)
    }

    /// The indexes of the queues for a key, best first, at most one per broker: the key's queue
    /// ([`TopicPublishInfo::key_queue`]), then the best queue of the next broker, and so on. The
    /// producer walks it when a broker is avoided or was the previous attempt's.
    pub fn key_ranking(&self, key_hash: u64) -> Vec<usize> {
        // Best queue per broker; the queues of one broker are contiguous (sorted by broker name).
        let mut per_broker: Vec<(u64, usize)> = Vec::with_capacity(self.masters.len());
        let mut cur: Option<(&str, u64, usize)> = None;
        for (i, q) in self.queues.iter().enumerate() {
            let s = score(key_hash, queue_identity(q));
            match cur {
                Some((b, bs, _)) if b == q.broker_name => {
                    if s > bs {
                        cur = Some((b, s, i));
                    }
                }
                _ => {
                    if let Some((_, bs, bi)) = cur {
                        per_broker.push((bs, bi));
                    }
                    cur = Some((q.broker_name.as_str(), s, i));
                }
            }
        }
        if let Some((_, bs, bi)) = cur {
            per_broker.push((bs, bi));
        }
        per_broker.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        per_broker.into_iter().map(|(_, i)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    fn info(brokers: &[(&str, i32)]) -> TopicPublishInfo {
        let mut info = TopicPublishInfo::default();
        let mut sorted = brokers.to_vec();
        sorted.sort();
        for (b, n) in sorted {
            info.masters.insert(b.to_owned(), format!("{b}:10911"));
            for q in 0..n {
                info.queues.push(MessageQueue {
                    topic: "T".into(),
                    broker_name: b.to_owned(),
                    queue_id: q,
                });
            }
        }
        info
    }

    fn keys(n: usize) -> Vec<u64> {
        (0..n)
            .map(|i| {
                // FNV-1a, as `producer::key_hash` hashes client ids.
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in format!("client-{i}").bytes() {
                    h ^= b as u64;
                    h = h.wrapping_mul(0x0100_0000_01b3);
                }
                h
            })
            .collect()
    }

    #[test]
    fn key_queue_among_the_identities_is_key_queue() {
        for brokers in [
            &[][..],
            &[("a", 1)][..],
            &[("a", 8)][..],
            &[("a", 4), ("b", 8), ("c", 2)][..],
        ] {
            let i = info(brokers);
            let ids = i.queue_identities();
            assert_eq!(ids.len(), i.queues.len());
            for k in keys(2000) {
                assert_eq!(key_queue_among(&ids, k), i.key_queue(k), "{brokers:?}");
            }
        }
    }

    #[test]
    fn broker_queue_count_counts_each_brokers_queues() {
        let i = info(&[("b", 8), ("a", 4), ("c", 1)]);
        assert_eq!(
            ["a", "b", "c", "d", ""].map(|b| i.broker_queue_count(b)),
            [4, 8, 1, 0, 0]
        );
        assert_eq!(TopicPublishInfo::default().broker_queue_count("a"), 0);
    }

    fn choice(info: &TopicPublishInfo, k: u64) -> MessageQueue {
        info.queues[info.key_queue(k).unwrap()].clone()
    }

    /// Largest relative deviation from the mean of the counts per queue.
    fn imbalance(info: &TopicPublishInfo, ks: &[u64]) -> f64 {
        let mut per: HashMap<usize, usize> = HashMap::new();
        for &k in ks {
            *per.entry(info.key_queue(k).unwrap()).or_default() += 1;
        }
        assert_eq!(per.len(), info.queues.len(), "every queue gets keys");
        let mean = ks.len() as f64 / info.queues.len() as f64;
        per.values()
            .map(|&c| (c as f64 - mean).abs() / mean)
            .fold(0.0, f64::max)
    }

    #[test]
    fn removing_or_adding_one_of_three_brokers_moves_only_its_clients() {
        let ks = keys(30_000);
        let three = info(&[("broker-a", 4), ("broker-b", 4), ("broker-c", 4)]);
        let two = info(&[("broker-a", 4), ("broker-b", 4)]);
        let before: Vec<MessageQueue> = ks.iter().map(|&k| choice(&three, k)).collect();
        let after: Vec<MessageQueue> = ks.iter().map(|&k| choice(&two, k)).collect();
        let mut moved = 0;
        let mut on_c = 0;
        for (b, a) in before.iter().zip(&after) {
            if b.broker_name == "broker-c" {
                on_c += 1;
                assert_ne!(a.broker_name, "broker-c");
            } else {
                // A client whose broker stayed keeps its exact queue.
                assert_eq!(a, b);
            }
            if a != b {
                moved += 1;
            }
        }
        assert_eq!(moved, on_c, "only broker-c's clients move");
        let frac = moved as f64 / ks.len() as f64;
        eprintln!(
            "remove 1 of 3 brokers: moved {moved} of {} = {frac:.4}",
            ks.len()
        );
        assert!((0.30..0.37).contains(&frac), "about a third moved: {frac}");
        // For comparison, the choice this replaced (hash % queue count, 12 -> 8 queues).
        let modulo = ks.iter().filter(|&&k| k % 12 != k % 8).count();
        eprintln!("hash % queue count would move {modulo} of {}", ks.len());
        // Adding it back returns exactly those clients, and only them.
        let back: Vec<MessageQueue> = ks.iter().map(|&k| choice(&three, k)).collect();
        assert_eq!(back, before);
        // The moved clients spread evenly over the two survivors.
        let to_a = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.broker_name == "broker-c" && a.broker_name == "broker-a")
            .count();
        let share_a = to_a as f64 / on_c as f64;
        eprintln!("broker-c's clients moved to broker-a: {share_a:.4}");
        assert!((0.45..0.55).contains(&share_a), "{share_a}");
        // Load stays balanced per queue before and after.
        let (i3, i2) = (imbalance(&three, &ks), imbalance(&two, &ks));
        eprintln!("max per-queue deviation from mean: 3 brokers {i3:.4}, 2 brokers {i2:.4}");
        assert!(i3 < 0.1 && i2 < 0.1, "{i3} {i2}");
    }

    #[test]
    fn load_follows_queue_counts_and_one_broker_changing_its_count_moves_little() {
        let ks = keys(40_000);
        let a = info(&[("broker-a", 8), ("broker-b", 4)]);
        let mut per: BTreeMap<String, usize> = BTreeMap::new();
        for &k in &ks {
            *per.entry(choice(&a, k).broker_name).or_default() += 1;
        }
        let share_a = per["broker-a"] as f64 / ks.len() as f64;
        assert!((0.63..0.70).contains(&share_a), "8 of 12 queues: {share_a}");
        // broker-b goes from 4 to 2 writable queues: only clients of its queues 2 and 3 move.
        let b = info(&[("broker-a", 8), ("broker-b", 2)]);
        for &k in &ks {
            let (x, y) = (choice(&a, k), choice(&b, k));
            if x.broker_name == "broker-a" || x.queue_id < 2 {
                assert_eq!(x, y);
            }
        }
    }

    #[test]
    fn ranking_starts_with_the_key_queue_and_names_each_broker_once() {
        let i = info(&[("broker-a", 4), ("broker-b", 3), ("broker-c", 5)]);
        for k in keys(2_000) {
            let r = i.key_ranking(k);
            assert_eq!(r.len(), 3);
            assert_eq!(r[0], i.key_queue(k).unwrap());
            let mut names: Vec<&str> = r
                .iter()
                .map(|&x| i.queues[x].broker_name.as_str())
                .collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), 3);
            // The second choice is where the key goes when its first broker leaves the route.
            let first = &i.queues[r[0]].broker_name;
            let rest: Vec<(&str, i32)> = [("broker-a", 4), ("broker-b", 3), ("broker-c", 5)]
                .into_iter()
                .filter(|(b, _)| b != first)
                .collect();
            let without = info(&rest);
            assert_eq!(choice(&without, k), i.queues[r[1]]);
        }
        assert_eq!(TopicPublishInfo::default().key_queue(1), None);
        assert!(TopicPublishInfo::default().key_ranking(1).is_empty());
    }
}
