//! IRP_MJ_CREATE on a volume: what can be opened (paths absolute or relative to a
//! RelatedFileObject, file IDs, the volume itself), the read-only rules, share access, and
//! symlinks and special files as reparse points. A successful open attaches one counted FCB reference
//! (FsContext) and a CCB (FsContext2) to the FILE_OBJECT; a failed one attaches nothing.

use alloc::vec::Vec;

use super::access::Caller;
use crate::ext4;
use crate::fcb::{CCB_TAG, Ccb, Fcb, FcbKind, FcbRef, VOLUME_KEY};
use crate::kernel::{
    CreateParameters, DeviceRef, FILE_OPBATCH_BREAK_UNDERWAY, FileObject, Irp, NtStatus, PoolArc,
    file_id_from_name,
};
use crate::name;
use crate::volume::disk::status_of;
use crate::volume::{Vcb, control, lifetime};

// Dispositions (Parameters.Create.Options >> 24).
const FILE_OPEN: u32 = 1;
const FILE_OPEN_IF: u32 = 3;
const FILE_MAXIMUM_DISPOSITION: u32 = 5;

// Create options.
const FILE_DIRECTORY_FILE: u32 = 0x0000_0001;
const FILE_NON_DIRECTORY_FILE: u32 = 0x0000_0040;
const FILE_DELETE_ON_CLOSE: u32 = 0x0000_1000;
const FILE_OPEN_REPARSE_POINT: u32 = 0x0020_0000;

// Stack location flags.
const SL_OPEN_TARGET_DIRECTORY: u8 = 0x04;
const SL_CASE_SENSITIVE: u8 = 0x80;

/// Every access right that would change the volume: data, attributes, EAs, deletion, the
/// security descriptor, and the generic rights that include any of them.
const WRITE_ACCESS: u32 = 0x0000_0002 // FILE_WRITE_DATA
    | 0x0000_0004 // FILE_APPEND_DATA
    | 0x0000_0010 // FILE_WRITE_EA
    | 0x0000_0040 // FILE_DELETE_CHILD
    | 0x0000_0100 // FILE_WRITE_ATTRIBUTES
    | 0x0001_0000 // DELETE
    | 0x0004_0000 // WRITE_DAC
    | 0x0008_0000 // WRITE_OWNER
    | 0x1000_0000 // GENERIC_ALL
    | 0x4000_0000; // GENERIC_WRITE

/// IoStatus.Information of a successful open.
const FILE_OPENED: usize = 1;

/// What a CREATE resolved to.
enum Target {
    Fcb {
        fcb: FcbRef,
        by_id: bool,
        /// The path from the root as the directory entries spell it (empty: unknown).
        path: Vec<u16>,
    },
    /// A reparse point on the way (a symlink or a special file): STATUS_REPARSE with this tag
    /// and REPARSE_DATA_BUFFER.
    Reparse(u32, Vec<u8>),
}

/// Handles IRP_MJ_CREATE on a volume device.
// A frame of its own, so that `cargo xtask stack-depth` and the debugger see the request's
// entry.
#[inline(never)]
pub fn create(device: DeviceRef, irp: Irp) -> NtStatus {
    // The path walk reads the disk, and a CREATE may come nested (a filter's own open).
    super::stack::with_stack_for(super::stack::CREATE_FRAMES, device, irp, create_here)
}

fn create_here(device: DeviceRef, irp: Irp) -> NtStatus {
    let (Some(file_object), Some(parameters)) = (irp.file_object(), irp.create_parameters()) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let Some(target) = device.with_extension(|vcb: &Vcb| vcb.target()) else {
        return irp.complete(NtStatus::INVALID_DEVICE_REQUEST);
    };
    let mut request = Request {
        irp: Some(irp),
        batch_break_underway: false,
        status: NtStatus::SUCCESS,
    };
    let open_here = |request: &mut Request| {
        device
            .with_extension(|vcb: &Vcb| open(vcb, &file_object, &parameters, request))
            .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST))
    };
    // As FastFAT's FatVerifyVcb: a media change the disk has noted is checked before the open.
    let mut opened = if target.verify_required() && !is_dismounted(device) {
        Err(NtStatus::VERIFY_REQUIRED)
    } else {
        open_here(&mut request)
    };
    if opened == Err(NtStatus::VERIFY_REQUIRED) {
        // IoVerifyVolume, with no lock held: our verify handler compares the medium with the
        // volume and dismounts it if it is another one.
        let verified = target.verify_volume();
        if verified.is_success() && !is_dismounted(device) {
            opened = open_here(&mut request);
        } else if file_object.related_file_object().is_none() {
            // Another volume is there now: the I/O manager parses the name again and mounts
            // it (FastFAT FatPerformVerify, CDFS CdPerformVerify).
            let Some(irp) = request.irp.take() else {
                return NtStatus::PENDING;
            };
            let status = irp.complete_remount();
            lifetime::sweep_later(device);
            return status;
        } else {
            opened = Err(NtStatus::VOLUME_DISMOUNTED);
        }
    }
    let dismounted = is_dismounted(device);
    // The oplock package took the IRP: it waits for an acknowledgement, then runs again.
    let Some(mut irp) = request.irp.take() else {
        return NtStatus::PENDING;
    };
    let status = match opened {
        Ok(None) => {
            irp.set_information(FILE_OPENED);
            irp.complete(request.status)
        }
        Ok(Some((tag, reparse))) => irp.complete_reparse(tag, &reparse),
        Err(status) => {
            if status == NtStatus::SHARING_VIOLATION && request.batch_break_underway {
                irp.set_information(FILE_OPBATCH_BREAK_UNDERWAY);
            }
            irp.complete(status)
        }
    };
    if dismounted {
        // The I/O manager gives back this open's VPB reference once we return; that reference
        // may be all that kept a dismounted volume's device alive.
        lifetime::sweep_later(device);
    }
    status
}

fn is_dismounted(device: DeviceRef) -> bool {
    device
        .with_extension(|vcb: &Vcb| vcb.is_dismounted())
        .unwrap_or(true)
}

/// The CREATE IRP while it is being opened: the oplock package may take it (then `irp` is
/// None and the dispatch routine returns STATUS_PENDING); a successful open's status may be
/// STATUS_OPLOCK_BREAK_IN_PROGRESS, and a sharing violation after a batch oplock break is
/// reported with FILE_OPBATCH_BREAK_UNDERWAY.
struct Request {
    irp: Option<Irp>,
    batch_break_underway: bool,
    status: NtStatus,
}

/// Opens what the request names. `Ok(Some((tag, buffer)))`: a reparse instead.
fn open(
    vcb: &Vcb,
    file_object: &FileObject,
    parameters: &CreateParameters,
    request: &mut Request,
) -> Result<Option<(u32, Vec<u8>)>, NtStatus> {
    check_read_only(parameters)?;
    // Held to the end of the open, so a lock or dismount cannot come between the checks below
    // and the open they allow (CDFS CdCommonCreate: exclusive for a volume open).
    let _vcb_held = if names_the_volume(file_object, parameters) {
        vcb.acquire_exclusive()?
    } else {
        vcb.acquire_shared()?
    };
    if vcb.is_dismounted() {
        return Err(NtStatus::VOLUME_DISMOUNTED);
    }
    if control::is_locked(vcb)? {
        return Err(NtStatus::ACCESS_DENIED);
    }
    let (fcb, by_id, path, granted) = {
        let irp = request.irp.as_ref().ok_or(NtStatus::INVALID_PARAMETER)?;
        let caller = Caller::new(irp, parameters, vcb);
        let (fcb, by_id, path) = match resolve(vcb, file_object, parameters, &caller)? {
            Target::Reparse(tag, buffer) => return Ok(Some((tag, buffer))),
            Target::Fcb { fcb, by_id, path } => (fcb, by_id, path),
        };
        check_kind(&fcb, parameters.options)?;
        let granted = caller.open(vcb, &fcb)?;
        (fcb, by_id, path, granted)
    };
    // As file systems update the ACCESS_STATE: the handle gets what was granted.
    if let Some(irp) = request.irp.as_mut() {
        irp.grant_access(granted);
    }
    let case_insensitive = parameters.stack_flags & SL_CASE_SENSITIVE == 0;
    let ccb = PoolArc::try_new(
        CCB_TAG,
        Ccb::try_new(
            by_id,
            granted,
            case_insensitive,
            path,
            fcb.kind() == FcbKind::Directory,
        )?,
    )?;
    // Room for this FILE_OBJECT's CLOSE in the volume's close queue, before it can exist.
    vcb.reserve_close()?;
    let others = fcb
        .state()
        .lock()
        .ok_or(NtStatus::POSSIBLE_DEADLOCK)?
        .open_handles;
    // Another handle may hold an oplock (CDFS CdCompleteFcbOpen): a Batch or Filter oplock
    // breaks before the share check, so that its owner can close and let this open share.
    let oplocked = fcb.kind() == FcbKind::File && others != 0;
    if oplocked && fcb.oplock().current_batch_oplock() {
        request.batch_break_underway = true;
        check_oplock(&fcb, request)?;
    }
    {
        let mut state = fcb.state().lock().ok_or(NtStatus::POSSIBLE_DEADLOCK)?;
        state.share_access.check(
            parameters.desired_access,
            parameters.share_access,
            file_object,
            true,
        )?;
        state.open_handles += 1;
    }
    if oplocked && let Err(status) = check_oplock(&fcb, request) {
        forget_open(&fcb, file_object);
        return Err(status);
    }
    super::fastio::refresh_in(vcb, &fcb);
    if let Err(fcb) = file_object.attach_fcb(fcb) {
        forget_open(&fcb, file_object);
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if file_object.attach_ccb(ccb).is_err() {
        if let Some(fcb) = file_object.detach_fcb::<Fcb>() {
            forget_open(&fcb, file_object);
        }
        return Err(NtStatus::INVALID_PARAMETER);
    }
    vcb.file_object_opened(true);
    Ok(None)
}

/// FsRtlCheckOplock for the CREATE: Err(STATUS_PENDING) when the IRP now waits for an
/// acknowledgement; STATUS_OPLOCK_BREAK_IN_PROGRESS (FILE_COMPLETE_IF_OPLOCKED) becomes the
/// open's status.
fn check_oplock(fcb: &FcbRef, request: &mut Request) -> Result<(), NtStatus> {
    let irp = request.irp.take().ok_or(NtStatus::INVALID_PARAMETER)?;
    let (irp, status) = super::oplock::check(fcb, irp).ok_or(NtStatus::PENDING)?;
    request.irp = Some(irp);
    if status == NtStatus::OPLOCK_BREAK_IN_PROGRESS {
        request.status = status;
    }
    Ok(())
}

/// True for an open of the volume itself: no name, not by ID, not relative to a file.
fn names_the_volume(file_object: &FileObject, parameters: &CreateParameters) -> bool {
    file_object.file_name().is_empty()
        && !parameters.open_by_file_id()
        && file_object.related_file_object().is_none_or(|related| {
            related
                .fcb::<Fcb>()
                .is_some_and(|f| f.kind() == FcbKind::Volume)
        })
}

/// Undoes the share access and handle count of an open that could not be completed.
fn forget_open(fcb: &FcbRef, file_object: &FileObject) {
    if let Some(mut state) = fcb.state().lock() {
        state.share_access.remove_file_object(file_object);
        state.open_handles = state.open_handles.saturating_sub(1);
    }
}

/// The read-only rules, before anything is looked up: every disposition that would create or
/// overwrite, and every access or option that would write, is STATUS_MEDIA_WRITE_PROTECTED.
/// FILE_OPEN_IF is allowed: it opens what exists (and fails the same way if it would create).
fn check_read_only(parameters: &CreateParameters) -> Result<(), NtStatus> {
    let options = parameters.options;
    if parameters.disposition > FILE_MAXIMUM_DISPOSITION
        || (options & FILE_DIRECTORY_FILE != 0 && options & FILE_NON_DIRECTORY_FILE != 0)
    {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let writes = !matches!(parameters.disposition, FILE_OPEN | FILE_OPEN_IF)
        || parameters.desired_access & WRITE_ACCESS != 0
        || options & FILE_DELETE_ON_CLOSE != 0
        || parameters.stack_flags & SL_OPEN_TARGET_DIRECTORY != 0;
    if writes {
        return Err(NtStatus::MEDIA_WRITE_PROTECTED);
    }
    Ok(())
}

/// FILE_DIRECTORY_FILE / FILE_NON_DIRECTORY_FILE against what was found.
fn check_kind(fcb: &FcbRef, options: u32) -> Result<(), NtStatus> {
    let directory = fcb.kind() == FcbKind::Directory;
    if options & FILE_DIRECTORY_FILE != 0 && !directory {
        return Err(NtStatus::NOT_A_DIRECTORY);
    }
    if options & FILE_NON_DIRECTORY_FILE != 0 && directory {
        return Err(NtStatus::FILE_IS_A_DIRECTORY);
    }
    Ok(())
}

fn resolve(
    vcb: &Vcb,
    file_object: &FileObject,
    parameters: &CreateParameters,
    caller: &Caller,
) -> Result<Target, NtStatus> {
    let file_name = file_object.file_name();
    let open_reparse_point = parameters.options & FILE_OPEN_REPARSE_POINT != 0;
    if parameters.open_by_file_id() {
        let id = file_id_from_name(&file_name).ok_or(NtStatus::INVALID_PARAMETER)?;
        let fcb = by_file_id(vcb, id)?;
        caller.open_by_id()?;
        if !open_reparse_point && let Some(reparse) = reparse(vcb, &fcb, 0)? {
            return Ok(reparse);
        }
        return Ok(Target::Fcb {
            fcb,
            by_id: true,
            path: Vec::new(),
        });
    }
    // The path this open will know itself by: the related open's (the root's is `\`, which
    // the components below start again), unknown if the related open's is (by file ID).
    let mut path = Vec::new();
    let mut path_known = true;
    let related = match file_object.related_file_object() {
        Some(related) => {
            match related.ccb::<Ccb>() {
                Some(ccb) if ccb.path.is_empty() => path_known = false,
                Some(ccb) if ccb.path != [u16::from(b'\\')] => copy_units(&mut path, &ccb.path)?,
                _ => {}
            }
            Some(related.fcb::<Fcb>().ok_or(NtStatus::INVALID_PARAMETER)?)
        }
        None => None,
    };
    let relative = related.is_some();
    if file_name.is_empty() {
        // The volume itself, or a second open of what the related FILE_OBJECT opened.
        let fcb = match related {
            Some(related) => {
                if path_known && path.is_empty() {
                    // A second open of the root.
                    copy_units(&mut path, &[u16::from(b'\\')])?;
                }
                related
            }
            None => vcb
                .listed_fcb(VOLUME_KEY)?
                .ok_or(NtStatus::VOLUME_DISMOUNTED)?,
        };
        return Ok(Target::Fcb {
            fcb,
            by_id: false,
            path,
        });
    }
    let start = match related {
        None => root(vcb)?,
        Some(related) => match related.kind() {
            FcbKind::Directory => related,
            // As CDFS: a name relative to a volume open, or to a file, names nothing.
            FcbKind::Volume => return Err(NtStatus::INVALID_PARAMETER),
            FcbKind::File | FcbKind::Symlink => return Err(NtStatus::OBJECT_PATH_NOT_FOUND),
        },
    };
    let parsed = name::parse(&file_name, relative).map_err(|error| error.status())?;
    let case_insensitive = parameters.stack_flags & SL_CASE_SENSITIVE == 0;
    let count = parsed.components().count();
    let mut current = start;
    for (index, component) in parsed.components().enumerate() {
        let last = index + 1 == count;
        if current.kind() != FcbKind::Directory {
            return Err(NtStatus::OBJECT_PATH_NOT_FOUND);
        }
        caller.traverse(vcb, &current)?;
        let Some(ino) = lookup(vcb, &current, component.name, case_insensitive, &mut path)? else {
            return Err(match (last, parameters.disposition) {
                (false, _) => NtStatus::OBJECT_PATH_NOT_FOUND,
                (true, FILE_OPEN_IF) => NtStatus::MEDIA_WRITE_PROTECTED,
                (true, _) => NtStatus::OBJECT_NAME_NOT_FOUND,
            });
        };
        // A directory entry naming an unused inode is damage.
        let child = inode_fcb(vcb, ino, Some(&current), NtStatus::FILE_CORRUPT_ERROR)?;
        if (!last || !open_reparse_point)
            && let Some(reparse) = reparse(vcb, &child, component.remaining_bytes)?
        {
            return Ok(reparse);
        }
        current = child;
    }
    if parsed.trailing_backslash() && current.kind() != FcbKind::Directory {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    if !path_known {
        path.clear();
    } else if path.is_empty() {
        // The root itself.
        copy_units(&mut path, &[u16::from(b'\\')])?;
    }
    Ok(Target::Fcb {
        fcb: current,
        by_id: false,
        path,
    })
}

/// Appends `units` to `out`, fallibly.
fn copy_units(out: &mut Vec<u16>, units: &[u16]) -> Result<(), NtStatus> {
    out.try_reserve(units.len())
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    out.extend_from_slice(units);
    Ok(())
}

/// STATUS_REPARSE if `fcb` is a reparse point (a symlink or a special file), with
/// `unparsed_bytes` of the name left over. The I/O manager follows a symlink's; for the other
/// tags, which no filter handles, it fails the open with STATUS_IO_REPARSE_TAG_NOT_HANDLED.
fn reparse(vcb: &Vcb, fcb: &FcbRef, unparsed_bytes: u16) -> Result<Option<Target>, NtStatus> {
    let Some(inode) = fcb.inode() else {
        return Ok(None);
    };
    let data = super::reparse_point::reparse_data(vcb, inode, unparsed_bytes)?;
    Ok(data.map(|(tag, buffer)| Target::Reparse(tag, buffer)))
}

fn root(vcb: &Vcb) -> Result<FcbRef, NtStatus> {
    inode_fcb(vcb, ext4::ROOT_INO, None, NtStatus::FILE_CORRUPT_ERROR)
}

/// FILE_OPEN_BY_FILE_ID: the file ID is the inode number. An ID that names no inode in use is
/// STATUS_INVALID_PARAMETER, as NTFS answers for a file reference that is not in use.
fn by_file_id(vcb: &Vcb, id: u64) -> Result<FcbRef, NtStatus> {
    let ino = u32::try_from(id)
        .ok()
        .filter(|&ino| u64::from(ino) != VOLUME_KEY)
        .ok_or(NtStatus::INVALID_PARAMETER)?;
    inode_fcb(vcb, ino, None, NtStatus::INVALID_PARAMETER)
}

/// The FCB of inode `ino`: the listed one, or a new one made from the inode and listed. An
/// inode not in use is `unused`.
fn inode_fcb(
    vcb: &Vcb,
    ino: u32,
    parent: Option<&FcbRef>,
    unused: NtStatus,
) -> Result<FcbRef, NtStatus> {
    if let Some(fcb) = vcb.listed_fcb(u64::from(ino))? {
        return Ok(fcb);
    }
    let inode = match vcb.volume().inode(ino) {
        Ok(inode) => inode,
        Err(ext4::Error::InvalidInode(_)) => return Err(unused),
        Err(error) => return Err(status_of(&error)),
    };
    let fcb = Fcb::try_new_inode(inode, parent.cloned())?;
    vcb.list_fcb(fcb)
}

/// The inode `component` names in the directory `dir`. An exact match wins; without
/// SL_CASE_SENSITIVE, the first entry (in directory order) equal but for case comes next.
/// A match appends `\` and the entry's own spelling to `path`.
fn lookup(
    vcb: &Vcb,
    dir: &FcbRef,
    component: &[u16],
    case_insensitive: bool,
    path: &mut Vec<u16>,
) -> Result<Option<u32>, NtStatus> {
    let inode = dir.inode().ok_or(NtStatus::FILE_CORRUPT_ERROR)?;
    let mut raw = Vec::new();
    name::to_disk(component, &mut raw).map_err(|error| error.status())?;
    let found = |path: &mut Vec<u16>, spelling: &[u16], ino: u32| {
        copy_units(path, &[u16::from(b'\\')])?;
        copy_units(path, spelling)?;
        Ok(Some(ino))
    };
    match vcb.volume().lookup(inode, &raw) {
        Ok(hit) => return found(path, component, hit.ino),
        Err(ext4::Error::NotFound) => {}
        Err(error) => return Err(status_of(&error)),
    }
    if !case_insensitive {
        return Ok(None);
    }
    match spelled_ignoring_case(vcb, inode, component)? {
        Some((shown, ino)) => found(path, &shown, ino),
        None => Ok(None),
    }
}

/// The entry of the directory `inode` whose Windows name equals `component` ignoring case:
/// its name as shown and its inode. A frame of its own, so the directory reader stays off the
/// exact-match path walk's stack (`cargo xtask stack-depth`, CREATE's budget).
#[inline(never)]
fn spelled_ignoring_case(
    vcb: &Vcb,
    inode: &ext4::Inode,
    component: &[u16],
) -> Result<Option<(Vec<u16>, u32)>, NtStatus> {
    let status = |error: ext4::Error| status_of(&error);
    let mut reader = vcb.volume().read_dir(inode, 0).map_err(status)?;
    let mut shown = Vec::new();
    while let Some(entry) = reader.next_entry().map_err(status)? {
        if entry.name == b"." || entry.name == b".." {
            continue;
        }
        shown.clear();
        if name::to_windows(entry.name, &mut shown).is_ok()
            && name::eq_ignore_case(&shown, component)
        {
            return Ok(Some((shown, entry.ino)));
        }
    }
    // A damaged block was skipped: the name may be in it.
    match reader.damage() {
        Some(damage) => Err(status_of(&damage)),
        None => Ok(None),
    }
}
