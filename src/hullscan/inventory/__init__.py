"""Inventory analyzers (one module per ecosystem) and the registry that lists them."""

from __future__ import annotations

from hullscan.analyzer import Analyzer

#: package types that come from the distribution's package manager
OS_PACKAGE_TYPES = frozenset({"deb", "apk", "rpm"})


def default_analyzers() -> list[Analyzer]:
    """Every inventory analyzer, in a stable order."""
    # imported here, not with the package: scans that list no packages (``--scanners
    # secret``) need none of them; and binaries depends on the checks catalogue, which
    # imports the model only
    from hullscan.binaries.classify import BinaryClassifierAnalyzer
    from hullscan.binaries.pe_version import PEVersionAnalyzer
    from hullscan.inventory.apk import ApkAnalyzer
    from hullscan.inventory.dotnet import DotnetDepsAnalyzer
    from hullscan.inventory.dpkg import DpkgAnalyzer
    from hullscan.inventory.dpkg_copyright import DpkgCopyrightAnalyzer
    from hullscan.inventory.golang import GoBinaryAnalyzer
    from hullscan.inventory.java import JavaArchiveAnalyzer
    from hullscan.inventory.node import NodePackageAnalyzer
    from hullscan.inventory.os_release import OSReleaseAnalyzer
    from hullscan.inventory.php import ComposerInstalledAnalyzer
    from hullscan.inventory.python import PythonDistAnalyzer
    from hullscan.inventory.rpm import RpmAnalyzer
    from hullscan.inventory.ruby import GemspecAnalyzer
    from hullscan.inventory.rust import CargoAuditableAnalyzer
    from hullscan.licenses.caches import CachedSourceLicenseAnalyzer

    return [
        OSReleaseAnalyzer(),
        DpkgAnalyzer(),
        DpkgCopyrightAnalyzer(),
        ApkAnalyzer(),
        RpmAnalyzer(),
        PythonDistAnalyzer(),
        NodePackageAnalyzer(),
        GoBinaryAnalyzer(),
        CargoAuditableAnalyzer(),
        JavaArchiveAnalyzer(),
        GemspecAnalyzer(),
        ComposerInstalledAnalyzer(),
        DotnetDepsAnalyzer(),
        BinaryClassifierAnalyzer(),
        PEVersionAnalyzer(),
        CachedSourceLicenseAnalyzer(),
    ]
