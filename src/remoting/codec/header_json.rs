//! The JSON header (serialize type 0): a hand-written writer, a one-pass fast path and a lenient
//! scanner for decoding, and a `serde_json::Value` decoder kept as the reference the scanner is
//! fuzzed and tested against.
//!
//! Writer (strict, what rocketmq-rust and Java accept, reference §2 and §17): keys in Java's
//! alphabetical order, `extFields` values always strings, `serializeTypeCurrentRPC` always present,
//! the language as its Java name; written straight into the frame buffer, each string copied and
//! checked for escapes a word at a time. Fast path (`Fast`): the usual shape only (no whitespace,
//! no escapes, short integers, up to 32 distinct string-valued ext fields), anything else falls to
//! the scanner. Scanner (lenient): any key order and whitespace, unknown keys skipped, `null` for
//! absent, `language` as name or number, integer and boolean ext values turned into strings,
//! repeated keys resolved last-wins. Decoded ext fields come out sorted by key, as the `Value` path
//! gives them, whichever path decoded them.
//!
//! This file is long: about 1,200 lines of code plus its tests, over the ~800-line guide on
//! purpose: the writer, the fast path, the scanner and the `Value` reference decoder describe one
//! format and are reviewed side by side (the fast path must give what the scanner gives, and the
//! scanner accept exactly what the reference accepts, see `codec/oracle.rs`). A split into
//! `header_json/{writer,fast}.rs` is the obvious next step.

use super::error::DecodeError;
use super::MAX_EXT_FIELDS;
use crate::remoting::codes::{LanguageCode, SerializeType};
use crate::remoting::command::{ExtFields, RemotingCommand, TAG_INVALID, TAG_NULL, TAG_VALUE};
use crate::util::json_escape_flags as flagged;
use crate::util::json_first_escape as first_escape;
use bytes::{Bytes, BytesMut};
use std::borrow::Cow;

/// Deepest nesting the scanner skips inside unknown members (serde_json's own limit is 128).
pub const MAX_JSON_DEPTH: usize = 100;

/// Bytes reserved up front for the decoded ext fields: 4 KiB, more than any real header's fields
/// (a SEND_MESSAGE_V2 header is about 400 bytes); larger ones grow the store as they go, so a
/// header announcing many `extFields` objects does not reserve its whole remaining length each time.
const EXT_INITIAL_BYTES: usize = 4096;

// ---------------------------------------------------------------------------------------------
// Writer

/// Bytes the writer may write past what it has written (its copies are 8 or 16 bytes wide);
/// [`write_json_header`] keeps them in the buffer while writing and cuts them off after.
const WRITE_SLACK: usize = 16;

/// Bytes kept for escapes (each adds 1 or 5 to a string) before the buffer has to grow.
const ESCAPE_ROOM: usize = 64;

/// Longest decimal text of an i32 (or of a language code).
const INT_MAX_LEN: usize = 11;

const CODE_KEY: &[u8] = b"{\"code\":";
const EXT_KEY: &[u8] = b",\"extFields\":{";
const FLAG_KEY: &[u8] = b",\"flag\":";
const LANGUAGE_KEY: &[u8] = b",\"language\":";
const OPAQUE_KEY: &[u8] = b",\"opaque\":";
const REMARK_KEY: &[u8] = b",\"remark\":";
const TAIL_KEYS: &[u8] = b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":";

/// One integer of the header, formatted: its decimal text at the front of a 16-byte buffer, so
/// the writer copies it as one fixed-size block (see [`Writer::int`]).
struct Int {
    buf: [u8; 16],
    len: usize,
}

impl Int {
    /// The digits are gathered in a register from the last, two per step from
    /// [`crate::util::PAIRS`], each pair shifted in below the ones before it (the first digit
    /// ends in the lowest byte, as a little-endian store wants it), then the sign: no byte is
    /// stored and read back as a word, which stalls the load.
    #[inline(always)]
    fn new(v: i32) -> Int {
        use crate::util::PAIRS;
        let mut n = v.unsigned_abs();
        let mut text: u128 = 0;
        let mut len = 0;
        while n >= 100 {
            let p = (n % 100) as usize * 2;
            n /= 100;
            let pair = u16::from_le_bytes([PAIRS[p], PAIRS[p + 1]]);
            text = (text << 16) | u128::from(pair);
            len += 2;
        }
        if n >= 10 {
            let p = n as usize * 2;
            let pair = u16::from_le_bytes([PAIRS[p], PAIRS[p + 1]]);
            text = (text << 16) | u128::from(pair);
            len += 2;
        } else {
            text = (text << 8) | u128::from(b'0' + n as u8);
            len += 1;
        }
        if v < 0 {
            text = (text << 8) | u128::from(b'-');
            len += 1;
        }
        Int {
            buf: text.to_le_bytes(),
            len,
        }
    }
}

/// The JSON escape of each byte [`flagged`] marks (a control character, `"` or `\\`; `\\` is the
/// highest, 0x5c), as the sequence's bytes in a little-endian word and its length; other entries
/// are unused.
const ESCAPES: [(u64, usize); 0x5d] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const fn word(b: &[u8]) -> u64 {
        let mut w = 0u64;
        let mut i = 0;
        while i < b.len() {
            w |= (b[i] as u64) << (8 * i);
            i += 1;
        }
        w
    }
    let mut t = [(0u64, 1usize); 0x5d];
    let mut b = 0;
    while b < 0x20 {
        let seq = [b'\\', b'u', b'0', b'0', HEX[b >> 4], HEX[b & 15]];
        t[b] = (word(&seq), 6);
        b += 1;
    }
    t[0x08] = (word(b"\\b"), 2);
    t[0x09] = (word(b"\\t"), 2);
    t[0x0a] = (word(b"\\n"), 2);
    t[0x0c] = (word(b"\\f"), 2);
    t[0x0d] = (word(b"\\r"), 2);
    t[b'"' as usize] = (word(b"\\\""), 2);
    t[b'\\' as usize] = (word(b"\\\\"), 2);
    t
};

/// The header writer: writes at `pos` into `dst`, whose length always covers what is still to
/// be written without escapes, plus [`WRITE_SLACK`], plus `room`; escapes spend `room`. An escape
/// that finds too little room is not written and sets `short` instead (the bound above still
/// holds, so every later write stays in `dst`), and [`write_json_header`] writes the header again
/// with room for the worst case. Every write is a bounds-checked slice copy into one plain slice,
/// most of them of a fixed size (no call to `memcpy`); bytes past `pos` are overwritten by the
/// writes that follow or cut off at the end.
struct Writer<'a> {
    dst: &'a mut [u8],
    pos: usize,
    room: usize,
    short: bool,
}

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) {
        self.dst[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }

    fn byte(&mut self, b: u8) {
        self.dst[self.pos] = b;
        self.pos += 1;
    }

    fn int(&mut self, v: i32) {
        let n = Int::new(v);
        self.dst[self.pos..self.pos + 16].copy_from_slice(&n.buf);
        self.pos += n.len;
    }

    /// The escape of `b`, a byte [`flagged`] marks: its sequence from [`ESCAPES`], written as one
    /// word (what follows overwrites the bytes past it).
    #[inline(always)]
    fn escape(&mut self, b: u8) {
        let (seq, len) = ESCAPES[usize::from(b)];
        if self.room < 5 {
            self.short = true;
            return;
        }
        self.room -= len - 1;
        self.dst[self.pos..self.pos + 8].copy_from_slice(&seq.to_le_bytes());
        self.pos += len;
    }

    /// `src[a..b]` as the content of a JSON string (no quotes). A short one (the usual ext key
    /// or value) is one word: checked, copied whole, and `pos` moved by its length.
    #[inline(always)]
    fn str_body(&mut self, src: &[u8], a: usize, b: usize) {
        if b - a <= 8 {
            if let Some(w) = word_at(src, a) {
                if flagged(w) & LOW_BYTES[b - a] == 0 {
                    self.dst[self.pos..self.pos + 8].copy_from_slice(&w.to_le_bytes());
                    self.pos += b - a;
                    return;
                }
            }
        }
        self.str_body_words(src, a, b);
    }

    /// [`Writer::str_body`] for any string: copied and checked for escapes eight bytes at a time.
    /// Writes past the end land in the slack. The clean words are copied with the buffer borrowed
    /// as one slice (so its address and length stay in registers), the escapes in between.
    #[inline(never)]
    fn str_body_words(&mut self, src: &[u8], mut a: usize, b: usize) {
        while a < b {
            let out = &mut *self.dst;
            let mut pos = self.pos;
            let mut escape = None;
            while a < b {
                let take = (b - a).min(8);
                let w = word_at(src, a).unwrap_or_else(|| {
                    // `src` is shorter than a word: its bytes padded with spaces.
                    let mut w = u64::from_le_bytes(*b"        ");
                    for (j, &c) in src[a..].iter().enumerate() {
                        w ^= ((c ^ b' ') as u64) << (8 * j);
                    }
                    w
                });
                out[pos..pos + 8].copy_from_slice(&w.to_le_bytes());
                let f = flagged(w) & LOW_BYTES[take];
                if f != 0 {
                    let k = (f.trailing_zeros() / 8) as usize;
                    pos += k;
                    a += k;
                    escape = Some(src[a]);
                    break;
                }
                a += take;
                pos += take;
            }
            self.pos = pos;
            if let Some(c) = escape {
                self.escape(c);
                a += 1;
            }
        }
    }
}

/// The eight bytes of `src` from `a` as a little-endian word; near the end, the last eight
/// shifted down (the bytes past the end read as zero: callers mask them off). `None` when `src`
/// is shorter than a word.
#[inline(always)]
fn word_at(src: &[u8], a: usize) -> Option<u64> {
    let mut word = [0u8; 8];
    match src.get(a..a + 8) {
        Some(chunk) => {
            word.copy_from_slice(chunk);
            Some(u64::from_le_bytes(word))
        }
        None => {
            let last = src.len().checked_sub(8)?;
            word.copy_from_slice(&src[last..]);
            Some(
                u64::from_le_bytes(word)
                    .checked_shr(8 * (a - last) as u32)
                    .unwrap_or(0),
            )
        }
    }
}

/// `LOW_BYTES[n]`: the low `n` bytes of a word set.
const LOW_BYTES: [u64; 9] = {
    let mut t = [0u64; 9];
    let mut n = 1;
    while n < 8 {
        t[n] = (1u64 << (8 * n)) - 1;
        n += 1;
    }
    t[8] = u64::MAX;
    t
};

/// At least the length of the JSON header of `cmd` when none of its strings needs an escape.
pub(crate) fn header_bound(cmd: &RemotingCommand) -> usize {
    let (store, idx, _) = cmd.ext_fields.raw_parts();
    let mut len = CODE_KEY.len()
        + FLAG_KEY.len()
        + LANGUAGE_KEY.len()
        + OPAQUE_KEY.len()
        + TAIL_KEYS.len()
        + 5 * INT_MAX_LEN
        + cmd.language.name().map_or(0, str::len)
        + 3;
    if !idx.is_empty() {
        // Per entry four quotes, a ':' and a ',' (one too many, the closing brace counted), and
        // its key and value, which the store holds (with the entries replaced or removed, if
        // any, or the gaps between keys and values: then this is more than enough).
        len += EXT_KEY.len() + 6 * idx.len() + store.len();
    }
    if let Some(remark) = &cmd.remark {
        len += REMARK_KEY.len() + remark.len() + 2;
    }
    len
}

/// Room to reserve for a JSON header of [`header_bound`] `bound`, for a caller that appends more
/// after it.
pub(crate) fn header_reserve(bound: usize) -> usize {
    bound + WRITE_SLACK + ESCAPE_ROOM
}

/// Appends the JSON header of `cmd` to `dst` and returns its length.
pub(crate) fn write_json_header(cmd: &RemotingCommand, dst: &mut BytesMut) -> usize {
    write_json_header_bounded(cmd, dst, header_bound(cmd))
}

/// [`write_json_header`] with `bound`, the [`header_bound`] of `cmd`, already computed (the frame
/// encoder needs it first for its reservation).
pub(crate) fn write_json_header_bounded(
    cmd: &RemotingCommand,
    dst: &mut BytesMut,
    bound: usize,
) -> usize {
    let start = dst.len();
    let mut room = ESCAPE_ROOM;
    loop {
        dst.resize(start + bound + WRITE_SLACK + room, 0);
        if let Some(len) = write_header_into(cmd, &mut dst[start..], room) {
            dst.truncate(start + len);
            return len;
        }
        // More escapes than `room`: again with room for the worst case, every byte of every
        // string escaped as `\u00XX` (5 bytes more each; the strings are within `bound`).
        room = 5 * bound;
    }
}

/// Writes the JSON header of `cmd` at the front of `dst` (long enough for it without escapes,
/// plus [`WRITE_SLACK`], plus `room`): its length, or `None` when its escapes need more than
/// `room` bytes.
fn write_header_into(cmd: &RemotingCommand, dst: &mut [u8], room: usize) -> Option<usize> {
    let mut w = Writer {
        dst,
        pos: 0,
        room,
        short: false,
    };
    w.put(CODE_KEY);
    w.int(cmd.code);
    let (store, idx, gap) = cmd.ext_fields.raw_parts();
    if !idx.is_empty() {
        w.put(EXT_KEY);
        for (i, &(ks, ke, ve)) in idx.iter().enumerate() {
            w.put(if i == 0 { b"\"" } else { b",\"" });
            w.str_body(store, ks as usize, ke as usize);
            w.put(b"\":\"");
            w.str_body(store, ke as usize + gap, ve as usize);
            w.byte(b'"');
        }
        w.byte(b'}');
    }
    w.put(FLAG_KEY);
    w.int(cmd.flag);
    w.put(LANGUAGE_KEY);
    match cmd.language.name() {
        Some(name) => {
            w.byte(b'"');
            w.put(name.as_bytes());
            w.byte(b'"');
        }
        None => w.int(cmd.language.code() as i32),
    }
    w.put(OPAQUE_KEY);
    w.int(cmd.opaque);
    if let Some(remark) = &cmd.remark {
        w.put(REMARK_KEY);
        w.byte(b'"');
        w.str_body(remark.as_bytes(), 0, remark.len());
        w.byte(b'"');
    }
    w.put(TAIL_KEYS);
    w.int(cmd.version);
    w.byte(b'}');
    (!w.short).then_some(w.pos)
}

/// Appends the JSON header of `cmd` to `dst`.
pub fn encode_json_header(cmd: &RemotingCommand, dst: &mut BytesMut) {
    write_json_header(cmd, dst);
}

// ---------------------------------------------------------------------------------------------
// Scanner

struct Scanner<'a> {
    s: &'a [u8],
    /// The whole header as text when it is valid UTF-8 (the usual case): string literals are then
    /// sliced out of it without validating each one again.
    text: Option<&'a str>,
    pos: usize,
    /// Work units beyond the bytes scanned (members stored, key comparisons), for the oracle.
    work: u64,
    /// Ext-field members seen so far in this header, against [`MAX_EXT_FIELDS`].
    ext_members: usize,
}

enum Scalar<'a> {
    Str(Cow<'a, str>),
    /// Canonical decimal text of an integer that fits i64 or u64.
    Int(i128),
    /// A number with a fraction or exponent, or an integer beyond u64/i64.
    Float,
    Bool(bool),
    Null,
    Composite,
}

impl<'a> Scanner<'a> {
    fn err(&self, reason: &'static str) -> DecodeError {
        DecodeError::InvalidJson {
            offset: self.pos,
            reason,
        }
    }

    fn ws(&mut self) {
        while let Some(&b) = self.s.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8, reason: &'static str) -> Result<(), DecodeError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(reason))
        }
    }

    fn hex4(&mut self) -> Result<u32, DecodeError> {
        let h = self
            .s
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("truncated \\u escape"))?;
        let mut v = 0u32;
        for &c in h {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.err("bad hex digit in \\u escape"))?;
            v = v * 16 + d;
        }
        self.pos += 4;
        Ok(v)
    }

    /// Parses a string literal; the opening quote is at `pos`.
    fn string(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes. The word-at-a-time scan of the writer finds the first quote,
        // backslash or control character, the only bytes that end this path.
        self.pos += first_escape(&self.s[start..]).unwrap_or(self.s.len() - start);
        loop {
            match self.s.get(self.pos) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let end = self.pos;
                    self.pos += 1;
                    // Both ends sit next to an ASCII quote, so they are char boundaries.
                    return match self.text.and_then(|t| t.get(start..end)) {
                        Some(t) => Ok(Cow::Borrowed(t)),
                        None => std::str::from_utf8(&self.s[start..end])
                            .map(Cow::Borrowed)
                            .map_err(|_| DecodeError::InvalidUtf8 {
                                field: "JSON string",
                            }),
                    };
                }
                Some(b'\\') => break,
                Some(&c) if c < 0x20 => return Err(self.err("control character in string")),
                Some(_) => self.pos += 1,
            }
        }
        let mut out: Vec<u8> = self.s[start..self.pos].to_vec();
        loop {
            match self.s.get(self.pos) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out).map(Cow::Owned).map_err(|_| {
                        DecodeError::InvalidUtf8 {
                            field: "JSON string",
                        }
                    });
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let e = *self
                        .s
                        .get(self.pos)
                        .ok_or_else(|| self.err("unterminated escape"))?;
                    self.pos += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(self.err("lone leading surrogate"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("invalid trailing surrogate"));
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            } else if (0xDC00..0xE000).contains(&cp) {
                                return Err(self.err("lone trailing surrogate"));
                            }
                            let ch =
                                char::from_u32(cp).ok_or_else(|| self.err("invalid code point"))?;
                            let mut b = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(&c) if c < 0x20 => return Err(self.err("control character in string")),
                Some(&c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn digits(&mut self) -> usize {
        let st = self.pos;
        while matches!(self.s.get(self.pos), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - st
    }

    fn number(&mut self) -> Result<Scalar<'a>, DecodeError> {
        let start = self.pos;
        if self.s.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = self.digits();
        if n == 0 {
            return Err(self.err("invalid number"));
        }
        if n > 1 && self.s[int_start] == b'0' {
            return Err(self.err("leading zero in number"));
        }
        let mut float = false;
        if self.s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
            float = true;
        }
        // The decimal exponent, saturated (0 without one).
        let mut exp: i64 = 0;
        if matches!(self.s.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            let neg = self.s.get(self.pos) == Some(&b'-');
            if matches!(self.s.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            let exp_start = self.pos;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
            for &d in &self.s[exp_start..self.pos] {
                exp = exp.saturating_mul(10).saturating_add((d - b'0') as i64);
            }
            if neg {
                exp = -exp;
            }
            float = true;
        }
        // The usual case, a short integer: its value from the digits already checked.
        if !float && n <= 18 {
            let v = self.s[int_start..self.pos]
                .iter()
                .fold(0i64, |v, &d| v * 10 + (d - b'0') as i64);
            return Ok(match (int_start > start, v) {
                // serde_json keeps "-0" as a float (it parses negatives as i64 only when non-zero).
                (true, 0) => Scalar::Float,
                (true, v) => Scalar::Int(-(v as i128)),
                (false, v) => Scalar::Int(v as i128),
            });
        }
        // Only ASCII digits, signs, '.' and 'e' were accepted above.
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("x");
        if float || self.pos - start > 21 {
            // Below 10^308, so finite, whenever integer digits + exponent <= 308 (a lone leading
            // "0" only overestimates): no need to parse it (the slow part of a header full of
            // floats). Underflow is fine: serde_json reads it as 0.
            if (n as i64).saturating_add(exp) <= 308 {
                return Ok(Scalar::Float);
            }
            // serde_json refuses numbers that overflow f64, so the scanner does too.
            return match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Scalar::Float),
                _ => Err(DecodeError::InvalidJson {
                    offset: start,
                    reason: "number out of range",
                }),
            };
        }
        // Fits i128 easily: at most 20 digits.
        match text.parse::<i128>() {
            // serde_json keeps "-0" as a float (it parses negatives as i64 only when non-zero).
            Ok(0) if text.starts_with('-') => Ok(Scalar::Float),
            Ok(v) if v >= i64::MIN as i128 && v <= u64::MAX as i128 => Ok(Scalar::Int(v)),
            _ => Ok(Scalar::Float),
        }
    }

    fn literal(&mut self, word: &'static [u8], v: Scalar<'a>) -> Result<Scalar<'a>, DecodeError> {
        if self.s.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    /// Parses any value; composites are validated and skipped.
    fn value(&mut self, depth: usize) -> Result<Scalar<'a>, DecodeError> {
        match self.peek() {
            Some(b'"') => Ok(Scalar::Str(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Scalar::Bool(true)),
            Some(b'f') => self.literal(b"false", Scalar::Bool(false)),
            Some(b'n') => self.literal(b"null", Scalar::Null),
            Some(b'[') => {
                self.skip_composite(depth + 1, b']')?;
                Ok(Scalar::Composite)
            }
            Some(b'{') => {
                self.skip_composite(depth + 1, b'}')?;
                Ok(Scalar::Composite)
            }
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end of header")),
        }
    }

    fn skip_composite(&mut self, depth: usize, close: u8) -> Result<(), DecodeError> {
        if depth > MAX_JSON_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.pos += 1;
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if close == b'}' {
                if self.peek() != Some(b'"') {
                    return Err(self.err("expected object key"));
                }
                self.string()?;
                self.expect(b':', "expected ':'")?;
            }
            self.value(depth)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or closing bracket")),
            }
        }
    }

    /// Iterates the members of an object whose `{` is at the current position.
    fn object<F>(&mut self, depth: usize, mut f: F) -> Result<(), DecodeError>
    where
        F: FnMut(&mut Self, Cow<'a, str>) -> Result<(), DecodeError>,
    {
        if depth > MAX_JSON_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.expect(b'{', "expected '{'")?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.err("expected object key"));
            }
            let key = self.string()?;
            self.expect(b':', "expected ':'")?;
            f(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }
}

fn int_field(v: Scalar<'_>, field: &'static str) -> Result<Option<i32>, DecodeError> {
    match v {
        Scalar::Null => Ok(None),
        Scalar::Int(n) => i32::try_from(n)
            .map(Some)
            .map_err(|_| DecodeError::InvalidField {
                field,
                reason: "integer out of i32 range",
            }),
        _ => Err(DecodeError::InvalidField {
            field,
            reason: "not an integer",
        }),
    }
}

fn language_field(v: Scalar<'_>) -> Result<Option<LanguageCode>, DecodeError> {
    match v {
        Scalar::Null => Ok(None),
        Scalar::Str(s) => Ok(Some(LanguageCode::from_name(&s))),
        Scalar::Int(n) if (0..=255).contains(&n) => Ok(Some(LanguageCode::from_code(n as u8))),
        _ => Err(DecodeError::InvalidField {
            field: "language",
            reason: "not a language name or code",
        }),
    }
}

/// The members of a header as last seen (repeated keys: last wins, as in serde_json's map),
/// validated only once the whole object has been read.
#[derive(Default)]
struct Raw<'a> {
    code: Option<Scalar<'a>>,
    language: Option<Scalar<'a>>,
    version: Option<Scalar<'a>>,
    opaque: Option<Scalar<'a>>,
    flag: Option<Scalar<'a>>,
    remark: Option<Scalar<'a>>,
    /// `None`: absent or null; `Some(Err(reason))`: not an object, or a value of a wrong type;
    /// `Some(Ok(fields))`: sorted by key, last repeat kept.
    ext: Option<Result<ExtFields, &'static str>>,
}

const EXT_NOT_OBJECT: &str = "not an object";
const EXT_VALUE_TYPE: &str = "value is not a string, integer or boolean";

fn opt_int(v: Option<Scalar<'_>>, field: &'static str) -> Result<Option<i32>, DecodeError> {
    v.map_or(Ok(None), |v| int_field(v, field))
}

impl Raw<'_> {
    fn finish(self) -> Result<RemotingCommand, DecodeError> {
        let ext = match self.ext {
            None => ExtFields::new(),
            Some(Ok(ext)) => ext,
            Some(Err(reason)) => {
                return Err(DecodeError::InvalidField {
                    field: "extFields",
                    reason,
                })
            }
        };
        let remark = match self.remark {
            None | Some(Scalar::Null) => None,
            Some(Scalar::Str(s)) => Some(s.into_owned()),
            Some(_) => {
                return Err(DecodeError::InvalidField {
                    field: "remark",
                    reason: "not a string",
                })
            }
        };
        Ok(RemotingCommand {
            code: opt_int(self.code, "code")?.ok_or(DecodeError::MissingField("code"))?,
            language: self
                .language
                .map_or(Ok(None), language_field)?
                .unwrap_or(LanguageCode::Java),
            version: opt_int(self.version, "version")?.unwrap_or(0),
            opaque: opt_int(self.opaque, "opaque")?.ok_or(DecodeError::MissingField("opaque"))?,
            flag: opt_int(self.flag, "flag")?.unwrap_or(0),
            remark,
            ext_fields: ext,
            body: Bytes::new(),
            serialize_type: SerializeType::Json,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Fast path

/// Most ext fields the fast path takes; a header with more goes to the scanner (the fast path
/// keeps its entries sorted by insertion, quadratic in their number).
const FAST_MAX_EXT: usize = 32;

/// The one-pass reader of the usual header shape: no whitespace, string literals without escapes,
/// integers of at most 9 digits (so within i32), `extFields` an object of string values with
/// distinct keys, other members strings or integers. Anything else gives `None` at once and the
/// header goes to the [`Scanner`], which accepts everything this accepts and gives the same
/// command (checked by `fast_path_agrees_with_the_scanner_on_mutated_headers` and the fuzz oracle).
struct Fast<'a> {
    s: &'a [u8],
    /// `s` as text (it is valid UTF-8): string contents are sliced out of it.
    t: &'a str,
    p: usize,
}

/// The eight bytes of `s` from `a` as a little-endian word, if there are eight.
#[inline(always)]
fn word_at_exact(s: &[u8], a: usize) -> Option<u64> {
    let mut word = [0u8; 8];
    word.copy_from_slice(s.get(a..a + 8)?);
    Some(u64::from_le_bytes(word))
}

impl<'a> Fast<'a> {
    fn next(&self) -> Option<u8> {
        self.s.get(self.p).copied()
    }

    fn byte(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then(|| self.p += 1)
    }

    /// A string literal without escapes; its content's range. Looks a word at a time for the
    /// closing quote (or a byte that sends the header to the scanner).
    #[inline(always)]
    fn str(&mut self) -> Option<(usize, usize)> {
        self.byte(b'"')?;
        let start = self.p;
        let mut end = start;
        loop {
            match word_at_exact(self.s, end) {
                Some(w) => {
                    let f = flagged(w);
                    if f != 0 {
                        end += (f.trailing_zeros() / 8) as usize;
                        break;
                    }
                    end += 8;
                }
                None => {
                    end += first_escape(&self.s[end..])?;
                    break;
                }
            }
        }
        (self.s[end] == b'"').then_some(())?;
        self.p = end + 1;
        Some((start, end))
    }

    fn text(&self, (start, end): (usize, usize)) -> Option<&'a str> {
        self.t.get(start..end)
    }

    /// An integer of 1 to 9 digits, no leading zero, not "-0"; what follows is left to the caller
    /// (a '.' or 'e' there is not a ',' or '}', so the header falls back).
    fn int(&mut self) -> Option<i32> {
        let neg = self.next() == Some(b'-');
        if neg {
            self.p += 1;
        }
        let start = self.p;
        let mut v = 0i32;
        while let Some(d @ b'0'..=b'9') = self.next() {
            if self.p - start == 9 {
                return None;
            }
            v = v * 10 + (d - b'0') as i32;
            self.p += 1;
        }
        let n = self.p - start;
        if n == 0 || (n > 1 && self.s[start] == b'0') || (neg && v == 0) {
            return None;
        }
        Some(if neg { -v } else { v })
    }

    /// After a member: `Some(true)` at ',', `Some(false)` at the closing '}'.
    fn more(&mut self) -> Option<bool> {
        let c = self.next()?;
        self.p += 1;
        match c {
            b',' => Some(true),
            b'}' => Some(false),
            _ => None,
        }
    }

    /// The `extFields` object, sorted by key as the scanner gives it. Its text from the first
    /// key to the last value becomes the store as it is, with one copy: each value starts three
    /// bytes (`":"`) after its key's end, as the store's gap says.
    fn ext(&mut self, ext: &mut ExtFields) -> Option<()> {
        self.byte(b'{')?;
        if self.next() == Some(b'}') {
            self.p += 1;
            return Some(());
        }
        let start = self.p + 1; // the first key's first byte, after its quote
        let text = self.s.get(start..)?;
        let mut end;
        loop {
            let key = self.str()?;
            self.byte(b':')?;
            let value = self.str()?;
            end = value.1;
            if ext.len() == FAST_MAX_EXT {
                return None;
            }
            // A repeated key: last wins, as the scanner resolves it.
            let at = |i: usize| (i - start) as u32;
            ext.push_sorted_json(text, (at(key.0), at(key.1), at(value.1)))
                .ok()?;
            if !self.more()? {
                break;
            }
        }
        ext.set_json_text(self.text((start, end))?);
        Some(())
    }

    /// The header into `cmd`, a [`blank_command`] (its ext fields filled in place: the command
    /// is not moved between the functions of a decode). `None` leaves `cmd` in any state.
    #[inline(always)]
    fn header(&mut self, cmd: &mut RemotingCommand) -> Option<()> {
        let (mut code, mut opaque, mut flag, mut version) = (None, None, 0, 0);
        let mut language = LanguageCode::Java;
        let mut remark = None;
        let mut ext = false;
        self.byte(b'{')?;
        loop {
            let key = self.str()?;
            self.byte(b':')?;
            match &self.s[key.0..key.1] {
                b"code" => code = Some(self.int()?),
                b"opaque" => opaque = Some(self.int()?),
                b"flag" => flag = self.int()?,
                b"version" => version = self.int()?,
                b"language" => {
                    let v = self.str()?;
                    language = LanguageCode::from_name(self.text(v)?);
                }
                b"remark" => remark = Some(self.str()?),
                b"extFields" if !ext => {
                    self.ext(&mut cmd.ext_fields)?;
                    ext = true;
                }
                b"extFields" => return None,
                _ => match self.next()? {
                    b'"' => {
                        self.str()?;
                    }
                    _ => {
                        self.int()?;
                    }
                },
            }
            if !self.more()? {
                break;
            }
        }
        if self.p != self.s.len() {
            return None;
        }
        cmd.code = code?;
        cmd.opaque = opaque?;
        if let Some(r) = remark {
            cmd.remark = Some(self.text(r)?.to_owned());
        }
        cmd.language = language;
        cmd.version = version;
        cmd.flag = flag;
        Some(())
    }
}

/// The command a JSON header is decoded into: code, opaque, flag and version 0, language JAVA
/// (a header without one), no remark, no ext fields, no body.
pub(crate) fn blank_command() -> RemotingCommand {
    RemotingCommand {
        code: 0,
        language: LanguageCode::Java,
        version: 0,
        opaque: 0,
        flag: 0,
        remark: None,
        ext_fields: ExtFields::new(),
        body: Bytes::new(),
        serialize_type: SerializeType::Json,
    }
}

/// The fast path alone: the command for a header of the usual shape, `None` for anything else
/// (which [`decode_json_header`] then gives to the scanner). For tests and the fuzz oracle.
#[doc(hidden)]
pub fn decode_json_header_fast(h: &[u8]) -> Option<RemotingCommand> {
    let t = std::str::from_utf8(h).ok()?;
    let mut cmd = blank_command();
    Fast { s: h, t, p: 0 }.header(&mut cmd)?;
    Some(cmd)
}

/// Decodes a JSON header (the bytes between the header-length word and the body).
///
/// Linear in the header length: the usual shape is read in one pass (at most 32 ext fields, kept
/// sorted as they come); anything else goes to the lenient scanner, where repeated keys and
/// `null`s are resolved by one sort at the end, and at most [`MAX_EXT_FIELDS`] ext-field members
/// are read.
///
/// # Errors
/// [`DecodeError::InvalidJson`] for malformed JSON, [`DecodeError::MissingField`] without `code` or
/// `opaque`, [`DecodeError::InvalidField`] for a member of the wrong type,
/// [`DecodeError::TooManyExtFields`] past [`MAX_EXT_FIELDS`].
pub fn decode_json_header(h: &[u8]) -> Result<RemotingCommand, DecodeError> {
    let mut cmd = blank_command();
    decode_json_header_into(h, &mut cmd)?;
    Ok(cmd)
}

/// [`decode_json_header`] into `cmd`, a [`blank_command`] (the frame decoder's, so the command
/// is built where it is returned from). On error `cmd` is left in any state.
#[inline(always)]
pub(crate) fn decode_json_header_into(
    h: &[u8],
    cmd: &mut RemotingCommand,
) -> Result<(), DecodeError> {
    let text = std::str::from_utf8(h).ok();
    if let Some(t) = text {
        if (Fast { s: h, t, p: 0 }).header(cmd).is_some() {
            return Ok(());
        }
    }
    *cmd = decode_scanner(h, text).0?;
    Ok(())
}

/// The scanner alone (no fast path), also returning the work it did: bytes scanned plus one unit
/// per ext-field member stored and per key comparison. The fuzz oracle checks it stays within a
/// constant times the input length.
#[doc(hidden)]
pub fn decode_json_header_counting(h: &[u8]) -> (Result<RemotingCommand, DecodeError>, u64) {
    decode_scanner(h, std::str::from_utf8(h).ok())
}

fn decode_scanner(h: &[u8], text: Option<&str>) -> (Result<RemotingCommand, DecodeError>, u64) {
    let mut sc = Scanner {
        s: h,
        text,
        pos: 0,
        work: h.len() as u64,
        ext_members: 0,
    };
    let r = decode_with(&mut sc);
    (r, sc.work + sc.pos as u64)
}

fn decode_with(sc: &mut Scanner<'_>) -> Result<RemotingCommand, DecodeError> {
    let mut raw = Raw::default();
    sc.object(1, |sc, key| {
        match key.as_ref() {
            "code" => raw.code = Some(sc.value(1)?),
            "opaque" => raw.opaque = Some(sc.value(1)?),
            "flag" => raw.flag = Some(sc.value(1)?),
            "version" => raw.version = Some(sc.value(1)?),
            "language" => raw.language = Some(sc.value(1)?),
            "remark" => raw.remark = Some(sc.value(1)?),
            "extFields" => {
                if sc.peek() == Some(b'{') {
                    // Keys and values are at most as long as their JSON text, so the rest of the
                    // header bounds the store.
                    let rest = sc.s.len() - sc.pos;
                    let mut ext =
                        ExtFields::with_capacity((rest / 8).min(32), rest.min(EXT_INITIAL_BYTES));
                    // Tags of the entries so far (TAG_VALUE, TAG_NULL, TAG_INVALID); left empty
                    // while every entry holds a value (the usual case).
                    let mut tags: Vec<u8> = Vec::new();
                    sc.object(2, |sc, k| {
                        sc.ext_members += 1;
                        if sc.ext_members > MAX_EXT_FIELDS {
                            return Err(DecodeError::TooManyExtFields {
                                max: MAX_EXT_FIELDS,
                            });
                        }
                        let v = sc.value(2)?;
                        sc.work += 1;
                        // Nulls and wrong types are recorded as entries and resolved by the sort
                        // at the end (last one wins), never by rescanning what was stored.
                        let tag = match v {
                            Scalar::Str(v) => {
                                ext.push(&k, &v);
                                TAG_VALUE
                            }
                            Scalar::Int(n) => {
                                ext.push_int(&k, n);
                                TAG_VALUE
                            }
                            Scalar::Bool(b) => {
                                ext.push(&k, if b { "true" } else { "false" });
                                TAG_VALUE
                            }
                            Scalar::Null => {
                                ext.push(&k, "");
                                TAG_NULL
                            }
                            Scalar::Float | Scalar::Composite => {
                                ext.push(&k, "");
                                TAG_INVALID
                            }
                        };
                        if tag != TAG_VALUE || !tags.is_empty() {
                            tags.resize(ext.len() - 1, TAG_VALUE);
                            tags.push(tag);
                        }
                        Ok(())
                    })?;
                    raw.ext = Some(match ext.sort_keep_last_tagged(&tags, &mut sc.work) {
                        Ok(()) => Ok(ext),
                        Err(()) => Err(EXT_VALUE_TYPE),
                    });
                } else {
                    raw.ext = match sc.value(1)? {
                        Scalar::Null => None,
                        _ => Some(Err(EXT_NOT_OBJECT)),
                    };
                }
            }
            _ => {
                sc.value(1)?;
            }
        }
        Ok(())
    })?;
    if sc.peek().is_some() {
        return Err(sc.err("trailing characters after header object"));
    }
    raw.finish()
}

/// Decodes a JSON header through `serde_json::Value`: slower, and the reference the scanner is
/// checked against (same results whenever both succeed).
///
/// # Errors
/// As [`decode_json_header`] (malformed JSON is reported at offset 0).
pub fn decode_json_header_via_value(h: &[u8]) -> Result<RemotingCommand, DecodeError> {
    use serde_json::Value;
    let v: Value = serde_json::from_slice(h).map_err(|_| DecodeError::InvalidJson {
        offset: 0,
        reason: "serde_json rejected the header",
    })?;
    let obj = v.as_object().ok_or(DecodeError::InvalidJson {
        offset: 0,
        reason: "expected '{'",
    })?;
    fn to_scalar(v: &serde_json::Value) -> Scalar<'_> {
        match v {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::String(s) => Scalar::Str(Cow::Borrowed(s)),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Scalar::Int(i as i128),
                (None, Some(u)) => Scalar::Int(u as i128),
                _ => Scalar::Float,
            },
            _ => Scalar::Composite,
        }
    }
    let mut raw = Raw::default();
    for (k, v) in obj {
        let s = Some(to_scalar(v));
        match k.as_str() {
            "code" => raw.code = s,
            "opaque" => raw.opaque = s,
            "flag" => raw.flag = s,
            "version" => raw.version = s,
            "language" => raw.language = s,
            "remark" => raw.remark = s,
            "extFields" => {
                raw.ext = match v {
                    Value::Null => None,
                    Value::Object(m) => {
                        // serde_json's map is sorted and holds the last of repeated keys.
                        let mut ext = ExtFields::with_capacity(m.len(), 0);
                        let mut bad = None;
                        for (k, v) in m {
                            match to_scalar(v) {
                                Scalar::Str(v) => ext.push(k, &v),
                                Scalar::Int(n) => ext.push_int(k, n),
                                Scalar::Bool(b) => ext.push(k, if b { "true" } else { "false" }),
                                Scalar::Null => {}
                                Scalar::Float | Scalar::Composite => bad = Some(EXT_VALUE_TYPE),
                            }
                        }
                        Some(bad.map_or(Ok(ext), Err))
                    }
                    _ => Some(Err(EXT_NOT_OBJECT)),
                }
            }
            _ => {}
        }
    }
    raw.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_formatting_agrees_with_display() {
        let mut v: Vec<i32> = vec![i32::MIN, i32::MIN + 1, i32::MAX, 0, -1, 1, 479];
        for p in 0..10 {
            let t = 10i32.pow(p);
            v.extend([t, t - 1, t + 1, -t, -t + 1, -t - 1]);
        }
        for n in v {
            let i = Int::new(n);
            assert_eq!(&i.buf[..i.len], n.to_string().as_bytes(), "{n}");
        }
    }

    /// Against the byte table, on words of bytes drawn from those around the boundaries (so
    /// borrows run through every position).
    #[test]
    fn first_escape_agrees_with_the_byte_table_on_random_bytes() {
        use crate::util::JSON_NEEDS_ESCAPE;
        let set = [
            0u8, 1, 0x1f, 0x20, 0x21, b'"', b'#', b'\\', b']', 0x7f, 0x80, 0xc3, 0xff,
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..50_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 20) as usize;
            let mut x = state;
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.rotate_left(7) ^ 0x9e37_79b9_7f4a_7c15;
                    // Mostly plain bytes, so the first escape lands anywhere.
                    if x.is_multiple_of(4) {
                        set[(x >> 8) as usize % set.len()]
                    } else {
                        b'a' + (x >> 16) as u8 % 26
                    }
                })
                .collect();
            let want = v.iter().position(|&c| JSON_NEEDS_ESCAPE[c as usize]);
            assert_eq!(first_escape(&v), want, "{v:?}");
        }
    }

    #[test]
    fn first_escape_finds_the_first_byte_needing_an_escape_at_any_position() {
        for len in 0..40 {
            for at in 0..len {
                for c in [0u8, 0x1f, b'"', b'\\'] {
                    let mut v = vec![b'a'; len];
                    for (i, x) in v.iter_mut().enumerate() {
                        *x = [b'a', 0x7f, b' ', 0xc3, b'!', b'~', b'#', b']'][i % 8];
                    }
                    v[at] = c;
                    assert_eq!(first_escape(&v), Some(at), "len {len} at {at} byte {c:#x}");
                }
            }
            assert_eq!(first_escape(&vec![0x20u8; len]), None);
            assert_eq!(first_escape(&vec![0xffu8; len]), None);
        }
    }

    #[test]
    fn escapes_control_characters_like_java() {
        let s = "a\u{1}b\u{2}\"\\\n\u{1f}é\u{8}\u{c}\r\t";
        // At every offset and length of the source, so the word copies meet every alignment and
        // the padded tail every length.
        for pad in 0..9 {
            let src = format!("{}{s}{}", "p".repeat(pad), "q".repeat(pad));
            let mut d = BytesMut::new();
            d.resize(400, 0);
            let mut w = Writer {
                dst: &mut d,
                pos: 0,
                room: 64,
                short: false,
            };
            w.str_body(src.as_bytes(), pad, pad + s.len());
            assert!(!w.short);
            let end = w.pos;
            assert_eq!(
                &d[..end],
                "a\\u0001b\\u0002\\\"\\\\\\n\\u001fé\\b\\f\\r\\t".as_bytes()
            );
        }
    }

    /// Headers of the usual shapes (the first five are taken by the fast path) and near misses.
    const SAMPLE_HEADERS: &[&str] = &[
        r#"{"code":0,"extFields":{"msgId":"7F00000100002A9F0000000000000000","queueId":"0","queueOffset":"0","MSG_REGION":"DefaultRegion","TRACE_ON":"true"},"flag":1,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}"#,
        r#"{"code":0,"flag":1,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}"#,
        r#"{"code":1,"extFields":{},"flag":1,"language":"RUST","opaque":-5,"remark":"topic not exist","serializeTypeCurrentRPC":"JSON","version":401}"#,
        r#"{"code":0,"extFields":{"b":"1","a":"2","ab":"3","aaaaaaaab":"x","aaaaaaaa":"y","aaaaaaaaa":"z","":"e"},"opaque":1,"x":"y","n":12}"#,
        r#"{"opaque":2147483,"language":"GO","code":-999999999,"remark":"","extFields":{"é":"ü","e":"€"}}"#,
        r#"{"code":310,"extFields":{"a":"g","b":"T","c":"TBW102","d":4,"e":"0","i":"UNIQ_KEY\u0001x\u0002"},"flag":0,"language":"RUST","opaque":7,"serializeTypeCurrentRPC":"JSON","version":401}"#,
        r#"{"code":0,"opaque":1,"extFields":{"a":"1","a":"2"}}"#,
        r#"{"code":0,"opaque":1,"extFields":{"a":"1","a":""}}"#,
        r#"{"code":0,"opaque":1,"extFields":{"a":null,"b":true,"c":1.5}}"#,
        r#"{"code":0,"opaque":1,"extFields":{"a":"1"},"extFields":null}"#,
        r#"{"code":2147483647,"opaque":-2147483648,"flag":1234567890,"version":0}"#,
        r#"{"code":0,"opaque":1,"remark":null,"language":12,"u":[1,{"a":2}]}"#,
        r#" {"code":0, "opaque":1} "#,
        r#"{"code":0,"opaque":1,"remark":"a\"b"}"#,
        r#"{"code":-0,"opaque":01}"#,
    ];

    /// 20,000 deterministic mutations of the sample headers (from xorshift state `seed`): one to
    /// three times, delete, duplicate or replace a byte with one of `bytes`.
    fn mutated_headers(seed: u64, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut state = seed;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut out = Vec::new();
        for _ in 0..20_000 {
            let mut b = SAMPLE_HEADERS[next(SAMPLE_HEADERS.len())]
                .as_bytes()
                .to_vec();
            for _ in 0..1 + next(3) {
                if b.is_empty() {
                    break;
                }
                let i = next(b.len());
                match next(3) {
                    0 => {
                        b.remove(i);
                    }
                    1 => b.insert(i, b[i]),
                    _ => b[i] = bytes[next(bytes.len())],
                }
            }
            out.push(b);
        }
        out
    }

    /// Whatever the fast path takes, the scanner decodes to the same command; the usual headers
    /// are taken (a stream of them must not fall to the scanner); and `decode_json_header` gives
    /// what the scanner gives, errors included.
    #[test]
    fn fast_path_agrees_with_the_scanner_on_mutated_headers() {
        let mut taken = 0;
        let mut check = |h: &[u8]| {
            let scanner = decode_json_header_counting(h).0;
            if let Some(fast) = decode_json_header_fast(h) {
                taken += 1;
                assert_eq!(
                    Ok(&fast),
                    scanner.as_ref(),
                    "{}",
                    String::from_utf8_lossy(h)
                );
            }
            assert_eq!(
                decode_json_header(h),
                scanner,
                "{}",
                String::from_utf8_lossy(h)
            );
        };
        for h in SAMPLE_HEADERS {
            check(h.as_bytes());
        }
        let mutated = mutated_headers(0x2545_f491_4f6c_dd1d, b"{}[]\":,\\ -.0129aeEnt\x01\xc3");
        for h in &mutated {
            check(h);
        }
        for h in &SAMPLE_HEADERS[..5] {
            assert!(
                decode_json_header_fast(h.as_bytes()).is_some(),
                "{h} fell back"
            );
        }
        for h in &SAMPLE_HEADERS[5..] {
            assert!(
                decode_json_header_fast(h.as_bytes()).is_none(),
                "{h} was taken"
            );
        }
        assert!(taken > 1_000, "the fast path took only {taken} headers");
    }

    /// The header as the writer wrote it before it planned lengths (byte by byte into a `Vec`),
    /// the reference for `writer_matches_the_simple_reference_on_decoded_headers`.
    fn reference_header(c: &RemotingCommand) -> Vec<u8> {
        fn json_str(out: &mut Vec<u8>, s: &str) {
            out.push(b'"');
            for &b in s.as_bytes() {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0x08 => out.extend_from_slice(b"\\b"),
                    0x0c => out.extend_from_slice(b"\\f"),
                    b if b < 0x20 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                    b => out.push(b),
                }
            }
            out.push(b'"');
        }
        let mut out = format!("{{\"code\":{}", c.code).into_bytes();
        if !c.ext_fields.is_empty() {
            out.extend_from_slice(b",\"extFields\":{");
            for (i, (k, v)) in c.ext_fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(&mut out, k);
                out.push(b':');
                json_str(&mut out, v);
            }
            out.push(b'}');
        }
        out.extend_from_slice(format!(",\"flag\":{},\"language\":", c.flag).as_bytes());
        match c.language.name() {
            Some(n) => json_str(&mut out, n),
            None => out.extend_from_slice(c.language.code().to_string().as_bytes()),
        }
        out.extend_from_slice(format!(",\"opaque\":{}", c.opaque).as_bytes());
        if let Some(r) = &c.remark {
            out.extend_from_slice(b",\"remark\":");
            json_str(&mut out, r);
        }
        out.extend_from_slice(
            format!(
                ",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":{}}}",
                c.version
            )
            .as_bytes(),
        );
        out
    }

    /// The planned writer gives the reference's bytes for every command decoded from the sample
    /// and mutated headers (escapes anywhere, stores with dropped entries, sorted indexes), and
    /// for the same commands with their ext fields pushed in store order.
    #[test]
    fn writer_matches_the_simple_reference_on_decoded_headers() {
        let mut written = 0;
        let mut out = BytesMut::new();
        let mutated = mutated_headers(0x9e37_79b9_7f4a_7c15, b"{}[]\":,\\ -.0129aeEnt\x01\n");
        for h in SAMPLE_HEADERS
            .iter()
            .map(|h| h.as_bytes())
            .chain(mutated.iter().map(|h| &h[..]))
        {
            let Ok(mut c) = decode_json_header(h) else {
                continue;
            };
            for _ in 0..2 {
                out.clear();
                encode_json_header(&c, &mut out);
                assert_eq!(
                    &out[..],
                    &reference_header(&c)[..],
                    "{}",
                    String::from_utf8_lossy(h)
                );
                written += 1;
                c.ext_fields = c.ext_fields.iter().rev().collect();
            }
        }
        assert!(written > 5_000, "only {written} headers written");
    }

    /// A header of the usual shape keeps its `extFields` text as the store (keys and values with
    /// `":"` and `","` between them): reading, changing and writing such a command gives what a
    /// command built entry by entry gives.
    #[test]
    fn ext_fields_kept_as_their_json_text_behave_like_pushed_ones() {
        let h = SAMPLE_HEADERS[0].as_bytes();
        let mut c = decode_json_header_fast(h).expect("the fast path takes the send response");
        let mut built = RemotingCommand {
            ext_fields: c.ext_fields.iter().collect(),
            ..c.clone()
        };
        assert_eq!(c, built);
        assert_eq!(c.ext_fields.get("queueOffset"), Some("0"));
        assert_eq!(c.ext_fields.get("MSG_REGION"), Some("DefaultRegion"));
        assert_eq!(c.ext_fields.get("msgId:"), None);
        let keys: Vec<&str> = c.ext_fields.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["MSG_REGION", "TRACE_ON", "msgId", "queueId", "queueOffset"]
        );
        for e in [&mut c.ext_fields, &mut built.ext_fields] {
            e.push("added", "a\"b");
            e.push_int("n", -12);
            e.insert("queueId", "7");
            assert_eq!(e.remove("TRACE_ON").as_deref(), Some("true"));
        }
        assert_eq!(c, built);
        assert_eq!(c.ext_fields.get("queueId"), Some("7"));
        assert_eq!(c.ext_fields.get("n"), Some("-12"));
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        encode_json_header(&c, &mut a);
        encode_json_header(&built, &mut b);
        assert_eq!(a, b);
        assert_eq!(&a[..], &reference_header(&c)[..]);
        c.ext_fields.sort_keep_last(); // a decoded header's fields come out sorted
        assert_eq!(decode_json_header(&a), Ok(c));
    }

    /// Escapes past the first room (64 bytes) make the writer write the header again with room
    /// for the worst case: any number of them, in the ext fields and the remark, after any prefix
    /// already in the buffer, gives the reference's bytes.
    #[test]
    fn headers_with_more_escapes_than_the_first_room_are_written_whole() {
        for n in [0, 1, 12, 13, 63, 64, 65, 200, 2_000] {
            let mut c = RemotingCommand::request(310);
            c.ext_fields.push("k\u{1}", &"\u{1}\"".repeat(n));
            c.ext_fields.push("plain", "v");
            c.remark = Some("\n".repeat(n));
            let mut out = BytesMut::from(&b"prefix"[..]);
            let len = write_json_header(&c, &mut out);
            assert_eq!(len, out.len() - 6, "{n}");
            assert_eq!(&out[..6], b"prefix");
            assert_eq!(&out[6..], &reference_header(&c)[..], "{n}");
        }
    }

    /// The writer's output for the send request is read back by the fast path... or not: its
    /// properties value carries `\u0001` escapes, so the scanner reads it; both give the command.
    #[test]
    fn written_headers_decode_to_the_command_they_came_from() {
        let mut c = RemotingCommand::request(310);
        c.opaque = 9;
        for (k, v) in [("b", "x"), ("a", "1"), ("MSG", "ü€"), ("i", "K\u{1}V\u{2}")] {
            c.ext_fields.push(k, v);
        }
        c.remark = Some("r\"".into());
        let mut out = BytesMut::new();
        encode_json_header(&c, &mut out);
        c.ext_fields.sort_keep_last();
        assert_eq!(decode_json_header(&out), Ok(c.clone()));
        c.ext_fields.remove("i");
        c.remark = Some("plain".into());
        out.clear();
        encode_json_header(&c, &mut out);
        assert_eq!(decode_json_header_fast(&out), Some(c));
        // Decoded headers whose store keeps bytes of dropped entries (repeats, nulls), and whose
        // index is sorted out of store order, are written again as they were read.
        for h in [
            &br#"{"code":0,"opaque":1,"extFields":{"z":"\"","a":"x\n","a":"y","b":null,"c":"\u0001"}}"#[..],
            br#"{"code":0,"opaque":1,"extFields":{"z":"\"","y":"\\","x":"w\t"}}"#,
            br#"{"code":0,"opaque":1,"extFields":{"z":"1","y":2,"x":true,"x":"\r"}}"#,
        ] {
            let c = decode_json_header(h).unwrap();
            out.clear();
            encode_json_header(&c, &mut out);
            assert_eq!(decode_json_header(&out), Ok(c), "{}", String::from_utf8_lossy(h));
        }
    }

    #[test]
    fn scanner_is_lenient_like_real_peers() {
        let h = br#" { "opaque" : 7, "code":0, "flag":1, "language":12, "remark":null,
            "extFields":{"queueId":3,"b":true,"z":"x","n":null,"a":"1","a":"2"}, "unknown":[{"x":[1,2.5e3]}],
            "serializeTypeCurrentRPC":"JSON" } "#;
        let c = decode_json_header(h).unwrap();
        assert_eq!(c.opaque, 7);
        assert_eq!(c.language, LanguageCode::Rust);
        assert_eq!(c.remark, None);
        let v: Vec<_> = c.ext_fields.iter().collect();
        assert_eq!(
            v,
            vec![("a", "2"), ("b", "true"), ("queueId", "3"), ("z", "x")]
        );
        assert_eq!(decode_json_header_via_value(h).unwrap(), c);
    }

    #[test]
    fn repeated_ext_keys_resolve_like_serde_json() {
        for h in [
            &br#"{"code":0,"opaque":1,"extFields":{"a":"1","a":1.5,"a":"2"}}"#[..],
            br#"{"code":0,"opaque":1,"extFields":{"a":"1","a":1.5}}"#,
            br#"{"code":0,"opaque":1,"extFields":{"a":[],"a":null,"b":"x"}}"#,
            br#"{"code":0,"opaque":1,"extFields":{"b":"1","a":"2","b":null}}"#,
            br#"{"code":0,"opaque":1,"extFields":{"a":1.5},"extFields":{"z":7}}"#,
            br#"{"code":0,"opaque":1,"x":1e400}"#,
        ] {
            let fast = decode_json_header(h);
            let slow = decode_json_header_via_value(h);
            assert_eq!(fast.is_ok(), slow.is_ok(), "{}", String::from_utf8_lossy(h));
            if let (Ok(a), Ok(b)) = (fast, slow) {
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn scanner_errors_name_the_field() {
        assert_eq!(
            decode_json_header(br#"{"opaque":1}"#),
            Err(DecodeError::MissingField("code"))
        );
        assert_eq!(
            decode_json_header(br#"{"code":1,"opaque":1,"flag":"x"}"#),
            Err(DecodeError::InvalidField {
                field: "flag",
                reason: "not an integer"
            })
        );
        assert_eq!(
            decode_json_header(br#"{"code":4294967296,"opaque":1}"#),
            Err(DecodeError::InvalidField {
                field: "code",
                reason: "integer out of i32 range"
            })
        );
        assert!(matches!(
            decode_json_header(br#"{"code":1,"opaque":1}x"#),
            Err(DecodeError::InvalidJson { .. })
        ));
        assert!(matches!(
            decode_json_header(b"{\"code\":1,\"opaque\":1,\"remark\":\"a\x01\"}"),
            Err(DecodeError::InvalidJson { .. })
        ));
    }

    #[test]
    fn float_range_check_without_parsing_agrees_with_serde_json() {
        let big = format!("1{}", "0".repeat(308));
        let bigger = format!("1{}", "0".repeat(309));
        for n in [
            "1e308",
            "1.7e308",
            "1.8e308",
            "9e307",
            "99e307",
            "0.5e309",
            "0e999999999999999999999",
            "1e-400",
            "123456789012345678901234567890",
            "1e99999999999999999999999",
            "-1E+308",
            "-2E+308",
            big.as_str(),
            bigger.as_str(),
            "0.00000000000000000000000001e310",
        ] {
            let h = format!(r#"{{"code":0,"opaque":1,"x":{n}}}"#);
            let fast = decode_json_header(h.as_bytes());
            let slow = decode_json_header_via_value(h.as_bytes());
            assert_eq!(fast.is_ok(), slow.is_ok(), "{n}: {fast:?} vs {slow:?}");
        }
    }

    #[test]
    fn short_integers_read_from_their_digits_agree_with_serde_json() {
        // Up to 18 digits take the fast path, 19 and more the general one: both sides of it, the
        // sign, "-0" (a float for serde_json) and the i32 range of the fields that must fit it.
        for n in [
            "0",
            "-0",
            "7",
            "-7",
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
        ] {
            for h in [
                format!(r#"{{"code":{n},"opaque":1}}"#),
                format!(r#"{{"code":0,"opaque":1,"extFields":{{"k":{n}}}}}"#),
            ] {
                let fast = decode_json_header(h.as_bytes());
                let slow = decode_json_header_via_value(h.as_bytes());
                assert_eq!(fast, slow, "{h}");
            }
        }
    }

    #[test]
    fn strings_end_at_the_first_quote_backslash_or_control_at_any_position() {
        for len in 0..40 {
            let plain = "v".repeat(len);
            for tail in ["", "\\n", "\\u0041", "\\\"", "\u{1}"] {
                let h = format!(r#"{{"code":0,"opaque":1,"remark":"{plain}{tail}x"}}"#);
                let fast = decode_json_header(h.as_bytes());
                let slow = decode_json_header_via_value(h.as_bytes());
                assert_eq!(fast.is_ok(), slow.is_ok(), "{h:?}");
                if let (Ok(a), Ok(b)) = (&fast, &slow) {
                    assert_eq!(a, b, "{h:?}");
                }
            }
            let unterminated = format!(r#"{{"code":0,"opaque":1,"remark":"{plain}"#);
            assert!(decode_json_header(unterminated.as_bytes()).is_err());
        }
    }
}
