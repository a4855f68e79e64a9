//! `rustfsd-inspect` end to end: `walk` must equal the same walk computed from a debugfs
//! `rdump` of the image, and the other commands must agree with debugfs.

mod support;

use std::fmt::Write as _;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

fn inspect(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rustfsd-inspect"))
        .args(args)
        .output()
        .unwrap()
}

/// The tool's escaping of path bytes, written again here independently.
fn escape(p: &[u8]) -> String {
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

fn walk_matches_debugfs(name: &str) {
    let img = support::image(name);
    let out = inspect(&["walk".as_ref(), img.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = String::from_utf8(out.stdout).unwrap();

    let dump = support::cache_dir().join(format!("walk-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dump);
    fs::create_dir_all(&dump).unwrap();
    support::debugfs(&img, &[format!("rdump / {}", dump.display())]);
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
    let outs = support::debugfs(&img, &reqs);
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
    assert!(ours.lines().count() > 3000);
    if ours != theirs {
        for (a, b) in ours.lines().zip(theirs.lines()) {
            assert_eq!(a, b, "{name}: first differing walk line");
        }
        panic!(
            "{name}: walks differ in length: {} vs {}",
            ours.lines().count(),
            theirs.lines().count()
        );
    }
}

#[test]
fn walk_ext4_equals_debugfs() {
    walk_matches_debugfs("ext4");
}

#[test]
fn walk_ext3_equals_debugfs() {
    walk_matches_debugfs("ext3");
}

#[test]
fn walk_bigalloc_equals_debugfs() {
    walk_matches_debugfs("ext4-bigalloc");
}

#[test]
fn info_ls_stat_cat() {
    let img = support::image("ext4");
    let run = |args: &[&str]| {
        let mut a: Vec<&std::ffi::OsStr> = vec![args[0].as_ref(), img.as_os_str()];
        a.extend(args[1..].iter().map(|s| std::ffi::OsStr::new(*s)));
        let o = inspect(&a);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    let info = String::from_utf8(run(&["info"])).unwrap();
    assert!(info.contains(&format!("uuid: {}", support::UUID)), "{info}");
    assert!(info.contains("label: rustfsd-test"));
    assert!(info.contains("block size: 4096"));
    assert!(info.contains("metadata_csum"));
    let d = support::debugfs(&img, &["cat /random-1m".into(), "stat /mode-4755".into()]);
    assert_eq!(run(&["cat", "/random-1m"]), d[0]);
    assert_eq!(run(&["cat", "/link-to-hello"]), b"../hello.txt");
    let stat = String::from_utf8(run(&["stat", "/mode-4755"])).unwrap();
    assert!(stat.contains("mode: 104755"), "{stat}");
    let dstat = String::from_utf8_lossy(&d[1]);
    let ino = dstat.split_whitespace().nth(1).unwrap();
    assert!(
        stat.contains(&format!("inode: {ino}\n")),
        "{stat} vs {dstat}"
    );
    let ls = String::from_utf8(run(&["ls", "/names"])).unwrap();
    assert!(ls.contains("caf\\xe9"), "{ls}");
    assert!(ls.contains("new\\x0aline"), "{ls}");
    assert_eq!(ls.lines().count(), 2 + 8);
}
