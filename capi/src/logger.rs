//! The log callback: a `log` logger, installed once per process by the first
//! `rmqb_set_log_callback`, that hands each record to the host's sink (set, replaced or removed by
//! later calls).

use std::ffi::CString;
use std::sync::{Mutex, RwLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Where records go: level (`RMQB_LOG_ERROR` = 1 .. `RMQB_LOG_TRACE` = 5), target, message. Both
/// strings are NUL-terminated (a NUL inside a message is written as a space).
pub type Sink = Box<dyn Fn(i32, &CString, &CString) + Send + Sync>;

/// The sink in use, if any.
static SINK: RwLock<Option<Sink>> = RwLock::new(None);
/// Whether this crate's logger is the process's logger (`None`: not tried yet).
static INSTALLED: Mutex<Option<bool>> = Mutex::new(None);

/// Another logger is the process's logger already (`RMQB_ERR_LOGGER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggerTaken;

impl std::fmt::Display for LoggerTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("another logger is installed in this process")
    }
}

impl std::error::Error for LoggerTaken {}

/// The level filter of an `RMQB_LOG_*` value, or `None` when out of range.
pub fn level_filter(level: i32) -> Option<LevelFilter> {
    Some(match level {
        0 => LevelFilter::Off,
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        5 => LevelFilter::Trace,
        _ => return None,
    })
}

fn level_number(level: Level) -> i32 {
    match level {
        Level::Error => 1,
        Level::Warn => 2,
        Level::Info => 3,
        Level::Debug => 4,
        Level::Trace => 5,
    }
}

/// Sends records at `max` and above to `sink` (`None` or `Off`: to nowhere).
///
/// # Errors
/// [`LoggerTaken`]: the process has another logger.
pub fn set(sink: Option<Sink>, max: LevelFilter) -> Result<(), LoggerTaken> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let ours = *installed.get_or_insert_with(|| log::set_boxed_logger(Box::new(Forward)).is_ok());
    if !ours {
        return Err(LoggerTaken);
    }
    let max = if sink.is_some() {
        max
    } else {
        LevelFilter::Off
    };
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = sink;
    log::set_max_level(max);
    Ok(())
}

fn c_text(s: String) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        for b in &mut bytes {
            if *b == 0 {
                *b = b' ';
            }
        }
        CString::new(bytes).unwrap_or_default()
    })
}

struct Forward;

impl Log for Forward {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let sink = SINK.read().unwrap_or_else(|e| e.into_inner());
        if let Some(sink) = sink.as_ref() {
            let target = c_text(record.target().to_owned());
            let message = c_text(record.args().to_string());
            sink(level_number(record.level()), &target, &message);
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn records_reach_the_sink_at_its_level_and_stop_when_removed() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        let sink: Sink = Box::new(move |level, target, message| {
            g.lock().unwrap().push((
                level,
                target.to_string_lossy().into_owned(),
                message.to_string_lossy().into_owned(),
            ));
        });
        set(Some(sink), LevelFilter::Info).unwrap();
        log::info!(target: "t1", "hello\0world");
        log::debug!(target: "t1", "below the level");
        set(None, LevelFilter::Trace).unwrap();
        log::error!(target: "t1", "after removal");
        assert_eq!(
            *got.lock().unwrap(),
            vec![(3, "t1".to_owned(), "hello world".to_owned())]
        );
        assert_eq!(level_filter(6), None);
        assert_eq!(level_filter(2), Some(LevelFilter::Warn));
    }
}
