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
use base64::Engine as _;
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

/// Appends the JSON body for `ev` to `out` (see the [module docs](self) for the layout).
pub fn format_event(
    ev: &Event,
    node: &str,
    encoding: PayloadEncoding,
    out: &mut Vec<u8>,
) -> Formatted {
    let mut info = Formatted::default();
    out.push(b'{');
    field_str(out, "client_id", ev.client_id.as_deref(), true);
    match ev.kind {
        EventKind::ClientConnected => {
            field_str(out, "username", ev.username.as_deref(), false);
        }
        EventKind::ClientDisconnected => {
            field_str(out, "username", ev.username.as_deref(), false);
            field_str(out, "reason", ev.reason.as_deref(), false);
        }
        EventKind::SessionSubscribed | EventKind::SessionUnsubscribed => {
            field_str(out, "topic", ev.topic.as_deref(), false);
            field_u64(out, "qos", ev.qos.map(u64::from));
        }
        EventKind::MessagePublish | EventKind::MessageDelivered | EventKind::MessageAcked => {
            field_str(out, "username", ev.username.as_deref(), false);
            if ev.kind != EventKind::MessagePublish {
                field_str(out, "from", ev.from.as_deref(), false);
            }
            field_str(out, "topic", ev.topic.as_deref(), false);
            out.extend_from_slice(b",\"payload\":");
            match &ev.payload {
                None => out.extend_from_slice(b"null"),
                Some(p) => match encoding {
                    PayloadEncoding::Base64 => write_base64(out, p),
                    PayloadEncoding::Plain => match std::str::from_utf8(p) {
                        Ok(s) => write_json_string(out, s),
                        Err(_) => {
                            info.lossy_payload = true;
                            write_json_string(out, &String::from_utf8_lossy(p));
                        }
                    },
                },
            }
            field_u64(out, "qos", ev.qos.map(u64::from));
        }
    }
    field_str(out, "node", Some(node), false);
    field_u64(out, "ts", Some(ev.ts.unwrap_or_else(now_ms)));
    out.push(b'}');
    info
}

/// Largest JSON scratch buffer a host thread keeps between events (a larger one, for a large
/// payload, is given back after use).
const BODY_SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    /// The host thread's buffer the JSON body is formatted into before it is copied out.
    static BODY_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Formats the seed's JSON body of `ev` into this thread's scratch buffer, then copies it into a
/// buffer of exactly its length: no growth while formatting, and a body whose `Bytes` needs no
/// shared header of its own (`Bytes` from a vector with spare capacity allocates one).
pub(crate) fn format_body(ev: &Event, node: &str, encoding: PayloadEncoding) -> (Bytes, Formatted) {
    BODY_SCRATCH.with(|scratch| {
        // Only this function borrows it, and format_event does not call back here.
        let mut buf = scratch.borrow_mut();
        buf.clear();
        let info = format_event(ev, node, encoding, &mut buf);
        let body = Bytes::copy_from_slice(&buf);
        if buf.capacity() > BODY_SCRATCH_KEEP {
            *buf = Vec::new();
        }
        (body, info)
    })
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

fn field_name(out: &mut Vec<u8>, name: &str, first: bool) {
    if !first {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn field_str(out: &mut Vec<u8>, name: &str, v: Option<&str>, first: bool) {
    field_name(out, name, first);
    match v {
        Some(s) => write_json_string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn field_u64(out: &mut Vec<u8>, name: &str, v: Option<u64>) {
    field_name(out, name, false);
    match v {
        Some(n) => {
            // Digits into a stack buffer: no allocation per event.
            let mut buf = [0u8; 20];
            let i = crate::util::write_decimal(&mut buf, n);
            out.extend_from_slice(&buf[i..]);
        }
        None => out.extend_from_slice(b"null"),
    }
}

fn write_base64(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'"');
    let start = out.len();
    let n = base64::encoded_len(data.len(), true).expect("payload length fits usize when encoded");
    out.resize(start + n, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(data, &mut out[start..])
        .expect("buffer sized by encoded_len");
    debug_assert_eq!(written, n);
    out.push(b'"');
}

/// Writes `s` as a JSON string: `"` and `\` escaped, control characters as `\n`, `\r`, `\t`,
/// `\b`, `\f` or `\u00XX`; everything else (non-ASCII included) as is — the same output as
/// serde_json.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most strings need no escape: found eight bytes at a time, then copied whole.
    let Some(first) = crate::util::json_first_escape(bytes) else {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    };
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_string_escaping_matches_serde_json() {
        let samples = [
            "",
            "plain",
            "quote\" back\\slash",
            "ctl \u{0}\u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f}",
            "ünïcödé ✓ 𝄞",
            "</script>",
        ];
        for s in samples {
            let mut out = Vec::new();
            write_json_string(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "sample {s:?}");
        }
    }

    #[test]
    fn u64_fields_print_like_display() {
        for v in [0u64, 1, 9, 10, 99, 100, 1_700_000_000_123, u64::MAX] {
            let mut out = Vec::new();
            field_u64(&mut out, "ts", Some(v));
            assert_eq!(out, format!(",\"ts\":{v}").into_bytes());
        }
        let mut out = Vec::new();
        field_u64(&mut out, "qos", None);
        assert_eq!(out, b",\"qos\":null");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        // RFC 4648 §10 test vectors.
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, want) in vectors {
            let mut out = Vec::new();
            write_base64(&mut out, input.as_bytes());
            assert_eq!(out, format!("\"{want}\"").into_bytes());
        }
    }
}
