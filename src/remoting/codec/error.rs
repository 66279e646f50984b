//! Codec errors: pure values (no `io::Error`), so tests compare them exactly.
//!
//! **Each cause is printed once** (the crate-wide rule): when `source()` returns a cause,
//! `Display` does not print it; when `Display` prints an inner error as part of its own message,
//! `source()` skips that inner error and returns the inner error's own `source()`.
//! These errors have no cause: each names the field and carries the numbers.

use crate::util::ReadError;
use std::fmt;

/// Why a frame could not be decoded. Each variant names the field and carries the numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The whole frame (length word included) is larger than the configured limit.
    FrameTooLarge {
        /// 4 + the announced `total_len`.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// `total_len` is smaller than the 4-byte header-length word it must contain.
    FrameTooShort {
        /// The announced `total_len`.
        total_len: u32,
    },
    /// The announced header is longer than the frame holds.
    HeaderTooLong {
        /// The announced header length.
        header_len: u32,
        /// Bytes available for header and body (`total_len` − 4).
        available: u32,
    },
    /// The serialize-type byte is neither 0 (JSON) nor 1 (ROCKETMQ).
    UnknownSerializeType(u8),
    /// A binary header field runs past the end of the header.
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// A binary header length field is negative.
    NegativeLength {
        /// The field.
        field: &'static str,
        /// The value read.
        len: i32,
    },
    /// Bytes left over after a complete binary header or ext-field block.
    TrailingData {
        /// The block.
        field: &'static str,
        /// Bytes left over.
        len: usize,
    },
    /// A string that is not valid UTF-8.
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// The JSON header is not well-formed JSON.
    InvalidJson {
        /// Byte offset inside the header.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A JSON header lacks a required member.
    MissingField(&'static str),
    /// A JSON header member has a value of the wrong type or range.
    InvalidField {
        /// The member.
        field: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// A length field declares more bytes than its cap allows.
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// The declared length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The header carries more ext-field members than [`MAX_EXT_FIELDS`](super::MAX_EXT_FIELDS).
    TooManyExtFields {
        /// The cap.
        max: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::FrameTooLarge { len, max } => {
                write!(f, "frame length {len} exceeds limit {max}")
            }
            DecodeError::FrameTooShort { total_len } => {
                write!(f, "frame total length {total_len} is below the minimum 4")
            }
            DecodeError::HeaderTooLong {
                header_len,
                available,
            } => {
                write!(
                    f,
                    "header length {header_len} exceeds the {available} bytes in the frame"
                )
            }
            DecodeError::UnknownSerializeType(t) => write!(f, "unknown serialize type {t}"),
            DecodeError::Truncated { field, need, have } => {
                write!(
                    f,
                    "binary header field {field} needs {need} bytes, {have} left"
                )
            }
            DecodeError::NegativeLength { field, len } => {
                write!(f, "binary header field {field} has negative length {len}")
            }
            DecodeError::TrailingData { field, len } => {
                write!(f, "{len} bytes left over after {field}")
            }
            DecodeError::InvalidUtf8 { field } => write!(f, "field {field} is not valid UTF-8"),
            DecodeError::InvalidJson { offset, reason } => {
                write!(f, "invalid JSON header at byte {offset}: {reason}")
            }
            DecodeError::MissingField(name) => write!(f, "JSON header lacks field {name}"),
            DecodeError::InvalidField { field, reason } => {
                write!(f, "JSON header field {field}: {reason}")
            }
            DecodeError::FieldTooLong { field, len, max } => {
                write!(f, "field {field} length {len} exceeds limit {max}")
            }
            DecodeError::TooManyExtFields { max } => {
                write!(f, "header carries more than {max} ext fields")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A short read is [`DecodeError::Truncated`]; a length over a cap is
/// [`DecodeError::FieldTooLong`].
impl From<ReadError> for DecodeError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Short { field, need, have } => DecodeError::Truncated { field, need, have },
            ReadError::OverCap { field, len, max } => DecodeError::FieldTooLong { field, len, max },
        }
    }
}

/// Why a command could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The frame would exceed the limit (or the i32 length word).
    FrameTooLarge {
        /// The frame length, length word included.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The header would exceed the 24-bit header length.
    HeaderTooLarge {
        /// Header bytes.
        len: usize,
    },
    /// A value does not fit the binary header's field width.
    FieldOutOfRange {
        /// The field.
        field: &'static str,
        /// The value.
        value: i64,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::FrameTooLarge { len, max } => {
                write!(f, "frame length {len} exceeds limit {max}")
            }
            EncodeError::HeaderTooLarge { len } => {
                write!(f, "header length {len} exceeds the 24-bit limit")
            }
            EncodeError::FieldOutOfRange { field, value } => {
                write!(
                    f,
                    "value {value} of field {field} does not fit the binary header"
                )
            }
        }
    }
}

impl std::error::Error for EncodeError {}
