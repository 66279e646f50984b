//! The seven MQTT broker events the bridge forwards, and the newline-delimited JSON input format of
//! `rocketmq-bridge run`.
//!
//! # NDJSON input format
//!
//! One JSON object per line. `"event"` names the hook; the other fields are named as in the JSON the
//! bridge writes to RocketMQ (see [`format`](mod@super::format)):
//!
//! | field            | type                      | events                                   |
//! |------------------|---------------------------|------------------------------------------|
//! | `event`          | string, required          | all: `client.connected`, `client.disconnected`, `session.subscribed`, `session.unsubscribed`, `message.publish`, `message.delivered`, `message.acked` |
//! | `client_id`      | string                    | all                                      |
//! | `username`       | string                    | client.*, message.*                      |
//! | `reason`         | string                    | client.disconnected                      |
//! | `topic`          | string                    | session.* (the subscription filter), message.* (the topic name, no wildcards) |
//! | `qos`            | integer 0, 1 or 2         | session.*, message.*                     |
//! | `retain`         | boolean                   | message.* (goes to the `mqtt_retain` message property only) |
//! | `from`           | string                    | message.delivered, message.acked (the publisher's client id) |
//! | `payload`        | string (UTF-8 text)       | message.*                                |
//! | `payload_base64` | string (standard base64, padded) | message.* — for binary payloads; not together with `payload` |
//! | `ts`             | integer, ms since the Unix epoch | all; when absent the bridge uses the time it formats the event |
//!
//! Every field but `event` is optional, and `null` counts as absent: an absent field is written as
//! `null` in the output JSON (never guessed). A field that does not apply to the event, an unknown
//! field, a wrong type or an out-of-range value makes the line an error naming the line and the
//! field ([`EventError`]); the `run` command reports it and skips the line.
//!
//! ```text
//! {"event":"client.connected","client_id":"c1","username":"u1","ts":1700000000000}
//! {"event":"message.publish","client_id":"c1","username":"u1","topic":"t/1","qos":1,"payload":"hello"}
//! {"event":"message.publish","client_id":"c1","topic":"t/bin","qos":0,"payload_base64":"AAEC/w=="}
//! ```

//! This file holds the events and the error; the line parser is in `event/parse.rs`.

mod parse;

use bytes::Bytes;
use std::fmt;

/// The longest NDJSON input line accepted, in bytes (16 MiB: a 4 MiB payload in base64 fits
/// with room to spare).
pub const MAX_EVENT_LINE_LEN: usize = 16 * 1024 * 1024;

/// Which hook an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventKind {
    /// `client.connected`: a client finished connecting.
    ClientConnected,
    /// `client.disconnected`: a client went offline.
    ClientDisconnected,
    /// `session.subscribed`: a client subscribed to a topic filter.
    SessionSubscribed,
    /// `session.unsubscribed`: a client unsubscribed from a topic filter.
    SessionUnsubscribed,
    /// `message.publish`: a client published a message.
    MessagePublish,
    /// `message.delivered`: a message was delivered to a subscriber.
    MessageDelivered,
    /// `message.acked`: a subscriber acknowledged a QoS 1/2 message.
    MessageAcked,
}

impl EventKind {
    /// All seven kinds, in the seed's order.
    pub const ALL: [EventKind; 7] = [
        EventKind::ClientConnected,
        EventKind::ClientDisconnected,
        EventKind::SessionSubscribed,
        EventKind::SessionUnsubscribed,
        EventKind::MessagePublish,
        EventKind::MessageDelivered,
        EventKind::MessageAcked,
    ];

    /// The hook name as the config and the input format spell it, e.g. `"client.connected"`.
    pub fn hook_name(self) -> &'static str {
        match self {
            EventKind::ClientConnected => "client.connected",
            EventKind::ClientDisconnected => "client.disconnected",
            EventKind::SessionSubscribed => "session.subscribed",
            EventKind::SessionUnsubscribed => "session.unsubscribed",
            EventKind::MessagePublish => "message.publish",
            EventKind::MessageDelivered => "message.delivered",
            EventKind::MessageAcked => "message.acked",
        }
    }

    /// The kind named by a hook name (`"message.publish"`), or `None`.
    pub fn from_hook_name(name: &str) -> Option<EventKind> {
        // The seven names' lengths differ: one length test picks the one name to compare.
        let b = name.as_bytes();
        let kind = match b.len() {
            16 if is(b, b"client.connected") => EventKind::ClientConnected,
            19 if is(b, b"client.disconnected") => EventKind::ClientDisconnected,
            18 if is(b, b"session.subscribed") => EventKind::SessionSubscribed,
            20 if is(b, b"session.unsubscribed") => EventKind::SessionUnsubscribed,
            15 if is(b, b"message.publish") => EventKind::MessagePublish,
            17 if is(b, b"message.delivered") => EventKind::MessageDelivered,
            13 if is(b, b"message.acked") => EventKind::MessageAcked,
            _ => return None,
        };
        Some(kind)
    }

    /// Position in [`EventKind::ALL`] (0..7), handy for per-kind tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// True for the two `client.*` events, which carry no MQTT topic.
    pub fn is_client_event(self) -> bool {
        matches!(
            self,
            EventKind::ClientConnected | EventKind::ClientDisconnected
        )
    }

    /// True for the three `message.*` events, which carry a payload.
    pub fn is_message_event(self) -> bool {
        matches!(
            self,
            EventKind::MessagePublish | EventKind::MessageDelivered | EventKind::MessageAcked
        )
    }

    /// The input/output field names that apply to this kind, `event` excluded.
    fn fields(self) -> &'static [&'static str] {
        match self {
            EventKind::ClientConnected => &["client_id", "username", "ts"],
            EventKind::ClientDisconnected => &["client_id", "username", "reason", "ts"],
            EventKind::SessionSubscribed | EventKind::SessionUnsubscribed => {
                &["client_id", "topic", "qos", "ts"]
            }
            EventKind::MessagePublish => &[
                "client_id",
                "username",
                "topic",
                "payload",
                "payload_base64",
                "qos",
                "retain",
                "ts",
            ],
            EventKind::MessageDelivered | EventKind::MessageAcked => &[
                "client_id",
                "username",
                "from",
                "topic",
                "payload",
                "payload_base64",
                "qos",
                "retain",
                "ts",
            ],
        }
    }
}

/// `b == want`, compared as one array of a known length (no call to `memcmp`).
#[inline(always)]
fn is<const N: usize>(b: &[u8], want: &[u8; N]) -> bool {
    <&[u8; N]>::try_from(b).is_ok_and(|a| a == want)
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hook_name())
    }
}

/// One MQTT broker event. A field the host could not supply is `None` and is written as `null`.
///
/// Build one with the constructor for its kind, then set what else is known:
///
/// ```
/// use rocketmq_bridge::bridge::Event;
/// let mut ev = Event::message_publish("c1", "sensors/1", "21.5".into(), 1).with_ts(1_700_000_000_000);
/// ev.username = Some("alice".into());
/// ev.retain = Some(false);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// The hook.
    pub kind: EventKind,
    /// The MQTT client id (for `message.delivered`/`acked`: the receiving client).
    pub client_id: Option<String>,
    /// The client's username.
    pub username: Option<String>,
    /// The MQTT topic name (message events) or the subscription's topic filter (session events).
    pub topic: Option<String>,
    /// The message payload (message events).
    pub payload: Option<Bytes>,
    /// The QoS of the message or of the subscription.
    pub qos: Option<u8>,
    /// The message's retain flag (message events; goes to message properties only).
    pub retain: Option<bool>,
    /// The publishing client's id (`message.delivered`, `message.acked`).
    pub from: Option<String>,
    /// Why the client disconnected (`client.disconnected`).
    pub reason: Option<String>,
    /// When the event happened, in milliseconds since the Unix epoch; `None` means "when formatted".
    pub ts: Option<u64>,
    /// The ordering key under `key_dispatch` when `client_id` is `None`: `rocketmq-bridge mqtt`
    /// sets the MQTT topic when the publisher is unknown, so one topic's messages keep their
    /// order. Not written to the JSON and not an NDJSON field; with a spool it is stored in the
    /// record as the client id is, and shown where the client id would be (`not sent: ...`).
    pub order_key: Option<String>,
}

impl Event {
    /// An event of `kind` with every field unknown.
    pub fn new(kind: EventKind) -> Event {
        Event {
            kind,
            client_id: None,
            username: None,
            topic: None,
            payload: None,
            qos: None,
            retain: None,
            from: None,
            reason: None,
            ts: None,
            order_key: None,
        }
    }

    /// `client.connected` for `client_id`, with an optional username.
    pub fn client_connected(client_id: impl Into<String>, username: Option<String>) -> Event {
        let mut ev = Event::new(EventKind::ClientConnected);
        ev.client_id = Some(client_id.into());
        ev.username = username;
        ev
    }

    /// `client.disconnected` for `client_id`, with an optional username and the reason.
    pub fn client_disconnected(
        client_id: impl Into<String>,
        username: Option<String>,
        reason: impl Into<String>,
    ) -> Event {
        let mut ev = Event::new(EventKind::ClientDisconnected);
        ev.client_id = Some(client_id.into());
        ev.username = username;
        ev.reason = Some(reason.into());
        ev
    }

    /// `session.subscribed`: `client_id` subscribed to `filter` with `qos`.
    pub fn session_subscribed(
        client_id: impl Into<String>,
        filter: impl Into<String>,
        qos: u8,
    ) -> Event {
        let mut ev = Event::new(EventKind::SessionSubscribed);
        ev.client_id = Some(client_id.into());
        ev.topic = Some(filter.into());
        ev.qos = Some(qos);
        ev
    }

    /// `session.unsubscribed`: `client_id` unsubscribed from `filter` (whose QoS may be unknown to
    /// the host: MQTT's UNSUBSCRIBE carries none).
    pub fn session_unsubscribed(
        client_id: impl Into<String>,
        filter: impl Into<String>,
        qos: Option<u8>,
    ) -> Event {
        let mut ev = Event::new(EventKind::SessionUnsubscribed);
        ev.client_id = Some(client_id.into());
        ev.topic = Some(filter.into());
        ev.qos = qos;
        ev
    }

    /// `message.publish`: `client_id` published `payload` on `topic` with `qos`.
    pub fn message_publish(
        client_id: impl Into<String>,
        topic: impl Into<String>,
        payload: Bytes,
        qos: u8,
    ) -> Event {
        let mut ev = Event::new(EventKind::MessagePublish);
        ev.client_id = Some(client_id.into());
        ev.topic = Some(topic.into());
        ev.payload = Some(payload);
        ev.qos = Some(qos);
        ev
    }

    /// `message.delivered`: a message from `from` on `topic` was delivered to `client_id`.
    pub fn message_delivered(
        client_id: impl Into<String>,
        from: impl Into<String>,
        topic: impl Into<String>,
        payload: Bytes,
        qos: u8,
    ) -> Event {
        let mut ev = Event::message_publish(client_id, topic, payload, qos);
        ev.kind = EventKind::MessageDelivered;
        ev.from = Some(from.into());
        ev
    }

    /// `message.acked`: `client_id` acknowledged a message from `from` on `topic`.
    pub fn message_acked(
        client_id: impl Into<String>,
        from: impl Into<String>,
        topic: impl Into<String>,
        payload: Bytes,
        qos: u8,
    ) -> Event {
        let mut ev = Event::message_delivered(client_id, from, topic, payload, qos);
        ev.kind = EventKind::MessageAcked;
        ev
    }

    /// Sets the timestamp (ms since the Unix epoch).
    pub fn with_ts(mut self, ts_ms: u64) -> Event {
        self.ts = Some(ts_ms);
        self
    }

    /// Sets the username.
    pub fn with_username(mut self, username: impl Into<String>) -> Event {
        self.username = Some(username.into());
        self
    }

    /// Sets the retain flag.
    pub fn with_retain(mut self, retain: bool) -> Event {
        self.retain = Some(retain);
        self
    }

    /// Bytes the event holds on the heap, roughly (strings and payload); used for memory budgets.
    pub fn heap_size(&self) -> usize {
        let s = |o: &Option<String>| o.as_ref().map_or(0, |s| s.len());
        s(&self.client_id)
            + s(&self.username)
            + s(&self.topic)
            + s(&self.from)
            + s(&self.reason)
            + s(&self.order_key)
            + self.payload.as_ref().map_or(0, |p| p.len())
    }
}

/// A line of NDJSON input that is not a valid event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    /// The line number (from 1).
    pub line: u64,
    /// The field at fault, when there is one.
    pub field: Option<String>,
    /// What is wrong.
    pub kind: EventErrorKind,
}

/// What is wrong with an input line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventErrorKind {
    /// The line is longer than [`MAX_EVENT_LINE_LEN`].
    LineTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The line is not JSON.
    InvalidJson {
        /// The 1-based column where parsing failed.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// The JSON is not an object.
    NotAnObject,
    /// A required field is absent or null.
    Missing,
    /// `event` names no known hook.
    UnknownEvent(String),
    /// A field this format does not define.
    UnknownField,
    /// A field that exists but does not apply to this event kind.
    NotApplicable(EventKind),
    /// The value has the wrong JSON type; carries what was expected.
    WrongType(&'static str),
    /// The number is out of range; carries the valid range.
    OutOfRange(&'static str),
    /// The topic is not acceptable; carries why.
    InvalidTopic(&'static str),
    /// Both `payload` and `payload_base64` are given.
    BothPayloads,
    /// `payload_base64` is not valid standard base64.
    InvalidBase64(String),
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field \"{field}\": ")?;
        }
        match &self.kind {
            EventErrorKind::LineTooLong { len } => {
                write!(
                    f,
                    "line is {len} bytes, more than the limit of {MAX_EVENT_LINE_LEN}"
                )
            }
            EventErrorKind::InvalidJson { message, .. } => write!(f, "invalid JSON: {message}"),
            EventErrorKind::NotAnObject => write!(f, "expected a JSON object"),
            EventErrorKind::Missing => write!(f, "required field is missing"),
            EventErrorKind::UnknownEvent(name) => write!(
                f,
                "unknown event {name:?}; expected one of client.connected, client.disconnected, \
                 session.subscribed, session.unsubscribed, message.publish, message.delivered, \
                 message.acked"
            ),
            EventErrorKind::UnknownField => write!(f, "unknown field"),
            EventErrorKind::NotApplicable(kind) => write!(f, "does not apply to {kind} events"),
            EventErrorKind::WrongType(expected) => write!(f, "expected {expected}"),
            EventErrorKind::OutOfRange(range) => write!(f, "out of range, expected {range}"),
            EventErrorKind::InvalidTopic(why) => write!(f, "invalid topic: {why}"),
            EventErrorKind::BothPayloads => {
                write!(f, "give either payload or payload_base64, not both")
            }
            EventErrorKind::InvalidBase64(why) => write!(f, "invalid base64: {why}"),
        }
    }
}

impl std::error::Error for EventError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_names_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::from_hook_name(k.hook_name()), Some(k));
            assert_eq!(EventKind::ALL[k.index()], k);
        }
        assert_eq!(EventKind::from_hook_name("message.dropped"), None);
        // Names of a known name's length, and known names cut or extended by one byte.
        for name in [
            "message.publisH",
            "client.connecteD",
            "message.ackee",
            "",
            "message.publish ",
        ] {
            assert_eq!(EventKind::from_hook_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn heap_size_counts_strings_and_payload() {
        let ev = Event::message_delivered("ab", "cde", "t/1", Bytes::from_static(b"12345"), 0);
        assert_eq!(ev.heap_size(), 2 + 3 + 3 + 5);
    }
}
