//! Unit tests of [`super`]: matching, formatting, the budget's overflow policies, templates.
use super::*;
use crate::bridge::config::{OverflowPolicy, ProduceMode};
use crate::bridge::rule::RuleId;
use crate::bridge::settle::testing::{publish, rule, shared, shared_with_hold, shared_with_rules};
use crate::message::Properties;
use crate::producer::{SendError, SendErrorKind};
use bytes::Bytes;

/// Budget bytes one `publish("z", b"1")` message takes.
fn one_message_bytes() -> usize {
    let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 1 << 20);
    EventSender::new(Arc::clone(&sh))
        .send(publish("z", b"1"))
        .unwrap();
    sh.budget.used()
}

#[test]
fn each_matching_rule_gets_a_message_with_the_event_key() {
    let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 1 << 20);
    let tx = EventSender::new(Arc::clone(&sh));
    tx.send(publish("a/b", b"x")).unwrap();
    tx.send(publish("z", b"y")).unwrap();
    tx.send(Event::client_connected("c1", None)).unwrap();
    let got: Vec<Outgoing> = sh.rx.try_iter().flatten().collect();
    let summary: Vec<(String, String, RuleId)> = got
        .iter()
        .map(|o| (o.msg.topic.to_string(), o.meta.key.to_string(), o.meta.rule))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("T1".into(), "b1-run-0".into(), rule(1)),
            ("T2".into(), "b1-run-0".into(), rule(2)),
            ("T1".into(), "b1-run-1".into(), rule(1)),
        ]
    );
    assert_eq!(got[0].msg.keys(), vec!["b1-run-0"]);
    assert_eq!(got[0].msg.properties.get("mqtt_client_id"), Some("c1"));
    assert_eq!(
        &got[0].msg.body[..],
        br#"{"client_id":"c1","username":null,"topic":"a/b","payload":"eA==","qos":0,"node":"n1","ts":1}"#
    );
    let stats = sh.stats();
    assert_eq!(stats.unmatched, 1);
    assert_eq!(stats.in_flight, 3);
    assert_eq!(stats.rule(rule(1)).unwrap().matched, 2);
    assert!(stats.buffered_bytes > 0);
}

#[test]
fn drop_new_refuses_when_the_budget_is_full() {
    let one = one_message_bytes();
    let sh = shared(ProduceMode::Async, OverflowPolicy::DropNew, one * 5 / 2);
    let tx = EventSender::new(Arc::clone(&sh));
    tx.send(publish("z", b"1")).unwrap();
    tx.send(publish("z", b"2")).unwrap();
    let r = tx.send(publish("z", b"3"));
    assert_eq!(
        r,
        Err(SendEventError::Dropped {
            rule: rule(1),
            reason: DropReason::Overflow
        })
    );
    let s = sh.stats();
    assert_eq!(s.rule(rule(1)).unwrap().dropped_overflow, 1);
    assert_eq!(s.in_flight, 2);
    assert_eq!(s.buffered_bytes, 2 * one);
}

#[test]
fn drop_oldest_makes_room_by_dropping_the_oldest_buffered_message() {
    let one = one_message_bytes();
    let sh = shared(ProduceMode::Async, OverflowPolicy::DropOldest, one * 5 / 2);
    let tx = EventSender::new(Arc::clone(&sh));
    for p in [b"1", b"2", b"3", b"4"] {
        tx.send(publish("z", p)).unwrap();
    }
    let keys: Vec<String> = sh
        .rx
        .try_iter()
        .flatten()
        .map(|o| o.meta.key.to_string())
        .collect();
    assert_eq!(keys, vec!["b1-run-2", "b1-run-3"]);
    let s = sh.stats();
    assert_eq!(s.rule(rule(1)).unwrap().dropped_overflow, 2);
    assert_eq!(s.buffered_bytes, 2 * one);
}

#[test]
fn too_large_messages_are_dropped_before_buffering() {
    let sh = shared(ProduceMode::Sync, OverflowPolicy::Block, 1 << 20);
    let tx = EventSender::new(Arc::clone(&sh));
    let big = Event::message_publish("c1", "z", Bytes::from(vec![0u8; 2000]), 0);
    match tx.send(big) {
        Err(SendEventError::Dropped {
            reason: DropReason::TooLarge { max: 1024, .. },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let s = sh.stats();
    assert_eq!(s.rule(rule(1)).unwrap().dropped_too_large, 1);
    assert_eq!((s.in_flight, s.buffered_bytes), (0, 0));
}

#[test]
fn sync_send_without_an_outcome_times_out_and_closed_refuses() {
    let sh = shared(ProduceMode::Sync, OverflowPolicy::Block, 1 << 20);
    let tx = EventSender::new(Arc::clone(&sh));
    let r = tx.send(publish("z", b"1"));
    assert!(matches!(r, Err(SendEventError::Timeout { .. })), "{r:?}");
    sh.closed.store(true, Ordering::SeqCst);
    assert_eq!(tx.send(publish("z", b"1")), Err(SendEventError::Closed));
}

#[test]
fn drop_oldest_drops_a_held_message_first() {
    let sh = shared_with_hold(Duration::from_secs(60));
    let tx = EventSender::new(Arc::clone(&sh));
    tx.send(publish("z", b"1")).unwrap();
    tx.send(publish("z", b"2")).unwrap();
    let a = sh.rx.try_recv().unwrap().one();
    sh.fail_or_hold(
        Some(a.msg.clone()),
        a.meta,
        "T1",
        &not_sent(vec![a.msg]).kind,
    );
    assert!(sh.drop_oldest());
    let s = sh.stats();
    assert_eq!(
        (
            s.rule(rule(1)).unwrap().dropped_overflow,
            s.held,
            s.in_flight
        ),
        (1, 0, 1)
    );
    assert_eq!(sh.rx.len(), 1, "the channel's message stays");
}

#[test]
fn send_then_reports_once_when_the_last_message_ended() {
    let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 1 << 20);
    let tx = EventSender::new(Arc::clone(&sh));
    let (otx, orx) = bounded(4);
    // "a/b" matches rules 1 and 2: one outcome for both messages.
    let h = tx.send_then(publish("a/b", b"x"), move |r| otx.send(r).unwrap());
    assert_eq!(h, Handover::Pending);
    let got: Vec<Outgoing> = sh.rx.try_iter().flatten().collect();
    assert_eq!(got.len(), 2);
    let mut got = got.into_iter();
    let first = got.next().unwrap();
    sh.finish_sent(vec![first.meta], "T1");
    assert!(orx.try_recv().is_err(), "not before the last message");
    let second = got.next().unwrap();
    sh.drop_out(second, DropReason::Overflow);
    assert_eq!(
        orx.try_recv().unwrap(),
        Err(SendEventError::Dropped {
            rule: rule(2),
            reason: DropReason::Overflow
        })
    );
    assert!(orx.try_recv().is_err(), "exactly once");
    let unmatched = tx.send_then(Event::client_connected("c1", None), |_| {
        panic!("not called for an unmatched event")
    });
    assert_eq!(unmatched, Handover::Done(Ok(())));
    sh.closed.store(true, Ordering::SeqCst);
    let closed = tx.send_then(publish("z", b"1"), |_| panic!("not called when closed"));
    assert_eq!(closed, Handover::Done(Err(SendEventError::Closed)));
}

#[test]
fn templates_shape_topic_tag_keys_and_body() {
    let sh = shared_with_rules(
        r##"bridge.rocket.hook.message.publish.1 = {"filter": "#", "topic": "${topic.0}_${qos}", "tag": "${client_id}", "key": "${username}/${topic}", "body": "payload"}
bridge.rocket.hook.client.connected.1 = {"topic": "Conn", "tag": "${username}", "key": "${node}-${event}"}
"##,
    );
    let tx = EventSender::new(Arc::clone(&sh));
    let mut ev = publish("site/a b/t", b"\x00raw\xff");
    ev.username = Some("u 1	".into());
    ev.qos = Some(2);
    tx.send(ev).unwrap();
    tx.send(Event::client_connected("c1", None)).unwrap();
    let got: Vec<Outgoing> = sh.rx.try_iter().flatten().collect();
    assert_eq!(got.len(), 2);
    let m = &got[0].msg;
    assert_eq!(m.topic, "site_2");
    assert_eq!(m.tags(), Some("c1"));
    assert_eq!(m.keys(), vec!["b1-run-0", "u_1_/site/a_b/t"]);
    assert_eq!(&m.body[..], b"\x00raw\xff", "the payload byte for byte");
    assert_eq!(
        got[0].meta.key, "b1-run-0",
        "the dedup key stays the bridge's"
    );
    let c = &got[1].msg;
    assert_eq!(c.topic, "Conn");
    assert_eq!(c.tags(), None, "an empty rendered tag is left out");
    assert_eq!(c.keys(), vec!["b1-run-1", "n1-client.connected"]);
    assert!(c.body.starts_with(br#"{"client_id":"c1""#));
    let stats = sh.stats();
    assert_eq!(
        stats.rules.len(),
        2,
        "one counter entry per rule: {stats:?}"
    );
    assert_eq!(stats.total().matched, 2);
}

#[test]
fn a_rendered_key_is_cut_at_1024_bytes_on_a_character_boundary() {
    let sh = shared_with_rules(
        r##"bridge.rocket.hook.message.publish.1 = {"filter": "#", "topic": "T", "key": "/${topic}", "body": "payload"}
"##,
    );
    let tx = EventSender::new(Arc::clone(&sh));
    // "/" and 1022 bytes of "a" make 1023; the 2-byte "é" would end at 1025.
    let long = format!("{}é", "a".repeat(1022));
    tx.send(publish(&long, b"p")).unwrap();
    let m = sh.rx.try_recv().unwrap().one().msg;
    assert_eq!(m.keys()[1], format!("/{}", "a".repeat(1022)));
    tx.send(publish("short", b"p")).unwrap();
    let m = sh.rx.try_recv().unwrap().one().msg;
    assert_eq!(m.keys(), vec!["b1-run-1", "/short"]);
}

#[test]
fn bad_rendered_topics_and_tags_and_the_cap_are_counted_drops() {
    let sh = shared_with_rules(
        r##"bridge.rocket.hook.message.publish.1 = {"filter": "#", "topic": "${topic.1}", "tag": "${topic.0}"}
bridge.rocket.template.max_topics = 2
"##,
    );
    use crate::bridge::topic_gate::Route;
    sh.topics.set_lookup(Box::new(|t| {
        if t == "Gone" {
            Route::Missing
        } else {
            Route::Found
        }
    }));
    let tx = EventSender::new(Arc::clone(&sh));
    let dropped = |reason| {
        Err(SendEventError::Dropped {
            rule: rule(1),
            reason,
        })
    };
    assert_eq!(tx.send(publish("a/T1", b"1")), Ok(()));
    assert_eq!(
        tx.send(publish("a/T.2", b"1")),
        dropped(DropReason::BadTopic)
    );
    assert_eq!(tx.send(publish("a", b"1")), dropped(DropReason::BadTopic));
    let long = format!("a/{}", "x".repeat(128));
    assert_eq!(tx.send(publish(&long, b"1")), dropped(DropReason::BadTopic));
    assert_eq!(
        tx.send(publish("a||b/T1", b"1")),
        dropped(DropReason::BadTag)
    );
    assert_eq!(
        tx.send(publish("a/Gone", b"1")),
        dropped(DropReason::NoTopic)
    );
    assert_eq!(
        tx.send(publish("a/T3", b"1")),
        dropped(DropReason::TopicCap { max: 2 })
    );
    assert_eq!(tx.send(publish("b/T1", b"1")), Ok(()), "known topics pass");
    let c = sh.stats().total();
    assert_eq!(
        (
            c.matched,
            c.dropped_bad_topic,
            c.dropped_bad_tag,
            c.dropped_no_topic,
            c.dropped_topic_cap,
            sh.rx.len()
        ),
        (8, 3, 1, 1, 1, 2)
    );
    let m = crate::bridge::health::metrics_of(&sh.stats(), &sh.health_status());
    let text = crate::metrics::render(&m);
    for reason in ["bad_topic", "bad_tag", "topic_cap", "no_topic"] {
        assert!(
            text.contains(&format!("reason=\"{reason}\"")),
            "{reason} in /metrics"
        );
    }
}

#[test]
fn topics_over_the_cap_keep_the_loss_ledger_at_one_entry_per_rule() {
    // An MQTT client publishing to ever new topics of a templated rule: past the cap every
    // drop named its own rendered topic, one loss-ledger entry each (10,000 distinct topics:
    // 10,000 entries, and a report body that outgrows the message size and is put back on
    // every failed send), without bound.
    let sh = shared_with_rules(
        r##"bridge.rocket.hook.message.publish.1 = {"filter": "#", "topic": "S_${topic.1}"}
bridge.rocket.template.max_topics = 3
bridge.rocket.loss_report.topic = Loss
"##,
    );
    let tx = EventSender::new(Arc::clone(&sh));
    for i in 0..10_000 {
        let _ = tx.send(publish(&format!("s/t{i}"), b"1"));
    }
    let c = sh.stats().total();
    assert_eq!((c.matched, c.dropped_topic_cap), (10_000, 9_997));
    assert_eq!(sh.rx.len(), 3);
    assert_eq!(
        sh.losses.pending(),
        1,
        "one entry for the rule's topic_cap drops"
    );
    // Hostile shapes of the topic itself: 64 KiB, thousands of segments, `${topic.N}` past
    // the end, empty segments, non-ASCII, control characters and property separators: each
    // a counted drop or a send, never a panic.
    let huge = format!("s/{}", "x".repeat(64 * 1024));
    let segments = "/".repeat(5_000);
    for t in [
        huge.as_str(),
        segments.as_str(),
        "s",
        "s//x",
        "s/é",
        "s/a\u{1}b",
        "s/a\u{2}b",
        "s/a b",
        "s/t1",
    ] {
        let _ = tx.send(publish(t, b"1"));
    }
    let c = sh.stats().total();
    assert_eq!(c.matched, 10_009);
    assert_eq!(
        c.matched,
        c.dropped_topic_cap + c.dropped_bad_topic + sh.rx.len() as u64,
        "{c:?}"
    );
    assert!(sh.losses.pending() <= 2, "{}", sh.losses.pending());
}

fn not_sent(msgs: Vec<Message>) -> SendError {
    SendError::new(
        SendErrorKind::NotSent {
            last: crate::producer::AttemptError::NoAttempt,
        },
        msgs,
    )
}

/// Key prefixes set in code (not parsed, so unchecked): with a separator, a space, non-ASCII at
/// the inline boundary, and long ones. Each message's key is `<prefix>-<seq>` (inline or not), and
/// KEYS is what `Properties::push` of that key gives (refused, marking the properties
/// unencodable, when the prefix holds a separator), with and without a key template.
#[test]
fn odd_key_prefixes_give_the_keys_and_keys_property_of_a_checked_push() {
    let rules = r##"bridge.rocket.hook.message.publish.1 = {"filter": "#", "topic": "T1"}
bridge.rocket.hook.message.publish.2 = {"filter": "a/#", "topic": "T2", "key": "${client_id}"}
bridge.rocket.node = n1
bridge.rocket.bridge_id = b1
"##;
    let mut cfg = crate::bridge::BridgeConfig::parse(rules, "unit.conf").unwrap();
    cfg.produce = ProduceMode::Async;
    let prefixes = [
        "b1-run".to_owned(),
        "b\u{1}1-run".to_owned(),
        "b1-run\u{2}".to_owned(),
        "\u{1}".to_owned(),
        "with space-run".to_owned(),
        "x".repeat(44),
        "x".repeat(45),
        format!("{}é", "x".repeat(42)),
        format!("{}é", "x".repeat(43)),
        "€".repeat(100),
        "p".repeat(300),
        String::new(),
    ];
    for prefix in prefixes {
        let sh = Arc::new(crate::bridge::settle::Settle::new(
            &cfg,
            prefix.clone(),
            None,
        ));
        let tx = EventSender::new(Arc::clone(&sh));
        for _ in 0..3 {
            tx.send(publish("a/b", b"x")).unwrap();
        }
        let got: Vec<Outgoing> = sh.rx.try_iter().flatten().collect();
        assert_eq!(got.len(), 6, "{prefix:?}");
        for (i, o) in got.iter().enumerate() {
            let key = format!("{prefix}-{}", i / 2);
            assert_eq!(o.meta.key.as_str(), key, "{prefix:?}");
            let mut want = Properties::new();
            if o.meta.rule == rule(1) {
                want.push(PROPERTY_KEYS, &key);
            } else {
                want.push(PROPERTY_KEYS, &format!("{key} c1"));
            }
            assert_eq!(
                o.msg.properties.get(PROPERTY_KEYS),
                want.get(PROPERTY_KEYS),
                "{prefix:?}"
            );
            assert_eq!(
                o.msg.properties.to_encoded().is_ok(),
                want.to_encoded().is_ok(),
                "{prefix:?}"
            );
        }
    }
}

/// The messages of every hand-over now in the channel, each hand-over's keys in order.
fn handed_keys(sh: &Settle) -> Vec<Vec<String>> {
    sh.rx
        .try_iter()
        .map(|h| {
            sh.taken(h.len());
            h.into_iter().map(|o| o.meta.key.to_string()).collect()
        })
        .collect()
}

/// A chunk sender keeps messages (counted in flight and in the budget) until it holds
/// `CHUNK_MAX`, is flushed or is dropped, and hands them over in order, once each; the queue depth
/// counts a batch's messages, not its one channel slot.
#[test]
fn chunk_sender_hands_messages_over_when_full_flushed_or_dropped_in_order() {
    let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 1 << 20);
    let tx = EventSender::new(Arc::clone(&sh));
    let mut cs = tx.chunk_sender();
    for p in [b"1", b"2", b"3"] {
        cs.send_mut(&mut publish("z", p)).unwrap();
    }
    assert_eq!(sh.rx.len(), 0, "kept, not handed over");
    assert_eq!(sh.stats().in_flight, 3);
    assert!(sh.budget.used() > 0);
    cs.flush().unwrap();
    cs.flush().unwrap();
    assert_eq!(
        sh.rx.len(),
        1,
        "one hand-over for three messages, none for an empty flush"
    );
    assert_eq!(sh.stats().queue_depth, 3);
    assert_eq!(
        handed_keys(&sh),
        vec![vec!["b1-run-0", "b1-run-1", "b1-run-2"]]
    );
    assert_eq!(sh.stats().queue_depth, 0);
    // Full: handed over without a flush, at exactly CHUNK_MAX.
    for _ in 0..CHUNK_MAX + 1 {
        cs.send_mut(&mut publish("z", b"x")).unwrap();
    }
    let full = handed_keys(&sh);
    assert_eq!(full.len(), 1);
    assert_eq!(full[0].len(), CHUNK_MAX);
    assert_eq!(full[0][0], "b1-run-3");
    // The one left is handed over when the sender is dropped.
    drop(cs);
    let last = format!("b1-run-{}", 3 + CHUNK_MAX);
    assert_eq!(handed_keys(&sh), vec![vec![last]]);
    assert_eq!(sh.stats().in_flight, 4 + CHUNK_MAX);
}

/// A message that finds the budget full first hands over what the sender keeps, so the wait for
/// room can end (here a stand-in dispatcher settles what it receives); without that the sender
/// would wait on its own kept messages forever.
#[test]
fn chunk_sender_hands_over_what_it_keeps_before_it_waits_for_room() {
    let one = one_message_bytes();
    let sh = shared(ProduceMode::Async, OverflowPolicy::Block, one * 5 / 2);
    let (n_tx, n_rx) = bounded(1);
    let drainer = crate::util::worker::Worker::spawn("t-drain", {
        let sh = Arc::clone(&sh);
        move |_stop| {
            let h = sh
                .rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("the kept messages are handed over");
            sh.taken(h.len());
            let metas: Vec<Meta> = h.into_iter().map(|o| o.meta).collect();
            let n = metas.len();
            sh.finish_sent(metas, "T1");
            let _ = n_tx.send(n);
        }
    })
    .unwrap();
    let tx = EventSender::new(Arc::clone(&sh));
    let mut cs = tx.chunk_sender();
    for p in [b"1", b"2", b"3"] {
        cs.send_mut(&mut publish("z", p)).unwrap();
    }
    let drained = n_rx.recv_timeout(std::time::Duration::from_secs(10));
    assert!(drainer.join());
    assert_eq!(drained, Ok(2), "the two kept before the wait");
    assert_eq!(sh.stats().in_flight, 1, "the third is kept");
    cs.flush().unwrap();
    assert_eq!(handed_keys(&sh), vec![vec!["b1-run-2"]]);
}

/// Under `drop_oldest` (which drops single messages from the channel), with a spool or in sync
/// mode, a chunk sender hands each event over at once, as `send_mut` does.
#[test]
fn chunk_sender_under_drop_oldest_hands_each_event_over_at_once() {
    let sh = shared(ProduceMode::Async, OverflowPolicy::DropOldest, 1 << 20);
    let tx = EventSender::new(Arc::clone(&sh));
    let mut cs = tx.chunk_sender();
    cs.send_mut(&mut publish("z", b"1")).unwrap();
    cs.send_mut(&mut publish("z", b"2")).unwrap();
    assert_eq!(sh.rx.len(), 2);
    assert!(sh
        .rx
        .try_iter()
        .all(|h| matches!(h, crate::bridge::buffer::Handed::One(_))));
}

/// A chunk sender that still keeps messages when the shutdown's last settle ended (a host thread
/// that drops it late: `Bridge::shutdown` does not borrow it) hands them into a channel no one
/// reads any more: they must still end, counted as dropped (`shutdown`), not stay "in flight"
/// forever and vanish with the channel.
#[test]
fn chunk_sender_flushed_after_the_shutdown_settled_counts_its_messages_as_dropped() {
    let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 1 << 20);
    let tx = EventSender::new(Arc::clone(&sh));
    let mut cs = tx.chunk_sender();
    cs.send_mut(&mut publish("z", b"1")).unwrap();
    sh.close_intake();
    let end = std::time::Instant::now() + std::time::Duration::from_millis(30);
    assert!(!sh.settle_remaining(end), "the kept message is in flight");
    drop(cs);
    let s = sh.stats();
    assert_eq!(
        s.rule(rule(1)).unwrap().dropped_shutdown,
        1,
        "the late hand-over ends as dropped"
    );
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.queue_depth, 0);
}

/// A hand-over of a few messages (a flush at the end of a short input chunk, a small inbox
/// batch) must not hold a `CHUNK_MAX`-slot vector in the channel: the byte budget counts
/// `MESSAGE_OVERHEAD` per message for its structs, and up to `CHANNEL_CAPACITY` such hand-overs
/// can wait in the channel.
#[test]
fn a_small_hand_over_holds_no_more_memory_than_its_messages_are_budgeted() {
    let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 1 << 20);
    let tx = EventSender::new(Arc::clone(&sh));
    let mut cs = tx.chunk_sender();
    cs.send_mut(&mut publish("z", b"1")).unwrap();
    cs.flush().unwrap();
    let budgeted = sh.budget.used();
    let h = sh.rx.try_recv().unwrap();
    let held = match &h {
        crate::bridge::buffer::Handed::One(_) => std::mem::size_of::<Outgoing>(),
        crate::bridge::buffer::Handed::Many(v) => v.capacity() * std::mem::size_of::<Outgoing>(),
    };
    sh.taken(h.len());
    assert!(
        held <= budgeted,
        "one message budgeted {budgeted} bytes holds {held} bytes of hand-over slots"
    );
}
