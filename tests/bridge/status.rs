//! `rocketmq-bridge status`: asks `/health` of a running bridge's metrics endpoint and maps it to
//! the exit code (0 healthy, 1 unhealthy, 2 unreachable). The endpoint here is the library's
//! `MetricsServer` with a fixed health answer; the bridge's own health is covered by
//! the fault suite (`tests/faults/`) against a real broker.

use rocketmq_bridge::metrics::{Health, MetricsServer};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_rocketmq-bridge");

fn status(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN).arg("status").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_exit_code_follows_health_and_prints_the_body() {
    for healthy in [true, false] {
        let server = MetricsServer::start("127.0.0.1:0", Vec::new, move || {
            Health::new(
                healthy,
                serde_json::json!({"status": if healthy { "healthy" } else { "unhealthy" }}),
            )
        })
        .unwrap();
        let addr = server.local_addr().to_string();
        let (code, stdout, stderr) = status(&["--addr", &addr]);
        assert_eq!(code, Some(if healthy { 0 } else { 1 }), "{stderr}");
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(v["status"], if healthy { "healthy" } else { "unhealthy" });
    }
}

#[test]
fn status_without_an_endpoint_is_an_error_naming_the_cause() {
    // A port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, stderr) = status(&["--addr", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("/health"), "{stderr}");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bridge-status-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("no-metrics.conf");
    std::fs::write(&conf, "bridge.rocket.produce = async\n").unwrap();
    let (code, _, stderr) = status(&["--config", conf.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("metrics.listen"), "{stderr}");
    let (code, _, stderr) = status(&[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--config"), "{stderr}");
}
