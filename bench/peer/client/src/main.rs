//! The producer benchmark workload (256-byte bodies) through rocketmq-client-rust 1.0 from crates.io,
//! against the same broker as `examples/bench_producer.rs`, so the two can be compared in one run.
//!
//! `peer-client-bench --namesrv ADDR --scenario sync1|sync8|async|batch100|batch100_async [--messages N]`
//!
//! One scenario per process, so that the peak RSS (VmHWM) printed belongs to that scenario. Prints
//! one JSON line: {"client":"rocketmq-client-rust","scenario":...,"msgs":...,"msgs_per_s":...,
//! "p50_us":...,"p99_us":...,"cpu_us_per_msg":...,"failed":...,"peak_rss_kib":...}.
//! Message counts follow the bench program: sync1 min(N, 20000), sync8 and async N, batch100 10 N.

use rocketmq_client_rust::{
    ClientError, ClientResult, ClientRuntime, ClientRuntimeConfig, DefaultMQProducer, SendResult,
    SendStatus,
};
use rocketmq_model::common::message::message_single::Message;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIMEOUT_MS: u64 = 3000;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15; index 0 after ")" is field 3.
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn msg(topic: &str, body: &[u8]) -> Message {
    Message::builder()
        .topic(topic)
        .body_slice(body)
        .build_unchecked()
}

fn pct(v: &mut [u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
    lat_us: Mutex<Vec<u64>>,
}

impl Tally {
    fn new(n: usize) -> Arc<Tally> {
        Arc::new(Tally {
            ok: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            lat_us: Mutex::new(Vec::with_capacity(n)),
        })
    }
    fn record(&self, k: usize, good: bool, since: Instant) {
        if good {
            self.ok.fetch_add(k, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(k, Ordering::Relaxed);
        }
        self.lat_us
            .lock()
            .unwrap()
            .push(since.elapsed().as_micros() as u64);
    }
    fn done(&self) -> usize {
        self.ok.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }
}

fn good(r: &ClientResult<Option<SendResult>>) -> bool {
    matches!(r, Ok(Some(s)) if s.send_status == SendStatus::SendOk)
}

async fn sync_run(
    p: &DefaultMQProducer,
    topic: &str,
    n: usize,
    threads: usize,
    t: &Arc<Tally>,
    body: &Arc<Vec<u8>>,
) {
    let mut tasks = Vec::new();
    for i in 0..threads {
        let (p, t, body, topic) = (p.clone(), Arc::clone(t), Arc::clone(body), topic.to_owned());
        tasks.push(tokio::spawn(async move {
            for _ in (i..n).step_by(threads) {
                let st = Instant::now();
                let r = p.send_with_timeout(msg(&topic, &body), TIMEOUT_MS).await;
                t.record(1, good(&r), st);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

async fn wait_all(t: &Tally, n: usize) {
    let limit = Instant::now() + Duration::from_secs(120);
    while t.done() < n && Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A burst of callback sends (no client-side window: the library's own back-pressure applies).
async fn async_run(
    p: &DefaultMQProducer,
    topic: &str,
    n: usize,
    batch: usize,
    t: &Arc<Tally>,
    body: &[u8],
) {
    let mut sent = 0;
    while sent < n {
        let k = batch.min(n - sent);
        let st = Instant::now();
        let t2 = Arc::clone(t);
        let once = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let once2 = Arc::clone(&once);
        let cb = move |r: Option<&SendResult>, e: Option<&ClientError>| {
            if once2.swap(true, Ordering::AcqRel) {
                return;
            }
            let ok = e.is_none() && r.is_some_and(|s| s.send_status == SendStatus::SendOk);
            t2.record(k, ok, st);
        };
        let res = if batch == 1 {
            p.send_with_callback_timeout(msg(topic, body), cb, TIMEOUT_MS)
                .await
        } else {
            let msgs: Vec<Message> = (0..k).map(|_| msg(topic, body)).collect();
            p.send_batch_with_callback_timeout(msgs, cb, TIMEOUT_MS)
                .await
        };
        if res.is_err() && !once.swap(true, Ordering::AcqRel) {
            t.record(k, false, st);
        }
        sent += k;
    }
    wait_all(t, n).await;
}

/// Batches sent one after another, each waiting for its answer.
async fn batch_sync_run(
    p: &DefaultMQProducer,
    topic: &str,
    n: usize,
    batch: usize,
    t: &Arc<Tally>,
    body: &[u8],
) {
    let mut sent = 0;
    while sent < n {
        let k = batch.min(n - sent);
        let msgs: Vec<Message> = (0..k).map(|_| msg(topic, body)).collect();
        let st = Instant::now();
        let r = p.send_batch_with_timeout(msgs, TIMEOUT_MS).await;
        t.record(
            k,
            matches!(&r, Ok(s) if s.send_status == SendStatus::SendOk),
            st,
        );
        sent += k;
    }
}

#[tokio::main]
async fn main() -> ClientResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let ns = opt("--namesrv").unwrap_or_else(|| "127.0.0.1:9876".into());
    let n: usize = opt("--messages")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let scenario = opt("--scenario").unwrap_or_else(|| "sync1".into());
    let topic = opt("--topic").unwrap_or_else(|| format!("PeerBenchTopic{}", std::process::id()));

    let owner = RuntimeOwner::plan(RuntimeConfig {
        thread_name: "peer-bench".into(),
        ..Default::default()
    })
    .expect("runtime plan")
    .build()
    .map_err(|e| ClientError::internal("create runtime", e))?;
    let telemetry = rocketmq_observability::install_global(
        &rocketmq_observability::TelemetryBootstrapConfig::default(),
    )
    .map_err(|e| ClientError::internal("telemetry", e))?;
    let rt = ClientRuntime::try_new(
        owner.root_context().component("client"),
        ClientRuntimeConfig::default(),
        telemetry.handle(),
    )?;
    let mut p = DefaultMQProducer::builder(rt.clone())
        .producer_group(format!("peer_bench_group_{}", std::process::id()))
        .name_server_addr(ns)
        .send_msg_timeout(TIMEOUT_MS as u32)
        .build();
    p.start().await?;
    let body = Arc::new(vec![b'x'; 256]);
    // Warm-up, as in the bench program: creates the topic and the connection.
    for _ in 0..50 {
        let _ = p.send_with_timeout(msg(&topic, &body), TIMEOUT_MS).await;
    }

    let count = match scenario.as_str() {
        "sync1" => n.min(20_000),
        "batch100" | "batch100_async" => n * 10,
        _ => n,
    };
    let t = Tally::new(count);
    let (t0, c0) = (Instant::now(), cpu_seconds());
    match scenario.as_str() {
        "sync1" => sync_run(&p, &topic, count, 1, &t, &body).await,
        "sync8" => sync_run(&p, &topic, count, 8, &t, &body).await,
        "async" => async_run(&p, &topic, count, 1, &t, &body).await,
        "batch100" => batch_sync_run(&p, &topic, count, 100, &t, &body).await,
        "batch100_async" => async_run(&p, &topic, count, 100, &t, &body).await,
        other => panic!("unknown scenario {other}"),
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c0;
    let ok = t.ok.load(Ordering::Relaxed);
    let failed = count - ok;
    let mut lat = t.lat_us.lock().unwrap().clone();
    let (p50, p99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
    let rss = peak_rss_kib();
    println!(
        "{{\"client\":\"rocketmq-client-rust\",\"scenario\":\"{scenario}\",\"msgs\":{count},\"ok\":{ok},\"msgs_per_s\":{:.0},\"ok_per_s\":{:.0},\"p50_us\":{p50},\"p99_us\":{p99},\"cpu_us_per_msg\":{:.2},\"failed\":{failed},\"peak_rss_kib\":{rss}}}",
        count as f64 / secs,
        ok as f64 / secs,
        cpu * 1e6 / count.max(1) as f64,
    );
    // Bounded shutdown: the library's own shutdown may wait on background tasks.
    let _ = tokio::time::timeout(Duration::from_secs(10), p.shutdown()).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), rt.shutdown()).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), owner.shutdown_tasks()).await;
    std::process::exit(0);
}
