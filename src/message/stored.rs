//! [`MessageExt`], a message as the broker stores it, and [`decode_stored_messages`], which reads
//! a pull or VIEW_MESSAGE_BY_ID body (protocol reference §13.2), bounds-checking every length
//! against the bytes present.

use super::msgid::create_offset_msg_id;
use super::properties::split_keys;
use super::{MessageError, Properties, PROPERTY_KEYS, PROPERTY_TAGS, PROPERTY_UNIQ_KEY};
use crate::util::{inflate_zlib, ByteReader, InflateError};
use bytes::Bytes;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// sysFlag bit 0: the body is compressed.
pub const SYSFLAG_COMPRESSED: i32 = 0x1;
/// sysFlag bit 1: multi-tag topic (set by the broker).
pub const SYSFLAG_MULTI_TAGS: i32 = 0x2;
/// sysFlag: transactional half message.
pub const SYSFLAG_TRANSACTION_PREPARED: i32 = 0x4;
/// sysFlag: transaction committed.
pub const SYSFLAG_TRANSACTION_COMMIT: i32 = 0x8;
/// sysFlag: transaction rolled back.
pub const SYSFLAG_TRANSACTION_ROLLBACK: i32 = 0xC;
/// sysFlag bit 4: the born host is IPv6.
pub const SYSFLAG_BORNHOST_V6: i32 = 0x10;
/// sysFlag bit 5: the store host is IPv6.
pub const SYSFLAG_STOREHOST_V6: i32 = 0x20;
/// sysFlag bit 6: inner batch, needs unwrapping.
pub const SYSFLAG_NEED_UNWRAP: i32 = 0x40;
/// sysFlag bit 7: inner batch.
pub const SYSFLAG_INNER_BATCH: i32 = 0x80;
/// sysFlag bits 8–10: compression type.
pub const SYSFLAG_COMPRESSION_TYPE_MASK: i32 = 0x700;
/// Compression type LZ4 (not supported here).
pub const SYSFLAG_COMPRESSION_LZ4: i32 = 0x100;
/// Compression type ZSTD (not supported here).
pub const SYSFLAG_COMPRESSION_ZSTD: i32 = 0x200;
/// Compression type ZLIB (type 0 is read as ZLIB too).
pub const SYSFLAG_COMPRESSION_ZLIB: i32 = 0x300;

/// Stored-record magic, v1 (topic length in 1 byte).
pub const MESSAGE_MAGIC_CODE_V1: u32 = 0xDAA3_20A7;
/// Stored-record magic, v2 (topic length in 2 bytes).
pub const MESSAGE_MAGIC_CODE_V2: u32 = 0xDAA3_20AB;
/// End-of-file blank in a commit log; never valid in a pull body.
pub const BLANK_MAGIC_CODE: u32 = 0xCBD4_3194;

/// A message as stored by the broker (pull body, §13.2).
#[derive(Clone, PartialEq, Eq)]
pub struct MessageExt {
    /// Topic.
    pub topic: String,
    /// Queue id.
    pub queue_id: i32,
    /// Offset in the consume queue.
    pub queue_offset: i64,
    /// Physical offset in the commit log.
    pub commit_log_offset: i64,
    /// sysFlag (§6.4), as stored (the compressed bit stays set after inflating).
    pub sys_flag: i32,
    /// User flag.
    pub flag: i32,
    /// Born timestamp, ms since the epoch.
    pub born_timestamp: i64,
    /// Store timestamp, ms since the epoch.
    pub store_timestamp: i64,
    /// Producer address.
    pub born_host: SocketAddr,
    /// Broker address.
    pub store_host: SocketAddr,
    /// Times this message was reconsumed.
    pub reconsume_times: i32,
    /// Prepared transaction offset.
    pub prepared_transaction_offset: i64,
    /// BODYCRC as stored (RocketMQ's masked CRC-32 of the stored, possibly compressed, body).
    pub body_crc: u32,
    /// The body, inflated if `sys_flag` has [`SYSFLAG_COMPRESSED`].
    pub body: Bytes,
    /// Properties.
    pub properties: Properties,
}

impl MessageExt {
    /// The `UNIQ_KEY` property: the id a Java consumer reports.
    pub fn unique_key(&self) -> Option<&str> {
        self.properties.get(PROPERTY_UNIQ_KEY)
    }

    /// The `TAGS` property.
    pub fn tags(&self) -> Option<&str> {
        self.properties.get(PROPERTY_TAGS)
    }

    /// The `KEYS` property split on spaces.
    pub fn keys(&self) -> Vec<&str> {
        split_keys(self.properties.get(PROPERTY_KEYS))
    }

    /// The broker's offset message id (§6.3): upper-case hex of store ip ‖ port (i32) ‖
    /// commit-log offset (i64); 32 chars for IPv4, 56 for IPv6.
    pub fn offset_msg_id(&self) -> String {
        create_offset_msg_id(self.store_host, self.commit_log_offset)
    }
}

impl std::fmt::Debug for MessageExt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageExt")
            .field("topic", &self.topic)
            .field("queue_id", &self.queue_id)
            .field("queue_offset", &self.queue_offset)
            .field("commit_log_offset", &self.commit_log_offset)
            .field("sys_flag", &self.sys_flag)
            .field("body_len", &self.body.len())
            .field("properties", &self.properties)
            .finish()
    }
}

/// An IPv4 or IPv6 address and an i32 port.
fn host(r: &mut ByteReader<'_>, v6: bool, field: &'static str) -> Result<SocketAddr, MessageError> {
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from(r.array::<16>(field)?))
    } else {
        IpAddr::V4(Ipv4Addr::from(r.array::<4>(field)?))
    };
    let port = r.i32(field)?;
    let port = u16::try_from(port).map_err(|_| MessageError::BadPort { field, port })?;
    Ok(SocketAddr::new(ip, port))
}

/// `n` bytes of UTF-8.
fn text(r: &mut ByteReader<'_>, n: usize, field: &'static str) -> Result<String, MessageError> {
    let b = r.take(n, field)?;
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| MessageError::InvalidUtf8 { field })
}

/// Smallest possible stored record: v1, IPv4 hosts, empty body/topic/properties.
const MIN_STORED_RECORD: usize = 88 + 1 + 2;

/// Default cap on the sum of inflated body bytes in one [`decode_stored_messages`] call: the
/// frame limit (16 MiB), so a body full of small "zip bomb" records cannot make us allocate
/// more than a frame's worth.
pub const MAX_INFLATED_TOTAL: usize = crate::remoting::MAX_FRAME_LEN;

/// Decodes a pull/VIEW body: a concatenation of stored records (§13.2); v1 and v2 magic, IPv6
/// hosts, bounds-checked (every length against the bytes present, and each record's fields must
/// add up to its TOTALSIZE exactly), compressed bodies inflated with a cap of `max_body` bytes
/// each and of `max(max_body, MAX_INFLATED_TOTAL)` bytes in total.
///
/// # Errors
/// The first malformed record stops decoding with an error naming the field.
pub fn decode_stored_messages(
    buf: &[u8],
    max_body: usize,
) -> Result<Vec<MessageExt>, MessageError> {
    decode_stored_messages_limited(buf, max_body, max_body.max(MAX_INFLATED_TOTAL))
}

/// [`decode_stored_messages`] with an explicit cap on the sum of inflated body bytes.
///
/// # Errors
/// As [`decode_stored_messages`], plus [`MessageError::InflatedTotalTooLarge`].
pub fn decode_stored_messages_limited(
    buf: &[u8],
    max_body: usize,
    max_inflated_total: usize,
) -> Result<Vec<MessageExt>, MessageError> {
    let mut budget = Budget {
        max_body,
        max_total: max_inflated_total,
        left: max_inflated_total,
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let total = ByteReader::new(rest).i32("TOTALSIZE")?;
        if total < MIN_STORED_RECORD as i32 {
            return Err(MessageError::BadLength {
                field: "TOTALSIZE",
                value: total as i64,
            });
        }
        let total = total as usize;
        if total > rest.len() {
            return Err(MessageError::Truncated {
                field: "record",
                need: total,
                have: rest.len(),
            });
        }
        out.push(decode_one(&rest[..total], &mut budget)?);
        pos += total;
    }
    Ok(out)
}

/// Inflate limits: per body, and what is left of the per-call total.
struct Budget {
    max_body: usize,
    max_total: usize,
    left: usize,
}

impl Budget {
    fn inflate(&mut self, z: &[u8]) -> Result<Vec<u8>, MessageError> {
        let cap = self.max_body.min(self.left);
        match inflate_zlib(z, cap) {
            Ok(v) => {
                self.left -= v.len();
                Ok(v)
            }
            Err(InflateError::OutputTooLarge { .. }) if cap < self.max_body => {
                Err(MessageError::InflatedTotalTooLarge {
                    max: self.max_total,
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn decode_one(record: &[u8], budget: &mut Budget) -> Result<MessageExt, MessageError> {
    let mut r = ByteReader::new(record);
    r.skip(4, "TOTALSIZE")?; // checked by the caller
    let magic = r.u32("MAGICCODE")?;
    let v2 = match magic {
        MESSAGE_MAGIC_CODE_V1 => false,
        MESSAGE_MAGIC_CODE_V2 => true,
        other => return Err(MessageError::BadMagic(other)),
    };
    let body_crc = r.u32("BODYCRC")?;
    let queue_id = r.i32("QUEUEID")?;
    let flag = r.i32("FLAG")?;
    let queue_offset = r.i64("QUEUEOFFSET")?;
    let commit_log_offset = r.i64("PHYSICALOFFSET")?;
    let sys_flag = r.i32("SYSFLAG")?;
    let born_timestamp = r.i64("BORNTIMESTAMP")?;
    let born_host = host(&mut r, sys_flag & SYSFLAG_BORNHOST_V6 != 0, "BORNHOST")?;
    let store_timestamp = r.i64("STORETIMESTAMP")?;
    let store_host = host(&mut r, sys_flag & SYSFLAG_STOREHOST_V6 != 0, "STOREHOST")?;
    let reconsume_times = r.i32("RECONSUMETIMES")?;
    let prepared_transaction_offset = r.i64("PREPAREDTRANSACTIONOFFSET")?;
    let body_len = r.i32("BODY length")?;
    if body_len < 0 {
        return Err(MessageError::BadLength {
            field: "BODY length",
            value: body_len as i64,
        });
    }
    let raw_body = r.take(body_len as usize, "BODY")?;
    let body = if sys_flag & SYSFLAG_COMPRESSED != 0 {
        let ctype = (sys_flag & SYSFLAG_COMPRESSION_TYPE_MASK) >> 8;
        if ctype != 0 && ctype != 3 {
            return Err(MessageError::UnsupportedCompression {
                compression_type: ctype,
            });
        }
        Bytes::from(budget.inflate(raw_body)?)
    } else {
        Bytes::copy_from_slice(raw_body)
    };
    let topic_len = if v2 {
        r.u16("TOPIC length")? as usize
    } else {
        r.u8("TOPIC length")? as usize
    };
    let topic = text(&mut r, topic_len, "TOPIC")?;
    let props_len = r.i16("PROPERTIES length")?;
    if props_len < 0 {
        return Err(MessageError::BadLength {
            field: "PROPERTIES length",
            value: props_len as i64,
        });
    }
    let props = text(&mut r, props_len as usize, "PROPERTIES")?;
    if r.position() != record.len() {
        return Err(MessageError::TotalSizeMismatch {
            declared: record.len(),
            actual: r.position(),
        });
    }
    Ok(MessageExt {
        topic,
        queue_id,
        queue_offset,
        commit_log_offset,
        sys_flag,
        flag,
        born_timestamp,
        store_timestamp,
        born_host,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body_crc,
        body,
        properties: Properties::decode(&props),
    })
}
