//! A tiny HTTP/1.1 endpoint over `std::net` for `GET /metrics` (Prometheus text exposition format
//! 0.0.4) and `GET /health` (200 or 503 with a small JSON body).
//!
//! The bridge supplies two closures: one returning a snapshot of [`Metric`]s, one returning a
//! [`Health`]. The server answers one request per connection (`Connection: close`). Every request
//! is bounded: at most [`MAX_REQUEST_BYTES`] of request head, read within the request timeout
//! (default [`REQUEST_TIMEOUT`]), answered with a write timeout of the same length. Garbage gets
//! `400`, an oversized head `431`, methods other than `GET` `405`, other paths `404`, and a
//! panicking closure `500`; nothing a client sends can stop the server. It binds loopback addresses
//! only.
//!
//! One accept thread hands each connection to a thread of its own, at most [`MAX_CONNECTIONS`] at
//! once, so a client that sends nothing or reads its answer slowly holds only its own thread (for
//! at most twice the request timeout plus a short linger) and never delays `/health` for the
//! others. Past the cap the accept thread serves the connection itself within
//! [`BUSY_TIMEOUT`]: a client that sends its request at once is still answered, a silent one
//! costs the others at most that. Dropping the [`MetricsServer`] stops the accept thread and
//! joins it and every connection thread.
//!
//! ```no_run
//! use rocketmq_bridge::metrics::{Health, Metric, MetricsServer};
//!
//! let server = MetricsServer::start(
//!     "127.0.0.1:9464",
//!     || vec![Metric::counter("bridge_sent_total", "Events sent", 42.0).label("rule", "r1")],
//!     || Health::new(true, serde_json::json!({"status": "ok"})),
//! )
//! .unwrap();
//! println!("scrape http://{}/metrics", server.local_addr());
//! ```

use crate::util::worker::{Stop, Worker};
use std::fmt::{self, Write as _};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest request head (request line plus headers) the server reads, in bytes (8 KiB).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Default time a client gets to send its request head, and to take the answer (2 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections served at once, each on its own thread (16). Past this the accept thread serves a
/// connection itself within [`BUSY_TIMEOUT`].
pub const MAX_CONNECTIONS: usize = 16;
/// Time a connection over [`MAX_CONNECTIONS`] gets to send its request, to take the answer, and
/// to close (10 ms each; a loopback client sends its request within microseconds of connecting).
/// A silent one is dropped after the first without lingering, so each connection an attacker
/// queues past the cap costs the clients behind it at most 10 ms (a full accept backlog of 128
/// silent connections about 1.3 s), not 200 ms.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(10);

/// The Prometheus metric type of a [`Metric`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricType {
    /// A value that only goes up (conventionally named `*_total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
        }
    }
}

/// One sample: a name, its help text and type, labels, and a value.
///
/// Samples that share a name form one metric family; [`render`] writes its `# HELP` and `# TYPE`
/// lines once (from the first sample of the family) and its samples together.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Metric name; characters outside `[a-zA-Z0-9_:]` (and a leading digit) are written as `_`.
    pub name: String,
    /// Help text (escaped on output).
    pub help: String,
    /// Counter or gauge.
    pub kind: MetricType,
    /// Label pairs in output order; names are sanitised like metric names (without `:`), values
    /// escaped.
    pub labels: Vec<(String, String)>,
    /// The value (`NaN` and infinities are written as Prometheus spells them).
    pub value: f64,
}

impl Metric {
    /// A counter sample.
    pub fn counter(name: &str, help: &str, value: f64) -> Metric {
        Metric {
            name: name.to_owned(),
            help: help.to_owned(),
            kind: MetricType::Counter,
            labels: Vec::new(),
            value,
        }
    }

    /// A gauge sample.
    pub fn gauge(name: &str, help: &str, value: f64) -> Metric {
        Metric {
            kind: MetricType::Gauge,
            ..Metric::counter(name, help, value)
        }
    }

    /// Adds a label.
    pub fn label(mut self, name: &str, value: &str) -> Metric {
        self.labels.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// What `GET /health` answers: `200` with `body` when healthy, `503` with it otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// Healthy or not.
    pub healthy: bool,
    /// The JSON body (for example the status, the last successful send, the reason).
    pub body: serde_json::Value,
}

impl Health {
    /// A health answer.
    pub fn new(healthy: bool, body: serde_json::Value) -> Health {
        Health { healthy, body }
    }
}

/// Why the server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum MetricsError {
    /// The address does not parse or resolve.
    Address {
        /// The address given.
        addr: String,
    },
    /// The address is not a loopback address (the endpoint is for local scrapers only).
    NotLoopback {
        /// The address given.
        addr: String,
    },
    /// Binding or starting the thread failed.
    Io {
        /// The address given.
        addr: String,
        /// The cause.
        source: io::Error,
    },
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsError::Address { addr } => write!(f, "metrics address {addr:?} is not valid"),
            MetricsError::NotLoopback { addr } => {
                write!(f, "metrics address {addr} is not a loopback address")
            }
            MetricsError::Io { addr, .. } => write!(f, "metrics endpoint on {addr} failed"),
        }
    }
}

impl std::error::Error for MetricsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MetricsError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn sanitize(name: &str, allow_colon: bool) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

fn escape(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Renders samples in the Prometheus text exposition format (version 0.0.4): per family one
/// `# HELP` and one `# TYPE` line, then its samples, families in order of first appearance.
pub fn render(metrics: &[Metric]) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut families: std::collections::HashMap<String, Vec<&Metric>> =
        std::collections::HashMap::new();
    for m in metrics {
        let name = sanitize(&m.name, true);
        families
            .entry(name.clone())
            .or_insert_with(|| {
                order.push(name);
                Vec::new()
            })
            .push(m);
    }
    let mut out = String::new();
    for name in order {
        let samples = &families[&name];
        let first = samples[0];
        out.push_str("# HELP ");
        out.push_str(&name);
        out.push(' ');
        escape(&mut out, &first.help, false);
        out.push('\n');
        let _ = writeln!(out, "# TYPE {name} {}", first.kind.as_str());
        for m in samples {
            out.push_str(&name);
            if !m.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in m.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&sanitize(k, false));
                    out.push_str("=\"");
                    escape(&mut out, v, true);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            write_value(&mut out, m.value);
            out.push('\n');
        }
    }
    out
}

type MetricsFn = dyn Fn() -> Vec<Metric> + Send + Sync;
type HealthFn = dyn Fn() -> Health + Send + Sync;

/// The running endpoint. Dropping it stops and joins its thread.
pub struct MetricsServer {
    addr: SocketAddr,
    /// The accept thread (its stop is checked after each accepted connection).
    worker: Option<Worker>,
}

impl fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Binds `addr` (a loopback address; port 0 picks a free port) and serves with the default
    /// [`REQUEST_TIMEOUT`].
    ///
    /// # Errors
    /// [`MetricsError::Address`], [`MetricsError::NotLoopback`] or [`MetricsError::Io`].
    pub fn start(
        addr: &str,
        metrics: impl Fn() -> Vec<Metric> + Send + Sync + 'static,
        health: impl Fn() -> Health + Send + Sync + 'static,
    ) -> Result<MetricsServer, MetricsError> {
        MetricsServer::start_with(addr, REQUEST_TIMEOUT, metrics, health)
    }

    /// As [`MetricsServer::start`] with a request timeout of `timeout`.
    ///
    /// # Errors
    /// As [`MetricsServer::start`].
    pub fn start_with(
        addr: &str,
        timeout: Duration,
        metrics: impl Fn() -> Vec<Metric> + Send + Sync + 'static,
        health: impl Fn() -> Health + Send + Sync + 'static,
    ) -> Result<MetricsServer, MetricsError> {
        let sa = addr
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| MetricsError::Address {
                addr: addr.to_owned(),
            })?;
        if !sa.ip().is_loopback() {
            return Err(MetricsError::NotLoopback {
                addr: addr.to_owned(),
            });
        }
        let io_err = |source| MetricsError::Io {
            addr: addr.to_owned(),
            source,
        };
        let listener = TcpListener::bind(sa).map_err(io_err)?;
        let local = listener.local_addr().map_err(io_err)?;
        let handlers = Arc::new(Handlers {
            metrics: Box::new(metrics),
            health: Box::new(health),
        });
        let worker = Worker::spawn(&format!("metrics-{}", local.port()), move |stop| {
            serve(listener, &stop, timeout, handlers)
        })
        .map_err(io_err)?;
        log::debug!("metrics: listening on {local}");
        Ok(MetricsServer {
            addr: local,
            worker: Some(worker),
        })
    }

    /// The bound address (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(mut w) = self.worker.take() {
            w.signal_stop();
            // Wake the blocking accept with a connection of our own.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            w.join();
        }
    }
}

/// The two closures, shared by the connection threads.
struct Handlers {
    metrics: Box<MetricsFn>,
    health: Box<HealthFn>,
}

/// Serves one connection: the request within `timeout`, then the linger (on the accept thread,
/// `inline`, only for a client that sent a request: a silent one must not cost twice).
fn serve_one(
    mut s: TcpStream,
    timeout: Duration,
    linger_for: Duration,
    h: &Handlers,
    inline: bool,
) {
    let peer = s.peer_addr().ok();
    let got_request = match handle(&mut s, timeout, &*h.metrics, &*h.health) {
        Ok(got) => got,
        Err(e) => {
            log::debug!("metrics: client {peer:?}: {e}");
            false
        }
    };
    if got_request || !inline {
        linger(&mut s, linger_for);
    }
}

fn serve(listener: TcpListener, stop: &Stop, timeout: Duration, h: Arc<Handlers>) {
    let mut workers: Vec<Worker> = Vec::with_capacity(MAX_CONNECTIONS);
    for conn in listener.incoming() {
        if stop.is_stopped() {
            break;
        }
        match conn {
            Ok(s) => {
                workers.retain(|w| !w.is_finished());
                if workers.len() >= MAX_CONNECTIONS {
                    log::debug!("metrics: {MAX_CONNECTIONS} connections busy; serving one inline within {BUSY_TIMEOUT:?}");
                    serve_one(s, BUSY_TIMEOUT, BUSY_TIMEOUT, &h, true);
                    continue;
                }
                let h2 = Arc::clone(&h);
                // A connection thread ends within its timeouts, not on a stop signal.
                match Worker::spawn("metrics-conn", move |_stop| {
                    serve_one(s, timeout, LINGER, &h2, false)
                }) {
                    Ok(w) => workers.push(w),
                    // The connection is closed unanswered (the closure is dropped).
                    Err(e) => log::debug!("metrics: cannot start a connection thread: {e}"),
                }
            }
            Err(e) => {
                log::debug!("metrics: accept: {e}");
                // Out of descriptors and the like: do not spin.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    // Each connection thread ends within its timeouts.
    for w in workers {
        w.join();
    }
}

/// Closes our side, then discards (bounded by `wait` and [`LINGER_BYTES`]) what the client still
/// sends, so that closing with unread bytes does not reset the connection before the client read
/// our answer.
fn linger(s: &mut TcpStream, wait: Duration) {
    let _ = s.shutdown(std::net::Shutdown::Write);
    let _ = s.set_read_timeout(Some(wait));
    let deadline = Instant::now() + wait;
    let mut chunk = [0u8; 4096];
    let mut left = LINGER_BYTES;
    while left > 0 && Instant::now() < deadline {
        match s.read(&mut chunk) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// How long [`linger`] waits for the client to finish sending.
const LINGER: Duration = Duration::from_millis(200);
/// How much [`linger`] reads at most.
const LINGER_BYTES: usize = 64 * 1024;

/// Reads the request head: `Ok(Some(head))`, `Ok(None)` when it was over the limit.
fn read_head(s: &mut TcpStream, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        s.set_read_timeout(Some(left))?;
        let n = match s.read(&mut chunk) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return Ok(Some(buf));
        }
        if buf.len() > MAX_REQUEST_BYTES {
            return Ok(None);
        }
    }
}

fn respond(s: &mut TcpStream, status: &str, ctype: &str, body: &[u8]) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    s.write_all(&out)?;
    s.flush()
}

const TEXT: &str = "text/plain; charset=utf-8";

/// Answers one request; `Ok(false)` when none came within `timeout` (answered `408`).
fn handle(
    s: &mut TcpStream,
    timeout: Duration,
    metrics: &MetricsFn,
    health: &HealthFn,
) -> io::Result<bool> {
    s.set_write_timeout(Some(timeout))?;
    let head = match read_head(s, timeout) {
        Ok(Some(h)) => h,
        Ok(None) => {
            return respond(
                s,
                "431 Request Header Fields Too Large",
                TEXT,
                b"request head too large\n",
            )
            .map(|()| true)
        }
        Err(e) if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock => {
            return respond(s, "408 Request Timeout", TEXT, b"request timeout\n").map(|()| false);
        }
        Err(e) => return Err(e),
    };
    answer(s, &head, metrics, health).map(|()| true)
}

fn answer(
    s: &mut TcpStream,
    head: &[u8],
    metrics: &MetricsFn,
    health: &HealthFn,
) -> io::Result<()> {
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(head.len());
    let line = std::str::from_utf8(&head[..line_end]).unwrap_or("");
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(target), Some(version), None) = (method, target, version, parts.next())
    else {
        return respond(s, "400 Bad Request", TEXT, b"bad request line\n");
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') || method.is_empty() {
        return respond(s, "400 Bad Request", TEXT, b"bad request line\n");
    }
    let path = target.split('?').next().unwrap_or(target);
    if method != "GET" {
        return respond(s, "405 Method Not Allowed", TEXT, b"only GET\n");
    }
    match path {
        "/metrics" => match catch_unwind(AssertUnwindSafe(|| render(&metrics()))) {
            Ok(body) => respond(
                s,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                body.as_bytes(),
            ),
            Err(_) => respond(
                s,
                "500 Internal Server Error",
                TEXT,
                b"metrics snapshot failed\n",
            ),
        },
        "/health" => match catch_unwind(AssertUnwindSafe(health)) {
            Ok(h) => {
                let body = h.body.to_string();
                let status = if h.healthy {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                respond(s, status, "application/json", body.as_bytes())
            }
            Err(_) => respond(
                s,
                "500 Internal Server Error",
                TEXT,
                b"health check failed\n",
            ),
        },
        _ => respond(s, "404 Not Found", TEXT, b"not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_grouped_and_labels_escaped() {
        let ms = vec![
            Metric::counter("sent_total", "Events sent", 3.0).label("rule", "a"),
            Metric::gauge("depth", "Queue\\depth\nnow", 7.0),
            Metric::counter("sent_total", "ignored", 4.0).label("rule", "b\"\\\nc"),
            Metric::gauge("9bad-name", "x", f64::NAN).label("bad-label", "v"),
            Metric::gauge("inf", "x", f64::NEG_INFINITY),
            Metric::gauge("frac", "x", 0.25),
        ];
        assert_eq!(
            render(&ms),
            "# HELP sent_total Events sent\n\
             # TYPE sent_total counter\n\
             sent_total{rule=\"a\"} 3\n\
             sent_total{rule=\"b\\\"\\\\\\nc\"} 4\n\
             # HELP depth Queue\\\\depth\\nnow\n\
             # TYPE depth gauge\n\
             depth 7\n\
             # HELP _9bad_name x\n\
             # TYPE _9bad_name gauge\n\
             _9bad_name{bad_label=\"v\"} NaN\n\
             # HELP inf x\n\
             # TYPE inf gauge\n\
             inf -Inf\n\
             # HELP frac x\n\
             # TYPE frac gauge\n\
             frac 0.25\n"
        );
        assert_eq!(render(&[]), "");
    }
}
