//! Regression tests: crafted corruption must give a clean error (never a panic, a hang or a
//! huge allocation), both through the library and through `rustfsd-inspect` (exit status 2,
//! one line on stderr).

mod support;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rustfsd::ext4::crc::crc32c;
use rustfsd::ext4::{
    BlockDevice, ChecksumKind, Error, FileReader, MemDevice, RunKind, Unsupported, Volume,
};
use rustfsd::kernel::NtStatus;
use support::FileDevice;

/// A private, writable copy of a generated image.
struct Scratch {
    path: PathBuf,
    base: &'static str,
}

impl Scratch {
    fn new(base: &'static str, tag: &str) -> Scratch {
        let dir = support::cache_dir().join("scratch");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{tag}-{}.img", std::process::id()));
        fs::copy(support::image(base), &path).unwrap();
        Scratch { path, base }
    }
    fn vol(&self) -> Volume<FileDevice> {
        Volume::mount(FileDevice::open(&self.path)).unwrap()
    }
    fn mount(&self) -> Result<Volume<FileDevice>, Error> {
        Volume::mount(FileDevice::open(&self.path))
    }
    fn write(&self, offset: u64, data: &[u8]) {
        let f = fs::OpenOptions::new().write(true).open(&self.path).unwrap();
        f.write_all_at(data, offset).unwrap();
    }
    /// Flips bits of the byte at `offset`.
    fn flip(&self, offset: u64) {
        let mut b = self.read(offset, 1);
        b[0] ^= 0x55;
        self.write(offset, &b);
    }
    fn read(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0; len];
        fs::File::open(&self.path)
            .unwrap()
            .read_exact_at(&mut b, offset)
            .unwrap();
        b
    }
    fn debugfs_w(&self, reqs: &[&str]) {
        support::debugfs_write(&self.path, reqs);
    }
    /// `rustfsd-inspect walk` goes on past damage: status 1, one `error PATH: reason` line per
    /// path of `bad` (sorted), and otherwise the walk of the undamaged image, less the damaged
    /// objects and what lies under them (a directory that cannot be listed keeps its own line).
    fn walk_damaged(&self, bad: &[&str]) {
        self.walk_reporting(bad, |line, path| {
            bad.iter().any(|b| {
                (path == *b && !line.starts_with("d ")) || path.starts_with(&format!("{b}/"))
            })
        });
    }

    /// `walk` exits 1, reports exactly `reported` on stderr, and prints the clean image's
    /// walk without the lines `left_out(line, path)` selects.
    fn walk_reporting(&self, reported: &[&str], left_out: impl Fn(&str, &str) -> bool) {
        let out = inspect(&self.path, &["walk"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "walk: {err}");
        let paths: Vec<&str> = err
            .lines()
            .map(|l| {
                l.strip_prefix("error ")
                    .unwrap()
                    .split(": ")
                    .next()
                    .unwrap()
            })
            .collect();
        assert_eq!(paths, reported, "{err}");
        let clean = inspect(&support::image(self.base), &["walk"]);
        assert!(clean.status.success());
        let expected: String = String::from_utf8(clean.stdout)
            .unwrap()
            .lines()
            .filter(|l| !left_out(l, l.splitn(4, ' ').nth(3).unwrap()))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    }
    /// Runs the inspect tool; asserts a clean refusal (status 2, one line on stderr).
    fn inspect_fails(&self, args: &[&str]) -> String {
        inspect_fails(&self.path, args)
    }
}

impl Drop for Scratch {
    /// Every corrupt image is also walked through the driver (`filetest --walk`) next to
    /// `rustfsd-inspect walk`: neither may hang or panic.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let tag = self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned());
            support::walk::walk_damaged(&tag.unwrap_or_default(), &self.path);
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// The names of a FileNamesInformation answer, as UTF-8 (the test names are ASCII).
fn file_names(data: &[u8]) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    let mut at = 0;
    loop {
        let next = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let length = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let units: Vec<u16> = data[at + 12..at + 12 + length]
            .chunks_exact(2)
            .map(|u| u16::from_le_bytes([u[0], u[1]]))
            .collect();
        names.push(String::from_utf16(&units).unwrap().into_bytes());
        if next == 0 {
            return names;
        }
        at += next;
    }
}

fn inspect(img: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rustfsd-inspect"));
    cmd.arg(args[0]).arg(img).args(&args[1..]);
    cmd.output().unwrap()
}

fn inspect_fails(img: &Path, args: &[&str]) -> String {
    let out = inspect(img, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "inspect {args:?}: status {:?}, stderr {err}",
        out.status
    );
    assert_eq!(
        err.lines().count(),
        1,
        "inspect {args:?}: stderr is not one line: {err}"
    );
    assert!(err.starts_with("rustfsd-inspect: error: "), "{err}");
    err
}

/// The per-inode checksum seed, computed independently of the reader's internals.
fn inode_seed(vol: &Volume<FileDevice>, ino: u32, generation: u32) -> u32 {
    let fs_seed = crc32c(!0, &vol.superblock().uuid);
    crc32c(
        crc32c(fs_seed, &ino.to_le_bytes()),
        &generation.to_le_bytes(),
    )
}

/// Recomputes the checksum of the extent block at `blk` belonging to `ino`.
fn fix_extent_csum(s: &Scratch, vol: &Volume<FileDevice>, ino: u32, blk: u64) {
    let bs = u64::from(vol.block_size());
    let b = s.read(blk * bs, bs as usize);
    let max = usize::from(u16::from_le_bytes([b[4], b[5]]));
    let inode = vol.inode(ino).unwrap();
    let c = crc32c(
        inode_seed(vol, ino, inode.generation()),
        &b[..12 + 12 * max],
    );
    s.write(blk * bs + 12 + 12 * max as u64, &c.to_le_bytes());
}

/// Recomputes the checksum tail of directory leaf block at `blk` of directory `ino`.
fn fix_dirblock_csum(s: &Scratch, vol: &Volume<FileDevice>, ino: u32, blk: u64) {
    let bs = u64::from(vol.block_size());
    let b = s.read(blk * bs, bs as usize);
    let inode = vol.inode(ino).unwrap();
    let c = crc32c(
        inode_seed(vol, ino, inode.generation()),
        &b[..bs as usize - 12],
    );
    s.write(blk * bs + bs - 4, &c.to_le_bytes());
}

fn read_everything(vol: &Volume<FileDevice>, path: &str) -> Result<Vec<u8>, Error> {
    let inode = vol.resolve_path(path.as_bytes())?;
    let mut buf = vec![0u8; inode.size().min(1 << 24) as usize];
    let n = vol.read_at(&inode, 0, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Extent index entries of an inode's root: (first logical block, child block).
fn root_index(vol: &Volume<FileDevice>, path: &str) -> Vec<(u64, u64)> {
    let inode = vol.resolve_path(path.as_bytes()).unwrap();
    let ib = inode.i_block();
    let entries = usize::from(u16::from_le_bytes([ib[2], ib[3]]));
    let depth = u16::from_le_bytes([ib[6], ib[7]]);
    assert!(depth >= 1, "{path} has no index");
    (0..entries)
        .map(|i| {
            let e = 12 + 12 * i;
            let w =
                |o: usize| u64::from(u32::from_le_bytes(ib[e + o..e + o + 4].try_into().unwrap()));
            (
                w(0),
                w(4) | (u64::from(u16::from_le_bytes([ib[e + 8], ib[e + 9]])) << 32),
            )
        })
        .collect()
}

#[test]
fn corrupt_extent_leaf_checksum_then_read_past_it() {
    let s = Scratch::new("tiny-ext4", "leafcsum");
    let vol = s.vol();
    let idx = root_index(&vol, "/frag");
    assert!(idx.len() >= 2, "frag needs two leaves, has {idx:?}");
    let bs = u64::from(vol.block_size());
    // Flip a byte inside the first leaf (its first extent's physical start).
    let leaf0 = idx[0].1;
    let mut b = s.read(leaf0 * bs + 12 + 8, 1);
    b[0] ^= 0x40;
    s.write(leaf0 * bs + 12 + 8, &b);
    let vol = s.vol();
    let frag = vol.resolve_path(b"/frag").unwrap();
    let mut buf = vec![0u8; 4096];
    assert_eq!(
        vol.read_at(&frag, 0, &mut buf),
        Err(Error::Checksum {
            kind: ChecksumKind::ExtentBlock,
            at: leaf0
        })
    );
    // Data mapped by the second leaf is still readable, with a fresh or a reused reader.
    let past = idx[1].0 * bs;
    let mut rdr = FileReader::new(frag.try_clone().unwrap());
    assert!(rdr.read_at(&vol, 0, &mut buf).is_err());
    let n = rdr.read_at(&vol, past, &mut buf).unwrap();
    assert_eq!(n, 4096);
    assert_eq!(vol.read_at(&frag, past, &mut buf).unwrap(), 4096);
    s.inspect_fails(&["cat", "/frag"]);
    s.walk_damaged(&["/frag"]);
}

#[test]
fn symlink_claiming_one_tib() {
    let s = Scratch::new("tiny-ext4", "biglink");
    s.debugfs_w(&[
        "sif /slow-link size 0x10000000000",
        "sif /fast-link size 0x10000000000",
    ]);
    let vol = s.vol();
    // A fast symlink has no extents flag: its indirect-map limit (16 GiB on 1 KiB blocks) is
    // below 1 TiB, so the inode itself is refused.
    assert!(matches!(
        vol.resolve_path(b"/fast-link"),
        Err(Error::ImpossibleSize {
            size: 0x100_0000_0000,
            ..
        })
    ));
    s.inspect_fails(&["cat", "/fast-link"]);
    // The slow one is extent-mapped (4 TiB limit): the inode reads, its target does not.
    let l = vol.resolve_path(b"/slow-link").unwrap();
    assert_eq!(l.size(), 1 << 40);
    assert!(matches!(vol.read_link(&l), Err(Error::Corrupt { .. })));
    s.inspect_fails(&["stat", "/slow-link"]);
    s.inspect_fails(&["cat", "/slow-link"]);
    s.walk_damaged(&["/fast-link", "/slow-link"]);
    s.inspect_fails(&["ls", "/"]);
}

#[test]
fn unwritten_extent_over_stale_data_reads_zeros() {
    let vol = support::mount("tiny-ext4");
    let stale = vol.resolve_path(b"/prealloc/stale").unwrap();
    let run = vol.map_block(&stale, 0).unwrap();
    let RunKind::Unwritten(phys) = run.kind else {
        panic!("not unwritten: {run:?}")
    };
    let bs = u64::from(vol.block_size());
    let mut raw = vec![0u8; bs as usize];
    vol.device().read_at(phys * bs, &mut raw).unwrap();
    assert!(
        raw.iter().all(|&b| b == 0xAB),
        "no stale data under the unwritten extent"
    );
    let data = read_everything(&vol, "/prealloc/stale").unwrap();
    assert_eq!(data.len(), 16 << 10);
    assert!(data.iter().all(|&b| b == 0));
    // debugfs agrees; ext4-view returns the stale bytes (its known bug).
    let img = support::image("tiny-ext4");
    let dumped = support::debugfs(&img, &["cat /prealloc/stale".to_string()]);
    assert_eq!(dumped[0], data);
    let view = ext4_view::Ext4::load_from_path(&img).unwrap();
    assert!(
        view.read("/prealloc/stale")
            .unwrap()
            .iter()
            .all(|&b| b == 0xAB)
    );
    let mixed = read_everything(&vol, "/prealloc/mixed").unwrap();
    assert!(mixed[..16 << 10].iter().all(|&b| b == 0xCD));
    assert!(mixed[16 << 10..48 << 10].iter().all(|&b| b == 0));
    assert!(mixed[48 << 10..].iter().all(|&b| b == 0xCD));
    // Preallocated past EOF is never returned.
    assert_eq!(
        read_everything(&vol, "/prealloc/beyond_eof").unwrap(),
        vec![0xEF; 100]
    );
    // The same through the inspect tool.
    let out = inspect(&img, &["cat", "/prealloc/stale"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, vec![0u8; 16 << 10]);
    let out = inspect(&img, &["cat", "/prealloc/beyond_eof"]);
    assert_eq!(out.stdout, vec![0xEF; 100]);
}

#[test]
fn extent_pointing_past_the_volume() {
    let s = Scratch::new("tiny-ext4", "pastvol");
    // i_block words 3..5 are the first extent: block, len|start_hi, start_lo.
    s.debugfs_w(&["sif /data block[5] 0x7fffff00"]);
    let vol = s.vol();
    let err = read_everything(&vol, "/data").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: "extent outside the volume",
                ..
            }
        ),
        "{err:?}"
    );
    s.inspect_fails(&["cat", "/data"]);
    s.walk_damaged(&["/data"]);
    // The same on ext2 through the indirect map.
    let s2 = Scratch::new("tiny-ext2", "pastvol2");
    s2.debugfs_w(&["sif /data block[1] 0x7fffff00"]);
    let vol = s2.vol();
    let err = read_everything(&vol, "/data").unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    s2.inspect_fails(&["cat", "/data"]);
}

#[test]
fn directory_rec_len_zero_and_overrun() {
    for (tag, rec_len) in [
        ("reclen0", 0u16),
        ("reclen-overrun", 0xFFF0),
        ("reclen-odd", 13),
    ] {
        let s = Scratch::new("tiny-ext4", tag);
        let vol = s.vol();
        let dir = vol.resolve_path(b"/dir").unwrap();
        assert_eq!(vol.lookup(&dir, b"f7").map(|_| ()), Ok(()));
        let blk = vol.map_block(&dir, 0).unwrap().physical(0).unwrap();
        let bs = u64::from(vol.block_size());
        // The third entry (after "." and "..", 12 bytes each): set its rec_len.
        s.write(blk * bs + 24 + 4, &rec_len.to_le_bytes());
        fix_dirblock_csum(&s, &vol, dir.ino(), blk);
        let vol = s.vol();
        let dir = vol.resolve_path(b"/dir").unwrap();
        // The listing skips the damaged block (as Linux's readdir does) and says so: the
        // entries before the damage are listed, then those of the next blocks.
        let mut rd = vol.read_dir(&dir, 0).unwrap();
        let mut listed = Vec::new();
        for _ in 0..1000 {
            match rd.next_entry().unwrap() {
                Some(e) => listed.push(e.name.to_vec()),
                None => break,
            }
        }
        assert!(
            matches!(rd.damage(), Some(Error::Corrupt { .. })),
            "{tag}: {:?}",
            rd.damage()
        );
        assert_eq!(&listed[..2], [b".".to_vec(), b"..".to_vec()], "{tag}");
        assert!(
            listed.len() < 42,
            "{tag}: the damaged block's entries are gone"
        );
        // A name of the damaged block is not "absent" but corrupt; names of other blocks
        // are found.
        assert!(
            matches!(vol.lookup(&dir, b"f0"), Err(Error::Corrupt { .. })),
            "{tag}"
        );
        for later in listed.iter().skip(2) {
            assert!(vol.lookup(&dir, later).is_ok(), "{tag}");
        }
        s.inspect_fails(&["ls", "/dir"]);
        s.walk_damaged(&["/dir"]);
    }
    // And a bad checksum is reported as such.
    let s = Scratch::new("tiny-ext4", "dircsum");
    let vol = s.vol();
    let dir = vol.resolve_path(b"/dir").unwrap();
    let blk = vol.map_block(&dir, 0).unwrap().physical(0).unwrap();
    s.write(blk * u64::from(vol.block_size()) + 40, b"Z");
    let vol = s.vol();
    let dir = vol.resolve_path(b"/dir").unwrap();
    assert!(matches!(
        vol.lookup(&dir, b"f1"),
        Err(Error::Checksum {
            kind: ChecksumKind::DirectoryBlock,
            ..
        })
    ));
    s.inspect_fails(&["ls", "/dir"]);
}

#[test]
fn extent_tree_pointing_at_itself() {
    let s = Scratch::new("tiny-ext4", "selfloop");
    let vol = s.vol();
    let idx = root_index(&vol, "/frag");
    let leaf = idx[0].1;
    let bs = u64::from(vol.block_size());
    let ino = vol.resolve_path(b"/frag").unwrap().ino();
    // Turn the leaf into an index node (depth 1) whose only child is itself.
    let mut hdr = s.read(leaf * bs, 12);
    hdr[2..4].copy_from_slice(&1u16.to_le_bytes()); // entries
    hdr[6..8].copy_from_slice(&1u16.to_le_bytes()); // depth
    s.write(leaf * bs, &hdr);
    let mut ent = [0u8; 12];
    ent[4..8].copy_from_slice(&(leaf as u32).to_le_bytes());
    s.write(leaf * bs + 12, &ent);
    fix_extent_csum(&s, &vol, ino, leaf);
    let vol = s.vol();
    let err = read_everything(&vol, "/frag").unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    s.inspect_fails(&["cat", "/frag"]);
    s.walk_damaged(&["/frag"]);
}

#[test]
fn extent_header_of_depth_six() {
    let s = Scratch::new("tiny-ext4", "depth6");
    // i_block word 1 = eh_max | eh_depth << 16.
    s.debugfs_w(&["sif /data block[1] 0x00060004"]);
    let vol = s.vol();
    let err = read_everything(&vol, "/data").unwrap_err();
    assert_eq!(
        err,
        Error::Corrupt {
            what: "extent tree depth",
            value: 6
        }
    );
    s.inspect_fails(&["cat", "/data"]);
    s.walk_damaged(&["/data"]);
}

#[test]
fn truncated_images() {
    let img = support::image("tiny-ext4");
    let full = fs::read(&img).unwrap();
    for cut in [
        0usize,
        100,
        1024,
        1500,
        2048,
        4096,
        full.len() / 2,
        full.len() - 1,
    ] {
        let bytes = full[..cut].to_vec();
        // A device that knows its size refuses at mount.
        let r = Volume::mount(MemDevice(bytes.clone()));
        assert!(r.is_err(), "cut {cut}");
        // A device that does not: reads past the end are I/O errors, never panics.
        struct NoSize(Vec<u8>);
        impl BlockDevice for NoSize {
            fn read_at(&self, o: u64, b: &mut [u8]) -> Result<(), Error> {
                MemDevice(&self.0[..]).read_at(o, b)
            }
        }
        if let Ok(vol) = Volume::mount(NoSize(bytes)) {
            for p in ["/data", "/frag", "/dir/f3", "/slow-link"] {
                match vol.resolve_path(p.as_bytes()) {
                    Ok(i) => {
                        let mut b = vec![0u8; 300_000];
                        let _ = vol.read_at(&i, 0, &mut b);
                        let _ = vol.read_link(&i);
                    }
                    Err(e) => assert!(!matches!(e, Error::NoMemory), "{e:?}"),
                }
            }
        }
        let dir = support::cache_dir().join("scratch");
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("trunc-{cut}-{}.img", std::process::id()));
        fs::write(&p, &full[..cut]).unwrap();
        inspect_fails(&p, &["walk"]);
        inspect_fails(&p, &["info"]);
        let (_, ours) = support::walk::walk_damaged(&format!("trunc-{cut}"), &p);
        assert_eq!(ours.code, Some(2), "cut {cut}: {}", ours.stderr);
        let _ = fs::remove_file(&p);
    }
}

#[test]
fn refused_features_and_bad_inodes() {
    // needs_recovery, encrypt, casefold, unknown incompat bits: distinct refusals.
    let cases: [(&str, &str, Error); 3] = [
        (
            "recover",
            "feature needs_recovery",
            Error::Unsupported(Unsupported::NeedsRecovery),
        ),
        (
            "encrypt",
            "feature encrypt",
            Error::Unsupported(Unsupported::Encryption),
        ),
        (
            "casefold",
            "ssv feature_incompat 0x20242",
            Error::Unsupported(Unsupported::Casefold),
        ),
    ];
    for (tag, req, want) in cases {
        let s = Scratch::new("tiny-ext4", tag);
        s.debugfs_w(&[req]);
        assert_eq!(s.mount().err(), Some(want), "{tag}");
        let err = s.inspect_fails(&["info"]);
        assert!(err.contains("unsupported"), "{err}");
    }
    let s = Scratch::new("tiny-ext4", "unknown");
    let sb = s.read(1024, 1024);
    let mut incompat = u32::from_le_bytes(sb[0x60..0x64].try_into().unwrap());
    incompat |= 0x8000_0000;
    s.write(1024 + 0x60, &incompat.to_le_bytes());
    // Superblock checksum now wrong: refused as such, then fix it and get the feature error.
    assert_eq!(
        s.mount().err(),
        Some(Error::Checksum {
            kind: ChecksumKind::Superblock,
            at: 0
        })
    );
    let sb = s.read(1024, 1024);
    s.write(1024 + 0x3FC, &crc32c(!0, &sb[..0x3FC]).to_le_bytes());
    assert_eq!(
        s.mount().err(),
        Some(Error::Unsupported(Unsupported::UnknownIncompat(
            0x8000_0000
        )))
    );
    s.inspect_fails(&["info"]);

    let vol = support::mount("tiny-ext4");
    assert_eq!(vol.inode(0).err(), Some(Error::InvalidInode(0)));
    let n = vol.superblock().inodes_count;
    assert_eq!(
        vol.inode(n + 1).err(),
        Some(Error::InvalidInode(u64::from(n) + 1))
    );
    assert_eq!(vol.inode(n).err(), Some(Error::InvalidInode(u64::from(n))));
    assert_eq!(vol.resolve_path(b"/nope").err(), Some(Error::NotFound));
    assert_eq!(
        vol.resolve_path(b"/hello.txt/x").err(),
        Some(Error::NotADirectory)
    );
    let long = vec![b'a'; 256];
    assert!(matches!(
        vol.lookup(&vol.root().unwrap(), &long),
        Err(Error::InvalidArgument(_))
    ));
    inspect_fails(&support::image("tiny-ext4"), &["cat", "/nope"]);
    inspect_fails(&support::image("tiny-ext4"), &["cat", "/dir"]);
    inspect_fails(&support::image("tiny-ext4"), &["bogus"]);
}

#[test]
fn inode_checksum_mismatch() {
    let s = Scratch::new("tiny-ext4", "inodecsum");
    let img_vol = s.vol();
    let ino = img_vol.resolve_path(b"/hello.txt").unwrap().ino();
    let out = support::debugfs(&s.path, &["imap /hello.txt".to_string()]);
    let text = String::from_utf8_lossy(&out[0]).into_owned();
    // "Inode 12 is part of block group 0\n\tlocated at block 35, offset 0x0b00"
    let blk: u64 = text
        .split("block ")
        .nth(2)
        .or_else(|| text.split("located at block ").nth(1))
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let off = u64::from_str_radix(text.split("offset 0x").nth(1).unwrap().trim(), 16).unwrap();
    let at = blk * u64::from(img_vol.block_size()) + off + 0x10; // mtime
    let mut b = s.read(at, 1);
    b[0] ^= 1;
    s.write(at, &b);
    let vol = s.vol();
    assert_eq!(
        vol.inode(ino).err(),
        Some(Error::Checksum {
            kind: ChecksumKind::Inode,
            at: u64::from(ino)
        })
    );
    s.inspect_fails(&["cat", "/hello.txt"]);
    s.walk_damaged(&["/hello.txt"]);
}

/// The target of `path` as `debugfs stat` prints it (`Fast link dest: "…"`).
fn debugfs_link_dest(img: &Path, path: &str) -> Vec<u8> {
    let out = support::debugfs(img, &[format!("stat {path}")]).remove(0);
    let text = String::from_utf8_lossy(&out);
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Fast link dest: \""))
        .unwrap_or_else(|| panic!("no link dest for {path}: {text}"));
    line.strip_suffix('"').unwrap().as_bytes().to_vec()
}

#[test]
fn symlink_targets_end_at_the_first_nul() {
    let long = "abcdefghijklmnopqrstuvwxyz".repeat(3);
    // Fast (in i_block), inline-data (i_block + system.data) and block symlinks; each gets
    // NUL bytes in the middle of its target.
    let fast = Scratch::new("tiny-ext4", "nul-link");
    fast.debugfs_w(&[
        "symlink /nul-fast abcdefghij",
        &format!("symlink /nul-slow {}", long.repeat(4)),
        "sif /nul-fast block[1] 0",
    ]);
    let inline = Scratch::new("tiny-inline", "nul-inline");
    inline.debugfs_w(&[
        &format!("symlink /nul-inline {long}"),
        "sif /nul-inline block[2] 0",
    ]);
    let vol = fast.vol();
    let slow = vol.resolve_path(b"/nul-slow").unwrap();
    let RunKind::Mapped(phys) = vol.map_block(&slow, 0).unwrap().kind else {
        panic!("nul-slow is not a block symlink")
    };
    fast.write(phys * u64::from(vol.block_size()) + 30, &[0]);

    let check = |s: &Scratch, path: &str, want: &[u8]| {
        let vol = s.vol();
        let inode = vol.resolve_path(path.as_bytes()).unwrap();
        assert!(
            inode.size() > want.len() as u64,
            "{path}: no NUL inside i_size"
        );
        assert_eq!(vol.read_link(&inode).unwrap(), want, "{path}");
    };
    check(
        &fast,
        "/nul-fast",
        debugfs_link_dest(&fast.path, "/nul-fast").as_slice(),
    );
    assert_eq!(debugfs_link_dest(&fast.path, "/nul-fast"), b"abcd");
    let inline_want = debugfs_link_dest(&inline.path, "/nul-inline");
    assert_eq!(inline_want, b"abcdefgh");
    check(&inline, "/nul-inline", &inline_want);
    // debugfs does not print block targets; Linux's readlink stops at the NUL the same way.
    check(&fast, "/nul-slow", &long.as_bytes()[..30]);
}

#[test]
fn impossible_size_fails_that_file_only() {
    // ext2 on 1 KiB blocks: indirect maps address at most 16 843 020 blocks (16 GiB).
    let s = Scratch::new("tiny-ext2", "hugesize");
    let before = inspect(&s.path, &["walk"]);
    assert!(before.status.success());
    let victim = "/sparse";
    // Flip bit 50 of i_size: a petabyte of holes, far past what the block map can address.
    let vol = s.vol();
    let size = vol.resolve_path(victim.as_bytes()).unwrap().size();
    let ino = vol.lookup(&vol.root().unwrap(), b"sparse").unwrap().ino;
    drop(vol);
    s.debugfs_w(&[&format!("sif {victim} size {:#x}", size | (1 << 50))]);
    let vol = s.vol();
    let err = vol.resolve_path(victim.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        Error::ImpossibleSize {
            ino,
            size: size | (1 << 50),
            max: 17_247_252_480
        }
    );
    // Everything else still reads.
    let root = vol.root().unwrap();
    let mut rd = vol.read_dir(&root, 0).unwrap();
    let mut others = 0;
    while let Some(e) = rd.next_entry().unwrap() {
        if e.name != &victim.as_bytes()[1..] && e.name != b"." && e.name != b".." {
            vol.inode(e.ino).unwrap();
            others += 1;
        }
    }
    assert!(others > 2);
    let t = std::time::Instant::now();
    s.inspect_fails(&["cat", victim]);
    assert!(t.elapsed().as_secs() < 5, "cat took {:?}", t.elapsed());
}

// ----- damage policy (docs/ext4.md): one crafted image per kind of object --------------------

impl Scratch {
    /// The walk succeeds (status 0) and equals the walk of the undamaged image.
    fn walk_clean(&self) {
        let out = inspect(&self.path, &["walk"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let clean = inspect(&support::image(self.base), &["walk"]);
        assert_eq!(out.stdout, clean.stdout);
    }
}

/// The first number after `key` in `text`.
fn number_after(text: &str, key: &str) -> u64 {
    let rest = text
        .split(key)
        .nth(1)
        .unwrap_or_else(|| panic!("no {key:?} in {text}"));
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

#[test]
fn damage_superblock_is_fatal() {
    let s = Scratch::new("tiny-ext4", "dmg-sb");
    let mut b = s.read(1024, 1);
    b[0] ^= 1; // s_inodes_count: the superblock checksum no longer matches
    s.write(1024, &b);
    assert_eq!(
        s.mount().err(),
        Some(Error::Checksum {
            kind: ChecksumKind::Superblock,
            at: 0
        })
    );
    s.inspect_fails(&["walk"]);
}

#[test]
fn damage_group_descriptor_fails_the_inodes_of_its_group() {
    let s = Scratch::new("ext4-1k", "dmg-gd");
    let clean = support::mount("ext4-1k");
    let sb = clean.superblock().clone();
    let ipg = sb.inodes_per_group;
    // The first entry (breadth first) whose inode is in group 1.
    let mut queue = std::collections::VecDeque::from([(String::new(), clean.root().unwrap())]);
    let mut in_group1 = None;
    while let (None, Some((path, dir))) = (&in_group1, queue.pop_front()) {
        let mut rd = clean.read_dir(&dir, 0).unwrap();
        while let Some(e) = rd.next_entry().unwrap() {
            let name = String::from_utf8_lossy(e.name).into_owned();
            if name == "." || name == ".." {
                continue;
            }
            let p = format!("{path}/{name}");
            if (e.ino - 1) / ipg == 1 {
                in_group1 = Some((e.ino, p));
                break;
            }
            let inode = clean.inode(e.ino).unwrap();
            if inode.is_dir() {
                queue.push_back((p, inode));
            }
        }
    }
    let (ino, name) = in_group1.expect("an inode in group 1");
    // 1 KiB blocks: descriptors from block 2; flip a byte of group 1's checksum.
    let at = 2 * 1024 + u64::from(sb.desc_size) + 0x1E;
    let mut b = s.read(at, 1);
    b[0] ^= 0xFF;
    s.write(at, &b);
    let vol = s.vol();
    assert_eq!(
        vol.inode(ino).err(),
        Some(Error::Checksum {
            kind: ChecksumKind::GroupDescriptor,
            at: 1
        })
    );
    // Everything reported by the walk is an inode of group 1 (the entries under a damaged
    // directory are not reached); the rest of the volume reads.
    let out = inspect(&s.path, &["walk"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!(
        "error {name}: checksum mismatch: group descriptor 1"
    )));
    for line in err.lines() {
        let path = line
            .strip_prefix("error ")
            .unwrap()
            .split(": ")
            .next()
            .unwrap();
        let ino = clean.resolve_path(path.as_bytes()).unwrap().ino();
        assert_eq!((ino - 1) / ipg, 1, "{line}");
    }
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(listed.lines().count() > 1000);
    assert!(listed.contains(" /hello.txt\n"));
}

#[test]
fn damage_bitmaps_are_never_read() {
    let s = Scratch::new("tiny-ext4", "dmg-bitmap");
    let text = String::from_utf8(
        Command::new("dumpe2fs")
            .arg(&s.path)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let bs = u64::from(s.vol().block_size());
    for key in ["Block bitmap at", "Inode bitmap at"] {
        s.write(number_after(&text, key) * bs, &vec![0x5A; bs as usize]);
    }
    s.walk_clean();
}

#[test]
fn damage_xattr_block_fails_only_that_files_xattrs() {
    let s = Scratch::new("tiny-ext4", "dmg-xattr");
    let value = s.path.with_extension("xattr");
    fs::write(&value, vec![b'v'; 700]).unwrap();
    s.debugfs_w(&[&format!("ea_set -f {} /data user.big", value.display())]);
    let _ = fs::remove_file(&value);
    let stat = support::debugfs(&s.path, &["stat /data".to_string()]).remove(0);
    let acl = number_after(&String::from_utf8_lossy(&stat), "File ACL:");
    assert!(acl > 0, "the attribute went to a block");
    let bs = u64::from(s.vol().block_size());
    let vol = s.vol();
    let data = vol.resolve_path(b"/data").unwrap();
    let big = vol.xattrs(&data, 1).unwrap();
    assert_eq!(
        (big[0].name.as_slice(), big[0].value.len()),
        (&b"big"[..], 700)
    );
    s.write(acl * bs, &vec![0xFF; bs as usize]);
    // The walk reads no xattrs; the file's xattrs are a clean error.
    s.walk_clean();
    let vol = s.vol();
    let data = vol.resolve_path(b"/data").unwrap();
    let error = vol.xattrs(&data, 1).unwrap_err();
    assert!(
        matches!(error, Error::Checksum { .. } | Error::Corrupt { .. }),
        "{error:?}"
    );
}

#[test]
fn damage_htree_node_falls_back_to_a_linear_scan() {
    let s = Scratch::new("ext4", "dmg-htree");
    let vol = s.vol();
    let dir = vol.resolve_path(b"/many").unwrap();
    assert!(dir.flags() & rustfsd::ext4::inode_flags::INDEX != 0);
    let root_blk = vol.map_block(&dir, 0).unwrap().physical(0).unwrap();
    // The hash of the second index entry of the root: the index checksum fails.
    s.flip(root_blk * u64::from(vol.block_size()) + 0x28);
    let vol = s.vol();
    let dir = vol.resolve_path(b"/many").unwrap();
    let mut rd = vol.read_dir(&dir, 0).unwrap();
    let mut names = Vec::new();
    while let Some(e) = rd.next_entry().unwrap() {
        names.push((e.name.to_vec(), e.ino));
    }
    assert!(names.len() > 500);
    for (name, ino) in &names {
        assert_eq!(vol.lookup(&dir, name).unwrap().ino, *ino);
    }
    s.walk_clean();
}

/// A leaf block of an htree directory fails its checksum: the listing skips that block and
/// goes on with the next ones (Linux's readdir does the same), reporting the damage; names in
/// other blocks are still found through the index, names of the damaged block are corrupt
/// (not "absent"), and `walk` reports the directory but walks the rest of it.
#[test]
fn damaged_directory_block_is_skipped_and_the_rest_listed() {
    let s = Scratch::new("ext4", "dmg-dirblock");
    let vol = s.vol();
    let dir = vol.resolve_path(b"/many").unwrap();
    let bs = u64::from(vol.block_size());
    // Entries by block, from an undamaged listing.
    let mut by_block: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut rd = vol.read_dir(&dir, 0).unwrap();
    while let Some(e) = rd.next_entry().unwrap() {
        let block = (e.offset / bs) as usize;
        by_block.resize(by_block.len().max(block + 1), Vec::new());
        by_block[block].push(e.name.to_vec());
    }
    assert!(by_block.len() > 3, "/many spans several blocks");
    let victim = 1;
    assert!(!by_block[victim].is_empty());
    let physical = vol
        .map_block(&dir, victim as u64)
        .unwrap()
        .physical(victim as u64)
        .unwrap();
    s.flip(physical * bs + 20);

    let vol = s.vol();
    let dir = vol.resolve_path(b"/many").unwrap();
    let mut rd = vol.read_dir(&dir, 0).unwrap();
    let mut listed = Vec::new();
    while let Some(e) = rd.next_entry().unwrap() {
        listed.push(e.name.to_vec());
    }
    assert!(
        matches!(
            rd.damage(),
            Some(Error::Checksum {
                kind: ChecksumKind::DirectoryBlock,
                ..
            })
        ),
        "{:?}",
        rd.damage()
    );
    let expected: Vec<Vec<u8>> = by_block
        .iter()
        .enumerate()
        .filter(|(block, _)| *block != victim)
        .flat_map(|(_, names)| names.clone())
        .collect();
    assert_eq!(listed, expected);
    for name in by_block.iter().skip(victim + 1).flatten().take(200) {
        vol.lookup(&dir, name).unwrap();
    }
    for name in &by_block[victim] {
        assert!(
            matches!(vol.lookup(&dir, name), Err(Error::Checksum { .. })),
            "{}",
            String::from_utf8_lossy(name)
        );
    }
    // Through the driver: a case-insensitive open scans the directory, skips the damaged
    // block and answers its damage, not "not found", for a name that may be in it; names of
    // other blocks open in any case.
    let mut machine = support::machine::machine(&s.path);
    let upper = |name: &[u8]| format!("\\many\\{}", String::from_utf8_lossy(name).to_uppercase());
    let damaged = support::machine::open(&mut machine, &upper(&by_block[victim][0]));
    assert_eq!(damaged.status, NtStatus::FILE_CORRUPT_ERROR);
    let elsewhere = support::machine::open_ok(&mut machine, &upper(&by_block[victim + 1][0]));
    machine.close_handle(elsewhere);
    // A listing through the driver (FileNamesInformation, 1 KiB buffers): the entries before
    // the damaged block, then STATUS_FILE_CORRUPT_ERROR once, then the rest, then
    // NO_MORE_FILES; a restart lists again up to the damage. Before, the block was skipped
    // silently: the listing ended with NO_MORE_FILES and no error.
    let many = support::machine::open_ok(&mut machine, "\\many");
    let not_dots = |n: &&Vec<u8>| n.as_slice() != b"." && n.as_slice() != b"..";
    let before: Vec<Vec<u8>> = by_block[..victim]
        .iter()
        .flatten()
        .filter(not_dots)
        .cloned()
        .collect();
    let after: Vec<Vec<u8>> = by_block[victim + 1..]
        .iter()
        .flatten()
        .filter(not_dots)
        .cloned()
        .collect();
    for _ in 0..2 {
        let mut answers = Vec::new();
        let mut restart = true;
        loop {
            let io = machine.query_directory_file(many, 12, 1024, None, restart, false);
            restart = false;
            if io.status == NtStatus::NO_MORE_FILES {
                break;
            }
            assert!(answers.len() < 10_000, "the listing does not end");
            let names = if io.status == NtStatus::SUCCESS {
                file_names(&io.data[..io.information])
            } else {
                assert_eq!(io.information, 0);
                Vec::new()
            };
            answers.push((io.status, names));
        }
        let damage = answers
            .iter()
            .position(|(status, _)| *status != NtStatus::SUCCESS)
            .expect("the damage is reported");
        assert_eq!(answers[damage].0, NtStatus::FILE_CORRUPT_ERROR);
        let listed = |range: &[(NtStatus, Vec<Vec<u8>>)]| -> Vec<Vec<u8>> {
            range
                .iter()
                .flat_map(|(_, names)| names.iter().cloned())
                .filter(|n| n != b"." && n != b"..")
                .collect()
        };
        assert_eq!(listed(&answers[..damage]), before);
        assert_eq!(listed(&answers[damage + 1..]), after);
        assert!(
            answers[damage + 1..]
                .iter()
                .all(|(s, _)| *s == NtStatus::SUCCESS)
        );
    }
    machine.close_handle(many);
    support::machine::finish(machine);
    let lost: Vec<String> = by_block[victim]
        .iter()
        .map(|name| format!("/many/{}", String::from_utf8_lossy(name)))
        .collect();
    s.walk_reporting(&["/many"], |_, path| lost.iter().any(|l| l == path));
}

#[test]
fn damage_root_inode_is_fatal() {
    let s = Scratch::new("tiny-ext4", "dmg-root");
    s.debugfs_w(&["sif <2> mode 0100644"]);
    assert!(matches!(
        s.mount().err(),
        Some(Error::Corrupt {
            what: "root inode is not a directory",
            ..
        })
    ));
    s.inspect_fails(&["walk"]);
}
