//! A `log` backend for the plugin: records from any thread go into a bounded queue, and mosquitto's own
//! thread writes them with `mosquitto_log_printf` on each `TICK` (mosquitto's logging is not thread-safe:
//! it may publish to `$SYS/broker/log/...`). When the queue is full, records are dropped and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

/// Capacity of the log queue, in records.
pub const LOG_QUEUE_CAP: usize = 4096;
/// Longest line queued, in bytes: 2 KiB. Lines can carry client ids and topic lengths chosen by MQTT
/// clients (a client id may be 65,535 bytes); longer lines are cut, saying how much was cut. With
/// [`LOG_QUEUE_CAP`] this bounds the queue to 8 MiB.
pub const LOG_LINE_MAX_BYTES: usize = 2048;

/// `text` cut to [`LOG_LINE_MAX_BYTES`] (at a character boundary) with a note of the bytes cut.
fn bounded_line(mut text: String) -> String {
    if text.len() > LOG_LINE_MAX_BYTES {
        let mut at = LOG_LINE_MAX_BYTES;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let cut = text.len() - at;
        text.truncate(at);
        text.push_str(&format!("... ({cut} bytes cut)"));
    }
    text
}

/// One queued log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its level.
    pub level: log::Level,
    /// The formatted text (`target: message`).
    pub text: String,
}

struct QueueLogger {
    tx: Sender<Line>,
    rx: Receiver<Line>,
    dropped: AtomicU64,
}

impl log::Log for QueueLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = Line {
            level: r.level(),
            text: bounded_line(format!("rocketmq-bridge: {}: {}", r.target(), r.args())),
        };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(line) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) {}
}

static LOGGER: OnceLock<QueueLogger> = OnceLock::new();

/// Installs the queue logger (once per process; later calls only change the level).
pub fn install(level: log::LevelFilter) {
    let l = LOGGER.get_or_init(|| {
        let (tx, rx) = bounded(LOG_QUEUE_CAP);
        QueueLogger {
            tx,
            rx,
            dropped: AtomicU64::new(0),
        }
    });
    // Fails only if another logger was installed in this copy of `log` (tests): then that one is used.
    let _ = log::set_logger(l);
    log::set_max_level(level);
}

/// Takes every queued line, and the number dropped since the last call.
pub fn take() -> (Vec<Line>, u64) {
    match LOGGER.get() {
        Some(l) => (
            l.rx.try_iter().collect(),
            l.dropped.swap(0, Ordering::Relaxed),
        ),
        None => (Vec::new(), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_queued_until_taken() {
        install(log::LevelFilter::Info);
        log::info!("addr=127.0.0.1:1 started");
        log::debug!("not at this level");
        let (lines, dropped) = take();
        assert_eq!(dropped, 0);
        assert!(lines
            .iter()
            .any(|l| l.level == log::Level::Info && l.text.ends_with("addr=127.0.0.1:1 started")));
        assert!(!lines.iter().any(|l| l.text.contains("not at this level")));
    }

    #[test]
    fn long_lines_are_cut_at_a_char_boundary() {
        assert_eq!(bounded_line("short".into()), "short");
        let long = format!("x{}", "é".repeat(LOG_LINE_MAX_BYTES));
        let cut = bounded_line(long.clone());
        assert!(cut.len() <= LOG_LINE_MAX_BYTES + 32, "{}", cut.len());
        let kept = cut.find("... (").unwrap();
        assert!(long.starts_with(&cut[..kept]));
        assert!(cut.ends_with(&format!("({} bytes cut)", long.len() - kept)));
    }
}
