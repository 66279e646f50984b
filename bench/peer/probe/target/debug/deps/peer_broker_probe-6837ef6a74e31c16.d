/work/main/bench/peer/probe/target/debug/deps/peer_broker_probe-6837ef6a74e31c16.d: src/main.rs

/work/main/bench/peer/probe/target/debug/deps/libpeer_broker_probe-6837ef6a74e31c16.rmeta: src/main.rs

src/main.rs:
