//! Seed 004's deep stack: a filter stack deep enough that a paging read, nested in a cached
//! read through Cc and Mm's fault path, finds too little stack left for its own frames and the
//! disk stack below it. The driver must take the stack guard (an expanded stack, or a clean
//! STATUS_INSUFFICIENT_RESOURCES when the kernel cannot expand it), never overflow.

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::Session;
use support::machine::{finish, machine, open_with};

const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x20;
const FILE_NON_DIRECTORY_FILE: u32 = 0x40;

/// Filters above the volume using 5 KiB of stack on every IRP: a cached read (4 KiB of system
/// call, 1.5 KiB of I/O manager, 5 KiB of filters) reaches CcCopyRead with room to spare, but
/// its paging read arrives below the read's reserve.
const DEEP_FILTER_STACK: usize = 5 * 1024;

fn cached_read(s: &mut Session, path: &str, length: u32) -> (NtStatus, Vec<u8>) {
    let result = open_with(s, path, |request| {
        request.options = FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE;
    });
    assert_eq!(result.status, NtStatus::SUCCESS, "open {path}");
    let handle = result.handle.unwrap();
    let io = s.read_file(handle, Some(0), length);
    s.close_handle(handle);
    (io.status, io.data)
}

/// Unloads with the filters shallow again (the dismount's volume open goes in under them);
/// no finding, a StackOverflow included, may have been reported.
fn finish_shallow(s: Session) {
    s.set_filter_stack(0);
    finish(s);
}

#[test]
fn a_deep_filter_stack_takes_the_read_stack_guard() {
    let image = support::image("ext4");
    let expected = support::debugfs(&image, &["cat /hello.txt".to_string()])
        .pop()
        .unwrap();
    let (mut expanded, mut refused) = (0, 0);
    for seed in 0..40u64 {
        let mut s = machine(&image);
        s.set_trace_enabled(false);
        s.set_choice_seed(seed);
        s.set_filter_stack(DEEP_FILTER_STACK);
        let (status, data) = cached_read(&mut s, "\\hello.txt", 4096);
        match status {
            NtStatus::SUCCESS => {
                assert_eq!(data, expected, "seed {seed}");
                expanded += 1;
            }
            // KeExpandKernelStackAndCalloutEx could not allocate the stack segment.
            NtStatus::INSUFFICIENT_RESOURCES => refused += 1,
            other => panic!("seed {seed}: {other:?}"),
        }
        finish_shallow(s);
    }
    assert!(
        expanded > 0 && refused > 0,
        "both outcomes: {expanded} expanded, {refused} refused"
    );
}

/// Without the deep filter stack, the same read runs on the stack it came with.
#[test]
fn a_shallow_stack_reads_in_place() {
    let image = support::image("ext4");
    for seed in 0..8u64 {
        let mut s = machine(&image);
        s.set_trace_enabled(false);
        s.set_choice_seed(seed);
        let (status, _) = cached_read(&mut s, "\\hello.txt", 4096);
        assert_eq!(status, NtStatus::SUCCESS, "seed {seed}");
        finish(s);
    }
}

/// Filters so deep (14 KiB) that a top-level CREATE arrives with less stack than its path walk
/// and the disk stack need: it takes the same guard. (The volume is mounted before the filters
/// get that deep: the mount is not guarded, docs/performance.md, "Stack depth".)
#[test]
fn a_very_deep_filter_stack_takes_the_create_stack_guard() {
    let image = support::image("ext4");
    let (mut opened, mut refused) = (0, 0);
    for seed in 0..40u64 {
        let mut s = machine(&image);
        s.set_trace_enabled(false);
        s.set_choice_seed(seed);
        let (status, _) = cached_read(&mut s, "\\hello.txt", 1);
        assert_eq!(status, NtStatus::SUCCESS);
        s.set_filter_stack(14 * 1024);
        let result = open_with(&mut s, "\\hello.txt", |request| {
            request.options = FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE;
        });
        match result.status {
            NtStatus::SUCCESS => {
                opened += 1;
                s.close_handle(result.handle.unwrap());
            }
            NtStatus::INSUFFICIENT_RESOURCES => refused += 1,
            other => panic!("seed {seed}: {other:?}"),
        }
        finish_shallow(s);
    }
    assert!(
        opened > 0 && refused > 0,
        "both outcomes: {opened} opened, {refused} refused"
    );
}
