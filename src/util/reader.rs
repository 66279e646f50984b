//! [`ByteReader`]: the one bounded big-endian reader the decoders share (the binary remoting
//! header, stored messages, spool records and spooled bridge payloads).
//!
//! Every read checks the bytes left first and returns a [`ReadError`] instead of panicking; a
//! length that came from the peer is checked against the bytes present (or a cap, with
//! [`ByteReader::take_capped`]) before anything is sliced, so nothing is ever allocated from an
//! unchecked length. Decoders name the field they read, and turn a `ReadError` into their own
//! error type with a `From` impl.

use std::fmt;

/// Why a read failed. Pure value: `Copy`, `Eq`, no I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// `field` needs `need` bytes but only `have` are left.
    Short {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// `field` declares `len` bytes, more than the cap `max`.
    OverCap {
        /// The field being read.
        field: &'static str,
        /// The declared length.
        len: usize,
        /// The cap.
        max: usize,
    },
}

impl ReadError {
    /// The field that could not be read.
    pub fn field(&self) -> &'static str {
        match self {
            ReadError::Short { field, .. } | ReadError::OverCap { field, .. } => field,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Short { field, need, have } => {
                write!(f, "{field} needs {need} bytes but only {have} remain")
            }
            ReadError::OverCap { field, len, max } => {
                write!(f, "{field} length {len} exceeds limit {max}")
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// A bounded big-endian cursor over a byte slice.
#[derive(Debug, Clone)]
pub struct ByteReader<'a> {
    rest: &'a [u8],
    len: usize,
}

impl<'a> ByteReader<'a> {
    /// A reader at the start of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        ByteReader {
            rest: buf,
            len: buf.len(),
        }
    }

    /// Bytes consumed so far.
    #[inline]
    pub fn position(&self) -> usize {
        self.len - self.rest.len()
    }

    /// Bytes left.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// True when every byte has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The bytes not read yet (nothing is consumed).
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// The next `n` bytes.
    ///
    /// # Errors
    /// [`ReadError::Short`] when fewer than `n` bytes are left (nothing is consumed then).
    #[inline]
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ReadError> {
        if n > self.rest.len() {
            return Err(ReadError::Short {
                field,
                need: n,
                have: self.rest.len(),
            });
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }

    /// The next `n` bytes, where `n` must also be at most `max` (checked first).
    ///
    /// # Errors
    /// [`ReadError::OverCap`] when `n > max`, else as [`ByteReader::take`].
    #[inline]
    pub fn take_capped(
        &mut self,
        n: usize,
        max: usize,
        field: &'static str,
    ) -> Result<&'a [u8], ReadError> {
        if n > max {
            return Err(ReadError::OverCap { field, len: n, max });
        }
        self.take(n, field)
    }

    /// Skips `n` bytes.
    ///
    /// # Errors
    /// As [`ByteReader::take`].
    #[inline]
    pub fn skip(&mut self, n: usize, field: &'static str) -> Result<(), ReadError> {
        self.take(n, field).map(|_| ())
    }

    /// The next `N` bytes as an array.
    ///
    /// # Errors
    /// As [`ByteReader::take`].
    #[inline]
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ReadError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }

    /// One byte.
    ///
    /// # Errors
    /// As [`ByteReader::take`].
    #[inline]
    pub fn u8(&mut self, field: &'static str) -> Result<u8, ReadError> {
        Ok(self.take(1, field)?[0])
    }

    /// A big-endian `u16`.
    ///
    /// # Errors
    /// As [`ByteReader::take`].
    #[inline]
    pub fn u16(&mut self, field: &'static str) -> Result<u16, ReadError> {
        self.array(field).map(u16::from_be_bytes)
    }

    /// A big-endian `i16`.
    ///
    /// # Errors
    /// As [`ByteReader::take`].
    #[inline]
    pub fn i16(&mut self, field: &'static str) -> Result<i16, ReadError> {
        self.array(field).map(i16::from_be_bytes)
    }

    /// A big-endian `u32`.
    ///
    /// # Errors
    /// As [`ByteReader::take`].
    #[inline]
    pub fn u32(&mut self, field: &'static str) -> Result<u32, ReadError> {
        self.array(field).map(u32::from_be_bytes)
    }

    /// A big-endian `i32`.
    ///
    /// # Errors
    /// As [`ByteReader::take`].
    #[inline]
    pub fn i32(&mut self, field: &'static str) -> Result<i32, ReadError> {
        self.array(field).map(i32::from_be_bytes)
    }

    /// A big-endian `u64`.
    ///
    /// # Errors
    /// As [`ByteReader::take`].
    #[inline]
    pub fn u64(&mut self, field: &'static str) -> Result<u64, ReadError> {
        self.array(field).map(u64::from_be_bytes)
    }

    /// A big-endian `i64`.
    ///
    /// # Errors
    /// As [`ByteReader::take`].
    #[inline]
    pub fn i64(&mut self, field: &'static str) -> Result<i64, ReadError> {
        self.array(field).map(i64::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_tracks_position() {
        let buf = [
            1u8, 0, 2, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 9,
        ];
        let mut r = ByteReader::new(&buf);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(2));
        assert_eq!(r.i32("c"), Ok(3));
        assert_eq!(r.position(), 7);
        assert_eq!(r.i64("d"), Ok(-2));
        assert_eq!(r.rest(), &[9]);
        assert_eq!(r.take(1, "e"), Ok(&[9u8][..]));
        assert!(r.is_empty());
    }

    #[test]
    fn short_input_is_an_error_and_consumes_nothing() {
        let mut r = ByteReader::new(&[1, 2, 3]);
        assert_eq!(
            r.u32("len"),
            Err(ReadError::Short {
                field: "len",
                need: 4,
                have: 3
            })
        );
        assert_eq!(r.remaining(), 3);
        assert_eq!(r.take(usize::MAX, "x").unwrap_err().field(), "x");
        assert_eq!(r.u16("ok"), Ok(0x0102));
    }

    #[test]
    fn cap_is_checked_before_the_bytes_present() {
        let mut r = ByteReader::new(&[0; 8]);
        assert_eq!(
            r.take_capped(usize::MAX, 4, "body"),
            Err(ReadError::OverCap {
                field: "body",
                len: usize::MAX,
                max: 4
            })
        );
        assert_eq!(r.take_capped(4, 4, "body").map(<[u8]>::len), Ok(4));
        assert_eq!(
            ReadError::Short {
                field: "f",
                need: 2,
                have: 1
            }
            .to_string(),
            "f needs 2 bytes but only 1 remain"
        );
    }

    #[test]
    fn every_prefix_of_every_read_is_an_error_not_a_panic() {
        let buf = [0x55u8; 8];
        for cut in 0..8 {
            let mut r = ByteReader::new(&buf[..cut]);
            assert!(r.u64("x").is_err());
            assert!(cut >= 2 || r.u16("x").is_err());
        }
    }
}
