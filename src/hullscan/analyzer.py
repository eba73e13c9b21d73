"""The plug point for layer analyzers (inventory, secrets, hardening, accounts).

An analyzer says which files it wants (``required``, decided from the path and
metadata alone, so the layer walker can skip everything else), and turns one
file's content into packages (``analyze``). Results are cached per layer, keyed
by the analyzer's ``name`` and ``version``: bump ``version`` whenever the
output for the same input changes.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

from hullscan.model import FileInfo, Finding, OSInfo, Package

MiB = 1024 * 1024


class AnalyzerInputError(Exception):
    """The file is malformed: the walker records a warning and the scan goes on."""


@dataclass
class AnalyzerResult:
    """What one analyzer found in one file."""

    packages: list[Package] = field(default_factory=list)
    os: OSInfo | None = None
    #: OS package name -> paths (normalized, no leading "/") its file list claims
    owned_files: dict[str, list[str]] = field(default_factory=dict)
    #: findings about the file itself (secrets, keys, certificates), without layer yet
    findings: list[Finding] = field(default_factory=list)
    #: plain facts about the file for summaries (JSON-able; e.g. a binary's protections)
    facts: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.packages
            or self.os
            or self.owned_files
            or self.findings
            or self.facts
            or self.warnings
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.packages:
            d["packages"] = [p.to_dict() for p in self.packages]
        if self.os:
            d["os"] = self.os.to_dict()
        if self.owned_files:
            d["owned_files"] = self.owned_files
        if self.findings:
            d["findings"] = [f.to_dict() for f in self.findings]
        if self.facts:
            d["facts"] = self.facts
        if self.warnings:
            d["warnings"] = self.warnings
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnalyzerResult:
        return cls(
            packages=[Package.from_dict(p) for p in d.get("packages", ())],
            os=OSInfo.from_dict(d["os"]) if d.get("os") else None,
            owned_files=d.get("owned_files", {}),
            findings=[Finding.from_dict(f) for f in d.get("findings", ())],
            facts=d.get("facts", {}),
            warnings=d.get("warnings", []),
        )


def read_json(stream: IO[bytes], max_size: int, what: str) -> Any:
    """Parse a bounded JSON document from a file; anything malformed is an input error.

    Bytes, not text, go to the parser: it detects the encoding and accepts a UTF-8 BOM.
    """
    data = stream.read(max_size + 1)
    if len(data) > max_size:
        raise AnalyzerInputError(f"{what} larger than {max_size} bytes")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise AnalyzerInputError(f"invalid {what}: {e}") from None


class Analyzer(ABC):
    """Finds packages (or the OS, or file ownership) in the files it asks for."""

    #: unique, stable; part of the cache key and of each package's ``found_by``
    name: ClassVar[str]
    #: bump when the output for the same input changes (invalidates cached layers)
    version: ClassVar[int] = 1
    #: files larger than this are not read (a warning is recorded instead)
    max_size: ClassVar[int] = 64 * MiB

    @property
    def cache_token(self) -> str:
        """Anything beyond name and version that changes results (e.g. a hash of user
        rules); part of the per-layer cache key."""
        return ""

    @abstractmethod
    def required(self, path: str, info: FileInfo) -> bool:
        """Whether this file is wanted, from its normalized path and metadata only."""

    @abstractmethod
    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        """Read the file from ``stream`` (sequential, at most ``info.size`` bytes).

        Raise ``AnalyzerInputError`` for malformed content; return ``None`` when
        the file holds nothing of interest.
        """
