//! The plugin in Rust terms: options, the [`Tracker`], and the non-blocking hand-over of its events.
//! [`crate::ffi`] converts mosquitto's callbacks into calls on [`Plugin`]; nothing here touches C memory.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use rocketmq_bridge::bridge::{BridgeConfig, BridgeStats, Event, EventKind};

use crate::forward::{adapt, interest, ForwardCounters, Forwarder};
use crate::options::{Decider, PluginOptions};
use crate::trace::TraceWriter;
use crate::tracker::{
    AclCheck, Answer, ClientInfo, ClientRef, Message, Outcome, Tracker, TrackerCounters,
};

/// How often the plugin logs its counters (on mosquitto's thread, at a `TICK`).
pub const STATS_INTERVAL: Duration = Duration::from_secs(60);

/// Why the plugin refused to start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// A bad `plugin_opt_*` option.
    Options(crate::options::OptionsError),
    /// The trace file could not be opened.
    Trace(std::path::PathBuf, std::io::Error),
    /// The bridge config file is invalid (the error names file, line and key).
    Config(rocketmq_bridge::bridge::ConfigError),
    /// The forwarder thread could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Options(e) => write!(f, "{e}"),
            StartError::Trace(p, e) => write!(f, "cannot open trace file {}: {e}", p.display()),
            StartError::Config(e) => write!(f, "bridge config: {e}"),
            StartError::Thread(e) => write!(f, "cannot start the forwarder thread: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The running plugin.
#[derive(Debug)]
pub struct Plugin {
    opts: PluginOptions,
    tracker: Mutex<Tracker>,
    trace: Option<TraceWriter>,
    forwarder: Option<Forwarder>,
    drain_timeout: Duration,
    last_stats: Mutex<u64>,
}

impl Plugin {
    /// Starts the plugin from its parsed options.
    ///
    /// # Errors
    /// See [`StartError`].
    pub fn start(opts: PluginOptions) -> Result<Plugin, StartError> {
        let mut cfg = BridgeConfig::load(&opts.config).map_err(StartError::Config)?;
        for w in adapt(&mut cfg) {
            log::warn!("{w}");
        }
        let mut interest = interest(&cfg);
        if opts.trace_file.is_some() {
            // The trace shows every event the plugin can report, whatever the rules select.
            interest = [true; crate::tracker::KINDS];
        }
        let drain_timeout = cfg.drain_timeout;
        log::info!(
            "bridge config {} rules={} (events for kinds without rules are not built)",
            opts.config.display(),
            cfg.rules.len()
        );
        let forwarder = Forwarder::start(cfg, opts.queue_max_bytes).map_err(StartError::Thread)?;
        let trace = match &opts.trace_file {
            Some(p) => Some(TraceWriter::start(p).map_err(|e| StartError::Trace(p.clone(), e))?),
            None => None,
        };
        log::info!(
            "access control: logins {} ({}), acl checks {} ({})",
            opts.logins.as_str(),
            match opts.logins {
                Decider::Elsewhere => "plugin answers defer; a password_file or another plugin decides",
                Decider::OpenBroker => "plugin answers success, as mosquitto does without a password_file and with allow_anonymous true",
            },
            opts.acl.as_str(),
            match opts.acl {
                Decider::Elsewhere => "an acl_file or another plugin decides; the plugin returns mosquitto's own decision and never grants",
                Decider::OpenBroker => "plugin answers success, as mosquitto does without an acl_file",
            },
        );
        log::info!(
            "mosquitto 2.0.11 limits: will messages never reach plugins (no message.publish for them); \
             message.acked has no source (its rules are inactive); client.disconnected reason is null"
        );
        Ok(Plugin {
            tracker: Mutex::new(Tracker::new(opts.logins, interest)),
            opts,
            trace,
            forwarder: Some(forwarder),
            drain_timeout,
            last_stats: Mutex::new(now_ms()),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &PluginOptions {
        &self.opts
    }

    fn dispatch(&self, ev: Event) {
        if let Some(t) = &self.trace {
            t.offer(&ev);
        }
        if let Some(f) = &self.forwarder {
            f.offer(ev);
        }
    }

    /// Runs `f` on the tracker unless it is busy (a re-entrant call from inside mosquitto), then hands over
    /// what settled. The hand-over runs under the tracker's lock (it never calls into mosquitto), so that
    /// the tracker's event buffer keeps its allocation: no allocation per callback for it.
    fn with_tracker<R>(&self, f: impl FnOnce(&mut Tracker) -> R) -> Option<R> {
        let mut t = self.tracker.try_lock()?;
        let r = f(&mut t);
        for ev in t.drain_in_place() {
            self.dispatch(ev);
        }
        Some(r)
    }

    /// `BASIC_AUTH` head.
    pub fn basic_auth(&self, client: ClientRef, info: ClientInfo) -> Answer {
        let now = now_ms();
        self.with_tracker(|t| t.on_basic_auth(client, info, now))
            .unwrap_or(Tracker::static_login_answer(self.opts.logins))
    }

    /// `ACL_CHECK`, with mosquitto's decision.
    pub fn acl_check(&self, check: &AclCheck<'_>, outcome: Outcome) {
        let now = now_ms();
        self.with_tracker(|t| t.on_acl_check(check, outcome, now));
    }

    /// `MESSAGE` head.
    pub fn message(&self, msg: &Message<'_>) {
        let now = now_ms();
        self.with_tracker(|t| t.on_message(msg, now));
    }

    /// `MESSAGE` tail.
    pub fn message_tail(&self) {
        self.with_tracker(|t| t.on_message_tail());
    }

    /// `DISCONNECT`.
    pub fn disconnect(&self, client: ClientRef, info: ClientInfo) {
        let now = now_ms();
        self.with_tracker(|t| t.on_disconnect(client, info, now));
    }

    /// `TICK`. Also logs the counters every [`STATS_INTERVAL`].
    pub fn tick(&self) {
        let now = now_ms();
        // The counters are copied only when a line is due (a tick comes with every main-loop iteration).
        let due = {
            let mut last = self.last_stats.lock();
            let due = now.saturating_sub(*last) >= STATS_INTERVAL.as_millis() as u64;
            if due {
                *last = now;
            }
            due
        };
        let counters = self.with_tracker(|t| {
            t.on_tick();
            due.then(|| t.counters())
        });
        if let Some(Some(c)) = counters {
            log::info!("{}", self.stats_line(&c));
        }
    }

    /// Marks whether the `MESSAGE` tail callback is last in mosquitto's list.
    pub fn set_tail_ready(&self, ready: bool) {
        self.with_tracker(|t| t.set_tail_ready(ready));
    }

    /// `RELOAD`: re-reads the bridge rules, the ACL keys and the TLS files from `plugin_opt_config`
    /// without losing buffered events (new connections use the new TLS files).
    pub fn reload(&self) {
        self.set_tail_ready(false);
        match BridgeConfig::load(&self.opts.config) {
            Ok(mut cfg) => {
                for w in adapt(&mut cfg) {
                    log::warn!("{w}");
                }
                if self.trace.is_none() {
                    let i = interest(&cfg);
                    self.with_tracker(|t| t.set_interest(i));
                }
                log::info!(
                    "reload: {} rules read from {}",
                    cfg.rules.len(),
                    self.opts.config.display()
                );
                if let Some(f) = &self.forwarder {
                    f.reload(cfg);
                }
            }
            Err(e) => log::warn!(
                "reload: bridge config not reloaded, old rules, ACL keys and TLS files kept: {e}"
            ),
        }
    }

    /// The tracker's counters.
    pub fn counters(&self) -> TrackerCounters {
        self.tracker.lock().counters()
    }

    /// One line with every counter.
    pub fn stats_line(&self, c: &TrackerCounters) -> String {
        let fwd = self
            .forwarder
            .as_ref()
            .map(|f| (f.counters(), f.bridge_stats()));
        self.stats_line_with(c, fwd)
    }

    fn stats_line_with(
        &self,
        c: &TrackerCounters,
        fwd: Option<(ForwardCounters, Option<BridgeStats>)>,
    ) -> String {
        let mut s = format!(
            "stats: emitted connected={} disconnected={} subscribed={} unsubscribed={} publish={} delivered={}; \
             logins accepted={} refused={}; checks denied={}; publishes refused={}; unverified={}; \
             reads not deliveries: reconnect={} retained_on_subscribe={} offline={}; \
             unsubscribes of unknown subscriptions={}; tracker_evicted={} tracker_untracked={} \
             tracker_sessions_gone={} tracked_bytes={} tracked_sessions={} tracked_offline={}; trace dropped={}",
            c.emitted[EventKind::ClientConnected.index()],
            c.emitted[EventKind::ClientDisconnected.index()],
            c.emitted[EventKind::SessionSubscribed.index()],
            c.emitted[EventKind::SessionUnsubscribed.index()],
            c.emitted[EventKind::MessagePublish.index()],
            c.emitted[EventKind::MessageDelivered.index()],
            c.logins_accepted,
            c.logins_refused,
            c.checks_denied,
            c.publishes_refused,
            c.unverified,
            c.reads_on_reconnect,
            c.reads_retained_on_subscribe,
            c.reads_offline,
            c.unsubscribes_unknown,
            c.tracker_evicted,
            c.tracker_untracked,
            c.tracker_sessions_gone,
            c.tracked_bytes,
            c.tracked_sessions,
            c.tracked_offline,
            self.trace.as_ref().map_or(0, |t| t.dropped()),
        );
        if let Some((fc, bs)) = fwd {
            s.push_str(&format!(
                "; hand-over queued={} dropped_queue_full={} handed_over={} refused_by_bridge={} \
                 unsent_at_shutdown={} start_failures={}",
                fc.queued,
                fc.dropped_queue_full,
                fc.handed_over,
                fc.refused_by_bridge,
                fc.unsent_at_shutdown,
                fc.start_failures
            ));
            if let Some(b) = bs {
                let t = b.total();
                s.push_str(&format!(
                    "; bridge matched={} sent={} failed={} outcome_unknown={} dropped_overflow={} \
                     dropped_too_large={} dropped_shutdown={} dropped_bad_topic={} \
                     dropped_bad_tag={} dropped_no_topic={} dropped_topic_cap={} unmatched={}",
                    t.matched,
                    t.sent,
                    t.failed,
                    t.outcome_unknown,
                    t.dropped_overflow,
                    t.dropped_too_large,
                    t.dropped_shutdown,
                    t.dropped_bad_topic,
                    t.dropped_bad_tag,
                    t.dropped_no_topic,
                    t.dropped_topic_cap,
                    b.unmatched
                ));
            }
        }
        s
    }

    /// The hand-over counters, if the bridge is configured.
    pub fn forward_counters(&self) -> Option<ForwardCounters> {
        self.forwarder.as_ref().map(Forwarder::counters)
    }

    /// Unload (mosquitto shutting down): drain into the bridge within its `drain_timeout`, stop it, and
    /// log the final counters (the loss accounting). Returns within `drain_timeout` +
    /// [`crate::forward::STOP_MARGIN`] (plus writing out the trace file, if any); returns `true` when the
    /// forwarder thread had to be left running (its code must then stay loaded, see [`crate::ffi`]).
    pub fn shutdown(mut self) -> bool {
        let mut detached = false;
        let fwd = self.forwarder.take().map(|f| {
            log::info!(
                "shutdown: draining into the bridge (drain_timeout {:?})",
                self.drain_timeout
            );
            let r = f.stop(self.drain_timeout);
            detached = r.detached;
            (r.counters, r.bridge)
        });
        let c = self.counters();
        log::info!(
            "shutdown: final {}{}",
            self.stats_line_with(&c, fwd),
            if detached {
                "; forwarder left running (stop deadline passed): bridge counters are the last seen"
            } else {
                ""
            }
        );
        if let Some(t) = self.trace.take() {
            t.close();
        }
        detached
    }
}
