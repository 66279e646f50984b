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
