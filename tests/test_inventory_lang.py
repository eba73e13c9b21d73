"""Python, npm and Go packages, from files as their installers write them."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullscan import tempfiles
from hullscan.analyzer import AnalyzerInputError
from hullscan.inventory.golang import GoBinaryAnalyzer, packages_from_buildinfo
from hullscan.inventory.node import NodePackageAnalyzer, is_installed_package_json
from hullscan.inventory.python import PythonDistAnalyzer
from hullscan.model import FileInfo, FileType


def analyze(
    analyzer,
    path: str,
    data: bytes,
    mode: int = 0o644,  # type: ignore[no-untyped-def]
    spooled: bool = False,
):
    """The analyzer's result for ``data``, streamed, or (``spooled``) as a copy several
    analyzers share, which it may search in place."""
    info = FileInfo(path, FileType.REG, len(data), mode)
    assert analyzer.required(path, info), path
    if spooled:
        with tempfiles.spool(io.BytesIO(data), len(data)) as f:
            return analyzer.analyze(path, info, f)
    return analyzer.analyze(path, info, io.BytesIO(data))


@pytest.fixture(params=["streamed", "in memory", "on disk"])
def spooled(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[bool]:
    """How an executable reaches the Go analyzer: streamed, or a shared spooled copy."""
    if request.param == "on disk":
        monkeypatch.setattr(tempfiles, "SPOOL_IN_MEMORY", 0)
        tempfiles.set_tempdir(str(tmp_path))
    yield request.param != "streamed"
    tempfiles.set_tempdir(None)


METADATA = b"""Metadata-Version: 2.1
Name: Django
Version: 3.2
Summary: A high-level Python Web framework
License: BSD-3-Clause
Classifier: License :: OSI Approved :: BSD License

Django is a high-level Python web framework...
Name: not-a-header
"""


def test_dist_info_reads_headers_only() -> None:
    [pkg] = analyze(
        PythonDistAnalyzer(),
        "app/venv/lib/python3.11/site-packages/Django-3.2.dist-info/METADATA",
        METADATA,
    ).packages
    assert (pkg.name, pkg.version, pkg.purl) == ("Django", "3.2", "pkg:pypi/django@3.2")
    assert [(x.expression, x.source) for x in pkg.licenses] == [("BSD-3-Clause", "python:License")]


def test_egg_info_file_and_egg_archive() -> None:
    a = PythonDistAnalyzer()
    [pkg] = analyze(
        a,
        "usr/lib/python3/dist-packages/Foo_Bar-1.0.egg-info",
        b"Metadata-Version: 1.1\nName: Foo_Bar\nVersion: 1.0\n",
    ).packages
    assert pkg.purl == "pkg:pypi/foo-bar@1.0"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("EGG-INFO/PKG-INFO", "Metadata-Version: 1.1\nName: eggy\nVersion: 0.3\n")
    [egg] = analyze(a, "opt/lib/eggy-0.3-py3.11.egg", buf.getvalue()).packages
    assert (egg.name, egg.version) == ("eggy", "0.3")
    with pytest.raises(AnalyzerInputError):
        analyze(a, "opt/lib/broken.egg", b"PK\x03\x04 not really a zip")
    with pytest.raises(AnalyzerInputError):
        analyze(a, "x/y.dist-info/METADATA", b"Metadata-Version: 2.1\nSummary: no name\n")


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("app/node_modules/lodash/package.json", True),
        ("app/node_modules/@types/node/package.json", True),
        ("app/node_modules/raw-body/node_modules/depd/package.json", True),
        ("usr/share/nodejs/acorn/package.json", True),
        ("usr/share/nodejs/@types/node/package.json", True),
        ("app/package.json", False),
        ("app/node_modules/lodash/fp/package.json", False),
        ("srv/nodejs/x/package.json", False),
    ],
)
def test_which_package_json_files_are_installed_packages(path: str, wanted: bool) -> None:
    assert is_installed_package_json(path) is wanted


def test_npm_scoped_package_and_non_packages() -> None:
    a = NodePackageAnalyzer()
    [pkg] = analyze(
        a,
        "app/node_modules/@babel/core/package.json",
        b'{"name": "@babel/core", "version": "7.22.0", "license": "MIT"}',
    ).packages
    assert pkg.purl == "pkg:npm/%40babel/core@7.22.0"
    assert tuple(x.value for x in pkg.licenses) == ("MIT",)
    assert analyze(a, "app/node_modules/x/package.json", b'{"type": "module"}') is None
    assert analyze(a, "app/node_modules/x/package.json", b'{"name": "x", "version": 3}') is None
    with pytest.raises(AnalyzerInputError):
        analyze(a, "app/node_modules/x/package.json", b'{"name": ')
    with pytest.raises(AnalyzerInputError):
        analyze(a, "app/node_modules/x/package.json", b"[1, 2]")


def test_go_modinfo_with_replacements() -> None:
    modinfo = (
        "0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"
        "path\texample.com/app\nmod\texample.com/app\tv1.2.3\th1:abc=\n"
        "dep\tgithub.com/a/b\tv0.1.0\th1:x=\n"
        "dep\tgolang.org/x/net\tv0.1.0\th1:y=\n=>\tgolang.org/x/net\tv0.7.0\th1:z=\n"
        "build\tGOOS=linux\nbuild\tGOARCH=amd64\n"
        "\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
    )
    pkgs = packages_from_buildinfo("go1.21.0 X:boringcrypto", modinfo, "go-binary")
    got = {(p.name, p.version, p.purl) for p in pkgs}
    assert got == {
        ("stdlib", "1.21.0", "pkg:golang/stdlib@1.21.0"),
        ("example.com/app", "v1.2.3", "pkg:golang/example.com/app@v1.2.3"),
        ("github.com/a/b", "v0.1.0", "pkg:golang/github.com/a/b@v0.1.0"),
        ("golang.org/x/net", "v0.7.0", "pkg:golang/golang.org/x/net@v0.7.0"),
    }


@pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain (golang-go)")
def test_real_go_binary(tmp_path: Path, spooled: bool) -> None:
    (tmp_path / "go.mod").write_text("module example.com/hello\n\ngo 1.19\n")
    (tmp_path / "main.go").write_text('package main\n\nfunc main() { println("hi") }\n')
    env = {
        "HOME": str(tmp_path),
        "GOCACHE": str(tmp_path / "cache"),
        "GOFLAGS": "-mod=mod",
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
        "PATH": "/usr/bin:/bin",
        "GOPATH": str(tmp_path / "gopath"),
    }
    subprocess.run(["go", "build", "-o", "hello", "."], cwd=tmp_path, env=env, check=True)
    data = (tmp_path / "hello").read_bytes()
    version = subprocess.run(
        ["go", "env", "GOVERSION"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    result = analyze(GoBinaryAnalyzer(), "usr/local/bin/hello", data, 0o755, spooled)
    got = {(p.name, p.version) for p in result.packages}
    assert got == {("stdlib", version.removeprefix("go")), ("example.com/hello", "(devel)")}
    # a non-Go ELF executable and a script give nothing
    assert (
        analyze(GoBinaryAnalyzer(), "bin/true", Path("/bin/true").read_bytes(), 0o755, spooled)
        is None
    )
    assert (
        analyze(GoBinaryAnalyzer(), "bin/x", b"#!/bin/sh\n" + b"x" * 2000, 0o755, spooled) is None
    )


def go117_binary(big: bool = False) -> bytes:
    """A minimal ELF the way Go < 1.18 lays out build info: the header holds two pointers
    to Go string headers (pointer, length), resolved through a PT_LOAD segment."""
    import struct

    o = ">" if big else "<"
    base, info_at = 0x400000, 0x100
    strings_at = info_at + 48
    version, modinfo = (
        b"go1.17.13",
        (
            b"0" * 16 + b"path\texample.com/old\n"
            b"mod\texample.com/old\tv1.0.0\th1:x=\n"
            b"dep\tgithub.com/a/b\tv0.2.0\th1:y=\n" + b"1" * 16
        ),
    )
    body = bytearray(2048)  # the analyzer skips executables under 1 KiB
    ident = b"\x7fELF" + bytes([2, 2 if big else 1, 1]) + bytes(9)
    body[:64] = ident + struct.pack(
        o + "HHIQQQIHHHHHH", 2, 62, 1, base, 64, 0, 0, 64, 56, 2, 64, 0, 0
    )
    # code, then the writable data segment the build info opens (where Go's reader looks)
    body[64:120] = struct.pack(o + "IIQQQQQQ", 1, 5, 0, base, base, info_at, info_at, 0x1000)
    body[120:176] = struct.pack(
        o + "IIQQQQQQ",
        1,
        6,
        info_at,
        base + info_at,
        base + info_at,
        len(body) - info_at,
        len(body) - info_at,
        0x1000,
    )
    header = b"\xff Go buildinf:" + bytes([8, 1 if big else 0])
    version_header, modinfo_header = strings_at, strings_at + 16
    body[info_at : info_at + 32] = header + struct.pack(
        o + "QQ", base + version_header, base + modinfo_header
    )
    text_at = strings_at + 32
    body[version_header : version_header + 16] = struct.pack(o + "QQ", base + text_at, len(version))
    body[modinfo_header : modinfo_header + 16] = struct.pack(
        o + "QQ", base + text_at + len(version), len(modinfo)
    )
    body[text_at : text_at + len(version) + len(modinfo)] = version + modinfo
    return bytes(body)


@pytest.mark.parametrize("big", [False, True])
def test_go_before_118_pointer_build_info(big: bool, spooled: bool) -> None:
    """Found by fuzzing: the two pointers were unpacked with the format ">Q>Q", which struct
    refuses, so every Go < 1.18 binary crashed the analyzer."""
    result = analyze(GoBinaryAnalyzer(), "usr/bin/old", go117_binary(big), 0o755, spooled)
    got = {(p.name, p.version) for p in result.packages}
    assert got == {
        ("stdlib", "1.17.13"),
        ("example.com/old", "v1.0.0"),
        ("github.com/a/b", "v0.2.0"),
    }


def test_a_shared_copy_is_searched_where_go_looks() -> None:
    """A spooled ELF file is searched as Go's own reader searches it: the writable data
    segment (or the .go.buildinfo section), not the whole file; a file whose headers do not
    hold together is searched whole."""
    data = bytearray(go117_binary())
    assert analyze(GoBinaryAnalyzer(), "usr/bin/old", bytes(data), 0o755, spooled=True)
    # the same build info in the code segment, the data segment holding none
    code = bytearray(data)
    code[0xC0:0xE0], code[0x100:0x120] = code[0x100:0x120], bytes(0x20)
    assert analyze(GoBinaryAnalyzer(), "usr/bin/old", bytes(code), 0o755)  # searched whole
    assert analyze(GoBinaryAnalyzer(), "usr/bin/old", bytes(code), 0o755, spooled=True) is None
    # an ELF class no reader knows, Go 1.18+ build info inline: a broken file, searched whole
    broken = bytearray(2048)
    broken[:5] = b"\x7fELF\x09"
    broken[0x300:0x320] = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16)
    broken[0x320:0x32A] = bytes([9]) + b"go1.21.13"
    [stdlib] = analyze(
        GoBinaryAnalyzer(), "usr/bin/new", bytes(broken), 0o755, spooled=True
    ).packages
    assert stdlib.version == "1.21.13"


@pytest.mark.parametrize("name", ["@scope/", "/", "@/", "ui-da/ "])
def test_npm_name_without_a_package_part_is_malformed(name: str) -> None:
    """Found by fuzzing: packageurl's ValueError (an empty name) or TypeError (a blank one)
    escaped the analyzer."""
    doc = f'{{"name": "{name}", "version": "1.0.0"}}'.encode()
    with pytest.raises(AnalyzerInputError, match="no package URL"):
        analyze(NodePackageAnalyzer(), "app/node_modules/x/package.json", doc)
