//! A minimal blocking MQTT client over `std::net::TcpStream`, driving the sans-IO codec: every
//! read has a timeout and the whole conversation a deadline, so a silent or stalled broker fails
//! the test instead of hanging it. It keeps the raw bytes of each packet received, for the golden
//! fixtures.

use bytes::BytesMut;
use rocketmq_bridge::mqtt::{
    decode_packet, encode_packet, peek_header, read_hint, MqttLimits, Packet, Version,
};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Longest single read or write wait, within the deadline.
const STEP: Duration = Duration::from_secs(5);

/// One connection to a broker.
pub(crate) struct Client {
    stream: TcpStream,
    buf: BytesMut,
    version: Version,
    deadline: Instant,
    lim: MqttLimits,
}

impl Client {
    /// Opens a TCP connection to 127.0.0.1:`port` (nothing is sent yet).
    pub(crate) fn open(port: u16, version: Version, deadline: Instant) -> Client {
        let stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), STEP)
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: BytesMut::new(),
            version,
            deadline,
            lim: MqttLimits::default(),
        }
    }

    fn wait(&self) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "test deadline passed");
        left.min(STEP)
    }

    /// Encodes and writes `p`; returns the bytes written.
    pub(crate) fn send(&mut self, p: &Packet) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_packet(p, self.version, &mut out, &self.lim)
            .unwrap_or_else(|e| panic!("encoding {}: {e}", p.name()));
        self.stream.set_write_timeout(Some(self.wait())).unwrap();
        self.stream
            .write_all(&out)
            .unwrap_or_else(|e| panic!("writing {}: {e}", p.name()));
        out.to_vec()
    }

    /// The next packet and its raw bytes; panics on a decode error, EOF, or no packet in time.
    pub(crate) fn recv(&mut self) -> (Packet, Vec<u8>) {
        loop {
            if let Some(h) = peek_header(&self.buf, &self.lim).expect("fixed header") {
                if self.buf.len() >= h.packet_len() {
                    let raw = self.buf[..h.packet_len()].to_vec();
                    let p = decode_packet(&mut self.buf, self.version, &self.lim)
                        .unwrap_or_else(|e| panic!("decoding {raw:02x?}: {e}"))
                        .expect("a complete packet decodes");
                    return (p, raw);
                }
            }
            let want = read_hint(&self.buf, &self.lim, 64 * 1024);
            match self.read_some(want) {
                Some(0) => panic!("broker closed the connection while a packet was expected"),
                Some(_) => {}
                None => panic!("no packet from the broker within {STEP:?}"),
            }
        }
    }

    /// Reads up to `want` bytes; `None` on a timeout.
    fn read_some(&mut self, want: usize) -> Option<usize> {
        self.stream.set_read_timeout(Some(self.wait())).unwrap();
        let mut chunk = vec![0u8; want];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Some(n);
                }
                // A signal (a CI runner's SIGSTOP/SIGCONT) interrupts a read with a timeout.
                Err(e) if e.kind() == ErrorKind::Interrupted => {
                    self.stream.set_read_timeout(Some(self.wait())).unwrap();
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return None
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Waits for the broker to close the connection, with no packet before it.
    pub(crate) fn expect_closed(&mut self) {
        match self.read_some(1) {
            Some(0) => assert!(self.buf.is_empty(), "bytes before EOF: {:02x?}", self.buf),
            Some(_) => panic!("a packet instead of EOF: {:02x?}", self.buf),
            None => panic!("the broker did not close the connection"),
        }
    }
}
