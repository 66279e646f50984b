//! Fuzz target: decoder work per input byte for the JSON and binary headers. See
//! `rocketmq_bridge::remoting::codec::oracle::check_header_work`: a quadratic path panics (a
//! finding), instead of showing up as a slow run.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rocketmq_bridge::remoting::codec::oracle::check_header_work(data);
});
