//! `send`, `consume` and `route`.

use super::{Args, CliError};
use crate::bridge::BridgeConfig;
use crate::consumer::{PullConsumer, PullStatus, ReadQueue};
use crate::message::{Message, MessageExt};
use crate::producer::{with_namespace, Producer, ProducerConfig};
use crate::remoting::acl::AclCredentials;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn failed(e: impl Into<super::Failure>) -> CliError {
    CliError::failed(e)
}

/// Where a tool connects: `--namesrv ADDR`, or the name servers, ACL credentials, namespace and
/// broker address map of the bridge's config file `--config FILE` (`--namesrv` given as well wins
/// over the file's servers).
struct Target {
    servers: String,
    acl: Option<AclCredentials>,
    namespace: Option<String>,
    addr_map: Vec<(String, String)>,
}

impl Target {
    fn of(a: &Args) -> Result<Target, CliError> {
        let cfg = match a.get("config") {
            Some(path) => Some(BridgeConfig::load(path).map_err(failed)?),
            None => None,
        };
        let servers = match (a.get("namesrv"), &cfg) {
            (Some(ns), _) => ns.to_owned(),
            (None, Some(c)) => c.servers.join(";"),
            (None, None) => {
                return Err(CliError::Usage(
                    "needs --namesrv ADDR or --config FILE".into(),
                ))
            }
        };
        Ok(match cfg {
            Some(c) => Target {
                servers,
                acl: c.acl,
                namespace: c.namespace,
                addr_map: c.broker_addr_map,
            },
            None => Target {
                servers,
                acl: None,
                namespace: None,
                addr_map: Vec::new(),
            },
        })
    }

    /// `name` as the brokers know it (the namespace applied).
    fn wire(&self, name: &str) -> String {
        with_namespace(self.namespace.as_deref(), name)
    }

    /// A pull consumer in `group` (namespace applied) signing with the ACL credentials.
    fn consumer(&self, group: &str) -> PullConsumer {
        PullConsumer::new(&self.servers, &self.wire(group), self.acl.clone())
            .with_broker_addr_map(self.addr_map.clone())
    }
}

/// `send (--namesrv ADDR | --config FILE) --topic T [--key K] [--tag G] [--count N] BODY`
pub(super) fn send(a: &Args) -> Result<ExitCode, CliError> {
    let target = Target::of(a)?;
    let topic = a.required("topic")?;
    let body = a
        .positional
        .first()
        .ok_or_else(|| CliError::Usage("missing BODY".into()))?;
    let count: u64 = a.number("count", 1)?;
    let mut cfg = ProducerConfig::new(
        &[target.servers.as_str()],
        a.get("group").unwrap_or("rocketmq_bridge_cli"),
    )
    .namespace(target.namespace.clone())
    .acl(target.acl.clone());
    cfg.broker_addr_map = target.addr_map.clone();
    let producer = Producer::start(cfg).map_err(failed)?;
    let mut out = std::io::stdout().lock();
    for _ in 0..count {
        let mut m = Message::new(topic, body.clone().into_bytes());
        if let Some(k) = a.get("key") {
            m = m.with_keys(&[k]);
        }
        if let Some(t) = a.get("tag") {
            m = m.with_tags(t);
        }
        let r = producer.send(m).map_err(failed)?;
        let line = json!({
            "status": format!("{:?}", r.status),
            "msg_id": r.msg_id,
            "offset_msg_id": r.offset_msg_id,
            "topic": r.queue.topic,
            "broker": r.queue.broker_name,
            "queue": r.queue.queue_id,
            "offset": r.queue_offset,
        });
        writeln!(out, "{line}").map_err(failed)?;
    }
    producer.close(Duration::from_secs(3));
    Ok(ExitCode::SUCCESS)
}

/// One JSON object for a stored message, as `consume` prints it.
pub(crate) fn message_json(m: &MessageExt, broker: &str) -> Value {
    let props: Map<String, Value> = m
        .properties
        .iter()
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .collect();
    let mut o = Map::new();
    o.insert("topic".into(), m.topic.clone().into());
    o.insert("broker".into(), broker.into());
    o.insert("queue".into(), m.queue_id.into());
    o.insert("offset".into(), m.queue_offset.into());
    o.insert(
        "msg_id".into(),
        m.unique_key().map(Value::from).unwrap_or(Value::Null),
    );
    o.insert(
        "keys".into(),
        m.keys()
            .into_iter()
            .map(Value::from)
            .collect::<Vec<_>>()
            .into(),
    );
    o.insert(
        "tags".into(),
        m.tags().map(Value::from).unwrap_or(Value::Null),
    );
    o.insert("properties".into(), Value::Object(props));
    match std::str::from_utf8(&m.body) {
        Ok(s) => o.insert("body".into(), s.into()),
        Err(_) => {
            o.insert("body".into(), Value::Null);
            o.insert(
                "body_base64".into(),
                base64::engine::general_purpose::STANDARD
                    .encode(&m.body)
                    .into(),
            )
        }
    };
    o.insert("born_timestamp".into(), m.born_timestamp.into());
    o.insert("store_timestamp".into(), m.store_timestamp.into());
    Value::Object(o)
}

/// `consume (--namesrv ADDR | --config FILE) --topic T [--from-beginning] [--count N]
/// [--idle-timeout SECS] [--group G]`
///
/// Prints one JSON line per message. Stops after `--count` messages, or when nothing new arrived
/// for `--idle-timeout` seconds (default 3 with `--from-beginning`, 10 otherwise).
pub(super) fn consume(a: &Args) -> Result<ExitCode, CliError> {
    let target = Target::of(a)?;
    let topic = &target.wire(a.required("topic")?);
    let count: u64 = a.number("count", u64::MAX)?;
    let from_beginning = a.flag("from-beginning");
    let idle: f64 = a.number("idle-timeout", if from_beginning { 3.0 } else { 10.0 })?;
    let c = target.consumer(a.get("group").unwrap_or("rocketmq_bridge_cli_consumer"));
    let queues: Vec<ReadQueue> = c.queues(topic).map_err(failed)?;
    let mut offsets = Vec::with_capacity(queues.len());
    for q in &queues {
        offsets.push(
            if from_beginning {
                c.min_offset(q)
            } else {
                c.max_offset(q)
            }
            .map_err(failed)?,
        );
    }
    let mut printed = 0u64;
    let mut last_progress = Instant::now();
    let mut out = std::io::stdout().lock();
    while printed < count && last_progress.elapsed().as_secs_f64() < idle {
        let mut progressed = false;
        for (q, off) in queues.iter().zip(offsets.iter_mut()) {
            if printed >= count {
                break;
            }
            let r = c.pull(q, *off, 32).map_err(failed)?;
            if let PullStatus::Found(msgs) = r.status {
                for m in msgs {
                    if printed >= count {
                        break;
                    }
                    writeln!(out, "{}", message_json(&m, &q.queue.broker_name)).map_err(failed)?;
                    printed += 1;
                    *off = m.queue_offset + 1;
                    progressed = true;
                }
            } else if r.next_begin_offset > *off {
                *off = r.next_begin_offset;
            }
        }
        if progressed {
            last_progress = Instant::now();
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    out.flush().map_err(failed)?;
    Ok(ExitCode::SUCCESS)
}

/// `route (--namesrv ADDR | --config FILE) --topic T`
pub(super) fn route(a: &Args) -> Result<ExitCode, CliError> {
    let target = Target::of(a)?;
    let topic = &target.wire(a.required("topic")?);
    let c = target.consumer("rocketmq_bridge_cli_consumer");
    let r = c.nameserver().query_route(topic).map_err(failed)?;
    let brokers: Vec<Value> = r
        .broker_datas
        .iter()
        .map(|b| {
            let addrs: Map<String, Value> = b
                .broker_addrs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::from(v.as_str())))
                .collect();
            json!({"broker": b.broker_name, "cluster": b.cluster, "addrs": addrs})
        })
        .collect();
    let queues: Vec<Value> = r
        .queue_datas
        .iter()
        .map(|q| json!({"broker": q.broker_name, "read": q.read_queue_nums, "write": q.write_queue_nums, "perm": q.perm}))
        .collect();
    println!(
        "{}",
        json!({"topic": topic, "brokers": brokers, "queues": queues})
    );
    Ok(ExitCode::SUCCESS)
}
