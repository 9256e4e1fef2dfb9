"""Read a 64-bit Mach-O program's load commands, and rewrite its __DATA segment the way
linkers other than ld64 (zig's) leave it: filesize and vmsize end where the file bytes and
the sections end, not on page boundaries. ld64 rounds both up, which hides mldr's zero-fill
bug (regress/mldr_zero_fill.c)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PAGE = 4096
MH_MAGIC_64 = 0xFEEDFACF
LC_SEGMENT_64 = 0x19
LC_BUILD_VERSION = 0x32
ZEROFILL = {0x1, 0xC, 0x12}  # S_ZEROFILL, S_GB_ZEROFILL, S_THREAD_LOCAL_ZEROFILL
SEGMENT = struct.Struct("<II16sQQQQiiII")
SECTION = struct.Struct("<16s16sQQIIIIIIII")


@dataclass(frozen=True)
class Layout:
    vmaddr: int
    filesize: int
    vmsize: int

    def unmapped_by_old_mldr(self) -> bool:
        """Whether mldr before the patch leaves the segment's last page unmapped: it maps
        PAGE_ROUNDUP(vmsize - filesize) bytes from the page holding the file bytes' end."""
        start = (self.vmaddr + self.filesize) // PAGE * PAGE
        length = -(-(self.vmsize - self.filesize) // PAGE) * PAGE
        return start + length < self.vmaddr + self.vmsize


def load_commands(macho: bytes | bytearray, what: object) -> Iterator[tuple[int, int]]:
    """Each load command's (cmd, offset) in a 64-bit Mach-O file; WHAT names it in errors."""
    magic, _, _, _, ncmds, _, _, _ = struct.unpack_from("<IiiIIIII", macho)
    if magic != MH_MAGIC_64:
        raise ValueError(f"{what}: not a 64-bit Mach-O file")
    offset = 32  # the header's size
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<II", macho, offset)
        yield cmd, offset
        offset += cmdsize


def build_version(program: Path) -> tuple[int, int, int]:
    """The platform, minos and sdk of PROGRAM's LC_BUILD_VERSION."""
    macho = program.read_bytes()
    for cmd, offset in load_commands(macho, program):
        if cmd == LC_BUILD_VERSION:
            platform, minos, sdk = struct.unpack_from("<III", macho, offset + 8)
            return platform, minos, sdk
    raise ValueError(f"{program}: no LC_BUILD_VERSION")


def unround_data_segment(program: Path) -> Layout:
    """Set __DATA's filesize to the end of its last page that holds file bytes, less one
    byte, and its vmsize to the end of its last section; return the new layout."""
    data = bytearray(program.read_bytes())
    for cmd, offset in load_commands(data, program):
        if cmd == LC_SEGMENT_64:
            fields = list(SEGMENT.unpack_from(data, offset))
            name, vmaddr, vmsize, filesize, nsects = fields[2], fields[3], fields[4], fields[6], fields[9]
            if name.rstrip(b"\0") == b"__DATA":
                sections = [SECTION.unpack_from(data, offset + SEGMENT.size + i * SECTION.size)
                            for i in range(nsects)]
                ends = [(s[2] + s[3] - vmaddr, s[8] & 0xFF in ZEROFILL) for s in sections]
                file_end = max(end for end, zerofill in ends if not zerofill)
                # as much of the last file page as the file has: a long first partial page
                new_filesize = min(filesize, (file_end // PAGE + 1) * PAGE - 1)
                new_vmsize = max(end for end, _ in ends)
                assert file_end <= new_filesize < new_vmsize <= vmsize, (file_end, new_vmsize)
                fields[4], fields[6] = new_vmsize, new_filesize
                SEGMENT.pack_into(data, offset, *fields)
                program.write_bytes(bytes(data))
                return Layout(vmaddr, new_filesize, new_vmsize)
    raise ValueError(f"{program}: no __DATA segment")
