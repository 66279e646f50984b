//! Fuzz target: the lenient route JSON parser. See
//! `rocketmq_bridge::nameserver::oracle::check_route_json` for the properties (no panic, caps,
//! work per byte, round trip in standard and legacy form).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rocketmq_bridge::nameserver::oracle::check_route_json(data);
});
