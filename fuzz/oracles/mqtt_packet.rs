//! Oracle for the MQTT codec (`rocketmq_bridge::mqtt::decode_packet`). The first input byte picks
//! the protocol version (bit 0: 3.1.1 or 5.0), the rest is a byte stream from a broker. Packets
//! are decoded from the stream one after another (at most 64) and each must hold:
//!
//! - semantic round trip: a decoded packet encodes, the encoding decodes to the same packet,
//!   consuming it exactly, and is never longer than the bytes it was decoded from (the encoder
//!   writes the shortest form: minimal lengths, MQTT 5's abbreviated acknowledgements);
//! - streaming: an incomplete packet is "need more" and consumes nothing; a prefix of the input
//!   decodes to "need more" or to exactly what the whole input gives; [`read_hint`] asks for 1 to
//!   `chunk` bytes;
//! - bounds: while decoding, no allocation and no live total past 24 bytes per input byte plus
//!   64 KiB (a user property of 5 bytes on the wire costs 48 bytes of `Vec` entry, doubled by
//!   growth; a decoder that reserved the announced packet length, up to the 1 MiB cap, aborts);
//! - errors: a decode error has a message and a DISCONNECT reason (0x81, 0x82 or 0x95).

use super::alloc::with_caps;
use bytes::BytesMut;
use rocketmq_bridge::mqtt::{
    decode_packet, encode_packet, read_hint, MqttError, MqttLimits, Packet, Version,
};

/// Limits for re-encoding: the round trip is about the value, not the cap.
const UNLIMITED: MqttLimits = MqttLimits {
    max_packet_len: usize::MAX,
};

fn decode_capped(
    buf: &mut BytesMut,
    v: Version,
    lim: &MqttLimits,
    input_len: usize,
) -> Result<Option<Packet>, MqttError> {
    let cap = 24 * input_len + (64 << 10);
    with_caps("mqtt::decode_packet", cap, cap, || {
        decode_packet(buf, v, lim)
    })
    .0
}

/// Checks every property above for one input.
///
/// # Panics
/// When a property is violated (an allocation past the caps aborts instead).
pub(crate) fn check_mqtt_packet(data: &[u8]) {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };
    let v = if sel & 1 == 0 {
        Version::V311
    } else {
        Version::V5
    };
    let lim = MqttLimits::default();
    let mut buf = BytesMut::from(stream);
    let first = decode_capped(&mut buf, v, &lim, stream.len());

    let cut = (sel as usize >> 1) % (stream.len() + 1);
    let mut pre = BytesMut::from(&stream[..cut]);
    match decode_capped(&mut pre, v, &lim, cut) {
        Ok(None) => assert_eq!(pre.len(), cut, "incomplete input was consumed"),
        other => assert_eq!(other, first, "a prefix of {cut} bytes decoded differently"),
    }

    let mut next = first;
    let mut before = stream.len();
    for _ in 0..64 {
        match next {
            Ok(Some(p)) => round_trip(&p, v, before - buf.len()),
            Ok(None) => {
                let hint = read_hint(&buf, &lim, 4096);
                assert!((1..=4096).contains(&hint), "read hint {hint}");
                return;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                assert!(matches!(e.disconnect_reason(), 0x81 | 0x82 | 0x95), "{e:?}");
                return;
            }
        }
        before = buf.len();
        next = decode_capped(&mut buf, v, &lim, before);
        if matches!(next, Ok(None)) {
            assert_eq!(buf.len(), before, "incomplete input was consumed");
        }
    }
}

/// `p` was decoded from `consumed` bytes.
fn round_trip(p: &Packet, v: Version, consumed: usize) {
    let mut out = BytesMut::new();
    encode_packet(p, v, &mut out, &UNLIMITED)
        .unwrap_or_else(|e| panic!("a decoded {} does not encode: {e}: {p:?}", p.name()));
    let len = out.len();
    let again = decode_packet(&mut out, v, &UNLIMITED)
        .unwrap_or_else(|e| panic!("the re-encoded {} does not decode: {e}", p.name()));
    assert_eq!(
        again.as_ref(),
        Some(p),
        "MQTT round trip changed the packet"
    );
    assert!(
        out.is_empty(),
        "re-encoded packet left {} bytes over",
        out.len()
    );
    assert!(
        len <= consumed,
        "re-encoding grew the {} from {consumed} to {len} bytes",
        p.name()
    );
}
