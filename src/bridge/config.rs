//! The bridge's config file: the `key = value` format of EMQX's `etc/plugins/emqx_bridge_rocket.conf`.
//!
//! # Syntax
//!
//! One `key = value` per line; spaces around `=` and at both ends are ignored. A line whose first
//! non-blank character is `#` (the seed uses `##`) is a comment, and blank lines are skipped. There
//! are no inline comments: `#` inside a value is data (`{"filter": "#", …}`). Each key may appear
//! once. Durations are an integer and a unit, case-insensitive: `ms`, `s`, `m`, `h`, `d`, `w`, and
//! may be combined (`1m30s`). Byte sizes are an integer with an optional unit, case-insensitive:
//! `B`, `KB` (1024), `MB` (1024²), `GB` (1024³); no unit means bytes.
//!
//! Any error — unknown key, bad value, bad rule JSON, invalid filter, unknown event, a key given
//! twice — is a [`ConfigError`] naming the file, the line and the key, and nothing starts.
//!
//! # Keys from the seed
//!
//! The seed shows optional keys commented out with their default value; those are the defaults.
//!
//! | key | default | meaning |
//! |-----|---------|---------|
//! | `bridge.rocket.servers` | `127.0.0.1:9876` | name servers, comma separated `host:port` (port defaults to 9876) |
//! | `bridge.rocket.refresh_topic_route_interval` | `5S` | how often topic routes are re-read from the name server |
//! | `bridge.rocket.produce` | `sync` | `sync`: the host's call returns once the broker confirmed; `async`: it returns at once |
//! | `bridge.rocket.produce.sync_timeout` | `3s` | how long a sync send waits for the broker |
//! | `bridge.rocket.producer.batch_size` | `100` | most events sent in one batch to one topic (0 or 1: no batching; at most 1024) |
//! | `bridge.rocket.encode_payload_type` | `base64` | `base64` or `plain`: how `payload` is written in the JSON |
//! | `bridge.rocket.sock.buffer` | `32KB` | accepted for compatibility (Erlang's user-space socket buffer); connections size their read buffer per frame, so it has no effect |
//! | `bridge.rocket.sock.recbuf` | `32KB` | `SO_RCVBUF` of broker connections |
//! | `bridge.rocket.sock.sndbuf` | `1MB` | `SO_SNDBUF` of broker connections (the seed sets it) |
//! | `bridge.rocket.sock.read_packets` | `20` | accepted for compatibility; an Erlang socket option with no equivalent here, so it has no effect |
//! | `bridge.rocket.hook.<event>.<n>` | none | a hook rule, see [`rule`](super::rule); `<event>` is one of the seven hook names, `<n>` a positive integer |
//!
//! # Extensions (same style, not in the seed)
//!
//! | key | default | meaning |
//! |-----|---------|---------|
//! | `bridge.rocket.producer_group` | `rocketmq_bridge` | RocketMQ producer group (`A-Z a-z 0-9 _ - % \|`, at most 255) |
//! | `bridge.rocket.node` | `rocketmq_bridge@<hostname>` | the `node` field of every JSON body |
//! | `bridge.rocket.bridge_id` | the node name (spaces as `_`) | prefix of each message key (`<bridge_id>-<run>-<seq>`) that lets consumers deduplicate; no spaces or control characters |
//! | `bridge.rocket.namespace` | none | RocketMQ namespace (`A-Z a-z 0-9 _ -`, at most 64); topics and group are sent as `<namespace>%<name>` |
//! | `bridge.rocket.acl.access_key` | none | ACL access key; enables request signing |
//! | `bridge.rocket.acl.secret_key` | none | ACL secret key; required with `access_key`, never logged |
//! | `bridge.rocket.acl.security_token` | none | optional ACL security token; needs `access_key` |
//! | `bridge.rocket.buffer.max_bytes` | `4MB` | memory budget for events waiting to be sent or in flight, counted as the heap they hold (about 2 KB per 250-byte event); at least `producer.max_message_size` |
//! | `bridge.rocket.buffer.overflow` | `block` | when the budget is full: `block` the host's call until room frees, `drop_new` (drop the incoming event), `drop_oldest` (drop the oldest waiting event); drops are counted per rule |
//! | `bridge.rocket.producer.queue_strategy` | `key_dispatch` | `key_dispatch`: queue chosen by hashing the client id, so one client's events stay in order; `roundrobin`: spread over all queues, no order |
//! | `bridge.rocket.producer.max_in_flight` | `8` | requests (batches or single messages) in flight at once per broker connection, 1 to 1024; more only add latency against a local broker, which takes requests one after another, while a distant one may need more to stay busy |
//! | `bridge.rocket.producer.max_message_size` | `4MB` | largest encoded message; a larger event is dropped and counted as `too_large` (RocketMQ's broker default is 4 MiB) |
//! | `bridge.rocket.drain_timeout` | `5s` | how long shutdown waits for buffered events to be sent |
//! | `bridge.rocket.stats_interval` | `60s` | how often per-rule counters are logged; `0s` turns it off |
//! | `bridge.rocket.spool.dir` | none (off) | directory of the disk spool (store-and-forward, see [`crate::spool`]); needs `produce = async` |
//! | `bridge.rocket.spool.segment_size` | `16MB` | spool segment file size (64KB to 1GB) |
//! | `bridge.rocket.spool.max_bytes` | `1GB` | spool size cap; at least two segments; when reached the oldest segment is dropped, counted and reported |
//! | `bridge.rocket.spool.sync` | `interval:1000` | `none`, `always`, `interval:<ms>` or `every:<n>`: when spool appends are fsynced |
//! | `bridge.rocket.loss_report.topic` | none (off) | topic that gets a JSON loss report whenever events were dropped, once a broker accepts again |
//! | `bridge.rocket.health.window` | `30s` | a topic is unhealthy when no broker accepted a send for it within this window while there was something to send |
//! | `bridge.rocket.metrics.listen` | none (off) | loopback `host:port` of the Prometheus `/metrics` and `/health` endpoint |
//! | `bridge.rocket.retry.max_hold` | `60s` | async without a spool: how long a message the broker did not store (not sent, or refused with a retryable code) is held in memory and re-sent (backoff 500 ms doubling to 5 s) before it is dropped as `failed`; `0s`: no hold, fail at once. Held messages keep their budget bytes, so `buffer.overflow` applies to new events meanwhile; no effect with a spool (it retries from disk) or with `produce = sync` (the host gets the error) |
//!
//! A spool needs `produce = async`: a sync host waits for the broker anyway, so a spool would only
//! add a disk write; `spool.dir` with `produce = sync` is refused at load.

use super::event::EventKind;
use super::format::PayloadEncoding;
use super::rule::{validate_resource_name, HookRule, RuleError, RuleId, RuleSet};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prefix of hook rule keys.
pub const HOOK_PREFIX: &str = "bridge.rocket.hook.";
/// The default name-server port, used when `servers` gives a host only.
pub const DEFAULT_NAMESRV_PORT: u16 = 9876;
/// Most events per batch accepted for `producer.batch_size`.
pub const MAX_BATCH_SIZE: usize = 1024;
/// Most requests accepted for `producer.max_in_flight`.
pub const MAX_IN_FLIGHT: usize = 1024;

/// Whether the host's send waits for the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProduceMode {
    /// The host's call returns once the broker confirmed (or with the error).
    #[default]
    Sync,
    /// The host's call returns at once.
    Async,
}

/// What happens when the memory budget is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// The host's call waits until there is room.
    #[default]
    Block,
    /// The incoming event is dropped.
    DropNew,
    /// The oldest waiting event is dropped to make room.
    DropOldest,
}

/// How a message queue is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueueStrategy {
    /// By a hash of the MQTT client id: one client's events stay in order.
    #[default]
    KeyDispatch,
    /// Round robin over all queues: no order guarantee.
    RoundRobin,
}

/// ACL credentials: the remoting layer's type (its `Debug` never shows the secret or the token).
pub use crate::remoting::acl::AclCredentials;

/// The whole bridge configuration. Fields are public so embedders and tests can adjust a loaded
/// config; [`BridgeConfig::default`] gives every default and no rules.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeConfig {
    /// `bridge.rocket.servers`: name-server addresses, `host:port`.
    pub servers: Vec<String>,
    /// `bridge.rocket.refresh_topic_route_interval`.
    pub refresh_topic_route_interval: Duration,
    /// `bridge.rocket.produce`.
    pub produce: ProduceMode,
    /// `bridge.rocket.produce.sync_timeout`.
    pub sync_timeout: Duration,
    /// `bridge.rocket.producer.batch_size`.
    pub batch_size: usize,
    /// `bridge.rocket.encode_payload_type`: the default for rules without `payload_encoding`,
    /// applied when the file is parsed (each rule then carries its own encoding).
    pub encode_payload_type: PayloadEncoding,
    /// `bridge.rocket.sock.buffer`, bytes.
    pub sock_buffer: usize,
    /// `bridge.rocket.sock.recbuf`, bytes.
    pub sock_recbuf: usize,
    /// `bridge.rocket.sock.sndbuf`, bytes.
    pub sock_sndbuf: usize,
    /// `bridge.rocket.sock.read_packets` (no effect).
    pub sock_read_packets: u32,
    /// `bridge.rocket.producer_group`.
    pub producer_group: String,
    /// `bridge.rocket.node`.
    pub node: String,
    /// `bridge.rocket.bridge_id`.
    pub bridge_id: String,
    /// `bridge.rocket.namespace`.
    pub namespace: Option<String>,
    /// `bridge.rocket.acl.*`.
    pub acl: Option<AclCredentials>,
    /// `bridge.rocket.buffer.max_bytes`.
    pub buffer_max_bytes: usize,
    /// `bridge.rocket.buffer.overflow`.
    pub buffer_overflow: OverflowPolicy,
    /// `bridge.rocket.producer.queue_strategy`.
    pub queue_strategy: QueueStrategy,
    /// `bridge.rocket.producer.max_in_flight`: requests in flight per broker connection.
    pub max_in_flight: usize,
    /// `bridge.rocket.producer.max_message_size`, bytes.
    pub max_message_size: usize,
    /// `bridge.rocket.drain_timeout`.
    pub drain_timeout: Duration,
    /// `bridge.rocket.stats_interval` (zero: off).
    pub stats_interval: Duration,
    /// The hook rules.
    pub rules: RuleSet,
    /// `bridge.rocket.spool.*`: the disk spool, when `spool.dir` is set.
    pub spool: Option<crate::spool::SpoolConfig>,
    /// `bridge.rocket.loss_report.topic`.
    pub loss_report_topic: Option<String>,
    /// `bridge.rocket.health.window`.
    pub health_window: Duration,
    /// `bridge.rocket.metrics.listen`: a loopback address.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `bridge.rocket.retry.max_hold`: async without a spool, how long a message that was not
    /// stored is held and re-sent before it is dropped as `failed` (zero: no hold).
    pub retry_max_hold: Duration,
}

impl Default for BridgeConfig {
    fn default() -> BridgeConfig {
        let node = default_node();
        BridgeConfig {
            servers: vec![format!("127.0.0.1:{DEFAULT_NAMESRV_PORT}")],
            refresh_topic_route_interval: Duration::from_secs(5),
            produce: ProduceMode::Sync,
            sync_timeout: Duration::from_secs(3),
            batch_size: 100,
            encode_payload_type: PayloadEncoding::Base64,
            sock_buffer: 32 * 1024,
            sock_recbuf: 32 * 1024,
            sock_sndbuf: 1024 * 1024,
            sock_read_packets: 20,
            producer_group: "rocketmq_bridge".to_owned(),
            bridge_id: node.clone(),
            node,
            namespace: None,
            acl: None,
            buffer_max_bytes: 4 * 1024 * 1024,
            buffer_overflow: OverflowPolicy::Block,
            queue_strategy: QueueStrategy::KeyDispatch,
            max_in_flight: 8,
            max_message_size: 4 * 1024 * 1024,
            drain_timeout: Duration::from_secs(5),
            stats_interval: Duration::from_secs(60),
            rules: RuleSet::default(),
            spool: None,
            loss_report_topic: None,
            health_window: Duration::from_secs(30),
            metrics_listen: None,
            retry_max_hold: Duration::from_secs(60),
        }
    }
}

/// `rocketmq_bridge@<hostname>`, the hostname read from the kernel (`localhost` if unreadable).
pub fn default_node() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty() && !s.chars().any(|c| c.is_control() || c.is_whitespace()))
        .unwrap_or_else(|| "localhost".to_owned());
    format!("rocketmq_bridge@{host}")
}

impl BridgeConfig {
    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file and, for content errors, the line and key.
    pub fn load(path: impl AsRef<Path>) -> Result<BridgeConfig, ConfigError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: None,
            key: None,
            kind: ConfigErrorKind::Io(e),
        })?;
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                return Err(ConfigError {
                    file: path.to_owned(),
                    line: Some(line),
                    key: None,
                    kind: ConfigErrorKind::NotUtf8,
                });
            }
        };
        BridgeConfig::parse(&text, path)
    }

    /// Parses config text; `file` is only used in errors.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, the line and the key.
    pub fn parse(text: &str, file: impl AsRef<Path>) -> Result<BridgeConfig, ConfigError> {
        Parser {
            file: file.as_ref().to_owned(),
            seen: HashMap::new(),
            rules: Vec::new(),
            rule_lines: HashMap::new(),
        }
        .run(text)
    }
}

struct Parser {
    file: PathBuf,
    /// key -> line where first seen
    seen: HashMap<String, usize>,
    rules: Vec<HookRule>,
    rule_lines: HashMap<RuleId, usize>,
}

/// Keys whose values are never echoed in errors.
const SECRET_KEYS: [&str; 2] = [
    "bridge.rocket.acl.secret_key",
    "bridge.rocket.acl.security_token",
];

impl Parser {
    fn err(&self, line: usize, key: &str, kind: ConfigErrorKind) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: Some(line),
            key: if key.is_empty() {
                None
            } else {
                Some(key.to_owned())
            },
            kind,
        }
    }

    fn run(mut self, text: &str) -> Result<BridgeConfig, ConfigError> {
        let mut cfg = BridgeConfig::default();
        // Rules are parsed after the scalars so a rule can default to `encode_payload_type` even
        // when that key comes later in the file.
        let mut rule_lines: Vec<(usize, String, String)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(self.err(line_no, "", ConfigErrorKind::Syntax(clip(line))));
            };
            let (key, value) = (k.trim(), v.trim());
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(self.err(line_no, "", ConfigErrorKind::Syntax(clip(line))));
            }
            if let Some(&first_line) = self.seen.get(key) {
                return Err(self.err(line_no, key, ConfigErrorKind::Duplicate { first_line }));
            }
            self.seen.insert(key.to_owned(), line_no);
            if value.is_empty() {
                return Err(self.err(line_no, key, ConfigErrorKind::EmptyValue));
            }
            if key.starts_with(HOOK_PREFIX) {
                rule_lines.push((line_no, key.to_owned(), value.to_owned()));
            } else {
                self.scalar(&mut cfg, line_no, key, value)?;
            }
        }
        for (line_no, key, value) in rule_lines {
            self.rule(line_no, &key, &value, cfg.encode_payload_type)?;
        }
        if !self.seen.contains_key("bridge.rocket.bridge_id") {
            cfg.bridge_id = bridge_id_from_node(&cfg.node);
        }
        self.cross_checks(&cfg)?;
        cfg.rules = RuleSet::new(self.rules);
        Ok(cfg)
    }

    fn bad(&self, line: usize, key: &str, value: &str, expected: impl Into<String>) -> ConfigError {
        let shown = if SECRET_KEYS.contains(&key) {
            "<redacted>".to_owned()
        } else {
            clip(value)
        };
        self.err(
            line,
            key,
            ConfigErrorKind::InvalidValue {
                value: shown,
                expected: expected.into(),
            },
        )
    }

    fn scalar(
        &self,
        c: &mut BridgeConfig,
        n: usize,
        key: &str,
        v: &str,
    ) -> Result<(), ConfigError> {
        let dur = |this: &Self, allow_zero: bool| -> Result<Duration, ConfigError> {
            match parse_duration(v) {
                Ok(d) if d.is_zero() && !allow_zero => {
                    Err(this.bad(n, key, v, "a duration greater than zero"))
                }
                Ok(d) => Ok(d),
                Err(why) => Err(this.bad(n, key, v, why)),
            }
        };
        let size = |this: &Self, min: u64, max: u64| -> Result<usize, ConfigError> {
            match parse_bytesize(v) {
                Ok(b) if b < min || b > max => Err(this.bad(
                    n,
                    key,
                    v,
                    format!("a size from {} to {}", show_size(min), show_size(max)),
                )),
                Ok(b) => Ok(b as usize),
                Err(why) => Err(this.bad(n, key, v, why)),
            }
        };
        {
            match key {
                "bridge.rocket.servers" => c.servers = self.servers(n, key, v)?,
                "bridge.rocket.refresh_topic_route_interval" => {
                    c.refresh_topic_route_interval = dur(self, false)?
                }
                "bridge.rocket.produce" => {
                    c.produce = match v {
                        "sync" => ProduceMode::Sync,
                        "async" => ProduceMode::Async,
                        _ => return Err(self.bad(n, key, v, "sync or async")),
                    }
                }
                "bridge.rocket.produce.sync_timeout" => c.sync_timeout = dur(self, false)?,
                "bridge.rocket.producer.batch_size" => {
                    c.batch_size = match v.parse::<usize>() {
                        Ok(b) if b <= MAX_BATCH_SIZE => b,
                        _ => {
                            return Err(self.bad(
                                n,
                                key,
                                v,
                                format!("an integer from 0 to {MAX_BATCH_SIZE}"),
                            ))
                        }
                    }
                }
                "bridge.rocket.encode_payload_type" => {
                    c.encode_payload_type = PayloadEncoding::parse(v)
                        .ok_or_else(|| self.bad(n, key, v, "base64 or plain"))?
                }
                "bridge.rocket.sock.buffer" => c.sock_buffer = size(self, 1024, 64 << 20)?,
                "bridge.rocket.sock.recbuf" => c.sock_recbuf = size(self, 1024, 64 << 20)?,
                "bridge.rocket.sock.sndbuf" => c.sock_sndbuf = size(self, 1024, 64 << 20)?,
                "bridge.rocket.sock.read_packets" => {
                    c.sock_read_packets = match v.parse::<u32>() {
                        Ok(p) if (1..=1_000_000).contains(&p) => p,
                        _ => return Err(self.bad(n, key, v, "an integer from 1 to 1000000")),
                    }
                }
                "bridge.rocket.producer_group" => {
                    validate_resource_name(v, 255).map_err(|why| {
                        self.bad(
                            n,
                            key,
                            v,
                            format!("a group name (A-Z a-z 0-9 _ - % |, 1 to 255): it {why}"),
                        )
                    })?;
                    c.producer_group = v.to_owned();
                }
                "bridge.rocket.node" => {
                    if v.chars().any(char::is_control) {
                        return Err(self.bad(n, key, v, "a name without control characters"));
                    }
                    c.node = v.to_owned();
                }
                "bridge.rocket.bridge_id" => {
                    if v.len() > 128 || v.chars().any(|ch| ch.is_control() || ch.is_whitespace()) {
                        return Err(self.bad(
                            n,
                            key,
                            v,
                            "at most 128 characters, no spaces or control characters",
                        ));
                    }
                    c.bridge_id = v.to_owned();
                }
                "bridge.rocket.namespace" => {
                    if v.len() > 64
                        || !v
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    {
                        return Err(self.bad(
                            n,
                            key,
                            v,
                            "a namespace of A-Z a-z 0-9 _ -, at most 64",
                        ));
                    }
                    c.namespace = Some(v.to_owned());
                }
                "bridge.rocket.acl.access_key"
                | "bridge.rocket.acl.secret_key"
                | "bridge.rocket.acl.security_token" => {
                    if v.chars().any(|ch| ch.is_control()) {
                        return Err(self.bad(n, key, v, "a value without control characters"));
                    }
                    let acl = c.acl.get_or_insert_with(|| AclCredentials {
                        access_key: String::new(),
                        secret_key: String::new(),
                        security_token: None,
                    });
                    match key {
                        "bridge.rocket.acl.access_key" => acl.access_key = v.to_owned(),
                        "bridge.rocket.acl.secret_key" => acl.secret_key = v.to_owned(),
                        _ => acl.security_token = Some(v.to_owned()),
                    }
                }
                "bridge.rocket.buffer.max_bytes" => c.buffer_max_bytes = size(self, 1024, 1 << 40)?,
                "bridge.rocket.buffer.overflow" => {
                    c.buffer_overflow = match v {
                        "block" => OverflowPolicy::Block,
                        "drop_new" => OverflowPolicy::DropNew,
                        "drop_oldest" => OverflowPolicy::DropOldest,
                        _ => return Err(self.bad(n, key, v, "block, drop_new or drop_oldest")),
                    }
                }
                "bridge.rocket.producer.max_in_flight" => {
                    c.max_in_flight = match v.parse::<usize>() {
                        Ok(w) if (1..=MAX_IN_FLIGHT).contains(&w) => w,
                        _ => {
                            return Err(self.bad(
                                n,
                                key,
                                v,
                                format!("an integer from 1 to {MAX_IN_FLIGHT}"),
                            ))
                        }
                    }
                }
                "bridge.rocket.producer.queue_strategy" => {
                    c.queue_strategy = match v {
                        "key_dispatch" => QueueStrategy::KeyDispatch,
                        "roundrobin" => QueueStrategy::RoundRobin,
                        _ => return Err(self.bad(n, key, v, "key_dispatch or roundrobin")),
                    }
                }
                "bridge.rocket.producer.max_message_size" => {
                    c.max_message_size = size(self, 1024, 1 << 30)?
                }
                "bridge.rocket.drain_timeout" => c.drain_timeout = dur(self, true)?,
                "bridge.rocket.stats_interval" => c.stats_interval = dur(self, true)?,
                "bridge.rocket.spool.dir" => {
                    let sp = c
                        .spool
                        .get_or_insert_with(|| crate::spool::SpoolConfig::new(""));
                    sp.dir = std::path::PathBuf::from(v);
                }
                "bridge.rocket.spool.segment_size" => {
                    let b = size(
                        self,
                        crate::spool::MIN_SEGMENT_SIZE,
                        crate::spool::MAX_SEGMENT_SIZE,
                    )?;
                    let sp = c
                        .spool
                        .get_or_insert_with(|| crate::spool::SpoolConfig::new(""));
                    sp.segment_size = b as u64;
                }
                "bridge.rocket.spool.max_bytes" => {
                    let b = size(self, 2 * crate::spool::MIN_SEGMENT_SIZE, 1 << 50)?;
                    let sp = c
                        .spool
                        .get_or_insert_with(|| crate::spool::SpoolConfig::new(""));
                    sp.max_bytes = b as u64;
                }
                "bridge.rocket.spool.sync" => {
                    let p: crate::spool::SyncPolicy = v.parse().map_err(|_| {
                        self.bad(
                            n,
                            key,
                            v,
                            "none, always, interval:<ms> (1 to 3600000) or every:<n> (n > 0)",
                        )
                    })?;
                    let sp = c
                        .spool
                        .get_or_insert_with(|| crate::spool::SpoolConfig::new(""));
                    sp.sync = p;
                }
                "bridge.rocket.loss_report.topic" => {
                    validate_resource_name(v, 127).map_err(|why| {
                        self.bad(
                            n,
                            key,
                            v,
                            format!("a topic name (A-Z a-z 0-9 _ - % |, 1 to 127): it {why}"),
                        )
                    })?;
                    c.loss_report_topic = Some(v.to_owned());
                }
                "bridge.rocket.health.window" => c.health_window = dur(self, false)?,
                "bridge.rocket.retry.max_hold" => c.retry_max_hold = dur(self, true)?,
                "bridge.rocket.metrics.listen" => {
                    let addr: std::net::SocketAddr = v
                        .parse()
                        .map_err(|_| self.bad(n, key, v, "a loopback ip:port"))?;
                    if !addr.ip().is_loopback() {
                        return Err(self.bad(
                            n,
                            key,
                            v,
                            "a loopback ip:port (127.0.0.1 or [::1]); the endpoint is local only",
                        ));
                    }
                    c.metrics_listen = Some(addr);
                }
                _ => return Err(self.err(n, key, ConfigErrorKind::UnknownKey)),
            }
            Ok(())
        }
    }

    fn servers(&self, n: usize, key: &str, v: &str) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        for part in v.split(',') {
            let s = part.trim();
            let (host, port) = match s.rsplit_once(':') {
                Some((h, p)) => match p.parse::<u16>() {
                    Ok(port) if port > 0 => (h, port),
                    _ => {
                        return Err(self.bad(
                            n,
                            key,
                            v,
                            format!("host:port pairs; bad port in {s:?}"),
                        ))
                    }
                },
                None => (s, DEFAULT_NAMESRV_PORT),
            };
            if host.is_empty()
                || host.contains(|c: char| c.is_whitespace() || c.is_control() || c == '/')
            {
                return Err(self.bad(
                    n,
                    key,
                    v,
                    format!("comma-separated host:port; bad host in {s:?}"),
                ));
            }
            out.push(format!("{host}:{port}"));
        }
        Ok(out)
    }

    fn rule(
        &mut self,
        n: usize,
        key: &str,
        v: &str,
        default_encoding: PayloadEncoding,
    ) -> Result<(), ConfigError> {
        let rest = &key[HOOK_PREFIX.len()..];
        let Some((event_name, idx)) = rest.rsplit_once('.') else {
            return Err(self.err(n, key, ConfigErrorKind::UnknownEvent(rest.to_owned())));
        };
        let Some(event) = EventKind::from_hook_name(event_name) else {
            return Err(self.err(n, key, ConfigErrorKind::UnknownEvent(event_name.to_owned())));
        };
        let index = match idx.parse::<u32>() {
            Ok(i) if i > 0 && idx.bytes().all(|b| b.is_ascii_digit()) => i,
            _ => return Err(self.err(n, key, ConfigErrorKind::InvalidRuleNumber(idx.to_owned()))),
        };
        let id = RuleId { event, index };
        if let Some(&first_line) = self.rule_lines.get(&id) {
            return Err(self.err(n, key, ConfigErrorKind::Duplicate { first_line }));
        }
        let rule = HookRule::parse(event, index, v, default_encoding)
            .map_err(|e| self.err(n, key, ConfigErrorKind::Rule(e)))?;
        self.rule_lines.insert(id, n);
        self.rules.push(rule);
        Ok(())
    }

    fn cross_checks(&self, cfg: &BridgeConfig) -> Result<(), ConfigError> {
        let line_of = |k: &str| self.seen.get(k).copied();
        if let Some(acl) = &cfg.acl {
            let conflict = |k: &str, msg: &str| {
                let line = line_of(k).unwrap_or(0);
                self.err(line, k, ConfigErrorKind::Conflict(msg.to_owned()))
            };
            if acl.access_key.is_empty() {
                let k = if line_of("bridge.rocket.acl.secret_key").is_some() {
                    "bridge.rocket.acl.secret_key"
                } else {
                    "bridge.rocket.acl.security_token"
                };
                return Err(conflict(k, "needs bridge.rocket.acl.access_key"));
            }
            if acl.secret_key.is_empty() {
                return Err(conflict(
                    "bridge.rocket.acl.access_key",
                    "needs bridge.rocket.acl.secret_key",
                ));
            }
        }
        if let Some(sp) = &cfg.spool {
            let first_spool_key = || {
                [
                    "bridge.rocket.spool.segment_size",
                    "bridge.rocket.spool.max_bytes",
                    "bridge.rocket.spool.sync",
                ]
                .into_iter()
                .find(|k| line_of(k).is_some())
                .unwrap_or("bridge.rocket.spool.dir")
            };
            let conflict = |k: &str, msg: String| {
                self.err(line_of(k).unwrap_or(0), k, ConfigErrorKind::Conflict(msg))
            };
            if line_of("bridge.rocket.spool.dir").is_none() {
                let k = first_spool_key();
                return Err(conflict(k, "needs bridge.rocket.spool.dir".to_owned()));
            }
            if cfg.produce == ProduceMode::Sync {
                return Err(conflict(
                    "bridge.rocket.spool.dir",
                    "a spool needs bridge.rocket.produce = async (a sync host already waits for \
                     the broker; the spool would only add a disk write)"
                        .to_owned(),
                ));
            }
            if let Err(e) = sp.validate() {
                let k = match &e {
                    crate::spool::SpoolError::Config {
                        key: "max_bytes", ..
                    } => "bridge.rocket.spool.max_bytes",
                    crate::spool::SpoolError::Config {
                        key: "segment_size",
                        ..
                    } => "bridge.rocket.spool.segment_size",
                    _ => "bridge.rocket.spool.dir",
                };
                let why = match e {
                    crate::spool::SpoolError::Config { reason, .. } => reason,
                    other => other.to_string(),
                };
                return Err(conflict(k, why));
            }
        }
        if cfg.buffer_max_bytes < cfg.max_message_size {
            let k = if line_of("bridge.rocket.buffer.max_bytes").is_some() {
                "bridge.rocket.buffer.max_bytes"
            } else {
                "bridge.rocket.producer.max_message_size"
            };
            return Err(self.err(
                line_of(k).unwrap_or(0),
                k,
                ConfigErrorKind::Conflict(format!(
                    "buffer.max_bytes ({}) must be at least producer.max_message_size ({})",
                    show_size(cfg.buffer_max_bytes as u64),
                    show_size(cfg.max_message_size as u64)
                )),
            ));
        }
        Ok(())
    }
}

/// The default `bridge_id`: the node name with whitespace replaced by `_` (message keys are
/// space-separated in RocketMQ), at most 128 bytes.
fn bridge_id_from_node(node: &str) -> String {
    let mut id: String = node
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    if id.len() > 128 {
        let mut end = 128;
        while !id.is_char_boundary(end) {
            end -= 1;
        }
        id.truncate(end);
    }
    id
}

fn clip(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn show_size(b: u64) -> String {
    for (unit, shift) in [("GB", 30), ("MB", 20), ("KB", 10)] {
        if b >= 1 << shift && b.is_multiple_of(1 << shift) {
            return format!("{}{unit}", b >> shift);
        }
    }
    format!("{b}B")
}

/// Parses a duration: one or more `<integer><unit>` pairs, units `ms`, `s`, `m`, `h`, `d`, `w`,
/// case-insensitive (`5S`, `3s`, `500ms`, `1m30s`).
///
/// # Errors
/// A short description of what was expected.
pub fn parse_duration(s: &str) -> Result<Duration, &'static str> {
    const EXPECTED: &str = "a duration such as 500ms, 3s, 5S, 1m, 1h (units ms s m h d w)";
    let lower = s.to_ascii_lowercase();
    let mut rest = lower.as_str();
    if rest.is_empty() {
        return Err(EXPECTED);
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(EXPECTED);
        }
        let num: u64 = rest[..digits]
            .parse()
            .map_err(|_| "a duration that is not this large")?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let mult: u64 = match &rest[..letters] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return Err(EXPECTED),
        };
        rest = &rest[letters..];
        total_ms = num
            .checked_mul(mult)
            .and_then(|v| v.checked_add(total_ms))
            .ok_or("a duration that is not this large")?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Parses a byte size: an integer with an optional unit `B`, `KB`, `MB`, `GB` (powers of 1024),
/// case-insensitive (`32KB`, `1MB`, `4096`).
///
/// # Errors
/// A short description of what was expected.
pub fn parse_bytesize(s: &str) -> Result<u64, &'static str> {
    const EXPECTED: &str = "a size such as 4096, 32KB, 1MB (units B KB MB GB)";
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(EXPECTED);
    }
    let num: u64 = s[..digits]
        .parse()
        .map_err(|_| "a size that is not this large")?;
    let shift = match s[digits..].to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "kb" => 10,
        "mb" => 20,
        "gb" => 30,
        _ => return Err(EXPECTED),
    };
    num.checked_mul(1 << shift)
        .ok_or("a size that is not this large")
}

/// A config file that cannot be used. `Display` names the file, the line and the key.
#[derive(Debug)]
pub struct ConfigError {
    /// The file (as given to `load`/`parse`).
    pub file: PathBuf,
    /// The line (from 1), when the error has one.
    pub line: Option<usize>,
    /// The key, when the error has one.
    pub key: Option<String>,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// What is wrong with a config file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file could not be read.
    Io(io::Error),
    /// The file is not UTF-8 (the line is where the first bad byte is).
    NotUtf8,
    /// A line that is neither a comment nor `key = value`; carries the line (clipped).
    Syntax(String),
    /// A key this format does not define.
    UnknownKey,
    /// The key (or the same rule) was already given.
    Duplicate {
        /// Where it was first given.
        first_line: usize,
    },
    /// `key =` with nothing after it.
    EmptyValue,
    /// The value is not acceptable for the key.
    InvalidValue {
        /// The value (clipped; `<redacted>` for secrets).
        value: String,
        /// What was expected.
        expected: String,
    },
    /// `bridge.rocket.hook.<event>.<n>` with an unknown `<event>`.
    UnknownEvent(String),
    /// `bridge.rocket.hook.<event>.<n>` with `<n>` not a positive integer.
    InvalidRuleNumber(String),
    /// The rule's JSON is not acceptable.
    Rule(RuleError),
    /// Keys that cannot go together; carries the explanation.
    Conflict(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": ")?;
        match &self.kind {
            ConfigErrorKind::Io(e) => write!(f, "cannot read the file: {e}"),
            ConfigErrorKind::NotUtf8 => write!(f, "the file is not valid UTF-8"),
            ConfigErrorKind::Syntax(line) => {
                write!(f, "expected `key = value` or a # comment, found {line:?}")
            }
            ConfigErrorKind::UnknownKey => write!(f, "unknown key"),
            ConfigErrorKind::Duplicate { first_line } => {
                write!(f, "given twice (first on line {first_line})")
            }
            ConfigErrorKind::EmptyValue => write!(f, "no value after '='"),
            ConfigErrorKind::InvalidValue { value, expected } => {
                write!(f, "invalid value {value:?}, expected {expected}")
            }
            ConfigErrorKind::UnknownEvent(ev) => write!(
                f,
                "unknown event {ev:?}; expected one of client.connected, client.disconnected, \
                 session.subscribed, session.unsubscribed, message.publish, message.delivered, \
                 message.acked"
            ),
            ConfigErrorKind::InvalidRuleNumber(n) => {
                write!(f, "rule number {n:?} is not a positive integer")
            }
            ConfigErrorKind::Rule(e) => write!(f, "{e}"),
            ConfigErrorKind::Conflict(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ConfigErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_in_any_case() {
        assert_eq!(parse_duration("5S"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("500MS"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1M30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1w"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "5",
            "s",
            "5x",
            "-1s",
            "1.5s",
            "5 s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn byte_sizes_use_powers_of_1024() {
        assert_eq!(parse_bytesize("32KB"), Ok(32 * 1024));
        assert_eq!(parse_bytesize("32kb"), Ok(32 * 1024));
        assert_eq!(parse_bytesize("1MB"), Ok(1024 * 1024));
        assert_eq!(parse_bytesize("1mb"), Ok(1024 * 1024));
        assert_eq!(parse_bytesize("2GB"), Ok(2 << 30));
        assert_eq!(parse_bytesize("4096"), Ok(4096));
        assert_eq!(parse_bytesize("7B"), Ok(7));
        for bad in [
            "",
            "KB",
            "1TB",
            "1.5MB",
            "-1KB",
            "1 KB",
            "99999999999999999999GB",
        ] {
            assert!(parse_bytesize(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn sizes_are_shown_in_the_largest_exact_unit() {
        assert_eq!(show_size(4 << 20), "4MB");
        assert_eq!(show_size(1536), "1536B");
        assert_eq!(show_size(2048), "2KB");
    }

    #[test]
    fn acl_debug_hides_secrets() {
        let acl = AclCredentials {
            access_key: "AK".into(),
            secret_key: "very-secret".into(),
            security_token: Some("tok".into()),
        };
        let s = format!("{acl:?}");
        assert!(s.contains("AK"));
        assert!(!s.contains("very-secret"));
        assert!(!s.contains("tok\""));
    }
}
