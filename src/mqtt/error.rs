//! [`MqttError`]: why a packet could not be decoded or encoded. A pure value (no `io::Error`,
//! `Eq`), so tests compare it exactly; each variant names the field or packet and carries the
//! numbers. There is no cause to chain: `source()` is `None`.

use super::kinds::property_name;
use crate::util::ReadError;
use std::fmt;

/// Why an MQTT packet could not be decoded (or encoded). After a decode error the stream cannot
/// be resynchronised: close the connection ([`MqttError::disconnect_reason`] says with which MQTT
/// 5 reason code).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MqttError {
    /// The whole packet (fixed header included) is larger than
    /// [`MqttLimits::max_packet_len`](super::MqttLimits::max_packet_len).
    PacketTooLarge {
        /// The packet's length: fixed header plus the announced remaining length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A Variable Byte Integer whose fourth byte still has the continuation bit set.
    MalformedVarInt {
        /// The field (`remaining length`, `property length`, ...).
        field: &'static str,
    },
    /// The packet type is 0 (reserved) or one this codec does not handle (UNSUBSCRIBE,
    /// UNSUBACK, AUTH).
    UnsupportedPacketType(u8),
    /// The low four bits of the first byte are not what the packet type requires.
    InvalidFlags {
        /// The packet.
        packet: &'static str,
        /// The flags read.
        flags: u8,
    },
    /// A field runs past the end of the packet.
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// A field is longer than its encoding allows (65,535 for strings and binary data).
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Bytes left over after the last field of a packet (or of a property block).
    TrailingBytes {
        /// The packet or block.
        packet: &'static str,
        /// How many.
        len: usize,
    },
    /// A UTF-8 Encoded String that is not well-formed UTF-8.
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A UTF-8 Encoded String containing U+0000, which MQTT forbids.
    NulInString {
        /// The field.
        field: &'static str,
    },
    /// CONNECT's protocol name is not `MQTT`.
    InvalidProtocolName,
    /// CONNECT's protocol level is neither 4 (3.1.1) nor 5.
    UnsupportedProtocolLevel(u8),
    /// A field holds a value the specification does not allow (QoS 3, a reserved bit set, retain
    /// handling 3, a boolean property other than 0 or 1, ...).
    ValueOutOfRange {
        /// The field.
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// A packet identifier of 0 where a non-zero one is required.
    ZeroPacketId,
    /// A reason (return) code that is not defined for this packet in this protocol version.
    InvalidReasonCode {
        /// The packet.
        packet: &'static str,
        /// The code.
        code: u8,
    },
    /// A property identifier that MQTT 5 does not define (identifiers are variable byte
    /// integers; all defined ones fit one byte).
    UnknownProperty(u32),
    /// A property that is defined, but not for this packet.
    PropertyNotAllowed {
        /// The packet (or `will` for the will properties).
        packet: &'static str,
        /// The property identifier.
        id: u8,
    },
    /// A property that may appear once appears twice.
    DuplicateProperty(u8),
    /// A packet that must carry at least one entry (SUBSCRIBE's filters, SUBACK's codes) has none,
    /// or a topic or filter that must not be empty is.
    Empty {
        /// The field.
        field: &'static str,
    },
    /// A PUBLISH topic name containing a wildcard (`+` or `#`).
    WildcardInTopic,
    /// Encoding only: the packet uses something the target protocol version cannot carry
    /// (properties, a reason code or subscription options in MQTT 3.1.1).
    NotInVersion {
        /// What cannot be carried.
        field: &'static str,
    },
}

impl MqttError {
    /// The MQTT 5 DISCONNECT reason code a client sends before closing on this error: 0x95
    /// (packet too large), 0x82 (protocol error: a duplicate property, a zero packet id), or 0x81
    /// (malformed packet) for the rest.
    pub fn disconnect_reason(&self) -> u8 {
        match self {
            MqttError::PacketTooLarge { .. } => 0x95,
            MqttError::DuplicateProperty(_)
            | MqttError::ZeroPacketId
            | MqttError::UnsupportedProtocolLevel(_) => 0x82,
            _ => 0x81,
        }
    }
}

impl fmt::Display for MqttError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MqttError::PacketTooLarge { len, max } => {
                write!(f, "MQTT packet length {len} exceeds limit {max}")
            }
            MqttError::MalformedVarInt { field } => {
                write!(f, "{field}: variable byte integer longer than 4 bytes")
            }
            MqttError::UnsupportedPacketType(t) => write!(f, "unsupported MQTT packet type {t}"),
            MqttError::InvalidFlags { packet, flags } => {
                write!(f, "{packet}: invalid fixed header flags {flags:#06b}")
            }
            MqttError::Truncated { field, need, have } => {
                write!(f, "{field} needs {need} bytes, {have} left in the packet")
            }
            MqttError::FieldTooLong { field, len, max } => {
                write!(f, "{field} length {len} exceeds limit {max}")
            }
            MqttError::TrailingBytes { packet, len } => {
                write!(f, "{len} bytes left over after {packet}")
            }
            MqttError::InvalidUtf8 { field } => write!(f, "{field} is not valid UTF-8"),
            MqttError::NulInString { field } => write!(f, "{field} contains U+0000"),
            MqttError::InvalidProtocolName => write!(f, "CONNECT protocol name is not MQTT"),
            MqttError::UnsupportedProtocolLevel(l) => {
                write!(f, "unsupported MQTT protocol level {l} (4 and 5 are)")
            }
            MqttError::ValueOutOfRange { field, value } => {
                write!(f, "{field}: value {value} is not allowed")
            }
            MqttError::ZeroPacketId => write!(f, "packet identifier 0 where non-zero is required"),
            MqttError::InvalidReasonCode { packet, code } => {
                write!(f, "{packet}: reason code {code:#04x} is not defined for it")
            }
            MqttError::UnknownProperty(id) => write!(f, "unknown MQTT 5 property {id:#04x}"),
            MqttError::PropertyNotAllowed { packet, id } => {
                write!(
                    f,
                    "property {} ({id:#04x}) is not allowed in {packet}",
                    property_name(*id)
                )
            }
            MqttError::DuplicateProperty(id) => {
                write!(
                    f,
                    "property {} ({id:#04x}) appears more than once",
                    property_name(*id)
                )
            }
            MqttError::Empty { field } => write!(f, "{field} is empty"),
            MqttError::WildcardInTopic => write!(f, "PUBLISH topic name contains a wildcard"),
            MqttError::NotInVersion { field } => {
                write!(f, "{field} cannot be carried by MQTT 3.1.1")
            }
        }
    }
}

impl std::error::Error for MqttError {}

/// A short read is [`MqttError::Truncated`]; a length over a cap is [`MqttError::FieldTooLong`].
impl From<ReadError> for MqttError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Short { field, need, have } => MqttError::Truncated { field, need, have },
            ReadError::OverCap { field, len, max } => MqttError::FieldTooLong { field, len, max },
        }
    }
}
