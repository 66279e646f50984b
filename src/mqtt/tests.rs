//! The codec end to end: the specification's examples, a round trip of every packet in both
//! versions (split at every offset too), the cap checked before anything is reserved, and the
//! errors for what the specification forbids.

use super::*;
use bytes::Bytes;

fn lim() -> MqttLimits {
    MqttLimits::default()
}

fn dec(bytes: &[u8], v: Version) -> Result<Option<Packet>, MqttError> {
    decode_packet(&mut BytesMut::from(bytes), v, &lim())
}

fn enc(p: &Packet, v: Version) -> Vec<u8> {
    encode_to_vec(p, v, &lim()).unwrap_or_else(|e| panic!("{} ({v:?}): {e}", p.name()))
}

fn user(k: &str, val: &str) -> (String, String) {
    (k.to_string(), val.to_string())
}

/// Every packet this codec handles, with what `v` can carry (MQTT 5: properties and codes).
fn every_packet(v: Version) -> Vec<Packet> {
    let v5 = v == Version::V5;
    let pr = |p: Properties| if v5 { p } else { Properties::default() };
    let code = |c: u8| ReasonCode(if v5 { c } else { 0 });
    let reason = Properties {
        reason_string: Some("why".into()),
        user_properties: vec![user("k", "v")],
        ..Properties::default()
    };
    let ack = |id: u16, c: u8, p: &Properties| Ack {
        packet_id: id,
        reason: code(c),
        properties: pr(p.clone()),
    };
    vec![
        Packet::Connect(Box::new(Connect {
            version: v,
            client_id: "bridge-1".into(),
            clean_start: false,
            keep_alive: 30,
            username: Some("u".into()),
            password: Some(Bytes::from_static(b"p\x00w")),
            will: Some(LastWill {
                topic: "bridge/status".into(),
                payload: Bytes::from_static(b"offline"),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: pr(Properties {
                    will_delay_interval: Some(5),
                    ..Properties::default()
                }),
            }),
            properties: pr(Properties {
                session_expiry_interval: Some(3600),
                receive_maximum: Some(100),
                user_properties: vec![user("app", "rocketmq-bridge")],
                ..Properties::default()
            }),
        })),
        Packet::Connect(Box::new(Connect {
            version: v,
            client_id: String::new(),
            clean_start: true,
            keep_alive: 0,
            username: None,
            password: None,
            will: None,
            properties: Properties::default(),
        })),
        Packet::ConnAck(ConnAck {
            session_present: true,
            code: ReasonCode::SUCCESS,
            properties: pr(Properties {
                receive_maximum: Some(20),
                topic_alias_maximum: Some(10),
                assigned_client_identifier: Some("auto-7".into()),
                ..Properties::default()
            }),
        }),
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: ReasonCode(if v5 { 0x87 } else { 5 }),
            properties: pr(reason.clone()),
        }),
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "a/b".into(),
            packet_id: None,
            properties: Properties::default(),
            payload: Bytes::new(),
        }),
        Packet::Publish(Publish {
            dup: true,
            qos: QoS::AtLeastOnce,
            retain: true,
            topic: "sensors/ü/temp".into(),
            packet_id: Some(1),
            properties: pr(Properties {
                user_properties: vec![user("client_id", "c1"), user("client_id", "c2")],
                message_expiry_interval: Some(60),
                subscription_identifiers: vec![1, 268_435_455],
                ..Properties::default()
            }),
            payload: Bytes::from(vec![0u8, 1, 2, 255]),
        }),
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic: if v5 { String::new() } else { "t".into() },
            packet_id: Some(u16::MAX),
            properties: pr(Properties {
                topic_alias: Some(2),
                ..Properties::default()
            }),
            payload: Bytes::from(vec![b'x'; 300]),
        }),
        Packet::PubAck(ack(1, 0, &Properties::default())),
        Packet::PubAck(ack(2, 0x10, &Properties::default())),
        Packet::PubRec(ack(3, 0x80, &reason)),
        Packet::PubRel(ack(4, 0x92, &Properties::default())),
        Packet::PubComp(ack(5, 0, &reason)),
        Packet::Subscribe(Subscribe {
            packet_id: 10,
            filters: vec![
                ("a/+/c".into(), SubscribeOptions::qos(QoS::AtLeastOnce)),
                (
                    "$share/g/#".into(),
                    if v5 {
                        SubscribeOptions {
                            qos: QoS::ExactlyOnce,
                            no_local: false,
                            retain_as_published: true,
                            retain_handling: RetainHandling::DoNotSend,
                        }
                    } else {
                        SubscribeOptions::qos(QoS::ExactlyOnce)
                    },
                ),
            ],
            properties: pr(Properties {
                subscription_identifiers: vec![42],
                ..Properties::default()
            }),
        }),
        Packet::SubAck(SubAck {
            packet_id: 10,
            codes: vec![
                ReasonCode::GRANTED_QOS_1,
                ReasonCode::GRANTED_QOS_2,
                ReasonCode::UNSPECIFIED_ERROR,
            ],
            properties: pr(reason.clone()),
        }),
        Packet::PingReq,
        Packet::PingResp,
        Packet::Disconnect(Disconnect {
            reason: ReasonCode::SUCCESS,
            properties: Properties::default(),
        }),
        Packet::Disconnect(Disconnect {
            reason: code(0x8E),
            properties: pr(Properties {
                session_expiry_interval: Some(0),
                server_reference: Some("other:1883".into()),
                ..reason.clone()
            }),
        }),
    ]
}

#[test]
fn every_packet_round_trips_in_both_versions_and_at_every_split() {
    for v in [Version::V311, Version::V5] {
        for p in every_packet(v) {
            let bytes = enc(&p, v);
            // Two packets back to back: each decode takes exactly one.
            let mut two = BytesMut::from(&bytes[..]);
            two.extend_from_slice(&bytes);
            assert_eq!(decode_packet(&mut two, v, &lim()), Ok(Some(p.clone())));
            assert_eq!(
                two.len(),
                bytes.len(),
                "{}: consumed more than one",
                p.name()
            );
            assert_eq!(decode_packet(&mut two, v, &lim()), Ok(Some(p.clone())));
            assert!(two.is_empty());
            // Every strict prefix is "need more" and consumes nothing.
            for cut in 0..bytes.len() {
                let mut part = BytesMut::from(&bytes[..cut]);
                assert_eq!(
                    decode_packet(&mut part, v, &lim()),
                    Ok(None),
                    "{} cut {cut}",
                    p.name()
                );
                assert_eq!(part.len(), cut);
                assert!(read_hint(&part, &lim(), 4096) >= 1);
            }
        }
    }
}

#[test]
fn the_v5_form_of_a_packet_is_refused_in_3_1_1() {
    for p in every_packet(Version::V5) {
        let v3 = encode_to_vec(&p, Version::V311, &lim());
        let v5_only = match &p {
            Packet::Connect(c) => !c.properties.is_empty() || c.version == Version::V5,
            Packet::Publish(m) => !m.properties.is_empty(),
            Packet::Subscribe(_) | Packet::SubAck(_) => true,
            Packet::ConnAck(c) => !c.properties.is_empty() || c.code.0 > 5,
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                a.reason != ReasonCode::SUCCESS || !a.properties.is_empty()
            }
            Packet::Disconnect(d) => d.reason != ReasonCode::SUCCESS,
            Packet::PingReq | Packet::PingResp => false,
        };
        match (&p, v3) {
            // CONNECT carries its version: the V5 one is written as 5.0 whatever the call says.
            (Packet::Connect(c), Ok(b)) => assert_eq!(b[8], c.version.level()),
            (_, Ok(_)) => assert!(!v5_only, "{} encoded as 3.1.1", p.name()),
            (_, Err(e)) => assert!(
                v5_only
                    && matches!(
                        e,
                        MqttError::NotInVersion { .. }
                            | MqttError::InvalidReasonCode { .. }
                            // an empty topic needs a topic alias, which 3.1.1 lacks
                            | MqttError::Empty { .. }
                    ),
                "{}: {e}",
                p.name()
            ),
        }
    }
}

/// MQTT 3.1.1 section 3.1.2.10 and MQTT 5.0 section 3.1.2.11 (the variable header examples),
/// and the fixed two-byte packets.
#[test]
fn spec_examples_encode_byte_for_byte() {
    // 3.1.1: user name, password, will QoS 1, will flag, clean session: flags 0xCE, keep alive 10.
    let mut c = Connect {
        version: Version::V311,
        client_id: "c".into(),
        clean_start: true,
        keep_alive: 10,
        username: Some("u".into()),
        password: Some(Bytes::from_static(b"p")),
        will: Some(LastWill {
            topic: "w".into(),
            payload: Bytes::from_static(b"x"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties::default(),
        }),
        properties: Properties::default(),
    };
    let b = enc(&Packet::Connect(Box::new(c.clone())), Version::V311);
    assert_eq!(&b[2..12], &[0, 4, b'M', b'Q', b'T', b'T', 4, 0xCE, 0, 10]);
    // 5.0: user name, password, clean start (0xC2), keep alive 10, session expiry 10.
    c.version = Version::V5;
    c.will = None;
    c.properties.session_expiry_interval = Some(10);
    let b = enc(&Packet::Connect(Box::new(c)), Version::V5);
    assert_eq!(
        &b[2..18],
        &[0, 4, b'M', b'Q', b'T', b'T', 5, 0xC2, 0, 10, 5, 0x11, 0, 0, 0, 10]
    );
    for v in [Version::V311, Version::V5] {
        assert_eq!(enc(&Packet::PingReq, v), [0xC0, 0]);
        assert_eq!(enc(&Packet::PingResp, v), [0xD0, 0]);
        let d = Disconnect {
            reason: ReasonCode::SUCCESS,
            properties: Properties::default(),
        };
        assert_eq!(enc(&Packet::Disconnect(d), v), [0xE0, 0]);
        assert_eq!(
            enc(&Packet::PubRel(Ack::new(0x1234)), v),
            [0x62, 2, 0x12, 0x34]
        );
    }
    // A 3.1.1 CONNACK accepting a resumed session; a 5.0 SUBACK granting QoS 1.
    assert_eq!(
        dec(&[0x20, 2, 1, 0], Version::V311),
        Ok(Some(Packet::ConnAck(ConnAck {
            session_present: true,
            code: ReasonCode::SUCCESS,
            properties: Properties::default()
        })))
    );
    assert_eq!(
        dec(&[0x90, 4, 0, 9, 0, 1], Version::V5),
        Ok(Some(Packet::SubAck(SubAck {
            packet_id: 9,
            codes: vec![ReasonCode::GRANTED_QOS_1],
            properties: Properties::default()
        })))
    );
    // 5.0 acknowledgements may leave out the reason code and the property length.
    for b in [
        &[0x40, 2, 0, 7][..],
        &[0x40, 3, 0, 7, 0],
        &[0x40, 4, 0, 7, 0, 0],
    ] {
        assert_eq!(dec(b, Version::V5), Ok(Some(Packet::PubAck(Ack::new(7)))));
    }
    assert!(matches!(
        dec(&[0x40, 3, 0, 7, 0], Version::V311),
        Err(MqttError::TrailingBytes { len: 1, .. })
    ));
}

/// The remaining-length table of MQTT 3.1.1 section 2.2.3 through the streaming decoder: each
/// length is announced as a PINGREQ fixed header (a complete one for 0).
#[test]
fn remaining_lengths_of_the_spec_table_are_read_and_capped_before_reserving() {
    let table: [(usize, &[u8]); 8] = [
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xFF, 0x7F]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xFF, 0xFF, 0x7F]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
    ];
    let unlimited = MqttLimits {
        max_packet_len: usize::MAX,
    };
    for (len, enc) in table {
        let mut b = BytesMut::with_capacity(8);
        b.put_u8(0xC0);
        b.extend_from_slice(enc);
        let h = peek_header(&b, &unlimited).unwrap().unwrap();
        assert_eq!((h.remaining_len, h.header_len), (len, 1 + enc.len()));
        let total = 1 + enc.len() + len;
        let cap = b.capacity();
        if len == 0 {
            assert_eq!(
                decode_packet(&mut b, Version::V5, &lim()),
                Ok(Some(Packet::PingReq))
            );
            assert!(b.is_empty());
            continue;
        }
        if total <= MAX_PACKET_LEN {
            assert_eq!(decode_packet(&mut b, Version::V5, &lim()), Ok(None));
            assert_eq!(read_hint(&b, &lim(), 4096), (total - b.len()).min(4096));
        } else {
            assert_eq!(
                decode_packet(&mut b, Version::V5, &lim()),
                Err(MqttError::PacketTooLarge {
                    len: total as u64,
                    max: MAX_PACKET_LEN
                })
            );
        }
        assert_eq!(b.capacity(), cap, "the decoder must not reserve for {len}");
        assert_eq!(b.len(), 1 + enc.len(), "nothing consumed");
    }
    // A fifth length byte is refused, whether or not it arrived.
    for b in [
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F][..],
        &[0x30, 0x80, 0x80, 0x80, 0x80],
    ] {
        assert_eq!(
            dec(b, Version::V311),
            Err(MqttError::MalformedVarInt {
                field: "remaining length"
            })
        );
    }
    // The cap counts the fixed header: a 1 MiB packet passes, one byte more does not.
    let small = MqttLimits { max_packet_len: 10 };
    let p = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "t".into(),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::from_static(b"12345"),
    });
    let b = encode_to_vec(&p, Version::V311, &small).unwrap();
    assert_eq!(b.len(), 10);
    let smaller = MqttLimits { max_packet_len: 9 };
    assert_eq!(
        decode_packet(&mut BytesMut::from(&b[..2]), Version::V311, &smaller),
        Err(MqttError::PacketTooLarge { len: 10, max: 9 })
    );
    let mut out = BytesMut::from(&b"keep"[..]);
    assert_eq!(
        encode_packet(&p, Version::V311, &mut out, &smaller),
        Err(MqttError::PacketTooLarge { len: 10, max: 9 })
    );
    assert_eq!(&out[..], b"keep", "dst untouched on error");
}

#[test]
fn publish_payload_is_a_slice_of_the_received_buffer() {
    let p = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "t".into(),
        packet_id: Some(5),
        properties: Properties::default(),
        payload: Bytes::from(vec![7u8; 1000]),
    });
    let mut b = BytesMut::from(&enc(&p, Version::V5)[..]);
    let base = b.as_ptr() as usize;
    let Some(Packet::Publish(m)) = decode_packet(&mut b, Version::V5, &lim()).unwrap() else {
        panic!("not a PUBLISH");
    };
    // 0x32, 2 length bytes, topic (3), packet id (2), property length (1).
    assert_eq!(m.payload.as_ptr() as usize, base + 9, "payload was copied");
    assert_eq!(m.payload.len(), 1000);
}

#[test]
fn forbidden_headers_and_fields_are_named() {
    let v5 = Version::V5;
    let cases: Vec<(&[u8], MqttError)> = vec![
        (&[0x00, 0], MqttError::UnsupportedPacketType(0)),
        (&[0xA2], MqttError::UnsupportedPacketType(10)),
        (&[0xF0, 0], MqttError::UnsupportedPacketType(15)),
        (
            &[0x60, 2, 0, 1],
            MqttError::InvalidFlags {
                packet: "PUBREL",
                flags: 0,
            },
        ),
        (
            &[0x41],
            MqttError::InvalidFlags {
                packet: "PUBACK",
                flags: 1,
            },
        ),
        (
            &[0x80, 5, 0, 1, 0, 0, 0],
            MqttError::InvalidFlags {
                packet: "SUBSCRIBE",
                flags: 0,
            },
        ),
        (
            &[0x36, 5, 0, 1, b't', 0, 1],
            MqttError::ValueOutOfRange {
                field: "PUBLISH QoS",
                value: 3,
            },
        ),
        (
            &[0x38, 3, 0, 1, b't'],
            MqttError::InvalidFlags {
                packet: "PUBLISH",
                flags: 8,
            },
        ),
        (&[0x32, 5, 0, 1, b't', 0, 0], MqttError::ZeroPacketId),
        (&[0x30, 4, 0, 1, b'#', 0], MqttError::WildcardInTopic),
        (
            &[0x30, 3, 0, 0, 0],
            MqttError::Empty {
                field: "topic name",
            },
        ),
        (
            &[0x30, 4, 0, 1, 0, 0],
            MqttError::NulInString {
                field: "topic name",
            },
        ),
        (
            &[0x30, 4, 0, 1, 0xFF, 0],
            MqttError::InvalidUtf8 {
                field: "topic name",
            },
        ),
        (
            &[0x30, 4, 0, 9, b't', 0],
            MqttError::Truncated {
                field: "topic name",
                need: 9,
                have: 2,
            },
        ),
        (
            &[0xC0, 1, 0],
            MqttError::TrailingBytes {
                packet: "PINGREQ",
                len: 1,
            },
        ),
        (
            &[0x20, 3, 2, 0, 0],
            MqttError::ValueOutOfRange {
                field: "connect acknowledge flags",
                value: 2,
            },
        ),
        (
            &[0x20, 3, 1, 0x87, 0],
            MqttError::ValueOutOfRange {
                field: "session present",
                value: 1,
            },
        ),
        (
            &[0x20, 3, 0, 0x05, 0],
            MqttError::InvalidReasonCode {
                packet: "CONNACK",
                code: 5,
            },
        ),
        (
            &[0x40, 3, 0, 1, 0x92],
            MqttError::InvalidReasonCode {
                packet: "PUBACK",
                code: 0x92,
            },
        ),
        (
            &[0x90, 4, 0, 1, 0, 0x03],
            MqttError::InvalidReasonCode {
                packet: "SUBACK",
                code: 3,
            },
        ),
        (
            &[0x90, 3, 0, 1, 0],
            MqttError::Empty {
                field: "SUBACK reason codes",
            },
        ),
        (
            &[0x82, 3, 0, 1, 0],
            MqttError::Empty {
                field: "SUBSCRIBE topic filters",
            },
        ),
        (
            &[0x82, 7, 0, 1, 0, 0, 1, b'a', 0x30],
            MqttError::ValueOutOfRange {
                field: "subscription options",
                value: 0x30,
            },
        ),
        (
            &[0x20, 3, 0, 0, 2],
            MqttError::Truncated {
                field: "properties",
                need: 2,
                have: 0,
            },
        ),
        (
            &[0x20, 5, 0, 0, 2, 0x23, 1],
            MqttError::PropertyNotAllowed {
                packet: "CONNACK",
                id: 0x23,
            },
        ),
        (
            &[0xE0, 2, 0x8E, 2],
            MqttError::Truncated {
                field: "properties",
                need: 2,
                have: 0,
            },
        ),
        (
            &[0x10, 2, 0, 4],
            MqttError::Truncated {
                field: "protocol name",
                need: 4,
                have: 0,
            },
        ),
        (
            &[0x10, 6, 0, 4, b'M', b'Q', b'I', b's'],
            MqttError::InvalidProtocolName,
        ),
        (
            &[0x10, 7, 0, 4, b'M', b'Q', b'T', b'T', 3],
            MqttError::UnsupportedProtocolLevel(3),
        ),
        (
            &[0x10, 8, 0, 4, b'M', b'Q', b'T', b'T', 5, 1],
            MqttError::ValueOutOfRange {
                field: "connect flags",
                value: 1,
            },
        ),
        (
            &[0x10, 8, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x08],
            MqttError::ValueOutOfRange {
                field: "connect flags",
                value: 8,
            },
        ),
        (
            &[0x10, 8, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x1C],
            MqttError::ValueOutOfRange {
                field: "will QoS",
                value: 3,
            },
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(dec(bytes, v5), Err(want.clone()), "{bytes:02x?}");
        assert!(!want.to_string().is_empty());
    }
    // 3.1.1 only: a password without a user name; MQTT 5 allows it.
    // Protocol name, level, flags 0x42 (password, clean), keep alive 0, client id "", password "p".
    let v3 = [
        0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x42, 0, 0, 0, 0, 0, 1, b'p',
    ];
    assert_eq!(
        dec(&v3, Version::V311),
        Err(MqttError::ValueOutOfRange {
            field: "connect flags",
            value: 0x42
        })
    );
    // The same with level 5 and an empty property block after the keep alive.
    let v5c = [
        0x10, 16, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x42, 0, 0, 0, 0, 0, 0, 1, b'p',
    ];
    let Ok(Some(Packet::Connect(c))) = dec(&v5c, Version::V311) else {
        panic!("{:?}", dec(&v5c, Version::V311));
    };
    assert_eq!((c.username, c.password.as_deref()), (None, Some(&b"p"[..])));
    assert_eq!(
        MqttError::PacketTooLarge { len: 2, max: 1 }.disconnect_reason(),
        0x95
    );
    assert_eq!(MqttError::DuplicateProperty(0x11).disconnect_reason(), 0x82);
    assert_eq!(MqttError::WildcardInTopic.disconnect_reason(), 0x81);
}

/// The encoder refuses what the decoder would refuse (so whatever encodes, decodes) and leaves
/// the buffer as it was.
#[test]
fn the_encoder_refuses_what_the_decoder_refuses() {
    let publish = |qos, packet_id, dup| Publish {
        dup,
        qos,
        retain: false,
        topic: "t".into(),
        packet_id,
        properties: Properties::default(),
        payload: Bytes::new(),
    };
    let connect = Connect {
        version: Version::V311,
        client_id: "c".into(),
        clean_start: true,
        keep_alive: 0,
        username: None,
        password: Some(Bytes::from_static(b"p")),
        will: None,
        properties: Properties::default(),
    };
    let sub = |filters: Vec<(String, SubscribeOptions)>, properties| {
        Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters,
            properties,
        })
    };
    let v5_opts = SubscribeOptions {
        no_local: true,
        ..SubscribeOptions::qos(QoS::AtMostOnce)
    };
    let cases: Vec<(Packet, Version, MqttError)> = vec![
        (
            Packet::Publish(publish(QoS::AtMostOnce, Some(1), false)),
            Version::V5,
            MqttError::ValueOutOfRange {
                field: "packet identifier of a QoS 0 PUBLISH",
                value: 1,
            },
        ),
        (
            Packet::Publish(publish(QoS::AtLeastOnce, None, false)),
            Version::V5,
            MqttError::ZeroPacketId,
        ),
        (
            Packet::Publish(publish(QoS::AtMostOnce, None, true)),
            Version::V311,
            MqttError::InvalidFlags {
                packet: "PUBLISH",
                flags: 8,
            },
        ),
        (
            Packet::Connect(Box::new(connect)),
            Version::V311,
            MqttError::NotInVersion {
                field: "a password without a user name",
            },
        ),
        (
            sub(vec![], Properties::default()),
            Version::V5,
            MqttError::Empty {
                field: "SUBSCRIBE topic filters",
            },
        ),
        (
            sub(vec![("a".into(), v5_opts)], Properties::default()),
            Version::V311,
            MqttError::NotInVersion {
                field: "subscription options",
            },
        ),
        (
            sub(
                vec![("a".into(), v5_opts)],
                Properties {
                    subscription_identifiers: vec![0],
                    ..Properties::default()
                },
            ),
            Version::V5,
            MqttError::ValueOutOfRange {
                field: "subscription identifier",
                value: 0,
            },
        ),
        (
            Packet::ConnAck(ConnAck {
                session_present: false,
                code: ReasonCode::SUCCESS,
                properties: Properties {
                    maximum_qos: Some(QoS::ExactlyOnce),
                    ..Properties::default()
                },
            }),
            Version::V5,
            MqttError::ValueOutOfRange {
                field: "maximum qos",
                value: 2,
            },
        ),
        (
            Packet::PubAck(Ack::new(0)),
            Version::V5,
            MqttError::ZeroPacketId,
        ),
        (
            Packet::PubComp(Ack {
                reason: ReasonCode::NO_MATCHING_SUBSCRIBERS,
                ..Ack::new(1)
            }),
            Version::V5,
            MqttError::InvalidReasonCode {
                packet: "PUBCOMP",
                code: 0x10,
            },
        ),
    ];
    for (p, v, want) in cases {
        let mut out = BytesMut::from(&b"before"[..]);
        assert_eq!(encode_packet(&p, v, &mut out, &lim()), Err(want), "{p:?}");
        assert_eq!(&out[..], b"before");
    }
}
