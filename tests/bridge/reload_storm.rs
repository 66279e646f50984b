//! Reload storms while hosts send in sync mode: three threads reload (new ACL keys, a reload
//! refused for a missing topic, a config whose secret file is missing and never reaches the
//! bridge) while four send. No hang, no panic, every send and reload returns, no request is ever
//! signed with a refused reload's keys, and once the storm is over every request is signed with
//! the last accepted keys.

use rocketmq_bridge_test_support as support;

use bytes::Bytes;
use rocketmq_bridge::bridge::{Bridge, BridgeConfig, Event};
use rocketmq_bridge::remoting::codes::{GET_ROUTEINFO_BY_TOPIC, TOPIC_NOT_EXIST};
use rocketmq_bridge::remoting::RemotingCommand;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::hostile::{frame_of, route_body, send_ok, HostileServer};

fn config(ns: &str, ak: &str, extra: &str) -> String {
    format!(
        "bridge.rocket.servers = {ns}\nbridge.rocket.produce = sync\n\
         bridge.rocket.produce.sync_timeout = 1s\nbridge.rocket.drain_timeout = 1s\n\
         bridge.rocket.bridge_id = storm\nbridge.rocket.stats_interval = 0s\n\
         bridge.rocket.acl.access_key = {ak}\nbridge.rocket.acl.secret_key = s-{ak}\n\
         bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"T\"}}\n{extra}"
    )
}

#[test]
fn reload_storm_while_sending_in_sync_mode() {
    let keys: Arc<Mutex<Vec<String>>> = Arc::default();
    let k = Arc::clone(&keys);
    let broker = HostileServer::start(Duration::from_secs(60), move |req| {
        if req.code == GET_ROUTEINFO_BY_TOPIC {
            return Vec::new();
        }
        k.lock()
            .unwrap()
            .push(req.ext("AccessKey").unwrap_or("").to_owned());
        frame_of(&send_ok(req))
    });
    let baddr = broker.addr.clone();
    let ns = HostileServer::start(Duration::from_secs(60), move |req| {
        if req.code == GET_ROUTEINFO_BY_TOPIC
            && matches!(req.ext("topic"), Some("Missing" | "TBW102"))
        {
            return frame_of(&RemotingCommand::response_to(req, TOPIC_NOT_EXIST, None));
        }
        frame_of(
            &RemotingCommand::response_to(req, 0, None).with_body(route_body("b", &baddr, 4, 4)),
        )
    });
    let bridge = Arc::new(
        Bridge::start(BridgeConfig::parse(&config(&ns.addr, "a0", ""), "s.conf").unwrap()).unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..4 {
        let tx = bridge.sender();
        let stop = Arc::clone(&stop);
        threads.push(std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            while !stop.load(Ordering::SeqCst) {
                let at = Instant::now();
                let _ = tx.send(Event::message_publish(
                    format!("c{t}"),
                    "a/b",
                    Bytes::from_static(b"p"),
                    1,
                ));
                slowest = slowest.max(at.elapsed());
            }
            slowest
        }));
    }
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    for r in 0..3 {
        let (b, stop, ns, accepted) = (
            Arc::clone(&bridge),
            Arc::clone(&stop),
            ns.addr.clone(),
            Arc::clone(&accepted),
        );
        threads.push(std::thread::spawn(move || {
            let at = Instant::now();
            let mut slowest = Duration::ZERO;
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let t = Instant::now();
                match r {
                    0 => {
                        // Accepted: new keys.
                        let ak = format!("a{i}");
                        let cfg = BridgeConfig::parse(&config(&ns, &ak, ""), "s.conf").unwrap();
                        let mut acc = accepted.lock().unwrap();
                        b.reload(cfg).unwrap();
                        acc.push(ak);
                    }
                    1 => {
                        // Refused at the bridge: a new rule's topic does not exist.
                        let extra = "bridge.rocket.hook.message.publish.2 = {\"filter\": \"#\", \"topic\": \"Missing\"}\n";
                        let cfg = BridgeConfig::parse(&config(&ns, "bad", extra), "s.conf").unwrap();
                        let r = b.reload(cfg);
                        assert!(r.is_err(), "{r:?}");
                    }
                    _ => {
                        // Refused at load: the secret's file is missing.
                        let text = config(&ns, "nofile", "")
                            .replace("bridge.rocket.acl.secret_key = s-nofile\n", "")
                            + "bridge.rocket.acl.secret_key_file = /nonexistent/rmqb-secret\n";
                        assert!(BridgeConfig::parse(&text, "s.conf").is_err());
                    }
                }
                slowest = slowest.max(t.elapsed());
                std::thread::sleep(Duration::from_millis(5));
                if at.elapsed() > Duration::from_secs(20) {
                    break;
                }
            }
            slowest
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::SeqCst);
    let end = Instant::now() + Duration::from_secs(15);
    for h in threads {
        while !h.is_finished() {
            assert!(Instant::now() < end, "a sender or reloader hangs");
            std::thread::sleep(Duration::from_millis(10));
        }
        let slowest = h.join().expect("no panic");
        assert!(slowest < Duration::from_secs(6), "a call took {slowest:?}");
    }
    // After the storm: requests are signed with the last accepted keys.
    let last = accepted
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap_or("a0".into());
    let before = keys.lock().unwrap().len();
    let tx = bridge.sender();
    for _ in 0..5 {
        tx.send(Event::message_publish(
            "c9",
            "a/b",
            Bytes::from_static(b"p"),
            1,
        ))
        .unwrap();
    }
    let after: Vec<String> = keys.lock().unwrap()[before..].to_vec();
    assert!(
        !after.is_empty() && after.iter().all(|k| *k == last),
        "{last}: {after:?}"
    );
    let seen = keys.lock().unwrap().clone();
    let bad = seen.iter().filter(|k| *k == "bad").count();
    // A refused reload never signs a live request (was: 2,485 of 16,156 requests of a storm).
    assert_eq!(
        bad,
        0,
        "requests signed with a refused reload's keys, of {}",
        seen.len()
    );
    let bridge = Arc::try_unwrap(bridge).unwrap_or_else(|_| panic!("one owner"));
    let report = bridge.shutdown(Duration::from_secs(1));
    assert!(report.unsent.is_empty(), "{report:?}");
}
