//! Turns what mosquitto 2.0.11 reports into *true* events, and answers its access checks.
//!
//! Everything here runs on mosquitto's single thread and never touches C memory: the FFI layer reads the
//! callback data into plain Rust values first. A client is identified by the address of its
//! `struct mosquitto` ([`ClientRef`]), used as an opaque key only.
//!
//! # How outcomes are learned
//! 2.0.11 calls the plugin *before* it decides (a login, a subscription, a read check), so a callback alone
//! is not an event. The tracker holds each observation as a *pending* candidate and settles it on the next
//! callback it receives, which is always after mosquitto finished the synchronous operation that produced it:
//!
//! * **Logins.** A refused login (wrong password, no anonymous access) has its client id cleared and the client
//!   disconnected within the same CONNECT handling (2.0.11 `handle_connect.c`), so the next callback after
//!   `BASIC_AUTH` is then a `DISCONNECT` with a NULL client id. Any other next callback (including the end of the
//!   loop iteration, `TICK`) proves acceptance: `client.connected` is emitted then, stamped with the login time.
//! * **ACL checks.** With `plugin_opt_acl open_broker` the plugin answers success itself, so the outcome is
//!   known. With `decided_elsewhere` the FFI layer asks mosquitto for the decision of everything else
//!   (see [`crate::ffi`]) and passes it in as an [`Outcome`]; when that is not possible the outcome is
//!   [`Outcome::Unknown`] and no event is emitted for the check.
//! * **Messages.** The plugin registers two `MESSAGE` callbacks: the *head* (at load) records the message; the
//!   *tail* (moved to the end of the list after load and after every reload) is reached only if every message
//!   callback accepted it (mosquitto stops at the first refusal).
//!
//! Read checks are deliveries only for live fan-out to a connected client; the re-checks of queued messages
//! when a session reconnects, retained messages sent on subscribe and messages queued for offline sessions
//! are not reported (see the README's event table).

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use rocketmq_bridge::bridge::{Event, EventKind};

use crate::options::Decider;

/// Number of event kinds ([`EventKind::ALL`]); per-kind tables are indexed by [`EventKind::index`].
pub const KINDS: usize = EventKind::ALL.len();

/// Which event kinds any rule wants, by [`EventKind::index`]. `message.acked` is never emitted (2.0.11 has
/// no source for it).
pub type Interest = [bool; KINDS];

/// Identity of a mosquitto client context: the address of its `struct mosquitto`. Never dereferenced.
pub type ClientRef = usize;

/// Client facts read through mosquitto's accessors at callback time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// `mosquitto_client_id`; NULL after a refused login.
    pub id: Option<String>,
    /// `mosquitto_client_username`.
    pub username: Option<String>,
    /// `mosquitto_client_clean_session` (clean session / clean start of the current connection).
    pub clean: bool,
}

/// The `access` of an `ACL_CHECK` (`MOSQ_ACL_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `MOSQ_ACL_READ` (1): a message is about to be queued to the client.
    Read,
    /// `MOSQ_ACL_WRITE` (2): the client published.
    Write,
    /// `MOSQ_ACL_SUBSCRIBE` (4).
    Subscribe,
    /// `MOSQ_ACL_UNSUBSCRIBE` (8).
    Unsubscribe,
    /// Anything else (not sent by 2.0.11).
    Other(i32),
}

impl Access {
    /// From the C `access` value.
    pub fn from_raw(v: i32) -> Access {
        match v {
            1 => Access::Read,
            2 => Access::Write,
            4 => Access::Subscribe,
            8 => Access::Unsubscribe,
            o => Access::Other(o),
        }
    }
}

/// One `ACL_CHECK` callback, copied out of C memory except the payload, which is borrowed.
#[derive(Debug, Clone)]
pub struct AclCheck<'a> {
    /// The client the check is about (the receiver, for reads).
    pub client: ClientRef,
    /// Its id and username.
    pub info: ClientInfo,
    /// The kind of access.
    pub access: Access,
    /// Topic or topic filter.
    pub topic: String,
    /// Message payload (empty for subscribe checks).
    pub payload: &'a [u8],
    /// Address of the payload buffer, used to correlate a read with the publish that caused it.
    pub payload_addr: usize,
    /// Message QoS, or the requested subscription QoS.
    pub qos: u8,
    /// Message retain flag.
    pub retain: bool,
}

/// One `MESSAGE` callback.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// The publishing client.
    pub client: ClientRef,
    /// Its id and username.
    pub info: ClientInfo,
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: &'a [u8],
    /// Address of the payload buffer (the stored message's, also seen by the read checks that follow).
    pub payload_addr: usize,
    /// QoS.
    pub qos: u8,
    /// Retain flag.
    pub retain: bool,
}

/// What mosquitto decided for an ACL check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The check was allowed.
    Allowed,
    /// The check was denied.
    Denied,
    /// The decision could not be learned (no event is emitted).
    Unknown,
}

/// The plugin's answer to an access check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `MOSQ_ERR_SUCCESS`.
    Success,
    /// `MOSQ_ERR_PLUGIN_DEFER`.
    Defer,
}

/// What the tracker counted (monotonic).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackerCounters {
    /// Events emitted, by [`EventKind::index`].
    pub emitted: [u64; KINDS],
    /// Logins mosquitto accepted.
    pub logins_accepted: u64,
    /// Logins mosquitto refused (no event).
    pub logins_refused: u64,
    /// ACL checks mosquitto denied (no event).
    pub checks_denied: u64,
    /// Publishes a later message callback refused (no event).
    pub publishes_refused: u64,
    /// Candidates dropped because their outcome could not be verified (before the tail callbacks were placed).
    pub unverified: u64,
    /// Read checks that re-check queued messages when a session reconnects (not deliveries).
    pub reads_on_reconnect: u64,
    /// Read checks for retained messages sent on subscribe (not reported).
    pub reads_retained_on_subscribe: u64,
    /// Read checks for clients not connected (messages queued for offline sessions; not reported).
    pub reads_offline: u64,
    /// Disconnects of contexts that never logged in through the plugin's view.
    pub disconnects_unknown: u64,
    /// Allowed unsubscribes of a filter the plugin never saw subscribed (no event: mosquitto 2.0.11 does not
    /// tell plugins whether a subscription existed).
    pub unsubscribes_unknown: u64,
}

#[derive(Debug)]
enum Op {
    None,
    Connecting(ClientRef),
    Subscribing(ClientRef),
    Publishing {
        from: Option<String>,
        topic: String,
        payload_addr: usize,
        payload: Bytes,
    },
}

#[derive(Debug)]
struct PendingLogin {
    client: ClientRef,
    info: ClientInfo,
    ts: u64,
}

#[derive(Debug)]
struct PendingMessage {
    event: Option<Event>,
    from: Option<String>,
    topic: String,
    payload_addr: usize,
    payload: Bytes,
    verified: bool,
}

#[derive(Debug)]
struct Online {
    id: Option<String>,
    username: Option<String>,
    clean: bool,
}

/// The state machine. See the module docs.
#[derive(Debug)]
pub struct Tracker {
    logins: Decider,
    interest: Interest,
    tail_ready: bool,
    clients: HashMap<ClientRef, Online>,
    /// Filters subscribed per client id, as seen by the plugin (kept across disconnects of persistent
    /// sessions, cleared by a clean session).
    subscriptions: HashMap<String, HashSet<String>>,
    pending_login: Option<PendingLogin>,
    pending_message: Option<PendingMessage>,
    op: Op,
    out: Vec<Event>,
    counters: TrackerCounters,
}

impl Tracker {
    /// A tracker answering logins per `logins`; `interest[k]` says whether any rule wants events of kind `k`
    /// (others are tracked but not built, saving payload copies).
    pub fn new(logins: Decider, interest: Interest) -> Tracker {
        Tracker {
            logins,
            interest,
            tail_ready: false,
            clients: HashMap::new(),
            subscriptions: HashMap::new(),
            pending_login: None,
            pending_message: None,
            op: Op::None,
            out: Vec::new(),
            counters: TrackerCounters::default(),
        }
    }

    /// Replaces the interest set (after a reload of the rules).
    pub fn set_interest(&mut self, interest: Interest) {
        self.interest = interest;
    }

    /// Records whether the `MESSAGE` tail callback is currently last in mosquitto's list. Until it is, the
    /// outcome of a message is unknown and its event is dropped (counted as `unverified`).
    pub fn set_tail_ready(&mut self, ready: bool) {
        self.tail_ready = ready;
    }

    /// Whether the tail callbacks are known to be last.
    pub fn tail_ready(&self) -> bool {
        self.tail_ready
    }

    /// Counters so far.
    pub fn counters(&self) -> &TrackerCounters {
        &self.counters
    }

    /// Number of clients currently tracked as connected.
    pub fn online(&self) -> usize {
        self.clients.len()
    }

    /// Takes the events settled so far, oldest first.
    pub fn drain(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.out)
    }

    /// The answer to an ACL check when mosquitto's decision cannot be learned, from the options alone.
    pub fn static_acl_answer(acl: Decider) -> Answer {
        match acl {
            Decider::OpenBroker => Answer::Success,
            Decider::Elsewhere => Answer::Defer,
        }
    }

    /// The answer to any login check, from the options alone.
    pub fn static_login_answer(logins: Decider) -> Answer {
        match logins {
            Decider::OpenBroker => Answer::Success,
            Decider::Elsewhere => Answer::Defer,
        }
    }

    /// `MOSQ_EVT_BASIC_AUTH` (head). Answers per `plugin_opt_logins`; never a denial, never a grant where
    /// something else decides.
    pub fn on_basic_auth(&mut self, client: ClientRef, info: ClientInfo, now: u64) -> Answer {
        self.settle();
        self.pending_login = Some(PendingLogin {
            client,
            info,
            ts: now,
        });
        self.op = Op::Connecting(client);
        Self::static_login_answer(self.logins)
    }

    /// `MOSQ_EVT_ACL_CHECK`, with mosquitto's decision.
    pub fn on_acl_check(&mut self, check: &AclCheck<'_>, outcome: Outcome, now: u64) {
        self.settle();
        let candidate = match check.access {
            Access::Subscribe => {
                self.op = Op::Subscribing(check.client);
                if outcome == Outcome::Allowed {
                    if let Some(id) = &check.info.id {
                        self.subscriptions
                            .entry(id.clone())
                            .or_default()
                            .insert(check.topic.clone());
                    }
                }
                self.interest[EventKind::SessionSubscribed.index()].then(|| {
                    let mut e = Event::new(EventKind::SessionSubscribed).with_ts(now);
                    e.client_id = check.info.id.clone();
                    e.username = check.info.username.clone();
                    e.topic = Some(check.topic.clone());
                    e.qos = Some(check.qos);
                    e
                })
            }
            Access::Unsubscribe => {
                self.op = Op::None;
                let known = outcome == Outcome::Allowed && self.forget_subscription(check);
                if outcome == Outcome::Allowed && !known {
                    self.counters.unsubscribes_unknown += 1;
                }
                (known && self.interest[EventKind::SessionUnsubscribed.index()]).then(|| {
                    let mut e = Event::new(EventKind::SessionUnsubscribed).with_ts(now);
                    e.client_id = check.info.id.clone();
                    e.username = check.info.username.clone();
                    e.topic = Some(check.topic.clone());
                    // 2.0.11 always passes qos 0 for unsubscribe checks: not a real value, left null.
                    e
                })
            }
            Access::Read if outcome != Outcome::Denied => self.read_candidate(check, now),
            Access::Read | Access::Write | Access::Other(_) => None,
        };
        match outcome {
            Outcome::Denied => self.counters.checks_denied += 1,
            Outcome::Unknown => {
                if candidate.is_some() {
                    self.counters.unverified += 1;
                }
            }
            Outcome::Allowed => {
                if let Some(e) = candidate {
                    self.emit(e);
                }
            }
        }
    }

    fn forget_subscription(&mut self, check: &AclCheck<'_>) -> bool {
        let Some(id) = &check.info.id else {
            return false;
        };
        let Some(set) = self.subscriptions.get_mut(id) else {
            return false;
        };
        let removed = set.remove(&check.topic);
        if set.is_empty() {
            self.subscriptions.remove(id);
        }
        removed
    }

    fn read_candidate(&mut self, check: &AclCheck<'_>, now: u64) -> Option<Event> {
        match &self.op {
            Op::Connecting(c) if *c == check.client => {
                self.counters.reads_on_reconnect += 1;
                return None;
            }
            Op::Subscribing(c) if *c == check.client && check.retain => {
                self.counters.reads_retained_on_subscribe += 1;
                return None;
            }
            _ => {}
        }
        if !self.clients.contains_key(&check.client) {
            self.counters.reads_offline += 1;
            return None;
        }
        if !self.interest[EventKind::MessageDelivered.index()] {
            return None;
        }
        let mut e = Event::new(EventKind::MessageDelivered).with_ts(now);
        e.client_id = check.info.id.clone();
        e.username = check.info.username.clone();
        e.topic = Some(check.topic.clone());
        e.qos = Some(check.qos);
        e.retain = Some(check.retain);
        match &self.op {
            Op::Publishing {
                from,
                topic,
                payload_addr,
                payload,
            } if *payload_addr == check.payload_addr
                && payload.len() == check.payload.len()
                && *topic == check.topic =>
            {
                e.from = from.clone();
                e.payload = Some(payload.clone());
            }
            _ => e.payload = Some(Bytes::copy_from_slice(check.payload)),
        }
        Some(e)
    }

    /// `MOSQ_EVT_MESSAGE` (head). Always lets the message through.
    pub fn on_message(&mut self, msg: &Message<'_>, now: u64) {
        self.settle();
        self.op = Op::None;
        let want_publish = self.interest[EventKind::MessagePublish.index()];
        let payload = if want_publish || self.interest[EventKind::MessageDelivered.index()] {
            Bytes::copy_from_slice(msg.payload)
        } else {
            Bytes::new()
        };
        let event = want_publish.then(|| {
            let mut e = Event::new(EventKind::MessagePublish).with_ts(now);
            e.client_id = msg.info.id.clone();
            e.username = msg.info.username.clone();
            e.topic = Some(msg.topic.clone());
            e.payload = Some(payload.clone());
            e.qos = Some(msg.qos);
            e.retain = Some(msg.retain);
            e
        });
        self.pending_message = Some(PendingMessage {
            event,
            from: msg.info.id.clone(),
            topic: msg.topic.clone(),
            payload_addr: msg.payload_addr,
            payload,
            verified: self.tail_ready,
        });
    }

    /// `MOSQ_EVT_MESSAGE` (tail): every message callback accepted the pending message.
    pub fn on_message_tail(&mut self) {
        if let Some(p) = self.pending_message.take() {
            if !p.verified {
                self.counters.unverified += 1;
                return;
            }
            if let Some(e) = p.event {
                self.emit(e);
            }
            self.op = Op::Publishing {
                from: p.from,
                topic: p.topic,
                payload_addr: p.payload_addr,
                payload: p.payload,
            };
        }
    }

    /// `MOSQ_EVT_DISCONNECT`.
    pub fn on_disconnect(&mut self, client: ClientRef, info: ClientInfo, now: u64) {
        self.settle_message();
        // The client whose login is pending: a NULL id means mosquitto refused the login.
        if let Some(p) = self.pending_login.as_ref() {
            if p.client == client {
                let p = self.pending_login.take().expect("checked above");
                if info.id.is_none() {
                    self.counters.logins_refused += 1;
                } else {
                    self.accept_login(p);
                    self.disconnected(client, now);
                }
                self.op = Op::None;
                return;
            }
        }
        // Another client: an old connection taken over by the pending login comes first.
        let taken_over = matches!(self.op, Op::Connecting(_));
        if self.clients.contains_key(&client) {
            self.disconnected(client, now);
        } else {
            self.counters.disconnects_unknown += 1;
        }
        if let Some(p) = self.pending_login.take() {
            self.accept_login(p);
        }
        if !taken_over {
            self.op = Op::None;
        }
    }

    /// `MOSQ_EVT_TICK`: the end of one main-loop iteration; everything pending is settled.
    pub fn on_tick(&mut self) {
        self.settle();
        self.op = Op::None;
    }

    /// Settles whatever is pending because a new, unrelated callback arrived.
    fn settle(&mut self) {
        self.settle_message();
        if let Some(p) = self.pending_login.take() {
            self.accept_login(p);
        }
    }

    fn settle_message(&mut self) {
        if let Some(p) = self.pending_message.take() {
            if p.verified {
                self.counters.publishes_refused += 1;
            } else {
                self.counters.unverified += 1;
            }
        }
    }

    fn accept_login(&mut self, p: PendingLogin) {
        self.counters.logins_accepted += 1;
        if p.info.clean {
            if let Some(id) = &p.info.id {
                self.subscriptions.remove(id);
            }
        }
        if self.interest[EventKind::ClientConnected.index()] {
            let mut e = Event::new(EventKind::ClientConnected).with_ts(p.ts);
            e.client_id = p.info.id.clone();
            e.username = p.info.username.clone();
            self.emit(e);
        }
        self.clients.insert(
            p.client,
            Online {
                id: p.info.id,
                username: p.info.username,
                clean: p.info.clean,
            },
        );
    }

    fn disconnected(&mut self, client: ClientRef, now: u64) {
        if let Some(o) = self.clients.remove(&client) {
            if o.clean {
                if let Some(id) = &o.id {
                    self.subscriptions.remove(id);
                }
            }
            if self.interest[EventKind::ClientDisconnected.index()] {
                let mut e = Event::new(EventKind::ClientDisconnected).with_ts(now);
                e.client_id = o.id;
                e.username = o.username;
                self.emit(e);
            }
        }
    }

    fn emit(&mut self, e: Event) {
        self.counters.emitted[e.kind.index()] += 1;
        self.out.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Interest = [true; KINDS];

    fn info(id: &str, user: Option<&str>) -> ClientInfo {
        ClientInfo {
            id: Some(id.into()),
            username: user.map(Into::into),
            clean: true,
        }
    }

    fn check<'a>(
        client: ClientRef,
        id: &str,
        access: Access,
        topic: &str,
        payload: &'a [u8],
        qos: u8,
        retain: bool,
    ) -> AclCheck<'a> {
        AclCheck {
            client,
            info: info(id, None),
            access,
            topic: topic.into(),
            payload,
            payload_addr: payload.as_ptr() as usize,
            qos,
            retain,
        }
    }

    fn kinds(t: &mut Tracker) -> Vec<EventKind> {
        t.drain().into_iter().map(|e| e.kind).collect()
    }

    fn ready(logins: Decider) -> Tracker {
        let mut t = Tracker::new(logins, ALL);
        t.set_tail_ready(true);
        t
    }

    #[test]
    fn refused_login_emits_nothing() {
        let mut t = ready(Decider::Elsewhere);
        assert_eq!(t.on_basic_auth(1, info("c", Some("u")), 10), Answer::Defer);
        t.on_disconnect(1, ClientInfo::default(), 11);
        t.on_tick();
        assert!(t.drain().is_empty());
        assert_eq!(t.counters().logins_refused, 1);
        assert_eq!(t.online(), 0);
    }

    #[test]
    fn accepted_login_is_emitted_on_next_callback_with_login_time() {
        let mut t = ready(Decider::OpenBroker);
        assert_eq!(
            t.on_basic_auth(1, info("c", Some("u")), 10),
            Answer::Success
        );
        assert!(t.drain().is_empty(), "not yet known");
        t.on_tick();
        let ev = t.drain();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, EventKind::ClientConnected);
        assert_eq!(ev[0].client_id.as_deref(), Some("c"));
        assert_eq!(ev[0].username.as_deref(), Some("u"));
        assert_eq!(ev[0].ts, Some(10));
        t.on_disconnect(1, info("c", Some("u")), 600);
        let ev = t.drain();
        assert_eq!(ev[0].kind, EventKind::ClientDisconnected);
        assert_eq!(ev[0].username.as_deref(), Some("u"));
    }

    #[test]
    fn connect_then_immediate_disconnect_is_both_events() {
        let mut t = ready(Decider::Elsewhere);
        t.on_basic_auth(1, info("c", None), 10);
        t.on_disconnect(1, info("c", None), 11);
        assert_eq!(
            kinds(&mut t),
            [EventKind::ClientConnected, EventKind::ClientDisconnected]
        );
    }

    #[test]
    fn takeover_reports_old_disconnect_before_new_connect() {
        let mut t = ready(Decider::Elsewhere);
        t.on_basic_auth(1, info("same", None), 1);
        t.on_tick();
        assert_eq!(kinds(&mut t), [EventKind::ClientConnected]);
        t.on_basic_auth(2, info("same", None), 3);
        t.on_disconnect(1, info("same", None), 3);
        // re-check of the queued messages of the taken-over session: not a delivery
        let c = check(2, "same", Access::Read, "t", b"x", 1, false);
        t.on_acl_check(&c, Outcome::Allowed, 3);
        t.on_tick();
        assert_eq!(
            kinds(&mut t),
            [EventKind::ClientDisconnected, EventKind::ClientConnected]
        );
        assert_eq!(t.counters().reads_on_reconnect, 1);
    }

    #[test]
    fn denied_subscription_is_not_an_event_allowed_one_is() {
        let mut t = ready(Decider::Elsewhere);
        t.on_basic_auth(1, info("c", None), 1);
        let denied = check(1, "c", Access::Subscribe, "secret/#", b"", 1, false);
        t.on_acl_check(&denied, Outcome::Denied, 2);
        let allowed = check(1, "c", Access::Subscribe, "pub/#", b"", 2, false);
        t.on_acl_check(&allowed, Outcome::Allowed, 3);
        t.on_tick();
        let ev = t.drain();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].kind, EventKind::ClientConnected);
        assert_eq!(ev[1].kind, EventKind::SessionSubscribed);
        assert_eq!(ev[1].topic.as_deref(), Some("pub/#"));
        assert_eq!(ev[1].qos, Some(2));
        assert_eq!(t.counters().checks_denied, 1);
    }

    #[test]
    fn unsubscribe_has_null_qos_and_needs_a_known_subscription() {
        let mut t = ready(Decider::Elsewhere);
        t.on_basic_auth(1, info("c", None), 1);
        let never = check(1, "c", Access::Unsubscribe, "never/#", b"", 0, false);
        t.on_acl_check(&never, Outcome::Allowed, 2);
        let s = check(1, "c", Access::Subscribe, "a/+", b"", 1, false);
        t.on_acl_check(&s, Outcome::Allowed, 2);
        let u = check(1, "c", Access::Unsubscribe, "a/+", b"", 0, false);
        t.on_acl_check(&u, Outcome::Allowed, 2);
        t.on_acl_check(&u, Outcome::Allowed, 2);
        let ev = t.drain();
        assert_eq!(ev.len(), 3, "{ev:?}");
        assert_eq!(ev[2].kind, EventKind::SessionUnsubscribed);
        assert_eq!(ev[2].qos, None);
        assert_eq!(ev[2].topic.as_deref(), Some("a/+"));
        assert_eq!(t.counters().unsubscribes_unknown, 2);
    }

    #[test]
    fn persistent_sessions_keep_subscriptions_clean_ones_do_not() {
        let mut t = ready(Decider::Elsewhere);
        let mut persistent = info("p", None);
        persistent.clean = false;
        t.on_basic_auth(1, persistent.clone(), 1);
        let s = check(1, "p", Access::Subscribe, "x", b"", 1, false);
        t.on_acl_check(&s, Outcome::Allowed, 2);
        t.on_disconnect(1, persistent.clone(), 3);
        t.on_basic_auth(2, persistent, 4);
        let u = check(2, "p", Access::Unsubscribe, "x", b"", 0, false);
        t.on_acl_check(&u, Outcome::Allowed, 5);
        assert_eq!(
            t.drain()
                .iter()
                .filter(|e| e.kind == EventKind::SessionUnsubscribed)
                .count(),
            1
        );
        // clean session: the subscription ends with the connection
        t.on_basic_auth(3, info("c", None), 6);
        let s = check(3, "c", Access::Subscribe, "y", b"", 1, false);
        t.on_acl_check(&s, Outcome::Allowed, 7);
        t.on_disconnect(3, info("c", None), 8);
        t.on_basic_auth(4, info("c", None), 9);
        let u = check(4, "c", Access::Unsubscribe, "y", b"", 0, false);
        t.on_acl_check(&u, Outcome::Allowed, 10);
        assert_eq!(
            t.drain()
                .iter()
                .filter(|e| e.kind == EventKind::SessionUnsubscribed)
                .count(),
            0
        );
    }

    #[test]
    fn publish_needs_the_tail_and_delivery_gets_from() {
        let mut t = ready(Decider::Elsewhere);
        t.on_basic_auth(1, info("pub", Some("alice")), 1);
        t.on_basic_auth(2, info("sub", None), 1);
        t.on_tick();
        t.drain();
        let payload = b"hello".to_vec();
        let w = check(1, "pub", Access::Write, "a/b", &payload, 1, false);
        t.on_acl_check(&w, Outcome::Allowed, 3);
        let m = Message {
            client: 1,
            info: info("pub", Some("alice")),
            topic: "a/b".into(),
            payload: &payload,
            payload_addr: payload.as_ptr() as usize,
            qos: 1,
            retain: false,
        };
        t.on_message(&m, 3);
        t.on_message_tail();
        let r = check(2, "sub", Access::Read, "a/b", &payload, 1, false);
        t.on_acl_check(&r, Outcome::Allowed, 3);
        t.on_tick();
        let ev = t.drain();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].kind, EventKind::MessagePublish);
        assert_eq!(ev[0].username.as_deref(), Some("alice"));
        assert_eq!(ev[0].payload.as_deref(), Some(&b"hello"[..]));
        assert_eq!(ev[1].kind, EventKind::MessageDelivered);
        assert_eq!(ev[1].client_id.as_deref(), Some("sub"));
        assert_eq!(ev[1].from.as_deref(), Some("pub"));
        assert_eq!(ev[1].payload.as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn message_refused_by_a_later_plugin_is_not_published() {
        let mut t = ready(Decider::Elsewhere);
        t.on_basic_auth(1, info("pub", None), 1);
        let m = Message {
            client: 1,
            info: info("pub", None),
            topic: "a".into(),
            payload: b"",
            payload_addr: 0,
            qos: 0,
            retain: false,
        };
        t.on_message(&m, 2);
        t.on_tick();
        assert_eq!(kinds(&mut t), [EventKind::ClientConnected]);
        assert_eq!(t.counters().publishes_refused, 1);
    }

    #[test]
    fn denied_read_and_unrelated_reads_have_no_from() {
        let mut t = ready(Decider::Elsewhere);
        t.on_basic_auth(2, info("sub", None), 1);
        t.on_tick();
        t.drain();
        let r = check(2, "sub", Access::Read, "x", b"1", 0, false);
        t.on_acl_check(&r, Outcome::Denied, 3);
        let r2 = check(2, "sub", Access::Read, "y", b"2", 0, false);
        t.on_acl_check(&r2, Outcome::Allowed, 3);
        t.on_tick();
        let ev = t.drain();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].topic.as_deref(), Some("y"));
        assert_eq!(ev[0].from, None);
    }

    #[test]
    fn retained_on_subscribe_and_offline_reads_are_not_deliveries() {
        let mut t = ready(Decider::Elsewhere);
        t.on_basic_auth(2, info("sub", None), 1);
        let s = check(2, "sub", Access::Subscribe, "r/#", b"", 1, false);
        t.on_acl_check(&s, Outcome::Allowed, 2);
        let r = check(2, "sub", Access::Read, "r/1", b"kept", 1, true);
        t.on_acl_check(&r, Outcome::Allowed, 2);
        // a client the plugin never saw connect (offline persistent session)
        let o = check(9, "gone", Access::Read, "r/1", b"kept", 1, false);
        t.on_acl_check(&o, Outcome::Allowed, 2);
        assert_eq!(
            kinds(&mut t),
            [EventKind::ClientConnected, EventKind::SessionSubscribed]
        );
        assert_eq!(t.counters().reads_retained_on_subscribe, 1);
        assert_eq!(t.counters().reads_offline, 1);
    }

    #[test]
    fn unknown_outcomes_and_unplaced_tail_emit_nothing() {
        let mut t = Tracker::new(Decider::Elsewhere, ALL);
        t.on_basic_auth(1, info("c", None), 1);
        let s = check(1, "c", Access::Subscribe, "a", b"", 0, false);
        t.on_acl_check(&s, Outcome::Unknown, 2);
        let m = Message {
            client: 1,
            info: info("c", None),
            topic: "a".into(),
            payload: b"x",
            payload_addr: 1,
            qos: 0,
            retain: false,
        };
        t.on_message(&m, 3);
        t.on_message_tail();
        t.on_tick();
        assert_eq!(kinds(&mut t), [EventKind::ClientConnected]);
        assert_eq!(t.counters().unverified, 2);
    }

    #[test]
    fn uninteresting_kinds_are_not_built() {
        let mut interest = [false; KINDS];
        interest[EventKind::ClientDisconnected.index()] = true;
        let mut t = Tracker::new(Decider::OpenBroker, interest);
        t.on_basic_auth(1, info("c", None), 1);
        let s = check(1, "c", Access::Subscribe, "a", b"", 0, false);
        t.on_acl_check(&s, Outcome::Allowed, 2);
        t.on_disconnect(1, info("c", None), 3);
        assert_eq!(kinds(&mut t), [EventKind::ClientDisconnected]);
        assert_eq!(t.counters().logins_accepted, 1);
    }
}
