//! Hostile name servers and brokers on real TCP sockets (127.0.0.1), issue #18 cases 1–3: a route
//! announcing 2^31 queues, a header of millions of `null` keys, a broker flooding stray responses.
//! Each test asserts the outcome (the typed error, the cap counter, the connection discarded); the
//! few time bounds are generous stall checks (seconds), not performance asserts.

use rocketmq_bridge_test_support as support;

use rocketmq_bridge::consumer::PullConsumer;
use rocketmq_bridge::message::Message;
use rocketmq_bridge::nameserver::route::{MAX_QUEUES_PER_BROKER, MAX_QUEUES_PER_ROUTE};
use rocketmq_bridge::nameserver::{
    Error as NsError, NameServerClient, RouteCache, RouteCacheConfig,
};
use rocketmq_bridge::producer::{Producer, ProducerConfig, SendStatus};
use rocketmq_bridge::remoting::codec::{DecodeError, MAX_EXT_FIELDS};
use rocketmq_bridge::remoting::direct::{drains_over_cap, MAX_STRAY_FRAMES_PER_DRAIN};
use rocketmq_bridge::remoting::{
    Connection, ConnectionConfig, DirectConnection, Error, RemotingCommand,
};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::hostile::{name_server, raw_json_frame, route_body, FloodingBroker, HostileServer};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn client(addr: &str) -> NameServerClient {
    NameServerClient::new(
        vec![addr.to_owned()],
        ConnectionConfig::default(),
        secs(3),
        None,
    )
}

fn assert_over_cap(e: &NsError, what: &str, broker: Option<&str>, count: u64, max: u64) {
    match e {
        NsError::RouteOverCap {
            what: w,
            broker: b,
            count: c,
            max: m,
        } => assert_eq!(
            (*w, b.as_deref(), *c, *m),
            (what, broker, count, max),
            "{e}"
        ),
        other => panic!("expected RouteOverCap for {what}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Case 1: huge queue counts

#[test]
fn route_with_2_pow_31_queues_is_refused_naming_the_broker_and_the_count() {
    for (read, write, what, count) in [
        (4, 1 << 31, "writeQueueNums", 1u64 << 31),
        (4, i32::MAX as u64, "writeQueueNums", i32::MAX as u64),
        (i32::MAX as u64, 4, "readQueueNums", i32::MAX as u64),
        (1 << 31, 1 << 31, "readQueueNums", 1 << 31),
    ] {
        let ns = name_server(secs(20), move || {
            route_body("broker-a", "127.0.0.1:1", read, write)
        });
        let e = client(&ns.addr).query_route("T").unwrap_err();
        assert_over_cap(&e, what, Some("broker-a"), count, MAX_QUEUES_PER_BROKER);
        assert!(
            e.to_string().contains("broker-a") && e.to_string().contains(&count.to_string()),
            "{e}"
        );
    }
}

#[test]
fn ordered_topic_conf_with_2_pow_31_queues_is_refused() {
    let ns = name_server(secs(20), || {
        let mut b = String::from_utf8(route_body("broker-a", "127.0.0.1:1", 4, 4)).unwrap();
        b.insert_str(1, r#""orderTopicConf":"broker-a:2147483647","#);
        b.into_bytes()
    });
    let e = client(&ns.addr).query_route("T").unwrap_err();
    assert_over_cap(
        &e,
        "orderTopicConf queues",
        Some("broker-a"),
        i32::MAX as u64,
        MAX_QUEUES_PER_BROKER,
    );
}

#[test]
fn queues_in_total_are_capped_across_broker_entries() {
    // 17 brokers at 512 read + 512 write queues: each under the per-entry cap, 17 408 in total.
    let ns = name_server(secs(20), || {
        let qds: Vec<String> = (0..17)
            .map(|i| {
                format!(
                    r#"{{"brokerName":"b{i}","perm":6,"readQueueNums":512,"writeQueueNums":512}}"#
                )
            })
            .collect();
        format!(r#"{{"brokerDatas":[],"queueDatas":[{}]}}"#, qds.join(",")).into_bytes()
    });
    let e = client(&ns.addr).query_route("T").unwrap_err();
    assert_over_cap(&e, "queues in total", None, 17 * 1024, MAX_QUEUES_PER_ROUTE);
}

#[test]
fn producer_and_consumer_refuse_the_huge_route_and_keep_working() {
    let ns = name_server(secs(20), || {
        route_body("broker-a", "127.0.0.1:1", i32::MAX as u64, i32::MAX as u64)
    });
    let p = Producer::start(
        ProducerConfig::new(&[ns.addr.as_str()], "g").heartbeat_interval(Duration::ZERO),
    )
    .unwrap();
    let e = p.check_route("T").unwrap_err();
    assert_over_cap(
        &e,
        "readQueueNums",
        Some("broker-a"),
        i32::MAX as u64,
        MAX_QUEUES_PER_BROKER,
    );
    let err = p
        .send(Message::new("T", "x"))
        .expect_err("no route, no send");
    assert!(err.to_string().contains("exceeds the cap"), "{err}");
    let c = PullConsumer::new(&ns.addr, "g", None);
    match c.queues("T") {
        Err(rocketmq_bridge::consumer::Error::Route(e)) => assert_over_cap(
            &e,
            "readQueueNums",
            Some("broker-a"),
            i32::MAX as u64,
            MAX_QUEUES_PER_BROKER,
        ),
        other => panic!("expected the route error, got {other:?}"),
    }
}

#[test]
fn name_server_serving_a_huge_route_is_demoted_and_the_next_one_asked() {
    let hostile = name_server(secs(20), || {
        route_body("broker-a", "127.0.0.1:1", 4, i32::MAX as u64)
    });
    let good = name_server(secs(20), || route_body("broker-a", "127.0.0.1:1", 4, 4));
    let ns = NameServerClient::new(
        vec![hostile.addr.clone(), good.addr.clone()],
        ConnectionConfig::default(),
        secs(3),
        None,
    );
    let route = ns.query_route("T").unwrap();
    assert_eq!(route.queue_datas[0].write_queue_nums, 4);
    assert_eq!(ns.addrs(), vec![good.addr.clone(), hostile.addr.clone()]);
    assert_eq!(hostile.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn route_cache_keeps_the_last_good_route_when_a_refresh_is_over_the_caps() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    let ns = name_server(secs(20), move || {
        let q = if c.fetch_add(1, Ordering::SeqCst) == 0 {
            4
        } else {
            1 << 31
        };
        route_body("broker-a", "127.0.0.1:1", q, q)
    });
    let cache = RouteCache::start(client(&ns.addr), RouteCacheConfig::default());
    let good = cache.fetch("T").unwrap();
    assert_eq!(good.queues.len(), 4);
    let again = cache.fetch("T").unwrap();
    assert_eq!(again, good, "the last good route is kept");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Without a cached route the refusal is the caller's error.
    match cache.fetch("Other") {
        Err(e) => assert_over_cap(&e, "readQueueNums", Some("broker-a"), 1 << 31, 1024),
        Ok(info) => panic!("accepted {} queues", info.queues.len()),
    }
    cache.stop();
}

// ---------------------------------------------------------------------------------------------
// Case 2: a header of millions of null keys

/// A JSON response header for `opaque` with `n` ext members `"k<i>":<value>` (about 16 MiB for
/// two million).
fn hostile_header(opaque: i32, n: usize, value: &str) -> Vec<u8> {
    let mut h = format!(r#"{{"code":0,"flag":1,"opaque":{opaque},"extFields":{{"#).into_bytes();
    for i in 0..n {
        if i > 0 {
            h.push(b',');
        }
        h.extend_from_slice(format!(r#""k{i}":{value}"#).as_bytes());
    }
    h.extend_from_slice(b"}}");
    h
}

#[test]
fn header_of_a_million_null_keys_is_refused_at_the_ext_field_cap() {
    for value in ["null", "1.5"] {
        let server = HostileServer::start(secs(30), move |req| {
            raw_json_frame(&hostile_header(req.opaque, 1_000_000, value), b"")
        });
        let conn = Connection::connect(&server.addr, &ConnectionConfig::default()).unwrap();
        let t = Instant::now();
        match conn.invoke(&RemotingCommand::request(105), secs(20)) {
            Err(Error::Decode {
                source: DecodeError::TooManyExtFields { max },
                ..
            }) => assert_eq!(max, MAX_EXT_FIELDS),
            other => panic!("{value}: expected the ext-field cap error, got {other:?}"),
        }
        // Stall check only: the quadratic decoder took minutes on this.
        assert!(t.elapsed() < secs(15), "{value}: took {:?}", t.elapsed());
    }
}

#[test]
fn name_server_answering_a_hostile_header_fails_over_to_the_next_one() {
    let hostile = HostileServer::start(secs(30), |req| {
        raw_json_frame(&hostile_header(req.opaque, 1_000_000, "null"), b"")
    });
    let good = name_server(secs(30), || route_body("broker-a", "127.0.0.1:1", 4, 4));
    let ns = NameServerClient::new(
        vec![hostile.addr.clone(), good.addr.clone()],
        ConnectionConfig::default(),
        secs(10),
        None,
    );
    let route = ns.query_route("T").unwrap();
    assert_eq!(route.queue_datas[0].write_queue_nums, 4);
    // The hostile one was demoted (its connection dropped outside the client's lock).
    assert_eq!(ns.addrs(), vec![good.addr.clone(), hostile.addr.clone()]);
    assert_eq!(hostile.requests.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// Case 3: a broker flooding stray responses

#[test]
fn idle_connection_flooded_with_strays_is_cut_at_the_cap_and_not_reused() {
    let broker = FloodingBroker::start(secs(6), secs(20));
    let mut conn = DirectConnection::connect(&broker.addr, &ConnectionConfig::default()).unwrap();
    conn.invoke(&RemotingCommand::request(105), secs(3))
        .unwrap();
    // Let the flood fill the socket buffers.
    let t0 = Instant::now();
    while broker.stray_sent.load(Ordering::SeqCst) < 4 * MAX_STRAY_FRAMES_PER_DRAIN
        && t0.elapsed() < secs(5)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = drains_over_cap();
    let t = Instant::now();
    let reusable = conn.check_idle();
    eprintln!(
        "idle drain took {:?}; strays sent {}",
        t.elapsed(),
        broker.stray_sent.load(Ordering::SeqCst)
    );
    assert!(!reusable, "a flooded connection must not be reused");
    assert!(conn.is_broken());
    assert!(drains_over_cap() > before, "the cap counter did not move");
    assert!(t.elapsed() < secs(2), "drain took {:?}", t.elapsed());
}

#[test]
fn sync_send_to_a_flooding_broker_discards_the_connection_within_its_budget() {
    let broker = FloodingBroker::start(secs(8), secs(25));
    let baddr = broker.addr.clone();
    let ns = name_server(secs(25), move || route_body("broker-a", &baddr, 4, 4));
    let p = Producer::start(
        ProducerConfig::new(&[ns.addr.as_str()], "g")
            .attempt_timeout(Duration::from_millis(1000))
            .send_timeout(Duration::from_millis(3000))
            .heartbeat_interval(Duration::ZERO),
    )
    .unwrap();
    let r = p.send(Message::new("T", "first")).unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    let t0 = Instant::now();
    while broker.stray_sent.load(Ordering::SeqCst) < 4 * MAX_STRAY_FRAMES_PER_DRAIN
        && t0.elapsed() < secs(5)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = drains_over_cap();
    let t = Instant::now();
    let r = p.send(Message::new("T", "second"));
    let took = t.elapsed();
    eprintln!(
        "second send took {took:?}; strays sent {}; connections {}",
        broker.stray_sent.load(Ordering::SeqCst),
        broker.accepted.load(Ordering::SeqCst)
    );
    assert!(
        drains_over_cap() > before,
        "the flooded connection was reused"
    );
    // The flooded connection was discarded and the send went over a new one.
    let r = r.unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    assert!(broker.accepted.load(Ordering::SeqCst) >= 2);
    // Stall check: within the 3 s send budget plus 2 s (before the fix: the whole 8 s flood).
    assert!(took < secs(5), "send took {took:?}");
}
