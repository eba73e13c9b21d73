"""One scan (``run_scan``): the selected scanners prepare, the image is walked once for all of them,
each scans, and the policy step decides what is reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hullscan.model import Finding, ScanReport
from hullscan.pipeline import ProgressHook, ScanOptions, analyze_image
from hullscan.policy import Policy, PolicyResult, apply
from hullscan.scanners import (
    BUILTIN,
    DEFAULT_SCANNERS,
    ScanContext,
    Scanner,
    parse_scanners,
    scanner_class,
)
from hullscan.settings import Settings
from hullscan.supplychain.trust import TrustPolicy


@dataclass(frozen=True)
class ScanRequest:
    ref: str
    scanners: tuple[str, ...] = DEFAULT_SCANNERS
    db_path: Path | None = None
    max_db_age_days: int = 7
    #: "all": secrets in every layer (deleted ones too); "final": the final filesystem only
    layers: Literal["all", "final"] = "all"
    settings: Settings = field(default_factory=Settings)
    #: a trust policy given on its own (``--trust-policy FILE``); else ``settings.trust``
    trust_policy: TrustPolicy | None = None


def run_scan(
    request: ScanRequest, options: ScanOptions, policy: Policy, progress: ProgressHook | None = None
) -> tuple[ScanReport, PolicyResult]:
    """Scan one image with the requested scanners and apply ``policy``."""
    names = parse_scanners(request.scanners)
    ctx = ScanContext(
        ref=request.ref,
        selected=frozenset(names),
        settings=request.settings,
        options=options,
        db_path=request.db_path,
        max_db_age_days=request.max_db_age_days,
        layers=request.layers,
        trust_policy=request.trust_policy,
    )
    scanners: list[Scanner] = []
    try:
        # each prepares before the image is read, so mistakes fail fast
        for name in sorted(names, key=list(BUILTIN).index):
            scanners.append(scanner_class(name)(ctx))
        analyzed = analyze_image(
            request.ref,
            options,
            progress,
            [a for s in scanners for a in s.analyzers()],
            packages=any(s.needs_packages for s in scanners),
            walk=any(s.needs_layers for s in scanners),
            files=any(s.needs_files for s in scanners),
        )
        findings: list[Finding] = []
        not_affected: list[Finding] = []
        warnings: list[str] = []
        summaries: dict[str, object] = {}
        for scanner in scanners:
            result = scanner.scan(analyzed)
            findings += result.findings
            not_affected += result.not_affected
            warnings += result.warnings
            summaries.update(result.summary or {})
    finally:
        for scanner in scanners:
            scanner.close()
    outcome = apply(policy, findings, not_affected)
    report = ScanReport(
        inventory=analyzed.inventory,
        findings=tuple(outcome.findings),
        suppressed=tuple(outcome.suppressed),
        scanners=names,
        warnings=tuple(warnings + outcome.warnings),
        summaries=summaries,
    )
    return report, outcome
