//! One MQTT connection of `rocketmq-bridge mqtt`: a blocking `std::net::TcpStream` driven through
//! the sans-IO codec of [`crate::mqtt`], on the caller's thread (no thread of its own).
//!
//! Bounds: a read never waits longer than [`POLL`] (the caller looks at its signals between
//! reads) nor past the caller's deadline; the read buffer grows by [`crate::mqtt::read_hint`]
//! steps, so it holds at most one packet of at most [`MqttLimits::max_packet_len`] plus one
//! [`READ_CHUNK`], whatever length a peer announces (a larger announced length is an error before
//! anything is reserved); writes time out after the connect timeout. Keep-alive: a PINGREQ once
//! nothing was sent for half the keep-alive, and no PINGRESP within the keep-alive ends the
//! connection ([`SessionError::Timeout`]), so a stalled broker is noticed within 1.5 keep-alives.

use crate::bridge::config::MqttSettings;
use crate::mqtt::{
    decode_packet, encode_packet, peek_header, read_hint, Connect, Disconnect, MqttError,
    MqttLimits, Packet, Properties, ReasonCode, RetainHandling, Subscribe, SubscribeOptions,
    Version,
};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The longest a read blocks before the caller gets control back.
pub(super) const POLL: Duration = Duration::from_millis(100);
/// Bytes asked of the socket per read at most.
const READ_CHUNK: usize = 64 * 1024;
/// The most PUBLISH packets kept while waiting for the SUBACK (a broker may send messages of the
/// new subscription before its SUBACK) or while a send is retried.
const MAX_EARLY: usize = 65_536;
/// The most bytes (payloads, topics, user properties) of the packets kept so (see [`MAX_EARLY`]); one packet
/// more may take it past this. Without it 65,536 packets of up to the packet limit could be held.
const MAX_EARLY_BYTES: usize = 32 * 1024 * 1024;

/// Why an MQTT connection ended or could not be made. `Display` leaves the cause to `source()`.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionError {
    /// The TCP connection could not be made.
    Connect {
        /// The server as configured.
        addr: String,
        /// The cause.
        source: io::Error,
    },
    /// Reading or writing failed.
    Io(io::Error),
    /// The broker closed the connection.
    Closed,
    /// The broker sent bytes that are not a valid packet (or one longer than the limit).
    Protocol(MqttError),
    /// The broker refused the CONNECT.
    Refused {
        /// CONNACK's return or reason code.
        code: ReasonCode,
        /// MQTT 5 reason string.
        reason: Option<String>,
    },
    /// The broker refused a subscription.
    SubscribeRefused {
        /// The filter.
        filter: String,
        /// SUBACK's code for it.
        code: ReasonCode,
    },
    /// A packet a broker must not send at this point.
    Unexpected {
        /// The packet's name.
        packet: &'static str,
        /// What the client was doing.
        during: &'static str,
    },
    /// No answer in time.
    Timeout {
        /// The packet waited for.
        waiting_for: &'static str,
        /// How long.
        after: Duration,
    },
    /// The spool could not write accepted messages; they were not acknowledged (the broker sends
    /// them again on the next connection).
    Spool(crate::spool::SpoolError),
    /// The TLS handshake or a record failed (a `tls` build).
    #[cfg(feature = "tls")]
    Tls(crate::remoting::TlsError),
    /// SIGINT or SIGTERM came while waiting for the CONNACK or the SUBACK.
    Stopped,
    /// The broker sent DISCONNECT (MQTT 5).
    Disconnected {
        /// Its reason code.
        code: ReasonCode,
        /// Its reason string.
        reason: Option<String>,
    },
}

impl SessionError {
    /// True for the errors a reconnect cannot mend (the broker refused the credentials or a
    /// subscription): the subcommand stops instead of retrying for ever.
    pub fn is_permanent(&self) -> bool {
        match self {
            SessionError::Refused { code, .. } => {
                // 3.1.1: 4 bad user name or password, 5 not authorized; 5.0: 0x84 unsupported
                // protocol version, 0x85 client id not valid, 0x86 bad user name or password,
                // 0x87 not authorized, 0x8C bad authentication method.
                matches!(code.0, 1 | 2 | 4 | 5 | 0x84 | 0x85 | 0x86 | 0x87 | 0x8C)
            }
            SessionError::SubscribeRefused { .. } => true,
            _ => false,
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Connect { addr, .. } => write!(f, "cannot connect to {addr}"),
            SessionError::Io(_) => write!(f, "connection failed"),
            SessionError::Closed => write!(f, "the broker closed the connection"),
            SessionError::Protocol(_) => write!(f, "the broker sent an invalid packet"),
            SessionError::Refused { code, reason } => {
                write!(
                    f,
                    "the broker refused the connection, code 0x{:02x}",
                    code.0
                )?;
                if let Some(r) = reason {
                    write!(f, " ({r:?})")?;
                }
                Ok(())
            }
            SessionError::SubscribeRefused { filter, code } => write!(
                f,
                "the broker refused the subscription {filter:?}, code 0x{:02x}",
                code.0
            ),
            SessionError::Unexpected { packet, during } => {
                write!(f, "the broker sent {packet} while {during}")
            }
            SessionError::Timeout { waiting_for, after } => {
                write!(f, "no {waiting_for} from the broker within {after:?}")
            }
            SessionError::Spool(_) => write!(f, "the spool could not write accepted messages"),
            SessionError::Stopped => write!(f, "stopped by a signal while connecting"),
            #[cfg(feature = "tls")]
            SessionError::Tls(_) => {
                write!(
                    f,
                    "TLS with the MQTT broker failed (bridge.rocket.mqtt.tls.*)"
                )
            }
            SessionError::Disconnected { code, reason } => {
                write!(f, "the broker sent DISCONNECT, code 0x{:02x}", code.0)?;
                if let Some(r) = reason {
                    write!(f, " ({r:?})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SessionError::Connect { source, .. } => Some(source),
            SessionError::Io(e) => Some(e),
            SessionError::Protocol(e) => Some(e),
            SessionError::Spool(e) => Some(e),
            #[cfg(feature = "tls")]
            SessionError::Tls(e) => Some(e),
            _ => None,
        }
    }
}

/// An open, connected MQTT session.
pub(super) struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    out: BytesMut,
    version: Version,
    lim: MqttLimits,
    keepalive: Duration,
    last_sent: Instant,
    ping_sent: Option<Instant>,
    /// PUBLISH packets that came before the SUBACK, handed out first by [`Conn::next`].
    early: VecDeque<Packet>,
    /// The bytes of `early` as [`held_bytes`] counts them.
    early_bytes: usize,
    /// The broker had a session for the client id (CONNACK).
    pub(super) session_present: bool,
    /// The TLS session (`mqtt.tls.enable`), and its records read but not yet decrypted.
    #[cfg(feature = "tls")]
    tls: Option<crate::remoting::tls::TlsSession>,
    #[cfg(feature = "tls")]
    cipher: Vec<u8>,
}

/// What TLS connections are made with: the connector in a `tls` build, nothing otherwise (no
/// value of it exists, so no connection asks for TLS).
#[cfg(feature = "tls")]
pub(super) type Tls = crate::remoting::TlsConnector;
/// What TLS connections are made with: nothing in a build without `tls`.
#[cfg(not(feature = "tls"))]
pub(super) type Tls = std::convert::Infallible;

impl Conn {
    /// Connects, sends CONNECT (clean start off) and reads the CONNACK.
    pub(super) fn open(
        m: &MqttSettings,
        lim: MqttLimits,
        tls: Option<&Tls>,
    ) -> Result<Conn, SessionError> {
        let connect_err = |source| SessionError::Connect {
            addr: m.server.clone(),
            source,
        };
        let addr = m
            .server
            .to_socket_addrs()
            .map_err(connect_err)?
            .next()
            .ok_or_else(|| connect_err(io::Error::new(io::ErrorKind::NotFound, "no address")))?;
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut stream =
            TcpStream::connect_timeout(&addr, m.connect_timeout).map_err(connect_err)?;
        #[cfg(feature = "tls")]
        let session = match tls {
            Some(t) => Some(
                t.handshake(&m.server, &mut stream, m.connect_timeout)
                    .map_err(|e| match e {
                        crate::remoting::tls::HandshakeFailure::Tls(e) => SessionError::Tls(e),
                        crate::remoting::tls::HandshakeFailure::Io(e) => SessionError::Io(e),
                    })?,
            ),
            None => None,
        };
        #[cfg(not(feature = "tls"))]
        if let Some(never) = tls {
            match *never {}
        }
        stream.set_nodelay(true).map_err(SessionError::Io)?;
        stream
            .set_write_timeout(Some(m.connect_timeout))
            .map_err(SessionError::Io)?;
        let mut c = Conn {
            stream,
            buf: BytesMut::new(),
            out: BytesMut::new(),
            version: m.version,
            lim,
            keepalive: m.keepalive,
            last_sent: Instant::now(),
            ping_sent: None,
            early: VecDeque::new(),
            early_bytes: 0,
            session_present: false,
            #[cfg(feature = "tls")]
            tls: session,
            #[cfg(feature = "tls")]
            cipher: Vec::new(),
        };
        let mut properties = Properties::default();
        if m.version == Version::V5 {
            properties.session_expiry_interval =
                Some(m.session_expiry.as_secs().min(u64::from(u32::MAX)) as u32);
            properties.receive_maximum = Some(m.receive_maximum);
            properties.maximum_packet_size = Some(lim.max_packet_len as u32);
        }
        let connect = Connect {
            version: m.version,
            client_id: m.client_id.clone(),
            clean_start: false,
            keep_alive: m.keepalive.as_secs().min(65535) as u16,
            username: m.username.clone(),
            password: m
                .password
                .as_ref()
                .map(|p| Bytes::copy_from_slice(p.expose().as_bytes())),
            will: None,
            properties,
        };
        c.send(&Packet::Connect(Box::new(connect)))?;
        let until = Instant::now() + m.connect_timeout;
        match c.read_packet(until, true)? {
            Some(Packet::ConnAck(ack)) => {
                if ack.code != ReasonCode::SUCCESS {
                    return Err(SessionError::Refused {
                        code: ack.code,
                        reason: ack.properties.reason_string,
                    });
                }
                if let Some(k) = ack.properties.server_keep_alive.filter(|&k| k > 0) {
                    c.keepalive = Duration::from_secs(u64::from(k));
                }
                c.session_present = ack.session_present;
                Ok(c)
            }
            Some(p) => Err(SessionError::Unexpected {
                packet: p.name(),
                during: "waiting for CONNACK",
            }),
            None => Err(SessionError::Timeout {
                waiting_for: "CONNACK",
                after: m.connect_timeout,
            }),
        }
    }

    /// Subscribes to `filters` at `m.qos` and waits for the SUBACK; a refused filter is an error.
    pub(super) fn subscribe(
        &mut self,
        m: &MqttSettings,
        filters: &[String],
    ) -> Result<(), SessionError> {
        let mut opts = SubscribeOptions::qos(m.qos);
        if m.version == Version::V5 {
            // The publisher's retain flag goes into the event; retained messages are sent only
            // when the subscription is new.
            opts.retain_as_published = true;
            opts.retain_handling = RetainHandling::SendIfNew;
        }
        let packet_id = 1;
        let sub = Subscribe {
            packet_id,
            filters: filters.iter().map(|f| (f.clone(), opts)).collect(),
            properties: Properties::default(),
        };
        self.send(&Packet::Subscribe(sub))?;
        let until = Instant::now() + m.connect_timeout;
        loop {
            match self.read_packet(until, true)? {
                Some(Packet::SubAck(ack)) if ack.packet_id == packet_id => {
                    if ack.codes.len() != filters.len() {
                        return Err(SessionError::Unexpected {
                            packet: "SUBACK",
                            during: "subscribing (wrong number of codes)",
                        });
                    }
                    for (f, code) in filters.iter().zip(&ack.codes) {
                        if code.0 >= 0x80 {
                            return Err(SessionError::SubscribeRefused {
                                filter: f.clone(),
                                code: *code,
                            });
                        }
                    }
                    return Ok(());
                }
                Some(p @ (Packet::Publish(_) | Packet::PubRel(_))) if !self.early_full() => {
                    self.hold_back(p)
                }
                Some(p @ (Packet::Publish(_) | Packet::PubRel(_))) => {
                    return Err(SessionError::Unexpected {
                        packet: p.name(),
                        during: "waiting for SUBACK (too many packets held before it)",
                    })
                }
                Some(p) => {
                    return Err(SessionError::Unexpected {
                        packet: p.name(),
                        during: "waiting for SUBACK",
                    })
                }
                None => {
                    return Err(SessionError::Timeout {
                        waiting_for: "SUBACK",
                        after: m.connect_timeout,
                    })
                }
            }
        }
    }

    /// The next packet, or `None` after at most [`POLL`] without one. Keeps the connection alive
    /// first (PINGREQ; a missing PINGRESP is an error) and swallows PINGRESP.
    pub(super) fn next(&mut self) -> Result<Option<Packet>, SessionError> {
        if let Some(p) = self.early.pop_front() {
            self.early_bytes -= held_bytes(&p);
            return Ok(Some(p));
        }
        self.keep_alive()?;
        match self.read_packet(Instant::now() + POLL, false)? {
            Some(Packet::PingResp) => {
                self.ping_sent = None;
                Ok(None)
            }
            Some(Packet::Disconnect(d)) => Err(SessionError::Disconnected {
                code: d.reason,
                reason: d.properties.reason_string,
            }),
            other => Ok(other),
        }
    }

    /// Sends PINGREQ once nothing was sent for half the keep-alive; an unanswered one older than
    /// the keep-alive is [`SessionError::Timeout`]. Also for callers that are busy elsewhere
    /// (retrying a send) and do not read.
    pub(super) fn keep_alive(&mut self) -> Result<(), SessionError> {
        let now = Instant::now();
        match self.ping_sent {
            Some(t) if now.duration_since(t) > self.keepalive => Err(SessionError::Timeout {
                waiting_for: "PINGRESP",
                after: Duration::from_millis(now.duration_since(t).as_millis() as u64),
            }),
            Some(_) => Ok(()),
            None if now.duration_since(self.last_sent) >= self.keepalive / 2 => {
                self.send(&Packet::PingReq)?;
                self.ping_sent = Some(now);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The next packet when a whole one is already read, without waiting; `None` otherwise.
    pub(super) fn try_next(&mut self) -> Result<Option<Packet>, SessionError> {
        if self.packet_ready() {
            self.next()
        } else {
            Ok(None)
        }
    }

    /// Puts `p` back in front: the next [`Conn::next`] returns it.
    pub(super) fn put_back(&mut self, p: Packet) {
        self.early_bytes += held_bytes(&p);
        self.early.push_front(p);
    }

    /// Keeps `p` for [`Conn::next`], behind those kept before.
    fn hold_back(&mut self, p: Packet) {
        self.early_bytes += held_bytes(&p);
        self.early.push_back(p);
    }

    /// True when no more packets may be kept ([`MAX_EARLY`], [`MAX_EARLY_BYTES`]).
    fn early_full(&self) -> bool {
        self.early.len() >= MAX_EARLY || self.early_bytes >= MAX_EARLY_BYTES
    }

    /// True when a whole packet is already read (so the next [`Conn::next`] will not wait).
    pub(super) fn packet_ready(&self) -> bool {
        !self.early.is_empty()
            || matches!(peek_header(&self.buf, &self.lim), Ok(Some(h)) if self.buf.len() >= h.packet_len())
    }

    /// For a caller that is busy elsewhere (retrying a send) until `until`: keeps the connection
    /// alive and reads what comes (PINGRESP is taken, other packets wait for [`Conn::next`]; at
    /// most the broker's window of them, and never more than [`MAX_EARLY`] packets or
    /// [`MAX_EARLY_BYTES`]). Once that many are kept nothing more is read (TCP flow control holds
    /// the rest at the broker, QoS 0 messages included, which no receive maximum limits); a
    /// PINGREQ still goes out when nothing was sent for half the keep-alive, so the broker keeps
    /// the connection, but its PINGRESP waits unread.
    pub(super) fn idle(&mut self, until: Instant) -> Result<(), SessionError> {
        let until = until.min(Instant::now() + POLL);
        if self.early_full() {
            self.ping_sent = None;
            if self.last_sent.elapsed() >= self.keepalive / 2 {
                self.send(&Packet::PingReq)?;
            }
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            return Ok(());
        }
        self.keep_alive()?;
        match self.read_packet(until, false)? {
            None => Ok(()),
            Some(Packet::PingResp) => {
                self.ping_sent = None;
                Ok(())
            }
            Some(Packet::Disconnect(d)) => Err(SessionError::Disconnected {
                code: d.reason,
                reason: d.properties.reason_string,
            }),
            Some(p) => {
                self.hold_back(p);
                Ok(())
            }
        }
    }

    /// Encodes and writes `p`.
    pub(super) fn send(&mut self, p: &Packet) -> Result<(), SessionError> {
        self.out.clear();
        encode_packet(p, self.version, &mut self.out, &self.lim).map_err(SessionError::Protocol)?;
        #[cfg(feature = "tls")]
        if let Some(session) = self.tls.as_mut() {
            let mut records = Vec::with_capacity(self.out.len() + 64);
            session
                .encrypt(&self.out, &mut records)
                .map_err(SessionError::Io)?;
            self.stream.write_all(&records).map_err(SessionError::Io)?;
            self.last_sent = Instant::now();
            return Ok(());
        }
        self.stream.write_all(&self.out).map_err(SessionError::Io)?;
        self.last_sent = Instant::now();
        Ok(())
    }

    /// A normal DISCONNECT (the session stays on the broker: its expiry was set at CONNECT),
    /// then the socket is closed. Errors are ignored: the connection ends either way.
    pub(super) fn close(mut self) {
        let d = Disconnect {
            reason: ReasonCode::SUCCESS,
            properties: Properties::default(),
        };
        let _ = self.send(&Packet::Disconnect(d));
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Reads until one packet is complete or `until` passed (`None`). `stoppable`: a pending
    /// SIGINT or SIGTERM ends the wait ([`SessionError::Stopped`]; the CONNACK and SUBACK waits
    /// last up to `mqtt.connect_timeout`, which may be minutes).
    fn read_packet(
        &mut self,
        until: Instant,
        stoppable: bool,
    ) -> Result<Option<Packet>, SessionError> {
        loop {
            if let Some(mut p) = decode_packet(&mut self.buf, self.version, &self.lim)
                .map_err(SessionError::Protocol)?
            {
                // The payload is a slice of the read buffer, which keeps the whole buffer (a
                // 64 KiB read) alive as long as the message lives: a small message that came
                // alone in a read would hold 64 KiB in the bridge (or in `early`) for its few
                // bytes. Those get their own copy; a larger one was read into a buffer of about
                // its own size.
                if let Packet::Publish(publish) = &mut p {
                    if publish.payload.len() < READ_CHUNK {
                        publish.payload = Bytes::copy_from_slice(&publish.payload);
                    }
                }
                return Ok(Some(p));
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            if stoppable && crate::sys::stop_pending() {
                return Err(SessionError::Stopped);
            }
            self.stream
                .set_read_timeout(Some(left.min(POLL).max(Duration::from_millis(1))))
                .map_err(SessionError::Io)?;
            let want = read_hint(&self.buf, &self.lim, READ_CHUNK);
            self.fill(want)?;
        }
    }

    /// Reads at most `want` bytes into the buffer (with TLS: what `want` bytes of records
    /// decrypt to); a read timeout or an interrupted read adds nothing.
    fn fill(&mut self, want: usize) -> Result<(), SessionError> {
        #[cfg(feature = "tls")]
        if let Some(session) = self.tls.as_mut() {
            self.cipher.resize(want, 0);
            let n = match read_some(&mut self.stream, &mut self.cipher)? {
                0 => return Ok(()),
                n => n,
            };
            let d = session
                .decrypt(&self.cipher[..n], &mut self.buf)
                .map_err(SessionError::Tls)?;
            if d.wants_write {
                let mut out = Vec::new();
                session.take_output(&mut out).map_err(SessionError::Io)?;
                self.stream.write_all(&out).map_err(SessionError::Io)?;
            }
            if d.closed {
                return Err(SessionError::Closed);
            }
            return Ok(());
        }
        let start = self.buf.len();
        self.buf.resize(start + want, 0);
        let r = read_some(&mut self.stream, &mut self.buf[start..]);
        self.buf.truncate(start + *r.as_ref().unwrap_or(&0));
        r.map(|_| ())
    }
}

/// What a kept packet costs beyond its fixed size: its payload, topic and user properties.
fn held_bytes(p: &Packet) -> usize {
    match p {
        Packet::Publish(publish) => {
            let user: usize = publish
                .properties
                .user_properties
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum();
            publish.payload.len() + publish.topic.len() + user
        }
        _ => 0,
    }
}

/// One read: the bytes read, 0 after a timeout or an interruption; end of stream is
/// [`SessionError::Closed`].
fn read_some(stream: &mut TcpStream, into: &mut [u8]) -> Result<usize, SessionError> {
    match stream.read(into) {
        Ok(0) => Err(SessionError::Closed),
        Ok(n) => Ok(n),
        Err(e) => match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => {
                Ok(0)
            }
            _ => Err(SessionError::Io(e)),
        },
    }
}
