//! The NDJSON line parser of [`Event::from_json_line`] (the format is in the module docs of
//! [`super`]): one pass over the line into each field's raw value ([`RawLine`]), by the
//! hand-written path for the usual line (`parse/fast.rs`) or by serde_json for any other, then
//! the checks of the values; and, for the tests, the reference parser that reads a
//! `serde_json::Value` first.

use super::{Event, EventError, EventErrorKind, EventKind, MAX_EVENT_LINE_LEN};
use base64::Engine as _;
use bytes::Bytes;
use fast::fast_raw_line;
use serde_core::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
#[cfg(test)]
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

impl Event {
    /// Parses one line of the NDJSON input format (see the [module docs](super)).
    ///
    /// `line_no` (counting from 1) is only used in errors.
    ///
    /// # Errors
    /// An [`EventError`] naming the line and, where there is one, the field.
    pub fn from_json_line(line: &str, line_no: u64) -> Result<Event, EventError> {
        let mut ev = Event::new(EventKind::ClientConnected);
        ev.parse_line(line, line_no, true)?;
        Ok(ev)
    }

    /// [`Event::from_json_line`] into this event, reusing its strings' buffers: a host that
    /// parses line after line into one `Event` allocates no client id, username or topic per
    /// line, and no text payload of the last one's length when nothing else holds the last one
    /// any more (a payload the host or the bridge still holds is left as it is). Every field is set from the line (a field the line lacks becomes `None`, and so does
    /// [`Event::order_key`]). On error the event's fields are unspecified (parse into it again or
    /// drop it).
    ///
    /// # Errors
    /// As [`Event::from_json_line`].
    pub fn read_json_line(&mut self, line: &str, line_no: u64) -> Result<(), EventError> {
        self.parse_line(line, line_no, true)
    }

    /// [`Event::from_json_line`] without its hand-written path for the usual line: every line
    /// through serde_json. For the fuzz oracle `event_line`, which holds the two equal.
    #[doc(hidden)]
    pub fn from_json_line_without_fast_path(line: &str, line_no: u64) -> Result<Event, EventError> {
        let mut ev = Event::new(EventKind::ClientConnected);
        ev.parse_line(line, line_no, false)?;
        Ok(ev)
    }

    #[inline(always)]
    fn parse_line(&mut self, line: &str, line_no: u64, fast: bool) -> Result<(), EventError> {
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
        // The usual line takes the hand-written path; anything it does not take (escapes, floats,
        // nesting, any syntax error) goes through serde_json, which also words the errors.
        let mut raw = RawLine::default();
        if !(fast && fast_raw_line(line, &mut raw).is_some()) {
            let mut de = serde_json::Deserializer::from_str(line);
            let parsed = serde_core::Deserializer::deserialize_any(&mut de, LineVisitor)
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
            let Some(parsed) = parsed else {
                return Err(err(None, EventErrorKind::NotAnObject));
            };
            raw = parsed;
        }
        let kind = match raw.take(Field::Event) {
            None | Some(Scalar::Null) => return Err(err(Some("event"), EventErrorKind::Missing)),
            Some(Scalar::Kind(kind)) => kind,
            Some(Scalar::Str(name)) => EventKind::from_hook_name(&name).ok_or_else(|| {
                err(
                    Some("event"),
                    EventErrorKind::UnknownEvent(name.into_owned()),
                )
            })?,
            Some(_) => return Err(err(Some("event"), EventErrorKind::WrongType("a string"))),
        };
        // The first field (in byte order of the names) that the event does not have; `event`
        // itself was taken out of `raw` above. The usual line has none, which one mask test
        // shows; only a line that has one pays for finding which.
        if raw.present & !field_mask(kind) != 0 || !raw.unknown.is_empty() {
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
        }

        let ev = self;
        ev.kind = kind;
        ev.order_key = None;
        macro_rules! text {
            ($raw:expr, $f:expr) => {
                $raw.string($f).map_err(|k| err(Some($f.name()), k))
            };
        }
        for (slot, f) in [
            (&mut ev.client_id, Field::ClientId),
            (&mut ev.username, Field::Username),
            (&mut ev.reason, Field::Reason),
            (&mut ev.from, Field::From),
            (&mut ev.topic, Field::Topic),
        ] {
            set_text(slot, raw.take(f)).map_err(|k| err(Some(f.name()), k))?;
        }
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
        let payload = text!(raw, Field::Payload)?;
        let payload_b64 = text!(raw, Field::PayloadBase64)?;
        let old = ev.payload.take();
        ev.payload =
            payload_of(payload, payload_b64, old).map_err(|k| err(Some("payload_base64"), k))?;
        Ok(())
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
        ev.payload = payload_of(text.map(Cow::Owned), b64.map(Cow::Owned), None)
            .map_err(|k| err(Some("payload_base64"), k))?;
        Ok(ev)
    }
}

/// Largest buffer of an event's text field that [`set_text`] reuses: enough for any usual client
/// id, username or topic. A larger one (left by a line with a huge value) is replaced, so a
/// reused event holds no more than the last line's values, as a fresh event per line did.
const REUSE_MAX_CAPACITY: usize = 1024;

/// Sets an event's text field from a field's parsed value (`None` or `null`: unknown), reusing
/// the field's buffer when it has one of at most [`REUSE_MAX_CAPACITY`] bytes.
#[inline]
fn set_text(slot: &mut Option<String>, v: Option<Scalar<'_>>) -> Result<(), EventErrorKind> {
    match v {
        None | Some(Scalar::Null) => *slot = None,
        Some(Scalar::Str(Cow::Borrowed(v))) => match slot {
            Some(s) if s.capacity() <= REUSE_MAX_CAPACITY => {
                s.clear();
                s.push_str(v);
            }
            _ => *slot = Some(v.to_owned()),
        },
        Some(Scalar::Str(Cow::Owned(v))) => *slot = Some(v),
        Some(_) => return Err(EventErrorKind::WrongType("a string")),
    }
    Ok(())
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
/// `old` is the payload the event held before this line: a text payload of its length is copied
/// into its buffer when nothing else holds that any more (see [`reuse_or_copy`]).
fn payload_of(
    text: Option<Cow<'_, str>>,
    b64: Option<Cow<'_, str>>,
    old: Option<Bytes>,
) -> Result<Option<Bytes>, EventErrorKind> {
    match (text, b64) {
        (Some(_), Some(_)) => Err(EventErrorKind::BothPayloads),
        (Some(Cow::Borrowed(t)), None) => Ok(Some(reuse_or_copy(old, t.as_bytes()))),
        (Some(Cow::Owned(t)), None) => Ok(Some(Bytes::from(t))),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b.as_bytes())
            .map(|v| Some(Bytes::from(v)))
            .map_err(|e| EventErrorKind::InvalidBase64(e.to_string())),
        (None, None) => Ok(None),
    }
}

/// `data` as `Bytes`: in `old`'s buffer when `old` has `data`'s length and is its buffer's only
/// handle (the bridge dropped the message it was formatted into, or never kept it), else in a
/// new buffer. A host that parses line after line into one event (`run`) then allocates no payload
/// per line while the payloads keep one length, and the buffer never outgrows the payload it holds
/// (a buffer the bridge still holds is never written to: `try_into_mut` refuses it).
fn reuse_or_copy(old: Option<Bytes>, data: &[u8]) -> Bytes {
    match old.map(Bytes::try_into_mut) {
        Some(Ok(mut buf)) if buf.len() == data.len() && !data.is_empty() => {
            buf.copy_from_slice(data);
            buf.freeze()
        }
        _ => Bytes::copy_from_slice(data),
    }
}

/// The fields that apply to `kind` (its [`EventKind::fields`] and `event`), one bit per
/// [`Field`] ([`Field::bit`]).
fn field_mask(kind: EventKind) -> u16 {
    use Field::*;
    let fields: &[Field] = match kind {
        EventKind::ClientConnected => &[ClientId, Username, Ts],
        EventKind::ClientDisconnected => &[ClientId, Username, Reason, Ts],
        EventKind::SessionSubscribed | EventKind::SessionUnsubscribed => {
            &[ClientId, Topic, Qos, Ts]
        }
        EventKind::MessagePublish => &[
            ClientId,
            Username,
            Topic,
            Payload,
            PayloadBase64,
            Qos,
            Retain,
            Ts,
        ],
        EventKind::MessageDelivered | EventKind::MessageAcked => &[
            ClientId,
            Username,
            From,
            Topic,
            Payload,
            PayloadBase64,
            Qos,
            Retain,
            Ts,
        ],
    };
    fields.iter().fold(Event.bit(), |m, f| m | f.bit())
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

    /// The field named `name`: a length test, then a comparison with the one or two names of
    /// that length.
    #[inline]
    fn of(name: &str) -> Option<Field> {
        use super::is;
        let b = name.as_bytes();
        let f = match b.len() {
            2 if is(b, b"ts") => Field::Ts,
            3 if is(b, b"qos") => Field::Qos,
            4 if is(b, b"from") => Field::From,
            5 if is(b, b"event") => Field::Event,
            5 if is(b, b"topic") => Field::Topic,
            6 if is(b, b"reason") => Field::Reason,
            6 if is(b, b"retain") => Field::Retain,
            7 if is(b, b"payload") => Field::Payload,
            8 if is(b, b"username") => Field::Username,
            9 if is(b, b"client_id") => Field::ClientId,
            14 if is(b, b"payload_base64") => Field::PayloadBase64,
            _ => return None,
        };
        Some(f)
    }

    /// This field's bit in [`RawLine::present`] and [`field_mask`].
    fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A field's value as parsed, before its type is checked. Numbers keep only what the checks need
/// (as `serde_json::Value::as_u64` sees them: a non-negative integer, or not).
#[derive(Debug)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    UInt(u64),
    NegInt,
    Float,
    /// Borrowed from the line when the fast path read it, owned when serde_json did.
    Str(Cow<'a, str>),
    /// The `event` field's value when it names a known event (no copy of the name is made).
    Kind(EventKind),
    /// An array or an object (always the wrong type here).
    Composite,
}

/// The values of one line: the last value of each known field, and the names of unknown ones.
#[derive(Default, Debug)]
struct RawLine<'a> {
    values: [Option<Scalar<'a>>; 11],
    /// One bit per field of `values` that was set ([`Field::bit`]).
    present: u16,
    unknown: Vec<String>,
}

impl<'a> RawLine<'a> {
    fn set(&mut self, f: Field, value: Scalar<'a>) {
        self.values[f as usize] = Some(value);
        self.present |= f.bit();
    }

    fn take(&mut self, f: Field) -> Option<Scalar<'a>> {
        self.values[f as usize].take()
    }

    fn string(&mut self, f: Field) -> Result<Option<Cow<'a, str>>, EventErrorKind> {
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
    type Value = Option<RawLine<'static>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw = RawLine::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(ScalarSeed {
                event: key == Ok(Field::Event),
            })?;
            match key {
                Ok(f) => raw.set(f, value),
                Err(name) => raw.unknown.push(name),
            }
        }
        Ok(Some(raw))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element_seed(ScalarSeed::ANY)?.is_some() {}
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
struct ScalarSeed {
    /// The value of the `event` field: a known event name becomes [`Scalar::Kind`].
    event: bool,
}

impl ScalarSeed {
    const ANY: ScalarSeed = ScalarSeed { event: false };
}

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'static>;

    fn deserialize<D: serde_core::Deserializer<'de>>(
        self,
        d: D,
    ) -> Result<Scalar<'static>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = Scalar<'static>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'static>, E> {
        Ok(Scalar::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar<'static>, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'static>, E> {
        Ok(Scalar::UInt(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'static>, E> {
        Ok(u64::try_from(v).map_or(Scalar::NegInt, Scalar::UInt))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar<'static>, E> {
        Ok(Scalar::Float)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'static>, E> {
        if self.event {
            if let Some(kind) = EventKind::from_hook_name(v) {
                return Ok(Scalar::Kind(kind));
            }
        }
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'static>, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }

    // Nested values are parsed as fully as a `serde_json::Value` would be (strings included), so
    // that a syntax error in them is reported at the same column.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'static>, A::Error> {
        while seq.next_element_seed(ScalarSeed::ANY)?.is_some() {}
        Ok(Scalar::Composite)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'static>, A::Error> {
        while map.next_key_seed(KeySeed)?.is_some() {
            map.next_value_seed(ScalarSeed::ANY)?;
        }
        Ok(Scalar::Composite)
    }
}

/// Refuses an empty topic, a NUL in it (the first error when there are both), and for a message
/// event the wildcards `+` and `#`. One pass over the topic, eight bytes at a time.
fn check_topic(kind: EventKind, topic: &str) -> Result<(), EventErrorKind> {
    if topic.is_empty() {
        return Err(EventErrorKind::InvalidTopic("is empty"));
    }
    use crate::util::{zero_bytes as zero, ONES};
    let (mut nul, mut wild) = (0u64, 0u64);
    let mut words = topic.as_bytes().chunks_exact(8);
    let mut scan = |w: u64| {
        nul |= zero(w);
        wild |= zero(w ^ (ONES * u64::from(b'+'))) | zero(w ^ (ONES * u64::from(b'#')));
    };
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        scan(u64::from_le_bytes(word));
    }
    // The last few bytes padded with a byte none of the tests flags.
    let mut word = [b'a'; 8];
    word[..words.remainder().len()].copy_from_slice(words.remainder());
    scan(u64::from_le_bytes(word));
    if nul != 0 {
        return Err(EventErrorKind::InvalidTopic("contains NUL"));
    }
    if kind.is_message_event() && wild != 0 {
        return Err(EventErrorKind::InvalidTopic(
            "a message's topic name cannot contain the wildcards '+' or '#'",
        ));
    }
    Ok(())
}

mod fast;
#[cfg(test)]
mod tests;
