"""PyPI: PEP 440, by ``packaging.version`` (the reference implementation pip uses).

Strings that are not PEP 440 versions raise InvalidVersion; hullscan does not invent an
order for pre-PEP 440 "legacy" strings (packaging dropped LegacyVersion in 22.0, and pip
refuses them), so a caller can skip them instead of matching them wrongly.
"""

from __future__ import annotations

from packaging.version import InvalidVersion as _PackagingInvalid
from packaging.version import Version

from ._base import InvalidVersion, cached_parse

__all__ = ["compare", "key"]


@cached_parse
def key(version: str) -> Version:
    """The packaging Version, which sorts by PEP 440."""
    try:
        return Version(version)
    except _PackagingInvalid:
        raise InvalidVersion(f"not a PEP 440 version: {version!r}") from None
    except ValueError:
        # int() refuses numbers past 4300 digits (sys.get_int_max_str_digits()).
        raise InvalidVersion(f"number too long in version {version[:40]!r}...") from None


def compare(a: str, b: str) -> int:
    va, vb = key(a), key(b)
    return (va > vb) - (va < vb)
