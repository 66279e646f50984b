//! Spool settings and the sync policy.

use super::error::SpoolError;
use super::record::RECORD_HEADER_LEN;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Default segment size in bytes (16 MiB): large sequential files, few of them.
pub const DEFAULT_SEGMENT_SIZE: u64 = 16 * 1024 * 1024;
/// Default total size cap in bytes (1 GiB).
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// Smallest accepted segment size in bytes (64 KiB).
pub const MIN_SEGMENT_SIZE: u64 = 64 * 1024;
/// Largest accepted segment size in bytes (1 GiB); recovery reads one segment at a time into
/// memory, so this also bounds recovery's memory.
pub const MAX_SEGMENT_SIZE: u64 = 1024 * 1024 * 1024;
/// Largest payload of one record in bytes (16 MiB); smaller when the segment is smaller.
pub const MAX_RECORD_LEN: usize = 16 * 1024 * 1024;
/// Appends are buffered in memory and written to the segment file once this many bytes (256 KiB)
/// are pending, so the device sees large sequential writes.
pub const WRITE_CHUNK: usize = 256 * 1024;
/// The flusher thread writes buffered appends to the kernel at least this often (200 ms) under
/// every policy, so a process kill loses at most this much under `none` and `every:<n>`.
pub const WRITE_TICK: Duration = Duration::from_millis(200);

/// When appended records are forced to the device with `fsync`.
///
/// The configuration spelling (`bridge.rocket.spool.sync`) is what [`FromStr`] and
/// [`fmt::Display`] use: `none`, `always`, `interval:<ms>`, `every:<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// Never fsync (the kernel writes back when it likes). An append never waits on the device.
    /// A process kill loses at most [`WRITE_TICK`] of appends; a power loss may lose more.
    None,
    /// A background thread fsyncs at this period. An append never waits on the device; a crash
    /// loses at most one period of appends (and a process kill at most `min(period, WRITE_TICK)`).
    Interval(Duration),
    /// Every `n`-th append writes and fsyncs before returning (that append blocks for one fsync).
    Every(u32),
    /// Every append writes and fsyncs before returning: nothing acknowledged is ever lost.
    Always,
}

impl FromStr for SyncPolicy {
    type Err = SpoolError;
    fn from_str(s: &str) -> Result<SyncPolicy, SpoolError> {
        let bad = |reason: String| SpoolError::Config {
            key: "sync",
            reason,
        };
        let s = s.trim();
        match s {
            "none" => return Ok(SyncPolicy::None),
            "always" => return Ok(SyncPolicy::Always),
            _ => {}
        }
        if let Some(ms) = s.strip_prefix("interval:") {
            let ms: u64 = ms
                .trim()
                .parse()
                .map_err(|_| bad(format!("interval {ms:?} is not a number of milliseconds")))?;
            if ms == 0 || ms > 3_600_000 {
                return Err(bad(format!("interval {ms} ms is outside 1..=3600000")));
            }
            return Ok(SyncPolicy::Interval(Duration::from_millis(ms)));
        }
        if let Some(n) = s.strip_prefix("every:") {
            let n: u32 = n
                .trim()
                .parse()
                .map_err(|_| bad(format!("every {n:?} is not a record count")))?;
            if n == 0 {
                return Err(bad("every 0 records is not a policy (use always)".into()));
            }
            return Ok(SyncPolicy::Every(n));
        }
        Err(bad(format!(
            "{s:?} is not one of none, always, interval:<ms>, every:<n>"
        )))
    }
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncPolicy::None => f.write_str("none"),
            SyncPolicy::Always => f.write_str("always"),
            SyncPolicy::Interval(d) => write!(f, "interval:{}", d.as_millis()),
            SyncPolicy::Every(n) => write!(f, "every:{n}"),
        }
    }
}

/// Where and how the spool stores records. Build with [`SpoolConfig::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    pub(crate) dir: PathBuf,
    pub(crate) segment_size: u64,
    pub(crate) max_bytes: u64,
    pub(crate) sync: SyncPolicy,
}

impl SpoolConfig {
    /// A spool in `dir` (`bridge.rocket.spool.dir`; created when missing) with the defaults below.
    pub fn new(dir: impl Into<PathBuf>) -> SpoolConfig {
        SpoolConfig {
            dir: dir.into(),
            segment_size: DEFAULT_SEGMENT_SIZE,
            max_bytes: DEFAULT_MAX_BYTES,
            sync: SyncPolicy::Interval(Duration::from_secs(1)),
        }
    }

    /// Segment file size in bytes (`.segment_size`). Defaults to 16 MiB. Must be within
    /// [`MIN_SEGMENT_SIZE`]..=[`MAX_SEGMENT_SIZE`].
    pub fn segment_size(mut self, bytes: u64) -> SpoolConfig {
        self.segment_size = bytes;
        self
    }

    /// Total size cap in bytes over all segments (`.max_bytes`). Defaults to 1 GiB. Must be at
    /// least twice the segment size, because space is reclaimed a whole segment at a time.
    pub fn max_bytes(mut self, bytes: u64) -> SpoolConfig {
        self.max_bytes = bytes;
        self
    }

    /// The sync policy (`.sync`). Defaults to `interval:1000`: one fsync a second at most, no
    /// append ever waits on the device.
    pub fn sync(mut self, policy: SyncPolicy) -> SpoolConfig {
        self.sync = policy;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Largest payload one record may carry with this configuration.
    pub fn max_record_len(&self) -> usize {
        let by_segment = (self.segment_size as usize).saturating_sub(RECORD_HEADER_LEN);
        by_segment.min(MAX_RECORD_LEN)
    }

    pub(crate) fn validate(&self) -> Result<(), SpoolError> {
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&self.segment_size) {
            return Err(SpoolError::Config {
                key: "segment_size",
                reason: format!(
                    "{} bytes is outside {MIN_SEGMENT_SIZE}..={MAX_SEGMENT_SIZE}",
                    self.segment_size
                ),
            });
        }
        if self.max_bytes < 2 * self.segment_size {
            return Err(SpoolError::Config {
                key: "max_bytes",
                reason: format!(
                    "{} bytes is less than twice segment_size ({})",
                    self.max_bytes, self.segment_size
                ),
            });
        }
        if self.dir.as_os_str().is_empty() {
            return Err(SpoolError::Config {
                key: "dir",
                reason: "empty path".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_policy_parses_and_prints_its_config_spelling() {
        for s in ["none", "always", "interval:250", "every:100"] {
            assert_eq!(s.parse::<SyncPolicy>().unwrap().to_string(), s);
        }
        assert_eq!(
            " interval: 5 ".parse::<SyncPolicy>().unwrap(),
            SyncPolicy::Interval(Duration::from_millis(5))
        );
        for bad in [
            "",
            "sometimes",
            "interval:",
            "interval:0",
            "every:0",
            "every:-1",
        ] {
            let e = bad.parse::<SyncPolicy>().unwrap_err().to_string();
            assert!(e.contains("sync"), "{bad:?} -> {e}");
        }
    }

    #[test]
    fn config_checks_name_the_key() {
        let e = SpoolConfig::new("/x")
            .segment_size(10)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("segment_size"), "{e}");
        let e = SpoolConfig::new("/x")
            .segment_size(MIN_SEGMENT_SIZE)
            .max_bytes(MIN_SEGMENT_SIZE)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("max_bytes"), "{e}");
        assert!(SpoolConfig::new("/x").validate().is_ok());
        assert_eq!(
            SpoolConfig::new("/x")
                .segment_size(MIN_SEGMENT_SIZE)
                .max_record_len(),
            MIN_SEGMENT_SIZE as usize - RECORD_HEADER_LEN
        );
    }
}
