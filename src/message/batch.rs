//! The SEND_BATCH_MESSAGE body (protocol reference §7).

use super::{Message, MessageError};
use bytes::{BufMut, BytesMut};

/// Fixed part of a batch record: TOTALSIZE, MAGICCODE, BODYCRC, FLAG, BODY length, PROPERTIES length.
const BATCH_RECORD_FIXED: usize = 4 + 4 + 4 + 4 + 4 + 2;

/// Length in bytes of `m`'s record in a batch body (§7).
pub fn batch_record_len(m: &Message) -> usize {
    BATCH_RECORD_FIXED + m.body.len() + m.properties.encoded_len()
}

/// Appends the batch body of §7 to `out`: for each message TOTALSIZE, MAGICCODE 0, BODYCRC 0,
/// FLAG, BODY length + bytes, PROPERTIES i16 length + bytes.
///
/// # Errors
/// Invalid or too long properties, or a record too long for its i32 length. On error `out` is
/// truncated back to its length on entry.
pub fn encode_batch_body(messages: &[Message], out: &mut BytesMut) -> Result<(), MessageError> {
    let start = out.len();
    let r = encode_batch_inner(messages, out);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

fn encode_batch_inner(messages: &[Message], out: &mut BytesMut) -> Result<(), MessageError> {
    let mut props = String::new();
    for m in messages {
        props.clear();
        m.properties.encode(&mut props)?;
        let len = BATCH_RECORD_FIXED + m.body.len() + props.len();
        let total = i32::try_from(len).map_err(|_| MessageError::RecordTooLarge { len })?;
        out.reserve(len);
        out.put_i32(total);
        out.put_i32(0); // MAGICCODE, ignored by the broker
        out.put_i32(0); // BODYCRC, computed by the broker
        out.put_i32(m.flag);
        out.put_i32(m.body.len() as i32); // < total, so it fits
        out.put_slice(&m.body);
        out.put_i16(props.len() as i16); // ≤ MAX_PROPERTIES_LEN, checked by encode
        out.put_slice(props.as_bytes());
    }
    Ok(())
}
