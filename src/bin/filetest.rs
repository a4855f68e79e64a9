//! filetest: runs scenario scripts against rustfsd inside the NT model, with the verifier on.
//!
//! Usage: filetest [--image IMG]... [--seed N] [--trace] SCRIPT...
//! Each `--image` becomes a disk: the first is `\Device\Disk0`, the next `\Device\Disk1`, ...
//! Every script runs in a fresh machine. Exit status 0 only if every step's expectation held
//! and the verifier found nothing. With `--seed`, steps on different `@tN` threads interleave
//! under that seed (printed on failure, so the run can be replayed). `--trace` prints the model's
//! trace: every IRP sent and completed, on which thread, the filter observer, the findings.

#[cfg(not(target_os = "windows"))]
fn main() -> std::process::ExitCode {
    host::main()
}

#[cfg(target_os = "windows")]
fn main() {}

#[cfg(not(target_os = "windows"))]
mod host {
    use std::process::ExitCode;

    use rustfsd::kernel::model::harness::scenario::{self, Runner};
    use rustfsd::kernel::model::harness::{
        DiskModel, DriverDescriptor, Session, scheduler, testfs,
    };

    struct Options {
        images: Vec<String>,
        scripts: Vec<String>,
        seed: Option<u64>,
        trace: bool,
    }

    fn usage() -> ExitCode {
        eprintln!("usage: filetest [--image IMG]... [--seed N] [--trace] SCRIPT...");
        ExitCode::from(2)
    }

    fn parse_args() -> Option<Options> {
        let mut options = Options {
            images: Vec::new(),
            scripts: Vec::new(),
            seed: None,
            trace: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--image" => options.images.push(args.next()?),
                "--seed" => options.seed = Some(args.next()?.parse().ok()?),
                "--trace" => options.trace = true,
                "-h" | "--help" => return None,
                _ => options.scripts.push(arg),
            }
        }
        (!options.scripts.is_empty()).then_some(options)
    }

    pub fn main() -> ExitCode {
        let Some(options) = parse_args() else {
            return usage();
        };
        let mut all_ok = true;
        for script in &options.scripts {
            println!("== {script}");
            let text = match std::fs::read_to_string(script) {
                Ok(text) => text,
                Err(error) => {
                    eprintln!("{script}: {error}");
                    return ExitCode::from(2);
                }
            };
            let steps = match scenario::parse(&text) {
                Ok(steps) => steps,
                Err(error) => {
                    eprintln!("{script}: {error}");
                    return ExitCode::from(2);
                }
            };
            let mut session = Session::new();
            for (index, image) in options.images.iter().enumerate() {
                match DiskModel::open(image) {
                    Ok(disk) => {
                        session.add_disk(&format!("Disk{index}"), disk);
                    }
                    Err(error) => {
                        eprintln!("{image}: {error}");
                        return ExitCode::from(2);
                    }
                }
            }
            let drivers: Vec<DriverDescriptor> =
                vec![DriverDescriptor::rustfsd(), testfs::descriptor()];
            let mut runner = Runner::new(session, drivers);
            let ok = match options.seed {
                None => runner.run_all(&steps, &mut |line| println!("{line}")),
                Some(seed) => {
                    let run = scheduler::run(&mut runner, &steps, seed);
                    for report in &run.reports {
                        println!("{}", report.text);
                    }
                    for finding in runner.session.findings() {
                        println!("  {finding}");
                    }
                    if !run.ok {
                        println!("seed {seed} failed; rerun with --seed {seed} to replay");
                    }
                    run.ok
                }
            };
            if options.trace {
                println!("-- trace (IRPs, threads, filter observer, findings)");
                for line in runner.session.trace() {
                    println!("   {line}");
                }
            }
            println!("== {script}: {}", if ok { "PASS" } else { "FAIL" });
            all_ok &= ok;
        }
        if all_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
