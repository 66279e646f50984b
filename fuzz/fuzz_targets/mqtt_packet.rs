//! Fuzz target: see `fuzz/oracles/mqtt_packet.rs` for the properties.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../oracles/mod.rs"]
mod oracles;

/// Caps every allocation (see `fuzz/oracles/alloc.rs`).
#[global_allocator]
static ALLOC: oracles::alloc::CapAlloc = oracles::alloc::CapAlloc;

fuzz_target!(|data: &[u8]| {
    oracles::mqtt_packet::check_mqtt_packet(data);
});
