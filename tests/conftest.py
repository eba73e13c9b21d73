"""Shared fixtures and helpers: the corpus images (built on first use), an isolated cache,
the command line run in-process, and cosign key pairs."""

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
#: the shared test material (../shared next to the repository, or HULLSCAN_SHARED)
SHARED = Path(os.environ.get("HULLSCAN_SHARED", REPO.parent / "shared"))
CORPUS_SCRIPT = SHARED / "corpus" / "build.sh"
CORPUS_DIR = Path(os.environ.get("HULLSCAN_CORPUS", Path.home() / ".cache" / "hullscan-corpus"))


def corpus_image(name: str) -> Path:
    """The corpus image directory, built with ../shared/corpus/build.sh if missing."""
    d = CORPUS_DIR / name
    if not (d / "truth.json").exists():
        if not CORPUS_SCRIPT.exists():
            pytest.skip(f"corpus script {CORPUS_SCRIPT} not found")
        if os.geteuid() != 0:
            pytest.skip(
                "building the corpus needs root (debootstrap); run as root or set "
                "HULLSCAN_CORPUS to a built corpus"
            )
        subprocess.run(
            ["bash", str(CORPUS_SCRIPT), str(CORPUS_DIR), "--only", name],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return d


def truth(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((corpus_image(name) / "truth.json").read_text())
    return data


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


VULNDATA = SHARED / "vulndata"
KEV_SNAPSHOT = SHARED / "kev" / "known_exploited_vulnerabilities.json"


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo image (OS and language packages, real advisories) as a docker archive, and
    a database of its bundled advisories."""
    sys.path.insert(0, str(REPO / "examples"))
    import build_demo

    from hullscan.cli import main

    root = tmp_path_factory.mktemp("demo")
    image = root / "demo.tar"
    argv, sys.argv = sys.argv, ["build_demo.py", str(image)]
    try:
        build_demo.main()
    finally:
        sys.argv = argv
    db = root / "osv.sqlite"
    assert (
        main(["db", "import", str(REPO / "examples" / "demo" / "advisories.zip"), "--db", str(db)])
        == 0
    )
    return image, db


@pytest.fixture(scope="session")
def full_vulndb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All of ../shared/vulndata imported once per test session."""
    if not VULNDATA.is_dir():
        pytest.skip(f"{VULNDATA} not found")
    from hullscan.vulndb.build import import_paths

    dest = tmp_path_factory.mktemp("vulndb") / "osv.sqlite"
    import_paths([VULNDATA], dest)
    return dest


# -- the command line, in process ---------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``hullscan ARGS``: (exit code, stdout, stderr)."""
    from hullscan.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def hexpart(digest: str) -> str:
    return digest.split(":", 1)[1]


# -- keys ------------------------------------------------------------------------------------


@pytest.fixture
def keypair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """``hullscan keygen`` in ``tmp_path`` (the working directory from then on), with
    ``COSIGN_PASSWORD`` set: (cosign.key, cosign.pub)."""
    from hullscan.cli import main

    monkeypatch.setenv("COSIGN_PASSWORD", "correct horse")
    monkeypatch.chdir(tmp_path)
    assert main(["keygen"]) == 0
    return tmp_path / "cosign.key", tmp_path / "cosign.pub"


@pytest.fixture
def other_pub(tmp_path: Path) -> Path:
    """A public key that signed nothing."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from hullscan.supplychain.keys import public_pem

    path = tmp_path / "other.pub"
    path.write_bytes(public_pem(ec.generate_private_key(ec.SECP256R1()).public_key()))
    return path
