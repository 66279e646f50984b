//! `send`, `consume` and `route`.

use super::{Args, CliError};
use crate::consumer::{PullConsumer, PullStatus, ReadQueue};
use crate::message::{Message, MessageExt};
use crate::producer::{Producer, ProducerConfig};
use base64::Engine;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn failed(e: impl Into<super::Failure>) -> CliError {
    CliError::failed(e)
}

/// `send --namesrv ADDR --topic T [--key K] [--tag G] [--count N] BODY`
pub(super) fn send(a: &Args) -> Result<ExitCode, CliError> {
    let ns = a.required("namesrv")?;
    let topic = a.required("topic")?;
    let body = a
        .positional
        .first()
        .ok_or_else(|| CliError::Usage("missing BODY".into()))?;
    let count: u64 = a.number("count", 1)?;
    let producer = Producer::start(ProducerConfig::new(
        &[ns],
        a.get("group").unwrap_or("rocketmq_bridge_cli"),
    ))
    .map_err(failed)?;
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

/// `consume --namesrv ADDR --topic T [--from-beginning] [--count N] [--idle-timeout SECS]`
///
/// Prints one JSON line per message. Stops after `--count` messages, or when nothing new arrived
/// for `--idle-timeout` seconds (default 3 with `--from-beginning`, 10 otherwise).
pub(super) fn consume(a: &Args) -> Result<ExitCode, CliError> {
    let ns = a.required("namesrv")?;
    let topic = a.required("topic")?;
    let count: u64 = a.number("count", u64::MAX)?;
    let from_beginning = a.flag("from-beginning");
    let idle: f64 = a.number("idle-timeout", if from_beginning { 3.0 } else { 10.0 })?;
    let c = PullConsumer::new(
        ns,
        a.get("group").unwrap_or("rocketmq_bridge_cli_consumer"),
        None,
    );
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

/// `route --namesrv ADDR --topic T`
pub(super) fn route(a: &Args) -> Result<ExitCode, CliError> {
    let ns = a.required("namesrv")?;
    let topic = a.required("topic")?;
    let c = PullConsumer::new(ns, "rocketmq_bridge_cli_consumer", None);
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
