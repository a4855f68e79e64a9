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

/// A walk line, or what to make one of: a symlink's target, a dumped file.
enum Line {
    Text(String),
    Link(Vec<u8>),
    File(std::path::PathBuf),
}

fn walk_dump(root: &Path, rel: &[u8], out: &mut Vec<(Vec<u8>, Line)>) {
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
            Line::Text("d - -".to_string())
        } else if ft.is_symlink() {
            Line::Link(
                fs::read_link(&full)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
            )
        } else if ft.is_file() {
            Line::File(full)
        } else if ft.is_fifo() {
            Line::Text("p 0 -".to_string())
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

/// The tree as debugfs sees it, in `rustfsd-inspect walk`'s line format.
pub fn debugfs_walk(img: &Path) -> String {
    let dump = rdump(img);
    let mut lines = Vec::new();
    walk_dump(&dump, b"", &mut lines);
    // rdump skips special files: list them with debugfs `ls -p` in every directory.
    let mut dirs: Vec<Vec<u8>> = vec![Vec::new()];
    dirs.extend(
        lines
            .iter()
            .filter(|(_, l)| matches!(l, Line::Text(t) if t.starts_with("d ")))
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
    // The sizes of regular files, as `ls -p` gives them.
    let mut sizes = std::collections::HashMap::new();
    for (d, out) in dirs.iter().zip(outs) {
        // Records are `/ino/mode/uid/gid/name/size/` and a newline; a name may hold a newline
        // but never `/`, so the fields are read by counting slashes.
        let tokens: Vec<&[u8]> = out.split(|&b| b == b'/').collect();
        for f in tokens
            .get(1..)
            .unwrap_or(&[])
            .chunks(7)
            .filter(|f| f.len() == 7)
        {
            let mode = u32::from_str_radix(std::str::from_utf8(f[1]).unwrap().trim(), 8).unwrap();
            let mut p = d.clone();
            p.push(b'/');
            p.extend_from_slice(f[4]);
            if mode & 0o170000 == 0o100000 {
                let size = std::str::from_utf8(f[5]).unwrap().trim().parse::<usize>();
                sizes.insert(p, size.unwrap());
                continue;
            }
            let t = match mode & 0o170000 {
                0o010000 => "p",
                0o020000 => "c",
                0o060000 => "b",
                0o140000 => "s",
                _ => continue,
            };
            lines.push((p, Line::Text(format!("{t} 0 -"))));
        }
    }
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut raw = String::new();
    for (p, l) in lines {
        let path = escape(&p);
        match l {
            Line::Text(t) => {
                writeln!(raw, "{t} {path}").unwrap();
            }
            Line::File(full) => {
                let mut data = fs::read(&full).unwrap();
                // debugfs 1.47 dumps an inline-data file's whole 60-byte i_block: the size
                // `ls -p` gives is the file's.
                if let Some(&size) = sizes.get(&p) {
                    data.truncate(size);
                }
                let t = format!("f {} {:x}", data.len(), Sha256::digest(&data));
                writeln!(raw, "{t} {path}").unwrap();
            }
            Line::Link(target) => {
                let line = format!("l {} {:x} {path}", target.len(), Sha256::digest(&target));
                writeln!(raw, "{line}").unwrap();
            }
        }
    }
    let _ = fs::remove_dir_all(&dump);
    raw
}

/// How a walking tool ended.
pub struct ToolWalk {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ToolWalk {
    /// The paths of the `error PATH: reason` lines, in order.
    pub fn error_paths(&self) -> Vec<String> {
        self.stderr
            .lines()
            .filter_map(|l| l.strip_prefix("error "))
            .map(|l| l.split_once(": ").map_or(l, |(p, _)| p).to_string())
            .collect()
    }
}

/// Runs `cmd`, killing it (and failing the test) if it runs longer than `limit`.
pub fn run_bounded(mut cmd: std::process::Command, limit: std::time::Duration) -> ToolWalk {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        out.read_to_end(&mut text).unwrap();
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        err.read_to_end(&mut text).unwrap();
        text
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} ran longer than {limit:?}: a hang");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let stdout = String::from_utf8(reader.join().unwrap()).unwrap();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.signal().is_none(),
        "{cmd:?} died of signal {:?}: {stderr}",
        status.signal()
    );
    ToolWalk {
        code: status.code(),
        stdout,
        stderr,
    }
}

/// `filetest --image IMG --walk`, bounded to two minutes.
pub fn filetest_walk(img: &Path) -> ToolWalk {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_filetest"));
    cmd.arg("--image").arg(img).arg("--walk");
    run_bounded(cmd, std::time::Duration::from_secs(120))
}

/// `rustfsd-inspect walk IMG`, bounded to two minutes.
pub fn inspect_walk(img: &Path) -> ToolWalk {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rustfsd-inspect"));
    cmd.arg("walk").arg(img);
    run_bounded(cmd, std::time::Duration::from_secs(120))
}

/// Both walks of a damaged image: neither hangs nor dies of a signal, each exits 0, 1 or 2
/// with stderr in its documented form, and one line compares them (`--nocapture` shows it;
/// docs/scenarios.md explains the differences).
pub fn walk_damaged(tag: &str, img: &Path) -> (ToolWalk, ToolWalk) {
    let inspect = inspect_walk(img);
    let ours = filetest_walk(img);
    for (tool, walk) in [("inspect", &inspect), ("filetest", &ours)] {
        match walk.code {
            Some(0) => assert!(walk.stderr.is_empty(), "{tag}: {tool}: {}", walk.stderr),
            Some(1) => assert!(
                walk.stderr
                    .lines()
                    .all(|l| l.starts_with("error /") || l.starts_with("filetest: ")),
                "{tag}: {tool}: {}",
                walk.stderr
            ),
            Some(2) => assert_eq!(
                walk.stderr.lines().count(),
                1,
                "{tag}: {tool}: {}",
                walk.stderr
            ),
            other => panic!("{tag}: {tool}: status {other:?}: {}", walk.stderr),
        }
    }
    // Findings of the verifier are never the image's fault.
    assert!(
        !ours.stderr.contains("filetest: verifier") && !ours.stderr.contains("did not unload"),
        "{tag}: {}",
        ours.stderr
    );
    // Both refuse the same volumes, list the same paths the same way (but for link targets
    // in NT form) and report the same damaged paths: a damaged directory block is
    // STATUS_FILE_CORRUPT_ERROR through the driver, which the walk reports for the directory
    // before it lists the other blocks, as inspect does.
    assert_eq!(
        inspect.code == Some(2),
        ours.code == Some(2),
        "{tag}: {}",
        ours.stderr
    );
    let ours_paths = ours.error_paths();
    let theirs = inspect.error_paths();
    for path in &ours_paths {
        assert!(theirs.contains(path), "{tag}: only filetest reports {path}");
    }
    let only_inspect: Vec<&String> = theirs.iter().filter(|p| !ours_paths.contains(p)).collect();
    assert!(
        only_inspect.is_empty(),
        "{tag}: only inspect reports {only_inspect:?}"
    );
    let kept = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| match l.strip_prefix("l ") {
                Some(rest) => format!("l {}", rest.splitn(3, ' ').nth(2).unwrap_or("")),
                None => l.to_string(),
            })
            .collect()
    };
    assert_eq!(
        kept(&ours.stdout),
        kept(&inspect.stdout),
        "{tag}: listings differ"
    );
    println!(
        "walk {tag}: exit inspect {:?} filetest {:?}; {} damaged paths in both",
        inspect.code,
        ours.code,
        ours_paths.len(),
    );
    (inspect, ours)
}

/// Two listings are equal; if not, the first differing line (or the line counts) fails.
pub fn same_lines(name: &str, what: &str, ours: &str, theirs: &str) {
    if ours != theirs {
        for (a, b) in ours.lines().zip(theirs.lines()) {
            assert_eq!(a, b, "{name}: {what}: first differing line");
        }
        panic!(
            "{name}: {what}: {} lines vs {}",
            ours.lines().count(),
            theirs.lines().count()
        );
    }
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
