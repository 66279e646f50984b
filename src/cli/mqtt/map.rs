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

use crate::bridge::{Event, EventKind};
use crate::mqtt::Publish;

/// The filters of EMQX's client lifecycle messages.
pub(super) const EMQX_CLIENT_FILTERS: [&str; 2] = [
    "$SYS/brokers/+/clients/+/connected",
    "$SYS/brokers/+/clients/+/disconnected",
];

/// The event of `p`. `lifecycle`: map EMQX's lifecycle topics to client events.
pub(super) fn event_of(p: &Publish, lifecycle: bool) -> Event {
    if lifecycle {
        if let Some(ev) = emqx_client_event(&p.topic, &p.payload) {
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

/// `client.connected` / `client.disconnected` for an EMQX lifecycle topic, else `None`.
fn emqx_client_event(topic: &str, payload: &[u8]) -> Option<Event> {
    let rest = topic.strip_prefix("$SYS/brokers/")?;
    let mut parts = rest.split('/');
    let (_node, clients, client, what) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if clients != "clients" || parts.next().is_some() {
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

    #[test]
    fn a_publish_without_a_client_id_orders_by_its_topic() {
        let ev = event_of(&publish("s/1", b"21.5", &[]), false);
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
            false,
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
            true,
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
            true,
        );
        assert_eq!(ev.kind, EventKind::ClientDisconnected);
        assert_eq!(ev.client_id.as_deref(), Some("c2"));
        assert_eq!(ev.reason.as_deref(), Some("normal"));
        assert_eq!(ev.username, None);
        // Not JSON: the client id from the topic, the rest null.
        let ev = event_of(&publish(t, b"\xff", &[]), true);
        assert_eq!((ev.client_id.as_deref(), ev.ts), (Some("c2"), None));
        // Off, or another $SYS topic: a message.publish.
        assert_eq!(
            event_of(&publish(t, b"{}", &[]), false).kind,
            EventKind::MessagePublish
        );
        let other = "$SYS/brokers/n1/clients/c2/subscribed";
        assert_eq!(
            event_of(&publish(other, b"{}", &[]), true).kind,
            EventKind::MessagePublish
        );
    }
}
