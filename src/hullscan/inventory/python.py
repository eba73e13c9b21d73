"""Installed Python distributions: dist-info, egg-info (directory or file) and .egg archives."""

from __future__ import annotations

import re
import zipfile
from typing import IO, TYPE_CHECKING

from hullscan import tempfiles
from hullscan.analyzer import Analyzer, AnalyzerInputError, AnalyzerResult, MiB
from hullscan.inventory.purl import make_purl
from hullscan.licenses import declared, declared_all
from hullscan.licenses.spdx import is_known
from hullscan.model import FileInfo, License, Package

if TYPE_CHECKING:
    from email.message import Message

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


def python_licenses(msg: Message, path: str) -> tuple[License, ...]:
    """PEP 639's License-Expression; else the License field when it names SPDX licences
    (or is a licence text the classifier recognises); else the licence classifiers;
    else the License field as written."""
    if expr := str(msg.get("License-Expression") or "").strip():
        return (declared(expr, "python:License-Expression", path),)
    field = str(msg.get("License") or "").strip()
    if field.upper() == "UNKNOWN":
        field = ""
    short = field and "\n" not in field and len(field) < 100
    if short:
        from_field = declared(field, "python:License", path)
        if is_known(from_field.expression):
            return (from_field,)
    elif field:
        from hullscan.licenses.text import classify

        if ids := classify(field):
            return tuple(License(i, i, "python:License:text", path) for i in ids)
    classifiers = [
        c.rsplit("::", 1)[-1].strip()
        for c in map(str, msg.get_all("Classifier") or [])
        if c.startswith("License ::") and c.count("::") >= 2
    ]
    if found := declared_all(classifiers, "python:classifier", path):
        return found
    return (declared(field, "python:License", path),) if short else ()


def package_from_metadata(text: str, found_by: str, path: str = "") -> Package | None:
    from email.parser import HeaderParser  # the email package: only when a dist is read

    msg = HeaderParser().parsestr(text)
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        return None
    name, version = str(name).strip(), str(version).strip()
    licenses = python_licenses(msg, path)
    return Package(
        name=name,
        version=version,
        type="pypi",
        purl=make_purl("pypi", normalize_name(name), version),
        licenses=tuple(licenses),
        found_by=found_by,
    )


class PythonDistAnalyzer(Analyzer):
    name = "python-dist"
    version = 2
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
        pkg = package_from_metadata(text, self.name, path)
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
