//! The MQTT data representations (spec 1.5 / v5 1.5): Variable Byte Integers, UTF-8 Encoded
//! Strings (validated, U+0000 refused), Binary Data and the Two Byte Integer packet identifier.
//! Reads go through the bounded [`ByteReader`]; every length is checked against the bytes present
//! before anything is copied, so a string can never be longer than the packet holding it.

use super::error::MqttError;
use crate::util::ByteReader;
use bytes::{BufMut, Bytes, BytesMut};

/// Largest value a Variable Byte Integer can carry (four bytes): 268,435,455.
pub const MAX_VAR_INT: u32 = 268_435_455;

/// Longest UTF-8 string or binary data field: a two-byte length, 65,535.
pub const MAX_STRING_LEN: usize = u16::MAX as usize;

/// What a Variable Byte Integer at the front of `src` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarInt {
    /// The value and how many bytes encoded it.
    Done(u32, usize),
    /// All bytes present had the continuation bit set (fewer than four of them).
    Incomplete,
}

/// Reads a Variable Byte Integer (1 to 4 bytes, low 7 bits first) from the front of `src`.
/// Non-minimal encodings (`80 00` for 0) are accepted, as mosquitto does.
///
/// # Errors
/// [`MqttError::MalformedVarInt`] when a fourth byte still has the continuation bit set.
pub(crate) fn peek_var_int(src: &[u8], field: &'static str) -> Result<VarInt, MqttError> {
    let mut value = 0u32;
    for (i, &b) in src.iter().take(4).enumerate() {
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(VarInt::Done(value, i + 1));
        }
    }
    if src.len() >= 4 {
        return Err(MqttError::MalformedVarInt { field });
    }
    Ok(VarInt::Incomplete)
}

/// Reads a Variable Byte Integer inside a packet (running out of bytes is an error there).
///
/// # Errors
/// [`MqttError::MalformedVarInt`], or [`MqttError::Truncated`] when the packet ends inside it.
pub(crate) fn read_var_int(r: &mut ByteReader<'_>, field: &'static str) -> Result<u32, MqttError> {
    match peek_var_int(r.rest(), field)? {
        VarInt::Done(v, n) => {
            r.skip(n, field)?;
            Ok(v)
        }
        VarInt::Incomplete => Err(MqttError::Truncated {
            field,
            need: r.remaining() + 1,
            have: r.remaining(),
        }),
    }
}

/// How many bytes the Variable Byte Integer encoding of `v` takes (1 to 4; `v` ≤ [`MAX_VAR_INT`]).
pub(crate) fn var_int_len(v: u32) -> usize {
    match v {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Appends the Variable Byte Integer encoding of `v`.
///
/// # Errors
/// [`MqttError::ValueOutOfRange`] when `v` > [`MAX_VAR_INT`]; nothing is written then.
pub(crate) fn put_var_int(
    dst: &mut BytesMut,
    v: u32,
    field: &'static str,
) -> Result<(), MqttError> {
    if v > MAX_VAR_INT {
        return Err(MqttError::ValueOutOfRange {
            field,
            value: u64::from(v),
        });
    }
    let mut v = v;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            dst.put_u8(b);
            return Ok(());
        }
        dst.put_u8(b | 0x80);
    }
}

/// Checks MQTT's rules for a UTF-8 Encoded String: well-formed UTF-8 (no surrogates, no overlong
/// forms: `str::from_utf8`) and no U+0000.
///
/// # Errors
/// [`MqttError::InvalidUtf8`] or [`MqttError::NulInString`], naming `field`.
pub(crate) fn check_str<'a>(raw: &'a [u8], field: &'static str) -> Result<&'a str, MqttError> {
    let s = std::str::from_utf8(raw).map_err(|_| MqttError::InvalidUtf8 { field })?;
    if raw.contains(&0) {
        return Err(MqttError::NulInString { field });
    }
    Ok(s)
}

/// Reads a UTF-8 Encoded String (two-byte length, then the bytes), validated.
///
/// # Errors
/// [`MqttError::Truncated`], [`MqttError::InvalidUtf8`], [`MqttError::NulInString`].
pub(crate) fn read_string(
    r: &mut ByteReader<'_>,
    field: &'static str,
) -> Result<String, MqttError> {
    let n = r.u16(field)? as usize;
    let raw = r.take(n, field)?;
    Ok(check_str(raw, field)?.to_owned())
}

/// Reads Binary Data (two-byte length, then the bytes) as a zero-copy slice of `frame`, the
/// buffer `r` reads.
///
/// # Errors
/// [`MqttError::Truncated`].
pub(crate) fn read_binary(
    r: &mut ByteReader<'_>,
    frame: &Bytes,
    field: &'static str,
) -> Result<Bytes, MqttError> {
    let n = r.u16(field)? as usize;
    let start = r.position();
    r.skip(n, field)?;
    Ok(frame.slice(start..start + n))
}

/// Reads a non-zero packet identifier.
///
/// # Errors
/// [`MqttError::Truncated`], or [`MqttError::ZeroPacketId`] for 0.
pub(crate) fn read_packet_id(r: &mut ByteReader<'_>) -> Result<u16, MqttError> {
    match r.u16("packet identifier")? {
        0 => Err(MqttError::ZeroPacketId),
        id => Ok(id),
    }
}

/// Checks a packet identifier before it is written.
///
/// # Errors
/// [`MqttError::ZeroPacketId`] for 0.
pub(crate) fn put_packet_id(dst: &mut BytesMut, id: u16) -> Result<(), MqttError> {
    if id == 0 {
        return Err(MqttError::ZeroPacketId);
    }
    dst.put_u16(id);
    Ok(())
}

/// Appends a UTF-8 Encoded String, checked as the decoder checks it.
///
/// # Errors
/// [`MqttError::FieldTooLong`] over 65,535 bytes, [`MqttError::NulInString`].
pub(crate) fn put_string(
    dst: &mut BytesMut,
    s: &str,
    field: &'static str,
) -> Result<(), MqttError> {
    if s.as_bytes().contains(&0) {
        return Err(MqttError::NulInString { field });
    }
    put_binary(dst, s.as_bytes(), field)
}

/// Appends Binary Data.
///
/// # Errors
/// [`MqttError::FieldTooLong`] over 65,535 bytes.
pub(crate) fn put_binary(
    dst: &mut BytesMut,
    b: &[u8],
    field: &'static str,
) -> Result<(), MqttError> {
    if b.len() > MAX_STRING_LEN {
        return Err(MqttError::FieldTooLong {
            field,
            len: b.len(),
            max: MAX_STRING_LEN,
        });
    }
    dst.put_u16(b.len() as u16);
    dst.put_slice(b);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: u32) -> Vec<u8> {
        let mut b = BytesMut::new();
        put_var_int(&mut b, v, "v").unwrap();
        b.to_vec()
    }

    /// The table of MQTT 3.1.1 section 2.2.3 (and v5 1.5.5): the edges of each encoded size.
    #[test]
    fn var_int_matches_the_spec_table() {
        let table: [(u32, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (v, bytes) in table {
            assert_eq!(enc(v), bytes, "encoding of {v}");
            assert_eq!(var_int_len(v), bytes.len(), "length of {v}");
            assert_eq!(
                peek_var_int(bytes, "v"),
                Ok(VarInt::Done(v, bytes.len())),
                "decoding of {v}"
            );
            // Every strict prefix is "need more".
            for cut in 0..bytes.len() {
                assert_eq!(peek_var_int(&bytes[..cut], "v"), Ok(VarInt::Incomplete));
            }
        }
    }

    #[test]
    fn a_five_byte_var_int_is_refused_and_too_large_values_are_not_written() {
        assert_eq!(
            peek_var_int(&[0xFF, 0xFF, 0xFF, 0xFF, 0x7F], "remaining length"),
            Err(MqttError::MalformedVarInt {
                field: "remaining length"
            })
        );
        // Refused as soon as the fourth byte is seen, whether or not a fifth arrived.
        assert!(peek_var_int(&[0x80, 0x80, 0x80, 0x80], "x").is_err());
        let mut b = BytesMut::new();
        assert_eq!(
            put_var_int(&mut b, MAX_VAR_INT + 1, "remaining length"),
            Err(MqttError::ValueOutOfRange {
                field: "remaining length",
                value: 268_435_456
            })
        );
        assert!(b.is_empty());
    }

    #[test]
    fn non_minimal_var_ints_are_accepted() {
        assert_eq!(peek_var_int(&[0x80, 0x00], "x"), Ok(VarInt::Done(0, 2)));
        assert_eq!(
            peek_var_int(&[0xFF, 0x80, 0x80, 0x00], "x"),
            Ok(VarInt::Done(127, 4))
        );
    }

    #[test]
    fn strings_are_validated_utf8_without_nul() {
        // Spec 1.5.4 example: "A𪛔" is 41 F0 AA 9B 94.
        let mut r = ByteReader::new(&[0x00, 0x05, 0x41, 0xF0, 0xAA, 0x9B, 0x94]);
        assert_eq!(read_string(&mut r, "topic").unwrap(), "A\u{2A6D4}");
        let mut r = ByteReader::new(&[0x00, 0x02, b'a', 0x00]);
        assert_eq!(
            read_string(&mut r, "topic"),
            Err(MqttError::NulInString { field: "topic" })
        );
        // A UTF-16 surrogate (U+D800) written as UTF-8.
        let mut r = ByteReader::new(&[0x00, 0x03, 0xED, 0xA0, 0x80]);
        assert_eq!(
            read_string(&mut r, "topic"),
            Err(MqttError::InvalidUtf8 { field: "topic" })
        );
        let mut r = ByteReader::new(&[0x00, 0x09, b'a']);
        assert_eq!(
            read_string(&mut r, "client identifier"),
            Err(MqttError::Truncated {
                field: "client identifier",
                need: 9,
                have: 1
            })
        );
        let mut b = BytesMut::new();
        assert_eq!(
            put_string(&mut b, "a\0b", "topic"),
            Err(MqttError::NulInString { field: "topic" })
        );
        assert_eq!(
            put_string(&mut b, &"x".repeat(65_536), "topic"),
            Err(MqttError::FieldTooLong {
                field: "topic",
                len: 65_536,
                max: 65_535
            })
        );
        assert!(b.is_empty());
    }
}
