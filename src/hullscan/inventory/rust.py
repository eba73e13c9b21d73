"""Rust crates compiled into binaries built with cargo-auditable.

cargo-auditable embeds the dependency tree in an ELF section ``.dep-v0``:
zlib-compressed JSON ``{"packages": [{"name", "version", "source", "kind",
"dependencies", "root"}]}``. As in syft (go-rustaudit), build-time crates
(``"kind": "build"``) are left out; the binary's own crate is marked
``metadata["root"]``. Only ELF is read (no PE, Mach-O or WebAssembly), and no
Cargo.lock.

Most executables in an image are not Rust, so the negative path is kept cheap:
four bytes decide whether a file is ELF at all, and while an ELF file is spooled
its bytes are searched for the section name; pyelftools only parses the files
that contain it.
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
from hullscan.inventory.purl import make_purl
from hullscan.model import FileInfo, Package
from hullscan.tempfiles import COPY_CHUNK, is_spooled, spool

ELF_MAGIC = b"\x7fELF"
SECTION_NAME = ".dep-v0"
# the name as it sits, NUL-terminated, in the section-header string table
_MARKER = SECTION_NAME.encode() + b"\0"
#: go-rustaudit's limit on the decompressed JSON; the compressed section is smaller
MAX_JSON = 8 * MiB
MAX_SECTIONS = 0xFF00
MAX_PACKAGES = 100_000
_SHARED_OBJECT = re.compile(r"\.so(?:\.\d+)*$")
# pyelftools' own errors, and what seeking to offsets read from garbage raises
# (and ELFError, added where pyelftools is imported)
_ELF_ERRORS: tuple[type[Exception], ...] = (
    OverflowError, ValueError, OSError, EOFError, struct.error)


class _MarkerScan:
    """Pass ``head`` then ``stream`` through ``read``, noting whether ``_MARKER`` went by."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream
        self._tail = b""
        self.found = False

    def read(self, n: int = -1) -> bytes:
        if self._head:
            cut = len(self._head) if n < 0 else n
            chunk, self._head = self._head[:cut], self._head[cut:]
        else:
            chunk = self._stream.read(n)
        if not self.found and chunk:
            # the marker may straddle two chunks; the carried tail is a few bytes, never a
            # copy of the chunk
            keep = len(_MARKER) - 1
            self.found = _MARKER in chunk or _MARKER in self._tail + chunk[:keep]
            self._tail = chunk[-keep:] if len(chunk) >= keep else (self._tail + chunk)[-keep:]
        return chunk

    def drain(self) -> None:
        """Read to the end (only ``found`` is wanted)."""
        while self.read(COPY_CHUNK):
            continue


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
        scan = _MarkerScan(head, stream)
        if is_spooled(stream):  # shared with other analyzers: search it, then seek back
            scan.drain()
            if not scan.found:
                return None
            stream.seek(0)
            compressed = _section_data(stream)
        else:
            with spool(cast(IO[bytes], scan), limit=info.size) as f:
                if not scan.found:
                    return None
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
                (entry.get("name"), entry.get("version"), entry.get("source", ""),
                 entry.get("kind", "runtime"), entry.get("root", False))
                if isinstance(entry, dict) else (None,) * 5)
            if not (isinstance(name, str) and name and isinstance(version, str) and version
                    and isinstance(source, str) and isinstance(kind, str)
                    and isinstance(root, bool)):
                result.warnings.append(f"{SECTION_NAME}: package #{i} has missing or "
                                       "mistyped fields")
                continue
            if kind == "build":
                continue  # build scripts and proc-macros: not in the binary
            metadata: dict[str, Any] = {"source": source} if source else {}
            if root:
                metadata["root"] = True
            result.packages.append(Package(
                name=name, version=version, type="cargo", purl=make_purl("cargo", name, version),
                found_by=self.name, metadata=metadata))
        return None if result.is_empty() else result
