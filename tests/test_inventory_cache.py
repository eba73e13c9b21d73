"""A rescan that needs only the inventory (``sbom``, ``scan --scanners vuln``) takes it from
the cache whole: the same packages and findings, no layer analysis decoded, no file merged.
A changed analyzer, a damaged entry or a scanner that reads files all go the long way."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import hullscan
from hullscan.cache import CachedInventory, LayerCache
from hullscan.cli import main
from hullscan.inventory.dpkg import DpkgAnalyzer
from hullscan.model import License, Location, OSInfo, Package
from hullscan.pipeline import ScanOptions, analyze_image


@pytest.fixture
def ref(demo: tuple[Path, Path]) -> str:
    return f"docker-archive:{demo[0]}"


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The layer analyses taken from the cache (and decoded) from now on."""
    seen: list[str] = []
    get = LayerCache.get

    def counting(self: LayerCache, key: str) -> Any:
        seen.append(key)
        return get(self, key)

    monkeypatch.setattr(LayerCache, "get", counting)
    return seen


def sbom(ref: str, cache: Path) -> dict[str, Any]:
    return hullscan.sbom(ref, cache_dir=cache).to_dict()


def test_an_sbom_rescan_takes_the_inventory_whole(
    ref: str, tmp_path: Path, decodes: list[str]
) -> None:
    cold = sbom(ref, tmp_path)
    assert decodes and len(cold["packages"]) > 5
    decodes.clear()
    assert sbom(ref, tmp_path) == cold
    assert decodes == []  # no layer analysis read: the inventory came whole
    # --no-cache reads the layers and gives the same
    assert hullscan.sbom(ref, cache_dir=tmp_path, use_cache=False).to_dict() == cold


def test_a_vuln_scan_rescan_takes_it_too_and_finds_the_same(
    ref: str, demo: tuple[Path, Path], tmp_path: Path, decodes: list[str]
) -> None:
    db = demo[1]
    first = hullscan.scan(ref, scanners=["vuln"], db=db, cache_dir=tmp_path).to_dict()
    assert first["findings"]
    decodes.clear()
    again = hullscan.scan(ref, scanners=["vuln"], db=db, cache_dir=tmp_path).to_dict()
    assert decodes == []
    assert again["findings"] == first["findings"] and again["packages"] == first["packages"]
    # a scanner that reads files still gets them: the layers are decoded
    both = hullscan.scan(ref, scanners=["vuln", "secret"], db=db, cache_dir=tmp_path)
    assert decodes and both.scanners == ("vuln", "secret")
    assert [f.to_dict() for f in both.findings if f.kind == "vulnerability"] == first["findings"]


def test_a_new_analyzer_version_is_a_miss(
    ref: str, tmp_path: Path, decodes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = sbom(ref, tmp_path)
    monkeypatch.setattr(DpkgAnalyzer, "version", DpkgAnalyzer.version + 1)
    decodes.clear()
    assert sbom(ref, tmp_path) == cold
    assert decodes  # other keys: the layers were looked up (and dpkg's read again)


def test_a_damaged_inventory_is_a_miss_and_cache_verify_drops_it(
    ref: str, tmp_path: Path, decodes: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    cold = sbom(ref, tmp_path)
    db = sqlite3.connect(tmp_path / "layers.sqlite")
    with db:
        (key,) = db.execute("SELECT key FROM inventory").fetchone()
        db.execute("UPDATE inventory SET data = ? WHERE key = ?", (b"\x78\x9cgarbage", key))
    db.close()
    decodes.clear()
    assert sbom(ref, tmp_path) == cold  # computed from the layer analyses, and stored again
    assert decodes
    db = sqlite3.connect(tmp_path / "layers.sqlite")
    with db:
        db.execute("UPDATE inventory SET data = ? WHERE key = ?", (b"not zlib", key))
    db.close()
    capsys.readouterr()
    assert main(["cache", "verify", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "1 inventories" in out.out + out.err and "1 damaged entries dropped" in out.out + out.err
    assert sbom(ref, tmp_path) == cold


def test_an_inventory_only_analysis_keeps_no_files(ref: str, tmp_path: Path) -> None:
    full = analyze_image(ref, ScanOptions(cache_dir=tmp_path))
    assert full.analyses and full.fs.final
    analyzed = analyze_image(ref, ScanOptions(cache_dir=tmp_path), files=False)
    assert analyzed.inventory.packages == full.inventory.packages
    with pytest.raises(RuntimeError, match="files=False"):
        _ = analyzed.fs
    with pytest.raises(RuntimeError, match="files=False"):
        _ = analyzed.analyses


def test_cached_inventory_round_trips() -> None:
    inv = CachedInventory(
        OSInfo("debian", "12", name="Debian GNU/Linux", codename="bookworm"),
        (
            Package(
                "zlib1g",
                "1:1.2.13.dfsg-1",
                "deb",
                "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1",
                source_name="zlib",
                arch="amd64",
                licenses=(License("Zlib", "Zlib", "dpkg-copyright", "usr/share/doc/x"),),
                locations=(Location("var/lib/dpkg/status", "sha256:" + "a" * 64),),
                found_by="dpkg",
                metadata={"maintainer": "Mark Brown \udcff"},
            ),
        ),
        ("var/lib/dpkg/status: a warning",),
    )
    assert CachedInventory.decode(inv.encode()) == inv
    assert CachedInventory.decode(CachedInventory(None, (), ()).encode()) == CachedInventory(
        None, (), ()
    )
