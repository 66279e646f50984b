//! The on-disk record and ack-entry layouts (pure byte functions, no IO).
//!
//! A record:
//!
//! ```text
//!  offset  size  field
//!  0       4     magic   0x52 0x42 0x52 0x31 ("RBR1"; the last byte is the format version)
//!  4       4     len     payload length, big-endian u32, at most the configured record limit
//!  8       8     seq     sequence number, big-endian u64
//!  16      8     time    append time, milliseconds since the UNIX epoch, big-endian u64
//!  24      4     crc     CRC-32 (IEEE) of bytes 0..24 followed by the payload
//!  28      len   payload
//! ```
//!
//! An ack entry (in `acks.log`, after an 8-byte file header [`ACK_LOG_MAGIC`]) marks the sequence
//! numbers `from..to` as released:
//!
//! ```text
//!  0   8  from  big-endian u64
//!  8   8  to    big-endian u64 (exclusive), > from
//!  16  4  crc   CRC-32 of bytes 0..16
//! ```
//!
//! The sequence high-water file `seq.hw` (format version 2 and later; see
//! [`crate::spool`] "Sequence numbers"), replaced whole by write, fsync, rename:
//!
//! ```text
//!  0   6  magic     "RBSEQ\0"
//!  6   2  version   big-endian u16, the spool format version (SPOOL_FORMAT_VERSION)
//!  8   8  reserved  big-endian u64: every sequence number ever used is below it
//!  16  1  flags     bit 0 `clean`: written by a clean close, `reserved` is exactly the next
//!                   number and every number below it was used; bit 1 `durable`: written under
//!                   `sync = always` (every returned append was fsynced, and no record was
//!                   delivered before its fsync)
//!  17  3  zero
//!  20  4  crc       CRC-32 of bytes 0..20
//! ```

use crate::util::crc32::{crc32, crc32_update};
use crate::util::{ByteReader, ReadError};

/// The record magic, including the format version in its last byte.
pub const RECORD_MAGIC: [u8; 4] = *b"RBR1";
/// Bytes before a record's payload.
pub const RECORD_HEADER_LEN: usize = 28;
/// The first bytes of `acks.log` (format version in the last byte).
pub const ACK_LOG_MAGIC: [u8; 8] = *b"RBACKS\x00\x01";
/// Bytes of one ack entry.
pub const ACK_ENTRY_LEN: usize = 20;

/// The on-disk format version this code writes and reads. Version 1 (the spool of commit ba707eb
/// and before) has no `seq.hw` file and opens as is; a file or record of a higher version is
/// refused at open ([`crate::spool::SpoolError::UnsupportedFormat`]), never read.
pub const SPOOL_FORMAT_VERSION: u16 = 2;
/// The first bytes of `seq.hw` (the version follows).
pub const SEQ_FILE_MAGIC: [u8; 6] = *b"RBSEQ\x00";
/// Bytes of `seq.hw`.
pub const SEQ_FILE_LEN: usize = 24;

/// A record header read from bytes whose CRC matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHead {
    /// The sequence number.
    pub seq: u64,
    /// The append time, milliseconds since the UNIX epoch.
    pub time_ms: u64,
    /// Payload length.
    pub len: usize,
}

impl RecordHead {
    /// Header plus payload.
    pub fn total_len(&self) -> usize {
        RECORD_HEADER_LEN + self.len
    }
}

/// What [`parse_record`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole record with a matching CRC.
    Valid(RecordHead),
    /// The bytes so far are a plausible start (magic and length fine) but the record ends beyond
    /// the buffer.
    Incomplete,
    /// Not a record: the named check failed.
    Invalid(&'static str),
}

/// Appends one record to `dst`. The payload must be at most `u32::MAX` bytes (the spool checks
/// its record limit first).
pub fn encode_record(dst: &mut Vec<u8>, seq: u64, time_ms: u64, payload: &[u8]) {
    let mut head = [0u8; RECORD_HEADER_LEN];
    head[0..4].copy_from_slice(&RECORD_MAGIC);
    // The caller checked the length against the record limit, which fits a u32.
    head[4..8].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    head[8..16].copy_from_slice(&seq.to_be_bytes());
    head[16..24].copy_from_slice(&time_ms.to_be_bytes());
    let crc = crc32_update(crc32(&head[..24]), payload);
    head[24..28].copy_from_slice(&crc.to_be_bytes());
    dst.extend_from_slice(&head);
    dst.extend_from_slice(payload);
}

/// Reads the record at the start of `buf`; `max_len` caps the payload length a header may claim.
pub fn parse_record(buf: &[u8], max_len: usize) -> Parsed {
    let magic_ok = buf.len().min(4);
    if buf[..magic_ok] != RECORD_MAGIC[..magic_ok] {
        return Parsed::Invalid("magic");
    }
    match read_record(&mut ByteReader::new(buf), max_len) {
        Err(ReadError::OverCap { .. }) => Parsed::Invalid("len"),
        Err(_) => Parsed::Incomplete,
        Ok((head, stored, payload)) => {
            // Ok means the whole header is present.
            if crc32_update(crc32(&buf[..24]), payload) != stored {
                Parsed::Invalid("crc")
            } else {
                Parsed::Valid(head)
            }
        }
    }
}

/// The fields of the record at the start of `r`: its head, the stored CRC and the payload. The
/// length is checked against `max_len` as soon as it is read, before the rest of the header.
fn read_record<'a>(
    r: &mut ByteReader<'a>,
    max_len: usize,
) -> Result<(RecordHead, u32, &'a [u8]), ReadError> {
    r.skip(4, "magic")?;
    let len = r.u32("len")? as usize;
    if len > max_len {
        return Err(ReadError::OverCap {
            field: "len",
            len,
            max: max_len,
        });
    }
    let seq = r.u64("seq")?;
    let time_ms = r.u64("time")?;
    let crc = r.u32("crc")?;
    let payload = r.take(len, "payload")?;
    Ok((RecordHead { seq, time_ms, len }, crc, payload))
}

/// Appends an ack entry releasing `from..to`.
pub fn encode_ack(dst: &mut Vec<u8>, from: u64, to: u64) {
    let mut e = [0u8; ACK_ENTRY_LEN];
    e[0..8].copy_from_slice(&from.to_be_bytes());
    e[8..16].copy_from_slice(&to.to_be_bytes());
    let crc = crc32(&e[..16]);
    e[16..20].copy_from_slice(&crc.to_be_bytes());
    dst.extend_from_slice(&e);
}

/// Reads the ack entries of an `acks.log` image. Returns the ranges and the byte length of the
/// valid prefix (header plus whole entries with matching CRCs); reading stops at the first entry
/// that is cut or fails its check. `None` when the header is missing or wrong.
/// The result holds at most `buf.len() / ACK_ENTRY_LEN` ranges (allocated as they are read).
pub fn parse_ack_log(buf: &[u8]) -> Option<(Vec<(u64, u64)>, usize)> {
    let mut r = ByteReader::new(buf);
    match r.array::<8>("magic") {
        Ok(m) if m == ACK_LOG_MAGIC => {}
        _ => return None,
    }
    let mut out = Vec::new();
    loop {
        let valid = r.position();
        let Ok(e) = r.take(ACK_ENTRY_LEN, "ack entry") else {
            return Some((out, valid));
        };
        let mut f = ByteReader::new(e);
        let (Ok(from), Ok(to), Ok(crc)) = (f.u64("from"), f.u64("to"), f.u32("crc")) else {
            return Some((out, valid)); // not reached: `e` has ACK_ENTRY_LEN bytes
        };
        if crc32(&e[..16]) != crc || to <= from {
            return Some((out, valid));
        }
        out.push((from, to));
    }
}

/// The content of `seq.hw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqMark {
    /// Every sequence number used so far is below this.
    pub reserved: u64,
    /// Written by a clean close: `reserved` is exactly the next number, all below were used.
    pub clean: bool,
    /// Written under `sync = always`: every append that returned was fsynced and no record was
    /// delivered before its fsync, so after a crash nothing past the last record found was
    /// accepted or sent.
    pub durable: bool,
}

/// Why `seq.hw` could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqFileError {
    /// Not the magic: not a spool's file, or damaged.
    Magic,
    /// A format version this code does not know (the file is otherwise not read).
    Version(u16),
    /// Not [`SEQ_FILE_LEN`] bytes.
    Length(usize),
    /// The CRC or the zero bytes do not match: damaged.
    Crc,
}

/// The image of `seq.hw` for `mark`, in format [`SPOOL_FORMAT_VERSION`].
pub fn encode_seq_file(mark: SeqMark) -> [u8; SEQ_FILE_LEN] {
    let mut b = [0u8; SEQ_FILE_LEN];
    b[0..6].copy_from_slice(&SEQ_FILE_MAGIC);
    b[6..8].copy_from_slice(&SPOOL_FORMAT_VERSION.to_be_bytes());
    b[8..16].copy_from_slice(&mark.reserved.to_be_bytes());
    b[16] = u8::from(mark.clean) | u8::from(mark.durable) << 1;
    let crc = crc32(&b[..20]);
    b[20..24].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Reads a `seq.hw` image. The version is checked before anything else after the magic, so a
/// newer format is reported as [`SeqFileError::Version`] whatever its length.
pub fn parse_seq_file(buf: &[u8]) -> Result<SeqMark, SeqFileError> {
    let mut r = ByteReader::new(buf);
    let version = match (r.array::<6>("magic"), r.u16("version")) {
        (Ok(m), Ok(v)) if m == SEQ_FILE_MAGIC => v,
        _ => return Err(SeqFileError::Magic),
    };
    if version != SPOOL_FORMAT_VERSION {
        return Err(SeqFileError::Version(version));
    }
    if buf.len() != SEQ_FILE_LEN {
        return Err(SeqFileError::Length(buf.len()));
    }
    let (Ok(reserved), Ok(flags), Ok(zero), Ok(crc)) = (
        r.u64("reserved"),
        r.u8("flags"),
        r.array::<3>("zero"),
        r.u32("crc"),
    ) else {
        return Err(SeqFileError::Length(buf.len())); // not reached: the length was checked
    };
    if crc32(&buf[..20]) != crc || flags > 3 || zero != [0, 0, 0] {
        return Err(SeqFileError::Crc);
    }
    Ok(SeqMark {
        reserved,
        clean: flags & 1 == 1,
        durable: flags & 2 == 2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_every_prefix_is_incomplete() {
        let mut b = Vec::new();
        encode_record(&mut b, 42, 1_700_000_000_123, b"hello");
        assert_eq!(b.len(), RECORD_HEADER_LEN + 5);
        assert_eq!(&b[..4], b"RBR1");
        assert_eq!(
            parse_record(&b, 1024),
            Parsed::Valid(RecordHead {
                seq: 42,
                time_ms: 1_700_000_000_123,
                len: 5
            })
        );
        for cut in 0..b.len() {
            assert_eq!(
                parse_record(&b[..cut], 1024),
                Parsed::Incomplete,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let mut b = Vec::new();
        encode_record(&mut b, 7, 9, b"payload bytes");
        for i in 0..b.len() * 8 {
            let mut c = b.clone();
            c[i / 8] ^= 1 << (i % 8);
            assert!(
                matches!(
                    parse_record(&c, 1024),
                    Parsed::Invalid(_) | Parsed::Incomplete
                ),
                "bit {i} went unnoticed"
            );
        }
    }

    #[test]
    fn oversized_length_is_invalid_before_reading_payload() {
        let mut b = Vec::new();
        encode_record(&mut b, 1, 1, &[0u8; 100]);
        assert_eq!(parse_record(&b, 99), Parsed::Invalid("len"));
        assert_eq!(parse_record(b"XBR1aaaa", 99), Parsed::Invalid("magic"));
    }

    #[test]
    fn ack_log_stops_at_a_cut_or_bad_entry() {
        let mut b = ACK_LOG_MAGIC.to_vec();
        encode_ack(&mut b, 0, 10);
        encode_ack(&mut b, 12, 13);
        let full = b.len();
        assert_eq!(parse_ack_log(&b), Some((vec![(0, 10), (12, 13)], full)));
        for cut in full - ACK_ENTRY_LEN..full {
            assert_eq!(parse_ack_log(&b[..cut]), Some((vec![(0, 10)], full - 20)));
        }
        b[full - 1] ^= 1;
        assert_eq!(parse_ack_log(&b), Some((vec![(0, 10)], full - 20)));
        assert_eq!(parse_ack_log(b"RBACKS"), None);
    }

    #[test]
    fn seq_file_round_trips_and_refuses_other_versions() {
        for mark in [
            SeqMark {
                reserved: 0,
                clean: true,
                durable: false,
            },
            SeqMark {
                reserved: u64::MAX,
                clean: false,
                durable: true,
            },
        ] {
            let b = encode_seq_file(mark);
            assert_eq!(parse_seq_file(&b), Ok(mark));
            for i in 8..b.len() * 8 {
                let mut c = b;
                c[i / 8] ^= 1 << (i % 8);
                assert!(parse_seq_file(&c).is_err(), "bit {i}");
            }
        }
        let mut b = encode_seq_file(SeqMark {
            reserved: 5,
            clean: false,
            durable: false,
        });
        b[7] = 3;
        assert_eq!(parse_seq_file(&b), Err(SeqFileError::Version(3)));
        assert_eq!(parse_seq_file(&b[..8]), Err(SeqFileError::Version(3)));
        assert_eq!(parse_seq_file(b"RBSEQ"), Err(SeqFileError::Magic));
    }
}
