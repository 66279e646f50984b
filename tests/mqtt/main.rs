//! The MQTT codec (`rocketmq_bridge::mqtt`) against a real broker, in one test binary:
//! mosquitto 2.0 started per test on a free loopback port (`mosquitto` module), aedes 1.2.0 as a
//! second broker (`aedes`, MQTT 3.1.1), the raw server
//! packets captured from it decoded again from `tests/fixtures/mqtt/` (`fixtures`), and the small
//! blocking client both use (`client`). `source` runs `rocketmq-bridge mqtt` against mosquitto
//! or aedes (`brokers`) and RocketMQ, and against a hostile scripted broker; `lifecycle` maps
//! EMQX-shaped client events under a configured prefix; `share` puts two bridges on one shared
//! subscription and SIGKILLs one; `restart` restarts aedes under the bridge. Unit tests of the codec itself (the specification's
//! examples, round trips, errors) are in `src/mqtt/tests.rs`; its fuzz oracle's seeds are replayed
//! by `tests/codec/corpus_replay.rs`.

mod aedes;
mod brokers;
mod client;
mod fixtures;
mod hostile;
mod lifecycle;
mod mosquitto;
mod restart;
mod share;
mod source;
