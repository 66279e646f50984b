//! The connection against a scripted fake peer, for what a real broker cannot be made to do:
//! stall, cut a frame in half, answer with an unknown opaque, send garbage, announce 2 GiB, and
//! send requests of its own.
//!
//! Upper bounds on waits are generous (seconds): they tell "woke because of the event" from "hung
//! until a long timeout" even on a loaded 2-core machine; they are not performance asserts.

use rocketmq_bridge_test_support as support;

use rocketmq_bridge::remoting::codec::DecodeError;
use rocketmq_bridge::remoting::{
    Connection, ConnectionConfig, Error, RemotingCommand, FLAG_RESPONSE,
};
use std::sync::Arc;
use std::time::Instant;
use support::{eventually, ms, FakePeer, Script};

fn connect(peer: &FakePeer) -> Connection {
    Connection::connect(&peer.addr, &ConnectionConfig::default()).unwrap()
}

fn req(id: &str) -> RemotingCommand {
    RemotingCommand::request(105).with_ext("id", id)
}

#[test]
fn answered_request_reaches_its_caller() {
    let peer = FakePeer::start(Script::Answer);
    let conn = connect(&peer);
    let r = req("one");
    let resp = conn.invoke(&r, ms(2000)).unwrap();
    assert_eq!(
        (resp.opaque, resp.flag, resp.ext("echo")),
        (r.opaque, FLAG_RESPONSE, Some("one"))
    );
    assert_eq!(conn.in_flight(), 0);
}

#[test]
fn stalled_peer_times_out_within_the_deadline_and_the_late_answer_is_dropped() {
    let peer = FakePeer::start(Script::StallFirst(ms(3000)));
    let conn = connect(&peer);
    let first = req("first");
    let t0 = Instant::now();
    let err = conn.invoke(&first, ms(100)).unwrap_err();
    let waited = t0.elapsed();
    match &err {
        Error::Timeout { opaque, .. } => assert_eq!(*opaque, first.opaque),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(err.is_timeout() && err.outcome_unknown());
    assert!(
        waited >= ms(100) && waited < ms(2500),
        "timed out after {waited:?}"
    );
    assert_eq!(
        conn.in_flight(),
        0,
        "the timed-out caller removed its waiter"
    );
    // The next caller is answered after the late answer arrives, and gets its own answer.
    let second = req("second");
    let resp = conn.invoke(&second, ms(10_000)).unwrap();
    assert_eq!(resp.opaque, second.opaque);
    assert_eq!(resp.ext("echo"), Some("second"));
    assert!(conn.is_alive(), "a late answer is not an error");
}

#[test]
fn silent_peer_leaves_no_caller_waiting_past_its_timeout() {
    let peer = FakePeer::start(Script::Silent);
    let conn = Arc::new(connect(&peer));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let conn = Arc::clone(&conn);
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let e = conn
                    .invoke(&req(&i.to_string()), ms(150 + 50 * i))
                    .unwrap_err();
                (e.is_timeout(), t0.elapsed(), ms(150 + 50 * i))
            })
        })
        .collect();
    for t in threads {
        let (timeout, took, limit) = t.join().unwrap();
        assert!(timeout);
        assert!(
            took >= limit && took < limit + ms(2000),
            "waited {took:?} for a {limit:?} timeout"
        );
    }
}

#[test]
fn frame_cut_in_half_wakes_every_waiter_with_connection_closed() {
    let peer = FakePeer::start(Script::CutFrameAndClose { after: 5 });
    let conn = Arc::new(connect(&peer));
    let t0 = Instant::now();
    let pending: Vec<_> = (0..5)
        .map(|i| conn.start_invoke(&req(&i.to_string()), ms(5000)).unwrap())
        .collect();
    for p in pending {
        match p.wait() {
            Err(Error::ConnectionClosed {
                request_sent: true, ..
            }) => {}
            other => panic!("expected ConnectionClosed, got {other:?}"),
        }
    }
    assert!(
        t0.elapsed() < ms(4000),
        "waiters woke after {:?}",
        t0.elapsed()
    );
    assert!(!conn.is_alive());
    // A dead connection refuses new requests at once, saying they were not sent.
    match conn.invoke(&req("late"), ms(1000)) {
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
fn response_with_unknown_opaque_is_ignored() {
    let peer = FakePeer::start(Script::UnknownOpaqueFirst);
    let conn = connect(&peer);
    for i in 0..3 {
        let r = req(&format!("r{i}"));
        let resp = conn.invoke(&r, ms(2000)).unwrap();
        assert_eq!(resp.opaque, r.opaque);
        assert_eq!(
            resp.ext("echo"),
            Some(format!("r{i}").as_str()),
            "the unknown-opaque answer was not handed out"
        );
    }
    assert!(conn.is_alive());
}

#[test]
fn garbage_kills_the_connection_and_wakes_waiters_without_panicking() {
    for seed in [1u64, 2, 3, 0xDEAD_BEEF] {
        let peer = FakePeer::start(Script::Garbage { n: 300, seed });
        let conn = connect(&peer);
        let t0 = Instant::now();
        match conn.invoke(&req("g"), ms(5000)) {
            Err(
                e @ Error::Decode {
                    source: DecodeError::UnknownSerializeType(0x7E),
                    ..
                },
            ) => {
                assert!(e.outcome_unknown())
            }
            other => panic!("seed {seed}: expected a decode error, got {other:?}"),
        }
        assert!(
            t0.elapsed() < ms(4000),
            "seed {seed}: woke after {:?}",
            t0.elapsed()
        );
        assert!(!conn.is_alive());
        // We close our side: the peer sees it.
        assert!(peer.wait_client_closed(ms(2000)), "seed {seed}");
        conn.close().unwrap();
    }
}

#[test]
fn a_frame_announcing_2_gib_is_refused_and_kills_the_connection() {
    let mut raw = vec![0x80, 0, 0, 0, 0, 0, 0, 0];
    raw.extend_from_slice(&[0xAB; 4096]);
    let peer = FakePeer::start(Script::Raw(raw));
    let conn = connect(&peer);
    let t0 = Instant::now();
    match conn.invoke(&req("x"), ms(5000)) {
        Err(Error::Decode {
            source: DecodeError::FrameTooLarge { len, max },
            ..
        }) => {
            assert_eq!((len, max), ((1 << 31) + 4, 16 * 1024 * 1024))
        }
        other => panic!("expected FrameTooLarge, got {other:?}"),
    }
    assert!(t0.elapsed() < ms(4000));
    assert!(!conn.is_alive());
}

#[test]
fn peer_initiated_request_gets_code_3_with_its_opaque_and_oneway_gets_nothing() {
    let peer = FakePeer::start(Script::PeerRequests);
    let conn = connect(&peer);
    assert!(
        eventually(ms(3000), || !peer.answers.lock().unwrap().is_empty()),
        "no answer to the peer request"
    );
    // Requests of our own still work on the same connection meanwhile.
    let r = req("mine");
    assert_eq!(conn.invoke(&r, ms(2000)).unwrap().ext("echo"), Some("mine"));
    let answers = peer.answers.lock().unwrap().clone();
    assert_eq!(
        answers.len(),
        1,
        "exactly one answer: none for the oneway request; got {answers:?}"
    );
    let a = &answers[0];
    assert_eq!((a.code, a.opaque, a.flag), (3, 7777, FLAG_RESPONSE));
    assert_eq!(a.remark.as_deref(), Some(" request type 221 not supported"));
}

#[test]
fn close_joins_the_reader_and_wakes_waiters() {
    let peer = FakePeer::start(Script::Silent);
    let conn = connect(&peer);
    let p = conn.start_invoke(&req("w"), ms(10_000)).unwrap();
    let t0 = Instant::now();
    conn.close().unwrap();
    assert!(matches!(p.wait(), Err(Error::ConnectionClosed { .. })));
    assert!(t0.elapsed() < ms(4000), "close took {:?}", t0.elapsed());
    assert!(peer.wait_client_closed(ms(2000)));
}

#[test]
fn socket_buffer_sizes_are_applied() {
    let peer = FakePeer::start(Script::Answer);
    let mut cfg = ConnectionConfig::default();
    cfg.send_buffer = Some(64 * 1024);
    cfg.recv_buffer = Some(128 * 1024);
    let conn = Connection::connect(&peer.addr, &cfg).unwrap();
    let (snd, rcv) = conn.socket_buffers().unwrap();
    // Linux doubles the requested value for bookkeeping (socket(7)).
    assert_eq!((snd, rcv), (128 * 1024, 256 * 1024));
    let plain = connect(&FakePeer::start(Script::Answer));
    assert_ne!(plain.socket_buffers().unwrap(), (snd, rcv));
}

#[test]
fn connect_to_a_closed_port_fails_fast_with_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t0 = Instant::now();
    let e = Connection::connect(&format!("127.0.0.1:{port}"), &ConnectionConfig::default())
        .unwrap_err();
    assert!(matches!(e, Error::Connect { .. }) && e.not_sent(), "{e:?}");
    assert!(t0.elapsed() < ms(3000));
}

/// A reload's new ACL secret (issue 21): requests are signed with the credentials current when
/// they are signed, so after [`SharedAcl::set`] (what `Bridge::reload` does to the producer's
/// `shared_acl()`, which its name-server client shares) the peer receives the new access key and
/// a signature made with the new secret, on the same connection.
#[test]
fn requests_after_an_acl_swap_are_signed_with_the_new_secret() {
    use rocketmq_bridge::nameserver::NameServerClient;
    use rocketmq_bridge::remoting::acl::{ACCESS_KEY, SIGNATURE};
    use rocketmq_bridge::remoting::{AclCredentials, SharedAcl};
    let peer = FakePeer::start(Script::Answer);
    let old = AclCredentials::new("ak-old", "secret-old");
    let new = AclCredentials::new("ak-new", "secret-new");
    let acl = SharedAcl::new(Some(old.clone()));
    let ns = NameServerClient::with_shared_acl(
        vec![peer.addr.clone()],
        ConnectionConfig::default(),
        ms(5000),
        acl.clone(),
    );
    let last = || peer.received.lock().unwrap().last().cloned().unwrap();
    ns.invoke(&req("before")).unwrap();
    let first = last();
    assert_eq!(first.ext(ACCESS_KEY), Some("ak-old"));
    assert_eq!(
        first.ext(SIGNATURE),
        Some(old.signature_of(&first).as_str())
    );
    acl.set(Some(new.clone()));
    ns.invoke(&req("after")).unwrap();
    let second = last();
    assert_eq!(second.ext("id"), Some("after"));
    assert_eq!(second.ext(ACCESS_KEY), Some("ak-new"));
    assert_eq!(
        second.ext(SIGNATURE),
        Some(new.signature_of(&second).as_str())
    );
    assert_ne!(
        second.ext(SIGNATURE),
        Some(old.signature_of(&second).as_str())
    );
}
