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

fn field<'a>(v: &'a Value, key: &'static str) -> Result<&'a Value, Error> {
    match v.get(key) {
        Some(Value::Null) | None => Err(Error::InvalidRoute {
            reason: format!("missing field {key}"),
        }),
        Some(x) => Ok(x),
    }
}

fn int(v: &Value, key: &'static str) -> Result<i32, Error> {
    let x = field(v, key)?;
    x.as_i64()
        .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| Error::InvalidRoute {
            reason: format!("field {key} is not an i32"),
        })
}

fn string(v: &Value, key: &'static str) -> Result<String, Error> {
    field(v, key)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::InvalidRoute {
            reason: format!("field {key} is not a string"),
        })
}

impl TopicRouteData {
    /// Parses a route body: standard JSON or the legacy form with bare integer keys; `null` and
    /// unknown members are ignored, `topicSynFlag`/`topicSysFlag` both accepted and ignored.
    ///
    /// # Errors
    /// [`Error::InvalidRoute`] naming what is missing or malformed.
    pub fn from_json(body: &[u8]) -> Result<TopicRouteData, Error> {
        let fixed = quote_bare_integer_keys(body);
        let v: Value = serde_json::from_slice(&fixed).map_err(|e| Error::InvalidRoute {
            reason: format!("not JSON: {e}"),
        })?;
        let mut route = TopicRouteData::default();
        if let Some(qds) = v.get("queueDatas").and_then(Value::as_array) {
            for q in qds {
                route.queue_datas.push(QueueData {
                    broker_name: string(q, "brokerName")?,
                    read_queue_nums: int(q, "readQueueNums")?,
                    write_queue_nums: int(q, "writeQueueNums")?,
                    perm: int(q, "perm")?,
                });
            }
        }
        if let Some(bds) = v.get("brokerDatas").and_then(Value::as_array) {
            for b in bds {
                let mut addrs = BTreeMap::new();
                if let Some(m) = b.get("brokerAddrs").and_then(Value::as_object) {
                    for (id, addr) in m {
                        let id: i64 = id.parse().map_err(|_| Error::InvalidRoute {
                            reason: format!("broker id {id:?} is not an integer"),
                        })?;
                        if let Some(a) = addr.as_str() {
                            addrs.insert(id, a.to_owned());
                        }
                    }
                }
                route.broker_datas.push(BrokerData {
                    cluster: b
                        .get("cluster")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    broker_name: string(b, "brokerName")?,
                    broker_addrs: addrs,
                });
            }
        }
        route.order_topic_conf = v
            .get("orderTopicConf")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
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
        let add = |broker: &str, n: i32, info: &mut TopicPublishInfo| {
            if let Some(addr) = route.broker(broker).and_then(BrokerData::master_addr) {
                info.masters.insert(broker.to_owned(), addr.to_owned());
                for q in 0..n.max(0) {
                    info.queues.push(MessageQueue {
                        topic: topic.to_owned(),
                        broker_name: broker.to_owned(),
                        queue_id: q,
                    });
                }
            }
        };
        if let Some(conf) = &route.order_topic_conf {
            for part in conf.split(';') {
                if let Some((b, n)) = part.split_once(':') {
                    add(b, n.trim().parse().unwrap_or(0), &mut info);
                }
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
}
