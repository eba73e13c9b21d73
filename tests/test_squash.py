"""hullscan squash on images built in code: every kind of entry, whiteouts, opaque
directories, hard links, reproducibility, --keep-base, the output kinds and the errors."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from hullscan.cli import main
from hullscan.errors import ImageError
from hullscan.pipeline import ScanOptions
from hullscan.sources import open_image
from hullscan.squash import squash
from squashview import final_view

from imagebuilder import Node, build, file, hardlink, opaque, symlink, whiteout, write_oci


def _xattr_layer() -> bytes:
    """A layer with what imagebuilder does not make: xattrs (PAX), owners by name,
    sub-second times."""
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("usr/bin/ping")
        data = b"\x7fELF ping"
        ti.size, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = (
            len(data),
            0o4755,
            0,
            0,
            "root",
            "root",
        )
        ti.mtime = 1700000000.25  # type: ignore[assignment]
        ti.pax_headers = {
            "SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
            "SCHILY.xattr.user.note": "kept",
        }
        tf.addfile(ti, io.BytesIO(data))
        ti = tarfile.TarInfo("home/app/data")
        ti.size, ti.uid, ti.gid, ti.uname, ti.gname = 3, 1000, 1000, "app", "app"
        ti.mtime = 1600000000
        tf.addfile(ti, io.BytesIO(b"abc"))
    return buf.getvalue()


LAYERS: list[list[Node]] = [
    [
        Node("etc", kind="dir"),
        file("etc/os-release", "ID=debian\nVERSION_ID=12\n"),
        file("etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640),
        Node("dev", kind="dir"),
        Node("dev/null", kind="char", mode=0o666),
        Node("dev/sda", kind="block", mode=0o660),
        Node("run/fifo", kind="fifo"),
        file("opt/tool/bin", b"v1"),
        file("opt/tool/lib/a.so", b"lib"),
        file("var/cache/big.bin", b"x" * 100_000),
        file("z/holder", b"shared inode"),
        hardlink("a/first-link", "z/holder"),
        symlink("usr/lib64", "lib"),
        file("keep/me", "base file"),
        file("gone/sub/deep", "deleted later"),
    ],
    [
        whiteout("var/cache/big.bin"),
        opaque("opt/tool"),
        file("opt/tool/bin", b"v2"),
        file("z/holder", b"replaced: the link keeps the old content"),
        whiteout("gone"),
        file("etc/app.conf", "x=1", 0o600),
        Node("etc/app.d", kind="dir", mode=0o750, uid=33, gid=33),
        Node("b/second", kind="hardlink", link="etc/app.conf", mode=0o600),
    ],  # one inode
    [Node("keep", kind="symlink", link="/etc"), file("srv/new", "top layer")],
]


def _image(tmp_path: Path, config_extra: dict[str, Any] | None = None) -> str:
    img = build(LAYERS, config_extra=config_extra)
    img = build(
        [],
        layer_bytes=[*img.layers, _xattr_layer()],
        config_extra=config_extra,
        history=[{"created_by": f"RUN step {i}"} for i in range(4)]
        + [{"created_by": "ENV SECRET=hunter2", "empty_layer": True}],
    )
    write_oci(
        [(img, {"annotations": {"org.opencontainers.image.ref.name": "1"}})], tmp_path / "src"
    )
    return f"oci:{tmp_path / 'src'}:1"


def _options(tmp_path: Path) -> ScanOptions:
    return ScanOptions(cache_dir=tmp_path / "cache", workers=1)


def _layer_members(ref: str, cache: Path, index: int = -1) -> dict[str, tarfile.TarInfo]:
    image = open_image(ref, cache_dir=cache)
    source = image.layer_sources[index]
    return {m.name.rstrip("/"): m for _, m in source.members(image_limits())}  # type: ignore[attr-defined]


def image_limits() -> Any:
    from hullscan.streams import Limits

    return Limits()


def test_squash_keeps_exactly_the_final_filesystem(tmp_path: Path) -> None:
    src = _image(tmp_path)
    result = squash(src, f"oci:{tmp_path / 'out'}:flat", _options(tmp_path))
    out = f"oci:{tmp_path / 'out'}:flat"
    assert result.squashed_layers == 4 and result.base_layers == 0
    assert len(open_image(out, cache_dir=tmp_path / "c").layers) == 1
    want, got = final_view(src, tmp_path / "c"), final_view(out, tmp_path / "c")
    assert got == want
    # what the later layers removed is really gone, and the replaced content is the new one
    assert "var/cache/big.bin" not in got and "gone/sub/deep" not in got
    assert "opt/tool/lib/a.so" not in got
    members = _layer_members(out, tmp_path / "c")
    assert not [n for n in members if ".wh." in n.rsplit("/", 1)[-1]]


def test_squash_keeps_links_devices_owners_and_xattrs(tmp_path: Path) -> None:
    out = f"oci:{tmp_path / 'out'}:flat"
    squash(_image(tmp_path), out, _options(tmp_path))
    members = _layer_members(out, tmp_path / "c")
    names = list(members)
    assert names == sorted(names)
    # the link whose target a later layer replaced keeps the old content, as a file now;
    # the other pair stays linked, the first path in sorted order holding the content
    assert members["a/first-link"].isreg()
    assert members["b/second"].isreg() and members["b/second"].mode == 0o600
    assert members["etc/app.conf"].islnk() and members["etc/app.conf"].linkname == "b/second"
    assert members["usr/lib64"].issym() and members["usr/lib64"].linkname == "lib"
    assert members["keep"].issym() and members["keep"].linkname == "/etc"
    assert members["dev/null"].ischr() and (
        members["dev/null"].devmajor,
        members["dev/null"].devminor,
    ) == (1, 3)
    assert members["dev/sda"].isblk() and members["run/fifo"].isfifo()
    ping = members["usr/bin/ping"]
    assert ping.mode == 0o4755
    assert ping.pax_headers["SCHILY.xattr.security.capability"] == "\x01\x00\x00\x02"
    assert ping.pax_headers["SCHILY.xattr.user.note"] == "kept"
    data = members["home/app/data"]
    assert (data.uid, data.gid, data.uname, data.gname) == (1000, 1000, "app", "app")
    appd = members["etc/app.d"]
    assert appd.isdir() and (appd.mode, appd.uid) == (0o750, 33)


def test_hard_links_never_point_forward(tmp_path: Path) -> None:
    # the link sorts before its target: the first path of the group holds the content
    img = build(
        [
            [
                file("z/target", b"same inode"),
                hardlink("a/link", "z/target"),
                hardlink("m/link", "z/target"),
            ]
        ]
    )
    write_oci(
        [(img, {"annotations": {"org.opencontainers.image.ref.name": "1"}})], tmp_path / "src"
    )
    out = f"oci:{tmp_path / 'out'}:1"
    squash(f"oci:{tmp_path / 'src'}:1", out, _options(tmp_path))
    members = _layer_members(out, tmp_path / "c")
    assert members["a/link"].isreg() and members["a/link"].size == len(b"same inode")
    assert members["m/link"].islnk() and members["m/link"].linkname == "a/link"
    assert members["z/target"].islnk() and members["z/target"].linkname == "a/link"
    assert final_view(out, tmp_path / "c") == final_view(
        f"oci:{tmp_path / 'src'}:1", tmp_path / "c"
    )


def test_config_keeps_runtime_settings_and_one_history_entry(tmp_path: Path) -> None:
    runtime = {
        "Env": ["PATH=/usr/bin", "SECRET=hunter2"],
        "Entrypoint": ["/entry"],
        "Cmd": ["serve"],
        "User": "app",
        "WorkingDir": "/srv",
        "Labels": {"org.opencontainers.image.title": "t"},
        "ExposedPorts": {"8080/tcp": {}},
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000},
        "OnBuild": ["RUN make"],
    }
    src = _image(tmp_path, {"config": runtime, "author": "someone"})
    out = f"oci:{tmp_path / 'out'}:flat"
    result = squash(src, out, _options(tmp_path))
    config = open_image(out, cache_dir=tmp_path / "c").config
    assert config["config"] == {k: v for k, v in runtime.items() if k != "OnBuild"}
    assert "author" not in config
    assert config["rootfs"] == {"type": "layers", "diff_ids": [result.diff_id]}
    assert len(config["history"]) == 1
    entry = config["history"][0]
    assert entry["created_by"] == "hullscan squash"
    assert "4 layers" in entry["comment"] and "hunter2" not in json.dumps(config["history"])
    assert config["architecture"] == "amd64" and config["os"] == "linux"


def test_same_input_same_digest_in_every_output_kind(tmp_path: Path) -> None:
    src = _image(tmp_path)
    outs = [
        f"oci:{tmp_path / 'a'}:x",
        f"oci:{tmp_path / 'b'}:x",
        f"oci-archive:{tmp_path / 'c.tar'}:x",
        f"docker-archive:{tmp_path / 'd.tar'}:x:1",
    ]
    results = [squash(src, o, _options(tmp_path)) for o in outs]
    assert len({r.manifest_digest for r in results}) == 1
    again = squash(src, f"oci-archive:{tmp_path / 'e.tar'}:x", _options(tmp_path))
    assert (tmp_path / "c.tar").read_bytes() == (tmp_path / "e.tar").read_bytes()
    assert again.manifest_digest == results[0].manifest_digest
    # every output reads back as the same image
    for o in outs[2:]:
        image = open_image(
            o.rsplit(":", 1)[0] if o.startswith("oci-archive") else o, cache_dir=tmp_path / "r"
        )
        assert image.config_digest == results[0].config_digest
    docker = open_image(f"docker-archive:{tmp_path / 'd.tar'}", cache_dir=tmp_path / "r")
    assert docker.repo_tags == ("x:1",)


def test_timestamps_clamp_to_source_date_epoch(tmp_path: Path) -> None:
    src = _image(tmp_path)
    default = squash(src, f"oci:{tmp_path / 'a'}:x", _options(tmp_path))
    assert default.epoch == 1704067200  # the config's created time, newer than any file
    clamped = squash(src, f"oci:{tmp_path / 'b'}:x", _options(tmp_path), source_date_epoch=1000)
    assert clamped.manifest_digest != default.manifest_digest
    members = _layer_members(f"oci:{tmp_path / 'b'}:x", tmp_path / "c")
    assert {m.mtime for m in members.values()} == {1000}
    assert (
        open_image(f"oci:{tmp_path / 'b'}:x", cache_dir=tmp_path / "c").config["created"]
        == "1970-01-01T00:16:40Z"
    )
    # the clamp leaves older times alone, and no access/change time is kept
    members = _layer_members(f"oci:{tmp_path / 'a'}:x", tmp_path / "c")
    assert members["usr/bin/ping"].mtime == 1700000000
    assert not any({"atime", "ctime"} & set(m.pax_headers) for m in members.values())


def test_keep_base_squashes_only_the_layers_above(tmp_path: Path) -> None:
    src = _image(tmp_path)
    out = f"oci:{tmp_path / 'out'}:kb"
    result = squash(src, out, _options(tmp_path), keep_base=1)
    assert (result.base_layers, result.squashed_layers) == (1, 3)
    original, squashed = (open_image(r, cache_dir=tmp_path / "c") for r in (src, out))
    assert [x.digest for x in squashed.layers][:1] == [x.digest for x in original.layers][:1]
    assert len(squashed.layers) == 2
    assert final_view(out, tmp_path / "c") == final_view(src, tmp_path / "c")
    members = _layer_members(out, tmp_path / "c")
    # deletions from the base become whiteouts; nothing of the base is copied again
    assert {"var/cache/.wh.big.bin", ".wh.gone", "opt/tool/.wh.lib"} <= set(members)
    assert "etc/os-release" not in members
    assert len(squashed.config["history"]) == 2
    assert squashed.config["history"][0] == {"created_by": "RUN step 0"}
    # a base image names the same layers
    write_oci(
        [(build(LAYERS[:1]), {"annotations": {"org.opencontainers.image.ref.name": "base"}})],
        tmp_path / "base",
    )
    by_image = squash(
        src,
        f"oci:{tmp_path / 'out2'}:kb",
        _options(tmp_path),
        keep_base=f"oci:{tmp_path / 'base'}:base",
    )
    assert by_image.manifest_digest == result.manifest_digest


def test_keep_base_errors(tmp_path: Path) -> None:
    src = _image(tmp_path)
    with pytest.raises(ImageError, match="leaves nothing to squash"):
        squash(src, f"oci:{tmp_path / 'o'}", _options(tmp_path), keep_base=4)
    write_oci([(build([[file("other", "x")]]), {})], tmp_path / "other")
    with pytest.raises(ImageError, match="not the base of"):
        squash(
            src, f"oci:{tmp_path / 'o'}", _options(tmp_path), keep_base=f"oci:{tmp_path / 'other'}"
        )
    assert not (tmp_path / "o").exists()


def test_layout_gains_a_tag_and_keeps_others(tmp_path: Path) -> None:
    src = _image(tmp_path)
    squash(src, f"oci:{tmp_path / 'src'}:flat", _options(tmp_path))
    index = json.loads((tmp_path / "src" / "index.json").read_text())
    names = [d["annotations"]["org.opencontainers.image.ref.name"] for d in index["manifests"]]
    assert names == ["1", "flat"]
    squash(src, f"oci:{tmp_path / 'src'}:flat", _options(tmp_path))  # replaced, not added
    index = json.loads((tmp_path / "src" / "index.json").read_text())
    assert len(index["manifests"]) == 2


def test_cli_squash_and_its_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _image(tmp_path)
    cache = ["--cache-dir", str(tmp_path / "cache")]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert main(["squash", src, str(tmp_path / "flat.tar"), *cache]) == 0
    out = capsys.readouterr().out
    assert "4 layer(s) squashed into one" in out
    assert (
        open_image(str(tmp_path / "flat.tar"), cache_dir=tmp_path / "c").config["created"]
        == "2023-11-14T22:13:20Z"
    )
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    assert main(["squash", src, str(tmp_path / "x.tar"), *cache]) == 2
    assert "SOURCE_DATE_EPOCH" in capsys.readouterr().err
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert main(["squash", src, "registry:127.0.0.1:5000/x:1", *cache]) == 2
    assert "not to registry:" in capsys.readouterr().err
    (tmp_path / "rootfs").mkdir()
    assert main(["squash", f"dir:{tmp_path / 'rootfs'}", str(tmp_path / "y.tar"), *cache]) == 2
    assert "no image layers to squash" in capsys.readouterr().err
    (tmp_path / "notlayout").mkdir()
    (tmp_path / "notlayout" / "file").write_text("x")
    assert main(["squash", src, f"oci:{tmp_path / 'notlayout'}", *cache]) == 2
    assert "not an OCI layout" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".tar") == ["flat.tar"]


def test_push_streams_the_squashed_image_to_a_registry(tmp_path: Path) -> None:
    import os

    from localregistry import REGISTRY, start_registry, stop_registry

    if not os.access(REGISTRY, os.X_OK):
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh)")
    src = _image(tmp_path)
    reg = start_registry(tmp_path / "registry")
    try:
        target = f"registry:{reg.host}/test/flat:1"
        result = squash(src, None, _options(tmp_path), push=target)
        assert result.output == f"{reg.host}/test/flat:1"
        pulled = open_image(target, cache_dir=tmp_path / "pull")
        assert pulled.manifest_digest == result.manifest_digest
        assert final_view(target, tmp_path / "pull") == final_view(src, tmp_path / "c")
        # pushed again with a layout written too: nothing changes, blobs are not resent
        again = squash(src, f"oci:{tmp_path / 'out'}:1", _options(tmp_path), push=target)
        assert again.manifest_digest == result.manifest_digest
        with pytest.raises(ImageError, match="push to a tag"):
            squash(
                src,
                None,
                _options(tmp_path),
                push=f"registry:{reg.host}/test/flat@sha256:{'0' * 64}",
            )
    finally:
        stop_registry(reg)


def test_output_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hullscan.references import OutputRef, parse_output

    monkeypatch.chdir(tmp_path)
    (tmp_path / "layout:odd").mkdir()
    assert parse_output("oci:new:1.0") == OutputRef("oci", "new", "1.0")
    assert parse_output("oci:new") == OutputRef("oci", "new", None)
    assert parse_output(f"oci:{tmp_path}/sub/x:1") == OutputRef(
        "oci", f"{tmp_path}/sub/x:1", None
    )  # no such parent
    assert parse_output("docker-archive:out.tar:corpus/app:flat") == OutputRef(
        "docker-archive", "out.tar", "corpus/app:flat"
    )
    assert parse_output("oci-archive:out.tar:v1") == OutputRef("oci-archive", "out.tar", "v1")
    assert parse_output("oci:layout:odd:2") == OutputRef("oci", "layout:odd", "2")  # existing
    assert parse_output("flat.tar") == OutputRef("docker-archive", "flat.tar", None)
    assert parse_output("flat") == OutputRef("oci", "flat", None)
    for bad, why in (
        ("oci:", "no path"),
        ("registry:reg/app:1", "not to registry:"),
        ("docker:app:1", "not to docker:"),
        ("dir:x", "not to dir:"),
    ):
        with pytest.raises(ImageError, match=why):
            parse_output(bad)
