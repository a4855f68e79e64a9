"use strict";

// A stand-in for WinDbg's `host` object (the JavaScript provider of the debugger data model),
// as much of it as rustfsd.js uses: host.Int64, host.getModuleType (types and field offsets
// from pdb-layouts.json, the layouts of the real rustfsd.pdb), host.memory.readMemoryValues
// over a sparse fake memory, host.getModuleSymbolAddress, host.currentSession.Processes with
// their handle tables, the user-variable namespace and the registration records.

const fs = require("node:fs");
const path = require("node:path");

const LAYOUTS_FILE = path.join(__dirname, "pdb-layouts.json");

function loadLayouts() {
    return JSON.parse(fs.readFileSync(LAYOUTS_FILE, "utf8"));
}

function big(value) {
    return value instanceof Int64 ? value.value : BigInt(value);
}

// host.Int64: a 64-bit value with the provider's methods.
class Int64 {
    constructor(value, high) {
        const combined = high === undefined
            ? big(value)
            : (BigInt(high) << 32n) | BigInt(value >>> 0);
        this.value = BigInt.asUintN(64, combined);
    }
    add(other) { return new Int64(this.value + big(other)); }
    subtract(other) { return new Int64(this.value - big(other)); }
    compareTo(other) {
        const b = BigInt.asUintN(64, big(other));
        return this.value < b ? -1 : this.value > b ? 1 : 0;
    }
    asNumber() {
        if (this.value > BigInt(Number.MAX_SAFE_INTEGER)) {
            throw new Error(`Int64 0x${this.value.toString(16)} does not fit a number`);
        }
        return Number(this.value);
    }
    toString(radix) { return this.value.toString(radix === undefined ? 10 : radix); }
}

// Values cross into JavaScript as numbers when they fit, as Int64 otherwise.
function project(value) {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : new Int64(value);
}

class Memory {
    constructor() {
        this.bytes = new Map();
    }
    write(address, size, value) {
        let v = BigInt.asUintN(size * 8, big(value));
        for (let i = 0n; i < BigInt(size); i++) {
            this.bytes.set(big(address) + i, Number(v & 0xffn));
            v >>= 8n;
        }
    }
    read(address, size) {
        let v = 0n;
        for (let i = BigInt(size) - 1n; i >= 0n; i--) {
            const byte = this.bytes.get(big(address) + i);
            if (byte === undefined) {
                throw new Error(`unable to read memory at 0x${(big(address) + i).toString(16)}`);
            }
            v = (v << 8n) | BigInt(byte);
        }
        return v;
    }
}

// A type as host.getModuleType returns it: name, size and fields (offset, type).
function typeObject(layouts, module, name) {
    const key = module === "nt" ? `nt!${name}` : name;
    const layout = layouts.types[key];
    if (layout === undefined) {
        throw new Error(`no type ${module}!${name}`);
    }
    const fields = {};
    for (const [fieldName, field] of Object.entries(layout.fields)) {
        fields[fieldName] = {
            name: fieldName,
            offset: field.offset,
            get type() {
                const nested = module === "nt" ? undefined : layouts.types[field.type];
                return nested === undefined
                    ? { name: field.type, size: 0, fields: {} }
                    : typeObject(layouts, module, field.type);
            },
        };
    }
    return { name, size: layout.size, fields };
}

// Builds a mock host over `layouts`; `memory`, `symbols` (name -> address) and `processes`
// are the target's state.
function createHost({ layouts, memory, symbols, processes }) {
    const userVariables = {};
    return {
        Int64,
        getModuleType(module, name) {
            return typeObject(layouts, module, name);
        },
        getModuleSymbolAddress(module, name) {
            const address = symbols[`${module}!${name}`];
            if (address === undefined) {
                throw new Error(`no symbol ${module}!${name}`);
            }
            return new Int64(address);
        },
        memory: {
            readMemoryValues(address, count, size, isSigned) {
                if (isSigned) {
                    throw new Error("the mock reads unsigned values only");
                }
                const values = [];
                for (let i = 0; i < count; i++) {
                    values.push(project(memory.read(big(address) + BigInt(i * size), size)));
                }
                return values;
            },
        },
        currentSession: { Processes: processes },
        namespace: { Debugger: { State: { UserVariables: userVariables } } },
        diagnostics: { debugLog() {} },
        apiVersionSupport: class { constructor(major, minor) { this.major = major; this.minor = minor; } },
        namedModelParent: class { constructor(object, name) { this.object = object; this.name = name; } },
    };
}

// The offset of a dotted field path, read straight from the layouts (independent of
// rustfsd.js's own walk, so that the two check each other).
function offsetOf(layouts, typeName, fieldPath) {
    let type = typeName;
    let offset = 0;
    for (const part of fieldPath.split(".")) {
        const field = layouts.types[type].fields[part];
        if (field === undefined) {
            throw new Error(`${typeName} has no ${fieldPath}`);
        }
        offset += field.offset;
        type = field.type;
    }
    return offset;
}

module.exports = { Int64, Memory, createHost, loadLayouts, offsetOf };
