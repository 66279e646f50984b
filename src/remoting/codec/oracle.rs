//! Semantic oracles shared by the fuzz targets (`fuzz/`) and the corpus replay test
//! (`tests/corpus_replay.rs`). Each takes arbitrary bytes and panics when a codec property is
//! violated; they never panic on bad input as such.
//!
//! The decoder is lenient (key order, whitespace, `null`, numeric `language`, numbers as ext
//! values), so the bytes need not survive a round trip; the command must: whenever
//! `decode(bytes)` gives `c`, `decode(encode(c))` gives `c` again.

use super::header_binary::{
    decode_binary_header, decode_binary_header_counting, encode_binary_header,
};
use super::header_json::{
    decode_json_header, decode_json_header_counting, decode_json_header_fast,
    decode_json_header_via_value, encode_json_header,
};
use super::{decode_frame, encode_frame, DecodeError, FrameLimits};
use bytes::BytesMut;

/// Limits for re-encoding: a re-encoded header may be longer than the one decoded (numbers
/// become strings, `serializeTypeCurrentRPC` is added), so the frame limit is not applied there.
const UNLIMITED: FrameLimits = FrameLimits {
    max_frame_len: usize::MAX,
};

/// Frame decoding: every frame decoded from `data` round-trips; partial input is "need more" and
/// consumes nothing; a prefix of the input never decodes differently from the whole.
///
/// # Panics
/// When a property is violated.
pub fn check_frame(data: &[u8]) {
    let lim = FrameLimits::default();
    let mut buf = BytesMut::from(data);
    let first = decode_frame(&mut buf, &lim);
    // A prefix decodes to "need more", or to exactly what the whole input gives.
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    let mut pre = BytesMut::from(&data[..cut]);
    match decode_frame(&mut pre, &lim) {
        Ok(None) => assert_eq!(pre.len(), cut, "incomplete input was consumed"),
        other => assert_eq!(other, first, "a prefix of {cut} bytes decoded differently"),
    }
    let mut next = first;
    for _ in 0..64 {
        match next {
            Ok(Some(c)) => {
                let mut out = BytesMut::new();
                encode_frame(&c, &mut out, &UNLIMITED).expect("a decoded command must encode");
                let again =
                    decode_frame(&mut out, &UNLIMITED).expect("re-encoded frame must decode");
                assert_eq!(
                    again.as_ref(),
                    Some(&c),
                    "frame round trip changed the command"
                );
                assert!(out.is_empty(), "re-encoded frame left bytes over");
            }
            Ok(None) | Err(_) => return,
        }
        let before = buf.len();
        next = decode_frame(&mut buf, &lim);
        if matches!(next, Ok(None)) {
            assert_eq!(buf.len(), before, "incomplete input was consumed");
        }
    }
}

/// Serde nesting that the scanner refuses (its limit is lower than serde_json's 128).
fn brackets(data: &[u8]) -> usize {
    data.iter().filter(|&&b| b == b'[' || b == b'{').count()
}

/// The JSON header: the fast path agrees with the scanner whenever it takes a header; the scanner
/// agrees with the `serde_json::Value` reference decoder (both Ok →
/// equal; scanner Ok → Value Ok; Value Ok → scanner Ok unless the input has more than 100 `[`/`{`),
/// and a decoded header round-trips through the writer.
///
/// # Panics
/// When a property is violated.
pub fn check_json_header(data: &[u8]) {
    let scanner = decode_json_header_counting(data).0;
    if let Some(f) = decode_json_header_fast(data) {
        assert_eq!(Ok(&f), scanner.as_ref(), "fast path and scanner disagree");
    }
    let fast = decode_json_header(data);
    assert_eq!(fast, scanner, "decode_json_header and the scanner disagree");
    // In a frame (where a header of the usual shape keeps its ext fields in the frame's bytes),
    // the same command, the body after it.
    if data.len() <= 0x00FF_FFFF {
        let mut frame = BytesMut::with_capacity(data.len() + 10);
        frame.extend_from_slice(&((data.len() + 6) as u32).to_be_bytes());
        frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        frame.extend_from_slice(data);
        frame.extend_from_slice(b"{}");
        let framed = decode_frame(&mut frame, &UNLIMITED).map(|c| {
            c.map(|mut c| {
                assert_eq!(&c.body[..], b"{}", "the body after a JSON header");
                c.body = Default::default();
                c
            })
        });
        assert_eq!(
            framed,
            fast.clone().map(Some),
            "framed header decoded differently"
        );
    }
    let reference = decode_json_header_via_value(data);
    match (&fast, &reference) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "scanner and Value decoder disagree"),
        (Ok(a), Err(e)) => panic!("scanner accepted what serde_json rejects ({e}): {a:?}"),
        // The reference has no cap on ext fields.
        (Err(DecodeError::TooManyExtFields { .. }), Ok(_)) => {}
        (Err(e), Ok(b)) => {
            assert!(
                brackets(data) > 100,
                "scanner rejected ({e}) what serde_json accepts: {b:?}"
            )
        }
        (Err(_), Err(_)) => {}
    }
    if let Ok(c) = fast {
        let mut out = BytesMut::new();
        encode_json_header(&c, &mut out);
        let again = decode_json_header(&out).expect("written header must decode");
        assert_eq!(again, c, "JSON header round trip changed the command");
        assert_eq!(
            decode_json_header_via_value(&out).as_ref(),
            Ok(&c),
            "serde_json reads the written header differently"
        );
    }
}

/// The binary header: a decoded header round-trips through the encoder, and re-encoding never
/// grows it (zero-length entries, which Java reads as null, are dropped).
///
/// # Panics
/// When a property is violated.
pub fn check_binary_header(data: &[u8]) {
    if let Ok(c) = decode_binary_header(data) {
        let mut out = BytesMut::new();
        encode_binary_header(&c, &mut out).expect("a decoded binary header must encode");
        let again = decode_binary_header(&out).expect("written binary header must decode");
        assert_eq!(again, c, "binary header round trip changed the command");
        assert!(out.len() <= data.len(), "re-encoding grew the header");
    }
}

/// Most decoder work units per input byte a header may cost (plus [`WORK_SLACK`]). The decoders
/// count one unit per byte scanned, per ext entry stored and per key comparison of the final sort;
/// with at most [`MAX_EXT_FIELDS`](super::MAX_EXT_FIELDS) entries of at least 6 bytes each, a
/// linear decoder stays below 8 units per byte. A quadratic path (rescanning stored entries per
/// member) blows far past it on a few kilobytes.
pub const MAX_WORK_PER_BYTE: u64 = 8;

/// Work allowed on top of [`MAX_WORK_PER_BYTE`] per byte, for tiny inputs (fixed costs).
pub const WORK_SLACK: u64 = 64;

/// Header decoding work: decoding `data` as a JSON header and as a binary header each costs at
/// most [`MAX_WORK_PER_BYTE`] work units per input byte (plus [`WORK_SLACK`]), accepted or not, and
/// never more ext fields than the cap.
///
/// # Panics
/// When a decoder does more work than that (a quadratic path) or exceeds the ext-field cap.
pub fn check_header_work(data: &[u8]) {
    let bound = MAX_WORK_PER_BYTE * data.len() as u64 + WORK_SLACK;
    let (json, work) = decode_json_header_counting(data);
    assert!(
        work <= bound,
        "JSON header decode did {work} work units for {} bytes",
        data.len()
    );
    let (bin, work) = decode_binary_header_counting(data);
    assert!(
        work <= bound,
        "binary header decode did {work} work units for {} bytes",
        data.len()
    );
    for c in [json, bin].into_iter().flatten() {
        assert!(
            c.ext_fields.len() <= super::MAX_EXT_FIELDS,
            "decoded {} ext fields",
            c.ext_fields.len()
        );
    }
}
