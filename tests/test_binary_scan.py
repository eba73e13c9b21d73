"""--scanners binary on the corpus: components inside binaries, their end of life and
their hardening, with OS-owned binaries attributed to their packages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullscan.cli import main

from conftest import corpus_image

pytestmark = pytest.mark.corpus


def scan_json(image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict:  # type: ignore[type-arg]
    assert (
        main(
            [
                "scan",
                f"oci:{corpus_image(image) / 'oci'}",
                "--scanners",
                "binary",
                "-f",
                "json",
                "-q",
                "--cache-dir",
                str(tmp_path / "c"),
                *args,
            ]
        )
        == 0
    )
    doc: dict = json.loads(capsys.readouterr().out)  # type: ignore[type-arg]
    return doc


def test_binaries_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = scan_json("binaries", tmp_path, capsys)
    generic = {
        (p["name"], p["version"], p["locations"][0]["path"])
        for p in doc["packages"]
        if p["type"] == "generic"
    }
    # busybox is known to no package manager; bash, glibc, perl and zlib are, and are
    # attributed to their Debian packages instead of being listed twice
    assert generic == {("busybox", "1.35.0", "usr/local/bin/busybox")}
    eol = {
        (f["path"], f["evidence"].split(" ")[1]) for f in doc["findings"] if f["id"] == "HS-BIN-010"
    }
    assert eol == {("usr/local/bin/hello-go", "1.19.8"), ("opt/tools/hello-go-stripped", "1.19.8")}
    weak = {f["path"]: f for f in doc["findings"] if f["id"] == "HS-BIN-001"}
    assert {"usr/local/bin/hello-go", "usr/local/bin/busybox"} <= set(weak)
    assert not weak["usr/local/bin/busybox"]["details"]["pie"]
    # the setuid-root helper no package owns is HIGH, however well it is hardened
    assert [(f["path"], f["severity"]) for f in doc["findings"] if f["id"] == "HS-IMG-010"] == [
        ("usr/local/bin/suid-helper", "HIGH")
    ]
    # Debian's own binaries are the distribution's choice: not findings
    assert not [p for p in weak if p.startswith(("usr/bin/", "bin/", "usr/lib/"))]


def test_clean_base_image_has_no_binary_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scan_json("debian-bookworm", tmp_path, capsys)["findings"] == []


def test_per_image_hardening_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = scan_json("binaries", tmp_path, capsys)["summary"]["binaries"]
    assert summary["executables"]["elf"] > 100 and summary["executables"]["script"] > 0
    other = summary["elf_hardening"]["other"]
    # hello-go (x2), busybox and suid-helper are the ELF files no package owns
    assert other["elf"] == 4
    assert other["nx"] == 4 and other["pie"] == 1  # only the C helper is PIE


def test_config_and_binary_scanners_report_a_setuid_file_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = scan_json("binaries", tmp_path, capsys, "--scanners", "binary,config")
    assert [f["path"] for f in doc["findings"] if f["id"] == "HS-IMG-010"] == [
        "usr/local/bin/suid-helper"
    ]
