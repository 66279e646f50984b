//! CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of `java.util.zip.CRC32`.
//!
//! RocketMQ's BODYCRC field is `UtilAll.crc32(body)`, which is
//! `(int) (new CRC32().update(body).getValue() & 0x7FFFFFFF)` — the IEEE CRC with the top bit
//! cleared (checked in apache/rocketmq `common/.../UtilAll.java`). [`crc32_masked`] computes
//! exactly that; [`crc32`] is the plain, unmasked value.

/// Slicing-by-8 tables: `TABLES[0]` is the classic byte table, `TABLES[k][b]` the CRC of byte `b`
/// followed by `k` zero bytes.
const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 8 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            k += 1;
        }
        i += 1;
    }
    t
}

static TABLES: [[u32; 256]; 8] = make_tables();

/// Continues a CRC-32 computation: pass 0 as `crc` for a new one.
pub fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    let mut chunks = data.chunks_exact(8);
    for w in &mut chunks {
        let lo = c ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        c = TABLES[7][(lo & 0xFF) as usize]
            ^ TABLES[6][((lo >> 8) & 0xFF) as usize]
            ^ TABLES[5][((lo >> 16) & 0xFF) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][w[4] as usize]
            ^ TABLES[2][w[5] as usize]
            ^ TABLES[1][w[6] as usize]
            ^ TABLES[0][w[7] as usize];
    }
    for &b in chunks.remainder() {
        c = TABLES[0][((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

/// Plain CRC-32 (IEEE) of `data`, as `java.util.zip.CRC32.getValue()`.
pub fn crc32(data: &[u8]) -> u32 {
    crc32_update(0, data)
}

/// RocketMQ's BODYCRC: CRC-32 (IEEE) with the top bit cleared (`& 0x7FFFFFFF`).
pub fn crc32_masked(data: &[u8]) -> u32 {
    crc32(data) & 0x7FFF_FFFF
}

/// `a * b` modulo the CRC polynomial (reflected bit order, as zlib's `multmodp`).
fn mult_mod_poly(a: u32, mut b: u32) -> u32 {
    let mut m: u32 = 1 << 31;
    let mut p: u32 = 0;
    loop {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                break;
            }
        }
        m >>= 1;
        if m == 0 {
            break;
        }
        b = if b & 1 != 0 {
            (b >> 1) ^ 0xEDB8_8320
        } else {
            b >> 1
        };
    }
    p
}

/// `X2N[k]` is x^(2^k) modulo the CRC polynomial.
const fn make_x2n() -> [u32; 64] {
    let mut t = [0u32; 64];
    let mut p: u32 = 1 << 30; // x^1
    t[0] = p;
    let mut k = 1;
    while k < 64 {
        // p = p * p mod poly (the loop of mult_mod_poly, in const form)
        let (a, mut b) = (p, p);
        let mut m: u32 = 1 << 31;
        let mut r: u32 = 0;
        while m != 0 {
            if a & m != 0 {
                r ^= b;
            }
            m >>= 1;
            b = if b & 1 != 0 {
                (b >> 1) ^ 0xEDB8_8320
            } else {
                b >> 1
            };
        }
        p = r;
        t[k] = p;
        k += 1;
    }
    t
}

static X2N: [u32; 64] = make_x2n();

/// x^(8 * len) modulo the CRC polynomial: what appending `len` bytes does to an earlier CRC.
fn x8n(len: u64) -> u32 {
    let (mut n, mut k, mut p) = (len, 3usize, 1u32 << 31);
    while n != 0 {
        if n & 1 != 0 {
            p = mult_mod_poly(X2N[k & 63], p);
        }
        n >>= 1;
        k += 1;
    }
    p
}

/// The CRC-32 of `A` followed by `B`, from `crc32(A)`, `crc32(B)` and the length of `B` (zlib's
/// `crc32_combine`), in O(log len_b) whatever the lengths.
pub fn crc32_combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    mult_mod_poly(x8n(len_b), crc_a) ^ crc_b
}

/// The CRC-32 of `B` from `crc32(A)`, `crc32(A` followed by `B)` and the length of `B`: the
/// inverse of [`crc32_combine`] in its second argument.
pub fn crc32_suffix(crc_a: u32, crc_ab: u32, len_b: u64) -> u32 {
    mult_mod_poly(x8n(len_b), crc_a) ^ crc_ab
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value_of_123456789() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_masked(b"123456789"), 0x4BF4_3926);
    }

    #[test]
    fn crc32_of_empty_and_known_strings() {
        assert_eq!(crc32(b""), 0);
        // zlib.crc32(b"hello") == 0x3610a686
        assert_eq!(crc32(b"hello"), 0x3610_A686);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn crc32_of_long_input_matches_python() {
        // python3 -c "import zlib;print(hex(zlib.crc32(bytes((i*31+7)%256 for i in range(1000)))))"
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 + 7) as u8).collect();
        assert_eq!(crc32(&data), 0x8902_161E);
    }

    #[test]
    fn combine_and_suffix_match_the_one_shot_crc() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 131 + i / 7) as u8).collect();
        for cut in [0, 1, 7, 8, 24, 255, 256, 1000, 4095, 4999, 5000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(
                crc32_combine(crc32(a), crc32(b), b.len() as u64),
                crc32(&data),
                "cut {cut}"
            );
            assert_eq!(
                crc32_suffix(crc32(a), crc32(&data), b.len() as u64),
                crc32(b),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn crc32_update_in_pieces_matches_one_shot() {
        let data = b"The quick brown fox jumps over the lazy dog";
        for cut in 0..=data.len() {
            assert_eq!(crc32_update(crc32(&data[..cut]), &data[cut..]), crc32(data));
        }
    }
}
