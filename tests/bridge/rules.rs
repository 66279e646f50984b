//! MQTT topic filters (a table built from the MQTT 3.1.1 / 5.0 §4.7 examples and edge cases) and
//! how hook rules select events.

use bytes::Bytes;
use rocketmq_bridge::bridge::{BridgeConfig, Event, EventKind, FilterError, TopicFilter};

/// (filter, topic, matches)
const MATCH_TABLE: &[(&str, &str, bool)] = &[
    // MQTT 3.1.1 §4.7.1.2: multi-level wildcard.
    ("sport/tennis/player1/#", "sport/tennis/player1", true),
    (
        "sport/tennis/player1/#",
        "sport/tennis/player1/ranking",
        true,
    ),
    (
        "sport/tennis/player1/#",
        "sport/tennis/player1/score/wimbledon",
        true,
    ),
    ("sport/tennis/player1/#", "sport/tennis/player2", false),
    ("sport/#", "sport", true),
    ("sport/#", "sports", false),
    ("#", "sport/tennis", true),
    ("#", "/", true),
    ("#", "a", true),
    // §4.7.1.3: single-level wildcard.
    ("sport/tennis/+", "sport/tennis/player1", true),
    ("sport/tennis/+", "sport/tennis/player2", true),
    ("sport/tennis/+", "sport/tennis/player1/ranking", false),
    ("sport/+", "sport", false),
    ("sport/+", "sport/", true),
    ("+/+", "/finance", true),
    ("/+", "/finance", true),
    ("+", "/finance", false),
    ("+", "finance", true),
    ("+/tennis/#", "sport/tennis/player1", true),
    ("+/tennis/#", "sport/tennis", true),
    ("+/tennis/#", "sport/golf", false),
    ("+/#", "a", true),
    // §4.7.2: topics beginning with $.
    ("#", "$SYS/broker/load", false),
    ("#", "$SYS", false),
    ("+/monitor/Clients", "$SYS/monitor/Clients", false),
    ("+/#", "$SYS/a", false),
    ("$SYS/#", "$SYS/monitor/Clients", true),
    ("$SYS/#", "$SYS", true),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
    ("$share/g/#", "$share/g/t", true),
    ("#", " $SYS/x", true),
    ("a/$b", "a/$b", true),
    ("a/+", "a/$b", true),
    // Exact levels: case-sensitive, empty levels count, no prefix matching.
    ("ACCOUNTS", "Accounts", false),
    ("ACCOUNTS", "ACCOUNTS", true),
    ("a/b", "a/b/", false),
    ("a/b/", "a/b/", true),
    ("a/b", "a/b/c", false),
    ("a/b/c", "a/b", false),
    ("a//b", "a//b", true),
    ("a/+/b", "a//b", true),
    ("/", "/", true),
    ("/#", "/", true),
    ("/#", "/a/b", true),
    ("/#", "a", false),
    ("a b/c", "a b/c", true),
    ("传感器/+", "传感器/温度", true),
    ("传感器/+", "传感器", false),
    // An empty topic is not a topic.
    ("#", "", false),
    ("+", "", false),
    // Wildcard characters in the subject are plain text (a subscription filter as subject).
    ("sensors/#", "sensors/+/temp", true),
    ("sensors/+/temp", "sensors/+/temp", true),
    ("sensors/x", "sensors/+", false),
];

#[test]
fn filter_match_table() {
    let mut failures = Vec::new();
    for &(filter, topic, want) in MATCH_TABLE {
        let f = TopicFilter::parse(filter).unwrap_or_else(|e| panic!("{filter:?}: {e}"));
        if f.matches(topic) != want {
            failures.push(format!("{filter:?} vs {topic:?}: expected {want}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn invalid_filters_are_rejected_with_the_rule_broken() {
    let long = "a".repeat(65_536);
    let cases: &[(&str, FilterError)] = &[
        ("", FilterError::Empty),
        ("a/#/b", FilterError::HashNotLast { level: 2 }),
        ("#/", FilterError::HashNotLast { level: 1 }),
        ("#/#", FilterError::HashNotLast { level: 1 }),
        ("a#", FilterError::HashNotLast { level: 1 }),
        ("#a", FilterError::HashNotLast { level: 1 }),
        ("sport/tennis#", FilterError::HashNotLast { level: 2 }),
        ("sport+", FilterError::PlusNotWholeLevel { level: 1 }),
        ("a/+b", FilterError::PlusNotWholeLevel { level: 2 }),
        ("a/b+/c", FilterError::PlusNotWholeLevel { level: 2 }),
        ("++", FilterError::PlusNotWholeLevel { level: 1 }),
        ("a\0b", FilterError::Nul { at: 1 }),
        (&long, FilterError::TooLong { len: 65_536 }),
    ];
    for (filter, want) in cases {
        assert_eq!(
            TopicFilter::parse(filter).as_ref(),
            Err(want),
            "{:?}",
            &filter[..filter.len().min(20)]
        );
        assert!(!want.to_string().is_empty());
    }
    assert!(TopicFilter::parse(&"a".repeat(65_535)).is_ok());
}

#[test]
fn wildcard_free_filters_match_themselves_and_plus_stays_in_its_level() {
    for &(filter, topic, _) in MATCH_TABLE {
        for s in [filter, topic] {
            let Ok(f) = TopicFilter::parse(s) else {
                continue;
            };
            if !f.has_wildcards() && !s.is_empty() {
                assert!(f.matches(s), "{s:?} should match itself");
            }
        }
    }
    let plus = TopicFilter::parse("a/+/c").unwrap();
    assert!(plus.matches("a/b/c"));
    assert!(!plus.matches("a/b/x/c"));
    assert!(!plus.matches("a/b"));
}

const RULES: &str = r##"
bridge.rocket.hook.client.connected.1 = {"topic": "ClientConnected"}
bridge.rocket.hook.client.connected.2 = {"topic": "Presence", "tag": "up"}
bridge.rocket.hook.session.subscribed.1 = {"filter": "sensors/#", "topic": "Subs"}
bridge.rocket.hook.message.publish.1 = {"filter": "#", "topic": "MessagePublish"}
bridge.rocket.hook.message.publish.2 = {"filter": "sensors/+/temp", "topic": "Temps"}
bridge.rocket.hook.message.publish.3 = {"filter": "$SYS/#", "topic": "Sys"}
bridge.rocket.hook.message.delivered.1 = {"filter": "alerts/#", "topic": "MessageDeliver"}
"##;

fn names(cfg: &BridgeConfig, ev: &Event) -> Vec<String> {
    cfg.rules.matching(ev).map(|r| r.id().to_string()).collect()
}

#[test]
fn rules_select_events_by_hook_and_filter() {
    let cfg = BridgeConfig::parse(RULES, "rules.conf").unwrap();
    let temp = Event::message_publish("c1", "sensors/1/temp", Bytes::from_static(b"21.5"), 1);
    assert_eq!(
        names(&cfg, &temp),
        vec!["message.publish.1", "message.publish.2"]
    );
    let other = Event::message_publish("c1", "home/door", Bytes::new(), 0);
    assert_eq!(names(&cfg, &other), vec!["message.publish.1"]);
    let sys = Event::message_publish("broker", "$SYS/broker/load", Bytes::new(), 0);
    assert_eq!(names(&cfg, &sys), vec!["message.publish.3"]);

    // Client events need no filter; every client.connected rule gets the event.
    let conn = Event::client_connected("c1", None);
    assert_eq!(
        names(&cfg, &conn),
        vec!["client.connected.1", "client.connected.2"]
    );
    // No rule for client.disconnected, message.acked: nothing matches.
    assert!(names(&cfg, &Event::client_disconnected("c1", None, "normal")).is_empty());
    let acked = Event::message_acked("c2", "c1", "alerts/fire", Bytes::new(), 1);
    assert!(names(&cfg, &acked).is_empty());

    // Hooks do not cross: a delivered event is matched by delivered rules only.
    let delivered = Event::message_delivered("c2", "c1", "alerts/fire", Bytes::new(), 1);
    assert_eq!(names(&cfg, &delivered), vec!["message.delivered.1"]);
    let delivered_other = Event::message_delivered("c2", "c1", "sensors/1/temp", Bytes::new(), 1);
    assert!(names(&cfg, &delivered_other).is_empty());

    // A subscription's filter is matched as text against the rule's filter.
    let sub = Event::session_subscribed("c1", "sensors/+/temp", 1);
    assert_eq!(names(&cfg, &sub), vec!["session.subscribed.1"]);
    let sub_other = Event::session_subscribed("c1", "#", 1);
    assert!(names(&cfg, &sub_other).is_empty());

    // A message event whose topic the host could not supply matches no filter.
    let mut no_topic = temp.clone();
    no_topic.topic = None;
    assert!(names(&cfg, &no_topic).is_empty());
}

#[test]
fn rule_set_lists_target_topics_once() {
    let cfg = BridgeConfig::parse(RULES, "rules.conf").unwrap();
    assert_eq!(cfg.rules.len(), 7);
    assert_eq!(
        cfg.rules.topics(),
        vec![
            "ClientConnected",
            "MessageDeliver",
            "MessagePublish",
            "Presence",
            "Subs",
            "Sys",
            "Temps"
        ]
    );
    let kinds: Vec<EventKind> = cfg.rules.iter().map(|r| r.event).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted, "iter() goes by event, then number");
}
