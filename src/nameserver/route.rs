//! Route data as name servers send it (`TopicRouteData.java`, `QueueData.java`, `BrokerData.java`),
//! parsed tolerantly, and the producer's view of it (reference §8.3).

use super::lenient_json::quote_bare_integer_keys;
use super::Error;
use serde_json::Value;
use std::collections::BTreeMap;

/// Permission bit: queues may be written.
pub const PERM_WRITE: i32 = 0x2;
/// Permission bit: queues may be read.
pub const PERM_READ: i32 = 0x4;
/// Permission bit: topics may be created from this one.
pub const PERM_INHERIT: i32 = 0x1;

/// One broker's queues of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueData {
    /// Broker name.
    pub broker_name: String,
    /// Readable queue count.
    pub read_queue_nums: i32,
    /// Writable queue count.
    pub write_queue_nums: i32,
    /// Permission bits.
    pub perm: i32,
}

/// One broker group (a master and its slaves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerData {
    /// Cluster name.
    pub cluster: String,
    /// Broker name.
    pub broker_name: String,
    /// Broker id → address; id 0 is the master.
    pub broker_addrs: BTreeMap<i64, String>,
}

impl BrokerData {
    /// The master's address.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&0).map(String::as_str)
    }
}

/// A topic's route.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicRouteData {
    /// Queues per broker.
    pub queue_datas: Vec<QueueData>,
    /// Brokers.
    pub broker_datas: Vec<BrokerData>,
    /// `brokerName:N;…` for ordered topics, if set.
    pub order_topic_conf: Option<String>,
}

/// Most queues (read or write, and per ordered-topic entry) one broker entry of a route may
/// announce: 1024. Apache RocketMQ creates 4 (auto-created topics, `defaultTopicQueueNums`) to 16
/// (`TopicConfig`'s default) queues per broker, and operators rarely go past a few hundred; 1024 is
/// 64× the largest default. Checked before a queue is built, so a name server announcing 2^31 costs
/// nothing.
pub const MAX_QUEUES_PER_BROKER: u64 = 1024;

/// Most queues a whole route may announce (the sum over its broker entries, read and write
/// counted separately): 16 384, e.g. 16 brokers at the per-broker cap or 1024 brokers of 16
/// queues. Each [`MessageQueue`] costs about 100 bytes, so the producer's view of the largest
/// route allowed stays under 2 MB.
pub const MAX_QUEUES_PER_ROUTE: u64 = 16 * 1024;

/// Most broker entries (`queueDatas`, `brokerDatas` and ordered-topic entries, each counted on its
/// own) in one route: 1024 broker groups, far more than any real cluster serves one topic from.
pub const MAX_BROKERS_PER_ROUTE: u64 = 1024;

/// Most addresses per broker entry (a master and its slaves, or a controller-mode group): 64.
pub const MAX_ADDRS_PER_BROKER: u64 = 64;

/// Longest broker name, cluster name or address kept from a route, in bytes: 255 (host names are
/// at most 253 bytes; Java limits topic names to 127 bytes and broker names are shorter in practice).
pub const MAX_ROUTE_STRING_LEN: u64 = 255;

/// Largest route body parsed, in bytes: 1 MiB. A route for 1024 broker groups with two addresses
/// each is about 300 KB; the parser builds a `serde_json::Value` tree that may take up to ~16× the
/// body in the worst case (an array of one-digit numbers), so this cap bounds that to 16 MB.
pub const MAX_ROUTE_BODY_LEN: usize = 1024 * 1024;

/// The broker name as error text: at most 64 bytes of it (a name server chooses it).
fn short(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn over(what: &'static str, broker: Option<&str>, count: u64, max: u64) -> Error {
    Error::RouteOverCap {
        what,
        broker: broker.map(short),
        count,
        max,
    }
}

fn cap(what: &'static str, broker: Option<&str>, count: u64, max: u64) -> Result<(), Error> {
    if count > max {
        Err(over(what, broker, count, max))
    } else {
        Ok(())
    }
}

fn field<'a>(v: &'a Value, key: &'static str) -> Result<&'a Value, Error> {
    match v.get(key) {
        Some(Value::Null) | None => Err(Error::InvalidRoute {
            reason: format!("missing field {key}"),
        }),
        Some(x) => Ok(x),
    }
}

/// An integer field as i64 (numbers and numeric strings), for the caps to see the announced count
/// even when it does not fit an i32.
fn int64(v: &Value, key: &'static str) -> Result<i64, Error> {
    let x = field(v, key)?;
    x.as_i64()
        .or_else(|| x.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| Error::InvalidRoute {
            reason: format!("field {key} is not an integer"),
        })
}

fn int(v: &Value, key: &'static str) -> Result<i32, Error> {
    i32::try_from(int64(v, key)?).map_err(|_| Error::InvalidRoute {
        reason: format!("field {key} is not an i32"),
    })
}

/// A queue count: negative counts mean no queue (as before); above [`MAX_QUEUES_PER_BROKER`] the
/// route is refused.
fn queue_count(v: &Value, key: &'static str, broker: &str) -> Result<i32, Error> {
    let n = int64(v, key)?;
    cap(key, Some(broker), n.max(0) as u64, MAX_QUEUES_PER_BROKER)?;
    Ok(n.max(i32::MIN as i64) as i32)
}

fn capped_str<'v>(s: &'v str, what: &'static str, broker: Option<&str>) -> Result<&'v str, Error> {
    cap(what, broker, s.len() as u64, MAX_ROUTE_STRING_LEN)?;
    Ok(s)
}

fn string(v: &Value, key: &'static str) -> Result<String, Error> {
    let s = field(v, key)?.as_str().ok_or_else(|| Error::InvalidRoute {
        reason: format!("field {key} is not a string"),
    })?;
    Ok(capped_str(s, key, None)?.to_owned())
}

/// Parses an ordered-topic config (`brokerName:N;…`): empty parts and parts without `:` are
/// skipped, an unparsable count means no queue. Refused over the caps.
pub fn parse_order_conf(conf: &str) -> Result<Vec<(&str, i32)>, Error> {
    let mut out = Vec::new();
    let mut total = 0u64;
    for part in conf.split(';') {
        let Some((b, n)) = part.split_once(':') else {
            continue;
        };
        cap(
            "orderTopicConf entries",
            None,
            out.len() as u64 + 1,
            MAX_BROKERS_PER_ROUTE,
        )?;
        let b = capped_str(b, "orderTopicConf broker name", None)?;
        let n: i64 = n.trim().parse().unwrap_or(0);
        cap(
            "orderTopicConf queues",
            Some(b),
            n.max(0) as u64,
            MAX_QUEUES_PER_BROKER,
        )?;
        total += n.max(0) as u64;
        cap(
            "orderTopicConf queues in total",
            None,
            total,
            MAX_QUEUES_PER_ROUTE,
        )?;
        out.push((b, n.max(0) as i32));
    }
    Ok(out)
}

impl TopicRouteData {
    /// Parses a route body: standard JSON or the legacy form with bare integer keys; `null` and
    /// unknown members are ignored, `topicSynFlag`/`topicSysFlag` both accepted and ignored.
    ///
    /// # Errors
    /// [`Error::RouteNotJson`]; [`Error::InvalidRoute`] naming what is missing or malformed;
    /// [`Error::RouteOverCap`] when the
    /// body, a queue count, the queues in total, the broker entries, the addresses of a broker or
    /// a name exceed their cap ([`MAX_QUEUES_PER_BROKER`], [`MAX_QUEUES_PER_ROUTE`],
    /// [`MAX_BROKERS_PER_ROUTE`], [`MAX_ADDRS_PER_BROKER`], [`MAX_ROUTE_STRING_LEN`],
    /// [`MAX_ROUTE_BODY_LEN`]).
    pub fn from_json(body: &[u8]) -> Result<TopicRouteData, Error> {
        Self::from_json_counting(body, &mut 0)
    }

    /// [`TopicRouteData::from_json`], adding the work it does to `work`: one unit per body byte
    /// for each linear pass (the bare-key pass and serde_json), one per array element, map member
    /// and order-conf part visited. For the fuzz oracle, which checks work per input byte.
    #[doc(hidden)]
    pub fn from_json_counting(body: &[u8], work: &mut u64) -> Result<TopicRouteData, Error> {
        cap(
            "body length",
            None,
            body.len() as u64,
            MAX_ROUTE_BODY_LEN as u64,
        )?;
        let fixed = quote_bare_integer_keys(body);
        *work += body.len() as u64 + fixed.len() as u64;
        let v: Value = serde_json::from_slice(&fixed).map_err(Error::RouteNotJson)?;
        let mut route = TopicRouteData::default();
        if let Some(qds) = v.get("queueDatas").and_then(Value::as_array) {
            cap("queueDatas", None, qds.len() as u64, MAX_BROKERS_PER_ROUTE)?;
            route.queue_datas.reserve(qds.len());
            let mut total = 0u64;
            for q in qds {
                *work += 1;
                let broker_name = string(q, "brokerName")?;
                let read_queue_nums = queue_count(q, "readQueueNums", &broker_name)?;
                let write_queue_nums = queue_count(q, "writeQueueNums", &broker_name)?;
                total += read_queue_nums.max(0) as u64 + write_queue_nums.max(0) as u64;
                cap("queues in total", None, total, MAX_QUEUES_PER_ROUTE)?;
                route.queue_datas.push(QueueData {
                    perm: int(q, "perm")?,
                    broker_name,
                    read_queue_nums,
                    write_queue_nums,
                });
            }
        }
        if let Some(bds) = v.get("brokerDatas").and_then(Value::as_array) {
            cap("brokerDatas", None, bds.len() as u64, MAX_BROKERS_PER_ROUTE)?;
            route.broker_datas.reserve(bds.len());
            for b in bds {
                *work += 1;
                let broker_name = string(b, "brokerName")?;
                let mut addrs = BTreeMap::new();
                if let Some(m) = b.get("brokerAddrs").and_then(Value::as_object) {
                    cap(
                        "brokerAddrs",
                        Some(&broker_name),
                        m.len() as u64,
                        MAX_ADDRS_PER_BROKER,
                    )?;
                    for (id, addr) in m {
                        *work += 1;
                        let id: i64 = id.parse().map_err(|_| Error::InvalidRoute {
                            reason: format!("broker id {:?} is not an integer", short(id)),
                        })?;
                        if let Some(a) = addr.as_str() {
                            let a = capped_str(a, "broker address length", Some(&broker_name))?;
                            addrs.insert(id, a.to_owned());
                        }
                    }
                }
                let cluster = b.get("cluster").and_then(Value::as_str).unwrap_or("");
                route.broker_datas.push(BrokerData {
                    cluster: capped_str(cluster, "cluster", Some(&broker_name))?.to_owned(),
                    broker_name,
                    broker_addrs: addrs,
                });
            }
        }
        route.order_topic_conf = v
            .get("orderTopicConf")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        if let Some(conf) = &route.order_topic_conf {
            *work += conf.len() as u64;
            parse_order_conf(conf)?;
        }
        Ok(route)
    }

    /// The broker data for `name`.
    pub fn broker(&self, name: &str) -> Option<&BrokerData> {
        self.broker_datas.iter().find(|b| b.broker_name == name)
    }
}

/// One queue of a topic on one broker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageQueue {
    /// Topic.
    pub topic: String,
    /// Broker name.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
}

/// The producer's view of a route: writable queues in a stable order, with master addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicPublishInfo {
    /// Writable queues, sorted by broker name then queue id.
    pub queues: Vec<MessageQueue>,
    /// Broker name → master address, for the brokers in `queues`.
    pub masters: BTreeMap<String, String>,
    /// True when built from TBW102 for a topic that does not exist yet (sends then ask the broker to create it).
    pub from_default_topic: bool,
    /// The route it was built from.
    pub route: TopicRouteData,
}

impl TopicPublishInfo {
    /// Builds the writable queue list (reference §8.3): ordered-topic config first, else every
    /// queue data with the WRITE permission whose broker has a master.
    pub fn from_route(topic: &str, route: TopicRouteData) -> TopicPublishInfo {
        let mut info = TopicPublishInfo::default();
        // `route` normally comes from `from_json`, which refuses routes over the caps; one built
        // by hand is clamped here so this never allocates more than the caps allow either.
        let add = |broker: &str, n: i32, info: &mut TopicPublishInfo| {
            if let Some(addr) = route.broker(broker).and_then(BrokerData::master_addr) {
                info.masters.insert(broker.to_owned(), addr.to_owned());
                let room = (MAX_QUEUES_PER_ROUTE as usize).saturating_sub(info.queues.len());
                let n = (n.max(0) as usize)
                    .min(MAX_QUEUES_PER_BROKER as usize)
                    .min(room);
                info.queues.reserve(n);
                for q in 0..n as i32 {
                    info.queues.push(MessageQueue {
                        topic: topic.to_owned(),
                        broker_name: broker.to_owned(),
                        queue_id: q,
                    });
                }
            }
        };
        if let Some(conf) = &route.order_topic_conf {
            match parse_order_conf(conf) {
                Ok(parts) => {
                    for (b, n) in parts {
                        add(b, n, &mut info);
                    }
                }
                Err(e) => log::warn!("ordered-topic config ignored topic={topic}: {e}"),
            }
        } else {
            let mut qds: Vec<&QueueData> = route
                .queue_datas
                .iter()
                .filter(|q| q.perm & PERM_WRITE != 0)
                .collect();
            qds.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
            for q in qds {
                add(&q.broker_name, q.write_queue_nums, &mut info);
            }
        }
        info.route = route;
        info
    }

    /// Builds a publish info for a new topic from the TBW102 route, with at most `default_queues`
    /// queues per broker (reference §8.4).
    pub fn from_default_route(
        topic: &str,
        mut tbw: TopicRouteData,
        default_queues: i32,
    ) -> TopicPublishInfo {
        for q in &mut tbw.queue_datas {
            let n = default_queues.min(q.read_queue_nums);
            q.read_queue_nums = n;
            q.write_queue_nums = n;
        }
        let mut info = TopicPublishInfo::from_route(topic, tbw);
        info.from_default_topic = true;
        info
    }

    /// True when no queue can be written.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_standard_legacy_and_null_fields() {
        let std_json = br#"{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.1:10921"},"brokerName":"broker-a","cluster":"C","enableActingMaster":false,"zoneName":null}],"filterServerTable":{},"orderTopicConf":null,"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}],"topicQueueMappingByBroker":null}"#;
        let legacy = br#"{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},"brokerName":"broker-a","cluster":"C"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":0,"writeQueueNums":4}]}"#;
        let a = TopicRouteData::from_json(std_json).unwrap();
        let b = TopicRouteData::from_json(legacy).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.broker("broker-a").unwrap().master_addr(),
            Some("127.0.0.1:10911")
        );
        let info = TopicPublishInfo::from_route("T", a);
        assert_eq!(info.queues.len(), 4);
        assert_eq!(info.masters["broker-a"], "127.0.0.1:10911");
    }

    #[test]
    fn read_only_queues_and_masterless_brokers_are_not_writable() {
        let j = br#"{"brokerDatas":[{"brokerAddrs":{"0":"a:1"},"brokerName":"a","cluster":"C"},{"brokerAddrs":{"1":"b:1"},"brokerName":"b","cluster":"C"}],"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":2,"writeQueueNums":2},{"brokerName":"a","perm":4,"readQueueNums":2,"writeQueueNums":2}]}"#;
        let info = TopicPublishInfo::from_route("T", TopicRouteData::from_json(j).unwrap());
        assert!(info.is_empty());
    }

    #[test]
    fn default_route_caps_queue_count() {
        let j = br#"{"brokerDatas":[{"brokerAddrs":{"0":"a:1"},"brokerName":"a","cluster":"C"}],"queueDatas":[{"brokerName":"a","perm":7,"readQueueNums":8,"writeQueueNums":8}]}"#;
        let info =
            TopicPublishInfo::from_default_route("New", TopicRouteData::from_json(j).unwrap(), 4);
        assert_eq!(info.queues.len(), 4);
        assert!(info.from_default_topic);
        assert_eq!(info.queues[3].topic, "New");
    }

    #[test]
    fn missing_fields_are_named() {
        let j = br#"{"queueDatas":[{"brokerName":"a","perm":6,"readQueueNums":4}]}"#;
        let e = TopicRouteData::from_json(j).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid route data: missing field writeQueueNums"
        );
    }

    fn over_cap(body: &[u8]) -> (&'static str, Option<String>, u64, u64) {
        match TopicRouteData::from_json(body) {
            Err(Error::RouteOverCap {
                what,
                broker,
                count,
                max,
            }) => (what, broker, count, max),
            other => panic!("expected RouteOverCap, got {other:?}"),
        }
    }

    #[test]
    fn broker_entries_addresses_names_and_body_are_capped() {
        let n = MAX_BROKERS_PER_ROUTE as usize + 1;
        let bds = vec![r#"{"brokerName":"b","brokerAddrs":{}}"#; n].join(",");
        let j = format!(r#"{{"brokerDatas":[{bds}]}}"#);
        assert_eq!(
            over_cap(j.as_bytes()),
            ("brokerDatas", None, n as u64, MAX_BROKERS_PER_ROUTE)
        );
        let qds = vec![r#"{"brokerName":"b","perm":6,"readQueueNums":0,"writeQueueNums":0}"#; n]
            .join(",");
        let j = format!(r#"{{"queueDatas":[{qds}]}}"#);
        assert_eq!(over_cap(j.as_bytes()).0, "queueDatas");

        let addrs: Vec<String> = (0..=MAX_ADDRS_PER_BROKER)
            .map(|i| format!(r#""{i}":"h:1""#))
            .collect();
        let j = format!(
            r#"{{"brokerDatas":[{{"brokerName":"b","brokerAddrs":{{{}}}}}]}}"#,
            addrs.join(",")
        );
        assert_eq!(
            over_cap(j.as_bytes()),
            (
                "brokerAddrs",
                Some("b".to_owned()),
                MAX_ADDRS_PER_BROKER + 1,
                MAX_ADDRS_PER_BROKER
            )
        );

        let long = "x".repeat(MAX_ROUTE_STRING_LEN as usize + 1);
        let j =
            format!(r#"{{"brokerDatas":[{{"brokerName":"b","brokerAddrs":{{"0":"{long}"}}}}]}}"#);
        assert_eq!(over_cap(j.as_bytes()).0, "broker address length");
        let j = format!(r#"{{"brokerDatas":[{{"brokerName":"{long}","brokerAddrs":{{}}}}]}}"#);
        assert_eq!(over_cap(j.as_bytes()).0, "brokerName");

        let parts = vec!["b:1"; n].join(";");
        let j = format!(r#"{{"orderTopicConf":"{parts}"}}"#);
        assert_eq!(over_cap(j.as_bytes()).0, "orderTopicConf entries");

        let body = vec![b' '; MAX_ROUTE_BODY_LEN + 1];
        assert_eq!(
            over_cap(&body),
            (
                "body length",
                None,
                MAX_ROUTE_BODY_LEN as u64 + 1,
                MAX_ROUTE_BODY_LEN as u64
            )
        );
    }

    #[test]
    fn routes_at_the_caps_are_accepted_and_hand_built_ones_are_clamped() {
        let j = format!(
            r#"{{"brokerDatas":[{{"brokerAddrs":{{"0":"a:1"}},"brokerName":"a","cluster":"C"}}],"queueDatas":[{{"brokerName":"a","perm":6,"readQueueNums":{m},"writeQueueNums":{m}}}]}}"#,
            m = MAX_QUEUES_PER_BROKER
        );
        let route = TopicRouteData::from_json(j.as_bytes()).unwrap();
        let info = TopicPublishInfo::from_route("T", route.clone());
        assert_eq!(info.queues.len(), MAX_QUEUES_PER_BROKER as usize);
        let mut huge = route;
        huge.queue_datas[0].write_queue_nums = i32::MAX;
        let info = TopicPublishInfo::from_route("T", huge);
        assert_eq!(info.queues.len(), MAX_QUEUES_PER_BROKER as usize);
        // A long broker name in an error is cut.
        let e = over("x", Some(&"é".repeat(100)), 1, 0).to_string();
        assert!(e.len() < 200, "{e}");
    }
}
