//! Oversized, truncated and inconsistent frames are rejected with the exact error, before anything
//! is allocated; nothing a peer sends can make the decoder panic.

use rocketmq_bridge_test_support as support;

use bytes::{BufMut, BytesMut};
use rocketmq_bridge::remoting::codec::header_binary::decode_binary_header;
use rocketmq_bridge::remoting::codec::header_json::decode_json_header;
use rocketmq_bridge::remoting::codec::{
    decode_frame, encode_frame, peek_prefix, read_hint, DecodeError, EncodeError, FrameLimits,
};
use rocketmq_bridge::remoting::{RemotingCommand, SerializeType};
use support::XorShift;

fn lim() -> FrameLimits {
    FrameLimits::default()
}

fn frame_of(word0: u32, word1: u32, rest: &[u8]) -> BytesMut {
    let mut b = BytesMut::with_capacity(8 + rest.len());
    b.put_u32(word0);
    b.put_u32(word1);
    b.put_slice(rest);
    b
}

#[test]
fn decode_refuses_a_2_gib_frame_before_allocating() {
    let mut buf = BytesMut::with_capacity(16);
    buf.put_slice(&[0x80, 0x00, 0x00, 0x00]); // total_len 2^31
    let cap = buf.capacity();
    assert_eq!(
        decode_frame(&mut buf, &lim()),
        Err(DecodeError::FrameTooLarge {
            len: (1 << 31) + 4,
            max: 16 * 1024 * 1024
        })
    );
    assert_eq!(
        buf.capacity(),
        cap,
        "the decoder must not reserve for an oversized frame"
    );
    assert_eq!(buf.len(), 4, "nothing consumed");
    // Four bytes are enough to refuse it: the rest need not arrive.
    assert!(peek_prefix(&buf, &lim()).is_err());
    // A reader sizing its next read from the hint asks for one bounded chunk, never 2 GiB.
    assert_eq!(read_hint(&buf, &lim(), 65536), 65536);
    // The largest possible announcement too.
    let mut max = BytesMut::from(&[0xFF, 0xFF, 0xFF, 0xFF][..]);
    assert_eq!(
        decode_frame(&mut max, &lim()),
        Err(DecodeError::FrameTooLarge {
            len: u32::MAX as u64 + 4,
            max: 16 * 1024 * 1024
        })
    );
}

#[test]
fn frame_limit_is_configurable_and_counts_the_length_word() {
    let small = FrameLimits { max_frame_len: 100 };
    // total_len 96 -> frame 100: allowed (incomplete); 97 -> 101: refused.
    let mut ok = frame_of(96, 0, &[]);
    assert_eq!(decode_frame(&mut ok, &small), Ok(None));
    let mut bad = frame_of(97, 0, &[]);
    assert_eq!(
        decode_frame(&mut bad, &small),
        Err(DecodeError::FrameTooLarge { len: 101, max: 100 })
    );
    // Encoding is checked against the same limit.
    let c = RemotingCommand::request(10).with_body(vec![0u8; 200]);
    let mut out = BytesMut::new();
    out.put_slice(b"keep");
    let err = encode_frame(&c, &mut out, &small).unwrap_err();
    assert!(
        matches!(err, EncodeError::FrameTooLarge { max: 100, .. }),
        "{err:?}"
    );
    assert_eq!(
        &out[..],
        b"keep",
        "a failed encode leaves the buffer as it was"
    );
}

#[test]
fn inconsistent_prefixes_are_rejected_with_the_numbers() {
    assert_eq!(
        decode_frame(&mut frame_of(3, 0, &[]), &lim()),
        Err(DecodeError::FrameTooShort { total_len: 3 })
    );
    assert_eq!(
        decode_frame(&mut frame_of(0, 0, &[]), &lim()),
        Err(DecodeError::FrameTooShort { total_len: 0 })
    );
    // Header longer than the frame: total 10 leaves 6 bytes, header claims 7.
    assert_eq!(
        decode_frame(&mut frame_of(10, 7, &[0; 6]), &lim()),
        Err(DecodeError::HeaderTooLong {
            header_len: 7,
            available: 6
        })
    );
    // The check happens from the prefix alone, before the rest arrives.
    assert_eq!(
        decode_frame(&mut frame_of(1000, 0x00FF_FFFF, &[]), &lim()),
        Err(DecodeError::HeaderTooLong {
            header_len: 0xFF_FFFF,
            available: 996
        })
    );
    assert_eq!(
        decode_frame(&mut frame_of(4, 0x0200_0000, &[]), &lim()),
        Err(DecodeError::UnknownSerializeType(2))
    );
    assert_eq!(
        decode_frame(&mut frame_of(4, 0xFF00_0000, &[]), &lim()),
        Err(DecodeError::UnknownSerializeType(255))
    );
}

#[test]
fn truncated_binary_headers_name_the_field() {
    // Header shorter than the fixed part.
    assert_eq!(
        decode_binary_header(&[0, 1, 12]),
        Err(DecodeError::Truncated {
            field: "version",
            need: 2,
            have: 0
        })
    );
    let fixed = |remark_len: i32| {
        let mut h = Vec::new();
        h.put_i16(105);
        h.put_u8(12);
        h.put_i16(401);
        h.put_i32(1);
        h.put_i32(0);
        h.put_i32(remark_len);
        h
    };
    // remark_len 10 with 3 bytes present.
    let mut h = fixed(10);
    h.put_slice(b"abc");
    assert_eq!(
        decode_binary_header(&h),
        Err(DecodeError::Truncated {
            field: "remark",
            need: 10,
            have: 3
        })
    );
    // Negative remark length.
    assert_eq!(
        decode_binary_header(&fixed(-1)),
        Err(DecodeError::NegativeLength {
            field: "remark_len",
            len: -1
        })
    );
    // Missing ext_len.
    assert_eq!(
        decode_binary_header(&fixed(0)),
        Err(DecodeError::Truncated {
            field: "ext_len",
            need: 4,
            have: 0
        })
    );
    // ext_len larger than what is left.
    let mut h = fixed(0);
    h.put_i32(100);
    h.put_slice(&[0; 10]);
    assert_eq!(
        decode_binary_header(&h),
        Err(DecodeError::Truncated {
            field: "ext_fields",
            need: 100,
            have: 10
        })
    );
    // An ext value length past the block.
    let mut h = fixed(0);
    h.put_i32(2 + 1 + 4 + 2);
    h.put_i16(1);
    h.put_slice(b"k");
    h.put_i32(50);
    h.put_slice(b"vv");
    assert_eq!(
        decode_binary_header(&h),
        Err(DecodeError::Truncated {
            field: "ext value",
            need: 50,
            have: 2
        })
    );
    // A negative key length.
    let mut h = fixed(0);
    h.put_i32(2);
    h.put_i16(-5);
    assert_eq!(
        decode_binary_header(&h),
        Err(DecodeError::NegativeLength {
            field: "ext key_len",
            len: -5
        })
    );
    // Negative value length.
    let mut h = fixed(0);
    h.put_i32(2 + 1 + 4);
    h.put_i16(1);
    h.put_slice(b"k");
    h.put_i32(-2);
    assert_eq!(
        decode_binary_header(&h),
        Err(DecodeError::NegativeLength {
            field: "ext val_len",
            len: -2
        })
    );
    // Bytes after the ext block.
    let mut h = fixed(0);
    h.put_i32(0);
    h.put_slice(b"xyz");
    assert_eq!(
        decode_binary_header(&h),
        Err(DecodeError::TrailingData {
            field: "binary header",
            len: 3
        })
    );
    // Invalid UTF-8 in a key.
    let mut h = fixed(0);
    h.put_i32(2 + 1 + 4 + 1);
    h.put_i16(1);
    h.put_u8(0xFF);
    h.put_i32(1);
    h.put_u8(b'v');
    assert_eq!(
        decode_binary_header(&h),
        Err(DecodeError::InvalidUtf8 { field: "ext key" })
    );
}

#[test]
fn a_truncated_binary_header_inside_a_frame_is_reported_not_waited_for() {
    // The frame is complete, but its header lies about an inner length.
    let mut h = Vec::new();
    h.put_i16(0);
    h.put_u8(0);
    h.put_i16(0);
    h.put_i32(1);
    h.put_i32(1);
    h.put_i32(1_000_000); // remark_len, far past the header
    let mut buf = frame_of(4 + h.len() as u32, 0x0100_0000 | h.len() as u32, &h);
    assert_eq!(
        decode_frame(&mut buf, &lim()),
        Err(DecodeError::Truncated {
            field: "remark",
            need: 1_000_000,
            have: 0
        })
    );
}

#[test]
fn json_header_errors_name_the_field() {
    assert_eq!(
        decode_json_header(br#"{"code":1}"#),
        Err(DecodeError::MissingField("opaque"))
    );
    assert_eq!(
        decode_json_header(br#"{"code":1,"opaque":1,"extFields":[]}"#),
        Err(DecodeError::InvalidField {
            field: "extFields",
            reason: "not an object"
        })
    );
    assert_eq!(
        decode_json_header(br#"{"code":1,"opaque":1,"extFields":{"a":1.5}}"#),
        Err(DecodeError::InvalidField {
            field: "extFields",
            reason: "value is not a string, integer or boolean"
        })
    );
    assert_eq!(
        decode_json_header(br#"{"code":1,"opaque":1,"remark":5}"#),
        Err(DecodeError::InvalidField {
            field: "remark",
            reason: "not a string"
        })
    );
    assert_eq!(
        decode_json_header(br#"{"code":1,"opaque":1,"language":true}"#),
        Err(DecodeError::InvalidField {
            field: "language",
            reason: "not a language name or code"
        })
    );
    assert_eq!(
        decode_json_header(br#"{"code":1,"opaque":1"#),
        Err(DecodeError::InvalidJson {
            offset: 20,
            reason: "expected ',' or '}'"
        })
    );
    assert_eq!(
        decode_json_header(b""),
        Err(DecodeError::InvalidJson {
            offset: 0,
            reason: "expected '{'"
        })
    );
    let deep = format!(
        "{{\"code\":1,\"opaque\":1,\"x\":{}{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert_eq!(
        decode_json_header(deep.as_bytes()),
        Err(DecodeError::InvalidJson {
            offset: 124,
            reason: "nesting too deep"
        })
    );
}

#[test]
fn random_bytes_never_panic_the_decoder() {
    let seed = 0x5EED_0001;
    let mut rng = XorShift::new(seed);
    for i in 0..20_000 {
        let len = rng.below(64) as usize;
        let mut bytes = rng.bytes(len);
        // Make most inputs plausible frames so the inner decoders get exercised.
        if len >= 8 && i % 4 != 0 {
            let total = (len - 4) as u32;
            bytes[..4].copy_from_slice(&total.to_be_bytes());
            bytes[4] = (i % 2) as u8;
            let hl = rng.below(total as u64 - 3) as u32;
            bytes[5..8].copy_from_slice(&hl.to_be_bytes()[1..]);
        }
        let mut buf = BytesMut::from(&bytes[..]);
        let before = buf.len();
        match decode_frame(&mut buf, &lim()) {
            Ok(Some(c)) => {
                // Whatever decodes re-encodes and decodes to the same command.
                let mut out = BytesMut::new();
                encode_frame(
                    &c,
                    &mut out,
                    &FrameLimits {
                        max_frame_len: usize::MAX,
                    },
                )
                .unwrap();
                assert_eq!(
                    decode_frame(&mut out, &lim()).unwrap().as_ref(),
                    Some(&c),
                    "seed {seed:#x} case {i}"
                );
            }
            Ok(None) => assert_eq!(buf.len(), before, "seed {seed:#x} case {i}"),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

#[test]
fn binary_encoder_refuses_values_the_header_cannot_carry() {
    let mut c = RemotingCommand::request(200_050);
    c.serialize_type = SerializeType::RocketMq;
    let mut out = BytesMut::new();
    assert_eq!(
        encode_frame(&c, &mut out, &lim()),
        Err(EncodeError::FieldOutOfRange {
            field: "code",
            value: 200_050
        })
    );
    assert!(out.is_empty());
    let mut c = RemotingCommand::request(10).with_ext(&"k".repeat(40_000), "v");
    c.serialize_type = SerializeType::RocketMq;
    assert_eq!(
        encode_frame(&c, &mut out, &lim()),
        Err(EncodeError::FieldOutOfRange {
            field: "ext key_len",
            value: 40_000
        })
    );
}

#[test]
fn decode_errors_display_as_lowercase_fragments_with_numbers() {
    assert_eq!(
        DecodeError::FrameTooLarge {
            len: 20_000_000,
            max: 16_777_216
        }
        .to_string(),
        "frame length 20000000 exceeds limit 16777216"
    );
    assert_eq!(
        DecodeError::Truncated {
            field: "remark",
            need: 10,
            have: 3
        }
        .to_string(),
        "binary header field remark needs 10 bytes, 3 left"
    );
}
