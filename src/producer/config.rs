//! Producer settings: required arguments in `new`, the rest as chained setters with documented
//! defaults.

use crate::nameserver::RouteCacheConfig;
use crate::remoting::acl::AclCredentials;
use crate::remoting::ConnectionConfig;
use std::time::Duration;

/// How a queue is chosen for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStrategy {
    /// Round-robin over all writable queues. Spreads load; no ordering between messages.
    RoundRobin,
    /// The hash of the message's ordering key picks the queue: the same key goes to the same queue
    /// while the route is unchanged and the broker is healthy, so one key's messages are stored
    /// in the order they were sent (one at a time). Messages without a key fall back to round-robin.
    KeyHash,
}

/// What an async send does when the broker's job queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowFullPolicy {
    /// Block the caller until there is room (or the send timeout passes).
    Block,
    /// Return [`super::SendErrorKind::WindowFull`] at once, handing the message back.
    Fail,
}

/// Settings of a [`super::Producer`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// Name server addresses.
    pub namesrv_addrs: Vec<String>,
    /// Producer group.
    pub group: String,
    /// Total time budget of one send, all attempts included. Defaults to 3 s.
    pub send_timeout: Duration,
    /// Timeout of one attempt; a hung broker costs at most this before the next attempt goes to
    /// another broker. Defaults to 1 s.
    pub attempt_timeout: Duration,
    /// Extra attempts after the first for retryable failures. Defaults to 2.
    pub retries: u32,
    /// Whether an attempt whose outcome is unknown (timeout or connection loss after the write)
    /// is followed by another attempt (which may store the message twice). Defaults to true; off,
    /// such a send ends at once as [`SendErrorKind::OutcomeUnknown`](crate::producer::SendErrorKind)
    /// so the caller can find out whether it was stored first (the bridge's lookups,
    /// `bridge::resolve`).
    pub retry_unknown: bool,
    /// Queue choice. Defaults to [`QueueStrategy::RoundRobin`].
    pub queue_strategy: QueueStrategy,
    /// Largest message body in bytes, checked before sending. Defaults to 4 MiB (the broker's default).
    pub max_message_size: usize,
    /// Largest batch body in bytes. Defaults to 4 MiB.
    pub max_batch_bytes: usize,
    /// Requests in flight per broker connection for async and batch sends. Defaults to 64.
    pub async_window: usize,
    /// Jobs waiting per broker worker before the window counts as full (then async callers block
    /// or are told, per [`ProducerConfig::window_full`]). Small on purpose: a job's time budget runs
    /// while it waits, and memory stays bounded by `queue_capacity + 2 * async_window` requests per
    /// broker (in flight, and ordered jobs waiting for their lane). Defaults to 128.
    pub queue_capacity: usize,
    /// What an async send does when a broker's queue is full. Defaults to [`WindowFullPolicy::Block`].
    pub window_full: WindowFullPolicy,
    /// Whether each message gets a client-side unique id (the `UNIQ_KEY` property) when it has
    /// none. Defaults to true, as the Java client does (also for every member of a batch). Off,
    /// messages carry only the broker's offset message id, as `rocketmq-client-go` sends batch
    /// members, and the broker builds no index entry for the id.
    pub unique_ids: bool,
    /// How long a broker that just failed is avoided. Defaults to 5 s.
    pub broker_avoid: Duration,
    /// Heartbeat period to each connected broker (0 disables). Defaults to 30 s.
    pub heartbeat_interval: Duration,
    /// Namespace: prefixes topics and the group with `ns%`. Defaults to none.
    pub namespace: Option<String>,
    /// ACL credentials; every request is signed when set. Defaults to none.
    pub acl: Option<AclCredentials>,
    /// Socket settings.
    pub connection: ConnectionConfig,
    /// Route cache settings.
    pub route: RouteCacheConfig,
    /// Timeout of a name-server request. Defaults to 3 s.
    pub namesrv_timeout: Duration,
    /// Broker addresses to connect to instead of the ones the routes give, as (route address,
    /// address to dial) pairs: for brokers behind address translation, or a test's fault proxy.
    /// The route address still names the broker everywhere else (logs, errors, avoidance).
    /// Defaults to none.
    pub broker_addr_map: Vec<(String, String)>,
}

impl ProducerConfig {
    /// Settings for `group` talking to `namesrv_addrs` ("host:port" each; a single string with `;`
    /// or `,` separators is split).
    pub fn new<S: AsRef<str>>(namesrv_addrs: &[S], group: &str) -> ProducerConfig {
        let addrs = namesrv_addrs
            .iter()
            .flat_map(|a| {
                a.as_ref()
                    .split([';', ','])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        ProducerConfig {
            namesrv_addrs: addrs,
            group: group.to_owned(),
            send_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(1),
            retries: 2,
            retry_unknown: true,
            queue_strategy: QueueStrategy::RoundRobin,
            max_message_size: 4 * 1024 * 1024,
            max_batch_bytes: 4 * 1024 * 1024,
            async_window: 64,
            queue_capacity: 128,
            window_full: WindowFullPolicy::Block,
            unique_ids: true,
            broker_avoid: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(30),
            namespace: None,
            acl: None,
            connection: ConnectionConfig::default(),
            route: RouteCacheConfig::default(),
            namesrv_timeout: Duration::from_secs(3),
            broker_addr_map: Vec::new(),
        }
    }

    /// Sets [`ProducerConfig::send_timeout`].
    pub fn send_timeout(mut self, d: Duration) -> Self {
        self.send_timeout = d;
        self
    }
    /// Sets [`ProducerConfig::attempt_timeout`].
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = d;
        self
    }
    /// Sets [`ProducerConfig::unique_ids`].
    pub fn unique_ids(mut self, on: bool) -> Self {
        self.unique_ids = on;
        self
    }
    /// Sets [`ProducerConfig::retries`].
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }
    /// Sets [`ProducerConfig::retry_unknown`].
    pub fn retry_unknown(mut self, on: bool) -> Self {
        self.retry_unknown = on;
        self
    }
    /// Sets [`ProducerConfig::queue_strategy`].
    pub fn queue_strategy(mut self, s: QueueStrategy) -> Self {
        self.queue_strategy = s;
        self
    }
    /// Sets [`ProducerConfig::max_message_size`].
    pub fn max_message_size(mut self, n: usize) -> Self {
        self.max_message_size = n;
        self
    }
    /// Sets [`ProducerConfig::async_window`].
    pub fn async_window(mut self, n: usize) -> Self {
        self.async_window = n.max(1);
        self
    }
    /// Sets [`ProducerConfig::queue_capacity`].
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(1);
        self
    }
    /// Sets [`ProducerConfig::window_full`].
    pub fn window_full(mut self, p: WindowFullPolicy) -> Self {
        self.window_full = p;
        self
    }
    /// Sets [`ProducerConfig::broker_avoid`].
    pub fn broker_avoid(mut self, d: Duration) -> Self {
        self.broker_avoid = d;
        self
    }
    /// Sets [`ProducerConfig::heartbeat_interval`].
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }
    /// Sets [`ProducerConfig::namespace`].
    pub fn namespace(mut self, ns: Option<String>) -> Self {
        self.namespace = ns.filter(|s| !s.is_empty());
        self
    }
    /// Sets [`ProducerConfig::acl`].
    pub fn acl(mut self, acl: Option<AclCredentials>) -> Self {
        self.acl = acl;
        self
    }
    /// Sets the route refresh interval ([`RouteCacheConfig::refresh_interval`]).
    pub fn refresh_interval(mut self, d: Duration) -> Self {
        self.route.refresh_interval = d;
        self
    }
    /// Sets whether a missing topic falls back to TBW102 ([`RouteCacheConfig::allow_default_topic`]).
    pub fn allow_default_topic(mut self, on: bool) -> Self {
        self.route.allow_default_topic = on;
        self
    }
    /// Sets SO_SNDBUF / SO_RCVBUF of broker and name-server connections.
    pub fn socket_buffers(mut self, send: Option<usize>, recv: Option<usize>) -> Self {
        self.connection.send_buffer = send;
        self.connection.recv_buffer = recv;
        self
    }

    /// Sets TLS for broker and name-server connections (the `tls` feature); `None`: plaintext.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: Option<crate::remoting::TlsConnector>) -> Self {
        self.connection.tls = tls;
        self
    }

    /// Dials `dial` whenever a route names the broker `route_addr` (see
    /// [`ProducerConfig::broker_addr_map`]).
    pub fn map_broker_addr(mut self, route_addr: &str, dial: &str) -> Self {
        self.broker_addr_map
            .push((route_addr.to_owned(), dial.to_owned()));
        self
    }

    /// The address to dial for the broker a route names `addr`.
    pub fn dial_addr<'a>(&'a self, addr: &'a str) -> &'a str {
        self.broker_addr_map
            .iter()
            .find(|(from, _)| from == addr)
            .map_or(addr, |(_, to)| to.as_str())
    }

    /// The topic as sent on the wire (namespace applied).
    pub fn wire_topic(&self, topic: &str) -> String {
        with_namespace(self.namespace.as_deref(), topic)
    }
}

/// `ns%name`, unless `name` already carries the prefix or is a system topic: a topic or group as
/// the brokers know it under namespace `ns` (none: `name` itself).
pub fn with_namespace(ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns)
            if !name.starts_with(&format!("{ns}%")) && name != crate::nameserver::DEFAULT_TOPIC =>
        {
            format!("{ns}%{name}")
        }
        _ => name.to_owned(),
    }
}
