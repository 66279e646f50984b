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
//! This file holds the API, the scanner and the `Value` reference decoder; the writer is in
//! `header_json/writer.rs`, the fast path in `header_json/fast.rs`, and the tests in
//! `header_json/tests.rs`, where the parts are checked against each other (the fast path must
//! give what the scanner gives, and the scanner accept exactly what the reference accepts, see
//! also `codec/oracle.rs`; the writer must give what a simple reference writer gives).

use super::error::DecodeError;
use super::MAX_EXT_FIELDS;
use crate::remoting::codes::{LanguageCode, SerializeType};
use crate::remoting::command::{ExtFields, RemotingCommand, TAG_INVALID, TAG_NULL, TAG_VALUE};
use crate::util::json_first_escape as first_escape;
use bytes::{Bytes, BytesMut};
use fast::Fast;
use std::borrow::Cow;
use writer::write_json_header;
pub(crate) use writer::{header_bound, header_reserve, write_json_header_bounded};

/// Deepest nesting the scanner skips inside unknown members (serde_json's own limit is 128).
pub const MAX_JSON_DEPTH: usize = 100;

/// Bytes reserved up front for the decoded ext fields: 4 KiB, more than any real header's fields
/// (a SEND_MESSAGE_V2 header is about 400 bytes); larger ones grow the store as they go, so a
/// header announcing many `extFields` objects does not reserve its whole remaining length each time.
const EXT_INITIAL_BYTES: usize = 4096;

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
    let mut cmd = blank_command();
    let mut fast = Fast { s: h, p: 0 };
    if let Some(r) = fast.header(&mut cmd)? {
        cmd.ext_fields.set_json_text(fast.text(r)?);
    }
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
    if let Some(r) = decode_json_header_in_frame(h, &mut cmd)? {
        cmd.ext_fields
            .set_json_text(std::str::from_utf8(&h[r.0..r.1]).unwrap_or_default());
    }
    Ok(cmd)
}

/// [`decode_json_header`] into `cmd`, a [`blank_command`] (the frame decoder's, so the command
/// is built where it is returned from), but for the ext fields' store when the fast path took the
/// header: then the range of `h` (ASCII) to make the store, which the frame decoder shares with
/// the frame ([`ExtFields::set_json_shared`]) instead of copying it. On error `cmd` is left in
/// any state.
#[inline(always)]
pub(crate) fn decode_json_header_in_frame(
    h: &[u8],
    cmd: &mut RemotingCommand,
) -> Result<Option<(usize, usize)>, DecodeError> {
    if let Some(r) = (Fast { s: h, p: 0 }).header(cmd) {
        return Ok(r);
    }
    *cmd = decode_scanner(h, std::str::from_utf8(h).ok()).0?;
    Ok(None)
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

mod fast;
mod writer;

#[cfg(test)]
mod tests;
