"""A blob the registry cache holds damaged (a disk error, a hand edit) no longer stops scans
until ``hullscan cache verify`` drops it: once a read of it fails, it is re-hashed, and if
its content is not its digest it is downloaded again and read from the new copy, with a
warning. A failure the cache did not cause stands, and a good blob is never hashed twice."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import httpx
import pytest

from hullscan.errors import ImageError
from hullscan.inventory import default_analyzers
from hullscan.pipeline import ScanOptions, analyze_layers, build_inventory
from hullscan.sources.registry import open_registry
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.streams import Limits

from imagebuilder import BuiltImage, build, debian_base, python_dist, sha256
from localregistry import mock_registry

REF = "registry:example.test/a/b:1"


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    return build([debian_base(), [python_dist("requests", "2.31.0")]])


def _serving(
    image: BuiltImage, requests: Counter[str], tampered: frozenset[str] = frozenset()
) -> httpx.MockTransport:
    """The image, counting each blob's requests; blobs in ``tampered`` arrive altered."""

    def blob(digest: str, data: bytes) -> httpx.Response:
        requests[digest] += 1
        if digest in tampered:
            data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
        return httpx.Response(200, content=data)

    return mock_registry(image, blob)


def _scan(
    cache: Path, transport: httpx.MockTransport, workers: int
) -> tuple[set[tuple[str, str]], list[str]]:
    """Packages and warnings of a pull whose layer blobs are kept, analyses not cached."""
    settings = RegistrySettings(keep_layers=True)
    img = open_registry(
        REF, None, Limits(), cache / "registry", settings, transport=transport, defer_layers=True
    )
    try:
        analyses = analyze_layers(
            img,
            default_analyzers(),
            ScanOptions(cache_dir=cache, use_cache=False, workers=workers, registry=settings),
        )
    finally:
        img.close()
    return {(p.name, p.version) for p in build_inventory(img, analyses).packages}, img.warnings


def _damage(cache: Path, digest: str) -> Path:
    path = cache / "registry" / "blobs" / "sha256" / digest.removeprefix("sha256:")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _intact(path: Path) -> bool:
    return hashlib.sha256(path.read_bytes()).hexdigest() == path.name


@pytest.mark.parametrize("workers", [1, 2])
def test_a_damaged_cached_layer_is_downloaded_again(
    tmp_path: Path, image: BuiltImage, workers: int
) -> None:
    requests: Counter[str] = Counter()
    found, warnings = _scan(tmp_path, _serving(image, requests), workers)
    assert ("requests", "2.31.0") in found and not warnings
    top = sha256(image.blobs[-1])
    damaged = _damage(tmp_path, top)
    again, warnings = _scan(tmp_path, _serving(image, requests), workers)
    assert again == found
    assert warnings == [
        f"layer {len(image.blobs) - 1}: its cached blob was damaged and was downloaded again"
    ]
    assert _intact(damaged)
    # that blob alone came again; the intact ones were read from the cache, hashed once
    assert requests[top] == 2
    assert all(requests[sha256(b)] == 1 for b in image.blobs[:-1])


def test_a_damaged_cached_config_is_downloaded_again(tmp_path: Path, image: BuiltImage) -> None:
    requests: Counter[str] = Counter()
    found, _ = _scan(tmp_path, _serving(image, requests), 1)
    config = _damage(tmp_path, image.config_digest)
    assert _scan(tmp_path, _serving(image, requests), 1)[0] == found
    assert _intact(config) and requests[image.config_digest] == 2


def test_a_failure_the_cache_did_not_cause_stands(tmp_path: Path, image: BuiltImage) -> None:
    """The damaged copy is dropped, but the registry now serves altered bytes: the digest
    mismatch is the scan's error, and neither copy stays in the cache."""
    requests: Counter[str] = Counter()
    _scan(tmp_path, _serving(image, requests), 1)
    top = sha256(image.blobs[-1])
    damaged = _damage(tmp_path, top)
    with pytest.raises(ImageError, match="digest mismatch"):
        _scan(tmp_path, _serving(image, requests, tampered=frozenset({top})), 1)
    assert not damaged.exists()
    assert not list(damaged.parent.glob("*.partial"))
