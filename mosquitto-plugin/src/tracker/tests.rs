//! The tracker's tests: every callback sequence of the module docs, fed as plain values.

use super::*;

const ALL: Interest = [true; KINDS];

fn info(id: &str, user: Option<&str>) -> ClientInfo {
    ClientInfo {
        id: Some(id.into()),
        username: user.map(Into::into),
        clean: true,
        sub_count: None,
    }
}

fn view<'a>(id: &'a str, user: Option<&'a str>) -> ClientView<'a> {
    ClientView {
        id: Some(id),
        username: user,
        sub_count: None,
    }
}

fn check<'a>(
    client: ClientRef,
    id: &'a str,
    access: Access,
    topic: &'a str,
    payload: &'a [u8],
    qos: u8,
    retain: bool,
) -> AclCheck<'a> {
    AclCheck {
        client,
        info: view(id, None),
        access,
        topic,
        payload,
        payload_addr: payload.as_ptr() as usize,
        qos,
        retain,
    }
}

fn kinds(t: &mut Tracker) -> Vec<EventKind> {
    t.drain().into_iter().map(|e| e.kind).collect()
}

fn ready(logins: Decider) -> Tracker {
    let mut t = Tracker::new(logins, ALL);
    t.set_tail_ready(true);
    t
}

#[test]
fn refused_login_emits_nothing() {
    let mut t = ready(Decider::Elsewhere);
    assert_eq!(t.on_basic_auth(1, info("c", Some("u")), 10), Answer::Defer);
    t.on_disconnect(1, ClientInfo::default(), 11);
    t.on_tick();
    assert!(t.drain().is_empty());
    assert_eq!(t.counters().logins_refused, 1);
    assert_eq!(t.online(), 0);
}

#[test]
fn accepted_login_is_emitted_on_next_callback_with_login_time() {
    let mut t = ready(Decider::OpenBroker);
    assert_eq!(
        t.on_basic_auth(1, info("c", Some("u")), 10),
        Answer::Success
    );
    assert!(t.drain().is_empty(), "not yet known");
    t.on_tick();
    let ev = t.drain();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, EventKind::ClientConnected);
    assert_eq!(ev[0].client_id.as_deref(), Some("c"));
    assert_eq!(ev[0].username.as_deref(), Some("u"));
    assert_eq!(ev[0].ts, Some(10));
    t.on_disconnect(1, info("c", Some("u")), 600);
    let ev = t.drain();
    assert_eq!(ev[0].kind, EventKind::ClientDisconnected);
    assert_eq!(ev[0].username.as_deref(), Some("u"));
}

#[test]
fn connect_then_immediate_disconnect_is_both_events() {
    let mut t = ready(Decider::Elsewhere);
    t.on_basic_auth(1, info("c", None), 10);
    t.on_disconnect(1, info("c", None), 11);
    assert_eq!(
        kinds(&mut t),
        [EventKind::ClientConnected, EventKind::ClientDisconnected]
    );
}

#[test]
fn takeover_reports_old_disconnect_before_new_connect() {
    let mut t = ready(Decider::Elsewhere);
    t.on_basic_auth(1, info("same", None), 1);
    t.on_tick();
    assert_eq!(kinds(&mut t), [EventKind::ClientConnected]);
    t.on_basic_auth(2, info("same", None), 3);
    t.on_disconnect(1, info("same", None), 3);
    // re-check of the queued messages of the taken-over session: not a delivery
    let c = check(2, "same", Access::Read, "t", b"x", 1, false);
    t.on_acl_check(&c, Outcome::Allowed, 3);
    t.on_tick();
    assert_eq!(
        kinds(&mut t),
        [EventKind::ClientDisconnected, EventKind::ClientConnected]
    );
    assert_eq!(t.counters().reads_on_reconnect, 1);
}

#[test]
fn denied_subscription_is_not_an_event_allowed_one_is() {
    let mut t = ready(Decider::Elsewhere);
    t.on_basic_auth(1, info("c", None), 1);
    let denied = check(1, "c", Access::Subscribe, "secret/#", b"", 1, false);
    t.on_acl_check(&denied, Outcome::Denied, 2);
    let allowed = check(1, "c", Access::Subscribe, "pub/#", b"", 2, false);
    t.on_acl_check(&allowed, Outcome::Allowed, 3);
    t.on_tick();
    let ev = t.drain();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].kind, EventKind::ClientConnected);
    assert_eq!(ev[1].kind, EventKind::SessionSubscribed);
    assert_eq!(ev[1].topic.as_deref(), Some("pub/#"));
    assert_eq!(ev[1].qos, Some(2));
    assert_eq!(t.counters().checks_denied, 1);
}

#[test]
fn unsubscribe_has_null_qos_and_needs_a_known_subscription() {
    let mut t = ready(Decider::Elsewhere);
    t.on_basic_auth(1, info("c", None), 1);
    let never = check(1, "c", Access::Unsubscribe, "never/#", b"", 0, false);
    t.on_acl_check(&never, Outcome::Allowed, 2);
    let s = check(1, "c", Access::Subscribe, "a/+", b"", 1, false);
    t.on_acl_check(&s, Outcome::Allowed, 2);
    let u = check(1, "c", Access::Unsubscribe, "a/+", b"", 0, false);
    t.on_acl_check(&u, Outcome::Allowed, 2);
    t.on_acl_check(&u, Outcome::Allowed, 2);
    let ev = t.drain();
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert_eq!(ev[2].kind, EventKind::SessionUnsubscribed);
    assert_eq!(ev[2].qos, None);
    assert_eq!(ev[2].topic.as_deref(), Some("a/+"));
    assert_eq!(t.counters().unsubscribes_unknown, 2);
}

#[test]
fn persistent_sessions_keep_subscriptions_clean_ones_do_not() {
    let mut t = ready(Decider::Elsewhere);
    let mut persistent = info("p", None);
    persistent.clean = false;
    t.on_basic_auth(1, persistent.clone(), 1);
    let s = check(1, "p", Access::Subscribe, "x", b"", 1, false);
    t.on_acl_check(&s, Outcome::Allowed, 2);
    t.on_disconnect(1, persistent.clone(), 3);
    t.on_basic_auth(2, persistent, 4);
    let u = check(2, "p", Access::Unsubscribe, "x", b"", 0, false);
    t.on_acl_check(&u, Outcome::Allowed, 5);
    assert_eq!(
        t.drain()
            .iter()
            .filter(|e| e.kind == EventKind::SessionUnsubscribed)
            .count(),
        1
    );
    // clean session: the subscription ends with the connection
    t.on_basic_auth(3, info("c", None), 6);
    let s = check(3, "c", Access::Subscribe, "y", b"", 1, false);
    t.on_acl_check(&s, Outcome::Allowed, 7);
    t.on_disconnect(3, info("c", None), 8);
    t.on_basic_auth(4, info("c", None), 9);
    let u = check(4, "c", Access::Unsubscribe, "y", b"", 0, false);
    t.on_acl_check(&u, Outcome::Allowed, 10);
    assert_eq!(
        t.drain()
            .iter()
            .filter(|e| e.kind == EventKind::SessionUnsubscribed)
            .count(),
        0
    );
}

#[test]
fn publish_needs_the_tail_and_delivery_gets_from() {
    let mut t = ready(Decider::Elsewhere);
    t.on_basic_auth(1, info("pub", Some("alice")), 1);
    t.on_basic_auth(2, info("sub", None), 1);
    t.on_tick();
    t.drain();
    let payload = b"hello".to_vec();
    let w = check(1, "pub", Access::Write, "a/b", &payload, 1, false);
    t.on_acl_check(&w, Outcome::Allowed, 3);
    let m = Message {
        client: 1,
        info: view("pub", Some("alice")),
        topic: "a/b",
        payload: &payload,
        payload_addr: payload.as_ptr() as usize,
        qos: 1,
        retain: false,
    };
    t.on_message(&m, 3);
    t.on_message_tail();
    let r = check(2, "sub", Access::Read, "a/b", &payload, 1, false);
    t.on_acl_check(&r, Outcome::Allowed, 3);
    t.on_tick();
    let ev = t.drain();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].kind, EventKind::MessagePublish);
    assert_eq!(ev[0].username.as_deref(), Some("alice"));
    assert_eq!(ev[0].payload.as_deref(), Some(&b"hello"[..]));
    assert_eq!(ev[1].kind, EventKind::MessageDelivered);
    assert_eq!(ev[1].client_id.as_deref(), Some("sub"));
    assert_eq!(ev[1].from.as_deref(), Some("pub"));
    assert_eq!(ev[1].payload.as_deref(), Some(&b"hello"[..]));
}

#[test]
fn message_refused_by_a_later_plugin_is_not_published() {
    let mut t = ready(Decider::Elsewhere);
    t.on_basic_auth(1, info("pub", None), 1);
    let m = Message {
        client: 1,
        info: view("pub", None),
        topic: "a",
        payload: b"",
        payload_addr: 0,
        qos: 0,
        retain: false,
    };
    t.on_message(&m, 2);
    t.on_tick();
    assert_eq!(kinds(&mut t), [EventKind::ClientConnected]);
    assert_eq!(t.counters().publishes_refused, 1);
}

#[test]
fn denied_read_and_unrelated_reads_have_no_from() {
    let mut t = ready(Decider::Elsewhere);
    t.on_basic_auth(2, info("sub", None), 1);
    t.on_tick();
    t.drain();
    let r = check(2, "sub", Access::Read, "x", b"1", 0, false);
    t.on_acl_check(&r, Outcome::Denied, 3);
    let r2 = check(2, "sub", Access::Read, "y", b"2", 0, false);
    t.on_acl_check(&r2, Outcome::Allowed, 3);
    t.on_tick();
    let ev = t.drain();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].topic.as_deref(), Some("y"));
    assert_eq!(ev[0].from, None);
}

#[test]
fn retained_on_subscribe_and_offline_reads_are_not_deliveries() {
    let mut t = ready(Decider::Elsewhere);
    t.on_basic_auth(2, info("sub", None), 1);
    let s = check(2, "sub", Access::Subscribe, "r/#", b"", 1, false);
    t.on_acl_check(&s, Outcome::Allowed, 2);
    let r = check(2, "sub", Access::Read, "r/1", b"kept", 1, true);
    t.on_acl_check(&r, Outcome::Allowed, 2);
    // a client the plugin never saw connect (offline persistent session)
    let o = check(9, "gone", Access::Read, "r/1", b"kept", 1, false);
    t.on_acl_check(&o, Outcome::Allowed, 2);
    assert_eq!(
        kinds(&mut t),
        [EventKind::ClientConnected, EventKind::SessionSubscribed]
    );
    assert_eq!(t.counters().reads_retained_on_subscribe, 1);
    assert_eq!(t.counters().reads_offline, 1);
}

#[test]
fn unknown_outcomes_and_unplaced_tail_emit_nothing() {
    let mut t = Tracker::new(Decider::Elsewhere, ALL);
    t.on_basic_auth(1, info("c", None), 1);
    let s = check(1, "c", Access::Subscribe, "a", b"", 0, false);
    t.on_acl_check(&s, Outcome::Unknown, 2);
    let m = Message {
        client: 1,
        info: view("c", None),
        topic: "a",
        payload: b"x",
        payload_addr: 1,
        qos: 0,
        retain: false,
    };
    t.on_message(&m, 3);
    t.on_message_tail();
    t.on_tick();
    assert_eq!(kinds(&mut t), [EventKind::ClientConnected]);
    assert_eq!(t.counters().unverified, 2);
}

#[test]
fn uninteresting_kinds_are_not_built() {
    let mut interest = [false; KINDS];
    interest[EventKind::ClientDisconnected.index()] = true;
    let mut t = Tracker::new(Decider::OpenBroker, interest);
    t.on_basic_auth(1, info("c", None), 1);
    let s = check(1, "c", Access::Subscribe, "a", b"", 0, false);
    t.on_acl_check(&s, Outcome::Allowed, 2);
    t.on_disconnect(1, info("c", None), 3);
    assert_eq!(kinds(&mut t), [EventKind::ClientDisconnected]);
    assert_eq!(t.counters().logins_accepted, 1);
}

// ---- remembered subscriptions: driven as mosquitto 2.0.11 drives the plugin ----

fn persistent(id: &str, sub_count: u32) -> ClientInfo {
    ClientInfo {
        id: Some(id.into()),
        username: None,
        clean: false,
        sub_count: Some(sub_count),
    }
}

fn persistent_view(id: &str, sub_count: u32) -> ClientView<'_> {
    ClientView {
        id: Some(id),
        username: None,
        sub_count: Some(sub_count),
    }
}

fn acl<'a>(
    client: ClientRef,
    info: ClientView<'a>,
    access: Access,
    topic: &'a str,
) -> AclCheck<'a> {
    AclCheck {
        client,
        info,
        access,
        topic,
        payload: b"",
        payload_addr: 0,
        qos: 1,
        retain: false,
    }
}

fn unsubscribed(t: &mut Tracker) -> usize {
    t.drain()
        .iter()
        .filter(|e| e.kind == EventKind::SessionUnsubscribed)
        .count()
}

/// The bytes really held (allocated capacity of ids and filters, without any overhead), and a check
/// that the accounting and the offline index agree with the content.
fn held(t: &Tracker) -> usize {
    let subs = &t.subscriptions;
    let mut counted = 0;
    let mut real = 0;
    for (id, s) in &subs.sessions {
        let filters: usize = s
            .filters
            .iter()
            .map(|f| Subscriptions::filter_cost(f))
            .sum();
        assert_eq!(s.bytes, Subscriptions::session_cost(id) + filters);
        counted += s.bytes;
        real += 2 * id.capacity() + s.filters.iter().map(String::capacity).sum::<usize>();
        if s.online == 0 {
            assert_eq!(subs.offline.get(&s.offline_stamp), Some(id));
        }
    }
    assert_eq!(counted, subs.bytes);
    assert_eq!(
        subs.offline.len(),
        subs.sessions.values().filter(|s| s.online == 0).count()
    );
    assert!(
        real <= counted,
        "accounting under-counts: {real} > {counted}"
    );
    real
}

/// mosquitto's calls for one client: login (BASIC_AUTH, then the next callback settles it), one
/// SUBSCRIBE check per filter (the count read before each is added), disconnect.
fn connect_subscribe_disconnect(t: &mut Tracker, client: ClientRef, id: &str, filters: &[String]) {
    t.on_basic_auth(client, persistent(id, 0), 1);
    t.on_tick();
    for (n, f) in filters.iter().enumerate() {
        let c = acl(client, persistent_view(id, n as u32), Access::Subscribe, f);
        t.on_acl_check(&c, Outcome::Allowed, 2);
        // the plugin hands the settled events over after every callback
        t.drain();
    }
    t.on_disconnect(client, persistent(id, filters.len() as u32), 3);
    t.on_tick();
    t.drain();
}

#[test]
fn issue_18_discarded_sessions_are_bounded_by_the_caps() {
    // 2,000 MQTT 5 clients, clean start off, session expiry 0, 10 filters of 60 KB each: mosquitto
    // discards every session at the disconnect and says nothing; none comes back.
    let mut t = ready(Decider::OpenBroker);
    let mut peak = 0;
    for c in 0..2_000usize {
        let id = format!("stranger-{c}");
        let filters: Vec<String> = (0..10)
            .map(|f| {
                let prefix = format!("{c}/{f}/");
                let mut s = "x".repeat(60_000);
                s.replace_range(..prefix.len(), &prefix);
                s
            })
            .collect();
        connect_subscribe_disconnect(&mut t, c + 1, &id, &filters);
        peak = peak.max(t.tracked_bytes());
    }
    let real = held(&t);
    let c = t.counters();
    eprintln!(
        "issue 18 case 7 scenario: held {real} bytes (counted {}, peak {peak}), sessions {} offline {}, \
         evicted {}",
        c.tracked_bytes, c.tracked_sessions, c.tracked_offline, c.tracker_evicted
    );
    assert!(peak <= TRACKED_BYTES_MAX, "{peak}");
    assert!(real <= TRACKED_BYTES_MAX);
    assert_eq!(t.online(), 0);
    // every session is either still remembered or was evicted, and counted
    assert_eq!(c.tracker_evicted as usize + c.tracked_sessions, 2_000);
    assert_eq!(c.tracked_offline, c.tracked_sessions);
    assert!(c.tracker_evicted >= 1_900, "{c:?}");
    assert_eq!(c.tracker_untracked, 0);
    // the survivors are the most recent ones (oldest offline evicted first)
    assert!(t.subscriptions.sessions.contains_key("stranger-1999"));
    assert!(!t.subscriptions.sessions.contains_key("stranger-0"));
}

#[test]
fn issue_18_reconnect_to_a_discarded_session_reports_no_unsubscribe() {
    let mut t = ready(Decider::OpenBroker);
    connect_subscribe_disconnect(&mut t, 1, "p", &["a".into(), "b".into()]);
    t.drain();
    // mosquitto discarded the session (clean start off, expiry 0); the client comes back with clean
    // start off to a new, empty session: its count is 0 when it unsubscribes.
    t.on_basic_auth(2, persistent("p", 0), 10);
    t.on_tick();
    t.on_acl_check(
        &acl(2, persistent_view("p", 0), Access::Unsubscribe, "a"),
        Outcome::Allowed,
        11,
    );
    assert_eq!(unsubscribed(&mut t), 0, "false session.unsubscribed");
    let c = t.counters();
    assert_eq!((c.tracker_sessions_gone, c.unsubscribes_unknown), (1, 1));
    assert_eq!((c.tracked_sessions, c.tracked_bytes), (0, 0));

    // Same, but it subscribes to something new first: the count is read at that subscribe check
    // (before mosquitto adds it), so the old filters are gone before the unsubscribe (count 1 then).
    connect_subscribe_disconnect(&mut t, 3, "q", &["a".into(), "b".into()]);
    t.on_basic_auth(4, persistent("q", 0), 20);
    t.on_tick();
    t.on_acl_check(
        &acl(4, persistent_view("q", 0), Access::Subscribe, "new"),
        Outcome::Allowed,
        21,
    );
    t.on_acl_check(
        &acl(4, persistent_view("q", 1), Access::Unsubscribe, "b"),
        Outcome::Allowed,
        22,
    );
    assert_eq!(unsubscribed(&mut t), 0, "false session.unsubscribed");
    t.on_acl_check(
        &acl(4, persistent_view("q", 1), Access::Unsubscribe, "new"),
        Outcome::Allowed,
        23,
    );
    assert_eq!(unsubscribed(&mut t), 1, "the real one is reported");
    assert_eq!(t.counters().tracker_sessions_gone, 2);
    held(&t);
}

#[test]
fn restored_sessions_keep_their_filters_also_through_a_takeover() {
    let mut t = ready(Decider::OpenBroker);
    connect_subscribe_disconnect(&mut t, 1, "p", &["a".into(), "b".into()]);
    // mosquitto restored the session: the new connection holds both subscriptions
    t.on_basic_auth(2, persistent("p", 0), 10);
    t.on_tick();
    t.on_acl_check(
        &acl(2, persistent_view("p", 2), Access::Unsubscribe, "a"),
        Outcome::Allowed,
        11,
    );
    assert_eq!(unsubscribed(&mut t), 1);
    // takeover while online: the old connection's DISCONNECT comes after its subscriptions moved to
    // the new one (its count reads 0 then), and must not be taken as "session gone"
    t.on_basic_auth(3, persistent("p", 0), 12);
    t.on_disconnect(2, persistent("p", 0), 12);
    t.on_tick();
    t.on_acl_check(
        &acl(3, persistent_view("p", 1), Access::Unsubscribe, "b"),
        Outcome::Allowed,
        13,
    );
    assert_eq!(unsubscribed(&mut t), 1);
    let c = t.counters();
    assert_eq!((c.tracker_sessions_gone, c.unsubscribes_unknown), (0, 0));
    assert_eq!(c.tracked_sessions, 0);
    held(&t);
}

#[test]
fn a_zero_count_keeps_shared_filters_and_clean_start_ends_the_session() {
    let mut t = ready(Decider::OpenBroker);
    connect_subscribe_disconnect(&mut t, 1, "p", &["$share/g/a".into(), "b".into()]);
    // 2.0.11 does not count shared subscriptions: 0 says nothing about them
    t.on_basic_auth(2, persistent("p", 0), 10);
    t.on_tick();
    t.on_acl_check(
        &acl(
            2,
            persistent_view("p", 0),
            Access::Unsubscribe,
            "$share/g/a",
        ),
        Outcome::Allowed,
        11,
    );
    assert_eq!(unsubscribed(&mut t), 1);
    // a clean session (v3 clean session, MQTT 5 clean start) ends what was remembered, at login
    connect_subscribe_disconnect(&mut t, 3, "q", &["x".into()]);
    let mut clean = persistent("q", 0);
    clean.clean = true;
    t.on_basic_auth(4, clean.clone(), 20);
    t.on_tick();
    // p's count of 0 dropped its non-shared b; q's clean start dropped x
    let c = t.counters();
    assert_eq!((c.tracked_sessions, c.tracker_sessions_gone), (0, 1));
    t.on_acl_check(
        &acl(4, clean.view(), Access::Unsubscribe, "x"),
        Outcome::Allowed,
        21,
    );
    assert_eq!(unsubscribed(&mut t), 0);
    held(&t);
}

#[test]
fn offline_sessions_over_their_cap_are_evicted_oldest_first() {
    let mut t = ready(Decider::OpenBroker);
    let n = TRACKED_OFFLINE_SESSIONS_MAX + 5;
    for c in 0..n {
        connect_subscribe_disconnect(&mut t, c + 1, &format!("c{c}"), &["f".into()]);
    }
    let c = t.counters();
    assert_eq!(c.tracker_evicted, 5);
    assert_eq!(c.tracked_offline, TRACKED_OFFLINE_SESSIONS_MAX);
    held(&t);
    // c0 was evicted: its unsubscribe after a (restored, count 1) reconnect is unknown, not reported;
    // c5, the oldest kept, is reported
    for (id, want) in [("c0", 0), ("c5", 1)] {
        t.on_basic_auth(n + 10, persistent(id, 0), 9);
        t.on_tick();
        t.on_acl_check(
            &acl(n + 10, persistent_view(id, 1), Access::Unsubscribe, "f"),
            Outcome::Allowed,
            9,
        );
        assert_eq!(unsubscribed(&mut t), want, "{id}");
        t.on_disconnect(n + 10, persistent(id, 0), 9);
    }
    assert_eq!(t.counters().unsubscribes_unknown, 1);
}

#[test]
fn online_clients_are_never_evicted_and_per_client_filters_are_capped() {
    let mut t = ready(Decider::OpenBroker);
    // one client subscribing to more filters than remembered per client
    t.on_basic_auth(1, persistent("many", 0), 1);
    for f in 0..TRACKED_FILTERS_PER_CLIENT_MAX + 3 {
        t.on_acl_check(
            &acl(
                1,
                persistent_view("many", 1),
                Access::Subscribe,
                &format!("f/{f}"),
            ),
            Outcome::Allowed,
            2,
        );
    }
    assert_eq!(t.counters().tracker_untracked, 3);
    // an offline session, then online clients with 60 KB filters beyond the byte cap
    connect_subscribe_disconnect(&mut t, 2, "gone", &["g".into()]);
    let big = "y".repeat(60_000);
    let mut subscribed = 0;
    for c in 0..300usize {
        let id = format!("on{c}");
        t.on_basic_auth(100 + c, persistent(&id, 0), 3);
        t.on_acl_check(
            &acl(100 + c, persistent_view(&id, 0), Access::Subscribe, &big),
            Outcome::Allowed,
            3,
        );
        subscribed += 1;
    }
    t.on_tick();
    let c = t.counters();
    assert!(c.tracked_bytes <= TRACKED_BYTES_MAX);
    assert_eq!(c.tracker_evicted, 1, "only the offline session is evicted");
    assert_eq!(c.tracked_offline, 0);
    assert!(c.tracker_untracked > 3, "{c:?}");
    // every subscription was still reported
    assert_eq!(
        c.emitted[EventKind::SessionSubscribed.index()],
        subscribed + 1 + TRACKED_FILTERS_PER_CLIENT_MAX as u64 + 3
    );
    held(&t);
}

#[test]
fn an_unrelated_login_does_not_stop_the_check_at_disconnect() {
    let mut t = ready(Decider::OpenBroker);
    connect_subscribe_disconnect(&mut t, 1, "p", &["a".into()]);
    // p comes back to a discarded session and does nothing but disconnect, while another client's
    // login is being handled: p's own count (0) still shows the session is gone
    t.on_basic_auth(2, persistent("p", 0), 10);
    t.on_tick();
    t.on_basic_auth(3, persistent("other", 0), 11);
    t.on_disconnect(2, persistent("p", 0), 11);
    t.on_tick();
    let c = t.counters();
    assert_eq!((c.tracker_sessions_gone, c.tracked_sessions), (1, 0));
    held(&t);
}

#[test]
fn client_addresses_spread_over_the_low_hash_bits() {
    // Contexts are allocator addresses: aligned, so their low bits are all zero. The table picks
    // buckets by the low bits of the hash, which must still differ from one context to the next.
    let low: HashSet<u64> = (0..4096usize)
        .map(|i| {
            let mut h = AddrHasher::default();
            h.write_usize(0x5555_0000_0000 + i * 1024);
            h.finish() & 0xfff
        })
        .collect();
    assert!(low.len() > 2000, "{} distinct of 4096", low.len());
}

#[test]
fn a_write_check_needs_no_strings_and_still_settles_what_is_pending() {
    assert!(!Tracker::uses_check_strings(Access::Write));
    for a in [Access::Read, Access::Subscribe, Access::Unsubscribe] {
        assert!(Tracker::uses_check_strings(a));
    }
    let mut t = Tracker::new(Decider::OpenBroker, ALL);
    t.on_basic_auth(1, info("pub", None), 1);
    // The FFI layer passes a write check without id, username or topic.
    let w = AclCheck {
        client: 1,
        info: ClientView::default(),
        access: Access::Write,
        topic: "",
        payload: b"x",
        payload_addr: 0,
        qos: 0,
        retain: false,
    };
    t.on_acl_check(&w, Outcome::Allowed, 2);
    let evs = t.drain();
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].kind, EventKind::ClientConnected);
    assert_eq!(evs[0].client_id.as_deref(), Some("pub"));
}
