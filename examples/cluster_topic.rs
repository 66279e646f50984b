//! Creates (or updates) a topic on every master of a cluster and waits until the name servers route
//! it to all of them. Used by `scripts/cluster-suite.sh` before the benchmarks: auto-creation
//! through TBW102 creates a topic only on the brokers the first sends happen to reach.
//!
//! `cargo run --release --example cluster_topic -- --namesrv ADDR --topic T [--queues N] [--perm P]
//! [--timeout SECS]`
//!
//! The masters are those routed for TBW102 (every broker of the repo's clusters registers it). Each
//! gets UPDATE_AND_CREATE_TOPIC (protocol reference §8.7) with N read and write queues (default 4)
//! and permission P (default 6, read and write). Prints one JSON line: the masters and the time
//! until the route listed them all. Exits 1 on a refusal or when the route is not complete within
//! the timeout (default 60 s).

use rocketmq_bridge::nameserver::NameServerClient;
use rocketmq_bridge::remoting::codes::UPDATE_AND_CREATE_TOPIC;
use rocketmq_bridge::remoting::{Connection, ConnectionConfig, RemotingCommand};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(ns) = opt("--namesrv") else {
        eprintln!("cluster_topic: --namesrv ADDR is required");
        return ExitCode::from(2);
    };
    let Some(topic) = opt("--topic") else {
        eprintln!("cluster_topic: --topic T is required");
        return ExitCode::from(2);
    };
    let queues = opt("--queues").unwrap_or_else(|| "4".into());
    let perm = opt("--perm").unwrap_or_else(|| "6".into());
    let timeout = Duration::from_secs(opt("--timeout").and_then(|v| v.parse().ok()).unwrap_or(60));
    let addrs: Vec<String> = ns.split([';', ',']).map(str::to_owned).collect();
    let client = NameServerClient::new(
        addrs,
        ConnectionConfig::default(),
        Duration::from_secs(5),
        None,
    );
    let masters: BTreeMap<String, String> = match client.query_route("TBW102") {
        Ok(route) => route
            .broker_datas
            .iter()
            .filter_map(|b| Some((b.broker_name.clone(), b.master_addr()?.to_owned())))
            .collect(),
        Err(e) => {
            eprintln!("cluster_topic: cannot read the route of TBW102: {e}");
            return ExitCode::from(1);
        }
    };
    if masters.is_empty() {
        eprintln!("cluster_topic: no master routes TBW102");
        return ExitCode::from(1);
    }
    let t0 = Instant::now();
    for (name, addr) in &masters {
        let cmd = RemotingCommand::request(UPDATE_AND_CREATE_TOPIC)
            .with_ext("topic", &topic)
            .with_ext("defaultTopic", "TBW102")
            .with_ext("readQueueNums", &queues)
            .with_ext("writeQueueNums", &queues)
            .with_ext("perm", &perm)
            .with_ext("topicFilterType", "SINGLE_TAG")
            .with_ext("topicSysFlag", "0")
            .with_ext("order", "false");
        let answer = Connection::connect(addr, &ConnectionConfig::default())
            .and_then(|c| c.invoke(&cmd, Duration::from_secs(10)));
        match answer {
            Ok(r) if r.code == 0 => {}
            Ok(r) => {
                eprintln!(
                    "cluster_topic: {name} ({addr}) refused: code {} {:?}",
                    r.code, r.remark
                );
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("cluster_topic: {name} ({addr}): {e}");
                return ExitCode::from(1);
            }
        }
    }
    loop {
        let routed = client
            .query_route(&topic)
            .map(|r| {
                r.queue_datas
                    .iter()
                    .filter(|q| q.perm.to_string() == perm && masters.contains_key(&q.broker_name))
                    .count()
            })
            .unwrap_or(0);
        if routed == masters.len() {
            break;
        }
        if t0.elapsed() > timeout {
            eprintln!(
                "cluster_topic: after {timeout:?} the route of {topic} lists {routed} of {} masters",
                masters.len()
            );
            return ExitCode::from(1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let names: Vec<String> = masters.keys().map(|n| format!("\"{n}\"")).collect();
    println!(
        "{{\"topic\":\"{topic}\",\"masters\":[{}],\"queues\":{queues},\"perm\":{perm},\"routed_ms\":{}}}",
        names.join(","),
        t0.elapsed().as_millis()
    );
    ExitCode::SUCCESS
}
