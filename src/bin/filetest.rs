//! filetest: runs scenario scripts against rustfsd inside the NT model, with the verifier on;
//! built for Windows (`filetest.exe`, x86_64-pc-windows-gnu), also through the real NT API.
//!
//! Usage: filetest [--image IMG]... [--seed N] [--trace] SCRIPT...
//!        filetest --image IMG --walk [--stats]
//!        filetest.exe (--drive E: | --volume \\?\Volume{...} | --root DIR)... SCRIPT...
//! Each `--image` becomes a disk: the first is `\Device\Disk0`, the next `\Device\Disk1`, ...
//! Every script runs in a fresh machine. Exit status 0 only if every step's expectation held
//! and the verifier found nothing. With `--seed`, steps on different `@tN` threads interleave
//! under that seed (printed on failure, so the run can be replayed). `--trace` prints the model's
//! trace: every IRP sent and completed, on which thread, the filter observer, the findings.
//! On Windows, `--drive`/`--volume`/`--root` map the disks onto a real volume or a directory
//! and the steps go to ntdll (`filetest/nt.rs`); the report has the same format.
//! `--walk` lists the whole tree of the image through rustfsd's dispatch (model only;
//! `harness::walk`), in `rustfsd-inspect walk`'s format: exit 0 walked, 1 damaged paths or
//! verifier findings (on stderr), 2 the volume does not mount.

#[cfg(not(all(target_os = "windows", target_env = "msvc")))]
fn main() -> std::process::ExitCode {
    host::main()
}

#[cfg(all(target_os = "windows", target_env = "msvc"))]
fn main() {}

#[cfg(not(all(target_os = "windows", target_env = "msvc")))]
#[path = "filetest/disk_map.rs"]
mod disk_map;
#[cfg(all(target_os = "windows", target_env = "gnu"))]
#[path = "filetest/nt.rs"]
mod nt;

#[cfg(not(all(target_os = "windows", target_env = "msvc")))]
mod host {
    use std::io::{self, Write};
    use std::process::ExitCode;

    use rustfsd::kernel::model::harness::scenario::{self, Runner};
    use rustfsd::kernel::model::harness::{
        DiskModel, DriverDescriptor, Session, scheduler, testfs, walk,
    };

    const USAGE: &str = "usage: filetest [--image IMG]... [--seed N] [--trace] SCRIPT...
       filetest --image IMG --walk [--stats]
       filetest.exe (--drive E: | --volume \\\\?\\Volume{GUID} | --root DIR)... SCRIPT...

Runs FileTest-style scenario scripts against rustfsd inside the NT model, verifier on.
  --image IMG   a disk: the first is \\Device\\Disk0, the next \\Device\\Disk1, ...
  --seed N      interleave the @tN threads under seed N
  --trace       print the model's trace (IRPs, threads, filter observer, findings)
  --walk        instead of scripts: every path of the one image, through the driver, as
                `rustfsd-inspect walk` prints it (TYPE SIZE SHA256 PATH, sorted); damaged
                paths as `error PATH: STATUS` on stderr; then dismount and unload, a verifier
                finding or leak is an error. Exit 0 walked, 1 damage or findings, 2 the
                volume does not mount. Model only.
  --stats       with --walk: entries, IRPs and time on stderr
filetest.exe (Windows) runs them through the real NT API (ntdll) instead:
  --drive E:    a disk is that drive's volume (\\Device\\Disk0 is \\??\\E:)
  --volume V    a disk is that volume (\\\\?\\Volume{GUID}, as mountvol lists it)
  --root DIR    a disk is that directory (no driver: load/unload are skipped)
  Verbs only the model can do are reported as `skip ... model only` and counted.
  -h, --help    this text
Exit status: 0 every expectation held and no verifier findings; 1 otherwise; 2 usage or
script errors (with the line number). The format is docs/scenarios.md.";

    struct Options {
        images: Vec<String>,
        scripts: Vec<String>,
        seed: Option<u64>,
        trace: bool,
        walk: bool,
        stats: bool,
        /// `--drive`/`--volume`/`--root`: the NT path prefixes of the disks on a real system.
        real_disks: Vec<String>,
        /// Some disk is a `--root` directory: no driver behind it.
        driverless: bool,
    }

    enum Command {
        Run(Options),
        Walk(Options),
        Help,
        /// `--child` (filetest.exe's own child processes): wait until stdin closes.
        Child,
    }

    /// `--drive`, `--volume` or `--root`: only filetest.exe runs scripts on a real system.
    fn real_disk(option: &str, value: &str) -> Result<String, String> {
        if !cfg!(target_os = "windows") {
            return Err(format!(
                "{option} is for filetest.exe on Windows (cargo xtask filetest-exe)"
            ));
        }
        match option {
            "--drive" => super::disk_map::drive(value),
            "--volume" => super::disk_map::volume(value),
            _ => {
                let absolute = std::path::absolute(value)
                    .map_err(|error| format!("--root {value}: {error}"))?;
                Ok(super::disk_map::directory(&absolute.to_string_lossy()))
            }
        }
    }

    fn parse_args() -> Result<Command, String> {
        let mut options = Options {
            images: Vec::new(),
            scripts: Vec::new(),
            seed: None,
            trace: false,
            walk: false,
            stats: false,
            real_disks: Vec::new(),
            driverless: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--image" => options
                    .images
                    .push(args.next().ok_or("--image needs a file")?),
                "--seed" => {
                    let seed = args.next().ok_or("--seed needs a number")?;
                    options.seed = Some(seed.parse().map_err(|_| format!("bad seed {seed}"))?);
                }
                "--trace" => options.trace = true,
                "--walk" => options.walk = true,
                "--stats" => options.stats = true,
                "--drive" | "--volume" | "--root" => {
                    let value = args.next().ok_or(format!("{arg} needs a value"))?;
                    options.real_disks.push(real_disk(&arg, &value)?);
                    options.driverless |= arg == "--root";
                }
                "--child" => return Ok(Command::Child),
                "-h" | "--help" => return Ok(Command::Help),
                option if option.starts_with('-') => {
                    return Err(format!("unknown option {option}"));
                }
                _ => options.scripts.push(arg),
            }
        }
        if options.walk {
            if !options.real_disks.is_empty() {
                return Err(String::from(
                    "--walk is model only: it needs --image (a real volume cannot be walked yet)",
                ));
            }
            if options.images.len() != 1 || !options.scripts.is_empty() {
                return Err(String::from("--walk takes one --image and no script"));
            }
            return Ok(Command::Walk(options));
        }
        if options.stats {
            return Err(String::from("--stats goes with --walk"));
        }
        if options.scripts.is_empty() {
            return Err(String::from("no script"));
        }
        if !options.real_disks.is_empty()
            && (!options.images.is_empty() || options.seed.is_some() || options.trace)
        {
            return Err(String::from(
                "--image, --seed and --trace are the model's; --drive/--volume/--root the real system's",
            ));
        }
        Ok(Command::Run(options))
    }

    /// Standard output that a closed pipe (`filetest ... | head`) silences instead of
    /// panicking: the scripts still run and the exit status is still their verdict.
    struct Output {
        out: io::Stdout,
        failed: Option<io::Error>,
    }

    impl Output {
        fn line(&mut self, text: &str) {
            if self.failed.is_none()
                && let Err(error) = writeln!(self.out, "{text}")
            {
                self.failed = Some(error);
            }
        }

        /// A write error other than a closed pipe.
        fn error(&self) -> Option<&io::Error> {
            self.failed
                .as_ref()
                .filter(|e| e.kind() != io::ErrorKind::BrokenPipe)
        }
    }

    /// Runs a script through the real NT API (filetest.exe).
    #[cfg(all(target_os = "windows", target_env = "gnu"))]
    fn run_real(options: &Options, steps: &[scenario::Step], out: &mut Output) -> bool {
        let mut runner = super::nt::NtRunner::new(options.real_disks.clone(), options.driverless);
        runner.run_all(steps, &mut |line| out.line(line))
    }

    /// Never reached: `parse_args` refuses the real-system options off Windows.
    #[cfg(not(target_os = "windows"))]
    fn run_real(_: &Options, _: &[scenario::Step], _: &mut Output) -> bool {
        false
    }

    /// `--walk`: the image's tree through the driver.
    fn walk_image(options: &Options) -> ExitCode {
        let Some(image) = options.images.first() else {
            return fail("--walk needs --image");
        };
        let disk = match DiskModel::open(image) {
            Ok(disk) => disk,
            Err(error) => return fail(&format!("{image}: {error}")),
        };
        let started = std::time::Instant::now();
        let outcome = walk::walk(disk);
        let elapsed = started.elapsed();
        let mut err = io::stderr().lock();
        if let Some(status) = outcome.unmounted {
            let _ = writeln!(
                err,
                "filetest: {image}: the volume does not mount: {}",
                scenario::status_name(status)
            );
        }
        let mut out = io::BufWriter::new(io::stdout().lock());
        let printed = outcome
            .listing
            .print(&mut out, &mut err)
            .and_then(|damaged| out.flush().map(|()| damaged));
        for error in &outcome.machine_errors {
            let _ = writeln!(err, "filetest: {error}");
        }
        if options.stats {
            let _ = writeln!(
                err,
                "filetest: walked {} entries in {:.1} ms, {} IRPs ({:.2} per entry, {} of them paging reads)",
                outcome.entries,
                elapsed.as_secs_f64() * 1000.0,
                outcome.irps,
                outcome.irps as f64 / outcome.entries.max(1) as f64,
                outcome.paging_reads
            );
        }
        let damaged = match printed {
            Ok(damaged) => damaged,
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => 0,
            Err(error) => return fail(&format!("write error: {error}")),
        };
        if outcome.unmounted.is_some() {
            ExitCode::from(2)
        } else if damaged > 0 || !outcome.machine_errors.is_empty() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }

    fn fail(message: &str) -> ExitCode {
        let _ = writeln!(io::stderr(), "filetest: {message}");
        ExitCode::from(2)
    }

    pub fn main() -> ExitCode {
        let options = match parse_args() {
            Ok(Command::Run(options)) => options,
            Ok(Command::Walk(options)) => return walk_image(&options),
            Ok(Command::Help) => {
                let _ = writeln!(io::stdout(), "{USAGE}");
                return ExitCode::SUCCESS;
            }
            Ok(Command::Child) => {
                let _ = io::copy(&mut io::stdin(), &mut io::sink());
                return ExitCode::SUCCESS;
            }
            Err(error) => {
                let usage = USAGE.lines().next().unwrap_or(USAGE);
                return fail(&format!("{error}\n{usage} (--help for more)"));
            }
        };
        let mut out = Output {
            out: io::stdout(),
            failed: None,
        };
        let mut all_ok = true;
        for script in &options.scripts {
            out.line(&format!("== {script}"));
            let text = match std::fs::read_to_string(script) {
                Ok(text) => text,
                Err(error) => return fail(&format!("{script}: {error}")),
            };
            let steps = match scenario::parse(&text) {
                Ok(steps) => steps,
                Err(error) => return fail(&format!("{script}: {error}")),
            };
            if !options.real_disks.is_empty() {
                let ok = run_real(&options, &steps, &mut out);
                out.line(&format!(
                    "== {script}: {}",
                    if ok { "PASS" } else { "FAIL" }
                ));
                all_ok &= ok;
                continue;
            }
            let mut session = Session::new();
            for (index, image) in options.images.iter().enumerate() {
                match DiskModel::open(image) {
                    Ok(disk) => {
                        session.add_disk(&format!("Disk{index}"), disk);
                    }
                    Err(error) => return fail(&format!("{image}: {error}")),
                }
            }
            let drivers: Vec<DriverDescriptor> =
                vec![DriverDescriptor::rustfsd(), testfs::descriptor()];
            let mut runner = Runner::new(session, drivers);
            let ok = match options.seed {
                None => runner.run_all(&steps, &mut |line| out.line(line)),
                Some(seed) => {
                    let run = scheduler::run(&mut runner, &steps, seed);
                    for report in &run.reports {
                        out.line(&report.text);
                    }
                    for finding in runner.session.findings() {
                        out.line(&format!("  {finding}"));
                    }
                    if !run.ok {
                        out.line(&format!(
                            "seed {seed} failed; rerun with --seed {seed} to replay"
                        ));
                    }
                    run.ok
                }
            };
            if options.trace {
                out.line("-- trace (IRPs, threads, filter observer, findings)");
                for line in runner.session.trace() {
                    out.line(&format!("   {line}"));
                }
            }
            out.line(&format!(
                "== {script}: {}",
                if ok { "PASS" } else { "FAIL" }
            ));
            all_ok &= ok;
        }
        if let Some(error) = out.error() {
            return fail(&format!("write error: {error}"));
        }
        if all_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
