//! The plugin in Rust terms: options, the [`Tracker`], and the non-blocking hand-over of its events.
//! [`crate::ffi`] converts mosquitto's callbacks into calls on [`Plugin`]; nothing here touches C memory.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::event::MqttEvent;
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
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Options(e) => write!(f, "{e}"),
            StartError::Trace(p, e) => write!(f, "cannot open trace file {}: {e}", p.display()),
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
    last_stats: Mutex<u64>,
}

impl Plugin {
    /// Starts the plugin from its parsed options.
    ///
    /// # Errors
    /// See [`StartError`].
    pub fn start(opts: PluginOptions) -> Result<Plugin, StartError> {
        let interest = [true; 6];
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
                Decider::Elsewhere => "plugin answers defer; an acl_file or another plugin decides",
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
            last_stats: Mutex::new(now_ms()),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &PluginOptions {
        &self.opts
    }

    fn dispatch(&self, events: Vec<MqttEvent>) {
        for ev in &events {
            if let Some(t) = &self.trace {
                t.offer(ev);
            }
        }
    }

    /// Runs `f` on the tracker unless it is busy (a re-entrant call from inside mosquitto), then hands over
    /// what settled.
    fn with_tracker<R>(&self, f: impl FnOnce(&mut Tracker) -> R) -> Option<R> {
        let mut t = self.tracker.try_lock()?;
        let r = f(&mut t);
        let evs = t.drain();
        drop(t);
        self.dispatch(evs);
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
        let counters = self.with_tracker(|t| {
            t.on_tick(now);
            t.counters().clone()
        });
        let mut last = self.last_stats.lock();
        if now.saturating_sub(*last) >= STATS_INTERVAL.as_millis() as u64 {
            *last = now;
            if let Some(c) = counters {
                log::info!("{}", self.stats_line(&c));
            }
        }
    }

    /// Marks whether the `MESSAGE` tail callback is last in mosquitto's list.
    pub fn set_tail_ready(&self, ready: bool) {
        self.with_tracker(|t| t.set_tail_ready(ready));
    }

    /// `RELOAD`: re-reads the bridge rules from `plugin_opt_config` without losing buffered events.
    pub fn reload(&self) {
        self.set_tail_ready(false);
        log::info!("reload: message tail callback will be re-placed");
    }

    /// The tracker's counters.
    pub fn counters(&self) -> TrackerCounters {
        self.tracker.lock().counters().clone()
    }

    /// One line with every counter.
    pub fn stats_line(&self, c: &TrackerCounters) -> String {
        format!(
            "stats: emitted connected={} disconnected={} subscribed={} unsubscribed={} publish={} delivered={}; \
             logins accepted={} refused={}; checks denied={}; publishes refused={}; unverified={}; \
             reads not deliveries: reconnect={} retained_on_subscribe={} offline={}; trace dropped={}",
            c.emitted[0],
            c.emitted[1],
            c.emitted[2],
            c.emitted[3],
            c.emitted[4],
            c.emitted[5],
            c.logins_accepted,
            c.logins_refused,
            c.checks_denied,
            c.publishes_refused,
            c.unverified,
            c.reads_on_reconnect,
            c.reads_retained_on_subscribe,
            c.reads_offline,
            self.trace.as_ref().map_or(0, |t| t.dropped()),
        )
    }

    /// Unload (mosquitto shutting down): drain and stop.
    pub fn shutdown(self) {
        let c = self.counters();
        log::info!("shutdown: {}", self.stats_line(&c));
        if let Some(t) = self.trace {
            t.close();
        }
    }
}
