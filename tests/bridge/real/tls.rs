//! The bridge over TLS (the `tls` feature) against Apache RocketMQ 5.5.0 started TLS-only
//! (`scripts/rocketmq-java.sh start --tls`; always `java5`, see [`Cluster::start_tls`]), with
//! certificates made by the test with openssl: the seven seed events land and are read back over
//! TLS; a plaintext client, a wrong CA, a wrong server name and a plaintext peer are refused with
//! their reasons; with client auth required, a missing client certificate is refused and a
//! present one works, also as a passphrase-protected key. The tests take turns (one Java cluster at a time).

use super::{config, seed_events, seed_rules};
use rocketmq_bridge::bridge::{format_event, Bridge, BridgeConfig, PayloadEncoding};
use rocketmq_bridge::consumer::PullConsumer;
use rocketmq_bridge::message::MessageExt;
use rocketmq_bridge::remoting::codes::GET_ROUTEINFO_BY_TOPIC;
use rocketmq_bridge::remoting::{
    Connection, ConnectionConfig, DirectConnection, Error, RemotingCommand, TlsConnector, TlsError,
    TlsOptions,
};
use rocketmq_bridge_test_support as support;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::{make_test_certs, suffix, Cluster};

/// One TLS cluster at a time (each is a Java name server and broker).
static ONE_CLUSTER: Mutex<()> = Mutex::new(());

fn certs(name: &str) -> PathBuf {
    let d = support::temp_dir("tls", name);
    make_test_certs(&d);
    d
}

fn connector(certs: &Path, ca: &str, server_name: Option<&str>, client: bool) -> TlsConnector {
    let mut o = TlsOptions::default();
    o.ca_file = Some(certs.join(ca));
    o.server_name = server_name.map(str::to_owned);
    if client {
        o.cert_file = Some(certs.join("client.pem"));
        o.key_file = Some(certs.join("client.key"));
    }
    TlsConnector::new(&o).unwrap()
}

fn conn_cfg(tls: Option<TlsConnector>) -> ConnectionConfig {
    let mut cfg = ConnectionConfig::default();
    cfg.tls = tls;
    cfg
}

/// The bridge config of `c` with TLS on (CA `certs/ca.pem`) and `extra` TLS lines.
fn tls_config(c: &Cluster, certs: &Path, extra: &str, rules: &str) -> BridgeConfig {
    // A loaded machine slows the Java broker's first send to a new topic (auto-creation) past the
    // default 3 s, and sync mode retries an unknown outcome (a second copy).
    let tls = format!(
        "bridge.rocket.produce.sync_timeout = 15s\nbridge.rocket.tls.enable = true\n\
         bridge.rocket.tls.ca_file = {}\n{extra}{rules}",
        certs.join("ca.pem").display()
    );
    config(c, "sync", &tls)
}

fn route_request() -> RemotingCommand {
    RemotingCommand::request(GET_ROUTEINFO_BY_TOPIC).with_ext("topic", "TBW102")
}

/// Asks the name server for TBW102's route over a connection with `cfg`.
fn ask_namesrv(c: &Cluster, cfg: &ConnectionConfig) -> Result<RemotingCommand, Error> {
    let conn = Connection::connect(&c.namesrv_addrs[0], cfg)?;
    conn.invoke(&route_request(), Duration::from_secs(5))
}

/// Reads `topic` over TLS until `n` messages are there (60 s bound: a loaded machine slows the
/// Java broker's first reads of a new topic).
fn read_back_tls(c: &Cluster, tls: TlsConnector, topic: &str, n: usize) -> Vec<MessageExt> {
    let consumer =
        PullConsumer::with_connection(&c.namesrv, "bridge_tls_readback", None, conn_cfg(Some(tls)));
    let start = Instant::now();
    loop {
        let got = match consumer.read_all(topic) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("tls: reading {topic} back failed (retried): {e}");
                Vec::new()
            }
        };
        if got.len() >= n || start.elapsed() > Duration::from_secs(60) {
            return got;
        }
        if let Ok(qs) = consumer.queues(topic) {
            for q in &qs {
                eprintln!(
                    "tls-diag: {topic} q{} min {:?} max {:?}",
                    q.queue.queue_id,
                    consumer.min_offset(q).map_err(|e| e.to_string()),
                    consumer.max_offset(q).map_err(|e| e.to_string())
                );
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn seven_events_land_over_tls_and_plaintext_wrong_ca_and_wrong_name_are_refused() {
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let certs = certs("server-only");
    let c = Cluster::start_tls(1, 1, &certs, false);
    let good = connector(&certs, "ca.pem", None, false);

    // The seven seed events, sent through the bridge over TLS and read back over TLS.
    let sfx = suffix();
    let (rules, topics) = seed_rules(&sfx);
    let bridge = Bridge::start(tls_config(&c, &certs, "", &rules)).unwrap();
    let tx = bridge.sender();
    for ev in seed_events() {
        tx.send(ev).unwrap();
    }
    let prefix = bridge.key_prefix().to_owned();
    for (i, (ev, (_, topic))) in seed_events().into_iter().zip(&topics).enumerate() {
        let got = read_back_tls(&c, good.clone(), topic, 1);
        assert!(!got.is_empty(), "{topic}");
        let mut want = Vec::new();
        format_event(&ev, "emqx@127.0.0.1", PayloadEncoding::Base64, &mut want);
        // Every copy is this event (a sync send retried after a lost answer stores one more).
        for m in &got {
            assert_eq!(m.body, want, "{topic}");
            assert_eq!(m.keys(), vec![format!("{prefix}-{i}")], "{topic}");
        }
        if got.len() > 1 {
            eprintln!("tls: {topic}: {} copies (a retried sync send)", got.len());
        }
    }
    let report = bridge.shutdown(Duration::from_secs(5));
    let t = report.stats.total();
    assert_eq!((t.matched, t.sent, t.failed), (7, 7, 0), "{report}");
    eprintln!("tls: 7 seed events sent and read back over TLS");

    // A plaintext client: the server closes the connection; no answer, and no wait for one.
    let started = Instant::now();
    let plain = ask_namesrv(&c, &ConnectionConfig::default()).unwrap_err();
    assert!(
        matches!(plain, Error::ConnectionClosed { .. } | Error::Io { .. }),
        "{plain:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4), "{plain}");
    let plain_bridge = Bridge::start(config(&c, "sync", &rules)).unwrap_err();
    eprintln!("tls: plaintext client refused: {plain}; bridge: {plain_bridge}");

    // A CA that did not sign the servers' certificates: the name server and the broker.
    let wrong_ca = conn_cfg(Some(connector(&certs, "other-ca.pem", None, false)));
    let e = ask_namesrv(&c, &wrong_ca).unwrap_err();
    assert!(
        matches!(&e, Error::Tls { source: TlsError::UnknownCa, request_sent: false, addr }
            if *addr == c.namesrv_addrs[0]),
        "{e:?}"
    );
    assert!(e.to_string().contains("unknown CA"), "{e}");
    let e = DirectConnection::connect(&c.brokers[0].1, &wrong_ca).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Tls {
                source: TlsError::UnknownCa,
                ..
            }
        ),
        "{e:?}"
    );
    eprintln!("tls: wrong CA refused: {e}");
    let text = format!(
        "bridge.rocket.tls.enable = true\nbridge.rocket.tls.ca_file = {}\n{rules}",
        certs.join("other-ca.pem").display()
    );
    let be = Bridge::start(config(&c, "sync", &text)).unwrap_err();
    assert!(format!("{be}").contains("unknown CA"), "{be}");
    eprintln!("tls: wrong CA, bridge: {be}");

    // A server name the certificates do not carry (their SAN is IP:127.0.0.1 only).
    let wrong_name = conn_cfg(Some(connector(
        &certs,
        "ca.pem",
        Some("broker.example.invalid"),
        false,
    )));
    let e = ask_namesrv(&c, &wrong_name).unwrap_err();
    assert!(
        matches!(&e, Error::Tls { source: TlsError::NameMismatch { expected }, .. }
            if expected == "broker.example.invalid"),
        "{e:?}"
    );
    assert!(e.to_string().contains("name mismatch"), "{e}");
    let be = Bridge::start(tls_config(
        &c,
        &certs,
        "bridge.rocket.tls.server_name = broker.example.invalid\n",
        &rules,
    ))
    .unwrap_err();
    assert!(format!("{be}").contains("name mismatch"), "{be}");
    eprintln!("tls: wrong server name refused: {e}; bridge: {be}");

    // verify = false accepts the certificate whatever the CA (a test broker's setting).
    let unverified = tls_config(&c, &certs, "bridge.rocket.tls.verify = false\n", "");
    let mut o = TlsOptions::default();
    o.verify = false;
    let any = conn_cfg(Some(TlsConnector::new(&o).unwrap()));
    let resp = ask_namesrv(&c, &any).unwrap();
    assert_eq!(resp.code, 0, "{:?}", resp.remark);
    assert!(!unverified.tls.as_ref().unwrap().verify);

    // Our TLS client against a plaintext peer, which closes on the ClientHello as a plaintext
    // RocketMQ server does (it reads a frame length it refuses).
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut b = [0u8; 8];
        let _ = s.read(&mut b);
    });
    let e = Connection::connect(&addr, &conn_cfg(Some(good))).unwrap_err();
    peer.join().unwrap();
    assert!(
        matches!(
            &e,
            Error::Tls {
                source: TlsError::ClosedInHandshake,
                ..
            }
        ),
        "{e:?}"
    );
    eprintln!("tls: plaintext peer: {e}");
}

#[test]
fn client_auth_required_refuses_a_missing_client_certificate() {
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let certs = certs("client-auth");
    let c = Cluster::start_tls(1, 1, &certs, true);

    // No client certificate: the server refuses the session with an alert.
    let started = Instant::now();
    let e = ask_namesrv(
        &c,
        &conn_cfg(Some(connector(&certs, "ca.pem", None, false))),
    )
    .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Tls {
                source: TlsError::Alert(_),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("client certificate"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(4), "{e}");
    eprintln!("tls: missing client certificate refused: {e}");
    let sfx = suffix();
    let topic = format!("TlsClientAuth_{sfx}");
    let rules = format!("bridge.rocket.hook.client.connected.1 = {{\"topic\": \"{topic}\"}}\n");
    let be = Bridge::start(tls_config(&c, &certs, "", &rules)).unwrap_err();
    assert!(format!("{be}").contains("client certificate"), "{be}");
    eprintln!("tls: missing client certificate, bridge: {be}");

    // With the client certificate: an event lands and is read back.
    let extra = format!(
        "bridge.rocket.tls.cert_file = {}\nbridge.rocket.tls.key_file = {}\n",
        certs.join("client.pem").display(),
        certs.join("client.key").display()
    );
    let bridge = Bridge::start(tls_config(&c, &certs, &extra, &rules)).unwrap();
    bridge
        .sender()
        .send(seed_events().into_iter().next().unwrap())
        .unwrap();
    let got = read_back_tls(&c, connector(&certs, "ca.pem", None, true), &topic, 1);
    assert!(!got.is_empty());
    for m in &got {
        assert_eq!(m.keys(), vec![format!("{}-0", bridge.key_prefix())]);
    }
    let report = bridge.shutdown(Duration::from_secs(5));
    assert_eq!(report.stats.total().sent, 1, "{report}");

    // The client key encrypted with a passphrase (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC, as
    // `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes), the passphrase from a file.
    let out = std::process::Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-v2prf",
            "hmacWithSHA256",
        ])
        .arg("-in")
        .arg(certs.join("client.key"))
        .arg("-out")
        .arg(certs.join("client-enc.key"))
        .args(["-passout", "pass:client-key-passphrase"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pass_file = certs.join("client-key.pass");
    let extra = |pass: &str| {
        std::fs::write(&pass_file, format!("{pass}\n")).unwrap();
        format!(
            "bridge.rocket.tls.cert_file = {}\nbridge.rocket.tls.key_file = {}\n\
             bridge.rocket.tls.key_password_file = {}\n",
            certs.join("client.pem").display(),
            certs.join("client-enc.key").display(),
            pass_file.display()
        )
    };
    // A wrong passphrase: a config error naming the key and the key file, not the passphrase.
    let text = format!(
        "bridge.rocket.servers = {}\nbridge.rocket.tls.enable = true\nbridge.rocket.tls.ca_file = {}\n{}{rules}",
        c.namesrv_addrs.join(","),
        certs.join("ca.pem").display(),
        extra("not-it")
    );
    let ce = BridgeConfig::parse(&text, "pass.conf")
        .unwrap_err()
        .to_string();
    assert!(ce.contains("bridge.rocket.tls.key_password_file"), "{ce}");
    assert!(
        ce.contains("client-enc.key") && ce.contains("wrong passphrase"),
        "{ce}"
    );
    assert!(!ce.contains("not-it"), "{ce}");
    eprintln!("tls: wrong key passphrase refused: {ce}");
    // The right one: mutual TLS with the decrypted key; an event lands and is read back.
    let topic2 = format!("TlsClientAuthEnc_{sfx}");
    let rules2 = format!("bridge.rocket.hook.client.connected.1 = {{\"topic\": \"{topic2}\"}}\n");
    let bridge = Bridge::start(tls_config(
        &c,
        &certs,
        &extra("client-key-passphrase"),
        &rules2,
    ))
    .unwrap();
    bridge
        .sender()
        .send(seed_events().into_iter().next().unwrap())
        .unwrap();
    let got = read_back_tls(&c, connector(&certs, "ca.pem", None, true), &topic2, 1);
    assert!(!got.is_empty());
    let report = bridge.shutdown(Duration::from_secs(5));
    assert_eq!(report.stats.total().sent, 1, "{report}");
    eprintln!("tls: encrypted client key with its passphrase: sent and read back");
}

/// A reload re-reads the TLS files and the ACL keys (issue 21): the CA file is replaced by another
/// CA's and the reload makes new connections (the producer's connector, shared by its name-server
/// client and the lookups) refuse the server as signed by an unknown CA, while the connection
/// already open keeps sending; the right CA back, new connections work again; a CA file that
/// cannot be read refuses the config, naming the key and the file, and the running settings stay;
/// turning TLS off needs a restart; the ACL secret is re-read from `acl.secret_key_file`.
#[test]
fn reload_re_reads_the_tls_files_for_new_connections_and_the_acl_keys() {
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let certs = certs("reload");
    let live_ca = certs.join("live-ca.pem");
    std::fs::copy(certs.join("ca.pem"), &live_ca).unwrap();
    let secret_file = certs.join("acl-secret");
    std::fs::write(&secret_file, "secret-one\n").unwrap();
    let c = Cluster::start_tls(1, 1, &certs, false);
    let sfx = suffix();
    let topic = format!("TlsReload_{sfx}");
    let text = |tls: bool, acl: &str| {
        format!(
            "bridge.rocket.servers = {}\nbridge.rocket.produce = sync\nbridge.rocket.node = emqx@127.0.0.1\n\
             bridge.rocket.bridge_id = test-bridge\nbridge.rocket.stats_interval = 0s\n\
             bridge.rocket.produce.sync_timeout = 15s\nbridge.rocket.tls.enable = {tls}\n\
             bridge.rocket.tls.ca_file = {}\n{acl}\
             bridge.rocket.hook.client.connected.1 = {{\"topic\": \"{topic}\"}}\n",
            c.namesrv_addrs.join(","),
            live_ca.display()
        )
    };
    let load = |tls: bool, acl: &str| BridgeConfig::parse(&text(tls, acl), "reload.conf");
    let bridge = Bridge::start(load(true, "").unwrap()).unwrap();
    let tx = bridge.sender();
    let event = || seed_events().into_iter().next().unwrap();
    tx.send(event()).unwrap();
    // What the producer dials new connections with (name servers, brokers, the lookups).
    let producer_conn = bridge.producer().unwrap().config().connection.clone();
    ask_namesrv(&c, &producer_conn).unwrap();

    // The CA file now holds an unrelated CA: reloaded, new connections refuse the server.
    std::fs::copy(certs.join("other-ca.pem"), &live_ca).unwrap();
    bridge.reload(load(true, "").unwrap()).unwrap();
    let e = ask_namesrv(&c, &producer_conn).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Tls {
                source: TlsError::UnknownCa,
                ..
            }
        ),
        "{e:?}"
    );
    eprintln!("tls-reload: wrong CA reloaded, new connection refused: {e}");
    // The broker connection made before the reload keeps its session and keeps sending.
    tx.send(event()).unwrap();

    // The right CA back: new connections work again.
    std::fs::copy(certs.join("ca.pem"), &live_ca).unwrap();
    bridge.reload(load(true, "").unwrap()).unwrap();
    ask_namesrv(&c, &producer_conn).unwrap();

    // A CA file that cannot be used: the config is refused, naming the key and the file, and the
    // running settings stay.
    std::fs::write(&live_ca, "not a certificate\n").unwrap();
    let ce = load(true, "").unwrap_err().to_string();
    assert!(ce.contains("bridge.rocket.tls.ca_file"), "{ce}");
    assert!(ce.contains(&live_ca.display().to_string()), "{ce}");
    eprintln!("tls-reload: unusable CA file refused: {ce}");
    ask_namesrv(&c, &producer_conn).unwrap();
    std::fs::copy(certs.join("ca.pem"), &live_ca).unwrap();

    // Turning TLS off is a restart.
    let be = bridge.reload(load(false, "").unwrap()).unwrap_err();
    assert!(be.to_string().contains("needs a restart"), "{be}");

    // ACL keys: the secret is re-read from its file (this broker does not check signatures; the
    // signature itself is checked against a fake peer in tests/remoting/fake_peer.rs).
    let acl = format!(
        "bridge.rocket.acl.access_key = ak-reload\nbridge.rocket.acl.secret_key_file = {}\n",
        secret_file.display()
    );
    bridge.reload(load(true, &acl).unwrap()).unwrap();
    let creds = bridge.producer().unwrap().shared_acl().get().unwrap();
    assert_eq!(
        (creds.access_key.as_str(), creds.secret_key.as_str()),
        ("ak-reload", "secret-one")
    );
    std::fs::write(&secret_file, "secret-two\n").unwrap();
    bridge.reload(load(true, &acl).unwrap()).unwrap();
    let creds = bridge.producer().unwrap().shared_acl().get().unwrap();
    assert_eq!(creds.secret_key, "secret-two");
    tx.send(event()).unwrap();

    let got = read_back_tls(&c, connector(&certs, "ca.pem", None, false), &topic, 3);
    assert!(got.len() >= 3, "{} of 3", got.len());
    let report = bridge.shutdown(Duration::from_secs(5));
    assert_eq!(report.stats.total().sent, 3, "{report}");
}
