//! Bridge benchmark against a running RocketMQ. Figures measured in the same run:
//!
//! 1. `producer_batch100`: the producer's own async batch throughput, the reference: batches of
//!    100 of the messages the bridge sends for the input (the same JSON body, a key like the
//!    bridge's and the MQTT properties), round-robin, unordered. Beside it, for context,
//!    `producer_batch100_plain` (a body of that length with a key only) and
//!    `producer_batch100_keyed` (the bridge's messages with 16 ordering keys, so the producer keeps
//!    one batch in flight per ordering lane, the constraint `key_dispatch` has too).
//! 2. `run_async_batch100`: `rocketmq-bridge run --input FILE` as a child process on N
//!    `message.publish` lines (16 client ids) with `produce = async`, `producer.batch_size = 100`,
//!    once with the default `queue_strategy = key_dispatch` and once with `roundrobin`; wall time
//!    from spawn to exit (start, route check, parse, format, send, drain) and the child's peak RSS.
//!    The input file is written and synced before anything is timed.
//! 3. `sync1` / `sync8`: events per second through the library in sync mode with 1 and 8 host
//!    threads, each beside the producer's own sync sends of the bridge's messages from as many
//!    threads (`producer_sync1` / `producer_sync8`), in turns within every round.
//! 4. CPU: the `run` child's user + system time per event (its `/proc/PID/stat`, read every 5 ms
//!    until it exits, so at most 5 ms of a run's CPU is missed) and the producer reference's (this
//!    process's own CPU time over its timed part, nothing else running) per message.
//!
//! `--clients C` (default 16) spreads the events over C client ids and min(C, 48) MQTT topics (the
//! issue #22 figure with 10,000 client ids); the producer reference sends the same messages.
//! `--warmup W` runs W whole rounds first and discards their figures (the Java broker's JIT).
//!
//! 5. With `--body-compare`, only this: `run_async_batch100` (key_dispatch) on the same input with
//!    the seed's JSON body (the rule without `"body"`) and with `"body": "payload"` (the MQTT
//!    payload as the body, issue 24), alternating which goes first each round (json, payload,
//!    payload, json, ...); medians of the rates and of the per-round ratio payload/json.
//!
//! With `--rounds R` both runs repeat R times on the same broker. Its speed drifts as its store
//! grows, so every run is bracketed by reference runs (ref, key_dispatch, ref, roundrobin, ref,
//! ...) and its ratio is taken against the mean of the two around it; the figures are medians over
//! the rounds. Prints one line per figure and round, then one JSON line.
//!
//! `cargo build --release --bin rocketmq-bridge --example bench_bridge &&
//!  target/release/examples/bench_bridge --namesrv ADDR [--events N] [--sync-events N] [--rounds R]
//!  [--warmup W] [--clients C] [--bin PATH] [--topic T] [--body-compare]` (the topic defaults to a
//!  new auto-created one)

use bytes::Bytes;
use rocketmq_bridge::bridge::{Bridge, BridgeConfig, Event};
use rocketmq_bridge::message::Message;
use rocketmq_bridge::producer::{Producer, ProducerConfig, QueueStrategy};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Client ids the events are spread over (`--clients`, default 16).
static CLIENTS: OnceLock<usize> = OnceLock::new();

fn clients() -> usize {
    *CLIENTS.get().unwrap_or(&16)
}

/// Seconds of user + system CPU of process `pid` so far (`/proc/PID/stat` fields 14 and 15, in
/// USER_HZ ticks of 1/100 s on Linux).
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

const PAYLOAD: &str = "temperature=21.5;humidity=40;battery=97;status=ok;seq=000000000000";

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

fn event_line(i: usize) -> String {
    format!(
        "{{\"event\":\"message.publish\",\"client_id\":\"client-{}\",\"username\":\"user\",\"topic\":\"sensors/{}/data\",\"payload\":\"{}\",\"qos\":1,\"retain\":false}}\n",
        i % clients(),
        i % clients().min(48),
        PAYLOAD
    )
}

/// What the producer reference sends: the bridge's own messages (the JSON body of an event line,
/// a key like the bridge's and the MQTT properties), or a plain body of that length with a key only.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Bridge,
    Plain,
}

/// The bridge's message for event line `i`: its JSON body, and its key and MQTT properties.
fn bridge_message(topic: &str, i: usize) -> Message {
    let ev = Event::from_json_line(event_line(i).trim_end(), 1).unwrap();
    let mut body = Vec::new();
    rocketmq_bridge::bridge::format_event(
        &ev,
        "rocketmq_bridge@bench",
        Default::default(),
        &mut body,
    );
    let mut msg =
        Message::new(topic, body).with_keys(&[&format!("rocketmq_bridge-19acb2f0c1e-{i}")]);
    rocketmq_bridge::bridge::write_message_properties(&ev, &mut msg.properties);
    msg
}

/// The producer's own async batch throughput. `keyed`: each batch carries an ordering key (one of
/// 16, like the bridge's client ids under `key_dispatch`), so the producer keeps one batch in flight
/// per ordering lane, as it must for ordered sends; otherwise batches go round-robin, unordered.
/// The messages are built before the clock starts.
fn producer_batch(
    ns: &str,
    topic: &str,
    n: usize,
    body_len: usize,
    keyed: bool,
    shape: Shape,
) -> (f64, f64) {
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
    // One message per client id, cloned in the timed loop (a shared body, a copied property text)
    // with its own key.
    let c = clients();
    let templates: Vec<Message> = (0..c).map(|i| bridge_message(topic, i)).collect();
    let cpu0 = cpu_secs("self").unwrap_or(0.0);
    let t0 = Instant::now();
    let mut sent = 0;
    while sent < n {
        let k = 100.min(n - sent);
        let msgs = (sent..sent + k)
            .map(|i| match shape {
                Shape::Plain => {
                    Message::new(topic, vec![b'x'; body_len]).with_keys(&[&format!("ref-{i}")])
                }
                Shape::Bridge => {
                    let mut m = templates[i % c].clone();
                    m.properties
                        .set("KEYS", format!("rocketmq_bridge-19acb2f0c1e-{i}"));
                    m
                }
            })
            .collect();
        let (d, f) = (Arc::clone(&done), Arc::clone(&failed));
        let cb = Box::new(move |r: Result<_, rocketmq_bridge::producer::SendError>| {
            if r.is_err() {
                f.fetch_add(k, Ordering::Relaxed);
            }
            d.fetch_add(k, Ordering::Release);
        });
        let key = format!("client-{}", (sent / 100) % c);
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
    let cpu = cpu_secs("self").unwrap_or(0.0) - cpu0;
    p.close(Duration::from_secs(5));
    let f = failed.load(Ordering::Relaxed);
    if f > 0 {
        eprintln!("producer reference: {f} failed");
    }
    (n as f64 / secs, cpu * 1e6 / n as f64)
}

/// The producer's own sync sends of the bridge's messages from `threads` threads: messages per
/// second and failures.
fn producer_sync(ns: &str, topic: &str, n: usize, threads: usize) -> (f64, usize) {
    let p = Producer::start(ProducerConfig::new(&[ns], "bench_bridge_sync_ref"))
        .expect("start producer");
    let _ = p.send(bridge_message(topic, 0));
    let c = clients();
    let templates: Vec<Message> = (0..c).map(|i| bridge_message(topic, i)).collect();
    let failed = AtomicUsize::new(0);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (p, failed, templates) = (&p, &failed, &templates);
            s.spawn(move || {
                for i in (t..n).step_by(threads) {
                    let mut m = templates[i % c].clone();
                    m.properties
                        .set("KEYS", format!("rocketmq_bridge-19acb2f0c1e-{i}"));
                    if p.send(m).is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    p.close(Duration::from_secs(5));
    (rate, failed.into_inner())
}

/// Writes the `n` event lines to `input` and syncs the file, so that no writeback of it competes
/// with the broker during a timed run.
fn write_input(input: &std::path::Path, n: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(input).unwrap());
    for i in 0..n {
        f.write_all(event_line(i).as_bytes()).unwrap();
    }
    f.into_inner().unwrap().sync_all().unwrap();
}

fn run_binary(
    bin: &PathBuf,
    dir: &std::path::Path,
    ns: &str,
    topic: &str,
    n: usize,
    strategy: &str,
    body: Body,
) -> (f64, u64, bool, f64) {
    let input = dir.join("events.ndjson");
    let conf = dir.join("bridge.conf");
    std::fs::write(
        &conf,
        format!(
            "bridge.rocket.servers = {ns}\nbridge.rocket.produce = async\nbridge.rocket.producer.batch_size = 100\n\
             bridge.rocket.stats_interval = 0s\nbridge.rocket.drain_timeout = 120s\n\
             bridge.rocket.producer.queue_strategy = {strategy}\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"sensors/#\", \"topic\": \"{topic}\"{}}}\n",
            match body {
                Body::Json => "",
                Body::Payload => ", \"body\": \"payload\"",
            }
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
    let pid_text = pid.to_string();
    let (mut peak, mut cpu) = (0, 0.0f64);
    let status = loop {
        if let Some(k) = vm_hwm_kib(pid) {
            peak = peak.max(k);
        }
        if let Some(c) = cpu_secs(&pid_text) {
            cpu = cpu.max(c);
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
    (
        n as f64 / secs,
        peak,
        status.success(),
        cpu * 1e6 / n as f64,
    )
}

/// The rule's body: the seed's JSON (no `"body"` key) or `"body": "payload"`.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Body {
    Json,
    Payload,
}

/// `--body-compare`: the run command's rate with the JSON body and with the payload body, same
/// input, same broker, alternating order; prints each run, the medians and one JSON line.
fn body_compare(
    bin: &PathBuf,
    dir: &std::path::Path,
    ns: &str,
    topic: &str,
    n: usize,
    rounds: usize,
) {
    let (mut json, mut payload, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut ok = true;
    for r in 1..=rounds {
        let order = if r % 2 == 1 {
            [Body::Json, Body::Payload]
        } else {
            [Body::Payload, Body::Json]
        };
        let mut rates = [0.0; 2];
        for body in order {
            let (rate, peak, exit_ok, _) = run_binary(bin, dir, ns, topic, n, "key_dispatch", body);
            println!(
                "round {r}: run_async_batch100 body={body:?} {n:>9} events {rate:>10.0} events/s peak RSS {peak} KiB exit ok={exit_ok}"
            );
            ok &= exit_ok;
            rates[usize::from(body == Body::Payload)] = rate;
        }
        json.push(rates[0]);
        payload.push(rates[1]);
        ratios.push(rates[1] / rates[0]);
    }
    let (j, p, ratio) = (median(&json), median(&payload), median(&ratios));
    println!(
        "median of {rounds} round(s): body json {j:.0} events/s, body payload {p:.0} events/s, payload/json {ratio:.3}"
    );
    println!(
        "{{\"bench\":\"bridge_body\",\"events\":{n},\"rounds\":{rounds},\"json_events_per_s\":{j:.0},\
         \"payload_events_per_s\":{p:.0},\"ratio_payload_to_json\":{ratio:.3},\"ok\":{ok}}}"
    );
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
                        format!("client-{}", i % clients()),
                        format!("sensors/{}/data", i % clients().min(48)),
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
    let num = |name: &str, default: usize| {
        opt(name)
            .map(|v| {
                v.parse::<usize>()
                    .unwrap_or_else(|_| panic!("{name} takes a number, not {v:?}"))
            })
            .unwrap_or(default)
    };
    let ns = opt("--namesrv").unwrap_or_else(|| "127.0.0.1:9876".into());
    let n = num("--events", 100_000);
    let n_sync = num("--sync-events", 20_000);
    let rounds = num("--rounds", 1).max(1);
    let warmup = num("--warmup", 0);
    let n_clients = num("--clients", 16).max(1);
    CLIENTS.set(n_clients).unwrap();
    let bin = opt("--bin").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("rocketmq-bridge")
    });
    // --topic: an existing topic (scripts/cluster-suite.sh creates it on every master first).
    let topic = opt("--topic").unwrap_or_else(|| format!("BenchBridge{}", std::process::id()));
    // The bridge's JSON for one event line: the plain reference's body length.
    let body = bridge_message(&topic, 0).body;

    let dir = std::env::temp_dir().join(format!("bench_bridge_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_input(&dir.join("events.ndjson"), n);
    println!(
        "bench_bridge: {n} events, {n_clients} client ids, {} MQTT topics, {rounds} round(s) after {warmup} warm-up round(s); machine: {} cores",
        n_clients.min(48),
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );
    // Create the topic (auto-creation, unless it exists) before timing anything.
    sync_run(&ns, &topic, 100, 1);
    if args.iter().any(|a| a == "--body-compare") {
        body_compare(&bin, &dir, &ns, &topic, n, rounds);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let (plain, _) = producer_batch(&ns, &topic, n, body.len(), false, Shape::Plain);
    println!(
        "producer_batch100_plain {n:>5} msgs   {plain:>10.0} msgs/s   body {} bytes of 'x', a key and no other property, round-robin",
        body.len()
    );
    let (keyed_ref, _) = producer_batch(&ns, &topic, n, body.len(), true, Shape::Bridge);
    println!(
        "producer_batch100_keyed {n:>5} msgs   {keyed_ref:>10.0} msgs/s   the bridge's messages, {n_clients} ordering keys"
    );
    // The broker's speed drifts as its store grows (measured: 135,000 msgs/s for the reference on a
    // fresh broker, 117,000 after 5 million messages), so every bridge run is bracketed by a
    // reference run before and after it, and its ratio is taken against their mean:
    // ref KD ref RR ref KD ref RR ref ...
    let reference_run = |label: &str| {
        let (r, cpu) = producer_batch(&ns, &topic, n, body.len(), false, Shape::Bridge);
        println!(
            "{label}: producer_batch100   {n:>9} msgs   {r:>10.0} msgs/s   {cpu:.2} us CPU/msg   the bridge's messages (body {} bytes, key, MQTT properties), round-robin",
            body.len()
        );
        (r, cpu)
    };
    /// One strategy's runs: rates, ratios to the bracketing references, CPU per event and its
    /// ratio to the references' CPU per message, peak RSS, all exits ok.
    #[derive(Default)]
    struct Series {
        rates: Vec<f64>,
        ratios: Vec<f64>,
        cpu: Vec<f64>,
        cpu_ratios: Vec<f64>,
        rss: u64,
        ok: bool,
    }
    let new_series = || Series {
        ok: true,
        ..Series::default()
    };
    let (mut kd, mut rr) = (new_series(), new_series());
    let (mut refs, mut ref_cpu) = (Vec::new(), Vec::new());
    // Sync: bridge and producer at 1 and 8 threads, in turns within each round.
    let (mut s1, mut p1, mut s8, mut p8) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Per-round ratios: the bridge and the producer ran next to each other, so a round's ratio
    // is steadier than a ratio of medians taken from different rounds.
    let (mut q1, mut q8) = (Vec::new(), Vec::new());
    let mut sync_failed = 0;
    let mut prev_ref = reference_run("start");
    for r in 1..=warmup + rounds {
        let counted = r > warmup;
        let label = if counted {
            format!("round {}", r - warmup)
        } else {
            format!("warm-up {r} (discarded)")
        };
        for (strategy, series) in [("key_dispatch", &mut kd), ("roundrobin", &mut rr)] {
            let (rate, peak, exit_ok, cpu) =
                run_binary(&bin, &dir, &ns, &topic, n, strategy, Body::Json);
            println!(
                "{label}: run_async_batch100  {n:>9} events {rate:>10.0} events/s {cpu:.2} us CPU/event {strategy} peak RSS {peak} KiB exit ok={exit_ok}"
            );
            let next_ref = reference_run(&label);
            let ratio = rate / ((prev_ref.0 + next_ref.0) / 2.0);
            let cpu_ratio = cpu / ((prev_ref.1 + next_ref.1) / 2.0);
            println!(
                "{label}: {strategy} {:.1}% of the mean of the references before and after it, CPU per event {cpu_ratio:.2}x theirs",
                ratio * 100.0
            );
            prev_ref = next_ref;
            if counted {
                refs.push(next_ref.0);
                ref_cpu.push(next_ref.1);
                series.rates.push(rate);
                series.ratios.push(ratio);
                series.cpu.push(cpu);
                series.cpu_ratios.push(cpu_ratio);
                series.rss = series.rss.max(peak);
                series.ok &= exit_ok;
            }
        }
        let (b1, f1) = sync_run(&ns, &topic, n_sync, 1);
        let (r1, g1) = producer_sync(&ns, &topic, n_sync, 1);
        let (b8, f8) = sync_run(&ns, &topic, n_sync * 4, 8);
        let (r8, g8) = producer_sync(&ns, &topic, n_sync * 4, 8);
        println!(
            "{label}: sync1 {b1:.0} events/s (producer_sync1 {r1:.0}, {:.1}%); sync8 {b8:.0} events/s (producer_sync8 {r8:.0}, {:.1}%); failed {}",
            b1 / r1 * 100.0,
            b8 / r8 * 100.0,
            f1 + g1 + f8 + g8
        );
        if counted {
            s1.push(b1);
            p1.push(r1);
            q1.push(b1 / r1);
            q8.push(b8 / r8);
            s8.push(b8);
            p8.push(r8);
            sync_failed += f1 + g1 + f8 + g8;
        }
    }
    let (rss, rr_rss, ok, rr_ok) = (kd.rss, rr.rss, kd.ok, rr.ok);
    let _ = std::fs::remove_dir_all(&dir);
    let (reference, run_rate, rr_rate) = (median(&refs), median(&kd.rates), median(&rr.rates));
    let (ratio, rr_ratio) = (median(&kd.ratios), median(&rr.ratios));
    let (ref_cpu, kd_cpu, rr_cpu) = (median(&ref_cpu), median(&kd.cpu), median(&rr.cpu));
    let (kd_cpu_ratio, rr_cpu_ratio) = (median(&kd.cpu_ratios), median(&rr.cpu_ratios));
    println!(
        "median of {rounds} round(s): producer_batch100 {reference:.0} msgs/s, {ref_cpu:.2} us CPU/msg; key_dispatch {run_rate:.0} events/s, {:.1}% of producer ({:.1}% of the keyed producer measured once at the start), {kd_cpu:.2} us CPU/event ({kd_cpu_ratio:.2}x), peak RSS {rss} KiB; roundrobin {rr_rate:.0} events/s, {:.1}% of producer, {rr_cpu:.2} us CPU/event ({rr_cpu_ratio:.2}x), peak RSS {rr_rss} KiB",
        ratio * 100.0,
        run_rate / keyed_ref * 100.0,
        rr_ratio * 100.0
    );
    let (s1, p1, s8, p8) = (median(&s1), median(&p1), median(&s8), median(&p8));
    let (q1, q8) = (median(&q1), median(&q8));
    println!(
        "median sync: sync1 {s1:.0} events/s, producer_sync1 {p1:.0} msgs/s (median per-round ratio {:.1}%); sync8 {s8:.0} events/s, producer_sync8 {p8:.0} msgs/s ({:.1}%); failed {sync_failed}",
        q1 * 100.0,
        q8 * 100.0
    );
    println!(
        "{{\"bench\":\"bridge\",\"events\":{n},\"clients\":{n_clients},\"producer_batch100_msgs_per_s\":{reference:.0},\
         \"producer_batch100_cpu_us_per_msg\":{ref_cpu:.3},\
         \"producer_batch100_plain_msgs_per_s\":{plain:.0},\"rounds\":{rounds},\"warmup_rounds\":{warmup},\
         \"producer_batch100_keyed_msgs_per_s\":{keyed_ref:.0},\
         \"run_async_batch100_events_per_s\":{run_rate:.0},\"ratio\":{ratio:.3},\
         \"run_cpu_us_per_event\":{kd_cpu:.3},\"cpu_ratio\":{kd_cpu_ratio:.3},\
         \"ratio_vs_keyed\":{:.3},\"run_peak_rss_kib\":{rss},\"run_ok\":{ok},\
         \"run_roundrobin_events_per_s\":{rr_rate:.0},\"ratio_roundrobin\":{rr_ratio:.3},\
         \"run_roundrobin_cpu_us_per_event\":{rr_cpu:.3},\"cpu_ratio_roundrobin\":{rr_cpu_ratio:.3},\
         \"run_roundrobin_peak_rss_kib\":{rr_rss},\"run_roundrobin_ok\":{rr_ok},\
         \"sync1_events_per_s\":{s1:.0},\"producer_sync1_msgs_per_s\":{p1:.0},\"sync1_ratio\":{q1:.3},\
         \"sync8_events_per_s\":{s8:.0},\"producer_sync8_msgs_per_s\":{p8:.0},\"sync8_ratio\":{q8:.3},\
         \"sync_failed\":{sync_failed}}}",
        run_rate / keyed_ref,
    );
}
