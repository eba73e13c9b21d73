"""The local advisory database: OSV records imported into SQLite, read by scans.

- ``osv``: parse and validate one OSV record.
- ``names``: the package-name key shared by import and lookup.
- ``store``: ``VulnDB``, the read-only view a scan uses.
- ``build``: ``import_paths`` — build a new database and swap it in atomically.
- ``update``: ``update`` — fetch OSV exports (the only network access; imported
  from ``hullscan.vulndb.update`` so that scans never load an HTTP client).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hullscan.cache import database_path
from hullscan.errors import DatabaseError
from hullscan.vulndb.build import ImportStats, import_paths
from hullscan.vulndb.names import base_ecosystem, normalize_name
from hullscan.vulndb.osv import (
    Advisory,
    Affected,
    Event,
    MalformedAdvisory,
    Range,
    parse_advisory,
    parse_timestamp,
)
from hullscan.vulndb.store import AffectedAdvisory, DBMeta, SourceInfo, VulnDB

__all__ = [
    "Advisory",
    "Affected",
    "AffectedAdvisory",
    "DBMeta",
    "DatabaseError",
    "Event",
    "ImportStats",
    "MalformedAdvisory",
    "Range",
    "SourceInfo",
    "VulnDB",
    "age_warning",
    "base_ecosystem",
    "import_paths",
    "normalize_name",
    "open_db",
    "parse_advisory",
]


def open_db(path: Path | str | None = None) -> VulnDB:
    """Open the database for reading; a missing one is a ``DatabaseError`` that says how
    to get one."""
    p = Path(path) if path is not None else database_path()
    if not p.is_file():
        raise DatabaseError(
            f"no vulnerability database at {p}: download one with "
            "`hullscan db update`, or build one from local OSV data with "
            "`hullscan db import PATH` (a directory of OSV JSON files, "
            "or OSV all.zip exports)"
        )
    return VulnDB(p)


def age_warning(db: VulnDB, max_age_days: float = 7, *, now: datetime | None = None) -> str | None:
    """A warning if the data was neither built nor confirmed current by ``db update``
    within ``max_age_days``; None if it is fresh enough."""
    meta = db.meta()
    stamps = []
    for s in (meta.built_at, meta.checked_at):
        if s:
            try:
                stamps.append(parse_timestamp(s))
            except ValueError:
                continue
    if not stamps:
        return f"the vulnerability database {db.path} does not say when it was built"
    newest = max(stamps)
    age = (now or datetime.now(UTC)) - newest
    days = age.total_seconds() / 86400
    if days <= max_age_days:
        return None
    return (
        f"the vulnerability database is {int(days)} days old (last built or checked "
        f"{newest.date().isoformat()}); run `hullscan db update`"
    )
