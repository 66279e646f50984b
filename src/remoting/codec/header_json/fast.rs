//! The decoder's fast path ([`Fast`]): a header of the usual shape (no whitespace, no escapes,
//! short integers, up to [`FAST_MAX_EXT`] distinct string-valued ext fields) read in one pass;
//! anything else gives `None`, and [`super::decode_json_header`] gives it to the scanner.

use crate::remoting::codes::LanguageCode;
use crate::remoting::command::{ExtFields, RemotingCommand};
use crate::util::json_escape_flags as flagged;
use crate::util::json_first_escape as first_escape;

/// Most ext fields the fast path takes; a header with more goes to the scanner (the fast path
/// keeps its entries sorted by insertion, quadratic in their number).
const FAST_MAX_EXT: usize = 32;

/// The one-pass reader of the usual header shape: no whitespace, string literals without escapes,
/// integers of at most 9 digits (so within i32), `extFields` an object of string values with
/// distinct keys, other members strings or integers. Anything else gives `None` at once and the
/// header goes to the [`Scanner`](super::Scanner), which accepts everything this accepts and
/// gives the same command (checked by `fast_path_agrees_with_the_scanner_on_mutated_headers` and
/// the fuzz oracle).
pub(super) struct Fast<'a> {
    pub(super) s: &'a [u8],
    /// `s` as text (it is valid UTF-8): string contents are sliced out of it.
    pub(super) t: &'a str,
    pub(super) p: usize,
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

    /// The header into `cmd`, a [`blank_command`](super::blank_command) (its ext fields filled in
    /// place: the command is not moved between the functions of a decode). `None` leaves `cmd` in
    /// any state.
    #[inline(always)]
    pub(super) fn header(&mut self, cmd: &mut RemotingCommand) -> Option<()> {
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
