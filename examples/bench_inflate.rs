//! Inflate cost of hostile streams that produce no output: 1 MiB of empty fixed-Huffman blocks
//! (10 bits each, about 839,000 blocks) — the stream that made every block rebuild the fixed
//! tables — and 1 MiB of minimal empty dynamic blocks (94 bits each, about 90,000 blocks; each
//! builds its own three tables, as in zlib).
//!
//! Run: `cargo run --release --example bench_inflate`. Prints per stream its size, blocks, the
//! best of 5 runs in ms and ns per block; nothing is asserted about timing.

use rocketmq_bridge::util::inflate_zlib;
use std::hint::black_box;
use std::time::Instant;

/// LSB-first bit writer.
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

    /// A Huffman code, most significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        self.put(code.reverse_bits() >> (32 - len), len);
    }
}

/// A zlib stream of empty dynamic blocks, at least `min_len` bytes: each declares 257
/// literal/length codes of which only end-of-block has a code, and one unused distance code.
fn empty_dynamic_blocks(min_len: usize) -> (Vec<u8>, usize) {
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    // Code-length code: symbol 1 → "0", symbol 0 → "10", symbol 18 → "11".
    let cl_len = |sym: usize| match sym {
        1 => 1,
        0 | 18 => 2,
        _ => 0,
    };
    let mut b = Bits {
        out: vec![0x78, 0x01],
        acc: 0,
        n: 0,
    };
    let mut blocks = 0;
    loop {
        let last = b.out.len() >= min_len;
        b.put(u32::from(last), 1);
        b.put(2, 2); // BTYPE=10, dynamic
        b.put(0, 5); // HLIT: 257 codes
        b.put(0, 5); // HDIST: 1 code
        b.put(14, 4); // HCLEN: 18 code-length codes
        for &sym in &ORDER[..18] {
            b.put(cl_len(sym), 3);
        }
        b.code(3, 2); // 18: 138 zeros
        b.put(138 - 11, 7);
        b.code(3, 2); // 18: 118 zeros (symbols 138..=255)
        b.put(118 - 11, 7);
        b.code(0, 1); // symbol 256 has length 1
        b.code(2, 2); // the distance code has length 0
        b.code(0, 1); // end of block
        blocks += 1;
        if last {
            break;
        }
    }
    if b.n > 0 {
        b.put(0, 8 - b.n);
    }
    b.out.extend_from_slice(&1u32.to_be_bytes());
    (b.out, blocks)
}

/// A zlib stream of `blocks` empty fixed-Huffman blocks (the last one final), no output.
fn empty_fixed_blocks(blocks: usize) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let (mut acc, mut n) = (0u32, 0u32);
    for i in 0..blocks {
        // BFINAL, BTYPE=01 (fixed), then end-of-block: the 7-bit code 0000000.
        let bfinal = u32::from(i + 1 == blocks);
        acc |= (bfinal | 1 << 1) << n;
        n += 10;
        while n >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            n -= 8;
        }
    }
    if n > 0 {
        out.push(acc as u8);
    }
    out.extend_from_slice(&1u32.to_be_bytes()); // adler32 of no data
    out
}

fn measure(name: &str, z: &[u8], blocks: usize) {
    assert_eq!(inflate_zlib(z, 0).unwrap(), b"");
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        black_box(inflate_zlib(black_box(z), 0).unwrap());
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "inflate {name}: {} bytes, {blocks} blocks, best of 5 {:.1} ms, {:.1} ns/block",
        z.len(),
        best * 1e3,
        best * 1e9 / blocks as f64
    );
}

fn main() {
    let blocks = (1 << 20) * 8 / 10;
    measure("empty fixed blocks", &empty_fixed_blocks(blocks), blocks);
    let (z, blocks) = empty_dynamic_blocks(1 << 20);
    measure("empty dynamic blocks", &z, blocks);
}
