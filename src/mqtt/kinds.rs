//! The small values every other file of the module uses: [`Version`], [`QoS`], [`ReasonCode`],
//! and the specification's names of packet types and property identifiers. A leaf: the other
//! files import it, it imports none of them.

/// The protocol version, CONNECT's protocol level byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5): properties and reason codes.
    V5,
}

impl Version {
    /// The protocol level byte: 4 or 5.
    pub fn level(self) -> u8 {
        match self {
            Version::V311 => 4,
            Version::V5 => 5,
        }
    }
}

/// Quality of service of a PUBLISH or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QoS {
    /// 0: at most once, no acknowledgement.
    AtMostOnce,
    /// 1: at least once, PUBACK.
    AtLeastOnce,
    /// 2: exactly once, PUBREC / PUBREL / PUBCOMP.
    ExactlyOnce,
}

impl QoS {
    /// 0, 1 or 2.
    pub fn level(self) -> u8 {
        self as u8
    }

    /// The QoS of `level`; `None` for 3 and above.
    pub fn from_level(level: u8) -> Option<QoS> {
        match level {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// A reason code (MQTT 5) or return code (3.1.1 CONNACK and SUBACK); `0x80` and above are
/// failures. Which codes a packet may carry is checked when decoding and encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReasonCode(pub u8);

impl ReasonCode {
    /// 0x00: success (also: normal disconnection, granted QoS 0).
    pub const SUCCESS: ReasonCode = ReasonCode(0x00);
    /// 0x01: granted QoS 1 (SUBACK).
    pub const GRANTED_QOS_1: ReasonCode = ReasonCode(0x01);
    /// 0x02: granted QoS 2 (SUBACK).
    pub const GRANTED_QOS_2: ReasonCode = ReasonCode(0x02);
    /// 0x10: no matching subscribers (PUBACK, PUBREC).
    pub const NO_MATCHING_SUBSCRIBERS: ReasonCode = ReasonCode(0x10);
    /// 0x80: unspecified error (3.1.1 SUBACK: failure).
    pub const UNSPECIFIED_ERROR: ReasonCode = ReasonCode(0x80);
    /// 0x81: malformed packet.
    pub const MALFORMED_PACKET: ReasonCode = ReasonCode(0x81);
    /// 0x82: protocol error.
    pub const PROTOCOL_ERROR: ReasonCode = ReasonCode(0x82);
    /// 0x87: not authorized.
    pub const NOT_AUTHORIZED: ReasonCode = ReasonCode(0x87);
    /// 0x8E: session taken over (DISCONNECT).
    pub const SESSION_TAKEN_OVER: ReasonCode = ReasonCode(0x8E);
    /// 0x92: packet identifier not found (PUBREL, PUBCOMP).
    pub const PACKET_ID_NOT_FOUND: ReasonCode = ReasonCode(0x92);
    /// 0x95: packet too large.
    pub const PACKET_TOO_LARGE: ReasonCode = ReasonCode(0x95);

    /// Whether the code reports a failure (0x80 and above).
    pub fn is_error(self) -> bool {
        self.0 >= 0x80
    }
}

/// The name of packet type `t` (`"reserved"` for 0, `"UNSUBSCRIBE"` etc. for those this codec
/// does not handle).
pub(crate) fn packet_name(t: u8) -> &'static str {
    match t {
        1 => "CONNECT",
        2 => "CONNACK",
        3 => "PUBLISH",
        4 => "PUBACK",
        5 => "PUBREC",
        6 => "PUBREL",
        7 => "PUBCOMP",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        10 => "UNSUBSCRIBE",
        11 => "UNSUBACK",
        12 => "PINGREQ",
        13 => "PINGRESP",
        14 => "DISCONNECT",
        15 => "AUTH",
        _ => "reserved",
    }
}

/// The specification's name of property `id` (`"unknown"` for identifiers it does not define).
pub fn property_name(id: u8) -> &'static str {
    match id {
        0x01 => "payload format indicator",
        0x02 => "message expiry interval",
        0x03 => "content type",
        0x08 => "response topic",
        0x09 => "correlation data",
        0x0B => "subscription identifier",
        0x11 => "session expiry interval",
        0x12 => "assigned client identifier",
        0x13 => "server keep alive",
        0x15 => "authentication method",
        0x16 => "authentication data",
        0x17 => "request problem information",
        0x18 => "will delay interval",
        0x19 => "request response information",
        0x1A => "response information",
        0x1C => "server reference",
        0x1F => "reason string",
        0x21 => "receive maximum",
        0x22 => "topic alias maximum",
        0x23 => "topic alias",
        0x24 => "maximum qos",
        0x25 => "retain available",
        0x26 => "user property",
        0x27 => "maximum packet size",
        0x28 => "wildcard subscription available",
        0x29 => "subscription identifier available",
        0x2A => "shared subscription available",
        _ => "unknown",
    }
}
