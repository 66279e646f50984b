//! (e) Name servers SIGKILLed during the stream: routing continues through the other one, then
//! the bridge runs on its cached route with every name server down.

use super::harness::*;
use rocketmq_bridge_test_support as support;
use support::read_back;

use rocketmq_bridge::bridge::{Bridge, BridgeConfig};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{scale, suffix, Cluster};

#[test]
fn name_server_sigkills_lose_nothing_and_the_cached_route_carries_on_with_all_down() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = scale(2_400, 30_000) as u64;
    let rate = scale(400, 1_000) as u64;
    let c = Cluster::start(2, 1);
    let sfx = suffix();
    let topic = format!("FaultNs_{sfx}");
    let loss_topic = format!("FaultNsLoss_{sfx}");
    warm_up(&c, &[&topic, &loss_topic]);
    let text = config_text(
        &c,
        &topic,
        &format!(
            "bridge.rocket.bridge_id = fe{}\nbridge.rocket.buffer.max_bytes = 8MB\n\
             bridge.rocket.loss_report.topic = {loss_topic}\nbridge.rocket.health.window = 3s\n\
             bridge.rocket.drain_timeout = 20s\n",
            std::process::id()
        ),
    );
    let bridge = Bridge::start(BridgeConfig::parse(&text, "fault_e.conf").unwrap()).unwrap();
    let prefix = bridge.key_prefix().to_owned();
    let sender = bridge.sender();
    // The host sends each third at a steady rate once its phase began: so many events go out with
    // both name servers up, with one, and with none, however long a kill takes.
    let sent_so_far = Arc::new(AtomicU64::new(0));
    let allowed = Arc::new(AtomicU64::new(n / 3));
    let (s2, a2) = (Arc::clone(&sent_so_far), Arc::clone(&allowed));
    let host = std::thread::spawn(move || {
        let mut i = 0u64;
        while i < n {
            let (from, to) = (i, a2.load(Ordering::SeqCst).min(n));
            let start = Instant::now();
            while i < to {
                pace(start, i - from, rate);
                sender.send(publish(i)).unwrap();
                i += 1;
                s2.store(i, Ordering::SeqCst);
            }
            let wait = Instant::now();
            while i < n && a2.load(Ordering::SeqCst) <= i {
                assert!(
                    wait.elapsed() < Duration::from_secs(120),
                    "phase never began"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let wait_sent = |k: u64| {
        let start = Instant::now();
        while sent_so_far.load(Ordering::SeqCst) < k {
            assert!(start.elapsed() < Duration::from_secs(300), "host stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let confirmed = |b: &Bridge| b.stats().total().sent;
    // Phase 1: one of two name servers SIGKILLed; route refreshes go to the other.
    wait_sent(n / 3);
    c.kill_namesrv(0);
    let sent_at_kill1 = confirmed(&bridge);
    allowed.store(2 * n / 3, Ordering::SeqCst);
    let refresh_ok = {
        std::thread::sleep(Duration::from_millis(1500));
        bridge.producer().unwrap().check_route(&topic).is_ok()
    };
    // Phase 2: the other one too; the producer keeps its cached route and the broker.
    wait_sent(2 * n / 3);
    c.kill_namesrv(1);
    let sent_at_kill2 = confirmed(&bridge);
    let all_down = Instant::now();
    allowed.store(n, Ordering::SeqCst);
    host.join().unwrap();
    // Everything confirmed with no name server up.
    let start = Instant::now();
    while bridge.stats().in_flight > 0 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent_all_down = confirmed(&bridge) - sent_at_kill2;
    let health_all_down = bridge.health();
    let report = bridge.shutdown(Duration::from_secs(20));
    let down_for = all_down.elapsed();
    // A name server back for the read-back (it waits until the broker registered again).
    c.start_namesrv(0);
    let t = report.stats.total();
    let got = read_back(&c.namesrv_addrs[0], &topic, n as usize, &READ_BACK);
    let unique: BTreeSet<u64> = got.iter().map(|m| seq_of(m, &prefix)).collect();
    println!(
        "name servers: events {n} at {rate}/s over 2 name servers, 1 broker; name server 1 SIGKILLed at \
         event {} (confirmed {sent_at_kill1}; route lookup through name server 2 afterwards ok: {refresh_ok}), \
         name server 2 SIGKILLed at event {} (confirmed {sent_at_kill2}); {sent_all_down} confirmed with every \
         name server down (for {down_for:?}), healthy then: {}; totals sent {}, failed {}, outcome unknown {}, \
         dropped {}; read back {} ({} unique)",
        n / 3,
        2 * n / 3,
        health_all_down.healthy,
        t.sent,
        t.failed,
        t.outcome_unknown,
        t.dropped_overflow + t.dropped_shutdown + t.dropped_too_large,
        got.len(),
        unique.len()
    );
    assert!(refresh_ok, "no route through the remaining name server");
    assert!(
        sent_all_down >= n - 2 * n / 3,
        "the cached route did not carry the last third"
    );
    assert!(
        health_all_down.healthy,
        "the broker accepts: healthy without name servers"
    );
    assert_eq!((t.sent, t.failed, t.outcome_unknown), (n, 0, 0), "{report}");
    assert!(report.unsent.is_empty(), "{report}");
    assert_eq!(unique.len() as u64, n, "every event read back");
}
