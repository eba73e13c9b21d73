"""The severity of one advisory for one package, and where it came from.

- OS packages: the distribution's own rating first — Debian's urgency
  (``affected[].ecosystem_specific.urgency``; ``unimportant`` → LOW), Ubuntu's
  priority (a ``severity`` entry of type ``Ubuntu``), the Red Hat / AlmaLinux /
  Rocky / SUSE word (``database_specific.severity``, or the "Important: …" that
  begins their summaries) — then a CVSS vector in the record, else UNKNOWN. The
  distribution knows how the flaw plays out in its build; NVD's score does not.
- Language packages: the CVSS vector (v4 preferred over v3, scored with the
  ``cvss`` library), then GitHub's word (``database_specific.severity``:
  ``MODERATE`` → MEDIUM), then a bare score some databases carry (RubySec).

``Rating.source`` becomes the finding's ``severity_source``: the distribution's
name (``debian``, ``ubuntu``, ``redhat``, ``almalinux``, ``rocky``, ``suse``, …),
``CVSS_V4``/``CVSS_V3``, ``ghsa`` or ``score``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cvss import CVSS3, CVSS4
from cvss.exceptions import CVSSError

from hullscan.model import Cvss, Severity
from hullscan.vulndb.names import base_ecosystem

#: rank of a rating's source: lower wins when advisories of one finding disagree
DISTRIBUTION, VECTOR, WORD, SCORE, NONE = range(5)


@dataclass(frozen=True)
class Rating:
    severity: Severity
    source: str = ""
    cvss: Cvss | None = None
    rank: int = NONE

    @property
    def order(self) -> tuple[int, int, float]:
        """Sort key: the best-sourced rating first, then the highest."""
        return (self.rank, -int(self.severity), -(self.cvss.score if self.cvss else 0.0))


UNRATED = Rating(Severity.UNKNOWN)


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
    """A rating from a CVSS v4 or v3 vector; None if it is not one the library accepts."""
    try:
        if kind == "CVSS_V4" or vector.startswith("CVSS:4.0/"):
            score = float(CVSS4(vector).base_score)
            version, source = "4.0", "CVSS_V4"
        elif kind == "CVSS_V3" or vector.startswith("CVSS:3"):
            score = float(CVSS3(vector).base_score)
            version, source = vector[5:8] if vector.startswith("CVSS:3.") else "3.1", "CVSS_V3"
        else:
            return None
    except (CVSSError, ValueError, KeyError, TypeError, IndexError):
        return None
    return Rating(from_score(score), source, Cvss(version, vector, score), VECTOR)


_WORDS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.LOW,
    "unimportant": Severity.LOW,
}
#: "Important: openssl security update" (Red Hat, AlmaLinux, Rocky summaries)
_SUMMARY_WORD = re.compile(r"\s*(Critical|Important|Moderate|Low)\s*:", re.IGNORECASE)
_SOURCE_NAMES = {
    "Red Hat": "redhat",
    "Rocky Linux": "rocky",
    "Azure Linux": "azurelinux",
    "openSUSE": "suse",
    "SUSE": "suse",
}


def _word(value: Any) -> Severity | None:
    """A rating word, e.g. Debian's "low**" or GitHub's "MODERATE"; None for "not yet
    assigned", "untriaged" and anything else that is not a rating."""
    if not isinstance(value, str):
        return None
    return _WORDS.get(value.strip().rstrip("*").strip().lower())


def distribution_rating(ecosystem: str, advisory: Any, entry: Any) -> Rating | None:
    """The distribution's own rating of ``advisory`` for the ``entry`` that matched."""
    base = base_ecosystem(ecosystem)
    source = _SOURCE_NAMES.get(base, base.lower().replace(" ", ""))
    eco_specific: Mapping[str, Any] = entry.ecosystem_specific or {}
    candidates: list[Any] = [
        eco_specific.get("urgency"),
        eco_specific.get("severity"),
        (entry.database_specific or {}).get("severity"),
        (advisory.database_specific or {}).get("severity"),
    ]
    candidates += [score for kind, score in advisory.severity if kind.lower() == base.lower()]
    if m := _SUMMARY_WORD.match(advisory.summary or ""):
        candidates.append(m.group(1))
    for value in candidates:
        if (sev := _word(value)) is not None:
            return Rating(sev, source, None, DISTRIBUTION)
    return None


def vector_rating(severity: Sequence[tuple[str, str]]) -> Rating | None:
    """The record's CVSS rating: v4 over v3, the higher score within a version."""
    ratings = [r for kind, vector in severity if (r := from_vector(kind, vector))]
    if not ratings:
        return None
    return max(ratings, key=lambda r: (r.source == "CVSS_V4", r.cvss.score if r.cvss else 0.0))


def _source_rating(specifics: Sequence[Mapping[str, Any]]) -> Rating | None:
    for d in specifics:
        if (sev := _word(d.get("severity"))) is not None:
            return Rating(sev, "ghsa", None, WORD)
    for d in specifics:
        for key in ("cvss_v3", "cvss_score", "cvss_v4", "cvss_v2"):
            value = d.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                return Rating(from_score(float(value)), "score", None, SCORE)
    return None


def rate(advisory: Any, entry: Any, ecosystem: str, *, os_package: bool) -> Rating:
    """The rating of ``advisory`` for the package its ``entry`` matched in ``ecosystem``."""
    if os_package and (r := distribution_rating(ecosystem, advisory, entry)):
        return r
    if r := vector_rating(advisory.severity):
        return r
    specifics = [
        advisory.database_specific or {},
        entry.database_specific or {},
        entry.ecosystem_specific or {},
    ]
    return _source_rating(specifics) or UNRATED
