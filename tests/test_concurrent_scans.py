"""Eight scans at once, of eight different images, sharing one cache directory and one
vulnerability database, while ``hullscan db update`` (from a local mirror) swaps the
database again and again: every scan succeeds and its report equals the one it gives
alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import VULNDATA, corpus_image
from imagebuilder import build, debian_base, file, python_dist, write_docker_archive, write_oci

pytestmark = pytest.mark.corpus

HULLSCAN = [sys.executable, "-c", "import sys; from hullscan.cli import main; sys.exit(main())"]
#: the six corpus images (multi-layer-big, 900 MB, is left out: sixteen scans of it cost
#: minutes and add no sharing the others lack) and two small images built here, one as an
#: OCI layout; the built ones share their base layer, so two scans fill one cache entry
CORPUS_SCANS = [
    ("app-node", "docker-archive.tar"),
    ("app-python", "docker-archive.tar"),
    ("binaries", "docker-archive.tar"),
    ("debian-bookworm", "docker-archive.tar"),
    ("debian-bullseye", "docker-archive.tar"),
    ("secrets-and-misconfig", "docker-archive.tar"),
]
ECOSYSTEMS = ("Debian-12", "Debian-11", "Debian-DSA", "PyPI", "npm", "Go")


def built_images(root: Path) -> list[str]:
    """A Debian base with a Python distribution (OCI layout) and with an npm package
    (docker archive): versions with advisories in the test data."""
    root.mkdir(parents=True, exist_ok=True)
    python = build([debian_base(), [python_dist("django", "1.2.1")]])
    node = build(
        [
            debian_base(),
            [
                file(
                    "usr/lib/node_modules/lodash/package.json",
                    '{"name": "lodash", "version": "4.17.4"}',
                )
            ],
        ]
    )
    oci = write_oci([(python, {"org.opencontainers.image.ref.name": "1"})], root / "py-oci")
    archive = write_docker_archive([(node, ["built/node:1"])], root / "node.tar")
    return [f"oci:{oci}", str(archive)]


def refs(root: Path) -> list[str]:
    """Eight different images."""
    out = [str(corpus_image(image) / what) for image, what in CORPUS_SCANS]
    return out + built_images(root)


def scan_cmd(ref: str, cache: Path, db: Path, report: Path) -> list[str]:
    return [
        *HULLSCAN,
        "scan",
        ref,
        "--format",
        "json",
        "--scanners",
        "vuln,config",
        "--cache-dir",
        str(cache),
        "--db",
        str(db),
        "-o",
        str(report),
    ]


def comparable(report: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(report.read_text())
    doc.pop("generated", None)  # when, not what
    return doc


def update_db(mirror: Path, db: Path) -> str:
    proc = subprocess.run(
        [
            *HULLSCAN,
            "db",
            "update",
            "--source",
            mirror.as_uri(),
            "--db",
            str(db),
            *(x for e in ECOSYSTEMS for x in ("--ecosystem", e)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_eight_scans_share_a_cache_and_a_database_being_swapped(tmp_path: Path) -> None:
    images = refs(tmp_path / "built")
    assert len(set(images)) == 8
    mirror = tmp_path / "mirror"
    for eco in ECOSYSTEMS:
        shutil.copytree(VULNDATA / eco, mirror / eco)
    db = tmp_path / "db" / "osv.sqlite"
    update_db(mirror, db)

    solo = {}
    for i, ref in enumerate(images):  # alone: each with a cache of its own
        report = tmp_path / f"solo-{i}.json"
        proc = subprocess.run(
            scan_cmd(ref, tmp_path / "solo" / str(i), db, report),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode in (0, 1), proc.stderr
        solo[ref] = comparable(report)

    shared = tmp_path / "shared-cache"
    reports = {ref: tmp_path / f"shared-{i}.json" for i, ref in enumerate(images)}
    # reports go to files: a pipe nobody reads until the end would stall a scan
    procs = {
        ref: subprocess.Popen(
            scan_cmd(ref, shared, db, reports[ref]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ref in images
    }
    swaps = 0
    inodes = {db.stat().st_ino}
    while any(p.poll() is None for p in procs.values()):
        # same advisories, newer files: every update rebuilds and swaps the database
        now = time.time() + swaps + 1
        for eco in ECOSYSTEMS:
            os.utime(mirror / eco / "all.zip", (now, now))
        update_db(mirror, db)
        inodes.add(db.stat().st_ino)
        swaps += 1
    assert swaps >= 1 and len(inodes) > 1, "the database was never swapped during the scans"
    for ref, p in procs.items():
        _, err = p.communicate()
        assert p.returncode in (0, 1), f"{ref}: {err}"
        assert comparable(reports[ref]) == solo[ref], ref
