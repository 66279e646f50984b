//! (f) A broker that accepts connections but never answers (the fault proxy in stall mode in
//! front of the real broker): sends end as outcome unknown or are re-sent, never silently lost,
//! and health turns unhealthy.

use super::harness::*;
use rocketmq_bridge_test_support as support;

use rocketmq_bridge::bridge::{Bridge, BridgeConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{suffix, Cluster};

#[test]
fn a_broker_that_never_answers_ends_sends_as_unknown_or_retried_and_turns_health_unhealthy() {
    use rocketmq_bridge::bridge::producer_config;
    use support::fault_proxy::{FaultProxy, Mode};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rate = 200u64;
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let topic = format!("FaultStall_{sfx}");
    let loss_topic = format!("FaultStallLoss_{sfx}");
    warm_up(&c, &[&topic, &loss_topic]);
    let broker = c.brokers[0].1.clone();
    let proxy = FaultProxy::start(&broker);
    let text = config_text(
        &c,
        &topic,
        &format!(
            "bridge.rocket.bridge_id = ff{}\nbridge.rocket.buffer.max_bytes = 8MB\n\
             bridge.rocket.loss_report.topic = {loss_topic}\nbridge.rocket.health.window = 3s\n\
             bridge.rocket.drain_timeout = 20s\n",
            std::process::id()
        ),
    );
    let cfg = BridgeConfig::parse(&text, "fault_f.conf").unwrap();
    let pcfg = producer_config(&cfg).map_broker_addr(&broker, &proxy.addr);
    let bridge = Bridge::start_with(cfg, pcfg).unwrap();
    let prefix = bridge.key_prefix().to_owned();
    let sender = bridge.sender();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let host = std::thread::spawn(move || {
        let start = Instant::now();
        let mut i = 0u64;
        while !stop2.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(120) {
            pace(start, i, rate);
            sender.send(publish(i)).unwrap();
            i += 1;
        }
        i
    });
    let wait_health = |want: bool, limit: Duration| -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if bridge.health().healthy == want {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    };
    // Traffic flows through the proxy first.
    let start = Instant::now();
    while bridge.stats().total().sent < rate && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent_before = bridge.stats().total().sent;
    assert!(
        proxy.accepted() > 0,
        "the bridge does not go through the proxy"
    );
    assert!(sent_before >= rate, "nothing confirmed through the proxy");
    // Stall: connections stay open, nothing is answered.
    let accepted_before = proxy.accepted();
    proxy.set_mode(Mode::Stall);
    let to_unhealthy = wait_health(false, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let during = bridge.stats();
    let unhealthy_body = bridge.health().to_json();
    proxy.set_mode(Mode::Pass);
    let to_healthy = wait_health(true, Duration::from_secs(60));
    stop.store(true, Ordering::SeqCst);
    let n = host.join().unwrap();
    let settle = Instant::now();
    while bridge.stats().in_flight > 0 && settle.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = bridge.shutdown(Duration::from_secs(20));
    let dt = during.total();
    println!(
        "stalled broker: {rate}/s through the fault proxy; {sent_before} confirmed before the stall; stalled: \
         unhealthy after {to_unhealthy:?} (window 3s), then sent {}, outcome unknown {}, failed {}, held {} \
         in flight {}; proxy connections {accepted_before} before, {} after; back to pass: healthy after \
         {to_healthy:?}; /health while stalled: {unhealthy_body}",
        dt.sent,
        dt.outcome_unknown,
        dt.failed,
        during.held,
        during.in_flight,
        proxy.accepted()
    );
    let r = check_accounting(
        "stalled broker",
        &c,
        &topic,
        &loss_topic,
        &prefix,
        n,
        &report,
    );
    assert!(
        to_unhealthy.is_some(),
        "health stayed healthy while the broker never answered"
    );
    assert!(
        dt.outcome_unknown + during.in_flight as u64 > 0,
        "the stall left no send unanswered"
    );
    assert!(to_healthy.is_some(), "not healthy again after the stall");
    assert!(r.sent > sent_before);
}
