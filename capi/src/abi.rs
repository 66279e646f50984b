//! The C ABI's types and constants as `include/rocketmq_bridge.h` declares them, and the safe
//! conversions between them and the library's: an event's fields to an [`Event`] (validated),
//! errors to status codes, [`BridgeStats`] and [`ShutdownReport`] to the C structs, error text into
//! a caller's buffer. Nothing here dereferences a pointer: [`crate::ffi`] reads the C memory and
//! hands plain slices in.

use std::ffi::{c_char, c_void};
use std::mem::{offset_of, size_of};

use bytes::Bytes;
use rocketmq_bridge::bridge::{
    BridgeError, BridgeStats, ConfigError, Event, EventKind, SendEventError, ShutdownReport,
};

/// The ABI's major version (`RMQB_ABI_VERSION_MAJOR`).
pub const ABI_VERSION_MAJOR: u32 = 1;
/// The ABI's minor version (`RMQB_ABI_VERSION_MINOR`): 1 added `rmqb_stats_templates` and
/// `rmqb_template_counters_t`.
pub const ABI_VERSION_MINOR: u32 = 1;

/// `RMQB_PENDING`: buffered, the outcome callback will come.
pub const PENDING: i32 = 1;
/// `RMQB_OK`.
pub const OK: i32 = 0;
/// `RMQB_ERR_INVALID`: a NULL or invalid argument.
pub const ERR_INVALID: i32 = -1;
/// `RMQB_ERR_CLOSED`.
pub const ERR_CLOSED: i32 = -2;
/// `RMQB_ERR_DROPPED`.
pub const ERR_DROPPED: i32 = -3;
/// `RMQB_ERR_FAILED`.
pub const ERR_FAILED: i32 = -4;
/// `RMQB_ERR_OUTCOME_UNKNOWN`.
pub const ERR_OUTCOME_UNKNOWN: i32 = -5;
/// `RMQB_ERR_TIMEOUT`.
pub const ERR_TIMEOUT: i32 = -6;
/// `RMQB_ERR_CONFIG`.
pub const ERR_CONFIG: i32 = -7;
/// `RMQB_ERR_START`.
pub const ERR_START: i32 = -8;
/// `RMQB_ERR_PANIC`.
pub const ERR_PANIC: i32 = -9;
/// `RMQB_ERR_LOGGER`.
pub const ERR_LOGGER: i32 = -10;
/// `RMQB_ERR_INCOMPLETE`.
pub const ERR_INCOMPLETE: i32 = -11;

/// Every status code with its header name, for [`status_name`] and the header check.
pub const STATUS_NAMES: [(i32, &str); 13] = [
    (PENDING, "RMQB_PENDING"),
    (OK, "RMQB_OK"),
    (ERR_INVALID, "RMQB_ERR_INVALID"),
    (ERR_CLOSED, "RMQB_ERR_CLOSED"),
    (ERR_DROPPED, "RMQB_ERR_DROPPED"),
    (ERR_FAILED, "RMQB_ERR_FAILED"),
    (ERR_OUTCOME_UNKNOWN, "RMQB_ERR_OUTCOME_UNKNOWN"),
    (ERR_TIMEOUT, "RMQB_ERR_TIMEOUT"),
    (ERR_CONFIG, "RMQB_ERR_CONFIG"),
    (ERR_START, "RMQB_ERR_START"),
    (ERR_PANIC, "RMQB_ERR_PANIC"),
    (ERR_LOGGER, "RMQB_ERR_LOGGER"),
    (ERR_INCOMPLETE, "RMQB_ERR_INCOMPLETE"),
];

/// The header name of a status code, NUL-terminated (`"unknown\0"` for others).
pub fn status_name(status: i32) -> &'static str {
    match status {
        PENDING => "RMQB_PENDING\0",
        OK => "RMQB_OK\0",
        ERR_INVALID => "RMQB_ERR_INVALID\0",
        ERR_CLOSED => "RMQB_ERR_CLOSED\0",
        ERR_DROPPED => "RMQB_ERR_DROPPED\0",
        ERR_FAILED => "RMQB_ERR_FAILED\0",
        ERR_OUTCOME_UNKNOWN => "RMQB_ERR_OUTCOME_UNKNOWN\0",
        ERR_TIMEOUT => "RMQB_ERR_TIMEOUT\0",
        ERR_CONFIG => "RMQB_ERR_CONFIG\0",
        ERR_START => "RMQB_ERR_START\0",
        ERR_PANIC => "RMQB_ERR_PANIC\0",
        ERR_LOGGER => "RMQB_ERR_LOGGER\0",
        ERR_INCOMPLETE => "RMQB_ERR_INCOMPLETE\0",
        _ => "unknown\0",
    }
}

/// `rmqb_str_t`: a borrowed UTF-8 string, `ptr == NULL` for absent.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RmqbStr {
    /// The first byte, or NULL.
    pub ptr: *const c_char,
    /// Length in bytes.
    pub len: usize,
}

/// `rmqb_bytes_t`: borrowed bytes, `ptr == NULL` for absent.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RmqbBytes {
    /// The first byte, or NULL.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

/// `rmqb_event_t`: one MQTT broker event.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RmqbEvent {
    /// `RMQB_EVENT_*`: the index in [`EventKind::ALL`].
    pub kind: u32,
    /// 0..=2, or -1 for absent.
    pub qos: i32,
    /// 0 or 1, or -1 for absent.
    pub retain: i32,
    /// Must be 0.
    pub reserved: u32,
    /// ms since the Unix epoch; 0 for "when formatted".
    pub ts_ms: u64,
    /// The client id.
    pub client_id: RmqbStr,
    /// The username.
    pub username: RmqbStr,
    /// The topic name or filter.
    pub topic: RmqbStr,
    /// The publisher's client id.
    pub from: RmqbStr,
    /// The disconnect reason.
    pub reason: RmqbStr,
    /// The payload.
    pub payload: RmqbBytes,
}

/// `rmqb_counters_t`: see the header for each field.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct RmqbCounters {
    pub matched: u64,
    pub sent: u64,
    pub failed: u64,
    pub outcome_unknown: u64,
    pub resolved_stored: u64,
    pub resolved_not_stored: u64,
    pub unresolved: u64,
    pub dropped_too_large: u64,
    pub dropped_overflow: u64,
    pub dropped_shutdown: u64,
    pub dropped_spool_error: u64,
    pub lossy_payload: u64,
    pub unmatched: u64,
    pub buffered_bytes: u64,
    pub in_flight: u64,
    pub queue_depth: u64,
    pub held: u64,
    pub held_resent: u64,
    pub resolving: u64,
    pub loss_reports_sent: u64,
    pub loss_report_failures: u64,
    pub spool_present: u64,
    pub spool_bytes: u64,
    pub spool_pending_records: u64,
    pub spool_appended: u64,
    pub spool_acked: u64,
    pub spool_recovered: u64,
    pub spool_resent: u64,
    pub spool_dropped_cap_reached: u64,
    pub spool_dropped_corrupt: u64,
    pub spool_dropped_missing: u64,
    pub spool_undecodable: u64,
}

/// `rmqb_template_counters_t` (ABI 1.1): the drops of rule templates, totals over all rules.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RmqbTemplateCounters {
    /// A topic template rendered a name that is not a RocketMQ topic (`bad_topic`).
    pub dropped_bad_topic: u64,
    /// A tag template rendered an invalid tag (`bad_tag`).
    pub dropped_bad_tag: u64,
    /// A topic template rendered a topic the name servers do not know (`no_topic`).
    pub dropped_no_topic: u64,
    /// A topic template rendered a new topic beyond `template.max_topics` (`topic_cap`).
    pub dropped_topic_cap: u64,
}

/// `rmqb_report_t`: what `rmqb_stop` achieved.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RmqbReport {
    /// 1 when every buffered message got its outcome before the deadline.
    pub drained: u32,
    /// 0.
    pub reserved: u32,
    /// Time the shutdown took, in ms.
    pub elapsed_ms: u64,
    /// Messages confirmed during the shutdown.
    pub sent_during_shutdown: u64,
    /// Messages not confirmed during the shutdown.
    pub unsent: u64,
    /// The final counters.
    pub counters: RmqbCounters,
}

/// `rmqb_outcome_fn`.
pub type OutcomeFn = unsafe extern "C" fn(
    user: *mut c_void,
    tag: u64,
    status: i32,
    detail: *const c_char,
    len: usize,
);
/// `rmqb_log_fn`.
pub type LogFn = unsafe extern "C" fn(
    user: *mut c_void,
    level: i32,
    target: *const c_char,
    target_len: usize,
    message: *const c_char,
    message_len: usize,
);

/// The `RMQB_LAYOUT_*` items of ABI 1.0 in header order (items 0 to 15), with their names (the
/// header check compares both). Frozen: a minor version adds its items in an array of its own,
/// numbered from `minor << 16` ([`LAYOUT_MINOR`]).
pub const LAYOUT: [(&str, usize); 16] = [
    ("SIZEOF_STR", size_of::<RmqbStr>()),
    ("SIZEOF_BYTES", size_of::<RmqbBytes>()),
    ("SIZEOF_EVENT", size_of::<RmqbEvent>()),
    ("OFFSETOF_EVENT_TS_MS", offset_of!(RmqbEvent, ts_ms)),
    ("OFFSETOF_EVENT_CLIENT_ID", offset_of!(RmqbEvent, client_id)),
    ("OFFSETOF_EVENT_USERNAME", offset_of!(RmqbEvent, username)),
    ("OFFSETOF_EVENT_TOPIC", offset_of!(RmqbEvent, topic)),
    ("OFFSETOF_EVENT_FROM", offset_of!(RmqbEvent, from)),
    ("OFFSETOF_EVENT_REASON", offset_of!(RmqbEvent, reason)),
    ("OFFSETOF_EVENT_PAYLOAD", offset_of!(RmqbEvent, payload)),
    ("SIZEOF_COUNTERS", size_of::<RmqbCounters>()),
    (
        "OFFSETOF_COUNTERS_UNMATCHED",
        offset_of!(RmqbCounters, unmatched),
    ),
    (
        "OFFSETOF_COUNTERS_SPOOL_UNDECODABLE",
        offset_of!(RmqbCounters, spool_undecodable),
    ),
    ("SIZEOF_REPORT", size_of::<RmqbReport>()),
    (
        "OFFSETOF_REPORT_ELAPSED_MS",
        offset_of!(RmqbReport, elapsed_ms),
    ),
    ("OFFSETOF_REPORT_COUNTERS", offset_of!(RmqbReport, counters)),
];

/// The `RMQB_LAYOUT_*` items ABI 1.1 added, numbered from `1 << 16` (`RMQB_LAYOUT_COUNT_1_1`).
pub const LAYOUT_1_1: [(&str, usize); 2] = [
    (
        "SIZEOF_TEMPLATE_COUNTERS",
        size_of::<RmqbTemplateCounters>(),
    ),
    (
        "OFFSETOF_TEMPLATE_COUNTERS_DROPPED_TOPIC_CAP",
        offset_of!(RmqbTemplateCounters, dropped_topic_cap),
    ),
];

/// The layout items of each minor version: `LAYOUT_MINOR[m]` are items `(m << 16) + i`.
pub const LAYOUT_MINOR: [&[(&str, usize)]; 2] = [&LAYOUT, &LAYOUT_1_1];

/// `rmqb_layout(item)`: the size or offset, 0 for an unknown item.
pub fn layout(item: u32) -> usize {
    LAYOUT_MINOR
        .get((item >> 16) as usize)
        .and_then(|items| items.get((item & 0xffff) as usize))
        .map_or(0, |(_, v)| *v)
}

/// An event as read from C memory: the scalars, and each string or byte field as its bytes
/// (`None` for a NULL pointer).
#[derive(Debug, Clone, Copy)]
pub struct EventFields<'a> {
    /// `kind`.
    pub kind: u32,
    /// `qos`.
    pub qos: i32,
    /// `retain`.
    pub retain: i32,
    /// `reserved`.
    pub reserved: u32,
    /// `ts_ms`.
    pub ts_ms: u64,
    /// `client_id`.
    pub client_id: Option<&'a [u8]>,
    /// `username`.
    pub username: Option<&'a [u8]>,
    /// `topic`.
    pub topic: Option<&'a [u8]>,
    /// `from`.
    pub from: Option<&'a [u8]>,
    /// `reason`.
    pub reason: Option<&'a [u8]>,
    /// `payload`.
    pub payload: Option<&'a [u8]>,
}

/// Why an event from C was refused (`RMQB_ERR_INVALID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidEvent {
    /// `kind` is not an `RMQB_EVENT_*` value.
    Kind(u32),
    /// `reserved` is not 0.
    Reserved,
    /// `qos` is not -1, 0, 1 or 2.
    Qos(i32),
    /// `retain` is not -1, 0 or 1.
    Retain(i32),
    /// A field is set that the kind does not carry.
    NotForKind {
        /// The field.
        field: &'static str,
        /// The kind.
        kind: EventKind,
    },
    /// A string field is not UTF-8.
    NotUtf8(&'static str),
}

impl std::fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidEvent::Kind(k) => write!(f, "event kind {k} is not an RMQB_EVENT_* value"),
            InvalidEvent::Reserved => write!(f, "the event's reserved field is not 0"),
            InvalidEvent::Qos(q) => write!(f, "qos {q} is not -1 (absent), 0, 1 or 2"),
            InvalidEvent::Retain(r) => write!(f, "retain {r} is not -1 (absent), 0 or 1"),
            InvalidEvent::NotForKind { field, kind } => {
                write!(f, "field {field} does not apply to {kind} events")
            }
            InvalidEvent::NotUtf8(field) => write!(f, "field {field} is not UTF-8"),
        }
    }
}

impl std::error::Error for InvalidEvent {}

/// Whether `kind` carries `field` (the NDJSON input format's table, `bridge::event`).
fn carries(kind: EventKind, field: &str) -> bool {
    match field {
        "client_id" => true,
        "username" => !matches!(
            kind,
            EventKind::SessionSubscribed | EventKind::SessionUnsubscribed
        ),
        "reason" => kind == EventKind::ClientDisconnected,
        "topic" | "qos" => !kind.is_client_event(),
        "payload" | "retain" => kind.is_message_event(),
        "from" => matches!(kind, EventKind::MessageDelivered | EventKind::MessageAcked),
        _ => false,
    }
}

fn text(
    kind: EventKind,
    field: &'static str,
    v: Option<&[u8]>,
) -> Result<Option<String>, InvalidEvent> {
    let Some(bytes) = v else { return Ok(None) };
    if !carries(kind, field) {
        return Err(InvalidEvent::NotForKind { field, kind });
    }
    std::str::from_utf8(bytes)
        .map(|s| Some(s.to_owned()))
        .map_err(|_| InvalidEvent::NotUtf8(field))
}

impl EventFields<'_> {
    /// The library's event, with every string and the payload copied.
    ///
    /// # Errors
    /// [`InvalidEvent`].
    pub fn to_event(&self) -> Result<Event, InvalidEvent> {
        let kind = *EventKind::ALL
            .get(self.kind as usize)
            .ok_or(InvalidEvent::Kind(self.kind))?;
        if self.reserved != 0 {
            return Err(InvalidEvent::Reserved);
        }
        let mut ev = Event::new(kind);
        ev.qos = match self.qos {
            -1 => None,
            q @ 0..=2 if carries(kind, "qos") => Some(q as u8),
            0..=2 => return Err(InvalidEvent::NotForKind { field: "qos", kind }),
            q => return Err(InvalidEvent::Qos(q)),
        };
        ev.retain = match self.retain {
            -1 => None,
            r @ 0..=1 if carries(kind, "retain") => Some(r == 1),
            0..=1 => {
                return Err(InvalidEvent::NotForKind {
                    field: "retain",
                    kind,
                })
            }
            r => return Err(InvalidEvent::Retain(r)),
        };
        ev.ts = (self.ts_ms != 0).then_some(self.ts_ms);
        ev.client_id = text(kind, "client_id", self.client_id)?;
        ev.username = text(kind, "username", self.username)?;
        ev.topic = text(kind, "topic", self.topic)?;
        ev.from = text(kind, "from", self.from)?;
        ev.reason = text(kind, "reason", self.reason)?;
        ev.payload = match self.payload {
            None => None,
            Some(_) if !carries(kind, "payload") => {
                return Err(InvalidEvent::NotForKind {
                    field: "payload",
                    kind,
                })
            }
            Some(p) => Some(Bytes::copy_from_slice(p)),
        };
        Ok(ev)
    }
}

/// The status code of a send error.
pub fn send_status(e: &SendEventError) -> i32 {
    match e {
        SendEventError::Closed => ERR_CLOSED,
        SendEventError::Dropped { .. } => ERR_DROPPED,
        SendEventError::OutcomeUnknown { .. } => ERR_OUTCOME_UNKNOWN,
        SendEventError::Timeout { .. } => ERR_TIMEOUT,
        // `Failed`, and any kind a later library version adds: not confirmed as stored.
        _ => ERR_FAILED,
    }
}

/// The status code of a start or reload error.
pub fn bridge_status(e: &BridgeError) -> i32 {
    match e {
        BridgeError::Closed => ERR_CLOSED,
        _ => ERR_START,
    }
}

/// The status code of a config error.
pub fn config_status(_: &ConfigError) -> i32 {
    ERR_CONFIG
}

/// The C counters of `s`.
pub fn counters(s: &BridgeStats) -> RmqbCounters {
    let t = s.total();
    let mut c = RmqbCounters {
        matched: t.matched,
        sent: t.sent,
        failed: t.failed,
        outcome_unknown: t.outcome_unknown,
        resolved_stored: t.resolved_stored,
        resolved_not_stored: t.resolved_not_stored,
        unresolved: t.unresolved,
        dropped_too_large: t.dropped_too_large,
        dropped_overflow: t.dropped_overflow,
        dropped_shutdown: t.dropped_shutdown,
        dropped_spool_error: t.dropped_spool_error,
        lossy_payload: t.lossy_payload,
        unmatched: s.unmatched,
        buffered_bytes: s.buffered_bytes as u64,
        in_flight: s.in_flight as u64,
        queue_depth: s.queue_depth as u64,
        held: s.held as u64,
        held_resent: s.held_resent,
        resolving: s.resolving as u64,
        loss_reports_sent: s.loss_reports_sent,
        loss_report_failures: s.loss_report_failures,
        ..RmqbCounters::default()
    };
    if let Some(sp) = &s.spool {
        c.spool_present = 1;
        c.spool_bytes = sp.bytes;
        c.spool_pending_records = sp.pending_records;
        c.spool_appended = sp.appended;
        c.spool_acked = sp.acked;
        c.spool_recovered = sp.recovered;
        c.spool_resent = sp.resent;
        c.spool_dropped_cap_reached = sp.dropped_cap_reached;
        c.spool_dropped_corrupt = sp.dropped_corrupt;
        c.spool_dropped_missing = sp.dropped_missing;
        c.spool_undecodable = sp.undecodable;
    }
    c
}

/// The C template counters of `s` (ABI 1.1), summed over the rules as [`counters`] does.
pub fn template_counters(s: &BridgeStats) -> RmqbTemplateCounters {
    let t = s.total();
    RmqbTemplateCounters {
        dropped_bad_topic: t.dropped_bad_topic,
        dropped_bad_tag: t.dropped_bad_tag,
        dropped_no_topic: t.dropped_no_topic,
        dropped_topic_cap: t.dropped_topic_cap,
    }
}

/// The C report of `r`.
pub fn report(r: &ShutdownReport) -> RmqbReport {
    RmqbReport {
        drained: u32::from(r.drained),
        reserved: 0,
        elapsed_ms: u64::try_from(r.elapsed.as_millis()).unwrap_or(u64::MAX),
        sent_during_shutdown: r.sent_during_shutdown,
        unsent: r.unsent.len() as u64,
        counters: counters(&r.stats),
    }
}

/// Writes `msg` into `buf` NUL-terminated, cut at a UTF-8 boundary to fit; nothing for an empty
/// buffer.
pub fn write_text(buf: &mut [u8], msg: &str) {
    let Some(room) = buf.len().checked_sub(1) else {
        return;
    };
    let mut n = msg.len().min(room);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    buf[..n].copy_from_slice(&msg.as_bytes()[..n]);
    buf[n] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(kind: u32) -> EventFields<'static> {
        EventFields {
            kind,
            qos: -1,
            retain: -1,
            reserved: 0,
            ts_ms: 0,
            client_id: None,
            username: None,
            topic: None,
            from: None,
            reason: None,
            payload: None,
        }
    }

    #[test]
    fn events_are_checked_field_by_field() {
        let mut f = fields(4);
        f.client_id = Some(b"c1");
        f.topic = Some(b"a/b");
        f.payload = Some(b"\x00\xff");
        f.qos = 1;
        f.retain = 0;
        f.ts_ms = 7;
        let ev = f.to_event().unwrap();
        assert_eq!(ev.kind, EventKind::MessagePublish);
        assert_eq!(ev.client_id.as_deref(), Some("c1"));
        assert_eq!(ev.payload.as_deref(), Some(&b"\x00\xff"[..]));
        assert_eq!((ev.qos, ev.retain, ev.ts), (Some(1), Some(false), Some(7)));
        assert_eq!(ev.username, None);

        let bad = [
            (EventFields { kind: 7, ..f }, InvalidEvent::Kind(7)),
            (EventFields { reserved: 1, ..f }, InvalidEvent::Reserved),
            (EventFields { qos: 3, ..f }, InvalidEvent::Qos(3)),
            (EventFields { retain: 2, ..f }, InvalidEvent::Retain(2)),
            (
                EventFields {
                    reason: Some(b"x"),
                    ..f
                },
                InvalidEvent::NotForKind {
                    field: "reason",
                    kind: EventKind::MessagePublish,
                },
            ),
            (
                EventFields {
                    username: Some(b"\xff"),
                    ..f
                },
                InvalidEvent::NotUtf8("username"),
            ),
            (
                EventFields {
                    qos: 1,
                    ..fields(0)
                },
                InvalidEvent::NotForKind {
                    field: "qos",
                    kind: EventKind::ClientConnected,
                },
            ),
        ];
        for (f, want) in bad {
            assert_eq!(f.to_event().unwrap_err(), want);
        }
    }

    #[test]
    fn text_is_cut_at_a_character_boundary_and_terminated() {
        let mut buf = [0xAAu8; 5];
        write_text(&mut buf, "añbc");
        // "a" + "ñ" (2 bytes) + "b" = 4 bytes, then NUL.
        assert_eq!(&buf, b"a\xc3\xb1b\0");
        let mut buf = [0xAAu8; 3];
        write_text(&mut buf, "añ");
        assert_eq!(&buf[..2], b"a\0", "ñ does not fit whole");
        write_text(&mut [], "x");
    }

    #[test]
    fn template_counters_are_totals_over_rules() {
        let mut s = BridgeStats::default();
        for k in 1..=2u64 {
            let mut r = rocketmq_bridge::bridge::RuleCounters::default();
            r.dropped_bad_topic = k;
            r.dropped_bad_tag = 10 * k;
            r.dropped_no_topic = 100 * k;
            r.dropped_topic_cap = 1000 * k;
            r.dropped_too_large = 7;
            s.rules.push(r);
        }
        let want = RmqbTemplateCounters {
            dropped_bad_topic: 3,
            dropped_bad_tag: 30,
            dropped_no_topic: 300,
            dropped_topic_cap: 3000,
        };
        assert_eq!(template_counters(&s), want);
        assert_eq!(counters(&s).dropped_too_large, 14);
    }

    /// ABI 1.0's layout items keep their numbers and values (64-bit); 1.1's are numbered from
    /// 1 << 16.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn abi_1_0_layout_is_frozen() {
        let v1_0: [(&str, usize); 16] = [
            ("SIZEOF_STR", 16),
            ("SIZEOF_BYTES", 16),
            ("SIZEOF_EVENT", 120),
            ("OFFSETOF_EVENT_TS_MS", 16),
            ("OFFSETOF_EVENT_CLIENT_ID", 24),
            ("OFFSETOF_EVENT_USERNAME", 40),
            ("OFFSETOF_EVENT_TOPIC", 56),
            ("OFFSETOF_EVENT_FROM", 72),
            ("OFFSETOF_EVENT_REASON", 88),
            ("OFFSETOF_EVENT_PAYLOAD", 104),
            ("SIZEOF_COUNTERS", 256),
            ("OFFSETOF_COUNTERS_UNMATCHED", 96),
            ("OFFSETOF_COUNTERS_SPOOL_UNDECODABLE", 248),
            ("SIZEOF_REPORT", 288),
            ("OFFSETOF_REPORT_ELAPSED_MS", 8),
            ("OFFSETOF_REPORT_COUNTERS", 32),
        ];
        assert_eq!(LAYOUT, v1_0);
        assert_eq!(
            layout(16),
            0,
            "a 1.0 host's first unknown item stays unknown"
        );
        assert_eq!(
            LAYOUT_1_1,
            [
                ("SIZEOF_TEMPLATE_COUNTERS", 32),
                ("OFFSETOF_TEMPLATE_COUNTERS_DROPPED_TOPIC_CAP", 24)
            ]
        );
        assert_eq!((layout(1 << 16), layout((1 << 16) + 1)), (32, 24));
        assert_eq!(layout((1 << 16) + 2), 0);
        assert_eq!(layout(2 << 16), 0);
    }

    #[test]
    fn status_names_match_the_table() {
        for (code, name) in STATUS_NAMES {
            assert_eq!(status_name(code).trim_end_matches('\0'), name);
        }
        assert_eq!(status_name(99), "unknown\0");
    }
}
