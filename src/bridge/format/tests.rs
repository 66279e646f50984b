//! Unit tests of [`super`]: JSON strings, base64 and the body against simple oracles.

use super::*;
use base64::Engine as _;
use rocketmq_bridge_test_support::XorShift;

#[test]
fn json_string_escaping_matches_serde_json() {
    let samples = [
        "",
        "plain",
        "quote\" back\\slash",
        "ctl \u{0}\u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f}",
        "ünïcödé ✓ 𝄞",
        "</script>",
        "\"",
        "ab\"",
        "abcdefg\n",
        "abcdefgh\\",
        "abcdefghi\u{1}",
    ];
    for s in samples {
        let mut out = Vec::new();
        write_json_string(&mut out, s);
        assert_eq!(out, serde_json::to_vec(s).unwrap(), "sample {s:?}");
    }
}

#[test]
fn needs_escape_finds_what_a_byte_scan_finds() {
    // Every length to 40 and every placement of one or two bytes that need an escape, among
    // bytes just above and below them (the word tests' borrows), non-ASCII included.
    let needles = [0u8, 0x1f, b'"', b'\\', b'\n'];
    let fill = [b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff, 0x21, b'a'];
    for len in 0..40usize {
        for a in 0..=len {
            for b in a..=len {
                for (k, &needle) in needles.iter().enumerate() {
                    let mut v: Vec<u8> = (0..len).map(|i| fill[(i + k) % fill.len()]).collect();
                    if a < len {
                        v[a] = needle;
                    }
                    if b < len {
                        v[b] = needles[(k + 1) % needles.len()];
                    }
                    let want = v.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\');
                    assert_eq!(needs_escape(&v), want, "{v:?}");
                }
            }
        }
    }
}

#[test]
fn strings_match_serde_json_over_random_text() {
    let seed = 0x5eed_0022;
    let mut rng = XorShift::new(seed);
    let alphabet = [
        'a', 'Z', '0', ' ', '"', '\\', '\n', '\t', '\u{1}', '\u{7f}', 'é', '中', '𝄞',
    ];
    for _ in 0..20_000 {
        let len = rng.below(40) as usize;
        let dense = rng.below(4) == 0;
        let s: String = (0..len)
            .map(|_| {
                let n = if dense { alphabet.len() } else { 4 };
                let c = alphabet[rng.below(n as u64) as usize];
                if !dense && rng.below(16) == 0 {
                    alphabet[rng.below(alphabet.len() as u64) as usize]
                } else {
                    c
                }
            })
            .collect();
        let mut out = b"prefix".to_vec();
        write_json_string(&mut out, &s);
        let mut want = b"prefix".to_vec();
        want.extend(serde_json::to_vec(&s).unwrap());
        assert_eq!(out, want, "seed {seed:#x}, {s:?}");
    }
}

#[test]
fn decimals_print_like_display() {
    for v in [
        0u64,
        1,
        9,
        10,
        99,
        100,
        999,
        1000,
        1_700_000_000_123,
        u64::MAX,
    ] {
        let mut out = Vec::new();
        out.decimal(v);
        assert_eq!(out, v.to_string().into_bytes());
        let mut len = Len(0);
        len.decimal(v);
        assert_eq!(len.0, out.len(), "{v}");
    }
}

#[test]
fn base64_matches_rfc4648_vectors() {
    // RFC 4648 §10 test vectors.
    let vectors = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];
    for (input, want) in vectors {
        let mut out = Vec::new();
        write_base64(&mut out, input.as_bytes());
        assert_eq!(out, format!("\"{want}\"").into_bytes());
    }
}

#[test]
fn base64_matches_the_base64_crate_at_every_length() {
    let seed = 0xba5e_0064;
    let mut rng = XorShift::new(seed);
    for len in 0..300 {
        for _ in 0..8 {
            let data = rng.bytes(len);
            let mut out = Vec::new();
            write_base64(&mut out, &data);
            let want = base64::engine::general_purpose::STANDARD.encode(&data);
            assert_eq!(
                out,
                format!("\"{want}\"").into_bytes(),
                "seed {seed:#x} len {len}"
            );
        }
    }
    // Every byte value in every position of a 6-byte group.
    for pos in 0..6 {
        for b in 0..=255u8 {
            let mut data = [0x5au8; 9];
            data[pos] = b;
            let mut out = Vec::new();
            write_base64(&mut out, &data);
            let want = base64::engine::general_purpose::STANDARD.encode(data);
            assert_eq!(out, format!("\"{want}\"").into_bytes(), "{data:?}");
        }
    }
}

/// Events of every kind with every field known or not, from `rng`.
fn random_event(rng: &mut XorShift, clean: bool) -> Event {
    const KINDS: [EventKind; 7] = [
        EventKind::ClientConnected,
        EventKind::ClientDisconnected,
        EventKind::SessionSubscribed,
        EventKind::SessionUnsubscribed,
        EventKind::MessagePublish,
        EventKind::MessageDelivered,
        EventKind::MessageAcked,
    ];
    let words = [
        "c1",
        "",
        "sensor-17",
        "Zoë",
        "用户 ✓",
        "a/b/#",
        "x\"y",
        "tab\there",
        "\\",
    ];
    let text = |rng: &mut XorShift| {
        if rng.below(5) == 0 {
            return None;
        }
        let n = if clean { 5 } else { words.len() };
        let mut s = String::new();
        for _ in 0..rng.below(4) {
            s.push_str(words[rng.below(n as u64) as usize]);
        }
        Some(s)
    };
    let mut ev = Event::new(KINDS[rng.below(7) as usize]);
    ev.client_id = text(rng);
    ev.username = text(rng);
    ev.topic = text(rng);
    ev.from = text(rng);
    ev.reason = text(rng);
    ev.qos = (rng.below(4) != 0).then(|| [0u8, 1, 2, 200][rng.below(4) as usize]);
    ev.retain = (rng.below(3) != 0).then(|| rng.below(2) == 0);
    ev.payload = (rng.below(6) != 0).then(|| {
        let len = rng.below(80) as usize;
        if rng.below(2) == 0 {
            Bytes::from(rng.bytes(len))
        } else {
            Bytes::from(text(rng).unwrap_or_default())
        }
    });
    ev.ts = Some([0, 9, 10, 1_700_000_000_123, u64::MAX][rng.below(5) as usize]);
    ev
}

#[test]
fn the_length_hint_is_exact_without_escapes_and_the_body_is_the_formatted_event() {
    let seed = 0xb0d1_0022;
    let mut rng = XorShift::new(seed);
    for i in 0..20_000 {
        let ev = random_event(&mut rng, i % 2 == 0);
        for enc in [PayloadEncoding::Base64, PayloadEncoding::Plain] {
            let mut want = Vec::new();
            let info = format_event(&ev, "emqx@127.0.0.1", enc, &mut want);
            let (body, body_info) = format_body(&ev, "emqx@127.0.0.1", enc);
            assert_eq!(body, want, "seed {seed:#x} event {i}");
            assert_eq!(info, body_info);
            let hint = body_len_hint(&ev, "emqx@127.0.0.1", enc, ev.ts.unwrap());
            if i % 2 == 0
                && !info.lossy_payload
                && (enc == PayloadEncoding::Base64
                    || !needs_escape(ev.payload.as_deref().unwrap_or_default()))
            {
                assert_eq!(hint, want.len(), "seed {seed:#x} event {i}: {ev:?}");
            } else {
                assert!(hint <= want.len(), "seed {seed:#x} event {i}: {ev:?}");
            }
        }
    }
}

/// Hostile strings in every text field and the plain payload: every ASCII and Latin-1
/// character alone and inside runs that cross the 8-byte steps, U+2028/U+2029, DEL, U+FFFD,
/// the highest scalar, empty values, long strings with an escape at each position; invalid
/// UTF-8 plain payloads (lone continuation bytes, truncated and overlong sequences, encoded
/// surrogates); and payloads of a few MiB. The body (exact-length path) and `format_event`
/// are serde_json's strings and the base64 crate's text in the documented layout.
#[test]
fn hostile_strings_and_payloads_format_like_serde_json() {
    fn oracle(ev: &Event, node: &str, enc: PayloadEncoding) -> Vec<u8> {
        let s = |v: &Option<String>| {
            v.as_ref()
                .map_or("null".to_string(), |v| serde_json::to_string(v).unwrap())
        };
        let payload = match (&ev.payload, enc) {
            (None, _) => "null".to_string(),
            (Some(p), PayloadEncoding::Base64) => format!(
                "\"{}\"",
                base64::engine::general_purpose::STANDARD.encode(p)
            ),
            (Some(p), _) => serde_json::to_string(&String::from_utf8_lossy(p)).unwrap(),
        };
        format!(
            "{{\"client_id\":{},\"username\":{},\"from\":{},\"topic\":{},\"payload\":{},\"qos\":{},\"node\":{},\"ts\":{}}}",
            s(&ev.client_id),
            s(&ev.username),
            s(&ev.from),
            s(&ev.topic),
            payload,
            ev.qos.map_or("null".to_string(), |q| q.to_string()),
            serde_json::to_string(node).unwrap(),
            ev.ts.unwrap()
        )
        .into_bytes()
    }
    let mut texts: Vec<String> = Vec::new();
    for c in (0u32..0x100).chain([0x2028, 0x2029, 0x7f, 0xfffd, 0x10ffff]) {
        let c = char::from_u32(c).unwrap();
        texts.push(c.to_string());
        for len in [3usize, 7, 8, 9, 15, 16, 17, 31, 33] {
            texts.push(std::iter::repeat_n(c, len).collect());
            texts.push(format!("{}{c}", "a".repeat(len)));
            texts.push(format!("{c}{}", "é".repeat(len)));
        }
    }
    for len in 0..40 {
        for at in 0..=len {
            for esc in ["\"", "\\", "\n", "\u{1f}", "\u{0}"] {
                let mut t = "ab€cd".repeat(len).chars().take(len).collect::<String>();
                let at = t.char_indices().nth(at).map_or(t.len(), |(i, _)| i);
                t.insert_str(at, esc);
                texts.push(t);
            }
        }
    }
    let mut payloads: Vec<Vec<u8>> = vec![
        vec![],
        b"\x80".to_vec(),
        b"\xbf\xbf".to_vec(),
        b"a\xc3".to_vec(),
        b"\xe2\x82".to_vec(),
        b"\xf0\x9f\x98".to_vec(),
        b"\xc0\xaf".to_vec(),
        b"\xe0\x80\xaf".to_vec(),
        b"\xed\xa0\x80\xed\xb0\x80".to_vec(),
        b"\xf4\x90\x80\x80".to_vec(),
        b"\xff\xfe\x00\"\\".to_vec(),
        (0..=255u8).collect(),
        (0..=255u8).rev().cycle().take(4099).collect(),
    ];
    payloads.extend(texts.iter().take(400).map(|t| t.as_bytes().to_vec()));
    let big = (1 << 20) + 5;
    payloads.push(vec![b'q'; big]);
    payloads.push((0..big).map(|i| (i * 7 % 256) as u8).collect());
    payloads.push("\"é\u{2028}".repeat(big / 6).into_bytes());
    let mut checked = 0;
    let mut check = |ev: &Event, i: usize| {
        for enc in [PayloadEncoding::Base64, PayloadEncoding::Plain] {
            {
                let node = ["n1", "", "nœud\u{1}\""][i % 3];
                let want = oracle(ev, node, enc);
                let (body, _) = format_body(ev, node, enc);
                assert!(body[..] == want[..], "{ev:?} {enc:?} {node:?}");
                let mut out = b"x".to_vec();
                format_event(ev, node, enc, &mut out);
                assert!(out[1..] == want[..], "{ev:?} {enc:?} {node:?}");
                checked += 1;
            }
        }
    };
    for (i, t) in texts.iter().enumerate() {
        let mut ev = Event::new(EventKind::MessageDelivered);
        ev.client_id = Some(t.clone());
        ev.username = Some(texts[(i * 7) % texts.len()].clone());
        ev.from = (i % 3 != 0).then(String::new);
        ev.topic = Some(texts[(i * 13 + 5) % texts.len()].clone());
        ev.qos = [None, Some(0), Some(255)][i % 3];
        ev.ts = Some([0, 9, 10, 99_999_999, 100_000_000, u64::MAX][i % 6]);
        ev.payload = Some(Bytes::from(t.clone().into_bytes()));
        check(&ev, i);
    }
    for (i, p) in payloads.into_iter().enumerate() {
        let mut ev = Event::new(EventKind::MessageDelivered);
        ev.ts = Some(1_700_000_000_000 + i as u64);
        ev.payload = Some(Bytes::from(p));
        check(&ev, i);
    }
    assert!(checked > 10_000, "{checked}");
}
