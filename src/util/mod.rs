//! Small hand-written algorithms with published test vectors: SHA-1, HMAC-SHA1, CRC-32 and a
//! bounded zlib/DEFLATE decoder. They exist so the crate needs no extra dependencies.

pub mod crc32;
pub mod hmac;
pub mod inflate;
pub mod sha1;

pub use crc32::{crc32, crc32_masked};
pub use hmac::hmac_sha1;
pub use inflate::{adler32, inflate_zlib, InflateError};
pub use sha1::{sha1, Sha1};
