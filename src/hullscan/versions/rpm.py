"""Red Hat, AlmaLinux, Rocky, SUSE and the other rpm distributions: rpm's order.

``[epoch:]version[-release]`` split as rpm's parseEVR does (the epoch is the digits
before the first colon when only digits precede it; the release is after the last
hyphen), compared as ``rpm.labelCompare`` does: epoch (default "0"), version, then
release, each with rpmvercmp; a missing release sorts before any release. An empty
string, or an empty version part ("1:", "-1"), raises InvalidVersion as rpm does.

rpmvercmp walks alphanumeric segments, skipping other characters as separators; ``~``
sorts before everything (even the end of the string), ``^`` after the end but before
any segment, letters before digits, numbers by value, letters bytewise.
"""

from __future__ import annotations

import re

from ._base import InvalidVersion, cached_parse, sign, utf8

__all__ = ["RpmKey", "compare", "key", "vercmp"]

# Token ranks, in rpmvercmp's order; the END token pads a finished string.
_TILDE, _END, _CARET, _ALPHA, _NUM = range(5)
_Token = tuple[int, int, bytes]  # (rank, digit count for numbers, text)
_Tokens = tuple[_Token, ...]
RpmKey = tuple[_Tokens, _Tokens, tuple[int, _Tokens]]

_TOKENS = re.compile(rb"(~)|(\^)|([0-9]+)|([A-Za-z]+)")
_END_TOKEN: _Token = (_END, 0, b"")


def _tokens(text: bytes) -> _Tokens:
    """rpmvercmp as a tuple key: compare token by token, padding with END."""
    out: list[_Token] = []
    for tilde, _caret, digits, letters in _TOKENS.findall(text):
        if tilde:
            out.append((_TILDE, 0, b""))
        elif digits:
            number = digits.lstrip(b"0")
            out.append((_NUM, len(number), number))
        elif letters:
            out.append((_ALPHA, 0, letters))
        else:
            out.append((_CARET, 0, b""))
    out.append(_END_TOKEN)
    return tuple(out)


def vercmp(a: str, b: str) -> int:
    """rpmvercmp() on two strings (one field: version, release or epoch)."""
    ta, tb = _tokens(utf8(a)), _tokens(utf8(b))
    return (ta > tb) - (ta < tb)


@cached_parse
def key(version: str) -> RpmKey:
    """A sort key ordering ``[epoch:]version[-release]`` strings as rpm.labelCompare."""
    raw = utf8(version)
    if not raw:
        raise InvalidVersion("empty rpm version")
    digits_end = len(raw) - len(raw.lstrip(b"0123456789"))
    epoch = b"0"
    rest = raw
    if raw[digits_end : digits_end + 1] == b":":
        epoch = raw[:digits_end] or b"0"
        rest = raw[digits_end + 1 :]
    # parseEVR looks for the last hyphen after the epoch digits, but the only characters
    # skipped are digits, so the last hyphen of the remainder is the same one.
    ver, hyphen, release = rest.rpartition(b"-")
    if not hyphen:
        ver = rest
    if not ver:
        # rpm.labelCompare refuses an empty version ("invalid version"), as rpmverNew does.
        raise InvalidVersion(f"rpm version {version!r} has an empty version part")
    return (_tokens(epoch), _tokens(ver), (1, _tokens(release)) if hyphen else (0, ()))


def compare(a: str, b: str) -> int:
    ka, kb = key(a), key(b)
    return sign((ka > kb) - (ka < kb))
