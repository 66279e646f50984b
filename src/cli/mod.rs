//! The command-line front end: argument parsing and the subcommands. Thin: it calls the library.
//!
//! - [`run`](mod@run): `rocketmq-bridge run`, the bridge fed by NDJSON events (signals, summary).
//! - [`mqtt`](mod@mqtt): `rocketmq-bridge mqtt`, the bridge fed by an MQTT broker's messages.
//! - [`status`]: `rocketmq-bridge status`, a running bridge's `/health`.
//! - [`doctor`]: `rocketmq-bridge doctor`, a preflight of a config.
//! - [`notify`]: systemd's readiness notification for `run` under `Type=notify`.

mod args;
pub mod doctor;
pub mod mqtt;
pub mod notify;
pub mod run;
pub mod status;
mod tools;

pub use args::{Args, CliError, Failure};

use std::process::ExitCode;

/// Usage text: one line per subcommand (`rocketmq-bridge help`, and after a usage error).
pub const USAGE: &str = "usage:
  rocketmq-bridge run --config FILE [--input FILE]     forward NDJSON events (stdin by default)
  rocketmq-bridge mqtt --config FILE     subscribe to bridge.rocket.mqtt.server and forward its messages
  rocketmq-bridge send (--namesrv ADDR | --config FILE) --topic T [--key K] [--tag G] [--count N] [--group G] BODY
  rocketmq-bridge consume (--namesrv ADDR | --config FILE) --topic T [--from-beginning] [--count N] [--idle-timeout SECS] [--group G]
  rocketmq-bridge route (--namesrv ADDR | --config FILE) --topic T
  rocketmq-bridge status (--config FILE | --addr IP:PORT)    a running bridge's /health; exit 0 healthy, 1 not, 2 unreachable
  rocketmq-bridge doctor --config FILE [--probe-topic T]   preflight: name servers, routes, brokers, ACL, batches; exit 0 when a run has what it needs
  rocketmq-bridge --version
  rocketmq-bridge SUBCOMMAND --help    (or: rocketmq-bridge help SUBCOMMAND)
ADDR may list several name servers separated by ';' or ','. --config FILE (the bridge's config) gives the
tools its name servers, ACL keys, namespace and broker address map (--namesrv, if given too, wins).";

/// The version line `--version` prints: the package name and version from `Cargo.toml`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION"));

/// Each subcommand's `--help` text: (name, text).
const SUBCOMMAND_HELP: &[(&str, &str)] = &[
    (
        "run",
        "usage: rocketmq-bridge run --config FILE [--input FILE]

Forwards MQTT broker events, one JSON object a line, to RocketMQ by the hook rules of the config
file (the format of etc/emqx_bridge_rocket.conf). Reads stdin, or FILE with --input.

  --config FILE   the bridge config (key = value, ## comments)
  --input FILE    read events from FILE instead of stdin; on a terminal, progress (lines read,
                  messages sent, rate) is shown on stderr

Signals: SIGHUP re-reads the rules; SIGINT and SIGTERM drain the buffered events (up to
bridge.rocket.drain_timeout), print a summary and exit. End of input does the same.
Exit code: 0 when every matched event was confirmed by the broker, 1 otherwise, 2 when the run
could not start (config, RocketMQ unreachable without a spool, missing topic, input).",
    ),
    (
        "mqtt",
        "usage: rocketmq-bridge mqtt --config FILE

Subscribes to the MQTT broker bridge.rocket.mqtt.server (one client, clean start off, so the
broker keeps the session and the unacknowledged messages while the bridge is away) with the
filters of the message.publish rules, and forwards each message it receives as a message.publish
event by the rules of the config file. A QoS 1/2 message is acknowledged (PUBACK, PUBREC) only
after the bridge accepted it: confirmed by RocketMQ (produce = sync) or appended to the spool
(produce = async with bridge.rocket.spool.dir; async without a spool is refused). The client id
of an event is the publisher's MQTT 5 user property client_id, otherwise null, and one MQTT
topic's messages then keep their order.

  --config FILE   the bridge config; bridge.rocket.mqtt.* (server, client_id, username,
                  password/password_file/password_env, keepalive, session_expiry, version,
                  qos, share_group, receive_maximum, reconnect_min, reconnect_max,
                  connect_timeout, emqx_client_events, emqx_client_topic, tls.*) say where
                  and how to subscribe

mosquitto: set max_queued_messages 0 (its default 1000 drops messages queued for the bridge
while it is away). Signals: SIGHUP re-reads the rules; SIGINT and SIGTERM disconnect (the
session stays), drain and print a summary. Exit code: 0 when every matched event was confirmed
first time, 1 otherwise, 2 when it could not start or the broker refused the credentials or a
subscription.",
    ),
    (
        "send",
        "usage: rocketmq-bridge send (--namesrv ADDR | --config FILE) --topic T [--key K] [--tag G] [--count N] [--group G] BODY

Sends BODY to topic T with sync sends and prints each result as one JSON line (status, message
id, broker, queue, offset).

  --namesrv ADDR  name servers, separated by ';' or ','
  --config FILE   the bridge's config: its name servers, ACL keys, namespace and broker address
                  map (instead of --namesrv; --namesrv given too wins)
  --topic T       the topic
  --key K         message key
  --tag G         message tag
  --count N       how many copies to send (default 1)
  --group G       producer group (default rocketmq_bridge_cli)",
    ),
    (
        "consume",
        "usage: rocketmq-bridge consume (--namesrv ADDR | --config FILE) --topic T [--from-beginning] [--count N] [--idle-timeout SECS] [--group G]

Pulls messages of topic T and prints each as one JSON line.

  --namesrv ADDR        name servers, separated by ';' or ','
  --config FILE         the bridge's config: its name servers, ACL keys, namespace and broker
                        address map (instead of --namesrv; --namesrv given too wins)
  --topic T             the topic
  --from-beginning      start at each queue's first offset (default: its end)
  --count N             stop after N messages
  --idle-timeout SECS   stop after SECS without a new message (default 3 with
                        --from-beginning, 10 otherwise)
  --group G             consumer group (default rocketmq_bridge_cli_consumer)",
    ),
    (
        "route",
        "usage: rocketmq-bridge route (--namesrv ADDR | --config FILE) --topic T

Prints the route of topic T as one JSON line: its brokers (cluster, addresses) and queues.

  --namesrv ADDR  name servers, separated by ';' or ','
  --config FILE   the bridge's config: its name servers, ACL keys, namespace and broker address
                  map (instead of --namesrv; --namesrv given too wins)
  --topic T       the topic",
    ),
    (
        "doctor",
        "usage: rocketmq-bridge doctor --config FILE [--probe-topic T]

A preflight of a config: every name server answers; every rule's topic is routed (namespace
applied); every broker in those routes is reachable at its (mapped) address and accepts a signed
read-only request; batch sends are accepted (only with --probe-topic). One line per finding with
its fix. Writes nothing unless --probe-topic is given.

  --config FILE       the bridge config to check
  --probe-topic T     send one batch of two messages to topic T to check batch sends

Exit code: 0 when nothing failed, 1 when something a run needs is missing, 2 when the config
does not load.",
    ),
    (
        "status",
        "usage: rocketmq-bridge status (--config FILE | --addr IP:PORT)

Prints a running bridge's GET /health JSON. The address is bridge.rocket.metrics.listen of the
config file, or --addr.

  --config FILE   the running bridge's config (needs bridge.rocket.metrics.listen)
  --addr IP:PORT  the metrics endpoint

Exit code: 0 healthy, 1 unhealthy, 2 when it cannot ask.",
    ),
];

/// The `--help` text of subcommand `name`, if there is one.
pub fn subcommand_help(name: &str) -> Option<&'static str> {
    SUBCOMMAND_HELP
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, h)| *h)
}

fn is_help(arg: &str) -> bool {
    matches!(arg, "--help" | "-h")
}

/// Runs the command line `args` (without the program name).
///
/// `--version` (or `-V`, `version`) prints [`VERSION`]; `--help` after a subcommand prints that
/// subcommand's help; `help [SUBCOMMAND]` prints the usage or one subcommand's help.
///
/// # Errors
/// [`CliError`] for bad arguments or a failed command.
pub fn run(args: &[String]) -> Result<ExitCode, CliError> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(CliError::Usage("missing subcommand".into()));
    };
    match cmd.as_str() {
        "--version" | "-V" | "version" => {
            println!("{VERSION}");
            return Ok(ExitCode::SUCCESS);
        }
        "help" | "--help" | "-h" => {
            return match rest.first() {
                None => {
                    println!("{VERSION}\n{USAGE}");
                    Ok(ExitCode::SUCCESS)
                }
                Some(sub) => match subcommand_help(sub) {
                    Some(h) => {
                        println!("{h}");
                        Ok(ExitCode::SUCCESS)
                    }
                    None => Err(CliError::Usage(format!("unknown subcommand {sub:?}"))),
                },
            };
        }
        _ => {}
    }
    let Some(help) = subcommand_help(cmd) else {
        return Err(CliError::Usage(format!("unknown subcommand {cmd:?}")));
    };
    if rest.iter().any(|a| is_help(a)) {
        println!("{help}");
        return Ok(ExitCode::SUCCESS);
    }
    let a = Args::parse(rest)?;
    match cmd.as_str() {
        "send" => tools::send(&a),
        "consume" => tools::consume(&a),
        "route" => tools::route(&a),
        "run" => run_bridge(&a),
        "mqtt" => mqtt_bridge(&a),
        "status" => status(&a),
        "doctor" => doctor(&a),
        other => Err(CliError::Usage(format!("unknown subcommand {other:?}"))),
    }
}

/// `run --config FILE [--input FILE]`: the bridge fed by NDJSON events (see [`run`](mod@run)).
fn run_bridge(a: &Args) -> Result<ExitCode, CliError> {
    let config = a.required("config")?;
    let input = a.get("input").map(std::path::Path::new);
    let summary = run::run(std::path::Path::new(config), input).map_err(CliError::failed)?;
    eprintln!("rocketmq-bridge: {summary}");
    Ok(run::exit_code(&summary))
}

/// `mqtt --config FILE`: the bridge fed by an MQTT broker (see [`mqtt`](mod@mqtt)).
fn mqtt_bridge(a: &Args) -> Result<ExitCode, CliError> {
    let config = a.required("config")?;
    let summary = mqtt::run(std::path::Path::new(config)).map_err(CliError::failed)?;
    eprintln!("rocketmq-bridge: {summary}");
    if summary.failed {
        return Ok(ExitCode::from(2));
    }
    Ok(mqtt::exit_code(&summary))
}

/// `doctor --config FILE [--probe-topic T]`: prints each finding (see [`doctor`]).
fn doctor(a: &Args) -> Result<ExitCode, CliError> {
    let config = a.required("config")?;
    let findings = doctor::check(std::path::Path::new(config), a.get("probe-topic"))
        .map_err(CliError::failed)?;
    for f in &findings.0 {
        println!("{f}");
    }
    Ok(ExitCode::from(doctor::exit_code(&findings)))
}

/// `status (--config FILE | --addr IP:PORT)`: prints `/health` of a running bridge.
fn status(a: &Args) -> Result<ExitCode, CliError> {
    if a.get("config").is_none() && a.get("addr").is_none() {
        return Err(CliError::Usage(
            "status needs --config FILE or --addr IP:PORT".into(),
        ));
    }
    let addr = status::endpoint(a.get("config"), a.get("addr")).map_err(CliError::failed)?;
    let (healthy, body) = status::query(addr).map_err(CliError::failed)?;
    println!("{}", body.trim_end());
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
