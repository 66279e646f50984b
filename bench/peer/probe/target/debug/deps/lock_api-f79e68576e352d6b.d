/work/main/bench/peer/probe/target/debug/deps/lock_api-f79e68576e352d6b.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/guard.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/mutex.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/remutex.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/rwlock.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/condvar.rs

/work/main/bench/peer/probe/target/debug/deps/liblock_api-f79e68576e352d6b.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/guard.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/mutex.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/remutex.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/rwlock.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/condvar.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/guard.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/mutex.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/remutex.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/rwlock.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lock_api-0.5.0/src/condvar.rs:
