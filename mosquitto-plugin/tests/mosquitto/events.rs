//! The plugin inside a real mosquitto 2.0, driven by real clients. Events are read from the plugin's
//! trace file (every event it hands to the bridge); `rocketmq.rs` reads them back from RocketMQ.

use rocketmq_bridge_test_support::mosquitto::*;
use serde_json::Value;

fn plugin_lines(dir: &std::path::Path, logins: &str, acl: &str) -> String {
    let bridge_conf = dir.join("bridge.conf");
    if !bridge_conf.exists() {
        std::fs::write(&bridge_conf, "bridge.rocket.servers = 127.0.0.1:9876\n").unwrap();
    }
    let trace = dir.join("trace.jsonl");
    rocketmq_bridge_test_support::mosquitto::plugin_lines(
        &bridge_conf,
        &[
            ("logins", logins),
            ("acl", acl),
            ("trace_file", trace.to_str().unwrap()),
        ],
    )
}

fn ids(evs: &[&Value]) -> Vec<String> {
    let mut v: Vec<String> = evs
        .iter()
        .map(|e| e["client_id"].as_str().unwrap_or("<null>").to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn open_broker_reports_every_event_field_by_field() {
    let dir = temp_dir("open");
    let body = format!(
        "allow_anonymous true\n{}",
        plugin_lines(&dir, "open_broker", "open_broker")
    );
    let b = Broker::start(&dir, &body);
    let sub = Sub::start(
        b.port,
        &["-i", "sub1", "-u", "bob", "-t", "a/#", "-q", "1", "-C", "2"],
        5,
    );
    assert!(publish(
        b.port,
        &["-i", "pub1", "-u", "alice", "-t", "a/b", "-q", "1", "-m", "hello"]
    ));
    assert!(publish(
        b.port,
        &["-i", "pub2", "-t", "a/r", "-q", "0", "-r", "-n"]
    ));
    let (lines, _) = sub.finish();
    assert_eq!(lines, ["a/b hello", "a/r (null)"]);
    // subscribe and unsubscribe in one session
    let mut c = std::process::Command::new("mosquitto_sub");
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
        "-U",
        "never/#",
        "-W",
        "1",
    ]);
    run(c, ms(5000));
    let log = b.stop();
    let evs = read_trace(&dir.join("trace.jsonl"));
    assert!(!evs.is_empty(), "no events; mosquitto log:\n{log}");

    let con = of(&evs, "client.connected");
    assert_eq!(ids(&con), ["pub1", "pub2", "sub1", "unsub1"]);
    let sub1 = con.iter().find(|e| e["client_id"] == "sub1").unwrap();
    assert_eq!(sub1["username"], "bob");
    assert!(sub1["ts"].as_u64().unwrap() > 1_600_000_000_000);
    let pub2 = con.iter().find(|e| e["client_id"] == "pub2").unwrap();
    assert!(pub2["username"].is_null());

    let dis = of(&evs, "client.disconnected");
    assert_eq!(ids(&dis), ["pub1", "pub2", "sub1", "unsub1"]);
    assert!(dis.iter().all(|e| e["from"].is_null()));

    let subs = of(&evs, "session.subscribed");
    assert_eq!(subs.len(), 2, "{subs:?}");
    let s = subs.iter().find(|e| e["client_id"] == "sub1").unwrap();
    assert_eq!(s["topic"], "a/#");
    assert_eq!(s["qos"], 1);
    assert_eq!(s["username"], "bob");
    let s = subs.iter().find(|e| e["client_id"] == "unsub1").unwrap();
    assert_eq!(s["topic"], "x/+");
    assert_eq!(s["qos"], 0);

    let uns = of(&evs, "session.unsubscribed");
    assert_eq!(uns.len(), 1);
    assert_eq!(uns[0]["client_id"], "unsub1");
    assert_eq!(uns[0]["topic"], "x/+");
    assert!(uns[0]["qos"].is_null(), "2.0.11 gives no unsubscribe qos");
    // never/# was never subscribed: mosquitto accepts that UNSUBSCRIBE, but it is no event

    let pubs = of(&evs, "message.publish");
    assert_eq!(pubs.len(), 2);
    assert_eq!(pubs[0]["client_id"], "pub1");
    assert_eq!(pubs[0]["username"], "alice");
    assert_eq!(pubs[0]["topic"], "a/b");
    assert_eq!(pubs[0]["payload_base64"], "aGVsbG8=");
    assert_eq!(pubs[0]["qos"], 1);
    assert_eq!(pubs[0]["retain"], false);
    assert_eq!(pubs[1]["client_id"], "pub2");
    assert_eq!(pubs[1]["topic"], "a/r");
    assert_eq!(pubs[1]["payload_base64"], "");
    assert_eq!(pubs[1]["qos"], 0);
    assert_eq!(pubs[1]["retain"], true);

    let del = of(&evs, "message.delivered");
    assert_eq!(del.len(), 2, "{del:?}");
    assert_eq!(del[0]["client_id"], "sub1");
    assert_eq!(del[0]["username"], "bob");
    assert_eq!(del[0]["from"], "pub1");
    assert_eq!(del[0]["topic"], "a/b");
    assert_eq!(del[0]["payload_base64"], "aGVsbG8=");
    assert_eq!(del[0]["qos"], 1);
    assert_eq!(del[1]["from"], "pub2");
    assert_eq!(del[1]["topic"], "a/r");

    // order per client: connected first, disconnected last
    for id in ["pub1", "sub1"] {
        let mine: Vec<&Value> = evs.iter().filter(|e| e["client_id"] == id).collect();
        assert_eq!(mine.first().unwrap()["event"], "client.connected");
        assert_eq!(mine.last().unwrap()["event"], "client.disconnected");
    }
    assert!(log.contains("access control: logins open_broker"), "{log}");
    assert!(log.contains("message.acked has no source"), "{log}");
}

/// What clients observe in the password+ACL scenario; must be identical with and without the plugin.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    publish_ok: Vec<(String, bool)>,
    bob: Vec<String>,
    admin: Vec<String>,
}

fn secured_scenario(with_plugin: bool, acl_file: bool) -> (Observed, Vec<Value>, String) {
    let dir = temp_dir(if acl_file { "pwacl" } else { "pw" });
    let pw = dir.join("passwd");
    mosquitto_passwd(&pw, "alice", "apass");
    mosquitto_passwd(&pw, "bob", "bpass");
    mosquitto_passwd(&pw, "admin", "xpass");
    let mut body = format!("allow_anonymous false\npassword_file {}\n", pw.display());
    if acl_file {
        let acl = dir.join("acl");
        std::fs::write(
            &acl,
            "user alice\ntopic readwrite alice/#\ntopic write carol/#\n\
             user bob\ntopic read alice/#\ntopic read shared/#\n\
             user admin\ntopic read #\n",
        )
        .unwrap();
        body.push_str(&format!("acl_file {}\n", acl.display()));
    }
    if with_plugin {
        let acl_opt = if acl_file {
            "decided_elsewhere"
        } else {
            "open_broker"
        };
        body.push_str(&plugin_lines(&dir, "decided_elsewhere", acl_opt));
    }
    let b = Broker::start(&dir, &body);
    let bob = Sub::start(
        b.port,
        &[
            "-i", "bob", "-u", "bob", "-P", "bpass", "-q", "1", "-t", "alice/#", "-t", "carol/#",
            "-t", "shared/#",
        ],
        3,
    );
    let admin = Sub::start(
        b.port,
        &["-i", "admin", "-u", "admin", "-P", "xpass", "-t", "#"],
        3,
    );
    let cases: [(&str, &[&str]); 7] = [
        (
            "alice good",
            &[
                "-i", "alice1", "-u", "alice", "-P", "apass", "-t", "alice/x", "-m", "one", "-q",
                "1",
            ],
        ),
        (
            "alice wrong password",
            &[
                "-i", "alice2", "-u", "alice", "-P", "nope", "-t", "alice/x", "-m", "two",
            ],
        ),
        (
            "unknown user",
            &[
                "-i", "m1", "-u", "mallory", "-P", "x", "-t", "alice/x", "-m", "m",
            ],
        ),
        ("anonymous", &["-i", "anon1", "-t", "alice/x", "-m", "anon"]),
        (
            "alice write-denied topic",
            &[
                "-i", "alice3", "-u", "alice", "-P", "apass", "-t", "secret/y", "-m", "three",
                "-q", "1",
            ],
        ),
        (
            "alice to carol (bob may not read)",
            &[
                "-i", "alice4", "-u", "alice", "-P", "apass", "-t", "carol/z", "-m", "four",
            ],
        ),
        (
            "alice to shared (write not allowed)",
            &[
                "-i", "alice5", "-u", "alice", "-P", "apass", "-t", "shared/s", "-m", "five",
            ],
        ),
    ];
    let mut publish_ok = Vec::new();
    for (name, args) in cases {
        publish_ok.push((name.to_string(), publish(b.port, args)));
    }
    let (mut bob_lines, _) = bob.finish();
    let (mut admin_lines, _) = admin.finish();
    bob_lines.sort();
    admin_lines.sort();
    let log = b.stop();
    let evs = read_trace(&dir.join("trace.jsonl"));
    (
        Observed {
            publish_ok,
            bob: bob_lines,
            admin: admin_lines,
        },
        evs,
        log,
    )
}

#[test]
fn password_file_only_behaves_exactly_as_without_the_plugin() {
    let (without, _, _) = secured_scenario(false, false);
    let (with, evs, log) = secured_scenario(true, false);
    assert_eq!(
        with, without,
        "plugin changed what clients observe; log:\n{log}"
    );
    // sanity: wrong passwords, unknown users and anonymous clients really were refused
    let refused: Vec<&str> = with
        .publish_ok
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        refused,
        ["alice wrong password", "unknown user", "anonymous"]
    );
    let con = of(&evs, "client.connected");
    assert_eq!(
        ids(&con),
        ["admin", "alice1", "alice3", "alice4", "alice5", "bob"]
    );
    assert!(of(&evs, "client.disconnected")
        .iter()
        .all(|e| !["alice2", "m1", "anon1"].contains(&e["client_id"].as_str().unwrap_or(""))));
    assert!(evs.iter().all(|e| e["client_id"] != "alice2"
        && e["client_id"] != "m1"
        && e["client_id"] != "anon1"));
    assert_eq!(of(&evs, "message.publish").len(), 4);
    assert_eq!(of(&evs, "session.subscribed").len(), 4);
}

#[test]
fn password_and_acl_file_behave_exactly_as_without_the_plugin() {
    let (without, _, _) = secured_scenario(false, true);
    let (with, evs, log) = secured_scenario(true, true);
    assert_eq!(
        with, without,
        "plugin changed what clients observe; log:\n{log}"
    );
    assert_eq!(with.bob, ["alice/x one"]);
    assert_eq!(with.admin, ["alice/x one", "carol/z four"]);
    let con = of(&evs, "client.connected");
    assert_eq!(
        ids(&con),
        ["admin", "alice1", "alice3", "alice4", "alice5", "bob"]
    );
    assert!(evs.iter().all(|e| e["client_id"] != "alice2"
        && e["client_id"] != "m1"
        && e["client_id"] != "anon1"));
    // only the publishes that passed the write check
    let pubs: Vec<&str> = of(&evs, "message.publish")
        .iter()
        .map(|e| e["topic"].as_str().unwrap())
        .collect();
    assert_eq!(pubs, ["alice/x", "carol/z"], "{log}");
    // deliveries: exactly what the subscribers received
    let mut del: Vec<String> = of(&evs, "message.delivered")
        .iter()
        .map(|e| {
            format!(
                "{} {} from {}",
                e["client_id"].as_str().unwrap(),
                e["topic"].as_str().unwrap(),
                e["from"].as_str().unwrap_or("?")
            )
        })
        .collect();
    del.sort();
    assert_eq!(
        del,
        [
            "admin alice/x from alice1",
            "admin carol/z from alice4",
            "bob alice/x from alice1"
        ]
    );
    // 2.0.11's acl_file accepts every subscription: all four filters are true subscriptions
    assert_eq!(of(&evs, "session.subscribed").len(), 4);
}

#[test]
fn wrong_defaults_fail_closed_and_say_so() {
    // An open broker with the default options: the plugin must not grant anything; mosquitto refuses
    // clients with a username and all subscriptions, and the start-up log explains the choice.
    let dir = temp_dir("defaults");
    let bridge_conf = dir.join("bridge.conf");
    std::fs::write(&bridge_conf, "").unwrap();
    let trace = dir.join("trace.jsonl");
    let body = format!(
        "allow_anonymous true\n{}",
        rocketmq_bridge_test_support::mosquitto::plugin_lines(
            &bridge_conf,
            &[("trace_file", trace.to_str().unwrap())]
        )
    );
    let b = Broker::start(&dir, &body);
    assert!(!publish(
        b.port,
        &["-i", "u1", "-u", "someone", "-t", "t", "-m", "x"]
    ));
    assert!(publish(b.port, &["-i", "anon", "-t", "t", "-m", "x"]));
    // the subscription is refused by mosquitto (nothing else decides ACL checks): no subscribed event
    let mut c = std::process::Command::new("mosquitto_sub");
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        &b.port.to_string(),
        "-i",
        "refused-sub",
        "-t",
        "t",
        "-W",
        "1",
    ]);
    let out = run(c, ms(5000));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("All subscription requests were denied"),
        "{out:?}"
    );
    let log = b.stop();
    assert!(
        log.contains("logins decided_elsewhere (plugin answers defer"),
        "{log}"
    );
    let evs = read_trace(&dir.join("trace.jsonl"));
    assert!(evs.iter().all(|e| e["client_id"] != "u1"), "{evs:?}");
    assert!(
        of(&evs, "message.publish").is_empty(),
        "write checks are denied: {evs:?}"
    );
}

#[test]
fn unknown_option_values_refuse_to_start() {
    let dir = temp_dir("badopt");
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {} 127.0.0.1\nuser root\nplugin {}\nplugin_opt_config /nonexistent\nplugin_opt_acl maybe\n",
            free_port(),
            plugin_path().display()
        ),
    )
    .unwrap();
    let mut c = std::process::Command::new("mosquitto");
    c.arg("-c").arg(&conf);
    let out = run(c, ms(5000));
    assert!(!out.status.success());
    let err =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        err.contains(
            "option plugin_opt_acl has value \"maybe\", expected decided_elsewhere or open_broker"
        ),
        "{err}"
    );
}
