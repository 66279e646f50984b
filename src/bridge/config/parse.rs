//! The config file's parser: one `key = value` a line, each key once, values checked as they are
//! read, then the checks across keys (see the module docs of [`super`] for the syntax and keys).

use super::mqtt;
use super::units::{parse_bytesize, parse_duration, show_size};
use super::{
    AclCredentials, BridgeConfig, ConfigError, ConfigErrorKind, OverflowPolicy, ProduceMode,
    QueueStrategy, TlsSettings, DEFAULT_NAMESRV_PORT, HOOK_PREFIX, MAX_BATCH_SIZE, MAX_IN_FLIGHT,
};
use crate::bridge::event::EventKind;
use crate::bridge::format::PayloadEncoding;
use crate::bridge::rule::{validate_resource_name, HookRule, RuleId, RuleSet};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) struct Parser {
    file: PathBuf,
    /// key -> line where first seen
    seen: HashMap<String, usize>,
    rules: Vec<HookRule>,
    rule_lines: HashMap<RuleId, usize>,
    /// The `bridge.rocket.tls.*` keys seen.
    tls: Option<TlsKeys>,
}

#[derive(Default)]
struct TlsKeys {
    enable: bool,
    settings: TlsSettings,
}

/// The keys that give the ACL secret: in the text, from a file, from the environment.
const SECRET_SOURCES: [&str; 3] = [
    "bridge.rocket.acl.secret_key",
    "bridge.rocket.acl.secret_key_file",
    "bridge.rocket.acl.secret_key_env",
];

/// Keys whose values are never echoed in errors.
const SECRET_KEYS: [&str; 4] = [
    "bridge.rocket.acl.secret_key",
    "bridge.rocket.acl.security_token",
    "bridge.rocket.tls.key_password",
    "bridge.rocket.mqtt.password",
];

/// The keys that give the TLS key's passphrase: in the text, from a file, from the environment.
const KEY_PASSWORD_SOURCES: [&str; 3] = [
    "bridge.rocket.tls.key_password",
    "bridge.rocket.tls.key_password_file",
    "bridge.rocket.tls.key_password_env",
];

impl Parser {
    pub(super) fn new(file: &Path) -> Parser {
        Parser {
            file: file.to_owned(),
            seen: HashMap::new(),
            rules: Vec::new(),
            rule_lines: HashMap::new(),
            tls: None,
        }
    }

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

    pub(super) fn run(mut self, text: &str) -> Result<BridgeConfig, ConfigError> {
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
        cfg.tls = self.tls_settings()?;
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
        &mut self,
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
                | "bridge.rocket.acl.secret_key_file"
                | "bridge.rocket.acl.secret_key_env"
                | "bridge.rocket.acl.security_token" => {
                    if v.chars().any(|ch| ch.is_control()) {
                        return Err(self.bad(n, key, v, "a value without control characters"));
                    }
                    // The secret from a file or the environment instead of the config text.
                    let from = match key {
                        "bridge.rocket.acl.secret_key_file" => Some(
                            std::fs::read_to_string(v)
                                .map(|t| t.trim_end_matches(['\n', '\r']).to_owned())
                                .map_err(|e| {
                                    self.bad(n, key, v, format!("a readable file ({e})"))
                                })?,
                        ),
                        "bridge.rocket.acl.secret_key_env" => {
                            Some(std::env::var(v).map_err(|_| {
                                self.bad(n, key, v, "the name of a set, UTF-8 environment variable")
                            })?)
                        }
                        _ => None,
                    };
                    if from
                        .as_ref()
                        .is_some_and(|t| t.is_empty() || t.chars().any(char::is_control))
                    {
                        let what = "a secret of one line without control characters";
                        return Err(self.bad(n, key, v, what));
                    }
                    let acl = c.acl.get_or_insert_with(|| AclCredentials {
                        access_key: String::new(),
                        secret_key: String::new(),
                        security_token: None,
                    });
                    match key {
                        "bridge.rocket.acl.access_key" => acl.access_key = v.to_owned(),
                        "bridge.rocket.acl.secret_key" => acl.secret_key = v.to_owned(),
                        "bridge.rocket.acl.security_token" => {
                            acl.security_token = Some(v.to_owned())
                        }
                        _ => acl.secret_key = from.unwrap_or_default(),
                    }
                }
                "bridge.rocket.tls.enable"
                | "bridge.rocket.tls.ca_file"
                | "bridge.rocket.tls.cert_file"
                | "bridge.rocket.tls.key_file"
                | "bridge.rocket.tls.server_name"
                | "bridge.rocket.tls.verify" => {
                    if v.chars().any(|ch| ch.is_control()) {
                        return Err(self.bad(n, key, v, "a value without control characters"));
                    }
                    let bool_of = |this: &Self| match v {
                        "true" | "on" => Ok(true),
                        "false" | "off" => Ok(false),
                        _ => Err(this.bad(n, key, v, "true or false")),
                    };
                    let flag = match key {
                        "bridge.rocket.tls.enable" | "bridge.rocket.tls.verify" => bool_of(self)?,
                        _ => false,
                    };
                    let t = self.tls.get_or_insert_with(TlsKeys::default);
                    match key {
                        "bridge.rocket.tls.enable" => t.enable = flag,
                        "bridge.rocket.tls.verify" => t.settings.verify = flag,
                        "bridge.rocket.tls.ca_file" => t.settings.ca_file = Some(v.into()),
                        "bridge.rocket.tls.cert_file" => t.settings.cert_file = Some(v.into()),
                        "bridge.rocket.tls.key_file" => t.settings.key_file = Some(v.into()),
                        _ => t.settings.server_name = Some(v.to_owned()),
                    }
                }
                "bridge.rocket.tls.key_password"
                | "bridge.rocket.tls.key_password_file"
                | "bridge.rocket.tls.key_password_env" => {
                    let secret = |t: &str| !t.is_empty() && !t.chars().any(char::is_control);
                    let what = "a passphrase of one line without control characters";
                    let pass = match key {
                        "bridge.rocket.tls.key_password_file" => std::fs::read_to_string(v)
                            .map(|t| t.trim_end_matches(['\n', '\r']).to_owned())
                            .map_err(|e| self.bad(n, key, v, format!("a readable file ({e})")))?,
                        "bridge.rocket.tls.key_password_env" => std::env::var(v).map_err(|_| {
                            self.bad(n, key, v, "the name of a set, UTF-8 environment variable")
                        })?,
                        _ => {
                            log::warn!(
                                "{}:{n}: bridge.rocket.tls.key_password holds the key's passphrase \
                                 in the config text; prefer key_password_file or key_password_env",
                                self.file.display()
                            );
                            v.to_owned()
                        }
                    };
                    if !secret(&pass) {
                        return Err(self.bad(n, key, v, what));
                    }
                    let t = self.tls.get_or_insert_with(TlsKeys::default);
                    t.settings.key_password = Some(crate::util::Secret::new(pass));
                }
                "bridge.rocket.broker_addr_map" => c.broker_addr_map = self.addr_map(n, key, v)?,
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
                "bridge.rocket.producer.linger" => {
                    c.linger = dur(self, true)?;
                    if c.linger > super::MAX_LINGER {
                        return Err(self.bad(n, key, v, "a duration from 0s to 1s"));
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
                "bridge.rocket.template.max_topics" => {
                    c.template_max_topics = match v.parse::<usize>() {
                        Ok(m) if (1..=super::MAX_TEMPLATE_TOPICS).contains(&m) => m,
                        _ => return Err(self.bad(n, key, v, "an integer from 1 to 100000")),
                    }
                }
                "bridge.rocket.retry.max_hold" => c.retry_max_hold = dur(self, true)?,
                "bridge.rocket.retry.resolve_unknown" => c.retry_resolve_unknown = dur(self, true)?,
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
                _ if key.starts_with(mqtt::MQTT_PREFIX) => mqtt::set_key(&mut c.mqtt, key, v)
                    .map_err(|e| match e {
                        mqtt::KeyError::Unknown => self.err(n, key, ConfigErrorKind::UnknownKey),
                        mqtt::KeyError::Expected(what) => self.bad(n, key, v, what),
                    })?,
                _ => return Err(self.err(n, key, ConfigErrorKind::UnknownKey)),
            }
            Ok(())
        }
    }

    /// `route_addr=dial_addr` pairs, comma separated, each side `host:port`.
    fn addr_map(&self, n: usize, key: &str, v: &str) -> Result<Vec<(String, String)>, ConfigError> {
        let addr = |s: &str| {
            let (host, port) = s.rsplit_once(':')?;
            let ok = !host.is_empty()
                && !host.contains(|c: char| {
                    c.is_whitespace() || c.is_control() || c == '/' || c == '='
                })
                && port.parse::<u16>().is_ok_and(|p| p > 0);
            ok.then(|| s.to_owned())
        };
        let mut out = Vec::new();
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let pair = part
                .split_once('=')
                .and_then(|(from, to)| Some((addr(from.trim())?, addr(to.trim())?)));
            match pair {
                Some(p) => out.push(p),
                None => {
                    return Err(self.bad(
                        n,
                        key,
                        v,
                        format!(
                        "comma-separated route_host:port=dial_host:port pairs; bad pair {part:?}"
                    ),
                    ))
                }
            }
        }
        Ok(out)
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

    /// `bridge.rocket.tls.*`: the settings when enabled, the connector built from their files
    /// (with the `tls` feature; without it, enabling TLS is an error).
    fn tls_settings(&mut self) -> Result<Option<TlsSettings>, ConfigError> {
        const ENABLE: &str = "bridge.rocket.tls.enable";
        let Some(keys) = self.tls.take() else {
            return Ok(None);
        };
        let line_of = |k: &str| self.seen.get(k).copied().unwrap_or(0);
        if !keys.enable {
            return Ok(None);
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = keys;
            Err(self.err(
                line_of(ENABLE),
                ENABLE,
                ConfigErrorKind::Conflict(
                    "this build has no TLS support (build with `--features tls`)".to_owned(),
                ),
            ))
        }
        #[cfg(feature = "tls")]
        {
            let mut settings = keys.settings;
            let opts = crate::remoting::TlsOptions {
                ca_file: settings.ca_file.clone(),
                cert_file: settings.cert_file.clone(),
                key_file: settings.key_file.clone(),
                key_password: settings.key_password.clone(),
                server_name: settings.server_name.clone(),
                verify: settings.verify,
                ..crate::remoting::TlsOptions::default()
            };
            match crate::remoting::TlsConnector::new(&opts) {
                Ok(c) => settings.connector = Some(c),
                Err(e) => {
                    use crate::remoting::TlsSetupError as E;
                    let key = match &e {
                        E::File { path, .. } if Some(path) == settings.key_file.as_ref() => {
                            "bridge.rocket.tls.key_file"
                        }
                        E::KeyPasswordMissing { .. } | E::EncryptedKey { .. } => {
                            "bridge.rocket.tls.key_file"
                        }
                        E::WrongKeyPassword { .. } => KEY_PASSWORD_SOURCES
                            .into_iter()
                            .find(|k| self.seen.contains_key(*k))
                            .unwrap_or("bridge.rocket.tls.key_file"),
                        E::File { path, .. } if Some(path) == settings.cert_file.as_ref() => {
                            "bridge.rocket.tls.cert_file"
                        }
                        E::File { .. } | E::NoCaFile => "bridge.rocket.tls.ca_file",
                        E::IncompleteClientAuth => {
                            if settings.cert_file.is_some() {
                                "bridge.rocket.tls.cert_file"
                            } else {
                                "bridge.rocket.tls.key_file"
                            }
                        }
                        E::InvalidServerName(_) => "bridge.rocket.tls.server_name",
                        _ => ENABLE,
                    };
                    let line = self.seen.get(key).copied().unwrap_or(line_of(ENABLE));
                    return Err(self.err(line, key, ConfigErrorKind::Tls(Box::new(e))));
                }
            }
            Ok(Some(settings))
        }
    }

    fn cross_checks(&self, cfg: &BridgeConfig) -> Result<(), ConfigError> {
        let line_of = |k: &str| self.seen.get(k).copied();
        let pass: Vec<&str> = KEY_PASSWORD_SOURCES
            .into_iter()
            .filter(|k| line_of(k).is_some())
            .collect();
        if let Some(first) = pass.first() {
            let conflict = |k: &str, msg: String| {
                self.err(line_of(k).unwrap_or(0), k, ConfigErrorKind::Conflict(msg))
            };
            if pass.len() > 1 {
                let msg = format!("give the key passphrase once (also {first})");
                return Err(conflict(pass[1], msg));
            }
            if line_of("bridge.rocket.tls.key_file").is_none() {
                let msg = "needs bridge.rocket.tls.key_file (an encrypted key)".to_owned();
                return Err(conflict(first, msg));
            }
        }
        if let Err((k, msg)) = mqtt::cross_check(&cfg.mqtt, |k| line_of(k).is_some()) {
            return Err(self.err(line_of(k).unwrap_or(0), k, ConfigErrorKind::Conflict(msg)));
        }
        if let Some(acl) = &cfg.acl {
            let conflict = |k: &str, msg: &str| {
                let line = line_of(k).unwrap_or(0);
                self.err(line, k, ConfigErrorKind::Conflict(msg.to_owned()))
            };
            let sources: Vec<&str> = SECRET_SOURCES
                .into_iter()
                .filter(|k| line_of(k).is_some())
                .collect();
            if sources.len() > 1 {
                return Err(conflict(
                    sources[1],
                    &format!("give the ACL secret once (also {})", sources[0]),
                ));
            }
            if acl.access_key.is_empty() {
                let k = if let Some(k) = sources.first() {
                    k
                } else {
                    "bridge.rocket.acl.security_token"
                };
                return Err(conflict(k, "needs bridge.rocket.acl.access_key"));
            }
            if acl.secret_key.is_empty() {
                return Err(conflict(
                    "bridge.rocket.acl.access_key",
                    "needs bridge.rocket.acl.secret_key (or secret_key_file, secret_key_env)",
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
