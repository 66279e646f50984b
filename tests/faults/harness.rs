//! What the fault scenarios share: the lock that runs them one at a time, temp dirs, warm-up,
//! read-back, event lines and their pacing, the bridge config, and the loss accounting against the
//! in-band reports.

use rocketmq_bridge_test_support as support;
use support::{read_back, ReadBack};

use rocketmq_bridge::bridge::Event;
use rocketmq_bridge::message::{Message, MessageExt};
use rocketmq_bridge::producer::{Producer, ProducerConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::Cluster;

pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

pub(crate) fn tmp(name: &str) -> PathBuf {
    support::temp_dir("fault-suite", name)
}

/// Sends one message to `topic` so the broker creates it, and waits until it has its own route.
pub(crate) fn warm_up(c: &Cluster, topics: &[&str]) {
    let p = Producer::start(ProducerConfig::new(&[c.namesrv.as_str()], "fault_warmup")).unwrap();
    for t in topics {
        let start = Instant::now();
        loop {
            let sent = p.send(Message::new(*t, &b"warmup"[..])).is_ok();
            if sent && p.check_route(t).is_ok_and(|i| !i.from_default_topic) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "topic {t} has no route after 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    p.close(Duration::from_secs(2));
}

/// Every message of a topic except warm-ups; waits (bounded by 60 s) until the number asked for
/// are there.
pub(crate) const READ_BACK: ReadBack = ReadBack::new("fault_readback")
    .bounded(Duration::from_secs(60), Duration::from_millis(300))
    .skip_warmup();

/// The event index the test put into the payload (plain encoding).
pub(crate) fn index_of(m: &MessageExt) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
    v["payload"].as_str().unwrap().parse().unwrap()
}

/// The sequence number at the end of the message key `<prefix>-<seq>`.
pub(crate) fn seq_of(m: &MessageExt, prefix: &str) -> u64 {
    let k = m.keys()[0];
    k.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .unwrap_or_else(|| panic!("key {k} does not start with {prefix}-"))
        .parse()
        .unwrap()
}

pub(crate) fn event_line(i: u64) -> String {
    format!(
        "{{\"event\":\"message.publish\",\"client_id\":\"c{}\",\"topic\":\"sensors/{}\",\"qos\":1,\"payload\":\"{i}\"}}\n",
        i % 16,
        i % 97
    )
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Paces a loop at `per_sec` iterations a second: waits until iteration `i` is due.
pub(crate) fn pace(start: Instant, i: u64, per_sec: u64) {
    let due = start + Duration::from_micros(i * 1_000_000 / per_sec);
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

/// The bridge config of the fault tests: async, one rule `#` to `topic`, then `extra`. With
/// `FAULT_RESOLVE_UNKNOWN` set (for example `0s`: lookups off, the figures before issue 20's
/// lookups) and `extra` silent on it, `retry.resolve_unknown` takes that value.
pub(crate) fn config_text(c: &Cluster, topic: &str, extra: &str) -> String {
    let resolve = match std::env::var("FAULT_RESOLVE_UNKNOWN") {
        Ok(v) if !extra.contains("retry.resolve_unknown") => {
            format!("\nbridge.rocket.retry.resolve_unknown = {v}\n")
        }
        _ => String::new(),
    };
    format!(
        "bridge.rocket.servers = {}\nbridge.rocket.produce = async\n\
         bridge.rocket.node = fault@127.0.0.1\nbridge.rocket.stats_interval = 0s\n\
         bridge.rocket.refresh_topic_route_interval = 1s\nbridge.rocket.encode_payload_type = plain\n\
         bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"{topic}\"}}\n{extra}{resolve}",
        c.namesrv_addrs.join(",")
    )
}

pub(crate) fn publish(i: u64) -> Event {
    Event::from_json_line(event_line(i).trim_end(), i + 1).unwrap()
}

#[derive(Default, Debug)]
pub(crate) struct Reported {
    /// reason -> count
    counts: BTreeMap<String, u64>,
    /// reason -> sequence numbers
    seqs: BTreeMap<String, BTreeSet<u64>>,
    reports: usize,
    truncated: bool,
}

/// The loss reports of `topic`, read until they list at least `expect` distinct events (the
/// bridge's counters say how many; a read right after a broker restart may fail or miss the
/// latest report) or 60 s passed.
pub(crate) fn read_reports(ns: &str, topic: &str, expect: u64) -> Reported {
    let start = Instant::now();
    loop {
        let r = parse_reports(read_back(ns, topic, 0, &READ_BACK));
        let listed: u64 = r.seqs.values().map(|s| s.len() as u64).sum();
        if listed >= expect || start.elapsed() > Duration::from_secs(60) {
            return r;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn parse_reports(messages: Vec<MessageExt>) -> Reported {
    let mut r = Reported::default();
    for m in messages {
        let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
        assert_eq!(v["type"], "loss_report");
        r.reports += 1;
        for e in v["entries"].as_array().unwrap() {
            let reason = e["reason"].as_str().unwrap().to_owned();
            r.truncated |= e["seqs_truncated"].as_bool().unwrap();
            *r.counts.entry(reason.clone()).or_default() += e["count"].as_u64().unwrap();
            let set = r.seqs.entry(reason).or_default();
            for pair in e["seqs"].as_array().unwrap() {
                let (a, b) = (pair[0].as_u64().unwrap(), pair[1].as_u64().unwrap());
                set.extend(a..=b);
            }
        }
    }
    r
}

/// What one spool-off run measured.
pub(crate) struct SpoolOffRun {
    pub(crate) n: u64,
    pub(crate) missing: usize,
    pub(crate) sent: u64,
    pub(crate) dropped: u64,
    pub(crate) failed: u64,
    pub(crate) overflow: u64,
    pub(crate) unknown: u64,
    pub(crate) held_resent: u64,
    /// Messages read back more than once.
    pub(crate) duplicates: usize,
}

/// Missing events against the bridge's counters and the in-band loss reports: every event ends
/// once; every event the read-back misses is among those the reports list as dropped (any reason,
/// `failed` included) or outcome unknown; the distinct events reported per reason match the
/// counters. Prints the figures side by side.
pub(crate) fn check_accounting(
    label: &str,
    c: &Cluster,
    topic: &str,
    loss_topic: &str,
    prefix: &str,
    n: u64,
    report: &rocketmq_bridge::bridge::ShutdownReport,
) -> SpoolOffRun {
    let t = report.stats.total();
    let dropped = t.dropped_too_large
        + t.dropped_overflow
        + t.dropped_shutdown
        + t.dropped_spool_error
        + t.failed;
    assert_eq!(
        t.sent + t.outcome_unknown + dropped,
        n,
        "{label}: every event ends exactly once (sent, dropped, outcome unknown): {report}"
    );
    let got = read_back(&c.namesrv, topic, t.sent as usize, &READ_BACK);
    let stored: BTreeSet<u64> = got.iter().map(|m| seq_of(m, prefix)).collect();
    for m in &got {
        assert_eq!(
            seq_of(m, prefix),
            index_of(m),
            "one host thread: seq = index"
        );
    }
    let missing: Vec<u64> = (0..n).filter(|i| !stored.contains(i)).collect();
    let reported = read_reports(&c.namesrv, loss_topic, dropped + t.outcome_unknown);
    let empty = BTreeSet::new();
    let unknown_seqs = reported.seqs.get("outcome_unknown").unwrap_or(&empty);
    let dropped_seqs: BTreeSet<u64> = reported
        .seqs
        .iter()
        .filter(|(r, _)| r.as_str() != "outcome_unknown")
        .flat_map(|(_, s)| s.iter().copied())
        .collect();
    let missing_dropped = missing.iter().filter(|i| dropped_seqs.contains(i)).count();
    let missing_unknown = missing.iter().filter(|i| unknown_seqs.contains(i)).count();
    let unexplained: Vec<u64> = missing
        .iter()
        .copied()
        .filter(|i| !dropped_seqs.contains(i) && !unknown_seqs.contains(i))
        .collect();
    println!(
        "{label}: events {n}; read back {} ({} unique), missing {} | bridge counted: sent {}, dropped {} \
         (failed {}, overflow {}, too large {}, shutdown {}), outcome unknown {} | loss reports {}: counts {:?}, \
         seqs listed as dropped {}, as outcome unknown {} (ranges widened past the per-entry cap: {}) | missing \
         among reported dropped {missing_dropped}, among outcome unknown {missing_unknown}, unexplained {} | \
         duplicates read back {} | held messages re-sent {} | unknown outcomes looked up: resolved stored {}, \
         resolved not stored (sent again) {}, unresolved {}",
        got.len(),
        stored.len(),
        missing.len(),
        t.sent,
        dropped,
        t.failed,
        t.dropped_overflow,
        t.dropped_too_large,
        t.dropped_shutdown,
        t.outcome_unknown,
        reported.reports,
        reported.counts,
        dropped_seqs.len(),
        unknown_seqs.len(),
        reported.truncated,
        unexplained.len(),
        got.len() - stored.len(),
        report.stats.held_resent,
        t.resolved_stored,
        t.resolved_not_stored,
        t.unresolved,
    );
    assert!(
        unexplained.is_empty(),
        "{label}: missing events neither reported dropped nor outcome unknown: {:?}",
        &unexplained[..unexplained.len().min(20)]
    );
    assert!(
        missing.len() as u64 <= dropped + t.outcome_unknown,
        "{label}: more missing than counted"
    );
    // Per reason, the distinct events reported match the bridge's counters (a report whose own
    // send had an unknown outcome may be stored twice, so counts are compared as sets).
    for (reason, counted) in [
        ("failed", t.failed),
        ("overflow", t.dropped_overflow),
        ("too_large", t.dropped_too_large),
        ("shutdown", t.dropped_shutdown),
        ("outcome_unknown", t.outcome_unknown),
    ] {
        let distinct = reported.seqs.get(reason).map_or(0, |s| s.len()) as u64;
        if reported.truncated {
            assert!(
                distinct >= counted,
                "{label}: {reason}: reported {distinct}, counted {counted}"
            );
        } else {
            assert_eq!(distinct, counted, "{label}: {reason}: reported vs counted");
        }
    }
    // Events the bridge confirmed are all stored.
    assert!(stored.len() as u64 >= t.sent);
    SpoolOffRun {
        n,
        missing: missing.len(),
        sent: t.sent,
        dropped,
        failed: t.failed,
        overflow: t.dropped_overflow,
        unknown: t.outcome_unknown,
        held_resent: report.stats.held_resent,
        duplicates: got.len() - stored.len(),
    }
}

pub(crate) fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The peak resident set size of a process so far (VmHWM), in KiB.
pub(crate) fn vm_hwm_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

pub(crate) fn get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n").unwrap().1.to_owned()
}
