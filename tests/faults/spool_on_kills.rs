//! (a) Spool on: broker SIGKILLs and a bridge SIGKILL while events stream; nothing accepted is lost.

use super::harness::*;
use rocketmq_bridge_test_support as support;
use support::read_back;

use rocketmq_bridge::cli::status;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{scale, suffix, Cluster};

const BIN: &str = env!("CARGO_BIN_EXE_rocketmq-bridge");

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
            // Counted before the lock is let go: the kill (which takes the lock) then sees every
            // line written to the process it kills.
            if ok {
                i += 1;
                w2.store(i, Ordering::SeqCst);
            }
            drop(g);
            if !ok {
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
    // Spooled keys are `<bridge_id>-<spool id>-<seq>`; the spool keeps its id in `spool.id`.
    let spool_id = std::fs::read_to_string(dir.join("spool").join("spool.id")).unwrap();
    let prefix = format!("{bridge_id}-{}", spool_id.trim_end());
    let mut by_seq: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    let mut copies: HashMap<u64, u64> = HashMap::new();
    for m in &got {
        let seq = seq_of(m, &prefix);
        by_seq.entry(seq).or_default().insert(index_of(m));
        *copies.entry(seq).or_default() += 1;
    }
    // Same key, same event.
    for (seq, idx) in &by_seq {
        assert_eq!(idx.len(), 1, "key {prefix}-{seq} carries events {idx:?}");
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
