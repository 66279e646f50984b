//! A second real broker, aedes 1.2.0 (Node.js; MQTT 3.1.1 only), so the codec is not tuned to
//! mosquitto alone: connect, subscribe, receive what `mosquitto_pub` publishes at QoS 0, 1 and 2
//! and acknowledge it, publish through our encoder, ping, disconnect; a session resumed after a
//! dropped connection re-delivers an unacknowledged QoS 1 message (without DUP, unlike mosquitto);
//! `$share/<group>/<filter>` is an ordinary filter to it (no shared subscriptions). Each test runs
//! under a 30 s deadline; the broker is killed when the test ends.

use crate::client::Client;
use crate::mosquitto::{acknowledge, connack, connect_packet, publish, subscribe};
use bytes::Bytes;
use rocketmq_bridge::mqtt::{
    Ack, Disconnect, Packet, Properties, Publish, QoS, ReasonCode, Version,
};
use rocketmq_bridge_test_support::aedes::Aedes;
use rocketmq_bridge_test_support::mosquitto as mosq;
use std::process::Command;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);
const V: Version = Version::V311;

fn start(name: &str) -> Aedes {
    Aedes::start(&rocketmq_bridge_test_support::temp_dir("aedes-tests", name))
}

/// `mosquitto_pub` (MQTT 3.1.1) against aedes, bounded by the deadline.
fn pub_311(port: u16, deadline: Instant, args: &[&str]) {
    let mut c = Command::new("mosquitto_pub");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", "mqttv311"])
        .args(args);
    let left = deadline.saturating_duration_since(Instant::now());
    let out = mosq::run(c, left.min(Duration::from_secs(5)));
    assert!(out.status.success(), "mosquitto_pub {args:?}: {out:?}");
}

#[test]
fn aedes_conversation_mqtt_3_1_1() {
    let deadline = Instant::now() + DEADLINE;
    let broker = start("conversation");
    let port = broker.port;
    pub_311(
        port,
        deadline,
        &["-t", "rb/a/retained", "-m", "kept", "-q", "1", "-r"],
    );

    let mut c = Client::open(port, V, deadline);
    c.send(&connect_packet(V, "rb-aedes", true));
    let (ack, _) = connack(&mut c);
    assert_eq!(
        (ack.session_present, ack.code),
        (false, ReasonCode::SUCCESS),
        "{}",
        broker.log()
    );
    let (suback, _) = subscribe(&mut c, V, "rb/a/#", QoS::ExactlyOnce);
    assert_eq!(
        (suback.packet_id, &suback.codes[..]),
        (1, &[ReasonCode::GRANTED_QOS_2][..])
    );
    // The retained message comes first, with RETAIN set, at the QoS it was published with.
    let (m, _) = publish(&mut c);
    assert_eq!(
        (m.topic.as_str(), &m.payload[..], m.qos, m.retain),
        ("rb/a/retained", &b"kept"[..], QoS::AtLeastOnce, true)
    );
    acknowledge(&mut c, &m);

    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let topic = format!("rb/a/q{}", qos.level());
        let payload = format!("payload at QoS {}", qos.level());
        pub_311(
            port,
            deadline,
            &["-t", &topic, "-m", &payload, "-q", &qos.level().to_string()],
        );
        let (m, _) = publish(&mut c);
        assert_eq!(
            (m.topic.as_str(), &m.payload[..], m.qos, m.retain, m.dup),
            (topic.as_str(), payload.as_bytes(), qos, false, false)
        );
        assert_eq!(m.packet_id.is_some(), qos != QoS::AtMostOnce);
        assert!(m.properties.is_empty());
        acknowledge(&mut c, &m);
    }

    // Our encoder as the publisher: QoS 1 and 2 hand-shakes with a topic nobody subscribed.
    for (id, qos) in [(11, QoS::AtLeastOnce), (12, QoS::ExactlyOnce)] {
        c.send(&Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: "rb/out/nobody".into(),
            packet_id: Some(id),
            properties: Properties::default(),
            payload: Bytes::from_static(b"from the codec"),
        }));
        match (qos, c.recv()) {
            (QoS::AtLeastOnce, (Packet::PubAck(a), _)) => assert_eq!(a, Ack::new(id)),
            (QoS::ExactlyOnce, (Packet::PubRec(a), _)) => {
                assert_eq!(a, Ack::new(id));
                c.send(&Packet::PubRel(Ack::new(id)));
                match c.recv() {
                    (Packet::PubComp(a), _) => assert_eq!(a, Ack::new(id)),
                    (p, raw) => panic!("expected PUBCOMP, got {p:?} {raw:02x?}"),
                }
            }
            (_, (p, raw)) => panic!("unexpected answer to our PUBLISH: {p:?} {raw:02x?}"),
        }
    }

    c.send(&Packet::PingReq);
    assert_eq!(c.recv(), (Packet::PingResp, vec![0xD0, 0x00]));
    c.send(&Packet::Disconnect(Disconnect {
        reason: ReasonCode::SUCCESS,
        properties: Properties::default(),
    }));
    c.expect_closed();
    assert!(Instant::now() < deadline);
}

/// A QoS 1 message received but not acknowledged before the connection drops is sent again,
/// with the same packet identifier, when the session is resumed.
#[test]
fn aedes_resumed_session_redelivers_with_dup_3_1_1() {
    let deadline = Instant::now() + DEADLINE;
    let broker = start("dup");
    let mut c = Client::open(broker.port, V, deadline);
    c.send(&connect_packet(V, "rb-aedes-dup", false));
    assert!(!connack(&mut c).0.session_present);
    let (suback, _) = subscribe(&mut c, V, "rb/dup", QoS::AtLeastOnce);
    assert_eq!(suback.codes, [ReasonCode::GRANTED_QOS_1]);
    pub_311(
        broker.port,
        deadline,
        &["-t", "rb/dup", "-m", "once", "-q", "1"],
    );
    let (first, _) = publish(&mut c);
    assert!(!first.dup);
    drop(c); // no PUBACK, no DISCONNECT

    let mut c = Client::open(broker.port, V, deadline);
    c.send(&connect_packet(V, "rb-aedes-dup", false));
    let (ack, _) = connack(&mut c);
    assert!(
        ack.session_present,
        "the session was not resumed: {}",
        broker.log()
    );
    let (again, _) = publish(&mut c);
    // Unlike mosquitto, aedes 1.2.0 sends it again WITHOUT DUP (MQTT-3.3.1-1 asks for DUP): a
    // client must not rely on DUP to tell a re-delivery; the bridge counts on neither.
    assert!(
        !again.dup,
        "aedes now sets DUP: update the comment and the README"
    );
    assert_eq!(
        (again.packet_id, &again.payload[..], &again.topic),
        (first.packet_id, &b"once"[..], &first.topic)
    );
    acknowledge(&mut c, &again);
    c.send(&Packet::PingReq);
    assert_eq!(c.recv().0, Packet::PingResp, "acknowledged once, sent once");
    c.send(&Packet::Disconnect(Disconnect {
        reason: ReasonCode::SUCCESS,
        properties: Properties::default(),
    }));
    c.expect_closed();
}

/// aedes 1.2.0 has no shared subscriptions: `$share/g/rb/sh` is granted as an ordinary filter,
/// which `rb/sh` does not match, so a bridge with `mqtt.share_group` on aedes is subscribed and
/// receives nothing (the README says so). A plain subscription after it shows the order: the
/// message on `rb/sh`, published first, never comes; the marker does.
#[test]
fn aedes_takes_a_shared_subscription_for_an_ordinary_filter_3_1_1() {
    let deadline = Instant::now() + DEADLINE;
    let broker = start("share");
    let mut c = Client::open(broker.port, V, deadline);
    c.send(&connect_packet(V, "rb-aedes-share", true));
    assert!(!connack(&mut c).0.session_present);
    let (suback, _) = subscribe(&mut c, V, "$share/g/rb/sh", QoS::AtLeastOnce);
    assert_eq!(
        suback.codes,
        [ReasonCode::GRANTED_QOS_1],
        "{}",
        broker.log()
    );
    let (suback, _) = subscribe(&mut c, V, "rb/marker", QoS::AtLeastOnce);
    assert_eq!(suback.codes, [ReasonCode::GRANTED_QOS_1]);
    pub_311(
        broker.port,
        deadline,
        &["-t", "rb/sh", "-m", "shared", "-q", "1"],
    );
    pub_311(
        broker.port,
        deadline,
        &["-t", "rb/marker", "-m", "marker", "-q", "1"],
    );
    let (m, _) = publish(&mut c);
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("rb/marker", &b"marker"[..]),
        "aedes now serves $share: update the README"
    );
    acknowledge(&mut c, &m);
    c.send(&Packet::PingReq);
    assert_eq!(c.recv().0, Packet::PingResp, "nothing else was delivered");
}
