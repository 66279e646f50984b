//! Unit tests of [`super`]: batch outcomes, held messages, the linger, group sweeping.

use super::*;
use crate::bridge::config::{OverflowPolicy, ProduceMode};
use crate::bridge::event::Event;
use crate::bridge::intake::EventSender;
use crate::bridge::outcome::UnsentReason;
use crate::bridge::settle::testing::{publish, rule, shared, shared_with_hold};
use crate::producer::{ProducerConfig, SendErrorKind};
use bytes::Bytes;

fn not_sent(msgs: Vec<Message>) -> SendError {
    SendError::new(
        SendErrorKind::NotSent {
            last: crate::producer::AttemptError::NoAttempt,
        },
        msgs,
    )
}

#[test]
fn partial_batch_failure_settles_each_message() {
    let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 1 << 20);
    let tx = EventSender::new(Arc::clone(&sh));
    for p in [b"1", b"2", b"3"] {
        tx.send(publish("z", p)).unwrap();
    }
    let outs: Vec<Outgoing> = sh.rx.try_iter().flatten().collect();
    let (msgs, metas): (Vec<Message>, Vec<Meta>) =
        outs.into_iter().map(|o| (o.msg, o.meta)).unzip();
    // The producer hands back the messages that were not stored: the 2nd one.
    let err = SendError::new(
        SendErrorKind::NotSent {
            last: crate::producer::AttemptError::NoAttempt,
        },
        vec![msgs[1].clone()],
    );
    *sh.shutdown_log.lock() = Some(Vec::new());
    finish_batch(&sh, "T1", metas, Err(err));
    let s = sh.stats();
    let r = s.rule(rule(1)).unwrap();
    assert_eq!((r.sent, r.failed), (2, 1));
    assert_eq!((s.in_flight, s.buffered_bytes), (0, 0));
    let log = sh.shutdown_log.lock().take().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].key, "b1-run-1");
    assert!(matches!(log[0].reason, UnsentReason::Failed(_)));
}

#[test]
fn a_message_not_stored_is_held_with_its_bytes_and_key_then_fails_past_the_limit() {
    let sh = shared_with_hold(Duration::from_secs(60));
    let tx = EventSender::new(Arc::clone(&sh));
    for p in [b"1", b"2", b"3"] {
        tx.send(publish("z", p)).unwrap();
    }
    let one = sh.budget.used() / 3;
    let outs: Vec<Outgoing> = sh.rx.try_iter().flatten().collect();
    let (msgs, metas): (Vec<Message>, Vec<Meta>) =
        outs.into_iter().map(|o| (o.msg, o.meta)).unzip();
    finish_batch(&sh, "T1", metas, Err(not_sent(vec![msgs[1].clone()])));
    let s = sh.stats();
    let r = s.rule(rule(1)).unwrap();
    assert_eq!((r.sent, r.failed), (2, 0), "the 2nd is held, not failed");
    assert_eq!((s.in_flight, s.held, s.buffered_bytes), (1, 1, one));
    let hold = sh.hold.as_ref().unwrap();
    assert!(
        hold.take_due(Instant::now()).is_empty(),
        "not before the backoff"
    );
    let mut due = hold.take_due(Instant::now() + Duration::from_millis(600));
    assert_eq!(due.len(), 1);
    let again = due.pop().unwrap();
    assert_eq!(
        again.msg.keys(),
        vec!["b1-run-1"],
        "same key on the re-send"
    );
    assert_eq!(again.meta.held.map(|h| h.1), Some(1));
    // It fails again after the hold limit: dropped as failed, in the loss ledger.
    let mut meta = again.meta;
    meta.held = Some((Instant::now() - Duration::from_secs(61), 7));
    let msg = again.msg;
    sh.fail_or_hold(Some(msg.clone()), meta, "T1", &not_sent(vec![msg]).kind);
    let s = sh.stats();
    assert_eq!(s.rule(rule(1)).unwrap().failed, 1);
    assert_eq!(
        (s.in_flight, s.held, s.buffered_bytes, s.held_resent),
        (0, 0, 0, 1)
    );
}

#[test]
fn unknown_outcomes_wait_for_the_lookup_not_the_hold_and_shutdown_fails_held_messages() {
    let sh = shared_with_hold(Duration::from_secs(60));
    let tx = EventSender::new(Arc::clone(&sh));
    tx.send(publish("z", b"1")).unwrap();
    tx.send(publish("z", b"2")).unwrap();
    let mut outs: Vec<Outgoing> = sh.rx.try_iter().flatten().collect();
    let b = outs.pop().unwrap();
    let a = outs.pop().unwrap();
    let unknown = SendError::new(
        SendErrorKind::OutcomeUnknown {
            broker: "b".into(),
            detail: crate::producer::AttemptError::ShutdownDeadline,
        },
        vec![a.msg.clone()],
    );
    sh.fail_or_hold(Some(a.msg), a.meta, "T1", &unknown.kind);
    sh.fail_or_hold(
        Some(b.msg.clone()),
        b.meta,
        "T1",
        &not_sent(vec![b.msg]).kind,
    );
    // The unknown one waits for the broker lookup (not held); ended unresolved when the
    // lookups end, it is outcome unknown as before.
    let s = sh.stats();
    let r = s.rule(rule(1)).unwrap();
    assert_eq!(
        (r.outcome_unknown, r.failed, s.held, s.resolving),
        (0, 0, 1, 1)
    );
    sh.close_resolver();
    let s = sh.stats();
    let r = s.rule(rule(1)).unwrap();
    assert_eq!(
        (
            r.outcome_unknown,
            r.unresolved,
            r.failed,
            s.held,
            s.resolving
        ),
        (1, 1, 0, 1, 0)
    );
    // Kept when close_intake started it: it lists the sends it refused.
    sh.shutdown_log.lock().get_or_insert_with(Vec::new);
    sh.closed.store(true, Ordering::SeqCst);
    sh.fail_held();
    let s = sh.stats();
    assert_eq!(
        (s.rule(rule(1)).unwrap().failed, s.held, s.in_flight),
        (1, 0, 0)
    );
    let log = sh.shutdown_log.lock().take().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].key, "b1-run-1");
    // After shutdown began a failure is not held.
    sh.closed.store(false, Ordering::SeqCst);
    tx.send(publish("z", b"3")).unwrap();
    sh.closed.store(true, Ordering::SeqCst);
    let c = sh.rx.try_recv().unwrap().one();
    sh.fail_or_hold(
        Some(c.msg.clone()),
        c.meta,
        "T1",
        &not_sent(vec![c.msg]).kind,
    );
    let s = sh.stats();
    assert_eq!(
        (s.rule(rule(1)).unwrap().failed, s.held, s.in_flight),
        (2, 0, 0)
    );
}

/// `producer.linger`: a partial group waits until its oldest message is that old, and is
/// then sent with what joined it meanwhile; without a linger it leaves at once.
#[test]
fn a_partial_group_lingers_then_leaves_with_what_joined_it() {
    let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 8 << 20);
    let pcfg = ProducerConfig::new(&["127.0.0.1:1"], "g").heartbeat_interval(Duration::ZERO);
    let producer = Producer::start(pcfg).unwrap();
    let sender = EventSender::new(Arc::clone(&sh));
    let ev = || Event::message_publish("c1", "z", Bytes::from_static(b"1"), 0).with_ts(1);
    let linger = Duration::from_millis(300);
    let mut d = Dispatcher::new(Arc::clone(&sh), producer.clone(), 100).with_linger(linger);
    assert_eq!(d.poll, GATHER_POLL);
    let t0 = Instant::now();
    sender.send(ev()).unwrap();
    d.collect(&sh.rx);
    sender.send(ev()).unwrap();
    d.collect(&sh.rx);
    let gathering = |d: &Dispatcher| d.groups.values().map(|g| g.msgs.len()).sum::<usize>();
    if t0.elapsed() < linger {
        assert_eq!(gathering(&d), 2, "both wait in one group");
    }
    while t0.elapsed() < linger + Duration::from_millis(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    d.flush_ready();
    assert_eq!(gathering(&d), 0, "sent once the linger passed");

    let mut d = Dispatcher::new(Arc::clone(&sh), producer.clone(), 100);
    sender.send(ev()).unwrap();
    d.collect(&sh.rx);
    assert_eq!(gathering(&d), 0, "no linger: sent at once");
    assert_eq!(
        Dispatcher::new(Arc::clone(&sh), producer.clone(), 1)
            .with_linger(Duration::from_micros(200))
            .poll,
        Duration::from_micros(200)
    );
    producer.close(Duration::from_millis(100));
}

/// A lingering group leaves as soon as the intake is closed (shutdown): nothing more can join
/// it, and the drain should not wait out the linger.
#[test]
fn a_lingering_group_leaves_once_the_intake_is_closed() {
    let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 8 << 20);
    let pcfg = ProducerConfig::new(&["127.0.0.1:1"], "g").heartbeat_interval(Duration::ZERO);
    let producer = Producer::start(pcfg).unwrap();
    let sender = EventSender::new(Arc::clone(&sh));
    let ev = Event::message_publish("c1", "z", Bytes::from_static(b"1"), 0).with_ts(1);
    let mut d =
        Dispatcher::new(Arc::clone(&sh), producer.clone(), 100).with_linger(Duration::from_secs(1));
    sender.send(ev).unwrap();
    d.collect(&sh.rx);
    let gathering = |d: &Dispatcher| d.groups.values().map(|g| g.msgs.len()).sum::<usize>();
    assert_eq!(gathering(&d), 1, "it lingers");
    sh.close_intake();
    d.flush_ready();
    assert_eq!(gathering(&d), 0, "sent once the intake closed");
    producer.close(Duration::from_millis(100));
}

/// Issue #18 case 9a: while a topic has no route every client id gets a group of its own; idle
/// groups must be removed, not kept one per client id forever.
#[test]
fn groups_of_a_topic_without_a_route_stay_bounded() {
    // Nothing listens on port 1: every route lookup fails at once, so every send fails.
    let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 8 << 20);
    let pcfg = ProducerConfig::new(&["127.0.0.1:1"], "g").heartbeat_interval(Duration::ZERO);
    let producer = Producer::start(pcfg).unwrap();
    let mut d = Dispatcher::new(Arc::clone(&sh), producer.clone(), 100);
    let sender = EventSender::new(Arc::clone(&sh));
    let clients = 3 * GROUP_SWEEP_AT;
    let mut most = 0;
    for i in 0..clients {
        let ev = Event::message_publish(format!("client-{i}"), "z", Bytes::from_static(b"1"), 0)
            .with_ts(1);
        sender.send(ev).unwrap();
        if i % 256 == 255 || i + 1 == clients {
            d.collect(&sh.rx);
            most = most.max(d.groups.len());
        }
    }
    d.flush_all();
    eprintln!("at most {most} groups for {clients} client ids");
    assert!(
        most <= GROUP_SWEEP_AT + 256,
        "{most} groups kept for {clients} client ids"
    );
    let t = sh.stats().total();
    assert_eq!(t.matched, clients as u64);
    assert_eq!(
        t.failed, clients as u64,
        "every message ended, failed (no route)"
    );
    producer.close(Duration::from_millis(100));
}

/// Issue #22 review: a group's vectors reserve its last batch's length when its first message
/// joins. Groups that once sent a full batch (1024 messages) and now hold one message each must
/// not hold room for a full batch each: at most [`GROUP_RESERVE_MAX`] slots (or twice what they
/// hold), where they held 1024.
#[test]
fn groups_holding_one_message_do_not_keep_room_for_a_full_batch() {
    let sh = shared(ProduceMode::Async, OverflowPolicy::Block, 64 << 20);
    let pcfg = ProducerConfig::new(&["127.0.0.1:1"], "g").heartbeat_interval(Duration::ZERO);
    let producer = Producer::start(pcfg).unwrap();
    let batch = crate::bridge::config::MAX_BATCH_SIZE;
    let mut d = Dispatcher::new(Arc::clone(&sh), producer.clone(), batch);
    let sender = EventSender::new(Arc::clone(&sh));
    let groups = 4;
    // Into the groups without `collect`'s flush of partial groups (the linger is zero here).
    let add_all = |d: &mut Dispatcher| {
        while let Ok(h) = sh.rx.try_recv() {
            d.add_handed(h);
        }
    };
    let send = |client: usize| {
        let ev =
            Event::message_publish(format!("client-{client}"), "z", Bytes::from_static(b"1"), 0)
                .with_ts(1);
        sender.send(ev).unwrap();
    };
    // Each client's group fills to a whole batch and is sent (and fails: no name server).
    for c in 0..groups {
        for i in 0..batch {
            send(c);
            if i % 256 == 255 {
                add_all(&mut d);
            }
        }
        add_all(&mut d);
    }
    // Then one message each.
    for c in 0..groups {
        send(c);
    }
    add_all(&mut d);
    let held: usize = d.groups.values().map(|g| g.msgs.len()).sum();
    let room: usize = d.groups.values().map(|g| g.msgs.capacity()).sum();
    eprintln!(
        "{held} messages held in room for {room} ({} bytes a slot)",
        std::mem::size_of::<Message>() + std::mem::size_of::<crate::bridge::buffer::Meta>()
    );
    assert_eq!(held, groups);
    for g in d.groups.values() {
        let (len, cap) = (g.msgs.len(), g.msgs.capacity().max(g.metas.capacity()));
        assert!(
            cap <= GROUP_RESERVE_MAX.max(2 * len),
            "a group of {len} holds room for {cap} ({room} for {held} in all)"
        );
    }
    d.flush_all();
    producer.close(Duration::from_millis(100));
}

/// A full group vector grows towards its last batch's length (at least doubling, at most four
/// times its length, never past the batch size), and is left alone while it has room.
#[test]
fn group_room_grows_towards_the_last_batch_within_bounds() {
    let grown = |len: usize, last_len: usize, batch_size: usize| {
        let mut v: Vec<u8> = vec![0; len];
        v.shrink_to_fit();
        let cap = v.capacity();
        grow_room(&mut v, last_len, batch_size);
        (cap, v.capacity())
    };
    // Full batches of 100: 32 straight to 100.
    let (cap, after) = grown(32, 100, 100);
    assert_eq!((cap, after), (32, 100));
    // A long last batch: four times the length at most.
    assert_eq!(grown(32, 1024, 1024).1, 128);
    // A short or unknown last batch: doubling.
    assert_eq!(grown(32, 0, 1024).1, 64);
    // Never past the batch size.
    assert_eq!(grown(32, 40, 40).1, 40);
    // A vector with room, or one already a batch long, is left alone.
    let mut v: Vec<u8> = Vec::with_capacity(64);
    v.extend_from_slice(&[0; 10]);
    grow_room(&mut v, 100, 100);
    assert_eq!(v.capacity(), 64);
    let mut v = vec![0u8; 100];
    v.shrink_to_fit();
    grow_room(&mut v, 100, 100);
    assert_eq!(v.capacity(), 100);
}
