//! The buffer between the hosts and the dispatcher: a buffered message ([`Outgoing`]: the message
//! and its [`Meta`]), the byte budget that bounds what is buffered or in flight
//! (`buffer.max_bytes`, [`budget_bytes`]), and the [`Waiter`] of a sync event or of an event sent
//! with an outcome callback.
//!
//! Layering (see [`super`]): above [`super::outcome`] and [`super::spool_ack`] (a spooled message
//! carries its ticket); the settle layer ([`super::settle`]) admits messages into the budget and
//! ends them.

use super::outcome::RuleStats;
use super::outcome::SendEventError;
use super::rule::RuleId;
use super::spool_ack::SpoolTicket;
use crate::message::Message;
use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Hand-overs the dispatcher's channel holds at most: a message each, or a [`super::ChunkSender`]'s
/// batch of at most [`super::CHUNK_MAX`] messages. crossbeam preallocates a bounded channel's
/// slots, so this is kept small: the byte budget is the real bound on buffered events.
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

/// Bytes buffered or in flight, with a condvar for `block`.
pub(crate) struct Budget {
    max: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

impl Budget {
    /// An empty budget of `max` bytes.
    pub(crate) fn new(max: usize) -> Budget {
        Budget {
            max,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Takes `n` bytes if they fit; false otherwise.
    pub(crate) fn try_acquire(&self, n: usize) -> bool {
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

    /// Waits for room; false when `stopped` says so while waiting (it is asked at least every
    /// 50 ms, and whenever room is freed or [`Budget::wake_all`] is called).
    pub(crate) fn acquire_blocking(&self, n: usize, stopped: &dyn Fn() -> bool) -> bool {
        let mut used = self.used.lock();
        loop {
            if *used == 0 || *used + n <= self.max {
                *used += n;
                return true;
            }
            if stopped() {
                return false;
            }
            self.freed.wait_for(&mut used, Duration::from_millis(50));
        }
    }

    /// Gives `n` bytes back and wakes the waiting senders.
    pub(crate) fn release(&self, n: usize) {
        let mut used = self.used.lock();
        *used = used.saturating_sub(n);
        drop(used);
        self.freed.notify_all();
    }

    /// Wakes every sender waiting for room (to look at its `closed` flag).
    pub(crate) fn wake_all(&self) {
        self.freed.notify_all();
    }

    /// Bytes taken now.
    pub(crate) fn used(&self) -> usize {
        *self.used.lock()
    }
}

/// Called once with an event's combined outcome ([`super::EventSender::send_then`]).
pub(crate) type OutcomeFn = Box<dyn FnOnce(Result<(), SendEventError>) + Send>;

/// Where a [`Waiter`] reports: a sync sender's channel, or a host's callback.
pub(crate) enum Notify {
    /// A sync [`super::EventSender::send`] waits on the other end.
    Channel(Sender<Result<(), SendEventError>>),
    /// [`super::EventSender::send_then`]: called on the thread that ends the last message.
    Call(OutcomeFn),
}

/// The outcome of an event whose sender wants it (sync mode, or a callback): one result per
/// message, first error wins, reported once when the last message ended.
pub(crate) struct Waiter {
    remaining: AtomicUsize,
    first_error: Mutex<Option<SendEventError>>,
    notify: Mutex<Option<Notify>>,
}

impl Waiter {
    /// A waiter for `n` messages that reports on `tx`.
    pub(crate) fn new(n: usize, tx: Sender<Result<(), SendEventError>>) -> Waiter {
        Waiter::with(n, Notify::Channel(tx), None)
    }

    /// A waiter for `n` messages that reports to `notify`, with `first_error` already known (a
    /// message of the event dropped before it was buffered).
    pub(crate) fn with(n: usize, notify: Notify, first_error: Option<SendEventError>) -> Waiter {
        Waiter {
            remaining: AtomicUsize::new(n),
            first_error: Mutex::new(first_error),
            notify: Mutex::new(Some(notify)),
        }
    }

    /// One message ended.
    pub(crate) fn complete(&self, r: Result<(), SendEventError>) {
        if let Err(e) = r {
            self.first_error.lock().get_or_insert(e);
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let res = match self.first_error.lock().take() {
                Some(e) => Err(e),
                None => Ok(()),
            };
            // Taken out of the lock first: the host's callback runs without any lock held.
            let notify = self.notify.lock().take();
            match notify {
                Some(Notify::Channel(tx)) => {
                    let _ = tx.try_send(res);
                }
                Some(Notify::Call(f)) => f(res),
                None => {}
            }
        }
    }
}

/// Bytes of a text kept inside [`ShortText`] itself: 46, room for a bridge key
/// `<bridge_id>-<run>-<seq>` with a bridge id of up to 12 bytes and every sequence number (20
/// digits), and for the usual MQTT client id (at most 23 bytes in MQTT 3.1, a UUID's 36).
const TEXT_INLINE: usize = 46;

/// A message's bridge key or its client id. The usual one is short and lives inline, so it costs
/// no allocation on the host's thread and no free on the producer's (a free across threads is one
/// of the costliest steps per event in issue #22's profile; a shared `Arc` per client id was one
/// too, for every client a small cache did not hold); a longer one is shared.
#[derive(Clone)]
pub(crate) enum ShortText {
    Inline { len: u8, bytes: [u8; TEXT_INLINE] },
    Heap(Arc<str>),
}

impl ShortText {
    /// The text's bytes, without the UTF-8 check of [`ShortText::as_str`]: for hashing and for
    /// the producer's ordering key, once per message.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            ShortText::Inline { len, bytes } => &bytes[..*len as usize],
            ShortText::Heap(s) => s.as_bytes(),
        }
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Copied from a `&str` whole: always UTF-8 (checked, never empty on error in
            // practice).
            ShortText::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).unwrap_or("")
            }
            ShortText::Heap(s) => s,
        }
    }
}

impl From<&str> for ShortText {
    fn from(s: &str) -> ShortText {
        if s.len() <= TEXT_INLINE {
            let mut bytes = [0u8; TEXT_INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            ShortText::Inline {
                len: s.len() as u8,
                bytes,
            }
        } else {
            ShortText::Heap(Arc::from(s))
        }
    }
}

impl From<String> for ShortText {
    fn from(s: String) -> ShortText {
        ShortText::from(s.as_str())
    }
}

impl std::ops::Deref for ShortText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for ShortText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for ShortText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for ShortText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What travels with a message, for counting and reporting its outcome.
pub(crate) struct Meta {
    pub(crate) rule: RuleId,
    pub(crate) stats: Arc<RuleStats>,
    pub(crate) key: ShortText,
    /// The event's client id (or its own ordering key), copied into each of its messages and
    /// the dispatcher's group.
    pub(crate) client_id: Option<ShortText>,
    pub(crate) bytes: usize,
    pub(crate) waiter: Option<Arc<Waiter>>,
    /// The event's sequence number (the key's last part), for the loss report.
    pub(crate) seq: Option<u64>,
    /// Set when the message comes from the spool.
    pub(crate) spool: Option<SpoolTicket>,
    /// Set once the message was held for a re-send ([`super::hold`]): its first failure and the
    /// re-sends so far.
    pub(crate) held: Option<(Instant, u32)>,
}

/// What the channel to the dispatcher carries: one message, or the messages a [`super::ChunkSender`]
/// gathered, in order, handed over with one channel operation instead of one per message.
// The one message is the usual hand-over; boxing it would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Handed {
    One(Outgoing),
    Many(Vec<Outgoing>),
}

impl Handed {
    /// The first message (tests take single messages out of the channel).
    #[cfg(test)]
    pub(crate) fn one(self) -> Outgoing {
        self.into_iter()
            .next()
            .expect("a hand-over holds a message")
    }

    /// Its messages.
    pub(crate) fn len(&self) -> usize {
        match self {
            Handed::One(_) => 1,
            Handed::Many(v) => v.len(),
        }
    }
}

impl IntoIterator for Handed {
    type Item = Outgoing;
    type IntoIter = HandedIter;
    fn into_iter(self) -> HandedIter {
        match self {
            Handed::One(out) => HandedIter::One(Some(out)),
            Handed::Many(v) => HandedIter::Many(v.into_iter()),
        }
    }
}

/// The messages of a [`Handed`], in order.
#[allow(clippy::large_enum_variant)]
pub(crate) enum HandedIter {
    One(Option<Outgoing>),
    Many(std::vec::IntoIter<Outgoing>),
}

impl Iterator for HandedIter {
    type Item = Outgoing;
    fn next(&mut self) -> Option<Outgoing> {
        match self {
            HandedIter::One(o) => o.take(),
            HandedIter::Many(it) => it.next(),
        }
    }
}

/// One message waiting in the channel.
pub(crate) struct Outgoing {
    pub(crate) msg: Message,
    pub(crate) meta: Meta,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::bounded;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn budget_admits_one_message_when_empty_and_wakes_blocked_senders() {
        let b = Arc::new(Budget::new(100));
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
        let h = std::thread::spawn(move || b2.acquire_blocking(60, &|| c2.load(Ordering::SeqCst)));
        std::thread::sleep(Duration::from_millis(30));
        b.release(60);
        assert!(
            h.join().unwrap(),
            "released room lets the blocked sender in"
        );
        let (b3, c3) = (Arc::clone(&b), Arc::clone(&closed));
        let h = std::thread::spawn(move || b3.acquire_blocking(60, &|| c3.load(Ordering::SeqCst)));
        closed.store(true, Ordering::SeqCst);
        assert!(!h.join().unwrap(), "closing ends the wait");
        assert_eq!(b.used(), 60);
    }

    #[test]
    fn waiter_reports_once_with_the_first_error() {
        let (tx, rx) = bounded(1);
        let w = Waiter::new(3, tx);
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

    /// Keys at, just under and just over the inline room, and the widest sequence numbers, read
    /// back as they were made, from a `&str` or a `String`.
    #[test]
    fn short_text_keeps_keys_inline_or_not() {
        for prefix_len in [
            0,
            1,
            12,
            24,
            TEXT_INLINE - 21,
            TEXT_INLINE - 2,
            TEXT_INLINE,
            80,
        ] {
            let prefix: String = "b1-x".chars().cycle().take(prefix_len).collect();
            for seq in [0, 9, 10, 12_345, u64::MAX / 7, u64::MAX] {
                let want = format!("{prefix}-{seq}");
                let k = ShortText::from(want.as_str());
                assert_eq!(k.as_str(), want);
                assert_eq!(&*k, want.as_str());
                assert_eq!(k.to_string(), want);
                assert_eq!(format!("{k:?}"), format!("{want:?}"));
                assert_eq!(
                    matches!(k, ShortText::Inline { .. }),
                    want.len() <= TEXT_INLINE,
                    "{want}"
                );
                let from = ShortText::from(want.clone());
                assert!(from == want.as_str());
                assert_eq!(from.clone().as_str(), want);
            }
        }
    }

    /// Client ids of every length around the inline room, with characters of 1 to 4 bytes placed
    /// across its end: each reads back whole, inline exactly when it fits.
    #[test]
    fn short_text_keeps_client_ids_of_any_utf8_whole() {
        for c in ['a', 'é', '€', '😀'] {
            for len in 0..TEXT_INLINE + 8 {
                let id = format!("{}{c}", "x".repeat(len));
                let t = ShortText::from(id.as_str());
                assert_eq!(t.as_str(), id);
                assert_eq!(t.as_bytes(), id.as_bytes());
                assert_eq!(
                    matches!(t, ShortText::Inline { .. }),
                    id.len() <= TEXT_INLINE,
                    "{id}"
                );
                assert_eq!(ShortText::from(id.clone()).as_str(), id);
            }
        }
    }
}
