//! The remoting layer in one test binary: the connection and the direct connection against
//! scripted fake peers, hostile name servers and brokers, and the real rocketmq-rust name server and
//! broker (`real`, also run against the Java broker by `scripts/test.sh`). `tests/connection_drop.rs`
//! stays a binary of its own: it counts the process's reader threads.

mod direct;
mod fake_peer;
mod hostile_peers;
mod real;
