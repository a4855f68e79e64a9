//! The `rustfsd-inspect walk` listing of an image computed from debugfs alone (an `rdump`
//! plus `ls -p` for special files): the outside oracle for the tool's view of a volume.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The tool's escaping of path bytes, written again here independently.
pub fn escape(p: &[u8]) -> String {
    let mut s = String::new();
    for chunk in p.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                s.push_str("\\\\");
            } else if c.is_control() {
                write!(s, "\\x{:02x}", c as u32).unwrap();
            } else {
                s.push(c);
            }
        }
        for b in chunk.invalid() {
            write!(s, "\\x{b:02x}").unwrap();
        }
    }
    s
}

fn walk_dump(root: &Path, rel: &[u8], out: &mut Vec<(Vec<u8>, String)>) {
    let dir = root.join(std::ffi::OsStr::from_bytes(
        rel.strip_prefix(b"/").unwrap_or(rel),
    ));
    for e in fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        let mut p = rel.to_vec();
        p.push(b'/');
        p.extend_from_slice(name.as_bytes());
        let full = root.join(std::ffi::OsStr::from_bytes(&p[1..]));
        let md = fs::symlink_metadata(&full).unwrap();
        let ft = md.file_type();
        let line = if ft.is_dir() {
            walk_dump(root, &p, out);
            "d - -".to_string()
        } else if ft.is_symlink() {
            let t = fs::read_link(&full).unwrap();
            let t = t.as_os_str().as_bytes();
            format!("l {} {:x}", t.len(), Sha256::digest(t))
        } else if ft.is_file() {
            let data = fs::read(&full).unwrap();
            format!("f {} {:x}", data.len(), Sha256::digest(&data))
        } else if ft.is_fifo() {
            "p 0 -".to_string()
        } else {
            panic!("unexpected file type in dump: {}", full.display());
        };
        out.push((p, line));
    }
}

/// `TYPE SIZE SHA256 PATH` lines, sorted by path, as debugfs sees `img`.
/// `debugfs rdump /` of `img` into a fresh directory (unique per call: tests of one binary run
/// on several threads). The caller removes it.
pub fn rdump(img: &Path) -> std::path::PathBuf {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dump = super::cache_dir().join(format!("walk-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dump);
    fs::create_dir_all(&dump).unwrap();
    super::debugfs(img, &[format!("rdump / {}", dump.display())]);
    dump
}

pub fn debugfs_walk(img: &Path) -> String {
    let dump = rdump(img);
    let mut lines = Vec::new();
    walk_dump(&dump, b"", &mut lines);
    // rdump skips special files: list them with debugfs `ls -p` in every directory.
    let mut dirs: Vec<Vec<u8>> = vec![Vec::new()];
    dirs.extend(
        lines
            .iter()
            .filter(|(_, l)| l.starts_with("d "))
            .map(|(p, _)| p.clone()),
    );
    let reqs: Vec<String> = dirs
        .iter()
        .map(|d| {
            format!(
                "ls -p \"{}\"",
                String::from_utf8_lossy(if d.is_empty() { b"/" } else { d })
            )
        })
        .collect();
    let outs = super::debugfs(img, &reqs);
    for (d, out) in dirs.iter().zip(outs) {
        for rec in out.split(|&b| b == b'\n') {
            let f: Vec<&[u8]> = rec.split(|&b| b == b'/').collect();
            if f.len() < 7 {
                continue;
            }
            let mode = u32::from_str_radix(std::str::from_utf8(f[2]).unwrap(), 8).unwrap();
            let t = match mode & 0o170000 {
                0o010000 => "p",
                0o020000 => "c",
                0o060000 => "b",
                0o140000 => "s",
                _ => continue,
            };
            let mut p = d.clone();
            p.push(b'/');
            p.extend_from_slice(f[5]);
            lines.push((p, format!("{t} 0 -")));
        }
    }
    lines.sort();
    let mut theirs = String::new();
    for (p, l) in lines {
        writeln!(theirs, "{l} {}", escape(&p)).unwrap();
    }
    let _ = fs::remove_dir_all(&dump);
    theirs
}

/// Regular files of a debugfs rdump, as (Windows path on the volume, content). Names that
/// need the escaping of docs/names.md are left to the name tests.
/// debugfs 1.47 dumps all 60 bytes of i_block for an inline-data file shorter than that: the
/// content is the first i_size bytes, as debugfs `stat` gives the size.
pub fn dumped_files_of(name: &str) -> Vec<(String, Vec<u8>)> {
    let image = super::image(name);
    let mut files = dumped_files(&image);
    let requests: Vec<String> = files
        .iter()
        .map(|(path, _)| format!("stat {}", super::dq(path.replace('\\', "/").as_bytes())))
        .collect();
    let stats = super::debugfs(&image, &requests);
    for ((path, data), stat) in files.iter_mut().zip(stats) {
        let text = String::from_utf8_lossy(&stat);
        let size: usize = text
            .split("Size: ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name}: {path}: no size in {text}"));
        if data.len() > size && data[size..].iter().all(|&b| b == 0) {
            data.truncate(size);
        }
        assert_eq!(data.len(), size, "{name}: {path}: dump and i_size differ");
    }
    files
}

pub fn dumped_files(image: &Path) -> Vec<(String, Vec<u8>)> {
    let dump = rdump(image);
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dump.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            let Ok(relative) = entry.path().strip_prefix(&dump).map(Path::to_path_buf) else {
                continue;
            };
            let Some(text) = relative.to_str() else {
                continue;
            };
            let plain = text.split('/').all(|c| {
                !c.is_empty()
                    && !c.ends_with(['.', ' '])
                    && c.chars()
                        .all(|ch| ch.is_ascii_graphic() && !"\\:*?\"<>|".contains(ch) || ch == ' ')
            });
            if kind.is_dir() {
                if plain {
                    stack.push(entry.path());
                }
            } else if kind.is_file() && plain {
                let windows = format!("\\{}", text.replace('/', "\\"));
                files.push((windows, fs::read(entry.path()).unwrap()));
            }
        }
    }
    let _ = fs::remove_dir_all(&dump);
    files.sort();
    files
}
