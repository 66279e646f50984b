//! One frame from two buffers: the encoded header and a large body written together with vectored
//! writes, so the body is not copied behind the header ([`super::connection`]'s writer).

use std::io::{self, Write};

/// Bodies at least this long are written with the header in one vectored write instead of being
/// copied behind it (issue #22's profile: the copy was 3% of a `run`'s instructions).
pub(crate) const VECTORED_BODY: usize = 4096;

/// Writes `a` then `b` whole, with vectored writes (retried on EINTR, resumed after a short
/// write).
pub(crate) fn write_all_two<W: Write>(
    stream: &mut W,
    mut a: &[u8],
    mut b: &[u8],
) -> io::Result<()> {
    while !a.is_empty() {
        match stream.write_vectored(&[io::IoSlice::new(a), io::IoSlice::new(b)]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) if n >= a.len() => {
                b = &b[n - a.len()..];
                a = &[];
            }
            Ok(n) => a = &a[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    stream.write_all(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    /// A head and a body larger than the socket buffers, read slowly on the other side (so
    /// writes come back short), arrive whole and in order.
    #[test]
    fn head_and_body_arrive_whole_through_short_writes() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let head: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let body: Vec<u8> = (0..6_000_000u32).map(|i| (i % 253) as u8).collect();
        let (h2, b2) = (head.clone(), body.clone());
        let writer = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            write_all_two(&mut s, &h2, &b2).unwrap();
        });
        let (mut r, _) = l.accept().unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 7_919];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        writer.join().unwrap();
        assert_eq!(got.len(), head.len() + body.len());
        assert!(got[..head.len()] == head[..] && got[head.len()..] == body[..]);
    }

    /// A writer that takes at most 5 bytes per call, and is interrupted every third call.
    struct Trickle {
        out: Vec<u8>,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(3) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = b.len().min(5);
            self.out.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            self.write(first)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn short_and_interrupted_writes_are_resumed() {
        let mut t = Trickle {
            out: Vec::new(),
            calls: 0,
        };
        write_all_two(&mut t, b"header-bytes", b"and the body after it").unwrap();
        assert_eq!(t.out, b"header-bytesand the body after it");
        let mut t = Trickle {
            out: Vec::new(),
            calls: 0,
        };
        write_all_two(&mut t, b"", b"body only").unwrap();
        assert_eq!(t.out, b"body only");
    }
}
