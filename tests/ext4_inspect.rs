//! `rustfsd-inspect` end to end: `walk` must equal the same walk computed from a debugfs
//! `rdump` of the image, and the other commands must agree with debugfs.

mod support;

use std::process::Command;

fn inspect(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rustfsd-inspect"))
        .args(args)
        .output()
        .unwrap()
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
    let theirs = support::walk::debugfs_walk(&img);
    assert!(ours.lines().count() > 3000);
    support::walk::same_lines(name, "walk vs debugfs", &ours, &theirs);
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

#[test]
fn help_exits_zero_and_bad_usage_two() {
    let out = inspect(&["--help".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: rustfsd-inspect"));
    let out = inspect(&["walk".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
}
