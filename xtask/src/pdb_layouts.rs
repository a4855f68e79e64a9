//! The type layouts the WinDbg extension (tools/windbg/rustfsd.js) reads, taken from
//! rustfsd.pdb with `llvm-pdbutil dump -types`, as the JSON its node tests mock the debugger
//! with (tools/windbg/test/pdb-layouts.json).
//!
//! `cargo xtask windbg-layouts` rewrites that file from target/package/rustfsd.pdb; the test
//! stage fails if the committed file no longer matches the PDB it just built.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, Result};

/// The types the extension names (the rest are reached through their fields).
const ROOT_TYPES: &[&str] = &[
    "rustfsd::volume::vcb::Vcb",
    "rustfsd::kernel::nt::device::ExtensionHeader",
    "rustfsd::kernel::nt::device::Extension<rustfsd::volume::vcb::Vcb>",
    "rustfsd::fcb::table::Entry",
    "rustfsd::kernel::nt::fcb::FcbBlock<rustfsd::fcb::file_control_block::Fcb>",
    "rustfsd::kernel::nt::pool::ArcHeader",
    "rustfsd::fcb::context_control_block::Ccb",
];
const ROOT_ENUMS: &[&str] = &["rustfsd::fcb::file_control_block::FcbKind"];
/// The statics it reads.
const SYMBOLS: &[&str] = &["rustfsd::kernel::nt::entry::DRIVER_OBJECT_FOR_WORK_ITEMS"];
/// The kernel structures it reads from nt's symbols; the mock takes them from wdk-sys's
/// bindings in our PDB (the same fields at the same offsets on x64).
const KERNEL_TYPES: &[(&str, &str)] = &[
    ("_DRIVER_OBJECT", "wdk_sys::types::bindings::_DRIVER_OBJECT"),
    ("_DEVICE_OBJECT", "wdk_sys::types::bindings::_DEVICE_OBJECT"),
    ("_VPB", "wdk_sys::types::bindings::_VPB"),
    ("_FILE_OBJECT", "wdk_sys::types::bindings::_FILE_OBJECT"),
];
/// Field types not expanded: the ext4 reader and the kernel's own structures.
const OPAQUE_PREFIXES: &[&str] = &["rustfsd::ext4::", "wdk_sys::"];

pub fn fixture_path() -> PathBuf {
    util::workspace_root().join("tools/windbg/test/pdb-layouts.json")
}

#[derive(Default)]
struct Member {
    name: String,
    type_index: u32,
    /// How llvm-pdbutil describes a simple type (index below 0x1000).
    simple_name: Option<String>,
    offset: u64,
}

enum Record {
    Aggregate {
        name: String,
        size: u64,
        field_list: u32,
    },
    Enum {
        name: String,
        field_list: u32,
    },
    Pointer {
        referent: u32,
    },
    Modifier {
        referent: u32,
    },
    Array {
        element: u32,
        size: u64,
    },
    FieldList {
        members: Vec<Member>,
        enumerators: Vec<(String, u64)>,
    },
    /// Any other leaf (a procedure type, ...), named by its kind: its index changes with
    /// every unrelated edit of the driver, so it must not appear in the layouts.
    Other {
        kind: String,
    },
}

struct Types {
    records: BTreeMap<u32, Record>,
    /// Complete (not forward) definitions by name.
    by_name: BTreeMap<String, u32>,
    simple_names: BTreeMap<u32, String>,
}

/// A field of a structure: its name, its type's name and its byte offset.
struct Field {
    name: String,
    type_name: String,
    offset: u64,
}

/// The JSON fixture for `pdb`.
pub fn layouts_json(pdb: &Path) -> Result<String> {
    let dump = util::output(
        Command::new("llvm-pdbutil")
            .args(["dump", "-types"])
            .arg(pdb),
    )?;
    let types = parse(&dump)?;
    let mut entries = Vec::new();
    let mut pending: Vec<String> = ROOT_TYPES.iter().map(|s| s.to_string()).collect();
    let mut done = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !done.insert(name.clone()) {
            continue;
        }
        let (size, fields) = types.aggregate(&name)?;
        for field in &fields {
            if types.is_aggregate(&field.type_name)
                && !OPAQUE_PREFIXES
                    .iter()
                    .any(|p| field.type_name.starts_with(p))
            {
                pending.push(field.type_name.clone());
            }
        }
        entries.push(type_entry(&name, size, &fields));
    }
    for (kernel_name, binding) in KERNEL_TYPES {
        let (size, fields) = types.aggregate(binding)?;
        entries.push(type_entry(&format!("nt!{kernel_name}"), size, &fields));
    }
    entries.sort();
    let mut enums = Vec::new();
    for name in ROOT_ENUMS {
        let list: Vec<String> = types
            .enumerators(name)?
            .iter()
            .map(|(n, v)| format!("{}: {v}", quote(n)))
            .collect();
        enums.push(format!("    {}: {{{}}}", quote(name), list.join(", ")));
    }
    let globals = util::output(
        Command::new("llvm-pdbutil")
            .args(["dump", "-globals"])
            .arg(pdb),
    )?;
    let mut symbols = Vec::new();
    for symbol in SYMBOLS {
        if !globals.contains(&format!("`{symbol}`")) {
            return Err(format!("rustfsd.pdb has no symbol {symbol}"));
        }
        symbols.push(format!("    {}", quote(symbol)));
    }
    Ok(format!(
        "{{\n  \"source\": \"cargo xtask windbg-layouts (llvm-pdbutil dump -types rustfsd.pdb)\",\n  \
         \"types\": {{\n{}\n  }},\n  \"enums\": {{\n{}\n  }},\n  \"symbols\": [\n{}\n  ]\n}}\n",
        entries.join(",\n"),
        enums.join(",\n"),
        symbols.join(",\n")
    ))
}

/// One `"name": {"size": N, "fields": {...}}` line group of the fixture.
fn type_entry(name: &str, size: u64, fields: &[Field]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|f| {
            format!(
                "\n      {}: {{\"offset\": {}, \"type\": {}}}",
                quote(&f.name),
                f.offset,
                quote(&f.type_name)
            )
        })
        .collect();
    format!(
        "    {}: {{\"size\": {size}, \"fields\": {{{}}}}}",
        quote(name),
        fields.join(",")
    )
}

/// Fails unless the committed fixture equals what `pdb` gives.
pub fn check_fixture(pdb: &Path) -> Result<()> {
    let fresh = layouts_json(pdb)?;
    let committed = util::read_text(&fixture_path())?;
    if fresh != committed {
        return Err(format!(
            "{} no longer matches {}: the driver's layouts changed; run `cargo xtask windbg-layouts`, check tools/windbg/rustfsd.js against the change, and rerun its tests",
            fixture_path().display(),
            pdb.display()
        ));
    }
    Ok(())
}

fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hex(text: &str) -> Option<u32> {
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// `key = value` from a record line such as `referent = 0x1000, mode = pointer`.
fn attribute<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key} = "))? + key.len() + 3;
    let rest = &line[start..];
    let end = rest.find([',', ']']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

fn backticked(line: &str) -> Option<&str> {
    let start = line.find('`')? + 1;
    let end = line.rfind('`')?;
    (end >= start).then(|| &line[start..end])
}

/// The `referent = 0x...` of a pointer or modifier record.
fn referent(body: &[&str]) -> u32 {
    body.iter()
        .find_map(|l| attribute(l, "referent"))
        .and_then(hex)
        .unwrap_or(0)
}

fn parse(dump: &str) -> Result<Types> {
    let mut records = BTreeMap::new();
    let mut by_name = BTreeMap::new();
    let mut simple_names = BTreeMap::new();
    let mut lines = dump.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((index, rest)) = line.trim_start().split_once(" | ") else {
            continue;
        };
        let Some(index) = index.strip_prefix("0x").and_then(hex) else {
            continue;
        };
        let kind = rest.split_whitespace().next().unwrap_or("");
        let mut body = Vec::new();
        while let Some(next) = lines.peek() {
            if next.trim_start().starts_with("0x") && next.contains(" | LF_") {
                break;
            }
            body.push(lines.next().unwrap_or_default());
        }
        let name = backticked(rest).map(str::to_string);
        let record = match kind {
            "LF_STRUCTURE" | "LF_UNION" | "LF_CLASS" => {
                let field_list = body
                    .iter()
                    .find_map(|l| l.split("field list: ").nth(1))
                    .and_then(hex)
                    .unwrap_or(0);
                let size = body
                    .iter()
                    .find_map(|l| l.split("sizeof ").nth(1))
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                let forward = body.iter().any(|l| l.contains("forward ref"));
                let name = name.unwrap_or_default();
                if !forward {
                    by_name.entry(name.clone()).or_insert(index);
                }
                Record::Aggregate {
                    name,
                    size,
                    field_list,
                }
            }
            "LF_ENUM" => {
                let field_list = body
                    .iter()
                    .find_map(|l| l.split("field list: ").nth(1))
                    .and_then(|s| hex(s.split(',').next().unwrap_or("")))
                    .unwrap_or(0);
                let name = name.unwrap_or_default();
                by_name.entry(name.clone()).or_insert(index);
                Record::Enum { name, field_list }
            }
            "LF_POINTER" => Record::Pointer {
                referent: referent(&body),
            },
            "LF_MODIFIER" => Record::Modifier {
                referent: referent(&body),
            },
            "LF_ARRAY" => Record::Array {
                element: body
                    .iter()
                    .find_map(|l| l.split("element type: ").nth(1))
                    .and_then(|s| hex(s.split_whitespace().next().unwrap_or("")))
                    .unwrap_or(0),
                size: body
                    .iter()
                    .find_map(|l| l.trim().strip_prefix("size: "))
                    .and_then(|s| s.split(',').next())
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0),
            },
            "LF_FIELDLIST" => {
                let mut members = Vec::new();
                let mut enumerators = Vec::new();
                for l in &body {
                    let l = l.trim();
                    if let Some(member) = l.strip_prefix("- LF_MEMBER [") {
                        let type_text = attribute(member, "Type").unwrap_or("");
                        let type_index =
                            hex(type_text.split_whitespace().next().unwrap_or("")).unwrap_or(0);
                        let simple_name = type_text
                            .split_once('(')
                            .map(|(_, d)| d.trim_end_matches(')').to_string());
                        if let Some(simple) = &simple_name {
                            simple_names.insert(type_index, simple.clone());
                        }
                        members.push(Member {
                            name: backticked(member).unwrap_or("").to_string(),
                            type_index,
                            simple_name,
                            offset: attribute(member, "offset")
                                .and_then(|o| o.parse().ok())
                                .unwrap_or(0),
                        });
                    } else if let Some(enumerate) = l.strip_prefix("- LF_ENUMERATE [")
                        && let Some((n, v)) = enumerate.trim_end_matches(']').split_once(" = ")
                    {
                        enumerators.push((n.to_string(), v.trim().parse().unwrap_or(0)));
                    }
                }
                Record::FieldList {
                    members,
                    enumerators,
                }
            }
            _ => Record::Other {
                kind: kind.to_string(),
            },
        };
        records.insert(index, record);
    }
    if by_name.is_empty() {
        return Err(String::from("llvm-pdbutil printed no type records"));
    }
    Ok(Types {
        records,
        by_name,
        simple_names,
    })
}

impl Types {
    fn name_of(&self, index: u32) -> String {
        if let Some(simple) = self.simple_names.get(&index) {
            return simple.clone();
        }
        match self.records.get(&index) {
            Some(Record::Aggregate { name, .. }) | Some(Record::Enum { name, .. }) => name.clone(),
            Some(Record::Pointer { referent }) => format!("{}*", self.name_of(*referent)),
            Some(Record::Modifier { referent }) => self.name_of(*referent),
            Some(Record::Array { element, size }) => {
                format!("{}[{size} bytes]", self.name_of(*element))
            }
            Some(Record::Other { kind }) => kind.clone(),
            _ => format!("type {index:#x}"),
        }
    }

    fn is_aggregate(&self, name: &str) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|i| matches!(self.records.get(i), Some(Record::Aggregate { .. })))
    }

    /// Size and fields of a complete structure or union.
    fn aggregate(&self, name: &str) -> Result<(u64, Vec<Field>)> {
        let missing = || format!("rustfsd.pdb has no type {name}");
        let index = self.by_name.get(name).ok_or_else(missing)?;
        let Some(Record::Aggregate {
            size, field_list, ..
        }) = self.records.get(index)
        else {
            return Err(missing());
        };
        let Some(Record::FieldList { members, .. }) = self.records.get(field_list) else {
            return Ok((*size, Vec::new()));
        };
        let fields = members
            .iter()
            .map(|m| Field {
                name: m.name.clone(),
                type_name: m
                    .simple_name
                    .clone()
                    .unwrap_or_else(|| self.name_of(m.type_index)),
                offset: m.offset,
            })
            .collect();
        Ok((*size, fields))
    }

    fn enumerators(&self, name: &str) -> Result<Vec<(String, u64)>> {
        let missing = || format!("rustfsd.pdb has no enum {name}");
        let index = self.by_name.get(name).ok_or_else(missing)?;
        let Some(Record::Enum { field_list, .. }) = self.records.get(index) else {
            return Err(missing());
        };
        match self.records.get(field_list) {
            Some(Record::FieldList { enumerators, .. }) => Ok(enumerators.clone()),
            _ => Err(missing()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of `llvm-pdbutil dump -types` output: a forward reference, its complete
    /// definition, a pointer to it, a nested structure and an enum.
    const DUMP: &str = "\
   0x1000 | LF_STRUCTURE [size = 84] `demo::Outer`
            unique name: `a1`
            vtable: <no type>, base list: <no type>, field list: <no type>
            options: forward ref (-> 0x1004) | has unique name, sizeof 0
   0x1001 | LF_POINTER [size = 12]
            referent = 0x1000, mode = pointer, opts = None, kind = ptr64
   0x1002 | LF_FIELDLIST [size = 60]
            - LF_MEMBER [name = `count`, Type = 0x0075 (unsigned), offset = 8, attrs = private]
            - LF_MEMBER [name = `next`, Type = 0x1001, offset = 0, attrs = private]
            - LF_MEMBER [name = `inner`, Type = 0x1006, offset = 16, attrs = private]
            - LF_STMEMBER [name = `NAME`, type = 0x1001, attrs = public]
   0x1004 | LF_STRUCTURE [size = 84] `demo::Outer`
            unique name: `a1`
            vtable: <no type>, base list: <no type>, field list: 0x1002
            options: has unique name, sizeof 24
   0x1005 | LF_FIELDLIST [size = 20]
            - LF_MEMBER [name = `flag`, Type = 0x0020 (unsigned char), offset = 0, attrs = public]
   0x1006 | LF_STRUCTURE [size = 84] `demo::Inner`
            unique name: `a2`
            vtable: <no type>, base list: <no type>, field list: 0x1005
            options: has unique name, sizeof 1
   0x1007 | LF_FIELDLIST [size = 32]
            - LF_ENUMERATE [First = 0]
            - LF_ENUMERATE [Second = 1]
   0x1008 | LF_ENUM [size = 60] `demo::Kind`
            field list: 0x1007, underlying type: 0x0020 (unsigned char)
            options: 
";

    #[test]
    fn structures_fields_pointers_and_enums() {
        let types = parse(DUMP).unwrap();
        let (size, fields) = types.aggregate("demo::Outer").unwrap();
        assert_eq!(size, 24);
        let summary: Vec<(&str, &str, u64)> = fields
            .iter()
            .map(|f| (f.name.as_str(), f.type_name.as_str(), f.offset))
            .collect();
        assert_eq!(
            summary,
            [
                ("count", "unsigned", 8),
                ("next", "demo::Outer*", 0),
                ("inner", "demo::Inner", 16)
            ]
        );
        assert!(types.is_aggregate("demo::Inner"));
        assert!(!types.is_aggregate("demo::Outer*"));
        assert_eq!(
            types.enumerators("demo::Kind").unwrap(),
            [("First".to_string(), 0), ("Second".to_string(), 1)]
        );
        assert!(types.aggregate("demo::Missing").is_err());
        assert!(parse("no records here\n").is_err());
    }

    #[test]
    fn fixture_entries() {
        let types = parse(DUMP).unwrap();
        let (size, fields) = types.aggregate("demo::Inner").unwrap();
        assert_eq!(
            type_entry("demo::Inner", size, &fields),
            "    \"demo::Inner\": {\"size\": 1, \"fields\": {\n      \"flag\": {\"offset\": 0, \"type\": \"unsigned char\"}}}"
        );
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
