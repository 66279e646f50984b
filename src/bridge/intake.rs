//! The hosts' side: [`EventSender::send`] matches an event against the rules and formats its
//! messages on the host's thread, then appends them to the spool (with one) or admits them into the
//! buffer for the dispatcher, and in sync mode waits for their outcomes; [`EventSender::send_then`]
//! reports an event's outcome to a callback instead of waiting. A [`ChunkSender`] (one host
//! thread's, from [`EventSender::chunk_sender`]) buffers as `send` does but hands the messages of
//! many events to the dispatcher at once, one channel operation per [`CHUNK_MAX`] messages.
//!
//! Sync mode without a spool sends on the host's own thread ([`EventSender::send`] calls the
//! producer's sync send, which writes the request and reads its answer on the calling thread): no
//! hand-off to the dispatcher and back, so a host's call costs about what a producer send costs.
//! The message is admitted into the budget and ended through [`Settle`] as the dispatcher's
//! messages are, so counters, health, losses and shutdown see no difference. Order holds as before:
//! sync mode has no hold and no lookups, so a message has ended when the call returns, and one host
//! thread's next event leaves after it; the queue is chosen by the same key (`key_dispatch`: the
//! client id). `send_then` still goes through the dispatcher (it must not wait).
//!
//! Layering (see [`super`]): above [`super::settle`]; nothing but the bridge imports it.

use super::buffer::{
    budget_bytes, Handed, Meta, Notify, Outgoing, ShortText, Waiter, CHANNEL_CAPACITY,
};
use super::config::QueueStrategy;
use super::config::{OverflowPolicy, ProduceMode};
use super::event::Event;
use super::format::{format_body, now_ms, write_message_properties, MAX_PROPERTY_VALUE_LEN};
use super::outcome::{DropReason, SendEventError};
use super::rule::{validate_resource_name, validate_tag, BodyFormat, MAX_TOPIC_LEN};
use super::settle::{Room, Settle};
use super::template::push_key_safe;
use crate::message::Topic;
use crate::message::{Message, PROPERTY_KEYS, PROPERTY_TAGS};
use crate::producer::Producer;
use crate::util::push_decimal;
use bytes::Bytes;
use crossbeam_channel::bounded;
use parking_lot::RwLock;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The producer sync sends use on the host's thread: set by the bridge in sync mode without a
/// spool, taken out when its shutdown begins (a send in progress keeps its own handle until it
/// returns, and the shutdown waits for it as for any admitted message).
pub(crate) type DirectProducer = Arc<RwLock<Option<Producer>>>;

/// Extra time a sync host waits beyond `produce.sync_timeout` (queueing and batching).
const SYNC_WAIT_MARGIN: Duration = Duration::from_secs(2);

thread_local! {
    /// The key text of this host thread's current event, kept for the next one.
    static KEY_TEXT: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
    /// The vector of this host thread's current event's messages, kept (empty) for the next one:
    /// a vector per event was an allocation and a free per event (issue #22's profile).
    static READY: std::cell::Cell<Vec<Outgoing>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The hosts' handle: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct EventSender {
    shared: Arc<Settle>,
    direct: DirectProducer,
}

impl fmt::Debug for EventSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSender")
            .field("mode", &self.shared.mode)
            .finish()
    }
}

impl EventSender {
    pub(crate) fn new(shared: Arc<Settle>) -> EventSender {
        EventSender {
            shared,
            direct: DirectProducer::default(),
        }
    }

    /// This sender with the bridge's producer for sync sends on the host's thread.
    pub(crate) fn with_direct(mut self, direct: DirectProducer) -> EventSender {
        self.direct = direct;
        self
    }

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
        self.send_mut(&mut ev)
    }

    /// [`EventSender::send`] of an event the caller keeps, to parse the next line into (see
    /// [`Event::read_json_line`]): no strings of the event are freed per event. The only change to
    /// `ev` is its `ts`, set to now when it was `None` (the time in the event's messages).
    ///
    /// # Errors
    /// As [`EventSender::send`].
    pub fn send_mut(&self, ev: &mut Event) -> Result<(), SendEventError> {
        let sh = &*self.shared;
        let Prepared {
            mut ready,
            first_error,
        } = match self.prepare(ev)? {
            Some(p) => p,
            None => return Ok(()),
        };
        if let Some(sp) = &sh.spool {
            return spool_append(sh, sp, ready, first_error);
        }
        let mut first_error = first_error;
        let direct = match sh.mode {
            ProduceMode::Sync => self.direct.read().clone(),
            ProduceMode::Async => None,
        };
        // The event's budget: its messages are sent on this thread until `sync_timeout` passed,
        // the rest go to the dispatcher, and the wait for every outcome ends at `sync_timeout`
        // plus the margin from here (was: `sync_timeout` per matching rule, then the wait).
        let start = Instant::now();
        let send_until = start + sh.sync_timeout;
        let waiter = if sh.mode == ProduceMode::Sync && !ready.is_empty() {
            let (tx, rx) = bounded(1);
            let w = Arc::new(Waiter::new(ready.len(), tx));
            Some((w, rx))
        } else {
            None
        };
        for mut out in ready.drain(..) {
            out.meta.waiter = waiter.as_ref().map(|(w, _)| Arc::clone(w));
            let r = match &direct {
                Some(p) if Instant::now() < send_until => self.send_direct(out, p, send_until),
                _ => self.enqueue(out),
            };
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        READY.set(ready);
        match waiter {
            None => first_error.map_or(Ok(()), Err),
            Some((_, rx)) => {
                let limit = sh.sync_timeout + SYNC_WAIT_MARGIN;
                let left = (start + limit).saturating_duration_since(Instant::now());
                let outcome = match rx.recv_timeout(left) {
                    Ok(r) => r,
                    Err(_) => Err(SendEventError::Timeout {
                        after: start.elapsed(),
                    }),
                };
                match (first_error, outcome) {
                    (Some(e), _) => Err(e),
                    (None, r) => r,
                }
            }
        }
    }

    /// With a spool, writes what earlier sends appended to its file now (no fsync beyond
    /// `spool.sync`'s): they then survive a process kill. Without one, nothing.
    pub fn persist(&self) -> Result<(), crate::spool::SpoolError> {
        self.shared
            .spool
            .as_ref()
            .map_or(Ok(()), |s| s.spool.write_out())
    }

    /// Hands one event over and reports its outcome to `then` (in either mode; it never waits for
    /// the broker). Returns [`Handover::Pending`] when `then` will be called, exactly once, with
    /// the event's combined outcome (first error wins, as [`EventSender::send`] in sync mode) on
    /// the bridge's thread that ends its last message, or on this thread when the event is refused
    /// while it is being buffered. Returns [`Handover::Done`] when the outcome is known at once
    /// (no rule matched, every message dropped before buffering, closed, or with a spool: stored
    /// in the spool, which then owns the delivery); `then` is then dropped uncalled.
    ///
    /// `then` runs on a bridge thread that also ends other messages: it must return quickly and
    /// must not send events itself when `buffer.overflow = block`.
    pub fn send_then(
        &self,
        ev: Event,
        then: impl FnOnce(Result<(), SendEventError>) + Send + 'static,
    ) -> Handover {
        let sh = &*self.shared;
        let mut ev = ev;
        let Prepared {
            mut ready,
            first_error,
        } = match self.prepare(&mut ev) {
            Ok(Some(p)) => p,
            Ok(None) => return Handover::Done(Ok(())),
            Err(e) => return Handover::Done(Err(e)),
        };
        if let Some(sp) = &sh.spool {
            return Handover::Done(spool_append(sh, sp, ready, first_error));
        }
        if ready.is_empty() {
            return Handover::Done(first_error.map_or(Ok(()), Err));
        }
        // A refusal while buffering ends its message through the waiter, so `then` hears of it.
        let w = Arc::new(Waiter::with(
            ready.len(),
            Notify::Call(Box::new(then)),
            first_error,
        ));
        for mut out in ready.drain(..) {
            out.meta.waiter = Some(Arc::clone(&w));
            let _ = self.enqueue(out);
        }
        READY.set(ready);
        Handover::Pending
    }

    /// Matches and formats `ev`: `None` when no rule matched (counted), else the messages ready
    /// to buffer and the first drop (too large) among the rules.
    fn prepare(&self, ev: &mut Event) -> Result<Option<Prepared>, SendEventError> {
        let sh = &*self.shared;
        if sh.closed.load(Ordering::SeqCst) {
            return Err(SendEventError::Closed);
        }
        // One timestamp for all rules' messages of this event.
        if ev.ts.is_none() {
            ev.ts = Some(now_ms());
        }
        let active = Arc::clone(&sh.active.read());
        let mut matched = active.rules.matching(ev).peekable();
        if matched.peek().is_none() {
            sh.unmatched.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let seq = sh.seq.fetch_add(1, Ordering::Relaxed);
        // `<prefix>-<seq>`, in this thread's reused string (each message's `ShortText` copies it,
        // inline for the usual prefix: no allocation per event).
        let mut key = KEY_TEXT.take();
        key.clear();
        key.push_str(&sh.key_prefix);
        key.push('-');
        push_decimal(&mut key, seq);
        // Room for KEYS, TAGS and the MQTT metadata in one allocation per message.
        // The fixed names and values (about 80 bytes) and the producer's UNIQ_KEY (42), so that
        // no property push reallocates.
        let props_room = 144
            + key.len()
            + ev.client_id.as_ref().map_or(0, String::len)
            + ev.topic
                .as_ref()
                .map_or(0, |t| t.len().min(MAX_PROPERTY_VALUE_LEN));
        // The ordering key: the client id, or the event's own key when the client is unknown.
        let client_id: Option<ShortText> = ev
            .client_id
            .as_deref()
            .or(ev.order_key.as_deref())
            .map(ShortText::from);

        let mut first_error: Option<SendEventError> = None;
        // This thread's vector of the last event (empty, with its room), or room for one
        // message, the usual case (a push would reserve four).
        let mut ready: Vec<Outgoing> = READY.take();
        ready.clear();
        ready.reserve_exact(1);
        // Scratch strings for the rendered tag and keys, reused by every rule of this event.
        let (mut scratch, mut keys) = (String::new(), String::new());
        for rule in matched.by_ref() {
            let stats = Arc::clone(&active.stats[&rule.id()]);
            stats.matched.fetch_add(1, Ordering::Relaxed);
            let mut drop_it = |topic: &str, reason: DropReason| {
                stats.dropped(&reason).fetch_add(1, Ordering::Relaxed);
                sh.losses.record(
                    rule.id(),
                    topic,
                    reason.name(),
                    sh.spool.is_none().then_some(seq),
                );
                log::debug!(
                    "bridge message dropped rule={} topic={topic} key={key}: {reason}",
                    rule.id()
                );
                first_error.get_or_insert(SendEventError::Dropped {
                    rule: rule.id(),
                    reason,
                });
            };
            let topic = match &rule.topic_template {
                None => rule.topic.clone(),
                Some(t) => {
                    let mut topic = String::with_capacity(rule.topic.len() + 32);
                    t.render(ev, &active.node, &mut topic);
                    if validate_resource_name(&topic, MAX_TOPIC_LEN).is_err() {
                        drop_it(&rule.topic, DropReason::BadTopic);
                        continue;
                    }
                    if let Err(reason) = sh.topics.check(rule.id(), &topic) {
                        // A topic over the cap is any topic a client chose: recorded under the
                        // template's text, so the loss ledger keeps one entry per rule and not
                        // one per distinct topic. A missing topic holds a place in the gate (so
                        // at most the cap of them) and keeps its name.
                        let at: &str = match reason {
                            DropReason::TopicCap { .. } => &rule.topic,
                            _ => &topic,
                        };
                        drop_it(at, reason);
                        continue;
                    }
                    Topic::from(topic)
                }
            };
            scratch.clear();
            let tag: Option<&str> = match (&rule.tag_template, &rule.tag) {
                (Some(t), _) => {
                    t.render(ev, &active.node, &mut scratch);
                    if scratch.is_empty() {
                        None
                    } else if validate_tag(&scratch).is_err() {
                        drop_it(&topic, DropReason::BadTag);
                        continue;
                    } else {
                        Some(&scratch)
                    }
                }
                (None, t) => t.as_deref(),
            };
            let body: Bytes = match rule.body {
                BodyFormat::Payload => ev.payload.clone().unwrap_or_default(),
                BodyFormat::Json => {
                    let (body, info) = format_body(ev, &active.node, rule.payload_encoding);
                    if info.lossy_payload {
                        stats.lossy_payload.fetch_add(1, Ordering::Relaxed);
                    }
                    body
                }
            };
            if body.len() > sh.max_message_size {
                let reason = DropReason::TooLarge {
                    size: body.len(),
                    max: sh.max_message_size,
                };
                drop_it(&topic, reason);
                continue;
            }
            let mut props = super::recycle::properties(
                props_room + tag.map_or(0, str::len) + rule.key.as_ref().map_or(0, |_| 64),
            );
            match &rule.key {
                None if sh.key_prefix_valid => props.push_valid(PROPERTY_KEYS, &key),
                None => props.push(PROPERTY_KEYS, &key),
                Some(t) => {
                    // The bridge's key first, then the rendered one (no space, no control
                    // character, at most MAX_PROPERTY_VALUE_LEN bytes); left out when it renders
                    // empty.
                    keys.clear();
                    keys.push_str(&key);
                    keys.push(' ');
                    let start = keys.len();
                    t.render_with(ev, &active.node, &mut keys, push_key_safe);
                    if keys.len() - start > MAX_PROPERTY_VALUE_LEN {
                        let mut end = start + MAX_PROPERTY_VALUE_LEN;
                        while !keys.is_char_boundary(end) {
                            end -= 1;
                        }
                        keys.truncate(end);
                    }
                    props.push(PROPERTY_KEYS, keys.trim_end_matches(' '));
                }
            }
            if let Some(tag) = tag {
                props.push(PROPERTY_TAGS, tag);
            }
            write_message_properties(ev, &mut props);
            let bytes = budget_bytes(
                body.len(),
                props.encoded_len(),
                topic.len(),
                key.len(),
                client_id.as_ref().map_or(0, |c| c.as_bytes().len()),
            );
            let mut msg = Message::new(topic, body);
            msg.properties = props;
            ready.push(Outgoing {
                msg,
                meta: Meta {
                    rule: rule.id(),
                    stats,
                    key: ShortText::from(key.as_str()),
                    client_id: client_id.clone(),
                    bytes,
                    waiter: None,
                    seq: sh.spool.is_none().then_some(seq),
                    spool: None,
                    held: None,
                },
            });
        }
        drop(matched);
        drop(active);
        KEY_TEXT.set(key);
        Ok(Some(Prepared { ready, first_error }))
    }

    /// Takes room in the budget per the overflow policy and sends the message on this thread,
    /// ending it (and so its waiter's count) before returning.
    fn send_direct(
        &self,
        out: Outgoing,
        producer: &Producer,
        until: Instant,
    ) -> Result<(), SendEventError> {
        let sh = &*self.shared;
        let rule = out.meta.rule;
        let Outgoing { msg, meta } = match sh.admit(out, Room::Policy(sh.overflow)) {
            Ok(out) => out,
            Err(DropReason::Shutdown) => return Err(SendEventError::Closed),
            Err(reason) => return Err(SendEventError::Dropped { rule, reason }),
        };
        let topic = msg.topic.clone();
        // The dispatcher's ordering key: the client id under key_dispatch.
        let key = match sh.strategy {
            QueueStrategy::KeyDispatch => meta.client_id.as_ref().map(ShortText::as_bytes),
            QueueStrategy::RoundRobin => None,
        };
        let sent_at = Instant::now();
        match producer.send_with_key_until(msg, key, until) {
            Ok(r) => {
                sh.acked(&r.broker_addr, &topic, &meta.key, sent_at);
                sh.finish(meta, &topic, Ok(()));
            }
            Err(mut e) => sh.fail_or_hold(e.messages.pop(), meta, &topic, &e.kind),
        }
        Ok(())
    }

    /// Takes room in the budget per the overflow policy and puts the message in the channel.
    fn enqueue(&self, out: Outgoing) -> Result<(), SendEventError> {
        let sh = &*self.shared;
        let rule = out.meta.rule;
        // As `admit`, without moving the message in and out of it.
        if let Some(reason) = sh.take_room(out.meta.bytes, Room::Policy(sh.overflow)) {
            sh.reject(out, reason.clone());
            return Err(match reason {
                DropReason::Shutdown => SendEventError::Closed,
                reason => SendEventError::Dropped { rule, reason },
            });
        }
        if let Err(crossbeam_channel::SendError(h)) = sh.tx.send(Handed::One(out)) {
            for out in h {
                sh.drop_out(out, DropReason::Shutdown);
            }
            return Err(SendEventError::Closed);
        }
        kick_if_filling(sh);
        Ok(())
    }

    /// A [`ChunkSender`] of this sender's events, for one host thread.
    pub fn chunk_sender(&self) -> ChunkSender<'_> {
        ChunkSender {
            sender: self,
            kept: Vec::new(),
        }
    }
}

/// A dispatcher sleeping out a linger is woken before the channel can fill: when half its slots or
/// half as many messages as it has slots wait (batches count by their messages, so a burst of them
/// wakes it as soon as single messages would).
fn kick_if_filling(sh: &Settle) {
    if sh.tx.len() + sh.batched.load(Ordering::Relaxed) >= CHANNEL_CAPACITY / 2 {
        let _ = sh.kick.0.try_send(());
    }
}

/// Messages a [`ChunkSender`] keeps at most before it hands them to the dispatcher.
pub const CHUNK_MAX: usize = 64;

/// One host thread's hand-over of many events (from [`EventSender::chunk_sender`]):
/// [`ChunkSender::send_mut`] prepares an event's messages and takes their room in the buffer as
/// [`EventSender::send_mut`] does, but keeps them until it holds [`CHUNK_MAX`], until
/// [`ChunkSender::flush`], or until it is dropped, and then hands them all to the dispatcher with one
/// channel operation instead of one per message (issue #22: the channel was about 6% of the
/// `run` command's instructions per event). A host that reads events in chunks calls `flush`
/// before it waits for the next chunk: kept messages are not sent.
///
/// In sync mode, with a spool, or with `buffer.overflow = drop_oldest` (which drops single
/// messages from the channel), each event is handed over at once, exactly as by
/// [`EventSender::send_mut`]. A message that must wait for room first hands over what is kept, so
/// it never waits on messages that cannot leave.
///
/// Its kept messages are not ordered against what the same thread sends through the
/// [`EventSender`] itself meanwhile: flush first where that order matters (under `key_dispatch`,
/// one client's events).
///
/// Flush or drop it before [`super::Bridge::shutdown`]: kept messages count as in flight, so the
/// shutdown waits for them until its deadline, and a hand-over after the shutdown ended drops them
/// (counted as `shutdown`).
pub struct ChunkSender<'a> {
    sender: &'a EventSender,
    kept: Vec<Outgoing>,
}

impl fmt::Debug for ChunkSender<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkSender")
            .field("kept", &self.kept.len())
            .finish()
    }
}

impl ChunkSender<'_> {
    /// [`EventSender::send_mut`], keeping the event's messages for the next hand-over (see the
    /// type docs).
    ///
    /// # Errors
    /// As [`EventSender::send_mut`], for this event; [`SendEventError::Closed`] also when a
    /// hand-over it made found the bridge closed (the messages it held then end as dropped at
    /// shutdown, counted).
    pub fn send_mut(&mut self, ev: &mut Event) -> Result<(), SendEventError> {
        let s = self.sender;
        let sh = &*s.shared;
        if sh.mode == ProduceMode::Sync
            || sh.spool.is_some()
            || sh.overflow == OverflowPolicy::DropOldest
        {
            return s.send_mut(ev);
        }
        let Prepared {
            mut ready,
            mut first_error,
        } = match s.prepare(ev)? {
            Some(p) => p,
            None => return Ok(()),
        };
        for out in ready.drain(..) {
            if let Err(e) = self.keep(out) {
                first_error.get_or_insert(e);
            }
        }
        READY.set(ready);
        first_error.map_or(Ok(()), Err)
    }

    /// Takes the message's room (without waiting while messages are kept) and keeps it.
    fn keep(&mut self, out: Outgoing) -> Result<(), SendEventError> {
        let sh = &*self.sender.shared;
        let rule = out.meta.rule;
        let refused = if sh.try_take_room(out.meta.bytes) {
            None
        } else {
            // What is kept leaves first: the wait for room may need it sent.
            let _ = self.flush();
            sh.take_room(out.meta.bytes, Room::Policy(sh.overflow))
        };
        if let Some(reason) = refused {
            sh.reject(out, reason.clone());
            return Err(match reason {
                DropReason::Shutdown => SendEventError::Closed,
                reason => SendEventError::Dropped { rule, reason },
            });
        }
        if self.kept.capacity() == 0 {
            self.kept.reserve_exact(CHUNK_MAX);
        }
        self.kept.push(out);
        if self.kept.len() >= CHUNK_MAX {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands every kept message to the dispatcher now.
    ///
    /// # Errors
    /// [`SendEventError::Closed`] when the bridge is closed: the kept messages end as dropped at
    /// shutdown (counted, and listed in the shutdown report).
    pub fn flush(&mut self) -> Result<(), SendEventError> {
        if self.kept.is_empty() {
            return Ok(());
        }
        let sh = &*self.sender.shared;
        // A hand-over holds no more slots than it has messages (up to `CHANNEL_CAPACITY` of them
        // can wait in the channel, and the budget counts `MESSAGE_OVERHEAD` per message): one
        // message goes alone, a partial batch in a vector of its length (the kept vector, with
        // its `CHUNK_MAX` slots, stays for the next ones); only a full batch takes it along.
        let handed = match self.kept.len() {
            1 => {
                let out = self.kept.pop().expect("one message kept");
                sh.tx
                    .send(Handed::One(out))
                    .map_err(|crossbeam_channel::SendError(h)| h.into_iter().collect())
            }
            n if n < CHUNK_MAX => sh.hand_over_many(self.kept.drain(..).collect()),
            _ => sh.hand_over_many(std::mem::take(&mut self.kept)),
        };
        match handed {
            Ok(()) => {
                // The shutdown already settled: no one reads the channel any more.
                if sh.settled.load(Ordering::SeqCst) {
                    sh.drop_queued();
                }
                kick_if_filling(sh);
                Ok(())
            }
            Err(outs) => {
                for out in outs {
                    sh.drop_out(out, DropReason::Shutdown);
                }
                Err(SendEventError::Closed)
            }
        }
    }
}

impl Drop for ChunkSender<'_> {
    /// Hands over what is kept (see [`ChunkSender::flush`]).
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// What [`EventSender::send_then`] did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handover {
    /// The event's messages are buffered: the callback will be called exactly once.
    Pending,
    /// The outcome is known now and the callback was dropped uncalled: `Ok` when no rule matched
    /// or (with a spool) the spool stored the event, else the error.
    Done(Result<(), SendEventError>),
}

/// An event's messages, formatted and not yet buffered.
struct Prepared {
    ready: Vec<Outgoing>,
    first_error: Option<SendEventError>,
}

/// Spooled (async only): one record for all rules; the spool reader sends it.
fn spool_append(
    sh: &Settle,
    sp: &super::spool_ack::SpoolAcks,
    ready: Vec<Outgoing>,
    first_error: Option<SendEventError>,
) -> Result<(), SendEventError> {
    if ready.is_empty() {
        return first_error.map_or(Ok(()), Err);
    }
    match super::spool_record::append(&sp.spool, &ready) {
        Ok(_) => first_error.map_or(Ok(()), Err),
        Err(reason) => {
            // Nothing was stored: every message of the event is dropped.
            let rule = ready[0].meta.rule;
            for out in ready {
                let _ = sh.admit(out, Room::Refused(reason.clone()));
            }
            Err(first_error.unwrap_or(SendEventError::Dropped { rule, reason }))
        }
    }
}

#[cfg(test)]
mod tests;
