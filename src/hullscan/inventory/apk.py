"""Alpine packages: apk's installed database (with origin and the file list)."""

from __future__ import annotations

from typing import IO

from hullscan.analyzer import Analyzer, AnalyzerInputError, AnalyzerResult, MiB
from hullscan.inventory.purl import make_purl
from hullscan.licenses import declared, declared_all
from hullscan.licenses.spdx import spdx_license_expression
from hullscan.model import FileInfo, License, Package
from hullscan.paths import listed_path

INSTALLED = "lib/apk/db/installed"
_OPERATORS = frozenset({"and", "or", "with"})


def apk_licenses(value: str, path: str) -> tuple[License, ...]:
    """``L:``: an SPDX expression in current Alpine; older packages list licences
    separated by spaces (``MIT BSD-2-Clause``), each one its own."""
    value = value.strip()
    if not value:
        return ()
    words = value.split()
    if spdx_license_expression(value) or _OPERATORS & {w.lower() for w in words}:
        return (declared(value, "apk:L", path),)
    return declared_all(words, "apk:L", path)


class ApkAnalyzer(Analyzer):
    name = "apk"
    version = 2
    max_size = 256 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        return path == INSTALLED

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        text = stream.read(self.max_size).decode("utf-8", "replace")
        result = AnalyzerResult()
        for block in text.split("\n\n"):
            fields: dict[str, str] = {}
            files: list[str] = []
            directory = ""
            for line in block.splitlines():
                if len(line) < 2 or line[1] != ":":
                    if line.strip():
                        raise AnalyzerInputError(f"malformed line {line[:40]!r}")
                    continue
                key, value = line[0], line[2:]
                if key == "F":
                    directory = value
                elif key == "R" and (p := listed_path(f"{directory}/{value}")):
                    files.append(p)
                elif key not in fields:
                    fields[key] = value
            if not fields:
                continue
            name, version = fields.get("P"), fields.get("V")
            if not name or not version:
                raise AnalyzerInputError("a package entry without P: or V:")
            arch = fields.get("A", "")
            origin = fields.get("o", name)
            result.packages.append(
                Package(
                    name=name,
                    version=version,
                    type="apk",
                    purl=make_purl("apk", name, version, "alpine", {"arch": arch}),
                    source_name=origin,
                    source_version=version,
                    arch=arch,
                    licenses=apk_licenses(fields.get("L", ""), path),
                    found_by=self.name,
                )
            )
            if files:
                result.owned_files.setdefault(name, []).extend(files)
        return result
