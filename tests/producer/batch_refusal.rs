//! Brokers that refuse batch sends (issue #21 item 3), played by a scripted fake broker that
//! answers SEND_BATCH_MESSAGE exactly as such brokers do and stores every single send it gets:
//! the producer switches that broker to single sends for the rest of the run, re-sends the
//! refused batch's members singly with their keys and ids, and counts it.

use super::fake_peers::{fake_namesrv, serve};
use rocketmq_bridge::message::{Message, Properties};
use rocketmq_bridge::producer::{Producer, ProducerConfig};
use rocketmq_bridge::remoting::codes::{SEND_BATCH_MESSAGE, SEND_MESSAGE_V2};
use rocketmq_bridge::remoting::RemotingCommand;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake broker stored: (UNIQ_KEY, KEYS, body) of each single send.
type Stored = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

struct RefusingBroker {
    addr: String,
    batches: Arc<AtomicUsize>,
    stored: Stored,
}

/// A broker that answers every SEND_BATCH_MESSAGE with `code` and `remark`, and stores single
/// sends (answering them as stored).
fn refusing_broker(code: i32, remark: &'static str) -> RefusingBroker {
    let batches = Arc::new(AtomicUsize::new(0));
    let stored: Stored = Arc::default();
    let (b, s) = (Arc::clone(&batches), Arc::clone(&stored));
    let addr = serve(move |req| match req.code {
        SEND_BATCH_MESSAGE => {
            b.fetch_add(1, Ordering::SeqCst);
            Some(RemotingCommand::response_to(req, code, Some(remark.into())))
        }
        SEND_MESSAGE_V2 => {
            let props = Properties::decode(req.ext("i").unwrap_or(""));
            let mut s = s.lock().unwrap();
            s.push((
                props.get("UNIQ_KEY").unwrap_or("").to_owned(),
                props.get("KEYS").unwrap_or("").to_owned(),
                req.body.to_vec(),
            ));
            Some(
                RemotingCommand::response_to(req, 0, None)
                    .with_ext("msgId", "7F00000100002A9F0000000000000000")
                    .with_ext("queueId", req.ext("e").unwrap_or("0"))
                    .with_ext("queueOffset", &(s.len() - 1).to_string()),
            )
        }
        _ => Some(RemotingCommand::response_to(req, 0, None)),
    });
    RefusingBroker {
        addr,
        batches,
        stored,
    }
}

fn batch(round: usize, n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| {
            Message::new("T", format!("r{round}-m{i}")).with_keys(&[&format!("key-{round}-{i}")])
        })
        .collect()
}

/// Every message of `sent` is stored exactly once, singly, with its key and its id.
fn assert_each_stored_once(broker: &RefusingBroker, sent: &[(String, String, Vec<u8>)]) {
    let stored = broker.stored.lock().unwrap().clone();
    assert_eq!(stored.len(), sent.len(), "one single send per message");
    for m in sent {
        let n = stored.iter().filter(|s| *s == m).count();
        assert_eq!(n, 1, "stored once with its id and key: {m:?}");
    }
}

/// The refusal forms real brokers answer: code 1 with "not support" (the cloud brokers'
/// `the topic[X] is batch send , not support.`), code 3, a "request type … not supported" remark.
const REFUSALS: [(i32, &str); 3] = [
    (1, "the topic[T] is batch send , not support."),
    (3, " request type 320 not supported"),
    (1, "request code 320 not supported"),
];

#[test]
fn a_refused_batch_is_resent_singly_and_the_broker_gets_single_sends_from_then_on() {
    for (code, remark) in REFUSALS {
        let broker = refusing_broker(code, remark);
        let ns = fake_namesrv(&[("b", &broker.addr)]);
        let p = Producer::start(
            ProducerConfig::new(&[ns.as_str()], "g").heartbeat_interval(Duration::ZERO),
        )
        .unwrap();
        let mut sent = Vec::new();
        for round in 0..3 {
            let msgs = batch(round, 4);
            let r = p.send_batch(msgs.clone(), None).unwrap();
            let ids: Vec<&str> = r.msg_id.split(',').collect();
            assert_eq!(ids.len(), 4, "one id per member: {}", r.msg_id);
            for (m, id) in msgs.iter().zip(ids) {
                sent.push((id.to_owned(), m.keys().join(" "), m.body.to_vec()));
            }
        }
        assert_eq!(
            broker.batches.load(Ordering::SeqCst),
            1,
            "code {code}: after the first refusal no batch goes to that broker"
        );
        assert_each_stored_once(&broker, &sent);
        let s = p.stats();
        assert_eq!(
            (
                s.batch_refused_brokers,
                s.batch_refused_batches,
                s.batch_fallback_messages
            ),
            (1, 1, 12),
            "code {code}"
        );
        p.close(Duration::from_secs(1));
    }
}

#[test]
fn async_batches_refused_while_pipelined_are_all_resent_singly() {
    let broker = refusing_broker(1, "the topic[T] is batch send , not support.");
    let ns = fake_namesrv(&[("b", &broker.addr)]);
    let p = Producer::start(
        ProducerConfig::new(&[ns.as_str()], "g").heartbeat_interval(Duration::ZERO),
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let rounds = 8;
    let mut sent = Vec::new();
    for round in 0..rounds {
        let msgs = batch(round, 5);
        let tx = tx.clone();
        let keep = msgs.clone();
        p.send_batch_async(msgs, None, Box::new(move |r| tx.send((keep, r)).unwrap()))
            .unwrap();
    }
    for _ in 0..rounds {
        let (msgs, r) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let r = r.unwrap();
        for (m, id) in msgs.iter().zip(r.msg_id.split(',')) {
            sent.push((id.to_owned(), m.keys().join(" "), m.body.to_vec()));
        }
    }
    assert_eq!(sent.len(), rounds * 5);
    assert_each_stored_once(&broker, &sent);
    let s = p.stats();
    assert_eq!(s.batch_refused_brokers, 1, "switched once");
    assert_eq!(
        s.batch_refused_batches as usize,
        broker.batches.load(Ordering::SeqCst),
        "every refused batch counted"
    );
    assert_eq!(s.batch_fallback_messages as usize, rounds * 5);
    p.close(Duration::from_secs(1));
}
