//! Sync mode (sends on the hosts' threads) racing the shutdown: many host threads send to a fake
//! broker that answers late and sometimes never, with a byte budget of a few messages, under
//! each overflow policy, while the bridge is closed and shut down. Every send returns (Ok or an
//! error) within its bound, the shutdown within its deadline, and the counters add up.

use rocketmq_bridge_test_support as support;

use bytes::Bytes;
use rocketmq_bridge::bridge::{Bridge, BridgeConfig, Event, SendEventError};
use rocketmq_bridge::remoting::codes::{SEND_BATCH_MESSAGE, SEND_MESSAGE_V2};
use rocketmq_bridge::remoting::RemotingCommand;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::hostile::{frame_of, send_ok, HostileServer};
use support::FakeNameServer;

const THREADS: usize = 8;
const SYNC_TIMEOUT: Duration = Duration::from_millis(600);
/// `produce.sync_timeout` + the bridge's 2 s margin + scheduling slack on a loaded machine.
const SEND_BOUND: Duration = Duration::from_millis(600 + 2_000 + 1_500);

/// A broker that answers each send after up to 20 ms, and never answers every 7th.
fn slow_broker() -> HostileServer {
    let n = Arc::new(AtomicUsize::new(0));
    HostileServer::start(Duration::from_secs(60), move |req| match req.code {
        SEND_MESSAGE_V2 | SEND_BATCH_MESSAGE => {
            let i = n.fetch_add(1, Ordering::SeqCst);
            if i % 7 == 6 {
                return Vec::new();
            }
            std::thread::sleep(Duration::from_millis((i % 20) as u64));
            frame_of(&send_ok(req))
        }
        _ => frame_of(&RemotingCommand::response_to(req, 0, None)),
    })
}

struct Host {
    ok: usize,
    errors: usize,
    closed: usize,
    slowest: Duration,
}

fn run(overflow: &str, close_first: bool) {
    let broker = slow_broker();
    let ns = FakeNameServer::start(&broker.addr);
    let text = format!(
        "bridge.rocket.servers = {}\nbridge.rocket.produce = sync\n\
         bridge.rocket.produce.sync_timeout = {}ms\n\
         bridge.rocket.producer.max_message_size = 1KB\nbridge.rocket.buffer.max_bytes = 4KB\n\
         bridge.rocket.buffer.overflow = {overflow}\nbridge.rocket.drain_timeout = 1s\n\
         bridge.rocket.bridge_id = race\nbridge.rocket.stats_interval = 0s\n\
         bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"T\"}}\n\
         bridge.rocket.hook.message.publish.2 = {{\"filter\": \"a/#\", \"topic\": \"U\", \"tag\": \"${{topic.1}}\"}}\n",
        ns.addr,
        SYNC_TIMEOUT.as_millis()
    );
    let bridge = Bridge::start(BridgeConfig::parse(&text, "race.conf").unwrap()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let hosts: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = bridge.sender();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut h = Host {
                    ok: 0,
                    errors: 0,
                    closed: 0,
                    slowest: Duration::ZERO,
                };
                let mut i = 0u64;
                // Until the test stops it, and then on until a send was refused: a send that began
                // before the shutdown may return only after the stop (it is bounded), and each
                // host must still see that sends after the shutdown are refused.
                while !stop.load(Ordering::SeqCst) || h.closed == 0 {
                    i += 1;
                    let ev = Event::message_publish(
                        format!("c{t}"),
                        format!("a/s{}", i % 5),
                        Bytes::from(vec![b'x'; 100]),
                        1,
                    );
                    let at = Instant::now();
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tx.send(ev)))
                        .expect("a send panicked");
                    h.slowest = h.slowest.max(at.elapsed());
                    match r {
                        Ok(()) => h.ok += 1,
                        Err(SendEventError::Closed) => {
                            h.closed += 1;
                            if h.closed > 3 {
                                break;
                            }
                        }
                        Err(_) => h.errors += 1,
                    }
                }
                h
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let snapshot = if close_first {
        bridge.close_intake();
        Some(bridge.stats())
    } else {
        None
    };
    let deadline = Duration::from_secs(1);
    let at = Instant::now();
    let report = bridge.shutdown(deadline);
    let took = at.elapsed();
    stop.store(true, Ordering::SeqCst);
    // Shutdown's own bound: the deadline, the producer's close (at least 100 ms) and slack.
    assert!(
        took < deadline + Duration::from_millis(1_500),
        "{overflow}: shutdown took {took:?}"
    );
    let end = Instant::now() + SEND_BOUND + Duration::from_secs(2);
    let mut ok = 0;
    for h in hosts {
        while !h.is_finished() {
            assert!(
                Instant::now() < end,
                "{overflow}: a host thread is still in send"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let h = h.join().unwrap();
        assert!(
            h.slowest < SEND_BOUND,
            "{overflow}: a send took {:?}",
            h.slowest
        );
        assert!(
            h.closed >= 1,
            "{overflow}: sends after shutdown are refused"
        );
        ok += h.ok;
        let _ = h.errors;
    }
    let t = report.stats.total();
    let ended = t.sent
        + t.failed
        + t.outcome_unknown
        + t.dropped_too_large
        + t.dropped_overflow
        + t.dropped_shutdown
        + t.dropped_spool_error
        + t.dropped_bad_topic
        + t.dropped_bad_tag
        + t.dropped_no_topic
        + t.dropped_topic_cap;
    // A host thread between matching and taking room when the report was made is counted as
    // matched and not yet ended (at most one message per rule per thread); the rest add up.
    let in_flight = report.stats.in_flight as u64;
    assert!(
        t.matched >= ended && t.matched - ended <= in_flight + 2 * THREADS as u64,
        "{overflow}: matched {} != ended {ended} (+ in flight {in_flight}): {t:?}",
        t.matched
    );
    assert!(t.sent >= ok as u64, "{overflow}: {ok} Ok returns, {t:?}");
    assert!(t.sent > 0, "{overflow}: {t:?}");
    if let Some(s) = snapshot {
        // After close_intake nothing new matches.
        assert!(t.matched <= s.total().matched + 2 * THREADS as u64);
    }
}

#[test]
fn sync_sends_racing_shutdown_block() {
    run("block", false);
}

#[test]
fn sync_sends_racing_shutdown_drop_new() {
    run("drop_new", false);
}

#[test]
fn sync_sends_racing_close_intake_and_shutdown_drop_oldest() {
    run("drop_oldest", true);
}

/// One event matching 10 rules, in sync mode, against a broker that accepts and never answers:
/// the host's send is bounded by `produce.sync_timeout` plus the 2 s margin for the whole event,
/// not `sync_timeout` per matching rule.
#[test]
fn a_sync_event_of_many_rules_is_bounded_by_one_sync_timeout() {
    let broker = HostileServer::start(Duration::from_secs(60), |_| Vec::new());
    let ns = FakeNameServer::start(&broker.addr);
    let mut text = format!(
        "bridge.rocket.servers = {}\nbridge.rocket.produce = sync\n\
         bridge.rocket.produce.sync_timeout = 500ms\nbridge.rocket.drain_timeout = 1s\n\
         bridge.rocket.bridge_id = many\nbridge.rocket.stats_interval = 0s\n",
        ns.addr
    );
    for i in 1..=10 {
        text.push_str(&format!(
            "bridge.rocket.hook.message.publish.{i} = {{\"filter\": \"#\", \"topic\": \"T{i}\"}}\n"
        ));
    }
    let bridge = Bridge::start(BridgeConfig::parse(&text, "many.conf").unwrap()).unwrap();
    let at = Instant::now();
    let r = bridge.sender().send(Event::message_publish(
        "c1",
        "a/b",
        Bytes::from_static(b"p"),
        1,
    ));
    let took = at.elapsed();
    assert!(r.is_err(), "{r:?}");
    assert!(
        took < Duration::from_millis(500 + 2_000 + 700),
        "a sync send of one event took {took:?}"
    );
    let t = bridge.stats().total();
    assert_eq!(t.matched, 10);
    let report = bridge.shutdown(Duration::from_secs(1));
    let t = report.stats.total();
    assert_eq!(
        t.matched,
        t.sent + t.failed + t.outcome_unknown + t.dropped_shutdown,
        "{t:?}"
    );
}
