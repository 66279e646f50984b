//! `rocketmq-bridge status (--config FILE | --addr HOST:PORT)`: asks a running bridge's
//! `GET /health` (served on `bridge.rocket.metrics.listen`), prints the JSON body and exits 0 when
//! healthy, 1 when unhealthy, 2 when the bridge cannot be asked.

use crate::bridge::{BridgeConfig, ConfigError};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Connect, write and read timeout of the status request (2 s each).
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes of an answer read (64 KiB).
const MAX_ANSWER: u64 = 64 * 1024;

/// Why the status could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum StatusError {
    /// The config file is unusable.
    Config(ConfigError),
    /// The config has no `bridge.rocket.metrics.listen`.
    NoEndpoint,
    /// `--addr` is not `ip:port`.
    Address(String),
    /// Connecting, writing or reading failed (is the bridge running?).
    Io {
        /// The endpoint.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
    /// The answer is not an HTTP response with status 200 or 503.
    BadAnswer {
        /// The endpoint.
        addr: SocketAddr,
    },
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusError::Config(e) => write!(f, "{e}"),
            StatusError::NoEndpoint => write!(
                f,
                "the config has no bridge.rocket.metrics.listen, so the bridge serves no status"
            ),
            StatusError::Address(a) => write!(f, "--addr {a:?} is not ip:port"),
            StatusError::Io { addr, .. } => write!(f, "cannot ask http://{addr}/health"),
            StatusError::BadAnswer { addr } => {
                write!(f, "http://{addr}/health gave an unexpected answer")
            }
        }
    }
}

impl std::error::Error for StatusError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Config: `Display` is the config error's own, which writes its cause.
            StatusError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The endpoint from `--addr` or from the config's `metrics.listen`.
///
/// # Errors
/// [`StatusError::Config`], [`StatusError::NoEndpoint`] or [`StatusError::Address`].
pub fn endpoint(config: Option<&str>, addr: Option<&str>) -> Result<SocketAddr, StatusError> {
    if let Some(a) = addr {
        return a.parse().map_err(|_| StatusError::Address(a.to_owned()));
    }
    let cfg = BridgeConfig::load(config.unwrap_or_default()).map_err(StatusError::Config)?;
    cfg.metrics_listen.ok_or(StatusError::NoEndpoint)
}

/// Asks `GET /health` at `addr`: `(healthy, body)`.
///
/// # Errors
/// [`StatusError::Io`] or [`StatusError::BadAnswer`].
pub fn query(addr: SocketAddr) -> Result<(bool, String), StatusError> {
    let io_err = |source| StatusError::Io { addr, source };
    let mut s = TcpStream::connect_timeout(&addr, STATUS_TIMEOUT).map_err(io_err)?;
    s.set_read_timeout(Some(STATUS_TIMEOUT)).map_err(io_err)?;
    s.set_write_timeout(Some(STATUS_TIMEOUT)).map_err(io_err)?;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(io_err)?;
    let mut buf = Vec::new();
    s.take(MAX_ANSWER).read_to_end(&mut buf).map_err(io_err)?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(StatusError::BadAnswer { addr })?;
    let code = head
        .split_whitespace()
        .nth(1)
        .ok_or(StatusError::BadAnswer { addr })?;
    match code {
        "200" => Ok((true, body.to_owned())),
        "503" => Ok((false, body.to_owned())),
        _ => Err(StatusError::BadAnswer { addr }),
    }
}
