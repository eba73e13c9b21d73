"""The public Python API: the same answers as the command line, typed errors, typed
settings, and scans from many threads at once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import hullscan
from hullscan.cli import main
from hullscan.model import FindingKind, Severity

REPO = Path(__file__).resolve().parent.parent


def _findings(doc: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    return [(f["kind"], f["id"], f["severity"], f.get("path")) for f in doc["findings"]]


def test_scan_equals_the_command_line(
    demo: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, db = demo
    report = hullscan.scan(
        f"docker-archive:{image}", scanners=["vuln", "secret"], db=db, cache_dir=tmp_path / "api"
    )
    doc = report.to_dict()
    assert doc["schema"] == "hullscan.report/v1"
    capsys.readouterr()
    assert (
        main(
            [
                "scan",
                f"docker-archive:{image}",
                "--scanners",
                "vuln,secret",
                "--db",
                str(db),
                "--cache-dir",
                str(tmp_path / "cli"),
                "-f",
                "json",
                "-q",
            ]
        )
        == 0
    )
    cli_doc = json.loads(capsys.readouterr().out)
    assert _findings(doc) == _findings(cli_doc)
    assert len(doc["findings"]) > 10
    assert doc["packages"] == cli_doc["packages"]
    kinds = {f.kind for f in report.findings}
    assert FindingKind.VULNERABILITY in kinds
    assert report.exceeds(Severity.LOW) and not report.exceeds(None)


def test_sbom_is_the_inventory(demo: tuple[Path, Path], tmp_path: Path) -> None:
    report = hullscan.sbom(str(demo[0]), cache_dir=tmp_path / "c")
    names = {p.name for p in report.inventory.packages}
    assert {"Django", "lodash", "bash", "apt"} <= names
    assert report.findings == () and report.to_dict()["packages"]


def test_python_api_as_the_readme_shows(demo: tuple[Path, Path], tmp_path: Path) -> None:
    image, db = demo
    code = (
        "import hullscan; print(hullscan.scan('docker-archive:" + str(image) + "', "
        "scanners=['vuln','secret'], db='"
        + str(db)
        + "', cache_dir='"
        + str(tmp_path / "c")
        + "').to_dict()['schema'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == "hullscan.report/v1"


def test_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(hullscan.ImageError, match="no such file"):
        hullscan.sbom(str(tmp_path / "missing.tar"), cache_dir=tmp_path / "c")
    with pytest.raises(hullscan.DatabaseError, match="no vulnerability database"):
        hullscan.scan(
            str(tmp_path / "missing.tar"),
            scanners=["vuln"],
            db=tmp_path / "none.sqlite",
            cache_dir=tmp_path / "c",
        )
    with pytest.raises(hullscan.HullscanError, match="unknown scanner"):
        hullscan.scan(str(tmp_path), scanners=["nope"])
    with pytest.raises(hullscan.HullscanError, match="nothing to verify"):
        hullscan.verify(str(tmp_path))


def test_settings_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    f = tmp_path / "hullscan.yaml"
    cases = {
        "secret:\n  rules: []\n": r"unknown section\(s\) secret",
        "registries:\n  retries: 99\n": "registries.retries",
        "registries:\n  verify_diff_ids: no-thanks\n": "registries.verify_diff_ids",
        "checks:\n  severity: {HS-IMG-001: SEVERE}\n": "checks.severity.HS-IMG-001",
        "checks:\n  disabled: [HS-IMG-001]\n": r"checks: unknown setting\(s\) disabled",
        "secrets:\n  rules: {}\n": "secrets.rules",
        "trust:\n  policies: [{scopes: []}]\n": r"trust.policies\[0\]",
        "- a list\n": "expected a mapping",
    }
    for text, message in cases.items():
        f.write_text(text)
        with pytest.raises(hullscan.ConfigError, match=message) as e:
            hullscan.Settings.load(f)
        assert str(e.value).startswith(str(f)), e.value
    f.write_text("checks:\n  disable: [HS-IMG-001]\nsecrets:\n  disable: [jwt]\n")
    s = hullscan.Settings.load(f)
    assert s.checks.disabled == frozenset({"HS-IMG-001"}) and s.secrets.token
    assert s.registries.verify_diff_ids and not s.registries.keep_layers
    f.write_text("registries:\n  verify_diff_ids: false\n  keep_layers: true\n")
    s = hullscan.Settings.load(f)
    assert not s.registries.verify_diff_ids and s.registries.keep_layers
    assert hullscan.Settings.load(None, directory=tmp_path / "nowhere") == hullscan.Settings()


def test_settings_reach_the_scanners(demo: tuple[Path, Path], tmp_path: Path) -> None:
    """A user rule in the settings finds a secret the built-in rules do not know."""
    image = demo[0]
    plain = hullscan.scan(str(image), scanners=["secret"], cache_dir=tmp_path / "c")
    rule = {
        "id": "demo-debian-version",
        "keywords": ["12.15"],
        "regex": r"(?P<secret>12\.15)",
        "severity": "LOW",
        "path": "debian_version$",
    }
    settings = hullscan.Settings.from_mapping({"secrets": {"rules": [rule]}})
    custom = hullscan.scan(
        str(image), scanners=["secret"], cache_dir=tmp_path / "c", settings=settings
    )
    ids = {f.id for f in custom.findings} - {f.id for f in plain.findings}
    assert ids == {"demo-debian-version"}


def test_two_threads_scan_two_images_at_once(demo: tuple[Path, Path], tmp_path: Path) -> None:
    """No global state: concurrent scans with their own cache directories give the same
    reports as each alone."""
    image, db = demo
    other = tmp_path / "other.tar"
    import imagebuilder as ib

    img = ib.build(
        [
            ib.debian_base(),
            [
                ib.python_dist("urllib3", "1.24.1"),
                ib.file(
                    "root/.aws/credentials", "[default]\naws_access_key_id = AKIAZ7VRSQ5TQJ4XG4HB\n"
                ),
            ],
        ]
    )
    ib.write_docker_archive([(img, ["example/other:1"])], other)
    refs = [str(image), str(other)]
    alone = {
        ref: hullscan.scan(
            ref, ["vuln", "secret"], db=db, cache_dir=tmp_path / f"alone-{i}"
        ).to_dict()
        for i, ref in enumerate(refs)
    }
    results: dict[str, dict[str, Any]] = {}
    errors: list[BaseException] = []

    def run(i: int, ref: str) -> None:
        try:
            for _ in range(2):
                results[ref] = hullscan.scan(
                    ref,
                    ["vuln", "secret"],
                    db=db,
                    cache_dir=tmp_path / f"thread-{i}",
                    use_cache=False,
                ).to_dict()
        except BaseException as e:  # reported below, with the thread's failure
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, ref)) for i, ref in enumerate(refs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    for ref in refs:
        assert _findings(results[ref]) == _findings(alone[ref])
        assert results[ref]["packages"] == alone[ref]["packages"]
    assert any(f["kind"] == "secret" for f in results[str(other)]["findings"])
