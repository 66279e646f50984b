//! Producer outcome rules against scripted fake peers, for what a real broker cannot be made to do:
//! a broker that accepts and never answers, one that answers a given code. A fake name server
//! routes the topic to two fake brokers.

use bytes::BytesMut;
use rocketmq_bridge::message::Message;
use rocketmq_bridge::producer::{
    Producer, ProducerConfig, QueueStrategy, SendErrorKind, SendStatus,
};
use rocketmq_bridge::remoting::codec::{decode_frame, encode_frame, FrameLimits};
use rocketmq_bridge::remoting::codes::{GET_ROUTEINFO_BY_TOPIC, SEND_MESSAGE_V2};
use rocketmq_bridge::remoting::RemotingCommand;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    /// Answer every send with this code (0 = stored).
    Code(i32),
    /// Read requests, never answer.
    Silent,
}

struct FakeBroker {
    addr: String,
    sends: Arc<AtomicUsize>,
}

/// Serves frames on a listener: `answer` maps a request to an optional response.
pub(crate) fn serve<F>(answer: F) -> String
where
    F: Fn(&RemotingCommand) -> Option<RemotingCommand> + Send + Sync + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for s in l.incoming().take(64) {
            let Ok(mut s) = s else { break };
            let answer = Arc::clone(&answer);
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut buf = BytesMut::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Ok(Some(req)) = decode_frame(&mut buf, &FrameLimits::default()) {
                        if let Some(resp) = answer(&req) {
                            let mut out = BytesMut::new();
                            encode_frame(&resp, &mut out, &FrameLimits::default()).unwrap();
                            if s.write_all(&out).is_err() {
                                return;
                            }
                        }
                    }
                    match s.read(&mut chunk) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}

fn fake_broker(b: Behaviour) -> FakeBroker {
    let sends = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sends);
    let addr = serve(move |req| {
        if req.code != SEND_MESSAGE_V2 {
            return Some(RemotingCommand::response_to(req, 0, None));
        }
        counter.fetch_add(1, Ordering::SeqCst);
        match b {
            Behaviour::Silent => None,
            Behaviour::Code(code) => {
                let r = RemotingCommand::response_to(req, code, Some("scripted".into()))
                    .with_ext("msgId", "7F00000100002A9F0000000000000000")
                    .with_ext("queueId", req.ext("e").unwrap_or("0"))
                    .with_ext("queueOffset", "42");
                Some(r)
            }
        }
    });
    FakeBroker { addr, sends }
}

/// The producer's view of the route [`fake_namesrv`] serves (two writable queues per broker), to
/// find keys that go to a given queue.
fn fake_publish_info(brokers: &[&str]) -> rocketmq_bridge::nameserver::TopicPublishInfo {
    let mut info = rocketmq_bridge::nameserver::TopicPublishInfo::default();
    let mut names = brokers.to_vec();
    names.sort();
    for b in names {
        info.masters.insert(b.to_owned(), String::new());
        for q in 0..2 {
            info.queues.push(rocketmq_bridge::nameserver::MessageQueue {
                topic: "T".into(),
                broker_name: b.to_owned(),
                queue_id: q,
            });
        }
    }
    info
}

pub(crate) fn fake_namesrv(brokers: &[(&str, &str)]) -> String {
    let datas: Vec<String> = brokers
        .iter()
        .map(|(name, addr)| {
            format!(r#"{{"brokerAddrs":{{"0":"{addr}"}},"brokerName":"{name}","cluster":"C"}}"#)
        })
        .collect();
    let queues: Vec<String> = brokers
        .iter()
        .map(|(name, _)| {
            format!(r#"{{"brokerName":"{name}","perm":6,"readQueueNums":2,"writeQueueNums":2}}"#)
        })
        .collect();
    let body = format!(
        r#"{{"brokerDatas":[{}],"queueDatas":[{}]}}"#,
        datas.join(","),
        queues.join(",")
    );
    serve(move |req| {
        assert_eq!(req.code, GET_ROUTEINFO_BY_TOPIC);
        Some(RemotingCommand::response_to(req, 0, None).with_body(body.clone().into_bytes()))
    })
}

fn producer(ns: &str, attempt_ms: u64, total_ms: u64) -> Producer {
    Producer::start(
        ProducerConfig::new(&[ns], "g")
            .attempt_timeout(Duration::from_millis(attempt_ms))
            .send_timeout(Duration::from_millis(total_ms))
            .heartbeat_interval(Duration::ZERO),
    )
    .unwrap()
}

#[test]
fn hung_broker_costs_one_attempt_timeout_then_the_other_broker_stores() {
    let hung = fake_broker(Behaviour::Silent);
    let good = fake_broker(Behaviour::Code(0));
    let ns = fake_namesrv(&[("a-hung", &hung.addr), ("b-good", &good.addr)]);
    let p = producer(&ns, 300, 3_000);
    for i in 0..6 {
        let t = Instant::now();
        let r = p.send(Message::new("T", format!("m{i}"))).unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
        assert_eq!(r.queue.broker_name, "b-good");
        assert!(
            t.elapsed() < Duration::from_millis(1_500),
            "send {i} took {:?}",
            t.elapsed()
        );
    }
    // After the first failure the hung broker is avoided: at most one send went there.
    assert!(
        hung.sends.load(Ordering::SeqCst) <= 1,
        "hung broker got {} sends",
        hung.sends.load(Ordering::SeqCst)
    );
    assert_eq!(good.sends.load(Ordering::SeqCst), 6);
}

#[test]
fn timeout_after_the_request_left_is_reported_as_outcome_unknown() {
    let hung = fake_broker(Behaviour::Silent);
    let ns = fake_namesrv(&[("a-hung", &hung.addr)]);
    let p = producer(&ns, 200, 700);
    let t = Instant::now();
    let e = p.send(Message::new("T", "x")).unwrap_err();
    assert!(
        matches!(e.kind, SendErrorKind::OutcomeUnknown { .. }),
        "{e}"
    );
    assert!(e.is_outcome_unknown());
    assert_eq!(e.messages.len(), 1, "the message is handed back");
    assert!(
        t.elapsed() < Duration::from_millis(1_200),
        "total budget respected: {:?}",
        t.elapsed()
    );
}

#[test]
fn retryable_code_goes_to_the_other_broker_and_stored_codes_are_not_retried() {
    let busy = fake_broker(Behaviour::Code(2)); // SYSTEM_BUSY: not stored, retry elsewhere
    let flush = fake_broker(Behaviour::Code(10)); // FLUSH_DISK_TIMEOUT: stored, never retried
    let ns = fake_namesrv(&[("a-busy", &busy.addr), ("b-flush", &flush.addr)]);
    let p = producer(&ns, 500, 3_000);
    for _ in 0..4 {
        let r = p.send(Message::new("T", "x")).unwrap();
        assert_eq!(r.status, SendStatus::FlushDiskTimeout);
        assert_eq!(r.queue.broker_name, "b-flush");
    }
    assert_eq!(
        flush.sends.load(Ordering::SeqCst),
        4,
        "a stored-but-degraded answer is not re-sent"
    );
}

#[test]
fn non_retryable_code_fails_at_once_as_rejected() {
    let bad = fake_broker(Behaviour::Code(13)); // MESSAGE_ILLEGAL
    let other = fake_broker(Behaviour::Code(0));
    let ns = fake_namesrv(&[("a-bad", &bad.addr), ("b-other", &other.addr)]);
    let p = Producer::start(
        ProducerConfig::new(&[ns.as_str()], "g")
            .queue_strategy(rocketmq_bridge::producer::QueueStrategy::KeyHash)
            .heartbeat_interval(Duration::ZERO),
    )
    .unwrap();
    // Find a key whose queue is on a-bad (the route: two queues on each broker).
    let route = fake_publish_info(&["a-bad", "b-other"]);
    let key = (0..100)
        .map(|i| format!("k{i}"))
        .find(|k| {
            let q = route.key_queue(rocketmq_bridge::producer::key_hash(k.as_bytes()));
            route.queues[q.unwrap()].broker_name == "a-bad"
        })
        .unwrap();
    let e = p
        .send_with_key(Message::new("T", "x"), Some(key.as_bytes()))
        .unwrap_err();
    assert!(
        matches!(e.kind, SendErrorKind::Rejected { code: 13, .. }),
        "{e}"
    );
    assert_eq!(bad.sends.load(Ordering::SeqCst), 1);
    assert_eq!(
        other.sends.load(Ordering::SeqCst),
        0,
        "not retried elsewhere"
    );
}

#[test]
fn async_sends_to_a_hung_broker_all_complete_with_an_outcome() {
    let hung = fake_broker(Behaviour::Silent);
    let ns = fake_namesrv(&[("a-hung", &hung.addr)]);
    let p = producer(&ns, 200, 600);
    let results = Arc::new(Mutex::new(Vec::new()));
    for i in 0..50 {
        let r = Arc::clone(&results);
        p.send_async(
            Message::new("T", format!("{i}")),
            None,
            Box::new(move |res| r.lock().unwrap().push(res.map(|_| ()))),
        )
        .unwrap();
    }
    let t = Instant::now();
    while results.lock().unwrap().len() < 50 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let results = results.lock().unwrap();
    assert_eq!(results.len(), 50, "every callback ran");
    for r in results.iter() {
        let e = r.as_ref().unwrap_err();
        assert!(e.is_outcome_unknown(), "{e}");
    }
}

#[test]
fn dead_name_server_costs_one_connect_then_is_tried_last() {
    let good = fake_broker(Behaviour::Code(0));
    let ns = fake_namesrv(&[("b", &good.addr)]);
    // A port with nothing listening: connect is refused at once.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let p = producer(&format!("{dead};{ns}"), 500, 3_000);
    p.send(Message::new("T", "x")).unwrap();
    let order = p.routes().client().addrs();
    assert_eq!(
        order,
        vec![ns.clone(), dead.clone()],
        "the dead name server moved to the end"
    );
    drop(TcpStream::connect(&ns).unwrap());
}

/// A broker that answers every send 40 ms after it arrived (a responder thread per connection),
/// so requests the producer pipelines are seen outstanding together. Records, per request, the
/// message's key and body, and the most requests outstanding at once: per key and in all.
struct SlowBroker {
    addr: String,
    /// (key, body) in arrival order.
    arrivals: Arc<Mutex<Vec<(String, String)>>>,
    /// Per key: most outstanding at once; and overall.
    peaks: Arc<Mutex<(std::collections::HashMap<String, usize>, usize)>>,
}

fn slow_broker() -> SlowBroker {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let peaks = Arc::new(Mutex::new((std::collections::HashMap::new(), 0)));
    let (arr, pk) = (Arc::clone(&arrivals), Arc::clone(&peaks));
    std::thread::spawn(move || {
        for s in l.incoming().take(8) {
            let Ok(mut s) = s else { break };
            let (arr, pk) = (Arc::clone(&arr), Arc::clone(&pk));
            let writer = Arc::new(Mutex::new(s.try_clone().unwrap()));
            // key -> outstanding now; and outstanding overall
            let open = Arc::new(Mutex::new((
                std::collections::HashMap::<String, usize>::new(),
                0usize,
            )));
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut buf = BytesMut::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Ok(Some(req)) = decode_frame(&mut buf, &FrameLimits::default()) {
                        if req.code != SEND_MESSAGE_V2 {
                            let resp = RemotingCommand::response_to(&req, 0, None);
                            let mut out = BytesMut::new();
                            encode_frame(&resp, &mut out, &FrameLimits::default()).unwrap();
                            let _ = writer.lock().unwrap().write_all(&out);
                            continue;
                        }
                        let props = rocketmq_bridge::message::Properties::decode(
                            req.ext("i").unwrap_or(""),
                        );
                        let key = props.get("KEYS").unwrap_or("").to_owned();
                        let body = String::from_utf8_lossy(&req.body).into_owned();
                        arr.lock().unwrap().push((key.clone(), body));
                        {
                            let mut o = open.lock().unwrap();
                            let n = {
                                let e = o.0.entry(key.clone()).or_insert(0);
                                *e += 1;
                                *e
                            };
                            o.1 += 1;
                            let mut p = pk.lock().unwrap();
                            let pe = p.0.entry(key.clone()).or_insert(0);
                            *pe = (*pe).max(n);
                            p.1 = p.1.max(o.1);
                        }
                        let (w, open) = (Arc::clone(&writer), Arc::clone(&open));
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_millis(40));
                            {
                                let mut o = open.lock().unwrap();
                                *o.0.get_mut(&key).unwrap() -= 1;
                                o.1 -= 1;
                            }
                            let resp = RemotingCommand::response_to(&req, 0, None)
                                .with_ext("msgId", "7F00000100002A9F0000000000000000")
                                .with_ext("queueId", req.ext("e").unwrap_or("0"))
                                .with_ext("queueOffset", "1");
                            let mut out = BytesMut::new();
                            encode_frame(&resp, &mut out, &FrameLimits::default()).unwrap();
                            let _ = w.lock().unwrap().write_all(&out);
                        });
                    }
                    match s.read(&mut chunk) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    SlowBroker {
        addr,
        arrivals,
        peaks,
    }
}

/// Async sends with keys: a key's requests go one at a time (its ordering lane) and arrive in send
/// order, while keys of other lanes of the same queue are in flight at the same time.
#[test]
fn keyed_async_sends_go_one_at_a_time_per_lane_and_pipeline_across_lanes() {
    use rocketmq_bridge::producer::{key_hash, order_lane, QueueStrategy};
    let b = slow_broker();
    let ns = fake_namesrv(&[("b1", &b.addr)]);
    // Keys that all go to queue 0 of the two, each in its own lane.
    let route = fake_publish_info(&["b1"]);
    let mut keys: Vec<String> = Vec::new();
    let mut lanes = std::collections::HashSet::new();
    for i in 0..10_000 {
        let k = format!("client-{i}");
        let h = key_hash(k.as_bytes());
        if route.key_queue(h) == Some(0) && lanes.insert(order_lane(h)) {
            keys.push(k);
        }
        if keys.len() == 4 {
            break;
        }
    }
    assert_eq!(keys.len(), 4, "keys in four lanes of queue 0");
    let p = Producer::start(
        ProducerConfig::new(&[ns.as_str()], "g")
            .queue_strategy(QueueStrategy::KeyHash)
            .heartbeat_interval(Duration::ZERO),
    )
    .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let per_key = 5;
    for n in 0..per_key {
        for k in &keys {
            let d = Arc::clone(&done);
            let msg = Message::new("T", format!("{k}#{n}")).with_keys(&[k]);
            p.send_async(
                msg,
                Some(k.as_bytes()),
                Box::new(move |r| {
                    r.expect("stored");
                    d.fetch_add(1, Ordering::SeqCst);
                }),
            )
            .unwrap();
        }
    }
    let limit = Instant::now() + Duration::from_secs(20);
    while done.load(Ordering::SeqCst) < keys.len() * per_key && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(done.load(Ordering::SeqCst), keys.len() * per_key);
    p.close(Duration::from_secs(2));
    let peaks = b.peaks.lock().unwrap();
    for k in &keys {
        assert_eq!(
            peaks.0.get(k),
            Some(&1),
            "key {k}: more than one request in flight"
        );
    }
    assert!(
        peaks.1 >= 2,
        "keys of different lanes were never in flight together (peak {})",
        peaks.1
    );
    let arrivals = b.arrivals.lock().unwrap();
    for k in &keys {
        let bodies: Vec<&str> = arrivals
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, b)| b.as_str())
            .collect();
        let want: Vec<String> = (0..per_key).map(|n| format!("{k}#{n}")).collect();
        assert_eq!(bodies, want, "key {k} out of order");
    }
}

/// Issue #18 case 9: the producer kept a broker state, a worker thread and a connection (with its
/// reader thread) for every broker address it ever sent to. The name server here moves the topic
/// to a new broker address each round; the states of brokers that left every route are pruned
/// after the grace period (three refresh intervals), worker threads joined.
#[test]
fn brokers_that_left_every_route_are_pruned_with_their_workers() {
    const ROUNDS: usize = 10;
    let brokers: Vec<FakeBroker> = (0..ROUNDS)
        .map(|_| fake_broker(Behaviour::Code(0)))
        .collect();
    let addrs: Vec<String> = brokers.iter().map(|b| b.addr.clone()).collect();
    let current = Arc::new(AtomicUsize::new(0));
    let cur = Arc::clone(&current);
    let ns = serve(move |req| {
        assert_eq!(req.code, GET_ROUTEINFO_BY_TOPIC);
        let addr = &addrs[cur.load(Ordering::SeqCst)];
        let body = format!(
            r#"{{"brokerDatas":[{{"brokerAddrs":{{"0":"{addr}"}},"brokerName":"b","cluster":"C"}}],"queueDatas":[{{"brokerName":"b","perm":6,"readQueueNums":2,"writeQueueNums":2}}]}}"#
        );
        Some(RemotingCommand::response_to(req, 0, None).with_body(body.into_bytes()))
    });
    let p = Producer::start(
        ProducerConfig::new(&[ns.as_str()], "g")
            .heartbeat_interval(Duration::ZERO)
            .refresh_interval(Duration::from_millis(40)),
    )
    .unwrap();
    let mut most = (0, 0);
    for (i, b) in brokers.iter().enumerate() {
        current.store(i, Ordering::SeqCst);
        p.check_route("T").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        p.send_async(
            Message::new("T", format!("m{i}")),
            None,
            Box::new(move |r| {
                let _ = tx.send(r.map(|r| r.status));
            }),
        )
        .unwrap();
        let status = rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(status, SendStatus::SendOk);
        assert_eq!(b.sends.load(Ordering::SeqCst), 1, "round {i}");
        let c = p.broker_counts();
        most = (most.0.max(c.0), most.1.max(c.1));
        // Longer than the grace (3 × 40 ms) plus a prune tick.
        std::thread::sleep(Duration::from_millis(250));
    }
    // Every address but the current one left the route more than the grace ago.
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.broker_counts().0 > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(p.broker_counts(), (1, 1), "only the current broker is kept");
    assert!(
        most.0 <= 3 && most.1 <= 3,
        "at most a few brokers at a time, saw {most:?} over {ROUNDS} addresses"
    );
}

/// A name server naming more brokers than [`MAX_BROKER_WORKERS`] (each with one queue): the
/// producer never keeps more worker threads alive than the cap; sends past it fail as not sent,
/// saying so, instead of starting threads without bound (or panicking when a spawn fails).
#[test]
fn a_route_naming_more_brokers_than_the_worker_cap_starts_no_more_workers() {
    use rocketmq_bridge::producer::MAX_BROKER_WORKERS;
    let n = MAX_BROKER_WORKERS + 44;
    // Addresses that refuse connections: listeners bound and dropped.
    let addrs: Vec<String> = (0..n)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut brokers = Vec::new();
    let mut queues = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        brokers.push(format!(
            r#"{{"brokerAddrs":{{"0":"{a}"}},"brokerName":"b{i}","cluster":"C"}}"#
        ));
        queues.push(format!(
            r#"{{"brokerName":"b{i}","perm":6,"readQueueNums":1,"writeQueueNums":1}}"#
        ));
    }
    let body = format!(
        r#"{{"brokerDatas":[{}],"queueDatas":[{}]}}"#,
        brokers.join(","),
        queues.join(",")
    );
    let ns = serve(move |req| {
        Some(RemotingCommand::response_to(req, 0, None).with_body(body.clone().into_bytes()))
    });
    let p = Producer::start(
        ProducerConfig::new(&[ns.as_str()], "g")
            .heartbeat_interval(Duration::ZERO)
            .queue_strategy(QueueStrategy::RoundRobin),
    )
    .unwrap();
    p.check_route("T").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..n {
        let (tx, tx2) = (tx.clone(), tx.clone());
        let r = p.send_async(
            Message::new("T", format!("m{i}")),
            None,
            Box::new(move |r| {
                let _ = tx.send(r.err().map(|e| e.to_string()));
            }),
        );
        if let Err(e) = r {
            let _ = tx2.send(Some(e.to_string()));
        }
    }
    drop(tx);
    let mut most_workers = 0;
    let mut errors = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while errors.len() < n && Instant::now() < deadline {
        most_workers = most_workers.max(p.broker_counts().1);
        if let Ok(e) = rx.recv_timeout(Duration::from_millis(5)) {
            errors.push(e);
        }
    }
    assert_eq!(errors.len(), n, "every send ended");
    assert!(
        most_workers <= MAX_BROKER_WORKERS,
        "{most_workers} workers alive"
    );
    assert!(
        errors.iter().flatten().any(|e| e.contains("the cap")),
        "no send reported the worker cap: {:?}",
        &errors[..3]
    );
}
