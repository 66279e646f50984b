//! Small hand-written algorithms with published test vectors: SHA-1, HMAC-SHA1, CRC-32 and a
//! bounded zlib/DEFLATE decoder. They exist so the crate needs no extra dependencies. Also the
//! one thread lifecycle every layer uses ([`worker`]) and the one bounded byte reader every
//! decoder uses ([`reader`]).

pub mod crc32;
pub mod hmac;
pub mod inflate;
pub mod reader;
pub mod secret;
pub mod sha1;
pub mod worker;

pub use crc32::{crc32, crc32_masked};

/// Writes the decimal digits of `n` at the end of `buf`, without allocating; returns the index
/// where they start (u64::MAX has 20 digits).
pub(crate) fn write_decimal(buf: &mut [u8; 20], mut n: u64) -> usize {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return i;
        }
    }
}

/// Appends the decimal digits of `n` to `s`, without allocating beyond `s`'s own growth.
pub(crate) fn push_decimal(s: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    let i = write_decimal(&mut buf, n);
    for &d in &buf[i..] {
        s.push(d as char);
    }
}

pub use hmac::hmac_sha1;
pub use inflate::{adler32, inflate_zlib, InflateError};
pub use reader::{ByteReader, ReadError};
pub use secret::Secret;
pub use sha1::{sha1, Sha1};
