//! The bridge through the Apache RocketMQ 5.5.0 proxy in its remoting mode (issue 21, item 7):
//! `scripts/rocketmq-java.sh start --proxy` puts rocketmq-proxy (cluster mode) in front of two
//! brokers, and the bridge takes the proxy's address as its name server, as clients of a
//! Kubernetes deployment that exposes only the proxy do. The proxy answers every route with itself
//! as each broker's address and forwards each send to the broker its header names (`n`, the broker
//! name; it refuses a send without it with code 15). The seven seed events go through it in an
//! async run with batches (20 rounds at CI size) and a sync run (one round, round-robin over both
//! brokers), and are read back from the brokers themselves: every event is there, with its JSON,
//! key and tag; some were stored as batch members; the sync run's seven landed on both brokers.
//! A producer's round-robin sends check that each message is stored on the broker its result
//! names, and the pull consumer reads a topic through the proxy as well.
//!
//! Topics are created on the brokers first: the proxy refuses a send to a topic it has not seen
//! with code 13 (`TopicMessageType validate failed`), where a broker would auto-create it.
//!
//! Under `real::`, so the Java run of scripts/test.sh runs it. rocketmq-rust 1.0 has no proxy, and
//! scripts/rocketmq.sh must refuse `--proxy` with a clear message; under `RMQ_IMPL=rust` that
//! refusal is what is checked (the proxy run itself is NOT RUN there, and says so).

use super::{seed_events, seed_rules};
use rocketmq_bridge::bridge::{format_event, Bridge, BridgeConfig, PayloadEncoding};
use rocketmq_bridge::message::{Message, MessageExt};
use rocketmq_bridge::producer::{Producer, ProducerConfig};
use rocketmq_bridge_test_support::{
    assert_cluster_script_refuses, create_topic, read_back, scale, suffix, Cluster, ReadBack,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Read-back from the brokers (60 s bound: a loaded machine slows a fresh Java broker's reads).
const READ_BACK: ReadBack = ReadBack::new("bridge_proxy_readback")
    .bounded(Duration::from_secs(60), Duration::from_millis(250));

/// A bridge config whose only "name server" is the proxy at `proxy`.
fn proxy_config(proxy: &str, mode: &str, extra: &str, rules: &str) -> BridgeConfig {
    let text = format!(
        "bridge.rocket.servers = {proxy}\nbridge.rocket.produce = {mode}\n\
         bridge.rocket.node = emqx@127.0.0.1\nbridge.rocket.bridge_id = test-bridge\n\
         bridge.rocket.stats_interval = 0s\n{extra}{rules}"
    );
    BridgeConfig::parse(&text, "bridge_proxy.conf").unwrap()
}

/// Waits (60 s bound) until the proxy routes `topic` to every broker of `c`, and checks that it
/// gives its own address for each of them.
fn wait_proxy_route(p: &Producer, c: &Cluster, proxy: &str, topic: &str) {
    let names: BTreeSet<&str> = c.brokers.iter().map(|b| b.0.as_str()).collect();
    let start = Instant::now();
    loop {
        if let Ok(info) = p.check_route(topic) {
            let routed: BTreeSet<&str> = info.masters.keys().map(String::as_str).collect();
            if !info.from_default_topic && routed == names {
                for (name, addr) in &info.masters {
                    assert_eq!(addr, proxy, "{topic}: the proxy routes {name} at itself");
                }
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the proxy does not route {topic} to {names:?} after 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What one event should have left in its topic: the JSON body and the message key.
struct Expected {
    topic: String,
    body: Vec<u8>,
    key: String,
    sync: bool,
}

/// Sends `rounds` rounds of the seven seed events (timestamps from `base_ts`) through a bridge
/// started on `cfg`, drains it, checks the report and returns what each event should have left.
fn run_bridge(
    cfg: BridgeConfig,
    topics: &[String],
    rounds: usize,
    base_ts: u64,
    sync: bool,
) -> Vec<Expected> {
    let bridge = Bridge::start(cfg).unwrap();
    let tx = bridge.sender();
    let prefix = bridge.key_prefix().to_owned();
    let mut want = Vec::new();
    let mut seq = 0;
    for r in 0..rounds {
        for (k, ev) in seed_events().into_iter().enumerate() {
            let ev = ev.with_ts(base_ts + (r * 7 + k) as u64);
            let mut body = Vec::new();
            format_event(&ev, "emqx@127.0.0.1", PayloadEncoding::Base64, &mut body);
            tx.send(ev).unwrap();
            want.push(Expected {
                topic: topics[k].clone(),
                body,
                key: format!("{prefix}-{seq}"),
                sync,
            });
            seq += 1;
        }
    }
    let report = bridge.shutdown(Duration::from_secs(30));
    let t = report.stats.total();
    let n = (rounds * 7) as u64;
    assert_eq!((t.matched, t.sent, t.failed), (n, n, 0), "{report}");
    want
}

#[test]
fn seven_seed_events_through_the_proxy_in_async_batches_and_sync_sends() {
    let implementation = std::env::var("RMQ_IMPL").unwrap_or_else(|_| "rust".to_owned());
    if implementation == "rust" {
        let err =
            assert_cluster_script_refuses(&["--proxy"], &["--proxy", "has no proxy", "java5"]);
        eprintln!(
            "proxy: NOT RUN on rocketmq-rust (it has no proxy); scripts/rocketmq.sh start --proxy refused: {err}"
        );
        return;
    }

    let started = Instant::now();
    let c = Cluster::start_with_proxy(1, 2);
    let proxy = c.proxy.clone().expect("RMQ_PROXY");
    let sfx = suffix();
    let (rules, topics) = seed_rules(&sfx);
    let topics: Vec<String> = topics.into_iter().map(|(_, t)| t).collect();
    let route_topic = format!("ProxyRoute_{sfx}");
    // Topics first, on every broker (the proxy refuses a topic it has not seen with code 13).
    for t in topics.iter().chain([&route_topic]) {
        for (_, addr) in &c.brokers {
            create_topic(addr, t, 6);
        }
    }
    let p = Producer::start(
        ProducerConfig::new(&[proxy.as_str()], "proxy_producer_group")
            .attempt_timeout(Duration::from_secs(8))
            .send_timeout(Duration::from_secs(20))
            .heartbeat_interval(Duration::ZERO),
    )
    .unwrap();
    for t in topics.iter().chain([&route_topic]) {
        wait_proxy_route(&p, &c, &proxy, t);
    }
    eprintln!(
        "proxy: cluster with proxy {proxy} up and 8 topics routed through it in {:?}",
        started.elapsed()
    );

    // A producer through the proxy, round-robin over both brokers' queues: each message is stored
    // on the broker its send result names (the `n` of its request), not merely somewhere.
    let mut sent_to: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..8 {
        let r = p
            .send(Message::new(route_topic.as_str(), format!("route-{i}")))
            .unwrap();
        assert_eq!(r.broker_addr, proxy, "sent through the proxy");
        sent_to.insert(format!("route-{i}"), r.queue.broker_name.clone());
    }
    p.close(Duration::from_secs(2));
    let by_name: BTreeMap<&str, &str> = c
        .brokers
        .iter()
        .map(|(n, a)| (n.as_str(), a.as_str()))
        .collect();
    let got = read_back(&c.namesrv, &route_topic, 8, &READ_BACK);
    assert_eq!(got.len(), 8, "{route_topic}");
    for m in &got {
        let body = String::from_utf8_lossy(&m.body).into_owned();
        let name = &sent_to[&body];
        assert_eq!(
            m.store_host.to_string(),
            by_name[name.as_str()],
            "{body} was sent for {name}"
        );
    }
    let names_used: BTreeSet<&String> = sent_to.values().collect();
    assert_eq!(names_used.len(), 2, "round-robin reached both brokers");

    // The bridge, async with batches of up to 100, then sync with round-robin queues.
    let rounds = scale(20, 200);
    let t_async = Instant::now();
    let mut want = run_bridge(
        proxy_config(
            &proxy,
            "async",
            "bridge.rocket.producer.batch_size = 100\n",
            &rules,
        ),
        &topics,
        rounds,
        1_700_000_100_000,
        false,
    );
    let async_took = t_async.elapsed();
    want.extend(run_bridge(
        proxy_config(
            &proxy,
            "sync",
            "bridge.rocket.produce.sync_timeout = 15s\nbridge.rocket.producer.queue_strategy = roundrobin\n",
            &rules,
        ),
        &topics,
        1,
        1_700_000_900_000,
        true,
    ));

    // Read back from the brokers (their own name server): every event there at least once, with
    // its body and key; nothing else in the topics.
    let mut batch_members = 0;
    let mut copies = 0;
    let mut sync_hosts = BTreeSet::new();
    for t in &topics {
        let mine: Vec<&Expected> = want.iter().filter(|w| &w.topic == t).collect();
        let got: Vec<MessageExt> = read_back(&c.namesrv, t, mine.len(), &READ_BACK);
        let mut by_key: BTreeMap<String, Vec<&MessageExt>> = BTreeMap::new();
        for m in &got {
            let keys = m.keys();
            assert_eq!(keys.len(), 1, "{t}: one key per message");
            by_key.entry(keys[0].to_owned()).or_default().push(m);
        }
        for w in &mine {
            let ms = by_key
                .get(&w.key)
                .unwrap_or_else(|| panic!("{t}: event {} missing ({} read)", w.key, got.len()));
            for m in ms {
                assert_eq!(m.body, w.body, "{t} {}", w.key);
                // 5.x brokers keep WAIT on single sends only; batch members have none.
                if m.properties.get("WAIT").is_none() {
                    batch_members += 1;
                }
                if w.sync {
                    sync_hosts.insert(m.store_host.to_string());
                }
            }
            copies += ms.len() - 1;
        }
        assert_eq!(by_key.len(), mine.len(), "{t}: a message no event sent");
        if t.starts_with("MessagePublish") {
            for m in &got {
                assert_eq!(m.tags(), Some("pub"), "{t}");
            }
        }
    }
    // The pull consumer through the proxy (its requests carry `bname`) reads the same messages.
    let t = &topics[4];
    let direct: BTreeSet<String> = read_back(&c.namesrv, t, rounds + 1, &READ_BACK)
        .iter()
        .map(|m| m.keys().join(","))
        .collect();
    let via_proxy: BTreeSet<String> = read_back(&proxy, t, direct.len(), &READ_BACK.strict())
        .iter()
        .map(|m| m.keys().join(","))
        .collect();
    assert_eq!(via_proxy, direct, "{t} read through the proxy");
    let brokers: BTreeSet<String> = c.brokers.iter().map(|b| b.1.clone()).collect();
    assert!(batch_members > 0, "no event was stored as a batch member");
    assert_eq!(
        sync_hosts, brokers,
        "the sync run's round-robin reached both brokers"
    );
    eprintln!(
        "proxy: {} events ({} per topic: {rounds} async rounds in {async_took:?}, 1 sync) read back from the brokers, {batch_members} as batch members, {copies} extra copies; total {:?}",
        want.len(),
        rounds + 1,
        started.elapsed()
    );
}

/// A "name server" that answers as the proxy does where the bridge's start asks more than routes:
/// GET_BROKER_CLUSTER_INFO with code 3 (` request type 106 not supported`). With every route
/// missing (TBW102 too, as with auto-creation off), the start still says which topics are missing
/// instead of failing on the unanswered broker list.
#[test]
fn a_name_server_without_the_broker_list_still_gets_missing_topics_reported() {
    use rocketmq_bridge::bridge::BridgeError;
    use rocketmq_bridge::remoting::codes::{
        GET_BROKER_CLUSTER_INFO, REQUEST_CODE_NOT_SUPPORTED, TOPIC_NOT_EXIST,
    };
    use rocketmq_bridge::remoting::RemotingCommand;
    use rocketmq_bridge_test_support::hostile::{frame_of, HostileServer};
    let ns = HostileServer::start(Duration::from_secs(30), |req| {
        let (code, remark) = if req.code == GET_BROKER_CLUSTER_INFO {
            (
                REQUEST_CODE_NOT_SUPPORTED,
                " request type 106 not supported",
            )
        } else {
            (TOPIC_NOT_EXIST, "No topic route info in name server")
        };
        frame_of(&RemotingCommand::response_to(
            req,
            code,
            Some(remark.to_owned()),
        ))
    });
    let rules =
        "bridge.rocket.hook.message.publish.1 = {\"filter\": \"#\", \"topic\": \"Missing\"}\n";
    let err = Bridge::start(proxy_config(&ns.addr, "async", "", rules)).unwrap_err();
    match &err {
        BridgeError::MissingTopics(list) => {
            assert_eq!(list.len(), 1, "{err}");
            assert_eq!(list[0].0, "Missing", "{err}");
        }
        other => panic!("expected MissingTopics, got {other:?}"),
    }
    eprintln!("proxy-like name server: {err}");
}
