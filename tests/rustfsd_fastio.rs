//! Fast I/O through rustfsd's FAST_IO_DISPATCH, against the NT model with the verifier on, on
//! real mke2fs images: FsRtlCopyRead reads equal debugfs's dump; Header.IsFastIoPossible
//! follows byte-range locks (questionable: FastIoCheckIfPossible refuses a conflicting read,
//! which then takes the IRP path and gets FILE_LOCK_CONFLICT) and the dismount (not possible:
//! reads fall back to the IRP and get VOLUME_DISMOUNTED); the fast queries answer what the IRP
//! answers; the fast lock routines keep FsRtl's lock rules. The I/O manager tries the fast path
//! or the IRP as the seed decides, so every test runs over many seeds. MDL reads (IRP_MN_MDL,
//! IRP_MN_COMPLETE_MDL) return the dumped bytes, and a chain never given back is a finding.

mod support;

use rustfsd::kernel::model::harness::locks::LockRequest;
use rustfsd::kernel::model::harness::{FindingKind, Session};
use rustfsd::kernel::{FastIoPossible, NtStatus};
use support::machine::{
    DISK_NAME, SCRIPT_END, as_backup_operator, dismount, finish, machine, open_file, open_ok,
    read_all, run_scheduled,
};
use support::walk::dumped_files_of;

const SEEDS: u64 = 24;
/// Seeds for the tests that run on both block sizes.
const FEWER_SEEDS: u64 = 12;

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

/// How many fast I/O calls answered TRUE so far.
fn fast_taken(s: &Session) -> u64 {
    s.fast_io_counters().1
}

/// FsRtlMdlRead's caller (the SMB server, AFD's TransmitFile): the fast MdlRead
/// (FsRtlMdlReadDev) or IRP_MN_MDL as the seed decides, the chain given back by the fast
/// MdlReadComplete (FsRtlMdlReadCompleteDev) or IRP_MN_COMPLETE_MDL, in every combination over
/// the seeds. The bytes the chains describe are debugfs's dump.
#[test]
fn kernel_mdl_reads_fast_or_by_irp_return_the_dump_and_every_chain_goes_back() {
    for name in ["ext4", "ext4-1k"] {
        let (path, expected) = file_over(name, 100_000);
        let image = support::image(name);
        let (mut fast_reads, mut irp_reads, mut fast_backs, mut irp_backs) = (0, 0, 0, 0);
        for seed in 0..FEWER_SEEDS {
            let mut s = machine(&image);
            s.set_choice_seed(seed);
            let h = open_file(&mut s, &path, false);
            let mut chains = Vec::new();
            for (offset, length) in [(0u64, 4096u32), (5000, 70_000), (90_000, 1 << 20), (1, 1)] {
                let before = fast_taken(&s);
                let io = s.mdl_read_any(h, offset, length);
                let fast = fast_taken(&s) > before;
                (fast_reads, irp_reads) =
                    (fast_reads + u32::from(fast), irp_reads + u32::from(!fast));
                assert_eq!(
                    io.status,
                    NtStatus::SUCCESS,
                    "{name} seed {seed} at {offset}"
                );
                let end = (offset as usize + length as usize).min(expected.len());
                assert!(
                    io.data == expected[offset as usize..end],
                    "{name} seed {seed}: MDL read at {offset} differs (fast: {fast})"
                );
                assert_eq!(io.information, end - offset as usize);
                chains.push(io.mdl_chain.expect("a chain"));
            }
            let past = s.mdl_read_any(h, expected.len() as u64, 10);
            assert_eq!((past.status, past.mdl_chain), (NtStatus::END_OF_FILE, None));
            assert_eq!(s.mdl_chains_outstanding(), chains.len());
            for chain in chains.into_iter().rev() {
                let before = fast_taken(&s);
                assert_eq!(s.mdl_read_complete_any(h, chain), NtStatus::SUCCESS);
                let fast = fast_taken(&s) > before;
                (fast_backs, irp_backs) =
                    (fast_backs + u32::from(fast), irp_backs + u32::from(!fast));
            }
            assert_eq!(s.mdl_chains_outstanding(), 0);
            s.close_handle(h);
            finish(s);
        }
        assert!(
            fast_reads > 0 && irp_reads > 0 && fast_backs > 0 && irp_backs > 0,
            "{name}: reads {fast_reads} fast, {irp_reads} IRP; back {fast_backs} fast, {irp_backs} IRP"
        );
    }
}

/// The fast MDL read follows Header.IsFastIoPossible as FsRtlCopyRead does: FALSE while a lock
/// conflicts (the IRP then answers FILE_LOCK_CONFLICT), FALSE after a dismount (the IRP answers
/// VOLUME_DISMOUNTED); a chain handed out before either still goes back.
#[test]
fn kernel_mdl_reads_respect_locks_and_the_dismount() {
    let (path, expected) = file_over("ext4", 3 * 4096);
    let image = support::image("ext4");
    for seed in 0..SEEDS {
        let mut s = machine(&image);
        s.set_choice_seed(seed);
        let locker = open_file(&mut s, &path, false);
        let reader = open_file(&mut s, &path, false);
        let early = s.mdl_read_any(reader, 0, 100);
        assert_eq!(early.data, expected[..100], "seed {seed}");
        assert_eq!(
            s.lock_file(locker, LockRequest::exclusive(0, 4096)),
            NtStatus::SUCCESS
        );
        let blocked = s.mdl_read_any(reader, 100, 100);
        assert_eq!(blocked.status, NtStatus::FILE_LOCK_CONFLICT, "seed {seed}");
        assert_eq!(blocked.mdl_chain, None);
        let free = s.mdl_read_any(reader, 8192, 100);
        assert_eq!(free.data, expected[8192..8292], "seed {seed}");
        assert_eq!(s.unlock_file(locker, 0, 4096, 0), NtStatus::SUCCESS);
        let volume = open_ok(&mut s, "");
        assert_eq!(s.dismount(volume), NtStatus::SUCCESS);
        let gone = s.mdl_read_any(reader, 0, 100);
        assert_eq!(gone.status, NtStatus::VOLUME_DISMOUNTED, "seed {seed}");
        for chain in [early.mdl_chain.unwrap(), free.mdl_chain.unwrap()] {
            assert_eq!(s.mdl_read_complete_any(reader, chain), NtStatus::SUCCESS);
        }
        assert_eq!(s.mdl_chains_outstanding(), 0);
        for h in [locker, reader, volume] {
            s.close_handle(h);
        }
        finish(s);
    }
}

/// The verifier covers the fast chains too: one the fast MdlReadComplete gives back twice is
/// MdlChainNotOutstanding at once, one never given back MdlChainLeak at unload.
#[test]
fn fast_mdl_chains_not_given_back_exactly_once_are_findings() {
    let (path, _) = file_over("ext4", 10_000);
    let image = support::image("ext4");
    let (mut doubled, mut leaked) = (0, 0);
    for seed in 0..SEEDS {
        let mut s = machine(&image);
        s.set_choice_seed(seed);
        let h = open_file(&mut s, &path, false);
        // Cached first, so that the fast MdlRead can answer.
        assert_eq!(s.read_file(h, Some(0), 10).status, NtStatus::SUCCESS);
        let before = fast_taken(&s);
        let chain = s.mdl_read_any(h, 0, 8192).mdl_chain.unwrap();
        let fast_read = fast_taken(&s) > before;
        assert_eq!(s.mdl_read_complete_any(h, chain), NtStatus::SUCCESS);
        let before = fast_taken(&s);
        assert_eq!(s.mdl_read_complete_any(h, chain), NtStatus::SUCCESS);
        let fast_back = fast_taken(&s) > before;
        let findings = s.take_findings();
        assert!(
            findings
                .iter()
                .any(|f| f.kind == FindingKind::MdlChainNotOutstanding { chain: Some(chain) }),
            "seed {seed}: {findings:#?}"
        );
        doubled += u32::from(fast_back);
        let before = fast_taken(&s);
        let kept = s.mdl_read_any(h, 100, 100).mdl_chain.unwrap();
        leaked += u32::from(fast_taken(&s) > before && fast_read);
        s.close_handle(h);
        dismount(&mut s);
        s.run_worker();
        assert_eq!(s.stop_file_system("rustfsd"), NtStatus::SUCCESS);
        let findings = s.findings();
        assert!(
            findings.iter().any(
                |f| matches!(f.kind, FindingKind::MdlChainLeak { chain, .. } if chain == kept)
            ),
            "seed {seed}: {findings:#?}"
        );
    }
    assert!(
        doubled > 0 && leaked > 0,
        "{doubled} fast doubles, {leaked} fast leaks"
    );
}

/// A kernel caller that cannot block: FastIoRead with Wait FALSE answers only from resident
/// pages (FALSE for pages not cached yet, or out of the working set as the seed says), and the
/// caller then sends the IRP; both answers come up, and every read returns the dumped bytes.
#[test]
fn reads_that_cannot_wait_take_the_irp_when_a_page_is_not_resident() {
    for name in ["ext4", "ext4-1k"] {
        let (path, expected) = file_over(name, 200_000);
        let image = support::image(name);
        let (mut fast, mut refused) = (0, 0);
        for seed in 0..FEWER_SEEDS {
            let mut s = machine(&image);
            s.set_choice_seed(seed);
            let h = open_file(&mut s, &path, false);
            // The first read caches the start (one cluster of pages); the rest is not resident.
            assert_eq!(s.read_file(h, Some(0), 100).status, NtStatus::SUCCESS);
            for offset in [0u64, 10, 4000, 150_000, 150_100, 60_000, 0, 199_000] {
                let (calls, taken, _) = s.fast_io_counters();
                let io = s.read_no_wait(h, offset, 3000);
                let (calls_after, taken_after, _) = s.fast_io_counters();
                fast += taken_after - taken;
                refused += (calls_after - calls) - (taken_after - taken);
                let start = offset as usize;
                let end = (start + 3000).min(expected.len());
                assert_eq!(
                    io.status,
                    NtStatus::SUCCESS,
                    "{name} seed {seed} at {offset}"
                );
                assert!(
                    io.data == expected[start..end],
                    "{name} seed {seed}: read at {offset} differs"
                );
            }
            let eof = s.read_no_wait(h, expected.len() as u64, 10);
            assert_eq!(eof.status, NtStatus::END_OF_FILE);
            s.close_handle(h);
            finish(s);
        }
        assert!(
            fast > 0 && refused > 0,
            "{name}: {fast} fast, {refused} refused"
        );
    }
}

/// The scenario verbs (`read-nowait`, `mdl-read`, `mdl-read-complete`), with the data checked
/// by SHA-256 against debugfs's dump, over many seeds and both block sizes, verifier on.
#[test]
fn kernel_read_verbs_check_the_dumped_bytes_in_scripts() {
    use rustfsd::kernel::model::harness::scenario::sha256_hex;
    for name in ["ext4", "ext4-1k"] {
        let (path, expected) = file_over(name, 100_000);
        let hash = |from: usize, len: usize| {
            let end = (from + len).min(expected.len());
            format!(
                "info={} sha256={}",
                end - from,
                &sha256_hex(&expected[from..end])[..16]
            )
        };
        let script = format!(
            "load rustfsd => SUCCESS\n\
             open f \\Device\\Disk0{path} => SUCCESS\n\
             read-nowait f offset=0 len=5000 => SUCCESS {}\n\
             mdl-read f a offset=0 len=70000 => SUCCESS {}\n\
             mdl-read f b offset=65536 len=1048576 => SUCCESS {}\n\
             read-nowait f offset=30000 len=40000 => SUCCESS {}\n\
             mdl-read f c offset={} len=10 => END_OF_FILE info=0\n\
             mdl-read-complete f b => SUCCESS\n\
             mdl-read-complete f c => INVALID_PARAMETER\n\
             mdl-read-complete f a => SUCCESS\n\
             close f => SUCCESS\n\
             {SCRIPT_END}",
            hash(0, 5000),
            hash(0, 70_000),
            hash(65_536, 1 << 20),
            hash(30_000, 40_000),
            expected.len(),
        );
        let bytes = std::fs::read(support::image(name)).unwrap();
        for seed in 0..FEWER_SEEDS {
            if let Err(failure) = run_scheduled(&script, &bytes, seed) {
                panic!("{name} seed {seed}:\n{failure}");
            }
        }
    }
}
