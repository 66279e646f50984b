//! `run --input FIFO` as the systemd unit runs it: a FIFO does not end the run when its writer
//! closes (only SIGTERM does), the readiness notifications of `Type=notify` arrive in order
//! (`$NOTIFY_SOCKET` a path, then an abstract name), and the progress line is shown on a terminal
//! only. The terminal is a pseudo-terminal from util-linux `script`; every event is read back from
//! a real broker.

use rocketmq_bridge_test_support as support;
use support::{read_back, suffix, warm_up_topics, Cluster, ReadBack};

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rocketmq-bridge");
const READ_BACK: ReadBack = ReadBack::new("bridge_service_input_readback").skip_warmup();
/// Events written in two rounds, the FIFO closed by its writer after each.
const EVENTS: usize = 50;

fn dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bridge_service_input_{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "run did not end in {limit:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn read_back_now(ns: &str, topic: &str) -> usize {
    rocketmq_bridge::consumer::PullConsumer::new(ns, "bridge_service_input_probe", None)
        .read_all(topic)
        .map_or(0, |v| v.len())
}

/// Runs `run --input FIFO` (under a pseudo-terminal when `tty`), writes [`EVENTS`] lines in two
/// rounds, waits until all are read back, then sends SIGTERM. Returns what the terminal (or
/// stderr) showed and the notifications received on a socket given as `$NOTIFY_SOCKET`
/// (an abstract name with `tty`, a path otherwise). A SIGHUP comes before the SIGTERM.
fn run_on_fifo(c: &Cluster, topic: &str, tty: bool) -> (String, Vec<String>) {
    let d = dir();
    let tag = if tty { "tty" } else { "pipe" };
    let (notify, notify_env) = if tty {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("rocketmq-bridge-test-{}-{tag}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        (UnixDatagram::bind_addr(&addr).unwrap(), format!("@{name}"))
    } else {
        let path = d.join(format!("{tag}.notify"));
        let _ = std::fs::remove_file(&path);
        (
            UnixDatagram::bind(&path).unwrap(),
            path.display().to_string(),
        )
    };
    let conf = d.join(format!("{tag}.conf"));
    std::fs::write(
        &conf,
        format!(
            "bridge.rocket.servers = {}\nbridge.rocket.produce = async\n\
             bridge.rocket.drain_timeout = 3s\n\
             bridge.rocket.hook.client.connected.1 = {{\"topic\": \"{topic}\"}}\n",
            c.namesrv_addrs.join(",")
        ),
    )
    .unwrap();
    let fifo = d.join(format!("{tag}.fifo"));
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let pid_file = d.join(format!("{tag}.pid"));
    let _ = std::fs::remove_file(&pid_file);
    let run = format!(
        "{BIN} run --config {} --input {}",
        conf.display(),
        fifo.display()
    );
    let child = if tty {
        // `script` gives the run a pseudo-terminal as stdin, stdout and stderr, and copies what it
        // shows to its own stdout; the shell writes the run's pid before it becomes the run.
        Command::new("script")
            .args(["-qfe", "-c"])
            .arg(format!("echo $$ > {}; exec {run}", pid_file.display()))
            .arg("/dev/null")
            .env("NOTIFY_SOCKET", &notify_env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    } else {
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&conf)
            .arg("--input")
            .arg(&fifo)
            .env("NOTIFY_SOCKET", &notify_env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::fs::write(&pid_file, child.id().to_string()).unwrap();
        child
    };
    // Two writers one after the other: the first one's close must not end the run.
    for round in 0..2 {
        let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        for i in 0..EVENTS / 2 {
            writeln!(
                w,
                "{{\"event\":\"client.connected\",\"client_id\":\"c{round}-{i}\"}}"
            )
            .unwrap();
        }
        drop(w);
        std::thread::sleep(Duration::from_millis(1500));
    }
    let start = Instant::now();
    // `EVENTS` plus the warm-up message.
    while read_back_now(&c.namesrv, topic) <= EVENTS && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let kill = |sig: &str| {
        assert!(Command::new("kill")
            .args(["-s", sig, pid.trim()])
            .status()
            .unwrap()
            .success());
    };
    kill("HUP");
    // More than two progress intervals (one is 1 s), so the terminal shows the final counts even
    // when a loaded machine delays a tick.
    std::thread::sleep(Duration::from_millis(2500));
    kill("TERM");
    let out = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = if tty { &out.stdout } else { &out.stderr };
    notify.set_nonblocking(true).unwrap();
    let mut states = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = notify.recv(&mut buf) {
        states.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    (String::from_utf8_lossy(shown).into_owned(), states)
}

/// What systemd is told over one run with one SIGHUP.
fn want_states() -> Vec<String> {
    [
        "READY=1\nSTATUS=forwarding events",
        "RELOADING=1",
        "READY=1",
        "STOPPING=1\nSTATUS=draining",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn fifo_input_runs_until_sigterm_with_progress_only_on_a_terminal() {
    let c = Cluster::start(1, 1);
    let sfx = suffix();
    let summary = format!("ended by SIGTERM: {EVENTS} lines, {EVENTS} events");
    let topics = [
        format!("ServiceInputTty_{sfx}"),
        format!("ServiceInputPipe_{sfx}"),
    ];
    // A cold JVM broker's first requests may time out: the runs meet a warm broker and topic.
    warm_up_topics(&c.namesrv, &[&topics[0], &topics[1]]);

    let topic = &topics[0];
    let (shown, states) = run_on_fifo(&c, topic, true);
    println!("terminal: {shown:?}");
    assert_eq!(states, want_states());
    // A report erases the progress line first instead of running on after it.
    assert!(
        shown.contains("\r\x1b[Krocketmq-bridge: SIGHUP: rules reloaded"),
        "{shown}"
    );
    assert!(shown.contains(&summary), "{shown}");
    assert!(
        shown.contains(&format!("{EVENTS} lines read, {EVENTS} messages sent, ")),
        "{shown}"
    );
    assert!(shown.contains(" msg/s, "), "{shown}");
    assert!(shown.contains("\r\x1b[K"), "{shown}");
    assert_eq!(
        read_back(&c.namesrv, topic, EVENTS, &READ_BACK).len(),
        EVENTS
    );

    let topic = &topics[1];
    let (shown, states) = run_on_fifo(&c, topic, false);
    assert_eq!(states, want_states());
    assert!(shown.contains(&summary), "{shown}");
    assert!(!shown.contains("lines read"), "{shown}");
    assert!(!shown.contains('\r') && !shown.contains('\x1b'), "{shown}");
    assert_eq!(
        read_back(&c.namesrv, topic, EVENTS, &READ_BACK).len(),
        EVENTS
    );
}
