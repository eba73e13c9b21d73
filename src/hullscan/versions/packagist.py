"""Packagist (Composer): PHP's version_compare(), after dropping a leading ``v``.

PHP canonicalizes a version by turning ``-``, ``_``, ``+`` and other punctuation into
``.`` and putting a ``.`` between digits and letters, then compares part by part:
numbers by value (saturating at 2**63 - 1, as strtol does), words by their special form
``dev < alpha = a < beta = b < RC = rc < (number) < pl = p``, matched by prefix and case
sensitively (so "pre" counts as "p", and an unknown word sorts below "dev").

As osv-scanner does, a leading ``v``/``V`` is removed first (Composer's tags often carry
it; PHP itself would read it as an unknown word). The empty string raises InvalidVersion.
One deliberate difference: trailing separators are ignored ("1.0-" == "1.0"), where PHP
keeps an empty last part that it orders inconsistently (it calls "1.0-" older than
itself), which would make sorting depend on the input order.
"""

from __future__ import annotations

import functools

from ._base import CmpKey, InvalidVersion, cached_parse, utf8

__all__ = ["compare", "key", "parse", "version_compare"]

_LONG_MAX = 2**63 - 1
_SPECIAL_FORMS = (
    (b"dev", 0),
    (b"alpha", 1),
    (b"a", 1),
    (b"beta", 2),
    (b"b", 2),
    (b"RC", 3),
    (b"rc", 3),
    (b"#", 4),
    (b"pl", 5),
    (b"p", 5),
)
_NUMBER_FORM = b"#N#"


def _isdigit(c: int) -> bool:
    return 0x30 <= c <= 0x39


def _isalnum(c: int) -> bool:
    return _isdigit(c) or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def canonicalize(version: bytes) -> bytes:
    """php_canonicalize_version(), character for character."""
    if not version:
        return b""
    out = bytearray(version[:1])
    lp = version[0]
    for c in version[1:]:
        lq = out[-1]
        if c in b"-_+":
            if lq != 0x2E:
                out.append(0x2E)
        elif (not _isdigit(lp) and lp != 0x2E and _isdigit(c)) or (
            _isdigit(lp) and not _isdigit(c) and c != 0x2E
        ):
            if lq != 0x2E:
                out.append(0x2E)
            out.append(c)
        elif not _isalnum(c):
            if lq != 0x2E:
                out.append(0x2E)
        else:
            out.append(c)
        lp = c
    return bytes(out)


def _special_form(part: bytes) -> int:
    for name, order in _SPECIAL_FORMS:
        if part.startswith(name):
            return order
    return -1


def _number(part: bytes) -> int:
    digits = part[: len(part) - len(part.lstrip(b"0123456789"))].lstrip(b"0")
    return _LONG_MAX if len(digits) > 19 else min(int(digits or b"0"), _LONG_MAX)


# A part of a canonical version: (starts with a digit, special form, number, empty).
# A number's special form is "#N#"'s (4), which is how PHP ranks it against a word.
_Part = tuple[bool, int, int, bool]


@functools.lru_cache(maxsize=1 << 16)
def _parts(ver: bytes) -> tuple[_Part, ...]:
    out: list[_Part] = []
    for part in ver.split(b"."):
        if part[:1].isdigit():
            out.append((True, 4, _number(part), False))
        else:
            out.append((False, _special_form(part), 0, not part))
    return tuple(out)


def _compare_canonical(ver1: bytes, ver2: bytes) -> int:
    """php_version_compare() after canonicalization: its strchr loop, over split parts."""
    parts1, parts2 = _parts(ver1), _parts(ver2)
    last1, last2 = len(parts1) - 1, len(parts2) - 1
    k1 = k2 = 0
    more1 = more2 = True  # PHP's n1, n2: a "." followed the previous part
    while more1 and more2:
        # *p1 && *p2: what is left of each string is not empty.
        if (k1 == last1 and parts1[k1][3]) or (k2 == last2 and parts2[k2][3]):
            break
        digit1, form1, num1, _ = parts1[k1]
        digit2, form2, num2, _ = parts2[k2]
        if digit1 and digit2:
            compare = (num1 > num2) - (num1 < num2)
        else:
            compare = (form1 > form2) - (form1 < form2)
        if compare:
            return compare
        more1, more2 = k1 < last1, k2 < last2
        k1 += more1
        k2 += more2
    if more1:
        if parts1[k1][0]:
            return 1
        return version_compare(b".".join(ver1.split(b".")[k1:]), _NUMBER_FORM)
    if more2:
        if parts2[k2][0]:
            return -1
        return version_compare(_NUMBER_FORM, b".".join(ver2.split(b".")[k2:]))
    return 0


def _prepare(version: bytes) -> bytes:
    return version if version[:1] == b"#" else canonicalize(version)


def version_compare(v1: bytes, v2: bytes) -> int:
    """PHP's version_compare($v1, $v2) on byte strings."""
    if not v1 or not v2:
        return bool(v1) - bool(v2)
    return _compare_canonical(_prepare(v1), _prepare(v2))


@cached_parse
def parse(version: str) -> bytes:
    """The canonical form PHP compares (after the leading v is dropped)."""
    raw = utf8(version)
    if raw[:1] in (b"v", b"V"):
        raw = raw[1:]
    if not raw:
        raise InvalidVersion(f"empty Packagist version {version!r}")
    # PHP leaves an empty last part after a trailing separator and then calls "1.0-" older
    # than "1.0", than itself, and than "1.0a" and "1.0a" older than it; without that
    # part the comparison is an order again.
    return _prepare(raw).rstrip(b".") or b"."


def compare_parsed(a: bytes, b: bytes) -> int:
    return 0 if a == b else _compare_canonical(a, b)


def compare(a: str, b: str) -> int:
    return compare_parsed(parse(a), parse(b))


def key(version: str) -> CmpKey[bytes]:
    """A sort key for Packagist versions."""
    return CmpKey(parse(version), compare_parsed)
