//! A pull consumer good enough to read back what was sent: queue offsets (GET_MIN_OFFSET /
//! GET_MAX_OFFSET) and PULL_MESSAGE with the stored-message layout (reference §13). Each carries the
//! queue's broker name (`bname`), which brokers ignore and an Apache RocketMQ proxy routes by (it
//! refuses these requests without it, code 15).

use crate::message::{decode_stored_messages, MessageExt};
use crate::nameserver::route::{MAX_QUEUES_PER_BROKER, MAX_QUEUES_PER_ROUTE, PERM_READ};
use crate::nameserver::{MessageQueue, NameServerClient};
use crate::remoting::acl::{AclCredentials, SharedAcl};
use crate::remoting::codes::*;
use crate::remoting::{Connection, ConnectionConfig, RemotingCommand};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest inflated body accepted from a compressed stored message.
pub const MAX_INFLATED_BODY: usize = 64 * 1024 * 1024;

/// Read-back errors.
///
/// **Each cause is printed once** (the crate-wide rule): when `source()` returns a cause,
/// `Display` does not print it; when `Display` prints an inner error as part of its own message,
/// `source()` skips that inner error and returns the inner error's own `source()`.
/// The variants wrapping a lower layer's error print it (`transport: {e}`), so `source()`
/// returns that error's own cause.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Route lookup failed.
    Route(crate::nameserver::Error),
    /// Transport failure.
    Remoting(crate::remoting::Error),
    /// The broker answered an unexpected code.
    Remote {
        /// Request that failed.
        request: &'static str,
        /// Response code.
        code: i32,
        /// Remark.
        remark: String,
    },
    /// A pull body could not be decoded.
    Decode(crate::message::MessageError),
    /// A response lacked a header field.
    MissingField(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Route(e) => write!(f, "route: {e}"),
            Error::Remoting(e) => write!(f, "transport: {e}"),
            Error::Remote {
                request,
                code,
                remark,
            } => {
                write!(
                    f,
                    "{request} answered code {code} ({}): {remark}",
                    response_name(*code)
                )
            }
            Error::Decode(e) => write!(f, "stored message: {e}"),
            Error::MissingField(n) => write!(f, "response lacks field {n}"),
        }
    }
}

impl std::error::Error for Error {
    /// `Display` prints the inner error (`route: {e}`), so `source()` is the inner error's own
    /// cause: each cause is printed once (see [`Error`]).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Route(e) => e.source(),
            Error::Remoting(e) => e.source(),
            Error::Decode(e) => e.source(),
            _ => None,
        }
    }
}

/// What one pull brought.
#[derive(Debug)]
pub enum PullStatus {
    /// Messages found.
    Found(Vec<MessageExt>),
    /// Nothing new at this offset.
    NoNewMessage,
    /// The broker asks to retry (nothing matched).
    Retry,
    /// The offset was illegal; continue at `next_begin_offset`.
    OffsetMoved,
}

/// A pull result.
#[derive(Debug)]
pub struct PullResult {
    /// Status and messages.
    pub status: PullStatus,
    /// Where the next pull starts.
    pub next_begin_offset: i64,
    /// Queue's min offset.
    pub min_offset: i64,
    /// Queue's max offset.
    pub max_offset: i64,
}

/// A readable queue with its broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadQueue {
    /// The queue.
    pub queue: MessageQueue,
    /// Broker (master) address.
    pub addr: String,
}

/// Pulls messages for verification and the `consume` command.
pub struct PullConsumer {
    ns: NameServerClient,
    group: String,
    cfg: ConnectionConfig,
    timeout: Duration,
    acl: SharedAcl,
    conns: Mutex<HashMap<String, Arc<Connection>>>,
    /// (route address, address to dial) pairs.
    addr_map: Vec<(String, String)>,
}

impl fmt::Debug for PullConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PullConsumer")
            .field("group", &self.group)
            .finish()
    }
}

fn ext_i64(resp: &RemotingCommand, key: &'static str) -> Result<i64, Error> {
    resp.ext(key)
        .and_then(|v| v.parse().ok())
        .ok_or(Error::MissingField(key))
}

impl PullConsumer {
    /// A consumer in `group` (auto-created by brokers that allow it) over `namesrv` ("a:p;b:p").
    pub fn new(namesrv: &str, group: &str, acl: Option<AclCredentials>) -> PullConsumer {
        PullConsumer::with_connection(namesrv, group, acl, ConnectionConfig::default())
    }

    /// As [`PullConsumer::new`], with the connection settings (socket options, TLS) of every
    /// name-server and broker connection.
    pub fn with_connection(
        namesrv: &str,
        group: &str,
        acl: Option<AclCredentials>,
        cfg: ConnectionConfig,
    ) -> PullConsumer {
        PullConsumer::with_shared_acl(namesrv, group, SharedAcl::new(acl), cfg)
    }

    /// As [`PullConsumer::with_connection`], signing with `acl`'s credentials current at each
    /// request (shared with a producer, replaced by a config reload).
    pub fn with_shared_acl(
        namesrv: &str,
        group: &str,
        acl: SharedAcl,
        cfg: ConnectionConfig,
    ) -> PullConsumer {
        let addrs = namesrv
            .split([';', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        PullConsumer {
            ns: NameServerClient::with_shared_acl(
                addrs,
                cfg.clone(),
                Duration::from_secs(3),
                acl.clone(),
            ),
            group: group.to_owned(),
            cfg,
            timeout: Duration::from_secs(5),
            acl,
            conns: Mutex::new(HashMap::new()),
            addr_map: Vec::new(),
        }
    }

    /// Dials the second address of a pair whenever a route (or a caller) names the first: for
    /// brokers that register an address this host cannot reach (NAT, Docker, Kubernetes).
    pub fn with_broker_addr_map(mut self, map: Vec<(String, String)>) -> PullConsumer {
        self.addr_map = map;
        self
    }

    /// Sets the timeout of each broker request (5 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> PullConsumer {
        self.timeout = timeout;
        self
    }

    /// The name-server client.
    pub fn nameserver(&self) -> &NameServerClient {
        &self.ns
    }

    fn invoke(&self, addr: &str, mut cmd: RemotingCommand) -> Result<RemotingCommand, Error> {
        self.acl.sign(&mut cmd);
        // Connecting, and dropping a dead connection (which joins its reader thread), happen
        // without the lock, so one slow broker does not hold up requests to the others.
        let cached = self.conns.lock().get(addr).cloned();
        let conn = match cached {
            Some(c) if c.is_alive() => c,
            dead => {
                drop(dead);
                let dial = self
                    .addr_map
                    .iter()
                    .find(|(from, _)| from == addr)
                    .map_or(addr, |(_, to)| to.as_str());
                let c = Arc::new(Connection::connect(dial, &self.cfg).map_err(Error::Remoting)?);
                let replaced = self.conns.lock().insert(addr.to_owned(), Arc::clone(&c));
                drop(replaced);
                c
            }
        };
        conn.invoke(&cmd, self.timeout).map_err(Error::Remoting)
    }

    /// The readable queues of `topic`, sorted by broker then queue id.
    ///
    /// # Errors
    /// [`Error::Route`].
    pub fn queues(&self, topic: &str) -> Result<Vec<ReadQueue>, Error> {
        let route = self.ns.query_route(topic).map_err(Error::Route)?;
        let mut out = Vec::new();
        for qd in route.queue_datas.iter().filter(|q| q.perm & PERM_READ != 0) {
            let Some(addr) = route.broker(&qd.broker_name).and_then(|b| b.master_addr()) else {
                continue;
            };
            // `query_route` refused routes over the caps; clamped again so this loop is bounded
            // whatever built the route.
            let n = qd.read_queue_nums.clamp(0, MAX_QUEUES_PER_BROKER as i32);
            if out.len() + n as usize > MAX_QUEUES_PER_ROUTE as usize {
                return Err(Error::Route(crate::nameserver::Error::RouteOverCap {
                    what: "readable queues in total",
                    broker: None,
                    count: (out.len() + n as usize) as u64,
                    max: MAX_QUEUES_PER_ROUTE,
                }));
            }
            for q in 0..n {
                out.push(ReadQueue {
                    queue: MessageQueue {
                        topic: topic.to_owned(),
                        broker_name: qd.broker_name.clone(),
                        queue_id: q,
                    },
                    addr: addr.to_owned(),
                });
            }
        }
        out.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(out)
    }

    fn offset(&self, q: &ReadQueue, code: i32, name: &'static str) -> Result<i64, Error> {
        let cmd = RemotingCommand::request(code)
            .with_ext("topic", &q.queue.topic)
            .with_ext("queueId", &q.queue.queue_id.to_string())
            .with_ext("bname", &q.queue.broker_name);
        let resp = self.invoke(&q.addr, cmd)?;
        if resp.code != SUCCESS {
            return Err(Error::Remote {
                request: name,
                code: resp.code,
                remark: resp.remark_clipped(),
            });
        }
        ext_i64(&resp, "offset")
    }

    /// GET_MAX_OFFSET: the offset after the last message of the queue.
    ///
    /// # Errors
    /// Transport or broker errors.
    pub fn max_offset(&self, q: &ReadQueue) -> Result<i64, Error> {
        self.offset(q, GET_MAX_OFFSET, "GET_MAX_OFFSET")
    }

    /// GET_MIN_OFFSET: the first offset still stored.
    ///
    /// # Errors
    /// Transport or broker errors.
    pub fn min_offset(&self, q: &ReadQueue) -> Result<i64, Error> {
        self.offset(q, GET_MIN_OFFSET, "GET_MIN_OFFSET")
    }

    /// One PULL_MESSAGE of up to `max` messages from `offset` (no long polling).
    ///
    /// # Errors
    /// Transport errors, unexpected codes, undecodable bodies.
    pub fn pull(&self, q: &ReadQueue, offset: i64, max: u32) -> Result<PullResult, Error> {
        let cmd = RemotingCommand::request(PULL_MESSAGE)
            .with_ext("consumerGroup", &self.group)
            .with_ext("topic", &q.queue.topic)
            .with_ext("queueId", &q.queue.queue_id.to_string())
            .with_ext("queueOffset", &offset.to_string())
            .with_ext("maxMsgNums", &max.to_string())
            .with_ext("sysFlag", "4")
            .with_ext("commitOffset", "0")
            .with_ext("suspendTimeoutMillis", "0")
            .with_ext("subscription", "*")
            .with_ext("subVersion", "0")
            .with_ext("expressionType", "TAG")
            .with_ext("bname", &q.queue.broker_name);
        let resp = self.invoke(&q.addr, cmd)?;
        let status = match resp.code {
            SUCCESS => PullStatus::Found(
                decode_stored_messages(&resp.body, MAX_INFLATED_BODY).map_err(Error::Decode)?,
            ),
            PULL_NOT_FOUND => PullStatus::NoNewMessage,
            PULL_RETRY_IMMEDIATELY => PullStatus::Retry,
            PULL_OFFSET_MOVED => PullStatus::OffsetMoved,
            code => {
                return Err(Error::Remote {
                    request: "PULL_MESSAGE",
                    code,
                    remark: resp.remark_clipped(),
                })
            }
        };
        Ok(PullResult {
            status,
            next_begin_offset: ext_i64(&resp, "nextBeginOffset").unwrap_or(offset),
            min_offset: ext_i64(&resp, "minOffset").unwrap_or(0),
            max_offset: ext_i64(&resp, "maxOffset").unwrap_or(0),
        })
    }

    /// Reads every message of queue `q` in `[from, to)`.
    ///
    /// # Errors
    /// As [`PullConsumer::pull`]; also when the queue stops advancing before `to` for 10 s.
    pub fn read_range(
        &self,
        q: &ReadQueue,
        from: i64,
        to: i64,
        out: &mut Vec<MessageExt>,
    ) -> Result<(), Error> {
        let mut offset = from;
        let mut stalled_since: Option<Instant> = None;
        while offset < to {
            let r = self.pull(q, offset, 32)?;
            let before = offset;
            if let PullStatus::Found(msgs) = r.status {
                out.extend(msgs.into_iter().filter(|m| m.queue_offset < to));
            }
            offset = r.next_begin_offset.max(offset);
            if offset == before {
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(10) {
                    return Err(Error::Remote {
                        request: "PULL_MESSAGE",
                        code: -1,
                        remark: format!(
                            "queue {} stuck at offset {offset} below {to}",
                            q.queue.queue_id
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            } else {
                stalled_since = None;
            }
        }
        Ok(())
    }

    /// QUERY_MESSAGE: the broker at `addr`'s index lookup of messages of `topic` carrying `key`
    /// (a `KEYS` entry, or with `unique` the producer's unique id, `UNIQ_KEY`) stored in the time
    /// range `stored_ms` (epoch milliseconds), at most `max_num` of them. A broker that
    /// found nothing answers QUERY_NOT_FOUND: that is `Ok` with no messages. The index is built
    /// after the commit log, so a message stored a moment ago may not be found yet (see
    /// `bridge::resolve` for how a miss is judged).
    ///
    /// # Errors
    /// Transport errors, other codes (a broker without the lookup answers REQUEST_CODE_NOT_SUPPORTED),
    /// undecodable bodies.
    pub fn query_by_key(
        &self,
        addr: &str,
        topic: &str,
        key: &str,
        unique: bool,
        max_num: u32,
        stored_ms: std::ops::Range<u64>,
    ) -> Result<Vec<MessageExt>, Error> {
        let mut cmd = RemotingCommand::request(QUERY_MESSAGE)
            .with_ext("topic", topic)
            .with_ext("key", key)
            .with_ext("maxNum", &max_num.to_string())
            .with_ext("beginTimestamp", &stored_ms.start.to_string())
            .with_ext("endTimestamp", &stored_ms.end.to_string());
        if unique {
            cmd = cmd.with_ext("_UNIQUE_KEY_QUERY", "true");
        }
        let resp = self.invoke(addr, cmd)?;
        match resp.code {
            SUCCESS => decode_stored_messages(&resp.body, MAX_INFLATED_BODY).map_err(Error::Decode),
            QUERY_NOT_FOUND => Ok(Vec::new()),
            code => Err(Error::Remote {
                request: "QUERY_MESSAGE",
                code,
                remark: resp.remark_clipped(),
            }),
        }
    }

    /// Reads every message currently stored in `topic` (all readable queues, min to max offset).
    ///
    /// # Errors
    /// As [`PullConsumer::read_range`].
    pub fn read_all(&self, topic: &str) -> Result<Vec<MessageExt>, Error> {
        let mut out = Vec::new();
        for q in self.queues(topic)? {
            let (min, max) = (self.min_offset(&q)?, self.max_offset(&q)?);
            self.read_range(&q, min, max, &mut out)?;
        }
        Ok(out)
    }
}
