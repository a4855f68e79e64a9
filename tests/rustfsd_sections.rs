//! Memory-mapped files through rustfsd, against the NT model's memory manager with the verifier
//! on, on a real mke2fs image: sections hold their own FILE_OBJECT reference (CLOSE comes only
//! at segment deletion), page faults are paging reads whose bytes equal debugfs's dump, and the
//! driver's section teardown at lock, dismount and PnP removal (MmFlushImageSection, then
//! CcPurgeCacheSection, whose CLOSE re-enters the driver inside the call).

mod support;

use std::path::Path;
use std::process::Command;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::scenario::{Runner, parse};
use rustfsd::kernel::model::harness::session::CreateRequest;
use rustfsd::kernel::model::harness::{DriverDescriptor, Handle, Session};
use rustfsd::kernel::model::section::SectionKind;
use support::machine::{DISK, DISK_NAME, finish, machine, open_ok};

const PAGE: usize = 4096;
/// FSCTL_LOCK_VOLUME.
const FSCTL_LOCK_VOLUME: u32 = 0x0009_0018;

/// `debugfs -R "dump PATH OUT"` of a file of the image.
fn dump(image: &Path, path: &str) -> Vec<u8> {
    // Tests run in parallel: each dump gets its own file.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let out = std::env::temp_dir().join(format!(
        "rustfsd-sections-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let status = Command::new("debugfs")
        .arg("-R")
        .arg(format!("dump {path} {}", out.display()))
        .arg(image)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("debugfs");
    assert!(status.success(), "debugfs dump {path}");
    let data = std::fs::read(&out).expect("dumped file");
    let _ = std::fs::remove_file(&out);
    data
}

/// Every page of view `view` over a file of `size` bytes, cut at the size; the tail of the last
/// page must read as zeros.
fn touch_all(s: &mut Session, view: &str, size: usize) -> Vec<u8> {
    let mut data = Vec::new();
    for page in 0..size.div_ceil(PAGE) {
        let bytes = s.touch(view, page as u64).expect("touch");
        assert_eq!(bytes.len(), PAGE, "{view} page {page}");
        data.extend_from_slice(&bytes);
    }
    assert!(
        data[size..].iter().all(|&b| b == 0),
        "{view}: tail not zero"
    );
    assert_eq!(
        s.touch(view, size.div_ceil(PAGE) as u64),
        Err(NtStatus::ACCESS_VIOLATION)
    );
    data.truncate(size);
    data
}

/// The FILE_OBJECT behind `handle`, by its (pointer count, handle count).
fn counts(s: &Session, handle: Handle) -> (u32, u32) {
    s.counts(handle).expect("live FILE_OBJECT")
}

fn volume_handle(s: &mut Session) -> Handle {
    let pid = s.initial_process();
    let result = s.nt_create_file(pid, &CreateRequest::open(DISK));
    assert_eq!(result.status, NtStatus::SUCCESS);
    result.handle.unwrap()
}

fn lock_volume(s: &mut Session, volume: Handle) -> NtStatus {
    s.fs_control_file(volume, FSCTL_LOCK_VOLUME, &[], 0).status
}

/// Open, map, close the handle (CLEANUP), fault every page, unmap, close the section: the
/// FILE_OBJECT lives on, referenced by the segment alone, until memory pressure deletes the
/// segment and its CLOSE comes on the worker thread.
#[test]
fn notepad_style_mapping_closes_only_at_segment_deletion() {
    let image = support::sections_image();
    let expected = dump(&image, "/notepad.txt");
    for seed in 0..16 {
        let mut s = machine(&image);
        s.set_choice_seed(seed);
        let file = open_ok(&mut s, "\\notepad.txt");
        assert_eq!(
            s.create_section("s", file, SectionKind::Data),
            NtStatus::SUCCESS
        );
        assert_eq!(counts(&s, file), (2, 1), "the segment references the FO");
        assert_eq!(s.map_view("v", "s"), NtStatus::SUCCESS);
        let before = s.file_object_count();
        // Keep a system reference so the FILE_OBJECT can be watched after its handle goes.
        let watch = s.system_reference(file).unwrap();
        assert_eq!(s.close_handle(file), NtStatus::SUCCESS);
        assert_eq!(s.file_object_count(), before, "CLEANUP, no CLOSE");
        let got = touch_all(&mut s, "v", expected.len());
        assert!(
            got == expected,
            "seed {seed}: mapped bytes differ from debugfs dump"
        );
        let (faults, _, live) = s.section_counters();
        assert!(faults >= 2 && live == 1, "seed {seed}: {faults} faults");
        assert_eq!(s.unmap_view("v"), NtStatus::SUCCESS);
        assert_eq!(s.close_section("s"), NtStatus::SUCCESS);
        s.release_later(watch);
        s.run_worker();
        // Kept on the unused list, or already deleted by the worker (the seed decides).
        let live = s.section_counters().2;
        s.trim();
        assert_eq!(s.section_counters().2, 0, "seed {seed}: segment trimmed");
        assert_eq!(
            s.file_object_count(),
            before - 1,
            "seed {seed}: CLOSE at deletion"
        );
        let trace = s.trace();
        let close = trace
            .iter()
            .rposition(|line| line.contains("IRP_MJ_Close ->"))
            .unwrap();
        let deleted = trace
            .iter()
            .rposition(|line| line.contains("Mm: segment of SOP") && line.contains("deleted"))
            .unwrap();
        assert!(deleted < close, "seed {seed}: CLOSE after segment deletion");
        assert!(
            trace[close].starts_with("t1:"),
            "seed {seed} (kept: {live}): CLOSE on the worker: {}",
            trace[close]
        );
        finish(s);
    }
}

/// Every file of the image, mapped and faulted page by page, equals debugfs's dump; an image
/// section reads its header through a paging read; what cannot be mapped says why.
#[test]
fn every_mapped_byte_equals_the_file() {
    let image = support::sections_image();
    let mut s = machine(&image);
    for (index, path) in ["/notepad.txt", "/tool.exe", "/small", "/sparse"]
        .iter()
        .enumerate()
    {
        let expected = dump(&image, path);
        let file = open_ok(&mut s, &path.replace('/', "\\"));
        let (section, view) = (format!("s{index}"), format!("v{index}"));
        assert_eq!(
            s.create_section(&section, file, SectionKind::Data),
            NtStatus::SUCCESS
        );
        assert_eq!(s.map_view(&view, &section), NtStatus::SUCCESS);
        let got = touch_all(&mut s, &view, expected.len());
        assert!(got == expected, "{path}: mapped bytes differ");
        s.close_handle(file);
        s.unmap_view(&view);
        s.close_section(&section);
    }
    let exe = open_ok(&mut s, "\\tool.exe");
    assert_eq!(
        s.create_section("img", exe, SectionKind::Image),
        NtStatus::SUCCESS
    );
    assert_eq!(s.map_view("iv", "img"), NtStatus::SUCCESS);
    let expected = dump(&image, "/tool.exe");
    assert!(touch_all(&mut s, "iv", expected.len()) == expected);
    s.unmap_view("iv");
    s.close_section("img");
    s.close_handle(exe);

    let text = open_ok(&mut s, "\\small");
    assert_eq!(
        s.create_section("bad", text, SectionKind::Image),
        NtStatus::INVALID_IMAGE_NOT_MZ
    );
    s.close_handle(text);
    let dir = open_ok(&mut s, "\\dir");
    assert_eq!(
        s.create_section("d", dir, SectionKind::Data),
        NtStatus::INVALID_FILE_FOR_SECTION
    );
    s.close_handle(dir);
    s.trim();
    assert_eq!(s.section_counters().2, 0);
    finish(s);
}

/// Seed 003: the volume is dismounted while files are mapped. Unused segments are purged by
/// the dismount, whose CcPurgeCacheSection drops Mm's FILE_OBJECT reference inside the call
/// (IRP_MJ_CLOSE re-enters the driver) or on the worker; a view still mapped keeps its
/// FILE_OBJECT until it is unmapped and trimmed, then that CLOSE reaches the dismounted volume.
#[test]
fn seed_003_dismount_with_mapped_files_purges_and_close_reenters() {
    let image = support::sections_image();
    let mut nested = 0;
    for seed in 0..32 {
        let mut s = machine(&image);
        s.set_choice_seed(seed);
        let a = open_ok(&mut s, "\\notepad.txt");
        let b = open_ok(&mut s, "\\small");
        assert_eq!(
            s.create_section("sa", a, SectionKind::Data),
            NtStatus::SUCCESS
        );
        assert_eq!(
            s.create_section("sb", b, SectionKind::Data),
            NtStatus::SUCCESS
        );
        assert_eq!(s.map_view("va", "sa"), NtStatus::SUCCESS);
        assert_eq!(s.map_view("vb", "sb"), NtStatus::SUCCESS);
        s.touch("va", 3).unwrap();
        s.touch("vb", 0).unwrap();
        s.close_handle(a);
        s.close_handle(b);
        // `small` is unmapped before the dismount; `notepad.txt` stays mapped across it.
        s.unmap_view("vb");
        s.close_section("sb");
        let volume = volume_handle(&mut s);
        let before = s.trace().len();
        assert_eq!(s.dismount(volume), NtStatus::SUCCESS);
        let during: Vec<String> = s.trace()[before..].to_vec();
        let fsctl_end = during
            .iter()
            .position(|line| line.contains("IRP_MJ_FileSystemControl <-"))
            .unwrap();
        if during[..fsctl_end]
            .iter()
            .any(|line| line.contains("Mm: segment of SOP") && line.contains("deleted"))
        {
            nested += 1;
        }
        s.close_handle(volume);
        s.run_worker();
        assert_eq!(
            s.section_counters().2,
            1,
            "seed {seed}: only the mapped one is left"
        );
        assert_eq!(s.touch("va", 3).map(|p| p.len()), Ok(PAGE), "resident page");
        assert_eq!(
            s.touch("va", 11),
            Err(NtStatus::VOLUME_DISMOUNTED),
            "fault after dismount"
        );
        assert_eq!(s.unmap_view("va"), NtStatus::SUCCESS);
        assert_eq!(s.close_section("sa"), NtStatus::SUCCESS);
        s.trim();
        assert_eq!(s.section_counters().2, 0);
        assert_eq!(s.file_object_count(), 0, "seed {seed}");
        finish(s);
    }
    assert!(
        nested > 0 && nested < 32,
        "the purge's CLOSE came inside the dismount for {nested} of 32 seeds"
    );
}

/// An executable image section mapped from the volume cannot be flushed, so FSCTL_LOCK_VOLUME
/// is refused (STATUS_ACCESS_DENIED, as FastFAT's open-file count refuses it), and so is a PnP
/// query-remove. Once it is unmapped and closed, the lock's MmFlushImageSection deletes the
/// image segment (its CLOSE inside the FSCTL) and the lock is granted.
#[test]
fn image_section_mapped_refuses_lock_volume() {
    let image = support::sections_image();
    let mut s = machine(&image);
    let exe = open_ok(&mut s, "\\tool.exe");
    assert_eq!(
        s.create_section("img", exe, SectionKind::Image),
        NtStatus::SUCCESS
    );
    assert_eq!(s.map_view("v", "img"), NtStatus::SUCCESS);
    s.touch("v", 1).unwrap();
    s.close_handle(exe);
    let volume = volume_handle(&mut s);
    assert_eq!(lock_volume(&mut s, volume), NtStatus::ACCESS_DENIED);
    s.close_handle(volume);
    assert_eq!(s.query_remove_disk(DISK_NAME), NtStatus::ACCESS_DENIED);
    assert_eq!(s.unmap_view("v"), NtStatus::SUCCESS);
    assert_eq!(s.close_section("img"), NtStatus::SUCCESS);
    let volume = volume_handle(&mut s);
    let files = s.file_object_count();
    assert_eq!(lock_volume(&mut s, volume), NtStatus::SUCCESS);
    assert_eq!(
        s.file_object_count(),
        files - 1,
        "image FO closed by the flush"
    );
    assert_eq!(s.section_counters().2, 0);
    s.close_handle(volume);
    finish(s);
}

/// The same stories as a script (docs/scenarios.md, "Sections").
#[test]
fn sections_script_runs_clean() {
    let image = support::sections_image();
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/rustfsd_sections.fts"),
    )
    .unwrap();
    let steps = parse(&script).unwrap();
    for seed in 0..8 {
        let mut session = Session::new();
        session.add_disk(DISK_NAME, support::machine::disk(&image));
        session.set_choice_seed(seed);
        let mut runner = Runner::new(session, vec![DriverDescriptor::rustfsd()]);
        let mut out = String::new();
        let ok = runner.run_all(&steps, &mut |line| {
            out.push_str(line);
            out.push('\n');
        });
        assert!(ok, "seed {seed}:\n{out}");
    }
}

/// A user view of a data section keeps its FILE_OBJECT open on the volume: CcPurgeCacheSection
/// answers FALSE and the lock is refused; a lock that another handle already refuses purges
/// nothing (its pages stay resident).
#[test]
fn mapped_data_view_refuses_lock_volume() {
    let image = support::sections_image();
    let mut s = machine(&image);
    let file = open_ok(&mut s, "\\notepad.txt");
    assert_eq!(
        s.create_section("s", file, SectionKind::Data),
        NtStatus::SUCCESS
    );
    assert_eq!(s.map_view("v", "s"), NtStatus::SUCCESS);
    s.touch("v", 0).unwrap();
    let volume = volume_handle(&mut s);
    let faults = s.section_counters().0;
    assert_eq!(lock_volume(&mut s, volume), NtStatus::ACCESS_DENIED);
    s.touch("v", 0).unwrap();
    assert_eq!(s.section_counters().0, faults, "nothing purged");
    s.close_handle(file);
    assert_eq!(lock_volume(&mut s, volume), NtStatus::ACCESS_DENIED);
    assert_eq!(s.unmap_view("v"), NtStatus::SUCCESS);
    assert_eq!(s.close_section("s"), NtStatus::SUCCESS);
    assert_eq!(lock_volume(&mut s, volume), NtStatus::SUCCESS);
    s.run_worker();
    assert_eq!(
        s.section_counters().2,
        0,
        "the purge deleted the unused segment"
    );
    s.close_handle(volume);
    finish(s);
}

/// Cc and Mm share the stream's one data section: pages a cached read brought in are resident
/// for a mapped view (touching them sends no paging read), and pages a view faulted in serve a
/// cached read without one.
#[test]
fn cached_reads_and_mapped_views_share_the_data_section_pages() {
    let image = support::sections_image();
    let expected = dump(&image, "/notepad.txt");
    let mut s = machine(&image);
    // A cached read of the first 16 KiB, then a view: its first four pages are resident.
    let reader = open_ok(&mut s, "\\notepad.txt");
    let io = s.read_file(reader, Some(0), 16 * 1024);
    assert_eq!(io.status, NtStatus::SUCCESS);
    assert!(io.data == expected[..16 * 1024]);
    assert_eq!(
        s.create_section("s", reader, SectionKind::Data),
        NtStatus::SUCCESS
    );
    assert_eq!(s.map_view("v", "s"), NtStatus::SUCCESS);
    let faults = s.section_counters().0;
    for page in 0..4u64 {
        let bytes = s.touch("v", page).expect("touch");
        let at = page as usize * PAGE;
        assert!(bytes == expected[at..at + PAGE], "page {page}");
    }
    assert_eq!(
        s.section_counters().0,
        faults,
        "a cached page faulted again"
    );
    // The view faults the last page in; a cached read of it then sends no paging read.
    let last = (expected.len() - 1) / PAGE;
    let bytes = s.touch("v", last as u64).expect("touch");
    assert!(bytes[..expected.len() - last * PAGE] == expected[last * PAGE..]);
    let (paging, ..) = s.cache_counters();
    let io = s.read_file(reader, Some((last * PAGE) as u64), PAGE as u32);
    assert_eq!(io.status, NtStatus::SUCCESS);
    assert!(io.data == expected[last * PAGE..]);
    assert_eq!(s.cache_counters().0, paging, "a mapped page read again");
    assert_eq!(s.unmap_view("v"), NtStatus::SUCCESS);
    assert_eq!(s.close_section("s"), NtStatus::SUCCESS);
    assert_eq!(s.close_handle(reader), NtStatus::SUCCESS);
    finish(s);
}
