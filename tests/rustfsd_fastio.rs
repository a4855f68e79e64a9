//! Fast I/O through rustfsd's FAST_IO_DISPATCH, against the NT model with the verifier on, on
//! real mke2fs images: FsRtlCopyRead reads equal debugfs's dump; Header.IsFastIoPossible
//! follows byte-range locks (questionable: FastIoCheckIfPossible refuses a conflicting read,
//! which then takes the IRP path and gets FILE_LOCK_CONFLICT) and the dismount (not possible:
//! reads fall back to the IRP and get VOLUME_DISMOUNTED); the fast queries answer what the IRP
//! answers; the fast lock routines keep FsRtl's lock rules. The I/O manager tries the fast path
//! or the IRP as the seed decides, so every test runs over many seeds. MDL reads (IRP_MN_MDL,
//! IRP_MN_COMPLETE_MDL) return the dumped bytes, and a chain never given back is a finding.

mod support;

use rustfsd::kernel::model::harness::FindingKind;
use rustfsd::kernel::model::harness::locks::LockRequest;
use rustfsd::kernel::{FastIoPossible, NtStatus};
use support::machine::{
    DISK_NAME, as_backup_operator, dismount, finish, machine, open_file, open_ok, read_all,
};
use support::walk::dumped_files_of;

const SEEDS: u64 = 24;

/// A file of `name` of at least `min` bytes, and its dump.
fn file_over(name: &str, min: usize) -> (String, Vec<u8>) {
    dumped_files_of(name)
        .into_iter()
        .filter(|(_, data)| data.len() >= min)
        .min_by_key(|(_, data)| data.len())
        .expect("a file large enough")
}

fn fast_reads_equal_the_dump(name: &str) {
    let image = support::image(name);
    let files = dumped_files_of(name);
    let mut s = machine(&image);
    s.set_trace_enabled(false);
    // Every file, `mode-600` included: read as a backup program reads.
    as_backup_operator(&mut s);
    for (seed, (path, expected)) in files.iter().enumerate() {
        s.set_choice_seed(seed as u64 + 1);
        let h = open_file(&mut s, path, false);
        // The first read is an IRP (no cache map yet); later ones may be fast.
        let got = read_all(&mut s, h, 4096, &format!("{name} {path}"));
        assert!(got == *expected, "{name} {path}: fast/IRP reads differ");
        let again = read_all(&mut s, h, 1000, &format!("{name} {path} again"));
        assert!(again == *expected, "{name} {path}: cached reads differ");
        s.close_handle(h);
    }
    let (calls, taken, _) = s.fast_io_counters();
    assert!(
        taken > 100,
        "{name}: only {taken} of {calls} fast reads taken"
    );
    s.run_worker();
    finish(s);
}

#[test]
fn fast_reads_equal_debugfs_dump_ext4() {
    fast_reads_equal_the_dump("ext4");
}

#[test]
fn fast_reads_equal_debugfs_dump_ext4_1k() {
    fast_reads_equal_the_dump("ext4-1k");
}

/// Synchronous reads at the current position advance it the same way on both paths.
#[test]
fn fast_reads_advance_the_current_byte_offset() {
    let (path, expected) = file_over("ext4", 20_000);
    let image = support::image("ext4");
    for seed in 0..SEEDS {
        let mut s = machine(&image);
        s.set_choice_seed(seed);
        let h = open_file(&mut s, &path, false);
        let mut data = Vec::new();
        loop {
            let io = s.read_file(h, None, 3000);
            if io.status == NtStatus::END_OF_FILE {
                break;
            }
            assert_eq!(io.status, NtStatus::SUCCESS, "seed {seed}");
            data.extend_from_slice(&io.data);
        }
        assert!(data == expected, "seed {seed}: {path} differs");
        s.close_handle(h);
        finish(s);
    }
}

#[test]
fn a_lock_makes_fast_io_questionable_and_a_conflicting_read_takes_the_irp() {
    let (path, expected) = file_over("ext4", 3 * 4096);
    let image = support::image("ext4");
    let mut fast_refused = 0;
    for seed in 0..SEEDS {
        let mut s = machine(&image);
        s.set_choice_seed(seed);
        let locker = open_file(&mut s, &path, false);
        let reader = open_file(&mut s, &path, false);
        assert_eq!(s.fast_io_possible(reader), Some(FastIoPossible::Possible));
        // The reader's cache map exists from its first read on.
        assert_eq!(s.read_file(reader, Some(0), 10).status, NtStatus::SUCCESS);
        assert_eq!(
            s.lock_file(locker, LockRequest::exclusive(0, 4096)),
            NtStatus::SUCCESS
        );
        assert_eq!(
            s.fast_io_possible(reader),
            Some(FastIoPossible::Questionable),
            "seed {seed}"
        );
        let blocked = s.read_file(reader, Some(100), 100);
        assert_eq!(blocked.status, NtStatus::FILE_LOCK_CONFLICT, "seed {seed}");
        // The locker itself, and anyone outside the range, still read.
        let own = s.read_file(locker, Some(100), 100);
        assert_eq!(own.data, expected[100..200], "seed {seed}");
        let free = s.read_file(reader, Some(8192), 100);
        assert_eq!(free.data, expected[8192..8292], "seed {seed}");
        fast_refused += s
            .trace()
            .iter()
            .filter(|line| line.contains("FastIoRead <- FALSE"))
            .count();
        assert_eq!(
            s.unlock_file(locker, 0, 4096, 0),
            NtStatus::SUCCESS,
            "seed {seed}"
        );
        assert_eq!(s.fast_io_possible(reader), Some(FastIoPossible::Possible));
        let now = s.read_file(reader, Some(100), 100);
        assert_eq!(now.data, expected[100..200], "seed {seed}");
        s.close_handle(locker);
        s.close_handle(reader);
        finish(s);
    }
    assert!(fast_refused > 0, "no seed refused a fast read");
}

/// A lock taken through one handle and left at its close: the close's unlock-all (fast or
/// IRP) releases it and the file is fast again.
#[test]
fn closing_a_locked_handle_makes_fast_io_possible_again() {
    let (path, _) = file_over("ext4", 4096);
    let image = support::image("ext4");
    for seed in 0..SEEDS {
        let mut s = machine(&image);
        s.set_choice_seed(seed);
        let locker = open_file(&mut s, &path, false);
        let other = open_file(&mut s, &path, false);
        let twin = s.duplicate_handle(locker, s.initial_process()).unwrap();
        assert_eq!(
            s.lock_file(locker, LockRequest::exclusive(10, 10)),
            NtStatus::SUCCESS
        );
        assert_eq!(
            s.lock_file(other, LockRequest::exclusive(15, 1)),
            NtStatus::LOCK_NOT_GRANTED
        );
        assert_eq!(s.unlock_file(other, 10, 10, 0), NtStatus::RANGE_NOT_LOCKED);
        s.close_handle(locker);
        // The duplicate keeps the FILE_OBJECT (no CLEANUP), and the lock with it.
        assert_eq!(
            s.fast_io_possible(other),
            Some(FastIoPossible::Questionable),
            "seed {seed}"
        );
        s.close_handle(twin);
        assert_eq!(
            s.fast_io_possible(other),
            Some(FastIoPossible::Possible),
            "seed {seed}"
        );
        assert_eq!(
            s.lock_file(other, LockRequest::exclusive(15, 1)),
            NtStatus::SUCCESS
        );
        assert_eq!(s.unlock_all(other, Some(0)), NtStatus::SUCCESS);
        assert_eq!(s.unlock_file(other, 15, 1, 0), NtStatus::RANGE_NOT_LOCKED);
        s.close_handle(other);
        finish(s);
    }
}

#[test]
fn a_dismount_stops_fast_reads() {
    let (path, _) = file_over("ext4", 4096);
    let image = support::image("ext4");
    for seed in 0..SEEDS {
        let mut s = machine(&image);
        s.set_choice_seed(seed);
        let h = open_file(&mut s, &path, false);
        assert_eq!(s.read_file(h, Some(0), 100).status, NtStatus::SUCCESS);
        let volume = open_ok(&mut s, "");
        assert_eq!(s.dismount(volume), NtStatus::SUCCESS);
        assert_eq!(s.fast_io_possible(h), Some(FastIoPossible::NotPossible));
        // The cached pages are still there, but the read must see the dismount.
        let io = s.read_file(h, Some(0), 100);
        assert_eq!(io.status, NtStatus::VOLUME_DISMOUNTED, "seed {seed}");
        s.close_handle(h);
        s.close_handle(volume);
        finish(s);
    }
}

/// The three fast queries, tried or not as the seed says, answer byte for byte what the IRP
/// answers, on a file and a directory.
#[test]
fn fast_queries_answer_what_the_irp_answers() {
    let image = support::image("ext4");
    let mut s = machine(&image);
    let file = open_file(&mut s, "\\hello.txt", false);
    let dir = open_ok(&mut s, "\\deep");
    let mut answered_fast = 0;
    for seed in 0..SEEDS {
        s.set_choice_seed(seed);
        for handle in [file, dir] {
            for (class, size) in [(4u32, 40u32), (5, 24), (34, 56)] {
                let before = s.fast_io_counters().1;
                let fast = s.query_information_file(handle, class, size);
                answered_fast += s.fast_io_counters().1 - before;
                let irp = s.query_information_irp(handle, class, size);
                assert_eq!(fast, irp, "seed {seed} class {class}");
                assert_eq!(irp.status, NtStatus::SUCCESS);
            }
        }
    }
    assert!(answered_fast > 0, "no fast query was answered");
    s.close_handle(file);
    s.close_handle(dir);
    finish(s);
}

#[test]
fn mdl_reads_return_the_dumped_bytes_and_every_chain_goes_back() {
    let (path, expected) = file_over("ext4", 100_000);
    let image = support::image("ext4");
    for seed in 0..SEEDS {
        let mut s = machine(&image);
        s.set_choice_seed(seed);
        let h = open_file(&mut s, &path, false);
        let mut chains = Vec::new();
        for (offset, length) in [(0u64, 4096u32), (5000, 70_000), (90_000, 1 << 20), (1, 1)] {
            let io = s.mdl_read(h, offset, length);
            assert_eq!(io.status, NtStatus::SUCCESS, "seed {seed} at {offset}");
            let end = (offset as usize + length as usize).min(expected.len());
            assert!(
                io.data == expected[offset as usize..end],
                "seed {seed}: MDL read at {offset} differs"
            );
            assert_eq!(io.information, end - offset as usize);
            chains.push(io.mdl_chain.expect("a chain in Irp->MdlAddress"));
        }
        // At end of file there is nothing to describe: no chain.
        let past = s.mdl_read(h, expected.len() as u64, 10);
        assert_eq!((past.status, past.mdl_chain), (NtStatus::END_OF_FILE, None));
        // A chain is given back in any order, even after a dismount (FastFAT FatCompleteMdl
        // runs before any check).
        let last = chains.pop().unwrap();
        for chain in chains {
            assert_eq!(s.mdl_read_complete(h, chain), NtStatus::SUCCESS);
        }
        if seed % 2 == 1 {
            dismount(&mut s);
        }
        assert_eq!(
            s.mdl_read_complete(h, last),
            NtStatus::SUCCESS,
            "seed {seed}"
        );
        assert_eq!(s.mdl_chains_outstanding(), 0);
        s.close_handle(h);
        finish(s);
    }
}

#[test]
fn mdl_reads_only_of_cached_files() {
    let image = support::image("ext4");
    let mut s = machine(&image);
    let direct = open_file(&mut s, "\\hello.txt", true);
    assert_eq!(
        s.mdl_read(direct, 0, 512).status,
        NtStatus::INVALID_PARAMETER
    );
    let dir = open_ok(&mut s, "\\deep");
    assert_eq!(
        s.mdl_read(dir, 0, 512).status,
        NtStatus::INVALID_DEVICE_REQUEST
    );
    assert_eq!(s.mdl_chains_outstanding(), 0);
    s.close_handle(direct);
    s.close_handle(dir);
    finish(s);
}

/// The verifier's side: a chain never given back is reported at unload, one given back twice
/// at once.
#[test]
fn mdl_chains_not_given_back_exactly_once_are_findings() {
    let (path, _) = file_over("ext4", 10_000);
    let image = support::image("ext4");
    let mut s = machine(&image);
    let h = open_file(&mut s, &path, false);
    let chain = s.mdl_read(h, 0, 8192).mdl_chain.unwrap();
    assert_eq!(s.mdl_read_complete(h, chain), NtStatus::SUCCESS);
    assert_eq!(s.mdl_read_complete(h, chain), NtStatus::SUCCESS);
    let findings = s.take_findings();
    assert!(
        findings
            .iter()
            .any(|f| f.kind == FindingKind::MdlChainNotOutstanding { chain: Some(chain) }),
        "{findings:#?}"
    );
    let leaked = s.mdl_read(h, 100, 100).mdl_chain.unwrap();
    s.close_handle(h);
    dismount(&mut s);
    s.run_worker();
    assert!(!s.is_mounted(DISK_NAME));
    assert_eq!(s.stop_file_system("rustfsd"), NtStatus::SUCCESS);
    let findings = s.findings();
    assert!(
        findings
            .iter()
            .any(|f| matches!(f.kind, FindingKind::MdlChainLeak { chain, .. } if chain == leaked)),
        "{findings:#?}"
    );
}
