//! IRP_MJ_LOCK_CONTROL (byte-range locks through FsRtl's FILE_LOCK) and how reads honour them,
//! through rustfsd's dispatch in the NT model with the verifier on, on a real mke2fs image.

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::locks::LockRequest;
use rustfsd::kernel::model::harness::{Handle, Pid, Session};
use support::machine::{finish, machine, open_in, open_ok, open_with};

const FILE: &str = "\\random-1m";
const FILE_NO_INTERMEDIATE_BUFFERING: u32 = 0x8;

fn read(session: &mut Session, handle: Handle, offset: u64, length: u32) -> NtStatus {
    session.read_file(handle, Some(offset), length).status
}

/// Two processes, each with an open of the file.
fn two_processes() -> (Session, Pid, Pid) {
    let mut session = machine(&support::image("ext4"));
    let a = session.initial_process();
    let b = session.create_process();
    (session, a, b)
}

/// An exclusive lock keeps every other owner out of its range, readers included (another
/// process, or another handle of the same process); its owner reads on; adjacent bytes stay
/// free; an unlock frees the range, and a second one finds nothing to unlock.
#[test]
fn exclusive_lock_keeps_other_owners_out() {
    let (mut session, a, b) = two_processes();
    let mine = open_in(&mut session, a, FILE);
    let theirs = open_in(&mut session, b, FILE);
    let my_other = open_in(&mut session, a, FILE);
    assert_eq!(
        session.lock_file(mine, LockRequest::exclusive(4096, 4096)),
        NtStatus::SUCCESS
    );
    assert_eq!(read(&mut session, mine, 4096, 512), NtStatus::SUCCESS);
    for other in [theirs, my_other] {
        assert_eq!(
            read(&mut session, other, 4096, 512),
            NtStatus::FILE_LOCK_CONFLICT
        );
        assert_eq!(
            read(&mut session, other, 8191, 1),
            NtStatus::FILE_LOCK_CONFLICT
        );
        assert_eq!(
            read(&mut session, other, 0, 4096),
            NtStatus::SUCCESS,
            "adjacent"
        );
        assert_eq!(read(&mut session, other, 8192, 512), NtStatus::SUCCESS);
        assert_eq!(
            session.lock_file(other, LockRequest::shared(8000, 10)),
            NtStatus::LOCK_NOT_GRANTED
        );
    }
    // Non-cached reads are checked as well.
    let direct = open_with(&mut session, FILE, |request| {
        request.options |= FILE_NO_INTERMEDIATE_BUFFERING;
    })
    .handle
    .unwrap();
    assert_eq!(
        read(&mut session, direct, 4096, 512),
        NtStatus::FILE_LOCK_CONFLICT
    );
    assert_eq!(session.unlock_file(mine, 4096, 4096, 0), NtStatus::SUCCESS);
    assert_eq!(read(&mut session, theirs, 4096, 512), NtStatus::SUCCESS);
    assert_eq!(read(&mut session, direct, 4096, 512), NtStatus::SUCCESS);
    assert_eq!(
        session.unlock_file(mine, 4096, 4096, 0),
        NtStatus::RANGE_NOT_LOCKED
    );
    for handle in [mine, theirs, my_other, direct] {
        session.close_handle(handle);
    }
    finish(session);
}

/// Shared locks overlap each other and let everyone read; an exclusive lock over them is
/// refused; an unlock must name a range exactly as it was locked, by its owner.
#[test]
fn shared_locks_and_exact_unlocks() {
    let (mut session, a, b) = two_processes();
    let mine = open_in(&mut session, a, FILE);
    let theirs = open_in(&mut session, b, FILE);
    assert_eq!(
        session.lock_file(mine, LockRequest::shared(0, 100)),
        NtStatus::SUCCESS
    );
    assert_eq!(
        session.lock_file(theirs, LockRequest::shared(50, 100)),
        NtStatus::SUCCESS
    );
    assert_eq!(read(&mut session, theirs, 0, 200), NtStatus::SUCCESS);
    assert_eq!(
        session.lock_file(mine, LockRequest::exclusive(0, 10)),
        NtStatus::LOCK_NOT_GRANTED
    );
    assert_eq!(
        session.unlock_file(theirs, 0, 100, 0),
        NtStatus::RANGE_NOT_LOCKED
    );
    assert_eq!(
        session.unlock_file(mine, 0, 50, 0),
        NtStatus::RANGE_NOT_LOCKED
    );
    assert_eq!(session.unlock_file(mine, 0, 100, 0), NtStatus::SUCCESS);
    assert_eq!(session.unlock_file(theirs, 50, 100, 0), NtStatus::SUCCESS);
    assert_eq!(
        session.lock_file(mine, LockRequest::exclusive(0, 10)),
        NtStatus::SUCCESS
    );
    // A lock whose end overflows is refused.
    assert_eq!(
        session.lock_file(mine, LockRequest::exclusive(u64::MAX, 2)),
        NtStatus::INVALID_PARAMETER
    );
    session.close_handle(mine);
    session.close_handle(theirs);
    finish(session);
}

/// Keys group locks: unlock-all-by-key drops only that key's, unlock-all the rest; a read
/// (which carries key 0) is refused by the owner's own exclusive lock under another key.
#[test]
fn keys_and_unlock_all() {
    let (mut session, a, b) = two_processes();
    let mine = open_in(&mut session, a, FILE);
    let theirs = open_in(&mut session, b, FILE);
    let keyed = LockRequest {
        key: 7,
        ..LockRequest::exclusive(0, 10)
    };
    assert_eq!(session.lock_file(mine, keyed), NtStatus::SUCCESS);
    assert_eq!(
        session.lock_file(mine, LockRequest::exclusive(100, 10)),
        NtStatus::SUCCESS
    );
    assert_eq!(
        read(&mut session, mine, 0, 10),
        NtStatus::FILE_LOCK_CONFLICT
    );
    assert_eq!(session.unlock_all(mine, Some(7)), NtStatus::SUCCESS);
    assert_eq!(read(&mut session, theirs, 0, 10), NtStatus::SUCCESS);
    assert_eq!(
        read(&mut session, theirs, 100, 10),
        NtStatus::FILE_LOCK_CONFLICT
    );
    // Another process's unlock-all leaves our locks alone.
    assert_eq!(session.unlock_all(theirs, None), NtStatus::SUCCESS);
    assert_eq!(
        read(&mut session, theirs, 100, 10),
        NtStatus::FILE_LOCK_CONFLICT
    );
    assert_eq!(session.unlock_all(mine, None), NtStatus::SUCCESS);
    assert_eq!(read(&mut session, theirs, 100, 10), NtStatus::SUCCESS);
    session.close_handle(mine);
    session.close_handle(theirs);
    finish(session);
}

/// CLEANUP releases the locks of the FILE_OBJECT (FsRtlFastUnlockAll), so the next opener can
/// lock the range; a process closing its last handle to a shared FILE_OBJECT loses its locks
/// through the I/O manager's unlock-all while the other process keeps its own.
#[test]
fn locks_go_with_their_handles() {
    let (mut session, a, b) = two_processes();
    let first = open_in(&mut session, a, FILE);
    assert_eq!(
        session.lock_file(first, LockRequest::exclusive(0, 4096)),
        NtStatus::SUCCESS
    );
    let unlocks = session.unlock_all_count();
    session.close_handle(first);
    assert_eq!(session.unlock_all_count(), unlocks + 1);
    let second = open_in(&mut session, b, FILE);
    assert_eq!(
        session.lock_file(second, LockRequest::exclusive(0, 4096)),
        NtStatus::SUCCESS
    );
    session.close_handle(second);

    let shared_handle = open_in(&mut session, a, FILE);
    let duplicate = session.duplicate_handle(shared_handle, b).unwrap();
    assert_eq!(
        session.lock_file(shared_handle, LockRequest::exclusive(0, 10)),
        NtStatus::SUCCESS
    );
    assert_eq!(
        session.lock_file(duplicate, LockRequest::exclusive(100, 10)),
        NtStatus::SUCCESS
    );
    session.close_handle(shared_handle);
    let outsider = open_in(&mut session, a, FILE);
    assert_eq!(read(&mut session, outsider, 0, 10), NtStatus::SUCCESS);
    assert_eq!(
        read(&mut session, outsider, 100, 10),
        NtStatus::FILE_LOCK_CONFLICT
    );
    session.terminate_process(b);
    assert_eq!(read(&mut session, outsider, 100, 10), NtStatus::SUCCESS);
    session.close_handle(outsider);
    finish(session);
}

/// The paging read Cc sends to fill the cache for the lock's owner comes on whichever
/// FILE_OBJECT set the cache map up (here another process's) and must not be refused: paging
/// I/O ignores byte-range locks.
#[test]
fn paging_reads_ignore_locks() {
    let (mut session, a, b) = two_processes();
    let theirs = open_in(&mut session, b, FILE);
    assert_eq!(read(&mut session, theirs, 0, 512), NtStatus::SUCCESS);
    let mine = open_in(&mut session, a, FILE);
    assert_eq!(
        session.lock_file(mine, LockRequest::exclusive(65536, 65536)),
        NtStatus::SUCCESS
    );
    let (paging_before, ..) = session.cache_counters();
    assert_eq!(read(&mut session, mine, 65536, 4096), NtStatus::SUCCESS);
    let (paging_after, ..) = session.cache_counters();
    assert!(
        paging_after > paging_before,
        "the read went through a paging read"
    );
    assert_eq!(
        read(&mut session, theirs, 65536, 4096),
        NtStatus::FILE_LOCK_CONFLICT
    );
    session.close_handle(mine);
    session.close_handle(theirs);
    finish(session);
}

/// Only a file's data can be locked; a waiting request that conflicts is refused by the model
/// (Windows would pend it until the range is free: docs/nt-model.md).
#[test]
fn directories_volumes_and_waiting_locks() {
    let (mut session, a, b) = two_processes();
    let root = open_ok(&mut session, "\\");
    let volume = open_ok(&mut session, "");
    for handle in [root, volume] {
        assert_eq!(
            session.lock_file(handle, LockRequest::exclusive(0, 1)),
            NtStatus::INVALID_PARAMETER
        );
    }
    let mine = open_in(&mut session, a, FILE);
    let theirs = open_in(&mut session, b, FILE);
    assert_eq!(
        session.lock_file(mine, LockRequest::exclusive(0, 1)),
        NtStatus::SUCCESS
    );
    let waiting = LockRequest {
        fail_immediately: false,
        ..LockRequest::exclusive(0, 1)
    };
    assert_eq!(
        session.lock_file(theirs, waiting),
        NtStatus::LOCK_NOT_GRANTED
    );
    assert_eq!(
        session.lock_file(
            theirs,
            LockRequest {
                offset: 1,
                ..waiting
            }
        ),
        NtStatus::SUCCESS
    );
    for handle in [root, volume, mine, theirs] {
        session.close_handle(handle);
    }
    finish(session);
}
