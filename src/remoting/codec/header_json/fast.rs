//! The decoder's fast path ([`Fast`]): a header of the usual shape (ASCII, no whitespace, no
//! escapes, short integers, up to [`FAST_MAX_EXT`] distinct string-valued ext fields) read in one
//! pass; anything else gives `None`, and [`super::decode_json_header`] gives it to the scanner.

use crate::remoting::codes::LanguageCode;
use crate::remoting::command::{cmp_key, Entry, ExtFields, RemotingCommand};
use crate::util::json_ascii_end_flags as flagged;
use crate::util::json_first_ascii_end as first_end;
use std::cmp::Ordering;

/// Most ext fields the fast path takes; a header with more goes to the scanner (the fast path
/// keeps its entries sorted by insertion, quadratic in their number).
const FAST_MAX_EXT: usize = 32;

/// The one-pass reader of the usual header shape: ASCII only, no whitespace, string literals
/// without escapes, integers of at most 9 digits (so within i32), `extFields` an object of string values with
/// distinct keys, other members strings or integers. Anything else gives `None` at once and the
/// header goes to the [`Scanner`](super::Scanner), which accepts everything this accepts and
/// gives the same command (checked by `fast_path_agrees_with_the_scanner_on_mutated_headers` and
/// the fuzz oracle).
///
/// As every byte it accepts is ASCII (string contents are looked at a word at a time and a byte
/// from 0x80 ends them like a quote would), the header is not checked as UTF-8 first: only the
/// texts it keeps are (the ext fields' store, the language and the remark), when it keeps them.
pub(super) struct Fast<'a> {
    pub(super) s: &'a [u8],
    pub(super) p: usize,
}

/// A member of the header, as [`Fast::member`] tells it by its key.
enum Member {
    Code,
    ExtFields,
    Flag,
    Language,
    Opaque,
    Remark,
    Version,
    /// Any other key: its value is skipped.
    Other,
}

/// Whether `rest` starts with `lit` (a constant: compared with a few loads, no `memcmp` call).
#[inline(always)]
fn is<const N: usize>(rest: &[u8], lit: &[u8; N]) -> bool {
    rest.first_chunk::<N>() == Some(lit)
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

    /// A string literal of plain ASCII without escapes; its content's range. Looks a word at a
    /// time for the closing quote (or a byte that sends the header to the scanner).
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
                    end += first_end(&self.s[end..])?;
                    break;
                }
            }
        }
        (self.s[end] == b'"').then_some(())?;
        self.p = end + 1;
        Some((start, end))
    }

    /// The text of `s[start..end]` (ASCII, as the fast path accepts nothing else).
    pub(super) fn text(&self, (start, end): (usize, usize)) -> Option<&'a str> {
        std::str::from_utf8(self.s.get(start..end)?).ok()
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

    /// A member's key and the colon after it. The keys of the usual header are told by their
    /// first letter and compared whole, with their quotes and the colon (a key is that member
    /// exactly when they match); any other key is read as a string.
    #[inline(always)]
    fn member(&mut self) -> Option<Member> {
        let rest = self.s.get(self.p..)?;
        let (m, n) = match rest.get(1)? {
            b'c' if is(rest, b"\"code\":") => (Member::Code, 7),
            b'e' if is(rest, b"\"extFields\":") => (Member::ExtFields, 12),
            b'f' if is(rest, b"\"flag\":") => (Member::Flag, 7),
            b'l' if is(rest, b"\"language\":") => (Member::Language, 11),
            b'o' if is(rest, b"\"opaque\":") => (Member::Opaque, 9),
            b'r' if is(rest, b"\"remark\":") => (Member::Remark, 9),
            b's' if is(rest, b"\"serializeTypeCurrentRPC\":") => (Member::Other, 26),
            b'v' if is(rest, b"\"version\":") => (Member::Version, 10),
            _ => (Member::Other, 0),
        };
        if n != 0 {
            self.p += n;
            return Some(m);
        }
        self.str()?;
        self.byte(b':')?;
        Some(Member::Other)
    }

    /// An ext field's key (its content's range) and the colon after it. The keys of a send
    /// response (msgId, queueId, queueOffset, MSG_REGION, TRACE_ON, transactionId) are compared
    /// whole, with their quotes and the colon; any other key is read as a string.
    #[inline(always)]
    fn ext_key(&mut self) -> Option<(usize, usize)> {
        let rest = self.s.get(self.p..)?;
        let n = match rest.get(1)? {
            b'm' if is(rest, b"\"msgId\":") => 5,
            b'q' if is(rest, b"\"queueId\":") => 7,
            b'q' if is(rest, b"\"queueOffset\":") => 11,
            b'M' if is(rest, b"\"MSG_REGION\":") => 10,
            b'T' if is(rest, b"\"TRACE_ON\":") => 8,
            b't' if is(rest, b"\"transactionId\":") => 13,
            _ => 0,
        };
        let start = self.p + 1;
        if n != 0 {
            self.p = start + n + 2;
            return Some((start, start + n));
        }
        let key = self.str()?;
        self.byte(b':')?;
        Some(key)
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

    /// The `extFields` object, sorted by key as the scanner gives it: its index, and the range
    /// of its text from the first key to the last value (`None` for `{}`), which the caller
    /// makes the store as it is (see [`ExtFields::set_json_index`]): each value starts three
    /// bytes (`":"`) after its key's end, as the store's gap says. The index is sorted here, by
    /// insertion into an array on the stack (the usual response has 5 entries); a repeated key
    /// sends the header to the scanner, which resolves it (last wins).
    fn ext(&mut self, ext: &mut ExtFields) -> Option<Option<(usize, usize)>> {
        self.byte(b'{')?;
        if self.next() == Some(b'}') {
            self.p += 1;
            return Some(None);
        }
        let start = self.p + 1; // the first key's first byte, after its quote
        let text = self.s.get(start..)?;
        let at = |i: usize| (i - start) as u32;
        let mut entries: [Entry; FAST_MAX_EXT] = [(0, 0, 0); FAST_MAX_EXT];
        let mut n = 0;
        let mut end;
        loop {
            let key = self.ext_key()?;
            let value = self.str()?;
            end = value.1;
            if n == FAST_MAX_EXT {
                return None;
            }
            let k = &self.s[key.0..key.1];
            let mut i = n;
            while i > 0 {
                let e = entries[i - 1];
                match cmp_key(&text[e.0 as usize..e.1 as usize], k) {
                    Ordering::Greater => {
                        entries[i] = e;
                        i -= 1;
                    }
                    Ordering::Equal => return None,
                    Ordering::Less => break,
                }
            }
            entries[i] = (at(key.0), at(key.1), at(value.1));
            n += 1;
            if !self.more()? {
                break;
            }
        }
        ext.set_json_index(&entries[..n]);
        Some(Some((start, end)))
    }

    /// The header into `cmd`, a [`blank_command`](super::blank_command) (its ext fields filled in
    /// place: the command is not moved between the functions of a decode), but for the ext
    /// fields' store: the range of `s` the caller makes it, if there are ext fields (see
    /// [`Fast::ext`]; its text is ASCII). `None` leaves `cmd` in any state.
    #[inline(always)]
    pub(super) fn header(&mut self, cmd: &mut RemotingCommand) -> Option<Option<(usize, usize)>> {
        let (mut code, mut opaque, mut flag, mut version) = (None, None, 0, 0);
        let mut language = LanguageCode::Java;
        let mut remark = None;
        let mut ext = false;
        let mut ext_text = None;
        self.byte(b'{')?;
        loop {
            match self.member()? {
                Member::Code => code = Some(self.int()?),
                Member::Opaque => opaque = Some(self.int()?),
                Member::Flag => flag = self.int()?,
                Member::Version => version = self.int()?,
                Member::Language => {
                    let v = self.str()?;
                    language = LanguageCode::from_name_bytes(&self.s[v.0..v.1]);
                }
                Member::Remark => {
                    // rocketmq-rust writes `"remark":null` (absent, as the scanner reads it).
                    remark = if is(self.s.get(self.p..)?, b"null") {
                        self.p += 4;
                        None
                    } else {
                        Some(self.str()?)
                    };
                }
                Member::ExtFields if !ext => {
                    ext_text = self.ext(&mut cmd.ext_fields)?;
                    ext = true;
                }
                Member::ExtFields => return None,
                Member::Other => match self.next()? {
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
        Some(ext_text)
    }
}
