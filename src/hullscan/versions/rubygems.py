"""RubyGems: Gem::Version's order (rubygems/version.rb, RubyGems 3.3).

A version is ``[0-9]+(.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(.[0-9A-Za-z-]+)*)?`` with optional
surrounding whitespace (an empty or blank string is "0"); ``-`` reads as ``.pre.``. It
splits into numbers and letter runs; any letter makes it a prerelease, below the release.
Trailing zeros are dropped before the first letter run and at the end, then segments
compare left to right, missing ones as 0, a letter run below any number, letter runs
bytewise (so case matters: "B" < "a").
"""

from __future__ import annotations

import re

from ._base import CmpKey, InvalidVersion, cached_parse

__all__ = ["GemVersion", "compare", "key", "parse"]

# A segment: (0, letters) below (1, (length, digits)); numbers as (length, digits without
# leading zeros) compare by value at any size.
_Segment = tuple[int, object]
GemVersion = tuple[_Segment, ...]

_WS = "[ \t\r\n\f\v]"  # Ruby's \s: ASCII whitespace only
_CORRECT = re.compile(
    rf"{_WS}*([0-9]+(?>\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)?{_WS}*"
)
_SEGMENTS = re.compile(r"[0-9]+|[a-zA-Z]+")
_ZERO: _Segment = (1, (0, ""))


def _segment(text: str) -> _Segment:
    if text[0].isdigit():
        digits = text.lstrip("0")
        return (1, (len(digits), digits))
    return (0, text)


@cached_parse
def parse(version: str) -> GemVersion:
    """Gem::Version#canonical_segments."""
    m = _CORRECT.fullmatch(version)
    if m is None:
        raise InvalidVersion(f"malformed RubyGems version {version!r}")
    text = (m.group(1) or "0").replace("-", ".pre.")
    segments = [_segment(s) for s in _SEGMENTS.findall(text)]
    first_string = next((i for i, s in enumerate(segments) if s[0] == 0), len(segments))
    numeric, strings = segments[:first_string], segments[first_string:]
    # Drop trailing zeros from the release part and from the prerelease part.
    while numeric and numeric[-1] == _ZERO:
        numeric.pop()
    while strings and strings[-1] == _ZERO:
        strings.pop()
    return tuple(numeric + strings)


def compare_parsed(a: GemVersion, b: GemVersion) -> int:
    """Gem::Version#<=>: segment by segment, a missing segment counting as 0."""
    if a == b:
        return 0
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else _ZERO
        y = b[i] if i < len(b) else _ZERO
        if x != y:
            return 1 if x > y else -1
    return 0


def compare(a: str, b: str) -> int:
    return compare_parsed(parse(a), parse(b))


def key(version: str) -> CmpKey[GemVersion]:
    """A sort key for RubyGems versions."""
    return CmpKey(parse(version), compare_parsed)
