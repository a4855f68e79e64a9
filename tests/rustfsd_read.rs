//! IRP_MJ_READ through rustfsd's dispatch, against the NT model (its cache manager included)
//! with the verifier on, on real mke2fs images: every byte of every file read cached and
//! non-cached equals debugfs's dump; the read rules (end of file, zero length, alignment,
//! directories, the volume handle, CurrentByteOffset); and the cache map's lifetime across
//! CLEANUP, CLOSE and the lazy writer.

mod support;

use std::fs;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::Session;
use support::machine::{
    as_backup_operator, finish, machine, open_file, open_ok, open_with, read_all, read_options,
};
use support::walk::{dumped_files, dumped_files_of};

/// What a read may get while its volume is dismounted and its disk pulled (the disk's own
/// status passes through, as FastFAT's FatNormalizeAndRaiseStatus lets it).
const READ_OUTCOMES: &str = "SUCCESS|VOLUME_DISMOUNTED|DEVICE_DOES_NOT_EXIST";

fn every_file_reads_as_debugfs_dumps_it(name: &str) {
    let image = support::image(name);
    let files = dumped_files_of(name);
    assert!(files.len() > 5, "{name}: only {} files", files.len());
    let mut s = machine(&image);
    s.set_trace_enabled(false);
    // Every file, `mode-600` included: read as a backup program reads.
    as_backup_operator(&mut s);
    let mut bytes = 0;
    for (path, expected) in &files {
        let cached = open_file(&mut s, path, false);
        let got = read_all(&mut s, cached, 64 * 1024, &format!("{name} {path} cached"));
        assert!(got == *expected, "{name} {path}: cached read differs");
        s.close_handle(cached);
        let direct = open_file(&mut s, path, true);
        let got = read_all(
            &mut s,
            direct,
            1 << 20,
            &format!("{name} {path} non-cached"),
        );
        assert!(got == *expected, "{name} {path}: non-cached read differs");
        s.close_handle(direct);
        bytes += expected.len();
    }
    assert!(bytes > 0, "{name}: no data read");
    s.run_worker();
    finish(s);
}

#[test]
fn ext4_4k_files_read_as_dumped() {
    every_file_reads_as_debugfs_dumps_it("ext4");
}

#[test]
fn ext4_1k_files_read_as_dumped() {
    every_file_reads_as_debugfs_dumps_it("ext4-1k");
}

#[test]
fn ext2_indirect_files_read_as_dumped() {
    every_file_reads_as_debugfs_dumps_it("ext2");
}

#[test]
fn inline_data_files_read_as_dumped() {
    every_file_reads_as_debugfs_dumps_it("ext4-inline");
}

#[test]
fn read_rules_end_of_file_zero_length_alignment_and_directories() {
    let image = support::image("ext4");
    let hello = dumped_files(&image)
        .into_iter()
        .find(|(path, _)| path == "\\hello.txt")
        .expect("hello.txt in the image")
        .1;
    let size = hello.len() as u64;
    let mut s = machine(&image);
    let h = open_file(&mut s, "\\hello.txt", false);
    let zero = s.read_file(h, Some(0), 0);
    assert_eq!((zero.status, zero.information), (NtStatus::SUCCESS, 0));
    let at_end = s.read_file(h, Some(size), 16);
    assert_eq!(
        (at_end.status, at_end.information),
        (NtStatus::END_OF_FILE, 0)
    );
    let past = s.read_file(h, Some(size + 4096), 16);
    assert_eq!(past.status, NtStatus::END_OF_FILE);
    // A read running past end of file is cut at it.
    let tail = s.read_file(h, Some(1), 1 << 16);
    assert_eq!(tail.status, NtStatus::SUCCESS);
    assert_eq!(tail.data, hello[1..]);
    s.close_handle(h);

    // Non-cached: sector-aligned offset and length only.
    let d = open_file(&mut s, "\\hello.txt", true);
    assert_eq!(
        s.read_file(d, Some(1), 512).status,
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        s.read_file(d, Some(0), 100).status,
        NtStatus::INVALID_PARAMETER
    );
    let aligned = s.read_file(d, Some(0), 512);
    assert_eq!(aligned.status, NtStatus::SUCCESS);
    assert_eq!(aligned.data, hello[..hello.len().min(512)]);
    s.close_handle(d);

    // A directory refuses data reads, as NTFS does.
    let dir = open_ok(&mut s, "\\deep");
    assert_eq!(
        s.read_file(dir, Some(0), 512).status,
        NtStatus::INVALID_DEVICE_REQUEST
    );
    s.close_handle(dir);
    finish(s);
}

#[test]
fn synchronous_reads_advance_the_current_byte_offset() {
    let image = support::image("ext4");
    let files = dumped_files(&image);
    let (path, expected) = files
        .iter()
        .find(|(_, data)| data.len() > 10_000)
        .expect("a file over 10 KB");
    let mut s = machine(&image);
    let h = open_file(&mut s, path, false);
    let mut data = Vec::new();
    loop {
        let io = s.read_file(h, None, 3000);
        if io.status == NtStatus::END_OF_FILE {
            break;
        }
        assert_eq!(io.status, NtStatus::SUCCESS);
        data.extend_from_slice(&io.data);
    }
    assert!(data == *expected, "{path}: sequential reads differ");
    s.close_handle(h);
    finish(s);
}

#[test]
fn volume_handle_reads_sectors_of_the_image() {
    let image = support::image("ext4");
    let raw = fs::read(&image).unwrap();
    let mut s = machine(&image);
    let volume = open_ok(&mut s, "");
    let io = s.read_file(volume, Some(1024), 1024);
    assert_eq!(io.status, NtStatus::SUCCESS);
    assert_eq!(io.data, raw[1024..2048], "the superblock");
    assert_eq!(
        s.read_file(volume, Some(100), 512).status,
        NtStatus::INVALID_PARAMETER
    );
    let end = raw.len() as u64;
    assert_eq!(
        s.read_file(volume, Some(end), 512).status,
        NtStatus::END_OF_FILE
    );
    let last = s.read_file(volume, Some(end - 512), 4096);
    assert_eq!((last.status, last.information), (NtStatus::SUCCESS, 512));
    assert_eq!(last.data, raw[raw.len() - 512..]);
    s.close_handle(volume);
    finish(s);
}

/// Two FILE_OBJECTs of one file cached, closed in both orders, over many seeds: the shared
/// cache map's FILE_OBJECT reference goes inside CcUninitializeCacheMap or later on the lazy
/// writer, whose CLOSE then re-enters (Ext4Fsd's CACHE_MANAGER 0x34 race and seed 000).
#[test]
fn cleanup_racing_the_lazy_writer_over_many_seeds() {
    let image = support::image("ext4");
    let mut inline = 0;
    let mut lazy = 0;
    for seed in 0..100u64 {
        let mut s = machine(&image);
        s.set_trace_enabled(false);
        s.set_choice_seed(seed);
        let a = open_file(&mut s, "\\hello.txt", false);
        let b = open_file(&mut s, "\\hello.txt", false);
        assert_eq!(s.read_file(a, Some(0), 4).status, NtStatus::SUCCESS);
        assert_eq!(s.read_file(b, Some(0), 4).status, NtStatus::SUCCESS);
        if seed % 2 == 0 {
            s.close_handle(a);
            s.close_handle(b);
        } else {
            s.close_handle(b);
            s.close_handle(a);
        }
        let (paging, now, later, alive) = s.cache_counters();
        assert!(paging >= 1, "seed {seed}: no paging read");
        assert_eq!(
            alive, 0,
            "seed {seed}: cleanup waited for the shared map's deletion"
        );
        inline += now;
        lazy += later;
        let findings = s.findings();
        assert!(findings.is_empty(), "seed {seed}: {findings:#?}");
        finish(s);
    }
    assert!(
        inline > 0 && lazy > 0,
        "both orders: {inline} inline, {lazy} lazy"
    );
}

/// A dismount while a cached FILE_OBJECT is open: the read after it fails cleanly, and the
/// CLEANUP and CLOSE that follow release everything.
#[test]
fn dismount_with_a_cache_map_live() {
    let image = support::image("ext4");
    for seed in 0..20u64 {
        let mut s = machine(&image);
        s.set_trace_enabled(false);
        s.set_choice_seed(seed);
        let h = open_file(&mut s, "\\hello.txt", false);
        assert_eq!(s.read_file(h, Some(0), 4).status, NtStatus::SUCCESS);
        support::machine::dismount(&mut s);
        assert_eq!(
            s.read_file(h, Some(0), 4).status,
            NtStatus::VOLUME_DISMOUNTED
        );
        s.close_handle(h);
        s.run_worker();
        finish(s);
    }
}

/// STATUS_DEVICE_DATA_ERROR, what a disk answers for a bad sector.
const DEVICE_DATA_ERROR: NtStatus = NtStatus(0xC000_009C_u32 as i32);

/// Opens `path` cached, then non-cached, reads it through in 64 KiB reads and closes it:
/// (status, offset, data) of every step.
fn open_read_close(s: &mut Session, path: &str) -> Vec<(NtStatus, u64, Vec<u8>)> {
    let mut steps = Vec::new();
    for non_cached in [false, true] {
        let result = open_with(s, path, |request| {
            request.options = read_options(non_cached);
        });
        steps.push((result.status, 0, Vec::new()));
        let Some(handle) = result.handle else {
            continue;
        };
        let mut offset = 0u64;
        loop {
            let io = s.read_file(handle, Some(offset), 64 * 1024);
            steps.push((io.status, offset, io.data.clone()));
            if io.status != NtStatus::SUCCESS {
                break;
            }
            offset += io.information as u64;
        }
        assert_eq!(s.close_handle(handle), NtStatus::SUCCESS);
    }
    steps
}

/// Seed 004: the Nth disk read fails, for every N over a mount + open/read/close scenario
/// (cached and non-cached, so paging reads too): each run ends with a clean error status where
/// the fault lands, correct bytes everywhere else, no verifier finding and nothing leaked.
#[test]
fn failing_the_nth_disk_read_for_every_n() {
    let name = "ext4-1k";
    let files = dumped_files_of(name);
    let (path, expected) = files
        .iter()
        .filter(|(_, data)| data.len() > 100_000 && data.len() < 1_000_000)
        .max_by_key(|(_, data)| data.len())
        .expect("a file between 100 KB and 1 MB");
    let image = support::image(name);
    // The clean run: how many disk reads the mount (first open) takes, and how many in all.
    let (mount_reads, clean_reads) = {
        let mut s = machine(&image);
        let disk = s.disk(support::machine::DISK_NAME).unwrap();
        let before = disk.read_count();
        let root = open_ok(&mut s, "\\");
        s.close_handle(root);
        let mount = disk.read_count() - before;
        let steps = open_read_close(&mut s, path);
        assert!(
            steps
                .iter()
                .all(|(status, _, _)| status.is_success() || *status == NtStatus::END_OF_FILE)
        );
        let count = disk.read_count() - before;
        finish(s);
        (mount, count)
    };
    assert!(
        clean_reads > mount_reads + 10,
        "only {clean_reads} disk reads"
    );
    let mut absorbed = 0;
    let mut retried = 0;
    for n in 1..=clean_reads {
        let mut s = machine(&image);
        s.set_trace_enabled(false);
        let disk = s.disk(support::machine::DISK_NAME).unwrap();
        disk.fail_nth_read(n, DEVICE_DATA_ERROR);
        let mut steps = Vec::new();
        let root = open_with(&mut s, "\\", |_| {});
        steps.push((root.status, 0, Vec::new()));
        if let Some(root) = root.handle {
            s.close_handle(root);
        }
        steps.extend(open_read_close(&mut s, path));
        for (status, offset, data) in &steps {
            if status.is_success() {
                let start = *offset as usize;
                assert!(
                    expected.get(start..start + data.len()) == Some(data.as_slice()),
                    "read {n} failed: wrong bytes at {offset}"
                );
            }
        }
        let surfaced = steps
            .iter()
            .any(|(status, _, _)| status.is_error() && *status != NtStatus::END_OF_FILE);
        // The mount may step over a failed probe (the foreign boot-sector check), and a fast
        // read whose paging read failed answers FALSE, so NtReadFile sends the IRP, whose
        // paging read then succeeds (ReactOS NtReadFile / FsRtlCopyRead); otherwise every
        // failed read must reach the caller as an error.
        let (_, _, retried_as_irp) = s.fast_io_counters();
        assert!(
            surfaced || n <= mount_reads || retried_as_irp > 0,
            "read {n} (after the mount's {mount_reads}) failed but every step succeeded"
        );
        absorbed += u64::from(!surfaced && retried_as_irp == 0);
        retried += u64::from(!surfaced && retried_as_irp > 0);
        disk.clear_faults();
        finish(s);
    }
    eprintln!(
        "fault sweep over {name}{path}: N = 1..={clean_reads} ({mount_reads} mount reads, \
         {absorbed} failures absorbed by the mount, {retried} by a fast read retried as an IRP)"
    );
}

/// Four threads read one file through their own handles (all cached, so one shared cache map)
/// while a fifth dismounts the volume and a sixth pulls the disk (IRP_MN_SURPRISE_REMOVAL),
/// all preempted inside the driver and interleaved with the worker (the lazy writer) as each
/// seed decides: every read returns the file's bytes or an error for the vanished volume, every
/// CLOSE finds its FCB, the REMOVE after the last close finds nothing open, and nothing is left
/// at unload.
#[test]
fn four_readers_a_dismount_and_a_surprise_removal_over_many_seeds() {
    use rustfsd::kernel::model::harness::scenario::{self, Runner};
    use rustfsd::kernel::model::harness::{DiskModel, DriverDescriptor, scheduler};
    let image = fs::read(support::image("ext4")).unwrap();
    let mut script = String::from("load rustfsd => SUCCESS\nopen v \\Device\\Disk0 => SUCCESS\n");
    for t in 1..=4 {
        script.push_str(&format!(
            "open h{t} \\Device\\Disk0\\hello.txt => SUCCESS\n\
             @t{t} read h{t} offset=0 len=512 => {READ_OUTCOMES}\n\
             @t{t} read h{t} offset=7 len=512 => {READ_OUTCOMES}\n\
             @t{t} close h{t} => SUCCESS\n"
        ));
    }
    // After the surprise removal the volume is already gone (FastFAT's FatDismountVolume).
    script.push_str("@t5 dismount v => SUCCESS|VOLUME_DISMOUNTED\n@t5 close v => SUCCESS\n");
    script.push_str("@t6 pnp Disk0 surprise-remove => SUCCESS\n");
    script.push_str("run-worker => SUCCESS\npnp Disk0 remove => SUCCESS\n");
    script.push_str("unload rustfsd => SUCCESS\nexpect-findings 0\n");
    let steps = scenario::parse(&script).unwrap();
    let (mut inline, mut lazy, mut removed_first) = (0, 0, 0);
    for seed in 0..300u64 {
        let mut session = Session::new();
        session.add_disk("Disk0", DiskModel::from_bytes(image.clone()));
        session.set_trace_enabled(false);
        let mut runner = Runner::new(session, vec![DriverDescriptor::rustfsd()]);
        let run = scheduler::run(&mut runner, &steps, seed);
        let reports: Vec<&str> = run.reports.iter().map(|r| r.text.as_str()).collect();
        assert!(run.ok, "seed {seed}:\n{}", reports.join("\n"));
        let (_, now, later, alive) = runner.session.cache_counters();
        assert_eq!(alive, 0, "seed {seed}");
        inline += now;
        lazy += later;
        if reports
            .iter()
            .any(|r| r.contains("dismount") && r.contains("VOLUME_DISMOUNTED"))
        {
            removed_first += 1;
        }
    }
    assert!(inline > 0 && lazy > 0, "{inline} inline, {lazy} lazy");
    assert!(
        removed_first > 0 && removed_first < 300,
        "the removal came before the dismount in {removed_first} of 300 seeds"
    );
}
