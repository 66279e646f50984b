//! ACL against the broker users run (issue #21 item 6): Apache RocketMQ 5.5.0 with ACL 2.0
//! authentication on (`scripts/rocketmq-java.sh start --acl USER:SECRET`: `authenticationEnabled`,
//! the initial user and the broker's inner-client credentials in broker.conf). Our signing
//! (`remoting::acl`, ACL 1.0's HMAC-SHA1 over the sorted ext-field values and the body, which ACL
//! 2.0 checks the same way) is accepted with the right secret: single, batch and async sends are
//! read back with a consumer signing its pulls. A wrong secret, an unknown user and no
//! credentials are refused at once with [`SendErrorKind::AccessDenied`] and the broker's reason,
//! on the first attempt: a counting proxy sees one request's bytes, not the retry budget's.
//!
//! Under `real::`, so the Java run of scripts/test.sh runs it. rocketmq-rust 1.0 is run without
//! authentication by scripts/rocketmq.sh, which must refuse `--acl` with a clear message; under
//! `RMQ_IMPL=rust` that refusal is what is checked.

use super::unique_topic;
use rocketmq_bridge::consumer::PullConsumer;
use rocketmq_bridge::message::{Message, MessageExt};
use rocketmq_bridge::producer::{Producer, ProducerConfig, SendErrorKind};
use rocketmq_bridge::remoting::acl::AclCredentials;
use rocketmq_bridge_test_support::fault_proxy::FaultProxy;
use rocketmq_bridge_test_support::{
    assert_cluster_script_refuses, scale, suffix, target_dir, Cluster,
};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const USER: &str = "bridge_user";
const SECRET: &str = "bridge-secret-21";

fn producer(ns: &str, acl: Option<AclCredentials>) -> Producer {
    Producer::start(
        ProducerConfig::new(&[ns], "acl_producer_group")
            .acl(acl)
            .retries(4)
            // A loaded machine's fresh Java broker may take over 1 s for a topic's first send: an
            // attempt timing out would be retried (and could store twice, or double the bytes the
            // proxy counts).
            .attempt_timeout(Duration::from_secs(8))
            .send_timeout(Duration::from_secs(20))
            .heartbeat_interval(Duration::ZERO),
    )
    .unwrap()
}

/// Reads `topic` with a consumer signing as `acl` until `n` messages are there (30 s bound).
fn read_signed(ns: &str, topic: &str, n: usize, acl: AclCredentials) -> Vec<MessageExt> {
    let c = PullConsumer::new(ns, "acl_readback_group", Some(acl));
    let start = Instant::now();
    loop {
        let got = c.read_all(topic).unwrap_or_default();
        if got.len() >= n || start.elapsed() > Duration::from_secs(30) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn acl2_accepts_our_signature_and_a_wrong_secret_fails_at_once() {
    let implementation = std::env::var("RMQ_IMPL").unwrap_or_else(|_| "rust".to_owned());
    if implementation == "rust" {
        assert_cluster_script_refuses(
            &["--acl", "u:secret-1"],
            &["--acl", "without authentication", "java5"],
        );
        return;
    }

    let c = Cluster::start_with_acl(1, 1, USER, SECRET);
    assert_eq!(c.env.get("RMQ_ACL_USER").map(String::as_str), Some(USER));
    let good = AclCredentials::new(USER, SECRET);
    let topic = unique_topic("AclSend");

    // The right secret: single, batch and async sends, all read back.
    let p = producer(&c.namesrv, Some(good.clone()));
    let n = scale(20, 1_000);
    let mut ids = BTreeSet::new();
    for i in 0..n {
        let r = p
            .send(Message::new(topic.as_str(), format!("single-{i}")))
            .unwrap();
        ids.insert(r.msg_id);
    }
    let batch: Vec<Message> = (0..10)
        .map(|i| Message::new(topic.as_str(), format!("batch-{i}")))
        .collect();
    let r = p.send_batch(batch, None).unwrap();
    ids.extend(r.msg_id.split(',').map(str::to_owned));
    let (tx, rx) = mpsc::channel();
    for i in 0..10 {
        let tx = tx.clone();
        p.send_async(
            Message::new(topic.as_str(), format!("async-{i}")),
            None,
            Box::new(move |r| tx.send(r.map(|r| r.msg_id)).unwrap()),
        )
        .unwrap();
    }
    for _ in 0..10 {
        ids.insert(rx.recv_timeout(Duration::from_secs(20)).unwrap().unwrap());
    }
    assert_eq!(p.stats().batch_refused_brokers, 0);
    let total = n + 20;
    assert_eq!(ids.len(), total);
    let got = read_signed(&c.namesrv, &topic, total, good.clone());
    let read: BTreeSet<String> = got
        .iter()
        .filter_map(|m| m.unique_key().map(str::to_owned))
        .collect();
    assert_eq!(read, ids, "every acknowledged message read back once");
    assert_eq!(got.len(), total);

    // The bytes one request costs: a send of the same shape through a counting proxy.
    let (name, broker) = c.brokers[0].clone();
    let via_proxy = |acl: Option<AclCredentials>| {
        let proxy = FaultProxy::start(&broker);
        let p = Producer::start(
            ProducerConfig::new(&[c.namesrv.as_str()], "acl_producer_group")
                .acl(acl)
                .retries(4)
                .attempt_timeout(Duration::from_secs(8))
                .send_timeout(Duration::from_secs(20))
                .heartbeat_interval(Duration::ZERO)
                .map_broker_addr(&broker, &proxy.addr),
        )
        .unwrap();
        let r = p.send(Message::new(topic.as_str(), "through-the-proxy"));
        // Read before the close (which may say goodbye to the broker).
        let sent = proxy.bytes().0;
        p.close(Duration::from_secs(2));
        (r, sent)
    };
    let (ok, one_request) = via_proxy(Some(good));
    ok.unwrap();
    assert!(one_request > 0);

    // A wrong secret, an unknown user, no credentials: refused on the first attempt, with the
    // broker's reason, never retried.
    for (what, acl, reason) in [
        (
            "wrong secret",
            Some(AclCredentials::new(USER, "not-the-secret")),
            "signature",
        ),
        (
            "unknown user",
            Some(AclCredentials::new("nobody", SECRET)),
            "nobody",
        ),
        ("no credentials", None, "null"),
    ] {
        let (r, sent) = via_proxy(acl);
        let e = r.unwrap_err();
        let SendErrorKind::AccessDenied { broker: b, remark } = &e.kind else {
            panic!("{what}: {e}");
        };
        assert_eq!(*b, broker, "{what}");
        assert!(remark.contains(reason), "{what}: {remark}");
        let text = e.to_string();
        assert!(
            text.contains("refused the credentials") && text.contains("bridge.rocket.acl"),
            "{what}: {text}"
        );
        assert!(e.is_not_stored());
        assert_eq!(e.messages.len(), 1, "the message is handed back");
        // One request of the same size (the signature and the access key differ by a few bytes):
        // a retry would double it.
        assert!(
            sent < one_request * 3 / 2,
            "{what}: {sent} bytes sent, one request is {one_request}: retried"
        );
        println!("acl: {what}: {e} ({sent} bytes sent to {name}, one request {one_request})");
    }
    p.close(Duration::from_secs(2));

    // The tools with `--config FILE` sign with the config's keys (issue #21 item 4).
    let cli_topic = unique_topic("AclCli");
    let topic = &cli_topic;
    let config = |secret: &str| {
        let path = target_dir().join(format!("acl-cli-{}-{secret}.conf", suffix()));
        let text = format!(
            "bridge.rocket.servers = {}\nbridge.rocket.acl.access_key = {USER}\n\
             bridge.rocket.acl.secret_key = {secret}\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"{topic}\"}}\n",
            c.namesrv_addrs.join(",")
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let bin = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rocketmq-bridge"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let good_cfg = config(SECRET);
    let good_cfg = good_cfg.to_str().unwrap();
    let (ok, out, err) = bin(&[
        "send", "--config", good_cfg, "--topic", &cli_topic, "--count", "2", "signed",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    // `consume` looks the topic's route up once; the send created the topic, and its broker
    // registers it with the name server only soon after: wait until it can be read.
    assert_eq!(
        read_signed(&c.namesrv, &cli_topic, 2, AclCredentials::new(USER, SECRET)).len(),
        2
    );
    let (ok, out, err) = bin(&[
        "consume",
        "--config",
        good_cfg,
        "--topic",
        &cli_topic,
        "--from-beginning",
        "--count",
        "2",
        "--idle-timeout",
        "20",
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("\"body\":\"signed\""))
            .count(),
        2,
        "{out}"
    );
    let bad_cfg = config("not-the-secret");
    let (ok, _, err) = bin(&[
        "send",
        "--config",
        bad_cfg.to_str().unwrap(),
        "--topic",
        &cli_topic,
        "x",
    ]);
    assert!(!ok);
    assert!(
        err.contains("refused the credentials") && err.contains("check signature failed"),
        "{err}"
    );
    println!("acl: cli with a wrong secret: {}", err.trim());

    // `doctor` (issue #21 item 5) proves the signature, and names a wrong secret as such.
    let doctor = |cfg: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_rocketmq-bridge"))
            .args(["doctor", "--config", cfg])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = doctor(good_cfg);
    println!("acl: doctor, right secret:\n{text}");
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("ACL signature of access key {USER:?} accepted")),
        "{text}"
    );
    let (code, text) = doctor(bad_cfg.to_str().unwrap());
    println!("acl: doctor, wrong secret:\n{text}");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("refused the credentials: check signature failed."),
        "{text}"
    );
    assert!(text.contains("fix: the secret key is wrong"), "{text}");
}
