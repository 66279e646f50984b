//! `rocketmq-bridge doctor --config FILE [--probe-topic T]`: a preflight that checks what a `run`
//! of that config needs and explains each finding with its fix, one line each:
//!
//! 1. every name server answers (a route request for TBW102);
//! 2. every rule's topic is routed, with the namespace applied (or will be auto-created through
//!    TBW102, a warning);
//! 3. every broker master in those routes is reachable from here, at the address the broker address
//!    map gives, and answers a signed read-only request (GET_MAX_OFFSET): with ACL keys configured
//!    that proves the signature is accepted, and a refusal names the cause (a wrong secret key, an
//!    unknown access key, missing keys); a broker that closes the connection on a plaintext request
//!    is named as one that may require TLS;
//! 4. batch sends: only with `--probe-topic T`, which sends one batch of two messages to T (the only
//!    write `doctor` ever makes); a broker refusing batches is a warning, since the producer then
//!    sends singly;
//! 5. TLS: this build has none (issue 21 items 1-2), which is said.
//!
//! Exit code 0 when nothing failed (warnings allowed), 1 otherwise; a config that does not load is
//! a usage-level failure of the command (exit 2).

use crate::bridge::chain::Chain;
use crate::bridge::{producer_config, BridgeConfig};
use crate::message::Message;
use crate::nameserver::{Error as NsError, NameServerClient, DEFAULT_TOPIC};
use crate::producer::{with_namespace, Producer};
use crate::remoting::codes::{GET_MAX_OFFSET, NO_PERMISSION};
use crate::remoting::{
    ConnectionConfig, DirectConnection, Error as RemotingError, RemotingCommand,
};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The bound of each request `doctor` makes.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// In place.
    Ok,
    /// Works, with a caveat.
    Warn,
    /// A `run` would fail or lose events.
    Fail,
    /// Not checked (said why).
    Skip,
}

/// One finding: what was checked, how it came out, and the fix for a warning or a failure.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub what: String,
    /// What to do about it.
    pub fix: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        write!(f, "[{tag}] {}", self.what)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n       fix: {fix}")?;
        }
        Ok(())
    }
}

/// The findings of a preflight, in the order checked.
#[derive(Debug, Default)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    fn push(&mut self, status: Status, what: String, fix: Option<String>) {
        self.0.push(Finding { status, what, fix });
    }

    /// True when no check failed.
    pub fn passed(&self) -> bool {
        self.0.iter().all(|f| f.status != Status::Fail)
    }
}

/// Runs the checks of the config at `path` (see the module docs).
///
/// # Errors
/// The config error when the file does not load.
pub fn check(
    path: &Path,
    probe_topic: Option<&str>,
) -> Result<Findings, crate::bridge::ConfigError> {
    let cfg = BridgeConfig::load(path)?;
    let mut out = Findings::default();
    let acl = cfg.acl.clone().map(Arc::new);
    let conn_cfg = ConnectionConfig::default();

    // 1. Name servers.
    for s in &cfg.servers {
        let ns = NameServerClient::new(
            vec![s.clone()],
            conn_cfg.clone(),
            CHECK_TIMEOUT,
            acl.clone(),
        );
        match ns.query_route(DEFAULT_TOPIC) {
            Ok(_) => out.push(Status::Ok, format!("name server {s} answers"), None),
            Err(NsError::TopicNotExist { .. }) => out.push(
                Status::Ok,
                format!("name server {s} answers (no TBW102: topic auto-creation is off)"),
                None,
            ),
            Err(e @ NsError::Unreachable { .. }) => out.push(
                Status::Fail,
                format!("name server {s} is unreachable: {}", Chain(&e)),
                Some(
                    "check bridge.rocket.servers (host:port, 9876 by default), that the name server runs and that no firewall is in between".into(),
                ),
            ),
            Err(e) => out.push(
                Status::Warn,
                format!("name server {s} answers with an error: {}", Chain(&e)),
                None,
            ),
        }
    }

    // 2. Routes of the rules' topics (namespace applied).
    let pcfg = producer_config(&cfg);
    let producer = match Producer::start(pcfg.clone()) {
        Ok(p) => p,
        Err(e) => {
            out.push(Status::Fail, format!("cannot start a producer: {e}"), None);
            return Ok(out);
        }
    };
    let ns = cfg.namespace.as_deref();
    let topics = cfg.rules.topics();
    for r in cfg.rules.iter().filter(|r| r.topic_template.is_some()) {
        out.push(
            Status::Skip,
            format!(
                "rule {}: topic template {} is looked up per rendered topic on first use \
                 (at most {} topics, bridge.rocket.template.max_topics)",
                r.id(),
                r.topic,
                cfg.template_max_topics
            ),
            None,
        );
    }
    if cfg.rules.is_empty() {
        out.push(
            Status::Warn,
            "no rules (bridge.rocket.hook.*): nothing would be forwarded".into(),
            Some("add a rule such as bridge.rocket.hook.message.publish.1 = {\"filter\": \"#\", \"topic\": \"T\"}".into()),
        );
    }
    // Broker address -> (broker name, a topic it serves).
    let mut brokers: BTreeMap<String, (String, String)> = BTreeMap::new();
    for t in &topics {
        let wire = with_namespace(ns, t);
        let shown = if wire == *t {
            format!("topic {t}")
        } else {
            format!("topic {t} (as {wire})")
        };
        match producer.check_route(t) {
            Ok(info) => {
                for (name, addr) in &info.masters {
                    let topic = if info.from_default_topic {
                        DEFAULT_TOPIC
                    } else {
                        &wire
                    };
                    brokers
                        .entry(addr.clone())
                        .or_insert_with(|| (name.clone(), topic.to_owned()));
                }
                if info.from_default_topic {
                    out.push(
                        Status::Warn,
                        format!("{shown} does not exist yet; brokers create it on the first send (autoCreateTopicEnable; a RocketMQ proxy refuses the send instead)"),
                        Some(format!("create it with the queues you want: mqadmin updateTopic -n <namesrv> -c <cluster> -t {wire}")),
                    );
                } else {
                    let names: Vec<&str> = info.masters.keys().map(String::as_str).collect();
                    out.push(
                        Status::Ok,
                        format!(
                            "{shown} is routed: {} writable queues on {}",
                            info.queues.len(),
                            names.join(", ")
                        ),
                        None,
                    );
                }
            }
            Err(NsError::TopicNotExist { .. }) => out.push(
                Status::Fail,
                format!("{shown} has no route and topic auto-creation is off"),
                Some(format!(
                    "create it: mqadmin updateTopic -n <namesrv> -c <cluster> -t {wire}"
                )),
            ),
            Err(NsError::NoWritableQueue { .. }) => out.push(
                Status::Fail,
                format!("{shown} has no writable queue"),
                Some("give the topic write permission (perm 6) or bring its master back".into()),
            ),
            Err(e) => out.push(
                Status::Fail,
                format!("{shown}: no route: {}", Chain(&e)),
                None,
            ),
        }
    }

    // 3. Every broker in those routes: reachable, and the signature accepted.
    for (addr, (name, topic)) in &brokers {
        out.0
            .push(check_broker(&pcfg, &cfg, addr, name, topic, &conn_cfg));
    }

    // 4. Batch sends.
    match probe_topic {
        None => out.push(
            Status::Skip,
            "batch sends: not tried (doctor writes nothing unless given --probe-topic T)".into(),
            None,
        ),
        Some(p) => {
            let msgs = (0..2)
                .map(|i| Message::new(p, format!("rocketmq-bridge doctor probe {i}")))
                .collect();
            match producer.send_batch(msgs, None) {
                Ok(r) if producer.stats().batch_refused_brokers > 0 => out.push(
                    Status::Warn,
                    format!("batch sends: broker {} refuses batches; the bridge sends one by one (slower)", r.broker_addr),
                    Some("nothing to do; a broker that takes batches is faster".into()),
                ),
                Ok(r) => out.push(
                    Status::Ok,
                    format!("batch sends accepted: 2 messages stored in {p} at {}", r.broker_addr),
                    None,
                ),
                Err(e) => out.push(Status::Fail, format!("probe batch to {p}: {}", Chain(&e)), None),
            }
        }
    }

    // 5. TLS.
    out.push(
        Status::Skip,
        "TLS: this build has no TLS; name servers and brokers are reached in plaintext".into(),
        None,
    );
    producer.close(Duration::from_secs(1));
    Ok(out)
}

/// Connects to the broker `name` (route address `addr`, dialled where the address map says) and
/// sends a signed GET_MAX_OFFSET for queue 0 of `topic`.
fn check_broker(
    pcfg: &crate::producer::ProducerConfig,
    cfg: &BridgeConfig,
    addr: &str,
    name: &str,
    topic: &str,
    conn_cfg: &ConnectionConfig,
) -> Finding {
    let dial = pcfg.dial_addr(addr);
    let shown = if dial == addr {
        format!("broker {name} at {addr}")
    } else {
        format!("broker {name} at {addr} (dialled at {dial})")
    };
    let fail = |what: String, fix: String| Finding {
        status: Status::Fail,
        what,
        fix: Some(fix),
    };
    let mut conn = match DirectConnection::connect(dial, conn_cfg) {
        Ok(c) => c,
        Err(e) => {
            let fix = if dial == addr {
                format!("the broker registers {addr}; if this host cannot reach that address (NAT, Docker, Kubernetes), map it: bridge.rocket.broker_addr_map = {addr}=<reachable host:port>, or set the broker's brokerIP1")
            } else {
                format!("bridge.rocket.broker_addr_map sends {addr} to {dial}, which does not answer: correct the map")
            };
            return fail(
                format!("{shown} is unreachable from here: {}", Chain(&e)),
                fix,
            );
        }
    };
    let mut cmd = RemotingCommand::request(GET_MAX_OFFSET)
        .with_ext("topic", topic)
        .with_ext("queueId", "0");
    if let Some(acl) = &cfg.acl {
        acl.sign(&mut cmd);
    }
    match conn.invoke(&cmd, CHECK_TIMEOUT) {
        Ok(resp) if resp.code == NO_PERMISSION => {
            let remark = resp.remark.unwrap_or_default();
            let fix = match &cfg.acl {
                None => "the broker requires ACL: set bridge.rocket.acl.access_key and bridge.rocket.acl.secret_key".to_owned(),
                Some(a) if remark.contains("signature") => format!(
                    "the secret key is wrong for access key {:?}: check bridge.rocket.acl.secret_key",
                    a.access_key
                ),
                Some(a) if remark.contains("not found") => format!(
                    "the broker knows no user {:?}: check bridge.rocket.acl.access_key",
                    a.access_key
                ),
                Some(_) => "check the ACL keys (bridge.rocket.acl.*) and the user's permissions".to_owned(),
            };
            fail(
                format!("{shown} refused the credentials: {remark}"),
                fix,
            )
        }
        Ok(_) => Finding {
            status: Status::Ok,
            what: match &cfg.acl {
                Some(a) => format!("{shown} is reachable; ACL signature of access key {:?} accepted", a.access_key),
                None => format!("{shown} is reachable (no ACL keys configured)"),
            },
            fix: None,
        },
        Err(e @ RemotingError::ConnectionClosed { .. }) | Err(e @ RemotingError::Decode { .. }) => fail(
            format!(
                "{shown} closed the connection or answered garbage to a plaintext request: {}",
                Chain(&e)
            ),
            "a broker that requires TLS (tls.server.mode = enforcing) does this; this build has no TLS, so it cannot reach it".into(),
        ),
        Err(e) => fail(
            format!("{shown} did not answer: {}", Chain(&e)),
            "check that the broker runs and is not overloaded".into(),
        ),
    }
}

/// The exit code of `findings`: 0 when nothing failed, 1 otherwise.
pub fn exit_code(findings: &Findings) -> u8 {
    u8::from(!findings.passed())
}
