"""Windows executables and libraries as components: their VERSIONINFO resource.

A ``.exe``/``.dll`` that no package manager knows (a vendored tool, a .NET
native dependency) still names itself: ProductName, ProductVersion and
CompanyName. Only files named like Windows binaries are read, and only after
their MZ/PE headers check out.
"""

from __future__ import annotations

import re
from typing import IO, cast

from hullscan.analyzer import Analyzer, AnalyzerResult, MiB
from hullscan.binaries.hardening import inspect_pe, read_pe_head
from hullscan.inventory.purl import make_purl
from hullscan.model import FileInfo, Package
from hullscan.tempfiles import PrefixedStream, spool_to_path

_WINDOWS_BINARY = re.compile(r"(?i)\.(?:exe|dll|sys|ocx|scr)$")


def _version(text: str) -> str:
    """``1, 2, 3, 4`` (as some resource compilers write it) → ``1.2.3.4``."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\s*,\s*\d+)+", text):
        return ".".join(p.strip() for p in text.split(","))
    return text.split()[0] if text else ""


class PEVersionAnalyzer(Analyzer):
    name = "pe-version"
    version = 1
    max_size = 256 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        return info.is_regular and info.size > 64 and _WINDOWS_BINARY.search(path) is not None

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        head = read_pe_head(stream.read(0x40), stream)
        if head is None:
            return None
        with spool_to_path(cast(IO[bytes], PrefixedStream(head, stream)), limit=info.size) as p:
            vi = inspect_pe(p).version_info
        version = _version(vi.get("ProductVersion") or vi.get("FileVersion") or "")
        name = (
            vi.get("ProductName") or vi.get("OriginalFilename") or path.rsplit("/", 1)[-1]
        ).strip()
        if not version or not name:
            return None
        company = vi.get("CompanyName", "")
        return AnalyzerResult(
            packages=[
                Package(
                    name=name,
                    version=version,
                    type="generic",
                    purl=make_purl("generic", name, version),
                    found_by=self.name,
                    metadata={
                        k: v
                        for k, v in (
                            ("company", company),
                            ("file_version", vi.get("FileVersion", "")),
                            ("description", vi.get("FileDescription", "")),
                        )
                        if v
                    },
                )
            ]
        )
