//! CRC32C (Castagnoli) and CRC16 (ARC), in the "raw" form ext4 uses: no pre- or
//! post-inversion, the caller passes the running value. A standard CRC-32C of `d` is
//! `!crc32c(!0, d)`.

// Evaluated at compile time: an out-of-range index would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const fn crc32c_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        s += 1;
    }
    t
}

static CRC32C: [[u32; 256]; 8] = crc32c_tables();

/// Table lookup that can never go out of bounds: both indices are masked to the table's
/// dimensions, so the bounds checks are provably dead (and cheap even in debug builds, where
/// this is the hot loop of every checksum).
#[inline(always)]
#[allow(clippy::indexing_slicing)]
fn tab(s: usize, i: u32) -> u32 {
    CRC32C[s & 7][(i & 0xff) as usize]
}

/// Raw CRC32C update.
pub fn crc32c(mut crc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let &[c0, c1, c2, c3, c4, c5, c6, c7] = c else {
            continue;
        };
        let lo = u32::from_le_bytes([c0, c1, c2, c3]) ^ crc;
        let hi = u32::from_le_bytes([c4, c5, c6, c7]);
        crc = tab(7, lo)
            ^ tab(6, lo >> 8)
            ^ tab(5, lo >> 16)
            ^ tab(4, lo >> 24)
            ^ tab(3, hi)
            ^ tab(2, hi >> 8)
            ^ tab(1, hi >> 16)
            ^ tab(0, hi >> 24);
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ tab(0, crc ^ u32::from(b));
    }
    crc
}

#[allow(clippy::indexing_slicing)]
const fn crc16_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u16;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xA001
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC16: [u16; 256] = crc16_table();

/// Raw CRC16 (reflected 0x8005) update, used by the older `gdt_csum` feature.
pub fn crc16(mut crc: u16, data: &[u8]) -> u16 {
    for &b in data {
        let idx = usize::from((crc ^ u16::from(b)) & 0xff);
        // Masked to 0..=255, the table's length.
        #[allow(clippy::indexing_slicing)]
        let t = CRC16[idx];
        crc = (crc >> 8) ^ t;
    }
    crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_vectors() {
        assert_eq!(!super::crc32c(!0, b"123456789"), 0xE306_9283);
        assert_eq!(super::crc16(0, b"123456789"), 0xBB3D);
        let long: alloc::vec::Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut bytewise = !0u32;
        for b in &long {
            bytewise = super::crc32c(bytewise, core::slice::from_ref(b));
        }
        assert_eq!(bytewise, super::crc32c(!0, &long));
    }
}
