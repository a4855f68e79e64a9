//! Change notification when FsRtl has no pool: FsRtlNotifyFullChangeDirectory allocates the
//! open's notify structure at its first watch and raises STATUS_INSUFFICIENT_RESOURCES when it
//! cannot, before it takes the IRP. The driver must complete that IRP itself with the status
//! (on Windows an unguarded raise is a bugcheck), and a later watch on the same open must work.

mod support;

use rustfsd::kernel::NtStatus;
use support::machine::{finish, machine, open_with};

const FILE_DIRECTORY_FILE: u32 = 0x1;
const FILE_NOTIFY_CHANGE_FILE_NAME: u32 = 0x1;

#[test]
fn a_watch_without_pool_completes_with_insufficient_resources_and_the_next_one_pends() {
    let mut s = machine(&support::image("tiny-ext4"));
    let dir = open_with(&mut s, "\\dir", |r| r.options = FILE_DIRECTORY_FILE)
        .handle
        .expect("open \\dir");
    let file_object = s.file_object(dir).unwrap();
    s.fail_nth_allocation(1);
    let first = s.notify_change_directory(dir, FILE_NOTIFY_CHANGE_FILE_NAME, false);
    assert_eq!(first.status, NtStatus::INSUFFICIENT_RESOURCES);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
    let second = s.notify_change_directory(dir, FILE_NOTIFY_CHANGE_FILE_NAME, false);
    assert_eq!(second.status, NtStatus::PENDING);
    assert_eq!(s.close_handle(dir), NtStatus::SUCCESS);
    assert_eq!(
        s.take_completion(file_object),
        Some(NtStatus::NOTIFY_CLEANUP)
    );
    finish(s);
}
