//! (g) Outcome-unknown sends resolved by the broker lookup (`bridge::resolve`): the fault proxy
//! between the bridge (async, no spool) and the real broker makes outcomes unknown two ways, and the
//! same stream runs twice, with the lookups off (`retry.resolve_unknown = 0s`, the producer
//! retries an unknown attempt blindly, as before) and on:
//!
//! - *cut*: every answer is cut mid-frame and its connection closed: the broker stored the
//!   message, the bridge does not know it (stored unknowns; a blind retry stores it twice);
//! - *stall, then refuse*: requests wait in the proxy, then every connection is closed, so they
//!   never reach the broker (not-stored unknowns; without a re-send they are lost).
//!
//! A window of 64 requests in flight (`producer.max_in_flight`) lets a stall hold enough requests
//! for the second kind to show at CI size. Both runs print unknowns, resolutions, duplicates and missing events on read-back; with the
//! lookups on, every unknown must be resolved (found stored or proven not stored, the broker was
//! reachable within the budget), no event is read back twice, and none is missing.

use super::harness::*;
use rocketmq_bridge_test_support as support;

use rocketmq_bridge::bridge::{producer_config, Bridge, BridgeConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::fault_proxy::{FaultProxy, Mode};
use support::{scale, suffix, Cluster};

struct Run {
    label: &'static str,
    acc: SpoolOffRun,
    unknown_total: u64,
    resolved_stored: u64,
    resolved_not_stored: u64,
    unresolved: u64,
}

fn run(c: &Cluster, resolve: bool, rate: u64, rounds: usize) -> Run {
    let label = if resolve { "lookups on" } else { "lookups off" };
    let sfx = suffix();
    let topic = format!("FaultUnknown_{sfx}");
    let loss_topic = format!("FaultUnknownLoss_{sfx}");
    warm_up(c, &[&topic, &loss_topic]);
    let broker = c.brokers[0].1.clone();
    let proxy = FaultProxy::start(&broker);
    let text = config_text(
        c,
        &topic,
        &format!(
            "bridge.rocket.bridge_id = fu{}{}\nbridge.rocket.buffer.max_bytes = 8MB\n\
             bridge.rocket.loss_report.topic = {loss_topic}\nbridge.rocket.drain_timeout = 20s\n\
             bridge.rocket.retry.resolve_unknown = {}\nbridge.rocket.producer.max_in_flight = 64\n",
            std::process::id(),
            u8::from(resolve),
            if resolve { "60s" } else { "0s" }
        ),
    );
    let cfg = BridgeConfig::parse(&text, "fault_g.conf").unwrap();
    let pcfg = producer_config(&cfg).map_broker_addr(&broker, &proxy.addr);
    let bridge = Bridge::start_with(cfg, pcfg).unwrap();
    let prefix = bridge.key_prefix().to_owned();
    let sender = bridge.sender();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let host = std::thread::spawn(move || {
        let start = Instant::now();
        let mut i = 0u64;
        while !stop2.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(300) {
            pace(start, i, rate);
            sender.send(publish(i)).unwrap();
            i += 1;
        }
        i
    });
    let wait_sent = |at_least: u64| {
        let start = Instant::now();
        while bridge.stats().total().sent < at_least && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_sent(rate / 2);
    assert!(
        proxy.accepted() > 0,
        "the bridge does not go through the proxy"
    );
    for _ in 0..rounds {
        // Stored, answer lost.
        proxy.set_mode(Mode::CutMidFrame);
        std::thread::sleep(Duration::from_millis(600));
        proxy.set_mode(Mode::Pass);
        std::thread::sleep(Duration::from_millis(1500));
        // Never reached the broker, connection closed.
        proxy.set_mode(Mode::Stall);
        std::thread::sleep(Duration::from_millis(700));
        proxy.set_mode(Mode::Refuse);
        std::thread::sleep(Duration::from_millis(300));
        proxy.set_mode(Mode::Pass);
        std::thread::sleep(Duration::from_millis(1500));
    }
    // Traffic after the faults: the probes the lookups need.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    let n = host.join().unwrap();
    let settle = Instant::now();
    while bridge.stats().in_flight > 0 && settle.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = bridge.shutdown(Duration::from_secs(20));
    let t = report.stats.total();
    let acc = check_accounting(
        &format!("unknown outcomes, {label}"),
        c,
        &topic,
        &loss_topic,
        &prefix,
        n,
        &report,
    );
    Run {
        label,
        unknown_total: t.outcome_unknown + t.resolved_stored + t.resolved_not_stored,
        resolved_stored: t.resolved_stored,
        resolved_not_stored: t.resolved_not_stored,
        unresolved: t.unresolved,
        acc,
    }
}

#[test]
fn unknown_outcomes_are_resolved_by_the_broker_lookup_without_duplicates_or_losses() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rate = scale(200, 1000) as u64;
    let rounds = scale(2, 5);
    let c = Cluster::start(1, 1);
    let runs = [run(&c, false, rate, rounds), run(&c, true, rate, rounds)];
    for r in &runs {
        println!(
            "unknown outcomes ({}, {} broker, {rate}/s, {rounds} cut + stall/refuse rounds): events {}, \
             unknown outcomes {} (resolved stored {}, resolved not stored and sent again {}, unresolved {}), \
             left outcome unknown {}, duplicates read back {}, missing {}",
            r.label,
            c.implementation,
            r.acc.n,
            r.unknown_total,
            r.resolved_stored,
            r.resolved_not_stored,
            r.unresolved,
            r.acc.unknown,
            r.acc.duplicates,
            r.acc.missing
        );
    }
    println!(
        "{{\"test\":\"unknown_outcomes\",\"impl\":\"{}\",\"rate\":{rate},\"rounds\":{rounds},\
         \"off\":{{\"events\":{},\"unknown\":{},\"duplicates\":{},\"missing\":{}}},\
         \"on\":{{\"events\":{},\"unknown\":{},\"resolved_stored\":{},\"resolved_not_stored\":{},\
         \"unresolved\":{},\"duplicates\":{},\"missing\":{}}}}}",
        c.implementation,
        runs[0].acc.n,
        runs[0].acc.unknown,
        runs[0].acc.duplicates,
        runs[0].acc.missing,
        runs[1].acc.n,
        runs[1].unknown_total,
        runs[1].resolved_stored,
        runs[1].resolved_not_stored,
        runs[1].unresolved,
        runs[1].acc.duplicates,
        runs[1].acc.missing
    );
    let (off, on) = (&runs[0], &runs[1]);
    assert!(
        off.acc.unknown > 0,
        "the faults made no outcome unknown without lookups"
    );
    assert_eq!(off.resolved_stored + off.resolved_not_stored, 0);
    assert!(
        on.resolved_stored > 0,
        "no unknown outcome was found stored"
    );
    // How many stalled requests end unknown (not stored) rather than queued in the producer
    // varies from 1 to ~30 a run at CI size: printed, not asserted above zero; the decision rule
    // is unit-tested in `bridge::resolve`.
    assert_eq!(
        on.unresolved, 0,
        "the broker was reachable within the lookup budget"
    );
    assert_eq!(on.acc.unknown, 0, "every unknown outcome resolved");
    assert_eq!(on.acc.duplicates, 0, "no event read back twice");
    assert_eq!(on.acc.missing, 0, "no event missing");
}
