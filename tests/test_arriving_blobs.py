"""A pulled layer is read while its blob downloads: the reader follows the download's file
as it grows (``registries.keep_layers``) or reads the FIFO the download sends it through
(the default: nothing of the blob is written), stops when the download gives up, and the
analysis counts only once the blob's digest checked out (a tampered blob is refused and
nothing of it is cached; a download that breaks and starts again gives the same
inventory)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hullscan.blob import BlobRef, BlobWithdrawn
from hullscan.errors import ImageError
from hullscan.sources import registry

from imagebuilder import BuiltImage, build, debian_base, python_dist, sha256
from localregistry import mock_registry, pull_packages

DATA = os.urandom(300_000)


def _write_slowly(partial: Path, data: bytes, then: str, final: Path | None = None) -> None:
    """Append ``data`` in pieces, then ``rename`` it to ``final`` or ``unlink`` it."""
    with open(partial, "ab") as f:
        for at in range(0, len(data), 50_000):
            f.write(data[at : at + 50_000])
            f.flush()
            time.sleep(0.01)
    if then == "rename":
        assert final is not None
        os.replace(partial, final)
    else:
        os.unlink(partial)


def _read(ref: BlobRef) -> bytes:
    out = bytearray()
    with ref.open() as f:
        while chunk := f.read(64 * 1024):
            out += chunk
    return bytes(out)


def test_a_reader_follows_the_download_to_its_end(tmp_path: Path) -> None:
    partial, final = tmp_path / "blob.partial", tmp_path / "blob"
    partial.write_bytes(b"")
    writer = threading.Thread(target=_write_slowly, args=(partial, DATA, "rename", final))
    writer.start()
    try:
        got = _read(BlobRef(str(final), 0, len(DATA), arriving=str(partial)))
    finally:
        writer.join()
    assert got == DATA


def test_a_reader_opened_after_the_download_reads_the_blob(tmp_path: Path) -> None:
    final = tmp_path / "blob"
    final.write_bytes(DATA)
    assert _read(BlobRef(str(final), 0, len(DATA), arriving=str(tmp_path / "gone"))) == DATA


def test_a_reader_stops_when_the_download_gives_up(tmp_path: Path) -> None:
    partial = tmp_path / "blob.partial"
    partial.write_bytes(b"")
    writer = threading.Thread(target=_write_slowly, args=(partial, DATA[:120_000], "unlink"))
    writer.start()
    try:
        with pytest.raises(BlobWithdrawn, match="download stopped"):
            _read(BlobRef(str(tmp_path / "blob"), 0, len(DATA), arriving=str(partial)))
    finally:
        writer.join()


def test_a_download_given_up_before_the_reader_opened_it(tmp_path: Path) -> None:
    with pytest.raises(BlobWithdrawn, match="download stopped"):
        BlobRef(str(tmp_path / "blob"), 0, 10, arriving=str(tmp_path / "blob.partial")).open()


def test_an_arriving_blob_needs_its_length(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="length"):
        BlobRef(str(tmp_path / "blob"), arriving=str(tmp_path / "p")).open()


# -- through a pull, with two worker processes ---------------------------------------------


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    return build(
        [debian_base(), [python_dist("requests", "2.31.0")], [python_dist("idna", "3.6")]],
        compression="gzip",
    )


@pytest.fixture(scope="module")
def plain() -> BuiltImage:
    """Uncompressed: blobs of tens of kilobytes, which a download can break halfway in."""
    return build(
        [debian_base(), [python_dist("requests", "2.31.0")], [python_dist("idna", "3.6")]],
        compression="none",
    )


def _serving(
    image: BuiltImage,
    tamper: frozenset[str] = frozenset(),
    break_once: frozenset[str] = frozenset(),
) -> httpx.MockTransport:
    """The image's registry; blob bodies come in pieces with pauses (so that the
    analysis runs ahead of the download); ``tamper``: one byte changed; ``break_once``:
    the first download stops halfway with a broken connection."""
    broken: set[str] = set()

    def pieces(data: bytes, fail_at: int | None) -> Iterator[bytes]:
        # the first piece waits too: a blob of one piece is still downloading when the
        # scan, on a busy machine, gets round to handing its layer to a worker
        time.sleep(0.02)
        for at in range(0, len(data), 4096):
            if fail_at is not None and at >= fail_at:
                raise httpx.ReadError("connection reset")
            yield data[at : at + 4096]
            # a download that will break is slow: its reader has time to open it
            time.sleep(0.002 if fail_at is None else 0.05)

    def blob(digest: str, data: bytes) -> httpx.Response:
        if digest in tamper:
            data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
        fail_at = None
        if digest in break_once and digest not in broken:
            broken.add(digest)
            fail_at = len(data) // 2
        return httpx.Response(
            200, content=pieces(data, fail_at), headers={"Content-Length": str(len(data))}
        )

    return mock_registry(image, blob)


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each layer handed to a worker: whether it was read while downloading."""
    seen: list[bool] = []
    real = registry._Downloads.streaming

    def recording(self: registry._Downloads, index: int, source: object) -> object:
        out = real(self, index, source)  # type: ignore[arg-type]
        blob = getattr(out, "blob", None)
        seen.append(
            getattr(blob, "arriving", None) is not None or getattr(blob, "pipe", None) is not None
        )
        return out

    monkeypatch.setattr(registry._Downloads, "streaming", recording)
    return seen


def _pull(cache: Path, transport: httpx.MockTransport, keep: bool) -> set[tuple[str, str]]:
    return pull_packages(transport, cache, workers=2, keep_layers=keep)


def _kept_layers(cache: Path, image: BuiltImage) -> set[str]:
    blobs = cache / "registry" / "blobs" / "sha256"
    return {d for d in (sha256(b) for b in image.blobs) if (blobs / d[7:]).exists()}


KEEP = pytest.mark.parametrize("keep", [False, True], ids=["piped", "kept"])


@KEEP
def test_layers_are_read_while_they_download(
    tmp_path: Path, image: BuiltImage, streamed: list[bool], keep: bool
) -> None:
    found = _pull(tmp_path / "a", _serving(image), keep)
    assert {("requests", "2.31.0"), ("idna", "3.6")} <= found
    assert len(streamed) == 3 and (any(streamed) if keep else all(streamed))
    assert _kept_layers(tmp_path / "a", image) == (
        {sha256(b) for b in image.blobs} if keep else set()
    )
    assert not list((tmp_path / "a" / "registry").rglob("pipes-*"))
    # the same as a scan of blobs already here, or of analyses cached
    assert _pull(tmp_path / "a", _serving(image), keep) == found
    assert _pull(tmp_path / "b", _serving(image), not keep) == found
    # one worker: this process reads each layer as it arrives, in the downloads' order
    assert pull_packages(_serving(image), tmp_path / "c", 1, keep_layers=keep) == found
    assert _kept_layers(tmp_path / "c", image) == _kept_layers(tmp_path / "a", image)


@KEEP
def test_a_tampered_blob_read_while_arriving_is_refused_and_nothing_kept(
    tmp_path: Path, image: BuiltImage, streamed: list[bool], keep: bool
) -> None:
    bad = sha256(image.blobs[1])
    # kept, the download's digest check refuses it; piped, the worker's inflating does
    with pytest.raises(ImageError, match="digest mismatch" if keep else "corrupt gzip"):
        _pull(tmp_path, _serving(image, tamper=frozenset({bad})), keep)
    blobs = tmp_path / "registry" / "blobs" / "sha256"
    assert not (blobs / bad[7:]).exists()
    assert not list(blobs.glob("*.partial"))
    db = sqlite3.connect(tmp_path / "layers.sqlite")
    try:
        diff_ids = {row[0] for row in db.execute("SELECT diff_id FROM layer_analysis")}
    finally:
        db.close()
    assert sha256(image.layers[1]) not in diff_ids  # the refused layer's analysis was not kept
    assert {("requests", "2.31.0"), ("idna", "3.6")} <= _pull(tmp_path, _serving(image), keep)


@KEEP
def test_a_download_that_breaks_and_starts_again_gives_the_same_inventory(
    tmp_path: Path,
    plain: BuiltImage,
    streamed: list[bool],
    monkeypatch: pytest.MonkeyPatch,
    keep: bool,
) -> None:
    image = plain
    from hullscan import pipeline

    whole = _pull(tmp_path / "whole", _serving(image), keep)
    again: list[str] = []  # layers this process read again (workers count in their own)
    real = pipeline.analyze_layer

    def counting(source: object, *args: object) -> object:
        again.append(str(getattr(source, "label", "")))
        return real(source, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "analyze_layer", counting)
    breaks = frozenset(sha256(b) for b in image.blobs)
    assert _pull(tmp_path / "broken", _serving(image, break_once=breaks), keep) == whole
    assert again  # a worker lost its download halfway, and the blob was read again whole
    assert not list((tmp_path / "broken" / "registry").rglob("*.partial"))
    # downloaded again into the cache: the second attempt is read from there
    assert _kept_layers(tmp_path / "broken", image) == {sha256(b) for b in image.blobs}


# -- a blob sent through a FIFO, kept nowhere ----------------------------------------------


def _fifo(tmp_path: Path) -> Path:
    fifo = tmp_path / "blob.pipe"
    os.mkfifo(fifo)
    return fifo


def _send(fifo: Path, data: bytes, results: list[object]) -> None:
    """The download's side: connect once the reader has, send ``data``, close."""
    fd = registry._open_writer(str(fifo), threading.Event())
    assert fd is not None
    try:
        with open(fd, "wb") as out:
            for at in range(0, len(data), 50_000):
                out.write(data[at : at + 50_000])
        results.append("sent")
    except BrokenPipeError as e:
        results.append(e)


def test_a_piped_blob_is_read_whole(tmp_path: Path) -> None:
    fifo, results = _fifo(tmp_path), []
    writer = threading.Thread(target=_send, args=(fifo, DATA, results))
    writer.start()
    try:
        got = _read(BlobRef(str(tmp_path / "blob"), 0, len(DATA), pipe=str(fifo)))
    finally:
        writer.join()
    assert got == DATA and results == ["sent"]


def test_a_piped_blob_cut_short_is_withdrawn(tmp_path: Path) -> None:
    fifo, results = _fifo(tmp_path), []
    writer = threading.Thread(target=_send, args=(fifo, DATA[:120_000], results))
    writer.start()
    try:
        with pytest.raises(BlobWithdrawn, match="download stopped"):
            _read(BlobRef(str(tmp_path / "blob"), 0, len(DATA), pipe=str(fifo)))
    finally:
        writer.join()


def test_a_reader_done_early_still_lets_the_download_reach_its_end(tmp_path: Path) -> None:
    """A tar walk stops at the end-of-archive blocks; the rest must still be read, or the
    download could not check the digest (it would fail on a broken pipe)."""
    fifo, results = _fifo(tmp_path), []
    data = DATA * 10  # more than the FIFO holds (1 MiB)
    writer = threading.Thread(target=_send, args=(fifo, data, results))
    writer.start()
    try:
        with BlobRef(str(tmp_path / "blob"), 0, len(data), pipe=str(fifo)).open() as f:
            assert f.read(1000) == data[:1000]
    finally:
        writer.join(10)
    assert results == ["sent"]


def test_a_reader_waiting_for_a_download_that_gave_up(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path)
    threading.Timer(0.3, os.unlink, args=(fifo,)).start()  # as the download does
    start = time.monotonic()
    with pytest.raises(BlobWithdrawn, match="download stopped"):
        BlobRef(str(tmp_path / "blob"), 0, 10, pipe=str(fifo)).open()
    assert time.monotonic() - start < 5
    with pytest.raises(BlobWithdrawn):  # and one that comes after
        BlobRef(str(tmp_path / "blob"), 0, 10, pipe=str(fifo)).open()


def test_a_download_waiting_for_its_reader_stops_when_the_pull_closes(tmp_path: Path) -> None:
    fifo, closing = _fifo(tmp_path), threading.Event()
    threading.Timer(0.2, closing.set).start()
    assert registry._open_writer(str(fifo), closing) is None


def test_a_worker_dying_mid_layer_is_the_error_not_its_broken_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The download then finds its pipe broken; that is a consequence, not the cause."""
    from concurrent.futures.process import BrokenProcessPool

    from hullscan import pipeline

    from imagebuilder import file

    # layers larger than the pipe holds (1 MiB): their downloads meet the broken pipe, or
    # wait for a reader the broken pool never starts (the first layer, the smallest, is
    # started last, and its result is the first one waited for)
    image = build(
        [
            [*debian_base(), file("opt/a", os.urandom(3 << 19))],
            [python_dist("requests", "2.31.0"), file("opt/b", os.urandom(3 << 20))],
            [file("opt/c", os.urandom(3 << 20))],
            [file("opt/d", os.urandom(3 << 20))],
        ],
        compression="none",
    )

    def dying(source: object, *args: object) -> object:
        blob = getattr(source, "blob", None)
        if getattr(blob, "pipe", None) is not None:
            f = blob.open()  # type: ignore[union-attr]
            f.read(1000)
            os._exit(3)  # as the kernel's OOM killer would end it
        return real(source, *args)  # type: ignore[arg-type]

    real = pipeline._analyze_one
    # pickled by reference into the forked workers, which see this module's patch
    dying.__qualname__, dying.__module__ = "_analyze_one", "hullscan.pipeline"
    monkeypatch.setattr(pipeline, "_analyze_one", dying)
    with pytest.raises(BrokenProcessPool):
        _pull(tmp_path, mock_registry(image), keep=False)
    monkeypatch.undo()
    assert not list((tmp_path / "registry").rglob("pipes-*"))
    assert ("requests", "2.31.0") in _pull(tmp_path, mock_registry(image), False)
