"""RPM packages: rpm's installed-package database (Berkeley DB, ndb or sqlite)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import IO, Any

from hullscan import tempfiles
from hullscan.analyzer import Analyzer, AnalyzerInputError, AnalyzerResult, MiB
from hullscan.inventory.purl import make_purl
from hullscan.inventory.rpmdb import (
    RpmDbError,
    RpmHeader,
    iter_header_blobs_bdb,
    iter_header_blobs_ndb,
    iter_header_blobs_sqlite,
    parse_header,
)
from hullscan.licenses import declared
from hullscan.model import FileInfo, Package
from hullscan.paths import listed_path

# rpm picks the backend from the file name; so do we (each reader checks its magic).
# usr/lib/sysimage/rpm is where Fedora 36+ and openSUSE keep it (var/lib/rpm then
# usually is a symlink to it).
_DIRS = ("var/lib/rpm/", "usr/lib/sysimage/rpm/")
_FORMATS = {"Packages": "bdb", "Packages.db": "ndb", "rpmdb.sqlite": "sqlite"}
DATABASES = {d + name: fmt for d in _DIRS for name, fmt in _FORMATS.items()}

# the pseudo packages that hold the public keys `rpm --import` trusts
_PUBKEY = "gpg-pubkey"
# name-version-release.src.rpm (or .nosrc.rpm); version and release contain no "-"
_SOURCE_RPM = re.compile(r"(?P<name>.+)-(?P<version>[^-]+)-(?P<release>[^-]+)\.(?:no)?src\.rpm")
# the purl namespace is the distribution, which one database file does not name:
# guess it from the vendor string (first match wins, so openSUSE comes before SUSE)
_VENDOR_NAMESPACES = (
    ("red hat", "redhat"),
    ("centos", "centos"),
    ("fedora", "fedora"),
    ("opensuse", "opensuse"),
    ("suse", "suse"),
    ("amazon", "amazon"),
    ("rocky", "rocky"),
    ("almalinux", "almalinux"),
    ("oracle", "oracle"),
)


def purl_namespace(vendor: str) -> str:
    """The purl namespace guessed from a package's vendor, "rpm" when unknown."""
    v = vendor.lower()
    for needle, namespace in _VENDOR_NAMESPACES:
        if needle in v:
            return namespace
    return "rpm"


def split_source_rpm(source_rpm: str) -> tuple[str, str] | None:
    """``openssl-3.0.7-27.el9.src.rpm`` → ``("openssl", "3.0.7-27.el9")``, else None."""
    m = _SOURCE_RPM.fullmatch(source_rpm)
    if not m:
        return None
    return m["name"], f"{m['version']}-{m['release']}"


def package_from_header(h: RpmHeader, found_by: str = "rpm", path: str = "") -> Package:
    epoch = "" if h.epoch is None else f"{h.epoch}:"
    source_name, source_version = h.name, h.evr
    if split := split_source_rpm(h.source_rpm):
        # the source package's epoch is not recorded: like Trivy, assume the binary's
        source_name, source_version = split[0], epoch + split[1]
    metadata: dict[str, Any] = {}
    if h.epoch is not None:
        metadata["epoch"] = h.epoch
    for key, value in (
        ("release", h.release),
        ("vendor", h.vendor),
        ("modularitylabel", h.modularity_label),
    ):
        if value:
            metadata[key] = value
    purl_version = f"{h.version}-{h.release}" if h.release else h.version
    return Package(
        name=h.name,
        version=h.evr,
        type="rpm",
        purl=make_purl(
            "rpm",
            h.name,
            purl_version,
            purl_namespace(h.vendor),
            {"arch": h.arch, "epoch": "" if h.epoch is None else str(h.epoch)},
        ),
        source_name=source_name,
        source_version=source_version,
        arch=h.arch,
        licenses=(declared(h.license, "rpm:License", path),) if h.license.strip() else (),
        found_by=found_by,
        metadata=metadata,
    )


class RpmAnalyzer(Analyzer):
    name = "rpm"
    version = 2
    # a large RHEL/CentOS Berkeley DB runs to a few hundred MiB; it is spooled, not held
    max_size = 512 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        return path in DATABASES and info.is_regular

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        fmt = DATABASES.get(path) or _FORMATS.get(path.rsplit("/", 1)[-1], "bdb")
        try:
            if fmt == "sqlite":
                with tempfiles.spool_to_path(stream, info.size, suffix=".sqlite") as p:
                    with open(p, "rb") as probe:
                        if not probe.read(1):
                            return None
                    return self._result(iter_header_blobs_sqlite(p), path)
            with tempfiles.spool(stream, info.size) as f:
                if not f.read(1):
                    return None  # an empty placeholder file: no database
                f.seek(0)
                blobs = iter_header_blobs_ndb(f) if fmt == "ndb" else iter_header_blobs_bdb(f)
                return self._result(blobs, path)
        except RpmDbError as e:
            raise AnalyzerInputError(f"malformed rpm database: {e}") from None

    def _result(self, blobs: Iterable[bytes], path: str) -> AnalyzerResult:
        result = AnalyzerResult()
        owned: dict[str, dict[str, None]] = {}
        total = 0
        bad: list[str] = []
        for blob in blobs:
            total += 1
            try:
                h = parse_header(blob)
            except RpmDbError as e:
                # one damaged header should not hide every other package
                bad.append(str(e))
                continue
            if h.name == _PUBKEY:
                continue
            result.packages.append(package_from_header(h, self.name, path))
            files = owned.setdefault(h.name, {})
            for f in h.files:
                if p := listed_path(f):
                    files[p] = None
        if bad:
            if len(bad) == total:
                raise AnalyzerInputError(f"malformed rpm database: no readable header ({bad[0]})")
            result.warnings.append(f"skipped {len(bad)} malformed rpm header(s): {bad[0]}")
        result.owned_files = {name: list(paths) for name, paths in owned.items() if paths}
        return result
