//! `rustfsd-inspect`: look at an ext2/ext3/ext4 image (or disk) with the driver's own reader,
//! before mounting it on Windows.
//!
//! ```text
//! rustfsd-inspect info IMG
//! rustfsd-inspect ls   IMG PATH
//! rustfsd-inspect stat IMG PATH
//! rustfsd-inspect cat  IMG PATH        raw bytes to stdout
//! rustfsd-inspect walk IMG             every path: type, size, SHA-256, sorted
//! rustfsd-inspect to-vhd IMG OUT.vhd   a fixed VHD (MBR, one 0x83 partition) Windows attaches
//! ```
//! Exit status: 0 on success; 1 when `walk` met damaged objects (each reported on stderr as
//! `error PATH: reason`, the walk goes on past them); 2 with a one-line error when the volume
//! cannot be mounted, for other commands' failures, and for bad usage. `--help` prints the
//! usage and exits 0. It never panics on a bad image: every failure of the reader is an error
//! value.

#[cfg(target_os = "windows")]
fn main() {}

#[cfg(not(target_os = "windows"))]
fn main() -> std::process::ExitCode {
    host::main()
}

#[cfg(not(target_os = "windows"))]
#[path = "inspect/vhd.rs"]
mod vhd;

#[cfg(not(target_os = "windows"))]
mod host {
    use std::collections::HashSet;
    use std::fmt::Write as _;
    use std::fs::File;
    use std::io::{self, BufWriter, Write};
    use std::os::unix::fs::FileExt;
    use std::process::ExitCode;

    use rustfsd::ext4::{BlockDevice, Error, FileReader, FileType, Inode, Timestamp, Volume};
    use rustfsd::walk_listing::{self, ContentHash, Listing, escape, type_char};

    const USAGE: &str = "usage: rustfsd-inspect (info IMG | ls IMG PATH | stat IMG PATH | cat IMG PATH | walk IMG | to-vhd IMG OUT.vhd)";
    const HELP: &str = "Reads an ext2/ext3/ext4 image (or disk) with rustfsd's own ext4 reader.
  info IMG             superblock summary: label, UUID, sizes, features
  ls IMG PATH          a directory's entries (or one file's line)
  stat IMG PATH        one inode in detail
  cat IMG PATH         a file's bytes (a symlink's target) to standard output
  walk IMG             every path: type, size, SHA-256, sorted
  to-vhd IMG OUT.vhd   a fixed VHD for Windows: an MBR with one 0x83 partition at 1 MiB
                       holding the image byte for byte (docs/installing-on-a-test-vm.md)
Exit status: 0 on success; 1 when walk met damaged objects (each reported on stderr as
`error PATH: reason`); 2 with a one-line error on refusal, corruption or bad usage.";

    struct FileDevice {
        file: File,
        size: u64,
    }

    impl BlockDevice for FileDevice {
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
            self.file.read_exact_at(buf, offset).map_err(|e| Error::Io {
                offset,
                code: i64::from(e.raw_os_error().unwrap_or(-1)),
            })
        }
        fn size(&self) -> Option<u64> {
            Some(self.size)
        }
    }

    /// Everything that ends the program with status 2.
    enum Fail {
        Usage,
        Open(String, io::Error),
        Fs(Error, String),
        Out(io::Error),
        Msg(String),
    }

    impl From<io::Error> for Fail {
        fn from(e: io::Error) -> Self {
            Fail::Out(e)
        }
    }

    type Res<T> = Result<T, Fail>;

    fn fs<T>(r: Result<T, Error>, ctx: &str) -> Res<T> {
        r.map_err(|e| Fail::Fs(e, ctx.to_string()))
    }

    pub fn main() -> ExitCode {
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
        if matches!(
            args.first().and_then(|a| a.to_str()),
            Some("-h" | "--help" | "help")
        ) {
            let _ = writeln!(io::stdout(), "{USAGE}\n\n{HELP}");
            return ExitCode::SUCCESS;
        }
        let stdout = io::stdout();
        let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
        let r = run(&args, &mut out).and_then(|damaged| {
            out.flush().map_err(Fail::Out)?;
            Ok(damaged)
        });
        match r {
            Ok(0) => ExitCode::SUCCESS,
            Ok(_) => ExitCode::from(1),
            Err(f) => {
                let msg = match f {
                    Fail::Usage => USAGE.to_string(),
                    Fail::Open(p, e) => format!("cannot open {p}: {e}"),
                    Fail::Fs(e, ctx) if ctx.is_empty() => e.to_string(),
                    Fail::Fs(e, ctx) => format!("{ctx}: {e}"),
                    // A closed pipe (e.g. `| head`) is not worth a message.
                    Fail::Out(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        return ExitCode::from(2);
                    }
                    Fail::Out(e) => format!("write error: {e}"),
                    Fail::Msg(m) => m,
                };
                let _ = writeln!(io::stderr(), "rustfsd-inspect: error: {msg}");
                ExitCode::from(2)
            }
        }
    }

    /// Runs one command; returns how many damaged objects `walk` reported (0 otherwise).
    fn run(args: &[std::ffi::OsString], out: &mut impl Write) -> Res<usize> {
        let cmd = args.first().and_then(|a| a.to_str()).ok_or(Fail::Usage)?;
        let img = args.get(1).ok_or(Fail::Usage)?;
        let path = args
            .get(2)
            .map(|p| std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()));
        let known = matches!(cmd, "info" | "ls" | "stat" | "cat" | "walk" | "to-vhd");
        let need_path = matches!(cmd, "ls" | "stat" | "cat" | "to-vhd");
        if !known || need_path != path.is_some() || args.len() > 3 {
            return Err(Fail::Usage);
        }
        let shown = img.to_string_lossy().into_owned();
        let file = File::open(img).map_err(|e| Fail::Open(shown.clone(), e))?;
        let size = file
            .metadata()
            .map_err(|e| Fail::Open(shown.clone(), e))?
            .len();
        let vol = fs(Volume::mount(FileDevice { file, size }), &shown)?;
        match (cmd, path) {
            ("info", None) => info(&vol, out).map(|()| 0),
            ("ls", Some(p)) => ls(&vol, p, out).map(|()| 0),
            ("stat", Some(p)) => stat(&vol, p, out).map(|()| 0),
            ("cat", Some(p)) => cat(&vol, p, out).map(|()| 0),
            ("walk", None) => walk(&vol, out),
            ("to-vhd", Some(_)) => {
                let vhd = std::path::Path::new(args.get(2).ok_or(Fail::Usage)?);
                let summary = crate::vhd::write_vhd(img.as_ref(), vhd).map_err(Fail::Msg)?;
                writeln!(out, "{summary}")?;
                Ok(0)
            }
            _ => Err(Fail::Usage),
        }
    }

    fn resolve(vol: &Volume<FileDevice>, p: &[u8]) -> Res<Inode> {
        fs(vol.resolve_path(p), &escape(p))
    }

    fn time(t: Timestamp) -> String {
        format!("{}.{:09}", t.seconds, t.nanoseconds)
    }

    const INCOMPAT_NAMES: &[(u32, &str)] = &[
        (0x2, "filetype"),
        (0x4, "needs_recovery"),
        (0x10, "meta_bg"),
        (0x40, "extent"),
        (0x80, "64bit"),
        (0x100, "mmp"),
        (0x200, "flex_bg"),
        (0x400, "ea_inode"),
        (0x2000, "metadata_csum_seed"),
        (0x4000, "large_dir"),
        (0x8000, "inline_data"),
    ];
    const RO_COMPAT_NAMES: &[(u32, &str)] = &[
        (0x1, "sparse_super"),
        (0x2, "large_file"),
        (0x8, "huge_file"),
        (0x10, "uninit_bg"),
        (0x20, "dir_nlink"),
        (0x40, "extra_isize"),
        (0x100, "quota"),
        (0x200, "bigalloc"),
        (0x400, "metadata_csum"),
        (0x1000, "read-only"),
        (0x2000, "project"),
        (0x8000, "verity"),
        (0x10000, "orphan_present"),
    ];
    const COMPAT_NAMES: &[(u32, &str)] = &[
        (0x1, "dir_prealloc"),
        (0x4, "has_journal"),
        (0x8, "ext_attr"),
        (0x10, "resize_inode"),
        (0x20, "dir_index"),
        (0x200, "sparse_super2"),
        (0x400, "fast_commit"),
        (0x800, "stable_inodes"),
        (0x1000, "orphan_file"),
    ];

    fn feature_list(bits: u32, names: &[(u32, &str)], out: &mut String) {
        let mut rest = bits;
        for (b, n) in names {
            if bits & b != 0 {
                out.push(' ');
                out.push_str(n);
                rest &= !b;
            }
        }
        if rest != 0 {
            let _ = write!(out, " {rest:#x}");
        }
    }

    fn info(vol: &Volume<FileDevice>, out: &mut impl Write) -> Res<()> {
        let i = fs(vol.info(), "")?;
        let u = i.uuid;
        writeln!(out, "label: {}", escape(&i.label))?;
        writeln!(
            out,
            "uuid: {:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            u[0],
            u[1],
            u[2],
            u[3],
            u[4],
            u[5],
            u[6],
            u[7],
            u[8],
            u[9],
            u[10],
            u[11],
            u[12],
            u[13],
            u[14],
            u[15]
        )?;
        writeln!(out, "block size: {}", i.block_size)?;
        writeln!(out, "cluster size: {}", i.cluster_size)?;
        writeln!(out, "blocks: {} ({} free)", i.blocks_count, i.free_blocks)?;
        writeln!(
            out,
            "inodes: {} ({} free), {} bytes each",
            i.inodes_count, i.free_inodes, i.inode_size
        )?;
        writeln!(out, "groups: {}", i.group_count)?;
        let mut f = String::new();
        feature_list(i.feature_compat, COMPAT_NAMES, &mut f);
        feature_list(i.feature_incompat, INCOMPAT_NAMES, &mut f);
        feature_list(i.feature_ro_compat, RO_COMPAT_NAMES, &mut f);
        writeln!(out, "features:{f}")?;
        writeln!(out, "created: {}", i.mkfs_time)?;
        writeln!(out, "journal: {}", journal_state(vol))?;
        Ok(())
    }

    /// The journal line of `info`: none, clean, or what the in-memory replay did.
    fn journal_state(vol: &Volume<FileDevice>) -> String {
        let sb = vol.superblock();
        if !sb.has_compat(rustfsd::ext4::superblock::compat::HAS_JOURNAL) {
            return "none".to_string();
        }
        let place = match sb.journal_inum {
            0 => "external".to_string(),
            n => format!("inode {n}"),
        };
        match vol.replay() {
            None => format!("{place}, clean"),
            Some(r) => format!(
                "{place}, needs recovery: replayed in memory: {} transactions from sequence {}, \
                 {} log blocks, {} blocks logged, {} blocks replayed, {} revoked, overlay {} bytes",
                r.transactions,
                r.first_sequence,
                r.log_blocks,
                r.logged_blocks,
                r.replayed_blocks,
                r.revoked_blocks,
                r.overlay_bytes
            ),
        }
    }

    fn ls(vol: &Volume<FileDevice>, p: &[u8], out: &mut impl Write) -> Res<()> {
        let dir = resolve(vol, p)?;
        if !dir.is_dir() {
            return line_for(vol, &dir, p, out);
        }
        let mut rd = fs(vol.read_dir(&dir, 0), &escape(p))?;
        let mut entries = Vec::new();
        while let Some(e) = fs(rd.next_entry(), &escape(p))? {
            entries.push((e.name.to_vec(), e.ino));
        }
        entries.sort();
        for (name, ino) in entries {
            let inode = fs(vol.inode(ino), &escape(&name))?;
            line_for(vol, &inode, &name, out)?;
        }
        // The entries of undamaged blocks are listed; then the damage fails the command.
        fs(rd.damage().map_or(Ok(()), Err), &escape(p))
    }

    fn line_for(
        vol: &Volume<FileDevice>,
        inode: &Inode,
        name: &[u8],
        out: &mut impl Write,
    ) -> Res<()> {
        let st = vol.stat(inode);
        let mut tail = String::new();
        if st.file_type == FileType::Symlink {
            let t = fs(vol.read_link(inode), &escape(name))?;
            tail = format!(" -> {}", escape(&t));
        }
        writeln!(
            out,
            "{:>8} {} {:06o} {:>5} {:>5} {:>5} {:>12} {} {}{}",
            st.ino,
            type_char(st.file_type),
            st.mode & 0o7777,
            st.nlink,
            st.uid,
            st.gid,
            st.size,
            time(st.mtime),
            escape(name),
            tail
        )?;
        Ok(())
    }

    fn stat(vol: &Volume<FileDevice>, p: &[u8], out: &mut impl Write) -> Res<()> {
        let inode = resolve(vol, p)?;
        let st = vol.stat(&inode);
        writeln!(out, "path: {}", escape(p))?;
        writeln!(out, "inode: {}", st.ino)?;
        writeln!(out, "type: {:?}", st.file_type)?;
        writeln!(out, "mode: {:06o}", st.mode)?;
        writeln!(out, "uid: {}\ngid: {}", st.uid, st.gid)?;
        writeln!(out, "links: {}", st.nlink)?;
        writeln!(out, "size: {}", st.size)?;
        writeln!(out, "blocks (512 B): {}", st.blocks_512)?;
        writeln!(
            out,
            "atime: {}\nmtime: {}\nctime: {}",
            time(st.atime),
            time(st.mtime),
            time(st.ctime)
        )?;
        match st.crtime {
            Some(t) => writeln!(out, "crtime: {}", time(t))?,
            None => writeln!(out, "crtime: -")?,
        }
        writeln!(out, "generation: {}", st.generation)?;
        writeln!(out, "flags: {:#x}", st.flags)?;
        if matches!(st.file_type, FileType::CharDevice | FileType::BlockDevice) {
            writeln!(out, "device: {}:{}", st.rdev >> 20, st.rdev & 0xfffff)?;
        }
        if st.file_type == FileType::Symlink {
            let t = fs(vol.read_link(&inode), &escape(p))?;
            writeln!(out, "target: {}", escape(&t))?;
        }
        Ok(())
    }

    /// Streams a file's content through `sink`, 1 MiB at a time.
    fn stream(
        vol: &Volume<FileDevice>,
        inode: &Inode,
        ctx: &[u8],
        mut sink: impl FnMut(&[u8]) -> Res<()>,
    ) -> Res<()> {
        let mut rdr = FileReader::new(fs(inode.try_clone(), &escape(ctx))?);
        let mut buf = vec![0u8; 1 << 20];
        let mut off = 0u64;
        loop {
            let n = fs(rdr.read_at(vol, off, &mut buf), &escape(ctx))?;
            if n == 0 {
                return Ok(());
            }
            sink(buf.get(..n).unwrap_or(&[]))?;
            off += n as u64;
        }
    }

    fn cat(vol: &Volume<FileDevice>, p: &[u8], out: &mut impl Write) -> Res<()> {
        let inode = resolve(vol, p)?;
        match inode.file_type() {
            Some(FileType::Regular) => stream(vol, &inode, p, |b| Ok(out.write_all(b)?)),
            Some(FileType::Symlink) => {
                let t = fs(vol.read_link(&inode), &escape(p))?;
                Ok(out.write_all(&t)?)
            }
            Some(FileType::Directory) => Err(Fail::Msg(format!("{}: is a directory", escape(p)))),
            _ => Err(Fail::Msg(format!("{}: not a regular file", escape(p)))),
        }
    }

    /// Every path, sorted. A damaged object (unreadable inode, directory, file content or
    /// symlink; a directory cycle) is reported on stderr as `error PATH: reason` and left out;
    /// the walk goes on. Returns how many were reported.
    fn walk(vol: &Volume<FileDevice>, out: &mut impl Write) -> Res<usize> {
        let mut listing = Listing::default();
        let root = fs(vol.root(), "root")?;
        let mut visited: HashSet<u32> = HashSet::new();
        visited.insert(root.ino());
        let mut stack: Vec<(Vec<u8>, Inode, usize)> = vec![(Vec::new(), root, 0)];
        let mut count = 0usize;
        while let Some((path, dir, depth)) = stack.pop() {
            // A damaged directory block is reported and skipped: the entries of the other
            // blocks are still walked.
            let mut entries = Vec::new();
            let listed = vol.read_dir(&dir, 0).and_then(|mut rd| {
                while let Some(e) = rd.next_entry()? {
                    if e.name != b"." && e.name != b".." {
                        entries.push((e.name.to_vec(), e.ino));
                    }
                }
                rd.damage().map_or(Ok(()), Err)
            });
            if let Err(e) = listed {
                listing.damage(&path, e);
            }
            for (name, ino) in entries {
                count += 1;
                if count > walk_listing::MAX_ENTRIES {
                    return Err(Fail::Msg("too many entries".into()));
                }
                let p = walk_listing::child_path(&path, &name);
                match walk_line(vol, ino, &p, depth, &mut visited, &mut stack) {
                    Ok(line) => listing.line(p, line),
                    Err(Fail::Fs(e, _)) => listing.damage(&p, e),
                    Err(Fail::Msg(m)) => listing.damage(&p, m),
                    Err(other) => return Err(other),
                }
            }
        }
        Ok(listing.print(out, &mut io::stderr().lock())?)
    }

    /// The walk line of inode `ino` at `p`; a directory is also queued for the walk.
    fn walk_line(
        vol: &Volume<FileDevice>,
        ino: u32,
        p: &[u8],
        depth: usize,
        visited: &mut HashSet<u32>,
        stack: &mut Vec<(Vec<u8>, Inode, usize)>,
    ) -> Res<String> {
        let inode = fs(vol.inode(ino), "")?;
        let st = vol.stat(&inode);
        Ok(match st.file_type {
            FileType::Directory => {
                if !visited.insert(ino) {
                    return Err(Fail::Msg(walk_listing::cycle_reason(ino.into())));
                }
                if depth + 1 > walk_listing::MAX_DEPTH {
                    return Err(Fail::Msg(walk_listing::TOO_DEEP.into()));
                }
                stack.push((p.to_vec(), inode, depth + 1));
                walk_listing::DIRECTORY_LINE.to_string()
            }
            FileType::Regular => {
                let mut content = ContentHash::default();
                stream(vol, &inode, b"", |b| {
                    content.update(b);
                    Ok(())
                })?;
                content.line()
            }
            FileType::Symlink => walk_listing::symlink_line(&fs(vol.read_link(&inode), "")?),
            t => walk_listing::special_line(t),
        })
    }
}
