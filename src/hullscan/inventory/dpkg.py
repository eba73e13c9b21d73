"""Debian packages: dpkg's status database, distroless status.d/, and the file lists."""

from __future__ import annotations

import re
from typing import IO

from hullscan.analyzer import Analyzer, AnalyzerInputError, AnalyzerResult, MiB
from hullscan.inventory.purl import make_purl
from hullscan.model import FileInfo, Package
from hullscan.paths import listed_path

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
INFO = "var/lib/dpkg/info/"
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?$")
_INSTALLED = {"installed"}


def _packages_from_status(text: str, path: str) -> tuple[list[Package], list[str]]:
    """The installed packages, and a warning per paragraph too broken to read (a truncated
    database keeps its complete paragraphs)."""
    from debian.deb822 import Deb822  # imported when needed: a cached scan never parses

    out: list[Package] = []
    warnings: list[str] = []
    for para in Deb822.iter_paragraphs(text.splitlines(keepends=True), use_apt_pkg=False):
        name = para.get("Package")
        version = para.get("Version")
        if not name or not version:
            if para:
                warnings.append(
                    f"skipped a paragraph without Package/Version ({name or 'unnamed'})"
                )
            continue
        status = para.get("Status")
        # distroless status.d files carry no Status; dpkg's own status lists removed packages too
        if status is not None and status.split()[-1] not in _INSTALLED:
            continue
        source_name, source_version = name, version
        if src := para.get("Source"):
            m = _SOURCE.match(src.strip())
            if not m:
                warnings.append(f"skipped {name}: malformed Source field {src!r}")
                continue
            source_name = m["name"]
            source_version = m["version"] or version
        arch = para.get("Architecture", "")
        out.append(
            Package(
                name=name,
                version=version,
                type="deb",
                purl=make_purl("deb", name, version, "debian", {"arch": arch}),
                source_name=source_name,
                source_version=source_version,
                arch=arch,
                found_by="dpkg",
                metadata={
                    k: v
                    for k, v in (
                        ("maintainer", para.get("Maintainer", "")),
                        ("installed_size", para.get("Installed-Size", "")),
                    )
                    if v
                },
            )
        )
    return out, warnings


def _owned(text: str) -> list[str]:
    """File list lines (``/usr/bin/x`` or md5sums' ``<md5>  usr/bin/x``) → normalized paths."""
    paths = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if not line.startswith("/") and "  " in line:
            line = line.split("  ", 1)[1]
        if p := listed_path(line):
            paths.append(p)
    return paths


def _package_from_list_name(base: str) -> str:
    stem = base.rsplit(".", 1)[0]
    return stem.split(":", 1)[0]


class DpkgAnalyzer(Analyzer):
    name = "dpkg"
    version = 2
    max_size = 256 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        if path == STATUS:
            return True
        if path.startswith(STATUS_D):
            return "/" not in path[len(STATUS_D) :]
        return path.startswith(INFO) and path.endswith(".list") and "/" not in path[len(INFO) :]

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        text = stream.read(self.max_size).decode("utf-8", "replace")
        if path.startswith(INFO) or path.endswith(".md5sums"):
            base = path.rsplit("/", 1)[-1]
            return AnalyzerResult(owned_files={_package_from_list_name(base): _owned(text)})
        try:
            packages, warnings = _packages_from_status(text, path)
        except Exception as e:  # python-debian raises assorted errors on broken input
            raise AnalyzerInputError(f"unreadable dpkg database: {e}") from None
        if not packages and text.strip() and path == STATUS:
            raise AnalyzerInputError(
                "no packages in a non-empty dpkg status file"
                + (f" ({warnings[0]})" if warnings else "")
            )
        return AnalyzerResult(packages=packages, warnings=warnings)
