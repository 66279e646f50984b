//! Server packets captured from mosquitto 2.0.11 (`tests/fixtures/mqtt/`, see the README there)
//! decoded from the committed bytes: what the codec must read whatever the local broker is.

use bytes::BytesMut;
use rocketmq_bridge::mqtt::{
    decode_packet, encode_to_vec, MqttLimits, Packet, Properties, QoS, ReasonCode, Version,
};
use std::path::PathBuf;

fn decode(name: &str, v: Version) -> Packet {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mqtt")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buf = BytesMut::from(&bytes[..]);
    let p = decode_packet(&mut buf, v, &MqttLimits::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .unwrap_or_else(|| panic!("{name}: incomplete"));
    assert!(
        buf.is_empty(),
        "{name}: {} bytes after the packet",
        buf.len()
    );
    p
}

/// Encodes `p` again: the same bytes as mosquitto's, unless mosquitto ordered the properties
/// differently (the encoder writes them in identifier order).
fn encode(p: &Packet, v: Version) -> Vec<u8> {
    encode_to_vec(p, v, &MqttLimits::default()).unwrap()
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mqtt")
            .join(name),
    )
    .unwrap()
}

#[test]
fn connack_3_1_1_from_mosquitto() {
    let p = decode("connack_v311.bin", Version::V311);
    let Packet::ConnAck(a) = &p else {
        panic!("{p:?}")
    };
    assert_eq!((a.session_present, a.code), (false, ReasonCode::SUCCESS));
    assert!(a.properties.is_empty());
    assert_eq!(encode(&p, Version::V311), read("connack_v311.bin"));
}

#[test]
fn connack_5_from_mosquitto_carries_its_limits() {
    let p = decode("connack_v5.bin", Version::V5);
    let Packet::ConnAck(a) = &p else {
        panic!("{p:?}")
    };
    assert_eq!((a.session_present, a.code), (false, ReasonCode::SUCCESS));
    // mosquitto 2.0 defaults: max_inflight_messages 20, max_topic_alias 10.
    assert_eq!(a.properties.receive_maximum, Some(20));
    assert_eq!(a.properties.topic_alias_maximum, Some(10));
    let only_these = Properties {
        receive_maximum: Some(20),
        topic_alias_maximum: Some(10),
        ..Properties::default()
    };
    assert_eq!(a.properties, only_these);
    // mosquitto writes topic alias maximum (0x22) before receive maximum (0x21); we sort.
    let again = encode(&p, Version::V5);
    assert_ne!(again, read("connack_v5.bin"));
    assert_eq!(again.len(), read("connack_v5.bin").len());
    assert_eq!(
        decode_packet(
            &mut BytesMut::from(&again[..]),
            Version::V5,
            &MqttLimits::default()
        ),
        Ok(Some(p))
    );
}

#[test]
fn suback_from_mosquitto_grants_qos_2() {
    for (name, v) in [
        ("suback_v311.bin", Version::V311),
        ("suback_v5.bin", Version::V5),
    ] {
        let p = decode(name, v);
        let Packet::SubAck(a) = &p else {
            panic!("{p:?}")
        };
        assert_eq!(
            (a.packet_id, &a.codes[..]),
            (1, &[ReasonCode::GRANTED_QOS_2][..])
        );
        assert!(a.properties.is_empty());
        assert_eq!(encode(&p, v), read(name), "{name}");
    }
}

#[test]
fn publish_5_from_mosquitto_carries_user_properties_and_the_subscription_identifier() {
    let p = decode("publish_v5_qos1_user_properties.bin", Version::V5);
    let Packet::Publish(m) = &p else {
        panic!("{p:?}")
    };
    assert_eq!(
        (m.topic.as_str(), m.qos, m.packet_id, m.dup, m.retain),
        ("rb/golden/q1", QoS::AtLeastOnce, Some(2), false, false)
    );
    assert_eq!(&m.payload[..], b"payload at QoS 1");
    assert_eq!(
        m.properties.user_properties,
        [
            ("k".into(), "v".into()),
            ("client_id".into(), "pub-1".into())
        ]
    );
    assert_eq!(m.properties.subscription_identifiers, [7]);
    let rest = Properties {
        user_properties: Vec::new(),
        subscription_identifiers: Vec::new(),
        ..m.properties.clone()
    };
    assert!(rest.is_empty(), "other properties: {rest:?}");
    assert_eq!(
        encode(&p, Version::V5),
        read("publish_v5_qos1_user_properties.bin")
    );
    // Read as 3.1.1 the same bytes are still a well-formed PUBLISH whose payload starts with the
    // 29-byte property block: the version must come from the session, not from the packet.
    let Packet::Publish(as_v3) = decode("publish_v5_qos1_user_properties.bin", Version::V311)
    else {
        panic!()
    };
    assert_eq!(as_v3.payload.len(), m.payload.len() + 29);
}

#[test]
fn puback_5_from_mosquitto_says_no_matching_subscribers() {
    let p = decode("puback_v5_no_matching_subscribers.bin", Version::V5);
    let Packet::PubAck(a) = &p else {
        panic!("{p:?}")
    };
    assert_eq!(
        (a.packet_id, a.reason),
        (11, ReasonCode::NO_MATCHING_SUBSCRIBERS)
    );
    assert!(!a.reason.is_error());
    assert_eq!(
        encode(&p, Version::V5),
        read("puback_v5_no_matching_subscribers.bin")
    );
}

/// The fuzz seeds `fuzz/corpus/mqtt_packet/golden_*` are these captures behind a selector byte
/// whose bit 0 names the version they were captured with.
#[test]
fn fuzz_seeds_are_the_captures() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/mqtt_packet");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some(capture) = name.strip_prefix("golden_") else {
            continue;
        };
        let seed = std::fs::read(&path).unwrap();
        assert_eq!(&seed[1..], read(&format!("{capture}.bin")), "{name}");
        assert_eq!(
            seed[0] & 1 == 1,
            capture.contains("_v5"),
            "{name}: version bit"
        );
        n += 1;
    }
    assert_eq!(n, 6);
}
