//! A blocking, multiplexed connection to one peer: callers on any thread write requests under a
//! mutex; one reader thread decodes frames and hands each response to the caller waiting for its
//! opaque. Requests the peer initiates are answered as Java does (reference §12).

use super::codec::{self, DecodeError, FrameLimits};
use super::codes::REQUEST_CODE_NOT_SUPPORTED;
use super::command::{RemotingCommand, FLAG_ONEWAY};
use super::error::Error;
use super::pending::PendingTable;
use super::write_two::{write_all_two, VECTORED_BODY};
use crate::util::worker::Worker;
use bytes::BytesMut;
use parking_lot::Mutex;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes the reader asks the kernel for at a time (the buffer grows in such steps, never by the
/// length a peer announces).
pub const READ_CHUNK: usize = 64 * 1024;

/// Connection settings. Construct with [`ConnectionConfig::default`] and adjust fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// Connect timeout per address. Defaults to 3 s.
    pub connect_timeout: Duration,
    /// Socket write timeout; a peer that stops reading fails the write after it. Defaults to 3 s.
    pub write_timeout: Duration,
    /// SO_SNDBUF in bytes (the seed's `sock.sndbuf`); `None` keeps the kernel default.
    pub send_buffer: Option<usize>,
    /// SO_RCVBUF in bytes (the seed's `sock.recbuf`); `None` keeps the kernel default.
    pub recv_buffer: Option<usize>,
    /// Frame limits for both directions.
    pub limits: FrameLimits,
    /// TLS to the peer (the `tls` feature); `None`: plaintext. Defaults to none.
    #[cfg(feature = "tls")]
    pub tls: Option<super::tls::TlsConnector>,
}

impl Default for ConnectionConfig {
    fn default() -> ConnectionConfig {
        ConnectionConfig {
            connect_timeout: Duration::from_secs(3),
            write_timeout: Duration::from_secs(3),
            send_buffer: None,
            recv_buffer: None,
            limits: FrameLimits::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// A one-shot slot for one response: the reader thread fills it and unparks the waiting caller.
/// Parking directly (one futex call each way) replaces a `bounded(1)` channel, whose receive spins
/// and calls `sched_yield` several times before it blocks; on a busy 2-core machine those yields
/// showed up as a sizeable share of the CPU time of each sync send.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
}

// The response is kept in place (about 200 bytes): boxing it would cost an allocation per
// response, which the other states' smaller size does not repay.
#[allow(clippy::large_enum_variant)]
#[derive(Default)]
enum SlotState {
    /// Nothing yet; the thread to unpark once something arrives.
    #[default]
    Empty,
    /// Someone waits in `wait`.
    Waiting(std::thread::Thread),
    /// The response.
    Ready(RemotingCommand),
    /// The waiter was dropped unfilled (connection died, or the request was given up).
    Closed,
}

impl Slot {
    /// Puts `next` in the slot unless it is already filled or closed, and wakes a waiting thread.
    fn fill(&self, next: SlotState) {
        let mut st = self.state.lock();
        if matches!(*st, SlotState::Ready(_) | SlotState::Closed) {
            return;
        }
        if let SlotState::Waiting(t) = std::mem::replace(&mut *st, next) {
            drop(st);
            t.unpark();
        }
    }

    /// Takes the response if there is one; `Err(())` once closed.
    fn take(&self) -> Result<Option<RemotingCommand>, ()> {
        let mut st = self.state.lock();
        match std::mem::take(&mut *st) {
            SlotState::Ready(cmd) => {
                *st = SlotState::Closed;
                Ok(Some(cmd))
            }
            SlotState::Closed => {
                *st = SlotState::Closed;
                Err(())
            }
            other => {
                *st = other;
                Ok(None)
            }
        }
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

/// The reader's end of a [`Slot`]. Dropping it unfilled closes the slot, which wakes the caller
/// with "connection closed", as dropping a channel sender did.
struct Waiter(Arc<Slot>);

impl Waiter {
    fn send(self, cmd: RemotingCommand) {
        self.0.fill(SlotState::Ready(cmd));
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.0.fill(SlotState::Closed);
    }
}

struct Writer {
    stream: TcpStream,
    buf: BytesMut,
    /// With TLS: the records of `buf`, written to the socket.
    #[cfg(feature = "tls")]
    sealed: Vec<u8>,
}

struct Shared {
    addr: String,
    limits: FrameLimits,
    writer: Mutex<Writer>,
    pending: Mutex<PendingTable<Waiter>>,
    alive: AtomicBool,
    closing: AtomicBool,
    /// Why the reader stopped, when it was the peer's bytes: waiters then get [`Error::Decode`].
    decode_error: Mutex<Option<DecodeError>>,
    stream: TcpStream,
    /// The TLS session. Its lock is held only to encrypt or decrypt a buffer: the reader waits in
    /// `read` without it, and a writer encrypts under it and writes the records after releasing
    /// it (still under the writer's lock, which keeps records in order). Lock order: `writer`,
    /// then `tls`.
    #[cfg(feature = "tls")]
    tls: Option<Mutex<super::tls::TlsSession>>,
    /// Why the reader stopped, when TLS failed: waiters then get [`Error::Tls`].
    #[cfg(feature = "tls")]
    tls_error: Mutex<Option<super::tls::TlsError>>,
}

impl Shared {
    fn kill(&self) {
        self.alive.store(false, Ordering::SeqCst);
        let _ = self.stream.shutdown(Shutdown::Both);
        // Dropping the senders wakes every waiter with "disconnected".
        let waiters = self.pending.lock().drain();
        drop(waiters);
    }

    /// The error for a request not sent because the connection is dead: the peer's TLS refusal
    /// when the reader saw one (a TLS 1.3 server refuses a client certificate after the client's
    /// handshake ended, so the reader may see the alert before the first request), else closed.
    fn unsent_error(&self) -> Error {
        if let Some(e) = self.tls_refusal(false) {
            return e;
        }
        Error::ConnectionClosed {
            addr: self.addr.clone(),
            request_sent: false,
        }
    }

    /// The TLS failure the reader recorded, as the error of a request (sent or not); `None`
    /// without one (and always without TLS).
    fn tls_refusal(&self, request_sent: bool) -> Option<Error> {
        #[cfg(feature = "tls")]
        if let Some(source) = self.tls_error.lock().clone() {
            return Some(Error::Tls {
                addr: self.addr.clone(),
                source,
                request_sent,
            });
        }
        let _ = request_sent;
        None
    }

    /// The error for a waiter whose request was sent when the connection died.
    fn closed_error(&self) -> Error {
        if let Some(e) = self.tls_refusal(true) {
            return e;
        }
        match self.decode_error.lock().clone() {
            Some(source) => Error::Decode {
                addr: self.addr.clone(),
                source,
            },
            None => Error::ConnectionClosed {
                addr: self.addr.clone(),
                request_sent: true,
            },
        }
    }

    fn write_frame(&self, cmd: &RemotingCommand) -> Result<(), Error> {
        let mut w = self.writer.lock();
        w.buf.clear();
        // A large body (a batch) is written from its own buffer behind the header, not copied.
        #[cfg(feature = "tls")]
        let vectored = cmd.body.len() >= VECTORED_BODY && self.tls.is_none();
        #[cfg(not(feature = "tls"))]
        let vectored = cmd.body.len() >= VECTORED_BODY;
        let written = if vectored {
            codec::encode_frame_head(cmd, &mut w.buf, &self.limits).map_err(Error::Encode)?;
            let Writer { stream, buf, .. } = &mut *w;
            write_all_two(stream, buf, &cmd.body)
        } else {
            codec::encode_frame(cmd, &mut w.buf, &self.limits).map_err(Error::Encode)?;
            self.put(&mut w)
        };
        if let Err(e) = written {
            drop(w);
            self.kill();
            // The reader may have seen the peer refuse the session (a fatal alert) first: that
            // is the reason, not the refused write.
            if let Some(refusal) = self.tls_refusal(false) {
                return Err(refusal);
            }
            return Err(Error::Io {
                addr: self.addr.clone(),
                source: e,
            });
        }
        if w.buf.capacity() > 1024 * 1024 {
            w.buf = BytesMut::with_capacity(4096);
        }
        Ok(())
    }

    /// Writes the writer's `buf` to the socket: as is, or encrypted.
    fn put(&self, w: &mut Writer) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let Writer {
                stream,
                buf,
                sealed,
            } = w;
            sealed.clear();
            tls.lock().encrypt(buf, sealed)?;
            let r = stream.write_all(sealed);
            if sealed.capacity() > 1024 * 1024 {
                *sealed = Vec::with_capacity(4096);
            }
            return r;
        }
        w.stream.write_all(&w.buf)
    }

    /// Writes what the TLS session has pending (an alert, a key update answer).
    #[cfg(feature = "tls")]
    fn flush_tls(&self) -> io::Result<()> {
        let Some(tls) = &self.tls else { return Ok(()) };
        let mut w = self.writer.lock();
        let Writer { stream, sealed, .. } = &mut *w;
        sealed.clear();
        tls.lock().take_output(sealed)?;
        stream.write_all(sealed)
    }
}

/// A response on its way: returned by [`Connection::start_invoke`] so one thread can have many
/// requests in flight on one connection (pipelining).
#[derive(Debug)]
pub struct PendingResponse {
    slot: Arc<Slot>,
    opaque: i32,
    deadline: Instant,
    started: Instant,
    shared: Arc<SharedRef>,
}

// A thin wrapper so PendingResponse can be Debug without exposing Shared.
struct SharedRef(Arc<Shared>);
impl std::fmt::Debug for SharedRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.addr)
    }
}

impl PendingResponse {
    /// The request's opaque.
    pub fn opaque(&self) -> i32 {
        self.opaque
    }

    /// The deadline given when the request was sent.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Waits for the response until the deadline.
    ///
    /// # Errors
    /// [`Error::Timeout`] (the waiter is removed, a late response is dropped),
    /// [`Error::Decode`] when the peer sent bytes that are not a frame, or
    /// [`Error::ConnectionClosed`] with `request_sent: true` when the connection closed.
    pub fn wait(self) -> Result<RemotingCommand, Error> {
        loop {
            {
                let mut st = self.slot.state.lock();
                match std::mem::take(&mut *st) {
                    SlotState::Ready(resp) => return Ok(resp),
                    SlotState::Closed => return Err(self.shared.0.closed_error()),
                    SlotState::Empty | SlotState::Waiting(_) => {
                        *st = SlotState::Waiting(std::thread::current())
                    }
                }
            }
            let now = Instant::now();
            if now >= self.deadline {
                break;
            }
            // Returns early on unpark (or spuriously); the loop re-checks the slot.
            std::thread::park_timeout(self.deadline - now);
        }
        let shared = &self.shared.0;
        // Dropping the removed waiter closes the slot; a response that raced in before the
        // removal is still in it.
        drop(shared.pending.lock().remove(self.opaque));
        if let Ok(Some(resp)) = self.slot.take() {
            return Ok(resp);
        }
        Err(Error::Timeout {
            addr: shared.addr.clone(),
            opaque: self.opaque,
            after: self.started.elapsed(),
        })
    }

    /// Returns the response if it has arrived, without waiting; `None` if it has not yet.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] when the connection died.
    pub fn try_take(&self) -> Result<Option<RemotingCommand>, Error> {
        match self.slot.take() {
            Ok(r) => Ok(r),
            Err(()) => Err(self.shared.0.closed_error()),
        }
    }
}

/// One TCP connection to a name server or broker. Cheap to share behind an `Arc`; all methods
/// take `&self`.
pub struct Connection {
    shared: Arc<Shared>,
    reader: Mutex<Option<Worker>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.shared.addr)
            .field("alive", &self.is_alive())
            .finish()
    }
}

fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    Ok(addr.to_socket_addrs()?.collect())
}

/// Connects to `addr` and applies the config's socket options (no delay, write timeout, buffer
/// sizes). Shared by [`Connection`] and [`DirectConnection`](super::direct::DirectConnection).
pub(crate) fn open_stream(addr: &str, cfg: &ConnectionConfig) -> Result<TcpStream, Error> {
    let conn_err = |source| Error::Connect {
        addr: addr.to_owned(),
        source,
    };
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing");
    let mut stream = None;
    for sa in resolve(addr).map_err(conn_err)? {
        match TcpStream::connect_timeout(&sa, cfg.connect_timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let stream = stream.ok_or(last).map_err(conn_err)?;
    stream.set_nodelay(true).map_err(conn_err)?;
    stream
        .set_write_timeout(Some(cfg.write_timeout))
        .map_err(conn_err)?;
    if let Some(n) = cfg.send_buffer {
        crate::sys::set_send_buffer(&stream, n).map_err(conn_err)?;
    }
    if let Some(n) = cfg.recv_buffer {
        crate::sys::set_recv_buffer(&stream, n).map_err(conn_err)?;
    }
    Ok(stream)
}

impl Connection {
    /// Connects to `addr` ("host:port") and starts the reader thread.
    ///
    /// # Errors
    /// [`Error::Connect`] when no address accepts within the connect timeout.
    pub fn connect(addr: &str, cfg: &ConnectionConfig) -> Result<Connection, Error> {
        #[allow(unused_mut)]
        let mut stream = open_stream(addr, cfg)?;
        #[cfg(feature = "tls")]
        let tls = match &cfg.tls {
            Some(c) => Some(Mutex::new(tls_handshake(c, addr, &mut stream, cfg)?)),
            None => None,
        };
        let conn_err = |source| Error::Connect {
            addr: addr.to_owned(),
            source,
        };
        let shared = Arc::new(Shared {
            addr: addr.to_owned(),
            limits: cfg.limits,
            writer: Mutex::new(Writer {
                stream: stream.try_clone().map_err(conn_err)?,
                buf: BytesMut::with_capacity(4096),
                #[cfg(feature = "tls")]
                sealed: Vec::new(),
            }),
            pending: Mutex::new(PendingTable::default()),
            alive: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            decode_error: Mutex::new(None),
            stream: stream.try_clone().map_err(conn_err)?,
            #[cfg(feature = "tls")]
            tls,
            #[cfg(feature = "tls")]
            tls_error: Mutex::new(None),
        });
        let rs = Arc::clone(&shared);
        // The reader ends when the socket does (EOF, error, or `kill`'s shutdown), not on the
        // worker's stop signal.
        let reader = Worker::spawn(&format!("rmq-read-{addr}"), move |_stop| {
            read_loop(rs, stream)
        })
        .map_err(conn_err)?;
        log::debug!("connected addr={addr}");
        Ok(Connection {
            shared,
            reader: Mutex::new(Some(reader)),
        })
    }

    /// The peer address as given.
    pub fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// False once the peer closed, sent garbage, a write failed, or `close` was called.
    pub fn is_alive(&self) -> bool {
        self.shared.alive.load(Ordering::SeqCst)
    }

    /// Number of requests waiting for a response.
    pub fn in_flight(&self) -> usize {
        self.shared.pending.lock().len()
    }

    /// The socket's applied (SO_SNDBUF, SO_RCVBUF) sizes.
    ///
    /// # Errors
    /// The getsockopt error.
    pub fn socket_buffers(&self) -> io::Result<(usize, usize)> {
        Ok((
            crate::sys::send_buffer(&self.shared.stream)?,
            crate::sys::recv_buffer(&self.shared.stream)?,
        ))
    }

    /// Writes a request and returns a handle to wait for its response, so several requests can be
    /// in flight from one thread.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] (`request_sent: false`) on a dead connection, [`Error::Encode`],
    /// or [`Error::Io`] when the write failed (the connection is then closed).
    pub fn start_invoke(
        &self,
        cmd: &RemotingCommand,
        timeout: Duration,
    ) -> Result<PendingResponse, Error> {
        let now = Instant::now();
        let deadline = now + timeout;
        let slot = Arc::new(Slot::default());
        let tx = Waiter(Arc::clone(&slot));
        if !self.is_alive() {
            return Err(self.shared.unsent_error());
        }
        if !self
            .shared
            .pending
            .lock()
            .register(cmd.opaque, tx, deadline)
        {
            return Err(Error::Io {
                addr: self.shared.addr.clone(),
                source: io::Error::new(io::ErrorKind::AlreadyExists, "opaque already in flight"),
            });
        }
        log::trace!(
            "send addr={} code={} opaque={} body_len={}",
            self.shared.addr,
            cmd.code,
            cmd.opaque,
            cmd.body.len()
        );
        if let Err(e) = self.shared.write_frame(cmd) {
            self.shared.pending.lock().remove(cmd.opaque);
            return Err(e);
        }
        // The reader may have died between the liveness check and the registration.
        if !self.is_alive() {
            self.shared.pending.lock().remove(cmd.opaque);
        }
        Ok(PendingResponse {
            slot,
            opaque: cmd.opaque,
            deadline,
            started: now,
            shared: Arc::new(SharedRef(Arc::clone(&self.shared))),
        })
    }

    /// Sends a request and waits for its response for at most `timeout`.
    ///
    /// # Errors
    /// As [`Connection::start_invoke`] and [`PendingResponse::wait`].
    pub fn invoke(
        &self,
        cmd: &RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, Error> {
        self.start_invoke(cmd, timeout)?.wait()
    }

    /// Sends a request with the oneway flag set; no response is expected.
    ///
    /// # Errors
    /// As the write part of [`Connection::start_invoke`].
    pub fn invoke_oneway(&self, cmd: &RemotingCommand) -> Result<(), Error> {
        if !self.is_alive() {
            return Err(self.shared.unsent_error());
        }
        if cmd.is_oneway() {
            self.shared.write_frame(cmd)
        } else {
            let mut c = cmd.clone();
            c.flag |= FLAG_ONEWAY;
            self.shared.write_frame(&c)
        }
    }

    /// Closes the socket and wakes every waiter (with [`Error::ConnectionClosed`]) from a shared
    /// reference; the reader thread is joined when the connection is dropped.
    pub fn abort(&self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.kill();
    }

    fn close_inner(&self) -> bool {
        self.abort();
        match self.reader.lock().take() {
            Some(w) => w.join(),
            None => true,
        }
    }

    /// Closes the socket, wakes every waiter and joins the reader thread.
    ///
    /// # Errors
    /// An error if the reader thread had panicked.
    pub fn close(self) -> Result<(), Error> {
        if self.close_inner() {
            Ok(())
        } else {
            Err(Error::Io {
                addr: self.shared.addr.clone(),
                source: io::Error::other("reader thread panicked"),
            })
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close_inner();
    }
}

fn read_loop(shared: Arc<Shared>, mut stream: TcpStream) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    // Reads land in this zeroed-once chunk and only the bytes read are copied into `buf`:
    // growing `buf` with `resize` would zero a whole chunk on every read (a 64 KiB memset per
    // response, measurable in the sync-send CPU profile).
    let mut chunk = vec![0u8; READ_CHUNK];
    let addr = shared.addr.clone();
    let reason: String = 'outer: loop {
        loop {
            match codec::decode_frame(&mut buf, &shared.limits) {
                Ok(Some(cmd)) => dispatch(&shared, cmd),
                Ok(None) => break,
                Err(e) => {
                    let reason = format!("decode error: {e}");
                    // Recorded before the waiters are woken (by `kill` below).
                    *shared.decode_error.lock() = Some(e);
                    break 'outer reason;
                }
            }
        }
        #[allow(unused_mut)]
        let mut want = codec::read_hint(&buf, &shared.limits, READ_CHUNK);
        #[cfg(feature = "tls")]
        if shared.tls.is_some() {
            // Records do not line up with frames: read what is there.
            want = READ_CHUNK;
        }
        let len = buf.len();
        match stream.read(&mut chunk[..want]) {
            Ok(0) => {
                break if len > 0 {
                    format!("peer closed mid-frame ({len} bytes pending)")
                } else {
                    "peer closed".into()
                };
            }
            #[cfg(feature = "tls")]
            Ok(n) if shared.tls.is_some() => {
                if let Some(reason) = absorb_tls(&shared, &chunk[..n], &mut buf) {
                    // The frames decrypted before the failure or close_notify still count.
                    while let Ok(Some(cmd)) = codec::decode_frame(&mut buf, &shared.limits) {
                        dispatch(&shared, cmd);
                    }
                    break reason;
                }
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break format!("read error: {e}"),
        }
        // Keep a buffer that served a large frame from pinning memory.
        if buf.is_empty() && buf.capacity() > 4 * READ_CHUNK {
            buf = BytesMut::with_capacity(READ_CHUNK);
        }
    };
    if shared.closing.load(Ordering::SeqCst) {
        log::debug!("connection closed addr={addr}");
    } else {
        log::debug!("connection lost addr={addr}: {reason}");
    }
    shared.kill();
}

/// The TLS handshake over `stream`, its failure as an [`Error`] naming `addr`.
#[cfg(feature = "tls")]
pub(crate) fn tls_handshake(
    tls: &super::tls::TlsConnector,
    addr: &str,
    stream: &mut TcpStream,
    cfg: &ConnectionConfig,
) -> Result<super::tls::TlsSession, Error> {
    use super::tls::HandshakeFailure;
    tls.handshake(addr, stream, cfg.connect_timeout)
        .map_err(|f| match f {
            HandshakeFailure::Tls(source) => Error::Tls {
                addr: addr.to_owned(),
                source,
                request_sent: false,
            },
            HandshakeFailure::Io(source) => Error::Connect {
                addr: addr.to_owned(),
                source,
            },
        })
}

/// Decrypts `cipher` into `buf`; `Some(reason)` when the session ended (a TLS error, recorded for
/// the waiters, or the peer's close_notify).
#[cfg(feature = "tls")]
fn absorb_tls(shared: &Shared, cipher: &[u8], buf: &mut BytesMut) -> Option<String> {
    let tls = shared.tls.as_ref()?;
    let res = {
        let mut session = tls.lock();
        let res = session.decrypt(cipher, buf);
        // Recorded before the session is released: a writer whose write fails on the broken
        // session (it takes the same lock) then finds the reason, not a bare I/O error.
        if let Err(e) = &res {
            *shared.tls_error.lock() = Some(e.clone());
        }
        res
    };
    match res {
        Ok(d) => {
            if d.wants_write {
                if let Err(e) = shared.flush_tls() {
                    return Some(format!("tls write error: {e}"));
                }
            }
            d.closed.then(|| "peer closed the TLS session".to_owned())
        }
        Err(e) => {
            let reason = format!("tls error: {e}");
            let _ = shared.flush_tls();
            Some(reason)
        }
    }
}

fn dispatch(shared: &Shared, cmd: RemotingCommand) {
    if cmd.is_response() {
        let waiter = shared.pending.lock().complete(cmd.opaque, Instant::now());
        match waiter {
            Some(w) => {
                log::trace!(
                    "recv addr={} code={} opaque={}",
                    shared.addr,
                    cmd.code,
                    cmd.opaque
                );
                w.send(cmd);
            }
            None => log::debug!(
                "late or unknown response dropped addr={} opaque={} code={}",
                shared.addr,
                cmd.opaque,
                cmd.code
            ),
        }
        return;
    }
    if cmd.is_oneway() {
        log::debug!(
            "peer oneway request ignored addr={} code={} opaque={}",
            shared.addr,
            cmd.code,
            cmd.opaque
        );
        return;
    }
    log::debug!(
        "peer request answered as not supported addr={} code={} opaque={}",
        shared.addr,
        cmd.code,
        cmd.opaque
    );
    if let Err(e) = shared.write_frame(&not_supported(&cmd)) {
        log::debug!("answer to peer request failed addr={}: {e}", shared.addr);
    }
}

/// The answer to a request the peer sent us: code 3 with Java's remark, as Java answers a code it
/// has no processor for (reference §12).
pub(crate) fn not_supported(req: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(
        req,
        REQUEST_CODE_NOT_SUPPORTED,
        Some(format!(" request type {} not supported", req.code)),
    )
}
