"""Semantic Versioning 2.0.0: npm (node-semver's strict parser) and the plain spec
(crates.io, Hex, Bitnami).

Both order ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`` the same way: numbers by value, a
prerelease before its release, prerelease identifiers left to right with numeric ones by
value and below alphanumeric ones (ASCII order), more identifiers above fewer. Build
metadata never takes part.

npm matches ``semver.compare(a, b)`` (node-semver 7, not loose): a leading ``v`` and
surrounding whitespace are accepted, at most 256 characters, and each of MAJOR, MINOR
and PATCH at most 2**53 - 1. Like JavaScript, it compares numeric prerelease identifiers
past 2**53 as doubles, so neighbours that round to the same double are equal.

The spec scheme accepts exactly the SemVer 2.0.0 grammar, no ``v`` and no whitespace, with
numbers of any size. (The Rust ``semver`` crate also orders build metadata; OSV and
Cargo's resolver do not, and neither does hullscan.)
"""

from __future__ import annotations

import re

from ._base import CmpKey, InvalidVersion, cached_parse, sign

__all__ = [
    "NpmVersion",
    "SemverKey",
    "compare_npm",
    "compare_semver",
    "npm_key",
    "parse_npm",
    "semver_key",
]

_Number = tuple[int, str]  # (length, digits): decimal order at any size, no leading zeros
_Ident = tuple[int, object]  # numeric identifiers (0, number) below alphanumeric (1, text)
# (major, minor, patch, release flag, identifiers): a release has flag 1 and no identifiers,
# so it sorts above every prerelease of the same triple.
SemverKey = tuple[_Number, _Number, _Number, int, tuple[_Ident, ...]]
# node-semver's parsed form: the numeric triple and the raw prerelease identifiers.
NpmVersion = tuple[tuple[int, int, int], tuple[str, ...]]

_CORE = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_IDENT_CHARS = re.compile(r"[0-9A-Za-z-]+")
_NPM_MAX_LENGTH = 256
_MAX_SAFE_INTEGER = 2**53 - 1
# JavaScript's String.prototype.trim(): WhiteSpace and LineTerminator code points.
_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def _split(text: str) -> tuple[tuple[str, str, str], tuple[str, ...]] | None:
    """SemVer 2.0.0's grammar, checked piecewise so that the work stays linear."""
    text, plus, build = text.partition("+")
    if plus and not all(_IDENT_CHARS.fullmatch(i) for i in build.split(".")):
        return None
    core, hyphen, pre = text.partition("-")
    m = _CORE.fullmatch(core)
    if m is None:
        return None
    idents: tuple[str, ...] = ()
    if hyphen:
        idents = tuple(pre.split("."))
        for ident in idents:
            if not _IDENT_CHARS.fullmatch(ident):
                return None
            if len(ident) > 1 and ident[0] == "0" and ident.isdigit():
                return None  # numeric identifiers have no leading zeros
    return (m.group(1), m.group(2), m.group(3)), idents


@cached_parse
def parse_npm(version: str) -> NpmVersion:
    """node-semver's ``new SemVer(version)`` (strict): the numbers and prerelease identifiers."""
    if len(version) > _NPM_MAX_LENGTH:
        raise InvalidVersion(f"npm version longer than {_NPM_MAX_LENGTH} characters")
    text = version.strip(_JS_WHITESPACE)
    parts = _split(text[1:] if text.startswith("v") else text)
    if parts is None:
        raise InvalidVersion(f"invalid npm (node-semver) version {version!r}")
    numbers = tuple(int(p) for p in parts[0])
    if max(numbers) > _MAX_SAFE_INTEGER:
        raise InvalidVersion(f"npm version {version!r}: number above 2**53 - 1")
    return (numbers[0], numbers[1], numbers[2]), parts[1]


def _js_number(digits: str) -> float:
    """``+digits`` in JavaScript: the nearest double (identifiers are at most 250 digits)."""
    return float(int(digits))


def _compare_npm_idents(a: str, b: str) -> int:
    """compareIdentifiers(): all-digit identifiers as doubles, below the others (ASCII)."""
    anum, bnum = a.isdigit(), b.isdigit()
    if anum and bnum:
        x, y = _js_number(a), _js_number(b)
        return (x > y) - (x < y)
    if anum != bnum:
        return -1 if anum else 1
    return (a > b) - (a < b)


def compare_npm_parsed(va: NpmVersion, vb: NpmVersion) -> int:
    """SemVer.compare(): compareMain, then comparePre exactly as node-semver writes it."""
    if va[0] != vb[0]:
        return -1 if va[0] < vb[0] else 1
    pa, pb = va[1], vb[1]
    if not pa or not pb:
        return (not pa) - (not pb)
    for x, y in zip(pa, pb, strict=False):
        if x != y:
            # Returned even when 0: two long numbers that round to one double end the
            # comparison as equal, whatever follows them.
            return _compare_npm_idents(x, y)
    return (len(pa) > len(pb)) - (len(pa) < len(pb))


def compare_npm(a: str, b: str) -> int:
    return compare_npm_parsed(parse_npm(a), parse_npm(b))


def npm_key(version: str) -> CmpKey[NpmVersion]:
    """A sort key for npm versions (node-semver's order is a comparison, not a tuple)."""
    return CmpKey(parse_npm(version), compare_npm_parsed)


def _number(digits: str) -> _Number:
    return (len(digits), digits)


@cached_parse
def semver_key(version: str) -> SemverKey:
    """A sort key for strict SemVer 2.0.0 (build metadata ignored)."""
    parts = _split(version)
    if parts is None:
        raise InvalidVersion(f"invalid semantic version {version!r}")
    (major, minor, patch), idents = parts
    pre = tuple((0, _number(i)) if i.isdigit() else (1, i) for i in idents)
    return (_number(major), _number(minor), _number(patch), 0 if pre else 1, pre)


def compare_semver(a: str, b: str) -> int:
    ka, kb = semver_key(a), semver_key(b)
    return sign((ka > kb) - (ka < kb))
