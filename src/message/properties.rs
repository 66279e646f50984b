//! [`Properties`]: the `name 0x01 value 0x02` string (`MessageDecoder.java`
//! `messageProperties2String` / `string2messageProperties`; protocol reference §6.1), and the
//! well-known property names.

use super::MessageError;

/// Business keys, several joined by one space.
pub const PROPERTY_KEYS: &str = "KEYS";
/// The message tag.
pub const PROPERTY_TAGS: &str = "TAGS";
/// `"true"`/`"false"`: wait for store before answering (Java `PROPERTY_WAIT_STORE_MSG_OK`).
pub const PROPERTY_WAIT: &str = "WAIT";
/// Java's name for [`PROPERTY_WAIT`].
pub const PROPERTY_WAIT_STORE_MSG_OK: &str = PROPERTY_WAIT;
/// Client-generated unique id (§6.2).
pub const PROPERTY_UNIQ_KEY: &str = "UNIQ_KEY";
/// Delay level 1..18.
pub const PROPERTY_DELAY: &str = "DELAY";
/// 5.x timer: absolute delivery time in ms.
pub const PROPERTY_TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
/// 5.x timer: relative delay in seconds.
pub const PROPERTY_TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
/// 5.x timer: relative delay in ms.
pub const PROPERTY_TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
/// `"true"` on transactional half messages.
pub const PROPERTY_TRAN_MSG: &str = "TRAN_MSG";
/// Producer group of a transactional message.
pub const PROPERTY_PGROUP: &str = "PGROUP";
/// Transaction id.
pub const PROPERTY_TRANSACTION_ID: &str = "__transactionId__";
/// Retry internals: retry topic.
pub const PROPERTY_RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Retry/delay internals: the real topic.
pub const PROPERTY_REAL_TOPIC: &str = "REAL_TOPIC";
/// Retry/delay internals: the real queue id.
pub const PROPERTY_REAL_QID: &str = "REAL_QID";
/// Retry internals: reconsume count.
pub const PROPERTY_RECONSUME_TIME: &str = "RECONSUME_TIME";
/// Retry internals: maximum reconsume count.
pub const PROPERTY_MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
/// Retry internals: the original message id.
pub const PROPERTY_ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// Request-reply: message type.
pub const PROPERTY_MSG_TYPE: &str = "MSG_TYPE";
/// Request-reply: correlation id.
pub const PROPERTY_CORRELATION_ID: &str = "CORRELATION_ID";
/// Request-reply: the client to reply to.
pub const PROPERTY_REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// Request-reply: time to live.
pub const PROPERTY_TTL: &str = "TTL";
/// Ordered-message sharding key.
pub const PROPERTY_SHARDING_KEY: &str = "__SHARDINGKEY";
/// Namespace.
pub const PROPERTY_INSTANCE_ID: &str = "INSTANCE_ID";
/// Cluster name, added by the broker.
pub const PROPERTY_CLUSTER: &str = "CLUSTER";
/// Added by the consumer client after a pull.
pub const PROPERTY_MIN_OFFSET: &str = "MIN_OFFSET";
/// Added by the consumer client after a pull.
pub const PROPERTY_MAX_OFFSET: &str = "MAX_OFFSET";
/// CRC appended by 5.x brokers with CRC-in-properties enabled.
pub const PROPERTY_CRC32: &str = "__CRC32#";
/// Region, in send-response ext fields.
pub const PROPERTY_MSG_REGION: &str = "MSG_REGION";
/// Trace switch, in send-response ext fields.
pub const PROPERTY_TRACE_ON: &str = "TRACE_ON";

/// Separates a property name from its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Ends each property entry.
pub const PROPERTY_SEPARATOR: char = '\u{2}';
/// Largest encoded properties string, in bytes (stored as an i16).
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;

/// Ordered string properties (insertion order, set replaces in place).
///
/// Stored as their wire form, `name 0x01 value 0x02` per entry in one string: a message's
/// properties cost one allocation instead of two per entry, and encoding is a copy. An entry that
/// could not be stored that way (an empty name or value, or one containing 0x01/0x02) is not kept;
/// its name is remembered and [`Properties::encode`] refuses it.
#[derive(Clone, Debug, Default)]
pub struct Properties {
    buf: String,
    /// The first invalid name given to `set` (see the type docs).
    invalid: Option<String>,
    /// Whether an entry named `UNIQ_KEY` was ever appended: the producer looks that name up for
    /// every message it sends, and most messages have none, so the search is skipped then.
    maybe_uniq_key: bool,
}

impl PartialEq for Properties {
    fn eq(&self, other: &Properties) -> bool {
        self.buf == other.buf && self.invalid == other.invalid
    }
}
impl Eq for Properties {}

fn valid_part(s: &str) -> bool {
    !s.is_empty() && !has_separator(s)
}

/// True when `s` contains 0x01 or 0x02 (either separator). Both are ASCII, so no byte of a
/// multi-byte character can match. Eight bytes at a time, the last (or only) bytes read again as
/// one overlapping word (`util::any_word`), no byte loop (issue #22's profile: a byte
/// loop cost about 66 instructions for a client id and a topic, `str::contains` with a
/// `[char; 2]` pattern, which decodes every character, several times that).
pub fn has_separator(s: &str) -> bool {
    use crate::util::{zero_bytes, ONES};
    // The zero-byte test on the word xor each separator: any flag means a separator.
    crate::util::any_word(s.as_bytes(), b' ', |w| {
        zero_bytes(w ^ ONES) | zero_bytes(w ^ (ONES * 2)) != 0
    })
}

impl Properties {
    /// No properties.
    pub fn new() -> Properties {
        Properties::default()
    }

    /// No properties, with room for `bytes` of encoded entries.
    pub fn with_capacity(bytes: usize) -> Properties {
        Properties {
            buf: String::with_capacity(bytes),
            invalid: None,
            maybe_uniq_key: false,
        }
    }

    /// No properties, in `buf`'s room (what it held is cleared): for a host that reuses the buffers
    /// of sent messages ([`Properties::into_buffer`]).
    pub fn with_buffer(mut buf: String) -> Properties {
        buf.clear();
        Properties {
            buf,
            invalid: None,
            maybe_uniq_key: false,
        }
    }

    /// The buffer of the encoded entries, for [`Properties::with_buffer`].
    pub fn into_buffer(self) -> String {
        self.buf
    }

    /// Byte ranges of each entry: (start of name, end of name, end of value); the value starts
    /// after the 0x01 at the end of the name, the entry ends after the 0x02 at the end of the value.
    fn spans(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let b = &self.buf;
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= b.len() {
                return None;
            }
            let start = pos;
            // `str::find` with a char searches with memchr, not byte by byte.
            let sep = start + b[start..].find(NAME_VALUE_SEPARATOR)?;
            let end = sep + 1 + b[sep + 1..].find(PROPERTY_SEPARATOR)?;
            pos = end + 1;
            Some((start, sep, end))
        })
    }

    fn find(&self, name: &str) -> Option<(usize, usize, usize)> {
        if !self.maybe_uniq_key && name == PROPERTY_UNIQ_KEY {
            return None;
        }
        let b = self.buf.as_bytes();
        let n = name.len();
        let first = *name.as_bytes().first()?;
        let mut start = 0;
        while start < b.len() {
            // Compare the name in place (its first byte first: most entries differ there, and a
            // slice comparison is a call); only then look for the separators.
            let hit = b.len() > start + n
                && b[start] == first
                && b[start + n] == NAME_VALUE_SEPARATOR as u8
                && &b[start..start + n] == name.as_bytes();
            let from = if hit { start + n + 1 } else { start };
            // Entries are short (tens of bytes): a word-at-a-time scan beats both the char
            // searcher's set-up and a byte loop (issue #22's profiles: 2% of the dispatcher in
            // `str::find`, then about 900 instructions a message in the byte loop).
            let end = crate::util::find_byte(b, from, PROPERTY_SEPARATOR as u8)?;
            if hit {
                return Some((start, start + n, end));
            }
            start = end + 1;
        }
        None
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).map(|(_, sep, end)| &self.buf[sep + 1..end])
    }

    /// The `UNIQ_KEY` property: `get(PROPERTY_UNIQ_KEY)`, answered without a call (nor a name
    /// comparison) for properties that never held the name, as most messages' do (the producer
    /// asks for every message it sends; issue #22's profile).
    #[inline]
    pub(crate) fn unique_key(&self) -> Option<&str> {
        if !self.maybe_uniq_key {
            return None;
        }
        self.get(PROPERTY_UNIQ_KEY)
    }

    /// Sets `name` to `value`, replacing an existing value in place (keeping its position).
    /// An invalid name or value (empty, or containing 0x01/0x02) is refused by
    /// [`Properties::encode`].
    pub fn set(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        if self.refuse_invalid(name, value) {
            return;
        }
        self.put(name, value);
    }

    /// True (and the name remembered for `encode`) when `name` or `value` cannot be stored.
    fn refuse_invalid(&mut self, name: &str, value: &str) -> bool {
        let bad = !valid_part(name) || !valid_part(value);
        if bad {
            self.invalid.get_or_insert_with(|| name.to_owned());
        }
        bad
    }

    /// Appends `name 0x01 value 0x02`. Always inlined: a constant name (the bridge's own
    /// properties) is then copied without a call, and the `UNIQ_KEY` test and the separators'
    /// UTF-8 encoding fold away.
    #[inline(always)]
    fn append(&mut self, name: &str, value: &str) {
        self.maybe_uniq_key |= name == PROPERTY_UNIQ_KEY;
        self.buf.reserve(name.len() + value.len() + 2);
        self.buf.push_str(name);
        self.buf.push(NAME_VALUE_SEPARATOR);
        self.buf.push_str(value);
        self.buf.push(PROPERTY_SEPARATOR);
    }

    /// `set` for a valid name and a value without 0x02 (a value with 0x01 marks the properties
    /// unencodable).
    fn put(&mut self, name: &str, value: &str) {
        if value.contains(NAME_VALUE_SEPARATOR) {
            self.invalid.get_or_insert_with(|| name.to_owned());
        }
        match self.find(name) {
            Some((_, sep, end)) => self.buf.replace_range(sep + 1..end, value),
            None => self.append(name, value),
        }
    }

    /// Appends an entry without looking for one with the same name: for a caller that knows there
    /// is none (building a message's properties from scratch). Validity as with
    /// [`Properties::set`].
    pub fn push(&mut self, name: &str, value: &str) {
        debug_assert!(
            self.get(name).is_none(),
            "push of an existing property {name}"
        );
        if !self.refuse_invalid(name, value) {
            self.append(name, value);
        }
    }

    /// [`Properties::push`] for a caller that has checked the entry already: `name` a constant
    /// valid name, `value` non-empty and without either separator (checked in debug builds only).
    #[inline]
    pub(crate) fn push_valid(&mut self, name: &'static str, value: &str) {
        debug_assert!(valid_part(name) && valid_part(value), "{name:?}={value:?}");
        debug_assert!(
            self.get(name).is_none(),
            "push of an existing property {name}"
        );
        self.append(name, value);
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let (start, sep, end) = self.find(name)?;
        let value = self.buf[sep + 1..end].to_owned();
        self.buf.replace_range(start..end + 1, "");
        Some(value)
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.spans()
            .map(|(start, sep, end)| (&self.buf[start..sep], &self.buf[sep + 1..end]))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.buf.bytes().filter(|&c| c == 2).count()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Length in bytes of the encoded string.
    pub fn encoded_len(&self) -> usize {
        self.buf.len()
    }

    /// Appends `name 0x01 value 0x02` per entry to `out`, keeping the trailing 0x02 (≥ 5.2 style).
    ///
    /// # Errors
    /// [`MessageError::InvalidProperty`] if a name or value given to `set` was empty or contained
    /// 0x01/0x02 (such an entry could not be read back), [`MessageError::PropertiesTooLong`] over
    /// 32767 bytes. `out` is left unchanged on error.
    pub fn encode(&self, out: &mut String) -> Result<(), MessageError> {
        if let Some(name) = &self.invalid {
            return Err(MessageError::InvalidProperty { name: name.clone() });
        }
        let len = self.encoded_len();
        if len > MAX_PROPERTIES_LEN {
            return Err(MessageError::PropertiesTooLong {
                len,
                max: MAX_PROPERTIES_LEN,
            });
        }
        out.push_str(&self.buf);
        Ok(())
    }

    /// The encoded string (see [`Properties::encode`]).
    ///
    /// # Errors
    /// As [`Properties::encode`].
    pub fn to_encoded(&self) -> Result<String, MessageError> {
        let mut s = String::new();
        self.encode(&mut s)?;
        Ok(s)
    }

    /// Lenient parser, as Java's: split on 0x02; a chunk is kept only if it has a 0x01 strictly
    /// inside (non-empty name and value; the value runs from the first 0x01 to the chunk end);
    /// the last duplicate wins (at the position of the first). Never fails.
    pub fn decode(s: &str) -> Properties {
        let mut p = Properties::new();
        for chunk in s.split(PROPERTY_SEPARATOR) {
            if chunk.len() < 3 {
                continue;
            }
            if let Some(i) = chunk.find(NAME_VALUE_SEPARATOR) {
                if i > 0 && i < chunk.len() - 1 {
                    // The value may hold 0x01 here (it runs to the chunk end, as in Java); such
                    // a value reads back but cannot be encoded again.
                    p.put(&chunk[..i], &chunk[i + 1..]);
                }
            }
        }
        p
    }
}

/// `KEYS` split on spaces, empty pieces dropped.
pub(crate) fn split_keys(keys: Option<&str>) -> Vec<&str> {
    keys.map(|k| k.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod position_tests {
    use crate::util::find_byte as position_from;

    #[test]
    fn uniq_key_is_found_however_it_came_in_and_equality_ignores_the_shortcut() {
        use super::{Properties, PROPERTY_UNIQ_KEY};
        let mut p = Properties::new();
        p.push("KEYS", "k1");
        assert_eq!(p.get(PROPERTY_UNIQ_KEY), None);
        p.set(PROPERTY_UNIQ_KEY, "A1");
        assert_eq!(p.get(PROPERTY_UNIQ_KEY), Some("A1"));
        let decoded = Properties::decode("KEYS\u{1}k1\u{2}UNIQ_KEY\u{1}A1\u{2}");
        assert_eq!(decoded.get(PROPERTY_UNIQ_KEY), Some("A1"));
        assert_eq!(decoded, p);
        assert_eq!(p.remove(PROPERTY_UNIQ_KEY).as_deref(), Some("A1"));
        assert_eq!(p.get(PROPERTY_UNIQ_KEY), None);
        let mut q = Properties::new();
        q.push("KEYS", "k1");
        assert_eq!(p, q, "a removed UNIQ_KEY leaves equal properties");
        let mut v = Properties::new();
        v.push_valid(PROPERTY_UNIQ_KEY, "B2");
        assert_eq!(v.get(PROPERTY_UNIQ_KEY), Some("B2"));
    }

    #[test]
    fn has_separator_finds_what_a_byte_scan_finds() {
        for len in 0..24usize {
            for at in 0..len {
                for c in 0u8..=4 {
                    let mut v: Vec<u8> = (0..len).map(|i| [b'a', 3, 0x7f][i % 3]).collect();
                    v[at] = c;
                    let s = std::str::from_utf8(&v).unwrap();
                    let want = v.iter().any(|&b| b == 1 || b == 2);
                    assert_eq!(super::has_separator(s), want, "{v:?}");
                }
            }
        }
        assert!(!super::has_separator(
            "é ü 中文 plain text, longer than a word"
        ));
    }

    /// Two placements of any byte 0 to 3 among fills whose bytes sit next to the separators
    /// (NUL, 0x03, and the continuation bytes 0x81 and 0x82 of U+0081 and U+0102), lengths 0 to 40.
    #[test]
    fn has_separator_agrees_with_a_byte_scan_among_neighbouring_bytes() {
        let fills = ["a", "\u{0}", "\u{3}", "\u{81}", "\u{102}", "\u{7f}"];
        for fill in fills {
            for len in 0..40usize {
                let base: Vec<u8> = fill.as_bytes().iter().copied().cycle().take(len).collect();
                // Only ASCII placed over a boundary of the fill keeps it UTF-8.
                let slots: Vec<usize> = (0..len)
                    .filter(|&i| i % fill.len() == 0 && (i + fill.len() <= len || fill.len() == 1))
                    .collect();
                for &a in &slots {
                    for &b in &slots {
                        for (x, y) in [(0u8, 3u8), (1, 3), (3, 2), (1, 2), (2, 0)] {
                            let mut v = base.clone();
                            for (at, c) in [(a, x), (b, y)] {
                                v[at..at + fill.len()].fill(b' ');
                                v[at] = c;
                            }
                            let Ok(s) = std::str::from_utf8(&v) else {
                                continue;
                            };
                            let want = v.iter().any(|&c| c == 1 || c == 2);
                            assert_eq!(super::has_separator(s), want, "{v:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_word_scan_finds_what_a_byte_scan_finds() {
        // Every start and every placement of one or two needles in buffers of 0 to 40 bytes,
        // with bytes just above and below the needle around them (the zero-byte test's borrows).
        for len in 0..40usize {
            for a in 0..=len {
                for b in a..=len {
                    let mut buf: Vec<u8> = (0..len).map(|i| [1u8, 3, 0x82, 0xff][i % 4]).collect();
                    if a < len {
                        buf[a] = 2;
                    }
                    if b < len {
                        buf[b] = 2;
                    }
                    for from in 0..=len {
                        let want = buf[from..].iter().position(|&c| c == 2).map(|p| p + from);
                        assert_eq!(position_from(&buf, from, 2), want, "{buf:?} from {from}");
                    }
                }
            }
        }
        assert_eq!(position_from(b"ab", 5, 2), None);
    }
}
