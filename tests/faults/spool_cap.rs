//! (d) The spool cap reached during an outage: the oldest records are dropped, counted and reported.

use super::harness::*;
use rocketmq_bridge_test_support as support;
use support::read_back;

use rocketmq_bridge::bridge::{Bridge, BridgeConfig};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::{scale, suffix, Cluster};

#[test]
fn spool_cap_drops_during_an_outage_are_counted_and_reported_in_band() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = scale(2_000, 10_000) as u64;
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let topic = format!("FaultCap_{sfx}");
    let loss_topic = format!("FaultCapLoss_{sfx}");
    warm_up(&c, &[&topic, &loss_topic]);
    let dir = tmp("cap");
    let text = config_text(
        &c,
        &topic,
        &format!(
            "bridge.rocket.bridge_id = fd{}\nbridge.rocket.spool.dir = {}\n\
             bridge.rocket.spool.segment_size = 64KB\nbridge.rocket.spool.max_bytes = 192KB\n\
             bridge.rocket.spool.sync = none\nbridge.rocket.loss_report.topic = {loss_topic}\n\
             bridge.rocket.drain_timeout = 60s\n",
            std::process::id(),
            dir.join("spool").display()
        ),
    );
    let bridge = Bridge::start(BridgeConfig::parse(&text, "fault_d.conf").unwrap()).unwrap();
    let prefix = bridge.key_prefix().to_owned();
    let sender = bridge.sender();
    c.kill_broker(0);
    for i in 0..n {
        sender.send(publish(i)).unwrap();
    }
    let during = bridge.stats().spool.unwrap();
    c.start_broker(0);
    let start = Instant::now();
    loop {
        let s = bridge.stats();
        let sp = s.spool.clone().unwrap();
        if sp.pending_records == 0 && s.loss_reports_sent > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "spool not drained or no loss report: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let report = bridge.shutdown(Duration::from_secs(10));
    let sp = report.stats.spool.clone().unwrap();
    let got = read_back(
        &c.namesrv,
        &topic,
        (n - sp.dropped_cap_reached) as usize,
        &READ_BACK,
    );
    let stored: BTreeSet<u64> = got.iter().map(|m| seq_of(m, &prefix)).collect();
    let missing: Vec<u64> = (0..n).filter(|s| !stored.contains(s)).collect();
    // The reports are read until they cover what the counters dropped (or 60 s passed).
    let read_start = Instant::now();
    let (ranges, reported_records) = loop {
        let mut ranges = Vec::new();
        let mut reported_records = 0u64;
        for m in read_back(&c.namesrv, &loss_topic, 1, &READ_BACK) {
            let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
            for s in v["spool"].as_array().unwrap() {
                assert_eq!(s["reason"], "cap_reached");
                reported_records += s["records"].as_u64().unwrap();
                ranges.push((
                    s["first_seq"].as_u64().unwrap(),
                    s["last_seq"].as_u64().unwrap(),
                ));
            }
        }
        if reported_records >= sp.dropped_cap_reached
            || read_start.elapsed() > Duration::from_secs(60)
        {
            break (ranges, reported_records);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    println!(
        "spool cap: {n} events while the broker was down, spool at {} bytes / {} pending then; \
         dropped (cap) {}, reported {reported_records} in ranges {ranges:?}; read back {} ({} unique), missing {}",
        during.bytes,
        during.pending_records,
        sp.dropped_cap_reached,
        got.len(),
        stored.len(),
        missing.len()
    );
    assert!(sp.dropped_cap_reached > 0, "the cap was never reached");
    assert!(during.bytes <= 192 * 1024, "spool over its cap");
    assert!(reported_records >= sp.dropped_cap_reached);
    assert!(missing.len() as u64 <= sp.dropped_cap_reached);
    for s in &missing {
        assert!(
            ranges.iter().any(|r| (r.0..=r.1).contains(s)),
            "seq {s} missing but in no reported range"
        );
    }
}
