//! A TCP fault proxy for tests: listens on 127.0.0.1:0, forwards every connection to a target
//! (a real name server or broker), and misbehaves on command. The mode can be switched while
//! connections are open; each pump looks at it before every step.
//!
//! Everything is bounded: sockets poll with short read timeouts, every thread checks the stop
//! flag, the proxy shuts itself down after `LIFETIME`, and drop stops and joins all threads.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The proxy stops by itself after this long.
const LIFETIME: Duration = Duration::from_secs(300);
/// Poll period of the sockets and of the accept loop.
const POLL: Duration = Duration::from_millis(10);

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards everything both ways.
    Pass,
    /// Accepts connections (and connects to the target) but forwards nothing in either direction;
    /// bytes wait in the kernel buffers and flow again when the mode returns to `Pass`.
    Stall,
    /// Requests still pass; the next frame the target sends is forwarded in part (its first half,
    /// at least one byte, never all of it), then both sides of that connection are closed.
    CutMidFrame,
    /// Forwards one byte at a time both ways, sleeping this long after each byte.
    Trickle(Duration),
    /// Closes the listener (so connecting is refused) and every open connection; switching to
    /// another mode listens again on the same port.
    Refuse,
}

struct Shared {
    mode: Mutex<Mode>,
    stop: AtomicBool,
    /// Open connections (client side, target side), to close on `Refuse` and on drop.
    conns: Mutex<Vec<(TcpStream, TcpStream)>>,
    accepted: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap()
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn close_all(&self) {
        for (a, b) in self.conns.lock().unwrap().drain(..) {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }
}

/// The proxy. See the module docs.
pub struct FaultProxy {
    /// `127.0.0.1:port` to connect to instead of the target.
    pub addr: String,
    /// The target.
    pub target: String,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `target` in [`Mode::Pass`].
    pub fn start(target: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Pass),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            accepted: AtomicU64::new(0),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            threads: Mutex::new(Vec::new()),
        });
        let (s, t) = (shared.clone(), target.to_owned());
        let acceptor = std::thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || accept_loop(Some(listener), local, t, s))
            .unwrap();
        FaultProxy {
            addr: local.to_string(),
            target: target.to_owned(),
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Switches the mode for open and future connections.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
        if mode == Mode::Refuse {
            self.shared.close_all();
        }
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.shared.mode()
    }

    /// Closes every open connection (both sides) without changing the mode.
    pub fn close_connections(&self) {
        self.shared.close_all();
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Bytes forwarded (client to target, target to client).
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.shared.bytes_up.load(Ordering::SeqCst),
            self.shared.bytes_down.load(Ordering::SeqCst),
        )
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.close_all();
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
        let threads: Vec<_> = self.shared.threads.lock().unwrap().drain(..).collect();
        for h in threads {
            let _ = h.join();
        }
    }
}

fn accept_loop(
    mut listener: Option<TcpListener>,
    local: SocketAddr,
    target: String,
    shared: Arc<Shared>,
) {
    let end = Instant::now() + LIFETIME;
    if let Some(l) = &listener {
        l.set_nonblocking(true).unwrap();
    }
    while !shared.stopped() && Instant::now() < end {
        let mode = shared.mode();
        if mode == Mode::Refuse {
            listener = None; // closes the port: connects are refused
            std::thread::sleep(POLL);
            continue;
        }
        let Some(l) = listener.as_ref() else {
            // Listen again on the same port (std sets SO_REUSEADDR).
            match TcpListener::bind(local) {
                Ok(l) => {
                    l.set_nonblocking(true).unwrap();
                    listener = Some(l);
                }
                Err(_) => std::thread::sleep(POLL),
            }
            continue;
        };
        let client = match l.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(_) => {
                std::thread::sleep(POLL);
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        client.set_nonblocking(false).unwrap();
        let Ok(server) = target
            .parse::<SocketAddr>()
            .map_err(|_| ())
            .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_secs(3)).map_err(|_| ()))
        else {
            drop(client); // target down: the client sees the close at once
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        shared
            .conns
            .lock()
            .unwrap()
            .push((client.try_clone().unwrap(), server.try_clone().unwrap()));
        let mut hs = Vec::new();
        for up in [true, false] {
            let (from, to) = if up {
                (client.try_clone().unwrap(), server.try_clone().unwrap())
            } else {
                (server.try_clone().unwrap(), client.try_clone().unwrap())
            };
            let s = shared.clone();
            hs.push(
                std::thread::Builder::new()
                    .name(format!("fault-proxy-{}", if up { "up" } else { "down" }))
                    .spawn(move || pump(from, to, up, s))
                    .unwrap(),
            );
        }
        let mut threads = shared.threads.lock().unwrap();
        threads.retain(|h| !h.is_finished());
        threads.extend(hs);
    }
}

/// Where a byte stream is relative to RocketMQ frames (4-byte big-endian length, then that many
/// bytes).
#[derive(Default)]
struct FrameTracker {
    /// Bytes of the current frame body still to come.
    left: usize,
    /// Length-prefix bytes seen of the next frame.
    prefix: Vec<u8>,
}

impl FrameTracker {
    fn advance(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            if self.left > 0 {
                let k = self.left.min(b.len());
                self.left -= k;
                b = &b[k..];
                continue;
            }
            let k = (4 - self.prefix.len()).min(b.len());
            self.prefix.extend_from_slice(&b[..k]);
            b = &b[k..];
            if self.prefix.len() == 4 {
                let p = [
                    self.prefix[0],
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                ];
                self.left = u32::from_be_bytes(p) as usize;
                self.prefix.clear();
            }
        }
    }

    /// Bytes until the next frame starts (0 at a boundary).
    fn to_boundary(&self) -> usize {
        if self.left > 0 {
            self.left
        } else if !self.prefix.is_empty() {
            4 - self.prefix.len()
        } else {
            0
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, up: bool, shared: Arc<Shared>) {
    let counter = if up {
        &shared.bytes_up
    } else {
        &shared.bytes_down
    };
    let _ = from.set_read_timeout(Some(POLL));
    let _ = to.set_write_timeout(Some(Duration::from_secs(5)));
    let mut tracker = FrameTracker::default();
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let forward = |to: &mut TcpStream, b: &[u8], t: &mut FrameTracker| -> bool {
        counter.fetch_add(b.len() as u64, Ordering::SeqCst);
        t.advance(b);
        to.write_all(b).is_ok()
    };
    while !shared.stopped() {
        let mode = shared.mode();
        let cutting = mode == Mode::CutMidFrame && !up;
        if mode == Mode::Stall {
            std::thread::sleep(POLL);
            continue;
        }
        if mode == Mode::Refuse {
            break;
        }
        let need_more =
            pending.is_empty() || (cutting && tracker.to_boundary() == 0 && pending.len() < 4);
        if need_more {
            match from.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(_) => break,
            }
            continue;
        }
        match mode {
            Mode::Trickle(d) => {
                let b = [pending[0]];
                if !forward(&mut to, &b, &mut tracker) {
                    break;
                }
                pending.remove(0);
                std::thread::sleep(d);
            }
            Mode::CutMidFrame if cutting => {
                let rest = tracker.to_boundary();
                if rest > 0 {
                    // Finish the frame in progress first.
                    let k = rest.min(pending.len());
                    let b: Vec<u8> = pending.drain(..k).collect();
                    if !forward(&mut to, &b, &mut tracker) {
                        break;
                    }
                    continue;
                }
                let len = u32::from_be_bytes([pending[0], pending[1], pending[2], pending[3]]);
                let total = 4 + len as usize;
                let k = (total / 2).max(1).min(total - 1).min(pending.len());
                let _ = to.write_all(&pending[..k]);
                counter.fetch_add(k as u64, Ordering::SeqCst);
                let _ = to.flush();
                let _ = to.shutdown(Shutdown::Both);
                let _ = from.shutdown(Shutdown::Both);
                return;
            }
            _ => {
                let b = std::mem::take(&mut pending);
                if !forward(&mut to, &b, &mut tracker) {
                    break;
                }
            }
        }
    }
    // EOF or error on one side: pass the close on.
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
