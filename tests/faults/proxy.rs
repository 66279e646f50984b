//! The test fault proxy (`rocketmq_bridge_test_support::fault_proxy`) between a `Connection` and the real
//! rocketmq-rust broker started by `scripts/rocketmq.sh`: answers in pass mode, a timeout in stall
//! mode, `ConnectionClosed` in cut mode, answers (slowly) in trickle mode, refused connects in
//! refuse mode.

use rocketmq_bridge_test_support as support;

use rocketmq_bridge::remoting::codes::{HEART_BEAT, SUCCESS};
use rocketmq_bridge::remoting::{Connection, ConnectionConfig, Error, RemotingCommand};
use std::time::Instant;
use support::fault_proxy::{FaultProxy, Mode};
use support::{ms, shared_cluster};

/// A producer heartbeat. Each test uses its own client id: the broker may close an older
/// connection when another one registers the same id.
fn heartbeat_as(client: &str) -> RemotingCommand {
    let body = format!(
        r#"{{"clientID":"{client}","consumerDataSet":[],"heartbeatFingerprint":0,"producerDataSet":[{{"groupName":"g_{client}"}}],"withoutSub":false}}"#
    );
    RemotingCommand::request(HEART_BEAT).with_body(body.into_bytes())
}

fn connect(addr: &str) -> Connection {
    Connection::connect(addr, &ConnectionConfig::default()).unwrap()
}

#[test]
fn pass_mode_answers_and_a_stall_times_out_then_recovers() {
    let heartbeat = || heartbeat_as("proxy0@1");
    let cluster = shared_cluster(1, 1);
    let proxy = FaultProxy::start(&cluster.brokers[0].1);
    let conn = connect(&proxy.addr);
    assert_eq!(conn.invoke(&heartbeat(), ms(3000)).unwrap().code, SUCCESS);
    let (up, down) = proxy.bytes();
    assert!(up > 0 && down > 0);

    proxy.set_mode(Mode::Stall);
    let t0 = Instant::now();
    let e = conn.invoke(&heartbeat(), ms(400)).unwrap_err();
    assert!(e.is_timeout() && e.outcome_unknown(), "{e:?}");
    assert!(t0.elapsed() >= ms(400));
    assert!(conn.is_alive(), "a stall does not close anything");
    assert_eq!(proxy.bytes(), (up, down), "nothing forwarded while stalled");

    // The held request flows on; its late answer is dropped and new requests get theirs.
    proxy.set_mode(Mode::Pass);
    let r = conn.invoke(&heartbeat(), ms(3000)).unwrap();
    assert_eq!(r.code, SUCCESS);
    assert_eq!(proxy.accepted(), 1);
}

#[test]
fn cut_mode_closes_mid_frame_and_the_caller_sees_connection_closed() {
    let heartbeat = || heartbeat_as("proxy1@1");
    let cluster = shared_cluster(1, 1);
    let proxy = FaultProxy::start(&cluster.brokers[0].1);
    let conn = connect(&proxy.addr);
    assert_eq!(conn.invoke(&heartbeat(), ms(3000)).unwrap().code, SUCCESS);
    let down_before = proxy.bytes().1;
    proxy.set_mode(Mode::CutMidFrame);
    match conn.invoke(&heartbeat(), ms(3000)) {
        Err(Error::ConnectionClosed { request_sent, .. }) => assert!(request_sent),
        other => panic!("{other:?}"),
    }
    let t0 = Instant::now();
    while conn.is_alive() && t0.elapsed() < ms(2000) {
        std::thread::sleep(ms(5));
    }
    assert!(!conn.is_alive());
    assert!(
        proxy.bytes().1 > down_before,
        "part of the answer was forwarded"
    );
    // A new connection in pass mode works.
    proxy.set_mode(Mode::Pass);
    let conn = connect(&proxy.addr);
    assert_eq!(conn.invoke(&heartbeat(), ms(3000)).unwrap().code, SUCCESS);
}

#[test]
fn trickle_mode_still_gets_answers() {
    let heartbeat = || heartbeat_as("proxy2@1");
    let cluster = shared_cluster(1, 1);
    let proxy = FaultProxy::start(&cluster.brokers[0].1);
    let conn = connect(&proxy.addr);
    proxy.set_mode(Mode::Trickle(ms(1)));
    let (up0, down0) = proxy.bytes();
    let t0 = Instant::now();
    let r = conn.invoke(&heartbeat(), ms(20_000)).unwrap();
    let took = t0.elapsed();
    assert_eq!(r.code, SUCCESS);
    let (up, down) = proxy.bytes();
    // One byte per millisecond at most, request and answer one after the other.
    let bytes = (up - up0) + (down - down0);
    assert!(bytes > 100, "{bytes}");
    assert!(took >= ms(bytes - 2), "{bytes} bytes in {took:?}");
    println!("trickle: {bytes} bytes in {took:?}");
}

#[test]
fn refuse_mode_closes_connections_and_refuses_new_ones_until_switched_back() {
    let heartbeat = || heartbeat_as("proxy3@1");
    let cluster = shared_cluster(1, 1);
    let proxy = FaultProxy::start(&cluster.brokers[0].1);
    let conn = connect(&proxy.addr);
    assert_eq!(conn.invoke(&heartbeat(), ms(3000)).unwrap().code, SUCCESS);
    proxy.set_mode(Mode::Refuse);
    let t0 = Instant::now();
    while conn.is_alive() && t0.elapsed() < ms(2000) {
        std::thread::sleep(ms(5));
    }
    assert!(!conn.is_alive(), "open connections are closed");
    // The acceptor closes the port within one poll; until then a connect may still get through.
    let t0 = Instant::now();
    let refused = loop {
        match Connection::connect(&proxy.addr, &ConnectionConfig::default()) {
            Err(e @ Error::Connect { .. }) => break e,
            Err(e) => panic!("{e:?}"),
            Ok(c) => {
                assert!(t0.elapsed() < ms(3000), "still accepting after 3 s");
                drop(c);
                std::thread::sleep(ms(10));
            }
        }
    };
    assert!(refused.not_sent());
    proxy.set_mode(Mode::Pass);
    let t0 = Instant::now();
    let conn = loop {
        match Connection::connect(&proxy.addr, &ConnectionConfig::default()) {
            Ok(c) => break c,
            Err(e) if t0.elapsed() < ms(3000) => {
                let _ = e;
                std::thread::sleep(ms(20));
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(conn.invoke(&heartbeat(), ms(3000)).unwrap().code, SUCCESS);
}

/// The same modes in front of the scripted fake peer (no cluster needed), on one connection.
#[test]
fn modes_switch_on_an_open_connection_to_the_fake_peer() {
    let peer = support::FakePeer::start(support::Script::Answer);
    let proxy = FaultProxy::start(&peer.addr);
    let conn = connect(&proxy.addr);
    let req = || RemotingCommand::request(HEART_BEAT).with_ext("id", "x");
    assert_eq!(
        conn.invoke(&req(), ms(3000)).unwrap().ext("echo"),
        Some("x")
    );
    proxy.set_mode(Mode::Trickle(ms(1)));
    assert_eq!(conn.invoke(&req(), ms(10_000)).unwrap().code, SUCCESS);
    proxy.set_mode(Mode::Stall);
    assert!(conn.invoke(&req(), ms(200)).unwrap_err().is_timeout());
    proxy.set_mode(Mode::Pass);
    assert_eq!(conn.invoke(&req(), ms(3000)).unwrap().code, SUCCESS);
    proxy.set_mode(Mode::CutMidFrame);
    assert!(matches!(
        conn.invoke(&req(), ms(3000)),
        Err(Error::ConnectionClosed {
            request_sent: true,
            ..
        })
    ));
    assert!(
        peer.wait_client_closed(ms(2000)),
        "the proxy closed the peer side too"
    );
}
