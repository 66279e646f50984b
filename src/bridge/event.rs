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

use base64::Engine as _;
use bytes::Bytes;
use serde_core::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
#[cfg(test)]
use serde_json::{Map, Value};
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
        EventKind::ALL.into_iter().find(|k| k.hook_name() == name)
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
            + self.payload.as_ref().map_or(0, |p| p.len())
    }

    /// Parses one line of the NDJSON input format (see the [module docs](self)).
    ///
    /// `line_no` (counting from 1) is only used in errors.
    ///
    /// # Errors
    /// An [`EventError`] naming the line and, where there is one, the field.
    pub fn from_json_line(line: &str, line_no: u64) -> Result<Event, EventError> {
        let err = |field: Option<&str>, kind: EventErrorKind| EventError {
            line: line_no,
            field: field.map(str::to_owned),
            kind,
        };
        if line.len() > MAX_EVENT_LINE_LEN {
            return Err(err(None, EventErrorKind::LineTooLong { len: line.len() }));
        }
        // One pass over the line into the fields' raw values: no tree of maps and strings. A
        // syntax error anywhere wins over any field error, as when the whole line is parsed first.
        let mut de = serde_json::Deserializer::from_str(line);
        let raw = serde_core::Deserializer::deserialize_any(&mut de, LineVisitor)
            .and_then(|raw| de.end().map(|()| raw))
            .map_err(|e| {
                err(
                    None,
                    EventErrorKind::InvalidJson {
                        column: e.column(),
                        message: e.to_string(),
                    },
                )
            })?;
        let Some(mut raw) = raw else {
            return Err(err(None, EventErrorKind::NotAnObject));
        };
        let kind = match raw.take(Field::Event) {
            None | Some(Scalar::Null) => return Err(err(Some("event"), EventErrorKind::Missing)),
            Some(Scalar::Str(name)) => EventKind::from_hook_name(&name)
                .ok_or_else(|| err(Some("event"), EventErrorKind::UnknownEvent(name.clone())))?,
            Some(_) => return Err(err(Some("event"), EventErrorKind::WrongType("a string"))),
        };
        // The first field (in byte order of the names) that the event does not have; `event`
        // itself was taken out of `raw` above.
        let allowed = kind.fields();
        let offending = Field::ALL
            .iter()
            .filter(|f| raw.values[**f as usize].is_some())
            .map(|f| f.name())
            .filter(|name| !allowed.contains(name))
            .chain(raw.unknown.iter().map(String::as_str))
            .min();
        if let Some(key) = offending {
            let known = EventKind::ALL.iter().any(|k| k.fields().contains(&key));
            let kind_err = if known {
                EventErrorKind::NotApplicable(kind)
            } else {
                EventErrorKind::UnknownField
            };
            return Err(err(Some(key), kind_err));
        }

        let mut ev = Event::new(kind);
        let text = |raw: &mut RawLine, f: Field| raw.string(f).map_err(|k| err(Some(f.name()), k));
        ev.client_id = text(&mut raw, Field::ClientId)?;
        ev.username = text(&mut raw, Field::Username)?;
        ev.reason = text(&mut raw, Field::Reason)?;
        ev.from = text(&mut raw, Field::From)?;
        ev.topic = text(&mut raw, Field::Topic)?;
        if let Some(topic) = &ev.topic {
            check_topic(kind, topic).map_err(|k| err(Some("topic"), k))?;
        }
        ev.qos = match raw.take(Field::Qos) {
            None | Some(Scalar::Null) => None,
            Some(Scalar::UInt(q @ 0..=2)) => Some(q as u8),
            Some(Scalar::UInt(_) | Scalar::NegInt | Scalar::Float) => {
                return Err(err(Some("qos"), EventErrorKind::OutOfRange("0, 1 or 2")))
            }
            Some(_) => {
                return Err(err(
                    Some("qos"),
                    EventErrorKind::WrongType("an integer 0, 1 or 2"),
                ))
            }
        };
        ev.retain = match raw.take(Field::Retain) {
            None | Some(Scalar::Null) => None,
            Some(Scalar::Bool(b)) => Some(b),
            Some(_) => return Err(err(Some("retain"), EventErrorKind::WrongType("a boolean"))),
        };
        ev.ts = match raw.take(Field::Ts) {
            None | Some(Scalar::Null) => None,
            Some(Scalar::UInt(t)) => Some(t),
            Some(Scalar::NegInt | Scalar::Float) => {
                return Err(err(
                    Some("ts"),
                    EventErrorKind::OutOfRange("a non-negative integer of milliseconds"),
                ))
            }
            Some(_) => {
                return Err(err(
                    Some("ts"),
                    EventErrorKind::WrongType("an integer (ms)"),
                ))
            }
        };
        let payload = text(&mut raw, Field::Payload)?;
        let payload_b64 = text(&mut raw, Field::PayloadBase64)?;
        ev.payload =
            payload_of(payload, payload_b64).map_err(|k| err(Some("payload_base64"), k))?;
        Ok(ev)
    }

    /// The first implementation of [`Event::from_json_line`], through a `serde_json::Value` tree:
    /// the oracle the streaming parser is checked against.
    #[cfg(test)]
    pub(crate) fn from_json_line_via_value(line: &str, line_no: u64) -> Result<Event, EventError> {
        let err = |field: Option<&str>, kind: EventErrorKind| EventError {
            line: line_no,
            field: field.map(str::to_owned),
            kind,
        };
        if line.len() > MAX_EVENT_LINE_LEN {
            return Err(err(None, EventErrorKind::LineTooLong { len: line.len() }));
        }
        let value: Value = serde_json::from_str(line).map_err(|e| {
            err(
                None,
                EventErrorKind::InvalidJson {
                    column: e.column(),
                    message: e.to_string(),
                },
            )
        })?;
        let Value::Object(obj) = value else {
            return Err(err(None, EventErrorKind::NotAnObject));
        };
        let kind = match obj.get("event") {
            None | Some(Value::Null) => return Err(err(Some("event"), EventErrorKind::Missing)),
            Some(Value::String(name)) => EventKind::from_hook_name(name)
                .ok_or_else(|| err(Some("event"), EventErrorKind::UnknownEvent(name.clone())))?,
            Some(_) => return Err(err(Some("event"), EventErrorKind::WrongType("a string"))),
        };
        let allowed = kind.fields();
        for key in obj.keys() {
            if key == "event" || allowed.contains(&key.as_str()) {
                continue;
            }
            let known = EventKind::ALL
                .iter()
                .any(|k| k.fields().contains(&key.as_str()));
            let kind_err = if known {
                EventErrorKind::NotApplicable(kind)
            } else {
                EventErrorKind::UnknownField
            };
            return Err(err(Some(key), kind_err));
        }

        let mut ev = Event::new(kind);
        ev.client_id = opt_string(&obj, "client_id").map_err(|k| err(Some("client_id"), k))?;
        ev.username = opt_string(&obj, "username").map_err(|k| err(Some("username"), k))?;
        ev.reason = opt_string(&obj, "reason").map_err(|k| err(Some("reason"), k))?;
        ev.from = opt_string(&obj, "from").map_err(|k| err(Some("from"), k))?;
        ev.topic = opt_string(&obj, "topic").map_err(|k| err(Some("topic"), k))?;
        if let Some(topic) = &ev.topic {
            check_topic(kind, topic).map_err(|k| err(Some("topic"), k))?;
        }
        ev.qos = match obj.get("qos") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(q @ 0..=2) => Some(q as u8),
                _ => return Err(err(Some("qos"), EventErrorKind::OutOfRange("0, 1 or 2"))),
            },
            Some(_) => {
                return Err(err(
                    Some("qos"),
                    EventErrorKind::WrongType("an integer 0, 1 or 2"),
                ))
            }
        };
        ev.retain = match obj.get("retain") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(err(Some("retain"), EventErrorKind::WrongType("a boolean"))),
        };
        ev.ts = match obj.get("ts") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(t) => Some(t),
                None => {
                    return Err(err(
                        Some("ts"),
                        EventErrorKind::OutOfRange("a non-negative integer of milliseconds"),
                    ))
                }
            },
            Some(_) => {
                return Err(err(
                    Some("ts"),
                    EventErrorKind::WrongType("an integer (ms)"),
                ))
            }
        };
        let text = opt_string(&obj, "payload").map_err(|k| err(Some("payload"), k))?;
        let b64 = opt_string(&obj, "payload_base64").map_err(|k| err(Some("payload_base64"), k))?;
        ev.payload = payload_of(text, b64).map_err(|k| err(Some("payload_base64"), k))?;
        Ok(ev)
    }
}

#[cfg(test)]
fn opt_string(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, EventErrorKind> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(EventErrorKind::WrongType("a string")),
    }
}

/// The payload from `payload` (UTF-8 text) or `payload_base64`; an error is the latter field's.
fn payload_of(text: Option<String>, b64: Option<String>) -> Result<Option<Bytes>, EventErrorKind> {
    match (text, b64) {
        (Some(_), Some(_)) => Err(EventErrorKind::BothPayloads),
        (Some(t), None) => Ok(Some(Bytes::from(t))),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b.as_bytes())
            .map(|v| Some(Bytes::from(v)))
            .map_err(|e| EventErrorKind::InvalidBase64(e.to_string())),
        (None, None) => Ok(None),
    }
}

/// The fields of the input format; the discriminant indexes [`RawLine::values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Event,
    ClientId,
    Username,
    Reason,
    From,
    Topic,
    Qos,
    Retain,
    Ts,
    Payload,
    PayloadBase64,
}

impl Field {
    const ALL: [Field; 11] = [
        Field::Event,
        Field::ClientId,
        Field::Username,
        Field::Reason,
        Field::From,
        Field::Topic,
        Field::Qos,
        Field::Retain,
        Field::Ts,
        Field::Payload,
        Field::PayloadBase64,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::Event => "event",
            Field::ClientId => "client_id",
            Field::Username => "username",
            Field::Reason => "reason",
            Field::From => "from",
            Field::Topic => "topic",
            Field::Qos => "qos",
            Field::Retain => "retain",
            Field::Ts => "ts",
            Field::Payload => "payload",
            Field::PayloadBase64 => "payload_base64",
        }
    }

    fn of(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// A field's value as parsed, before its type is checked. Numbers keep only what the checks need
/// (as `serde_json::Value::as_u64` sees them: a non-negative integer, or not).
#[derive(Debug)]
enum Scalar {
    Null,
    Bool(bool),
    UInt(u64),
    NegInt,
    Float,
    Str(String),
    /// An array or an object (always the wrong type here).
    Composite,
}

/// The values of one line: the last value of each known field, and the names of unknown ones.
#[derive(Default)]
struct RawLine {
    values: [Option<Scalar>; 11],
    unknown: Vec<String>,
}

impl RawLine {
    fn take(&mut self, f: Field) -> Option<Scalar> {
        self.values[f as usize].take()
    }

    fn string(&mut self, f: Field) -> Result<Option<String>, EventErrorKind> {
        match self.take(f) {
            None | Some(Scalar::Null) => Ok(None),
            Some(Scalar::Str(s)) => Ok(Some(s)),
            Some(_) => Err(EventErrorKind::WrongType("a string")),
        }
    }
}

/// The whole line: `Some` fields for an object, `None` for any other JSON value (consumed, so
/// that a syntax error in it is still reported as one).
struct LineVisitor;

impl<'de> Visitor<'de> for LineVisitor {
    type Value = Option<RawLine>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw = RawLine::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(ScalarSeed)?;
            match key {
                Ok(f) => raw.values[f as usize] = Some(value),
                Err(name) => raw.unknown.push(name),
            }
        }
        Ok(Some(raw))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element_seed(ScalarSeed)?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A key: a known field, or the unknown name.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Result<Field, String>;

    fn deserialize<D: serde_core::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Result<Field, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::of(v).ok_or_else(|| v.to_owned()))
    }
}

/// A value, of any JSON type.
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar;

    fn deserialize<D: serde_core::Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::UInt(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(u64::try_from(v).map_or(Scalar::NegInt, Scalar::UInt))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }

    // Nested values are parsed as fully as a `serde_json::Value` would be (strings included), so
    // that a syntax error in them is reported at the same column.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element_seed(ScalarSeed)?.is_some() {}
        Ok(Scalar::Composite)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_key_seed(KeySeed)?.is_some() {
            map.next_value_seed(ScalarSeed)?;
        }
        Ok(Scalar::Composite)
    }
}

fn check_topic(kind: EventKind, topic: &str) -> Result<(), EventErrorKind> {
    if topic.is_empty() {
        return Err(EventErrorKind::InvalidTopic("is empty"));
    }
    if topic.contains('\0') {
        return Err(EventErrorKind::InvalidTopic("contains NUL"));
    }
    if kind.is_message_event() && topic.contains(['+', '#']) {
        return Err(EventErrorKind::InvalidTopic(
            "a message's topic name cannot contain the wildcards '+' or '#'",
        ));
    }
    Ok(())
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

    /// Lines for the parser comparison: every shape of the input format, good and bad.
    const SAMPLE_LINES: &[&str] = &[
        r#"{"event":"client.connected","client_id":"c1","username":"u1","ts":1700000000000}"#,
        r#"{"event":"client.disconnected","client_id":"c1","username":"u1","reason":"normal"}"#,
        r#"{"event":"session.subscribed","client_id":"c1","topic":"a/+/#","qos":2}"#,
        r#"{"event":"session.unsubscribed","client_id":"c1","topic":"a/b","qos":0,"ts":5}"#,
        r#"{"event":"message.publish","client_id":"c1","username":"u","topic":"t/1","qos":1,"retain":true,"payload":"h\u00e9\"llo\n"}"#,
        r#"{"event":"message.delivered","client_id":"c2","from":"c1","topic":"t/1","qos":1,"payload_base64":"AAEC/w=="}"#,
        r#"{"event":"message.acked","client_id":"c2","username":null,"from":"c1","topic":"t","qos":null,"retain":null,"ts":null}"#,
        r#" { "event" : "message.publish" , "qos" : -0 , "ts" : 0 } "#,
        r#"{"event":"message.publish","qos":1,"qos":7}"#,
        r#"{"event":"message.publish","qos":7,"qos":1}"#,
        r#"{"event":"client.connected","zz":1,"topic":"t","aa":[1,{"b":2}]}"#,
        r#"{"event":"client.connected","topic":"t","from":"x"}"#,
        r#"{"event":"message.publish","ts":18446744073709551615,"qos":2.0}"#,
        r#"{"event":"message.publish","ts":18446744073709551616}"#,
        r#"{"event":"message.publish","ts":1e3}"#,
        r#"{"event":"message.publish","topic":"a/#","payload":5}"#,
        r#"{"event":"message.publish","payload":"a","payload_base64":"YQ=="}"#,
        r#"{"event":"message.publish","payload_base64":"YQ"}"#,
        r#"{"event":"message.publish","retain":"yes","qos":"1"}"#,
        r#"{"event":"session.subscribed","topic":"a\u0000b"}"#,
        r#"{"event":"message.dropped"}"#,
        r#"{"event":7}"#,
        r#"{"event":null,"client_id":"c"}"#,
        r#"{"client_id":"c1"}"#,
        r#"["client.connected"]"#,
        r#"[1,2"#,
        r#""client.connected""#,
        r#"12"#,
        r#"true"#,
        r#"null"#,
        r#"{}"#,
        r#"{"event":"client.connected"} x"#,
        r#"{"event":"client.connected""#,
        r#"{"event":"client.connected",}"#,
        r#"{"event":"client.connected","client_id":"\ud800"}"#,
        r#"{"event":"client.connected","client_id":"\ud83d\ude00"}"#,
        r#"{"event":"client.connected","client_id":"bad \q escape"}"#,
        "",
        "   ",
    ];

    /// The streaming parser gives exactly what parsing into a `serde_json::Value` first gave:
    /// the same events, and the same errors (kind, field, JSON error message and column), on the
    /// sample lines and on thousands of mutations of them.
    #[test]
    fn streaming_parser_matches_the_value_tree_parser() {
        let check = |line: &str| {
            assert_eq!(
                Event::from_json_line(line, 3),
                Event::from_json_line_via_value(line, 3),
                "line {line:?}"
            );
        };
        for line in SAMPLE_LINES {
            check(line);
        }
        // Deterministic mutations: delete, duplicate or replace a byte with a JSON-significant one.
        const BYTES: &[u8] = b"{}[]\":,\\ -.0129aeEnt\x01";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut checked = 0;
        for _ in 0..20_000 {
            let mut b = SAMPLE_LINES[next(SAMPLE_LINES.len())].as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                if b.is_empty() {
                    break;
                }
                let i = next(b.len());
                match next(3) {
                    0 => {
                        b.remove(i);
                    }
                    1 => b.insert(i, b[i]),
                    _ => b[i] = BYTES[next(BYTES.len())],
                }
            }
            if let Ok(line) = std::str::from_utf8(&b) {
                check(line);
                checked += 1;
            }
        }
        assert!(checked > 15_000, "only {checked} mutated lines were UTF-8");
    }

    #[test]
    fn hook_names_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::from_hook_name(k.hook_name()), Some(k));
            assert_eq!(EventKind::ALL[k.index()], k);
        }
        assert_eq!(EventKind::from_hook_name("message.dropped"), None);
    }

    #[test]
    fn heap_size_counts_strings_and_payload() {
        let ev = Event::message_delivered("ab", "cde", "t/1", Bytes::from_static(b"12345"), 0);
        assert_eq!(ev.heap_size(), 2 + 3 + 3 + 5);
    }
}
