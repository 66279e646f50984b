//! Replays every committed fuzz seed and minimised crasher (`fuzz/corpus/<target>/*`) through the
//! same oracles the fuzz targets use, under plain `cargo test`, with the same allocation caps
//! (the oracles in `fuzz/oracles/` are included by path and the counting allocator is installed
//! here too).

use crate::oracles;

use oracles::config_loader::check_config;
use oracles::event_line::check_event_line;
use oracles::inflate::check_inflate;
use oracles::stored_message::check_stored_messages;
use rocketmq_bridge::remoting::codec::oracle::{
    check_binary_header, check_frame, check_json_header,
};
use std::path::Path;

#[global_allocator]
static ALLOC: oracles::alloc::CapAlloc = oracles::alloc::CapAlloc;

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

#[test]
fn event_line_corpus_parses_and_round_trips() {
    assert!(replay("event_line", check_event_line) >= 4);
}

#[test]
fn config_loader_corpus_names_lines_and_keys() {
    assert!(replay("config_loader", check_config) >= 4);
}

#[test]
fn stored_message_corpus_round_trips_within_caps() {
    assert!(replay("stored_message", check_stored_messages) >= 4);
}

#[test]
fn inflate_corpus_agrees_with_the_reference_decoder() {
    assert!(replay("inflate", check_inflate) >= 4);
}

#[test]
fn spool_record_corpus_round_trips_and_recovery_stays_bounded() {
    assert!(
        replay(
            "spool_record",
            rocketmq_bridge::spool::oracle::check_spool_bytes
        ) >= 8
    );
}

#[test]
fn mqtt_packet_corpus_round_trips_within_caps() {
    assert!(replay("mqtt_packet", oracles::mqtt_packet::check_mqtt_packet) >= 8);
}
