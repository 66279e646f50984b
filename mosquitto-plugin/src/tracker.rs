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
//!
//! # Remembered subscriptions, and why they are capped
//! `session.unsubscribed` is reported only for a filter the plugin saw subscribed by that client id, so the
//! tracker remembers the filters of every session, including offline persistent ones. 2.0.11 never tells a
//! plugin that a session expired (an MQTT 5 session with clean start off and expiry 0 ends at the
//! disconnect; a v3 one may be expired by `persistent_client_expiration`), so an offline session's filters
//! could be remembered forever: 2,000 anonymous clients with 10 filters of 60 KB each held 1.2 GB. So:
//!
//! * everything remembered is counted in bytes ([`FILTER_ENTRY_OVERHEAD`], [`SESSION_ENTRY_OVERHEAD`]) and
//!   capped by [`TRACKED_BYTES_MAX`], [`TRACKED_OFFLINE_SESSIONS_MAX`] and
//!   [`TRACKED_FILTERS_PER_CLIENT_MAX`], checked before anything is allocated;
//! * over a cap, offline sessions are forgotten longest-offline first (`tracker_evicted`); when only online
//!   sessions are left, a new filter is not remembered (`tracker_untracked`). Either way a later
//!   unsubscribe of such a filter is not reported and is counted in `unsubscribes_unknown`: a missing
//!   event, counted, never a false one;
//! * when a client id comes back with clean start off, mosquitto has either restored its session (its
//!   subscriptions are moved to the new connection before any later callback) or started an empty one. The
//!   first callback that carries the new connection reads `mosquitto_client_sub_count`: 0 means the
//!   session was gone, and the remembered filters are dropped (`tracker_sessions_gone`). 2.0.11 counts
//!   only non-shared subscriptions there, so `$share/` filters are kept (under the caps). An unsubscribe
//!   check on a connection whose count is 0 is never reported either (mosquitto checks before it removes);
//! * a clean session / clean start (`mosquitto_client_clean_session`) ends the remembered filters at login
//!   and at disconnect, as before.
//!
//! One file of about 940 lines, its module doc included (its tests are in `tracker/tests.rs`): the pending candidates, the
//! remembered sessions and their caps are one state machine settled by each callback, and splitting it would
//! spread that invariant over files.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use bytes::Bytes;

use rocketmq_bridge::bridge::{Event, EventKind};

use crate::options::Decider;

/// Number of event kinds ([`EventKind::ALL`]); per-kind tables are indexed by [`EventKind::index`].
pub const KINDS: usize = EventKind::ALL.len();

/// Which event kinds any rule wants, by [`EventKind::index`]. `message.acked` is never emitted (2.0.11 has
/// no source for it).
pub type Interest = [bool; KINDS];

/// Most bytes the tracker holds for remembered subscriptions, online and offline sessions together, as
/// counted by [`FILTER_ENTRY_OVERHEAD`] and [`SESSION_ENTRY_OVERHEAD`]: 16 MiB. A typical filter of 100
/// bytes costs 164, so this remembers about 100,000 subscriptions; the whole cost an MQTT client can put
/// on the plugin through subscriptions is this, whatever it subscribes and never comes back for (the
/// hand-over queue is 4 MiB by default, for comparison). Checked before a filter is copied.
pub const TRACKED_BYTES_MAX: usize = 16 << 20;
/// Most offline sessions (client ids with remembered filters and no connection) kept: 10,000. Beyond it the
/// longest-offline one is forgotten (`tracker_evicted`). Bounds the number of entries independently of
/// their size (many short filters).
pub const TRACKED_OFFLINE_SESSIONS_MAX: usize = 10_000;
/// Most filters remembered per client id: 1,024. A client subscribing to more (gateways do, rarely) gets
/// the rest unremembered (`tracker_untracked`), so one client cannot take the whole
/// [`TRACKED_BYTES_MAX`] with many small filters.
pub const TRACKED_FILTERS_PER_CLIENT_MAX: usize = 1_024;
/// Bytes counted per remembered filter on top of its length: the `String` header (24), its hash-set slot
/// and control byte, and allocator rounding. An estimate on the high side; the cap is on this count.
pub const FILTER_ENTRY_OVERHEAD: usize = 64;
/// Bytes counted per remembered session on top of twice its client id (held as the map key and in the
/// offline index): the map slot, the filter set's header and the offline index node.
pub const SESSION_ENTRY_OVERHEAD: usize = 160;
/// Prefix of MQTT 5 shared-subscription filters; 2.0.11's `mosquitto_client_sub_count` does not count them.
const SHARED_PREFIX: &str = "$share/";

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
    /// `mosquitto_client_sub_count` at the time of the callback: the non-shared subscriptions mosquitto
    /// holds for this connection (a slot count, never below the real number). `None` when the broker does
    /// not export it. Meaningless at `BASIC_AUTH` (a restored session is attached after it).
    pub sub_count: Option<u32>,
}

impl ClientInfo {
    /// The same facts, borrowed (for [`AclCheck`] and [`Message`] in tests and callers holding owned values).
    pub fn view(&self) -> ClientView<'_> {
        ClientView {
            id: self.id.as_deref(),
            username: self.username.as_deref(),
            sub_count: self.sub_count,
        }
    }
}

/// The client facts an `ACL_CHECK` or `MESSAGE` callback needs, borrowed from mosquitto's context for the
/// callback's duration: only the events built from them copy them (a read check that ends in no event, and
/// every write check, allocates nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientView<'a> {
    /// `mosquitto_client_id`; NULL after a refused login.
    pub id: Option<&'a str>,
    /// `mosquitto_client_username`.
    pub username: Option<&'a str>,
    /// `mosquitto_client_sub_count` (see [`ClientInfo::sub_count`]).
    pub sub_count: Option<u32>,
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

/// One `ACL_CHECK` callback, borrowed from C memory for the callback's duration.
#[derive(Debug, Clone)]
pub struct AclCheck<'a> {
    /// The client the check is about (the receiver, for reads).
    pub client: ClientRef,
    /// Its id and username.
    pub info: ClientView<'a>,
    /// The kind of access.
    pub access: Access,
    /// Topic or topic filter.
    pub topic: &'a str,
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
    pub info: ClientView<'a>,
    /// Topic.
    pub topic: &'a str,
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

/// What the tracker counted (monotonic), and the size of what it remembers now (the `tracked_*` gauges).
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
    /// Allowed unsubscribes of a filter the plugin never saw subscribed, or forgot under a cap, or that
    /// mosquitto no longer holds (no event: mosquitto 2.0.11 does not tell plugins whether a subscription
    /// existed).
    pub unsubscribes_unknown: u64,
    /// Offline sessions whose remembered filters were forgotten to stay under [`TRACKED_BYTES_MAX`] or
    /// [`TRACKED_OFFLINE_SESSIONS_MAX`], longest offline first.
    pub tracker_evicted: u64,
    /// Subscriptions not remembered because a cap was reached with no offline session left to forget, or
    /// the client has [`TRACKED_FILTERS_PER_CLIENT_MAX`] already (their `session.subscribed` is reported).
    pub tracker_untracked: u64,
    /// Reconnects with clean start off whose session mosquitto no longer had (its subscription count was
    /// 0): the remembered filters were dropped.
    pub tracker_sessions_gone: u64,
    /// Gauge: bytes held for remembered subscriptions ([`Tracker::tracked_bytes`]).
    pub tracked_bytes: usize,
    /// Gauge: client ids with remembered subscriptions.
    pub tracked_sessions: usize,
    /// Gauge: of those, the offline ones.
    pub tracked_offline: usize,
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
    /// Logged in with clean start off while filters were remembered for its id: the first callback carrying
    /// this connection checks mosquitto's subscription count.
    verify: bool,
}

/// The remembered filters of one client id.
#[derive(Debug, Default)]
struct Session {
    filters: HashSet<String>,
    /// Connections with this id tracked online (0, 1, or 2 briefly during a takeover).
    online: u32,
    /// Its key in [`Subscriptions::offline`] while `online == 0`.
    offline_stamp: u64,
    /// Bytes counted for this session (entry, id, filters).
    bytes: usize,
}

/// Remembered subscriptions, bounded (see the module docs).
#[derive(Debug, Default)]
struct Subscriptions {
    sessions: HashMap<String, Session>,
    /// Offline sessions by the order they went offline: the first is evicted first.
    offline: BTreeMap<u64, String>,
    next_stamp: u64,
    bytes: usize,
}

impl Subscriptions {
    fn session_cost(id: &str) -> usize {
        SESSION_ENTRY_OVERHEAD + 2 * id.len()
    }

    fn filter_cost(filter: &str) -> usize {
        FILTER_ENTRY_OVERHEAD + filter.len()
    }

    /// Remembers `filter` for `id`; `online` says whether the subscribing connection is tracked online.
    fn add(&mut self, id: &str, filter: &str, online: bool, c: &mut TrackerCounters) {
        let need = match self.sessions.get(id) {
            Some(s) if s.filters.contains(filter) => return,
            Some(s) if s.filters.len() >= TRACKED_FILTERS_PER_CLIENT_MAX => {
                c.tracker_untracked += 1;
                return;
            }
            Some(_) => Self::filter_cost(filter),
            None => Self::filter_cost(filter) + Self::session_cost(id),
        };
        // Make room first (evicting other offline sessions), then copy.
        while self.bytes + need > TRACKED_BYTES_MAX {
            let Some(stamp) = self
                .offline
                .iter()
                .find(|(_, v)| v.as_str() != id)
                .map(|(k, _)| *k)
            else {
                c.tracker_untracked += 1;
                return;
            };
            self.evict(stamp, c);
        }
        self.bytes += need;
        if !self.sessions.contains_key(id) {
            let mut s = Session {
                online: u32::from(online),
                bytes: Self::session_cost(id),
                ..Session::default()
            };
            if !online {
                s.offline_stamp = self.stamp();
                self.offline.insert(s.offline_stamp, id.to_owned());
            }
            self.sessions.insert(id.to_owned(), s);
        }
        let s = self.sessions.get_mut(id).expect("inserted above");
        s.bytes += Self::filter_cost(filter);
        s.filters.insert(filter.to_owned());
        self.cap_offline(c);
    }

    fn stamp(&mut self) -> u64 {
        self.next_stamp += 1;
        self.next_stamp
    }

    fn evict(&mut self, stamp: u64, c: &mut TrackerCounters) {
        if let Some(id) = self.offline.remove(&stamp) {
            if let Some(s) = self.sessions.remove(&id) {
                self.bytes -= s.bytes;
            }
            c.tracker_evicted += 1;
        }
    }

    fn cap_offline(&mut self, c: &mut TrackerCounters) {
        while self.offline.len() > TRACKED_OFFLINE_SESSIONS_MAX {
            let Some((&stamp, _)) = self.offline.first_key_value() else {
                return;
            };
            self.evict(stamp, c);
        }
    }

    /// Forgets `filter` of `id`; whether it was remembered.
    fn remove(&mut self, id: &str, filter: &str) -> bool {
        let Some(s) = self.sessions.get_mut(id) else {
            return false;
        };
        if !s.filters.remove(filter) {
            return false;
        }
        s.bytes -= Self::filter_cost(filter);
        self.bytes -= Self::filter_cost(filter);
        if s.filters.is_empty() {
            self.remove_session(id);
        }
        true
    }

    fn remove_session(&mut self, id: &str) {
        if let Some(s) = self.sessions.remove(id) {
            self.bytes -= s.bytes;
            if s.online == 0 {
                self.offline.remove(&s.offline_stamp);
            }
        }
    }

    /// Drops the filters mosquitto's subscription count covers (all but `$share/` ones); whether any were.
    fn forget_unshared(&mut self, id: &str) -> bool {
        let Some(s) = self.sessions.get_mut(id) else {
            return false;
        };
        let before = s.filters.len();
        let mut freed = 0;
        s.filters.retain(|f| {
            let keep = f.starts_with(SHARED_PREFIX);
            if !keep {
                freed += Self::filter_cost(f);
            }
            keep
        });
        let dropped = s.filters.len() < before;
        s.bytes -= freed;
        self.bytes -= freed;
        if s.filters.is_empty() {
            self.remove_session(id);
        }
        dropped
    }

    fn went_online(&mut self, id: &str) -> bool {
        let Some(s) = self.sessions.get_mut(id) else {
            return false;
        };
        if s.online == 0 {
            self.offline.remove(&s.offline_stamp);
        }
        s.online += 1;
        true
    }

    fn went_offline(&mut self, id: &str, c: &mut TrackerCounters) {
        let Some(s) = self.sessions.get_mut(id) else {
            return;
        };
        if s.online == 0 {
            return;
        }
        s.online -= 1;
        if s.online == 0 {
            self.next_stamp += 1;
            s.offline_stamp = self.next_stamp;
            self.offline.insert(self.next_stamp, id.to_owned());
            self.cap_offline(c);
        }
    }
}

/// Hashes [`ClientRef`] keys (addresses of mosquitto's client contexts, chosen by its allocator, not by
/// clients) with one multiplication instead of SipHash: the map is looked up in every callback, and
/// SipHash's resistance to chosen keys buys nothing for keys nobody outside can choose.
#[derive(Debug, Default, Clone, Copy)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not used for `usize` keys; correct for anything else.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        // Aligned addresses end in zero bits, and so does their product: fold the high bits down, as
        // the table picks buckets by the low bits.
        self.0 ^ (self.0 >> 29)
    }
}

/// The state machine. See the module docs.
#[derive(Debug)]
pub struct Tracker {
    logins: Decider,
    interest: Interest,
    tail_ready: bool,
    clients: HashMap<ClientRef, Online, BuildHasherDefault<AddrHasher>>,
    /// Filters subscribed per client id, as seen by the plugin (kept across disconnects of persistent
    /// sessions, cleared by a clean session, bounded by the `TRACKED_*` caps).
    subscriptions: Subscriptions,
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
            clients: HashMap::default(),
            subscriptions: Subscriptions::default(),
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

    /// Counters so far, with the gauges filled in.
    pub fn counters(&self) -> TrackerCounters {
        let (sessions, offline) = self.tracked_sessions();
        TrackerCounters {
            tracked_bytes: self.tracked_bytes(),
            tracked_sessions: sessions,
            tracked_offline: offline,
            ..self.counters.clone()
        }
    }

    /// Number of clients currently tracked as connected.
    pub fn online(&self) -> usize {
        self.clients.len()
    }

    /// Bytes held for remembered subscriptions, as counted against [`TRACKED_BYTES_MAX`].
    pub fn tracked_bytes(&self) -> usize {
        self.subscriptions.bytes
    }

    /// Client ids with remembered subscriptions: `(all, offline)`.
    pub fn tracked_sessions(&self) -> (usize, usize) {
        (
            self.subscriptions.sessions.len(),
            self.subscriptions.offline.len(),
        )
    }

    /// First callback carrying a connection that logged in with clean start off while filters were
    /// remembered for its id: by now mosquitto has attached the old session, or an empty one.
    fn verify_session(&mut self, client: ClientRef, sub_count: Option<u32>) {
        let Some(n) = sub_count else {
            return;
        };
        let Some(o) = self.clients.get_mut(&client) else {
            return;
        };
        if !std::mem::take(&mut o.verify) || n > 0 {
            return;
        }
        if let Some(id) = &o.id {
            if self.subscriptions.forget_unshared(id) {
                self.counters.tracker_sessions_gone += 1;
            }
        }
    }

    /// Takes the events settled so far, oldest first.
    pub fn drain(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.out)
    }

    /// Takes the events settled so far, oldest first, keeping the buffer's allocation for the next ones.
    pub fn drain_in_place(&mut self) -> std::vec::Drain<'_, Event> {
        self.out.drain(..)
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

    /// Whether [`Tracker::on_acl_check`] reads the id, username and topic of a check of `access`: not
    /// for a write check (the publish is reported by `MESSAGE`; only the client and its subscription count
    /// matter), so the FFI layer need not read them from mosquitto.
    pub fn uses_check_strings(access: Access) -> bool {
        !matches!(access, Access::Write)
    }

    /// `MOSQ_EVT_ACL_CHECK`, with mosquitto's decision.
    pub fn on_acl_check(&mut self, check: &AclCheck<'_>, outcome: Outcome, now: u64) {
        self.settle();
        self.verify_session(check.client, check.info.sub_count);
        let candidate = match check.access {
            Access::Subscribe => {
                self.op = Op::Subscribing(check.client);
                if outcome == Outcome::Allowed {
                    if let Some(id) = check.info.id {
                        let online = self.clients.contains_key(&check.client);
                        self.subscriptions
                            .add(id, check.topic, online, &mut self.counters);
                    }
                }
                self.interest[EventKind::SessionSubscribed.index()].then(|| {
                    let mut e = Event::new(EventKind::SessionSubscribed).with_ts(now);
                    e.client_id = check.info.id.map(str::to_owned);
                    e.username = check.info.username.map(str::to_owned);
                    e.topic = Some(check.topic.to_owned());
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
                    e.client_id = check.info.id.map(str::to_owned);
                    e.username = check.info.username.map(str::to_owned);
                    e.topic = Some(check.topic.to_owned());
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
        let Some(id) = check.info.id else {
            return false;
        };
        let removed = self.subscriptions.remove(id, check.topic);
        // mosquitto checks an unsubscribe before removing: a count of 0 means it holds no such
        // (non-shared) subscription, whatever the plugin remembered.
        let held = check.info.sub_count != Some(0) || check.topic.starts_with(SHARED_PREFIX);
        removed && held
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
        e.client_id = check.info.id.map(str::to_owned);
        e.username = check.info.username.map(str::to_owned);
        e.topic = Some(check.topic.to_owned());
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
        self.verify_session(msg.client, msg.info.sub_count);
        self.op = Op::None;
        let want_publish = self.interest[EventKind::MessagePublish.index()];
        let payload = if want_publish || self.interest[EventKind::MessageDelivered.index()] {
            Bytes::copy_from_slice(msg.payload)
        } else {
            Bytes::new()
        };
        let event = want_publish.then(|| {
            let mut e = Event::new(EventKind::MessagePublish).with_ts(now);
            e.client_id = msg.info.id.map(str::to_owned);
            e.username = msg.info.username.map(str::to_owned);
            e.topic = Some(msg.topic.to_owned());
            e.payload = Some(payload.clone());
            e.qos = Some(msg.qos);
            e.retain = Some(msg.retain);
            e
        });
        self.pending_message = Some(PendingMessage {
            event,
            from: msg.info.id.map(str::to_owned),
            topic: msg.topic.to_owned(),
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
                    self.verify_session(client, info.sub_count);
                    self.disconnected(client, now);
                }
                self.op = Op::None;
                return;
            }
        }
        // Another client: an old connection taken over by the pending login comes first.
        let taken_over = matches!(self.op, Op::Connecting(_));
        // Whether the connecting client has this one's id: then this is the takeover, and this
        // connection has already handed its subscriptions to the new one (its count reads 0).
        let same_id_connecting = match self.op {
            Op::Connecting(c) => match &self.pending_login {
                Some(p) if p.client == c => p.info.id == info.id,
                _ => self.clients.get(&c).is_some_and(|o| o.id == info.id),
            },
            _ => false,
        };
        if self.clients.contains_key(&client) {
            if !same_id_connecting {
                // Its own disconnect: the count still shows its session.
                self.verify_session(client, info.sub_count);
            }
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
        let mut verify = false;
        if let Some(id) = &p.info.id {
            if p.info.clean {
                self.subscriptions.remove_session(id);
            } else {
                verify = self.subscriptions.went_online(id);
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
                verify,
            },
        );
    }

    fn disconnected(&mut self, client: ClientRef, now: u64) {
        if let Some(o) = self.clients.remove(&client) {
            if let Some(id) = &o.id {
                if o.clean {
                    self.subscriptions.remove_session(id);
                } else {
                    self.subscriptions.went_offline(id, &mut self.counters);
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
mod tests;
