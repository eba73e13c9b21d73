"""Debian and Ubuntu: dpkg's version order (lib/dpkg/parsehelp.c parseversion, version.c verrevcmp).

``[epoch:]upstream[-revision]``; upstream and revision are compared by dpkg's verrevcmp:
alternating non-digit and digit runs, where in the non-digit run ``~`` sorts before
everything (even the end), then the end or a digit, then letters, then other bytes.

Validity follows ``dpkg --compare-versions``: what dpkg rejects with an error (empty
epoch/version/revision, a non-numeric or out-of-range epoch, embedded blanks) raises
InvalidVersion; what it only warns about (a first character that is not a digit, a
character outside policy's set) is still compared exactly as dpkg compares it. The
empty string raises too (``dpkg --compare-versions`` reads it as a "blank" version).
"""

from __future__ import annotations

import re

from ._base import InvalidVersion, cached_parse, sign, utf8

__all__ = ["DpkgKey", "compare", "key"]

# One verrevcmp part: (orders of the non-digit run + (0,), the digit run as a number key).
# Numbers are (length, digits) without leading zeros, so that any length compares exactly
# (int() refuses strings past 4300 digits).
_Part = tuple[tuple[int, ...], tuple[int, bytes]]
_Run = tuple[_Part, ...]
DpkgKey = tuple[int, _Run, _Run]

_INT_MAX = 2**31 - 1
_BLANKS = b" \t"  # c_isblank: the only characters dpkg trims, and forbids inside
# strtol(): optional C whitespace, optional sign, decimal digits.
_EPOCH = re.compile(r"[\t\n\v\f\r ]*([+-]?)([0-9]+)\Z")
_RUNS = re.compile(rb"([^0-9]*)([0-9]*)")
# The padding verrevcmp compares a finished string with: empty non-digit run, number 0.
_PAD: _Part = ((0,), (0, b""))


def _order(byte: int) -> int:
    """dpkg's order(): digits and end 0, letters themselves, ~ -1, any other byte +256.

    dpkg reads ``char``, which is signed here, so a byte >= 0x80 is c - 256 and its
    order, c + 256, is the byte value again: between letters and ASCII punctuation.
    """
    if 0x30 <= byte <= 0x39:
        return 0
    if 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A:
        return byte
    if byte == 0x7E:
        return -1
    return byte if byte >= 0x80 else byte + 256


_ORDER = tuple(_order(b) for b in range(256))


def _run_key(text: bytes) -> _Run:
    """verrevcmp as a tuple key.

    verrevcmp compares the strings as aligned (non-digit run, number) parts: the first
    part's run may be empty, every later run is not. Each run gets a trailing 0 (the order
    of the end or of the next digit), so a run that is a prefix of another sorts correctly
    against ``~`` and letters. The part list always has its first part and ends with the
    padding part dpkg compares a finished string with; no later part can equal the
    padding, so tuples of different lengths compare as dpkg's padded loop does.
    """
    parts: list[_Part] = []
    for nondigits, digits in _RUNS.findall(text):
        if parts and not nondigits and not digits:
            continue  # the empty match at the end of the string
        number = digits.lstrip(b"0")
        parts.append(((*(_ORDER[b] for b in nondigits), 0), (len(number), number)))
    parts.append(_PAD)
    return tuple(parts)


@cached_parse
def key(version: str) -> DpkgKey:
    """A sort key equal for versions dpkg calls equal, ordered as dpkg orders them."""
    raw = utf8(version)
    text = raw.strip(_BLANKS)
    if not text:
        raise InvalidVersion(f"empty Debian version {version!r}")
    if any(c in _BLANKS for c in text):
        raise InvalidVersion(f"Debian version {version!r} has embedded spaces")
    epoch = 0
    colon = text.find(b":")
    if colon >= 0:
        m = _EPOCH.match(text[:colon].decode("utf-8", "replace"))
        if m is None:
            raise InvalidVersion(f"epoch of Debian version {version!r} is not a number")
        digits = m.group(2).lstrip("0") or "0"
        if m.group(1) == "-" and digits != "0":
            raise InvalidVersion(f"epoch of Debian version {version!r} is negative")
        value = int(digits) if len(digits) <= 10 else _INT_MAX + 1
        if value > _INT_MAX:
            raise InvalidVersion(f"epoch of Debian version {version!r} is too big")
        epoch = value
        text = text[colon + 1 :]
        if not text:
            raise InvalidVersion(f"nothing after the colon in Debian version {version!r}")
    upstream, hyphen, revision = text.rpartition(b"-")
    if not hyphen:
        upstream, revision = text, b""
    elif not revision:
        raise InvalidVersion(f"empty revision in Debian version {version!r}")
    if not upstream:
        raise InvalidVersion(f"empty upstream version in Debian version {version!r}")
    return (epoch, _run_key(upstream), _run_key(revision))


def compare(a: str, b: str) -> int:
    ka, kb = key(a), key(b)
    return sign((ka > kb) - (ka < kb))
