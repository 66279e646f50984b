//! Two `rocketmq-bridge mqtt` processes on one shared subscription (`mqtt.share_group`, so
//! `$share/<group>/sh/#`) against real mosquitto 2.0 (`max_queued_messages 0`) and a real
//! RocketMQ cluster (issue 23: "two bridges on one shared subscription, then one SIGKILLed and
//! left down: what happens to its share"). One bridge is SIGKILLed mid-stream and left down until
//! the publisher is done; what RocketMQ holds then is counted (mosquitto 2.0 keeps choosing the
//! offline member's persistent session for its turn of the round robin and queues those messages
//! for it), then the bridge returns and every publish is read back. The measured split is printed.
//! Once more with the killed bridge's session expiring (1 s) while it is away: mosquitto drops the
//! session and the share queued in it; that loss is asserted (it is mosquitto's behaviour the README
//! warns about), and the returning bridge starts a fresh session.
//! 300 QoS 1 publishes by default, 20,000 with `TEST_SCALE=full`.

use crate::brokers::{Kind, TestBroker};
use crate::source::{number_before, publisher, spawn_bridge, term_and_wait};
use rocketmq_bridge_test_support as support;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::mosquitto as mosq;
use support::{eventually, read_back, scale, suffix, Cluster, ReadBack};

/// `N PUBLISH received` of a bridge's summary line.
fn received(summary: &str) -> u64 {
    number_before(summary, " PUBLISH received").unwrap_or_else(|| panic!("no summary: {summary}"))
}

/// Distinct publishes (payload indexes) in `got`, and the number of extra copies.
fn distinct(got: &[rocketmq_bridge::message::MessageExt]) -> (BTreeMap<u64, usize>, usize) {
    let mut copies: BTreeMap<u64, usize> = BTreeMap::new();
    for m in got {
        let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
        *copies
            .entry(v["payload"].as_str().unwrap().parse().unwrap())
            .or_default() += 1;
    }
    let dups = copies.values().map(|c| c - 1).sum();
    (copies, dups)
}

#[test]
fn a_sigkilled_member_of_a_shared_subscription_gets_its_queued_share_when_it_returns() {
    sigkill_one_of_two(None);
}

/// The same with `mqtt.session_expiry = 1s` for the killed bridge: mosquitto ends its session
/// while it is away and its queued share goes with it; the returning bridge starts afresh.
#[test]
fn a_member_whose_session_expires_while_it_is_away_loses_its_queued_share() {
    sigkill_one_of_two(Some("1s"));
}

/// Two bridges in one share group, A SIGKILLed at a fifth of the stream and started again once
/// the publisher is done. `expiry`: A's `mqtt.session_expiry` (default 1 day).
fn sigkill_one_of_two(expiry: Option<&str>) {
    let n = scale(300, 20_000);
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let topic = format!("MqttShare_{sfx}");
    support::warm_up_topics(&c.namesrv, &[&topic]);
    let dir = mosq::temp_dir("source-share");
    let broker = TestBroker::start(
        Kind::Mosquitto,
        &dir,
        "allow_anonymous true\nmax_queued_messages 0\n",
    );
    let config = |id: &str, expiry: &str| -> PathBuf {
        let path = dir.join(format!("{id}.conf"));
        std::fs::write(
            &path,
            format!(
                "bridge.rocket.servers = {ns}\nbridge.rocket.produce = sync\n\
                 bridge.rocket.encode_payload_type = plain\nbridge.rocket.stats_interval = 0s\n\
                 bridge.rocket.hook.message.publish.1 = {{\"filter\": \"sh/#\", \"topic\": \"{topic}\"}}\n\
                 bridge.rocket.mqtt.server = 127.0.0.1:{port}\nbridge.rocket.mqtt.client_id = {id}\n\
                 bridge.rocket.mqtt.share_group = g{sfx}\nbridge.rocket.mqtt.keepalive = 10s\n\
                 bridge.rocket.mqtt.reconnect_min = 100ms\nbridge.rocket.mqtt.reconnect_max = 1s\n\
                 bridge.rocket.mqtt.session_expiry = {expiry}\n",
                ns = c.namesrv,
                port = broker.port(),
            ),
        )
        .unwrap();
        path
    };
    let (a, b) = (format!("share-a-{sfx}"), format!("share-b-{sfx}"));
    let (conf_a, conf_b) = (config(&a, expiry.unwrap_or("1d")), config(&b, "1d"));
    let log = |name: &str| -> PathBuf { dir.join(format!("{name}.stderr")) };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let mut first_a = spawn_bridge(&conf_a, &log("a-1"));
    let mut bridge_b = spawn_bridge(&conf_b, &log("b"));
    assert!(
        eventually(Duration::from_secs(20), || broker.subscribes(&a) == 1
            && broker.subscribes(&b) == 1),
        "the bridges did not subscribe: {}\n{}",
        read(&log("a-1")),
        read(&log("b"))
    );
    let start = Instant::now();
    let lines = (0..n).map(|i| i.to_string()).collect();
    let publishing = publisher(Kind::Mosquitto, broker.port(), "sh/x", 1, lines);
    let how = ReadBack::new("mqtt_share_rb")
        .bounded(Duration::from_secs(20), Duration::from_millis(100))
        .skip_warmup();
    let _ = read_back(&c.namesrv, &topic, n / 5, &how);
    first_a.kill().unwrap();
    let _ = first_a.wait();
    let killed_at = start.elapsed();
    let sent_to_a = |log: &str| log.matches(&format!("Sending PUBLISH to {a} (")).count();
    let a_before = sent_to_a(&broker.log());
    assert!(publishing.join().unwrap(), "mosquitto_pub failed");
    // A is left down: what B forwards meanwhile is all RocketMQ gets. Wait until that settles.
    let mut stored_while_down = 0;
    let settle = Instant::now();
    loop {
        let got = read_back(
            &c.namesrv,
            &topic,
            n,
            &how.bounded(Duration::from_millis(500), Duration::from_millis(100)),
        );
        let now = distinct(&got).0.len();
        if (now == stored_while_down && now > 0) || settle.elapsed() > Duration::from_secs(20) {
            break;
        }
        stored_while_down = now;
    }
    let missing_while_down = n - stored_while_down;
    let mut second_a = spawn_bridge(&conf_a, &log("a-2"));
    // With the session expired nothing more comes: a short look suffices.
    let how = how.bounded(
        match expiry {
            None => Duration::from_secs(scale(30, 300) as u64),
            Some(_) => Duration::from_secs(3),
        },
        Duration::from_millis(200),
    );
    let got = read_back(&c.namesrv, &topic, n, &how);
    term_and_wait(&mut second_a, Duration::from_secs(30));
    term_and_wait(&mut bridge_b, Duration::from_secs(30));
    let elapsed = start.elapsed();
    let (copies, dups) = distinct(&got);
    let missing: Vec<u64> = (0..n as u64).filter(|i| !copies.contains_key(i)).collect();
    let (sum_a2, sum_b) = (read(&log("a-2")), read(&log("b")));
    let (a_after, b_got) = (received(&sum_a2), received(&sum_b));
    println!(
        "shared subscription ({}, mosquitto 2.0, max_queued_messages 0, sync, MQTT 5, A's \
         session expiry {}): {n} \
         QoS 1 publishes; bridge A SIGKILLed at {killed_at:?} after mosquitto had sent it \
         {a_before}; bridge B received {b_got} in all; with A down and the publisher done, \
         RocketMQ held {stored_while_down} of {n} ({missing_while_down} missing: queued for A); \
         A's second run received {a_after}; in the end {} read back, {} missing, {dups} \
         duplicates, {elapsed:?} in all\nA: {}\nB: {}",
        c.implementation,
        expiry.unwrap_or("1d"),
        got.len(),
        missing.len(),
        sum_a2.trim(),
        sum_b.trim()
    );
    assert!(
        missing_while_down > 0,
        "mosquitto gave all of A's share to B while A was down: update the README"
    );
    if expiry.is_some() {
        // The share queued for A went with its session: lost, and nothing arrived on return.
        assert!(sum_a2.contains("(0 resumed a session)"), "{sum_a2}");
        assert_eq!(
            (missing.len(), a_after),
            (missing_while_down, 0),
            "update the README's account of an expired member"
        );
        return;
    }
    assert!(
        missing.is_empty(),
        "missing {} of {n}, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        a_after as usize >= missing_while_down,
        "A's second run got {a_after}, fewer than the {missing_while_down} missing"
    );
}
