//! Packet bodies, values to bytes: everything after the fixed header, which
//! [`encode_packet`](super::encode_packet) writes once the length is known. Every rule the
//! decoder checks is checked here too, so whatever encodes also decodes to the same value; what
//! MQTT 3.1.1 cannot carry (properties, reason codes, MQTT 5 subscription options) is refused
//! with [`MqttError::NotInVersion`] rather than dropped.

use super::decode::check_topic;
use super::error::MqttError;
use super::kinds::{QoS, ReasonCode, Version};
use super::packet::{
    check_code, Ack, ConnAck, Connect, Disconnect, Packet, Publish, RetainHandling, SubAck,
    Subscribe,
};
use super::properties::{self, Properties};
use super::wire;
use bytes::{BufMut, Bytes, BytesMut};

/// Writes the body of `p` (variable header and payload, the PUBLISH payload left out) to `dst`;
/// returns the fixed-header flags and the PUBLISH payload to append after it.
pub(crate) fn encode_body<'p>(
    p: &'p Packet,
    version: Version,
    dst: &mut BytesMut,
) -> Result<(u8, Option<&'p Bytes>), MqttError> {
    match p {
        Packet::Connect(c) => connect(c, dst).map(|()| (0, None)),
        Packet::ConnAck(c) => connack(c, version, dst).map(|()| (0, None)),
        Packet::Publish(m) => publish(m, version, dst).map(|f| (f, Some(&m.payload))),
        Packet::PubAck(a) => ack(a, 4, version, dst).map(|()| (0, None)),
        Packet::PubRec(a) => ack(a, 5, version, dst).map(|()| (0, None)),
        Packet::PubRel(a) => ack(a, 6, version, dst).map(|()| (2, None)),
        Packet::PubComp(a) => ack(a, 7, version, dst).map(|()| (0, None)),
        Packet::Subscribe(s) => subscribe(s, version, dst).map(|()| (2, None)),
        Packet::SubAck(s) => suback(s, version, dst).map(|()| (0, None)),
        Packet::PingReq | Packet::PingResp => Ok((0, None)),
        Packet::Disconnect(d) => disconnect(d, version, dst).map(|()| (0, None)),
    }
}

fn props(
    p: &Properties,
    version: Version,
    cx: properties::Context,
    dst: &mut BytesMut,
) -> Result<(), MqttError> {
    match version {
        Version::V5 => properties::encode(p, dst, cx),
        Version::V311 if p.is_empty() => Ok(()),
        Version::V311 => Err(MqttError::NotInVersion {
            field: "properties",
        }),
    }
}

fn connect(c: &Connect, dst: &mut BytesMut) -> Result<(), MqttError> {
    let v = c.version;
    if v == Version::V311 && c.password.is_some() && c.username.is_none() {
        return Err(MqttError::NotInVersion {
            field: "a password without a user name",
        });
    }
    let mut flags = 0u8;
    flags |= u8::from(c.username.is_some()) << 7;
    flags |= u8::from(c.password.is_some()) << 6;
    if let Some(w) = &c.will {
        flags |= u8::from(w.retain) << 5 | w.qos.level() << 3 | 4;
    }
    flags |= u8::from(c.clean_start) << 1;
    wire::put_string(dst, "MQTT", "protocol name")?;
    dst.put_u8(v.level());
    dst.put_u8(flags);
    dst.put_u16(c.keep_alive);
    props(&c.properties, v, properties::CONNECT, dst)?;
    wire::put_string(dst, &c.client_id, "client identifier")?;
    if let Some(w) = &c.will {
        props(&w.properties, v, properties::WILL, dst)?;
        check_topic(&w.topic, false)?;
        wire::put_string(dst, &w.topic, "will topic")?;
        wire::put_binary(dst, &w.payload, "will payload")?;
    }
    if let Some(u) = &c.username {
        wire::put_string(dst, u, "user name")?;
    }
    if let Some(p) = &c.password {
        wire::put_binary(dst, p, "password")?;
    }
    Ok(())
}

fn connack(c: &ConnAck, version: Version, dst: &mut BytesMut) -> Result<(), MqttError> {
    let code = check_code(2, version, c.code.0)?;
    if c.session_present && code != ReasonCode::SUCCESS {
        return Err(MqttError::ValueOutOfRange {
            field: "session present",
            value: 1,
        });
    }
    dst.put_u8(u8::from(c.session_present));
    dst.put_u8(code.0);
    props(&c.properties, version, properties::CONNACK, dst)
}

fn publish(m: &Publish, version: Version, dst: &mut BytesMut) -> Result<u8, MqttError> {
    if m.dup && m.qos == QoS::AtMostOnce {
        return Err(MqttError::InvalidFlags {
            packet: "PUBLISH",
            flags: 8,
        });
    }
    check_topic(
        &m.topic,
        version == Version::V5 && m.properties.topic_alias.is_some(),
    )?;
    wire::put_string(dst, &m.topic, "topic name")?;
    match (m.qos, m.packet_id) {
        (QoS::AtMostOnce, None) => {}
        (QoS::AtMostOnce, Some(id)) => {
            return Err(MqttError::ValueOutOfRange {
                field: "packet identifier of a QoS 0 PUBLISH",
                value: u64::from(id),
            })
        }
        (_, id) => wire::put_packet_id(dst, id.unwrap_or(0))?,
    }
    props(&m.properties, version, properties::PUBLISH, dst)?;
    Ok(u8::from(m.dup) << 3 | m.qos.level() << 1 | u8::from(m.retain))
}

/// A reason code and properties as MQTT 5 abbreviates them: nothing for success without
/// properties, the code alone without properties. MQTT 3.1.1 carries neither.
fn code_and_props(
    t: u8,
    reason: ReasonCode,
    p: &Properties,
    version: Version,
    cx: properties::Context,
    dst: &mut BytesMut,
) -> Result<(), MqttError> {
    check_code(t, version, reason.0).map_err(|e| match version {
        Version::V311 => MqttError::NotInVersion {
            field: "reason code",
        },
        Version::V5 => e,
    })?;
    if version == Version::V311 {
        return props(p, version, cx, dst);
    }
    if reason == ReasonCode::SUCCESS && p.is_empty() {
        return Ok(());
    }
    dst.put_u8(reason.0);
    if p.is_empty() {
        return Ok(());
    }
    properties::encode(p, dst, cx)
}

fn ack(a: &Ack, t: u8, version: Version, dst: &mut BytesMut) -> Result<(), MqttError> {
    wire::put_packet_id(dst, a.packet_id)?;
    code_and_props(t, a.reason, &a.properties, version, properties::ACK, dst)
}

fn subscribe(s: &Subscribe, version: Version, dst: &mut BytesMut) -> Result<(), MqttError> {
    wire::put_packet_id(dst, s.packet_id)?;
    props(&s.properties, version, properties::SUBSCRIBE, dst)?;
    if s.filters.is_empty() {
        return Err(MqttError::Empty {
            field: "SUBSCRIBE topic filters",
        });
    }
    for (filter, o) in &s.filters {
        if filter.is_empty() {
            return Err(MqttError::Empty {
                field: "topic filter",
            });
        }
        let rh = match o.retain_handling {
            RetainHandling::SendAtSubscribe => 0,
            RetainHandling::SendIfNew => 1,
            RetainHandling::DoNotSend => 2,
        };
        let v5_only = u8::from(o.no_local) << 2 | u8::from(o.retain_as_published) << 3 | rh << 4;
        if version == Version::V311 && v5_only != 0 {
            return Err(MqttError::NotInVersion {
                field: "subscription options",
            });
        }
        wire::put_string(dst, filter, "topic filter")?;
        dst.put_u8(o.qos.level() | v5_only);
    }
    Ok(())
}

fn suback(s: &SubAck, version: Version, dst: &mut BytesMut) -> Result<(), MqttError> {
    wire::put_packet_id(dst, s.packet_id)?;
    props(&s.properties, version, properties::SUBACK, dst)?;
    if s.codes.is_empty() {
        return Err(MqttError::Empty {
            field: "SUBACK reason codes",
        });
    }
    for c in &s.codes {
        dst.put_u8(check_code(9, version, c.0)?.0);
    }
    Ok(())
}

fn disconnect(d: &Disconnect, version: Version, dst: &mut BytesMut) -> Result<(), MqttError> {
    code_and_props(
        14,
        d.reason,
        &d.properties,
        version,
        properties::DISCONNECT,
        dst,
    )
}
