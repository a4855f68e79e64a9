//! Comparing Windows names: exactly, or ignoring case the way this driver defines it.
//!
//! Case folding is simple and one-to-one: each character maps to its uppercase form when
//! `char::to_uppercase` gives exactly one character, else to itself. Escape units
//! (U+F000..=U+F0FF, raw disk bytes) and unpaired surrogates are never folded: they compare
//! exactly. Windows itself upcases unit by unit through a table (the NTFS `$UpCase` file or
//! `RtlUpcaseUnicodeChar`); `docs/names.md` lists where the two differ.

use alloc::vec::Vec;

use super::{NameError, push, reserve};

/// One item of a UTF-16 name: a character to fold, or a unit compared as is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Item {
    Char(char),
    Raw(u16),
}

fn is_escape_unit(u: u16) -> bool {
    (0xF000..=0xF0FF).contains(&u)
}

fn fold(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn folded_items(name: &[u16]) -> impl Iterator<Item = Item> + '_ {
    char::decode_utf16(name.iter().copied()).map(|r| match r {
        Ok(c) => match u16::try_from(u32::from(c)) {
            Ok(unit) if is_escape_unit(unit) => Item::Raw(unit),
            _ => Item::Char(fold(c)),
        },
        Err(e) => Item::Raw(e.unpaired_surrogate()),
    })
}

/// Unit-for-unit equality.
pub fn eq_exact(a: &[u16], b: &[u16]) -> bool {
    a == b
}

/// Equality ignoring case (simple one-to-one uppercase per character; escapes and unpaired
/// surrogates exact). Never allocates.
pub fn eq_ignore_case(a: &[u16], b: &[u16]) -> bool {
    if eq_exact(a, b) {
        return true;
    }
    folded_items(a).eq(folded_items(b))
}

/// Appends the case-folded spelling of `name` to `out`: `eq_ignore_case(a, b)` holds exactly
/// when `upcase(a) == upcase(b)`, so it can key a case-insensitive table (the FCB table).
pub fn upcase(name: &[u16], out: &mut Vec<u16>) -> Result<(), NameError> {
    reserve(out, name.len())?;
    for item in folded_items(name) {
        match item {
            Item::Raw(u) => push(out, u)?,
            Item::Char(c) => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf).iter() {
                    push(out, *u)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    fn up(name: &[u16]) -> Vec<u16> {
        let mut v = Vec::new();
        upcase(name, &mut v).unwrap();
        v
    }

    #[test]
    fn folds_letters() {
        assert!(eq_ignore_case(&u("ÄBC"), &u("äbc")));
        assert!(eq_ignore_case(&u("Readme.TXT"), &u("README.txt")));
        assert!(eq_ignore_case(&u("ΣΊΣΥΦΟΣ"), &u("σίσυφος")));
        assert!(eq_ignore_case(&u("ς"), &u("Σ")));
        // Deseret: a supplementary-plane pair folds too (Windows would not fold it).
        assert!(eq_ignore_case(&u("\u{10428}"), &u("\u{10400}")));
        assert!(!eq_ignore_case(&u("abc"), &u("abd")));
        assert!(!eq_ignore_case(&u("abc"), &u("abcd")));
        assert!(!eq_exact(&u("ÄBC"), &u("äbc")));
        assert!(eq_exact(&u("abc"), &u("abc")));
    }

    #[test]
    fn multi_char_uppercase_is_not_applied() {
        // 'ß' uppercases to "SS": not one-to-one, so it stays 'ß'.
        assert!(!eq_ignore_case(&u("ß"), &u("SS")));
        assert!(eq_ignore_case(&u("ß"), &u("ß")));
        assert_eq!(up(&u("ßa")), u("ßA"));
    }

    #[test]
    fn escapes_and_surrogates_are_exact() {
        // U+F061 ("raw byte 'a'") and U+F041 ("raw byte 'A'") stay distinct.
        assert!(!eq_ignore_case(&[0xF061], &[0xF041]));
        assert!(!eq_ignore_case(&[0xF0E4], &[0xF0C4]));
        assert!(eq_ignore_case(&[0xF0E4, 0x61], &[0xF0E4, 0x41]));
        // An escape never equals the letter it stands for.
        assert!(!eq_ignore_case(&[0xF061], &u("a")));
        assert!(!eq_ignore_case(&[0xD800], &[0xD801]));
        assert!(eq_ignore_case(&[0xD800, 0x61], &[0xD800, 0x41]));
        assert_eq!(up(&[0xF061, 0x61, 0xDC00]), [0xF061, 0x41, 0xDC00]);
    }

    #[test]
    fn upcase_agrees_with_eq_ignore_case() {
        let pool = [
            0x61, 0x41, 0xE4, 0xC4, 0xDF, 0x3C3, 0x3C2, 0x3A3, 0x131, 0x49, 0x69, 0xF061, 0xF041,
            0xD801, 0xDC28, 0xDC00, 0x17F, 0x53,
        ];
        let mut s: u64 = 7;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..50_000 {
            let la = (next() % 4) as usize;
            let lb = (next() % 4) as usize;
            let a: Vec<u16> = (0..la)
                .map(|_| pool[(next() % pool.len() as u64) as usize])
                .collect();
            let b: Vec<u16> = (0..lb)
                .map(|_| pool[(next() % pool.len() as u64) as usize])
                .collect();
            assert_eq!(eq_ignore_case(&a, &b), up(&a) == up(&b), "{a:x?} {b:x?}");
            assert!(eq_ignore_case(&a, &a));
            assert_eq!(eq_ignore_case(&a, &b), eq_ignore_case(&b, &a));
        }
    }
}
