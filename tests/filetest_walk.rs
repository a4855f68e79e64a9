//! `filetest --image IMG --walk`: the whole tree of every generated image through rustfsd's
//! dispatch (NT model, verifier on, unloaded at the end) equals `rustfsd-inspect walk` (the
//! ext4 reader alone) and the listing debugfs gives (`rdump` plus `ls -p`), byte for byte.
//!
//! The walk loads rustfsd with LxSymlinks = 1, so symlink targets come back as their exact
//! bytes (WSL's IO_REPARSE_TAG_LX_SYMLINK data), not in the NT form that loses repeated and
//! trailing `/` (docs/names.md). The corrupt images are walked in tests/ext4_corrupt.rs and
//! tests/ext4_fuzz_seeds.rs (`support::walk`).

mod support;

use std::path::Path;

use support::walk::{debugfs_walk, filetest_walk, inspect_walk, same_lines};

/// The three listings of `img` agree; returns how many link lines differ between the driver
/// and inspect (targets with a trailing or doubled `/`).
fn walks_agree(name: &str, img: &Path) -> usize {
    let ours = filetest_walk(img);
    assert_eq!(
        ours.code,
        Some(0),
        "{name}: filetest --walk: {}",
        ours.stderr
    );
    assert!(ours.stderr.is_empty(), "{name}: {}", ours.stderr);
    let inspect = inspect_walk(img);
    assert_eq!(inspect.code, Some(0), "{name}: inspect: {}", inspect.stderr);
    let debugfs = debugfs_walk(img);
    same_lines(name, "inspect vs debugfs", &inspect.stdout, &debugfs);
    same_lines(name, "filetest vs debugfs", &ours.stdout, &debugfs);
    let mut links = 0;
    for (a, b) in ours.stdout.lines().zip(inspect.stdout.lines()) {
        if a != b {
            // Only a link's length and hash may differ, never its path or another type.
            assert!(
                a.starts_with("l ") && b.starts_with("l "),
                "{name}: {a} vs {b}"
            );
            assert_eq!(a.split(' ').nth(3), b.split(' ').nth(3), "{name}");
            links += 1;
        }
    }
    println!(
        "{name}: {} lines, {links} of them link lines that differ from inspect's (NT form)",
        ours.stdout.lines().count()
    );
    links
}

macro_rules! generated_images {
    ($($test:ident: $image:literal, $min_lines:literal, $links:expr;)*) => {$(
        #[test]
        fn $test() {
            let img = support::image($image);
            let links = walks_agree($image, &img);
            let lines = inspect_walk(&img).stdout.lines().count();
            assert!(lines >= $min_lines, "{}: only {lines} lines", $image);
            let expected: fn(usize) -> bool = $links;
            assert!(expected(links), "{}: {links} link lines differ", $image);
        }
    )*};
}

fn none(links: usize) -> bool {
    links == 0
}

generated_images! {
    walk_ext4: "ext4", 7000, none;
    walk_ext2: "ext2", 3000, none;
    walk_ext3: "ext3", 7000, none;
    walk_ext4_no64bit: "ext4-no64bit", 7000, none;
    walk_ext4_1k: "ext4-1k", 3000, none;
    walk_ext4_bigalloc: "ext4-bigalloc", 7000, none;
    walk_ext4_bigalloc_1k: "ext4-bigalloc-1k", 3000, none;
    walk_ext4_nocsum: "ext4-nocsum", 7000, none;
    walk_ext4_inline: "ext4-inline", 7000, none;
    walk_ext4_tea: "ext4-tea", 7000, none;
    walk_ext4_legacy: "ext4-legacy", 3000, none;
    walk_ext4_metabg: "ext4-metabg", 3000, none;
    walk_ext4_unsigned: "ext4-unsigned", 7000, none;
    walk_tiny_ext2: "tiny-ext2", 10, none;
    walk_tiny_ext4: "tiny-ext4", 10, none;
    walk_tiny_ext4_nocsum: "tiny-ext4-nocsum", 10, none;
    walk_tiny_inline: "tiny-inline", 10, none;
    walk_tiny_ext4_32bit: "tiny-ext4-32bit", 10, none;
    walk_lifecycle: "lifecycle", 10000, none;
    walk_bigdir: "bigdir", 100_000, none;
}

#[test]
fn walk_casefold() {
    let dir = support::cache_dir().join(format!("walk-casefold-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let names: Vec<String> = (0..150)
        .map(|i| format!("File-{i}.TXT"))
        .chain(["straße", "Ünïcödé", "\u{212A}elvin", "soft\u{AD}hyphen"].map(String::from))
        .collect();
    let img = support::casefold_image(&dir, &names);
    assert_eq!(walks_agree("casefold", &img), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Not an ext4 volume: nothing mounts it, exit 2 with one line.
#[test]
fn walk_of_a_volume_that_does_not_mount() {
    let img = support::cache_dir().join(format!("walk-zeros-{}.img", std::process::id()));
    std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    let ours = filetest_walk(&img);
    let _ = std::fs::remove_file(&img);
    assert_eq!(ours.code, Some(2), "{}", ours.stderr);
    assert!(ours.stdout.is_empty());
    assert_eq!(ours.stderr.lines().count(), 1, "{}", ours.stderr);
    assert!(
        ours.stderr.contains("does not mount: UNRECOGNIZED_VOLUME"),
        "{}",
        ours.stderr
    );
}

#[test]
fn walk_usage() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_filetest"))
            .args(args)
            .output()
            .unwrap()
    };
    let img = support::image("tiny-ext4");
    let img = img.to_str().unwrap();
    for args in [
        &["--walk"][..],
        &["--image", img, "--walk", "script.fts"],
        &["--image", img, "--image", img, "--walk"],
        &["--image", img, "--stats", "script.fts"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let out = run(&["--image", img, "--walk", "--stats"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("filetest: walked "), "{err}");
    assert!(err.contains(" IRPs ("), "{err}");
}

/// A directory hard-linked into itself (`debugfs link`): both walks report the second way in
/// at the same path, with the same reason, and list everything else.
#[test]
fn walk_through_a_directory_cycle() {
    let img = support::cache_dir().join(format!("walk-cycle-{}.img", std::process::id()));
    std::fs::copy(support::image("tiny-ext4"), &img).unwrap();
    support::debugfs_write(&img, &["link /dir /dir/loop", "link /dir /again"]);
    let (inspect, ours) = support::walk::walk_damaged("cycle", &img);
    let _ = std::fs::remove_file(&img);
    assert_eq!(ours.code, Some(1), "{}", ours.stderr);
    // The walk pops `/again` or `/dir` first in directory order; both tools agree on which.
    assert_eq!(ours.error_paths(), inspect.error_paths());
    assert_eq!(ours.error_paths().len(), 2, "{}", ours.stderr);
    for line in ours.stderr.lines() {
        assert!(
            line.contains(": directory cycle or hard-linked directory (inode "),
            "{line}"
        );
    }
    assert_eq!(ours.stdout, inspect.stdout);
}
