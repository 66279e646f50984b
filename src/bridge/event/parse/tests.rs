//! Tests of the line parser: the streaming parser against the value-tree parser, the fast path
//! against serde, and parsing into a reused event.

use super::*;

/// Lines for the parser comparison: every shape of the input format, good and bad.
const SAMPLE_LINES: &[&str] = &[
    r#"{"event":"client.connected","client_id":"c1","username":"u1","ts":1700000000000}"#,
    r#"{"event":"message.publish","client_id":"c-9","username":"u","topic":"s/1/t","payload":"x=1;y=2","qos":1,"retain":false,"ts":0}"#,
    " {\t\"event\" :\r\n\"client.connected\" , \"ts\" : 12 ,\"zz\":true}\n",
    "{\t\"event\" :\r\n\"message.publish\",\"qos\":10,\"qos\":01}",
    r#"{"event":"client.disconnected","client_id":"c1","username":"u1","reason":"normal"}"#,
    r#"{"event":"session.subscribed","client_id":"c1","topic":"a/+/#","qos":2}"#,
    r#"{"event":"session.unsubscribed","client_id":"c1","topic":"a/b","qos":0,"ts":5}"#,
    r#"{"event":"message.publish","client_id":"c1","username":"u","topic":"t/1","qos":1,"retain":true,"payload":"h\u00e9\"llo\n"}"#,
    r#"{"event":"message.delivered","client_id":"c2","from":"c1","topic":"t/1","qos":1,"payload_base64":"AAEC/w=="}"#,
    r#"{"event":"message.acked","client_id":"c2","username":null,"from":"c1","topic":"t","qos":null,"retain":null,"ts":null}"#,
    r#" { "event" : "message.publish" , "qos" : -0 , "ts" : 0 } "#,
    r#"{"event":"message.publish","qos":1,"qos":7}"#,
    r#"{"event":"message.publish","qos":7,"qos":1}"#,
    r#"{"event":"client.connected","zz":1,"topic":"t","aa":[1,{"b":2}]}"#,
    r#"{"event":"client.connected","topic":"t","from":"x"}"#,
    r#"{"event":"message.publish","ts":18446744073709551615,"qos":2.0}"#,
    r#"{"event":"message.publish","ts":18446744073709551616}"#,
    r#"{"event":"message.publish","ts":1e3}"#,
    r#"{"event":"message.publish","topic":"a/#","payload":5}"#,
    r#"{"event":"message.publish","payload":"a","payload_base64":"YQ=="}"#,
    r#"{"event":"message.publish","payload_base64":"YQ"}"#,
    r#"{"event":"message.publish","retain":"yes","qos":"1"}"#,
    r#"{"event":"session.subscribed","topic":"a\u0000b"}"#,
    r#"{"event":"message.dropped"}"#,
    r#"{"event":7}"#,
    r#"{"event":null,"client_id":"c"}"#,
    r#"{"client_id":"c1"}"#,
    r#"["client.connected"]"#,
    r#"[1,2"#,
    r#""client.connected""#,
    r#"12"#,
    r#"true"#,
    r#"null"#,
    r#"{}"#,
    r#"{"event":"client.connected"} x"#,
    r#"{"event":"client.connected""#,
    r#"{"event":"client.connected",}"#,
    r#"{"event":"client.connected","client_id":"\ud800"}"#,
    r#"{"event":"client.connected","client_id":"\ud83d\ude00"}"#,
    r#"{"event":"client.connected","client_id":"bad \q escape"}"#,
    "",
    "   ",
];

/// 20,000 deterministic mutations of the sample lines (from xorshift state `seed`): one to
/// three times, delete, duplicate or replace a byte with one of `bytes`; those still UTF-8.
fn mutated_lines(seed: u64, bytes: &[u8]) -> Vec<String> {
    let mut state = seed;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut out = Vec::new();
    for _ in 0..20_000 {
        let mut b = SAMPLE_LINES[next(SAMPLE_LINES.len())].as_bytes().to_vec();
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
        if let Ok(line) = String::from_utf8(b) {
            out.push(line);
        }
    }
    out
}

/// The streaming parser gives exactly what parsing into a `serde_json::Value` first gave:
/// the same events, and the same errors (kind, field, JSON error message and column), on the
/// sample lines and on thousands of mutations of them.
#[test]
fn streaming_parser_matches_the_value_tree_parser() {
    let check = |line: &str| {
        assert_eq!(
            Event::from_json_line(line, 3),
            Event::from_json_line_via_value(line, 3),
            "line {line:?}"
        );
    };
    for line in SAMPLE_LINES {
        check(line);
    }
    let lines = mutated_lines(0x2545_f491_4f6c_dd1d, b"{}[]\":,\\ -.0129aeEnt\x01");
    for line in &lines {
        check(line);
    }
    assert!(
        lines.len() > 15_000,
        "only {} mutated lines were UTF-8",
        lines.len()
    );
}

/// Parsing line after line into one reused event gives, after each good line, exactly the event
/// a fresh parse gives (no field of an earlier line survives), and the same errors.
#[test]
fn parsing_into_a_reused_event_matches_a_fresh_parse() {
    let mut ev = Event::new(EventKind::ClientConnected);
    ev.order_key = Some("left over".to_owned());
    // Mutated lines (mostly bad), interleaved with good lines of every kind that carry a
    // different subset of that kind's fields each.
    let mutated = mutated_lines(0x51_7cc1_b727_220a, b"{}[]\":,\\ -.0129aeEnt");
    let mut lines = Vec::new();
    for (i, bad) in mutated.iter().enumerate().take(4_000) {
        let kind = EventKind::ALL[i % EventKind::ALL.len()];
        let mut fields = vec![format!("\"event\":\"{}\"", kind.hook_name())];
        for (j, name) in kind.fields().iter().enumerate() {
            if (i / EventKind::ALL.len()) >> j & 1 == 0 {
                continue;
            }
            let value = match *name {
                "qos" => (i % 3).to_string(),
                "ts" => i.to_string(),
                "retain" => (i % 2 == 0).to_string(),
                "payload_base64" => "\"aGk=\"".to_owned(),
                _ => format!("\"{name}-{i}\""),
            };
            fields.push(format!("\"{name}\":{value}"));
        }
        lines.push(format!("{{{}}}", fields.join(",")));
        lines.push(bad.clone());
    }
    let mut good = 0;
    for (i, line) in SAMPLE_LINES
        .iter()
        .copied()
        .chain(lines.iter().map(String::as_str))
        .enumerate()
    {
        let fresh = Event::from_json_line(line, 7);
        let reused = ev.read_json_line(line, 7);
        match fresh {
            Ok(fresh) => {
                assert_eq!(reused, Ok(()), "line {i}: {line:?}");
                assert_eq!(ev, fresh, "line {i}: {line:?}");
                good += 1;
            }
            Err(e) => assert_eq!(reused, Err(e), "line {i}: {line:?}"),
        }
    }
    assert!(good > 2_000, "only {good} good lines");
}

/// The fast path's raw values of `line`, or `None` when it leaves the line to serde_json.
fn fast_raw(line: &str) -> Option<RawLine<'_>> {
    let mut raw = RawLine::default();
    fast_raw_line(line, &mut raw).map(|()| raw)
}

/// serde_json's raw values of `line` (what the fast path must give), or `None` when it refuses
/// the line.
fn serde_raw(line: &str) -> Option<RawLine<'_>> {
    let mut de = serde_json::Deserializer::from_str(line);
    serde_core::Deserializer::deserialize_any(&mut de, LineVisitor)
        .and_then(|raw| de.end().map(|()| raw))
        .ok()
        .flatten()
}

/// Every path agrees on `line`: when the fast path takes it, its raw values are serde's, and the
/// event (or error) is the value-tree parser's. True when the fast path took it.
fn assert_paths_agree(line: &str, line_no: u64) -> bool {
    let fast = fast_raw(line);
    if let Some(fast) = &fast {
        let slow = serde_raw(line).unwrap_or_else(|| panic!("serde refuses {line:?}"));
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{line:?}");
    }
    assert_eq!(
        Event::from_json_line(line, line_no),
        Event::from_json_line_via_value(line, line_no),
        "{line:?}"
    );
    fast.is_some()
}

/// The hand-written path gives the serde path's raw values for every line it takes, and it
/// takes the usual lines (a stream of them must not fall back to serde_json).
#[test]
fn the_fast_path_matches_the_serde_path_and_takes_the_usual_lines() {
    let mut taken = 0;
    let mut check = |line: &str| {
        if let Some(fast) = fast_raw(line) {
            taken += 1;
            let slow = serde_raw(line).unwrap_or_else(|| panic!("serde refuses {line:?}"));
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "line {line:?}");
        }
    };
    for line in SAMPLE_LINES {
        check(line);
    }
    for line in &SAMPLE_LINES[..3] {
        assert!(fast_raw(line).is_some(), "{line:?} fell back");
    }
    // Valid escapes, a surrogate pair included, stay on the fast path.
    for line in [SAMPLE_LINES[7], SAMPLE_LINES[38]] {
        assert!(line.contains('\\'), "{line:?}");
        assert!(fast_raw(line).is_some(), "{line:?} fell back");
    }
    for line in &mutated_lines(0x9e37_79b9_7f4a_7c15, b"{}[]\":,\\ -.0129aeEnt\x01\t") {
        check(line);
    }
    assert!(taken > 2_000, "the fast path took only {taken} lines");
}

/// Hand-picked sequences for the reused event (issue #22 review): each field set by one line
/// (borrowed from the fast path, or owned through serde for an escaped value), then a line that
/// fails after some fields were already overwritten (a bad topic, qos, ts, payload pair or
/// base64), then a good line without those fields. After every line the reused event equals a
/// fresh parse; after an error, the next good line leaves nothing of the failed one or of the
/// last good one, also when the host changed `ts` and `order_key` in between (as `send_mut`
/// sets `ts`).
#[test]
fn reused_event_keeps_nothing_across_errors_payload_kinds_and_owned_values() {
    let full = [
        r#"{"event":"message.publish","client_id":"c1","username":"u1","topic":"t/1","payload":"p1","qos":2,"retain":true,"ts":11}"#,
        r#"{"event":"message.delivered","client_id":"c\u0032","username":"\"u2\"","from":"f\n","topic":"t/\u00e9","payload_base64":"AAEC","qos":1,"ts":22}"#,
        r#"{"event":"client.disconnected","client_id":"longer client id than before","username":"u","reason":"r"}"#,
        r#"{"event":"message.acked","client_id":"c4","from":"f4","topic":"t/4","payload":"h\u00e9llo","qos":0,"retain":false}"#,
    ];
    let failing = [
        // Fields before the failing one are overwritten before it fails.
        r#"{"event":"message.publish","client_id":"BAD1","username":"BAD1","topic":"a/#","payload":"BAD"}"#,
        r#"{"event":"message.publish","client_id":"BAD2","topic":"t","qos":3}"#,
        r#"{"event":"message.publish","client_id":"BAD3","topic":"t","qos":1,"retain":true,"ts":-1}"#,
        r#"{"event":"message.publish","client_id":"BAD4","topic":"t","qos":1,"ts":5,"payload":"x","payload_base64":"eA=="}"#,
        r#"{"event":"message.publish","client_id":"BAD5","topic":"t","qos":1,"ts":5,"payload_base64":"!!"}"#,
        r#"{"event":"message.publish","client_id":"BAD6","topic":"t","qos":1,"ts":5,"payload":"x"} trailing"#,
        r#"{"event":"client.connected","client_id":"BAD7","topic":"t"}"#,
        r#"{"event":"message.publish","client_id":"BAD8","topic":"t","qos":1,"ts":5,"payload":7}"#,
        r#"{"event":"session.subscribed","client_id":"BAD9","topic":"a\u0000b"}"#,
    ];
    let sparse = [
        r#"{"event":"client.connected"}"#,
        r#"{"event":"message.publish","topic":"x"}"#,
        r#"{"event":"session.unsubscribed","client_id":"s","topic":"a/+"}"#,
        r#"{"event":"message.publish","payload":""}"#,
    ];
    let mut ev = Event::new(EventKind::ClientConnected);
    let mut steps = 0;
    for a in full {
        for bad in failing {
            for b in sparse {
                for line in [a, bad, b] {
                    let fresh = Event::from_json_line(line, 1);
                    let reused = ev.read_json_line(line, 1);
                    match fresh {
                        Ok(fresh) => {
                            assert_ne!(line, bad, "a failing line parsed");
                            assert_eq!(reused, Ok(()), "{a} | {bad} | {line}");
                            assert_eq!(ev, fresh, "{a} | {bad} | {line}");
                            // What a host may change between lines.
                            ev.ts.get_or_insert(99);
                            ev.order_key = Some("stale".to_owned());
                        }
                        Err(e) => {
                            assert!(line == bad, "a good line failed: {line}: {e}");
                            assert_eq!(reused, Err(e), "{line}");
                        }
                    }
                    steps += 1;
                }
                let c = ev.client_id.as_deref().unwrap_or("");
                assert!(!c.starts_with("BAD"), "{a} | {bad} | {b}: {ev:?}");
            }
        }
    }
    assert_eq!(steps, 4 * 9 * 4 * 3);
}

/// A reused event does not keep a huge buffer from one hostile line for every later line: after
/// a line with 1 MiB values, the next lines' short values sit in buffers of about their own size
/// (before, the five text fields could each hold twice the largest value ever seen, up to
/// 5 x 2 x `MAX_EVENT_LINE_LEN` for the life of the pump).
#[test]
fn reused_event_does_not_hold_a_huge_line_s_buffers() {
    let big = "x".repeat(1 << 20);
    let huge = format!(
        r#"{{"event":"message.delivered","client_id":"{big}","username":"{big}","from":"{big}","topic":"{big}"}}"#
    );
    let small =
        r#"{"event":"message.delivered","client_id":"c","username":"u","from":"f","topic":"t"}"#;
    let mut ev = Event::new(EventKind::ClientConnected);
    ev.read_json_line(small, 1).unwrap();
    ev.read_json_line(&huge, 2).unwrap();
    assert_eq!(ev.client_id.as_deref(), Some(big.as_str()));
    ev.read_json_line(small, 3).unwrap();
    assert_eq!(ev, Event::from_json_line(small, 3).unwrap());
    for s in [&ev.client_id, &ev.username, &ev.from, &ev.topic] {
        let cap = s.as_ref().unwrap().capacity();
        assert!(cap <= 4096, "a 1-byte value kept {cap} bytes");
    }
}

/// The mask of fields that apply to each kind is its `fields()` plus `event`, and `Field::of`
/// knows every name and nothing else of the same lengths.
#[test]
fn field_masks_and_names_agree_with_the_kinds() {
    for kind in EventKind::ALL {
        let want = kind
            .fields()
            .iter()
            .map(|name| Field::of(name).unwrap().bit())
            .fold(Field::Event.bit(), |m, b| m | b);
        assert_eq!(field_mask(kind), want, "{kind}");
    }
    for f in Field::ALL {
        assert_eq!(Field::of(f.name()), Some(f));
        let mut near = f.name().as_bytes().to_vec();
        for i in 0..near.len() {
            near[i] ^= 0x20;
            assert_eq!(Field::of(std::str::from_utf8(&near).unwrap()), None);
            near[i] ^= 0x20;
        }
        assert_eq!(Field::of(&f.name()[1..]), None);
        assert_eq!(Field::of(&format!("{}x", f.name())), None);
    }
    assert_eq!(Field::of(""), None);
}

/// An escape (valid or not, surrogates included), a quote, a control character or a non-ASCII
/// character at every offset of a key
/// and of a value (so on both sides of every 8-byte step of the scanner and in its byte-by-byte
/// tail), and strings that end exactly at a step: the fast path gives serde's raw values or
/// leaves the line to serde, and the event is the value-tree parser's.
#[test]
fn strings_with_escapes_at_every_offset_match_serde() {
    let inserts = [
        "\\\"",
        "\\\\",
        "\\n",
        "\\u00e9",
        "\\u00E9",
        "\\/",
        "\\b\\f\\r\\t",
        "\\ud83d\\ude00",
        "\\ud83d\\u0041",
        "\\ud83dx",
        "\\ud83d",
        "\\udc00",
        "\\u0000",
        "\\u12",
        "\\u12g4",
        "\\x",
        "\\",
        "\"",
        "\u{1}",
        "é",
        "\u{1F600}",
        "\t",
    ];
    let mut taken = 0;
    for len in 0..26 {
        for at in 0..=len {
            for ins in inserts {
                let mut text: String = "abcdefghijklmnopqrstuvwxyz"[..len].to_owned();
                text.insert_str(at, ins);
                for line in [
                    format!(r#"{{"event":"message.publish","payload":"{text}","qos":1}}"#),
                    format!(r#"{{"event":"message.publish","topic":"{text}"}}"#),
                    format!(r#"{{"event":"client.connected","{text}":1}}"#),
                    format!(r#"{{"event":"message.publish","payload":"{text}"}}"#),
                ] {
                    taken += usize::from(assert_paths_agree(&line, 2));
                }
            }
        }
    }
    assert!(taken > 1_000, "the fast path took only {taken} lines");
}

/// The topic check finds a NUL and the wildcards at every offset (both sides of each 8-byte step
/// and in the tail), NUL first when there are both, and the wildcards only in message events.
#[test]
fn check_topic_finds_nul_and_wildcards_at_every_offset() {
    for len in 1..30 {
        for at in 0..len {
            let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            for (c, why) in [
                (0u8, Some("contains NUL")),
                (b'+', None),
                (b'#', None),
                (b'/', Some("")),
            ] {
                let mut t = base.clone();
                t[at] = c;
                let topic = std::str::from_utf8(&t).unwrap();
                for kind in EventKind::ALL {
                    let got = check_topic(kind, topic);
                    let want = match why {
                        Some("") => Ok(()),
                        Some(w) => Err(EventErrorKind::InvalidTopic(w)),
                        None if kind.is_message_event() => Err(EventErrorKind::InvalidTopic(
                            "a message's topic name cannot contain the wildcards '+' or '#'",
                        )),
                        None => Ok(()),
                    };
                    assert_eq!(got, want, "{kind} {topic:?}");
                }
                // A NUL anywhere wins over a wildcard anywhere.
                if c != 0 {
                    let mut both = t.clone();
                    both[(at + len / 2) % len] = 0;
                    if both[at] == c || c == b'/' {
                        let topic = std::str::from_utf8(&both).unwrap();
                        assert_eq!(
                            check_topic(EventKind::MessagePublish, topic),
                            Err(EventErrorKind::InvalidTopic("contains NUL")),
                            "{topic:?}"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(
        check_topic(EventKind::SessionSubscribed, ""),
        Err(EventErrorKind::InvalidTopic("is empty"))
    );
}

/// A reused event copies a text payload of the last one's length into the last one's buffer
/// only when nothing else holds that buffer: a payload the host (or the bridge) kept is never
/// written to. Other lengths, empty payloads and base64 payloads get buffers of their own.
#[test]
fn reused_event_reuses_the_payload_buffer_only_when_no_one_holds_it() {
    let line = |p: &str| format!(r#"{{"event":"message.publish","topic":"t","payload":"{p}"}}"#);
    let mut ev = Event::new(EventKind::ClientConnected);
    ev.read_json_line(&line("aaaa"), 1).unwrap();
    let first = ev.payload.as_ref().unwrap().as_ptr();
    ev.read_json_line(&line("bbbb"), 2).unwrap();
    assert_eq!(ev.payload.as_deref(), Some(&b"bbbb"[..]));
    assert_eq!(ev.payload.as_ref().unwrap().as_ptr(), first, "not reused");
    // Held elsewhere: the held payload keeps its bytes.
    let held = ev.payload.clone().unwrap();
    ev.read_json_line(&line("cccc"), 3).unwrap();
    assert_eq!(&held[..], b"bbbb");
    assert_eq!(ev.payload.as_deref(), Some(&b"cccc"[..]));
    drop(held);
    for (i, p) in ["", "", "dd", "eeeeee", "ffffff", "h\\u00e9ll", "h\\u00e9ll"]
        .iter()
        .enumerate()
    {
        let l = line(p);
        ev.read_json_line(&l, 4 + i as u64).unwrap();
        assert_eq!(ev, Event::from_json_line(&l, 4 + i as u64).unwrap(), "{l}");
    }
    let b64 = r#"{"event":"message.publish","topic":"t","payload_base64":"aGk="}"#;
    ev.read_json_line(b64, 20).unwrap();
    assert_eq!(ev.payload.as_deref(), Some(&b"hi"[..]));
    ev.read_json_line(&line("xy"), 21).unwrap();
    assert_eq!(ev.payload.as_deref(), Some(&b"xy"[..]));
}

/// Keys that are a field's name, a prefix or an extension of one, or one byte off, as the first
/// and as a later key: the fast path's by-name comparison gives serde's raw values and the
/// value-tree parser's event or error.
#[test]
fn keys_near_the_field_names_match_serde() {
    let mut keys = Vec::new();
    for f in Field::ALL {
        let name = f.name();
        keys.push(name.to_owned());
        keys.push(format!("{name}x"));
        keys.push(format!("{name}_base64"));
        keys.push(name[..name.len() - 1].to_owned());
        keys.push(format!("{name}\\u0041"));
        keys.push(format!("{name} "));
        let mut upper = name.to_owned();
        upper.replace_range(..1, &name[..1].to_uppercase());
        keys.push(upper);
    }
    keys.extend(["", "p", "t", "r", "payload_base", "tso"].map(str::to_owned));
    for key in &keys {
        for line in [
            format!(r#"{{"{key}":"message.publish","event":"message.publish"}}"#),
            format!(r#"{{"event":"message.publish","{key}":1}}"#),
            format!(r#"{{"event":"message.publish", "{key}" : "v" }}"#),
        ] {
            assert_paths_agree(&line, 4);
        }
    }
}

/// `event` values that are a hook name, a prefix or an extension of one, one byte off or
/// escaped: the fast path's by-name comparison gives serde's raw values and the value-tree
/// parser's event or error.
#[test]
fn event_values_near_the_hook_names_match_serde() {
    let mut values = vec![String::new(), "m".to_owned(), "message.".to_owned()];
    for kind in EventKind::ALL {
        let name = kind.hook_name();
        values.push(name.to_owned());
        values.push(format!("{name}x"));
        values.push(name[..name.len() - 1].to_owned());
        values.push(format!(
            "{}\\u{:04x}",
            &name[..name.len() - 1],
            name.as_bytes()[name.len() - 1]
        ));
        for at in [0, 7, 8, name.len() - 1] {
            let mut b = name.as_bytes().to_vec();
            b[at] ^= 0x20;
            values.push(String::from_utf8(b).unwrap());
        }
    }
    for v in &values {
        for line in [
            format!(r#"{{"event":"{v}","client_id":"c"}}"#),
            format!(r#"{{"client_id":"c", "event" : "{v}" }}"#),
            format!(r#"{{"topic":"{v}","event":"client.connected"}}"#),
        ] {
            assert_paths_agree(&line, 5);
        }
    }
}

/// Generated lines of hostile values (every escape, surrogate pairs in either case and broken
/// ones, an escaped hook name, numbers in odd forms, nulls, duplicate keys, JSON whitespace
/// including CR, a trailing CR and LF) parsed line after line into one reused event while a
/// "bridge" sometimes keeps the last payload: each result is the serde path's and the value
/// tree's, errors included, and a payload kept earlier never changes afterwards.
#[test]
fn reused_event_over_hostile_generated_lines_matches_the_serde_path() {
    let strings = [
        r#""""#,
        r#""abcd""#,
        r#""dcba""#,
        r#""\u0000""#,
        r#""\ud83d\ude00""#,
        r#""\uD83D\uDE00""#,
        r#""\ud83d""#,
        r#""\udc00x""#,
        r#""\ud83d\ud83d\ude00""#,
        r#""\ud83dabcdef""#,
        r#""\u00e9\u00E9""#,
        r#""\/\b\f\n\r\t\"\\""#,
        r#""\a""#,
        r#""\u12""#,
        "\"é€𝄞\"",
        "\"\u{2028}\u{7f}\"",
        r#""a+b""#,
        r##""#""##,
        r#""x\u002fy""#,
        r#""12345678\"""#,
        r#""1234567\\""#,
        "\"tab\there\"",
        r#""message\u002epublish""#,
        r#""message.publish""#,
        r#""client.connected""#,
        r#""aGk=""#,
        r#""aGk""#,
    ];
    let others = [
        "0",
        "00",
        "1",
        "-1",
        "-0",
        "1.0",
        "1e2",
        "2E0",
        "9999999999999999999",
        "18446744073709551615",
        "18446744073709551616",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        "nul",
        "tru",
    ];
    let names = [
        "event",
        "client_id",
        "username",
        "topic",
        "payload",
        "payload_base64",
        "qos",
        "retain",
        "ts",
        "from",
        "reason",
        "x",
        "ev\\u0065nt",
    ];
    let ws = ["", " ", "\t", "\r", "\r\n "];
    let mut rng = rocketmq_bridge_test_support::XorShift::new(0xa77a_c22e);
    let mut ev = Event::new(EventKind::ClientConnected);
    let mut kept: Vec<(Bytes, Vec<u8>)> = Vec::new();
    let (mut good, mut fast_taken) = (0, 0);
    for no in 1..=30_000u64 {
        let mut members = Vec::new();
        let kinds = [
            r#""message.publish""#,
            r#""message.delivered""#,
            r#""client.connected""#,
        ];
        if rng.below(8) != 0 {
            members.push(format!(r#""event":{}"#, kinds[rng.below(3) as usize]));
        }
        for _ in 0..rng.below(6) {
            let name = names[rng.below(names.len() as u64) as usize];
            let value = if rng.below(3) == 0 {
                others[rng.below(others.len() as u64) as usize].to_string()
            } else {
                strings[rng.below(strings.len() as u64) as usize].to_string()
            };
            let w = ws[rng.below(ws.len() as u64) as usize];
            members.insert(
                rng.below(members.len() as u64 + 1) as usize,
                format!("{w}\"{name}\"{w}:{w}{value}{w}"),
            );
        }
        let mut line = format!("{{{}}}", members.join(","));
        match rng.below(6) {
            0 => line.push('\r'),
            1 => line.push('\n'),
            2 => line.insert(0, ' '),
            _ => {}
        }
        let fresh = Event::from_json_line(&line, no);
        let slow = Event::from_json_line_without_fast_path(&line, no);
        assert_eq!(fresh, slow, "{line:?}");
        assert_eq!(
            fresh,
            Event::from_json_line_via_value(&line, no),
            "{line:?}"
        );
        let mut raw = RawLine::default();
        if fast_raw_line(&line, &mut raw).is_some() {
            fast_taken += 1;
        }
        let reused = ev.read_json_line(&line, no);
        match fresh {
            Ok(want) => {
                good += 1;
                assert_eq!(reused, Ok(()), "{line:?}");
                assert_eq!(ev, want, "{line:?}");
                if rng.below(3) == 0 {
                    if let Some(p) = &ev.payload {
                        kept.push((p.clone(), p.to_vec()));
                    }
                }
            }
            Err(e) => assert_eq!(reused, Err(e), "{line:?}"),
        }
        if rng.below(50) == 0 {
            kept.clear();
        }
        for (held, bytes) in &kept {
            assert_eq!(&held[..], &bytes[..], "a kept payload changed at {line:?}");
        }
    }
    assert!(
        good > 1_000 && fast_taken > 1_000,
        "{good} good, {fast_taken} fast"
    );
}
