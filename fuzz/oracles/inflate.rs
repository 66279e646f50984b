//! Oracle for `rocketmq_bridge::util::inflate_zlib`: no panic, the output cap holds (for the
//! output and for every allocation), and the decoder agrees with an independent reference.
//!
//! The reference is a second, deliberately simple zlib decoder written here from RFC 1950/1951
//! (bit by bit canonical decoding, no lookup tables; the same acceptance rules for incomplete
//! codes as the decoder under test). Both decoders must give the same output, or the same
//! verdict: output too large, an Adler-32 mismatch with the same computed checksum, the same
//! number of trailing bytes, or a rejection. Accepted streams are checked further: the exact
//! cap decodes them and one byte less is `OutputTooLarge`, a strict prefix is rejected, and the
//! output round-trips through the two encoders here (stored blocks; fixed-Huffman blocks with
//! literals and back-references). Any input, read as plain data, round-trips through both
//! encoders as well.

use super::alloc::with_caps;
use rocketmq_bridge::util::{adler32, inflate_zlib, InflateError};

/// The output cap the oracle decodes with (1 MiB).
pub(crate) const ORACLE_MAX_OUT: usize = 1 << 20;
/// What the decoder may hold besides its output: input-sized state and tables (256 KiB).
const SLACK: usize = 256 << 10;

/// The verdict classes both decoders must agree on.
#[derive(PartialEq, Eq)]
enum Verdict {
    Ok(Vec<u8>),
    TooLarge,
    Adler(u32),
    Trailing(usize),
    Rejected,
}

/// Short: an output shows as its length and checksum.
impl std::fmt::Debug for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Ok(v) => write!(f, "Ok({} bytes, adler32 {:08x})", v.len(), adler32(v)),
            Verdict::TooLarge => write!(f, "TooLarge"),
            Verdict::Adler(a) => write!(f, "Adler32Mismatch(actual {a:08x})"),
            Verdict::Trailing(n) => write!(f, "Trailing({n})"),
            Verdict::Rejected => write!(f, "Rejected"),
        }
    }
}

fn verdict(r: Result<Vec<u8>, InflateError>) -> Verdict {
    match r {
        Ok(v) => Verdict::Ok(v),
        Err(InflateError::OutputTooLarge { .. }) => Verdict::TooLarge,
        Err(InflateError::Adler32Mismatch { actual, .. }) => Verdict::Adler(actual),
        Err(InflateError::TrailingData { len }) => Verdict::Trailing(len),
        Err(_) => Verdict::Rejected,
    }
}

/// Checks every property above for one input.
///
/// # Panics
/// When a property is violated (an allocation past the caps aborts instead).
pub(crate) fn check_inflate(data: &[u8]) {
    let (got, usage) = with_caps(
        "inflate_zlib",
        ORACLE_MAX_OUT.max(64 << 10),
        ORACLE_MAX_OUT + SLACK,
        || inflate_zlib(data, ORACLE_MAX_OUT),
    );
    if let Ok(out) = &got {
        assert!(out.len() <= ORACLE_MAX_OUT, "output past the cap");
        assert!(usage.largest <= ORACLE_MAX_OUT.max(64 << 10));
        assert!(usage.peak <= ORACLE_MAX_OUT + SLACK);
    }
    let got = verdict(got);
    let want = reference::inflate(data, ORACLE_MAX_OUT);
    assert_eq!(got, want, "inflate_zlib and the reference decoder disagree");
    if let Verdict::Ok(out) = &got {
        assert!(
            inflate_zlib(data, out.len()).as_ref() == Ok(out),
            "exact cap"
        );
        if let Some(less) = out.len().checked_sub(1) {
            assert_eq!(
                inflate_zlib(data, less),
                Err(InflateError::OutputTooLarge { max: less }),
                "one byte under the output"
            );
        }
        assert!(
            inflate_zlib(&data[..data.len() - 1], ORACLE_MAX_OUT).is_err(),
            "a strict prefix of an accepted stream was accepted"
        );
        round_trip(out);
    }
    round_trip(data);
}

fn round_trip(plain: &[u8]) {
    assert_eq!(
        inflate_zlib(&zlib_stored(plain), plain.len()).as_deref(),
        Ok(plain),
        "stored-block encoding did not round-trip"
    );
    assert_eq!(
        inflate_zlib(&zlib_fixed(plain), plain.len()).as_deref(),
        Ok(plain),
        "fixed-Huffman encoding did not round-trip"
    );
}

/// `plain` as a zlib stream of stored blocks (at most 65,535 bytes each; one empty block for no
/// data).
pub(crate) fn zlib_stored(plain: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut chunks = plain.chunks(0xFFFF).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    while let Some(c) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&adler32(plain).to_be_bytes());
    out
}

/// LSB-first bit writer (RFC 1951 3.1.1).
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, v: u32, n: u32) {
        self.acc |= u64::from(v) << self.n;
        self.n += n;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code, sent most significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        self.put(code.reverse_bits() >> (32 - len), len);
    }

    fn align(&mut self) {
        if self.n > 0 {
            self.put(0, 8 - self.n);
        }
    }
}

fn fixed_literal(b: &mut Bits, sym: u32) {
    match sym {
        0..=143 => b.code(0x30 + sym, 8),
        144..=255 => b.code(0x190 + sym - 144, 9),
        256..=279 => b.code(sym - 256, 7),
        _ => b.code(0xC0 + sym - 280, 8),
    }
}

/// `plain` as a zlib stream that mixes block kinds: chunks of varying size alternate between
/// fixed-Huffman blocks (runs of one byte become length/distance-1 references, which may reach
/// back into the previous block) and stored blocks, with an empty fixed block in between.
pub(crate) fn zlib_fixed(plain: &[u8]) -> Vec<u8> {
    let mut b = Bits {
        out: vec![0x78, 0x01],
        acc: 0,
        n: 0,
    };
    let mut pos = 0;
    let mut i = 0usize;
    loop {
        let size = (1 + i * 37 % 300).min(plain.len() - pos);
        let last = pos + size == plain.len();
        let chunk = &plain[pos..pos + size];
        if i % 3 == 2 {
            b.put(u32::from(last), 1);
            b.put(0, 2);
            b.align();
            let len = size as u16;
            b.put(u32::from(len), 16);
            b.put(u32::from(!len), 16);
            for &x in chunk {
                b.put(u32::from(x), 8);
            }
        } else {
            b.put(u32::from(last), 1);
            b.put(1, 2);
            let mut k = 0;
            while k < chunk.len() {
                let at = pos + k;
                let run = plain[at..pos + size]
                    .iter()
                    .take(258)
                    .take_while(|&&x| at > 0 && x == plain[at - 1])
                    .count();
                if run >= 3 {
                    let li = LEN_BASE
                        .iter()
                        .rposition(|&base| base as usize <= run)
                        .unwrap();
                    fixed_literal(&mut b, 257 + li as u32);
                    b.put(
                        run as u32 - u32::from(LEN_BASE[li]),
                        u32::from(LEN_EXTRA[li]),
                    );
                    b.code(0, 5); // distance code 0: distance 1
                    k += run;
                } else {
                    fixed_literal(&mut b, u32::from(chunk[k]));
                    k += 1;
                }
            }
            fixed_literal(&mut b, 256);
        }
        pos += size;
        i += 1;
        if last {
            break;
        }
        if i.is_multiple_of(4) {
            b.put(0, 1);
            b.put(1, 2);
            fixed_literal(&mut b, 256);
        }
    }
    b.align();
    let mut out = b.out;
    out.extend_from_slice(&adler32(plain).to_be_bytes());
    out
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// The reference decoder (RFC 1951, in the manner of zlib's `contrib/puff`).
mod reference {
    use super::{Verdict, DIST_BASE, DIST_EXTRA, LEN_BASE, LEN_EXTRA};
    use rocketmq_bridge::util::adler32;

    /// Any error: the class is decided by the caller.
    enum Stop {
        TooLarge,
        Bad,
    }

    struct State<'a> {
        input: &'a [u8],
        pos: usize,
        bit: u32,
        out: Vec<u8>,
        max: usize,
    }

    impl State<'_> {
        fn bit(&mut self) -> Result<u32, Stop> {
            let byte = *self.input.get(self.pos).ok_or(Stop::Bad)?;
            let v = u32::from(byte >> self.bit) & 1;
            self.bit += 1;
            if self.bit == 8 {
                self.bit = 0;
                self.pos += 1;
            }
            Ok(v)
        }

        fn bits(&mut self, n: u8) -> Result<usize, Stop> {
            let mut v = 0;
            for i in 0..n {
                v |= (self.bit()? as usize) << i;
            }
            Ok(v)
        }

        fn put(&mut self, b: u8) -> Result<(), Stop> {
            if self.out.len() == self.max {
                return Err(Stop::TooLarge);
            }
            self.out.push(b);
            Ok(())
        }

        /// Decodes one symbol: code lengths `lens` (index = symbol), canonical codes.
        fn decode(&mut self, code: &Code) -> Result<usize, Stop> {
            let (mut value, mut first, mut index) = (0i32, 0i32, 0i32);
            for len in 1..=15 {
                value |= self.bit()? as i32;
                let count = code.count[len] as i32;
                if value - first < count {
                    return Ok(code.symbols[(index + value - first) as usize]);
                }
                index += count;
                first = (first + count) << 1;
                value <<= 1;
            }
            Err(Stop::Bad)
        }
    }

    struct Code {
        count: [u16; 16],
        symbols: Vec<usize>,
    }

    /// A canonical code; an incomplete one only where `incomplete_ok`, or when at most one
    /// symbol has a code.
    fn code(lens: &[u8], incomplete_ok: bool) -> Result<Code, Stop> {
        let mut count = [0u16; 16];
        for &l in lens {
            count[l as usize] += 1;
        }
        let used = lens.len() - count[0] as usize;
        let mut left = 1i32;
        for &c in &count[1..] {
            left = 2 * left - c as i32;
            if left < 0 {
                return Err(Stop::Bad);
            }
        }
        if left > 0 && !incomplete_ok && used > 1 {
            return Err(Stop::Bad);
        }
        let mut symbols = Vec::new();
        for len in 1..16u8 {
            for (sym, &l) in lens.iter().enumerate() {
                if l == len {
                    symbols.push(sym);
                }
            }
        }
        count[0] = 0;
        Ok(Code { count, symbols })
    }

    fn block(s: &mut State<'_>, lit: &Code, dist: &Code) -> Result<(), Stop> {
        loop {
            let sym = s.decode(lit)?;
            if sym < 256 {
                s.put(sym as u8)?;
            } else if sym == 256 {
                return Ok(());
            } else {
                let li = sym - 257;
                if li >= 29 {
                    return Err(Stop::Bad);
                }
                let len = usize::from(LEN_BASE[li]) + s.bits(LEN_EXTRA[li])?;
                let di = s.decode(dist)?;
                if di >= 30 {
                    return Err(Stop::Bad);
                }
                let d = usize::from(DIST_BASE[di]) + s.bits(DIST_EXTRA[di])?;
                if d > s.out.len() {
                    return Err(Stop::Bad);
                }
                if s.out.len() + len > s.max {
                    return Err(Stop::TooLarge);
                }
                for _ in 0..len {
                    let b = s.out[s.out.len() - d];
                    s.out.push(b);
                }
            }
        }
    }

    fn blocks(s: &mut State<'_>) -> Result<(), Stop> {
        loop {
            let last = s.bit()?;
            match s.bits(2)? {
                0 => {
                    if s.bit != 0 {
                        s.bit = 0;
                        s.pos += 1;
                    }
                    let h = s.input.get(s.pos..s.pos + 4).ok_or(Stop::Bad)?;
                    let len = usize::from(u16::from_le_bytes([h[0], h[1]]));
                    if len != usize::from(!u16::from_le_bytes([h[2], h[3]])) {
                        return Err(Stop::Bad);
                    }
                    let data = s.input.get(s.pos + 4..s.pos + 4 + len).ok_or(Stop::Bad)?;
                    if s.out.len() + len > s.max {
                        return Err(Stop::TooLarge);
                    }
                    s.out.extend_from_slice(data);
                    s.pos += 4 + len;
                }
                1 => {
                    let mut lens = [0u8; 288];
                    lens[..144].fill(8);
                    lens[144..256].fill(9);
                    lens[256..280].fill(7);
                    lens[280..].fill(8);
                    let lit = code(&lens, false)?;
                    let dist = code(&[5; 30], true)?;
                    block(s, &lit, &dist)?;
                }
                2 => {
                    let nlen = s.bits(5)? + 257;
                    let ndist = s.bits(5)? + 1;
                    let ncode = s.bits(4)? + 4;
                    if nlen > 286 || ndist > 30 {
                        return Err(Stop::Bad);
                    }
                    const ORDER: [usize; 19] = [
                        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
                    ];
                    let mut cl = [0u8; 19];
                    for &i in &ORDER[..ncode] {
                        cl[i] = s.bits(3)? as u8;
                    }
                    let cl = code(&cl, false)?;
                    let mut lens = Vec::new();
                    while lens.len() < nlen + ndist {
                        let sym = s.decode(&cl)?;
                        let (v, n) = match sym {
                            0..=15 => (sym as u8, 1),
                            16 => (*lens.last().ok_or(Stop::Bad)?, 3 + s.bits(2)?),
                            17 => (0, 3 + s.bits(3)?),
                            _ => (0, 11 + s.bits(7)?),
                        };
                        if lens.len() + n > nlen + ndist {
                            return Err(Stop::Bad);
                        }
                        lens.extend(std::iter::repeat_n(v, n));
                    }
                    if lens[256] == 0 {
                        return Err(Stop::Bad);
                    }
                    let lit = code(&lens[..nlen], false)?;
                    let dist = code(&lens[nlen..], true)?;
                    block(s, &lit, &dist)?;
                }
                _ => return Err(Stop::Bad),
            }
            if last == 1 {
                return Ok(());
            }
        }
    }

    /// Decodes a zlib stream into at most `max` bytes.
    pub(super) fn inflate(input: &[u8], max: usize) -> Verdict {
        let [cmf, flg, ..] = *input else {
            return Verdict::Rejected;
        };
        if cmf & 15 != 8
            || cmf >> 4 > 7
            || (u16::from(cmf) * 256 + u16::from(flg)) % 31 != 0
            || flg & 32 != 0
        {
            return Verdict::Rejected;
        }
        let mut s = State {
            input,
            pos: 2,
            bit: 0,
            out: Vec::new(),
            max,
        };
        match blocks(&mut s) {
            Ok(()) => {}
            Err(Stop::TooLarge) => return Verdict::TooLarge,
            Err(Stop::Bad) => return Verdict::Rejected,
        }
        let end = s.pos + usize::from(s.bit != 0);
        let Some(t) = input.get(end..end + 4) else {
            return Verdict::Rejected;
        };
        let actual = adler32(&s.out);
        if u32::from_be_bytes([t[0], t[1], t[2], t[3]]) != actual {
            return Verdict::Adler(actual);
        }
        if input.len() > end + 4 {
            return Verdict::Trailing(input.len() - end - 4);
        }
        Verdict::Ok(s.out)
    }
}
