//! The pages a paging read fills, and the output buffer a driver maps: the model must still
//! catch a paging read that leaves bytes unread or a tail unzeroed when it hands the driver
//! recycled page frames (the pages of runs its working set dropped), and a driver that writes
//! an IRP's buffer behind its own mapping.

use rustfsd::kernel::model::harness::{DriverDescriptor, FindingKind, Session};
use rustfsd::kernel::model::{self as k, FcbArc, PoolTag, enter_file_system};
use rustfsd::kernel::{
    DeviceRef, FileSizes, IRP_PAGING_IO, Irp, IrpMajor, IrpParameters, NtStatus, OutputBuffer,
};

/// 80 MiB less 100 bytes: more than the cache's 64 MiB working set, so the last runs a
/// sequential pass faults in get the pages of runs dropped earlier; the last run is 16 whole
/// pages, its last one partly past end of file.
const FILE_SIZE: u64 = (80 << 20) - 100;
const SECTOR: usize = 512;
const STALE: u8 = 0xA5;

/// The file's byte at `offset`: never 0xA5, never 0.
fn byte_at(offset: u64) -> u8 {
    (offset % 251) as u8 % 0x80 + 1
}

/// How a test driver's paging read fills its pages.
#[derive(Clone, Copy)]
enum Paging {
    Correct,
    LeavesTail,
    /// Leaves one sector of every paging read unwritten (`skipped_sector`).
    SkipsASector,
    /// Maps the buffer, then writes it through the MDL while the mapping is held.
    WritesBehindTheMapping,
}

/// The sector a `SkipsASector` paging read at `offset` leaves unwritten: a different one from
/// run to run, so that a recycled frame's old bytes there were written in its last use.
fn skipped_sector(offset: u64) -> usize {
    2 + ((offset >> 16) % 61) as usize
}

fn paging_fill(irp: &mut Irp, offset: u64, length: u32, how: Paging) -> NtStatus {
    let OutputBuffer::Mdl(mdl) = irp.output_buffer() else {
        return NtStatus::INVALID_PARAMETER;
    };
    let Ok(mut pages) = irp.map_output() else {
        return NtStatus::INSUFFICIENT_RESOURCES;
    };
    let valid = FILE_SIZE.saturating_sub(offset).min(u64::from(length)) as usize;
    for (i, byte) in pages.iter_mut().enumerate() {
        let skipped = matches!(how, Paging::SkipsASector) && i / SECTOR == skipped_sector(offset);
        if i < valid && !skipped {
            *byte = byte_at(offset + i as u64);
        } else if i >= valid && !matches!(how, Paging::LeavesTail) {
            *byte = 0;
        }
    }
    if matches!(how, Paging::WritesBehindTheMapping) && mdl.write(0, &[1]).is_ok() {
        return NtStatus::UNSUCCESSFUL;
    }
    NtStatus::SUCCESS
}

fn cached_driver(irp: Irp, how: Paging) -> NtStatus {
    let _region = enter_file_system();
    let _top_level = k::TopLevelIrp::enter(&irp);
    let Some(file_object) = irp.file_object() else {
        return irp.complete(NtStatus::SUCCESS);
    };
    match irp.major() {
        Some(IrpMajor::Create) => {
            let fcb = FcbArc::try_new(PoolTag(*b"PgFc"), ()).unwrap();
            fcb.set_file_sizes(FileSizes {
                allocation_size: FILE_SIZE,
                file_size: FILE_SIZE,
                valid_data_length: FILE_SIZE,
            });
            assert!(file_object.attach_fcb(fcb).is_ok());
            irp.complete(NtStatus::SUCCESS)
        }
        Some(IrpMajor::Read) => {
            let IrpParameters::Read { offset, length } = irp.parameters() else {
                return irp.complete(NtStatus::INVALID_PARAMETER);
            };
            let mut irp = irp;
            if irp.flags() & IRP_PAGING_IO != 0 {
                let status = paging_fill(&mut irp, offset, length, how);
                irp.set_information(length as usize);
                return irp.complete(status);
            }
            let fcb = file_object.fcb::<()>().unwrap();
            k::cc_initialize_cache_map(&file_object, fcb.file_sizes()).unwrap();
            // The test device is neither-I/O: describe the caller's buffer by an MDL first.
            if let Err(status) = irp.lock_user_buffer(length) {
                return irp.complete(status);
            }
            let count = FILE_SIZE.saturating_sub(offset).min(u64::from(length)) as usize;
            match k::cc_copy_read(&file_object, offset, count, &irp.output_buffer(), 0) {
                Ok(done) => {
                    irp.set_information(done);
                    irp.complete(NtStatus::SUCCESS)
                }
                Err(status) => irp.complete(status),
            }
        }
        Some(IrpMajor::Cleanup) => {
            if k::has_private_cache_map(&file_object) {
                k::cc_uninitialize_cache_map(&file_object);
            }
            irp.complete(NtStatus::SUCCESS)
        }
        Some(IrpMajor::Close) => {
            drop(file_object.detach_fcb::<()>());
            irp.complete(NtStatus::SUCCESS)
        }
        _ => irp.complete(NtStatus::SUCCESS),
    }
}

fn correct(_device: DeviceRef, irp: Irp) -> NtStatus {
    cached_driver(irp, Paging::Correct)
}

fn leaves_tail(_device: DeviceRef, irp: Irp) -> NtStatus {
    cached_driver(irp, Paging::LeavesTail)
}

fn skips_a_sector(_device: DeviceRef, irp: Irp) -> NtStatus {
    cached_driver(irp, Paging::SkipsASector)
}

fn writes_behind_the_mapping(_device: DeviceRef, irp: Irp) -> NtStatus {
    cached_driver(irp, Paging::WritesBehindTheMapping)
}

/// Reads the whole file in 64 KiB cached reads; returns each read's data and the findings.
fn read_whole_file(
    name: &'static str,
    dispatch: fn(DeviceRef, Irp) -> NtStatus,
) -> (Vec<(u64, Vec<u8>)>, Vec<FindingKind>) {
    let mut s = Session::new();
    s.set_trace_enabled(false);
    s.load_driver(DriverDescriptor::test_driver(name, dispatch))
        .unwrap();
    let h = s.open_test_driver().handle.unwrap();
    let mut reads = Vec::new();
    let mut offset = 0;
    while offset < FILE_SIZE {
        let io = s.read_file(h, Some(offset), 64 << 10);
        if io.status != NtStatus::SUCCESS {
            break;
        }
        reads.push((offset, io.data));
        offset += io.information as u64;
    }
    s.close_handle(h);
    s.run_worker();
    s.unload_driver(name);
    (reads, s.findings().into_iter().map(|f| f.kind).collect())
}

#[test]
fn a_correct_paging_driver_reads_the_whole_file_into_recycled_pages_cleanly() {
    let (reads, findings) = read_whole_file("pg-fine", correct);
    assert_eq!(findings, vec![]);
    let total: usize = reads.iter().map(|(_, data)| data.len()).sum();
    assert_eq!(total as u64, FILE_SIZE);
    for (offset, data) in &reads {
        for (i, byte) in data.iter().enumerate() {
            assert_eq!(
                *byte,
                byte_at(offset + i as u64),
                "at {}",
                offset + i as u64
            );
        }
    }
}

#[test]
fn an_unzeroed_tail_in_recycled_pages_is_caught() {
    // The run holding end of file is the last one faulted in: by then every run's pages are
    // recycled ones, whose old contents would pass for zeros only by chance.
    let (_, findings) = read_whole_file("pg-tail", leaves_tail);
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::PagingReadTailNotZeroed { .. })),
        "{findings:?}"
    );
}

#[test]
fn a_sector_left_unread_shows_stale_bytes_in_new_and_recycled_pages() {
    let (reads, _) = read_whole_file("pg-sector", skips_a_sector);
    // The skipped sector of each paging read (64 KiB, so of each 64 KiB read here) is stale:
    // 0xA5 at both ends whether the pages were new (0xA5 throughout) or recycled (another
    // run's bytes, marked).
    let (mut new, mut recycled) = (0, 0);
    for (offset, data) in &reads {
        let at = skipped_sector(*offset) * SECTOR;
        let Some(sector) = data.get(at..at + SECTOR) else {
            continue;
        };
        assert_eq!((sector[0], sector[SECTOR - 1]), (STALE, STALE));
        if sector.iter().all(|&b| b == STALE) {
            new += 1;
        } else {
            recycled += 1;
        }
    }
    assert!(new > 0 && recycled > 0, "new {new}, recycled {recycled}");
}

#[test]
fn writing_a_buffer_behind_its_mapping_is_caught() {
    let (_, findings) = read_whole_file("pg-behind", writes_behind_the_mapping);
    assert!(
        findings.iter().any(|f| matches!(
            f,
            FindingKind::Other(text) if text.contains("while the driver holds its mapping")
        )),
        "{findings:?}"
    );
}
