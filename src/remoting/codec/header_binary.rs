//! The ROCKETMQ binary header (serialize type 1, `RocketMQSerializable.java`).
//!
//! ```text
//! code i16 | language u8 | version i16 | opaque i32 | flag i32 | remark_len i32 | remark
//! | ext_len i32 | ext_len bytes of (key_len i16 | key | val_len i32 | val)*
//! ```
//! A zero-length remark, key or value means `null` in Java; the decoder drops such entries and the
//! encoder never writes them.

use super::error::{DecodeError, EncodeError};
use super::MAX_EXT_FIELDS;
use crate::remoting::codes::{LanguageCode, SerializeType};
use crate::remoting::command::{ExtFields, RemotingCommand};
use crate::util::ByteReader;
use bytes::{BufMut, Bytes, BytesMut};

/// Size of the fixed part before the remark.
pub const FIXED_LEN: usize = 17;

/// A non-negative i32 length.
fn len32(r: &mut ByteReader<'_>, field: &'static str) -> Result<usize, DecodeError> {
    let n = r.i32(field)?;
    usize::try_from(n).map_err(|_| DecodeError::NegativeLength { field, len: n })
}

/// `n` bytes of UTF-8.
fn str<'a>(r: &mut ByteReader<'a>, n: usize, field: &'static str) -> Result<&'a str, DecodeError> {
    let b = r.take(n, field)?;
    std::str::from_utf8(b).map_err(|_| DecodeError::InvalidUtf8 { field })
}

/// Decodes a binary header. Linear in its length (one pass, no lookups of earlier entries).
///
/// # Errors
/// [`DecodeError::Truncated`], [`DecodeError::NegativeLength`], [`DecodeError::InvalidUtf8`] or
/// [`DecodeError::TrailingData`], each naming the field; [`DecodeError::TooManyExtFields`] past
/// [`MAX_EXT_FIELDS`] entries.
pub fn decode_binary_header(h: &[u8]) -> Result<RemotingCommand, DecodeError> {
    decode_binary_header_counting(h).0
}

/// [`decode_binary_header`], also returning the work it did: the header length plus one unit per
/// ext entry read. For the fuzz oracle.
#[doc(hidden)]
pub fn decode_binary_header_counting(h: &[u8]) -> (Result<RemotingCommand, DecodeError>, u64) {
    let mut work = h.len() as u64;
    let r = decode_binary(h, &mut work);
    (r, work)
}

fn decode_binary(h: &[u8], work: &mut u64) -> Result<RemotingCommand, DecodeError> {
    let mut r = ByteReader::new(h);
    let code = r.i16("code")? as i32;
    let language = LanguageCode::from_code(r.u8("language")?);
    let version = r.i16("version")? as i32;
    let opaque = r.i32("opaque")?;
    let flag = r.i32("flag")?;
    let remark_len = len32(&mut r, "remark_len")?;
    let remark = match remark_len {
        0 => None,
        n => Some(str(&mut r, n, "remark")?.to_owned()),
    };
    let ext_len = len32(&mut r, "ext_len")?;
    let mut block = ByteReader::new(r.take(ext_len, "ext_fields")?);
    if !r.is_empty() {
        return Err(DecodeError::TrailingData {
            field: "binary header",
            len: r.remaining(),
        });
    }
    // Each entry needs at least 6 bytes, so the block length bounds the index size.
    let mut ext = ExtFields::with_capacity((ext_len / 6).min(64), ext_len);
    let mut entries = 0usize;
    while !block.is_empty() {
        entries += 1;
        *work += 1;
        if entries > MAX_EXT_FIELDS {
            return Err(DecodeError::TooManyExtFields {
                max: MAX_EXT_FIELDS,
            });
        }
        let klen = block.i16("ext key_len")?;
        let klen = usize::try_from(klen).map_err(|_| DecodeError::NegativeLength {
            field: "ext key_len",
            len: klen as i32,
        })?;
        let key = str(&mut block, klen, "ext key")?;
        let vlen = len32(&mut block, "ext val_len")?;
        let val = str(&mut block, vlen, "ext value")?;
        if !key.is_empty() && !val.is_empty() {
            ext.push(key, val);
        }
    }
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields: ext,
        body: Bytes::new(),
        serialize_type: SerializeType::RocketMq,
    })
}

/// Appends the binary header of `cmd` to `dst`.
///
/// # Errors
/// [`EncodeError::FieldOutOfRange`] when `code` or `version` does not fit an i16, or a key is
/// longer than 32767 bytes.
pub fn encode_binary_header(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<(), EncodeError> {
    let code = i16::try_from(cmd.code).map_err(|_| EncodeError::FieldOutOfRange {
        field: "code",
        value: cmd.code as i64,
    })?;
    let version = i16::try_from(cmd.version).map_err(|_| EncodeError::FieldOutOfRange {
        field: "version",
        value: cmd.version as i64,
    })?;
    let mut ext_len = 0usize;
    for (k, v) in cmd.ext_fields.iter() {
        if k.is_empty() || v.is_empty() {
            continue;
        }
        if k.len() > i16::MAX as usize {
            return Err(EncodeError::FieldOutOfRange {
                field: "ext key_len",
                value: k.len() as i64,
            });
        }
        ext_len += 2 + k.len() + 4 + v.len();
    }
    let remark = cmd.remark.as_deref().unwrap_or("");
    let too_big = |field, v: usize| EncodeError::FieldOutOfRange {
        field,
        value: v as i64,
    };
    let remark_len =
        i32::try_from(remark.len()).map_err(|_| too_big("remark_len", remark.len()))?;
    let ext_len32 = i32::try_from(ext_len).map_err(|_| too_big("ext_len", ext_len))?;
    dst.reserve(FIXED_LEN + 4 + remark.len() + ext_len);
    dst.put_i16(code);
    dst.put_u8(cmd.language.code());
    dst.put_i16(version);
    dst.put_i32(cmd.opaque);
    dst.put_i32(cmd.flag);
    dst.put_i32(remark_len);
    dst.extend_from_slice(remark.as_bytes());
    dst.put_i32(ext_len32);
    for (k, v) in cmd.ext_fields.iter() {
        if k.is_empty() || v.is_empty() {
            continue;
        }
        dst.put_i16(k.len() as i16);
        dst.extend_from_slice(k.as_bytes());
        dst.put_i32(v.len() as i32);
        dst.extend_from_slice(v.as_bytes());
    }
    Ok(())
}
