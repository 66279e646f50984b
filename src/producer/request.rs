//! Building send requests and classifying their answers (reference §5, §7, §11); a sync send
//! within a caller's deadline ([`Producer::send_with_key_until`](super::Producer::send_with_key_until)).

use super::error::{AttemptError, InvalidMessage, SendErrorKind, SendResult, SendStatus};
use crate::message::Message;
use crate::nameserver::{MessageQueue, DEFAULT_TOPIC};
use crate::remoting::codes::*;
use crate::remoting::{ExtFields, RemotingCommand};
use bytes::Bytes;

/// Response codes after which another broker is tried (Java 5.3's `retryResponseCodes`, less
/// `NO_PERMISSION`: that code is retried only when its remark says the broker or the topic does not
/// take writes now, "sending message is forbidden"; otherwise it is an ACL refusal, which fails at
/// once as [`SendErrorKind::AccessDenied`]).
pub const RETRYABLE_CODES: [i32; 7] = [
    TOPIC_NOT_EXIST,
    SERVICE_NOT_AVAILABLE,
    SYSTEM_ERROR,
    SYSTEM_BUSY,
    NO_BUYER_ID,
    NOT_IN_CURRENT_UNIT,
    GO_AWAY,
];

/// What one attempt came to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Stored.
    Stored(SendResult),
    /// Try another broker. `maybe_stored` is true when this attempt's request may have been stored.
    Retry {
        maybe_stored: bool,
        detail: AttemptError,
        code: Option<i32>,
    },
    /// A batch the broker does not support ([`batch_refused`]): resend the members one by one.
    BatchUnsupported { code: i32, remark: String },
    /// Stop: not stored.
    Fail(SendErrorKind),
}

/// A send request's parts that do not change between attempts.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Wire topic (namespace applied).
    pub(crate) topic: String,
    /// Wire group.
    pub(crate) group: String,
    /// The messages.
    pub(crate) messages: Vec<Message>,
    /// True for SEND_BATCH_MESSAGE.
    pub(crate) batch: bool,
    /// Properties string (single) or envelope properties (batch).
    pub(crate) properties: String,
    /// Body: the message body, or the encoded batch records.
    pub(crate) body: Bytes,
    /// The unique ids, comma-joined.
    pub(crate) msg_ids: String,
    /// User flag (single).
    pub(crate) flag: i32,
}

impl Prepared {
    /// The request for one attempt on `mq`.
    pub(crate) fn command(&self, mq: &MessageQueue, default_topic: bool) -> RemotingCommand {
        let code = if self.batch {
            SEND_BATCH_MESSAGE
        } else {
            SEND_MESSAGE_V2
        };
        let mut ext = ExtFields::with_capacity(
            13,
            self.group.len() + self.topic.len() + self.properties.len() + mq.broker_name.len() + 64,
        );
        ext.push("a", &self.group);
        ext.push("b", &self.topic);
        ext.push("c", DEFAULT_TOPIC);
        ext.push("d", "4");
        ext.push_int("e", mq.queue_id as i128);
        ext.push("f", "0");
        ext.push_int("g", now_millis() as i128);
        ext.push_int("h", self.flag as i128);
        if !self.properties.is_empty() {
            ext.push("i", &self.properties);
        }
        ext.push("j", "0");
        ext.push("k", "false");
        ext.push("m", if self.batch { "true" } else { "false" });
        // The broker name (`brokerName`, V1's `bname`): a broker ignores it, an Apache RocketMQ 5.x
        // proxy in remoting mode routes by it and refuses a send without it (code 15, see
        // docs/protocol-notes.md "The proxy").
        ext.push("n", &mq.broker_name);
        let _ = default_topic; // `c`/`d` are always sent; brokers use them only for unknown topics.
        let mut cmd = RemotingCommand::request(code);
        cmd.ext_fields = ext;
        cmd.body = self.body.clone();
        cmd
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// True when the answer to a SEND_BATCH_MESSAGE says the broker does not take batches at all (so
/// the members must go one by one), as opposed to refusing this one batch:
/// - code 3 (`REQUEST_CODE_NOT_SUPPORTED`): a broker without the request code;
/// - any code with a remark like `request code 320 not supported` or Apache's
///   ` request type 320 not supported` (proxies and brokers that answer an unknown request code
///   with another code);
/// - code 1 (`SYSTEM_ERROR`) with `not support` in the remark: cloud brokers and topics that refuse
///   batches answer `the topic[X] is batch send , not support.`
pub(crate) fn batch_refused(code: i32, remark: &str) -> bool {
    let remark = remark.to_ascii_lowercase();
    code == REQUEST_CODE_NOT_SUPPORTED
        || ((remark.contains("request code") || remark.contains("request type"))
            && remark.contains("not supported"))
        || (code == SYSTEM_ERROR && remark.contains("not support"))
}

/// True when a `NO_PERMISSION` answer means the broker or the topic takes no writes now (Apache:
/// `the broker[…] sending message is forbidden`, `the topic[…] sending message is forbidden`: a
/// broker being drained, a read-only topic), which another broker may take, rather than an ACL
/// refusal (a wrong signature or access key, a user without the permission).
pub(crate) fn write_forbidden(remark: &str) -> bool {
    remark.contains("sending message is forbidden")
}

/// Classifies a broker response to a send.
pub(crate) fn classify_response(
    resp: &RemotingCommand,
    prepared: &Prepared,
    mq: &MessageQueue,
    broker_addr: &str,
    attempts: u32,
) -> Outcome {
    let status = match resp.code {
        SUCCESS => SendStatus::SendOk,
        FLUSH_DISK_TIMEOUT => SendStatus::FlushDiskTimeout,
        FLUSH_SLAVE_TIMEOUT => SendStatus::FlushSlaveTimeout,
        SLAVE_NOT_AVAILABLE => SendStatus::SlaveNotAvailable,
        code if prepared.batch && batch_refused(code, resp.remark.as_deref().unwrap_or("")) => {
            return Outcome::BatchUnsupported {
                code,
                remark: resp.remark_clipped(),
            }
        }
        NO_PERMISSION if !write_forbidden(resp.remark.as_deref().unwrap_or("")) => {
            return Outcome::Fail(SendErrorKind::AccessDenied {
                broker: broker_addr.to_owned(),
                remark: resp.remark_clipped(),
            })
        }
        code if RETRYABLE_CODES.contains(&code) || code == NO_PERMISSION => {
            return Outcome::Retry {
                maybe_stored: false,
                detail: AttemptError::Code {
                    broker: broker_addr.to_owned(),
                    code,
                },
                code: Some(code),
            }
        }
        code => {
            return Outcome::Fail(SendErrorKind::Rejected {
                broker: broker_addr.to_owned(),
                code,
                remark: resp.remark_clipped(),
            })
        }
    };
    let queue_id = resp
        .ext("queueId")
        .and_then(|s| s.parse().ok())
        .unwrap_or(mq.queue_id);
    let offset_msg_id = resp.ext("msgId").unwrap_or("").to_owned();
    // Without client-side ids (`ProducerConfig::unique_ids` off) the broker's ids are the ids.
    let msg_id = if prepared.msg_ids.is_empty() {
        offset_msg_id.clone()
    } else {
        prepared.msg_ids.clone()
    };
    Outcome::Stored(SendResult {
        status,
        msg_id,
        offset_msg_id,
        queue: MessageQueue {
            topic: mq.topic.clone(),
            broker_name: mq.broker_name.clone(),
            queue_id,
        },
        queue_offset: resp
            .ext("queueOffset")
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1),
        broker_addr: broker_addr.to_owned(),
        attempts,
    })
}

/// Classifies a transport failure of one attempt.
pub(crate) fn classify_error(e: crate::remoting::Error) -> Outcome {
    use crate::remoting::Error as E;
    match e {
        E::Encode(enc) => Outcome::Fail(SendErrorKind::InvalidMessage(InvalidMessage::Encode(enc))),
        e if e.outcome_unknown() => Outcome::Retry {
            maybe_stored: true,
            detail: e.into(),
            code: None,
        },
        // Connect failures, dead connections and failed writes: the frame never reached the
        // broker whole, so nothing was stored.
        e => Outcome::Retry {
            maybe_stored: false,
            detail: e.into(),
            code: None,
        },
    }
}

impl super::Producer {
    /// [`Producer::send_with_key`](super::Producer::send_with_key) within the send timeout and at
    /// most until `until` (a caller's budget for several sends: the bridge's sync send of an
    /// event's messages).
    ///
    /// # Errors
    /// As [`Producer::send`](super::Producer::send).
    pub fn send_with_key_until(
        &self,
        msg: crate::message::Message,
        key: Option<&[u8]>,
        until: std::time::Instant,
    ) -> Result<super::SendResult, super::SendError> {
        let mut job = self.inner.job(vec![msg], false, key, None)?;
        job.deadline = job.deadline.min(until);
        self.inner.run_sync(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(batch: bool) -> Prepared {
        Prepared {
            topic: "T".into(),
            group: "G".into(),
            messages: Vec::new(),
            batch,
            properties: String::new(),
            body: Bytes::from_static(b"x"),
            msg_ids: String::new(),
            flag: 0,
        }
    }

    #[test]
    fn send_headers_carry_the_broker_name_a_proxy_routes_by() {
        let mq = MessageQueue {
            topic: "T".into(),
            broker_name: "broker-b".into(),
            queue_id: 3,
        };
        for batch in [false, true] {
            let cmd = prepared(batch).command(&mq, false);
            let want = if batch {
                SEND_BATCH_MESSAGE
            } else {
                SEND_MESSAGE_V2
            };
            assert_eq!(cmd.code, want);
            assert_eq!(cmd.ext("n"), Some("broker-b"), "batch {batch}");
            assert_eq!(cmd.ext("b"), Some("T"));
            assert_eq!(cmd.ext("e"), Some("3"));
            assert_eq!(cmd.ext("m"), Some(if batch { "true" } else { "false" }));
        }
    }

    #[test]
    fn batch_refusals_are_told_from_other_failures() {
        assert!(batch_refused(
            1,
            "the topic[T] is batch send , not support."
        ));
        assert!(batch_refused(REQUEST_CODE_NOT_SUPPORTED, ""));
        assert!(batch_refused(1, " request type 320 not supported"));
        assert!(batch_refused(SYSTEM_BUSY, "request code 320 not supported"));
        assert!(!batch_refused(1, "store putMessage return null"));
        assert!(!batch_refused(SYSTEM_BUSY, "not support"), "busy is busy");
        assert!(!batch_refused(
            TOPIC_NOT_EXIST,
            "topic[T] not exist, apply first please!"
        ));
    }

    /// Issue #22 review: the comma-joined `msg_ids` written in place equal the ids as the
    /// message-by-message code gave them (each message's UNIQ_KEY, empty without one, joined with
    /// ','; empty when no message has one), for batches and single messages, with client ids on
    /// and off and UNIQ_KEYs set by the caller on some messages.
    #[test]
    fn msg_ids_join_each_message_s_unique_key() {
        use crate::message::{Message, PROPERTY_UNIQ_KEY};
        use crate::producer::{Producer, ProducerConfig};
        use std::time::Duration;
        for unique in [true, false] {
            let cfg = ProducerConfig::new(&["127.0.0.1:1"], "g")
                .heartbeat_interval(Duration::ZERO)
                .unique_ids(unique);
            let producer = Producer::start(cfg).unwrap();
            for n in 1..6usize {
                for preset in 0..1u32 << n {
                    let msgs: Vec<Message> = (0..n)
                        .map(|i| {
                            let m = Message::new("T", Bytes::from_static(b"b"));
                            if preset >> i & 1 == 1 {
                                m.with_property(PROPERTY_UNIQ_KEY, format!("user-{i}"))
                            } else {
                                m
                            }
                        })
                        .collect();
                    let batch = n > 1;
                    let job = match producer.inner.job(msgs, batch, None, None) {
                        Ok(j) => j,
                        Err(e) => panic!("{e}"),
                    };
                    let p = &job.prepared;
                    let ids: Vec<&str> = p
                        .messages
                        .iter()
                        .map(|m| m.unique_key().unwrap_or(""))
                        .collect();
                    let want = if ids.iter().all(|s| s.is_empty()) {
                        String::new()
                    } else {
                        ids.join(",")
                    };
                    assert_eq!(p.msg_ids, want, "unique {unique} n {n} preset {preset:b}");
                    for (i, id) in ids.iter().enumerate() {
                        if preset >> i & 1 == 1 {
                            assert_eq!(*id, format!("user-{i}"));
                        } else if unique {
                            assert_eq!(id.len(), 32, "{id}");
                            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
                        } else {
                            assert_eq!(*id, "");
                        }
                    }
                }
            }
            producer.close(Duration::from_millis(100));
        }
    }
}
