//! Fuzz target: see `fuzz/oracles/inflate.rs` for the properties.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../oracles/mod.rs"]
mod oracles;

#[global_allocator]
static ALLOC: oracles::alloc::CapAlloc = oracles::alloc::CapAlloc;

fuzz_target!(|data: &[u8]| {
    oracles::inflate::check_inflate(data);
});
