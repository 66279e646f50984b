//! Inflate cost of a hostile stream: 1 MiB of empty fixed-Huffman blocks (10 bits each, about
//! 839,000 blocks, no output) — the stream that made every block rebuild the fixed tables.
//!
//! Run: `cargo run --release --example bench_inflate`. Prints the stream size, blocks, the best
//! of 5 runs in ms and ns per block; nothing is asserted about timing.

use rocketmq_bridge::util::inflate_zlib;
use std::hint::black_box;
use std::time::Instant;

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

fn main() {
    let blocks = (1 << 20) * 8 / 10;
    let z = empty_fixed_blocks(blocks);
    assert_eq!(inflate_zlib(&z, 0).unwrap(), b"");
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        black_box(inflate_zlib(black_box(&z), 0).unwrap());
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "inflate empty fixed blocks: {} bytes, {blocks} blocks, best of 5 {:.1} ms, {:.1} ns/block",
        z.len(),
        best * 1e3,
        best * 1e9 / blocks as f64
    );
}
