//! Disk spool benchmark: appends N records of S bytes from one thread under each sync policy
//! (append rate, p50/p99/max append latency, fsyncs), then reads them back with a cursor and
//! acknowledges each (drain rate), and measures recovery of a spool holding N pending records.
//! Prints one line per scenario, then one JSON line. `hw_writes` is how many durable writes of the
//! sequence high-water mark (`seq.hw`, two fsyncs each, included in `fsyncs`) the appends needed.
//!
//! `cargo run --release --example bench_spool -- [--records N] [--size S] [--dir PATH]`
//! (defaults: 200000 records, 256 bytes, target/bench-spool). `always` runs N/20 records.

use rocketmq_bridge::spool::{Spool, SpoolConfig, SyncPolicy};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Row {
    sync: String,
    records: u64,
    append_per_s: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    syncs: u64,
    hw_writes: u64,
    drain_per_s: f64,
    mb_per_s: f64,
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn fresh(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
}

fn run(dir: &Path, sync: SyncPolicy, records: u64, size: usize) -> Row {
    fresh(dir);
    let (spool, _) = Spool::open(SpoolConfig::new(dir).sync(sync)).unwrap();
    let payload = vec![0x5Au8; size];
    let mut lat = Vec::with_capacity(records as usize);
    let t0 = Instant::now();
    for _ in 0..records {
        let t = Instant::now();
        spool.append(&payload).unwrap();
        lat.push(t.elapsed().as_micros() as u64);
    }
    spool.sync().unwrap();
    let append_secs = t0.elapsed().as_secs_f64();
    let st = spool.stats();
    let (syncs, hw_writes) = (st.syncs, st.seq_reservations);
    let t1 = Instant::now();
    let mut c = spool.cursor();
    let mut n = 0;
    while let Some(r) = c.next_record().unwrap() {
        spool.ack(r.seq).unwrap();
        n += 1;
    }
    assert_eq!(n, records, "every record read back");
    let drain_secs = t1.elapsed().as_secs_f64();
    spool.close().unwrap();
    lat.sort_unstable();
    Row {
        sync: sync.to_string(),
        records,
        append_per_s: records as f64 / append_secs,
        p50_us: pct(&lat, 0.5),
        p99_us: pct(&lat, 0.99),
        max_us: *lat.last().unwrap(),
        syncs,
        hw_writes,
        drain_per_s: records as f64 / drain_secs,
        mb_per_s: records as f64 * (size + 28) as f64 / append_secs / 1e6,
    }
}

/// Fills a spool with `records` pending records, then times `Spool::open`.
fn recovery(dir: &Path, records: u64, size: usize) -> (f64, u64) {
    fresh(dir);
    let (spool, _) = Spool::open(SpoolConfig::new(dir).sync(SyncPolicy::None)).unwrap();
    let payload = vec![0xA5u8; size];
    for _ in 0..records {
        spool.append(&payload).unwrap();
    }
    spool.close().unwrap();
    let t = Instant::now();
    let (_spool, rec) = Spool::open(SpoolConfig::new(dir)).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(rec.pending_records, records);
    (secs, rec.bytes)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let records: u64 = get("--records").map_or(200_000, |v| v.parse().expect("--records N"));
    let size: usize = get("--size").map_or(256, |v| v.parse().expect("--size S"));
    let dir = get("--dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-spool"));
    let policies = [
        SyncPolicy::None,
        SyncPolicy::Interval(Duration::from_secs(1)),
        SyncPolicy::Every(100),
        SyncPolicy::Always,
    ];
    let mut rows = Vec::new();
    for p in policies {
        let n = if p == SyncPolicy::Always {
            (records / 20).max(1)
        } else {
            records
        };
        let r = run(&dir, p, n, size);
        println!(
            "sync {:<14} {:>8} records of {size} B: {:>9.0} appends/s ({:.1} MB/s), append p50 {} us p99 {} us max {} us, {} fsyncs ({} seq.hw writes); drain+ack {:>9.0} records/s",
            r.sync, r.records, r.append_per_s, r.mb_per_s, r.p50_us, r.p99_us, r.max_us, r.syncs, r.hw_writes, r.drain_per_s
        );
        rows.push(r);
    }
    let (rec_secs, rec_bytes) = recovery(&dir, records, size);
    println!(
        "recovery of {records} pending records ({rec_bytes} bytes): {:.3} s",
        rec_secs
    );
    let _ = std::fs::remove_dir_all(&dir);
    let json: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{{\"sync\":\"{}\",\"records\":{},\"append_per_s\":{:.0},\"mb_per_s\":{:.1},\"p50_us\":{},\"p99_us\":{},\"max_us\":{},\"fsyncs\":{},\"hw_writes\":{},\"drain_ack_per_s\":{:.0}}}",
                r.sync, r.records, r.append_per_s, r.mb_per_s, r.p50_us, r.p99_us, r.max_us, r.syncs, r.hw_writes, r.drain_per_s
            )
        })
        .collect();
    println!(
        "{{\"bench\":\"spool\",\"record_bytes\":{size},\"scenarios\":[{}],\"recovery\":{{\"records\":{records},\"bytes\":{rec_bytes},\"secs\":{rec_secs:.3}}}}}",
        json.join(",")
    );
}
