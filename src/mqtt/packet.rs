//! The packets as values: what [`decode_packet`](super::decode_packet) returns and
//! [`encode_packet`](super::encode_packet) writes. Plain data with public fields; the version
//! decides the layout on the wire, so one value can be written as 3.1.1 or 5.0 (fields that 3.1.1
//! cannot carry must then be empty or default, or the encoder refuses them).

use super::kinds::{packet_name, QoS, ReasonCode, Version};
use super::properties::Properties;
use bytes::Bytes;

/// The will message of a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    /// Where it is published.
    pub topic: String,
    /// Its payload.
    pub payload: Bytes,
    /// Its QoS.
    pub qos: QoS,
    /// Whether it is retained.
    pub retain: bool,
    /// MQTT 5 will properties (empty for 3.1.1).
    pub properties: Properties,
}

/// CONNECT: the first packet a client sends. It carries its own [`Version`]: it is encoded and
/// decoded by the protocol level it holds, whatever version the call names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol level.
    pub version: Version,
    /// Client identifier (may be empty: the server assigns one).
    pub client_id: String,
    /// Clean session (3.1.1) / clean start (5.0).
    pub clean_start: bool,
    /// Keep-alive in seconds (0: off).
    pub keep_alive: u16,
    /// User name.
    pub username: Option<String>,
    /// Password (3.1.1 requires a user name with it).
    pub password: Option<Bytes>,
    /// Will message.
    pub will: Option<LastWill>,
    /// MQTT 5 properties (session expiry, receive maximum, user properties, ...).
    pub properties: Properties,
}

/// CONNACK: the server's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// The server resumed a session.
    pub session_present: bool,
    /// 3.1.1 return code (0 to 5) or 5.0 reason code.
    pub code: ReasonCode,
    /// MQTT 5 properties (assigned client id, receive maximum, reason string, ...).
    pub properties: Properties,
}

/// PUBLISH, either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Re-delivery flag (only with QoS 1 and 2).
    pub dup: bool,
    /// QoS.
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// Topic name (MQTT 5: may be empty when a topic alias is given).
    pub topic: String,
    /// Packet identifier: `Some` (non-zero) exactly when QoS is 1 or 2.
    pub packet_id: Option<u16>,
    /// MQTT 5 properties (user properties, message expiry, ...).
    pub properties: Properties,
    /// The application message: a zero-copy slice of the received packet.
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP: a packet identifier, and in MQTT 5 a reason code and
/// properties (reason string, user properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The packet identifier acknowledged.
    pub packet_id: u16,
    /// Reason code ([`ReasonCode::SUCCESS`] for 3.1.1).
    pub reason: ReasonCode,
    /// MQTT 5 properties.
    pub properties: Properties,
}

impl Ack {
    /// A successful acknowledgement of `packet_id` without properties.
    pub fn new(packet_id: u16) -> Ack {
        Ack {
            packet_id,
            reason: ReasonCode::SUCCESS,
            properties: Properties::default(),
        }
    }
}

/// Retain handling of an MQTT 5 subscription: whether retained messages are sent on subscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetainHandling {
    /// 0: send them at subscribe.
    SendAtSubscribe,
    /// 1: send them only if the subscription did not exist.
    SendIfNew,
    /// 2: do not send them.
    DoNotSend,
}

/// The options byte of one SUBSCRIBE entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscribeOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// MQTT 5: do not receive own publishes.
    pub no_local: bool,
    /// MQTT 5: keep the retain flag as published.
    pub retain_as_published: bool,
    /// MQTT 5: retain handling.
    pub retain_handling: RetainHandling,
}

impl SubscribeOptions {
    /// Options with maximum QoS `qos` and the MQTT 5 options at their defaults (the only
    /// options MQTT 3.1.1 can carry).
    pub fn qos(qos: QoS) -> SubscribeOptions {
        SubscribeOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        }
    }
}

/// SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier (non-zero).
    pub packet_id: u16,
    /// Topic filters with their options (at least one).
    pub filters: Vec<(String, SubscribeOptions)>,
    /// MQTT 5 properties (subscription identifier, user properties).
    pub properties: Properties,
}

/// SUBACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet identifier of the SUBSCRIBE answered.
    pub packet_id: u16,
    /// One code per filter: the granted QoS (0, 1, 2) or a failure.
    pub codes: Vec<ReasonCode>,
    /// MQTT 5 properties (reason string, user properties).
    pub properties: Properties,
}

/// DISCONNECT (MQTT 5: either direction, with a reason code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// Reason code ([`ReasonCode::SUCCESS`] for 3.1.1).
    pub reason: ReasonCode,
    /// MQTT 5 properties (session expiry, reason string, server reference, user properties).
    pub properties: Properties,
}

/// One MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (type 1).
    Connect(Box<Connect>),
    /// CONNACK (type 2).
    ConnAck(ConnAck),
    /// PUBLISH (type 3).
    Publish(Publish),
    /// PUBACK (type 4).
    PubAck(Ack),
    /// PUBREC (type 5).
    PubRec(Ack),
    /// PUBREL (type 6).
    PubRel(Ack),
    /// PUBCOMP (type 7).
    PubComp(Ack),
    /// SUBSCRIBE (type 8).
    Subscribe(Subscribe),
    /// SUBACK (type 9).
    SubAck(SubAck),
    /// PINGREQ (type 12).
    PingReq,
    /// PINGRESP (type 13).
    PingResp,
    /// DISCONNECT (type 14).
    Disconnect(Disconnect),
}

impl Packet {
    /// The packet's name as the specification writes it (`PUBLISH`, `SUBACK`, ...).
    pub fn name(&self) -> &'static str {
        packet_name(self.type_code())
    }

    /// The packet type, the high four bits of the first byte.
    pub fn type_code(&self) -> u8 {
        match self {
            Packet::Connect(_) => 1,
            Packet::ConnAck(_) => 2,
            Packet::Publish(_) => 3,
            Packet::PubAck(_) => 4,
            Packet::PubRec(_) => 5,
            Packet::PubRel(_) => 6,
            Packet::PubComp(_) => 7,
            Packet::Subscribe(_) => 8,
            Packet::SubAck(_) => 9,
            Packet::PingReq => 12,
            Packet::PingResp => 13,
            Packet::Disconnect(_) => 14,
        }
    }
}

/// The reason (return) codes packet type `t` may carry in `version`; empty for packets without
/// one.
pub(crate) fn allowed_codes(t: u8, version: Version) -> &'static [u8] {
    match (t, version) {
        (2, Version::V311) => &[0, 1, 2, 3, 4, 5],
        (2, Version::V5) => &[
            0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90,
            0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
        ],
        (4 | 5, Version::V5) => &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
        (6 | 7, Version::V5) => &[0x00, 0x92],
        (9, Version::V311) => &[0x00, 0x01, 0x02, 0x80],
        (9, Version::V5) => &[
            0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
        ],
        (14, Version::V5) => &[
            0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93,
            0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1,
            0xA2,
        ],
        // 3.1.1 acknowledgements and DISCONNECT carry no code: only success is representable.
        _ => &[0x00],
    }
}

/// Checks that packet type `t` may carry `code` in `version`.
///
/// # Errors
/// [`MqttError::InvalidReasonCode`](super::MqttError::InvalidReasonCode).
pub(crate) fn check_code(
    t: u8,
    version: Version,
    code: u8,
) -> Result<ReasonCode, super::MqttError> {
    if allowed_codes(t, version).contains(&code) {
        Ok(ReasonCode(code))
    } else {
        Err(super::MqttError::InvalidReasonCode {
            packet: packet_name(t),
            code,
        })
    }
}
