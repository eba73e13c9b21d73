"""Hostile and broken input: every case gives one clear error line and exit code 2, or a
warning in a report that is otherwise complete; never a traceback, never a write outside
the cache, never a read outside the image."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import stat
import tarfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hullscan import api, cli
from hullscan.errors import ImageError
from hullscan.filesystem import ImageFilesystem
from hullscan.inventory import default_analyzers
from hullscan.model import Inventory
from hullscan.pipeline import ScanOptions, analyze_layers, inventory
from hullscan.sources import open_image
from hullscan.streams import Limits

from imagebuilder import (
    DPKG_STATUS,
    BuiltImage,
    Node,
    build,
    debian_base,
    docker_archive_members,
    file,
    gzip_zeros_layer,
    hardlink,
    layer_tar,
    manifest_descriptor,
    python_dist,
    rebuild,
    sha256,
    symlink,
    write_blob,
    write_docker_archive,
    write_image_blobs,
    write_index_blob,
    write_oci,
    write_oci_from_blob_files,
    write_oci_index,
    write_rootfs,
    write_tar,
)

SITE = "usr/lib/python3/site-packages"
MiB = 1024 * 1024


# -- helpers --------------------------------------------------------------------------------


def options(tmp_path: Path, limits: Limits | None = None, **kw: Any) -> ScanOptions:
    return ScanOptions(cache_dir=tmp_path / "cache", workers=1, limits=limits or Limits(), **kw)


def scan(ref: str | Path, tmp_path: Path, limits: Limits | None = None) -> Inventory:
    return inventory(str(ref), options(tmp_path, limits))


def run_cli(
    ref: str | Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    code = cli.main(["sbom", str(ref), "--cache-dir", str(tmp_path / "c"), *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def with_cli_limits(monkeypatch: pytest.MonkeyPatch, limits: Limits) -> None:
    """The command line has no option for the bounds; tests lower them like this."""

    def lowered(**kw: Any) -> ScanOptions:
        return ScanOptions(limits=limits, **kw)

    monkeypatch.setattr(api, "ScanOptions", lowered)


def assert_error(
    ref: str | Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *needles: str,
    limits: Limits | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> str:
    """The library raises an ImageError naming ``needles``; the CLI exits 2 with exactly
    that one line on stderr and prints no report."""
    with pytest.raises(ImageError) as e:
        scan(ref, tmp_path, limits)
    message = str(e.value)
    for needle in needles:
        assert needle.lower() in message.lower(), message
    if limits is not None:
        assert monkeypatch is not None
        with_cli_limits(monkeypatch, limits)
    code, out, err = run_cli(ref, tmp_path, capsys)
    assert code == 2, (out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hullscan: error:"), err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]
    return lines[0]


def assert_completes(
    ref: str | Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    limits: Limits | None = None,
) -> tuple[Inventory, dict[str, Any]]:
    """The scan completes in the library and on the command line (exit 0, JSON report)."""
    inv = scan(ref, tmp_path, limits)
    code, out, err = run_cli(ref, tmp_path, capsys, "--format", "json")
    assert code == 0, err
    assert err == ""
    report = json.loads(out)
    assert sorted(report["warnings"]) == sorted(inv.warnings)
    return inv, report


def names(inv: Inventory) -> set[str]:
    return {p.name for p in inv.packages}


def oci(tmp_path: Path, img: BuiltImage, name: str = "layout") -> Path:
    return write_oci([(img, {})], tmp_path / name)


def blob_path(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def listing(root: Path, skip: tuple[str, ...] = ("c", "cache")) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.relative_to(root).parts[0] not in skip
    )


def payload_appeared(token: str, tmp_path: Path) -> list[str]:
    """Anywhere a file named like the payload could have been written by a naive extractor."""
    candidates = [
        Path("/tmp") / token,
        Path("/") / token,
        Path.cwd() / token,
        Path.cwd().parent / token,
        Path.cwd().parent.parent / token,
        tmp_path.parent / token,
        tmp_path.parent.parent / token,
    ]
    found = [str(p) for p in candidates if os.path.lexists(p)]
    found += [str(p) for p in tmp_path.rglob(f"*{token}*")]
    found += [p for p in map(str, Path("/tmp").glob(f"*{token}*"))]
    found += [p for p in map(str, Path("/tmp").glob(f"*/*{token}*"))]
    return found


def tar_of(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in entries:
            if data is not None:
                ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


# -- paths that escape ----------------------------------------------------------------------


def test_layer_entries_that_climb_out_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = f"hullscan-pwned-{uuid.uuid4().hex[:12]}"
    nodes = [
        python_dist("legit", "1.0"),
        file(f"../../{token}", "pwned"),
        file(f"../../../../../../tmp/{token}", "pwned"),
        file(f"usr/../../{token}", "pwned"),
        file(
            f"../{token}/{SITE}/evil-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: evil\nVersion: 6.6.6\n\n",
        ),
        symlink(f"../{token}-link", "/etc/passwd"),
    ]
    img = build([nodes])
    archive = write_docker_archive([(img, ["x:1"])], tmp_path / "img.tar")
    layout = oci(tmp_path, img)
    before = listing(tmp_path)
    for ref in (archive, layout):
        inv, _ = assert_completes(ref, tmp_path, capsys)
        assert names(inv) == {"legit"}
        escapes = [w for w in inv.warnings if "escapes the image root" in w]
        assert len(escapes) == 5, inv.warnings
        assert all(f"{token}" in w for w in escapes)
    assert listing(tmp_path) == before
    assert payload_appeared(token, tmp_path) == []


def test_absolute_entry_names_stay_inside_the_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Layer tars may name entries ``/usr/...``: they are the image's ``usr/...``."""
    token = f"hullscan-pwned-{uuid.uuid4().hex[:12]}"
    img = build(
        [
            [
                file(f"/tmp/{token}", "pwned"),
                file(f"/{token}", "pwned"),
                python_dist("absolute", "1.0", f"/{SITE}"),
            ]
        ]
    )
    layout = oci(tmp_path, img)
    before = listing(tmp_path)
    inv, _ = assert_completes(layout, tmp_path, capsys)
    assert names(inv) == {"absolute"}
    assert inv.packages[0].locations[0].path == f"{SITE}/absolute-1.0.dist-info/METADATA"
    image = open_image(str(layout))
    fs = ImageFilesystem(analyze_layers(image, default_analyzers(), options(tmp_path)))
    assert fs.lookup(f"tmp/{token}") is not None and fs.lookup(token) is not None
    assert listing(tmp_path) == before
    assert payload_appeared(token, tmp_path) == []


def test_outer_archive_members_that_climb_out_are_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = f"hullscan-pwned-{uuid.uuid4().hex[:12]}"
    members = docker_archive_members([(build([[python_dist("legit", "1.0")]]), ["x:1"])])
    members = {
        f"../../{token}": b"pwned",
        f"/tmp/{token}": b"pwned",
        f"../../../tmp/{token}.json": b"{}",
        **members,
    }
    archive = write_tar(tmp_path / "img.tar", members)
    before = listing(tmp_path)
    inv, _ = assert_completes(archive, tmp_path, capsys)
    assert names(inv) == {"legit"}
    assert listing(tmp_path) == before
    assert payload_appeared(token, tmp_path) == []


def test_manifest_naming_members_outside_the_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    members = docker_archive_members([(build([[python_dist("legit", "1.0")]]), ["x:1"])])
    manifest = json.loads(members["manifest.json"])
    for config, needle in (
        ("../../../../etc/passwd", "escapes the archive"),
        ("/etc/passwd", "missing"),
        ("/proc/self/environ", "missing"),
    ):
        manifest[0]["Config"] = config
        members["manifest.json"] = json.dumps(manifest).encode()
        archive = write_tar(tmp_path / "img.tar", members)
        assert_error(archive, tmp_path, capsys, needle)


def test_symlink_escape_then_write_through_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = f"hullscan-pwned-{uuid.uuid4().hex[:12]}"
    nodes = [
        symlink("evil", "/"),
        file(f"evil/tmp/{token}", "pwned"),
        symlink("evil2", "../../.."),
        file(f"evil2/tmp/{token}-2", "pwned"),
        symlink("etc/evil3", "../../../../../../../../tmp"),
        file(f"etc/evil3/{token}-3", "pwned"),
        python_dist("through", "1.0", f"evil/{SITE}"),
    ]
    img = build([nodes])
    layout = oci(tmp_path, img)
    before = listing(tmp_path)
    inv, _ = assert_completes(layout, tmp_path, capsys)
    assert listing(tmp_path) == before
    assert payload_appeared(token, tmp_path) == []
    image = open_image(str(layout))
    fs = ImageFilesystem(analyze_layers(image, default_analyzers(), options(tmp_path)))
    assert fs.resolve(f"evil/tmp/{token}") == f"tmp/{token}"
    assert fs.resolve(f"evil2/tmp/{token}-2") == f"tmp/{token}-2"
    assert fs.resolve(f"etc/evil3/{token}-3") == f"tmp/{token}-3"
    assert fs.resolve("evil/../../../etc/passwd") == "etc/passwd"
    assert fs.lookup("etc/passwd") is None
    # what was written "through" the link is an entry of the image, nothing more
    assert {p.locations[0].path for p in inv.packages} <= {
        f"evil/{SITE}/through-1.0.dist-info/METADATA"
    }


def test_package_databases_behind_links_to_the_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Symlinks from wanted paths to host files resolve inside the image, where nothing is."""
    img = build(
        [
            [
                symlink("var/lib/dpkg/status", "/etc/passwd"),
                symlink("etc/os-release", "../../../../../../etc/os-release"),
                symlink("usr/lib/os-release", "/proc/self/environ"),
                symlink("lib/apk/db/installed", "/etc/shadow"),
            ]
        ]
    )
    layout = oci(tmp_path, img)
    inv, report = assert_completes(layout, tmp_path, capsys)
    assert inv.packages == () and inv.os is None
    if os.path.exists("/etc/passwd"):
        first = Path("/etc/passwd").read_text(errors="replace").splitlines()[:1]
        assert not first or first[0] not in json.dumps(report)


def test_hard_links_that_escape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nodes = [
        python_dist("legit", "1.0"),
        hardlink(f"{SITE}/evil-1.0.dist-info/METADATA", "../../../../etc/passwd"),
        hardlink("var/lib/dpkg/status", "/etc/passwd"),  # the image's etc/passwd: absent
        hardlink("etc/os-release", "usr/../../../../etc/os-release"),
    ]
    layout = oci(tmp_path, build([nodes]))
    inv, _ = assert_completes(layout, tmp_path, capsys)
    assert names(inv) == {"legit"} and inv.os is None
    skipped = [w for w in inv.warnings if "target escapes the image root" in w]
    assert len(skipped) == 2, inv.warnings


def test_outer_archive_links(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """manifest.json (or a layer) as a link out of the archive is simply not there."""
    img = build([[python_dist("legit", "1.0")]])
    members = docker_archive_members([(img, ["x:1"])])
    manifest = members.pop("manifest.json")
    for kind, target in (
        (tarfile.SYMTYPE, "/etc/passwd"),
        (tarfile.SYMTYPE, "../../../etc"),
        (tarfile.LNKTYPE, "../../etc/passwd"),
    ):
        entries: list[tuple[tarfile.TarInfo, bytes | None]] = []
        for name, data in members.items():
            entries.append((tarfile.TarInfo(name), data))
        link = tarfile.TarInfo("manifest.json")
        link.type, link.linkname = kind, target
        entries.append((link, None))
        path = tmp_path / "links.tar"
        path.write_bytes(tar_of(entries))
        assert_error(path, tmp_path, capsys, "neither a docker archive")
        assert_error(f"docker-archive:{path}", tmp_path, capsys, "no manifest.json")
    # a manifest naming a layer that is a symlink to a host file
    layer_name = json.loads(manifest)[0]["Layers"][0]
    entries = [(tarfile.TarInfo(n), d) for n, d in members.items() if n != layer_name]
    link = tarfile.TarInfo(layer_name)
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    entries += [(link, None), (tarfile.TarInfo("manifest.json"), manifest)]
    path = tmp_path / "layer-link.tar"
    path.write_bytes(tar_of(entries))
    assert_error(path, tmp_path, capsys, "missing from the archive")


def test_oci_layout_blobs_that_are_symlinks_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = build([[python_dist("legit", "1.0")]])
    layout = oci(tmp_path, img)
    layer = blob_path(layout, sha256(img.blobs[0]))
    secret = tmp_path / "host-file"
    secret.write_bytes(img.blobs[0])  # even with the right content: never followed
    layer.unlink()
    layer.symlink_to(secret)
    assert_error(layout, tmp_path, capsys, "symlink")
    # the blobs directory itself as a link
    layout2 = oci(tmp_path, img, "layout2")
    real = tmp_path / "elsewhere"
    (layout2 / "blobs").rename(real)
    (layout2 / "blobs").symlink_to(real)
    assert_error(layout2, tmp_path, capsys, "symlink")


# -- special files --------------------------------------------------------------------------


def test_device_nodes_and_fifos_in_a_layer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes = [
        Node("etc/os-release", kind="char"),
        Node("var/lib/dpkg/status", kind="fifo"),
        Node(f"{SITE}/x-1.0.dist-info/METADATA", kind="block"),
        Node("dev/null", kind="char"),
        python_dist("legit", "1.0"),
    ]
    layout = oci(tmp_path, build([nodes]))
    inv, _ = assert_completes(layout, tmp_path, capsys)
    assert names(inv) == {"legit"} and inv.os is None and inv.warnings == ()
    image = open_image(str(layout))
    fs = ImageFilesystem(analyze_layers(image, default_analyzers(), options(tmp_path)))
    types = {
        p: fs.lookup(p)[1].type.value  # type: ignore[index]
        for p in (
            "etc/os-release",
            "var/lib/dpkg/status",
            "dev/null",
            f"{SITE}/x-1.0.dist-info/METADATA",
        )
    }
    assert types == {
        "etc/os-release": "char",
        "var/lib/dpkg/status": "fifo",
        "dev/null": "char",
        f"{SITE}/x-1.0.dist-info/METADATA": "block",
    }


def run_with_timeout(fn: Callable[[], Any], seconds: float) -> Any:
    """Call ``fn`` in a daemon thread: a scan that opened a fifo would block forever."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as e:  # handed back to the test
            result["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "the scan blocked (did it open a fifo or a device?)"
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_device_nodes_and_fifos_in_a_rootfs_are_never_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rootfs = write_rootfs(
        [
            python_dist("legit", "1.0"),
            Node("etc/os-release", kind="fifo"),
            Node(f"{SITE}/fifo-1.0.dist-info/METADATA", kind="fifo"),
        ],
        tmp_path / "rootfs",
    )
    devices = 0
    for rel, mode, dev in (
        ("var/lib/dpkg/status", stat.S_IFCHR, os.makedev(1, 5)),  # zero
        ("lib/apk/db/installed", stat.S_IFCHR, os.makedev(1, 3)),
    ):
        target = rootfs / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mknod(target, mode | 0o600, dev)
            devices += 1
        except (PermissionError, OSError):
            pass
    inv = run_with_timeout(lambda: scan(f"dir:{rootfs}", tmp_path), 10)
    assert names(inv) == {"legit"} and inv.os is None and inv.warnings == ()
    code, out, err = run_with_timeout(
        lambda: run_cli(f"dir:{rootfs}", tmp_path, capsys, "--format", "json"), 10
    )
    assert code == 0, err
    assert [p["name"] for p in json.loads(out)["packages"]] == ["legit"]
    if not devices:
        pytest.skip("cannot create device nodes here (the fifos were checked)")


# -- decompression bombs and entry counts ---------------------------------------------------


def zeros_tar(n_bytes: int) -> bytes:
    return layer_tar([file("zeros", bytes(n_bytes))])


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_bomb_over_the_size_bound(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    compression: str,
) -> None:
    img = build([[]], compression=compression, layer_bytes=[zeros_tar(4 * MiB)])
    limits = Limits(max_layer_bytes=1 * MiB)
    assert_error(
        oci(tmp_path, img),
        tmp_path,
        capsys,
        "decompression bomb",
        "more than 1048576 bytes uncompressed",
        limits=limits,
        monkeypatch=monkeypatch,
    )


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_bomb_over_the_ratio_bound(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    compression: str,
) -> None:
    img = build([[]], compression=compression, layer_bytes=[zeros_tar(4 * MiB)])
    limits = Limits(ratio_after=1 * MiB, max_ratio=50)
    assert_error(
        oci(tmp_path, img),
        tmp_path,
        capsys,
        "decompresses more than 50:1",
        limits=limits,
        monkeypatch=monkeypatch,
    )
    # the same layer passes the default bounds: it is small
    assert names(scan(oci(tmp_path, img, "again"), tmp_path / "default")) == set()


def test_streamed_200_mib_gzip_bomb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 MiB of zeros, written as a gzip stream that is never whole in memory."""
    blob = tmp_path / "bomb.gz"
    digest, diff_id = gzip_zeros_layer(blob, 200 * MiB)
    assert blob.stat().st_size < 1 * MiB
    layout = write_oci_from_blob_files(tmp_path / "layout", [(blob, digest, diff_id)])
    limits = Limits(ratio_after=8 * MiB, max_ratio=100)
    assert_error(
        layout,
        tmp_path,
        capsys,
        "decompress",
        "a decompression bomb?",
        limits=limits,
        monkeypatch=monkeypatch,
    )
    monkeypatch.undo()
    assert_error(
        layout,
        tmp_path,
        capsys,
        "more than 8388608 bytes",
        limits=Limits(max_layer_bytes=8 * MiB),
        monkeypatch=monkeypatch,
    )


def test_too_many_entries_in_a_layer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    img = build([[file(f"f/{i}", "") for i in range(2000)]], compression="none")
    assert_error(
        oci(tmp_path, img),
        tmp_path,
        capsys,
        "more than 1000 entries",
        limits=Limits(max_entries=1000),
        monkeypatch=monkeypatch,
    )


def test_too_many_members_in_an_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    members = docker_archive_members([(build([[python_dist("legit", "1.0")]]), ["x:1"])])
    members = {**{f"junk/{i}": b"" for i in range(2000)}, **members}
    archive = write_tar(tmp_path / "many.tar", members)
    assert_error(
        archive,
        tmp_path,
        capsys,
        "more than 1000 archive members",
        limits=Limits(max_entries=1000),
        monkeypatch=monkeypatch,
    )


def test_too_many_entries_in_a_rootfs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "d").mkdir(parents=True)
    for i in range(200):
        (rootfs / "d" / str(i)).touch()
    assert_error(
        f"dir:{rootfs}",
        tmp_path,
        capsys,
        "more than 100 entries",
        limits=Limits(max_entries=100),
        monkeypatch=monkeypatch,
    )


# -- truncation -----------------------------------------------------------------------------


def incompressible_image(compression: str) -> BuiltImage:
    """Random content, so that a cut anywhere in the blob cuts the tar's data too."""
    return build(
        [
            [
                file("random", os.urandom(64 * 1024)),
                python_dist("legit", "1.0"),
                file("random2", os.urandom(64 * 1024)),
            ]
        ],
        compression=compression,
    )


@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.98])
@pytest.mark.parametrize(
    ("compression", "needle"),
    [("gzip", "truncated gzip stream"), ("zstd", "truncated zstd stream")],
)
def test_truncated_compressed_layer(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    compression: str,
    needle: str,
    fraction: float,
) -> None:
    img = incompressible_image(compression)
    cut = img.blobs[0][: int(len(img.blobs[0]) * fraction)]
    # the manifest names the truncated blob: the truncation itself must be noticed
    truncated = rebuild(img, blobs=[cut])
    assert_error(oci(tmp_path, truncated), tmp_path, capsys, needle)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_truncated_compressed_layer_at_the_very_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], compression: str
) -> None:
    """Only the trailer is missing (gzip CRC and size, zstd's last bytes): the tar itself
    may read to its end, the stream is still incomplete."""
    img = build([[python_dist("legit", "1.0")]], compression=compression)
    truncated = rebuild(img, blobs=[img.blobs[0][:-3]])
    assert_error(oci(tmp_path, truncated), tmp_path, capsys, "truncated")


def test_truncated_layer_in_a_legacy_docker_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No compressed digest there: the diff-id and the stream's own framing catch it."""
    for compression in ("gzip", "zstd"):
        img = incompressible_image(compression)
        members = docker_archive_members([(img, ["x:1"])])
        name = json.loads(members["manifest.json"])[0]["Layers"][0]
        members[name] = members[name][: len(members[name]) // 2]
        archive = write_tar(tmp_path / f"{compression}.tar", members)
        assert_error(archive, tmp_path, capsys, "truncated")


def test_truncated_uncompressed_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = incompressible_image("none")
    truncated = rebuild(img, blobs=[img.blobs[0][: len(img.blobs[0]) // 2]])
    line = assert_error(oci(tmp_path, truncated), tmp_path, capsys, "layer 0")
    assert any(w in line for w in ("corrupt tar", "unexpected end", "digest mismatch")), line


# -- missing and tampered blobs -------------------------------------------------------------


def test_missing_layer_blob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = build([[python_dist("a", "1")], [python_dist("b", "1")]])
    layout = oci(tmp_path, img)
    blob_path(layout, sha256(img.blobs[1])).unlink()
    assert_error(layout, tmp_path, capsys, "is missing", sha256(img.blobs[1]).split(":")[1])


def test_missing_config_and_manifest_blobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = build([[python_dist("a", "1")]])
    layout = oci(tmp_path, img)
    blob_path(layout, img.config_digest).unlink()
    assert_error(layout, tmp_path, capsys, "is missing")
    layout = oci(tmp_path, img, "layout2")
    blob_path(layout, img.manifest_digest).unlink()
    assert_error(layout, tmp_path, capsys, "is missing")


def test_missing_members_of_a_docker_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = build([[python_dist("a", "1")]])
    members = docker_archive_members([(img, ["x:1"])])
    entry = json.loads(members["manifest.json"])[0]
    for missing in (entry["Layers"][0], entry["Config"]):
        path = write_tar(tmp_path / "m.tar", {n: d for n, d in members.items() if n != missing})
        assert_error(path, tmp_path, capsys, "missing from the archive")


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_tampered_layer_blob(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], compression: str
) -> None:
    noise = os.urandom(4096)  # stored verbatim by zstd (a raw block) and by a plain tar
    img = build([[file("etc/noise", noise), python_dist("a", "1")]], compression=compression)
    layout = oci(tmp_path, img)
    path = blob_path(layout, sha256(img.blobs[0]))
    data = bytearray(path.read_bytes())
    if compression == "gzip":
        data[-8] ^= 0xFF  # the trailer's CRC: the stream is no longer whole
    else:
        data[data.index(noise) + 100] ^= 0xFF
    path.write_bytes(bytes(data))
    if compression == "gzip":
        assert_error(layout, tmp_path, capsys, "corrupt gzip stream")
        return
    line = assert_error(layout, tmp_path, capsys, "digest mismatch", "corrupt or tampered")
    # the first check to fail names what it expected
    assert sha256(img.blobs[0]) in line or sha256(img.layers[0]) in line


def test_a_repacked_layer_blob_is_the_layer_it_inflates_to(tmp_path: Path) -> None:
    """A gzip blob with another mtime in its header is other bytes under the blob's name,
    but it inflates to the very layer the config's diff-id names: a scan reads the layer,
    not its packing, so it checks the diff-id (hashing each byte once) and finds the same.
    A blob that is copied as it is (a squashed image's base) is checked byte for byte."""
    img = build([[python_dist("a", "1")], [python_dist("b", "2")]], compression="gzip")
    layout = oci(tmp_path, img)
    before = scan(layout, tmp_path / "before", None)
    path = blob_path(layout, sha256(img.blobs[0]))
    data = bytearray(path.read_bytes())
    data[4] ^= 0xFF  # the header's mtime: inflates the same, hashes differently
    path.write_bytes(bytes(data))
    after = scan(layout, tmp_path / "after", None)
    assert after.packages == before.packages and after.packages
    from hullscan.squash import squash

    out = f"oci:{tmp_path / 'squashed'}:1"
    with pytest.raises(ImageError, match="blob: digest mismatch"):
        squash(f"oci:{layout}", out, options(tmp_path / "squash"), keep_base=1)


def test_tampered_layer_in_a_legacy_docker_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = build([[file("etc/motd", "hello world " * 50)]], compression="none")
    members = docker_archive_members([(img, ["x:1"])])
    name = json.loads(members["manifest.json"])[0]["Layers"][0]
    members[name] = members[name].replace(b"hello world", b"jello world", 1)
    assert_error(
        write_tar(tmp_path / "t.tar", members), tmp_path, capsys, "digest mismatch", "diff-id"
    )


def test_diff_id_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = build([[python_dist("a", "1")]])
    doc = json.loads(img.config)
    doc["rootfs"]["diff_ids"] = [sha256(b"something else")]
    wrong = rebuild(img, config_doc=doc)
    assert_error(oci(tmp_path, wrong), tmp_path, capsys, "digest mismatch", "diff-id")
    assert_error(
        write_docker_archive([(wrong, ["x:1"])], tmp_path / "d.tar"),
        tmp_path,
        capsys,
        "digest mismatch",
        "diff-id",
    )


@pytest.mark.parametrize("diff_id", ["", "sha256:", "sha256:abc", "md5:" + "0" * 32, 42])
def test_malformed_diff_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], diff_id: object
) -> None:
    """An empty diff-id would otherwise switch the check off."""
    img = build([[python_dist("a", "1")]])
    doc = json.loads(img.config)
    doc["rootfs"]["diff_ids"] = [diff_id]
    wrong = rebuild(img, config_doc=doc)
    assert_error(oci(tmp_path, wrong), tmp_path, capsys, "diff_ids")
    assert_error(
        write_docker_archive([(wrong, ["x:1"])], tmp_path / "d.tar"), tmp_path, capsys, "diff_ids"
    )


@pytest.mark.parametrize(
    ("delta", "needle"),
    [(1, "does not match the declared"), (-1, "larger than the"), (-(10**6), "invalid size")],
)
def test_layer_size_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], delta: int, needle: str
) -> None:
    img = build([[python_dist("a", "1")]])
    manifest = json.loads(img.manifest)
    manifest["layers"][0]["size"] += delta
    layout = oci(tmp_path, img)
    data = json.dumps(manifest).encode()
    write_oci_index(
        layout,
        [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": write_blob(layout, data),
                "size": len(data),
            }
        ],
    )
    assert_error(layout, tmp_path, capsys, needle)


def test_descriptor_size_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = build([[python_dist("a", "1")]])
    layout = write_oci([(img, {"size": len(img.manifest) + 1})], tmp_path / "layout")
    assert_error(layout, tmp_path, capsys, "does not match the descriptor")


def test_wrong_config_digest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = build([[python_dist("a", "1")]])
    # OCI: the config blob's content no longer matches its name (same size)
    layout = oci(tmp_path, img)
    path = blob_path(layout, img.config_digest)
    path.write_bytes(path.read_bytes().replace(b'"amd64"', b'"arm64"'))
    assert_error(layout, tmp_path, capsys, "digest mismatch", img.config_digest)
    # docker archive: the config's file name is its digest
    members = docker_archive_members([(img, ["x:1"])])
    name = json.loads(members["manifest.json"])[0]["Config"]
    members[name] = members[name].replace(b'"amd64"', b'"arm64"')
    assert_error(write_tar(tmp_path / "d.tar", members), tmp_path, capsys, "digest mismatch")


def test_wrong_manifest_digest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = build([[python_dist("a", "1")]])
    layout = oci(tmp_path, img)
    path = blob_path(layout, img.manifest_digest)
    path.write_bytes(path.read_bytes().replace(b'"schemaVersion": 2', b'"schemaVersion": 3'))
    assert_error(layout, tmp_path, capsys, "digest mismatch", img.manifest_digest)


# -- documents that are not what they claim -------------------------------------------------


GARBAGE: list[tuple[str, bytes]] = [
    ("not json", b"{this is not json"),
    ("binary", b"\xff\xfe\x00garbage"),
    ("a list", b"[]"),
    ("a string", b'"manifest"'),
    ("null", b"null"),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000),
]


def oci_with_manifest(
    tmp_path: Path, img: BuiltImage, manifest: bytes, name: str = "layout"
) -> Path:
    layout = oci(tmp_path, img, name)
    write_oci_index(
        layout,
        [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": write_blob(layout, manifest),
                "size": len(manifest),
            }
        ],
    )
    return layout


@pytest.mark.parametrize(("label", "data"), GARBAGE, ids=[g[0] for g in GARBAGE])
def test_garbage_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], label: str, data: bytes
) -> None:
    img = build([[python_dist("a", "1")]])
    # OCI index.json
    layout = oci(tmp_path, img, "index")
    (layout / "index.json").write_bytes(data)
    assert_error(layout, tmp_path, capsys, "index.json")
    # OCI manifest, correctly addressed
    assert_error(oci_with_manifest(tmp_path, img, data, "manifest"), tmp_path, capsys, "manifest")
    # OCI config, correctly addressed
    assert_error(oci(tmp_path, rebuild(img, config=data), "config"), tmp_path, capsys, "config")
    # docker manifest.json
    members = docker_archive_members([(img, ["x:1"])])
    members["manifest.json"] = data
    assert_error(write_tar(tmp_path / "m.tar", members), tmp_path, capsys, "manifest.json")
    # docker config, renamed to match its new digest
    members = docker_archive_members([(img, ["x:1"])])
    manifest = json.loads(members["manifest.json"])
    del members[manifest[0]["Config"]]
    manifest[0]["Config"] = sha256(data).split(":")[1] + ".json"
    members[manifest[0]["Config"]] = data
    members["manifest.json"] = json.dumps(manifest).encode()
    assert_error(write_tar(tmp_path / "c.tar", members), tmp_path, capsys, "config")


def manifest_doc(img: BuiltImage) -> dict[str, Any]:
    return json.loads(img.manifest)  # type: ignore[no-any-return]


BAD_MANIFESTS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no config", lambda m: m.pop("config"), "no config descriptor"),
    ("config a list", lambda m: m.update(config=[]), "no config descriptor"),
    ("config without digest", lambda m: m["config"].pop("digest"), "without a digest"),
    (
        "config digest malformed",
        lambda m: m["config"].update(digest="sha256:xyz"),
        "malformed digest",
    ),
    (
        "config digest other algorithm",
        lambda m: m["config"].update(digest="md5:" + "0" * 32),
        "digest",
    ),
    (
        "config digest climbing out",
        lambda m: m["config"].update(digest="sha256:../../x"),
        "malformed digest",
    ),
    ("no layers", lambda m: m.pop("layers"), "no layers list"),
    ("layers an object", lambda m: m.update(layers={}), "no layers list"),
    ("layer not an object", lambda m: m.update(layers=["sha256:abc"]), "no layers list"),
    ("layer without digest", lambda m: m["layers"][0].pop("digest"), "has no digest"),
    ("layer digest a number", lambda m: m["layers"][0].update(digest=5), "has no digest"),
    ("layer digest malformed", lambda m: m["layers"][0].update(digest="sha256:"), "digest"),
    ("layer size a string", lambda m: m["layers"][0].update(size="12"), "invalid size"),
    ("layer size a float", lambda m: m["layers"][0].update(size=1.5), "invalid size"),
    (
        "two layers, one diff-id",
        lambda m: m["layers"].append(m["layers"][0]),
        "2 layers but 1 diff_ids",
    ),
    (
        "unknown media type",
        lambda m: m.update(mediaType="application/x-evil"),
        "unsupported manifest media type",
    ),
]


@pytest.mark.parametrize(
    ("label", "edit", "needle"), BAD_MANIFESTS, ids=[b[0] for b in BAD_MANIFESTS]
)
def test_malformed_oci_manifest(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    label: str,
    edit: Callable[[dict[str, Any]], None],
    needle: str,
) -> None:
    img = build([[python_dist("a", "1")]])
    doc = manifest_doc(img)
    edit(doc)
    assert_error(
        oci_with_manifest(tmp_path, img, json.dumps(doc).encode()), tmp_path, capsys, needle
    )


BAD_INDEXES: list[tuple[str, Any, str]] = [
    ("empty object", {}, "no manifests list"),
    ("manifests an object", {"manifests": {}}, "no manifests list"),
    ("manifests of strings", {"manifests": ["sha256:abc"]}, "no manifests list"),
    ("no images", {"manifests": []}, "lists no images"),
    ("descriptor without digest", {"manifests": [{"size": 3}]}, "without a digest"),
    ("digest of nothing", {"manifests": [{"digest": "sha256:" + "0" * 64}]}, "is missing"),
    (
        "annotations a list",
        {"manifests": [{"digest": "sha256:" + "0" * 64, "annotations": ["x"]}]},
        "is missing",
    ),
    (
        "platform garbage",
        {
            "manifests": [
                {"digest": "sha256:" + "1" * 64, "platform": {"os": 5, "architecture": ["x"]}},
                {
                    "digest": "sha256:" + "2" * 64,
                    "platform": {"os": "linux", "architecture": "a\nb"},
                },
            ]
        },
        "no image for platform",
    ),
]


@pytest.mark.parametrize(("label", "index", "needle"), BAD_INDEXES, ids=[b[0] for b in BAD_INDEXES])
def test_malformed_index_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], label: str, index: Any, needle: str
) -> None:
    layout = oci(tmp_path, build([[python_dist("a", "1")]]))
    (layout / "index.json").write_text(json.dumps(index))
    assert_error(layout, tmp_path, capsys, needle)


def test_tag_lookup_with_malformed_annotations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = build([[python_dist("a", "1")]])
    layout = write_oci([(img, {"annotations": ["not", "a", "dict"]})], tmp_path / "layout")
    assert_error(f"oci:{layout}:1.0", tmp_path, capsys, "no image tagged '1.0'")
    assert names(scan(layout, tmp_path)) == {"a"}


def test_index_nested_too_deeply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = build([[python_dist("a", "1")]])
    root = tmp_path / "deep"
    write_image_blobs(root, img)
    desc = manifest_descriptor(img)
    for _ in range(8):
        desc = write_index_blob(root, [desc])
    write_oci_index(root, [desc])
    assert_error(root, tmp_path, capsys, "nested too deeply")


BAD_DOCKER_MANIFESTS: list[tuple[str, Any, str]] = [
    ("an object", {"Config": "x"}, "not a list of images"),
    ("empty list", [], "not a list of images"),
    ("list of strings", ["x"], "not a list of images"),
    ("no Layers", [{"Config": "CONFIG"}], "lacks Config/Layers"),
    ("no Config", [{"Layers": []}], "lacks Config/Layers"),
    ("Layers of numbers", [{"Config": "CONFIG", "Layers": [1]}], "lacks Config/Layers"),
    ("RepoTags a number", [{"Config": "CONFIG", "Layers": ["LAYER"], "RepoTags": 5}], ""),
    (
        "missing layer",
        [{"Config": "CONFIG", "Layers": ["nope/layer.tar"]}],
        "missing from the archive",
    ),
    (
        "newline in a member name",
        [{"Config": "CONFIG", "Layers": ["x\nhullscan: error: ok"]}],
        "missing from the archive",
    ),
]


@pytest.mark.parametrize(
    ("label", "doc", "needle"), BAD_DOCKER_MANIFESTS, ids=[b[0] for b in BAD_DOCKER_MANIFESTS]
)
def test_malformed_docker_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], label: str, doc: Any, needle: str
) -> None:
    img = build([[python_dist("a", "1")]])
    members = docker_archive_members([(img, ["x:1"])])
    real = json.loads(members["manifest.json"])[0]
    text = json.dumps(doc).replace("CONFIG", real["Config"]).replace("LAYER", real["Layers"][0])
    members["manifest.json"] = text.encode()
    path = write_tar(tmp_path / "m.tar", members)
    if not needle:  # harmless: the image is still readable
        assert names(scan(path, tmp_path)) == {"a"}
        return
    assert_error(path, tmp_path, capsys, needle)


def test_tags_with_control_characters_stay_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = build([[python_dist("a", "1")]]), build([[python_dist("b", "1")]])
    path = write_docker_archive(
        [(one, ["a:1\nhullscan: error: forged"]), (two, ["b:1\r\x1b[2K"])], tmp_path / "m.tar"
    )
    line = assert_error(path, tmp_path, capsys, "2 images")
    assert "\\n" in line
    assert_error(f"docker-archive:{path}:zz", tmp_path, capsys, "no image tagged")
    layout = write_oci(
        [(one, {"annotations": {"org.opencontainers.image.ref.name": "1\n2"}}), (two, {})],
        tmp_path / "layout",
    )
    assert_error(layout, tmp_path, capsys, "2 images")


BAD_CONFIGS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no rootfs", lambda c: c.pop("rootfs"), "no rootfs.diff_ids"),
    ("rootfs a list", lambda c: c.update(rootfs=[]), "no rootfs.diff_ids"),
    ("diff_ids a string", lambda c: c["rootfs"].update(diff_ids="sha256:x"), "no rootfs.diff_ids"),
    (
        "extra diff_id",
        lambda c: c["rootfs"]["diff_ids"].append("sha256:" + "0" * 64),
        "1 layers but 2 diff_ids",
    ),
]


@pytest.mark.parametrize(("label", "edit", "needle"), BAD_CONFIGS, ids=[b[0] for b in BAD_CONFIGS])
def test_malformed_config(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    label: str,
    edit: Callable[[dict[str, Any]], None],
    needle: str,
) -> None:
    img = build([[python_dist("a", "1")]])
    doc = json.loads(img.config)
    edit(doc)
    bad = rebuild(img, config_doc=doc)
    assert_error(oci(tmp_path, bad), tmp_path, capsys, needle)
    assert_error(
        write_docker_archive([(bad, ["x:1"])], tmp_path / "d.tar"), tmp_path, capsys, needle
    )


def test_odd_but_harmless_config_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = build(
        [[python_dist("a", "1")]],
        config_extra={
            "architecture": 5,
            "os": ["linux"],
            "variant": None,
            "created": {"when": "now"},
            "history": [5, {"created_by": ["RUN", "x"]}, {"empty_layer": "yes"}],
            "config": "x",
        },
    )
    inv, report = assert_completes(oci(tmp_path, img), tmp_path, capsys)
    assert names(inv) == {"a"}
    assert report["image"]["layers"][0]["diff_id"] == sha256(img.layers[0])


# -- the outer archive ----------------------------------------------------------------------


def docker_archive_bytes() -> bytes:
    members = docker_archive_members(
        [(build([[python_dist("a", "1"), file("random", os.urandom(32 * 1024))]]), ["x:1"])]
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("scheme", ["", "docker-archive:"])
def test_archive_that_is_not_a_tar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scheme: str
) -> None:
    path = tmp_path / "random.tar"
    path.write_bytes(os.urandom(4096))
    assert_error(f"{scheme}{path}", tmp_path, capsys, "tar")
    text = tmp_path / "text.tar"
    text.write_text("hello, this is a text file\n" * 100)
    assert_error(f"{scheme}{text}", tmp_path, capsys, "tar")


@pytest.mark.parametrize("scheme", ["", "docker-archive:", "oci-archive:"])
def test_empty_archive_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scheme: str
) -> None:
    path = tmp_path / "empty.tar"
    path.touch()
    assert_error(f"{scheme}{path}", tmp_path, capsys, "tar")


@pytest.mark.parametrize("scheme", ["", "docker-archive:", "oci-archive:"])
@pytest.mark.parametrize("how", ["gzip", "zstd"])
def test_compressed_archive_asks_to_decompress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scheme: str, how: str
) -> None:
    data = docker_archive_bytes()
    packed = gzip.compress(data) if how == "gzip" else zstandard.ZstdCompressor().compress(data)
    path = tmp_path / f"image.tar.{how}"
    path.write_bytes(packed)
    assert_error(f"{scheme}{path}", tmp_path, capsys, "decompress it first")


@pytest.mark.parametrize("fraction", [0.001, 0.3, 0.6, 0.95])
@pytest.mark.parametrize("scheme", ["", "docker-archive:"])
def test_truncated_outer_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fraction: float, scheme: str
) -> None:
    data = docker_archive_bytes()
    end = len(data.rstrip(b"\0"))  # the end of the last member, before tar's zero padding
    path = tmp_path / "cut.tar"
    path.write_bytes(data[: max(1, int(end * fraction))])
    with pytest.raises(ImageError):
        scan(f"{scheme}{path}", tmp_path)
    code, out, err = run_cli(f"{scheme}{path}", tmp_path, capsys)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("hullscan: error:"), err


def test_archive_with_a_member_running_past_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cut inside the last member (manifest.json), after the end-of-archive blocks went."""
    members = docker_archive_members([(build([[python_dist("a", "1")]]), ["x:1"])])
    path = write_tar(tmp_path / "full.tar", members)
    path.write_bytes(path.read_bytes().rstrip(b"\0")[:-10])
    assert_error(path, tmp_path, capsys)


def test_output_file_is_not_written_on_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.tar"
    path.touch()
    out_file = tmp_path / "report.json"
    code, _, err = run_cli(path, tmp_path, capsys, "-o", str(out_file))
    assert code == 2 and not out_file.exists()
    assert err.startswith("hullscan: error:")


# -- broken package databases: warnings, and the rest of the report -------------------------


def test_truncated_dpkg_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cut = DPKG_STATUS.index("Package: bsdutils") + len("Package: bsdu")
    nodes = [n for n in debian_base() if n.path != "var/lib/dpkg/status"]
    nodes.append(file("var/lib/dpkg/status", DPKG_STATUS[:cut]))
    nodes.append(python_dist("requests", "2.31.0", "usr/local/lib/python3.11/site-packages"))
    inv, _ = assert_completes(oci(tmp_path, build([nodes])), tmp_path, capsys)
    assert {"six", "requests"} <= names(inv)
    assert inv.os is not None and inv.os.id == "debian"
    assert any("var/lib/dpkg/status" in w and "dpkg" in w for w in inv.warnings), inv.warnings


def test_truncated_dpkg_status_keeps_the_complete_paragraphs(tmp_path: Path) -> None:
    cut = DPKG_STATUS.index("Package: bsdutils") + len("Package: bsdu")
    nodes = [n for n in debian_base() if n.path != "var/lib/dpkg/status"]
    nodes.append(file("var/lib/dpkg/status", DPKG_STATUS[:cut]))
    inv = scan(oci(tmp_path, build([nodes])), tmp_path)
    assert "libssl3" in names(inv)
    assert any("without Package/Version" in w for w in inv.warnings), inv.warnings


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff\xfe garbage \x00" * 100,
        b"Package: x\nStatus: install ok installed\nArchitecture: amd64\n",  # no Version
        b"no colon on this line\nnor on this one\n",
    ],
)
def test_malformed_dpkg_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    nodes = [file("var/lib/dpkg/status", content), python_dist("other", "1.0")]
    inv, _ = assert_completes(oci(tmp_path, build([nodes])), tmp_path, capsys)
    assert names(inv) == {"other"}
    assert any("var/lib/dpkg/status" in w for w in inv.warnings), inv.warnings


def test_malformed_apk_installed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nodes = [
        file("lib/apk/db/installed", "P:musl\nV:1.2.4-r2\nthis is not a field\n\n"),
        python_dist("other", "1.0"),
    ]
    inv, _ = assert_completes(oci(tmp_path, build([nodes])), tmp_path, capsys)
    assert names(inv) == {"other"}
    assert any("lib/apk/db/installed" in w and "malformed" in w for w in inv.warnings)
    nodes = [file("lib/apk/db/installed", "P:musl\nA:x86_64\n\n"), python_dist("other", "1.0")]
    inv, _ = assert_completes(oci(tmp_path, build([nodes]), "l2"), tmp_path / "2", capsys)
    assert names(inv) == {"other"}
    assert any("without P: or V:" in w for w in inv.warnings)


def test_invalid_package_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nodes = [
        file("app/node_modules/broken/package.json", "{not json"),
        file("app/node_modules/list/package.json", "[1, 2]"),
        file(
            "app/node_modules/fine/package.json", json.dumps({"name": "fine", "version": "1.0.0"})
        ),
    ]
    inv, _ = assert_completes(oci(tmp_path, build([nodes])), tmp_path, capsys)
    assert names(inv) == {"fine"}
    assert any("broken/package.json" in w and "invalid package.json" in w for w in inv.warnings), (
        inv.warnings
    )
    assert any("list/package.json" in w for w in inv.warnings), inv.warnings


def test_metadata_without_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nodes = [
        file(f"{SITE}/nameless-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nVersion: 1.0\n\n"),
        python_dist("named", "1.0"),
    ]
    inv, _ = assert_completes(oci(tmp_path, build([nodes])), tmp_path, capsys)
    assert names(inv) == {"named"}
    assert any(
        "nameless-1.0.dist-info/METADATA" in w and "without Name" in w for w in inv.warnings
    ), inv.warnings


# -- fuzzing: whatever the bytes, an ImageError or a report ---------------------------------


SEED_LAYER = layer_tar(
    [*debian_base(), hardlink("hl", "etc/debian_version"), symlink("loop", "loop")]
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(st.integers(0, len(SEED_LAYER) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    st.sampled_from(["none", "gzip"]),
)
def test_fuzzed_layers_never_crash(
    tmp_path: Path, edits: list[tuple[int, int]], compression: str
) -> None:
    data = bytearray(SEED_LAYER)
    for offset, value in edits:
        data[offset] = value
    img = build([[]], compression=compression, layer_bytes=[bytes(data)])
    path = write_docker_archive([(img, ["f:1"])], tmp_path / f"{uuid.uuid4().hex}.tar")
    with contextlib.suppress(ImageError):
        inventory(str(path), ScanOptions(cache_dir=tmp_path / "cache", use_cache=False, workers=1))


SEED_ARCHIVE = docker_archive_bytes()


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(st.integers(0, len(SEED_ARCHIVE) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    )
)
def test_fuzzed_archives_never_crash(tmp_path: Path, edits: list[tuple[int, int]]) -> None:
    data = bytearray(SEED_ARCHIVE)
    for offset, value in edits:
        data[offset] = value
    path = tmp_path / f"{uuid.uuid4().hex}.tar"
    path.write_bytes(bytes(data))
    with contextlib.suppress(ImageError):
        inventory(str(path), ScanOptions(cache_dir=tmp_path / "cache", use_cache=False, workers=1))
