//! # rocketmq-bridge
//!
//! A dependency-light, sync-first implementation of the Apache RocketMQ *remoting* protocol, and on
//! top of it a bridge that forwards MQTT broker events to RocketMQ topics, reimplementing EMQX's
//! `emqx_bridge_rocket` plugin.
//!
//! In scope: the classic TCP remoting protocol (JSON and binary headers), name-server routing, a
//! thread-per-broker producer, a pull consumer for read-back, the bridge (config, hook rules, event
//! JSON). Out of scope: the 5.x gRPC proxy protocol, push consumers, transactions.
//!
//! ```text
//!  host thread(s) --Event--> [bounded channel] --> bridge dispatcher
//!                                                      |  rules, JSON
//!                                                      v
//!                                                  Producer --route--> NameServer client
//!                                                      |                    |
//!                                         per-broker worker threads         |
//!                                                      v                    v
//!                                                 Connection <--frames--> codec (sans-IO)
//! ```
#![warn(missing_docs)]

pub mod bridge;
pub mod cli;
pub mod consumer;
pub mod message;
pub mod metrics;
pub mod mqtt;
pub mod nameserver;
pub mod producer;
pub mod remoting;
pub mod spool;
pub mod sys;
pub mod util;
