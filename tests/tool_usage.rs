//! The command-line tools as a user meets them: `--help`, usage and script errors (exit 2,
//! naming the line), and output into a pipe that its reader closes early.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const FILETEST: &str = env!("CARGO_BIN_EXE_filetest");
const INSPECT: &str = env!("CARGO_BIN_EXE_rustfsd-inspect");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rustfsd-usage-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn script(dir: &Path, body: &str) -> String {
    let path = dir.join("script.fts");
    std::fs::write(&path, body).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn help_prints_usage_and_exits_0() {
    for (program, mentions) in [(FILETEST, "--trace"), (INSPECT, "to-vhd IMG OUT.vhd")] {
        for flag in ["--help", "-h"] {
            let output = run(program, &[flag]);
            assert_eq!(
                output.status.code(),
                Some(0),
                "{program} {flag}: {output:?}"
            );
            let help = text(&output.stdout);
            assert!(help.starts_with("usage: "), "{output:?}");
            assert!(
                help.contains(mentions) && help.contains("Exit status"),
                "{help}"
            );
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    for (program, args) in [
        (FILETEST, &["--bogus", "x.fts"][..]),
        (FILETEST, &[][..]),
        (FILETEST, &["--seed"][..]),
        (FILETEST, &["--seed", "x", "y.fts"][..]),
        (INSPECT, &[][..]),
        (INSPECT, &["frobnicate", "x.img"][..]),
    ] {
        let output = run(program, args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{program} {args:?}: {output:?}"
        );
        assert!(text(&output.stderr).contains("usage: "), "{output:?}");
        assert!(output.stdout.is_empty(), "{output:?}");
    }
}

#[test]
fn real_volume_options_are_for_filetest_exe_only() {
    for option in ["--drive", "--volume", "--root"] {
        let output = run(FILETEST, &[option, "E:", "x.fts"]);
        assert_eq!(output.status.code(), Some(2), "{option}: {output:?}");
        let error = text(&output.stderr);
        assert!(
            error.contains(&format!("{option} is for filetest.exe on Windows")),
            "{error}"
        );
    }
}

#[test]
fn unknown_verbs_and_malformed_lines_exit_2_naming_the_line() {
    let dir = scratch("malformed");
    for (body, message) in [
        (
            "load rustfsd\n\nfrobnicate x\n",
            "line 3: unknown verb frobnicate",
        ),
        (
            "# c\nopen a \"\\Device\\Disk0\n",
            "line 2: unterminated quote",
        ),
        ("open a x{U+D800}\n", "line 1: bad escape"),
        ("load rustfsd => SUCCES\n", "line 1: unknown status SUCCES"),
        ("load rustfsd =>\n", "line 1: nothing after `=>`"),
    ] {
        let output = run(FILETEST, &[&script(&dir, body)]);
        assert_eq!(output.status.code(), Some(2), "{body}: {output:?}");
        assert!(text(&output.stderr).contains(message), "{body}: {output:?}");
    }
}

/// Runs `command`, reads one line of its output, closes the pipe, and waits for it.
fn read_one_line_then_close(command: &mut Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = Vec::new();
    reader.read_until(b'\n', &mut first).unwrap();
    assert!(!first.is_empty());
    drop(reader);
    child.wait_with_output().unwrap()
}

#[test]
fn filetest_into_a_closed_pipe_ends_quietly_with_the_verdict() {
    // Far more output than a pipe buffers (64 KiB), so writes continue after the close.
    let dir = scratch("pipe");
    let body = "run-worker => SUCCESS\n".repeat(5000);
    let output = read_one_line_then_close(Command::new(FILETEST).arg(script(&dir, &body)));
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn inspect_into_a_closed_pipe_ends_quietly() {
    let image = support::image("ext4");
    let output = read_one_line_then_close(
        Command::new(INSPECT)
            .arg("cat")
            .arg(&image)
            .arg("/random-1m"),
    );
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(output.status.code(), Some(2));
}
