//! The bridge's config file: the seed's text verbatim, defaults, units, extensions, and every error
//! kind with its file, line and key.

use rocketmq_bridge::bridge::{
    BridgeConfig, ConfigError, ConfigErrorKind, EventKind, FilterError, OverflowPolicy,
    PayloadEncoding, ProduceMode, QueueStrategy, RuleError, RuleId,
};
use std::path::Path;
use std::time::Duration;

/// The seed's first fenced block, copied verbatim.
const SEED_CLUSTER: &str = r##"## RocketMQ Brokers Server
## bridge.rocket.servers = 127.0.0.1:9876,127.0.0.2:9876,127.0.0.3:9876
bridge.rocket.servers = 127.0.0.1:9876

bridge.rocket.refresh_topic_route_interval = 5S

## Pick a partition producer and sync/async
bridge.rocket.produce = sync

## bridge.rocket.produce.sync_timeout = 3s

## bridge.rocket.producer.batch_size = 100

## bridge.rocket.encode_payload_type = base64

## bridge.rocket.sock.buffer = 32KB
## bridge.rocket.sock.recbuf = 32KB
bridge.rocket.sock.sndbuf = 1MB
## bridge.rocket.sock.read_packets = 20
"##;

/// The seed's second fenced block, copied verbatim.
const SEED_HOOKS: &str = r##"## Bridge RocketMQ Hooks
## ${topic}: the RocketMQ topics to which the messages will be published.
## ${filter}: the mqtt topic (may contain wildcard) on which the action will be performed .

## Client Connected Record Hook
bridge.rocket.hook.client.connected.1     = {"topic": "ClientConnected"}

## Client Disconnected Record Hook
bridge.rocket.hook.client.disconnected.1  = {"topic": "ClientDisconnected"}

## Session Subscribed Record Hook
bridge.rocket.hook.session.subscribed.1   = {"filter": "#",  "topic": "SessionSubscribed"}

## Session Unsubscribed Record Hook
bridge.rocket.hook.session.unsubscribed.1 = {"filter": "#",  "topic": "SessionUnsubscribed"}

## Message Publish Record Hook
bridge.rocket.hook.message.publish.1      = {"filter": "#",  "topic": "MessagePublish"}

## Message Delivered Record Hook
bridge.rocket.hook.message.delivered.1    = {"filter": "#",  "topic": "MessageDeliver"}

## Message Acked Record Hook
bridge.rocket.hook.message.acked.1        = {"filter": "#",  "topic": "MessageAcked"}
"##;

fn parse(text: &str) -> Result<BridgeConfig, ConfigError> {
    BridgeConfig::parse(text, "test.conf")
}

fn parse_err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(cfg) => panic!("expected an error, got {cfg:?}"),
        Err(e) => e,
    }
}

/// Asserts the error's file, line and key, and that `Display` shows all three.
fn assert_at(e: &ConfigError, line: usize, key: Option<&str>) {
    assert_eq!(e.file, Path::new("test.conf"), "{e}");
    assert_eq!(e.line, Some(line), "{e}");
    assert_eq!(e.key.as_deref(), key, "{e}");
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("test.conf:{line}")), "{shown}");
    if let Some(k) = key {
        assert!(shown.contains(k), "{shown}");
    }
}

fn check_seed_config(cfg: &BridgeConfig) {
    assert_eq!(cfg.servers, vec!["127.0.0.1:9876".to_owned()]);
    assert_eq!(cfg.refresh_topic_route_interval, Duration::from_secs(5));
    assert_eq!(cfg.produce, ProduceMode::Sync);
    assert_eq!(cfg.sync_timeout, Duration::from_secs(3));
    assert_eq!(cfg.batch_size, 100);
    assert_eq!(cfg.encode_payload_type, PayloadEncoding::Base64);
    assert_eq!(cfg.sock_buffer, 32 * 1024);
    assert_eq!(cfg.sock_recbuf, 32 * 1024);
    assert_eq!(cfg.sock_sndbuf, 1024 * 1024);
    assert_eq!(cfg.sock_read_packets, 20);
    assert_eq!(cfg.rules.len(), 7);
    let expect = [
        (EventKind::ClientConnected, None, "ClientConnected"),
        (EventKind::ClientDisconnected, None, "ClientDisconnected"),
        (EventKind::SessionSubscribed, Some("#"), "SessionSubscribed"),
        (
            EventKind::SessionUnsubscribed,
            Some("#"),
            "SessionUnsubscribed",
        ),
        (EventKind::MessagePublish, Some("#"), "MessagePublish"),
        (EventKind::MessageDelivered, Some("#"), "MessageDeliver"),
        (EventKind::MessageAcked, Some("#"), "MessageAcked"),
    ];
    for (kind, filter, topic) in expect {
        let rules = cfg.rules.for_event(kind);
        assert_eq!(rules.len(), 1, "{kind}");
        let r = &rules[0];
        assert_eq!(r.index, 1);
        assert_eq!(r.filter.as_ref().map(|f| f.as_str()), filter, "{kind}");
        assert_eq!(r.topic, topic);
        assert_eq!(r.tag, None);
        assert_eq!(r.payload_encoding, PayloadEncoding::Base64);
    }
    assert_eq!(
        cfg.rules.topics(),
        vec![
            "ClientConnected",
            "ClientDisconnected",
            "MessageAcked",
            "MessageDeliver",
            "MessagePublish",
            "SessionSubscribed",
            "SessionUnsubscribed"
        ]
    );
}

#[test]
fn seed_text_verbatim_loads() {
    let text = format!("{SEED_CLUSTER}\n{SEED_HOOKS}");
    let cfg = parse(&text).unwrap();
    check_seed_config(&cfg);
}

#[test]
fn seed_blocks_load_separately() {
    let cluster = parse(SEED_CLUSTER).unwrap();
    assert!(cluster.rules.is_empty());
    assert_eq!(cluster.sock_sndbuf, 1024 * 1024);
    let hooks = parse(SEED_HOOKS).unwrap();
    assert_eq!(hooks.rules.len(), 7);
}

#[test]
fn shipped_config_is_the_seed_and_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/emqx_bridge_rocket.conf");
    let shipped = std::fs::read_to_string(&path).unwrap();
    assert_eq!(shipped, format!("{SEED_CLUSTER}\n{SEED_HOOKS}"));
    let cfg = BridgeConfig::load(&path).unwrap();
    check_seed_config(&cfg);
}

#[test]
fn empty_file_gives_documented_defaults() {
    let cfg = parse("").unwrap();
    assert_eq!(cfg.servers, vec!["127.0.0.1:9876".to_owned()]);
    assert_eq!(cfg.max_in_flight, 8);
    assert_eq!(cfg.linger, Duration::ZERO);
    assert_eq!(cfg.refresh_topic_route_interval, Duration::from_secs(5));
    assert_eq!(cfg.produce, ProduceMode::Sync);
    assert_eq!(cfg.sync_timeout, Duration::from_secs(3));
    assert_eq!(cfg.batch_size, 100);
    assert_eq!(cfg.encode_payload_type, PayloadEncoding::Base64);
    assert_eq!(
        (cfg.sock_buffer, cfg.sock_recbuf, cfg.sock_sndbuf),
        (32768, 32768, 1 << 20)
    );
    assert_eq!(cfg.sock_read_packets, 20);
    assert_eq!(cfg.producer_group, "rocketmq_bridge");
    assert!(cfg.node.starts_with("rocketmq_bridge@"), "{}", cfg.node);
    assert_eq!(cfg.bridge_id, cfg.node);
    assert_eq!(cfg.namespace, None);
    assert_eq!(cfg.acl, None);
    assert_eq!(cfg.buffer_max_bytes, 4 << 20);
    assert_eq!(cfg.buffer_overflow, OverflowPolicy::Block);
    assert_eq!(cfg.queue_strategy, QueueStrategy::KeyDispatch);
    assert_eq!(cfg.max_message_size, 4 << 20);
    assert_eq!(cfg.drain_timeout, Duration::from_secs(5));
    assert_eq!(cfg.stats_interval, Duration::from_secs(60));
    assert!(cfg.rules.is_empty());
}

#[test]
fn every_key_is_read_with_units() {
    let text = "\
# a one-hash comment
   ## an indented comment

bridge.rocket.servers = 10.0.0.1:9876, 10.0.0.2:9877 ,namesrv
bridge.rocket.refresh_topic_route_interval = 1m30s
bridge.rocket.produce = async
bridge.rocket.produce.sync_timeout = 500MS
bridge.rocket.producer.batch_size = 32
bridge.rocket.encode_payload_type = plain
bridge.rocket.sock.buffer = 64kb
bridge.rocket.sock.recbuf = 2mb
bridge.rocket.sock.sndbuf = 4096
bridge.rocket.sock.read_packets = 5
bridge.rocket.producer_group=GID_bridge
bridge.rocket.node = emqx@10.0.0.9
bridge.rocket.bridge_id = edge-7
bridge.rocket.namespace = prod_ns
bridge.rocket.acl.access_key = AK1
bridge.rocket.acl.secret_key = SK1
bridge.rocket.acl.security_token = TOKEN1
bridge.rocket.buffer.max_bytes = 64MB
bridge.rocket.buffer.overflow = drop_oldest
bridge.rocket.producer.queue_strategy = roundrobin
bridge.rocket.producer.max_in_flight = 32
bridge.rocket.producer.linger = 5ms
bridge.rocket.producer.max_message_size = 1MB
bridge.rocket.drain_timeout = 0s
bridge.rocket.stats_interval = 10S
";
    let cfg = parse(text).unwrap();
    assert_eq!(
        cfg.servers,
        vec!["10.0.0.1:9876", "10.0.0.2:9877", "namesrv:9876"]
    );
    assert_eq!(cfg.refresh_topic_route_interval, Duration::from_secs(90));
    assert_eq!(cfg.produce, ProduceMode::Async);
    assert_eq!(cfg.sync_timeout, Duration::from_millis(500));
    assert_eq!(cfg.batch_size, 32);
    assert_eq!(cfg.max_in_flight, 32);
    assert_eq!(cfg.linger, Duration::from_millis(5));
    assert_eq!(cfg.encode_payload_type, PayloadEncoding::Plain);
    assert_eq!(
        (cfg.sock_buffer, cfg.sock_recbuf, cfg.sock_sndbuf),
        (64 << 10, 2 << 20, 4096)
    );
    assert_eq!(cfg.sock_read_packets, 5);
    assert_eq!(cfg.producer_group, "GID_bridge");
    assert_eq!(cfg.node, "emqx@10.0.0.9");
    assert_eq!(cfg.bridge_id, "edge-7");
    assert_eq!(cfg.namespace.as_deref(), Some("prod_ns"));
    let acl = cfg.acl.as_ref().unwrap();
    assert_eq!(
        (
            acl.access_key.as_str(),
            acl.secret_key.as_str(),
            acl.security_token.as_deref()
        ),
        ("AK1", "SK1", Some("TOKEN1"))
    );
    assert_eq!(cfg.buffer_max_bytes, 64 << 20);
    assert_eq!(cfg.buffer_overflow, OverflowPolicy::DropOldest);
    assert_eq!(cfg.queue_strategy, QueueStrategy::RoundRobin);
    assert_eq!(cfg.max_message_size, 1 << 20);
    assert_eq!(cfg.drain_timeout, Duration::ZERO);
    assert_eq!(cfg.stats_interval, Duration::from_secs(10));
}

#[test]
fn node_alone_sets_the_default_bridge_id() {
    let cfg = parse("bridge.rocket.node = emqx@host-1\n").unwrap();
    assert_eq!(cfg.node, "emqx@host-1");
    assert_eq!(cfg.bridge_id, "emqx@host-1");
    let cfg = parse("bridge.rocket.node = emqx node 2\n").unwrap();
    assert_eq!(cfg.bridge_id, "emqx_node_2");
    let cfg = parse("bridge.rocket.bridge_id = b1\nbridge.rocket.node = emqx@host-1\n").unwrap();
    assert_eq!(cfg.bridge_id, "b1");
}

#[test]
fn several_rules_per_event_with_tags_and_encodings() {
    let text = r##"
bridge.rocket.hook.message.publish.2 = {"filter": "sensors/+/temp", "topic": "Temps", "tag": "temp", "payload_encoding": "plain"}
bridge.rocket.hook.message.publish.1 = {"filter": "#", "topic": "MessagePublish"}
bridge.rocket.hook.message.publish.10 = {"filter": "$SYS/#", "topic": "Sys"}
bridge.rocket.hook.client.connected.1 = {"topic": "ClientConnected", "tag": "online"}
bridge.rocket.encode_payload_type = plain
"##;
    let cfg = parse(text).unwrap();
    let rules = cfg.rules.for_event(EventKind::MessagePublish);
    let ids: Vec<u32> = rules.iter().map(|r| r.index).collect();
    assert_eq!(ids, vec![1, 2, 10]);
    assert_eq!(rules[1].filter.as_ref().unwrap().as_str(), "sensors/+/temp");
    assert_eq!(rules[1].tag.as_deref(), Some("temp"));
    assert_eq!(rules[1].payload_encoding, PayloadEncoding::Plain);
    // No payload_encoding in the rule: the global setting applies, even though it comes later.
    assert_eq!(rules[0].payload_encoding, PayloadEncoding::Plain);
    let connected = cfg
        .rules
        .get(RuleId {
            event: EventKind::ClientConnected,
            index: 1,
        })
        .unwrap();
    assert_eq!(connected.tag.as_deref(), Some("online"));
    assert_eq!(connected.id().to_string(), "client.connected.1");
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = parse_err(
        "bridge.rocket.servers = 127.0.0.1:9876\n\nbridge.rocket.producer.batchsize = 10\n",
    );
    assert!(matches!(e.kind, ConfigErrorKind::UnknownKey));
    assert_at(&e, 3, Some("bridge.rocket.producer.batchsize"));
}

#[test]
fn seed_spelling_is_required_for_produce_and_producer() {
    // The seed spells `produce.sync_timeout` but `producer.batch_size`; the swapped forms are unknown.
    let e = parse_err("bridge.rocket.producer.sync_timeout = 3s\n");
    assert!(matches!(e.kind, ConfigErrorKind::UnknownKey));
    assert_at(&e, 1, Some("bridge.rocket.producer.sync_timeout"));
    let e = parse_err("bridge.rocket.produce.batch_size = 100\n");
    assert!(matches!(e.kind, ConfigErrorKind::UnknownKey));
    assert_at(&e, 1, Some("bridge.rocket.produce.batch_size"));
}

#[test]
fn bad_values_are_rejected_with_what_was_expected() {
    let cases = [
        ("bridge.rocket.produce = maybe", "sync or async"),
        ("bridge.rocket.produce = SYNC", "sync or async"),
        ("bridge.rocket.produce.sync_timeout = 3", "duration"),
        (
            "bridge.rocket.produce.sync_timeout = 0s",
            "greater than zero",
        ),
        (
            "bridge.rocket.refresh_topic_route_interval = 5 seconds",
            "duration",
        ),
        ("bridge.rocket.producer.batch_size = -1", "integer"),
        (
            "bridge.rocket.producer.batch_size = 100000",
            "integer from 0 to 1024",
        ),
        (
            "bridge.rocket.producer.max_in_flight = 0",
            "integer from 1 to 1024",
        ),
        (
            "bridge.rocket.producer.max_in_flight = 2000",
            "integer from 1 to 1024",
        ),
        (
            "bridge.rocket.producer.linger = 2s",
            "a duration from 0s to 1s",
        ),
        ("bridge.rocket.producer.linger = soon", "duration"),
        ("bridge.rocket.encode_payload_type = hex", "base64 or plain"),
        ("bridge.rocket.sock.buffer = 32QB", "size"),
        ("bridge.rocket.sock.sndbuf = 1", "a size from 1KB to 64MB"),
        ("bridge.rocket.sock.read_packets = many", "integer"),
        ("bridge.rocket.servers = 127.0.0.1:notaport", "bad port"),
        (
            "bridge.rocket.servers = 127.0.0.1:9876,,127.0.0.2:9876",
            "bad host",
        ),
        ("bridge.rocket.producer_group = bad group", "group name"),
        ("bridge.rocket.bridge_id = has space", "no spaces"),
        ("bridge.rocket.namespace = a%b", "namespace"),
        (
            "bridge.rocket.buffer.overflow = drop",
            "block, drop_new or drop_oldest",
        ),
        (
            "bridge.rocket.producer.queue_strategy = hash",
            "key_dispatch or roundrobin",
        ),
        (
            "bridge.rocket.producer.max_message_size = 2GB",
            "a size from 1KB to 1GB",
        ),
    ];
    for (line, expected) in cases {
        let text = format!("## comment\n{line}\n");
        let e = parse_err(&text);
        let key = line.split('=').next().unwrap().trim();
        assert_at(&e, 2, Some(key));
        match &e.kind {
            ConfigErrorKind::InvalidValue { expected: exp, .. } => {
                assert!(exp.contains(expected), "{line}: {e}")
            }
            other => panic!("{line}: unexpected {other:?}"),
        }
    }
}

#[test]
fn secrets_are_not_echoed_in_errors() {
    let e = parse_err(
        "bridge.rocket.acl.access_key = AK\nbridge.rocket.acl.secret_key = s3cr3t\u{7}\n",
    );
    assert_at(&e, 2, Some("bridge.rocket.acl.secret_key"));
    assert!(!e.to_string().contains("s3cr3t"), "{e}");
    assert!(e.to_string().contains("<redacted>"), "{e}");
}

#[test]
fn acl_keys_must_come_together() {
    let e = parse_err("bridge.rocket.acl.access_key = AK\n");
    assert!(
        matches!(&e.kind, ConfigErrorKind::Conflict(m) if m.contains("secret_key")),
        "{e}"
    );
    assert_at(&e, 1, Some("bridge.rocket.acl.access_key"));
    let e = parse_err("\nbridge.rocket.acl.secret_key = SK\n");
    assert!(
        matches!(&e.kind, ConfigErrorKind::Conflict(m) if m.contains("access_key")),
        "{e}"
    );
    assert_at(&e, 2, Some("bridge.rocket.acl.secret_key"));
}

#[test]
fn buffer_must_hold_the_largest_message() {
    let e = parse_err("bridge.rocket.buffer.max_bytes = 1MB\n");
    assert!(matches!(e.kind, ConfigErrorKind::Conflict(_)), "{e}");
    assert_at(&e, 1, Some("bridge.rocket.buffer.max_bytes"));
}

#[test]
fn syntax_errors_name_the_line() {
    let e = parse_err("bridge.rocket.produce = sync\nthis line has no equals sign\n");
    assert!(matches!(&e.kind, ConfigErrorKind::Syntax(l) if l == "this line has no equals sign"));
    assert_at(&e, 2, None);
    let e = parse_err("= value\n");
    assert!(matches!(e.kind, ConfigErrorKind::Syntax(_)));
    assert_at(&e, 1, None);
    let e = parse_err("bridge.rocket.produce =\n");
    assert!(matches!(e.kind, ConfigErrorKind::EmptyValue));
    assert_at(&e, 1, Some("bridge.rocket.produce"));
}

#[test]
fn duplicate_keys_name_both_lines() {
    let e = parse_err("bridge.rocket.produce = sync\n## again\nbridge.rocket.produce = async\n");
    assert!(
        matches!(e.kind, ConfigErrorKind::Duplicate { first_line: 1 }),
        "{e}"
    );
    assert_at(&e, 3, Some("bridge.rocket.produce"));
    assert!(e.to_string().contains("first on line 1"), "{e}");
    // `1` and `01` are the same rule.
    let e = parse_err(
        "bridge.rocket.hook.client.connected.1 = {\"topic\": \"A\"}\nbridge.rocket.hook.client.connected.01 = {\"topic\": \"B\"}\n",
    );
    assert!(
        matches!(e.kind, ConfigErrorKind::Duplicate { first_line: 1 }),
        "{e}"
    );
    assert_at(&e, 2, Some("bridge.rocket.hook.client.connected.01"));
}

#[test]
fn unknown_events_and_bad_rule_numbers() {
    let e =
        parse_err("bridge.rocket.hook.message.dropped.1 = {\"filter\": \"#\", \"topic\": \"T\"}\n");
    assert!(
        matches!(&e.kind, ConfigErrorKind::UnknownEvent(ev) if ev == "message.dropped"),
        "{e}"
    );
    assert_at(&e, 1, Some("bridge.rocket.hook.message.dropped.1"));
    for n in ["0", "x", "-1", "+1"] {
        let key = format!("bridge.rocket.hook.client.connected.{n}");
        let e = parse_err(&format!("{key} = {{\"topic\": \"T\"}}\n"));
        assert!(
            matches!(e.kind, ConfigErrorKind::InvalidRuleNumber(_)),
            "{e}"
        );
        assert_at(&e, 1, Some(&key));
    }
    let e = parse_err("bridge.rocket.hook.client.connected = {\"topic\": \"T\"}\n");
    assert!(
        matches!(
            e.kind,
            ConfigErrorKind::InvalidRuleNumber(_) | ConfigErrorKind::UnknownEvent(_)
        ),
        "{e}"
    );
}

/// A rule value and a check of the error it must give.
type RuleCase = (&'static str, fn(&RuleError) -> bool);

#[test]
fn bad_rule_json_names_the_rule_key() {
    let key = "bridge.rocket.hook.message.publish.1";
    let cases: Vec<RuleCase> = vec![
        (r##"{"filter": "#", "topic": "T""##, |e| {
            matches!(e, RuleError::InvalidJson(_))
        }),
        (r##"["#", "T"]"##, |e| matches!(e, RuleError::NotAnObject)),
        (r##"{"filter": "#"}"##, |e| {
            matches!(e, RuleError::MissingKey("topic"))
        }),
        (r##"{"topic": "T"}"##, |e| {
            matches!(e, RuleError::MissingKey("filter"))
        }),
        (r##"{"filter": "#", "topic": 7}"##, |e| {
            matches!(e, RuleError::NotAString("topic"))
        }),
        (
            r##"{"filter": "#", "topic": "T", "qos": 1}"##,
            |e| matches!(e, RuleError::UnknownKey(k) if k == "qos"),
        ),
        (r##"{"filter": "#", "topic": "a/b"}"##, |e| {
            matches!(e, RuleError::InvalidTopic { .. })
        }),
        (r##"{"filter": "#", "topic": ""}"##, |e| {
            matches!(e, RuleError::InvalidTopic { .. })
        }),
        (r##"{"filter": "#", "topic": "T", "tag": "a||b"}"##, |e| {
            matches!(e, RuleError::InvalidTag { .. })
        }),
        (
            r##"{"filter": "#", "topic": "T", "payload_encoding": "hex"}"##,
            |e| matches!(e, RuleError::InvalidEncoding(v) if v == "hex"),
        ),
        (r##"{"filter": "a/#/b", "topic": "T"}"##, |e| {
            matches!(
                e,
                RuleError::InvalidFilter(FilterError::HashNotLast { level: 2 })
            )
        }),
        (r##"{"filter": "a+", "topic": "T"}"##, |e| {
            matches!(
                e,
                RuleError::InvalidFilter(FilterError::PlusNotWholeLevel { level: 1 })
            )
        }),
        (r##"{"filter": "", "topic": "T"}"##, |e| {
            matches!(e, RuleError::InvalidFilter(FilterError::Empty))
        }),
    ];
    for (json, check) in cases {
        let e = parse_err(&format!("bridge.rocket.produce = sync\n{key} = {json}\n"));
        assert_at(&e, 2, Some(key));
        match &e.kind {
            ConfigErrorKind::Rule(r) => assert!(check(r), "{json}: {e}"),
            other => panic!("{json}: unexpected {other:?}"),
        }
    }
}

#[test]
fn client_rules_take_no_filter() {
    let e = parse_err(
        "bridge.rocket.hook.client.connected.1 = {\"filter\": \"#\", \"topic\": \"T\"}\n",
    );
    assert!(
        matches!(
            e.kind,
            ConfigErrorKind::Rule(RuleError::FilterNotAllowed(EventKind::ClientConnected))
        ),
        "{e}"
    );
    assert!(e.to_string().contains("filter"), "{e}");
}

#[test]
fn load_reports_missing_and_non_utf8_files() {
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-dir/bridge.conf");
    let e = BridgeConfig::load(&missing).unwrap_err();
    assert!(matches!(e.kind, ConfigErrorKind::Io(_)));
    assert_eq!(e.line, None);
    assert!(e.to_string().contains("no-such-dir/bridge.conf"), "{e}");

    let bad = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bridge_config_not_utf8.conf");
    std::fs::write(
        &bad,
        b"bridge.rocket.produce = sync\nbridge.rocket.node = caf\xe9\n",
    )
    .unwrap();
    let e = BridgeConfig::load(&bad).unwrap_err();
    assert!(matches!(e.kind, ConfigErrorKind::NotUtf8));
    assert_eq!(e.line, Some(2));
    assert_eq!(e.file, bad);
}

#[test]
fn spool_health_loss_report_and_metrics_keys_are_read_with_defaults() {
    let d = parse("").unwrap();
    assert_eq!(d.spool, None, "spool is off when spool.dir is absent");
    assert_eq!(d.loss_report_topic, None);
    assert_eq!(d.health_window, Duration::from_secs(30));
    assert_eq!(d.metrics_listen, None);
    let c = parse(
        "bridge.rocket.produce = async\nbridge.rocket.spool.dir = /tmp/sp\n\
         bridge.rocket.loss_report.topic = BridgeLoss\nbridge.rocket.health.window = 5s\n\
         bridge.rocket.metrics.listen = 127.0.0.1:9464\n",
    )
    .unwrap();
    let sp = c.spool.clone().unwrap();
    assert_eq!(sp.dir(), Path::new("/tmp/sp"));
    assert_eq!(
        sp,
        rocketmq_bridge::spool::SpoolConfig::new("/tmp/sp"),
        "segment 16MB, cap 1GB, sync interval:1000 by default"
    );
    assert_eq!(c.loss_report_topic.as_deref(), Some("BridgeLoss"));
    assert_eq!(c.health_window, Duration::from_secs(5));
    assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
    let c = parse(
        "bridge.rocket.produce = async\nbridge.rocket.spool.dir = /tmp/sp\n\
         bridge.rocket.spool.segment_size = 1MB\nbridge.rocket.spool.max_bytes = 8MB\n\
         bridge.rocket.spool.sync = every:10\n",
    )
    .unwrap();
    let want = rocketmq_bridge::spool::SpoolConfig::new("/tmp/sp")
        .segment_size(1 << 20)
        .max_bytes(8 << 20)
        .sync("every:10".parse().unwrap());
    assert_eq!(c.spool, Some(want));
}

#[test]
fn spool_and_metrics_errors_name_the_key() {
    let e = parse_err("bridge.rocket.spool.dir = /tmp/sp\n");
    assert_at(&e, 1, Some("bridge.rocket.spool.dir"));
    assert!(e.to_string().contains("produce = async"), "{e}");
    let e = parse_err("bridge.rocket.produce = async\nbridge.rocket.spool.sync = sometimes\n");
    assert_at(&e, 2, Some("bridge.rocket.spool.sync"));
    let e = parse_err("bridge.rocket.produce = async\nbridge.rocket.spool.max_bytes = 1GB\n");
    assert_at(&e, 2, Some("bridge.rocket.spool.max_bytes"));
    assert!(
        e.to_string().contains("needs bridge.rocket.spool.dir"),
        "{e}"
    );
    let e = parse_err(
        "bridge.rocket.produce = async\nbridge.rocket.spool.dir = /tmp/sp\n\
         bridge.rocket.spool.segment_size = 1MB\nbridge.rocket.spool.max_bytes = 1MB\n",
    );
    assert_at(&e, 4, Some("bridge.rocket.spool.max_bytes"));
    let e = parse_err("bridge.rocket.metrics.listen = 0.0.0.0:9464\n");
    assert_at(&e, 1, Some("bridge.rocket.metrics.listen"));
    assert!(e.to_string().contains("loopback"), "{e}");
    let e = parse_err("bridge.rocket.health.window = 0s\n");
    assert_at(&e, 1, Some("bridge.rocket.health.window"));
    let e = parse_err("bridge.rocket.loss_report.topic = bad topic\n");
    assert_at(&e, 1, Some("bridge.rocket.loss_report.topic"));
}

#[test]
fn retry_max_hold_defaults_to_a_minute_and_zero_turns_the_hold_off() {
    assert_eq!(parse("").unwrap().retry_max_hold, Duration::from_secs(60));
    let c = parse("bridge.rocket.retry.max_hold = 1m30s\n").unwrap();
    assert_eq!(c.retry_max_hold, Duration::from_secs(90));
    let c = parse("bridge.rocket.retry.max_hold = 0s\n").unwrap();
    assert_eq!(c.retry_max_hold, Duration::ZERO);
    let e = parse_err("bridge.rocket.retry.max_hold = soon\n");
    assert_at(&e, 1, Some("bridge.rocket.retry.max_hold"));
}

#[test]
fn broker_addr_map_is_read_as_pairs_and_bad_pairs_are_named() {
    let cfg = parse(
        "bridge.rocket.broker_addr_map = 172.17.0.2:10911=127.0.0.1:20911, 10.0.0.5:10911 = broker.example:30911\n",
    )
    .unwrap();
    assert_eq!(
        cfg.broker_addr_map,
        [
            ("172.17.0.2:10911".to_owned(), "127.0.0.1:20911".to_owned()),
            (
                "10.0.0.5:10911".to_owned(),
                "broker.example:30911".to_owned()
            ),
        ]
    );
    let p = rocketmq_bridge::bridge::producer_config(&cfg);
    assert_eq!(p.dial_addr("172.17.0.2:10911"), "127.0.0.1:20911");
    assert_eq!(
        p.dial_addr("10.9.9.9:10911"),
        "10.9.9.9:10911",
        "unmapped: itself"
    );
    for bad in ["a:1", "a:1=b", "a=b:2", "a:1=b:0", ":1=b:2", "a:1=b:2=c:3"] {
        let e = parse_err(&format!("\nbridge.rocket.broker_addr_map = {bad}\n"));
        assert_at(&e, 2, Some("bridge.rocket.broker_addr_map"));
        assert!(e.to_string().contains("dial_host:port"), "{bad}: {e}");
    }
}

#[test]
fn acl_secret_comes_from_a_file_or_the_environment() {
    let dir = std::env::temp_dir().join(format!("rmq-bridge-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("secret");
    std::fs::write(&f, "from-file\n").unwrap();
    let text = format!(
        "bridge.rocket.acl.access_key = AK\nbridge.rocket.acl.secret_key_file = {}\n",
        f.display()
    );
    let c = BridgeConfig::parse(&text, "t.conf").unwrap();
    assert_eq!(c.acl.unwrap().secret_key, "from-file");
    // An environment variable only this test sets (tests of this binary run in threads).
    let var = format!("RMQ_BRIDGE_TEST_SECRET_{}", std::process::id());
    std::env::set_var(&var, "from-env");
    let text =
        format!("bridge.rocket.acl.access_key = AK\nbridge.rocket.acl.secret_key_env = {var}\n");
    let c = BridgeConfig::parse(&text, "t.conf").unwrap();
    assert_eq!(c.acl.unwrap().secret_key, "from-env");
    let both = format!("{text}bridge.rocket.acl.secret_key = inline\n");
    let e = BridgeConfig::parse(&both, "t.conf").unwrap_err();
    assert!(e.to_string().contains("give the ACL secret once"), "{e}");
    let missing = "bridge.rocket.acl.access_key = AK\n\
                   bridge.rocket.acl.secret_key_env = RMQ_BRIDGE_TEST_UNSET_VARIABLE\n";
    let e = BridgeConfig::parse(missing, "t.conf").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("bridge.rocket.acl.secret_key_env"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tls_keys_are_checked_when_the_config_is_loaded() {
    let off = "bridge.rocket.tls.enable = false\nbridge.rocket.tls.ca_file = /nonexistent.pem\n";
    assert_eq!(BridgeConfig::parse(off, "t.conf").unwrap().tls, None);
    let bad = BridgeConfig::parse("bridge.rocket.tls.verify = maybe\n", "t.conf").unwrap_err();
    assert_eq!(bad.key.as_deref(), Some("bridge.rocket.tls.verify"));
    let on = "bridge.rocket.tls.enable = true\nbridge.rocket.tls.ca_file = /nonexistent/ca.pem\n";
    let e = BridgeConfig::parse(on, "t.conf").unwrap_err();
    if cfg!(feature = "tls") {
        // The file is read at load time and named with its key.
        assert_eq!(e.key.as_deref(), Some("bridge.rocket.tls.ca_file"), "{e}");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    } else {
        assert_eq!(e.key.as_deref(), Some("bridge.rocket.tls.enable"), "{e}");
        assert!(e.to_string().contains("--features tls"), "{e}");
    }
}
