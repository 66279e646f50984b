//! Replays every committed fuzz seed and minimised crasher (`fuzz/corpus/<target>/*`) through the
//! same oracles the fuzz targets use, under plain `cargo test`.

use rocketmq_bridge::remoting::codec::oracle::{
    check_binary_header, check_frame, check_json_header,
};
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    for path in entries {
        let data = std::fs::read(&path).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            panic!(
                "{}: oracle failed: {:?}",
                path.display(),
                panic.downcast_ref::<String>()
            );
        }
        n += 1;
    }
    n
}

#[test]
fn decode_frame_corpus_round_trips() {
    assert!(replay("decode_frame", check_frame) >= 14);
}

#[test]
fn decode_header_json_corpus_agrees_with_serde_and_round_trips() {
    assert!(replay("decode_header_json", check_json_header) >= 12);
}

#[test]
fn decode_header_binary_corpus_round_trips() {
    assert!(replay("decode_header_binary", check_binary_header) >= 3);
}

#[test]
fn route_json_corpus_keeps_the_caps_and_round_trips() {
    assert!(
        replay(
            "route_json",
            rocketmq_bridge::nameserver::oracle::check_route_json
        ) >= 6
    );
}

#[test]
fn header_work_corpus_stays_linear() {
    assert!(
        replay(
            "header_work",
            rocketmq_bridge::remoting::codec::oracle::check_header_work
        ) >= 9
    );
}
