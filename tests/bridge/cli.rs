//! `rocketmq-bridge run` as users run it: config errors, bad input lines, each of the seven event
//! types through the binary into a real broker and read back, SIGTERM draining, SIGHUP reloading.

use rocketmq_bridge_test_support as support;
use support::{read_back, ReadBack};

use rocketmq_bridge::bridge::{format_event, Event, PayloadEncoding};
use rocketmq_bridge::consumer::PullConsumer;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{suffix, Cluster};

const BIN: &str = env!("CARGO_BIN_EXE_rocketmq-bridge");

fn tmp(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bridge_cli_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/events")
        .join(name)
}

/// Runs the binary with a 120 s bound.
fn run_bin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    wait_bounded(child, Duration::from_secs(120))
}

fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "binary did not finish in {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .args(["-s", sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// How the tests read a topic back (30 s bound).
const READ_BACK: ReadBack = ReadBack::new("bridge_cli_readback").skip_warmup();

#[test]
fn config_error_names_file_line_and_key_and_nothing_starts() {
    let conf = tmp("bad.conf");
    std::fs::write(
        &conf,
        "## ok\nbridge.rocket.servers = 127.0.0.1:1\nbridge.rocket.produce = sometimes\n",
    )
    .unwrap();
    let out = run_bin(&["run", "--config", conf.to_str().unwrap()], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:3: bridge.rocket.produce", conf.display())),
        "{err}"
    );

    let out = run_bin(&["run"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing --config"));

    let out = run_bin(&["run", "--config", "/nonexistent/bridge.conf"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/bridge.conf"));
}

/// The seed's hook block with `_<suffix>` on every topic, for `cluster`.
fn seed_config(c: &Cluster, sfx: &str, extra: &str) -> (PathBuf, Vec<String>) {
    let seed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/emqx_bridge_rocket.conf"),
    )
    .unwrap();
    let topics = [
        "ClientConnected",
        "ClientDisconnected",
        "SessionSubscribed",
        "SessionUnsubscribed",
        "MessagePublish",
        "MessageDeliver",
        "MessageAcked",
    ];
    let mut text = seed.replace(
        "bridge.rocket.servers = 127.0.0.1:9876",
        &format!("bridge.rocket.servers = {}", c.namesrv_addrs.join(",")),
    );
    for t in topics {
        text = text.replace(&format!("\"{t}\""), &format!("\"{t}_{sfx}\""));
    }
    // The topics exist before the binary starts, and a sync send may take 10 s: on a loaded
    // machine a broker's first answer for a topic it creates on the fly can come after the
    // seed's 3 s, and the retry then stores a second copy (sync mode is at least once), which is
    // not what these tests are about.
    text.push_str(
        "\nbridge.rocket.node = emqx@127.0.0.1\nbridge.rocket.produce.sync_timeout = 10s\n",
    );
    text.push_str(extra);
    let path = tmp(&format!("seed_{sfx}.conf"));
    std::fs::write(&path, text).unwrap();
    let topics: Vec<String> = topics.iter().map(|t| format!("{t}_{sfx}")).collect();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    support::warm_up_topics(&c.namesrv, &names);
    (path, topics)
}

#[test]
fn seven_event_types_go_through_the_binary_and_read_back() {
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let (conf, topics) = seed_config(&c, &sfx, "");
    let mut input = std::fs::read(fixture("seed_events.ndjson")).unwrap();
    // A bad line in the middle is reported with its number and skipped.
    input.extend_from_slice(b"{\"event\":\"message.publish\",\"qos\":7}\nnot json\n");
    let out = run_bin(&["run", "--config", conf.to_str().unwrap()], &input);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("line 8: field \"qos\""), "{err}");
    assert!(err.contains("line 9: invalid JSON"), "{err}");
    assert!(err.contains("9 lines, 7 events, 2 bad lines"), "{err}");
    let lines = std::fs::read_to_string(fixture("seed_events.ndjson")).unwrap();
    for ((i, line), topic) in lines.lines().enumerate().zip(&topics) {
        let ev = Event::from_json_line(line, i as u64 + 1).unwrap();
        let got = read_back(&c.namesrv, topic, 1, &READ_BACK);
        assert_eq!(got.len(), 1, "{topic}");
        let mut want = Vec::new();
        format_event(&ev, "emqx@127.0.0.1", PayloadEncoding::Base64, &mut want);
        assert_eq!(got[0].body, want, "{topic}");
        assert_eq!(
            got[0].properties.get("mqtt_event"),
            Some(ev.kind.hook_name())
        );
    }
}

#[test]
fn input_file_and_plain_payloads() {
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let (conf, topics) = seed_config(
        &c,
        &sfx,
        "bridge.rocket.encode_payload_type = plain\nbridge.rocket.produce = async\n",
    );
    // `produce = sync` is in the seed text; a second `produce` key is an error.
    let out = run_bin(&["run", "--config", conf.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("given twice"));

    let (conf, _) = seed_config(
        &c,
        &format!("{sfx}b"),
        "bridge.rocket.encode_payload_type = plain\n",
    );
    let input = tmp("plain.ndjson");
    std::fs::write(
        &input,
        "{\"event\":\"message.publish\",\"client_id\":\"p1\",\"topic\":\"a/b\",\"payload\":\"hello \\\"world\\\"\",\"qos\":0}\n",
    )
    .unwrap();
    let out = run_bin(
        &[
            "run",
            "--config",
            conf.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let publish = topics[4].replace(&sfx, &format!("{sfx}b"));
    let got = read_back(&c.namesrv, &publish, 1, &READ_BACK);
    assert_eq!(got.len(), 1);
    let v: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(v["payload"], "hello \"world\"");
    assert_eq!(v["client_id"], "p1");
    assert!(v["username"].is_null());
}

#[test]
fn sigterm_drains_and_prints_a_summary() {
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let (conf, topics) = seed_config(&c, &sfx, "");
    let mut child = Command::new(BIN)
        .args(["run", "--config", conf.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..50 {
        writeln!(
            stdin,
            "{{\"event\":\"client.connected\",\"client_id\":\"c{i}\"}}"
        )
        .unwrap();
    }
    stdin.flush().unwrap();
    // Input stays open: only the signal ends the run.
    let start = Instant::now();
    while read_back_now(&c.namesrv, &topics[0]) < 50 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&child, "TERM");
    let out = wait_bounded(child, Duration::from_secs(60));
    drop(stdin);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("ended by SIGTERM: 50 lines, 50 events"),
        "{err}"
    );
    assert!(err.contains("sent 50"), "{err}");
    assert_eq!(read_back(&c.namesrv, &topics[0], 50, &READ_BACK).len(), 50);
}

/// Messages of `topic` now, the warm-up messages left out.
fn read_back_now(ns: &str, topic: &str) -> usize {
    PullConsumer::new(ns, "bridge_cli_probe", None)
        .read_all(topic)
        .map_or(0, |v| v.iter().filter(|m| &m.body[..] != b"warmup").count())
}

#[test]
fn sighup_reloads_rules_and_keeps_running() {
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let (conf, topics) = seed_config(&c, &sfx, "");
    let mut child = Command::new(BIN)
        .args(["run", "--config", conf.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // stderr is read as it comes, so the test writes the second event only once the reload is
    // reported (a loaded machine may take longer than any fixed pause).
    let stderr_text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let (mut from, text) = (child.stderr.take().unwrap(), stderr_text.clone());
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = std::io::Read::read(&mut from, &mut chunk) {
                text.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        })
    };
    writeln!(
        stdin,
        "{{\"event\":\"client.connected\",\"client_id\":\"before\"}}"
    )
    .unwrap();
    stdin.flush().unwrap();
    let start = Instant::now();
    while read_back_now(&c.namesrv, &topics[0]) < 1 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // New rule: client.connected also goes to a second topic.
    let extra = format!("Reloaded_{sfx}");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(&format!(
        "bridge.rocket.hook.client.connected.2 = {{\"topic\": \"{extra}\"}}\n"
    ));
    std::fs::write(&conf, text).unwrap();
    signal(&child, "HUP");
    support::eventually(Duration::from_secs(30), || {
        stderr_text
            .lock()
            .unwrap()
            .contains("SIGHUP: rules reloaded")
    });
    writeln!(
        stdin,
        "{{\"event\":\"client.connected\",\"client_id\":\"after\"}}"
    )
    .unwrap();
    drop(stdin);
    let out = wait_bounded(child, Duration::from_secs(60));
    reader.join().unwrap();
    let err = stderr_text.lock().unwrap().clone();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("SIGHUP: rules reloaded"), "{err}");
    assert_eq!(read_back(&c.namesrv, &topics[0], 2, &READ_BACK).len(), 2);
    let reloaded = read_back(&c.namesrv, &extra, 1, &READ_BACK);
    assert_eq!(reloaded.len(), 1);
    assert_eq!(reloaded[0].properties.get("mqtt_client_id"), Some("after"));
}

/// A config with one `client.connected` rule into `topic`, async, with a spool when given.
fn small_config(name: &str, servers: &str, topic: &str, spool: Option<&Path>) -> PathBuf {
    let mut text = format!(
        "bridge.rocket.servers = {servers}\nbridge.rocket.produce = async\n\
         bridge.rocket.drain_timeout = 3s\n\
         bridge.rocket.hook.client.connected.1 = {{\"topic\": \"{topic}\"}}\n"
    );
    if let Some(dir) = spool {
        let _ = std::fs::remove_dir_all(dir);
        text.push_str(&format!("bridge.rocket.spool.dir = {}\n", dir.display()));
    }
    let path = tmp(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn connected_lines(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        writeln!(
            v,
            "{{\"event\":\"client.connected\",\"client_id\":\"c{i}\"}}"
        )
        .unwrap();
    }
    v
}

/// A 127.0.0.1 port nobody listens on (bound and released).
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Issue #18 case 8, part 1: no name server at all. Without a spool `run` refuses and says the
/// name servers are unreachable (not that the topic is missing); with a spool it starts, takes the
/// events into the spool and keeps them for the next run.
#[test]
fn run_without_a_name_server_says_so_and_with_a_spool_starts_anyway() {
    let servers = format!("127.0.0.1:{}", dead_port());
    let conf = small_config("no_ns.conf", &servers, "NoNs", None);
    let out = run_bin(&["run", "--config", conf.to_str().unwrap()], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("no RocketMQ name server reachable at {servers}")),
        "{err}"
    );
    assert!(
        !err.contains("create it first") && !err.contains("updateTopic"),
        "{err}"
    );

    let spool = tmp("no_ns_spool");
    let conf = small_config("no_ns_spool.conf", &servers, "NoNs", Some(&spool));
    let out = run_bin(
        &["run", "--config", conf.to_str().unwrap()],
        &connected_lines(5),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    // Nothing could be sent: exit 1, and the five events wait in the spool for the next run.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ended by end of input: 5 lines, 5 events"),
        "{err}"
    );
    assert!(err.contains("5 appended"), "{err}");
    assert!(err.contains("5 left for the next run"), "{err}");
}

/// Issue #18 case 8, part 2: a real name server whose only broker is dead (it forgets the broker's
/// topics at once). Without a spool `run` refuses, saying no broker is registered; with a spool it
/// starts, spools the events, and once the broker is back they arrive (read back).
#[test]
fn run_with_a_spool_starts_while_the_broker_is_down_and_sends_once_it_is_back() {
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let topic = format!("BrokerLate_{sfx}");
    c.kill_broker(0);
    let conf = small_config(&format!("late_{sfx}.conf"), &c.namesrv, &topic, None);
    // The name server drops the broker when its connection closes; allow it a moment.
    let start = Instant::now();
    let err = loop {
        let out = run_bin(&["run", "--config", conf.to_str().unwrap()], b"");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.code() == Some(2) || start.elapsed() > Duration::from_secs(30) {
            break err;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        err.contains("no RocketMQ broker is registered with the name server(s)")
            && err.contains(&topic),
        "{err}"
    );
    assert!(
        !err.contains("create it first") && !err.contains("updateTopic"),
        "{err}"
    );

    let spool = tmp(&format!("late_spool_{sfx}"));
    let conf = small_config(
        &format!("late_spool_{sfx}.conf"),
        &c.namesrv,
        &topic,
        Some(&spool),
    );
    let mut child = Command::new(BIN)
        .args(["run", "--config", conf.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&connected_lines(20)).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap().is_none(),
        "run exited while the broker was down"
    );
    c.start_broker(0);
    let got = read_back(&c.namesrv, &topic, 20, &READ_BACK);
    drop(stdin);
    let out = wait_bounded(child, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(got.len(), 20, "{err}");
    let mut ids: Vec<String> = got
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
            v["client_id"].as_str().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "each event once: {ids:?}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("20 appended") && err.contains("sent 20"),
        "{err}"
    );
}

/// The number after `label` in `text` (`"sent 3"` → 3).
fn count_after(text: &str, label: &str) -> u64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {text}"));
    text[at + label.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label:?} in {text}"))
}

/// Issue #18 case 9b: `buffer.overflow = block` with the broker down (its port refuses): every
/// message comes back certainly not stored and is held (`retry.max_hold`, 60 s by default) with its
/// budget bytes, so the budget is full and the next send blocks. SIGTERM must still end the run
/// within a bound, and the summary must count every matched event as not sent. Before the fix the
/// signal was looked at only between sends, so the run sat in the blocked send until the hold
/// expired (60 s).
#[test]
fn sigterm_ends_a_run_blocked_on_a_full_budget() {
    use support::FakeNameServer;
    let ns = FakeNameServer::start(&format!("127.0.0.1:{}", dead_port()));
    let conf = tmp("blocked.conf");
    std::fs::write(
        &conf,
        format!(
            "bridge.rocket.servers = {}\nbridge.rocket.produce = async\n\
             bridge.rocket.buffer.overflow = block\n\
             bridge.rocket.buffer.max_bytes = 64KB\nbridge.rocket.producer.max_message_size = 64KB\n\
             bridge.rocket.drain_timeout = 1s\nbridge.rocket.stats_interval = 0s\n\
             bridge.rocket.hook.client.connected.1 = {{\"topic\": \"Blocked\"}}\n",
            ns.addr
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config", conf.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Far more than the 64 KB budget holds (about 1.2 KB counted per event); the writer may block
    // on the pipe, so it runs on its own thread and ends when the child exits (EPIPE).
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&connected_lines(3000));
        let _ = stdin.flush();
        // Handed back so the input stays open until the child is gone: only the signal ends it.
        stdin
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(child.try_wait().unwrap().is_none(), "run ended early");
    let t0 = Instant::now();
    signal(&child, "TERM");
    let out = wait_bounded(child, Duration::from_secs(50));
    let took = t0.elapsed();
    drop(writer.join().unwrap());
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("exit {:?} {took:?} after SIGTERM; {err}", out.status.code());
    // Drain 1 s, then the producer's close; far below the 60 s hold.
    assert!(took < Duration::from_secs(10), "took {took:?}: {err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    let summary = &err[err
        .find("ended by SIGTERM")
        .unwrap_or_else(|| panic!("{err}"))..];
    let events = count_after(summary, "lines,");
    let matched = count_after(summary, "matched");
    let sent = count_after(summary, "sent");
    let unknown = count_after(summary, "outcome unknown");
    let failed = count_after(summary, "failed");
    let shutdown = count_after(summary, "shutdown");
    assert!(events > 0 && events < 3000, "{summary}");
    assert_eq!(matched, events, "{summary}");
    assert_eq!(sent, 0, "{summary}");
    assert_eq!(
        unknown + failed + shutdown,
        matched,
        "every event counted: {summary}"
    );
    assert!(
        shutdown >= 1,
        "the blocked send is counted as dropped at shutdown: {summary}"
    );
}

/// Issue #21 item 4: `send`, `route` and `consume` with `--config FILE` take the config's name
/// servers, namespace and broker address map (the broker reached only through a proxy the map
/// names); the messages are read back from the broker under the namespaced topic.
#[test]
fn tools_read_servers_namespace_and_broker_addr_map_from_the_config() {
    let c = Cluster::start(1, 1);
    let (_, broker) = c.brokers[0].clone();
    let proxy = support::fault_proxy::FaultProxy::start(&broker);
    let topic = format!("ToolsCfg_{}", suffix());
    let path = tmp(&format!("tools_{}.conf", suffix()));
    std::fs::write(
        &path,
        format!(
            "bridge.rocket.servers = {}\nbridge.rocket.namespace = ns21\n\
             bridge.rocket.broker_addr_map = {broker}={}\n",
            c.namesrv_addrs.join(","),
            proxy.addr
        ),
    )
    .unwrap();
    let cfg = path.to_str().unwrap();
    let out = run_bin(
        &[
            "send", "--config", cfg, "--topic", &topic, "--key", "k21", "--count", "3", "hello",
        ],
        b"",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(
        proxy.accepted() > 0,
        "the send went through the mapped address"
    );
    let wire = format!("ns21%{topic}");
    let got = read_back(&c.namesrv, &wire, 3, &ReadBack::new("tools_cfg_group"));
    assert_eq!(got.len(), 3, "stored under the namespaced topic");
    assert!(got
        .iter()
        .all(|m| &m.body[..] == b"hello" && m.keys() == ["k21"]));

    let out = run_bin(&["route", "--config", cfg, "--topic", &topic], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let route: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(route["topic"], wire.as_str());
    assert_eq!(route["brokers"][0]["addrs"]["0"], broker.as_str());

    let before = proxy.accepted();
    let out = run_bin(
        &[
            "consume",
            "--config",
            cfg,
            "--topic",
            &topic,
            "--from-beginning",
            "--count",
            "3",
            "--idle-timeout",
            "20",
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines
        .iter()
        .all(|m| m["body"] == "hello" && m["topic"] == wire.as_str()));
    assert!(
        proxy.accepted() > before,
        "consume pulled through the mapped address"
    );

    let out = run_bin(&["route", "--topic", &topic], b"");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--namesrv ADDR or --config FILE"), "{err}");
}

/// Issue #21 item 5: `doctor` on a healthy cluster (exit 0, each check a line; with
/// `--probe-topic` one batch is stored, read back from the broker), with a name server that is down
/// and a broker address map pointing nowhere (exit 1, each named with its fix), and with a name
/// server that knows neither the topic nor TBW102 (auto-creation off: exit 1).
#[test]
fn doctor_explains_what_a_run_needs_and_exits_by_it() {
    let c = Cluster::start(1, 1);
    let (_, broker) = c.brokers[0].clone();
    let sfx = suffix();
    let write = |name: &str, text: String| {
        let p = tmp(&format!("doctor_{name}_{sfx}.conf"));
        std::fs::write(&p, text).unwrap();
        p
    };
    let rule = format!(
        "bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"Doc_{sfx}\"}}\n"
    );
    let probe = format!("DocProbe_{sfx}");
    let healthy = write(
        "healthy",
        format!(
            "bridge.rocket.servers = {}\n{rule}",
            c.namesrv_addrs.join(",")
        ),
    );
    let out = run_bin(
        &[
            "doctor",
            "--config",
            healthy.to_str().unwrap(),
            "--probe-topic",
            &probe,
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("doctor, healthy:\n{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "[ok  ] name server {} answers",
            c.namesrv_addrs[0]
        )),
        "{text}"
    );
    assert!(text.contains(&format!("topic Doc_{sfx}")), "{text}");
    assert!(
        text.contains(&format!("broker broker-a at {broker} is reachable")),
        "{text}"
    );
    assert!(text.contains("[ok  ] batch sends accepted"), "{text}");
    assert!(!text.contains("[FAIL]"), "{text}");
    let got = read_back(&c.namesrv, &probe, 2, &ReadBack::new("doctor_probe_group"));
    assert_eq!(got.len(), 2, "the probe batch is stored");
    // Without --probe-topic nothing is written.
    let out = run_bin(&["doctor", "--config", healthy.to_str().unwrap()], b"");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("[skip] batch sends: not tried"), "{text}");

    let dead = dead_port();
    let broken = write(
        "broken",
        format!(
            "bridge.rocket.servers = {},127.0.0.1:{dead}\nbridge.rocket.broker_addr_map = {broker}=127.0.0.1:{dead}\n{rule}",
            c.namesrv_addrs.join(",")
        ),
    );
    let out = run_bin(&["doctor", "--config", broken.to_str().unwrap()], b"");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("doctor, broken:\n{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "[FAIL] name server 127.0.0.1:{dead} is unreachable"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "[FAIL] broker broker-a at {broker} (dialled at 127.0.0.1:{dead}) is unreachable"
        )),
        "{text}"
    );
    assert!(
        text.contains("fix: bridge.rocket.broker_addr_map sends"),
        "{text}"
    );

    // A name server answering TOPIC_NOT_EXIST for everything: no topic, no TBW102.
    use rocketmq_bridge::remoting::RemotingCommand;
    let ns = support::hostile::HostileServer::start(Duration::from_secs(60), |req| {
        support::hostile::frame_of(&RemotingCommand::response_to(
            req,
            17,
            Some("No topic route info".into()),
        ))
    });
    let missing = write(
        "missing",
        format!("bridge.rocket.servers = {}\n{rule}", ns.addr),
    );
    let out = run_bin(&["doctor", "--config", missing.to_str().unwrap()], b"");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("doctor, missing topic:\n{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("topic auto-creation is off"), "{text}");
    assert!(
        text.contains(&format!(
            "[FAIL] topic Doc_{sfx} has no route and topic auto-creation is off"
        )),
        "{text}"
    );
    assert!(
        text.contains("fix: create it: mqadmin updateTopic"),
        "{text}"
    );
}
