//! [`MessageError`]: why a message could not be encoded or decoded.
//!
//! **Each cause is printed once** (the crate-wide rule): when `source()` returns a cause,
//! `Display` does not print it; when `Display` prints an inner error as part of its own message,
//! `source()` skips that inner error and returns the inner error's own `source()`.
//! The one cause here, an [`InflateError`], is left to `source()`.

use crate::util::{InflateError, ReadError};
use std::fmt;

/// Why a message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The encoded properties exceed `max` bytes.
    PropertiesTooLong {
        /// Encoded length.
        len: usize,
        /// The limit (32767).
        max: usize,
    },
    /// A property name or value is empty or contains 0x01/0x02.
    InvalidProperty {
        /// The property name (escaped when printed).
        name: String,
    },
    /// A body is longer than the i32 length field allows.
    BodyTooLarge {
        /// Body length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A batch record would be longer than its i32 TOTALSIZE allows.
    RecordTooLarge {
        /// Record length.
        len: usize,
    },
    /// `field` needs `need` bytes but only `have` remain.
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes left.
        have: usize,
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
    /// A stored record starts with an unknown magic code.
    BadMagic(u32),
    /// A length field is negative or smaller than the fixed part it must cover.
    BadLength {
        /// The field.
        field: &'static str,
        /// The value on the wire.
        value: i64,
    },
    /// A record's TOTALSIZE disagrees with the sum of its fields.
    TotalSizeMismatch {
        /// TOTALSIZE on the wire.
        declared: usize,
        /// Bytes the fields used.
        actual: usize,
    },
    /// A host port is outside 0..=65535.
    BadPort {
        /// The field.
        field: &'static str,
        /// The value on the wire.
        port: i32,
    },
    /// A text field is not UTF-8.
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// The body uses a compression type other than zlib.
    UnsupportedCompression {
        /// Compression type (sysFlag bits 8–10, shifted down).
        compression_type: i32,
    },
    /// A compressed body failed to inflate (or exceeded the size cap).
    Inflate(InflateError),
    /// The inflated bodies of one pull body together exceed `max` bytes.
    InflatedTotalTooLarge {
        /// The limit.
        max: usize,
    },
    /// An offset message id is malformed.
    BadMessageId {
        /// The id as given (truncated to 64 chars when printed).
        id: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::PropertiesTooLong { len, max } => {
                write!(f, "properties length {len} exceeds limit {max}")
            }
            MessageError::InvalidProperty { name } => write!(
                f,
                "property {:?} has an empty name or value or contains 0x01/0x02",
                name
            ),
            MessageError::BodyTooLarge { len, max } => {
                write!(f, "body length {len} exceeds limit {max}")
            }
            MessageError::RecordTooLarge { len } => {
                write!(f, "batch record length {len} does not fit an i32")
            }
            MessageError::Truncated { field, need, have } => {
                write!(f, "{field} needs {need} bytes but only {have} remain")
            }
            MessageError::FieldTooLong { field, len, max } => {
                write!(f, "{field} length {len} exceeds limit {max}")
            }
            MessageError::BadMagic(m) => write!(f, "unknown stored-message magic code 0x{m:08x}"),
            MessageError::BadLength { field, value } => write!(f, "invalid {field} {value}"),
            MessageError::TotalSizeMismatch { declared, actual } => write!(
                f,
                "record TOTALSIZE {declared} but its fields use {actual} bytes"
            ),
            MessageError::BadPort { field, port } => write!(f, "{field} port {port} out of range"),
            MessageError::InvalidUtf8 { field } => write!(f, "{field} is not valid UTF-8"),
            MessageError::UnsupportedCompression { compression_type } => write!(
                f,
                "unsupported body compression type {compression_type} (only zlib is supported)"
            ),
            MessageError::Inflate(_) => write!(f, "compressed body"),
            MessageError::InflatedTotalTooLarge { max } => {
                write!(f, "inflated bodies exceed the total limit of {max} bytes")
            }
            MessageError::BadMessageId { id, reason } => {
                let shown: String = id.chars().take(64).collect();
                write!(f, "bad offset message id {shown:?}: {reason}")
            }
        }
    }
}

impl std::error::Error for MessageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MessageError::Inflate(e) => Some(e),
            _ => None,
        }
    }
}

impl From<InflateError> for MessageError {
    fn from(e: InflateError) -> Self {
        MessageError::Inflate(e)
    }
}

/// A short read is [`MessageError::Truncated`]; a length over a cap is
/// [`MessageError::FieldTooLong`].
impl From<ReadError> for MessageError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Short { field, need, have } => MessageError::Truncated { field, need, have },
            ReadError::OverCap { field, len, max } => {
                MessageError::FieldTooLong { field, len, max }
            }
        }
    }
}
