"""A blob verified as it was downloaded is not hashed again when its layer is read, and an
uncompressed one (blob digest = diff-id) is not hashed at all; every other check stays:
the size, the diff-id of a compressed layer, and the download's own digest check.
With ``registries.verify_diff_ids: false`` a compressed layer's diff-id is taken on
trust, and the layer cache keys on the blob digest instead."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from hullscan import streams
from hullscan.errors import ImageError
from hullscan.sources.registry import open_registry
from hullscan.streams import Limits, open_layer_stream

from imagebuilder import BuiltImage, build, debian_base, python_dist, sha256
from localregistry import count_sha256, mock_registry, pull_packages


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes fed to hash objects by the layer streams (on the hash thread or not)."""
    fed: list[int] = []
    lock = threading.Lock()
    real = streams._update

    def counting(hashers: tuple[Any, ...], data: memoryview | bytes) -> None:
        if hashers:
            with lock:
                fed.append(len(data))
        real(hashers, data)

    monkeypatch.setattr(streams, "_update", counting)
    return fed


def read_all(
    blob: bytes,
    digest: str | None,
    size: int | None,
    diff_id: str | None,
    verified: bool,
    check_diff_id: bool = True,
    check_blob: bool = True,
) -> streams.LayerStream:
    stream = open_layer_stream(
        io.BytesIO(blob),
        "layer",
        digest,
        size,
        diff_id,
        Limits(),
        verified=verified,
        check_diff_id=check_diff_id,
        check_blob=check_blob,
    )
    try:
        stream.verify()
    finally:
        stream.close()
    return stream


@pytest.fixture(scope="module")
def plain() -> BuiltImage:
    return build([debian_base(), [python_dist("requests", "2.31.0")]], compression="none")


@pytest.fixture(scope="module")
def gzipped() -> BuiltImage:
    return build([debian_base()], compression="gzip")


def test_verified_uncompressed_layer_is_not_hashed(plain: BuiltImage, hashed: list[int]) -> None:
    blob = plain.blobs[0]
    stream = read_all(blob, sha256(blob), len(blob), sha256(blob), verified=True)
    assert hashed == []
    assert stream.compression == "none"
    assert stream.blob_digest == sha256(blob) and stream.blob_size == len(blob)


def test_unverified_uncompressed_layer_is_hashed_once(plain: BuiltImage, hashed: list[int]) -> None:
    blob = plain.blobs[0]
    read_all(blob, sha256(blob), len(blob), sha256(blob), verified=False)
    assert sum(hashed) == len(blob)  # one hash object fed each byte once: both checks


def test_verified_blob_whose_diff_id_differs_is_still_hashed(plain: BuiltImage) -> None:
    """A config naming other bytes than the (verified) blob is refused."""
    blob = plain.blobs[0]
    with pytest.raises(ImageError, match=r"diff-id.*digest mismatch"):
        read_all(blob, sha256(blob), len(blob), sha256(plain.blobs[1]), verified=True)


def test_verified_compressed_layer_checks_its_diff_id_only(
    gzipped: BuiltImage, hashed: list[int]
) -> None:
    blob, tar = gzipped.blobs[0], gzipped.layers[0]
    stream = read_all(blob, sha256(blob), len(blob), sha256(tar), verified=True)
    assert sum(hashed) == len(tar)  # the uncompressed bytes, not the blob's
    assert stream.blob_digest == sha256(blob)
    with pytest.raises(ImageError, match=r"diff-id.*digest mismatch"):
        read_all(blob, sha256(blob), len(blob), sha256(tar + b"\0"), verified=True)


def _repacked(blob: bytes) -> bytes:
    """The same gzip stream with another mtime in its header: other bytes, same layer."""
    assert blob[:2] == b"\x1f\x8b"
    return blob[:4] + bytes([blob[4] ^ 1]) + blob[5:]


def test_a_layer_read_to_be_analysed_hashes_only_its_diff_id(
    gzipped: BuiltImage, hashed: list[int]
) -> None:
    """Read to be analysed, not copied (``check_blob=False``), a compressed layer whose
    diff-id is checked hashes only the inflated bytes: they are what was analysed, and
    they are the layer the config names however they were packed."""
    blob, tar = gzipped.blobs[0], gzipped.layers[0]
    read_all(blob, sha256(blob), len(blob), sha256(tar), verified=False, check_blob=False)
    assert sum(hashed) == len(tar)
    repacked = _repacked(blob)
    read_all(repacked, sha256(blob), len(blob), sha256(tar), verified=False, check_blob=False)
    # a copy (squash keeps base layers as they are) checks the blob's own bytes
    with pytest.raises(ImageError, match=r"blob: digest mismatch"):
        read_all(repacked, sha256(blob), len(blob), sha256(tar), verified=False)


def test_a_layer_read_to_be_analysed_still_checks_what_it_can(gzipped: BuiltImage) -> None:
    blob, tar = gzipped.blobs[0], gzipped.layers[0]
    other = sha256(tar + b"\0")
    with pytest.raises(ImageError, match=r"diff-id.*digest mismatch"):
        read_all(blob, sha256(blob), len(blob), other, verified=False, check_blob=False)
    with pytest.raises(ImageError, match=r"size|larger than"):
        read_all(blob, sha256(blob), len(blob) - 1, sha256(tar), verified=False, check_blob=False)
    # taken on trust, the diff-id vouches for nothing: the blob's digest is checked
    with pytest.raises(ImageError, match=r"blob: digest mismatch"):
        read_all(
            _repacked(blob),
            sha256(blob),
            len(blob),
            other,
            verified=False,
            check_diff_id=False,
            check_blob=False,
        )
    # without a diff-id to check, so is the blob's
    with pytest.raises(ImageError, match=r"blob: digest mismatch"):
        read_all(_repacked(blob), sha256(blob), len(blob), None, verified=False, check_blob=False)


@pytest.mark.parametrize("change", [-1, 1])
def test_verified_blob_of_another_size_is_refused(plain: BuiltImage, change: int) -> None:
    """The blob file is still counted against its descriptor's size."""
    blob = plain.blobs[0]
    size = len(blob) + change
    with pytest.raises(ImageError, match=r"size|larger than"):
        read_all(blob, sha256(blob), size, sha256(blob), verified=True)


def test_a_diff_id_taken_on_trust_is_not_hashed(gzipped: BuiltImage, hashed: list[int]) -> None:
    blob, tar = gzipped.blobs[0], gzipped.layers[0]
    wrong = sha256(tar + b"\0")
    read_all(blob, sha256(blob), len(blob), wrong, verified=True, check_diff_id=False)
    assert hashed == []  # nothing left to hash: the download checked the blob
    # a blob not verified before is still hashed, and refused when it is not its digest
    read_all(blob, sha256(blob), len(blob), wrong, verified=False, check_diff_id=False)
    assert sum(hashed) == len(blob)
    with pytest.raises(ImageError, match=r"blob: digest mismatch"):
        read_all(blob, sha256(blob + b"\0"), len(blob), wrong, verified=False, check_diff_id=False)


def test_an_uncompressed_layer_checks_its_diff_id_even_on_trust(plain: BuiltImage) -> None:
    """One hash serves both digests there: taking the diff-id on trust saves nothing."""
    blob = plain.blobs[0]
    with pytest.raises(ImageError, match=r"diff-id.*digest mismatch"):
        read_all(
            blob,
            sha256(blob),
            len(blob),
            sha256(plain.blobs[1]),
            verified=False,
            check_diff_id=False,
        )


def test_a_blob_another_process_hands_over_is_read_in_smaller_chunks(
    tmp_path: Path, plain: BuiltImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large reads from a file (or a connection of the reader's own); cache-sized ones
    while another process's download shares the cores."""
    from hullscan import layers
    from hullscan.blob import BlobRef

    path = tmp_path / "blob"
    path.write_bytes(plain.blobs[0])
    sizes: list[int] = []
    real = layers.open_layer_stream

    def recording(*args: Any, **kw: Any) -> streams.LayerStream:
        sizes.append(kw["chunk"])
        return real(*args, **kw)

    monkeypatch.setattr(layers, "open_layer_stream", recording)
    whole = BlobRef(str(path), 0, len(plain.blobs[0]))
    growing = BlobRef(str(tmp_path / "final"), 0, len(plain.blobs[0]), arriving=str(path))
    for blob in (whole, growing):
        source = layers.TarLayerSource(
            blob, "layer 0", sha256(plain.blobs[0]), len(plain.blobs[0]), sha256(plain.layers[0])
        )
        assert any(e.info is not None for e in source.walk(Limits()))
    assert not whole.fed and growing.fed
    assert sizes == [streams.READ_CHUNK, streams.DOWNLOAD_CHUNK]
    from hullscan.references import parse_reference
    from hullscan.sources.registry_fetch import RemoteBlob
    from hullscan.sources.registry_settings import RegistrySettings

    ref = parse_reference("registry:example.test/a/b:1")
    remote = RemoteBlob(ref, RegistrySettings(), "https", sha256(plain.blobs[0]), 10)
    assert not BlobRef(str(path), 0, 10, remote=remote).fed
    assert streams.READ_CHUNK > streams.DOWNLOAD_CHUNK


def test_verified_needs_a_digest(plain: BuiltImage) -> None:
    with pytest.raises(ValueError):
        read_all(plain.blobs[0], None, None, sha256(plain.blobs[0]), verified=True)


# -- through a pull ------------------------------------------------------------------------


def _serving(image: BuiltImage, tamper: frozenset[str] = frozenset()) -> httpx.MockTransport:
    def blob(digest: str, data: bytes) -> httpx.Response:
        if digest in tamper:  # same size, one byte changed: only the hash can tell
            data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
        return httpx.Response(200, content=data)

    return mock_registry(image, blob)


def _pull_and_inventory(
    image: BuiltImage, cache: Path, tamper: frozenset[str] = frozenset(), keep: bool = True
) -> set[tuple[str, str]]:
    return pull_packages(_serving(image, tamper), cache, workers=1, keep_layers=keep)


def test_pulled_uncompressed_layers_are_hashed_once_on_the_way_in(
    tmp_path: Path, plain: BuiltImage, hashed: list[int]
) -> None:
    found = _pull_and_inventory(plain, tmp_path)
    assert ("requests", "2.31.0") in found
    assert hashed == []  # the layer reads hashed nothing: the downloads did
    # a second scan from the blob cache (nothing downloaded) verifies the blobs again
    (tmp_path / "layers.sqlite").unlink()
    assert _pull_and_inventory(plain, tmp_path) == found
    assert sum(hashed) == sum(len(b) for b in plain.blobs)


@pytest.fixture
def every_hash(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes fed to any SHA-256 object made while the test runs (downloads, layer reads)."""
    return count_sha256(monkeypatch)


@pytest.mark.parametrize("verify_diff_ids", [True, False])
def test_a_piped_layer_is_hashed_once_by_its_reader(
    tmp_path: Path,
    plain: BuiltImage,
    genuine: BuiltImage,
    every_hash: list[int],
    verify_diff_ids: bool,
) -> None:
    """Piped to its worker and not kept, each layer's bytes are hashed once in all: the
    uncompressed layer's blob (its own diff-id), the compressed layer's inflated bytes
    where diff-ids are checked, its blob where they are taken on trust. The config and
    manifest are hashed on their way into the cache, as before."""
    ok = [("requests", "2.31.0")]
    for image in (plain, genuine):
        every_hash.clear()
        found = pull_packages(
            _serving(image),
            tmp_path / f"{len(image.blobs[0])}-{verify_diff_ids}",
            workers=1,
            keep_layers=False,
            verify_diff_ids=verify_diff_ids,
        )
        assert set(ok) <= found
        compressed = image is genuine
        hashed_layers = image.layers if compressed and verify_diff_ids else image.blobs
        metadata = len(image.config) + len(image.manifest)
        assert sum(every_hash) == sum(map(len, hashed_layers)) + metadata


@pytest.mark.parametrize("verify_diff_ids", [True, False])
def test_a_piped_layer_is_checked_by_its_reader(
    tmp_path: Path, genuine: BuiltImage, verify_diff_ids: bool
) -> None:
    """Not hashed on its way, a piped blob is still refused when it is not the layer: its
    content is checked against the diff-id (or, on trust, its bytes against the digest);
    and nothing of the refused layer is cached."""
    bad = sha256(genuine.blobs[1])
    with pytest.raises(ImageError, match=r"digest mismatch|corrupt gzip"):
        pull_packages(
            _serving(genuine, frozenset({bad})),
            tmp_path,
            workers=1,
            keep_layers=False,
            verify_diff_ids=verify_diff_ids,
        )
    found = pull_packages(
        _serving(genuine), tmp_path, 1, keep_layers=False, verify_diff_ids=verify_diff_ids
    )
    assert ("requests", "2.31.0") in found


def test_a_repacked_piped_layer_is_the_same_layer(tmp_path: Path, genuine: BuiltImage) -> None:
    """A registry serving other bytes that inflate to the very layer the config names (here
    another gzip header): checked by diff-id, that is the layer, and it is scanned; taken
    on trust, only the blob's digest can vouch for it, and it is refused."""

    def repacking(digest: str, data: bytes) -> httpx.Response:
        return httpx.Response(200, content=_repacked(data) if data[:2] == b"\x1f\x8b" else data)

    transport = mock_registry(genuine, repacking)
    found = pull_packages(transport, tmp_path / "checked", 1, keep_layers=False)
    assert ("requests", "2.31.0") in found
    with pytest.raises(ImageError, match=r"blob: digest mismatch"):
        pull_packages(transport, tmp_path / "trusting", 1, keep_layers=False, verify_diff_ids=False)


def test_tampered_uncompressed_blob_is_refused_and_not_cached(
    tmp_path: Path, plain: BuiltImage
) -> None:
    bad = sha256(plain.blobs[1])
    with pytest.raises(ImageError, match="digest mismatch"):
        _pull_and_inventory(plain, tmp_path, frozenset({bad}))
    blobs = tmp_path / "registry" / "blobs" / "sha256"
    assert not (blobs / bad[7:]).exists()
    assert not list(blobs.glob("*.partial"))
    # no analysis of the refused layer was kept: a clean pull reads it afresh
    assert ("requests", "2.31.0") in _pull_and_inventory(plain, tmp_path)


# -- diff-ids taken on trust (registries.verify_diff_ids: false) ---------------------------


@pytest.fixture(scope="module")
def genuine() -> BuiltImage:
    return build([debian_base(), [python_dist("requests", "2.31.0")]], compression="gzip")


@pytest.fixture(scope="module")
def liar(genuine: BuiltImage) -> BuiltImage:
    """Other bytes under the genuine image's diff-ids: its config names the genuine
    layers, its blobs (which its manifest pins) carry another package."""
    return build(
        [debian_base(), [python_dist("evil", "6.6.6")]],
        compression="gzip",
        config_extra={"rootfs": genuine.config_doc["rootfs"]},
    )


def test_a_trusting_pull_hashes_each_blob_once(
    tmp_path: Path, genuine: BuiltImage, hashed: list[int]
) -> None:
    """Kept in the cache; piped, see ``test_a_piped_layer_is_hashed_once_by_its_reader``."""
    checked = pull_packages(_serving(genuine), tmp_path / "checked", 1, keep_layers=True)
    assert sum(hashed) == sum(len(t) for t in genuine.layers)  # the diff-ids
    hashed.clear()
    trusting = pull_packages(
        _serving(genuine), tmp_path / "trusting", 1, keep_layers=True, verify_diff_ids=False
    )
    assert trusting == checked and ("requests", "2.31.0") in trusting
    assert hashed == []  # only the downloads hashed, each blob on its way in


def test_a_trusting_rescan_downloads_nothing(tmp_path: Path, genuine: BuiltImage) -> None:
    asked: list[str] = []
    inner = _serving(genuine)

    def recording(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return inner.handle_request(request)

    transport = httpx.MockTransport(recording)
    found = pull_packages(transport, tmp_path, 2, verify_diff_ids=False)
    layer_blobs = {f"/v2/a/b/blobs/{sha256(b)}" for b in genuine.blobs}
    assert layer_blobs <= set(asked)
    asked.clear()
    assert pull_packages(transport, tmp_path, 2, verify_diff_ids=False) == found
    assert not layer_blobs & set(asked)  # every layer's analysis came from the cache


def test_a_config_lying_about_its_diff_ids_does_not_poison_the_cache(
    tmp_path: Path, genuine: BuiltImage, liar: BuiltImage
) -> None:
    """Checked, the liar is refused; taken on trust, it is scanned for what its blobs hold,
    and its analyses, keyed by those blobs, are never served for the genuine layers the
    config named (keyed by diff-id, they would be: the genuine image would scan as the
    liar's content)."""
    with pytest.raises(ImageError, match=r"diff-id.*digest mismatch"):
        pull_packages(_serving(liar), tmp_path / "checked", 1)
    for workers in (1, 2):
        cache = tmp_path / f"trusting-{workers}"
        lied = pull_packages(_serving(liar), cache, workers, verify_diff_ids=False)
        assert ("evil", "6.6.6") in lied and ("requests", "2.31.0") not in lied
        for verify in (True, False):
            found = pull_packages(_serving(genuine), cache, workers, verify_diff_ids=verify)
            assert ("requests", "2.31.0") in found and ("evil", "6.6.6") not in found


# -- the order of downloads ----------------------------------------------------------------


@pytest.fixture(scope="module")
def sizes_vary() -> BuiltImage:
    """Four layers whose blob sizes are not in layer order (the third is the largest)."""
    from imagebuilder import file

    big = [file(f"opt/data/{n}", bytes(range(256)) * 40 * n) for n in range(1, 4)]
    return build(
        [[file("etc/a", "a")], [file("etc/b", "b" * 3000)], big, [file("etc/c", "c" * 9000)]],
        compression="none",
    )


def test_pulled_layers_download_and_start_largest_first(
    tmp_path: Path, sizes_vary: BuiltImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hullscan.pipeline import _largest_first
    from hullscan.sources import registry

    monkeypatch.setattr(registry, "DOWNLOAD_WORKERS", 1)  # one at a time: a fixed order
    asked: list[str] = []
    inner = _serving(sizes_vary)

    def recording(request: httpx.Request) -> httpx.Response:
        if "/blobs/" in request.url.path:
            asked.append(request.url.path.rsplit("/", 1)[1])
        return inner.handle_request(request)

    img = open_registry(
        "registry:example.test/a/b:1",
        None,
        Limits(),
        tmp_path,
        transport=httpx.MockTransport(recording),
        defer_layers=True,
    )
    try:
        by_size = sorted(range(4), key=lambda i: -len(sizes_vary.blobs[i]))
        assert by_size[0] == 2
        # the pipeline starts layers in the order their blobs are downloaded
        assert _largest_first(img, [0, 1, 2, 3]) == by_size
        for i in by_size:
            img.layer_ready(i)
    finally:
        img.close()
    layers = [a for a in asked if a != sizes_vary.config_digest]
    assert layers == [sha256(sizes_vary.blobs[i]) for i in by_size]


def test_concurrent_downloads_each_verify_their_digest(
    tmp_path: Path, sizes_vary: BuiltImage
) -> None:
    """Three at a time, every tampered blob is refused on its own and none is kept; the
    one served intact is kept."""
    tampered = frozenset(sha256(b) for b in sizes_vary.blobs[1:])
    img = open_registry(
        "registry:example.test/a/b:1",
        None,
        Limits(),
        tmp_path,
        transport=_serving(sizes_vary, tampered),
        defer_layers=True,
    )
    failed = []
    try:
        img.fetch_layers()
        for i in range(4):
            try:
                img.layer_ready(i)
            except ImageError as e:
                assert "digest mismatch" in str(e)
                failed.append(i)
    finally:
        img.close()
    assert failed == [1, 2, 3]
    kept = {p.name for p in (tmp_path / "blobs" / "sha256").iterdir()}
    assert sha256(sizes_vary.blobs[0])[7:] in kept
    assert not {d[7:] for d in tampered} & kept
    assert not any(name.endswith(".partial") for name in kept)
