"""OS detection and OS package databases, on files written the way the tools write them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from packageurl import PackageURL

from hullscan.analyzer import AnalyzerInputError
from hullscan.inventory.apk import ApkAnalyzer
from hullscan.inventory.dpkg import DpkgAnalyzer
from hullscan.inventory.os_release import OSReleaseAnalyzer
from hullscan.model import FileInfo, FileType
from hullscan.pipeline import ScanOptions, inventory

import imagebuilder as ib
from imagebuilder import DEBIAN_OS_RELEASE, DPKG_STATUS


def run(analyzer, path: str, text: str):  # type: ignore[no-untyped-def]
    data = text.encode()
    info = FileInfo(path, FileType.REG, len(data), 0o644)
    assert analyzer.required(path, info)
    return analyzer.analyze(path, info, io.BytesIO(data))


def test_dpkg_status_binary_and_source_packages() -> None:
    result = run(DpkgAnalyzer(), "var/lib/dpkg/status", DPKG_STATUS)
    got = {p.name: (p.version, p.source_name, p.source_version, p.arch) for p in result.packages}
    assert got == {
        "libssl3": ("3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2", "amd64"),
        # "Source: name (version)": a binNMU's source version differs from the binary's
        "bsdutils": ("1:2.38.1-5+b1", "util-linux", "2.38.1-5", "amd64"),
        "python3-six": ("1.16.0-4", "python3-six", "1.16.0-4", "all"),
    }  # removed-thing (deinstall ok config-files) is not installed


def test_distroless_status_d_and_md5sums() -> None:
    a = DpkgAnalyzer()
    pkg = run(
        a,
        "var/lib/dpkg/status.d/base-files",
        "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\nSource: base-files\n",
    )
    assert [p.name for p in pkg.packages] == ["base-files"]
    owned = run(
        a,
        "var/lib/dpkg/status.d/base-files.md5sums",
        "d41d8cd98f00b204e9800998ecf8427e  etc/debian_version\n",
    )
    assert owned.owned_files == {"base-files": ["etc/debian_version"]}
    assert not a.required("var/lib/dpkg/status.d/sub/x", FileInfo("x", FileType.REG))


def test_dpkg_file_lists() -> None:
    result = run(
        DpkgAnalyzer(),
        "var/lib/dpkg/info/libc6:amd64.list",
        "/.\n/lib/x86_64-linux-gnu/libc.so.6\n/usr/share/doc/libc6\n",
    )
    assert result.owned_files == {
        "libc6": ["lib/x86_64-linux-gnu/libc.so.6", "usr/share/doc/libc6"]
    }


@pytest.mark.parametrize(
    "text",
    [
        "Package: x\nVersion: 1\nSource: bad (((\n",
        "Version: 1.0\nStatus: install ok installed\n",
    ],
)
def test_dpkg_malformed(text: str) -> None:
    with pytest.raises(AnalyzerInputError):
        run(DpkgAnalyzer(), "var/lib/dpkg/status", text)


def test_dpkg_skips_one_broken_paragraph_and_keeps_the_rest() -> None:
    broken = DPKG_STATUS + "\nPackage: half-written\nStatus: install ok installed\n"
    result = run(DpkgAnalyzer(), "var/lib/dpkg/status", broken)
    assert {p.name for p in result.packages} == {"libssl3", "bsdutils", "python3-six"}
    assert result.warnings == ["skipped a paragraph without Package/Version (half-written)"]


APK_INSTALLED = """C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
S:383152
o:musl
L:MIT
F:lib
R:ld-musl-x86_64.so.1
R:libc.musl-x86_64.so.1

C:Q1def=
P:libcrypto3
V:3.1.4-r5
A:x86_64
o:openssl
L:Apache-2.0
F:usr/lib
R:libcrypto.so.3
"""


def test_apk_installed_with_origin_and_files() -> None:
    result = run(ApkAnalyzer(), "lib/apk/db/installed", APK_INSTALLED)
    got = {
        p.name: (p.version, p.source_name, p.arch, tuple(x.value for x in p.licenses))
        for p in result.packages
    }
    assert got == {
        "musl": ("1.2.4-r2", "musl", "x86_64", ("MIT",)),
        "libcrypto3": ("3.1.4-r5", "openssl", "x86_64", ("Apache-2.0",)),
    }
    assert result.owned_files["libcrypto3"] == ["usr/lib/libcrypto.so.3"]
    assert result.packages[1].purl.startswith("pkg:apk/alpine/libcrypto3@3.1.4-r5")


def test_apk_malformed() -> None:
    with pytest.raises(AnalyzerInputError):
        run(ApkAnalyzer(), "lib/apk/db/installed", "P:x\nthis is not apk\n")
    with pytest.raises(AnalyzerInputError):
        run(ApkAnalyzer(), "lib/apk/db/installed", "A:x86_64\nL:MIT\n")


def test_os_release_and_release_files() -> None:
    a = OSReleaseAnalyzer()
    os_info = run(a, "usr/lib/os-release", DEBIAN_OS_RELEASE).os
    assert (os_info.id, os_info.version_id, os_info.codename) == ("debian", "12", "bookworm")
    assert run(a, "etc/debian_version", "12.5\n").os.release == "12.5"
    assert run(a, "etc/alpine-release", "3.19.1\n").os.release == "3.19.1"
    rh = run(a, "etc/redhat-release", "Red Hat Enterprise Linux release 9.3 (Plow)\n").os
    assert (rh.id, rh.release) == ("rhel", "9.3")
    distroless = run(a, "etc/os-release", 'PRETTY_NAME="Distroless"\nID=debian\nVERSION_ID="12"\n')
    assert distroless.os.distroless
    with pytest.raises(AnalyzerInputError):
        run(a, "etc/os-release", "NAME=nothing useful\n")


def test_rpm_image_lists_one_database_with_distro_purls(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "fixtures" / "rpm"
    os_release = 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nVERSION_ID="9.3"\n'
    img = ib.build(
        [
            [
                ib.file("etc/os-release", os_release),
                ib.file("var/lib/rpm/Packages", (fixtures / "Packages").read_bytes()),
                ib.file("var/lib/rpm/rpmdb.sqlite", (fixtures / "rpmdb.sqlite").read_bytes()),
            ]
        ]
    )
    archive = ib.write_docker_archive([(img, ["rhel:9"])], tmp_path / "rhel.tar")
    inv = inventory(str(archive), ScanOptions(cache_dir=tmp_path / "c"))
    rpms = [p for p in inv.packages if p.type == "rpm"]
    assert rpms, "the fixture databases hold packages"
    assert {p.locations[0].path for p in rpms} == {"var/lib/rpm/rpmdb.sqlite"}
    assert len({p.name for p in rpms}) == len(rpms)
    for p in rpms:
        assert PackageURL.from_string(p.purl).qualifiers["distro"] == "rhel-9.3"


def test_file_lists_name_only_paths_inside_the_image() -> None:
    """Found by fuzzing: file lists kept ``..`` and NUL paths, which name no file of the
    image; they are dropped, and the rest is normalized like layer paths."""
    apk = run(
        ApkAnalyzer(),
        "lib/apk/db/installed",
        "P:musl\nV:1.2.4-r2\nF:lib\nR:ld-musl.so.1\nF:../../etc\nR:shadow\n"
        "F:usr//lib/\nR:a\x00b\nR:./libc.so\n",
    )
    assert apk.owned_files == {"musl": ["lib/ld-musl.so.1", "usr/lib/libc.so"]}
    dpkg = run(
        DpkgAnalyzer(),
        "var/lib/dpkg/info/libc6:amd64.list",
        "/.\n/lib\n/lib/../../../etc/passwd\n/lib//x86_64-linux-gnu/libc.so.6\n",
    )
    assert dpkg.owned_files == {"libc6": ["lib", "lib/x86_64-linux-gnu/libc.so.6"]}
