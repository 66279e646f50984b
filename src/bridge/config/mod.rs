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
//! | `bridge.rocket.bridge_id` | the node name (spaces as `_`) | prefix of each message key (`<bridge_id>-<run>-<seq>`, with a spool `<bridge_id>-<spool id>-<seq>`) that lets consumers deduplicate; two bridges may share it (the spool id, or the start time, process id and start count, keeps their keys apart); no spaces or control characters |
//! | `bridge.rocket.namespace` | none | RocketMQ namespace (`A-Z a-z 0-9 _ -`, at most 64); topics and group are sent as `<namespace>%<name>` |
//! | `bridge.rocket.acl.access_key` | none | ACL access key; enables request signing |
//! | `bridge.rocket.acl.secret_key` | none | ACL secret key; required with `access_key`, never logged |
//! | `bridge.rocket.acl.security_token` | none | optional ACL security token; needs `access_key` |
//! | `bridge.rocket.acl.secret_key_file` | none | the ACL secret read from this file (one line; a trailing newline is dropped) instead of `acl.secret_key` |
//! | `bridge.rocket.acl.secret_key_env` | none | the ACL secret read from this environment variable instead of `acl.secret_key` |
//! | `bridge.rocket.tls.enable` | `false` | TLS to name servers and brokers; needs a build with the `tls` cargo feature (the files below are read when the config is loaded) |
//! | `bridge.rocket.tls.ca_file` | the system bundle | PEM file of the CAs that sign the servers' certificates |
//! | `bridge.rocket.tls.cert_file` | none | PEM client certificate chain, for servers that require one (mutual TLS); needs `tls.key_file` |
//! | `bridge.rocket.tls.key_file` | none | PEM private key of `tls.cert_file` (PKCS#8, PKCS#1 or SEC1 unencrypted, or encrypted PKCS#8 with a passphrase) |
//! | `bridge.rocket.tls.key_password_file` | none | the passphrase of an encrypted `tls.key_file`, read from this file (one line; a trailing newline is dropped) |
//! | `bridge.rocket.tls.key_password_env` | none | the passphrase read from this environment variable |
//! | `bridge.rocket.tls.key_password` | none | the passphrase in the config text (warned; never logged) |
//! | `bridge.rocket.tls.server_name` | the host of each address | the name (DNS name or IP) every server's certificate is checked against; by default each broker's certificate must carry its registered IP as a subject alternative name |
//! | `bridge.rocket.tls.verify` | `true` | `false` accepts any server certificate (encrypted, not authenticated; for test brokers only, warned at start) |
//! | `bridge.rocket.buffer.max_bytes` | `4MB` | memory budget for events waiting to be sent or in flight, counted as the heap they hold (about 2 KB per 250-byte event); at least `producer.max_message_size` |
//! | `bridge.rocket.buffer.overflow` | `block` | when the budget is full: `block` the host's call until room frees, `drop_new` (drop the incoming event), `drop_oldest` (drop the oldest waiting event); drops are counted per rule |
//! | `bridge.rocket.producer.queue_strategy` | `key_dispatch` | `key_dispatch`: queue chosen by rendezvous hashing of the client id over the writable queues, so one client's events stay in order while its broker stays in the route (a route change moves only the clients of the broker that left or joined); a client whose broker left the route or is failing moves at once to its next-best broker, with no order across the move; `roundrobin`: spread over all queues, no order |
//! | `bridge.rocket.producer.linger` | `0s` | how long a batch that is not full may wait for more messages before it is sent (up to `1s`; async mode and `send_then` hosts such as the mosquitto plugin; a sync send on the host's thread never waits): at low rates each event would otherwise be a request of its own, so a few milliseconds trade that much delivery latency for fewer, larger requests and less CPU per event |
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
//! | `bridge.rocket.retry.resolve_unknown` | `60s` | async mode: an outcome-unknown send (timeout or connection loss after the write) is looked up at the brokers by its key (QUERY_MESSAGE) for up to this long, at most 40 lookups: found stored, it counts as sent and is not sent again; proven not stored (its connection closed, the broker's send-queue wait passed, and a later acknowledged message of the same broker is found by the same lookup), it is sent again; otherwise it stays `outcome_unknown` (counted also as `unresolved`). `0s`: no lookups. See `bridge::resolve` |
//! | `bridge.rocket.template.max_topics` | `100` | the most distinct topics one rule's topic template may send to (1 to 100000); an event that renders a new topic beyond it is dropped as `topic_cap` (a broker that creates topics on first use, Apache's default, would otherwise let MQTT clients create any number) |
//! | `bridge.rocket.retry.max_hold` | `60s` | async without a spool: how long a message the broker did not store (not sent, or refused with a retryable code) is held in memory and re-sent (backoff 500 ms doubling to 5 s) before it is dropped as `failed`; `0s`: no hold, fail at once. Held messages keep their budget bytes, so `buffer.overflow` applies to new events meanwhile; no effect with a spool (it retries from disk) or with `produce = sync` (the host gets the error) |
//!
//! The `bridge.rocket.mqtt.*` keys (the broker `rocketmq-bridge mqtt` subscribes to) are in
//! [`MqttSettings`]'s module.
//!
//! A spool needs `produce = async`: a sync host waits for the broker anyway, so a spool would only
//! add a disk write; `spool.dir` with `produce = sync` is refused at load.
//!
//! This file holds the model (the settings, their defaults, the error); the text is read by the
//! parser in `config/parse.rs` (syntax, keys, values, cross-key checks).

mod mqtt;
mod parse;
mod units;

pub use mqtt::{MqttSettings, MqttTls, DEFAULT_MQTT_PORT};
pub use units::{parse_bytesize, parse_duration};

use super::format::PayloadEncoding;
use super::rule::{RuleError, RuleSet};
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
/// Longest `producer.linger` accepted.
pub const MAX_LINGER: Duration = Duration::from_secs(1);

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

/// `bridge.rocket.tls.*`: TLS to name servers and brokers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TlsSettings {
    /// `tls.ca_file`; `None`: the system bundle.
    pub ca_file: Option<PathBuf>,
    /// `tls.cert_file`.
    pub cert_file: Option<PathBuf>,
    /// `tls.key_file`.
    pub key_file: Option<PathBuf>,
    /// The passphrase of an encrypted `tls.key_file`: `tls.key_password_file`,
    /// `tls.key_password_env` or `tls.key_password` (never shown by `Debug`).
    pub key_password: Option<crate::util::Secret>,
    /// `tls.server_name`.
    pub server_name: Option<String>,
    /// `tls.verify`.
    pub verify: bool,
    /// The client configuration built from the files when the config was loaded.
    #[cfg(feature = "tls")]
    pub connector: Option<crate::remoting::TlsConnector>,
}

impl Default for TlsSettings {
    fn default() -> TlsSettings {
        TlsSettings {
            ca_file: None,
            cert_file: None,
            key_file: None,
            key_password: None,
            server_name: None,
            verify: true,
            #[cfg(feature = "tls")]
            connector: None,
        }
    }
}

/// Settings compare by their keys (the connector is built from them).
impl PartialEq for TlsSettings {
    fn eq(&self, o: &TlsSettings) -> bool {
        (
            &self.ca_file,
            &self.cert_file,
            &self.key_file,
            &self.key_password,
            &self.server_name,
            self.verify,
        ) == (
            &o.ca_file,
            &o.cert_file,
            &o.key_file,
            &o.key_password,
            &o.server_name,
            o.verify,
        )
    }
}

impl Eq for TlsSettings {}

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
    /// `bridge.rocket.broker_addr_map`: (address a route names, address to dial) pairs, for brokers
    /// that register an address this host cannot reach (NAT, Docker, Kubernetes). The bridge's
    /// producer and its lookups dial the second address; the first still names the broker in
    /// logs and errors. Written `route_addr=dial_addr`, comma separated.
    pub broker_addr_map: Vec<(String, String)>,
    /// `bridge.rocket.tls.*`, when `tls.enable = true`.
    pub tls: Option<TlsSettings>,
    /// `bridge.rocket.buffer.max_bytes`.
    pub buffer_max_bytes: usize,
    /// `bridge.rocket.buffer.overflow`.
    pub buffer_overflow: OverflowPolicy,
    /// `bridge.rocket.producer.queue_strategy`.
    pub queue_strategy: QueueStrategy,
    /// `bridge.rocket.producer.max_in_flight`: requests in flight per broker connection.
    pub max_in_flight: usize,
    /// `bridge.rocket.producer.linger`: how long a partial batch may wait for more messages.
    pub linger: Duration,
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
    /// `bridge.rocket.retry.resolve_unknown`: async mode, the longest an outcome-unknown send
    /// waits for the broker lookup ([`crate::bridge::resolve`]) before it stays unknown (zero:
    /// no lookups, every unknown outcome stays unknown).
    pub retry_resolve_unknown: Duration,
    /// `bridge.rocket.template.max_topics`: distinct topics per rule's topic template.
    pub template_max_topics: usize,
    /// `bridge.rocket.mqtt.*`: the broker `rocketmq-bridge mqtt` subscribes to (nothing else
    /// reads it).
    pub mqtt: MqttSettings,
}

/// The largest `bridge.rocket.template.max_topics`.
pub const MAX_TEMPLATE_TOPICS: usize = 100_000;

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
            broker_addr_map: Vec::new(),
            tls: None,
            buffer_max_bytes: 4 * 1024 * 1024,
            buffer_overflow: OverflowPolicy::Block,
            queue_strategy: QueueStrategy::KeyDispatch,
            max_in_flight: 8,
            linger: Duration::ZERO,
            max_message_size: 4 * 1024 * 1024,
            drain_timeout: Duration::from_secs(5),
            stats_interval: Duration::from_secs(60),
            rules: RuleSet::default(),
            spool: None,
            loss_report_topic: None,
            health_window: Duration::from_secs(30),
            metrics_listen: None,
            retry_max_hold: Duration::from_secs(60),
            retry_resolve_unknown: crate::bridge::resolve::MAX_RESOLVE_TIME,
            template_max_topics: 100,
            mqtt: MqttSettings::default(),
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
        parse::Parser::new(file.as_ref()).run(text)
    }
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
    /// The TLS files cannot be used (the `tls` feature).
    #[cfg(feature = "tls")]
    Tls(Box<crate::remoting::TlsSetupError>),
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
            #[cfg(feature = "tls")]
            ConfigErrorKind::Tls(e) => {
                write!(f, "{e}")?;
                let mut src = std::error::Error::source(&**e);
                while let Some(s) = src {
                    write!(f, ": {s}")?;
                    src = s.source();
                }
                Ok(())
            }
        }
    }
}

/// No `source()`: `Display` already writes the cause (the I/O error of
/// [`ConfigErrorKind::Io`]), and a cause is printed once.
impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    /// TLS keys with `extra` (TLS itself off: the passphrase keys are read in every build).
    fn with_pass(extra: &str) -> Result<BridgeConfig, ConfigError> {
        BridgeConfig::parse(
            &format!(
                "bridge.rocket.servers = 127.0.0.1:9876\nbridge.rocket.tls.key_file = {}\n{extra}",
                fixture("encrypted-key.pem")
            ),
            "pass.conf",
        )
    }

    #[test]
    fn key_password_sources_errors_name_the_key_and_never_show_the_passphrase() {
        let e = with_pass("bridge.rocket.tls.key_password_env = RMQB_TEST_SURELY_UNSET_VAR\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bridge.rocket.tls.key_password_env"), "{e}");
        assert!(e.contains("RMQB_TEST_SURELY_UNSET_VAR"), "{e}");
        let e = with_pass("bridge.rocket.tls.key_password_file = /nonexistent/pass.txt\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bridge.rocket.tls.key_password_file"), "{e}");
        assert!(e.contains("/nonexistent/pass.txt"), "{e}");
        let e = with_pass("bridge.rocket.tls.key_password = abc\u{7}def\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("<redacted>") && !e.contains("abc"), "{e}");
        let e = with_pass(
            "bridge.rocket.tls.key_password = one\nbridge.rocket.tls.key_password_env = HOME\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("once"), "{e}");
        let e = BridgeConfig::parse(
            "bridge.rocket.servers = 127.0.0.1:9876\nbridge.rocket.tls.key_password = x\n",
            "pass.conf",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs bridge.rocket.tls.key_file"), "{e}");
        let cfg = with_pass("bridge.rocket.tls.key_password = in-the-text-1\n").unwrap();
        assert!(!format!("{cfg:?}").contains("in-the-text-1"));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn encrypted_key_with_its_passphrase_from_a_file_or_the_environment() {
        let dir = std::env::temp_dir().join(format!("rmqb-pass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tls = |extra: &str| {
            BridgeConfig::parse(
                &format!(
                    "bridge.rocket.servers = 127.0.0.1:9876\nbridge.rocket.tls.enable = true\n\
                     bridge.rocket.tls.verify = false\nbridge.rocket.tls.cert_file = {}\n\
                     bridge.rocket.tls.key_file = {}\n{extra}",
                    fixture("cert.pem"),
                    fixture("encrypted-key.pem")
                ),
                "pass.conf",
            )
        };
        // No passphrase: the key file is named.
        let e = tls("").unwrap_err().to_string();
        assert!(
            e.contains("bridge.rocket.tls.key_file") && e.contains("encrypted"),
            "{e}"
        );
        // A wrong one from a file: the key that gave it and the key file are named.
        let f = dir.join("pass");
        std::fs::write(&f, "not-the-passphrase\n").unwrap();
        let e = tls(&format!(
            "bridge.rocket.tls.key_password_file = {}\n",
            f.display()
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("bridge.rocket.tls.key_password_file"), "{e}");
        assert!(
            e.contains("encrypted-key.pem") && e.contains("wrong passphrase"),
            "{e}"
        );
        assert!(!e.contains("not-the-passphrase"), "{e}");
        // The right one, from a file or the environment.
        std::fs::write(&f, "fixture-passphrase\n").unwrap();
        let cfg = tls(&format!(
            "bridge.rocket.tls.key_password_file = {}\n",
            f.display()
        ))
        .unwrap();
        assert!(cfg.tls.unwrap().connector.is_some());
        std::env::set_var("RMQB_TEST_KEY_PASSPHRASE", "fixture-passphrase");
        tls("bridge.rocket.tls.key_password_env = RMQB_TEST_KEY_PASSPHRASE\n").unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
