//! Broker ceiling probe. Pre-encodes one request frame per queue (a SEND_BATCH_MESSAGE of `--batch`
//! 256-byte messages, or with `--batch 1` a SEND_MESSAGE_V2) and writes them over `--conns`
//! connections, each keeping up to `--window` requests in flight; a reader thread per connection
//! decodes the responses and returns window slots. The client does no per-message work in the
//! timed loop, so the figure is what the broker can take, not what a client library achieves.
//!
//! `peer-broker-probe --broker ADDR --topic T [--messages N] [--batch B] [--conns C] [--window W]`
//! prints one JSON line: {"probe":...,"msgs":...,"msgs_per_s":...,"failed":...}.

use bytes::{Bytes, BytesMut};
use rocketmq_bridge::message::{encode_batch_body, Message, UniqIdGenerator};
use rocketmq_bridge::remoting::codes::{SEND_BATCH_MESSAGE, SEND_MESSAGE_V2};
use rocketmq_bridge::remoting::{decode_frame, encode_frame, FrameLimits, RemotingCommand};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUEUES: usize = 4;

fn opt(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One request frame for `queue`: a batch of `batch` messages or a single message.
fn frame(topic: &str, queue: usize, batch: usize, ids: &UniqIdGenerator) -> Bytes {
    let msgs: Vec<Message> = (0..batch)
        .map(|_| {
            Message::new(topic, Bytes::from(vec![b'x'; 256]))
                .with_property("UNIQ_KEY", ids.next_id())
                .with_property("WAIT", "true")
        })
        .collect();
    let (code, props, body) = if batch == 1 {
        let mut p = String::new();
        msgs[0].properties.encode(&mut p).expect("properties");
        (SEND_MESSAGE_V2, p, msgs[0].body.clone())
    } else {
        let mut b = BytesMut::new();
        encode_batch_body(&msgs, &mut b).expect("batch body");
        (
            SEND_BATCH_MESSAGE,
            "WAIT\u{1}true\u{2}".to_owned(),
            b.freeze(),
        )
    };
    let mut cmd = RemotingCommand::request(code)
        .with_ext("a", "probe_group")
        .with_ext("b", topic)
        .with_ext("c", "TBW102")
        .with_ext("d", &QUEUES.to_string())
        .with_ext("e", &queue.to_string())
        .with_ext("f", "0")
        .with_ext("g", &now_ms().to_string())
        .with_ext("h", "0")
        .with_ext("i", &props)
        .with_ext("j", "0")
        .with_ext("k", "false")
        .with_ext("m", if batch == 1 { "false" } else { "true" });
    cmd.body = body;
    let mut out = BytesMut::new();
    encode_frame(&cmd, &mut out, &FrameLimits::default()).expect("encode");
    out.freeze()
}

/// Reads responses until `expect` arrived or the deadline passed; returns (ok, failed).
fn read_responses(
    mut s: TcpStream,
    expect: usize,
    slots: crossbeam_channel::Sender<()>,
    deadline: Instant,
) -> (usize, usize) {
    let lim = FrameLimits::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut ok, mut failed) = (0, 0);
    while ok + failed < expect && Instant::now() < deadline {
        loop {
            match decode_frame(&mut buf, &lim) {
                Ok(Some(resp)) => {
                    if resp.code == 0 {
                        ok += 1;
                    } else {
                        failed += 1;
                        if failed <= 3 {
                            eprintln!(
                                "probe: response code {} remark {:?}",
                                resp.code, resp.remark
                            );
                        }
                    }
                    let _ = slots.try_send(());
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("probe: decode error {e}");
                    return (ok, expect - ok);
                }
            }
        }
        if ok + failed >= expect {
            break;
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => {
                eprintln!("probe: read error {e}");
                break;
            }
        }
    }
    (ok, expect - ok)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let broker = opt(&args, "--broker").unwrap_or_else(|| "127.0.0.1:10911".into());
    let topic =
        opt(&args, "--topic").unwrap_or_else(|| format!("ProbeTopic{}", std::process::id()));
    let messages: usize = opt(&args, "--messages")
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let batch: usize = opt(&args, "--batch")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
        .max(1);
    let conns: usize = opt(&args, "--conns")
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
        .max(1);
    let window: usize = opt(&args, "--window")
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
        .max(1);
    let ids = UniqIdGenerator::new();
    let frames: Vec<Bytes> = (0..QUEUES).map(|q| frame(&topic, q, batch, &ids)).collect();
    let requests = messages.div_ceil(batch);
    let timeout = Duration::from_secs(5);

    // Warm-up: one request on its own connection creates the topic before timing starts.
    {
        let mut s = TcpStream::connect(&broker).expect("connect broker");
        s.set_read_timeout(Some(timeout)).expect("timeout");
        s.write_all(&frames[0]).expect("write");
        let (ok, _) = read_responses(
            s,
            1,
            crossbeam_channel::bounded(1).0,
            Instant::now() + timeout,
        );
        if ok != 1 {
            eprintln!("probe: warm-up request failed");
        }
    }

    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(300);
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for c in 0..conns {
        let share = requests / conns + usize::from(c < requests % conns);
        let (broker, frames, next) = (broker.clone(), frames.clone(), Arc::clone(&next));
        handles.push(std::thread::spawn(move || {
            let s = TcpStream::connect(&broker).expect("connect broker");
            s.set_nodelay(true).ok();
            s.set_read_timeout(Some(Duration::from_millis(500))).ok();
            let (slot_tx, slot_rx) = crossbeam_channel::bounded::<()>(window);
            for _ in 0..window {
                let _ = slot_tx.send(());
            }
            let rs = s.try_clone().expect("clone");
            let reader = std::thread::spawn(move || read_responses(rs, share, slot_tx, deadline));
            let mut w = s;
            for _ in 0..share {
                if slot_rx.recv_deadline(deadline).is_err() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if w.write_all(&frames[i % QUEUES]).is_err() {
                    break;
                }
            }
            reader.join().unwrap_or((0, share))
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for h in handles {
        let (o, f) = h.join().unwrap_or((0, 0));
        ok += o;
        failed += f;
    }
    let secs = t0.elapsed().as_secs_f64();
    let msgs = ok * batch;
    println!(
        "{{\"probe\":\"{}\",\"batch\":{batch},\"conns\":{conns},\"window\":{window},\"msgs\":{msgs},\"msgs_per_s\":{:.0},\"failed\":{},\"secs\":{secs:.3}}}",
        if batch == 1 { "single" } else { "batch" },
        msgs as f64 / secs,
        failed * batch,
    );
}
