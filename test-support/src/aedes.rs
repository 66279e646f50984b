//! Real aedes 1.2.0 (Node.js, MQTT 3.1.1), the second MQTT broker of the tests, started per test on
//! a free loopback port by `interop/aedes/broker.mjs` (installed once by `scripts/aedes.sh install`).
//! Its sessions live in memory: they survive a client's reconnect, not a broker restart. Every wait
//! is bounded; the broker is killed when the handle drops, exits when the test process is gone (its
//! stdin closes) and after 30 minutes in any case.

use crate::mosquitto::free_port;
use crate::{ms, repo_root};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// Runs `scripts/aedes.sh install` once per test process; returns the directory with its
/// `node_modules`.
pub fn install() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/aedes.sh"))
            .arg("install")
            .stdin(Stdio::null())
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "scripts/aedes.sh install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

/// An aedes process on a free loopback port; killed on drop.
pub struct Aedes {
    /// The listener port on 127.0.0.1.
    pub port: u16,
    /// The directory of its log (`aedes.log`).
    pub dir: PathBuf,
    child: Option<Child>,
    /// Held open: the broker exits when it closes.
    _stdin: Option<ChildStdin>,
}

impl Aedes {
    /// Starts aedes in `dir` on a free port and waits (at most 10 s) until it accepts connections.
    pub fn start(dir: &Path) -> Aedes {
        Aedes::start_on(dir, free_port())
    }

    /// Starts aedes in `dir` on `port` (e.g. the port of one killed before: a broker restart; its
    /// log, `dir/aedes.log`, starts anew) and waits (at most 10 s) until it accepts connections.
    pub fn start_on(dir: &Path, port: u16) -> Aedes {
        let modules = install();
        std::fs::create_dir_all(dir).unwrap();
        let log = std::fs::File::create(dir.join("aedes.log")).unwrap();
        let mut child = Command::new("node")
            .arg(repo_root().join("interop/aedes/broker.mjs"))
            .args(["--port", &port.to_string(), "--modules"])
            .arg(&modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("node installed (Node.js 20 or later)");
        let stdin = child.stdin.take();
        let mut b = Aedes {
            port,
            dir: dir.to_path_buf(),
            child: Some(child),
            _stdin: stdin,
        };
        let deadline = Instant::now() + ms(10_000);
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                // Not a socket connected to itself (see `mosquitto::Broker::start`).
                Ok(s) if s.local_addr().ok() != s.peer_addr().ok() => break,
                _ => {}
            }
            if let Some(st) = b.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("aedes exited early ({st}): {}", b.log());
            }
            assert!(
                Instant::now() < deadline,
                "aedes did not listen: {}",
                b.log()
            );
            std::thread::sleep(ms(20));
        }
        b
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("aedes.log")).unwrap_or_default()
    }

    /// The broker's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILLs the broker and reaps it (its in-memory sessions are gone).
    pub fn kill(mut self) -> String {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.log()
    }
}

impl Drop for Aedes {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
