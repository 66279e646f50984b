//! The command-line front end: argument parsing and the subcommands. Thin: it calls the library.
//!
//! - [`run`](mod@run): `rocketmq-bridge run`, the bridge fed by NDJSON events (signals, summary).
//! - [`status`]: `rocketmq-bridge status`, a running bridge's `/health`.
//! - [`doctor`]: `rocketmq-bridge doctor`, a preflight of a config.

mod args;
pub mod doctor;
pub mod run;
pub mod status;
mod tools;

pub use args::{Args, CliError, Failure};

use std::process::ExitCode;

/// Usage text.
pub const USAGE: &str = "usage:
  rocketmq-bridge run --config FILE [--input FILE]     forward NDJSON events (stdin by default)
  rocketmq-bridge send (--namesrv ADDR | --config FILE) --topic T [--key K] [--tag G] [--count N] BODY
  rocketmq-bridge consume (--namesrv ADDR | --config FILE) --topic T [--from-beginning] [--count N] [--idle-timeout SECS] [--group G]
  rocketmq-bridge route (--namesrv ADDR | --config FILE) --topic T
  rocketmq-bridge status (--config FILE | --addr IP:PORT)    a running bridge's /health; exit 0 healthy, 1 not, 2 unreachable
  rocketmq-bridge doctor --config FILE [--probe-topic T]   preflight: name servers, routes, brokers, ACL, batches; exit 0 when a run has what it needs
ADDR may list several name servers separated by ';' or ','. --config FILE (the bridge's config) gives the
tools its name servers, ACL keys, namespace and broker address map (--namesrv, if given too, wins).";

/// Runs the command line `args` (without the program name).
///
/// # Errors
/// [`CliError`] for bad arguments or a failed command.
pub fn run(args: &[String]) -> Result<ExitCode, CliError> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(CliError::Usage("missing subcommand".into()));
    };
    let a = Args::parse(rest)?;
    match cmd.as_str() {
        "send" => tools::send(&a),
        "consume" => tools::consume(&a),
        "route" => tools::route(&a),
        "run" => run_bridge(&a),
        "status" => status(&a),
        "doctor" => doctor(&a),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
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
