//! [`RemotingCommand`], the unit every frame carries (`RemotingCommand.java`).

use super::codes::{LanguageCode, SerializeType, DEFAULT_VERSION};
use bytes::Bytes;
use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

/// Flag bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 0x1;
/// Flag bit 1: the request is oneway (the peer sends no response).
pub const FLAG_ONEWAY: i32 = 0x2;

/// Most bytes of a peer's remark kept in an error value: 512. Real remarks are one line (Java
/// exception messages, "topic not exist"); a frame may carry 16 MiB of it, which errors that are
/// logged, counted and kept must not copy.
pub const MAX_REMARK_KEPT: usize = 512;

/// Tag of a decoded ext entry holding a value (see [`ExtFields::sort_keep_last_tagged`]).
pub(crate) const TAG_VALUE: u8 = 0;
/// Tag of a decoded ext entry standing for a `null` (it hides the earlier values of its key).
pub(crate) const TAG_NULL: u8 = 1;
/// Tag of a decoded ext entry standing for a value of a wrong type (an error unless repeated).
pub(crate) const TAG_INVALID: u8 = 2;

/// The ext fields ("custom header") of a command: string keys to string values, in insertion order.
///
/// All keys and values live in one string buffer with an index beside it. The index of up to
/// eight entries (a response's usual header) lives inside the value. A frame's JSON header of
/// the usual shape is decoded without a copy: its `extFields` text, still in the frame's bytes,
/// becomes the buffer as it is (shared, not copied), so a send response's ext fields cost no
/// allocation; other headers cost one for the buffer (two past eight entries), not two per
/// field.
#[derive(Clone, Default)]
pub struct ExtFields {
    buf: Store,
    idx: Index,
    /// Bytes in `buf` between each key and its value: 0, or [`JSON_GAP`] when `buf` is the text
    /// of a JSON `extFields` object (`":"` between a key and its value).
    gap: u8,
}

/// Where an [`ExtFields`]' keys and values live.
#[derive(Clone)]
enum Store {
    /// Written by [`ExtFields::push`] and its kin, or copied from a header's text.
    Owned(String),
    /// A decoded JSON header's `extFields` text, a slice of the frame it came in (which it keeps
    /// alive, as a body does). ASCII only: the frame decoder's fast path takes nothing else. It
    /// becomes [`Store::Owned`] on the first change.
    Shared(Bytes),
}

impl Default for Store {
    fn default() -> Store {
        Store::Owned(String::new())
    }
}

impl Store {
    fn bytes(&self) -> &[u8] {
        match self {
            Store::Owned(s) => s.as_bytes(),
            Store::Shared(b) => b,
        }
    }

    /// The text of `a..b`: a key or a value, whose ends the index keeps at character boundaries
    /// (and a shared store is ASCII), so the empty text for a range that is not one is never seen.
    #[inline(always)]
    fn text(&self, a: usize, b: usize) -> &str {
        match self {
            Store::Owned(s) => s.get(a..b).unwrap_or_default(),
            Store::Shared(t) => t
                .get(a..b)
                .and_then(|t| std::str::from_utf8(t).ok())
                .unwrap_or_default(),
        }
    }

    /// The store as a string to append to (a shared one copied first).
    fn owned(&mut self) -> &mut String {
        match self {
            Store::Owned(s) => s,
            Store::Shared(b) => {
                // ASCII: copied as it is.
                *self = Store::Owned(String::from_utf8_lossy(b).into_owned());
                self.owned()
            }
        }
    }
}

/// One index entry: (key start, key end, value end); the value starts `gap` bytes after the key's
/// end.
pub(crate) type Entry = (u32, u32, u32);

/// What [`ExtFields::raw_parts`] gives: the store, the index into it and the gap.
pub(crate) type RawParts<'a> = (&'a [u8], &'a [Entry], usize);

/// The gap of a store that is a JSON object's text: the three bytes `":"` between each key and
/// its value.
const JSON_GAP: u8 = 3;

/// Entries an [`ExtFields`] index holds without an allocation of its own: 8, enough for the send
/// response's header (msgId, queueId, queueOffset, transactionId, MSG_REGION, TRACE_ON, and a
/// spare or two) at 96 bytes inside the value.
const INLINE_ENTRIES: usize = 8;

/// The index of an [`ExtFields`]: inline up to [`INLINE_ENTRIES`] entries, then on the heap.
#[derive(Clone)]
enum Index {
    Inline {
        len: u8,
        items: [Entry; INLINE_ENTRIES],
    },
    Heap(Vec<Entry>),
}

impl Default for Index {
    fn default() -> Index {
        Index::Inline {
            len: 0,
            items: [(0, 0, 0); INLINE_ENTRIES],
        }
    }
}

impl Index {
    fn with_capacity(n: usize) -> Index {
        if n <= INLINE_ENTRIES {
            Index::default()
        } else {
            Index::Heap(Vec::with_capacity(n))
        }
    }

    fn push(&mut self, e: Entry) {
        match self {
            Index::Inline { len, items } if (*len as usize) < INLINE_ENTRIES => {
                items[*len as usize] = e;
                *len += 1;
            }
            Index::Inline { items, .. } => {
                let mut v = Vec::with_capacity(2 * INLINE_ENTRIES);
                v.extend_from_slice(items);
                v.push(e);
                *self = Index::Heap(v);
            }
            Index::Heap(v) => v.push(e),
        }
    }

    /// Keeps the first `n` entries.
    fn truncate(&mut self, n: usize) {
        match self {
            Index::Inline { len, .. } => {
                if n < *len as usize {
                    *len = n as u8;
                }
            }
            Index::Heap(v) => v.truncate(n),
        }
    }

    /// An index of `v`'s entries.
    fn from_slice(v: &[Entry]) -> Index {
        match v.len() {
            n if n <= INLINE_ENTRIES => {
                let mut items = [(0, 0, 0); INLINE_ENTRIES];
                items[..n].copy_from_slice(v);
                Index::Inline {
                    len: n as u8,
                    items,
                }
            }
            _ => Index::Heap(v.to_vec()),
        }
    }

    /// Replaces the entries with `v`'s.
    fn set(&mut self, v: Vec<Entry>) {
        *self = if v.len() <= INLINE_ENTRIES {
            let mut i = Index::default();
            for e in v {
                i.push(e);
            }
            i
        } else {
            Index::Heap(v)
        };
    }
}

impl std::ops::Deref for Index {
    type Target = [Entry];
    fn deref(&self) -> &[Entry] {
        match self {
            Index::Inline { len, items } => &items[..*len as usize],
            Index::Heap(v) => v,
        }
    }
}

impl std::ops::DerefMut for Index {
    fn deref_mut(&mut self) -> &mut [Entry] {
        match self {
            Index::Inline { len, items } => &mut items[..*len as usize],
            Index::Heap(v) => v,
        }
    }
}

/// Byte order of two keys; most keys differ in their first byte, decided here without a call to
/// `memcmp`.
#[inline(always)]
pub(crate) fn cmp_key(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match (a.first(), b.first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

/// Appends the gap's bytes after a key (nothing in a store that is not a JSON object's text).
#[inline(always)]
fn push_gap(buf: &mut String, gap: u8) {
    if gap != 0 {
        buf.push_str(&"\":\""[..gap as usize]);
    }
}

impl ExtFields {
    /// An empty set.
    pub fn new() -> ExtFields {
        ExtFields::default()
    }

    /// An empty set with room for `fields` entries totalling `bytes` bytes.
    pub fn with_capacity(fields: usize, bytes: usize) -> ExtFields {
        ExtFields {
            buf: Store::Owned(String::with_capacity(bytes)),
            idx: Index::with_capacity(fields),
            gap: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.idx.len()
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.idx.is_empty()
    }

    /// The value of `key` (the last one if a binary header repeated it).
    pub fn get(&self, key: &str) -> Option<&str> {
        let store = self.buf.bytes();
        let at = |a: u32, b: u32| store.get(a as usize..b as usize);
        let &(_, ke, ve) = self
            .idx
            .iter()
            .rev()
            .find(|&&(ks, ke, _)| at(ks, ke) == Some(key.as_bytes()))?;
        Some(self.buf.text(ke as usize + self.gap as usize, ve as usize))
    }

    /// Appends an entry without looking for an existing one with the same key.
    pub fn push(&mut self, key: &str, value: &str) {
        self.push_with(key, |buf| buf.push_str(value));
    }

    /// Appends an entry whose value `write` appends to the store (a shared store copied first).
    #[inline(always)]
    fn push_with(&mut self, key: &str, write: impl FnOnce(&mut String)) {
        let gap = self.gap;
        let buf = self.buf.owned();
        let ks = buf.len() as u32;
        buf.push_str(key);
        let ke = buf.len() as u32;
        push_gap(buf, gap);
        write(buf);
        self.idx.push((ks, ke, buf.len() as u32));
    }

    /// For a JSON decoder that keeps an `extFields` object's text whole as the store: makes
    /// `entries` the index, each `(key start, key end, value end)` in that text, its value
    /// starting 3 bytes (`":"`) after its key's end. The decoder gives the entries ordered by key
    /// (byte order, see [`cmp_key`]) with distinct keys, as the scanner's sort leaves them.
    ///
    /// The text is made the store apart, by [`ExtFields::set_json_text`] (a copy) or
    /// [`ExtFields::set_json_shared`] (the frame's bytes).
    pub(crate) fn set_json_index(&mut self, entries: &[Entry]) {
        self.gap = JSON_GAP;
        self.idx = Index::from_slice(entries);
    }

    /// Makes a copy of `text` the store of the entries set by [`ExtFields::set_json_index`].
    pub(crate) fn set_json_text(&mut self, text: &str) {
        self.buf = Store::Owned(text.to_owned());
    }

    /// Makes `text` (ASCII, a slice of the frame the entries set by
    /// [`ExtFields::set_json_index`] were read from) the store, without a copy.
    pub(crate) fn set_json_shared(&mut self, text: Bytes) {
        self.buf = Store::Shared(text);
    }

    /// Sets `key` to `value`, replacing an existing entry in place (keeping its position).
    pub fn insert(&mut self, key: &str, value: &str) {
        if self.get(key).is_none() {
            self.push(key, value);
            return;
        }
        let old = std::mem::take(self);
        let mut replaced = false;
        for (k, v) in old.iter() {
            if k == key {
                if !replaced {
                    self.push(k, value);
                    replaced = true;
                }
            } else {
                self.push(k, v);
            }
        }
    }

    /// Removes every entry with `key`, returning the last value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let found = self.get(key).map(str::to_owned)?;
        let old = std::mem::take(self);
        for (k, v) in old.iter().filter(|(k, _)| *k != key) {
            self.push(k, v);
        }
        Some(found)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &str)> + ExactSizeIterator + '_ {
        let gap = self.gap as usize;
        self.idx.iter().map(move |&(ks, ke, ve)| {
            (
                self.buf.text(ks as usize, ke as usize),
                self.buf.text(ke as usize + gap, ve as usize),
            )
        })
    }

    /// The store of keys and values, the index into it, `(key start, key end, value end)` per
    /// entry, and the gap: each value starts that many bytes after its key's end. For writers,
    /// which need bytes only.
    pub(crate) fn raw_parts(&self) -> RawParts<'_> {
        (self.buf.bytes(), &self.idx, self.gap as usize)
    }

    /// The entries sorted by key, with only the last of repeated keys kept: the map a Java peer sees.
    pub fn to_sorted_map(&self) -> std::collections::BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Appends an entry whose value is the decimal text of `value`.
    pub(crate) fn push_int(&mut self, key: &str, value: i128) {
        use std::fmt::Write;
        self.push_with(key, |buf| {
            let _ = write!(buf, "{value}");
        });
    }

    /// Orders the entries by key (byte order, as a `BTreeMap<String, _>`), keeping only the last
    /// entry of each repeated key. The key and value bytes stay where they are; only the index moves.
    #[cfg(test)]
    pub(crate) fn sort_keep_last(&mut self) {
        let _ = self.sort_keep_last_tagged(&[], &mut 0);
    }

    /// [`ExtFields::sort_keep_last`] for a decoder that also recorded entries standing for a `null`
    /// or an invalid value: `tags[i]` is the tag of entry `i` (missing tags are [`TAG_VALUE`]).
    /// After the sort, a kept (last) entry tagged [`TAG_NULL`] is removed; one tagged
    /// [`TAG_INVALID`] makes the result `Err`. Adds the key comparisons made to `work`. O(n log n)
    /// whatever the repeats, where removing each null at once would be O(n) per null.
    pub(crate) fn sort_keep_last_tagged(&mut self, tags: &[u8], work: &mut u64) -> Result<(), ()> {
        let ExtFields { buf, idx, .. } = self;
        let buf = buf.bytes();
        let key = |e: &(u32, u32, u32)| &buf[e.0 as usize..e.1 as usize];
        *work += idx.len() as u64;
        if tags.is_empty() {
            // Every entry holds a value (the usual case): sort the index in place, no allocation.
            if idx.windows(2).all(|w| key(&w[0]) < key(&w[1])) {
                return Ok(());
            }
            let mut comparisons = 0u64;
            idx.sort_by(|a, b| {
                comparisons += 1;
                key(a).cmp(key(b))
            }); // stable: repeated keys keep their order
            *work += comparisons;
            // Keep the last written of each run of one key.
            let mut kept = 0;
            for r in 0..idx.len() {
                if r + 1 == idx.len() || key(&idx[r]) != key(&idx[r + 1]) {
                    idx[kept] = idx[r];
                    kept += 1;
                }
            }
            idx.truncate(kept);
            return Ok(());
        }
        let mut all: Vec<((u32, u32, u32), u8)> = idx
            .iter()
            .enumerate()
            .map(|(i, &e)| (e, tags.get(i).copied().unwrap_or(TAG_VALUE)))
            .collect();
        let mut comparisons = 0u64;
        all.sort_by(|a, b| {
            comparisons += 1;
            key(&a.0).cmp(key(&b.0))
        }); // stable: repeated keys keep their order
        *work += comparisons;
        all.reverse();
        all.dedup_by(|later, earlier| key(&later.0) == key(&earlier.0)); // keeps the last written
        all.reverse();
        if all.iter().any(|e| e.1 == TAG_INVALID) {
            return Err(());
        }
        idx.set(
            all.into_iter()
                .filter(|e| e.1 == TAG_VALUE)
                .map(|e| e.0)
                .collect(),
        );
        Ok(())
    }

    /// Whether the store is a slice of a frame (for tests of the frame decoder).
    #[cfg(test)]
    pub(crate) fn is_shared(&self) -> bool {
        matches!(self.buf, Store::Shared(_))
    }

    /// Bytes of the store: the keys and values (and, for a decoded JSON header of the usual shape,
    /// the punctuation between them: the store is its `extFields` text).
    pub fn byte_len(&self) -> usize {
        self.buf.bytes().len()
    }
}

impl PartialEq for ExtFields {
    fn eq(&self, other: &ExtFields) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}
impl Eq for ExtFields {}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> ExtFields {
        let mut e = ExtFields::new();
        for (k, v) in iter {
            e.push(k.as_ref(), v.as_ref());
        }
        e
    }
}

/// One RocketMQ remoting command: a request or a response.
#[derive(Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    /// Request code, or response code when [`FLAG_RESPONSE`] is set.
    pub code: i32,
    /// The sender's language.
    pub language: LanguageCode,
    /// The sender's version ordinal (`MQVersion`).
    pub version: i32,
    /// Request id; a response echoes its request's.
    pub opaque: i32,
    /// Bit 0 response, bit 1 oneway.
    pub flag: i32,
    /// Human-readable text, mostly on error responses.
    pub remark: Option<String>,
    /// The custom header.
    pub ext_fields: ExtFields,
    /// The body bytes after the header.
    pub body: Bytes,
    /// How the header is (to be) serialized; set from the frame on decode.
    pub serialize_type: SerializeType,
}

static NEXT_OPAQUE: AtomicI32 = AtomicI32::new(1);

/// A fresh process-wide request id (wraps around).
pub fn next_opaque() -> i32 {
    NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed)
}

impl RemotingCommand {
    /// A request with the given code, language RUST, version 401, JSON header and a fresh opaque.
    pub fn request(code: i32) -> RemotingCommand {
        RemotingCommand {
            code,
            language: LanguageCode::Rust,
            version: DEFAULT_VERSION,
            opaque: next_opaque(),
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            body: Bytes::new(),
            serialize_type: SerializeType::Json,
        }
    }

    /// A response to `request` with `code` and an optional remark.
    pub fn response_to(
        request: &RemotingCommand,
        code: i32,
        remark: Option<String>,
    ) -> RemotingCommand {
        RemotingCommand {
            code,
            language: LanguageCode::Rust,
            version: DEFAULT_VERSION,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            remark,
            ext_fields: ExtFields::new(),
            body: Bytes::new(),
            serialize_type: request.serialize_type,
        }
    }

    /// Sets an ext field (builder style).
    pub fn with_ext(mut self, key: &str, value: &str) -> RemotingCommand {
        self.ext_fields.insert(key, value);
        self
    }

    /// Sets the body (builder style).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> RemotingCommand {
        self.body = body.into();
        self
    }

    /// True for a response.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// True for a oneway request.
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// An ext field's value.
    pub fn ext(&self, key: &str) -> Option<&str> {
        self.ext_fields.get(key)
    }

    /// The remark for an error value: empty when absent, cut to at most [`MAX_REMARK_KEPT`] bytes
    /// (at a character boundary, with " …(N bytes)" appended when cut).
    pub fn remark_clipped(&self) -> String {
        let r = self.remark.as_deref().unwrap_or("");
        if r.len() <= MAX_REMARK_KEPT {
            return r.to_owned();
        }
        let mut end = MAX_REMARK_KEPT;
        while !r.is_char_boundary(end) {
            end -= 1;
        }
        format!("{} …({} bytes)", &r[..end], r.len())
    }
}

impl fmt::Debug for RemotingCommand {
    // Never prints the body (it may be an MQTT payload); its length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemotingCommand")
            .field("code", &self.code)
            .field("language", &self.language)
            .field("version", &self.version)
            .field("opaque", &self.opaque)
            .field("flag", &self.flag)
            .field("remark", &self.remark)
            .field("ext_fields", &self.ext_fields)
            .field("body_len", &self.body.len())
            .field("serialize_type", &self.serialize_type)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_fields_insert_replaces_in_place_and_remove_drops_all() {
        let mut e = ExtFields::new();
        e.push("a", "1");
        e.push("b", "2");
        e.push("a", "3");
        assert_eq!(e.get("a"), Some("3"));
        e.insert("b", "x");
        assert_eq!(
            e.iter().collect::<Vec<_>>(),
            vec![("a", "1"), ("b", "x"), ("a", "3")]
        );
        assert_eq!(e.remove("a").as_deref(), Some("3"));
        assert_eq!(e.iter().collect::<Vec<_>>(), vec![("b", "x")]);
        assert_eq!(e.remove("zz"), None);
    }

    #[test]
    fn sort_keep_last_orders_by_key_and_keeps_the_last_repeat() {
        let mut e = ExtFields::new();
        for (k, v) in [("b", "1"), ("a", "2"), ("b", "3"), ("B", "4"), ("a", "5")] {
            e.push(k, v);
        }
        e.push_int("n", -12);
        e.sort_keep_last();
        assert_eq!(
            e.iter().collect::<Vec<_>>(),
            vec![("B", "4"), ("a", "5"), ("b", "3"), ("n", "-12")]
        );
    }

    /// The index moves from inline to the heap past INLINE_ENTRIES entries and back when a sort
    /// leaves fewer; order, values and repeats behave the same on either side of the line.
    #[test]
    fn index_spills_past_the_inline_entries_and_sorts_the_same_on_both_sides() {
        for n in [
            0,
            1,
            INLINE_ENTRIES - 1,
            INLINE_ENTRIES,
            INLINE_ENTRIES + 1,
            40,
        ] {
            let mut e = ExtFields::with_capacity(n.min(INLINE_ENTRIES), 0);
            // Keys repeat every 5 entries, written in descending order.
            let want: Vec<(String, String)> = (0..n)
                .map(|i| (format!("k{}", 4 - i % 5), i.to_string()))
                .collect();
            for (k, v) in &want {
                e.push(k, v);
            }
            assert_eq!(e.len(), n);
            let got: Vec<(String, String)> = e
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(got, want, "{n} entries in insertion order");
            assert_eq!(
                e.get("k0"),
                want.iter()
                    .rev()
                    .find(|w| w.0 == "k0")
                    .map(|w| w.1.as_str())
            );
            let mut sorted = e.clone();
            sorted.sort_keep_last();
            let mut expect: std::collections::BTreeMap<String, String> = Default::default();
            for (k, v) in &want {
                expect.insert(k.clone(), v.clone());
            }
            let got: Vec<(String, String)> = sorted
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(
                got,
                expect.into_iter().collect::<Vec<_>>(),
                "{n} entries sorted"
            );
            let mut tagged = e.clone();
            let tags: Vec<u8> = (0..n)
                .map(|i| if i % 7 == 3 { TAG_NULL } else { TAG_VALUE })
                .collect();
            assert!(tagged.sort_keep_last_tagged(&tags, &mut 0).is_ok());
            assert!(tagged.len() <= sorted.len());
        }
    }
}
