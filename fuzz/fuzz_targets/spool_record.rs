//! Fuzz target: see `rocketmq_bridge::spool::oracle::check_spool_bytes` for the properties
//! (record, ack-entry and `seq.hw` decoding; the recovery scan of a segment).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rocketmq_bridge::spool::oracle::check_spool_bytes(data);
});
