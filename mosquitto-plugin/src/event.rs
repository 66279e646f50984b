//! The plain event the tracker emits: host facts only, no formatting. [`crate::sink`] turns it into the
//! bridge's event type.

use bytes::Bytes;

/// The seed's events that mosquitto 2.0.11 can supply (`message.acked` has no source in 2.0.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `client.connected`: the login was accepted.
    Connected,
    /// `client.disconnected`: an accepted client went away.
    Disconnected,
    /// `session.subscribed`: a SUBSCRIBE filter passed access control.
    Subscribed,
    /// `session.unsubscribed`: an UNSUBSCRIBE filter passed access control.
    Unsubscribed,
    /// `message.publish`: a PUBLISH passed the write check and every message callback.
    Publish,
    /// `message.delivered`: a message passed the read check for an online subscriber and is queued to it.
    Delivered,
}

impl Kind {
    /// All kinds, in index order.
    pub const ALL: [Kind; 6] = [
        Kind::Connected,
        Kind::Disconnected,
        Kind::Subscribed,
        Kind::Unsubscribed,
        Kind::Publish,
        Kind::Delivered,
    ];

    /// The seed's hook name.
    pub fn hook_name(self) -> &'static str {
        match self {
            Kind::Connected => "client.connected",
            Kind::Disconnected => "client.disconnected",
            Kind::Subscribed => "session.subscribed",
            Kind::Unsubscribed => "session.unsubscribed",
            Kind::Publish => "message.publish",
            Kind::Delivered => "message.delivered",
        }
    }

    /// Dense index `0..6`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One event as observed in mosquitto. Fields the host cannot supply are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttEvent {
    /// Which event.
    pub kind: Kind,
    /// The MQTT client id (the receiver, for `Delivered`).
    pub client_id: Option<String>,
    /// The MQTT username, if the client gave one.
    pub username: Option<String>,
    /// Topic (publish, delivered) or topic filter (subscribed, unsubscribed).
    pub topic: Option<String>,
    /// Message payload (publish, delivered).
    pub payload: Option<Bytes>,
    /// QoS: of the message (publish, delivered) or the requested subscription QoS.
    pub qos: Option<u8>,
    /// Retain flag of the message (publish, delivered).
    pub retain: Option<bool>,
    /// Sender client id on delivery, when correlated soundly with the publish that caused it.
    pub from: Option<String>,
    /// Milliseconds since the Unix epoch when mosquitto reported the fact.
    pub ts: u64,
}

impl MqttEvent {
    /// An event with every optional field `None`.
    pub fn new(kind: Kind, ts: u64) -> MqttEvent {
        MqttEvent {
            kind,
            client_id: None,
            username: None,
            topic: None,
            payload: None,
            qos: None,
            retain: None,
            from: None,
            ts,
        }
    }

    /// The event as one JSON object (used by the trace file; payload as base64 under `payload_base64`,
    /// the bridge's input-line spelling).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{json, Value};
        let opt = |s: &Option<String>| s.as_ref().map_or(Value::Null, |v| json!(v));
        json!({
            "event": self.kind.hook_name(),
            "client_id": opt(&self.client_id),
            "username": opt(&self.username),
            "topic": opt(&self.topic),
            "payload_base64": self.payload.as_ref().map_or(Value::Null, |p| json!(b64(p))),
            "qos": self.qos.map_or(Value::Null, |q| json!(q)),
            "retain": self.retain.map_or(Value::Null, |r| json!(r)),
            "from": opt(&self.from),
            "ts": self.ts,
        })
    }
}

/// Standard base64 with padding (RFC 4648 §4), small enough to keep here for the trace file.
fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        // RFC 4648 §10 test vectors.
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64(i.as_bytes()), o);
        }
    }

    #[test]
    fn json_keeps_unknown_fields_null() {
        let mut e = MqttEvent::new(Kind::Disconnected, 5);
        e.client_id = Some("c1".into());
        let v = e.to_json();
        assert_eq!(v["event"], "client.disconnected");
        assert_eq!(v["client_id"], "c1");
        assert!(v["username"].is_null());
        assert!(v["from"].is_null());
        assert_eq!(v["ts"], 5);
    }
}
