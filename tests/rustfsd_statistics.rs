//! FSCTL_FILESYSTEM_GET_STATISTICS through rustfsd's dispatch, in the NT model with the
//! verifier on, on a real mke2fs image: the counters against what can be counted without the
//! driver (the model disk's reads, the model Cc's paging reads, debugfs's block maps and file
//! sizes), and the buffer rules (MS-FSA 2.1.5.10.7, FastFAT's FatGetStatistics).
//! Before the FSCTL was answered, every query got INVALID_DEVICE_REQUEST.

mod support;

use std::sync::Arc;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::{DiskModel, DriverDescriptor, Handle, Session};
use support::block_map::debugfs_extents;
use support::machine::{DISK_NAME, disk, finish, open_file, open_ok, read_all};

const FSCTL_FILESYSTEM_GET_STATISTICS: u32 = 0x0009_0060;
/// sizeof(FILESYSTEM_STATISTICS), and one processor's entry padded to 64 bytes.
const STATISTICS_SIZE: usize = 56;
const ENTRY: usize = 64;
/// The FileSystemType rustfsd documents as its own (docs/requests.md).
const TYPE_EXT: u16 = 0x8001;

/// The read counters of FILESYSTEM_STATISTICS, summed over the processors.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Counters {
    user_file_reads: u32,
    user_file_read_bytes: u32,
    user_disk_reads: u32,
    metadata_reads: u32,
    metadata_read_bytes: u32,
    metadata_disk_reads: u32,
}

impl Counters {
    fn since(self, before: Counters) -> Counters {
        Counters {
            user_file_reads: self.user_file_reads - before.user_file_reads,
            user_file_read_bytes: self.user_file_read_bytes - before.user_file_read_bytes,
            user_disk_reads: self.user_disk_reads - before.user_disk_reads,
            metadata_reads: self.metadata_reads - before.metadata_reads,
            metadata_read_bytes: self.metadata_read_bytes - before.metadata_read_bytes,
            metadata_disk_reads: self.metadata_disk_reads - before.metadata_disk_reads,
        }
    }

    fn disk_reads(self) -> u64 {
        u64::from(self.user_disk_reads) + u64::from(self.metadata_disk_reads)
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// The whole answer, checked entry by entry (header, no writes, zero padding), and the
/// counters of each processor.
fn statistics(s: &mut Session, h: Handle, processors: usize) -> Vec<Counters> {
    let io = s.fs_control_file(h, FSCTL_FILESYSTEM_GET_STATISTICS, &[], 4096);
    assert_eq!(io.status, NtStatus::SUCCESS);
    assert_eq!(io.information, processors * ENTRY);
    let data = &io.data[..io.information];
    data.chunks(ENTRY)
        .map(|entry| {
            assert_eq!(u16_at(entry, 0), TYPE_EXT, "FileSystemType");
            assert_eq!(u16_at(entry, 2), 1, "Version");
            assert_eq!(
                u32_at(entry, 4) as usize,
                processors * ENTRY,
                "complete size"
            );
            for write_counter in [20, 24, 28, 44, 48, 52] {
                assert_eq!(u32_at(entry, write_counter), 0, "a write counter");
            }
            assert!(entry[STATISTICS_SIZE..].iter().all(|&b| b == 0), "padding");
            Counters {
                user_file_reads: u32_at(entry, 8),
                user_file_read_bytes: u32_at(entry, 12),
                user_disk_reads: u32_at(entry, 16),
                metadata_reads: u32_at(entry, 32),
                metadata_read_bytes: u32_at(entry, 36),
                metadata_disk_reads: u32_at(entry, 40),
            }
        })
        .collect()
}

fn total(entries: &[Counters]) -> Counters {
    entries.iter().fold(Counters::default(), |sum, c| Counters {
        user_file_reads: sum.user_file_reads + c.user_file_reads,
        user_file_read_bytes: sum.user_file_read_bytes + c.user_file_read_bytes,
        user_disk_reads: sum.user_disk_reads + c.user_disk_reads,
        metadata_reads: sum.metadata_reads + c.metadata_reads,
        metadata_read_bytes: sum.metadata_read_bytes + c.metadata_read_bytes,
        metadata_disk_reads: sum.metadata_disk_reads + c.metadata_disk_reads,
    })
}

/// A machine with `processors` processors and tiny-ext4 attached; the disk model for its
/// read count.
fn machine_with_processors(processors: u32) -> (Session, Arc<DiskModel>) {
    let mut s = Session::new();
    s.set_processor_count(processors);
    let disk = s.add_disk(DISK_NAME, disk(&support::image("tiny-ext4")));
    s.load_driver(DriverDescriptor::rustfsd()).unwrap();
    (s, disk)
}

/// The disk reads a non-cached read of a whole file in `chunk`-byte requests makes for its
/// contents, from debugfs's block map: one per mapped extent piece inside each request (holes
/// read as zeros, nothing from the disk).
fn expected_data_disk_reads(path: &str, size: u64, chunk: u64, block_size: u64) -> u32 {
    let image = support::image("tiny-ext4");
    let extents = debugfs_extents(&image, &[path.to_owned()], block_size)
        .pop()
        .unwrap()
        .unwrap_or_default();
    let mut reads = 0;
    let mut start = 0;
    while start < size {
        let end = (start + chunk).min(size);
        reads += extents
            .iter()
            .filter(|e| e.lcn >= 0)
            .filter(|e| e.start * block_size < end && e.next_vcn * block_size > start)
            .count() as u32;
        start = end;
    }
    reads
}

/// Every read the disk saw is counted once, as file contents or as metadata; the file
/// contents' share equals what debugfs's block map predicts for non-cached reads, and the
/// paging reads Cc sent for cached ones; the counters are spread over the processors the
/// reads ran on and add up.
#[test]
fn statistics_count_every_disk_read_as_data_or_metadata() {
    let processors = 3;
    let (mut s, disk) = machine_with_processors(processors);
    let volume = open_ok(&mut s, "");
    let block_size = u64::from(support::mount("tiny-ext4").block_size());
    let mut now = total(&statistics(&mut s, volume, processors as usize));
    assert!(
        now.metadata_reads > 0,
        "the mount read the superblock: {now:?}"
    );
    let mut disk_reads = disk.read_count();
    let mut expected_bytes = 0;
    let mut expected_requests = 0;
    let mut expected_data = 0;
    let mut metadata = Counters::default();
    for (path, size) in [("/data", 20_000u64), ("/frag", 204_800), ("/hello.txt", 13)] {
        let nt_path = path.replace('/', "\\");
        let h = open_file(&mut s, &nt_path, true);
        let content = read_all(&mut s, h, 65_536, path);
        assert_eq!(content.len() as u64, size, "{path}");
        s.close_handle(h);
        let after = total(&statistics(&mut s, volume, processors as usize));
        let delta = after.since(now);
        assert_eq!(
            delta.disk_reads(),
            disk.read_count() - disk_reads,
            "{path}: every disk read counted once: {delta:?}"
        );
        assert_eq!(
            delta.user_disk_reads,
            expected_data_disk_reads(path, size, 65_536, block_size),
            "{path}: disk reads of the contents"
        );
        assert_eq!(delta.user_file_read_bytes as u64, size, "{path}");
        assert_eq!(
            delta.user_file_reads as u64,
            size.div_ceil(65_536),
            "{path}"
        );
        assert_eq!(
            delta.metadata_reads, delta.metadata_disk_reads,
            "{path}: one disk read per metadata read in the model"
        );
        expected_bytes += size;
        expected_requests += size.div_ceil(65_536);
        expected_data += delta.user_disk_reads;
        metadata.metadata_reads += delta.metadata_reads;
        now = after;
        disk_reads = disk.read_count();
    }
    assert!(
        metadata.metadata_reads > 0,
        "opens read inodes and directories"
    );

    // Cached reads: Cc's paging reads are the user file reads.
    let (paging_before, ..) = s.cache_counters();
    let h = open_file(&mut s, "\\frag", false);
    assert_eq!(read_all(&mut s, h, 4096, "frag cached").len(), 204_800);
    s.close_handle(h);
    let (paging_after, ..) = s.cache_counters();
    let entries = statistics(&mut s, volume, processors as usize);
    let delta = total(&entries).since(now);
    assert_eq!(
        u64::from(delta.user_file_reads),
        paging_after - paging_before,
        "one user file read per paging read"
    );
    assert!(delta.user_file_read_bytes >= 204_800, "{delta:?}");
    assert_eq!(delta.disk_reads(), disk.read_count() - disk_reads);
    assert!(
        entries.iter().filter(|c| c.metadata_reads > 0).count() > 1,
        "reads ran on several processors: {entries:?}"
    );
    assert_eq!(
        total(&entries).user_file_read_bytes as u64,
        expected_bytes + u64::from(delta.user_file_read_bytes)
    );
    assert!(expected_requests > 0 && expected_data > 0);
    s.close_handle(volume);
    finish(s);
}

/// A processor added after the mount (hot add) shares an entry: the answer keeps the entries
/// sized at mount, and the reads still count.
#[test]
fn a_processor_added_after_the_mount_shares_an_entry() {
    let (mut s, disk) = machine_with_processors(1);
    let volume = open_ok(&mut s, "");
    let before = total(&statistics(&mut s, volume, 1));
    let disk_reads = disk.read_count();
    s.set_processor_count(4);
    let h = open_file(&mut s, "\\data", true);
    read_all(&mut s, h, 65_536, "data");
    s.close_handle(h);
    let delta = total(&statistics(&mut s, volume, 1)).since(before);
    assert_eq!(delta.disk_reads(), disk.read_count() - disk_reads);
    assert_eq!(delta.user_file_read_bytes, 20_000);
    s.close_handle(volume);
    finish(s);
}

/// Output shorter than FILESYSTEM_STATISTICS: BUFFER_TOO_SMALL, nothing; shorter than the
/// answer: what fits, BUFFER_OVERFLOW, Information = the length; else the whole answer. On a
/// volume, file and directory open alike (MS-FSA: any open), input ignored.
#[test]
fn statistics_buffer_rules() {
    let processors = 2;
    let (mut s, _disk) = machine_with_processors(processors);
    let handles = [
        open_ok(&mut s, ""),
        open_ok(&mut s, "\\hello.txt"),
        open_ok(&mut s, "\\dir"),
    ];
    let whole = processors as usize * ENTRY;
    for &h in &handles {
        let full = s.fs_control_file(h, FSCTL_FILESYSTEM_GET_STATISTICS, &[1; 8], 4096);
        assert_eq!((full.status, full.information), (NtStatus::SUCCESS, whole));
        for length in 0..=whole + 8 {
            let io = s.fs_control_file(h, FSCTL_FILESYSTEM_GET_STATISTICS, &[], length as u32);
            let expected = if length < STATISTICS_SIZE {
                (NtStatus::BUFFER_TOO_SMALL, 0)
            } else if length < whole {
                (NtStatus::BUFFER_OVERFLOW, length)
            } else {
                (NtStatus::SUCCESS, whole)
            };
            assert_eq!((io.status, io.information), expected, "length {length}");
            // Answering reads nothing from the disk, so the counters stand still.
            assert_eq!(
                io.data[..io.information],
                full.data[..io.information],
                "length {length}"
            );
        }
    }
    for h in handles {
        s.close_handle(h);
    }
    finish(s);
}
