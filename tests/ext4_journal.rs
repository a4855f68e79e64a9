//! In-memory journal replay against e2fsck's real replay.
//!
//! Each variant starts from a clean volume (`base`) and a copy changed by debugfs (`changed`:
//! new files and directories, a removed file, a chmod, a file whose first bytes are the jbd2
//! magic so its logged copy is escaped). The blocks that differ are written into base's
//! journal with debugfs `jo`/`jw`/`jc`, split into transactions, plus decoys that replay must
//! ignore (revoked blocks, an uncommitted tail, a commit block with a bad checksum). The
//! journaled image is the `original`; `e2fsck -E journal_only` replays a copy of it. Then:
//! - our view of the untouched original equals the replayed copy block for block (except the
//!   superblock and the journal, which e2fsck rewrites after replaying);
//! - `rustfsd-inspect walk` of the original equals debugfs's walk and ext4-view's walk of the
//!   replayed copy;
//! - the original's SHA-256 is unchanged.

mod support;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use rustfsd::ext4::crc::crc32c;
use rustfsd::ext4::{ChecksumKind, Error, Volume};
use rustfsd::kernel::NtStatus;
use sha2::{Digest, Sha256};
use support::FileDevice;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Csum {
    None,
    V2,
    V3,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    /// Committed transactions only.
    Plain,
    /// Garbage logged early, cancelled by revoke records; a block revoked and then logged
    /// again (the later copy wins).
    Revoke,
    /// A last transaction of garbage without its commit block.
    Torn,
    /// A last transaction of garbage whose commit block fails its checksum.
    BadCommit,
    /// The log starts near the end of the journal and wraps to its beginning.
    Wrapped,
}

#[derive(Clone, Copy, Debug)]
struct Variant {
    block_size: u32,
    csum: Csum,
    bit64: bool,
    scenario: Scenario,
}

impl Variant {
    fn plain_v3(block_size: u32) -> Variant {
        Variant {
            block_size,
            csum: Csum::V3,
            bit64: true,
            scenario: Scenario::Plain,
        }
    }

    fn tag(&self) -> String {
        format!(
            "{}k-{:?}-{}-{:?}",
            self.block_size / 1024,
            self.csum,
            if self.bit64 { "64" } else { "32" },
            self.scenario
        )
        .to_lowercase()
    }
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sha(path: &Path) -> String {
    format!("{:x}", Sha256::digest(fs::read(path).unwrap()))
}

/// Block numbers where two images differ.
fn changed_blocks(a: &[u8], b: &[u8], bs: usize) -> Vec<u64> {
    (0..a.len() / bs)
        .filter(|&i| a[i * bs..(i + 1) * bs] != b[i * bs..(i + 1) * bs])
        .map(|i| i as u64)
        .collect()
}

/// The physical blocks of the journal inode, in journal order (debugfs `blocks <8>`).
fn journal_blocks(img: &Path) -> Vec<u64> {
    let out = support::debugfs(img, &["blocks <8>".to_string()]).remove(0);
    String::from_utf8(out)
        .unwrap()
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect()
}

struct Built {
    dir: PathBuf,
    original: PathBuf,
    replayed: PathBuf,
    /// Committed transactions e2fsck should replay.
    transactions: u32,
    journal: Vec<u64>,
}

impl Drop for Built {
    fn drop(&mut self) {
        // RUSTFSD_KEEP_JOURNAL_IMAGES=1 keeps the images of failed variants for a look.
        if std::thread::panicking() && std::env::var_os("RUSTFSD_KEEP_JOURNAL_IMAGES").is_some() {
            return;
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn build(v: Variant) -> Built {
    let bs = v.block_size as usize;
    let dir =
        support::cache_dir()
            .join("journal")
            .join(format!("{}-{}", v.tag(), std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let base = dir.join("base.img");
    let features = if v.bit64 { "64bit" } else { "^64bit" };
    run(Command::new("mke2fs")
        .env("E2FSPROGS_FAKE_TIME", support::FAKE_TIME.to_string())
        .args(["-F", "-q", "-t", "ext4", "-b", &v.block_size.to_string()])
        .args([
            "-O",
            features,
            "-J",
            &format!("size={}", bs * 1024 / (1 << 20)),
        ])
        .args([
            "-U",
            support::UUID,
            "-E",
            &format!("hash_seed={}", support::HASH_SEED),
        ])
        .arg("-d")
        .arg(support::source_of("tiny-ext4"))
        .arg(&base)
        .arg("16M"));

    // The changed volume: what the journal will turn base into.
    let changed = dir.join("changed.img");
    fs::copy(&base, &changed).unwrap();
    let mut rng = support::Rng(0x10_0000 ^ u64::from(v.block_size));
    fs::write(dir.join("new.bin"), rng.bytes(3 * bs + 100)).unwrap();
    let mut escaped = 0xC03B_3998u32.to_be_bytes().to_vec();
    escaped.extend_from_slice(b" starts with the jbd2 magic");
    fs::write(dir.join("escaped.bin"), &escaped).unwrap();
    support::debugfs_write(
        &changed,
        &[
            "mkdir /newdir",
            &format!("write {} /newdir/new", dir.join("new.bin").display()),
            &format!("write {} /escaped", dir.join("escaped.bin").display()),
            "symlink /newdir/link /some/where/else",
            "rm /hello.txt",
            "sif /data mode 0100600",
        ],
    );
    let a = fs::read(&base).unwrap();
    let c = fs::read(&changed).unwrap();
    let blocks = changed_blocks(&a, &c, bs);
    assert!(blocks.len() > 8, "{}: only {blocks:?} changed", v.tag());
    let journal = journal_blocks(&base);
    assert!(blocks.iter().all(|b| !journal.contains(b)));

    // Transactions: the changed blocks in three groups, plus the scenario's decoys.
    let block = |img: &[u8], b: u64| img[b as usize * bs..(b as usize + 1) * bs].to_vec();
    let garbage = |n: usize| -> Vec<u8> { vec![0xE7; n * bs] };
    let mut requests = vec![match v.csum {
        Csum::None => "jo".to_string(),
        Csum::V2 => "jo -c -v 2".to_string(),
        Csum::V3 => "jo -c -v 3".to_string(),
    }];
    let mut n = 0;
    let mut write_txn = |blocks: &[u64], data: Vec<u8>, extra: &str| {
        let f = dir.join(format!("txn{n}.bin"));
        n += 1;
        fs::write(&f, data).unwrap();
        let list: Vec<String> = blocks.iter().map(u64::to_string).collect();
        let list = if list.is_empty() {
            String::new()
        } else {
            format!("-b {}", list.join(","))
        };
        requests.push(format!("jw {list} {extra} {}", f.display()));
    };
    // A block of base's /data (in use, unchanged): a revoked decoy must not reach it.
    let data_block: u64 = {
        let vol = Volume::mount(FileDevice::open(&base)).unwrap();
        let ino = vol.resolve_path(b"/data").unwrap();
        vol.map_block(&ino, 0).unwrap().physical(0).unwrap()
    };
    let third = blocks.len() / 3;
    let groups = [
        &blocks[..third],
        &blocks[third..2 * third],
        &blocks[2 * third..],
    ];
    let mut transactions = 3;
    if v.scenario == Scenario::Revoke {
        // Garbage for the data block and for one changed block, both revoked by the next
        // transaction (debugfs 1.47 loses the commit block of a `jw` with both -b and -r, so
        // the revoke gets its own); the changed block is logged again afterwards, and that
        // copy is replayed. The data block keeps base's content.
        let again = groups[0][0];
        write_txn(&[data_block, again], garbage(2), "");
        write_txn(&[], Vec::new(), &format!("-r {data_block},{again}"));
        transactions += 2;
    }
    for g in &groups {
        let data: Vec<u8> = g.iter().flat_map(|&b| block(&c, b)).collect();
        write_txn(g, data, "");
    }
    match v.scenario {
        Scenario::Torn => write_txn(&[blocks[0], data_block], garbage(2), "-c"),
        Scenario::BadCommit => write_txn(&[blocks[0], data_block], garbage(2), ""),
        _ => {}
    }
    requests.push("jc".to_string());
    let original = dir.join("original.img");
    fs::copy(&base, &original).unwrap();
    let refs: Vec<&str> = requests.iter().map(String::as_str).collect();
    support::debugfs_write(&original, &refs);
    match v.scenario {
        Scenario::BadCommit => break_last_commit(&original, &journal, bs),
        Scenario::Wrapped => rotate_log(&original, &journal, bs, v.csum != Csum::None),
        _ => {}
    }

    let replayed = dir.join("replayed.img");
    fs::copy(&original, &replayed).unwrap();
    let out = Command::new("e2fsck")
        .args(["-y", "-E", "journal_only"])
        .arg(&replayed)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "e2fsck: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    Built {
        dir,
        original,
        replayed,
        transactions,
        journal,
    }
}

/// Journal block `j` → its byte offset in the image.
fn journal_offset(journal: &[u64], j: usize, bs: usize) -> u64 {
    journal[j] * bs as u64
}

/// Flips a byte in the checksum of the last commit block of the log.
fn break_last_commit(img: &Path, journal: &[u64], bs: usize) {
    let data = fs::read(img).unwrap();
    let at = |j: usize| journal_offset(journal, j, bs) as usize;
    let last_commit = (1..journal.len())
        .filter(|&j| data[at(j)..at(j) + 8] == [0xC0, 0x3B, 0x39, 0x98, 0, 0, 0, 2])
        .max()
        .expect("a commit block");
    write_at(
        img,
        at(last_commit) as u64 + 16,
        &[!data[at(last_commit) + 16]],
    );
}

/// Moves the whole log area so that the log starts 3 blocks before the end of the journal and
/// wraps; updates `s_start` (and the superblock checksum).
fn rotate_log(img: &Path, journal: &[u64], bs: usize, csum: bool) {
    let mut data = fs::read(img).unwrap();
    let at = |j: usize| journal_offset(journal, j, bs) as usize;
    let sb = data[at(0)..at(0) + bs].to_vec();
    let be32 = |o: usize| u32::from_be_bytes(sb[o..o + 4].try_into().unwrap());
    let (max_len, first, start) = (
        be32(0x10) as usize,
        be32(0x14) as usize,
        be32(0x1C) as usize,
    );
    assert_eq!(start, first);
    let len = max_len - first;
    let shift = len - 3;
    let old: Vec<Vec<u8>> = (first..max_len)
        .map(|j| data[at(j)..at(j) + bs].to_vec())
        .collect();
    for (i, blk) in old.iter().enumerate() {
        let j = first + (i + shift) % len;
        data[at(j)..at(j) + bs].copy_from_slice(blk);
    }
    let new_start = (first + shift) as u32;
    data[at(0) + 0x1C..at(0) + 0x20].copy_from_slice(&new_start.to_be_bytes());
    if csum {
        let o = at(0);
        data[o + 0xFC..o + 0x100].fill(0);
        let c = crc32c(!0, &data[o..o + 1024]);
        data[o + 0xFC..o + 0x100].copy_from_slice(&c.to_be_bytes());
    }
    fs::write(img, data).unwrap();
}

fn write_at(img: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = fs::OpenOptions::new().write(true).open(img).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

fn inspect(args: &[&str], img: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rustfsd-inspect"))
        .arg(args[0])
        .arg(img)
        .args(&args[1..])
        .output()
        .unwrap()
}

/// The walk listing of `img` as ext4-view reads it.
fn ext4view_walk(img: &Path) -> String {
    let fs4 = ext4_view::Ext4::load_from_path(img).unwrap();
    let mut lines = Vec::new();
    let mut stack = vec![Vec::<u8>::new()];
    while let Some(dir) = stack.pop() {
        let abs = if dir.is_empty() {
            b"/".to_vec()
        } else {
            dir.clone()
        };
        for e in fs4.read_dir(ext4_view::Path::new(&abs)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().as_ref().to_vec();
            if name == b"." || name == b".." {
                continue;
            }
            let p = [dir.as_slice(), b"/", &name].concat();
            let path = ext4_view::Path::new(&p);
            let md = e.metadata().unwrap();
            let line = if md.file_type().is_dir() {
                stack.push(p.clone());
                "d - -".to_string()
            } else if md.file_type().is_symlink() {
                let t = fs4.read_link(path).unwrap();
                let t = t.as_ref();
                format!("l {} {:x}", t.len(), Sha256::digest(t))
            } else {
                let data = fs4.read(path).unwrap();
                format!("f {} {:x}", data.len(), Sha256::digest(&data))
            };
            lines.push((p, line));
        }
    }
    lines.sort();
    let mut out = String::new();
    for (p, l) in lines {
        writeln!(out, "{l} {}", support::walk::escape(&p)).unwrap();
    }
    out
}

fn check(v: Variant) {
    let tag = v.tag();
    let b = build(v);
    let bs = u64::from(v.block_size);
    let before = sha(&b.original);

    let vol = Volume::mount(FileDevice::open(&b.original)).unwrap();
    let replay = *vol.replay().expect("the original needs recovery");
    assert_eq!(replay.transactions, b.transactions, "{tag}: {replay:?}");
    assert!(replay.replayed_blocks > 8, "{tag}: {replay:?}");
    if v.scenario == Scenario::Revoke {
        assert_eq!(replay.revoked_blocks, 1, "{tag}: {replay:?}");
    }

    // Block for block, except the superblock's block and the journal.
    let sb_block = 1024 / bs;
    let replayed = fs::read(&b.replayed).unwrap();
    let mut ours = vec![0u8; bs as usize];
    let mut compared = 0;
    for blk in 0..replayed.len() as u64 / bs {
        if blk == sb_block || b.journal.contains(&blk) {
            continue;
        }
        vol.read_volume(blk * bs, &mut ours).unwrap();
        let theirs = &replayed[(blk * bs) as usize..((blk + 1) * bs) as usize];
        assert!(
            ours == theirs,
            "{tag}: block {blk} differs from e2fsck's replay"
        );
        compared += 1;
    }
    assert!(compared > 1000);

    // The file tree, three ways.
    let out = inspect(&["walk"], &b.original);
    assert!(
        out.status.success(),
        "{tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let walk = String::from_utf8(out.stdout).unwrap();
    assert!(
        walk.contains(" /newdir/new\n") && walk.contains(" /escaped\n"),
        "{tag}: {walk}"
    );
    assert!(!walk.contains(" /hello.txt\n"), "{tag}");
    assert_eq!(
        walk,
        support::walk::debugfs_walk(&b.replayed),
        "{tag}: debugfs"
    );
    assert_eq!(walk, ext4view_walk(&b.replayed), "{tag}: ext4-view");
    let info = String::from_utf8(inspect(&["info"], &b.original).stdout).unwrap();
    assert!(
        info.contains(&format!(
            "replayed in memory: {} transactions",
            b.transactions
        )),
        "{tag}: {info}"
    );
    // The driver serves the same view, and tells the kernel debugger (at the error level,
    // shown by default) that it replayed the journal in memory.
    let mut machine = support::machine::machine(&b.original);
    let new = support::machine::open_ok(&mut machine, "\\newdir\\new");
    assert_eq!(machine.close_handle(new), NtStatus::SUCCESS);
    assert_eq!(
        support::machine::open(&mut machine, "\\hello.txt").status,
        NtStatus::OBJECT_NAME_NOT_FOUND,
        "{tag}"
    );
    let said = machine.debugger_output();
    assert!(
        said.iter().any(|line| line.contains(&format!(
            "needs recovery: replayed {} transactions from sequence {} ({} blocks)",
            replay.transactions, replay.first_sequence, replay.replayed_blocks
        ))),
        "{tag}: {said:?}"
    );
    support::machine::finish(machine);
    assert_eq!(sha(&b.original), before, "{tag}: the original changed");
}

fn variants(scenario: Scenario) -> Vec<Variant> {
    let mut out = Vec::new();
    for block_size in [1024, 2048, 4096] {
        for csum in [Csum::None, Csum::V2, Csum::V3] {
            if scenario == Scenario::BadCommit && csum == Csum::None {
                continue; // nothing to fail without checksums
            }
            out.push(Variant {
                block_size,
                csum,
                bit64: true,
                scenario,
            });
        }
    }
    out
}

#[test]
fn plain_transactions() {
    for v in variants(Scenario::Plain) {
        check(v);
    }
    // 32-bit volumes: 32-bit journal tags and revoke records (so with revokes).
    for csum in [Csum::None, Csum::V3] {
        check(Variant {
            block_size: 4096,
            csum,
            bit64: false,
            scenario: Scenario::Revoke,
        });
    }
}

#[test]
fn revoked_blocks() {
    variants(Scenario::Revoke).into_iter().for_each(check);
}

#[test]
fn torn_last_transaction() {
    variants(Scenario::Torn).into_iter().for_each(check);
}

#[test]
fn bad_commit_checksum_ends_the_log() {
    variants(Scenario::BadCommit).into_iter().for_each(check);
}

#[test]
fn wrapped_log() {
    variants(Scenario::Wrapped).into_iter().for_each(check);
}

#[test]
fn external_journal_is_refused() {
    let dir = support::cache_dir().join(format!("journal-ext-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let img = dir.join("fs.img");
    run(Command::new("mke2fs")
        .args(["-F", "-q", "-t", "ext4", "-O", "^has_journal"])
        .arg(&img)
        .arg("8M"));
    // An external journal (journal UUID and device set, no inode) that needs recovery.
    support::debugfs_write(
        &img,
        &[
            "feature has_journal needs_recovery",
            "ssv journal_inum 0",
            "ssv journal_dev 0x801",
            &format!("ssv journal_uuid {}", support::UUID),
        ],
    );
    let err = Volume::mount(FileDevice::open(&img)).unwrap_err();
    assert_eq!(
        err,
        Error::Unsupported(rustfsd::ext4::Unsupported::ExternalJournal)
    );
    let out = inspect(&["info"], &img);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("external"));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn damaged_logged_copy_fails_only_its_block() {
    let b = build(Variant::plain_v3(1024));
    // Corrupt the logged copy of the escaped file's data block: its tag checksum fails when
    // that block is read; the rest of the volume reads as replayed.
    let img = fs::read(&b.original).unwrap();
    let bs = 1024usize;
    let copy = b
        .journal
        .iter()
        .find(|&&j| img[j as usize * bs..j as usize * bs + 8] == *b"\0\0\0\0 sta")
        .copied()
        .expect("the escaped copy in the log");
    write_at(&b.original, copy * bs as u64 + 20, b"X");
    let vol = Volume::mount(FileDevice::open(&b.original)).unwrap();
    let ino = vol.resolve_path(b"/escaped").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        vol.read_at(&ino, 0, &mut buf).unwrap_err(),
        Error::Checksum {
            kind: ChecksumKind::Journal,
            at: copy
        }
    );
    let new = vol.resolve_path(b"/newdir/new").unwrap();
    let mut all = vec![0u8; new.size() as usize];
    assert_eq!(vol.read_at(&new, 0, &mut all).unwrap(), all.len());
}

#[test]
fn damaged_journal_superblock_is_fatal() {
    let b = build(Variant::plain_v3(4096));
    // A flipped bit in s_start: the journal superblock checksum fails; without the journal the
    // volume cannot be read as Linux would, so the mount is refused (Linux refuses too).
    write_at(&b.original, b.journal[0] * 4096 + 0x1F, &[0x40]);
    assert_eq!(
        Volume::mount(FileDevice::open(&b.original)).unwrap_err(),
        Error::Checksum {
            kind: ChecksumKind::Journal,
            at: 0
        }
    );
    let out = inspect(&["walk"], &b.original);
    assert_eq!(out.status.code(), Some(2));
    // The driver says the disk is corrupt, which ends the I/O manager's search: RAW does not
    // take the disk (and Windows does not offer to format it). The volume itself may still be
    // opened raw.
    let mut machine = support::machine::machine(&b.original);
    assert_eq!(
        support::machine::open(&mut machine, "\\hello.txt").status,
        NtStatus::DISK_CORRUPT_ERROR
    );
    assert_eq!(
        machine.file_systems_asked(),
        ["rustfsd"],
        "no file system is asked after rustfsd's refusal"
    );
    support::machine::finish(machine);
}
