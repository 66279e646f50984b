//! Event JSON byte for byte against golden files, MQTT message properties, and the NDJSON input
//! format with its line errors.

use bytes::Bytes;
use rocketmq_bridge::bridge::format::now_ms;
use rocketmq_bridge::bridge::{
    format_event, message_properties, Event, EventErrorKind, EventKind, PayloadEncoding,
};
use rocketmq_bridge::message::Properties;
use std::path::PathBuf;

const NODE: &str = "emqx@127.0.0.1";
const TS: u64 = 1_700_000_000_000;

fn golden(name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/events", name]
        .iter()
        .collect();
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(bytes.pop(), Some(b'\n'), "{name} ends with one newline");
    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    bytes
}

fn formatted(ev: &Event, enc: PayloadEncoding) -> Vec<u8> {
    let mut out = Vec::new();
    let info = format_event(ev, NODE, enc, &mut out);
    assert!(!info.lossy_payload);
    out
}

fn assert_golden(name: &str, ev: &Event, enc: PayloadEncoding) {
    let got = formatted(ev, enc);
    let want = golden(name);
    assert!(
        got == want,
        "{name}\n got: {}\nwant: {}",
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}

/// The seven events of the seed, as a host would build them.
fn seed_events() -> Vec<(&'static str, Event)> {
    let payload = Bytes::from_static(b"21.5");
    vec![
        (
            "client_connected.json",
            Event::client_connected("c1", Some("alice".into())).with_ts(TS),
        ),
        (
            "client_disconnected.json",
            Event::client_disconnected("c1", Some("alice".into()), "normal").with_ts(TS + 1),
        ),
        (
            "session_subscribed.json",
            Event::session_subscribed("c1", "sensors/+/temp", 1).with_ts(TS + 2),
        ),
        (
            "session_unsubscribed.json",
            Event::session_unsubscribed("c1", "sensors/+/temp", Some(1)).with_ts(TS + 3),
        ),
        (
            "message_publish.json",
            Event::message_publish("c1", "sensors/1/temp", payload.clone(), 1)
                .with_username("alice")
                .with_retain(false)
                .with_ts(TS + 4),
        ),
        (
            "message_delivered.json",
            Event::message_delivered("c2", "c1", "sensors/1/temp", payload.clone(), 1)
                .with_username("bob")
                .with_ts(TS + 5),
        ),
        (
            "message_acked.json",
            Event::message_acked("c2", "c1", "sensors/1/temp", payload, 1)
                .with_username("bob")
                .with_ts(TS + 6),
        ),
    ]
}

#[test]
fn every_seed_event_matches_its_golden_file() {
    let events = seed_events();
    let kinds: Vec<EventKind> = events.iter().map(|(_, e)| e.kind).collect();
    assert_eq!(
        kinds,
        EventKind::ALL,
        "one golden per event, in the seed's order"
    );
    for (name, ev) in &events {
        assert_golden(name, ev, PayloadEncoding::Base64);
    }
}

#[test]
fn plain_payloads_match_their_golden_files() {
    let ev = Event::message_publish("c1", "sensors/1/temp", Bytes::from_static(b"21.5"), 1)
        .with_username("alice")
        .with_ts(TS + 4);
    assert_golden("message_publish_plain.json", &ev, PayloadEncoding::Plain);
    let ev = Event::message_publish(
        "c1",
        "chat/\"quoted\"",
        Bytes::from("line 1\nsaid \"hi\"\\ \u{1} ünï ✓"),
        0,
    )
    .with_username("alice")
    .with_ts(TS + 7);
    assert_golden(
        "message_publish_plain_escaped.json",
        &ev,
        PayloadEncoding::Plain,
    );
}

#[test]
fn binary_payload_is_base64() {
    let ev = Event::message_publish("c1", "bin/1", Bytes::from_static(&[0, 1, 2, 0xff]), 2)
        .with_ts(TS + 8);
    assert_golden("message_publish_binary.json", &ev, PayloadEncoding::Base64);
}

#[test]
fn unknown_fields_are_null_never_guessed() {
    assert_golden(
        "client_connected_unknown_username.json",
        &Event::client_connected("c3", None).with_ts(TS + 9),
        PayloadEncoding::Base64,
    );
    let mut ev = Event::new(EventKind::ClientDisconnected).with_ts(TS + 10);
    ev.client_id = Some("c3".into());
    assert_golden(
        "client_disconnected_unknown.json",
        &ev,
        PayloadEncoding::Base64,
    );
    assert_golden(
        "session_unsubscribed_unknown_qos.json",
        &Event::session_unsubscribed("c1", "a/#", None).with_ts(TS + 11),
        PayloadEncoding::Base64,
    );
    for enc in [PayloadEncoding::Base64, PayloadEncoding::Plain] {
        assert_golden(
            "message_acked_unknown.json",
            &Event::new(EventKind::MessageAcked).with_ts(TS + 12),
            enc,
        );
    }
}

#[test]
fn invalid_utf8_in_plain_mode_is_replaced_and_reported() {
    let ev = Event::message_publish("c1", "t", Bytes::from_static(b"ok\xffok"), 0).with_ts(TS);
    let mut out = Vec::new();
    let info = format_event(&ev, NODE, PayloadEncoding::Plain, &mut out);
    assert!(info.lossy_payload);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["payload"], "ok\u{fffd}ok");
    // base64 carries the same bytes exactly.
    let mut out = Vec::new();
    assert!(!format_event(&ev, NODE, PayloadEncoding::Base64, &mut out).lossy_payload);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["payload"], "b2v/b2s=");
}

#[test]
fn missing_ts_is_the_formatting_time_in_ms() {
    let before = now_ms();
    let mut out = Vec::new();
    format_event(
        &Event::client_connected("c1", None),
        NODE,
        PayloadEncoding::Base64,
        &mut out,
    );
    let after = now_ms();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let ts = v["ts"].as_u64().unwrap();
    assert!(before <= ts && ts <= after, "{before} <= {ts} <= {after}");
    assert!(ts > 1_600_000_000_000, "milliseconds, not seconds");
}

#[test]
fn format_appends_to_the_buffer() {
    let mut out = b"prefix:".to_vec();
    format_event(
        &Event::client_connected("c1", None).with_ts(1),
        "n",
        PayloadEncoding::Base64,
        &mut out,
    );
    assert_eq!(
        out,
        br#"prefix:{"client_id":"c1","username":null,"node":"n","ts":1}"#
    );
}

/// The module docs' table written the slow, obvious way (serde_json strings, the `base64` crate,
/// `to_string` numbers): the oracle for the formatter over generated events.
fn oracle(ev: &Event, node: &str, enc: PayloadEncoding) -> Vec<u8> {
    use base64::Engine as _;
    let s = |v: &Option<String>| {
        v.as_ref()
            .map_or("null".to_string(), |v| serde_json::to_string(v).unwrap())
    };
    let qos = ev.qos.map_or("null".to_string(), |q| q.to_string());
    let payload = match (&ev.payload, enc) {
        (None, _) => "null".to_string(),
        (Some(p), PayloadEncoding::Base64) => {
            format!(
                "\"{}\"",
                base64::engine::general_purpose::STANDARD.encode(p)
            )
        }
        (Some(p), _) => serde_json::to_string(&String::from_utf8_lossy(p)).unwrap(),
    };
    let mut fields = vec![("client_id", s(&ev.client_id))];
    match ev.kind {
        EventKind::ClientConnected => fields.push(("username", s(&ev.username))),
        EventKind::ClientDisconnected => {
            fields.push(("username", s(&ev.username)));
            fields.push(("reason", s(&ev.reason)));
        }
        EventKind::SessionSubscribed | EventKind::SessionUnsubscribed => {
            fields.push(("topic", s(&ev.topic)));
            fields.push(("qos", qos));
        }
        _ => {
            fields.push(("username", s(&ev.username)));
            if ev.kind != EventKind::MessagePublish {
                fields.push(("from", s(&ev.from)));
            }
            fields.push(("topic", s(&ev.topic)));
            fields.push(("payload", payload));
            fields.push(("qos", qos));
        }
    }
    fields.push(("node", serde_json::to_string(node).unwrap()));
    fields.push(("ts", ev.ts.unwrap().to_string()));
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", inner.join(",")).into_bytes()
}

#[test]
fn formatting_matches_an_obvious_oracle_over_generated_events() {
    use rocketmq_bridge_test_support::XorShift;
    let seed = 0xf0_2022;
    let mut rng = XorShift::new(seed);
    let pieces = [
        "c1",
        "",
        "sensor-17",
        "Zoë",
        "用户 ✓ 𝄞",
        "a/b/#",
        "x\"y",
        "tab\there",
        "\\",
        "\u{1}\u{1f}",
        "a-longer-piece-of-text-0123456789",
    ];
    let text = |rng: &mut XorShift| -> Option<String> {
        (rng.below(6) != 0).then(|| {
            (0..rng.below(5))
                .map(|_| pieces[rng.below(pieces.len() as u64) as usize])
                .collect()
        })
    };
    for i in 0..20_000 {
        let mut ev = Event::new(EventKind::ALL[rng.below(7) as usize]);
        ev.client_id = text(&mut rng);
        ev.username = text(&mut rng);
        ev.topic = text(&mut rng);
        ev.from = text(&mut rng);
        ev.reason = text(&mut rng);
        ev.qos = (rng.below(4) != 0).then(|| [0u8, 1, 2, 9, 10, 255][rng.below(6) as usize]);
        let len = rng.below(1000) as usize;
        ev.payload = (rng.below(6) != 0).then(|| match rng.below(3) {
            0 => Bytes::from(rng.bytes(len % 200)),
            1 => Bytes::from(text(&mut rng).unwrap_or_default()),
            _ => Bytes::from(vec![b'p'; len]),
        });
        ev.ts = Some([0, 7, 10, 99, TS + i, u64::MAX][rng.below(6) as usize]);
        let node = ["emqx@127.0.0.1", "", "nœud \"1\""][rng.below(3) as usize];
        for enc in [PayloadEncoding::Base64, PayloadEncoding::Plain] {
            let mut got = b"prefix".to_vec();
            format_event(&ev, node, enc, &mut got);
            let want = oracle(&ev, node, enc);
            assert!(
                got[6..] == want[..],
                "seed {seed:#x} event {i} {enc:?}\n got: {}\nwant: {}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            );
        }
    }
}

#[test]
fn message_properties_carry_known_mqtt_metadata() {
    fn pairs(p: &Properties) -> Vec<(&str, &str)> {
        p.iter().collect()
    }
    let ev = Event::message_publish("c1", "sensors/1/temp", Bytes::new(), 1).with_retain(true);
    assert_eq!(
        pairs(&message_properties(&ev)),
        vec![
            ("mqtt_event", "message.publish"),
            ("mqtt_client_id", "c1"),
            ("mqtt_topic", "sensors/1/temp"),
            ("mqtt_qos", "1"),
            ("mqtt_retain", "true"),
        ]
    );
    let conn = Event::client_connected("c9", Some("u".into()));
    assert_eq!(
        pairs(&message_properties(&conn)),
        vec![("mqtt_event", "client.connected"), ("mqtt_client_id", "c9")]
    );
    assert_eq!(
        pairs(&message_properties(&Event::new(EventKind::MessageAcked))),
        vec![("mqtt_event", "message.acked")]
    );
    // RocketMQ's property separators cannot be carried; such a value is left out.
    let odd = Event::message_publish("c\u{1}x", "t\u{2}", Bytes::new(), 0);
    assert_eq!(
        pairs(&message_properties(&odd)),
        vec![("mqtt_event", "message.publish"), ("mqtt_qos", "0")]
    );
}

/// The seed's events as NDJSON input lines (`seed_events.ndjson`, also the README's sample input);
/// formatting the parsed event gives the golden file.
#[test]
fn ndjson_lines_for_each_seed_event_format_to_the_goldens() {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests/fixtures/events/seed_events.ndjson",
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7);
    for (i, ((name, built), line)) in seed_events().into_iter().zip(lines).enumerate() {
        let parsed = Event::from_json_line(line, i as u64 + 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, built, "{name}");
        assert_golden(name, &parsed, PayloadEncoding::Base64);
    }
}

#[test]
fn ndjson_nulls_and_absent_fields_are_unknown() {
    let ev = Event::from_json_line(r#"{"event":"message.acked","username":null,"qos":null}"#, 1)
        .unwrap();
    assert_eq!(ev, Event::new(EventKind::MessageAcked));
    let ev = Event::from_json_line(
        r#"  {"event":"message.publish","topic":"bin/1","qos":2,"client_id":"c1","payload_base64":"AAEC/w=="}  "#,
        1,
    )
    .unwrap();
    assert_eq!(ev.payload.as_deref(), Some(&[0u8, 1, 2, 0xff][..]));
}

/// An input line, the field its error must name, and a check of the error kind.
type LineCase = (
    &'static str,
    Option<&'static str>,
    fn(&EventErrorKind) -> bool,
);

#[test]
fn ndjson_errors_name_line_and_field() {
    let cases: &[LineCase] = &[
        (r#"{"event":"client.connected""#, None, |k| {
            matches!(k, EventErrorKind::InvalidJson { .. })
        }),
        ("", None, |k| {
            matches!(k, EventErrorKind::InvalidJson { .. })
        }),
        (r#"["client.connected"]"#, None, |k| {
            matches!(k, EventErrorKind::NotAnObject)
        }),
        (r#"{"client_id":"c1"}"#, Some("event"), |k| {
            matches!(k, EventErrorKind::Missing)
        }),
        (r#"{"event":null}"#, Some("event"), |k| {
            matches!(k, EventErrorKind::Missing)
        }),
        (r#"{"event":7}"#, Some("event"), |k| {
            matches!(k, EventErrorKind::WrongType(_))
        }),
        (
            r#"{"event":"message.dropped"}"#,
            Some("event"),
            |k| matches!(k, EventErrorKind::UnknownEvent(e) if e == "message.dropped"),
        ),
        (
            r#"{"event":"client.connected","clientid":"c1"}"#,
            Some("clientid"),
            |k| matches!(k, EventErrorKind::UnknownField),
        ),
        (
            r#"{"event":"client.connected","node":"n"}"#,
            Some("node"),
            |k| matches!(k, EventErrorKind::UnknownField),
        ),
        (
            r#"{"event":"client.connected","topic":"t"}"#,
            Some("topic"),
            |k| matches!(k, EventErrorKind::NotApplicable(EventKind::ClientConnected)),
        ),
        (
            r#"{"event":"message.publish","from":"c2"}"#,
            Some("from"),
            |k| matches!(k, EventErrorKind::NotApplicable(EventKind::MessagePublish)),
        ),
        (
            r#"{"event":"client.connected","client_id":5}"#,
            Some("client_id"),
            |k| matches!(k, EventErrorKind::WrongType(_)),
        ),
        (r#"{"event":"message.publish","qos":3}"#, Some("qos"), |k| {
            matches!(k, EventErrorKind::OutOfRange(_))
        }),
        (
            r#"{"event":"message.publish","qos":-1}"#,
            Some("qos"),
            |k| matches!(k, EventErrorKind::OutOfRange(_)),
        ),
        (
            r#"{"event":"message.publish","qos":1.5}"#,
            Some("qos"),
            |k| matches!(k, EventErrorKind::OutOfRange(_)),
        ),
        (
            r#"{"event":"message.publish","qos":"1"}"#,
            Some("qos"),
            |k| matches!(k, EventErrorKind::WrongType(_)),
        ),
        (
            r#"{"event":"message.publish","retain":1}"#,
            Some("retain"),
            |k| matches!(k, EventErrorKind::WrongType(_)),
        ),
        (r#"{"event":"client.connected","ts":-5}"#, Some("ts"), |k| {
            matches!(k, EventErrorKind::OutOfRange(_))
        }),
        (
            r#"{"event":"client.connected","ts":"now"}"#,
            Some("ts"),
            |k| matches!(k, EventErrorKind::WrongType(_)),
        ),
        (
            r#"{"event":"message.publish","payload":"a","payload_base64":"YQ=="}"#,
            Some("payload_base64"),
            |k| matches!(k, EventErrorKind::BothPayloads),
        ),
        (
            r#"{"event":"message.publish","payload_base64":"not base64!"}"#,
            Some("payload_base64"),
            |k| matches!(k, EventErrorKind::InvalidBase64(_)),
        ),
        (
            r#"{"event":"message.publish","payload_base64":"YQ"}"#,
            Some("payload_base64"),
            |k| matches!(k, EventErrorKind::InvalidBase64(_)),
        ),
        (
            r#"{"event":"message.publish","topic":"a/#"}"#,
            Some("topic"),
            |k| matches!(k, EventErrorKind::InvalidTopic(_)),
        ),
        (
            r#"{"event":"message.delivered","topic":""}"#,
            Some("topic"),
            |k| matches!(k, EventErrorKind::InvalidTopic(_)),
        ),
        (
            r#"{"event":"session.subscribed","topic":"a\u0000b"}"#,
            Some("topic"),
            |k| matches!(k, EventErrorKind::InvalidTopic(_)),
        ),
    ];
    for (i, (line, field, check)) in cases.iter().enumerate() {
        let line_no = 100 + i as u64;
        let e = Event::from_json_line(line, line_no).expect_err(line);
        assert_eq!(e.line, line_no, "{line}");
        assert_eq!(e.field.as_deref(), *field, "{line}: {e}");
        assert!(check(&e.kind), "{line}: {e}");
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("line {line_no}: ")), "{shown}");
        if let Some(f) = field {
            assert!(shown.contains(&format!("field \"{f}\"")), "{shown}");
        }
    }
    // A subscription filter may contain wildcards.
    assert!(Event::from_json_line(r#"{"event":"session.subscribed","topic":"a/+/#"}"#, 1).is_ok());
}

#[test]
fn ndjson_line_length_is_capped() {
    let big = format!(
        r#"{{"event":"message.publish","payload":"{}"}}"#,
        "x".repeat(rocketmq_bridge::bridge::event::MAX_EVENT_LINE_LEN)
    );
    let e = Event::from_json_line(&big, 9).unwrap_err();
    assert!(matches!(e.kind, EventErrorKind::LineTooLong { .. }), "{e}");
    assert_eq!(e.line, 9);
}
