//! Bounded zlib inflate against vectors made by CPython's zlib (tests/fixtures/zlib/gen.py),
//! plus truncated, corrupt and bomb-like inputs.

use rocketmq_bridge::util::{adler32, inflate_zlib, InflateError};
use std::path::Path;

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// (variant, bytes) lines of a fixture file, comments skipped.
fn fixture(name: &str) -> Vec<(String, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/zlib")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_owned(), unhex(v.trim()))
        })
        .collect()
}

const VECTOR_FILES: [&str; 5] = [
    "empty.hex",
    "hello.hex",
    "text.hex",
    "random3000.hex",
    "mixed66k.hex",
];

#[test]
fn inflates_every_python_vector_exactly() {
    let mut checked = 0;
    for file in VECTOR_FILES {
        let lines = fixture(file);
        let (first, input) = &lines[0];
        assert_eq!(first, "input");
        assert!(lines.len() >= 8, "{file}: expected 7 variants");
        for (variant, z) in &lines[1..] {
            let out =
                inflate_zlib(z, input.len()).unwrap_or_else(|e| panic!("{file} {variant}: {e}"));
            assert!(out == *input, "{file} {variant}: output differs");
            assert!(
                out.capacity() <= input.len(),
                "{file} {variant}: capacity {}",
                out.capacity()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 5 * 7);
}

#[test]
fn output_one_byte_over_the_cap_is_refused() {
    for file in ["text.hex", "random3000.hex", "mixed66k.hex"] {
        let lines = fixture(file);
        let input = &lines[0].1;
        for (variant, z) in &lines[1..] {
            assert_eq!(
                inflate_zlib(z, input.len() - 1),
                Err(InflateError::OutputTooLarge {
                    max: input.len() - 1
                }),
                "{file} {variant}"
            );
        }
    }
}

#[test]
fn zip_bomb_is_stopped_at_max_out() {
    let lines = fixture("bomb_8mib_zeros.hex");
    let z = &lines[0].1;
    assert!(z.len() < 16 * 1024);
    assert_eq!(
        inflate_zlib(z, 1 << 20),
        Err(InflateError::OutputTooLarge { max: 1 << 20 })
    );
    // With room for all of it, the 8 MiB come out and the buffer is exactly that big.
    let out = inflate_zlib(z, 8 << 20).unwrap();
    assert_eq!(out.len(), 8 << 20);
    assert!(out.iter().all(|&b| b == 0));
    assert!(out.capacity() <= 8 << 20);
}

#[test]
fn every_truncation_is_an_error() {
    for file in ["hello.hex", "text.hex"] {
        for (variant, z) in &fixture(file)[1..] {
            for cut in 0..z.len() {
                let r = inflate_zlib(&z[..cut], 1 << 20);
                assert!(r.is_err(), "{file} {variant} cut at {cut} decoded");
            }
        }
    }
}

#[test]
fn truncated_trailer_and_data_name_the_field() {
    let lines = fixture("hello.hex");
    let level0 = &lines.iter().find(|(k, _)| k == "level0").unwrap().1;
    // 78 01 | 01 0500 faff | hello | adler32(4)
    assert_eq!(
        inflate_zlib(&level0[..level0.len() - 2], 100),
        Err(InflateError::Truncated {
            field: "adler32 trailer"
        })
    );
    assert_eq!(
        inflate_zlib(&level0[..9], 100),
        Err(InflateError::Truncated {
            field: "stored block data"
        })
    );
}

#[test]
fn corrupt_inputs_give_exact_errors() {
    let lines = fixture("hello.hex");
    let level0 = lines.iter().find(|(k, _)| k == "level0").unwrap().1.clone();

    let mut bad_nlen = level0.clone();
    bad_nlen[5] ^= 0x01; // NLEN low byte
    assert_eq!(
        inflate_zlib(&bad_nlen, 100),
        Err(InflateError::StoredLengthMismatch {
            len: 5,
            nlen: 0xfffb
        })
    );

    let mut bad_sum = level0.clone();
    let n = bad_sum.len();
    bad_sum[n - 1] ^= 0xff;
    assert_eq!(
        inflate_zlib(&bad_sum, 100),
        Err(InflateError::Adler32Mismatch {
            expected: adler32(b"hello") ^ 0xff,
            actual: adler32(b"hello")
        })
    );

    let mut trailing = level0.clone();
    trailing.extend_from_slice(b"xy");
    assert_eq!(
        inflate_zlib(&trailing, 100),
        Err(InflateError::TrailingData { len: 2 })
    );

    // Block type 3 (reserved): BFINAL=1, BTYPE=11 -> low bits 0b111.
    assert_eq!(
        inflate_zlib(&[0x78, 0x01, 0x07, 0, 0, 0, 0], 100),
        Err(InflateError::ReservedBlockType)
    );

    // Fixed block whose first symbol is a length/distance pair with nothing before it:
    // BFINAL=1, BTYPE=01, then symbol 257 (7-bit code 0000001), distance code 0 (00000).
    // Bits LSB-first: 1,1,0 | 0,0,0,0,0,0,1 (huffman codes are sent MSB-first) | 0,0,0,0,0
    let bits = [1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0];
    let mut bytes = vec![0x78, 0x01];
    let mut acc = 0u16;
    for (i, b) in bits.iter().enumerate() {
        acc |= (*b as u16) << i;
    }
    bytes.extend_from_slice(&acc.to_le_bytes());
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    assert_eq!(
        inflate_zlib(&bytes, 100),
        Err(InflateError::DistanceTooFar {
            distance: 1,
            available: 0
        })
    );
}

#[test]
fn flipping_any_bit_never_panics_and_never_exceeds_the_cap() {
    let lines = fixture("text.hex");
    let input = &lines[0].1;
    for (variant, z) in &lines[1..] {
        // level9 has a dynamic-Huffman header, fixed a fixed one; flip every bit of the first
        // 64 bytes (the block headers and code tables) — enough, and fast in debug builds.
        if variant != "level9" && variant != "fixed" {
            continue;
        }
        for i in 0..z.len().min(64) * 8 {
            let mut m = z.clone();
            m[i / 8] ^= 1 << (i % 8);
            match inflate_zlib(&m, input.len() + 16) {
                Ok(out) => assert!(out.len() <= input.len() + 16),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}

/// A zlib stream of `blocks` empty fixed-Huffman blocks (10 bits each; the last one final).
fn empty_fixed_blocks(blocks: usize) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let (mut acc, mut n) = (0u32, 0u32);
    for i in 0..blocks {
        // BFINAL, BTYPE=01 (fixed), then end-of-block: the 7-bit code 0000000.
        acc |= (u32::from(i + 1 == blocks) | 1 << 1) << n;
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
    out.extend_from_slice(&adler32(b"").to_be_bytes());
    out
}

/// Issue 18: every fixed block rebuilt the fixed Huffman tables (two tables, 288 + 30 symbols and
/// two 512-entry lookup tables), so 1 MiB of empty fixed blocks cost ~1.7 million table builds.
/// The tables are now built once per process: a stream of many empty fixed blocks builds at most
/// the two fixed tables (none if another test on this thread built them already).
#[test]
fn many_empty_fixed_blocks_build_the_fixed_tables_at_most_once() {
    use rocketmq_bridge::util::inflate::huffman_tables_built;
    let blocks = 10_000;
    let z = empty_fixed_blocks(blocks);
    assert_eq!(z.len(), 2 + (blocks * 10).div_ceil(8) + 4);
    let before = huffman_tables_built();
    assert_eq!(inflate_zlib(&z, 0).unwrap(), b"");
    let built = huffman_tables_built() - before;
    assert!(
        built <= 2,
        "{built} Huffman tables built for {blocks} fixed blocks"
    );
    // A second stream builds none.
    let before = huffman_tables_built();
    assert_eq!(inflate_zlib(&z, 0).unwrap(), b"");
    assert_eq!(huffman_tables_built() - before, 0);
}

/// A dynamic block builds its own three tables (code-length, literal/length, distance): work
/// per dynamic block stays constant.
#[test]
fn a_dynamic_block_builds_three_tables() {
    use rocketmq_bridge::util::inflate::huffman_tables_built;
    // python3: random.seed(1); t = bytes(random.choice(b'aaaaaaaabbbbccd') for _ in range(200));
    // zlib.compress(t, 9): one dynamic block (BTYPE=10).
    let z = unhex(concat!(
        "78da2d8ed1150020080267f560ff1902ad0fe401a183a4c90b30cb5c1a918ea02bd259e552cc8fc7947",
        "11d563790a4bc118f68cb56ed7f23b8427d67fba3720baa5b4b8b29ab35b9d3dd81b87b2fafbbee0102",
        "804c6c"
    ));
    assert_eq!((z[2] >> 1) & 3, 2, "the vector is one dynamic block");
    let before = huffman_tables_built();
    let out = inflate_zlib(&z, 1000).unwrap();
    assert_eq!(huffman_tables_built() - before, 3);
    assert_eq!(out.len(), 200);
    assert!(out.iter().all(|b| b"abcd".contains(b)));
}
