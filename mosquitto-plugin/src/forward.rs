//! The hand-over from mosquitto's thread to the bridge.
//!
//! mosquitto's thread only calls [`Forwarder::offer`]: it appends the event to an in-memory inbox bounded
//! by bytes and count, under a lock the forwarder holds only to swap the buffer out, and makes a system
//! call only to wake an idle forwarder; when the inbox is full the event is dropped and counted
//! (`dropped_queue_full`). A forwarder thread owns the [`Bridge`]: it starts it (retrying with
//! back-off while RocketMQ is unreachable, so that mosquitto starts and serves even when RocketMQ is down),
//! takes the whole inbox every [`HANDOVER_INTERVAL`] and hands it to the bridge, applies reloads, and on
//! shutdown drains into it and reports what could not be sent.
//!
//! Why an inbox taken in bulk rather than a channel read event by event: a channel wakes the sleeping
//! forwarder for almost every event, which costs a futex system call on mosquitto's thread and a context
//! switch on each thread down the line (forwarder, bridge dispatcher, producer worker). With the inbox the
//! forwarder is woken only after it has been idle, and otherwise works on its own timer.
//!
//! The bridge always runs in `async` mode here: a config saying `produce = sync` is run as async with a
//! start-up warning, because a sync hand-over would make one RocketMQ round trip per event on the
//! forwarder thread. The bridge's overflow policy applies inside the bridge: `drop_new` and `drop_oldest`
//! drop and count there; `block` makes the forwarder thread wait, so the plugin queue fills and further
//! events are dropped and counted at the plugin queue (mosquitto itself is never blocked).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender};
use parking_lot::Mutex;
use rocketmq_bridge::bridge::{
    Bridge, BridgeConfig, BridgeStats, ChunkSender, Event, EventKind, EventSender, ProduceMode,
};
use rocketmq_bridge::util::worker::Worker;

use crate::tracker::{Interest, KINDS};

/// Most events waiting in the plugin queue.
pub const QUEUE_MAX_EVENTS: usize = 65_536;
/// First retry delay when the bridge cannot start; doubles up to [`START_RETRY_MAX`].
pub const START_RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest retry delay when the bridge cannot start.
pub const START_RETRY_MAX: Duration = Duration::from_secs(30);
/// Nice value of the forwarder thread and of every bridge thread it starts (they inherit it, and the
/// `SCHED_BATCH` policy set with it, see `rocketmq_bridge::sys::lower_current_thread_priority`): under
/// CPU pressure mosquitto's own thread goes first, a bridge thread waking up does not preempt it, and
/// the bridge works with what is left (falling behind shows up as counted queue drops, never as broker
/// latency).
pub const BRIDGE_THREAD_NICE: i32 = 10;
/// Fixed per-event overhead counted against the queue's byte budget.
const EVENT_OVERHEAD: usize = 160;
/// How long events gather in the inbox while the forwarder is busy, before it takes them all and hands
/// them to the bridge. Longer means larger batches for RocketMQ and later events; it does not delay
/// mosquitto.
pub const HANDOVER_INTERVAL: Duration = Duration::from_millis(10);
/// Capacity, in events, the emptied buffer keeps when it is swapped back into the inbox (a backlog's
/// larger buffer is shrunk to this).
const SPARE_MAX_EVENTS: usize = 4096;
/// How long [`Forwarder::stop`] waits for the forwarder thread beyond the drain deadline: 1 s. The thread
/// gives the bridge's own shutdown at least [`BRIDGE_SHUTDOWN_MIN`] and the producer's close takes up to
/// 100 ms after it, so a healthy stop ends well inside this; a thread still busy after it (a bridge start
/// or a send blocked on a peer that never answers) is left behind, and mosquitto's thread goes on.
pub const STOP_MARGIN: Duration = Duration::from_millis(1000);
/// Least time given to the bridge's shutdown when the drain deadline is already used up: 500 ms.
pub const BRIDGE_SHUTDOWN_MIN: Duration = Duration::from_millis(500);
/// How often an idle forwarder looks at its inbox and refreshes the bridge counters when nothing wakes it.
const IDLE_WAIT: Duration = Duration::from_millis(500);

/// Counters of the hand-over (monotonic).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardCounters {
    /// Events accepted into the plugin queue.
    pub queued: u64,
    /// Events dropped because the plugin queue was full (bridge backed up or not started).
    pub dropped_queue_full: u64,
    /// Events handed to the bridge.
    pub handed_over: u64,
    /// Events the bridge refused at hand-over (dropped by its overflow policy or size limit, or closed).
    pub refused_by_bridge: u64,
    /// Events still queued at shutdown that could not be handed over: the bridge never started, or the
    /// drain deadline passed.
    pub unsent_at_shutdown: u64,
    /// Bridge start attempts that failed.
    pub start_failures: u64,
    /// Events in the queue now.
    pub in_queue_events: usize,
    /// Bytes (as budgeted) in the queue now.
    pub in_queue_bytes: usize,
}

#[derive(Debug, Default)]
struct Shared {
    queued: AtomicU64,
    dropped_queue_full: AtomicU64,
    handed_over: AtomicU64,
    refused_by_bridge: AtomicU64,
    unsent_at_shutdown: AtomicU64,
    start_failures: AtomicU64,
    queued_bytes: AtomicUsize,
    queued_events: AtomicUsize,
    bridge_stats: Mutex<Option<BridgeStats>>,
    /// Events offered and not yet taken by the forwarder.
    inbox: Mutex<Vec<Event>>,
    /// Set by [`Forwarder::stop`] when the thread did not finish in time: every event not yet handed over
    /// was then counted as `unsent_at_shutdown` by `stop`, and the left-behind thread counts nothing more.
    /// Held by the thread while it accounts for one event, so that no event is counted twice.
    abandoned: Mutex<bool>,
    /// The forwarder waits without a timer and must be woken when the inbox becomes non-empty.
    idle: AtomicBool,
}

enum Ctl {
    Reload(Box<BridgeConfig>),
    Stop(Duration),
}

/// The hand-over handle, owned by the plugin.
pub struct Forwarder {
    wake: Sender<()>,
    ctl: Sender<Ctl>,
    max_bytes: usize,
    shared: Arc<Shared>,
    /// The forwarder thread; it ends on [`Ctl::Stop`] (or when `ctl` closes), not on the worker's
    /// stop signal.
    thread: Option<Worker>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

fn event_size(ev: &Event) -> usize {
    EVENT_OVERHEAD + ev.heap_size()
}

/// Which event kinds any rule of `cfg` wants.
pub fn interest(cfg: &BridgeConfig) -> Interest {
    let mut out = [false; KINDS];
    for k in EventKind::ALL {
        out[k.index()] = !cfg.rules.for_event(k).is_empty();
    }
    out
}

/// Adjusts a loaded config for running inside mosquitto; returns the warnings to log.
pub fn adapt(cfg: &mut BridgeConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    if cfg.produce == ProduceMode::Sync {
        cfg.produce = ProduceMode::Async;
        warnings.push(
            "bridge.rocket.produce = sync is run as async inside mosquitto: mosquitto has one thread, and \
             events are confirmed asynchronously by the bridge (failures are counted, never waited for)"
                .to_string(),
        );
    }
    let acked = cfg.rules.for_event(EventKind::MessageAcked).len();
    if acked > 0 {
        warnings.push(format!(
            "{acked} message.acked rule(s) are inactive: mosquitto 2.0.11 reports no acknowledgements to plugins"
        ));
    }
    warnings
}

impl Forwarder {
    /// Starts the forwarder thread; the bridge itself is started on that thread.
    ///
    /// # Errors
    /// The thread cannot be spawned.
    pub fn start(cfg: BridgeConfig, max_bytes: usize) -> std::io::Result<Forwarder> {
        let (wake, wake_rx) = bounded::<()>(1);
        let (ctl, ctl_rx) = bounded::<Ctl>(16);
        let shared = Arc::new(Shared::default());
        let sh = Arc::clone(&shared);
        let thread = Worker::spawn("mosq-forward", move |_stop| run(cfg, wake_rx, ctl_rx, sh))?;
        Ok(Forwarder {
            wake,
            ctl,
            max_bytes,
            shared,
            thread: Some(thread),
        })
    }

    /// Non-blocking hand-over from mosquitto's thread: appends to the inbox (a lock only the forwarder
    /// shares, held for a swap), and wakes the forwarder only if it is idle.
    pub fn offer(&self, ev: Event) {
        let size = event_size(&ev);
        let sh = &self.shared;
        let before = sh.queued_bytes.fetch_add(size, Ordering::Relaxed);
        let count = sh.queued_events.fetch_add(1, Ordering::Relaxed);
        if before + size > self.max_bytes || count >= QUEUE_MAX_EVENTS {
            sh.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            sh.queued_events.fetch_sub(1, Ordering::Relaxed);
            sh.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        sh.inbox.lock().push(ev);
        sh.queued.fetch_add(1, Ordering::Relaxed);
        // The forwarder sets `idle` before its last look at the inbox, and the lock orders that look
        // with the push above: either it saw this event, or `idle` is seen set here.
        if sh.idle.load(Ordering::Relaxed) && sh.idle.swap(false, Ordering::AcqRel) {
            let _ = self.wake.try_send(());
        }
    }

    /// Hands new rules to the bridge (applied on the forwarder thread; buffered events are kept).
    pub fn reload(&self, cfg: BridgeConfig) {
        if self.ctl.try_send(Ctl::Reload(Box::new(cfg))).is_err() {
            log::warn!("reload not applied: forwarder busy or stopped");
        }
    }

    /// The hand-over counters.
    pub fn counters(&self) -> ForwardCounters {
        let s = &self.shared;
        ForwardCounters {
            queued: s.queued.load(Ordering::Relaxed),
            dropped_queue_full: s.dropped_queue_full.load(Ordering::Relaxed),
            handed_over: s.handed_over.load(Ordering::Relaxed),
            refused_by_bridge: s.refused_by_bridge.load(Ordering::Relaxed),
            unsent_at_shutdown: s.unsent_at_shutdown.load(Ordering::Relaxed),
            start_failures: s.start_failures.load(Ordering::Relaxed),
            in_queue_events: s.queued_events.load(Ordering::Relaxed),
            in_queue_bytes: s.queued_bytes.load(Ordering::Relaxed),
        }
    }

    /// The bridge's counters as last seen by the forwarder (refreshed about once a second).
    pub fn bridge_stats(&self) -> Option<BridgeStats> {
        self.shared.bridge_stats.lock().clone()
    }

    /// Drains into the bridge, shuts it down within `deadline` and joins the thread. Returns the final
    /// counters and the bridge's counters after its shutdown.
    ///
    /// Never waits more than `deadline` + [`STOP_MARGIN`] (this runs on mosquitto's thread at unload). If
    /// the forwarder thread has not finished by then (a bridge start or a hand-over blocked on a peer that
    /// never answers), it is left running, every event it had not handed over is counted as
    /// `unsent_at_shutdown`, and [`StopReport::detached`] says so; the bridge's counters are then the last
    /// ones seen, and events already handed to it may still be without an outcome.
    pub fn stop(mut self, deadline: Duration) -> StopReport {
        let limit = Instant::now() + deadline + STOP_MARGIN;
        // Bounded: the control queue may be full of reloads the stuck thread never took.
        let sent = self.ctl.send_deadline(Ctl::Stop(deadline), limit).is_ok();
        let mut thread = self.thread.take();
        // Joined when it returned in time; otherwise dropped below, which leaves it detached.
        let finished = sent && thread.as_mut().is_none_or(|t| t.wait_until(limit));
        if !finished {
            self.abandon();
        }
        drop(thread);
        StopReport {
            counters: self.counters(),
            bridge: self.bridge_stats(),
            detached: !finished,
        }
    }

    /// Counts every event not yet handed over as unsent, and makes the left-behind thread count nothing.
    fn abandon(&self) {
        let sh = &self.shared;
        let mut abandoned = sh.abandoned.lock();
        *abandoned = true;
        drop(std::mem::take(&mut *sh.inbox.lock()));
        // Events in the inbox and in the batch the thread holds are all still counted here.
        let n = sh.queued_events.swap(0, Ordering::Relaxed);
        sh.queued_bytes.store(0, Ordering::Relaxed);
        sh.unsent_at_shutdown.fetch_add(n as u64, Ordering::Relaxed);
        drop(abandoned);
        log::warn!(
            "forwarder thread did not finish within the drain timeout + {STOP_MARGIN:?}: left running; \
             {n} events not handed over counted as unsent_at_shutdown; the bridge counters are the last seen"
        );
    }
}

/// What [`Forwarder::stop`] ends with.
#[derive(Debug, Clone)]
pub struct StopReport {
    /// The final hand-over counters.
    pub counters: ForwardCounters,
    /// The bridge's counters after its shutdown, or the last seen if the thread was left running.
    pub bridge: Option<BridgeStats>,
    /// The forwarder thread did not finish in time and was left running.
    pub detached: bool,
}

fn run(mut cfg: BridgeConfig, wake: Receiver<()>, ctl: Receiver<Ctl>, sh: Arc<Shared>) {
    rocketmq_bridge::sys::lower_current_thread_priority(BRIDGE_THREAD_NICE);
    let mut bridge: Option<Bridge> = None;
    let mut next_try = Instant::now();
    let mut backoff = START_RETRY_MIN;
    let mut last_stats = Instant::now();
    // The inbox's previous buffer, swapped back in empty so that steady state allocates nothing.
    let mut batch: Vec<Event> = Vec::new();
    loop {
        if bridge.is_none() && Instant::now() >= next_try {
            match Bridge::start(cfg.clone()) {
                Ok(b) => {
                    log::info!("bridge started servers={}", cfg.servers.join(";"));
                    bridge = Some(b);
                    backoff = START_RETRY_MIN;
                }
                Err(e) => {
                    sh.start_failures.fetch_add(1, Ordering::Relaxed);
                    log::warn!(
                        "bridge not started (events wait in the plugin queue, overflow dropped and counted): {e}; retry in {backoff:?}"
                    );
                    next_try = Instant::now() + backoff;
                    backoff = (backoff * 2).min(START_RETRY_MAX);
                }
            }
        }
        if let Some(b) = &bridge {
            if last_stats.elapsed() >= Duration::from_secs(1) {
                *sh.bridge_stats.lock() = Some(b.stats());
                last_stats = Instant::now();
            }
        }
        let wait = match &bridge {
            Some(b) => {
                std::mem::swap(&mut *sh.inbox.lock(), &mut batch);
                if batch.is_empty() {
                    sh.idle.store(true, Ordering::SeqCst);
                    if sh.inbox.lock().is_empty() {
                        IDLE_WAIT
                    } else {
                        sh.idle.store(false, Ordering::SeqCst);
                        Duration::ZERO
                    }
                } else {
                    let taken = Instant::now();
                    let sender = b.sender();
                    // The batch's messages reach the dispatcher together (one channel operation
                    // per 64 messages, one wake-up of the dispatcher per batch).
                    let mut chunk = sender.chunk_sender();
                    for ev in batch.drain(..) {
                        forward(Some(&mut chunk), ev, &sh);
                    }
                    if let Err(e) = chunk.flush() {
                        log::debug!("bridge refused a hand-over: {e}");
                    }
                    // After a backlog, do not keep its buffer: it goes back into the inbox.
                    batch.shrink_to(SPARE_MAX_EVENTS);
                    // The next take is HANDOVER_INTERVAL after this one, not after the work.
                    HANDOVER_INTERVAL.saturating_sub(taken.elapsed())
                }
            }
            // Events stay in the inbox (bounded) until the bridge starts.
            None => next_try.saturating_duration_since(Instant::now()),
        };
        select! {
            recv(ctl) -> c => match c {
                Ok(Ctl::Reload(new)) => {
                    let mut new = *new;
                    for w in adapt(&mut new) {
                        log::warn!("{w}");
                    }
                    match &bridge {
                        Some(b) => match b.reload(new.clone()) {
                            Ok(()) => {
                                log::info!("bridge rules reloaded rules={}", new.rules.len());
                                cfg = new;
                            }
                            Err(e) => log::warn!("bridge reload refused, old rules, ACL keys and TLS files kept: {e}"),
                        },
                        None => cfg = new,
                    }
                }
                Ok(Ctl::Stop(deadline)) => {
                    finish(bridge, &sh, deadline);
                    return;
                }
                Err(_) => {
                    finish(bridge, &sh, Duration::from_secs(5));
                    return;
                }
            },
            recv(wake) -> _ => {},
            default(wait) => {}
        }
    }
}

fn forward(sender: Option<&mut ChunkSender<'_>>, ev: Event, sh: &Shared) {
    {
        // Uncontended except at a stop that timed out.
        let abandoned = sh.abandoned.lock();
        if *abandoned {
            // Counted as unsent by `Forwarder::stop` already.
            return;
        }
        sh.queued_bytes
            .fetch_sub(event_size(&ev), Ordering::Relaxed);
        sh.queued_events.fetch_sub(1, Ordering::Relaxed);
        if sender.is_none() {
            sh.unsent_at_shutdown.fetch_add(1, Ordering::Relaxed);
            return;
        }
        sh.handed_over.fetch_add(1, Ordering::Relaxed);
    }
    let Some(s) = sender else {
        return;
    };
    let mut ev = ev;
    if let Err(e) = s.send_mut(&mut ev) {
        sh.refused_by_bridge.fetch_add(1, Ordering::Relaxed);
        log::debug!("bridge refused an event: {e}");
    }
}

fn finish(bridge: Option<Bridge>, sh: &Shared, deadline: Duration) {
    let end = Instant::now() + deadline;
    let sender = bridge.as_ref().map(Bridge::sender);
    let mut chunk = sender.as_ref().map(EventSender::chunk_sender);
    let rest = std::mem::take(&mut *sh.inbox.lock());
    for ev in rest {
        if Instant::now() > end {
            forward(None, ev, sh);
        } else {
            forward(chunk.as_mut(), ev, sh);
        }
    }
    // Hands over what it keeps, before the shutdown below.
    drop(chunk);
    drop(sender);
    if let Some(b) = bridge {
        let left = end.saturating_duration_since(Instant::now());
        let report = b.shutdown(left.max(BRIDGE_SHUTDOWN_MIN));
        *sh.bridge_stats.lock() = Some(report.stats.clone());
        log::info!(
            "bridge stopped drained={} elapsed={:?} sent_during_shutdown={} unsent={}",
            report.drained,
            report.elapsed,
            report.sent_during_shutdown,
            report.unsent.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_is_run_as_async_with_a_warning_and_acked_rules_are_inactive() {
        let mut cfg = BridgeConfig::parse(
            "bridge.rocket.produce = sync\n\
             bridge.rocket.hook.message.acked.1 = {\"filter\": \"#\", \"topic\": \"MessageAcked\"}\n\
             bridge.rocket.hook.message.publish.1 = {\"filter\": \"#\", \"topic\": \"MessagePublish\"}\n",
            "t.conf",
        )
        .unwrap();
        let w = adapt(&mut cfg);
        assert_eq!(cfg.produce, ProduceMode::Async);
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("run as async"));
        assert!(w[1].starts_with("1 message.acked rule(s) are inactive"));
        let i = interest(&cfg);
        assert!(i[EventKind::MessagePublish.index()]);
        assert!(!i[EventKind::MessageDelivered.index()]);
    }

    #[test]
    fn offer_drops_and_counts_when_the_byte_budget_is_full() {
        // A config whose bridge cannot start (nothing listens on port 1): events stay queued.
        let cfg = BridgeConfig::parse(
            "bridge.rocket.servers = 127.0.0.1:1\n\
             bridge.rocket.hook.message.publish.1 = {\"filter\": \"#\", \"topic\": \"T\"}\n",
            "t.conf",
        )
        .unwrap();
        let f = Forwarder::start(cfg, 4 * EVENT_OVERHEAD).unwrap();
        for _ in 0..10 {
            let mut e = Event::new(EventKind::MessagePublish).with_ts(1);
            e.payload = Some(bytes::Bytes::from_static(b"x"));
            f.offer(e);
        }
        let c = f.counters();
        assert_eq!(c.queued + c.dropped_queue_full, 10);
        assert!(c.dropped_queue_full >= 6, "{c:?}");
        let c = f.stop(Duration::from_millis(200)).counters;
        // everything queued was accounted for at shutdown, and the budget was released
        assert_eq!(c.unsent_at_shutdown, c.queued, "{c:?}");
        assert_eq!((c.in_queue_events, c.in_queue_bytes), (0, 0), "{c:?}");
    }

    /// A peer that accepts every connection and never answers (holds the sockets until dropped).
    struct SilentPeer {
        addr: std::net::SocketAddr,
        thread: Option<Worker>,
    }

    impl SilentPeer {
        fn start() -> SilentPeer {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.set_nonblocking(true).unwrap();
            let addr = l.local_addr().unwrap();
            let thread = Worker::spawn("silent-peer", move |stop| {
                let mut held = Vec::new();
                while !stop.is_stopped() {
                    match l.accept() {
                        Ok((c, _)) => held.push(c),
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
            .unwrap();
            SilentPeer {
                addr,
                thread: Some(thread),
            }
        }
    }

    impl Drop for SilentPeer {
        fn drop(&mut self) {
            if let Some(t) = self.thread.take() {
                t.join();
            }
        }
    }

    #[test]
    fn issue_18_stop_is_bounded_when_the_name_server_never_answers() {
        let peer = SilentPeer::start();
        let drain = Duration::from_millis(300);
        let cfg = BridgeConfig::parse(
            &format!(
                "bridge.rocket.servers = {}\n\
                 bridge.rocket.drain_timeout = 300ms\n\
                 bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"T\"}}\n",
                peer.addr
            ),
            "t.conf",
        )
        .unwrap();
        assert_eq!(cfg.drain_timeout, drain);
        let f = Forwarder::start(cfg, 1 << 20).unwrap();
        // let the forwarder get stuck starting the bridge against the silent peer
        std::thread::sleep(Duration::from_millis(200));
        for _ in 0..50 {
            let mut e = Event::new(EventKind::MessagePublish).with_ts(1);
            e.payload = Some(bytes::Bytes::from_static(b"x"));
            f.offer(e);
        }
        let t0 = Instant::now();
        let r = f.stop(drain);
        let took = t0.elapsed();
        let c = r.counters;
        eprintln!("stop took {took:?}: detached={} {c:?}", r.detached);
        // the deadline itself is what is tested here: stop must return by drain + STOP_MARGIN
        assert!(
            took <= drain + STOP_MARGIN + Duration::from_millis(100),
            "stop took {took:?}"
        );
        assert!(
            r.detached,
            "the bridge start blocks on the silent peer longer than that"
        );
        assert_eq!(c.queued, 50);
        assert_eq!(c.handed_over + c.unsent_at_shutdown, c.queued, "{c:?}");
        assert_eq!(c.unsent_at_shutdown, 50, "{c:?}");
    }
}
