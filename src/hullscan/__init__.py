"""hullscan: offline container-image security scanning.

The public API (see the README's "Python API")::

    import hullscan
    report = hullscan.scan("docker-archive:app.tar", scanners=["vuln", "secret"])
    report.to_dict()["schema"]          # "hullscan.report/v1"
    hullscan.sbom("oci:./layout").inventory.packages
    hullscan.verify("registry:ghcr.io/org/app:1", keys=["cosign.pub"]).verified

Errors are ``hullscan.HullscanError`` and its subclasses. The API is imported lazily,
so ``import hullscan`` stays cheap for the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hullscan.errors import (
    ConfigError,
    DatabaseError,
    DigestMismatch,
    HullscanError,
    ImageError,
    KeyFileError,
    RegistryError,
)

__version__ = "0.2.0"

if TYPE_CHECKING:
    from hullscan.api import VerifyReport, sbom, scan, verify
    from hullscan.model import Finding, FindingKind, Inventory, Package, ScanReport, Severity
    from hullscan.policy import Policy
    from hullscan.settings import Settings

_LAZY = {
    "scan": "hullscan.api",
    "sbom": "hullscan.api",
    "verify": "hullscan.api",
    "VerifyReport": "hullscan.api",
    "Settings": "hullscan.settings",
    "Policy": "hullscan.policy",
    "ScanReport": "hullscan.model",
    "Finding": "hullscan.model",
    "FindingKind": "hullscan.model",
    "Inventory": "hullscan.model",
    "Package": "hullscan.model",
    "Severity": "hullscan.model",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hullscan' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "ConfigError",
    "DatabaseError",
    "DigestMismatch",
    "Finding",
    "FindingKind",
    "HullscanError",
    "ImageError",
    "Inventory",
    "KeyFileError",
    "Package",
    "Policy",
    "RegistryError",
    "ScanReport",
    "Settings",
    "Severity",
    "VerifyReport",
    "__version__",
    "sbom",
    "scan",
    "verify",
]
