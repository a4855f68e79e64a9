//! Shared test helpers: deterministic ext2/3/4 images built with `mke2fs -d`, cached under
//! `<target>/test-images/`, plus oracles (debugfs, ext4-view) and a file-backed device.
//!
//! `image("ext4")` returns the path of the cached image for a named feature set, generating it
//! on first use (per machine, under a file lock, so parallel tests and test binaries share
//! it). Bump [`GENERATOR_VERSION`] whenever a tree or an option changes.
#![allow(dead_code)]

pub mod block_map;
pub mod machine;
pub mod owned_tree;
pub mod seeds;
pub mod walk;

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustfsd::ext4::{BlockDevice, Error, Volume};

/// Part of every cached file name: changing the generator invalidates old images.
pub const GENERATOR_VERSION: u32 = 10;
/// Version of the benchmark images (independent of the test trees: they are large).
pub const BENCH_VERSION: u32 = 1;
/// Fixed identity so images are reproducible.
pub const UUID: &str = "5c0ffee5-0000-4000-8000-00000000e4e4";
pub const HASH_SEED: &str = "0badcafe-1111-4222-8333-444455556666";
/// Fixed time for source trees and mke2fs (`E2FSPROGS_FAKE_TIME`).
pub const FAKE_TIME: i64 = 1_700_000_000;

/// The feature sets the differential tests run over.
pub const STANDARD_IMAGES: &[&str] = &[
    "ext2",
    "ext3",
    "ext4",
    "ext4-no64bit",
    "ext4-1k",
    "ext4-bigalloc",
    "ext4-bigalloc-1k",
    "ext4-nocsum",
    "ext4-inline",
    "ext4-tea",
    "ext4-legacy",
    "ext4-metabg",
    "ext4-unsigned",
];

/// Small images (a few hundred KiB) used as fuzz seeds and for corruption tests.
pub const TINY_IMAGES: &[&str] = &[
    "tiny-ext2",
    "tiny-ext4",
    "tiny-ext4-nocsum",
    "tiny-inline",
    "tiny-ext4-32bit",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tree {
    /// The standard tree with symlinks up to 4095 bytes (block size 4 KiB).
    Standard,
    /// The standard tree with symlinks shorter than 1 KiB (mke2fs cannot write a symlink
    /// longer than one block).
    StandardSmallBlocks,
    BigDir,
    Tiny,
    /// The driver lifecycle tests' tree: names that differ only in case, names that need
    /// escaping, symlinks to follow, and 10 000 empty files for the million-create test.
    Lifecycle,
}

struct Spec {
    fs_type: &'static str,
    args: &'static [&'static str],
    size: &'static str,
    tree: Tree,
    hash_alg: &'static str,
    /// Post-process with debugfs to create unwritten extents.
    unwritten: bool,
    /// Post-process with `e2fsck -fyD`: mke2fs -d writes every directory linearly, e2fsck -D
    /// rebuilds the multi-block ones as htree indexes.
    index_dirs: bool,
    /// Switch the volume to unsigned-char name hashing before the directories are indexed.
    unsigned_hash: bool,
}

fn spec(name: &str) -> Spec {
    let s = |fs_type, args, size, tree, unwritten| Spec {
        fs_type,
        args,
        size,
        tree,
        hash_alg: "half_md4",
        unwritten,
        index_dirs: true,
        unsigned_hash: false,
    };
    match name {
        "ext2" => s(
            "ext2",
            &["-b", "1024"],
            "96M",
            Tree::StandardSmallBlocks,
            false,
        ),
        // ext3 and ext4-nocsum keep mke2fs's linear directories (the linear lookup path).
        "ext3" => Spec {
            index_dirs: false,
            ..s("ext3", &["-b", "4096"], "96M", Tree::Standard, false)
        },
        "ext4" => s("ext4", &["-b", "4096"], "96M", Tree::Standard, true),
        "ext4-no64bit" => s(
            "ext4",
            &["-b", "4096", "-O", "^64bit"],
            "96M",
            Tree::Standard,
            true,
        ),
        "ext4-1k" => s(
            "ext4",
            &["-b", "1024"],
            "96M",
            Tree::StandardSmallBlocks,
            true,
        ),
        "ext4-bigalloc" => s(
            "ext4",
            &["-b", "4096", "-O", "bigalloc", "-C", "16384"],
            "256M",
            Tree::Standard,
            true,
        ),
        // s_first_data_block is 0 with bigalloc even for 1 KiB blocks: the descriptors are
        // at block 2, after the superblock's block, not at first_data_block + 1.
        "ext4-bigalloc-1k" => s(
            "ext4",
            &["-b", "1024", "-O", "bigalloc", "-C", "16384"],
            "256M",
            Tree::StandardSmallBlocks,
            true,
        ),
        "ext4-nocsum" => Spec {
            index_dirs: false,
            ..s(
                "ext4",
                &["-b", "4096", "-O", "^metadata_csum,uninit_bg"],
                "96M",
                Tree::Standard,
                true,
            )
        },
        "ext4-inline" => s(
            "ext4",
            &["-b", "4096", "-O", "inline_data"],
            "96M",
            Tree::Standard,
            true,
        ),
        "ext4-tea" => Spec {
            hash_alg: "tea",
            ..s("ext4", &["-b", "4096"], "96M", Tree::Standard, true)
        },
        "ext4-legacy" => Spec {
            hash_alg: "legacy",
            ..s(
                "ext4",
                &["-b", "2048"],
                "96M",
                Tree::StandardSmallBlocks,
                true,
            )
        },
        "ext4-metabg" => s(
            "ext4",
            &["-b", "1024", "-g", "1024", "-O", "meta_bg,^resize_inode"],
            "96M",
            Tree::StandardSmallBlocks,
            true,
        ),
        "ext4-unsigned" => Spec {
            unsigned_hash: true,
            ..s("ext4", &["-b", "4096"], "96M", Tree::Standard, true)
        },
        "bigdir" => s(
            "ext4",
            &["-b", "4096", "-N", "4096"],
            "64M",
            Tree::BigDir,
            false,
        ),
        "tiny-ext2" => s(
            "ext2",
            &["-b", "1024", "-N", "64"],
            "512K",
            Tree::Tiny,
            false,
        ),
        "tiny-ext4" => s(
            "ext4",
            &["-b", "1024", "-N", "64", "-O", "^has_journal"],
            "512K",
            Tree::Tiny,
            true,
        ),
        // Without metadata checksums, so that fuzzing mutations reach the structure checks
        // instead of stopping at a checksum mismatch.
        "tiny-inline" => s(
            "ext4",
            &[
                "-b",
                "1024",
                "-N",
                "64",
                "-O",
                "^has_journal,inline_data,^metadata_csum",
            ],
            "512K",
            Tree::Tiny,
            false,
        ),
        "tiny-ext4-nocsum" => s(
            "ext4",
            &[
                "-b",
                "1024",
                "-N",
                "64",
                "-O",
                "^has_journal,^metadata_csum",
            ],
            "512K",
            Tree::Tiny,
            true,
        ),
        "tiny-ext4-32bit" => s(
            "ext4",
            &["-b", "1024", "-N", "64", "-O", "^has_journal,^64bit"],
            "512K",
            Tree::Tiny,
            false,
        ),
        "lifecycle" => Spec {
            index_dirs: true,
            ..s(
                "ext4",
                &["-b", "1024", "-N", "16384", "-O", "^has_journal"],
                "32M",
                Tree::Lifecycle,
                false,
            )
        },
        other => panic!("unknown test image {other}"),
    }
}

/// `<target dir>/test-images`.
pub fn cache_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(&tmp).join("test-images");
    fs::create_dir_all(&dir).expect("create test-images dir");
    dir
}

fn lock(name: &str) -> fs::File {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(cache_dir().join(format!(".{name}.lock")))
        .expect("open lock file");
    f.lock().expect("lock");
    f
}

/// The path of the cached image for a named feature set, building it if needed.
pub fn image(name: &str) -> PathBuf {
    build_image(name, || spec(name), || source_tree(spec(name).tree))
}

/// Benchmark image: one ext4 volume with `file64` (64 MiB) and `filebig` (`big_mib` MiB) of
/// pseudo-random content.
pub fn bench_image(big_mib: u64) -> PathBuf {
    let name = format!("bench-{big_mib}m");
    let size: &'static str = Box::leak(format!("{}M", big_mib + 64 + 128).into_boxed_str());
    let sp = move || Spec {
        fs_type: "ext4",
        args: &["-b", "4096", "-N", "1024", "-O", "^has_journal"],
        size,
        tree: Tree::Tiny,
        hash_alg: "half_md4",
        unwritten: false,
        index_dirs: false,
        unsigned_hash: false,
    };
    build_image_v(&name, BENCH_VERSION, sp, || {
        let dir = cache_dir().join(format!("src-bench-{big_mib}m-v{BENCH_VERSION}"));
        let done = dir.with_extension("complete");
        if !done.exists() {
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            write_random_file(&dir.join("file64"), 64 << 20, 1);
            write_random_file(&dir.join("filebig"), big_mib << 20, 2);
            fs::write(&done, b"").unwrap();
        }
        dir
    })
}

/// The section tests' volume (ext4, 1 KiB blocks): `notepad.txt` (50 001 bytes, not a whole
/// number of pages), `tool.exe` (20 000 bytes starting with "MZ"), `small` (100 bytes),
/// `sparse` (a hole between two data runs) and `dir`.
pub fn sections_image() -> PathBuf {
    let sp = || Spec {
        fs_type: "ext4",
        args: &["-b", "1024", "-O", "^has_journal"],
        size: "8M",
        tree: Tree::Tiny,
        hash_alg: "half_md4",
        unwritten: false,
        index_dirs: false,
        unsigned_hash: false,
    };
    build_image_v("sections", 1, sp, || {
        let dir = cache_dir().join("src-sections-v1");
        let done = dir.with_extension("complete");
        if !done.exists() {
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("dir")).unwrap();
            let mut rng = Rng(0x5eed_0003);
            fs::write(dir.join("notepad.txt"), rng.bytes(50_001)).unwrap();
            let mut image = b"MZ".to_vec();
            image.extend(rng.bytes(19_998));
            fs::write(dir.join("tool.exe"), image).unwrap();
            fs::write(dir.join("small"), rng.bytes(100)).unwrap();
            write_at(&dir.join("sparse"), 12_288, &rng.bytes(5000), 30_000);
            fs::write(&done, b"").unwrap();
        }
        dir
    })
}

/// An empty ext4 volume of `size` (e.g. "1T") in a sparse file: for mount-time scaling.
pub fn empty_image(size: &'static str) -> PathBuf {
    let name = format!("empty-{size}");
    let sp = move || Spec {
        fs_type: "ext4",
        args: &[
            "-b",
            "4096",
            "-O",
            "^has_journal",
            "-E",
            "lazy_itable_init=1",
        ],
        size,
        tree: Tree::Tiny,
        hash_alg: "half_md4",
        unwritten: false,
        index_dirs: false,
        unsigned_hash: false,
    };
    build_image_v(&name, BENCH_VERSION, sp, || {
        let dir = cache_dir().join("src-empty");
        fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fn write_random_file(path: &Path, len: u64, seed: u64) {
    let mut rng = Rng(0x1234_5678 ^ seed);
    let mut f = std::io::BufWriter::with_capacity(1 << 20, fs::File::create(path).unwrap());
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for w in chunk.chunks_exact_mut(8) {
            w.copy_from_slice(&rng.next().to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

fn build_image(name: &str, spec: impl Fn() -> Spec, source: impl Fn() -> PathBuf) -> PathBuf {
    build_image_v(name, GENERATOR_VERSION, spec, source)
}

fn build_image_v(
    name: &str,
    version: u32,
    spec: impl Fn() -> Spec,
    source: impl Fn() -> PathBuf,
) -> PathBuf {
    let out = cache_dir().join(format!("{name}-v{version}.img"));
    if out.exists() {
        return out;
    }
    let _guard = lock(name);
    if out.exists() {
        return out;
    }
    remove_stale(&format!("{name}-v"), ".img", version);
    let sp = spec();
    let src = source();
    let tmp = out.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    // One configuration file per image: test binaries build images in parallel, and a file
    // rewritten in place can be read half-written by another mke2fs, which then falls back to
    // its built-in defaults (128-byte inodes on a small ext2).
    let conf = cache_dir().join(format!("mke2fs-{name}-{}.conf", sp.hash_alg));
    fs::write(&conf, mke2fs_conf(sp.hash_alg)).expect("write mke2fs.conf");
    let mut cmd = Command::new("mke2fs");
    if matches!(sp.tree, Tree::Standard | Tree::StandardSmallBlocks) {
        // ~7500 files and symlinks in the standard tree.
        cmd.args(["-N", "16384"]);
    }
    cmd.env("MKE2FS_CONFIG", &conf)
        .env("E2FSPROGS_FAKE_TIME", FAKE_TIME.to_string())
        .args(["-F", "-q", "-t", sp.fs_type])
        .args(sp.args)
        .args(["-U", UUID, "-L", "rustfsd-test"])
        .arg("-E")
        .arg(format!("root_owner=0:0,hash_seed={HASH_SEED}"))
        .arg("-d")
        .arg(&src)
        .arg(&tmp)
        .arg(sp.size);
    run(&mut cmd);
    if sp.unwritten {
        // mke2fs -d turns preallocated ranges of the source into holes, so make unwritten
        // extents here: punch the written blocks (their stale bytes stay on disk) and
        // fallocate the same range again, which reuses the freed blocks.
        debugfs_write(
            &tmp,
            &[
                "punch /prealloc/stale 0 15",
                "fallocate /prealloc/stale 0 15",
                "punch /prealloc/mixed 16 47",
                "fallocate /prealloc/mixed 16 47",
                "fallocate /prealloc/beyond_eof 4 40",
            ],
        );
    }
    if sp.tree == Tree::BigDir {
        fill_bigdir(&tmp);
    }
    if sp.unsigned_hash {
        // s_flags: EXT2_FLAGS_UNSIGNED_HASH instead of the signed flag mke2fs sets on x86.
        debugfs_write(&tmp, &["ssv flags 2"]);
    }
    if sp.index_dirs || sp.tree == Tree::BigDir {
        e2fsck_optimize(&tmp);
    }
    fs::rename(&tmp, &out).expect("rename image");
    out
}

/// `e2fsck -fyD`: rebuild directories (as htree where they span several blocks). Status 0 or
/// 1 (errors corrected) is success.
/// Deletes cache entries `<prefix><other version><suffix>` left by older generators.
fn remove_stale(prefix: &str, suffix: &str, version: u32) {
    let current = format!("{prefix}{version}{suffix}");
    let Ok(rd) = fs::read_dir(cache_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let Some(v) = n.strip_prefix(prefix).and_then(|r| r.strip_suffix(suffix)) else {
            continue;
        };
        if n != current && v.chars().all(|c| c.is_ascii_digit()) {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

fn e2fsck_optimize(img: &Path) {
    let out = Command::new("e2fsck")
        .env("E2FSPROGS_FAKE_TIME", FAKE_TIME.to_string())
        .arg("-fyD")
        .arg(img)
        .output()
        .expect("spawn e2fsck");
    let code = out.status.code().unwrap_or(99);
    assert!(
        code <= 1,
        "e2fsck -fyD {}: status {code}\n{}",
        img.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The source tree (the `mke2fs -d` input) of an image.
pub fn source_of(name: &str) -> PathBuf {
    source_tree(spec(name).tree)
}

/// The longest symlink in an image's `links/` directory.
pub fn max_symlink_len(name: &str) -> usize {
    if spec(name).tree == Tree::StandardSmallBlocks {
        1023
    } else {
        4095
    }
}

fn mke2fs_conf(hash_alg: &str) -> String {
    format!(
        "[defaults]\n\
         \tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr\n\
         \tdefault_mntopts = acl,user_xattr\n\
         \tenable_periodic_fsck = 0\n\
         \tblocksize = 4096\n\
         \tinode_size = 256\n\
         \tinode_ratio = 16384\n\
         \thash_alg = {hash_alg}\n\
         [fs_types]\n\
         \text3 = {{\n\t\tfeatures = has_journal\n\t}}\n\
         \tsmall = {{\n\t\tblocksize = 1024\n\t\tinode_ratio = 4096\n\t}}\n\
         \tfloppy = {{\n\t\tblocksize = 1024\n\t\tinode_ratio = 8192\n\t}}\n\
         \text4 = {{\n\t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize\n\t}}\n"
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs debugfs in write mode with the given requests.
pub fn debugfs_write(img: &Path, requests: &[&str]) {
    let mut child = Command::new("debugfs")
        .args(["-w", "-f", "-"])
        .arg(img)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn debugfs");
    let mut stdin = child.stdin.take().expect("stdin");
    for r in requests {
        writeln!(stdin, "{r}").expect("write to debugfs");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("debugfs");
    assert!(
        out.status.success(),
        "debugfs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs read-only debugfs requests; returns the output of each request in order.
pub fn debugfs(img: &Path, requests: &[String]) -> Vec<Vec<u8>> {
    let mut child = Command::new("debugfs")
        .args(["-f", "-"])
        .arg(img)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn debugfs");
    let mut stdin = child.stdin.take().expect("stdin");
    let reqs: Vec<String> = requests.to_vec();
    let writer = std::thread::spawn(move || {
        for r in reqs {
            let _ = writeln!(stdin, "{r}");
        }
    });
    let out = child.wait_with_output().expect("debugfs");
    writer.join().expect("writer");
    // Each request's output is preceded by "debugfs: <request>\n" (not necessarily at the
    // start of a line: `cat` output need not end with a newline). Find them in order.
    let find = |hay: &[u8], from: usize, needle: &[u8]| -> Option<usize> {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let stdout = &out.stdout;
    let markers: Vec<Vec<u8>> = requests
        .iter()
        .map(|r| format!("debugfs: {r}\n").into_bytes())
        .collect();
    let mut results: Vec<Vec<u8>> = Vec::new();
    let mut pos = 0usize;
    let mut starts = Vec::new();
    for m in &markers {
        let Some(at) = find(stdout, pos, m) else {
            break;
        };
        starts.push((at, at + m.len()));
        pos = at + m.len();
    }
    for (i, &(_, body)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map(|s| s.0).unwrap_or(stdout.len());
        results.push(stdout[body..end].to_vec());
    }
    assert_eq!(
        results.len(),
        requests.len(),
        "debugfs output did not split per request"
    );
    results
}

/// Quotes a path for a debugfs request (debugfs understands double quotes).
pub fn dq(path: &[u8]) -> String {
    format!("\"{}\"", String::from_utf8_lossy(path))
}

// ----- a file-backed device -------------------------------------------------------------

pub struct FileDevice {
    file: fs::File,
    size: u64,
}

impl FileDevice {
    pub fn open(path: &Path) -> FileDevice {
        let file = fs::File::open(path).expect("open image");
        let size = file.metadata().expect("metadata").len();
        FileDevice { file, size }
    }
}

impl BlockDevice for FileDevice {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.file.read_exact_at(buf, offset).map_err(|e| Error::Io {
            offset,
            code: i64::from(e.raw_os_error().unwrap_or(-1)),
        })
    }
    fn size(&self) -> Option<u64> {
        Some(self.size)
    }
}

pub fn mount(name: &str) -> Volume<FileDevice> {
    Volume::mount(FileDevice::open(&image(name))).unwrap_or_else(|e| panic!("mount {name}: {e}"))
}

pub fn ext4view(name: &str) -> ext4_view::Ext4 {
    ext4_view::Ext4::load_from_path(image(name))
        .unwrap_or_else(|e| panic!("ext4-view load {name}: {e}"))
}

// ----- deterministic content ------------------------------------------------------------

/// xorshift64*: deterministic bytes for file contents and random offsets.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 32) as u8).collect()
    }
}

fn write_at(path: &Path, offset: u64, data: &[u8], len: u64) {
    let f = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .expect("create");
    f.write_all_at(data, offset).expect("write");
    f.set_len(len).expect("set_len");
}

fn source_tree(tree: Tree) -> PathBuf {
    let (name, build): (&str, fn(&Path)) = match tree {
        Tree::Standard => ("standard", |d| build_standard(d, 4095)),
        Tree::StandardSmallBlocks => ("standard-1k", |d| build_standard(d, 1023)),
        Tree::BigDir => ("bigdir", build_bigdir),
        Tree::Tiny => ("tiny", build_tiny),
        Tree::Lifecycle => ("lifecycle", build_lifecycle),
    };
    let dir = cache_dir().join(format!("src-{name}-v{GENERATOR_VERSION}"));
    let done = cache_dir().join(format!("src-{name}-v{GENERATOR_VERSION}.complete"));
    if done.exists() {
        return dir;
    }
    let _guard = lock(&format!("src-{name}"));
    if done.exists() {
        return dir;
    }
    remove_stale(&format!("src-{name}-v"), "", GENERATOR_VERSION);
    remove_stale(&format!("src-{name}-v"), ".complete", GENERATOR_VERSION);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("mkdir source");
    build(&dir);
    // Fixed atime/mtime everywhere (ctime cannot be set; mke2fs copies it as it is).
    run(Command::new("find").arg(&dir).args([
        "-exec",
        "touch",
        "-h",
        "-d",
        &format!("@{FAKE_TIME}"),
        "{}",
        "+",
    ]));
    fs::write(&done, b"").expect("mark complete");
    dir
}

fn name_bytes(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// The lengths of the symlinks in `links/`: every length 1..=4095 when `max` allows it (4 KiB
/// blocks), otherwise every length up to 300, then every 61st, plus the block boundaries.
pub fn symlink_lengths(max: usize) -> Vec<usize> {
    if max >= 4095 {
        // 4 KiB blocks: every possible length.
        return (1..=4095).collect();
    }
    let mut v: Vec<usize> = (1..=300).collect();
    v.extend((301..4095).step_by(61));
    v.extend([1022, 1023, 1024, 1025, 2047, 2048, 2049, 4094, 4095]);
    v.retain(|&n| n <= max);
    v.sort();
    v.dedup();
    v
}

fn build_standard(d: &Path, max_link: usize) {
    let mut rng = Rng(0x5eed_0001);
    fs::write(d.join("empty"), b"").unwrap();
    fs::write(d.join("one"), b"1").unwrap();
    fs::write(d.join("hello.txt"), b"hello, world\n").unwrap();
    for n in [
        59usize, 60, 61, 150, 1023, 1024, 1025, 4095, 4096, 4097, 65_537,
    ] {
        fs::write(d.join(format!("size-{n}")), rng.bytes(n)).unwrap();
    }
    fs::write(d.join("random-1m"), rng.bytes(1 << 20)).unwrap();
    // Sparse: data, hole, data, and a hole at the end.
    let sp = d.join("sparse");
    write_at(&sp, 0, &rng.bytes(10_000), 8 << 20);
    write_at(&sp, 5 << 20, &rng.bytes(70_000), 8 << 20);
    // Far sparse: reaches triple-indirect blocks on 1 KiB ext2 (past 64.3 MiB); on 4 KiB
    // blocks triple indirection starts at 4 GiB, so keep it small there. Its last MiB starts
    // with 4 KiB of data.
    let far = d.join("sparse-far");
    let far_len: u64 = if max_link < 4095 { 81 << 20 } else { 9 << 20 };
    write_at(&far, 3000, &rng.bytes(5000), far_len);
    write_at(&far, far_len - (1 << 20), &rng.bytes(4096), far_len);
    // Fragmented: 1500 × (4 KiB data, 4 KiB hole) → 1500 extents, an extent tree of depth 2.
    let frag = d.join("fragmented");
    {
        let f = fs::File::create(&frag).unwrap();
        for i in 0..1500u64 {
            f.write_all_at(&rng.bytes(4096), i * 8192).unwrap();
        }
        f.set_len(1500 * 8192 + 1234).unwrap();
    }
    // Files that get unwritten extents after mke2fs (see `image`).
    let pre = d.join("prealloc");
    fs::create_dir(&pre).unwrap();
    fs::write(pre.join("stale"), vec![0xAB; 64 << 10]).unwrap();
    fs::write(pre.join("mixed"), vec![0xCD; 256 << 10]).unwrap();
    fs::write(pre.join("beyond_eof"), vec![0xEF; 100]).unwrap();
    // Names.
    let names = d.join("names");
    fs::create_dir(&names).unwrap();
    fs::write(names.join("a".repeat(255)), b"long ascii").unwrap();
    let mut utf8 = "é".repeat(127);
    utf8.push('x');
    fs::write(names.join(&utf8), b"long utf8").unwrap();
    for raw in [
        &b"caf\xe9"[..],
        b"\xff\xfe\xfd",
        b"bad-\x80-utf8",
        b"\xc3\x28",
        b"sp ace",
        b"new\nline",
    ] {
        fs::write(names.join(name_bytes(raw)), raw).unwrap();
    }
    // A directory of names with bytes >= 0x80, big enough to be indexed: the signed and
    // unsigned name hashes differ exactly on these.
    let high = d.join("many-high");
    fs::create_dir(&high).unwrap();
    let prefixes: [&[u8]; 5] = [
        b"\xc3\xa9t\xc3\xa9-",
        b"\xff\xfe-",
        b"\x80abc-",
        "日本語-".as_bytes(),
        b"z\xe9-",
    ];
    for i in 0..600 {
        let mut n = prefixes[i % prefixes.len()].to_vec();
        n.extend_from_slice(format!("{i:04}").as_bytes());
        n.extend(std::iter::repeat_n(0xE0u8 + (i % 16) as u8, i % 23));
        fs::write(high.join(name_bytes(&n)), &n).unwrap();
    }
    // A medium directory: htree-indexed on every block size.
    let many = d.join("many");
    fs::create_dir(&many).unwrap();
    for i in 0..3000 {
        let name = format!("file-{i:05}-{}", "x".repeat(i % 40));
        fs::write(many.join(name), format!("{i}\n")).unwrap();
    }
    // Symlinks of many lengths, fast (< 60 bytes) and slow.
    let links = d.join("links");
    fs::create_dir(&links).unwrap();
    for n in symlink_lengths(max_link) {
        let mut target = String::new();
        while target.len() < n {
            target.push_str(&format!("d{}/", target.len()));
        }
        target.truncate(n);
        symlink(&target, links.join(format!("len-{n:04}"))).unwrap();
    }
    symlink("../hello.txt", d.join("link-to-hello")).unwrap();
    // Deep nesting.
    let mut deep = d.join("deep");
    for i in 0..20 {
        deep = deep.join(format!("level{i}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("bottom"), b"bottom\n").unwrap();
    // Hard links, modes, a fifo.
    fs::write(d.join("hardlink-a"), b"shared\n").unwrap();
    fs::hard_link(d.join("hardlink-a"), d.join("hardlink-b")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::write(d.join("mode-600"), b"secret").unwrap();
    fs::set_permissions(d.join("mode-600"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(d.join("mode-4755"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(d.join("mode-4755"), fs::Permissions::from_mode(0o4755)).unwrap();
    run(Command::new("mkfifo").arg(d.join("fifo")));
    fs::create_dir(d.join("emptydir")).unwrap();
    // Inline-data sized directory and files.
    let small = d.join("smalldir");
    fs::create_dir(&small).unwrap();
    for i in 0..3 {
        fs::write(small.join(format!("s{i}")), format!("small {i}")).unwrap();
    }
}

/// 100 000 entries in one directory: hard links to 4 files (ext4 caps a file's links at 65000).
pub const BIGDIR_ENTRIES: usize = 100_000;

pub fn bigdir_name(i: usize) -> String {
    format!("entry-{i:06}")
}

/// Bytes of one `entry-NNNNNN` directory entry (8-byte header + 12-byte name).
const BIGDIR_REC: usize = 20;
const BIGDIR_BLOCK: usize = 4096;

fn bigdir_blocks() -> usize {
    // "." and ".." (12 bytes each) in block 0, a 12-byte checksum tail in every block.
    let per_block = (BIGDIR_BLOCK - 12) / BIGDIR_REC;
    (BIGDIR_ENTRIES + 2).div_ceil(per_block) + 1
}

/// mke2fs -d inserts directory entries one by one into a linear directory, which is
/// quadratic: 100 000 entries take minutes. Instead, `big` starts as a plain file of the right
/// size; `fill_bigdir` writes linear directory blocks into it, turns it into a directory, and
/// e2fsck -fyD then fixes link counts and checksums and rebuilds it as an htree.
fn build_bigdir(d: &Path) {
    for t in 0..4 {
        fs::write(d.join(format!("target{t}")), format!("target {t}\n")).unwrap();
    }
    fs::write(d.join("big"), vec![0x11u8; bigdir_blocks() * BIGDIR_BLOCK]).unwrap();
}

fn fill_bigdir(img: &Path) {
    let vol = Volume::mount(FileDevice::open(img)).expect("mount fresh bigdir image");
    let root = vol.root().unwrap();
    let big = vol.inode(vol.lookup(&root, b"big").unwrap().ino).unwrap();
    let targets: Vec<u32> = (0..4)
        .map(|t| {
            vol.lookup(&root, format!("target{t}").as_bytes())
                .unwrap()
                .ino
        })
        .collect();
    assert_eq!(vol.block_size() as usize, BIGDIR_BLOCK);
    // Entries: ".", "..", then the names, packed into blocks with a 12-byte tail.
    let mut names: Vec<(u32, Vec<u8>, u8)> =
        vec![(big.ino(), b".".to_vec(), 2), (2, b"..".to_vec(), 2)];
    names.extend((0..BIGDIR_ENTRIES).map(|i| (targets[i % 4], bigdir_name(i).into_bytes(), 1)));
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut last_start = 0usize;
    let limit = BIGDIR_BLOCK - 12;
    let finish = |cur: &mut Vec<u8>, last_start: usize, blocks: &mut Vec<Vec<u8>>| {
        let rec = (limit - last_start) as u16;
        cur[last_start + 4..last_start + 6].copy_from_slice(&rec.to_le_bytes());
        cur.resize(limit, 0);
        // Checksum tail (e2fsck recomputes the checksum itself).
        cur.extend_from_slice(&[0, 0, 0, 0, 12, 0, 0, 0xDE, 0, 0, 0, 0]);
        blocks.push(std::mem::take(cur));
    };
    for (ino, name, ty) in names {
        let rec = (8 + name.len()).div_ceil(4) * 4;
        if cur.len() + rec > limit {
            finish(&mut cur, last_start, &mut blocks);
        }
        last_start = cur.len();
        cur.extend_from_slice(&ino.to_le_bytes());
        cur.extend_from_slice(&(rec as u16).to_le_bytes());
        cur.push(name.len() as u8);
        cur.push(ty);
        cur.extend_from_slice(&name);
        cur.resize(last_start + rec, 0);
    }
    finish(&mut cur, last_start, &mut blocks);
    assert!(blocks.len() <= bigdir_blocks());
    let f = fs::OpenOptions::new().write(true).open(img).unwrap();
    for (lblk, b) in blocks.iter().enumerate() {
        let run = vol.map_block(&big, lblk as u64).unwrap();
        let phys = run.physical(lblk as u64).expect("big is fully allocated");
        f.write_all_at(b, phys * BIGDIR_BLOCK as u64).unwrap();
    }
    drop(f);
    let size = blocks.len() * BIGDIR_BLOCK;
    debugfs_write(
        img,
        &[
            "sif /big mode 040755",
            "sif /big links_count 2",
            &format!("sif /big size {size}"),
        ],
    );
    // The blocks past `size` are freed by e2fsck (it truncates to i_size)... and the
    // extra links of the targets are counted by e2fsck too.
}

/// How many files `lifecycle` holds under `files/`: `LIFECYCLE_DIRS` directories of
/// `LIFECYCLE_FILES_PER_DIR` empty files each.
pub const LIFECYCLE_DIRS: usize = 10;
pub const LIFECYCLE_FILES_PER_DIR: usize = 1000;

/// The path of file `i` of `files/`, Windows style.
pub fn lifecycle_file(i: usize) -> String {
    format!(
        "\\files\\d{:02}\\f{:04}",
        i / LIFECYCLE_FILES_PER_DIR,
        i % LIFECYCLE_FILES_PER_DIR
    )
}

fn build_lifecycle(d: &Path) {
    fs::write(d.join("hello.txt"), b"hello, world\n").unwrap();
    fs::write(d.join("Case.txt"), b"Case").unwrap();
    fs::write(d.join("case.txt"), b"case").unwrap();
    fs::write(d.join(name_bytes(b"a:b")), b"colon").unwrap();
    fs::write(d.join(name_bytes(b"caf\xe9")), b"latin-1").unwrap();
    let sub = d.join("dir").join("sub");
    fs::create_dir_all(&sub).unwrap();
    fs::write(sub.join("file.txt"), b"deep file\n").unwrap();
    symlink("dir/sub/file.txt", d.join("link-rel")).unwrap();
    symlink("/dir/sub", d.join("link-abs")).unwrap();
    symlink("dir", d.join("link-dir")).unwrap();
    for i in 0..LIFECYCLE_DIRS * LIFECYCLE_FILES_PER_DIR {
        let dir = d
            .join("files")
            .join(format!("d{:02}", i / LIFECYCLE_FILES_PER_DIR));
        if i % LIFECYCLE_FILES_PER_DIR == 0 {
            fs::create_dir_all(&dir).unwrap();
        }
        fs::write(
            dir.join(format!("f{:04}", i % LIFECYCLE_FILES_PER_DIR)),
            b"",
        )
        .unwrap();
    }
}

fn build_tiny(d: &Path) {
    let mut rng = Rng(0x5eed_0002);
    fs::write(d.join("hello.txt"), b"hello, world\n").unwrap();
    fs::write(d.join("data"), rng.bytes(20_000)).unwrap();
    write_at(&d.join("sparse"), 30_000, &rng.bytes(3000), 40_000);
    fs::create_dir(d.join("dir")).unwrap();
    for i in 0..40 {
        fs::write(d.join("dir").join(format!("f{i}")), format!("{i}")).unwrap();
    }
    symlink("hello.txt", d.join("fast-link")).unwrap();
    symlink("x".repeat(200), d.join("slow-link")).unwrap();
    // 100 × (1 KiB data, 1 KiB hole): 100 extents on 1 KiB blocks, two extent leaves.
    let f = fs::File::create(d.join("frag")).unwrap();
    for i in 0..100u64 {
        f.write_all_at(&rng.bytes(1024), i * 2048).unwrap();
    }
    f.set_len(100 * 2048).unwrap();
    // Files that get unwritten extents after mke2fs (see `image`).
    let pre = d.join("prealloc");
    fs::create_dir(&pre).unwrap();
    fs::write(pre.join("stale"), vec![0xAB; 16 << 10]).unwrap();
    fs::write(pre.join("mixed"), vec![0xCD; 64 << 10]).unwrap();
    fs::write(pre.join("beyond_eof"), vec![0xEF; 100]).unwrap();
}

impl FileDevice {
    /// Raw bytes of the image, bypassing the reader (for tests that look under it).
    pub fn read_at_raw(&self, offset: u64, buf: &mut [u8]) {
        self.file.read_exact_at(buf, offset).expect("raw read");
    }
}

/// Physical byte ranges of each `chunk`-sized read of a file without holes (setup for the
/// `pread` baselines of the benchmarks).
pub fn physical_chunks(
    vol: &Volume<FileDevice>,
    inode: &rustfsd::ext4::Inode,
    chunk: usize,
) -> Vec<Vec<(u64, usize)>> {
    let bs = u64::from(vol.block_size());
    let size = inode.size();
    let mut rdr = rustfsd::ext4::FileReader::new(inode.try_clone().unwrap());
    let mut out = Vec::new();
    let mut off = 0;
    while off < size {
        let end = (off + chunk as u64).min(size);
        let mut pieces: Vec<(u64, usize)> = Vec::new();
        let mut pos = off;
        while pos < end {
            let lblk = pos / bs;
            let run = rdr.map(vol, lblk).unwrap();
            let run_end = ((run.logical + run.len) * bs).min(end);
            let rustfsd::ext4::RunKind::Mapped(p) = run.kind else {
                panic!("bench file has holes")
            };
            let phys = (p + lblk - run.logical) * bs + pos % bs;
            let n = (run_end - pos) as usize;
            match pieces.last_mut() {
                Some(last) if last.0 + last.1 as u64 == phys => last.1 += n,
                _ => pieces.push((phys, n)),
            }
            pos = run_end;
        }
        out.push(pieces);
        off = end;
    }
    out
}

/// `DIR/cf.img`: an 8 MiB ext4 volume with casefolding (`-O casefold -E encoding=utf8`) whose
/// directory `/cf` is casefolded (`+F`) and holds `names` (each file `hi\n`), indexed by
/// e2fsck -fD with e2fsprogs' own casefolding.
pub fn casefold_image(dir: &Path, names: &[String]) -> PathBuf {
    let img = dir.join("cf.img");
    let ok = Command::new("mke2fs")
        .args(["-F", "-q", "-t", "ext4", "-b", "1024", "-O", "casefold"])
        .args(["-E", "encoding=utf8", "-U", UUID])
        .arg(&img)
        .arg("8M")
        .status()
        .unwrap();
    assert!(ok.success());
    let content = dir.join("hi.txt");
    fs::write(&content, b"hi\n").unwrap();
    // debugfs 1.47 fails writes into a directory just flagged +F ("short read") until
    // e2fsck has checked the volume once.
    debugfs_write(&img, &["mkdir /cf", "sif /cf flags 0x40000000"]);
    let fsck = |args: &str| {
        let out = Command::new("e2fsck").arg(args).arg(&img).output().unwrap();
        assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    };
    fsck("-fy");
    let mut reqs = vec!["cd /cf".to_string()];
    for n in names {
        reqs.push(format!("write {} {n}", content.display()));
    }
    let refs: Vec<&str> = reqs.iter().map(String::as_str).collect();
    debugfs_write(&img, &refs);
    fsck("-fyD");
    img
}
