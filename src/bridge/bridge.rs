//! The dispatcher: hosts hand events to an [`EventSender`]; each event is matched against the hook
//! rules and formatted on the host's thread, the resulting messages wait in a bounded channel under
//! a byte budget, and one dispatcher thread groups them into batches per topic and queue and hands
//! them to the [`Producer`].
//!
//! ```text
//!  host threads --EventSender::send--> match + format --[bounded channel, byte budget]--> dispatcher
//!      ^  sync: waits for the outcome                                                      |  batches per
//!      |                                                                                   v  (topic, queue)
//!      +-------------------------- callbacks (sent / failed / unknown) <-------------- Producer (async)
//! ```
//!
//! # Guarantees
//!
//! - **Sync** (`produce = sync`): [`EventSender::send`] returns `Ok` once the broker confirmed every
//!   message of the event (one per matching rule), or the first error.
//! - **Async**: `send` returns once the event's messages are buffered; outcomes are counted per rule
//!   ([`Bridge::stats`]). `Err` from an async send means a message was dropped before buffering
//!   (too large, overflow policy) or the bridge is closed.
//! - **Order**: with `producer.queue_strategy = key_dispatch` (default) all messages of one MQTT
//!   client id go to the same queue of a topic while the topic's route is unchanged, and they are
//!   handed to the producer in the order the host sent the events; the producer keeps one request
//!   of the client's ordering lane in flight at a time ([`producer::order_lanes`] per queue: twice
//!   as many as the broker's queues of the topic need to fill `producer.max_in_flight`, at most
//!   [`producer::ORDER_LANES`]), so one host thread's events for one client are stored in order,
//!   unless a send attempt fails and is retried on another broker, or a change of the broker's
//!   queue count changes the lanes while requests are in flight. Batches of other lanes of the
//!   queue travel at the same time.
//!   Events from different host threads for the same client are ordered as they entered the
//!   channel. `roundrobin` gives no order.
//! - **Dedup key**: every event gets the key `<bridge_id>-<run>-<seq>` (RocketMQ `KEYS`), where `run`
//!   is `run_id` in hex (the start time in ms, the process id and a count of the bridges this
//!   process started, so no two bridges on one host share it, whatever their `bridge_id`) and
//!   `seq` counts events from 0. With a spool it is
//!   `<bridge_id>-<spool id>-<seq>`: the spool's random identity ([`Spool::id`](crate::spool::Spool::id),
//!   kept in its directory) and its persistent sequence number, so a restart on the same spool
//!   keeps every key, and two bridges with the same `bridge_id` (the default is the node name) but
//!   their own spools never share one. All messages of one event
//!   (one per rule) share it, and retries resend the same message, so a consumer that saw a key
//!   once can drop a repeat.
//! - **Memory**: messages waiting or in flight never exceed `buffer.max_bytes`, counting body,
//!   properties and topic of each (the config keeps it at least one maximal message);
//!   `buffer.overflow` says what happens when full. A message whose body is over `producer.max_message_size` is dropped at once and counted as `dropped_too_large`.
//! - **Reload** ([`Bridge::reload`]) swaps the rules and the node name; messages already buffered
//!   are sent as they were formatted.
//! - **Hold** (async without a spool, `retry.max_hold`, default 60 s): a message the producer hands
//!   back as certainly not stored (broker down, no route, retryable refusal) is held in memory with
//!   its budget bytes and re-sent with the same key after a backoff (500 ms doubling to 5 s) until
//!   the hold limit passes or shutdown begins; only then is it dropped as `failed`. An unknown
//!   outcome is never re-sent. Held messages can be stored after later messages of the same client
//!   (see [`super::hold`]).
//! - **Every message ends once** as sent, dropped with a reason (`too_large`, `overflow`,
//!   `shutdown`, `spool_error`, or `failed`: not stored after the retries and the hold; counted in
//!   [`RuleCounters::failed`]), or outcome unknown.
//! - **Spool** (`spool.dir`, async only): events go to disk first and are sent from there; see
//!   [`super::spooled`]. Loss reports: [`super::loss_report`]; health and metrics:
//!   [`super::health`].
//! - **Shutdown** ([`Bridge::shutdown`]) stops accepting events, sends what is buffered, waits for
//!   the outcomes up to a deadline and returns a [`ShutdownReport`] listing every message that was
//!   not confirmed.

use super::chain::Chain;
use super::config::{BridgeConfig, ProduceMode, QueueStrategy};
use super::dispatcher::Dispatcher;
use super::format::now_ms;
use super::health::BridgeHealth;
use super::intake::DirectProducer;
use super::loss_report::{ReportTarget, Reporter};
use super::settle::{build_active, Settle};
use super::spool_ack::SpoolAcks;
use super::spooled::SpoolReader;
use crate::producer::{self, Producer, ProducerConfig, ProducerError};
use crate::util::worker::Worker;
use parking_lot::{Mutex, RwLock};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// The items this module held before the split, at their old paths.
pub use super::buffer::CHANNEL_CAPACITY;
pub use super::dispatcher::GROUP_SWEEP_AT;
pub use super::intake::EventSender;
pub use super::outcome::{
    BridgeStats, DropReason, RuleCounters, SendEventError, ShutdownReport, Unsent, UnsentReason,
};

/// The dispatcher thread's name.
const DISPATCH_THREAD: &str = "bridge-dispatch";
/// The thread of the outcome-unknown lookups.
const RESOLVE_THREAD: &str = "bridge-resolve";

// ------------------------------------------------------------------------------------------------
// Errors

/// Why [`Bridge::start`] or [`Bridge::reload`] failed.
///
/// `Display` writes the whole cause (the wrapped error and its `source()` chain) and `source()` is
/// `None`, so a host that prints `{e}` shows each cause once.
#[derive(Debug)]
#[non_exhaustive]
pub enum BridgeError {
    /// The producer could not start.
    Producer(ProducerError),
    /// Target topics without a usable route while a live broker is registered with the name
    /// servers: each topic with the name server's answer (the topic does not exist and cannot be
    /// auto-created, or has no writable queue). Nothing was started (or, for a reload, the old
    /// rules stay).
    MissingTopics(Vec<(String, crate::nameserver::Error)>),
    /// No name server answered: RocketMQ is down or `bridge.rocket.servers` is wrong. Whether the
    /// topics exist is unknown. Returned only without a spool; with one the bridge starts and
    /// looks the routes up in the background.
    NameServerUnreachable {
        /// The name servers asked.
        servers: String,
        /// The name server lookup's error (for an unreachable name server, the last transport
        /// error is its `last`).
        source: crate::nameserver::Error,
    },
    /// The name servers answer but no broker is registered with them (the brokers are down or not
    /// started yet; a name server forgets a dead broker's topics at once), so the topics cannot be
    /// checked: they are not reported missing. Returned only without a spool; with one the bridge
    /// starts and looks the routes up in the background.
    NoBroker {
        /// The name servers asked.
        servers: String,
        /// The target topics without a route.
        topics: Vec<String>,
    },
    /// The bridge is shut down.
    Closed,
    /// The spool (`bridge.rocket.spool.dir`) could not be opened.
    Spool(crate::spool::SpoolError),
    /// The metrics endpoint (`bridge.rocket.metrics.listen`) could not start.
    Metrics(crate::metrics::MetricsError),
    /// A spool was configured with `produce = sync` (the config loader refuses this; a config
    /// built in code gets this error).
    SpoolNeedsAsync,
    /// A reload would turn `bridge.rocket.tls.enable` on or off (a restart); nothing changed.
    TlsEnableChanged {
        /// Whether the new config enables TLS.
        now: bool,
    },
    /// The OS refused one of the bridge's threads (nothing keeps running then).
    Thread {
        /// The thread's name.
        name: &'static str,
        /// The OS's error.
        source: std::io::Error,
    },
}

impl BridgeError {
    fn thread(name: &'static str, source: std::io::Error) -> BridgeError {
        BridgeError::Thread { name, source }
    }
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeError::Producer(e) => write!(f, "cannot start the producer: {}", Chain(e)),
            BridgeError::MissingTopics(list) => {
                write!(f, "{} target topic(s) have no route:", list.len())?;
                for (topic, why) in list {
                    write!(f, "\n  topic {topic}: {}", Chain(why))?;
                }
                write!(
                    f,
                    "\na broker is registered with the name servers, so the topics are missing (or not writable): create them \
                     (mqadmin updateTopic -t TOPIC -c CLUSTER) or enable autoCreateTopicEnable on the broker"
                )
            }
            BridgeError::NameServerUnreachable { servers, source } => write!(
                f,
                "no RocketMQ name server reachable at {servers} ({detail}): RocketMQ is down or \
                 bridge.rocket.servers is wrong; the target topics could not be checked. Start RocketMQ \
                 (or fix the addresses); with bridge.rocket.spool.dir set the bridge starts anyway, \
                 stores events on disk and sends them once RocketMQ is reachable",
                detail = match source {
                    crate::nameserver::Error::Unreachable { last, .. } => Chain(last).to_string(),
                    other => Chain(other).to_string(),
                }
            ),
            BridgeError::NoBroker { servers, topics } => write!(
                f,
                "no RocketMQ broker is registered with the name server(s) at {servers}: the brokers are \
                 down or not started yet, so the route of {} cannot be known (the topics are not \
                 necessarily missing). Start the brokers; with bridge.rocket.spool.dir set the bridge \
                 starts anyway, stores events on disk and sends them once a broker is back",
                topics.join(", ")
            ),
            BridgeError::Closed => write!(f, "the bridge is shut down"),
            BridgeError::Spool(e) => write!(f, "cannot open the spool: {}", Chain(e)),
            BridgeError::Metrics(e) => {
                write!(f, "cannot start the metrics endpoint: {}", Chain(e))
            }
            BridgeError::SpoolNeedsAsync => {
                write!(f, "a spool needs bridge.rocket.produce = async")
            }
            BridgeError::TlsEnableChanged { now } => write!(
                f,
                "bridge.rocket.tls.enable changed to {now}: turning TLS on or off needs a restart \
                 (a reload re-reads the TLS files and the ACL keys, not the TLS switch)"
            ),
            BridgeError::Thread { name, source } => {
                write!(f, "cannot start the thread {name}: {}", Chain(source))
            }
        }
    }
}

/// No `source()`: `Display` writes the cause (see [`BridgeError`]).
impl std::error::Error for BridgeError {}

// ------------------------------------------------------------------------------------------------
// Bridge

/// A running bridge. [`Bridge::sender`] gives hosts their handle; [`Bridge::shutdown`] (or drop,
/// with `drain_timeout`) stops it.
pub struct Bridge {
    shared: Arc<Settle>,
    /// The producer sync sends use on the hosts' threads (sync mode without a spool).
    direct: DirectProducer,
    producer: Option<Producer>,
    dispatcher: Option<Worker>,
    spool_reader: Option<SpoolReader>,
    drain_timeout: Duration,
    checked_topics: Mutex<Vec<String>>,
    reporter: Option<Reporter>,
    metrics_server: Option<crate::metrics::MetricsServer>,
    /// Async mode: the outcome-unknown lookups ([`super::resolve`]).
    resolver: Option<Worker>,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("key_prefix", &self.shared.key_prefix)
            .finish()
    }
}

/// The producer settings a bridge config implies.
pub fn producer_config(cfg: &BridgeConfig) -> ProducerConfig {
    let acl = cfg.acl.clone();
    let mut pcfg = ProducerConfig::new(&cfg.servers, &cfg.producer_group);
    pcfg.broker_addr_map = cfg.broker_addr_map.clone();
    #[cfg(feature = "tls")]
    let pcfg = pcfg.tls(cfg.tls.as_ref().and_then(|t| t.connector.clone()));
    pcfg.send_timeout(cfg.sync_timeout)
        .queue_strategy(match cfg.queue_strategy {
            QueueStrategy::KeyDispatch => producer::QueueStrategy::KeyHash,
            QueueStrategy::RoundRobin => producer::QueueStrategy::RoundRobin,
        })
        .max_message_size(cfg.max_message_size)
        .namespace(cfg.namespace.clone())
        .acl(acl)
        .refresh_interval(cfg.refresh_topic_route_interval)
        .socket_buffers(Some(cfg.sock_sndbuf), Some(cfg.sock_recbuf))
        .async_window(cfg.max_in_flight)
        // With the lookups on, an unknown attempt is not retried blindly: the lookup decides.
        .retry_unknown(cfg.produce == ProduceMode::Sync || cfg.retry_resolve_unknown.is_zero())
}

impl Bridge {
    /// Starts the producer, checks the route of every target topic, and starts the dispatcher.
    ///
    /// With a spool the bridge also starts while RocketMQ is unreachable (no name server answers,
    /// or no broker is registered): events are stored on disk and the routes are looked up again
    /// on every send from the spool. Without a spool that is an error.
    ///
    /// # Errors
    /// [`BridgeError::Producer`]; [`BridgeError::MissingTopics`] listing every topic without a
    /// route while a broker is registered; without a spool [`BridgeError::NameServerUnreachable`]
    /// or [`BridgeError::NoBroker`] (nothing keeps running then).
    pub fn start(cfg: BridgeConfig) -> Result<Bridge, BridgeError> {
        let pcfg = producer_config(&cfg);
        Bridge::start_with(cfg, pcfg)
    }

    /// As [`Bridge::start`], with the embedder's producer settings (from [`producer_config`]).
    ///
    /// # Errors
    /// As [`Bridge::start`].
    pub fn start_with(cfg: BridgeConfig, pcfg: ProducerConfig) -> Result<Bridge, BridgeError> {
        if cfg.spool.is_some() && cfg.produce != ProduceMode::Async {
            return Err(BridgeError::SpoolNeedsAsync);
        }
        if cfg.tls.as_ref().is_some_and(|t| !t.verify) {
            log::warn!(
                "bridge.rocket.tls.verify = false: server certificates are not checked; the \
                 connections are encrypted but anyone on the path can pose as the brokers"
            );
        }
        let spool = match &cfg.spool {
            Some(scfg) => {
                let (spool, rec) =
                    crate::spool::Spool::open(scfg.clone()).map_err(BridgeError::Spool)?;
                if let Some(t) = &rec.torn_tail {
                    log::warn!(
                        "bridge spool: torn tail record cut off in {} at {} ({} bytes)",
                        t.segment.display(),
                        t.offset,
                        t.bytes
                    );
                }
                log::debug!(
                    "bridge spool opened dir={} pending={} next_seq={}",
                    scfg.dir().display(),
                    rec.pending_records,
                    rec.next_seq
                );
                Some(Arc::new(SpoolAcks::new(spool, rec.pending_records)))
            }
            None => None,
        };
        let producer = Producer::start(pcfg).map_err(BridgeError::Producer)?;
        // Stored messages' buffers go back to the threads that build messages (`recycle`).
        producer.recycle_with(Arc::new(super::recycle::give_back));
        let mut topics: Vec<String> = cfg.rules.topics().into_iter().map(str::to_owned).collect();
        if let Some(t) = &cfg.loss_report_topic {
            if !topics.contains(t) {
                topics.push(t.clone());
            }
        }
        check_routes(&producer, &topics, cfg.spool.is_some())?;
        if cfg.rules.is_empty() {
            log::warn!("bridge started without hook rules: no event will be forwarded");
        }

        let run = run_id(now_ms());
        // With a spool the key's sequence number is the spool's, persistent across runs, and the
        // spool's identity keeps two spools (two bridges with one bridge_id) from sharing keys.
        let key_prefix = if let Some(acks) = &spool {
            format!("{}-{}", cfg.bridge_id, acks.spool.id())
        } else {
            format!("{}-{run:x}", cfg.bridge_id)
        };
        let shared = Arc::new(Settle::new(&cfg, key_prefix, spool));
        shared.topics.set_lookup(route_lookup(&producer));
        let mut bridge = Bridge {
            shared,
            direct: Arc::new(RwLock::new(
                (cfg.produce == ProduceMode::Sync && cfg.spool.is_none()).then(|| producer.clone()),
            )),
            producer: Some(producer),
            dispatcher: None,
            spool_reader: None,
            drain_timeout: cfg.drain_timeout,
            checked_topics: Mutex::new(topics),
            reporter: None,
            metrics_server: None,
            resolver: None,
        };
        if let Err(e) = bridge.start_parts(&cfg, run) {
            // Stop what did start; nothing was accepted yet.
            bridge.shutdown_inner(Duration::from_millis(100));
            return Err(e);
        }
        log::debug!(
            "bridge started rules={} topics={} mode={:?} batch_size={}",
            cfg.rules.len(),
            bridge.checked_topics.lock().len(),
            cfg.produce,
            cfg.batch_size
        );
        Ok(bridge)
    }

    /// Starts the bridge's threads and its metrics endpoint, each in one place: the dispatcher,
    /// the spool reader (with a spool), the loss reporter (with `loss_report.topic`), the metrics
    /// endpoint (with `metrics.listen`). [`Bridge::shutdown_inner`] stops them.
    fn start_parts(&mut self, cfg: &BridgeConfig, run: u128) -> Result<(), BridgeError> {
        let shared = &self.shared;
        let producer = self.producer.clone().ok_or(BridgeError::Closed)?;
        let d = Dispatcher::new(Arc::clone(shared), producer.clone(), cfg.batch_size)
            .with_linger(cfg.linger);
        let stats_interval = cfg.stats_interval;
        self.dispatcher = Some(
            Worker::spawn(DISPATCH_THREAD, move |stop| d.run(stop, stats_interval))
                .map_err(|e| BridgeError::thread(DISPATCH_THREAD, e))?,
        );
        if shared.resolver.is_some() {
            // The producer's credentials and connection settings (TLS included), shared: a reload
            // that replaces them replaces them for the lookups too.
            let consumer = crate::consumer::PullConsumer::with_shared_acl(
                &cfg.servers.join(";"),
                &format!("{}_resolve", cfg.producer_group),
                producer.shared_acl().clone(),
                producer.config().connection.clone(),
            )
            .with_broker_addr_map(cfg.broker_addr_map.clone());
            let mut lookup = super::resolve::Lookup::new(consumer);
            let sh = Arc::clone(shared);
            self.resolver = Some(
                Worker::periodic(RESOLVE_THREAD, super::resolve::LOOKUP_INTERVAL, move || {
                    sh.resolve_round(&mut lookup);
                    crate::util::worker::Tick::Continue
                })
                .map_err(|e| BridgeError::thread(RESOLVE_THREAD, e))?,
            );
        }
        if let Some(acks) = &shared.spool {
            self.spool_reader = Some(
                SpoolReader::start(Arc::clone(acks), &shared.key_prefix, shared)
                    .map_err(|e| BridgeError::thread("bridge-spool-reader", e))?,
            );
        }
        if let Some(topic) = &cfg.loss_report_topic {
            let target = ReportTarget {
                producer,
                topic: topic.clone(),
                bridge_id: cfg.bridge_id.clone(),
                key_prefix: shared.key_prefix.clone(),
                run,
            };
            self.reporter = Some(
                Reporter::start(Arc::clone(&shared.losses), target)
                    .map_err(|e| BridgeError::thread("bridge-loss-report", e))?,
            );
        }
        if let Some(addr) = cfg.metrics_listen {
            let (m, h) = (Arc::clone(shared), Arc::clone(shared));
            // The counters only: a producer clone here would outlive the bridge's close.
            let producer = self.producer.as_ref().map(Producer::stats_counters);
            let server = crate::metrics::MetricsServer::start(
                &addr.to_string(),
                move || {
                    let mut stats = m.stats();
                    if let Some(p) = &producer {
                        stats.producer = p.snapshot();
                    }
                    super::health::metrics_of(&stats, &m.health_status())
                },
                move || {
                    let s = h.health_status();
                    crate::metrics::Health::new(s.healthy, s.to_json())
                },
            )
            .map_err(BridgeError::Metrics)?;
            self.metrics_server = Some(server);
        }
        Ok(())
    }

    /// The health status: unhealthy when a topic had something to send and no broker accepted a
    /// send for it within `bridge.rocket.health.window` (see [`super::health`]).
    pub fn health(&self) -> BridgeHealth {
        self.shared.health_status()
    }

    /// The metrics the endpoint serves (see [`super::health::metrics_of`]).
    pub fn metrics(&self) -> Vec<crate::metrics::Metric> {
        super::health::metrics_of(&self.stats(), &self.health())
    }

    /// The address the metrics endpoint listens on, when configured.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_server.as_ref().map(|s| s.local_addr())
    }

    /// A handle for hosts (cheap to clone, any thread).
    pub fn sender(&self) -> EventSender {
        EventSender::new(Arc::clone(&self.shared)).with_direct(Arc::clone(&self.direct))
    }

    /// The counters, per rule.
    pub fn stats(&self) -> BridgeStats {
        let mut s = self.shared.stats();
        if let Some(p) = &self.producer {
            s.producer = p.stats();
        }
        s
    }

    /// The key prefix of this run (`<bridge_id>-<run>`); keys are `<prefix>-<seq>`.
    pub fn key_prefix(&self) -> &str {
        &self.shared.key_prefix
    }

    /// The producer the bridge sends with.
    pub fn producer(&self) -> Option<&Producer> {
        self.producer.as_ref()
    }

    /// Replaces the rules, the node name, the ACL credentials (`acl.*`) and the TLS files (CA,
    /// client certificate and key, `tls.server_name`, `tls.verify`) with those of `cfg`; buffered
    /// messages are sent as formatted. The new credentials sign every request from now on; the TLS
    /// files, read when `cfg` was loaded (unusable files refuse the config), are used by the
    /// connections made from now on, while established ones keep their session until they close.
    /// Other settings (servers, mode, buffer, turning TLS on or off, …) need a restart.
    ///
    /// # Errors
    /// As [`Bridge::start`] for the new target topics, [`BridgeError::TlsEnableChanged`], or
    /// [`BridgeError::Closed`]; on any error the old rules, credentials and TLS files stay (the new
    /// topics are checked first, with them): no request is signed with refused credentials.
    pub fn reload(&self, cfg: BridgeConfig) -> Result<(), BridgeError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(BridgeError::Closed);
        }
        let producer = self.producer.as_ref().ok_or(BridgeError::Closed)?;
        let mut checked = self.checked_topics.lock();
        super::credentials::refuse_tls_switch(producer, &cfg)
            .map_err(|t| BridgeError::TlsEnableChanged { now: t.now })?;
        let new: Vec<String> = cfg
            .rules
            .topics()
            .into_iter()
            .filter(|t| !checked.iter().any(|c| c == t))
            .map(str::to_owned)
            .collect();
        check_routes(producer, &new, self.shared.spool.is_some())?;
        super::credentials::swap(producer, &cfg)
            .map_err(|t| BridgeError::TlsEnableChanged { now: t.now })?;
        checked.extend(new);
        let active = build_active(&cfg, &mut self.shared.all_stats.lock());
        let old = std::mem::replace(&mut *self.shared.active.write(), Arc::new(active));
        // A rule whose topic template changed starts its topic count afresh; an unchanged one
        // keeps it (the cap is per rule for the bridge's life, not per reload).
        for r in old.rules.iter() {
            if cfg.rules.get(r.id()).map(|n| &n.topic_template) != Some(&r.topic_template) {
                self.shared.topics.forget(r.id());
            }
        }
        log::debug!("bridge rules reloaded rules={}", cfg.rules.len());
        Ok(())
    }

    /// Stops accepting events at once, the first step of [`Bridge::shutdown`], for a host that
    /// ends the run from another thread (a signal) while its sending thread may be blocked: a send
    /// waiting for room in `buffer.max_bytes` (`buffer.overflow = block`) returns
    /// [`SendEventError::Closed`] with its messages counted as dropped (`shutdown`) and listed in
    /// the shutdown report; later sends are refused. What is buffered is still sent by the
    /// shutdown that must follow.
    pub fn close_intake(&self) {
        self.shared.close_intake();
    }

    /// Stops accepting events, sends what is buffered and waits for the outcomes until `deadline`
    /// has passed, then closes the producer. The report lists every message not confirmed during
    /// the shutdown.
    pub fn shutdown(mut self, deadline: Duration) -> ShutdownReport {
        self.shutdown_inner(deadline)
    }

    /// The stops, in order, each with its deadline (`end` is `deadline` from now).
    fn shutdown_inner(&mut self, deadline: Duration) -> ShutdownReport {
        let start = Instant::now();
        let end = start + deadline;
        let sh = &self.shared;
        // 1. Intake: refuse new events (the shutdown log is kept when close_intake started it: it
        //    lists the sends it refused). Held messages are not tried again: they end as failed.
        sh.close_intake();
        // Sync sends on the hosts' threads: no new one starts (those in progress end in step 4).
        self.direct.write().take();
        sh.fail_held();
        // 2. Spool reader: sends what the spool holds until `end`, then stops (joined; it ends
        //    within one poll). What is left waits for the next run.
        if let Some(reader) = self.spool_reader.take() {
            reader.drain_and_stop(end);
        }
        // 3. Dispatcher: drains the channel into the producer and ends; waited for until `end`,
        //    then left detached.
        if let Some(mut dispatcher) = self.dispatcher.take() {
            if !dispatcher.stop_within(end) {
                log::warn!("bridge dispatcher did not finish before the shutdown deadline");
            }
        }
        // 4. Outcomes: what is left in the channel is dropped; the producer's callbacks are
        //    waited for until `end`.
        let drained = sh.settle_remaining(end);
        //     Outcome-unknown sends waiting for their broker lookup are in flight: the lookups go
        //     on meanwhile (found stored: sent; proven not stored: `failed`, nothing is re-sent
        //     now).
        // 4b. Lookups: ended (waiting sends end unresolved within a round); the thread is
        //     stopped, waited for through one query in progress, and what arrives later stays
        //     unknown.
        sh.lookups_closed.store(true, Ordering::SeqCst);
        if let Some(mut w) = self.resolver.take() {
            let grace = super::resolve::QUERY_TIMEOUT + super::resolve::LOOKUP_INTERVAL;
            if !w.stop_within(end.max(Instant::now()) + grace) {
                log::warn!(
                    "bridge outcome-unknown lookups did not stop before the shutdown deadline"
                );
            }
        }
        sh.close_resolver();
        // 5. Loss reporter: a last in-band report of what was lost, while the producer still runs
        //    (joined; the send is bounded by the producer's timeout).
        if let Some(r) = self.reporter.take() {
            r.stop();
        }
        // 6. Producer: closed with what is left until `end`, at least 100 ms; async sends still
        //    queued get their callback with an error and land in the log.
        if let Some(p) = self.producer.take() {
            p.close(
                end.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(100)),
            );
        }
        let (unsent, sent_during_shutdown) = sh.take_shutdown_log();
        let report = ShutdownReport {
            drained: drained && unsent.is_empty(),
            elapsed: start.elapsed(),
            sent_during_shutdown,
            unsent,
            stats: sh.stats(),
        };
        // 7. Metrics endpoint.
        self.metrics_server.take();
        log::debug!("bridge stopped: {report}");
        report
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if self.producer.is_some() {
            let report = self.shutdown_inner(self.drain_timeout);
            if !report.unsent.is_empty() {
                log::warn!("bridge dropped without shutdown: {report}");
            }
        }
    }
}

/// Looks up the route of every target topic and says why any has none: no name server reachable,
/// no broker registered (RocketMQ down or still starting), or missing while a broker is
/// registered. With a spool (`spooled`) only the last is an error: otherwise the problem is logged
/// and the routes are looked up again on every send from the spool.
fn check_routes(producer: &Producer, topics: &[String], spooled: bool) -> Result<(), BridgeError> {
    let mut failed = Vec::new();
    for t in topics {
        match producer.check_route(t) {
            Ok(info) if info.from_default_topic => log::warn!(
                "topic {t} does not exist yet; the broker will create it on the first send (autoCreateTopicEnable; a RocketMQ proxy will not: create it first)"
            ),
            Ok(_) => {}
            Err(e) => failed.push((t.clone(), e)),
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    let err = classify_route_failures(producer, failed);
    match &err {
        BridgeError::NameServerUnreachable { .. } | BridgeError::NoBroker { .. } if spooled => {
            log::warn!("bridge starts with its spool; events are stored and sent once RocketMQ is back: {err}");
            Ok(())
        }
        _ => Err(err),
    }
}

/// The lookup of a templated topic's route on its first use ([`super::topic_gate`]). It holds
/// the route cache weakly: a host's sender outliving the bridge keeps no refresh thread alive.
fn route_lookup(producer: &Producer) -> super::topic_gate::RouteLookup {
    use super::topic_gate::Route;
    use crate::nameserver::Error as NsError;
    let routes = Arc::downgrade(producer.routes());
    let namespace = producer.config().namespace.clone();
    Box::new(move |topic| {
        let Some(routes) = routes.upgrade() else {
            return Route::Unknown;
        };
        match routes.fetch(&crate::producer::with_namespace(
            namespace.as_deref(),
            topic,
        )) {
            Ok(_) => Route::Found,
            Err(NsError::TopicNotExist { .. } | NsError::NoWritableQueue { .. }) => Route::Missing,
            Err(e) => {
                log::debug!("bridge template topic={topic}: route lookup got no answer: {e}");
                Route::Unknown
            }
        }
    })
}

/// Turns route lookup failures into the error that tells the operator what is wrong.
fn classify_route_failures(
    producer: &Producer,
    mut failed: Vec<(String, crate::nameserver::Error)>,
) -> BridgeError {
    use crate::nameserver::Error as NsError;
    let servers = producer.config().namesrv_addrs.join(";");
    if let Some(i) = failed
        .iter()
        .position(|(_, e)| matches!(e, NsError::Unreachable { .. } | NsError::NoNameServer))
    {
        let (_, source) = failed.swap_remove(i);
        return BridgeError::NameServerUnreachable { servers, source };
    }
    let unknown_topic = failed.iter().any(|(_, e)| {
        matches!(
            e,
            NsError::TopicNotExist { .. } | NsError::NoWritableQueue { .. }
        )
    });
    if unknown_topic {
        match live_broker_registered(producer) {
            Ok(false) => {
                return BridgeError::NoBroker {
                    servers,
                    topics: failed.into_iter().map(|(t, _)| t).collect(),
                }
            }
            Ok(true) => {}
            Err(source @ NsError::Unreachable { .. }) => {
                return BridgeError::NameServerUnreachable { servers, source }
            }
            // An Apache RocketMQ proxy taken as the name server answers code 3 (not supported):
            // the topics are then reported as missing, which is what they are behind it.
            Err(e @ NsError::Remote {
                code: crate::remoting::codes::REQUEST_CODE_NOT_SUPPORTED,
                ..
            }) => log::info!(
                "the name server does not list its brokers (GET_BROKER_CLUSTER_INFO not supported: a RocketMQ proxy?): {e}"
            ),
            Err(e) => log::warn!("cannot ask the name servers for their brokers: {e}"),
        }
    }
    BridgeError::MissingTopics(failed)
}

/// Whether the name servers know a live broker (GET_BROKER_CLUSTER_INFO: a name server drops a
/// broker's address, and its topics, as soon as its connection closes or its registration expires).
fn live_broker_registered(producer: &Producer) -> Result<bool, crate::nameserver::Error> {
    use crate::remoting::codes::{GET_BROKER_CLUSTER_INFO, SUCCESS};
    let cmd = crate::remoting::RemotingCommand::request(GET_BROKER_CLUSTER_INFO);
    let (addr, resp) = producer.routes().client().invoke(&cmd)?;
    if resp.code != SUCCESS {
        return Err(crate::nameserver::Error::Remote {
            addr,
            code: resp.code,
            remark: resp.remark.unwrap_or_default(),
        });
    }
    cluster_info_has_broker(&resp.body).ok_or_else(|| crate::nameserver::Error::InvalidRoute {
        reason: "the cluster info is not JSON".to_owned(),
    })
}

/// Whether a `ClusterInfo` body lists a broker with at least one address (an empty body: nothing
/// registered); `None` when it is not JSON.
fn cluster_info_has_broker(body: &[u8]) -> Option<bool> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(false);
    }
    let fixed = crate::nameserver::lenient_json::quote_bare_integer_keys(body);
    let v = serde_json::from_slice::<serde_json::Value>(&fixed).ok()?;
    let any = v
        .get("brokerAddrTable")
        .and_then(serde_json::Value::as_object)
        .is_some_and(|table| {
            table.values().any(|b| {
                b.get("brokerAddrs")
                    .and_then(serde_json::Value::as_object)
                    .is_some_and(|a| !a.is_empty())
            })
        });
    Some(any)
}

/// The `run` of the message keys without a spool (`<bridge_id>-<run>-<seq>`): `start_ms` in the
/// high bits, then the process id (22 bits, Linux's largest) and this process's count of bridge
/// starts (10 bits). Two bridges running at once on one host differ in the process id or the
/// count; a later bridge that reuses a process id started at a later millisecond.
pub(crate) fn run_id(start_ms: u64) -> u128 {
    static STARTS: AtomicU32 = AtomicU32::new(0);
    let n = STARTS.fetch_add(1, Ordering::Relaxed) & 0x3ff;
    (u128::from(start_ms) << 32)
        | (u128::from(std::process::id() & 0x3f_ffff) << 10)
        | u128::from(n)
}

#[cfg(test)]
mod tests;
