"""One scan job: scan an image by digest with the library API and return its
``hullscan.report/v1`` document; and the version of the database it was matched with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hullscan.scanners import DEFAULT_SCANNERS
from hullscan.settings import Settings
from hullscan.sources.registry_settings import RegistrySettings


@dataclass(frozen=True)
class JobSettings:
    scanners: tuple[str, ...] = DEFAULT_SCANNERS
    db_path: Path | None = None
    cache_dir: Path | None = None
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    settings: Settings = field(default_factory=Settings)


def db_version(db_path: Path | None, cache_dir: Path | None = None) -> str:
    """The database's version: when its data was built (``db update`` finding nothing new
    keeps it). A missing database is the usual clear error."""
    from hullscan.cache import database_path
    from hullscan.vulndb import open_db

    with open_db(db_path or database_path(cache_dir)) as db:
        return db.meta().built_at


def scan_report(image: str, job: JobSettings) -> dict[str, Any]:
    """Scan ``image`` (a registry reference) and return the JSON report."""
    from hullscan.api import scan

    report = scan(image, job.scanners, cache_dir=job.cache_dir, db=job.db_path,
                  settings=job.settings, registry=job.registry)
    return report.to_dict()


__all__ = ["JobSettings", "db_version", "scan_report"]
