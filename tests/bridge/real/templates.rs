//! Rule templates against a real broker (issue 24, item 3): the seven seed events through rules
//! with topic, tag and key templates and `"body": "payload"`, read back from the broker with
//! their topic, tag, keys and body byte for byte; a rule's topic cap refusing its third topic;
//! and events spooled while no name server answers, sent after a restart on the same spool to
//! the topics, tags and keys they were rendered with. Under `real::`, so the Java 5.5.0 run of
//! scripts/test.sh runs it too. Every wait is bounded (warm-ups 60 s a topic, sync sends 3 s plus
//! the bridge's margin, read-backs 30 s, shutdowns 5 s).

use super::{config, READ_BACK};
use bytes::Bytes;
use rocketmq_bridge::bridge::{
    format_event, Bridge, BridgeConfig, DropReason, Event, EventKind, PayloadEncoding,
    SendEventError,
};
use rocketmq_bridge::message::MessageExt;
use rocketmq_bridge_test_support::{read_back, suffix, temp_dir, warm_up_topics, Cluster};
use std::time::Duration;

const NODE: &str = "emqx@127.0.0.1";

/// The seven rules, each with templates, and the topic each seed event renders to.
fn rules(sfx: &str) -> String {
    format!(
        r##"bridge.rocket.hook.client.connected.1 = {{"topic": "TplConn_{sfx}", "tag": "${{username}}", "key": "${{client_id}}"}}
bridge.rocket.hook.client.disconnected.1 = {{"topic": "TplDisc_{sfx}", "tag": "${{event}}", "key": "${{client_id}}-${{username}}"}}
bridge.rocket.hook.session.subscribed.1 = {{"filter": "#", "topic": "TplSub_{sfx}_${{qos}}", "key": "${{topic}}"}}
bridge.rocket.hook.session.unsubscribed.1 = {{"filter": "#", "topic": "TplUnsub_{sfx}", "tag": "${{topic.0}}", "key": "${{client_id}}"}}
bridge.rocket.hook.message.publish.1 = {{"filter": "sensors/#", "topic": "${{topic.0}}_{sfx}", "tag": "${{client_id}}", "key": "${{client_id}}", "body": "payload"}}
bridge.rocket.hook.message.delivered.1 = {{"filter": "#", "topic": "Dlv_${{topic.1}}_{sfx}", "tag": "${{username}}", "key": "${{client_id}}", "body": "payload"}}
bridge.rocket.hook.message.acked.1 = {{"filter": "#", "topic": "Ack_{sfx}", "key": "${{node}}"}}
bridge.rocket.hook.message.publish.2 = {{"filter": "cap/#", "topic": "Cap_${{topic.1}}_{sfx}"}}
bridge.rocket.template.max_topics = 2
"##
    )
}

/// What each seed event must arrive as: topic, tag, the template's key, the body.
struct Want {
    topic: String,
    tag: Option<&'static str>,
    key: &'static str,
    body: Vec<u8>,
}

fn events() -> Vec<Event> {
    // Binary, with a space and bytes that are not UTF-8: only "payload" keeps them as they are.
    super::seed_events_with(Bytes::from_static(b"\x00\x01 21.5 \xff\xfe"))
}

fn wants(sfx: &str) -> Vec<Want> {
    let evs = events();
    let payload = evs[4].payload.as_ref().unwrap().to_vec();
    let json = |ev: &Event| {
        let mut b = Vec::new();
        format_event(ev, NODE, PayloadEncoding::Base64, &mut b);
        b
    };
    vec![
        Want {
            topic: format!("TplConn_{sfx}"),
            tag: Some("alice"),
            key: "c1",
            body: json(&evs[0]),
        },
        Want {
            topic: format!("TplDisc_{sfx}"),
            tag: Some("client.disconnected"),
            key: "c1-alice",
            body: json(&evs[1]),
        },
        Want {
            topic: format!("TplSub_{sfx}_1"),
            tag: None,
            key: "sensors/+/temp",
            body: json(&evs[2]),
        },
        Want {
            topic: format!("TplUnsub_{sfx}"),
            tag: Some("sensors"),
            key: "c1",
            body: json(&evs[3]),
        },
        Want {
            topic: format!("sensors_{sfx}"),
            tag: Some("c1"),
            key: "c1",
            body: payload.clone(),
        },
        Want {
            topic: format!("Dlv_1_{sfx}"),
            tag: Some("bob"),
            key: "c2",
            body: payload,
        },
        Want {
            topic: format!("Ack_{sfx}"),
            tag: None,
            key: NODE,
            body: json(&evs[6]),
        },
    ]
}

/// Reads each wanted topic back (warm-ups left out) and checks its one message.
fn check_read_back(c: &Cluster, wants: &[Want], keys: &[String]) {
    let how = READ_BACK.skip_warmup();
    for (w, bridge_key) in wants.iter().zip(keys) {
        let got: Vec<MessageExt> = read_back(&c.namesrv, &w.topic, 1, &how);
        assert_eq!(got.len(), 1, "{}: {got:?}", w.topic);
        let m = &got[0];
        assert_eq!(m.tags(), w.tag, "{}", w.topic);
        assert_eq!(
            m.keys(),
            vec![bridge_key.as_str(), w.key],
            "{}: the bridge's key first, then the template's",
            w.topic
        );
        assert_eq!(
            m.body,
            w.body,
            "{}: {}",
            w.topic,
            String::from_utf8_lossy(&m.body)
        );
    }
}

fn topics_of(wants: &[Want], extra: &[String]) -> Vec<String> {
    wants
        .iter()
        .map(|w| w.topic.clone())
        .chain(extra.iter().cloned())
        .collect()
}

#[test]
fn templated_seed_events_read_back_with_their_topic_tag_keys_and_body() {
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let wants = wants(&sfx);
    let caps = [format!("Cap_a_{sfx}"), format!("Cap_b_{sfx}")];
    let topics = topics_of(&wants, &caps);
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    warm_up_topics(&c.namesrv, &refs);

    let bridge = Bridge::start(config(&c, "sync", &rules(&sfx))).unwrap();
    let tx = bridge.sender();
    for ev in events() {
        tx.send(ev).unwrap();
    }
    let cap = |t: &str| Event::message_publish("c9", t, Bytes::from_static(b"1"), 0);
    tx.send(cap("cap/a")).unwrap();
    tx.send(cap("cap/b")).unwrap();
    assert_eq!(
        tx.send(cap("cap/c")),
        Err(SendEventError::Dropped {
            rule: rocketmq_bridge::bridge::RuleId {
                event: EventKind::MessagePublish,
                index: 2
            },
            reason: DropReason::TopicCap { max: 2 }
        })
    );
    let prefix = bridge.key_prefix().to_owned();
    let keys: Vec<String> = (0..7).map(|i| format!("{prefix}-{i}")).collect();
    check_read_back(&c, &wants, &keys);
    for t in &caps {
        let got = read_back(&c.namesrv, t, 1, &READ_BACK.skip_warmup());
        assert_eq!(got.len(), 1, "{t}");
    }
    drop(tx);
    let report = bridge.shutdown(Duration::from_secs(5));
    assert!(report.drained && report.unsent.is_empty(), "{report}");
    let t = report.stats.total();
    assert_eq!(
        (t.matched, t.sent, t.dropped_topic_cap, t.failed),
        (10, 9, 1, 0),
        "{report}"
    );

    // Spooled while no name server answers, sent by the next run on the same spool.
    let dir = temp_dir("bridge-templates", &sfx);
    let spool_conf = |servers: &str| {
        let text = format!(
            "bridge.rocket.servers = {servers}\nbridge.rocket.produce = async\n\
             bridge.rocket.node = {NODE}\nbridge.rocket.bridge_id = tpl-spool\n\
             bridge.rocket.stats_interval = 0s\nbridge.rocket.spool.dir = {}\n\
             bridge.rocket.refresh_topic_route_interval = 1s\n{}",
            dir.display(),
            rules(&format!("{sfx}s"))
        );
        BridgeConfig::parse(&text, "templates_spool.conf").unwrap()
    };
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let offline = Bridge::start(spool_conf(&closed)).unwrap();
    let spool_prefix = offline.key_prefix().to_owned();
    let otx = offline.sender();
    for ev in events() {
        otx.send(ev).unwrap();
    }
    // The sender holds the spool too: dropped, the next bridge can lock the directory.
    drop(otx);
    let report = offline.shutdown(Duration::from_millis(500));
    let sp = report.stats.spool.as_ref().unwrap();
    assert_eq!(
        sp.pending_records, 7,
        "every event waits in the spool: {report}"
    );
    let first_seq = sp.next_seq - 7;

    let wants = self::wants(&format!("{sfx}s"));
    let topics = topics_of(&wants, &[]);
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    warm_up_topics(&c.namesrv, &refs);
    let online = Bridge::start(spool_conf(&c.namesrv_addrs.join(","))).unwrap();
    assert_eq!(online.key_prefix(), spool_prefix, "the spool keeps its id");
    let keys: Vec<String> = (first_seq..first_seq + 7)
        .map(|i| format!("{spool_prefix}-{i}"))
        .collect();
    check_read_back(&c, &wants, &keys);
    let report = online.shutdown(Duration::from_secs(5));
    let sp = report.stats.spool.as_ref().unwrap();
    assert_eq!((sp.recovered, sp.pending_records), (7, 0), "{report}");
}
