"""Alpine, Wolfi, Chainguard: apk-tools' version order (src/version.c of apk-tools 2.14/3).

``digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}``: numbers compare numerically,
except that a dotted component with a leading zero on either side compares as a string
(Gentoo's rule: 1.01 < 1.1); suffixes order ``_alpha < _beta < _pre < _rc < (none) <
_cvs < _svn < _git < _hg < _p``; ``~hash`` compares as a string; ``-rN`` last.

A string apk_version_validate() rejects raises InvalidVersion. (apk still compares
invalid strings, token by token up to the first bad one; hullscan does not guess.)
Numbers are compared exactly; apk-tools keeps them in a uint64 that wraps past 20
digits, which no real version reaches.
"""

from __future__ import annotations

import re

from ._base import InvalidVersion, cached_parse, sign

__all__ = ["ApkKey", "compare", "key"]

# Token types, in apk-tools' order (which also bounds what may follow what).
_INITIAL_DIGIT, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _COMMIT_HASH, _REVISION_NO, _END = range(8)
_SUFFIXES = {
    "alpha": 1,
    "beta": 2,
    "pre": 3,
    "rc": 4,
    # 5 is "no suffix"
    "cvs": 6,
    "svn": 7,
    "git": 8,
    "hg": 9,
    "p": 10,
}
_SUFFIX_NONE = 5

# A token's sort element is (class, value). When two versions' token types differ at the
# same position apk decides by type alone: a pre-release suffix loses to anything, else
# the higher token type loses (1.0 < 1.0-r1 because END > REVISION_NO). So the class is
# 0 for pre-release suffixes and 8 - type otherwise; equal classes mean equal types.
_Elem = tuple[int, object]
ApkKey = tuple[_Elem, ...]
_END_ELEM: _Elem = (8 - _END, 0)

_DIGITS = re.compile(r"[0-9]*")
_SUFFIX_CHARS = re.compile(r"[a-z]*")
_HEX = re.compile(r"[0-9a-f]*")


def _number(digits: str) -> tuple[int, str]:
    """Exact numeric order for any length: (length without leading zeros, digits)."""
    stripped = digits.lstrip("0")
    return (len(stripped), stripped)


@cached_parse
def key(version: str) -> ApkKey:
    """A sort key ordering valid apk versions as apk_version_compare does."""

    def bad(why: str) -> InvalidVersion:
        return InvalidVersion(f"invalid apk version {version!r}: {why}")

    n = len(version)
    m = _DIGITS.match(version, 0)
    assert m is not None  # [0-9]* always matches
    if not m.group():
        raise bad("must start with a digit")
    elems: list[_Elem] = [(8 - _INITIAL_DIGIT, _number(m.group()))]
    token = _INITIAL_DIGIT
    pos = m.end()
    while pos < n:
        c = version[pos]
        if "a" <= c <= "z":
            if token > _DIGIT:
                raise bad(f"letter {c!r} out of place")
            token = _LETTER
            elems.append((8 - _LETTER, ord(c)))
            pos += 1
        elif c == "." or "0" <= c <= "9":
            if c == ".":
                if token > _DIGIT:
                    raise bad("'.' out of place")
                pos += 1
            if token in (_INITIAL_DIGIT, _DIGIT):
                token = _DIGIT
            elif token == _SUFFIX:
                token = _SUFFIX_NO
            else:
                raise bad("digit out of place")
            m = _DIGITS.match(version, pos)
            assert m is not None
            digits = m.group()
            if not digits:
                raise bad("missing number")
            pos = m.end()
            if token == _DIGIT:
                # Either side with a leading zero makes apk compare the two as strings; as
                # every digit string starting with 0 sorts below one starting with 1-9,
                # ranking (0, string) below (1, number) gives the same order.
                value: object = (0, digits) if digits[0] == "0" else (1, _number(digits))
            else:
                value = _number(digits)
            elems.append((8 - token, value))
        elif c == "_":
            if token > _SUFFIX_NO:
                raise bad("suffix out of place")
            m = _SUFFIX_CHARS.match(version, pos + 1)
            assert m is not None
            suffix = _SUFFIXES.get(m.group())
            if suffix is None:
                raise bad(f"unknown suffix {m.group()!r}")
            token = _SUFFIX
            elems.append((0 if suffix < _SUFFIX_NONE else 8 - _SUFFIX, suffix))
            pos = m.end()
        elif c == "~":
            if token >= _COMMIT_HASH:
                raise bad("'~' out of place")
            m = _HEX.match(version, pos + 1)
            assert m is not None
            if not m.group():
                raise bad("empty commit hash")
            token = _COMMIT_HASH
            elems.append((8 - _COMMIT_HASH, m.group()))
            pos = m.end()
        elif c == "-":
            if token >= _REVISION_NO or version[pos + 1 : pos + 2] != "r":
                raise bad("'-' must start the final -rN")
            m = _DIGITS.match(version, pos + 2)
            assert m is not None
            if not m.group():
                raise bad("missing revision number")
            token = _REVISION_NO
            elems.append((8 - _REVISION_NO, _number(m.group())))
            pos = m.end()
        else:
            raise bad(f"unexpected character {c!r}")
    elems.append(_END_ELEM)
    return tuple(elems)


def compare(a: str, b: str) -> int:
    ka, kb = key(a), key(b)
    return sign((ka > kb) - (ka < kb))
