//! Where `\Device\DiskN` of a script goes on a real system: `--drive E:`, `--volume
//! \\?\Volume{...}` or `--root DIR`, in the order given (the first is `\Device\Disk0`).

/// The NT path prefix of a `--drive` letter: `E:` → `\??\E:` (the volume; `\??\E:\` its root).
pub fn drive(letter: &str) -> Result<String, String> {
    let letter = letter.trim_end_matches('\\');
    let bytes = letter.as_bytes();
    if bytes.len() != 2 || !bytes[0].is_ascii_alphabetic() || bytes[1] != b':' {
        return Err(format!(
            "--drive wants a letter and a colon (E:), not {letter}"
        ));
    }
    Ok(format!(r"\??\{letter}"))
}

/// The NT path prefix of a `--volume \\?\Volume{GUID}\` (mountvol's form; the trailing
/// backslash is optional): `\??\Volume{GUID}`.
pub fn volume(name: &str) -> Result<String, String> {
    let name = name.trim_end_matches('\\');
    match name
        .strip_prefix(r"\\?\")
        .or_else(|| name.strip_prefix(r"\??\"))
    {
        Some(rest) if rest.starts_with("Volume{") && rest.ends_with('}') => {
            Ok(format!(r"\??\{rest}"))
        }
        _ => Err(format!(
            r"--volume wants \\?\Volume{{GUID}} (as mountvol lists it), not {name}"
        )),
    }
}

/// The NT path prefix of an absolute Win32 path (`C:\dir`, `\\?\C:\dir`): `\??\C:\dir`.
pub fn directory(absolute: &str) -> String {
    let path = absolute.trim_end_matches('\\');
    match path.strip_prefix(r"\\?\") {
        Some(rest) => format!(r"\??\{rest}"),
        None => format!(r"\??\{path}"),
    }
}

/// `path` with a leading `\Device\DiskN` (alone or followed by `\`) replaced by disk N's prefix;
/// any other path (or a disk with no mapping) as written.
#[cfg_attr(not(target_os = "windows"), allow(dead_code))] // the NT executor's (and tests')
pub fn map(path: &str, disks: &[String]) -> String {
    let Some(rest) = path.strip_prefix(r"\Device\Disk") else {
        return String::from(path);
    };
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, tail) = rest.split_at(digits);
    if number.is_empty() || !(tail.is_empty() || tail.starts_with('\\')) {
        return String::from(path);
    }
    match number.parse::<usize>().ok().and_then(|n| disks.get(n)) {
        Some(prefix) => format!("{prefix}{tail}"),
        None => String::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_map_onto_their_prefixes_and_other_paths_stay() {
        let disks = [drive("E:").unwrap(), directory(r"Z:\tmp\tree\")];
        assert_eq!(map(r"\Device\Disk0", &disks), r"\??\E:");
        assert_eq!(map(r"\Device\Disk0\", &disks), r"\??\E:\");
        assert_eq!(map(r"\Device\Disk0\a b\c", &disks), r"\??\E:\a b\c");
        assert_eq!(map(r"\Device\Disk1\x", &disks), r"\??\Z:\tmp\tree\x");
        assert_eq!(map(r"\Device\Disk2\x", &disks), r"\Device\Disk2\x");
        assert_eq!(map(r"\Device\Disk01x", &disks), r"\Device\Disk01x");
        assert_eq!(map(r"\Device\Disk", &disks), r"\Device\Disk");
        assert_eq!(map(r"\RustFsd", &disks), r"\RustFsd");
        assert_eq!(map("lost+found", &disks), "lost+found");
    }

    #[test]
    fn volume_drive_and_directory_forms() {
        let guid = "Volume{0b1c2d3e-0000-0000-0000-100000000000}";
        assert_eq!(
            volume(&format!(r"\\?\{guid}\")).unwrap(),
            format!(r"\??\{guid}")
        );
        assert_eq!(
            volume(&format!(r"\\?\{guid}")).unwrap(),
            format!(r"\??\{guid}")
        );
        assert!(volume(r"\\?\C:\").is_err());
        assert_eq!(drive(r"e:\").unwrap(), r"\??\e:");
        assert!(drive("E").is_err() && drive("EF:").is_err());
        assert_eq!(directory(r"\\?\C:\x\"), r"\??\C:\x");
    }
}
