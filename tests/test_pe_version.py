"""Windows binaries as components, from their VERSIONINFO resource."""

from __future__ import annotations

import io
from pathlib import Path

import pip
import pytest

from hullscan.binaries.pe_version import PEVersionAnalyzer
from hullscan.model import FileInfo, FileType
from hullscan.pipeline import ScanOptions, inventory

import imagebuilder as ib

# a real PE with a version resource: distlib's launcher, which pip vendors
LAUNCHER = Path(pip.__file__).parent / "_vendor" / "distlib" / "t64.exe"


def analyze(path: str, data: bytes):  # type: ignore[no-untyped-def]
    a = PEVersionAnalyzer()
    info = FileInfo(path, FileType.REG, len(data), 0o644)
    return a.analyze(path, info, io.BytesIO(data)) if a.required(path, info) else "skipped"


@pytest.mark.skipif(not LAUNCHER.exists(), reason="pip's vendored distlib launcher not found")
def test_real_pe_in_an_image(tmp_path: Path) -> None:
    data = LAUNCHER.read_bytes()
    [pkg] = analyze("opt/tools/launcher.exe", data).packages
    assert (pkg.name, pkg.version, pkg.type) == ("Simple Launcher", "1.1.0.14", "generic")
    assert pkg.metadata["company"] == "Simple Launcher User"
    img = ib.build(
        [
            [
                ib.file("opt/tools/launcher.exe", data),
                ib.file("opt/tools/notes.dll", "just text, not a library\n"),
                ib.file("opt/tools/elf.exe", Path("/bin/true").read_bytes()),
            ]
        ]
    )
    archive = ib.write_docker_archive([(img, ["win:1"])], tmp_path / "w.tar")
    inv = inventory(str(archive), ScanOptions(cache_dir=tmp_path / "c"))
    assert [(p.name, p.locations[0].path) for p in inv.packages if p.found_by == "pe-version"] == [
        ("Simple Launcher", "opt/tools/launcher.exe")
    ]


def test_look_alikes() -> None:
    assert analyze("x/app.dll", b"MZ" + b"\0" * 200) is None  # an MZ stub without PE header
    assert analyze("x/readme.txt", b"MZ...") == "skipped"  # not named like a binary
    assert analyze("x/true.exe", Path("/bin/true").read_bytes()) is None  # an ELF
