//! The C ABI from C: the header against the library (exported symbols, constants, layout), the C
//! test host `tests/c/send_all.c` compiled with the system `cc` and run against the real broker
//! (directly and under valgrind), and the Python ctypes example `examples/capi_ctypes.py`; every
//! message is read back from the broker.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rocketmq_bridge::bridge::{format_event, Event, EventKind, PayloadEncoding};
use rocketmq_bridge_capi::abi;
use rocketmq_bridge_test_support as support;
use support::{read_back, shared_cluster, suffix, temp_dir, Cluster, ReadBack};

const READ_BACK: ReadBack =
    ReadBack::new("capi_read_back").bounded(Duration::from_secs(30), Duration::from_millis(200));
const NODE: &str = "capi@127.0.0.1";
/// The seed config's topics, one per event kind in `EventKind::ALL` order.
const SEED_TOPICS: [&str; 7] = [
    "ClientConnected",
    "ClientDisconnected",
    "SessionSubscribed",
    "SessionUnsubscribed",
    "MessagePublish",
    "MessageDeliver",
    "MessageAcked",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn header() -> String {
    std::fs::read_to_string(repo().join("include/rocketmq_bridge.h")).unwrap()
}

/// The cdylib cargo built for this test run (the crate's own library target). `cargo test` leaves
/// it (and the staticlib) in `target/debug/deps/`; `cargo build` also copies them to
/// `target/debug/`. The one in `deps/` is this run's, so it comes first.
fn cdylib() -> PathBuf {
    let debug = support::target_dir().join("debug");
    let candidates = [
        debug.join("deps").join("librocketmq_bridge_capi.so"),
        debug.join("librocketmq_bridge_capi.so"),
    ];
    candidates
        .iter()
        .find(|so| so.exists())
        .unwrap_or_else(|| panic!("{} was not built", candidates[0].display()))
        .clone()
}

/// The header without its comments.
fn header_code() -> String {
    let text = header();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find("*/").expect("closed comment");
        rest = &rest[i + end + 2..];
    }
    out.push_str(rest);
    out
}

/// `#define NAME VALUE` lines of the header (value with parentheses removed).
fn defines() -> Vec<(String, String)> {
    header_code()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#define "))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_owned(), it.next()?.to_owned()))
        })
        .map(|(k, v)| (k, v.trim_matches(|c| c == '(' || c == ')').to_owned()))
        .collect()
}

fn define(name: &str) -> i64 {
    let all = defines();
    let v = &all
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("{name} not in the header"))
        .1;
    v.trim_end_matches('u').parse().unwrap()
}

#[test]
fn header_declares_exactly_the_exported_functions() {
    let code = header_code();
    // Every `rmqb_<name>(`: a function declaration (the callback typedefs read `rmqb_x_fn)(`).
    let mut declared: Vec<String> = code
        .match_indices("rmqb_")
        .filter_map(|(i, _)| {
            let name: String = code[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            code[i + name.len()..].starts_with('(').then_some(name)
        })
        .collect();
    declared.sort();
    declared.dedup();
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(cdylib())
        .output()
        .expect("nm (binutils) is installed");
    assert!(out.status.success());
    let mut exported: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|s| s.starts_with("rmqb_"))
        .map(str::to_owned)
        .collect();
    exported.sort();
    assert_eq!(declared, exported);
    // 13 functions in ABI 1.0, rmqb_stats_templates in 1.1.
    assert_eq!(exported.len(), 14, "{exported:?}");
    assert!(exported.iter().any(|f| f == "rmqb_stats_templates"));
}

#[test]
fn header_constants_match_the_rust_side() {
    assert_eq!(
        define("RMQB_ABI_VERSION_MAJOR"),
        i64::from(abi::ABI_VERSION_MAJOR)
    );
    assert_eq!(
        define("RMQB_ABI_VERSION_MINOR"),
        i64::from(abi::ABI_VERSION_MINOR)
    );
    for (code, name) in abi::STATUS_NAMES {
        assert_eq!(define(name), i64::from(code), "{name}");
    }
    for (i, kind) in EventKind::ALL.into_iter().enumerate() {
        let name = format!(
            "RMQB_EVENT_{}",
            kind.hook_name().replace('.', "_").to_uppercase()
        );
        assert_eq!(define(&name), i as i64, "{name}");
    }
    assert_eq!(define("RMQB_LAYOUT_COUNT"), abi::LAYOUT.len() as i64);
    assert_eq!(
        define("RMQB_LAYOUT_COUNT_1_1"),
        abi::LAYOUT_1_1.len() as i64
    );
    for (minor, items) in abi::LAYOUT_MINOR.into_iter().enumerate() {
        for (i, (item, value)) in items.iter().enumerate() {
            let number = (minor << 16) + i;
            assert_eq!(
                define(&format!("RMQB_LAYOUT_{item}")),
                number as i64,
                "{item}"
            );
            assert_eq!(define(&format!("RMQB_{item}")), *value as i64, "{item}");
            assert_eq!(abi::layout(number as u32), *value);
        }
    }
}

/// The seed config (etc/emqx_bridge_rocket.conf, produce = sync) pointed at `c`, with topics
/// suffixed by `sfx`; returns the file and the topics in `EventKind::ALL` order.
fn seed_config(c: &Cluster, sfx: &str, dir: &Path) -> (PathBuf, Vec<String>) {
    let seed = std::fs::read_to_string(repo().join("etc/emqx_bridge_rocket.conf")).unwrap();
    let mut text = seed.replace(
        "bridge.rocket.servers = 127.0.0.1:9876",
        &format!("bridge.rocket.servers = {}", c.namesrv_addrs.join(",")),
    );
    for t in SEED_TOPICS {
        text = text.replace(&format!("\"{t}\""), &format!("\"{t}_{sfx}\""));
    }
    text.push_str(&format!("\nbridge.rocket.node = {NODE}\n"));
    let path = dir.join("bridge.conf");
    std::fs::write(&path, text).unwrap();
    (
        path,
        SEED_TOPICS.iter().map(|t| format!("{t}_{sfx}")).collect(),
    )
}

/// The second config of `send_all.c` (ABI 1.1): one templated rule on `cap/#` with a cap of one
/// topic, pointed at `c`; returns the file and the one topic it may send to.
fn cap_config(c: &Cluster, sfx: &str, dir: &Path) -> (PathBuf, String) {
    let text = format!(
        "bridge.rocket.servers = {}\n\
         bridge.rocket.produce = sync\n\
         bridge.rocket.node = {NODE}\n\
         bridge.rocket.template.max_topics = 1\n\
         bridge.rocket.hook.message.publish.1 = {{\"filter\": \"cap/#\", \"topic\": \"Cap_${{topic.1}}_{sfx}\"}}\n",
        c.namesrv_addrs.join(",")
    );
    let path = dir.join("cap.conf");
    std::fs::write(&path, text).unwrap();
    (path, format!("Cap_a_{sfx}"))
}

/// The events `send_all.c` sends, in its order.
fn c_events() -> Vec<Event> {
    let ts = |k: u64| 1_700_000_000_000 + k;
    let mut out = Vec::new();
    let mut e = Event::client_connected("c-conn", Some("alice".into())).with_ts(ts(0));
    out.push(e.clone());
    e = Event::new(EventKind::ClientDisconnected).with_ts(ts(1));
    e.client_id = Some("c-conn".into());
    e.username = Some("alice".into());
    e.reason = Some("normal".into());
    out.push(e);
    e = Event::new(EventKind::SessionSubscribed).with_ts(ts(2));
    e.client_id = Some("c-sub".into());
    e.topic = Some("a/+".into());
    e.qos = Some(1);
    out.push(e);
    e = Event::new(EventKind::SessionUnsubscribed).with_ts(ts(3));
    e.client_id = Some("c-sub".into());
    e.topic = Some("a/+".into());
    out.push(e);
    e = Event::message_publish("c-pub", "a/b", vec![0u8, 1, 2, 0xff, b'x'].into(), 1)
        .with_ts(ts(4));
    e.username = Some("bob".into());
    e.retain = Some(false);
    out.push(e);
    e = Event::new(EventKind::MessageDelivered).with_ts(ts(5));
    e.client_id = Some("c-sub".into());
    e.username = Some("carol".into());
    e.from = Some("c-pub".into());
    e.topic = Some("a/b".into());
    e.payload = Some("hello".into());
    e.qos = Some(0);
    e.retain = Some(true);
    out.push(e);
    e = Event::new(EventKind::MessageAcked).with_ts(ts(6));
    e.client_id = Some("c-sub".into());
    e.from = Some("c-pub".into());
    e.topic = Some("a/b".into());
    e.payload = Some("".into());
    e.qos = Some(2);
    out.push(e);
    out
}

/// Compiles `send_all.c` against the header and the cdylib with warnings as errors.
fn compile(dir: &Path) -> PathBuf {
    compile_from(dir, &repo().join("include"), "tests/c/send_all.c")
}

/// Compiles the C host `source` (relative to the crate) against the header in `include` and the
/// cdylib with warnings as errors.
fn compile_from(dir: &Path, include: &Path, source: &str) -> PathBuf {
    let so = cdylib();
    let libdir = so.parent().unwrap();
    let exe = dir.join("send_all");
    let out = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .arg("-I")
        .arg(include)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(source))
        .arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(libdir)
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .args(["-lrocketmq_bridge_capi", "-lpthread"])
        .output()
        .expect("the system cc runs");
    assert!(
        out.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

#[test]
fn c_host_links_against_the_static_library() {
    let a = cdylib().with_file_name("librocketmq_bridge_capi.a");
    assert!(a.exists(), "{} was not built", a.display());
    let exe = temp_dir("capi", "static").join("send_all_static");
    // The system libraries a Rust staticlib needs on Linux (`rustc --print native-static-libs`).
    let out = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(repo().join("include"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/send_all.c"))
        .arg(&a)
        .args([
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
        ])
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("the system cc runs");
    assert!(
        out.status.success(),
        "static link failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without a config file the host stops at its argument check: the binary loads and runs
    // without the shared library.
    let run = Command::new(&exe).output().unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("argc == 3"));
}

/// Each topic holds exactly the message of its event, as the library formats it.
fn assert_read_back(c: &Cluster, topics: &[String]) {
    for (ev, topic) in c_events().iter().zip(topics) {
        let got = read_back(&c.namesrv, topic, 1, &READ_BACK);
        assert_eq!(got.len(), 1, "{topic}");
        let mut want = Vec::new();
        format_event(ev, NODE, PayloadEncoding::Base64, &mut want);
        assert_eq!(
            got[0].body,
            want,
            "{topic}: {}",
            String::from_utf8_lossy(&got[0].body)
        );
        assert_eq!(
            got[0].properties.get("mqtt_event"),
            Some(ev.kind.hook_name())
        );
    }
}

fn run_c_host(valgrind: bool) {
    let c = shared_cluster(1, 1);
    let dir = temp_dir("capi", if valgrind { "valgrind" } else { "c" });
    let sfx = suffix();
    let (conf, topics) = seed_config(&c, &sfx, &dir);
    let (cap_conf, cap_topic) = cap_config(&c, &sfx, &dir);
    let exe = compile(&dir);
    let mut cmd = if valgrind {
        let mut v = Command::new("valgrind");
        v.args([
            "--leak-check=full",
            "--error-exitcode=1",
            "--errors-for-leak-kinds=definite,possible",
            "--quiet",
        ])
        .arg(format!(
            "--suppressions={}",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/valgrind.supp")
                .display()
        ))
        .arg(&exe);
        v
    } else {
        Command::new(&exe)
    };
    let out = cmd
        .arg(&conf)
        .arg(&cap_conf)
        .output()
        .expect("the C host runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("c-abi: ok events=7 sent=7 outcomes=3 topic_cap=1"),
        "{stdout}"
    );
    assert_read_back(&c, &topics);
    // The cap bridge's two sends to cap/a (cap/b was dropped as topic_cap, so its topic
    // Cap_b_<sfx> was never created).
    let got = read_back(&c.namesrv, &cap_topic, 2, &READ_BACK);
    assert_eq!(got.len(), 2, "{cap_topic}");
    let ev = Event::message_publish("c-cap", "cap/a", "1".into(), 0).with_ts(1_700_000_000_004);
    let mut want = Vec::new();
    format_event(&ev, NODE, PayloadEncoding::Base64, &mut want);
    for m in &got {
        assert_eq!(m.body, want, "{}", String::from_utf8_lossy(&m.body));
    }
}

#[test]
fn c_host_sends_the_seven_events_and_they_read_back() {
    run_c_host(false);
}

/// The semver promise: a host built against ABI 1.0 (the header and C host of 498f62d, frozen in
/// `tests/c/abi-1.0/`) runs unchanged with this library: its layout checks (including
/// `rmqb_layout(RMQB_LAYOUT_COUNT) == 0`), its calls and its seven events, read back.
#[test]
fn c_host_built_against_abi_1_0_runs_with_this_library() {
    let c = shared_cluster(1, 1);
    let dir = temp_dir("capi", "abi-1.0");
    let sfx = suffix();
    let (conf, topics) = seed_config(&c, &sfx, &dir);
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = compile_from(
        &dir,
        &crate_dir.join("tests/c/abi-1.0"),
        "tests/c/abi-1.0/send_all.c",
    );
    let out = Command::new(&exe)
        .arg(&conf)
        .output()
        .expect("the C host runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let abi = format!("abi={}.{} ", abi::ABI_VERSION_MAJOR, abi::ABI_VERSION_MINOR);
    assert!(
        stdout.contains("c-abi: ok events=7 sent=7 outcomes=3") && stdout.contains(&abi),
        "{stdout}"
    );
    assert_read_back(&c, &topics);
}

#[test]
fn c_host_under_valgrind_has_no_leak_or_error() {
    let v = Command::new("valgrind").arg("--version").output();
    assert!(
        v.is_ok_and(|o| o.status.success()),
        "valgrind is needed (.ci/run installs it)"
    );
    run_c_host(true);
}

#[test]
fn python_ctypes_example_sends_and_reads_back() {
    let c = shared_cluster(1, 1);
    let dir = temp_dir("capi", "python");
    let sfx = suffix();
    let (conf, topics) = seed_config(&c, &sfx, &dir);
    let out = Command::new("python3")
        .arg(repo().join("examples/capi_ctypes.py"))
        .arg(cdylib())
        .arg(&conf)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let topic = &topics[EventKind::MessagePublish.index()];
    let got = read_back(&c.namesrv, topic, 1, &READ_BACK);
    assert_eq!(got.len(), 1, "{topic}");
    let mut ev = Event::message_publish("py-1", "sensors/1/temp", "21.5".into(), 1)
        .with_ts(1_700_000_000_000);
    ev.username = Some("python".into());
    let mut want = Vec::new();
    format_event(&ev, NODE, PayloadEncoding::Base64, &mut want);
    assert_eq!(
        got[0].body,
        want,
        "{}",
        String::from_utf8_lossy(&got[0].body)
    );
    assert!(stdout.contains("sent=1"), "{stdout}");
    let abi = format!(
        "abi={}.{} dropped_topic_cap=0",
        abi::ABI_VERSION_MAJOR,
        abi::ABI_VERSION_MINOR
    );
    assert!(stdout.contains(&abi), "{stdout}");
}
