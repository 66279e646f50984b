//! Remembered subscriptions through real mosquitto (issue 18 case 7): MQTT 5 clients with clean start off
//! and session expiry 0, whose sessions mosquitto discards at the disconnect without telling the plugin.
//! The tracker stays under its byte cap by evicting offline sessions (counted), and a client coming back
//! to a discarded session gets no false `session.unsubscribed`; a restored session still gets the real one.

use std::process::Command;

use rocketmq_bridge_mosquitto::tracker::{
    FILTER_ENTRY_OVERHEAD, SESSION_ENTRY_OVERHEAD, TRACKED_BYTES_MAX,
};
use rocketmq_bridge_test_support::mosquitto::*;

/// The `n`-th 60,000-byte filter of client `c`.
fn filter(c: usize, n: usize) -> String {
    let prefix = format!("big/{c}/{n}/");
    let mut f = "x".repeat(60_000);
    f.replace_range(..prefix.len(), &prefix);
    f
}

/// `mosquitto_sub` as an MQTT 5 client with clean start off and the given session expiry, subscribing
/// to `subs` and unsubscribing `unsubs` (sent right after the subscribe), exiting once subscribed.
fn session(port: u16, id: &str, expiry: &str, subs: &[String], unsubs: &[String]) {
    let mut c = Command::new("mosquitto_sub");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string()]).args([
        "-V", "mqttv5", "-c", "-x", expiry, "-i", id, "-q", "1", "-E",
    ]);
    for s in subs {
        c.arg("-t").arg(s);
    }
    for u in unsubs {
        c.arg("-U").arg(u);
    }
    let out = run(c, ms(10_000));
    assert!(
        out.status.success(),
        "mosquitto_sub {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn discarded_sessions_stay_under_the_cap_and_report_no_false_unsubscribe() {
    let dir = temp_dir("sessions");
    let bridge_conf = dir.join("bridge.conf");
    std::fs::write(&bridge_conf, "").unwrap();
    let trace = dir.join("trace.jsonl");
    let broker = Broker::start(
        &dir,
        &open_broker_body(&bridge_conf, &[("trace_file", trace.to_str().unwrap())]),
    );
    let port = broker.port;

    // 40 clients x 10 filters of 60 KB (24 MB of filters), session expiry 0: each session ends at its
    // disconnect, and none comes back.
    const CLIENTS: usize = 40;
    for c in 0..CLIENTS {
        let subs: Vec<String> = (0..10).map(|n| filter(c, n)).collect();
        session(port, &format!("gone-{c}"), "0", &subs, &[]);
    }
    // The last one comes back (clean start off, expiry 0): mosquitto starts an empty session. It
    // subscribes to something new and unsubscribes one of the filters it had.
    let last = CLIENTS - 1;
    session(
        port,
        &format!("gone-{last}"),
        "0",
        &["other".into()],
        &[filter(last, 0)],
    );
    // A session that really persists (expiry 60 s): its unsubscribe after the reconnect is real.
    session(port, "kept", "60", &["k/1".into()], &[]);
    session(port, "kept", "60", &["k/2".into()], &["k/1".into()]);
    // A persistent session taken over while online: the old connection's disconnect comes after its
    // subscriptions moved to the new one, and the new one's unsubscribe is real.
    let online = Sub::start(
        port,
        &["-V", "mqttv5", "-c", "-x", "60", "-i", "taken", "-t", "t/1"],
        10,
    );
    session(port, "taken", "60", &["t/2".into()], &["t/1".into()]);
    online.kill();

    let log = broker.stop();
    let evs = read_trace(&trace);
    let unsubs: Vec<(String, String)> = of(&evs, "session.unsubscribed")
        .iter()
        .map(|e| {
            // filters shortened to their first 16 bytes, so that a failure stays readable
            let t = e["topic"].as_str().unwrap();
            (
                e["client_id"].as_str().unwrap().to_string(),
                t[..t.len().min(16)].to_string(),
            )
        })
        .collect();
    assert_eq!(
        unsubs,
        [
            ("kept".to_string(), "k/1".to_string()),
            ("taken".to_string(), "t/1".to_string())
        ],
        "exactly the real unsubscribe; none for the discarded session"
    );
    assert_eq!(
        of(&evs, "session.subscribed").len(),
        CLIENTS * 10 + 1 + 2 + 2,
        "every subscription is reported"
    );

    let per_session = SESSION_ENTRY_OVERHEAD + 2 * 8 + 10 * (FILTER_ENTRY_OVERHEAD + 60_000);
    let kept_at_most = TRACKED_BYTES_MAX / per_session;
    let evicted = final_counter(&log, "tracker_evicted");
    let tracked = final_counter(&log, "tracked_bytes");
    eprintln!(
        "tracker: evicted={evicted} tracked_bytes={tracked} sessions_gone={} unsubscribes_unknown={}",
        final_counter(&log, "tracker_sessions_gone"),
        final_counter(&log, "unsubscribes of unknown subscriptions"),
    );
    assert!(tracked <= TRACKED_BYTES_MAX as u64, "{tracked}");
    assert!(
        evicted >= (CLIENTS - kept_at_most) as u64,
        "evicted {evicted}, at most {kept_at_most} sessions fit"
    );
    assert_eq!(final_counter(&log, "tracker_sessions_gone"), 1);
    assert_eq!(
        final_counter(&log, "unsubscribes of unknown subscriptions"),
        1
    );
}
