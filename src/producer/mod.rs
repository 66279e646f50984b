//! The producer: routes from the name servers, one worker thread per broker master for async and
//! pipelined sends, sync sends on the caller's thread, retries on another broker within a total
//! time budget.
//!
//! ```text
//!  send()        --caller thread--> Connection(broker) --invoke--> response
//!  send_async()  --bounded job queue--> worker(broker) --pipelined, window N--> Connection(broker)
//!                                         |  retryable failure: to another broker's worker
//! ```
//! Ordering: with [`QueueStrategy::KeyHash`], messages with the same key go to the same queue while
//! that queue's broker stays in the route and is healthy (rendezvous hashing,
//! [`TopicPublishInfo::key_queue`]: brokers joining or leaving move only the keys they must; a key
//! whose broker left or is avoided moves at once to its next-best broker, an order break); sync
//! sends one after another are stored in that order. Async sends of one key keep their order,
//! except when an attempt fails and is retried elsewhere: brokers may store the pipelined requests
//! of one connection out of order, so a key's requests go one at a time in its ordering lane
//! ([`order_lanes`] per queue, at most [`ORDER_LANES`]; [`order_lane_of`]); the other lanes keep
//! pipelining. RoundRobin: none.
//!
//! Here: the public [`Producer`] and the send path (job planning, queue selection, retries).
//! Next to it: `broker` (per-broker connections and worker slot), `lifecycle` (the threads:
//! housekeeping start, heartbeat, pruning loop, ordered shutdown), `worker` (the per-broker async
//! worker), `request` (request building, outcome classification), `stats` (counters, batch refusal),
//! `lanes` (ordering keys and their lanes).

mod broker;
mod config;
mod error;
mod lanes;
mod lifecycle;
mod request;
mod stats;
mod worker;

pub use config::{with_namespace, ProducerConfig, QueueStrategy, WindowFullPolicy};
pub use error::{
    AttemptError, InvalidMessage, ProducerError, SendError, SendErrorKind, SendResult, SendStatus,
};
pub use lanes::{key_hash, order_lane, order_lane_of, order_lanes, ORDER_LANES};
pub use request::RETRYABLE_CODES;
pub use stats::ProducerStats;

use broker::BrokerState;

use crate::message::{batch_record_len, encode_batch_body, Message, UniqIdGenerator};
use crate::nameserver::{MessageQueue, NameServerClient, RouteCache, TopicPublishInfo};
use crate::remoting::acl::SharedAcl;
use crate::util::worker::Worker;
use bytes::BytesMut;
use parking_lot::Mutex;
use request::{classify_error, classify_response, Outcome, Prepared};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Called once with the outcome of an async send.
pub type SendCallback = Box<dyn FnOnce(Result<SendResult, SendError>) + Send + 'static>;

/// Given the messages of every stored send, on the thread that ended it, after its callback
/// ([`Producer::recycle_with`]): a host can take their buffers back instead of having them freed
/// on the producer's thread.
pub type Recycle = Arc<dyn Fn(Vec<Message>) + Send + Sync + 'static>;

/// A RocketMQ producer. Cheap to clone (an `Arc` inside); background threads stop when
/// [`Producer::close`] is called or the last clone is dropped.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
    _owner: Arc<Owner>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("group", &self.inner.cfg.group)
            .finish()
    }
}

/// Dropped with the last `Producer` clone: closes everything.
struct Owner(Arc<Inner>);
impl Drop for Owner {
    fn drop(&mut self) {
        self.0.shutdown(Duration::from_secs(5));
    }
}

pub(crate) struct Inner {
    cfg: ProducerConfig,
    group: String,
    routes: Arc<RouteCache>,
    brokers: Mutex<HashMap<String, Arc<BrokerState>>>,
    acl: SharedAcl,
    ids: UniqIdGenerator,
    rr: AtomicUsize,
    client_id: String,
    closing: AtomicBool,
    /// Broker worker threads alive (at most [`MAX_BROKER_WORKERS`]).
    live_workers: Arc<AtomicUsize>,
    housekeeping: Mutex<Option<Worker>>,
    stats: Arc<stats::Counters>,
    /// [`Producer::recycle_with`]'s function, set at most once.
    recycle: std::sync::OnceLock<Recycle>,
}

/// A broker address that has left every cached route is forgotten (its worker thread stopped and
/// joined, its connections closed) once it has been absent for this many route refresh intervals
/// (90 s with the default 30 s refresh) and has no async send queued or in flight. Without it every
/// broker address ever routed to kept two threads and its connections until the producer closed.
/// Three intervals ride out a name server that briefly answers a partial route.
pub const BROKER_PRUNE_GRACE_REFRESHES: u32 = 3;

/// A send in progress: the prepared request and where it stands.
pub(crate) struct Job {
    prepared: Prepared,
    key_hash: Option<u64>,
    deadline: Instant,
    attempts: u32,
    last_broker: Option<String>,
    /// Set once an attempt's outcome was unknown: (broker addr, detail).
    maybe_stored: Option<(String, AttemptError)>,
    last_failure: Option<(Option<i32>, String, AttemptError)>,
    queue: Option<(MessageQueue, bool)>,
    /// The ordering lanes of `queue` ([`order_lanes`] for its broker's queues of the topic).
    lanes: u32,
    done: Option<SendCallback>,
    /// Given the messages once stored ([`Producer::recycle_with`]).
    recycle: Option<Recycle>,
}

impl Job {
    fn complete(mut self, r: Result<SendResult, SendErrorKind>) {
        let stored = r.is_ok();
        let result =
            r.map_err(|kind| SendError::new(kind, std::mem::take(&mut self.prepared.messages)));
        if let Some(cb) = self.done.take() {
            cb(result);
        }
        if let (true, Some(recycle)) = (stored, self.recycle.take()) {
            recycle(std::mem::take(&mut self.prepared.messages));
        }
    }

    /// `kind`, unless an earlier attempt's outcome was unknown: then that (the message may be
    /// stored), as [`Job::exhausted`] reports it.
    fn unknown_or(&self, kind: SendErrorKind) -> SendErrorKind {
        if self.maybe_stored.is_some() {
            self.exhausted()
        } else {
            kind
        }
    }

    /// The error for a job that ran out of attempts or time.
    fn exhausted(&self) -> SendErrorKind {
        if let Some((broker, detail)) = &self.maybe_stored {
            return SendErrorKind::OutcomeUnknown {
                broker: broker.clone(),
                detail: detail.clone(),
            };
        }
        match &self.last_failure {
            Some((Some(code), broker, detail)) => SendErrorKind::Rejected {
                broker: broker.clone(),
                code: *code,
                remark: detail.to_string(),
            },
            Some((None, _, detail)) => SendErrorKind::NotSent {
                last: detail.clone(),
            },
            None => SendErrorKind::NotSent {
                last: AttemptError::NoAttempt,
            },
        }
    }
}

/// The most broker worker threads one producer keeps alive (256): one per broker address that
/// async and batch sends go to. Brokers that left every route are pruned
/// ([`BROKER_PRUNE_GRACE_REFRESHES`]); a name server naming more brokers than this (no real
/// cluster has that many masters) makes sends to the extra ones fail as not sent instead of
/// starting threads without bound.
pub const MAX_BROKER_WORKERS: usize = 256;

impl Producer {
    /// Starts a producer: the route cache with its refresh thread and the heartbeat thread.
    /// Broker connections and workers start on first use.
    ///
    /// # Errors
    /// [`ProducerError`] for an empty name-server list or group.
    pub fn start(cfg: ProducerConfig) -> Result<Producer, ProducerError> {
        if cfg.namesrv_addrs.is_empty() {
            return Err(ProducerError::NoNameServer);
        }
        if cfg.group.is_empty() || cfg.group.len() > 120 {
            return Err(ProducerError::InvalidGroup(cfg.group.clone()));
        }
        let acl = SharedAcl::new(cfg.acl.clone());
        let ns = NameServerClient::with_shared_acl(
            cfg.namesrv_addrs.clone(),
            cfg.connection.clone(),
            cfg.namesrv_timeout,
            acl.clone(),
        );
        let routes = RouteCache::start(ns, cfg.route.clone());
        let group = config::with_namespace(cfg.namespace.as_deref(), &cfg.group);
        let client_id = format!("127.0.0.1@{}#{}", std::process::id(), request::now_millis());
        let inner = Arc::new(Inner {
            group,
            routes,
            brokers: Mutex::new(HashMap::new()),
            acl,
            ids: UniqIdGenerator::new(),
            rr: AtomicUsize::new(std::process::id() as usize),
            client_id,
            closing: AtomicBool::new(false),
            live_workers: Arc::new(AtomicUsize::new(0)),
            housekeeping: Mutex::new(None),
            stats: Arc::default(),
            recycle: std::sync::OnceLock::new(),
            cfg,
        });
        lifecycle::start_housekeeping(&inner);
        Ok(Producer {
            _owner: Arc::new(Owner(Arc::clone(&inner))),
            inner,
        })
    }

    /// Hands the messages of every send stored from now on to `f` (on the thread that ended the
    /// send, after its callback) instead of dropping them there. Set once: false, and `f` unused,
    /// when it was set before.
    pub fn recycle_with(&self, f: Recycle) -> bool {
        self.inner.recycle.set(f).is_ok()
    }

    /// The settings the producer started with. `connection.tls` (the `tls` feature) is a clone of
    /// the connector every connection uses (`TlsConnector::replace_with` on it changes the
    /// producer's next handshakes); `acl` is not updated by a reload: see [`Producer::shared_acl`].
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.cfg
    }

    /// The ACL credentials requests are signed with, shared with the producer's name-server client:
    /// [`SharedAcl::set`] on it (a config reload) makes every request signed from then on, to the
    /// brokers and the name servers, use the new credentials.
    pub fn shared_acl(&self) -> &SharedAcl {
        &self.inner.acl
    }

    /// The route cache (for route checks and tests).
    pub fn routes(&self) -> &Arc<RouteCache> {
        &self.inner.routes
    }

    /// Looks up `topic`'s route now (the name servers are asked; a missing topic is an error unless
    /// TBW102 auto-creation applies).
    ///
    /// # Errors
    /// The route error.
    pub fn check_route(
        &self,
        topic: &str,
    ) -> Result<Arc<TopicPublishInfo>, crate::nameserver::Error> {
        self.inner.routes.fetch(&self.inner.cfg.wire_topic(topic))
    }

    /// Sends one message and waits until the broker stored it, with queue choice per the strategy
    /// (round-robin: no key).
    ///
    /// # Errors
    /// [`SendError`] with the message handed back; see [`SendErrorKind`].
    pub fn send(&self, msg: Message) -> Result<SendResult, SendError> {
        self.send_with_key(msg, None)
    }

    /// Sends one message with an ordering key (used by [`QueueStrategy::KeyHash`]).
    ///
    /// # Errors
    /// As [`Producer::send`].
    pub fn send_with_key(&self, msg: Message, key: Option<&[u8]>) -> Result<SendResult, SendError> {
        let job = self.inner.job(vec![msg], false, key, None)?;
        self.inner.run_sync(job)
    }

    /// Sends messages of one topic as one SEND_BATCH_MESSAGE (or one by one where the broker does
    /// not support batches) and waits.
    ///
    /// # Errors
    /// As [`Producer::send`]; on a partial failure of the one-by-one fallback the error hands back
    /// only the messages not stored.
    pub fn send_batch(
        &self,
        msgs: Vec<Message>,
        key: Option<&[u8]>,
    ) -> Result<SendResult, SendError> {
        let job = self.inner.job(msgs, true, key, None)?;
        self.inner.run_sync(job)
    }

    /// Sends one message asynchronously; `cb` gets the outcome. Returns `Err` (and never calls
    /// `cb`) when the message is rejected before sending: too large, no route, window full under
    /// [`WindowFullPolicy::Fail`], or closed. Otherwise `cb` is called exactly once.
    ///
    /// # Errors
    /// As described, with the message handed back.
    pub fn send_async(
        &self,
        msg: Message,
        key: Option<&[u8]>,
        cb: SendCallback,
    ) -> Result<(), SendError> {
        let job = self.inner.job(vec![msg], false, key, Some(cb))?;
        self.inner.dispatch(job, false)
    }

    /// Sends a batch asynchronously (see [`Producer::send_async`] and [`Producer::send_batch`]).
    ///
    /// # Errors
    /// As [`Producer::send_async`].
    pub fn send_batch_async(
        &self,
        msgs: Vec<Message>,
        key: Option<&[u8]>,
        cb: SendCallback,
    ) -> Result<(), SendError> {
        let job = self.inner.job(msgs, true, key, Some(cb))?;
        self.inner.dispatch(job, false)
    }

    /// (broker addresses known, of which with a worker thread): for tests of the pruning of brokers
    /// that left every route ([`BROKER_PRUNE_GRACE_REFRESHES`]).
    #[doc(hidden)]
    pub fn broker_counts(&self) -> (usize, usize) {
        self.inner.broker_counts()
    }

    /// The counters since the start (batch refusals and their one-by-one sends).
    pub fn stats(&self) -> ProducerStats {
        self.inner.stats.snapshot()
    }

    /// The live counters behind [`Producer::stats`], for readers that must not keep the producer.
    pub(crate) fn stats_counters(&self) -> Arc<stats::Counters> {
        Arc::clone(&self.inner.stats)
    }

    /// Requests in flight or queued in the async workers.
    pub fn in_flight(&self) -> usize {
        self.inner
            .brokers
            .lock()
            .values()
            .map(|b| b.worker.lock().as_ref().map_or(0, |w| w.load()))
            .sum()
    }

    /// Stops accepting sends, lets the workers finish what they hold (up to `deadline`), sends
    /// UNREGISTER_CLIENT and closes connections. Async sends still queued get their callback with
    /// an error; none is dropped silently.
    pub fn close(self, deadline: Duration) {
        self.inner.shutdown(deadline);
    }
}

impl Inner {
    fn job(
        &self,
        mut msgs: Vec<Message>,
        batch: bool,
        key: Option<&[u8]>,
        done: Option<SendCallback>,
    ) -> Result<Job, SendError> {
        let fail = |kind, msgs| Err(SendError::new(kind, msgs));
        if self.closing.load(Ordering::SeqCst) {
            return fail(SendErrorKind::Closed, msgs);
        }
        let Some(first) = msgs.first() else {
            return fail(
                SendErrorKind::InvalidMessage(InvalidMessage::NoMessage),
                msgs,
            );
        };
        let topic = first.topic.clone();
        if topic.is_empty() || topic.len() > 127 {
            return fail(
                SendErrorKind::InvalidMessage(InvalidMessage::Topic(topic.to_string())),
                msgs,
            );
        }
        if msgs.iter().any(|m| m.topic != topic) {
            return fail(
                SendErrorKind::InvalidMessage(InvalidMessage::MixedTopics),
                msgs,
            );
        }
        for m in &msgs {
            if m.body.len() > self.cfg.max_message_size {
                let size = m.body.len();
                return fail(
                    SendErrorKind::TooLarge {
                        size,
                        max: self.cfg.max_message_size,
                    },
                    msgs,
                );
            }
        }
        // The ids comma-joined, written in place: no string per message (the generated id is
        // copied from here into the message's properties).
        let mut msg_ids = String::with_capacity(msgs.len() * 33 * usize::from(self.cfg.unique_ids));
        let mut any_id = false;
        // The batch's new ids under one lock and one clock read, not one of each per message.
        let mut ids = self.ids.ids(if self.cfg.unique_ids {
            msgs.iter().filter(|m| m.unique_key().is_none()).count()
        } else {
            0
        });
        for (i, m) in msgs.iter_mut().enumerate() {
            if i > 0 {
                msg_ids.push(',');
            }
            match m.unique_key() {
                Some(id) => {
                    msg_ids.push_str(id);
                    any_id = true;
                }
                None if !self.cfg.unique_ids => {}
                None => {
                    let start = msg_ids.len();
                    ids.push_next_id(&mut msg_ids);
                    m.properties
                        .push_valid(crate::message::PROPERTY_UNIQ_KEY, &msg_ids[start..]);
                    any_id = true;
                }
            }
            // A batch carries WAIT once, in its envelope; members repeating it would only cost the
            // broker a property parse per message when it indexes them (Go's client sends none).
            if !batch && m.properties.get(crate::message::PROPERTY_WAIT).is_none() {
                m.properties.push(crate::message::PROPERTY_WAIT, "true");
            }
        }
        if !any_id {
            msg_ids = String::new();
        }
        let single = !batch;
        let (properties, body, flag) = if single {
            let m = &msgs[0];
            let mut p = String::with_capacity(m.properties.encoded_len());
            if let Err(e) = m.properties.encode(&mut p) {
                return fail(
                    SendErrorKind::InvalidMessage(InvalidMessage::Message(e)),
                    msgs,
                );
            }
            (p, m.body.clone(), m.flag)
        } else {
            // Sized once: growing it record by record reallocated a 100-message batch several
            // times (issue #22's profile: 5% of the dispatcher's thread in realloc).
            let mut body = BytesMut::with_capacity(msgs.iter().map(batch_record_len).sum());
            if let Err(e) = encode_batch_body(&msgs, &mut body) {
                return fail(
                    SendErrorKind::InvalidMessage(InvalidMessage::Message(e)),
                    msgs,
                );
            }
            if body.len() > self.cfg.max_batch_bytes {
                let size = body.len();
                return fail(
                    SendErrorKind::TooLarge {
                        size,
                        max: self.cfg.max_batch_bytes,
                    },
                    msgs,
                );
            }
            // Envelope properties: WAIT only, never a UNIQ_KEY (brokers <= 5.3.3 copy the envelope
            // into every member, reference §7).
            ("WAIT\u{1}true\u{2}".to_owned(), body.freeze(), 0)
        };
        Ok(Job {
            prepared: Prepared {
                topic: self.cfg.wire_topic(&topic),
                group: self.group.clone(),
                messages: msgs,
                batch: !single,
                properties,
                body,
                msg_ids,
                flag,
            },
            key_hash: key.map(key_hash),
            deadline: Instant::now() + self.cfg.send_timeout,
            attempts: 0,
            last_broker: None,
            maybe_stored: None,
            last_failure: None,
            queue: None,
            lanes: ORDER_LANES,
            done,
            recycle: self.recycle.get().cloned(),
        })
    }

    /// Chooses a queue: by key (rendezvous hashing, [`TopicPublishInfo::key_queue`]) or
    /// round-robin, skipping the broker of the previous attempt and brokers that failed recently
    /// while others remain. A key whose broker is skipped takes its best queue on the next broker
    /// of its ranking ([`TopicPublishInfo::key_ranking`]), so a failed broker's keys spread over
    /// the others and each returns to its own queue once its broker is no longer avoided.
    fn select(&self, info: &TopicPublishInfo, job: &Job) -> (MessageQueue, String) {
        let n = info.queues.len();
        let now = Instant::now();
        let last = job.last_broker.as_deref();
        let addr_of = |q: &MessageQueue| {
            info.masters
                .get(&q.broker_name)
                .cloned()
                .unwrap_or_default()
        };
        let mut fallback = None;
        let mut consider = |q: &MessageQueue| {
            if Some(q.broker_name.as_str()) == last {
                return None;
            }
            let addr = addr_of(q);
            if !self.avoided(&addr, now) {
                return Some((q.clone(), addr));
            }
            fallback.get_or_insert((q.clone(), addr));
            None
        };
        let start = match (self.cfg.queue_strategy, job.key_hash) {
            (QueueStrategy::KeyHash, Some(h)) => {
                // The ranking is built only when the key's own queue is skipped.
                let first = info.key_queue(h).unwrap_or(0);
                let later = std::iter::once(()).flat_map(|_| info.key_ranking(h));
                if let Some(pick) = std::iter::once(first)
                    .chain(later)
                    .find_map(|i| consider(&info.queues[i]))
                {
                    return pick;
                }
                first
            }
            _ => {
                let start = self.rr.fetch_add(1, Ordering::Relaxed) % n;
                if let Some(pick) = (0..n).find_map(|i| consider(&info.queues[(start + i) % n])) {
                    return pick;
                }
                start
            }
        };
        fallback.unwrap_or_else(|| {
            let q = &info.queues[start];
            (q.clone(), addr_of(q))
        })
    }

    /// Route + queue for the job's next attempt.
    fn plan(&self, job: &mut Job) -> Result<(MessageQueue, String, bool), SendErrorKind> {
        let info = self
            .routes
            .get(&job.prepared.topic)
            .map_err(SendErrorKind::Route)?;
        let (mq, addr) = self.select(&info, job);
        job.lanes = order_lanes(
            self.cfg.async_window,
            info.broker_queue_count(&mq.broker_name),
        );
        Ok((mq, addr, info.from_default_topic))
    }

    /// Records a failed attempt; true when another attempt is allowed.
    fn note_failure(
        &self,
        job: &mut Job,
        broker: &BrokerState,
        maybe_stored: bool,
        detail: AttemptError,
        code: Option<i32>,
    ) -> bool {
        // Warn once per broker failure episode (when it becomes avoided), not per attempt: a broker
        // that is down would otherwise flood a host's log.
        if broker.avoided(Instant::now()) {
            log::debug!(
                "send attempt {} failed broker={} topic={}: {detail}",
                job.attempts,
                broker.addr,
                job.prepared.topic
            );
        } else {
            log::warn!(
                "broker failed, avoided for {:?} broker={} topic={}: {detail}",
                self.cfg.broker_avoid,
                broker.addr,
                job.prepared.topic
            );
        }
        broker.mark_failed(self.cfg.broker_avoid);
        self.stats.attempt_failed();
        if maybe_stored {
            job.maybe_stored = Some((broker.addr.clone(), detail.clone()));
        }
        job.last_failure = Some((code, broker.addr.clone(), detail));
        (self.cfg.retry_unknown || !maybe_stored)
            && job.attempts <= self.cfg.retries
            && Instant::now() < job.deadline
            && !self.closing.load(Ordering::SeqCst)
    }

    fn run_sync(&self, mut job: Job) -> Result<SendResult, SendError> {
        loop {
            let (mq, addr, default_topic) = match self.plan(&mut job) {
                Ok(p) => p,
                Err(kind) => {
                    let kind = job.unknown_or(kind);
                    return Err(SendError::new(kind, job.prepared.messages));
                }
            };
            let broker = self.broker(&addr);
            job.attempts += 1;
            job.last_broker = Some(mq.broker_name.clone());
            let remaining = job.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                let kind = job.exhausted();
                return Err(SendError::new(kind, job.prepared.messages));
            }
            if job.prepared.batch && broker.no_batch.load(Ordering::Relaxed) {
                return self.batch_one_by_one_sync(job);
            }
            let timeout = self.cfg.attempt_timeout.min(remaining);
            let mut cmd = job.prepared.command(&mq, default_topic);
            self.acl.sign(&mut cmd);
            let outcome = match broker.invoke_direct(self, &cmd, timeout) {
                Ok(resp) => classify_response(&resp, &job.prepared, &mq, &addr, job.attempts),
                Err(e) => classify_error(e),
            };
            match outcome {
                Outcome::Stored(r) => return Ok(r),
                Outcome::Retry {
                    maybe_stored,
                    detail,
                    code,
                } => {
                    if !self.note_failure(&mut job, &broker, maybe_stored, detail, code) {
                        let kind = job.exhausted();
                        return Err(SendError::new(kind, job.prepared.messages));
                    }
                }
                Outcome::BatchUnsupported { code, remark } => {
                    self.stats.batches_refused(&broker, code, &remark);
                    return self.batch_one_by_one_sync(job);
                }
                Outcome::Fail(kind) => return Err(SendError::new(kind, job.prepared.messages)),
            }
        }
    }

    /// The fallback for brokers without SEND_BATCH_MESSAGE: each member as its own sync send.
    fn batch_one_by_one_sync(&self, job: Job) -> Result<SendResult, SendError> {
        self.stats.fallback_messages(job.prepared.messages.len());
        let key = job.key_hash;
        let mut msgs = job.prepared.messages.into_iter();
        let mut first: Option<SendResult> = None;
        let mut ids = Vec::new();
        while let Some(m) = msgs.next() {
            let mut single = match self.job(vec![m], false, None, None) {
                Ok(j) => j,
                Err(mut e) => {
                    e.messages.extend(msgs);
                    return Err(e);
                }
            };
            single.key_hash = key;
            match self.run_sync(single) {
                Ok(r) => {
                    ids.push(r.msg_id.clone());
                    first.get_or_insert(r);
                }
                Err(mut e) => {
                    e.messages.extend(msgs);
                    return Err(e);
                }
            }
        }
        let mut r = first.ok_or_else(|| {
            SendError::new(
                SendErrorKind::InvalidMessage(InvalidMessage::EmptyBatch),
                vec![],
            )
        })?;
        r.msg_id = ids.join(",");
        Ok(r)
    }

    /// Hands an async job to the worker of the broker chosen for its next attempt.
    /// `retry`: called from a worker (never blocks; retries are bounded by the windows).
    fn dispatch(self: &Arc<Self>, mut job: Job, retry: bool) -> Result<(), SendError> {
        let (mq, addr, default_topic) = match self.plan(&mut job) {
            Ok(p) => p,
            Err(kind) => {
                let kind = job.unknown_or(kind);
                if retry {
                    job.complete(Err(kind));
                    return Ok(());
                }
                return Err(SendError::new(
                    kind,
                    std::mem::take(&mut job.prepared.messages),
                ));
            }
        };
        job.queue = Some((mq, default_topic));
        // A state pruned between the lookup and `ensure` is retired: take the fresh one.
        let mut handle = Ok(None);
        for _ in 0..3 {
            let broker = self.broker(&addr);
            handle = worker::ensure(self, &broker);
            if !matches!(handle, Ok(None)) || !broker.retired.load(Ordering::SeqCst) {
                break;
            }
        }
        let handle = match handle {
            Ok(h) => h,
            Err(last) => {
                // No worker could be started: certainly not sent.
                let kind = job.unknown_or(SendErrorKind::NotSent { last });
                if retry {
                    job.complete(Err(kind));
                    return Ok(());
                }
                return Err(SendError::new(
                    kind,
                    std::mem::take(&mut job.prepared.messages),
                ));
            }
        };
        match handle {
            Some(h) => h.submit(job, retry, self.cfg.window_full, &addr),
            None => {
                // Closing: no new worker.
                if retry {
                    let kind = job.exhausted();
                    job.complete(Err(kind));
                    Ok(())
                } else {
                    Err(SendError::new(
                        SendErrorKind::Closed,
                        std::mem::take(&mut job.prepared.messages),
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
