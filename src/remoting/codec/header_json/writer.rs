//! The JSON header writer ([`write_json_header`]): the header of a command in the strict form the
//! module docs of [`super`] describe, written straight into the frame buffer ([`Writer`]), each
//! string copied and checked for escapes a word at a time; and the bound the frame encoder
//! reserves for it first ([`header_bound`], [`header_reserve`]).

use crate::remoting::command::RemotingCommand;
use crate::util::json_escape_flags as flagged;
use bytes::BytesMut;

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
pub(super) fn write_json_header(cmd: &RemotingCommand, dst: &mut BytesMut) -> usize {
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
}
