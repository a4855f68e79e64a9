//! The oracle for block maps: `debugfs stat`'s EXTENTS / BLOCKS lists, turned into the extents
//! a retrieval-pointers query reports (docs/requests.md): holes as LCN -1, physically
//! contiguous blocks one extent whether written or not, a hole up to the end of file.

use std::path::Path;

/// One extent: clusters `start .. next_vcn` at `lcn` (-1 for a hole).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Extent {
    pub start: u64,
    pub next_vcn: u64,
    pub lcn: i64,
}

/// The extents of each path (`None`: no blocks at all, STATUS_END_OF_FILE), as debugfs sees
/// them on `image` with blocks of `block_size` bytes.
pub fn debugfs_extents(
    image: &Path,
    paths: &[String],
    block_size: u64,
) -> Vec<Option<Vec<Extent>>> {
    let requests: Vec<String> = paths.iter().map(|p| format!("stat \"{p}\"")).collect();
    super::debugfs(image, &requests)
        .iter()
        .zip(paths)
        .map(|(out, path)| extents_of_stat(&String::from_utf8_lossy(out), block_size, path))
        .collect()
}

/// Parses one `debugfs stat` output.
pub fn extents_of_stat(text: &str, block_size: u64, path: &str) -> Option<Vec<Extent>> {
    let size: u64 = text
        .split("Size: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no size in stat {path}: {text}"));
    let list = text
        .split_once("EXTENTS:\n")
        .or_else(|| text.split_once("BLOCKS:\n"))
        .map_or("", |(_, rest)| rest.split("TOTAL:").next().unwrap_or(""));
    // (logical first, count, physical first)
    let mut runs: Vec<(u64, u64, u64)> = Vec::new();
    for entry in list.split(", ").map(str::trim).filter(|e| !e.is_empty()) {
        let (logical, physical) = entry
            .strip_prefix('(')
            .and_then(|e| e.split_once("):"))
            .unwrap_or_else(|| panic!("stat {path}: entry {entry:?}"));
        let logical = logical.trim_end_matches("[u]");
        let Some(first_char) = logical.chars().next() else {
            continue;
        };
        if !first_char.is_ascii_digit() {
            continue; // (IND), (DIND), (TIND), (ETBn): metadata blocks
        }
        let range = |s: &str| -> (u64, u64) {
            match s.split_once('-') {
                Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                None => (s.parse().unwrap(), s.parse().unwrap()),
            }
        };
        let (l0, l1) = range(logical);
        let (p0, p1) = range(physical.trim());
        assert_eq!(l1 - l0, p1 - p0, "stat {path}: {entry}");
        runs.push((l0, l1 - l0 + 1, p0));
    }
    runs.sort();
    let inline = text.contains("Size of inline data");
    let fast_link = text.contains("Fast link dest");
    let size_end = size.div_ceil(block_size);
    if inline || fast_link || (runs.is_empty() && size_end == 0) {
        return None;
    }
    let mut extents: Vec<Extent> = Vec::new();
    let mut at = 0u64;
    for (logical, len, physical) in runs {
        if logical > at {
            extents.push(Extent {
                start: at,
                next_vcn: logical,
                lcn: -1,
            });
        }
        match extents.last_mut() {
            Some(last)
                if last.lcn >= 0
                    && last.next_vcn == logical
                    && last.lcn as u64 + (last.next_vcn - last.start) == physical =>
            {
                last.next_vcn = logical + len;
            }
            _ => extents.push(Extent {
                start: logical,
                next_vcn: logical + len,
                lcn: physical as i64,
            }),
        }
        at = logical + len;
    }
    if size_end > at {
        extents.push(Extent {
            start: at,
            next_vcn: size_end,
            lcn: -1,
        });
    }
    Some(extents)
}
