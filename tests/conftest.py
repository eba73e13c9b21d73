"""Shared fixtures: the corpus images (built on first use) and an isolated cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parent.parent
CORPUS_SCRIPT = REPO.parent / "shared" / "corpus" / "build.sh"
CORPUS_DIR = Path(os.environ.get("HULLSCAN_CORPUS",
                                 Path.home() / ".cache" / "hullscan-corpus"))


def corpus_image(name: str) -> Path:
    """The corpus image directory, built with ../shared/corpus/build.sh if missing."""
    d = CORPUS_DIR / name
    if not (d / "truth.json").exists():
        if not CORPUS_SCRIPT.exists():
            pytest.skip(f"corpus script {CORPUS_SCRIPT} not found")
        if os.geteuid() != 0:
            pytest.skip("building the corpus needs root (debootstrap); run as root or set "
                        "HULLSCAN_CORPUS to a built corpus")
        subprocess.run(["bash", str(CORPUS_SCRIPT), str(CORPUS_DIR), "--only", name], check=True,
                       stdout=subprocess.DEVNULL)
    return d


def truth(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((corpus_image(name) / "truth.json").read_text())
    return data


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"

VULNDATA = REPO.parent / "shared" / "vulndata"


@pytest.fixture(scope="session")
def full_vulndb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All of ../shared/vulndata imported once per test session."""
    if not VULNDATA.is_dir():
        pytest.skip(f"{VULNDATA} not found")
    from hullscan.vulndb.build import import_paths

    dest = tmp_path_factory.mktemp("vulndb") / "osv.sqlite"
    import_paths([VULNDATA], dest)
    return dest
