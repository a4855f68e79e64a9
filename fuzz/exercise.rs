//! The body of the `mount_walk` fuzz target, shared with the stable test suite
//! (`tests/ext4_fuzz_seeds.rs` runs it over every seed so it is exercised on every commit).
//!
//! Mount the bytes as a volume, walk the tree breadth-first, stat everything, look every name
//! up again, read files at a few offsets, read symlinks and extended attributes, map blocks, and restart directory
//! listings from cursors. Any panic, hang or runaway allocation is a bug in the reader. Work
//! per input is bounded here (entries, directory sizes, bytes read), not by the reader's
//! caps, so that each execution stays in the millisecond range.

use rustfsd::ext4::xattr::name_index;
use rustfsd::ext4::{FileReader, FileType, MemDevice, Volume};

const MAX_ENTRIES: usize = 400;
const MAX_DIR_BYTES: u64 = 1 << 20;
const MAX_DEPTH: usize = 8;

pub fn exercise(data: &[u8]) {
    let Ok(vol) = Volume::mount(MemDevice(data)) else {
        return;
    };
    let _ = vol.info();
    let Ok(root) = vol.root() else { return };
    // Cheap deterministic "randomness" from the input.
    let mut seed = data.len() as u64 ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut buf = vec![0u8; 64 << 10];
    let mut queue = std::collections::VecDeque::new();
    let mut seen_dirs = std::collections::HashSet::new();
    queue.push_back((root, 0usize));
    let mut entries = 0usize;
    while let Some((dir, depth)) = queue.pop_front() {
        if !seen_dirs.insert(dir.ino()) || dir.size() > MAX_DIR_BYTES {
            continue;
        }
        let Ok(mut rd) = vol.read_dir(&dir, 0) else {
            continue;
        };
        let mut names = Vec::new();
        let mut cursors = Vec::new();
        while let Ok(Some(e)) = rd.next_entry() {
            entries += 1;
            cursors.push(e.offset);
            names.push((e.name.to_vec(), e.ino));
            if entries > MAX_ENTRIES {
                break;
            }
        }
        // Restart from a few cursors (and from one that is not an entry boundary).
        for c in cursors
            .iter()
            .take(3)
            .copied()
            .chain([next() % (dir.size() + 1)])
        {
            if let Ok(mut rd) = vol.read_dir(&dir, c) {
                let _ = rd.next_entry();
            }
        }
        for (name, ino) in names {
            let _ = vol.lookup(&dir, &name);
            if name == b"." || name == b".." {
                continue;
            }
            let Ok(inode) = vol.inode(ino) else { continue };
            let st = vol.stat(&inode);
            for index in [name_index::USER, name_index::SYSTEM] {
                let _ = vol.xattrs(&inode, index);
            }
            match st.file_type {
                FileType::Directory if depth < MAX_DEPTH => queue.push_back((inode, depth + 1)),
                FileType::Regular => {
                    let size = inode.size();
                    let Ok(copy) = inode.try_clone() else {
                        continue;
                    };
                    let mut rdr = FileReader::new(copy);
                    for off in [0, size.saturating_sub(1), next() % (size + 1), next()] {
                        let len = (next() % buf.len() as u64) as usize;
                        let _ = rdr.read_at(&vol, off, &mut buf[..len]);
                    }
                    let bs = u64::from(vol.block_size());
                    let _ = vol.map_block(&inode, next() % (size / bs + 2));
                }
                FileType::Symlink => {
                    let _ = vol.read_link(&inode);
                }
                _ => {}
            }
            if entries > MAX_ENTRIES {
                return;
            }
        }
    }
}
