"""Eight scans at once, of the corpus images, sharing one cache directory and one
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

pytestmark = pytest.mark.corpus

HULLSCAN = [sys.executable, "-c", "import sys; from hullscan.cli import main; sys.exit(main())"]
#: six corpus images, two of them again through their OCI layouts (multi-layer-big, 900 MB,
#: is left out: sixteen scans of it cost minutes and add no sharing the others lack)
SCANS = [("app-node", "docker-archive.tar"), ("app-python", "docker-archive.tar"),
         ("binaries", "docker-archive.tar"), ("debian-bookworm", "docker-archive.tar"),
         ("debian-bullseye", "docker-archive.tar"), ("secrets-and-misconfig", "docker-archive.tar"),
         ("app-node", "oci"), ("debian-bookworm", "oci")]
ECOSYSTEMS = ("Debian-12", "Debian-11", "Debian-DSA", "PyPI", "npm", "Go")


def refs() -> list[str]:
    out = []
    for image, what in SCANS:
        path = corpus_image(image) / what
        out.append(f"oci:{path}" if what == "oci" else str(path))
    return out


def scan_cmd(ref: str, cache: Path, db: Path, report: Path) -> list[str]:
    return [*HULLSCAN, "scan", ref, "--format", "json", "--scanners", "vuln,config",
            "--cache-dir", str(cache), "--db", str(db), "-o", str(report)]


def comparable(report: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(report.read_text())
    doc.pop("generated", None)  # when, not what
    return doc


def update_db(mirror: Path, db: Path) -> str:
    proc = subprocess.run([*HULLSCAN, "db", "update", "--source", mirror.as_uri(), "--db",
                           str(db), *(x for e in ECOSYSTEMS for x in ("--ecosystem", e))],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_eight_scans_share_a_cache_and_a_database_being_swapped(tmp_path: Path) -> None:
    images = refs()
    mirror = tmp_path / "mirror"
    for eco in ECOSYSTEMS:
        shutil.copytree(VULNDATA / eco, mirror / eco)
    db = tmp_path / "db" / "osv.sqlite"
    update_db(mirror, db)

    solo = {}
    for i, ref in enumerate(images):  # alone: each with a cache of its own
        report = tmp_path / f"solo-{i}.json"
        proc = subprocess.run(scan_cmd(ref, tmp_path / "solo" / str(i), db, report),
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode in (0, 1), proc.stderr
        solo[ref] = comparable(report)

    shared = tmp_path / "shared-cache"
    reports = {ref: tmp_path / f"shared-{i}.json" for i, ref in enumerate(images)}
    # reports go to files: a pipe nobody reads until the end would stall a scan
    procs = {ref: subprocess.Popen(scan_cmd(ref, shared, db, reports[ref]),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True) for ref in images}
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
