//! Spool records that are CRC-valid but do not decode as an event (a version-2 record cut
//! inside its payload, a record version this bridge does not know) are skipped and acknowledged,
//! so never sent: they must be reported as losses (metrics, loss report), not only logged.

use rocketmq_bridge_test_support as support;

use rocketmq_bridge::bridge::{Bridge, BridgeConfig};
use rocketmq_bridge::remoting::codes::{SEND_BATCH_MESSAGE, SEND_MESSAGE_V2};
use rocketmq_bridge::remoting::RemotingCommand;
use rocketmq_bridge::spool::{Spool, SpoolConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::hostile::{frame_of, send_ok, HostileServer};
use support::{eventually, FakeNameServer};

#[test]
fn undecodable_spool_records_are_reported_as_losses() {
    let dir = support::temp_dir("bridge", "spool-undecodable");
    {
        let (spool, _) = Spool::open(SpoolConfig::new(&dir)).unwrap();
        // Version 2 (template keys), one message, cut in the middle of its topic.
        spool
            .append(&[2, 0, 1, 4, 0, 0, 0, 1, 0, 0, 0, 9, b'T'])
            .unwrap();
        // A record version no bridge wrote yet.
        spool.append(&[9, 0, 0]).unwrap();
    }
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let b = Arc::clone(&bodies);
    let broker = HostileServer::start(Duration::from_secs(60), move |req| match req.code {
        SEND_MESSAGE_V2 | SEND_BATCH_MESSAGE => {
            b.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&req.body).into_owned());
            frame_of(&send_ok(req))
        }
        _ => frame_of(&RemotingCommand::response_to(req, 0, None)),
    });
    let ns = FakeNameServer::start(&broker.addr);
    let text = format!(
        "bridge.rocket.servers = {}\nbridge.rocket.produce = async\nbridge.rocket.spool.dir = {}\n\
         bridge.rocket.loss_report.topic = Loss\nbridge.rocket.bridge_id = undec\n\
         bridge.rocket.stats_interval = 0s\n\
         bridge.rocket.hook.message.publish.1 = {{\"filter\": \"#\", \"topic\": \"T\"}}\n",
        ns.addr,
        dir.display()
    );
    let bridge = Bridge::start(BridgeConfig::parse(&text, "undec.conf").unwrap()).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || {
            bridge.stats().spool.is_some_and(|s| s.undecodable == 2)
        }),
        "{:?}",
        bridge.stats().spool
    );
    let m = rocketmq_bridge::metrics::render(&bridge.metrics());
    assert!(
        m.lines().any(|l| l
            .starts_with("rocketmq_bridge_spool_dropped_total{reason=\"undecodable\"}")
            && l.ends_with(" 2")),
        "{m}"
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            bodies
                .lock()
                .unwrap()
                .iter()
                .any(|b| b.contains("loss_report") && b.contains("\"undecodable\""))
        }),
        "an in-band loss report names the undecodable records: {:?}",
        bodies.lock().unwrap()
    );
    let report = bridge.shutdown(Duration::from_secs(2));
    assert_eq!(report.stats.spool.unwrap().undecodable, 2);
    let _ = std::fs::remove_dir_all(&dir);
}
