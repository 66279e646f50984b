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

/// The two-digit decimal text of 0 to 99, `PAIRS[2 * n..2 * n + 2]`.
pub(crate) const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Writes the decimal digits of `n` at the end of `buf`, without allocating; returns the index
/// where they start (u64::MAX has 20 digits).
pub(crate) fn write_decimal(buf: &mut [u8; 20], n: u64) -> usize {
    // Two digits per division (a millisecond timestamp has 13): the pair from a 200-byte table.
    // Above eight digits, the low eight are split off first and written in 32-bit arithmetic,
    // which is cheaper than dividing the whole u64 by 100 four times.
    let mut i = buf.len();
    let mut put_pair = |buf: &mut [u8; 20], pair: usize| {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair * 2..pair * 2 + 2]);
    };
    let mut high = n;
    while high >= 100_000_000 {
        let mut low = (high % 100_000_000) as u32;
        high /= 100_000_000;
        for _ in 0..4 {
            put_pair(buf, (low % 100) as usize);
            low /= 100;
        }
    }
    // Below 10^8: fits in 32 bits.
    let mut n = high as u32;
    while n >= 100 {
        put_pair(buf, (n % 100) as usize);
        n /= 100;
    }
    if n >= 10 {
        put_pair(buf, n as usize);
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    i
}

/// Appends the decimal digits of `n` to `s`, without allocating beyond `s`'s own growth.
pub(crate) fn push_decimal(s: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    let i = write_decimal(&mut buf, n);
    // Digits only: always UTF-8.
    s.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
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

/// `0x01` in every byte of a word: `ONES * b` is byte `b` eight times.
pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The zero bytes of the word `w` (Bit Twiddling Hacks `haszero`): the high bit of each is set. A
/// byte may be flagged by mistake only above a truly zero one (a borrow runs upward), so the
/// lowest flag is always true and any flag means some byte is zero. `zero_bytes(w ^ ONES * b)`
/// finds the bytes equal to `b`.
#[inline(always)]
pub(crate) fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGH
}

/// Whether `test` flags some little-endian word read from `b`, for a "contains a byte of this set"
/// test (reading a byte twice does not matter), without a byte loop: the whole words, then the
/// last eight bytes again, overlapping; four to seven bytes as the first four and the last four;
/// one to three as the first, middle and last byte padded with `pad`, which `test` must not flag.
#[inline(always)]
pub(crate) fn any_word(b: &[u8], pad: u8, test: impl Fn(u64) -> bool) -> bool {
    let n = b.len();
    if let Some(last) = b.last_chunk::<8>() {
        let mut words = b.chunks_exact(8);
        words.any(|w| test(u64::from_le_bytes(w.try_into().unwrap())))
            || (!n.is_multiple_of(8) && test(u64::from_le_bytes(*last)))
    } else if let (Some(lo), Some(hi)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
        test(u64::from(u32::from_le_bytes(*lo)) | u64::from(u32::from_le_bytes(*hi)) << 32)
    } else if let Some(&first) = b.first() {
        test(u64::from_le_bytes([
            first,
            b[n / 2],
            b[n - 1],
            pad,
            pad,
            pad,
            pad,
            pad,
        ]))
    } else {
        false
    }
}

/// The bytes of the little-endian word `w` that need escaping in a JSON string (a control
/// character, `"` or `\`): the high bit of each such byte is set. The three tests (below 0x20,
/// equal to `"`, equal to `\`, after Bit Twiddling Hacks `haszero`) can flag a byte by mistake
/// only above a byte they flag rightly (a borrow runs upward from a true match), so the lowest
/// flagged byte is always a true one.
#[inline(always)]
pub(crate) fn json_escape_flags(w: u64) -> u64 {
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    below_space | zero_bytes(w ^ (ONES * b'"' as u64)) | zero_bytes(w ^ (ONES * b'\\' as u64))
}

/// [`json_escape_flags`] and also the bytes from 0x80 up: the bytes that end a JSON string
/// literal's run of plain ASCII. Cheaper than `json_escape_flags`: with every byte from 0x80
/// flagged anyway, a test need not mask out the bytes whose own high bit made its subtraction
/// look negative. As there, a byte may be flagged by mistake only above a true one (a borrow
/// runs upward from a byte below 0x20 or equal to `"` or `\`), so the lowest flag is true.
#[inline(always)]
pub(crate) fn json_ascii_end_flags(w: u64) -> u64 {
    (w.wrapping_sub(ONES * 0x20)
        | (w ^ (ONES * b'"' as u64)).wrapping_sub(ONES)
        | (w ^ (ONES * b'\\' as u64)).wrapping_sub(ONES)
        | w)
        & HIGH
}

/// Index of the first byte of `b` that ends a run of plain ASCII in a JSON string (a control
/// character, `"`, `\` or a byte from 0x80), by [`json_ascii_end_flags`].
pub(crate) fn json_first_ascii_end(b: &[u8]) -> Option<usize> {
    first_flagged(b, json_ascii_end_flags)
}

/// Index of the first byte of `b` that needs escaping in a JSON string (a control character, `"`
/// or `\`), the only bytes that end an unescaped string literal, by [`json_escape_flags`].
pub(crate) fn json_first_escape(b: &[u8]) -> Option<usize> {
    first_flagged(b, json_escape_flags)
}

/// Index of the first byte of `b` that `flags` marks, for a test whose lowest flag is always a
/// true one and which never flags a space: eight bytes at a time, the last few read as one word
/// padded with spaces.
#[inline(always)]
fn first_flagged(b: &[u8], flags: impl Fn(u64) -> u64) -> Option<usize> {
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let m = flags(u64::from_le_bytes(word));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let mut w = u64::from_le_bytes(*b"        ");
    for (j, &c) in b[i..].iter().enumerate() {
        w ^= ((c ^ b' ') as u64) << (8 * j);
    }
    let m = flags(w);
    (m != 0).then(|| i + (m.trailing_zeros() / 8) as usize)
}

/// Index of the first `needle` in `b` at or after `from`, eight bytes at a time. The lowest byte
/// flagged by the zero-byte test (Bit Twiddling Hacks `haszero`) is always a true match, so the
/// first flagged one is the answer.
pub(crate) fn find_byte(b: &[u8], from: usize, needle: u8) -> Option<usize> {
    let pattern = ONES * needle as u64;
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let zero = zero_bytes(u64::from_le_bytes(word) ^ pattern);
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

/// The finalizer of MurmurHash3 (fmix64): a bijective mix whose output bits each depend on every
/// input bit, so neighbouring inputs give unrelated results. Stable across runs and Rust versions
/// (the producer's queue scores depend on that).
pub(crate) fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod decimal_tests {
    use super::*;

    /// Every length from 1 to 20 digits, the pair boundaries and a sweep of small values, against
    /// `Display`.
    #[test]
    fn decimals_print_like_display() {
        let mut values: Vec<u64> = (0..2_000).collect();
        let mut p = 1u64;
        for _ in 0..20 {
            // Wrapping: 9 x 10^19 is past u64::MAX (the 20th power of ten saturates).
            values.extend([
                p - 1,
                p,
                p.wrapping_add(1),
                p.wrapping_mul(9),
                p.wrapping_mul(7) / 3,
            ]);
            p = p.saturating_mul(10);
        }
        values.extend([u64::MAX, u64::MAX - 1, 1_700_000_000_123]);
        for v in values {
            let mut buf = [0u8; 20];
            let i = write_decimal(&mut buf, v);
            assert_eq!(&buf[i..], v.to_string().as_bytes(), "{v}");
            let mut s = String::from("x");
            push_decimal(&mut s, v);
            assert_eq!(s, format!("x{v}"));
        }
    }

    /// Around every multiple of 10^8 and 10^16 the eight-digit split meets (zeros inside the low
    /// groups), and a spread of values of every magnitude.
    #[test]
    fn decimals_at_the_eight_digit_splits_print_like_display() {
        let mut values = Vec::new();
        for k in 1..200u64 {
            for base in [100_000_000u64, 10_000_000_000_000_000] {
                let Some(m) = base.checked_mul(k) else {
                    continue;
                };
                values.extend([m - 1, m, m + 1, m + 99, m + 10_000_001]);
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        for v in values {
            let mut buf = [0u8; 20];
            let i = write_decimal(&mut buf, v);
            assert_eq!(&buf[i..], v.to_string().as_bytes(), "{v}");
        }
    }
}
