//! `rocketmq-bridge mqtt` against a scripted broker that floods it: what it keeps of the packets
//! it cannot hand over yet (before the SUBACK, and while a send is retried) stays bounded in
//! bytes, a small message does not keep a whole read buffer alive, and nothing is acknowledged
//! that the bridge did not accept. No RocketMQ is needed: async mode with a spool accepts
//! without one, and sync mode with a dead name server never accepts.
//!
//! The bridge process helpers are `source.rs`'s; the scripted-broker ones are this file's.

use crate::source::{rss_kb, spawn_bridge, term_and_wait};
use bytes::{Bytes, BytesMut};
use rocketmq_bridge::mqtt::{
    decode_packet, encode_to_vec, ConnAck, MqttLimits, Packet, Properties, Publish, QoS,
    ReasonCode, SubAck, Version,
};
use rocketmq_bridge_test_support::mosquitto as mosq;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One packet from the bridge within `within` (`None`: none came, or the connection ended).
fn read_packet(s: &mut TcpStream, buf: &mut BytesMut, within: Duration) -> Option<Packet> {
    let lim = MqttLimits::default();
    let end = Instant::now() + within;
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
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

fn bytes_of(p: &Packet) -> Vec<u8> {
    encode_to_vec(p, Version::V5, &MqttLimits::default()).unwrap()
}

fn publish(qos: QoS, id: u16, payload: Bytes) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: "t/1".to_owned(),
        packet_id: (qos != QoS::AtMostOnce).then_some(id),
        properties: Properties::default(),
        payload,
    })
}

/// A free loopback address nothing listens on.
fn dead_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A broker port and a config for it with the name server `ns`; `produce` is the produce lines.
fn setup(name: &str, ns: &str, produce: &str) -> (PathBuf, TcpListener, PathBuf) {
    let dir = mosq::temp_dir(name);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = dir.join("bridge.conf");
    let mut produce = produce.replace("SPOOL", &dir.join("spool").display().to_string());
    if !produce.contains("connect_timeout") {
        produce.push_str("\nbridge.rocket.mqtt.connect_timeout = 3s");
    }
    std::fs::write(
        &config,
        format!(
            "bridge.rocket.servers = {ns}\n{produce}\nbridge.rocket.stats_interval = 0s\n\
             bridge.rocket.drain_timeout = 1s\n\
             bridge.rocket.hook.message.publish.1 = {{\"filter\": \"t/#\", \"topic\": \"T\"}}\n\
             bridge.rocket.mqtt.server = 127.0.0.1:{port}\nbridge.rocket.mqtt.keepalive = 30s\n\
             bridge.rocket.mqtt.reconnect_min = 50ms\n\
             bridge.rocket.mqtt.reconnect_max = 100ms\n"
        ),
    )
    .unwrap();
    (dir, listener, config)
}

/// Accepts the bridge's connection (within 10 s) and reads its CONNECT (within 5 s).
fn accept_connect(listener: &TcpListener, buf: &mut BytesMut) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("the bridge did not connect: {e}"),
        }
    };
    s.set_nonblocking(false).unwrap();
    let first = read_packet(&mut s, buf, Duration::from_secs(5));
    assert!(matches!(first, Some(Packet::Connect(_))), "{first:?}");
    s
}

/// Accepts the bridge's connection and answers its CONNECT; the SUBSCRIBE read, its id returned.
fn handshake(listener: &TcpListener, buf: &mut BytesMut) -> (TcpStream, u16) {
    let mut s = accept_connect(listener, buf);
    s.write_all(&bytes_of(&Packet::ConnAck(ConnAck {
        session_present: false,
        code: ReasonCode::SUCCESS,
        properties: Properties::default(),
    })))
    .unwrap();
    let Some(Packet::Subscribe(sub)) = read_packet(&mut s, buf, Duration::from_secs(5)) else {
        panic!("no SUBSCRIBE")
    };
    (s, sub.packet_id)
}

fn suback(id: u16) -> Packet {
    Packet::SubAck(SubAck {
        packet_id: id,
        codes: vec![ReasonCode::GRANTED_QOS_1],
        properties: Properties::default(),
    })
}

/// Peak RSS of `pid` over `d`, sampled every 20 ms.
fn peak_rss_over(pid: u32, d: Duration) -> u64 {
    let end = Instant::now() + d;
    let mut peak = 0;
    while Instant::now() < end {
        peak = peak.max(rss_kb(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
    peak
}

/// 96 PUBLISH packets of 1 MiB before the SUBACK: the bridge keeps at most 32 MiB of them, then
/// ends the connection with a clean error and connects again (was: all 96 MiB kept, and up to
/// 65,536 packets of up to the packet limit).
#[test]
fn publishes_before_the_suback_are_kept_within_a_byte_budget() {
    let (dir, listener, config) = setup(
        "hostile-early-bytes",
        &dead_addr(),
        "bridge.rocket.produce = async\nbridge.rocket.spool.dir = SPOOL",
    );
    let log = dir.join("bridge.stderr");
    let mut child = spawn_bridge(&config, &log);
    let pid = child.id();
    let mut buf = BytesMut::new();
    let (s, _) = handshake(&listener, &mut buf);
    let mut w = s.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let writer = std::thread::spawn(move || {
        let one = bytes_of(&publish(
            QoS::AtMostOnce,
            0,
            Bytes::from(vec![b'x'; (1 << 20) - 100]),
        ));
        (0..96).take_while(|_| w.write_all(&one).is_ok()).count()
    });
    let peak = peak_rss_over(pid, Duration::from_millis(2500));
    let written = writer.join().unwrap();
    // It connects again, and that connection works.
    let mut buf = BytesMut::new();
    let (mut s2, id) = handshake(&listener, &mut buf);
    s2.write_all(&bytes_of(&suback(id))).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    term_and_wait(&mut child, Duration::from_secs(10));
    drop(s);
    let err = std::fs::read_to_string(&log).unwrap();
    println!("96 MiB before the SUBACK: {written} written, peak RSS {peak} kB\n{err}");
    assert!(
        err.contains("the broker sent PUBLISH while waiting for SUBACK (too many packets held"),
        "{err}"
    );
    assert!(peak > 0 && peak < 56 * 1024, "RSS {peak} kB");
}

/// Small PUBLISH packets that each come in a read of their own, before the SUBACK: each is kept
/// in a copy of its own size, not as a slice that keeps its 64 KiB read buffer alive (was: about
/// 64 KiB per kept message, 125 MiB for 2,000 of them); all are forwarded after the SUBACK.
#[test]
fn small_messages_read_one_at_a_time_do_not_each_keep_a_read_buffer() {
    let (dir, listener, config) = setup(
        "hostile-pinned",
        &dead_addr(),
        "bridge.rocket.produce = async\nbridge.rocket.spool.dir = SPOOL",
    );
    let log = dir.join("bridge.stderr");
    let mut child = spawn_bridge(&config, &log);
    let pid = child.id();
    let mut buf = BytesMut::new();
    let (mut s, id) = handshake(&listener, &mut buf);
    s.set_nodelay(true).unwrap();
    let n = 2000;
    let mut peak = 0;
    for i in 0..n {
        s.write_all(&bytes_of(&publish(
            QoS::AtMostOnce,
            0,
            Bytes::from(format!("m{i}")),
        )))
        .unwrap();
        // Let the bridge read it alone.
        std::thread::sleep(Duration::from_micros(300));
        if i % 100 == 0 {
            peak = peak.max(rss_kb(pid));
        }
    }
    peak = peak.max(peak_rss_over(pid, Duration::from_millis(200)));
    s.write_all(&bytes_of(&suback(id))).unwrap();
    let forwarded = rocketmq_bridge_test_support::eventually(Duration::from_secs(10), || {
        // The summary is printed at the end only; wait for the spool to have taken them.
        std::fs::read_dir(dir.join("spool")).is_ok_and(|d| d.count() > 0)
    });
    std::thread::sleep(Duration::from_millis(500));
    term_and_wait(&mut child, Duration::from_secs(10));
    let err = std::fs::read_to_string(&log).unwrap();
    println!("{n} small messages before the SUBACK: peak RSS {peak} kB\n{err}");
    assert!(forwarded, "{err}");
    assert!(err.contains(&format!("{n} PUBLISH received")), "{err}");
    assert!(peak > 0 && peak < 48 * 1024, "RSS {peak} kB");
}

/// Sync mode, the RocketMQ broker unreachable (a name server routes to a closed port): the first QoS 1 message is never accepted, so never
/// acknowledged, while its send is retried; a flood of 1 MiB QoS 0 messages (which no receive
/// maximum limits) meanwhile is read only up to 32 MiB, the rest left to TCP flow control, and
/// the connection stays up (was: every packet kept, up to 65,536 of up to the packet limit).
#[test]
fn a_flood_while_a_send_is_retried_is_left_unread_past_a_byte_budget_and_nothing_is_acknowledged() {
    let ns = rocketmq_bridge_test_support::FakeNameServer::start(&dead_addr());
    let (dir, listener, config) = setup(
        "hostile-retry-flood",
        &ns.addr,
        "bridge.rocket.produce = sync\nbridge.rocket.produce.sync_timeout = 1s",
    );
    let log = dir.join("bridge.stderr");
    let mut child = spawn_bridge(&config, &log);
    let pid = child.id();
    let mut buf = BytesMut::new();
    let (mut s, id) = handshake(&listener, &mut buf);
    s.write_all(&bytes_of(&suback(id))).unwrap();
    s.write_all(&bytes_of(&publish(
        QoS::AtLeastOnce,
        1,
        Bytes::from_static(b"first"),
    )))
    .unwrap();
    // Wait for the first failed attempt, so the flood meets the retry loop.
    let retrying = rocketmq_bridge_test_support::eventually(Duration::from_secs(15), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("send failed, trying again")
    });
    assert!(
        retrying,
        "no retry: {}",
        std::fs::read_to_string(&log).unwrap()
    );
    let mut w = s.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let writer = std::thread::spawn(move || {
        let one = bytes_of(&publish(
            QoS::AtMostOnce,
            0,
            Bytes::from(vec![b'y'; (1 << 20) - 100]),
        ));
        (0..96).take_while(|_| w.write_all(&one).is_ok()).count()
    });
    let peak = peak_rss_over(pid, Duration::from_millis(3000));
    let written = writer.join().unwrap();
    // Nothing acknowledged; the connection is still the first one.
    let mut got = Vec::new();
    while let Some(p) = read_packet(&mut s, &mut buf, Duration::from_millis(300)) {
        got.push(p);
    }
    assert!(
        !got.iter().any(|p| matches!(p, Packet::PubAck(_))),
        "acknowledged before acceptance: {got:?}"
    );
    assert!(listener.accept().is_err(), "the bridge connected again");
    term_and_wait(&mut child, Duration::from_secs(15));
    let err = std::fs::read_to_string(&log).unwrap();
    println!("flood during a retry: {written} MiB written, peak RSS {peak} kB\n{err}");
    assert!(written < 96, "all 96 MiB were taken");
    assert!(peak > 0 && peak < 64 * 1024, "RSS {peak} kB");
    assert!(!err.contains("reconnecting"), "{err}");
}

/// Answers a CONNECT with a CONNACK saying whether a session is present; with none, also
/// answers the SUBSCRIBE. The stream is returned ready for messages.
fn connect_with_session(listener: &TcpListener, present: bool) -> (TcpStream, BytesMut) {
    let mut buf = BytesMut::new();
    let mut s = accept_connect(listener, &mut buf);
    s.write_all(&bytes_of(&Packet::ConnAck(ConnAck {
        session_present: present,
        code: ReasonCode::SUCCESS,
        properties: Properties::default(),
    })))
    .unwrap();
    if !present {
        let Some(Packet::Subscribe(sub)) = read_packet(&mut s, &mut buf, Duration::from_secs(5))
        else {
            panic!("no SUBSCRIBE")
        };
        s.write_all(&bytes_of(&suback(sub.packet_id))).unwrap();
    }
    (s, buf)
}

/// A QoS 2 packet id answered with PUBREC belongs to the session it was answered in: when the
/// broker says the session is gone (CONNACK without a session), a later message that reuses the
/// id with DUP set (its first copy lost with a connection of the new session) is a new message
/// and is forwarded (was: answered with PUBREC as a copy of the old one, without an event: lost).
#[test]
fn qos_2_ids_of_a_lost_session_do_not_swallow_a_new_message() {
    let (dir, listener, config) = setup(
        "hostile-lost-session",
        &dead_addr(),
        "bridge.rocket.produce = async\nbridge.rocket.spool.dir = SPOOL\n\
         bridge.rocket.mqtt.qos = 2",
    );
    let log = dir.join("bridge.stderr");
    let mut child = spawn_bridge(&config, &log);
    let qos2 = |id: u16, dup: bool, payload: &'static [u8]| {
        let Packet::Publish(mut p) = publish(QoS::ExactlyOnce, id, Bytes::from_static(payload))
        else {
            unreachable!()
        };
        p.dup = dup;
        bytes_of(&Packet::Publish(p))
    };
    // Session 1: message "a" as id 7, PUBREC; the connection ends before PUBREL.
    let (mut s, mut buf) = connect_with_session(&listener, false);
    s.write_all(&qos2(7, false, b"a")).unwrap();
    let rec = read_packet(&mut s, &mut buf, Duration::from_secs(5));
    assert!(
        matches!(rec, Some(Packet::PubRec(ref a)) if a.packet_id == 7),
        "{rec:?}"
    );
    drop(s);
    // The broker lost the session; its first connection ends before "b" (id 7) was read.
    let (s, _) = connect_with_session(&listener, false);
    drop(s);
    // The new session resumed: "b" comes again, with DUP.
    let (mut s, mut buf) = connect_with_session(&listener, true);
    s.write_all(&qos2(7, true, b"b")).unwrap();
    let rec = read_packet(&mut s, &mut buf, Duration::from_secs(5));
    assert!(
        matches!(rec, Some(Packet::PubRec(ref a)) if a.packet_id == 7),
        "{rec:?}"
    );
    term_and_wait(&mut child, Duration::from_secs(10));
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(err.contains("2 PUBLISH received"), "{err}");
    assert!(
        err.contains("2 appended"),
        "message b was not forwarded: {err}"
    );
}

/// Async mode with a spool that cannot write (its next segment's name is taken by a directory,
/// as a full disk would refuse the file): a message the spool did not store was not accepted, so
/// it is not acknowledged but tried again; every PUBACK is of a stored message (was: dropped as
/// `spool_error` and acknowledged, so the broker forgot it: lost).
#[test]
fn a_message_the_spool_could_not_store_is_not_acknowledged() {
    let (dir, listener, config) = setup(
        "hostile-spool-error",
        &dead_addr(),
        "bridge.rocket.produce = async\nbridge.rocket.spool.dir = SPOOL\n\
         bridge.rocket.spool.segment_size = 64KB\nbridge.rocket.spool.max_bytes = 1MB",
    );
    let log = dir.join("bridge.stderr");
    let mut child = spawn_bridge(&config, &log);
    let mut buf = BytesMut::new();
    let (mut s, id) = handshake(&listener, &mut buf);
    s.write_all(&bytes_of(&suback(id))).unwrap();
    // The spool is open: from now on no new segment can be made.
    let spool = dir.join("spool");
    for seq in 1..=400u64 {
        let _ = std::fs::create_dir(spool.join(format!("seg-{seq:020}.spool")));
    }
    let n = 200u16;
    for i in 1..=n {
        let p = publish(QoS::AtLeastOnce, i, Bytes::from(vec![b'p'; 1024]));
        s.write_all(&bytes_of(&p)).unwrap();
    }
    let mut acks = 0;
    while let Some(p) = read_packet(&mut s, &mut buf, Duration::from_millis(1500)) {
        if matches!(p, Packet::PubAck(_)) {
            acks += 1;
        }
    }
    term_and_wait(&mut child, Duration::from_secs(15));
    let err = std::fs::read_to_string(&log).unwrap();
    println!("spool that cannot roll: {acks} PUBACKs of {n}\n{err}");
    let appended: u64 = err
        .split(" appended")
        .next()
        .and_then(|h| h.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no appended count in {err}"));
    assert!(appended < u64::from(n), "the spool stored all: {err}");
    assert_eq!(
        acks, appended,
        "acknowledged what the spool did not store: {err}"
    );
}

/// SIGTERM while the broker keeps the CONNACK (or the SUBACK) back ends the subcommand at once,
/// not once `mqtt.connect_timeout` (here 60 s) passed (was: the wait ran out first).
#[test]
fn sigterm_while_the_broker_keeps_the_connack_back_ends_it_at_once() {
    let (dir, listener, config) = setup(
        "hostile-slow-connack",
        &dead_addr(),
        "bridge.rocket.produce = async\nbridge.rocket.spool.dir = SPOOL\n\
         bridge.rocket.mqtt.connect_timeout = 60s",
    );
    let log = dir.join("bridge.stderr");
    let mut child = spawn_bridge(&config, &log);
    let mut buf = BytesMut::new();
    let mut s = accept_connect(&listener, &mut buf);
    // One byte of a CONNACK, then nothing.
    s.write_all(&[0x20]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let status = term_and_wait(&mut child, Duration::from_secs(30));
    let took = start.elapsed();
    let err = std::fs::read_to_string(&log).unwrap();
    println!("SIGTERM while waiting for the CONNACK: exit after {took:?}\n{err}");
    assert!(took < Duration::from_secs(5), "{took:?}: {err}");
    assert!(err.contains("ended by SIGTERM"), "{err}");
    assert!(status.code().is_some(), "{status:?}");
}

/// One connection per misbehaviour, each a clean error and a reconnect, nothing acknowledged: a
/// QoS 1 PUBLISH with packet id 0, a wildcard topic name, an empty topic without an alias; a
/// PUBREL of an unknown id is answered with PUBCOMP, and a DISCONNECT behind it ends the
/// connection; a refused subscription ends the subcommand with exit code 2.
#[test]
fn malformed_publishes_a_stray_pubrel_and_a_refused_subscription_end_cleanly() {
    let (dir, listener, config) = setup(
        "hostile-misc",
        &dead_addr(),
        "bridge.rocket.produce = async\nbridge.rocket.spool.dir = SPOOL",
    );
    let log = dir.join("bridge.stderr");
    let start = Instant::now();
    let mut child = spawn_bridge(&config, &log);
    let bad: [&[u8]; 3] = [
        // QoS 1, topic "t/1", packet id 0, no properties, payload "x".
        &[0x32, 9, 0, 3, b't', b'/', b'1', 0, 0, 0, b'x'],
        // QoS 0, topic "t/+".
        &[0x30, 7, 0, 3, b't', b'/', b'+', 0, b'x'],
        // QoS 0, empty topic, no topic alias.
        &[0x30, 4, 0, 0, 0, b'x'],
    ];
    for (step, bytes) in bad.iter().enumerate() {
        let mut buf = BytesMut::new();
        let (mut s, id) = handshake(&listener, &mut buf);
        s.write_all(&bytes_of(&suback(id))).unwrap();
        s.write_all(bytes).unwrap();
        let mut got = Vec::new();
        while let Some(p) = read_packet(&mut s, &mut buf, Duration::from_millis(500)) {
            got.push(p);
        }
        assert!(
            !got.iter().any(|p| matches!(p, Packet::PubAck(_))),
            "step {step}: {got:?}"
        );
    }
    // A PUBREL of an id never seen, then DISCONNECT.
    let mut buf = BytesMut::new();
    let (mut s, id) = handshake(&listener, &mut buf);
    s.write_all(&bytes_of(&suback(id))).unwrap();
    s.write_all(&bytes_of(&Packet::PubRel(rocketmq_bridge::mqtt::Ack::new(
        9,
    ))))
    .unwrap();
    let comp = read_packet(&mut s, &mut buf, Duration::from_secs(5));
    assert!(
        matches!(comp, Some(Packet::PubComp(ref a)) if a.packet_id == 9),
        "{comp:?}"
    );
    s.write_all(&bytes_of(&Packet::Disconnect(
        rocketmq_bridge::mqtt::Disconnect {
            reason: ReasonCode(0x8B),
            properties: Properties::default(),
        },
    )))
    .unwrap();
    // A refused subscription: the end.
    let mut buf = BytesMut::new();
    let (mut s, id) = handshake(&listener, &mut buf);
    s.write_all(&bytes_of(&Packet::SubAck(SubAck {
        packet_id: id,
        codes: vec![ReasonCode(0x87)],
        properties: Properties::default(),
    })))
    .unwrap();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = std::fs::read_to_string(&log).unwrap();
    println!("{err}");
    assert_eq!(status.code(), Some(2), "{err}");
    assert_eq!(
        err.matches("the broker sent an invalid packet").count()
            + err.matches("PUBLISH with a topic alias").count(),
        3,
        "{err}"
    );
    assert!(
        err.contains("the broker sent DISCONNECT, code 0x8b"),
        "{err}"
    );
    assert!(
        err.contains("refused the subscription \"t/#\", code 0x87: giving up"),
        "{err}"
    );
}
