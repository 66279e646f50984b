//! MQTT 5 properties (v5 section 2.2.2): a Variable Byte Integer length, then identifier-value
//! pairs. [`Properties`] holds every property the specification defines; which of them a packet
//! may carry is a [`Context`], checked both ways. Decoding refuses an unknown identifier
//! ([`MqttError::UnknownProperty`]), one not allowed in the packet
//! ([`MqttError::PropertyNotAllowed`]), a second copy of one that may appear once
//! ([`MqttError::DuplicateProperty`]; user properties may repeat, subscription identifiers only in
//! PUBLISH), and values the specification forbids (a receive maximum, maximum packet size, topic
//! alias or subscription identifier of 0, a boolean other than 0 or 1, a maximum QoS of 2).
//!
//! Everything decoded is copied from bytes of the packet, so a block can never hold more than
//! the packet it came in; the encoder writes properties in identifier order, user properties
//! in their order.

use super::error::MqttError;
use super::kinds::property_name;
use super::kinds::QoS;
use super::wire::{self, MAX_VAR_INT};
use crate::util::ByteReader;
use bytes::{BufMut, Bytes, BytesMut};

/// Every MQTT 5 property; `None` / empty when absent. Property names follow the specification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// 0x01 Payload Format Indicator (PUBLISH, will): `true` = UTF-8 payload.
    pub payload_format_indicator: Option<bool>,
    /// 0x02 Message Expiry Interval in seconds (PUBLISH, will).
    pub message_expiry_interval: Option<u32>,
    /// 0x03 Content Type (PUBLISH, will).
    pub content_type: Option<String>,
    /// 0x08 Response Topic (PUBLISH, will).
    pub response_topic: Option<String>,
    /// 0x09 Correlation Data (PUBLISH, will).
    pub correlation_data: Option<Bytes>,
    /// 0x0B Subscription Identifier (SUBSCRIBE: at most one; PUBLISH: one per matching
    /// subscription), 1 to 268,435,455.
    pub subscription_identifiers: Vec<u32>,
    /// 0x11 Session Expiry Interval in seconds (CONNECT, CONNACK, DISCONNECT).
    pub session_expiry_interval: Option<u32>,
    /// 0x12 Assigned Client Identifier (CONNACK).
    pub assigned_client_identifier: Option<String>,
    /// 0x13 Server Keep Alive in seconds (CONNACK).
    pub server_keep_alive: Option<u16>,
    /// 0x15 Authentication Method (CONNECT, CONNACK).
    pub authentication_method: Option<String>,
    /// 0x16 Authentication Data (CONNECT, CONNACK).
    pub authentication_data: Option<Bytes>,
    /// 0x17 Request Problem Information (CONNECT).
    pub request_problem_information: Option<bool>,
    /// 0x18 Will Delay Interval in seconds (will).
    pub will_delay_interval: Option<u32>,
    /// 0x19 Request Response Information (CONNECT).
    pub request_response_information: Option<bool>,
    /// 0x1A Response Information (CONNACK).
    pub response_information: Option<String>,
    /// 0x1C Server Reference (CONNACK, DISCONNECT).
    pub server_reference: Option<String>,
    /// 0x1F Reason String (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, DISCONNECT).
    pub reason_string: Option<String>,
    /// 0x21 Receive Maximum, not 0 (CONNECT, CONNACK).
    pub receive_maximum: Option<u16>,
    /// 0x22 Topic Alias Maximum (CONNECT, CONNACK).
    pub topic_alias_maximum: Option<u16>,
    /// 0x23 Topic Alias, not 0 (PUBLISH).
    pub topic_alias: Option<u16>,
    /// 0x24 Maximum QoS, 0 or 1 (CONNACK).
    pub maximum_qos: Option<QoS>,
    /// 0x25 Retain Available (CONNACK).
    pub retain_available: Option<bool>,
    /// 0x26 User Property: name-value pairs in the order sent; a name may repeat (every packet).
    pub user_properties: Vec<(String, String)>,
    /// 0x27 Maximum Packet Size, not 0 (CONNECT, CONNACK).
    pub maximum_packet_size: Option<u32>,
    /// 0x28 Wildcard Subscription Available (CONNACK).
    pub wildcard_subscription_available: Option<bool>,
    /// 0x29 Subscription Identifier Available (CONNACK).
    pub subscription_identifier_available: Option<bool>,
    /// 0x2A Shared Subscription Available (CONNACK).
    pub shared_subscription_available: Option<bool>,
}

impl Properties {
    /// Whether no property is set (what MQTT 3.1.1 packets must hold).
    pub fn is_empty(&self) -> bool {
        *self == Properties::default()
    }

    /// The value of the first user property named `name`.
    pub fn user_property(&self, name: &str) -> Option<&str> {
        self.user_properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Which properties a packet may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Context {
    /// The packet, for errors.
    pub(crate) packet: &'static str,
    /// Bit `id` set: property `id` allowed.
    allowed: u64,
    /// Whether subscription identifiers may repeat (PUBLISH).
    repeat_sub_id: bool,
}

const fn ctx(packet: &'static str, ids: &[u8], repeat_sub_id: bool) -> Context {
    let mut allowed = 0u64;
    let mut i = 0;
    while i < ids.len() {
        allowed |= 1 << ids[i];
        i += 1;
    }
    Context {
        packet,
        allowed,
        repeat_sub_id,
    }
}

/// CONNECT properties.
pub(crate) const CONNECT: Context = ctx(
    "CONNECT",
    &[0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x26, 0x27],
    false,
);
/// Will properties (in CONNECT's payload).
pub(crate) const WILL: Context = ctx(
    "will properties",
    &[0x01, 0x02, 0x03, 0x08, 0x09, 0x18, 0x26],
    false,
);
/// CONNACK properties.
pub(crate) const CONNACK: Context = ctx(
    "CONNACK",
    &[
        0x11, 0x12, 0x13, 0x15, 0x16, 0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x24, 0x25, 0x26, 0x27, 0x28,
        0x29, 0x2A,
    ],
    false,
);
/// PUBLISH properties.
pub(crate) const PUBLISH: Context = ctx(
    "PUBLISH",
    &[0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x23, 0x26],
    true,
);
/// PUBACK, PUBREC, PUBREL, PUBCOMP properties.
pub(crate) const ACK: Context = ctx("PUBACK/PUBREC/PUBREL/PUBCOMP", &[0x1F, 0x26], false);
/// SUBSCRIBE properties.
pub(crate) const SUBSCRIBE: Context = ctx("SUBSCRIBE", &[0x0B, 0x26], false);
/// SUBACK properties.
pub(crate) const SUBACK: Context = ctx("SUBACK", &[0x1F, 0x26], false);
/// DISCONNECT properties.
pub(crate) const DISCONNECT: Context = ctx("DISCONNECT", &[0x11, 0x1C, 0x1F, 0x26], false);

fn flag(r: &mut ByteReader<'_>, id: u8) -> Result<bool, MqttError> {
    match r.u8(property_name(id))? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(MqttError::ValueOutOfRange {
            field: property_name(id),
            value: u64::from(v),
        }),
    }
}

fn non_zero_u16(r: &mut ByteReader<'_>, id: u8) -> Result<u16, MqttError> {
    match r.u16(property_name(id))? {
        0 => Err(MqttError::ValueOutOfRange {
            field: property_name(id),
            value: 0,
        }),
        v => Ok(v),
    }
}

fn set<T>(slot: &mut Option<T>, v: T, id: u8) -> Result<(), MqttError> {
    if slot.is_some() {
        return Err(MqttError::DuplicateProperty(id));
    }
    *slot = Some(v);
    Ok(())
}

/// Reads a property block (length, then properties) for a packet of context `cx`.
///
/// # Errors
/// See the module docs; [`MqttError::Truncated`] when the block is longer than the packet.
pub(crate) fn decode(r: &mut ByteReader<'_>, cx: Context) -> Result<Properties, MqttError> {
    let len = wire::read_var_int(r, "property length")? as usize;
    let block = r.take(len, "properties")?;
    let mut r = ByteReader::new(block);
    let mut p = Properties::default();
    while !r.is_empty() {
        let raw = wire::read_var_int(&mut r, "property identifier")?;
        // Every defined identifier fits one byte; a longer one is unknown by definition.
        let id = match u8::try_from(raw) {
            Ok(id) if property_name(id) != "unknown" => id,
            _ => return Err(MqttError::UnknownProperty(raw)),
        };
        let name = property_name(id);
        if cx.allowed & (1 << id) == 0 {
            return Err(MqttError::PropertyNotAllowed {
                packet: cx.packet,
                id,
            });
        }
        match id {
            0x01 => set(&mut p.payload_format_indicator, flag(&mut r, id)?, id)?,
            0x02 => set(&mut p.message_expiry_interval, r.u32(name)?, id)?,
            0x03 => set(&mut p.content_type, wire::read_string(&mut r, name)?, id)?,
            0x08 => set(&mut p.response_topic, wire::read_string(&mut r, name)?, id)?,
            0x09 => {
                let n = r.u16(name)? as usize;
                let b = Bytes::copy_from_slice(r.take(n, name)?);
                set(&mut p.correlation_data, b, id)?
            }
            0x0B => {
                let v = wire::read_var_int(&mut r, name)?;
                if v == 0 {
                    return Err(MqttError::ValueOutOfRange {
                        field: name,
                        value: 0,
                    });
                }
                if !cx.repeat_sub_id && !p.subscription_identifiers.is_empty() {
                    return Err(MqttError::DuplicateProperty(id));
                }
                p.subscription_identifiers.push(v);
            }
            0x11 => set(&mut p.session_expiry_interval, r.u32(name)?, id)?,
            0x12 => set(
                &mut p.assigned_client_identifier,
                wire::read_string(&mut r, name)?,
                id,
            )?,
            0x13 => set(&mut p.server_keep_alive, r.u16(name)?, id)?,
            0x15 => set(
                &mut p.authentication_method,
                wire::read_string(&mut r, name)?,
                id,
            )?,
            0x16 => {
                let n = r.u16(name)? as usize;
                let b = Bytes::copy_from_slice(r.take(n, name)?);
                set(&mut p.authentication_data, b, id)?
            }
            0x17 => set(&mut p.request_problem_information, flag(&mut r, id)?, id)?,
            0x18 => set(&mut p.will_delay_interval, r.u32(name)?, id)?,
            0x19 => set(&mut p.request_response_information, flag(&mut r, id)?, id)?,
            0x1A => set(
                &mut p.response_information,
                wire::read_string(&mut r, name)?,
                id,
            )?,
            0x1C => set(
                &mut p.server_reference,
                wire::read_string(&mut r, name)?,
                id,
            )?,
            0x1F => set(&mut p.reason_string, wire::read_string(&mut r, name)?, id)?,
            0x21 => set(&mut p.receive_maximum, non_zero_u16(&mut r, id)?, id)?,
            0x22 => set(&mut p.topic_alias_maximum, r.u16(name)?, id)?,
            0x23 => set(&mut p.topic_alias, non_zero_u16(&mut r, id)?, id)?,
            0x24 => {
                let q = match r.u8(name)? {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    v => {
                        return Err(MqttError::ValueOutOfRange {
                            field: name,
                            value: u64::from(v),
                        })
                    }
                };
                set(&mut p.maximum_qos, q, id)?
            }
            0x25 => set(&mut p.retain_available, flag(&mut r, id)?, id)?,
            0x26 => {
                let k = wire::read_string(&mut r, "user property name")?;
                let v = wire::read_string(&mut r, "user property value")?;
                p.user_properties.push((k, v));
            }
            0x27 => {
                let v = r.u32(name)?;
                if v == 0 {
                    return Err(MqttError::ValueOutOfRange {
                        field: name,
                        value: 0,
                    });
                }
                set(&mut p.maximum_packet_size, v, id)?
            }
            0x28 => set(
                &mut p.wildcard_subscription_available,
                flag(&mut r, id)?,
                id,
            )?,
            0x29 => set(
                &mut p.subscription_identifier_available,
                flag(&mut r, id)?,
                id,
            )?,
            0x2A => set(&mut p.shared_subscription_available, flag(&mut r, id)?, id)?,
            _ => return Err(MqttError::UnknownProperty(u32::from(id))),
        }
    }
    Ok(p)
}

/// Writes properties for context `cx`, each checked as [`decode`] checks it.
struct Out<'a> {
    buf: BytesMut,
    cx: &'a Context,
}

impl Out<'_> {
    fn id(&mut self, id: u8) -> Result<(), MqttError> {
        if self.cx.allowed & (1 << id) == 0 {
            return Err(MqttError::PropertyNotAllowed {
                packet: self.cx.packet,
                id,
            });
        }
        self.buf.put_u8(id);
        Ok(())
    }

    fn flag(&mut self, id: u8, v: Option<bool>) -> Result<(), MqttError> {
        if let Some(v) = v {
            self.id(id)?;
            self.buf.put_u8(u8::from(v));
        }
        Ok(())
    }

    fn u16(&mut self, id: u8, v: Option<u16>, non_zero: bool) -> Result<(), MqttError> {
        if let Some(v) = v {
            if non_zero && v == 0 {
                return Err(MqttError::ValueOutOfRange {
                    field: property_name(id),
                    value: 0,
                });
            }
            self.id(id)?;
            self.buf.put_u16(v);
        }
        Ok(())
    }

    fn u32(&mut self, id: u8, v: Option<u32>, non_zero: bool) -> Result<(), MqttError> {
        if let Some(v) = v {
            if non_zero && v == 0 {
                return Err(MqttError::ValueOutOfRange {
                    field: property_name(id),
                    value: 0,
                });
            }
            self.id(id)?;
            self.buf.put_u32(v);
        }
        Ok(())
    }

    fn string(&mut self, id: u8, v: &Option<String>) -> Result<(), MqttError> {
        if let Some(v) = v {
            self.id(id)?;
            wire::put_string(&mut self.buf, v, property_name(id))?;
        }
        Ok(())
    }

    fn binary(&mut self, id: u8, v: &Option<Bytes>) -> Result<(), MqttError> {
        if let Some(v) = v {
            self.id(id)?;
            wire::put_binary(&mut self.buf, v, property_name(id))?;
        }
        Ok(())
    }
}

/// Appends the property block of `p` (length, then the properties) for context `cx`.
///
/// # Errors
/// [`MqttError::PropertyNotAllowed`], [`MqttError::DuplicateProperty`] (two subscription
/// identifiers outside PUBLISH), [`MqttError::ValueOutOfRange`] and the string errors; `dst` is
/// left as it was then.
pub(crate) fn encode(p: &Properties, dst: &mut BytesMut, cx: Context) -> Result<(), MqttError> {
    let mut o = Out {
        buf: BytesMut::new(),
        cx: &cx,
    };
    o.flag(0x01, p.payload_format_indicator)?;
    o.u32(0x02, p.message_expiry_interval, false)?;
    o.string(0x03, &p.content_type)?;
    o.string(0x08, &p.response_topic)?;
    o.binary(0x09, &p.correlation_data)?;
    if p.subscription_identifiers.len() > 1 && !cx.repeat_sub_id {
        return Err(MqttError::DuplicateProperty(0x0B));
    }
    for &v in &p.subscription_identifiers {
        if v == 0 || v > MAX_VAR_INT {
            return Err(MqttError::ValueOutOfRange {
                field: property_name(0x0B),
                value: u64::from(v),
            });
        }
        o.id(0x0B)?;
        wire::put_var_int(&mut o.buf, v, "subscription identifier")?;
    }
    o.u32(0x11, p.session_expiry_interval, false)?;
    o.string(0x12, &p.assigned_client_identifier)?;
    o.u16(0x13, p.server_keep_alive, false)?;
    o.string(0x15, &p.authentication_method)?;
    o.binary(0x16, &p.authentication_data)?;
    o.flag(0x17, p.request_problem_information)?;
    o.u32(0x18, p.will_delay_interval, false)?;
    o.flag(0x19, p.request_response_information)?;
    o.string(0x1A, &p.response_information)?;
    o.string(0x1C, &p.server_reference)?;
    o.string(0x1F, &p.reason_string)?;
    o.u16(0x21, p.receive_maximum, true)?;
    o.u16(0x22, p.topic_alias_maximum, false)?;
    o.u16(0x23, p.topic_alias, true)?;
    if let Some(q) = p.maximum_qos {
        if q == QoS::ExactlyOnce {
            return Err(MqttError::ValueOutOfRange {
                field: property_name(0x24),
                value: 2,
            });
        }
        o.id(0x24)?;
        o.buf.put_u8(q.level());
    }
    o.flag(0x25, p.retain_available)?;
    for (k, v) in &p.user_properties {
        o.id(0x26)?;
        wire::put_string(&mut o.buf, k, "user property name")?;
        wire::put_string(&mut o.buf, v, "user property value")?;
    }
    o.u32(0x27, p.maximum_packet_size, true)?;
    o.flag(0x28, p.wildcard_subscription_available)?;
    o.flag(0x29, p.subscription_identifier_available)?;
    o.flag(0x2A, p.shared_subscription_available)?;
    let len = u32::try_from(o.buf.len()).unwrap_or(u32::MAX);
    wire::put_var_int(dst, len, "property length")?;
    dst.extend_from_slice(&o.buf);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(bytes: &[u8], cx: Context) -> Result<Properties, MqttError> {
        let mut r = ByteReader::new(bytes);
        let p = decode(&mut r, cx)?;
        assert!(r.is_empty(), "block not consumed");
        Ok(p)
    }

    fn round_trip(p: &Properties, cx: Context) {
        let mut b = BytesMut::new();
        encode(p, &mut b, cx).unwrap();
        assert_eq!(&dec(&b, cx).unwrap(), p);
    }

    #[test]
    fn user_properties_repeat_in_order_and_everything_else_once() {
        // 26 "k" "1", 26 "k" "2", 11 session expiry 60.
        let b = [
            16, 0x26, 0, 1, b'k', 0, 1, b'1', 0x26, 0, 1, b'k', 0, 1, b'2', 0x11, 0, 0, 0, 60,
        ];
        assert!(
            dec(&b, CONNACK).is_err(),
            "the length says 16, there are 19"
        );
        let mut b = b.to_vec();
        b[0] = 19;
        let p = dec(&b, CONNACK).unwrap();
        assert_eq!(
            p.user_properties,
            vec![("k".into(), "1".into()), ("k".into(), "2".into())]
        );
        assert_eq!(p.user_property("k"), Some("1"));
        assert_eq!(p.session_expiry_interval, Some(60));
        round_trip(&p, CONNACK);
        let dup = [10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2];
        assert_eq!(dec(&dup, CONNACK), Err(MqttError::DuplicateProperty(0x11)));
    }

    #[test]
    fn unknown_misplaced_and_out_of_range_properties_are_refused() {
        assert_eq!(
            dec(&[2, 0x04, 0], CONNACK),
            Err(MqttError::UnknownProperty(4))
        );
        assert_eq!(
            dec(&[3, 0x23, 0, 1], CONNACK),
            Err(MqttError::PropertyNotAllowed {
                packet: "CONNACK",
                id: 0x23
            })
        );
        assert_eq!(
            dec(&[3, 0x21, 0, 0], CONNACK),
            Err(MqttError::ValueOutOfRange {
                field: "receive maximum",
                value: 0
            })
        );
        assert_eq!(
            dec(&[2, 0x25, 2], CONNACK),
            Err(MqttError::ValueOutOfRange {
                field: "retain available",
                value: 2
            })
        );
        assert_eq!(
            dec(&[2, 0x24, 2], CONNACK),
            Err(MqttError::ValueOutOfRange {
                field: "maximum qos",
                value: 2
            })
        );
        // Subscription identifiers repeat in PUBLISH, not in SUBSCRIBE.
        let two = [4, 0x0B, 1, 0x0B, 2];
        assert_eq!(dec(&two, PUBLISH).unwrap().subscription_identifiers, [1, 2]);
        assert_eq!(
            dec(&two, SUBSCRIBE),
            Err(MqttError::DuplicateProperty(0x0B))
        );
        assert!(dec(&[2, 0x0B, 0], PUBLISH).is_err());
        // An identifier written in two bytes.
        assert_eq!(
            dec(&[3, 0x80, 0x01, 0], PUBLISH),
            Err(MqttError::UnknownProperty(128))
        );
    }

    #[test]
    fn every_property_round_trips_in_its_packets() {
        let connack = Properties {
            session_expiry_interval: Some(7),
            assigned_client_identifier: Some("auto-1".into()),
            server_keep_alive: Some(30),
            authentication_method: Some("m".into()),
            authentication_data: Some(Bytes::from_static(b"\x00\x01")),
            response_information: Some("ri".into()),
            server_reference: Some("other:1883".into()),
            reason_string: Some("fine".into()),
            receive_maximum: Some(20),
            topic_alias_maximum: Some(10),
            maximum_qos: Some(QoS::AtLeastOnce),
            retain_available: Some(false),
            user_properties: vec![("a".into(), "b".into())],
            maximum_packet_size: Some(1 << 20),
            wildcard_subscription_available: Some(true),
            subscription_identifier_available: Some(false),
            shared_subscription_available: Some(true),
            ..Properties::default()
        };
        round_trip(&connack, CONNACK);
        let publish = Properties {
            payload_format_indicator: Some(true),
            message_expiry_interval: Some(3600),
            content_type: Some("text/plain".into()),
            response_topic: Some("r/t".into()),
            correlation_data: Some(Bytes::from_static(b"cd")),
            subscription_identifiers: vec![1, MAX_VAR_INT],
            topic_alias: Some(3),
            user_properties: vec![("x".into(), "".into()), ("x".into(), "y".into())],
            ..Properties::default()
        };
        round_trip(&publish, PUBLISH);
        let connect = Properties {
            request_problem_information: Some(false),
            request_response_information: Some(true),
            receive_maximum: Some(1),
            ..Properties::default()
        };
        round_trip(&connect, CONNECT);
        let will = Properties {
            will_delay_interval: Some(5),
            ..Properties::default()
        };
        round_trip(&will, WILL);
        round_trip(&Properties::default(), ACK);
        let mut b = BytesMut::new();
        assert_eq!(
            encode(&publish, &mut b, SUBACK),
            Err(MqttError::PropertyNotAllowed {
                packet: "SUBACK",
                id: 0x01
            })
        );
        assert!(b.is_empty(), "nothing written on error");
    }
}
