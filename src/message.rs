//! Messages and their wire forms, shared by the producer and the consumer.
//!
//! * [`Properties`]: the `name 0x01 value 0x02` string (`MessageDecoder.java`
//!   `messageProperties2String` / `string2messageProperties`; protocol reference §6.1).
//! * [`Message`]: what a producer sends; [`encode_batch_body`] lays out a SEND_BATCH_MESSAGE body (§7).
//! * [`MessageExt`]: a message as the broker stores it; [`decode_stored_messages`] reads a pull or
//!   VIEW_MESSAGE_BY_ID body (§13.2), bounds-checking every length against the bytes present.
//! * [`UniqIdGenerator`]: client-side `UNIQ_KEY` ids (§6.2); [`MessageExt::offset_msg_id`] and
//!   [`decode_offset_msg_id`]: the broker's offset message id (§6.3).

use crate::util::{inflate_zlib, InflateError};
use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Business keys, several joined by one space.
pub const PROPERTY_KEYS: &str = "KEYS";
/// The message tag.
pub const PROPERTY_TAGS: &str = "TAGS";
/// `"true"`/`"false"`: wait for store before answering (Java `PROPERTY_WAIT_STORE_MSG_OK`).
pub const PROPERTY_WAIT: &str = "WAIT";
/// Java's name for [`PROPERTY_WAIT`].
pub const PROPERTY_WAIT_STORE_MSG_OK: &str = PROPERTY_WAIT;
/// Client-generated unique id (§6.2).
pub const PROPERTY_UNIQ_KEY: &str = "UNIQ_KEY";
/// Delay level 1..18.
pub const PROPERTY_DELAY: &str = "DELAY";
/// 5.x timer: absolute delivery time in ms.
pub const PROPERTY_TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
/// 5.x timer: relative delay in seconds.
pub const PROPERTY_TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
/// 5.x timer: relative delay in ms.
pub const PROPERTY_TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
/// `"true"` on transactional half messages.
pub const PROPERTY_TRAN_MSG: &str = "TRAN_MSG";
/// Producer group of a transactional message.
pub const PROPERTY_PGROUP: &str = "PGROUP";
/// Transaction id.
pub const PROPERTY_TRANSACTION_ID: &str = "__transactionId__";
/// Retry internals: retry topic.
pub const PROPERTY_RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Retry/delay internals: the real topic.
pub const PROPERTY_REAL_TOPIC: &str = "REAL_TOPIC";
/// Retry/delay internals: the real queue id.
pub const PROPERTY_REAL_QID: &str = "REAL_QID";
/// Retry internals: reconsume count.
pub const PROPERTY_RECONSUME_TIME: &str = "RECONSUME_TIME";
/// Retry internals: maximum reconsume count.
pub const PROPERTY_MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
/// Retry internals: the original message id.
pub const PROPERTY_ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// Request-reply: message type.
pub const PROPERTY_MSG_TYPE: &str = "MSG_TYPE";
/// Request-reply: correlation id.
pub const PROPERTY_CORRELATION_ID: &str = "CORRELATION_ID";
/// Request-reply: the client to reply to.
pub const PROPERTY_REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// Request-reply: time to live.
pub const PROPERTY_TTL: &str = "TTL";
/// Ordered-message sharding key.
pub const PROPERTY_SHARDING_KEY: &str = "__SHARDINGKEY";
/// Namespace.
pub const PROPERTY_INSTANCE_ID: &str = "INSTANCE_ID";
/// Cluster name, added by the broker.
pub const PROPERTY_CLUSTER: &str = "CLUSTER";
/// Added by the consumer client after a pull.
pub const PROPERTY_MIN_OFFSET: &str = "MIN_OFFSET";
/// Added by the consumer client after a pull.
pub const PROPERTY_MAX_OFFSET: &str = "MAX_OFFSET";
/// CRC appended by 5.x brokers with CRC-in-properties enabled.
pub const PROPERTY_CRC32: &str = "__CRC32#";
/// Region, in send-response ext fields.
pub const PROPERTY_MSG_REGION: &str = "MSG_REGION";
/// Trace switch, in send-response ext fields.
pub const PROPERTY_TRACE_ON: &str = "TRACE_ON";

/// Separates a property name from its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Ends each property entry.
pub const PROPERTY_SEPARATOR: char = '\u{2}';
/// Largest encoded properties string, in bytes (stored as an i16).
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;

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

/// Why a message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The encoded properties exceed `max` bytes.
    PropertiesTooLong {
        /// Encoded length.
        len: usize,
        /// The limit (32767).
        max: usize,
    },
    /// A property name or value is empty or contains 0x01/0x02.
    InvalidProperty {
        /// The property name (escaped when printed).
        name: String,
    },
    /// A body is longer than the i32 length field allows.
    BodyTooLarge {
        /// Body length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A batch record would be longer than its i32 TOTALSIZE allows.
    RecordTooLarge {
        /// Record length.
        len: usize,
    },
    /// `field` needs `need` bytes but only `have` remain.
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// A stored record starts with an unknown magic code.
    BadMagic(u32),
    /// A length field is negative or smaller than the fixed part it must cover.
    BadLength {
        /// The field.
        field: &'static str,
        /// The value on the wire.
        value: i64,
    },
    /// A record's TOTALSIZE disagrees with the sum of its fields.
    TotalSizeMismatch {
        /// TOTALSIZE on the wire.
        declared: usize,
        /// Bytes the fields used.
        actual: usize,
    },
    /// A host port is outside 0..=65535.
    BadPort {
        /// The field.
        field: &'static str,
        /// The value on the wire.
        port: i32,
    },
    /// A text field is not UTF-8.
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// The body uses a compression type other than zlib.
    UnsupportedCompression {
        /// Compression type (sysFlag bits 8–10, shifted down).
        compression_type: i32,
    },
    /// A compressed body failed to inflate (or exceeded the size cap).
    Inflate(InflateError),
    /// The inflated bodies of one pull body together exceed `max` bytes.
    InflatedTotalTooLarge {
        /// The limit.
        max: usize,
    },
    /// An offset message id is malformed.
    BadMessageId {
        /// The id as given (truncated to 64 chars when printed).
        id: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::PropertiesTooLong { len, max } => {
                write!(f, "properties length {len} exceeds limit {max}")
            }
            MessageError::InvalidProperty { name } => write!(
                f,
                "property {:?} has an empty name or value or contains 0x01/0x02",
                name
            ),
            MessageError::BodyTooLarge { len, max } => {
                write!(f, "body length {len} exceeds limit {max}")
            }
            MessageError::RecordTooLarge { len } => {
                write!(f, "batch record length {len} does not fit an i32")
            }
            MessageError::Truncated { field, need, have } => {
                write!(f, "{field} needs {need} bytes but only {have} remain")
            }
            MessageError::BadMagic(m) => write!(f, "unknown stored-message magic code 0x{m:08x}"),
            MessageError::BadLength { field, value } => write!(f, "invalid {field} {value}"),
            MessageError::TotalSizeMismatch { declared, actual } => write!(
                f,
                "record TOTALSIZE {declared} but its fields use {actual} bytes"
            ),
            MessageError::BadPort { field, port } => write!(f, "{field} port {port} out of range"),
            MessageError::InvalidUtf8 { field } => write!(f, "{field} is not valid UTF-8"),
            MessageError::UnsupportedCompression { compression_type } => write!(
                f,
                "unsupported body compression type {compression_type} (only zlib is supported)"
            ),
            MessageError::Inflate(_) => write!(f, "compressed body"),
            MessageError::InflatedTotalTooLarge { max } => {
                write!(f, "inflated bodies exceed the total limit of {max} bytes")
            }
            MessageError::BadMessageId { id, reason } => {
                let shown: String = id.chars().take(64).collect();
                write!(f, "bad offset message id {shown:?}: {reason}")
            }
        }
    }
}

impl std::error::Error for MessageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MessageError::Inflate(e) => Some(e),
            _ => None,
        }
    }
}

impl From<InflateError> for MessageError {
    fn from(e: InflateError) -> Self {
        MessageError::Inflate(e)
    }
}

/// Ordered string properties (insertion order, set replaces in place).
///
/// Stored as their wire form, `name 0x01 value 0x02` per entry in one string: a message's
/// properties cost one allocation instead of two per entry, and encoding is a copy. An entry that
/// could not be stored that way (an empty name or value, or one containing 0x01/0x02) is not kept;
/// its name is remembered and [`Properties::encode`] refuses it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    buf: String,
    /// The first invalid name given to `set` (see the type docs).
    invalid: Option<String>,
}

fn valid_part(s: &str) -> bool {
    !s.is_empty() && !s.contains([NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR])
}

impl Properties {
    /// No properties.
    pub fn new() -> Properties {
        Properties::default()
    }

    /// No properties, with room for `bytes` of encoded entries.
    pub fn with_capacity(bytes: usize) -> Properties {
        Properties {
            buf: String::with_capacity(bytes),
            invalid: None,
        }
    }

    /// Byte ranges of each entry: (start of name, end of name, end of value); the value starts
    /// after the 0x01 at the end of the name, the entry ends after the 0x02 at the end of the value.
    fn spans(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let b = &self.buf;
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= b.len() {
                return None;
            }
            let start = pos;
            // `str::find` with a char searches with memchr, not byte by byte.
            let sep = start + b[start..].find(NAME_VALUE_SEPARATOR)?;
            let end = sep + 1 + b[sep + 1..].find(PROPERTY_SEPARATOR)?;
            pos = end + 1;
            Some((start, sep, end))
        })
    }

    fn find(&self, name: &str) -> Option<(usize, usize, usize)> {
        let b = self.buf.as_bytes();
        let n = name.len();
        let mut start = 0;
        while start < b.len() {
            // Compare the name in place; only then look for the separators.
            let hit = b.len() > start + n
                && &b[start..start + n] == name.as_bytes()
                && b[start + n] == NAME_VALUE_SEPARATOR as u8;
            let from = if hit { start + n + 1 } else { start };
            let end = from + self.buf[from..].find(PROPERTY_SEPARATOR)?;
            if hit {
                return Some((start, start + n, end));
            }
            start = end + 1;
        }
        None
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).map(|(_, sep, end)| &self.buf[sep + 1..end])
    }

    /// Sets `name` to `value`, replacing an existing value in place (keeping its position).
    /// An invalid name or value (empty, or containing 0x01/0x02) is refused by
    /// [`Properties::encode`].
    pub fn set(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        if self.refuse_invalid(name, value) {
            return;
        }
        self.put(name, value);
    }

    /// True (and the name remembered for `encode`) when `name` or `value` cannot be stored.
    fn refuse_invalid(&mut self, name: &str, value: &str) -> bool {
        let bad = !valid_part(name) || !valid_part(value);
        if bad {
            self.invalid.get_or_insert_with(|| name.to_owned());
        }
        bad
    }

    /// Appends `name 0x01 value 0x02`.
    fn append(&mut self, name: &str, value: &str) {
        self.buf.reserve(name.len() + value.len() + 2);
        self.buf.push_str(name);
        self.buf.push(NAME_VALUE_SEPARATOR);
        self.buf.push_str(value);
        self.buf.push(PROPERTY_SEPARATOR);
    }

    /// `set` for a valid name and a value without 0x02 (a value with 0x01 marks the properties
    /// unencodable).
    fn put(&mut self, name: &str, value: &str) {
        if value.contains(NAME_VALUE_SEPARATOR) {
            self.invalid.get_or_insert_with(|| name.to_owned());
        }
        match self.find(name) {
            Some((_, sep, end)) => self.buf.replace_range(sep + 1..end, value),
            None => self.append(name, value),
        }
    }

    /// Appends an entry without looking for one with the same name: for a caller that knows there
    /// is none (building a message's properties from scratch). Validity as with
    /// [`Properties::set`].
    pub fn push(&mut self, name: &str, value: &str) {
        debug_assert!(
            self.get(name).is_none(),
            "push of an existing property {name}"
        );
        if !self.refuse_invalid(name, value) {
            self.append(name, value);
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let (start, sep, end) = self.find(name)?;
        let value = self.buf[sep + 1..end].to_owned();
        self.buf.replace_range(start..end + 1, "");
        Some(value)
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.spans()
            .map(|(start, sep, end)| (&self.buf[start..sep], &self.buf[sep + 1..end]))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.buf.bytes().filter(|&c| c == 2).count()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Length in bytes of the encoded string.
    pub fn encoded_len(&self) -> usize {
        self.buf.len()
    }

    /// Appends `name 0x01 value 0x02` per entry to `out`, keeping the trailing 0x02 (≥ 5.2 style).
    ///
    /// # Errors
    /// [`MessageError::InvalidProperty`] if a name or value given to `set` was empty or contained
    /// 0x01/0x02 (such an entry could not be read back), [`MessageError::PropertiesTooLong`] over
    /// 32767 bytes. `out` is left unchanged on error.
    pub fn encode(&self, out: &mut String) -> Result<(), MessageError> {
        if let Some(name) = &self.invalid {
            return Err(MessageError::InvalidProperty { name: name.clone() });
        }
        let len = self.encoded_len();
        if len > MAX_PROPERTIES_LEN {
            return Err(MessageError::PropertiesTooLong {
                len,
                max: MAX_PROPERTIES_LEN,
            });
        }
        out.push_str(&self.buf);
        Ok(())
    }

    /// The encoded string (see [`Properties::encode`]).
    ///
    /// # Errors
    /// As [`Properties::encode`].
    pub fn to_encoded(&self) -> Result<String, MessageError> {
        let mut s = String::new();
        self.encode(&mut s)?;
        Ok(s)
    }

    /// Lenient parser, as Java's: split on 0x02; a chunk is kept only if it has a 0x01 strictly
    /// inside (non-empty name and value; the value runs from the first 0x01 to the chunk end);
    /// the last duplicate wins (at the position of the first). Never fails.
    pub fn decode(s: &str) -> Properties {
        let mut p = Properties::new();
        for chunk in s.split(PROPERTY_SEPARATOR) {
            if chunk.len() < 3 {
                continue;
            }
            if let Some(i) = chunk.find(NAME_VALUE_SEPARATOR) {
                if i > 0 && i < chunk.len() - 1 {
                    // The value may hold 0x01 here (it runs to the chunk end, as in Java); such
                    // a value reads back but cannot be encoded again.
                    p.put(&chunk[..i], &chunk[i + 1..]);
                }
            }
        }
        p
    }
}

fn split_keys(keys: Option<&str>) -> Vec<&str> {
    keys.map(|k| k.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// A message to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// Destination topic.
    pub topic: String,
    /// Payload.
    pub body: Bytes,
    /// User flag, stored as is.
    pub flag: i32,
    /// Properties (tags, keys, ...).
    pub properties: Properties,
}

impl Message {
    /// A message with flag 0 and no properties.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Message {
        Message {
            topic: topic.into(),
            body: body.into(),
            flag: 0,
            properties: Properties::new(),
        }
    }

    /// Sets the `TAGS` property.
    pub fn with_tags(mut self, tags: &str) -> Self {
        self.properties.set(PROPERTY_TAGS, tags);
        self
    }

    /// Sets the `KEYS` property to `keys` joined by one space.
    pub fn with_keys(mut self, keys: &[&str]) -> Self {
        self.properties.set(PROPERTY_KEYS, keys.join(" "));
        self
    }

    /// Sets any property.
    pub fn with_property(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.properties.set(name, value);
        self
    }

    /// The `TAGS` property.
    pub fn tags(&self) -> Option<&str> {
        self.properties.get(PROPERTY_TAGS)
    }

    /// The `KEYS` property split on spaces (empty pieces dropped).
    pub fn keys(&self) -> Vec<&str> {
        split_keys(self.properties.get(PROPERTY_KEYS))
    }

    /// The `UNIQ_KEY` property.
    pub fn unique_key(&self) -> Option<&str> {
        self.properties.get(PROPERTY_UNIQ_KEY)
    }
}

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

/// Builds an offset message id (§6.3) from a store address and commit-log offset.
pub fn create_offset_msg_id(store_host: SocketAddr, commit_log_offset: i64) -> String {
    let mut bytes = Vec::with_capacity(28);
    match store_host.ip() {
        IpAddr::V4(ip) => bytes.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => bytes.extend_from_slice(&ip.octets()),
    }
    bytes.extend_from_slice(&(store_host.port() as i32).to_be_bytes());
    bytes.extend_from_slice(&commit_log_offset.to_be_bytes());
    hex_upper(&bytes)
}

fn hex_upper(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xF) as usize] as char);
    }
    s
}

/// §6.3 offset message id → (store address, commit-log offset). Accepts either case.
///
/// # Errors
/// [`MessageError::BadMessageId`] unless the id is 32 (IPv4) or 56 (IPv6) hex chars with a port
/// in range.
pub fn decode_offset_msg_id(id: &str) -> Result<(SocketAddr, i64), MessageError> {
    let bad = |reason| MessageError::BadMessageId {
        id: id.to_owned(),
        reason,
    };
    let ip_len = match id.len() {
        32 => 4,
        56 => 16,
        _ => return Err(bad("length is not 32 (IPv4) or 56 (IPv6)")),
    };
    let mut bytes = [0u8; 28];
    let digits = id.as_bytes();
    for (i, b) in bytes.iter_mut().take(id.len() / 2).enumerate() {
        let hi = (digits[2 * i] as char).to_digit(16);
        let lo = (digits[2 * i + 1] as char).to_digit(16);
        match (hi, lo) {
            (Some(h), Some(l)) => *b = (h * 16 + l) as u8,
            _ => return Err(bad("not a hex string")),
        }
    }
    let ip = if ip_len == 4 {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    } else {
        let mut o = [0u8; 16];
        o.copy_from_slice(&bytes[..16]);
        IpAddr::V6(Ipv6Addr::from(o))
    };
    let port = i32::from_be_bytes(bytes[ip_len..ip_len + 4].try_into().expect("4 bytes"));
    let port = u16::try_from(port).map_err(|_| bad("port out of range"))?;
    let offset = i64::from_be_bytes(bytes[ip_len + 4..ip_len + 12].try_into().expect("8 bytes"));
    Ok((SocketAddr::new(ip, port), offset))
}

/// Bounds-checked big-endian reader over one record.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], MessageError> {
        let have = self.buf.len() - self.pos;
        if n > have {
            return Err(MessageError::Truncated {
                field,
                need: n,
                have,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, MessageError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, MessageError> {
        Ok(self.u16(field)? as i16)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, MessageError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, MessageError> {
        Ok(self.u32(field)? as i32)
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, MessageError> {
        let b = self.take(8, field)?;
        Ok(i64::from_be_bytes(b.try_into().expect("8 bytes")))
    }

    fn host(&mut self, v6: bool, field: &'static str) -> Result<SocketAddr, MessageError> {
        let ip = if v6 {
            let b: [u8; 16] = self.take(16, field)?.try_into().expect("16 bytes");
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            let b = self.take(4, field)?;
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        };
        let port = self.i32(field)?;
        let port = u16::try_from(port).map_err(|_| MessageError::BadPort { field, port })?;
        Ok(SocketAddr::new(ip, port))
    }

    fn text(&mut self, n: usize, field: &'static str) -> Result<String, MessageError> {
        let b = self.take(n, field)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| MessageError::InvalidUtf8 { field })
    }
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
        let mut head = Reader { buf: rest, pos: 0 };
        let total = head.i32("TOTALSIZE")?;
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
    let mut r = Reader {
        buf: record,
        pos: 4, // TOTALSIZE, checked by the caller
    };
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
    let born_host = r.host(sys_flag & SYSFLAG_BORNHOST_V6 != 0, "BORNHOST")?;
    let store_timestamp = r.i64("STORETIMESTAMP")?;
    let store_host = r.host(sys_flag & SYSFLAG_STOREHOST_V6 != 0, "STOREHOST")?;
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
        r.take(1, "TOPIC length")?[0] as usize
    };
    let topic = r.text(topic_len, "TOPIC")?;
    let props_len = r.i16("PROPERTIES length")?;
    if props_len < 0 {
        return Err(MessageError::BadLength {
            field: "PROPERTIES length",
            value: props_len as i64,
        });
    }
    let props = r.text(props_len as usize, "PROPERTIES")?;
    if r.pos != record.len() {
        return Err(MessageError::TotalSizeMismatch {
            declared: record.len(),
            actual: r.pos,
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

/// Client-side unique ids (`UNIQ_KEY`), §6.2 layout, 32 upper-case hex chars:
/// IPv4 `127.0.0.1` (4 bytes; this client does not look up interface addresses) ‖ pid low 16 bits
/// (2) ‖ 4 random bytes seeded from time and pid, in place of Java's class-loader hash (4) ‖
/// ms since 00:00 **UTC** on the 1st of the current month, truncated to 32 bits as Java's `(int)`
/// cast does (4) ‖ a 2-byte wrapping counter (2).
///
/// Thread-safe through `&self`. Ids are unique within one generator: if the counter wraps
/// within the same millisecond, `next_id` waits (at most a few ms) for the clock to move on.
pub struct UniqIdGenerator {
    prefix: String,
    state: Mutex<IdState>,
}

struct IdState {
    month_start_ms: i64,
    next_month_start_ms: i64,
    counter: u16,
    /// Time part in use when the counter last passed 0.
    wrap_time: Option<u32>,
}

impl Default for UniqIdGenerator {
    fn default() -> Self {
        UniqIdGenerator::new()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 → (year, month 1..=12). Howard Hinnant's civil-from-days.
fn civil_from_days(z: i64) -> (i64, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m)
}

/// (year, month, day 1) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5; // day 1 of the month
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Start of the UTC month containing `ms`, and of the next one, in ms since the epoch.
fn month_bounds(ms: i64) -> (i64, i64) {
    const DAY: i64 = 86_400_000;
    let (y, m) = civil_from_days(ms.div_euclid(DAY));
    let start = days_from_civil(y, m) * DAY;
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (start, days_from_civil(ny, nm) * DAY)
}

impl UniqIdGenerator {
    /// A generator with a fresh random part.
    pub fn new() -> Self {
        let pid = std::process::id();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        // splitmix64 finaliser over time, pid and this value's address.
        let local = 0u8;
        let mut x = nanos ^ ((pid as u64) << 32) ^ (&local as *const u8 as u64);
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        let mut prefix_bytes = [0u8; 10];
        prefix_bytes[..4].copy_from_slice(&[127, 0, 0, 1]);
        prefix_bytes[4..6].copy_from_slice(&(pid as u16).to_be_bytes());
        prefix_bytes[6..].copy_from_slice(&(x as u32).to_be_bytes());
        let (start, next) = month_bounds(now_ms());
        UniqIdGenerator {
            prefix: hex_upper(&prefix_bytes),
            state: Mutex::new(IdState {
                month_start_ms: start,
                next_month_start_ms: next,
                counter: 0,
                wrap_time: None,
            }),
        }
    }

    /// The 20 hex chars fixed for this generator (ip, pid, random part).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The next id: 32 upper-case hex chars.
    pub fn next_id(&self) -> String {
        let (time_part, counter) = {
            let mut st = self.state.lock();
            let mut time_part = st.time_part();
            if st.counter == 0 {
                if st.wrap_time == Some(time_part) {
                    // 65536 ids in one ms: wait (bounded) for the clock to advance.
                    let begin = Instant::now();
                    while st.time_part() == time_part && begin.elapsed().as_millis() < 5 {
                        std::thread::yield_now();
                    }
                    time_part = st.time_part();
                }
                st.wrap_time = Some(time_part);
            }
            let c = st.counter;
            st.counter = st.counter.wrapping_add(1);
            (time_part, c)
        };
        let mut tail = [0u8; 6];
        tail[..4].copy_from_slice(&time_part.to_be_bytes());
        tail[4..].copy_from_slice(&counter.to_be_bytes());
        let mut id = String::with_capacity(32);
        id.push_str(&self.prefix);
        id.push_str(&hex_upper(&tail));
        id
    }
}

impl IdState {
    fn time_part(&mut self) -> u32 {
        let now = now_ms();
        if now >= self.next_month_start_ms || now < self.month_start_ms {
            let (s, n) = month_bounds(now);
            self.month_start_ms = s;
            self.next_month_start_ms = n;
        }
        (now - self.month_start_ms) as u32
    }
}

// Debug never prints bodies (they are MQTT payloads): their length only.
impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("topic", &self.topic)
            .field("body_len", &self.body.len())
            .field("flag", &self.flag)
            .field("properties", &self.properties)
            .finish()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_bounds_match_known_dates() {
        // 2023-11-14T22:13:20Z = 1_700_000_000_000 ms; 2023-11-01 = 1_698_796_800_000; 2023-12-01 = 1_701_388_800_000.
        assert_eq!(
            month_bounds(1_700_000_000_000),
            (1_698_796_800_000, 1_701_388_800_000)
        );
        // 2024-02 (leap): 2024-02-01 = 1_706_745_600_000, 2024-03-01 = 1_709_251_200_000.
        assert_eq!(
            month_bounds(1_709_251_199_999),
            (1_706_745_600_000, 1_709_251_200_000)
        );
        // December rolls the year: 2025-12-01 = 1_764_547_200_000, 2026-01-01 = 1_767_225_600_000.
        assert_eq!(
            month_bounds(1_764_547_200_000),
            (1_764_547_200_000, 1_767_225_600_000)
        );
        assert_eq!(month_bounds(0), (0, 31 * 86_400_000));
    }

    #[test]
    fn hex_upper_is_upper_case() {
        assert_eq!(hex_upper(&[0x7f, 0x0a, 0xff]), "7F0AFF");
    }
}
