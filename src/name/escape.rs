//! The reversible escape between ext4 names (bytes) and Windows names (UTF-16).
//!
//! Every disk name has exactly one Windows spelling and every accepted Windows spelling names
//! exactly one disk name:
//! - a valid UTF-8 character that Windows allows in a name is itself;
//! - each byte that is not part of valid UTF-8, each character Windows forbids in a name
//!   component (see [`is_forbidden`]), and each byte of a character that lies in U+F000..=U+F0FF
//!   becomes U+F000 + that byte.
//!
//! So a unit in U+F000..=U+F0FF in a Windows name always means "this raw byte".

use alloc::vec::Vec;

use super::{NameError, push, reserve};

/// First unit of the escape range: U+F000 + byte.
pub const ESCAPE_BASE: u16 = 0xF000;
/// The longest ext4 name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

const ESCAPE_FIRST: u32 = 0xF000;
const ESCAPE_LAST: u32 = 0xF0FF;

/// Characters Windows does not allow in a file name component: NUL, the controls 0x01–0x1F,
/// and `" * / : < > ? \ |`.
pub fn is_forbidden(c: char) -> bool {
    matches!(
        c,
        '\0'..='\u{1f}' | '"' | '*' | '/' | ':' | '<' | '>' | '?' | '\\' | '|'
    )
}

fn is_escape_unit(u: u32) -> bool {
    (ESCAPE_FIRST..=ESCAPE_LAST).contains(&u)
}

fn escaped(byte: u8) -> u16 {
    ESCAPE_BASE | u16::from(byte)
}

/// Feeds the Windows spelling of `raw`, unit by unit, to `emit`.
fn for_each_unit(
    raw: &[u8],
    mut emit: impl FnMut(u16) -> Result<(), NameError>,
) -> Result<(), NameError> {
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_escape_unit(u32::from(c)) {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    emit(escaped(b))?;
                }
            } else if is_forbidden(c) {
                // Forbidden characters are all ASCII: one byte each.
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    emit(escaped(b))?;
                }
            } else {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf).iter() {
                    emit(*u)?;
                }
            }
        }
        for b in chunk.invalid() {
            emit(escaped(*b))?;
        }
    }
    Ok(())
}

/// Appends the Windows spelling of the disk name `raw` to `out`.
///
/// Total on any byte string (NUL and `/`, which no valid ext4 name holds, are escaped like any
/// other forbidden character; [`to_disk`] refuses them back). `.` and `..` map to themselves:
/// the FSD never hands those directory entries to Windows. Trailing dots and spaces are kept.
/// On error `out` may hold part of the name.
pub fn to_windows(raw: &[u8], out: &mut Vec<u16>) -> Result<(), NameError> {
    // Never more units than bytes.
    reserve(out, raw.len())?;
    for_each_unit(raw, |u| push(out, u))
}

/// Appends the disk bytes of the Windows name `name` to `out`: the inverse of [`to_windows`].
///
/// Refuses an empty name, unpaired surrogates, forbidden characters that arrive unescaped,
/// escapes of `/` or NUL, escapes `to_windows` would not have produced, and results longer
/// than 255 bytes. On error `out` is left as it was.
pub fn to_disk(name: &[u16], out: &mut Vec<u8>) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let start = out.len();
    let r = to_disk_inner(name, out, start);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

fn to_disk_inner(name: &[u16], out: &mut Vec<u8>, start: usize) -> Result<(), NameError> {
    reserve(out, name.len().min(MAX_NAME_BYTES))?;
    for item in char::decode_utf16(name.iter().copied()) {
        let c = item.map_err(|_| NameError::InvalidCharacter)?;
        let cp = u32::from(c);
        if is_escape_unit(cp) {
            let byte = (cp & 0xFF) as u8;
            if byte == 0 || byte == b'/' {
                return Err(NameError::InvalidCharacter);
            }
            push(out, byte)?;
        } else if is_forbidden(c) {
            return Err(NameError::InvalidCharacter);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                push(out, b)?;
            }
        }
        if out.len().saturating_sub(start) > MAX_NAME_BYTES {
            return Err(NameError::TooLong);
        }
    }
    // Canonical check: escaping the bytes back must give exactly `name`, or the same disk name
    // would have two Windows spellings (U+F041 and `A`, or U+F0C3 U+F0A4 and `ä`).
    let disk = out.get(start..).unwrap_or_default();
    let mut expected = name.iter();
    for_each_unit(disk, |u| match expected.next() {
        Some(&w) if w == u => Ok(()),
        _ => Err(NameError::NonCanonicalEscape),
    })?;
    if expected.next().is_some() {
        return Err(NameError::NonCanonicalEscape);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn win(raw: &[u8]) -> Vec<u16> {
        let mut v = Vec::new();
        to_windows(raw, &mut v).unwrap();
        v
    }

    fn disk(name: &[u16]) -> Result<Vec<u8>, NameError> {
        let mut v = Vec::new();
        to_disk(name, &mut v).map(|()| v)
    }

    fn utf16(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    fn valid_disk_name(x: &[u8]) -> bool {
        !x.is_empty() && x.len() <= MAX_NAME_BYTES && !x.contains(&0) && !x.contains(&b'/')
    }

    fn check_round_trip(x: &[u8]) {
        let w = win(x);
        assert!(w.len() <= x.len(), "{x:?}");
        assert_eq!(disk(&w).as_deref(), Ok(x), "{x:?} -> {w:x?}");
    }

    #[test]
    fn specific_mappings() {
        assert_eq!(win(b"hello.txt"), utf16("hello.txt"));
        assert_eq!(win("Grüße €".as_bytes()), utf16("Grüße €"));
        assert_eq!(win("😀".as_bytes()), utf16("😀"));
        assert_eq!(win(b"\xFF"), vec![0xF0FF]);
        assert_eq!(win(b"a:b"), vec![0x61, 0xF03A, 0x62]);
        assert_eq!(win(b"\\"), vec![0xF05C]);
        assert_eq!(
            win(b"\x01\x1f|?*<>\""),
            vec![
                0xF001, 0xF01F, 0xF07C, 0xF03F, 0xF02A, 0xF03C, 0xF03E, 0xF022
            ]
        );
        // U+F041 is EF 81 81 in UTF-8: it lies in the escape range, so each byte is escaped.
        assert_eq!(win("\u{F041}".as_bytes()), vec![0xF0EF, 0xF081, 0xF081]);
        // A lone continuation byte, a truncated sequence, an encoded surrogate: raw bytes.
        assert_eq!(win(b"a\x80"), vec![0x61, 0xF080]);
        assert_eq!(win(b"\xC3"), vec![0xF0C3]);
        assert_eq!(win(b"\xED\xA0\x80"), vec![0xF0ED, 0xF0A0, 0xF080]);
        // Overlong encoding of '/': invalid UTF-8, escaped, never a separator.
        assert_eq!(win(b"\xC0\xAF"), vec![0xF0C0, 0xF0AF]);
        // Trailing dots and spaces are kept; DEL and U+F100 are ordinary.
        assert_eq!(win(b"a. "), utf16("a. "));
        assert_eq!(win("\u{7f}\u{F100}".as_bytes()), utf16("\u{7f}\u{F100}"));
    }

    #[test]
    fn to_disk_refusals() {
        assert_eq!(disk(&[]), Err(NameError::Empty));
        assert_eq!(disk(&utf16("a:b")), Err(NameError::InvalidCharacter));
        assert_eq!(disk(&utf16("a\\b")), Err(NameError::InvalidCharacter));
        assert_eq!(disk(&utf16("a/b")), Err(NameError::InvalidCharacter));
        assert_eq!(disk(&[0x61, 0x0]), Err(NameError::InvalidCharacter));
        assert_eq!(disk(&[0x61, 0x7]), Err(NameError::InvalidCharacter));
        assert_eq!(disk(&[0xD800]), Err(NameError::InvalidCharacter));
        assert_eq!(disk(&[0xDC00, 0x61]), Err(NameError::InvalidCharacter));
        assert_eq!(
            disk(&[0xD83D, 0xDE00, 0xD83D]),
            Err(NameError::InvalidCharacter)
        );
        // Escapes of NUL and '/' would make names ext4 cannot hold.
        assert_eq!(disk(&[0xF000]), Err(NameError::InvalidCharacter));
        assert_eq!(disk(&[0xF02F]), Err(NameError::InvalidCharacter));
        // Non-canonical escapes.
        assert_eq!(disk(&[0xF041]), Err(NameError::NonCanonicalEscape));
        assert_eq!(disk(&[0xF0C3, 0xF0A4]), Err(NameError::NonCanonicalEscape));
        assert_eq!(disk(&[0xF0EF, 0xF081]), Ok(vec![0xEF, 0x81]));
        // Length limits: 255 bytes yes, 256 no; 85 three-byte characters = 255 bytes.
        assert_eq!(disk(&[0x61; 255]).map(|v| v.len()), Ok(255));
        assert_eq!(disk(&[0x61; 256]), Err(NameError::TooLong));
        assert_eq!(disk(&[0x20AC; 85]).map(|v| v.len()), Ok(255));
        assert_eq!(disk(&[0x20AC; 86]), Err(NameError::TooLong));
        // On error the output is untouched.
        let mut out = vec![1u8, 2];
        assert!(to_disk(&[0x61, 0x3A], &mut out).is_err());
        assert_eq!(out, vec![1, 2]);
    }

    #[test]
    fn to_disk_appends() {
        let mut out = b"dir/".to_vec();
        to_disk(&utf16("x"), &mut out).unwrap();
        assert_eq!(out, b"dir/x");
    }

    #[test]
    fn round_trip_exhaustive_short() {
        // Every 1- and 2-byte string, and every 3-byte string over an alphabet that hits each
        // UTF-8 class (ASCII, forbidden, continuation, lead bytes of 2/3/4-byte sequences,
        // the escape range's EF 80..83, surrogate-encoding ED A0, never-valid F8/FF).
        for a in 0..=255u8 {
            let x = [a];
            if valid_disk_name(&x) {
                check_round_trip(&x);
            }
            for b in 0..=255u8 {
                let x = [a, b];
                if valid_disk_name(&x) {
                    check_round_trip(&x);
                }
            }
        }
        let alphabet = [
            b'a', b':', 0x01, 0x7F, 0x80, 0x81, 0x83, 0xA0, 0xBF, 0xC0, 0xC3, 0xE2, 0xED, 0xEF,
            0xF0, 0xF4, 0xF8, 0xFF,
        ];
        for &a in &alphabet {
            for &b in &alphabet {
                for &c in &alphabet {
                    for &d in &alphabet {
                        check_round_trip(&[a, b, c, d]);
                    }
                }
            }
        }
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn round_trip_random() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for i in 0..20_000 {
            let len = 1 + (rng.next() % 255) as usize;
            let mut x = Vec::new();
            while x.len() < len {
                let r = rng.next();
                // Half the strings mostly valid UTF-8 (so the escape range and multi-byte
                // characters appear), half raw bytes.
                if i % 2 == 0 && !r.is_multiple_of(4) {
                    // Pick a code point range first, so the escape range, ASCII (with the
                    // forbidden characters) and 2/3/4-byte characters all turn up often.
                    let ranges = [
                        (0x01, 0x80),
                        (0x80, 0x800),
                        (0x800, 0x1_0000),
                        (0xF000, 0xF100),
                        (0x1_0000, 0x11_0000),
                    ];
                    let (lo, hi) = ranges[((r >> 4) % ranges.len() as u64) as usize];
                    let cp = lo + ((r >> 16) as u32) % (hi - lo);
                    let c = char::from_u32(cp).unwrap_or('\u{F0AB}');
                    let mut buf = [0u8; 4];
                    x.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                } else {
                    x.push((r >> 16) as u8);
                }
            }
            x.truncate(len);
            x.retain(|&b| b != 0 && b != b'/');
            if valid_disk_name(&x) {
                check_round_trip(&x);
            }
        }
    }

    #[test]
    fn windows_side_is_a_bijection() {
        // Whatever UTF-16 to_disk accepts, to_windows spells back identically.
        let mut rng = XorShift(12345);
        let units = [
            0x61, 0x3A, 0xE4, 0x20AC, 0xD83D, 0xDE00, 0xF000, 0xF041, 0xF080, 0xF0C3, 0xF0A4,
            0xF0EF, 0xF0FF, 0xF100,
        ];
        for _ in 0..50_000 {
            let len = 1 + (rng.next() % 6) as usize;
            let w: Vec<u16> = (0..len)
                .map(|_| units[(rng.next() % units.len() as u64) as usize])
                .collect();
            if let Ok(d) = disk(&w) {
                assert_eq!(win(&d), w, "{w:x?}");
            }
        }
    }
}
