//! The `walk` listing that `rustfsd-inspect walk` (the ext4 reader) and `filetest --walk` (the
//! driver, through dispatch in the NT model) both print, so that the two can be compared byte
//! for byte: one line per path, `TYPE SIZE SHA256 PATH`, sorted by the path's disk bytes, and
//! `error PATH: reason` on standard error for each damaged path. Host tools only.
//!
//! Lines: `d - -` for a directory, `f SIZE HASH` for a regular file (its content), `l LEN HASH`
//! for a symlink (its target's bytes), `p|c|b|s 0 -` for the special files. PATH is the disk
//! bytes from the root (`/a/b`), escaped by [`escape`].

use std::fmt::Write as _;
use std::format;
use std::io::{self, Write};
use std::string::{String, ToString};
use std::vec::Vec;

use sha2::{Digest, Sha256};

use crate::ext4::FileType;

/// How deep a walk goes before it reports `directories nested too deep`.
pub const MAX_DEPTH: usize = 4096;
/// How many entries a walk lists before it gives up (a hostile image's bound).
pub const MAX_ENTRIES: usize = 50_000_000;

/// The reason for a directory met a second time.
pub fn cycle_reason(ino: u64) -> String {
    format!("directory cycle or hard-linked directory (inode {ino})")
}

/// The reason for a directory below [`MAX_DEPTH`].
pub const TOO_DEEP: &str = "directories nested too deep";

/// Path bytes as text: valid UTF-8 as itself, `\` doubled, control characters and bytes that
/// are not UTF-8 as `\xNN`.
pub fn escape(p: &[u8]) -> String {
    let mut s = String::new();
    for chunk in p.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                c if c.is_control() => {
                    let _ = write!(s, "\\x{:02x}", c as u32);
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

/// `parent/name`.
pub fn child_path(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(parent.len() + 1 + name.len());
    p.extend_from_slice(parent);
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

/// The letter of a file type, as `ls -l` writes it (`f` for a regular file).
pub fn type_char(t: FileType) -> char {
    match t {
        FileType::Regular => 'f',
        FileType::Directory => 'd',
        FileType::Symlink => 'l',
        FileType::CharDevice => 'c',
        FileType::BlockDevice => 'b',
        FileType::Fifo => 'p',
        FileType::Socket => 's',
    }
}

pub const DIRECTORY_LINE: &str = "d - -";

/// The line of a special file (FIFO, device, socket).
pub fn special_line(t: FileType) -> String {
    format!("{} 0 -", type_char(t))
}

/// The line of a symlink to `target`.
pub fn symlink_line(target: &[u8]) -> String {
    format!("l {} {:x}", target.len(), Sha256::digest(target))
}

/// A regular file's content, fed in pieces, and its line.
#[derive(Default)]
pub struct ContentHash {
    hash: Sha256,
    size: u64,
}

impl ContentHash {
    pub fn update(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
        self.size += bytes.len() as u64;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn line(self) -> String {
        format!("f {} {:x}", self.size, self.hash.finalize())
    }
}

/// The lines and damaged paths of a walk, in any order until [`Listing::print`].
#[derive(Default)]
pub struct Listing {
    lines: Vec<(Vec<u8>, String)>,
    damaged: Vec<(Vec<u8>, String)>,
}

impl Listing {
    pub fn line(&mut self, path: Vec<u8>, line: String) {
        self.lines.push((path, line));
    }

    /// A damaged path (`/` for the root) and why.
    pub fn damage(&mut self, path: &[u8], reason: impl ToString) {
        let shown = if path.is_empty() { b"/" } else { path };
        self.damaged.push((shown.to_vec(), reason.to_string()));
    }

    pub fn lines(&self) -> usize {
        self.lines.len()
    }

    /// The damaged paths so far, as printed.
    pub fn damaged(&self) -> impl Iterator<Item = (String, &str)> {
        self.damaged.iter().map(|(p, r)| (escape(p), r.as_str()))
    }

    /// Writes the damage to `err` and the lines to `out`, each sorted; returns how many
    /// damaged paths there were. A failed write to `err` is ignored (the status says it).
    pub fn print(mut self, out: &mut impl Write, err: &mut impl Write) -> io::Result<usize> {
        self.damaged.sort();
        for (p, reason) in &self.damaged {
            let _ = writeln!(err, "error {}: {reason}", escape(p));
        }
        self.lines.sort();
        for (p, l) in &self.lines {
            writeln!(out, "{l} {}", escape(p))?;
        }
        Ok(self.damaged.len())
    }
}
