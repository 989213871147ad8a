#!/usr/bin/env python3
"""Marks the symbol-version requirements VERSION... of an ELF64 little-endian shared object
as weak (VER_FLG_WEAK in .gnu.version_r), in place. The dynamic loader then accepts a
library that lacks such a version instead of refusing to load the object; symbols of that
version must then come from elsewhere (gpu-bundle.sh preloads a shim that defines them).

    weak-version.py FILE VERSION...      # e.g. libevent_core-2.1.so.7 GLIBC_2.36
"""
import struct
import sys

VER_FLG_WEAK = 0x2


def main(path, versions):
    data = bytearray(open(path, "rb").read())
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "ELF64 LE only"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = []
    for i in range(shnum):
        name, typ, _, _, off, size, link, _, _, _ = struct.unpack_from(
            "<IIQQQQIIQQ", data, shoff + i * shentsize)
        sections.append((name, typ, off, size, link))
    SHT_GNU_VERNEED = 0x6FFFFFFE
    verneed = [s for s in sections if s[1] == SHT_GNU_VERNEED]
    assert len(verneed) == 1, "no .gnu.version_r"
    _, _, off, _, link = verneed[0]
    strtab = sections[link][2]

    def string(at):
        end = data.index(b"\0", strtab + at)
        return data[strtab + at:end].decode()

    wanted, done = set(versions), set()
    entry = off
    while True:
        _, _, _, aux, nxt = struct.unpack_from("<HHIII", data, entry)
        a = entry + aux
        while True:
            _, flags, _, name, anext = struct.unpack_from("<IHHII", data, a)
            if string(name) in wanted:
                struct.pack_into("<H", data, a + 4, flags | VER_FLG_WEAK)
                done.add(string(name))
            if anext == 0:
                break
            a += anext
        if nxt == 0:
            break
        entry += nxt
    missing = wanted - done
    if missing:
        sys.exit(f"{path}: no requirement of {sorted(missing)}")
    open(path, "wb").write(data)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
