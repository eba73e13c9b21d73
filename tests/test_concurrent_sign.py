"""Several ``hullscan sign`` processes on one image at once keep every signature: on an OCI
layout they take turns under a lock and re-read index.json; on a registry they take turns
on this machine and read the tag back, running the cycle again when another writer
replaced it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hullscan.supplychain import keys as K
from hullscan.supplychain.signatures import check_signatures

from imagebuilder import BuiltImage, build, debian_base, python_dist, write_oci
from localregistry import REGISTRY, SKOPEO, push, start_registry, stop_registry

REF_NAME = "org.opencontainers.image.ref.name"
#: signers started at once: enough that unserialized writers overwrite each other
SIGNERS = 6
HULLSCAN = [sys.executable, "-c", "import sys; from hullscan.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    return build([debian_base(), [python_dist("idna", "3.6")]])


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    key = ec.generate_private_key(ec.SECP256R1())
    (d / "signer.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (d / "signer.pub").write_bytes(K.public_pem(key.public_key()))
    return d / "signer.key", d / "signer.pub"


def sign_at_once(ref: str, key: Path, cache: Path, *extra: str) -> None:
    env = {**os.environ, "HULLSCAN_CACHE_DIR": str(cache)}
    procs = [
        subprocess.Popen(
            [*HULLSCAN, "sign", ref, "--key", str(key), "-a", f"signer={i}", *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(SIGNERS)
    ]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err


def test_signers_of_one_layout_keep_every_signature(
    tmp_path: Path, image: BuiltImage, keys: tuple[Path, Path]
) -> None:
    layout = write_oci([(image, {"annotations": {REF_NAME: "1"}})], tmp_path / "oci")
    key, pub = keys
    sign_at_once(f"oci:{layout}:1", key, tmp_path / "cache")
    checks = check_signatures(f"oci:{layout}:1", image.manifest_digest, [pub])
    assert len(checks) == SIGNERS and all(c.problem is None for c in checks), checks
    # one signature manifest, holding every signer's layer
    index = json.loads((layout / "index.json").read_text())["manifests"]
    assert sum(1 for m in index if m.get("annotations", {}).get(REF_NAME, "").endswith(".sig")) == 1
    leftovers = [p.name for p in layout.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_bundle_signers_of_one_layout_keep_every_referrer(
    tmp_path: Path, image: BuiltImage, keys: tuple[Path, Path]
) -> None:
    layout = write_oci([(image, {"annotations": {REF_NAME: "1"}})], tmp_path / "oci")
    key, pub = keys
    sign_at_once(f"oci:{layout}:1", key, tmp_path / "cache", "--bundle")
    checks = check_signatures(f"oci:{layout}:1", image.manifest_digest, [pub])
    assert len(checks) == SIGNERS and all(c.problem is None for c in checks), checks


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, image: BuiltImage) -> Iterator[str]:
    if not os.access(REGISTRY, os.X_OK) or SKOPEO is None:
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")
    root = tmp_path_factory.mktemp("concurrent-sign")
    layout = write_oci([(image, {"annotations": {REF_NAME: "1"}})], root / "oci")
    reg = start_registry(root / "registry")
    try:
        for repo in ("race/classic", "race/bundle"):
            push(layout, "1", f"{reg.host}/{repo}:1")
        yield reg.host
    finally:
        stop_registry(reg)


def test_signers_of_one_registry_tag_keep_every_signature(
    tmp_path: Path, registry: str, image: BuiltImage, keys: tuple[Path, Path]
) -> None:
    key, pub = keys
    ref = f"registry:{registry}/race/classic:1"
    sign_at_once(ref, key, tmp_path / "cache")
    checks = check_signatures(ref, image.manifest_digest, [pub])
    assert len(checks) == SIGNERS and all(c.problem is None for c in checks), checks


def test_bundle_signers_of_one_referrers_index_keep_every_referrer(
    tmp_path: Path, registry: str, image: BuiltImage, keys: tuple[Path, Path]
) -> None:
    """docker-registry 2.8 has no referrers API: the bundles are listed in the
    ``sha256-<hex>`` index tag, which every signer rewrites."""
    key, pub = keys
    ref = f"registry:{registry}/race/bundle:1"
    sign_at_once(ref, key, tmp_path / "cache", "--bundle")
    tag = "sha256-" + image.manifest_digest.split(":")[1]
    index = httpx.get(
        f"http://{registry}/v2/race/bundle/manifests/{tag}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
    ).json()
    assert len(index["manifests"]) == SIGNERS
    checks = check_signatures(ref, image.manifest_digest, [pub])
    assert len(checks) == SIGNERS and all(c.problem is None for c in checks), checks
