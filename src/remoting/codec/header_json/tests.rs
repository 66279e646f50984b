//! Tests of the JSON header: the word-at-a-time escape search, the fast path against the scanner,
//! the scanner against the `serde_json::Value` reference, and the writer against a simple
//! reference writer, on sample headers and their mutations.

use super::*;

/// 50,000 words of 0 to 19 bytes from xorshift `seed` (each byte mixed with `mix`): mostly
/// letters, so a flagged byte lands anywhere, and one byte in four from `set`, bytes around the
/// boundaries, so borrows run through every position.
fn random_words(seed: u64, mix: u64, set: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut state = seed;
    (0..50_000).map(move |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 20) as usize;
        let mut x = state;
        (0..len)
            .map(|_| {
                x = x.rotate_left(7) ^ mix;
                if x.is_multiple_of(4) {
                    set[(x >> 8) as usize % set.len()]
                } else {
                    b'a' + (x >> 16) as u8 % 26
                }
            })
            .collect()
    })
}

/// Against the byte table, on random words.
#[test]
fn first_escape_agrees_with_the_byte_table_on_random_bytes() {
    use crate::util::JSON_NEEDS_ESCAPE;
    let set = [
        0u8, 1, 0x1f, 0x20, 0x21, b'"', b'#', b'\\', b']', 0x7f, 0x80, 0xc3, 0xff,
    ];
    for v in random_words(0x2545_f491_4f6c_dd1d, 0x9e37_79b9_7f4a_7c15, &set) {
        let want = v.iter().position(|&c| JSON_NEEDS_ESCAPE[c as usize]);
        assert_eq!(first_escape(&v), want, "{v:?}");
    }
}

/// The fast path's end of a plain ASCII run (an escape or a byte from 0x80) against the byte
/// table, on random words, and at every position.
#[test]
fn first_ascii_end_agrees_with_the_byte_table() {
    use crate::util::{json_first_ascii_end, JSON_NEEDS_ESCAPE};
    let ends = |c: u8| JSON_NEEDS_ESCAPE[c as usize] || c >= 0x80;
    let set = [
        0u8, 1, 0x1f, 0x20, 0x21, b'"', b'#', b'\\', b']', 0x7f, 0x80, 0x81, 0xa0, 0xc3, 0xff,
    ];
    for v in random_words(0x9e37_79b9_7f4a_7c15, 0x2545_f491_4f6c_dd1d, &set) {
        assert_eq!(
            json_first_ascii_end(&v),
            v.iter().position(|&c| ends(c)),
            "{v:?}"
        );
    }
    for len in 0..24 {
        for at in 0..len {
            for c in [0u8, 0x1f, b'"', b'\\', 0x80, 0xc3, 0xff] {
                let mut v: Vec<u8> = (0..len).map(|i| [b'a', 0x7f, b' ', b'~'][i % 4]).collect();
                v[at] = c;
                assert_eq!(
                    json_first_ascii_end(&v),
                    Some(at),
                    "len {len} at {at} byte {c:#x}"
                );
            }
        }
        assert_eq!(json_first_ascii_end(&vec![0x7fu8; len]), None);
    }
}

#[test]
fn first_escape_finds_the_first_byte_needing_an_escape_at_any_position() {
    for len in 0..40 {
        for at in 0..len {
            for c in [0u8, 0x1f, b'"', b'\\'] {
                let mut v = vec![b'a'; len];
                for (i, x) in v.iter_mut().enumerate() {
                    *x = [b'a', 0x7f, b' ', 0xc3, b'!', b'~', b'#', b']'][i % 8];
                }
                v[at] = c;
                assert_eq!(first_escape(&v), Some(at), "len {len} at {at} byte {c:#x}");
            }
        }
        assert_eq!(first_escape(&vec![0x20u8; len]), None);
        assert_eq!(first_escape(&vec![0xffu8; len]), None);
    }
}

/// Headers of the usual shapes (the first five are taken by the fast path: Java 5.5.0's and
/// rocketmq-rust 1.0's send responses as captured, and others; the sixth is not ASCII) and near
/// misses.
const SAMPLE_HEADERS: &[&str] = &[
    r#"{"code":0,"extFields":{"msgId":"7F00000100002A9F0000000000000000","queueId":"0","queueOffset":"0","MSG_REGION":"DefaultRegion","TRACE_ON":"true"},"flag":1,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}"#,
    r#"{"code":0,"flag":1,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}"#,
    r#"{"code":1,"extFields":{},"flag":1,"language":"RUST","opaque":-5,"remark":"topic not exist","serializeTypeCurrentRPC":"JSON","version":401}"#,
    r#"{"code":0,"extFields":{"b":"1","a":"2","ab":"3","aaaaaaaab":"x","aaaaaaaa":"y","aaaaaaaaa":"z","":"e"},"opaque":1,"x":"y","n":12}"#,
    r#"{"code":0,"language":"RUST","version":474,"opaque":7,"flag":1,"remark":null,"extFields":{"MSG_REGION":"DefaultRegion","TRACE_ON":"true","msgId":"7F00000100004E870000000000000000","queueId":"0","queueOffset":"0","transactionId":"7F0000011234000000000A3B1C2D0001"},"serializeTypeCurrentRPC":"JSON"}"#,
    r#"{"opaque":2147483,"language":"GO","code":-999999999,"remark":"","extFields":{"é":"ü","e":"€"}}"#,
    r#"{"code":310,"extFields":{"a":"g","b":"T","c":"TBW102","d":4,"e":"0","i":"UNIQ_KEY\u0001x\u0002"},"flag":0,"language":"RUST","opaque":7,"serializeTypeCurrentRPC":"JSON","version":401}"#,
    r#"{"code":0,"opaque":1,"extFields":{"a":"1","a":"2"}}"#,
    r#"{"code":0,"opaque":1,"extFields":{"a":"1","a":""}}"#,
    r#"{"code":0,"opaque":1,"extFields":{"a":null,"b":true,"c":1.5}}"#,
    r#"{"code":0,"opaque":1,"extFields":{"a":"1"},"extFields":null}"#,
    r#"{"code":2147483647,"opaque":-2147483648,"flag":1234567890,"version":0}"#,
    r#"{"code":0,"opaque":1,"remark":null,"language":12,"u":[1,{"a":2}]}"#,
    r#" {"code":0, "opaque":1} "#,
    r#"{"code":0,"opaque":1,"remark":"a\"b"}"#,
    r#"{"code":-0,"opaque":01}"#,
];

/// 20,000 deterministic mutations of the sample headers (from xorshift state `seed`): one to
/// three times, delete, duplicate or replace a byte with one of `bytes`.
fn mutated_headers(seed: u64, bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut state = seed;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut out = Vec::new();
    for _ in 0..20_000 {
        let mut b = SAMPLE_HEADERS[next(SAMPLE_HEADERS.len())]
            .as_bytes()
            .to_vec();
        for _ in 0..1 + next(3) {
            if b.is_empty() {
                break;
            }
            let i = next(b.len());
            match next(3) {
                0 => {
                    b.remove(i);
                }
                1 => b.insert(i, b[i]),
                _ => b[i] = bytes[next(bytes.len())],
            }
        }
        out.push(b);
    }
    out
}

/// Whatever the fast path takes, the scanner decodes to the same command; the usual headers
/// are taken (a stream of them must not fall to the scanner); and `decode_json_header` gives
/// what the scanner gives, errors included.
#[test]
fn fast_path_agrees_with_the_scanner_on_mutated_headers() {
    let mut taken = 0;
    let mut check = |h: &[u8]| {
        let scanner = decode_json_header_counting(h).0;
        if let Some(fast) = decode_json_header_fast(h) {
            taken += 1;
            assert_eq!(
                Ok(&fast),
                scanner.as_ref(),
                "{}",
                String::from_utf8_lossy(h)
            );
        }
        assert_eq!(
            decode_json_header(h),
            scanner,
            "{}",
            String::from_utf8_lossy(h)
        );
    };
    for h in SAMPLE_HEADERS {
        check(h.as_bytes());
    }
    let mutated = mutated_headers(0x2545_f491_4f6c_dd1d, b"{}[]\":,\\ -.0129aeEnt\x01\xc3");
    for h in &mutated {
        check(h);
    }
    for h in &SAMPLE_HEADERS[..5] {
        assert!(
            decode_json_header_fast(h.as_bytes()).is_some(),
            "{h} fell back"
        );
    }
    for h in &SAMPLE_HEADERS[5..] {
        assert!(
            decode_json_header_fast(h.as_bytes()).is_none(),
            "{h} was taken"
        );
    }
    assert!(taken > 1_000, "the fast path took only {taken} headers");
}

/// The header as the writer wrote it before it planned lengths (byte by byte into a `Vec`),
/// the reference for `writer_matches_the_simple_reference_on_decoded_headers`.
fn reference_header(c: &RemotingCommand) -> Vec<u8> {
    fn json_str(out: &mut Vec<u8>, s: &str) {
        out.push(b'"');
        for &b in s.as_bytes() {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b if b < 0x20 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                b => out.push(b),
            }
        }
        out.push(b'"');
    }
    let mut out = format!("{{\"code\":{}", c.code).into_bytes();
    if !c.ext_fields.is_empty() {
        out.extend_from_slice(b",\"extFields\":{");
        for (i, (k, v)) in c.ext_fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(&mut out, k);
            out.push(b':');
            json_str(&mut out, v);
        }
        out.push(b'}');
    }
    out.extend_from_slice(format!(",\"flag\":{},\"language\":", c.flag).as_bytes());
    match c.language.name() {
        Some(n) => json_str(&mut out, n),
        None => out.extend_from_slice(c.language.code().to_string().as_bytes()),
    }
    out.extend_from_slice(format!(",\"opaque\":{}", c.opaque).as_bytes());
    if let Some(r) = &c.remark {
        out.extend_from_slice(b",\"remark\":");
        json_str(&mut out, r);
    }
    out.extend_from_slice(
        format!(
            ",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":{}}}",
            c.version
        )
        .as_bytes(),
    );
    out
}

/// The planned writer gives the reference's bytes for every command decoded from the sample
/// and mutated headers (escapes anywhere, stores with dropped entries, sorted indexes), and
/// for the same commands with their ext fields pushed in store order.
#[test]
fn writer_matches_the_simple_reference_on_decoded_headers() {
    let mut written = 0;
    let mut out = BytesMut::new();
    let mutated = mutated_headers(0x9e37_79b9_7f4a_7c15, b"{}[]\":,\\ -.0129aeEnt\x01\n");
    for h in SAMPLE_HEADERS
        .iter()
        .map(|h| h.as_bytes())
        .chain(mutated.iter().map(|h| &h[..]))
    {
        let Ok(mut c) = decode_json_header(h) else {
            continue;
        };
        for _ in 0..2 {
            out.clear();
            encode_json_header(&c, &mut out);
            assert_eq!(
                &out[..],
                &reference_header(&c)[..],
                "{}",
                String::from_utf8_lossy(h)
            );
            written += 1;
            c.ext_fields = c.ext_fields.iter().rev().collect();
        }
    }
    assert!(written > 5_000, "only {written} headers written");
}

/// A header of the usual shape keeps its `extFields` text as the store (keys and values with
/// `":"` and `","` between them): reading, changing and writing such a command gives what a
/// command built entry by entry gives.
#[test]
fn ext_fields_kept_as_their_json_text_behave_like_pushed_ones() {
    let h = SAMPLE_HEADERS[0].as_bytes();
    let mut c = decode_json_header_fast(h).expect("the fast path takes the send response");
    let mut built = RemotingCommand {
        ext_fields: c.ext_fields.iter().collect(),
        ..c.clone()
    };
    assert_eq!(c, built);
    assert_eq!(c.ext_fields.get("queueOffset"), Some("0"));
    assert_eq!(c.ext_fields.get("MSG_REGION"), Some("DefaultRegion"));
    assert_eq!(c.ext_fields.get("msgId:"), None);
    let keys: Vec<&str> = c.ext_fields.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        ["MSG_REGION", "TRACE_ON", "msgId", "queueId", "queueOffset"]
    );
    for e in [&mut c.ext_fields, &mut built.ext_fields] {
        e.push("added", "a\"b");
        e.push_int("n", -12);
        e.insert("queueId", "7");
        assert_eq!(e.remove("TRACE_ON").as_deref(), Some("true"));
    }
    assert_eq!(c, built);
    assert_eq!(c.ext_fields.get("queueId"), Some("7"));
    assert_eq!(c.ext_fields.get("n"), Some("-12"));
    let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
    encode_json_header(&c, &mut a);
    encode_json_header(&built, &mut b);
    assert_eq!(a, b);
    assert_eq!(&a[..], &reference_header(&c)[..]);
    c.ext_fields.sort_keep_last(); // a decoded header's fields come out sorted
    assert_eq!(decode_json_header(&a), Ok(c));
}

/// Escapes past the first room (64 bytes) make the writer write the header again with room
/// for the worst case: any number of them, in the ext fields and the remark, after any prefix
/// already in the buffer, gives the reference's bytes.
#[test]
fn headers_with_more_escapes_than_the_first_room_are_written_whole() {
    for n in [0, 1, 12, 13, 63, 64, 65, 200, 2_000] {
        let mut c = RemotingCommand::request(310);
        c.ext_fields.push("k\u{1}", &"\u{1}\"".repeat(n));
        c.ext_fields.push("plain", "v");
        c.remark = Some("\n".repeat(n));
        let mut out = BytesMut::from(&b"prefix"[..]);
        let len = write_json_header(&c, &mut out);
        assert_eq!(len, out.len() - 6, "{n}");
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(&out[6..], &reference_header(&c)[..], "{n}");
    }
}

/// The writer's output for the send request is read back by the fast path... or not: its
/// properties value carries `\u0001` escapes and another value is not ASCII, so the scanner reads
/// it; both give the command.
#[test]
fn written_headers_decode_to_the_command_they_came_from() {
    let mut c = RemotingCommand::request(310);
    c.opaque = 9;
    for (k, v) in [("b", "x"), ("a", "1"), ("MSG", "ü€"), ("i", "K\u{1}V\u{2}")] {
        c.ext_fields.push(k, v);
    }
    c.remark = Some("r\"".into());
    let mut out = BytesMut::new();
    encode_json_header(&c, &mut out);
    c.ext_fields.sort_keep_last();
    assert_eq!(decode_json_header(&out), Ok(c.clone()));
    c.ext_fields.remove("i");
    c.remark = Some("plain".into());
    out.clear();
    encode_json_header(&c, &mut out);
    // Not ASCII ("ü€"): the scanner's.
    assert_eq!(decode_json_header_fast(&out), None);
    assert_eq!(decode_json_header(&out), Ok(c.clone()));
    c.ext_fields.insert("MSG", "plain");
    out.clear();
    encode_json_header(&c, &mut out);
    assert_eq!(decode_json_header_fast(&out), Some(c));
    // Decoded headers whose store keeps bytes of dropped entries (repeats, nulls), and whose
    // index is sorted out of store order, are written again as they were read.
    for h in [
        &br#"{"code":0,"opaque":1,"extFields":{"z":"\"","a":"x\n","a":"y","b":null,"c":"\u0001"}}"#
            [..],
        br#"{"code":0,"opaque":1,"extFields":{"z":"\"","y":"\\","x":"w\t"}}"#,
        br#"{"code":0,"opaque":1,"extFields":{"z":"1","y":2,"x":true,"x":"\r"}}"#,
    ] {
        let c = decode_json_header(h).unwrap();
        out.clear();
        encode_json_header(&c, &mut out);
        assert_eq!(
            decode_json_header(&out),
            Ok(c),
            "{}",
            String::from_utf8_lossy(h)
        );
    }
}

#[test]
fn scanner_is_lenient_like_real_peers() {
    let h = br#" { "opaque" : 7, "code":0, "flag":1, "language":12, "remark":null,
            "extFields":{"queueId":3,"b":true,"z":"x","n":null,"a":"1","a":"2"}, "unknown":[{"x":[1,2.5e3]}],
            "serializeTypeCurrentRPC":"JSON" } "#;
    let c = decode_json_header(h).unwrap();
    assert_eq!(c.opaque, 7);
    assert_eq!(c.language, LanguageCode::Rust);
    assert_eq!(c.remark, None);
    let v: Vec<_> = c.ext_fields.iter().collect();
    assert_eq!(
        v,
        vec![("a", "2"), ("b", "true"), ("queueId", "3"), ("z", "x")]
    );
    assert_eq!(decode_json_header_via_value(h).unwrap(), c);
}

#[test]
fn repeated_ext_keys_resolve_like_serde_json() {
    for h in [
        &br#"{"code":0,"opaque":1,"extFields":{"a":"1","a":1.5,"a":"2"}}"#[..],
        br#"{"code":0,"opaque":1,"extFields":{"a":"1","a":1.5}}"#,
        br#"{"code":0,"opaque":1,"extFields":{"a":[],"a":null,"b":"x"}}"#,
        br#"{"code":0,"opaque":1,"extFields":{"b":"1","a":"2","b":null}}"#,
        br#"{"code":0,"opaque":1,"extFields":{"a":1.5},"extFields":{"z":7}}"#,
        br#"{"code":0,"opaque":1,"x":1e400}"#,
    ] {
        let fast = decode_json_header(h);
        let slow = decode_json_header_via_value(h);
        assert_eq!(fast.is_ok(), slow.is_ok(), "{}", String::from_utf8_lossy(h));
        if let (Ok(a), Ok(b)) = (fast, slow) {
            assert_eq!(a, b);
        }
    }
}

#[test]
fn scanner_errors_name_the_field() {
    assert_eq!(
        decode_json_header(br#"{"opaque":1}"#),
        Err(DecodeError::MissingField("code"))
    );
    assert_eq!(
        decode_json_header(br#"{"code":1,"opaque":1,"flag":"x"}"#),
        Err(DecodeError::InvalidField {
            field: "flag",
            reason: "not an integer"
        })
    );
    assert_eq!(
        decode_json_header(br#"{"code":4294967296,"opaque":1}"#),
        Err(DecodeError::InvalidField {
            field: "code",
            reason: "integer out of i32 range"
        })
    );
    assert!(matches!(
        decode_json_header(br#"{"code":1,"opaque":1}x"#),
        Err(DecodeError::InvalidJson { .. })
    ));
    assert!(matches!(
        decode_json_header(b"{\"code\":1,\"opaque\":1,\"remark\":\"a\x01\"}"),
        Err(DecodeError::InvalidJson { .. })
    ));
}

#[test]
fn float_range_check_without_parsing_agrees_with_serde_json() {
    let big = format!("1{}", "0".repeat(308));
    let bigger = format!("1{}", "0".repeat(309));
    for n in [
        "1e308",
        "1.7e308",
        "1.8e308",
        "9e307",
        "99e307",
        "0.5e309",
        "0e999999999999999999999",
        "1e-400",
        "123456789012345678901234567890",
        "1e99999999999999999999999",
        "-1E+308",
        "-2E+308",
        big.as_str(),
        bigger.as_str(),
        "0.00000000000000000000000001e310",
    ] {
        let h = format!(r#"{{"code":0,"opaque":1,"x":{n}}}"#);
        let fast = decode_json_header(h.as_bytes());
        let slow = decode_json_header_via_value(h.as_bytes());
        assert_eq!(fast.is_ok(), slow.is_ok(), "{n}: {fast:?} vs {slow:?}");
    }
}

#[test]
fn short_integers_read_from_their_digits_agree_with_serde_json() {
    // Up to 18 digits take the fast path, 19 and more the general one: both sides of it, the
    // sign, "-0" (a float for serde_json) and the i32 range of the fields that must fit it.
    for n in [
        "0",
        "-0",
        "7",
        "-7",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "999999999999999999",
        "-999999999999999999",
        "1000000000000000000",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
    ] {
        for h in [
            format!(r#"{{"code":{n},"opaque":1}}"#),
            format!(r#"{{"code":0,"opaque":1,"extFields":{{"k":{n}}}}}"#),
        ] {
            let fast = decode_json_header(h.as_bytes());
            let slow = decode_json_header_via_value(h.as_bytes());
            assert_eq!(fast, slow, "{h}");
        }
    }
}

#[test]
fn strings_end_at_the_first_quote_backslash_or_control_at_any_position() {
    for len in 0..40 {
        let plain = "v".repeat(len);
        for tail in ["", "\\n", "\\u0041", "\\\"", "\u{1}"] {
            let h = format!(r#"{{"code":0,"opaque":1,"remark":"{plain}{tail}x"}}"#);
            let fast = decode_json_header(h.as_bytes());
            let slow = decode_json_header_via_value(h.as_bytes());
            assert_eq!(fast.is_ok(), slow.is_ok(), "{h:?}");
            if let (Ok(a), Ok(b)) = (&fast, &slow) {
                assert_eq!(a, b, "{h:?}");
            }
        }
        let unterminated = format!(r#"{{"code":0,"opaque":1,"remark":"{plain}"#);
        assert!(decode_json_header(unterminated.as_bytes()).is_err());
    }
}

/// In a frame, the send responses of both brokers keep their ext fields in the frame's bytes
/// (no copy), back to back with and without a body; a change copies them out first.
#[test]
fn frame_decoder_shares_a_send_response_store_with_the_frame() {
    use crate::remoting::codec::{decode_frame, FrameLimits};
    let mut buf = BytesMut::new();
    let bodies: [&[u8]; 4] = [b"", b"body", b"", b"x"];
    for (h, body) in SAMPLE_HEADERS[..5].iter().zip(bodies.iter().cycle()) {
        buf.extend_from_slice(&((4 + h.len() + body.len()) as u32).to_be_bytes());
        buf.extend_from_slice(&(h.len() as u32).to_be_bytes());
        buf.extend_from_slice(h.as_bytes());
        buf.extend_from_slice(body);
    }
    let mut got = Vec::new();
    while let Some(c) = decode_frame(&mut buf, &FrameLimits::default()).unwrap() {
        got.push(c);
    }
    assert!(buf.is_empty());
    assert_eq!(got.len(), 5);
    for ((c, h), body) in got
        .iter_mut()
        .zip(SAMPLE_HEADERS)
        .zip(bodies.iter().cycle())
    {
        assert_eq!(&c.body[..], *body);
        let want = decode_json_header(h.as_bytes()).unwrap();
        assert_eq!(c.ext_fields, want.ext_fields, "{h}");
        assert_eq!(c.ext_fields.is_shared(), !want.ext_fields.is_empty(), "{h}");
        c.ext_fields.insert("queueId", "9");
        assert!(!c.ext_fields.is_shared());
        assert_eq!(c.ext("queueId"), Some("9"));
        for (k, v) in want.ext_fields.iter().filter(|(k, _)| *k != "queueId") {
            assert_eq!(c.ext(k), Some(v), "{h}");
        }
    }
    assert_eq!(
        got[0].ext("msgId"),
        Some("7F00000100002A9F0000000000000000")
    );
    assert_eq!(
        got[4].ext("transactionId"),
        Some("7F0000011234000000000A3B1C2D0001")
    );
    assert_eq!(got[4].remark, None);
}
