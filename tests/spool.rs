//! The disk spool: round trip, restart, torn tails, corruption, the size cap, sequence numbers
//! across restarts, concurrency, and a child process killed with SIGKILL mid-append.

use rocketmq_bridge_test_support as support;

use rocketmq_bridge::spool::record::{
    encode_ack, encode_record, encode_seq_file, SeqMark, SPOOL_FORMAT_VERSION,
};
use rocketmq_bridge::spool::{
    Record, RecordDropReason, Recovery, Spool, SpoolConfig, SpoolError, SyncPolicy, MAX_SEQ,
    MIN_SEGMENT_SIZE, SEQ_BLOCK_MAX,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{init_log, ms, XorShift};

const HEADER: u64 = 28;

/// A fresh, empty directory under target/spool-test/.
fn fresh_dir(name: &str) -> PathBuf {
    support::temp_dir("spool-test", name)
}

fn cfg(dir: &Path) -> SpoolConfig {
    SpoolConfig::new(dir).sync(SyncPolicy::Always)
}

fn payload(seq: u64) -> Vec<u8> {
    format!("event-{seq}-{}", "x".repeat((seq % 37) as usize)).into_bytes()
}

/// A 200-byte payload.
fn big(seq: u64) -> Vec<u8> {
    let mut p = payload(seq);
    p.resize(200, b'.');
    p
}

/// Everything a fresh cursor delivers now.
fn drain(spool: &Spool) -> Vec<Record> {
    let mut c = spool.cursor();
    let mut out = Vec::new();
    while let Some(r) = c.next_record().unwrap() {
        out.push(r);
    }
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "spool"))
        .collect();
    v.sort();
    v
}

#[test]
fn appended_records_come_back_in_order_and_acks_release_them() {
    init_log();
    let dir = fresh_dir("round-trip");
    let (spool, rec) = Spool::open(cfg(&dir)).unwrap();
    assert_eq!((rec.pending_records, rec.next_seq), (0, 0));
    assert_eq!(rec.torn_tail, None);
    for i in 0..500 {
        assert_eq!(spool.append(&payload(i)).unwrap(), i);
    }
    let got = drain(&spool);
    assert_eq!(got.len(), 500);
    for (i, r) in got.iter().enumerate() {
        assert_eq!((r.seq, &r.payload), (i as u64, &payload(i as u64)));
        assert!(r.time_ms > 1_600_000_000_000, "{}", r.time_ms);
    }
    for r in &got {
        assert!(spool.ack(r.seq).unwrap());
    }
    assert!(!spool.ack(3).unwrap(), "a second ack is a no-op");
    assert!(!spool.ack(10_000).unwrap(), "an unknown seq is a no-op");
    let s = spool.stats();
    assert_eq!((s.appended, s.acked, s.pending_records), (500, 500, 0));
    assert!(drain(&spool).is_empty());
    assert!(
        s.syncs >= 500,
        "sync always fsyncs every append: {}",
        s.syncs
    );
}

#[test]
fn empty_payloads_and_the_record_limit() {
    let dir = fresh_dir("limits");
    let c = cfg(&dir).segment_size(MIN_SEGMENT_SIZE);
    let max = c.max_record_len();
    let (spool, _) = Spool::open(c).unwrap();
    assert_eq!(spool.append(b"").unwrap(), 0);
    assert_eq!(spool.append(&vec![7u8; max]).unwrap(), 1);
    match spool.append(&vec![7u8; max + 1]) {
        Err(SpoolError::RecordTooLarge { len, max: m }) => assert_eq!((len, m), (max + 1, max)),
        other => panic!("{other:?}"),
    }
    let got = drain(&spool);
    assert_eq!(got.len(), 2);
    assert!(got[0].payload.is_empty());
    assert_eq!(got[1].payload.len(), max);
}

#[test]
fn restart_resends_only_unacked_records_and_sequence_continues() {
    let dir = fresh_dir("restart");
    let (spool, _) = Spool::open(cfg(&dir).segment_size(MIN_SEGMENT_SIZE)).unwrap();
    for i in 0..3000 {
        spool.append(&big(i)).unwrap();
    }
    assert!(segments(&dir).len() > 3, "test wants several segments");
    // Acknowledge out of order: all of the first 1000, then every odd one.
    for s in (0..1000).rev() {
        spool.ack(s).unwrap();
    }
    for s in (1001..3000).step_by(2) {
        spool.ack(s).unwrap();
    }
    let expect: Vec<u64> = (1000..3000).step_by(2).collect();
    drop(spool);

    let (spool, rec) = Spool::open(cfg(&dir).segment_size(MIN_SEGMENT_SIZE)).unwrap();
    assert_eq!(rec.pending_records, expect.len() as u64);
    assert_eq!(rec.first_pending_seq, Some(1000));
    assert_eq!(rec.next_seq, 3000);
    assert!(rec.corrupt.is_empty() && rec.torn_tail.is_none());
    let got: Vec<u64> = drain(&spool).iter().map(|r| r.seq).collect();
    assert_eq!(got, expect);
    for r in drain(&spool) {
        assert_eq!(r.payload, big(r.seq));
    }
    assert_eq!(spool.append(b"after").unwrap(), 3000);
    // Fully acknowledged segments were removed at open.
    let before = segments(&dir).len();
    for s in expect {
        spool.ack(s).unwrap();
    }
    // Released files are deleted by the next flush, once acks.log is on the device.
    spool.sync().unwrap();
    assert!(segments(&dir).len() < before);
    assert_eq!(segments(&dir).len(), 1, "only the active segment is left");
}

#[test]
fn sequence_numbers_keep_increasing_when_everything_was_acked() {
    let dir = fresh_dir("seq");
    let c = || cfg(&dir).segment_size(MIN_SEGMENT_SIZE);
    let mut expected = 0;
    for round in 0..4 {
        let (spool, rec) = Spool::open(c()).unwrap();
        assert_eq!(rec.next_seq, expected, "round {round}");
        assert_eq!(rec.pending_records, 0);
        // Enough to roll segments, all acknowledged, so old files go away.
        for _ in 0..200 {
            let s = spool.append(&[1u8; 1000]).unwrap();
            assert_eq!(s, expected);
            expected += 1;
            spool.ack(s).unwrap();
        }
        spool.sync().unwrap();
        assert_eq!(segments(&dir).len(), 1);
        spool.close().unwrap();
    }
    // Even with acks.log gone the newest segment remembers where numbering stands.
    std::fs::remove_file(dir.join("acks.log")).unwrap();
    let (spool, rec) = Spool::open(c()).unwrap();
    assert_eq!(rec.next_seq, expected);
    assert_eq!(spool.append(b"x").unwrap(), expected);
}

/// Writes 6 records with `always`, closes, and returns (dir, size of the last record).
fn six_records(name: &str) -> (PathBuf, u64) {
    let dir = fresh_dir(name);
    let (spool, _) = Spool::open(cfg(&dir)).unwrap();
    for i in 0..6 {
        spool.append(&payload(i)).unwrap();
    }
    spool.close().unwrap();
    (dir, HEADER + payload(5).len() as u64)
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record_skips_only_that_record() {
    init_log();
    let (src, last_len) = six_records("torn-src");
    let seg = segments(&src).pop().unwrap();
    let image = std::fs::read(&seg).unwrap();
    let start = image.len() as u64 - last_len;
    for cut in 0..last_len {
        let dir = fresh_dir("torn");
        let name = seg.file_name().unwrap();
        std::fs::write(dir.join(name), &image[..(start + cut) as usize]).unwrap();
        std::fs::copy(src.join("acks.log"), dir.join("acks.log")).unwrap();
        let (spool, rec) = Spool::open(cfg(&dir)).unwrap();
        if cut == 0 {
            assert_eq!(rec.torn_tail, None);
        } else {
            let t = rec.torn_tail.clone().unwrap_or_else(|| panic!("cut {cut}"));
            assert_eq!((t.offset, t.bytes), (start, cut), "cut {cut}");
        }
        assert!(rec.corrupt.is_empty(), "cut {cut}: {:?}", rec.corrupt);
        assert_eq!(rec.pending_records, 5, "cut {cut}");
        assert_eq!(std::fs::metadata(dir.join(name)).unwrap().len(), start);
        let got = drain(&spool);
        assert_eq!(
            got.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        // The file continues cleanly after the cut.
        assert_eq!(spool.append(b"next").unwrap(), 5);
        spool.close().unwrap();
        let (spool, rec) = Spool::open(cfg(&dir)).unwrap();
        assert!(
            rec.torn_tail.is_none() && rec.corrupt.is_empty(),
            "cut {cut}"
        );
        assert_eq!(drain(&spool).len(), 6);
        drop(spool);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn corrupt_record_in_the_middle_is_reported_counted_and_skipped() {
    init_log();
    let dir = fresh_dir("corrupt");
    let c = || cfg(&dir).segment_size(MIN_SEGMENT_SIZE);
    let (spool, _) = Spool::open(c()).unwrap();
    for i in 0..400 {
        spool.append(&[i as u8; 1000]).unwrap();
    }
    spool.ack(101).unwrap();
    spool.close().unwrap();
    let segs = segments(&dir);
    assert!(segs.len() >= 3);
    // Record 100 and 101 are in the second segment (64 records of 1028 bytes per 64 KiB).
    let second = &segs[1];
    let first_seq: u64 = second.file_name().unwrap().to_str().unwrap()[4..24]
        .parse()
        .unwrap();
    let mut img = std::fs::read(second).unwrap();
    let rec_len = HEADER + 1000;
    let at = |seq: u64| ((seq - first_seq) * rec_len) as usize;
    img[at(100) + 500] ^= 0xFF; // payload of 100
    img[at(101) + 10] ^= 0x01; // header (seq) of 101, which was acked
    img[at(110) + 4] = 0x7F; // length of 110: absurd
    std::fs::write(second, &img).unwrap();
    // And garbage at the end of the first segment (not the newest: corrupt, not torn).
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&segs[0])
        .unwrap();
    f.write_all(b"RBR1 garbage").unwrap();
    drop(f);

    let (spool, rec) = Spool::open(c()).unwrap();
    assert!(rec.torn_tail.is_none());
    let spans: Vec<(Option<(u64, u64)>, u64)> =
        rec.corrupt.iter().map(|c| (c.seqs, c.unacked)).collect();
    assert_eq!(
        spans,
        [(None, 0), (Some((100, 101)), 1), (Some((110, 110)), 1)],
        "{:?}",
        rec.corrupt
    );
    assert_eq!(rec.corrupt[1].offset, at(100) as u64);
    assert_eq!(rec.corrupt[1].bytes, 2 * rec_len);
    let got: BTreeSet<u64> = drain(&spool).iter().map(|r| r.seq).collect();
    let want: BTreeSet<u64> = (0..400).filter(|s| ![100, 101, 110].contains(s)).collect();
    assert_eq!(got, want);
    assert_eq!(spool.stats().corrupt_records, 2);
    let d = spool.take_dropped();
    assert_eq!(
        d.iter()
            .map(|d| (d.reason, d.first_seq, d.last_seq, d.records))
            .collect::<Vec<_>>(),
        [
            (RecordDropReason::Corrupt, 100, 101, 1),
            (RecordDropReason::Corrupt, 110, 110, 1)
        ]
    );
    assert!(spool.take_dropped().is_empty());
}

#[test]
fn cap_drops_the_oldest_records_and_reports_their_ranges() {
    let dir = fresh_dir("cap");
    let seg = MIN_SEGMENT_SIZE;
    let c = || cfg(&dir).segment_size(seg).max_bytes(3 * seg);
    let (spool, _) = Spool::open(c()).unwrap();
    let n = 1000u64;
    for i in 0..n {
        spool.append(&[(i % 251) as u8; 1000]).unwrap();
        if i == 5 {
            spool.ack(3).unwrap();
        }
        assert!(spool.stats().bytes <= 3 * seg, "cap held at {i}");
    }
    let st = spool.stats();
    let dropped = spool.take_dropped();
    assert!(!dropped.is_empty());
    let mut next = 0;
    let mut total = 0;
    for (k, d) in dropped.iter().enumerate() {
        assert_eq!(d.reason, RecordDropReason::CapReached);
        assert_eq!(d.first_seq, next, "{dropped:?}");
        let acked_inside = u64::from(k == 0); // seq 3
        assert_eq!(d.records, d.last_seq - d.first_seq + 1 - acked_inside);
        let (t0, t1) = d.time_range_ms.unwrap();
        assert!(t0 <= t1);
        next = d.last_seq + 1;
        total += d.records;
    }
    assert_eq!(st.dropped_records, total);
    let kept: Vec<u64> = drain(&spool).iter().map(|r| r.seq).collect();
    assert_eq!(kept, (next..n).collect::<Vec<_>>());
    assert_eq!(total + kept.len() as u64 + 1, n, "dropped + kept + acked");
    // A restart with a smaller cap drops more at open.
    drop(spool);
    let (spool, rec) = Spool::open(c().max_bytes(2 * seg)).unwrap();
    assert!(rec.bytes <= 2 * seg);
    let d = spool.take_dropped();
    assert!(!d.is_empty());
    assert_eq!(d[0].first_seq, next);
    let lost: u64 = d.iter().map(|d| d.records).sum();
    assert_eq!(lost + rec.pending_records, kept.len() as u64);
    let left: Vec<u64> = drain(&spool).iter().map(|r| r.seq).collect();
    assert_eq!(
        left,
        (d.last().unwrap().last_seq + 1..n).collect::<Vec<_>>()
    );
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = fresh_dir("lock");
    let (spool, _) = Spool::open(cfg(&dir)).unwrap();
    match Spool::open(cfg(&dir)) {
        Err(SpoolError::Locked { dir: d }) => assert_eq!(d, dir),
        other => panic!("{other:?}"),
    }
    drop(spool);
    assert!(Spool::open(cfg(&dir)).is_ok());
}

#[test]
fn cursor_waits_for_appends_and_rewind_starts_a_new_pass() {
    let dir = fresh_dir("cursor");
    let (spool, _) = Spool::open(SpoolConfig::new(&dir).sync(SyncPolicy::None)).unwrap();
    let spool = Arc::new(spool);
    let mut c = spool.cursor();
    let t0 = Instant::now();
    assert_eq!(c.next_timeout(ms(50)).unwrap(), None);
    assert!(t0.elapsed() >= ms(50));
    let s2 = spool.clone();
    let h = std::thread::spawn(move || {
        std::thread::sleep(ms(30));
        s2.append(b"late").unwrap()
    });
    let r = c.next_timeout(ms(5000)).unwrap().unwrap();
    assert_eq!(
        (r.seq, r.payload.as_slice()),
        (h.join().unwrap(), &b"late"[..])
    );
    spool.append(b"second").unwrap();
    assert_eq!(c.next_record().unwrap().unwrap().seq, 1);
    assert_eq!(c.next_record().unwrap(), None);
    c.rewind();
    assert_eq!(c.next_record().unwrap().unwrap().seq, 0);
    spool.ack(1).unwrap();
    assert_eq!(c.next_record().unwrap(), None, "acked records are skipped");
}

#[test]
fn concurrent_appenders_get_unique_sequence_numbers() {
    let dir = fresh_dir("concurrent");
    let (spool, _) = Spool::open(
        SpoolConfig::new(&dir)
            .segment_size(MIN_SEGMENT_SIZE)
            .sync("every:50".parse().unwrap()),
    )
    .unwrap();
    let spool = Arc::new(spool);
    let sender = {
        let s = spool.clone();
        std::thread::spawn(move || {
            let mut c = s.cursor();
            let mut seen = BTreeMap::new();
            while seen.len() < 4000 {
                match c.next_timeout(ms(5000)).unwrap() {
                    Some(r) => {
                        assert!(seen.insert(r.seq, r.payload).is_none(), "twice in one pass");
                        s.ack(r.seq).unwrap();
                    }
                    None => panic!("stalled at {}", seen.len()),
                }
            }
            seen
        })
    };
    let hs: Vec<_> = (0..4u8)
        .map(|t| {
            let s = spool.clone();
            std::thread::spawn(move || {
                (0..1000u32)
                    .map(|i| {
                        let mut p = vec![t];
                        p.extend(i.to_be_bytes());
                        (s.append(&p).unwrap(), p)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut appended = BTreeMap::new();
    for h in hs {
        for (seq, p) in h.join().unwrap() {
            assert!(appended.insert(seq, p).is_none());
        }
    }
    assert_eq!(
        appended.keys().copied().collect::<Vec<_>>(),
        (0..4000).collect::<Vec<_>>()
    );
    assert_eq!(sender.join().unwrap(), appended);
    let s = spool.stats();
    assert_eq!((s.pending_records, s.acked), (0, 4000));
}

#[test]
fn random_acks_and_restarts_never_lose_or_repeat_a_pending_record() {
    let seed = 0x5EED_0001;
    let mut rng = XorShift::new(seed);
    let dir = fresh_dir("random");
    let c = || {
        cfg(&dir)
            .segment_size(MIN_SEGMENT_SIZE)
            .sync(SyncPolicy::None)
    };
    let mut pending: BTreeSet<u64> = BTreeSet::new();
    let mut next = 0;
    for round in 0..6 {
        let (spool, rec) = Spool::open(c()).unwrap();
        assert_eq!(rec.next_seq, next, "seed {seed:#x} round {round}");
        let got: BTreeSet<u64> = drain(&spool).iter().map(|r| r.seq).collect();
        assert_eq!(got, pending, "seed {seed:#x} round {round}");
        for _ in 0..rng.below(800) {
            let len = rng.below(3000) as usize;
            let s = spool.append(&rng.bytes(len)).unwrap();
            assert_eq!(s, next);
            next += 1;
            pending.insert(s);
        }
        let v: Vec<u64> = pending.iter().copied().collect();
        for s in v {
            if rng.below(3) != 0 {
                assert!(spool.ack(s).unwrap());
                pending.remove(&s);
            }
        }
        spool.close().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// SIGKILL: a child (this test binary, re-run with SPOOL_CHILD_DIR set) appends and acknowledges
// in a loop and prints "SEQ n" / "ACK n" after each call returned; the parent kills it with
// SIGKILL and checks what recovery finds.

#[test]
fn sigkill_child_entry() {
    let Some(dir) = std::env::var_os("SPOOL_CHILD_DIR") else {
        return; // only does something as the child of the tests below
    };
    let sync: SyncPolicy = std::env::var("SPOOL_CHILD_SYNC").unwrap().parse().unwrap();
    let (spool, _) = Spool::open(
        SpoolConfig::new(PathBuf::from(dir))
            .segment_size(MIN_SEGMENT_SIZE)
            .sync(sync),
    )
    .unwrap();
    let out = std::io::stdout();
    let end = Instant::now() + Duration::from_secs(20); // bounded even if nobody kills us
    let mut i = 0u64;
    while Instant::now() < end {
        let seq = spool.append(&payload(i)).unwrap();
        writeln!(out.lock(), "SEQ {seq}").unwrap();
        if seq % 3 == 0 {
            spool.ack(seq).unwrap();
            writeln!(out.lock(), "ACK {seq}").unwrap();
        }
        i += 1;
        if i.is_multiple_of(64) {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}

/// Runs the child until it printed `n` appends, kills it, and returns (appended seqs with the
/// time each line arrived, acked seqs, kill time).
fn run_and_kill(dir: &Path, sync: &str, n: usize) -> (Vec<(u64, Instant)>, BTreeSet<u64>, Instant) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SPOOL_CHILD_DIR", dir)
        .env("SPOOL_CHILD_SYNC", sync)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut seqs, mut acks) = (Vec::new(), BTreeSet::new());
    let mut kill_at = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(s) = line.strip_prefix("SEQ ") {
            seqs.push((s.parse().unwrap(), Instant::now()));
            if seqs.len() == n && kill_at.is_none() {
                child.kill().unwrap(); // SIGKILL on Unix
                kill_at = Some(Instant::now());
            }
        } else if let Some(s) = line.strip_prefix("ACK ") {
            acks.insert(s.parse().unwrap());
        }
    }
    child.wait().unwrap();
    (seqs, acks, kill_at.expect("the child printed enough"))
}

#[test]
fn sigkill_under_sync_always_loses_no_returned_append() {
    init_log();
    let dir = fresh_dir("kill-always");
    let (seqs, acks, _) = run_and_kill(&dir, "always", 3000);
    let (spool, rec) = Spool::open(cfg(&dir).segment_size(MIN_SEGMENT_SIZE)).unwrap();
    assert!(rec.corrupt.is_empty(), "{:?}", rec.corrupt);
    let got: BTreeMap<u64, Vec<u8>> = drain(&spool)
        .into_iter()
        .map(|r| (r.seq, r.payload))
        .collect();
    for (s, _) in &seqs {
        if acks.contains(s) {
            assert!(!got.contains_key(s), "acked {s} delivered again");
        } else {
            assert_eq!(got.get(s), Some(&payload(*s)), "returned append {s} lost");
        }
    }
    // Beyond what was printed: at most the one append that was running when the kill came.
    let printed: BTreeSet<u64> = seqs.iter().map(|s| s.0).collect();
    let extra: Vec<&u64> = got.keys().filter(|s| !printed.contains(s)).collect();
    assert!(extra.len() <= 2, "{extra:?}");
    // Under `always` nothing past the records found was returned or delivered: numbering goes on
    // right after them (no gap, nothing reported as possibly lost).
    let max_printed = seqs.last().unwrap().0;
    assert!(
        rec.next_seq > max_printed && rec.next_seq <= max_printed + 2,
        "next seq {} after {max_printed}",
        rec.next_seq
    );
    assert!(
        rec.possibly_lost.is_none() && rec.missing.is_empty(),
        "{rec:?}"
    );
    assert!(spool.take_dropped().is_empty());
    println!(
        "sigkill always: {} appends printed, {} acked, {} recovered pending, torn tail {:?}",
        seqs.len(),
        acks.len(),
        rec.pending_records,
        rec.torn_tail.map(|t| t.bytes)
    );
}

#[test]
fn sigkill_under_sync_interval_loses_at_most_the_unsynced_window() {
    init_log();
    let dir = fresh_dir("kill-interval");
    let (seqs, acks, kill_at) = run_and_kill(&dir, "interval:100", 20_000);
    let (spool, rec) = Spool::open(cfg(&dir).segment_size(MIN_SEGMENT_SIZE)).unwrap();
    assert!(rec.corrupt.is_empty(), "{:?}", rec.corrupt);
    let got: BTreeSet<u64> = drain(&spool).iter().map(|r| r.seq).collect();
    let lost: Vec<&(u64, Instant)> = seqs
        .iter()
        .filter(|(s, _)| !acks.contains(s) && !got.contains(s))
        .collect();
    // The window: one 100 ms tick, plus scheduling slack for a loaded 2-core machine.
    let window = ms(100 + 400);
    for (s, t) in &lost {
        assert!(
            kill_at.duration_since(*t) <= window,
            "seq {s} printed {:?} before the kill was lost",
            kill_at.duration_since(*t)
        );
    }
    // Losses are a suffix: nothing older than a kept record is missing.
    if let Some((first_lost, _)) = lost.first() {
        assert!(got.iter().all(|s| s < first_lost), "a hole, not a tail");
    }
    for (s, _) in &seqs {
        if acks.contains(s) {
            assert!(!got.contains(s), "acked {s} delivered again");
        }
    }
    println!(
        "sigkill interval:100: {} appends printed, {} lost in the window, torn tail {:?}",
        seqs.len(),
        lost.len(),
        rec.torn_tail.map(|t| t.bytes)
    );
}

#[test]
fn ack_log_is_compacted_and_survives_restart() {
    let dir = fresh_dir("compact");
    let c = || SpoolConfig::new(&dir).sync(SyncPolicy::Every(1000));
    let (spool, _) = Spool::open(c()).unwrap();
    let n = 70_000u64; // 70,000 acks of 20 bytes pass the 1 MiB compaction threshold
    for _ in 0..n {
        spool.append(b"").unwrap();
    }
    for s in (0..n).rev().filter(|s| s % 1000 != 7) {
        assert!(spool.ack(s).unwrap());
    }
    let log_len = std::fs::metadata(dir.join("acks.log")).unwrap().len();
    assert!(log_len < 1024 * 1024, "compacted: {log_len}");
    drop(spool);
    let (spool, rec) = Spool::open(c()).unwrap();
    assert_eq!(rec.pending_records, n / 1000);
    assert_eq!(rec.next_seq, n);
    let got: Vec<u64> = drain(&spool).iter().map(|r| r.seq).collect();
    assert_eq!(got, (0..n).filter(|s| s % 1000 == 7).collect::<Vec<_>>());
    // Compacted at open: one range per gap, plus the header.
    let log_len = std::fs::metadata(dir.join("acks.log")).unwrap().len();
    assert_eq!(log_len, 8 + 20 * (n / 1000 + 1));
}

// ---------------------------------------------------------------------------------------------
// Issue #18: gaps (case 4), the durable sequence high-water mark (5), failing writes (6), hostile
// sequence numbers and corruption found while reading (9), the old format, damaged files.

fn seg_first(p: &Path) -> u64 {
    p.file_name().unwrap().to_str().unwrap()[4..24]
        .parse()
        .unwrap()
}

/// 300 records of 1000 bytes in 64 KiB segments (63 a segment: 0, 63, 126, 189, 252), `acks`
/// acknowledged, closed.
fn three_hundred(name: &str, acks: &[u64]) -> PathBuf {
    let dir = fresh_dir(name);
    let (spool, _) = Spool::open(cfg(&dir).segment_size(MIN_SEGMENT_SIZE)).unwrap();
    for i in 0..300 {
        spool.append(&[i as u8; 1000]).unwrap();
    }
    for &s in acks {
        assert!(spool.ack(s).unwrap());
    }
    spool.close().unwrap();
    let firsts: Vec<u64> = segments(&dir).iter().map(|p| seg_first(p)).collect();
    assert_eq!(firsts, [0, 63, 126, 189, 252]);
    dir
}

fn reopen_min(dir: &Path) -> (Spool, Recovery) {
    Spool::open(cfg(dir).segment_size(MIN_SEGMENT_SIZE)).unwrap()
}

/// The loss reports as (reason, first, last, records).
fn losses(spool: &Spool) -> Vec<(&'static str, u64, u64, u64)> {
    spool
        .take_dropped()
        .iter()
        .map(|d| (d.reason.as_str(), d.first_seq, d.last_seq, d.records))
        .collect()
}

fn cut(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

const REC: u64 = HEADER + 1000;

#[test]
fn a_middle_segment_emptied_by_a_power_loss_is_reported_missing_once() {
    init_log();
    let dir = three_hundred("gap-zero", &[]);
    cut(&segments(&dir)[2], 0); // seq 126..=188
    let (spool, rec) = reopen_min(&dir);
    assert_eq!(rec.pending_records, 237);
    assert_eq!(losses(&spool), [("missing", 126, 188, 63)]);
    assert_eq!(
        (rec.missing.clone(), rec.missing_records),
        (vec![(126, 188)], 63)
    );
    assert_eq!(rec.possibly_lost, None);
    assert_eq!(spool.stats().missing_records, 63);
    let got: BTreeSet<u64> = drain(&spool).iter().map(|r| r.seq).collect();
    assert_eq!(got, (0..300).filter(|s| !(126..=188).contains(s)).collect());
    assert_eq!(spool.append(b"next").unwrap(), 300);
    spool.close().unwrap();
    // Reported once: the range is released in acks.log.
    let (spool, rec) = reopen_min(&dir);
    assert_eq!((rec.pending_records, rec.next_seq), (238, 301));
    assert!(losses(&spool).is_empty() && rec.missing.is_empty());
}

#[test]
fn a_segment_cut_at_a_record_boundary_reports_each_unacked_run() {
    init_log();
    let dir = three_hundred("gap-cut", &[100, 110]);
    cut(&segments(&dir)[1], 10 * REC); // keeps 63..=72
    let (spool, rec) = reopen_min(&dir);
    assert_eq!(
        losses(&spool),
        [
            ("missing", 73, 99, 27),
            ("missing", 101, 109, 9),
            ("missing", 111, 125, 15)
        ]
    );
    assert_eq!(rec.missing, [(73, 99), (101, 109), (111, 125)]);
    assert_eq!(rec.missing_records, 51);
    assert_eq!(rec.pending_records, 300 - 2 - 51);
    assert!(rec.corrupt.is_empty() && rec.torn_tail.is_none());
}

#[test]
fn a_deleted_segment_and_a_tail_below_an_acknowledgement_are_missing() {
    init_log();
    let dir = three_hundred("gap-del", &[299]);
    let segs = segments(&dir);
    std::fs::remove_file(&segs[3]).unwrap(); // 189..=251
    cut(&segs[4], 28 * REC); // keeps 252..=279; 299 was acknowledged
                             // Without seq.hw (as a format-1 spool): acks.log alone says 299 was used.
    std::fs::remove_file(dir.join("seq.hw")).unwrap();
    let (spool, rec) = reopen_min(&dir);
    assert_eq!(
        losses(&spool),
        [("missing", 189, 251, 63), ("missing", 280, 298, 19)]
    );
    assert_eq!(
        (rec.next_seq, rec.pending_records),
        (300, 300 - 1 - 63 - 19)
    );
    assert_eq!(spool.append(b"x").unwrap(), 300);
}

#[test]
fn after_a_clean_close_a_cut_tail_is_missing_and_nothing_unused_is_reported() {
    init_log();
    let dir = three_hundred("gap-tail", &[]);
    // Reserved but unused numbers are never reported: a clean close names the next number.
    {
        let (spool, rec) = reopen_min(&dir);
        assert_eq!(rec.next_seq, 300);
        assert!(losses(&spool).is_empty());
    }
    cut(&segments(&dir)[4], 28 * REC); // keeps 252..=279
    let (spool, rec) = reopen_min(&dir);
    assert_eq!(losses(&spool), [("missing", 280, 299, 20)]);
    assert_eq!(rec.next_seq, 300);
}

/// Copies the spool's files (not LOCK) as they are on disk now: what a crash leaves.
fn crash_copy(src: &Path, name: &str) -> PathBuf {
    let dst = fresh_dir(name);
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap() != "LOCK" {
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
    }
    dst
}

#[test]
fn after_a_power_loss_sequence_numbers_never_repeat_and_the_tail_is_possibly_lost() {
    init_log();
    let dir = fresh_dir("powerloss");
    // The default policy, interval:1000.
    let c = |d: &Path| SpoolConfig::new(d).segment_size(MIN_SEGMENT_SIZE);
    let (spool, _) = Spool::open(c(&dir)).unwrap();
    for i in 0..300u64 {
        assert_eq!(spool.append(&[i as u8; 1000]).unwrap(), i);
    }
    spool.sync().unwrap();
    for i in 300..500u64 {
        assert_eq!(spool.append(&[i as u8; 1000]).unwrap(), i);
    }
    assert_eq!(drain(&spool).len(), 500); // handed to the kernel, not synced
    let st = spool.stats();
    assert!(
        (1..=12).contains(&st.seq_reservations),
        "{} reservations for 500 appends",
        st.seq_reservations
    );

    // A process kill: every record is there; the reserved numbers past them may have been used.
    let killed = crash_copy(&dir, "powerloss-kill");
    // A power loss: the unsynced tail is gone (delayed allocation: cut at a record boundary, the
    // segments made after the last sync not there at all).
    let lost = crash_copy(&dir, "powerloss-disk");
    drop(spool);
    for p in segments(&lost) {
        match seg_first(&p) {
            252 => cut(&p, 48 * REC), // keeps 252..=299
            f if f > 252 => std::fs::remove_file(&p).unwrap(),
            _ => {}
        }
    }
    let (spool, rec) = Spool::open(c(&lost)).unwrap();
    assert!(
        rec.next_seq >= 500,
        "next seq {} repeats a used number",
        rec.next_seq
    );
    assert_eq!(rec.pending_records, 300);
    let l = losses(&spool);
    assert_eq!(l.len(), 1, "{l:?}");
    let (reason, first, last, n) = l[0];
    assert_eq!((reason, first), ("possibly_lost", 300));
    assert!((499..500 + SEQ_BLOCK_MAX).contains(&last), "{l:?}");
    assert_eq!((n, rec.possibly_lost), (last - 299, Some((300, last))));
    assert!(rec.missing.is_empty());
    let s = spool.append(b"after").unwrap();
    assert!(s >= 500 && s == rec.next_seq);
    drop(spool);

    let (spool, rec) = Spool::open(c(&killed)).unwrap();
    assert!(rec.next_seq >= 500);
    assert_eq!(rec.pending_records, 500);
    let l = losses(&spool);
    assert!(
        l.is_empty() || (l.len() == 1 && l[0].0 == "possibly_lost" && l[0].1 == 500),
        "{l:?}"
    );
}

// RLIMIT_FSIZE: a child (this binary with SPOOL_FSIZE_DIR set) appends under a 100 KB file size
// limit (SIGXFSZ ignored, so writes fail with EFBIG), lifts the limit, appends more, closes, and
// prints "OK n" / "ERR" per append. The parent checks that exactly the accepted records come back.

#[test]
#[allow(unsafe_code)] // setrlimit and signal: the failing disk this test needs
fn fsize_child_entry() {
    let Some(dir) = std::env::var_os("SPOOL_FSIZE_DIR") else {
        return; // only does something as the child of the test below
    };
    let sync: SyncPolicy = std::env::var("SPOOL_FSIZE_SYNC").unwrap().parse().unwrap();
    let (spool, _) = Spool::open(SpoolConfig::new(PathBuf::from(dir)).sync(sync)).unwrap();
    let set_limit = |bytes: u64| {
        let lim = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: plain libc calls with a valid pointer; this child process is single-purpose.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
        }
    };
    set_limit(100_000);
    let out = std::io::stdout();
    writeln!(out.lock()).unwrap(); // after the harness's "test ... " prefix
    let mut errors = 0;
    for i in 0..600u64 {
        match spool.append(&[i as u8; 1000]) {
            Ok(s) => writeln!(out.lock(), "OK {s}").unwrap(),
            Err(e) => {
                errors += 1;
                writeln!(out.lock(), "ERR {e}").unwrap();
            }
        }
    }
    assert!(errors > 0);
    writeln!(out.lock(), "IOERR {}", spool.stats().io_errors).unwrap();
    set_limit(libc::RLIM_INFINITY);
    for i in 0..20u64 {
        let s = spool.append(&[i as u8; 1000]).unwrap();
        writeln!(out.lock(), "OK {s}").unwrap();
    }
    spool.close().unwrap();
    writeln!(out.lock(), "CLOSED").unwrap();
}

fn run_fsize_child(sync: &str) {
    init_log();
    let dir = fresh_dir("fsize");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "fsize_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SPOOL_FSIZE_DIR", &dir)
        .env("SPOOL_FSIZE_SYNC", sync)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("CLOSED"), "{text}");
    let ok: BTreeSet<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("OK "))
        .map(|s| s.parse().unwrap())
        .collect();
    let errs = text.lines().filter(|l| l.starts_with("ERR ")).count();
    let (spool, rec) = Spool::open(SpoolConfig::new(&dir)).unwrap();
    let got: BTreeSet<u64> = drain(&spool).iter().map(|r| r.seq).collect();
    println!(
        "sync {sync}: {} appends accepted, {errs} refused (EFBIG), {} readable after restart",
        ok.len(),
        got.len()
    );
    assert!(errs >= 100, "{errs} appends failed");
    // Exactly the accepted appends come back; a refused one's number went to the next append.
    assert_eq!(got, ok);
    assert_eq!(ok, (0..ok.len() as u64).collect::<BTreeSet<u64>>());
    assert!(rec.missing.is_empty() && losses(&spool).is_empty());
}

#[test]
fn an_append_whose_write_fails_is_refused_and_never_delivered_sync_always() {
    run_fsize_child("always");
}

#[test]
fn an_append_whose_write_fails_is_refused_and_never_delivered_sync_interval() {
    run_fsize_child("interval:1000");
}

#[test]
fn crc_valid_records_and_acks_with_huge_sequence_numbers_are_corruption() {
    init_log();
    let dir = fresh_dir("hugeseq");
    let (spool, _) = reopen_min(&dir);
    for i in 0..100 {
        spool.append(&[i as u8; 1000]).unwrap();
    }
    spool.close().unwrap();
    let segs = segments(&dir);
    assert_eq!(segs.len(), 2);
    // A CRC-valid record claiming seq 2^61 at the end of the first segment, and ack entries
    // releasing up to 2^61 and up to u64::MAX.
    let mut rec = Vec::new();
    encode_record(&mut rec, 1 << 61, 1, b"hostile");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segs[0])
        .unwrap()
        .write_all(&rec)
        .unwrap();
    let mut acks = Vec::new();
    encode_ack(&mut acks, 5, 1 << 61);
    encode_ack(&mut acks, 7, u64::MAX);
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("acks.log"))
        .unwrap()
        .write_all(&acks)
        .unwrap();
    let (spool, rec) = reopen_min(&dir);
    assert_eq!(rec.ignored_acks, 2);
    assert_eq!(rec.next_seq, 100);
    assert_eq!(rec.pending_records, 100);
    assert_eq!(rec.corrupt.len(), 1, "{:?}", rec.corrupt);
    let c = &rec.corrupt[0];
    assert_eq!((c.bytes, c.seqs, c.unacked), (HEADER + 7, None, 0));
    assert_eq!(drain(&spool).len(), 100);
    assert!(losses(&spool).is_empty());
    // The same in seq.hw: refused as a reservation, the numbers still never repeat.
    drop(spool);
    std::fs::write(
        dir.join("seq.hw"),
        encode_seq_file(SeqMark {
            reserved: u64::MAX,
            clean: true,
            durable: false,
        }),
    )
    .unwrap();
    let (spool, rec) = reopen_min(&dir);
    assert_eq!(rec.next_seq, 100 + SEQ_BLOCK_MAX);
    assert_eq!(rec.possibly_lost, Some((100, 100 + SEQ_BLOCK_MAX - 1)));
    assert_eq!(spool.append(b"x").unwrap(), 100 + SEQ_BLOCK_MAX);
}

#[test]
fn corruption_found_while_reading_is_reported_at_once_and_the_cursor_moves_on() {
    init_log();
    let dir = fresh_dir("runtime-corrupt");
    let (spool, _) = reopen_min(&dir);
    for i in 0..100 {
        spool.append(&[i as u8; 1000]).unwrap();
    }
    spool.ack(30).unwrap();
    let seg0 = segments(&dir)[0].clone();
    assert_eq!(seg_first(&seg0), 0);
    let f = std::fs::OpenOptions::new().write(true).open(&seg0).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&[0xFF], 20 * REC + 500).unwrap(); // payload of 20
    f.write_all_at(&vec![0u8; (63 - 40) * REC as usize], 40 * REC)
        .unwrap(); // 40..=62 zeroed
    drop(f);
    let mut c = spool.cursor();
    let (mut got, mut errors) = (Vec::new(), 0);
    for _ in 0..200 {
        match c.next_record() {
            Ok(Some(r)) => got.push(r.seq),
            Ok(None) => break,
            Err(SpoolError::Corrupt { .. }) => errors += 1,
            Err(e) => panic!("{e}"),
        }
    }
    let want: Vec<u64> = (0..100)
        .filter(|s| *s != 20 && *s != 30 && !(40..=62).contains(s))
        .collect();
    assert_eq!(got, want);
    assert_eq!(errors, 2);
    assert_eq!(
        losses(&spool),
        [("corrupt", 20, 20, 1), ("corrupt", 40, 62, 23)]
    );
    let st = spool.stats();
    assert_eq!((st.corrupt_records, st.pending_records), (24, 99 - 24));
    drop(c);
    spool.close().unwrap();
    // Not reported again after a restart.
    let (spool, rec) = reopen_min(&dir);
    assert_eq!(rec.pending_records, 75);
    assert!(
        rec.corrupt.iter().all(|c| c.unacked == 0),
        "{:?}",
        rec.corrupt
    );
    assert!(losses(&spool).is_empty());
}

fn fixture_v0() -> PathBuf {
    let dir = fresh_dir("v0");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spool-v0");
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap() != "README.md" {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[test]
fn v0_spool_written_by_ba707eb_opens_and_delivers_its_pending_records() {
    init_log();
    let dir = fixture_v0();
    assert!(!dir.join("seq.hw").exists());
    let c = |d: &Path| {
        SpoolConfig::new(d)
            .segment_size(MIN_SEGMENT_SIZE)
            .sync(SyncPolicy::Always)
    };
    let (spool, rec) = Spool::open(c(&dir)).unwrap();
    let want: Vec<u64> = (250..400)
        .filter(|s| ![300, 301, 350].contains(s))
        .collect();
    assert_eq!(rec.pending_records, 147);
    assert_eq!((rec.first_pending_seq, rec.next_seq), (Some(250), 400));
    assert!(rec.corrupt.is_empty() && rec.missing.is_empty() && rec.possibly_lost.is_none());
    assert!(losses(&spool).is_empty());
    let got = drain(&spool);
    assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), want);
    for r in &got {
        let mut p = format!("v0-{}-", r.seq).into_bytes();
        p.resize(200, b'.');
        assert_eq!(r.payload, p);
    }
    assert_eq!(spool.append(b"new").unwrap(), 400);
    spool.close().unwrap();
    let (spool, rec) = Spool::open(c(&dir)).unwrap();
    assert_eq!((rec.pending_records, rec.next_seq), (148, 401));
    assert!(losses(&spool).is_empty());
}

#[test]
fn a_spool_of_a_newer_format_is_refused_and_left_alone() {
    init_log();
    let dir = fixture_v0();
    let mut hw = encode_seq_file(SeqMark {
        reserved: 400,
        clean: true,
        durable: false,
    });
    hw[7] = 3; // format version 3
    std::fs::write(dir.join("seq.hw"), hw).unwrap();
    match Spool::open(cfg(&dir)) {
        Err(SpoolError::UnsupportedFormat {
            found: 3,
            supported: SPOOL_FORMAT_VERSION,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let e = Spool::open(cfg(&dir)).unwrap_err().to_string();
    assert!(
        e.contains("format version 3") && e.contains("move the spool directory away"),
        "{e}"
    );
    // Nothing was changed.
    assert_eq!(std::fs::read(dir.join("seq.hw")).unwrap(), hw);
    assert_eq!(segments(&dir).len(), 2);

    let dir = fixture_v0();
    let seg = segments(&dir)[0].clone();
    let mut img = std::fs::read(&seg).unwrap();
    img[3] = b'2'; // "RBR2"
    std::fs::write(&seg, &img).unwrap();
    assert!(matches!(
        Spool::open(cfg(&dir)),
        Err(SpoolError::UnsupportedFormat { found: 2, .. })
    ));
    assert_eq!(std::fs::read(&seg).unwrap(), img);
}

#[test]
fn open_survives_random_and_mutated_files() {
    init_log();
    let seed = 0x5EED_0018;
    let mut rng = XorShift::new(seed);
    // A small valid spool to mutate: 3 segments, some acks.
    let base = fresh_dir("fuzz-base");
    {
        let (spool, _) = reopen_min(&base);
        for i in 0..150u64 {
            spool
                .append(&vec![i as u8; rng.below(1000) as usize])
                .unwrap();
        }
        for s in 0..40 {
            spool.ack(s * 3).unwrap();
        }
        spool.close().unwrap();
    }
    let files: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "LOCK")
        .collect();
    for round in 0..150 {
        let dir = fresh_dir("fuzz");
        for p in &files {
            let mut img = std::fs::read(p).unwrap();
            match rng.below(6) {
                0 => {}
                1 => {
                    for _ in 0..=rng.below(8) {
                        if !img.is_empty() {
                            let i = rng.below(img.len() as u64) as usize;
                            img[i] = rng.next_u64() as u8;
                        }
                    }
                }
                2 => img.truncate(rng.below(img.len() as u64 + 1) as usize),
                3 => {
                    let n = rng.below(4096) as usize;
                    img = rng.bytes(n);
                }
                4 => {
                    // Valid CRCs, hostile numbers.
                    let (a, b) = (rng.next_u64() >> rng.below(64), rng.next_u64());
                    if p.file_name().unwrap() == "acks.log" {
                        encode_ack(&mut img, a.min(b), a.max(b));
                    } else if p.file_name().unwrap() == "seq.hw" {
                        img = encode_seq_file(SeqMark {
                            reserved: a,
                            clean: b & 1 == 0,
                            durable: b & 2 == 0,
                        })
                        .to_vec();
                    } else {
                        let n = rng.below(64) as usize;
                        encode_record(&mut img, a, b, &rng.bytes(n));
                    }
                }
                _ => continue, // file absent
            }
            std::fs::write(dir.join(p.file_name().unwrap()), &img).unwrap();
        }
        if rng.below(4) == 0 {
            let name = format!("seg-{:020}.spool", rng.next_u64() >> rng.below(64));
            let n = rng.below(2048) as usize;
            std::fs::write(dir.join(name), rng.bytes(n)).unwrap();
        }
        let ctx = format!("seed {seed:#x} round {round}");
        let (spool, rec) = match Spool::open(cfg(&dir).segment_size(MIN_SEGMENT_SIZE)) {
            Ok(x) => x,
            Err(e) => {
                println!("{ctx}: refused: {e}");
                continue;
            }
        };
        let bytes: u64 = segments(&dir)
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert!(rec.pending_records <= bytes / HEADER, "{ctx}");
        assert!(rec.next_seq <= MAX_SEQ + SEQ_BLOCK_MAX, "{ctx}");
        let got = drain(&spool);
        assert_eq!(got.len() as u64, rec.pending_records, "{ctx}");
        let dropped = spool.take_dropped();
        let lost: u64 = dropped.iter().map(|d| d.records).sum();
        assert_eq!(
            lost,
            spool.stats().corrupt_records
                + rec.missing_records
                + rec.possibly_lost.map_or(0, |(a, b)| b - a + 1)
                + spool.stats().dropped_records,
            "{ctx}: {dropped:?}"
        );
        let s = spool.append(b"after").unwrap();
        assert_eq!(s, rec.next_seq, "{ctx}");
        assert!(got.iter().all(|r| r.seq < s), "{ctx}");
    }
}

/// Under a steady moderate load the reservation follows the rate, so a crash leaves a
/// "possibly lost" tail of a few ticks of traffic, not [`SEQ_BLOCK_MAX`] numbers (before the
/// block was sized to the rate, a burst right after open reserved 1,048,576 and kept it).
#[test]
fn under_steady_load_the_possibly_lost_tail_follows_the_rate() {
    init_log();
    let dir = fresh_dir("steady-rate");
    let c = |d: &Path| SpoolConfig::new(d).segment_size(MIN_SEGMENT_SIZE);
    let (spool, _) = Spool::open(c(&dir)).unwrap();
    // A burst first (takes the large block), then about 5,000 appends a second for 1.2 s.
    for _ in 0..2_000 {
        spool.append(&[7u8; 100]).unwrap();
    }
    let start = std::time::Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(1_200) {
        for _ in 0..5 {
            spool.append(&[7u8; 100]).unwrap();
            n += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let used = spool.stats().appended;
    let killed = crash_copy(&dir, "steady-rate-kill");
    drop(spool);
    let (spool, rec) = Spool::open(c(&killed)).unwrap();
    let l = losses(&spool);
    // At 5,000/s two 200 ms ticks are 2,000 numbers (block 2,048, at most two blocks ahead);
    // a loaded machine's late tick may double that a few times, never reach SEQ_BLOCK_MAX.
    let tail = rec.possibly_lost.map_or(0, |(a, b)| b - a + 1);
    println!("{n} paced appends ({used} in all): possibly lost tail after a kill {tail} numbers");
    assert!(
        tail <= SEQ_BLOCK_MAX / 16,
        "{n} paced appends ({used} in all): possibly lost tail of {tail} numbers: {l:?}"
    );
    assert!(rec.next_seq >= used);
}

// ---------------------------------------------------------------------------------------------
// Red team (issue #18 review): hostile seq.hw contents and resynchronisation cost.

/// A `seq.hw` that is behind the records (restored from a backup, copied before the segments,
/// written by hand): CRC-valid records past its mark are neither discarded as a "torn tail" nor
/// have their numbers given to new appends.
#[test]
fn redteam_a_seq_hw_behind_the_records_loses_nothing_and_never_repeats_a_number() {
    init_log();
    for (name, clean, durable) in [
        ("hw-behind-crash", false, false),
        ("hw-behind-clean", true, false),
        ("hw-behind-durable", false, true),
    ] {
        let dir = three_hundred(name, &[]);
        std::fs::write(
            dir.join("seq.hw"),
            encode_seq_file(SeqMark {
                reserved: 100,
                clean,
                durable,
            }),
        )
        .unwrap();
        let (spool, rec) = reopen_min(&dir);
        let got: Vec<u64> = drain(&spool).iter().map(|r| r.seq).collect();
        let lost: u64 = spool.take_dropped().iter().map(|d| d.records).sum();
        assert_eq!(
            got.len() as u64 + lost,
            300,
            "{name}: {} delivered, {lost} reported lost, torn tail {:?}",
            got.len(),
            rec.torn_tail
        );
        let s = spool.append(b"after").unwrap();
        assert!(
            s >= 300,
            "{name}: next append got seq {s}, a number already stored"
        );
    }
}

/// An event whose payload is full of fake record headers (an MQTT client chooses its payload),
/// cut off by a crash while it was written (a torn tail): recovery resynchronises through the
/// payload. Each fake header claims a length that fits the remaining bytes, so checking the CRC
/// of every one over its length costs the square of the payload's size: 256 KiB took 8.5 s to
/// open, 512 KiB 35 s, 4 MiB (this test) over half an hour (debug build).
#[test]
fn redteam_a_torn_record_full_of_fake_headers_does_not_stall_open() {
    init_log();
    let dir = fresh_dir("fake-headers");
    let c = |d: &Path| SpoolConfig::new(d).sync(SyncPolicy::Always);
    let (spool, _) = Spool::open(c(&dir)).unwrap();
    for i in 0..10u64 {
        assert_eq!(spool.append(&payload(i)).unwrap(), i);
    }
    const N: usize = 4 << 20;
    let mut rng = XorShift::new(0x5eed);
    let mut p = vec![0u8; N];
    for at in (0..N - 64).step_by(16) {
        // "RBR1", a length reaching just inside the record's cut end, a sequence number
        // (small ones pass the check of where a record may be).
        let len = (N - at - 2 * HEADER as usize) as u32;
        p[at..at + 4].copy_from_slice(b"RBR1");
        p[at + 4..at + 8].copy_from_slice(&len.to_be_bytes());
        let seq = rng.next_u64() >> (rng.next_u64() % 64);
        p[at + 8..at + 16].copy_from_slice(&seq.to_be_bytes());
    }
    assert_eq!(spool.append(&p).unwrap(), 10);
    spool.close().unwrap();
    let seg = &segments(&dir)[0];
    let len = std::fs::metadata(seg).unwrap().len();
    cut(seg, len - 1);
    let t = Instant::now();
    let (spool, rec) = Spool::open(c(&dir)).unwrap();
    let took = t.elapsed();
    println!("open with a torn 4 MiB record of fake headers: {took:?}");
    assert!(took < Duration::from_secs(30), "open took {took:?}");
    let torn = rec.torn_tail.as_ref().expect("a torn tail");
    assert_eq!(
        (torn.offset, torn.bytes),
        (len - HEADER - N as u64, HEADER + N as u64 - 1)
    );
    assert_eq!(rec.pending_records, 10);
    assert_eq!(drain(&spool).len(), 10);
}

/// Large records after a damaged one are found again by the resynchronisation (whose CRC check
/// of long candidates is computed from checkpoints, not read again).
#[test]
fn redteam_large_records_after_damage_are_found_again() {
    init_log();
    let dir = fresh_dir("large-after-damage");
    let c = |d: &Path| SpoolConfig::new(d).sync(SyncPolicy::Always);
    let (spool, _) = Spool::open(c(&dir)).unwrap();
    let sizes = [100usize, 5000, 513, 512, 70_000, 1, 300_000, 4096];
    for (i, &n) in sizes.iter().enumerate() {
        let body: Vec<u8> = (0..n).map(|k| (k * 7 + i) as u8).collect();
        assert_eq!(spool.append(&body).unwrap(), i as u64);
    }
    spool.close().unwrap();
    let seg = &segments(&dir)[0];
    let mut img = std::fs::read(seg).unwrap();
    // Damage the headers of records 1 and 3 (at 128 and 128 + 5028 + 541).
    img[128 + 10] ^= 0x40;
    img[5697 + 10] ^= 0x40;
    std::fs::write(seg, &img).unwrap();
    let (spool, rec) = Spool::open(c(&dir)).unwrap();
    let spans: Vec<_> = rec.corrupt.iter().map(|c| c.seqs).collect();
    assert_eq!(spans, [Some((1, 1)), Some((3, 3))]);
    let got: Vec<(u64, usize)> = drain(&spool)
        .iter()
        .map(|r| (r.seq, r.payload.len()))
        .collect();
    let want: Vec<(u64, usize)> = sizes
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 1 && i != 3)
        .map(|(i, &n)| (i as u64, n))
        .collect();
    assert_eq!(got, want);
}

/// A segment damaged in many places (every other record's CRC, as failing pages might leave it)
/// with an `acks.log` of many disjoint ranges: recovery stays linear (each damaged span used to
/// count its unacknowledged numbers by walking every ack range: 100,000 spans x 50,000 ranges),
/// and the damaged spans kept in memory for the report stay within `MAX_DROPPED_KEPT`, like the
/// missing ranges (the counts cover them all).
#[test]
fn redteam_many_damaged_spans_are_bounded_in_work_and_memory() {
    use rocketmq_bridge::spool::record::ACK_LOG_MAGIC;
    use rocketmq_bridge::spool::MAX_DROPPED_KEPT;
    init_log();
    let dir = fresh_dir("many-holes");
    // Records 0..=200,000: the odd ones damaged (100,000 spans), the multiples of 4 acknowledged
    // (50,001 disjoint ranges), so 50,000 records pending.
    const N: u64 = 200_001;
    let mut seg = Vec::with_capacity(N as usize * 28);
    for s in 0..N {
        let at = seg.len();
        encode_record(&mut seg, s, 1_700_000_000_000 + s, b"");
        if s % 2 == 1 {
            seg[at + 27] ^= 1; // CRC
        }
    }
    std::fs::write(dir.join(format!("seg-{:020}.spool", 0)), &seg).unwrap();
    let mut acks = ACK_LOG_MAGIC.to_vec();
    for j in (0..N).step_by(4) {
        encode_ack(&mut acks, j, j + 1);
    }
    std::fs::write(dir.join("acks.log"), &acks).unwrap();
    let t = Instant::now();
    let (spool, rec) = Spool::open(SpoolConfig::new(&dir)).unwrap();
    let took = t.elapsed();
    println!(
        "open: {took:?}, {} corrupt spans listed, {} loss reports kept",
        rec.corrupt.len(),
        spool.stats().dropped_ranges.len()
    );
    assert_eq!(spool.stats().corrupt_records, 100_000);
    assert_eq!(rec.pending_records, 50_000);
    assert!(
        rec.corrupt.len() <= MAX_DROPPED_KEPT,
        "{}",
        rec.corrupt.len()
    );
    let kept = spool.stats().dropped_ranges.len();
    assert!(kept <= MAX_DROPPED_KEPT, "{kept} loss reports kept");
    let lost: u64 = spool.take_dropped().iter().map(|d| d.records).sum();
    assert_eq!(lost, 100_000);
    assert!(took < Duration::from_secs(20), "open took {took:?}");
    // The cursor steps over the damaged spans (it walked all of them for every record).
    let t = Instant::now();
    let got = drain(&spool);
    let took = t.elapsed();
    println!("drain: {took:?}");
    assert_eq!(got.len(), 50_000);
    assert!(got.iter().all(|r| r.seq % 4 == 2));
    assert!(took < Duration::from_secs(20), "drain took {took:?}");
}
