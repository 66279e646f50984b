/work/main/bench/peer/probe/target/debug/deps/env_logger-9381d308fcb797a4.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/logger.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/writer/mod.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/writer/buffer.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/writer/target.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/fmt/mod.rs

/work/main/bench/peer/probe/target/debug/deps/libenv_logger-9381d308fcb797a4.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/logger.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/writer/mod.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/writer/buffer.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/writer/target.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/fmt/mod.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/logger.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/writer/mod.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/writer/buffer.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/writer/target.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/env_logger-0.11.12/src/fmt/mod.rs:
