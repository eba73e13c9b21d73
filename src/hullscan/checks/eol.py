"""End of life of distribution releases, from the dated table in ``eol.yaml``.

The table is data, not code: it says when it was written and from which sources, so
a finding can cite both, and a stale table is visible in the report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from hullscan.model import OSInfo
from hullscan.yamltext import parse_yaml


@dataclass(frozen=True)
class Release:
    """One release's support dates (see eol.yaml for what each date means)."""

    distro: str
    version: str
    eol: dt.date
    name: str = ""
    regular: dt.date | None = None
    extended: dt.date | None = None


@dataclass(frozen=True)
class EolTable:
    written: dt.date
    source: str
    releases: dict[tuple[str, str], Release]


def iso_date(value: Any, where: str) -> dt.date:
    """A date from a packaged YAML table (YAML may already have parsed it)."""
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not an ISO date") from None


@cache
def eol_table() -> EolTable:
    """The built-in table, parsed once per process."""
    text = resources.files("hullscan.checks").joinpath("eol.yaml").read_text("utf-8")
    doc = parse_yaml(text)
    releases: dict[tuple[str, str], Release] = {}
    for distro, versions in doc["distributions"].items():
        for version, d in versions.items():
            where = f"eol.yaml {distro} {version}"
            releases[(distro, str(version))] = Release(
                distro=distro,
                version=str(version),
                eol=iso_date(d["eol"], where),
                name=str(d.get("name", "")),
                regular=iso_date(d["regular"], where) if d.get("regular") else None,
                extended=iso_date(d["extended"], where) if d.get("extended") else None,
            )
    return EolTable(
        iso_date(doc["written"], "eol.yaml written"), " ".join(str(doc["source"]).split()), releases
    )


def _key(os_info: OSInfo) -> tuple[str, str] | None:
    """(table distribution, version) for an os-release; None when the release has no
    number (Debian testing/sid, Alpine edge, rolling distributions)."""
    distro = os_info.id.lower()
    version = os_info.version_id.strip()
    if not version:
        return None
    parts = version.split(".")
    if distro == "alpine":
        return (distro, ".".join(parts[:2])) if len(parts) >= 2 else None
    if distro == "ubuntu":
        return distro, ".".join(parts[:2])
    if distro == "centos" and "stream" in f"{os_info.name} {os_info.pretty_name}".lower():
        distro = "centos-stream"
    return distro, parts[0]


def release_for(os_info: OSInfo | None) -> Release | None:
    """The table entry for this distribution release, if the table knows it."""
    if os_info is None:
        return None
    key = _key(os_info)
    return eol_table().releases.get(key) if key else None


def eol_for(os_info: OSInfo | None) -> tuple[dt.date, str] | None:
    """(end-of-life date, a one-line note naming the table's sources) or None when the
    release is not in the table."""
    rel = release_for(os_info)
    if rel is None:
        return None
    table = eol_table()
    bits = []
    if rel.regular:
        bits.append(f"regular support until {rel.regular.isoformat()}")
    if rel.extended:
        bits.append(f"paid extended support until {rel.extended.isoformat()}")
    extra = f" ({'; '.join(bits)})" if bits else ""
    note = (
        f"{rel.distro} {rel.version}{' ' + rel.name if rel.name else ''}: free security "
        f"updates until {rel.eol.isoformat()}{extra}; table of "
        f"{table.written.isoformat()}"
    )
    return rel.eol, note
