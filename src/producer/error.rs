//! Send results and errors. An error hands the messages back so the caller can retry or count
//! them without cloning every message.
//!
//! Causes are typed ([`AttemptError`], [`InvalidMessage`]), never strings.
//!
//! **Each cause is printed once** (the crate-wide rule): when `source()` returns a cause,
//! `Display` does not print it; when `Display` prints an inner error as part of its own message,
//! `source()` skips that inner error and returns the inner error's own `source()`.
//! Here the kinds print their inner error (`no route: {e}`, `not sent: {last}`), so
//! [`SendError::source`](std::error::Error::source) is that error's own cause. Walking the chain
//! (`Display`, then each `source()`) prints every message exactly once.

use crate::message::{Message, MessageError};
use crate::nameserver::MessageQueue;
use crate::remoting::codec::EncodeError;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

/// How the broker stored a message (reference §5.4). Every variant means the message is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Stored.
    SendOk,
    /// Stored, not yet flushed (sync-flush brokers).
    FlushDiskTimeout,
    /// Stored on the master, replication timed out.
    FlushSlaveTimeout,
    /// Stored on the master, no slave available.
    SlaveNotAvailable,
}

/// A successful send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// How it was stored.
    pub status: SendStatus,
    /// The client-side unique id(s) (`UNIQ_KEY`), comma-joined for a batch.
    pub msg_id: String,
    /// The broker's offset message id(s) (`msgId` of the response).
    pub offset_msg_id: String,
    /// The queue written.
    pub queue: MessageQueue,
    /// Offset in the queue (of the first message for a batch).
    pub queue_offset: i64,
    /// Broker address that stored it.
    pub broker_addr: String,
    /// Attempts used (1 = first try).
    pub attempts: u32,
}

/// Why a send failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// The message body is larger than the configured maximum; never sent.
    TooLarge {
        /// Body (or batch body) size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The message cannot be encoded (empty topic, properties too long or malformed).
    InvalidMessage(InvalidMessage),
    /// No route for the topic.
    Route(crate::nameserver::Error),
    /// The broker refused it with a code that means it was not stored and retrying will not help
    /// (or the retryable codes were exhausted and no earlier attempt may have stored it).
    Rejected {
        /// Broker address.
        broker: String,
        /// Response code.
        code: i32,
        /// Response remark.
        remark: String,
    },
    /// The broker refused the request's credentials (code 16 `NO_PERMISSION` for anything but a
    /// broker or topic that takes no writes now): a wrong ACL secret key (the signature does not
    /// match), an unknown access key, no credentials for a broker that requires them, or a user
    /// without the permission. Not stored; not retried, since every broker of a cluster checks the
    /// same credentials.
    AccessDenied {
        /// Broker address.
        broker: String,
        /// The broker's reason (response remark).
        remark: String,
    },
    /// Every attempt failed before the request reached a broker (connect failures, dead
    /// connections): the message is certainly not stored.
    NotSent {
        /// The last failure.
        last: AttemptError,
    },
    /// A request left and no answer came before the deadline, or the connection died after the
    /// write: the broker may or may not have stored it.
    OutcomeUnknown {
        /// Broker address of the last unknown attempt.
        broker: String,
        /// What happened.
        detail: AttemptError,
    },
    /// The broker's job queue is full and the policy is to tell the caller (async only).
    WindowFull {
        /// Broker address.
        broker: String,
    },
    /// The producer is closed.
    Closed,
}

/// Why one send attempt failed: the typed cause that [`SendErrorKind::NotSent`] and
/// [`SendErrorKind::OutcomeUnknown`] carry. `Clone` (a transport error is shared through an
/// `Arc`) because a send keeps its last failure while it retries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AttemptError {
    /// The transport failed (connect, i/o, invalid frame, timeout, connection closed). Printed as
    /// the transport error itself; `source()` is that error's cause.
    Remoting(Arc<crate::remoting::Error>),
    /// The broker answered a code after which another broker is tried
    /// ([`RETRYABLE_CODES`](crate::producer::RETRYABLE_CODES)).
    Code {
        /// Broker address.
        broker: String,
        /// Response code.
        code: i32,
    },
    /// The request was in flight when the producer's shutdown deadline passed.
    ShutdownDeadline,
    /// The broker left every route while the send was queued for it.
    BrokerLeftRoutes {
        /// Broker address.
        broker: String,
    },
    /// No worker for the broker: [`MAX_BROKER_WORKERS`](crate::producer::MAX_BROKER_WORKERS)
    /// broker workers are alive.
    WorkerCap {
        /// Broker address.
        broker: String,
        /// The cap.
        max: usize,
    },
    /// The broker's worker thread could not be spawned. Printed with the spawn error (which is
    /// therefore not returned by `source()`).
    WorkerSpawn {
        /// Broker address.
        broker: String,
        /// The spawn error.
        error: Arc<io::Error>,
    },
    /// The send timeout passed before any attempt was made.
    NoAttempt,
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Remoting(e) => fmt::Display::fmt(e, f),
            AttemptError::Code { broker, code } => write!(
                f,
                "code {code} ({}) from {broker}",
                crate::remoting::codes::response_name(*code)
            ),
            AttemptError::ShutdownDeadline => write!(f, "no response before the shutdown deadline"),
            AttemptError::BrokerLeftRoutes { broker } => {
                write!(f, "broker {broker} left every route")
            }
            AttemptError::WorkerCap { broker, max } => write!(
                f,
                "no worker for broker {broker}: {max} broker workers are alive (the cap)"
            ),
            AttemptError::WorkerSpawn { broker, error } => {
                write!(
                    f,
                    "cannot start a worker thread for broker {broker}: {error}"
                )
            }
            AttemptError::NoAttempt => write!(f, "send timeout passed before any attempt"),
        }
    }
}

impl StdError for AttemptError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            // Printed as the transport error: its cause comes next.
            AttemptError::Remoting(e) => e.source(),
            _ => None,
        }
    }
}

impl From<crate::remoting::Error> for AttemptError {
    fn from(e: crate::remoting::Error) -> Self {
        AttemptError::Remoting(Arc::new(e))
    }
}

/// Why a message cannot be sent as it is (nothing was sent).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidMessage {
    /// A send of no message.
    NoMessage,
    /// A batch of no message.
    EmptyBatch,
    /// The topic is empty or longer than 127 bytes.
    Topic(String),
    /// The messages of a batch name different topics.
    MixedTopics,
    /// The properties or the batch body cannot be encoded. Printed as that error.
    Message(MessageError),
    /// The request cannot be encoded. Printed as that error.
    Encode(EncodeError),
}

impl fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidMessage::NoMessage => write!(f, "no message"),
            InvalidMessage::EmptyBatch => write!(f, "empty batch"),
            InvalidMessage::Topic(t) => write!(f, "invalid topic {t:?}"),
            InvalidMessage::MixedTopics => write!(f, "a batch must have one topic"),
            InvalidMessage::Message(e) => fmt::Display::fmt(e, f),
            InvalidMessage::Encode(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl StdError for InvalidMessage {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            InvalidMessage::Message(e) => e.source(),
            InvalidMessage::Encode(e) => e.source(),
            _ => None,
        }
    }
}

/// A failed send, with the messages handed back.
#[derive(Debug)]
pub struct SendError {
    /// Why.
    pub kind: SendErrorKind,
    /// The messages of the failed send (one, or the batch).
    pub messages: Vec<Message>,
}

impl SendError {
    pub(crate) fn new(kind: SendErrorKind, messages: Vec<Message>) -> SendError {
        SendError { kind, messages }
    }

    /// True when the broker may have stored the message(s).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self.kind, SendErrorKind::OutcomeUnknown { .. })
    }

    /// True when the message(s) are certainly not stored.
    pub fn is_not_stored(&self) -> bool {
        !self.is_outcome_unknown()
    }
}

impl fmt::Display for SendErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendErrorKind::TooLarge { size, max } => {
                write!(f, "message size {size} exceeds maximum {max}")
            }
            SendErrorKind::InvalidMessage(why) => write!(f, "invalid message: {why}"),
            SendErrorKind::Route(e) => write!(f, "no route: {e}"),
            SendErrorKind::Rejected {
                broker,
                code,
                remark,
            } => write!(
                f,
                "broker {broker} rejected the message with code {code} ({}): {remark}",
                crate::remoting::codes::response_name(*code)
            ),
            SendErrorKind::AccessDenied { broker, remark } => write!(
                f,
                "broker {broker} refused the credentials (code 16, NO_PERMISSION: {remark}); check \
                 the ACL access key and secret key (bridge.rocket.acl.*) and the user's permissions"
            ),
            SendErrorKind::NotSent { last } => write!(f, "not sent: {last}"),
            SendErrorKind::OutcomeUnknown { broker, detail } => {
                write!(f, "outcome unknown at broker {broker}: {detail}")
            }
            SendErrorKind::WindowFull { broker } => {
                write!(f, "send window to broker {broker} is full")
            }
            SendErrorKind::Closed => write!(f, "producer is closed"),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "send of {} message(s) failed: {}",
            self.messages.len(),
            self.kind
        )
    }
}

impl SendErrorKind {
    /// The cause after the one `Display` prints (see the module docs).
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            SendErrorKind::InvalidMessage(e) => e.source(),
            SendErrorKind::Route(e) => e.source(),
            SendErrorKind::NotSent { last } => last.source(),
            SendErrorKind::OutcomeUnknown { detail, .. } => detail.source(),
            _ => None,
        }
    }
}

impl StdError for SendError {
    // The kind's inner error is part of `Display`; its cause comes next.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.kind.source()
    }
}

/// Errors starting a producer.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProducerError {
    /// No name server address.
    NoNameServer,
    /// Empty or over-long group name.
    InvalidGroup(String),
}

impl fmt::Display for ProducerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProducerError::NoNameServer => write!(f, "no name server address configured"),
            ProducerError::InvalidGroup(g) => write!(f, "invalid producer group {g:?}"),
        }
    }
}

impl StdError for ProducerError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message of the chain, `Display` first, then each `source()`.
    fn chain(e: &dyn StdError) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(c) = next {
            out.push(c.to_string());
            next = c.source();
        }
        out
    }

    #[test]
    fn a_typed_cause_reads_as_before_and_is_printed_once() {
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let last = AttemptError::from(crate::remoting::Error::Connect {
            addr: "b:10911".into(),
            source: refused,
        });
        let e = SendError::new(
            SendErrorKind::NotSent { last },
            vec![Message::new("T", "x")],
        );
        assert_eq!(
            chain(&e),
            [
                "send of 1 message(s) failed: not sent: cannot connect to b:10911",
                "refused"
            ]
        );
        let e = SendError::new(
            SendErrorKind::OutcomeUnknown {
                broker: "b".into(),
                detail: AttemptError::Code {
                    broker: "b".into(),
                    code: 14,
                },
            },
            vec![],
        );
        assert_eq!(
            chain(&e),
            ["send of 0 message(s) failed: outcome unknown at broker b: code 14 (SERVICE_NOT_AVAILABLE) from b"]
        );
        let bad = InvalidMessage::Message(MessageError::InvalidProperty { name: "k".into() });
        let e = SendError::new(SendErrorKind::InvalidMessage(bad), vec![]);
        assert_eq!(chain(&e).len(), 1);
        assert!(chain(&e)[0].starts_with("send of 0 message(s) failed: invalid message: property"));
    }
}
