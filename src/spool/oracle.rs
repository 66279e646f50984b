//! Semantic oracle for the `spool_record` fuzz target (`fuzz/`): record, ack-entry and `seq.hw`
//! decoding, and the segment scan recovery runs. Takes arbitrary bytes and panics when a property
//! is violated; it never panics on bad input as such.

use super::config::MAX_RECORD_LEN;
use super::record::{
    encode_ack, encode_record, encode_seq_file, parse_ack_log, parse_record, parse_seq_file,
    Parsed, RecordHead, ACK_ENTRY_LEN, ACK_LOG_MAGIC, RECORD_HEADER_LEN,
};
use super::scan::scan_segment;

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(a)
}

/// Checks every spool decoder on `data`:
///
/// - `parse_record`: a valid record claims at most the length cap, lies within `data`, and
///   re-encodes to exactly its bytes; every shorter prefix of it is `Incomplete`.
/// - `parse_ack_log`: the valid prefix re-encodes to exactly its bytes, holds at most
///   `data.len() / 20` entries, each with `to > from`.
/// - `parse_seq_file`: a decoded mark re-encodes to exactly `data`.
/// - encode then decode gives back what was encoded (record, ack entry, mark), for values taken
///   from `data`.
/// - the segment scan of recovery, on `data` as a segment file: sequence numbers strictly
///   increase and stay within offset / 28 of the segment's first, so the bitmap a segment needs
///   is bounded by its length.
///
/// # Panics
/// When a property is violated.
pub fn check_spool_bytes(data: &[u8]) {
    // Records, under a length cap chosen by the input.
    let cap = match data.get(4).map_or(0, |b| b % 4) {
        0 => MAX_RECORD_LEN,
        1 => 0,
        2 => 16,
        _ => 4096,
    };
    match parse_record(data, cap) {
        Parsed::Valid(h) => {
            assert!(h.len <= cap && h.total_len() <= data.len());
            let mut again = Vec::new();
            encode_record(
                &mut again,
                h.seq,
                h.time_ms,
                &data[RECORD_HEADER_LEN..h.total_len()],
            );
            assert_eq!(again, &data[..h.total_len()]);
            let cut = data[data.len() - 1] as usize % h.total_len();
            assert_eq!(parse_record(&data[..cut], cap), Parsed::Incomplete);
        }
        Parsed::Incomplete => {
            assert!(data.len() < RECORD_HEADER_LEN + cap.min(u32::MAX as usize));
        }
        Parsed::Invalid(_) => {}
    }

    // Ack log.
    if let Some((ranges, valid)) = parse_ack_log(data) {
        assert!(valid <= data.len());
        assert!(ranges.len() <= data.len() / ACK_ENTRY_LEN);
        let mut again = ACK_LOG_MAGIC.to_vec();
        for &(a, b) in &ranges {
            assert!(b > a);
            encode_ack(&mut again, a, b);
        }
        assert_eq!(again, &data[..valid]);
    }

    // seq.hw.
    if let Ok(m) = parse_seq_file(data) {
        assert_eq!(encode_seq_file(m), data);
    }

    // Round trips of values taken from the input.
    let (seq, time) = (be_u64(data), be_u64(data.get(8..).unwrap_or(&[])));
    let payload = data.get(16..).unwrap_or(&[]);
    let mut rec = Vec::new();
    encode_record(&mut rec, seq, time, payload);
    assert_eq!(
        parse_record(&rec, MAX_RECORD_LEN),
        Parsed::Valid(RecordHead {
            seq,
            time_ms: time,
            len: payload.len()
        })
    );
    if time > seq {
        let mut log = ACK_LOG_MAGIC.to_vec();
        encode_ack(&mut log, seq, time);
        assert_eq!(parse_ack_log(&log), Some((vec![(seq, time)], log.len())));
    }
    let mark = super::record::SeqMark {
        reserved: seq,
        clean: time & 1 == 1,
        durable: time & 2 == 2,
    };
    assert_eq!(parse_seq_file(&encode_seq_file(mark)), Ok(mark));

    // The recovery scan, with the segment named by the input's first byte.
    let first = u64::from(data.first().copied().unwrap_or(0));
    let scan = scan_segment(data, 0, first, first, super::MAX_SEQ);
    assert!(scan.records.len() <= data.len() / RECORD_HEADER_LEN);
    let mut prev = None;
    for &(s, _) in &scan.records {
        assert!(prev.is_none_or(|p| s > p) && s >= first);
        assert!(s - first <= (data.len() / RECORD_HEADER_LEN) as u64);
        prev = Some(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_holds_on_valid_and_damaged_images() {
        let mut seg = Vec::new();
        for i in 0..5u64 {
            encode_record(&mut seg, 3 + i, 1_700_000_000_000 + i, &[i as u8; 40]);
        }
        let mut log = ACK_LOG_MAGIC.to_vec();
        encode_ack(&mut log, 0, 10);
        encode_ack(&mut log, 12, 13);
        let hw = encode_seq_file(super::super::record::SeqMark {
            reserved: 99,
            clean: false,
            durable: true,
        });
        for img in [
            seg.clone(),
            log.clone(),
            hw.to_vec(),
            Vec::new(),
            vec![0x52],
        ] {
            check_spool_bytes(&img);
            for cut in 0..img.len() {
                check_spool_bytes(&img[..cut]);
            }
            for i in 0..img.len() {
                let mut m = img.clone();
                m[i] ^= 0x41;
                check_spool_bytes(&m);
            }
        }
    }
}
