//! casefold volumes (`mke2fs -O casefold -E encoding=utf8`, as on the Steam Deck): they mount,
//! and a casefolded (`+F`) htree directory finds names in any case and in either normalization
//! form, hashing the folded name as Linux does (full Unicode case folding and canonical
//! decomposition). Oracles: e2fsck -fD (which indexes the directory with e2fsprogs' own
//! casefolding), the hashes `debugfs htree` prints, and debugfs's walk.

mod support;

use std::fs;
use std::process::Command;

use rustfsd::ext4::{Error, Volume, casefold, hash, inode_flags};
use support::FileDevice;

/// Names beyond ASCII, each with another spelling Linux folds to the same name: full case
/// folding (ß → ss), decomposed vs precomposed letters, marks in another order, Greek final
/// sigma, Hangul syllables vs jamo, the Kelvin sign, an ignorable soft hyphen.
const NON_ASCII: &[(&str, &str)] = &[
    ("straße", "STRASSE"),
    ("Ünïcödé", "u\u{308}NI\u{308}CO\u{308}DE\u{301}"),
    ("Ångström", "A\u{30A}NGSTRO\u{308}M"),
    ("ΣΊΣΥΦΟΣ", "σίσυφος"),
    (
        "한국어",
        "\u{1112}\u{1161}\u{11AB}\u{1100}\u{116E}\u{11A8}\u{110B}\u{1165}",
    ),
    ("\u{212A}elvin", "kelvin"),
    ("Ǆemal", "ǆEMAL"),
    ("ạ\u{301}", "A\u{301}\u{323}"),
    ("soft\u{AD}hyphen", "SOFTHYPHEN"),
];

#[test]
fn casefolded_htree_directory() {
    let dir = support::cache_dir().join(format!("casefold-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let names: Vec<String> = (0..150)
        .map(|i| format!("File-{i}.TXT"))
        .chain(NON_ASCII.iter().map(|(name, _)| name.to_string()))
        .collect();
    let img = support::casefold_image(&dir, &names);

    let vol = Volume::mount(FileDevice::open(&img)).unwrap();
    let cf = vol.resolve_path(b"/cf").unwrap();
    assert!(cf.flags() & inode_flags::CASEFOLD != 0);
    assert!(
        cf.flags() & inode_flags::INDEX != 0,
        "e2fsck -D indexed /cf"
    );

    // Our hash of each folded ASCII name = the one debugfs prints for the entry.
    let dump = support::debugfs(&img, &["htree /cf".to_string()]).remove(0);
    let dump = String::from_utf8(dump).unwrap();
    let sb = vol.superblock();
    let mut checked = 0;
    // debugfs pads entries to columns and wraps lines by width, so one line may hold
    // several "INODE 0xMAJOR-MINOR (RECLEN) NAME" entries: read them as a token stream.
    let tokens: Vec<&str> = dump.split_whitespace().collect();
    for entry in tokens.windows(3) {
        let [hashes, rec_len, name] = entry else {
            continue;
        };
        if !(rec_len.starts_with('(') && rec_len.ends_with(')')) {
            continue;
        }
        let Some(major) = hashes.strip_prefix("0x").and_then(|h| h.split_once('-')) else {
            continue;
        };
        let major = major.0;
        if !names.iter().any(|n| n == name) {
            continue;
        }
        let theirs = u32::from_str_radix(major, 16).unwrap();
        let folded = casefold::fold(name.as_bytes()).unwrap().unwrap();
        let ours = hash::name_hash(&folded, sb.def_hash_version, &sb.hash_seed).unwrap();
        assert_eq!(ours & !1, theirs, "{name}");
        checked += 1;
    }
    assert_eq!(checked, names.len(), "{dump}");

    // Lookups in any case; non-ASCII names by their exact bytes.
    for i in [0, 7, 149] {
        let want = vol
            .lookup(&cf, format!("File-{i}.TXT").as_bytes())
            .unwrap()
            .ino;
        for variant in [
            format!("file-{i}.txt"),
            format!("FILE-{i}.TXT"),
            format!("fIlE-{i}.tXt"),
        ] {
            assert_eq!(
                vol.lookup(&cf, variant.as_bytes()).unwrap().ino,
                want,
                "{variant}"
            );
        }
    }
    assert!(matches!(
        vol.lookup(&cf, b"file-150.txt"),
        Err(Error::NotFound)
    ));
    // Non-ASCII names in another case or normalization form find the same entry.
    for (name, variant) in NON_ASCII {
        let want = vol.lookup(&cf, name.as_bytes()).unwrap().ino;
        assert_eq!(
            vol.lookup(&cf, variant.as_bytes()).unwrap().ino,
            want,
            "{variant} for {name}"
        );
        let upper = name.to_uppercase();
        assert_eq!(
            vol.lookup(&cf, upper.as_bytes()).unwrap().ino,
            want,
            "{upper}"
        );
    }
    assert!(matches!(
        vol.lookup(&cf, "strasse-".as_bytes()),
        Err(Error::NotFound)
    ));
    // The root is not casefolded: exact names only.
    assert!(matches!(
        vol.lookup(&vol.root().unwrap(), b"CF"),
        Err(Error::NotFound)
    ));

    let walk = Command::new(env!("CARGO_BIN_EXE_rustfsd-inspect"))
        .arg("walk")
        .arg(&img)
        .output()
        .unwrap();
    assert!(walk.status.success());
    assert_eq!(
        String::from_utf8(walk.stdout).unwrap(),
        support::walk::debugfs_walk(&img)
    );
    let _ = fs::remove_dir_all(&dir);
}
