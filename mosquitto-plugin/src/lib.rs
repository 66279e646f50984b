//! # rocketmq-bridge-mosquitto
//!
//! A mosquitto 2.0 plugin (interface version 5) that feeds MQTT events from a running mosquitto into the
//! [`rocketmq_bridge`] bridge. See `README.md` in this crate for loading, options and the event table.
//!
//! ```text
//!  mosquitto thread ──callbacks──> ffi (only unsafe) ──plain values──> Plugin ──> Tracker (true events)
//!                                                                        │
//!                                                     non-blocking hand-over (bounded; overflow counted)
//!                                                                        v
//!                                                           bridge dispatcher ──> RocketMQ
//! ```
#![warn(missing_docs)]

pub mod ffi;
pub mod forward;
pub mod logger;
pub mod options;
pub mod plugin;
pub mod trace;
pub mod tracker;
