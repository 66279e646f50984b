//! The bridge in one test binary: config, events, rules, the metrics endpoint, `status`, the
//! `rocketmq-bridge` binary (`cli`) and the bridge against a real RocketMQ (`real`, also run
//! against the Java broker by `scripts/test.sh`), two `run` processes on one cluster (`two_bridges`).

mod batch_refusal;
mod cli;
mod config;
mod events;
mod help;
mod metrics_http;
mod observe;
mod real;
mod reload_storm;
mod rules;
mod service_input;
mod slaves;
mod spool_undecodable;
mod status;
mod sync_race;
mod template_lookup;
mod templates;
mod two_bridges;
