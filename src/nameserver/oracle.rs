//! Semantic oracle for the route parser, shared by the `route_json` fuzz target (`fuzz/`) and the
//! corpus replay test (`tests/corpus_replay.rs`). Takes arbitrary bytes and panics when a property
//! is violated; never on bad input as such.

use super::lenient_json::quote_bare_integer_keys;
use super::route::{
    parse_order_conf, TopicPublishInfo, TopicRouteData, MAX_ADDRS_PER_BROKER,
    MAX_BROKERS_PER_ROUTE, MAX_QUEUES_PER_BROKER, MAX_QUEUES_PER_ROUTE, MAX_ROUTE_STRING_LEN,
};
use serde_json::{Map, Value};

/// Most parser work units per body byte (plus [`WORK_SLACK`]): the parser counts two units per
/// byte for its linear passes (bare-key quoting, serde_json) and one per array element, map member
/// and order-conf byte, each of which takes at least one byte of input; 8 leaves room and still
/// catches any per-element rescan.
pub const MAX_WORK_PER_BYTE: u64 = 8;

/// Work allowed on top of [`MAX_WORK_PER_BYTE`] per byte, for tiny inputs.
pub const WORK_SLACK: u64 = 64;

/// Writes `route` as standard route JSON (the Java name server's field names).
pub fn encode_route(route: &TopicRouteData, legacy_keys: bool) -> Vec<u8> {
    let qds: Vec<Value> = route
        .queue_datas
        .iter()
        .map(|q| {
            let mut m = Map::new();
            m.insert("brokerName".into(), q.broker_name.clone().into());
            m.insert("perm".into(), q.perm.into());
            m.insert("readQueueNums".into(), q.read_queue_nums.into());
            m.insert("writeQueueNums".into(), q.write_queue_nums.into());
            m.insert("topicSysFlag".into(), 0.into());
            Value::Object(m)
        })
        .collect();
    let bds: Vec<Value> = route
        .broker_datas
        .iter()
        .map(|b| {
            let mut addrs = Map::new();
            for (id, a) in &b.broker_addrs {
                addrs.insert(id.to_string(), a.clone().into());
            }
            let mut m = Map::new();
            m.insert("brokerAddrs".into(), Value::Object(addrs));
            m.insert("brokerName".into(), b.broker_name.clone().into());
            m.insert("cluster".into(), b.cluster.clone().into());
            Value::Object(m)
        })
        .collect();
    let mut top = Map::new();
    top.insert("brokerDatas".into(), Value::Array(bds));
    top.insert("queueDatas".into(), Value::Array(qds));
    top.insert(
        "orderTopicConf".into(),
        route
            .order_topic_conf
            .clone()
            .map_or(Value::Null, Value::from),
    );
    let text = serde_json::to_vec(&Value::Object(top)).expect("a Value always serializes");
    if !legacy_keys {
        return text;
    }
    // The legacy form: integer keys of brokerAddrs written bare (`{0:"…"}`), as old name servers do.
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    let mut in_str = false;
    while i < text.len() {
        let b = text[i];
        if in_str {
            out.push(b);
            match b {
                b'\\' => {
                    out.push(text[i + 1]);
                    i += 1;
                }
                b'"' => in_str = false,
                _ => {}
            }
        } else if b == b'"' {
            // A quoted integer key directly after '{' or ',' and followed by ':' is unquoted.
            let end = text[i + 1..]
                .iter()
                .position(|&c| c == b'"')
                .map(|p| i + 1 + p);
            let prev = out.last().copied();
            match end {
                Some(e)
                    if e > i + 1
                        && matches!(prev, Some(b'{' | b','))
                        && text.get(e + 1) == Some(&b':')
                        && text[i + 1..e].iter().enumerate().all(|(j, &c)| {
                            c.is_ascii_digit() || (j == 0 && c == b'-' && e > i + 2)
                        }) =>
                {
                    out.extend_from_slice(&text[i + 1..e]);
                    i = e + 1;
                    continue;
                }
                _ => {
                    in_str = true;
                    out.push(b);
                }
            }
        } else {
            out.push(b);
        }
        i += 1;
    }
    out
}

/// The route parser on arbitrary bytes: no panic; parse work within [`MAX_WORK_PER_BYTE`] per
/// byte; an accepted route within every cap, its publish and read views too; and it round-trips
/// through [`encode_route`], in the standard and in the legacy (bare integer key) form.
///
/// # Panics
/// When a property is violated.
pub fn check_route_json(data: &[u8]) {
    let mut work = 0u64;
    let parsed = TopicRouteData::from_json_counting(data, &mut work);
    assert!(
        work <= MAX_WORK_PER_BYTE * data.len() as u64 + WORK_SLACK,
        "route parse did {work} work units for {} bytes",
        data.len()
    );
    // The bare-key pass changes nothing inside strings and never shrinks the input.
    assert!(quote_bare_integer_keys(data).len() >= data.len());
    let Ok(route) = parsed else {
        return;
    };
    let max_str = MAX_ROUTE_STRING_LEN as usize;
    assert!(route.queue_datas.len() as u64 <= MAX_BROKERS_PER_ROUTE);
    assert!(route.broker_datas.len() as u64 <= MAX_BROKERS_PER_ROUTE);
    let mut total = 0u64;
    for q in &route.queue_datas {
        assert!(q.broker_name.len() <= max_str);
        for n in [q.read_queue_nums, q.write_queue_nums] {
            assert!(n.max(0) as u64 <= MAX_QUEUES_PER_BROKER, "queue count {n}");
            total += n.max(0) as u64;
        }
    }
    assert!(total <= MAX_QUEUES_PER_ROUTE, "{total} queues in total");
    for b in &route.broker_datas {
        assert!(b.broker_name.len() <= max_str && b.cluster.len() <= max_str);
        assert!(b.broker_addrs.len() as u64 <= MAX_ADDRS_PER_BROKER);
        assert!(b.broker_addrs.values().all(|a| a.len() <= max_str));
    }
    if let Some(conf) = &route.order_topic_conf {
        parse_order_conf(conf).expect("an accepted route's order conf parses");
    }
    let info = TopicPublishInfo::from_route("T", route.clone());
    assert!(info.queues.len() as u64 <= MAX_QUEUES_PER_ROUTE);
    assert!(info.masters.len() as u64 <= MAX_BROKERS_PER_ROUTE);
    for legacy in [false, true] {
        let text = encode_route(&route, legacy);
        let again = TopicRouteData::from_json(&text).unwrap_or_else(|e| {
            panic!(
                "re-encoded route (legacy {legacy}) refused: {e}: {}",
                String::from_utf8_lossy(&text)
            )
        });
        assert_eq!(
            again, route,
            "route round trip (legacy {legacy}) changed it"
        );
    }
}
