//! The codec layer in one test binary: frames and headers (golden vectors, errors, hostile headers),
//! the message layer, bounded zlib inflate, and the committed fuzz corpus replayed through the fuzz
//! oracles.
//!
//! `corpus_replay` installs the oracles' counting allocator (`fuzz/oracles/alloc.rs`) as this
//! binary's global allocator. It forwards to the system allocator and keeps its counts and caps per
//! thread, armed only while an oracle runs, so the other modules' tests run as before.

#[path = "../../fuzz/oracles/mod.rs"]
mod oracles;

mod corpus_replay;
mod errors;
mod golden;
mod hostile_headers;
mod inflate;
mod message;
mod r22_attack;
