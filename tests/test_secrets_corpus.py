"""The secret scanner on the corpus: every planted secret found with its path and layer,
including those only in deleted layers, and nothing on the clean images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullscan.model import Finding
from hullscan.pipeline import ScanOptions, analyze_image
from hullscan.secrets import secret_analyzers
from hullscan.secrets.scanner import config_findings, layer_findings

from conftest import corpus_image

pytestmark = pytest.mark.corpus


def secrets_of(image: str, tmp_path: Path, final_only: bool = False) -> list[Finding]:
    engine, analyzers = secret_analyzers()
    analyzed = analyze_image(
        f"oci:{corpus_image(image) / 'oci'}",
        ScanOptions(cache_dir=tmp_path / "c"),
        extra_analyzers=analyzers,
    )
    return layer_findings(analyzed, engine, final_only) + config_findings(analyzed, engine)


def test_every_planted_secret_is_found_where_it_was_planted(tmp_path: Path) -> None:
    truth = json.loads((corpus_image("secrets-and-misconfig") / "truth.json").read_text())
    found = secrets_of("secrets-and-misconfig", tmp_path)
    by_path: dict[str, list[Finding]] = {}
    for f in found:
        by_path.setdefault(f.path or str(f.details.get("where")), []).append(f)
    for s in truth["secrets"]:
        if s["path"].startswith("<image config"):
            continue
        if s["kind"].endswith("documentation-example"):
            continue  # AWS's published example pair: deliberately not a finding
        here = by_path.get(s["path"].lstrip("/"), [])
        assert here, f"missed {s['kind']} in {s['path']}"
        assert {f.details["layer_index"] for f in here} == {s["layer"]}, s
        deleted = s.get("deleted_in_layer")
        for f in here:
            assert f.details["in_final_image"] is (deleted is None), s
            if deleted is not None:
                assert f.details["removed_in_layer"] == deleted
                assert f.details["created_by"]
    counts = {p: len(fs) for p, fs in by_path.items()}
    assert counts["root/.aws/credentials"] == 2  # the real pair; the example pair skipped
    assert counts["app/cache/session.json"] == 2
    # the image config and the history (a build argument) are scanned too
    wheres = {str(f.details.get("where")) for f in found if f.path is None}
    assert "Env[1]" in wheres
    assert any(w.startswith("history[") for w in wheres)
    for f in found:
        text = json.dumps(f.to_dict())
        for s in truth["secrets"]:
            if len(s.get("match", "")) > 12 and "BEGIN" not in s["match"]:
                assert s["match"] not in text, "secrets are always masked"


def test_final_layer_mode_drops_deleted_secrets(tmp_path: Path) -> None:
    found = secrets_of("secrets-and-misconfig", tmp_path, final_only=True)
    paths = {f.path for f in found}
    assert "tmp/build/deploy_key.pem" not in paths
    assert "root/.git-credentials" not in paths
    assert "root/.ssh/id_rsa" in paths


@pytest.mark.parametrize("image", ["debian-bookworm", "app-python", "app-node", "binaries"])
def test_clean_images_have_no_secret_findings(image: str, tmp_path: Path) -> None:
    assert secrets_of(image, tmp_path) == []


@pytest.mark.parametrize("fmt", ["table", "json", "sarif", "junit", "cyclonedx"])
def test_no_output_format_prints_a_secret(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hullscan.cli import main

    image = corpus_image("secrets-and-misconfig")
    truth = json.loads((image / "truth.json").read_text())
    assert (
        main(
            [
                "scan",
                f"oci:{image / 'oci'}",
                "--scanners",
                "secret",
                "--format",
                fmt,
                "--cache-dir",
                str(tmp_path / "c"),
                "-q",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "ghp_" in out or fmt == "cyclonedx"  # findings are there, masked
    for s in truth["secrets"]:
        match = s.get("match", "")
        if len(match) > 12 and "BEGIN" not in match:
            assert match not in out, f"{s['kind']} leaked in {fmt}"
