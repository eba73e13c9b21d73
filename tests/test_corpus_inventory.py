"""The inventory of every corpus image equals its truth.json, in both layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
from packageurl import PackageURL

from hullscan.model import Inventory
from hullscan.pipeline import ScanOptions, inventory

from conftest import corpus_image, truth

pytestmark = pytest.mark.corpus

IMAGES = [
    "debian-bookworm",
    "debian-bullseye",
    "app-python",
    "app-node",
    "secrets-and-misconfig",
    "binaries",
    "multi-layer-big",
]
FORMS = ["docker-archive", "oci"]

_cache: dict[tuple[str, str], Inventory] = {}


def scan(image: str, form: str, tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    key = (image, form)
    if key not in _cache:
        d = corpus_image(image)
        ref = (
            f"docker-archive:{d / 'docker-archive.tar'}"
            if form == "docker-archive"
            else f"oci:{d / 'oci'}"
        )
        cache = tmp_path_factory.getbasetemp() / f"cache-{form}"
        _cache[key] = inventory(ref, ScanOptions(cache_dir=cache))
    return _cache[key]


def layer_index(inv: Inventory, diff_id: str | None) -> int:
    return next(layer.index for layer in inv.image.layers if layer.diff_id == diff_id)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("image", IMAGES)
def test_dpkg_packages_equal_truth(
    image: str, form: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    t = truth(image)
    inv = scan(image, form, tmp_path_factory)
    got = {
        (
            p.name,
            p.version,
            p.source_name,
            p.source_version,
            p.arch,
            layer_index(inv, p.locations[0].layer),
        )
        for p in inv.packages
        if p.type == "deb"
    }
    want = {
        (p["name"], p["version"], p["source_name"], p["source_version"], p["arch"], p["layer"])
        for p in t["os_packages"]
    }
    assert got == want
    assert inv.os is not None
    assert (inv.os.id, inv.os.version_id, inv.os.codename, inv.os.release) == (
        t["os"]["id"],
        t["os"]["version_id"],
        t["os"]["codename"],
        t["os"]["debian_version"],
    )
    assert not inv.warnings


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("image", IMAGES)
def test_language_packages_equal_truth(
    image: str, form: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    t = truth(image)
    inv = scan(image, form, tmp_path_factory)
    py = {
        (
            "/" + p.locations[0].path.rsplit("/", 1)[0],
            p.name,
            p.version,
            layer_index(inv, p.locations[0].layer),
        )
        for p in inv.packages
        if p.type == "pypi"
    }
    # truth lists the usual prefixes only (usr/lib, usr/local/lib, app, opt)
    py = {x for x in py if x[0].startswith(("/usr/lib", "/usr/local/lib", "/app", "/opt"))}
    assert py == {(p["path"], p["name"], p["version"], p["layer"]) for p in t["python_packages"]}
    npm = {
        (
            "/" + p.locations[0].path,
            p.name,
            p.version,
            layer_index(inv, p.locations[0].layer),
            "dpkg" if p.owner else "npm",
        )
        for p in inv.packages
        if p.type == "npm"
    }
    assert npm == {
        (p["path"], p["name"], p["version"], p["layer"], p["installed_by"])
        for p in t["npm_packages"]
    }


@pytest.mark.parametrize("form", FORMS)
def test_go_binaries_equal_truth(form: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    t = truth("binaries")
    inv = scan("binaries", form, tmp_path_factory)
    for b in (b for b in t["binaries"] if b["kind"] == "go"):
        path = b["path"].lstrip("/")
        here = {
            (p.name, p.version)
            for p in inv.packages
            if p.type == "golang" and p.locations[0].path == path
        }
        want = {("stdlib", b["go_version"].removeprefix("go")), (b["main_module"], "(devel)")}
        want |= {(d["path"], d["version"]) for d in b["deps"]}
        assert here == want
    # busybox and the C helper are not Go: no golang package claims them
    assert not [
        p
        for p in inv.packages
        if p.type == "golang"
        and p.locations[0].path in ("usr/local/bin/busybox", "usr/local/bin/suid-helper")
    ]


def test_purls_carry_the_distribution(tmp_path_factory: pytest.TempPathFactory) -> None:
    inv = scan("app-python", "oci", tmp_path_factory)
    libc = next(p for p in inv.packages if p.name == "libc6")
    purl = PackageURL.from_string(libc.purl)
    assert (purl.type, purl.namespace, purl.name, purl.version) == (
        "deb",
        "debian",
        "libc6",
        libc.version,
    )
    assert purl.qualifiers == {"arch": "amd64", "distro": "debian-12"}
    django = next(p for p in inv.packages if p.name == "Django")
    assert django.purl == "pkg:pypi/django@3.2"


def test_cached_rescan_gives_the_same_inventory(tmp_path: Path) -> None:
    ref = f"oci:{corpus_image('app-node') / 'oci'}"
    options = ScanOptions(cache_dir=tmp_path / "cache")
    cold = inventory(ref, options)
    calls: list[int] = []
    warm = inventory(ref, options, progress=lambda i, n, cached: calls.append(cached))
    assert warm.packages == cold.packages
    assert calls and all(calls)


def test_archive_and_layout_agree(tmp_path_factory: pytest.TempPathFactory) -> None:
    for image in ("app-node", "secrets-and-misconfig"):
        a = scan(image, "docker-archive", tmp_path_factory)
        b = scan(image, "oci", tmp_path_factory)
        assert [p.purl for p in a.packages] == [p.purl for p in b.packages]
        assert a.image.config_digest == b.image.config_digest
        assert b.image.digest is not None
