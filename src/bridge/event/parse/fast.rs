//! The hand-written path of the line parser for the usual line ([`fast_raw_line`]): one flat
//! object of strings, small integers, booleans and nulls, read without serde_json into the same
//! [`RawLine`] the serde path gives; any other line is left to serde_json.

use super::{Field, RawLine, Scalar};
use crate::bridge::event::EventKind;
use std::borrow::Cow;

/// The usual line without serde_json: one flat object whose keys have no escape, whose keys and
/// string values have no control character and values only valid escapes (a surrogate only in a
/// pair), whose numbers are non-negative integers of at most 19 digits without a leading zero,
/// and whose other values are `true`, `false` or `null`, with JSON whitespace anywhere between.
/// Fills `raw` (a default one) with exactly the [`RawLine`] the serde path gives for such a line;
/// `None` for any other line (which the serde path then parses, or refuses with its own error),
/// `raw` then holding part of it.
pub(super) fn fast_raw_line<'a>(line: &'a str, raw: &mut RawLine<'a>) -> Option<()> {
    let b = line.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            // A field's name is compared where it stands; any other key is scanned. A key with
            // an escape (no field name has one) is left to serde_json.
            let (field, end) = match known_key(&b[i + 1..]) {
                Some((f, len)) => (Some(f), i + 1 + len),
                None => {
                    let end = string_end(b, i + 1)?;
                    // Both ends are next to an ASCII quote, so they are char boundaries.
                    (Field::of(&line[i + 1..end]), end)
                }
            };
            let key = i + 1..end;
            i = skip_ws(b, end + 1);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(b, i + 1);
            let value = match *b.get(i)? {
                b'"' => {
                    let (text, next) = string_at(line, i)?;
                    i = next;
                    let kind = match field {
                        Some(Field::Event) => EventKind::from_hook_name(&text),
                        _ => None,
                    };
                    kind.map_or(Scalar::Str(text), Scalar::Kind)
                }
                b'0'..=b'9' => {
                    let start = i;
                    let mut n = 0u64;
                    while let Some(&d @ b'0'..=b'9') = b.get(i) {
                        // 19 digits always fit a u64; serde words longer ones.
                        if i - start == 19 {
                            return None;
                        }
                        n = n * 10 + u64::from(d - b'0');
                        i += 1;
                    }
                    if (i - start > 1 && b[start] == b'0')
                        || matches!(b.get(i), Some(b'.' | b'e' | b'E'))
                    {
                        return None;
                    }
                    Scalar::UInt(n)
                }
                b't' if b[i..].starts_with(b"true") => {
                    i += 4;
                    Scalar::Bool(true)
                }
                b'f' if b[i..].starts_with(b"false") => {
                    i += 5;
                    Scalar::Bool(false)
                }
                b'n' if b[i..].starts_with(b"null") => {
                    i += 4;
                    Scalar::Null
                }
                _ => return None,
            };
            match field {
                Some(f) => raw.set(f, value),
                None => raw.unknown.push(line[key].to_owned()),
            }
            i = skip_ws(b, i);
            match b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b'}' => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(b, i) == b.len()).then_some(())
}

/// The field whose name, then the closing quote, starts `b` (what follows a key's opening quote),
/// and the name's length: the first byte picks the one or two candidates, compared as
/// fixed-length arrays. `None` leaves the key to the general path.
#[inline(always)]
fn known_key(b: &[u8]) -> Option<(Field, usize)> {
    /// `b` starts with `want`.
    #[inline(always)]
    fn starts<const N: usize>(b: &[u8], want: &[u8; N]) -> bool {
        b.get(..N).is_some_and(|head| super::super::is(head, want))
    }
    let (f, len) = match *b.first()? {
        b'e' if starts(b, b"event\"") => (Field::Event, 5),
        b'c' if starts(b, b"client_id\"") => (Field::ClientId, 9),
        b'u' if starts(b, b"username\"") => (Field::Username, 8),
        b't' if starts(b, b"topic\"") => (Field::Topic, 5),
        b't' if starts(b, b"ts\"") => (Field::Ts, 2),
        b'p' if starts(b, b"payload\"") => (Field::Payload, 7),
        b'p' if starts(b, b"payload_base64\"") => (Field::PayloadBase64, 14),
        b'q' if starts(b, b"qos\"") => (Field::Qos, 3),
        b'r' if starts(b, b"retain\"") => (Field::Retain, 6),
        b'r' if starts(b, b"reason\"") => (Field::Reason, 6),
        b'f' if starts(b, b"from\"") => (Field::From, 4),
        _ => return None,
    };
    Some((f, len))
}

/// The index of the first byte at or after `i` that is not JSON whitespace.
#[inline(always)]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The string literal whose opening quote is at `i`: its text (borrowed from the line when it has
/// no escape) and the index after its closing quote; `None` for a control character, an escape
/// that serde_json would refuse, or the end of the line (serde_json then words the error).
#[inline(always)]
fn string_at(line: &str, i: usize) -> Option<(Cow<'_, str>, usize)> {
    let start = i + 1;
    match string_end(line.as_bytes(), start) {
        // Both ends are next to an ASCII quote, so they are char boundaries.
        Some(end) => Some((Cow::Borrowed(&line[start..end]), end + 1)),
        None => unescape(line, start).map(|(s, next)| (Cow::Owned(s), next)),
    }
}

/// The index of the closing quote of a string literal without escapes whose text starts at
/// `start`; `None` when a backslash or a control character comes first, or the line ends. (The
/// usual string's path: one test of the flagged byte.)
#[inline(always)]
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let m = crate::util::json_escape_flags(u64::from_le_bytes(word));
        if m != 0 {
            let at = i + (m.trailing_zeros() / 8) as usize;
            return (b[at] == b'"').then_some(at);
        }
        i += 8;
    }
    loop {
        match *b.get(i)? {
            b'"' => return Some(i),
            b'\\' | 0..=0x1f => return None,
            _ => i += 1,
        }
    }
}

/// From `start` in a string literal, the index of its closing quote (`false`) or of its first
/// backslash (`true`); `None` when a control character comes first or the line ends. Eight bytes
/// at a time ([`crate::util::json_escape_flags`]: the lowest flagged byte is a true one), the
/// last few one by one.
fn scan_string(b: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut i = start;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let m = crate::util::json_escape_flags(u64::from_le_bytes(word));
        if m != 0 {
            let at = i + (m.trailing_zeros() / 8) as usize;
            return match b[at] {
                b'"' => Some((at, false)),
                b'\\' => Some((at, true)),
                _ => None,
            };
        }
        i += 8;
    }
    loop {
        match *b.get(i)? {
            b'"' => return Some((i, false)),
            b'\\' => return Some((i, true)),
            0..=0x1f => return None,
            _ => i += 1,
        }
    }
}

/// The text of a string literal from `start` (after its opening quote), its escapes
/// decoded as serde_json decodes them (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\uXXXX` in
/// either case, a UTF-16 surrogate pair as one char), and the index after its closing quote.
/// `None` for anything else (an unknown escape, a short or bad hex escape, a lone surrogate, a
/// control character, the end of the line): serde_json refuses those, with its own words.
#[cold]
fn unescape(line: &str, start: usize) -> Option<(String, usize)> {
    let b = line.as_bytes();
    let (mut at, true) = scan_string(b, start)? else {
        // `string_end` gave up on this string: it has a backslash before its end.
        return None;
    };
    let mut out = String::with_capacity(at - start + 16);
    let mut run = start;
    loop {
        // `run` follows a quote or an escape and `at` is a backslash: char boundaries.
        out.push_str(&line[run..at]);
        let c = *b.get(at + 1)?;
        at += 2;
        let decoded = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(b, at)?;
                at += 4;
                if (0xD800..0xDC00).contains(&hi) {
                    if b.get(at..at + 2) != Some(b"\\u") {
                        return None;
                    }
                    let lo = hex4(b, at + 2)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    at += 6;
                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                } else {
                    // A lone trailing surrogate is no char.
                    char::from_u32(hi)?
                }
            }
            _ => return None,
        };
        out.push(decoded);
        run = at;
        let (next, escape) = scan_string(b, at)?;
        at = next;
        if !escape {
            out.push_str(&line[run..at]);
            return Some((out, at + 1));
        }
    }
}

/// The four hex digits at `at` (either case).
fn hex4(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)?
        .iter()
        .try_fold(0u32, |n, &c| Some(n * 16 + char::from(c).to_digit(16)?))
}
