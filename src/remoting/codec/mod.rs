//! The sans-IO frame codec: bytes in, commands out, and back. Nothing here touches a socket or a
//! clock.
//!
//! ```text
//! +-----------+--------+------------+----------------+------------+
//! | total_len | type   | header_len | header         | body       |
//! | u32 BE    | u8     | u24 BE     | JSON or binary | the rest   |
//! +-----------+--------+------------+----------------+------------+
//!  total_len = 4 + header_len + body_len (it does not count itself)
//! ```
//! Source: `RemotingCommand.java` `encode`/`decode`, `NettyDecoder.java` (16 MiB frame cap).

mod error;
pub mod header_binary;
pub mod header_json;
#[doc(hidden)]
pub mod oracle;

pub use error::{DecodeError, EncodeError};

use super::codes::SerializeType;
use super::command::RemotingCommand;
use crate::util::ByteReader;
use bytes::{Buf, BufMut, BytesMut};

/// Default largest frame, length word included: 16 MiB, as Java's `NettyDecoder`.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Most ext-field members one header may carry: 1024. Counted while decoding, repeats and `null`s
/// included (JSON), and entries as they are read (binary); past it the header is refused with
/// [`DecodeError::TooManyExtFields`]. Real headers carry at most a few dozen (a SEND_MESSAGE_V2
/// header has 12 to 15); without a cap a 16 MiB header could announce about two million.
pub const MAX_EXT_FIELDS: usize = 1024;

/// Limits applied while decoding and encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest whole frame in bytes, length word included. Defaults to [`MAX_FRAME_LEN`].
    pub max_frame_len: usize,
}

impl Default for FrameLimits {
    fn default() -> FrameLimits {
        FrameLimits {
            max_frame_len: MAX_FRAME_LEN,
        }
    }
}

/// What the first 8 bytes of a frame announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePrefix {
    /// Whole frame length including the 4-byte length word.
    pub frame_len: usize,
    /// Header serialization.
    pub serialize_type: SerializeType,
    /// Header length.
    pub header_len: usize,
}

/// Reads and checks the 8-byte prefix without consuming anything. `Ok(None)`: fewer than 8 bytes
/// (or 4, when the length alone already breaks a limit).
///
/// # Errors
/// The limit and consistency errors of [`decode_frame`].
pub fn peek_prefix(src: &[u8], lim: &FrameLimits) -> Result<Option<FramePrefix>, DecodeError> {
    let mut r = ByteReader::new(src);
    let Ok(total_len) = r.u32("total_len") else {
        return Ok(None);
    };
    let frame_len = total_len as u64 + 4;
    if frame_len > lim.max_frame_len as u64 {
        return Err(DecodeError::FrameTooLarge {
            len: frame_len,
            max: lim.max_frame_len,
        });
    }
    if total_len < 4 {
        return Err(DecodeError::FrameTooShort { total_len });
    }
    let Ok(word) = r.u32("header_len word") else {
        return Ok(None);
    };
    let header_len = word & 0x00FF_FFFF;
    let serialize_type = match (word >> 24) as u8 {
        0 => SerializeType::Json,
        1 => SerializeType::RocketMq,
        t => return Err(DecodeError::UnknownSerializeType(t)),
    };
    if header_len > total_len - 4 {
        return Err(DecodeError::HeaderTooLong {
            header_len,
            available: total_len - 4,
        });
    }
    Ok(Some(FramePrefix {
        frame_len: frame_len as usize,
        serialize_type,
        header_len: header_len as usize,
    }))
}

/// Decodes one frame from the front of `src`.
///
/// `Ok(None)` means more bytes are needed; nothing is consumed then. On success exactly one frame
/// is consumed and its body is a zero-copy slice of it, as are the ext fields of a JSON header of
/// the usual shape (see [`header_json`]). The announced length is checked against
/// the limit before anything is reserved; callers that read from a socket should reserve only
/// bounded chunks (see [`read_hint`]).
///
/// # Errors
/// [`DecodeError`] naming the field; the stream cannot be resynchronised after an error.
pub fn decode_frame(
    src: &mut BytesMut,
    lim: &FrameLimits,
) -> Result<Option<RemotingCommand>, DecodeError> {
    let Some(p) = peek_prefix(src, lim)? else {
        return Ok(None);
    };
    if src.len() < p.frame_len {
        return Ok(None);
    }
    let header_end = 8 + p.header_len;
    // The header is read where it lies in `src`. A JSON header of the usual shape leaves its
    // `extFields` text there too, and the command's store becomes a slice of it (no copy); the
    // body is the slice after the header. `src` is taken up to the store's end, then skips to
    // the body, so a frame without either makes no `Bytes` at all (no reference count raised
    // and lowered).
    let mut cmd;
    let mut ext_text = None;
    match p.serialize_type {
        SerializeType::Json => {
            cmd = header_json::blank_command();
            ext_text = header_json::decode_json_header_in_frame(&src[8..header_end], &mut cmd)?;
        }
        SerializeType::RocketMq => {
            cmd = header_binary::decode_binary_header(&src[8..header_end])?;
        }
    }
    let mut at = 0;
    if let Some((a, b)) = ext_text {
        let mut text = src.split_to(8 + b);
        text.advance(8 + a);
        cmd.ext_fields.set_json_shared(text.freeze());
        at = 8 + b;
    }
    src.advance(header_end - at);
    if p.frame_len > header_end {
        cmd.body = src.split_to(p.frame_len - header_end).freeze();
    }
    Ok(Some(cmd))
}

/// How many more bytes to read for the frame at the front of `src`: at least one, at most
/// `chunk`, never more than the frame still needs. Lets a reader grow its buffer step by step.
pub fn read_hint(src: &[u8], lim: &FrameLimits, chunk: usize) -> usize {
    match peek_prefix(src, lim) {
        Ok(Some(p)) if src.len() < p.frame_len => (p.frame_len - src.len()).clamp(1, chunk),
        _ => chunk.max(1),
    }
}

/// Appends one frame for `cmd` to `dst`, with the header serialization `cmd.serialize_type`.
///
/// # Errors
/// [`EncodeError::FrameTooLarge`] over the limit, [`EncodeError::HeaderTooLarge`] for a header of
/// 16 MiB or more, [`EncodeError::FieldOutOfRange`] for values the binary header cannot carry.
/// `dst` is left as it was on error.
pub fn encode_frame(
    cmd: &RemotingCommand,
    dst: &mut BytesMut,
    lim: &FrameLimits,
) -> Result<(), EncodeError> {
    encode_head(cmd, dst, lim, cmd.body.len())?;
    dst.extend_from_slice(&cmd.body);
    Ok(())
}

/// [`encode_frame`] without the body's bytes: the length words and the header, with the frame's
/// length counting `cmd.body`, which the caller writes right after (a connection writes a large
/// body from its own buffer with one vectored write instead of copying it behind the header).
///
/// # Errors
/// As [`encode_frame`]; `dst` is left as it was on error.
pub fn encode_frame_head(
    cmd: &RemotingCommand,
    dst: &mut BytesMut,
    lim: &FrameLimits,
) -> Result<(), EncodeError> {
    encode_head(cmd, dst, lim, 0)
}

/// The frame without its body's bytes, with room reserved for `extra` more bytes after it.
fn encode_head(
    cmd: &RemotingCommand,
    dst: &mut BytesMut,
    lim: &FrameLimits,
    extra: usize,
) -> Result<(), EncodeError> {
    if cmd.serialize_type == SerializeType::Json {
        return encode_json_head(cmd, dst, lim, extra);
    }
    let start = dst.len();
    dst.reserve(8 + 256 + extra);
    dst.put_u64(0); // length word and header-length word, backfilled below
    if let Err(e) = header_binary::encode_binary_header(cmd, dst) {
        dst.truncate(start);
        return Err(e);
    }
    let header_len = dst.len() - start - 8;
    if let Err(e) = check_lengths(header_len, cmd.body.len(), lim) {
        dst.truncate(start);
        return Err(e);
    }
    let prefix = frame_prefix(cmd.serialize_type, header_len, cmd.body.len());
    dst[start..start + 8].copy_from_slice(&prefix);
    Ok(())
}

/// The whole frame length for a header and body of these lengths, checked against the limits.
fn check_lengths(header_len: usize, body_len: usize, lim: &FrameLimits) -> Result<(), EncodeError> {
    if header_len > 0x00FF_FFFF {
        return Err(EncodeError::HeaderTooLarge { len: header_len });
    }
    let frame_len = 8 + header_len + body_len;
    if frame_len > lim.max_frame_len || frame_len - 4 > i32::MAX as usize {
        return Err(EncodeError::FrameTooLarge {
            len: frame_len,
            max: lim.max_frame_len,
        });
    }
    Ok(())
}

/// The length word and the header-length word.
fn frame_prefix(t: SerializeType, header_len: usize, body_len: usize) -> [u8; 8] {
    let total = ((4 + header_len + body_len) as u32).to_be_bytes();
    let word = (((t.code() as u32) << 24) | header_len as u32).to_be_bytes();
    let mut p = [0; 8];
    p[..4].copy_from_slice(&total);
    p[4..].copy_from_slice(&word);
    p
}

/// [`encode_frame`] for a JSON header: one reservation for prefix, header and body, the header
/// written in place (see `header_json::writer::write_json_header`), the limits checked on its
/// length.
fn encode_json_head(
    cmd: &RemotingCommand,
    dst: &mut BytesMut,
    lim: &FrameLimits,
    extra: usize,
) -> Result<(), EncodeError> {
    let start = dst.len();
    let bound = header_json::header_bound(cmd);
    dst.reserve(8 + header_json::header_reserve(bound) + extra);
    dst.put_u64(0); // length word and header-length word, backfilled below
    let header_len = header_json::write_json_header_bounded(cmd, dst, bound);
    if let Err(e) = check_lengths(header_len, cmd.body.len(), lim) {
        dst.truncate(start);
        return Err(e);
    }
    dst[start..start + 8].copy_from_slice(&frame_prefix(
        SerializeType::Json,
        header_len,
        cmd.body.len(),
    ));
    Ok(())
}

/// Encodes `cmd` into a fresh buffer (convenience for tests and one-off frames).
///
/// # Errors
/// As [`encode_frame`].
pub fn encode_to_vec(cmd: &RemotingCommand, lim: &FrameLimits) -> Result<Vec<u8>, EncodeError> {
    let mut b = BytesMut::new();
    encode_frame(cmd, &mut b, lim)?;
    Ok(b.to_vec())
}
