//! The shipped Prometheus rules and Grafana dashboard (`packaging/`) use only metric names a
//! running bridge really exports: a bridge with a spool and a rule sends to a real broker, its
//! `/metrics` is scraped, and every `rocketmq_bridge_*` name in the two files must be there.

use rocketmq_bridge_test_support as support;
use support::{read_back, suffix, temp_dir, warm_up_topics, Cluster, ReadBack};

use rocketmq_bridge::bridge::{Bridge, BridgeConfig, Event};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

const READ_BACK: ReadBack = ReadBack::new("bridge_observe_readback").skip_warmup();
const EVENTS: usize = 20;

/// Every `rocketmq_bridge_<name>` token in `text`.
fn names_used(text: &str) -> BTreeSet<String> {
    const PREFIX: &str = "rocketmq_bridge_";
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(PREFIX) {
        let tail = &rest[i..];
        let end = tail[PREFIX.len()..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .map_or(tail.len(), |n| PREFIX.len() + n);
        // `rocketmq_bridge_*` in a comment names no metric.
        if end > PREFIX.len() {
            out.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    out
}

/// The metric names of a Prometheus text exposition, with their sample values summed.
fn exported(body: &str) -> Vec<(String, f64)> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let name_end = l.find(['{', ' ']).unwrap();
            let value = l.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
            (l[..name_end].to_owned(), value)
        })
        .collect()
}

fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

#[test]
fn every_metric_the_dashboard_and_the_rules_use_is_exported() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules =
        std::fs::read_to_string(root.join("packaging/prometheus/rocketmq-bridge.rules.yml"))
            .unwrap();
    let dashboard_text =
        std::fs::read_to_string(root.join("packaging/grafana/rocketmq-bridge.json")).unwrap();
    // The dashboard's queries are the `expr` of each panel's targets.
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard_text).unwrap();
    let mut exprs = String::new();
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            exprs.push_str(t["expr"].as_str().unwrap());
            exprs.push('\n');
        }
    }
    let mut used = names_used(&rules);
    let from_dashboard = names_used(&exprs);
    assert!(
        from_dashboard.len() >= 10 && used.len() >= 6,
        "{from_dashboard:?} {used:?}"
    );
    used.extend(from_dashboard);
    // What the issue asks the rules to cover.
    for want in [
        "rocketmq_bridge_healthy",
        "rocketmq_bridge_dropped_total",
        "rocketmq_bridge_spool_bytes",
        "rocketmq_bridge_spool_max_bytes",
        "rocketmq_bridge_outcome_unknown_total",
    ] {
        assert!(names_used(&rules).contains(want), "rules lack {want}");
    }

    let c = Cluster::start(1, 1);
    let topic = format!("Observe_{}", suffix());
    // A cold JVM broker's first requests may time out: the bridge meets a warm broker and topic.
    warm_up_topics(&c.namesrv, &[&topic]);
    let dir = temp_dir("bridge-observe", "spool");
    let text = format!(
        "bridge.rocket.servers = {}\nbridge.rocket.produce = async\n\
         bridge.rocket.spool.dir = {}\nbridge.rocket.spool.max_bytes = 64MB\n\
         bridge.rocket.metrics.listen = 127.0.0.1:0\n\
         bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"{topic}\"}}\n",
        c.namesrv_addrs.join(","),
        dir.join("spool").display()
    );
    let bridge = Bridge::start(BridgeConfig::parse(&text, "observe.conf").unwrap()).unwrap();
    let addr = bridge.metrics_addr().unwrap();
    let sender = bridge.sender();
    for i in 0..EVENTS {
        let line = format!(
            "{{\"event\":\"message.publish\",\"client_id\":\"o{i}\",\"topic\":\"t/{i}\",\"payload\":\"x\",\"qos\":1}}"
        );
        sender
            .send(Event::from_json_line(&line, i as u64 + 1).unwrap())
            .unwrap();
    }
    let sum = |body: &str, name: &str| -> f64 {
        exported(body)
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v)
            .sum()
    };
    let start = Instant::now();
    let mut body = scrape(addr);
    while sum(&body, "rocketmq_bridge_sent_total") < EVENTS as f64
        && start.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(100));
        body = scrape(addr);
    }
    let names: BTreeSet<String> = exported(&body).into_iter().map(|(n, _)| n).collect();
    let missing: Vec<&String> = used.difference(&names).collect();
    println!(
        "observe: {} names used by the rules and the dashboard, {} exported; missing {missing:?}",
        used.len(),
        names.len()
    );
    assert!(missing.is_empty(), "not exported: {missing:?}\n{body}");
    assert_eq!(
        sum(&body, "rocketmq_bridge_spool_max_bytes"),
        64.0 * 1024.0 * 1024.0
    );
    assert_eq!(
        sum(&body, "rocketmq_bridge_sent_total"),
        EVENTS as f64,
        "{body}"
    );
    assert_eq!(sum(&body, "rocketmq_bridge_healthy"), 1.0, "{body}");
    // The counters agree with what the broker stored.
    assert_eq!(
        read_back(&c.namesrv, &topic, EVENTS, &READ_BACK).len(),
        EVENTS
    );
    let report = bridge.shutdown(Duration::from_secs(10));
    assert!(report.unsent.is_empty(), "{report}");
}
