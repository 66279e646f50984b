//! A bounded zlib (RFC 1950) / DEFLATE (RFC 1951) decoder.
//!
//! Compressed message bodies (sysFlag bit 0, compression type ZLIB or 0) are produced by
//! `java.util.zip.Deflater`, i.e. a zlib stream. [`inflate_zlib`] decodes stored, fixed-Huffman
//! and dynamic-Huffman blocks, checks the Adler-32 trailer, and never lets the output buffer
//! (its length or its capacity) grow past the caller's `max_out`, so a "zip bomb" costs at most
//! `max_out` bytes of memory. Every malformed input is an [`InflateError`]; none panics.
//!
//! The canonical-Huffman decoding follows the algorithm described in RFC 1951 section 3.2.2
//! (codes assigned in order of length, then symbol): codes up to [`FAST_BITS`] bits with one
//! table lookup, longer ones one bit at a time.
//!
//! # Caps and work
//!
//! - Output: at most the caller's `max_out` bytes; every growth is checked against it before
//!   the buffer grows, and the first reservation is at most [`MAX_INITIAL_CAPACITY`].
//! - Back-references reach at most [`WINDOW_SIZE`] bytes back (the largest distance the format
//!   can express) and never before the start of the output.
//! - Code lengths are at most [`MAX_CODE_BITS`]; a dynamic block declares at most
//!   [`MAX_LIT_LEN_CODES`] literal/length and [`MAX_DIST_CODES`] distance codes.
//! - Work per block is bounded by the block: the fixed-Huffman tables are built once per process
//!   (not per block, so a stream of empty fixed blocks costs a few steps per 10-bit block), a
//!   dynamic block builds its three tables from its own header (constant work, at most
//!   `3 << FAST_BITS` table entries), and each output byte costs constant work.

use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;

/// Why a zlib stream was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InflateError {
    /// The input ended in the middle of `field`.
    Truncated {
        /// What was being read.
        field: &'static str,
    },
    /// The 2-byte zlib header fails its checks (method 8, window ≤ 32 KiB, multiple of 31).
    BadZlibHeader {
        /// Compression method and info byte.
        cmf: u8,
        /// Flags byte.
        flg: u8,
    },
    /// The zlib header asks for a preset dictionary, which RocketMQ never uses.
    PresetDictionary,
    /// Block type 3 is reserved.
    ReservedBlockType,
    /// A stored block's LEN is not the complement of its NLEN.
    StoredLengthMismatch {
        /// LEN field.
        len: u16,
        /// NLEN field.
        nlen: u16,
    },
    /// A dynamic block header declares invalid code lengths (`what` says which rule).
    InvalidCodeLengths {
        /// The rule that was broken.
        what: &'static str,
    },
    /// A bit sequence matches no code of the current Huffman table.
    InvalidHuffmanCode,
    /// A literal/length symbol 286 or 287, or a distance symbol 30 or 31.
    InvalidSymbol {
        /// The symbol.
        symbol: u16,
    },
    /// A back-reference points before the start of the output.
    DistanceTooFar {
        /// The distance in the stream.
        distance: usize,
        /// Bytes produced so far.
        available: usize,
    },
    /// The decompressed data would exceed the caller's limit.
    OutputTooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// The Adler-32 trailer does not match the decompressed data.
    Adler32Mismatch {
        /// Value in the stream.
        expected: u32,
        /// Value computed over the output.
        actual: u32,
    },
    /// Bytes follow the Adler-32 trailer.
    TrailingData {
        /// How many.
        len: usize,
    },
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::Truncated { field } => write!(f, "zlib stream truncated in {field}"),
            InflateError::BadZlibHeader { cmf, flg } => {
                write!(f, "bad zlib header cmf=0x{cmf:02x} flg=0x{flg:02x}")
            }
            InflateError::PresetDictionary => write!(f, "zlib preset dictionary not supported"),
            InflateError::ReservedBlockType => write!(f, "deflate block type 3 is reserved"),
            InflateError::StoredLengthMismatch { len, nlen } => write!(
                f,
                "stored block len 0x{len:04x} is not the complement of nlen 0x{nlen:04x}"
            ),
            InflateError::InvalidCodeLengths { what } => {
                write!(f, "invalid huffman code lengths: {what}")
            }
            InflateError::InvalidHuffmanCode => write!(f, "invalid huffman code in stream"),
            InflateError::InvalidSymbol { symbol } => write!(f, "invalid deflate symbol {symbol}"),
            InflateError::DistanceTooFar {
                distance,
                available,
            } => write!(
                f,
                "back-reference distance {distance} exceeds {available} bytes of output"
            ),
            InflateError::OutputTooLarge { max } => {
                write!(f, "decompressed data exceeds limit of {max} bytes")
            }
            InflateError::Adler32Mismatch { expected, actual } => write!(
                f,
                "adler32 mismatch: stream says 0x{expected:08x}, data gives 0x{actual:08x}"
            ),
            InflateError::TrailingData { len } => {
                write!(f, "{len} trailing bytes after zlib stream")
            }
        }
    }
}

impl std::error::Error for InflateError {}

/// Adler-32 (RFC 1950 section 8.2) of `data`.
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 is the largest n for which b cannot overflow u32 before the modulo.
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += x as u32;
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// Decompresses a zlib stream into at most `max_out` bytes.
///
/// # Errors
/// Any malformed header, block, code, distance or checksum, a truncated stream, trailing bytes,
/// or output beyond `max_out` ([`InflateError::OutputTooLarge`]).
pub fn inflate_zlib(input: &[u8], max_out: usize) -> Result<Vec<u8>, InflateError> {
    if input.len() < 2 {
        return Err(InflateError::Truncated {
            field: "zlib header",
        });
    }
    let (cmf, flg) = (input[0], input[1]);
    if cmf & 0x0F != 8 || cmf >> 4 > 7 || !((cmf as u16) << 8 | flg as u16).is_multiple_of(31) {
        return Err(InflateError::BadZlibHeader { cmf, flg });
    }
    if flg & 0x20 != 0 {
        return Err(InflateError::PresetDictionary);
    }
    let mut inf = Inflater {
        bits: BitReader {
            data: input,
            pos: 2,
            bit_buf: 0,
            bit_cnt: 0,
        },
        out: Output::new(max_out, input.len()),
    };
    inf.run()?;
    let pos = inf.bits.align();
    let trailer = input.get(pos..pos + 4).ok_or(InflateError::Truncated {
        field: "adler32 trailer",
    })?;
    let expected = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let out = inf.out.buf;
    let actual = adler32(&out);
    if expected != actual {
        return Err(InflateError::Adler32Mismatch { expected, actual });
    }
    if input.len() > pos + 4 {
        return Err(InflateError::TrailingData {
            len: input.len() - pos - 4,
        });
    }
    Ok(out)
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    bit_buf: u32,
    bit_cnt: u32,
}

impl BitReader<'_> {
    /// Reads `n` ≤ 16 bits, least significant first.
    fn bits(&mut self, n: u32, field: &'static str) -> Result<u32, InflateError> {
        while self.bit_cnt < n {
            let b = *self
                .data
                .get(self.pos)
                .ok_or(InflateError::Truncated { field })?;
            self.pos += 1;
            self.bit_buf |= (b as u32) << self.bit_cnt;
            self.bit_cnt += 8;
        }
        let v = self.bit_buf & ((1u32 << n) - 1);
        self.bit_buf >>= n;
        self.bit_cnt -= n;
        Ok(v)
    }

    /// Tries to have at least `n` ≤ 16 bits buffered; false if the input ends first.
    fn fill(&mut self, n: u32) -> bool {
        while self.bit_cnt < n {
            match self.data.get(self.pos) {
                Some(&b) => {
                    self.pos += 1;
                    self.bit_buf |= (b as u32) << self.bit_cnt;
                    self.bit_cnt += 8;
                }
                None => return false,
            }
        }
        true
    }

    /// Drops the bits left in the current byte; returns the byte position.
    fn align(&mut self) -> usize {
        // Whole bytes fetched ahead by `fill` go back to the input.
        self.pos -= (self.bit_cnt / 8) as usize;
        self.bit_buf = 0;
        self.bit_cnt = 0;
        self.pos
    }
}

/// Output buffer whose capacity never exceeds `max`.
struct Output {
    buf: Vec<u8>,
    max: usize,
}

impl Output {
    fn new(max: usize, input_len: usize) -> Output {
        let initial = input_len
            .saturating_mul(4)
            .clamp(256, MAX_INITIAL_CAPACITY)
            .min(max);
        Output {
            buf: Vec::with_capacity(initial),
            max,
        }
    }

    fn make_room(&mut self, n: usize) -> Result<(), InflateError> {
        let need = self
            .buf
            .len()
            .checked_add(n)
            .filter(|&need| need <= self.max)
            .ok_or(InflateError::OutputTooLarge { max: self.max })?;
        if need > self.buf.capacity() {
            let target = self
                .buf
                .capacity()
                .saturating_mul(2)
                .max(need)
                .min(self.max);
            self.buf.reserve_exact(target - self.buf.len());
        }
        Ok(())
    }

    fn push(&mut self, b: u8) -> Result<(), InflateError> {
        self.make_room(1)?;
        self.buf.push(b);
        Ok(())
    }
}

/// Longest Huffman code, in bits (RFC 1951 3.2.1): code lengths are 0..=15.
pub const MAX_CODE_BITS: usize = 15;
const MAX_BITS: usize = MAX_CODE_BITS;

/// Largest back-reference distance (32 KiB, RFC 1951 3.2.5): the format cannot express more.
pub const WINDOW_SIZE: usize = 32 * 1024;
const _: () = assert!(DIST_BASE[29] as usize + (1 << DIST_EXTRA[29]) - 1 == WINDOW_SIZE);

/// Most literal/length codes a dynamic block may declare (HLIT + 257 ≤ 286).
pub const MAX_LIT_LEN_CODES: usize = 286;

/// Most distance codes a dynamic block may declare (HDIST + 1 ≤ 30).
pub const MAX_DIST_CODES: usize = 30;

/// The output buffer's first reservation is at most this (64 KiB; 4× the input, at least
/// 256 bytes, never above `max_out`); it then doubles, never past `max_out`.
pub const MAX_INITIAL_CAPACITY: usize = 64 * 1024;

/// Codes up to this many bits are decoded with one table lookup (a table of `1 << 9` entries).
pub const FAST_BITS: u32 = 9;

thread_local! {
    static TABLES_BUILT: Cell<u64> = const { Cell::new(0) };
}

/// Huffman tables built on this thread so far (a work counter for tests: a stream of fixed blocks
/// must not build one per block).
#[doc(hidden)]
pub fn huffman_tables_built() -> u64 {
    TABLES_BUILT.with(Cell::get)
}

/// Canonical Huffman table: number of codes per length and symbols ordered by code, plus a
/// lookup table indexed by the next `FAST_BITS` input bits (entry = symbol | length << 9,
/// 0 = code longer than `FAST_BITS`, decoded bit by bit).
struct Huffman {
    count: [u16; MAX_BITS + 1],
    symbol: Vec<u16>,
    fast: Vec<u16>,
}

impl Huffman {
    /// Builds the table from per-symbol code lengths (0 = unused).
    /// `allow_incomplete` admits a code that does not use the whole code space (RFC 1951
    /// allows a single distance code; zlib also accepts incomplete distance sets).
    fn new(lengths: &[u8], allow_incomplete: bool) -> Result<Huffman, InflateError> {
        TABLES_BUILT.with(|n| n.set(n.get() + 1));
        let mut count = [0u16; MAX_BITS + 1];
        for &l in lengths {
            count[l as usize] += 1;
        }
        let used = lengths.len() as u16 - count[0];
        let mut left: i32 = 1;
        for c in count.iter().skip(1) {
            left <<= 1;
            left -= *c as i32;
            if left < 0 {
                return Err(InflateError::InvalidCodeLengths {
                    what: "over-subscribed code",
                });
            }
        }
        if left > 0 && !allow_incomplete && used > 1 {
            return Err(InflateError::InvalidCodeLengths {
                what: "incomplete code",
            });
        }
        let mut offs = [0u16; MAX_BITS + 2];
        for len in 1..=MAX_BITS {
            offs[len + 1] = offs[len] + count[len];
        }
        let mut symbol = vec![0u16; used as usize];
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbol[offs[l as usize] as usize] = sym as u16;
                offs[l as usize] += 1;
            }
        }
        count[0] = 0;
        // Canonical codes are consecutive within a length, in `symbol` order; the stream sends
        // them most-significant bit first, so the table index is the bit-reversed code.
        let mut fast = vec![0u16; 1 << FAST_BITS];
        let mut code: u32 = 0;
        let mut k = 0usize;
        for (len, &n) in count
            .iter()
            .enumerate()
            .take(FAST_BITS as usize + 1)
            .skip(1)
        {
            for _ in 0..n {
                let rev = code.reverse_bits() >> (32 - len);
                let entry = symbol[k] | (len as u16) << 9;
                let mut i = rev as usize;
                while i < fast.len() {
                    fast[i] = entry;
                    i += 1 << len;
                }
                code += 1;
                k += 1;
            }
            code <<= 1;
        }
        Ok(Huffman {
            count,
            symbol,
            fast,
        })
    }

    fn decode(&self, bits: &mut BitReader<'_>) -> Result<u16, InflateError> {
        if bits.fill(FAST_BITS) {
            let e = self.fast[(bits.bit_buf & ((1 << FAST_BITS) - 1)) as usize];
            if e != 0 {
                let len = (e >> 9) as u32;
                bits.bit_buf >>= len;
                bits.bit_cnt -= len;
                return Ok(e & 0x1FF);
            }
        }
        let mut code: i32 = 0; // bits read so far, as a canonical code
        let mut first: i32 = 0; // first code of the current length
        let mut index: i32 = 0; // index of that first code in `symbol`
        for len in 1..=MAX_BITS {
            code |= bits.bits(1, "huffman code")? as i32;
            let count = self.count[len] as i32;
            if code - first < count {
                return Ok(self.symbol[(index + code - first) as usize]);
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        Err(InflateError::InvalidHuffmanCode)
    }
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
/// Order in which code-length code lengths are sent (RFC 1951 3.2.7).
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

struct Inflater<'a> {
    bits: BitReader<'a>,
    out: Output,
}

impl Inflater<'_> {
    fn run(&mut self) -> Result<(), InflateError> {
        loop {
            let last = self.bits.bits(1, "block header")?;
            match self.bits.bits(2, "block header")? {
                0 => self.stored()?,
                1 => {
                    let (lit, dist) = fixed_tables();
                    self.codes(lit, dist)?;
                }
                2 => {
                    let (lit, dist) = self.dynamic_tables()?;
                    self.codes(&lit, &dist)?;
                }
                _ => return Err(InflateError::ReservedBlockType),
            }
            if last == 1 {
                return Ok(());
            }
        }
    }

    fn stored(&mut self) -> Result<(), InflateError> {
        let pos = self.bits.align();
        let data = self.bits.data;
        let hdr = data.get(pos..pos + 4).ok_or(InflateError::Truncated {
            field: "stored block length",
        })?;
        let len = u16::from_le_bytes([hdr[0], hdr[1]]);
        let nlen = u16::from_le_bytes([hdr[2], hdr[3]]);
        if len != !nlen {
            return Err(InflateError::StoredLengthMismatch { len, nlen });
        }
        let start = pos + 4;
        let bytes = data
            .get(start..start + len as usize)
            .ok_or(InflateError::Truncated {
                field: "stored block data",
            })?;
        self.out.make_room(bytes.len())?;
        self.out.buf.extend_from_slice(bytes);
        self.bits.pos = start + len as usize;
        Ok(())
    }

    fn dynamic_tables(&mut self) -> Result<(Huffman, Huffman), InflateError> {
        let hlit = self.bits.bits(5, "dynamic block header")? as usize + 257;
        let hdist = self.bits.bits(5, "dynamic block header")? as usize + 1;
        let hclen = self.bits.bits(4, "dynamic block header")? as usize + 4;
        if hlit > MAX_LIT_LEN_CODES || hdist > MAX_DIST_CODES {
            return Err(InflateError::InvalidCodeLengths {
                what: "too many length or distance codes",
            });
        }
        let mut cl_lengths = [0u8; 19];
        for &idx in CL_ORDER.iter().take(hclen) {
            cl_lengths[idx] = self.bits.bits(3, "code length code lengths")? as u8;
        }
        let cl = Huffman::new(&cl_lengths, false)?;
        let mut lengths = [0u8; MAX_LIT_LEN_CODES + MAX_DIST_CODES];
        let total = hlit + hdist;
        let mut i = 0;
        while i < total {
            let sym = cl.decode(&mut self.bits)?;
            let (value, repeat) = match sym {
                0..=15 => (sym as u8, 1),
                16 => {
                    if i == 0 {
                        return Err(InflateError::InvalidCodeLengths {
                            what: "repeat with no previous length",
                        });
                    }
                    (
                        lengths[i - 1],
                        3 + self.bits.bits(2, "code lengths")? as usize,
                    )
                }
                17 => (0, 3 + self.bits.bits(3, "code lengths")? as usize),
                _ => (0, 11 + self.bits.bits(7, "code lengths")? as usize),
            };
            if i + repeat > total {
                return Err(InflateError::InvalidCodeLengths {
                    what: "repeat past the end of the lengths",
                });
            }
            lengths[i..i + repeat].fill(value);
            i += repeat;
        }
        if lengths[256] == 0 {
            return Err(InflateError::InvalidCodeLengths {
                what: "no code for end-of-block",
            });
        }
        let lit = Huffman::new(&lengths[..hlit], false)?;
        let dist = Huffman::new(&lengths[hlit..total], true)?;
        Ok((lit, dist))
    }

    fn codes(&mut self, lit: &Huffman, dist: &Huffman) -> Result<(), InflateError> {
        loop {
            let sym = lit.decode(&mut self.bits)?;
            if sym < 256 {
                self.out.push(sym as u8)?;
                continue;
            }
            if sym == 256 {
                return Ok(());
            }
            let li = (sym - 257) as usize;
            if li >= LEN_BASE.len() {
                return Err(InflateError::InvalidSymbol { symbol: sym });
            }
            let len =
                LEN_BASE[li] as usize + self.bits.bits(LEN_EXTRA[li] as u32, "length")? as usize;
            let dsym = dist.decode(&mut self.bits)?;
            let di = dsym as usize;
            if di >= DIST_BASE.len() {
                return Err(InflateError::InvalidSymbol { symbol: dsym });
            }
            let distance = DIST_BASE[di] as usize
                + self.bits.bits(DIST_EXTRA[di] as u32, "distance")? as usize;
            let available = self.out.buf.len();
            if distance > available {
                return Err(InflateError::DistanceTooFar {
                    distance,
                    available,
                });
            }
            self.out.make_room(len)?;
            let start = available - distance;
            for k in 0..len {
                let b = self.out.buf[start + k];
                self.out.buf.push(b);
            }
        }
    }
}

/// The fixed-Huffman tables (RFC 1951 3.2.6), built once per process on first use.
fn fixed_tables() -> (&'static Huffman, &'static Huffman) {
    static FIXED: OnceLock<(Huffman, Huffman)> = OnceLock::new();
    let (lit, dist) = FIXED.get_or_init(|| {
        let mut lengths = [0u8; 288];
        lengths[..144].fill(8);
        lengths[144..256].fill(9);
        lengths[256..280].fill(7);
        lengths[280..].fill(8);
        // Both length sets are valid constants: building them cannot fail.
        let lit = Huffman::new(&lengths, false).expect("fixed literal/length code is complete");
        let dist = Huffman::new(&[5u8; 30], true).expect("fixed distance code is valid");
        (lit, dist)
    });
    (lit, dist)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_of_wikipedia_example() {
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b""), 1);
    }

    #[test]
    fn fixed_huffman_hello() {
        // python3 -c "import zlib;print(zlib.compress(b'hello',9).hex())"
        let z = [
            0x78, 0xda, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x06, 0x2c, 0x02, 0x15,
        ];
        assert_eq!(inflate_zlib(&z, 100).unwrap(), b"hello");
        assert_eq!(
            inflate_zlib(&z, 4),
            Err(InflateError::OutputTooLarge { max: 4 })
        );
    }

    #[test]
    fn rejects_bad_header_and_preset_dictionary() {
        assert_eq!(
            inflate_zlib(&[0x78, 0x9d, 0x03, 0x00], 10),
            Err(InflateError::BadZlibHeader {
                cmf: 0x78,
                flg: 0x9d
            })
        );
        assert_eq!(
            inflate_zlib(&[0x78, 0xbb, 0, 0, 0, 0], 10),
            Err(InflateError::PresetDictionary)
        );
        assert_eq!(
            inflate_zlib(&[0x78], 10),
            Err(InflateError::Truncated {
                field: "zlib header"
            })
        );
    }
}
