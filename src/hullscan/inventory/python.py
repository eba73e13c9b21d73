"""Installed Python distributions: dist-info, egg-info (directory or file) and .egg archives."""

from __future__ import annotations

import re
import zipfile
from email.parser import HeaderParser
from typing import IO

from hullscan import tempfiles
from hullscan.analyzer import Analyzer, AnalyzerInputError, AnalyzerResult, MiB
from hullscan.inventory.purl import make_purl
from hullscan.model import FileInfo, Package

_HEADER_LIMIT = 1 * MiB
_EGG_INFO_NAMES = ("EGG-INFO/PKG-INFO",)


def normalize_name(name: str) -> str:
    """PEP 503 normalization (the form purls and advisories use)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_headers(stream: IO[bytes]) -> str:
    """The RFC 822 header block only: descriptions after it can be megabytes."""
    buf = b""
    while len(buf) < _HEADER_LIMIT:
        chunk = stream.read(64 * 1024)
        if not chunk:
            break
        buf += chunk
        end = buf.find(b"\n\n")
        if end >= 0:
            buf = buf[: end + 1]
            break
    return buf.decode("utf-8", "replace")


def package_from_metadata(text: str, found_by: str) -> Package | None:
    msg = HeaderParser().parsestr(text)
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        return None
    name, version = str(name).strip(), str(version).strip()
    licenses: list[str] = []
    if expr := msg.get("License-Expression"):
        licenses.append(str(expr).strip())
    else:
        for c in msg.get_all("Classifier") or []:
            c = str(c)
            if c.startswith("License ::"):
                licenses.append(c.rsplit("::", 1)[-1].strip())
        lic = str(msg.get("License") or "").strip()
        if not licenses and lic and lic != "UNKNOWN" and "\n" not in lic and len(lic) < 100:
            licenses.append(lic)
    return Package(name=name, version=version, type="pypi",
                   purl=make_purl("pypi", normalize_name(name), version),
                   licenses=tuple(licenses), found_by=found_by)


class PythonDistAnalyzer(Analyzer):
    name = "python-dist"
    version = 1
    max_size = 512 * MiB  # only .egg archives are read in full, and those are spooled

    def required(self, path: str, info: FileInfo) -> bool:
        if path.endswith(".dist-info/METADATA") or path.endswith(".egg-info/PKG-INFO"):
            return True
        return path.endswith((".egg-info", ".egg")) and info.is_regular

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        if path.endswith(".egg"):
            text = self._egg_metadata(stream, info.size)
            if text is None:
                return None
        else:
            text = read_headers(stream)
        pkg = package_from_metadata(text, self.name)
        if pkg is None:
            if path.endswith("METADATA"):
                raise AnalyzerInputError("metadata without Name/Version")
            return None
        return AnalyzerResult(packages=[pkg])

    @staticmethod
    def _egg_metadata(stream: IO[bytes], size: int) -> str | None:
        with tempfiles.spool(stream, size) as f:
            try:
                with zipfile.ZipFile(f) as z:
                    for name in _EGG_INFO_NAMES:
                        try:
                            zi = z.getinfo(name)
                        except KeyError:
                            continue
                        if zi.file_size > _HEADER_LIMIT:
                            raise AnalyzerInputError("PKG-INFO too large")
                        with z.open(zi) as member:
                            return read_headers(member)
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise AnalyzerInputError(f"not a readable .egg archive: {e}") from None
        return None
