"""The one place jobs call the scanner: a reference in, the stored documents out.

Everything a worker keeps of a scan comes from here: the ``hullscan.report/v1``
document (plus the vulnerability database it used), the inventory to re-match later,
and the SBOMs asked for. Per-request registry credentials arrive in the
``RegistrySettings`` given, exactly as ``--username``/``--password-stdin`` do for the
CLI, and live no longer than this call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hullscan.errors import HullscanError, RegistryError
from hullscan.settings import Settings
from hullscan.sources.registry_settings import RegistrySettings

SPDX = "application/spdx+json"
CYCLONEDX = "application/vnd.cyclonedx+json"
SBOM_TYPES = (SPDX, CYCLONEDX)


@dataclass(frozen=True)
class ScanResult:
    digest: str
    #: the vulnerability database's build time (None: the vuln scanner did not run)
    db_version: str | None
    report: dict[str, Any]
    inventory: dict[str, Any]
    sboms: dict[str, Any] = field(default_factory=dict)


def db_version(db_path: Path) -> str | None:
    """The database's version: when it was built (a rebuild is a new version), or None
    when there is none yet."""
    from hullscan.vulndb import open_db

    if not db_path.is_file():
        return None
    with open_db(db_path) as db:
        return db.meta().built_at or None


def retryable(error: BaseException) -> bool:
    """Worth another try later: the registry or the network failed, not the image."""
    if isinstance(error, RegistryError):
        return error.transport or error.status == 429 or (error.status or 0) >= 500
    from hullscan.jobs.store import StoreError

    return isinstance(error, StoreError | ConnectionError | TimeoutError)


def scan_image(
    ref: str,
    scanners: tuple[str, ...],
    *,
    cache_dir: Path,
    db_path: Path,
    registry: RegistrySettings,
    sbom: bool = False,
    settings: Settings | None = None,
) -> ScanResult:
    """Scan one image with the library API (``hullscan.scan``; ``hullscan.sbom`` when
    only an SBOM is wanted)."""
    from hullscan.api import sbom as take_sbom
    from hullscan.api import scan
    from hullscan.report.json_report import image_dict

    version = db_version(db_path) if "vuln" in scanners else None
    if scanners:
        report = scan(
            ref, scanners, cache_dir=cache_dir, db=db_path, settings=settings, registry=registry
        )
    else:
        report = take_sbom(ref, cache_dir=cache_dir, settings=settings, registry=registry)
    inv = report.inventory
    if not inv.image.digest:
        raise HullscanError(f"{ref}: the image has no manifest digest")
    doc = report.to_dict()
    if version is not None:
        doc["database"] = {"version": version}
    sboms: dict[str, Any] = {}
    if sbom:
        from hullscan.report.cyclonedx import render_cyclonedx
        from hullscan.report.spdx import render_spdx

        sboms = {SPDX: json.loads(render_spdx(inv)), CYCLONEDX: json.loads(render_cyclonedx(inv))}
    inventory = {
        "image": image_dict(inv.image, inv.os),
        "packages": [p.to_dict() for p in inv.packages],
    }
    return ScanResult(inv.image.digest, version, doc, inventory, sboms)
