"""What a stored report says about an image, in the few facts admission decisions and the
fleet summary need: counts by severity, known-exploited findings, vulnerability ids."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hullscan.model import OSInfo, Severity

_OS_FIELDS = {f.name for f in dataclasses.fields(OSInfo)}


@dataclass(frozen=True)
class Verdict:
    digest: str
    image: str
    #: when the report was stored (UTC, ISO 8601) and the database it was matched with
    scanned_at: str
    db_version: str
    by_severity: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    #: ids of findings in CISA's Known Exploited Vulnerabilities catalog
    kev: tuple[str, ...] = ()
    #: the most severe finding ids first (a few, for messages)
    worst_ids: tuple[str, ...] = ()

    @property
    def worst(self) -> Severity | None:
        present = [Severity[s] for s, n in self.by_severity.items() if n]
        return max(present) if present else None

    def at_or_above(self, threshold: Severity) -> int:
        return sum(n for s, n in self.by_severity.items() if Severity[s] >= threshold)


def is_kev(finding: dict[str, Any]) -> bool:
    """A report finding in the KEV catalog (``kev`` is set, at the top or in details)."""
    details = finding.get("details")
    return bool(finding.get("kev") or (isinstance(details, dict) and details.get("kev")))


def vulnerability_ids(report: dict[str, Any]) -> list[str]:
    """The vulnerability finding ids of a ``hullscan.report/v1`` document, one per
    package and vulnerability (``id`` plus the package purl), sorted."""
    out = set()
    for f in report.get("findings") or []:
        if isinstance(f, dict) and f.get("kind") == "vulnerability":
            pkg = f.get("package")
            out.add(
                finding_key(
                    str(f.get("id")), str(pkg.get("purl", "")) if isinstance(pkg, dict) else ""
                )
            )
    return sorted(out)


def finding_key(finding_id: str, purl: str) -> str:
    """A vulnerability in one package: the unit ``fleet rematch`` compares."""
    return f"{finding_id} {purl}".strip()


def os_of(doc: Any) -> OSInfo | None:
    """The ``image.os`` of a report (or a stored inventory) as an ``OSInfo``."""
    if not isinstance(doc, dict) or not doc.get("id"):
        return None
    return OSInfo(**{k: v for k, v in doc.items() if k in _OS_FIELDS})


def key_id(key: str) -> str:
    return key.split(" ", 1)[0]


def facts(report: dict[str, Any]) -> dict[str, Any]:
    """What a verdict needs of a report, as stored beside it: the image reference, counts
    by severity, known-exploited ids and the worst finding ids."""
    findings = [f for f in report.get("findings") or [] if isinstance(f, dict)]
    counts: Counter[str] = Counter()
    ranked: list[tuple[int, str]] = []
    for f in findings:
        name = str(f.get("severity", "UNKNOWN")).upper()
        if name not in Severity.__members__:
            name = "UNKNOWN"
        counts[name] += 1
        ranked.append((-Severity[name], str(f.get("id"))))
    kev = sorted({str(f.get("id")) for f in findings if is_kev(f)})
    worst = list(dict.fromkeys(i for _, i in sorted(ranked)))[:5]
    image = report.get("image")
    return {
        "image": str(image.get("ref", "")) if isinstance(image, dict) else "",
        "by_severity": dict(counts),
        "kev": kev,
        "worst_ids": worst,
    }


def verdict_from(digest: str, scanned_at: str, db_version: str, stored: dict[str, Any]) -> Verdict:
    """A verdict from the facts ``facts()`` stored."""
    return Verdict(
        digest,
        str(stored.get("image", "")),
        scanned_at,
        db_version,
        dict(stored.get("by_severity") or {}),
        tuple(stored.get("kev") or ()),
        tuple(stored.get("worst_ids") or ()),
    )


__all__ = [
    "Verdict",
    "facts",
    "finding_key",
    "is_kev",
    "key_id",
    "os_of",
    "verdict_from",
    "vulnerability_ids",
]
