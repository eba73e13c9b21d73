"""Severity of an advisory: CVSS vectors first (computed with the ``cvss`` library), then
the source's own rating, else UNKNOWN."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cvss import CVSS3, CVSS4
from cvss.exceptions import CVSSError

from hullscan.model import Severity


@dataclass(frozen=True)
class Rating:
    severity: Severity
    score: float | None = None
    vector: str = ""
    method: str = ""  # CVSSv3, CVSSv4, or the source's name for its own rating


def from_score(score: float) -> Severity:
    """CVSS v3/v4 qualitative bands."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.UNKNOWN


def from_vector(kind: str, vector: str) -> Rating | None:
    try:
        if kind == "CVSS_V4" or vector.startswith("CVSS:4.0/"):
            c4 = CVSS4(vector)
            return Rating(from_score(float(c4.base_score)), float(c4.base_score), vector, "CVSSv4")
        if kind == "CVSS_V3" or vector.startswith("CVSS:3"):
            c3 = CVSS3(vector)
            score = float(c3.base_score)
            return Rating(from_score(score), score, vector, "CVSSv3")
    except (CVSSError, ValueError, KeyError, TypeError):
        return None
    return None


_WORDS = {"critical": Severity.CRITICAL, "high": Severity.HIGH, "important": Severity.HIGH,
          "moderate": Severity.MEDIUM, "medium": Severity.MEDIUM, "low": Severity.LOW,
          "negligible": Severity.LOW, "unimportant": Severity.LOW}


def rate(severity: tuple[tuple[str, str], ...], database_specific: dict[str, Any],
         affected_specific: list[dict[str, Any]] | None = None) -> Rating:
    """The best rating an advisory offers: the highest CVSS version present wins."""
    ratings = [r for kind, vector in severity if (r := from_vector(kind, vector))]
    if ratings:
        return max(ratings, key=lambda r: (r.method == "CVSSv4", r.score or 0.0))
    for d in [database_specific, *(affected_specific or [])]:
        word = d.get("severity")
        if isinstance(word, str) and word.lower() in _WORDS:
            return Rating(_WORDS[word.lower()], method="source")
        for key in ("cvss_v3", "cvss_score", "cvss_v4", "cvss_v2"):
            value = d.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                return Rating(from_score(float(value)), float(value), method=f"source {key}")
    return Rating(Severity.UNKNOWN)
