//! The MQTT → RocketMQ bridge: `emqx_bridge_rocket`'s config file, hook rules, events and JSON.
//!
//! - [`config`]: the `key = value` file ([`BridgeConfig::load`]); every key, default and unit.
//! - [`topic_filter`]: MQTT topic filters, validated once ([`TopicFilter::parse`]).
//! - [`rule`]: hook rules and the rule set an event is matched against ([`RuleSet::matching`]).
//! - [`event`]: the seven events ([`Event`]) and the NDJSON input format of `rocketmq-bridge run`.
//! - [`bridge`](mod@bridge): the dispatcher ([`Bridge::start`], [`EventSender::send`], counters,
//!   reload, shutdown report).
//! - [`spooled`]: store-and-forward through the disk spool; [`loss_report`]: the in-band loss
//!   report; [`health`]: broker-aware health and the metrics endpoint's content; [`hold`]: without a
//!   spool, messages the broker did not store are held in memory and re-sent.
//! - [`run`]: the `rocketmq-bridge run` command (NDJSON in, signals, summary).
//! - [`format`](mod@format): the JSON body per event ([`format_event`]) and the MQTT message properties
//!   ([`message_properties`]).

#[allow(clippy::module_inception)]
pub mod bridge;
pub mod config;
pub mod event;
pub mod format;
pub mod health;
pub mod hold;
pub mod loss_report;
pub mod rule;
pub mod run;
pub mod spooled;
pub mod topic_filter;

pub use bridge::{
    producer_config, Bridge, BridgeError, BridgeStats, DropReason, EventSender, RuleCounters,
    SendEventError, ShutdownReport, Unsent, UnsentReason,
};
pub use config::{
    AclCredentials, BridgeConfig, ConfigError, ConfigErrorKind, OverflowPolicy, ProduceMode,
    QueueStrategy,
};
pub use event::{Event, EventError, EventErrorKind, EventKind};
pub use format::{
    format_event, message_properties, write_message_properties, Formatted, PayloadEncoding,
};
pub use health::{BridgeHealth, TopicHealth};
pub use rule::{HookRule, RuleError, RuleId, RuleSet};
pub use spooled::SpoolCounters;
pub use topic_filter::{FilterError, TopicFilter};
