"""OSV affected-range evaluation (https://ossf.github.io/osv-schema/#evaluation)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cmp_to_key

from hullscan.versions import compare

#: at equal versions, an introduction is applied before a fix (an empty range stays empty)
_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 2, "limit": 3}


@dataclass(frozen=True)
class RangeMatch:
    """The installed version is inside a range; ``fixed`` is the first fix above it."""

    fixed: str = ""
    introduced: str = ""
    last_affected: str = ""


def _cmp(ecosystem: str, a: str, b: str) -> int:
    if a == "0":
        return 0 if b == "0" else -1
    if b == "0":
        return 1
    return compare(ecosystem, a, b)


def evaluate(ecosystem: str, version: str, events: list[tuple[str, str]]) -> RangeMatch | None:
    """Whether ``version`` is affected by one ECOSYSTEM/SEMVER range.

    Raises ``versions.InvalidVersion`` when a version cannot be ordered; the caller
    decides (an advisory whose bounds are unparsable is skipped, not guessed).
    """

    def key(a: tuple[str, str], b: tuple[str, str]) -> int:
        c = _cmp(ecosystem, a[1], b[1])
        return c if c else _ORDER[a[0]] - _ORDER[b[0]]

    ordered = sorted(events, key=cmp_to_key(key))
    limits = [v for kind, v in ordered if kind == "limit"]
    if limits and all(_cmp(ecosystem, version, lim) >= 0 for lim in limits):
        return None
    affected = False
    introduced = ""
    for kind, value in ordered:
        if kind == "introduced" and _cmp(ecosystem, version, value) >= 0:
            affected, introduced = True, value
        elif kind == "fixed" and _cmp(ecosystem, version, value) >= 0:  # noqa: SIM114
            affected = False
        elif kind == "last_affected" and _cmp(ecosystem, version, value) > 0:
            affected = False
    if not affected:
        return None
    fixes = [v for kind, v in ordered if kind == "fixed" and _cmp(ecosystem, version, v) < 0]
    last = [
        v for kind, v in ordered if kind == "last_affected" and _cmp(ecosystem, version, v) <= 0
    ]
    return RangeMatch(
        fixed=fixes[0] if fixes else "",
        introduced=introduced,
        last_affected=last[0] if last else "",
    )
