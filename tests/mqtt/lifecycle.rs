//! `rocketmq-bridge mqtt` with `mqtt.emqx_client_events` under a configured topic pattern (issue
//! 23: "the EMQX lifecycle mapping is a configurable topic pattern, tested under a non-$SYS
//! prefix"): real mosquitto 2.0 and a real RocketMQ cluster; `mosquitto_pub` publishes EMQX-shaped
//! `connected` / `disconnected` JSON under `lab/emqx/+/clients/+` (a client cannot publish to
//! `$SYS`), and the `client.connected` / `client.disconnected` events are read back from RocketMQ.
//! Not run against EMQX itself (the README says so).

use crate::brokers::{Kind, TestBroker};
use crate::source::{spawn_bridge, term_and_wait};
use rocketmq_bridge_test_support as support;
use std::time::Duration;
use support::mosquitto as mosq;
use support::{eventually, read_back, suffix, Cluster, ReadBack};

#[test]
fn emqx_shaped_lifecycle_messages_under_a_configured_prefix_become_client_events() {
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let topic = format!("MqttLife_{sfx}");
    support::warm_up_topics(&c.namesrv, &[&topic]);
    let dir = mosq::temp_dir("source-lifecycle");
    let broker = TestBroker::start(Kind::Mosquitto, &dir, "allow_anonymous true\n");
    let client_id = format!("bridge-life-{sfx}");
    let config = dir.join("bridge.conf");
    std::fs::write(
        &config,
        format!(
            "bridge.rocket.servers = {ns}\nbridge.rocket.produce = sync\n\
             bridge.rocket.stats_interval = 0s\n\
             bridge.rocket.hook.client.connected.1 = {{\"topic\": \"{topic}\"}}\n\
             bridge.rocket.hook.client.disconnected.1 = {{\"topic\": \"{topic}\"}}\n\
             bridge.rocket.mqtt.server = 127.0.0.1:{port}\nbridge.rocket.mqtt.client_id = {client_id}\n\
             bridge.rocket.mqtt.emqx_client_events = true\n\
             bridge.rocket.mqtt.emqx_client_topic = lab/emqx/+/clients/+\n",
            ns = c.namesrv,
            port = broker.port(),
        ),
    )
    .unwrap();
    let log = dir.join("bridge.stderr");
    let mut bridge = spawn_bridge(&config, &log);
    let subscribed = format!("Sending SUBACK to {client_id}");
    assert!(
        eventually(Duration::from_secs(20), || broker
            .log()
            .contains(&subscribed)),
        "the bridge did not subscribe: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let sent = [
        (
            "lab/emqx/emqx@10.0.0.1/clients/dev-1/connected",
            r#"{"clientid":"dev-1","username":"alice","ts":1700000000001,"proto_ver":5,"keepalive":60}"#,
        ),
        (
            "lab/emqx/emqx@10.0.0.1/clients/dev-1/disconnected",
            r#"{"clientid":"dev-1","username":"alice","ts":1700000000002,"reason":"keepalive_timeout"}"#,
        ),
        // EMQX 4's user name `undefined`, the client id from the topic.
        (
            "lab/emqx/emqx@10.0.0.1/clients/dev-2/connected",
            r#"{"username":"undefined","ts":1700000000003}"#,
        ),
        // Not a lifecycle level, and EMQX's own prefix: neither subscribed nor forwarded.
        ("lab/emqx/emqx@10.0.0.1/clients/dev-2/subscribed", "{}"),
        ("$SYS/brokers/n1/clients/dev-3/connected", "{}"),
    ];
    for (t, body) in sent {
        assert!(broker.publish(&["-q", "1", "-t", t, "-m", body]), "{t}");
    }
    let how = ReadBack::new("mqtt_life_rb")
        .bounded(Duration::from_secs(20), Duration::from_millis(100))
        .skip_warmup();
    let got = read_back(&c.namesrv, &topic, 3, &how);
    term_and_wait(&mut bridge, Duration::from_secs(20));
    let summary = std::fs::read_to_string(&log).unwrap();
    // (the `mqtt_event` property, the body), in `ts` order.
    let mut events: Vec<(String, serde_json::Value)> = got
        .iter()
        .map(|m| {
            let ev = m.properties.get("mqtt_event").unwrap_or("").to_owned();
            (ev, serde_json::from_slice(&m.body).unwrap())
        })
        .collect();
    events.sort_by_key(|(_, v)| v["ts"].as_u64());
    println!("lifecycle events read back: {events:?}\n{}", summary.trim());
    assert_eq!(events.len(), 3, "{summary}");
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "client.connected",
            "client.disconnected",
            "client.connected"
        ]
    );
    let field = |i: usize, k: &str| events[i].1[k].clone();
    assert_eq!(
        (field(0, "client_id"), field(0, "username")),
        ("dev-1".into(), "alice".into())
    );
    assert_eq!(field(0, "reason"), serde_json::Value::Null);
    assert_eq!(field(1, "reason"), "keepalive_timeout");
    assert_eq!(field(1, "ts"), 1_700_000_000_002u64);
    assert_eq!(
        (field(2, "client_id"), field(2, "username")),
        ("dev-2".into(), serde_json::Value::Null)
    );
    assert!(summary.contains("3 PUBLISH received"), "{summary}");
}
