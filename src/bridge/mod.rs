//! The MQTT → RocketMQ bridge: `emqx_bridge_rocket`'s config file, hook rules, events and JSON.
//!
//! - [`config`]: the `key = value` file ([`BridgeConfig::load`]); every key, default and unit.
//! - [`topic_filter`]: MQTT topic filters, validated once ([`TopicFilter::parse`]).
//! - [`rule`]: hook rules and the rule set an event is matched against ([`RuleSet::matching`]);
//!   [`template`]: the rules' `${...}` templates for topic, tag and key.
//! - [`event`]: the seven events ([`Event`]) and the NDJSON input format of `rocketmq-bridge run`.
//! - [`bridge`](mod@bridge): the running bridge ([`Bridge::start`], reload, shutdown report), and
//!   the guarantees of the whole path; [`EventSender::send`] is the hosts' entry.
//! - [`spooled`]: store-and-forward through the disk spool; [`loss_report`]: the in-band loss
//!   report; [`health`]: broker-aware health and the metrics endpoint's content; [`hold`]: without a
//!   spool, messages the broker did not store are held in memory and re-sent; [`resolve`]: an
//!   outcome-unknown send is looked up at the brokers (QUERY_MESSAGE) and settled as sent or sent
//!   again only when found or proven not stored.
//! - The `rocketmq-bridge run` command (NDJSON in, signals, summary) is [`crate::cli::run`](mod@crate::cli::run).
//! - [`format`](mod@format): the JSON body per event ([`format_event`]) and the MQTT message properties
//!   ([`message_properties`]).
//!
//! # Layering of the bridge core
//!
//! Each file imports only from the files above it in this list (tests included), never from one
//! below, so the core has no import cycle:
//!
//! 0. `chain`: how the bridge's errors write their causes (once, in `Display`).
//! 1. `outcome`: how messages end (drop and unsent reasons and their names, counters,
//!    [`BridgeStats`], [`ShutdownReport`]); imports nothing of the core.
//! 2. `spool_ack`: the spool's acknowledgement half (records in flight, retry backoff, the
//!    spool's counters).
//! 3. `buffer`: a buffered message and its metadata, the byte budget, a sync event's waiter.
//! 4. [`hold`], [`resolve`] (the outcome-unknown lookups), [`loss_report`] (the ledger and its reporter), [`health`], `spool_record` (the
//!    spool's record format and append), `topic_gate` (templated topics: first-use route lookup, the cap).
//! 5. `settle`: the state the core shares; admits messages into the budget and ends each once.
//! 6. [`spooled`] (the spool reader thread), `intake` ([`EventSender`]), `dispatcher` (groups,
//!    batches, the producer's callbacks), in this order.
//! 7. [`bridge`](mod@bridge): [`Bridge`]: start, reload, shutdown, the route check.
//!
//! The leaf modules ([`config`], [`event`], [`rule`], [`template`], [`topic_filter`], [`format`](mod@format))
//! import none of these.

#[allow(clippy::module_inception)]
pub mod bridge;
mod buffer;
pub(crate) mod chain;
pub mod config;
mod credentials;
mod dispatcher;
pub mod event;
pub mod format;
pub mod health;
pub mod hold;
mod intake;
pub mod loss_report;
mod outcome;
mod recycle;
pub mod resolve;
pub mod rule;
mod settle;
mod spool_ack;
mod spool_record;
pub mod spooled;
pub mod template;
pub mod topic_filter;
mod topic_gate;

pub use bridge::{producer_config, Bridge, BridgeError};
pub use config::{
    AclCredentials, BridgeConfig, ConfigError, ConfigErrorKind, OverflowPolicy, ProduceMode,
    QueueStrategy,
};
pub use event::{Event, EventError, EventErrorKind, EventKind};
pub use format::{
    format_event, message_properties, write_message_properties, Formatted, PayloadEncoding,
};
pub use health::{BridgeHealth, TopicHealth};
pub use intake::{ChunkSender, EventSender, Handover, CHUNK_MAX};
pub use outcome::{
    BridgeStats, DropReason, RuleCounters, SendEventError, ShutdownReport, Unsent, UnsentReason,
};
pub use rule::{BodyFormat, HookRule, RuleError, RuleId, RuleSet};
pub use spooled::SpoolCounters;
pub use template::{Template, TemplateError};
pub use topic_filter::{FilterError, TopicFilter};
