//! Fault suite against the real RocketMQ (scripts/rocketmq.sh): broker SIGKILL and restart while
//! events stream at a steady rate, the bridge process itself SIGKILLed and restarted on its spool,
//! loss accounting without a spool (a budget smaller than the outage: drops counted and reported;
//! a budget that holds it: the in-memory hold loses nothing), health and metrics across an outage,
//! the spool's size cap reached during an outage (dropped records counted and reported in band),
//! name servers SIGKILLed during the stream (one, then all: the cached route carries on), and a
//! broker that accepts connections but never answers (the fault proxy of `support::fault_proxy` in
//! stall mode between the bridge and the real broker, through `ProducerConfig::map_broker_addr`).
//!
//! Sizes: `TEST_SCALE=full` runs the sizes (100,000 events, three broker kills);
//! the default is small enough for CI. `scripts/fault-suite.sh` runs the full size in release
//! mode. Every test prints its figures (events, kills, missing, duplicates, dropped, health
//! transition times) with `--nocapture`. The tests share one lock: each kills its own cluster's
//! broker, and running them side by side on 2 cores would only blur the timings they print.

use rocketmq_bridge_test_support as support;
use support::{read_back, ReadBack};

use rocketmq_bridge::bridge::{Bridge, BridgeConfig, Event};
use rocketmq_bridge::cli::status;
use rocketmq_bridge::message::{Message, MessageExt};
use rocketmq_bridge::producer::{Producer, ProducerConfig};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{scale, suffix, Cluster};

const BIN: &str = env!("CARGO_BIN_EXE_rocketmq-bridge");

static SERIAL: Mutex<()> = Mutex::new(());

fn full() -> bool {
    std::env::var("TEST_SCALE").as_deref() == Ok("full")
}

fn tmp(name: &str) -> PathBuf {
    support::temp_dir("fault-suite", name)
}

/// Sends one message to `topic` so the broker creates it, and waits until it has its own route.
fn warm_up(c: &Cluster, topics: &[&str]) {
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
const READ_BACK: ReadBack = ReadBack::new("fault_readback")
    .bounded(Duration::from_secs(60), Duration::from_millis(300))
    .skip_warmup();

/// The event index the test put into the payload (plain encoding).
fn index_of(m: &MessageExt) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
    v["payload"].as_str().unwrap().parse().unwrap()
}

/// The sequence number at the end of the message key `<prefix>-<seq>`.
fn seq_of(m: &MessageExt, prefix: &str) -> u64 {
    let k = m.keys()[0];
    k.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .unwrap_or_else(|| panic!("key {k} does not start with {prefix}-"))
        .parse()
        .unwrap()
}

fn event_line(i: u64) -> String {
    format!(
        "{{\"event\":\"message.publish\",\"client_id\":\"c{}\",\"topic\":\"sensors/{}\",\"qos\":1,\"payload\":\"{i}\"}}\n",
        i % 16,
        i % 97
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Paces a loop at `per_sec` iterations a second: waits until iteration `i` is due.
fn pace(start: Instant, i: u64, per_sec: u64) {
    let due = start + Duration::from_micros(i * 1_000_000 / per_sec);
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

// ------------------------------------------------------------------------------------------------
// (a) spool on: broker SIGKILLs, bridge SIGKILL, nothing accepted is lost

struct BridgeProc {
    child: Child,
    stdin: Option<ChildStdin>,
}

fn spawn_bridge(config: &std::path::Path, log: &std::path::Path) -> BridgeProc {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    BridgeProc { child, stdin }
}

/// The peak resident set size of a process so far (VmHWM), in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("bridge did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn spool_on_broker_kills_and_a_bridge_sigkill_lose_no_accepted_event() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = scale(4_000, 100_000) as u64;
    let rate = scale(400, 2_000) as u64;
    let broker_kills = scale(1, 3);
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let topic = format!("FaultSpool_{sfx}");
    let loss_topic = format!("FaultSpoolLoss_{sfx}");
    warm_up(&c, &[&topic, &loss_topic]);
    let dir = tmp("spool-on");
    let bridge_id = format!("fa{}", std::process::id());
    let budget = 256 * 1024;
    let metrics_port = free_port();
    let config = dir.join("bridge.conf");
    std::fs::write(
        &config,
        format!(
            "bridge.rocket.servers = {ns}\nbridge.rocket.produce = async\n\
             bridge.rocket.bridge_id = {bridge_id}\nbridge.rocket.node = fault@127.0.0.1\n\
             bridge.rocket.stats_interval = 0s\nbridge.rocket.refresh_topic_route_interval = 1s\n\
             bridge.rocket.encode_payload_type = plain\n\
             bridge.rocket.spool.dir = {spool}\nbridge.rocket.spool.sync = always\n\
             bridge.rocket.spool.segment_size = 1MB\nbridge.rocket.spool.max_bytes = 1GB\n\
             bridge.rocket.buffer.max_bytes = {budget}\nbridge.rocket.producer.max_message_size = 64KB\n\
             bridge.rocket.drain_timeout = 120s\nbridge.rocket.loss_report.topic = {loss_topic}\n\
             bridge.rocket.metrics.listen = 127.0.0.1:{metrics_port}\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"{topic}\"}}\n",
            ns = c.namesrv_addrs.join(","),
            spool = dir.join("spool").display(),
        ),
    )
    .unwrap();
    let log = dir.join("bridge.stderr");
    let proc = Arc::new(Mutex::new(spawn_bridge(&config, &log)));

    // Writer: one line per event at a steady rate; a line whose write fails (the bridge was just
    // killed) is retried on the new process, so every index is handed over at least once.
    let written = Arc::new(AtomicU64::new(0));
    let (p2, w2) = (Arc::clone(&proc), Arc::clone(&written));
    let writer = std::thread::spawn(move || {
        let start = Instant::now();
        let mut i = 0u64;
        let mut failed_writes = 0u64;
        while i < n {
            pace(start, i, rate);
            let mut g = p2.lock().unwrap();
            let ok = g
                .stdin
                .as_mut()
                .is_some_and(|s| s.write_all(event_line(i).as_bytes()).is_ok());
            drop(g);
            if ok {
                i += 1;
                w2.store(i, Ordering::SeqCst);
            } else {
                failed_writes += 1;
                assert!(failed_writes < 10_000, "writes keep failing");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        failed_writes
    });
    let wait_written = |k: u64| {
        let start = Instant::now();
        while written.load(Ordering::SeqCst) < k {
            assert!(start.elapsed() < Duration::from_secs(600), "writer stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    };

    // Faults at fixed fractions of the stream.
    let mut kills = Vec::new();
    let broker_at: Vec<u64> = (0..broker_kills)
        .map(|k| n * (2 + 5 * k as u64) / (5 * broker_kills as u64 + 3))
        .collect();
    let bridge_kill_at = n * 11 / 20;
    // SIGKILLs the bridge once `bridge_kill_at` lines were written and restarts it on the spool;
    // returns the lines written at the kill and at the restart.
    let kill_and_restart_bridge = |peaks: &mut Vec<Option<u64>>| {
        wait_written(bridge_kill_at);
        let mut g = proc.lock().unwrap();
        let kill_written = written.load(Ordering::SeqCst);
        peaks.push(vm_hwm_kib(g.child.id()));
        g.child.kill().unwrap();
        g.child.wait().unwrap();
        *g = spawn_bridge(&config, &log);
        let restart_written = written.load(Ordering::SeqCst);
        drop(g);
        println!("bridge SIGKILLed after {kill_written} lines written; restarted on the spool");
        (kill_written, restart_written)
    };
    let mut bridge_killed = false;
    let (mut kill_written, mut restart_written) = (0u64, 0u64);
    // The bridge binary's peak RSS, per process (before its SIGKILL, and at the end of input).
    let mut peaks: Vec<Option<u64>> = Vec::new();
    for (k, &at) in broker_at.iter().enumerate() {
        if !bridge_killed && bridge_kill_at <= at {
            (kill_written, restart_written) = kill_and_restart_bridge(&mut peaks);
            bridge_killed = true;
        }
        wait_written(at);
        let t = Instant::now();
        c.kill_broker(0);
        std::thread::sleep(Duration::from_millis(1500));
        c.start_broker(0);
        kills.push((k, at, t.elapsed()));
        println!(
            "broker SIGKILL #{} at event {at}, back (routed) after {:?}",
            k + 1,
            t.elapsed()
        );
    }
    if !bridge_killed {
        (kill_written, restart_written) = kill_and_restart_bridge(&mut peaks);
    }
    let failed_writes = writer.join().unwrap();
    // The running binary serves its metrics and health.
    let maddr: std::net::SocketAddr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
    let mut scraped = None;
    let scrape_start = Instant::now();
    while scraped.is_none() && scrape_start.elapsed() < Duration::from_secs(30) {
        if status::query(maddr).is_ok() {
            scraped = Some(get(maddr, "/metrics"));
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let scraped = scraped.expect("the bridge binary's metrics endpoint never answered");
    println!(
        "bridge binary /metrics at end of input: spool pending {}, spool bytes {}, in flight {}, sent so far {}",
        metric_sum(&scraped, "rocketmq_bridge_spool_pending_records"),
        metric_sum(&scraped, "rocketmq_bridge_spool_bytes"),
        metric_sum(&scraped, "rocketmq_bridge_in_flight"),
        metric_sum(&scraped, "rocketmq_bridge_sent_total")
    );
    assert!(scraped.contains("rocketmq_bridge_spool_bytes"));
    // End of input: the bridge sends what its spool holds and exits.
    let st = {
        let mut g = proc.lock().unwrap();
        peaks.push(vm_hwm_kib(g.child.id()));
        drop(g.stdin.take());
        wait_exit(&mut g.child, Duration::from_secs(300))
    };
    println!(
        "bridge binary peak RSS (KiB) per process, before its SIGKILL and at end of input: {peaks:?} \
         (buffer.max_bytes {budget}, spool write buffer 256 KiB)"
    );
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let summary = stderr
        .lines()
        .rev()
        .find(|l| l.contains("ended by"))
        .unwrap_or("")
        .to_owned();
    println!("last run: {summary}");
    let next_seq: u64 = summary
        .split("next seq ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no spool summary in the bridge's stderr:\n{stderr}"));
    assert!(st.success(), "bridge exit {st}: {summary}");
    assert!(
        summary.contains(" 0 left for the next run"),
        "spool not drained: {summary}"
    );

    let got = read_back(&c.namesrv, &topic, next_seq as usize, &READ_BACK);
    let mut by_seq: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    let mut copies: HashMap<u64, u64> = HashMap::new();
    for m in &got {
        let seq = seq_of(m, &bridge_id);
        by_seq.entry(seq).or_default().insert(index_of(m));
        *copies.entry(seq).or_default() += 1;
    }
    // Same key, same event.
    for (seq, idx) in &by_seq {
        assert_eq!(idx.len(), 1, "key {bridge_id}-{seq} carries events {idx:?}");
    }
    // Every accepted event (every spool sequence number ever given) is there.
    let missing_seqs: Vec<u64> = (0..next_seq).filter(|s| !by_seq.contains_key(s)).collect();
    let duplicates: u64 = copies.values().map(|c| c - 1).sum();
    let found: BTreeSet<u64> = by_seq.values().flatten().copied().collect();
    // Events never accepted: written to the killed process's pipe but not yet read by it.
    let never_accepted: Vec<u64> = (0..n).filter(|i| !found.contains(i)).collect();
    let max_in_flight = budget as u64 / 200;
    println!(
        "spool on: events {n} at {rate}/s, broker kills {}, bridge SIGKILLs 1, failed writes {failed_writes}; \
         accepted (spool seqs) {next_seq}, read back {} ({} unique), missing accepted {}, duplicates {duplicates} \
         (bound {}), written but never accepted {} (indexes {:?}..)",
        kills.len(),
        got.len(),
        by_seq.len(),
        missing_seqs.len(),
        max_in_flight * (kills.len() as u64 + 1),
        never_accepted.len(),
        never_accepted.first()
    );
    assert!(
        missing_seqs.is_empty(),
        "accepted events missing: {:?}",
        &missing_seqs[..missing_seqs.len().min(20)]
    );
    assert_eq!(by_seq.len() as u64, next_seq);
    // Lines lost with the killed process are only those it had not read yet, just before the kill.
    for &i in &never_accepted {
        assert!(
            i < kill_written && i + 5_000 >= kill_written,
            "event {i} missing but not written just before the bridge kill ({kill_written})"
        );
    }
    assert!(restart_written >= kill_written);
    assert!(
        duplicates <= max_in_flight * (kills.len() as u64 + 1),
        "{duplicates} duplicates"
    );
    // Nothing was dropped, so no loss report.
    let reports = read_back(&c.namesrv, &loss_topic, 0, &READ_BACK);
    assert!(
        reports.is_empty(),
        "unexpected loss report: {:?}",
        reports
            .first()
            .map(|m| String::from_utf8_lossy(&m.body).into_owned())
    );
}

// ------------------------------------------------------------------------------------------------
// (b) spool off: every missing event is counted as dropped or unknown, drops are reported

fn config_text(c: &Cluster, topic: &str, extra: &str) -> String {
    format!(
        "bridge.rocket.servers = {}\nbridge.rocket.produce = async\n\
         bridge.rocket.node = fault@127.0.0.1\nbridge.rocket.stats_interval = 0s\n\
         bridge.rocket.refresh_topic_route_interval = 1s\nbridge.rocket.encode_payload_type = plain\n\
         bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"{topic}\"}}\n{extra}",
        c.namesrv_addrs.join(",")
    )
}

fn publish(i: u64) -> Event {
    Event::from_json_line(event_line(i).trim_end(), i + 1).unwrap()
}

#[derive(Default, Debug)]
struct Reported {
    /// reason -> count
    counts: BTreeMap<String, u64>,
    /// reason -> sequence numbers
    seqs: BTreeMap<String, BTreeSet<u64>>,
    reports: usize,
    truncated: bool,
}

fn read_reports(ns: &str, topic: &str) -> Reported {
    let mut r = Reported::default();
    for m in read_back(ns, topic, 0, &READ_BACK) {
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
struct SpoolOffRun {
    n: u64,
    missing: usize,
    sent: u64,
    dropped: u64,
    failed: u64,
    overflow: u64,
    unknown: u64,
    held_resent: u64,
}

/// Missing events against the bridge's counters and the in-band loss reports: every event ends
/// once; every event the read-back misses is among those the reports list as dropped (any reason,
/// `failed` included) or outcome unknown; the distinct events reported per reason match the
/// counters. Prints the figures side by side.
fn check_accounting(
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
    let reported = read_reports(&c.namesrv, loss_topic);
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
         duplicates read back {} | held messages re-sent {}",
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
    }
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
    // Held messages get their re-send before the shutdown (which would fail them): wait, bounded,
    // until nothing is held.
    let settle = Instant::now();
    while bridge.stats().held > 0 && settle.elapsed() < Duration::from_secs(30) {
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

// ------------------------------------------------------------------------------------------------
// (c) health across an outage; metrics agree with the read-back

fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn get(addr: std::net::SocketAddr, path: &str) -> String {
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
    while bridge.stats().spool.unwrap().pending_records > 0
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

// ------------------------------------------------------------------------------------------------
// (d) spool cap reached during an outage: the oldest records are dropped, counted and reported

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

// ------------------------------------------------------------------------------------------------
// (e) name servers SIGKILLed during the stream: routing continues through the other one, then
// the bridge runs on its cached route with every name server down

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

// ------------------------------------------------------------------------------------------------
// (f) a broker that accepts connections but never answers (the fault proxy in stall mode in
// front of the real broker): sends end as outcome unknown or are re-sent, never silently lost,
// and health turns unhealthy

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
