//! Hostile peers on real TCP sockets (127.0.0.1): a multi-connection server answering each request
//! with bytes a closure chooses (a name server serving a hostile route, a broker answering with a
//! hostile header), and a broker that floods stray responses. Each stops by itself after its
//! lifetime or when dropped (drop joins every thread it started).

use bytes::BytesMut;
use rocketmq_bridge::remoting::codec::{decode_frame, encode_frame, FrameLimits};
use rocketmq_bridge::remoting::RemotingCommand;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Encodes `cmd` as one frame.
pub fn frame_of(cmd: &RemotingCommand) -> Vec<u8> {
    let mut b = BytesMut::new();
    encode_frame(cmd, &mut b, &FrameLimits::default()).unwrap();
    b.to_vec()
}

/// A raw frame: JSON header text `header` and `body`, as a peer may write it (no validation).
pub fn raw_json_frame(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + header.len() + body.len());
    f.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    f.extend_from_slice(&(header.len() as u32).to_be_bytes()); // type byte 0: JSON
    f.extend_from_slice(header);
    f.extend_from_slice(body);
    f
}

/// What the server writes back for one request (empty: nothing).
pub type Answer = dyn Fn(&RemotingCommand) -> Vec<u8> + Send + Sync;

/// A server on 127.0.0.1:0 accepting any number of connections; every request gets the bytes
/// `answer` returns. Lives at most `lifetime`.
pub struct HostileServer {
    /// `127.0.0.1:port`.
    pub addr: String,
    /// Requests received, all connections together.
    pub requests: Arc<AtomicUsize>,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl HostileServer {
    /// Starts the server.
    pub fn start(
        lifetime: Duration,
        answer: impl Fn(&RemotingCommand) -> Vec<u8> + Send + Sync + 'static,
    ) -> HostileServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let answer: Arc<Answer> = Arc::new(answer);
        let (st, rq, ac) = (stop.clone(), requests.clone(), accepted.clone());
        let handle = std::thread::spawn(move || {
            let end = Instant::now() + lifetime;
            let mut conns: Vec<JoinHandle<()>> = Vec::new();
            while Instant::now() < end && !st.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        ac.fetch_add(1, Ordering::SeqCst);
                        let (st, rq, answer) = (st.clone(), rq.clone(), answer.clone());
                        conns.push(std::thread::spawn(move || {
                            s.set_nonblocking(false).unwrap();
                            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
                            let mut buf = BytesMut::new();
                            let mut chunk = vec![0u8; 64 * 1024];
                            while Instant::now() < end && !st.load(Ordering::SeqCst) {
                                match s.read(&mut chunk) {
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
                                while let Ok(Some(req)) =
                                    decode_frame(&mut buf, &FrameLimits::default())
                                {
                                    if req.is_response() {
                                        continue;
                                    }
                                    rq.fetch_add(1, Ordering::SeqCst);
                                    let out = answer(&req);
                                    if !out.is_empty() && s.write_all(&out).is_err() {
                                        return;
                                    }
                                }
                            }
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        HostileServer {
            addr,
            requests,
            accepted,
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A route body with one broker `name` at `addr` and the given queue counts (JSON numbers, so
/// they may exceed i32).
pub fn route_body(name: &str, addr: &str, read: u64, write: u64) -> Vec<u8> {
    format!(
        r#"{{"brokerDatas":[{{"brokerAddrs":{{"0":"{addr}"}},"brokerName":"{name}","cluster":"C"}}],"queueDatas":[{{"brokerName":"{name}","perm":6,"readQueueNums":{read},"writeQueueNums":{write}}}]}}"#
    )
    .into_bytes()
}

/// A fake name server answering every GET_ROUTEINFO_BY_TOPIC with `body()` (called per request,
/// so the route may change over time).
pub fn name_server(
    lifetime: Duration,
    body: impl Fn() -> Vec<u8> + Send + Sync + 'static,
) -> HostileServer {
    HostileServer::start(lifetime, move |req| {
        frame_of(&RemotingCommand::response_to(req, 0, None).with_body(body()))
    })
}

/// A broker that answers every request (code 0, a send response's fields) and, once it answered
/// the first request of a connection, floods that connection with stray responses (unknown
/// opaques) for `flood_for`. Serves one connection at a time. `stray_sent` counts the stray frames
/// written, `accepted` the connections.
pub struct FloodingBroker {
    /// `127.0.0.1:port`.
    pub addr: String,
    /// Stray frames written so far.
    pub stray_sent: Arc<AtomicUsize>,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// The answer a fake broker gives to a send (or any request).
pub fn send_ok(req: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(req, 0, None)
        .with_ext("msgId", "7F00000100002A9F0000000000000000")
        .with_ext("queueId", req.ext("e").unwrap_or("0"))
        .with_ext("queueOffset", "42")
}

impl FloodingBroker {
    /// Starts the broker (one connection at a time, up to `lifetime`).
    pub fn start(flood_for: Duration, lifetime: Duration) -> FloodingBroker {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stray_sent = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (st, sent, ac) = (stop.clone(), stray_sent.clone(), accepted.clone());
        let handle = std::thread::spawn(move || {
            let end = Instant::now() + lifetime;
            // A batch of stray responses written at once (about 64 KiB).
            let mut stray = RemotingCommand::request(0);
            stray.flag = rocketmq_bridge::remoting::FLAG_RESPONSE;
            stray.opaque = i32::MAX - 1;
            let one = frame_of(&stray);
            let per_batch = (64 * 1024 / one.len()).max(1);
            let batch: Vec<u8> = one.repeat(per_batch);
            while Instant::now() < end && !st.load(Ordering::SeqCst) {
                let mut s = match l.accept() {
                    Ok((s, _)) => {
                        ac.fetch_add(1, Ordering::SeqCst);
                        s
                    }
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                };
                s.set_nonblocking(true).unwrap();
                let mut buf = BytesMut::new();
                let mut chunk = vec![0u8; 64 * 1024];
                // Each connection is flooded once it answered its first request.
                let mut flood_until: Option<Instant> = None;
                'conn: while Instant::now() < end && !st.load(Ordering::SeqCst) {
                    let mut idle = true;
                    match s.read(&mut chunk) {
                        Ok(0) => break 'conn,
                        Ok(n) => {
                            idle = false;
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                            ) => {}
                        Err(_) => break 'conn,
                    }
                    while let Ok(Some(req)) = decode_frame(&mut buf, &FrameLimits::default()) {
                        if req.is_response() {
                            continue;
                        }
                        let out = frame_of(&send_ok(&req));
                        s.set_nonblocking(false).unwrap();
                        let ok = s.write_all(&out).is_ok();
                        s.set_nonblocking(true).unwrap();
                        if !ok {
                            break 'conn;
                        }
                        flood_until.get_or_insert_with(|| Instant::now() + flood_for);
                    }
                    let flooding = flood_until.is_some_and(|until| Instant::now() < until);
                    if flooding {
                        match s.write(&batch) {
                            Ok(n) => {
                                idle = false;
                                sent.fetch_add(n / one.len(), Ordering::SeqCst);
                                // Keep frames whole: finish a partial batch blocking.
                                let rest = n % one.len();
                                if rest != 0 {
                                    s.set_nonblocking(false).unwrap();
                                    let ok = s.write_all(&one[rest..]).is_ok();
                                    s.set_nonblocking(true).unwrap();
                                    if !ok {
                                        break 'conn;
                                    }
                                    sent.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                            Err(_) => break 'conn,
                        }
                    }
                    if idle {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        });
        FloodingBroker {
            addr,
            stray_sent,
            accepted,
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for FloodingBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
