"""The few ELF structures the binary analyzers decide on, read straight from a seekable
file: the section table (names, places) and the loadable segments.

pyelftools reads these too, at about a millisecond a file in Python objects; an image
holds a thousand ELF files of which a handful are Go or Rust programs, so the checks
that decide whether a file is worth pyelftools' time (or a search) are made here. Every
offset and count read from the file is checked against its size: anything that does not
hold together is ``Malformed``, and the caller decides what a broken file means.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

MAGIC = b"\x7fELF"
SHT_NOBITS = 8
PT_LOAD = 1
PF_X = 0x1
PF_W = 0x2
_SHN_XINDEX = 0xFFFF
_PN_XNUM = 0xFFFF
MAX_SECTIONS = 0xFF00
#: a section-name string table is a few hundred bytes; a larger one is refused
MAX_NAMES = 1024 * 1024


class Malformed(Exception):
    """The ELF headers do not hold together."""


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the header keeps its table pointers, and the entries' formats, per class."""

    phoff: tuple[int, str]
    shoff: tuple[int, str]
    counts: int  # e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
    shdr: str  # name, type, flags, addr, offset, size, link, info, addralign, entsize
    phdr: str
    #: positions of p_type, p_flags, p_offset, p_filesz in ``phdr``
    phdr_fields: tuple[int, int, int, int]


_LAYOUTS = {
    1: _Layout((0x1C, "I"), (0x20, "I"), 0x2A, "IIIIIIIIII", "IIIIIIII", (0, 6, 1, 4)),
    2: _Layout((0x20, "Q"), (0x28, "Q"), 0x36, "IIQQQQIIQQ", "IIQQQQQQ", (0, 1, 2, 5)),
}


@dataclass(frozen=True, slots=True)
class Section:
    name: bytes
    type: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Segment:
    type: int
    flags: int
    offset: int
    filesz: int


@dataclass(frozen=True, slots=True)
class Header:
    order: str
    layout: _Layout
    phoff: int
    phentsize: int
    phnum: int
    shoff: int
    shentsize: int
    shnum: int
    shstrndx: int


def read_header(f: IO[bytes]) -> Header:
    f.seek(0)
    ident = f.read(64)
    if (
        len(ident) < 52
        or not ident.startswith(MAGIC)
        or ident[4] not in _LAYOUTS
        or ident[5] not in (1, 2)
    ):
        raise Malformed
    layout = _LAYOUTS[ident[4]]
    order = "<" if ident[5] == 1 else ">"
    try:
        (phoff,) = struct.unpack_from(order + layout.phoff[1], ident, layout.phoff[0])
        (shoff,) = struct.unpack_from(order + layout.shoff[1], ident, layout.shoff[0])
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(
            order + "HHHHH", ident, layout.counts
        )
    except struct.error:  # an ELF32 header cut short
        raise Malformed from None
    return Header(order, layout, phoff, phentsize, phnum, shoff, shentsize, shnum, shstrndx)


def _entries(
    f: IO[bytes], size: int, at: int, entsize: int, count: int, fmt: str
) -> list[tuple[int, ...]]:
    """``count`` table entries of ``entsize`` bytes from offset ``at``, each unpacked."""
    need = struct.calcsize(fmt)
    if at == 0 or entsize < need or at + count * entsize > size:
        raise Malformed
    f.seek(at)
    table = f.read(count * entsize)
    if len(table) != count * entsize:
        raise Malformed
    return [struct.unpack_from(fmt, table, i * entsize) for i in range(count)]


def sections(f: IO[bytes], size: int, header: Header | None = None) -> list[Section]:
    """The section table, names resolved (``size``: the file's length)."""
    h = header or read_header(f)
    shnum, shstrndx = _counts(f, size, h)
    if shnum > MAX_SECTIONS:
        raise Malformed
    table = _entries(f, size, h.shoff, h.shentsize, shnum, h.order + h.layout.shdr)
    names = _names(f, size, table[shstrndx])
    return [Section(_name_at(names, e[0]), e[1], e[4], e[5]) for e in table]


def _name_at(names: bytes, at: int) -> bytes:
    """The NUL-terminated name at ``at`` (to the table's end if unterminated)."""
    end = names.find(b"\0", at)
    return names[at : end if end >= 0 else len(names)]


def section_names(f: IO[bytes], size: int, header: Header | None = None) -> bytes:
    """The raw section-name string table (NUL-terminated names), read without the rest
    of the section table."""
    h = header or read_header(f)
    _, shstrndx = _counts(f, size, h)
    (entry,) = _entries(
        f, size, h.shoff + shstrndx * h.shentsize, h.shentsize, 1, h.order + h.layout.shdr
    )
    return _names(f, size, entry)


def _counts(f: IO[bytes], size: int, h: Header) -> tuple[int, int]:
    """The number of sections and the index of the names' section."""
    if h.shoff == 0:
        raise Malformed  # no section table
    shnum, shstrndx = h.shnum, h.shstrndx
    if shnum == 0 or shstrndx == _SHN_XINDEX:  # extended numbering: kept in section 0
        (first,) = _entries(f, size, h.shoff, h.shentsize, 1, h.order + h.layout.shdr)
        shnum = shnum or first[5]
        shstrndx = first[6] if shstrndx == _SHN_XINDEX else shstrndx
    if not 0 < shstrndx < min(shnum, MAX_SECTIONS):
        raise Malformed
    return shnum, shstrndx


def _names(f: IO[bytes], size: int, entry: tuple[int, ...]) -> bytes:
    offset, length = entry[4], entry[5]
    if entry[1] == SHT_NOBITS or length > MAX_NAMES or offset + length > size:
        raise Malformed
    f.seek(offset)
    return f.read(length)


def segments(f: IO[bytes], size: int, header: Header | None = None) -> list[Segment]:
    """The program headers (none in a relocatable object)."""
    h = header or read_header(f)
    if h.phnum == 0:
        return []
    if h.phnum == _PN_XNUM:
        raise Malformed  # the real count sits in section 0: no loader-made file needs it
    t, fl, off, filesz = h.layout.phdr_fields
    return [
        Segment(e[t], e[fl], e[off], e[filesz])
        for e in _entries(f, size, h.phoff, h.phentsize, h.phnum, h.order + h.layout.phdr)
    ]
