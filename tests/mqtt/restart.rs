//! The MQTT broker restarted under `rocketmq-bridge mqtt`: aedes 1.2.0 keeps sessions in memory,
//! so after a SIGKILL and a start on the same port the bridge finds no session (CONNACK session
//! present 0), subscribes again and goes on; what was published before and after is read back
//! from a real RocketMQ cluster (sync mode, MQTT 3.1.1, QoS 1).

use crate::brokers::{pub_command, Kind};
use crate::source::{spawn_bridge, term_and_wait};
use rocketmq_bridge_test_support as support;
use std::process::Stdio;
use std::time::Duration;
use support::aedes::Aedes;
use support::mosquitto as mosq;
use support::{eventually, read_back, suffix, Cluster, ReadBack};

fn publish(port: u16, from: usize, to: usize) {
    for i in from..to {
        let out = mosq::run(
            {
                let mut c = pub_command(Kind::Aedes, port);
                c.args(["-q", "1", "-t", "r/x", "-m", &i.to_string()])
                    .stdin(Stdio::null());
                c
            },
            Duration::from_secs(5),
        );
        assert!(out.status.success(), "mosquitto_pub {i}: {out:?}");
    }
}

#[test]
fn after_an_aedes_restart_the_bridge_subscribes_again_and_goes_on() {
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let topic = format!("MqttRestart_{sfx}");
    support::warm_up_topics(&c.namesrv, &[&topic]);
    let dir = mosq::temp_dir("source-aedes-restart");
    let first = Aedes::start(&dir.join("aedes-1"));
    let port = first.port;
    let client_id = format!("bridge-restart-{sfx}");
    let config = dir.join("bridge.conf");
    std::fs::write(
        &config,
        format!(
            "bridge.rocket.servers = {ns}\nbridge.rocket.produce = sync\n\
             bridge.rocket.encode_payload_type = plain\nbridge.rocket.stats_interval = 0s\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"r/#\", \"topic\": \"{topic}\"}}\n\
             bridge.rocket.mqtt.server = 127.0.0.1:{port}\nbridge.rocket.mqtt.client_id = {client_id}\n\
             bridge.rocket.mqtt.version = 3.1.1\nbridge.rocket.mqtt.keepalive = 5s\n\
             bridge.rocket.mqtt.reconnect_min = 100ms\nbridge.rocket.mqtt.reconnect_max = 500ms\n",
            ns = c.namesrv,
        ),
    )
    .unwrap();
    let log = dir.join("bridge.stderr");
    let mut bridge = spawn_bridge(&config, &log);
    let subscribed = format!("client subscribed {client_id} ");
    assert!(
        eventually(Duration::from_secs(20), || first
            .log()
            .contains(&subscribed)),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    publish(port, 0, 10);
    let how = ReadBack::new("mqtt_restart_rb")
        .bounded(Duration::from_secs(20), Duration::from_millis(100))
        .skip_warmup();
    assert_eq!(read_back(&c.namesrv, &topic, 10, &how).len(), 10);
    let _ = first.kill();
    let second = Aedes::start_on(&dir.join("aedes-2"), port);
    assert!(
        eventually(Duration::from_secs(20), || second
            .log()
            .contains(&subscribed)),
        "no new SUBSCRIBE after the restart: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    publish(port, 10, 20);
    let got = read_back(&c.namesrv, &topic, 20, &how);
    term_and_wait(&mut bridge, Duration::from_secs(20));
    let summary = std::fs::read_to_string(&log).unwrap();
    let mut seen: Vec<u64> = got
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
            v["payload"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    seen.sort_unstable();
    seen.dedup();
    println!("aedes restart: {} read back\n{}", got.len(), summary.trim());
    assert_eq!(seen, (0..20).collect::<Vec<u64>>(), "{summary}");
    assert!(
        summary.contains("20 PUBLISH received")
            && summary.contains("2 connections (0 resumed a session)"),
        "{summary}"
    );
}
