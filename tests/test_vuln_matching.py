"""Vulnerability matching on the corpus images with the real advisory data.

Precision is checked against dpkg itself: every Debian finding's installed
source version must really sort below the fixed version, and every Debian 12
advisory whose range contains an installed source package must be found.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from hullscan.model import Finding, Inventory
from hullscan.pipeline import ScanOptions, inventory
from hullscan.vuln.matcher import match_inventory
from hullscan.vulndb import open_db

from conftest import VULNDATA, corpus_image

pytestmark = pytest.mark.corpus

_inventories: dict[str, Inventory] = {}


def scan(
    image: str, db: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Inventory, list[Finding], list[Finding]]:
    if image not in _inventories:
        cache = tmp_path_factory.getbasetemp() / "match-cache"
        _inventories[image] = inventory(
            f"oci:{corpus_image(image) / 'oci'}", ScanOptions(cache_dir=cache)
        )
    inv = _inventories[image]
    with open_db(db) as vdb:
        result = match_inventory(inv, vdb)
    return inv, result.findings, result.not_affected


def dpkg_lt(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], bool]:
    """Ask dpkg itself, in one shell, whether a < b for every pair."""
    ordered = sorted(pairs)
    script = 'while read -r a b; do dpkg --compare-versions "$a" lt "$b" && echo 1 || echo 0; done'
    out = subprocess.run(
        ["sh", "-c", script],
        input="".join(f"{a} {b}\n" for a, b in ordered),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {p: r == "1" for p, r in zip(ordered, out, strict=True)}


def debian12_fixes() -> dict[str, list[tuple[str, str]]]:
    """source package -> [(CVE, fixed version)], read straight from the export."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with zipfile.ZipFile(VULNDATA / "Debian-12" / "all.zip") as z:
        for name in z.namelist():
            record = json.loads(z.read(name))
            cve = next(a for a in record["aliases"] if a.startswith("CVE-"))
            for aff in record["affected"]:
                if aff["package"]["ecosystem"] != "Debian:12":
                    continue
                for r in aff["ranges"]:
                    for e in r["events"]:
                        if "fixed" in e:
                            out[aff["package"]["name"]].append((cve, e["fixed"]))
    return out


@pytest.mark.parametrize("image", ["debian-bookworm", "app-python", "app-node"])
def test_debian_findings_are_exactly_what_dpkg_says(
    image: str, full_vulndb: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    inv, findings, _ = scan(image, full_vulndb, tmp_path_factory)
    fixes = debian12_fixes()
    debs = [p for p in inv.packages if p.type == "deb"]
    pairs = {(p.source_version, fixed) for p in debs for _, fixed in fixes.get(p.source_name, ())}
    lt = dpkg_lt(pairs)
    expected = {
        (p.name, cve)
        for p in debs
        for cve, fixed in fixes.get(p.source_name, ())
        if lt[(p.source_version, fixed)]
    }
    got = {(f.package.name, f.id) for f in findings if f.package and f.package.type == "deb"}
    assert got == expected
    for f in findings:
        if f.package and f.package.type == "deb":
            assert f.details["ecosystem"] == "Debian:12"  # never Debian 11's data
            assert f.fixed_version and lt[(f.package.source_version, f.fixed_version)]


def test_bookworm_point_release_packages_with_security_fixes(
    full_vulndb: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Packages the security suite has newer versions of are the ones with findings."""
    truth = json.loads((corpus_image("debian-bookworm") / "truth.json").read_text())
    newer = {p["name"] for p in truth["os_packages"] if p.get("newer_in_security_suite")}
    _, findings, _ = scan("debian-bookworm", full_vulndb, tmp_path_factory)
    flagged = {f.package.name for f in findings if f.package}
    assert flagged, "bookworm main suite lags its security suite"
    assert flagged <= newer


def test_django_3_2_and_old_python_packages(
    full_vulndb: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _, findings, _ = scan("app-python", full_vulndb, tmp_path_factory)
    by_pkg: dict[str, dict[str, Finding]] = defaultdict(dict)
    for f in findings:
        assert f.package is not None
        by_pkg[f.package.name][f.id] = f
    django = by_pkg["Django"]
    f = django["CVE-2021-33203"]
    assert f.fixed_version == "3.2.4" and f.installed_version == "3.2"
    assert "PYSEC-2021-98" in f.aliases
    # fixed before 3.2: not reported
    assert "CVE-2021-3281" not in django  # fixed in 3.1.6 / 3.0.12 / 2.2.18
    assert {"CVE-2019-11236", "CVE-2019-11324"} <= set(by_pkg["urllib3"])
    assert "CVE-2020-14343" in by_pkg["PyYAML"]
    # pip and setuptools in the venv are matched as PyPI packages too
    assert all(f.package.type in ("deb", "pypi") for f in findings if f.package)


def test_node_packages_owned_by_debian_are_not_matched_twice(
    full_vulndb: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    inv, findings, _ = scan("app-node", full_vulndb, tmp_path_factory)
    assert any(p.owner for p in inv.packages if p.type == "npm")
    assert not [f for f in findings if f.package and f.package.owner]
    lodash = [f for f in findings if f.package and f.package.name == "lodash"]
    # lodash 4.17.15: the Node.js WG data has one advisory still open at that version
    assert [(f.id, f.fixed_version) for f in lodash] == [("NSWG-ECO-516", "4.17.19")]


def test_go_stdlib_from_binaries(
    full_vulndb: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _, findings, _ = scan("binaries", full_vulndb, tmp_path_factory)
    go = [f for f in findings if f.package and f.package.type == "golang"]
    stdlib = {f.id for f in go if f.package and f.package.name == "stdlib"}
    assert stdlib, "go1.19.8's standard library has later fixes in the Go database"
    net = {f.id for f in go if f.package and f.package.name == "golang.org/x/net"}
    assert net, "golang.org/x/net v0.7.0 has later fixes"
    for f in go:
        assert f.fixed_version
