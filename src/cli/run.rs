//! `rocketmq-bridge run --config FILE [--input FILE]`: reads events as newline-delimited JSON (see
//! [`event`](crate::bridge::event) for the format) from stdin or a file and forwards them through a
//! [`Bridge`].
//!
//! - A bad line (not JSON, unknown event or field, wrong type, not UTF-8, longer than
//!   [`MAX_EVENT_LINE_LEN`]) is reported on stderr with its line number and skipped; the run goes
//!   on. Blank lines are skipped silently.
//! - In sync mode a send that fails is reported with its line number; the run goes on.
//! - `--input` may name a FIFO: it is opened for reading and writing, so the run never sees end of
//!   input there (writers may come and go; a line of at most `PIPE_BUF`, 4096 bytes, is written
//!   atomically, so concurrent writers do not interleave such lines); SIGTERM or SIGINT ends it.
//!   This is how the systemd unit (`packaging/rocketmq-bridge.service`) feeds the bridge.
//! - End of input, SIGINT or SIGTERM: the bridge drains (up to `bridge.rocket.drain_timeout`), a
//!   summary goes to stderr, and the exit code is 0 when every matched event was confirmed, 1
//!   otherwise (anything failed, unknown, dropped or not sent). Signals are watched on a thread of
//!   their own (every 100 ms), so a signal also ends a send blocked on a full
//!   `buffer.max_bytes` (`buffer.overflow = block`): that event is counted as dropped (`shutdown`).
//! - Start: without a spool `run` refuses to start when a target topic has no route, and says
//!   why: no name server reachable, no broker registered (RocketMQ down or still starting), or the
//!   topic missing while a broker is registered. With a spool it starts in the first two cases
//!   (a gateway may boot before RocketMQ), spools the events and sends them once a route is found.
//! - With a spool (`bridge.rocket.spool.dir`) an event is on disk when it is accepted; at the end
//!   the bridge sends what the spool holds until `drain_timeout`, and what is left is sent by the
//!   next run on the same spool (also after a crash or SIGKILL).
//! - With `bridge.rocket.metrics.listen`, `GET /metrics` and `GET /health` are served there
//!   while the bridge runs; `rocketmq-bridge status --config FILE` asks `/health`.
//! - SIGHUP re-reads the config file and swaps the hook rules (and node name); buffered events are
//!   kept. A config error is reported and the old rules stay.
//! - Under systemd (`Type=notify`, `$NOTIFY_SOCKET` set) it says `READY=1` once the bridge has
//!   started, `RELOADING=1` / `READY=1` around a reload and `STOPPING=1` when the drain begins
//!   (see [`notify`](super::notify)).
//! - Progress: with `--input FILE` and stderr a terminal, one status line on stderr is rewritten
//!   every [`PROGRESS_EVERY`] (lines read, messages the broker confirmed, their rate over the last
//!   interval; see [`progress_line`]) and cleared before the summary. When stderr is not a terminal
//!   (a pipe, a file, the journal) nothing of it is written.

use crate::bridge::event::MAX_EVENT_LINE_LEN;
use crate::bridge::{Bridge, BridgeConfig, BridgeError, ConfigError, Event, ShutdownReport};
use crate::sys::{self, Signal};
use crossbeam_channel::{bounded, select, tick, Receiver};
use std::fmt;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How often the signal thread looks at the signal flags (and the main loop at its stop reason).
const SIGNAL_POLL: Duration = Duration::from_millis(100);
/// Bytes asked for per `read(2)` of the input (the input buffer's size). Each read's complete
/// lines are handed from the input thread to the bridge's as one chunk (one channel operation, and at most one wake-up, per
/// read instead of per line), as soon as they are read: a slow producer of lines sees no added
/// delay.
const READ_SIZE: usize = 64 * 1024;
/// Chunks read ahead of the bridge: at most about `LINE_QUEUE * READ_SIZE` bytes of text, and
/// beside it each chunk's line ends (8 bytes a line: at worst, a read of blank lines, 8 bytes a
/// byte), so the queue holds at most about 9 × 8 × 64 KiB = 4.5 MiB.
const LINE_QUEUE: usize = 8;
/// True while the progress line is on the terminal: a report written then first erases it (the
/// next tick writes it again below the report).
static PROGRESS_ON: AtomicBool = AtomicBool::new(false);

/// `eprintln!` that first erases the progress line when one is shown.
macro_rules! report {
    ($($arg:tt)*) => {{
        if PROGRESS_ON.load(Ordering::Relaxed) {
            eprint!("\r\x1b[K");
        }
        eprintln!($($arg)*);
    }};
}

/// How often the progress line (`--input FILE` on a terminal) is rewritten.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Why `run` could not start or read its input.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// The config file is unusable.
    Config(ConfigError),
    /// The bridge could not start (producer, RocketMQ unreachable without a spool, missing topics).
    Start(BridgeError),
    /// The input file could not be opened.
    Input {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Signal handlers could not be installed.
    Signals(io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Config(e) => write!(f, "{e}"),
            RunError::Start(e) => write!(f, "{e}"),
            RunError::Input { path, source } => {
                write!(f, "cannot open input {}: {source}", path.display())
            }
            RunError::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

/// What a run did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunSummary {
    /// Lines read (blank ones included).
    pub lines: u64,
    /// Lines that were valid events.
    pub events: u64,
    /// Lines reported and skipped.
    pub bad_lines: u64,
    /// Sync sends that returned an error.
    pub send_errors: u64,
    /// Why the run ended: `"end of input"`, `"SIGINT"`, `"SIGTERM"`, or an input error.
    pub ended_by: String,
    /// The bridge's shutdown report.
    pub report: ShutdownReport,
}

impl RunSummary {
    /// True when every matched event was confirmed by the broker and the spool lost nothing it
    /// knows of (a "possibly lost" range left by an earlier crash is reported, not counted here).
    pub fn all_sent(&self) -> bool {
        self.send_errors == 0 && report_all_sent(&self.report)
    }
}

/// True when the shutdown report shows every matched event confirmed by the broker and nothing
/// the spool knows of lost ([`RunSummary::all_sent`] without the sync send errors; also the
/// `mqtt` subcommand's exit code).
pub fn report_all_sent(report: &ShutdownReport) -> bool {
    let t = report.stats.total();
    report.unsent.is_empty()
        && t.failed == 0
        && t.outcome_unknown == 0
        && t.dropped_too_large == 0
        && t.dropped_overflow == 0
        && t.dropped_shutdown == 0
        && t.dropped_spool_error == 0
        && t.dropped_bad_topic == 0
        && t.dropped_bad_tag == 0
        && t.dropped_no_topic == 0
        && t.dropped_topic_cap == 0
        && report.stats.spool.as_ref().is_none_or(|s| {
            s.pending_records == 0
                && s.dropped_cap_reached == 0
                && s.dropped_corrupt == 0
                && s.dropped_missing == 0
                && s.undecodable == 0
        })
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ended by {}: {} lines, {} events, {} bad lines skipped; ",
            self.ended_by, self.lines, self.events, self.bad_lines,
        )?;
        write_report(f, &self.report)
    }
}

/// The shutdown report's part of a summary: matched, sent, unknown, dropped by reason, the
/// hold's re-sends, the spool, the loss reports, and each message not sent.
pub(super) fn write_report(f: &mut fmt::Formatter<'_>, report: &ShutdownReport) -> fmt::Result {
    let t = report.stats.total();
    write!(
            f,
            "matched {} messages: sent {}, \
             outcome unknown {} (lookups: resolved stored {}, resolved not stored {}, unresolved {}), dropped (failed {}, too large {}, overflow {}, shutdown {}, spool error {}, \
             bad topic {}, bad tag {}, no topic {}, topic cap {}); \
             {} events matched no rule",
            t.matched,
            t.sent,
            t.outcome_unknown,
            t.resolved_stored,
            t.resolved_not_stored,
            t.unresolved,
            t.failed,
            t.dropped_too_large,
            t.dropped_overflow,
            t.dropped_shutdown,
            t.dropped_spool_error,
            t.dropped_bad_topic,
            t.dropped_bad_tag,
            t.dropped_no_topic,
            t.dropped_topic_cap,
            report.stats.unmatched
        )?;
    if report.stats.held_resent > 0 {
        write!(
            f,
            "; {} re-sends of messages held after a failed send",
            report.stats.held_resent
        )?;
    }
    if let Some(sp) = &report.stats.spool {
        write!(
                f,
                "; spool: next seq {}, {} appended, {} confirmed, {} recovered from the last run, {} resent, \
                 {} left for the next run, dropped (cap {}, corrupt {}, missing {}, undecodable {}), possibly lost by an earlier \
                 crash {}, {} bytes",
                sp.next_seq,
                sp.appended,
                sp.acked,
                sp.recovered,
                sp.resent,
                sp.pending_records,
                sp.dropped_cap_reached,
                sp.dropped_corrupt,
                sp.dropped_missing,
                sp.undecodable,
                sp.possibly_lost,
                sp.bytes
            )?;
    }
    if report.stats.loss_reports_sent > 0 || report.stats.loss_report_failures > 0 {
        write!(
            f,
            "; loss reports sent {} (failed sends {})",
            report.stats.loss_reports_sent, report.stats.loss_report_failures
        )?;
    }
    for u in &report.unsent {
        write!(f, "\n  not sent: {u}")?;
    }
    Ok(())
}

/// Lines handed from the input thread to the bridge together: the text of one read's complete
/// lines as read (each ended by `\n`, the last one of the input perhaps not; checked to be UTF-8
/// once for all of them, not copied per line), where each line ends, then what comes after them.
/// The bridge's thread numbers the lines.
struct Chunk {
    text: String,
    /// The index in `text` of each line's `\n` (`text.len()` for a last line without one).
    ends: Vec<usize>,
    then: Option<Then>,
}

impl Chunk {
    fn new(text: String, then: Option<Then>) -> Chunk {
        let mut ends = Vec::new();
        push_newlines(text.as_bytes(), &mut ends);
        if ends.last().map_or(0, |&nl| nl + 1) < text.len() {
            ends.push(text.len());
        }
        Chunk { text, ends, then }
    }

    /// Line `k` of the chunk (`start`: where it begins, the end of line `k - 1` plus one),
    /// without its `\n` and a `\r` before that.
    fn line(&self, k: usize, start: usize) -> &str {
        let line = &self.text[start..self.ends[k]];
        // `\r` is ASCII: cutting before it keeps a char boundary.
        line.strip_suffix('\r').unwrap_or(line)
    }
}

/// What follows a chunk's lines.
enum Then {
    /// A line that cannot be an event (it is counted as the next line).
    Bad(BadLine),
    Eof,
    Error(io::Error),
}

/// Why a line cannot be an event, found on the input thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BadLine {
    /// Longer than [`MAX_EVENT_LINE_LEN`] before its `\n` (a `\r` before the `\n` counts).
    TooLong,
    NotUtf8,
}

impl BadLine {
    /// The report of line `line_no`.
    fn message(self, line_no: u64) -> String {
        match self {
            BadLine::TooLong => format!(
                "line {line_no}: line is longer than the limit of {MAX_EVENT_LINE_LEN} bytes"
            ),
            BadLine::NotUtf8 => format!("line {line_no}: not valid UTF-8"),
        }
    }
}

/// Pushes the index of every `\n` in `b` to `ends`, in order: 32 bytes (four words) per step,
/// and only a step with a `\n` looks at its words one by one.
fn push_newlines(b: &[u8], ends: &mut Vec<usize>) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const NL: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    // 0x80 in each byte of `w` that is `\n`, and nothing in any other byte: a byte's low seven
    // bits plus 0x7f carry into its top bit unless they are all zero, and never into the next
    // byte (Hacker's Delight 6-1, exact, unlike the shorter test that may flag a byte above a
    // match).
    let flags = |w: u64| {
        let x = w ^ NL;
        !((x & LOW7).wrapping_add(LOW7) | x | LOW7)
    };
    let mut blocks = b.chunks_exact(32);
    let mut base = 0;
    for block in &mut blocks {
        let word = |k: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&block[8 * k..8 * k + 8]);
            flags(u64::from_le_bytes(w))
        };
        let m = [word(0), word(1), word(2), word(3)];
        if m[0] | m[1] | m[2] | m[3] != 0 {
            for (k, mut m) in m.into_iter().enumerate() {
                while m != 0 {
                    ends.push(base + 8 * k + (m.trailing_zeros() / 8) as usize);
                    m &= m - 1;
                }
            }
        }
        base += 32;
    }
    for (i, &c) in blocks.remainder().iter().enumerate() {
        if c == b'\n' {
            ends.push(base + i);
        }
    }
}

/// Reads lines of at most `MAX_EVENT_LINE_LEN` bytes, never buffering more than that and one read
/// of a line, and hands them over in chunks (see [`Chunk`], [`READ_SIZE`]).
fn read_lines<R: Read>(input: R, out: crossbeam_channel::Sender<Chunk>) {
    // Reads land in the `BufReader`'s buffer, which is reused as it is (a `Vec`'s spare room
    // would have to be zeroed before each read, 64 KiB even when a FIFO's writer gave one line),
    // and are copied once, whole, into the chunk.
    let mut input = io::BufReader::with_capacity(READ_SIZE, input);
    // The start of a line (no `\n` in it) and what the next read adds: each read's whole lines
    // leave at once, as one chunk.
    let mut buf: Vec<u8> = Vec::new();
    // The rest of a line that was too long is being skipped (up to its `\n`).
    let mut skipping = false;
    loop {
        let old = buf.len();
        let n = match input.fill_buf() {
            Ok(data) => {
                buf.extend_from_slice(data);
                data.len()
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // The start of an unfinished line is not a line.
                buf.clear();
                send_lines(&out, buf, Some(Then::Error(e)));
                return;
            }
        };
        input.consume(n);
        if n == 0 {
            if skipping {
                if !send_lines(&out, buf, Some(Then::Bad(BadLine::TooLong))) {
                    return;
                }
                buf = Vec::new();
            }
            // The last line may lack its `\n`.
            send_lines(&out, buf, Some(Then::Eof));
            return;
        }
        let mut from = old;
        if skipping {
            let Some(nl) = crate::util::find_byte(&buf, old, b'\n') else {
                buf.truncate(old);
                continue;
            };
            // The long line ends here: report it after the lines before it, go on after it.
            skipping = false;
            let rest = buf[nl + 1..].to_vec();
            buf.truncate(old);
            if !send_lines(&out, buf, Some(Then::Bad(BadLine::TooLong))) {
                return;
            }
            buf = rest;
            from = 0;
        }
        // The line that was started before this read may have grown too long.
        if buf.len() > MAX_EVENT_LINE_LEN {
            match crate::util::find_byte(&buf, from, b'\n') {
                Some(nl) if nl <= MAX_EVENT_LINE_LEN => {}
                found => {
                    let rest = found.map(|nl| buf[nl + 1..].to_vec());
                    buf.clear();
                    match rest {
                        None => {
                            // Do not keep the long line's capacity while skipping the rest.
                            buf.shrink_to(READ_SIZE);
                            skipping = true;
                            continue;
                        }
                        Some(rest) => {
                            if !send_lines(&out, buf, Some(Then::Bad(BadLine::TooLong))) {
                                return;
                            }
                            buf = rest;
                            from = 0;
                        }
                    }
                }
            }
        }
        // Hand over the complete lines; the start of the next one begins the next chunk.
        // Only the bytes read since the last look can hold a `\n` (`from`: the partial line before
        // them has none).
        let Some(last) = buf[from..].iter().rposition(|&c| c == b'\n') else {
            continue;
        };
        let tail_at = from + last + 1;
        // Sized for a read like this one and the unfinished line.
        let mut next = Vec::with_capacity(n + (buf.len() - tail_at));
        next.extend_from_slice(&buf[tail_at..]);
        buf.truncate(tail_at);
        if !send_lines(&out, buf, None) {
            return;
        }
        buf = next;
    }
}

/// Sends `text` (whole lines) and `then` as chunks: one when the text is UTF-8, else the lines
/// before each line that is not, that line as [`BadLine::NotUtf8`], and so on. False when the
/// bridge side is gone.
fn send_lines(out: &crossbeam_channel::Sender<Chunk>, text: Vec<u8>, then: Option<Then>) -> bool {
    let mut text = text;
    loop {
        match String::from_utf8(text) {
            Ok(text) => {
                return (text.is_empty() && then.is_none())
                    || out.send(Chunk::new(text, then)).is_ok();
            }
            Err(e) => {
                let bad = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                let start = bytes[..bad]
                    .iter()
                    .rposition(|&c| c == b'\n')
                    .map_or(0, |i| i + 1);
                let rest = crate::util::find_byte(&bytes, bad, b'\n')
                    .map_or_else(Vec::new, |nl| bytes[nl + 1..].to_vec());
                let good =
                    String::from_utf8(bytes[..start].to_vec()).expect("valid up to the bad line");
                let chunk = Chunk::new(good, Some(Then::Bad(BadLine::NotUtf8)));
                if out.send(chunk).is_err() {
                    return false;
                }
                text = rest;
            }
        }
    }
}

/// Opens `--input`: a regular file for reading; a FIFO (named pipe) for reading and writing, so
/// that the run does not see end of input when the last writer closes it (a service fed through a
/// FIFO runs until SIGTERM or SIGINT, and writers may come and go).
fn open_input(p: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::FileTypeExt;
    let fifo = std::fs::metadata(p)?.file_type().is_fifo();
    std::fs::OpenOptions::new().read(true).write(fifo).open(p)
}

/// Runs the bridge over NDJSON input (stdin when `input` is `None`) until end of input, SIGINT or
/// SIGTERM. Bad lines and failed sends are reported on stderr as they happen.
///
/// # Errors
/// [`RunError`] when the config, the bridge, the input or the signal handlers cannot be set up.
pub fn run(config: &Path, input: Option<&Path>) -> Result<RunSummary, RunError> {
    let cfg = BridgeConfig::load(config).map_err(RunError::Config)?;
    let reader: Box<dyn Read + Send> = match input {
        Some(p) => Box::new(open_input(p).map_err(|source| RunError::Input {
            path: p.to_owned(),
            source,
        })?),
        None => Box::new(io::stdin()),
    };
    sys::install_signal_flags().map_err(RunError::Signals)?;
    let drain = cfg.drain_timeout;
    let bridge = Bridge::start(cfg).map_err(RunError::Start)?;
    super::notify::notify_logged("READY=1\nSTATUS=forwarding events");
    let (tx, rx) = bounded(LINE_QUEUE);
    // The reader thread may stay blocked in read(2) on stdin after a signal; it ends with the process.
    std::thread::Builder::new()
        .name("bridge-input".into())
        .spawn(move || read_lines(reader, tx))
        .expect("spawn input thread");
    let input_name = input.map_or_else(|| "stdin".to_owned(), |p| p.display().to_string());
    // Signals are watched on their own thread: a send blocked on a full budget
    // (`buffer.overflow = block` while the broker takes nothing) must not keep SIGINT/SIGTERM from
    // ending the run. On a stop signal the watcher closes the bridge's intake, which frees the
    // blocked send (its event is counted as dropped at shutdown); the pump then sees the reason.
    let stop_reason: OnceLock<String> = OnceLock::new();
    let pump_done = AtomicBool::new(false);
    let lines_read = AtomicU64::new(0);
    // The same thread shows the progress line: only for a file on a terminal.
    let mut progress = (input.is_some() && io::stderr().is_terminal()).then(Progress::new);
    // Dropped when the pump ends: the signal thread's wait between polls ends at once, so the
    // drain does not begin up to a poll interval late.
    let (pump_end_tx, pump_end_rx) = crossbeam_channel::bounded::<()>(0);
    let (lines, events, bad_lines, send_errors, ended_by) = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("bridge-signals".into())
            .spawn_scoped(s, || {
                while !pump_done.load(Ordering::SeqCst) {
                    if let Some(why) = handle_signals(&bridge, config) {
                        let _ = stop_reason.set(why);
                        bridge.close_intake();
                        return;
                    }
                    if let Some(p) = progress.as_mut() {
                        p.tick(&lines_read, || bridge.stats().total().sent);
                    }
                    if let Err(crossbeam_channel::RecvTimeoutError::Disconnected) =
                        pump_end_rx.recv_timeout(SIGNAL_POLL)
                    {
                        return;
                    }
                }
            })
            .expect("spawn signal thread");
        let r = pump(&bridge, &rx, &stop_reason, &input_name, &lines_read);
        pump_done.store(true, Ordering::SeqCst);
        drop(pump_end_tx);
        r
    });
    if let Some(p) = &progress {
        p.clear();
    }
    super::notify::notify_logged("STOPPING=1\nSTATUS=draining");
    let report = bridge.shutdown(drain);
    Ok(RunSummary {
        lines,
        events,
        bad_lines,
        send_errors,
        ended_by,
        report,
    })
}

fn pump(
    bridge: &Bridge,
    rx: &Receiver<Chunk>,
    stop: &OnceLock<String>,
    input: &str,
    lines_read: &AtomicU64,
) -> (u64, u64, u64, u64, String) {
    let sender = bridge.sender();
    // The events of a chunk go to the dispatcher together: one channel operation per
    // `CHUNK_MAX` messages, and whatever is kept is handed over before waiting for more input
    // (and when this returns: dropping it hands over the rest).
    let mut chunk_sender = sender.chunk_sender();
    let ticker = tick(SIGNAL_POLL);
    let (mut lines, mut events, mut bad, mut send_errors) = (0u64, 0u64, 0u64, 0u64);
    // The chunk being worked through, its next line and where that begins.
    let mut chunk = Chunk::new(String::new(), None);
    let (mut next, mut start) = (0, 0);
    // One event parsed into line after line: its strings' buffers are reused.
    let mut ev = Event::new(crate::bridge::EventKind::ClientConnected);
    loop {
        if let Some(why) = stop.get() {
            return (lines, events, bad, send_errors, why.clone());
        }
        if next < chunk.ends.len() {
            let line = chunk.line(next, start);
            start = chunk.ends[next] + 1;
            next += 1;
            lines += 1;
            lines_read.store(lines, Ordering::Relaxed);
            if line.trim().is_empty() {
                continue;
            }
            match ev.read_json_line(line, lines) {
                Err(e) => {
                    bad += 1;
                    report!("rocketmq-bridge: {input}: {e} (skipped)");
                }
                Ok(()) => {
                    events += 1;
                    if let Err(e) = chunk_sender.send_mut(&mut ev) {
                        send_errors += 1;
                        report!("rocketmq-bridge: {input}: line {lines}: {e}");
                    }
                }
            }
            continue;
        }
        if let Err(e) = chunk_sender.flush() {
            send_errors += 1;
            report!("rocketmq-bridge: {input}: after line {lines}: {e}");
        }
        match chunk.then.take() {
            None => {
                select! {
                    recv(rx) -> c => {
                        chunk = c.unwrap_or_else(|_| Chunk::new(String::new(), Some(Then::Eof)));
                        (next, start) = (0, 0);
                    }
                    recv(ticker) -> _ => {}
                }
            }
            Some(Then::Eof) => return (lines, events, bad, send_errors, "end of input".to_owned()),
            Some(Then::Error(e)) => {
                return (
                    lines,
                    events,
                    bad,
                    send_errors,
                    format!("input error on {input}: {e}"),
                );
            }
            Some(Then::Bad(why)) => {
                lines += 1;
                lines_read.store(lines, Ordering::Relaxed);
                bad += 1;
                report!("rocketmq-bridge: {input}: {} (skipped)", why.message(lines));
            }
        }
    }
}

/// The progress line's state: when it was last written and the count of sent messages then.
struct Progress {
    start: Instant,
    last: Instant,
    last_sent: u64,
    shown: bool,
}

impl Progress {
    fn new() -> Progress {
        let now = Instant::now();
        Progress {
            start: now,
            last: now,
            last_sent: 0,
            shown: false,
        }
    }

    /// Rewrites the line when [`PROGRESS_EVERY`] has passed since the last one.
    fn tick(&mut self, lines_read: &AtomicU64, sent: impl FnOnce() -> u64) {
        let now = Instant::now();
        let since = now.duration_since(self.last);
        if since < PROGRESS_EVERY {
            return;
        }
        let sent = sent();
        let line = progress_line(
            lines_read.load(Ordering::Relaxed),
            sent,
            sent.saturating_sub(self.last_sent),
            since,
            now.duration_since(self.start),
        );
        // A failed write to the terminal only loses the progress line.
        let _ = write!(io::stderr().lock(), "\r\x1b[K{line}");
        self.last = now;
        self.last_sent = sent;
        self.shown = true;
        PROGRESS_ON.store(true, Ordering::Relaxed);
    }

    /// Erases the line (before the summary is printed).
    fn clear(&self) {
        PROGRESS_ON.store(false, Ordering::Relaxed);
        if self.shown {
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
        }
    }
}

/// The text of the progress line: `lines` read so far, `sent` messages confirmed so far, of which
/// `sent_recent` within the last `interval`, `elapsed` since the start.
pub fn progress_line(
    lines: u64,
    sent: u64,
    sent_recent: u64,
    interval: Duration,
    elapsed: Duration,
) -> String {
    let secs = interval.as_secs_f64();
    let rate = if secs > 0.0 {
        sent_recent as f64 / secs
    } else {
        0.0
    };
    format!(
        "rocketmq-bridge: {lines} lines read, {sent} messages sent, {rate:.0} msg/s, {}s",
        elapsed.as_secs()
    )
}

/// Acts on pending signals: SIGHUP reloads, SIGINT/SIGTERM end the run (returned as the reason).
pub(super) fn handle_signals(bridge: &Bridge, config: &Path) -> Option<String> {
    let mut stop = None;
    for s in sys::take_signals() {
        match s {
            Signal::Hangup => {
                super::notify::notify_logged("RELOADING=1");
                match BridgeConfig::load(config).map(|cfg| bridge.reload(cfg)) {
                    Ok(Ok(())) => report!(
                        "rocketmq-bridge: SIGHUP: rules reloaded from {} (ACL keys and TLS files re-read)",
                        config.display()
                    ),
                    Ok(Err(e)) => {
                        report!("rocketmq-bridge: SIGHUP: reload refused, old rules, ACL keys and TLS files kept: {e}")
                    }
                    Err(e) => {
                        report!("rocketmq-bridge: SIGHUP: reload refused, old rules, ACL keys and TLS files kept: {e}")
                    }
                }
                // The old or the new rules are in force either way.
                super::notify::notify_logged("READY=1");
            }
            Signal::Interrupt => stop = Some("SIGINT".to_owned()),
            Signal::Terminate => stop = Some("SIGTERM".to_owned()),
        }
    }
    stop
}

/// The `run` subcommand's exit code for a finished run: 0 when every matched event was confirmed.
pub fn exit_code(summary: &RunSummary) -> ExitCode {
    if summary.all_sent() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests;
