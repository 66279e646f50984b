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

/// Bytes that must be escaped inside a JSON string: controls, `"` and the backslash (the table
/// [`json_escape_flags`] is tested against).
#[cfg(test)]
pub(crate) const JSON_NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The bytes of the little-endian word `w` that need escaping in a JSON string (a control
/// character, `"` or `\`): the high bit of each such byte is set. The three tests (below 0x20,
/// equal to `"`, equal to `\`, after Bit Twiddling Hacks `haszero`) can flag a byte by mistake
/// only above a byte they flag rightly (a borrow runs upward from a true match), so the lowest
/// flagged byte is always a true one.
#[inline(always)]
pub(crate) fn json_escape_flags(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    below_space | zero(w ^ (ONES * b'"' as u64)) | zero(w ^ (ONES * b'\\' as u64))
}

/// Index of the first byte of `b` that needs escaping in a JSON string (a control character, `"`
/// or `\`), the only bytes that end an unescaped string literal. Looks at eight bytes at a time
/// ([`json_escape_flags`]); the last few bytes are read as one word padded with spaces.
pub(crate) fn json_first_escape(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let m = json_escape_flags(u64::from_le_bytes(word));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let mut w = u64::from_le_bytes(*b"        ");
    for (j, &c) in b[i..].iter().enumerate() {
        w ^= ((c ^ b' ') as u64) << (8 * j);
    }
    let m = json_escape_flags(w);
    (m != 0).then(|| i + (m.trailing_zeros() / 8) as usize)
}

/// Index of the first `needle` in `b` at or after `from`, eight bytes at a time. The lowest byte
/// flagged by the zero-byte test (Bit Twiddling Hacks `haszero`) is always a true match, so the
/// first flagged one is the answer.
pub(crate) fn find_byte(b: &[u8], from: usize, needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * needle as u64;
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word) ^ pattern;
        let zero = w.wrapping_sub(ONES) & !w & HIGH;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?.iter().position(|&c| c == needle).map(|p| p + i)
}

pub use hmac::hmac_sha1;
pub use inflate::{adler32, inflate_zlib, InflateError};
pub use reader::{ByteReader, ReadError};
pub use secret::Secret;
pub use sha1::{sha1, Sha1};
