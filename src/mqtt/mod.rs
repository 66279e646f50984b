//! A sans-IO MQTT client codec, 3.1.1 and 5.0: bytes in, [`Packet`]s out, and back. Nothing here
//! touches a socket or a clock; the caller owns the connection and the session state.
//!
//! | packet | type | a client | here |
//! |---|---|---|---|
//! | CONNECT | 1 | sends | both ways (the decoder for tests and fuzzing) |
//! | CONNACK | 2 | receives | both ways |
//! | PUBLISH | 3 | both | both ways, QoS 0/1/2, dup, retain; payload zero-copy |
//! | PUBACK, PUBREC, PUBREL, PUBCOMP | 4–7 | both | both ways |
//! | SUBSCRIBE / SUBACK | 8 / 9 | sends / receives | both ways |
//! | PINGREQ / PINGRESP | 12 / 13 | sends / receives | both ways |
//! | DISCONNECT | 14 | both (5.0) | both ways |
//!
//! UNSUBSCRIBE, UNSUBACK and AUTH are refused as [`MqttError::UnsupportedPacketType`].
//!
//! ```text
//! +--------+---------------------+----------------------------------------+
//! | byte 1 | remaining length    | variable header and payload            |
//! | type<<4| 1-4 bytes, 7 bits   | remaining length bytes                 |
//! | |flags | each, low first     | (5.0: properties after the var header) |
//! +--------+---------------------+----------------------------------------+
//! ```
//!
//! **Bounds.** The whole packet (fixed header included, as MQTT 5's Maximum Packet Size counts
//! it) is checked against [`MqttLimits::max_packet_len`] (default [`MAX_PACKET_LEN`], 1 MiB) as
//! soon as the remaining length is read: before the body arrives and before anything is reserved.
//! A fifth remaining-length byte is refused. Every string, binary field and property is read
//! through the bounded [`ByteReader`](crate::util::ByteReader) from the packet's bytes, so what a
//! decoded packet holds is at most a small multiple of the packet (one `Vec` entry per user
//! property or topic filter).
//!
//! **Validation.** Strings are well-formed UTF-8 without U+0000; packet identifiers are non-zero
//! where required; reserved flag bits, QoS 3, DUP on QoS 0, wildcards in a topic name, reason
//! codes a packet does not define, and MQTT 5 properties that are unknown, not allowed in the
//! packet or repeated are errors ([`MqttError`] names the field). Non-minimal variable byte
//! integers are accepted, as mosquitto accepts them.
//!
//! Sources: OASIS MQTT Version 3.1.1 (2014) and MQTT Version 5.0 (2019), sections 2 and 3.
//!
//! Files, imported one way: `kinds` (version, QoS, reason codes, names) → `error` → `wire` (the
//! data representations) → `properties` → `packet` (the values) → `decode` → `encode`; this file
//! frames them.
//!
//! ```
//! use bytes::BytesMut;
//! use rocketmq_bridge::mqtt::{decode_packet, encode_packet, Ack, MqttLimits, Packet, Version};
//!
//! let lim = MqttLimits::default();
//! let mut wire = BytesMut::new();
//! encode_packet(&Packet::PubAck(Ack::new(7)), Version::V5, &mut wire, &lim).unwrap();
//! assert_eq!(&wire[..], &[0x40, 0x02, 0x00, 0x07]);
//! let mut partial = BytesMut::from(&wire[..3]);
//! assert_eq!(decode_packet(&mut partial, Version::V5, &lim), Ok(None)); // needs more bytes
//! assert_eq!(
//!     decode_packet(&mut wire, Version::V5, &lim),
//!     Ok(Some(Packet::PubAck(Ack::new(7))))
//! );
//! assert!(wire.is_empty());
//! ```

mod decode;
mod encode;
mod error;
mod kinds;
mod packet;
mod properties;
mod wire;

pub use error::MqttError;
pub use kinds::{property_name, QoS, ReasonCode, Version};
pub use packet::{
    Ack, ConnAck, Connect, Disconnect, LastWill, Packet, Publish, RetainHandling, SubAck,
    Subscribe, SubscribeOptions,
};
pub use properties::Properties;
pub use wire::{MAX_STRING_LEN, MAX_VAR_INT};

use bytes::{BufMut, BytesMut};
use wire::VarInt;

/// Default largest packet, fixed header included: 1 MiB. mosquitto's default `max_packet_size`
/// is the protocol's 256 MiB; a bridge client has no use for PUBLISH packets that large, and the
/// cap is what a hostile broker can make it hold per packet.
pub const MAX_PACKET_LEN: usize = 1024 * 1024;

/// Limits applied while decoding and encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqttLimits {
    /// Largest whole packet in bytes, fixed header included. Defaults to [`MAX_PACKET_LEN`].
    pub max_packet_len: usize,
}

impl Default for MqttLimits {
    fn default() -> MqttLimits {
        MqttLimits {
            max_packet_len: MAX_PACKET_LEN,
        }
    }
}

/// What the fixed header at the front of a buffer announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// Packet type (1 to 14), the high four bits of the first byte.
    pub packet_type: u8,
    /// The low four bits of the first byte.
    pub flags: u8,
    /// Bytes of the fixed header: 1 + the remaining length's 1 to 4.
    pub header_len: usize,
    /// The remaining length: bytes after the fixed header.
    pub remaining_len: usize,
}

impl FixedHeader {
    /// The whole packet's length, fixed header included.
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining_len
    }
}

/// The flags packet type `t` must carry; `None` for PUBLISH, whose flags are its DUP, QoS and
/// RETAIN and are checked with its body.
fn required_flags(t: u8) -> Option<u8> {
    match t {
        3 => None,
        6 | 8 => Some(2),
        _ => Some(0),
    }
}

/// Reads and checks the fixed header without consuming anything. `Ok(None)`: the remaining
/// length is not complete yet. The packet type and flags are checked from the first byte, and
/// the length against the limit as soon as it is complete.
///
/// # Errors
/// [`MqttError::UnsupportedPacketType`], [`MqttError::InvalidFlags`],
/// [`MqttError::MalformedVarInt`], [`MqttError::PacketTooLarge`].
pub fn peek_header(src: &[u8], lim: &MqttLimits) -> Result<Option<FixedHeader>, MqttError> {
    let Some(&first) = src.first() else {
        return Ok(None);
    };
    let (packet_type, flags) = (first >> 4, first & 0x0F);
    if !matches!(packet_type, 1..=9 | 12..=14) {
        return Err(MqttError::UnsupportedPacketType(packet_type));
    }
    if required_flags(packet_type).is_some_and(|f| f != flags) {
        return Err(MqttError::InvalidFlags {
            packet: kinds::packet_name(packet_type),
            flags,
        });
    }
    let (remaining, n) = match wire::peek_var_int(&src[1..], "remaining length")? {
        VarInt::Done(v, n) => (v, n),
        VarInt::Incomplete => return Ok(None),
    };
    let len = 1 + n as u64 + u64::from(remaining);
    if len > lim.max_packet_len as u64 {
        return Err(MqttError::PacketTooLarge {
            len,
            max: lim.max_packet_len,
        });
    }
    Ok(Some(FixedHeader {
        packet_type,
        flags,
        header_len: 1 + n,
        remaining_len: remaining as usize,
    }))
}

/// Decodes one packet from the front of `src`, laid out as protocol `version` (CONNECT is read by
/// the protocol level it carries).
///
/// `Ok(None)` means more bytes are needed; nothing is consumed then. On success exactly one
/// packet is consumed, and a PUBLISH payload is a zero-copy slice of it. The packet length is
/// checked against the limit before anything is reserved; a reader should grow its buffer by
/// [`read_hint`] steps.
///
/// # Errors
/// [`MqttError`] naming the field. The packet is consumed when its bytes were all present; the
/// stream cannot be resynchronised after an error either way, so close the connection.
pub fn decode_packet(
    src: &mut BytesMut,
    version: Version,
    lim: &MqttLimits,
) -> Result<Option<Packet>, MqttError> {
    let Some(h) = peek_header(src, lim)? else {
        return Ok(None);
    };
    if src.len() < h.packet_len() {
        return Ok(None);
    }
    let mut packet = src.split_to(h.packet_len());
    let body = packet.split_off(h.header_len).freeze();
    decode::decode_body(h.packet_type, h.flags, body, version).map(Some)
}

/// How many more bytes to read for the packet at the front of `src`: at least one, at most
/// `chunk`, and once its length is known never more than the packet still needs. Lets a reader
/// grow its buffer step by step instead of by what a peer announces.
pub fn read_hint(src: &[u8], lim: &MqttLimits, chunk: usize) -> usize {
    match peek_header(src, lim) {
        Ok(Some(h)) if src.len() < h.packet_len() => (h.packet_len() - src.len()).clamp(1, chunk),
        _ => chunk.max(1),
    }
}

/// Appends `p` to `dst`, laid out as protocol `version` (CONNECT by its own version).
///
/// # Errors
/// [`MqttError::PacketTooLarge`] over the limit (or the protocol's 268,435,455-byte remaining
/// length), [`MqttError::NotInVersion`] for what 3.1.1 cannot carry, and every rule the decoder
/// checks (so whatever encodes, decodes). `dst` is left as it was on error.
pub fn encode_packet(
    p: &Packet,
    version: Version,
    dst: &mut BytesMut,
    lim: &MqttLimits,
) -> Result<(), MqttError> {
    let mut body = BytesMut::new();
    let (flags, payload) = encode::encode_body(p, version, &mut body)?;
    let remaining = body.len() + payload.map_or(0, |b| b.len());
    let len = 1 + wire::var_int_len(remaining.min(wire::MAX_VAR_INT as usize) as u32) + remaining;
    if remaining > wire::MAX_VAR_INT as usize || len > lim.max_packet_len {
        return Err(MqttError::PacketTooLarge {
            len: len as u64,
            max: lim.max_packet_len,
        });
    }
    dst.reserve(len);
    dst.put_u8(p.type_code() << 4 | flags);
    wire::put_var_int(dst, remaining as u32, "remaining length")?;
    dst.extend_from_slice(&body);
    if let Some(b) = payload {
        dst.extend_from_slice(b);
    }
    Ok(())
}

/// Encodes `p` into a fresh buffer (convenience for tests and one-off packets).
///
/// # Errors
/// As [`encode_packet`].
pub fn encode_to_vec(p: &Packet, version: Version, lim: &MqttLimits) -> Result<Vec<u8>, MqttError> {
    let mut b = BytesMut::new();
    encode_packet(p, version, &mut b, lim)?;
    Ok(b.to_vec())
}

#[cfg(test)]
mod tests;
