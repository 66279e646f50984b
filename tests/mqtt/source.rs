//! `rocketmq-bridge mqtt` (issue 23 items 2 and 3), the binary as a process:
//!
//! - against real mosquitto 2.0 (`max_queued_messages 0`) and a real RocketMQ cluster
//!   (`RMQ_IMPL`, rocketmq-rust by default): QoS 1 publishes by `mosquitto_pub` on two MQTT
//!   topics, the bridge SIGKILLed once mid-stream and started again on the same session; every
//!   publish is read back from RocketMQ (duplicates allowed, counted and printed), the second
//!   process resumes the session without subscribing again, a retained message is forwarded
//!   once, and each MQTT topic's messages are in one queue in publish order (first copies). Once
//!   with a spool (async, MQTT 5, QoS 1) and once in sync mode (MQTT 3.1.1, one topic at QoS 2).
//!   500 publishes by default, 100,000 with `TEST_SCALE=full`.
//! - the same test against aedes 1.2.0 (issue 23 item 3; `brokers.rs` holds what differs: port,
//!   start, `mosquitto_pub -V mqttv311`, its log), MQTT 3.1.1 and QoS 1, with a spool and in sync
//!   mode. aedes keeps no order across the restart (moscajs/aedes#649): out-of-order first copies
//!   are counted and printed there, not refused; it re-delivers without DUP, so the second run's
//!   `redelivered` counter is 0 whatever the duplicates (asserted, so a change is noticed).
//! - against a hostile scripted broker (no RocketMQ needed: async with a spool starts without
//!   one): garbage, a 256 MiB remaining length, no CONNACK, no PINGRESP; each is reported as a
//!   clean error and followed by a reconnect, memory stays small, SIGTERM ends it in time.
//! - a config the subcommand refuses (async without a spool).

use crate::brokers::{pub_command, Kind, TestBroker};
use bytes::Bytes;
use bytes::BytesMut;
use rocketmq_bridge::mqtt::{
    decode_packet, encode_to_vec, Ack, ConnAck, MqttLimits, Packet, Properties, Publish, QoS,
    ReasonCode, SubAck, Version,
};
use rocketmq_bridge_test_support as support;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::mosquitto::{self as mosq, Broker};
use support::{eventually, read_back, scale, suffix, Cluster, ReadBack};

const BIN: &str = env!("CARGO_BIN_EXE_rocketmq-bridge");

pub(crate) fn spawn_bridge(config: &Path, log: &Path) -> Child {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(BIN)
        .args(["mqtt", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap()
}

/// SIGTERM, then the exit status within `limit` (killed and panics after it).
pub(crate) fn term_and_wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the bridge did not exit within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The resident set of process `pid` in KiB (0 when it is gone).
pub(crate) fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `mosquitto_pub -l` (with `kind`'s arguments) at `qos` on `topic`, fed `lines` in parts 50 ms apart (so the stream
/// spans the bridge's SIGKILL); returns whether it published them all.
pub(crate) fn publisher(
    kind: Kind,
    port: u16,
    topic: &str,
    qos: u8,
    lines: Vec<String>,
) -> std::thread::JoinHandle<bool> {
    let topic = topic.to_owned();
    std::thread::spawn(move || {
        let mut c = pub_command(kind, port)
            .args(["-q", &qos.to_string()])
            .args(["-i", &format!("pub-{}", topic.replace('/', "-"))])
            .args(["-t", &topic, "-l"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = c.stdin.take().unwrap();
        // 50 parts; at full size parts of 125 lines 50 ms apart, 2,500 publishes/s on each of the
        // two topics (5,000/s, the issue's rate), so that the queue mosquitto keeps while the
        // bridge is away stays far below 65,535 messages (mosquitto numbers queued messages when
        // it queues them, and past that it reuses packet ids and ends the connection).
        let part = lines.len().div_ceil(50).clamp(1, 125);
        for chunk in lines.chunks(part) {
            let text: String = chunk.iter().map(|l| format!("{l}\n")).collect();
            if stdin.write_all(text.as_bytes()).is_err() {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            stdin.flush().unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(stdin);
        let start = Instant::now();
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st.success();
            }
            if start.elapsed() > Duration::from_secs(120) {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// Publishes (`mq/a` at QoS 1, `mq/b` at `qos_b`, one retained message before the bridge's
/// first start), SIGKILLs the bridge once mid-stream, starts it again, and reads everything back.
/// `version` and `sub_qos` are the bridge's `mqtt.version` and `mqtt.qos`; `kind` the MQTT broker.
fn kill_and_restart_loses_nothing(kind: Kind, mode: &str, version: &str, sub_qos: u8, qos_b: u8) {
    kill_and_restart_with(kind, mode, version, sub_qos, qos_b, false)
}

/// As [`kill_and_restart_loses_nothing`], and with `rocketmq_too` the issue's whole sequence: the
/// bridge SIGKILLed at a fifth of the stream and restarted, the RocketMQ broker SIGKILLed at two
/// fifths and restarted, the bridge SIGKILLed again at three fifths and restarted.
fn kill_and_restart_with(
    kind: Kind,
    mode: &str,
    version: &str,
    sub_qos: u8,
    qos_b: u8,
    rocketmq_too: bool,
) {
    let n = scale(500, 100_000);
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let b = kind.name();
    let topic = format!("MqttSrc_{b}_{mode}_{sfx}");
    support::warm_up_topics(&c.namesrv, &[&topic]);
    let dir = mosq::temp_dir(&format!("source-{b}-{mode}"));
    let broker = TestBroker::start(
        kind,
        &dir,
        "allow_anonymous true\nmax_queued_messages 0\npersistent_client_expiration 1h\n",
    );
    let client_id = format!("bridge-{b}-{mode}-{sfx}");
    let produce = match mode {
        "spool" => format!(
            "bridge.rocket.produce = async\nbridge.rocket.spool.dir = {}\n",
            dir.join("spool").display()
        ),
        _ => "bridge.rocket.produce = sync\n".to_owned(),
    };
    let config = dir.join("bridge.conf");
    std::fs::write(
        &config,
        format!(
            "bridge.rocket.servers = {ns}\n{produce}\
             bridge.rocket.encode_payload_type = plain\nbridge.rocket.stats_interval = 0s\n\
             bridge.rocket.refresh_topic_route_interval = 1s\nbridge.rocket.drain_timeout = 20s\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"mq/#\", \"topic\": \"{topic}\"}}\n\
             bridge.rocket.mqtt.server = 127.0.0.1:{port}\nbridge.rocket.mqtt.client_id = {client_id}\n\
             bridge.rocket.mqtt.keepalive = 10s\nbridge.rocket.mqtt.reconnect_min = 100ms\n\
             bridge.rocket.mqtt.reconnect_max = 1s\nbridge.rocket.mqtt.version = {version}\n\
             bridge.rocket.mqtt.qos = {sub_qos}\n",
            ns = c.namesrv,
            port = broker.port(),
        ),
    )
    .unwrap();
    assert!(broker.publish(&["-t", "mq/r", "-q", "1", "-r", "-m", "retained"]));
    let log1 = dir.join("bridge-1.stderr");
    let mut first = spawn_bridge(&config, &log1);
    assert!(
        eventually(Duration::from_secs(20), || broker.subscribes(&client_id)
            == 1),
        "the bridge did not subscribe: {}",
        std::fs::read_to_string(&log1).unwrap_or_default()
    );
    let start = Instant::now();
    let topics = ["mq/a", "mq/b"];
    let pubs: Vec<_> = topics
        .iter()
        .enumerate()
        .map(|(t, mt)| {
            let lines = (0..n)
                .filter(|i| i % 2 == t)
                .map(|i| i.to_string())
                .collect();
            publisher(
                kind,
                broker.port(),
                mt,
                if t == 0 { 1 } else { qos_b },
                lines,
            )
        })
        .collect();
    // SIGKILL once about a fifth of the stream is stored, restart after a pause.
    let how = ReadBack::new("mqtt_src_rb")
        .bounded(Duration::from_secs(20), Duration::from_millis(100))
        .skip_warmup();
    let _ = read_back(&c.namesrv, &topic, n / 5, &how);
    first.kill().unwrap();
    let _ = first.wait();
    let killed_at = start.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let mut log2 = dir.join("bridge-2.stderr");
    let mut second = spawn_bridge(&config, &log2);
    if rocketmq_too {
        let _ = read_back(&c.namesrv, &topic, 2 * n / 5, &how);
        c.kill_broker(0);
        std::thread::sleep(Duration::from_millis(500));
        c.start_broker(0);
        println!(
            "RocketMQ broker SIGKILLed and restarted at {:?}",
            start.elapsed()
        );
        let _ = read_back(&c.namesrv, &topic, 3 * n / 5, &how);
        second.kill().unwrap();
        let _ = second.wait();
        println!("bridge SIGKILLed again at {:?}", start.elapsed());
        std::thread::sleep(Duration::from_millis(300));
        log2 = dir.join("bridge-3.stderr");
        second = spawn_bridge(&config, &log2);
    }
    for p in pubs {
        assert!(p.join().unwrap(), "mosquitto_pub failed");
    }
    let how = how.bounded(
        Duration::from_secs(scale(60, 600) as u64),
        Duration::from_millis(200),
    );
    let got = read_back(&c.namesrv, &topic, n + 1, &how);
    let status = term_and_wait(&mut second, Duration::from_secs(30));
    let elapsed = start.elapsed();
    let summary = std::fs::read_to_string(&log2).unwrap();

    // Every publish, by index; first copies in order per MQTT topic, each topic in one queue.
    let mut copies: BTreeMap<u64, usize> = BTreeMap::new();
    let mut by_topic: BTreeMap<String, Vec<(i32, i64, u64)>> = BTreeMap::new();
    let mut retained = 0;
    for m in &got {
        let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
        if v["payload"] == "retained" {
            retained += 1;
            continue;
        }
        let i: u64 = v["payload"].as_str().unwrap().parse().unwrap();
        *copies.entry(i).or_default() += 1;
        let mt = v["topic"].as_str().unwrap().to_owned();
        assert_eq!(v["client_id"], serde_json::Value::Null);
        by_topic
            .entry(mt)
            .or_default()
            .push((m.queue_id, m.queue_offset, i));
    }
    let missing: Vec<u64> = (0..n as u64).filter(|i| !copies.contains_key(i)).collect();
    let dups: usize = copies.values().map(|c| c - 1).sum();
    println!(
        "mqtt source ({b}, {mode}, MQTT {version}, {}): {n} publishes (QoS 1 and {qos_b}), bridge \
         SIGKILLed at {killed_at:?}, {} read back, {} missing, {dups} duplicates, {elapsed:?} in \
         all\nsecond run: {}",
        c.implementation,
        got.len(),
        missing.len(),
        summary.trim()
    );
    assert!(
        missing.is_empty(),
        "missing {} of {n}, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // Order: mosquitto keeps it across the bridge's restart. aedes 1.2.0 does not: a resumed session gets
    // new messages while its stored ones are still being sent (moscajs/aedes#649), so the bridge,
    // which forwards in the order it receives, stores some of the queued ones after newer ones.
    // Measured and printed there, not asserted.
    let mut out_of_order = 0;
    for (mt, mut v) in by_topic {
        let q = v[0].0;
        assert!(v.iter().all(|e| e.0 == q), "{mt}: in more than one queue");
        v.sort_by_key(|e| e.1);
        let mut seen = std::collections::HashSet::new();
        let firsts: Vec<u64> = v.iter().filter(|e| seen.insert(e.2)).map(|e| e.2).collect();
        let bad = firsts.windows(2).position(|w| w[0] > w[1]);
        out_of_order += firsts.windows(2).filter(|w| w[0] > w[1]).count();
        // A send that failed while the RocketMQ broker was down is sent again after newer
        // messages of its topic may have been stored: order holds only among messages whose
        // first send succeeded (the README's ordering guarantee), so it is counted there too.
        assert!(
            bad.is_none() || kind == Kind::Aedes || rocketmq_too,
            "{mt}: first copies out of order at {bad:?}: {:?}",
            &firsts[bad.unwrap_or(0).saturating_sub(5)..(bad.unwrap_or(0) + 20).min(firsts.len())]
        );
    }
    println!("{b}: {out_of_order} places where a first copy follows a later publish of its topic");
    assert_eq!(retained, 1, "the retained message was fetched again");
    // Every connection of the last run resumed the session. Usually there is one. aedes 1.2.0 can
    // end a resumed connection itself (seen once in CI, "Connection reset by peer"): a new
    // connection's packet ids start at random, so they can equal those of the messages it queued
    // for the old one; our PUBACK of a new delivery then removes the queued entry of that id
    // (aedes-persistence matches by id alone), its re-send of the queue fails with "no such
    // packet", and it closes the client. The bridge's reconnection must resume the session too;
    // the broker's log is printed so the cause stays visible.
    let conns = number_before(&summary, " connections (").unwrap_or(0);
    let resumed = number_before(&summary, " resumed a session").unwrap_or(0);
    if conns > 1 {
        println!(
            "{b} ended a connection of the last run; its log:\n{}",
            broker.log()
        );
    }
    assert!(
        conns >= 1 && resumed == conns,
        "the last run did not resume the session on each connection: {summary}\n{b}'s log:\n{}",
        broker.log()
    );
    assert_eq!(
        broker.subscribes(&client_id),
        1,
        "subscribed again with a session present"
    );
    if kind == Kind::Aedes {
        // aedes 1.2.0 re-delivers without DUP: the bridge's `redelivered` counter stays 0 however
        // many copies came again (the README's broker table says so).
        assert!(
            summary.contains("(0 redelivered with DUP)"),
            "aedes now sets DUP: update the README: {summary}"
        );
    }
    assert!(status.code().is_some(), "{status:?}");
}

#[test]
fn mosquitto_to_rocketmq_with_a_spool_survives_two_bridge_and_one_rocketmq_sigkills() {
    kill_and_restart_with(Kind::Mosquitto, "spool", "5", 1, 1, true);
}

#[test]
fn mosquitto_to_rocketmq_in_sync_mode_over_3_1_1_with_qos_2_survives_two_bridge_and_one_rocketmq_sigkills(
) {
    kill_and_restart_with(Kind::Mosquitto, "sync", "3.1.1", 2, 2, true);
}

/// The same test against aedes 1.2.0 (MQTT 3.1.1 only, so both modes over 3.1.1; QoS 1).
#[test]
fn aedes_to_rocketmq_with_a_spool_survives_a_bridge_sigkill() {
    kill_and_restart_loses_nothing(Kind::Aedes, "spool", "3.1.1", 1, 1);
}

#[test]
fn aedes_to_rocketmq_in_sync_mode_survives_a_bridge_sigkill() {
    kill_and_restart_loses_nothing(Kind::Aedes, "sync", "3.1.1", 1, 1);
}

/// The number just before the first `label` in `text` (a bridge's summary line), if any.
pub(crate) fn number_before(text: &str, label: &str) -> Option<u64> {
    let head = &text[..text.find(label)?];
    let start = head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    head[start..].parse().ok()
}

#[test]
fn number_before_reads_the_summary() {
    let s = "459 PUBLISH received, 2 connections (2 resumed a session), 1 connection errors";
    assert_eq!(number_before(s, " PUBLISH received"), Some(459));
    assert_eq!(number_before(s, " connections ("), Some(2));
    assert_eq!(number_before(s, " resumed a session"), Some(2));
    assert_eq!(number_before(s, " connection errors"), Some(1));
    assert_eq!(number_before("no summary", " connections ("), None);
    assert_eq!(number_before("x connections (", " connections ("), None);
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Sync mode with the RocketMQ broker frozen (SIGSTOP): the first message's send fails (timeout)
/// and is tried again while the rest wait unacknowledged at mosquitto; the bridge is SIGKILLed
/// then, the broker resumed, and the second process gets every message again (DUP) and sends it.
/// The bridge subscribes as a shared subscription (`$share/g1/f/#`).
#[test]
fn a_frozen_rocketmq_holds_acknowledgements_back_until_a_restarted_bridge_sends_them() {
    let n = 100;
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let topic = format!("MqttFrozen_{sfx}");
    support::warm_up_topics(&c.namesrv, &[&topic]);
    let dir = mosq::temp_dir("source-frozen");
    let broker = Broker::start(&dir, "allow_anonymous true\nmax_queued_messages 0\n");
    let client_id = format!("bridge-frozen-{sfx}");
    let config = dir.join("bridge.conf");
    std::fs::write(
        &config,
        format!(
            "bridge.rocket.servers = {ns}\nbridge.rocket.produce = sync\n\
             bridge.rocket.produce.sync_timeout = 1s\n\
             bridge.rocket.encode_payload_type = plain\nbridge.rocket.stats_interval = 0s\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"f/#\", \"topic\": \"{topic}\"}}\n\
             bridge.rocket.mqtt.server = 127.0.0.1:{port}\nbridge.rocket.mqtt.client_id = {client_id}\n\
             bridge.rocket.mqtt.keepalive = 4s\nbridge.rocket.mqtt.reconnect_min = 100ms\n\
             bridge.rocket.mqtt.share_group = g1\n",
            ns = c.namesrv,
            port = broker.port,
        ),
    )
    .unwrap();
    let log1 = dir.join("bridge-1.stderr");
    let mut first = spawn_bridge(&config, &log1);
    let subscribed = format!("Received SUBSCRIBE from {client_id}");
    assert!(eventually(Duration::from_secs(20), || broker
        .log()
        .contains(&subscribed)));
    let rmq = c.broker_pid(0);
    signal(rmq, "STOP");
    let lines = (0..n).map(|i| i.to_string()).collect();
    let published = publisher(Kind::Mosquitto, broker.port, "f/x", 1, lines)
        .join()
        .unwrap();
    // Two failed attempts at least (1 s sync timeout each), the connection kept alive meanwhile.
    let retried = eventually(Duration::from_secs(15), || {
        std::fs::read_to_string(&log1)
            .unwrap_or_default()
            .matches("send failed, trying again")
            .count()
            >= 2
    });
    first.kill().unwrap();
    let _ = first.wait();
    signal(rmq, "CONT");
    assert!(published, "mosquitto_pub failed");
    assert!(
        retried,
        "no retry: {}",
        std::fs::read_to_string(&log1).unwrap()
    );
    let log2 = dir.join("bridge-2.stderr");
    let mut second = spawn_bridge(&config, &log2);
    let how = ReadBack::new("mqtt_frozen_rb")
        .bounded(Duration::from_secs(30), Duration::from_millis(200))
        .skip_warmup();
    let got = read_back(&c.namesrv, &topic, n, &how);
    term_and_wait(&mut second, Duration::from_secs(30));
    let summary = std::fs::read_to_string(&log2).unwrap();
    let mut copies: BTreeMap<u64, usize> = BTreeMap::new();
    for m in &got {
        let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
        *copies
            .entry(v["payload"].as_str().unwrap().parse().unwrap())
            .or_default() += 1;
    }
    let dups: usize = copies.values().map(|c| c - 1).sum();
    println!(
        "frozen RocketMQ ({}): {n} publishes, {} distinct read back, {dups} duplicates\nsecond run: {}",
        c.implementation,
        copies.len(),
        summary.trim()
    );
    assert_eq!(copies.len(), n, "missing some of {n}");
    assert!(
        summary.contains(&format!("{n} PUBLISH received ({n} redelivered with DUP)")),
        "{summary}"
    );
}

/// TLS (a `tls` build): mosquitto with a TLS listener, the bridge trusting its CA receives what
/// `mosquitto_pub` publishes over TLS (spooled: no RocketMQ needed); trusting another CA, it
/// reports the unknown CA and retries.
#[cfg(feature = "tls")]
#[test]
fn over_tls_messages_arrive_and_an_unknown_ca_is_a_clean_error() {
    let dir = mosq::temp_dir("source-tls");
    support::make_test_certs(&dir);
    let file = |f: &str| dir.join(f).display().to_string();
    let broker = Broker::start(
        &dir,
        &format!(
            "allow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\n",
            file("ca.pem"),
            file("server.pem"),
            file("server.key")
        ),
    );
    let dead_ns = TcpListener::bind("127.0.0.1:0").unwrap();
    let ns = dead_ns.local_addr().unwrap();
    drop(dead_ns);
    let config_with = |name: &str, ca: &str| {
        let config = dir.join(format!("{name}.conf"));
        std::fs::write(
            &config,
            format!(
                "bridge.rocket.servers = {ns}\nbridge.rocket.produce = async\n\
                 bridge.rocket.spool.dir = {}\nbridge.rocket.stats_interval = 0s\n\
                 bridge.rocket.drain_timeout = 1s\n\
                 bridge.rocket.hook.message.publish.1 = {{\"filter\": \"t/#\", \"topic\": \"T\"}}\n\
                 bridge.rocket.mqtt.server = 127.0.0.1:{port}\nbridge.rocket.mqtt.client_id = {name}\n\
                 bridge.rocket.mqtt.tls.enable = true\nbridge.rocket.mqtt.tls.ca_file = {ca}\n\
                 bridge.rocket.mqtt.reconnect_min = 100ms\nbridge.rocket.mqtt.reconnect_max = 200ms\n",
                dir.join(format!("spool-{name}")).display(),
                port = broker.port,
            ),
        )
        .unwrap();
        config
    };
    let log = dir.join("good.stderr");
    let mut good = spawn_bridge(&config_with("good", &file("ca.pem")), &log);
    assert!(
        eventually(Duration::from_secs(20), || broker
            .log()
            .contains("Received SUBSCRIBE from good")),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    for i in 0..20 {
        let m = format!("m{i}");
        assert!(mosq::publish(
            broker.port,
            &[
                "--cafile",
                &file("ca.pem"),
                "-q",
                "1",
                "-t",
                "t/x",
                "-m",
                &m
            ]
        ));
    }
    assert!(eventually(Duration::from_secs(10), || broker
        .log()
        .matches("Received PUBACK from good")
        .count()
        == 20));
    term_and_wait(&mut good, Duration::from_secs(10));
    let summary = std::fs::read_to_string(&log).unwrap();
    assert!(
        summary.contains("20 PUBLISH received") && summary.contains("20 appended"),
        "{summary}"
    );
    let log = dir.join("bad.stderr");
    let mut bad = spawn_bridge(&config_with("bad", &file("other-ca.pem")), &log);
    let want =
        "TLS with the MQTT broker failed (bridge.rocket.mqtt.tls.*): the server's certificate \
                is signed by an unknown CA";
    let seen = eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches(want)
            .count()
            >= 2
    });
    term_and_wait(&mut bad, Duration::from_secs(10));
    assert!(seen, "{}", std::fs::read_to_string(&log).unwrap());
}

/// Reads one packet (bounded by 5 s) from a fake broker's connection.
fn read_packet(s: &mut TcpStream, buf: &mut BytesMut) -> Option<Packet> {
    let lim = MqttLimits::default();
    let end = Instant::now() + Duration::from_secs(5);
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    loop {
        if let Ok(Some(p)) = decode_packet(buf, Version::V5, &lim) {
            return Some(p);
        }
        if Instant::now() > end {
            return None;
        }
        let mut b = [0u8; 4096];
        match s.read(&mut b) {
            Ok(0) => return None,
            Ok(k) => buf.extend_from_slice(&b[..k]),
            Err(_) => {}
        }
    }
}

fn write(s: &mut TcpStream, p: &Packet) {
    let _ = s.write_all(&encode_to_vec(p, Version::V5, &MqttLimits::default()).unwrap());
}

fn connack() -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: false,
        code: ReasonCode::SUCCESS,
        properties: Properties::default(),
    })
}

#[test]
fn a_hostile_broker_gets_clean_errors_bounded_memory_and_reconnects() {
    let dir = mosq::temp_dir("hostile-source");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dead_ns = TcpListener::bind("127.0.0.1:0").unwrap();
    let ns = dead_ns.local_addr().unwrap();
    drop(dead_ns);
    let config = dir.join("bridge.conf");
    std::fs::write(
        &config,
        format!(
            "bridge.rocket.servers = {ns}\nbridge.rocket.produce = async\n\
             bridge.rocket.spool.dir = {}\nbridge.rocket.stats_interval = 0s\n\
             bridge.rocket.drain_timeout = 1s\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"T\"}}\n\
             bridge.rocket.mqtt.server = 127.0.0.1:{port}\nbridge.rocket.mqtt.keepalive = 2s\n\
             bridge.rocket.mqtt.connect_timeout = 1s\nbridge.rocket.mqtt.reconnect_min = 50ms\n\
             bridge.rocket.mqtt.reconnect_max = 100ms\n",
            dir.join("spool").display()
        ),
    )
    .unwrap();
    let log = dir.join("bridge.stderr");
    let start = Instant::now();
    let mut child = spawn_bridge(&config, &log);
    let pid = child.id();
    listener.set_nonblocking(false).unwrap();
    let mut peak_rss = 0u64;
    // One connection per misbehaviour, in order; the bridge must come back after each. Each
    // connection stays open until the next one is accepted, so the bridge meets the silence it
    // is tested for (not an end of stream) however late a loaded machine runs its timer.
    let mut previous = None;
    for step in 0..5 {
        let (mut s, _) = listener.accept().unwrap();
        drop(previous.take());
        let mut buf = BytesMut::new();
        let first = read_packet(&mut s, &mut buf);
        assert!(
            matches!(first, Some(Packet::Connect(ref c)) if !c.clean_start),
            "step {step}: {first:?}"
        );
        match step {
            // Garbage: an unsupported packet type.
            0 => {
                let _ = s.write_all(&[0xF0, 0x00, 0xde, 0xad, 0xbe, 0xef]);
            }
            // A PUBLISH announcing 256 MiB after the CONNACK: refused before anything is reserved.
            1 => {
                write(&mut s, &connack());
                assert!(matches!(
                    read_packet(&mut s, &mut buf),
                    Some(Packet::Subscribe(_))
                ));
                let _ = s.write_all(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0]);
                std::thread::sleep(Duration::from_millis(300));
                peak_rss = peak_rss.max(rss_kb(pid));
            }
            // No CONNACK at all.
            2 => std::thread::sleep(Duration::from_millis(1500)),
            // CONNACK and SUBACK, then silence: PINGREQ unanswered.
            3 => {
                write(&mut s, &connack());
                let Some(Packet::Subscribe(sub)) = read_packet(&mut s, &mut buf) else {
                    panic!("no SUBSCRIBE")
                };
                write(
                    &mut s,
                    &Packet::SubAck(SubAck {
                        packet_id: sub.packet_id,
                        codes: vec![ReasonCode::GRANTED_QOS_1],
                        properties: Properties::default(),
                    }),
                );
                let ping = read_packet(&mut s, &mut buf);
                assert_eq!(ping, Some(Packet::PingReq), "step 3");
                std::thread::sleep(Duration::from_millis(2500));
            }
            // Back to normal: it is connected again.
            _ => {
                write(&mut s, &connack());
                assert!(matches!(
                    read_packet(&mut s, &mut buf),
                    Some(Packet::Subscribe(_))
                ));
            }
        }
        previous = Some(s);
    }
    peak_rss = peak_rss.max(rss_kb(pid));
    let status = term_and_wait(&mut child, Duration::from_secs(10));
    let elapsed = start.elapsed();
    let err = std::fs::read_to_string(&log).unwrap();
    println!("hostile broker: {elapsed:?}, peak RSS {peak_rss} kB\n{err}");
    for want in [
        "the broker sent an invalid packet: unsupported MQTT packet type 15",
        "the broker sent an invalid packet: MQTT packet length 268435460 exceeds limit",
        "no CONNACK from the broker within 1s",
        "no PINGRESP from the broker within",
        "ended by SIGTERM",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(peak_rss > 0 && peak_rss < 64 * 1024, "RSS {peak_rss} kB");
    assert!(elapsed < Duration::from_secs(25), "{elapsed:?}");
    assert!(status.code().is_some(), "{status:?}");
}

fn publish(id: u16, qos: QoS, dup: bool) -> Packet {
    Packet::Publish(Publish {
        dup,
        qos,
        retain: false,
        topic: "t/1".to_owned(),
        packet_id: Some(id),
        properties: Properties::default(),
        payload: Bytes::from(format!("p{id}")),
    })
}

/// The protocol as a scripted broker sees it: CONNECT with clean start off, the session expiry
/// and the receive maximum; one SUBSCRIBE; five QoS 1 messages in one write acknowledged in
/// order; a QoS 2 message answered with PUBREC, its DUP copy answered again without a second
/// event, PUBREL answered with PUBCOMP.
#[test]
fn a_scripted_broker_sees_acknowledgements_in_order_and_the_qos_2_flow() {
    let dir = mosq::temp_dir("source-scripted");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dead_ns = TcpListener::bind("127.0.0.1:0").unwrap();
    let ns = dead_ns.local_addr().unwrap();
    drop(dead_ns);
    let config = dir.join("bridge.conf");
    std::fs::write(
        &config,
        format!(
            "bridge.rocket.servers = {ns}\nbridge.rocket.produce = async\n\
             bridge.rocket.spool.dir = {}\nbridge.rocket.drain_timeout = 1s\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"t/#\", \"topic\": \"T\"}}\n\
             bridge.rocket.mqtt.server = 127.0.0.1:{port}\nbridge.rocket.mqtt.qos = 2\n\
             bridge.rocket.mqtt.session_expiry = 2h\nbridge.rocket.mqtt.receive_maximum = 7\n",
            dir.join("spool").display()
        ),
    )
    .unwrap();
    let log = dir.join("bridge.stderr");
    let mut child = spawn_bridge(&config, &log);
    let (mut s, _) = listener.accept().unwrap();
    let mut buf = BytesMut::new();
    let Some(Packet::Connect(c)) = read_packet(&mut s, &mut buf) else {
        panic!("no CONNECT")
    };
    assert!(!c.clean_start);
    assert_eq!(c.client_id, "rocketmq_bridge");
    assert_eq!(c.properties.session_expiry_interval, Some(7200));
    assert_eq!(c.properties.receive_maximum, Some(7));
    write(&mut s, &connack());
    let Some(Packet::Subscribe(sub)) = read_packet(&mut s, &mut buf) else {
        panic!("no SUBSCRIBE")
    };
    assert_eq!(sub.filters.len(), 1);
    assert_eq!(sub.filters[0].0, "t/#");
    assert_eq!(sub.filters[0].1.qos, QoS::ExactlyOnce);
    write(
        &mut s,
        &Packet::SubAck(SubAck {
            packet_id: sub.packet_id,
            codes: vec![ReasonCode::GRANTED_QOS_2],
            properties: Properties::default(),
        }),
    );
    let mut burst = Vec::new();
    for id in 1..=5 {
        burst.extend(
            encode_to_vec(
                &publish(id, QoS::AtLeastOnce, false),
                Version::V5,
                &MqttLimits::default(),
            )
            .unwrap(),
        );
    }
    s.write_all(&burst).unwrap();
    for id in 1..=5 {
        assert_eq!(
            read_packet(&mut s, &mut buf),
            Some(Packet::PubAck(Ack::new(id)))
        );
    }
    write(&mut s, &publish(7, QoS::ExactlyOnce, false));
    assert_eq!(
        read_packet(&mut s, &mut buf),
        Some(Packet::PubRec(Ack::new(7)))
    );
    write(&mut s, &publish(7, QoS::ExactlyOnce, true));
    assert_eq!(
        read_packet(&mut s, &mut buf),
        Some(Packet::PubRec(Ack::new(7)))
    );
    write(&mut s, &Packet::PubRel(Ack::new(7)));
    assert_eq!(
        read_packet(&mut s, &mut buf),
        Some(Packet::PubComp(Ack::new(7)))
    );
    term_and_wait(&mut child, Duration::from_secs(10));
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(
        err.contains("7 PUBLISH received (1 redelivered with DUP), 7 acknowledged"),
        "{err}"
    );
    assert!(err.contains("6 appended"), "{err}");
}

#[test]
fn a_refused_connect_ends_the_subcommand_with_exit_code_2() {
    let dir = mosq::temp_dir("source-refused-connect");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dead_ns = TcpListener::bind("127.0.0.1:0").unwrap();
    let ns = dead_ns.local_addr().unwrap();
    drop(dead_ns);
    let config = dir.join("bridge.conf");
    std::fs::write(
        &config,
        format!(
            "bridge.rocket.servers = {ns}\nbridge.rocket.produce = async\n\
             bridge.rocket.spool.dir = {}\nbridge.rocket.drain_timeout = 1s\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"T\"}}\n\
             bridge.rocket.mqtt.server = 127.0.0.1:{port}\nbridge.rocket.mqtt.username = u\n\
             bridge.rocket.mqtt.password = pw-Xy7-secret\n",
            dir.join("spool").display()
        ),
    )
    .unwrap();
    let log = dir.join("bridge.stderr");
    let start = Instant::now();
    let mut child = spawn_bridge(&config, &log);
    let (mut s, _) = listener.accept().unwrap();
    let mut buf = BytesMut::new();
    let Some(Packet::Connect(c)) = read_packet(&mut s, &mut buf) else {
        panic!("no CONNECT")
    };
    assert_eq!(c.username.as_deref(), Some("u"));
    assert_eq!(c.password.as_deref(), Some(&b"pw-Xy7-secret"[..]));
    write(
        &mut s,
        &Packet::ConnAck(ConnAck {
            session_present: false,
            code: ReasonCode(0x86),
            properties: Properties::default(),
        }),
    );
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("the broker refused the connection, code 0x86: giving up"),
        "{err}"
    );
    assert!(!err.contains("pw-Xy7"), "the password was printed: {err}");
}

#[test]
fn async_without_a_spool_is_refused_naming_the_key() {
    let dir = mosq::temp_dir("source-refused");
    let config = dir.join("bridge.conf");
    std::fs::write(
        &config,
        "bridge.rocket.produce = async\n\
         bridge.rocket.hook.message.publish.1 = {\"filter\": \"#\", \"topic\": \"T\"}\n",
    )
    .unwrap();
    let out = mosq::run(
        {
            let mut c = Command::new(BIN);
            c.args(["mqtt", "--config"]).arg(&config);
            c
        },
        Duration::from_secs(10),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bridge.rocket.produce: `rocketmq-bridge mqtt` acknowledges"),
        "{err}"
    );
}
