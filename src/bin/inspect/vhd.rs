//! `rustfsd-inspect to-vhd IMG OUT.vhd`: a disk Windows can attach (Mount-DiskImage, diskpart)
//! holding the ext image as its one partition.
//!
//! Layout: an MBR with one primary partition of type 0x83 starting at 1 MiB, the image byte for
//! byte, zeros up to a size the disk's CHS geometry describes exactly, then the fixed-VHD footer
//! (Microsoft's "Virtual Hard Disk Image Format Specification": big-endian fields, one's
//! complement checksum, disk type 2).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub const SECTOR: u64 = 512;
/// Where the partition starts: 1 MiB, as Windows and fdisk align partitions.
pub const PARTITION_START_LBA: u64 = 2048;
/// MBR partition type "Linux".
pub const LINUX_PARTITION_TYPE: u8 = 0x83;
/// The specification's largest VHD (2040 GiB).
const MAX_VHD_BYTES: u64 = 2040 << 30;
/// VHD time stamps count seconds from 2000-01-01 00:00:00 UTC.
const VHD_EPOCH_UNIX_SECONDS: u64 = 946_684_800;

/// Cylinders, heads, sectors per track, as the footer stores them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Geometry {
    pub cylinders: u16,
    pub heads: u8,
    pub sectors_per_track: u8,
}

impl Geometry {
    /// The specification's CHS algorithm (appendix "CHS Calculation").
    pub fn for_sectors(total_sectors: u64) -> Geometry {
        let total = total_sectors.min(65535 * 16 * 255);
        let (sectors_per_track, heads, cylinders_times_heads) = if total >= 65535 * 16 * 63 {
            (255, 16, total / 255)
        } else {
            let mut sectors_per_track = 17;
            let mut cylinders_times_heads = total / sectors_per_track;
            let mut heads = cylinders_times_heads.div_ceil(1024).max(4);
            if cylinders_times_heads >= heads * 1024 || heads > 16 {
                sectors_per_track = 31;
                heads = 16;
                cylinders_times_heads = total / sectors_per_track;
            }
            if cylinders_times_heads >= heads * 1024 {
                sectors_per_track = 63;
                heads = 16;
                cylinders_times_heads = total / sectors_per_track;
            }
            (sectors_per_track, heads, cylinders_times_heads)
        };
        Geometry {
            cylinders: u16::try_from(cylinders_times_heads / heads).unwrap_or(u16::MAX),
            heads: u8::try_from(heads).unwrap_or(u8::MAX),
            sectors_per_track: u8::try_from(sectors_per_track).unwrap_or(u8::MAX),
        }
    }

    pub fn sectors(self) -> u64 {
        u64::from(self.cylinders) * u64::from(self.heads) * u64::from(self.sectors_per_track)
    }
}

/// The smallest disk of at least `needed` sectors whose geometry describes it exactly, so that
/// readers that size a VHD by its geometry (Virtual PC, older QEMU) and by its current size
/// (Hyper-V, Windows) agree. Beyond the largest geometry no size is exact: `needed` itself.
pub fn disk_sectors(needed: u64) -> u64 {
    // Exact sizes recur at least every 16 * 255 sectors below the largest geometry.
    (needed..needed.saturating_add(2 * 16 * 255))
        .find(|&total| Geometry::for_sectors(total).sectors() == total)
        .unwrap_or(needed)
}

/// The footer: 512 bytes, big-endian.
pub fn footer(disk_bytes: u64, geometry: Geometry, created: SystemTime, id: [u8; 16]) -> [u8; 512] {
    let mut f = [0u8; 512];
    let seconds = created
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(VHD_EPOCH_UNIX_SECONDS);
    f[0..8].copy_from_slice(b"conectix");
    f[8..12].copy_from_slice(&2u32.to_be_bytes()); // features: the "reserved" bit, always set
    f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes()); // format version 1.0
    f[16..24].copy_from_slice(&u64::MAX.to_be_bytes()); // data offset: none for a fixed disk
    f[24..28].copy_from_slice(&u32::try_from(seconds).unwrap_or(u32::MAX).to_be_bytes());
    f[28..32].copy_from_slice(b"rfsd"); // creator application
    f[32..36].copy_from_slice(&0x0001_0000u32.to_be_bytes()); // creator version
    f[36..40].copy_from_slice(b"Wi2k"); // creator host OS: the spec knows Windows and Mac only
    f[40..48].copy_from_slice(&disk_bytes.to_be_bytes()); // original size
    f[48..56].copy_from_slice(&disk_bytes.to_be_bytes()); // current size
    f[56..58].copy_from_slice(&geometry.cylinders.to_be_bytes());
    f[58] = geometry.heads;
    f[59] = geometry.sectors_per_track;
    f[60..64].copy_from_slice(&2u32.to_be_bytes()); // disk type: fixed
    f[68..84].copy_from_slice(&id);
    let checksum = footer_checksum(&f);
    f[64..68].copy_from_slice(&checksum.to_be_bytes());
    f
}

/// The one's complement of the sum of the footer's bytes, its checksum field left out.
pub fn footer_checksum(footer: &[u8; 512]) -> u32 {
    let sum = footer
        .iter()
        .enumerate()
        .filter(|(at, _)| !(64..68).contains(at))
        .fold(0u32, |sum, (_, byte)| sum.wrapping_add(u32::from(*byte)));
    !sum
}

/// The MBR: no boot code, a disk signature, one Linux partition.
pub fn master_boot_record(signature: u32, start_lba: u32, sectors: u32) -> [u8; 512] {
    let mut mbr = [0u8; 512];
    mbr[440..444].copy_from_slice(&signature.to_le_bytes());
    let entry = &mut mbr[446..462];
    entry[0] = 0; // not active
    entry[1..4].copy_from_slice(&chs_address(start_lba));
    entry[4] = LINUX_PARTITION_TYPE;
    let last = start_lba.saturating_add(sectors.saturating_sub(1));
    entry[5..8].copy_from_slice(&chs_address(last));
    entry[8..12].copy_from_slice(&start_lba.to_le_bytes());
    entry[12..16].copy_from_slice(&sectors.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    mbr
}

/// An MBR CHS address in the 255-head, 63-sector translation; past cylinder 1023 the
/// conventional "use the LBA" value 1023/254/63.
fn chs_address(lba: u32) -> [u8; 3] {
    let (heads, sectors) = (255, 63);
    let cylinder = lba / (heads * sectors);
    if cylinder > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    let head = (lba / sectors) % heads;
    let sector = lba % sectors + 1;
    [
        head as u8,
        (sector as u8) | (((cylinder >> 8) as u8) << 6),
        cylinder as u8,
    ]
}

/// Sizes of a VHD made from an image of `image_bytes`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Layout {
    pub partition_sectors: u32,
    /// The disk Windows sees (without the footer).
    pub disk_bytes: u64,
    pub geometry: Geometry,
}

impl Layout {
    pub fn for_image(image_bytes: u64) -> Result<Layout, String> {
        if image_bytes == 0 || !image_bytes.is_multiple_of(SECTOR) {
            return Err(format!(
                "its size ({image_bytes} bytes) is not a non-zero multiple of {SECTOR} bytes"
            ));
        }
        let partition_sectors = u32::try_from(image_bytes / SECTOR)
            .ok()
            .filter(|&n| u64::from(n) + PARTITION_START_LBA <= u64::from(u32::MAX))
            .ok_or(format!(
                "it is too large for an MBR partition ({image_bytes} bytes; at most 2 TiB)"
            ))?;
        let total = disk_sectors(PARTITION_START_LBA + u64::from(partition_sectors));
        let disk_bytes = total * SECTOR;
        if disk_bytes > MAX_VHD_BYTES {
            return Err(format!(
                "it is too large for a VHD ({disk_bytes} bytes with the partition table; at most 2040 GiB)"
            ));
        }
        Ok(Layout {
            partition_sectors,
            disk_bytes,
            geometry: Geometry::for_sectors(total),
        })
    }
}

/// Writes `out` from the ext image `image`; returns a one-line summary.
pub fn write_vhd(image: &Path, out: &Path) -> Result<String, String> {
    let shown = image.display();
    let source = File::open(image).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let metadata = source
        .metadata()
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    let layout = Layout::for_image(metadata.len()).map_err(|e| format!("{shown}: {e}"))?;
    if let Ok(existing) = fs::metadata(out)
        && existing.dev() == metadata.dev()
        && existing.ino() == metadata.ino()
    {
        return Err(format!("{}: is the image itself", out.display()));
    }
    let cannot_write = |e: io::Error| format!("cannot write {}: {e}", out.display());
    let file = File::create(out).map_err(cannot_write)?;
    // Only a file this call created or truncated is removed when writing it fails.
    if let Err(error) = write_disk(source, file, &layout, metadata.len()) {
        let _ = fs::remove_file(out);
        return Err(cannot_write(error));
    }
    Ok(format!(
        "{}: fixed VHD of {} bytes ({}/{}/{} CHS); partition 1: type {:#04x}, {} bytes at byte {}",
        out.display(),
        layout.disk_bytes,
        layout.geometry.cylinders,
        layout.geometry.heads,
        layout.geometry.sectors_per_track,
        LINUX_PARTITION_TYPE,
        metadata.len(),
        PARTITION_START_LBA * SECTOR
    ))
}

fn write_disk(source: File, out: File, layout: &Layout, image_bytes: u64) -> io::Result<()> {
    let id = unique_id()?;
    let signature = u32::from_le_bytes([id[0], id[1], id[2], id[3]]).max(1);
    let start = u32::try_from(PARTITION_START_LBA).unwrap_or(u32::MAX);
    let mut w = BufWriter::with_capacity(1 << 20, out);
    w.write_all(&master_boot_record(
        signature,
        start,
        layout.partition_sectors,
    ))?;
    write_zeros(&mut w, (PARTITION_START_LBA - 1) * SECTOR)?;
    let copied = io::copy(&mut io::BufReader::with_capacity(1 << 20, source), &mut w)?;
    if copied != image_bytes {
        return Err(io::Error::other(
            "the image changed size while it was copied",
        ));
    }
    write_zeros(
        &mut w,
        layout.disk_bytes - PARTITION_START_LBA * SECTOR - image_bytes,
    )?;
    w.write_all(&footer(
        layout.disk_bytes,
        layout.geometry,
        SystemTime::now(),
        id,
    ))?;
    w.into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .sync_all()
}

fn write_zeros(w: &mut impl Write, mut count: u64) -> io::Result<()> {
    let zeros = [0u8; 4096];
    while count > 0 {
        let n = count.min(zeros.len() as u64) as usize;
        w.write_all(&zeros[..n])?;
        count -= n as u64;
    }
    Ok(())
}

/// A random (version 4) UUID for the footer's unique ID.
fn unique_id() -> io::Result<[u8; 16]> {
    let mut id = [0u8; 16];
    io::Read::read_exact(&mut File::open("/dev/urandom")?, &mut id)?;
    id[6] = (id[6] & 0x0F) | 0x40;
    id[8] = (id[8] & 0x3F) | 0x80;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_follows_the_specification() {
        // Worked by hand from the appendix: each branch of the algorithm.
        let g = Geometry::for_sectors(2048 + 1024);
        assert_eq!((g.cylinders, g.heads, g.sectors_per_track), (45, 4, 17));
        let g = Geometry::for_sectors(17 * 16 * 1024);
        assert_eq!((g.cylinders, g.heads, g.sectors_per_track), (561, 16, 31));
        let g = Geometry::for_sectors(65535 * 16 * 63);
        assert_eq!(
            (g.cylinders, g.heads, g.sectors_per_track),
            (16191, 16, 255)
        );
        let g = Geometry::for_sectors(65535 * 16 * 63 - 1);
        assert_eq!((g.heads, g.sectors_per_track), (16, 63));
        let g = Geometry::for_sectors(u64::MAX);
        assert_eq!(
            (g.cylinders, g.heads, g.sectors_per_track),
            (65535, 16, 255)
        );
    }

    #[test]
    fn every_disk_size_is_described_exactly_by_its_geometry() {
        for needed in (2049..200_000)
            .step_by(97)
            .chain([4_194_304, 65535 * 16 * 63 - 5])
        {
            let total = disk_sectors(needed);
            assert!(total >= needed && total - needed < 16 * 255, "{needed}");
            assert_eq!(Geometry::for_sectors(total).sectors(), total, "{needed}");
        }
    }

    #[test]
    fn footer_fields_and_checksum() {
        let geometry = Geometry::for_sectors(4080);
        let created = UNIX_EPOCH + std::time::Duration::from_secs(VHD_EPOCH_UNIX_SECONDS + 7);
        let f = footer(4080 * 512, geometry, created, [0xAB; 16]);
        assert_eq!(&f[0..8], b"conectix");
        assert_eq!(&f[24..28], &7u32.to_be_bytes());
        assert_eq!(&f[48..56], &(4080u64 * 512).to_be_bytes());
        assert_eq!(&f[60..64], &2u32.to_be_bytes());
        let stored = u32::from_be_bytes([f[64], f[65], f[66], f[67]]);
        let sum: u32 = f[..64].iter().chain(&f[68..]).map(|&b| u32::from(b)).sum();
        assert_eq!(stored, !sum);
        assert_eq!(footer_checksum(&f), stored);
    }

    #[test]
    fn mbr_entry() {
        let mbr = master_boot_record(0x1234_5678, 2048, 1024);
        assert_eq!(&mbr[440..444], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(mbr[446 + 4], 0x83);
        assert_eq!(&mbr[446 + 8..446 + 12], &2048u32.to_le_bytes());
        assert_eq!(&mbr[446 + 12..446 + 16], &1024u32.to_le_bytes());
        // LBA 2048 = cylinder 0, head 32, sector 33 in the 255/63 translation.
        assert_eq!(&mbr[447..450], &[32, 33, 0]);
        assert_eq!(&mbr[510..], &[0x55, 0xAA]);
        assert!(mbr[462..510].iter().all(|&b| b == 0));
        assert_eq!(chs_address(u32::MAX), [0xFE, 0xFF, 0xFF]);
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert!(Layout::for_image(0).is_err());
        assert!(
            Layout::for_image(1000)
                .unwrap_err()
                .contains("multiple of 512")
        );
        assert!(Layout::for_image(3 << 40).unwrap_err().contains("MBR"));
        let layout = Layout::for_image(1 << 20).unwrap();
        assert_eq!(layout.partition_sectors, 2048);
        assert!(layout.disk_bytes >= 2 << 20);
    }
}
