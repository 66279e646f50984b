//! A rule's topic template looks new topics up at the name servers on the host's thread. With
//! name servers that accept connections and never answer (blackholed), an async host must not
//! spend a name-server timeout per topic per second: its sends return at once (bounded).

use rocketmq_bridge_test_support as support;

use bytes::Bytes;
use rocketmq_bridge::bridge::{Bridge, BridgeConfig, Event};
use std::time::{Duration, Instant};
use support::hostile::HostileServer;

#[test]
fn async_sends_of_templated_topics_are_not_stalled_by_silent_name_servers() {
    // Accepts, reads, never answers.
    let ns = HostileServer::start(Duration::from_secs(60), |_| Vec::new());
    let text = format!(
        "bridge.rocket.servers = {}\nbridge.rocket.produce = async\n\
         bridge.rocket.produce.sync_timeout = 1s\nbridge.rocket.drain_timeout = 1s\n\
         bridge.rocket.bridge_id = silent\nbridge.rocket.stats_interval = 0s\n\
         bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"S_${{topic.1}}\"}}\n",
        ns.addr
    );
    let bridge = Bridge::start(BridgeConfig::parse(&text, "silent.conf").unwrap()).unwrap();
    let tx = bridge.sender();
    let at = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..200 {
        let t = Instant::now();
        let _ = tx.send(Event::message_publish(
            "c1",
            format!("s/t{}", i % 20),
            Bytes::from_static(b"1"),
            0,
        ));
        slowest = slowest.max(t.elapsed());
    }
    let took = at.elapsed();
    // One unanswered lookup (the name-server timeout, 3 s) may be waited for, not one per
    // topic (was: 20 topics, 3 s each, 60 s for 40 sends).
    assert!(
        took < Duration::from_secs(8),
        "200 sends over 20 new topics took {took:?} (slowest {slowest:?})"
    );
    let t = bridge.stats().total();
    assert_eq!(t.matched, 200, "{t:?}");
    assert_eq!(t.dropped_no_topic + t.dropped_topic_cap, 0, "{t:?}");
    let report = bridge.shutdown(Duration::from_secs(1));
    let _ = report;
}
