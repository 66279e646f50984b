//! Errors of the connection layer.
//!
//! **Each cause is printed once** (the crate-wide rule): when `source()` returns a cause,
//! `Display` does not print it; when `Display` prints an inner error as part of its own message,
//! `source()` skips that inner error and returns the inner error's own `source()`.
//! Here every cause (an `io::Error`, a [`DecodeError`], an [`EncodeError`]) is left to
//! `source()`.

use super::codec::{DecodeError, EncodeError};
use std::fmt;
use std::io;
use std::time::Duration;

/// What went wrong talking to one peer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Connecting failed (refused, unreachable, or the connect timeout passed).
    Connect {
        /// The peer.
        addr: String,
        /// The cause.
        source: io::Error,
    },
    /// Reading or writing the socket failed.
    Io {
        /// The peer.
        addr: String,
        /// The cause.
        source: io::Error,
    },
    /// The peer sent bytes that are not a valid frame; the connection is closed.
    Decode {
        /// The peer.
        addr: String,
        /// The cause.
        source: DecodeError,
    },
    /// The command could not be encoded.
    Encode(EncodeError),
    /// No response came before the deadline. The request was written (the peer may have acted on it).
    Timeout {
        /// The peer.
        addr: String,
        /// The request id.
        opaque: i32,
        /// The time waited.
        after: Duration,
    },
    /// TLS failed (the `tls` feature): in the handshake (`request_sent: false`), or after it, when
    /// the peer refused the session with an alert (`request_sent: true` for the requests written
    /// by then).
    #[cfg(feature = "tls")]
    Tls {
        /// The peer.
        addr: String,
        /// Why.
        source: super::tls::TlsError,
        /// Whether a request had been written on the session before it failed.
        request_sent: bool,
    },
    /// The connection was closed (by the peer, by an error, or by `close`) before a response came.
    ConnectionClosed {
        /// The peer.
        addr: String,
        /// Whether the request had been fully written before the close.
        request_sent: bool,
    },
}

impl Error {
    /// True for [`Error::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// True when the request may have reached the peer (so its effect is unknown).
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. }
                | Error::Decode { .. }
                | Error::ConnectionClosed {
                    request_sent: true,
                    ..
                }
        ) || self.tls_request_sent() == Some(true)
    }

    /// True when the request certainly never reached the peer.
    pub fn not_sent(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. }
                | Error::Encode(_)
                | Error::ConnectionClosed {
                    request_sent: false,
                    ..
                }
        ) || self.tls_request_sent() == Some(false)
    }

    /// For [`Error::Tls`], whether a request had been written; `None` for other errors.
    fn tls_request_sent(&self) -> Option<bool> {
        match self {
            #[cfg(feature = "tls")]
            Error::Tls { request_sent, .. } => Some(*request_sent),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect { addr, .. } => write!(f, "cannot connect to {addr}"),
            Error::Io { addr, .. } => write!(f, "i/o error on connection to {addr}"),
            Error::Decode { addr, .. } => write!(f, "invalid frame from {addr}"),
            Error::Encode(_) => write!(f, "cannot encode request"),
            Error::Timeout {
                addr,
                opaque,
                after,
            } => {
                write!(
                    f,
                    "no response from {addr} for opaque {opaque} within {after:?}"
                )
            }
            #[cfg(feature = "tls")]
            Error::Tls { addr, source, .. } => write!(f, "TLS with {addr} failed: {source}"),
            Error::ConnectionClosed { addr, request_sent } => {
                write!(
                    f,
                    "connection to {addr} closed (request sent: {request_sent})"
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } | Error::Io { source, .. } => Some(source),
            Error::Decode { source, .. } => Some(source),
            Error::Encode(e) => Some(e),
            // Display prints the TLS reason; its own cause (a rustls error) comes next.
            #[cfg(feature = "tls")]
            Error::Tls { source, .. } => std::error::Error::source(source),
            _ => None,
        }
    }
}
