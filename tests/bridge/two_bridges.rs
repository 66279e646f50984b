//! Issue #20 item 3: several `rocketmq-bridge run` processes feeding one cluster. Two bridges on
//! one host started with the default `bridge_id` (the node name, so the same for both) and each
//! with its own spool send N events each into a 2-master cluster; every one of the 2N events is
//! read back from the brokers (at least once: the spool resends a send whose outcome was unknown,
//! with the same key) under a key of its own: no key carries two events, and the two bridges' keys
//! differ in the spool identity (`<bridge_id>-<spool id>-<seq>`). A second run on the first
//! bridge's spool keeps its key prefix (what consumer dedup across restarts needs). Size
//! `scale(2_000, 50_000)` per bridge.

use rocketmq_bridge_test_support as support;
use support::{read_back, scale, suffix, Cluster, ReadBack};

use rocketmq_bridge::producer::{Producer, ProducerConfig};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rocketmq-bridge");

fn tmp(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bridge_two_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Creates `topic` with 4 queues on every broker of `c` and waits (60 s bound) until its route
/// lists all of them.
fn create_on_every_broker(c: &Cluster, topic: &str) {
    for (_, addr) in &c.brokers {
        support::create_topic(addr, topic, 6);
    }
    let p = Producer::start(ProducerConfig::new(
        &[c.namesrv.as_str()],
        "two_bridges_probe",
    ))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = p.check_route(topic).unwrap();
        if !info.from_default_topic && info.masters.len() == c.brokers.len() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "route never listed every broker: {:?}",
            info.masters
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A config without `bridge_id` (so the default, the node name) and with its own spool.
fn config(name: &str, servers: &str, topic: &str, spool: &Path) -> PathBuf {
    let text = format!(
        "bridge.rocket.servers = {servers}\nbridge.rocket.produce = async\n\
         bridge.rocket.drain_timeout = 60s\nbridge.rocket.stats_interval = 0s\n\
         bridge.rocket.spool.dir = {}\n\
         bridge.rocket.hook.client.connected.1 = {{\"topic\": \"{topic}\"}}\n",
        spool.display()
    );
    let path = tmp(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn lines(prefix: &str, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n * 48);
    for i in 0..n {
        writeln!(
            v,
            "{{\"event\":\"client.connected\",\"client_id\":\"{prefix}{i}\"}}"
        )
        .unwrap();
    }
    v
}

/// Starts `run` and feeds it `input` from a thread of its own (so two runs take input at once).
fn spawn_run(conf: &Path, input: Vec<u8>) -> (Child, std::thread::JoinHandle<()>) {
    let mut child = Command::new(BIN)
        .args(["run", "--config", conf.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        stdin.write_all(&input).unwrap();
    });
    (child, feeder)
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
                "run did not finish in {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The key prefix of a spooled key: everything before the last `-`.
fn prefix_of(key: &str) -> &str {
    key.rsplit_once('-').expect("key has a sequence number").0
}

#[test]
fn two_bridges_with_the_default_bridge_id_and_own_spools_store_distinct_keys() {
    let c = Cluster::start(1, 2);
    let topic = format!("TwoBridges_{}", suffix());
    create_on_every_broker(&c, &topic);
    let n = scale(2_000, 50_000);
    let (spool_a, spool_b) = (
        tmp(&format!("spool_a_{topic}")),
        tmp(&format!("spool_b_{topic}")),
    );
    let conf_a = config(&format!("a_{topic}.conf"), &c.namesrv, &topic, &spool_a);
    let conf_b = config(&format!("b_{topic}.conf"), &c.namesrv, &topic, &spool_b);

    let started = Instant::now();
    let (child_a, feed_a) = spawn_run(&conf_a, lines("a", n));
    let (child_b, feed_b) = spawn_run(&conf_b, lines("b", n));
    feed_a.join().unwrap();
    feed_b.join().unwrap();
    let out_a = wait_bounded(child_a, Duration::from_secs(600));
    let out_b = wait_bounded(child_b, Duration::from_secs(600));
    let runs_took = started.elapsed();
    for (name, out) in [("a", &out_a), ("b", &out_b)] {
        assert_eq!(
            out.status.code(),
            Some(0),
            "bridge {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let how = ReadBack::new("two_bridges_readback")
        .bounded(Duration::from_secs(120), Duration::from_millis(500));
    let got = read_back(&c.namesrv, &topic, 2 * n, &how);
    // key -> the event (client id) it was read back with: a key shared by two events would be the
    // collision this test is about. A key read back twice for one event is a resend (the spool is
    // at least once: a send whose outcome was unknown goes again with the same key), not one.
    let mut keys: HashMap<String, String> = HashMap::new();
    // client-id prefix ("a" / "b") -> the key prefixes its messages carry
    let mut prefixes: BTreeMap<char, HashSet<String>> = BTreeMap::new();
    let mut clients: HashSet<String> = HashSet::new();
    let mut brokers: HashSet<String> = HashSet::new();
    for m in &got {
        let k = m.keys();
        assert_eq!(k.len(), 1, "one key per message: {k:?}");
        let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
        let client = v["client_id"].as_str().unwrap().to_owned();
        let first = keys
            .entry(k[0].to_owned())
            .or_insert_with(|| client.clone());
        assert_eq!(*first, client, "key {} carried two events", k[0]);
        prefixes
            .entry(client.chars().next().unwrap())
            .or_default()
            .insert(prefix_of(k[0]).to_owned());
        clients.insert(client);
        brokers.insert(m.store_host.to_string());
    }
    eprintln!(
        "two bridges x {n} events: {} messages read back, {} unique keys, {} distinct clients, \
         {} resends of one key, {} brokers stored them; both runs took {:.1} s",
        got.len(),
        keys.len(),
        clients.len(),
        got.len() - keys.len(),
        brokers.len(),
        runs_took.as_secs_f64()
    );
    assert!(got.len() >= 2 * n, "every event read back");
    assert_eq!(keys.len(), 2 * n, "2N unique keys");
    assert_eq!(clients.len(), 2 * n, "every event of both bridges");
    assert_eq!(brokers.len(), 2, "both masters stored messages");
    let (pa, pb) = (&prefixes[&'a'], &prefixes[&'b']);
    assert_eq!(
        (pa.len(), pb.len()),
        (1, 1),
        "one key prefix per bridge: {prefixes:?}"
    );
    let (pa, pb) = (
        pa.iter().next().unwrap().clone(),
        pb.iter().next().unwrap().clone(),
    );
    assert_ne!(pa, pb, "the two bridges' keys differ");
    // Same default bridge_id (the node name): only the spool identity tells them apart.
    assert_eq!(
        pa.rsplit_once('-').unwrap().0,
        pb.rsplit_once('-').unwrap().0,
        "both use the default bridge_id"
    );

    // A restart of bridge a on its spool keeps its key prefix, so a consumer's dedup still holds.
    let (child, feed) = spawn_run(&conf_a, lines("r", 1));
    feed.join().unwrap();
    let out = wait_bounded(child, Duration::from_secs(120));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let is_restart = |m: &rocketmq_bridge::message::MessageExt| {
        let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
        v["client_id"] == "r0"
    };
    let waited = Instant::now();
    let got = loop {
        let got = read_back(&c.namesrv, &topic, 0, &how);
        if got.iter().any(is_restart) || waited.elapsed() > Duration::from_secs(60) {
            break got;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let again: HashSet<&str> = got
        .iter()
        .filter(|m| is_restart(m))
        .map(|m| m.keys()[0])
        .collect();
    assert_eq!(again.len(), 1, "the restart's event read back with one key");
    let again = again.into_iter().next().unwrap();
    assert_eq!(
        prefix_of(again),
        pa,
        "a restart on the same spool keeps the key prefix"
    );
    assert!(!keys.contains_key(again), "a new event gets a new key");
}
