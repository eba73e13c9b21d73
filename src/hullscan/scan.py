"""``hullscan scan``: inventory an image, run the chosen scanners, apply the policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hullscan.analyzer import Analyzer
from hullscan.checks.catalogue import CheckSettings
from hullscan.errors import HullscanError
from hullscan.model import Finding, ScanReport
from hullscan.pipeline import ProgressHook, ScanOptions, analyze_image
from hullscan.policy import Policy, PolicyResult, apply

SCANNERS = ("vuln", "secret", "config", "binary", "supplychain")
DEFAULT_SCANNERS = ("vuln", "secret")


@dataclass(frozen=True)
class ScanRequest:
    ref: str
    scanners: tuple[str, ...] = DEFAULT_SCANNERS
    db_path: Path | None = None
    max_db_age_days: int = 7
    #: "all": secrets in every layer (deleted ones too); "final": the final filesystem only
    layers: str = "all"
    #: user secret rules and allowlists (the ``secrets`` part of .hullscan.yaml)
    config: dict[str, Any] = field(default_factory=dict)
    #: ``--trust-policy FILE`` (else the ``trust:`` section of ``config``)
    trust_policy: Path | None = None
    #: the directory key paths in ``config``'s trust section are relative to
    config_dir: Path = Path(".")


#: config checks the supplychain scanner reports with more detail for the scanned image
#: (not pinned, untrusted registry): when both run, only the supplychain finding stays
_SUPERSEDED_BY_SUPPLYCHAIN = frozenset({"HS-IMG-014", "HS-IMG-015"})


def _unique(findings: list[Finding]) -> list[Finding]:
    """One finding per check and place when two scanners share a check (the config and
    binary scanners both report unowned setuid files)."""
    seen: set[tuple[str, str, str | None, int | None]] = set()
    out = []
    for f in findings:
        key = (f.kind, f.id, f.path, f.line)
        if f.kind == "vulnerability" or key not in seen:
            seen.add(key)
            out.append(f)
    return out


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
    # check settings are read once, and a bad one fails before the image is read
    settings = CheckSettings.from_config(request.config)
    trust = None
    if "supplychain" in request.scanners:  # a bad policy fails before the image is read
        from hullscan.supplychain.trust import load_trust_policy

        trust = load_trust_policy(request.trust_policy, request.config, request.config_dir)
    engine = None
    extra: list[Analyzer] = []
    summaries: dict[str, Any] = {}
    if "config" in request.scanners:
        from hullscan.checks.accounts import AccountsAnalyzer

        extra.append(AccountsAnalyzer())
    if "binary" in request.scanners:
        from hullscan.binaries.hardening import HardeningAnalyzer

        extra.append(HardeningAnalyzer())
    if "secret" in request.scanners:
        from hullscan.secrets import secret_analyzers

        engine, secret_layer_analyzers = secret_analyzers(request.config)
        extra += secret_layer_analyzers
    try:
        needs_packages = bool({"vuln", "config", "binary"} & set(request.scanners))
        # the supply chain scanner alone needs the manifest and config, not the layers
        walk = set(request.scanners) != {"supplychain"}
        analyzed = analyze_image(request.ref, options, progress, extra, needs_packages, walk)
        inv = analyzed.inventory
        findings: list[Finding] = []
        if engine is not None:
            from hullscan.secrets.scanner import config_findings, layer_findings

            findings += layer_findings(analyzed, engine, final_only=request.layers == "final")
            findings += config_findings(analyzed, engine)
        if "config" in request.scanners:
            from hullscan.checks.image import check_image

            image_findings, summaries["image"] = check_image(analyzed, settings, request.ref)
            findings += settings.apply(image_findings)
        if "binary" in request.scanners:
            from hullscan.binaries.scanner import eol_findings, hardening_findings

            hardening, summaries["binaries"] = hardening_findings(analyzed)
            findings += settings.apply(hardening + eol_findings(analyzed))
        if "supplychain" in request.scanners:
            from hullscan.supplychain.scanner import SupplyChainSettings, supplychain_findings

            chain, summaries["supplychain"] = supplychain_findings(
                analyzed, request.ref, SupplyChainSettings(trust, options.registry,
                                                           options.cache_dir, options.limits))
            findings = [f for f in findings if not (
                f.id in _SUPERSEDED_BY_SUPPLYCHAIN and f.details.get("subject") == "image")]
            findings += settings.apply(chain)
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
    result = apply(policy, _unique(findings), not_affected)
    report = ScanReport(inventory=inv, findings=tuple(result.findings),
                        suppressed=tuple(result.suppressed), scanners=request.scanners,
                        warnings=tuple(warnings + result.warnings), summaries=summaries)
    return report, result
