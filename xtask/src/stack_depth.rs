//! `cargo xtask stack-depth`: the deepest chains of stack frames in the real driver image, from
//! each routine the kernel calls, measured in target/package/rustfsd.sys.
//!
//! - Functions (name, start, length) come from rustfsd.pdb (`llvm-pdbutil dump -symbols`,
//!   S_GPROC32/S_LPROC32); import thunks and IAT slots from its public symbols.
//! - Frame sizes come from the prologues in `llvm-objdump -d`: 8 bytes per `push`, the
//!   largest `sub rsp, N` (or the `mov eax, N` before `call __chkstk` + `sub rsp, rax`), and
//!   8 for the return address the call pushed.
//! - The call graph comes from the `call` instructions (and `jmp`s into another function: a
//!   tail call reuses the caller's frame). Indirect calls (closures behind pointers, the
//!   kernel's callbacks) are not followed: every routine the kernel calls back is a root of
//!   its own. Recursion is reported, not followed.
//!
//! The budgets (docs/performance.md, "Stack depth"): a read's chain to IoCallDriver within the
//! READ_FRAMES the driver's stack guard reserves for it (src/dispatch/stack.rs), CREATE's
//! within CREATE_FRAMES, any chain from `dispatch_irp` within `BUDGET`, so that what lies
//! above us (system call, filters, Cc, Mm's fault path) and below us (the disk stack under
//! IoCallDriver) fits in the 24 KiB kernel stack.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::util::{self, Result};

/// The most bytes our own frames may use on any chain from `dispatch_irp` (the deepest is the
/// mount, which comes at the top of an open, never nested).
pub const BUDGET: u64 = 7 * 1024;
/// READ_FRAMES and CREATE_FRAMES of src/dispatch/stack.rs: what the driver's stack guard
/// reserves for its own frames on those chains (plus 4 KiB for the disk stack).
const READ_FRAMES: u64 = 3 * 1024;
const CREATE_FRAMES: u64 = 4 * 1024 + 512;

/// The routines the kernel calls (each starts on a stack of its own, as far as we know).
const ROOTS: &[&str] = &[
    "rustfsd::kernel::nt::entry::dispatch_irp",
    "rustfsd::kernel::nt::entry::pre_acquire_for_section_sync",
    "rustfsd::kernel::nt::entry::driver_entry",
    "rustfsd::kernel::nt::entry::driver_unload",
    "rustfsd::kernel::nt::work_item::run",
    "rustfsd::kernel::nt::event::run_work_item",
    "rustfsd::kernel::nt::irql::run_callout",
];

/// The per-major handlers `dispatch::route` calls: a chain through each is shown.
const HANDLERS: &[&str] = &[
    "rustfsd::dispatch::create::create",
    "rustfsd::dispatch::cleanup::cleanup",
    "rustfsd::dispatch::close::close",
    "rustfsd::dispatch::read::read",
    "rustfsd::dispatch::fsctrl::file_system_control",
    "rustfsd::dispatch::pnp::pnp",
    "rustfsd::dispatch::fileinfo::query_information",
    "rustfsd::dispatch::volinfo::query_volume_information",
    "rustfsd::dispatch::dirctrl::directory_control",
    "rustfsd::dispatch::security::query_security",
    "rustfsd::dispatch::lockctrl::lock_control",
    "rustfsd::dispatch::ea::query_ea",
];

/// Chains measured on their own: a label, the functions they pass through, the kernel routine
/// they end in, their budget.
const CHAINS: &[(&str, &[&str], &str, u64)] = &[
    (
        "paging read (IRP_PAGING_IO from Cc or Mm) to the disk",
        &[ROOTS[0], "rustfsd::dispatch::read::read"],
        DISK_CALL,
        READ_FRAMES,
    ),
    (
        "cached read to CcCopyRead (whose page faults send the paging read above)",
        &[ROOTS[0], "rustfsd::dispatch::read::read"],
        "CcCopyRead",
        READ_FRAMES,
    ),
    (
        "CREATE's path walk to the disk",
        &[ROOTS[0], "rustfsd::dispatch::create::create"],
        DISK_CALL,
        CREATE_FRAMES,
    ),
];

/// The kernel call a disk read ends in (IoCallDriver is a macro over it).
const DISK_CALL: &str = "IofCallDriver";

struct Function {
    name: String,
    start: u64,
    end: u64,
    frame: u64,
    calls: Vec<usize>,
    tail_calls: Vec<usize>,
    /// Kernel routines called (through an import thunk or the IAT).
    imports: Vec<String>,
    indirect_calls: u32,
    /// The way to the panic handler, which bugchecks: not followed.
    bugchecks: bool,
}

struct Image {
    functions: Vec<Function>,
    by_name: HashMap<String, usize>,
}

pub fn run() -> Result<()> {
    let package = util::workspace_root().join("target/package");
    let report = measure(&package.join("rustfsd.sys"), &package.join("rustfsd.pdb"))?;
    print!("{}", report.text);
    if report.over_budget.is_empty() {
        Ok(())
    } else {
        Err(format!("over budget: {}", report.over_budget.join("; ")))
    }
}

pub struct Report {
    pub text: String,
    /// The chains above their budget.
    pub over_budget: Vec<String>,
}

pub fn measure(sys: &Path, pdb: &Path) -> Result<Report> {
    let image = Image::load(sys, pdb)?;
    let mut text = String::new();
    let mut walker = Walker::new(&image);
    let dispatch = image.index(ROOTS[0])?;
    let mut over_budget = Vec::new();
    for (label, waypoints, call, budget) in CHAINS {
        let steps = walker.through(waypoints, call)?;
        let bytes = chain_bytes(&image, &steps);
        if bytes > *budget {
            over_budget.push(format!("{label}: {bytes} bytes > {budget}"));
        }
        writeln!(text, "{label}: {bytes} bytes (budget {budget})").ok();
        print_chain(&image, &steps, &mut text);
        writeln!(text).ok();
    }
    writeln!(text, "deepest chain through each IRP_MJ handler:").ok();

    let mut deepest = 0;
    for handler in HANDLERS {
        let Ok(index) = image.index(handler) else {
            writeln!(text, "\n{handler}: inlined into dispatch").ok();
            continue;
        };
        let Some(mut chain) = walker.deepest_to(dispatch, &Goal::Function(index)) else {
            continue;
        };
        chain.steps.pop();
        chain.steps.extend(
            walker
                .deepest_to(index, &Goal::Any)
                .map(|c| c.steps)
                .unwrap_or_default(),
        );
        let bytes = chain_bytes(&image, &chain.steps);
        deepest = deepest.max(bytes);
        writeln!(text, "\n{handler}: {bytes} bytes").ok();
        print_chain(&image, &chain.steps, &mut text);
    }
    for root in ROOTS {
        let Ok(index) = image.index(root) else {
            continue;
        };
        let Some(chain) = walker.deepest_to(index, &Goal::Any) else {
            continue;
        };
        let bytes = chain_bytes(&image, &chain.steps);
        if index == dispatch {
            deepest = deepest.max(bytes);
        }
        writeln!(text, "\nroot {root}: {bytes} bytes").ok();
        print_chain(&image, &chain.steps, &mut text);
    }
    let mut frames: Vec<&Function> = image.functions.iter().collect();
    frames.sort_by_key(|f| std::cmp::Reverse(f.frame));
    writeln!(text, "\nlargest frames:").ok();
    for function in frames.iter().take(10) {
        writeln!(text, "  {:>6}  {}", function.frame, short(&function.name)).ok();
    }
    if !walker.recursion.is_empty() {
        writeln!(text, "\nrecursion (back edges not followed):").ok();
        for (from, to) in &walker.recursion {
            writeln!(
                text,
                "  {} -> {}",
                short(&image.functions[*from].name),
                short(&image.functions[*to].name)
            )
            .ok();
        }
    }
    if deepest > BUDGET {
        over_budget.push(format!(
            "deepest chain from dispatch_irp: {deepest} bytes > {BUDGET}"
        ));
    }
    writeln!(
        text,
        "\ndeepest chain from dispatch_irp: {deepest} bytes (budget {BUDGET})"
    )
    .ok();
    Ok(Report { text, over_budget })
}

/// One step of a chain: a function and how it was left (a call keeps its frame, a tail call
/// does not); the last step may be a kernel routine.
#[derive(Clone)]
enum Step {
    Call(usize),
    Tail(usize),
    Last(usize),
    Import(String),
}

#[derive(Clone)]
struct Chain {
    bytes: u64,
    steps: Vec<Step>,
}

enum Goal<'a> {
    /// The deepest chain of any kind.
    Any,
    /// The deepest chain that reaches this function (it ends there).
    Function(usize),
    /// The deepest chain that ends in a call of this kernel routine.
    Import(&'a str),
}

struct Walker<'a> {
    image: &'a Image,
    memo: HashMap<(usize, String), Option<Chain>>,
    on_path: Vec<bool>,
    recursion: BTreeSet<(usize, usize)>,
}

impl<'a> Walker<'a> {
    fn new(image: &'a Image) -> Self {
        Walker {
            image,
            memo: HashMap::new(),
            on_path: vec![false; image.functions.len()],
            recursion: BTreeSet::new(),
        }
    }

    /// The deepest chain through `waypoints` (function names, in order) that ends in a call of
    /// the kernel routine `call`.
    fn through(&mut self, waypoints: &[&str], call: &str) -> Result<Vec<Step>> {
        let mut steps: Vec<Step> = Vec::new();
        let indices = waypoints
            .iter()
            .map(|name| self.image.index(name))
            .collect::<Result<Vec<usize>>>()?;
        for pair in indices.windows(2) {
            let chain = self
                .deepest_to(pair[0], &Goal::Function(pair[1]))
                .ok_or_else(|| format!("no chain through {waypoints:?}"))?;
            steps.pop();
            steps.extend(chain.steps);
        }
        let last = *indices.last().ok_or("no waypoints")?;
        let chain = self
            .deepest_to(last, &Goal::Import(call))
            .ok_or_else(|| format!("no chain through {waypoints:?} to {call}"))?;
        steps.pop();
        steps.extend(chain.steps);
        Ok(steps)
    }

    fn deepest_to(&mut self, from: usize, goal: &Goal) -> Option<Chain> {
        let key = (
            from,
            match goal {
                Goal::Any => String::new(),
                Goal::Function(f) => format!("f{f}"),
                Goal::Import(name) => format!("i{name}"),
            },
        );
        if let Some(known) = self.memo.get(&key) {
            return known.clone();
        }
        let function = &self.image.functions[from];
        let frame = function.frame;
        let mut best: Option<Chain> = match goal {
            Goal::Function(f) if *f == from => Some(Chain {
                bytes: frame,
                steps: vec![Step::Last(from)],
            }),
            Goal::Any => Some(Chain {
                bytes: frame,
                steps: vec![Step::Last(from)],
            }),
            Goal::Import(name) if function.imports.iter().any(|i| i == name) => Some(Chain {
                bytes: frame,
                steps: vec![Step::Call(from), Step::Import((*name).to_string())],
            }),
            _ => None,
        };
        if matches!(goal, Goal::Function(f) if *f == from) {
            self.memo.insert(key, best.clone());
            return best;
        }
        self.on_path[from] = true;
        let edges: Vec<(usize, bool)> = function
            .calls
            .iter()
            .map(|&c| (c, false))
            .chain(function.tail_calls.iter().map(|&c| (c, true)))
            .collect();
        for (callee, tail) in edges {
            if self.image.functions[callee].bugchecks {
                continue;
            }
            if self.on_path[callee] {
                self.recursion.insert((from, callee));
                continue;
            }
            let Some(below) = self.deepest_to(callee, goal) else {
                continue;
            };
            let bytes = below.bytes + if tail { 0 } else { frame };
            if best.as_ref().is_none_or(|b| bytes > b.bytes) {
                let mut steps = vec![if tail {
                    Step::Tail(from)
                } else {
                    Step::Call(from)
                }];
                steps.extend(below.steps);
                best = Some(Chain { bytes, steps });
            }
        }
        self.on_path[from] = false;
        self.memo.insert(key, best.clone());
        best
    }
}

fn chain_bytes(image: &Image, steps: &[Step]) -> u64 {
    steps
        .iter()
        .map(|step| match step {
            Step::Call(f) | Step::Last(f) => image.functions[*f].frame,
            Step::Tail(_) | Step::Import(_) => 0,
        })
        .sum()
}

fn print_chain(image: &Image, steps: &[Step], text: &mut String) {
    let mut total = 0;
    for step in steps {
        let (frame, name, note) = match step {
            Step::Call(f) => (image.functions[*f].frame, &image.functions[*f].name, ""),
            Step::Last(f) => (image.functions[*f].frame, &image.functions[*f].name, ""),
            Step::Tail(f) => (0, &image.functions[*f].name, " (tail call)"),
            Step::Import(name) => (0, name, " (kernel)"),
        };
        total += frame;
        writeln!(text, "  {frame:>6} {total:>6}  {}{note}", short(name)).ok();
    }
}

/// A name without its generic arguments, for the table.
fn short(name: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in name.chars() {
        match c {
            '<' => {
                if depth == 0 {
                    out.push_str("<…>");
                }
                depth += 1;
            }
            '>' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

impl Image {
    fn index(&self, name: &str) -> Result<usize> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| format!("{name} not found in the PDB"))
    }

    fn load(sys: &Path, pdb: &Path) -> Result<Image> {
        let sections = section_addresses(sys)?;
        let address = |text: &str| -> Option<u64> {
            let (section, offset) = text.split_once(':')?;
            let base = sections.get(section.parse::<usize>().ok()?.checked_sub(1)?)?;
            Some(base + offset.parse::<u64>().ok()?)
        };
        // Functions with debug info.
        let symbols = util::output(
            Command::new("llvm-pdbutil")
                .args(["dump", "-symbols"])
                .arg(pdb),
        )?;
        let mut spans: BTreeMap<u64, (String, u64)> = BTreeMap::new();
        let mut pending: Option<String> = None;
        for line in symbols.lines() {
            if line.contains("S_GPROC32") || line.contains("S_LPROC32") {
                pending = quoted(line).map(str::to_string);
            } else if let Some(name) = pending.take() {
                let addr = field(line, "addr = ").and_then(address);
                let size = field(line, "code size = ").and_then(|s| s.parse::<u64>().ok());
                if let (Some(start), Some(size)) = (addr, size) {
                    spans.entry(start).or_insert((name, start + size));
                }
            }
        }
        // Import thunks (public functions without debug info) and IAT slots.
        let publics = util::output(
            Command::new("llvm-pdbutil")
                .args(["dump", "-publics"])
                .arg(pdb),
        )?;
        let mut iat: HashMap<u64, String> = HashMap::new();
        let mut public_names: HashMap<u64, String> = HashMap::new();
        let mut pending: Option<String> = None;
        for line in publics.lines() {
            if line.contains("S_PUB32") {
                pending = quoted(line).map(str::to_string);
            } else if let Some(name) = pending.take() {
                let Some(addr) = field(line, "addr = ").and_then(address) else {
                    continue;
                };
                if let Some(import) = name.strip_prefix("__imp_") {
                    iat.insert(addr, import.to_string());
                } else if line.contains("flags = function") {
                    public_names.insert(addr, name);
                }
            }
        }
        let disassembly = util::output(
            Command::new("llvm-objdump")
                .args(["-d", "--no-show-raw-insn", "--x86-asm-syntax=intel"])
                .arg(sys),
        )?;
        let instructions: Vec<(u64, String, String)> = disassembly
            .lines()
            .filter_map(|line| {
                let (addr, rest) = line.trim_start().split_once(':')?;
                let addr = u64::from_str_radix(addr, 16).ok()?;
                let rest = rest.trim();
                let (mnemonic, operands) = rest.split_once('\t').unwrap_or((rest, ""));
                Some((
                    addr,
                    mnemonic.trim().to_string(),
                    operands.trim().to_string(),
                ))
            })
            .collect();
        // An import thunk is one `jmp qword ptr [rip + N] # <IAT slot>`.
        let mut thunks: HashMap<u64, String> = HashMap::new();
        for (addr, mnemonic, operands) in &instructions {
            if mnemonic == "jmp"
                && let Some(slot) = iat_slot(operands)
                && let Some(name) = iat.get(&slot)
            {
                thunks.insert(*addr, name.clone());
            }
        }
        // Call targets outside every PDB function start functions of their own.
        for (_, mnemonic, operands) in &instructions {
            if mnemonic == "call"
                && let Some(target) = direct_target(operands)
                && !thunks.contains_key(&target)
                && containing(&spans, target).is_none()
            {
                let name = public_names
                    .get(&target)
                    .cloned()
                    .unwrap_or_else(|| format!("sub_{target:x}"));
                spans.insert(target, (name, target));
            }
        }
        // A function without a length ends where the next one starts.
        let starts: Vec<u64> = spans.keys().copied().collect();
        for (i, start) in starts.iter().enumerate() {
            if let Some(span) = spans.get_mut(start)
                && span.1 <= *start
            {
                span.1 = starts.get(i + 1).copied().unwrap_or(u64::MAX);
            }
        }
        let mut functions: Vec<Function> = spans
            .iter()
            .map(|(start, (name, end))| Function {
                name: name.clone(),
                start: *start,
                end: *end,
                frame: 0,
                calls: Vec::new(),
                tail_calls: Vec::new(),
                imports: Vec::new(),
                indirect_calls: 0,
                bugchecks: leads_to_bugcheck(name),
            })
            .collect();
        let index_of = |addr: u64| -> Option<usize> {
            let i = functions
                .partition_point(|f| f.start <= addr)
                .checked_sub(1)?;
            (addr < functions[i].end).then_some(i)
        };
        let mut frames = vec![(0u64, 0u64); functions.len()];
        let mut edges: Vec<(usize, usize, bool)> = Vec::new();
        let mut imports: Vec<(usize, String)> = Vec::new();
        let mut indirect: Vec<usize> = Vec::new();
        let mut last_eax = 0;
        for (addr, mnemonic, operands) in &instructions {
            let Some(f) = index_of(*addr) else { continue };
            let (pushes, sub) = &mut frames[f];
            match mnemonic.as_str() {
                "push" => *pushes += 1,
                "mov" if operands.starts_with("eax, ") => {
                    last_eax = parse_number(&operands[5..]).unwrap_or(0);
                }
                "sub" if operands == "rsp, rax" => *sub = (*sub).max(last_eax),
                "sub" if operands.starts_with("rsp, ") => {
                    *sub = (*sub).max(parse_number(&operands[5..]).unwrap_or(0));
                }
                "call" | "jmp" => {
                    let tail = mnemonic == "jmp";
                    if let Some(target) = direct_target(operands) {
                        if let Some(name) = thunks.get(&target) {
                            imports.push((f, name.clone()));
                        } else if let Some(callee) = index_of(target)
                            && (!tail || callee != f)
                        {
                            edges.push((f, callee, tail));
                        }
                    } else if let Some(name) = iat_slot(operands).and_then(|s| iat.get(&s)) {
                        imports.push((f, name.clone()));
                    } else if !tail {
                        indirect.push(f);
                    }
                }
                _ => {}
            }
        }
        for (f, (pushes, sub)) in frames.iter().enumerate() {
            // The return address the call pushed, the saved registers, the locals.
            functions[f].frame = 8 + pushes * 8 + sub;
        }
        for (from, to, tail) in edges {
            let list = if tail {
                &mut functions[from].tail_calls
            } else {
                &mut functions[from].calls
            };
            if !list.contains(&to) {
                list.push(to);
            }
        }
        for (f, name) in imports {
            if !functions[f].imports.contains(&name) {
                functions[f].imports.push(name);
            }
        }
        for f in indirect {
            functions[f].indirect_calls += 1;
        }
        let mut by_name = HashMap::new();
        for (i, function) in functions.iter().enumerate() {
            // Generic instances share a name without arguments; keep the deepest-framed.
            by_name.entry(function.name.clone()).or_insert(i);
            let plain = short(&function.name);
            if plain != function.name {
                let base = plain.trim_end_matches("<…>").to_string();
                by_name.entry(base).or_insert(i);
            }
        }
        Ok(Image { functions, by_name })
    }
}

/// Panics (wdk-panic bugchecks), failed assertions and allocation failures of infallible
/// allocations end in KeBugCheckEx: their frames do not add to a chain that returns.
fn leads_to_bugcheck(name: &str) -> bool {
    [
        "panic",
        "assert_failed",
        "alloc_error",
        "unwrap_failed",
        "expect_failed",
    ]
    .iter()
    .any(|word| name.contains(word))
        || name.starts_with("alloc::raw_vec::handle_error")
        || name.starts_with("core::slice::index::slice_")
}

/// Section virtual addresses, in the PDB's section order (1-based there).
fn section_addresses(sys: &Path) -> Result<Vec<u64>> {
    let headers = util::output(Command::new("llvm-objdump").arg("-h").arg(sys))?;
    Ok(headers
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() >= 4 && words[0].parse::<u32>().is_ok() {
                u64::from_str_radix(words[3], 16).ok()
            } else {
                None
            }
        })
        .collect())
}

fn containing(spans: &BTreeMap<u64, (String, u64)>, addr: u64) -> Option<u64> {
    let (start, (_, end)) = spans.range(..=addr).next_back()?;
    (addr < *end).then_some(*start)
}

fn quoted(line: &str) -> Option<&str> {
    let start = line.find('`')? + 1;
    let end = line.rfind('`')?;
    line.get(start..end)
}

/// The text after `key` up to the next comma.
fn field<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let rest = &line[line.find(key)? + key.len()..];
    Some(rest.split(',').next().unwrap_or(rest).trim())
}

/// `0x180001234 <…>` → the address.
fn direct_target(operands: &str) -> Option<u64> {
    let hex = operands.strip_prefix("0x")?;
    let hex = hex.split_whitespace().next()?;
    u64::from_str_radix(hex, 16).ok()
}

/// `qword ptr [rip + N] # 0x18003c5a0 <…>` → the slot's address.
fn iat_slot(operands: &str) -> Option<u64> {
    if !operands.starts_with("qword ptr [rip") {
        return None;
    }
    let comment = operands.split_once('#')?.1.trim();
    direct_target(comment)
}

fn parse_number(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}
