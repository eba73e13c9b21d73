"""``hullscan scan``: inventory an image, run the chosen scanners, apply the policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hullscan.model import Finding, HullscanError, ScanReport
from hullscan.pipeline import ProgressHook, ScanOptions, inventory
from hullscan.policy import Policy, PolicyResult, apply

#: scanners that exist today; the rest of DESIGN.md's list arrive with their issues
SCANNERS = ("vuln",)
DEFAULT_SCANNERS = ("vuln",)


@dataclass(frozen=True)
class ScanRequest:
    ref: str
    scanners: tuple[str, ...] = DEFAULT_SCANNERS
    db_path: Path | None = None
    max_db_age_days: int = 7


def parse_scanners(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [n for n in names if n not in SCANNERS]
    if unknown:
        raise HullscanError(f"--scanners: unknown or not yet available: {', '.join(unknown)} "
                            f"(available: {', '.join(SCANNERS)})")
    return names


def run_scan(request: ScanRequest, options: ScanOptions, policy: Policy,
             progress: ProgressHook | None = None) -> tuple[ScanReport, PolicyResult]:
    """Scan one image; the database is opened before the image is read, so a missing
    database fails fast."""
    db = None
    warnings: list[str] = []
    if "vuln" in request.scanners:
        from hullscan.vulndb import age_warning, default_db_path, open_db

        db = open_db(request.db_path or default_db_path())
        if stale := age_warning(db, request.max_db_age_days):
            warnings.append(stale)
    try:
        inv = inventory(request.ref, options, progress=progress)
        findings: list[Finding] = []
        not_affected: list[Finding] = []
        if db is not None:
            from hullscan.vuln.matcher import match_inventory

            matched = match_inventory(inv, db)
            findings += matched.findings
            not_affected += matched.not_affected
            warnings += matched.warnings
    finally:
        if db is not None:
            db.close()
    result = apply(policy, findings, not_affected)
    report = ScanReport(inventory=inv, findings=tuple(result.findings),
                        suppressed=tuple(result.suppressed), scanners=request.scanners,
                        warnings=tuple(warnings + result.warnings))
    return report, result
