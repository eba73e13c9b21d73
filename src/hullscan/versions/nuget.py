"""NuGet: NuGet.Versioning's NuGetVersion and its default VersionComparer.

``MAJOR[.MINOR[.PATCH[.REVISION]]][-LABEL(.LABEL)*][+METADATA]``: up to four numbers
(each 0..2**31-1, leading zeros allowed, missing ones 0), release labels compared left to
right (numeric labels as integers and below the others, the others case-insensitively),
a release above its prereleases, metadata ignored. Surrounding whitespace is trimmed,
and ``System.Version`` allows blanks around each number, as NuGet does.
"""

from __future__ import annotations

import re

from ._base import InvalidVersion, cached_parse, sign

__all__ = ["NuGetKey", "compare", "key"]

_Label = tuple[int, object]  # (0, int) for Int32-parsable labels, below (1, upper-cased)
NuGetKey = tuple[int, int, int, int, int, tuple[_Label, ...]]

_INT32_MAX = 2**31 - 1
# int.TryParse(NumberStyles.Integer): blanks (\t..\r, space) around, optional sign.
_COMPONENT = re.compile(r"[\t\n\v\f\r ]*([0-9]+)[\t\n\v\f\r ]*")
_PART = re.compile(r"[0-9A-Za-z-]+")
_INT_LABEL = re.compile(r"[\t\n\v\f\r ]*[+-]?[0-9]+[\t\n\v\f\r ]*")
# string.Trim(): char.IsWhiteSpace.
_DOTNET_WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _valid_part(part: str, leading_zeros: bool) -> bool:
    """NuGet's IsValidPart: [0-9A-Za-z-]+, and no leading zero on an all-digit part."""
    if not _PART.fullmatch(part):
        return False
    return leading_zeros or not (len(part) > 1 and part[0] == "0" and part[1:].isdigit())


def _label(label: str) -> _Label:
    if _INT_LABEL.fullmatch(label):
        # Int32.TryParse: leading zeros and a sign are fine, out of range is not a number.
        text = label.strip()
        digits = text.lstrip("+-").lstrip("0")
        if len(digits) <= 10:
            value = -int(digits or "0") if text[0] == "-" else int(digits or "0")
            if -(2**31) <= value <= _INT32_MAX:
                return (0, value)
    # StringComparer.OrdinalIgnoreCase on ASCII: compare upper-cased code units.
    return (1, label.upper())


def _sections(value: str) -> tuple[str, list[str] | None, str | None]:
    """ParseSections(): version, labels, metadata, with its end-of-string corners."""
    dash = plus = -1
    version = ""
    labels: list[str] | None = None
    metadata: str | None = None
    last = len(value) - 1
    for i, c in enumerate(value):
        end = i == last
        if dash < 0:
            if end or c in "-+":
                version = value[: i + (1 if end else 0)]
                dash = i
                if c == "+":
                    plus = i
        elif plus < 0:
            if end or c == "+":
                labels = value[dash + 1 : i + (1 if end else 0)].split(".")
                plus = i
        elif end:
            metadata = value[plus + 1 : i + 1]
    return version, labels, metadata


@cached_parse
def key(version: str) -> NuGetKey:
    """A sort key matching NuGetVersion's default comparison."""
    value = version.strip(_DOTNET_WHITESPACE)
    text, labels, metadata = _sections(value)
    components = text.split(".") if text else []
    if len(components) == 1:
        components.append("0")  # System.Version needs two parts; NuGet pads one
    if not 2 <= len(components) <= 4:
        raise InvalidVersion(f"invalid NuGet version {version!r}")
    numbers = []
    for component in components:
        m = _COMPONENT.fullmatch(component)
        digits = m.group(1).lstrip("0") if m else ""
        if m is None or len(digits) > 10 or int(digits or "0") > _INT32_MAX:
            raise InvalidVersion(f"invalid NuGet version {version!r}")
        numbers.append(int(digits or "0"))
    numbers += [0] * (4 - len(numbers))
    if labels is not None and not all(_valid_part(p, False) for p in labels):
        raise InvalidVersion(f"invalid NuGet prerelease label in {version!r}")
    if metadata is not None and not all(_valid_part(p, True) for p in metadata.split(".")):
        raise InvalidVersion(f"invalid NuGet metadata in {version!r}")
    pre = tuple(_label(p) for p in labels) if labels else ()
    return (numbers[0], numbers[1], numbers[2], numbers[3], 0 if pre else 1, pre)


def compare(a: str, b: str) -> int:
    ka, kb = key(a), key(b)
    return sign((ka > kb) - (ka < kb))
