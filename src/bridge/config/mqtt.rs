//! `bridge.rocket.mqtt.*`: where `rocketmq-bridge mqtt` subscribes (issue 23). Only that
//! subcommand reads these settings; `run` and the hosts accept the keys and ignore them.
//!
//! | key | default | meaning |
//! |-----|---------|---------|
//! | `bridge.rocket.mqtt.server` | `127.0.0.1:1883` | the MQTT broker, `host:port` (port defaults to 1883) |
//! | `bridge.rocket.mqtt.client_id` | `rocketmq_bridge` | the bridge's client id: the broker keeps its session (subscriptions, unacknowledged messages) under it, so two bridges need two ids |
//! | `bridge.rocket.mqtt.username` | none | user name |
//! | `bridge.rocket.mqtt.password` | none | password in the config text (never logged); or `password_file` (one line) or `password_env` |
//! | `bridge.rocket.mqtt.keepalive` | `30s` | keep-alive (1 s to 65535 s): a PINGREQ when nothing was sent for this long; no answer within it ends the connection |
//! | `bridge.rocket.mqtt.session_expiry` | `1d` | MQTT 5 session expiry interval (3.1.1: the broker's own setting, mosquitto's `persistent_client_expiration`); clean start is always off |
//! | `bridge.rocket.mqtt.version` | `5` | `5` or `3.1.1` |
//! | `bridge.rocket.mqtt.qos` | `1` | subscription QoS, `1` or `2` (QoS 0 cannot be acknowledged after acceptance) |
//! | `bridge.rocket.mqtt.share_group` | none | subscribe as `$share/<group>/<filter>`: several bridges share the messages |
//! | `bridge.rocket.mqtt.receive_maximum` | `100` | MQTT 5 receive maximum: QoS 1/2 messages the broker may have unacknowledged at us (1 to 65535) |
//! | `bridge.rocket.mqtt.reconnect_min` / `reconnect_max` | `500ms` / `30s` | reconnect backoff, doubling from the first to the second |
//! | `bridge.rocket.mqtt.connect_timeout` | `10s` | TCP connect, CONNACK and SUBACK wait |
//! | `bridge.rocket.mqtt.tls.enable` | `false` | TLS to the MQTT broker (a build with the `tls` feature): `tls.ca_file` (default the system bundle), `tls.cert_file` and `tls.key_file` (unencrypted; mutual TLS), `tls.server_name` (default the server's host), `tls.verify` (`true`) |
//! | `bridge.rocket.mqtt.emqx_client_events` | `false` | also subscribe to EMQX's `$SYS/brokers/+/clients/+/connected` and `disconnected` and feed them as `client.connected` / `client.disconnected` (only when a rule of that hook exists) |
//! | `bridge.rocket.mqtt.emqx_client_topic` | `$SYS/brokers/+/clients/+` | where those lifecycle messages are: a topic filter of literal and `+` levels (no `#`, no empty level) whose last level is the `+` of the client id; the bridge subscribes to it plus `/connected` and `/disconnected` |
//!
//! Layering: a leaf of `config/` below `parse.rs`; it imports `units` and the MQTT codec's
//! `Version` and `QoS`.

use super::units::parse_duration;
use crate::mqtt::{QoS, Version};
use crate::util::Secret;
use std::time::Duration;

/// The default MQTT port, used when `mqtt.server` gives a host only.
pub const DEFAULT_MQTT_PORT: u16 = 1883;

/// The default of `mqtt.emqx_client_topic`: EMQX's own lifecycle topics, without the
/// `/connected` / `/disconnected` level.
pub(crate) const DEFAULT_EMQX_CLIENT_TOPIC: &str = "$SYS/brokers/+/clients/+";

/// Prefix of the keys of this file.
pub(super) const MQTT_PREFIX: &str = "bridge.rocket.mqtt.";

/// `bridge.rocket.mqtt.tls.*`: paths and names only; the files are read when the subcommand
/// starts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MqttTls {
    /// `mqtt.tls.enable`.
    pub enable: bool,
    /// `mqtt.tls.ca_file`; `None`: the system bundle.
    pub ca_file: Option<std::path::PathBuf>,
    /// `mqtt.tls.cert_file`.
    pub cert_file: Option<std::path::PathBuf>,
    /// `mqtt.tls.key_file`.
    pub key_file: Option<std::path::PathBuf>,
    /// `mqtt.tls.server_name`.
    pub server_name: Option<String>,
    /// `mqtt.tls.verify`.
    pub verify: bool,
}

impl Default for MqttTls {
    fn default() -> MqttTls {
        MqttTls {
            enable: false,
            ca_file: None,
            cert_file: None,
            key_file: None,
            server_name: None,
            verify: true,
        }
    }
}

/// `bridge.rocket.mqtt.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MqttSettings {
    /// `mqtt.server`: `host:port`.
    pub server: String,
    /// `mqtt.client_id`.
    pub client_id: String,
    /// `mqtt.username`.
    pub username: Option<String>,
    /// `mqtt.password` (or `password_file`, `password_env`); `Debug` shows `<redacted>`.
    pub password: Option<Secret>,
    /// `mqtt.keepalive`.
    pub keepalive: Duration,
    /// `mqtt.session_expiry` (MQTT 5).
    pub session_expiry: Duration,
    /// `mqtt.version`.
    pub version: Version,
    /// `mqtt.qos`: the subscriptions' maximum QoS.
    pub qos: QoS,
    /// `mqtt.share_group`.
    pub share_group: Option<String>,
    /// `mqtt.receive_maximum` (MQTT 5).
    pub receive_maximum: u16,
    /// `mqtt.reconnect_min`.
    pub reconnect_min: Duration,
    /// `mqtt.reconnect_max`.
    pub reconnect_max: Duration,
    /// `mqtt.connect_timeout`.
    pub connect_timeout: Duration,
    /// `mqtt.emqx_client_events`.
    pub emqx_client_events: bool,
    /// `mqtt.emqx_client_topic`: a filter whose last level is the `+` of the client id.
    pub emqx_client_topic: String,
    /// `mqtt.tls.*`.
    pub tls: MqttTls,
}

impl Default for MqttSettings {
    fn default() -> MqttSettings {
        MqttSettings {
            server: format!("127.0.0.1:{DEFAULT_MQTT_PORT}"),
            client_id: "rocketmq_bridge".to_owned(),
            username: None,
            password: None,
            keepalive: Duration::from_secs(30),
            session_expiry: Duration::from_secs(24 * 3600),
            version: Version::V5,
            qos: QoS::AtLeastOnce,
            share_group: None,
            receive_maximum: 100,
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            emqx_client_events: false,
            emqx_client_topic: DEFAULT_EMQX_CLIENT_TOPIC.to_owned(),
            tls: MqttTls::default(),
        }
    }
}

/// The keys that give the password: in the text, from a file, from the environment.
const PASSWORD_SOURCES: [&str; 3] = [
    "bridge.rocket.mqtt.password",
    "bridge.rocket.mqtt.password_file",
    "bridge.rocket.mqtt.password_env",
];

/// Why a `bridge.rocket.mqtt.*` value is refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum KeyError {
    /// The key is not one of this file's.
    Unknown,
    /// The value is not what the key takes; carries what was expected.
    Expected(String),
}

fn expected(what: impl Into<String>) -> KeyError {
    KeyError::Expected(what.into())
}

/// Sets the value `v` of `key` (a `bridge.rocket.mqtt.*` key) in `m`.
pub(super) fn set_key(m: &mut MqttSettings, key: &str, v: &str) -> Result<(), KeyError> {
    let name = key.strip_prefix(MQTT_PREFIX).ok_or(KeyError::Unknown)?;
    let dur = |min: Duration, max: Duration| -> Result<Duration, KeyError> {
        let d = parse_duration(v).map_err(expected)?;
        if d < min || d > max {
            return Err(expected(format!("a duration from {min:?} to {max:?}")));
        }
        Ok(d)
    };
    let no_ctl = |what: &str| -> Result<String, KeyError> {
        if v.chars().any(char::is_control) {
            Err(expected(format!("{what} without control characters")))
        } else {
            Ok(v.to_owned())
        }
    };
    let password = |p: String| -> Result<Option<Secret>, KeyError> {
        if p.is_empty() || p.chars().any(char::is_control) {
            return Err(expected(
                "a password of one line without control characters",
            ));
        }
        Ok(Some(Secret::new(p)))
    };
    match name {
        "server" => m.server = server(v)?,
        "client_id" => {
            // MQTT 3.1.1 servers must accept 1 to 23 of 0-9a-zA-Z; longer ids work on mosquitto
            // and EMQX. An empty id would give the bridge a new session at every connect.
            if v.len() > 256 || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(expected(
                    "a client id of 1 to 256 bytes, no spaces or control characters",
                ));
            }
            m.client_id = v.to_owned();
        }
        "username" => m.username = Some(no_ctl("a user name")?),
        "password" => m.password = password(v.to_owned())?,
        "password_file" => {
            let text = std::fs::read_to_string(v)
                .map_err(|e| expected(format!("a readable file ({e})")))?;
            m.password = password(text.trim_end_matches(['\n', '\r']).to_owned())?;
        }
        "password_env" => {
            let text = std::env::var(v)
                .map_err(|_| expected("the name of a set, UTF-8 environment variable"))?;
            m.password = password(text)?;
        }
        "keepalive" => m.keepalive = dur(Duration::from_secs(1), Duration::from_secs(65535))?,
        "session_expiry" => {
            m.session_expiry = dur(Duration::from_secs(1), Duration::from_secs(u32::MAX as u64))?
        }
        "version" => {
            m.version = match v {
                "5" | "5.0" => Version::V5,
                "3.1.1" | "4" => Version::V311,
                _ => return Err(expected("5 or 3.1.1")),
            }
        }
        "qos" => {
            m.qos = match v {
                "1" => QoS::AtLeastOnce,
                "2" => QoS::ExactlyOnce,
                _ => return Err(expected("1 or 2")),
            }
        }
        "share_group" => {
            if v.is_empty()
                || v.len() > 128
                || v.contains(['/', '+', '#'])
                || v.contains(char::is_control)
            {
                return Err(expected(
                    "a group name of 1 to 128 bytes without '/', '+', '#' or control characters",
                ));
            }
            m.share_group = Some(v.to_owned());
        }
        "receive_maximum" => {
            m.receive_maximum = match v.parse::<u16>() {
                Ok(r) if r > 0 => r,
                _ => return Err(expected("an integer from 1 to 65535")),
            }
        }
        "reconnect_min" => {
            m.reconnect_min = dur(Duration::from_millis(10), Duration::from_secs(3600))?
        }
        "reconnect_max" => {
            m.reconnect_max = dur(Duration::from_millis(10), Duration::from_secs(3600))?
        }
        "connect_timeout" => {
            m.connect_timeout = dur(Duration::from_millis(100), Duration::from_secs(600))?
        }
        "emqx_client_events" => {
            m.emqx_client_events = match v {
                "true" | "on" => true,
                "false" | "off" => false,
                _ => return Err(expected("true or false")),
            }
        }
        "emqx_client_topic" => {
            let levels_ok = v
                .split('/')
                .all(|l| !l.is_empty() && !l.contains('#') && (l == "+" || !l.contains('+')));
            if v.len() > 1024 || v.contains(char::is_control) || !levels_ok || !v.ends_with('+') {
                return Err(expected(
                    "a topic filter of non-empty literal and `+` levels, no `#`, ending in the `+` \
                     of the client id (the default: $SYS/brokers/+/clients/+)",
                ));
            }
            m.emqx_client_topic = v.to_owned();
        }
        "tls.enable" | "tls.verify" => {
            let flag = match v {
                "true" | "on" => true,
                "false" | "off" => false,
                _ => return Err(expected("true or false")),
            };
            if name == "tls.enable" {
                m.tls.enable = flag;
            } else {
                m.tls.verify = flag;
            }
        }
        "tls.ca_file" => m.tls.ca_file = Some(no_ctl("a path")?.into()),
        "tls.cert_file" => m.tls.cert_file = Some(no_ctl("a path")?.into()),
        "tls.key_file" => m.tls.key_file = Some(no_ctl("a path")?.into()),
        "tls.server_name" => m.tls.server_name = Some(no_ctl("a name")?),
        _ => return Err(KeyError::Unknown),
    }
    Ok(())
}

/// The checks across `bridge.rocket.mqtt.*` keys; `seen(key)` says whether the file gave `key`.
/// The error names the key to blame and says why.
pub(super) fn cross_check(
    m: &MqttSettings,
    seen: impl Fn(&str) -> bool,
) -> Result<(), (&'static str, String)> {
    let given: Vec<&'static str> = PASSWORD_SOURCES.into_iter().filter(|k| seen(k)).collect();
    if let Some(first) = given.first() {
        if given.len() > 1 {
            return Err((
                given[1],
                format!("give the MQTT password once (also {first})"),
            ));
        }
        if m.username.is_none() && m.version == Version::V311 {
            let msg = "MQTT 3.1.1 sends a password only with bridge.rocket.mqtt.username";
            return Err((first, msg.to_owned()));
        }
    }
    if m.tls.enable && cfg!(not(feature = "tls")) {
        let msg = "this build has no TLS support (build with `--features tls`)";
        return Err(("bridge.rocket.mqtt.tls.enable", msg.to_owned()));
    }
    if m.reconnect_min > m.reconnect_max {
        let k = if seen("bridge.rocket.mqtt.reconnect_min") {
            "bridge.rocket.mqtt.reconnect_min"
        } else {
            "bridge.rocket.mqtt.reconnect_max"
        };
        return Err((
            k,
            "reconnect_min must not be longer than reconnect_max".to_owned(),
        ));
    }
    Ok(())
}

/// `host:port` or `host` (port 1883).
fn server(v: &str) -> Result<String, KeyError> {
    let (host, port) = match v.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => match p.parse::<u16>() {
            Ok(port) if port > 0 => (h, port),
            _ => return Err(expected("host:port; bad port")),
        },
        _ => (v, DEFAULT_MQTT_PORT),
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c.is_control() || c == '/') {
        return Err(expected("host:port; bad host"));
    }
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(key: &str, v: &str) -> Result<MqttSettings, KeyError> {
        let mut m = MqttSettings::default();
        set_key(&mut m, &format!("{MQTT_PREFIX}{key}"), v).map(|()| m)
    }

    #[test]
    fn values_are_parsed_and_bad_ones_say_what_was_expected() {
        assert_eq!(set("server", "broker").unwrap().server, "broker:1883");
        assert_eq!(
            set("server", "10.0.0.1:8883").unwrap().server,
            "10.0.0.1:8883"
        );
        assert!(matches!(set("server", "h:0"), Err(KeyError::Expected(_))));
        assert_eq!(set("version", "3.1.1").unwrap().version, Version::V311);
        assert_eq!(set("qos", "2").unwrap().qos, QoS::ExactlyOnce);
        assert!(matches!(set("qos", "0"), Err(KeyError::Expected(_))));
        assert_eq!(
            set("keepalive", "5s").unwrap().keepalive,
            Duration::from_secs(5)
        );
        assert!(matches!(set("keepalive", "0s"), Err(KeyError::Expected(_))));
        assert_eq!(set("receive_maximum", "20").unwrap().receive_maximum, 20);
        assert!(matches!(
            set("receive_maximum", "0"),
            Err(KeyError::Expected(_))
        ));
        assert!(matches!(
            set("share_group", "a/b"),
            Err(KeyError::Expected(_))
        ));
        assert_eq!(
            set("share_group", "g1").unwrap().share_group.as_deref(),
            Some("g1")
        );
        assert_eq!(set("nope", "1"), Err(KeyError::Unknown));
        let m = set("password", "s3cret").unwrap();
        assert!(!format!("{m:?}").contains("s3cret"));
    }

    fn load(text: &str) -> String {
        crate::bridge::BridgeConfig::parse(text, "m.conf")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_the_file_line_and_key_and_never_show_the_password() {
        assert_eq!(
            load("bridge.rocket.servers = a:1\nbridge.rocket.mqtt.qos = 0\n"),
            "m.conf:2: bridge.rocket.mqtt.qos: invalid value \"0\", expected 1 or 2"
        );
        assert_eq!(
            load("bridge.rocket.mqtt.nope = 1\n"),
            "m.conf:1: bridge.rocket.mqtt.nope: unknown key"
        );
        let e = load("bridge.rocket.mqtt.password = se\u{7}cret\n");
        assert!(e.contains("<redacted>") && !e.contains("se"), "{e}");
        let e = load(
            "bridge.rocket.mqtt.username = u\nbridge.rocket.mqtt.password = p\n\
             bridge.rocket.mqtt.password_env = HOME\n",
        );
        assert!(
            e.starts_with("m.conf:3: bridge.rocket.mqtt.password_env: give the MQTT password once"),
            "{e}"
        );
        let e = load("bridge.rocket.mqtt.version = 3.1.1\nbridge.rocket.mqtt.password = p\n");
        assert!(
            e.contains("m.conf:2: bridge.rocket.mqtt.password: MQTT 3.1.1"),
            "{e}"
        );
        let e = load("bridge.rocket.mqtt.reconnect_max = 100ms\n");
        assert!(
            e.contains("m.conf:1: bridge.rocket.mqtt.reconnect_max"),
            "{e}"
        );
        let e = load("bridge.rocket.mqtt.password_file = /nonexistent/pw\n");
        assert!(
            e.contains("/nonexistent/pw") && e.contains("a readable file"),
            "{e}"
        );
    }

    #[test]
    fn a_full_mqtt_section_loads() {
        let cfg = crate::bridge::BridgeConfig::parse(
            "bridge.rocket.mqtt.server = 127.0.0.1:1884\nbridge.rocket.mqtt.client_id = b1\n\
             bridge.rocket.mqtt.username = u\nbridge.rocket.mqtt.password = p\n\
             bridge.rocket.mqtt.keepalive = 10s\nbridge.rocket.mqtt.session_expiry = 1h\n\
             bridge.rocket.mqtt.version = 3.1.1\nbridge.rocket.mqtt.share_group = g\n\
             bridge.rocket.mqtt.receive_maximum = 10\nbridge.rocket.mqtt.reconnect_min = 1s\n\
             bridge.rocket.mqtt.reconnect_max = 2s\nbridge.rocket.mqtt.emqx_client_events = on\n\
             bridge.rocket.mqtt.emqx_client_topic = lab/emqx/+/clients/+\n",
            "m.conf",
        )
        .unwrap();
        let m = cfg.mqtt;
        assert_eq!(
            (m.server.as_str(), m.client_id.as_str()),
            ("127.0.0.1:1884", "b1")
        );
        assert_eq!(m.password.as_ref().map(Secret::expose), Some("p"));
        assert_eq!((m.version, m.receive_maximum), (Version::V311, 10));
        assert_eq!(m.session_expiry, Duration::from_secs(3600));
        assert!(m.emqx_client_events);
        assert_eq!(m.emqx_client_topic, "lab/emqx/+/clients/+");
    }

    #[test]
    fn the_lifecycle_topic_must_end_in_the_client_id_level() {
        assert_eq!(
            MqttSettings::default().emqx_client_topic,
            "$SYS/brokers/+/clients/+"
        );
        assert_eq!(
            set("emqx_client_topic", "+").unwrap().emqx_client_topic,
            "+"
        );
        for bad in ["", "a/b", "a/#/+", "a//+", "a/b+/+", "a/+/x", "a/\n/+"] {
            let e = set("emqx_client_topic", bad).unwrap_err();
            assert!(
                matches!(&e, KeyError::Expected(m) if m.contains("ending in the `+`")),
                "{bad:?}: {e:?}"
            );
        }
        let e = crate::bridge::BridgeConfig::parse(
            "bridge.rocket.mqtt.emqx_client_events = on\n\
             bridge.rocket.mqtt.emqx_client_topic = lab/#\n",
            "m.conf",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "m.conf:2: bridge.rocket.mqtt.emqx_client_topic: invalid value \"lab/#\""
            ),
            "{e}"
        );
    }

    const TLS_TEXT: &str = "bridge.rocket.mqtt.tls.enable = true\n\
                            bridge.rocket.mqtt.tls.ca_file = /x/ca.pem\n\
                            bridge.rocket.mqtt.tls.verify = false\n";

    #[cfg(feature = "tls")]
    #[test]
    fn tls_keys_load_in_a_tls_build() {
        let cfg = crate::bridge::BridgeConfig::parse(TLS_TEXT, "m.conf").unwrap();
        assert!(cfg.mqtt.tls.enable && !cfg.mqtt.tls.verify);
        let ca = cfg.mqtt.tls.ca_file.as_deref();
        assert_eq!(ca, Some(std::path::Path::new("/x/ca.pem")));
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_is_refused_without_a_tls_build() {
        assert_eq!(
            load(TLS_TEXT),
            "m.conf:1: bridge.rocket.mqtt.tls.enable: this build has no TLS support (build with \
             `--features tls`)"
        );
    }
}
