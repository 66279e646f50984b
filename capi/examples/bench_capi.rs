//! Hand-over cost per event through the C ABI against the Rust API, in one run against a running
//! RocketMQ.
//!
//! Two bridges in async mode on one topic (one rule, `message.publish`): one started with
//! [`Bridge::start`] and fed with `Bridge::sender().send` and `EventSender::send_then` (the Rust
//! API: an [`Event`] built from string slices and the payload copied each time, as a Rust host
//! with borrowed data does), one started with
//! `rmqb_start_text` and fed with `rmqb_send` and `rmqb_send_async` (a prepared `rmqb_event_t` of
//! borrowed strings, as a C host does). `rmqb_send` is compared with `send`, `rmqb_send_async`
//! (outcome callback) with `send_then` (outcome closure): the median of the per-round
//! differences, which a shared machine's drift disturbs less than a difference of medians. The C entry points are called as Rust functions from this crate's rlib: the same code
//! the cdylib exports, without the dynamic call's PLT jump (about a nanosecond).
//!
//! The hand-over is timed in blocks of `--block` events (default 500, below the bridge's channel
//! of 1,024 messages, so the dispatcher never makes a block wait): each block starts with the
//! bridge empty (every message of the previous block confirmed), and the three ways take turns
//! block by block (their order turning each round), so a drift of the broker or the machine hits
//! them alike. Prints the median ns
//! per event of each way over the blocks, the C ABI's extra cost, and one JSON line; at the end
//! checks that the broker confirmed every event (counters of both bridges).
//!
//! `cargo build --release -p rocketmq-bridge-capi --example bench_capi &&
//!  target/release/examples/bench_capi --namesrv ADDR [--blocks N] [--block B] [--topic T]`
// This program plays the C host: it calls the `unsafe extern "C"` entry points and hands them a
// callback, each call with its `// SAFETY:` note.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rocketmq_bridge::bridge::{Bridge, BridgeConfig, Event, Handover};
use rocketmq_bridge_capi::abi::{self, RmqbBytes, RmqbCounters, RmqbEvent, RmqbStr};
use rocketmq_bridge_capi::ffi;

const PAYLOAD: &str = "temperature=21.5;humidity=40;battery=97;status=ok;seq=000000000000";
const CLIENT: &str = "client-7";
const USER: &str = "user";
const MQTT_TOPIC: &str = "sensors/7/data";
const TS: u64 = 1_700_000_000_000;

static OUTCOMES: AtomicU64 = AtomicU64::new(0);
static OUTCOME_ERRORS: AtomicU64 = AtomicU64::new(0);
static RUST_OUTCOMES: AtomicU64 = AtomicU64::new(0);

/// The outcome callback: counts outcomes and errors.
///
/// # Safety
/// Called by the library as an `rmqb_outcome_fn`; it reads none of its pointers.
unsafe extern "C" fn on_outcome(_: *mut c_void, _: u64, status: i32, _: *const c_char, _: usize) {
    if status != abi::OK {
        OUTCOME_ERRORS.fetch_add(1, Ordering::Relaxed);
    }
    OUTCOMES.fetch_add(1, Ordering::Relaxed);
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// The payload as a Rust host hands it over: copied out of the host's own buffer (as the C ABI
/// copies the borrowed bytes, and as the mosquitto plugin copies mosquitto's).
fn payload() -> Bytes {
    Bytes::copy_from_slice(std::hint::black_box(PAYLOAD.as_bytes()))
}

fn s(v: &'static str) -> RmqbStr {
    RmqbStr {
        ptr: v.as_ptr().cast(),
        len: v.len(),
    }
}

fn none() -> RmqbStr {
    RmqbStr {
        ptr: std::ptr::null(),
        len: 0,
    }
}

/// Waits until `in_flight` reads 0 (every message confirmed or ended); false after 60 s.
fn drained(in_flight: &dyn Fn() -> u64) -> bool {
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        if in_flight() == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let namesrv = arg(&args, "--namesrv").expect("--namesrv ADDR");
    let blocks: usize = arg(&args, "--blocks").map_or(20, |v| v.parse().unwrap());
    let block: usize = arg(&args, "--block").map_or(500, |v| v.parse().unwrap());
    let topic =
        arg(&args, "--topic").unwrap_or_else(|| format!("BenchCapi_{}", std::process::id()));
    let conf = format!(
        "bridge.rocket.servers = {namesrv}\n\
         bridge.rocket.produce = async\n\
         bridge.rocket.buffer.max_bytes = 256MB\n\
         bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"{topic}\"}}\n"
    );

    let rust = Bridge::start(BridgeConfig::parse(&conf, "<bench>").unwrap()).expect("bridge start");
    let sender = rust.sender();
    let mut err = [0u8; 512];
    // SAFETY: `conf` is `len` readable bytes; `err` is a writable buffer of its length.
    let c = unsafe {
        ffi::rmqb_start_text(
            conf.as_ptr().cast(),
            conf.len(),
            Some(on_outcome),
            std::ptr::null_mut(),
            err.as_mut_ptr().cast(),
            err.len(),
        )
    };
    assert!(!c.is_null(), "{}", String::from_utf8_lossy(&err));
    let c_in_flight = || {
        let mut out = RmqbCounters::default();
        // SAFETY: a live handle and a writable counters struct.
        assert_eq!(unsafe { ffi::rmqb_stats(c, &mut out) }, abi::OK);
        out.in_flight
    };

    let ev = RmqbEvent {
        kind: 4,
        qos: 1,
        retain: 0,
        reserved: 0,
        ts_ms: TS,
        client_id: s(CLIENT),
        username: s(USER),
        topic: s(MQTT_TOPIC),
        from: none(),
        reason: none(),
        payload: RmqbBytes {
            ptr: PAYLOAD.as_ptr(),
            len: PAYLOAD.len(),
        },
    };

    let (mut rust_ns, mut capi_ns, mut capi_async_ns) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rust_then_ns, mut send_diff, mut async_diff) = (Vec::new(), Vec::new(), Vec::new());
    let mut pending = 0u64;
    let mut rust_pending = 0u64;
    // One warm-up block each (connections, routes, allocator), not counted. The order of the
    // three ways turns each round, so that none always runs first after the idle drain wait.
    for round in 0..=blocks {
        let mut took = [Duration::ZERO; 4];
        for k in 0..4 {
            let way = (round + k) % 4;
            let t = Instant::now();
            match way {
                0 => {
                    // Rust API.
                    for _ in 0..block {
                        let mut e =
                            Event::message_publish(CLIENT, MQTT_TOPIC, payload(), 1).with_ts(TS);
                        e.username = Some(USER.into());
                        e.retain = Some(false);
                        sender.send(e).expect("rust send");
                    }
                }
                1 => {
                    // C ABI, rmqb_send (async mode: returns once buffered).
                    for _ in 0..block {
                        // SAFETY: a live handle and an event whose pointers borrow static strings.
                        let st = unsafe { ffi::rmqb_send(c, &ev, std::ptr::null_mut(), 0) };
                        assert_eq!(st, abi::OK);
                    }
                }
                3 => {
                    // Rust API with an outcome callback per event (what rmqb_send_async uses).
                    for _ in 0..block {
                        let mut e =
                            Event::message_publish(CLIENT, MQTT_TOPIC, payload(), 1).with_ts(TS);
                        e.username = Some(USER.into());
                        e.retain = Some(false);
                        let h = sender.send_then(e, |r| {
                            if r.is_err() {
                                OUTCOME_ERRORS.fetch_add(1, Ordering::Relaxed);
                            }
                            RUST_OUTCOMES.fetch_add(1, Ordering::Relaxed);
                        });
                        assert_eq!(h, Handover::Pending);
                    }
                    rust_pending += block as u64;
                }
                _ => {
                    // C ABI, rmqb_send_async (outcome callback per event).
                    for i in 0..block {
                        // SAFETY: as above.
                        let st = unsafe { ffi::rmqb_send_async(c, &ev, i as u64) };
                        assert_eq!(st, abi::PENDING);
                    }
                    pending += block as u64;
                }
            }
            took[way] = t.elapsed();
            assert!(
                drained(&|| rust.stats().in_flight as u64) && drained(&c_in_flight),
                "a bridge did not drain"
            );
        }
        if round > 0 {
            let per = |d: Duration| d.as_nanos() as f64 / block as f64;
            rust_ns.push(per(took[0]));
            capi_ns.push(per(took[1]));
            capi_async_ns.push(per(took[2]));
            rust_then_ns.push(per(took[3]));
            send_diff.push(per(took[1]) - per(took[0]));
            async_diff.push(per(took[2]) - per(took[3]));
        }
    }
    let end = Instant::now() + Duration::from_secs(30);
    while (OUTCOMES.load(Ordering::Relaxed) < pending
        || RUST_OUTCOMES.load(Ordering::Relaxed) < rust_pending)
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(5));
    }

    let total = ((blocks + 1) * block) as u64;
    let rust_report = rust.shutdown(Duration::from_secs(10));
    let mut rep = abi::RmqbReport::default();
    // SAFETY: the live handle, given back once; a writable report; no text buffer.
    let st = unsafe { ffi::rmqb_stop(c, 10_000, &mut rep, std::ptr::null_mut(), 0) };
    let rust_sent = rust_report.stats.total().sent;
    let capi_sent = rep.counters.sent;
    let all_sent = st == abi::OK
        && rust_report.drained
        && rust_sent == 2 * total
        && capi_sent == 2 * total
        && OUTCOMES.load(Ordering::Relaxed) == pending
        && RUST_OUTCOMES.load(Ordering::Relaxed) == rust_pending
        && OUTCOME_ERRORS.load(Ordering::Relaxed) == 0;

    let (r, c1, c2) = (median(&rust_ns), median(&capi_ns), median(&capi_async_ns));
    let rt = median(&rust_then_ns);
    let (d1, d2) = (median(&send_diff), median(&async_diff));
    println!("blocks {blocks} x {block} events, topic {topic}, every block starts drained");
    println!(
        "rust_api_send       {r:>8.0} ns/event (Bridge::sender().send, Event built from &str, payload copied)"
    );
    println!("rust_api_send_then  {rt:>8.0} ns/event (EventSender::send_then, outcome closure)");
    println!("capi_send           {c1:>8.0} ns/event (rmqb_send, prepared rmqb_event_t)");
    println!("capi_send_async     {c2:>8.0} ns/event (rmqb_send_async, outcome callback)");
    println!(
        "capi extra          {d1:>8.0} ns/event (rmqb_send - send), {d2:.0} ns/event (rmqb_send_async - send_then); medians of the per-round differences"
    );
    println!(
        "confirmed by the broker: rust {rust_sent}/{}, capi {capi_sent}/{} (outcomes C {}/{pending}, Rust {}/{rust_pending}, errors {}); all_sent={all_sent}",
        2 * total,
        2 * total,
        OUTCOMES.load(Ordering::Relaxed),
        RUST_OUTCOMES.load(Ordering::Relaxed),
        OUTCOME_ERRORS.load(Ordering::Relaxed)
    );
    println!(
        "{{\"bench\":\"capi_handover\",\"blocks\":{blocks},\"block\":{block},\"rust_api_send_ns\":{r:.1},\"rust_api_send_then_ns\":{rt:.1},\"capi_send_ns\":{c1:.1},\"capi_send_async_ns\":{c2:.1},\"capi_send_extra_ns\":{d1:.1},\"capi_send_async_extra_ns\":{d2:.1},\"all_sent\":{all_sent}}}"
    );
    if !all_sent {
        std::process::exit(1);
    }
}
