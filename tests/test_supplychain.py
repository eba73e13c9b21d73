"""``scan --scanners supplychain`` and the trust policy: trusted sources, pinning, tags that
moved. (Signature verification itself is proven in test_signing.py; here the scanner's
use of it is.)"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hullscan.cli import main
from hullscan.errors import HullscanError
from hullscan.references import canonical_name
from hullscan.settings import Settings, load_trust_policy_file
from hullscan.supplychain.history import TagHistory
from hullscan.supplychain.trust import TrustPolicy

from imagebuilder import build, debian_base, file, write_docker_archive, write_oci
from localregistry import (
    REF_NAME,
    REGISTRY,
    SKOPEO,
    needs_registry,
    push,
    start_registry,
    stop_registry,
)


def policy(doc: dict[str, Any], tmp_path: Path) -> TrustPolicy:
    result = TrustPolicy.from_mapping(doc, "test.yaml", tmp_path)
    assert result is not None
    return result


@pytest.fixture()
def pubkey(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    path = tmp_path / "team.pub"
    path.write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


# -- the policy --------------------------------------------------------------------------


def test_canonical_names() -> None:
    assert canonical_name("docker.io/debian") == "docker.io/library/debian"
    assert canonical_name("index.docker.io/library/debian") == "docker.io/library/debian"
    assert canonical_name("registry-1.docker.io/bitnami/redis") == "docker.io/bitnami/redis"
    assert canonical_name("ghcr.io/org/app/") == "ghcr.io/org/app"


def test_most_specific_scope_wins(tmp_path: Path, pubkey: Path) -> None:
    p = policy(
        {
            "policies": [
                {"name": "registry", "scopes": ["registry.example.com"], "signature": "skip"},
                {"name": "team", "scopes": ["registry.example.com/team"], "keys": [pubkey.name]},
                {"name": "hub", "scopes": ["docker.io/library"], "signature": "skip"},
            ]
        },
        tmp_path,
    )
    found = p.rule_for("registry.example.com/team/app")
    assert found is not None and found[0].name == "team" and found[0].needs_signature
    assert found[0].keys == (pubkey.resolve(),)  # relative to the policy file
    found = p.rule_for("registry.example.com/other/app")
    assert found is not None and found[0].name == "registry"
    # a prefix only counts on a path boundary
    assert p.rule_for("registry.example.com/teamwork/app")[0].name == "registry"  # type: ignore[index]
    assert p.rule_for("registry.example.community/app") is None
    hub = p.rule_for("registry-1.docker.io/library/debian")
    assert hub is not None and hub[0].name == "hub" and not hub[0].needs_signature
    assert p.rule_for(None) is None  # local images need the 'local' scope


def test_wildcard_and_local_scopes(tmp_path: Path) -> None:
    p = policy(
        {"policies": [{"name": "any", "scopes": ["*"]}, {"name": "files", "scopes": ["local"]}]},
        tmp_path,
    )
    assert p.rule_for("quay.io/x/y")[0].name == "any"  # type: ignore[index]
    assert p.rule_for(None)[0].name == "files"  # type: ignore[index]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"policies": "x"}, "needs a 'policies' list"),
        ({"policies": [{"scopes": []}]}, "scopes must be a non-empty list"),
        ({"policies": [{"scopes": ["debian"]}]}, "has no registry host"),
        ({"policies": [{"scopes": ["ghcr.io/app:1"]}]}, "names a tag or digest"),
        ({"policies": [{"scopes": ["ghcr.io"], "keys": ["missing.pub"]}]}, "not found"),
        ({"policies": [{"scopes": ["ghcr.io"], "signature": "enforce"}]}, "needs keys"),
        ({"policies": [{"scopes": ["ghcr.io"], "signature": "maybe"}]}, "must be one of"),
        ({"policies": [{"scopes": ["ghcr.io"], "colour": 1}]}, "unknown setting"),
    ],
)
def test_bad_policies_are_clear(doc: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(HullscanError, match=message):
        policy(doc, tmp_path)


def test_policy_file_or_section(tmp_path: Path, pubkey: Path) -> None:
    f = tmp_path / "trust.yaml"
    f.write_text("trust:\n  policies:\n    - {name: t, scopes: [ghcr.io], keys: [team.pub]}\n")
    loaded = load_trust_policy_file(f)
    assert loaded.rules[0].keys == (pubkey.resolve(),)
    bare = tmp_path / "bare.yaml"
    bare.write_text("policies:\n  - {name: t, scopes: ['*']}\n")
    assert load_trust_policy_file(bare) is not None
    assert Settings.from_mapping({}).trust is None
    section = Settings.from_mapping({"trust": {"policies": [{"scopes": ["ghcr.io"]}]}}).trust
    assert section is not None and section.source == "hullscan.yaml"


# -- tag history ---------------------------------------------------------------------------


def test_tag_history_reports_a_move_once(tmp_path: Path) -> None:
    history = TagHistory(tmp_path)
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert history.observe("ghcr.io/o/app:1", a, now=100.0) is None
    assert history.observe("ghcr.io/o/app:1", a, now=200.0) is None
    move = history.observe("ghcr.io/o/app:1", b, now=300.0)
    assert move is not None and (move.previous, move.current) == (a, b)
    assert (move.previous_first_seen, move.previous_last_seen) == (100.0, 200.0)
    assert history.observe("ghcr.io/o/app:1", b, now=400.0) is None
    assert history.observe("ghcr.io/o/other:1", b) is None
    history.close()
    # kept on disk between runs
    again = TagHistory(tmp_path)
    assert again.observe("ghcr.io/o/app:1", a) is not None
    again.close()


# -- the scanner through the command line ------------------------------------------------


def scan_json(args: list[str], tmp_path: Path) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "report.json"
    code = main(
        [
            "scan",
            *args,
            "--scanners",
            "supplychain",
            "--format",
            "json",
            "-o",
            str(out),
            "-q",
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    return code, json.loads(out.read_text()) if out.exists() else {}


def ids(report: dict[str, Any]) -> list[str]:
    return sorted(f["id"] for f in report["findings"])


def test_layout_tag_that_moved_is_reported(tmp_path: Path) -> None:
    first = build([debian_base()])
    second = build([debian_base(), [file("etc/motd", "rebuilt\n")]])
    layout = tmp_path / "oci"
    write_oci([(first, {"annotations": {REF_NAME: "1"}})], layout)
    code, report = scan_json([f"oci:{layout}:1"], tmp_path)
    assert code == 0 and ids(report) == []
    assert report["summary"]["supplychain"]["digest"] == first.manifest_digest
    # the same tag re-pointed to another image
    write_oci([(second, {"annotations": {REF_NAME: "1"}})], layout)
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": second.manifest_digest,
                        "size": len(second.manifest),
                        "annotations": {REF_NAME: "1"},
                    }
                ],
            }
        )
    )
    code, report = scan_json([f"oci:{layout}:1", "--fail-on", "MEDIUM"], tmp_path)
    assert code == 1 and ids(report) == ["HS-SC-005"]
    moved = report["findings"][0]
    assert moved["kind"] == "supplychain" and moved["severity"] == "MEDIUM"
    assert first.manifest_digest in moved["evidence"]
    assert second.manifest_digest in moved["evidence"]
    # reported once: the new digest is now the one last seen
    code, report = scan_json([f"oci:{layout}:1"], tmp_path)
    assert ids(report) == []


def test_untrusted_source_and_local_scope(tmp_path: Path) -> None:
    img = build([debian_base()])
    archive = write_docker_archive([(img, ["ghcr.io/someone/app:1"])], tmp_path / "a.tar")
    trust = tmp_path / "trust.yaml"
    trust.write_text("policies:\n  - {name: ours, scopes: [registry.example.com]}\n")
    code, report = scan_json([str(archive), "--trust-policy", str(trust)], tmp_path)
    assert ids(report) == ["HS-SC-003"]
    assert "ghcr.io/someone/app" in report["findings"][0]["evidence"]
    assert report["findings"][0]["severity"] == "HIGH"
    # a scope for it: trusted, no findings
    trust.write_text("policies:\n  - {name: theirs, scopes: [ghcr.io/someone]}\n")
    code, report = scan_json([str(archive), "--trust-policy", str(trust)], tmp_path)
    assert ids(report) == [] and report["summary"]["supplychain"]["policy"]["name"] == "theirs"
    # an archive without a name is a local image
    plain = write_docker_archive([(img, [])], tmp_path / "b.tar")
    code, report = scan_json([str(plain), "--trust-policy", str(trust)], tmp_path)
    assert ids(report) == ["HS-SC-003"] and "no registry name" in report["findings"][0]["evidence"]
    trust.write_text("policies:\n  - {name: builds, scopes: [local]}\n")
    code, report = scan_json([str(plain), "--trust-policy", str(trust)], tmp_path)
    assert code == 0 and ids(report) == []


def test_archive_cannot_satisfy_a_signature_policy(tmp_path: Path, pubkey: Path) -> None:
    img = build([debian_base()])
    archive = write_docker_archive([(img, ["registry.example.com/team/app:1"])], tmp_path / "a.tar")
    trust = tmp_path / "trust.yaml"
    trust.write_text(
        "policies:\n  - {name: team, scopes: [registry.example.com/team], "
        f"keys: [{pubkey.name}]}}\n"
    )
    code, report = scan_json(
        [str(archive), "--trust-policy", str(trust), "--fail-on", "HIGH"], tmp_path
    )
    assert code == 1 and ids(report) == ["HS-SC-001"]
    assert "no signatures" in report["findings"][0]["evidence"]
    # audit: reported, but at LOW
    trust.write_text(
        "policies:\n  - {name: team, scopes: [registry.example.com/team], "
        f"keys: [{pubkey.name}], signature: audit}}\n"
    )
    code, report = scan_json(
        [str(archive), "--trust-policy", str(trust), "--fail-on", "HIGH"], tmp_path
    )
    assert code == 0 and report["findings"][0]["severity"] == "LOW"


def test_bad_policy_is_exit_2_before_reading_the_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = tmp_path / "trust.yaml"
    trust.write_text("policies:\n  - {scopes: [debian]}\n")
    code, _ = scan_json([str(tmp_path / "missing.tar"), "--trust-policy", str(trust)], tmp_path)
    assert code == 2
    err = capsys.readouterr().err
    assert "has no registry host" in err and len(err.strip().splitlines()) == 1


def test_config_scanner_does_not_repeat_supplychain_findings(tmp_path: Path) -> None:
    img = build([debian_base()])
    archive = write_docker_archive([(img, ["ghcr.io/someone/app:latest"])], tmp_path / "a.tar")
    (tmp_path / "hullscan.yaml").write_text(
        "checks:\n  trusted_registries: [registry.example.com]\n"
        "trust:\n  policies:\n    - {scopes: [registry.example.com]}\n"
    )
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "scan",
                str(archive),
                "--scanners",
                "config,supplychain",
                "--format",
                "json",
                "-o",
                str(out),
                "-q",
                "--cache-dir",
                str(tmp_path / "c"),
                "--config",
                str(tmp_path / "hullscan.yaml"),
            ]
        )
        == 0
    )
    found = ids(json.loads(out.read_text()))
    assert "HS-SC-003" in found and "HS-IMG-015" not in found


# -- signatures, through hullscan sign -----------------------------------------------------


def keypair(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("COSIGN_PASSWORD", "test-password")
    prefix = tmp_path / name
    assert main(["keygen", "--output-key-prefix", str(prefix)]) == 0
    return prefix.with_suffix(".key"), prefix.with_suffix(".pub")


def test_signature_policy_on_a_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = build([debian_base()])
    layout = write_oci([(img, {"annotations": {REF_NAME: "1"}})], tmp_path / "oci")
    team_key, team_pub = keypair(tmp_path, "team", monkeypatch)
    other_key, _ = keypair(tmp_path, "other", monkeypatch)
    trust = tmp_path / "trust.yaml"
    trust.write_text(f"policies:\n  - {{name: builds, scopes: [local], keys: [{team_pub.name}]}}\n")
    args = [f"oci:{layout}:1", "--trust-policy", str(trust), "--fail-on", "HIGH"]
    code, report = scan_json(args, tmp_path)
    assert code == 1 and ids(report) == ["HS-SC-001"]
    # signed by a key the policy does not name
    assert main(["sign", f"oci:{layout}:1", "--key", str(other_key)]) == 0
    code, report = scan_json(args, tmp_path)
    assert code == 1 and ids(report) == ["HS-SC-002"]
    assert report["findings"][0]["severity"] == "CRITICAL"
    # and by the right one as well: one valid signature is enough
    assert main(["sign", f"oci:{layout}:1", "--key", str(team_key)]) == 0
    code, report = scan_json(args, tmp_path)
    assert code == 0 and ids(report) == []
    checked = report["summary"]["supplychain"]["signatures"]
    assert sorted(c["key"] is not None for c in checked) == [False, True]


def test_signed_layout_still_scans_without_a_tag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signature entry in index.json describes the image; it is not a second image."""
    img = build([debian_base()])
    layout = write_oci([(img, {})], tmp_path / "oci")
    key, _ = keypair(tmp_path, "k", monkeypatch)
    assert main(["sign", f"oci:{layout}", "--key", str(key)]) == 0
    index = json.loads((layout / "index.json").read_text())
    assert len(index["manifests"]) == 2
    out = tmp_path / "sbom.json"
    assert (
        main(
            [
                "sbom",
                f"oci:{layout}",
                "-q",
                "--format",
                "json",
                "-o",
                str(out),
                "--cache-dir",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["image"]["digest"] == img.manifest_digest


# -- a real registry: pinning, moved tags, signatures, verify --trust-policy ---------------


@pytest.fixture()
def registry(tmp_path: Path) -> Iterator[str]:
    if not os.access(REGISTRY, os.X_OK) or SKOPEO is None:
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")
    reg = start_registry(tmp_path / "registry")
    try:
        yield reg.host
    finally:
        stop_registry(reg)


@needs_registry
def test_registry_image_through_the_supplychain_scanner(
    tmp_path: Path,
    registry: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = write_oci(
        [(build([debian_base()]), {"annotations": {REF_NAME: "1"}})], tmp_path / "first"
    )
    second = write_oci(
        [(build([debian_base(), [file("etc/motd", "v2\n")]]), {"annotations": {REF_NAME: "1"}})],
        tmp_path / "second",
    )
    push(first, "1", f"{registry}/team/app:1")
    key, pub = keypair(tmp_path, "team", monkeypatch)
    trust = tmp_path / "trust.yaml"
    trust.write_text(
        f"policies:\n  - {{name: team, scopes: ['{registry}/team'], keys: [{pub.name}]}}\n"
    )
    ref = f"registry:{registry}/team/app:1"
    assert main(["sign", ref, "--key", str(key)]) == 0
    code, report = scan_json([ref, "--trust-policy", str(trust)], tmp_path)
    assert code == 0 and ids(report) == ["HS-SC-004"]  # signed and trusted, but by tag
    digest = report["summary"]["supplychain"]["digest"]
    code, report = scan_json(
        [f"registry:{registry}/team/app@{digest}", "--trust-policy", str(trust)], tmp_path
    )
    assert ids(report) == []
    capsys.readouterr()
    assert main(["verify", ref, "--trust-policy", str(trust)]) == 0
    assert "policy  team" in capsys.readouterr().out
    # the tag is re-pushed with another, unsigned image
    push(second, "1", f"{registry}/team/app:1")
    code, report = scan_json([ref, "--trust-policy", str(trust), "--fail-on", "HIGH"], tmp_path)
    assert code == 1 and ids(report) == ["HS-SC-001", "HS-SC-004", "HS-SC-005"]
    assert main(["verify", ref, "--trust-policy", str(trust)]) == 1
    assert "unsigned" in capsys.readouterr().out
    # another repository of the same registry is outside the policy's scope
    push(first, "1", f"{registry}/other/app:1")
    assert main(["verify", f"registry:{registry}/other/app:1", "--trust-policy", str(trust)]) == 1
    assert "not from a trusted source" in capsys.readouterr().out
