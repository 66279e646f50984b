//! (b) Spool off: every missing event is counted as dropped or unknown, drops are reported in band.

use super::harness::*;
use rocketmq_bridge_test_support as support;

use rocketmq_bridge::bridge::{Bridge, BridgeConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{scale, suffix, Cluster};

fn full() -> bool {
    std::env::var("TEST_SCALE").as_deref() == Ok("full")
}

/// Spool off: `n` events at `rate` from one host thread through `kills` broker SIGKILLs (each
/// down 1.5 s plus its restart), with a `budget` of memory, `drop_new`, and `max_hold`.
fn spool_off_run(
    label: &str,
    budget: &str,
    max_hold: &str,
    n: u64,
    rate: u64,
    kills: usize,
) -> SpoolOffRun {
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let topic = format!("FaultNoSpool_{sfx}");
    let loss_topic = format!("FaultLoss_{sfx}");
    warm_up(&c, &[&topic, &loss_topic]);
    let text = config_text(
        &c,
        &topic,
        &format!(
            "bridge.rocket.bridge_id = fb{}\nbridge.rocket.buffer.max_bytes = {budget}\n\
             bridge.rocket.producer.max_message_size = 16KB\nbridge.rocket.buffer.overflow = drop_new\n\
             bridge.rocket.retry.max_hold = {max_hold}\n\
             bridge.rocket.loss_report.topic = {loss_topic}\nbridge.rocket.drain_timeout = 20s\n",
            std::process::id()
        ),
    );
    let bridge = Bridge::start(BridgeConfig::parse(&text, "fault_b.conf").unwrap()).unwrap();
    let prefix = bridge.key_prefix().to_owned();
    let sender = bridge.sender();
    let sent_so_far = Arc::new(AtomicU64::new(0));
    let s2 = Arc::clone(&sent_so_far);
    let host = std::thread::spawn(move || {
        let start = Instant::now();
        let mut refused = 0u64;
        for i in 0..n {
            pace(start, i, rate);
            if sender.send(publish(i)).is_err() {
                refused += 1;
            }
            s2.store(i + 1, Ordering::SeqCst);
        }
        refused
    });
    let mut outages = Vec::new();
    for k in 0..kills {
        let at = n * (1 + 3 * k as u64) / (3 * kills as u64 + 1);
        while sent_so_far.load(Ordering::SeqCst) < at {
            std::thread::sleep(Duration::from_millis(10));
        }
        let t = Instant::now();
        c.kill_broker(0);
        std::thread::sleep(Duration::from_millis(1500));
        c.start_broker(0);
        outages.push(t.elapsed());
    }
    let refused = host.join().unwrap();
    // Held messages get their re-send, and outcome-unknown sends their broker lookup (and a
    // re-send when proven not stored), before the shutdown, which would fail both: wait, bounded,
    // until every message has its outcome (`in_flight` counts the held and the resolving).
    let settle = Instant::now();
    while bridge.stats().in_flight > 0 && settle.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = bridge.shutdown(Duration::from_secs(20));
    println!(
        "{label}: rate {rate}/s, budget {budget}, drop_new, retry.max_hold {max_hold}; broker kills {} \
         (outages {outages:?}); refused at send {refused}; test process peak RSS {:?} KiB (bridge \
         and test harness, before the read-back)",
        outages.len(),
        vm_hwm_kib(std::process::id())
    );
    check_accounting(label, &c, &topic, &loss_topic, &prefix, n, &report)
}

#[test]
fn spool_off_every_missing_event_is_counted_and_drops_are_reported_in_band() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = scale(4_000, 100_000) as u64;
    let rate = scale(400, 2_000) as u64;
    // A budget far smaller than an outage: the hold fills it, then drop_new drops and counts.
    let r = spool_off_run(
        "spool off, 64KB budget",
        "64KB",
        "60s",
        n,
        rate,
        scale(1, 3),
    );
    assert!(
        r.dropped + r.unknown > 0,
        "a 64KB budget cannot hold an outage: expected drops ({} missing)",
        r.missing
    );
}

#[test]
fn spool_off_a_budget_that_holds_the_outage_loses_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = scale(3_000, 100_000) as u64;
    let rate = scale(400, 2_000) as u64;
    // About 2 KB of budget per event: 16 MB holds ~20 s at 400/s, 64 MB ~16 s at 2,000/s; an
    // outage (1.5 s down plus the restart) is shorter than both and than the 60 s hold.
    let budget = if full() { "64MB" } else { "16MB" };
    let r = spool_off_run("spool off, hold", budget, "60s", n, rate, scale(1, 3));
    println!(
        "spool off, hold: {} of {} events missing; dropped {} (failed {}, overflow {}), outcome unknown {}, \
         sent {}, held messages re-sent {}",
        r.missing, r.n, r.dropped, r.failed, r.overflow, r.unknown, r.sent, r.held_resent
    );
    assert_eq!(
        (r.failed, r.overflow),
        (0, 0),
        "nothing dropped: the hold and the budget outlast the outage"
    );
    assert!(r.held_resent > 0, "the outage was ridden out by re-sends");
    assert!(
        r.missing as u64 <= r.unknown,
        "only outcome-unknown sends (in flight at the kill) may be missing"
    );
}
