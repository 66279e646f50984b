//! Packet bodies, bytes to values: everything after the fixed header, which
//! [`decode_packet`](super::decode_packet) has already read and checked against the cap. Each
//! decoder reads the body through one [`ByteReader`] and refuses bytes left over.

use super::error::MqttError;
use super::kinds::{QoS, ReasonCode, Version};
use super::packet::{
    check_code, Ack, ConnAck, Connect, Disconnect, LastWill, Packet, Publish, RetainHandling,
    SubAck, Subscribe, SubscribeOptions,
};
use super::properties::{self, Properties};
use super::wire;
use crate::util::ByteReader;
use bytes::Bytes;

/// Decodes the body of a packet of type `t` with fixed-header flags `flags` (already checked for
/// every type but PUBLISH). `body` is the packet after its fixed header; the PUBLISH payload is a
/// slice of it.
pub(crate) fn decode_body(
    t: u8,
    flags: u8,
    body: Bytes,
    version: Version,
) -> Result<Packet, MqttError> {
    let mut r = ByteReader::new(&body);
    let p = match t {
        1 => Packet::Connect(Box::new(connect(&mut r, &body)?)),
        2 => Packet::ConnAck(connack(&mut r, version)?),
        3 => Packet::Publish(publish(&mut r, &body, flags, version)?),
        4 => Packet::PubAck(ack(&mut r, t, version)?),
        5 => Packet::PubRec(ack(&mut r, t, version)?),
        6 => Packet::PubRel(ack(&mut r, t, version)?),
        7 => Packet::PubComp(ack(&mut r, t, version)?),
        8 => Packet::Subscribe(subscribe(&mut r, version)?),
        9 => Packet::SubAck(suback(&mut r, version)?),
        12 => Packet::PingReq,
        13 => Packet::PingResp,
        14 => Packet::Disconnect(disconnect(&mut r, version)?),
        _ => return Err(MqttError::UnsupportedPacketType(t)),
    };
    if !r.is_empty() {
        return Err(MqttError::TrailingBytes {
            packet: p.name(),
            len: r.remaining(),
        });
    }
    Ok(p)
}

fn props(
    r: &mut ByteReader<'_>,
    version: Version,
    cx: properties::Context,
) -> Result<Properties, MqttError> {
    match version {
        Version::V311 => Ok(Properties::default()),
        Version::V5 => properties::decode(r, cx),
    }
}

fn qos_of(level: u8, field: &'static str) -> Result<QoS, MqttError> {
    QoS::from_level(level).ok_or(MqttError::ValueOutOfRange {
        field,
        value: u64::from(level),
    })
}

/// A PUBLISH (or will) topic name: no wildcards; empty only when `may_be_empty` (MQTT 5 with a
/// topic alias).
pub(crate) fn check_topic(topic: &str, may_be_empty: bool) -> Result<(), MqttError> {
    if topic.is_empty() && !may_be_empty {
        return Err(MqttError::Empty {
            field: "topic name",
        });
    }
    if topic.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(MqttError::WildcardInTopic);
    }
    Ok(())
}

fn connect(r: &mut ByteReader<'_>, body: &Bytes) -> Result<Connect, MqttError> {
    let n = r.u16("protocol name")? as usize;
    if r.take(n, "protocol name")? != b"MQTT" {
        return Err(MqttError::InvalidProtocolName);
    }
    let version = match r.u8("protocol level")? {
        4 => Version::V311,
        5 => Version::V5,
        l => return Err(MqttError::UnsupportedProtocolLevel(l)),
    };
    let flags = r.u8("connect flags")?;
    let bad_flags = MqttError::ValueOutOfRange {
        field: "connect flags",
        value: u64::from(flags),
    };
    let (has_user, has_pass) = (flags & 0x80 != 0, flags & 0x40 != 0);
    let (will_retain, will_qos, has_will) = (flags & 0x20 != 0, (flags >> 3) & 3, flags & 4 != 0);
    // The reserved bit; will QoS and retain without a will; 3.1.1: a password needs a user name.
    if flags & 1 != 0
        || (!has_will && (will_qos != 0 || will_retain))
        || (version == Version::V311 && has_pass && !has_user)
    {
        return Err(bad_flags);
    }
    let will_qos = qos_of(will_qos, "will QoS")?;
    let keep_alive = r.u16("keep alive")?;
    let properties = props(r, version, properties::CONNECT)?;
    let client_id = wire::read_string(r, "client identifier")?;
    let will = if has_will {
        let properties = props(r, version, properties::WILL)?;
        let topic = wire::read_string(r, "will topic")?;
        check_topic(&topic, false)?;
        let payload = wire::read_binary(r, body, "will payload")?;
        Some(LastWill {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = match has_user {
        true => Some(wire::read_string(r, "user name")?),
        false => None,
    };
    let password = match has_pass {
        true => Some(wire::read_binary(r, body, "password")?),
        false => None,
    };
    Ok(Connect {
        version,
        client_id,
        clean_start: flags & 2 != 0,
        keep_alive,
        username,
        password,
        will,
        properties,
    })
}

fn connack(r: &mut ByteReader<'_>, version: Version) -> Result<ConnAck, MqttError> {
    let flags = r.u8("connect acknowledge flags")?;
    if flags > 1 {
        return Err(MqttError::ValueOutOfRange {
            field: "connect acknowledge flags",
            value: u64::from(flags),
        });
    }
    let code = check_code(2, version, r.u8("connect reason code")?)?;
    if flags == 1 && code != ReasonCode::SUCCESS {
        return Err(MqttError::ValueOutOfRange {
            field: "session present",
            value: 1,
        });
    }
    Ok(ConnAck {
        session_present: flags == 1,
        code,
        properties: props(r, version, properties::CONNACK)?,
    })
}

fn publish(
    r: &mut ByteReader<'_>,
    body: &Bytes,
    flags: u8,
    version: Version,
) -> Result<Publish, MqttError> {
    let qos = qos_of((flags >> 1) & 3, "PUBLISH QoS")?;
    let dup = flags & 8 != 0;
    if dup && qos == QoS::AtMostOnce {
        return Err(MqttError::InvalidFlags {
            packet: "PUBLISH",
            flags,
        });
    }
    let topic = wire::read_string(r, "topic name")?;
    let packet_id = match qos {
        QoS::AtMostOnce => None,
        _ => Some(wire::read_packet_id(r)?),
    };
    let properties = props(r, version, properties::PUBLISH)?;
    check_topic(&topic, properties.topic_alias.is_some())?;
    let payload = body.slice(r.position()..);
    r.skip(r.remaining(), "payload")?;
    Ok(Publish {
        dup,
        qos,
        retain: flags & 1 != 0,
        topic,
        packet_id,
        properties,
        payload,
    })
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP. MQTT 5 leaves out a success code without properties, and
/// an empty property block.
fn ack(r: &mut ByteReader<'_>, t: u8, version: Version) -> Result<Ack, MqttError> {
    let packet_id = wire::read_packet_id(r)?;
    let mut a = Ack::new(packet_id);
    if version == Version::V5 && !r.is_empty() {
        a.reason = check_code(t, version, r.u8("reason code")?)?;
        if !r.is_empty() {
            a.properties = properties::decode(r, properties::ACK)?;
        }
    }
    Ok(a)
}

fn subscribe(r: &mut ByteReader<'_>, version: Version) -> Result<Subscribe, MqttError> {
    let packet_id = wire::read_packet_id(r)?;
    let properties = props(r, version, properties::SUBSCRIBE)?;
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = wire::read_string(r, "topic filter")?;
        if filter.is_empty() {
            return Err(MqttError::Empty {
                field: "topic filter",
            });
        }
        let o = r.u8("subscription options")?;
        let reserved = match version {
            Version::V311 => 0xFC,
            Version::V5 => 0xC0,
        };
        let retain_handling = match (o >> 4) & 3 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => {
                return Err(MqttError::ValueOutOfRange {
                    field: "subscription options",
                    value: u64::from(o),
                })
            }
        };
        if o & reserved != 0 {
            return Err(MqttError::ValueOutOfRange {
                field: "subscription options",
                value: u64::from(o),
            });
        }
        let opts = SubscribeOptions {
            qos: qos_of(o & 3, "subscription QoS")?,
            no_local: o & 4 != 0,
            retain_as_published: o & 8 != 0,
            retain_handling,
        };
        filters.push((filter, opts));
    }
    if filters.is_empty() {
        return Err(MqttError::Empty {
            field: "SUBSCRIBE topic filters",
        });
    }
    Ok(Subscribe {
        packet_id,
        filters,
        properties,
    })
}

fn suback(r: &mut ByteReader<'_>, version: Version) -> Result<SubAck, MqttError> {
    let packet_id = wire::read_packet_id(r)?;
    let properties = props(r, version, properties::SUBACK)?;
    let codes = r
        .take(r.remaining(), "SUBACK reason codes")?
        .iter()
        .map(|&c| check_code(9, version, c))
        .collect::<Result<Vec<_>, _>>()?;
    if codes.is_empty() {
        return Err(MqttError::Empty {
            field: "SUBACK reason codes",
        });
    }
    Ok(SubAck {
        packet_id,
        codes,
        properties,
    })
}

/// DISCONNECT. MQTT 5 leaves out a success code without properties, and an empty property
/// block; 3.1.1's has no body.
fn disconnect(r: &mut ByteReader<'_>, version: Version) -> Result<Disconnect, MqttError> {
    let mut d = Disconnect {
        reason: ReasonCode::SUCCESS,
        properties: Properties::default(),
    };
    if version == Version::V5 && !r.is_empty() {
        d.reason = check_code(14, version, r.u8("reason code")?)?;
        if !r.is_empty() {
            d.properties = properties::decode(r, properties::DISCONNECT)?;
        }
    }
    Ok(d)
}
