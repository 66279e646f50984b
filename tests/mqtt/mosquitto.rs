//! Real mosquitto 2.0 as the peer: connect (3.1.1 and 5.0), subscribe, receive what
//! `mosquitto_pub` publishes at QoS 0, 1 and 2 (with MQTT 5 user properties) and acknowledge it
//! as the protocol requires (PUBACK; PUBREC, PUBREL, PUBCOMP), publish through our encoder,
//! ping, disconnect. A session resumed after a dropped connection re-delivers an unacknowledged
//! message with DUP set; a will (in a CONNECT with user name and password) is published when its
//! connection drops. Each test runs under a 30 s deadline; every read and every client process is
//! bounded by it, and the broker is killed when the test ends.
//!
//! Server packets whose bytes do not depend on timing are compared with the captures in
//! `tests/fixtures/mqtt/` (`WRITE_MQTT_FIXTURES=1` rewrites them; see the README there).

use crate::client::Client;
use bytes::Bytes;
use rocketmq_bridge::mqtt::{
    Ack, ConnAck, Connect, Disconnect, LastWill, Packet, Properties, Publish, QoS, ReasonCode,
    SubAck, Subscribe, SubscribeOptions, Version,
};
use rocketmq_bridge_test_support::mosquitto::{self as mosq, Broker};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mqtt")
        .join(name)
}

/// Compares `raw` with the committed capture `name`, or writes it with `WRITE_MQTT_FIXTURES=1`.
fn golden(name: &str, raw: &[u8]) {
    let path = fixture(name);
    if std::env::var("WRITE_MQTT_FIXTURES").as_deref() == Ok("1") {
        std::fs::write(&path, raw).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        raw,
        &want[..],
        "mosquitto sent other bytes than {} (a different mosquitto version? re-capture with \
         WRITE_MQTT_FIXTURES=1 and review)",
        path.display()
    );
}

fn start_broker(name: &str) -> Broker {
    Broker::start(&mosq::temp_dir(name), "allow_anonymous true\n")
}

/// Runs `mosquitto_pub` (MQTT 5, with user properties) against the broker, bounded by the deadline.
fn mosquitto_pub(port: u16, deadline: Instant, args: &[&str]) {
    let mut c = Command::new("mosquitto_pub");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", "mqttv5"])
        .args(["-D", "publish", "user-property", "k", "v"])
        .args(["-D", "publish", "user-property", "client_id", "pub-1"])
        .args(args);
    let left = deadline.saturating_duration_since(Instant::now());
    let out = mosq::run(c, left.min(Duration::from_secs(5)));
    assert!(out.status.success(), "mosquitto_pub {args:?}: {out:?}");
}

pub(crate) fn connect_packet(v: Version, client_id: &str, clean: bool) -> Packet {
    let properties = match v {
        Version::V311 => Properties::default(),
        Version::V5 => Properties {
            session_expiry_interval: Some(if clean { 0 } else { 60 }),
            receive_maximum: Some(10),
            user_properties: vec![("bridge".into(), "rocketmq-bridge".into())],
            ..Properties::default()
        },
    };
    Packet::Connect(Box::new(Connect {
        version: v,
        client_id: client_id.into(),
        clean_start: clean,
        keep_alive: 60,
        username: None,
        password: None,
        will: None,
        properties,
    }))
}

pub(crate) fn connack(c: &mut Client) -> (ConnAck, Vec<u8>) {
    match c.recv() {
        (Packet::ConnAck(a), raw) => (a, raw),
        (p, raw) => panic!("expected CONNACK, got {p:?} {raw:02x?}"),
    }
}

pub(crate) fn subscribe(c: &mut Client, v: Version, filter: &str, qos: QoS) -> (SubAck, Vec<u8>) {
    let properties = match v {
        Version::V311 => Properties::default(),
        Version::V5 => Properties {
            subscription_identifiers: vec![7],
            ..Properties::default()
        },
    };
    c.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: vec![(filter.into(), SubscribeOptions::qos(qos))],
        properties,
    }));
    match c.recv() {
        (Packet::SubAck(a), raw) => (a, raw),
        (p, raw) => panic!("expected SUBACK, got {p:?} {raw:02x?}"),
    }
}

pub(crate) fn publish(c: &mut Client) -> (Publish, Vec<u8>) {
    match c.recv() {
        (Packet::Publish(m), raw) => (m, raw),
        (p, raw) => panic!("expected PUBLISH, got {p:?} {raw:02x?}"),
    }
}

/// Acknowledges `m` as its QoS requires: PUBACK, or PUBREC then (after the broker's PUBREL)
/// PUBCOMP.
pub(crate) fn acknowledge(c: &mut Client, m: &Publish) {
    match (m.qos, m.packet_id) {
        (QoS::AtMostOnce, None) => {}
        (QoS::AtLeastOnce, Some(id)) => {
            c.send(&Packet::PubAck(Ack::new(id)));
        }
        (QoS::ExactlyOnce, Some(id)) => {
            c.send(&Packet::PubRec(Ack::new(id)));
            match c.recv() {
                (Packet::PubRel(a), _) => assert_eq!(a, Ack::new(id)),
                (p, raw) => panic!("expected PUBREL, got {p:?} {raw:02x?}"),
            }
            c.send(&Packet::PubComp(Ack::new(id)));
        }
        other => panic!("QoS and packet id do not match: {other:?}"),
    }
}

fn tag(v: Version) -> &'static str {
    match v {
        Version::V311 => "v311",
        Version::V5 => "v5",
    }
}

/// The whole client conversation with one protocol version.
fn conversation(v: Version) {
    let deadline = Instant::now() + DEADLINE;
    let broker = start_broker(&format!("mqtt-codec-{}", tag(v)));
    let port = broker.port;
    // A retained message published before we subscribe comes with RETAIN set.
    mosquitto_pub(
        port,
        deadline,
        &["-t", "rb/golden/retained", "-m", "kept", "-q", "1", "-r"],
    );

    let mut c = Client::open(port, v, deadline);
    c.send(&connect_packet(v, &format!("rb-golden-{}", tag(v)), true));
    let (ack, raw) = connack(&mut c);
    assert_eq!(
        (ack.session_present, ack.code),
        (false, ReasonCode::SUCCESS)
    );
    golden(&format!("connack_{}.bin", tag(v)), &raw);

    let (suback, raw) = subscribe(&mut c, v, "rb/golden/#", QoS::ExactlyOnce);
    assert_eq!(
        (suback.packet_id, &suback.codes[..]),
        (1, &[ReasonCode::GRANTED_QOS_2][..])
    );
    golden(&format!("suback_{}.bin", tag(v)), &raw);

    let (m, _) = publish(&mut c);
    assert_eq!(
        (m.topic.as_str(), &m.payload[..], m.qos, m.retain, m.dup),
        (
            "rb/golden/retained",
            &b"kept"[..],
            QoS::AtLeastOnce,
            true,
            false
        )
    );
    acknowledge(&mut c, &m);

    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let topic = format!("rb/golden/q{}", qos.level());
        let payload = format!("payload at QoS {}", qos.level());
        let level = qos.level().to_string();
        mosquitto_pub(
            port,
            deadline,
            &["-t", &topic, "-m", &payload, "-q", &level],
        );
        let (m, raw) = publish(&mut c);
        assert_eq!(
            (m.topic.as_str(), &m.payload[..], m.qos, m.retain, m.dup),
            (topic.as_str(), payload.as_bytes(), qos, false, false)
        );
        assert_eq!(m.packet_id.is_some(), qos != QoS::AtMostOnce);
        match v {
            // 3.1.1 cannot carry properties: mosquitto drops them.
            Version::V311 => assert!(m.properties.is_empty()),
            Version::V5 => {
                assert_eq!(
                    m.properties.user_properties,
                    [
                        ("k".into(), "v".into()),
                        ("client_id".into(), "pub-1".into())
                    ]
                );
                assert_eq!(m.properties.user_property("client_id"), Some("pub-1"));
                assert_eq!(m.properties.subscription_identifiers, [7]);
                if qos == QoS::AtLeastOnce {
                    golden("publish_v5_qos1_user_properties.bin", &raw);
                }
            }
        }
        acknowledge(&mut c, &m);
    }

    // Our encoder as the publisher, to a topic nobody subscribed: QoS 1 and 2 hand-shakes.
    // mosquitto 2.0 says "no matching subscribers" (0x10) in an MQTT 5 PUBACK, but not in PUBREC.
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
            (QoS::AtLeastOnce, (Packet::PubAck(a), raw)) => {
                let nobody = match v {
                    Version::V311 => ReasonCode::SUCCESS,
                    Version::V5 => ReasonCode::NO_MATCHING_SUBSCRIBERS,
                };
                assert_eq!((a.packet_id, a.reason), (id, nobody));
                if v == Version::V5 {
                    golden("puback_v5_no_matching_subscribers.bin", &raw);
                }
            }
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

    // Our publish to a topic we subscribed comes back to us.
    c.send(&Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "rb/golden/echo".into(),
        packet_id: Some(13),
        properties: Properties::default(),
        payload: Bytes::from_static(b"echo"),
    }));
    let mut got = (false, false);
    while got != (true, true) {
        match c.recv() {
            (Packet::PubAck(a), _) if a.packet_id == 13 && !got.0 => got.0 = true,
            (Packet::Publish(m), _) if !got.1 => {
                assert_eq!(
                    (m.topic.as_str(), &m.payload[..]),
                    ("rb/golden/echo", &b"echo"[..])
                );
                acknowledge(&mut c, &m);
                got.1 = true;
            }
            (p, raw) => panic!("unexpected {p:?} {raw:02x?}"),
        }
    }

    c.send(&Packet::PingReq);
    assert_eq!(c.recv(), (Packet::PingResp, vec![0xD0, 0x00]));
    let bye = c.send(&Packet::Disconnect(Disconnect {
        reason: ReasonCode::SUCCESS,
        properties: Properties::default(),
    }));
    assert_eq!(bye, [0xE0, 0x00]);
    c.expect_closed();
    assert!(Instant::now() < deadline);
}

#[test]
fn mosquitto_conversation_mqtt_3_1_1() {
    conversation(Version::V311);
}

#[test]
fn mosquitto_conversation_mqtt_5() {
    conversation(Version::V5);
}

/// A QoS 1 message received but not acknowledged before the connection drops is sent again,
/// with DUP set and the same packet identifier, when the session is resumed.
fn resumed_session_redelivers_with_dup(v: Version) {
    let deadline = Instant::now() + DEADLINE;
    let broker = start_broker(&format!("mqtt-codec-dup-{}", tag(v)));
    let id = format!("rb-dup-{}", tag(v));
    let mut c = Client::open(broker.port, v, deadline);
    c.send(&connect_packet(v, &id, false));
    assert!(!connack(&mut c).0.session_present);
    let (suback, _) = subscribe(&mut c, v, "rb/dup", QoS::AtLeastOnce);
    assert_eq!(suback.codes, [ReasonCode::GRANTED_QOS_1]);
    mosquitto_pub(
        broker.port,
        deadline,
        &["-t", "rb/dup", "-m", "once", "-q", "1"],
    );
    let (first, _) = publish(&mut c);
    assert!(!first.dup);
    drop(c); // no PUBACK, no DISCONNECT

    let mut c = Client::open(broker.port, v, deadline);
    c.send(&connect_packet(v, &id, false));
    let (ack, _) = connack(&mut c);
    assert!(ack.session_present, "the session was not resumed");
    let (again, _) = publish(&mut c);
    assert!(again.dup, "re-delivery without DUP");
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

#[test]
fn mosquitto_resumed_session_redelivers_with_dup_3_1_1() {
    resumed_session_redelivers_with_dup(Version::V311);
}

#[test]
fn mosquitto_resumed_session_redelivers_with_dup_5() {
    resumed_session_redelivers_with_dup(Version::V5);
}

/// Our CONNECT with a will, a user name and a password is accepted, and the will is published
/// (with its MQTT 5 user property) when the connection drops without a DISCONNECT.
fn will_is_published_when_the_connection_drops(v: Version) {
    let deadline = Instant::now() + DEADLINE;
    let broker = start_broker(&format!("mqtt-codec-will-{}", tag(v)));
    let mut watcher = Client::open(broker.port, v, deadline);
    watcher.send(&connect_packet(v, &format!("rb-watch-{}", tag(v)), true));
    assert_eq!(connack(&mut watcher).0.code, ReasonCode::SUCCESS);
    subscribe(&mut watcher, v, "rb/will/#", QoS::AtLeastOnce);

    let will_props = match v {
        Version::V311 => Properties::default(),
        Version::V5 => Properties {
            will_delay_interval: Some(0),
            user_properties: vec![("client_id".into(), "rb-dying".into())],
            ..Properties::default()
        },
    };
    let Packet::Connect(mut connect) = connect_packet(v, &format!("rb-dying-{}", tag(v)), true)
    else {
        unreachable!()
    };
    connect.username = Some("bridge".into());
    connect.password = Some(Bytes::from_static(b"secret\x00bytes"));
    connect.will = Some(LastWill {
        topic: "rb/will/dying".into(),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: will_props,
    });
    let mut dying = Client::open(broker.port, v, deadline);
    dying.send(&Packet::Connect(connect));
    assert_eq!(connack(&mut dying).0.code, ReasonCode::SUCCESS);
    drop(dying); // no DISCONNECT: the will is published

    let (m, _) = publish(&mut watcher);
    assert_eq!(
        (m.topic.as_str(), &m.payload[..], m.qos),
        ("rb/will/dying", &b"gone"[..], QoS::AtLeastOnce)
    );
    if v == Version::V5 {
        assert_eq!(m.properties.user_property("client_id"), Some("rb-dying"));
    }
    acknowledge(&mut watcher, &m);
    watcher.send(&Packet::PingReq);
    assert_eq!(watcher.recv().0, Packet::PingResp);
}

#[test]
fn mosquitto_will_is_published_when_the_connection_drops_3_1_1() {
    will_is_published_when_the_connection_drops(Version::V311);
}

#[test]
fn mosquitto_will_is_published_when_the_connection_drops_5() {
    will_is_published_when_the_connection_drops(Version::V5);
}
