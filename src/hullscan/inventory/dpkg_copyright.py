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

import logging
import re
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any

from hullscan.analyzer import Analyzer, AnalyzerResult, MiB
from hullscan.licenses import declared
from hullscan.model import FileInfo, License, Package

if TYPE_CHECKING:
    from hullscan.filesystem import ImageFilesystem

DOC_DIR = "usr/share/doc/"
SOURCE = "dpkg-copyright"
TEXT_SOURCE = "dpkg-copyright:text"
_FORMAT = re.compile(rb"^Format(?:-Specification)?:", re.IGNORECASE)
_FILES_FIELD = re.compile(r"^Files\s*:", re.IGNORECASE | re.MULTILINE)


def copyright_path(package: str) -> str:
    return f"{DOC_DIR}{package}/copyright"


def _files_paragraphs(text: str) -> list[str]:
    """The lines of the header and of the ``Files:`` paragraphs, without the stand-alone
    ``License:`` paragraphs: those hold only full licence texts (most of a large file's
    bytes) and the licences are named in the ``Files:`` paragraphs anyway."""
    paragraphs = re.split(r"\n[ \t]*\n", text.strip())
    kept = [p for i, p in enumerate(paragraphs) if i == 0 or _FILES_FIELD.search(p)]
    return "\n\n".join(kept).splitlines()


def parse_copyright(data: bytes, path: str) -> tuple[list[License], list[str]]:
    """The licences the file states, and warnings for a file that claims to be
    machine-readable but cannot be read as such."""
    text = data.decode("utf-8", "replace")
    warnings: list[str] = []
    if _FORMAT.match(data.lstrip()):
        from debian.copyright import Copyright

        # python-debian logs every file whose Format URL is an old spelling
        logging.getLogger("debian.copyright").setLevel(logging.ERROR)
        try:
            parsed = Copyright(_files_paragraphs(text), strict=False)
        except Exception as e:  # python-debian raises assorted errors on broken input
            warnings.append(f"not a readable machine-readable copyright file ({e}); "
                            "classified by its text")
        else:
            found = []
            for para in parsed.all_files_paragraphs():
                lic: Any = para.license  # a debian.copyright.License (typed loosely)
                if lic is not None and str(lic.synopsis).strip():
                    found.append(str(lic.synopsis))
            return [declared(v, SOURCE, path) for v in dict.fromkeys(
                " ".join(x.split()) for x in found)], warnings
    from hullscan.licenses.spdx import spdx_license_expression
    from hullscan.licenses.text import classify

    ids = [expr for i in classify(text) if (expr := spdx_license_expression(i))]
    return [License(i, i, TEXT_SOURCE, path) for i in ids], warnings


class DpkgCopyrightAnalyzer(Analyzer):
    """The licences of Debian packages, from their copyright files."""

    name = "dpkg-copyright"
    version = 1
    max_size = 4 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        return (info.is_regular and path.startswith(DOC_DIR) and path.endswith("/copyright")
                and path.count("/") == 4)

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        licenses, warnings = parse_copyright(stream.read(self.max_size), path)
        if not licenses and not warnings:
            return None
        return AnalyzerResult(facts={"licenses": [lic.to_dict() for lic in licenses]},
                              warnings=warnings)


def with_copyright_licenses(packages: list[Package], fs: ImageFilesystem) -> list[Package]:
    """Debian packages with the licences of their copyright file (symlinks followed:
    a package may share the documentation folder of another from the same source)."""
    out = []
    for p in packages:
        if p.type == "deb" and not p.licenses:
            hit = fs.results_at(copyright_path(p.name), DpkgCopyrightAnalyzer.name)
            if hit is not None:
                p = replace(p, licenses=tuple(
                    License.from_dict(d) for d in hit[1].facts.get("licenses", ())))
        out.append(p)
    return out
