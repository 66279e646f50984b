//! Unit tests of [`super`].
use super::*;

#[test]
fn cluster_info_tells_whether_a_broker_is_registered() {
    // As a Java name server writes it: bare integer keys in brokerAddrs.
    let live = br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"c"}},"clusterAddrTable":{"c":["broker-a"]}}"#;
    assert_eq!(cluster_info_has_broker(live), Some(true));
    let none = br#"{"brokerAddrTable":{},"clusterAddrTable":{}}"#;
    assert_eq!(cluster_info_has_broker(none), Some(false));
    let no_addr = br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{},"brokerName":"broker-a"}}}"#;
    assert_eq!(cluster_info_has_broker(no_addr), Some(false));
    assert_eq!(cluster_info_has_broker(b""), Some(false));
    assert_eq!(cluster_info_has_broker(b"{not json"), None);
}

#[test]
fn two_bridges_started_in_one_millisecond_get_different_runs() {
    let (a, b) = (run_id(1_700_000_000_000), run_id(1_700_000_000_000));
    assert_ne!(a, b);
    assert_eq!(a >> 32, 1_700_000_000_000);
    let pid = u128::from(std::process::id() & 0x3f_ffff);
    assert_eq!((a >> 10) & 0x3f_ffff, pid);
    assert_ne!(run_id(1), run_id(2));
}
