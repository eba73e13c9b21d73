"""Rust crates compiled into binaries built with cargo-auditable.

cargo-auditable embeds the dependency tree in an ELF section ``.dep-v0``:
zlib-compressed JSON ``{"packages": [{"name", "version", "source", "kind",
"dependencies", "root"}]}``. As in syft (go-rustaudit), build-time crates
(``"kind": "build"``) are left out; the binary's own crate is marked
``metadata["root"]``. Only ELF is read (no PE, Mach-O or WebAssembly), and no
Cargo.lock.

Most executables in an image are not Rust, so the negative path is kept cheap:
four bytes decide whether a file is ELF at all, then its header and section header
table lead to the section-name string table, a few hundred bytes read with
``struct``; pyelftools only parses the files whose names include ``.dep-v0``. A file
whose headers do not hold together is searched whole for the name instead (the
rule before), so pyelftools still reports what is wrong with it.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from typing import IO, Any, cast

from hullscan.analyzer import (
    Analyzer,
    AnalyzerInputError,
    AnalyzerResult,
    MiB,
    read_json,
)
from hullscan.binaries import elf
from hullscan.inventory.purl import make_purl
from hullscan.model import FileInfo, Package
from hullscan.tempfiles import COPY_CHUNK, PrefixedStream, is_spooled, searchable, spool

ELF_MAGIC = b"\x7fELF"
SECTION_NAME = ".dep-v0"
# the name as it sits, NUL-terminated, in the section-header string table
_MARKER = SECTION_NAME.encode() + b"\0"
#: go-rustaudit's limit on the decompressed JSON; the compressed section is smaller
MAX_JSON = 8 * MiB
MAX_SECTIONS = elf.MAX_SECTIONS
MAX_PACKAGES = 100_000
_SHARED_OBJECT = re.compile(r"\.so(?:\.\d+)*$")
# pyelftools' own errors, and what seeking to offsets read from garbage raises
# (and ELFError, added where pyelftools is imported)
_ELF_ERRORS: tuple[type[Exception], ...] = (
    OverflowError,
    ValueError,
    OSError,
    EOFError,
    struct.error,
)


def _names_the_section(f: IO[bytes]) -> bool:
    """Whether ``f`` (seekable, an ELF file) may have a ``.dep-v0`` section."""
    size = f.seek(0, io.SEEK_END)
    try:
        return _MARKER in elf.section_names(f, size)
    except elf.Malformed:
        return _contains(f, _MARKER)


def _contains(f: IO[bytes], marker: bytes) -> bool:
    """Whether ``marker`` is anywhere in ``f``: searched in place when ``f`` is a spooled
    copy, else read in chunks."""
    with searchable(f) as buf:
        if buf is not None:
            return buf.find(marker) >= 0
    f.seek(0)
    keep = len(marker) - 1
    tail = b""
    while chunk := f.read(COPY_CHUNK):
        # the marker may straddle two chunks: the carried tail is a few bytes
        if marker in chunk or marker in tail + chunk[:keep]:
            return True
        tail = (tail + chunk[-keep:])[-keep:]
    return False


def _section_data(f: IO[bytes]) -> bytes | None:
    """The raw ``.dep-v0`` section of the ELF file ``f``, or None when it has none."""
    # imported here, not with the module: pyelftools costs every scan's start-up
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    errors: tuple[type[Exception], ...] = (ELFError, *_ELF_ERRORS)
    try:
        elf = ELFFile(f)
        count = elf.num_sections()
        if elf["e_shoff"] + count * elf["e_shentsize"] > elf.stream_len:
            raise AnalyzerInputError("ELF section header table runs past the end of the file")
        if count > MAX_SECTIONS:
            raise AnalyzerInputError(f"ELF file has {count} sections")
        section = elf.get_section_by_name(SECTION_NAME)
        if section is None or section["sh_type"] == "SHT_NOBITS":
            return None
        offset, size = int(section["sh_offset"]), int(section["sh_size"])
    except errors as e:
        raise AnalyzerInputError(f"invalid ELF file: {e}") from None
    # read the bytes directly: Section.data() would inflate an SHF_COMPRESSED section unbounded
    if size > MAX_JSON:
        raise AnalyzerInputError(f"{SECTION_NAME} section is too large ({size} bytes)")
    if offset + size > elf.stream_len:
        raise AnalyzerInputError(f"{SECTION_NAME} section runs past the end of the file")
    f.seek(offset)
    return f.read(size)


def parse_dep_info(compressed: bytes) -> Any:
    """Inflate (at most ``MAX_JSON`` bytes) and decode the section's JSON."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, MAX_JSON)
    except zlib.error as e:
        raise AnalyzerInputError(f"{SECTION_NAME}: invalid zlib data: {e}") from None
    if inflater.unconsumed_tail:
        raise AnalyzerInputError(f"{SECTION_NAME}: JSON larger than {MAX_JSON} bytes")
    if not inflater.eof:
        raise AnalyzerInputError(f"{SECTION_NAME}: truncated zlib data")
    return read_json(io.BytesIO(raw), MAX_JSON, f"JSON in {SECTION_NAME}")


class CargoAuditableAnalyzer(Analyzer):
    """Crates listed in the ``.dep-v0`` section of ELF executables and shared objects."""

    name = "rust-cargo-auditable"
    version = 1
    max_size = 256 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        if not info.is_regular or not 52 <= info.size <= self.max_size:  # 52: ELF32 header
            return False
        return info.is_executable or _SHARED_OBJECT.search(path.rsplit("/", 1)[-1]) is not None

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        head = stream.read(len(ELF_MAGIC))
        if head != ELF_MAGIC:
            return None
        if is_spooled(stream):  # shared with other analyzers: read where it lies
            return self._read(stream)
        with spool(cast(IO[bytes], PrefixedStream(head, stream)), limit=info.size) as f:
            return self._read(f)

    def _read(self, f: IO[bytes]) -> AnalyzerResult | None:
        if not _names_the_section(f):
            return None
        f.seek(0)
        compressed = _section_data(f)
        if compressed is None:
            return None
        return self._packages(parse_dep_info(compressed))

    def _packages(self, doc: Any) -> AnalyzerResult | None:
        entries = doc.get("packages") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise AnalyzerInputError(f"{SECTION_NAME}: no packages list")
        if len(entries) > MAX_PACKAGES:
            raise AnalyzerInputError(f"{SECTION_NAME}: more than {MAX_PACKAGES} packages")
        result = AnalyzerResult()
        for i, entry in enumerate(entries):
            name, version, source, kind, root = (
                (
                    entry.get("name"),
                    entry.get("version"),
                    entry.get("source", ""),
                    entry.get("kind", "runtime"),
                    entry.get("root", False),
                )
                if isinstance(entry, dict)
                else (None,) * 5
            )
            if not (
                isinstance(name, str)
                and name
                and isinstance(version, str)
                and version
                and isinstance(source, str)
                and isinstance(kind, str)
                and isinstance(root, bool)
            ):
                result.warnings.append(
                    f"{SECTION_NAME}: package #{i} has missing or mistyped fields"
                )
                continue
            if kind == "build":
                continue  # build scripts and proc-macros: not in the binary
            metadata: dict[str, Any] = {"source": source} if source else {}
            if root:
                metadata["root"] = True
            result.packages.append(
                Package(
                    name=name,
                    version=version,
                    type="cargo",
                    purl=make_purl("cargo", name, version),
                    found_by=self.name,
                    metadata=metadata,
                )
            )
        return None if result.is_empty() else result
