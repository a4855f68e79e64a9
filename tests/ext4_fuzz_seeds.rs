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
        // The inspect tool on corrupted copies: status 0 or 2, never a panic or a signal.
        for k in 0..6 {
            let mut m = img.clone();
            for _ in 0..4 + k * 4 {
                let at = rng.below(64 << 10) as usize;
                m[at] = rng.next() as u8;
            }
            let p = support::cache_dir()
                .join(format!("fuzzcopy-{name}-{k}-{}.img", std::process::id()));
            fs::write(&p, &m).unwrap();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_rustfsd-inspect"))
                .arg("walk")
                .arg(&p)
                .output()
                .unwrap();
            let _ = fs::remove_file(&p);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(out.status.code(), Some(0 | 2)),
                "{name} #{k}: {:?} {err}",
                out.status
            );
            assert!(err.lines().count() <= 1, "{name} #{k}: {err}");
        }
    }
}
