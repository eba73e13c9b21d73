"""The scanner plug point: one interface, one registry.

A scanner turns an analyzed image into findings. It declares what it needs from the
one walk over the layers (its layer ``analyzers``, whether package analysis is needed,
whether layers are read at all), prepares itself before the image is read (so a
missing database or a bad policy fails fast), and ``scan``s. ``run_scan`` in
``hullscan.scanners.run`` opens the image once for all of the selected scanners.

To add a scanner: copy ``scanners/binary.py`` (the smallest), give it a ``name``, and
add one line to ``BUILTIN`` below; see docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from hullscan.errors import HullscanError

if TYPE_CHECKING:
    from hullscan.analyzer import Analyzer
    from hullscan.model import Finding
    from hullscan.pipeline import AnalyzedImage, ScanOptions
    from hullscan.settings import Settings
    from hullscan.supplychain.trust import TrustPolicy

#: every scanner, by name, as ``module:class`` (imported only when selected); reports list
#: findings in this order
BUILTIN: Mapping[str, str] = {
    "secret": "hullscan.scanners.secret:SecretScanner",
    "config": "hullscan.scanners.config:ConfigScanner",
    "binary": "hullscan.scanners.binary:BinaryScanner",
    "supplychain": "hullscan.scanners.supplychain:SupplyChainScanner",
    "vuln": "hullscan.scanners.vuln:VulnScanner",
    "license": "hullscan.scanners.license:LicenseScanner",
}
SCANNERS = tuple(BUILTIN)
DEFAULT_SCANNERS = ("vuln", "secret")


@dataclass(frozen=True)
class ScanContext:
    """What every scanner of one scan knows: the request and the settings."""

    ref: str
    #: every scanner of this scan, so that a check two scanners share has one owner
    selected: frozenset[str]
    settings: Settings
    options: ScanOptions
    db_path: Path | None = None
    max_db_age_days: int = 7
    #: "all": secrets in every layer (deleted ones too); "final": the final filesystem
    layers: Literal["all", "final"] = "all"
    #: a trust policy given on its own (``--trust-policy``); else ``settings.trust``
    trust_policy: TrustPolicy | None = None


@dataclass
class ScannerResult:
    findings: list[Finding] = field(default_factory=list)
    #: per-scanner facts beyond findings, for the report's ``summaries``
    summary: Mapping[str, Any] | None = None
    #: what the data marks as not affecting this image (``--show-not-affected``)
    not_affected: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Scanner(ABC):
    """One kind of check over an analyzed image. Instances live for one scan."""

    name: ClassVar[str]
    #: the inventory (package analyzers) is needed, not only the OS
    needs_packages: ClassVar[bool] = False
    #: the layers are read at all (False: manifest and config only)
    needs_layers: ClassVar[bool] = True
    #: the layers' analyses or merged files are read (False: the inventory is enough, and
    #: a rescan takes it from the cache whole)
    needs_files: ClassVar[bool] = True

    def __init__(self, ctx: ScanContext) -> None:
        """Prepare (open data, validate settings) before the image is read."""
        self.ctx = ctx

    def analyzers(self) -> list[Analyzer]:
        """Layer analyzers this scanner adds to the one walk over the layers."""
        return []

    @abstractmethod
    def scan(self, analyzed: AnalyzedImage) -> ScannerResult:
        """Findings (before policy) for one analyzed image."""

    def close(self) -> None:  # noqa: B027 - an optional hook; most scanners open nothing
        """Release what ``__init__`` opened."""


def scanner_class(name: str) -> type[Scanner]:
    spec = BUILTIN.get(name)
    if spec is None:
        raise HullscanError(f"unknown scanner {name!r} (available: {', '.join(SCANNERS)})")
    module, _, attr = spec.partition(":")
    cls: type[Scanner] = getattr(importlib.import_module(module), attr)
    return cls


def parse_scanners(names: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Scanner names from ``--scanners vuln,secret`` or a list, de-duplicated, checked."""
    items = names.split(",") if isinstance(names, str) else list(names)
    found = tuple(dict.fromkeys(s.strip() for s in items if s.strip()))
    unknown = [n for n in found if n not in BUILTIN]
    if unknown:
        raise HullscanError(
            f"unknown scanner(s): {', '.join(unknown)} (available: {', '.join(SCANNERS)})"
        )
    if not found:
        raise HullscanError(f"no scanner selected (available: {', '.join(SCANNERS)})")
    return found


__all__ = [
    "BUILTIN",
    "DEFAULT_SCANNERS",
    "SCANNERS",
    "ScanContext",
    "Scanner",
    "ScannerResult",
    "parse_scanners",
    "scanner_class",
]
