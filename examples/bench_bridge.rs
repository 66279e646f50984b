//! Bridge benchmark against a running RocketMQ. Figures measured in the same run:
//!
//! 1. `producer_batch100`: the producer's own async batch throughput (batches of 100 messages of
//!    the size the bridge's JSON has, round-robin, unordered), the reference; and
//!    `producer_batch100_keyed`: the same with 16 ordering keys, so the producer keeps one batch in
//!    flight per queue, the constraint the bridge's default `key_dispatch` ordering has too.
//! 2. `run_async_batch100`: `rocketmq-bridge run --input FILE` as a child process on N
//!    `message.publish` lines (16 client ids) with `produce = async`, `producer.batch_size = 100`,
//!    once with the default `queue_strategy = key_dispatch` and once with `roundrobin`; wall time
//!    from spawn to exit (start, route check, parse, format, send, drain) and the child's peak RSS.
//! 3. `sync1` / `sync8`: events per second through the library in sync mode with 1 and 8 host
//!    threads.
//!
//! Prints one line per figure, then one JSON line.
//!
//! `cargo build --release --bin rocketmq-bridge --example bench_bridge &&
//!  target/release/examples/bench_bridge --namesrv ADDR [--events N] [--sync-events N] [--bin PATH]`

use bytes::Bytes;
use rocketmq_bridge::bridge::{Bridge, BridgeConfig, Event};
use rocketmq_bridge::message::Message;
use rocketmq_bridge::producer::{Producer, ProducerConfig, QueueStrategy};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAYLOAD: &str = "temperature=21.5;humidity=40;battery=97;status=ok;seq=000000000000";

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn event_line(i: usize) -> String {
    format!(
        "{{\"event\":\"message.publish\",\"client_id\":\"client-{}\",\"username\":\"user\",\"topic\":\"sensors/{}/data\",\"payload\":\"{}\",\"qos\":1,\"retain\":false}}\n",
        i % 16,
        i % 16,
        PAYLOAD
    )
}

/// The producer's own async batch throughput. `keyed`: each batch carries an ordering key (one of
/// 16, like the bridge's client ids under `key_dispatch`), so the producer keeps one batch in flight
/// per queue, as it must for ordered sends; otherwise batches go round-robin, unordered.
fn producer_batch(ns: &str, topic: &str, n: usize, body_len: usize, keyed: bool) -> f64 {
    let strategy = if keyed {
        QueueStrategy::KeyHash
    } else {
        QueueStrategy::RoundRobin
    };
    let p =
        Producer::start(ProducerConfig::new(&[ns], "bench_bridge_ref").queue_strategy(strategy))
            .expect("start producer");
    let _ = p.send(Message::new(topic, vec![b'x'; body_len]));
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut sent = 0;
    while sent < n {
        let k = 100.min(n - sent);
        let msgs = (0..k)
            .map(|i| {
                Message::new(topic, vec![b'x'; body_len]).with_keys(&[&format!("ref-{}", sent + i)])
            })
            .collect();
        let (d, f) = (Arc::clone(&done), Arc::clone(&failed));
        let cb = Box::new(move |r: Result<_, rocketmq_bridge::producer::SendError>| {
            if r.is_err() {
                f.fetch_add(k, Ordering::Relaxed);
            }
            d.fetch_add(k, Ordering::Release);
        });
        let key = format!("client-{}", (sent / 100) % 16);
        let key = keyed.then_some(key.as_bytes());
        if p.send_batch_async(msgs, key, cb).is_err() {
            failed.fetch_add(k, Ordering::Relaxed);
            done.fetch_add(k, Ordering::Release);
        }
        sent += k;
    }
    let limit = Instant::now() + Duration::from_secs(600);
    while done.load(Ordering::Acquire) < n && Instant::now() < limit {
        std::thread::sleep(Duration::from_micros(200));
    }
    let secs = t0.elapsed().as_secs_f64();
    p.close(Duration::from_secs(5));
    let f = failed.load(Ordering::Relaxed);
    if f > 0 {
        eprintln!("producer reference: {f} failed");
    }
    n as f64 / secs
}

fn run_binary(bin: &PathBuf, ns: &str, topic: &str, n: usize, strategy: &str) -> (f64, u64, bool) {
    let dir = std::env::temp_dir().join(format!("bench_bridge_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("events.ndjson");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for i in 0..n {
            f.write_all(event_line(i).as_bytes()).unwrap();
        }
    }
    let conf = dir.join("bridge.conf");
    std::fs::write(
        &conf,
        format!(
            "bridge.rocket.servers = {ns}\nbridge.rocket.produce = async\nbridge.rocket.producer.batch_size = 100\n\
             bridge.rocket.stats_interval = 0s\nbridge.rocket.drain_timeout = 120s\n\
             bridge.rocket.producer.queue_strategy = {strategy}\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"sensors/#\", \"topic\": \"{topic}\"}}\n"
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .args([
            "run",
            "--config",
            conf.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // A file, not a pipe: a pipe read only after exit would block a child that logs a lot.
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .expect("spawn rocketmq-bridge");
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(k) = vm_hwm_kib(pid) {
            peak = peak.max(k);
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > Duration::from_secs(1800) {
            child.kill().unwrap();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let secs = t0.elapsed().as_secs_f64();
    let err = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
    // The summary and any warnings; a long log is cut to its end.
    let tail: Vec<&str> = err.lines().rev().take(20).collect();
    for l in tail.into_iter().rev() {
        eprintln!("{l}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    (n as f64 / secs, peak, status.success())
}

fn sync_run(ns: &str, topic: &str, n: usize, threads: usize) -> (f64, usize) {
    let text = format!(
        "bridge.rocket.servers = {ns}\nbridge.rocket.produce = sync\nbridge.rocket.stats_interval = 0s\n\
         bridge.rocket.hook.message.publish.1 = {{\"filter\": \"sensors/#\", \"topic\": \"{topic}\"}}\n"
    );
    let bridge =
        Bridge::start(BridgeConfig::parse(&text, "bench.conf").unwrap()).expect("start bridge");
    let failed = AtomicUsize::new(0);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (tx, failed) = (bridge.sender(), &failed);
            s.spawn(move || {
                for i in (t..n).step_by(threads) {
                    let ev = Event::message_publish(
                        format!("client-{}", i % 16),
                        format!("sensors/{}/data", i % 16),
                        Bytes::from_static(PAYLOAD.as_bytes()),
                        1,
                    );
                    if tx.send(ev).is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    bridge.shutdown(Duration::from_secs(10));
    (rate, failed.into_inner())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let ns = opt("--namesrv").unwrap_or_else(|| "127.0.0.1:9876".into());
    let n: usize = opt("--events")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let n_sync: usize = opt("--sync-events")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let bin = opt("--bin").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("rocketmq-bridge")
    });
    let topic = format!("BenchBridge{}", std::process::id());
    // The bridge's JSON for one event line, for a like-for-like reference.
    let ev = Event::from_json_line(event_line(0).trim_end(), 1).unwrap();
    let mut body = Vec::new();
    rocketmq_bridge::bridge::format_event(
        &ev,
        "rocketmq_bridge@bench",
        Default::default(),
        &mut body,
    );

    // Create the topic (auto-creation) before timing anything.
    sync_run(&ns, &topic, 100, 1);
    let reference = producer_batch(&ns, &topic, n, body.len(), false);
    println!(
        "producer_batch100   {n:>9} msgs   {reference:>10.0} msgs/s   body {} bytes, round-robin (unordered)",
        body.len()
    );
    let keyed_ref = producer_batch(&ns, &topic, n, body.len(), true);
    println!(
        "producer_batch100_keyed {n:>5} msgs   {keyed_ref:>10.0} msgs/s   16 ordering keys: one batch in flight per queue"
    );
    let (run_rate, rss, ok) = run_binary(&bin, &ns, &topic, n, "key_dispatch");
    let ratio = run_rate / reference;
    println!(
        "run_async_batch100  {n:>9} events {run_rate:>10.0} events/s key_dispatch ({:.0}% of producer, {:.0}% of keyed producer) peak RSS {rss} KiB exit ok={ok}",
        ratio * 100.0,
        run_rate / keyed_ref * 100.0
    );
    let (rr_rate, rr_rss, rr_ok) = run_binary(&bin, &ns, &topic, n, "roundrobin");
    println!(
        "run_async_batch100  {n:>9} events {rr_rate:>10.0} events/s roundrobin ({:.0}% of producer) peak RSS {rr_rss} KiB exit ok={rr_ok}",
        rr_rate / reference * 100.0
    );
    let (s1, f1) = sync_run(&ns, &topic, n_sync, 1);
    println!("sync1               {n_sync:>9} events {s1:>10.0} events/s failed {f1}");
    let (s8, f8) = sync_run(&ns, &topic, n_sync * 4, 8);
    println!(
        "sync8               {:>9} events {s8:>10.0} events/s failed {f8}",
        n_sync * 4
    );
    println!(
        "{{\"bench\":\"bridge\",\"events\":{n},\"producer_batch100_msgs_per_s\":{reference:.0},\
         \"producer_batch100_keyed_msgs_per_s\":{keyed_ref:.0},\
         \"run_async_batch100_events_per_s\":{run_rate:.0},\"ratio\":{ratio:.3},\
         \"ratio_vs_keyed\":{:.3},\"run_peak_rss_kib\":{rss},\"run_ok\":{ok},\
         \"run_roundrobin_events_per_s\":{rr_rate:.0},\"ratio_roundrobin\":{:.3},\
         \"run_roundrobin_peak_rss_kib\":{rr_rss},\"run_roundrobin_ok\":{rr_ok},\"sync1_events_per_s\":{s1:.0},\"sync8_events_per_s\":{s8:.0},\"sync_failed\":{}}}",
        run_rate / keyed_ref,
        rr_rate / reference,
        f1 + f8
    );
}
