"use strict";

// rustfsd.js against a mocked debugger whose types are the layouts of the real rustfsd.pdb
// (pdb-layouts.json) and whose memory holds a driver with two volumes, written here field by
// field. Run: node --test tools/windbg/

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const { Int64, Memory, createHost, loadLayouts, offsetOf } = require("./mock_host.js");

const EXTENSION = path.join(__dirname, "..", "rustfsd.js");
const VCB = "rustfsd::volume::vcb::Vcb";
const EXT = "rustfsd::kernel::nt::device::Extension<rustfsd::volume::vcb::Vcb>";
const ENTRY = "rustfsd::fcb::table::Entry";
const FCB = "rustfsd::kernel::nt::fcb::FcbBlock<rustfsd::fcb::file_control_block::Fcb>";
const ARC = "rustfsd::kernel::nt::pool::ArcHeader";
const CCB = "rustfsd::fcb::context_control_block::Ccb";
const SYMBOL = "rustfsd::kernel::nt::entry::DRIVER_OBJECT_FOR_WORK_ITEMS";
const INNER = "inner.value.value.";

// Kernel addresses, beyond what a JavaScript number holds exactly.
const BASE = 0xffffa08000000000n;
const at = (n) => BASE + BigInt(n) * 0x1000n;
const hex = (n) => "0x" + n.toString(16);

// Writes the target's structures by field path.
class Target {
    constructor(layouts) {
        this.layouts = layouts;
        this.memory = new Memory();
    }
    put(type, base, field, size, value) {
        this.memory.write(base + BigInt(offsetOf(this.layouts, type, field)), size, value);
    }
    zero(base, size) {
        for (let i = 0n; i < BigInt(size); i++) {
            this.memory.write(base + i, 1, 0);
        }
    }
    typeSize(type) {
        return this.layouts.types[type].size;
    }
    fcb(address, { key, kind, count, handles, parent = 0n, size = 0 }) {
        this.zero(address, this.typeSize(FCB));
        this.put(FCB, address, "data.key", 8, key);
        this.put(FCB, address, "data.kind", 1, kind);
        this.put(FCB, address, "control.count", 8, count);
        this.put(FCB, address, "data.state.value.value.open_handles", 4, handles);
        this.put(FCB, address, "data.state.value.value.parent", 8, parent);
        this.put(FCB, address, "header.header.value.file_size", 8, size);
    }
    ccb(value, { count, byId, cursor }) {
        const header = value - BigInt(this.typeSize(ARC));
        this.zero(header, this.typeSize(ARC) + this.typeSize(CCB));
        this.put(ARC, header, "count", 8, count);
        this.put(CCB, value, "opened_by_id", 1, byId ? 1 : 0);
        this.put(CCB, value, "directory_cursor", 8, cursor);
    }
    fileObject(address, { vpb, fsContext, fsContext2 }) {
        this.zero(address, this.typeSize("nt!_FILE_OBJECT"));
        this.put("nt!_FILE_OBJECT", address, "Vpb", 8, vpb);
        this.put("nt!_FILE_OBJECT", address, "FsContext", 8, fsContext);
        this.put("nt!_FILE_OBJECT", address, "FsContext2", 8, fsContext2);
    }
    device(address, { extension, next }) {
        this.zero(address, this.typeSize("nt!_DEVICE_OBJECT"));
        this.put("nt!_DEVICE_OBJECT", address, "DeviceExtension", 8, extension);
        this.put("nt!_DEVICE_OBJECT", address, "NextDevice", 8, next);
    }
    vpb(address, { flags, references, device, real }) {
        this.zero(address, this.typeSize("nt!_VPB"));
        this.put("nt!_VPB", address, "Flags", 2, flags);
        this.put("nt!_VPB", address, "ReferenceCount", 4, references);
        this.put("nt!_VPB", address, "DeviceObject", 8, device);
        this.put("nt!_VPB", address, "RealDevice", 8, real);
    }
    // A volume device's extension: header, then the VCB.
    volume(extension, v) {
        this.zero(extension, this.typeSize(EXT));
        this.put(EXT, extension, "header.kind", 4, 0x64566652); // "RfVd"
        this.put(EXT, extension, "header.vpb", 8, v.vpb);
        const vcb = extension + BigInt(offsetOf(this.layouts, EXT, "value"));
        this.put(VCB, vcb, "dismounted", 1, v.dismounted ? 1 : 0);
        this.put(VCB, vcb, "open_file_objects", 4, v.fileObjects);
        this.put(VCB, vcb, "open_handles", 4, v.handles);
        this.put(VCB, vcb, INNER + "locked_by.tag", 8, v.lockedBy ? 1 : 0);
        this.put(VCB, vcb, INNER + "locked_by.variant1.value.__0.raw", 8, v.lockedBy || 0n);
        this.put(VCB, vcb, INNER + "stream", 8, v.stream || 0n);
        this.put(VCB, vcb, INNER + "fcbs.entries.len", 8, v.entries.length);
        this.put(VCB, vcb, INNER + "fcbs.entries.buf.inner.ptr", 8, v.entriesAt);
        const entrySize = BigInt(this.typeSize(ENTRY));
        v.entries.forEach(([key, fcb, queued], i) => {
            const entry = v.entriesAt + BigInt(i) * entrySize;
            this.zero(entry, this.typeSize(ENTRY));
            this.put(ENTRY, entry, "key", 8, key);
            this.put(ENTRY, entry, "fcb", 8, fcb);
            this.put(ENTRY, entry, "queued", 1, queued ? 1 : 0);
        });
        this.put(VCB, vcb, INNER + "fcbs.idle_limit", 8, v.idleLimit);
        this.put(VCB, vcb, INNER + "fcbs.idle.head", 8, v.idle.head);
        this.put(VCB, vcb, INNER + "fcbs.idle.len", 8, v.idle.len);
        this.put(VCB, vcb, INNER + "fcbs.idle.buf.inner.cap", 8, v.idle.ring.length);
        this.put(VCB, vcb, INNER + "fcbs.idle.buf.inner.ptr", 8, v.idle.at);
        v.idle.ring.forEach((key, i) => this.memory.write(v.idle.at + BigInt(i * 8), 8, key));
        return vcb;
    }
}

// A driver object with a control device, a mounted volume (locked, three FCBs, handles in two
// processes) and a dismounted one.
function machine(layouts = loadLayouts()) {
    const t = new Target(layouts);
    const driver = at(1), symbol = at(2);
    const control = at(3), controlExtension = at(4);
    const volume1 = at(5), extension1 = at(6), vpb1 = at(7), disk1 = at(8);
    const volume2 = at(9), extension2 = at(10), vpb2 = at(11);
    const fcbVolume = at(20), fcbRoot = at(21), fcbFile = at(22);
    const entries = at(30), ring = at(31), emptyRing = at(32);
    const fileObject1 = at(40), fileObject2 = at(41), otherFileObject = at(42);
    const lockingFileObject = at(43), stream = at(44);
    const ccb1 = at(50) + 32n, ccb2 = at(51) + 32n;

    t.memory.write(symbol, 8, driver);
    t.zero(driver, t.typeSize("nt!_DRIVER_OBJECT"));
    t.put("nt!_DRIVER_OBJECT", driver, "DeviceObject", 8, volume2);
    t.device(volume2, { extension: extension2, next: volume1 });
    t.device(volume1, { extension: extension1, next: control });
    t.device(control, { extension: controlExtension, next: 0n });
    t.zero(controlExtension, 64);
    t.memory.write(controlExtension, 4, 0x64436652); // "RfCd"

    t.vpb(vpb1, { flags: 0x3, references: 5, device: volume1, real: disk1 });
    t.fcb(fcbVolume, { key: 0, kind: 0, count: 2, handles: 1 });
    t.fcb(fcbRoot, { key: 2, kind: 1, count: 3, handles: 0 });
    t.fcb(fcbFile, { key: 12, kind: 2, count: 2, handles: 1, parent: fcbRoot, size: 4096 });
    const vcb1 = t.volume(extension1, {
        vpb: vpb1, dismounted: false, fileObjects: 4, handles: 2,
        lockedBy: lockingFileObject, stream,
        entriesAt: entries,
        entries: [[0, fcbVolume, false], [2, fcbRoot, false], [12, fcbFile, true]],
        idleLimit: 64,
        // Ring of capacity 4 starting at slot 3: oldest first 2, 11, 12.
        idle: { at: ring, head: 3, len: 3, ring: [11, 12, 99, 2] },
    });

    t.vpb(vpb2, { flags: 0x0, references: 0, device: 0n, real: disk1 });
    const vcb2 = t.volume(extension2, {
        vpb: vpb2, dismounted: true, fileObjects: 1, handles: 0,
        entriesAt: 0n, entries: [], idleLimit: 64,
        idle: { at: emptyRing, head: 0, len: 0, ring: [] },
    });

    t.fileObject(fileObject1, { vpb: vpb1, fsContext: fcbFile, fsContext2: ccb1 });
    t.fileObject(fileObject2, { vpb: vpb1, fsContext: fcbVolume, fsContext2: ccb2 });
    t.fileObject(otherFileObject, { vpb: at(60), fsContext: at(61), fsContext2: 0n });
    t.ccb(ccb1, { count: 1, byId: false, cursor: 7 });
    t.ccb(ccb2, { count: 1, byId: true, cursor: 0 });

    const handle = (value, type, object) => ({
        Handle: value, Type: type,
        Object: { UnderlyingObject: { address: new Int64(object) } },
    });
    const processes = [
        { Name: "explorer.exe", Io: { Handles: [
            handle(0x4, "File", fileObject1),
            handle(0x8, "Event", at(70)),
            handle(0xc, "File", otherFileObject),
        ] } },
        { Name: "cmd.exe", Io: { Handles: [handle(0x10, "File", fileObject2)] } },
    ];
    const symbols = { [`rustfsd!${SYMBOL}`]: symbol };
    return {
        t, layouts, symbols, processes,
        addresses: { driver, volume1, volume2, vcb1, vcb2, vpb1, disk1, fcbVolume, fcbRoot,
            fcbFile, fileObject1, fileObject2, lockingFileObject, stream, ccb1, ccb2 },
    };
}

// Loads rustfsd.js afresh against a mock host over `m`.
function load(m) {
    globalThis.host = createHost({ layouts: m.layouts, memory: m.t.memory, symbols: m.symbols,
        processes: m.processes });
    delete require.cache[require.resolve(EXTENSION)];
    return require(EXTENSION);
}

test("the names rustfsd.js uses exist in rustfsd.pdb", () => {
    const layouts = loadLayouts();
    const extension = load(machine(layouts));
    for (const name of Object.values(extension.TYPE)) {
        assert.ok(layouts.types[name], `${name} is not in the PDB's layouts`);
    }
    assert.ok(layouts.symbols.includes(extension.DRIVER_OBJECT_SYMBOL));
    const kinds = layouts.enums["rustfsd::fcb::file_control_block::FcbKind"];
    extension.FCB_KINDS.forEach((name, value) => assert.equal(kinds[name], value));
    assert.equal(Object.keys(kinds).length, extension.FCB_KINDS.length);
});

test("Volumes() lists the volume devices with their VCB, VPB and state", () => {
    const m = machine();
    const { Rustfsd } = load(m);
    const volumes = new Rustfsd().Volumes();
    assert.equal(volumes.length, 2, "the control device is not a volume");
    const [dismounted, mounted] = volumes;
    const a = m.addresses;

    assert.equal(mounted.Device, hex(a.volume1));
    assert.equal(mounted.Vcb, hex(a.vcb1));
    assert.equal(mounted.Dismounted, false);
    assert.equal(mounted.OpenHandles, 2);
    assert.equal(mounted.OpenFileObjects, 4);
    assert.equal(mounted.LockedBy, hex(a.lockingFileObject));
    assert.equal(mounted.VolumeStream, hex(a.stream));
    assert.equal(mounted.Vpb.Address, hex(a.vpb1));
    assert.equal(mounted.Vpb.Mounted, true);
    assert.equal(mounted.Vpb.Locked, true);
    assert.equal(mounted.Vpb.ReferenceCount, 5);
    assert.equal(mounted.Vpb.DeviceObject, hex(a.volume1));
    assert.equal(mounted.Vpb.RealDevice, hex(a.disk1));
    assert.match(String(mounted), /3 FCBs, 2 handles, 4 file objects$/);
    assert.match(String(mounted.Vpb), /mounted, locked, 5 references$/);

    assert.equal(dismounted.Dismounted, true);
    assert.equal(dismounted.Fcbs.length, 0);
    assert.equal(dismounted.LockedBy, null);
    assert.equal(dismounted.VolumeStream, null);
    assert.equal(dismounted.Vpb.Mounted, false);
    assert.deepEqual(dismounted.DelayedCloseQueue.Keys, []);
    assert.match(String(dismounted), /, dismounted$/);
});

test("each FCB shows its key, kind, references, handles and parent", () => {
    const m = machine();
    const { Rustfsd } = load(m);
    const fcbs = new Rustfsd().Volumes()[1].Fcbs;
    const a = m.addresses;
    assert.deepEqual(fcbs.map((f) => [f.Address, f.Key, f.Kind, f.References, f.OpenHandles]), [
        [hex(a.fcbVolume), 0, "Volume", 2, 1],
        [hex(a.fcbRoot), 2, "Directory", 3, 0],
        [hex(a.fcbFile), 12, "File", 2, 1],
    ]);
    assert.deepEqual(fcbs.map((f) => f.Parent), [null, null, hex(a.fcbRoot)]);
    assert.deepEqual(fcbs.map((f) => f.Queued), [false, false, true]);
    assert.equal(fcbs[2].FileSize, 4096);
    assert.equal(String(fcbs[0]), `FCB ${hex(a.fcbVolume)} (Volume, volume): 2 references, 1 handles`);
});

test("the delayed-close queue is read oldest first across the ring's wrap", () => {
    const { Rustfsd } = load(machine());
    const queue = new Rustfsd().Volumes()[1].DelayedCloseQueue;
    assert.equal(queue.Limit, 64);
    assert.deepEqual(queue.Keys, [2, 11, 12]);
    assert.equal(String(queue), "3 idle of at most 64, oldest first: [2, 11, 12]");
});

test("a queue longer than its buffer is reported, not walked", () => {
    const m = machine();
    m.t.put(VCB, m.addresses.vcb1, INNER + "fcbs.idle.len", 8, 9);
    const { Rustfsd } = load(m);
    const queue = new Rustfsd().Volumes()[1].DelayedCloseQueue;
    assert.deepEqual(queue.Keys, []);
    assert.equal(queue.Error, "implausible queue: 9 of 4");
});

test("OpenFiles() finds the volume's handles in every process, with FCB and CCB", () => {
    const m = machine();
    const { Rustfsd } = load(m);
    const files = new Rustfsd().Volumes()[1].OpenFiles();
    const a = m.addresses;
    assert.deepEqual(files.map((f) => [f.Process, f.Handle, f.FileObject]), [
        ["explorer.exe", "0x4", hex(a.fileObject1)],
        ["cmd.exe", "0x10", hex(a.fileObject2)],
    ]);
    assert.equal(files[0].Fcb.Key, 12);
    assert.equal(files[0].Ccb.Address, hex(a.ccb1));
    assert.equal(files[0].Ccb.References, 1);
    assert.equal(files[0].Ccb.OpenedById, false);
    assert.equal(files[0].Ccb.DirectoryCursor, 7);
    assert.equal(files[1].Fcb.Kind, "Volume");
    assert.equal(files[1].Ccb.OpenedById, true);
    assert.match(String(files[1].Ccb), /opened by ID$/);
    assert.equal(new Rustfsd().Volumes()[0].OpenFiles().length, 0);
});

test("FileObject(address) decodes one FILE_OBJECT", () => {
    const m = machine();
    const { Rustfsd } = load(m);
    const file = new Rustfsd().FileObject(new Int64(m.addresses.fileObject1));
    assert.equal(file.Vpb, hex(m.addresses.vpb1));
    assert.equal(file.Fcb.Address, hex(m.addresses.fcbFile));
    assert.equal(file.Process, undefined);
    assert.match(String(file), /^FILE_OBJECT 0x[0-9a-f]+: FCB .* \(File, inode 12\)/);
});

test("Volumes(driverObject) walks the given driver object; without DriverEntry it says so", () => {
    const m = machine();
    const { Rustfsd } = load(m);
    assert.equal(new Rustfsd().Volumes(new Int64(m.addresses.driver)).length, 2);
    m.t.memory.write(BigInt(m.symbols[`rustfsd!${SYMBOL}`]), 8, 0n);
    assert.throws(() => new Rustfsd().Volumes(), /DriverEntry has not run/);
});

test("a PDB without a field the extension reads gives an error naming it", () => {
    const m = machine();
    const layouts = structuredClone(m.layouts);
    delete layouts.types["rustfsd::fcb::table::Entry"].fields.queued;
    const { Rustfsd } = load({ ...m, layouts });
    assert.throws(() => new Rustfsd().Volumes(),
        /rustfsd!rustfsd::fcb::table::Entry has no field queued/);
});

test("initializeScript sets @$rustfsd and extends the session with Rustfsd", () => {
    const m = machine();
    const extension = load(m);
    const records = extension.initializeScript();
    assert.ok(host.namespace.Debugger.State.UserVariables.rustfsd instanceof extension.Rustfsd);
    const parent = records.find((r) => r instanceof host.namedModelParent);
    assert.equal(parent.name, "Debugger.Models.Session");
    assert.ok(new parent.object().Rustfsd instanceof extension.Rustfsd);
    assert.ok(records.some((r) => r instanceof host.apiVersionSupport));
});
