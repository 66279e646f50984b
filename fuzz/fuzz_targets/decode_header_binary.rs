//! Fuzz target: see `rocketmq_bridge::remoting::codec::oracle::check_binary_header` for the properties.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rocketmq_bridge::remoting::codec::oracle::check_binary_header(data);
});
