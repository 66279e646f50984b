//! Semantic oracles shared by the fuzz targets (`fuzz/fuzz_targets/`) and the corpus replay test
//! (`tests/codec/corpus_replay.rs`, which includes this directory by path). Each `check_*` takes
//! arbitrary bytes and panics when a property of the decoder is violated; bad input as such is
//! fine. They use only the library's public API; the codec oracles that need internals live in
//! the library (`rocketmq_bridge::remoting::codec::oracle`).
//!
//! Both kinds of binary install [`alloc::CapAlloc`] as the global allocator, so every oracle
//! also checks that the decoder never allocates past its caps.

pub(crate) mod alloc;
pub(crate) mod config_loader;
pub(crate) mod event_line;
pub(crate) mod inflate;
pub(crate) mod mqtt_packet;
pub(crate) mod stored_message;
