//! The producer in one test binary: outcome rules against scripted fake peers, and every send
//! mode, ordering and failover against a real RocketMQ (`real`, also run against the Java broker by
//! `scripts/test.sh`).

mod batch_refusal;
mod fake_peers;
mod query;
mod real;
