"""Licences: what reading every Debian copyright file costs, and how many packages get a
licence from hullscan, syft and trivy on the corpus images.

    PEERS_BIN=~/.cache/hullscan-peers/bin python bench/bench_licenses.py \
        --corpus ~/.cache/hullscan-corpus [--images debian-bookworm] [--runs 3]

Cost: the layers are analyzed in this process, uncached and one at a time, with every
inventory analyzer and without the copyright analyzer, interleaved after a warm-up
walk; the difference is the copyright files' share (medians of --runs). Every run reads
and normalizes each file afresh; the licence tables and the classifier are loaded once
per process (a cold scan loads them once per worker process). Counts: packages with at
least one licence and licence entries in all, from each tool's own JSON (hullscan json,
syft-json, trivy json with --scanners license --list-all-pkgs).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_inventory import corpus_arguments, peer
from hullscan.analyzer import Analyzer
from hullscan.inventory import default_analyzers
from hullscan.inventory.dpkg_copyright import DpkgCopyrightAnalyzer, copyright_licences
from hullscan.layers import analyze_layer
from hullscan.licenses.spdx import to_spdx
from hullscan.sources import open_image
from hullscan.streams import Limits


def analysis_seconds(tar: Path, runs: int, cache: Path) -> tuple[float, float]:
    """Median seconds to analyze every layer with all inventory analyzers, and without
    the copyright analyzer; runs interleaved after one warm-up walk, so that neither
    side pays for a cold page cache."""
    full = default_analyzers()
    without = [a for a in full if a.name != DpkgCopyrightAnalyzer.name]
    image = open_image(f"docker-archive:{tar}", None, Limits(), cache)

    def walk(analyzers: list[Analyzer]) -> float:
        start = time.perf_counter()
        for source in image.layer_sources:
            analyze_layer(source, analyzers, Limits())
        return time.perf_counter() - start

    walk([])
    walls: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        copyright_licences.cache_clear()  # each run reads and normalizes every file afresh
        to_spdx.cache_clear()
        walls[0].append(walk(full))
        walls[1].append(walk(without))
    return statistics.median(walls[0]), statistics.median(walls[1])


def counts(packages: list[list[Any]]) -> tuple[int, int, int]:
    """(packages, packages with a licence, licence entries)."""
    return (len(packages), sum(1 for lics in packages if lics), sum(len(lics) for lics in packages))


def hullscan_counts(tar: Path, out: Path, cache: Path) -> tuple[int, int, int]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "hullscan.cli",
            "sbom",
            str(tar),
            "-q",
            "--format",
            "json",
            "--cache-dir",
            str(cache),
            "-o",
            str(out),
        ],
        check=True,
    )
    doc = json.loads(out.read_text())
    return counts([p.get("licenses", []) for p in doc["packages"]])


def syft_counts(syft: str, tar: Path, out: Path) -> tuple[int, int, int]:
    subprocess.run(
        [syft, "scan", f"docker-archive:{tar}", "-q", "-o", f"syft-json={out}"],
        check=True,
        env={"SYFT_CHECK_FOR_APP_UPDATE": "false", "PATH": "/usr/bin"},
    )
    doc = json.loads(out.read_text())
    return counts([a.get("licenses") or [] for a in doc["artifacts"]])


def trivy_counts(trivy: str, tar: Path, out: Path, cache: Path) -> tuple[int, int, int]:
    subprocess.run(
        [
            trivy,
            "image",
            "--input",
            str(tar),
            "--offline-scan",
            "--skip-db-update",
            "--skip-java-db-update",
            "--skip-version-check",
            "--cache-dir",
            str(cache),
            "--quiet",
            "--scanners",
            "license",
            "--list-all-pkgs",
            "--format",
            "json",
            "--output",
            str(out),
        ],
        check=True,
    )
    doc = json.loads(out.read_text())
    return counts(
        [p.get("Licenses") or [] for r in doc.get("Results", []) for p in r.get("Packages", [])]
    )


def main() -> None:
    args = corpus_arguments(__doc__ or "")
    syft, trivy = peer("syft"), peer("trivy")
    with tempfile.TemporaryDirectory(prefix="hullscan-bench-") as tmp:
        work = Path(tmp)
        print(
            f"{'image':24} {'analysis s':>10} {'no copyright s':>14} {'copyright share':>15}"
            "   packages / with licence / licences: hullscan | syft | trivy"
        )
        for image in args.images:
            tar = args.corpus / image / "docker-archive.tar"
            if not tar.exists():
                print(f"skip {image}: {tar} missing (build the corpus)", file=sys.stderr)
                continue
            full, without = analysis_seconds(tar, args.runs, work / "cache")
            found = [hullscan_counts(tar, work / f"{image}.json", work / "hc")]
            if syft:
                found.append(syft_counts(syft, tar, work / f"{image}.syft.json"))
            if trivy:
                found.append(trivy_counts(trivy, tar, work / f"{image}.trivy.json", work / "tc"))
            print(
                f"{image:24} {full:10.2f} {without:14.2f} {(full - without) / full:15.1%}   "
                + " | ".join("/".join(map(str, c)) for c in found),
                flush=True,
            )


if __name__ == "__main__":
    main()
