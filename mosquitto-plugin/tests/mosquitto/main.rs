//! The plugin inside real mosquitto 2.0 in one test binary: events from the trace file, hostile
//! input, remembered sessions, and the events read back from a real RocketMQ. Each test's
//! mosquitto (`Broker::start`) keeps the tests of other modules waiting, as when each module was a
//! binary of its own.

mod events;
mod robustness;
mod rocketmq;
mod sessions;
