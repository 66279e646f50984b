//! Attacks on the issue #22 codec changes: the word-at-a-time JSON writer against a byte-by-byte
//! reference of the writer it replaced (escapes at every word position, more escapes than the
//! writer's reserved room, long remarks), the frame encoder's limits (cut back on error, exactly at
//! and one past the cap), and the one-pass decode fast path against the scanner and serde_json on
//! hostile headers (33 ext fields, repeated keys, top-level names inside `extFields`, truncation and
//! invalid UTF-8 at every offset).

use bytes::BytesMut;
use rocketmq_bridge::remoting::codec::header_json::{
    decode_json_header, decode_json_header_fast, encode_json_header,
};
use rocketmq_bridge::remoting::codec::oracle::check_json_header;
use rocketmq_bridge::remoting::codec::{decode_frame, encode_frame, EncodeError, FrameLimits};
use rocketmq_bridge::remoting::{ExtFields, LanguageCode, RemotingCommand, SerializeType};

/// The string writer before issue #22 (`git show 4a892aa:src/remoting/codec/header_json.rs`,
/// `write_json_str`), byte by byte.
fn old_json_str(out: &mut Vec<u8>, s: &str) {
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

/// The whole header as the pre-#22 `encode_json_header` wrote it.
fn old_header(c: &RemotingCommand) -> Vec<u8> {
    let mut out = format!("{{\"code\":{}", c.code).into_bytes();
    if !c.ext_fields.is_empty() {
        out.extend_from_slice(b",\"extFields\":{");
        for (i, (k, v)) in c.ext_fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            old_json_str(&mut out, k);
            out.push(b':');
            old_json_str(&mut out, v);
        }
        out.push(b'}');
    }
    out.extend_from_slice(format!(",\"flag\":{},\"language\":", c.flag).as_bytes());
    match c.language.name() {
        Some(n) => old_json_str(&mut out, n),
        None => out.extend_from_slice(c.language.code().to_string().as_bytes()),
    }
    out.extend_from_slice(format!(",\"opaque\":{}", c.opaque).as_bytes());
    if let Some(r) = &c.remark {
        out.extend_from_slice(b",\"remark\":");
        old_json_str(&mut out, r);
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

struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    /// A string of `len` chars, `dirty` in 8 of them a byte that needs an escape.
    fn string(&mut self, len: usize, dirty: usize) -> String {
        const ESC: [char; 8] = [
            '"', '\\', '\n', '\u{0}', '\u{1f}', '\u{8}', '\u{c}', '\u{1}',
        ];
        const PLAIN: [char; 6] = ['a', 'Z', ' ', '\u{7f}', 'é', '€'];
        (0..len)
            .map(|_| {
                if self.next(8) < dirty {
                    ESC[self.next(ESC.len())]
                } else {
                    PLAIN[self.next(PLAIN.len())]
                }
            })
            .collect()
    }
}

/// Appends `cmd` to a buffer that already holds bytes (so the writer starts mid-buffer, with
/// spare capacity of its own), and checks the prefix is kept and the header equals the old one.
fn check_written(cmd: &RemotingCommand, pre: &[u8]) {
    let want = old_header(cmd);
    let mut out = BytesMut::with_capacity(pre.len() + 3);
    out.extend_from_slice(pre);
    encode_json_header(cmd, &mut out);
    assert_eq!(&out[..pre.len()], pre, "prefix changed");
    assert_eq!(
        &out[pre.len()..],
        &want[..],
        "{}",
        String::from_utf8_lossy(&want)
    );
    // And a whole frame: the header bytes and the length words as the old encoder wrote them.
    let mut frame = BytesMut::new();
    frame.extend_from_slice(pre);
    let mut c = cmd.clone();
    c.body = bytes::Bytes::from_static(b"BODY");
    encode_frame(&c, &mut frame, &FrameLimits::default()).unwrap();
    let f = &frame[pre.len()..];
    assert_eq!(
        &f[..4],
        &((4 + want.len() + 4) as u32).to_be_bytes(),
        "total length"
    );
    assert_eq!(
        &f[4..8],
        &(want.len() as u32).to_be_bytes(),
        "header length"
    );
    assert_eq!(&f[8..8 + want.len()], &want[..]);
    assert_eq!(&f[8 + want.len()..], b"BODY");
}

/// Escapes at every word offset, more escapes than the 64 bytes of room the writer keeps (so it
/// grows mid-string, in ext keys, ext values and the remark), strings of every length around the
/// 8-byte word and the 16-byte slack, and unnamed languages.
#[test]
fn writer_matches_the_pre_22_writer_on_hostile_strings() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut n = 0;
    for round in 0..1_500 {
        let mut c = RemotingCommand::request(rng.next(1 << 20) as i32 - (1 << 19));
        c.opaque = [i32::MIN, i32::MAX, -1, 0, 7][round % 5];
        c.flag = rng.next(4) as i32;
        c.version = [0, 479, i32::MAX, i32::MIN][round % 4];
        c.language = LanguageCode::from_code(rng.next(20) as u8);
        let fields = rng.next(6);
        for _ in 0..fields {
            let (kl, vl) = (
                rng.next(40),
                rng.next(if round % 7 == 0 { 400 } else { 40 }),
            );
            let (kd, vd) = (rng.next(9), rng.next(9));
            let k = rng.string(kl, kd);
            let v = rng.string(vl, vd);
            c.ext_fields.push(&k, &v);
        }
        if rng.next(2) == 0 {
            let len = rng.next(if round % 5 == 0 { 600 } else { 30 });
            let dirty = rng.next(9);
            c.remark = Some(rng.string(len, dirty));
        }
        let pre_len = rng.next(20);
        check_written(&c, &b"0123456789abcdefghij"[..pre_len]);
        n += 1;
    }
    // Entirely escapes: 5 extra bytes per char, far past the reserved room.
    for len in [1, 12, 13, 64, 65, 300, 5_000] {
        let mut c = RemotingCommand::request(1);
        let s = "\u{1}".repeat(len);
        c.ext_fields.push(&s, &s);
        c.remark = Some("\u{0}\"".repeat(len));
        check_written(&c, b"");
        n += 1;
    }
    // Every string length 0..=40, the escape at every position.
    for len in 0..=40 {
        for at in 0..=len {
            let mut s: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"
                .chars()
                .take(len)
                .collect();
            if at < len {
                s[at] = '\u{1f}';
            }
            let s: String = s.into_iter().collect();
            let mut c = RemotingCommand::request(2);
            c.ext_fields.push(&s, &s);
            c.ext_fields.push("k", &s);
            c.remark = Some(s.clone());
            check_written(&c, b"pp");
            n += 1;
        }
    }
    assert!(n > 2_000);
}

/// Ext fields edited after they were built (insert in place, remove, collected from an iterator)
/// are written as the old writer wrote them.
#[test]
fn writer_matches_the_pre_22_writer_after_edits() {
    let mut ext: ExtFields = [("b", "1"), ("a", "x\ny"), ("c", "")].into_iter().collect();
    ext.insert("a", "much longer value with \"quotes\" and \\ and \t tabs");
    ext.insert("z", "new");
    ext.remove("b");
    ext.push("a", "repeat");
    let mut c = RemotingCommand::request(10);
    c.ext_fields = ext;
    check_written(&c, b"");
}

/// A JSON frame exactly at the frame cap encodes; one byte over is refused with the buffer cut
/// back to what it held (the writer's reservation and slack removed too), for growth through
/// escapes as well.
#[test]
fn json_frame_at_and_over_the_cap() {
    for escapes in [false, true] {
        let mut c = RemotingCommand::request(1);
        c.remark = Some(if escapes {
            "\u{1}".repeat(50)
        } else {
            "r".repeat(50)
        });
        let mut probe = BytesMut::new();
        encode_frame(&c, &mut probe, &FrameLimits::default()).unwrap();
        let len = probe.len();
        for (max, ok) in [(len, true), (len - 1, false)] {
            let lim = FrameLimits { max_frame_len: max };
            let mut dst = BytesMut::from(&b"keep"[..]);
            let r = encode_frame(&c, &mut dst, &lim);
            if ok {
                assert_eq!(r, Ok(()));
                assert_eq!(&dst[4..], &probe[..]);
                let mut src = BytesMut::from(&dst[4..]);
                let back = decode_frame(&mut src, &lim).unwrap().unwrap();
                assert_eq!(back.remark, c.remark);
                // One byte shorter a cap and the decoder refuses the same frame.
                let mut src = BytesMut::from(&dst[4..]);
                let short = FrameLimits {
                    max_frame_len: max - 1,
                };
                assert!(decode_frame(&mut src, &short).is_err());
            } else {
                assert_eq!(r, Err(EncodeError::FrameTooLarge { len, max }));
                assert_eq!(&dst[..], b"keep", "not cut back");
            }
        }
    }
}

/// Header bytes for the hostile-header checks.
fn hostile_headers() -> Vec<Vec<u8>> {
    let ext = |n: usize, f: &dyn Fn(usize) -> String| {
        let members: Vec<String> = (0..n).map(f).collect();
        format!(
            r#"{{"code":1,"opaque":2,"extFields":{{{}}},"flag":0}}"#,
            members.join(",")
        )
        .into_bytes()
    };
    let mut v = vec![
        // At and one past the fast path's 32 ext fields, distinct and repeated.
        ext(32, &|i| format!(r#""k{i:02}":"v{i}""#)),
        ext(33, &|i| format!(r#""k{i:02}":"v{i}""#)),
        ext(32, &|i| format!(r#""k{}":"v{i}""#, i % 31)),
        ext(33, &|i| format!(r#""k{}":"v{i}""#, 32 - i)),
        // Keys sharing an 8-byte prefix, longer than it, equal up to the last byte.
        ext(20, &|i| {
            format!(
                r#""aaaaaaaaaaaaaaaa{}":"{i}""#,
                (b'a' + (i % 7) as u8) as char
            )
        }),
        ext(3, &|i| format!(r#""aaaaaaaa{}":"{i}""#, "a".repeat(i))),
        ext(2, &|_| r#""aaaaaaaab":"1""#.to_string()),
        // Top-level names as ext keys, and ext keys at top level.
        ext(6, &|i| {
            let k = ["code", "opaque", "extFields", "remark", "language", "flag"][i];
            format!(r#""{k}":"{i}""#)
        }),
        br#"{"code":1,"opaque":2,"queueId":"3","extFields":{"queueId":"4"}}"#.to_vec(),
        // Repeated top-level members, each kind.
        br#"{"code":1,"opaque":2,"code":3,"opaque":4}"#.to_vec(),
        br#"{"code":1,"opaque":2,"remark":"a","remark":"b","language":"GO","language":"JAVA"}"#
            .to_vec(),
        br#"{"code":1,"opaque":2,"extFields":{"a":"1"},"extFields":{"b":"2"}}"#.to_vec(),
        br#"{"code":1,"opaque":2,"extFields":{},"extFields":{}}"#.to_vec(),
        br#"{"code":1,"opaque":2,"extFields":{"a":"1"},"extFields":null}"#.to_vec(),
        br#"{"code":1,"opaque":2,"remark":"a","remark":null}"#.to_vec(),
        br#"{"code":1,"opaque":2,"flag":5,"flag":null}"#.to_vec(),
        // Numbers at the fast path's 9 digits and past, signs, zeros.
        br#"{"code":999999999,"opaque":-999999999}"#.to_vec(),
        br#"{"code":1000000000,"opaque":-1000000000}"#.to_vec(),
        br#"{"code":2147483648,"opaque":1}"#.to_vec(),
        br#"{"code":-0,"opaque":1}"#.to_vec(),
        br#"{"code":00,"opaque":1}"#.to_vec(),
        br#"{"code":1,"opaque":1,"x":-}"#.to_vec(),
        br#"{"code":1,"opaque":1,"x":1.0}"#.to_vec(),
        br#"{"code":1,"opaque":1,"x":1e5}"#.to_vec(),
        br#"{"code":1,"opaque":1,"x":12345678901234567890123}"#.to_vec(),
        // Escapes and quotes at word ends and at the end of the header.
        br#"{"code":1,"opaque":1,"remark":"1234567\""}"#.to_vec(),
        br#"{"code":1,"opaque":1,"remark":"12345678\\"}"#.to_vec(),
        br#"{"code":1,"opaque":1,"remark":"\u0041"}"#.to_vec(),
        br#"{"code":1,"opaque":1,"remark":"\ud83d\ude00"}"#.to_vec(),
        br#"{"code":1,"opaque":1,"remark":"\ud83d"}"#.to_vec(),
        b"{\"code\":1,\"opaque\":1,\"remark\":\"a\x7fb\"}".to_vec(),
        // Whitespace the fast path does not take.
        b"{\"code\":1,\"opaque\":1}\n".to_vec(),
        b"{\"code\":1, \"opaque\":1}".to_vec(),
        b"\t{\"code\":1,\"opaque\":1}".to_vec(),
        // Language as a number, and names unknown.
        br#"{"code":1,"opaque":1,"language":12}"#.to_vec(),
        br#"{"code":1,"opaque":1,"language":"NOPE"}"#.to_vec(),
        br#"{"code":1,"opaque":1,"language":""}"#.to_vec(),
        // Deep nesting in an unknown member, at and past the cap.
        format!(
            r#"{{"code":1,"opaque":1,"u":{}1{}}}"#,
            "[".repeat(99),
            "]".repeat(99)
        )
        .into_bytes(),
        format!(
            r#"{{"code":1,"opaque":1,"u":{}1{}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        )
        .into_bytes(),
    ];
    // Truncated at every offset, and one invalid UTF-8 byte at every offset, of a usual header.
    let usual = br#"{"code":310,"extFields":{"a":"g","b":"T","c":"TBW102","msgId":"7F0000010000"},"flag":0,"language":"RUST","opaque":7,"remark":"rx","serializeTypeCurrentRPC":"JSON","version":401}"#;
    for i in 0..usual.len() {
        v.push(usual[..i].to_vec());
        for bad in [0xffu8, 0xc3, 0x80, 0x00, b'"', b'\\'] {
            let mut h = usual.to_vec();
            h[i] = bad;
            v.push(h);
        }
    }
    v
}

/// Every hostile header through the fuzz oracle: the fast path, when it takes one, agrees with
/// the scanner; the scanner with serde_json; accepted headers round-trip through the writer.
#[test]
fn fast_path_agrees_on_hostile_headers() {
    let mut taken = 0;
    for h in hostile_headers() {
        if decode_json_header_fast(&h).is_some() {
            taken += 1;
        }
        check_json_header(&h);
    }
    assert!(taken > 10, "fast path took only {taken}");
    // The fast path gives up on 33 fields and on repeats; the result is the same all the same.
    let h = hostile_headers();
    assert!(decode_json_header_fast(&h[0]).is_some());
    assert!(decode_json_header_fast(&h[1]).is_none());
    assert_eq!(decode_json_header(&h[1]).unwrap().ext_fields.len(), 33);
    assert!(decode_json_header_fast(&h[2]).is_none());
    assert_eq!(decode_json_header(&h[2]).unwrap().ext_fields.len(), 31);
    let c = decode_json_header(&h[7]).unwrap();
    assert_eq!(c.code, 1);
    assert_eq!(c.ext("code"), Some("0"));
    assert_eq!(c.ext("extFields"), Some("2"));
    assert_eq!(c.serialize_type, SerializeType::Json);
}

/// A JSON frame whose header length word lies (one shorter, one longer than the header), and the
/// header cut at every length: errors or a command, never a panic, and the body is what follows
/// the announced header.
#[test]
fn lying_header_lengths_in_json_frames() {
    let mut c = RemotingCommand::request(5);
    c.ext_fields.push("k", "v\"");
    c.body = bytes::Bytes::from_static(b"}xyz");
    let mut good = BytesMut::new();
    encode_frame(&c, &mut good, &FrameLimits::default()).unwrap();
    let hl = u32::from_be_bytes(good[4..8].try_into().unwrap()) as usize;
    for announced in 0..hl + 4 {
        let mut f = good.clone();
        f[4..8].copy_from_slice(&(announced as u32).to_be_bytes());
        let mut src = f.clone();
        if let Ok(Some(d)) = decode_frame(&mut src, &FrameLimits::default()) {
            assert_eq!(announced, hl, "a header of {announced} bytes decoded");
            assert_eq!(d.body, c.body);
        }
        // Delivered byte by byte: never a command before the whole frame is there.
        let mut src = BytesMut::new();
        for (i, &b) in f.iter().enumerate() {
            src.extend_from_slice(&[b]);
            match decode_frame(&mut src, &FrameLimits::default()) {
                Ok(None) => assert!(i + 1 < f.len()),
                Ok(Some(_)) | Err(_) => {
                    assert_eq!(i + 1, f.len());
                    break;
                }
            }
        }
    }
}

/// Random `extFields` of 0 to 40 members whose keys share bytes (a prefix of another, multi-byte
/// characters that share their first byte, the empty key) and sometimes repeat: the fast path,
/// which now keeps the ExtFields sorted as it goes (inline index up to 8, then on the heap),
/// agrees with the scanner wherever it takes a header, takes every one without repeats of at
/// most 32 members, and the decoded set edits and re-encodes like a set built by hand.
#[test]
fn fast_path_sorted_ext_fields_agree_with_the_scanner_on_random_members() {
    use rocketmq_bridge::remoting::codec::header_json::decode_json_header_counting;
    let mut rng = rocketmq_bridge_test_support::XorShift::new(0x0e22_a77c);
    let keys = [
        "",
        "a",
        "aa",
        "ab",
        "b",
        // The highest ASCII byte and JSON's punctuation inside keys (the fast path takes ASCII
        // only; non-ASCII keys are the scanner's, see `header_json::tests`).
        "\u{7f}",
        "}",
        "{a",
        "aaaaaaaaa",
        "aaaaaaaab",
        "Z",
        "~",
    ];
    let mut taken = 0;
    for _ in 0..4_000 {
        let n = rng.below(41) as usize;
        let repeats = rng.below(3) == 0;
        let mut members: Vec<(String, String)> = Vec::new();
        for i in 0..n {
            let k = if repeats || i >= keys.len() {
                format!("{}{}", keys[rng.below(keys.len() as u64) as usize], i % 13)
            } else {
                keys[i].to_string()
            };
            let k = if repeats { k } else { format!("{k}#{i}") };
            members.push((k, "v".repeat(rng.below(12) as usize) + &i.to_string()));
        }
        // Shuffle.
        for i in (1..members.len()).rev() {
            members.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| format!(r#""{k}":"{v}""#))
            .collect();
        let h = format!(
            r#"{{"code":10,"extFields":{{{}}},"opaque":3,"flag":1}}"#,
            body.join(",")
        )
        .into_bytes();
        let slow = decode_json_header_counting(&h).0.unwrap();
        let distinct = {
            let mut k: Vec<&String> = members.iter().map(|m| &m.0).collect();
            k.sort();
            k.dedup();
            k.len() == members.len()
        };
        match decode_json_header_fast(&h) {
            Some(fast) => {
                taken += 1;
                assert_eq!(fast, slow, "{}", String::from_utf8_lossy(&h));
                let want: Vec<(&str, &str)> = slow.ext_fields.iter().collect();
                assert_eq!(fast.ext_fields.iter().collect::<Vec<_>>(), want);
                // Edits after decoding behave as on a set built entry by entry.
                let mut built = ExtFields::new();
                for (k, v) in &want {
                    built.push(k, v);
                }
                let mut got = fast.ext_fields.clone();
                for e in [&mut got, &mut built] {
                    e.insert("a#1", "new");
                    e.insert("zzz", "last");
                    e.remove("b#4");
                    e.push("é#5", "pushed");
                }
                assert_eq!(got, built);
                assert_eq!(got.to_sorted_map(), built.to_sorted_map());
                let mut cmd = fast.clone();
                cmd.ext_fields = got;
                let mut out = BytesMut::new();
                encode_json_header(&cmd, &mut out);
                let back = decode_json_header(&out).unwrap();
                assert_eq!(
                    back.ext_fields.to_sorted_map(),
                    cmd.ext_fields.to_sorted_map()
                );
                // The frame decoder's command shares its store with the frame: the same
                // command, and the same after the same edits.
                let mut frame = BytesMut::new();
                frame.extend_from_slice(&((4 + h.len() + 4) as u32).to_be_bytes());
                frame.extend_from_slice(&(h.len() as u32).to_be_bytes());
                frame.extend_from_slice(&h);
                frame.extend_from_slice(b"body");
                let mut framed = decode_frame(&mut frame, &FrameLimits::default())
                    .unwrap()
                    .unwrap();
                assert!(frame.is_empty());
                assert_eq!(&framed.body[..], b"body");
                framed.body = Default::default();
                assert_eq!(framed, slow);
                for (k, v) in &want {
                    assert_eq!(framed.ext(k), Some(*v));
                }
                let e = &mut framed.ext_fields;
                e.insert("a#1", "new");
                e.insert("zzz", "last");
                e.remove("b#4");
                e.push("é#5", "pushed");
                assert_eq!(framed.ext_fields, built);
            }
            None => assert!(!distinct || n > 32, "{}", String::from_utf8_lossy(&h)),
        }
    }
    assert!(taken > 1_000, "fast path took only {taken}");
}
