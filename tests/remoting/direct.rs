//! The direct (reader-less) connection against a scripted fake peer, for what a real broker cannot
//! be made to do: stall, cut a frame in half, answer with an unknown opaque, send garbage, announce
//! 2 GiB, send requests of its own while the connection is idle, and close while it is idle. The
//! producer's sync sends use this connection; `producer::real` covers it against the real brokers.
//!
//! Upper bounds on waits are generous (seconds): they tell "woke because of the event" from "hung
//! until a long timeout" on a loaded 2-core machine; they are not performance asserts.

use rocketmq_bridge_test_support as support;

use rocketmq_bridge::remoting::codec::DecodeError;
use rocketmq_bridge::remoting::{
    ConnectionConfig, DirectConnection, Error, RemotingCommand, FLAG_RESPONSE,
};
use std::time::Instant;
use support::{eventually, ms, FakePeer, Script};

fn connect(peer: &FakePeer) -> DirectConnection {
    DirectConnection::connect(&peer.addr, &ConnectionConfig::default()).unwrap()
}

fn req(id: &str) -> RemotingCommand {
    RemotingCommand::request(105).with_ext("id", id)
}

#[test]
fn requests_one_after_another_get_their_own_answers() {
    let peer = FakePeer::start(Script::Answer);
    let mut conn = connect(&peer);
    for i in 0..50 {
        let r = req(&format!("n{i}"));
        assert!(conn.check_idle(), "request {i}");
        let resp = conn.invoke(&r, ms(2000)).unwrap();
        assert_eq!(
            (resp.opaque, resp.flag, resp.ext("echo")),
            (r.opaque, FLAG_RESPONSE, Some(format!("n{i}").as_str()))
        );
    }
    assert!(!conn.is_broken());
    assert_eq!(peer.received.lock().unwrap().len(), 50);
}

#[test]
fn stalled_peer_times_out_within_the_deadline_and_breaks_the_connection() {
    let peer = FakePeer::start(Script::StallFirst(ms(3000)));
    let mut conn = connect(&peer);
    let first = req("first");
    let t0 = Instant::now();
    let err = conn.invoke(&first, ms(100)).unwrap_err();
    let waited = t0.elapsed();
    match &err {
        Error::Timeout { opaque, .. } => assert_eq!(*opaque, first.opaque),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(err.outcome_unknown());
    assert!(
        waited >= ms(100) && waited < ms(2100),
        "waited {waited:?} for a 100 ms timeout"
    );
    // A late answer could be taken for the next request's: the connection is not used again.
    assert!(conn.is_broken());
    assert!(!conn.check_idle());
    match conn.invoke(&req("next"), ms(1000)) {
        Err(
            e @ Error::ConnectionClosed {
                request_sent: false,
                ..
            },
        ) => assert!(e.not_sent()),
        other => panic!("expected ConnectionClosed before sending, got {other:?}"),
    }
}

#[test]
fn frame_cut_in_half_is_connection_closed_after_the_request_left() {
    let peer = FakePeer::start(Script::CutFrameAndClose { after: 1 });
    let mut conn = connect(&peer);
    let t0 = Instant::now();
    match conn.invoke(&req("cut"), ms(5000)) {
        Err(
            e @ Error::ConnectionClosed {
                request_sent: true, ..
            },
        ) => assert!(e.outcome_unknown()),
        other => panic!("expected ConnectionClosed, got {other:?}"),
    }
    assert!(t0.elapsed() < ms(4000), "woke after {:?}", t0.elapsed());
    assert!(conn.is_broken());
}

#[test]
fn response_with_unknown_opaque_is_skipped() {
    let peer = FakePeer::start(Script::UnknownOpaqueFirst);
    let mut conn = connect(&peer);
    for i in 0..3 {
        let r = req(&format!("r{i}"));
        assert!(conn.check_idle());
        let resp = conn.invoke(&r, ms(2000)).unwrap();
        assert_eq!(resp.opaque, r.opaque);
        assert_eq!(resp.ext("echo"), Some(format!("r{i}").as_str()));
    }
    assert!(!conn.is_broken());
}

#[test]
fn garbage_is_a_decode_error_without_panicking() {
    for seed in [1u64, 2, 3, 0xDEAD_BEEF] {
        let peer = FakePeer::start(Script::Garbage { n: 300, seed });
        let mut conn = connect(&peer);
        match conn.invoke(&req("g"), ms(5000)) {
            Err(
                e @ Error::Decode {
                    source: DecodeError::UnknownSerializeType(0x7E),
                    ..
                },
            ) => assert!(e.outcome_unknown()),
            other => panic!("seed {seed}: expected a decode error, got {other:?}"),
        }
        assert!(conn.is_broken(), "seed {seed}");
        drop(conn);
        assert!(peer.wait_client_closed(ms(2000)), "seed {seed}");
    }
}

#[test]
fn a_frame_announcing_2_gib_is_refused() {
    let mut raw = vec![0x80, 0, 0, 0, 0, 0, 0, 0];
    raw.extend_from_slice(&[0xAB; 4096]);
    let peer = FakePeer::start(Script::Raw(raw));
    let mut conn = connect(&peer);
    match conn.invoke(&req("x"), ms(5000)) {
        Err(Error::Decode {
            source: DecodeError::FrameTooLarge { len, max },
            ..
        }) => assert_eq!((len, max), ((1 << 31) + 4, 16 * 1024 * 1024)),
        other => panic!("expected FrameTooLarge, got {other:?}"),
    }
    assert!(conn.is_broken());
}

#[test]
fn peer_requests_while_idle_are_answered_by_the_idle_check() {
    let peer = FakePeer::start(Script::PeerRequests);
    let mut conn = connect(&peer);
    // Nobody reads an idle direct connection: the check before the next use does.
    assert!(
        eventually(ms(3000), || {
            assert!(conn.check_idle(), "the connection broke");
            !peer.answers.lock().unwrap().is_empty()
        }),
        "no answer to the peer request"
    );
    let r = req("mine");
    assert_eq!(conn.invoke(&r, ms(2000)).unwrap().ext("echo"), Some("mine"));
    let answers = peer.answers.lock().unwrap().clone();
    assert_eq!(
        answers.len(),
        1,
        "none for the oneway request; got {answers:?}"
    );
    let a = &answers[0];
    assert_eq!((a.code, a.opaque, a.flag), (3, 7777, FLAG_RESPONSE));
    assert_eq!(a.remark.as_deref(), Some(" request type 221 not supported"));
}

#[test]
fn a_peer_that_closed_while_idle_is_noticed_before_writing() {
    let peer = FakePeer::start(Script::Answer);
    let mut conn = connect(&peer);
    conn.invoke(&req("before"), ms(2000)).unwrap();
    drop(peer);
    assert!(
        eventually(ms(3000), || !conn.check_idle()),
        "the close was not noticed"
    );
    assert!(conn.is_broken());
}

#[test]
fn connect_to_a_closed_port_is_a_connect_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    match DirectConnection::connect(&addr, &ConnectionConfig::default()) {
        Err(e @ Error::Connect { .. }) => assert!(e.not_sent()),
        other => panic!("expected a connect error, got {other:?}"),
    }
}

/// Red team: a broker that reads a large request slowly (256 KiB every 1.5 s, never letting one
/// write call wait out SO_SNDTIMEO) held a 1 s invoke of a 12 MiB request for 46 s (the write
/// timeout bounds one write call, not the request). Now the request's deadline bounds the writes
/// too.
#[test]
fn redteam_a_slowly_reading_peer_does_not_hold_a_send_past_its_deadline() {
    use std::io::Read;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = stop.clone();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(ms(100))).unwrap();
        let mut b = vec![0u8; 256 * 1024];
        let mut total = 0usize;
        let end = Instant::now() + std::time::Duration::from_secs(60);
        while !st.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < end {
            if let Ok(n) = s.read(&mut b) {
                if n == 0 {
                    break;
                }
                total += n;
            }
            std::thread::sleep(ms(1500));
        }
        total
    });
    let cfg = ConnectionConfig::default();
    let mut c = DirectConnection::connect(&addr, &cfg).unwrap();
    let mut r = req("slow");
    r.body = vec![7u8; 12 << 20].into();
    let t0 = Instant::now();
    let res = c.invoke(&r, ms(1000));
    let took = t0.elapsed();
    let c_broken = c.is_broken();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    drop(c);
    let read = peer.join().unwrap();
    eprintln!("invoke ended after {took:?}: {res:?} (peer read {read} bytes)");
    assert!(res.is_err());
    assert!(took < ms(1000) + ms(1500), "invoke took {took:?}");
    assert!(c_broken, "a cut request leaves the connection broken");
}
