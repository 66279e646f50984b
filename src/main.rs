//! `rocketmq-bridge`: the bridge binary and small RocketMQ tools (send, consume, route).

use rocketmq_bridge::cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rocketmq-bridge: {e}");
            ExitCode::from(2)
        }
    }
}
