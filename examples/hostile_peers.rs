//! Figures for issue #18 cases 1 and 2 (hostile name servers and brokers), one scenario per run so
//! the peak RSS is the scenario's own:
//!
//! - `route`: a fake name server on 127.0.0.1 answers GET_ROUTEINFO_BY_TOPIC with
//!   `writeQueueNums` 2^31 (then i32::MAX, then an order conf of i32::MAX); the lookups must be
//!   refused and the process's peak RSS (VmHWM) stay under 16 MB.
//! - `header`: decodes (or refuses) 16 MiB hostile JSON headers (null keys, float keys, one key
//!   repeated, deep-ish nesting, long strings) and a 16 MiB binary header of tiny entries, printing
//!   the time each takes (goal: under 100 ms each).
//!
//! `cargo run --release --example hostile_peers -- route|header`. Prints one line per figure and
//! one JSON line at the end. No asserts on time: the figures are for reading.

use bytes::BytesMut;
use rocketmq_bridge::nameserver::NameServerClient;
use rocketmq_bridge::remoting::codec::header_binary::decode_binary_header;
use rocketmq_bridge::remoting::codec::header_json::decode_json_header;
use rocketmq_bridge::remoting::codec::{decode_frame, encode_frame, FrameLimits};
use rocketmq_bridge::remoting::{ConnectionConfig, RemotingCommand};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A name server answering every request with `body`, on its own thread (connections served one
/// after the other, each until the client closes).
fn name_server(bodies: Vec<Vec<u8>>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut n = 0usize;
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = BytesMut::new();
            let mut chunk = [0u8; 4096];
            loop {
                while let Ok(Some(req)) = decode_frame(&mut buf, &FrameLimits::default()) {
                    let body = bodies[n.min(bodies.len() - 1)].clone();
                    n += 1;
                    let mut out = BytesMut::new();
                    let resp = RemotingCommand::response_to(&req, 0, None).with_body(body);
                    encode_frame(&resp, &mut out, &FrameLimits::default()).unwrap();
                    if s.write_all(&out).is_err() {
                        break;
                    }
                }
                match s.read(&mut chunk) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Ok(0) | Err(_) => break,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
        }
    });
    addr
}

fn route() {
    let route = |q: &str, conf: &str| {
        format!(r#"{{"brokerDatas":[{{"brokerAddrs":{{"0":"127.0.0.1:1"}},"brokerName":"broker-a","cluster":"C"}}],{conf}"queueDatas":[{{"brokerName":"broker-a","perm":6,"readQueueNums":4,"writeQueueNums":{q}}}]}}"#).into_bytes()
    };
    let bodies = vec![
        route("2147483648", ""),
        route("2147483647", ""),
        route("4", r#""orderTopicConf":"broker-a:2147483647","#),
    ];
    let addr = name_server(bodies.clone());
    let client = NameServerClient::new(
        vec![addr],
        ConnectionConfig::default(),
        Duration::from_secs(3),
        None,
    );
    let mut refused = 0;
    for _ in 0..bodies.len() {
        let t = Instant::now();
        match client.query_route("T") {
            Err(e) => {
                refused += 1;
                println!("refused in {:?}: {e}", t.elapsed());
            }
            Ok(r) => println!("ACCEPTED (unexpected): {} queue datas", r.queue_datas.len()),
        }
    }
    let hwm = vm_hwm_kb();
    println!(
        "peak RSS (VmHWM) {hwm} kB, {refused}/{} refused",
        bodies.len()
    );
    println!(r#"{{"scenario":"route","refused":{refused},"vm_hwm_kb":{hwm}}}"#);
}

const SIXTEEN_MIB: usize = 16 * 1024 * 1024 - 64;

fn json_of(prefix: &str, mut member: impl FnMut(usize) -> String) -> Vec<u8> {
    let mut h = prefix.as_bytes().to_vec();
    let mut i = 0;
    while h.len() < SIXTEEN_MIB - 64 {
        if i > 0 {
            h.push(b',');
        }
        h.extend_from_slice(member(i).as_bytes());
        i += 1;
    }
    h.extend_from_slice(b"}}");
    h
}

fn header() {
    let ext = r#"{"code":0,"opaque":1,"extFields":{"#;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("null keys", json_of(ext, |i| format!(r#""k{i}":null"#))),
        ("float keys", json_of(ext, |i| format!(r#""k{i}":1.5"#))),
        (
            "one key repeated",
            json_of(ext, |_| r#""k":"v""#.to_string()),
        ),
        (
            "unknown members",
            json_of(r#"{"code":0,"opaque":1,"x":{"#, |i| {
                format!(r#""u{i}":[1.5,{{"a":null}}]"#)
            }),
        ),
    ];
    let mut remark = br#"{"code":0,"opaque":1,"remark":""#.to_vec();
    remark.resize(SIXTEEN_MIB - 4, b'a');
    remark.extend_from_slice(b"\"}");
    cases.push(("16 MiB remark", remark));
    let mut escaped = br#"{"code":0,"opaque":1,"remark":""#.to_vec();
    while escaped.len() < SIXTEEN_MIB - 16 {
        escaped.extend_from_slice(br"\u00e9\n");
    }
    escaped.extend_from_slice(b"\"}");
    cases.push(("escaped remark", escaped));
    cases.push((
        "numbers",
        json_of(r#"{"code":0,"opaque":1,"x":["#, |_| {
            "1.5e300,-12345678901234567890".into()
        }),
    ));
    let mut nest = br#"{"code":0,"opaque":1,"x":"#.to_vec();
    nest.resize(SIXTEEN_MIB, b'[');
    cases.push(("unclosed nesting", nest));
    let mut json_rows = Vec::new();
    for (name, h) in &cases {
        let t = Instant::now();
        let r = decode_json_header(h);
        let took = t.elapsed();
        let outcome = match &r {
            Ok(c) => format!("decoded ({} ext fields)", c.ext_fields.len()),
            Err(e) => format!("refused: {e}"),
        };
        println!(
            "JSON {name}: {} bytes, {:.1} ms, {outcome}",
            h.len(),
            took.as_secs_f64() * 1e3
        );
        json_rows.push(format!(
            r#"{{"case":"{name}","bytes":{},"ms":{:.2}}}"#,
            h.len(),
            took.as_secs_f64() * 1e3
        ));
    }
    // Binary: 16 MiB ext block of one-byte keys and values.
    let mut block = Vec::new();
    while block.len() < SIXTEEN_MIB - 64 {
        block.extend_from_slice(&[0, 1, b'k', 0, 0, 0, 1, b'v']);
    }
    let mut h = vec![0, 0, 12, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    h.extend_from_slice(&(block.len() as i32).to_be_bytes());
    h.extend_from_slice(&block);
    let t = Instant::now();
    let r = decode_binary_header(&h);
    let took = t.elapsed();
    println!(
        "binary tiny entries: {} bytes, {:.1} ms, {}",
        h.len(),
        took.as_secs_f64() * 1e3,
        r.map_or_else(
            |e| format!("refused: {e}"),
            |c| format!("decoded ({})", c.ext_fields.len())
        )
    );
    json_rows.push(format!(
        r#"{{"case":"binary tiny entries","bytes":{},"ms":{:.2}}}"#,
        h.len(),
        took.as_secs_f64() * 1e3
    ));
    println!(
        r#"{{"scenario":"header","cases":[{}]}}"#,
        json_rows.join(",")
    );
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("route") => route(),
        Some("header") => header(),
        _ => {
            eprintln!("usage: hostile_peers route|header");
            std::process::exit(2);
        }
    }
}
