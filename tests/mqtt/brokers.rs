//! The real MQTT brokers the end-to-end tests of `rocketmq-bridge mqtt` run against (issue 23
//! item 3: "a second real MQTT broker runs the same end-to-end test"), behind one handle: the
//! port, how to start it, what `mosquitto_pub` needs to talk to it, and how many times a client
//! subscribed according to its log.
//!
//! - mosquitto 2.0 with the test's config lines (MQTT 3.1.1 and 5);
//! - aedes 1.2.0 (MQTT 3.1.1 only, in-memory sessions; `interop/aedes/broker.mjs` logs
//!   `client subscribed <id> <filters>`); the mosquitto config lines do not apply to it.

use rocketmq_bridge_test_support::aedes::Aedes;
use rocketmq_bridge_test_support::mosquitto::{self as mosq, Broker};
use std::path::Path;
use std::process::Command;

/// Which broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Mosquitto,
    Aedes,
}

impl Kind {
    /// Its name in test directories, topics and output.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Mosquitto => "mosquitto",
            Kind::Aedes => "aedes",
        }
    }

    /// The `mosquitto_pub` arguments this broker needs (aedes speaks MQTT 3.1.1 only).
    pub(crate) fn pub_args(self) -> &'static [&'static str] {
        match self {
            Kind::Mosquitto => &[],
            Kind::Aedes => &["-V", "mqttv311"],
        }
    }
}

/// A running broker; stopped when dropped.
pub(crate) enum TestBroker {
    Mosquitto(Broker),
    Aedes(Aedes),
}

impl TestBroker {
    /// Starts `kind` in `dir`; `mosquitto_conf` is mosquitto's config body (ignored by aedes).
    #[track_caller]
    pub(crate) fn start(kind: Kind, dir: &Path, mosquitto_conf: &str) -> TestBroker {
        match kind {
            Kind::Mosquitto => TestBroker::Mosquitto(Broker::start(dir, mosquitto_conf)),
            Kind::Aedes => TestBroker::Aedes(Aedes::start(&dir.join("aedes"))),
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            TestBroker::Mosquitto(_) => Kind::Mosquitto,
            TestBroker::Aedes(_) => Kind::Aedes,
        }
    }

    pub(crate) fn port(&self) -> u16 {
        match self {
            TestBroker::Mosquitto(b) => b.port,
            TestBroker::Aedes(b) => b.port,
        }
    }

    pub(crate) fn log(&self) -> String {
        match self {
            TestBroker::Mosquitto(b) => b.log(),
            TestBroker::Aedes(b) => b.log(),
        }
    }

    /// How many SUBSCRIBE packets `client_id` sent, by the broker's log.
    pub(crate) fn subscribes(&self, client_id: &str) -> usize {
        let line = match self {
            TestBroker::Mosquitto(_) => format!("Received SUBSCRIBE from {client_id}\n"),
            TestBroker::Aedes(_) => format!("client subscribed {client_id} "),
        };
        self.log().matches(&line).count()
    }

    /// One `mosquitto_pub` with `args` (bounded by 5 s); whether it exited 0.
    pub(crate) fn publish(&self, args: &[&str]) -> bool {
        let mut all: Vec<&str> = self.kind().pub_args().to_vec();
        all.extend_from_slice(args);
        mosq::publish(self.port(), &all)
    }
}

/// `mosquitto_pub` on `port` with the broker's arguments, for callers building their own command.
pub(crate) fn pub_command(kind: Kind, port: u16) -> Command {
    let mut c = Command::new("mosquitto_pub");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(kind.pub_args());
    c
}
