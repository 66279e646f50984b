//! Helpers shared by the integration tests of the workspace (`tests/` and `mosquitto-plugin/tests/`;
//! `publish = false`, a dev-dependency only): a real RocketMQ cluster started through
//! `scripts/rocketmq.sh`, a scripted fake peer for what a real broker cannot be made to do, the
//! fault proxy ([`fault_proxy`]), hostile peers ([`hostile`]), real mosquitto ([`mosquitto`]) and aedes ([`aedes`]),
//! [`read_back`], fresh temp dirs ([`temp_dir`]), [`eventually`], logging, `ms(n)` and a seeded
//! xorshift.
//!
//! Each test binary is one layer (codec, remoting, producer, spool, bridge, interop, faults,
//! mosquitto) and holds what used to be several binaries as modules. Inside one binary the tests run
//! in parallel threads, where the old binaries ran one after another; [`exclusive`] keeps the tests
//! of different old files that start real brokers apart ([`Cluster::start`] takes it by itself).

pub mod aedes;
pub mod fault_proxy;
pub mod hostile;
pub mod mosquitto;

use bytes::BytesMut;
use rocketmq_bridge::consumer::PullConsumer;
use rocketmq_bridge::message::MessageExt;
use rocketmq_bridge::remoting::codec::{decode_frame, encode_frame, FrameLimits};
use rocketmq_bridge::remoting::RemotingCommand;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Initialises env_logger once (level from `RUST_LOG`, nothing by default).
pub fn init_log() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off"))
            .is_test(true)
            .try_init();
    });
}

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `ci` normally, `full` when `TEST_SCALE=full` (the issues' full sizes).
pub fn scale(ci: usize, full: usize) -> usize {
    if std::env::var("TEST_SCALE").as_deref() == Ok("full") {
        full
    } else {
        ci
    }
}

/// A suffix for names that must not repeat across test runs: the pid and the clock's nanoseconds.
pub fn suffix() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    format!("{}_{n}", std::process::id())
}

/// Polls `f` every 5 ms until it holds or `within` passes; returns whether it held.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(ms(5));
    }
    f()
}

/// A seeded xorshift64* generator; print the seed when a test using it fails.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (0 is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// The workspace root (the directory of the main package).
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn script() -> PathBuf {
    repo_root().join("scripts/rocketmq.sh")
}

/// The cargo target directory (`CARGO_TARGET_DIR`, else `target/` in the workspace root).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Runs `scripts/rocketmq.sh start ARGS` in a fresh directory and checks that the script refuses
/// it (for an option the running implementation lacks, such as rocketmq-rust's `--proxy`): a
/// failed exit, stderr holding each of `wants`, and nothing started. Returns stderr, trimmed.
pub fn assert_cluster_script_refuses(args: &[&str], wants: &[&str]) -> String {
    let dir = target_dir()
        .join("rmq-test")
        .join(format!("refusal-{}", suffix()));
    let out = Command::new("bash")
        .arg(script())
        .arg("start")
        .args(args)
        .args(["--watch-pid", "0", "--dir"])
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert!(
        !out.status.success(),
        "rocketmq.sh start {args:?} must refuse: {err}"
    );
    for w in wants {
        assert!(
            err.contains(w),
            "the refusal of {args:?} lacks {w:?}: {err}"
        );
    }
    assert!(!dir.join("env").exists(), "nothing started");
    err
}

/// Runs `scripts/rocketmq.sh install` once per test process (it returns at once when installed).
pub fn ensure_installed() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let st = Command::new("bash")
            .arg(script())
            .arg("install")
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "scripts/rocketmq.sh install failed: {st}");
    });
}

/// UPDATE_AND_CREATE_TOPIC on one broker (protocol reference §8.7), as `mqadmin updateTopic` and
/// `updateTopicPerm` send it: 4 read and write queues, `perm` 6 (read-write) or 4 (read-only, an
/// operator's drain step). Auto-creation through TBW102 would create a topic only on the brokers
/// the first sends happen to reach.
///
/// # Panics
/// When the broker cannot be reached or refuses.
pub fn create_topic(addr: &str, topic: &str, perm: i32) {
    use rocketmq_bridge::remoting::codes::UPDATE_AND_CREATE_TOPIC;
    use rocketmq_bridge::remoting::{Connection, ConnectionConfig};
    let conn = Connection::connect(addr, &ConnectionConfig::default()).unwrap();
    let cmd = RemotingCommand::request(UPDATE_AND_CREATE_TOPIC)
        .with_ext("topic", topic)
        .with_ext("defaultTopic", "TBW102")
        .with_ext("readQueueNums", "4")
        .with_ext("writeQueueNums", "4")
        .with_ext("perm", &perm.to_string())
        .with_ext("topicFilterType", "SINGLE_TAG")
        .with_ext("topicSysFlag", "0")
        .with_ext("order", "false");
    let resp = conn.invoke(&cmd, Duration::from_secs(10)).unwrap();
    assert_eq!(
        resp.code, 0,
        "topic {topic} perm {perm} on {addr}: {:?}",
        resp.remark
    );
}

/// A real name server / broker set, started by `scripts/rocketmq.sh start` in a fresh directory
/// under `target/rmq-test/` and stopped on drop. The implementation comes from `RMQ_IMPL`
/// (default `rust`).
#[derive(Debug)]
pub struct Cluster {
    /// The run directory (configs, stores, logs, pids, `env`).
    pub dir: PathBuf,
    /// `rust`, `java5` or `java4`.
    pub implementation: String,
    /// Name server addresses joined with `;`.
    pub namesrv: String,
    /// Name server addresses.
    pub namesrv_addrs: Vec<String>,
    /// (broker name, broker address), index 0 is broker 1.
    pub brokers: Vec<(String, String)>,
    /// (broker name, slave address) of each master's slave, index 0 is broker 1's; empty unless
    /// started by [`Cluster::start_with_slaves`].
    pub slaves: Vec<(String, String)>,
    /// The cluster name.
    pub cluster: String,
    /// The remoting address of the proxy in front of the brokers (`RMQ_PROXY`); `None` unless
    /// started by [`Cluster::start_with_proxy`].
    pub proxy: Option<String>,
    /// Every line of `DIR/env`.
    pub env: BTreeMap<String, String>,
    /// Keeps the tests of other source files from starting brokers while this one lives.
    _exclusive: Exclusive,
}

/// Makes test certificates with `openssl` in `dir`: `ca.pem` (a CA), `server.pem` / `server.key`
/// (signed by it, `CA:FALSE`, SAN `IP:127.0.0.1`, PKCS#8 key), `client.pem` / `client.key` (signed
/// by it, for mutual TLS), and `other-ca.pem` (an unrelated CA). EC P-256 keys, valid two days.
///
/// # Panics
/// When `openssl` fails.
pub fn make_test_certs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("openssl is needed for the TLS tests");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for ca in ["ca", "other-ca"] {
        run(&[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=rocketmq-bridge test {ca}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }
    for leaf in ["server", "client"] {
        run(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &format!("{leaf}.key"),
        ]);
        run(&[
            "req",
            "-new",
            "-key",
            &format!("{leaf}.key"),
            "-out",
            &format!("{leaf}.csr"),
            "-subj",
            &format!("/CN=rocketmq-bridge test {leaf}"),
        ]);
        std::fs::write(
            dir.join(format!("{leaf}.ext")),
            "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            &format!("{leaf}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{leaf}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{leaf}.ext"),
        ]);
    }
}

/// Parses `KEY=VALUE` lines.
pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

impl Cluster {
    /// Installs (if needed) and starts `namesrvs` name servers and `brokers` brokers.
    ///
    /// Takes [`exclusive`] for the caller's source file first: clusters of tests from one file
    /// run side by side (as in the one binary that file used to be), clusters of different files one
    /// after another.
    ///
    /// # Panics
    /// When the script fails; its stderr (with the server log tails) is shown by the test runner.
    #[track_caller]
    pub fn start(namesrvs: usize, brokers: usize) -> Cluster {
        Cluster::start_shaped(namesrvs, brokers, false, None)
    }

    /// As [`Cluster::start`], and each master gets a slave (same broker name, brokerId 1, role
    /// SLAVE, its own ports and store: `scripts/rocketmq*.sh start --slaves`), so routes carry
    /// slave addresses. Only the Apache implementations (`RMQ_IMPL=java5`) start slaves; the
    /// rocketmq-rust script refuses, and this panics with its message.
    ///
    /// # Panics
    /// As [`Cluster::start`].
    #[track_caller]
    pub fn start_with_slaves(namesrvs: usize, brokers: usize) -> Cluster {
        Cluster::start_shaped(namesrvs, brokers, true, None)
    }

    /// As [`Cluster::start`], with authentication on the brokers (`scripts/rocketmq*.sh start --acl
    /// USER:SECRET`): Apache RocketMQ 5.x's ACL 2.0, `user` the initial (super) user with `secret`
    /// as its secret key. Only `RMQ_IMPL=java5` starts it; the other scripts refuse, and this
    /// panics with their message.
    ///
    /// # Panics
    /// As [`Cluster::start`].
    #[track_caller]
    pub fn start_with_acl(namesrvs: usize, brokers: usize, user: &str, secret: &str) -> Cluster {
        Cluster::start_shaped(namesrvs, brokers, false, Some(format!("{user}:{secret}")))
    }

    /// As [`Cluster::start`], every server TLS-only (`scripts/rocketmq-java.sh start --tls
    /// CERTDIR`, with `--tls-client-auth` when `client_auth`) with the certificates of
    /// [`make_test_certs`] in `certs`. Always Apache RocketMQ 5.5.0 (`java5`), whatever `RMQ_IMPL`
    /// says: its TLS is what the script configures (the rocketmq-rust script refuses `--tls`).
    ///
    /// # Panics
    /// As [`Cluster::start`].
    #[track_caller]
    pub fn start_tls(namesrvs: usize, brokers: usize, certs: &Path, client_auth: bool) -> Cluster {
        Cluster::start_full(
            namesrvs,
            brokers,
            false,
            None,
            Some((certs, client_auth)),
            false,
        )
    }

    /// As [`Cluster::start`], and an Apache RocketMQ proxy (rocketmq-proxy, cluster mode) in front
    /// of the brokers (`scripts/rocketmq*.sh start --proxy`); its remoting address is
    /// [`Cluster::proxy`]. Only `RMQ_IMPL=java5` starts it; the rocketmq-rust script refuses (it
    /// has no proxy), and this panics with its message.
    ///
    /// # Panics
    /// As [`Cluster::start`].
    #[track_caller]
    pub fn start_with_proxy(namesrvs: usize, brokers: usize) -> Cluster {
        Cluster::start_full(namesrvs, brokers, false, None, None, true)
    }

    #[track_caller]
    fn start_shaped(namesrvs: usize, brokers: usize, slaves: bool, acl: Option<String>) -> Cluster {
        Cluster::start_full(namesrvs, brokers, slaves, acl, None, false)
    }

    #[track_caller]
    fn start_full(
        namesrvs: usize,
        brokers: usize,
        slaves: bool,
        acl: Option<String>,
        tls: Option<(&Path, bool)>,
        with_proxy: bool,
    ) -> Cluster {
        let group = std::panic::Location::caller().file();
        let exclusive = exclusive(group);
        init_log();
        ensure_installed();
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let new_dir = || {
            let dir = target_dir().join("rmq-test").join(format!(
                "{}-{}-{nanos:08x}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            dir
        };
        let mut dir = new_dir();
        let implementation = match tls {
            Some(_) => "java5".to_owned(),
            None => std::env::var("RMQ_IMPL").unwrap_or_else(|_| "rust".to_owned()),
        };
        let mut tls_args: Vec<std::ffi::OsString> = Vec::new();
        if let Some((certs, client_auth)) = tls {
            tls_args.push("--tls".into());
            tls_args.push(certs.into());
            if client_auth {
                tls_args.push("--tls-client-auth".into());
            }
        }
        let start = |dir: &Path| {
            Command::new("bash")
                .arg(script())
                .args(["start", "--dir"])
                .arg(dir)
                .args([
                    "--namesrvs",
                    &namesrvs.to_string(),
                    "--brokers",
                    &brokers.to_string(),
                ])
                .args(slaves.then_some("--slaves"))
                .args(acl.iter().flat_map(|a| ["--acl", a.as_str()]))
                .args(with_proxy.then_some("--proxy"))
                .args(&tls_args)
                .args([
                    "--impl",
                    &implementation,
                    "--watch-pid",
                    &std::process::id().to_string(),
                ])
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .unwrap()
        };
        let mut out = start(&dir);
        if !out.status.success() {
            // A server that exits during its start (seen in a CI run: a rocketmq-rust broker's
            // start-up rolled back with "core.service.failed") is the cluster's flake, not the
            // test's subject: one more start in a fresh directory, with fresh ports; a second
            // failure fails the test.
            eprintln!(
                "test-support: scripts/rocketmq.sh start failed ({}), see {}; starting once more",
                out.status,
                dir.display()
            );
            dir = new_dir();
            out = start(&dir);
        }
        assert!(
            out.status.success(),
            "scripts/rocketmq.sh start failed twice ({}), see {}",
            out.status,
            dir.display()
        );
        let env = parse_env(&std::fs::read_to_string(dir.join("env")).unwrap());
        let get = |k: &str| {
            env.get(k)
                .cloned()
                .unwrap_or_else(|| panic!("{k} missing from {}/env", dir.display()))
        };
        let n: usize = get("RMQ_NAMESRV_COUNT").parse().unwrap();
        let m: usize = get("RMQ_BROKER_COUNT").parse().unwrap();
        assert_eq!((n, m), (namesrvs, brokers));
        let namesrv_addrs = (1..=n).map(|i| get(&format!("RMQ_NAMESRV_{i}"))).collect();
        let brokers = (1..=m)
            .map(|i| {
                (
                    get(&format!("RMQ_BROKER_{i}_NAME")),
                    get(&format!("RMQ_BROKER_{i}")),
                )
            })
            .collect();
        let slave_count: usize = env.get("RMQ_SLAVE_COUNT").map_or(0, |v| v.parse().unwrap());
        assert_eq!(slave_count, if slaves { m } else { 0 });
        let slaves = (1..=slave_count)
            .map(|i| {
                (
                    get(&format!("RMQ_SLAVE_{i}_NAME")),
                    get(&format!("RMQ_SLAVE_{i}")),
                )
            })
            .collect();
        let proxy = env.get("RMQ_PROXY").cloned();
        assert_eq!(
            proxy.is_some(),
            with_proxy,
            "RMQ_PROXY in {}/env",
            dir.display()
        );
        Cluster {
            slaves,
            proxy,
            namesrv: get("RMQ_NAMESRV"),
            cluster: get("RMQ_CLUSTER"),
            implementation,
            namesrv_addrs,
            brokers,
            env,
            dir,
            _exclusive: exclusive,
        }
    }

    fn run(&self, verb: &str, index: usize, extra: &[&str]) {
        let st = Command::new("bash")
            .arg(script())
            .arg(verb)
            .arg("--dir")
            .arg(&self.dir)
            .args(["--index", &(index + 1).to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(
            st.success(),
            "scripts/rocketmq.sh {verb} --index {} failed: {st}",
            index + 1
        );
    }

    /// The pid of broker `i` (0-based): `broker-<n>.pid` (rocketmq-rust) or `broker-<n>/pid` (the
    /// Java script's, the JVM's own pid).
    pub fn broker_pid(&self, i: usize) -> u32 {
        let n = i + 1;
        let files = [
            self.dir.join(format!("broker-{n}.pid")),
            self.dir.join(format!("broker-{n}/pid")),
        ];
        files
            .iter()
            .find_map(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid file for broker {n} in {}", self.dir.display()))
    }

    /// Kills broker `i` (0-based) with SIGKILL.
    pub fn kill_broker(&self, i: usize) {
        self.run("kill-broker", i, &["--signal", "KILL"]);
    }

    /// Stops broker `i` (0-based) with SIGTERM (it unregisters).
    pub fn stop_broker(&self, i: usize) {
        self.run("kill-broker", i, &["--signal", "TERM"]);
    }

    /// Restarts broker `i` (0-based) on its store and ports, and waits until it is routed.
    pub fn start_broker(&self, i: usize) {
        self.run("start-broker", i, &[]);
    }

    /// Kills name server `i` (0-based) with SIGKILL.
    pub fn kill_namesrv(&self, i: usize) {
        self.run("kill-namesrv", i, &["--signal", "KILL"]);
    }

    /// Restarts name server `i` (0-based) on its port.
    pub fn start_namesrv(&self, i: usize) {
        self.run("start-namesrv", i, &[]);
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status();
        // Keep the logs of a failed test; a passing one leaves nothing behind.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fake peer

/// What the fake peer does with the requests it receives.
#[derive(Debug, Clone)]
pub enum Script {
    /// Answers every request at once: code 0, same opaque, ext `echo` = the request's ext `id`.
    Answer,
    /// Holds the first request for the given time before answering it; answers the rest at once.
    StallFirst(Duration),
    /// Answers nothing and keeps the connection open.
    Silent,
    /// Once `after` requests have arrived, writes the first half of a valid response to the last
    /// one and closes.
    CutFrameAndClose {
        /// Requests to wait for.
        after: usize,
    },
    /// Answers every request first with an unknown opaque (`opaque + 1_000_000`), then correctly.
    UnknownOpaqueFirst,
    /// On the first request, writes `n` random bytes from `seed` whose prefix can never be a valid
    /// frame (type byte 0x7E), then keeps the connection open.
    Garbage {
        /// Number of bytes.
        n: usize,
        /// The xorshift seed.
        seed: u64,
    },
    /// On the first request, writes these raw bytes, then keeps the connection open.
    Raw(Vec<u8>),
    /// At once after accepting, sends a oneway request (code 40) and then a normal request (code 221,
    /// opaque 7777); records what the client sends back; then answers requests like `Answer`.
    PeerRequests,
}

/// A scripted peer on 127.0.0.1:0 that accepts one connection, for what a real broker cannot be
/// made to do. It stops by itself after `lifetime` (10 s) or when the client closes; drop joins it.
pub struct FakePeer {
    /// `127.0.0.1:port`.
    pub addr: String,
    stop: Arc<AtomicBool>,
    /// Frames the client sent that were responses (answers to the peer's requests).
    pub answers: Arc<Mutex<Vec<RemotingCommand>>>,
    /// Requests the peer received.
    pub received: Arc<Mutex<Vec<RemotingCommand>>>,
    /// Set when the peer saw the client close the connection.
    pub client_closed: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// The answer the fake peer gives to `req`.
pub fn echo_answer(req: &RemotingCommand) -> RemotingCommand {
    let mut r = RemotingCommand::response_to(req, 0, None);
    if let Some(id) = req.ext("id") {
        r.ext_fields.push("echo", id);
    }
    r
}

fn frame(cmd: &RemotingCommand) -> Vec<u8> {
    let mut b = BytesMut::new();
    encode_frame(cmd, &mut b, &FrameLimits::default()).unwrap();
    b.to_vec()
}

impl FakePeer {
    /// Starts the peer with `script`.
    pub fn start(script: Script) -> FakePeer {
        init_log();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let client_closed = Arc::new(AtomicBool::new(false));
        let (s, a, r, c) = (
            stop.clone(),
            answers.clone(),
            received.clone(),
            client_closed.clone(),
        );
        let handle = std::thread::Builder::new()
            .name("fake-peer".into())
            .spawn(move || run_peer(listener, script, s, a, r, c, Duration::from_secs(10)))
            .unwrap();
        FakePeer {
            addr,
            stop,
            answers,
            received,
            client_closed,
            handle: Some(handle),
        }
    }

    /// Waits (bounded) until the peer saw the client close.
    pub fn wait_client_closed(&self, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if self.client_closed.load(Ordering::SeqCst) {
                return true;
            }
            std::thread::sleep(ms(5));
        }
        false
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn run_peer(
    listener: TcpListener,
    script: Script,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<RemotingCommand>>>,
    received: Arc<Mutex<Vec<RemotingCommand>>>,
    client_closed: Arc<AtomicBool>,
    lifetime: Duration,
) {
    let end = Instant::now() + lifetime;
    listener.set_nonblocking(true).unwrap();
    let mut stream: TcpStream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if Instant::now() < end && !stop.load(Ordering::SeqCst) => {
                std::thread::sleep(ms(2))
            }
            Err(_) => return,
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(ms(20))).unwrap();
    let lim = FrameLimits::default();
    if let Script::PeerRequests = script {
        let mut oneway = RemotingCommand::request(40).with_ext("consumerGroup", "g");
        oneway.opaque = 7776;
        oneway.flag = rocketmq_bridge::remoting::FLAG_ONEWAY;
        let mut req = RemotingCommand::request(221).with_ext("consumerGroup", "g");
        req.opaque = 7777;
        let mut bytes = frame(&oneway);
        bytes.extend(frame(&req));
        let _ = stream.write_all(&bytes);
    }
    let mut buf = BytesMut::new();
    let mut first = true;
    let mut chunk = [0u8; 4096];
    while Instant::now() < end && !stop.load(Ordering::SeqCst) {
        match stream.read(&mut chunk) {
            Ok(0) => {
                client_closed.store(true, Ordering::SeqCst);
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => {
                client_closed.store(true, Ordering::SeqCst);
                return;
            }
        }
        while let Some(cmd) = decode_frame(&mut buf, &lim).unwrap() {
            if cmd.is_response() {
                answers.lock().unwrap().push(cmd);
                continue;
            }
            received.lock().unwrap().push(cmd.clone());
            let was_first = std::mem::replace(&mut first, false);
            let out: Vec<u8> = match &script {
                Script::Answer | Script::PeerRequests => frame(&echo_answer(&cmd)),
                Script::StallFirst(d) => {
                    if was_first {
                        sleep_unless_stopped(*d, &stop);
                    }
                    frame(&echo_answer(&cmd))
                }
                Script::Silent => Vec::new(),
                Script::CutFrameAndClose { after } if received.lock().unwrap().len() < *after => {
                    Vec::new()
                }
                Script::CutFrameAndClose { .. } => {
                    let f = frame(&echo_answer(&cmd));
                    let _ = stream.write_all(&f[..f.len() / 2]);
                    let _ = stream.flush();
                    return; // drops the stream: the client sees EOF mid-frame
                }
                Script::UnknownOpaqueFirst => {
                    let mut wrong = echo_answer(&cmd);
                    wrong.opaque = cmd.opaque.wrapping_add(1_000_000);
                    wrong.ext_fields.insert("echo", "wrong");
                    let mut f = frame(&wrong);
                    f.extend(frame(&echo_answer(&cmd)));
                    f
                }
                Script::Garbage { n, seed } if was_first => {
                    let mut g = XorShift::new(*seed).bytes((*n).max(8));
                    let len = (g.len() - 4) as u32;
                    g[..4].copy_from_slice(&len.to_be_bytes());
                    g[4] = 0x7E;
                    g
                }
                Script::Raw(bytes) if was_first => bytes.clone(),
                Script::Garbage { .. } | Script::Raw(_) => Vec::new(),
            };
            if !out.is_empty() && stream.write_all(&out).is_err() {
                return;
            }
        }
    }
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(ms(2).min(end.saturating_duration_since(Instant::now())));
    }
}

/// A cluster shared by the tests of one binary that run at the same time: the first caller starts
/// it, the last one to drop its handle stops it.
#[track_caller]
pub fn shared_cluster(namesrvs: usize, brokers: usize) -> Arc<Cluster> {
    type Shape = (usize, usize);
    static SHARED: Mutex<Vec<(Shape, std::sync::Weak<Cluster>)>> = Mutex::new(Vec::new());
    let mut all = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|(_, w)| w.strong_count() > 0);
    if let Some(c) = all
        .iter()
        .find(|(k, _)| *k == (namesrvs, brokers))
        .and_then(|(_, w)| w.upgrade())
    {
        return c;
    }
    let c = Arc::new(Cluster::start(namesrvs, brokers));
    all.push(((namesrvs, brokers), Arc::downgrade(&c)));
    c
}

// ---------------------------------------------------------------------------------------------
// Fake name server and silent broker

/// A name server on 127.0.0.1:0 (any number of connections) that routes every topic to one broker
/// address, 4 writable queues, and answers GET_BROKER_CLUSTER_INFO with that broker. Each
/// connection thread and the accept loop stop by themselves after `LIFETIME` (120 s) or on drop.
pub struct FakeNameServer {
    /// `127.0.0.1:port`.
    pub addr: String,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FakeNameServer {
    const LIFETIME: Duration = Duration::from_secs(120);

    /// Routes every topic to `broker` (`host:port`).
    pub fn start(broker: &str) -> FakeNameServer {
        init_log();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let broker = broker.to_owned();
        let handle = std::thread::Builder::new()
            .name("fake-namesrv".into())
            .spawn(move || {
                let end = Instant::now() + Self::LIFETIME;
                let mut conns = Vec::new();
                while Instant::now() < end && !s.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((c, _)) => {
                            let (s2, b2) = (s.clone(), broker.clone());
                            conns.push(std::thread::spawn(move || serve_ns(c, &b2, &s2, end)));
                        }
                        Err(_) => std::thread::sleep(ms(5)),
                    }
                }
                for c in conns {
                    let _ = c.join();
                }
            })
            .unwrap();
        FakeNameServer {
            addr,
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for FakeNameServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve_ns(mut c: TcpStream, broker: &str, stop: &AtomicBool, end: Instant) {
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(ms(20))).unwrap();
    let route = format!(
        r#"{{"brokerDatas":[{{"brokerAddrs":{{"0":"{broker}"}},"brokerName":"broker-a","cluster":"c"}}],"queueDatas":[{{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}}]}}"#
    );
    let cluster = format!(
        r#"{{"brokerAddrTable":{{"broker-a":{{"brokerAddrs":{{"0":"{broker}"}},"brokerName":"broker-a","cluster":"c"}}}},"clusterAddrTable":{{"c":["broker-a"]}}}}"#
    );
    let lim = FrameLimits::default();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    while Instant::now() < end && !stop.load(Ordering::SeqCst) {
        match c.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        while let Ok(Some(req)) = decode_frame(&mut buf, &lim) {
            let body = match req.code {
                rocketmq_bridge::remoting::codes::GET_ROUTEINFO_BY_TOPIC => route.clone(),
                rocketmq_bridge::remoting::codes::GET_BROKER_CLUSTER_INFO => cluster.clone(),
                _ => String::new(),
            };
            let resp = RemotingCommand::response_to(&req, 0, None).with_body(body.into_bytes());
            if c.write_all(&frame(&resp)).is_err() {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Exclusive groups

/// The group allowed to run now and how many of its guards are alive.
struct Gate {
    state: Mutex<(Option<&'static str>, usize)>,
    turn: Condvar,
}

static GATE: Gate = Gate {
    state: Mutex::new((None, 0)),
    turn: Condvar::new(),
};

/// Held while a test of one group runs; see [`exclusive`].
#[derive(Debug)]
pub struct Exclusive {
    group: &'static str,
}

/// Waits until no test of another group holds the gate, then holds it for `group` until the guard
/// drops. Any number of tests of the same group hold it at once. This keeps what separate test
/// binaries had: the tests of one binary ran in parallel, different binaries one after another.
/// Used for tests that start real brokers (a group is the test's old source file).
pub fn exclusive(group: &'static str) -> Exclusive {
    let mut st = GATE.state.lock().unwrap_or_else(|e| e.into_inner());
    while st.0.is_some_and(|g| g != group) {
        st = GATE.turn.wait(st).unwrap_or_else(|e| e.into_inner());
    }
    st.0 = Some(group);
    st.1 += 1;
    Exclusive { group }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        let mut st = GATE.state.lock().unwrap_or_else(|e| e.into_inner());
        debug_assert_eq!(st.0, Some(self.group));
        st.1 -= 1;
        if st.1 == 0 {
            st.0 = None;
            GATE.turn.notify_all();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Temp dirs and read-back

/// One thread of a process, read from `/proc/PID/task/TID/stat` and `comm`.
#[derive(Debug)]
pub struct ThreadStat {
    /// The thread id.
    pub tid: u32,
    /// Its name (`comm`, at most 15 bytes).
    pub name: String,
    /// The `stat` fields after the command name: `fields[0]` is field 3 (the state), `fields[n]`
    /// field `n + 3` (nice is `fields[16]`, the scheduling policy `fields[38]`).
    pub fields: Vec<String>,
}

/// The threads of process `pid` (none when it is gone; a thread that ends while they are read is
/// left out).
pub fn thread_stats(pid: u32) -> Vec<ThreadStat> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| {
            let path = t.path();
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            // The name in parentheses may hold spaces: the fields follow its last ')'.
            let fields = stat[stat.rfind(')')? + 1..]
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            Some(ThreadStat {
                tid: t.file_name().to_str()?.parse().ok()?,
                name: std::fs::read_to_string(path.join("comm"))
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
                fields,
            })
        })
        .collect()
}

/// A fresh, empty directory `<target>/<area>/<name>-<pid>-<n>` (`n` counts up in the process).
pub fn temp_dir(area: &str, name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = target_dir().join(area).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// How [`read_back`] reads a topic: the consumer group, the bound, the poll period, whether the
/// warm-up messages (body `warmup`) are left out, and whether a failed read panics or counts as
/// nothing read yet.
#[derive(Debug, Clone, Copy)]
pub struct ReadBack {
    /// The pull consumer's group.
    pub group: &'static str,
    /// Gives up (returning what is there) after this long.
    pub within: Duration,
    /// Reads again after this long.
    pub poll: Duration,
    /// Leaves out messages whose body is `warmup`.
    pub skip_warmup: bool,
    /// Panics when a read still fails at the deadline (otherwise a failed read counts as no
    /// messages); a failed read before it is retried either way.
    pub strict: bool,
}

impl ReadBack {
    /// Group `group`, 30 s, every 200 ms, warm-ups kept, failed reads retried.
    pub const fn new(group: &'static str) -> ReadBack {
        ReadBack {
            group,
            within: Duration::from_secs(30),
            poll: Duration::from_millis(200),
            skip_warmup: false,
            strict: false,
        }
    }
    /// Gives up after `within`, reading every `poll`.
    pub const fn bounded(mut self, within: Duration, poll: Duration) -> ReadBack {
        self.within = within;
        self.poll = poll;
        self
    }
    /// Leaves out the warm-up messages (body `warmup`).
    pub const fn skip_warmup(mut self) -> ReadBack {
        self.skip_warmup = true;
        self
    }
    /// Panics when a read still fails at the deadline.
    pub const fn strict(mut self) -> ReadBack {
        self.strict = true;
        self
    }
}

/// Every message of `topic` (name servers `ns`), read with a [`PullConsumer`] until at least
/// `at_least` are there or `how.within` passed; returns what it read last.
pub fn read_back(ns: &str, topic: &str, at_least: usize, how: &ReadBack) -> Vec<MessageExt> {
    let c = PullConsumer::new(ns, how.group, None);
    let start = Instant::now();
    loop {
        let got = match c.read_all(topic) {
            Ok(v) => v,
            // A topic a send created is in the name servers' routes only after its broker's next
            // registration, so a failed read is retried; strict reads panic when it still fails
            // at the deadline.
            Err(e) if how.strict && start.elapsed() > how.within => {
                panic!(
                    "reading {topic} back still failed after {:?}: {e:?}",
                    how.within
                )
            }
            Err(_) => Vec::new(),
        };
        let got: Vec<MessageExt> = if how.skip_warmup {
            got.into_iter()
                .filter(|m| &m.body[..] != b"warmup")
                .collect()
        } else {
            got
        };
        if got.len() >= at_least || start.elapsed() > how.within {
            return got;
        }
        std::thread::sleep(how.poll);
    }
}

/// Sends one message with body `warmup` to each of `topics` (name servers `ns`) until one is
/// accepted and the topic has its own route, so that a test's first sends do not meet a cold broker
/// (a JVM broker's first requests may time out) or a topic still being created. At most 60 s a
/// topic. [`ReadBack::skip_warmup`] leaves these messages out of a read-back.
///
/// # Panics
/// When a topic has no route of its own after 60 s.
pub fn warm_up_topics(ns: &str, topics: &[&str]) {
    use rocketmq_bridge::message::Message;
    use rocketmq_bridge::producer::{Producer, ProducerConfig};
    let p = Producer::start(ProducerConfig::new(&[ns], "test_support_warmup")).unwrap();
    for t in topics {
        let start = Instant::now();
        loop {
            let sent = p.send(Message::new(*t, &b"warmup"[..])).is_ok();
            if sent && p.check_route(t).is_ok_and(|i| !i.from_default_topic) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "topic {t} has no route after 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    p.close(Duration::from_secs(2));
}
