//! The INF consistency check: a primitive file-system driver package that installs rustfsd.sys as
//! a demand-start SERVICE_FILE_SYSTEM_DRIVER, and refers only to sections that exist.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::{self, Result};

const BINARY: &str = "rustfsd.sys";

pub fn check(path: &Path) -> Result<()> {
    let findings = findings(&util::read_text(path)?);
    if findings.is_empty() {
        println!("INF ok: {}", path.display());
        Ok(())
    } else {
        Err(format!("{}:\n  {}", path.display(), findings.join("\n  ")))
    }
}

/// Breaks the INF in one way at a time and requires the check to name each break.
pub fn self_test(path: &Path) -> Result<()> {
    let good = util::read_text(path)?;
    let cases: [(&str, &str, &str, &str); 5] = [
        (
            "service type",
            "ServiceType    = 2",
            "ServiceType    = 1",
            "ServiceType",
        ),
        (
            "binary name",
            "%13%\\rustfsd.sys",
            "%13%\\other.sys",
            "ServiceBinary",
        ),
        (
            "missing service section",
            "[RustFsd.Service]",
            "[RustFsd.Renamed]",
            "RustFsd.Service",
        ),
        (
            "missing copy section",
            "[RustFsd.Files]",
            "[RustFsd.Gone]",
            "RustFsd.Files",
        ),
        (
            "undefined string",
            "%ServiceName%,,",
            "%NoSuchString%,,",
            "NoSuchString",
        ),
    ];
    for (what, from, to, expected) in cases {
        if !good.contains(from) {
            return Err(format!(
                "INF self-test '{what}': the INF has no '{from}' to break"
            ));
        }
        let found = findings(&good.replacen(from, to, 1));
        if !found.iter().any(|f| f.contains(expected)) {
            return Err(format!(
                "INF self-test '{what}': the check did not notice ({found:?})"
            ));
        }
        println!("INF self-test ok: {what} -> {}", found.join("; "));
    }
    Ok(())
}

/// Sections by lower-cased name: each a list of (lower-cased key, value) lines. Keyless lines
/// (file lists) have an empty key.
type Sections = BTreeMap<String, Vec<(String, String)>>;

fn parse(text: &str) -> Sections {
    let mut sections = Sections::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_ascii_lowercase();
            sections.entry(name.clone()).or_default();
            current = Some(name);
        } else if let Some(section) = &current {
            let (key, value) = match line.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim().to_owned()),
                None => (String::new(), line.to_owned()),
            };
            sections
                .entry(section.clone())
                .or_default()
                .push((key, value));
        }
    }
    sections
}

fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

fn value<'a>(sections: &'a Sections, section: &str, key: &str) -> Option<&'a str> {
    sections
        .get(section)?
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn unquote(text: &str) -> String {
    text.trim().trim_matches('"').to_owned()
}

fn findings(text: &str) -> Vec<String> {
    let s = parse(text);
    let mut f = Vec::new();
    let need_section = |f: &mut Vec<String>, name: &str, why: &str| {
        if !s.contains_key(&name.to_ascii_lowercase()) {
            f.push(format!(
                "{why} names section [{name}], which does not exist"
            ));
        }
    };

    // [Version]
    if value(&s, "version", "signature")
        .map(unquote)
        .map(|v| v.to_ascii_uppercase())
        != Some("$WINDOWS NT$".into())
    {
        f.push("[Version] Signature must be \"$WINDOWS NT$\"".into());
    }
    for key in ["provider", "class", "classguid", "driverver", "catalogfile"] {
        if value(&s, "version", key).is_none() {
            f.push(format!("[Version] lacks {key}"));
        }
    }
    if value(&s, "version", "pnplockdown") != Some("1") {
        f.push("[Version] PnpLockdown must be 1".into());
    }

    // Primitive driver shape.
    for forbidden in [
        "defaultinstall",
        "defaultuninstall",
        "defaultuninstall.ntamd64",
        "manufacturer",
    ] {
        if s.contains_key(forbidden) {
            f.push(format!(
                "a primitive driver INF must not have [{forbidden}]"
            ));
        }
    }
    need_section(&mut f, "DefaultInstall.NTamd64", "a primitive driver");

    // Files.
    for copy in value(&s, "defaultinstall.ntamd64", "copyfiles")
        .unwrap_or("")
        .split(',')
    {
        let copy = copy.trim();
        if copy.is_empty() || copy.starts_with('@') {
            continue;
        }
        need_section(&mut f, copy, "CopyFiles");
        let lists_binary = s.get(&copy.to_ascii_lowercase()).is_some_and(|lines| {
            lines
                .iter()
                .any(|(k, v)| k.is_empty() && v.eq_ignore_ascii_case(BINARY))
        });
        if !lists_binary {
            f.push(format!("CopyFiles section [{copy}] does not list {BINARY}"));
        }
    }
    if !s
        .get("sourcedisksfiles")
        .is_some_and(|l| l.iter().any(|(k, _)| k == BINARY))
    {
        f.push(format!("[SourceDisksFiles] does not list {BINARY}"));
    }
    for (key, _) in s.get("destinationdirs").map(Vec::as_slice).unwrap_or(&[]) {
        if key != "defaultdestdir" {
            need_section(&mut f, key, "[DestinationDirs]");
        }
    }

    // The service.
    let add_service = value(&s, "defaultinstall.ntamd64.services", "addservice");
    match add_service.map(|v| v.split(',').map(str::trim).collect::<Vec<_>>()) {
        Some(fields) if fields.len() >= 3 => {
            let service = fields[2].to_ascii_lowercase();
            need_section(&mut f, fields[2], "AddService");
            let expect = |f: &mut Vec<String>, key: &str, wanted: &str| {
                let got = value(&s, &service, &key.to_ascii_lowercase()).map(unquote);
                if got.as_deref().map(str::to_ascii_lowercase) != Some(wanted.to_ascii_lowercase())
                {
                    f.push(format!(
                        "[{}] {key} is {got:?}, must be {wanted}",
                        fields[2]
                    ));
                }
            };
            expect(&mut f, "ServiceType", "2");
            expect(&mut f, "StartType", "3");
            expect(&mut f, "LoadOrderGroup", "File System");
            let binary = value(&s, &service, "servicebinary").unwrap_or("");
            if !binary
                .to_ascii_lowercase()
                .ends_with(&format!("\\{BINARY}"))
            {
                f.push(format!(
                    "[{}] ServiceBinary {binary:?} does not name {BINARY}",
                    fields[2]
                ));
            }
        }
        _ => {
            f.push("[DefaultInstall.NTamd64.Services] needs AddService = name,flags,section".into())
        }
    }

    // Every %token% is a string (numbers are directory ids).
    for token in text.split('%').skip(1).step_by(2) {
        if !token.is_empty()
            && !token.chars().all(|c| c.is_ascii_digit())
            && value(&s, "strings", &token.to_ascii_lowercase()).is_none()
        {
            f.push(format!("%{token}% is not defined in [Strings]"));
        }
    }
    f
}
