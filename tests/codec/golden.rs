//! Golden byte vectors for every frame kind we send and receive, both directions, from the protocol
//! reference §14 (replayed against a live rocketmq-rust 1.0 broker) plus binary-header versions
//! derived by hand with one field per line. Every golden frame is also decoded when split at every
//! offset and byte by byte, and the JSON scanner is checked against the `serde_json::Value` decoder.

use bytes::{BufMut, Bytes, BytesMut};
use rocketmq_bridge::remoting::codec::header_json::{
    decode_json_header, decode_json_header_via_value,
};
use rocketmq_bridge::remoting::codec::{
    decode_frame, encode_frame, encode_frame_head, DecodeError, EncodeError, FrameLimits,
};
use rocketmq_bridge::remoting::{ExtFields, LanguageCode, RemotingCommand, SerializeType};

/// Parses a readable byte spec: hex pairs, `"ascii"` literals, whitespace and `//` comments.
fn spec(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in s.lines() {
        let line = match line.find("//") {
            Some(i) if !line[..i].contains('"') || line[..i].matches('"').count() % 2 == 0 => {
                &line[..i]
            }
            _ => line,
        };
        let mut rest = line.trim();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('"') {
                let end = r.find('"').expect("unterminated literal in spec");
                out.extend_from_slice(&r.as_bytes()[..end]);
                rest = r[end + 1..].trim_start();
            } else {
                let (tok, r) = rest.split_at(
                    rest.find(|c: char| c.is_whitespace() || c == '"')
                        .unwrap_or(rest.len()),
                );
                assert!(tok.len() % 2 == 0, "odd hex token {tok:?}");
                for i in (0..tok.len()).step_by(2) {
                    out.push(u8::from_str_radix(&tok[i..i + 2], 16).unwrap());
                }
                rest = r.trim_start();
            }
        }
    }
    out
}

/// Builds a command field by field.
#[allow(clippy::too_many_arguments)]
fn cmd(
    code: i32,
    language: LanguageCode,
    version: i32,
    opaque: i32,
    flag: i32,
    remark: Option<&str>,
    ext: &[(&str, &str)],
    body: &[u8],
    st: SerializeType,
) -> RemotingCommand {
    let mut c = RemotingCommand::request(code);
    c.language = language;
    c.version = version;
    c.opaque = opaque;
    c.flag = flag;
    c.remark = remark.map(str::to_owned);
    c.ext_fields = ext.iter().copied().collect::<ExtFields>();
    c.body = Bytes::copy_from_slice(body);
    c.serialize_type = st;
    c
}

/// JSON frame from a header text and body: the prefix words are computed by the test only as
/// `4 + header + body` and asserted against the literal lengths given by the case.
fn json_frame(total_len: u32, header: &str, body: &[u8]) -> Vec<u8> {
    assert_eq!(
        total_len as usize,
        4 + header.len() + body.len(),
        "literal total_len is wrong"
    );
    let mut v = Vec::new();
    v.put_u32(total_len);
    v.put_u32(header.len() as u32);
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(body);
    v
}

const SEND_EXT: [(&str, &str); 12] = [
    ("a", "test_producer_group"),
    ("b", "MessagePublish"),
    ("c", "TBW102"),
    ("d", "4"),
    ("e", "0"),
    ("f", "0"),
    ("g", "1700000000000"),
    ("h", "0"),
    (
        "i",
        "UNIQ_KEY\u{1}7F0000011234000000000A3B1C2D0001\u{2}WAIT\u{1}true\u{2}",
    ),
    ("j", "0"),
    ("k", "false"),
    ("m", "false"),
];

const RESP_EXT: [(&str, &str); 5] = [
    ("msgId", "7F00000100002A9F0000000000000000"),
    ("queueId", "0"),
    ("queueOffset", "0"),
    ("MSG_REGION", "DefaultRegion"),
    ("TRACE_ON", "true"),
];

const HEARTBEAT_BODY: &str = r#"{"clientID":"127.0.0.1@4660#1700000000000000000","consumerDataSet":[],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"test_producer_group"},{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false}"#;

/// One golden frame: `decode(bytes) == decoded`; when `encoded_from` is set, `encode(it) == bytes`.
struct Golden {
    name: &'static str,
    bytes: Vec<u8>,
    decoded: RemotingCommand,
    encoded_from: Option<RemotingCommand>,
}

fn sorted(ext: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut v = ext.to_vec();
    v.sort();
    v
}

fn goldens() -> Vec<Golden> {
    use LanguageCode::*;
    use SerializeType::*;
    let mut g = Vec::new();

    // 14.1: SEND_MESSAGE_V2, JSON header, body "hello" (347 bytes, continuous hex from the reference).
    let send_v2 = cmd(310, Rust, 401, 1, 0, None, &SEND_EXT, b"hello", Json);
    g.push(Golden {
        name: "send_v2_json_14_1",
        bytes: spec("000001570000014e7b22636f6465223a3331302c226578744669656c6473223a7b2261223a22746573745f70726f64756365725f67726f7570222c2262223a224d6573736167655075626c697368222c2263223a22544257313032222c2264223a2234222c2265223a2230222c2266223a2230222c2267223a2231373030303030303030303030222c2268223a2230222c2269223a22554e49515f4b45595c753030303137463030303030313132333430303030303030303041334231433244303030315c7530303032574149545c7530303031747275655c7530303032222c226a223a2230222c226b223a2266616c7365222c226d223a2266616c7365227d2c22666c6167223a302c226c616e6775616765223a2252555354222c226f7061717565223a312c2273657269616c697a655479706543757272656e74525043223a224a534f4e222c2276657273696f6e223a3430317d68656c6c6f"),
        decoded: send_v2.clone(),
        encoded_from: Some(send_v2),
    });

    // 14.2: GET_ROUTEINFO_BY_TOPIC, JSON (144 bytes).
    let route = cmd(
        105,
        Rust,
        401,
        2,
        0,
        None,
        &[("topic", "MessagePublish")],
        b"",
        Json,
    );
    g.push(Golden {
        name: "route_json_14_2",
        bytes: json_frame(
            0x8c,
            r#"{"code":105,"extFields":{"topic":"MessagePublish"},"flag":0,"language":"RUST","opaque":2,"serializeTypeCurrentRPC":"JSON","version":401}"#,
            b"",
        ),
        decoded: route.clone(),
        encoded_from: Some(route),
    });

    // 14.3: the same request with the binary ROCKETMQ header (54 bytes).
    let route_bin = cmd(
        105,
        Rust,
        401,
        2,
        0,
        None,
        &[("topic", "MessagePublish")],
        b"",
        RocketMq,
    );
    g.push(Golden {
        name: "route_binary_14_3",
        bytes: spec(
            "00000032            // total_len 50 = 4 + 46
             01 00002e           // serialize type 1 (ROCKETMQ), header_len 46
             0069                // code 105
             0c                  // language RUST
             0191                // version 401
             00000002            // opaque 2
             00000000            // flag 0 (request)
             00000000            // remark_len 0 (null)
             00000019            // ext_len 25
             0005 \"topic\"      // key_len 5, key
             0000000e \"MessagePublish\" // val_len 14, value",
        ),
        decoded: route_bin.clone(),
        encoded_from: Some(route_bin),
    });

    // 14.5: a successful send response. The decoder gives ext fields sorted by key (as the
    // serde_json Value path does); the encoder keeps insertion order, which reproduces the bytes.
    let resp_hdr = r#"{"code":0,"extFields":{"msgId":"7F00000100002A9F0000000000000000","queueId":"0","queueOffset":"0","MSG_REGION":"DefaultRegion","TRACE_ON":"true"},"flag":1,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}"#;
    assert_eq!(resp_hdr.len(), 231);
    g.push(Golden {
        name: "send_response_json_14_5",
        bytes: json_frame(0xeb, resp_hdr, b""),
        decoded: cmd(0, Java, 479, 1, 1, None, &sorted(&RESP_EXT), b"", Json),
        encoded_from: Some(cmd(0, Java, 479, 1, 1, None, &RESP_EXT, b"", Json)),
    });

    // SEND_MESSAGE_V2 of 14.1 with the binary header (237 bytes), derived by hand from
    // RocketMQSerializable.rocketMQProtocolEncode.
    let send_v2_bin = cmd(310, Rust, 401, 1, 0, None, &SEND_EXT, b"hello", RocketMq);
    g.push(Golden {
        name: "send_v2_binary",
        bytes: spec(
            "000000e9            // total_len 233 = 4 + 224 + 5
             01 0000e0           // ROCKETMQ, header_len 224 = 17 + 4 + 203
             0136                // code 310
             0c                  // language RUST
             0191                // version 401
             00000001            // opaque 1
             00000000            // flag 0
             00000000            // remark_len 0
             000000cb            // ext_len 203
             0001 \"a\" 00000013 \"test_producer_group\"
             0001 \"b\" 0000000e \"MessagePublish\"
             0001 \"c\" 00000006 \"TBW102\"
             0001 \"d\" 00000001 \"4\"
             0001 \"e\" 00000001 \"0\"
             0001 \"f\" 00000001 \"0\"
             0001 \"g\" 0000000d \"1700000000000\"
             0001 \"h\" 00000001 \"0\"
             0001 \"i\" 00000034 \"UNIQ_KEY\" 01 \"7F0000011234000000000A3B1C2D0001\" 02 \"WAIT\" 01 \"true\" 02
             0001 \"j\" 00000001 \"0\"
             0001 \"k\" 00000005 \"false\"
             0001 \"m\" 00000005 \"false\"
             \"hello\"           // body",
        ),
        decoded: send_v2_bin.clone(),
        encoded_from: Some(send_v2_bin),
    });

    // The 14.5 response with the binary header (151 bytes); binary keeps the wire order.
    let resp_bin = cmd(0, Java, 479, 1, 1, None, &RESP_EXT, b"", RocketMq);
    g.push(Golden {
        name: "send_response_binary",
        bytes: spec(
            "00000093            // total_len 147 = 4 + 143
             01 00008f           // ROCKETMQ, header_len 143 = 21 + 122
             0000                // code 0 SUCCESS
             00                  // language JAVA
             01df                // version 479
             00000001            // opaque 1
             00000001            // flag 1 (response)
             00000000            // remark_len 0
             0000007a            // ext_len 122
             0005 \"msgId\"       00000020 \"7F00000100002A9F0000000000000000\"
             0007 \"queueId\"     00000001 \"0\"
             000b \"queueOffset\" 00000001 \"0\"
             000a \"MSG_REGION\"  0000000d \"DefaultRegion\"
             0008 \"TRACE_ON\"    00000004 \"true\"",
        ),
        decoded: resp_bin.clone(),
        encoded_from: Some(resp_bin),
    });

    // 14.6: HEART_BEAT (34) with no ext fields (the member is omitted) and the 208-byte body.
    assert_eq!(HEARTBEAT_BODY.len(), 208);
    let hb = cmd(
        34,
        Rust,
        401,
        3,
        0,
        None,
        &[],
        HEARTBEAT_BODY.as_bytes(),
        Json,
    );
    g.push(Golden {
        name: "heartbeat_json_14_6",
        bytes: json_frame(
            0x134,
            r#"{"code":34,"flag":0,"language":"RUST","opaque":3,"serializeTypeCurrentRPC":"JSON","version":401}"#,
            HEARTBEAT_BODY.as_bytes(),
        ),
        decoded: hb.clone(),
        encoded_from: Some(hb),
    });

    // Our answer to a request the peer initiated (reference §12): code 3, flag 1, same opaque.
    let not_supported = cmd(
        3,
        Rust,
        401,
        7777,
        1,
        Some(" request type 221 not supported"),
        &[],
        b"",
        Json,
    );
    g.push(Golden {
        name: "not_supported_response_json",
        bytes: json_frame(
            0x91,
            r#"{"code":3,"flag":1,"language":"RUST","opaque":7777,"remark":" request type 221 not supported","serializeTypeCurrentRPC":"JSON","version":401}"#,
            b"",
        ),
        decoded: not_supported.clone(),
        encoded_from: Some(not_supported),
    });

    // A oneway request (flag 2) we send, e.g. UNREGISTER_CLIENT-style traffic.
    let oneway = cmd(
        35,
        Rust,
        401,
        9,
        2,
        None,
        &[("clientID", "c1"), ("producerGroup", "g")],
        b"",
        Json,
    );
    g.push(Golden {
        name: "oneway_request_json",
        bytes: json_frame(
            0x96,
            r#"{"code":35,"extFields":{"clientID":"c1","producerGroup":"g"},"flag":2,"language":"RUST","opaque":9,"serializeTypeCurrentRPC":"JSON","version":401}"#,
            b"",
        ),
        decoded: oneway.clone(),
        encoded_from: Some(oneway),
    });

    // Receive-only: a route-not-found answer as rocketmq-rust 1.0 writes it (reference §17: `null`
    // members, language RUST, version 474) — the decoder must accept `null` remark/extFields.
    g.push(Golden {
        name: "route_not_found_rust_style",
        bytes: json_frame(
            0xa3,
            r#"{"code":17,"extFields":null,"flag":1,"language":"RUST","opaque":2,"remark":"No topic route info in name server","serializeTypeCurrentRPC":"JSON","version":474}"#,
            b"",
        ),
        decoded: cmd(17, Rust, 474, 2, 1, Some("No topic route info in name server"), &[], b"", Json),
        encoded_from: None,
    });

    // Receive-only: what the lenient decoder accepts from other peers: any key order, whitespace,
    // language as a number, ext values as JSON numbers and booleans (the Erlang client), a null
    // remark, an unknown member and a trailing newline.
    g.push(Golden {
        name: "lenient_json_variants",
        bytes: json_frame(
            0x9d,
            "{ \"opaque\": 5, \"flag\": 1, \"code\": 0,\n  \"language\": 9, \"remark\": null, \"unknown\": [1, {\"x\": null}],\n  \"extFields\": {\"queueId\": 3, \"k\": false, \"z\": \"s\"} }\n",
            b"",
        ),
        decoded: cmd(0, Go, 0, 5, 1, None, &[("k", "false"), ("queueId", "3"), ("z", "s")], b"", Json),
        encoded_from: None,
    });

    // Receive-only: a request the broker initiates (CHECK_TRANSACTION_STATE, oneway) with a body.
    g.push(Golden {
        name: "peer_oneway_request_json",
        bytes: json_frame(
            0x84,
            r#"{"code":39,"extFields":{"msgId":"M1"},"flag":2,"language":"JAVA","opaque":77,"serializeTypeCurrentRPC":"JSON","version":479}"#,
            b"half",
        ),
        decoded: cmd(39, Java, 479, 77, 2, None, &[("msgId", "M1")], b"half", Json),
        encoded_from: None,
    });
    g
}

fn lim() -> FrameLimits {
    FrameLimits::default()
}

#[test]
fn golden_frames_decode_to_their_commands_and_leave_the_sentinel() {
    for g in goldens() {
        let mut buf = BytesMut::from(&g.bytes[..]);
        buf.extend_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]);
        let got = decode_frame(&mut buf, &lim()).unwrap_or_else(|e| panic!("{}: {e}", g.name));
        assert_eq!(got.as_ref(), Some(&g.decoded), "{}", g.name);
        assert_eq!(
            &buf[..],
            &[0xDE, 0xAD, 0xBE, 0xEF],
            "{}: decoder must stop at its frame",
            g.name
        );
        // The sentinel read as a length is far over the limit: refused, and nothing consumed.
        assert_eq!(
            decode_frame(&mut buf, &lim()),
            Err(DecodeError::FrameTooLarge {
                len: 0xDEAD_BEEF + 4,
                max: 16 * 1024 * 1024
            }),
            "{}",
            g.name
        );
        assert_eq!(buf.len(), 4);
    }
}

#[test]
fn golden_commands_encode_to_their_bytes() {
    let mut n = 0;
    for g in goldens() {
        let Some(c) = &g.encoded_from else { continue };
        let mut buf = BytesMut::new();
        buf.put_slice(b"pre"); // encoding appends
        encode_frame(c, &mut buf, &lim()).unwrap();
        assert_eq!(
            &buf[3..],
            &g.bytes[..],
            "{}:\n got {:02x?}\nwant {:02x?}",
            g.name,
            &buf[3..],
            g.bytes
        );
        n += 1;
    }
    assert_eq!(n, 9);
}

/// The head alone (what a connection writes before a large body from the body's own buffer)
/// followed by the body is the golden frame, byte for byte; and with a body too large for the
/// limit the head is refused as the whole frame is, leaving the buffer as it was.
#[test]
fn golden_heads_and_their_bodies_are_the_golden_frames() {
    let mut n = 0;
    for g in goldens() {
        let Some(c) = &g.encoded_from else { continue };
        let mut buf = BytesMut::new();
        buf.put_slice(b"pre");
        encode_frame_head(c, &mut buf, &lim()).unwrap();
        buf.extend_from_slice(&c.body);
        assert_eq!(&buf[3..], &g.bytes[..], "{}", g.name);
        let mut big = c.clone();
        big.body = Bytes::from(vec![b'x'; lim().max_frame_len]);
        let mut buf = BytesMut::from(&b"pre"[..]);
        assert!(matches!(
            encode_frame_head(&big, &mut buf, &lim()),
            Err(EncodeError::FrameTooLarge { .. })
        ));
        assert_eq!(&buf[..], b"pre", "{}", g.name);
        n += 1;
    }
    assert_eq!(n, 9);
}

#[test]
fn golden_frames_decode_when_split_at_every_offset() {
    for g in goldens() {
        for cut in 0..=g.bytes.len() {
            let mut buf = BytesMut::new();
            buf.extend_from_slice(&g.bytes[..cut]);
            let first = decode_frame(&mut buf, &lim()).unwrap();
            if cut < g.bytes.len() {
                assert_eq!(first, None, "{} cut at {cut}", g.name);
                assert_eq!(
                    buf.len(),
                    cut,
                    "{}: partial input must not be consumed",
                    g.name
                );
                buf.extend_from_slice(&g.bytes[cut..]);
                let second = decode_frame(&mut buf, &lim()).unwrap();
                assert_eq!(second.as_ref(), Some(&g.decoded), "{} cut at {cut}", g.name);
            } else {
                assert_eq!(first.as_ref(), Some(&g.decoded), "{}", g.name);
            }
            assert!(buf.is_empty(), "{} cut at {cut}", g.name);
        }
    }
}

#[test]
fn golden_frames_decode_when_fed_byte_by_byte_back_to_back() {
    // All goldens in one stream, one byte at a time: each comes out exactly once, in order.
    let all = goldens();
    let stream: Vec<u8> = all.iter().flat_map(|g| g.bytes.iter().copied()).collect();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for &b in &stream {
        buf.put_u8(b);
        while let Some(c) = decode_frame(&mut buf, &lim()).unwrap() {
            out.push(c);
        }
    }
    assert!(buf.is_empty());
    assert_eq!(out.len(), all.len());
    for (c, g) in out.iter().zip(&all) {
        assert_eq!(c, &g.decoded, "{}", g.name);
    }
}

#[test]
fn json_scanner_equals_the_value_decoder_on_all_goldens() {
    let mut n = 0;
    for g in goldens() {
        if g.decoded.serialize_type != SerializeType::Json {
            continue;
        }
        let header_len =
            u32::from_be_bytes([g.bytes[4], g.bytes[5], g.bytes[6], g.bytes[7]]) as usize;
        let h = &g.bytes[8..8 + header_len];
        let a = decode_json_header(h).unwrap();
        let b = decode_json_header_via_value(h).unwrap();
        assert_eq!(a, b, "{}", g.name);
        n += 1;
    }
    assert_eq!(n, 9);
}

#[test]
fn decoded_goldens_round_trip_through_the_encoder() {
    for g in goldens() {
        let mut buf = BytesMut::new();
        encode_frame(&g.decoded, &mut buf, &lim()).unwrap();
        let again = decode_frame(&mut buf, &lim()).unwrap();
        assert_eq!(again.as_ref(), Some(&g.decoded), "{}", g.name);
    }
}

/// The fuzz targets' seed corpus (`fuzz/corpus/`) holds exactly these goldens and hand-written
/// seeds, byte for byte. `WRITE_FUZZ_SEEDS=1 cargo test --test codec golden::fuzz_seeds` rewrites it
/// after the goldens changed.
#[test]
fn fuzz_seeds_match_the_goldens() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let rewrite = std::env::var_os("WRITE_FUZZ_SEEDS").is_some();
    let mut goldens_checked = 0usize;
    let mut write = |target: &str, name: &str, bytes: &[u8]| {
        let d = root.join(target);
        if rewrite {
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(name), bytes).unwrap();
        } else {
            let on_disk = std::fs::read(d.join(name))
                .unwrap_or_else(|e| panic!("fuzz/corpus/{target}/{name}: {e}"));
            assert_eq!(
                on_disk, bytes,
                "fuzz/corpus/{target}/{name} differs from its golden"
            );
        }
        goldens_checked += usize::from(name.starts_with("golden_"));
    };
    for g in goldens() {
        write("decode_frame", &format!("golden_{}", g.name), &g.bytes);
        let header_len = u32::from_be_bytes([g.bytes[4], g.bytes[5], g.bytes[6], g.bytes[7]])
            as usize
            & 0xFF_FFFF;
        let h = &g.bytes[8..8 + header_len];
        match g.decoded.serialize_type {
            SerializeType::Json => write("decode_header_json", &format!("golden_{}", g.name), h),
            SerializeType::RocketMq => {
                write("decode_header_binary", &format!("golden_{}", g.name), h)
            }
        }
    }
    // Hand-written minimal seeds per kind.
    write(
        "decode_header_json",
        "min_request",
        br#"{"code":1,"opaque":1}"#,
    );
    write(
        "decode_header_json",
        "nulls",
        br#"{"code":0,"opaque":0,"remark":null,"extFields":null,"language":null}"#,
    );
    write(
        "decode_header_json",
        "escapes",
        br#"{"code":0,"opaque":0,"remark":"\u00e9\ud83d\ude00\n\"","extFields":{"\u0001":"\/"}}"#,
    );
    write(
        "decode_header_binary",
        "min",
        &spec("0000 00 0000 00000000 00000000 00000000 00000000"),
    );
    write(
        "decode_frame",
        "min_binary",
        &spec("00000019 01000015 0000 00 0000 00000000 00000000 00000000 00000000"),
    );
    write("decode_frame", "too_large", &spec("80000000 00000000"));
    // Crashers (`crash_*`) and fuzzer finds sit next to the seeds; only `golden_*` must all come
    // from a golden.
    let on_disk: usize = ["decode_frame", "decode_header_json", "decode_header_binary"]
        .iter()
        .flat_map(|t| std::fs::read_dir(root.join(t)).unwrap())
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("golden_")
        })
        .count();
    assert_eq!(
        on_disk, goldens_checked,
        "fuzz/corpus holds golden_ seeds no golden writes"
    );
}
