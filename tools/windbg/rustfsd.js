"use strict";

// rustfsd's WinDbg extension (JavaScript, debugger data model).
//
//   .scriptload C:\path\to\rustfsd.js
//   dx @$rustfsd.Volumes()                  every mounted volume: VCB, VPB, FCBs, delayed-close queue
//   dx @$rustfsd.Volumes()[0].OpenFiles()   its handles in every process, with their CCBs
//   dx @$rustfsd.FileObject(0xffff...)      one FILE_OBJECT: its FCB and CCB
//   dx @$cursession.Rustfsd.Volumes()       the same root, where @$rustfsd is not set
//
// Everything is read through rustfsd.pdb's type layouts (host.getModuleType), so field offsets
// follow the build; tools/windbg/test/ checks this file against the layouts of the PDB that
// `cargo xtask package` ships. docs/windbg.md says what was and was not tried on a real debugger.

const MODULE = "rustfsd";
const TYPE = {
    vcb: "rustfsd::volume::vcb::Vcb",
    extensionHeader: "rustfsd::kernel::nt::device::ExtensionHeader",
    volumeExtension: "rustfsd::kernel::nt::device::Extension<rustfsd::volume::vcb::Vcb>",
    fcbEntry: "rustfsd::fcb::table::Entry",
    fcbBlock: "rustfsd::kernel::nt::fcb::FcbBlock<rustfsd::fcb::file_control_block::Fcb>",
    arcHeader: "rustfsd::kernel::nt::pool::ArcHeader",
    ccb: "rustfsd::fcb::context_control_block::Ccb",
};
const DRIVER_OBJECT_SYMBOL = "rustfsd::kernel::nt::entry::DRIVER_OBJECT_FOR_WORK_ITEMS";
// The extension header's kind of a volume device: "RfVd", little-endian.
const VOLUME_DEVICE_KIND = 0x64566652;
// rustfsd::fcb::file_control_block::FcbKind, by discriminant.
const FCB_KINDS = ["Volume", "Directory", "File", "Symlink"];
const VPB_MOUNTED = 0x1;
const VPB_LOCKED = 0x2;
// Bounds for walking structures that may be corrupt.
const MAX_DEVICES = 4096;
const MAX_FCBS = 1 << 20;

// --- values -------------------------------------------------------------------------------

// 64-bit values reach JavaScript as numbers or as host.Int64; addresses are always Int64 here.
function int64(value) {
    return typeof value === "number" ? new host.Int64(value) : value;
}

function toNumber(value) {
    return typeof value === "number" ? value : value.asNumber();
}

function isZero(value) {
    return int64(value).compareTo(0) === 0;
}

function hex(value) {
    return "0x" + int64(value).toString(16);
}

function readUnsigned(address, size) {
    return host.memory.readMemoryValues(int64(address), 1, size, false)[0];
}

function readPointer(address) {
    return int64(readUnsigned(address, 8));
}

function readCount(address, size) {
    return toNumber(readUnsigned(address, size));
}

// --- layouts ------------------------------------------------------------------------------

// Field offsets by dotted path ("inner.value.value.fcbs"), from a module's type information.
class Layouts {
    constructor(module) {
        this.__module = module;
        this.__offsets = new Map();
        this.__types = new Map();
    }

    type(name) {
        if (!this.__types.has(name)) {
            this.__types.set(name, host.getModuleType(this.__module, name));
        }
        return this.__types.get(name);
    }

    size(name) {
        return toNumber(this.type(name).size);
    }

    offset(name, path) {
        const key = name + "/" + path;
        if (!this.__offsets.has(key)) {
            let type = this.type(name);
            let offset = 0;
            for (const part of path.split(".")) {
                const field = fieldOf(type, part);
                if (field === undefined) {
                    throw new Error(`${this.__module}!${name} has no field ${path} ` +
                        "(do the symbols match the loaded driver?)");
                }
                offset += toNumber(field.offset);
                type = field.type;
            }
            this.__offsets.set(key, offset);
        }
        return this.__offsets.get(key);
    }

    // The address of `path` in the `name` at `base`.
    at(base, name, path) {
        return int64(base).add(this.offset(name, path));
    }
}

function fieldOf(type, name) {
    try {
        return type.fields[name];
    } catch (error) {
        return undefined;
    }
}

const rust = new Layouts(MODULE);
const nt = new Layouts("nt");

// --- what the extension shows ---------------------------------------------------------------

class VpbState {
    constructor(address) {
        this.Address = hex(address);
        if (isZero(address)) {
            return;
        }
        const flags = readCount(nt.at(address, "_VPB", "Flags"), 2);
        this.Flags = flags;
        this.Mounted = (flags & VPB_MOUNTED) !== 0;
        this.Locked = (flags & VPB_LOCKED) !== 0;
        this.ReferenceCount = readCount(nt.at(address, "_VPB", "ReferenceCount"), 4);
        this.DeviceObject = hex(readPointer(nt.at(address, "_VPB", "DeviceObject")));
        this.RealDevice = hex(readPointer(nt.at(address, "_VPB", "RealDevice")));
    }

    toString() {
        if (this.Flags === undefined) {
            return "no VPB";
        }
        const state = [this.Mounted ? "mounted" : "not mounted"];
        if (this.Locked) {
            state.push("locked");
        }
        return `VPB ${this.Address}: ${state.join(", ")}, ${this.ReferenceCount} references`;
    }
}

// An FCB block: what FILE_OBJECT.FsContext points at.
class Fcb {
    constructor(address) {
        this.Address = hex(address);
        this.Key = readCount(rust.at(address, TYPE.fcbBlock, "data.key"), 8);
        const kind = readCount(rust.at(address, TYPE.fcbBlock, "data.kind"), 1);
        this.Kind = FCB_KINDS[kind] || `unknown kind ${kind}`;
        this.References = readCount(rust.at(address, TYPE.fcbBlock, "control.count"), 8);
        this.OpenHandles = readCount(
            rust.at(address, TYPE.fcbBlock, "data.state.value.value.open_handles"), 4);
        const parent = readPointer(rust.at(address, TYPE.fcbBlock,
            "data.state.value.value.parent.variant1.value.__0.block.pointer"));
        this.Parent = isZero(parent) ? null : hex(parent);
        this.FileSize = readCount(
            rust.at(address, TYPE.fcbBlock, "header.header.value.file_size"), 8);
    }

    toString() {
        const name = this.Key === 0 ? "volume" : `inode ${this.Key}`;
        return `FCB ${this.Address} (${this.Kind}, ${name}): ${this.References} references, ` +
            `${this.OpenHandles} handles`;
    }
}

// A CCB: what FILE_OBJECT.FsContext2 points at (the value of a counted pool block).
class Ccb {
    constructor(address) {
        this.Address = hex(address);
        const header = int64(address).subtract(rust.size(TYPE.arcHeader));
        this.References = readCount(rust.at(header, TYPE.arcHeader, "count"), 8);
        this.OpenedById = readCount(rust.at(address, TYPE.ccb, "opened_by_id"), 1) !== 0;
        this.DirectoryCursor = readCount(rust.at(address, TYPE.ccb, "directory_cursor"), 8);
    }

    toString() {
        return `CCB ${this.Address}: ${this.References} references` +
            (this.OpenedById ? ", opened by ID" : "");
    }
}

class OpenFile {
    constructor(fileObject, process, handle) {
        this.FileObject = hex(fileObject);
        if (process !== undefined) {
            this.Process = process;
            this.Handle = handle;
        }
        const fsContext = readPointer(nt.at(fileObject, "_FILE_OBJECT", "FsContext"));
        const fsContext2 = readPointer(nt.at(fileObject, "_FILE_OBJECT", "FsContext2"));
        this.Vpb = hex(readPointer(nt.at(fileObject, "_FILE_OBJECT", "Vpb")));
        this.Fcb = isZero(fsContext) ? null : new Fcb(fsContext);
        this.Ccb = isZero(fsContext2) ? null : new Ccb(fsContext2);
    }

    toString() {
        const where = this.Process === undefined ? "" : ` (${this.Process}, handle ${this.Handle})`;
        return `FILE_OBJECT ${this.FileObject}${where}: ${this.Fcb}`;
    }
}

class DelayedCloseQueue {
    constructor(vcb) {
        const vcbType = TYPE.vcb;
        const deque = "inner.value.value.fcbs.idle";
        this.Limit = readCount(rust.at(vcb, vcbType, "inner.value.value.fcbs.idle_limit"), 8);
        const head = readCount(rust.at(vcb, vcbType, deque + ".head"), 8);
        const length = readCount(rust.at(vcb, vcbType, deque + ".len"), 8);
        const capacity = readCount(rust.at(vcb, vcbType, deque + ".buf.inner.cap"), 8);
        const buffer = readPointer(rust.at(vcb, vcbType, deque + ".buf.inner.ptr"));
        this.Keys = [];
        if (length > capacity || capacity > MAX_FCBS) {
            this.Error = `implausible queue: ${length} of ${capacity}`;
            return;
        }
        // A ring buffer: element i is at (head + i) mod capacity, oldest first.
        for (let i = 0; i < length; i++) {
            this.Keys.push(readCount(buffer.add(((head + i) % capacity) * 8), 8));
        }
    }

    toString() {
        return `${this.Keys.length} idle of at most ${this.Limit}, oldest first: ` +
            `[${this.Keys.join(", ")}]`;
    }
}

class Volume {
    constructor(device, extension) {
        const vcb = rust.at(extension, TYPE.volumeExtension, "value");
        const vcbType = TYPE.vcb;
        this.Device = hex(device);
        this.Vcb = hex(vcb);
        this.Vpb = new VpbState(readPointer(rust.at(extension, TYPE.extensionHeader, "vpb")));
        this.Dismounted = readCount(rust.at(vcb, vcbType, "dismounted"), 1) !== 0;
        this.OpenFileObjects = readCount(rust.at(vcb, vcbType, "open_file_objects"), 4);
        this.OpenHandles = readCount(rust.at(vcb, vcbType, "open_handles"), 4);
        const lockTag = readCount(rust.at(vcb, vcbType, "inner.value.value.locked_by.tag"), 8);
        this.LockedBy = lockTag === 0 ? null : hex(readPointer(rust.at(vcb, vcbType,
            "inner.value.value.locked_by.variant1.value.__0.raw")));
        const stream = readPointer(rust.at(vcb, vcbType,
            "inner.value.value.stream.variant1.value.__0.raw.pointer"));
        this.VolumeStream = isZero(stream) ? null : hex(stream);
        this.Fcbs = this.__fcbs(vcb);
        this.DelayedCloseQueue = new DelayedCloseQueue(vcb);
    }

    __fcbs(vcb) {
        const vcbType = TYPE.vcb;
        const length = readCount(rust.at(vcb, vcbType, "inner.value.value.fcbs.entries.len"), 8);
        const buffer = readPointer(
            rust.at(vcb, vcbType, "inner.value.value.fcbs.entries.buf.inner.ptr"));
        const entrySize = rust.size(TYPE.fcbEntry);
        const fcbs = [];
        for (let i = 0; i < Math.min(length, MAX_FCBS); i++) {
            const entry = buffer.add(i * entrySize);
            const fcb = new Fcb(readPointer(rust.at(entry, TYPE.fcbEntry, "fcb.block.pointer")));
            fcb.Queued = readCount(rust.at(entry, TYPE.fcbEntry, "queued"), 1) !== 0;
            fcbs.push(fcb);
        }
        return fcbs;
    }

    // Every handle, in every process, to a FILE_OBJECT on this volume (through its VPB).
    OpenFiles() {
        const files = [];
        for (const process of host.currentSession.Processes) {
            for (const handle of process.Io.Handles) {
                if (handle.Type != "File") {
                    continue;
                }
                const fileObject = int64(handle.Object.UnderlyingObject.address);
                const vpb = readPointer(nt.at(fileObject, "_FILE_OBJECT", "Vpb"));
                if (hex(vpb) === this.Vpb.Address) {
                    files.push(new OpenFile(fileObject, process.Name, hex(handle.Handle)));
                }
            }
        }
        return files;
    }

    toString() {
        return `volume ${this.Device} (VCB ${this.Vcb}): ${this.Fcbs.length} FCBs, ` +
            `${this.OpenHandles} handles, ${this.OpenFileObjects} file objects` +
            (this.Dismounted ? ", dismounted" : "");
    }
}

// --- the root: @$rustfsd ------------------------------------------------------------------

class Rustfsd {
    // The mounted volumes: the volume devices on rustfsd's driver object. `driverObject` is
    // optional (by default DriverEntry's record of it).
    Volumes(driverObject) {
        const driver = driverObject === undefined ? this.DriverObject() : int64(driverObject);
        const volumes = [];
        let device = readPointer(nt.at(driver, "_DRIVER_OBJECT", "DeviceObject"));
        for (let n = 0; !isZero(device) && n < MAX_DEVICES; n++) {
            const extension = readPointer(nt.at(device, "_DEVICE_OBJECT", "DeviceExtension"));
            if (!isZero(extension) &&
                readCount(rust.at(extension, TYPE.extensionHeader, "kind"), 4) === VOLUME_DEVICE_KIND) {
                volumes.push(new Volume(device, extension));
            }
            device = readPointer(nt.at(device, "_DEVICE_OBJECT", "NextDevice"));
        }
        return volumes;
    }

    // rustfsd's DRIVER_OBJECT, as DriverEntry recorded it.
    DriverObject() {
        const address = host.getModuleSymbolAddress(MODULE, DRIVER_OBJECT_SYMBOL);
        const driver = readPointer(address);
        if (isZero(driver)) {
            throw new Error("rustfsd's DriverEntry has not run (its driver object is not recorded)");
        }
        return driver;
    }

    FileObject(address) {
        return new OpenFile(int64(address));
    }

    Fcb(address) {
        return new Fcb(int64(address));
    }

    Ccb(address) {
        return new Ccb(int64(address));
    }

    toString() {
        return "rustfsd: Volumes(), FileObject(address), Fcb(address), Ccb(address)";
    }
}

class SessionExtension {
    get Rustfsd() {
        return new Rustfsd();
    }
}

function initializeScript() {
    // @$rustfsd, as Microsoft's own scripts set user variables.
    try {
        host.namespace.Debugger.State.UserVariables.rustfsd = new Rustfsd();
    } catch (error) {
        host.diagnostics.debugLog("rustfsd.js: @$rustfsd not set; use @$cursession.Rustfsd\n");
    }
    return [
        new host.apiVersionSupport(1, 7),
        new host.namedModelParent(SessionExtension, "Debugger.Models.Session"),
    ];
}

// For the tests (node); WinDbg's script host has no `module`.
if (typeof module !== "undefined") {
    module.exports = { Rustfsd, initializeScript, TYPE, FCB_KINDS, DRIVER_OBJECT_SYMBOL };
}
