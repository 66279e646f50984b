//! Name servers: route lookup over a list with failover, tolerant route parsing, and a route
//! cache with a periodic refresh thread.

mod cache;
mod client;
mod key_queue;
pub mod lenient_json;
#[doc(hidden)]
pub mod oracle;
pub mod route;

pub use cache::{RouteCache, RouteCacheConfig};
pub use client::NameServerClient;
pub use key_queue::key_queue_among;
pub use route::{BrokerData, MessageQueue, QueueData, TopicPublishInfo, TopicRouteData};

use std::fmt;

/// The topic new topics are created from when a broker allows auto-creation.
pub const DEFAULT_TOPIC: &str = "TBW102";

/// Route lookup errors.
///
/// **Each cause is printed once** (the crate-wide rule): when `source()` returns a cause,
/// `Display` does not print it; when `Display` prints an inner error as part of its own message,
/// `source()` skips that inner error and returns the inner error's own `source()`.
/// [`Error::Unreachable`] leaves the last transport error to `source()`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No name server address was configured.
    NoNameServer,
    /// The topic exists on no name server (and, where the fallback applies, neither does TBW102,
    /// so brokers will not create it: auto-creation is off).
    TopicNotExist {
        /// The topic.
        topic: String,
        /// True when the TBW102 fallback was tried and also failed.
        default_tried: bool,
    },
    /// The topic exists but no queue is writable (permissions, or no master).
    NoWritableQueue {
        /// The topic.
        topic: String,
    },
    /// A name server answered with an error code.
    Remote {
        /// Name server address.
        addr: String,
        /// Response code.
        code: i32,
        /// Its remark.
        remark: String,
    },
    /// Every name server failed at the transport level; the last error is kept.
    Unreachable {
        /// Addresses tried.
        tried: Vec<String>,
        /// The last failure.
        last: crate::remoting::Error,
    },
    /// The route body is malformed.
    InvalidRoute {
        /// What is wrong.
        reason: String,
    },
    /// The route body is not JSON (after quoting bare integer keys). Printed with serde_json's
    /// description, so `source()` does not return it again.
    RouteNotJson(serde_json::Error),
    /// The route announces more than one of the caps of [`route`] allows (queues per broker entry
    /// or in total, broker entries, addresses, string lengths, body size). Refused before anything
    /// is allocated per announced item.
    RouteOverCap {
        /// What is over its cap, e.g. `"writeQueueNums"` or `"queues in total"`.
        what: &'static str,
        /// The broker entry concerned, when there is one.
        broker: Option<String>,
        /// The count (or length) the name server announced.
        count: u64,
        /// The cap.
        max: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoNameServer => write!(f, "no name server address configured"),
            Error::TopicNotExist { topic, default_tried: true } => write!(
                f,
                "topic {topic} does not exist and cannot be auto-created (no {DEFAULT_TOPIC} route: auto-creation is off); create it first"
            ),
            Error::TopicNotExist { topic, default_tried: false } => write!(f, "topic {topic} does not exist"),
            Error::NoWritableQueue { topic } => write!(f, "topic {topic} has no writable queue"),
            Error::Remote { addr, code, remark } => write!(
                f,
                "name server {addr} answered code {code} ({}): {remark}",
                crate::remoting::codes::response_name(*code)
            ),
            Error::Unreachable { tried, .. } => write!(f, "no name server reachable (tried {})", tried.join(", ")),
            Error::InvalidRoute { reason } => write!(f, "invalid route data: {reason}"),
            Error::RouteNotJson(e) => write!(f, "invalid route data: not JSON: {e}"),
            Error::RouteOverCap {
                what,
                broker,
                count,
                max,
            } => {
                write!(f, "route refused: {what} {count}")?;
                if let Some(b) = broker {
                    write!(f, " of broker {b}")?;
                }
                write!(f, " exceeds the cap {max}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Unreachable { last, .. } => Some(last),
            _ => None,
        }
    }
}
