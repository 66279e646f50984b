//! The metrics / health endpoint, driven by a raw `TcpStream` client.

use rocketmq_bridge_test_support as support;

use rocketmq_bridge::metrics::{Health, Metric, MetricsError, MetricsServer};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use support::{init_log, ms, XorShift};

/// Sends `raw`, reads to EOF, returns (status code, headers, body).
fn exchange(addr: SocketAddr, raw: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(ms(5000))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    parse_response(&out)
}

fn parse_response(out: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8(out.to_vec()).unwrap();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{text:?}"));
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(len, body.len(), "Content-Length matches the body");
    assert!(head.contains("Connection: close"));
    (status, head.to_owned(), body.to_owned())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: test\r\n\r\n").as_bytes(),
    )
}

struct Fixture {
    server: MetricsServer,
    sent: Arc<AtomicU64>,
    healthy: Arc<AtomicBool>,
}

fn start() -> Fixture {
    init_log();
    let sent = Arc::new(AtomicU64::new(0));
    let healthy = Arc::new(AtomicBool::new(true));
    let (s2, h2) = (sent.clone(), healthy.clone());
    let server = MetricsServer::start_with(
        "127.0.0.1:0",
        ms(300),
        move || {
            let n = s2.load(Ordering::SeqCst) as f64;
            vec![
                Metric::counter("bridge_sent_total", "Events the broker confirmed", n)
                    .label("rule", "r1"),
                Metric::gauge("bridge_spool_bytes", "Bytes in the disk spool", 4096.0),
                Metric::counter("bridge_sent_total", "", 2.0).label("rule", "odd \"r\"\\2\n"),
            ]
        },
        move || {
            let ok = h2.load(Ordering::SeqCst);
            Health::new(
                ok,
                serde_json::json!({"status": if ok { "ok" } else { "unhealthy" }}),
            )
        },
    )
    .unwrap();
    Fixture {
        server,
        sent,
        healthy,
    }
}

#[test]
fn metrics_are_served_in_the_text_format() {
    let f = start();
    f.sent.store(12, Ordering::SeqCst);
    let (status, head, body) = get(f.server.local_addr(), "/metrics");
    assert_eq!(status, 200);
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(
        body,
        "# HELP bridge_sent_total Events the broker confirmed\n\
         # TYPE bridge_sent_total counter\n\
         bridge_sent_total{rule=\"r1\"} 12\n\
         bridge_sent_total{rule=\"odd \\\"r\\\"\\\\2\\n\"} 2\n\
         # HELP bridge_spool_bytes Bytes in the disk spool\n\
         # TYPE bridge_spool_bytes gauge\n\
         bridge_spool_bytes 4096\n"
    );
    // A query string is ignored; the snapshot is taken per request.
    f.sent.store(13, Ordering::SeqCst);
    let (status, _, body) = get(f.server.local_addr(), "/metrics?x=1");
    assert_eq!(status, 200);
    assert!(body.contains("bridge_sent_total{rule=\"r1\"} 13\n"));
}

#[test]
fn health_follows_the_closure() {
    let f = start();
    let (status, head, body) = get(f.server.local_addr(), "/health");
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));
    assert!(head.contains("application/json"));
    f.healthy.store(false, Ordering::SeqCst);
    let (status, _, body) = get(f.server.local_addr(), "/health");
    assert_eq!((status, body.as_str()), (503, "{\"status\":\"unhealthy\"}"));
}

#[test]
fn other_paths_methods_and_garbage_get_errors() {
    let f = start();
    let a = f.server.local_addr();
    assert_eq!(get(a, "/").0, 404);
    assert_eq!(get(a, "/metricsx").0, 404);
    assert_eq!(exchange(a, b"POST /metrics HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(exchange(a, b"GET /metrics\r\n\r\n").0, 400);
    assert_eq!(exchange(a, b"GET metrics HTTP/1.1\r\n\r\n").0, 400);
    assert_eq!(exchange(a, b"GET /metrics SPDY/3\r\n\r\n").0, 400);
    assert_eq!(exchange(a, b"GET  /metrics HTTP/1.1\r\n\r\n").0, 400);
    assert_eq!(exchange(a, b"\xff\xfe\r\n\r\n").0, 400);
    let mut rng = XorShift::new(0xBAD5EED);
    for _ in 0..20 {
        let n = rng.below(200) as usize;
        let mut g = rng.bytes(n);
        g.extend_from_slice(b"\r\n\r\n");
        let (status, _, _) = exchange(a, &g);
        assert!([400, 405].contains(&status), "{status}");
    }
    // Over the head limit: 431 without reading further.
    let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 20_000));
    let (status, _, _) = exchange(a, &big);
    assert_eq!(status, 431);
    // Still serving.
    assert_eq!(get(a, "/metrics").0, 200);
}

#[test]
fn silent_and_vanishing_clients_do_not_stop_the_server() {
    let f = start();
    let a = f.server.local_addr();
    // Says nothing: answered 408 after the 300 ms request timeout.
    let t0 = Instant::now();
    let (status, _, _) = exchange(a, b"GET /metr");
    assert_eq!(status, 408);
    assert!(t0.elapsed() >= ms(250), "{:?}", t0.elapsed());
    // Connects and leaves without a word, or halfway through.
    drop(TcpStream::connect(a).unwrap());
    let mut s = TcpStream::connect(a).unwrap();
    s.write_all(b"GET /metrics HT").unwrap();
    drop(s);
    assert_eq!(get(a, "/health").0, 200);
}

#[test]
fn concurrent_scrapes_all_get_whole_answers() {
    let f = start();
    let a = f.server.local_addr();
    let hs: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let (status, _, body) = get(a, "/metrics");
                    assert_eq!(status, 200);
                    assert!(body.ends_with("bridge_spool_bytes 4096\n"), "{body}");
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn a_panicking_snapshot_is_a_500_and_the_server_survives() {
    let calls = Arc::new(AtomicU64::new(0));
    let c2 = calls.clone();
    let server = MetricsServer::start(
        "127.0.0.1:0",
        move || {
            if c2.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("snapshot failed on purpose");
            }
            vec![Metric::gauge("up", "Up", 1.0)]
        },
        || Health::new(true, serde_json::json!({})),
    )
    .unwrap();
    let a = server.local_addr();
    assert_eq!(get(a, "/metrics").0, 500);
    assert_eq!(
        get(a, "/metrics").2,
        "# HELP up Up\n# TYPE up gauge\nup 1\n"
    );
}

#[test]
fn only_loopback_addresses_are_accepted_and_drop_stops_the_server() {
    let nope = MetricsServer::start("0.0.0.0:0", Vec::new, || {
        Health::new(true, serde_json::json!({}))
    });
    assert!(
        matches!(nope, Err(MetricsError::NotLoopback { .. })),
        "{nope:?}"
    );
    let bad = MetricsServer::start("not an address", Vec::new, || {
        Health::new(true, serde_json::json!({}))
    });
    assert!(matches!(bad, Err(MetricsError::Address { .. })), "{bad:?}");
    let f = start();
    let a = f.server.local_addr();
    assert_eq!(get(a, "/metrics").0, 200);
    drop(f);
    assert!(TcpStream::connect(a).is_err(), "listener closed on drop");
}

/// Issue #18 case 9c: clients that connect and send nothing (more of them than
/// `MAX_CONNECTIONS`) must not delay `/health` for the next client. Before the fix connections were
/// served one after another, each silent one for the request timeout (2 s) plus the linger.
#[test]
fn silent_clients_do_not_starve_health() {
    use rocketmq_bridge::metrics::{BUSY_TIMEOUT, MAX_CONNECTIONS, REQUEST_TIMEOUT};
    init_log();
    let server = MetricsServer::start(
        "127.0.0.1:0",
        || vec![Metric::gauge("up", "Up", 1.0)],
        || Health::new(true, serde_json::json!({"status": "ok"})),
    )
    .unwrap();
    let a = server.local_addr();
    let extra = 4;
    let silent: Vec<TcpStream> = (0..MAX_CONNECTIONS + extra)
        .map(|_| TcpStream::connect(a).unwrap())
        .collect();
    // Give the accept thread the silent connections first.
    std::thread::sleep(ms(50));
    let t0 = Instant::now();
    let (status, _, body) = get(a, "/health");
    let took = t0.elapsed();
    eprintln!(
        "/health answered in {took:?} behind {} silent connections",
        silent.len()
    );
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));
    // The connections over the cap cost at most BUSY_TIMEOUT each (request, then linger).
    let bound = BUSY_TIMEOUT * 2 * extra as u32 + ms(500);
    assert!(
        took < bound && took < REQUEST_TIMEOUT,
        "/health took {took:?} (bound {bound:?})"
    );
    drop(silent);
}

/// Red team: many silent connections (a loopback client opening them as fast as it likes).
/// Each one past `MAX_CONNECTIONS` cost the accept thread 200 ms (100 ms for its request, 100 ms
/// of linger): behind 100 of them `/health` had no answer within 5 s (about 17 s). Now a silent
/// one costs `BUSY_TIMEOUT` (10 ms) and no linger.
#[test]
fn redteam_many_silent_clients_do_not_starve_health() {
    use rocketmq_bridge::metrics::{BUSY_TIMEOUT, MAX_CONNECTIONS};
    init_log();
    let server = MetricsServer::start(
        "127.0.0.1:0",
        || vec![Metric::gauge("up", "Up", 1.0)],
        || Health::new(true, serde_json::json!({"status": "ok"})),
    )
    .unwrap();
    let a = server.local_addr();
    let silent: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(a).unwrap()).collect();
    std::thread::sleep(ms(50));
    let t0 = Instant::now();
    let (status, _, _) = get(a, "/health");
    let took = t0.elapsed();
    eprintln!(
        "/health answered in {took:?} behind {} silent connections",
        silent.len()
    );
    assert_eq!(status, 200);
    // Generous for a loaded machine: four times BUSY_TIMEOUT per connection over the cap.
    let bound = BUSY_TIMEOUT * 4 * (silent.len() - MAX_CONNECTIONS) as u32 + ms(500);
    assert!(took < bound, "/health took {took:?} (bound {bound:?})");
    drop(silent);
}
