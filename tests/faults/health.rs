//! (c) Health across an outage; the metrics agree with the read-back.

use super::harness::*;
use rocketmq_bridge_test_support as support;
use support::read_back;

use rocketmq_bridge::bridge::{Bridge, BridgeConfig};
use rocketmq_bridge::cli::status;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{suffix, Cluster};

#[test]
fn health_follows_the_broker_and_metrics_agree_with_the_read_back() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let window = Duration::from_secs(3);
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let topic = format!("FaultHealth_{sfx}");
    warm_up(&c, &[&topic]);
    let dir = tmp("health");
    let port = free_port();
    let text = config_text(
        &c,
        &topic,
        &format!(
            "bridge.rocket.bridge_id = fc{}\nbridge.rocket.health.window = 3s\n\
             bridge.rocket.metrics.listen = 127.0.0.1:{port}\nbridge.rocket.spool.dir = {}\n\
             bridge.rocket.spool.sync = none\nbridge.rocket.drain_timeout = 60s\n",
            std::process::id(),
            dir.join("spool").display()
        ),
    );
    let bridge = Bridge::start(BridgeConfig::parse(&text, "fault_c.conf").unwrap()).unwrap();
    let addr = bridge.metrics_addr().unwrap();
    let prefix = bridge.key_prefix().to_owned();
    let sender = bridge.sender();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let host = std::thread::spawn(move || {
        let start = Instant::now();
        let mut i = 0u64;
        while !stop2.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(300) {
            pace(start, i, 100);
            sender.send(publish(i)).unwrap();
            i += 1;
        }
        i
    });
    let wait_health = |want: bool, limit: Duration| -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            let (healthy, _) = status::query(addr).unwrap();
            if healthy == want {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    };
    assert!(
        wait_health(true, Duration::from_secs(30)).is_some(),
        "never healthy"
    );
    std::thread::sleep(Duration::from_secs(1));
    let (healthy_before, body) = status::query(addr).unwrap();
    assert!(healthy_before, "{body}");
    c.kill_broker(0);
    let to_unhealthy = wait_health(false, Duration::from_secs(60));
    let (_, unhealthy_body) = status::query(addr).unwrap();
    let restart = Instant::now();
    c.start_broker(0);
    let routed_after = restart.elapsed();
    let to_healthy = wait_health(true, Duration::from_secs(90));
    stop.store(true, Ordering::SeqCst);
    let events = host.join().unwrap();
    // Everything accepted is sent (spool), then the counters are compared with the read-back.
    let drain = Instant::now();
    // Nothing pending in the spool and nothing in flight: the last ack is counted as sent too.
    while (bridge.stats().spool.unwrap().pending_records > 0 || bridge.stats().in_flight > 0)
        && drain.elapsed() < Duration::from_secs(90)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = get(addr, "/metrics");
    let sent_metric = metric_sum(&metrics, "rocketmq_bridge_sent_total");
    let dropped_metric = metric_sum(&metrics, "rocketmq_bridge_dropped_total");
    let pending_metric = metric_sum(&metrics, "rocketmq_bridge_spool_pending_records");
    let resent_metric = metric_sum(&metrics, "rocketmq_bridge_spool_resent_total");
    let got = read_back(&c.namesrv, &topic, sent_metric as usize, &READ_BACK);
    let unique: BTreeSet<u64> = got.iter().map(|m| seq_of(m, &prefix)).collect();
    println!(
        "health: window {window:?}; unhealthy {to_unhealthy:?} after the broker SIGKILL; broker routed again \
         {routed_after:?} after its restart began, healthy {to_healthy:?} after that; \
         events {events}; metrics sent {sent_metric}, dropped {dropped_metric}, spool pending {pending_metric}, \
         resent {resent_metric}; read back {} ({} unique); /health while down: {unhealthy_body}",
        got.len(),
        unique.len()
    );
    let to_unhealthy = to_unhealthy.expect("never unhealthy while the broker was down");
    // The first failed attempt comes back within the producer's budget (sync_timeout 3s) after
    // the kill; the window counts from the last accepted send before it. 3 s of slack for a busy
    // machine.
    assert!(
        to_unhealthy <= window + Duration::from_secs(6),
        "unhealthy only after {to_unhealthy:?}"
    );
    assert!(
        to_healthy.is_some(),
        "not healthy again within 90 s of the broker's return"
    );
    assert_eq!(pending_metric, 0.0);
    assert_eq!(dropped_metric, 0.0);
    assert_eq!(
        sent_metric as u64, events,
        "every accepted event confirmed once"
    );
    assert_eq!(
        unique.len() as u64,
        events,
        "read-back agrees with the metrics"
    );
    let report = bridge.shutdown(Duration::from_secs(10));
    assert!(report.unsent.is_empty(), "{report}");
}
