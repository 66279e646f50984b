//! CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of `java.util.zip.CRC32`.
//!
//! RocketMQ's BODYCRC field is `UtilAll.crc32(body)`, which is
//! `(int) (new CRC32().update(body).getValue() & 0x7FFFFFFF)` — the IEEE CRC with the top bit
//! cleared (checked in apache/rocketmq `common/.../UtilAll.java`). [`crc32_masked`] computes
//! exactly that; [`crc32`] is the plain, unmasked value.

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
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
        table[i] = c;
        i += 1;
    }
    table
}

static TABLE: [u32; 256] = make_table();

/// Continues a CRC-32 computation: pass 0 as `crc` for a new one.
pub fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c = TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
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
    fn crc32_update_in_pieces_matches_one_shot() {
        let data = b"The quick brown fox jumps over the lazy dog";
        for cut in 0..=data.len() {
            assert_eq!(crc32_update(crc32(&data[..cut]), &data[cut..]), crc32(data));
        }
    }
}
