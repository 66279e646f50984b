//! Fuzz target: see `fuzz/oracles/event_line.rs` for the properties.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../oracles/mod.rs"]
mod oracles;

#[global_allocator]
static ALLOC: oracles::alloc::CapAlloc = oracles::alloc::CapAlloc;

fuzz_target!(|data: &[u8]| {
    oracles::event_line::check_event_line(data);
});
