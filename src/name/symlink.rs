//! ext4 symlinks as NT symbolic-link reparse points.
//!
//! When a create walks into a symlink, the FSD completes it with STATUS_REPARSE and a
//! REPARSE_DATA_BUFFER tagged IO_REPARSE_TAG_SYMLINK; the I/O manager then builds the new name
//! and reissues the open itself. The Linux target is turned into a *relative* NT symlink:
//! - `/` separators become `\` (runs of `/` count as one; a trailing `/` is dropped);
//! - each component goes through [`to_windows`](super::to_windows), so bytes that are not
//!   valid or not allowed in Windows names survive as escapes;
//! - an absolute target (`/usr/lib`) becomes a rooted relative target (`\usr\lib`), which
//!   Windows resolves from the root of the volume the link is on (not the system drive).
//!
//! Layout (all little-endian; offsets in bytes):
//! ```text
//!  0 ReparseTag u32 = 0xA000000C       4 ReparseDataLength u16 = 12 + PathBuffer bytes
//!  6 Reserved u16 = unparsed bytes     8 SubstituteNameOffset u16   10 SubstituteNameLength u16
//! 12 PrintNameOffset u16              14 PrintNameLength u16        16 Flags u32 = 1 (RELATIVE)
//! 20 PathBuffer: substitute name, then print name (UTF-16, no NUL terminators)
//! ```

use alloc::vec::Vec;

use super::{NameError, escape::to_windows, reserve};

/// The reparse tag of an NT symbolic link.
pub const IO_REPARSE_TAG_SYMLINK: u32 = 0xA000_000C;
/// `Flags` bit: the substitute name is relative to the link's directory (or, if it starts
/// with `\`, to the root of the link's volume).
pub const SYMLINK_FLAG_RELATIVE: u32 = 0x0000_0001;
/// The largest reparse buffer, header included (ntifs.h MAXIMUM_REPARSE_DATA_BUFFER_SIZE).
pub const MAXIMUM_REPARSE_DATA_BUFFER_SIZE: usize = 16 * 1024;

/// Bytes before PathBuffer.
const HEADER_BYTES: usize = 20;
/// Bytes of the common header (tag, data length, reserved) not counted in ReparseDataLength.
const COMMON_HEADER_BYTES: usize = 8;
const BACKSLASH: u16 = b'\\' as u16;

/// Converts a Linux symlink target to the NT relative form described in the module docs.
fn convert_target(target: &[u8], out: &mut Vec<u16>) -> Result<(), NameError> {
    reserve(out, target.len())?;
    if target.first() == Some(&b'/') {
        reserve(out, 1)?;
        out.push(BACKSLASH);
    }
    let mut first = true;
    for comp in target.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        if !first {
            reserve(out, 1)?;
            out.push(BACKSLASH);
        }
        first = false;
        to_windows(comp, out)?;
    }
    Ok(())
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Replaces `out` with a REPARSE_DATA_BUFFER for IO_REPARSE_TAG_SYMLINK pointing at the Linux
/// `target`, with `Reserved` = `unparsed_name_bytes`: the number of bytes at the end of the
/// create's FileName not yet parsed when the link was met (see
/// [`Component::remaining_bytes`](super::Component)).
///
/// Substitute and print names are both the converted target. If both copies do not fit the
/// 16 KiB limit the print name is left empty (only the substitute name is used to follow the
/// link); if the substitute name alone does not fit, or the target is empty, the result is
/// [`NameError::BadLinkTarget`].
pub fn symlink_reparse_buffer(
    target: &[u8],
    unparsed_name_bytes: u16,
    out: &mut Vec<u8>,
) -> Result<(), NameError> {
    out.clear();
    if target.is_empty() {
        return Err(NameError::BadLinkTarget);
    }
    if target.len() > MAXIMUM_REPARSE_DATA_BUFFER_SIZE {
        // Never fits: each byte is at least one UTF-16 unit (2 bytes).
        return Err(NameError::BadLinkTarget);
    }
    let mut name = Vec::new();
    convert_target(target, &mut name)?;
    let name_bytes = name.len().checked_mul(2).ok_or(NameError::BadLinkTarget)?;
    let room = MAXIMUM_REPARSE_DATA_BUFFER_SIZE.saturating_sub(HEADER_BYTES);
    let with_print = name_bytes.checked_mul(2).is_some_and(|b| b <= room);
    if !with_print && name_bytes > room {
        return Err(NameError::BadLinkTarget);
    }
    let path_bytes = if with_print {
        name_bytes.saturating_mul(2)
    } else {
        name_bytes
    };
    let total = HEADER_BYTES.saturating_add(path_bytes);
    let too_big = |_| NameError::BadLinkTarget;
    let data_len = u16::try_from(total.saturating_sub(COMMON_HEADER_BYTES)).map_err(too_big)?;
    let sub_len = u16::try_from(name_bytes).map_err(too_big)?;
    let print_len = if with_print { sub_len } else { 0 };

    reserve(out, total)?;
    out.extend_from_slice(&IO_REPARSE_TAG_SYMLINK.to_le_bytes());
    put_u16(out, data_len);
    put_u16(out, unparsed_name_bytes);
    put_u16(out, 0); // SubstituteNameOffset
    put_u16(out, sub_len);
    put_u16(out, sub_len); // PrintNameOffset: right after the substitute name
    put_u16(out, print_len);
    out.extend_from_slice(&SYMLINK_FLAG_RELATIVE.to_le_bytes());
    for u in name.iter() {
        put_u16(out, *u);
    }
    if with_print {
        for u in name.iter() {
            put_u16(out, *u);
        }
    }
    Ok(())
}

/// Replaces `out` with the REPARSE_DATA_BUFFER WSL writes for a symlink on NTFS: tag
/// IO_REPARSE_TAG_LX_SYMLINK, then a ULONG 2 (the format version) and the target's bytes as
/// they are (UTF-8, no terminator). Format from Cygwin's reader of WSL symlinks
/// (`winsup/cygwin/path.cc`, REPARSE_LX_SYMLINK_BUFFER); Reserved as for
/// [`symlink_reparse_buffer`].
pub fn lx_symlink_reparse_buffer(
    tag: u32,
    target: &[u8],
    unparsed_name_bytes: u16,
    out: &mut Vec<u8>,
) -> Result<(), NameError> {
    const VERSION: u32 = 2;
    out.clear();
    let data_len = target.len().saturating_add(4);
    let total = data_len.saturating_add(COMMON_HEADER_BYTES);
    if target.is_empty() || total > MAXIMUM_REPARSE_DATA_BUFFER_SIZE {
        return Err(NameError::BadLinkTarget);
    }
    reserve(out, total)?;
    out.extend_from_slice(&tag.to_le_bytes());
    put_u16(out, data_len as u16);
    put_u16(out, unparsed_name_bytes);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(target);
    Ok(())
}

/// Replaces `out` with a REPARSE_DATA_BUFFER of `tag` and no data: what WSL stores for FIFOs,
/// devices and sockets, whose metadata lives in the $LX* EAs.
pub fn empty_reparse_buffer(
    tag: u32,
    unparsed_name_bytes: u16,
    out: &mut Vec<u8>,
) -> Result<(), NameError> {
    out.clear();
    reserve(out, COMMON_HEADER_BYTES)?;
    out.extend_from_slice(&tag.to_le_bytes());
    put_u16(out, 0);
    put_u16(out, unparsed_name_bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn wsl_buffers() {
        let mut out = Vec::new();
        lx_symlink_reparse_buffer(0xA000_001D, b"../t\xc3\xa9", 6, &mut out).unwrap();
        assert_eq!(&out[..12], &[0x1D, 0, 0, 0xA0, 10, 0, 6, 0, 2, 0, 0, 0]);
        assert_eq!(&out[12..], b"../t\xc3\xa9");
        assert!(lx_symlink_reparse_buffer(1, b"", 0, &mut out).is_err());
        assert!(lx_symlink_reparse_buffer(1, &[b'a'; 16_373], 0, &mut out).is_err());
        lx_symlink_reparse_buffer(1, &[b'a'; 16_372], 0, &mut out).unwrap();
        assert_eq!(out.len(), MAXIMUM_REPARSE_DATA_BUFFER_SIZE);
        empty_reparse_buffer(0x8000_0024, 0, &mut out).unwrap();
        assert_eq!(out, [0x24, 0, 0, 0x80, 0, 0, 0, 0]);
    }

    fn u16_at(b: &[u8], off: usize) -> u16 {
        u16::from_le_bytes([b[off], b[off + 1]])
    }

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
    }

    fn units(b: &[u8], off: usize, len: usize) -> Vec<u16> {
        (0..len / 2).map(|i| u16_at(b, off + 2 * i)).collect()
    }

    fn build(target: &[u8], reserved: u16) -> Vec<u8> {
        let mut out = Vec::new();
        symlink_reparse_buffer(target, reserved, &mut out).unwrap();
        out
    }

    /// Checks every header field and returns (substitute, print).
    fn fields(b: &[u8], reserved: u16) -> (Vec<u16>, Vec<u16>) {
        assert_eq!(u32_at(b, 0), 0xA000_000C);
        assert_eq!(usize::from(u16_at(b, 4)), b.len() - 8, "ReparseDataLength");
        assert_eq!(u16_at(b, 6), reserved, "Reserved");
        let (so, sl) = (usize::from(u16_at(b, 8)), usize::from(u16_at(b, 10)));
        let (po, pl) = (usize::from(u16_at(b, 12)), usize::from(u16_at(b, 14)));
        assert_eq!(u32_at(b, 16), 1, "Flags = SYMLINK_FLAG_RELATIVE");
        assert_eq!(b.len(), 20 + sl + pl);
        assert!(b.len() <= MAXIMUM_REPARSE_DATA_BUFFER_SIZE);
        (units(b, 20 + so, sl), units(b, 20 + po, pl))
    }

    fn u(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn relative_target_field_by_field() {
        let b = build(b"../lib/libc.so.6", 10);
        // Exact bytes of the header.
        let n = u("..\\lib\\libc.so.6").len() as u16 * 2;
        let mut expect = vec![0x0C, 0x00, 0x00, 0xA0];
        expect.extend_from_slice(&(12 + 2 * n).to_le_bytes());
        expect.extend_from_slice(&10u16.to_le_bytes());
        expect.extend_from_slice(&0u16.to_le_bytes());
        expect.extend_from_slice(&n.to_le_bytes());
        expect.extend_from_slice(&n.to_le_bytes());
        expect.extend_from_slice(&n.to_le_bytes());
        expect.extend_from_slice(&[1, 0, 0, 0]);
        assert_eq!(&b[..20], expect.as_slice());
        let (sub, print) = fields(&b, 10);
        assert_eq!(sub, u("..\\lib\\libc.so.6"));
        assert_eq!(print, sub);
    }

    #[test]
    fn absolute_target_is_rooted() {
        let (sub, print) = fields(&build(b"/usr/lib", 0), 0);
        assert_eq!(sub, u("\\usr\\lib"));
        assert_eq!(print, sub);
        let (sub, _) = fields(&build(b"/", 0), 0);
        assert_eq!(sub, u("\\"));
        let (sub, _) = fields(&build(b"//usr///lib//", 0), 0);
        assert_eq!(sub, u("\\usr\\lib"));
        let (sub, _) = fields(&build(b"./a/", 4), 4);
        assert_eq!(sub, u(".\\a"));
    }

    #[test]
    fn components_are_escaped() {
        let (sub, _) = fields(&build(b"a:b/\xFF/x\\y", 0), 0);
        let mut want = vec![0x61, 0xF03A, 0x62, 0x5C, 0xF0FF, 0x5C, 0x78, 0xF05C, 0x79];
        assert_eq!(sub, want);
        want.clear();
        let (sub, _) = fields(&build("Grüße/😀".as_bytes(), 0), 0);
        assert_eq!(sub, u("Grüße\\😀"));
    }

    #[test]
    fn limits() {
        let mut out = vec![9u8];
        assert_eq!(
            symlink_reparse_buffer(b"", 0, &mut out),
            Err(NameError::BadLinkTarget)
        );
        assert!(out.is_empty());
        // 4091 ASCII bytes: both copies fit (20 + 4 * 4091 = 16384).
        let t: Vec<u8> = core::iter::repeat_n(b'a', 4091).collect();
        let b = build(&t, 0);
        assert_eq!(b.len(), MAXIMUM_REPARSE_DATA_BUFFER_SIZE);
        let (sub, print) = fields(&b, 0);
        assert_eq!((sub.len(), print.len()), (4091, 4091));
        // 4095 bytes (Linux's longest target): the print name is dropped.
        let t: Vec<u8> = core::iter::repeat_n(b'a', 4095).collect();
        let b = build(&t, 2);
        let (sub, print) = fields(&b, 2);
        assert_eq!((sub.len(), print.len()), (4095, 0));
        assert_eq!(
            u16_at(&b, 12),
            8190,
            "PrintNameOffset after the substitute name"
        );
        // 8182 units fit alone; 8183 do not.
        let t: Vec<u8> = core::iter::repeat_n(b'a', 8182).collect();
        assert_eq!(build(&t, 0).len(), MAXIMUM_REPARSE_DATA_BUFFER_SIZE);
        let t: Vec<u8> = core::iter::repeat_n(b'a', 8183).collect();
        assert_eq!(
            symlink_reparse_buffer(&t, 0, &mut out),
            Err(NameError::BadLinkTarget)
        );
        let t: Vec<u8> = core::iter::repeat_n(b'a', 70_000).collect();
        assert_eq!(
            symlink_reparse_buffer(&t, 0, &mut out),
            Err(NameError::BadLinkTarget)
        );
    }
}
