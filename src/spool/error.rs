//! Errors of the spool.

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
        /// The check that failed (`magic`, `len`, `crc`, `seq`, `cut`).
        check: &'static str,
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
        }
    }
}

impl std::error::Error for SpoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpoolError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
