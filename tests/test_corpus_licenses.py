"""Debian packages' licences on the corpus images equal what their copyright files state,
read here independently: the layers' tars unpacked in order (whiteouts applied) and each
machine-readable file parsed with python-debian's full DEP-5 parser."""

from __future__ import annotations

import json
import logging
import posixpath
import tarfile
from pathlib import Path

import pytest
from debian.copyright import Copyright, NotMachineReadableError

from hullscan.pipeline import ScanOptions, inventory

from conftest import corpus_image, truth

pytestmark = pytest.mark.corpus

IMAGES = ["debian-bookworm", "debian-bullseye", "app-python", "multi-layer-big"]
DOC = "usr/share/doc/"


def _doc_files(archive: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """The final image's copyright files and documentation-folder symlinks."""
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for name in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(name)) as layer:
                for m in layer:
                    path = m.name.removeprefix("./").rstrip("/")
                    parent, _, base = path.rpartition("/")
                    if base.startswith(".wh."):
                        gone = f"{parent}/{base[4:]}" if base != ".wh..wh..opq" else parent
                        for table in (files, links):
                            for key in [k for k in table if k == gone or k.startswith(gone + "/")]:
                                del table[key]
                    elif path.startswith(DOC) and path.count("/") == 3 and m.issym():
                        links[path] = m.linkname
                    elif path.startswith(DOC) and path.endswith("/copyright") and m.isfile():
                        files[path] = layer.extractfile(m).read()  # type: ignore[union-attr]
    return files, links


def _stated(data: bytes) -> list[str] | None:
    """The License synopsis of every Files paragraph; None when not machine-readable."""
    logging.getLogger("debian.copyright").setLevel(logging.ERROR)
    try:
        parsed = Copyright(data.decode("utf-8", "replace").splitlines(), strict=False)
    except NotMachineReadableError:
        return None
    found = [
        " ".join(p.license.synopsis.split())
        for p in parsed.all_files_paragraphs()
        if p.license is not None
    ]
    return list(dict.fromkeys(s for s in found if s))


@pytest.mark.parametrize("image", IMAGES)
def test_debian_licences_are_the_copyright_files(image: str, tmp_path: Path) -> None:
    archive = corpus_image(image) / "docker-archive.tar"
    files, links = _doc_files(archive)
    inv = inventory(f"docker-archive:{archive}", ScanOptions(cache_dir=tmp_path / "cache"))
    debs = {p.name: p for p in inv.packages if p.type == "deb"}
    assert set(debs) == {p["name"] for p in truth(image)["os_packages"]}
    machine_readable = 0
    for name, pkg in debs.items():
        folder = f"{DOC}{name}"
        if folder in links:
            folder = posixpath.normpath(posixpath.join(DOC, links[folder])).lstrip("/")
        data = files.get(f"{folder}/copyright")
        got = [x.value for x in pkg.licenses if x.source == "dpkg-copyright"]
        stated = _stated(data) if data is not None else None
        if stated is None:
            assert got == [], name  # no file, or free-form text: no DEP-5 licence
            continue
        machine_readable += 1
        assert got == stated, name
        assert {x.path for x in pkg.licenses} == {f"{folder}/copyright"}, name
    if image == "multi-layer-big":
        # its last layer deletes /usr/share/doc: nothing states a licence any more
        assert machine_readable == 0 and not files
    else:
        assert machine_readable >= 0.4 * len(debs)  # bookworm 74 of 88, bullseye 44 of 96
