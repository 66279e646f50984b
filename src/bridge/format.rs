//! The JSON body of each forwarded event, exactly as `emqx_bridge_rocket` documents it, and the MQTT
//! metadata copied into RocketMQ message properties.
//!
//! # JSON per event
//!
//! Compact JSON (no spaces), fields in the seed's order. `ts` is milliseconds since the Unix epoch
//! (the event's own `ts`, or the time of formatting when the host gave none). `node` is
//! `bridge.rocket.node`. A field the host could not supply is `null`.
//!
//! | event                  | fields, in order                                                  |
//! |------------------------|-------------------------------------------------------------------|
//! | `client.connected`     | `client_id`, `username`, `node`, `ts`                             |
//! | `client.disconnected`  | `client_id`, `username`, `reason`, `node`, `ts`                   |
//! | `session.subscribed`   | `client_id`, `topic`, `qos`, `node`, `ts`                         |
//! | `session.unsubscribed` | `client_id`, `topic`, `qos`, `node`, `ts`                         |
//! | `message.publish`      | `client_id`, `username`, `topic`, `payload`, `qos`, `node`, `ts`  |
//! | `message.delivered`    | `client_id`, `username`, `from`, `topic`, `payload`, `qos`, `node`, `ts` |
//! | `message.acked`        | `client_id`, `username`, `from`, `topic`, `payload`, `qos`, `node`, `ts` |
//!
//! The seed writes `${clientid}` in its placeholders and `client_id` as the JSON key; the JSON key is
//! `client_id`. In `message.delivered` / `message.acked`, `client_id` is the receiving client and
//! `from` the publisher.
//!
//! `payload` is standard padded base64 (`encode_payload_type = base64`, the default) or the payload
//! as a JSON string (`plain`). A plain payload that is not valid UTF-8 cannot be a JSON string: each
//! invalid sequence is written as U+FFFD, and [`Formatted::lossy_payload`] reports it so the caller
//! can count it. Use base64 for binary payloads.
//!
//! # Message properties
//!
//! [`message_properties`] gives the MQTT metadata as RocketMQ user properties, so consumers can
//! filter on the broker (SQL92 filters) without parsing the body. Only known values are set:
//!
//! | property         | value                                   | set when                    |
//! |------------------|-----------------------------------------|-----------------------------|
//! | `mqtt_event`     | hook name, e.g. `message.publish`       | always                      |
//! | `mqtt_client_id` | the client id                           | known                       |
//! | `mqtt_topic`     | MQTT topic name / subscription filter   | known                       |
//! | `mqtt_qos`       | `0`, `1` or `2`                         | known                       |
//! | `mqtt_retain`    | `true` or `false`                       | known (message events)      |
//!
//! RocketMQ separates properties with the bytes 0x01 and 0x02, so a value containing either is left
//! out of the properties (it is still in the JSON body), as is an empty value (an empty client id).
//! So is a value longer than [`MAX_PROPERTY_VALUE_LEN`] bytes: all properties of a message share a
//! 32 KiB limit, and an MQTT topic may be up to 64 KiB.

use super::event::{Event, EventKind};
use crate::message::Properties;
use bytes::Bytes;
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest value copied into a message property, in bytes; longer values are left out.
pub const MAX_PROPERTY_VALUE_LEN: usize = 1024;

/// How the `payload` field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PayloadEncoding {
    /// Standard base64 with padding (RFC 4648 §4). The seed's default.
    #[default]
    Base64,
    /// The payload as a JSON string (UTF-8 text).
    Plain,
}

impl PayloadEncoding {
    /// The config spelling: `"base64"` or `"plain"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadEncoding::Base64 => "base64",
            PayloadEncoding::Plain => "plain",
        }
    }

    /// Parses the config spelling (`base64` or `plain`, lower case).
    pub fn parse(s: &str) -> Option<PayloadEncoding> {
        match s {
            "base64" => Some(PayloadEncoding::Base64),
            "plain" => Some(PayloadEncoding::Plain),
            _ => None,
        }
    }
}

/// What [`format_event`] had to do beyond plain formatting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Formatted {
    /// A plain payload was not valid UTF-8 and invalid sequences were replaced by U+FFFD.
    pub lossy_payload: bool,
}

/// Appends the JSON body for `ev` to `out` (see the [module docs](self) for the layout), reserving
/// the body's length first (exact unless a string needs escapes).
pub fn format_event(
    ev: &Event,
    node: &str,
    encoding: PayloadEncoding,
    out: &mut Vec<u8>,
) -> Formatted {
    let ts = ev.ts.unwrap_or_else(now_ms);
    out.reserve(body_len_hint(ev, node, encoding, ts));
    layout(ev, node, encoding, ts, out)
}

/// Formats the seed's JSON body of `ev` straight into the buffer that becomes the `Bytes`, without
/// a copy: a stored message's buffer of exactly the body's length when this thread has one, else
/// one that [`super::recycle::fits`] it, else a new one of the body's length when no string needs
/// an escape (the usual case). A buffer of exactly the length needs no shared header of its own
/// (`Bytes` from a vector with spare capacity allocates one).
pub(crate) fn format_body(ev: &Event, node: &str, encoding: PayloadEncoding) -> (Bytes, Formatted) {
    let ts = ev.ts.unwrap_or_else(now_ms);
    let hint = body_len_hint(ev, node, encoding, ts);
    // A stored message's buffer when this thread has one that fits (`recycle`), else a new one.
    let mut out = super::recycle::body(hint);
    let info = layout(ev, node, encoding, ts, &mut out);
    if !super::recycle::fits(out.capacity(), out.len()) {
        // An escape made the body longer than the hint and the vector grew: give back the slack,
        // so a buffered body holds little more memory than it counts.
        out.shrink_to_fit();
    }
    (Bytes::from(out), info)
}

/// The body's length in bytes when none of its strings needs an escape (a lower bound otherwise).
fn body_len_hint(ev: &Event, node: &str, encoding: PayloadEncoding, ts: u64) -> usize {
    let mut len = Len(0);
    layout(ev, node, encoding, ts, &mut len);
    len.0
}

/// Where [`layout`] puts the body: a byte vector, or [`Len`], which only adds up the lengths. One
/// layout serves both, so the length hint cannot drift from the bytes.
trait Sink {
    /// Bytes as they are (field names with their quotes, commas and colon).
    fn raw(&mut self, s: &'static [u8]);
    /// A JSON string.
    fn string(&mut self, s: &str);
    /// Standard padded base64, as a JSON string.
    fn base64(&mut self, data: &[u8]);
    /// A payload as a JSON string; true when it was not UTF-8 (see [`Formatted::lossy_payload`]).
    fn plain(&mut self, data: &[u8]) -> bool;
    /// Decimal digits.
    fn decimal(&mut self, n: u64);

    /// A JSON string, or `null`.
    fn opt_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.raw(b"null"),
        }
    }
}

impl Sink for Vec<u8> {
    fn raw(&mut self, s: &'static [u8]) {
        self.extend_from_slice(s);
    }
    fn string(&mut self, s: &str) {
        write_json_string(self, s);
    }
    fn base64(&mut self, data: &[u8]) {
        write_base64(self, data);
    }
    fn plain(&mut self, data: &[u8]) -> bool {
        match std::str::from_utf8(data) {
            Ok(s) => {
                write_json_string(self, s);
                false
            }
            Err(_) => {
                // Writing the valid runs of `utf8_chunks` one by one was slower than this on
                // binary payloads (a run every few bytes).
                write_json_string(self, &String::from_utf8_lossy(data));
                true
            }
        }
    }
    fn decimal(&mut self, n: u64) {
        if n < 10 {
            self.push(b'0' + n as u8);
        } else {
            // Digits into a stack buffer: no allocation per event.
            let mut buf = [0u8; 20];
            let i = crate::util::write_decimal(&mut buf, n);
            self.extend_from_slice(&buf[i..]);
        }
    }
}

/// The length [`layout`] would write, assuming no string needs an escape.
struct Len(usize);

impl Sink for Len {
    fn raw(&mut self, s: &'static [u8]) {
        self.0 += s.len();
    }
    fn string(&mut self, s: &str) {
        self.0 += s.len() + 2;
    }
    fn base64(&mut self, data: &[u8]) {
        self.0 += base64_len(data.len()) + 2;
    }
    fn plain(&mut self, data: &[u8]) -> bool {
        self.0 += data.len() + 2;
        false
    }
    fn decimal(&mut self, n: u64) {
        self.0 += n.checked_ilog10().map_or(1, |d| d as usize + 1);
    }
}

/// The body of `ev` (see the [module docs](self)), field names pre-rendered with their commas.
#[inline(always)]
fn layout<S: Sink>(
    ev: &Event,
    node: &str,
    encoding: PayloadEncoding,
    ts: u64,
    out: &mut S,
) -> Formatted {
    let mut info = Formatted::default();
    let qos = |out: &mut S| {
        out.raw(b",\"qos\":");
        match ev.qos {
            Some(q) => out.decimal(u64::from(q)),
            None => out.raw(b"null"),
        }
    };
    out.raw(b"{\"client_id\":");
    out.opt_string(ev.client_id.as_deref());
    match ev.kind {
        EventKind::ClientConnected => {
            out.raw(b",\"username\":");
            out.opt_string(ev.username.as_deref());
        }
        EventKind::ClientDisconnected => {
            out.raw(b",\"username\":");
            out.opt_string(ev.username.as_deref());
            out.raw(b",\"reason\":");
            out.opt_string(ev.reason.as_deref());
        }
        EventKind::SessionSubscribed | EventKind::SessionUnsubscribed => {
            out.raw(b",\"topic\":");
            out.opt_string(ev.topic.as_deref());
            qos(out);
        }
        EventKind::MessagePublish | EventKind::MessageDelivered | EventKind::MessageAcked => {
            out.raw(b",\"username\":");
            out.opt_string(ev.username.as_deref());
            if ev.kind != EventKind::MessagePublish {
                out.raw(b",\"from\":");
                out.opt_string(ev.from.as_deref());
            }
            out.raw(b",\"topic\":");
            out.opt_string(ev.topic.as_deref());
            out.raw(b",\"payload\":");
            match &ev.payload {
                None => out.raw(b"null"),
                Some(p) => match encoding {
                    PayloadEncoding::Base64 => out.base64(p),
                    PayloadEncoding::Plain => info.lossy_payload = out.plain(p),
                },
            }
            qos(out);
        }
    }
    out.raw(b",\"node\":");
    out.string(node);
    out.raw(b",\"ts\":");
    out.decimal(ts);
    out.raw(b"}");
    info
}

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The MQTT metadata of `ev` as RocketMQ user properties (see the [module docs](self)), in the order
/// [`write_message_properties`] appends them to a message.
pub fn message_properties(ev: &Event) -> Properties {
    let mut props = Properties::new();
    write_message_properties(ev, &mut props);
    props
}

/// Appends the MQTT metadata of `ev` (as [`message_properties`] lists it) to `props` directly,
/// without an allocation per entry; `props` must not hold these names yet.
pub fn write_message_properties(ev: &Event, props: &mut Properties) {
    props.push_valid("mqtt_event", ev.kind.hook_name());
    let mut text = |name: &'static str, v: Option<&str>| {
        if let Some(v) = v {
            // An empty value cannot be a RocketMQ property (it would not read back).
            if !v.is_empty()
                && v.len() <= MAX_PROPERTY_VALUE_LEN
                && !crate::message::properties::has_separator(v)
            {
                props.push_valid(name, v);
            }
        }
    };
    text("mqtt_client_id", ev.client_id.as_deref());
    text("mqtt_topic", ev.topic.as_deref());
    if let Some(q) = ev.qos {
        const DIGITS: [&str; 3] = ["0", "1", "2"];
        match DIGITS.get(usize::from(q)) {
            Some(d) => props.push_valid("mqtt_qos", d),
            None => props.push("mqtt_qos", &q.to_string()),
        }
    }
    if let Some(r) = ev.retain {
        props.push_valid("mqtt_retain", if r { "true" } else { "false" });
    }
}

/// The standard base64 alphabet (RFC 4648 §4).
const BASE64_DIGITS: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Two base64 digits per 12 bits: entry `i` holds the digits of `i >> 6` and `i & 63` as the
/// bytes of a little-endian `u16` (8 KiB, built at compile time).
static BASE64_PAIRS: [u16; 4096] = {
    let mut t = [0u16; 4096];
    let mut i = 0;
    while i < 4096 {
        t[i] = BASE64_DIGITS[i >> 6] as u16 | (BASE64_DIGITS[i & 63] as u16) << 8;
        i += 1;
    }
    t
};

/// Length of the padded base64 of `n` bytes.
fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Writes `data` as a JSON string of standard padded base64, straight into `out`.
fn write_base64(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'"');
    let start = out.len();
    out.resize(start + base64_len(data.len()), 0);
    encode_base64(data, &mut out[start..]);
    out.push(b'"');
}

/// Standard padded base64 (RFC 4648 §4) of `src` into `dst`, which is `base64_len(src.len())`
/// bytes long. Two digits per table look-up: six bytes give eight digits (read as eight bytes
/// while eight remain, four such steps per round while 26 remain), then three give four, then the
/// last one or two bytes with padding.
fn encode_base64(mut src: &[u8], mut dst: &mut [u8]) {
    let pair = |n: u64| u64::from(BASE64_PAIRS[(n & 0xfff) as usize]);
    let eight = |s: &[u8; 8]| {
        let n = u64::from_be_bytes(*s);
        (pair(n >> 52) | pair(n >> 40) << 16 | pair(n >> 28) << 32 | pair(n >> 16) << 48)
            .to_le_bytes()
    };
    // 24 bytes (four times six, the last read as eight) per round while 26 remain: fixed
    // offsets into fixed-size arrays, so no bounds checks inside.
    while let (Some(s), Some(d)) = (src.first_chunk::<26>(), dst.first_chunk_mut::<32>()) {
        for k in 0..4 {
            let word: &[u8; 8] = s[6 * k..6 * k + 8].try_into().unwrap();
            d[8 * k..8 * k + 8].copy_from_slice(&eight(word));
        }
        src = &src[24..];
        dst = &mut dst[32..];
    }
    while let (Some(s), Some(d)) = (src.first_chunk::<8>(), dst.first_chunk_mut::<8>()) {
        *d = eight(s);
        src = &src[6..];
        dst = &mut dst[8..];
    }
    while let (Some(s), Some(d)) = (src.first_chunk::<3>(), dst.first_chunk_mut::<4>()) {
        let n = u64::from(s[0]) << 16 | u64::from(s[1]) << 8 | u64::from(s[2]);
        *d = ((pair(n >> 12) | pair(n) << 16) as u32).to_le_bytes();
        src = &src[3..];
        dst = &mut dst[4..];
    }
    if let (Some(&a), Some(d)) = (src.first(), dst.first_chunk_mut::<4>()) {
        let b = src.get(1).copied();
        let n = usize::from(a) << 16 | usize::from(b.unwrap_or(0)) << 8;
        let third = if b.is_some() {
            BASE64_DIGITS[n >> 6 & 63]
        } else {
            b'='
        };
        *d = [
            BASE64_DIGITS[n >> 18],
            BASE64_DIGITS[n >> 12 & 63],
            third,
            b'=',
        ];
    }
}

/// Whether any byte of `b` needs an escape in a JSON string: eight bytes at a time
/// ([`crate::util::any_word`]), no byte loop.
fn needs_escape(b: &[u8]) -> bool {
    crate::util::any_word(b, b' ', |w| crate::util::json_escape_flags(w) != 0)
}

/// Writes `s` as a JSON string: `"` and `\` escaped, control characters as `\n`, `\r`, `\t`,
/// `\b`, `\f` or `\u00XX`; everything else (non-ASCII included) as is — the same output as
/// serde_json.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.push(b'"');
    // Most strings need no escape: checked eight bytes at a time, then copied whole.
    if needs_escape(bytes) {
        write_escaped(out, bytes);
    } else {
        extend_short(out, bytes);
    }
    out.push(b'"');
}

/// `out.extend_from_slice(b)`, with a string of 4 to 16 bytes (client ids, user names, topics)
/// copied as two overlapping fixed-size pieces instead of by a call to `memcpy`.
#[inline(always)]
fn extend_short(out: &mut Vec<u8>, b: &[u8]) {
    let end = out.len() + b.len();
    if b.len() <= 16 {
        if let (Some(head), Some(tail)) = (b.first_chunk::<8>(), b.last_chunk::<8>()) {
            out.extend_from_slice(head);
            out.truncate(end - 8);
            out.extend_from_slice(tail);
            return;
        }
        if let (Some(head), Some(tail)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
            out.extend_from_slice(head);
            out.truncate(end - 4);
            out.extend_from_slice(tail);
            return;
        }
    }
    out.extend_from_slice(b);
}

/// The inside of a JSON string for `bytes`, which need at least one escape: the runs between
/// escapes found eight bytes at a time and copied whole.
#[cold]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    while let Some(run) = crate::util::json_first_escape(&bytes[start..]) {
        let i = start + run;
        out.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests;
