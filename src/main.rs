//! The `rocketmq-bridge` command line (placeholder until the CLI package lands).

fn main() {}
