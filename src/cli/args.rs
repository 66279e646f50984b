//! A small `--flag value` parser (no crate needed for a handful of options).

use std::collections::HashMap;
use std::fmt;

/// Command-line errors.
#[derive(Debug)]
#[non_exhaustive]
pub enum CliError {
    /// Bad or missing arguments.
    Usage(String),
    /// The command failed; `Display` writes the error and its causes.
    Failed(Box<Failure>),
}

/// The error a command failed with, one variant per kind of command.
///
/// An enum of the concrete errors rather than a `Box<dyn Error>`: a trait object of each would
/// link every wrapped error's `Debug` into the binary, which never prints them.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// `run`: the config, the bridge's start or the input.
    Run(crate::cli::run::RunError),
    /// `mqtt`: the config, the bridge's start.
    Mqtt(crate::cli::mqtt::MqttRunError),
    /// `status`: the config or the endpoint.
    Status(crate::cli::status::StatusError),
    /// `send`, `consume`, `route`: the `--config` file.
    Config(crate::bridge::ConfigError),
    /// `send`: starting the producer.
    Producer(crate::producer::ProducerError),
    /// `send`: a send.
    Send(crate::producer::SendError),
    /// `consume`: the consumer.
    Consumer(crate::consumer::Error),
    /// `route`: the name server.
    NameServer(crate::nameserver::Error),
    /// Writing the output.
    Io(std::io::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::bridge::chain::Chain;
        match self {
            Failure::Run(e) => write!(f, "{}", Chain(e)),
            Failure::Mqtt(e) => write!(f, "{}", Chain(e)),
            Failure::Status(e) => write!(f, "{}", Chain(e)),
            Failure::Config(e) => write!(f, "{}", Chain(e)),
            Failure::Producer(e) => write!(f, "{}", Chain(e)),
            Failure::Send(e) => write!(f, "{}", Chain(e)),
            Failure::Consumer(e) => write!(f, "{}", Chain(e)),
            Failure::NameServer(e) => write!(f, "{}", Chain(e)),
            Failure::Io(e) => write!(f, "{}", Chain(e)),
        }
    }
}

macro_rules! failure_from {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Failure {
                Failure::$v(e)
            }
        }
    )*};
}

failure_from! {
    crate::cli::run::RunError => Run,
    crate::cli::mqtt::MqttRunError => Mqtt,
    crate::cli::status::StatusError => Status,
    crate::bridge::ConfigError => Config,
    crate::producer::ProducerError => Producer,
    crate::producer::SendError => Send,
    crate::consumer::Error => Consumer,
    crate::nameserver::Error => NameServer,
    std::io::Error => Io,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => write!(f, "{m}\n{}", super::USAGE),
            CliError::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// No `source()`: `Display` writes the failed command's error with its causes.
impl std::error::Error for CliError {}

impl CliError {
    /// A failed command, from its error.
    pub fn failed(e: impl Into<Failure>) -> CliError {
        CliError::Failed(Box::new(e.into()))
    }
}

/// Parsed options and positional arguments.
#[derive(Debug, Default)]
pub struct Args {
    opts: HashMap<String, String>,
    flags: Vec<String>,
    /// Positional arguments in order.
    pub positional: Vec<String>,
}

/// Options that take no value.
const FLAGS: &[&str] = &["from-beginning", "binary"];

impl Args {
    /// Parses `--name value`, `--name=value` and boolean `--from-beginning`.
    ///
    /// # Errors
    /// [`CliError::Usage`] for an option without its value.
    pub fn parse(args: &[String]) -> Result<Args, CliError> {
        let mut a = Args::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if let Some(name) = arg.strip_prefix("--") {
                if let Some((k, v)) = name.split_once('=') {
                    a.opts.insert(k.to_owned(), v.to_owned());
                } else if FLAGS.contains(&name) {
                    a.flags.push(name.to_owned());
                } else {
                    let v = it
                        .next()
                        .ok_or_else(|| CliError::Usage(format!("--{name} needs a value")))?;
                    a.opts.insert(name.to_owned(), v.clone());
                }
            } else {
                a.positional.push(arg.clone());
            }
        }
        Ok(a)
    }

    /// An option's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.opts.get(name).map(String::as_str)
    }

    /// A required option.
    ///
    /// # Errors
    /// [`CliError::Usage`] naming it.
    pub fn required(&self, name: &str) -> Result<&str, CliError> {
        self.get(name)
            .ok_or_else(|| CliError::Usage(format!("missing --{name}")))
    }

    /// A numeric option with a default.
    ///
    /// # Errors
    /// [`CliError::Usage`] when it is not a number.
    pub fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, CliError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| CliError::Usage(format!("--{name} must be a number, got {v:?}"))),
        }
    }

    /// True when a boolean flag was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}
