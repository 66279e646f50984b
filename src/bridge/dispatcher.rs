//! The dispatcher thread: takes buffered messages from the channel (and held messages that are
//! due), groups them per topic, queue and ordering lane, and hands each group to the producer as
//! one batch; the callbacks settle every message ([`finish_batch`]).
//!
//! Layering (see [`super`]): above [`super::settle`]; nothing but the bridge imports it.

use super::buffer::{Handed, Meta, Outgoing, ShortText};
use super::config::QueueStrategy;
use super::settle::Settle;
use crate::message::{batch_record_len, Message};
use crate::nameserver::{key_queue_among, TopicPublishInfo};
use crate::producer::{
    key_hash, order_lane_of, order_lanes, Producer, SendError, SendResult, ORDER_LANES,
};
use crate::util::worker::Stop;
use crossbeam_channel::{never, select, tick, Receiver, TryRecvError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// A group: (the topic's number in [`Dispatcher::slots`], the queue bucket). Copy, so the per-message
/// path allocates no key.
type GroupKey = (u32, u64);

/// Hashes a [`GroupKey`] for the dispatcher's map with a multiply per word and one finalizing mix
/// instead of SipHash (issue #22's profile: SipHash was 5% of the dispatcher thread). A bucket can
/// be a client id's FNV hash (route unknown), which a client could steer: the start value is
/// random per dispatcher and the finalizer spreads every input bit, so colliding ids cannot be
/// chosen without seeing the map (and the groups are bounded by [`GROUP_SWEEP_AT`]'s sweep).
#[derive(Clone, Copy)]
struct GroupHasher(u64);

impl Default for GroupHasher {
    fn default() -> GroupHasher {
        use std::hash::BuildHasher as _;
        GroupHasher(std::collections::hash_map::RandomState::new().hash_one(0x9e37_79b9_u64))
    }
}

impl std::hash::BuildHasher for GroupHasher {
    type Hasher = WordHasher;
    fn build_hasher(&self) -> WordHasher {
        WordHasher(self.0)
    }
}

/// The hasher of [`GroupHasher`].
struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(23) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn finish(&self) -> u64 {
        crate::util::mix64(self.0)
    }
}

/// What the dispatcher knows of one target topic.
struct TopicSlot {
    /// The topic's name.
    name: String,
    /// The cached route while it has writable queues (`None` while no route is cached), and when
    /// it was read: the key's queue is chosen in it as the producer does
    /// ([`crate::nameserver::TopicPublishInfo::key_queue`]).
    route: Option<Arc<TopicPublishInfo>>,
    /// The ordering lanes of each queue of `route`, as the producer counts them
    /// ([`crate::producer::order_lanes`]).
    lanes: Vec<u32>,
    /// The identities of the queues of `route` ([`TopicPublishInfo::queue_identities`]): a
    /// message's queue is chosen among them without hashing each broker name again (issue #22's
    /// profile: most of the dispatcher's cost of a message's group).
    identities: Vec<u64>,
    /// When the route cache is read again ([`QUEUE_COUNT_TTL`] after the last read): one
    /// comparison per message instead of a duration since the last read.
    reread_at: Instant,
    /// The route cache's [`RouteCache::changes`](crate::nameserver::RouteCache::changes) when
    /// `route` was read: a route that changed is read again at the next message, not up to
    /// [`QUEUE_COUNT_TTL`] later (a client grouped by a stale route is sent with others to
    /// their queue, then to its own: a second order break).
    route_changes: u64,
    /// Requests of this topic with the producer and not yet completed.
    in_flight: Arc<AtomicUsize>,
}

/// While groups gather behind requests in flight, how often the dispatcher looks at the channel
/// for groups that filled up (it is woken at once by every completion).
const GATHER_POLL: Duration = Duration::from_millis(1);
/// A wake that collected at least this many messages means a busy channel: the dispatcher then
/// looks at it every [`GATHER_POLL`] instead of parking on it, so the hosts' sends do not wake it
/// one message at a time (a futex wake per event: issue #22's profile, 12% of `run`'s main
/// thread). At this rate or below (64 per millisecond) it parks and wakes for each message.
const BUSY_COLLECT: usize = 64;
/// Longest sleep while groups gather behind a linger (see [`Dispatcher::gather_wait`]): 10 ms,
/// about 100 events at 10,000/s; the intake wakes the dispatcher when the channel is half full.
const MAX_GATHER_WAIT: Duration = Duration::from_millis(10);

/// How long the dispatcher uses a topic's cached route before it reads the route cache again.
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
    topic: crate::message::Topic,
    msgs: Vec<Message>,
    metas: Vec<Meta>,
    bytes: usize,
    /// The ordering key handed to the producer (the first message's client id).
    key: Option<ShortText>,
    /// Requests of this group with the producer and not yet completed.
    in_flight: Arc<AtomicUsize>,
    /// Its topic's requests in flight ([`TopicSlot::in_flight`]).
    topic_in_flight: Arc<AtomicUsize>,
    /// When the group's oldest message joined it.
    since: Instant,
    /// How many messages its last request carried: the first message of the next batch reserves
    /// room for as many, up to [`GROUP_RESERVE_MAX`] (a batch grown from empty reallocated its
    /// vectors about six times). Room is only taken while the group holds messages, so idle groups
    /// keep none.
    last_len: usize,
}

/// Most message slots a group reserves when its first message joins (its last batch's length,
/// capped): 32 slots are about 8 KiB (a `Message` and its `Meta` take 256 bytes). Without the cap
/// a group that once sent a full batch (up to 1024) held 256 KiB for a single message, room the
/// buffer's byte budget does not count, in every such group at once after a burst.
const GROUP_RESERVE_MAX: usize = 32;

pub(crate) struct Dispatcher {
    shared: Arc<Settle>,
    producer: Producer,
    batch_size: usize,
    max_batch_bytes: usize,
    groups: HashMap<GroupKey, Group, GroupHasher>,
    /// Target topics by name: their number in `slots`, used in [`GroupKey`].
    topics: HashMap<String, u32>,
    /// What the dispatcher knows of each target topic, by number.
    slots: Vec<TopicSlot>,
    /// The number of the topic the last message went to: a run of messages to one topic (the
    /// usual stream) compares the name instead of hashing it for every message.
    last_topic: Option<u32>,
    /// Group keys in first-use order, so flushes keep the arrival order across groups.
    order: Vec<GroupKey>,
    /// A group that is not full is sent only while fewer of its requests than this are in flight
    /// (and fewer than [`PARTIAL_IN_FLIGHT`] of its topic's); otherwise it keeps gathering (see
    /// [`Dispatcher::collect`]).
    max_busy: usize,
    /// Group count at which [`Dispatcher::sweep`] runs next (see [`GROUP_SWEEP_AT`]).
    sweep_at: usize,
    /// The time read when the dispatcher last woke: `add` uses it instead of reading the clock
    /// for every message (a wake handles at most [`MAX_COLLECT`] messages, a few milliseconds).
    now: Instant,
    /// Messages the last [`Dispatcher::collect`] took (see [`BUSY_COLLECT`]).
    last_collected: usize,
    /// `producer.linger`: a partial group is sent only once its oldest message waited this long.
    linger: Duration,
    /// How often the dispatcher looks at gathering groups: [`GATHER_POLL`], or the linger when
    /// that is shorter.
    poll: Duration,
}

impl Dispatcher {
    pub(crate) fn new(shared: Arc<Settle>, producer: Producer, batch_size: usize) -> Dispatcher {
        let max_busy = match shared.strategy {
            QueueStrategy::KeyDispatch => 1,
            QueueStrategy::RoundRobin => PARTIAL_IN_FLIGHT,
        };
        Dispatcher {
            shared,
            max_batch_bytes: producer.config().max_batch_bytes,
            producer,
            batch_size: batch_size.max(1),
            groups: HashMap::default(),
            topics: HashMap::new(),
            slots: Vec::new(),
            last_topic: None,
            order: Vec::new(),
            max_busy,
            sweep_at: GROUP_SWEEP_AT,
            now: Instant::now(),
            last_collected: 0,
            linger: Duration::ZERO,
            poll: GATHER_POLL,
        }
    }

    /// Lets a partial group wait up to `linger` for more messages (`producer.linger`).
    pub(crate) fn with_linger(mut self, linger: Duration) -> Dispatcher {
        self.linger = linger;
        if !linger.is_zero() {
            self.poll = GATHER_POLL.min(linger);
        }
        self
    }

    /// How long to sleep while groups gather: [`GATHER_POLL`] (or a shorter linger) on a busy
    /// channel or without a linger; with a longer linger, until the oldest gathering group is due
    /// (at least [`GATHER_POLL`], at most the linger and [`MAX_GATHER_WAIT`]), not every
    /// millisecond: at 10,000 events/s a 5 ms linger woke the dispatcher about 1,400 times a
    /// second to find nothing due. A completed request or a channel half full wakes it sooner.
    fn gather_wait(&self) -> Duration {
        if self.last_collected >= BUSY_COLLECT || self.linger <= GATHER_POLL {
            return self.poll;
        }
        let oldest = self
            .order
            .iter()
            .filter_map(|gk| self.groups.get(gk))
            .map(|g| g.since)
            .min();
        let most = self.linger.min(MAX_GATHER_WAIT);
        match oldest {
            Some(since) => (since + self.linger)
                .saturating_duration_since(Instant::now())
                .clamp(GATHER_POLL, most),
            None => most,
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

    pub(crate) fn run(mut self, stop: Stop, stats_interval: Duration) {
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
            // A completion between this store and the wait below that skips its kick is seen
            // when that wait times out (GATHER_POLL, or up to a longer linger): gathering groups
            // are always waited for with a timeout.
            self.shared
                .gathering
                .store(!self.order.is_empty(), Ordering::SeqCst);
            if !self.order.is_empty() || self.last_collected >= BUSY_COLLECT {
                // Groups are gathering behind requests in flight (new events only join them), or
                // the channel is busy: no need to wake for each event. Wake for a completion, or
                // every GATHER_POLL to take what came and send groups that filled up meanwhile.
                select! {
                    recv(stop.receiver()) -> _ => break,
                    recv(self.shared.kick.1) -> _ => {}
                    recv(hold_tick) -> _ => {
                        self.add_due_held();
                    }
                    recv(ticker) -> _ => self.log_stats(),
                    default(self.gather_wait()) => {}
                }
                self.collect(&rx);
                continue;
            }
            select! {
                recv(rx) -> h => match h {
                    Ok(h) => {
                        self.now = Instant::now();
                        self.add_handed(h);
                    }
                    Err(_) => break,
                },
                recv(stop.receiver()) -> _ => break,
                recv(self.shared.kick.1) -> _ => {}
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
        self.now = Instant::now();
        let now = self.now;
        let due = self.shared.hold.as_ref().map(|h| h.take_due(now));
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
    fn collect(&mut self, rx: &Receiver<Handed>) {
        self.now = Instant::now();
        let mut n = 0;
        while n < MAX_COLLECT {
            match rx.try_recv() {
                Ok(h) => {
                    n += h.len();
                    self.add_handed(h);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        self.last_collected = n;
        self.flush_ready();
    }

    /// Sends every group with messages whose queue has room (see [`Dispatcher::collect`]).
    /// Once the intake is closed (shutdown) nothing can join a group: none lingers any more, so
    /// the spool's drain is not kept waiting up to the linger (with a drain timeout no longer
    /// than the linger, its records were left for the next run and sent as well: duplicates).
    fn flush_ready(&mut self) {
        let now = Instant::now();
        let linger = if self.shared.closed.load(Ordering::SeqCst) {
            Duration::ZERO
        } else {
            self.linger
        };
        let ready: Vec<GroupKey> = self
            .order
            .iter()
            .filter(|gk| {
                self.groups.get(*gk).is_some_and(|g| {
                    now.saturating_duration_since(g.since) >= linger
                        && g.in_flight.load(Ordering::SeqCst) < self.max_busy
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
        let now = self.now;
        let topic = out.msg.topic.as_str();
        let id = match self.last_topic {
            Some(id) if self.slots[id as usize].name == topic => id,
            _ => match self.topics.get(topic) {
                Some(&id) => id,
                None => {
                    let id = self.slots.len() as u32;
                    self.topics.insert(topic.to_owned(), id);
                    self.slots.push(TopicSlot {
                        name: topic.to_owned(),
                        route: None,
                        lanes: Vec::new(),
                        identities: Vec::new(),
                        reread_at: now,
                        route_changes: 0,
                        in_flight: Arc::new(AtomicUsize::new(0)),
                    });
                    id
                }
            },
        };
        self.last_topic = Some(id);
        let slot = &mut self.slots[id as usize];
        let reread = key_dispatch && {
            let changes = self.producer.routes().changes();
            let moved = changes != slot.route_changes;
            slot.route_changes = changes;
            moved || now >= slot.reread_at
        };
        if reread {
            let wire = self.producer.config().wire_topic(&out.msg.topic);
            slot.route = self
                .producer
                .routes()
                .cached(&wire)
                .filter(|info| !info.queues.is_empty());
            let window = self.producer.config().async_window;
            slot.lanes = slot.route.as_ref().map_or_else(Vec::new, |info| {
                info.queues
                    .iter()
                    .map(|q| order_lanes(window, info.broker_queue_count(&q.broker_name)))
                    .collect()
            });
            slot.identities = slot
                .route
                .as_ref()
                .map_or_else(Vec::new, |info| info.queue_identities());
            slot.reread_at = now + QUEUE_COUNT_TTL;
        }
        let bucket = match (key_dispatch, &out.meta.client_id, &slot.route) {
            // The client's queue and its ordering lane in that queue: a group holds only clients
            // the producer serializes together, so groups of one queue can be in flight at once.
            // A queue has only twice the lanes the window needs, so that many clients make no more
            // groups (each a smaller batch) than few clients.
            (true, Some(cid), Some(_)) => {
                let h = key_hash(cid.as_bytes());
                let q = key_queue_among(&slot.identities, h).unwrap_or(0);
                let lanes = slot.lanes.get(q).copied().unwrap_or(ORDER_LANES);
                q as u64 * u64::from(ORDER_LANES) + u64::from(order_lane_of(h, lanes))
            }
            // Route not known yet: group only this client's messages.
            (true, Some(cid), None) => key_hash(cid.as_bytes()) | (1 << 63),
            _ => u64::MAX,
        };
        (id, bucket)
    }

    /// Adds the messages of a hand-over taken out of the channel, in order.
    fn add_handed(&mut self, h: Handed) {
        match h {
            Handed::One(out) => self.add(out),
            Handed::Many(outs) => {
                self.shared.taken(outs.len());
                for out in outs {
                    self.add(out);
                }
            }
        }
    }

    fn add(&mut self, out: Outgoing) {
        if self.groups.len() >= self.sweep_at {
            self.sweep();
        }
        let gk = self.group_key(&out);
        let rec = batch_record_len(&out.msg);
        let (batch_size, max_batch_bytes, now) = (self.batch_size, self.max_batch_bytes, self.now);
        let slots = &self.slots;
        // One lookup for the usual message; a group too full to take it is sent first.
        let g = self.groups.entry(gk).or_insert_with(|| Group {
            topic: out.msg.topic.clone(),
            msgs: Vec::new(),
            metas: Vec::new(),
            bytes: 0,
            key: None,
            in_flight: Arc::new(AtomicUsize::new(0)),
            // `group_key` registered the topic just before.
            topic_in_flight: Arc::clone(&slots[gk.0 as usize].in_flight),
            since: now,
            last_len: 0,
        });
        let len = if g.msgs.len() >= batch_size
            || (!g.msgs.is_empty() && g.bytes + rec > max_batch_bytes)
        {
            self.flush(&gk);
            let g = self.groups.get_mut(&gk).expect("a sent group stays");
            join(g, &mut self.order, gk, out, rec, now, batch_size)
        } else {
            join(g, &mut self.order, gk, out, rec, now, batch_size)
        };
        if len >= batch_size {
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
        g.last_len = msgs.len();
        g.bytes = 0;
        let key = g.key.take();
        let in_flight = Arc::clone(&g.in_flight);
        let topic_in_flight = Arc::clone(&g.topic_in_flight);
        in_flight.fetch_add(1, Ordering::SeqCst);
        topic_in_flight.fetch_add(1, Ordering::SeqCst);
        let kick_shared = Arc::clone(&self.shared);
        // Runs once the request completed (or was refused): frees the group's lane and wakes
        // the dispatcher for what the group gathered meanwhile.
        let done = move || {
            in_flight.fetch_sub(1, Ordering::SeqCst);
            topic_in_flight.fetch_sub(1, Ordering::SeqCst);
            if kick_shared.gathering.load(Ordering::SeqCst) {
                let _ = kick_shared.kick.0.try_send(());
            }
        };
        self.order.retain(|k| k != gk);
        let topic = g.topic.clone();
        let shared = Arc::clone(&self.shared);
        let key_bytes = match self.shared.strategy {
            QueueStrategy::KeyDispatch => key.as_ref().map(ShortText::as_bytes),
            QueueStrategy::RoundRobin => None,
        };
        // When the send began: an acknowledged send is a probe for the outcome-unknown lookups.
        let sent_at = Instant::now();
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
                            Ok(r) => {
                                cb_shared.acked(&r.broker_addr, &cb_topic, &meta.key, sent_at);
                                cb_shared.finish(meta, &cb_topic, Ok(()))
                            }
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
                        if let (Ok(r), Some(last)) = (&res, metas.last()) {
                            cb_shared.acked(&r.broker_addr, &cb_topic, &last.key, sent_at);
                        }
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
                 resolved_stored={} resolved_not_stored={} unresolved={} dropped_too_large={} dropped_overflow={} dropped_shutdown={} lossy_payload={}",
                r.rule.map(|id| id.to_string()).unwrap_or_default(),
                r.topic,
                r.matched,
                r.sent,
                r.failed,
                r.outcome_unknown,
                r.resolved_stored,
                r.resolved_not_stored,
                r.unresolved,
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

/// Adds `out` to group `g` (keyed `gk`; a group that was empty enters `order` and takes the
/// message's ordering key); returns the group's message count.
///
/// A group that outgrows its first room grows towards its last batch's length rather than by
/// doubling alone: at least twice its room, up to its last length but at most four times its room,
/// and never past `batch_size` (it is sent at that length). A group of full batches of 100 then
/// grows once (32 to 100) instead of twice (32, 64, 128); each growth moved every message gathered
/// so far (issue #22's profile: 7% of the dispatcher's thread in `realloc`). A growth leaves at most
/// four times the slots the group's messages fill, and never more than one batch's.
fn join(
    g: &mut Group,
    order: &mut Vec<GroupKey>,
    gk: GroupKey,
    out: Outgoing,
    rec: usize,
    now: Instant,
    batch_size: usize,
) -> usize {
    if g.msgs.is_empty() {
        g.key = out.meta.client_id.clone();
        g.since = now;
        order.push(gk);
        let room = g.last_len.min(GROUP_RESERVE_MAX);
        g.msgs.reserve(room);
        g.metas.reserve(room);
    } else {
        grow_room(&mut g.msgs, g.last_len, batch_size);
        grow_room(&mut g.metas, g.last_len, batch_size);
    }
    g.bytes += rec;
    g.msgs.push(out.msg);
    g.metas.push(out.meta);
    g.msgs.len()
}

/// Makes room for one more in a full, non-empty group vector as [`join`] describes.
fn grow_room<T>(v: &mut Vec<T>, last_len: usize, batch_size: usize) {
    let len = v.len();
    if len == v.capacity() && len < batch_size {
        let target = (2 * len).max(last_len.min(4 * len)).min(batch_size);
        v.reserve_exact(target - len);
    }
}

/// Undoes a group's in-flight counts for a request the producer refused (its callback never runs).
fn release(groups: &HashMap<GroupKey, Group, GroupHasher>, gk: &GroupKey) {
    if let Some(g) = groups.get(gk) {
        g.in_flight.fetch_sub(1, Ordering::SeqCst);
        g.topic_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Settles every message of a batch. On an error the producer hands back the messages that were not
/// stored (all of them, or the rest after a partial one-by-one fallback); the others were stored.
fn finish_batch(
    shared: &Settle,
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
mod tests;
