//! `rocketmq-bridge mqtt --config FILE`: the bridge fed by an MQTT broker instead of NDJSON
//! (issue 23). It subscribes, as one MQTT client with a persistent session, to the filters of the
//! `message.publish` rules and forwards each PUBLISH it receives as a `message.publish` event
//! (see `map.rs` for the fields, and for EMQX's client lifecycle messages).
//!
//! **Acknowledged after acceptance, in the order received.** One thread (the caller's) reads the
//! connection. Each PUBLISH, together with those already read behind it (at most `ACK_BATCH`, 256,
//! and at most what one 64 KiB read brought), is handed to [`EventSender::send_then`] at once and
//! the outcomes are awaited; the PUBACK (QoS 1) or PUBREC (QoS 2; PUBCOMP follows the broker's
//! PUBREL) of each is written only when its event was accepted: in sync mode once RocketMQ
//! confirmed every message of it (the dispatcher sends the batch's messages together), in async
//! mode once it is appended to the spool and the spool's buffer is written to its file
//! ([`EventSender::persist`]; one write per batch), so a SIGKILL after the acknowledgement loses
//! nothing. Acknowledgements go out in the order the messages came. Async mode without a spool
//! is refused: its "accepted" means "in memory", and an acknowledged message would be lost with
//! the process. A send that fails (RocketMQ down, outcome unknown, a timeout) is tried again with
//! [`EventSender::send`] (100 ms doubling to 5 s), keeping the connection alive with PINGREQ,
//! until it is accepted or the connection is lost (the broker then sends the message again on
//! the next connection); the messages of its batch received after it that were accepted are
//! then stored before it (order holds among messages whose first send succeeded). Nothing more
//! is read from the socket while a batch is in the bridge's hands, so the broker's receive
//! maximum (MQTT 5) or its in-flight window (mosquitto's `max_inflight_messages`) and TCP flow
//! control hold the rest at the broker. An event the bridge drops (too large, a template's bad
//! topic, ...) is counted and reported as in `run`, and acknowledged; one dropped because the
//! spool could not write or the buffer was full is not: it is tried again. Each failed attempt is
//! counted by the bridge as `failed` (or `outcome_unknown`) before it is tried again, so the
//! summary and `/metrics` show the attempts, and the exit code is 1 after any.
//!
//! **Sessions.** CONNECT has clean start off (MQTT 5 with the configured session expiry): the
//! broker keeps the subscriptions and the unacknowledged messages while the bridge is away, also
//! after a SIGKILL, and sends them again (DUP set, counted as redelivered) when it returns. The
//! SUBSCRIBE is sent only when the CONNACK says no session is present, so a resumed session is
//! not subscribed again and retained messages are not fetched again. Changing the rules' filters
//! therefore needs a new `mqtt.client_id` (or the old session to expire). Reconnects back off from
//! `mqtt.reconnect_min`, doubling to `mqtt.reconnect_max`, back to the minimum after a connection
//! that got as far as its subscription. A refused CONNECT (bad credentials, not authorized) or a
//! refused subscription ends the subcommand: retrying would not mend it.
//!
//! **Signals.** SIGHUP reloads the rules (the subscriptions stay); SIGINT and SIGTERM send
//! DISCONNECT (the session stays) and drain as `run` does. Signals are looked at between reads
//! (every 100 ms at most) and between send attempts; a sync send in progress finishes first.
//!
//! Files: `conn` (one connection: CONNECT, SUBSCRIBE, packets, keep-alive) → `map` (PUBLISH to
//! event) → this file (the session loop, the summary).

mod conn;
mod map;

pub use conn::SessionError;

use super::run::{handle_signals, report_all_sent, write_report};
use crate::bridge::config::{ConfigErrorKind, MqttSettings};
use crate::bridge::{
    Bridge, BridgeConfig, BridgeError, ConfigError, DropReason, EventKind, EventSender, Handover,
    ProduceMode, SendEventError, ShutdownReport,
};
use crate::mqtt::{Ack, MqttLimits, Packet, Publish, QoS, MAX_PACKET_LEN};
use crate::sys;
use conn::Conn;
use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Most acknowledgements held back for one write of the spool's buffer.
const ACK_BATCH: usize = 256;

/// Why `mqtt` could not start or had to stop.
#[derive(Debug)]
#[non_exhaustive]
pub enum MqttRunError {
    /// The config file is unusable for this subcommand.
    Config(ConfigError),
    /// The bridge could not start.
    Start(BridgeError),
    /// Signal handlers could not be installed.
    Signals(std::io::Error),
    /// The `bridge.rocket.mqtt.tls.*` files cannot be used.
    #[cfg(feature = "tls")]
    Tls(crate::remoting::TlsSetupError),
    /// Never: a build without `tls` has no TLS setup to fail.
    #[cfg(not(feature = "tls"))]
    Tls(std::convert::Infallible),
}

impl fmt::Display for MqttRunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MqttRunError::Config(e) => write!(f, "{e}"),
            MqttRunError::Start(e) => write!(f, "{e}"),
            MqttRunError::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            #[cfg(feature = "tls")]
            MqttRunError::Tls(e) => write!(
                f,
                "bridge.rocket.mqtt.tls: {}",
                crate::bridge::chain::Chain(e)
            ),
            #[cfg(not(feature = "tls"))]
            MqttRunError::Tls(never) => match *never {},
        }
    }
}

impl std::error::Error for MqttRunError {}

/// What an `mqtt` run did.
#[derive(Debug)]
#[non_exhaustive]
pub struct MqttSummary {
    /// PUBLISH packets received.
    pub received: u64,
    /// Of them, with DUP set (sent again by the broker: duplicates are possible).
    pub redelivered: u64,
    /// PUBACK and PUBREC packets sent (QoS 0 messages need none).
    pub acknowledged: u64,
    /// Send attempts that failed and were made again.
    pub send_retries: u64,
    /// Connections made (CONNACK received).
    pub connections: u64,
    /// Of them, with the session present (no SUBSCRIBE sent).
    pub resumed: u64,
    /// Connections that ended with an error, or could not be made.
    pub connection_errors: u64,
    /// Why it ended: a signal, or a permanent error.
    pub ended_by: String,
    /// True when it ended by an error a reconnect cannot mend.
    pub failed: bool,
    /// The bridge's shutdown report.
    pub report: ShutdownReport,
}

impl fmt::Display for MqttSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ended by {}: {} PUBLISH received ({} redelivered with DUP), {} acknowledged, {} send \
             retries, {} connections ({} resumed a session), {} connection errors; ",
            self.ended_by,
            self.received,
            self.redelivered,
            self.acknowledged,
            self.send_retries,
            self.connections,
            self.resumed,
            self.connection_errors
        )?;
        write_report(f, &self.report)
    }
}

/// The exit code of a finished `mqtt` run: 0 when every matched event was confirmed and it was
/// not stopped by a permanent error, 1 otherwise.
pub fn exit_code(s: &MqttSummary) -> ExitCode {
    if !s.failed && report_all_sent(&s.report) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The topic filters to subscribe: each `message.publish` rule's filter once (in rule order), the
/// EMQX lifecycle filters when asked for and a client rule exists, each as
/// `$share/<group>/<filter>` with a share group.
pub fn subscriptions(cfg: &BridgeConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in cfg.rules.for_event(EventKind::MessagePublish) {
        if let Some(f) = &r.filter {
            if !out.iter().any(|o| o == f.as_str()) {
                out.push(f.as_str().to_owned());
            }
        }
    }
    let client_rules = !cfg.rules.for_event(EventKind::ClientConnected).is_empty()
        || !cfg
            .rules
            .for_event(EventKind::ClientDisconnected)
            .is_empty();
    if cfg.mqtt.emqx_client_events && client_rules {
        out.extend(map::emqx_client_filters(&cfg.mqtt.emqx_client_topic));
    }
    if let Some(g) = &cfg.mqtt.share_group {
        out = out.into_iter().map(|f| format!("$share/{g}/{f}")).collect();
    }
    out
}

/// Checks what this subcommand needs beyond a loadable config: a spool in async mode, and at
/// least one filter to subscribe.
///
/// # Errors
/// A [`ConfigError`] naming the file and the key.
pub fn check(cfg: &BridgeConfig, file: &Path) -> Result<(), ConfigError> {
    let conflict = |key: &str, msg: &str| ConfigError {
        file: file.to_owned(),
        line: None,
        key: Some(key.to_owned()),
        kind: ConfigErrorKind::Conflict(msg.to_owned()),
    };
    if cfg.produce == ProduceMode::Async && cfg.spool.is_none() {
        return Err(conflict(
            "bridge.rocket.produce",
            "`rocketmq-bridge mqtt` acknowledges a message once it is accepted: with async it \
             needs bridge.rocket.spool.dir (without a spool an acknowledged message would only be \
             in memory); use produce = sync or set a spool",
        ));
    }
    if subscriptions(cfg).is_empty() {
        return Err(conflict(
            "bridge.rocket.hook.message.publish",
            "`rocketmq-bridge mqtt` subscribes to the filters of the message.publish rules, and \
             there are none",
        ));
    }
    Ok(())
}

/// The packet limit: the codec's default, or more when RocketMQ takes larger messages (a PUBLISH
/// the limit refuses would end every connection that receives it).
fn limits(cfg: &BridgeConfig) -> MqttLimits {
    MqttLimits {
        max_packet_len: MAX_PACKET_LEN.max(cfg.max_message_size.saturating_add(64 * 1024)),
    }
}

/// The connector of `mqtt.tls.*` (files read now), `None` when TLS is off.
#[cfg(feature = "tls")]
fn tls_connector(m: &MqttSettings) -> Result<Option<conn::Tls>, crate::remoting::TlsSetupError> {
    if !m.tls.enable {
        return Ok(None);
    }
    let opts = crate::remoting::TlsOptions {
        ca_file: m.tls.ca_file.clone(),
        cert_file: m.tls.cert_file.clone(),
        key_file: m.tls.key_file.clone(),
        server_name: m.tls.server_name.clone(),
        verify: m.tls.verify,
        ..crate::remoting::TlsOptions::default()
    };
    crate::remoting::TlsConnector::new(&opts).map(Some)
}

/// Without the `tls` feature the config loader refuses `mqtt.tls.enable`: no connector.
#[cfg(not(feature = "tls"))]
fn tls_connector(_: &MqttSettings) -> Result<Option<conn::Tls>, std::convert::Infallible> {
    Ok(None)
}

/// Runs the bridge fed by the MQTT broker of `bridge.rocket.mqtt.server` until SIGINT or SIGTERM
/// (or a permanent error), then drains and returns the summary. Connection errors are reported
/// on stderr as they happen.
///
/// # Errors
/// [`MqttRunError`] when the config, the bridge or the signal handlers cannot be set up.
pub fn run(config: &Path) -> Result<MqttSummary, MqttRunError> {
    let cfg = BridgeConfig::load(config).map_err(MqttRunError::Config)?;
    check(&cfg, config).map_err(MqttRunError::Config)?;
    sys::install_signal_flags().map_err(MqttRunError::Signals)?;
    let filters = subscriptions(&cfg);
    let lim = limits(&cfg);
    let drain = cfg.drain_timeout;
    let settings = cfg.mqtt.clone();
    let tls = tls_connector(&settings).map_err(MqttRunError::Tls)?;
    let bridge = Bridge::start(cfg).map_err(MqttRunError::Start)?;
    super::notify::notify_logged("READY=1\nSTATUS=forwarding MQTT messages");
    let mut src = Source {
        bridge: &bridge,
        sender: bridge.sender(),
        config,
        settings,
        filters,
        lim,
        released: HashSet::new(),
        stop: None,
        counts: Counts::default(),
        acks: Vec::new(),
        tls,
    };
    let (ended_by, failed) = src.run();
    let counts = src.counts;
    super::notify::notify_logged("STOPPING=1\nSTATUS=draining");
    let report = bridge.shutdown(drain);
    Ok(MqttSummary {
        received: counts.received,
        redelivered: counts.redelivered,
        acknowledged: counts.acknowledged,
        send_retries: counts.send_retries,
        connections: counts.connections,
        resumed: counts.resumed,
        connection_errors: counts.connection_errors,
        ended_by,
        failed,
        report,
    })
}

/// A drop that a later attempt need not meet: the spool could not write (a full disk), or the
/// buffer was full (`buffer.overflow = drop_new` or `drop_oldest`). Such a message was not
/// accepted, so it is not acknowledged but tried again, as a failed send is (the broker keeps it
/// meanwhile); the other drops (too large, a template's bad topic, ...) would recur and are
/// acknowledged.
fn transient(e: &SendEventError) -> bool {
    matches!(
        e,
        SendEventError::Dropped {
            reason: DropReason::SpoolError | DropReason::Overflow,
            ..
        }
    )
}

/// `e` and its causes, `": "` between them.
fn describe(e: &SessionError) -> String {
    crate::bridge::chain::Chain(e).to_string()
}

#[derive(Debug, Default)]
struct Counts {
    received: u64,
    redelivered: u64,
    acknowledged: u64,
    send_retries: u64,
    connections: u64,
    resumed: u64,
    connection_errors: u64,
}

/// How handing one event over ended.
enum Accept {
    /// Accepted (or dropped by the bridge, counted): acknowledge it.
    Done,
    /// A stop signal came, or the bridge closed: do not acknowledge.
    Stopped,
}

struct Source<'a> {
    bridge: &'a Bridge,
    sender: EventSender,
    config: &'a Path,
    settings: MqttSettings,
    filters: Vec<String>,
    lim: MqttLimits,
    /// QoS 2 packet ids answered with PUBREC and not yet released: a PUBLISH sent again with one
    /// of them is answered without a second event. Session state: cleared when a CONNACK says
    /// the broker has no session.
    released: HashSet<u16>,
    stop: Option<String>,
    counts: Counts,
    /// Acknowledgements of accepted messages not sent yet, in the order received.
    acks: Vec<Packet>,
    /// `mqtt.tls.*`, built when the subcommand starts.
    tls: Option<conn::Tls>,
}

impl Source<'_> {
    /// Sessions until a stop signal or a permanent error: (why it ended, whether it failed).
    fn run(&mut self) -> (String, bool) {
        let mut backoff = self.settings.reconnect_min;
        loop {
            if self.poll_signals() {
                return (self.stop.clone().unwrap_or_default(), false);
            }
            let mut subscribed = false;
            match self.session(&mut subscribed) {
                Ok(()) => return (self.stop.clone().unwrap_or_default(), false),
                Err(SessionError::Stopped) if self.poll_signals() => {
                    return (self.stop.clone().unwrap_or_default(), false)
                }
                Err(e) => {
                    self.counts.connection_errors += 1;
                    let e = (describe(&e), e.is_permanent());
                    if e.1 {
                        eprintln!("rocketmq-bridge: mqtt: {}: giving up", e.0);
                        return (e.0, true);
                    }
                    if subscribed {
                        backoff = self.settings.reconnect_min;
                    }
                    eprintln!(
                        "rocketmq-bridge: mqtt: {}; reconnecting in {backoff:?}",
                        e.0
                    );
                }
            }
            let until = Instant::now() + backoff;
            while Instant::now() < until {
                if self.poll_signals() {
                    return (self.stop.clone().unwrap_or_default(), false);
                }
                std::thread::sleep(conn::POLL.min(until.saturating_duration_since(Instant::now())));
            }
            backoff = (backoff * 2).min(self.settings.reconnect_max);
        }
    }

    /// True when a stop signal came (SIGHUP reloads on the way).
    fn poll_signals(&mut self) -> bool {
        if self.stop.is_none() {
            self.stop = handle_signals(self.bridge, self.config);
        }
        self.stop.is_some()
    }

    /// One connection: `Ok` when a stop signal ended it.
    fn session(&mut self, subscribed: &mut bool) -> Result<(), SessionError> {
        let mut c = Conn::open(&self.settings, self.lim, self.tls.as_ref())?;
        self.counts.connections += 1;
        if c.session_present {
            self.counts.resumed += 1;
            log::debug!("mqtt: session present, not subscribing again");
        } else {
            // The QoS 2 ids answered in a session the broker no longer has are not its ids: one
            // reused with DUP (its first copy lost with a connection) is a new message.
            self.released.clear();
            c.subscribe(&self.settings, &self.filters)?;
        }
        *subscribed = true;
        self.acks.clear();
        loop {
            // Acknowledge what was accepted once no whole packet is waiting (or a batch is full):
            // with a spool, one write of the spool's buffer covers them all.
            if !self.acks.is_empty() && (!c.packet_ready() || self.acks.len() >= ACK_BATCH) {
                self.flush_acks(&mut c)?;
            }
            if self.poll_signals() {
                self.flush_acks(&mut c)?;
                c.close();
                return Ok(());
            }
            match c.next()? {
                None => {}
                Some(Packet::Publish(p)) => {
                    if let Accept::Stopped = self.on_publishes(&mut c, p)? {
                        self.flush_acks(&mut c)?;
                        c.close();
                        return Ok(());
                    }
                }
                Some(Packet::PubRel(r)) => {
                    self.released.remove(&r.packet_id);
                    c.send(&Packet::PubComp(Ack::new(r.packet_id)))?;
                }
                Some(p) => {
                    return Err(SessionError::Unexpected {
                        packet: p.name(),
                        during: "receiving messages",
                    })
                }
            }
        }
    }

    /// Hands over `first` and the PUBLISH packets already read behind it (at most [`ACK_BATCH`])
    /// at once, waits for every outcome (sync mode: RocketMQ's answers; with a spool each is
    /// known at once), tries each failed one again in turn, and queues the acknowledgements in
    /// the order received.
    fn on_publishes(&mut self, c: &mut Conn, first: Publish) -> Result<Accept, SessionError> {
        let mut batch = vec![first];
        while batch.len() < ACK_BATCH {
            match c.try_next()? {
                Some(Packet::Publish(p)) => batch.push(p),
                Some(other) => {
                    c.put_back(other);
                    break;
                }
                None => break,
            }
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut results: Vec<Option<Result<(), SendEventError>>> = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        let mut pending = 0usize;
        for (i, p) in batch.iter().enumerate() {
            self.counts.received += 1;
            if p.dup {
                self.counts.redelivered += 1;
            }
            if p.topic.is_empty() {
                // A topic alias: the bridge allows none (its CONNECT has no Topic Alias Maximum).
                return Err(SessionError::Unexpected {
                    packet: "PUBLISH with a topic alias",
                    during: "receiving messages",
                });
            }
            log::trace!(
                "mqtt: PUBLISH topic={} qos={} dup={} id={:?} payload={} bytes",
                p.topic,
                p.qos.level(),
                p.dup,
                p.packet_id,
                p.payload.len()
            );
            let id = p.packet_id.unwrap_or(0);
            if p.qos == QoS::ExactlyOnce && p.dup && self.released.contains(&id) {
                // Accepted before; the broker did not see our PUBREC. (Without DUP it is taken
                // as a new message: a broker that reuses the id early gets a duplicate, not a
                // loss.)
                results.push(Some(Ok(())));
                events.push(None);
                continue;
            }
            let lifecycle = self.settings.emqx_client_events;
            let ev = map::event_of(p, lifecycle.then_some(&*self.settings.emqx_client_topic));
            let tx = tx.clone();
            match self.sender.send_then(ev.clone(), move |r| {
                let _ = tx.send((i, r));
            }) {
                Handover::Done(r) => results.push(Some(r)),
                Handover::Pending => {
                    results.push(None);
                    pending += 1;
                }
            }
            events.push(Some(ev));
        }
        drop(tx);
        while pending > 0 {
            match rx.recv_timeout(conn::POLL) {
                Ok((i, r)) => {
                    results[i] = Some(r);
                    pending -= 1;
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if self.poll_signals() {
                        break;
                    }
                    c.idle(Instant::now() + Duration::from_millis(1))?;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
        for (i, p) in batch.iter().enumerate() {
            let ok = match results[i].take() {
                Some(Ok(())) => true,
                Some(Err(e @ SendEventError::Dropped { .. })) if !transient(&e) => {
                    // Counted and reported by the bridge (loss ledger); sending it again would
                    // meet the same reason.
                    log::warn!("mqtt: event dropped by the bridge: {e}");
                    true
                }
                // Not accepted, and not to be acknowledged: the broker sends it again.
                None | Some(Err(SendEventError::Closed)) => false,
                Some(Err(e)) => {
                    self.counts.send_retries += 1;
                    log::warn!("mqtt: send failed, trying again: {e}");
                    // What was accepted before it need not wait for it.
                    self.flush_acks(c)?;
                    match events[i].take() {
                        Some(ev) => matches!(self.accept(c, ev)?, Accept::Done),
                        None => true,
                    }
                }
            };
            if !ok {
                return Ok(Accept::Stopped);
            }
            let id = p.packet_id.unwrap_or(0);
            match p.qos {
                QoS::AtMostOnce => {}
                QoS::AtLeastOnce => self.acks.push(Packet::PubAck(Ack::new(id))),
                QoS::ExactlyOnce => self.acks.push(Packet::PubRec(Ack::new(id))),
            }
        }
        Ok(Accept::Done)
    }

    /// Makes the accepted events survive a process kill (with a spool: writes its buffer), then
    /// sends their acknowledgements in the order the messages came.
    fn flush_acks(&mut self, c: &mut Conn) -> Result<(), SessionError> {
        if self.acks.is_empty() {
            return Ok(());
        }
        self.sender.persist().map_err(SessionError::Spool)?;
        for a in self.acks.drain(..) {
            c.send(&a)?;
            if let Packet::PubRec(r) = &a {
                self.released.insert(r.packet_id);
            }
            self.counts.acknowledged += 1;
        }
        Ok(())
    }

    /// Hands `ev` to the bridge until it is accepted; between attempts it backs off (100 ms
    /// doubling to 5 s) and keeps the connection alive.
    fn accept(&mut self, c: &mut Conn, ev: crate::bridge::Event) -> Result<Accept, SessionError> {
        let mut wait = Duration::from_millis(100);
        loop {
            match self.sender.send(ev.clone()) {
                Ok(()) => return Ok(Accept::Done),
                Err(SendEventError::Closed) => return Ok(Accept::Stopped),
                Err(e @ SendEventError::Dropped { .. }) if !transient(&e) => {
                    // Counted and reported by the bridge (loss ledger); sending it again would
                    // meet the same reason.
                    log::warn!("mqtt: event dropped by the bridge: {e}");
                    return Ok(Accept::Done);
                }
                Err(e) => {
                    self.counts.send_retries += 1;
                    log::warn!("mqtt: send failed, trying again in {wait:?}: {e}");
                    // What was accepted before it need not wait for it.
                    self.flush_acks(c)?;
                }
            }
            let until = Instant::now() + wait;
            while Instant::now() < until {
                if self.poll_signals() {
                    return Ok(Accept::Stopped);
                }
                c.idle(until)?;
            }
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }
}
