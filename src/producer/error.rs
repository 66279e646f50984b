//! Send results and errors. An error hands the messages back so the caller can retry or count
//! them without cloning every message.

use crate::message::Message;
use crate::nameserver::MessageQueue;
use std::fmt;

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
    InvalidMessage(String),
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
    /// Every attempt failed before the request reached a broker (connect failures, dead
    /// connections): the message is certainly not stored.
    NotSent {
        /// The last failure.
        last: String,
    },
    /// A request left and no answer came before the deadline, or the connection died after the
    /// write: the broker may or may not have stored it.
    OutcomeUnknown {
        /// Broker address of the last unknown attempt.
        broker: String,
        /// What happened.
        detail: String,
    },
    /// The broker's job queue is full and the policy is to tell the caller (async only).
    WindowFull {
        /// Broker address.
        broker: String,
    },
    /// The producer is closed.
    Closed,
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

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            SendErrorKind::Route(e) => Some(e),
            _ => None,
        }
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

impl std::error::Error for ProducerError {}
