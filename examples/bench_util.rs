//! Throughput of the small algorithms and the message layer (no network).
//!
//! Run: `cargo run --release --example bench_util`. Prints one line per figure, then one JSON line.
//! Every loop has a fixed iteration count; nothing is asserted about timing.

use bytes::BytesMut;
use rocketmq_bridge::message::{
    batch_record_len, decode_stored_messages, encode_batch_body, Message, Properties,
    UniqIdGenerator, MESSAGE_MAGIC_CODE_V1,
};
use rocketmq_bridge::remoting::{AclCredentials, RemotingCommand};
use rocketmq_bridge::util::{crc32, inflate_zlib, sha1};
use std::hint::black_box;
use std::time::Instant;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// (input, level5 stream) from a fixture of tests/fixtures/zlib.
fn zlib_fixture(name: &str) -> (Vec<u8>, Vec<u8>) {
    let path = format!("{}/tests/fixtures/zlib/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).map(|v| unhex(v.trim())))
            .unwrap()
    };
    (get("input "), get("level5 "))
}

/// Runs `f` `iters` times; returns seconds per iteration.
fn time<F: FnMut()>(iters: u32, mut f: F) -> f64 {
    f(); // warm-up
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_secs_f64() / iters as f64
}

/// A stored v1 IPv4 record with a 256-byte body and a few properties.
fn stored_record(i: u32) -> Vec<u8> {
    let body = vec![b'x'; 256];
    let props = format!(
        "UNIQ_KEY\u{1}7F00000112340000000000000000{i:04X}\u{2}TAGS\u{1}tag\u{2}KEYS\u{1}k{i}\u{2}"
    );
    let topic = b"BenchTopic";
    let mut r = Vec::new();
    let total = 88 + body.len() + 1 + topic.len() + 2 + props.len();
    r.extend_from_slice(&(total as i32).to_be_bytes());
    r.extend_from_slice(&MESSAGE_MAGIC_CODE_V1.to_be_bytes());
    r.extend_from_slice(&0u32.to_be_bytes()); // BODYCRC
    r.extend_from_slice(&0i32.to_be_bytes()); // QUEUEID
    r.extend_from_slice(&0i32.to_be_bytes()); // FLAG
    r.extend_from_slice(&(i as i64).to_be_bytes()); // QUEUEOFFSET
    r.extend_from_slice(&(i as i64 * 400).to_be_bytes()); // PHYSICALOFFSET
    r.extend_from_slice(&0i32.to_be_bytes()); // SYSFLAG
    r.extend_from_slice(&0i64.to_be_bytes()); // BORNTIMESTAMP
    r.extend_from_slice(&[127, 0, 0, 1, 0, 0, 0xc3, 0x50]); // BORNHOST
    r.extend_from_slice(&0i64.to_be_bytes()); // STORETIMESTAMP
    r.extend_from_slice(&[127, 0, 0, 1, 0, 0, 0x2a, 0x9f]); // STOREHOST
    r.extend_from_slice(&0i32.to_be_bytes()); // RECONSUMETIMES
    r.extend_from_slice(&0i64.to_be_bytes()); // PREPARED
    r.extend_from_slice(&(body.len() as i32).to_be_bytes());
    r.extend_from_slice(&body);
    r.push(topic.len() as u8);
    r.extend_from_slice(topic);
    r.extend_from_slice(&(props.len() as i16).to_be_bytes());
    r.extend_from_slice(props.as_bytes());
    assert_eq!(r.len(), total);
    r
}

fn main() {
    let mib = 1024.0 * 1024.0;
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 31 + 7) as u8).collect();

    let sha1_mib_s = 1.0
        / time(50, || {
            black_box(sha1(black_box(&data)));
        });
    println!("sha1            {sha1_mib_s:>10.1} MiB/s");

    let crc32_mib_s = 1.0
        / time(200, || {
            black_box(crc32(black_box(&data)));
        });
    println!("crc32           {crc32_mib_s:>10.1} MiB/s");

    let creds = AclCredentials::new("rocketmq2", "12345678");
    let props = "UNIQ_KEY\u{1}7F0000011234000000000A3B1C2D0001\u{2}WAIT\u{1}true\u{2}";
    let cmd = RemotingCommand::request(310)
        .with_ext("a", "test_producer_group")
        .with_ext("b", "MessagePublish")
        .with_ext("c", "TBW102")
        .with_ext("d", "4")
        .with_ext("e", "0")
        .with_ext("f", "0")
        .with_ext("g", "1700000000000")
        .with_ext("h", "0")
        .with_ext("i", props)
        .with_ext("j", "0")
        .with_ext("k", "false")
        .with_ext("m", "false")
        .with_body(vec![b'x'; 256]);
    let sign_us = 1e6
        * time(20_000, || {
            let mut c = cmd.clone();
            creds.sign(&mut c);
            black_box(c);
        });
    println!("acl sign 256 B  {sign_us:>10.2} us/request (incl. clone)");

    let mut inflate = Vec::new();
    for name in [
        "text.hex",
        "random3000.hex",
        "mixed66k.hex",
        "body_json.hex",
    ] {
        let (plain, z) = zlib_fixture(name);
        let iters = (20_000_000 / plain.len().max(1)).clamp(10, 20_000) as u32;
        let s = time(iters, || {
            black_box(inflate_zlib(black_box(&z), plain.len()).unwrap());
        });
        let rate = plain.len() as f64 / mib / s;
        println!(
            "inflate {name:<15} {rate:>8.1} MiB/s out ({} -> {} B)",
            z.len(),
            plain.len()
        );
        inflate.push((name.trim_end_matches(".hex").to_owned(), rate));
    }

    let mut p = Properties::new();
    for (k, v) in [
        ("UNIQ_KEY", "7F0000011234000000000A3B1C2D0001"),
        ("WAIT", "true"),
        ("TAGS", "tag1"),
        ("KEYS", "order-1 user-7"),
    ] {
        p.set(k, v);
    }
    let encoded = p.to_encoded().unwrap();
    let mut s = String::new();
    let props_encode_ns = 1e9
        * time(200_000, || {
            s.clear();
            p.encode(&mut s).unwrap();
            black_box(&s);
        });
    let props_decode_ns = 1e9
        * time(200_000, || {
            black_box(Properties::decode(black_box(&encoded)));
        });
    println!("properties      {props_encode_ns:>10.0} ns encode, {props_decode_ns:.0} ns decode (4 entries)");

    let batch: Vec<Message> = (0..100)
        .map(|i| {
            Message::new("BenchTopic", vec![b'x'; 256])
                .with_keys(&[&format!("key-{i}")])
                .with_tags("tag")
        })
        .collect();
    let batch_len: usize = batch.iter().map(batch_record_len).sum();
    let mut out = BytesMut::with_capacity(batch_len);
    let batch_us = 1e6
        * time(5_000, || {
            out.clear();
            encode_batch_body(&batch, &mut out).unwrap();
            black_box(&out);
        });
    println!("batch encode    {batch_us:>10.2} us per 100 x 256 B ({batch_len} B)");

    let pull: Vec<u8> = (0..32).flat_map(stored_record).collect();
    let decode_us = 1e6
        * time(5_000, || {
            black_box(decode_stored_messages(black_box(&pull), 1 << 20).unwrap());
        });
    println!(
        "stored decode   {decode_us:>10.2} us per 32 records ({} B)",
        pull.len()
    );

    let ids = UniqIdGenerator::new();
    let id_ns = 1e9
        * time(1_000_000, || {
            black_box(ids.next_id());
        });
    println!("uniq id         {id_ns:>10.0} ns/id");

    let inflate_json: Vec<String> = inflate
        .iter()
        .map(|(n, r)| format!("\"inflate_{n}_mib_s\":{r:.1}"))
        .collect();
    println!(
        "{{\"bench\":\"util\",\"sha1_mib_s\":{sha1_mib_s:.1},\"crc32_mib_s\":{crc32_mib_s:.1},\"acl_sign_us\":{sign_us:.2},{},\"props_encode_ns\":{props_encode_ns:.0},\"props_decode_ns\":{props_decode_ns:.0},\"batch100_encode_us\":{batch_us:.2},\"stored32_decode_us\":{decode_us:.2},\"uniq_id_ns\":{id_ns:.0}}}",
        inflate_json.join(",")
    );
}
