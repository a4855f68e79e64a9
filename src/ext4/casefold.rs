//! Names in casefolded directories (`casefold` feature, `+F` directories), as far as this
//! reader folds them: ASCII names fold to lower case, which is what Linux's UTF-8
//! normalize-and-casefold gives for them, so their htree hashes and comparisons agree with
//! Linux. Names with other bytes are not folded (no Unicode tables here): they are looked up
//! by exact bytes with a linear scan.

use alloc::vec::Vec;

use super::error::{Error, Result};

/// `s_encoding` of UTF-8 (Unicode 12.1), the only encoding Linux defines.
pub const ENCODING_UTF8_12_1: u16 = 1;

/// The folded form of an ASCII name, or `None` when the name has other bytes.
pub(crate) fn fold(name: &[u8]) -> Result<Option<Vec<u8>>> {
    if !name.is_ascii() {
        return Ok(None);
    }
    let mut folded = Vec::new();
    folded
        .try_reserve_exact(name.len())
        .map_err(|_| Error::NoMemory)?;
    folded.extend(name.iter().map(u8::to_ascii_lowercase));
    Ok(Some(folded))
}

/// Whether a directory entry's name matches a folded ASCII name. Entries with other bytes
/// never match (their folding would need the Unicode tables).
pub(crate) fn matches(folded: &[u8], entry: &[u8]) -> bool {
    entry.is_ascii() && entry.eq_ignore_ascii_case(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_folds_to_lower_case() {
        assert_eq!(fold(b"File-7.TXT"), Ok(Some(b"file-7.txt".to_vec())));
        assert_eq!(fold("straße".as_bytes()), Ok(None));
        assert!(matches(b"file-7.txt", b"FILE-7.txt"));
        assert!(!matches(b"file-7.txt", b"file-8.txt"));
        assert!(!matches(b"k", "\u{212A}".as_bytes()));
    }
}
