//! Errors of the spool.
//!
//! **Each cause is printed once** (the crate-wide rule): when `source()` returns a cause,
//! `Display` does not print it; when `Display` prints an inner error as part of its own message,
//! `source()` skips that inner error and returns the inner error's own `source()`.
//! The `io::Error` causes are left to `source()`.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What went wrong in the spool.
#[derive(Debug)]
#[non_exhaustive]
pub enum SpoolError {
    /// A configuration value is unusable.
    Config {
        /// The key below `bridge.rocket.spool.` (`dir`, `segment_size`, `max_bytes`, `sync`).
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// A file operation failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operation (`open`, `write`, `fsync`, ...).
        op: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// Another process (or another `Spool` in this one) holds the directory's lock.
    Locked {
        /// The spool directory.
        dir: PathBuf,
    },
    /// The payload is larger than one record may be.
    RecordTooLarge {
        /// The payload length in bytes.
        len: usize,
        /// The limit ([`crate::spool::SpoolConfig::max_record_len`]).
        max: usize,
    },
    /// A segment file is larger than recovery will read into memory.
    SegmentTooLarge {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
        /// The limit in bytes.
        max: u64,
    },
    /// Bytes that were written and validated no longer read back as a record.
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// The byte offset of the record.
        offset: u64,
        /// The check that failed (`magic`, `len`, `crc`, `seq`, `cut`, `read`).
        check: &'static str,
    },
    /// The record was written but its fsync failed: it stays in the spool and will be delivered
    /// (it is not dropped), but it may not survive a power loss.
    NotDurable {
        /// Its sequence number.
        seq: u64,
        /// The spool directory.
        path: PathBuf,
        /// The fsync error.
        source: io::Error,
    },
    /// A file in the spool directory has an on-disk format this code does not read (written by a
    /// newer version). Nothing was read or changed.
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// Its format version.
        found: u16,
        /// The version this code reads and writes.
        supported: u16,
    },
}

impl SpoolError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> SpoolError {
        SpoolError::Io {
            path: path.into(),
            op,
            source,
        }
    }
}

impl fmt::Display for SpoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpoolError::Config { key, reason } => {
                write!(f, "bridge.rocket.spool.{key}: {reason}")
            }
            SpoolError::Io { path, op, .. } => write!(f, "spool {op} {} failed", path.display()),
            SpoolError::Locked { dir } => {
                write!(
                    f,
                    "spool directory {} is in use by another spool",
                    dir.display()
                )
            }
            SpoolError::RecordTooLarge { len, max } => {
                write!(f, "spool record of {len} bytes exceeds limit {max}")
            }
            SpoolError::SegmentTooLarge { path, len, max } => write!(
                f,
                "spool segment {} is {len} bytes, over the limit {max}",
                path.display()
            ),
            SpoolError::Corrupt {
                path,
                offset,
                check,
            } => write!(
                f,
                "spool segment {} has a corrupt record at offset {offset} ({check} check failed)",
                path.display()
            ),
            SpoolError::NotDurable { seq, path, .. } => write!(
                f,
                "spool record seq {seq} in {} was written but its fsync failed; it stays queued \
                 but may not survive a power loss",
                path.display()
            ),
            SpoolError::UnsupportedFormat {
                path,
                found,
                supported,
            } => write!(
                f,
                "spool file {} has format version {found}, this build reads version {supported}: \
                 drain it with the version that wrote it, or move the spool directory away to start \
                 an empty one",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SpoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpoolError::Io { source, .. } | SpoolError::NotDurable { source, .. } => Some(source),
            _ => None,
        }
    }
}
