//! Oracle for the NDJSON event input (`Event::from_json_line`): any line either parses into an
//! event or gives an error naming the line; never a panic; the hand-written path for the usual
//! line gives exactly what the serde_json path gives. A parsed event holds only what the
//! input format allows, and writing it back as a JSON line (payload as base64) parses to the
//! same event. Parsed into a reused event (`Event::read_json_line`) that held every field, a line
//! gives the same event or error as a fresh parse.

use super::alloc::with_caps;
use rocketmq_bridge::bridge::format::write_json_string;
use rocketmq_bridge::bridge::Event;

const LINE_NO: u64 = 7;

/// Checks every property above for one input (non-UTF-8 input is skipped: the reader rejects
/// it before parsing).
///
/// # Panics
/// When a property is violated (an allocation past the caps aborts instead).
pub(crate) fn check_event_line(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let cap = 16 * line.len() + (64 << 10);
    let (got, _) = with_caps("Event::from_json_line", cap, cap, || {
        Event::from_json_line(line, LINE_NO)
    });
    // The hand-written path for the usual line gives what serde_json gives: the same event, or
    // the same error (kind, field, message, column).
    assert_eq!(
        got,
        Event::from_json_line_without_fast_path(line, LINE_NO),
        "the fast path differs on {line:?}"
    );
    // Parsed into an event that already holds every field (as the pump's reused event does),
    // the line gives the same event or the same error: nothing of the earlier one survives.
    let mut reused = Event::message_publish(
        "stale-client",
        "stale/topic",
        bytes::Bytes::from_static(b"stale"),
        2,
    )
    .with_ts(1);
    reused.username = Some("stale-user".to_owned());
    reused.from = Some("stale-from".to_owned());
    reused.reason = Some("stale-reason".to_owned());
    reused.retain = Some(true);
    reused.order_key = Some("stale-key".to_owned());
    match (&got, reused.read_json_line(line, LINE_NO)) {
        (Ok(fresh), Ok(())) => assert_eq!(&reused, fresh, "reused event differs on {line:?}"),
        (Err(fresh), Err(e)) => assert_eq!(fresh, &e, "reused event's error differs on {line:?}"),
        (fresh, r) => panic!("fresh {fresh:?} but reused {r:?} on {line:?}"),
    }
    let ev = match got {
        Ok(ev) => ev,
        Err(e) => {
            assert_eq!(e.line, LINE_NO);
            assert!(e.to_string().contains(&LINE_NO.to_string()), "{e}");
            return;
        }
    };
    assert!(ev.qos.is_none_or(|q| q <= 2));
    assert!(ev
        .topic
        .as_deref()
        .is_none_or(|t| !t.is_empty() && !t.contains('\0')));
    let written = write_event(&ev);
    let text = std::str::from_utf8(&written).expect("the writer writes UTF-8");
    match Event::from_json_line(text, 1) {
        Ok(again) => assert_eq!(again, ev, "event round trip through {text}"),
        Err(e) => panic!("the event written back as {text} does not parse: {e}"),
    }
}

/// `ev` as one JSON line; `None` fields are left out, the payload is written as base64.
pub(crate) fn write_event(ev: &Event) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"event\":");
    write_json_string(&mut out, ev.kind.hook_name());
    let strings = [
        ("client_id", &ev.client_id),
        ("username", &ev.username),
        ("reason", &ev.reason),
        ("from", &ev.from),
        ("topic", &ev.topic),
    ];
    for (name, v) in strings {
        if let Some(v) = v {
            out.extend_from_slice(format!(",\"{name}\":").as_bytes());
            write_json_string(&mut out, v);
        }
    }
    if let Some(q) = ev.qos {
        out.extend_from_slice(format!(",\"qos\":{q}").as_bytes());
    }
    if let Some(r) = ev.retain {
        out.extend_from_slice(format!(",\"retain\":{r}").as_bytes());
    }
    if let Some(t) = ev.ts {
        out.extend_from_slice(format!(",\"ts\":{t}").as_bytes());
    }
    if let Some(p) = &ev.payload {
        out.extend_from_slice(b",\"payload_base64\":\"");
        base64(p, &mut out);
        out.push(b'"');
    }
    out.push(b'}');
    out
}

/// Standard base64 with padding (RFC 4648 section 4).
fn base64(data: &[u8], out: &mut Vec<u8>) {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for c in data.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}
