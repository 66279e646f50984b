//! The broker's index lookup by key (QUERY_MESSAGE, code 12) that `bridge::resolve` uses to settle
//! outcome-unknown sends: a message is found by its `KEYS` entry and by its unique id (`UNIQ_KEY`)
//! once the index caught up, a key never sent is not found, on the broker `RMQ_IMPL` names.

use rocketmq_bridge_test_support as support;

use rocketmq_bridge::consumer::PullConsumer;
use rocketmq_bridge::message::Message;
use rocketmq_bridge::producer::{Producer, ProducerConfig};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::Cluster;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn query_message_finds_sent_keys_and_misses_unsent_ones() {
    let c = Cluster::start(1, 1);
    let topic = format!("QueryKey_{}", support::suffix());
    let p = Producer::start(
        ProducerConfig::new(&[c.namesrv.as_str()], "query_test_group")
            .refresh_interval(Duration::from_secs(1)),
    )
    .unwrap();
    let begin = now_ms().saturating_sub(60_000);
    let n = 20;
    let mut sent = Vec::new();
    for i in 0..n {
        let key = format!("qk-{i}");
        let r = p
            .send(Message::new(&topic, format!("b{i}").into_bytes()).with_keys(&[&key]))
            .unwrap();
        sent.push((key, r));
    }
    let consumer = PullConsumer::new(&c.namesrv, "query_test_reader", None);
    let addr = sent[0].1.broker_addr.clone();
    // The index is built behind the commit log: found within a bound.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut found_all = false;
    while std::time::Instant::now() < deadline && !found_all {
        // A broker whose index is still being built refuses the query (rocketmq-rust: code 1,
        // "index query is unsafe ... rebuild may still be in progress"): not found yet.
        let query = |key: &str, by_id: bool| match consumer.query_by_key(
            &addr,
            &topic,
            key,
            by_id,
            32,
            begin..now_ms() + 60_000,
        ) {
            Ok(found) => found,
            Err(e) if e.to_string().contains("index") => Vec::new(),
            Err(e) => panic!("query {key}: {e}"),
        };
        found_all = sent.iter().all(|(key, r)| {
            let by_key = query(key, false);
            let by_id = query(&r.msg_id, true);
            by_key
                .iter()
                .any(|m| m.unique_key() == Some(r.msg_id.as_str()))
                && by_id
                    .iter()
                    .any(|m| m.unique_key() == Some(r.msg_id.as_str()))
        });
        if !found_all {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert!(
        found_all,
        "every sent key found by QUERY_MESSAGE within 20 s"
    );
    let miss = consumer
        .query_by_key(
            &addr,
            &topic,
            "qk-never-sent",
            false,
            32,
            begin..now_ms() + 60_000,
        )
        .unwrap();
    assert!(miss.is_empty(), "an unsent key is not found: {miss:?}");
    p.close(Duration::from_secs(5));
}
