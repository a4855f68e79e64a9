//! A 100 000-entry htree directory: lookups through the index, full enumeration, and
//! enumeration resumed from cursors, against debugfs and ext4-view.

mod support;

use std::collections::BTreeMap;

use rustfsd::ext4::{Error, inode_flags};

#[test]
fn bigdir_lookup_enumerate_resume() {
    let vol = support::mount("bigdir");
    let big = vol.resolve_path(b"/big").unwrap();
    assert!(
        big.flags() & inode_flags::INDEX != 0,
        "/big is not htree-indexed"
    );

    // Full enumeration.
    let mut all = Vec::new();
    let mut rd = vol.read_dir(&big, 0).unwrap();
    while let Some(e) = rd.next_entry().unwrap() {
        all.push((e.name.to_vec(), e.ino, e.offset, e.next));
    }
    assert_eq!(all.len(), support::BIGDIR_ENTRIES + 2);
    let by_name: BTreeMap<Vec<u8>, u32> = all.iter().map(|(n, i, _, _)| (n.clone(), *i)).collect();
    assert_eq!(by_name.len(), all.len(), "duplicate names in enumeration");

    // debugfs: the same names and inode numbers.
    let img = support::image("bigdir");
    let out = support::debugfs(&img, &["ls -p /big".to_string()]);
    let mut theirs = BTreeMap::new();
    for line in String::from_utf8_lossy(&out[0]).lines() {
        let f: Vec<&str> = line.split('/').collect();
        if f.len() == 8 && f[1] != "0" {
            theirs.insert(f[5].as_bytes().to_vec(), f[1].parse::<u32>().unwrap());
        }
    }
    assert_eq!(theirs, by_name, "listing differs from debugfs");

    // ext4-view: the same set of names.
    let view = support::ext4view("bigdir");
    let mut vnames: Vec<Vec<u8>> = view
        .read_dir("/big")
        .unwrap()
        .map(|e| e.unwrap().file_name().as_ref().to_vec())
        .collect();
    vnames.sort();
    assert_eq!(vnames, by_name.keys().cloned().collect::<Vec<_>>());

    // Lookups through the htree: a sample of present names, and absent ones.
    for i in (0..support::BIGDIR_ENTRIES)
        .step_by(97)
        .chain([0, support::BIGDIR_ENTRIES - 1])
    {
        let name = support::bigdir_name(i);
        let hit = vol
            .lookup(&big, name.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hit.ino, by_name[name.as_bytes()], "{name}");
        let (_, _, off, _) = all.iter().find(|(n, ..)| n == name.as_bytes()).unwrap();
        assert_eq!(hit.offset, *off, "{name} cursor");
    }
    for absent in ["entry-100000", "entry-", "nope", "entry-0000001"] {
        assert_eq!(
            vol.lookup(&big, absent.as_bytes()).err(),
            Some(Error::NotFound),
            "{absent}"
        );
    }

    // Resume from every 997th cursor: the rest of the listing must match exactly.
    for k in (0..all.len()).step_by(997) {
        let (_, _, off, _) = &all[k];
        let mut rd = vol.read_dir(&big, *off).unwrap();
        for want in all[k..].iter().take(50) {
            let e = rd.next_entry().unwrap().unwrap();
            assert_eq!(
                (e.name, e.ino, e.offset),
                (want.0.as_slice(), want.1, want.2)
            );
        }
    }
    // A cursor in the middle of an entry resumes at the next entry.
    let (_, _, off, next) = &all[500];
    let mut rd = vol.read_dir(&big, off + 4).unwrap();
    assert_eq!(rd.next_entry().unwrap().unwrap().offset, *next);
    // Chunked enumeration (as QUERY_DIRECTORY restarts would do) sees everything once.
    let mut cursor = 0;
    let mut count = 0;
    loop {
        let mut rd = vol.read_dir(&big, cursor).unwrap();
        let mut got = 0;
        while got < 1000 {
            match rd.next_entry().unwrap() {
                Some(e) => {
                    cursor = e.next;
                    got += 1;
                }
                None => break,
            }
        }
        count += got;
        if got < 1000 {
            break;
        }
    }
    assert_eq!(count, all.len());
    // Past the end.
    assert!(
        vol.read_dir(&big, u64::MAX)
            .unwrap()
            .next_entry()
            .unwrap()
            .is_none()
    );
}
