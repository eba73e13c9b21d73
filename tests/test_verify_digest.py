"""``hullscan verify IMAGE --digest sha256:…``: the released digest, and every blob under
it re-hashed (OCI layout files; registry blobs fetched afresh, never from the cache)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hullscan.sources import open_image

from conftest import hexpart, run
from imagebuilder import (
    BuiltImage,
    build,
    debian_base,
    file,
    manifest_descriptor,
    python_dist,
    sha256,
    write_docker_archive,
    write_image_blobs,
    write_index_blob,
    write_oci,
    write_oci_index,
)
from localregistry import REF_NAME, REGISTRY, SKOPEO, Registry, push, start_registry, stop_registry


def flip(path: Path, at: int = -20) -> None:
    """Change one byte, keeping the size."""
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    return build([debian_base(), [python_dist("requests", "2.31.0")]])


@pytest.fixture(scope="module")
def arm() -> BuiltImage:
    return build([[file("etc/os-release", "ID=debian\n")]], arch="arm64")


@pytest.fixture
def layout(tmp_path: Path, image: BuiltImage) -> Path:
    return write_oci([(image, {"annotations": {REF_NAME: "1"}})], tmp_path / "oci")


def verify_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run(capsys, "verify", *args, "--format", "json")
    assert out, err
    doc: dict[str, Any] = json.loads(out)
    return code, doc


def failing(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(b["what"], b["digest"]) for b in doc["digests"]["blobs"] if not b["ok"]]


# -- OCI layout --------------------------------------------------------------------------


def test_layout_matches(
    layout: Path, image: BuiltImage, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = verify_json(capsys, f"oci:{layout}:1", "--digest", image.manifest_digest)
    assert code == 0 and doc["verified"] is True
    blobs = doc["digests"]["blobs"]
    assert [b["what"] for b in blobs] == ["manifest", "config", "layer 0", "layer 1"]
    assert [b["digest"] for b in blobs] == [
        image.manifest_digest,
        image.config_digest,
        *(sha256(b) for b in image.blobs),
    ]
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--digest", image.manifest_digest)
    assert code == 0 and "VERIFIED" in out


def test_wrong_digest(layout: Path, image: BuiltImage, capsys: pytest.CaptureFixture[str]) -> None:
    released = "sha256:" + "ab" * 32
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--digest", released)
    assert code == 1
    assert f"the image's digest is {image.manifest_digest}, not the released {released}" in out


@pytest.mark.parametrize(("what", "index"), [("layer 1", 1), ("layer 0", 0), ("config", None)])
def test_tampered_blob_named(
    layout: Path,
    image: BuiltImage,
    what: str,
    index: int | None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digest = image.config_digest if index is None else sha256(image.blobs[index])
    flip(layout / "blobs" / "sha256" / hexpart(digest))
    code, doc = verify_json(capsys, f"oci:{layout}:1", "--digest", image.manifest_digest)
    assert code == 1 and doc["verified"] is False
    assert failing(doc) == [(what, digest)]
    (problem,) = doc["problems"]
    assert problem.startswith(f"{what} {digest}: content hashes to sha256:")
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--digest", image.manifest_digest)
    assert code == 1 and f"FAIL  {what}" in out and digest in out


def test_truncated_and_missing_layers(
    layout: Path, image: BuiltImage, capsys: pytest.CaptureFixture[str]
) -> None:
    d0 = sha256(image.blobs[0])
    d1 = sha256(image.blobs[1])
    p0 = layout / "blobs" / "sha256" / hexpart(d0)
    p0.write_bytes(p0.read_bytes()[:-5])
    (layout / "blobs" / "sha256" / hexpart(d1)).unlink()
    code, doc = verify_json(capsys, f"oci:{layout}:1", "--digest", image.manifest_digest)
    assert code == 1
    problems = {b["what"]: b["problem"] for b in doc["digests"]["blobs"] if not b["ok"]}
    assert problems["layer 0"].startswith(
        f"{len(image.blobs[0]) - 5} bytes, but its descriptor says {len(image.blobs[0])}"
    )
    assert problems["layer 1"] == "missing"


def test_grown_blob_is_bounded(
    layout: Path, image: BuiltImage, capsys: pytest.CaptureFixture[str]
) -> None:
    p = layout / "blobs" / "sha256" / hexpart(image.config_digest)
    p.write_bytes(p.read_bytes() + b" " * 4096)
    code, doc = verify_json(capsys, f"oci:{layout}:1", "--digest", image.manifest_digest)
    assert code == 1
    (problem,) = [b["problem"] for b in doc["digests"]["blobs"] if not b["ok"]]
    assert problem.startswith(f"more than the {len(image.config)} bytes")


def test_tampered_manifest(
    layout: Path, image: BuiltImage, capsys: pytest.CaptureFixture[str]
) -> None:
    flip(layout / "blobs" / "sha256" / hexpart(image.manifest_digest), at=5)
    code, doc = verify_json(capsys, f"oci:{layout}:1", "--digest", image.manifest_digest)
    assert code == 1
    assert failing(doc) == [("manifest", image.manifest_digest)]
    # its descriptors cannot be trusted: nothing below it is checked
    assert [b["what"] for b in doc["digests"]["blobs"]] == ["manifest"]


def test_multi_platform_index(
    tmp_path: Path, image: BuiltImage, arm: BuiltImage, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "multi"
    write_oci_index(root, [])
    write_image_blobs(root, image)
    write_image_blobs(root, arm)
    index = write_index_blob(
        root,
        [
            manifest_descriptor(image, platform={"os": "linux", "architecture": "amd64"}),
            manifest_descriptor(arm, platform={"os": "linux", "architecture": "arm64"}),
        ],
        annotations={REF_NAME: "1"},
    )
    write_oci_index(root, [index])
    ref = f"oci:{root}:1"
    for platform, img in (("linux/amd64", image), ("linux/arm64", arm)):
        code, doc = verify_json(capsys, ref, "--digest", index["digest"], "--platform", platform)
        assert code == 0, doc
        assert doc["digest"] == index["digest"]
        assert doc["digests"]["manifest_digest"] == img.manifest_digest
        assert [b["what"] for b in doc["digests"]["blobs"]][:3] == ["index", "manifest", "config"]
    # the publisher may have released the platform's manifest digest: accepted too
    code, _doc = verify_json(
        capsys, ref, "--digest", arm.manifest_digest, "--platform", "linux/arm64"
    )
    assert code == 0
    flip(root / "blobs" / "sha256" / hexpart(arm.manifest_digest), at=3)
    code, doc = verify_json(capsys, ref, "--digest", index["digest"], "--platform", "linux/arm64")
    assert code == 1 and failing(doc) == [("manifest", arm.manifest_digest)]


def test_docker_archive_refused(
    tmp_path: Path, image: BuiltImage, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = write_docker_archive([(image, ["app:1"])], tmp_path / "app.tar")
    code, _out, err = run(
        capsys, "verify", f"docker-archive:{archive}", "--digest", image.manifest_digest
    )
    assert code == 2 and "signatures live in a registry or an OCI layout" in err


# -- a real registry ---------------------------------------------------------------------


@pytest.fixture
def registry(tmp_path: Path, layout: Path) -> Iterator[tuple[Registry, Path]]:
    if not os.access(REGISTRY, os.X_OK) or SKOPEO is None:
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")
    root = tmp_path / "registry"
    reg = start_registry(root)
    try:
        push(layout, "1", f"{reg.host}/dig/app:1")
        yield reg, root / "storage"
    finally:
        stop_registry(reg)


def stored_blob(storage: Path, digest: str) -> Path:
    h = hexpart(digest)
    return storage / "docker" / "registry" / "v2" / "blobs" / "sha256" / h[:2] / h / "data"


def test_registry_matches_and_wrong_digest(
    registry: tuple[Registry, Path], image: BuiltImage, capsys: pytest.CaptureFixture[str]
) -> None:
    reg, _ = registry
    ref = f"registry:{reg.host}/dig/app:1"
    code, doc = verify_json(capsys, ref, "--digest", image.manifest_digest)
    assert code == 0, doc
    assert [b["what"] for b in doc["digests"]["blobs"]] == [
        "manifest",
        "config",
        "layer 0",
        "layer 1",
    ]
    code, _doc = verify_json(
        capsys,
        f"registry:{reg.host}/dig/app@{image.manifest_digest}",
        "--digest",
        image.manifest_digest,
    )
    assert code == 0
    code, out, _ = run(capsys, "verify", ref, "--digest", "sha256:" + "0" * 64)
    assert code == 1 and "not the released" in out


def test_registry_tampered_blob_fetched_afresh(
    registry: tuple[Registry, Path],
    image: BuiltImage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The image is pulled (and cached, verified) first; then a layer changes in the
    registry's storage. verify --digest must see it: it does not trust the cache."""
    reg, storage = registry
    ref = f"registry:{reg.host}/dig/app:1"
    cache = tmp_path / "cache"
    monkeypatch.setenv("HULLSCAN_CACHE_DIR", str(cache))
    open_image(ref, cache_dir=cache)
    assert any((cache / "registry").rglob("*"))
    digest = sha256(image.blobs[1])
    flip(stored_blob(storage, digest))
    code, doc = verify_json(capsys, ref, "--digest", image.manifest_digest)
    assert code == 1
    assert failing(doc) == [("layer 1", digest)]


def test_registry_tampered_manifest(
    registry: tuple[Registry, Path], image: BuiltImage, capsys: pytest.CaptureFixture[str]
) -> None:
    reg, storage = registry
    path = stored_blob(storage, image.manifest_digest)
    data = path.read_bytes()
    at = data.index(b'"size": ') + len(b'"size": ')
    path.write_bytes(data[:at] + (b"9" if data[at : at + 1] != b"9" else b"8") + data[at + 1 :])
    code, out, err = run(
        capsys, "verify", f"registry:{reg.host}/dig/app:1", "--digest", image.manifest_digest
    )
    assert code == 1, err
    assert "tampered" in out or "digest mismatch" in out


def test_registry_unreachable(
    tmp_path: Path, image: BuiltImage, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(
        capsys, "verify", "registry:127.0.0.1:9/dig/app:1", "--digest", image.manifest_digest
    )
    assert code == 2 and "hullscan: error" in err
