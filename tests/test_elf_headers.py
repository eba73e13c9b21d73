"""The ELF tables read without pyelftools agree with pyelftools, and refuse broken files."""

from __future__ import annotations

import io
import struct
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from hullscan.binaries import elf

REAL = [
    Path("/bin/true"),
    Path(sys.executable).resolve(),
    *sorted(Path("/usr/lib/x86_64-linux-gnu").glob("libc.so.*"))[:1],
]


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_tables_agree_with_pyelftools(path: Path) -> None:
    data = path.read_bytes()
    f = io.BytesIO(data)
    theirs = ELFFile(io.BytesIO(data))
    assert [(s.name.encode(), s["sh_offset"], s["sh_size"]) for s in theirs.iter_sections()] == [
        (s.name, s.offset, s.size) for s in elf.sections(f, len(data))
    ]
    assert [(p["p_offset"], p["p_filesz"]) for p in theirs.iter_segments()] == [
        (s.offset, s.filesz) for s in elf.segments(f, len(data))
    ]
    names = elf.section_names(f, len(data))
    assert b".text\0" in names and b".shstrtab\0" in names


def _elf64(shoff: int, shnum: int, shstrndx: int, size: int = 512) -> bytearray:
    data = bytearray(size)
    data[:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    data[16:64] = struct.pack(
        "<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 56, 0, 64, shnum, shstrndx
    )
    return data


@pytest.mark.parametrize(
    "data",
    [
        b"\x7fELF\x02\x01",  # cut short
        bytes(_elf64(shoff=0, shnum=3, shstrndx=1)),  # no section table
        bytes(_elf64(shoff=480, shnum=3, shstrndx=1)),  # a table past the end of the file
        bytes(_elf64(shoff=64, shnum=3, shstrndx=5)),  # the names' index out of the table
        b"\x7fELF\x07\x01" + bytes(58),  # no such class
    ],
)
def test_broken_tables_are_malformed(data: bytes) -> None:
    with pytest.raises(elf.Malformed):
        elf.sections(io.BytesIO(data), len(data))
    with pytest.raises(elf.Malformed):
        elf.section_names(io.BytesIO(data), len(data))


def test_a_names_table_past_the_end_is_malformed() -> None:
    data = _elf64(shoff=64, shnum=2, shstrndx=1)
    # section 1: the names, claimed at offset 400 with 4,000 bytes
    data[128:192] = struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, 400, 4000, 0, 0, 1, 0)
    with pytest.raises(elf.Malformed):
        elf.sections(io.BytesIO(bytes(data)), len(data))
