"""The layer model: whiteouts, opaque directories, replacement, per-path history, package
provenance across layers, hard links and symlinks."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import IO, Any, ClassVar

import pytest

from hullscan.analyzer import Analyzer, AnalyzerResult
from hullscan.blob import BlobRef
from hullscan.filesystem import ImageFilesystem, PathVersion
from hullscan.inventory import default_analyzers
from hullscan.layers import LayerAnalysis, TarLayerSource, analyze_layer
from hullscan.model import FileInfo, FileType, Inventory, Package
from hullscan.pipeline import ScanOptions, analyze_layers, inventory
from hullscan.sources import open_image
from hullscan.streams import Limits

from imagebuilder import (
    BuiltImage,
    Node,
    build,
    debian_base,
    file,
    hardlink,
    layer_tar,
    opaque,
    python_dist,
    sha256,
    symlink,
    whiteout,
    write_docker_archive,
    write_oci,
)

SITE = "usr/lib/python3/site-packages"


def opts(tmp_path: Path) -> ScanOptions:
    return ScanOptions(cache_dir=tmp_path / "cache", workers=1)


def image_path(
    layers: list[list[Node]], tmp_path: Path, name: str = "img.tar"
) -> tuple[Path, BuiltImage]:
    img = build(layers)
    return write_docker_archive([(img, ["t:1"])], tmp_path / name), img


def scan(layers: list[list[Node]], tmp_path: Path) -> tuple[Inventory, BuiltImage]:
    path, img = image_path(layers, tmp_path)
    return inventory(str(path), opts(tmp_path)), img


def merged(layers: list[list[Node]], tmp_path: Path) -> ImageFilesystem:
    path, _ = image_path(layers, tmp_path, "fs.tar")
    image = open_image(str(path))
    return ImageFilesystem(analyze_layers(image, default_analyzers(), opts(tmp_path)))


def names(inv: Inventory) -> set[str]:
    return {p.name for p in inv.packages}


def final_paths(fs: ImageFilesystem) -> set[str]:
    return set(fs.final)


def history(fs: ImageFilesystem, path: str) -> list[tuple[int, str | None]]:
    """(layer, type written or None for a deletion) for every version of ``path``."""
    return [(v.layer, v.info.type.value if v.info else None) for v in fs.history.get(path, [])]


# -- whiteouts and opaque directories -------------------------------------------------------


def test_whiteout_hides_a_lower_file_and_its_package(tmp_path: Path) -> None:
    layers = [
        [python_dist("keep", "1.0"), python_dist("gone", "1.0"), file("etc/motd", "hi")],
        [whiteout(f"{SITE}/gone-1.0.dist-info"), whiteout("etc/motd")],
    ]
    inv, _ = scan(layers, tmp_path)
    assert names(inv) == {"keep"}
    fs = merged(layers, tmp_path)
    assert "etc/motd" not in fs.final and "etc" in fs.final
    meta = f"{SITE}/gone-1.0.dist-info/METADATA"
    assert meta not in fs.final and f"{SITE}/gone-1.0.dist-info" not in fs.final
    assert history(fs, meta) == [(0, "file"), (1, None)]
    assert history(fs, "etc/motd") == [(0, "file"), (1, None)]
    assert fs.layers[1].whiteouts == [f"{SITE}/gone-1.0.dist-info", "etc/motd"]


def test_whiteout_of_a_metadata_file_only(tmp_path: Path) -> None:
    inv, _ = scan(
        [[python_dist("gone", "1.0")], [whiteout(f"{SITE}/gone-1.0.dist-info/METADATA")]], tmp_path
    )
    assert names(inv) == set()


def test_whiteout_then_readd_in_a_later_layer(tmp_path: Path) -> None:
    layers = [
        [python_dist("pkg", "1.0")],
        [whiteout(f"{SITE}/pkg-1.0.dist-info")],
        [python_dist("pkg", "1.0")],
    ]
    inv, img = scan(layers, tmp_path)
    (pkg,) = inv.packages
    assert pkg.locations[0].layer == sha256(img.layers[2])
    fs = merged(layers, tmp_path)
    assert history(fs, f"{SITE}/pkg-1.0.dist-info/METADATA") == [
        (0, "file"),
        (1, None),
        (2, "file"),
    ]


def test_whiteout_and_replacement_in_the_same_layer(tmp_path: Path) -> None:
    """A whiteout only hides lower layers: the same layer may put a new file there."""
    layers = [
        [file("opt/app/config", "old"), file("opt/app/other", "x")],
        [whiteout("opt/app"), file("opt/app/config", "new")],
    ]
    fs = merged(layers, tmp_path)
    assert fs.lookup("opt/app/config") is not None
    assert fs.lookup("opt/app/config")[0] == 1  # type: ignore[index]
    assert fs.lookup("opt/app/other") is None
    assert history(fs, "opt/app/other") == [(0, "file"), (1, None)]


def test_whiteout_of_a_missing_path_is_harmless(tmp_path: Path) -> None:
    fs = merged([[file("a", "1")], [whiteout("nothing/here"), whiteout("b")]], tmp_path)
    assert final_paths(fs) == {"a"}
    assert "b" not in fs.history


def test_aufs_metadata_is_not_a_whiteout(tmp_path: Path) -> None:
    """``.wh..wh.*`` entries are aufs bookkeeping: they hide nothing (``.wh..wh.plnk`` would
    otherwise delete a file called ``.wh.plnk``)."""
    layers = [
        [file("a", "1"), file("plnk", "")],
        [Node(".wh..wh.plnk", kind="dir"), file(".wh..wh.aufs", "")],
    ]
    fs = merged(layers, tmp_path)
    assert final_paths(fs) == {"a", "plnk"}
    assert fs.layers[1].whiteouts == [] and fs.layers[1].opaque_dirs == []


def test_opaque_directory_hides_lower_content_only(tmp_path: Path) -> None:
    layers = [
        [
            file("opt/app/lib/a.py", "a"),
            file("opt/app/b.py", "b"),
            file("opt/other/c", "c"),
            python_dist("lower", "1.0", "opt/app/site"),
        ],
        [
            opaque("opt/app"),
            file("opt/app/new.py", "n"),
            python_dist("upper", "2.0", "opt/app/site"),
        ],
    ]
    fs = merged(layers, tmp_path)
    assert {p for p in final_paths(fs) if p.startswith("opt/")} == {
        "opt/app",
        "opt/app/new.py",
        "opt/other",
        "opt/other/c",
        "opt/app/site",
        "opt/app/site/upper-2.0.dist-info",
        "opt/app/site/upper-2.0.dist-info/METADATA",
    }
    assert history(fs, "opt/app/lib/a.py") == [(0, "file"), (1, None)]
    assert history(fs, "opt/app/lib") == [(0, "dir"), (1, None)]
    assert fs.layers[1].opaque_dirs == ["opt/app"]
    inv, _ = scan(layers, tmp_path)
    assert names(inv) == {"upper"}


def test_opaque_marker_at_the_root_of_a_nested_directory(tmp_path: Path) -> None:
    layers = [[file("a/b/c/d", "1"), file("a/b/e", "2"), file("a/f", "3")], [opaque("a/b/c")]]
    fs = merged(layers, tmp_path)
    assert final_paths(fs) == {"a", "a/b", "a/b/c", "a/b/e", "a/f"}


# -- replacement ----------------------------------------------------------------------------


def test_file_replaced_by_a_directory(tmp_path: Path) -> None:
    layers = [
        [file("opt/thing", "a file")],
        [Node("opt/thing", kind="dir"), file("opt/thing/inside", "x")],
    ]
    fs = merged(layers, tmp_path)
    assert fs.lookup("opt/thing")[1].type is FileType.DIR  # type: ignore[index]
    assert fs.lookup("opt/thing/inside") is not None
    assert history(fs, "opt/thing") == [(0, "file"), (1, "dir")]


def test_directory_replaced_by_a_file(tmp_path: Path) -> None:
    layers = [
        [python_dist("pkg", "1.0", "opt/site"), file("opt/site/mod.py", "x")],
        [file("opt/site", "now a file")],
    ]
    fs = merged(layers, tmp_path)
    assert fs.lookup("opt/site")[1].type is FileType.REG  # type: ignore[index]
    assert not [p for p in fs.final if p.startswith("opt/site/")]
    assert history(fs, "opt/site/mod.py") == [(0, "file"), (1, None)]
    assert history(fs, "opt/site/pkg-1.0.dist-info/METADATA") == [(0, "file"), (1, None)]
    inv, _ = scan(layers, tmp_path)
    assert names(inv) == set()


def test_directory_replaced_by_a_symlink(tmp_path: Path) -> None:
    layers = [[python_dist("pkg", "1.0", "opt/site")], [symlink("opt/site", "/usr/lib")]]
    inv, _ = scan(layers, tmp_path)
    assert names(inv) == set()


def test_a_later_layer_overwrites_a_file(tmp_path: Path) -> None:
    layers = [
        [python_dist("pkg", "1.0", "s")],
        [file("s/pkg-1.0.dist-info/METADATA", "Name: pkg\nVersion: 1.1\n\n")],
    ]
    inv, img = scan(layers, tmp_path)
    (pkg,) = inv.packages
    assert (pkg.version, pkg.locations[0].layer) == ("1.1", sha256(img.layers[1]))
    fs = merged(layers, tmp_path)
    assert [v.layer for v in fs.history["s/pkg-1.0.dist-info/METADATA"]] == [0, 1]
    assert all(isinstance(v, PathVersion) for v in fs.history["s/pkg-1.0.dist-info/METADATA"])


def test_parents_missing_from_the_tar_still_exist(tmp_path: Path) -> None:
    fs = merged([[file("deep/er/still/file", "x")]], tmp_path)
    assert final_paths(fs) == {"deep", "deep/er", "deep/er/still", "deep/er/still/file"}
    assert fs.lookup("deep/er")[1].type is FileType.DIR  # type: ignore[index]


# -- provenance of packages in a shared database --------------------------------------------


def status(*pkgs: tuple[str, str]) -> Node:
    text = "".join(
        f"Package: {n}\nStatus: install ok installed\nArchitecture: amd64\n"
        f"Version: {v}\nDescription: d\n\n"
        for n, v in pkgs
    )
    return file("var/lib/dpkg/status", text)


def test_dpkg_packages_keep_the_layer_that_first_installed_them(tmp_path: Path) -> None:
    layers = [
        [status(("base-files", "12.4"), ("libc6", "2.36-9"))],
        [file("etc/hostname", "x")],  # does not touch the database
        [status(("base-files", "12.4"), ("libc6", "2.36-9+deb12u4"), ("curl", "7.88.1-10"))],
        [
            status(
                ("base-files", "12.4"),
                ("libc6", "2.36-9+deb12u4"),
                ("curl", "7.88.1-10"),
                ("jq", "1.6-2.1"),
            )
        ],
    ]
    inv, img = scan(layers, tmp_path)
    layer_of = {p.name: p.locations[0].layer for p in inv.packages}
    diff = [sha256(t) for t in img.layers]
    assert layer_of == {"base-files": diff[0], "libc6": diff[2], "curl": diff[2], "jq": diff[3]}
    assert all(p.locations[0].path == "var/lib/dpkg/status" for p in inv.packages)


def test_dpkg_provenance_restarts_after_the_database_was_deleted(tmp_path: Path) -> None:
    layers = [
        [status(("a", "1"))],
        [whiteout("var/lib/dpkg/status")],
        [status(("a", "1"), ("b", "1"))],
    ]
    inv, img = scan(layers, tmp_path)
    assert {p.name: p.locations[0].layer for p in inv.packages} == {
        "a": sha256(img.layers[2]),
        "b": sha256(img.layers[2]),
    }


def test_dpkg_package_removed_in_a_later_layer(tmp_path: Path) -> None:
    inv, _ = scan([[status(("a", "1"), ("b", "1"))], [status(("a", "1"))]], tmp_path)
    assert names(inv) == {"a"}


def test_debian_base_provenance_with_a_pip_layer(tmp_path: Path) -> None:
    inv, img = scan(
        [
            debian_base(),
            [python_dist("requests", "2.31.0", "usr/local/lib/python3.11/site-packages")],
        ],
        tmp_path,
    )
    by_name = {p.name: p for p in inv.packages}
    assert by_name["libssl3"].locations[0].layer == sha256(img.layers[0])
    assert by_name["requests"].locations[0].layer == sha256(img.layers[1])
    assert by_name["six"].owner == "python3-six"
    assert by_name["requests"].owner == ""


# -- hard links -----------------------------------------------------------------------------


class Recorder(Analyzer):
    """Wants ``*.want`` files; records every read; the file's text names a package."""

    name: ClassVar[str] = "recorder"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def required(self, path: str, info: FileInfo) -> bool:
        return path.endswith(".want")

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        self.calls.append(path)
        text = stream.read().decode()
        return AnalyzerResult(
            packages=[Package(text, "1", "generic", f"pkg:generic/{text}@1", found_by=self.name)]
        )


def analyze_nodes(nodes: list[Node], tmp_path: Path, analyzers: list[Analyzer]) -> LayerAnalysis:
    blob = tmp_path / "layer.tar"
    blob.write_bytes(layer_tar(nodes))
    source = TarLayerSource(
        blob=BlobRef(str(blob)), label="layer 0", digest=None, size=None, diff_id=None
    )
    return analyze_layer(source, analyzers, Limits())


def packages_at(analysis: LayerAnalysis) -> dict[str, list[str]]:
    return {
        path: [p.name for r in by.values() for p in r.packages]
        for path, by in analysis.results.items()
    }


def test_hard_link_to_an_analyzed_file_reuses_its_result(tmp_path: Path) -> None:
    rec = Recorder()
    out = analyze_nodes([file("a.want", "alpha"), hardlink("b.want", "a.want")], tmp_path, [rec])
    assert rec.calls == ["a.want"]
    assert packages_at(out) == {"a.want": ["alpha"], "b.want": ["alpha"]}


def test_hard_link_to_an_unwanted_file_is_read_in_a_second_pass(tmp_path: Path) -> None:
    rec = Recorder()
    out = analyze_nodes(
        [file("store/blob", "beta"), file("other", "o"), hardlink("c.want", "store/blob")],
        tmp_path,
        [rec],
    )
    assert rec.calls == ["c.want"]
    assert packages_at(out) == {"c.want": ["beta"]}
    assert [f.type for f in out.files] == [FileType.REG, FileType.REG, FileType.HARDLINK]


def test_several_hard_links_to_one_unwanted_file(tmp_path: Path) -> None:
    rec = Recorder()
    out = analyze_nodes(
        [
            file("store/blob", "gamma"),
            hardlink("d.want", "store/blob"),
            hardlink("e.want", "store/blob"),
            file("store/two", "delta"),
            hardlink("f.want", "store/two"),
        ],
        tmp_path,
        [rec],
    )
    assert sorted(rec.calls) == ["d.want", "e.want", "f.want"]
    assert packages_at(out) == {"d.want": ["gamma"], "e.want": ["gamma"], "f.want": ["delta"]}


def test_hard_links_that_lead_nowhere(tmp_path: Path) -> None:
    rec = Recorder()
    out = analyze_nodes(
        [
            hardlink("early.want", "later"),
            file("later", "x"),
            Node("dir", kind="dir"),
            hardlink("to-dir.want", "dir"),
            symlink("sym", "later"),
            hardlink("to-sym.want", "sym"),
            hardlink("missing.want", "no/such/file"),
        ],
        tmp_path,
        [rec],
    )
    assert rec.calls == []
    assert out.results == {}
    assert out.warnings == []


def test_hard_linked_python_metadata_in_an_image(tmp_path: Path) -> None:
    """uv and pip caches install by hard link: the METADATA a scan wants may be a link to a
    file under a path nobody asked for."""
    meta = "Metadata-Version: 2.1\nName: linked\nVersion: 3.0\n\n"
    layers = [
        [
            file("root/.cache/uv/archive-v0/abc/METADATA.orig", meta),
            hardlink(
                f"{SITE}/linked-3.0.dist-info/METADATA",
                "root/.cache/uv/archive-v0/abc/METADATA.orig",
            ),
            python_dist("plain", "1.0"),
            hardlink(
                "opt/venv/plain-1.0.dist-info/METADATA", f"{SITE}/plain-1.0.dist-info/METADATA"
            ),
        ]
    ]
    inv, _ = scan(layers, tmp_path)
    found = sorted((p.name, p.locations[0].path) for p in inv.packages)
    assert found == [
        ("linked", f"{SITE}/linked-3.0.dist-info/METADATA"),
        ("plain", "opt/venv/plain-1.0.dist-info/METADATA"),
        ("plain", f"{SITE}/plain-1.0.dist-info/METADATA"),
    ]
    # served from the cache the second time, with the same answer
    again = inventory(str(tmp_path / "img.tar"), opts(tmp_path))
    assert again.packages == inv.packages


# -- symlinks -------------------------------------------------------------------------------


def test_symlinked_parent_directories_resolve_for_ownership(tmp_path: Path) -> None:
    """dpkg lists files under /lib while they live under usr/lib (merged /usr)."""
    layers = [
        [
            symlink("lib", "usr/lib"),
            python_dist("owned", "1.0", "usr/lib/python3/dist-packages"),
            python_dist("free", "1.0", "usr/lib/python3/dist-packages"),
            status(("python3-owned", "1.0-1")),
            file(
                "var/lib/dpkg/info/python3-owned.list",
                "/.\n/lib/python3/dist-packages/owned-1.0.dist-info\n"
                "/lib/python3/dist-packages/owned-1.0.dist-info/METADATA\n",
            ),
        ]
    ]
    inv, _ = scan(layers, tmp_path)
    owners = {p.name: p.owner for p in inv.packages}
    assert owners == {"owned": "python3-owned", "free": "", "python3-owned": ""}
    fs = merged(layers, tmp_path)
    assert fs.canonical("lib/python3/dist-packages/x") == "usr/lib/python3/dist-packages/x"
    assert fs.resolve("lib/python3") == "usr/lib/python3"


def test_package_found_through_a_symlinked_directory_is_owned(tmp_path: Path) -> None:
    """The reverse: the file list names usr/lib, the package sits under lib -> usr/lib
    through an absolute link."""
    layers = [
        [
            symlink("lib", "/usr/lib"),
            python_dist("owned", "1.0", "usr/lib/python3/dist-packages"),
            status(("python3-owned", "1.0-1")),
            file(
                "var/lib/dpkg/info/python3-owned.list",
                "/usr/lib/python3/dist-packages/owned-1.0.dist-info/METADATA\n",
            ),
        ]
    ]
    inv, _ = scan(layers, tmp_path)
    assert {p.name: p.owner for p in inv.packages}["owned"] == "python3-owned"


def test_resolve_stays_inside_the_image(tmp_path: Path) -> None:
    fs = merged(
        [
            [
                file("usr/lib/x", "1"),
                symlink("abs", "/usr/lib"),
                symlink("up", "../../../../usr"),
                symlink("usr/lib/self-up", "../../../.."),
                symlink("dot", "./usr/./lib/../lib"),
            ]
        ],
        tmp_path,
    )
    assert fs.resolve("abs/x") == "usr/lib/x"
    assert fs.resolve("up/lib/x") == "usr/lib/x"
    assert fs.resolve("usr/lib/self-up") == ""
    assert fs.resolve("usr/lib/self-up/usr/lib/x") == "usr/lib/x"
    assert fs.resolve("dot/x") == "usr/lib/x"
    assert fs.resolve("../../usr/lib/x") == "usr/lib/x"
    assert fs.resolve("missing/../usr/lib/x") == "usr/lib/x"


def test_link_loops_do_not_hang(tmp_path: Path) -> None:
    layers = [
        [
            symlink("a", "b"),
            symlink("b", "a"),
            symlink("self", "self"),
            symlink("grow", "grow/more"),
            symlink("etc/os-release", "/etc/os-release"),
            symlink("usr/lib/os-release", "../../etc/os-release"),
            symlink("var/lib/dpkg", "../../var/lib/dpkg"),
        ]
    ]
    fs = merged(layers, tmp_path)
    started = time.monotonic()
    for path in (
        "a",
        "b/x",
        "self",
        "grow",
        "grow/x/y",
        "etc/os-release",
        "usr/lib/os-release",
        "var/lib/dpkg/status",
    ):
        assert fs.resolve(path) is None, path
        assert fs.results_at(path, "dpkg") is None
    assert fs.canonical("a/file") == "file"
    assert time.monotonic() - started < 0.5
    inv, _ = scan(layers, tmp_path)
    assert inv.os is None and inv.packages == ()


def test_many_chained_links_are_followed_up_to_a_bound(tmp_path: Path) -> None:
    chain = [symlink(f"l{i}", f"l{i + 1}") for i in range(60)]
    fs = merged([[file("l60", "end"), *chain]], tmp_path)
    assert fs.resolve("l30") == "l60"
    assert fs.resolve("l0") is None  # more hops than any kernel would follow


@pytest.mark.parametrize("kind", ["char", "block", "fifo"])
def test_special_files_are_listed(tmp_path: Path, kind: str) -> None:
    fs = merged([[Node("dev/thing", kind=kind)]], tmp_path)
    entry: Any = fs.lookup("dev/thing")
    assert entry is not None and entry[1].type.value == kind


def test_hard_links_to_a_file_over_the_analyzer_size_limit(tmp_path: Path) -> None:
    class Small(Recorder):
        max_size: ClassVar[int] = 3

    rec = Small()
    out = analyze_nodes(
        [
            file("store/big", "too big"),
            hardlink("g.want", "store/big"),
            hardlink("h.want", "store/big"),
        ],
        tmp_path,
        [rec],
    )
    assert rec.calls == []
    assert len(out.warnings) == 2 and all("over its 3-byte limit" in w for w in out.warnings)


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    ("path", "mode"), [("var/lib/dpkg/status", 0o644), ("usr/local/bin/app", 0o755)]
)
def test_layer_ending_inside_a_wanted_file_is_corrupt(
    tmp_path: Path, path: str, mode: int, debug: bool
) -> None:
    """Found by fuzzing: tarfile's ReadError, raised while an analyzer (or the spooled copy
    several analyzers share) read a file the layer cuts short, escaped as itself."""
    from hullscan.errors import ImageError

    from imagebuilder import DPKG_STATUS, file, layer_tar

    content = b"\x7fELF" + b"\x00" * 5000 if mode & 0o111 else DPKG_STATUS.encode()
    tar = layer_tar([file(path, content, mode)])
    blob = tmp_path / "layer.tar"
    blob.write_bytes(tar[: 512 + len(content) // 2])  # the header, half the content
    source = TarLayerSource(
        blob=BlobRef(str(blob)), label="layer 0", digest=None, size=None, diff_id=None
    )
    with pytest.raises(ImageError, match="layer 0: corrupt tar archive"):
        analyze_layer(source, default_analyzers(), Limits(), debug=debug)


def test_an_analysis_crosses_to_another_process_unchanged(tmp_path: Path) -> None:
    """Worker processes return layer analyses pickled; files pickle by their fields."""
    import pickle

    from imagebuilder import DPKG_STATUS

    tar = layer_tar(
        [
            file("var/lib/dpkg/status", DPKG_STATUS.encode()),
            file("usr/bin/tool", b"#!/bin/sh\n", 0o755),
            symlink("bin", "usr/bin"),
            hardlink("usr/bin/again", "usr/bin/tool"),
        ]
    )
    blob = tmp_path / "layer.tar"
    blob.write_bytes(tar)
    source = TarLayerSource(
        blob=BlobRef(str(blob)), label="layer 0", digest=None, size=None, diff_id=None
    )
    analysis = analyze_layer(source, default_analyzers(), Limits())
    copy = pickle.loads(pickle.dumps(analysis, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy == analysis and copy.to_dict() == analysis.to_dict()
    assert {f.type for f in copy.files} == {FileType.REG, FileType.SYMLINK, FileType.HARDLINK}
    assert all(type(f) is FileInfo and type(f.type) is FileType for f in copy.files)
    info = FileInfo("a/b", FileType.SYMLINK, 0, 0o777, 1, 2, "../c", 1700000000)
    assert pickle.loads(pickle.dumps(info)) == info


def test_layers_reach_the_filesystem_in_order_as_they_are_done(tmp_path: Path) -> None:
    """A scan builds its merged filesystem layer by layer while its workers read the rest;
    the result is the filesystem of all the layers at once, however the layers finish."""
    layers = [
        debian_base(),
        [file("usr/lib/big.bin", b"x" * 3_000_000), whiteout("etc/debian_version")],
        [symlink("lib", "usr/lib"), file("lib/tool", b"#!/bin/sh\n", 0o755)],
        [opaque("usr/lib"), file("usr/lib/only", b"1")],
    ]
    path, _ = image_path(layers, tmp_path)
    for workers in (1, 2):
        seen: list[LayerAnalysis] = []
        options = ScanOptions(cache_dir=tmp_path / f"c{workers}", workers=workers)
        found = analyze_layers(
            open_image(str(path)), default_analyzers(), options, on_layer=seen.append
        )
        assert seen == found and [a.diff_id for a in found] == [
            s.diff_id for s in open_image(str(path)).layer_sources
        ]
        # from the cache, with the lowest layer missing from it: the layers above wait for it
        with sqlite3.connect(options.cache_dir / "layers.sqlite") as db:
            assert (
                db.execute(
                    "DELETE FROM layer_analysis WHERE diff_id = ?", (found[0].diff_id,)
                ).rowcount
                == 1
            )
        again: list[LayerAnalysis] = []
        assert (
            analyze_layers(
                open_image(str(path)), default_analyzers(), options, on_layer=again.append
            )
            == again
            == found
        )
    whole = ImageFilesystem(found)
    step = ImageFilesystem()
    for i, analysis in enumerate(found):
        step.add_layer(analysis)
        # what was asked of the filesystem so far does not outlive the next layer
        assert step.owners() == ImageFilesystem(found[: i + 1]).owners()
        assert step.resolve("lib/tool") == ImageFilesystem(found[: i + 1]).resolve("lib/tool")
    assert step.final == whole.final and step.history == whole.history
    assert step.layers == whole.layers == found


# -- hashing on a thread, or inline -----------------------------------------------------------


def test_a_stream_hashes_on_a_thread_unless_its_process_says_not() -> None:
    import io

    from hullscan import streams

    def pool_of_a_new_stream() -> object:
        stream = streams.open_layer_stream(io.BytesIO(b"x" * 10), "l", None, None, None, Limits())
        try:
            return stream._pipe._pool
        finally:
            stream.close()

    assert pool_of_a_new_stream() is not None
    try:
        streams.hash_on_a_thread(False)
        assert pool_of_a_new_stream() is None
    finally:
        streams.hash_on_a_thread(True)


@pytest.mark.parametrize(("cores", "threaded"), [(2, False), (8, True)])
def test_workers_on_every_core_hash_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int, threaded: bool
) -> None:
    """Two layer workers on two cores each hash inline: a hash thread would only contend
    with the other worker. With cores to spare, each worker's streams use a thread."""
    import concurrent.futures

    from hullscan import pipeline

    told: list[bool] = []
    real = concurrent.futures.ProcessPoolExecutor

    def recording(*args: Any, **kw: Any) -> Any:
        told.append(kw["initargs"][0])
        return real(*args, **kw)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", recording)
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: cores)
    img = build([[python_dist("a", "1")], [python_dist("b", "2")]])
    layout = write_oci([(img, {})], tmp_path / "layout")
    found = inventory(str(layout), ScanOptions(cache_dir=tmp_path / "c", workers=2))
    assert {p.name for p in found.packages} >= {"a", "b"}
    assert told == [threaded]
