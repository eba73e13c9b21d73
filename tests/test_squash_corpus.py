"""hullscan squash on the corpus images: the squashed image is the same image to a scanner
and to a container runtime, in one layer, with nothing wasted, reproducibly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hullscan.pipeline import ScanOptions
from hullscan.sources import open_image
from hullscan.squash import squash
from squashview import final_view, scan_json

from conftest import corpus_image

pytestmark = pytest.mark.corpus

#: image -> the form it is read from (both forms are covered)
IMAGES = {
    "debian-bookworm": "docker-archive",
    "app-python": "oci",
    "secrets-and-misconfig": "docker-archive",
    "multi-layer-big": "oci",
}


def _ref(name: str) -> str:
    root = corpus_image(name)
    if IMAGES.get(name, "oci") == "oci":
        return f"oci:{root / 'oci'}:latest"
    return f"docker-archive:{root / 'docker-archive.tar'}"


def _packages(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return sorted((p["type"], p["name"], p["version"], p["purl"]) for p in report["packages"])


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{argv[0]}: {done.stderr}"
    return done.stdout


@pytest.mark.parametrize("name", list(IMAGES))
def test_squashed_corpus_image_is_the_same_image_in_one_layer(name: str, tmp_path: Path) -> None:
    src = _ref(name)
    cache = tmp_path / "cache"
    options = ScanOptions(cache_dir=cache)
    out_dir = tmp_path / "flat"
    result = squash(src, f"oci:{out_dir}:squashed", options)
    out = f"oci:{out_dir}:squashed"
    assert len(open_image(out, cache_dir=cache).layers) == 1

    # file by file: content hashes, modes, owners, link targets
    assert final_view(out, cache) == final_view(src, cache)

    # the same inventory; nothing wasted; no finding about a file the image no longer ships
    before, after = scan_json(src, cache), scan_json(out, cache)
    assert _packages(after) == _packages(before)
    assert after["summary"]["image"]["layers"]["wasted_bytes"] == 0
    assert not [f for f in after["findings"] if f.get("in_final_image") is False]
    gone = [f for f in before["findings"] if f.get("in_final_image") is False]
    if name == "secrets-and-misconfig":
        assert gone  # the original ships deleted secrets; the squashed image does not

    # reproducible: the same digest again, even into another kind of output
    again = squash(src, f"docker-archive:{tmp_path / 'again.tar'}:corpus/{name}:flat", options)
    assert again.manifest_digest == result.manifest_digest

    # other tools accept it
    inspected = json.loads(_run("skopeo", "inspect", out))
    assert inspected["Digest"] == result.manifest_digest
    assert inspected["Layers"] == [result.layer_digest]
    inspected = json.loads(_run("skopeo", "inspect", f"docker-archive:{tmp_path / 'again.tar'}"))
    assert len(inspected["Layers"]) == 1
    bundle = tmp_path / "bundle"
    _run("umoci", "unpack", "--image", f"{out_dir}:squashed", str(bundle))
    assert (bundle / "rootfs" / "etc" / "os-release").exists()
    shutil.rmtree(bundle)


def test_squashed_rootfs_unpacks_like_the_original(tmp_path: Path) -> None:
    """A container runtime's view: umoci unpacks the original (applying whiteouts itself)
    and the squashed image to the same tree."""
    name = "secrets-and-misconfig"
    original = corpus_image(name) / "oci"
    out_dir = tmp_path / "flat"
    squash(f"oci:{original}:latest", f"oci:{out_dir}:flat", ScanOptions(cache_dir=tmp_path / "c"))
    _run("umoci", "unpack", "--image", f"{original}:latest", str(tmp_path / "a"))
    _run("umoci", "unpack", "--image", f"{out_dir}:flat", str(tmp_path / "b"))
    assert _tree(tmp_path / "a" / "rootfs") == _tree(tmp_path / "b" / "rootfs")


def _tree(root: Path) -> dict[str, tuple[Any, ...]]:
    import hashlib
    import stat

    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in [*dirnames, *filenames]:
            p = Path(dirpath) / n
            st = p.lstat()
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else ""
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
            out[str(p.relative_to(root))] = (
                st.st_mode,
                st.st_uid,
                st.st_gid,
                link,
                digest,
                st.st_nlink if stat.S_ISREG(st.st_mode) else 0,
            )
    return out


def test_keep_base_shares_the_base_layer(tmp_path: Path) -> None:
    src = _ref("app-python")
    cache = tmp_path / "cache"
    out = f"oci:{tmp_path / 'kb'}:kb"
    result = squash(
        src,
        out,
        ScanOptions(cache_dir=cache),
        keep_base=f"oci:{corpus_image('debian-bookworm') / 'oci'}:latest",
    )
    assert result.base_layers == 1
    original, squashed = open_image(src, cache_dir=cache), open_image(out, cache_dir=cache)
    assert len(squashed.layers) == 2
    assert squashed.layers[0].digest == original.layers[0].digest
    assert final_view(out, cache) == final_view(src, cache)
    assert _packages(scan_json(out, cache)) == _packages(scan_json(src, cache))
    assert json.loads(_run("skopeo", "inspect", out))["Layers"][0] == original.layers[0].digest
