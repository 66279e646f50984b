//! The MQTT codec (`rocketmq_bridge::mqtt`) against a real broker, in one test binary:
//! mosquitto 2.0 started per test on a free loopback port (`mosquitto` module), the raw server
//! packets captured from it decoded again from `tests/fixtures/mqtt/` (`fixtures`), and the small
//! blocking client both use (`client`). `source` runs `rocketmq-bridge mqtt` against mosquitto and
//! RocketMQ, and against a hostile scripted broker. Unit tests of the codec itself (the specification's
//! examples, round trips, errors) are in `src/mqtt/tests.rs`; its fuzz oracle's seeds are replayed
//! by `tests/codec/corpus_replay.rs`.

mod client;
mod fixtures;
mod mosquitto;
mod source;
