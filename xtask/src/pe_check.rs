//! PE checks on the built driver: what Windows requires of a kernel image, and what we promise.

use std::path::Path;

use object::LittleEndian as LE;
use object::pe;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile64};

use crate::kit::Kit;
use crate::sign;
use crate::util::{self, Result};

const ALLOWED_MODULES: &[&str] = &["ntoskrnl.exe", "hal.dll"];

pub fn check(image: &Path, kit: &Kit) -> Result<()> {
    let data = util::read(image)?;
    let entry = driver_entry_rva(image)?;
    let findings = findings(&data, entry, kit)?;
    if !findings.is_empty() {
        return Err(format!("{}:\n  {}", image.display(), findings.join("\n  ")));
    }
    sign::verify(image).map_err(|e| format!("Authenticode verification failed: {e}"))?;
    llvm_readobj_agrees(image, entry)?;
    println!(
        "PE ok: {} (AMD64, NATIVE, entry DriverEntry at {entry:#x}, signed)",
        image.display()
    );
    print_imports(&data)
}

/// Breaks a copy of the image in one way at a time; each break must be reported.
pub fn self_test(image: &Path, kit: &Kit) -> Result<()> {
    let good = util::read(image)?;
    let entry = driver_entry_rva(image)?;
    let layout = Layout::of(&good)?;
    let import_name = first_import_name(&good)?;
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    let mut patched = |what, offset: usize, bytes: &[u8], expected| {
        let mut copy = good.clone();
        copy[offset..offset + bytes.len()].copy_from_slice(bytes);
        cases.push((what, copy, expected));
    };
    patched(
        "machine",
        layout.file_header,
        &0x014cu16.to_le_bytes(),
        "machine",
    );
    patched(
        "subsystem",
        layout.optional + 68,
        &2u16.to_le_bytes(),
        "subsystem",
    );
    patched(
        "entry point",
        layout.optional + 16,
        &(entry + 16).to_le_bytes(),
        "entry point",
    );
    patched(
        "checksum",
        layout.optional + 64,
        &0u32.to_le_bytes(),
        "checksum",
    );
    patched(
        "signature",
        layout.optional + 112 + 4 * 8,
        &[0u8; 8],
        "signature",
    );
    let text_flags = layout.first_code_section_flags;
    let flags = u32::from_le_bytes(
        good[text_flags..text_flags + 4]
            .try_into()
            .map_err(|_| "short")?,
    );
    patched(
        "W+X section",
        text_flags,
        &(flags | pe::IMAGE_SCN_MEM_WRITE).to_le_bytes(),
        "writable and executable",
    );
    let (name_offset, name) = import_name;
    let mut unknown = name.clone().into_bytes();
    unknown[0] = b'Q';
    patched(
        "import the kernel lacks",
        name_offset,
        &unknown,
        "does not export",
    );
    let module_offset = find(&good, b"ntoskrnl.exe").ok_or("no ntoskrnl.exe import")?;
    patched(
        "import from another module",
        module_offset,
        b"ntoskrnl.dll",
        "imports from",
    );

    for (what, broken, expected) in cases {
        let found = findings(&broken, entry, kit)?;
        if !found.iter().any(|f| f.contains(expected)) {
            return Err(format!(
                "PE self-test '{what}': the check did not notice ({found:?})"
            ));
        }
        println!(
            "PE self-test ok: {what} -> {}",
            found
                .iter()
                .find(|f| f.contains(expected))
                .map_or("", |s| s)
        );
    }
    Ok(())
}

struct Layout {
    file_header: usize,
    optional: usize,
    first_code_section_flags: usize,
}

impl Layout {
    fn of(data: &[u8]) -> Result<Layout> {
        let lfanew = u32::from_le_bytes(
            data.get(0x3c..0x40)
                .ok_or("short")?
                .try_into()
                .map_err(|_| "short")?,
        ) as usize;
        let file_header = lfanew + 4;
        let optional = file_header + 20;
        let optional_size =
            u16::from_le_bytes([data[file_header + 16], data[file_header + 17]]) as usize;
        let sections = optional + optional_size;
        let count = u16::from_le_bytes([data[file_header + 2], data[file_header + 3]]) as usize;
        let first_code_section_flags = (0..count)
            .map(|i| sections + i * 40 + 36)
            .find(|&at| {
                let flags =
                    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
                flags & pe::IMAGE_SCN_MEM_EXECUTE != 0
            })
            .ok_or("no executable section")?;
        Ok(Layout {
            file_header,
            optional,
            first_code_section_flags,
        })
    }
}

fn findings(data: &[u8], driver_entry: u32, kit: &Kit) -> Result<Vec<String>> {
    let file = PeFile64::parse(data).map_err(|e| format!("not a PE32+ image: {e}"))?;
    let headers = file.nt_headers();
    let optional = headers.optional_header();
    let mut f = Vec::new();

    let machine = headers.file_header().machine.get(LE);
    if machine != pe::IMAGE_FILE_MACHINE_AMD64 {
        f.push(format!("machine is {machine:#x}, not AMD64"));
    }
    if optional.subsystem() != pe::IMAGE_SUBSYSTEM_NATIVE {
        f.push(format!("subsystem is {}, not NATIVE", optional.subsystem()));
    }
    if optional.address_of_entry_point() != driver_entry {
        f.push(format!(
            "entry point is {:#x}, but DriverEntry is at {driver_entry:#x}",
            optional.address_of_entry_point()
        ));
    }
    for section in file.section_table().iter() {
        let flags = section.characteristics.get(LE);
        if flags & pe::IMAGE_SCN_MEM_WRITE != 0 && flags & pe::IMAGE_SCN_MEM_EXECUTE != 0 {
            f.push(format!(
                "section {} is writable and executable",
                String::from_utf8_lossy(section.raw_name())
            ));
        }
    }
    let stored = optional.check_sum();
    let computed = pe_checksum(data)?;
    if stored == 0 || stored != computed {
        f.push(format!("checksum is {stored:#x}, computed {computed:#x}"));
    }
    let security = file.data_directory(pe::IMAGE_DIRECTORY_ENTRY_SECURITY);
    if security.is_none_or(|d| d.size.get(LE) == 0) {
        f.push("no Authenticode signature (empty security directory)".into());
    }

    for (module, name) in imports(data)? {
        let module_lower = module.to_ascii_lowercase();
        if !ALLOWED_MODULES.contains(&module_lower.as_str()) {
            f.push(format!(
                "imports from {module}; only ntoskrnl.exe and HAL.dll are allowed"
            ));
            continue;
        }
        match name {
            None => f.push(format!(
                "imports an ordinal from {module}; only names are allowed"
            )),
            Some(name) if !kit.exports(&module_lower)?.contains(&name) => {
                f.push(format!("imports {name}, which {module} does not export"));
            }
            Some(_) => {}
        }
    }
    Ok(f)
}

/// The same facts as llvm-readobj reports them: a second, independent reader of the image.
fn llvm_readobj_agrees(image: &Path, driver_entry: u32) -> Result<()> {
    let report = util::output(
        std::process::Command::new("llvm-readobj")
            .args(["--file-headers", "--coff-imports"])
            .arg(image),
    )?;
    let field = |name: &str| {
        report
            .lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix(name)
                    .map(str::trim)
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    };
    let mut disagreements = Vec::new();
    if !field("Machine:").starts_with("IMAGE_FILE_MACHINE_AMD64") {
        disagreements.push(format!("Machine: {}", field("Machine:")));
    }
    if !field("Subsystem:").starts_with("IMAGE_SUBSYSTEM_NATIVE") {
        disagreements.push(format!("Subsystem: {}", field("Subsystem:")));
    }
    if field("AddressOfEntryPoint:") != format!("{driver_entry:#X}").replace("0X", "0x") {
        disagreements.push(format!(
            "AddressOfEntryPoint: {}",
            field("AddressOfEntryPoint:")
        ));
    }
    for line in report.lines().map(str::trim) {
        if let Some(module) = line.strip_prefix("Name: ")
            && !ALLOWED_MODULES.contains(&module.to_ascii_lowercase().as_str())
        {
            disagreements.push(format!("imports from {module}"));
        }
    }
    if disagreements.is_empty() {
        println!(
            "llvm-readobj agrees: AMD64, NATIVE, entry {driver_entry:#x}, ntoskrnl.exe/HAL.dll only"
        );
        Ok(())
    } else {
        Err(format!("llvm-readobj reports {}", disagreements.join(", ")))
    }
}

/// (module, name or None for an ordinal) for every import.
fn imports(data: &[u8]) -> Result<Vec<(String, Option<String>)>> {
    let file = PeFile64::parse(data).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let Some(table) = file.import_table().map_err(|e| e.to_string())? else {
        return Ok(out);
    };
    let mut descriptors = table.descriptors().map_err(|e| e.to_string())?;
    while let Some(descriptor) = descriptors.next().map_err(|e| e.to_string())? {
        let module = String::from_utf8_lossy(
            table
                .name(descriptor.name.get(LE))
                .map_err(|e| e.to_string())?,
        )
        .into_owned();
        let first = match descriptor.original_first_thunk.get(LE) {
            0 => descriptor.first_thunk.get(LE),
            rva => rva,
        };
        let mut thunks = table.thunks(first).map_err(|e| e.to_string())?;
        while let Some(thunk) = thunks
            .next::<pe::ImageNtHeaders64>()
            .map_err(|e| e.to_string())?
        {
            match table
                .import::<pe::ImageNtHeaders64>(thunk)
                .map_err(|e| e.to_string())?
            {
                object::read::pe::Import::Name(_, name) => out.push((
                    module.clone(),
                    Some(String::from_utf8_lossy(name).into_owned()),
                )),
                object::read::pe::Import::Ordinal(_) => out.push((module.clone(), None)),
            }
        }
    }
    Ok(out)
}

fn print_imports(data: &[u8]) -> Result<()> {
    let list = imports(data)?;
    println!("imports ({}):", list.len());
    for (module, name) in list {
        println!("  {module}!{}", name.as_deref().unwrap_or("<ordinal>"));
    }
    Ok(())
}

fn first_import_name(data: &[u8]) -> Result<(usize, String)> {
    let (_, name) = imports(data)?
        .into_iter()
        .find(|(module, name)| module.eq_ignore_ascii_case("ntoskrnl.exe") && name.is_some())
        .ok_or("the image imports nothing from ntoskrnl.exe")?;
    let name = name.ok_or("no name")?;
    let mut needle = name.clone().into_bytes();
    needle.push(0);
    let offset = find(data, &needle).ok_or("import name not found in the file")?;
    Ok((offset, name))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The PE image checksum: 16-bit one's-complement-style sum with the checksum field taken as 0,
/// plus the file length.
fn pe_checksum(data: &[u8]) -> Result<u32> {
    let field = Layout::of(data)?.optional + 64;
    let mut sum: u64 = 0;
    for (index, chunk) in data.chunks(2).enumerate() {
        let offset = index * 2;
        if offset >= field && offset < field + 4 {
            continue;
        }
        let word = u16::from_le_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]) as u64;
        sum += word;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    Ok(sum as u32 + data.len() as u32)
}

/// The RVA of DriverEntry, from the linker map that wdk-build asks for (/MAP).
fn driver_entry_rva(image: &Path) -> Result<u32> {
    crate::cross::symbol_rva("DriverEntry").map_err(|e| format!("{} : {e}", image.display()))
}
