//! Oplocks end to end, through dispatch, on a real image, verifier on: the FSCTLs granted and
//! refused per level and handle count, breaks at CREATE, READ and LOCK_CONTROL with the level
//! in the request's completion, the waiting open released by the acknowledgement (or the
//! owner's close), cleanup, cancellation and a dismount with an oplock granted
//! (`tests/scenarios/rustfsd_oplocks.fts`, `rustfsd_oplock_break.fts`).
//!
//! Before the driver answered them, every oplock FSCTL completed with
//! STATUS_INVALID_DEVICE_REQUEST: the first request of `rustfsd_oplocks.fts` (line 8,
//! expected PENDING) failed.

mod support;

use std::collections::BTreeSet;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::Session;
use rustfsd::kernel::model::harness::session::CreateRequest;

/// Runs a script under `seed`: every expectation met, no finding. Returns the reports.
fn run_script(name: &str, image: &[u8], seed: u64) -> Result<Vec<String>, String> {
    let path = format!("{}/tests/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let (run, _) = support::machine::run_scheduled(&text, image, seed)
        .map_err(|e| format!("{name} seed {seed}:\n{e}"))?;
    Ok(run.reports.iter().map(|r| r.text.clone()).collect())
}

fn tiny() -> Vec<u8> {
    std::fs::read(support::image("tiny-ext4")).unwrap()
}

#[test]
fn oplocks_are_granted_broken_acknowledged_released_and_cancelled() {
    run_script("rustfsd_oplocks.fts", &tiny(), 1).unwrap();
}

#[test]
fn a_waiting_open_goes_on_after_the_acknowledgement_in_every_order() {
    // Seeds differ in who runs when: the holder may see the break before or after the open
    // starts waiting, the acknowledgement may complete before or after the open it releases,
    // and the posted open runs on the worker whenever the seed lets it.
    let image = tiny();
    let mut orders = BTreeSet::new();
    for seed in 1..=300 {
        let reports = run_script("rustfsd_oplock_break.fts", &image, seed).unwrap();
        let order: Vec<String> = reports
            .iter()
            .filter_map(|r| r.split_whitespace().nth(2).map(String::from))
            .take(7)
            .collect();
        orders.insert(order.join(","));
    }
    assert!(orders.len() > 1, "one order only: {orders:?}");
}

#[test]
fn a_break_completes_the_request_with_the_level_and_cleanup_with_none() {
    let mut session = support::machine::machine(&support::image("tiny-ext4"));
    let open = |session: &mut Session, options: u32| {
        let mut request = CreateRequest::open("\\Device\\Disk0\\hello.txt");
        request.options = options;
        let pid = session.initial_process();
        session.nt_create_file(pid, &request)
    };
    let owner = open(&mut session, 0).handle.unwrap();
    let owner_fo = session.file_object(owner).unwrap();
    // FSCTL_REQUEST_BATCH_OPLOCK on an asynchronous handle pends.
    let granted = session.fs_control_file(owner, 0x0009_0008, &[], 0);
    assert_eq!(granted.status, NtStatus::PENDING);
    // A second handle with FILE_COMPLETE_IF_OPLOCKED breaks it without waiting.
    let other = open(&mut session, 0x120);
    assert_eq!(other.status, NtStatus::OPLOCK_BREAK_IN_PROGRESS);
    assert_eq!(
        session.take_completion_with_information(owner_fo),
        Some((NtStatus::SUCCESS, 7)),
        "FILE_OPLOCK_BROKEN_TO_LEVEL_2"
    );
    // FSCTL_OPLOCK_BREAK_ACKNOWLEDGE: the acknowledgement is the level 2 oplock now.
    let ack = session.fs_control_file(owner, 0x0009_000C, &[], 0);
    assert_eq!(ack.status, NtStatus::PENDING);
    session.close_handle(other.handle.unwrap());
    session.close_handle(owner);
    assert_eq!(
        session.take_completion_with_information(owner_fo),
        Some((NtStatus::SUCCESS, 8)),
        "FILE_OPLOCK_BROKEN_TO_NONE at the owner's cleanup"
    );
    assert_eq!(session.findings(), []);
}
