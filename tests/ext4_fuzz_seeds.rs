//! Writes the fuzz seed corpus (the small generated images) to `fuzz/corpus/mount_walk/`, and
//! runs the fuzz target's body over each seed and over simple mutations of it, so the target
//! itself is exercised by every `cargo test` (cargo-fuzz needs nightly; this does not).

mod support;

#[path = "../fuzz/exercise.rs"]
mod exercise;

use std::fs;
use std::path::PathBuf;

#[test]
fn seeds_written_and_exercised() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/mount_walk");
    fs::create_dir_all(&dir).unwrap();
    for name in support::TINY_IMAGES {
        let img = fs::read(support::image(name)).unwrap();
        fs::write(dir.join(format!("seed-{name}.img")), &img).unwrap();
        exercise::exercise(&img);
        // A few deterministic corruptions per seed: every one must be survived.
        let mut rng = support::Rng(0xf00d ^ img.len() as u64);
        for _ in 0..40 {
            let mut m = img.clone();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(m.len() as u64) as usize;
                m[at] = rng.next() as u8;
            }
            exercise::exercise(&m);
        }
        // Truncations.
        for cut in [3000usize, img.len() / 3, img.len() - 512] {
            exercise::exercise(&img[..cut]);
        }
        // The inspect tool on corrupted copies: never a panic or a signal.
        for k in 0..6 {
            let mut m = img.clone();
            for _ in 0..4 + k * 4 {
                let at = rng.below(64 << 10) as usize;
                m[at] = rng.next() as u8;
            }
            let p = support::cache_dir()
                .join(format!("fuzzcopy-{name}-{k}-{}.img", std::process::id()));
            fs::write(&p, &m).unwrap();
            // 0: clean; 1: damaged objects, one `error PATH: reason` line each; 2: refused,
            // one line; the same through the driver (`filetest --walk`), neither hanging.
            support::walk::walk_damaged(&format!("{name} #{k}"), &p);
            let _ = fs::remove_file(&p);
        }
    }
}

/// A 3 MiB volume whose 1 MiB journal needs recovery: three committed transactions (one of
/// them revoking), written by debugfs, with or without csum v3.
fn journal_seed(csum: bool) -> Vec<u8> {
    let dir = support::cache_dir();
    let tag = if csum { "v3" } else { "nocsum" };
    let img = dir.join(format!("fuzz-journal-{tag}-{}.img", std::process::id()));
    let data = dir.join(format!("fuzz-journal-{tag}-{}.bin", std::process::id()));
    let ok = std::process::Command::new("mke2fs")
        .args([
            "-F", "-q", "-t", "ext4", "-b", "1024", "-N", "64", "-J", "size=1",
        ])
        .args([
            "-O",
            if csum {
                "metadata_csum"
            } else {
                "^metadata_csum"
            },
        ])
        .arg("-d")
        .arg(support::source_of("tiny-ext4"))
        .arg(&img)
        .arg("3M")
        .status()
        .unwrap();
    assert!(ok.success());
    fs::write(&data, support::Rng(3).bytes(3 * 1024)).unwrap();
    let d = data.display();
    support::debugfs_write(
        &img,
        &[
            if csum { "jo -c -v 3" } else { "jo" },
            &format!("jw -b 1500,1501,1502 {d}"),
            "jw -r 1500 /dev/null",
            &format!("jw -b 1600,1501 {d}"),
            "jc",
        ],
    );
    let bytes = fs::read(&img).unwrap();
    let _ = fs::remove_file(&img);
    let _ = fs::remove_file(&data);
    bytes
}

#[test]
fn journal_seeds_written_and_exercised() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/mount_walk");
    fs::create_dir_all(&dir).unwrap();
    for csum in [false, true] {
        let img = journal_seed(csum);
        let vol = rustfsd::ext4::Volume::mount(rustfsd::ext4::MemDevice(&img[..])).unwrap();
        let replay = *vol.replay().expect("the seed needs recovery");
        assert_eq!((replay.transactions, replay.replayed_blocks), (3, 3));
        // The log: the journal superblock and the blocks after it.
        let sb = vol.superblock();
        let journal = vol.inode(sb.journal_inum).unwrap();
        let start = vol.map_block(&journal, 0).unwrap().physical(0).unwrap() * 1024;
        drop(vol);
        fs::write(dir.join(format!("seed-journal-{csum}.img")), &img).unwrap();
        exercise::exercise(&img);
        let mut rng = support::Rng(0x70c0 ^ u64::from(csum));
        for _ in 0..300 {
            let mut m = img.clone();
            for _ in 0..1 + rng.below(4) {
                let at = (start + rng.below(16 * 1024)) as usize;
                m[at] = rng.next() as u8;
            }
            exercise::exercise(&m);
        }
    }
}
