//! `Drop` stops and joins the reader thread. Alone in its binary (not a module of `remoting`), so
//! no other test's connections change the thread count it reads from /proc.

use rocketmq_bridge_test_support as support;

use rocketmq_bridge::remoting::{Connection, ConnectionConfig, RemotingCommand};
use support::{ms, FakePeer, Script};

#[test]
fn drop_joins_the_reader_thread() {
    let peer = FakePeer::start(Script::Answer);
    let before = thread_count();
    {
        let conn = Connection::connect(&peer.addr, &ConnectionConfig::default()).unwrap();
        conn.invoke(&RemotingCommand::request(105), ms(2000))
            .unwrap();
        assert_eq!(thread_named("rmq-read-"), 1 + before.1);
    }
    assert!(peer.wait_client_closed(ms(2000)));
    // The thread is gone once drop returned (joined, not detached). A joined thread can stay listed
    // in /proc for a moment after its exit wakes the joiner, so allow the kernel a short bound.
    let deadline = std::time::Instant::now() + ms(500);
    while thread_named("rmq-read-") != before.1 && std::time::Instant::now() < deadline {
        std::thread::sleep(ms(5));
    }
    assert_eq!(thread_named("rmq-read-"), before.1);
}

/// (all threads, reader threads) of this process, from /proc.
fn thread_count() -> (usize, usize) {
    (
        std::fs::read_dir("/proc/self/task").unwrap().count(),
        thread_named("rmq-read-"),
    )
}

/// Threads of this process whose name starts with `prefix` (names are cut to 15 bytes by Linux).
fn thread_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|n| n.starts_with(prefix))
        .count()
}
