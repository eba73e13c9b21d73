"""Real-world risk: CISA KEV and FIRST EPSS on findings, and the order that puts the
vulnerabilities attackers actually exploit first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Protocol

from hullscan.model import Epss, Finding, Kev

SORT_ORDERS = ("risk", "severity")


class ExploitSource(Protocol):
    def exploitation(self, cve_ids: Iterable[str]) -> tuple[dict[str, Kev], dict[str, Epss]]: ...


def enrich(findings: Sequence[Finding], db: ExploitSource) -> list[Finding]:
    """``findings`` with ``kev`` and ``epss`` set from the database, by their CVE ids
    (one query for all of them)."""
    cves = {i for f in findings for i in f.all_ids if i.startswith("CVE-")}
    if not cves:
        return list(findings)
    kev, epss = db.exploitation(cves)
    if not kev and not epss:
        return list(findings)
    out = []
    for f in findings:
        ids = [i for i in f.all_ids if i.startswith("CVE-")]
        k = next((kev[i] for i in ids if i in kev), None)
        e = max((epss[i] for i in ids if i in epss), key=lambda s: s.score, default=None)
        out.append(replace(f, kev=k, epss=e) if k or e else f)
    return out


def risk_key(f: Finding) -> tuple[bool, float, int, str, str]:
    """Known exploited first, then the likeliest to be exploited (EPSS), then severity."""
    return (
        f.kev is None,
        -(f.epss.score if f.epss else -1.0),
        -int(f.severity),
        f.package.name if f.package else (f.path or ""),
        f.id,
    )


def severity_key(f: Finding) -> tuple[int, str, str, str]:
    p = f.package
    return (-int(f.severity), p.type if p else "", p.name if p else (f.path or ""), f.id)


def sort_findings(findings: Iterable[Finding], order: str) -> list[Finding]:
    """``risk`` or ``severity`` order."""
    return sorted(findings, key=risk_key if order == "risk" else severity_key)
