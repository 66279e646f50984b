//! Producer benchmark against a running broker: 256-byte bodies; sync 1 thread, sync 8 threads,
//! async, batch 100 (20 N messages). Prints msgs/s, p50/p99 latency, client CPU per message and
//! peak RSS, then one JSON line. Run through `scripts/bench-producer.sh`, which starts a local
//! RocketMQ.
//!
//! `cargo run --release --example bench_producer -- --namesrv ADDR [--messages N] [--scenarios a,b]
//! [--window W] [--batch-window B] [--topic T] [--tls-ca FILE]` (requests outstanding in async /
//! batch100; both default to 256; the topic defaults to a new auto-created one)
//!
//! `--tls-ca FILE [--tls-rounds R]` (built with `--features tls`): every scenario runs R times
//! (default 3) over plaintext and then over TLS (verified against FILE), alternating, in the same
//! run against the same broker (started with `RMQ_TLS_SERVER_MODE=permissive
//! scripts/rocketmq-java.sh start --tls CERTDIR`, which takes both); rows are named
//! `<scenario>_r<k>` and `<scenario>_tls_r<k>`, each round's TLS msgs/s over the plaintext msgs/s
//! of the same round is printed, and the JSON line gets `<scenario>_tls_ratios` and their median
//! `<scenario>_tls_ratio`.

use rocketmq_bridge::message::Message;
use rocketmq_bridge::producer::{Producer, ProducerConfig};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Process CPU time (user + system) from /proc/self/stat, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // after ")" index 0 is field 3, so field n is index n - 3.
    (ticks(14 - 3) + ticks(15 - 3)) / 100.0
}

/// Peak resident set size in KiB (VmHWM).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Report {
    name: &'static str,
    messages: usize,
    failed: usize,
    secs: f64,
    cpu: f64,
    lat_us: Vec<u64>,
}

impl Report {
    fn pct(&self, p: f64) -> u64 {
        if self.lat_us.is_empty() {
            return 0;
        }
        let mut v = self.lat_us.clone();
        v.sort_unstable();
        v[((v.len() as f64 - 1.0) * p).round() as usize]
    }
    fn rate(&self) -> f64 {
        self.messages as f64 / self.secs
    }
    fn cpu_us_per_msg(&self) -> f64 {
        self.cpu * 1e6 / self.messages.max(1) as f64
    }
}

fn body() -> bytes::Bytes {
    bytes::Bytes::from(vec![b'x'; 256])
}

fn sync_run(p: &Producer, topic: &str, n: usize, threads: usize, name: &'static str) -> Report {
    let lat = Mutex::new(Vec::with_capacity(n));
    let failed = AtomicUsize::new(0);
    let (t0, c0) = (Instant::now(), cpu_seconds());
    std::thread::scope(|s| {
        for t in 0..threads {
            let (p, lat, failed) = (p.clone(), &lat, &failed);
            s.spawn(move || {
                let mut local = Vec::with_capacity(n / threads + 1);
                for _ in (t..n).step_by(threads) {
                    let st = Instant::now();
                    if p.send(Message::new(topic, body())).is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    local.push(st.elapsed().as_micros() as u64);
                }
                lat.lock().unwrap().extend(local);
            });
        }
    });
    Report {
        name,
        messages: n,
        failed: failed.into_inner(),
        secs: t0.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - c0,
        lat_us: lat.into_inner().unwrap(),
    }
}

fn async_run(
    p: &Producer,
    topic: &str,
    n: usize,
    batch: usize,
    window: usize,
    name: &'static str,
) -> Report {
    let lat = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let failed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let mut sent = 0;
    // Keep at most `window` requests outstanding (256 by default, as the peer benchmarks do): a
    // permit per request.
    let (permit_tx, permit_rx) = crossbeam_channel::bounded::<()>(window.max(1));
    while sent < n {
        permit_tx.send(()).expect("permit");
        let k = batch.min(n - sent);
        let st = Instant::now();
        let (lat2, failed2, done2) = (Arc::clone(&lat), Arc::clone(&failed), Arc::clone(&done));
        let permit = permit_rx.clone();
        let cb = Box::new(move |r: Result<_, rocketmq_bridge::producer::SendError>| {
            let _ = permit.try_recv();
            if r.is_err() {
                failed2.fetch_add(k, Ordering::Relaxed);
            }
            lat2.lock().unwrap().push(st.elapsed().as_micros() as u64);
            done2.fetch_add(k, Ordering::Release);
        });
        let res = if batch == 1 {
            p.send_async(Message::new(topic, body()), None, cb)
        } else {
            let msgs = (0..k).map(|_| Message::new(topic, body())).collect();
            p.send_batch_async(msgs, None, cb)
        };
        if res.is_err() {
            let _ = permit_rx.try_recv();
            failed.fetch_add(k, Ordering::Relaxed);
            done.fetch_add(k, Ordering::Release);
        }
        sent += k;
    }
    let limit = Instant::now() + Duration::from_secs(300);
    while done.load(Ordering::Acquire) < n && Instant::now() < limit {
        std::thread::sleep(Duration::from_micros(200));
    }
    let lat_us = lat.lock().unwrap().clone();
    Report {
        name,
        messages: n,
        failed: failed.load(Ordering::Relaxed) + (n - done.load(Ordering::Acquire)),
        secs: t0.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - c0,
        lat_us,
    }
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
    let n: usize = opt("--messages")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // Requests outstanding in the async scenarios (batch100 counts batches).
    let window: usize = opt("--window").and_then(|v| v.parse().ok()).unwrap_or(256);
    let batch_window: usize = opt("--batch-window")
        .and_then(|v| v.parse().ok())
        .unwrap_or(window);
    let scenarios = opt("--scenarios").unwrap_or_else(|| "sync1,sync8,async,batch100".into());
    // --no-unique-ids: no UNIQ_KEY on the messages (as rocketmq-client-go sends batch members),
    // to compare like with like; the default, like the Java client, gives every message one.
    let unique_ids = !args.iter().any(|a| a == "--no-unique-ids");
    let cfg = ProducerConfig::new(&[ns.as_str()], "bench_producer_group")
        .async_window(256)
        .unique_ids(unique_ids);
    let p = Producer::start(cfg.clone()).expect("start producer");
    #[cfg(feature = "tls")]
    let tls_p = opt("--tls-ca").map(|ca| {
        let mut o = rocketmq_bridge::remoting::TlsOptions::default();
        o.ca_file = Some(ca.into());
        let c = rocketmq_bridge::remoting::TlsConnector::new(&o).expect("tls files");
        Producer::start(cfg.clone().tls(Some(c))).expect("start TLS producer")
    });
    #[cfg(not(feature = "tls"))]
    if opt("--tls-ca").is_some() {
        eprintln!("--tls-ca needs a build with --features tls");
        std::process::exit(2);
    }
    #[cfg(not(feature = "tls"))]
    let tls_p: Option<Producer> = None;
    // --topic: an existing topic (scripts/cluster-suite.sh creates it on every master first).
    let topic = opt("--topic").unwrap_or_else(|| format!("BenchTopic{}", std::process::id()));
    // Warm up: create the topic (unless it exists) and the connections.
    for _ in 0..50 {
        let _ = p.send(Message::new(topic.as_str(), body()));
        if let Some(t) = &tls_p {
            let _ = t.send(Message::new(topic.as_str(), body()));
        }
    }
    let mut reports = Vec::new();
    let mut ratios = Vec::new();
    let rounds: usize = match &tls_p {
        Some(_) => opt("--tls-rounds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3),
        None => 1,
    };
    let mut runs: Vec<(String, &Producer, bool)> = Vec::new();
    for k in 1..=rounds {
        let round = if tls_p.is_some() {
            format!("_r{k}")
        } else {
            String::new()
        };
        runs.push((round.clone(), &p, false));
        if let Some(t) = &tls_p {
            runs.push((format!("_tls{round}"), t, true));
        }
    }
    for s in scenarios.split(',') {
        let mut mine = Vec::new();
        for (sfx, p, tls) in &runs {
            let (p, tls) = (*p, *tls);
            // The rows' names live as long as the reports (to the end of this one-shot program).
            let name: &'static str = Box::leak(format!("{s}{sfx}").into_boxed_str());
            let r = match s {
                "sync1" => sync_run(p, &topic, n.min(20_000), 1, name),
                "sync8" => sync_run(p, &topic, n, 8, name),
                "async" => async_run(p, &topic, n, 1, window, name),
                "batch100" => async_run(p, &topic, n * 20, 100, batch_window, name),
                other => {
                    eprintln!("unknown scenario {other}");
                    continue;
                }
            };
            if tls {
                if let Some(plain) = reports.last() {
                    let ratio = r.rate() / Report::rate(plain);
                    println!("{name}: TLS / plaintext throughput {ratio:.3}");
                    mine.push(ratio);
                }
            }
            println!(
            "{:<9} {:>8} msgs  {:>10.0} msgs/s  p50 {:>6} us  p99 {:>7} us  cpu {:>6.2} us/msg  failed {}",
            r.name,
            r.messages,
            r.rate(),
            r.pct(0.5),
            r.pct(0.99),
            r.cpu_us_per_msg(),
            r.failed
        );
            reports.push(r);
        }
        if !mine.is_empty() {
            let list: Vec<String> = mine.iter().map(|r| format!("{r:.3}")).collect();
            mine.sort_by(f64::total_cmp);
            let median = mine[mine.len() / 2];
            println!(
                "{s}: TLS / plaintext throughput, median of {} rounds: {median:.3}",
                mine.len()
            );
            ratios.push(format!(
                "\"{s}_tls_ratios\":[{}],\"{s}_tls_ratio\":{median:.3}",
                list.join(",")
            ));
        }
    }
    let rss = peak_rss_kib();
    println!("peak RSS {rss} KiB");
    let json: Vec<String> = reports
        .iter()
        .map(|r| {
            format!(
                "\"{}\":{{\"msgs\":{},\"msgs_per_s\":{:.0},\"p50_us\":{},\"p99_us\":{},\"cpu_us_per_msg\":{:.2},\"failed\":{}}}",
                r.name,
                r.messages,
                r.rate(),
                r.pct(0.5),
                r.pct(0.99),
                r.cpu_us_per_msg(),
                r.failed
            )
        })
        .collect();
    let ratios: String = ratios.iter().map(|r| format!(",{r}")).collect();
    println!(
        "{{\"bench\":\"producer\",{}{ratios},\"peak_rss_kib\":{rss}}}",
        json.join(",")
    );
    p.close(Duration::from_secs(5));
    if let Some(t) = tls_p {
        t.close(Duration::from_secs(5));
    }
}
