//! filetest.exe (the windows-gnu build of the scenario runner, on the real NT API) under Wine,
//! against a plain directory, compared with the model's run of the same script on an ext4
//! image `mke2fs -d` made from that directory (docs/scenarios.md, "filetest.exe").
//!
//! `cargo xtask test` runs it (stage "filetest.exe under Wine"): it builds filetest.exe, sets
//! up a Wine prefix under target/wine and passes RUSTFSD_WINE (the wine64 loader) and
//! RUSTFSD_FILETEST_EXE, with WINEPREFIX/WINEDEBUG in the environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPT: &str = "tests/scenarios/filetest_portable.fts";

/// One step line of a report: `ok   line  12 query-dir      SUCCESS info=168 sha256=...`.
#[derive(Debug, Default)]
struct StepLine {
    verdict: String,
    verb: String,
    status: String,
    info: Option<String>,
    sha256: Option<String>,
    names: Option<BTreeSet<String>>,
}

/// The report's step lines by script line number; the `names:` line joins its step.
fn steps(report: &str) -> BTreeMap<usize, StepLine> {
    let mut steps = BTreeMap::new();
    let mut last = None;
    for text in report.lines() {
        if let Some(names) = text.trim_start().strip_prefix("names:") {
            let step: &mut StepLine = steps.get_mut(&last.unwrap()).unwrap();
            step.names = Some(names.split_whitespace().map(String::from).collect());
            continue;
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.len() < 4 || words[1] != "line" {
            continue;
        }
        let line: usize = words[2].parse().unwrap();
        let mut step = StepLine {
            verdict: words[0].to_string(),
            verb: words[3].to_string(),
            status: words.get(4).unwrap_or(&"").to_string(),
            ..StepLine::default()
        };
        for word in &words[4..] {
            if let Some(info) = word.strip_prefix("info=") {
                step.info = Some(info.to_string());
            }
            if let Some(digest) = word.strip_prefix("sha256=") {
                step.sha256 = Some(digest.to_string());
            }
        }
        steps.insert(line, step);
        last = Some(line);
    }
    steps
}

/// The tree both runs see: names with blanks and `#`, a subdirectory, a 70,000-byte file
/// (more than one read), and an empty lost+found (mke2fs makes one; the directory needs it too).
fn make_tree(root: &Path) {
    let _ = std::fs::remove_dir_all(root);
    for dir in ["dir/sub", "lost+found"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("hello.txt"), "hello, world\n").unwrap();
    std::fs::write(root.join("with space.bin"), "x").unwrap();
    std::fs::write(root.join("hash #1.txt"), "hash1\n").unwrap();
    std::fs::write(root.join("dir/a.txt"), "").unwrap();
    std::fs::write(root.join("dir/sub/deep.txt"), "deep\n").unwrap();
    let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(root.join("dir/big.bin"), big).unwrap();
}

/// `Z:\...`: how Wine's Z: drive names a host path.
fn wine_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?}: {}\n{text}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

/// The tree, its ext4 image, and the model's report of the script on that image.
struct ModelRun {
    tree: PathBuf,
    script: PathBuf,
    report: String,
}

fn model_run(name: &str) -> ModelRun {
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let tree = scratch.join("tree");
    make_tree(&tree);
    let image = scratch.join("tree.img");
    let _ = std::fs::remove_file(&image);
    run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-O", "^has_journal", "-d"])
        .arg(&tree)
        .arg(&image)
        .arg("4M"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCRIPT);
    let report = run(Command::new(env!("CARGO_BIN_EXE_filetest"))
        .arg("--image")
        .arg(&image)
        .arg(&script));
    assert!(report.contains(": PASS"), "{report}");
    ModelRun {
        tree,
        script,
        report,
    }
}

#[test]
fn the_portable_script_passes_in_the_model() {
    let run = model_run("filetest-portable-model");
    assert!(
        run.report.contains("verifier: no findings"),
        "{}",
        run.report
    );
}

/// The steps of the portable script Wine skips: load, trim, run-worker, unload and
/// expect-findings.
const MODEL_ONLY_STEPS: usize = 5;

#[test]
#[ignore = "needs filetest.exe and Wine: `cargo xtask test` runs it"]
fn filetest_exe_under_wine_agrees_with_the_model() {
    let ModelRun {
        tree,
        script,
        report: model_report,
    } = model_run("filetest-wine");
    let wine = std::env::var_os("RUSTFSD_WINE").expect("RUSTFSD_WINE (see cargo xtask test)");
    let exe = std::env::var_os("RUSTFSD_FILETEST_EXE").expect("RUSTFSD_FILETEST_EXE");
    let wine_report = run(Command::new(&wine)
        .arg(&exe)
        .arg("--root")
        .arg(wine_path(&tree))
        .arg(wine_path(&script)));
    assert!(wine_report.contains(": PASS"), "{wine_report}");
    assert!(
        wine_report.contains(&format!("model only: {MODEL_ONLY_STEPS} step(s) skipped")),
        "{wine_report}"
    );

    let script_text = std::fs::read_to_string(&script).unwrap();
    let handle_of = |line: usize| {
        let words: Vec<&str> = script_text
            .lines()
            .nth(line - 1)
            .unwrap()
            .split_whitespace()
            .collect();
        words.get(1).map(|w| w.to_string()).unwrap_or_default()
    };
    let model = steps(&model_report);
    let wine = steps(&wine_report);
    assert_eq!(
        model.keys().collect::<Vec<_>>(),
        wine.keys().collect::<Vec<_>>(),
        "both reports cover the same steps\n{model_report}\n{wine_report}"
    );
    let mut compared = 0;
    for (line, ours) in &model {
        let theirs = &wine[line];
        let context = format!("line {line}\nmodel: {ours:?}\nwine:  {theirs:?}");
        assert_eq!(ours.verb, theirs.verb, "{context}");
        if theirs.verdict == "skip" {
            assert!(
                ["load", "unload", "trim", "run-worker", "expect-findings"]
                    .contains(&ours.verb.as_str()),
                "{context}"
            );
            continue;
        }
        assert_eq!(theirs.verdict, "ok", "{context}");
        compared += 1;
        match ours.verb.as_str() {
            // A volume in the model, a directory under Wine: each refuses or does it its way.
            "dismount" => {}
            "query-dir" => {
                assert_eq!(ours.status, theirs.status, "{context}");
                let mut expected = ours.names.clone();
                // A volume's root lists no "." and ".." (rustfsd, like FastFAT and NTFS); the
                // --root directory is a subdirectory of Wine's Z: drive and lists both.
                if handle_of(*line) == "root"
                    && let Some(names) = &mut expected
                {
                    names.extend([".".to_string(), "..".to_string()]);
                }
                assert_eq!(expected, theirs.names, "{context}");
            }
            // A page of a view is compared by its hash as a read is.
            "read" | "touch" => {
                assert_eq!(
                    (&ours.status, &ours.info, &ours.sha256),
                    (&theirs.status, &theirs.info, &theirs.sha256),
                    "{context}"
                );
            }
            _ => assert_eq!(
                (&ours.status, &ours.info),
                (&theirs.status, &theirs.info),
                "{context}"
            ),
        }
    }
    assert_eq!(compared, model.len() - MODEL_ONLY_STEPS, "{wine_report}");
}
