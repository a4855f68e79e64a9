//! IRP_MJ_DIRECTORY_CONTROL, IRP_MJ_QUERY_INFORMATION, IRP_MJ_SET_INFORMATION and
//! IRP_MJ_QUERY_VOLUME_INFORMATION through rustfsd's dispatch, in the NT model with the
//! verifier on, on real mke2fs images, against debugfs.

mod support;

use std::collections::BTreeMap;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::testing::set_volume_device_io_method;
use rustfsd::kernel::model::harness::{Handle, Session};
use support::machine::{
    as_backup_operator, dismount, finish, machine, open, open_ok, open_relative, open_with,
};

// Information classes.
const DIRECTORY: u32 = 1;
const FULL_DIRECTORY: u32 = 2;
const BOTH_DIRECTORY: u32 = 3;
const BASIC: u32 = 4;
const STANDARD: u32 = 5;
const INTERNAL: u32 = 6;
const NAME: u32 = 9;
const NAMES: u32 = 12;
const POSITION: u32 = 14;
const ALL: u32 = 18;
const ALTERNATE_NAME: u32 = 21;
const STREAM: u32 = 22;
const NETWORK_OPEN: u32 = 34;
const ATTRIBUTE_TAG: u32 = 35;
const ID_BOTH_DIRECTORY: u32 = 37;
const ID_FULL_DIRECTORY: u32 = 38;
const HARD_LINK: u32 = 46;
const NORMALIZED_NAME: u32 = 48;
const REMOTE_PROTOCOL: u32 = 55;
const ID: u32 = 59;
const ID_EXTD_DIRECTORY: u32 = 60;
const ID_EXTD_BOTH_DIRECTORY: u32 = 63;
const STAT: u32 = 68;
const STAT_LX: u32 = 70;
const CASE_SENSITIVE: u32 = 71;

const DIRECTORY_CLASSES: [u32; 8] = [
    DIRECTORY,
    FULL_DIRECTORY,
    BOTH_DIRECTORY,
    NAMES,
    ID_BOTH_DIRECTORY,
    ID_FULL_DIRECTORY,
    ID_EXTD_DIRECTORY,
    ID_EXTD_BOTH_DIRECTORY,
];

const FILE_ATTRIBUTE_READONLY: u32 = 0x1;
const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
const FILE_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
const IO_REPARSE_TAG_SYMLINK: u32 = 0xA000_000C;
const NT_UNIX_EPOCH: i64 = 116_444_736_000_000_000;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn utf16(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// Where each directory class puts the name (Learn's structure definitions, written again
/// here: the test does not use the driver's table).
fn name_offset(class: u32) -> usize {
    match class {
        DIRECTORY => 64,
        FULL_DIRECTORY => 68,
        BOTH_DIRECTORY => 94,
        NAMES => 12,
        ID_BOTH_DIRECTORY => 104,
        ID_FULL_DIRECTORY => 80,
        ID_EXTD_DIRECTORY => 88,
        ID_EXTD_BOTH_DIRECTORY => 114,
        _ => unreachable!(),
    }
}

/// One directory entry as a caller reads it.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    name: Vec<u16>,
    file_index: u32,
    times: [i64; 4],
    end_of_file: u64,
    attributes: u32,
    file_id: Option<u64>,
    /// The reparse tag of a reparse point, where the class carries it (0 otherwise).
    reparse_tag: u32,
}

/// Parses a buffer of entries of `class`, checking the links: 8-byte aligned, inside the data.
fn parse_entries(class: u32, data: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut at = 0usize;
    loop {
        let entry = &data[at..];
        let next = u32_at(entry, 0) as usize;
        let (name_length, times, end_of_file, attributes) = if class == NAMES {
            (u32_at(entry, 8) as usize, [0; 4], 0, 0)
        } else {
            (
                u32_at(entry, 60) as usize,
                [0, 8, 16, 24].map(|o| i64_at(entry, 8 + o)),
                u64_at(entry, 40),
                u32_at(entry, 56),
            )
        };
        let base = name_offset(class);
        let reparse = class != NAMES && u32_at(entry, 56) & FILE_ATTRIBUTE_REPARSE_POINT != 0;
        let reparse_tag = match class {
            _ if !reparse => 0,
            DIRECTORY | NAMES => 0,
            ID_EXTD_DIRECTORY | ID_EXTD_BOTH_DIRECTORY => u32_at(entry, 68),
            // MS-FSCC 2.4.17: EaSize holds the tag of a reparse point.
            _ => u32_at(entry, 64),
        };
        let file_id = match class {
            ID_BOTH_DIRECTORY => Some(u64_at(entry, 96)),
            ID_FULL_DIRECTORY => Some(u64_at(entry, 72)),
            ID_EXTD_DIRECTORY | ID_EXTD_BOTH_DIRECTORY => {
                assert_eq!(u64_at(entry, 80), 0, "high half of the 128-bit ID");
                Some(u64_at(entry, 72))
            }
            _ => None,
        };
        if matches!(class, BOTH_DIRECTORY | ID_BOTH_DIRECTORY) {
            assert_eq!(entry[68], 0, "ShortNameLength");
        }
        let name_end = (base + name_length).min(entry.len());
        entries.push(Entry {
            name: utf16(&entry[base..name_end]),
            file_index: u32_at(entry, 4),
            times,
            end_of_file,
            attributes,
            file_id,
            reparse_tag,
        });
        if next == 0 {
            assert!(at + base + name_length <= data.len() || entries.len() == 1);
            break;
        }
        assert_eq!(next % 8, 0, "NextEntryOffset {next} is not 8-byte aligned");
        assert!(next >= base + name_length, "entries overlap");
        at += next;
        assert!(at < data.len());
    }
    entries
}

/// Every entry of the open directory `dir`, in `length`-byte queries.
fn list(
    s: &mut Session,
    dir: Handle,
    class: u32,
    length: u32,
    pattern: Option<&str>,
) -> Vec<Entry> {
    list_counting(s, dir, class, length, pattern, &mut 0)
}

/// The same, adding the number of queries sent to `queries`.
fn list_counting(
    s: &mut Session,
    dir: Handle,
    class: u32,
    length: u32,
    pattern: Option<&str>,
    queries: &mut usize,
) -> Vec<Entry> {
    let mut all = Vec::new();
    let mut first = true;
    loop {
        *queries += 1;
        let outcome = s.query_directory_file(dir, class, length, pattern, false, false);
        match outcome.status {
            NtStatus::SUCCESS => {
                assert_eq!(outcome.information, outcome.data.len());
                all.extend(parse_entries(class, &outcome.data));
            }
            NtStatus::NO_MORE_FILES => break,
            NtStatus::NO_SUCH_FILE if first => break,
            other => panic!("query directory: {other:?}"),
        }
        first = false;
    }
    all
}

/// NtCreateFile of `name` relative to `dir` with FILE_OPEN_REPARSE_POINT.
fn open_relative_as_itself(
    s: &mut Session,
    dir: Handle,
    name: &str,
) -> rustfsd::kernel::model::harness::session::CreateResult {
    let mut request = rustfsd::kernel::model::harness::session::CreateRequest::open(name);
    request.root = Some(dir);
    // FILE_OPEN_FOR_BACKUP_INTENT too, as every helper's open (support::machine).
    request.options |= FILE_OPEN_REPARSE_POINT | 0x4000;
    s.nt_create_file(dir.pid, &request)
}

/// The reparse tag of `name` in `dir` (FileAttributeTagInformation of it opened as itself).
fn reparse_tag_of(s: &mut Session, dir: Handle, name: &str) -> u32 {
    let handle = open_relative_as_itself(s, dir, name).handle.unwrap();
    let io = s.query_information_file(handle, ATTRIBUTE_TAG, 8);
    s.close_handle(handle);
    u32_at(&io.data, 4)
}

fn text(name: &[u16]) -> String {
    String::from_utf16_lossy(name)
}

/// docs/names.md's escape, written again here: a disk name as Windows shows it.
fn escaped(raw: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    let escape =
        |out: &mut Vec<u16>, bytes: &[u8]| out.extend(bytes.iter().map(|&b| 0xF000 + u16::from(b)));
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            let forbidden = (c as u32) < 0x20 || "\"*/:<>?\\|".contains(c);
            let private = (0xF000..=0xF0FF).contains(&(c as u32));
            if forbidden || private {
                let mut buf = [0u8; 4];
                escape(&mut out, c.encode_utf8(&mut buf).as_bytes());
            } else {
                let mut buf = [0u16; 2];
                out.extend_from_slice(c.encode_utf16(&mut buf));
            }
        }
        escape(&mut out, chunk.invalid());
    }
    out
}

/// One `ls -p` record of debugfs.
#[derive(Clone, Debug)]
struct DebugfsEntry {
    ino: u64,
    mode: u32,
    name: Vec<u8>,
    size: u64,
}

fn debugfs_ls(image: &std::path::Path, inos: &[u64]) -> Vec<Vec<DebugfsEntry>> {
    let requests: Vec<String> = inos.iter().map(|ino| format!("ls -p <{ino}>")).collect();
    support::debugfs(image, &requests)
        .into_iter()
        .map(|out| {
            // Records are `/ino/mode/uid/gid/name/size/` + newline; names may hold newlines
            // but never `/`, so the fields are read by counting slashes.
            let tokens: Vec<&[u8]> = out.split(|&b| b == b'/').collect();
            tokens[1..]
                .chunks(7)
                .filter(|f| f.len() == 7)
                .map(|f| {
                    let num = |b: &[u8]| std::str::from_utf8(b).unwrap().trim().to_string();
                    DebugfsEntry {
                        ino: num(f[0]).parse().unwrap(),
                        mode: u32::from_str_radix(&num(f[1]), 8).unwrap(),
                        name: f[4].to_vec(),
                        size: num(f[5]).parse().unwrap_or(0),
                    }
                })
                .filter(|e| e.ino != 0)
                .filter(|e| e.name != b"." && e.name != b"..")
                .collect()
        })
        .collect()
}

/// `path → (ino, type, size)` of every entry under the root, as debugfs lists them.
fn debugfs_tree(image: &std::path::Path) -> BTreeMap<String, (u64, char, u64)> {
    let mut tree = BTreeMap::new();
    let mut level = vec![(2u64, String::new())];
    while !level.is_empty() {
        let inos: Vec<u64> = level.iter().map(|(ino, _)| *ino).collect();
        let listings = debugfs_ls(image, &inos);
        let mut next = Vec::new();
        for ((_, parent), entries) in level.iter().zip(listings) {
            for e in entries {
                let path = format!("{parent}\\{}", text(&escaped(&e.name)));
                let kind = match e.mode & 0o170000 {
                    0o040000 => 'd',
                    0o120000 => 'l',
                    _ => 'f',
                };
                let size = if kind == 'f' { e.size } else { 0 };
                if kind == 'd' {
                    next.push((e.ino, path.clone()));
                }
                tree.insert(path, (e.ino, kind, size));
            }
        }
        level = next;
    }
    tree
}

/// The same through the driver: NtQueryDirectoryFile in `length`-byte buffers, opening each
/// subdirectory relative to its parent's handle by the name the listing gave. Also returns
/// the IRPs sent (CREATE, the queries, CLEANUP and CLOSE).
fn driver_tree(
    s: &mut Session,
    class: u32,
    length: u32,
) -> (BTreeMap<String, (u64, char, u64)>, usize) {
    let mut tree = BTreeMap::new();
    let root = open_ok(s, "\\");
    let mut irps = 3;
    let mut stack = vec![(root, String::new())];
    while let Some((dir, path)) = stack.pop() {
        let entries = list_counting(s, dir, class, length, None, &mut irps);
        let mut dots = 0;
        for e in entries {
            let name = text(&e.name);
            if name == "." || name == ".." {
                dots += 1;
                continue;
            }
            let kind = if e.attributes & FILE_ATTRIBUTE_DIRECTORY != 0 {
                'd'
            } else if e.reparse_tag == IO_REPARSE_TAG_SYMLINK {
                'l'
            } else {
                // Regular files, and FIFOs, devices and sockets (reparse points with WSL's
                // tags, tests/rustfsd_wsl.rs), which debugfs_tree counts as files.
                assert_ne!(e.attributes & FILE_ATTRIBUTE_READONLY, 0, "{name}");
                'f'
            };
            let full = format!("{path}\\{name}");
            if kind == 'd' {
                let result = open_relative(s, dir, &String::from_utf16(&e.name).unwrap());
                assert_eq!(result.status, NtStatus::SUCCESS, "open {full}");
                stack.push((result.handle.unwrap(), full.clone()));
                irps += 3;
            }
            tree.insert(full, (e.file_id.unwrap(), kind, e.end_of_file));
        }
        assert_eq!(
            dots,
            if path.is_empty() { 0 } else { 2 },
            "dots in {path:?}"
        );
        s.close_handle(dir);
    }
    (tree, irps)
}

#[test]
fn dir_s_of_every_generated_image_matches_debugfs() {
    for image_name in support::STANDARD_IMAGES {
        let image = support::image(image_name);
        let theirs = debugfs_tree(&image);
        assert!(
            theirs.len() > 20,
            "{image_name}: too small a tree to prove anything"
        );
        let mut s = machine(&image);
        // Every directory, lost+found (0700) included: as a backup program lists them.
        as_backup_operator(&mut s);
        // Small buffers (several queries per directory) and a large one.
        for (class, length) in [(ID_BOTH_DIRECTORY, 700), (ID_EXTD_DIRECTORY, 65536)] {
            let started = std::time::Instant::now();
            let (ours, irps) = driver_tree(&mut s, class, length);
            println!(
                "dir /s {image_name}: class {class}, {length}-byte buffers: {} entries, {:?}, {irps} IRPs ({:.2} per entry)",
                ours.len(),
                started.elapsed(),
                irps as f64 / ours.len() as f64
            );
            let differ: Vec<_> = theirs
                .iter()
                .filter(|(k, v)| ours.get(*k) != Some(v))
                .map(|(k, v)| (k.clone(), Some(*v), ours.get(k).copied()))
                .chain(
                    ours.iter()
                        .filter(|(k, _)| !theirs.contains_key(*k))
                        .map(|(k, v)| (k.clone(), None, Some(*v))),
                )
                .take(10)
                .collect();
            assert!(
                differ.is_empty(),
                "{image_name} class {class} length {length}: (path, debugfs, ours) {differ:#?}"
            );
        }
        finish(s);
    }
}

#[test]
fn every_directory_class_lists_the_same_names_in_any_buffer_size() {
    let mut s = machine(&support::image("ext4"));
    let root = open_ok(&mut s, "\\");
    let reference: Vec<Vec<u16>> = list(&mut s, root, NAMES, 65536, None)
        .into_iter()
        .map(|e| e.name)
        .collect();
    s.close_handle(root);
    for class in DIRECTORY_CLASSES {
        // Room for the longest name (255 units) after any class's fixed part, so no entry
        // is cut.
        for length in [700, 1000, 4096] {
            let dir = open_ok(&mut s, "\\");
            let names: Vec<Vec<u16>> = list(&mut s, dir, class, length, None)
                .into_iter()
                .map(|e| e.name)
                .collect();
            assert_eq!(names, reference, "class {class} length {length}");
            s.close_handle(dir);
        }
    }
    finish(s);
}

#[test]
fn single_entries_restarts_and_resume_by_index() {
    let mut s = machine(&support::image("ext4"));
    let dir = open_ok(&mut s, "\\deep");
    let all = list(&mut s, dir, BOTH_DIRECTORY, 65536, None);
    assert_eq!(text(&all[0].name), ".");
    assert_eq!(text(&all[1].name), "..");
    // Restart, then one entry at a time.
    let mut singles = Vec::new();
    let first = s.query_directory_file(dir, BOTH_DIRECTORY, 65536, None, true, true);
    assert_eq!(first.status, NtStatus::SUCCESS);
    singles.extend(parse_entries(BOTH_DIRECTORY, &first.data));
    loop {
        let next = s.query_directory_file(dir, BOTH_DIRECTORY, 65536, None, false, true);
        if next.status == NtStatus::NO_MORE_FILES {
            break;
        }
        assert_eq!(next.status, NtStatus::SUCCESS);
        let entries = parse_entries(BOTH_DIRECTORY, &next.data);
        assert_eq!(entries.len(), 1);
        singles.extend(entries);
    }
    assert_eq!(singles, all);
    // After the end, NO_MORE_FILES again; a restart starts over.
    let again = s.query_directory_file(dir, BOTH_DIRECTORY, 65536, None, false, false);
    assert_eq!(again.status, NtStatus::NO_MORE_FILES);
    let restarted = s.query_directory_file(dir, BOTH_DIRECTORY, 65536, None, true, false);
    assert_eq!(parse_entries(BOTH_DIRECTORY, &restarted.data), all);
    // SL_INDEX_SPECIFIED: resume after the entry whose FileIndex is given.
    for k in 0..all.len() {
        let flags = 0x04; // SL_INDEX_SPECIFIED
        let after = s.query_directory(dir, BOTH_DIRECTORY, 65536, None, flags, all[k].file_index);
        if k + 1 == all.len() {
            assert_eq!(after.status, NtStatus::NO_MORE_FILES);
        } else {
            assert_eq!(
                parse_entries(BOTH_DIRECTORY, &after.data),
                all[k + 1..],
                "after {k}"
            );
        }
    }
    s.close_handle(dir);
    finish(s);
}

#[test]
fn a_first_entry_too_long_is_cut_with_buffer_overflow() {
    let mut s = machine(&support::image("ext4"));
    let dir = open_ok(&mut s, "\\");
    let all = list(&mut s, dir, DIRECTORY, 65536, None);
    let long = all.iter().max_by_key(|e| e.name.len()).unwrap().clone();
    assert!(long.name.len() > 4);
    // Walk to the long name one entry at a time, then ask with room for part of it.
    let position = all.iter().position(|e| *e == long).unwrap();
    let dir2 = open_ok(&mut s, "\\");
    for _ in 0..position {
        let one = s.query_directory_file(dir2, DIRECTORY, 65536, None, false, true);
        assert_eq!(one.status, NtStatus::SUCCESS);
    }
    // sizeof(FILE_DIRECTORY_INFORMATION) + 1: room for four and a half characters.
    let cut = s.query_directory_file(dir2, DIRECTORY, 73, None, false, false);
    assert_eq!(cut.status, NtStatus::BUFFER_OVERFLOW);
    assert_eq!(cut.information, 64 + 8);
    assert_eq!(
        u32_at(&cut.data, 60) as usize,
        long.name.len() * 2,
        "FileNameLength is whole"
    );
    assert_eq!(utf16(&cut.data[64..72]), long.name[..4]);
    // The cut entry is consumed: the next query goes on after it.
    let next = s.query_directory_file(dir2, DIRECTORY, 65536, None, false, true);
    match all.get(position + 1) {
        Some(e) => assert_eq!(parse_entries(DIRECTORY, &next.data)[0], *e),
        None => assert_eq!(next.status, NtStatus::NO_MORE_FILES),
    }
    // Below the structure size the I/O manager refuses the query.
    let short = s.query_directory_file(dir, DIRECTORY, 71, None, false, false);
    assert_eq!(short.status, NtStatus::INFO_LENGTH_MISMATCH);
    s.close_handle(dir);
    s.close_handle(dir2);
    finish(s);
}

/// A glob with `*` and `?` only, written independently of the driver's matcher.
fn glob(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|k| glob(rest, &name[k..])),
        Some(('?', rest)) => !name.is_empty() && glob(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && glob(rest, &name[1..]),
    }
}

#[test]
fn patterns_select_like_fsrtl_and_are_fixed_by_the_first_query() {
    let image = support::image("ext4");
    let mut s = machine(&image);
    let root = open_ok(&mut s, "\\");
    let names: Vec<String> = list(&mut s, root, NAMES, 65536, None)
        .iter()
        .map(|e| text(&e.name))
        .collect();
    s.close_handle(root);
    for pattern in [
        "*.txt",
        "*.TXT",
        "h*",
        "?????",
        "*e*o*",
        "nope*",
        "hello.txt",
    ] {
        let upper: Vec<char> = pattern.to_uppercase().chars().collect();
        let expected: Vec<String> = names
            .iter()
            .filter(|n| glob(&upper, &n.to_uppercase().chars().collect::<Vec<_>>()))
            .cloned()
            .collect();
        let dir = open_ok(&mut s, "\\");
        let first = s.query_directory_file(dir, NAMES, 65536, Some(pattern), false, false);
        if expected.is_empty() {
            assert_eq!(first.status, NtStatus::NO_SUCH_FILE, "{pattern}");
            // Later queries: NO_MORE_FILES.
            let again = s.query_directory_file(dir, NAMES, 65536, Some("*"), false, false);
            assert_eq!(again.status, NtStatus::NO_MORE_FILES);
        } else {
            let got: Vec<String> = parse_entries(NAMES, &first.data)
                .iter()
                .map(|e| text(&e.name))
                .collect();
            assert_eq!(got, expected, "{pattern}");
            // The expression stays: a restart with another pattern lists the same names.
            let restarted = s.query_directory_file(dir, NAMES, 65536, Some("*"), true, false);
            let got: Vec<String> = parse_entries(NAMES, &restarted.data)
                .iter()
                .map(|e| text(&e.name))
                .collect();
            assert_eq!(got, expected, "{pattern} after restart");
        }
        s.close_handle(dir);
    }
    // Case-sensitive opens search case-sensitively.
    let dir = open_with(&mut s, "\\", |r| r.case_insensitive = false)
        .handle
        .unwrap();
    let upper = s.query_directory_file(dir, NAMES, 65536, Some("HELLO.TXT"), false, false);
    assert_eq!(upper.status, NtStatus::NO_SUCH_FILE);
    s.close_handle(dir);
    // DOS wildcards: `<"` is what cmd sends for `dir *.`: names without an extension.
    let dir = open_ok(&mut s, "\\");
    let no_ext = s.query_directory_file(dir, NAMES, 65536, Some("<\""), false, false);
    let got: Vec<String> = parse_entries(NAMES, &no_ext.data)
        .iter()
        .map(|e| text(&e.name))
        .collect();
    let expected: Vec<String> = names.iter().filter(|n| !n.contains('.')).cloned().collect();
    assert_eq!(got, expected);
    s.close_handle(dir);
    finish(s);
}

/// debugfs `stat` fields of one inode: (links, size, [atime, mtime, ctime, crtime]) as NT
/// times (crtime None when the inode has none).
fn debugfs_stat(image: &std::path::Path, ino: u64) -> (u64, u64, [Option<i64>; 4]) {
    let out = support::debugfs(image, &[format!("stat <{ino}>")]).remove(0);
    let out = String::from_utf8_lossy(&out);
    let field = |key: &str| -> Option<String> {
        let at = out.find(key)? + key.len();
        Some(out[at..].split_whitespace().next()?.to_string())
    };
    let time = |key: &str| -> Option<i64> {
        let v = field(key)?;
        let v = v.strip_prefix("0x")?;
        let (secs, extra) = v.split_once(':').unwrap_or((v, "0"));
        let secs = u32::from_str_radix(secs, 16).ok()? as i32 as i64;
        let extra = u32::from_str_radix(extra, 16).ok()?;
        let secs = secs + (((extra & 3) as i64) << 32);
        Some(NT_UNIX_EPOCH + secs * 10_000_000 + (extra >> 2) as i64 / 100)
    };
    (
        field("Links: ").unwrap().parse().unwrap(),
        field("Size: ").unwrap().parse().unwrap(),
        [
            time(" atime: "),
            time(" mtime: "),
            time(" ctime: "),
            time("crtime: "),
        ],
    )
}

#[test]
fn file_information_agrees_with_debugfs() {
    for image_name in ["ext4", "ext2", "ext4-1k"] {
        let image = support::image(image_name);
        let mut s = machine(&image);
        for path in ["\\hello.txt", "\\deep", "\\names\\sp ace"] {
            let h = open_ok(&mut s, path);
            let ino = s.query_information_file(h, INTERNAL, 8);
            let ino = u64_at(&ino.data, 0);
            assert_eq!(
                ino,
                support::machine::inode_of(&image, &path.replace('\\', "/"))
            );
            let (links, size, [atime, mtime, ctime, crtime]) = debugfs_stat(&image, ino);
            let basic = s.query_information_file(h, BASIC, 40);
            assert_eq!(basic.status, NtStatus::SUCCESS);
            let creation = crtime.or(ctime).unwrap();
            assert_eq!(
                i64_at(&basic.data, 0),
                creation,
                "{image_name} {path} creation"
            );
            assert_eq!(Some(i64_at(&basic.data, 8)), atime);
            assert_eq!(Some(i64_at(&basic.data, 16)), mtime);
            assert_eq!(Some(i64_at(&basic.data, 24)), ctime);
            let standard = s.query_information_file(h, STANDARD, 24);
            let directory = standard.data[21] == 1;
            assert_eq!(u32_at(&standard.data, 16) as u64, links);
            assert_eq!(u64_at(&standard.data, 8), if directory { 0 } else { size });
            let network = s.query_information_file(h, NETWORK_OPEN, 56);
            assert_eq!(network.data[..32], basic.data[..32]);
            assert_eq!(network.data[32..48], standard.data[..16]);
            let name = s.query_information_file(h, NAME, 1024);
            assert_eq!(text(&utf16(&name.data[4..])), path);
            let id = s.query_information_file(h, ID, 24);
            assert_eq!(u64_at(&id.data, 8), ino);
            let stat = s.query_information_file(h, STAT, 72);
            assert_eq!(u64_at(&stat.data, 0), ino);
            assert_eq!(stat.data[8..40], basic.data[..32]);
            s.close_handle(h);
        }
        finish(s);
    }
}

/// Every class at every length from 0 to past its full answer: what the I/O manager and the
/// file system answer, following FastFAT's and Learn's rules, stated once here.
#[test]
fn every_class_at_every_buffer_length() {
    let mut s = machine(&support::image("ext4"));
    let file = open_ok(&mut s, "\\hello.txt");
    let dir = open_ok(&mut s, "\\deep");
    let link = open_with(&mut s, "\\link-to-hello", |r| {
        r.options |= FILE_OPEN_REPARSE_POINT
    });
    let handles = [file, dir, link.handle.unwrap()];
    // (class, sizeof the structure, where its variable part starts, or None if fixed)
    let classes: [(u32, usize, Option<usize>); 17] = [
        (BASIC, 40, None),
        (STANDARD, 24, None),
        (INTERNAL, 8, None),
        (7, 4, None), // EA
        (8, 4, None), // Access
        (NAME, 8, Some(4)),
        (POSITION, 8, None),
        (16, 4, None), // Mode
        (17, 4, None), // Alignment
        (ALL, 104, Some(100)),
        (NETWORK_OPEN, 56, None),
        (ATTRIBUTE_TAG, 8, None),
        (NORMALIZED_NAME, 8, Some(4)),
        (ID, 24, None),
        (STAT, 72, None),
        (STAT_LX, 96, None),
        (CASE_SENSITIVE, 4, None),
    ];
    for &handle in &handles {
        for (class, minimum, variable) in classes {
            let full = s.query_information_file(handle, class, 4096);
            assert_eq!(full.status, NtStatus::SUCCESS, "class {class}");
            let size = full.information;
            assert_eq!(full.data.len(), size);
            for length in 0..=size + 8 {
                let got = s.query_information_file(handle, class, length as u32);
                if length < minimum {
                    assert_eq!(
                        got.status,
                        NtStatus::INFO_LENGTH_MISMATCH,
                        "{class} {length}"
                    );
                    assert_eq!(got.information, 0);
                } else if length >= size {
                    assert_eq!((got.status, got.information), (NtStatus::SUCCESS, size));
                    assert_eq!(got.data, full.data);
                } else {
                    assert!(variable.is_some_and(|v| length >= v), "{class} {length}");
                    assert_eq!(got.status, NtStatus::BUFFER_OVERFLOW, "{class} {length}");
                    assert_eq!(got.information, length);
                    assert_eq!(got.data, full.data[..length], "{class} {length}");
                }
            }
        }
        // Stream: one `::$DATA` for files, none for a directory.
        let stream = s.query_information_file(handle, STREAM, 4096);
        assert_eq!(stream.status, NtStatus::SUCCESS);
        // Classes with nothing to say.
        for (class, status) in [
            (REMOTE_PROTOCOL, NtStatus::INVALID_PARAMETER),
            (ALTERNATE_NAME, NtStatus::OBJECT_NAME_NOT_FOUND),
        ] {
            assert_eq!(s.query_information_file(handle, class, 4096).status, status);
        }
        assert_eq!(
            s.query_information_file(handle, 200, 4096).status,
            NtStatus::INVALID_INFO_CLASS
        );
    }
    let stream = s.query_information_file(file, STREAM, 4096);
    assert_eq!(stream.information, 24 + 14);
    assert_eq!(text(&utf16(&stream.data[24..])), "::$DATA");
    assert_eq!(s.query_information_file(dir, STREAM, 4096).information, 0);
    // The symlink: a reparse point with the symlink tag.
    let tag = s.query_information_file(handles[2], ATTRIBUTE_TAG, 8);
    assert_ne!(u32_at(&tag.data, 0) & FILE_ATTRIBUTE_REPARSE_POINT, 0);
    assert_eq!(u32_at(&tag.data, 4), IO_REPARSE_TAG_SYMLINK);
    // Hard links: the name it was opened by, in its parent; too small a buffer gets
    // BytesNeeded alone.
    let links = s.query_information_file(file, HARD_LINK, 4096);
    assert_eq!(links.status, NtStatus::SUCCESS);
    assert_eq!(u32_at(&links.data, 0) as usize, links.information);
    assert_eq!(u32_at(&links.data, 4), 1);
    assert_eq!(u64_at(&links.data, 16), 2, "parent is the root");
    assert_eq!(text(&utf16(&links.data[28..])), "hello.txt");
    let short = s.query_information_file(file, HARD_LINK, 32);
    assert_eq!(
        (short.status, short.information),
        (NtStatus::BUFFER_OVERFLOW, 8)
    );
    assert_eq!(u32_at(&short.data, 0) as usize, links.information);
    assert_eq!(u32_at(&short.data, 4), 0);
    for h in handles {
        s.close_handle(h);
    }
    finish(s);
}

#[test]
fn set_information_moves_the_position_only() {
    let mut s = machine(&support::image("ext4"));
    let file = open_ok(&mut s, "\\hello.txt");
    let set = s.set_information_file(file, POSITION, &1234u64.to_le_bytes());
    assert_eq!(set.status, NtStatus::SUCCESS);
    let position = s.query_information_file(file, POSITION, 8);
    assert_eq!(u64_at(&position.data, 0), 1234);
    assert_eq!(
        s.set_information_file(file, POSITION, &(-1i64).to_le_bytes())
            .status,
        NtStatus::INVALID_PARAMETER
    );
    for class in [BASIC, 10, 13, 19, 20] {
        let data = vec![0u8; 64];
        let got = s.set_information_file(file, class, &data);
        assert_eq!(got.status, NtStatus::MEDIA_WRITE_PROTECTED, "class {class}");
    }
    s.close_handle(file);
    finish(s);
}

/// `debugfs stats` fields.
fn debugfs_stats(image: &std::path::Path) -> BTreeMap<String, String> {
    let out = support::debugfs(image, &["stats".to_string()]).remove(0);
    String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn volume_information_agrees_with_debugfs_at_every_length() {
    for image_name in ["ext4", "ext2", "ext3", "ext4-bigalloc"] {
        let image = support::image(image_name);
        let stats = debugfs_stats(&image);
        let mut s = machine(&image);
        let file = open_ok(&mut s, "\\hello.txt");
        let volume = s.query_volume_information_file(file, 1, 4096);
        assert_eq!(volume.status, NtStatus::SUCCESS);
        let uuid = stats["Filesystem UUID"].replace('-', "");
        let serial = u32::from_str_radix(&uuid[..8], 16).unwrap();
        assert_eq!(u32_at(&volume.data, 8), serial);
        let label = stats
            .get("Filesystem volume name")
            .cloned()
            .unwrap_or_default();
        let label = if label == "<none>" {
            String::new()
        } else {
            label
        };
        assert_eq!(text(&utf16(&volume.data[18..])), label);
        let size = s.query_volume_information_file(file, 3, 24);
        let full = s.query_volume_information_file(file, 7, 32);
        let block_size: u64 = stats["Block size"].parse().unwrap();
        let cluster: u64 = stats
            .get("Cluster size")
            .map_or(block_size, |c| c.parse().unwrap());
        let blocks: u64 = stats["Block count"].parse().unwrap();
        let free: u64 = stats["Free blocks"].parse().unwrap();
        assert_eq!(u64_at(&size.data, 0), blocks * block_size / cluster);
        assert_eq!(
            u64_at(&size.data, 8),
            free * block_size / cluster,
            "{image_name}"
        );
        assert_eq!(
            u32_at(&size.data, 16) as u64 * u32_at(&size.data, 20) as u64,
            cluster
        );
        assert_eq!(full.data[..16], size.data[..16]);
        assert_eq!(full.data[16..24], size.data[8..16]);
        let attribute = s.query_volume_information_file(file, 5, 4096);
        let fs_name = text(&utf16(&attribute.data[12..]));
        let expected = if image_name.starts_with("ext4") {
            "ext4"
        } else {
            image_name
        };
        assert_eq!(fs_name, expected);
        assert_ne!(
            u32_at(&attribute.data, 0) & 0x0008_0000,
            0,
            "FILE_READ_ONLY_VOLUME"
        );
        // Every length for the classes with a name; the fixed ones are all or nothing.
        for (class, minimum, variable) in [
            (1u32, 24usize, 18usize),
            (5, 16, 12),
            (3, 24, 24),
            (4, 8, 8),
            (7, 32, 32),
            (11, 28, 28),
        ] {
            let whole = s.query_volume_information_file(file, class, 4096);
            assert_eq!(whole.status, NtStatus::SUCCESS, "class {class}");
            for length in 0..=whole.information + 4 {
                let got = s.query_volume_information_file(file, class, length as u32);
                if length < minimum {
                    assert_eq!(got.status, NtStatus::INFO_LENGTH_MISMATCH);
                } else if length >= whole.information {
                    assert_eq!(
                        (got.status, got.information),
                        (NtStatus::SUCCESS, whole.information)
                    );
                } else {
                    assert!(length >= variable);
                    assert_eq!(
                        (got.status, got.information),
                        (NtStatus::BUFFER_OVERFLOW, length)
                    );
                    assert_eq!(got.data, whole.data[..length]);
                }
            }
        }
        assert_eq!(
            s.query_volume_information_file(file, 6, 48).status,
            NtStatus::INVALID_PARAMETER
        );
        assert_eq!(
            s.query_volume_information_file(file, 8, 64).status,
            NtStatus::INVALID_PARAMETER
        );
        s.close_handle(file);
        finish(s);
    }
}

#[test]
fn a_dismount_between_queries_ends_the_enumeration_cleanly() {
    let mut s = machine(&support::image("ext4"));
    let dir = open_ok(&mut s, "\\deep");
    let first = s.query_directory_file(dir, BOTH_DIRECTORY, 100, None, false, false);
    assert_eq!(first.status, NtStatus::SUCCESS);
    dismount(&mut s);
    let after = s.query_directory_file(dir, BOTH_DIRECTORY, 4096, None, false, false);
    assert_eq!(after.status, NtStatus::VOLUME_DISMOUNTED);
    let info = s.query_information_file(dir, BASIC, 40);
    assert_eq!(info.status, NtStatus::VOLUME_DISMOUNTED);
    let volume = s.query_volume_information_file(dir, 1, 64);
    assert_eq!(volume.status, NtStatus::VOLUME_DISMOUNTED);
    s.close_handle(dir);
    finish(s);
}

#[test]
fn queries_on_the_wrong_kind_of_open() {
    let mut s = machine(&support::image("ext4"));
    let file = open_ok(&mut s, "\\hello.txt");
    let on_file = s.query_directory_file(file, NAMES, 4096, None, false, false);
    assert_eq!(on_file.status, NtStatus::INVALID_PARAMETER);
    let dir = open_ok(&mut s, "\\");
    let bad_class = s.query_directory_file(dir, BASIC, 4096, None, false, false);
    assert_eq!(bad_class.status, NtStatus::INVALID_INFO_CLASS);
    let volume = open(&mut s, "").handle.unwrap();
    assert_eq!(
        s.query_information_file(volume, BASIC, 40).status,
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        s.query_information_file(volume, POSITION, 8).status,
        NtStatus::SUCCESS
    );
    for h in [file, dir, volume] {
        s.close_handle(h);
    }
    finish(s);
}

#[test]
fn directory_buffers_follow_the_volume_device_io_method() {
    const DO_BUFFERED_IO: u32 = 0x4;
    const DO_DIRECT_IO: u32 = 0x10;
    let mut s = machine(&support::image("ext4"));
    let dir = open_ok(&mut s, "\\");
    let reference = s.query_directory_file(dir, NAMES, 4096, None, true, false);
    assert_eq!(reference.status, NtStatus::SUCCESS);
    // Buffered I/O: the same answer through a system buffer.
    set_volume_device_io_method(&s, DO_BUFFERED_IO);
    let buffered = s.query_directory_file(dir, NAMES, 4096, None, true, false);
    assert_eq!(buffered, reference);
    // Neither: the driver gets the caller's address and must not touch it.
    set_volume_device_io_method(&s, 0);
    let neither = s.query_directory_file(dir, NAMES, 4096, None, true, false);
    assert_eq!(neither.status, NtStatus::INVALID_USER_BUFFER);
    assert_eq!(s.findings(), []);
    set_volume_device_io_method(&s, DO_DIRECT_IO);
    s.close_handle(dir);
    finish(s);
}

#[test]
fn dot_files_are_hidden_only_when_the_parameter_asks() {
    const FILE_ATTRIBUTE_HIDDEN: u32 = 0x2;
    let tree = support::cache_dir().join(format!("dotfiles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(tree.join(".config")).unwrap();
    std::fs::write(tree.join(".profile"), b"p").unwrap();
    std::fs::write(tree.join("visible"), b"v").unwrap();
    let image = tree.with_extension("img");
    let made = std::process::Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-O", "^has_journal", "-d"])
        .arg(&tree)
        .arg(&image)
        .arg("2M")
        .status()
        .unwrap();
    assert!(made.success());
    for hide in [None, Some(0), Some(1)] {
        let mut s = Session::new();
        s.add_disk(support::machine::DISK_NAME, support::machine::disk(&image));
        if let Some(value) = hide {
            s.set_driver_parameter("rustfsd", "HideDotFiles", value);
        }
        s.load_driver(rustfsd::kernel::model::harness::DriverDescriptor::rustfsd())
            .unwrap();
        let root = open_ok(&mut s, "\\");
        let hidden: Vec<String> = list(&mut s, root, BOTH_DIRECTORY, 4096, None)
            .iter()
            .filter(|e| e.attributes & FILE_ATTRIBUTE_HIDDEN != 0)
            .map(|e| text(&e.name))
            .collect();
        let expected: &[&str] = if hide == Some(1) {
            &[".config", ".profile"]
        } else {
            &[]
        };
        let mut hidden = hidden;
        hidden.sort();
        assert_eq!(hidden, expected, "HideDotFiles {hide:?}");
        let profile = open_ok(&mut s, "\\.profile");
        let basic = s.query_information_file(profile, BASIC, 40);
        assert_eq!(
            u32_at(&basic.data, 32) & FILE_ATTRIBUTE_HIDDEN != 0,
            hide == Some(1)
        );
        s.close_handle(profile);
        s.close_handle(root);
        finish(s);
    }
    let _ = std::fs::remove_dir_all(&tree);
    let _ = std::fs::remove_file(&image);
}

/// Walks what can be walked of a possibly damaged volume through the driver, tolerating any
/// status: every directory it can open is listed in small buffers and every entry asked for
/// its basic and all information. Returns how many entries were seen.
fn tolerant_walk(s: &mut Session) -> usize {
    let Some(root) = open(s, "\\").handle else {
        return 0;
    };
    let mut seen = 0;
    let mut stack = vec![root];
    let mut directories = 0;
    while let Some(dir) = stack.pop() {
        directories += 1;
        loop {
            let outcome = s.query_directory_file(dir, ID_BOTH_DIRECTORY, 700, None, false, false);
            if outcome.status != NtStatus::SUCCESS {
                break;
            }
            for e in parse_entries(ID_BOTH_DIRECTORY, &outcome.data) {
                seen += 1;
                let name = String::from_utf16(&e.name).unwrap();
                if name == "." || name == ".." || seen > 2000 {
                    continue;
                }
                let result = open_relative(s, dir, &name);
                let Some(handle) = result.handle else {
                    continue;
                };
                s.query_information_file(handle, BASIC, 40);
                s.query_information_file(handle, ALL, 1024);
                if e.attributes & FILE_ATTRIBUTE_DIRECTORY != 0 && directories < 100 {
                    stack.push(handle);
                } else {
                    s.close_handle(handle);
                }
            }
        }
        s.close_handle(dir);
    }
    seen
}

#[test]
fn damaged_images_list_without_panics_or_findings() {
    let mut total = 0;
    for (n, name) in support::TINY_IMAGES.iter().enumerate() {
        let pristine = std::fs::read(support::image(name)).unwrap();
        for seed in 0..40u64 {
            let mut rng = support::Rng(0x9E37_79B9_7F4A_7C15 ^ (seed << 8) ^ n as u64);
            let mut bytes = pristine.clone();
            // Damage the metadata area: superblock backups, group descriptors, bitmaps,
            // inode tables and the first directory blocks all live in the first 256 KiB.
            let span = bytes.len().min(256 * 1024) as u64;
            for _ in 0..24 {
                let at = 1024 + rng.below(span - 1024) as usize;
                bytes[at] ^= 1 << rng.below(8);
            }
            let path = support::cache_dir()
                .join(format!("damaged-{name}-{seed}-{}.img", std::process::id()));
            std::fs::write(&path, &bytes).unwrap();
            let mut s = machine(&path);
            total += tolerant_walk(&mut s);
            finish(s);
            std::fs::remove_file(&path).unwrap();
        }
    }
    println!("entries seen on damaged volumes: {total}");
    // Some of the damaged volumes must still have been listed, or the test proved nothing.
    assert!(total > 100, "only {total} entries seen");
}

#[test]
fn names_of_relative_and_by_id_opens() {
    let image = support::image("ext4");
    let mut s = machine(&image);
    let name_of = |s: &mut Session, h: Handle| {
        let got = s.query_information_file(h, NAME, 1024);
        (got.status, text(&utf16(got.data.get(4..).unwrap_or(&[]))))
    };
    let root = open_ok(&mut s, "\\");
    assert_eq!(name_of(&mut s, root), (NtStatus::SUCCESS, "\\".to_string()));
    let deep = open_relative(&mut s, root, "DEEP").handle.unwrap();
    // The disk's spelling, not the one asked for.
    assert_eq!(
        name_of(&mut s, deep),
        (NtStatus::SUCCESS, "\\deep".to_string())
    );
    let level = open_relative(&mut s, deep, "level0\\level1")
        .handle
        .unwrap();
    assert_eq!(
        name_of(&mut s, level),
        (NtStatus::SUCCESS, "\\deep\\level0\\level1".to_string())
    );
    let again = open_relative(&mut s, root, "").handle.unwrap();
    assert_eq!(
        name_of(&mut s, again),
        (NtStatus::SUCCESS, "\\".to_string())
    );
    // A directory opened by file ID is named by walking up its `..` entries (its one name),
    // and so are the directories opened relative to it.
    let by_id_open = |s: &mut Session, path: &str| {
        let ino = support::machine::inode_of(&image, path);
        let open = open_with(s, "", |r| {
            r.options |= 0x2000; // FILE_OPEN_BY_FILE_ID
            r.file_id = Some(ino);
        });
        open.handle.unwrap()
    };
    let by_id = by_id_open(&mut s, "/deep");
    assert_eq!(
        name_of(&mut s, by_id),
        (NtStatus::SUCCESS, "\\deep".to_string())
    );
    let under = open_relative(&mut s, by_id, "level0").handle.unwrap();
    assert_eq!(
        name_of(&mut s, under),
        (NtStatus::SUCCESS, "\\deep\\level0".to_string())
    );
    let nested = by_id_open(&mut s, "/deep/level0/level1");
    assert_eq!(
        name_of(&mut s, nested),
        (NtStatus::SUCCESS, "\\deep\\level0\\level1".to_string())
    );
    let normalized = s.query_information_file(nested, NORMALIZED_NAME, 1024);
    assert_eq!(
        text(&utf16(
            normalized
                .data
                .get(4..normalized.information)
                .unwrap_or(&[])
        )),
        "\\deep\\level0\\level1"
    );
    let root_by_id = by_id_open(&mut s, "/");
    assert_eq!(
        name_of(&mut s, root_by_id),
        (NtStatus::SUCCESS, "\\".to_string())
    );
    // A file has no pointer back to its names: unknown, unless the volume reached it through
    // a directory before and still remembers it (its FCB's parent, here held by an open by
    // path). Before, a file opened by ID was INVALID_PARAMETER whatever came before.
    let file_by_id = by_id_open(&mut s, "/hello.txt");
    assert_eq!(name_of(&mut s, file_by_id).0, NtStatus::INVALID_PARAMETER);
    s.close_handle(file_by_id);
    let by_path = open_ok(&mut s, "\\smalldir");
    let by_path_file = open_ok(&mut s, "\\SMALLDIR\\S0");
    let file_by_id = by_id_open(&mut s, "/smalldir/s0");
    assert_eq!(
        name_of(&mut s, file_by_id),
        (NtStatus::SUCCESS, "\\smalldir\\s0".to_string())
    );
    let links = s.query_information_file(file_by_id, 46, 1024); // FileHardLinkInformation
    assert_eq!(links.status, NtStatus::SUCCESS);
    // hello.txt's FCB, made by the open by ID above, remembers no directory while it lives.
    let unnamed = open_ok(&mut s, "\\hello.txt");
    let still_unnamed = by_id_open(&mut s, "/hello.txt");
    assert_eq!(
        name_of(&mut s, still_unnamed).0,
        NtStatus::INVALID_PARAMETER
    );
    s.close_handle(still_unnamed);
    s.close_handle(unnamed);
    let root_file = open_ok(&mut s, "\\one");
    let root_file_by_id = by_id_open(&mut s, "/one");
    assert_eq!(
        name_of(&mut s, root_file_by_id),
        (NtStatus::SUCCESS, "\\one".to_string())
    );
    for h in [
        nested,
        root_by_id,
        file_by_id,
        by_path,
        by_path_file,
        root_file,
        root_file_by_id,
    ] {
        s.close_handle(h);
    }
    for h in [root, deep, level, again, by_id, under] {
        s.close_handle(h);
    }
    finish(s);
}

/// The whole tree through the driver, as `rustfsd-inspect walk` prints it: names from
/// NtQueryDirectoryFile in small buffers, turned back into disk bytes; every regular file
/// opened relative to its directory's handle and read to its end through NtReadFile in 64 KiB
/// chunks (cached), hashed. Directories and files must equal the inspect walk line for line;
/// symlinks are matched by type (their NT reparse target is not the raw bytes: see
/// docs/names.md), special files must be listed and read as empty.
#[test]
fn every_file_listed_and_read_through_the_driver_matches_the_inspect_walk() {
    use sha2::{Digest, Sha256};
    for image_name in ["ext4", "ext4-1k", "ext2"] {
        let image = support::image(image_name);
        let walk = std::process::Command::new(env!("CARGO_BIN_EXE_rustfsd-inspect"))
            .arg("walk")
            .arg(&image)
            .output()
            .unwrap();
        assert!(walk.status.success(), "{image_name}");
        let expected: BTreeMap<String, String> = String::from_utf8(walk.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                let mut fields = line.splitn(4, ' ');
                let head: Vec<&str> = fields.by_ref().take(3).collect();
                (fields.next().unwrap().to_string(), head.join(" "))
            })
            .collect();

        let mut s = machine(&image);
        // Every file, whatever its mode: as `rustfsd-inspect walk` reads them.
        as_backup_operator(&mut s);
        let mut ours: BTreeMap<String, String> = BTreeMap::new();
        let root = open_ok(&mut s, "\\");
        let mut stack = vec![(root, Vec::<u8>::new())];
        while let Some((dir, path)) = stack.pop() {
            for e in list(&mut s, dir, DIRECTORY, 1024, None) {
                let shown = String::from_utf16(&e.name).unwrap();
                if shown == "." || shown == ".." {
                    continue;
                }
                let mut disk = Vec::new();
                rustfsd::name::to_disk(&e.name, &mut disk).unwrap();
                let mut full = path.clone();
                full.push(b'/');
                full.extend_from_slice(&disk);
                let key = support::walk::escape(&full);
                let line = if e.attributes & FILE_ATTRIBUTE_DIRECTORY != 0 {
                    let opened = open_relative(&mut s, dir, &shown);
                    assert_eq!(opened.status, NtStatus::SUCCESS, "{key}");
                    stack.push((opened.handle.unwrap(), full));
                    "d - -".to_string()
                } else if e.attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0
                    && reparse_tag_of(&mut s, dir, &shown) == IO_REPARSE_TAG_SYMLINK
                {
                    let theirs = &expected[&key];
                    assert!(theirs.starts_with("l "), "{key}: {theirs}");
                    theirs.clone()
                } else {
                    // FIFOs, devices and sockets are reparse points: opened as themselves.
                    let opened = open_relative_as_itself(&mut s, dir, &shown);
                    assert_eq!(opened.status, NtStatus::SUCCESS, "{key}");
                    let file = opened.handle.unwrap();
                    let mut hash = Sha256::new();
                    let mut offset = 0u64;
                    loop {
                        let io = s.read_file(file, Some(offset), 64 << 10);
                        if io.status == NtStatus::END_OF_FILE {
                            break;
                        }
                        assert_eq!(io.status, NtStatus::SUCCESS, "{key} at {offset}");
                        assert!(io.information > 0, "{key}: an empty successful read");
                        hash.update(&io.data[..io.information]);
                        offset += io.information as u64;
                    }
                    s.close_handle(file);
                    assert_eq!(offset, e.end_of_file, "{key}: bytes read vs listed size");
                    let theirs = &expected[&key];
                    if theirs.starts_with("f ") {
                        format!("f {offset} {:x}", hash.finalize())
                    } else {
                        // A FIFO, device or socket: listed, and nothing to read.
                        assert_eq!(offset, 0, "{key}: {theirs}");
                        theirs.clone()
                    }
                };
                ours.insert(key, line);
            }
            s.close_handle(dir);
        }
        assert_eq!(ours, expected, "{image_name}");
        let files = ours.values().filter(|l| l.starts_with("f ")).count();
        assert!(files > 1000, "{image_name}: only {files} files");
        finish(s);
    }
}

/// FSCTL_IS_VOLUME_DIRTY on a volume open: VOLUME_IS_DIRTY when the superblock's s_state lacks
/// VALID (not cleanly unmounted) or has ERRORS, as e2fsck decides; an output shorter than a
/// ULONG or a handle that is not a volume open is STATUS_INVALID_PARAMETER (FastFAT's
/// FatIsVolumeDirty).
#[test]
fn fsctl_is_volume_dirty_reads_the_superblock_state() {
    const FSCTL_IS_VOLUME_DIRTY: u32 = 0x0009_0078;
    for (state, dirty) in [(1u16, 0u32), (0, 1), (3, 1)] {
        let path =
            support::cache_dir().join(format!("dirty-state{state}-{}.img", std::process::id()));
        std::fs::copy(support::image("tiny-ext4"), &path).unwrap();
        support::debugfs_write(&path, &[&format!("ssv state {state}")]);
        let mut s = machine(&path);
        let volume = open_ok(&mut s, "");
        let io = s.fs_control_file(volume, FSCTL_IS_VOLUME_DIRTY, &[], 4);
        assert_eq!(
            (io.status, io.information),
            (NtStatus::SUCCESS, 4),
            "{state}"
        );
        assert_eq!(
            u32::from_le_bytes(io.data[..4].try_into().unwrap()),
            dirty,
            "{state}"
        );
        assert_eq!(
            s.fs_control_file(volume, FSCTL_IS_VOLUME_DIRTY, &[], 3)
                .status,
            NtStatus::INVALID_PARAMETER
        );
        let file = open_ok(&mut s, "\\hello.txt");
        assert_eq!(
            s.fs_control_file(file, FSCTL_IS_VOLUME_DIRTY, &[], 4)
                .status,
            NtStatus::INVALID_PARAMETER
        );
        s.close_handle(file);
        s.close_handle(volume);
        finish(s);
        let _ = std::fs::remove_file(&path);
    }
}
