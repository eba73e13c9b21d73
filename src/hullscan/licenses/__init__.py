"""Licences: what packages declare, normalized to SPDX expressions; the licence policy."""

from __future__ import annotations

from hullscan.model import License


def declared(value: str, source: str, path: str = "") -> License:
    """A licence as a package declares it, with its SPDX expression."""
    from hullscan.licenses.spdx import to_spdx

    value = " ".join(value.split())
    return License(to_spdx(value), value, source, path)


def declared_all(
    values: tuple[str, ...] | list[str], source: str, path: str = ""
) -> tuple[License, ...]:
    """Each non-empty declared string once, in order."""
    return tuple(declared(v, source, path) for v in dict.fromkeys(v.strip() for v in values) if v)


def combined(licenses: tuple[License, ...]) -> str:
    """One SPDX expression for all of a package's licences: each applies (Debian's
    stanzas cover different files), so they are joined with AND."""
    unique = list(dict.fromkeys(lic.expression for lic in licenses))
    if len(unique) == 1:
        return unique[0]
    return " AND ".join(f"({e})" if " " in e else e for e in unique)
