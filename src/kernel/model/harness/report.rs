//! How a step's result is printed: one line per step (`ok`/`FAIL`/`skip`, the line number, the
//! verb, the status, `info=`, the data's SHA-256 prefix), the names a directory query returned,
//! and the verifier's findings under the step. Shared by the model runner and `filetest.exe`
//! on the real NT API, so that their reports can be diffed (docs/scenarios.md).

use std::format;
use std::string::String;
use std::vec::Vec;

use super::scenario::{Arg, Step, StepReport, sha256_hex, status_name};
use crate::info::layout::{FILE_NAMES_INFORMATION, directory_name_offset};
use crate::kernel::NtStatus;

/// What a step produced.
pub struct Outcome {
    pub status: NtStatus,
    /// IoStatus.Information, for the steps that have one.
    pub information: Option<usize>,
    /// The data returned (read, queries, FSCTL output).
    pub data: Option<Vec<u8>>,
}

impl Outcome {
    pub fn status(status: NtStatus) -> Outcome {
        Outcome {
            status,
            information: None,
            data: None,
        }
    }
}

/// Checks a step's result against its expectation and describes it; `findings` are the
/// verifier's findings the step caused (none outside the model).
pub fn step_report(
    step: &Step,
    result: Result<Outcome, String>,
    findings: &[String],
) -> StepReport {
    let mut ok = true;
    let mut text = format!("line {:>3} {:<14}", step.line, step.verb);
    let mut names = None;
    match result {
        Err(error) => {
            ok = false;
            text.push_str(&format!(" ERROR {error}"));
        }
        Ok(outcome) => {
            text.push_str(&format!(" {}", status_name(outcome.status)));
            if let Some(information) = outcome.information {
                text.push_str(&format!(" info={information}"));
            }
            let data = outcome.data.as_deref().filter(|d| !d.is_empty());
            let digest = data.map(sha256_hex);
            if let Some(digest) = &digest {
                text.push_str(&format!(" sha256={}", &digest[..16]));
            }
            if step.verb == "query-dir" {
                names = data.map(|data| listed_names(directory_class(step), data));
            }
            let expected = &step.expect.status;
            if !expected.is_empty() && !expected.contains(&outcome.status) {
                ok = false;
                let names: Vec<String> = expected.iter().map(|s| status_name(*s)).collect();
                text.push_str(&format!(" (expected {})", names.join("|")));
            }
            if let Some(expected) = step.expect.information
                && outcome.information != Some(expected)
            {
                ok = false;
                text.push_str(&format!(" (expected info={expected})"));
            }
            if let Some(expected) = &step.expect.sha256
                && !digest
                    .as_deref()
                    .is_some_and(|d| d.starts_with(expected.as_str()))
            {
                ok = false;
                text.push_str(&format!(" (expected sha256={expected})"));
            }
        }
    }
    if let Some(names) = names {
        text.push_str(&format!("\n      names:{names}"));
    }
    for finding in findings {
        text.push_str(&format!("\n      {finding}"));
    }
    StepReport {
        line: step.line,
        text: format!("{} {text}", if ok { "ok  " } else { "FAIL" }),
        ok,
    }
}

/// A step this executor cannot run (`why`: e.g. "model only"): never a pass, counted apart.
pub fn skipped_report(step: &Step, why: &str) -> StepReport {
    StepReport {
        line: step.line,
        text: format!("skip line {:>3} {:<14} {why}", step.line, step.verb),
        ok: true,
    }
}

/// The `class=` of a query-dir step (1, FileDirectoryInformation, by default).
fn directory_class(step: &Step) -> u32 {
    step.args
        .iter()
        .find_map(|arg| match arg {
            Arg::Named(name, value) if name == "class" => super::scenario::parse_number(value),
            _ => None,
        })
        .and_then(|class| u32::try_from(class).ok())
        .unwrap_or(1)
}

/// The names in a directory query's buffer, each after a blank, in buffer order; characters
/// other than printable ASCII (and blanks, `{`) written as `{U+XXXX}` as scripts write them.
/// An entry that runs past the buffer ends the list with ` {truncated}`.
fn listed_names(class: u32, data: &[u8]) -> String {
    let mut names = String::new();
    let Some(name_offset) = directory_name_offset(class) else {
        return String::from(" {not a directory class}");
    };
    let length_offset = if class == FILE_NAMES_INFORMATION {
        8
    } else {
        60
    };
    let mut entry = 0usize;
    loop {
        let Some(name) = entry_name(data, entry, length_offset, name_offset) else {
            names.push_str(" {truncated}");
            return names;
        };
        names.push(' ');
        for c in char::decode_utf16(name) {
            match c {
                Ok(c) if c.is_ascii_graphic() && c != '{' => names.push(c),
                Ok(c) => names.push_str(&format!("{{U+{:04X}}}", c as u32)),
                Err(unpaired) => {
                    names.push_str(&format!("{{U+{:04X}}}", unpaired.unpaired_surrogate()))
                }
            }
        }
        match read_u32(data, entry) {
            Some(0) | None => return names,
            Some(next) => match entry.checked_add(next as usize) {
                Some(next) if next < data.len() => entry = next,
                _ => {
                    names.push_str(" {truncated}");
                    return names;
                }
            },
        }
    }
}

/// The UTF-16 name of the entry at `entry`, if it lies inside `data`.
fn entry_name(
    data: &[u8],
    entry: usize,
    length_offset: usize,
    name_offset: usize,
) -> Option<Vec<u16>> {
    let length = read_u32(data, entry.checked_add(length_offset)?)? as usize;
    let start = entry.checked_add(name_offset)?;
    let bytes = data.get(start..start.checked_add(length)?)?;
    Some(
        bytes
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect(),
    )
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Runs `steps` in file order through `run_step`, printing each report. True if all held.
pub fn run_in_order(
    steps: &[Step],
    mut run_step: impl FnMut(&Step) -> StepReport,
    out: &mut dyn FnMut(&str),
) -> bool {
    let mut ok = true;
    for step in steps {
        let report = run_step(step);
        ok &= report.ok;
        out(&report.text);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_entry(next: u32, name: &str) -> Vec<u8> {
        let units: Vec<u16> = name.encode_utf16().collect();
        let mut entry = Vec::new();
        entry.extend_from_slice(&next.to_le_bytes());
        entry.extend_from_slice(&0u32.to_le_bytes());
        entry.extend_from_slice(&((units.len() * 2) as u32).to_le_bytes());
        for unit in units {
            entry.extend_from_slice(&unit.to_le_bytes());
        }
        entry
    }

    #[test]
    fn names_are_listed_in_buffer_order_with_escapes() {
        let mut data = names_entry(16, "a");
        data.resize(16, 0);
        data.extend(names_entry(0, "b c{\u{e9}"));
        assert_eq!(
            listed_names(FILE_NAMES_INFORMATION, &data),
            " a b{U+0020}c{U+007B}{U+00E9}"
        );
    }

    #[test]
    fn a_cut_buffer_ends_the_list_as_truncated() {
        let mut data = names_entry(16, "abc");
        data.truncate(14);
        assert_eq!(listed_names(FILE_NAMES_INFORMATION, &data), " {truncated}");
        let mut data = names_entry(400, "a");
        data.resize(16, 0);
        assert_eq!(
            listed_names(FILE_NAMES_INFORMATION, &data),
            " a {truncated}"
        );
        assert_eq!(listed_names(4, &data), " {not a directory class}");
    }

    #[test]
    fn a_skipped_step_is_labelled_and_not_failed() {
        let steps = super::super::scenario::parse("sysref r h\n").unwrap();
        let report = skipped_report(&steps[0], "model only");
        assert!(report.ok);
        assert_eq!(report.text, "skip line   1 sysref         model only");
    }
}
