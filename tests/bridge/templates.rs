//! Rule templates at load (issue 24, item 3): every bad template and the exact error it gives,
//! with the file, line and key; the good ones parse into the rule's templates. The real-broker
//! test is `real::templates`.

use rocketmq_bridge::bridge::template::Field;
use rocketmq_bridge::bridge::{
    BodyFormat, BridgeConfig, ConfigErrorKind, EventKind, RuleError, RuleId, TemplateError,
};
use std::path::Path;

/// One bad rule: its hook, its JSON, the error and the message after `file:line: key: `.
struct Bad {
    hook: &'static str,
    json: &'static str,
    error: RuleError,
    shown: &'static str,
}

fn tmpl(key: &'static str, template: &str, error: TemplateError) -> RuleError {
    RuleError::Template {
        key,
        template: template.into(),
        error: Box::new(error),
    }
}

fn text(t: &str, why: &'static str) -> TemplateError {
    TemplateError::InvalidText {
        text: t.to_owned(),
        why,
    }
}

const PLACEHOLDERS: &str = "expected client_id, username, topic, topic.N, qos, event or node";

fn bad_rules() -> Vec<Bad> {
    let long = format!("{}${{node}}", "x".repeat(128));
    let long: &'static str = Box::leak(long.into_boxed_str());
    let long_shown: &'static str = Box::leak(
        format!(
            "\"topic\" template {long:?}: fixed text {:?} is longer than 127 characters",
            "x".repeat(128)
        )
        .into_boxed_str(),
    );
    vec![
        Bad {
            hook: "message.publish",
            json: r##"{"filter": "#", "topic": "T_${clientid}"}"##,
            error: tmpl(
                "topic",
                "T_${clientid}",
                TemplateError::UnknownPlaceholder("clientid".into()),
            ),
            shown: "\"topic\" template \"T_${clientid}\": unknown placeholder \"${clientid}\" \
                    (this bridge spells it ${client_id}); expected client_id, username, topic, \
                    topic.N, qos, event or node",
        },
        Bad {
            hook: "message.publish",
            json: r##"{"filter": "#", "topic": "T_${client_id"}"##,
            error: tmpl("topic", "T_${client_id", TemplateError::Unclosed { at: 2 }),
            shown: "\"topic\" template \"T_${client_id\": \"${\" at byte 2 is not closed by \"}\"",
        },
        Bad {
            hook: "message.publish",
            json: r##"{"filter": "#", "topic": "T_${}"}"##,
            error: tmpl("topic", "T_${}", TemplateError::EmptyPlaceholder),
            shown: "\"topic\" template \"T_${}\": empty placeholder \"${}\"",
        },
        Bad {
            hook: "message.publish",
            json: r##"{"filter": "#", "topic": "T_${topic.x}"}"##,
            error: tmpl(
                "topic",
                "T_${topic.x}",
                TemplateError::BadSegment("topic.x".into()),
            ),
            shown: "\"topic\" template \"T_${topic.x}\": placeholder \"${topic.x}\": the segment \
                    must be a number from 0 to 65535",
        },
        Bad {
            hook: "message.publish",
            json: r##"{"filter": "#", "topic": "T_${topic.65536}"}"##,
            error: tmpl(
                "topic",
                "T_${topic.65536}",
                TemplateError::BadSegment("topic.65536".into()),
            ),
            shown: "\"topic\" template \"T_${topic.65536}\": placeholder \"${topic.65536}\": the \
                    segment must be a number from 0 to 65535",
        },
        Bad {
            hook: "message.publish",
            json: r##"{"filter": "#", "topic": "a/${topic.0}"}"##,
            error: tmpl(
                "topic",
                "a/${topic.0}",
                text("a/", "may only contain A-Z a-z 0-9 _ - % |"),
            ),
            shown: "\"topic\" template \"a/${topic.0}\": fixed text \"a/\" may only contain A-Z \
                    a-z 0-9 _ - % |",
        },
        Bad {
            hook: "message.publish",
            json: Box::leak(
                format!("{{\"filter\": \"#\", \"topic\": \"{long}\"}}").into_boxed_str(),
            ),
            error: tmpl(
                "topic",
                long,
                text(&"x".repeat(128), "is longer than 127 characters"),
            ),
            shown: long_shown,
        },
        Bad {
            hook: "client.connected",
            json: r##"{"topic": "T_${topic}"}"##,
            error: tmpl(
                "topic",
                "T_${topic}",
                TemplateError::NotForEvent {
                    name: "topic".into(),
                    event: EventKind::ClientConnected,
                },
            ),
            shown: "\"topic\" template \"T_${topic}\": client.connected events have no \"topic\" \
                    for \"${topic}\"",
        },
        Bad {
            hook: "client.disconnected",
            json: r##"{"topic": "T", "tag": "q${qos}"}"##,
            error: tmpl(
                "tag",
                "q${qos}",
                TemplateError::NotForEvent {
                    name: "qos".into(),
                    event: EventKind::ClientDisconnected,
                },
            ),
            shown: "\"tag\" template \"q${qos}\": client.disconnected events have no \"qos\" for \
                    \"${qos}\"",
        },
        Bad {
            hook: "message.publish",
            json: r##"{"filter": "#", "topic": "T", "tag": "a||${client_id}"}"##,
            error: tmpl(
                "tag",
                "a||${client_id}",
                text("a||", "contains \"||\", the subscription separator"),
            ),
            shown: "\"tag\" template \"a||${client_id}\": fixed text \"a||\" contains \"||\", the \
                    subscription separator",
        },
        Bad {
            hook: "message.publish",
            json: r##"{"filter": "#", "topic": "T", "tag": "${topic.0}\u0001"}"##,
            error: tmpl(
                "tag",
                "${topic.0}\u{1}",
                text("\u{1}", "contains a control character"),
            ),
            shown: "\"tag\" template \"${topic.0}\\u{1}\": fixed text \"\\u{1}\" contains a \
                    control character",
        },
        Bad {
            hook: "message.publish",
            json: r##"{"filter": "#", "topic": "T", "key": "k ${client_id}"}"##,
            error: tmpl(
                "key",
                "k ${client_id}",
                text("k ", "contains a space, which separates keys"),
            ),
            shown: "\"key\" template \"k ${client_id}\": fixed text \"k \" contains a space, \
                    which separates keys",
        },
        Bad {
            hook: "message.publish",
            json: r##"{"filter": "#", "topic": "T", "key": ""}"##,
            error: tmpl("key", "", TemplateError::Empty),
            shown: "\"key\" template \"\": template is empty",
        },
        Bad {
            hook: "message.publish",
            json: r##"{"filter": "#", "topic": "T", "key": "${a${topic}}"}"##,
            error: tmpl("key", "${a${topic}}", TemplateError::Unclosed { at: 0 }),
            shown: "\"key\" template \"${a${topic}}\": \"${\" at byte 0 is not closed by \"}\"",
        },
        Bad {
            hook: "message.acked",
            json: r##"{"filter": "#", "topic": "T", "key": "${user}"}"##,
            error: tmpl(
                "key",
                "${user}",
                TemplateError::UnknownPlaceholder("user".into()),
            ),
            shown: "\"key\" template \"${user}\": unknown placeholder \"${user}\"; expected \
                    client_id, username, topic, topic.N, qos, event or node",
        },
        Bad {
            hook: "session.subscribed",
            json: r##"{"filter": "#", "topic": "T", "body": "payload"}"##,
            error: RuleError::NoPayload(EventKind::SessionSubscribed),
            shown: "\"body\": \"payload\" needs a payload, and session.subscribed events have none",
        },
        Bad {
            hook: "message.publish",
            json: r##"{"filter": "#", "topic": "T", "body": "raw"}"##,
            error: RuleError::InvalidBody("raw".into()),
            shown: "body \"raw\" is not one of json, payload",
        },
    ]
}

#[test]
fn every_bad_template_is_refused_with_its_error_file_line_and_key() {
    let rows = bad_rules();
    assert!(rows.len() >= 14);
    for row in rows {
        let key = format!("bridge.rocket.hook.{}.1", row.hook);
        let conf = format!("bridge.rocket.produce = async\n{key} = {}\n", row.json);
        let e = BridgeConfig::parse(&conf, "templates.conf").unwrap_err();
        assert_eq!(e.file, Path::new("templates.conf"), "{e}");
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some(key.as_str())));
        match &e.kind {
            ConfigErrorKind::Rule(r) => {
                assert_eq!(r, &row.error, "{}", row.json);
                let json_key = match r {
                    RuleError::Template { key, .. } => *key,
                    _ => "body",
                };
                assert_eq!(r.json_key(), Some(json_key));
            }
            other => panic!("{}: {other:?}", row.json),
        }
        assert_eq!(
            e.to_string(),
            format!("templates.conf:2: {key}: {}", row.shown),
            "{}",
            row.json
        );
        assert!(
            !row.shown.contains("unknown placeholder") || row.shown.contains(PLACEHOLDERS),
            "the unknown-placeholder message lists the placeholders"
        );
    }
}

#[test]
fn a_bad_template_in_a_file_names_the_file() {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bridge_templates_bad.conf");
    std::fs::write(
        &path,
        "## templates\nbridge.rocket.hook.message.publish.3 = {\"filter\": \"#\", \"topic\": \"${nodes}\"}\n",
    )
    .unwrap();
    let e = BridgeConfig::load(&path).unwrap_err();
    assert_eq!(e.line, Some(2));
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!(
            "{}:2: bridge.rocket.hook.message.publish.3: \"topic\" template \"${{nodes}}\": unknown placeholder",
            path.display()
        )),
        "{shown}"
    );
}

#[test]
fn template_max_topics_is_a_bounded_integer() {
    let ok = BridgeConfig::parse("bridge.rocket.template.max_topics = 7\n", "t.conf").unwrap();
    assert_eq!(ok.template_max_topics, 7);
    let dflt = BridgeConfig::parse("", "t.conf").unwrap();
    assert_eq!(dflt.template_max_topics, 100);
    for v in ["0", "100001", "ten"] {
        let e = BridgeConfig::parse(
            &format!("bridge.rocket.template.max_topics = {v}\n"),
            "t.conf",
        )
        .unwrap_err();
        assert!(
            matches!(&e.kind, ConfigErrorKind::InvalidValue { expected, .. } if expected == "an integer from 1 to 100000"),
            "{e}"
        );
    }
}

#[test]
fn good_templates_parse_into_the_rule() {
    let cfg = BridgeConfig::parse(
        r##"bridge.rocket.hook.message.publish.1 = {"filter": "site/#", "topic": "Site_${topic.1}", "tag": "${client_id}", "key": "${username}-${qos}", "body": "payload"}
bridge.rocket.hook.client.connected.1 = {"topic": "Conn", "tag": "fixed", "key": "${event}@${node}"}
bridge.rocket.hook.session.subscribed.1 = {"filter": "#", "topic": "Subs", "body": "json"}
"##,
        "t.conf",
    )
    .unwrap();
    let publish = cfg
        .rules
        .get(RuleId {
            event: EventKind::MessagePublish,
            index: 1,
        })
        .unwrap();
    assert_eq!(publish.body, BodyFormat::Payload);
    assert_eq!(publish.topic, "Site_${topic.1}");
    let t = publish.topic_template.as_ref().unwrap();
    assert_eq!(t.fields().collect::<Vec<_>>(), vec![Field::TopicSegment(1)]);
    assert_eq!(
        publish
            .tag_template
            .as_ref()
            .unwrap()
            .fields()
            .collect::<Vec<_>>(),
        vec![Field::ClientId]
    );
    assert_eq!(
        publish.key.as_ref().unwrap().fields().collect::<Vec<_>>(),
        vec![Field::Username, Field::Qos]
    );
    let conn = cfg.rules.for_event(EventKind::ClientConnected);
    assert_eq!(conn[0].tag.as_deref(), Some("fixed"));
    assert!(conn[0].tag_template.is_none() && conn[0].topic_template.is_none());
    assert_eq!(conn[0].body, BodyFormat::Json);
    // Templated topics are looked up on first use, not at start.
    assert_eq!(cfg.rules.topics(), vec!["Conn", "Subs"]);
}

#[test]
fn the_shipped_template_example_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/templates.conf");
    let cfg = BridgeConfig::load(&path).unwrap();
    assert_eq!(cfg.rules.len(), 2);
    let publish = cfg.rules.for_event(EventKind::MessagePublish);
    assert_eq!(publish[0].body, BodyFormat::Payload);
    assert_eq!(publish[0].topic, "Sensors_${topic.1}");
    assert!(publish[0].key.is_some() && publish[0].tag_template.is_some());
    assert_eq!(cfg.template_max_topics, 100);
}
