//! A connection without a reader thread, for one request at a time: the calling thread writes its
//! request and reads the response from the socket itself.
//!
//! [`Connection`](super::Connection) hands every response from its reader thread to the waiting
//! caller: the reader wakes from the socket, then wakes the caller (one futex wake and one wait per
//! request). For a sync send that hand-off was about a quarter of the client's CPU time per
//! message (context switches dominate a sync send's profile). Here the caller blocks in `read`
//! itself, so a request costs one write, one read and no thread switch in our process.
//!
//! The price is exclusivity (`&mut self`: one request in flight; callers keep a small pool) and that
//! nobody reads while the connection is idle. So [`DirectConnection::check_idle`] looks at the
//! socket without blocking before each use: a peer that closed (a restarted broker) is noticed
//! *before* a request is written, which keeps such a request's outcome known (not sent) instead of
//! unknown; requests the peer sent meanwhile are answered as [`Connection`](super::Connection)
//! answers them. After a timeout, an I/O error or bytes that are not a frame the connection is
//! [broken](DirectConnection::is_broken) and must be dropped: a late response could otherwise be
//! mistaken for the next request's.
//!
//! A peer that floods frames is cut off: one idle drain handles at most
//! [`MAX_STRAY_FRAMES_PER_DRAIN`] frames and [`MAX_STRAY_BYTES_PER_DRAIN`] bytes (and stops at the
//! caller's deadline with [`DirectConnection::check_idle_until`]), one wait for a response at most
//! [`MAX_STRAY_FRAMES_PER_DRAIN`] frames that are not its answer; past that the connection is
//! broken, counted in [`drains_over_cap`], and not reused.

use super::codec::{self, FrameLimits};
use super::command::RemotingCommand;
use super::connection::{not_supported, open_stream, ConnectionConfig};
use super::error::Error;
use bytes::BytesMut;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Bytes read from the socket at a time. Send responses are a few hundred bytes; larger frames
/// take several reads (the buffer grows in such steps, never by the length a peer announces).
const DIRECT_READ_CHUNK: usize = 8 * 1024;

/// A buffer that served a frame larger than this is replaced after use.
const KEEP_BUFFER: usize = 64 * 1024;

/// Most frames that are not the awaited response (stray responses, peer requests) one drain of an
/// idle connection ([`DirectConnection::check_idle`]) or one wait for a response handles: 64. A
/// healthy broker sends an idle producer connection a few requests at most (transaction checks,
/// consumer-id changes) and stray responses only after a timeout, which already breaks the
/// connection; a peer past this is flooding, and the connection is closed and not reused.
pub const MAX_STRAY_FRAMES_PER_DRAIN: usize = 64;

/// Most bytes one drain of an idle connection reads: 8 MiB, twice the broker's default largest
/// message (4 MiB), so one peer request carrying a message (a transaction check) fits. Past it the
/// connection is closed and not reused. Memory stays bounded by one frame either way: frames are
/// decoded and released as they arrive.
pub const MAX_STRAY_BYTES_PER_DRAIN: usize = 8 * 1024 * 1024;

static DRAINS_OVER_CAP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times (process-wide) a direct connection was closed because a peer sent more than
/// [`MAX_STRAY_FRAMES_PER_DRAIN`] frames or [`MAX_STRAY_BYTES_PER_DRAIN`] bytes, or kept sending
/// past the caller's deadline, while the connection was idle or waiting for a response.
pub fn drains_over_cap() -> u64 {
    DRAINS_OVER_CAP.load(std::sync::atomic::Ordering::Relaxed)
}

/// One TCP connection used by one thread at a time (see the [module docs](self)).
pub struct DirectConnection {
    addr: String,
    stream: TcpStream,
    limits: FrameLimits,
    wbuf: BytesMut,
    rbuf: BytesMut,
    chunk: Box<[u8]>,
    /// The SO_RCVTIMEO currently applied, to set it only when it changes.
    read_timeout: Option<Duration>,
    /// The configured write timeout, and the SO_SNDTIMEO currently applied.
    write_timeout: Duration,
    write_timeout_set: Duration,
    broken: bool,
    /// The TLS session (the `tls` feature), and the records of the frame being written.
    #[cfg(feature = "tls")]
    tls: Option<super::tls::TlsSession>,
    #[cfg(feature = "tls")]
    sealed: Vec<u8>,
}

impl std::fmt::Debug for DirectConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectConnection")
            .field("addr", &self.addr)
            .field("broken", &self.broken)
            .finish()
    }
}

impl DirectConnection {
    /// Connects to `addr` ("host:port") with the config's socket options.
    ///
    /// # Errors
    /// [`Error::Connect`] when no address accepts within the connect timeout.
    pub fn connect(addr: &str, cfg: &ConnectionConfig) -> Result<DirectConnection, Error> {
        #[allow(unused_mut)]
        let mut stream = open_stream(addr, cfg)?;
        #[cfg(feature = "tls")]
        let tls = match &cfg.tls {
            Some(c) => Some(super::connection::tls_handshake(c, addr, &mut stream, cfg)?),
            None => None,
        };
        log::debug!("connected (direct) addr={addr}");
        Ok(DirectConnection {
            addr: addr.to_owned(),
            stream,
            limits: cfg.limits,
            wbuf: BytesMut::with_capacity(1024),
            rbuf: BytesMut::with_capacity(1024),
            chunk: vec![0u8; DIRECT_READ_CHUNK].into_boxed_slice(),
            read_timeout: None,
            write_timeout: cfg.write_timeout,
            write_timeout_set: cfg.write_timeout,
            broken: false,
            #[cfg(feature = "tls")]
            tls,
            #[cfg(feature = "tls")]
            sealed: Vec::new(),
        })
    }

    /// The peer address as given.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// True once the connection cannot be used again (timeout, I/O or decode error, peer closed).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Looks at the socket without blocking: answers requests the peer sent while the connection
    /// was idle and drops stray responses. Returns false (and marks the connection broken) when the
    /// peer closed or sent bytes that are not a frame, so the caller can connect anew *before*
    /// writing a request. Bounded: past [`MAX_STRAY_FRAMES_PER_DRAIN`] frames or
    /// [`MAX_STRAY_BYTES_PER_DRAIN`] bytes the peer is taken for a flood and the connection is
    /// broken too.
    pub fn check_idle(&mut self) -> bool {
        self.drain_idle(None)
    }

    /// [`DirectConnection::check_idle`], also giving up (and breaking the connection) once
    /// `deadline` passes while the peer keeps sending.
    pub fn check_idle_until(&mut self, deadline: Instant) -> bool {
        self.drain_idle(Some(deadline))
    }

    fn over_cap(&mut self, what: &str) {
        DRAINS_OVER_CAP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        log::warn!(
            "direct connection closed: the peer sends too much ({what}) addr={}",
            self.addr
        );
        self.break_off();
        // What was read belongs to a connection that is not used again.
        self.rbuf = BytesMut::new();
    }

    fn drain_idle(&mut self, deadline: Option<Instant>) -> bool {
        if self.broken {
            return false;
        }
        let mut frames = 0usize;
        let mut bytes = 0usize;
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.over_cap("past the deadline");
                return false;
            }
            match crate::sys::recv_nonblocking(&self.stream, &mut self.chunk) {
                Ok(0) => {
                    log::debug!(
                        "direct connection closed by peer while idle addr={}",
                        self.addr
                    );
                    self.break_off();
                    return false;
                }
                Ok(n) => {
                    bytes += n;
                    if bytes > MAX_STRAY_BYTES_PER_DRAIN {
                        self.over_cap("byte cap");
                        return false;
                    }
                    if let Err(e) = self.absorb(n, false) {
                        log::debug!("direct connection lost while idle: {e}");
                        return false;
                    }
                    loop {
                        match codec::decode_frame(&mut self.rbuf, &self.limits) {
                            Ok(Some(cmd)) => {
                                frames += 1;
                                if frames > MAX_STRAY_FRAMES_PER_DRAIN {
                                    self.over_cap("frame cap");
                                    return false;
                                }
                                if self.handle_other(cmd).is_err() {
                                    self.break_off();
                                    return false;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                log::debug!(
                                    "direct connection decode error addr={}: {e}",
                                    self.addr
                                );
                                self.break_off();
                                return false;
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("direct connection error while idle addr={}: {e}", self.addr);
                    self.break_off();
                    return false;
                }
            }
        }
    }

    /// Writes `cmd` and reads until its response arrives or `timeout` passes.
    ///
    /// # Errors
    /// As [`Connection::invoke`](super::Connection::invoke): [`Error::ConnectionClosed`] with
    /// `request_sent: false` when the connection was already broken, [`Error::Encode`],
    /// [`Error::Io`] (a failed write or read), [`Error::Decode`], [`Error::Timeout`], or
    /// [`Error::ConnectionClosed`] with `request_sent: true` when the peer closed before answering.
    /// Every error but `Encode` leaves the connection broken.
    pub fn invoke(
        &mut self,
        cmd: &RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, Error> {
        if self.broken {
            return Err(Error::ConnectionClosed {
                addr: self.addr.clone(),
                request_sent: false,
            });
        }
        let started = Instant::now();
        let deadline = started + timeout;
        self.wbuf.clear();
        codec::encode_frame(cmd, &mut self.wbuf, &self.limits).map_err(Error::Encode)?;
        log::trace!(
            "send (direct) addr={} code={} opaque={} body_len={}",
            self.addr,
            cmd.code,
            cmd.opaque,
            cmd.body.len()
        );
        self.seal()?;
        self.write_request(deadline)?;
        if self.wbuf.capacity() > KEEP_BUFFER {
            self.wbuf = BytesMut::with_capacity(1024);
        }
        let resp = self.read_response(cmd.opaque, deadline, started);
        if self.rbuf.is_empty() && self.rbuf.capacity() > KEEP_BUFFER {
            self.rbuf = BytesMut::with_capacity(1024);
        }
        resp
    }

    /// Applies SO_SNDTIMEO `t` unless it is the one applied.
    fn set_write_timeout(&mut self, t: Duration) -> Result<(), Error> {
        if t != self.write_timeout_set {
            self.stream
                .set_write_timeout(Some(t))
                .map_err(|e| self.fail_io(e))?;
            self.write_timeout_set = t;
        }
        Ok(())
    }

    /// Writes `wbuf` by `deadline`. SO_SNDTIMEO alone bounds one write call, not the request:
    /// a peer that reads a few KiB before each write timeout ran out would hold a large request
    /// (and the caller) for as long as it likes. Each write gets at most what is left of the
    /// deadline; when it passes the request is cut (a partial frame the peer cannot act on) and
    /// the connection broken.
    fn write_request(&mut self, deadline: Instant) -> Result<(), Error> {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            let data = std::mem::take(&mut self.sealed);
            let r = self.write_bytes(&data, deadline);
            self.sealed = data;
            if self.sealed.capacity() > KEEP_BUFFER {
                self.sealed = Vec::new();
            }
            return r;
        }
        let data = std::mem::take(&mut self.wbuf);
        let r = self.write_bytes(&data, deadline);
        self.wbuf = data;
        r
    }

    /// With TLS, encrypts `wbuf` into `sealed` (the bytes `write_request` then writes).
    fn seal(&mut self) -> Result<(), Error> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            self.sealed.clear();
            if let Err(e) = tls.encrypt(&self.wbuf, &mut self.sealed) {
                return Err(self.fail_io(e));
            }
        }
        Ok(())
    }

    /// Adds the `n` bytes read into `chunk` to `rbuf`: as they are, or decrypted (writing what
    /// the TLS session answers). An error breaks the connection; `sent` says whether a request
    /// is waiting for its answer.
    fn absorb(&mut self, n: usize, sent: bool) -> Result<(), Error> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            let res = tls.decrypt(&self.chunk[..n], &mut self.rbuf);
            let mut out = Vec::new();
            let flushed = tls.take_output(&mut out);
            if !out.is_empty() {
                self.set_write_timeout(self.write_timeout)?;
                if let Err(e) = self.stream.write_all(&out) {
                    return Err(self.fail_io(e));
                }
            }
            return match (res, flushed) {
                (Err(source), _) => {
                    self.break_off();
                    Err(Error::Tls {
                        addr: self.addr.clone(),
                        source,
                        request_sent: sent,
                    })
                }
                (Ok(_), Err(e)) => Err(self.fail_io(e)),
                (Ok(d), Ok(())) if d.closed => {
                    self.break_off();
                    Err(Error::ConnectionClosed {
                        addr: self.addr.clone(),
                        request_sent: sent,
                    })
                }
                (Ok(_), Ok(())) => Ok(()),
            };
        }
        let _ = sent;
        self.rbuf.extend_from_slice(&self.chunk[..n]);
        Ok(())
    }

    fn write_bytes(&mut self, data: &[u8], deadline: Instant) -> Result<(), Error> {
        let mut off = 0;
        while off < data.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.fail_io(io::ErrorKind::TimedOut.into()));
            }
            // Whole milliseconds, at least one (a zero SO_SNDTIMEO means "no timeout").
            let t = Duration::from_millis(left.as_millis() as u64 + 1).min(self.write_timeout);
            self.set_write_timeout(t)?;
            match self.stream.write(&data[off..]) {
                Ok(0) => return Err(self.fail_io(io::ErrorKind::WriteZero.into())),
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail_io(e)),
            }
        }
        Ok(())
    }

    fn read_response(
        &mut self,
        opaque: i32,
        deadline: Instant,
        started: Instant,
    ) -> Result<RemotingCommand, Error> {
        let mut strays = 0usize;
        loop {
            loop {
                match codec::decode_frame(&mut self.rbuf, &self.limits) {
                    Ok(Some(cmd)) if cmd.is_response() && cmd.opaque == opaque => {
                        log::trace!(
                            "recv (direct) addr={} code={} opaque={}",
                            self.addr,
                            cmd.code,
                            cmd.opaque
                        );
                        return Ok(cmd);
                    }
                    Ok(Some(cmd)) => {
                        strays += 1;
                        if strays > MAX_STRAY_FRAMES_PER_DRAIN {
                            self.over_cap("frame cap while awaiting a response");
                            return Err(self.lost_after_send());
                        }
                        if self.handle_other(cmd).is_err() {
                            // Our request left whole; its answer can no longer be read.
                            return Err(self.lost_after_send());
                        }
                    }
                    Ok(None) => break,
                    Err(source) => {
                        self.break_off();
                        return Err(Error::Decode {
                            addr: self.addr.clone(),
                            source,
                        });
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.fail_timeout(opaque, started));
            }
            let remaining = deadline - now;
            // Set SO_RCVTIMEO only when it must shrink below the one applied (or none is applied):
            // the common case, one read per response, costs no extra syscall.
            if self.read_timeout.is_none_or(|t| t > remaining) {
                // Round up to whole milliseconds so repeated sends with one timeout reuse it.
                let t = Duration::from_millis(remaining.as_millis() as u64 + 1);
                if let Err(e) = self.stream.set_read_timeout(Some(t)) {
                    log::debug!("direct connection set_read_timeout addr={}: {e}", self.addr);
                    return Err(self.lost_after_send());
                }
                self.read_timeout = Some(t);
            }
            #[allow(unused_mut)]
            let mut want = codec::read_hint(&self.rbuf, &self.limits, DIRECT_READ_CHUNK);
            #[cfg(feature = "tls")]
            if self.tls.is_some() {
                // Records do not line up with frames: read what is there.
                want = DIRECT_READ_CHUNK;
            }
            match self.stream.read(&mut self.chunk[..want]) {
                Ok(0) => return Err(self.lost_after_send()),
                Ok(n) => self.absorb(n, true)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => {
                    // The request left whole: whether the peer acted on it is unknown.
                    log::debug!("direct connection read error addr={}: {e}", self.addr);
                    return Err(self.lost_after_send());
                }
            }
        }
    }

    /// A frame that is not the awaited response: a peer request is answered "not supported" (as
    /// [`Connection`](super::Connection) does), a oneway request or a stray response is dropped.
    fn handle_other(&mut self, cmd: RemotingCommand) -> Result<(), Error> {
        if cmd.is_response() {
            log::debug!(
                "stray response dropped (direct) addr={} opaque={} code={}",
                self.addr,
                cmd.opaque,
                cmd.code
            );
            return Ok(());
        }
        if cmd.is_oneway() {
            log::debug!(
                "peer oneway request ignored (direct) addr={} code={} opaque={}",
                self.addr,
                cmd.code,
                cmd.opaque
            );
            return Ok(());
        }
        let mut out = BytesMut::with_capacity(256);
        codec::encode_frame(&not_supported(&cmd), &mut out, &self.limits).map_err(Error::Encode)?;
        self.set_write_timeout(self.write_timeout)?;
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            let mut sealed = Vec::with_capacity(out.len() + 64);
            if let Err(e) = tls.encrypt(&out, &mut sealed) {
                return Err(self.fail_io(e));
            }
            return self.stream.write_all(&sealed).map_err(|e| self.fail_io(e));
        }
        self.stream.write_all(&out).map_err(|e| self.fail_io(e))
    }

    /// Marks the connection unusable and closes the socket.
    fn break_off(&mut self) {
        self.broken = true;
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// The request left whole but its answer can no longer be read: outcome unknown.
    fn lost_after_send(&mut self) -> Error {
        self.break_off();
        Error::ConnectionClosed {
            addr: self.addr.clone(),
            request_sent: true,
        }
    }

    fn fail_io(&mut self, source: io::Error) -> Error {
        self.break_off();
        Error::Io {
            addr: self.addr.clone(),
            source,
        }
    }

    fn fail_timeout(&mut self, opaque: i32, started: Instant) -> Error {
        self.break_off();
        Error::Timeout {
            addr: self.addr.clone(),
            opaque,
            after: started.elapsed(),
        }
    }
}
