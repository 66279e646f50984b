//! Benchmark: mosquitto with and without the plugin, one publisher and one subscriber, 64-byte payloads,
//! QoS 0 and QoS 1, at a fixed offered rate; publish-to-receive latency percentiles, the CPU time and peak
//! RSS the plugin adds, every publish and delivery event counted in RocketMQ, and the highest offered rate
//! at which every event still lands. Prints figures and ends with one JSON line.
//!
//! ```text
//! cargo run --release -p rocketmq-bridge-mosquitto --example bench_mosquitto -- \
//!     --namesrv 127.0.0.1:9876 [--rate 5000] [--secs 60] [--search-secs 10] [--search-rates 5000,10000,20000] \
//!     [--linger 2ms]
//! ```
//! `scripts/bench-mosquitto.sh` starts RocketMQ and runs this.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq_bridge::consumer::PullConsumer;

const PAYLOAD: usize = 64;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---- a minimal MQTT 3.1.1 client: just what the benchmark needs ----------------------------------------

fn rem_len(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![first];
    rem_len(body.len(), &mut p);
    p.extend_from_slice(body);
    p
}

fn mqtt_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn read_packet(r: &mut impl Read) -> std::io::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 1];
    r.read_exact(&mut h)?;
    let mut len = 0usize;
    let mut mul = 1usize;
    loop {
        let mut b = [0u8; 1];
        r.read_exact(&mut b)?;
        len += (b[0] & 0x7f) as usize * mul;
        if b[0] & 0x80 == 0 {
            break;
        }
        mul *= 128;
        if mul > 128 * 128 * 128 {
            return Err(std::io::Error::other("bad remaining length"));
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok((h[0], body))
}

fn connect(port: u16, id: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    let mut body = Vec::new();
    mqtt_str("MQTT", &mut body);
    body.extend_from_slice(&[4, 0x02, 0, 60]);
    mqtt_str(id, &mut body);
    s.write_all(&packet(0x10, &body)).unwrap();
    let (t, b) = read_packet(&mut s).unwrap();
    assert!(t == 0x20 && b.len() == 2 && b[1] == 0, "CONNACK refused");
    s
}

// ---- mosquitto under test ------------------------------------------------------------------------------

struct Mosq {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Mosq {
    fn start(dir: &Path, plugin: Option<(&Path, &Path)>) -> Mosq {
        let port = free_port();
        let log = dir.join(format!("mosquitto-{port}.log"));
        let mut conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\nmax_queued_messages 0\n\
             max_inflight_messages 0\nlog_dest file {}\nlog_type error\nlog_type warning\nlog_type notice\n",
            log.display()
        );
        if let Some((so, cfg)) = plugin {
            conf.push_str(&format!(
                "plugin {}\nplugin_opt_config {}\nplugin_opt_logins open_broker\nplugin_opt_acl open_broker\n\
                 \n",
                so.display(),
                cfg.display()
            ));
        }
        let path = dir.join(format!("mosquitto-{port}.conf"));
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Mosq { child, port, log }
    }

    /// (user+system CPU seconds of all threads, of mosquitto's own thread, peak RSS KiB).
    fn usage(&self) -> (f64, f64, u64) {
        let pid = self.child.id();
        let cpu = |path: String| {
            let stat = std::fs::read_to_string(path).unwrap();
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = after.split_whitespace().collect();
            (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
        };
        let all = cpu(format!("/proc/{pid}/stat"));
        let main = cpu(format!("/proc/{pid}/task/{pid}/stat"));
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap())
            .unwrap_or(0);
        (all, main, hwm)
    }

    /// SIGTERM (the plugin drains into RocketMQ), wait, and return the plugin's final counter line.
    fn stop(mut self) -> Option<String> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .rev()
            .find(|l| l.contains("shutdown: final stats:"))
            .map(|l| l[l.find("stats:").unwrap_or(0)..].to_string())
    }
}

// ---- one run ---------------------------------------------------------------------------------------------

struct RunResult {
    sent: u64,
    received: u64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    cpu_s: f64,
    main_cpu_s: f64,
    rss_kib: u64,
}

fn run(port: u16, qos: u8, rate: u64, secs: u64, tag: &str) -> RunResult {
    let epoch = Instant::now();
    let topic = format!("bench/{tag}");
    // subscriber
    let mut sub = connect(port, &format!("bsub-{tag}"));
    let mut body = vec![0, 1];
    mqtt_str(&topic, &mut body);
    body.push(qos);
    sub.write_all(&packet(0x82, &body)).unwrap();
    let total = rate * secs;
    let received = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sub_thread = {
        let received = Arc::clone(&received);
        let done = Arc::clone(&done);
        let mut w = sub.try_clone().unwrap();
        sub.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        std::thread::spawn(move || {
            let mut lat: Vec<u32> = Vec::with_capacity(total as usize);
            let mut r = BufReader::with_capacity(1 << 16, sub);
            loop {
                match read_packet(&mut r) {
                    Ok((t, b)) if t >> 4 == 3 => {
                        let now = epoch.elapsed().as_nanos() as u64;
                        let tl = u16::from_be_bytes([b[0], b[1]]) as usize;
                        let mut at = 2 + tl;
                        if (t >> 1) & 3 > 0 {
                            let pid = [b[at], b[at + 1]];
                            at += 2;
                            w.write_all(&[0x40, 2, pid[0], pid[1]]).unwrap();
                        }
                        let sent = u64::from_be_bytes(b[at..at + 8].try_into().unwrap());
                        lat.push(((now.saturating_sub(sent)) / 1000).min(u32::MAX as u64) as u32);
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut =>
                    {
                        if done.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            lat
        })
    };
    std::thread::sleep(Duration::from_millis(300)); // SUBACK
                                                    // publisher: absolute schedule, QoS 1 acks read by a helper thread
    let mut publ = connect(port, &format!("bpub-{tag}"));
    let acker = {
        let mut r = publ.try_clone().unwrap();
        r.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while let Ok((t, _)) = read_packet(&mut r) {
                if t >> 4 == 4 {
                    n += 1;
                }
            }
            n
        })
    };
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let mut buf = Vec::with_capacity(128);
    for i in 0..total {
        let due = start + interval * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let mut body = Vec::with_capacity(96);
        mqtt_str(&topic, &mut body);
        if qos > 0 {
            body.extend_from_slice(&(((i % 65535) + 1) as u16).to_be_bytes());
        }
        let ts = epoch.elapsed().as_nanos() as u64;
        body.extend_from_slice(&ts.to_be_bytes());
        body.resize(body.len() + PAYLOAD - 8, b'x');
        buf.clear();
        buf.extend_from_slice(&packet(0x30 | (qos << 1), &body));
        publ.write_all(&buf).unwrap();
    }
    // wait for the tail to arrive (bounded)
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    done.store(true, Ordering::Relaxed);
    let _ = publ.write_all(&[0xe0, 0]);
    let _ = publ.shutdown(std::net::Shutdown::Both);
    let _ = acker.join();
    let mut lat = sub_thread.join().unwrap();
    lat.sort_unstable();
    let pct = |p: f64| {
        if lat.is_empty() {
            0.0
        } else {
            lat[((lat.len() - 1) as f64 * p) as usize] as f64
        }
    };
    RunResult {
        sent: total,
        received: received.load(Ordering::Relaxed),
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        max_us: lat.last().copied().unwrap_or(0) as f64,
        cpu_s: 0.0,
        main_cpu_s: 0.0,
        rss_kib: 0,
    }
}

fn topic_count(ns: &str, topic: &str) -> u64 {
    let c = PullConsumer::new(ns, "bench_count", None);
    let Ok(qs) = c.queues(topic) else { return 0 };
    qs.iter()
        .map(|q| (c.max_offset(q).unwrap_or(0) - c.min_offset(q).unwrap_or(0)).max(0) as u64)
        .sum()
}

/// Distinct message keys in `topic` (the bridge's per-event key): duplicates from producer retries count once.
fn distinct_keys(ns: &str, topic: &str) -> (u64, u64) {
    let c = PullConsumer::new(ns, "bench_count", None);
    let Some(qs) = (0..20).find_map(|_| {
        c.queues(topic).ok().or_else(|| {
            std::thread::sleep(Duration::from_millis(200));
            None
        })
    }) else {
        eprintln!("  {topic}: no route; nothing counted");
        return (0, 0);
    };
    let mut keys = std::collections::HashSet::new();
    let mut total = 0u64;
    for q in &qs {
        let offsets = (0..20).find_map(|_| match (c.min_offset(q), c.max_offset(q)) {
            (Ok(a), Ok(b)) => Some((a, b)),
            _ => {
                std::thread::sleep(Duration::from_millis(200));
                None
            }
        });
        let Some((mut off, max)) = offsets else {
            eprintln!(
                "  {topic} queue {}: offsets unreadable; not counted",
                q.queue.queue_id
            );
            continue;
        };
        let mut errors = 0;
        while off < max {
            let r = match c.pull(q, off, 32) {
                Ok(r) => r,
                // A transient error must not end the count of this queue (that would read as a loss).
                Err(e) if errors < 20 => {
                    errors += 1;
                    eprintln!(
                        "  pull {topic} queue {} offset {off}: {e}; retrying",
                        q.queue.queue_id
                    );
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                Err(e) => {
                    eprintln!(
                        "  pull {topic} queue {} offset {off}: {e}; giving up on this queue",
                        q.queue.queue_id
                    );
                    break;
                }
            };
            match r.status {
                rocketmq_bridge::consumer::PullStatus::Found(msgs) => {
                    for m in &msgs {
                        total += 1;
                        if let Some(k) = m.keys().first() {
                            keys.insert(k.to_string());
                        }
                        off = m.queue_offset + 1;
                    }
                }
                _ if r.next_begin_offset > off => off = r.next_begin_offset,
                // Nothing found below the max offset: the broker may still be indexing; retry a little.
                _ if errors < 20 => {
                    errors += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
                _ => {
                    eprintln!(
                        "  pull {topic} queue {} offset {off}: nothing found below max {max}; stopped",
                        q.queue.queue_id
                    );
                    break;
                }
            }
        }
    }
    (keys.len() as u64, total)
}

fn bridge_conf(dir: &Path, ns: &str, run: &str) -> (PathBuf, String, String) {
    let (tp, td) = (format!("BenchPublish_{run}"), format!("BenchDeliver_{run}"));
    // `--linger D`: the plugin's `producer.linger` (default 0s, the config's default).
    let linger = arg("--linger").unwrap_or_else(|| "0s".to_owned());
    let p = dir.join(format!("bridge-{run}.conf"));
    std::fs::write(
        &p,
        format!(
            "bridge.rocket.servers = {ns}\nbridge.rocket.produce = async\nbridge.rocket.producer.batch_size = 100\n\
             bridge.rocket.buffer.max_bytes = 8MB\nbridge.rocket.buffer.overflow = block\nbridge.rocket.drain_timeout = 60s\n\
             bridge.rocket.stats_interval = 0s\nbridge.rocket.producer.linger = {linger}\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"bench/#\", \"topic\": \"{tp}\"}}\n\
             bridge.rocket.hook.message.delivered.1 = {{\"filter\": \"bench/#\", \"topic\": \"{td}\"}}\n"
        ),
    )
    .unwrap();
    (p, tp, td)
}

/// Waits until `topic` holds at least `want` messages (or `secs` pass, or no growth for 10 s), then returns
/// the number of distinct event keys in it.
fn wait_count(ns: &str, topic: &str, want: u64, secs: u64) -> u64 {
    let stored = wait_stored(ns, topic, want, secs);
    let (distinct, total) = distinct_keys(ns, topic);
    if total != distinct || total != stored {
        println!("  {topic}: {total} stored, {distinct} distinct keys (duplicates come from producer retries)");
    }
    distinct
}

fn wait_stored(ns: &str, topic: &str, want: u64, secs: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut last, mut since) = (u64::MAX, Instant::now());
    loop {
        let n = topic_count(ns, topic);
        if n >= want || Instant::now() > deadline || since.elapsed() > Duration::from_secs(10) {
            return n;
        }
        if n != last {
            (last, since) = (n, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// user+system CPU seconds of process `pid` so far (0 when unreadable).
fn proc_cpu_s(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let after = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One mosquitto run, with the plugin when `plugin` is given: the MQTT figures, the events counted in
/// RocketMQ (distinct keys), and the plugin's final counter line.
struct Measured {
    r: RunResult,
    /// CPU seconds the RocketMQ broker used from the start of the run until the events were stored.
    broker_cpu_s: f64,
    landed: Option<(u64, u64)>,
    final_stats: Option<String>,
}

/// Where a run writes, which name server it counts in, and the plugin it loads.
struct Setup<'a> {
    dir: &'a Path,
    ns: &'a str,
    so: &'a Path,
    broker_pid: Option<u32>,
}

fn measure(setup: &Setup<'_>, with: bool, run_id: &str, qos: u8, rate: u64, secs: u64) -> Measured {
    let Setup {
        dir,
        ns,
        so,
        broker_pid,
    } = *setup;
    let broker_cpu = || broker_pid.map_or(0.0, proc_cpu_s);
    let conf = with.then(|| bridge_conf(dir, ns, run_id));
    let m = Mosq::start(dir, conf.as_ref().map(|(p, _, _)| (so, p.as_path())));
    let broker_before = broker_cpu();
    let mut r = run(m.port, qos, rate, secs, run_id);
    if let Some((_, tp, td)) = &conf {
        // Let the plugin finish sending while mosquitto still runs, so that its CPU time below includes
        // every event's processing (bounded: stops early when the count no longer grows for 10 s).
        wait_stored(ns, tp, r.sent, 120);
        wait_stored(ns, td, r.received, 120);
    }
    let broker_cpu_s = broker_cpu() - broker_before;
    let (cpu, main_cpu, rss) = m.usage();
    r.cpu_s = cpu;
    r.main_cpu_s = main_cpu;
    r.rss_kib = rss;
    let final_stats = m.stop();
    let landed = conf.as_ref().map(|(_, tp, td)| {
        (
            wait_count(ns, tp, r.sent, 30),
            wait_count(ns, td, r.received, 30),
        )
    });
    Measured {
        r,
        broker_cpu_s,
        landed,
        final_stats,
    }
}

fn main() {
    let ns = arg("--namesrv").expect("--namesrv ADDR");
    let rate: u64 = arg("--rate").map_or(5000, |v| v.parse().unwrap());
    let secs: u64 = arg("--secs").map_or(60, |v| v.parse().unwrap());
    let search_secs: u64 = arg("--search-secs").map_or(10, |v| v.parse().unwrap());
    // `--search-rates none` skips the search.
    let search: Vec<u64> = arg("--search-rates")
        .unwrap_or_else(|| "5000,10000,20000,40000".into())
        .split(',')
        .filter(|v| *v != "none" && !v.is_empty())
        .map(|v| v.parse().unwrap())
        .collect();
    let qos_list: Vec<u8> = arg("--qos")
        .unwrap_or_else(|| "0,1".into())
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    let so = PathBuf::from(arg("--plugin").unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("librocketmq_bridge_mosquitto.so")
            .display()
            .to_string()
    }));
    assert!(
        so.exists(),
        "plugin not found at {} (build it with --release)",
        so.display()
    );
    let dir = std::env::temp_dir().join(format!("bench-mosq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stamp = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    let setup = Setup {
        dir: &dir,
        ns: &ns,
        so: &so,
        broker_pid: arg("--broker-pid").map(|v| v.parse().unwrap()),
    };
    let load_start = loadavg();
    println!("bench: rate={rate}/s secs={secs} qos={qos_list:?} payload={PAYLOAD}B load average at start: {load_start}");

    let mut json = serde_json::Map::new();
    json.insert("load_avg_start".into(), load_start.into());
    let mut ok_all = true;
    for &qos in &qos_list {
        let mut results = Vec::new();
        for with in [false, true] {
            let run_id = format!("{stamp}_q{qos}_{}", if with { "plugin" } else { "plain" });
            let m = measure(&setup, with, &run_id, qos, rate, secs);
            let r = &m.r;
            println!(
                "qos{qos} {:<14} sent={} received={} p50={:.0}us p99={:.0}us max={:.0}us cpu={:.2}s (mosquitto thread {:.2}s) peak_rss={}KiB rocketmq_broker_cpu={:.2}s{}",
                if with { "with plugin" } else { "without plugin" },
                r.sent,
                r.received,
                r.p50_us,
                r.p99_us,
                r.max_us,
                r.cpu_s,
                r.main_cpu_s,
                r.rss_kib,
                m.broker_cpu_s,
                m.landed.map_or(String::new(), |(p, d)| format!(" rocketmq publish={p} delivered={d}"))
            );
            if let Some(f) = &m.final_stats {
                println!("  plugin {f}");
            }
            results.push(m);
        }
        let plain = &results[0].r;
        let with = &results[1].r;
        let (lp, ld) = results[1].landed.unwrap();
        let events = with.sent + with.received;
        let cpu_per_event_us = (with.cpu_s - plain.cpu_s).max(0.0) * 1e6 / events as f64;
        let main_cpu_per_event_us =
            (with.main_cpu_s - plain.main_cpu_s).max(0.0) * 1e6 / events as f64;
        let limit = (plain.p99_us * 1.10).max(plain.p99_us + 1000.0);
        let within = with.p99_us <= limit;
        let all_landed = lp == with.sent && ld == with.received && with.received == with.sent;
        ok_all &= within && all_landed;
        println!(
            "qos{qos}: p99 {:.0}us vs {:.0}us (limit {:.0}us: {}); every event landed: {} ({} of {}); plugin cpu per event {:.2}us (on mosquitto's thread {:.2}us); rss added {}KiB",
            with.p99_us,
            plain.p99_us,
            limit,
            if within { "ok" } else { "OVER" },
            all_landed,
            lp + ld,
            with.sent + with.received,
            cpu_per_event_us,
            main_cpu_per_event_us,
            with.rss_kib as i64 - plain.rss_kib as i64
        );
        json.insert(
            format!("qos{qos}"),
            serde_json::json!({
                "rate": rate, "secs": secs,
                "p99_us_without": plain.p99_us, "p99_us_with": with.p99_us, "p99_limit_us": limit,
                "p99_ok": within,
                "p50_us_without": plain.p50_us, "p50_us_with": with.p50_us,
                "received_without": plain.received, "received_with": with.received, "sent": with.sent,
                "rocketmq_publish": lp, "rocketmq_delivered": ld, "all_landed": all_landed,
                "cpu_s_without": plain.cpu_s, "cpu_s_with": with.cpu_s,
                "plugin_cpu_us_per_event": cpu_per_event_us,
                "plugin_cpu_us_per_event_on_mosquitto_thread": main_cpu_per_event_us,
                "peak_rss_kib_without": plain.rss_kib, "peak_rss_kib_with": with.rss_kib,
                "plugin_rss_added_kib": with.rss_kib as i64 - plain.rss_kib as i64,
                "plugin_final_stats": results[1].final_stats,
                "rocketmq_broker_cpu_s_without": results[0].broker_cpu_s,
                "rocketmq_broker_cpu_s_with": results[1].broker_cpu_s,
            }),
        );
    }
    // highest offered rate (QoS 0) at which every publish and delivery event lands
    let mut highest = None;
    for r in search {
        let run_id = format!("{stamp}_search{r}");
        let m = measure(&setup, true, &run_id, 0, r, search_secs);
        let (lp, ld) = m.landed.unwrap();
        let res = &m.r;
        let ok = lp == res.sent && ld == res.received && res.received == res.sent;
        println!(
            "search rate={r}/s for {search_secs}s: sent={} received={} rocketmq publish={lp} delivered={ld}: {}",
            res.sent,
            res.received,
            if ok { "all landed" } else { "LOST" }
        );
        if let Some(f) = &m.final_stats {
            println!("  plugin {f}");
        }
        if !ok {
            break;
        }
        highest = Some(r);
    }
    json.insert("highest_rate_all_landed".into(), highest.into());
    json.insert("acceptance_ok".into(), ok_all.into());
    let load_end = loadavg();
    json.insert("load_avg_end".into(), load_end.clone().into());
    println!("load average at end: {load_end}; logs in {}", dir.display());
    println!("{}", serde_json::Value::Object(json));
}
