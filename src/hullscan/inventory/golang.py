"""Go binaries: the build info every Go 1.13+ linker embeds (Go version, main module, deps).

Go 1.18+ writes the strings inline after the ``\\xff Go buildinf:`` header, so
they are read straight from the stream; older binaries store pointers, which
are followed through the ELF program headers on a spooled copy.
"""

from __future__ import annotations

import struct
import tarfile
from typing import IO

from hullscan.analyzer import Analyzer, AnalyzerInputError, AnalyzerResult, MiB
from hullscan.binaries import elf
from hullscan.inventory.purl import make_purl
from hullscan.model import FileInfo, Package
from hullscan.tempfiles import Searchable, searchable

MAGIC = b"\xff Go buildinf:"
ALIGN = 16
_SECTION = b".go.buildinfo"
HEADER = 32
FLAG_BIG_ENDIAN = 0x1
FLAG_INLINE = 0x2
EXEC_MAGICS = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf")
_MAX_INFO = 4 * MiB
_CHUNK = 1 * MiB


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise AnalyzerInputError("truncated Go build info")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _strip_modinfo(mod: str) -> str:
    # the linker wraps modinfo in 16-byte sentinels
    if len(mod) >= 33 and mod[-17] == "\n":
        return mod[16:-16]
    return mod


def find_buildinfo(stream: IO[bytes], head: bytes = b"") -> tuple[bytes, int] | None:
    """Scan for the 16-aligned magic; return the bytes from it on (bounded) and its offset.

    ``head`` is what the caller already read from the start of the stream."""
    tail, pos = head, 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return None
        buf = tail + chunk
        i = buf.find(MAGIC)
        while i >= 0:
            if (pos + i) % ALIGN == 0:
                rest = buf[i:]
                while len(rest) < 64 * 1024:
                    more = stream.read(64 * 1024)
                    if not more:
                        break
                    rest += more
                return rest, pos + i
            i = buf.find(MAGIC, i + 1)
        keep = len(MAGIC) - 1
        pos += len(buf) - keep
        tail = buf[-keep:]


def elf_search_range(f: IO[bytes], size: int) -> tuple[int, int] | None:
    """Where Go's own reader (``debug/buildinfo``) looks for the build info in an ELF
    file: its ``.go.buildinfo`` section, else the first writable, non-executable loaded
    segment; None when there is neither (not a Go program, for Go). A file whose headers
    do not hold together is searched whole (what any file was searched before)."""
    try:
        header = elf.read_header(f)
        try:
            # most ELF files are not Go: their names, one read, say so before the table
            named = (
                [s for s in elf.sections(f, size, header) if s.name == _SECTION]
                if _SECTION + b"\0" in elf.section_names(f, size, header)
                else []
            )
        except elf.Malformed:
            named = []  # no section table (stripped of it): the segments still tell
        if named:
            section = named[0]
            return (
                None
                if section.type == elf.SHT_NOBITS
                else (section.offset, min(section.offset + section.size, size))
            )
        for seg in elf.segments(f, size, header):
            if seg.type == elf.PT_LOAD and seg.flags & (elf.PF_X | elf.PF_W) == elf.PF_W:
                return seg.offset, min(seg.offset + seg.filesz, size)
    except elf.Malformed:
        return 0, size
    return None


def find_in_place(
    buf: Searchable, f: IO[bytes], within: tuple[int, int]
) -> tuple[bytes, int] | None:
    """``find_buildinfo`` on a spooled copy ``f``, searched where it lies (``buf``) from
    ``within[0]`` to ``within[1]``, the magic 16-aligned from the start, as Go's reader
    searches; leaves ``f`` just after the bytes returned."""
    start, end = within
    i = buf.find(MAGIC, start, end)
    while i >= 0 and (i - start) % ALIGN:
        i = buf.find(MAGIC, i + 1, end)
    if i < 0 or end - i < HEADER:
        return None
    f.seek(i)
    return f.read(64 * 1024), i


def _inline_strings(data: bytes, stream: IO[bytes]) -> tuple[str, str]:
    pos = HEADER
    strings = []
    for _ in range(2):
        n, pos = _uvarint(data, pos)
        if n > _MAX_INFO:
            raise AnalyzerInputError("implausible Go build info length")
        while len(data) < pos + n:
            more = stream.read(max(pos + n - len(data), 4096))
            if not more:
                raise AnalyzerInputError("truncated Go build info")
            data += more
        strings.append(data[pos : pos + n].decode("utf-8", "replace"))
        pos += n
    return strings[0], strings[1]


def _pointer_strings(f: IO[bytes], data: bytes) -> tuple[str, str]:
    """Go < 1.18: two pointers to Go string headers, resolved through PT_LOAD segments."""
    ptr_size = data[14]
    big = bool(data[15] & FLAG_BIG_ENDIAN)
    if ptr_size not in (4, 8):
        raise AnalyzerInputError("unsupported Go build info pointer size")
    # one byte-order mark for the pair: ">Q>Q" is not a struct format
    pair = (">" if big else "<") + ("QQ" if ptr_size == 8 else "II")
    # imported here, not with the module: pyelftools costs every scan's start-up
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(f)
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
    except (ELFError, struct.error, ValueError, OverflowError) as e:
        raise AnalyzerInputError(f"unreadable ELF: {e}") from None

    def read_at(addr: int, size: int) -> bytes:
        for seg in loads:
            if seg["p_vaddr"] <= addr and addr + size <= seg["p_vaddr"] + seg["p_filesz"]:
                try:
                    f.seek(seg["p_offset"] + addr - seg["p_vaddr"])
                except (OverflowError, ValueError, OSError):  # an offset no file has
                    break
                found = f.read(size)
                if len(found) != size:  # the segment claims more than the file holds
                    break
                return found
        raise AnalyzerInputError("Go build info points outside the file")

    def go_string(ptr: int) -> str:
        header = read_at(ptr, 2 * ptr_size)
        sptr, slen = struct.unpack(pair, header)
        if slen > _MAX_INFO:
            raise AnalyzerInputError("implausible Go build info length")
        return read_at(sptr, slen).decode("utf-8", "replace") if slen else ""

    if len(data) < 16 + 2 * ptr_size:
        raise AnalyzerInputError("truncated Go build info")
    vptr, mptr = struct.unpack(pair, data[16 : 16 + 2 * ptr_size])
    return go_string(vptr), go_string(mptr)


def stdlib_version(go_version: str) -> str:
    """``go1.19.8`` (or ``go1.21.0 X:boringcrypto``) → ``1.19.8``."""
    token = go_version.split()[0] if go_version.split() else go_version
    return token[2:] if token.startswith("go") else token


def _module_purl(path: str, version: str) -> str:
    namespace, _, name = path.rpartition("/")
    return make_purl("golang", name, version, namespace or None)


def packages_from_buildinfo(go_version: str, modinfo: str, found_by: str) -> list[Package]:
    modinfo = _strip_modinfo(modinfo)
    main: tuple[str, str] | None = None
    deps: list[list[str]] = []
    settings: dict[str, str] = {}
    for line in modinfo.splitlines():
        fields = line.split("\t")
        if fields[0] == "mod" and len(fields) >= 3:
            main = (fields[1], fields[2])
        elif fields[0] == "dep" and len(fields) >= 3:
            deps.append([fields[1], fields[2], fields[3] if len(fields) > 3 else ""])
        elif fields[0] == "=>" and len(fields) >= 3 and deps:
            # a replace directive: the replacement is what was built
            deps[-1] = [fields[1], fields[2], fields[3] if len(fields) > 3 else ""]
        elif fields[0] == "build" and len(fields) >= 2 and "=" in fields[1]:
            k, _, v = fields[1].partition("=")
            settings[k] = v
    meta = {"go_version": go_version}
    build = {
        f"build_{k}": v
        for k, v in settings.items()
        if k in ("GOOS", "GOARCH", "CGO_ENABLED", "vcs.revision")
    }
    out = []
    if go_version:
        v = stdlib_version(go_version)
        out.append(
            Package(
                name="stdlib",
                version=v,
                type="golang",
                purl=make_purl("golang", "stdlib", v),
                found_by=found_by,
                metadata=dict(meta),
            )
        )
    if main:
        out.append(
            Package(
                name=main[0],
                version=main[1],
                type="golang",
                purl=_module_purl(*main),
                found_by=found_by,
                metadata={**meta, "main_module": True, **build},
            )
        )
    for path, version, checksum in deps:
        out.append(
            Package(
                name=path,
                version=version,
                type="golang",
                purl=_module_purl(path, version),
                found_by=found_by,
                metadata={**meta, **({"h1_digest": checksum} if checksum else {})},
            )
        )
    return out


class GoBinaryAnalyzer(Analyzer):
    name = "go-binary"
    version = 1
    max_size = 1024 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        return (info.is_executable and info.size > 1024) or path.endswith(".exe")

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        head = stream.read(4)
        if not head.startswith(EXEC_MAGICS):
            return None
        with searchable(stream) as buf:
            if buf is None:
                found = find_buildinfo(stream, head)
            else:
                within = elf_search_range(stream, len(buf)) if head == elf.MAGIC else (0, len(buf))
                found = None if within is None else find_in_place(buf, stream, within)
        if found is None:
            return None
        data, _ = found
        if len(data) < HEADER:
            raise AnalyzerInputError("truncated Go build info")
        if data[15] & FLAG_INLINE:
            go_version, modinfo = _inline_strings(data, stream)
        elif head == b"\x7fELF":
            try:
                stream.seek(0)
            except (OSError, tarfile.StreamError):
                return AnalyzerResult(
                    warnings=[f"{path}: Go < 1.18 build info needs a seekable copy of the file"]
                )
            go_version, modinfo = _pointer_strings(stream, data)
        else:
            return None
        if not go_version.startswith(("go", "devel")):
            raise AnalyzerInputError(f"unexpected Go version string {go_version[:40]!r}")
        return AnalyzerResult(packages=packages_from_buildinfo(go_version, modinfo, self.name))
