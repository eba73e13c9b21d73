"""Image references and layouts: docker archives, OCI layouts and archives, root filesystems.

Every image is built in code (tests/imagebuilder.py); nothing touches the network.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest
import zstandard

from hullscan import cli
from hullscan.errors import ImageError
from hullscan.model import Inventory
from hullscan.pipeline import ScanOptions, inventory
from hullscan.sources import Platform, open_image

from imagebuilder import (
    DEBIAN_OS_RELEASE,
    BuiltImage,
    Node,
    build,
    debian_base,
    docker_archive_members,
    file,
    manifest_descriptor,
    python_dist,
    rebuild,
    sha256,
    symlink,
    tar_directory,
    write_docker_archive,
    write_image_blobs,
    write_index_blob,
    write_oci,
    write_oci_index,
    write_rootfs,
    write_tar,
)
from localregistry import REF_NAME


def opts(tmp_path: Path, **kw: Any) -> ScanOptions:
    return ScanOptions(cache_dir=tmp_path / "cache", workers=1, **kw)


def scan(ref: str | Path, tmp_path: Path, **kw: Any) -> Inventory:
    return inventory(str(ref), opts(tmp_path, **kw))


def names(inv: Inventory) -> set[str]:
    return {p.name for p in inv.packages}


def marker_image(name: str, *, compression: str = "gzip", arch: str = "amd64") -> BuiltImage:
    """A one-layer image whose only package is the Python distribution ``name``."""
    return build([[python_dist(name, "1.0")]], compression=compression, arch=arch)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hullscan: error:"), err
    assert "Traceback" not in err
    return lines[0]


# -- docker archives ------------------------------------------------------------------------


@pytest.mark.parametrize("legacy_names", [True, False], ids=["legacy-names", "blob-names"])
@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_docker_archive_layouts_and_compressions(
    tmp_path: Path, legacy_names: bool, compression: str
) -> None:
    img = build([debian_base(), [python_dist("extra", "2.0")]], compression=compression)
    path = write_docker_archive([(img, ["example:1"])], tmp_path / "a.tar", legacy_names)
    inv = scan(f"docker-archive:{path}", tmp_path)
    assert names(inv) == {"libssl3", "bsdutils", "python3-six", "six", "extra"}
    assert inv.os is not None and (inv.os.id, inv.os.version_id) == ("debian", "12")
    assert inv.image.transport == "docker-archive"
    assert inv.image.repo_tags == ("example:1",)
    assert inv.image.config_digest == img.config_digest
    assert [layer.diff_id for layer in inv.image.layers] == [sha256(t) for t in img.layers]
    # a "blobs/sha256/<hex>" name is the compressed digest; legacy names prove nothing
    expected = [sha256(b) for b in img.blobs] if not legacy_names else [None, None]
    assert [layer.digest for layer in inv.image.layers] == expected
    assert inv.warnings == ()


def two_image_archive(tmp_path: Path) -> Path:
    first = marker_image("first")
    second = marker_image("second", compression="zstd")
    return write_docker_archive(
        [(first, ["docker.io/library/x:1"]), (second, ["registry.example/team/y:2", "y:latest"])],
        tmp_path / "two.tar",
    )


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("x:1", "first"),
        ("docker.io/library/x:1", "first"),
        ("library/x:1", "first"),
        ("registry.example/team/y:2", "second"),
        ("y", "second"),  # no tag means :latest
        ("y:latest", "second"),
        ("docker.io/library/y:latest", "second"),
        ("@0", "first"),
        ("@1", "second"),
    ],
)
def test_docker_archive_picks_an_image_by_tag_or_index(
    tmp_path: Path, tag: str, expected: str
) -> None:
    path = two_image_archive(tmp_path)
    assert names(scan(f"docker-archive:{path}:{tag}", tmp_path)) == {expected}


def test_docker_archive_tag_selection_does_not_confuse_registries(tmp_path: Path) -> None:
    path = two_image_archive(tmp_path)
    with pytest.raises(ImageError, match="no image tagged 'team/y:2'"):
        open_image(f"docker-archive:{path}:team/y:2")


def test_docker_archive_with_several_images_needs_a_tag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = two_image_archive(tmp_path)
    with pytest.raises(ImageError, match="2 images") as e:
        open_image(f"docker-archive:{path}")
    for tag in ("docker.io/library/x:1", "registry.example/team/y:2", "y:latest"):
        assert tag in str(e.value)
    for ref in (f"docker-archive:{path}", str(path)):
        code, out, err = run_cli(capsys, "sbom", ref, "--cache-dir", str(tmp_path / "c"))
        assert code == 2
        assert out == ""
        line = assert_one_error_line(err)
        assert "docker.io/library/x:1" in line and "y:latest" in line and ":@INDEX" in line


def test_docker_archive_unknown_tag_or_index(tmp_path: Path) -> None:
    path = two_image_archive(tmp_path)
    with pytest.raises(ImageError, match=r"no image tagged 'z:9' \(tags: .*x:1"):
        open_image(f"docker-archive:{path}:z:9")
    with pytest.raises(ImageError, match="no image at index 2"):
        open_image(f"docker-archive:{path}:@2")


def test_docker_archive_single_image_needs_no_tag_and_accepts_one(tmp_path: Path) -> None:
    path = write_docker_archive([(marker_image("only"), ["solo:3"])], tmp_path / "one.tar")
    assert names(scan(f"docker-archive:{path}", tmp_path)) == {"only"}
    assert names(scan(f"docker-archive:{path}:solo:3", tmp_path)) == {"only"}
    with pytest.raises(ImageError, match="no image tagged"):
        open_image(f"docker-archive:{path}:solo:4")


def test_docker_archive_path_with_colons(tmp_path: Path) -> None:
    """The longest existing path wins: a colon in the file name is not a tag separator."""
    d = tmp_path / "with:colon"
    d.mkdir()
    path = write_docker_archive([(marker_image("colon"), ["c:1"])], d / "img:v1.tar")
    assert names(scan(f"docker-archive:{path}", tmp_path)) == {"colon"}
    assert names(scan(f"docker-archive:{path}:c:1", tmp_path)) == {"colon"}


# -- detection of a bare path ---------------------------------------------------------------


def test_bare_path_detection(tmp_path: Path) -> None:
    img = marker_image("detected")
    archive = write_docker_archive([(img, ["d:1"])], tmp_path / "docker.tar")
    layout = write_oci([(img, {"annotations": {REF_NAME: "1"}})], tmp_path / "layout")
    oci_tar = tar_directory(layout, tmp_path / "oci.tar")
    rootfs = write_rootfs([python_dist("detected", "1.0")], tmp_path / "rootfs")
    for ref, transport in (
        (archive, "docker-archive"),
        (layout, "oci"),
        (oci_tar, "oci-archive"),
        (rootfs, "dir"),
    ):
        inv = scan(ref, tmp_path)
        assert inv.image.transport == transport, ref
        assert names(inv) == {"detected"}, ref
        assert inv.image.ref == str(ref)


def test_bare_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        open_image(str(tmp_path / "missing.tar"))
    with pytest.raises(ImageError, match="no such file"):
        open_image(f"docker-archive:{tmp_path / 'missing.tar'}")
    with pytest.raises(ImageError, match="no such file"):
        open_image(f"oci:{tmp_path / 'missing'}:1")


def test_a_tar_that_is_no_image(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "other.tar", {"hello.txt": b"hi"})
    with pytest.raises(ImageError, match=r"neither a docker archive .* nor an OCI archive"):
        open_image(str(path))


def test_unreachable_registry_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a registry reference on a closed loopback port: no traffic leaves the machine
    code, out, err = run_cli(
        capsys, "sbom", "registry:127.0.0.1:9/test/app:1", "--cache-dir", str(tmp_path / "c")
    )
    assert code == 2 and out == ""
    assert "127.0.0.1:9" in assert_one_error_line(err)


# -- OCI layouts ----------------------------------------------------------------------------


def test_oci_layout_tag_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, two = marker_image("one"), marker_image("two", compression="zstd")
    layout = write_oci(
        [(one, {"annotations": {REF_NAME: "1.0"}}), (two, {"annotations": {REF_NAME: "2.0"}})],
        tmp_path / "layout",
    )
    inv = scan(f"oci:{layout}:2.0", tmp_path)
    assert names(inv) == {"two"}
    assert inv.image.repo_tags == ("2.0",)
    assert inv.image.digest == two.manifest_digest
    assert names(scan(f"oci:{layout}:1.0", tmp_path)) == {"one"}
    # by manifest digest
    assert names(scan(f"oci:{layout}:{one.manifest_digest}", tmp_path)) == {"one"}
    with pytest.raises(ImageError, match=r"no image tagged '3.0' \(tags: 1.0, 2.0\)"):
        open_image(f"oci:{layout}:3.0")
    with pytest.raises(ImageError, match=r"2 images in the layout.*tags: 1.0, 2.0"):
        open_image(f"oci:{layout}")
    code, out, err = run_cli(capsys, "sbom", str(layout), "--cache-dir", str(tmp_path / "c"))
    assert code == 2 and out == ""
    assert "1.0, 2.0" in assert_one_error_line(err)


def two_platform_layout(
    tmp_path: Path, nested: bool = False
) -> tuple[Path, BuiltImage, BuiltImage]:
    amd = marker_image("amd64-only", arch="amd64")
    arm = marker_image("arm64-only", arch="arm64", compression="zstd")
    root = tmp_path / "multi"
    write_image_blobs(root, amd)
    write_image_blobs(root, arm)
    platforms = [
        manifest_descriptor(amd, platform={"os": "linux", "architecture": "amd64"}),
        manifest_descriptor(
            arm, platform={"os": "linux", "architecture": "arm64", "variant": "v8"}
        ),
    ]
    if nested:
        inner = write_index_blob(root, platforms)
        outer = write_index_blob(root, [inner])
        write_oci_index(root, [{**outer, "annotations": {REF_NAME: "multi"}}])
    else:
        index = write_index_blob(root, platforms, annotations={REF_NAME: "multi"})
        write_oci_index(root, [index])
    return root, amd, arm


@pytest.mark.parametrize("nested", [False, True], ids=["index", "index-index"])
def test_oci_index_platform_choice(tmp_path: Path, nested: bool) -> None:
    root, amd, arm = two_platform_layout(tmp_path, nested)
    inv = scan(f"oci:{root}:multi", tmp_path, platform=Platform.parse("linux/arm64"))
    assert names(inv) == {"arm64-only"}
    assert inv.image.platform == "linux/arm64"
    assert inv.image.digest == arm.manifest_digest
    assert inv.image.config_digest == arm.config_digest
    inv = scan(f"oci:{root}:multi", tmp_path, platform=Platform.parse("linux/amd64"))
    assert names(inv) == {"amd64-only"}
    assert inv.image.digest == amd.manifest_digest
    # a variant that the descriptor names must match
    inv = scan(f"oci:{root}", tmp_path, platform=Platform.parse("linux/arm64/v8"))
    assert names(inv) == {"arm64-only"}


def test_oci_index_platforms_listed_directly_in_index_json(tmp_path: Path) -> None:
    amd = marker_image("amd64-only", arch="amd64")
    arm = marker_image("arm64-only", arch="arm64")
    layout = write_oci(
        [
            (amd, {"platform": {"os": "linux", "architecture": "amd64"}}),
            (arm, {"platform": {"os": "linux", "architecture": "arm64"}}),
        ],
        tmp_path / "layout",
    )
    inv = scan(f"oci:{layout}", tmp_path, platform=Platform.parse("linux/arm64"))
    assert names(inv) == {"arm64-only"}


@pytest.mark.parametrize(
    ("machine", "expected"), [("x86_64", "amd64-only"), ("aarch64", "arm64-only")]
)
def test_oci_index_defaults_to_the_host_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, machine: str, expected: str
) -> None:
    import platform

    monkeypatch.setattr(platform, "machine", lambda: machine)
    root, _, _ = two_platform_layout(tmp_path)
    assert names(scan(f"oci:{root}:multi", tmp_path)) == {expected}


def test_oci_index_default_is_this_host(tmp_path: Path) -> None:
    root, _, _ = two_platform_layout(tmp_path)
    host = Platform.host()
    if host.architecture not in ("amd64", "arm64"):
        with pytest.raises(ImageError, match="no image for platform"):
            open_image(f"oci:{root}:multi")
    else:
        assert names(scan(f"oci:{root}:multi", tmp_path)) == {f"{host.architecture}-only"}


def test_oci_index_unknown_platform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, _, _ = two_platform_layout(tmp_path, nested=True)
    with pytest.raises(ImageError, match="no image for platform linux/s390x") as e:
        open_image(f"oci:{root}:multi", Platform.parse("linux/s390x"))
    assert "linux/amd64" in str(e.value) and "linux/arm64/v8" in str(e.value)
    code, out, err = run_cli(
        capsys,
        "sbom",
        f"oci:{root}:multi",
        "--platform",
        "linux/s390x",
        "--cache-dir",
        str(tmp_path / "c"),
    )
    assert code == 2 and out == ""
    line = assert_one_error_line(err)
    assert "linux/amd64" in line and "linux/arm64" in line
    code, out, err = run_cli(
        capsys,
        "sbom",
        f"oci:{root}:multi",
        "--platform",
        "arm64",
        "--cache-dir",
        str(tmp_path / "c"),
    )
    assert code == 2 and "os/arch" in assert_one_error_line(err)


def test_cli_platform_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, _, arm = two_platform_layout(tmp_path)
    code, out, err = run_cli(
        capsys,
        "sbom",
        f"oci:{root}:multi",
        "--platform",
        "linux/arm64",
        "--format",
        "json",
        "--cache-dir",
        str(tmp_path / "c"),
    )
    assert code == 0, err
    report = json.loads(out)
    assert [p["name"] for p in report["packages"]] == ["arm64-only"]
    assert report["image"]["digest"] == arm.manifest_digest


def test_oci_archive(tmp_path: Path) -> None:
    one, two = marker_image("one"), marker_image("two")
    layout = write_oci(
        [(one, {"annotations": {REF_NAME: "1"}}), (two, {"annotations": {REF_NAME: "2"}})],
        tmp_path / "layout",
    )
    archive = tar_directory(layout, tmp_path / "layout.tar")
    inv = scan(f"oci-archive:{archive}:2", tmp_path)
    assert names(inv) == {"two"}
    assert inv.image.transport == "oci-archive"
    assert inv.image.digest == two.manifest_digest
    assert names(scan(f"oci-archive:{archive}:1", tmp_path)) == {"one"}
    with pytest.raises(ImageError, match="2 images"):
        open_image(f"oci-archive:{archive}")


def test_oci_archive_of_a_multi_platform_index(tmp_path: Path) -> None:
    root, _, _ = two_platform_layout(tmp_path, nested=True)
    archive = tar_directory(root, tmp_path / "multi.tar")
    inv = scan(str(archive), tmp_path, platform=Platform.parse("linux/arm64"))
    assert inv.image.transport == "oci-archive"
    assert names(inv) == {"arm64-only"}


# -- what the report says about the image ---------------------------------------------------


HISTORY: list[dict[str, Any]] = [
    {"created_by": "ARG RELEASE", "empty_layer": True},
    {"created_by": "ADD rootfs.tar.gz /"},
    {"created_by": "ENV PATH=/usr/bin", "empty_layer": True},
    {"created_by": "LABEL a=b", "empty_layer": True},
    {"created_by": "RUN pip install extra"},
    {"created_by": 'CMD ["sh"]', "empty_layer": True},
]


def history_image() -> BuiltImage:
    return build([debian_base(), [python_dist("extra", "2.0")]], history=HISTORY)


def test_oci_report_carries_digests_and_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = history_image()
    layout = write_oci([(img, {})], tmp_path / "layout")
    inv = scan(f"oci:{layout}", tmp_path)
    meta = inv.image
    assert meta.digest == img.manifest_digest
    assert meta.config_digest == img.config_digest
    assert [layer.diff_id for layer in meta.layers] == [sha256(t) for t in img.layers]
    assert [layer.digest for layer in meta.layers] == [sha256(b) for b in img.blobs]
    assert [layer.size for layer in meta.layers] == [len(b) for b in img.blobs]
    assert [layer.created_by for layer in meta.layers] == [
        "ADD rootfs.tar.gz /",
        "RUN pip install extra",
    ]
    assert meta.layers[0].empty_history == ("ARG RELEASE",)
    assert meta.layers[1].empty_history == ("ENV PATH=/usr/bin", "LABEL a=b")
    # packages point at the layer that added them
    by_name = {p.name: p for p in inv.packages}
    assert by_name["libssl3"].locations[0].layer == sha256(img.layers[0])
    assert by_name["extra"].locations[0].layer == sha256(img.layers[1])

    code, out, err = run_cli(
        capsys, "sbom", f"oci:{layout}", "--format", "json", "--cache-dir", str(tmp_path / "c")
    )
    assert code == 0, err
    image = json.loads(out)["image"]
    assert image["digest"] == img.manifest_digest
    assert image["config_digest"] == img.config_digest
    assert [(x["index"], x["diff_id"], x["digest"], x["created_by"]) for x in image["layers"]] == [
        (0, sha256(img.layers[0]), sha256(img.blobs[0]), "ADD rootfs.tar.gz /"),
        (1, sha256(img.layers[1]), sha256(img.blobs[1]), "RUN pip install extra"),
    ]


def test_docker_archive_report_carries_config_digest_and_history(tmp_path: Path) -> None:
    img = history_image()
    path = write_docker_archive([(img, ["h:1"])], tmp_path / "a.tar")
    meta = scan(str(path), tmp_path).image
    assert meta.digest is None  # a legacy archive has no manifest to name it by
    assert meta.config_digest == img.config_digest
    assert [layer.diff_id for layer in meta.layers] == [sha256(t) for t in img.layers]
    assert [layer.created_by for layer in meta.layers] == [
        "ADD rootfs.tar.gz /",
        "RUN pip install extra",
    ]


def test_docker_archive_with_an_oci_index_gives_the_manifest_digest(tmp_path: Path) -> None:
    """Docker 25+ writes an OCI index.json (and blobs) beside manifest.json."""
    img = marker_image("modern")
    members = docker_archive_members([(img, ["m:1"])], legacy_names=False)
    members[f"blobs/sha256/{img.manifest_digest.split(':')[1]}"] = img.manifest
    members["oci-layout"] = b'{"imageLayoutVersion": "1.0.0"}'
    members["index.json"] = json.dumps(
        {"schemaVersion": 2, "manifests": [manifest_descriptor(img, annotations={REF_NAME: "m:1"})]}
    ).encode()
    path = write_tar(tmp_path / "modern.tar", members)
    inv = scan(str(path), tmp_path)  # manifest.json wins the detection
    assert inv.image.transport == "docker-archive"
    assert inv.image.digest == img.manifest_digest
    assert inv.image.config_digest == img.config_digest


def test_history_shorter_than_layers(tmp_path: Path) -> None:
    img = build(
        [[python_dist("a", "1")], [python_dist("b", "1")]], history=[{"created_by": "only one"}]
    )
    layout = write_oci([(img, {})], tmp_path / "layout")
    meta = scan(f"oci:{layout}", tmp_path).image
    assert [layer.created_by for layer in meta.layers] == ["only one", ""]


# -- dir: sources ---------------------------------------------------------------------------


def rich_content() -> list[Node]:
    return [
        *debian_base(),
        file(
            "usr/lib/node_modules/left-pad/package.json",
            json.dumps({"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}),
        ),
        python_dist("requests", "2.31.0", "usr/local/lib/python3.11/site-packages"),
    ]


def package_view(inv: Inventory) -> list[tuple[str, str, str, str, str, str]]:
    return sorted(
        (p.type, p.name, p.version, p.purl, p.owner, p.locations[0].path) for p in inv.packages
    )


def test_dir_source_matches_the_same_content_as_an_image(tmp_path: Path) -> None:
    nodes = rich_content()
    rootfs = write_rootfs(nodes, tmp_path / "rootfs")
    archive = write_docker_archive([(build([nodes]), ["r:1"])], tmp_path / "r.tar")
    from_dir = scan(f"dir:{rootfs}", tmp_path)
    from_image = scan(str(archive), tmp_path)
    assert from_dir.image.transport == "dir"
    assert from_dir.os == from_image.os
    assert package_view(from_dir) == package_view(from_image)
    assert {"libssl3", "six", "left-pad", "requests"} <= names(from_dir)
    assert from_dir.warnings == ()


def test_dir_source_errors(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ImageError, match="not a directory"):
        open_image(f"dir:{f}")
    with pytest.raises(ImageError, match="not a directory"):
        open_image(f"dir:{tmp_path / 'missing'}")


INSIDE_OS = 'ID=insideos\nVERSION_ID="7"\nPRETTY_NAME="Inside OS 7"\n'


@pytest.mark.parametrize(
    "target",
    [
        "/usr/lib/os-release",  # absolute: the rootfs' own file, not the host's
        "../../../../../../../../usr/lib/os-release",  # climbs out on the host, not in the image
        "../../../../../../../../etc/../usr/lib/./os-release",
    ],
)
def test_dir_source_symlinks_resolve_inside_the_rootfs(tmp_path: Path, target: str) -> None:
    rootfs = write_rootfs(
        [file("usr/lib/os-release", INSIDE_OS), symlink("etc/os-release", target)],
        tmp_path / "rootfs",
    )
    inv = scan(f"dir:{rootfs}", tmp_path)
    assert inv.os is not None
    assert (inv.os.id, inv.os.version_id) == ("insideos", "7")


HOST_SECRET = "host-secret-4b1d"


def test_dir_source_never_reads_through_a_symlink_to_the_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Links that point out of the rootfs, to files on the host that would be read as package
    databases or os-release, are resolved inside the rootfs (where nothing is)."""
    host = tmp_path / "host"
    write_rootfs(
        [
            file("etc/os-release", f"ID={HOST_SECRET}\nVERSION_ID=1\n"),
            file(
                "var/lib/dpkg/status",
                f"Package: {HOST_SECRET}\nStatus: install ok installed\nVersion: 1\n",
            ),
            python_dist(HOST_SECRET, "1.0", "site"),
            file("package.json", json.dumps({"name": HOST_SECRET, "version": "1.0.0"})),
        ],
        host,
    )
    rootfs = tmp_path / "rootfs"
    depth = len(rootfs.parts) + 4
    up = "../" * depth
    write_rootfs(
        [
            file("usr/lib/os-release", DEBIAN_OS_RELEASE),
            symlink("etc/os-release", f"{host}/etc/os-release"),  # absolute host path
            symlink("var/lib/dpkg/status", f"{up}{str(host).lstrip('/')}/var/lib/dpkg/status"),
            symlink(
                f"usr/lib/python3/site-packages/{HOST_SECRET}-1.0.dist-info",
                f"{host}/site/{HOST_SECRET}-1.0.dist-info",
            ),
            symlink("usr/lib/node_modules/x", f"{up}{str(host).lstrip('/')}"),
            symlink("passwd", "/etc/passwd"),
            symlink("shadow", f"{up}etc/shadow"),
        ],
        rootfs,
    )
    inv = scan(f"dir:{rootfs}", tmp_path)
    assert inv.os is not None and inv.os.id == "debian"  # usr/lib/os-release is the fallback
    assert HOST_SECRET not in json.dumps([p.to_dict() for p in inv.packages])
    assert not any(HOST_SECRET in w for w in inv.warnings)
    code, out, err = run_cli(
        capsys, "sbom", f"dir:{rootfs}", "--format", "json", "--cache-dir", str(tmp_path / "c")
    )
    assert code == 0, err
    assert HOST_SECRET not in out and HOST_SECRET not in err
    if os.path.exists("/etc/passwd"):
        with open("/etc/passwd", encoding="utf-8", errors="replace") as f:
            first = f.readline().strip()
        assert not first or first not in out


@pytest.mark.parametrize("how", ["gzip", "zstd"])
def test_layer_compressed_as_many_members(tmp_path: Path, how: str) -> None:
    """eStargz-style layers are many gzip members (zstd: frames) back to back, some empty,
    some starting exactly at a read boundary: one stream all the same."""
    img = build(
        [[*debian_base(), file("big", os.urandom(3 * 1024 * 1024)), python_dist("late", "1.0")]],
        compression=how,
    )
    tar = img.layers[0]
    cuts = [
        0,
        512,
        700,
        4096,
        1024 * 1024,
        1024 * 1024 + 1,
        2 * 1024 * 1024,
        len(tar) - 1024,
        len(tar),
    ]
    pieces = [tar[a:b] for a, b in itertools.pairwise(cuts)]
    if how == "gzip":
        blob = b"".join(gzip.compress(p, mtime=0) for p in [*pieces[:2], b"", *pieces[2:]])
    else:
        blob = b"".join(
            zstandard.ZstdCompressor().compress(p) for p in [*pieces[:2], b"", *pieces[2:]]
        )
    layout = write_oci([(rebuild(img, blobs=[blob]), {})], tmp_path / "layout")
    inv = scan(layout, tmp_path)
    assert {"libssl3", "six", "late"} <= names(inv)
    assert inv.warnings == ()


def test_image_name_prefers_a_full_tag_over_a_bare_one() -> None:
    from hullscan.model import ImageMeta

    def meta(tags: tuple[str, ...]) -> ImageMeta:
        return ImageMeta(
            ref="oci:./layout:1", transport="oci", digest=None, config_digest=None, repo_tags=tags
        )

    assert meta(("ghcr.io/org/app:1",)).name == "ghcr.io/org/app:1"
    assert meta(("app:1",)).name == "app:1"
    assert meta(("1",)).name == "oci:./layout:1"  # an OCI ref.name that is only a tag
    assert meta(()).name == "oci:./layout:1"
