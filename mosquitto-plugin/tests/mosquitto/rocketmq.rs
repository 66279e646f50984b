//! The plugin inside real mosquitto feeding a real RocketMQ (rocketmq-rust 1.0 via `scripts/rocketmq.sh`):
//! every supported event type read back from RocketMQ and compared field by field with what the plugin
//! reported; RocketMQ stopped while clients keep publishing.

use std::path::{Path, PathBuf};
use std::process::Command;

use rocketmq_bridge::consumer::PullConsumer;
use rocketmq_bridge_test_support::mosquitto::*;
use serde_json::Value;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/rocketmq.sh")
}

struct RocketMq {
    dir: PathBuf,
    namesrv: String,
    owned: bool,
    /// Keeps the other modules' mosquitto tests waiting while RocketMQ runs (this file's own
    /// `Broker::start` shares it), as when this module was a test binary of its own.
    _exclusive: rocketmq_bridge_test_support::Exclusive,
}

impl RocketMq {
    /// Starts a fresh cluster in `dir`, or, with `MOSQ_TEST_RMQ_DIR` set, uses the cluster already started
    /// there by `scripts/rocketmq.sh start --dir ...` (left running afterwards; for development: run with
    /// `--test-threads=1`, since one test kills and restarts its broker).
    fn start(dir: &Path) -> RocketMq {
        let exclusive =
            rocketmq_bridge_test_support::exclusive(std::panic::Location::caller().file());
        if let Ok(existing) = std::env::var("MOSQ_TEST_RMQ_DIR") {
            let env = std::fs::read_to_string(Path::new(&existing).join("env")).unwrap();
            let namesrv = env
                .lines()
                .find_map(|l| l.strip_prefix("RMQ_NAMESRV="))
                .unwrap()
                .to_string();
            return RocketMq {
                dir: PathBuf::from(existing),
                namesrv,
                owned: false,
                _exclusive: exclusive,
            };
        }
        let st = Command::new("bash")
            .arg(script())
            .arg("install")
            .status()
            .unwrap();
        assert!(st.success(), "scripts/rocketmq.sh install failed");
        let out = Command::new("bash")
            .arg(script())
            .args(["start", "--dir"])
            .arg(dir)
            .args(["--watch-pid", &std::process::id().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rocketmq start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(dir.join("env")).unwrap();
        let namesrv = env
            .lines()
            .find_map(|l| l.strip_prefix("RMQ_NAMESRV="))
            .unwrap()
            .to_string();
        RocketMq {
            dir: dir.to_path_buf(),
            namesrv,
            owned: true,
            _exclusive: exclusive,
        }
    }

    /// Restarts the broker killed by [`RocketMq::kill_broker`] (for a shared cluster, which outlives the
    /// test).
    fn restart_broker(&self) {
        let st = Command::new("bash")
            .arg(script())
            .args(["start-broker", "--dir"])
            .arg(&self.dir)
            .args(["--index", "1"])
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn kill_broker(&self) {
        let st = Command::new("bash")
            .arg(script())
            .args(["kill-broker", "--dir"])
            .arg(&self.dir)
            .args(["--index", "1", "--signal", "KILL"])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Every message body in `topic`, as JSON, waiting (bounded) until at least `n` are there.
    fn read(&self, topic: &str, n: usize) -> Vec<Value> {
        let c = PullConsumer::new(&self.namesrv, "mosq_plugin_test", None);
        let deadline = std::time::Instant::now() + ms(15_000);
        loop {
            let msgs = c.read_all(topic).unwrap_or_default();
            if msgs.len() >= n || std::time::Instant::now() > deadline {
                return msgs
                    .iter()
                    .map(|m| serde_json::from_slice(&m.body).unwrap())
                    .collect();
            }
            std::thread::sleep(ms(200));
        }
    }
}

impl Drop for RocketMq {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", "--dir"])
            .arg(&self.dir)
            .status();
    }
}

const TOPICS: [(&str, &str); 7] = [
    ("client.connected", "ClientConnected"),
    ("client.disconnected", "ClientDisconnected"),
    ("session.subscribed", "SessionSubscribed"),
    ("session.unsubscribed", "SessionUnsubscribed"),
    ("message.publish", "MessagePublish"),
    ("message.delivered", "MessageDeliver"),
    ("message.acked", "MessageAcked"),
];

/// A suffix that makes topic names unique per test run (a shared cluster keeps old messages).
fn suffix() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    format!("_{}_{t}", std::process::id())
}

fn bridge_conf(ns: &str, sfx: &str) -> String {
    let mut s = format!("bridge.rocket.servers = {ns}\nbridge.rocket.produce = sync\n");
    for (hook, topic) in TOPICS {
        let topic = format!("{topic}{sfx}");
        if hook.starts_with("client.") {
            s.push_str(&format!(
                "bridge.rocket.hook.{hook}.1 = {{\"topic\": \"{topic}\"}}\n"
            ));
        } else {
            s.push_str(&format!(
                "bridge.rocket.hook.{hook}.1 = {{\"filter\": \"#\", \"topic\": \"{topic}\"}}\n"
            ));
        }
    }
    s
}

fn key(v: &Value) -> String {
    format!(
        "{}|{}|{}",
        v["ts"],
        v["client_id"].as_str().unwrap_or(""),
        v["topic"].as_str().unwrap_or("")
    )
}

/// The threads of mosquitto process `pid`: the forwarder and every bridge thread (named
/// `mosq-forward`, `bridge-*`, `rmq-*`) run at nice 10 with policy `SCHED_BATCH` (3), so they
/// never preempt mosquitto's own thread on waking; mosquitto's thread stays at nice 0,
/// `SCHED_OTHER` (0). From `/proc/PID/task/TID/stat` (nice is field 19, policy field 41).
fn bridge_threads_yield_to_mosquitto(pid: u32) {
    let mut seen = Vec::new();
    for t in rocketmq_bridge_test_support::thread_stats(pid) {
        let (nice, policy) = (t.fields[19 - 3].as_str(), t.fields[41 - 3].as_str());
        let name = t.name;
        if t.tid == pid {
            assert_eq!((nice, policy), ("0", "0"), "mosquitto's own thread");
        } else if name == "mosq-forward" || name.starts_with("bridge-") || name.starts_with("rmq-")
        {
            assert_eq!((nice, policy), ("10", "3"), "bridge thread {name}");
            seen.push(name);
        }
    }
    assert!(seen.iter().any(|n| n == "mosq-forward"), "{seen:?}");
    assert!(seen.iter().any(|n| n.starts_with("rmq-send")), "{seen:?}");
}

#[test]
fn every_event_type_lands_in_rocketmq_field_by_field() {
    let dir = temp_dir("rmq-events");
    let rmq = RocketMq::start(&dir.join("rmq"));
    let sfx = suffix();
    std::fs::write(dir.join("bridge.conf"), bridge_conf(&rmq.namesrv, &sfx)).unwrap();
    let trace = dir.join("trace.jsonl");
    let body = open_broker_body(
        &dir.join("bridge.conf"),
        &[("trace_file", trace.to_str().unwrap())],
    );
    let b = Broker::start(&dir, &body);
    let sub = Sub::start(
        b.port,
        &["-i", "sub1", "-u", "bob", "-t", "a/#", "-q", "1", "-C", "2"],
        8,
    );
    assert!(publish(
        b.port,
        &["-i", "pub1", "-u", "alice", "-t", "a/b", "-q", "1", "-m", "hello"]
    ));
    let bin = dir.join("bin");
    std::fs::write(&bin, [0u8, 1, 2, 255, 0]).unwrap();
    assert!(publish(
        b.port,
        &["-i", "pub2", "-t", "a/bin", "-f", bin.to_str().unwrap()]
    ));
    let (lines, _) = sub.finish();
    assert_eq!(lines.len(), 2);
    let mut c = Command::new("mosquitto_sub");
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        &b.port.to_string(),
        "-i",
        "unsub1",
        "-t",
        "x/+",
        "-U",
        "x/+",
        "-W",
        "1",
    ]);
    run(c, ms(5000));
    bridge_threads_yield_to_mosquitto(b.pid());
    let log = b.stop();
    assert!(log.contains("produce = sync is run as async"), "{log}");
    assert!(
        log.contains("1 message.acked rule(s) are inactive"),
        "{log}"
    );

    let trace = read_trace(&dir.join("trace.jsonl"));
    for (hook, topic) in TOPICS {
        let mut want: Vec<&Value> = of(&trace, hook);
        let mut got = rmq.read(&format!("{topic}{sfx}"), want.len());
        assert_eq!(got.len(), want.len(), "{hook}: {got:?}\nlog:\n{log}");
        if hook == "message.acked" {
            continue;
        }
        assert!(!want.is_empty(), "{hook}: the scenario must produce it");
        want.sort_by_key(|v| key(v));
        got.sort_by_key(key);
        for (w, g) in want.iter().zip(&got) {
            let obj = g.as_object().unwrap();
            assert!(obj["node"].as_str().is_some_and(|n| !n.is_empty()), "{g}");
            for (k, v) in obj {
                let expected = match k.as_str() {
                    "node" => continue,
                    "payload" => &w["payload_base64"],
                    other => &w[other],
                };
                assert_eq!(v, expected, "{hook} field {k}: rocketmq {g} vs plugin {w}");
            }
        }
    }
    // spot checks against the seed's fields
    let del = rmq.read(&format!("MessageDeliver{sfx}"), 2);
    let d = del.iter().find(|d| d["topic"] == "a/b").unwrap();
    assert_eq!(d["client_id"], "sub1");
    assert_eq!(d["username"], "bob");
    assert_eq!(d["from"], "pub1");
    assert_eq!(d["payload"], "aGVsbG8=");
    assert_eq!(d["qos"], 1);
    let dis = rmq.read(&format!("ClientDisconnected{sfx}"), 4);
    assert!(dis.iter().all(|d| d["reason"].is_null()), "{dis:?}");
    let pubs = rmq.read(&format!("MessagePublish{sfx}"), 2);
    assert!(pubs.iter().any(|p| p["payload"] == "AAEC/wA="), "{pubs:?}");
}

#[test]
fn rocketmq_killed_while_clients_publish_mosquitto_keeps_serving_and_losses_are_counted() {
    let dir = temp_dir("rmq-kill");
    let rmq = RocketMq::start(&dir.join("rmq"));
    let topic = format!("KillPublish{}", suffix());
    std::fs::write(
        dir.join("bridge.conf"),
        format!(
            "bridge.rocket.servers = {}\nbridge.rocket.produce = async\nbridge.rocket.drain_timeout = 3s\n\
             bridge.rocket.produce.sync_timeout = 1s\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"{topic}\"}}\n",
            rmq.namesrv
        ),
    )
    .unwrap();
    let body = open_broker_body(&dir.join("bridge.conf"), &[]);
    let mut b = Broker::start(&dir, &body);
    let sub = Sub::start(
        b.port,
        &["-i", "watch", "-t", "k/#", "-q", "1", "-C", "400"],
        60,
    );
    let batch = |from: usize| {
        let file = dir.join(format!("lines{from}"));
        std::fs::write(
            &file,
            (from..from + 200)
                .map(|i| format!("m{i}\n"))
                .collect::<String>(),
        )
        .unwrap();
        let mut c = Command::new("mosquitto_pub");
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &b.port.to_string(),
            "-i",
            &format!("pub{from}"),
            "-t",
            "k/1",
            "-q",
            "1",
            "-l",
        ])
        .stdin(std::fs::File::open(&file).unwrap());
        let t = std::time::Instant::now();
        let out = run(c, ms(30_000));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.elapsed()
    };
    batch(0);
    assert_eq!(rmq.read(&topic, 200).len(), 200, "first batch lands");
    rmq.kill_broker();
    let took = batch(200);
    let (lines, _) = sub.finish();
    assert_eq!(
        lines.len(),
        400,
        "mosquitto keeps delivering while RocketMQ is down"
    );
    assert!(took < ms(30_000));
    assert!(b.alive());
    let log = b.stop();
    let matched = final_counter(&log, "matched");
    let sent = final_counter(&log, "sent");
    let lost = final_counter(&log, "failed")
        + final_counter(&log, "outcome_unknown")
        + final_counter(&log, "dropped_overflow")
        + final_counter(&log, "dropped_too_large")
        + final_counter(&log, "dropped_shutdown")
        + final_counter(&log, "dropped_bad_topic")
        + final_counter(&log, "dropped_bad_tag")
        + final_counter(&log, "dropped_no_topic")
        + final_counter(&log, "dropped_topic_cap");
    assert_eq!(final_counter(&log, "publish"), 400);
    assert_eq!(
        final_counter(&log, "dropped_queue_full") + final_counter(&log, "handed_over"),
        400,
        "{log}"
    );
    assert_eq!(matched, final_counter(&log, "handed_over"), "{log}");
    assert_eq!(sent + lost, matched, "every message has an outcome: {log}");
    assert!(sent >= 200, "{log}");
    if !rmq.owned {
        rmq.restart_broker();
    }
    assert!(
        lost > 0,
        "the killed broker must cost messages, and they are counted: {log}"
    );
}

#[test]
fn sighup_reloads_the_rules_and_keeps_buffered_events() {
    let dir = temp_dir("rmq-reload");
    let rmq = RocketMq::start(&dir.join("rmq"));
    let sfx = suffix();
    let conf = |topic: &str| {
        format!(
            "bridge.rocket.servers = {}\nbridge.rocket.produce = async\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"{topic}{sfx}\"}}\n",
            rmq.namesrv
        )
    };
    std::fs::write(dir.join("bridge.conf"), conf("ReloadBefore")).unwrap();
    let body = open_broker_body(&dir.join("bridge.conf"), &[]);
    let b = Broker::start(&dir, &body);
    for i in 0..50 {
        assert!(publish(
            b.port,
            &["-i", "p1", "-t", "r/1", "-m", &format!("before{i}")]
        ));
    }
    std::fs::write(dir.join("bridge.conf"), conf("ReloadAfter")).unwrap();
    b.signal("HUP");
    // the reload is applied on mosquitto's next loop iteration and then on the forwarder thread
    std::thread::sleep(ms(1500));
    assert!(publish(b.port, &["-i", "p2", "-t", "r/2", "-m", "after"]));
    let log = b.stop();
    assert!(log.contains("bridge rules reloaded rules=1"), "{log}");
    let before = rmq.read(&format!("ReloadBefore{sfx}"), 50);
    let after = rmq.read(&format!("ReloadAfter{sfx}"), 1);
    assert_eq!(before.len(), 50, "{log}");
    assert!(before.iter().all(|m| m["client_id"] == "p1"));
    assert_eq!(after.len(), 1, "{log}");
    assert_eq!(after[0]["client_id"], "p2");
}
