"""The cache under damage: ``kill -9`` of a scan while it writes the layer cache or the blob
cache, entries damaged on disk, and a disk that fills up while the cache or a report is
written. A rescan is always right, no damaged entry is served, ``hullscan cache verify``
finds and drops what is damaged, and a full disk is one clear error (exit 2) that leaves
nothing partial behind."""

from __future__ import annotations

import contextlib
import fcntl
import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullscan import cli
from hullscan.sources.registry import BlobCache

from imagebuilder import (
    BuiltImage,
    build,
    debian_base,
    file,
    python_dist,
    sha256,
    write_docker_archive,
)

HULLSCAN = [sys.executable, "-c", "import sys; from hullscan.cli import main; sys.exit(main())"]
IN_CI = os.environ.get("CI") == "true"


def sbom(ref: str, cache: Path, config: Path | None = None) -> dict[str, object]:
    proc = subprocess.run(
        [
            *HULLSCAN,
            "sbom",
            ref,
            "--format",
            "json",
            "--cache-dir",
            str(cache),
            *(["--config", str(config)] if config else []),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, object] = json.loads(proc.stdout)
    return doc


def verify(cache: Path) -> str:
    proc = subprocess.run(
        [*HULLSCAN, "cache", "verify", "-v", "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def many_layers(n: int) -> BuiltImage:
    """An image whose scan writes the layer cache ``n`` times."""
    layers = [debian_base()]
    for i in range(n):
        layers.append(
            [
                python_dist(f"pkg{i}", f"1.{i}.0"),
                *(file(f"srv/l{i}/f{j}.txt", f"{i}-{j}\n" * 50) for j in range(40)),
            ]
        )
    return build(layers)


# -- cache verify ----------------------------------------------------------------------------


def test_verify_drops_damaged_layer_analyses_and_the_rescan_is_right(tmp_path: Path) -> None:
    archive = write_docker_archive([(many_layers(3), ["app:1"])], tmp_path / "app.tar")
    cache = tmp_path / "cache"
    solo = sbom(str(archive), cache)
    db = sqlite3.connect(cache / "layers.sqlite")
    with db:
        (key,) = db.execute("SELECT key FROM layer_analysis LIMIT 1").fetchone()
        db.execute("UPDATE layer_analysis SET data = ? WHERE key = ?", (b"\x78\x9cgarbage", key))
    db.close()
    out = verify(cache)
    assert f"dropped layer analysis {key}" in out and "1 damaged entries dropped" in out
    assert "nothing damaged" in verify(cache)
    assert sbom(str(archive), cache) == solo


def test_verify_drops_blobs_that_are_not_their_digest_and_dead_downloads(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "registry")
    good, bad = b"good blob", b"bad blob"
    for data in (good, bad):
        cache.put(sha256(data), iter([data]), len(data), len(data), "blob")
    cache.path(sha256(bad)).write_bytes(b"bad blob, changed on disk")
    blobs = cache.path(sha256(good)).parent
    dead = blobs / "ab12.x.partial"  # a download whose process was killed
    dead.write_bytes(b"half")
    live = blobs / "cd34.y.partial"  # a download running now holds a lock on its file
    live.write_bytes(b"half")
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_SH)
        checked, dropped = cache.verify()
    assert checked == 2
    assert sorted(dropped) == sorted([str(cache.path(sha256(bad))), str(dead)])
    assert cache.has(sha256(good)) and live.exists()


# -- kill -9 ---------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
    return out


def gone(pids: list[int], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{p}").exists() for p in pids):
            return True
        time.sleep(0.05)
    return False


def test_kill_while_writing_the_layer_cache(tmp_path: Path) -> None:
    """The scan is killed each time the cache's write-ahead log grows (a put in flight or
    just committed); every rescan is right, nothing is ever found damaged, and the scan's
    worker processes end with it."""
    archive = write_docker_archive([(many_layers(24), ["app:1"])], tmp_path / "app.tar")
    solo = sbom(str(archive), tmp_path / "solo-cache")
    cache = tmp_path / "cache"
    wal = cache / "layers.sqlite-wal"
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(
            [*HULLSCAN, "sbom", str(archive), "--format", "json", "--cache-dir", str(cache)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        start = wal.stat().st_size if wal.exists() else 0
        while proc.poll() is None and (wal.stat().st_size if wal.exists() else 0) <= start:
            time.sleep(0.002)
        if proc.poll() is None:
            workers = children(proc.pid)
            proc.send_signal(signal.SIGKILL)
            kills += 1
            assert gone(workers), f"workers {workers} outlived the killed scan"
        proc.wait()
        assert "nothing damaged" in verify(cache)
    assert kills >= 1
    assert sbom(str(archive), cache) == solo


class SlowRegistry(http.server.ThreadingHTTPServer):
    """A registry (``/v2/app``) serving one image, its layer blobs a trickle at a time."""

    def __init__(self, image: BuiltImage) -> None:
        self.docs = {"1": image.manifest, image.manifest_digest: image.manifest}
        self.blobs = {sha256(b): b for b in [image.config, *image.blobs]}
        #: the blobs whose (slow) bodies have begun
        self.sending: set[str] = set()
        super().__init__(("127.0.0.1", 0), SlowHandler)


class SlowHandler(http.server.BaseHTTPRequestHandler):
    server: SlowRegistry

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        name = path.rsplit("/", 1)[-1]
        if path == "/v2/":
            body, media, slow = b"{}", "application/json", False
        elif path.startswith("/v2/app/manifests/") and name in self.server.docs:
            body, media = self.server.docs[name], "application/vnd.oci.image.manifest.v1+json"
            slow = False
        elif path.startswith("/v2/app/blobs/") and name in self.server.blobs:
            body, media = self.server.blobs[name], "application/octet-stream"
            slow = len(body) > 100_000
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        step = 32 * 1024
        if slow:
            self.server.sending.add(name)
        with contextlib.suppress(OSError):
            for i in range(0, len(body), step):
                self.wfile.write(body[i : i + step])
                if slow:
                    self.wfile.flush()
                    time.sleep(0.05)


@pytest.fixture
def slow_registry() -> Iterator[tuple[str, BuiltImage, SlowRegistry]]:
    noise = os.urandom(2 * 1024 * 1024)  # incompressible: the download takes ~3 s
    image = build([debian_base(), [file("srv/blob.bin", noise)]], compression="none")
    server = SlowRegistry(image)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", image, server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("keep", [True, False], ids=["kept", "fetched-by-worker"])
def test_kill_while_writing_the_blob_cache(
    tmp_path: Path, slow_registry: tuple[str, BuiltImage, SlowRegistry], keep: bool
) -> None:
    """Killed mid-download: a ``.partial`` blob (``registries.keep_layers``) is no blob, and
    ``cache verify`` drops it; a layer its worker fetches leaves nothing on disk."""
    host, image, server = slow_registry
    big = sha256(max(image.blobs, key=len))
    ref = f"registry:{host}/app:1"
    cache = tmp_path / "cache"
    blobs = cache / "registry" / "blobs" / "sha256"
    config = tmp_path / "hullscan.yaml"
    config.write_text(f"registries: {{keep_layers: {str(keep).lower()}}}\n")
    proc = subprocess.Popen(
        [
            *HULLSCAN,
            "sbom",
            ref,
            "--format",
            "json",
            "--cache-dir",
            str(cache),
            "--config",
            str(config),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    left: list[Path] = []
    while not left and proc.poll() is None and time.monotonic() < deadline:
        if keep:
            left = (
                [p for p in blobs.glob("*.partial") if p.stat().st_size > 0]
                if blobs.is_dir()
                else []
            )
        elif big in server.sending:
            time.sleep(0.2)  # well into the download
            left = [blobs]
        time.sleep(0.01)
    assert left, "the scan never began a download"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # what the killed download left is no blob: never served, and verify drops it
    assert not (blobs / big.split(":")[1]).exists()
    out = verify(cache)
    if keep:
        assert "dropped" in out and ".partial" in out
    else:
        assert "dropped" not in out, out
    assert not list(blobs.glob("*.partial"))
    assert not list((cache / "registry" / "tmp").glob("pipes-*"))
    rescan = sbom(ref, cache, config)
    assert sbom(ref, tmp_path / "solo-cache") == rescan
    assert (blobs / big.split(":")[1]).exists() == keep


# -- a full disk -----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs (root only: CI runs as root)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        if IN_CI:
            pytest.fail(f"cannot mount a tmpfs: {done.stderr}")
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` up to ``leave`` free bytes."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with open(disk / "filler", "wb") as f:
        f.write(b"\0" * max(free - leave, 0))


def test_report_on_a_full_disk(
    tmp_path: Path, small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = write_docker_archive([(many_layers(2), ["app:1"])], tmp_path / "app.tar")
    fill(small_disk, 8 * 1024)
    out = small_disk / "sbom.json"
    code = cli.main(
        [
            "sbom",
            str(archive),
            "--format",
            "cyclonedx",
            "-o",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"hullscan: error: cannot write {out}: the disk is full"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_cache_on_a_full_disk(
    tmp_path: Path, small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = write_docker_archive([(many_layers(12), ["app:1"])], tmp_path / "app.tar")
    cache = small_disk / "cache"
    fill(small_disk, 96 * 1024)
    code = cli.main(["sbom", str(archive), "--format", "json", "--cache-dir", str(cache)])
    captured = capsys.readouterr()
    assert code == 2, captured.out
    assert captured.out == ""  # no report pretends to be complete
    assert "hullscan: error: cannot write" in captured.err and "the disk is full" in captured.err
    assert "Traceback" not in captured.err
    # nothing partial: what the cache holds decodes, its temporary directory is empty
    (small_disk / "filler").unlink()
    assert "nothing damaged" in verify(cache)
    assert list((cache / "tmp").iterdir()) == []
    assert sbom(str(archive), cache) == sbom(str(archive), tmp_path / "solo-cache")
