//! `plugin_opt_*` options from mosquitto.conf, parsed and validated once at load.
//!
//! | option | values | default | meaning |
//! |---|---|---|---|
//! | `plugin_opt_config` | path | (required) | the bridge config file (`emqx_bridge_rocket.conf` format) |
//! | `plugin_opt_logins` | `decided_elsewhere`, `open_broker` | `decided_elsewhere` | who decides logins (see below) |
//! | `plugin_opt_acl` | `decided_elsewhere`, `open_broker` | `decided_elsewhere` | who decides ACL checks (see below) |
//! | `plugin_opt_trace_file` | path | none | also write every emitted event as one JSON line (debugging, tests) |
//! | `plugin_opt_log_level` | `error`, `warn`, `info`, `debug`, `trace` | `info` | level of the plugin's own log lines |
//! | `plugin_opt_queue_max_bytes` | bytes, 65536 ..= 1073741824 | `4194304` | hand-over queue budget; events beyond it are dropped and counted |
//!
//! `decided_elsewhere` means a `password_file` (for logins), an `acl_file` (for ACL checks) or another plugin
//! answers those checks: the plugin never grants anything itself. For logins it answers "defer"; for ACL
//! checks it returns mosquitto's own decision from everything else (see [`crate::ffi`]). `open_broker` means nothing
//! else decides that kind of check: for logins this is only correct with `allow_anonymous true` and no
//! `password_file`; for ACL checks only without `acl_file`. The plugin then answers "success", which is exactly
//! what mosquitto 2.0.11 answers itself in that configuration when no plugin is loaded. Both defaults fail
//! closed: a wrong `decided_elsewhere` refuses more than mosquitto would, a wrong `open_broker` would grant more,
//! so `open_broker` is never assumed.

use std::fmt;
use std::path::PathBuf;

/// Who decides one kind of access check (logins, or ACL checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// A password file, an ACL file or another plugin decides; the plugin answers "defer".
    Elsewhere,
    /// Nothing else decides; the plugin answers "success", as mosquitto would without any plugin.
    OpenBroker,
}

impl Decider {
    fn parse(key: &'static str, value: &str) -> Result<Decider, OptionsError> {
        match value {
            "decided_elsewhere" => Ok(Decider::Elsewhere),
            "open_broker" => Ok(Decider::OpenBroker),
            _ => Err(OptionsError::BadValue {
                key,
                value: value.to_string(),
                expected: "decided_elsewhere or open_broker",
            }),
        }
    }

    /// The option value spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Decider::Elsewhere => "decided_elsewhere",
            Decider::OpenBroker => "open_broker",
        }
    }
}

/// Parsed plugin options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginOptions {
    /// Bridge config file (`plugin_opt_config`).
    pub config: PathBuf,
    /// Who decides logins (`plugin_opt_logins`). Defaults to [`Decider::Elsewhere`].
    pub logins: Decider,
    /// Who decides ACL checks (`plugin_opt_acl`). Defaults to [`Decider::Elsewhere`].
    pub acl: Decider,
    /// Optional JSON-lines trace of emitted events (`plugin_opt_trace_file`). Defaults to none.
    pub trace_file: Option<PathBuf>,
    /// Plugin log level (`plugin_opt_log_level`). Defaults to `info`.
    pub log_level: log::LevelFilter,
    /// Byte budget of the hand-over queue (`plugin_opt_queue_max_bytes`). Defaults to
    /// [`DEFAULT_QUEUE_MAX_BYTES`].
    pub queue_max_bytes: usize,
}

/// Default of `plugin_opt_queue_max_bytes`: 4 MiB.
pub const DEFAULT_QUEUE_MAX_BYTES: usize = 4 * 1024 * 1024;

/// A bad `plugin_opt_*` option; the plugin refuses to load.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionsError {
    /// An option this plugin does not know (probably a typo).
    UnknownKey(String),
    /// An option given twice.
    Duplicate(&'static str),
    /// A value outside the documented set.
    BadValue {
        /// option name without the `plugin_opt_` prefix
        key: &'static str,
        /// the value given
        value: String,
        /// what is accepted
        expected: &'static str,
    },
    /// A required option is missing.
    Missing(&'static str),
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionsError::UnknownKey(k) => write!(
                f,
                "unknown option plugin_opt_{k} (known: config, logins, acl, trace_file, log_level, queue_max_bytes)"
            ),
            OptionsError::Duplicate(k) => write!(f, "option plugin_opt_{k} given twice"),
            OptionsError::BadValue {
                key,
                value,
                expected,
            } => write!(
                f,
                "option plugin_opt_{key} has value {value:?}, expected {expected}"
            ),
            OptionsError::Missing(k) => write!(f, "required option plugin_opt_{k} is missing"),
        }
    }
}

impl std::error::Error for OptionsError {}

impl PluginOptions {
    /// Parses `(key, value)` pairs as mosquitto hands them over (`plugin_opt_KEY VALUE` → `(KEY, VALUE)`).
    ///
    /// # Errors
    /// Unknown keys, duplicates, values outside the documented sets and a missing `config`.
    pub fn parse<'a, I>(pairs: I) -> Result<PluginOptions, OptionsError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut config = None;
        let mut logins = None;
        let mut acl = None;
        let mut trace_file = None;
        let mut log_level = None;
        let mut queue_max_bytes = None;
        for (key, value) in pairs {
            let value = value.trim();
            match key {
                "config" => set(&mut config, "config", PathBuf::from(value))?,
                "logins" => set(&mut logins, "logins", Decider::parse("logins", value)?)?,
                "acl" => set(&mut acl, "acl", Decider::parse("acl", value)?)?,
                "trace_file" => set(&mut trace_file, "trace_file", PathBuf::from(value))?,
                "log_level" => {
                    let lvl = match value {
                        "error" => log::LevelFilter::Error,
                        "warn" => log::LevelFilter::Warn,
                        "info" => log::LevelFilter::Info,
                        "debug" => log::LevelFilter::Debug,
                        "trace" => log::LevelFilter::Trace,
                        _ => {
                            return Err(OptionsError::BadValue {
                                key: "log_level",
                                value: value.to_string(),
                                expected: "error, warn, info, debug or trace",
                            })
                        }
                    };
                    set(&mut log_level, "log_level", lvl)?
                }
                "queue_max_bytes" => {
                    let n = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (65_536..=1 << 30).contains(n))
                        .ok_or_else(|| OptionsError::BadValue {
                            key: "queue_max_bytes",
                            value: value.to_string(),
                            expected: "a number of bytes from 65536 to 1073741824",
                        })?;
                    set(&mut queue_max_bytes, "queue_max_bytes", n)?
                }
                other => return Err(OptionsError::UnknownKey(other.to_string())),
            }
        }
        let config = config.ok_or(OptionsError::Missing("config"))?;
        if config.as_os_str().is_empty() {
            return Err(OptionsError::BadValue {
                key: "config",
                value: String::new(),
                expected: "a file path",
            });
        }
        Ok(PluginOptions {
            config,
            logins: logins.unwrap_or(Decider::Elsewhere),
            acl: acl.unwrap_or(Decider::Elsewhere),
            trace_file,
            log_level: log_level.unwrap_or(log::LevelFilter::Info),
            queue_max_bytes: queue_max_bytes.unwrap_or(DEFAULT_QUEUE_MAX_BYTES),
        })
    }
}

fn set<T>(slot: &mut Option<T>, key: &'static str, v: T) -> Result<(), OptionsError> {
    if slot.is_some() {
        return Err(OptionsError::Duplicate(key));
    }
    *slot = Some(v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_failing_closed_choices() {
        let o = PluginOptions::parse([("config", "/etc/b.conf")]).unwrap();
        assert_eq!(o.config, PathBuf::from("/etc/b.conf"));
        assert_eq!(o.logins, Decider::Elsewhere);
        assert_eq!(o.acl, Decider::Elsewhere);
        assert_eq!(o.trace_file, None);
        assert_eq!(o.log_level, log::LevelFilter::Info);
        assert_eq!(o.queue_max_bytes, DEFAULT_QUEUE_MAX_BYTES);
    }

    #[test]
    fn both_deciders_are_separate_options() {
        let o = PluginOptions::parse([
            ("config", "c"),
            ("logins", "decided_elsewhere"),
            ("acl", "open_broker"),
        ])
        .unwrap();
        assert_eq!(o.logins, Decider::Elsewhere);
        assert_eq!(o.acl, Decider::OpenBroker);
    }

    #[test]
    fn unknown_values_and_keys_are_refused() {
        let e = PluginOptions::parse([("config", "c"), ("acl", "yes")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "option plugin_opt_acl has value \"yes\", expected decided_elsewhere or open_broker"
        );
        let e = PluginOptions::parse([("config", "c"), ("login", "open_broker")]).unwrap_err();
        assert_eq!(e, OptionsError::UnknownKey("login".into()));
        let e = PluginOptions::parse([("config", "c"), ("log_level", "loud")]).unwrap_err();
        assert!(matches!(
            e,
            OptionsError::BadValue {
                key: "log_level",
                ..
            }
        ));
    }

    #[test]
    fn missing_config_and_duplicates_are_refused() {
        assert_eq!(
            PluginOptions::parse([("acl", "open_broker")]).unwrap_err(),
            OptionsError::Missing("config")
        );
        assert_eq!(
            PluginOptions::parse([("config", "a"), ("config", "b")]).unwrap_err(),
            OptionsError::Duplicate("config")
        );
        assert!(PluginOptions::parse([("config", " ")]).is_err());
    }
}
