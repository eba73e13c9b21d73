"""Debian packages' licences: ``usr/share/doc/<package>/copyright``.

A machine-readable file (DEP-5, ``Format: …copyright-format/1.0/``) states the licence
of every group of files in a ``Files:`` paragraph; each paragraph's ``License:`` line
is one licence of the package, as Debian writes it (``GPL-2+``, ``BSD-3-clause``),
kept beside its SPDX expression. Any other file is classified by its text, and only
when the classifier is confident (see ``licenses.text``).

The file is found per layer; ``pipeline`` gives the licences to the package of the
same name (following a ``usr/share/doc/<package>`` symlink to a sibling package's).
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from typing import IO, TYPE_CHECKING

from hullscan.analyzer import Analyzer, AnalyzerResult, MiB
from hullscan.licenses import declared
from hullscan.model import FileInfo, License, Package

if TYPE_CHECKING:
    from hullscan.filesystem import ImageFilesystem

DOC_DIR = "usr/share/doc/"
SOURCE = "dpkg-copyright"
TEXT_SOURCE = "dpkg-copyright:text"
_FORMAT = re.compile(rb"^Format(?:-Specification)?:", re.IGNORECASE)
#: free-form copyright files larger than this are bundles of notices, which are never
#: 75 % licence text (none of debian-bookworm's seven such files is), and classifying one
#: costs 0.1-0.2 s
MAX_CLASSIFIED = 16 * 1024
_FILES_FIELD = re.compile(r"^Files[ \t]*:", re.IGNORECASE | re.MULTILINE)


def copyright_path(package: str) -> str:
    return f"{DOC_DIR}{package}/copyright"


def _files_licenses(text: str) -> list[str]:
    """The ``License:`` synopsis of every ``Files:`` paragraph, in order.

    Paragraphs are split by deb822's plain parser and each License field read by
    python-debian's DEP-5 ``License``: its round-trip ``Copyright`` parser is 5x slower
    (0.80 s against 0.16 s for debian-bookworm's 74 machine-readable files), and
    licences are all this needs."""
    from debian.copyright import License as Dep5License
    from debian.deb822 import Deb822

    # stand-alone License paragraphs hold full licence texts, most of a large file's bytes,
    # and name no files: they are left out before parsing
    kept = [p for p in re.split(r"\n[ \t]*\n", text) if _FILES_FIELD.search(p)]
    found = []
    for para in Deb822.iter_paragraphs("\n\n".join(kept).splitlines(), use_apt_pkg=False):
        lic = Dep5License.from_str(para.get("License")) if "Files" in para else None
        if lic is not None and (synopsis := " ".join(lic.synopsis.split())):
            found.append(synopsis)
    return found


def parse_copyright(data: bytes, path: str) -> tuple[list[License], list[str]]:
    """The licences the file states, and warnings for a file that claims to be
    machine-readable but cannot be read as such."""
    found, warnings = copyright_licences(data)
    return [License(e, v, src, path) for e, v, src in found], list(warnings)


@lru_cache(maxsize=256)
def copyright_licences(data: bytes) -> tuple[tuple[tuple[str, str, str], ...], tuple[str, ...]]:
    """(expression, value, source) of each licence; memoized by content, as the packages
    of one source share one file (libpam0g, libpam-modules, libpam-runtime, ...)."""
    text = data.decode("utf-8", "replace")
    if _FORMAT.match(data.lstrip()):
        try:
            values = _files_licenses(text)
        except Exception as e:  # python-debian raises assorted errors on broken input
            return (), (f"not a readable machine-readable copyright file ({e})",)
        return tuple(
            (lic.expression, lic.value, SOURCE)
            for lic in (declared(v, SOURCE) for v in dict.fromkeys(values))
        ), ()
    if len(data) > MAX_CLASSIFIED:
        return (), ()
    from hullscan.licenses.text import classify

    return tuple((i, i, TEXT_SOURCE) for i in classify(text)), ()


class DpkgCopyrightAnalyzer(Analyzer):
    """The licences of Debian packages, from their copyright files."""

    name = "dpkg-copyright"
    version = 1
    max_size = 4 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        return (
            info.is_regular
            and path.startswith(DOC_DIR)
            and path.endswith("/copyright")
            and path.count("/") == 4
        )

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        licenses, warnings = parse_copyright(stream.read(self.max_size), path)
        if not licenses and not warnings:
            return None
        return AnalyzerResult(
            facts={"licenses": [lic.to_dict() for lic in licenses]}, warnings=warnings
        )


def with_copyright_licenses(packages: list[Package], fs: ImageFilesystem) -> list[Package]:
    """Debian packages with the licences of their copyright file (symlinks followed:
    a package may share the documentation folder of another from the same source)."""
    out = []
    for p in packages:
        if p.type == "deb" and not p.licenses:
            hit = fs.results_at(copyright_path(p.name), DpkgCopyrightAnalyzer.name)
            if hit is not None:
                p = replace(
                    p,
                    licenses=tuple(License.from_dict(d) for d in hit[1].facts.get("licenses", ())),
                )
        out.append(p)
    return out
