//! The record half of the spooled path ([`super::spooled`]): an event's formatted messages as one
//! spool record (the payload layout is [`encode_record`]'s), and appending it.

use super::buffer::Outgoing;
use super::event::EventKind;
use super::outcome::DropReason;
use super::rule::RuleId;
use crate::message::{PROPERTY_KEYS, PROPERTY_TAGS};
use crate::spool::{Spool, SpoolError};
use crate::util::{ByteReader, ReadError};
use std::fmt;

/// Record format version (first payload byte) of records without template keys, readable by
/// every earlier bridge with a spool.
const RECORD_VERSION: u8 = 1;
/// Record format version of records where a message carries a key template's keys: each
/// message adds `keys?` after `client_id?`. Written only when needed, read always.
const RECORD_VERSION_KEYS: u8 = 2;

/// One message of a spooled event, as formatted on the host's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpooledMessage {
    pub(crate) rule: RuleId,
    pub(crate) topic: String,
    pub(crate) tag: Option<String>,
    pub(crate) client_id: Option<String>,
    /// The keys a key template added after the bridge's own (space separated), if any.
    pub(crate) keys: Option<String>,
    pub(crate) properties: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// A spool record that does not decode as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordDecodeError {
    /// The field being read.
    pub field: &'static str,
}

impl fmt::Display for RecordDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spool record does not decode: bad {}", self.field)
    }
}

impl std::error::Error for RecordDecodeError {}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

/// Encodes an event's messages:
/// `version u8, count u16, { kind u8, index u32, topic, tag?, client_id?, [keys?,] nprops u16,
/// {name, value}*, body }*`, strings and the body as `len u32` + bytes, options as a flag byte;
/// `keys?` only in version 2, which is written only when a message has template keys. The
/// topic and tag are the rendered ones, so a record is sent again to the same place.
pub(crate) fn encode_record(msgs: &[SpooledMessage]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + msgs.iter().map(|m| m.body.len() + 256).sum::<usize>());
    let with_keys = msgs.iter().any(|m| m.keys.is_some());
    out.push(if with_keys {
        RECORD_VERSION_KEYS
    } else {
        RECORD_VERSION
    });
    out.extend_from_slice(&(msgs.len() as u16).to_be_bytes());
    for m in msgs {
        out.push(m.rule.event.index() as u8);
        out.extend_from_slice(&m.rule.index.to_be_bytes());
        put_str(&mut out, &m.topic);
        put_opt(&mut out, m.tag.as_deref());
        put_opt(&mut out, m.client_id.as_deref());
        if with_keys {
            put_opt(&mut out, m.keys.as_deref());
        }
        out.extend_from_slice(&(m.properties.len() as u16).to_be_bytes());
        for (k, v) in &m.properties {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
        out.extend_from_slice(&(m.body.len() as u32).to_be_bytes());
        out.extend_from_slice(&m.body);
    }
    out
}

impl From<ReadError> for RecordDecodeError {
    fn from(e: ReadError) -> Self {
        RecordDecodeError { field: e.field() }
    }
}

/// The record's own encodings over the shared bounded reader.
struct Rd<'a>(ByteReader<'a>);

impl<'a> Rd<'a> {
    fn u8(&mut self, f: &'static str) -> Result<u8, RecordDecodeError> {
        Ok(self.0.u8(f)?)
    }
    fn u16(&mut self, f: &'static str) -> Result<u16, RecordDecodeError> {
        Ok(self.0.u16(f)?)
    }
    fn u32(&mut self, f: &'static str) -> Result<u32, RecordDecodeError> {
        Ok(self.0.u32(f)?)
    }
    fn bytes(&mut self, f: &'static str) -> Result<&'a [u8], RecordDecodeError> {
        let n = self.u32(f)? as usize;
        Ok(self.0.take(n, f)?)
    }
    fn string(&mut self, f: &'static str) -> Result<String, RecordDecodeError> {
        let b = self.bytes(f)?;
        String::from_utf8(b.to_vec()).map_err(|_| RecordDecodeError { field: f })
    }
    fn opt(&mut self, f: &'static str) -> Result<Option<String>, RecordDecodeError> {
        match self.u8(f)? {
            0 => Ok(None),
            1 => self.string(f).map(Some),
            _ => Err(RecordDecodeError { field: f }),
        }
    }
}

/// Decodes [`encode_record`]'s output; every length is checked against the bytes left.
pub(crate) fn decode_record(payload: &[u8]) -> Result<Vec<SpooledMessage>, RecordDecodeError> {
    let mut r = Rd(ByteReader::new(payload));
    let with_keys = match r.u8("version")? {
        RECORD_VERSION => false,
        RECORD_VERSION_KEYS => true,
        _ => return Err(RecordDecodeError { field: "version" }),
    };
    let n = r.u16("count")? as usize;
    let mut out = Vec::with_capacity(n.min(payload.len() / 16 + 1));
    for _ in 0..n {
        let kind = *EventKind::ALL
            .get(r.u8("event")? as usize)
            .ok_or(RecordDecodeError { field: "event" })?;
        let index = r.u32("rule")?;
        let topic = r.string("topic")?;
        let tag = r.opt("tag")?;
        let client_id = r.opt("client_id")?;
        let keys = if with_keys { r.opt("keys")? } else { None };
        let np = r.u16("properties")? as usize;
        let mut properties = Vec::with_capacity(np.min(r.0.remaining() / 8 + 1));
        for _ in 0..np {
            let k = r.string("property")?;
            let v = r.string("property")?;
            properties.push((k, v));
        }
        let body = r.bytes("body")?.to_vec();
        out.push(SpooledMessage {
            rule: RuleId { event: kind, index },
            topic,
            tag,
            client_id,
            keys,
            properties,
            body,
        });
    }
    if !r.0.is_empty() {
        return Err(RecordDecodeError { field: "trailing" });
    }
    Ok(out)
}

/// The spooled form of a formatted message (key and tags travel separately; the bridge's key is
/// made again from the spool's sequence number, a key template's keys are kept).
pub(crate) fn spooled_message(out: &Outgoing) -> SpooledMessage {
    let keys = out
        .msg
        .properties
        .get(PROPERTY_KEYS)
        .and_then(|k| k.strip_prefix(out.meta.key.as_str()))
        .and_then(|rest| rest.strip_prefix(' '))
        .filter(|rest| !rest.is_empty())
        .map(str::to_owned);
    SpooledMessage {
        rule: out.meta.rule,
        topic: out.msg.topic.to_string(),
        tag: out.msg.tags().map(str::to_owned),
        client_id: out.meta.client_id.as_deref().map(str::to_owned),
        keys,
        properties: out
            .msg
            .properties
            .iter()
            .filter(|(k, _)| *k != PROPERTY_KEYS && *k != PROPERTY_TAGS)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        body: out.msg.body.to_vec(),
    }
}

/// Appends an event's messages as one record and returns its sequence number. On failure nothing
/// was stored and the caller drops every message with the reason returned: `too_large` when the
/// record is over the spool's limit, `spool_error` otherwise.
pub(crate) fn append(spool: &Spool, ready: &[Outgoing]) -> Result<u64, DropReason> {
    let msgs: Vec<SpooledMessage> = ready.iter().map(spooled_message).collect();
    let payload = encode_record(&msgs);
    match spool.append(&payload) {
        Ok(seq) => Ok(seq),
        // Written and queued, only its fsync failed: it will be sent, so it is not a drop.
        Err(SpoolError::NotDurable { seq, source, .. }) => {
            log::warn!("bridge spool record seq={seq} is queued but not synced: {source}");
            Ok(seq)
        }
        Err(SpoolError::RecordTooLarge { len, max }) => {
            Err(DropReason::TooLarge { size: len, max })
        }
        Err(other) => {
            log::warn!("bridge spool append failed: {other}");
            Err(DropReason::SpoolError)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_truncations_are_errors() {
        let m = vec![
            SpooledMessage {
                rule: RuleId {
                    event: EventKind::MessagePublish,
                    index: 3,
                },
                topic: "T".into(),
                tag: Some("pub".into()),
                client_id: Some("c1".into()),
                keys: None,
                properties: vec![("mqtt_qos".into(), "1".into())],
                body: b"{\"a\":1}".to_vec(),
            },
            SpooledMessage {
                rule: RuleId {
                    event: EventKind::ClientConnected,
                    index: 1,
                },
                topic: "U".into(),
                tag: None,
                client_id: None,
                keys: None,
                properties: vec![],
                body: vec![],
            },
        ];
        let b = encode_record(&m);
        assert_eq!(decode_record(&b).unwrap(), m);
        for cut in 0..b.len() {
            assert!(decode_record(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(
            decode_record(&long),
            Err(RecordDecodeError { field: "trailing" })
        );
        assert_eq!(b[0], RECORD_VERSION, "no template keys: the old format");
    }

    #[test]
    fn template_keys_use_version_2_and_version_1_records_still_decode() {
        let mut m = vec![SpooledMessage {
            rule: RuleId {
                event: EventKind::MessagePublish,
                index: 1,
            },
            topic: "site".into(),
            tag: Some("c1".into()),
            client_id: Some("c1".into()),
            keys: Some("c1".into()),
            properties: vec![],
            body: b"21.5".to_vec(),
        }];
        let b = encode_record(&m);
        assert_eq!(b[0], RECORD_VERSION_KEYS);
        assert_eq!(decode_record(&b).unwrap(), m);
        for cut in 0..b.len() {
            assert!(decode_record(&b[..cut]).is_err(), "cut at {cut}");
        }
        // A version 1 record as an earlier bridge wrote it: the same fields without keys.
        let v1: Vec<u8> = [
            &[1u8, 0, 1, 4, 0, 0, 0, 1][..],
            &[0, 0, 0, 4],
            b"site",
            &[1, 0, 0, 0, 2],
            b"c1",
            &[1, 0, 0, 0, 2],
            b"c1",
            &[0, 0, 0, 0, 0, 4],
            b"21.5",
        ]
        .concat();
        m[0].keys = None;
        assert_eq!(decode_record(&v1).unwrap(), m);
    }
}
