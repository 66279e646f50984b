//! What `rocketmq-bridge mqtt` makes of a received PUBLISH: a `message.publish` event, or, for
//! EMQX's client lifecycle messages, a `client.connected` / `client.disconnected` event.
//!
//! **`message.publish`.** `topic`, `qos`, `retain` and the payload come from the PUBLISH (`qos`
//! is the QoS it was delivered with: at most the subscription's; `retain` the publisher's flag
//! with MQTT 5, whose subscriptions ask for retain-as-published, and with 3.1.1 the broker's flag,
//! set only on retained messages sent at subscribe). A subscriber does not learn who published:
//! `client_id` and `username` are the values of the MQTT 5 user properties `client_id` and
//! `username` when the publisher (or a broker rule) set them, otherwise `null`. Neither mosquitto
//! nor EMQX adds them by itself. With no client id, the event's ordering key is its MQTT topic,
//! so under `key_dispatch` one MQTT topic's messages go to one queue in the order received.
//!
//! **EMQX lifecycle** (`bridge.rocket.mqtt.emqx_client_events = true`). EMQX publishes
//! `$SYS/brokers/<node>/clients/<clientid>/connected` and `.../disconnected` with a JSON payload
//! (`clientid`, `username`, `ts` in ms, and `reason` for a disconnect). They become
//! `client.connected` (`client_id`, `username`, `ts`) and `client.disconnected` (also `reason`);
//! a field the payload lacks, or a payload that is not JSON, is taken from the topic (the client
//! id) or left `null` (EMQX 4's user name `undefined` too). EMQX 5 can also publish
//! `.../subscribed` and `.../unsubscribed` (off by default); they are not mapped (forwarded as
//! `message.publish` if a rule's filter matches them).
//!
//! The topic pattern is `bridge.rocket.mqtt.emqx_client_topic` (default
//! `$SYS/brokers/+/clients/+`, EMQX's own): a filter of literal and `+` levels whose last `+` is
//! the client id, followed by `/connected` or `/disconnected`. Another prefix serves a broker rule
//! that republishes the lifecycle messages elsewhere, and the tests (a client cannot publish to
//! `$SYS`, so they publish EMQX-shaped payloads under a prefix of their own).

use crate::bridge::{Event, EventKind};
use crate::mqtt::Publish;

/// The filters of EMQX's client lifecycle messages under `pattern` (`mqtt.emqx_client_topic`).
pub(super) fn emqx_client_filters(pattern: &str) -> [String; 2] {
    [
        format!("{pattern}/connected"),
        format!("{pattern}/disconnected"),
    ]
}

/// The event of `p`. `lifecycle`: the pattern of EMQX's lifecycle topics when they are mapped to
/// client events (`mqtt.emqx_client_events`).
pub(super) fn event_of(p: &Publish, lifecycle: Option<&str>) -> Event {
    if let Some(pattern) = lifecycle {
        if let Some(ev) = emqx_client_event(pattern, &p.topic, &p.payload) {
            return ev;
        }
    }
    let prop = |name: &str| {
        p.properties
            .user_properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut ev = Event::new(EventKind::MessagePublish);
    ev.client_id = prop("client_id");
    ev.username = prop("username");
    if ev.client_id.is_none() {
        ev.order_key = Some(p.topic.clone());
    }
    ev.topic = Some(p.topic.clone());
    ev.qos = Some(p.qos.level());
    ev.retain = Some(p.retain);
    ev.payload = Some(p.payload.clone());
    ev
}

/// `client.connected` / `client.disconnected` for a lifecycle topic under `pattern` (levels:
/// literal or `+`, the last `+` the client id; checked at load), else `None`.
fn emqx_client_event(pattern: &str, topic: &str, payload: &[u8]) -> Option<Event> {
    let (head, what) = topic.rsplit_once('/')?;
    let mut levels = head.split('/');
    let mut client = None;
    for want in pattern.split('/') {
        let got = levels.next()?;
        if want == "+" {
            client = Some(got);
        } else if want != got {
            return None;
        }
    }
    let client = client?;
    if levels.next().is_some() {
        return None;
    }
    let kind = match what {
        "connected" => EventKind::ClientConnected,
        "disconnected" => EventKind::ClientDisconnected,
        _ => return None,
    };
    let json: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
    let text = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let mut ev = Event::new(kind);
    ev.client_id = text("clientid").or_else(|| Some(client.to_owned()));
    // EMQX 4 writes the atom `undefined` for a client without a user name.
    ev.username = text("username").filter(|u| u != "undefined");
    ev.ts = json.get("ts").and_then(serde_json::Value::as_u64);
    if kind == EventKind::ClientDisconnected {
        ev.reason = text("reason");
    }
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::{Properties, QoS};
    use bytes::Bytes;

    fn publish(topic: &str, payload: &'static [u8], props: &[(&str, &str)]) -> Publish {
        let properties = Properties {
            user_properties: props
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Properties::default()
        };
        Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: true,
            topic: topic.to_owned(),
            packet_id: Some(1),
            properties,
            payload: Bytes::from_static(payload),
        }
    }

    const EMQX: Option<&str> = Some("$SYS/brokers/+/clients/+");

    #[test]
    fn a_publish_without_a_client_id_orders_by_its_topic() {
        let ev = event_of(&publish("s/1", b"21.5", &[]), None);
        assert_eq!(ev.kind, EventKind::MessagePublish);
        assert_eq!(ev.client_id, None);
        assert_eq!(ev.username, None);
        assert_eq!(ev.order_key.as_deref(), Some("s/1"));
        assert_eq!(ev.topic.as_deref(), Some("s/1"));
        assert_eq!((ev.qos, ev.retain), (Some(1), Some(true)));
        assert_eq!(ev.payload.as_deref(), Some(&b"21.5"[..]));
    }

    #[test]
    fn user_properties_give_the_client_id_and_username() {
        let ev = event_of(
            &publish(
                "s/1",
                b"x",
                &[("k", "v"), ("client_id", "c9"), ("username", "u9")],
            ),
            None,
        );
        assert_eq!(ev.client_id.as_deref(), Some("c9"));
        assert_eq!(ev.username.as_deref(), Some("u9"));
        assert_eq!(ev.order_key, None);
    }

    #[test]
    fn emqx_lifecycle_topics_become_client_events() {
        let t = "$SYS/brokers/emqx@127.0.0.1/clients/c1/connected";
        let ev = event_of(
            &publish(
                t,
                br#"{"clientid":"c1","username":"u1","ts":1700000000000,"proto_ver":5}"#,
                &[],
            ),
            EMQX,
        );
        assert_eq!(ev.kind, EventKind::ClientConnected);
        assert_eq!(ev.client_id.as_deref(), Some("c1"));
        assert_eq!(ev.username.as_deref(), Some("u1"));
        assert_eq!(ev.ts, Some(1_700_000_000_000));
        let t = "$SYS/brokers/n1/clients/c2/disconnected";
        let ev = event_of(
            &publish(
                t,
                br#"{"reason":"normal","ts":5,"username":"undefined"}"#,
                &[],
            ),
            EMQX,
        );
        assert_eq!(ev.kind, EventKind::ClientDisconnected);
        assert_eq!(ev.client_id.as_deref(), Some("c2"));
        assert_eq!(ev.reason.as_deref(), Some("normal"));
        assert_eq!(ev.username, None);
        // Not JSON: the client id from the topic, the rest null.
        let ev = event_of(&publish(t, b"\xff", &[]), EMQX);
        assert_eq!((ev.client_id.as_deref(), ev.ts), (Some("c2"), None));
        // Off, or another $SYS topic: a message.publish.
        assert_eq!(
            event_of(&publish(t, b"{}", &[]), None).kind,
            EventKind::MessagePublish
        );
        let other = "$SYS/brokers/n1/clients/c2/subscribed";
        assert_eq!(
            event_of(&publish(other, b"{}", &[]), EMQX).kind,
            EventKind::MessagePublish
        );
    }

    #[test]
    fn a_configured_pattern_takes_the_client_id_from_its_last_plus() {
        let pat = Some("lab/emqx/+/clients/+");
        let ev = event_of(
            &publish("lab/emqx/n1/clients/c7/connected", b"{}", &[]),
            pat,
        );
        assert_eq!(ev.kind, EventKind::ClientConnected);
        assert_eq!(ev.client_id.as_deref(), Some("c7"));
        let ev = event_of(
            &publish("lab/emqx/n1/clients/c7/disconnected", b"{}", &[]),
            pat,
        );
        assert_eq!(ev.kind, EventKind::ClientDisconnected);
        // Not under the pattern, a level too many or too few, or EMQX's own topic: a publish.
        for t in [
            "lab/other/n1/clients/c7/connected",
            "lab/emqx/n1/clients/c7/x/connected",
            "lab/emqx/n1/clients/connected",
            "$SYS/brokers/n1/clients/c7/connected",
        ] {
            assert_eq!(
                event_of(&publish(t, b"{}", &[]), pat).kind,
                EventKind::MessagePublish,
                "{t}"
            );
        }
        let ev = event_of(&publish("c9/connected", b"{}", &[]), Some("+"));
        assert_eq!(ev.client_id.as_deref(), Some("c9"));
        assert_eq!(emqx_client_filters("+"), ["+/connected", "+/disconnected"]);
    }
}
