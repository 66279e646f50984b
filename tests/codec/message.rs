//! Message layer: properties string, batch body (§7, golden §14.4), stored-record decoding
//! (§13.2) on hand-built records, offset message ids (§6.3) and UNIQ_KEY generation (§6.2).

use bytes::{BufMut, Bytes, BytesMut};
use rocketmq_bridge::message::*;
use rocketmq_bridge::util::{crc32_masked, InflateError};
use std::collections::HashSet;
use std::net::SocketAddr;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const PROPS_14_1: &str = "UNIQ_KEY\u{1}7F0000011234000000000A3B1C2D0001\u{2}WAIT\u{1}true\u{2}";

fn message_14_1() -> Message {
    Message::new("MessagePublish", &b"hello"[..])
        .with_property(PROPERTY_UNIQ_KEY, "7F0000011234000000000A3B1C2D0001")
        .with_property(PROPERTY_WAIT, "true")
}

// ---------------------------------------------------------------- properties

#[test]
fn properties_of_14_1_encode_to_the_reference_string() {
    let m = message_14_1();
    let mut s = String::new();
    m.properties.encode(&mut s).unwrap();
    assert_eq!(s, PROPS_14_1);
    assert_eq!(m.properties.encoded_len(), 52);
    assert_eq!(m.unique_key(), Some("7F0000011234000000000A3B1C2D0001"));
}

#[test]
fn properties_round_trip_keeps_order_and_values() {
    let mut p = Properties::new();
    p.set("TAGS", "tag-a");
    p.set("KEYS", "k1 k2");
    p.set("x", "é ünïcode");
    p.set("TAGS", "tag-b"); // replaces in place
    assert_eq!(p.len(), 3);
    let s = p.to_encoded().unwrap();
    assert_eq!(
        s,
        "TAGS\u{1}tag-b\u{2}KEYS\u{1}k1 k2\u{2}x\u{1}é ünïcode\u{2}"
    );
    assert_eq!(s.len(), p.encoded_len());
    let back = Properties::decode(&s);
    assert_eq!(back, p);
    assert_eq!(
        back.iter().collect::<Vec<_>>(),
        vec![("TAGS", "tag-b"), ("KEYS", "k1 k2"), ("x", "é ünïcode")]
    );
    let mut p2 = p.clone();
    assert_eq!(p2.remove("KEYS"), Some("k1 k2".to_owned()));
    assert_eq!(p2.remove("KEYS"), None);
    assert_eq!(p2.get("KEYS"), None);
    assert_eq!(p2.len(), 2);
}

#[test]
fn lenient_parser_follows_java_rules() {
    // Without the trailing 0x02 (4.x – 5.1 style).
    let p = Properties::decode("A\u{1}1\u{2}B\u{1}2");
    assert_eq!(p.iter().collect::<Vec<_>>(), vec![("A", "1"), ("B", "2")]);
    // Empty name, empty value, no separator, too short: all dropped.
    let p = Properties::decode("\u{1}v\u{2}n\u{1}\u{2}novalue\u{2}a\u{2}\u{2}ok\u{1}y\u{2}");
    assert_eq!(p.iter().collect::<Vec<_>>(), vec![("ok", "y")]);
    // The value runs from the first 0x01 to the chunk end, so it may hold another 0x01.
    let p = Properties::decode("k\u{1}v\u{1}w\u{2}");
    assert_eq!(p.get("k"), Some("v\u{1}w"));
    // Last duplicate wins (at the first one's position).
    let p = Properties::decode("K\u{1}1\u{2}Z\u{1}z\u{2}K\u{1}2\u{2}");
    assert_eq!(p.iter().collect::<Vec<_>>(), vec![("K", "2"), ("Z", "z")]);
    assert!(Properties::decode("").is_empty());
    assert!(Properties::decode("\u{2}\u{2}\u{1}").is_empty());
}

#[test]
fn encode_rejects_unrepresentable_properties() {
    for (k, v) in [("", "v"), ("k", ""), ("a\u{1}b", "v"), ("k", "x\u{2}y")] {
        let mut p = Properties::new();
        p.set("GOOD", "1");
        p.set(k, v);
        let mut out = String::from("keep");
        assert_eq!(
            p.encode(&mut out),
            Err(MessageError::InvalidProperty { name: k.to_owned() })
        );
        assert_eq!(out, "keep", "output untouched on error");
    }
    let mut p = Properties::new();
    p.set("BIG", "x".repeat(32_763)); // 3 + 1 + 32763 + 1 = 32768
    assert_eq!(
        p.to_encoded(),
        Err(MessageError::PropertiesTooLong {
            len: 32_768,
            max: 32_767
        })
    );
    p.set("BIG", "x".repeat(32_762));
    assert_eq!(p.to_encoded().unwrap().len(), 32_767);
}

#[test]
fn message_builders_and_accessors() {
    let m = Message::new("T", "body")
        .with_tags("TagA")
        .with_keys(&["order-1", "user-7"]);
    assert_eq!(m.tags(), Some("TagA"));
    assert_eq!(m.properties.get(PROPERTY_KEYS), Some("order-1 user-7"));
    assert_eq!(m.keys(), vec!["order-1", "user-7"]);
    assert_eq!(m.unique_key(), None);
    assert_eq!(m.flag, 0);
    assert!(Message::new("T", "b").keys().is_empty());
    let e = MessageError::InvalidProperty {
        name: "a\u{1}".into(),
    };
    assert_eq!(
        e.to_string(),
        "property \"a\\u{1}\" has an empty name or value or contains 0x01/0x02"
    );
}

// ---------------------------------------------------------------- batch body

#[test]
fn batch_record_matches_golden_14_4_byte_for_byte() {
    let golden = unhex(
        "0000004f                          \
         00000000                          \
         00000000                          \
         00000000                          \
         00000005 68656c6c6f               \
         0034                              \
         554e49515f4b4559 01               \
         3746303030303031313233343030303030303030304133423143324430303031 \
         02 57414954 01 74727565 02",
    );
    assert_eq!(golden.len(), 79);
    let m = message_14_1();
    assert_eq!(batch_record_len(&m), 79);
    let mut out = BytesMut::new();
    out.put_slice(b"pre"); // appends, never clears
    encode_batch_body(&[m.clone(), m.clone()], &mut out).unwrap();
    assert_eq!(&out[..3], b"pre");
    assert_eq!(&out[3..82], &golden[..]);
    assert_eq!(&out[82..], &golden[..]);
}

#[test]
fn batch_record_carries_flag_and_empty_properties() {
    let mut m = Message::new("T", Bytes::new());
    m.flag = -2;
    let mut out = BytesMut::new();
    encode_batch_body(&[m], &mut out).unwrap();
    let expected = unhex(
        "00000016 \
         00000000 \
         00000000 \
         fffffffe \
         00000000 \
         0000",
    );
    assert_eq!(&out[..], &expected[..]);
}

#[test]
fn batch_encode_error_leaves_buffer_unchanged() {
    let good = message_14_1();
    let bad = Message::new("T", "x").with_property("K", "");
    let mut out = BytesMut::new();
    out.put_slice(b"abc");
    assert_eq!(
        encode_batch_body(&[good, bad], &mut out),
        Err(MessageError::InvalidProperty { name: "K".into() })
    );
    assert_eq!(&out[..], b"abc");
}

// ---------------------------------------------------------------- stored records

/// One stored record's fields; `bytes()` lays them out as §13.2 with one line per field.
#[derive(Clone)]
struct Rec {
    magic: u32,
    sys_flag: i32,
    born_ip: Vec<u8>, // 4 or 16 bytes
    store_ip: Vec<u8>,
    body: Vec<u8>,
    topic: &'static str,
    props: &'static str,
}

impl Rec {
    fn v1(body: &[u8], props: &'static str) -> Rec {
        Rec {
            magic: MESSAGE_MAGIC_CODE_V1,
            sys_flag: 0,
            born_ip: vec![10, 0, 0, 7],
            store_ip: vec![127, 0, 0, 1],
            body: body.to_vec(),
            topic: "TopicA",
            props,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let v2 = self.magic == MESSAGE_MAGIC_CODE_V2;
        let mut b = BytesMut::new();
        b.put_i32(0); //                          1 TOTALSIZE, patched below
        b.put_u32(self.magic); //                 2 MAGICCODE
        b.put_u32(crc32_masked(&self.body)); //   3 BODYCRC
        b.put_i32(3); //                          4 QUEUEID
        b.put_i32(77); //                         5 FLAG
        b.put_i64(42); //                         6 QUEUEOFFSET
        b.put_i64(0x1_0000_0000); //              7 PHYSICALOFFSET
        b.put_i32(self.sys_flag); //              8 SYSFLAG
        b.put_i64(1_700_000_000_000); //          9 BORNTIMESTAMP
        b.put_slice(&self.born_ip); //           10 BORNHOST ip
        b.put_i32(50_000); //                       BORNHOST port
        b.put_i64(1_700_000_000_123); //         11 STORETIMESTAMP
        b.put_slice(&self.store_ip); //          12 STOREHOST ip
        b.put_i32(10_911); //                       STOREHOST port
        b.put_i32(1); //                         13 RECONSUMETIMES
        b.put_i64(0); //                         14 PREPARED TRANSACTION OFFSET
        b.put_i32(self.body.len() as i32); //    15 BODY length
        b.put_slice(&self.body); //                 BODY
        if v2 {
            b.put_u16(self.topic.len() as u16); // 16 TOPIC length (2 bytes, v2)
        } else {
            b.put_u8(self.topic.len() as u8); //   16 TOPIC length (1 byte, v1)
        }
        b.put_slice(self.topic.as_bytes()); //      TOPIC
        b.put_i16(self.props.len() as i16); //   17 PROPERTIES length
        b.put_slice(self.props.as_bytes()); //      PROPERTIES
        let total = b.len() as i32;
        b[..4].copy_from_slice(&total.to_be_bytes());
        b.to_vec()
    }
}

#[test]
fn decodes_literal_v1_ipv4_record() {
    let rec = unhex(
        "00000071 \
         daa320a7 \
         3610a686 \
         00000003 \
         0000004d \
         000000000000002a \
         0000000100000000 \
         00000000 \
         0000018bcfe56800 \
         0a000007 0000c350 \
         0000018bcfe5687b \
         7f000001 00002a9f \
         00000001 \
         0000000000000000 \
         00000005 68656c6c6f \
         04 54657374 \
         000d 554e49515f4b4559 01 414243 02",
    );
    // 1 TOTALSIZE 113 | 2 MAGIC v1 | 3 BODYCRC = crc32("hello") 0x3610a686 (top bit clear anyway)
    // 4 QUEUEID 3 | 5 FLAG 77 | 6 QUEUEOFFSET 42 | 7 PHYSICALOFFSET 2^32 | 8 SYSFLAG 0
    // 9 BORNTIMESTAMP 1700000000000 | 10 BORNHOST 10.0.0.7:50000 | 11 STORETIMESTAMP ...123
    // 12 STOREHOST 127.0.0.1:10911 | 13 RECONSUMETIMES 1 | 14 PREPARED 0 | 15 BODY "hello"
    // 16 TOPIC "Test" | 17 PROPERTIES "UNIQ_KEY\x01ABC\x02" (13 bytes)
    assert_eq!(rec.len(), 113);
    let msgs = decode_stored_messages(&rec, 1024).unwrap();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    let mut props = Properties::new();
    props.set("UNIQ_KEY", "ABC");
    assert_eq!(
        *m,
        MessageExt {
            topic: "Test".into(),
            queue_id: 3,
            queue_offset: 42,
            commit_log_offset: 1 << 32,
            sys_flag: 0,
            flag: 77,
            born_timestamp: 1_700_000_000_000,
            store_timestamp: 1_700_000_000_123,
            born_host: "10.0.0.7:50000".parse().unwrap(),
            store_host: "127.0.0.1:10911".parse().unwrap(),
            reconsume_times: 1,
            prepared_transaction_offset: 0,
            body_crc: 0x3610_a686,
            body: Bytes::from_static(b"hello"),
            properties: props,
        }
    );
    assert_eq!(m.unique_key(), Some("ABC"));
    assert_eq!(m.offset_msg_id(), "7F00000100002A9F0000000100000000");
    // The helper builds the same bytes for the same fields.
    let mut r = Rec::v1(b"hello", "UNIQ_KEY\u{1}ABC\u{2}");
    r.topic = "Test";
    assert_eq!(r.bytes(), rec);
}

#[test]
fn decodes_concatenated_v1_and_v2_records() {
    let a = Rec::v1(b"first", "TAGS\u{1}t1\u{2}KEYS\u{1}k1 k2\u{2}");
    let mut b = Rec::v1(b"second", "WAIT\u{1}true");
    b.magic = MESSAGE_MAGIC_CODE_V2;
    b.topic = "TopicB";
    let mut buf = a.bytes();
    buf.extend_from_slice(&b.bytes());
    let msgs = decode_stored_messages(&buf, 1024).unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].topic, "TopicA");
    assert_eq!(&msgs[0].body[..], b"first");
    assert_eq!(msgs[0].tags(), Some("t1"));
    assert_eq!(msgs[0].keys(), vec!["k1", "k2"]);
    assert_eq!(msgs[1].topic, "TopicB");
    assert_eq!(&msgs[1].body[..], b"second");
    assert_eq!(msgs[1].properties.get("WAIT"), Some("true"));
    assert_eq!(msgs[1].body_crc, crc32_masked(b"second"));
    assert!(decode_stored_messages(&[], 10).unwrap().is_empty());
}

#[test]
fn decodes_ipv6_born_and_store_hosts() {
    let mut r = Rec::v1(b"v6", "");
    r.sys_flag = SYSFLAG_BORNHOST_V6 | SYSFLAG_STOREHOST_V6;
    r.born_ip = "2001:db8::1"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets()
        .to_vec();
    r.store_ip = std::net::Ipv6Addr::LOCALHOST.octets().to_vec();
    let bytes = r.bytes();
    assert_eq!(bytes.len(), 88 + 24 + 2 + 1 + 6 + 2);
    let m = &decode_stored_messages(&bytes, 1024).unwrap()[0];
    assert_eq!(
        m.born_host,
        "[2001:db8::1]:50000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(m.store_host, "[::1]:10911".parse::<SocketAddr>().unwrap());
    assert!(m.properties.is_empty());
    let id = m.offset_msg_id();
    assert_eq!(id.len(), 56);
    assert_eq!(
        decode_offset_msg_id(&id).unwrap(),
        (m.store_host, 0x1_0000_0000)
    );
    // Only the born host in v6.
    r.sys_flag = SYSFLAG_BORNHOST_V6;
    r.store_ip = vec![127, 0, 0, 1];
    let m = &decode_stored_messages(&r.bytes(), 1024).unwrap()[0];
    assert_eq!(
        m.store_host,
        "127.0.0.1:10911".parse::<SocketAddr>().unwrap()
    );
}

fn body_fixture() -> (Vec<u8>, Vec<u8>) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/zlib/body_json.hex"
    ))
    .unwrap();
    let mut input = None;
    let mut z = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (k, v) = line.split_once(' ').unwrap();
        match k {
            "input" => input = Some(unhex(v)),
            "level5" => z = Some(unhex(v)),
            _ => {}
        }
    }
    (input.unwrap(), z.unwrap())
}

#[test]
fn compressed_body_is_inflated_within_the_cap() {
    let (plain, z) = body_fixture();
    for flag in [
        SYSFLAG_COMPRESSED,
        SYSFLAG_COMPRESSED | SYSFLAG_COMPRESSION_ZLIB,
    ] {
        let mut r = Rec::v1(&z, "");
        r.sys_flag = flag;
        let m = &decode_stored_messages(&r.bytes(), plain.len()).unwrap()[0];
        assert_eq!(&m.body[..], &plain[..]);
        assert_eq!(m.sys_flag, flag);
        assert_eq!(
            m.body_crc,
            crc32_masked(&z),
            "crc of the stored (compressed) body"
        );
        assert_eq!(
            decode_stored_messages(&r.bytes(), plain.len() - 1),
            Err(MessageError::Inflate(InflateError::OutputTooLarge {
                max: plain.len() - 1
            }))
        );
    }
    let mut r = Rec::v1(&z, "");
    r.sys_flag = SYSFLAG_COMPRESSED | SYSFLAG_COMPRESSION_LZ4;
    assert_eq!(
        decode_stored_messages(&r.bytes(), 1 << 20),
        Err(MessageError::UnsupportedCompression {
            compression_type: 1
        })
    );
    let mut r = Rec::v1(b"not zlib", "");
    r.sys_flag = SYSFLAG_COMPRESSED;
    assert!(matches!(
        decode_stored_messages(&r.bytes(), 1 << 20),
        Err(MessageError::Inflate(InflateError::BadZlibHeader { .. }))
    ));
}

/// Offsets inside a v1 IPv4 record built by `Rec::v1(b"hello", "A\x01b\x02")` with topic "TopicA".
const BODY_LEN_AT: usize = 84;

#[test]
fn truncated_and_lying_lengths_are_rejected_with_exact_errors() {
    let good = Rec::v1(b"hello", "A\u{1}b\u{2}").bytes();
    assert_eq!(good.len(), 88 + 5 + 1 + 6 + 2 + 4);

    // Buffer shorter than the 4-byte TOTALSIZE.
    assert_eq!(
        decode_stored_messages(&good[..3], 1024),
        Err(MessageError::Truncated {
            field: "TOTALSIZE",
            need: 4,
            have: 3
        })
    );
    // Record cut short: TOTALSIZE says 106, 50 bytes present.
    assert_eq!(
        decode_stored_messages(&good[..50], 1024),
        Err(MessageError::Truncated {
            field: "record",
            need: 106,
            have: 50
        })
    );
    // TOTALSIZE below the smallest possible record, and negative.
    for (v, expect) in [(90i32, 90i64), (-1, -1)] {
        let mut b = good.clone();
        b[..4].copy_from_slice(&v.to_be_bytes());
        assert_eq!(
            decode_stored_messages(&b, 1024),
            Err(MessageError::BadLength {
                field: "TOTALSIZE",
                value: expect
            })
        );
    }
    // BODY length claims more than the record holds.
    let mut b = good.clone();
    b[BODY_LEN_AT..BODY_LEN_AT + 4].copy_from_slice(&1000i32.to_be_bytes());
    assert_eq!(
        decode_stored_messages(&b, 1024),
        Err(MessageError::Truncated {
            field: "BODY",
            need: 1000,
            have: 106 - 88
        })
    );
    // Negative BODY length.
    b[BODY_LEN_AT..BODY_LEN_AT + 4].copy_from_slice(&(-5i32).to_be_bytes());
    assert_eq!(
        decode_stored_messages(&b, 1024),
        Err(MessageError::BadLength {
            field: "BODY length",
            value: -5
        })
    );
    // TOPIC length (byte after the body) too large.
    let mut b = good.clone();
    b[93] = 200;
    assert_eq!(
        decode_stored_messages(&b, 1024),
        Err(MessageError::Truncated {
            field: "TOPIC",
            need: 200,
            have: 106 - 94
        })
    );
    // PROPERTIES length larger than what is left, and negative.
    let mut b = good.clone();
    b[100..102].copy_from_slice(&5i16.to_be_bytes());
    assert_eq!(
        decode_stored_messages(&b, 1024),
        Err(MessageError::Truncated {
            field: "PROPERTIES",
            need: 5,
            have: 4
        })
    );
    b[100..102].copy_from_slice(&(-2i16).to_be_bytes());
    assert_eq!(
        decode_stored_messages(&b, 1024),
        Err(MessageError::BadLength {
            field: "PROPERTIES length",
            value: -2
        })
    );
    // TOTALSIZE larger than the fields (extra bytes inside the record).
    let mut b = good.clone();
    b[..4].copy_from_slice(&108i32.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    assert_eq!(
        decode_stored_messages(&b, 1024),
        Err(MessageError::TotalSizeMismatch {
            declared: 108,
            actual: 106
        })
    );
    // Bad magic, including the commit-log blank magic.
    for magic in [0xDEAD_BEEFu32, BLANK_MAGIC_CODE] {
        let mut b = good.clone();
        b[4..8].copy_from_slice(&magic.to_be_bytes());
        assert_eq!(
            decode_stored_messages(&b, 1024),
            Err(MessageError::BadMagic(magic))
        );
    }
    // Port out of range.
    let mut b = good.clone();
    b[52..56].copy_from_slice(&70_000i32.to_be_bytes());
    assert_eq!(
        decode_stored_messages(&b, 1024),
        Err(MessageError::BadPort {
            field: "BORNHOST",
            port: 70_000
        })
    );
    // Topic not UTF-8.
    let mut b = good.clone();
    b[94] = 0xff;
    assert_eq!(
        decode_stored_messages(&b, 1024),
        Err(MessageError::InvalidUtf8 { field: "TOPIC" })
    );
    // A good record followed by a partial one: the error is about the second.
    let mut b = good.clone();
    b.extend_from_slice(&good[..10]);
    assert_eq!(
        decode_stored_messages(&b, 1024),
        Err(MessageError::Truncated {
            field: "record",
            need: 106,
            have: 10
        })
    );
    // The untouched record still decodes.
    assert_eq!(decode_stored_messages(&good, 1024).unwrap().len(), 1);
}

#[test]
fn every_prefix_of_a_record_is_an_error_not_a_panic() {
    let mut r = Rec::v1(b"payload", "K\u{1}V\u{2}");
    r.magic = MESSAGE_MAGIC_CODE_V2;
    let bytes = r.bytes();
    for cut in 1..bytes.len() {
        assert!(
            decode_stored_messages(&bytes[..cut], 1024).is_err(),
            "cut {cut}"
        );
    }
    // Rewriting TOTALSIZE to every shorter length still never panics.
    for total in 0..bytes.len() {
        let mut b = bytes[..total.max(4)].to_vec();
        b[..4].copy_from_slice(&(total as i32).to_be_bytes());
        assert!(decode_stored_messages(&b, 1024).is_err(), "total {total}");
    }
}

// ---------------------------------------------------------------- ids

#[test]
fn offset_msg_id_round_trips_reference_example() {
    let (addr, off) = decode_offset_msg_id("7F00000100002A9F0000000000000000").unwrap();
    assert_eq!(addr, "127.0.0.1:10911".parse::<SocketAddr>().unwrap());
    assert_eq!(off, 0);
    assert_eq!(
        decode_offset_msg_id("7f00000100002a9f00000000000003e8")
            .unwrap()
            .1,
        1000
    );
    assert_eq!(
        create_offset_msg_id(addr, 0x0102_0304_0506_0708),
        "7F00000100002A9F0102030405060708"
    );
    assert_eq!(
        decode_offset_msg_id("7F000001"),
        Err(MessageError::BadMessageId {
            id: "7F000001".into(),
            reason: "length is not 32 (IPv4) or 56 (IPv6)"
        })
    );
    assert_eq!(
        decode_offset_msg_id("7F00000100002A9F000000000000000G"),
        Err(MessageError::BadMessageId {
            id: "7F00000100002A9F000000000000000G".into(),
            reason: "not a hex string"
        })
    );
    assert_eq!(
        decode_offset_msg_id("7F000001000100000000000000000000"),
        Err(MessageError::BadMessageId {
            id: "7F000001000100000000000000000000".into(),
            reason: "port out of range"
        })
    );
    // Multi-byte characters are rejected, not sliced through.
    assert!(decode_offset_msg_id("ééééééééééééééee").is_err());
}

#[test]
fn uniq_ids_are_unique_across_4_threads_and_100k_calls() {
    let generator = UniqIdGenerator::new();
    let prefix = generator.prefix().to_owned();
    assert_eq!(prefix.len(), 20);
    let pid = format!("{:04X}", std::process::id() as u16);
    assert_eq!(&prefix[..12], format!("7F000001{pid}"));
    let all: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..25_000).map(|_| generator.next_id()).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(all.len(), 100_000);
    for id in &all {
        assert_eq!(id.len(), 32, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
            "{id}"
        );
        assert!(id.starts_with(&prefix));
    }
    let set: HashSet<&String> = all.iter().collect();
    assert_eq!(set.len(), 100_000, "duplicate ids");
    // A second generator gets a different random part (with overwhelming probability).
    let other = UniqIdGenerator::new();
    assert_eq!(&other.prefix()[..12], &prefix[..12]);
}

#[test]
fn inflated_total_is_capped_across_records() {
    let (plain, z) = body_fixture(); // 340 bytes inflated each
    let mut r = Rec::v1(&z, "");
    r.sys_flag = SYSFLAG_COMPRESSED;
    let three: Vec<u8> = (0..3).flat_map(|_| r.bytes()).collect();
    let n = plain.len();
    assert_eq!(
        decode_stored_messages_limited(&three, n, 3 * n)
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        decode_stored_messages_limited(&three, n, 3 * n - 1),
        Err(MessageError::InflatedTotalTooLarge { max: 3 * n - 1 })
    );
    // The per-body cap still reports as an inflate error.
    assert_eq!(
        decode_stored_messages_limited(&three, n - 1, 10 * n),
        Err(MessageError::Inflate(InflateError::OutputTooLarge {
            max: n - 1
        }))
    );
    assert_eq!(MAX_INFLATED_TOTAL, 16 * 1024 * 1024);
}

#[test]
fn errors_display_field_and_numbers() {
    let cases: Vec<(MessageError, &str)> = vec![
        (
            MessageError::PropertiesTooLong {
                len: 40_000,
                max: 32_767,
            },
            "properties length 40000 exceeds limit 32767",
        ),
        (
            MessageError::Truncated {
                field: "BODY",
                need: 1000,
                have: 18,
            },
            "BODY needs 1000 bytes but only 18 remain",
        ),
        (
            MessageError::BadMagic(0xCBD4_3194),
            "unknown stored-message magic code 0xcbd43194",
        ),
        (
            MessageError::BadLength {
                field: "BODY length",
                value: -5,
            },
            "invalid BODY length -5",
        ),
        (
            MessageError::TotalSizeMismatch {
                declared: 108,
                actual: 106,
            },
            "record TOTALSIZE 108 but its fields use 106 bytes",
        ),
        (
            MessageError::BadPort {
                field: "STOREHOST",
                port: -1,
            },
            "STOREHOST port -1 out of range",
        ),
        (
            MessageError::InvalidUtf8 { field: "TOPIC" },
            "TOPIC is not valid UTF-8",
        ),
        (
            MessageError::UnsupportedCompression {
                compression_type: 2,
            },
            "unsupported body compression type 2 (only zlib is supported)",
        ),
        (
            MessageError::InflatedTotalTooLarge { max: 16 },
            "inflated bodies exceed the total limit of 16 bytes",
        ),
        (
            MessageError::Inflate(InflateError::OutputTooLarge { max: 4 }),
            "compressed body",
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
    }
    // The inflate cause is reported once, through source().
    let e = MessageError::Inflate(InflateError::Adler32Mismatch {
        expected: 1,
        actual: 2,
    });
    let src = std::error::Error::source(&e).unwrap().to_string();
    assert_eq!(
        src,
        "adler32 mismatch: stream says 0x00000001, data gives 0x00000002"
    );
}

#[test]
fn properties_find_whole_names_and_replace_or_remove_in_place() {
    let mut p = Properties::new();
    p.push("KEYSX", "a");
    p.push("KEYS", "b");
    p.push("XKEYS", "c");
    p.push("K", "d");
    assert_eq!(
        p.get("KEYS"),
        Some("b"),
        "a name is not matched as a prefix"
    );
    assert_eq!(p.get("KEY"), None);
    assert_eq!(p.get("K"), Some("d"));
    p.set("KEYS", "longer value");
    p.set("NEW", "e");
    assert_eq!(p.remove("XKEYS").as_deref(), Some("c"));
    let entries: Vec<(&str, &str)> = p.iter().collect();
    assert_eq!(
        entries,
        vec![
            ("KEYSX", "a"),
            ("KEYS", "longer value"),
            ("K", "d"),
            ("NEW", "e")
        ]
    );
    assert_eq!(p.len(), 4);
    assert_eq!(
        p.to_encoded().unwrap(),
        "KEYSX\u{1}a\u{2}KEYS\u{1}longer value\u{2}K\u{1}d\u{2}NEW\u{1}e\u{2}"
    );
    // An entry that could not be read back is refused at encoding, pushed or set.
    let mut bad = Properties::new();
    bad.push("EMPTY", "");
    assert!(matches!(
        bad.to_encoded(),
        Err(MessageError::InvalidProperty { name }) if name == "EMPTY"
    ));
    let mut bad = Properties::new();
    bad.set("A\u{2}B", "v");
    assert!(bad.to_encoded().is_err());
}

#[test]
fn get_finds_only_whole_names_at_entry_starts() {
    let mut p = Properties::new();
    p.push("KEYSX", "a");
    p.push("XKEYS", "b");
    p.push("K", "KEYS");
    p.push("KEY", "c");
    p.push("KEYS", "d");
    assert_eq!(p.get("KEYS"), Some("d"));
    assert_eq!(p.get("KEY"), Some("c"));
    assert_eq!(p.get("K"), Some("KEYS"));
    assert_eq!(p.get("EYS"), None);
    assert_eq!(p.get("KEYSXY"), None);
    assert_eq!(p.get(""), None);
    // Against the entries as iterated, for every name and a few that are not there.
    for name in [
        "KEYSX",
        "XKEYS",
        "K",
        "KEY",
        "KEYS",
        "X",
        "a",
        "KEYSX\u{1}a",
    ] {
        let want = p.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
        assert_eq!(p.get(name), want, "{name:?}");
    }
}
