//! Hostile and odd input through real mosquitto with the plugin: the broker keeps serving, nothing hangs,
//! and the events carry the bytes exactly.

use std::io::{Read, Write};
use std::net::TcpStream;

use rocketmq_bridge_test_support::mosquitto::*;

fn start(dir: &std::path::Path) -> Broker {
    let bridge_conf = dir.join("bridge.conf");
    std::fs::write(&bridge_conf, "").unwrap();
    let trace = dir.join("trace.jsonl");
    let body = format!(
        "max_keepalive 60\n{}",
        open_broker_body(&bridge_conf, &[("trace_file", trace.to_str().unwrap())])
    );
    Broker::start(dir, &body)
}

fn remaining_len(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn packet(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![kind];
    remaining_len(body.len(), &mut p);
    p.extend_from_slice(body);
    p
}

fn mqtt_str(s: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// A raw MQTT 3.1.1 session: CONNECT with `client_id` (may be empty), one QoS 0 PUBLISH, DISCONNECT.
/// Returns the CONNACK return code.
fn raw_session(port: u16, client_id: &[u8], topic: &[u8], payload: &[u8]) -> u8 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(ms(3000))).unwrap();
    let mut body = Vec::new();
    mqtt_str(b"MQTT", &mut body);
    body.extend_from_slice(&[4, 0x02, 0, 60]);
    mqtt_str(client_id, &mut body);
    s.write_all(&packet(0x10, &body)).unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).unwrap();
    assert_eq!(connack[0], 0x20);
    if connack[3] == 0 {
        let mut body = Vec::new();
        mqtt_str(topic, &mut body);
        body.extend_from_slice(payload);
        s.write_all(&packet(0x30, &body)).unwrap();
        s.write_all(&[0xe0, 0]).unwrap();
    }
    connack[3]
}

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[test]
fn odd_input_never_breaks_the_broker_and_events_keep_the_bytes() {
    let dir = temp_dir("robust");
    let mut b = start(&dir);
    let sub = Sub::start(b.port, &["-i", "watch", "-t", "#", "-F", "%t"], 8);

    // very long topic (60 000 bytes), binary payload with NULs, empty payload, 1 MiB payload
    let long_topic = "t/".to_string() + &"x".repeat(60_000);
    assert!(publish(
        b.port,
        &["-i", "long", "-t", &long_topic, "-m", "l"]
    ));
    let bin: Vec<u8> = (0..=255u8).collect();
    let bin_file = dir.join("bin");
    std::fs::write(&bin_file, &bin).unwrap();
    assert!(publish(
        b.port,
        &["-i", "bin", "-t", "bin/1", "-f", bin_file.to_str().unwrap()]
    ));
    assert!(publish(b.port, &["-i", "empty", "-t", "empty/1", "-n"]));
    let big: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let big_file = dir.join("big");
    std::fs::write(&big_file, &big).unwrap();
    assert!(publish(
        b.port,
        &[
            "-i",
            "big",
            "-t",
            "big/1",
            "-q",
            "1",
            "-f",
            big_file.to_str().unwrap()
        ]
    ));

    // odd client ids: empty (broker assigns one), wildcard characters, spaces and non-ASCII
    assert_eq!(raw_session(b.port, b"", b"raw/empty", b"e"), 0);
    assert!(publish(
        b.port,
        &["-i", "a b+#/\u{fc}\u{1f642}", "-t", "odd/1", "-m", "o"]
    ));
    // garbage instead of CONNECT, and a connection cut mid-packet
    {
        let mut s = TcpStream::connect(("127.0.0.1", b.port)).unwrap();
        let _ = s.write_all(&[0xff; 64]);
        let mut s = TcpStream::connect(("127.0.0.1", b.port)).unwrap();
        let _ = s.write_all(&[0x10, 0x7f, 0, 4, b'M']);
    }

    // many clients at once
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let port = b.port;
            std::thread::spawn(move || {
                publish(
                    port,
                    &[
                        "-i",
                        &format!("many{i}"),
                        "-t",
                        &format!("many/{i}"),
                        "-m",
                        &format!("m{i}"),
                    ],
                )
            })
        })
        .collect();
    let ok = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(ok, 100);

    assert!(b.alive(), "mosquitto died: {}", b.log());
    // still serving
    assert!(publish(b.port, &["-i", "last", "-t", "last/1", "-m", "z"]));
    let (topics, _) = sub.finish();
    assert!(topics.contains(&"last/1".to_string()));
    assert!(topics.contains(&long_topic));
    let log = b.stop();

    let evs = read_trace(&dir.join("trace.jsonl"));
    let pubs = of(&evs, "message.publish");
    let find = |topic: &str| {
        pubs.iter()
            .find(|e| e["topic"] == topic)
            .unwrap_or_else(|| panic!("no publish event for {topic:.40}; log:\n{log:.2000}"))
    };
    assert_eq!(find(&long_topic)["client_id"], "long");
    assert_eq!(find("bin/1")["payload_base64"], b64(&bin));
    assert_eq!(find("empty/1")["payload_base64"], "");
    assert_eq!(
        find("big/1")["payload_base64"].as_str().unwrap().len(),
        b64(&big).len()
    );
    assert_eq!(find("big/1")["payload_base64"], b64(&big));
    let raw = find("raw/empty");
    assert!(
        raw["client_id"].as_str().unwrap().starts_with("auto-"),
        "{raw}"
    );
    assert_eq!(find("odd/1")["client_id"], "a b+#/\u{fc}\u{1f642}");
    for i in 0..100 {
        assert_eq!(
            find(&format!("many/{i}"))["payload_base64"],
            b64(format!("m{i}").as_bytes())
        );
    }
    // deliveries to the watcher: one per publish, with the sender
    let del = of(&evs, "message.delivered");
    assert_eq!(
        del.iter().filter(|e| e["client_id"] == "watch").count(),
        pubs.len()
    );
    assert!(del.iter().all(|e| !e["from"].is_null()));
    // every accepted client connected once and disconnected once; the garbage connections produced nothing
    let con = of(&evs, "client.connected").len();
    let dis = of(&evs, "client.disconnected").len();
    assert_eq!(con, dis);
    // watch + 4 payload publishers + 2 odd ids + 100 + last
    assert_eq!(con, 1 + 4 + 2 + 100 + 1);
}

#[test]
fn reload_keeps_events_flowing() {
    let dir = temp_dir("reload");
    let b = start(&dir);
    assert!(publish(b.port, &["-i", "before", "-t", "r/1", "-m", "1"]));
    b.signal("HUP");
    std::thread::sleep(ms(500));
    let sub = Sub::start(b.port, &["-i", "after-sub", "-t", "r/#", "-C", "1"], 5);
    assert!(publish(b.port, &["-i", "after", "-t", "r/2", "-m", "2"]));
    let (lines, _) = sub.finish();
    assert_eq!(lines, ["r/2 2"]);
    let log = b.stop();
    assert!(log.contains("Reloading config"), "{log}");
    let evs = read_trace(&dir.join("trace.jsonl"));
    let pubs: Vec<&str> = of(&evs, "message.publish")
        .iter()
        .map(|e| e["topic"].as_str().unwrap())
        .collect();
    assert_eq!(pubs, ["r/1", "r/2"], "{log}");
    let del = of(&evs, "message.delivered");
    assert_eq!(del.len(), 1);
    assert_eq!(del[0]["from"], "after");
}

#[test]
fn rocketmq_down_at_start_keeps_mosquitto_serving_and_counts_the_losses() {
    let dir = temp_dir("rmqdown");
    let dead = free_port();
    let bridge_conf = dir.join("bridge.conf");
    std::fs::write(
        &bridge_conf,
        format!(
            "bridge.rocket.servers = 127.0.0.1:{dead}\nbridge.rocket.drain_timeout = 1s\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"MessagePublish\"}}\n"
        ),
    )
    .unwrap();
    let body = open_broker_body(&bridge_conf, &[("queue_max_bytes", "65536")]);
    let mut b = Broker::start(&dir, &body);
    let sub = Sub::start(b.port, &["-i", "watch", "-t", "d/#", "-C", "300"], 20);
    // 300 publishes of 1 KiB: more than the 64 KiB plugin queue can hold while the bridge cannot start
    let payload = "p".repeat(1024);
    let started = std::time::Instant::now();
    let mut c = std::process::Command::new("mosquitto_pub");
    let file = dir.join("lines");
    std::fs::write(
        &file,
        (0..300).map(|_| payload.clone() + "\n").collect::<String>(),
    )
    .unwrap();
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        &b.port.to_string(),
        "-i",
        "pub",
        "-t",
        "d/1",
        "-q",
        "1",
        "-l",
    ])
    .stdin(std::fs::File::open(&file).unwrap());
    let out = run(c, ms(20_000));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (lines, _) = sub.finish();
    assert_eq!(lines.len(), 300, "mosquitto must deliver everything");
    assert!(started.elapsed() < ms(20_000));
    assert!(b.alive());
    let log = b.stop();
    assert!(log.contains("bridge not started"), "{log}");
    let queued = final_counter(&log, "queued");
    let dropped = final_counter(&log, "dropped_queue_full");
    let unsent = final_counter(&log, "unsent_at_shutdown");
    assert_eq!(final_counter(&log, "publish"), 300);
    // every emitted event for the rule is accounted for: queued or dropped, and nothing was handed over
    // to a bridge that never started
    assert!(queued + dropped >= 300, "{log}");
    assert!(dropped > 0, "the 64 KiB queue must overflow: {log}");
    assert_eq!(final_counter(&log, "handed_over"), 0);
    assert_eq!(unsent, queued, "{log}");
}

/// A name server that accepts every connection and never answers (holds the sockets until dropped).
struct SilentPeer {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentPeer {
    fn start() -> SilentPeer {
        use std::sync::atomic::{AtomicBool, Ordering};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let st = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => held.push(c),
                    Err(_) => std::thread::sleep(ms(5)),
                }
            }
        });
        SilentPeer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SilentPeer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Issue 18 case 9: unload never waits past `drain_timeout` + `STOP_MARGIN`, even when the forwarder is
/// stuck on a RocketMQ peer that never answers, and mosquitto then exits cleanly (the left thread's code
/// stays loaded).
#[test]
fn unload_is_bounded_when_rocketmq_never_answers() {
    use rocketmq_bridge_mosquitto::forward::STOP_MARGIN;
    let peer = SilentPeer::start();
    let dir = temp_dir("silent");
    let bridge_conf = dir.join("bridge.conf");
    std::fs::write(
        &bridge_conf,
        format!(
            "bridge.rocket.servers = 127.0.0.1:{}\nbridge.rocket.drain_timeout = 300ms\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"MessagePublish\"}}\n",
            peer.port
        ),
    )
    .unwrap();
    let b = Broker::start(&dir, &open_broker_body(&bridge_conf, &[]));
    for i in 0..20 {
        assert!(publish(b.port, &["-t", "s/1", "-m", &format!("m{i}")]));
    }
    let (status, took, log) = b.stop_timed();
    eprintln!("mosquitto exited {status} {took:?} after SIGTERM");
    assert!(
        status.success(),
        "mosquitto must exit cleanly: {status}\n{log}"
    );
    // drain_timeout + STOP_MARGIN, plus mosquitto's own shutdown and the test's polling
    assert!(
        took < ms(300) + STOP_MARGIN + ms(700),
        "unload took {took:?}\n{log}"
    );
    assert_eq!(final_counter(&log, "publish"), 20);
    assert_eq!(final_counter(&log, "queued"), 20);
    assert_eq!(
        final_counter(&log, "handed_over") + final_counter(&log, "unsent_at_shutdown"),
        20,
        "{log}"
    );
}
