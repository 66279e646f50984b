//! Issue #20 item 1, the slave part: a master with a slave (Apache RocketMQ, `RMQ_IMPL=java5`:
//! same broker name, brokerId 1, role SLAVE). The route the producer reads carries the slave's
//! address, the producer keeps it in the route but sends only to the master: the in-process
//! producer and a `rocketmq-bridge run` process send N messages each, all are read back, and
//! sampling `ss -tnp` during the run shows neither process ever connected to the slave's port
//! (while both did connect to the master's, so the sampling sees them). On rocketmq-rust the
//! cluster script has no slaves and must refuse `--slaves` with a clear message; that is checked
//! instead.

use rocketmq_bridge_test_support as support;
use support::{read_back, scale, suffix, Cluster, ReadBack};

use rocketmq_bridge::message::Message;
use rocketmq_bridge::producer::{Producer, ProducerConfig};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rocketmq-bridge");

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bridge_slaves_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// (pid, remote port) of the TCP connections `ss -tnp` lists for the given pids.
fn remote_ports_of(pids: &[u32]) -> HashSet<(u32, u16)> {
    let out = Command::new("ss").args(["-tnp"]).output().expect("ss runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut ports = HashSet::new();
    for line in text.lines().skip(1) {
        let Some(&pid) = pids.iter().find(|p| line.contains(&format!("pid={p},"))) else {
            continue;
        };
        // State Recv-Q Send-Q Local:Port Peer:Port Process
        let peer = line.split_whitespace().nth(4).unwrap_or("");
        if let Some(port) = peer.rsplit_once(':').and_then(|(_, p)| p.parse().ok()) {
            ports.insert((pid, port));
        }
    }
    ports
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':').unwrap().1.parse().unwrap()
}

#[test]
fn a_slave_in_the_route_is_never_connected_to() {
    let implementation = std::env::var("RMQ_IMPL").unwrap_or_else(|_| "rust".to_owned());
    if implementation == "rust" {
        support::assert_cluster_script_refuses(
            &["--slaves"],
            &["--slaves", "masters only", "java5"],
        );
        return;
    }

    let c = Cluster::start_with_slaves(1, 1);
    let (name, master) = c.brokers[0].clone();
    let (slave_name, slave) = c.slaves[0].clone();
    assert_eq!(
        name, slave_name,
        "the slave carries its master's broker name"
    );
    let topic = format!("Slaves_{}", suffix());
    support::create_topic(&master, &topic, 6);

    // Sample our connections (and the bridge process's) every 20 ms from now on.
    let pids: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(vec![std::process::id()]));
    let seen: Arc<Mutex<HashSet<(u32, u16)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (pids, seen, stop) = (Arc::clone(&pids), Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut samples = 0u64;
            let end = Instant::now() + Duration::from_secs(600);
            while !stop.load(Ordering::SeqCst) && Instant::now() < end {
                let p = pids.lock().unwrap().clone();
                seen.lock().unwrap().extend(remote_ports_of(&p));
                samples += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            samples
        })
    };

    let p = Producer::start(ProducerConfig::new(
        &[c.namesrv.as_str()],
        "slaves_producer",
    ))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let info = loop {
        let info = p.check_route(&topic).unwrap();
        let has_slave = info
            .route
            .broker(&name)
            .is_some_and(|b| b.broker_addrs.get(&1) == Some(&slave));
        if !info.from_default_topic && has_slave {
            break info;
        }
        assert!(
            Instant::now() < deadline,
            "route never carried the slave: {:?}",
            info.route
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        info.masters.get(&name),
        Some(&master),
        "the master is the one to send to"
    );
    assert_eq!(
        info.route.broker(&name).unwrap().master_addr(),
        Some(master.as_str())
    );

    let n = scale(500, 5_000);
    for i in 0..n {
        let m = Message::new(&topic, format!("p{i}").into_bytes()).with_keys(&[&format!("p-{i}")]);
        p.send(m).unwrap_or_else(|e| panic!("send {i}: {e}"));
    }

    let conf = tmp(&format!("{topic}.conf"));
    std::fs::write(
        &conf,
        format!(
            "bridge.rocket.servers = {}\nbridge.rocket.produce = async\n\
             bridge.rocket.drain_timeout = 30s\nbridge.rocket.stats_interval = 0s\n\
             bridge.rocket.hook.client.connected.1 = {{\"topic\": \"{topic}\"}}\n",
            c.namesrv
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
    pids.lock().unwrap().push(child.id());
    let mut input = Vec::new();
    for i in 0..n {
        writeln!(
            input,
            "{{\"event\":\"client.connected\",\"client_id\":\"b{i}\"}}"
        )
        .unwrap();
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&input).unwrap();
    stdin.flush().unwrap();
    // Input stays open until the sampler has seen the bridge's connection to the master (30 s
    // bound), so a short run cannot slip between two samples.
    let bridge_pid = child.id();
    let master_port = port_of(&master);
    let waited = Instant::now();
    while !seen.lock().unwrap().contains(&(bridge_pid, master_port))
        && waited.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let start = Instant::now();
    let out = loop {
        if child.try_wait().unwrap().is_some() {
            break child.wait_with_output().unwrap();
        }
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("run did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");

    let got = read_back(
        &c.namesrv,
        &topic,
        2 * n,
        &ReadBack::new("slaves_readback")
            .bounded(Duration::from_secs(60), Duration::from_millis(500)),
    );
    stop.store(true, Ordering::SeqCst);
    let samples = sampler.join().unwrap();
    p.close(Duration::from_secs(5));
    let bodies: HashSet<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect();
    let seen = seen.lock().unwrap().clone();
    eprintln!(
        "master {master}, slave {slave}: {} messages read back ({} distinct), {samples} ss samples, \
         remote ports seen {seen:?}",
        got.len(),
        bodies.len()
    );
    assert_eq!(
        got.len(),
        2 * n,
        "every message of the producer and the bridge once"
    );
    assert_eq!(bodies.len(), 2 * n);
    let (me, slave_port) = (std::process::id(), port_of(&slave));
    assert!(
        seen.contains(&(me, master_port)),
        "the sampling saw the producer's master connection"
    );
    assert!(
        seen.contains(&(bridge_pid, master_port)),
        "the sampling saw the bridge's master connection"
    );
    for (pid, port) in &seen {
        assert!(
            *port != slave_port && *port != slave_port + 1,
            "pid {pid} connected to the slave (listen or HA port {port})"
        );
    }
}
